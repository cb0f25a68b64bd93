/* http_server.c - libmicrohttpd in external-polling (epoll) mode on sd-event.
 *
 * Event flow:
 *   - MHD's epoll fd is an sd-event IO source; when it is readable we call
 *     MHD_run(), then re-arm a one-shot timer from MHD_get_timeout().
 *   - MHD calls on_access() for every request: the first call creates our
 *     struct http_request, later calls deliver body chunks, the last call
 *     (upload size 0) runs the user's handler.
 *   - If the handler does not answer, the connection is suspended. MHD does
 *     not notice a client going away while a connection is suspended, so a
 *     request still suspended after HUP_WATCH_DELAY_US has its socket
 *     watched (EPOLLRDHUP) by a separate sd-event IO source. Most held
 *     requests (writes, quorum reads, peer RPCs waiting for a sync) are
 *     answered well before that and cost no epoll_ctl() for it; a watch
 *     (long poll) or a request stuck behind an election gets its watch.
 *   - http_respond() on a suspended request builds the response, resumes the
 *     connection and enables a defer source so that MHD_run() runs on the
 *     next loop iteration; MHD then calls on_access() again and we queue it.
 *   - on_completed() (MHD_OPTION_NOTIFY_COMPLETED) frees the request.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "http_server.h"
#include "hex.h"
#include "http_door.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes of an oversized body we read and throw away so that the client gets
 * its 413 on a healthy keep-alive connection. A declared Content-Length
 * beyond max_body + this is answered at once (and the connection closed);
 * a chunked body that runs past it makes us drop the connection. */
#define DISCARD_MAX ((size_t)1 << 20)
#define LISTEN_BACKLOG 256
/* How long a suspended request goes without a hang-up watch (see above). */
#define HUP_WATCH_DELAY_US 100000u

struct resp_header {
    struct resp_header *next;
    char *name, *value;
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    struct http_request *prev, *next; /* srv->requests */
    char *method, *path;
    char *body;
    size_t body_len, body_cap;
    size_t received; /* body bytes seen, kept or not */
    size_t max_body; /* the server's, or its large_max_body for its path */
    const char *max_body_setting; /* what sets max_body, or NULL */
    char peer[INET6_ADDRSTRLEN + 16];

    bool too_large;      /* body over max_body: 413, handler not called */
    bool handled;        /* user handler has been called */
    bool responded;      /* http_respond() called (r is gone for the user) */
    bool queued;         /* a response was handed to MHD */
    bool suspended;      /* MHD_suspend_connection() in effect */
    bool abort_notified; /* on_abort called (or not needed any more) */
    bool drop;           /* close the connection on the next on_access() */
    bool refused_early;  /* refused before its body: keep none of it */

    struct resp_header *headers;
    struct MHD_Response *resp; /* built by http_respond, not yet queued */
    unsigned status;

    sd_event_source *hup; /* watches the socket while suspended */
    uint64_t suspended_at; /* CLOCK_MONOTONIC usec */
    void (*abort_fn)(struct http_request *, void *);
    void *abort_arg;
    http_respond_hook_fn respond_hook; /* see http_request_on_respond() */
    void *respond_hook_arg;
    void *context;         /* http_request_context(), freed with r */
    uint64_t started_ms;   /* CLOCK_REALTIME when the headers were in */
};

