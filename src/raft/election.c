/* election.c - leader election (paper 5.2, Figure 2 RequestVote), pre-vote
 * (dissertation 9.6), leader stickiness (4.2.3) and check-quorum (6.2).
 *
 * A follower whose election timer fires first asks for pre-votes: "would you
 * vote for me in term T+1?" without changing anyone's term. Only with a
 * majority of pre-votes does it become a candidate and increment its term.
 * A node that was partitioned away therefore cannot inflate terms and depose
 * a healthy leader when it returns. Nodes that heard from a leader within the
 * minimum election timeout refuse (pre-)votes altogether, and a leader that
 * has not heard from a majority within that time steps down.
 */
#include "internal.h"

/* Paper 5.4.1: grant only if the candidate's log is at least as up to date:
 * a later last term, or the same last term and at least as long. */
static bool log_up_to_date(const struct raft *r, raft_index last_index,
                           raft_term last_term)
{
    raft_term my_term = raftlog_last_term(&r->log);
    if (last_term != my_term)
        return last_term > my_term;
    return last_index >= raftlog_last_index(&r->log);
}

static void request_votes(struct raft *r, bool prevote, bool transfer)
{
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (!pr->voter)
            continue; /* learners do not vote (diss. 4.2.1) */
        if (pr->id == r->cfg.id) {
            pr->vote_responded = pr->vote_granted = true;
            continue;
        }
        struct raft_msg *m = raft_send(r, RAFT_MSG_VOTE, pr->id);
        if (!m)
            continue;
        m->term = prevote ? r->term + 1 : r->term;
        m->prevote = prevote;
        m->transfer = transfer;
        m->last_index = raftlog_last_index(&r->log);
        m->last_term = raftlog_last_term(&r->log);
    }
}

/* Check the tally of the current (pre-)election and act on it. */
static void tally(struct raft *r)
{
    enum quorum_result result = quorum_tally(r);
    if (result == QUORUM_WON) {
        if (r->role == RAFT_PRECANDIDATE)
            election_start(r, false);
        else
            raft_become_leader(r);
    } else if (result == QUORUM_LOST) {
        if (r->role == RAFT_PRECANDIDATE)
            raft_note(r, RAFT_NOTE_PREVOTE_FAILED, 0, 0, "rejected by a majority");
        raft_become_follower(r, r->term, RAFT_NONE, NULL);
    }
}

/* Start a real election: new term, vote for self, ask everyone. */
void election_start(struct raft *r, bool transfer)
{
    raft_become_candidate(r);
    raft_note(r, RAFT_NOTE_ELECTION_STARTED, 0, 0,
              transfer ? "leadership transfer" : NULL);
    request_votes(r, false, transfer);
    tally(r); /* a single-node cluster wins at once */
}

int raft_campaign(struct raft *r, raft_time now)
{
    if (now > r->now)
        r->now = now;
    if (r->role == RAFT_LEADER || !membership_may_campaign(r))
        return RAFT_EINVAL;
    raft_note(r, RAFT_NOTE_ELECTION_TIMEOUT, 0, 0, "forced by an operator");
    election_start(r, true);
    return 0;
}

static void prevote_start(struct raft *r)
{
    if (r->role == RAFT_PRECANDIDATE)
        raft_note(r, RAFT_NOTE_PREVOTE_FAILED, 0, 0, "no majority in time");
    raft_become_precandidate(r);
    raft_note(r, RAFT_NOTE_PREVOTE_STARTED, 0, 0, NULL);
    request_votes(r, true, false);
    tally(r);
}

void election_tick(struct raft *r)
{
    if (r->now < r->election_deadline)
        return;
    if (!membership_may_campaign(r)) {
        /* a learner, or removed: it waits to be told (diss. 4.2.1-3) */
        raft_reset_election_timer(r);
        return;
    }
    raft_note(r, RAFT_NOTE_ELECTION_TIMEOUT, 0, 0, NULL);
    if (r->cfg.prevote)
        prevote_start(r);
    else
        election_start(r, false);
}

static void reply_vote(struct raft *r, const struct raft_msg *m, bool granted,
                       const char *reason)
{
    struct raft_msg *resp = raft_send(r, RAFT_MSG_VOTE_RESP, m->from);
    if (resp) {
        /* A granted pre-vote echoes the proposed term so the pre-candidate
         * can match it; anything else carries our own term. */
        resp->term = m->prevote && granted ? m->term : r->term;
        resp->prevote = m->prevote;
        resp->granted = granted;
        resp->ctx = m->ctx;
    }
    struct raft_note *n;
    if (granted)
        n = raft_note(r, RAFT_NOTE_VOTE_GRANTED, m->from, 0, NULL);
    else
        n = raft_note(r, RAFT_NOTE_VOTE_DENIED, m->from, 0, reason);
    if (n)
        n->prevote = m->prevote;
}

