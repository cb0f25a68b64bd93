/* http_door.c - accept connections and judge their request line before
 * libmicrohttpd sees them (see http_door.h).
 *
 * Every connection in the door has an edge-triggered sd-event IO source:
 * the door only peeks at the bytes, so a level-triggered source would fire
 * again and again on data it leaves in place. A connection the door answers
 * itself (400, 414, 503) is half-closed after the answer and its input read
 * and dropped until the client closes too, or LINGER_S passes: closing a
 * socket with unread input sends a reset, which can destroy the answer
 * before the client has read it. One sweep timer, every second while the
 * door holds anything, closes connections past their deadline.
 *
 * A TLS connection leaves the door as soon as its first byte shows a
 * handshake; when room must be made and the door is empty, the owner is
 * asked to close its oldest unsorted one (ops.evict).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "http_door.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define ACCEPT_BATCH 64        /* accepts per wake-up, for fairness */
#define LINGER_S 2             /* reading after our own answer */
#define LINGER_MAX_BYTES 65536 /* dropped after our own answer, at most */
#define METHOD_MAX 32
#define USEC_PER_SEC 1000000ull

struct door_conn {
    struct door_conn *prev, *next; /* d's list, oldest first */
    struct http_door *d;
    int fd;
    struct sockaddr_storage sa;
    socklen_t salen;
    sd_event_source *io;
    uint64_t deadline; /* CLOCK_MONOTONIC usec */
    bool answered;     /* our answer is out: draining until EOF */
    size_t drained;
};

struct http_door {
    sd_event *ev;
    int listen_fd;
    sd_event_source *listen_io, *sweep, *resume;
    struct door_conn *head, *tail;
    unsigned n;
    unsigned long long accepted;
    unsigned long long refused; /* answered 503: no room */
    struct http_door_limits limits;
    char *full_body;
    struct http_door_ops ops;
    void *arg;
};

static const char bad_request_body[] =
    "{\"error\":\"not an HTTP/1.x request: a request starts with a line like "
    "'GET /v2/keys/ HTTP/1.1'\"}";
static const char https_only_body[] =
    "{\"error\":\"this node serves HTTPS only: send the request again with "
    "https:// (and the cluster's CA certificate, e.g. curl --cacert "
    "ca.pem https://...)\"}";
static const char no_tls_body[] =
    "{\"error\":\"this node does not serve TLS: use http://\"}";
static const char too_long_body[] =
    "{\"error\":\"request line longer than 8192 bytes: use a shorter URL\"}";

/* ---- judging the request line --------------------------------------------- */

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Whether buf[i..n) matches the start of what (a literal); *i moves past
 * what is matched. */
static bool match_prefix(const char *buf, size_t n, size_t *i, const char *what)
{
    for (; *what && *i < n; (*i)++, what++)
        if (buf[*i] != *what)
            return false;
    return true;
}

enum http_door_verdict http_door_judge(const char *buf, size_t n, const char *peer_prefix, bool *peer)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t i = 0, m, t;
    *peer = false;
    if (n > 0 && b[0] == 0x16) /* a TLS record of type handshake */
        return HTTP_DOOR_TLS;
    while (i < n && (b[i] == '\r' || b[i] == '\n')) /* empty lines first */
        i++;
    for (m = i; i < n && is_tchar(b[i]); i++)
        ;
    if (i - m > METHOD_MAX || (i < n && (i == m || b[i] != ' ')))
        return HTTP_DOOR_GARBAGE;
    if (i++ >= n)
        return HTTP_DOOR_WAIT;
    for (t = i; i < n && b[i] > ' ' && b[i] != 0x7f; i++) /* the target */
        ;
    if (i < n && (i == t || b[i] != ' '))
        return HTTP_DOOR_GARBAGE;
    if (i >= n)
        return HTTP_DOOR_WAIT;
    size_t pl = peer_prefix ? strlen(peer_prefix) : 0;
    *peer = pl && i - t >= pl && memcmp(buf + t, peer_prefix, pl) == 0;
    i++;
    if (!match_prefix(buf, n, &i, "HTTP/"))
        return HTTP_DOOR_GARBAGE;
    for (int part = 0; part < 3 && i < n; part++, i++) /* digit . digit */
        if (part == 1 ? b[i] != '.' : !isdigit(b[i]))
            return HTTP_DOOR_GARBAGE;
    if (i < n && b[i] == '\r')
        i++;
    if (i >= n)
        return HTTP_DOOR_WAIT;
    return b[i] == '\n' ? HTTP_DOOR_REQUEST : HTTP_DOOR_GARBAGE;
}

/* ---- connections ------------------------------------------------------------ */

uint64_t http_loop_now(sd_event *ev)
{
    uint64_t now = 0;
    if (sd_event_now(ev, CLOCK_MONOTONIC, &now) < 0)
        now = 0;
    return now;
}

