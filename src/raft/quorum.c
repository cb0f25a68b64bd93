/* quorum.c - every majority the core counts, in one place, over the voters
 * of the current configuration:
 *
 *   - elections and pre-votes: a majority of voters granted (paper 5.2),
 *     or a majority refused;
 *   - commitment: the highest index stored on a majority of voters (paper
 *     5.3, 5.4.2; the leader's own entries count once durable);
 *   - check-quorum: a majority of voters heard from within an election
 *     timeout (dissertation 6.2);
 *   - ReadIndex: a majority of voters acknowledged a heartbeat round
 *     (dissertation 6.4).
 *
 * A voter is a member of the configuration that is not a learner
 * (dissertation 4.2.1: a new server catches up without a vote). The leader
 * itself counts only while it is a voter: a leader removing itself
 * (dissertation 4.2.2) manages the cluster without being part of its
 * majorities.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>

unsigned quorum_size(const struct raft *r)
{
    unsigned voters = 0;
    for (unsigned i = 0; i < r->n_prs; i++)
        voters += r->prs[i].voter;
    assert(voters >= 1); /* a configuration without voters is refused */
    return voters / 2 + 1;
}

bool quorum_is_voter(const struct raft *r, raft_id id)
{
    const struct progress *pr = raft_progress((struct raft *)r, id);
    return pr && pr->voter;
}

enum quorum_result quorum_tally(const struct raft *r)
{
    unsigned yes = 0, no = 0, q = quorum_size(r);
    for (unsigned i = 0; i < r->n_prs; i++) {
        const struct progress *pr = &r->prs[i];
        if (!pr->voter || !pr->vote_responded)
            continue;
        if (pr->vote_granted)
            yes++;
        else
            no++;
    }
    if (yes >= q)
        return QUORUM_WON;
    return no >= q ? QUORUM_LOST : QUORUM_PENDING;
}

static int cmp_index_desc(const void *a, const void *b)
{
    raft_index x = *(const raft_index *)a, y = *(const raft_index *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

raft_index quorum_committed_index(const struct raft *r)
{
    raft_index match[RAFT_MAX_MEMBERS];
    unsigned n = 0;
    for (unsigned i = 0; i < r->n_prs; i++)
        if (r->prs[i].voter)
            match[n++] = r->prs[i].id == r->cfg.id ? r->stable
                                                   : r->prs[i].match;
    qsort(match, n, sizeof(match[0]), cmp_index_desc);
    return match[quorum_size(r) - 1];
}

bool quorum_recently_active(struct raft *r)
{
    unsigned active = 0;
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->voter && (pr->recent_active || pr->id == r->cfg.id))
            active++;
        pr->recent_active = false;
    }
    return active >= quorum_size(r);
}

bool quorum_acked(const struct raft *r, uint64_t seq)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->n_prs; i++) {
        const struct progress *pr = &r->prs[i];
        if (pr->voter && (pr->id == r->cfg.id || pr->acked_seq >= seq))
            n++;
    }
    return n >= quorum_size(r);
}
