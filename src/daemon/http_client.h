/* http_client.h - raftd's HTTP client: the libcurl multi-socket API on sd-event.
 *
 * curl's sockets are sd-event IO sources (CURLMOPT_SOCKETFUNCTION) and its
 * timer is one sd-event CLOCK_MONOTONIC timer (CURLMOPT_TIMERFUNCTION).
 * Connections are kept alive in the multi handle's connection cache and
 * reused for later requests to the same host. No proxies (environment
 * variables are ignored), no "Expect: 100-continue", TCP_NODELAY, no
 * redirects; http and https (see http_client_set_tls).
 *
 * Callbacks are always called from the event loop, never from inside
 * http_client_request(). A callback may start new requests, free its own
 * state, or even call http_client_free().
 */
#ifndef RAFTD_HTTP_CLIENT_H
#define RAFTD_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

/* Responses larger than this fail with an error ("response larger than N
 * bytes"); a call may set a smaller limit (http_call.max_response). */
#define HTTP_CLIENT_MAX_RESPONSE ((size_t)64 << 20)

struct http_client;

struct http_client *http_client_new(sd_event *ev);
/* Cancels pending requests; their callbacks are called (before this
 * returns) with status 0 and err "cancelled". */
void http_client_free(struct http_client *c);

/* status is the HTTP status, or 0 with err set on a transport error/timeout
 * ("timed out after 500 ms", "connection refused", ...); err is NULL on
 * success. body is NUL-terminated (never NULL; "" when empty). body and err
 * are valid only during the call. */
typedef void (*http_client_cb)(void *arg, long status, const char *body, size_t len, const char *err);

/* Returns 0, or -1 if the request could not be started (cb not called).
 * method: "GET", "POST", "PUT", ...; content_type may be NULL; body (len
 * bytes) is copied and sent if body != NULL (POST with body NULL sends an
 * empty body). timeout_ms 0 means no timeout (not recommended). */
int http_client_request(struct http_client *c, const char *method, const char *url,
                        const char *content_type, const char *body, size_t len,
                        unsigned timeout_ms, http_client_cb cb, void *arg);

/* The same with one extra request header and one response header kept. */
struct http_call {
    const char *method, *url, *content_type;
    const char *body;
    size_t len;
    unsigned timeout_ms;
    const char *header;  /* an extra request header line, "Name: value", or NULL */
    const char *capture; /* the name of a response header to return, or NULL */
    size_t max_response; /* a larger body fails the call (too_big); 0 or
                            more than HTTP_CLIENT_MAX_RESPONSE: that */
    bool connect_only;   /* open a new connection (never a cached one),
                            then close it: no request is sent; status 0
                            and err NULL when it connected (a probe) */
};
struct http_reply {
    long status;         /* as for http_client_cb */
    const char *body;
    size_t len;
    const char *err;
    const char *captured; /* the value of call->capture, NULL if absent */
    bool too_big;        /* status 0: the body exceeded the call's limit */
    bool refused;        /* status 0: the server's machine refused the TCP
                            connection (ECONNREFUSED: nothing listens on
                            that port) */
};
typedef void (*http_reply_fn)(void *arg, const struct http_reply *r);
int http_client_call(struct http_client *c, const struct http_call *call, http_reply_fn cb, void *arg);

/* Put the requests started so far on the wire now instead of on the next
 * loop iteration (e.g. before a slow fdatasync). Runs no callback: any
 * transfer that ends meanwhile is reported from the loop as usual. */
void http_client_flush(struct http_client *c);

/* Send from this local IP address (a literal; NULL or "" for any). Peers
 * then see each node's own address, and firewall rules (the tests'
 * partitions) can tell nodes on one machine apart. -1 if too long. */
int http_client_set_source(struct http_client *c, const char *ip);

/* TLS for https:// URLs, for the requests started from now on (PEM
 * texts, copied; t NULL: the defaults again). ca_pem: the CAs that may
 * sign servers' certificates (NULL: the system's); cert_pem and key_pem:
 * a client certificate to present (NULL: none). Servers' certificates
 * must be valid for the URL's host. -1 if out of memory. */
struct http_client_tls {
    const char *ca_pem, *cert_pem, *key_pem;
};
int http_client_set_tls(struct http_client *c, const struct http_client_tls *t);

/* Requests started and not yet finished. */
unsigned http_client_pending(const struct http_client *c);

#endif
