/* http_client.c - libcurl multi-socket API driven by sd-event.
 *
 *   CURLMOPT_SOCKETFUNCTION  -> one sd-event IO source per curl socket
 *   CURLMOPT_TIMERFUNCTION   -> one one-shot CLOCK_MONOTONIC sd-event timer
 *
 * Only the sd-event callbacks (on_io, on_timer) call
 * curl_multi_socket_action(); curl's own callbacks (on_socket, on_curl_timer,
 * on_write) only touch sd-event sources and buffers, so socket_action is
 * never entered re-entrantly. A timeout of 0 from curl becomes a timer that
 * fires on the next loop iteration.
 *
 * https:// URLs: curl's TLS (OpenSSL), with the CA, client certificate and
 * key of http_client_set_tls() given as blobs; curl checks the server's
 * certificate and that it is valid for the URL's host. A transfer uses the
 * ones current when it started, and curl reuses a kept-alive connection
 * only for transfers with the same ones, so new ones take effect at once.
 *
 * Finished transfers are reaped in drain(); each one is unlinked and its
 * easy handle cleaned up before its callback runs, so a callback may start
 * requests, free its own state or free the client. c->busy counts the
 * dispatch frames on the stack; a client freed inside one is torn down when
 * the outermost frame unwinds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "http_client.h"
#include "lazy_timer.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

struct sockinfo {
    struct http_client *c;
    struct sockinfo *prev, *next;
    curl_socket_t fd;
    sd_event_source *src;
};

/* TLS material, shared by the transfers started while it was current. */
struct tls_blobs {
    unsigned refs;
    char *ca, *cert, *key; /* PEM; NULL: none */
};

struct xfer {
    struct http_client *c;
    struct xfer *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    char *req_body;
    char *buf; /* response body, NUL-terminated */
    size_t len, cap;
    bool too_big;
    size_t max_response;     /* the body's limit */
    unsigned timeout_ms;
    http_client_cb cb;       /* one of the two */
    http_reply_fn reply_cb;
    void *arg;
    char *capture;           /* response header to keep ("Name"), or NULL */
    size_t capture_len;
    char *captured;          /* its value */
    struct tls_blobs *tls;   /* held while the transfer runs */
    char errbuf[CURL_ERROR_SIZE];
};

struct http_client {
    sd_event *ev;
    CURLM *multi;
    sd_event_source *timer;
    sd_event_source *drain_later; /* defer: deliver completions after a flush */
    struct xfer *xfers;
    struct sockinfo *socks;
    unsigned n_xfers;
    unsigned busy;  /* dispatch frames on the stack */
    bool closing;   /* http_client_free() called */
    char source[80]; /* CURLOPT_INTERFACE ("host!<ip>"), "" for any */
    /* Finished easy handles, reset and kept for the next requests: a new
     * one costs a large calloc (and glibc's malloc_consolidate) each time. */
    CURL *idle[32];
    unsigned n_idle;
    struct tls_blobs *tls;  /* for new transfers (http_client_set_tls) */
};

static void blobs_unref(struct tls_blobs *b)
{
    if (!b || --b->refs)
        return;
    if (b->key)
        explicit_bzero(b->key, strlen(b->key));
    free(b->ca);
    free(b->cert);
    free(b->key);
    free(b);
}

/* ---- lists -------------------------------------------------------------- */

static void xfer_link(struct http_client *c, struct xfer *x)
{
    x->prev = NULL;
    x->next = c->xfers;
    if (c->xfers)
        c->xfers->prev = x;
    c->xfers = x;
    c->n_xfers++;
}

static void xfer_unlink(struct http_client *c, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        c->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    c->n_xfers--;
}

/* Release everything but the response buffer and the struct. The easy
 * handle (no longer in the multi handle) is kept for reuse if there is room. */
static void xfer_release(struct xfer *x)
{
    struct http_client *c = x->c;
    if (x->easy && c && !c->closing &&
        c->n_idle < sizeof(c->idle) / sizeof(c->idle[0])) {
        curl_easy_reset(x->easy);
        c->idle[c->n_idle++] = x->easy;
    } else if (x->easy) {
        curl_easy_cleanup(x->easy);
    }
    x->easy = NULL;
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    free(x->req_body);
    x->req_body = NULL;
    blobs_unref(x->tls);
    x->tls = NULL;
}

