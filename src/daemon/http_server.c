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
 *
 * TLS (limits->tls): MHD speaks it (GnuTLS). Every connection gets the
 * credentials (certificate, key, CA) current when it was accepted: its
 * session's are replaced in MHD_CONNECTION_NOTIFY_STARTED, before the
 * handshake, so http_server_set_tls() can swap them for new connections
 * while old ones keep theirs (a generation lives until its last connection
 * is cleaned up). With a CA, connections are asked for a client
 * certificate (GNUTLS_CERT_REQUEST: one without is still served), checked
 * once per connection by http_request_client_cert(). A TLS connection
 * passes the door unsorted (its request line is encrypted): it is sorted
 * by its first request here, and a client one over conn_limit gets the
 * 503 then; unsorted connections are the ones the door evicts to make
 * room.
 *
 * TLS handshakes: libmicrohttpd 0.9.75 in epoll mode keeps a connection
 * whose handshake waits for the client's next message "ready" (GnuTLS
 * reads the socket itself, so MHD never sees the EAGAIN that would take
 * it off its ready list), and MHD_get_timeout() says 0 for as long: one
 * half-sent ClientHello made the loop spin at full speed and starve
 * everything else. So a TLS connection's socket I/O goes through our own
 * GnuTLS transport functions, which note whether a run of MHD moved any
 * byte and which handshakes found nothing to read. A run that moved
 * nothing yet still has a 0 timeout is not repeated at once: those
 * handshakes' sockets are watched (one-shot sd-event sources) and MHD runs
 * again when one becomes readable, or after TLS_IDLE_RUN_MS for its
 * timeouts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "http_server.h"
#include "hex.h"
#include "http_door.h"
#include "lazy_timer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
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
/* How often MHD runs while its only ready connections are TLS handshakes
 * waiting for input (see the top). */
#define TLS_IDLE_RUN_MS 1000u

struct resp_header { /* one allocation: name and value follow it */
    struct resp_header *next;
    char *name, *value;
    char text[];
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
    uint64_t started_us;   /* CLOCK_MONOTONIC then (request durations) */
};

/* One certificate, key and CA (see the top). */
struct tls_gen {
    gnutls_certificate_credentials_t cred;
    bool ask;              /* ask clients for a certificate (a CA is set) */
    unsigned refs;         /* connections using it, +1 while current */
    struct tls_gen *next;  /* on the server's retired list */
};

struct conn_ctx;

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
    void (*peer_closed)(void *arg); /* http_server_on_peer_closed() */
    void *peer_closed_arg;
    struct http_request *requests;
    bool closing;
    struct http_door *door;
    unsigned conn_limit;  /* client connections */
    unsigned open;        /* connections inside (past the door) */
    unsigned open_peers;  /*   of which peers' */
    unsigned open_unsorted; /*   of which unsorted (TLS, no request yet) */
    unsigned long long refused_sorted; /* clients over the limit once sorted */
    struct conn_ctx *unsorted_head, *unsorted_tail; /* oldest first */
    enum http_door_kind taking; /* the connection being added */
    int taking_fd;
    char *peer_prefix;
    char *full_msg;       /* the 503's message */
    struct tls_gen *tls;  /* current credentials; NULL: plain HTTP */
    struct tls_gen *retired; /* older ones still in use */
    struct conn_ctx *closed; /* closed connections' contexts, freed after the MHD call */
    char *mhd_cert, *mhd_key; /* the first ones, as MHD was started with */
    bool moved;           /* this MHD run moved bytes or did work */
    struct conn_ctx *starving; /* handshakes that found nothing to read */
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

static bool tls_handshakes_wait(struct http_server *s, bool spinning);

