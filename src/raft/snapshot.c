/* snapshot.c - log compaction and InstallSnapshot (Raft paper section 7;
 * Ongaro's dissertation chapter 5, Figure 5.3).
 *
 * The host takes snapshots of its state machine itself (the core never sees
 * their bytes) and tells the core with raft_compact(); the core then frees
 * the entries the snapshot covers and keeps only the term of the last one
 * (log.first - 1, log.prev_term), which is what identifies the snapshot.
 *
 * Leader: a follower whose next index is below the first entry held cannot
 * be sent AppendEntries; it gets RAFT_MSG_SNAPSHOT instead (the host
 * attaches the snapshot), and its progress stays in SNAPSHOT state, sending
 * nothing more, until it answers (an APPEND_RESP whose match_index reaches
 * the snapshot), the transport reports it unreachable, or
 * snapshot_timeout_ms passes; then it is probed again from its match index.
 *
 * Follower (Figure 5.3, "Receiver implementation"): a snapshot from the
 * current leader that is not ahead of our commit index teaches us nothing
 * and is answered at once with match_index = commit, unless its last entry
 * contradicts our committed log there: then raft_receive refuses it for
 * divergence (raft.h, "Divergence"; Leader Completeness, paper 5.4.3, says
 * no leader can send it) without changing anything. Otherwise it is
 * installed: if the log holds the snapshot's last entry (same index and
 * term), the entries after it are kept (step 6); otherwise the whole log is
 * discarded (step 7). Commit and applied jump to the snapshot's index, and
 * the next ready tells the host to install it durably before the answer
 * (success, match_index = snapshot index) goes out.
 */
#include "internal.h"

int raft_compact(struct raft *r, raft_index index)
{
    if (index > r->applied || index > r->stable)
        return RAFT_EINVAL;
    if (index < r->log.first)
        return 0; /* already compacted that far */
    membership_on_compact(r, index, NULL, false); /* before they go */
    raftlog_compact(&r->log, index);
    return 0;
}

raft_index raft_snapshot_index(const struct raft *r)
{
    return r->log.first - 1;
}

raft_term raft_snapshot_term(const struct raft *r)
{
    return r->log.prev_term;
}

bool raft_sending_snapshot(const struct raft *r, raft_id id)
{
    if (r->role != RAFT_LEADER)
        return false;
    const struct progress *pr = raft_progress((struct raft *)r, id);
    return pr && pr->state == PROGRESS_SNAPSHOT;
}

/* ---- leader ---- */

void snapshot_send(struct raft *r, struct progress *pr)
{
    if (pr->state == PROGRESS_SNAPSHOT)
        return; /* one at a time: wait for its answer */
    if (r->now < pr->snapshot_retry_at)
        return; /* the last one failed just now: do not resend at once */
    struct raft_msg *m = raft_send(r, RAFT_MSG_SNAPSHOT, pr->id);
    if (!m)
        return;
    m->snapshot_index = raft_snapshot_index(r);
    m->snapshot_term = raft_snapshot_term(r);
    m->commit = r->commit;
    m->seq = r->seq;
    pr->state = PROGRESS_SNAPSHOT;
    pr->probe_sent = false;
    pr->inflight_start = pr->inflight_count = 0;
    pr->pending_snapshot = m->snapshot_index;
    pr->snapshot_deadline = r->now + r->cfg.snapshot_timeout_ms;
    if (pr->commit_told < pr->match)
        pr->commit_told = pr->match;
    raft_note(r, RAFT_NOTE_SNAPSHOT_SENT, pr->id, m->snapshot_index, NULL);
}

bool snapshot_progress_waiting(struct raft *r, struct progress *pr)
{
    (void)r;
    if (pr->state != PROGRESS_SNAPSHOT)
        return false;
    if (pr->match < pr->pending_snapshot)
        return true;
    /* it has the snapshot: stream from right after what it holds */
    progress_become_replicate(pr);
    pr->pending_snapshot = 0;
    return false;
}