static void xfer_free(struct xfer *x)
{
    xfer_release(x);
    free(x->buf);
    free(x->capture);
    free(x->captured);
    free(x);
}

static void sockinfo_free(struct http_client *c, struct sockinfo *si)
{
    si->src = sd_event_source_disable_unref(si->src);
    if (si->prev)
        si->prev->next = si->next;
    else
        c->socks = si->next;
    if (si->next)
        si->next->prev = si->prev;
    free(si);
}

/* ---- curl callbacks (must not call socket_action) ----------------------- */

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata);

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct http_client *c = userp;
    struct sockinfo *si = socketp;
    (void)easy;

    if (what == CURL_POLL_REMOVE) {
        if (si)
            sockinfo_free(c, si);
        return 0;
    }
    uint32_t events = 0;
    if (what & CURL_POLL_IN)
        events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        events |= EPOLLOUT;
    if (si && !si->src) {
        /* closed before its REMOVE (on_close_socket), and now a new socket
         * with the same number: watch it afresh */
        if (sd_event_add_io(c->ev, &si->src, fd, events, on_io, si) < 0)
            return -1;
        sd_event_source_set_description(si->src, "http-client-io");
        si->fd = fd;
        return 0;
    }
    if (si) {
        if (sd_event_source_set_io_events(si->src, events) < 0)
            return -1;
        return 0;
    }
    si = calloc(1, sizeof *si);
    if (!si)
        return -1;
    si->c = c;
    si->fd = fd;
    if (sd_event_add_io(c->ev, &si->src, fd, events, on_io, si) < 0) {
        free(si);
        return -1;
    }
    sd_event_source_set_description(si->src, "http-client-io");
    si->next = c->socks;
    if (c->socks)
        c->socks->prev = si;
    c->socks = si;
    curl_multi_assign(c->multi, fd, si);
    return 0;
}

