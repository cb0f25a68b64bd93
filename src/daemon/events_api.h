/* events_api.h - GET /events: this node's recent Raft events (events.h),
 * fed by a logging observer (logging.h), read with a cursor and a long
 * poll.
 *
 *   GET /events?after=SEQ&instance=HEX&wait=SECONDS&limit=N
 *
 * answers {"node_id", "instance", "first", "last", "next", "lost",
 * "reset", "events": [{"seq", "time_us", "node_id", "event", "term",
 * "state", "leader", "peer", "index", "message"}]}: the events after the
 * cursor SEQ (default 0: all kept), oldest first, at most limit (default
 * and maximum 1024; "next" is then the cursor for the rest). "lost" is
 * true when events after the cursor had already been dropped from the
 * ring. "instance" is random per start: a cursor from another instance
 * (instance=HEX differs, or SEQ is beyond the newest event) is read as 0,
 * and "reset" says so. With wait=SECONDS (1..60) and nothing after the
 * cursor, the answer is held until an event arrives or the time is up
 * (then with no events). Bad parameters get 400. */
#ifndef RAFTD_EVENTS_API_H
#define RAFTD_EVENTS_API_H

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "events.h"
#include "http_server.h"

#define EVENTS_API_MAX_WAIT_S 60u
#define EVENTS_API_MAX_LIMIT 1024u
/* How many events are kept: $RAFTD_EVENTS_KEPT (raftd(8), ENVIRONMENT),
 * else EVENTS_DEFAULT_CAPACITY. */
#define EVENTS_API_KEPT_ENV "RAFTD_EVENTS_KEPT"
#define EVENTS_API_KEPT_MIN 16u
#define EVENTS_API_KEPT_MAX 1048576u

struct events_api;

/* Start recording this node's events (a logging observer) into a ring of
 * capacity (0: $RAFTD_EVENTS_KEPT or the default). NULL when out of memory or when the logging
 * observers are all taken. */
struct events_api *events_api_new(sd_event *ev, uint64_t node_id,
                                  size_t capacity);
/* Stop recording. Free the HTTP server first: it aborts held requests. */
void events_api_free(struct events_api *a);

/* If req is for /events, answer it (now or, with wait, later) and return
 * true; false otherwise. The caller has admitted req (TLS rules). */
bool events_api_handle(struct events_api *a, struct http_request *req);

/* The ring, for other readers (a dashboard). */
const struct events *events_api_ring(const struct events_api *a);
uint64_t events_api_instance(const struct events_api *a);

#endif