static void rearm_timer(struct http_server *s)
{
    MHD_UNSIGNED_LONG_LONG to;
    if (!s->timer)
        return;
    bool due = MHD_get_timeout(s->mhd, &to) == MHD_YES;
    if (tls_handshakes_wait(s, due && to == 0))
        to = TLS_IDLE_RUN_MS; /* not at once: see the top */
    if (due && to == 0 && s->kick) {
        /* data already buffered: MHD wants to run again at once */
        sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
        sd_event_source_set_enabled(s->kick, SD_EVENT_ONESHOT);
    } else if (due) {
        if (to > UINT64_C(86400000))
            to = UINT64_C(86400000);
        /* by, not at (lazy_timer.h): the oldest idle connection's
         * timeout moves with every request; MHD_run() early is harmless */
        lazy_timer_by(s->timer, server_now(s) + (uint64_t)to * 1000u);
    } else {
        sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
    }
}

static void tls_reap(struct http_server *s, bool all);
static void closed_reap(struct http_server *s);

static void server_run(struct http_server *s)
{
    s->moved = false;
    MHD_run(s->mhd);
    closed_reap(s);
    if (s->retired) /* MHD has cleaned up the connections it closed */
        tls_reap(s, false);
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

/* An error answer; closing: with Retry-After, then close the connection
 * (the 503 of a client connection over the limit). */
static enum MHD_Result queue_error_ex(struct http_request *r, unsigned status, const char *msg,
                                      bool closing)
{
    size_t len = 0;
    char *body = json_error(msg, &len);
    if (!body)
        return MHD_NO;
    struct MHD_Response *resp = make_response("application/json", body, len);
    free(body);
    if (!resp)
        return MHD_NO;
    if (closing) {
        MHD_add_response_header(resp, "Retry-After", "1");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->queued = true;
    return ret;
}

static enum MHD_Result queue_error(struct http_request *r, unsigned status, const char *msg)
{
    return queue_error_ex(r, status, msg, false);
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
    bool unsorted; /* TLS, no request yet: on the server's unsorted list */
    struct conn_ctx *prev, *next;
    int fd;
    struct tls_gen *gen; /* its credentials (TLS) */
    int cert;            /* client certificate: 0 unchecked, 1 good, -1 not */
    char *cert_why;      /* why not */
    struct http_server *srv;
    gnutls_session_t session; /* (TLS) */
    bool starving;       /* on srv->starving */
    struct conn_ctx *next_starving;
    sd_event_source *readable; /* watches a starving handshake's socket */
    struct conn_ctx *next_closed; /* on srv->closed (closed_park) */
};

static struct conn_ctx *conn_ctx_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* ---- unsorted connections (TLS, no request yet) ------------------------- */

static void unsorted_add(struct http_server *s, struct conn_ctx *cc)
{
    cc->unsorted = true;
    cc->prev = s->unsorted_tail;
    cc->next = NULL;
    if (s->unsorted_tail)
        s->unsorted_tail->next = cc;
    else
        s->unsorted_head = cc;
    s->unsorted_tail = cc;
    s->open_unsorted++;
}

static void unsorted_remove(struct http_server *s, struct conn_ctx *cc)
{
    if (!cc->unsorted)
        return;
    cc->unsorted = false;
    if (cc->prev)
        cc->prev->next = cc->next;
    else
        s->unsorted_head = cc->next;
    if (cc->next)
        cc->next->prev = cc->prev;
    else
        s->unsorted_tail = cc->prev;
    cc->prev = cc->next = NULL;
    s->open_unsorted--;
}

static unsigned clients_open(const struct http_server *s)
{
    return s->open - s->open_peers - s->open_unsorted;
}

/* The first request of an unsorted connection says whose it is; false if
 * it is a client's over the limit. */
static bool sort_connection(struct http_server *s, struct conn_ctx *cc, const char *path)
{
    size_t pl = s->peer_prefix ? strlen(s->peer_prefix) : 0;
    unsorted_remove(s, cc);
    cc->peer = pl && strncmp(path, s->peer_prefix, pl) == 0;
    s->open_peers += cc->peer;
    return cc->peer || clients_open(s) <= s->conn_limit;
}

/* ---- TLS credentials ------------------------------------------------------ */

static struct tls_gen *tls_gen_new(const struct http_server_tls *t, char *err, size_t errlen)
{
    struct tls_gen *g = calloc(1, sizeof *g);
    const char *what = "the certificate and key";
    int rv = g ? gnutls_certificate_allocate_credentials(&g->cred) : GNUTLS_E_MEMORY_ERROR;
    if (rv >= 0) {
        gnutls_datum_t cert = {(unsigned char *)(uintptr_t)t->cert_pem, (unsigned)strlen(t->cert_pem)};
        gnutls_datum_t key = {(unsigned char *)(uintptr_t)t->key_pem, (unsigned)strlen(t->key_pem)};
        rv = gnutls_certificate_set_x509_key_mem2(g->cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    }
    if (rv >= 0 && t->ca_pem) {
        gnutls_datum_t ca = {(unsigned char *)(uintptr_t)t->ca_pem, (unsigned)strlen(t->ca_pem)};
        what = "the CA";
        rv = gnutls_certificate_set_x509_trust_mem(g->cred, &ca, GNUTLS_X509_FMT_PEM);
        if (rv == 0)
            rv = GNUTLS_E_NO_CERTIFICATE_FOUND;
        g->ask = true;
    }
    if (rv < 0) {
        seterr(err, errlen, "TLS: %s: %s", what, gnutls_strerror(rv));
        if (g && g->cred)
            gnutls_certificate_free_credentials(g->cred);
        free(g);
        return NULL;
    }
    g->refs = 1;
    return g;
}

/* Free the retired credentials no connection uses any more (all: every
 * one, the server is gone). */
static void tls_reap(struct http_server *s, bool all)
{
    for (struct tls_gen **p = &s->retired; *p;) {
        struct tls_gen *g = *p;
        if (g->refs && !all) {
            p = &g->next;
            continue;
        }
        *p = g->next;
        gnutls_certificate_free_credentials(g->cred);
        free(g);
    }
}

/* ---- TLS socket I/O (see "TLS handshakes" at the top) ------------------- */

static void starving_remove(struct http_server *s, struct conn_ctx *cc)
{
    for (struct conn_ctx **p = &s->starving; *p; p = &(*p)->next_starving)
        if (*p == cc) {
            *p = cc->next_starving;
            break;
        }
    cc->starving = false;
    cc->next_starving = NULL;
}

/* A closed connection's context. libmicrohttpd 0.9.75 frees a TLS session
 * (gnutls_deinit) BEFORE it tells us the connection closed
 * (MHD_cleanup_connections), other versions and paths after it, within the
 * same call: so nothing here touches the session once the connection is
 * closed (writing to the freed session crashed a follower under TLS load),
 * and the context stays allocated, with no socket (fd -1: the transport
 * functions then fail with EBADF), until the MHD call returns. */
static void closed_park(struct http_server *s, struct conn_ctx *cc)
{
    cc->fd = -1;
    cc->session = NULL;
    cc->next_closed = s->closed;
    s->closed = cc;
}

static void closed_reap(struct http_server *s)
{
    while (s->closed) {
        struct conn_ctx *cc = s->closed;
        s->closed = cc->next_closed;
        free(cc);
    }
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
    struct conn_ctx *cc = ptr;
    ssize_t r;
    if (cc->fd < 0) {
        errno = EBADF;
        return -1;
    }
    do
        r = recv(cc->fd, buf, len, 0);
    while (r < 0 && errno == EINTR);
    if (r >= 0) {
        cc->srv->moved = true;
    } else if ((errno == EAGAIN || errno == EWOULDBLOCK) && !cc->starving &&
               gnutls_handshake_get_last_in(cc->session) != GNUTLS_HANDSHAKE_FINISHED) {
        cc->starving = true;
        cc->next_starving = cc->srv->starving;
        cc->srv->starving = cc;
        errno = EAGAIN;
    }
    return r;
}

static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
    struct conn_ctx *cc = ptr;
    struct pollfd p = {.fd = cc->fd, .events = POLLIN};
    if (cc->fd < 0) {
        errno = EBADF;
        return -1;
    }
    /* (as GnuTLS's own: MHD's non-blocking sessions do not call it) */
    return poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int n)
{
    struct conn_ctx *cc = ptr;
    struct msghdr msg = {.msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = (size_t)n};
    ssize_t r;
    if (cc->fd < 0) {
        errno = EBADF;
        return -1;
    }
    do
        r = sendmsg(cc->fd, &msg, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r >= 0)
        cc->srv->moved = true;
    return r;
}

static int on_tls_readable(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    struct conn_ctx *cc = userdata;
    (void)src, (void)fd, (void)revents;
    server_kick(cc->srv); /* (the source is one-shot) */
    return 0;
}

/* After a run of MHD, spinning: it wants to run again at once. If that
 * run moved nothing and no kick was asked for, handshakes waiting for
 * input are the reason: watch their sockets instead and say so. */
static bool tls_handshakes_wait(struct http_server *s, bool spinning)
{
    int on = 0;
    bool wait = spinning && s->tls && !s->moved && s->starving && s->kick &&
                sd_event_source_get_enabled(s->kick, &on) >= 0 && !on;
    while (s->starving) {
        struct conn_ctx *cc = s->starving;
        starving_remove(s, cc);
        if (!wait)
            continue;
        if (!cc->readable &&
            sd_event_add_io(s->ev, &cc->readable, cc->fd, EPOLLIN | EPOLLRDHUP, on_tls_readable, cc) < 0) {
            cc->readable = NULL;
            wait = false; /* (cannot watch it: keep MHD running) */
            continue;
        }
        sd_event_source_set_enabled(cc->readable, SD_EVENT_ONESHOT);
    }
    return wait;
}

/* A new connection gets the current credentials (before its handshake). */
static void tls_attach(struct http_server *s, struct MHD_Connection *conn, struct conn_ctx *cc)
{
    const union MHD_ConnectionInfo *ci =
        s->tls ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION) : NULL;
    gnutls_session_t session = ci ? (gnutls_session_t)ci->tls_session : NULL;
    if (!session || gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, s->tls->cred) < 0)
        return; /* (it keeps the ones MHD started with, and is asked for no certificate) */
    cc->gen = s->tls;
    s->tls->refs++;
    if (cc->gen->ask)
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
    cc->session = session;
    gnutls_transport_set_ptr2(session, cc, cc);
    gnutls_transport_set_pull_function(session, tls_pull);
    gnutls_transport_set_pull_timeout_function(session, tls_pull_timeout);
    gnutls_transport_set_vec_push_function(session, tls_push);
}