struct http_server {
    sd_event *ev;
    struct MHD_Daemon *mhd;
    sd_event_source *io, *timer, *kick;
    sd_event_source *hup_timer; /* adds hang-up watches to old suspensions */
    uint16_t port;
    size_t max_body;
    char *large_body_path; /* see struct http_server_limits */
    size_t large_max_body;
    const char *max_body_setting, *large_max_body_setting;
    http_handler_fn handler;
    void *arg;
    http_early_fn early;   /* http_server_set_early_check() */
    void *early_arg;
    struct http_request *requests;
    bool closing;
    struct http_door *door;
    unsigned conn_limit;  /* client connections */
    unsigned open;        /* connections inside (past the door) */
    unsigned open_peers;  /*   of which peers' */
    bool taking_peer;     /* the connection being added is a peer's */
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- driving MHD from the loop ------------------------------------------ */

static uint64_t server_now(const struct http_server *s)
{
    return http_loop_now(s->ev);
}

static void rearm_timer(struct http_server *s)
{
    MHD_UNSIGNED_LONG_LONG to;
    if (!s->timer)
        return;
    bool due = MHD_get_timeout(s->mhd, &to) == MHD_YES;
    if (due && to == 0 && s->kick) {
        /* data already buffered: MHD wants to run again at once */
        sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
        sd_event_source_set_enabled(s->kick, SD_EVENT_ONESHOT);
    } else if (due) {
        if (to > UINT64_C(86400000))
            to = UINT64_C(86400000);
        sd_event_source_set_time(s->timer, server_now(s) + (uint64_t)to * 1000u);
        sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
    } else {
        sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
    }
}

static void server_run(struct http_server *s)
{
    MHD_run(s->mhd);
    rearm_timer(s);
}

/* Make sure MHD_run() happens on the next loop iteration. */
static void server_kick(struct http_server *s)
{
    if (s->kick)
        sd_event_source_set_enabled(s->kick, SD_EVENT_ONESHOT);
}

void http_server_flush(struct http_server *s)
{
    int on = 0;
    if (!s || !s->kick || sd_event_source_get_enabled(s->kick, &on) < 0 || !on)
        return;
    sd_event_source_set_enabled(s->kick, SD_EVENT_OFF);
    server_run(s);
}

static int on_epoll(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    (void)src, (void)fd, (void)revents;
    server_run(userdata);
    return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
    (void)src, (void)usec;
    server_run(userdata);
    return 0;
}

static int on_kick(sd_event_source *src, void *userdata)
{
    (void)src;
    server_run(userdata);
    return 0;
}

/* ---- requests ----------------------------------------------------------- */

static void request_unwatch(struct http_request *r)
{
    r->hup = sd_event_source_disable_unref(r->hup);
}

static void request_free(struct http_request *r)
{
    struct http_server *s = r->srv;
    request_unwatch(r);
    if (r->prev)
        r->prev->next = r->next;
    else if (s->requests == r)
        s->requests = r->next;
    if (r->next)
        r->next->prev = r->prev;
    while (r->headers) {
        struct resp_header *h = r->headers;
        r->headers = h->next;
        free(h->name);
        free(h->value);
        free(h);
    }
    if (r->resp)
        MHD_destroy_response(r->resp);
    free(r->method);
    free(r->path);
    free(r->body);
    free(r->context);
    free(r);
}

static void notify_abort(struct http_request *r)
{
    if (r->abort_notified || !r->handled || r->responded)
        return;
    r->abort_notified = true;
    if (r->abort_fn)
        r->abort_fn(r, r->abort_arg);
}

/* Resume a suspended connection (to send its response or to drop it). */
static void request_resume(struct http_request *r)
{
    if (!r->suspended)
        return;
    request_unwatch(r);
    r->suspended = false;
    MHD_resume_connection(r->conn);
    server_kick(r->srv);
}

/* The client of a suspended request hung up (or the socket failed). */
static int on_hup(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    struct http_request *r = userdata;
    (void)src, (void)fd;
    if (!(revents & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return 0;
    request_unwatch(r);
    r->drop = true;
    notify_abort(r);
    /* MHD closes the connection when on_access() refuses it after resuming;
     * on_completed() then frees r. */
    request_resume(r);
    return 0;
}

static void request_watch(struct http_request *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || ci->connect_fd < 0)
        return;
    if (sd_event_add_io(r->srv->ev, &r->hup, ci->connect_fd, EPOLLRDHUP, on_hup, r) < 0)
        r->hup = NULL; /* no abort detection for this one; it still works otherwise */
}

/* Watch the requests suspended for HUP_WATCH_DELAY_US or more; run again
 * when the next one reaches that age. */
static int on_hup_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
    struct http_server *s = userdata;
    (void)usec;
    uint64_t now = server_now(s), next = UINT64_MAX;
    for (struct http_request *r = s->requests; r; r = r->next) {
        if (!r->suspended || r->hup)
            continue;
        uint64_t due = r->suspended_at + HUP_WATCH_DELAY_US;
        if (due <= now)
            request_watch(r);
        else if (due < next)
            next = due;
    }
    if (next != UINT64_MAX) {
        sd_event_source_set_time(src, next);
        sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
    }
    return 0;
}

static void request_suspend(struct http_request *r)
{
    struct http_server *s = r->srv;
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    r->suspended_at = server_now(s);
    int on = 0;
    if (!s->hup_timer ||
        (sd_event_source_get_enabled(s->hup_timer, &on) >= 0 && on))
        return; /* already due for an older suspension */
    sd_event_source_set_time(s->hup_timer, r->suspended_at + HUP_WATCH_DELAY_US);
    sd_event_source_set_enabled(s->hup_timer, SD_EVENT_ONESHOT);
}

static void format_peer(struct http_request *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    bool v6 = false;
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
            inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
            port = ntohs(in->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
            if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
                inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof ip);
            } else {
                inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
                v6 = true;
            }
            port = ntohs(in6->sin6_port);
        }
    }
    snprintf(r->peer, sizeof r->peer, v6 ? "[%s]:%u" : "%s:%u", ip, port);
}

