/* test_http.c - http_server and http_client against each other on loopback,
 * all on one sd-event loop, plus raw sockets for misbehaving clients. */
#ifndef _GNU_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "http_client.h"
#include "http_door.h"
#include "http_server.h"
#include "test.h"

static sd_event *ev;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Run the loop until *flag (if given) becomes true or timeout_ms passes. */
static bool run_until(const bool *flag, unsigned timeout_ms)
{
    uint64_t end = now_ms() + timeout_ms;
    while (!(flag && *flag) && now_ms() < end)
        sd_event_run(ev, 5000);
    return flag ? *flag : true;
}

static bool run_until_count(const int *count, int want, unsigned timeout_ms)
{
    uint64_t end = now_ms() + timeout_ms;
    while (*count < want && now_ms() < end)
        sd_event_run(ev, 5000);
    return *count >= want;
}

static void setup(void)
{
    ev = NULL;
    sd_event_new(&ev);
}

static void teardown(void)
{
    sd_event_unref(ev);
    ev = NULL;
}

/* ---- client results ----------------------------------------------------- */

struct result {
    bool done;
    long status;
    char *body;
    size_t len;
    char err[256];
    bool has_err;
    uint64_t at;
    int *counter; /* incremented on completion if set */
};

static void result_cb(void *arg, long status, const char *body, size_t len, const char *err)
{
    struct result *r = arg;
    r->done = true;
    r->status = status;
    r->body = malloc(len + 1);
    memcpy(r->body, body, len + 1);
    r->len = len;
    r->has_err = err != NULL;
    snprintf(r->err, sizeof r->err, "%s", err ? err : "");
    r->at = now_ms();
    if (r->counter)
        (*r->counter)++;
}