/* Check the connection's client certificate (once: cc->cert). */
static void check_client_cert(struct MHD_Connection *conn, struct conn_ctx *cc)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t session = ci ? (gnutls_session_t)ci->tls_session : NULL;
    unsigned n = 0, status = 0;
    const gnutls_datum_t *certs = session ? gnutls_certificate_get_peers(session, &n) : NULL;
    cc->cert = -1;
    if (!certs || !n) {
        cc->cert_why = strdup("the connection presented no client certificate");
        return;
    }
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                     (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT, 0};
    int rv = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
    if (rv >= 0 && status == 0) {
        cc->cert = 1;
        return;
    }
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t dn = {NULL, 0}, text = {NULL, 0};
    if (gnutls_x509_crt_init(&crt) >= 0 && gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0)
        gnutls_x509_crt_get_dn3(crt, &dn, 0);
    if (rv >= 0 && gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) >= 0)
        for (size_t l = strlen((char *)text.data); l && text.data[l - 1] == ' ';)
            text.data[--l] = 0; /* (it ends in a space) */
    if (asprintf(&cc->cert_why, "its client certificate \"%s\" is not accepted: %s",
                 dn.data ? (const char *)dn.data : "?",
                 rv < 0 ? gnutls_strerror(rv) : text.data ? (const char *)text.data : "not trusted") < 0)
        cc->cert_why = NULL;
    gnutls_free(dn.data);
    gnutls_free(text.data);
    if (crt)
        gnutls_x509_crt_deinit(crt);
}