static struct MHD_Response *make_response(const char *content_type, const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body && len ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (resp && content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    return resp;
}

/* Append s to buf as a JSON string literal (with quotes). Returns length. */
static size_t json_quote(char *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    out[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            out[n++] = '\\';
            switch (c) {
            case '\n': out[n++] = 'n'; break;
            case '\r': out[n++] = 'r'; break;
            case '\t': out[n++] = 't'; break;
            default:
                out[n++] = 'u';
                out[n++] = '0';
                out[n++] = '0';
                out[n++] = hex[c >> 4];
                out[n++] = hex[c & 15];
            }
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = '"';
    return n;
}

/* {"error": msg}; returns a malloc'ed string. */
static char *json_error(const char *msg, size_t *len)
{
    if (!msg)
        msg = "";
    size_t cap = strlen(msg) * 6 + 32;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = 0;
    memcpy(out, "{\"error\": ", 10);
    n = 10;
    n += json_quote(out + n, msg);
    out[n++] = '}';
    out[n] = '\0';
    *len = n;
    return out;
}

static enum MHD_Result queue_error(struct http_request *r, unsigned status, const char *msg)
{
    size_t len = 0;
    char *body = json_error(msg, &len);
    if (!body)
        return MHD_NO;
    struct MHD_Response *resp = make_response("application/json", body, len);
    free(body);
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->queued = true;
    return ret;
}

static enum MHD_Result queue_too_large(struct http_request *r)
{
    char msg[160];
    const char *setting = r->max_body_setting;
    snprintf(msg, sizeof msg, "request body larger than %zu bytes%s%s%s",
             r->max_body, setting ? " (the limit set by " : "",
             setting ? setting : "", setting ? ")" : "");
    return queue_error(r, 413, msg);
}

static bool body_append(struct http_request *r, const char *data, size_t n)
{
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b)
            return false;
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return true;
}

/* Per connection: whether the request being parsed had a %-escape we refuse
 * (%00, which would silently cut a C string short, or a malformed one). */
struct conn_ctx {
    bool bad_escape;
    bool peer; /* its first request was for a peer path (http_door.h) */
};

/* MHD_OPTION_UNESCAPE_CALLBACK: %-decode the path and query arguments in
 * place, as MHD would, but note escapes we refuse instead of decoding them
 * (the request then gets 400 in on_access). */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_ctx *cc = ci ? ci->socket_context : NULL;
    char *out = s;
    for (const char *in = s; *in; in++) {
        if (*in != '%') {
            *out++ = *in;
            continue;
        }
        int hi = hex_digit(in[1]), lo = hi >= 0 ? hex_digit(in[2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            if (cc)
                cc->bad_escape = true;
            *out++ = *in;
            continue;
        }
        *out++ = (char)(hi * 16 + lo);
        in += 2;
    }
    *out = 0;
    return (size_t)(out - s);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    struct http_server *s = cls;
    struct http_request *r = *con_cls;
    (void)version;

    if (!r) {
        /* First call: headers are in, body (if any) not yet. */
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->srv = s;
        r->conn = conn;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        r->started_ms = (uint64_t)now.tv_sec * 1000u +
                        (uint64_t)now.tv_nsec / 1000000u;
        r->method = strdup(method ? method : "");
        r->path = strdup(url ? url : "");
        if (!r->method || !r->path) {
            free(r->method);
            free(r->path);
            free(r);
            return MHD_NO;
        }
        r->next = s->requests;
        if (s->requests)
            s->requests->prev = r;
        s->requests = r;
        *con_cls = r;
        format_peer(r);
        bool large = s->large_body_path && strcmp(r->path, s->large_body_path) == 0;
        r->max_body = large ? s->large_max_body : s->max_body;
        r->max_body_setting = large ? s->large_max_body_setting : s->max_body_setting;

        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct conn_ctx *cc = ci ? ci->socket_context : NULL;
        if (cc && cc->bad_escape) {
            cc->bad_escape = false;
            return queue_error(r, 400, "malformed or NUL (%00) %-escape in the URL");
        }
        if (s->early) {
            char msg[512];
            unsigned status = s->early(r, s->early_arg, msg, sizeof msg);
            if (status) { /* answered now; MHD closes after the answer */
                r->refused_early = true;
                return queue_error(r, status, msg);
            }
        }

        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || end == cl || n > r->max_body) {
                r->too_large = true;
                /* Too much to swallow (or a client waiting for 100
                 * Continue): answer now; MHD closes the connection after. */
                if (errno || end == cl || n - r->max_body > DISCARD_MAX)
                    return queue_too_large(r);
            }
        }
        return MHD_YES;
    }

    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->received = n > SIZE_MAX - r->received ? SIZE_MAX : r->received + n;
        if (r->queued) /* early answer already on its way */
            return r->refused_early && r->received > DISCARD_MAX ? MHD_NO
                                                                  : MHD_YES;
        if (!r->too_large && r->received > r->max_body) {
            r->too_large = true;
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
        }
        if (r->too_large) /* swallow a bit, then give up on the connection */
            return r->received > r->max_body &&
                           r->received - r->max_body > DISCARD_MAX
                       ? MHD_NO
                       : MHD_YES;
        return body_append(r, upload_data, n) ? MHD_YES : MHD_NO;
    }

    /* The request is complete (or we are being called after a resume). */
    if (r->queued)
        return MHD_YES;
    if (r->drop || s->closing)
        return MHD_NO;
    if (r->too_large)
        return queue_too_large(r);

    if (!r->handled) {
        r->handled = true;
        s->handler(r, s->arg);
        /* The handler may have done anything re-entrantly except free the
         * server; r is still ours (on_completed has not run). */
    }
    if (r->resp) {
        enum MHD_Result ret = MHD_queue_response(conn, r->status, r->resp);
        MHD_destroy_response(r->resp);
        r->resp = NULL;
        r->queued = true;
        return ret;
    }
    if (r->responded)
        return MHD_NO; /* http_respond could not build a response */
    if (!r->suspended)
        request_suspend(r);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_request *r = *con_cls;
    (void)cls, (void)conn, (void)toe;
    if (!r)
        return;
    *con_cls = NULL;
    notify_abort(r);
    request_free(r);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    (void)conn;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        /* (called from MHD_add_connection in take_connection) */
        struct conn_ctx *cc = calloc(1, sizeof *cc);
        s->open++;
        if (cc)
            cc->peer = s->taking_peer;
        s->open_peers += s->taking_peer;
        *socket_context = cc;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn_ctx *cc = *socket_context;
        if (s->open > 0)
            s->open--;
        if (cc && cc->peer && s->open_peers > 0)
            s->open_peers--;
        free(cc);
        *socket_context = NULL;
    }
}