void snapshot_tick(struct raft *r, struct progress *pr)
{
    if (pr->state != PROGRESS_SNAPSHOT || r->now < pr->snapshot_deadline)
        return;
    raft_note(r, RAFT_NOTE_SNAPSHOT_FAILED, pr->id, pr->pending_snapshot,
              "no answer in time");
    pr->pending_snapshot = 0;
    progress_become_probe(pr);
}

/* A snapshot can be large: after a failed send wait an election timeout
 * before the next (a follower that is down, or refuses it as too large,
 * is not sent one per heartbeat). */
void snapshot_failed(struct raft *r, struct progress *pr)
{
    pr->pending_snapshot = 0;
    pr->snapshot_retry_at = r->now + r->cfg.election_timeout_min_ms;
    progress_become_probe(pr);
}

/* ---- follower ---- */

static void reply_snapshot(struct raft *r, const struct raft_msg *m,
                           bool success, raft_index match, uint64_t seq)
{
    struct raft_msg *resp = raft_send(r, RAFT_MSG_APPEND_RESP, m->from);
    if (!resp)
        return;
    resp->ctx = m->ctx;
    resp->success = success;
    resp->prev_index = m->snapshot_index;
    resp->match_index = match;
    resp->seq = seq;
    if (!success) { /* a stale leader: only our term matters to it */
        resp->hint_index = raftlog_last_index(&r->log) + 1;
        resp->hint_term = 0;
    }
}

/* Replace the log by the snapshot, keeping the entries after it if the log
 * agrees with the snapshot's last entry (Figure 5.3 steps 6 and 7). */
static void install(struct raft *r, const struct raft_msg *m)
{
    raft_index index = m->snapshot_index;
    raft_term term = m->snapshot_term;
    if (raftlog_get(&r->log, index) && raftlog_term_at(&r->log, index) == term) {
        membership_on_compact(r, index, m->snapshot_configuration, false);
        raftlog_compact(&r->log, index);
    } else {
        if (raftlog_last_index(&r->log) > index)
            raft_note(r, RAFT_NOTE_LOG_TRUNCATED, r->leader, index + 1,
                      "replaced by the leader's snapshot");
        raftlog_reset(&r->log, index + 1, term);
        membership_on_compact(r, index, m->snapshot_configuration, true);
        r->snapshot_discard_log = true;
        r->stable = index; /* the log now ends at the snapshot */
        r->unstable_from = index + 1;
    }
    if (r->stable < index)
        r->stable = index;
    if (r->unstable_from <= index)
        r->unstable_from = index + 1;
    r->commit = index;
    r->applied = index;
    r->snapshot_pending = true;
    raft_note(r, RAFT_NOTE_SNAPSHOT_INSTALLED, r->leader, index, NULL);
}

/* A snapshot at or below our commit index whose last entry has another
 * term than ours there contradicts a committed entry (raft.h,
 * "Divergence"). One that agrees is an old retransmit, answered below; one
 * within our own snapshot cannot be told (we kept only its last term). */
bool snapshot_refuse_divergent(struct raft *r, const struct raft_msg *m)
{
    raft_term ours = raftlog_term_at(&r->log, m->snapshot_index);
    if (m->snapshot_index > r->commit || !ours || ours == m->snapshot_term)
        return false;
    raft_note_divergence(r, m, m->snapshot_index, ours, m->snapshot_term,
                         "InstallSnapshot lastIncludedTerm");
    reply_snapshot(r, m, false, 0, 0); /* seq 0: acknowledges nothing */
    return true;
}

void snapshot_recv(struct raft *r, const struct raft_msg *m)
{
    if (m->term < r->term) {
        reply_snapshot(r, m, false, 0, 0); /* seq 0: see replication.c */
        return;
    }
    if (!raft_heed_leader(r, m))
        return;

    if (m->snapshot_index > r->commit)
        install(r, m);
    /* Either way everything up to our commit index matches the leader's log
     * (Leader Completeness), which is what we acknowledge. */
    reply_snapshot(r, m, true, r->commit, m->seq);
}