/* MHD_OPTION_UNESCAPE_CALLBACK: %-decode the path and query arguments in
 * place, as MHD would, but note escapes we refuse instead of decoding them
 * (the request then gets 400 in on_access). */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    struct conn_ctx *cc = conn_ctx_of(conn);
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
        clock_gettime(CLOCK_MONOTONIC, &now);
        r->started_us = (uint64_t)now.tv_sec * 1000000u +
                        (uint64_t)now.tv_nsec / 1000u;
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

        struct conn_ctx *cc = conn_ctx_of(conn);
        s->moved = true;
        if (cc && cc->readable) /* its handshake is over */
            cc->readable = sd_event_source_disable_unref(cc->readable);
        if (cc && cc->unsorted && !sort_connection(s, cc, r->path)) {
            s->refused_sorted++;
            return queue_error_ex(r, 503, s->full_msg, true);
        }
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
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        /* (called from MHD_add_connection in door_take) */
        struct conn_ctx *cc = calloc(1, sizeof *cc);
        s->open++;
        s->moved = true;
        if (cc) {
            cc->srv = s;
            cc->fd = s->taking_fd;
            cc->peer = s->taking == HTTP_DOOR_PEER;
            s->open_peers += cc->peer;
            if (s->taking == HTTP_DOOR_UNSORTED)
                unsorted_add(s, cc);
            tls_attach(s, conn, cc);
        }
        *socket_context = cc;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn_ctx *cc = *socket_context;
        if (s->open > 0)
            s->open--;
        s->moved = true;
        if (cc) {
            if (cc->peer && s->open_peers > 0)
                s->open_peers--;
            if (cc->peer && s->peer_closed)
                s->peer_closed(s->peer_closed_arg);
            unsorted_remove(s, cc);
            starving_remove(s, cc);
            sd_event_source_disable_unref(cc->readable);
            cc->readable = NULL;
            if (cc->gen && cc->gen->refs > 0) /* freed after MHD_run (tls_reap) */
                cc->gen->refs--;
            free(cc->cert_why);
            cc->cert_why = NULL;
            closed_park(s, cc);
        }
        *socket_context = NULL;
    }
}