static void result_clear(struct result *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static char *url(uint16_t port, const char *path)
{
    static char buf[8][256];
    static int i;
    char *u = buf[i++ % 8];
    snprintf(u, 256, "http://127.0.0.1:%u%s", (unsigned)port, path);
    return u;
}

/* ---- a scriptable server ------------------------------------------------ */

enum mode { ANSWER, HOLD, LATER };

struct srv {
    enum mode mode;
    int handled;
    int aborted;
    bool abort_flag;
    struct http_request *held[512];
    int n_held;
    /* what the handler saw last */
    char method[16], path[128], body[256], ctype[64], peer[80];
    size_t body_len;
    bool saw_expect;
    char q_a[32], q_b[32];
    bool q_flag_empty, q_empty_empty, q_missing_null;
    char peers[64][80];
    int n_peers;
};

static void on_abort(struct http_request *r, void *arg)
{
    struct srv *s = arg;
    for (int i = 0; i < s->n_held; i++)
        if (s->held[i] == r)
            s->held[i] = s->held[--s->n_held];
    s->aborted++;
    s->abort_flag = true;
}

static void answer_held(struct srv *s, unsigned status);

static void handler(struct http_request *r, void *arg)
{
    struct srv *s = arg;
    size_t len;
    const char *body = http_request_body(r, &len);
    s->handled++;
    snprintf(s->method, sizeof s->method, "%s", http_request_method(r));
    snprintf(s->path, sizeof s->path, "%s", http_request_path(r));
    snprintf(s->body, sizeof s->body, "%s", body);
    s->body_len = len;
    const char *ct = http_request_header(r, "content-type");
    snprintf(s->ctype, sizeof s->ctype, "%s", ct ? ct : "(none)");
    s->saw_expect = http_request_header(r, "Expect") != NULL;
    snprintf(s->peer, sizeof s->peer, "%s", http_request_peer(r));
    if (s->n_peers < 64) {
        bool seen = false;
        for (int i = 0; i < s->n_peers; i++)
            seen = seen || !strcmp(s->peers[i], s->peer);
        if (!seen)
            snprintf(s->peers[s->n_peers++], 80, "%s", s->peer);
    }

    if (!strcmp(s->path, "/q")) {
        const char *a = http_request_query(r, "a"), *b = http_request_query(r, "b");
        snprintf(s->q_a, sizeof s->q_a, "%s", a ? a : "(null)");
        snprintf(s->q_b, sizeof s->q_b, "%s", b ? b : "(null)");
        const char *f = http_request_query(r, "flag"), *e = http_request_query(r, "empty");
        s->q_flag_empty = f && !*f;
        s->q_empty_empty = e && !*e;
        s->q_missing_null = http_request_query(r, "missing") == NULL;
    }

    if (!strcmp(s->path, "/204")) {
        http_respond(r, 204, NULL, NULL, 0);
        return;
    }
    if (!strcmp(s->path, "/err")) {
        http_respond_error(r, 503, "not \"leader\"\n\x01");
        return;
    }

    const char *id = http_request_query(r, "id");
    enum mode m = s->mode;
    if (!strcmp(s->path, "/hold"))
        m = HOLD;
    if (m == ANSWER || (m == LATER && id && atoi(id) % 2 == 0)) {
        char out[300];
        if (m == LATER && atoi(id) % 4 == 0)
            answer_held(s, 200); /* resume others from inside MHD_run() */
        int n = snprintf(out, sizeof out, "got:%s:%s", id ? id : "", s->body);
        http_response_header(r, "X-Test", "yes");
        http_response_header(r, "X-Second", "two");
        http_respond(r, !strcmp(s->method, "POST") ? 201 : 200, "text/plain", out, (size_t)n);
        return;
    }
    http_request_on_abort(r, on_abort, s);
    if (s->n_held < 512)
        s->held[s->n_held++] = r;
}

/* Answer every held request (from a timer/defer: outside the handler). */
static void answer_held(struct srv *s, unsigned status)
{
    while (s->n_held > 0) {
        struct http_request *r = s->held[--s->n_held];
        const char *id = http_request_query(r, "id");
        char out[64];
        int n = snprintf(out, sizeof out, "later:%s", id ? id : "");
        http_respond(r, status, "text/plain", out, (size_t)n);
    }
}

static int answer_held_timer(sd_event_source *src, uint64_t usec, void *arg)
{
    (void)src, (void)usec;
    answer_held(arg, 200);
    return 0;
}

static struct http_server *start_server(struct srv *s, size_t max_body, unsigned timeout_s)
{
    char err[256] = "";
    struct http_server_limits lim = {.conn_limit = 0, .conn_timeout_s = timeout_s};
    struct http_server *hs = http_server_new_ex(ev, "127.0.0.1", 0, max_body, &lim, handler, s, err, sizeof err);
    if (!hs)
        fprintf(stderr, "server: %s\n", err);
    return hs;
}

/* ---- raw sockets -------------------------------------------------------- */

struct raw {
    int fd;
    char buf[1 << 16];
    size_t len;
    bool eof;
};

static bool raw_connect(struct raw *r, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return false;
    fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
    return true;
}

/* Sends what the server takes within 5 s (it may stop reading). */
static bool raw_send(struct raw *r, const char *data, size_t len)
{
    uint64_t end = now_ms() + 5000;
    while (len > 0) {
        ssize_t n = send(r->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN && now_ms() < end) {
            sd_event_run(ev, 1000);
            continue;
        }
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

static void raw_poll(struct raw *r)
{
    for (;;) {
        if (r->len + 1 >= sizeof r->buf)
            return;
        ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - 1 - r->len, 0);
        if (n > 0) {
            r->len += (size_t)n;
            r->buf[r->len] = '\0';
        } else {
            if (n == 0 || (errno != EAGAIN && errno != EINTR))
                r->eof = true;
            return;
        }
    }
}

/* A whole response (by Content-Length) or EOF. */
static bool raw_response_done(struct raw *r)
{
    const char *end = strstr(r->buf, "\r\n\r\n");
    if (r->eof)
        return true;
    if (!end)
        return false;
    const char *cl = strcasestr(r->buf, "content-length:");
    size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
    return r->len - (size_t)(end + 4 - r->buf) >= want;
}

static bool raw_wait(struct raw *r, bool eof, unsigned timeout_ms)
{
    uint64_t end = now_ms() + timeout_ms;
    for (;;) {
        raw_poll(r);
        if (eof ? r->eof : raw_response_done(r))
            return true;
        if (now_ms() >= end)
            return false;
        sd_event_run(ev, 2000);
    }
}

static void raw_close(struct raw *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* ---- tests -------------------------------------------------------------- */

TEST(test_roundtrip_post)
{
    setup();
    struct srv s = {.mode = ANSWER};
    struct http_server *hs = start_server(&s, 4096, 0);
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        CHECK(http_server_port(hs) != 0);
        struct result res = {0};
        CHECK(http_client_request(hc, "POST", url(http_server_port(hs), "/echo?id=7"), "application/json",
                                  "{\"x\": 1}", 8, 2000, result_cb, &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 201);
        CHECK(!res.has_err);
        CHECK(res.body && !strcmp(res.body, "got:7:{\"x\": 1}"));
        CHECK_EQ_U(res.len, strlen("got:7:{\"x\": 1}"));
        CHECK(!strcmp(s.method, "POST"));
        CHECK(!strcmp(s.path, "/echo"));
        CHECK(!strcmp(s.body, "{\"x\": 1}"));
        CHECK_EQ_U(s.body_len, 8);
        CHECK(!strcmp(s.ctype, "application/json"));
        CHECK(!s.saw_expect);
        CHECK(!strncmp(s.peer, "127.0.0.1:", 10));
        result_clear(&res);

        /* GET without body; the client must not invent a body */
        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/g"), NULL, NULL, 0, 2000, result_cb,
                                  &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 200);
        CHECK(!strcmp(s.method, "GET"));
        CHECK_EQ_U(s.body_len, 0);
        CHECK(res.body && !strcmp(res.body, "got::"));
        result_clear(&res);

        CHECK(http_client_request(hc, "POST", url(http_server_port(hs), "/204"), NULL, "", 0, 2000, result_cb,
                                  &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 204);
        CHECK_EQ_U(res.len, 0);
        CHECK(res.body && !strcmp(res.body, ""));
        result_clear(&res);

        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/err"), NULL, NULL, 0, 2000, result_cb,
                                  &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 503);
        CHECK(!res.has_err);
        CHECK(res.body && !strcmp(res.body, "{\"error\": \"not \\\"leader\\\"\\n\\u0001\"}"));
        result_clear(&res);

        /* custom response headers, seen on the wire */
        struct raw r;
        CHECK(raw_connect(&r, http_server_port(hs)));
        const char *req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        raw_send(&r, req, strlen(req));
        CHECK(raw_wait(&r, false, 5000));
        CHECK(!strncmp(r.buf, "HTTP/1.1 201", 12));
        CHECK(strcasestr(r.buf, "\r\nX-Test: yes\r\n") != NULL);
        CHECK(strcasestr(r.buf, "\r\nX-Second: two\r\n") != NULL);
        CHECK(strcasestr(r.buf, "\r\nContent-Type: text/plain\r\n") != NULL);
        CHECK(strstr(r.buf, "\r\n\r\ngot::hello") != NULL);
        raw_close(&r);
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

TEST(test_query)
{
    setup();
    struct srv s = {.mode = ANSWER};
    struct http_server *hs = start_server(&s, 4096, 0);
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        struct result res = {0};
        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/q?a=1&b=hello%20w%26rld&flag&empty="),
                                  NULL, NULL, 0, 2000, result_cb, &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 200);
        CHECK(!strcmp(s.path, "/q"));
        CHECK(!strcmp(s.q_a, "1"));
        CHECK(!strcmp(s.q_b, "hello w&rld"));
        CHECK(s.q_flag_empty);
        CHECK(s.q_empty_empty);
        CHECK(s.q_missing_null);
        result_clear(&res);
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

TEST(test_body_too_large)
{
    setup();
    struct srv s = {.mode = ANSWER};
    struct http_server *hs = start_server(&s, 1024, 0);
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        uint16_t port = http_server_port(hs);
        char *big = malloc(4096);
        memset(big, 'a', 4096);
        struct result res = {0};

        /* exactly max_body is fine */
        CHECK(http_client_request(hc, "POST", url(port, "/x"), "text/plain", big, 1024, 2000, result_cb, &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 201);
        CHECK_EQ_U(s.body_len, 1024);
        CHECK_EQ_U(s.handled, 1);
        result_clear(&res);

        /* one more byte is not */
        CHECK(http_client_request(hc, "POST", url(port, "/x"), "text/plain", big, 1025, 2000, result_cb, &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 413);
        CHECK(res.body && strstr(res.body, "{\"error\": ") == res.body);
        CHECK_EQ_U(s.handled, 1);
        result_clear(&res);

        CHECK(http_client_request(hc, "POST", url(port, "/x"), "text/plain", big, 4096, 2000, result_cb, &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 413);
        CHECK_EQ_U(s.handled, 1);
        result_clear(&res);

        /* a huge declared length is answered at once */
        struct raw r;
        CHECK(raw_connect(&r, port));
        const char *req = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n";
        raw_send(&r, req, strlen(req));
        CHECK(raw_wait(&r, false, 5000));
        CHECK(!strncmp(r.buf, "HTTP/1.1 413", 12));
        raw_close(&r);

        /* chunked body over the limit */
        CHECK(raw_connect(&r, port));
        const char *hdr = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n";
        raw_send(&r, hdr, strlen(hdr));
        raw_send(&r, big, 2048);
        raw_send(&r, "\r\n0\r\n\r\n", 7);
        CHECK(raw_wait(&r, false, 5000));
        CHECK(!strncmp(r.buf, "HTTP/1.1 413", 12));
        raw_close(&r);

        /* endless chunked body: the server drops the connection */
        CHECK(raw_connect(&r, port));
        raw_send(&r, hdr, strlen(hdr) - 5);
        uint64_t until = now_ms() + 10000;
        for (int i = 0; i < 2000 && !r.eof && now_ms() < until; i++) {
            char chunk[4096 + 16];
            int n = snprintf(chunk, sizeof chunk, "1000\r\n");
            memset(chunk + n, 'b', 4096);
            memcpy(chunk + n + 4096, "\r\n", 2);
            if (!raw_send(&r, chunk, (size_t)n + 4098))
                break;
            raw_poll(&r);
        }
        CHECK(raw_wait(&r, true, 5000));
        raw_close(&r);
        CHECK_EQ_U(s.handled, 1);

        /* still serving */
        CHECK(http_client_request(hc, "POST", url(port, "/x"), "text/plain", "ok", 2, 2000, result_cb, &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 201);
        result_clear(&res);
        free(big);
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

TEST(test_large_body_no_expect)
{
    /* curl would send "Expect: 100-continue" for a 2 MiB POST */
    setup();
    struct srv s = {.mode = ANSWER};
    struct http_server *hs = start_server(&s, 4u << 20, 0);
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        size_t n = 2u << 20;
        char *big = malloc(n);
        memset(big, 'z', n);
        struct result res = {0};
        CHECK(http_client_request(hc, "PUT", url(http_server_port(hs), "/big"), "application/octet-stream", big, n,
                                  5000, result_cb, &res) == 0);
        CHECK(run_until(&res.done, 10000));
        CHECK_EQ_U(res.status, 200);
        CHECK(!strcmp(s.method, "PUT"));
        CHECK_EQ_U(s.body_len, n);
        CHECK(!s.saw_expect);
        result_clear(&res);
        free(big);
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

TEST(test_suspended_answered_later)
{
    setup();
    struct srv s = {.mode = HOLD};
    struct http_server *hs = start_server(&s, 4096, 0);
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        struct result res = {0};
        uint64_t t0 = now_ms();
        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/hold?id=5"), NULL, NULL, 0, 5000,
                                  result_cb, &res) == 0);
        CHECK(run_until_count(&s.handled, 1, 5000));
        CHECK_EQ_U(s.n_held, 1);
        CHECK_EQ_U(http_server_requests_pending(hs), 1);
        sd_event_source *t = NULL;
        CHECK(sd_event_add_time_relative(ev, &t, CLOCK_MONOTONIC, 200000, 0, answer_held_timer, &s) >= 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 200);
        CHECK(res.body && !strcmp(res.body, "later:5"));
        CHECK(res.at - t0 >= 190);
        CHECK(res.at - t0 < 2000);
        CHECK_EQ_U(s.aborted, 0);
        CHECK_EQ_U(http_server_requests_pending(hs), 0);
        result_clear(&res);
        sd_event_source_unref(t);

        /* and the kept-alive connection still works afterwards */
        s.mode = ANSWER;
        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/a?id=6"), NULL, NULL, 0, 2000, result_cb,
                                  &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 200);
        CHECK_EQ_U(http_server_connections_accepted(hs), 1);
        result_clear(&res);
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

TEST(test_long_poll_abort)
{
    setup();
    struct srv s = {.mode = HOLD};
    struct http_server *hs = start_server(&s, 4096, 0);
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        struct result res = {0};
        uint64_t t0 = now_ms();
        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/hold?id=1"), NULL, NULL, 0, 300,
                                  result_cb, &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 0);
        CHECK(res.has_err);
        CHECK(!strcmp(res.err, "timed out after 300 ms"));
        CHECK(res.at - t0 >= 290);
        CHECK_EQ_U(s.handled, 1);
        result_clear(&res);
        /* the client closed its socket: the server must notice */
        CHECK(run_until(&s.abort_flag, 3000));
        CHECK_EQ_U(s.aborted, 1);
        CHECK_EQ_U(s.n_held, 0);
        CHECK_EQ_U(http_server_requests_pending(hs), 0);
        CHECK(run_until(NULL, 100));
        CHECK_EQ_U(http_server_connections_open(hs), 0);

        /* a held request dropped by http_server_free also gets on_abort */
        s.abort_flag = false;
        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/hold?id=2"), NULL, NULL, 0, 5000,
                                  result_cb, &res) == 0);
        CHECK(run_until_count(&s.handled, 2, 5000));
        http_server_free(hs);
        hs = NULL;
        CHECK_EQ_U(s.aborted, 2);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 0);
        CHECK(res.has_err);
        result_clear(&res);

        /* answered, and the server freed before MHD got to send it */
        hs = start_server(&s, 4096, 0);
        CHECK(hs != NULL);
        if (!hs)
            goto out;
        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/hold?id=3"), NULL, NULL, 0, 5000,
                                  result_cb, &res) == 0);
        CHECK(run_until_count(&s.handled, 3, 5000));
        answer_held(&s, 200);
        http_server_free(hs);
        hs = NULL;
        CHECK_EQ_U(s.aborted, 2);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 0);
        CHECK(res.has_err);
        result_clear(&res);
    }
out:
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

TEST(test_client_timeout_silent_server)
{
    setup();
    /* a listener that never accepts: connect succeeds, nothing answers */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(lfd, 16) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
    struct http_client *hc = http_client_new(ev);
    CHECK(hc != NULL);
    if (hc) {
        struct result res = {0};
        uint64_t t0 = now_ms();
        CHECK(http_client_request(hc, "POST", url(ntohs(sa.sin_port), "/raft/append_entries"), "application/json",
                                  "{}", 2, 500, result_cb, &res) == 0);
        CHECK_EQ_U(http_client_pending(hc), 1);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 0);
        CHECK(!strcmp(res.err, "timed out after 500 ms"));
        CHECK(res.at - t0 >= 490);
        CHECK(res.at - t0 < 1500);
        CHECK_EQ_U(http_client_pending(hc), 0);
        result_clear(&res);
    }
    http_client_free(hc);
    close(lfd);
    teardown();
}

