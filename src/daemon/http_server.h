/* http_server.h - raftd's HTTP server: libmicrohttpd driven by sd-event.
 *
 * libmicrohttpd runs without threads of its own (MHD_USE_EPOLL, external
 * polling): its epoll fd is an sd-event IO source and a one-shot sd-event
 * timer is re-armed from MHD_get_timeout() after every MHD_run(). Everything
 * here happens on the thread that runs the sd-event loop; nothing is locked.
 *
 * A request is handed to the handler once its whole body has arrived. The
 * handler answers with http_respond() right away, or returns without
 * answering: the connection is then suspended (MHD_suspend_connection) until
 * http_respond() is called later from the loop (long polls, requests that
 * wait for a Raft commit). While a request is suspended its socket is watched
 * for the client going away; http_request_on_abort() learns about that.
 *
 * Lifetime of a struct http_request, from the handler's point of view: it is
 * valid from the handler call until http_respond() returns, or until its
 * on_abort callback has been called. After either, do not touch it.
 *
 * Not allowed: calling http_server_free() from inside the handler or an
 * on_abort callback of the same server.
 */
#ifndef RAFTD_HTTP_SERVER_H
#define RAFTD_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

struct http_server;
struct http_request; /* one in-flight request; valid until http_respond() or close */

typedef void (*http_handler_fn)(struct http_request *req, void *arg);

/* Limits; zero fields mean the default.
 *
 * Connections pass a door first (http_door.h) that reads their request
 * line: those whose first request is for a path under peer_prefix are
 * peers', the others clients'. Clients may hold conn_limit connections;
 * peer_reserve more are kept for peers. A client connection over the
 * limit gets 503 (a JSON error naming conn_limit_setting) and is closed,
 * and when all conn_limit + peer_reserve are taken, the connection that has
 * waited longest without sending a request line is closed to make room. */
/* TLS: PEM texts (NUL-terminated, copied). */
struct http_server_tls {
    const char *cert_pem; /* the server's certificate, then its chain */
    const char *key_pem;  /* its private key */
    const char *ca_pem;   /* with it, clients are asked for a certificate,
                             which http_request_client_cert() checks against
                             these CAs; NULL: none is asked for */
};

struct http_server_limits {
    unsigned conn_limit;     /* client connections (default 1024) */
    unsigned peer_reserve;   /* connections only peers may use (default 0) */
    const char *peer_prefix; /* e.g. "/raft/"; NULL: no peers */
    const char *conn_limit_setting; /* what sets conn_limit, for messages
                                       (static string, may be NULL) */
    unsigned conn_timeout_s; /* idle/slow connection timeout in seconds
                                (default 60); suspended requests never time
                                out */
    const char *large_body_path; /* requests to this path (exactly) may */
    size_t large_max_body;       /*   carry up to large_max_body bytes */
    /* What sets each body limit, for the 413's message (e.g.
     * "max_request_bytes"); static strings, may be NULL. */
    const char *max_body_setting, *large_max_body_setting;
    /* Serve HTTPS only (NULL: plain HTTP). A TLS connection passes the
     * door at its first byte and is sorted (peer or client) by its first
     * request; a plain HTTP request gets 400 saying to use https://. */
    const struct http_server_tls *tls;
};
#define HTTP_SERVER_DEFAULT_CONN_LIMIT 1024u
#define HTTP_SERVER_DEFAULT_CONN_TIMEOUT_S 60u

/* Listen on host:port (host may be "0.0.0.0", "::", a name or an IP; NULL
 * or "" means all addresses; port 0 = ephemeral). Bodies over max_body bytes
 * get 413 with a JSON error body without calling the handler. On failure
 * returns NULL and writes a clear message to err, e.g.
 * "cannot listen on 127.0.0.1:7001: Address already in use". */
struct http_server *http_server_new(sd_event *ev, const char *host, uint16_t port, size_t max_body,
                                    http_handler_fn handler, void *arg, char *err, size_t errlen);
/* The same with explicit limits (limits may be NULL). */
struct http_server *http_server_new_ex(sd_event *ev, const char *host, uint16_t port, size_t max_body,
                                       const struct http_server_limits *limits,
                                       http_handler_fn handler, void *arg, char *err, size_t errlen);
uint16_t http_server_port(const struct http_server *s); /* actual bound port */
/* Closes everything. Requests the handler has seen but not answered are
 * dropped: their on_abort callbacks are called first. */
void http_server_free(struct http_server *s);

/* A TLS server's new certificate, key and CA, for the connections
 * accepted from now on (open ones keep theirs). Returns 0, or -1 with err
 * (the old ones stay). */
