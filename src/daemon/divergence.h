/* divergence.h - what raftd says when the core refuses a message that
 * contradicts an entry this node knows to be committed (src/raft/raft.h,
 * "Divergence"): a journal error with RAFT_EVENT=diverged, logged once per
 * distinct evidence and at most DIVERGENCE_LOG_BURST new ones a minute;
 * the "diverged" object of GET /status; the reason GET /health gives. The
 * state itself is the core's (raft_diverged()): sticky for the life of the
 * process. raftd(8), DIVERGENCE, tells the operator what to do.
 */
#ifndef RAFTD_DIVERGENCE_H
#define RAFTD_DIVERGENCE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "../raft/raft.h"

#define DIVERGENCE_LOG_SEEN 16   /* distinct evidence remembered */
#define DIVERGENCE_LOG_BURST 10  /* new evidence logged as errors per minute */

struct divergence_log {
    struct divergence_seen {
        raft_index index;
        raft_term entry_term, peer_entry_term;
        raft_id peer;
    } seen[DIVERGENCE_LOG_SEEN];
    unsigned n_seen, next;   /* a ring of the last distinct ones */
    raft_time window_start;  /* the current minute */
    unsigned logged;         /* errors logged in it */
    unsigned long long suppressed; /* new evidence not logged since */
};

/* Log a RAFT_NOTE_DIVERGED note (state: our role's name, now: ms): as an
 * error the first time its evidence (index, both terms, peer) is seen,
 * at debug level when it repeats or the minute's burst is spent. */
void divergence_log_note(struct divergence_log *dl, const struct raft_note *note,
                         const char *state, raft_time now);

/* One sentence: which committed entry, both terms, who sent what. */
void divergence_describe(const struct raft_divergence *d, char *buf,
                         size_t len);

/* /status "diverged": the first evidence, or JSON null. */
cJSON *divergence_json(const struct raft *r);

#endif