/* ---- the door's side (http_door.h) -------------------------------------- */

static bool door_room_for(void *arg, bool peer)
{
    const struct http_server *s = arg;
    /* peers may use any connection allowed: the door counted it already */
    return peer || s->open - s->open_peers < s->conn_limit;
}

static void door_take(void *arg, int fd, const struct sockaddr *sa, socklen_t salen, bool peer)
{
    struct http_server *s = arg;
    s->taking_peer = peer;
    MHD_add_connection(s->mhd, fd, sa, salen); /* (closes fd on failure) */
    s->taking_peer = false;
    server_kick(s);
}

static unsigned door_inside(void *arg)
{
    const struct http_server *s = arg;
    return s->open;
}

/* ---- request API -------------------------------------------------------- */

const char *http_request_method(const struct http_request *r)
{
    return r->method;
}

const char *http_request_path(const struct http_request *r)
{
    return r->path;
}

const char *http_request_query(const struct http_request *r, const char *key)
{
    const char *value = NULL;
    size_t value_len = 0;
    if (!key)
        return NULL;
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), &value, &value_len) !=
        MHD_YES)
        return NULL;
    return value ? value : "";
}

const char *http_request_header(const struct http_request *r, const char *name)
{
    if (!name)
        return NULL;
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_request_body(const struct http_request *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body ? r->body : "";
}

const char *http_request_peer(const struct http_request *r)
{
    return r->peer;
}

void http_response_header(struct http_request *r, const char *name, const char *value)
{
    if (!r || r->responded || !name || !value)
        return;
    struct resp_header *h = calloc(1, sizeof *h);
    if (!h)
        return;
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        free(h);
        return;
    }
    /* keep them in call order */
    struct resp_header **tail = &r->headers;
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
}