TEST(test_connection_refused)
{
    setup();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    struct http_client *hc = http_client_new(ev);
    CHECK(hc != NULL);
    if (hc) {
        struct result res = {0};
        /* bound, not listening: refused */
        CHECK(http_client_request(hc, "GET", url(ntohs(sa.sin_port), "/"), NULL, NULL, 0, 2000, result_cb, &res) ==
              0);
        CHECK(!res.done); /* never called from inside http_client_request */
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 0);
        CHECK(!strcmp(res.err, "connection refused"));
        result_clear(&res);

        CHECK(http_client_request(hc, "GET", "file:///etc/passwd", NULL, NULL, 0, 2000, result_cb, &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 0);
        CHECK(res.has_err);
        result_clear(&res);
    }
    http_client_free(hc);
    close(fd);
    teardown();
}

TEST(test_many_concurrent)
{
    enum { N = 200 };
    setup();
    struct srv s = {.mode = LATER};
    struct http_server *hs = start_server(&s, 4096, 0);
    struct http_client *hc = http_client_new(ev);
    static struct result res[N];
    int done = 0;
    CHECK(hs && hc);
    if (hs && hc) {
        for (int i = 0; i < N; i++) {
            char path[64];
            memset(&res[i], 0, sizeof res[i]);
            res[i].counter = &done;
            snprintf(path, sizeof path, "/m?id=%d", i);
            CHECK(http_client_request(hc, "GET", url(http_server_port(hs), path), NULL, NULL, 0, 10000, result_cb,
                                      &res[i]) == 0);
        }
        /* odd ids are held; answer them as they come in */
        uint64_t end = now_ms() + 15000;
        while (done < N && now_ms() < end) {
            sd_event_run(ev, 5000);
            answer_held(&s, 200);
        }
        CHECK_EQ_U(done, N);
        int ok = 0;
        for (int i = 0; i < N; i++) {
            char want[64];
            if (i % 2)
                snprintf(want, sizeof want, "later:%d", i);
            else
                snprintf(want, sizeof want, "got:%d:", i);
            if (res[i].status == 200 && res[i].body && !strcmp(res[i].body, want))
                ok++;
            else
                fprintf(stderr, "request %d: status %ld err '%s'\n", i, res[i].status, res[i].err);
            result_clear(&res[i]);
        }
        CHECK_EQ_U(ok, N);
        CHECK_EQ_U(s.handled, N);
        CHECK_EQ_U(s.aborted, 0);
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

TEST(test_garbage_and_slow_clients)
{
    setup();
    struct srv s = {.mode = ANSWER};
    struct http_server *hs = start_server(&s, 4096, 1); /* 1 s connection timeout */
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        uint16_t port = http_server_port(hs);
        struct raw r;

        /* binary garbage, then hang up */
        CHECK(raw_connect(&r, port));
        raw_send(&r, "\x00\xff\x01garbage\r\n\r\n\x7f", 15);
        run_until(NULL, 50);
        raw_close(&r);

        /* garbage, and wait for what the server says */
        CHECK(raw_connect(&r, port));
        raw_send(&r, "NOT HTTP AT ALL\r\n\r\n", 19);
        CHECK(raw_wait(&r, true, 5000)); /* server closes (after a 400 or not) */
        CHECK(r.len == 0 || !strncmp(r.buf, "HTTP/1.1 4", 10));
        raw_close(&r);

        /* truncated body, then hang up */
        CHECK(raw_connect(&r, port));
        const char *trunc = "POST /t HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
        raw_send(&r, trunc, strlen(trunc));
        run_until(NULL, 50);
        raw_close(&r);

        /* truncated header line, then hang up */
        CHECK(raw_connect(&r, port));
        raw_send(&r, "GET /t HTTP/1.1\r\nHost: ", 23);
        run_until(NULL, 20);
        raw_close(&r);

        /* huge header: must not crash */
        CHECK(raw_connect(&r, port));
        raw_send(&r, "GET / HTTP/1.1\r\nX-Big: ", 23);
        {
            char junk[8192];
            memset(junk, 'j', sizeof junk);
            for (int i = 0; i < 16 && !r.eof; i++) {
                if (!raw_send(&r, junk, sizeof junk))
                    break;
                raw_poll(&r);
                sd_event_run(ev, 1000);
            }
        }
        CHECK(raw_wait(&r, true, 5000));
        raw_close(&r);

        /* slowloris: half a request, held open */
        struct raw slow;
        CHECK(raw_connect(&slow, port));
        raw_send(&slow, "GET /slow HTTP/1.1\r\nHost: x\r\n", 29);
        uint64_t t0 = now_ms();

        /* meanwhile normal requests work */
        struct result res = {0};
        CHECK(http_client_request(hc, "GET", url(port, "/fine?id=1"), NULL, NULL, 0, 2000, result_cb, &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 200);
        CHECK(res.body && !strcmp(res.body, "got:1:"));
        result_clear(&res);

        /* and the slow one is cut off by the connection timeout */
        CHECK(raw_wait(&slow, true, 5000));
        CHECK(now_ms() - t0 >= 900);
        CHECK_EQ_U(slow.len, 0);
        raw_close(&slow);

        CHECK_EQ_U(s.handled, 1); /* none of the broken ones reached the handler */
        CHECK(http_client_request(hc, "POST", url(port, "/after?id=2"), "text/plain", "x", 1, 2000, result_cb,
                                  &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 201);
        result_clear(&res);
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

struct chain {
    struct http_client *hc;
    uint16_t port;
    int remaining, ok;
    bool done;
};

/* Starts the next request from inside the previous one's callback. */
static void chain_cb(void *arg, long status, const char *body, size_t len, const char *err)
{
    struct chain *ch = arg;
    (void)body, (void)len;
    if (status == 200 && !err)
        ch->ok++;
    if (--ch->remaining > 0) {
        if (http_client_request(ch->hc, "GET", url(ch->port, "/k"), NULL, NULL, 0, 2000, chain_cb, ch) < 0)
            ch->done = true;
    } else {
        ch->done = true;
    }
}

TEST(test_connection_reuse)
{
    setup();
    struct srv s = {.mode = ANSWER};
    struct http_server *hs = start_server(&s, 4096, 0);
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        struct chain ch = {.hc = hc, .port = http_server_port(hs), .remaining = 50};
        CHECK(http_client_request(hc, "GET", url(ch.port, "/k"), NULL, NULL, 0, 2000, chain_cb, &ch) == 0);
        CHECK(run_until(&ch.done, 10000));
        CHECK_EQ_U(ch.ok, 50);
        CHECK_EQ_U(s.handled, 50);
        /* keep-alive on both sides: one connection for all of them */
        CHECK(s.n_peers <= 2);
        CHECK(http_server_connections_accepted(hs) <= 2);
        CHECK(http_server_connections_accepted(hs) >= 1);
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

struct freer {
    struct http_client **hc;
    int calls;
    int cancelled;
};

static void count_cb(void *arg, long status, const char *body, size_t len, const char *err)
{
    struct freer *f = arg;
    (void)status, (void)body, (void)len;
    f->calls++;
    if (err && !strcmp(err, "cancelled"))
        f->cancelled++;
}

static void free_client_cb(void *arg, long status, const char *body, size_t len, const char *err)
{
    struct freer *f = arg;
    count_cb(arg, status, body, len, err);
    /* free the client from inside its own callback */
    http_client_free(*f->hc);
    *f->hc = NULL;
}

TEST(test_client_free_cancels)
{
    setup();
    struct srv s = {.mode = HOLD};
    struct http_server *hs = start_server(&s, 4096, 0);
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        struct freer f = {.hc = &hc};
        for (int i = 0; i < 3; i++)
            CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/hold"), NULL, NULL, 0, 5000, count_cb,
                                      &f) == 0);
        CHECK(run_until_count(&s.handled, 3, 5000));
        http_client_free(hc);
        hc = NULL;
        CHECK_EQ_U(f.calls, 3);
        CHECK_EQ_U(f.cancelled, 3);
        /* the server sees the clients go away */
        CHECK(run_until_count(&s.aborted, 3, 3000));

        /* free from inside a callback while other requests are pending */
        hc = http_client_new(ev);
        struct freer g = {.hc = &hc};
        s.mode = ANSWER;
        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/x"), NULL, NULL, 0, 5000, free_client_cb,
                                  &g) == 0);
        for (int i = 0; i < 3; i++)
            CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/hold"), NULL, NULL, 0, 5000, count_cb,
                                      &g) == 0);
        uint64_t end = now_ms() + 5000;
        while (hc && now_ms() < end)
            sd_event_run(ev, 5000);
        CHECK(hc == NULL);
        CHECK_EQ_U(g.calls, 4);
        CHECK_EQ_U(g.cancelled, 3);
        CHECK(run_until_count(&s.aborted, 6, 3000));
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

static void big_handler(struct http_request *r, void *arg)
{
    size_t n = *(size_t *)arg;
    char *b = malloc(n);
    memset(b, 'r', n);
    http_respond(r, 200, "application/octet-stream", b, n);
    free(b);
}

TEST(test_response_cap)
{
    setup();
    size_t n = HTTP_CLIENT_MAX_RESPONSE + 1;
    char err[256];
    struct http_server *hs = http_server_new(ev, "127.0.0.1", 0, 1024, big_handler, &n, err, sizeof err);
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        struct result res = {0};
        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/"), NULL, NULL, 0, 20000, result_cb,
                                  &res) == 0);
        CHECK(run_until(&res.done, 30000));
        CHECK_EQ_U(res.status, 0);
        CHECK(strstr(res.err, "response larger than") != NULL);
        result_clear(&res);

        n = 100000;
        CHECK(http_client_request(hc, "GET", url(http_server_port(hs), "/"), NULL, NULL, 0, 5000, result_cb,
                                  &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 200);
        CHECK_EQ_U(res.len, 100000);
        result_clear(&res);
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

/* A call's own limit (http_call.max_response, the dashboard relay's):
 * a larger body fails the call with too_big, one at the limit passes. */
struct capped {
    bool done, too_big;
    long status;
    size_t len;
    char err[256];
};

static void capped_cb(void *arg, const struct http_reply *r)
{
    struct capped *c = arg;
    c->done = true;
    c->too_big = r->too_big;
    c->status = r->status;
    c->len = r->len;
    snprintf(c->err, sizeof c->err, "%s", r->err ? r->err : "");
}

TEST(test_response_cap_per_call)
{
    setup();
    size_t n = 4096 + 1;
    char err[256];
    struct http_server *hs = http_server_new(ev, "127.0.0.1", 0, 1024, big_handler, &n, err, sizeof err);
    struct http_client *hc = http_client_new(ev);
    CHECK(hs && hc);
    if (hs && hc) {
        struct http_call call = {.method = "GET", .url = url(http_server_port(hs), "/"),
                                 .timeout_ms = 5000, .max_response = 4096};
        struct capped c = {0};
        CHECK(http_client_call(hc, &call, capped_cb, &c) == 0);
        CHECK(run_until(&c.done, 5000));
        CHECK_EQ_U(c.status, 0);
        CHECK(c.too_big);
        CHECK(strstr(c.err, "response larger than 4096 bytes") != NULL);

        n = 4096;
        memset(&c, 0, sizeof c);
        CHECK(http_client_call(hc, &call, capped_cb, &c) == 0);
        CHECK(run_until(&c.done, 5000));
        CHECK_EQ_U(c.status, 200);
        CHECK(!c.too_big);
        CHECK_EQ_U(c.len, 4096);

        /* without a limit of its own: HTTP_CLIENT_MAX_RESPONSE */
        n = 100000;
        call.max_response = 0;
        memset(&c, 0, sizeof c);
        CHECK(http_client_call(hc, &call, capped_cb, &c) == 0);
        CHECK(run_until(&c.done, 5000));
        CHECK_EQ_U(c.status, 200);
        CHECK_EQ_U(c.len, 100000);
    }
    http_client_free(hc);
    http_server_free(hs);
    teardown();
}

TEST(test_listen_addresses)
{
    setup();
    struct srv s = {.mode = ANSWER};
    char err[512] = "";
    struct http_server *a = http_server_new(ev, "127.0.0.1", 0, 1024, handler, &s, err, sizeof err);
    CHECK(a != NULL);
    if (a) {
        uint16_t port = http_server_port(a);
        char want[128];
        struct http_server *b = http_server_new(ev, "127.0.0.1", port, 1024, handler, &s, err, sizeof err);
        CHECK(b == NULL);
        snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%u: Address already in use (", (unsigned)port);
        /* port 0 got one from the ephemeral range: the hint says so */
        CHECK(!strncmp(err, want, strlen(want)) && strstr(err, "ip_local_port_range)"));
        if (strncmp(err, want, strlen(want)))
            fprintf(stderr, "got: %s\n", err);
        http_server_free(b);
    }
    err[0] = '\0';
    CHECK(http_server_new(ev, "no-such-host.invalid", 0, 1024, handler, &s, err, sizeof err) == NULL);
    CHECK(!strncmp(err, "cannot listen on no-such-host.invalid:0: ", 41));

    /* IPv6 loopback, and names */
    struct http_client *hc = http_client_new(ev);
    struct http_server *v6 = http_server_new(ev, "::1", 0, 1024, handler, &s, err, sizeof err);
    if (!v6) {
        printf("  (skipping ::1: %s)\n", err);
    } else {
        char u[128];
        struct result res = {0};
        snprintf(u, sizeof u, "http://[::1]:%u/six", (unsigned)http_server_port(v6));
        CHECK(http_client_request(hc, "GET", u, NULL, NULL, 0, 2000, result_cb, &res) == 0);
        CHECK(run_until(&res.done, 5000));
        CHECK_EQ_U(res.status, 200);
        CHECK(!strncmp(s.peer, "[::1]:", 6));
        result_clear(&res);
        http_server_free(v6);
    }
    struct http_server *any = http_server_new(ev, "::", 0, 1024, handler, &s, err, sizeof err);
    struct http_server *any4 = http_server_new(ev, "0.0.0.0", 0, 1024, handler, &s, err, sizeof err);
    struct http_server *name = http_server_new(ev, "localhost", 0, 1024, handler, &s, err, sizeof err);
    CHECK(any4 != NULL);
    CHECK(name != NULL);
    struct http_server *list[] = {any, any4, name};
    for (int i = 0; i < 3; i++) {
        if (!list[i])
            continue;
        struct result res = {0};
        CHECK(http_client_request(hc, "GET", url(http_server_port(list[i]), "/v4"), NULL, NULL, 0, 2000, result_cb,
                                  &res) == 0 ||
              i == 2);
        run_until(&res.done, 5000);
        /* "::" is dual-stack; "localhost" may have resolved to ::1 only */
        if (i < 2) {
            CHECK_EQ_U(res.status, 200);
            CHECK(!strncmp(s.peer, "127.0.0.1:", 10));
        }
        result_clear(&res);
        http_server_free(list[i]);
    }
    http_client_free(hc);
    http_server_free(a);
    teardown();
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static int fds_before;

TEST(test_no_fd_leaks)
{
    CHECK_EQ_U(count_fds(), fds_before);
}

/* The door's judgement of a connection's first bytes (http_door.h). */
TEST(test_door_judge)
{
    static const struct {
        const char *in;
        enum http_door_verdict want;
        bool peer;
    } t[] = {
        {"", HTTP_DOOR_WAIT, false},
        {"GE", HTTP_DOOR_WAIT, false},
        {"GET /v2/keys/a HTT", HTTP_DOOR_WAIT, false},
        {"GET /v2/keys/a HTTP/1.1\r", HTTP_DOOR_WAIT, false},
        {"GET /v2/keys/a HTTP/1.1\r\n", HTTP_DOOR_REQUEST, false},
        {"GET /v2/keys/a HTTP/1.0\n", HTTP_DOOR_REQUEST, false},
        {"\r\nPUT /x HTTP/1.1\r\n", HTTP_DOOR_REQUEST, false},
        {"POST /raft/append_entries HTTP/1.1\r\n", HTTP_DOOR_REQUEST, true},
        {"POST /raft/ HTTP/1.1\r\n", HTTP_DOOR_REQUEST, true},
        {"POST /raftx HTTP/1.1\r\n", HTTP_DOOR_REQUEST, false},
        {"GET /v2/keys/caf\xc3\xa9 HTTP/1.1\r\n", HTTP_DOOR_REQUEST, false},
        {"\x16\x03\x01garbage\r\n\r\n", HTTP_DOOR_TLS, false}, /* a ClientHello */
        {"\x16", HTTP_DOOR_TLS, false},
        {"\r\n\x16\x03\x01", HTTP_DOOR_GARBAGE, false},
        {"GARBAGE\r\n", HTTP_DOOR_GARBAGE, false},
        {"hello world\r\n", HTTP_DOOR_GARBAGE, false},
        {"GET  /x HTTP/1.1\r\n", HTTP_DOOR_GARBAGE, false},
        {"GET /x\r\n", HTTP_DOOR_GARBAGE, false},
        {"GET /x HTTP/x.1\r\n", HTTP_DOOR_GARBAGE, false},
        {"GET /x HTTP/1.1 \r\n", HTTP_DOOR_GARBAGE, false},
        {"GET /a\tb HTTP/1.1\r\n", HTTP_DOOR_GARBAGE, false},
        {"SSH-2.0-OpenSSH_9.2\r\n", HTTP_DOOR_GARBAGE, false},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", HTTP_DOOR_GARBAGE, false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        bool peer = !t[i].peer;
        enum http_door_verdict v = http_door_judge(t[i].in, strlen(t[i].in), "/raft/", &peer);
        if (v != t[i].want || (v == HTTP_DOOR_REQUEST && peer != t[i].peer)) {
            fprintf(stderr, "  case %zu (%s): verdict %d peer %d\n", i, t[i].in, v, peer);
            CHECK(false);
        }
    }
}

int main(void)
{
    fds_before = count_fds();
    RUN(test_door_judge);
    /* proxies from the environment must never be used */
    setenv("http_proxy", "http://127.0.0.1:9", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:9", 1);
    setenv("all_proxy", "http://127.0.0.1:9", 1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(300);
    RUN(test_roundtrip_post);
    RUN(test_query);
    RUN(test_body_too_large);
    RUN(test_large_body_no_expect);
    RUN(test_suspended_answered_later);
    RUN(test_long_poll_abort);
    RUN(test_client_timeout_silent_server);
    RUN(test_connection_refused);
    RUN(test_many_concurrent);
    RUN(test_garbage_and_slow_clients);
    RUN(test_connection_reuse);
    RUN(test_client_free_cancels);
    RUN(test_response_cap);
    RUN(test_response_cap_per_call);
    RUN(test_listen_addresses);
    RUN(test_no_fd_leaks); /* keep last */
    return test_summary();
}
