/* readindex.c - linearizable reads without log writes (dissertation 6.4).
 *
 * The leader records its commit index as the read index, then confirms it
 * is still the leader by a heartbeat round (r->seq) acknowledged by a
 * majority. Once confirmed the read appears in raft_ready(); the caller
 * serves it when its applied index reaches the read index. The leader must
 * have committed an entry of its own term first, so that its commit index
 * is at least that of any earlier leader (the no-op of raft_become_leader).
 */
#include "internal.h"

#include <stdlib.h>

static int push_read(struct raft *r, uint64_t id, raft_index index)
{
    if (r->n_reads == r->cap_reads) {
        size_t cap = r->cap_reads ? r->cap_reads * 2 : 16;
        struct raft_read *p = realloc(r->reads, cap * sizeof(*p));
        if (!p)
            return RAFT_ENOMEM;
        r->reads = p;
        r->cap_reads = cap;
    }
    r->reads[r->n_reads++] = (struct raft_read){.id = id, .index = index};
    return 0;
}

int raft_read_index(struct raft *r, raft_time now, uint64_t id)
{
    if (now > r->now)
        r->now = now;
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    if (raftlog_term_at(&r->log, r->commit) != r->term)
        return RAFT_ENOTREADY;
    if (quorum_acked(r, UINT64_MAX)) /* no one else votes */
        return push_read(r, id, r->commit);
    if (r->n_pending_reads == r->cap_pending_reads) {
        size_t cap = r->cap_pending_reads ? r->cap_pending_reads * 2 : 16;
        struct pending_read *p = realloc(r->pending_reads, cap * sizeof(*p));
        if (!p)
            return RAFT_ENOMEM;
        r->pending_reads = p;
        r->cap_pending_reads = cap;
    }
    /* Reads arriving together share the next heartbeat round. */
    r->pending_reads[r->n_pending_reads++] =
        (struct pending_read){.id = id, .index = r->commit, .seq = r->seq + 1};
    return 0;
}

/* Move every read whose round a majority acknowledged to r->reads. Rounds
 * only grow, so the confirmed reads are a prefix of the pending ones. */
void readindex_on_ack(struct raft *r)
{
    size_t done = 0;
    while (done < r->n_pending_reads &&
           quorum_acked(r, r->pending_reads[done].seq)) {
        if (push_read(r, r->pending_reads[done].id,
                      r->pending_reads[done].index))
            break;
        done++;
    }
    for (size_t i = done; i < r->n_pending_reads; i++)
        r->pending_reads[i - done] = r->pending_reads[i];
    r->n_pending_reads -= done;
}

/* Reads wait for a round that has not started (their seq is the next
 * one) and none is out: a round carrying reads that a majority has not
 * acknowledged yet makes later reads wait for the next round, started once
 * this one is acknowledged (or by the next periodic heartbeat, should its
 * messages be lost), so under read load there is one round per round trip
 * rather than one per ready. Reads a periodic heartbeat already carries
 * need no round of their own. */
bool readindex_round_due(const struct raft *r)
{
    return r->n_pending_reads && r->pending_reads[0].seq > r->seq;
}

/* Leadership lost: unconfirmed reads fail, reported with index 0. */
void readindex_fail_all(struct raft *r)
{
    for (size_t i = 0; i < r->n_pending_reads; i++)
        push_read(r, r->pending_reads[i].id, 0);
    r->n_pending_reads = 0;
}