void http_server_set_early_check(struct http_server *s, http_early_fn fn, void *arg)
{
    s->early = fn;
    s->early_arg = arg;
}

void http_request_on_respond(struct http_request *r, http_respond_hook_fn fn, void *arg)
{
    r->respond_hook = fn;
    r->respond_hook_arg = arg;
}

void *http_request_context(struct http_request *r, size_t size)
{
    if (!r->context)
        r->context = calloc(1, size);
    return r->context;
}

uint64_t http_request_started_ms(const struct http_request *r)
{
    return r->started_ms;
}

void http_respond(struct http_request *r, unsigned status, const char *content_type, const char *body, size_t len)
{
    if (!r || r->responded || r->abort_notified)
        return;
    if (r->respond_hook) /* it may add headers: before r->responded */
        r->respond_hook(r, status, body ? body : "", body ? len : 0, r->respond_hook_arg);
    r->responded = true;
    if (!r->srv->closing) {
        r->resp = make_response(content_type, body, len);
        if (r->resp) {
            r->status = status;
            for (struct resp_header *h = r->headers; h; h = h->next)
                MHD_add_response_header(r->resp, h->name, h->value);
        }
    }
    /* Inside the handler, on_access() queues it when the handler returns.
     * Otherwise the connection is suspended: wake it up. (Without a
     * response, on_access() refuses the request and MHD closes it.) */
    request_resume(r);
}

void http_respond_error(struct http_request *r, unsigned status, const char *msg)
{
    size_t len = 0;
    char *body = json_error(msg, &len);
    if (!body) {
        http_respond(r, status, NULL, NULL, 0);
        return;
    }
    http_respond(r, status, "application/json", body, len);
    free(body);
}

void http_request_on_abort(struct http_request *r, void (*fn)(struct http_request *r, void *arg), void *arg)
{
    if (!r)
        return;
    r->abort_fn = fn;
    r->abort_arg = arg;
}

/* ---- server ------------------------------------------------------------- */

/* What to do about EADDRINUSE. A port in the kernel's ephemeral range can
 * also be taken for a while by any program's outgoing connection (even in
 * TIME-WAIT), which looks like a mystery when nothing listens there. */
static const char *in_use_hint(uint16_t port)
{
    unsigned lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
    if (f) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2)
            lo = 32768, hi = 60999;
        fclose(f);
    }
    if (port >= lo && port <= hi)
        return " (is something listening there? The port is also in the "
               "range the kernel gives outgoing connections, which can hold "
               "it for a while: use one below net.ipv4.ip_local_port_range)";
    return " (is another raftd, or another program, listening there?)";
}

static void format_hostport(char *out, size_t outlen, const char *host, uint16_t port)
{
    if (!host || !*host)
        host = "*";
    if (strchr(host, ':'))
        snprintf(out, outlen, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(out, outlen, "%s:%u", host, (unsigned)port);
}

/* Create, bind and listen; returns the fd or -1 with err set. */
static int open_listener(const char *host, uint16_t port, int *family, char *err, size_t errlen)
{
    char where[300], portstr[8];
    struct addrinfo hints, *res = NULL;
    int rc, fd = -1, last_errno = 0;

    format_hostport(where, sizeof where, host, port);
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (host && (!*host || !strcmp(host, "*")))
        host = NULL;
    if (!host)
        hints.ai_family = AF_INET6; /* dual-stack wildcard; falls back below */
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 && !host) {
        hints.ai_family = AF_UNSPEC;
        rc = getaddrinfo(host, portstr, &hints, &res);
    }
    if (rc != 0) {
        seterr(err, errlen, "cannot listen on %s: %s", where,
               rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ai->ai_addr;
            if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) /* "::" means every address */
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0) {
            *family = ai->ai_family;
            break;
        }
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        seterr(err, errlen, "cannot listen on %s: %s%s", where,
               last_errno ? strerror(last_errno) : "no usable address",
               last_errno == EADDRINUSE ? in_use_hint(port) : "");
    return fd;
}