int http_server_set_tls(struct http_server *s, const struct http_server_tls *tls, char *err,
                        size_t errlen);

/* Send the answers given so far now rather than on the next loop turn
 * (saves a wake-up per answer at low load). Not from inside this server's
 * own callbacks (its handler, on_abort). */
void http_server_flush(struct http_server *s);

/* Counters, for /status and tests. */
uint64_t http_server_connections_accepted(const struct http_server *s); /* since start */
unsigned http_server_connections_open(const struct http_server *s); /* door included */
unsigned http_server_requests_pending(const struct http_server *s); /* handled, not yet answered */
/* Of the open connections past the door: peers' and clients' (the rest,
 * TLS ones before their first request, are neither yet). */
unsigned http_server_peer_connections_open(const struct http_server *s);
unsigned http_server_client_connections_open(const struct http_server *s);
/* Connections refused with 503 because every one allowed was taken. */
uint64_t http_server_connections_refused(const struct http_server *s);

/* Memory per connection (request line and headers must fit in half). */
#define HTTP_SERVER_CONN_MEMORY (16u * 1024)

const char *http_request_method(const struct http_request *r);
const char *http_request_path(const struct http_request *r); /* without query string, %-decoded */
/* Decoded value, NULL if absent; "" for ?key */
const char *http_request_query(const struct http_request *r, const char *key);
const char *http_request_header(const struct http_request *r, const char *name); /* case-insensitive */
/* Full body, NUL-terminated copy ("" if none); *len (if len != NULL) gets its length. */
const char *http_request_body(const struct http_request *r, size_t *len);
/* "ip:port" of the client ("[ip]:port" for IPv6). */
const char *http_request_peer(const struct http_request *r);

/* The client certificate of r's connection (checked once per connection,
 * with the CA the connection was accepted with): 1 if it presented one
 * that the CA signed, valid now and for TLS clients; 0 if not, with why
 * ("the connection presented no client certificate", "its client
 * certificate \"CN=x\" is not accepted: The certificate is NOT trusted.
 * ..."); -1 (why set) if the server asks for none (no TLS, or no CA). */
int http_request_client_cert(struct http_request *r, char *why, size_t whylen);

/* Add a response header; call before http_respond(). */
void http_response_header(struct http_request *r, const char *name, const char *value);
/* Send the response (body copied; content_type may be NULL). May be called
 * inside the handler or any time later from the loop; if the handler returns
 * without responding, the connection is suspended until http_respond is
 * called. r is gone when this returns. */
void http_respond(struct http_request *r, unsigned status, const char *content_type, const char *body,
                  size_t len);
/* Called if the client goes away before a response was sent (for long
 * polls), or the server is freed; after it fires, r is gone. */
void http_request_on_abort(struct http_request *r, void (*fn)(struct http_request *r, void *arg),
                           void *arg);
/* Once a request's headers are in, before its body is read, call fn: it
 * returns 0 to go on, or an HTTP status to refuse the request at once with
 * the message it wrote to msg (JSON error body); the body is then not
 * kept, and the connection is closed after the answer. For checks that
 * should not wait for a large body (peer authentication). */
typedef unsigned (*http_early_fn)(struct http_request *r, void *arg, char *msg, size_t msglen);
void http_server_set_early_check(struct http_server *s, http_early_fn fn, void *arg);
/* Call fn(arg) whenever a connection that came in through the peer door
 * closes (a peer process that dies closes all of its connections at once:
 * node_probe.c). fn is called from inside the server's processing: it may
 * start HTTP client requests but must not free the server. */
void http_server_on_peer_closed(struct http_server *s, void (*fn)(void *arg), void *arg);

/* Call fn(r, status, body, len, arg) at the start of every http_respond()
 * of r, so that it can add headers that depend on the answer (peer
 * requests' signatures, peer_auth.h). */
typedef void (*http_respond_hook_fn)(struct http_request *r, unsigned status, const char *body, size_t len,
                                     void *arg);
void http_request_on_respond(struct http_request *r, http_respond_hook_fn fn, void *arg);
/* size zeroed bytes that live as long as r (allocated at the first call;
 * later calls return the same block). NULL if out of memory. */
void *http_request_context(struct http_request *r, size_t size);
/* The wall clock (CLOCK_REALTIME, ms) when r's headers had arrived: a
 * large body may take long to arrive after that. */
uint64_t http_request_started_ms(const struct http_request *r);
/* CLOCK_MONOTONIC (usec) at the same moment: for measuring durations. */
uint64_t http_request_started_us(const struct http_request *r);

/* convenience: a JSON error body {"error": msg} with the status */
void http_respond_error(struct http_request *r, unsigned status, const char *msg);

#endif