static uint64_t door_now(const struct http_door *d)
{
    return http_loop_now(d->ev);
}

/* Take c off the list; its fd stays open (closed by the caller or handed
 * over). */
static void conn_unlink(struct door_conn *c)
{
    struct http_door *d = c->d;
    c->io = sd_event_source_disable_unref(c->io);
    if (c->prev)
        c->prev->next = c->next;
    else
        d->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        d->tail = c->prev;
    d->n--;
}

static void conn_close(struct door_conn *c)
{
    conn_unlink(c);
    close(c->fd);
    free(c);
}

/* Read and drop what the client still sends after our answer; close once
 * it is done (or sends too much). */
static void conn_drain(struct door_conn *c)
{
    char scratch[4096];
    for (;;) {
        ssize_t r = recv(c->fd, scratch, sizeof scratch, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0 || (c->drained += (size_t)r) > LINGER_MAX_BYTES) {
            conn_close(c);
            return;
        }
    }
}

/* Answer c ourselves and close it (after draining its input). */
static void conn_answer(struct door_conn *c, const char *status, const char *body)
{
    char head[256];
    bool retry = strncmp(status, "503", 3) == 0;
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                      status, strlen(body), retry ? "Retry-After: 1\r\n" : "");
    struct iovec iov[2] = {{head, (size_t)hl}, {(void *)body, strlen(body)}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    /* a fresh socket's buffer takes this whole; if not, the client gets
     * less (or nothing), then the close */
    (void)sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(c->fd, SHUT_WR);
    c->answered = true;
    c->deadline = door_now(c->d) + LINGER_S * USEC_PER_SEC;
    conn_drain(c);
}

static void conn_hand_over(struct door_conn *c, enum http_door_kind kind)
{
    struct http_door *d = c->d;
    conn_unlink(c);
    d->ops.take(d->arg, c->fd, (const struct sockaddr *)&c->sa, c->salen, kind);
    free(c);
}

/* Hand c over to the owner, or answer 503 if its kind is at its limit. */
static void conn_admit(struct door_conn *c, bool peer)
{
    struct http_door *d = c->d;
    if (!d->ops.room_for(d->arg, peer)) {
        d->refused++;
        conn_answer(c, "503 Service Unavailable", d->full_body);
        return;
    }
    conn_hand_over(c, peer ? HTTP_DOOR_PEER : HTTP_DOOR_CLIENT);
}

static void conn_judge(struct door_conn *c, bool hung_up)
{
    char buf[HTTP_DOOR_LINE_MAX];
    ssize_t r;
    do
        r = recv(c->fd, buf, sizeof buf, MSG_PEEK);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !hung_up)
        return;
    if (r <= 0) { /* gone before its request line */
        conn_close(c);
        return;
    }
    bool peer;
    bool tls = c->d->limits.tls;
    enum http_door_verdict v = http_door_judge(buf, (size_t)r, c->d->limits.peer_prefix, &peer);
    if (v == HTTP_DOOR_TLS && tls)
        conn_hand_over(c, HTTP_DOOR_UNSORTED);
    else if (v == HTTP_DOOR_TLS)
        conn_answer(c, "400 Bad Request", no_tls_body);
    else if (v == HTTP_DOOR_REQUEST && tls)
        conn_answer(c, "400 Bad Request", https_only_body);
    else if (v == HTTP_DOOR_REQUEST)
        conn_admit(c, peer);
    else if (v == HTTP_DOOR_GARBAGE || hung_up) /* (an unfinished line, then EOF) */
        conn_answer(c, "400 Bad Request", bad_request_body);
    else if ((size_t)r == sizeof buf)
        conn_answer(c, "414 URI Too Long", too_long_body);
}

