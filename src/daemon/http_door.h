/* http_door.h - the door of raftd's HTTP server: it accepts connections and
 * holds each one until its request line has arrived, then hands it to
 * libmicrohttpd (http_server.c) or answers it itself.
 *
 * Why a door in front of libmicrohttpd:
 *  - Garbage (a TLS ClientHello, random bytes) on the port gets a 400 and a
 *    closed connection at once. libmicrohttpd closes some of it silently and
 *    waits for a line end that never comes on the rest, for its whole idle
 *    timeout.
 *  - Connections are counted by what they are for. The request line says
 *    whether a connection carries peer RPCs (a path under a prefix, /raft/)
 *    or client requests, so clients can be held to their share
 *    (max_connections) while peers keep a reserve of their own, and a client
 *    over its share gets a prompt 503 instead of waiting behind the limit.
 *  - A connection that has sent no request line yet is only waiting in the
 *    door, and when every connection allowed is taken the oldest of those is
 *    closed to make room: idle connections can never lock new ones out.
 *
 * The bytes of the request line are only peeked at (MSG_PEEK): an admitted
 * connection reaches libmicrohttpd with everything still unread. Only the
 * first request of a connection passes the door; later ones on a kept-alive
 * connection go to libmicrohttpd directly.
 *
 * Reserving by path is not authentication: anyone who can reach the port can
 * send a /raft/ request line. It keeps peers going against clients that are
 * merely numerous or idle, not against a deliberate attacker.
 *
 * TLS: the request line of a TLS connection is encrypted, so a door with
 * limits.tls hands a connection whose first byte starts a TLS handshake
 * record (0x16) to the owner at once, as HTTP_DOOR_UNSORTED: the owner
 * sorts it by its first request, after the handshake. A plain HTTP request
 * there gets 400 saying to use https://; a door without TLS answers a
 * handshake with 400 (which a TLS client cannot read, but a person trying
 * openssl s_client can).
 */
#ifndef RAFTD_HTTP_DOOR_H
#define RAFTD_HTTP_DOOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <systemd/sd-event.h>

struct http_door;

/* Whose a connection is, by its first request line. */
enum http_door_kind {
    HTTP_DOOR_CLIENT,
    HTTP_DOOR_PEER,
    HTTP_DOOR_UNSORTED, /* TLS: its request line is not readable yet */
};

/* What the owner does with connections. */
struct http_door_ops {
    /* Whether a connection whose request line arrived may come in (else
     * the door answers it with full_body's 503). */
    bool (*room_for)(void *arg, bool peer);
    /* Take it: fd is the owner's from now on. */
    void (*take)(void *arg, int fd, const struct sockaddr *sa, socklen_t salen,
                 enum http_door_kind kind);
    /* Connections open past the door (the owner's). */
    unsigned (*inside)(void *arg);
    /* Every connection allowed is taken and none waits in the door: close
     * the owner's oldest connection that has sent no request yet (an
     * unsorted TLS one), if any. May be NULL. */
    bool (*evict)(void *arg);
};

struct http_door_limits {
    unsigned total;          /* connections in the door plus inside */
    unsigned timeout_s;      /* for the request line to arrive */
    const char *peer_prefix; /* request targets starting with it are peers' */
    const char *full_body;   /* JSON body of the 503 (copied) */
    bool tls;                /* the owner speaks TLS only (see above) */
};

/* Accept on listen_fd (listening, non-blocking), which the door owns from
 * now on, also on failure. NULL on failure (errno set). */
struct http_door *http_door_new(sd_event *ev, int listen_fd, const struct http_door_limits *limits,
                                const struct http_door_ops *ops, void *arg);
/* Closes the listening socket and every connection still in the door. */
void http_door_free(struct http_door *d);

unsigned http_door_waiting(const struct http_door *d); /* connections in the door */
unsigned long long http_door_accepted(const struct http_door *d); /* since start */
unsigned long long http_door_refused(const struct http_door *d); /* 503: no room */

/* What a connection's first bytes are, judged as the start of an HTTP/1.x
 * request (leading empty lines allowed, as RFC 9112 says). */
enum http_door_verdict {
    HTTP_DOOR_WAIT,     /* a valid beginning: wait for more */
    HTTP_DOOR_REQUEST,  /* a complete request line; *peer says whose */
    HTTP_DOOR_GARBAGE,  /* not HTTP: 400 */
    HTTP_DOOR_TLS,      /* a TLS handshake record */
};
enum http_door_verdict http_door_judge(const char *buf, size_t n, const char *peer_prefix, bool *peer);

/* The loop's CLOCK_MONOTONIC time in microseconds (0 if unknown). */
uint64_t http_loop_now(sd_event *ev);

/* Longest request line the door waits for (then 414). */
#define HTTP_DOOR_LINE_MAX 8192u

#endif