/* CURLOPT_CLOSESOCKETFUNCTION: stop watching a socket BEFORE it is
 * closed. libcurl means to say CURL_POLL_REMOVE first, but some of its
 * paths close first (curl issues 3597, 14976, 16026); sd-event's
 * EPOLL_CTL_DEL on a closed descriptor then fails, and if the number was
 * reused meanwhile it removes the new socket's watch instead. The sockinfo
 * stays (curl may still name it in a REMOVE); only its watch goes. */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    struct http_client *c = clientp;
    for (struct sockinfo *si = c->socks; si; si = si->next) {
        if (si->fd == fd && si->src) {
            si->src = sd_event_source_disable_unref(si->src);
        }
    }
    return close(fd);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct http_client *c = userp;
    (void)multi;
    if (!c->timer)
        return 0;
    if (timeout_ms < 0) {
        sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        return 0;
    }
    if (timeout_ms == 0 && c->drain_later) { /* "as soon as possible" */
        sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        return sd_event_source_set_enabled(c->drain_later, SD_EVENT_ONESHOT) < 0
                   ? -1 : 0;
    }
    uint64_t now = 0;
    if (sd_event_now(c->ev, CLOCK_MONOTONIC, &now) < 0)
        now = 0;
    /* by, not at (lazy_timer.h): each new request moves libcurl's timeout
     * later; an early CURL_SOCKET_TIMEOUT only makes it tell us again */
    lazy_timer_by(c->timer, now + (uint64_t)timeout_ms * 1000u);
    return 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb;
    if (n > x->max_response - x->len) {
        x->too_big = true;
        return 0; /* != n: CURLE_WRITE_ERROR */
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 1024;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *b = realloc(x->buf, cap);
        if (!b)
            return 0;
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, ptr, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

/* Keep the value of the response header x->capture (the last one wins). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb;
    if (n > x->capture_len + 1 && ptr[x->capture_len] == ':' &&
        strncasecmp(ptr, x->capture, x->capture_len) == 0) {
        const char *v = ptr + x->capture_len + 1, *end = ptr + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        free(x->captured);
        x->captured = strndup(v, (size_t)(end - v));
    }
    return n;
}

/* ---- completion --------------------------------------------------------- */

static void describe_error(struct xfer *x, CURLcode res, long os_errno,
                           char *out, size_t outlen)
{
    if (x->too_big || res == CURLE_FILESIZE_EXCEEDED) {
        snprintf(out, outlen, "response larger than %zu bytes", x->max_response);
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        snprintf(out, outlen, "timed out after %u ms", x->timeout_ms);
    } else if (os_errno == ECONNREFUSED) {
        snprintf(out, outlen, "connection refused");
    } else if (res == CURLE_COULDNT_CONNECT && os_errno) {
        snprintf(out, outlen, "cannot connect: %s", strerror((int)os_errno));
    } else if (x->errbuf[0]) {
        snprintf(out, outlen, "%s", x->errbuf);
    } else {
        snprintf(out, outlen, "%s", curl_easy_strerror(res));
    }
}

/* x is in the multi and in c->xfers. Removes it from both, calls its
 * callback and frees it. err != NULL: cancelled with that message. */
static void xfer_finish(struct http_client *c, struct xfer *x, CURLcode res, const char *err)
{
    char errmsg[CURL_ERROR_SIZE + 64];
    long status = 0, os_errno = 0;

    curl_multi_remove_handle(c->multi, x->easy);
    xfer_unlink(c, x);
    if (!err) {
        if (res == CURLE_OK) {
            curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        } else {
            curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno);
            describe_error(x, res, os_errno, errmsg, sizeof errmsg);
            err = errmsg;
        }
    }
    xfer_release(x);
    if (x->reply_cb) {
        struct http_reply r = {.status = err ? 0 : status,
                               .body = !err && x->buf ? x->buf : "",
                               .len = err ? 0 : x->len, .err = err,
                               .captured = err ? NULL : x->captured,
                               .too_big = err && (x->too_big ||
                                                  res == CURLE_FILESIZE_EXCEEDED),
                               .refused = err && res == CURLE_COULDNT_CONNECT &&
                                          os_errno == ECONNREFUSED};
        x->reply_cb(x->arg, &r);
    } else if (err) { /* a partial body is of no use to anyone */
        x->cb(x->arg, 0, "", 0, err);
    } else {
        x->cb(x->arg, status, x->buf ? x->buf : "", x->len, NULL);
    }
    xfer_free(x);
}