static int on_conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    struct door_conn *c = userdata;
    (void)src, (void)fd;
    if (c->answered)
        conn_drain(c);
    else
        conn_judge(c, (revents & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
    return 0;
}

/* ---- accepting ------------------------------------------------------------- */

static void sweep_arm(struct http_door *d)
{
    int on = 0;
    if (!d->head || (sd_event_source_get_enabled(d->sweep, &on) >= 0 && on))
        return;
    sd_event_source_set_time(d->sweep, door_now(d) + USEC_PER_SEC);
    sd_event_source_set_enabled(d->sweep, SD_EVENT_ONESHOT);
}

static int on_sweep(sd_event_source *src, uint64_t usec, void *userdata)
{
    struct http_door *d = userdata;
    (void)src, (void)usec;
    uint64_t now = door_now(d);
    for (struct door_conn *c = d->head, *next; c; c = next) {
        next = c->next;
        if (c->deadline <= now)
            conn_close(c);
    }
    sweep_arm(d);
    return 0;
}

/* Every connection allowed is taken: close the one that has waited longest
 * in the door (it has not sent a whole request line, or was answered).
 * Connections whose request line arrived but was not looked at yet (their
 * readiness not dispatched yet, on a busy loop) are judged first: they are
 * not idle, and closing one would drop a request already sent. */
static bool make_room(struct http_door *d)
{
    for (struct door_conn *c = d->head, *next; c; c = next) {
        next = c->next; /* (judging c frees only c) */
        if (!c->answered)
            conn_judge(c, false);
    }
    if (!d->head)
        return d->ops.evict && d->ops.evict(d->arg);
    conn_close(d->head);
    return true;
}

static struct door_conn *conn_add(struct http_door *d, int fd, const struct sockaddr_storage *sa,
                                  socklen_t salen)
{
    struct door_conn *c = calloc(1, sizeof *c);
    if (!c || sd_event_add_io(d->ev, &c->io, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, on_conn_io, c) < 0) {
        free(c);
        close(fd);
        return NULL;
    }
    c->d = d;
    c->fd = fd;
    c->sa = *sa;
    c->salen = salen;
    c->deadline = door_now(d) + d->limits.timeout_s * USEC_PER_SEC;
    c->prev = d->tail;
    if (d->tail)
        d->tail->next = c;
    else
        d->head = c;
    d->tail = c;
    d->n++;
    sweep_arm(d);
    return c;
}

static int on_resume(sd_event_source *src, uint64_t usec, void *userdata)
{
    struct http_door *d = userdata;
    (void)src, (void)usec;
    sd_event_source_set_enabled(d->listen_io, SD_EVENT_ON);
    return 0;
}

/* Out of file descriptors with nobody in the door to close: stop accepting
 * for a moment rather than spin on a listening socket that stays readable. */
static void pause_accepting(struct http_door *d)
{
    sd_event_source_set_enabled(d->listen_io, SD_EVENT_OFF);
    sd_event_source_set_time(d->resume, door_now(d) + USEC_PER_SEC / 10);
    sd_event_source_set_enabled(d->resume, SD_EVENT_ONESHOT);
}

static int on_listen(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    struct http_door *d = userdata;
    (void)src, (void)revents;
    for (int k = 0; k < ACCEPT_BATCH; k++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        int cfd = accept4(fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) &&
                !make_room(d))
                pause_accepting(d);
            return 0;
        }
        d->accepted++;
        /* (with every connection allowed busy inside, this one can only be
         * told so) */
        bool full = d->n + d->ops.inside(d->arg) >= d->limits.total && !make_room(d);
        struct door_conn *c = conn_add(d, cfd, &sa, salen);
        if (c && full) {
            d->refused++;
            conn_answer(c, "503 Service Unavailable", d->full_body);
        }
    }
    return 0;
}

/* ---- lifetime ------------------------------------------------------------- */

struct http_door *http_door_new(sd_event *ev, int listen_fd, const struct http_door_limits *limits,
                                const struct http_door_ops *ops, void *arg)
{
    struct http_door *d = calloc(1, sizeof *d);
    if (!d) {
        close(listen_fd);
        return NULL;
    }
    d->ev = sd_event_ref(ev);
    d->listen_fd = listen_fd;
    d->limits = *limits;
    d->ops = *ops;
    d->arg = arg;
    d->full_body = strdup(limits->full_body ? limits->full_body : "{}");
    int r = d->full_body ? 0 : -ENOMEM;
    if (r >= 0)
        r = sd_event_add_io(ev, &d->listen_io, listen_fd, EPOLLIN, on_listen, d);
    if (r >= 0)
        r = sd_event_add_time(ev, &d->sweep, CLOCK_MONOTONIC, 0, USEC_PER_SEC / 10, on_sweep, d);
    if (r >= 0)
        r = sd_event_source_set_enabled(d->sweep, SD_EVENT_OFF);
    if (r >= 0)
        r = sd_event_add_time(ev, &d->resume, CLOCK_MONOTONIC, 0, 1000, on_resume, d);
    if (r >= 0)
        r = sd_event_source_set_enabled(d->resume, SD_EVENT_OFF);
    if (r < 0) {
        http_door_free(d);
        errno = -r;
        return NULL;
    }
    sd_event_source_set_description(d->listen_io, "http-door-listen");
    sd_event_source_set_description(d->sweep, "http-door-sweep");
    return d;
}

void http_door_free(struct http_door *d)
{
    if (!d)
        return;
    while (d->head)
        conn_close(d->head);
    sd_event_source_disable_unref(d->listen_io);
    sd_event_source_disable_unref(d->sweep);
    sd_event_source_disable_unref(d->resume);
    close(d->listen_fd);
    sd_event_unref(d->ev);
    free(d->full_body);
    free(d);
}

unsigned http_door_waiting(const struct http_door *d)
{
    return d ? d->n : 0;
}

unsigned long long http_door_accepted(const struct http_door *d)
{
    return d ? d->accepted : 0;
}

unsigned long long http_door_refused(const struct http_door *d)
{
    return d ? d->refused : 0;
}