/* Descriptors beyond the connections: data files, the peers' outgoing
 * connections, the snapshot, the journal. */
#define FDS_BESIDES_CONNECTIONS 128u
#define MHD_LIMIT_SLACK 64u

/* The connections allowed must fit the process's descriptor limit (raised
 * to its hard limit if need be): better a clear refusal at start than
 * accept() failing under load. */
static int check_fd_limit(unsigned conns, const char *setting, char *err, size_t errlen)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)conns + FDS_BESIDES_CONNECTIONS;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
        return 0;
    struct rlimit want = {need <= rl.rlim_max ? need : rl.rlim_max, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &want) == 0 && want.rlim_cur >= need)
        return 0;
    seterr(err, errlen,
           "%u connections (%s and the peers' reserve) need about %llu file "
           "descriptors, but this process may open only %llu: raise the "
           "limit (LimitNOFILE= in the systemd unit, ulimit -n) or lower %s",
           conns, setting ? setting : "the connection limit",
           (unsigned long long)need, (unsigned long long)rl.rlim_max,
           setting ? setting : "the connection limit");
    return -1;
}

/* The door in front of MHD; it owns fd from here on. */
static int open_door(struct http_server *s, int fd, unsigned total, unsigned timeout_s,
                     const struct http_server_limits *limits)
{
    char msg[200];
    const char *setting = limits ? limits->conn_limit_setting : NULL;
    snprintf(msg, sizeof msg,
             "the server is at its connection limit (%u client connections%s%s): "
             "retry in a moment, or reuse a kept-alive connection",
             s->conn_limit, setting ? ", " : "", setting ? setting : "");
    size_t len = 0;
    char *body = json_error(msg, &len);
    struct http_door_limits dl = {
        .total = total,
        .timeout_s = timeout_s,
        .peer_prefix = limits ? limits->peer_prefix : NULL,
        .full_body = body,
    };
    static const struct http_door_ops ops = {door_room_for, door_take, door_inside};
    s->door = body ? http_door_new(s->ev, fd, &dl, &ops, s) : NULL;
    if (!body) {
        close(fd);
        errno = ENOMEM;
    }
    free(body);
    return s->door ? 0 : -1;
}

struct http_server *http_server_new(sd_event *ev, const char *host, uint16_t port, size_t max_body,
                                    http_handler_fn handler, void *arg, char *err, size_t errlen)
{
    return http_server_new_ex(ev, host, port, max_body, NULL, handler, arg, err, errlen);
}