/* ---- the door's side (http_door.h) -------------------------------------- */

static bool door_room_for(void *arg, bool peer)
{
    const struct http_server *s = arg;
    /* peers may use any connection allowed: the door counted it already */
    return peer || clients_open(s) < s->conn_limit;
}

static void door_take(void *arg, int fd, const struct sockaddr *sa, socklen_t salen,
                      enum http_door_kind kind)
{
    struct http_server *s = arg;
    s->taking = kind;
    s->taking_fd = fd;
    MHD_add_connection(s->mhd, fd, sa, salen); /* (closes fd on failure) */
    s->taking = HTTP_DOOR_CLIENT;
    s->taking_fd = -1;
    server_kick(s);
}

/* Close the oldest unsorted connection: MHD sees it end on its next run. */
static bool door_evict(void *arg)
{
    struct http_server *s = arg;
    struct conn_ctx *cc = s->unsorted_head;
    if (!cc)
        return false;
    unsorted_remove(s, cc); /* (a client's until MHD has closed it) */
    shutdown(cc->fd, SHUT_RDWR);
    server_kick(s);
    return true;
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
    size_t nl = strlen(name) + 1, vl = strlen(value) + 1;
    struct resp_header *h = malloc(sizeof *h + nl + vl);
    if (!h)
        return;
    h->next = NULL;
    h->name = memcpy(h->text, name, nl);
    h->value = memcpy(h->text + nl, value, vl);
    /* keep them in call order */
    struct resp_header **tail = &r->headers;
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
}