/* Diss. 4.2.3: a server that heard from a current leader within the minimum
 * election timeout does not grant votes or update its term, unless the
 * election was started by a leadership transfer. */
static bool in_leader_lease(const struct raft *r, const struct raft_msg *m)
{
    if (!r->cfg.check_quorum || m->transfer)
        return false;
    if (r->role == RAFT_LEADER)
        return true;
    return r->leader != RAFT_NONE &&
           r->now < r->last_leader_contact + r->cfg.election_timeout_min_ms;
}

void election_recv_vote(struct raft *r, const struct raft_msg *m)
{
    bool up_to_date = log_up_to_date(r, m->last_index, m->last_term);

    /* Only members stand (a spare or a server whose removal we know is
     * committed is refused without changing anything: dissertation 4.2.3),
     * but a learner of ours may be a voter of the candidate's
     * configuration, one step ahead of ours (raft-sim: {n2,n4} with n2
     * just promoted, n1 removed, and n4 lagging at {n1,n4; learner n2}),
     * and a server that an uncommitted configuration of ours removes may
     * still be a voter of the cluster's (raft-sim seed 154: n2 refused n4
     * for n2's own stale removal of n4, n4's election needed n2): refusing
     * either could leave no one electable (4.1). */
    if (!membership_knows(r, m->from)) {
        reply_vote(r, m, false, "candidate is not a member");
        return;
    }
    if (m->term > r->term && in_leader_lease(r, m)) {
        reply_vote(r, m, false, "current leader is alive");
        return;
    }
    if (m->prevote) {
        /* Never changes our state. Granted if we would grant the real
         * vote in that term. */
        if (m->term < r->term)
            reply_vote(r, m, false, "stale term");
        else if (m->term == r->term && r->vote != RAFT_NONE &&
                 r->vote != m->from)
            reply_vote(r, m, false, "already voted in this term");
        else if (!up_to_date)
            reply_vote(r, m, false, "candidate log not up to date");
        else
            reply_vote(r, m, true, NULL);
        return;
    }
    if (m->term > r->term) {
        if (r->role == RAFT_LEADER && m->transfer &&
            m->from == r->transfer_target)
            transfer_end(r, RAFT_NOTE_TRANSFER_DONE);
        raft_become_follower(r, m->term, RAFT_NONE,
                             m->transfer ? "leadership transfer" : NULL);
    }
    if (m->term < r->term) {
        reply_vote(r, m, false, "stale term");
    } else if (r->vote != RAFT_NONE && r->vote != m->from) {
        reply_vote(r, m, false, "already voted in this term");
    } else if (!up_to_date) {
        reply_vote(r, m, false, "candidate log not up to date");
    } else {
        r->vote = m->from;
        raft_reset_election_timer(r);
        reply_vote(r, m, true, NULL);
    }
}

void election_recv_vote_resp(struct raft *r, const struct raft_msg *m)
{
    /* A higher term in anything but a granted pre-vote means we are behind. */
    if (m->term > r->term && !(m->prevote && m->granted)) {
        raft_become_follower(r, m->term, RAFT_NONE, NULL);
        return;
    }
    bool ours = m->prevote ? (r->role == RAFT_PRECANDIDATE &&
                              m->term == r->term + 1)
                           : (r->role == RAFT_CANDIDATE && m->term == r->term);
    if (!ours)
        return; /* stale answer to an earlier round */
    struct progress *pr = raft_progress(r, m->from);
    if (pr->vote_responded)
        return; /* duplicate */
    pr->vote_responded = true;
    pr->vote_granted = m->granted;
    if (m->granted) {
        struct raft_note *n =
            raft_note(r, RAFT_NOTE_VOTE_RECEIVED, m->from, 0, NULL);
        if (n)
            n->prevote = m->prevote;
    }
    tally(r);
}

/* Diss. 6.2: a leader that has not heard from a majority within an election
 * timeout steps down, so clients of a minority leader notice. */
void election_check_quorum(struct raft *r)
{
    if (!r->cfg.check_quorum || r->now < r->quorum_deadline)
        return;
    r->quorum_deadline = r->now + r->cfg.election_timeout_min_ms;
    if (!quorum_recently_active(r))
        raft_become_follower(r, r->term, RAFT_NONE,
                             "lost contact with a majority (check-quorum)");
}