static void drain(struct http_client *c)
{
    CURLMsg *msg;
    int left;
    while (!c->closing && (msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode res = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        struct xfer *x = (struct xfer *)(void *)priv;
        if (x)
            xfer_finish(c, x, res, NULL);
    }
}

static void cancel_all(struct http_client *c)
{
    while (c->xfers)
        xfer_finish(c, c->xfers, CURLE_OK, "cancelled");
}

static void destroy(struct http_client *c)
{
    cancel_all(c); /* normally empty already */
    if (c->multi)
        curl_multi_cleanup(c->multi); /* may still call on_socket/on_curl_timer */
    c->multi = NULL;
    while (c->n_idle)
        curl_easy_cleanup(c->idle[--c->n_idle]);
    while (c->socks)
        sockinfo_free(c, c->socks);
    blobs_unref(c->tls);
    c->timer = sd_event_source_disable_unref(c->timer);
    c->drain_later = sd_event_source_disable_unref(c->drain_later);
    sd_event_unref(c->ev);
    free(c);
    curl_global_cleanup();
}

/* The only place curl_multi_socket_action() is called from. */
static void client_action(struct http_client *c, curl_socket_t fd, int action)
{
    int running = 0;
    c->busy++;
    if (!c->closing) {
        curl_multi_socket_action(c->multi, fd, action, &running);
        drain(c);
    }
    c->busy--;
    if (c->closing && c->busy == 0)
        destroy(c);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    struct sockinfo *si = userdata; /* may be freed by socket_action */
    struct http_client *c = si->c;
    int action = 0;
    (void)src;
    if (revents & (EPOLLIN | EPOLLHUP))
        action |= CURL_CSELECT_IN;
    if (revents & EPOLLOUT)
        action |= CURL_CSELECT_OUT;
    if (revents & EPOLLERR)
        action |= CURL_CSELECT_ERR;
    client_action(c, fd, action);
    return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
    (void)src, (void)usec;
    client_action(userdata, CURL_SOCKET_TIMEOUT, 0);
    return 0;
}

static int on_drain_later(sd_event_source *src, void *userdata)
{
    (void)src;
    client_action(userdata, CURL_SOCKET_TIMEOUT, 0);
    return 0;
}

/* ---- API ---------------------------------------------------------------- */

struct http_client *http_client_new(sd_event *ev)
{
    if (!ev)
        return NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    struct http_client *c = calloc(1, sizeof *c);
    if (!c) {
        curl_global_cleanup();
        return NULL;
    }
    c->ev = sd_event_ref(ev);
    c->multi = curl_multi_init();
    if (!c->multi)
        goto fail;
    if (sd_event_add_time(ev, &c->timer, CLOCK_MONOTONIC, 0, 1, on_timer, c) < 0)
        goto fail;
    sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
    sd_event_source_set_description(c->timer, "http-client-timer");
    if (sd_event_add_defer(ev, &c->drain_later, on_drain_later, c) < 0)
        goto fail;
    sd_event_source_set_enabled(c->drain_later, SD_EVENT_OFF);
    sd_event_source_set_description(c->drain_later, "http-client-drain");
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
fail:
    destroy(c);
    return NULL;
}

void http_client_free(struct http_client *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->busy++; /* callbacks below may call http_client_free again */
    cancel_all(c);
    c->busy--;
    if (c->busy == 0)
        destroy(c);
}

unsigned http_client_pending(const struct http_client *c)
{
    return c ? c->n_xfers : 0;
}

static int start(struct http_client *c, const struct http_call *call, http_client_cb cb, http_reply_fn reply_cb,
                 void *arg)
{
    const char *method = call->method, *url = call->url, *content_type = call->content_type;
    const char *body = call->body;
    size_t len = call->len;
    unsigned timeout_ms = call->timeout_ms;
    if (!c || c->closing || !url)
        return -1;
    if (!method || !*method)
        method = "GET";

    struct xfer *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    x->c = c;
    x->cb = cb;
    x->reply_cb = reply_cb;
    x->arg = arg;
    x->timeout_ms = timeout_ms;
    x->max_response = call->max_response && call->max_response < HTTP_CLIENT_MAX_RESPONSE
                          ? call->max_response
                          : HTTP_CLIENT_MAX_RESPONSE;
    x->easy = c->n_idle ? c->idle[--c->n_idle] : curl_easy_init();
    if (!x->easy)
        goto fail;

    CURL *e = x->easy;
    bool ok = true;
#define SET(opt, val) ok = ok && curl_easy_setopt(e, opt, val) == CURLE_OK
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PRIVATE, (void *)x);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)x);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    SET(CURLOPT_CLOSESOCKETDATA, (void *)c);
    if (c->source[0])
        SET(CURLOPT_INTERFACE, c->source);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_response);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (call->connect_only) {
        SET(CURLOPT_CONNECT_ONLY, 1L);
        SET(CURLOPT_FRESH_CONNECT, 1L);
        SET(CURLOPT_FORBID_REUSE, 1L);
    }
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if ((x->tls = c->tls)) {
        /* (curl keeps a copy with each connection it makes; NOCOPY: the
         * transfer holds the blobs until it ends) */
        struct tls_blobs *t = c->tls;
        t->refs++;
        if (t->ca) {
            struct curl_blob ca = {t->ca, strlen(t->ca), CURL_BLOB_NOCOPY};
            SET(CURLOPT_CAINFO_BLOB, &ca);
            SET(CURLOPT_CAPATH, (char *)NULL); /* these CAs only */
        }
        if (t->cert && t->key) {
            struct curl_blob cert = {t->cert, strlen(t->cert), CURL_BLOB_NOCOPY};
            struct curl_blob key = {t->key, strlen(t->key), CURL_BLOB_NOCOPY};
            SET(CURLOPT_SSLCERT_BLOB, &cert);
            SET(CURLOPT_SSLCERTTYPE, "PEM");
            SET(CURLOPT_SSLKEY_BLOB, &key);
            SET(CURLOPT_SSLKEYTYPE, "PEM");
        }
    }

    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (!h)
        goto fail;
    x->headers = h;
    bool sends_body = body != NULL || !strcmp(method, "POST");
    if (content_type || sends_body) {
        char *line;
        /* "Content-Type:" alone removes curl's form-urlencoded default */
        if (asprintf(&line, "Content-Type:%s%s", content_type ? " " : "", content_type ? content_type : "") < 0)
            goto fail;
        h = curl_slist_append(x->headers, line);
        free(line);
        if (!h)
            goto fail;
        x->headers = h;
    }
    if (call->header) {
        h = curl_slist_append(x->headers, call->header);
        if (!h)
            goto fail;
        x->headers = h;
    }
    SET(CURLOPT_HTTPHEADER, x->headers);
    if (call->capture) {
        x->capture = strdup(call->capture);
        if (!x->capture)
            goto fail;
        x->capture_len = strlen(x->capture);
        SET(CURLOPT_HEADERFUNCTION, on_header);
        SET(CURLOPT_HEADERDATA, (void *)x);
    }

    if (sends_body) {
        x->req_body = malloc(len + 1);
        if (!x->req_body)
            goto fail;
        if (len)
            memcpy(x->req_body, body, len);
        x->req_body[len] = '\0';
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        SET(CURLOPT_POSTFIELDS, x->req_body);
        if (strcmp(method, "POST"))
            SET(CURLOPT_CUSTOMREQUEST, method);
    } else if (!strcmp(method, "GET")) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (!strcmp(method, "HEAD")) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, method);
    }
