/* transfer.c - leadership transfer (dissertation 3.10).
 *
 * The leader stops accepting proposals, brings the target's log up to date,
 * then sends it TimeoutNow; the target starts an election at once, skipping
 * pre-vote, and its vote requests carry a transfer flag so that followers do
 * not refuse them for having heard from the old leader recently. The
 * transfer is aborted if it has not finished within an election timeout.
 */
#include "internal.h"

static void send_timeout_now(struct raft *r)
{
    if (r->transfer_sent)
        return;
    if (raft_send(r, RAFT_MSG_TIMEOUT_NOW, r->transfer_target))
        r->transfer_sent = true;
}

int raft_transfer_leadership(struct raft *r, raft_time now, raft_id target)
{
    int rv = leader_may_act(r, now);
    if (rv < 0)
        return rv;
    if (target == RAFT_NONE) {
        /* the most up-to-date follower, preferring ones heard from lately
         * (check-quorum's recent_active) over ones that may be down */
        raft_index best = 0;
        bool best_active = false;
        for (unsigned i = 0; i < r->n_prs; i++) {
            const struct progress *pr = &r->prs[i];
            if (pr->id == r->cfg.id || !pr->voter)
                continue; /* a learner cannot take over */
            bool better = target == RAFT_NONE ||
                          (pr->recent_active && !best_active) ||
                          (pr->recent_active == best_active && pr->match > best);
            if (better) {
                target = pr->id;
                best = pr->match;
                best_active = pr->recent_active;
            }
        }
    }
    struct progress *pr = raft_progress(r, target);
    if (!pr || !pr->voter || target == r->cfg.id)
        return RAFT_EINVAL;
    r->transfer_target = target;
    r->transfer_sent = false;
    r->transfer_deadline = r->now + r->cfg.election_timeout_min_ms;
    raft_note(r, RAFT_NOTE_TRANSFER_STARTED, target, pr->match, NULL);
    transfer_on_progress(r, pr);
    if (!r->transfer_sent)
        replication_send_append(r, pr);
    return 0;
}

void transfer_on_progress(struct raft *r, struct progress *pr)
{
    if (r->transfer_target == pr->id &&
        pr->match == raftlog_last_index(&r->log))
        send_timeout_now(r);
}

void transfer_tick(struct raft *r)
{
    if (r->transfer_target && r->now >= r->transfer_deadline)
        transfer_end(r, RAFT_NOTE_TRANSFER_ABORTED);
}

void transfer_end(struct raft *r, enum raft_note_type how)
{
    raft_id target = r->transfer_target;
    r->transfer_target = RAFT_NONE;
    r->transfer_sent = false;
    raft_note(r, how, target, 0, NULL);
}

void transfer_recv_timeout_now(struct raft *r, const struct raft_msg *m)
{
    /* a learner (the leader's configuration may be ahead of ours) waits */
    if (m->term < r->term || r->role == RAFT_LEADER ||
        !membership_may_campaign(r))
        return;
    election_start(r, true);
}