void http_server_on_peer_closed(struct http_server *s, void (*fn)(void *arg), void *arg)
{
    s->peer_closed = fn;
    s->peer_closed_arg = arg;
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

uint64_t http_request_started_us(const struct http_request *r)
{
    return r->started_us;
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
    s->full_msg = strdup(msg);
    struct http_door_limits dl = {
        .total = total,
        .timeout_s = timeout_s,
        .peer_prefix = limits ? limits->peer_prefix : NULL,
        .full_body = body,
        .tls = s->tls != NULL,
    };
    static const struct http_door_ops ops = {door_room_for, door_take, door_inside, door_evict};
    s->door = body && s->full_msg ? http_door_new(s->ev, fd, &dl, &ops, s) : NULL;
    if (!body || !s->full_msg) {
        close(fd);
        errno = ENOMEM;
    }
    free(body);
    return s->door ? 0 : -1;
}

/* The first credentials, and what MHD is started with. */
static int start_tls(struct http_server *s, const struct http_server_tls *tls, const char *where,
                     char *err, size_t errlen)
{
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        seterr(err, errlen, "cannot serve HTTPS on %s: this libmicrohttpd was built without "
               "TLS (install Debian's libmicrohttpd12)", where);
        return -1;
    }
    char why[300];
    s->tls = tls->cert_pem && tls->key_pem ? tls_gen_new(tls, why, sizeof why) : NULL;
    if (!s->tls) {
        seterr(err, errlen, "cannot serve HTTPS on %s: %s", where,
               tls->cert_pem && tls->key_pem ? why : "no certificate and key");
        return -1;
    }
    s->mhd_cert = strdup(tls->cert_pem);
    s->mhd_key = strdup(tls->key_pem);
    if (!s->mhd_cert || !s->mhd_key) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    return 0;
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
    s->taking_fd = -1;
    if (limits && limits->peer_prefix && !(s->peer_prefix = strdup(limits->peer_prefix))) {
        close(fd);
        seterr(err, errlen, "out of memory");
        goto fail;
    }

    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
        if (ss.ss_family == AF_INET)
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    format_hostport(where, sizeof where, host, s->port ? s->port : port);
    if (limits && limits->tls && start_tls(s, limits->tls, where, err, errlen) < 0) {
        close(fd);
        goto fail;
    }

    /* The door (http_door.h) accepts and hands connections over, keeping
     * to the limits; MHD's own limit is only a backstop (it counts closed
     * connections until its cleanup runs). */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_NO_LISTEN_SOCKET;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem tls_options[] = {
        {s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->mhd_cert},
        {s->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->mhd_key},
        {MHD_OPTION_END, 0, NULL},
    };
    if (s->tls)
        flags |= MHD_USE_TLS;
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s,
                              MHD_OPTION_ARRAY, tls_options,
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

unsigned http_server_peer_connections_open(const struct http_server *s)
{
    return s ? s->open_peers : 0;
}

unsigned http_server_client_connections_open(const struct http_server *s)
{
    return s ? clients_open(s) : 0;
}

uint64_t http_server_connections_refused(const struct http_server *s)
{
    return s ? http_door_refused(s->door) + s->refused_sorted : 0;
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
    closed_reap(s);
    while (s->requests)
        request_free(s->requests);
    if (s->tls) {
        s->tls->next = s->retired;
        s->retired = s->tls;
        s->tls = NULL;
    }
    tls_reap(s, true);
    if (s->mhd_key)
        explicit_bzero(s->mhd_key, strlen(s->mhd_key));
    free(s->mhd_key);
    free(s->mhd_cert);
    free(s->peer_prefix);
    free(s->full_msg);
    sd_event_unref(s->ev);
    free(s->large_body_path);
    free(s);
}

int http_server_set_tls(struct http_server *s, const struct http_server_tls *tls, char *err, size_t errlen)
{
    if (!s->tls) {
        seterr(err, errlen, "this server does not serve TLS");
        return -1;
    }
    struct tls_gen *g = tls->cert_pem && tls->key_pem ? tls_gen_new(tls, err, errlen) : NULL;
    if (!g) {
        if (!tls->cert_pem || !tls->key_pem)
            seterr(err, errlen, "TLS: no certificate and key");
        return -1;
    }
    s->tls->refs--;
    s->tls->next = s->retired;
    s->retired = s->tls;
    s->tls = g;
    tls_reap(s, false);
    return 0;
}

int http_request_client_cert(struct http_request *r, char *why, size_t whylen)
{
    struct conn_ctx *cc = conn_ctx_of(r->conn);
    if (!cc || !cc->gen || !cc->gen->ask) {
        seterr(why, whylen, "this server does not ask for client certificates");
        return -1;
    }
    if (!cc->cert)
        check_client_cert(r->conn, cc);
    if (cc->cert < 0)
        seterr(why, whylen, "%s", cc->cert_why ? cc->cert_why : "its client certificate is not accepted");
    return cc->cert > 0;
}