#undef SET
    if (!ok)
        goto fail;
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
        goto fail;
    xfer_link(c, x);
    return 0;

fail:
    xfer_free(x);
    return -1;
}

int http_client_request(struct http_client *c, const char *method, const char *url,
                        const char *content_type, const char *body, size_t len,
                        unsigned timeout_ms, http_client_cb cb, void *arg)
{
    if (!cb)
        return -1;
    struct http_call call = {.method = method, .url = url, .content_type = content_type,
                             .body = body, .len = len, .timeout_ms = timeout_ms};
    return start(c, &call, cb, NULL, arg);
}

int http_client_call(struct http_client *c, const struct http_call *call, http_reply_fn cb, void *arg)
{
    if (!cb)
        return -1;
    return start(c, call, NULL, cb, arg);
}

void http_client_flush(struct http_client *c)
{
    int running = 0;
    if (c->closing || c->busy || !c->n_xfers)
        return;
    c->busy++;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    c->busy--;
    /* Transfers that ended meanwhile are reported from the loop. */
    sd_event_source_set_enabled(c->drain_later, SD_EVENT_ONESHOT);
}

int http_client_set_tls(struct http_client *c, const struct http_client_tls *t)
{
    struct tls_blobs *b = NULL;
    if (t) {
        b = calloc(1, sizeof(*b));
        if (!b)
            return -1;
        b->refs = 1;
        if ((t->ca_pem && !(b->ca = strdup(t->ca_pem))) ||
            (t->cert_pem && !(b->cert = strdup(t->cert_pem))) ||
            (t->key_pem && !(b->key = strdup(t->key_pem)))) {
            blobs_unref(b);
            return -1;
        }
    }
    blobs_unref(c->tls);
    c->tls = b;
    return 0;
}

int http_client_set_source(struct http_client *c, const char *ip)
{
    if (!ip || !*ip) {
        c->source[0] = 0;
        return 0;
    }
    int n = snprintf(c->source, sizeof(c->source), "host!%s", ip);
    if (n < 0 || (size_t)n >= sizeof(c->source)) {
        c->source[0] = 0;
        return -1;
    }
    return 0;
}