struct http_server *http_server_new_ex(sd_event *ev, const char *host, uint16_t port, size_t max_body,
                                       const struct http_server_limits *limits, http_handler_fn handler,
                                       void *arg, char *err, size_t errlen)
{
    struct http_server *s;
    int fd, family = AF_INET, r;
    unsigned conn_limit = HTTP_SERVER_DEFAULT_CONN_LIMIT, conn_timeout = HTTP_SERVER_DEFAULT_CONN_TIMEOUT_S;
    char where[300];

    if (!ev || !handler) {
        seterr(err, errlen, "http_server_new: invalid argument");
        return NULL;
    }
    if (limits && limits->conn_limit)
        conn_limit = limits->conn_limit;
    if (limits && limits->conn_timeout_s)
        conn_timeout = limits->conn_timeout_s;
    unsigned reserve = limits ? limits->peer_reserve : 0;
    const char *setting = limits ? limits->conn_limit_setting : NULL;
    if (check_fd_limit(conn_limit + reserve, setting, err, errlen) < 0)
        return NULL;

    fd = open_listener(host, port, &family, err, errlen);
    if (fd < 0)
        return NULL;

    s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    s->ev = sd_event_ref(ev);
    s->max_body = max_body;
    if (limits && limits->large_body_path) {
        s->large_body_path = strdup(limits->large_body_path);
        s->large_max_body = limits->large_max_body;
    }
    if (limits) {
        s->max_body_setting = limits->max_body_setting;
        s->large_max_body_setting = limits->large_max_body_setting;
    }
    s->handler = handler;
    s->arg = arg;
    s->conn_limit = conn_limit;

    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
        if (ss.ss_family == AF_INET)
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    format_hostport(where, sizeof where, host, s->port ? s->port : port);

    /* The door (http_door.h) accepts and hands connections over, keeping
     * to the limits; MHD's own limit is only a backstop (it counts closed
     * connections until its cleanup runs). */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_NO_LISTEN_SOCKET;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s,
                              MHD_OPTION_CONNECTION_LIMIT, conn_limit + reserve + MHD_LIMIT_SLACK,
                              MHD_OPTION_CONNECTION_TIMEOUT, conn_timeout,
                              /* per connection: headers and the read buffer
                               * (bodies are copied out as they arrive); MHD
                               * zeroes it for every request on a kept-alive
                               * connection, so smaller is cheaper too */
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                              (size_t)HTTP_SERVER_CONN_MEMORY,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                              MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, s,
                              MHD_OPTION_END);
    if (!s->mhd) {
        close(fd);
        seterr(err, errlen, "cannot listen on %s: libmicrohttpd failed to start", where);
        goto fail;
    }
    if (open_door(s, fd, conn_limit + reserve, conn_timeout, limits) < 0) {
        seterr(err, errlen, "cannot listen on %s: %s", where, strerror(errno));
        goto fail;
    }

    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di || di->epoll_fd < 0) {
        seterr(err, errlen, "cannot listen on %s: libmicrohttpd has no epoll fd", where);
        goto fail;
    }
    r = sd_event_add_io(ev, &s->io, di->epoll_fd, EPOLLIN, on_epoll, s);
    if (r >= 0)
        r = sd_event_add_time(ev, &s->timer, CLOCK_MONOTONIC, 0, 1, on_timer, s);
    if (r >= 0)
        r = sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
    if (r >= 0)
        r = sd_event_add_time(ev, &s->hup_timer, CLOCK_MONOTONIC, 0,
                              HUP_WATCH_DELAY_US / 4, on_hup_timer, s);
    if (r >= 0)
        r = sd_event_source_set_enabled(s->hup_timer, SD_EVENT_OFF);
    if (r >= 0)
        r = sd_event_add_defer(ev, &s->kick, on_kick, s);
    if (r >= 0)
        r = sd_event_source_set_enabled(s->kick, SD_EVENT_OFF);
    if (r < 0) {
        seterr(err, errlen, "cannot listen on %s: sd-event: %s", where, strerror(-r));
        goto fail;
    }
    sd_event_source_set_description(s->io, "http-server-io");
    sd_event_source_set_description(s->timer, "http-server-timer");
    sd_event_source_set_description(s->kick, "http-server-kick");
    sd_event_source_set_description(s->hup_timer, "http-server-hangups");
    rearm_timer(s);
    return s;

fail:
    http_server_free(s);
    return NULL;
}

uint16_t http_server_port(const struct http_server *s)
{
    return s ? s->port : 0;
}

uint64_t http_server_connections_accepted(const struct http_server *s)
{
    return s ? http_door_accepted(s->door) : 0;
}

unsigned http_server_connections_open(const struct http_server *s)
{
    return s ? s->open + http_door_waiting(s->door) : 0;
}

unsigned http_server_requests_pending(const struct http_server *s)
{
    unsigned n = 0;
    if (!s)
        return 0;
    for (const struct http_request *r = s->requests; r; r = r->next)
        if (r->handled && !r->responded && !r->abort_notified)
            n++;
    return n;
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    s->closing = true;
    http_door_free(s->door); /* no new connections from here on */
    s->door = NULL;
    s->io = sd_event_source_disable_unref(s->io);
    s->timer = sd_event_source_disable_unref(s->timer);
    s->hup_timer = sd_event_source_disable_unref(s->hup_timer);
    s->kick = sd_event_source_disable_unref(s->kick);
    if (s->mhd) {
        /* Tell the owners of unanswered requests; they may respond to
         * others or drop their references, nothing more. */
        for (struct http_request *r = s->requests; r; r = r->next)
            notify_abort(r);
        /* MHD_stop_daemon must not see suspended connections. */
        for (struct http_request *r = s->requests; r; r = r->next) {
            r->drop = true;
            request_resume(r);
        }
        MHD_stop_daemon(s->mhd); /* calls on_completed for every request */
        s->mhd = NULL;
    }
    while (s->requests)
        request_free(s->requests);
    sd_event_unref(s->ev);
    free(s->large_body_path);
    free(s);
}
