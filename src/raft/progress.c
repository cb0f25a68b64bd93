/* progress.c - the leader's view of each follower's log (paper 5.3's
 * nextIndex/matchIndex), with etcd's probe/replicate states and a bounded
 * window of in-flight AppendEntries batches (etcd raft design.md,
 * tracker/inflights.go).
 */
#include "internal.h"

/* A new leader knows nothing of the follower: probe optimistically from the
 * end of its own log and let rejections walk back (paper 5.3). */
void progress_reset(struct progress *pr, raft_index last_index)
{
    progress_become_probe(pr);
    pr->match = 0;
    pr->next = last_index + 1;
    pr->match_at_tick = 0;
    pr->acked_seq = 0;
    pr->commit_told = 0;
    pr->lost_hint = 0;
    pr->catching_up = false;
}

/* Send one batch at a time, from next, until the follower answers. */
void progress_become_probe(struct progress *pr)
{
    pr->state = PROGRESS_PROBE;
    pr->probe_sent = false;
    pr->next = pr->match + 1;
    pr->inflight_start = pr->inflight_count = 0;
}

/* The follower's log matches up to match: stream batches after it. */
void progress_become_replicate(struct progress *pr)
{
    pr->state = PROGRESS_REPLICATE;
    pr->probe_sent = false;
    pr->next = pr->match + 1;
    pr->inflight_start = pr->inflight_count = 0;
}

bool progress_inflight_full(const struct progress *pr, unsigned max)
{
    return pr->inflight_count >= max;
}

void progress_inflight_add(struct progress *pr, raft_index last)
{
    if (pr->inflight_count == RAFT_MAX_INFLIGHT)
        return;
    unsigned slot = (pr->inflight_start + pr->inflight_count) % RAFT_MAX_INFLIGHT;
    pr->inflight[slot] = last;
    pr->inflight_count++;
}

/* Acknowledged up to index: every batch ending at or before it is done. */
void progress_inflight_free_to(struct progress *pr, raft_index index)
{
    while (pr->inflight_count &&
           pr->inflight[pr->inflight_start] <= index) {
        pr->inflight_start = (pr->inflight_start + 1) % RAFT_MAX_INFLIGHT;
        pr->inflight_count--;
    }
}
