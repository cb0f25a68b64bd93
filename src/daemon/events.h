/* events.h - a bounded ring of this node's Raft events, for GET /events
 * (events_api.h) and whoever reads them later (a dashboard).
 *
 * Each event recorded gets the next sequence number (1, 2, ...) and keeps
 * the wall-clock time it was recorded (CLOCK_REALTIME, microseconds) and
 * the fields log_raft() gave it (logging.h). When the ring is full the
 * oldest event is dropped: a reader whose cursor is older than the oldest
 * kept event has lost some, and events_after() says so.
 *
 * Pure memory, no I/O, no clock of its own: the caller passes the time.
 */
#ifndef RAFTD_EVENTS_H
#define RAFTD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logging.h"

#define EVENTS_DEFAULT_CAPACITY 4096u
#define EVENTS_MESSAGE_MAX 512u /* longer messages are cut */

struct event {
    uint64_t seq;
    uint64_t time_us;   /* CLOCK_REALTIME */
    char name[40];      /* RAFT_EVENT, e.g. "became_leader" */
    char state[16];     /* "Follower", ... ("" when not given) */
    uint64_t term, leader, peer, index; /* 0: not given */
    char *message;
};

struct events;

/* A ring for the last capacity events (0: EVENTS_DEFAULT_CAPACITY), or
 * NULL when out of memory. */
struct events *events_new(size_t capacity);
void events_free(struct events *e);

/* Record one event (the message is copied, cut at EVENTS_MESSAGE_MAX).
 * Returns its sequence number. */
uint64_t events_record(struct events *e, uint64_t time_us,
                       const struct log_raft *f, const char *msg);

/* The sequence number of the newest event (0: none yet) and of the oldest
 * still kept (last + 1 when the ring is empty). */
uint64_t events_last_seq(const struct events *e);
uint64_t events_first_seq(const struct events *e);

/* The events with sequence numbers after `after`, oldest first: up to max
 * pointers into the ring go to out (valid until the next events_record).
 * Returns how many. *lost is set when events after `after` were dropped
 * already (after + 1 < events_first_seq()). */
size_t events_after(const struct events *e, uint64_t after,
                    const struct event **out, size_t max, bool *lost);

#endif
