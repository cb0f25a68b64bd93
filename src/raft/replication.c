/* replication.c - log replication (paper 5.3), the commit rule (5.4.2) and
 * heartbeats.
 *
 * The leader sends each follower batches of entries from its nextIndex:
 * one at a time while probing for the point where the logs match, then up
 * to max_inflight_msgs batches in flight (pipelining). A follower rejects an
 * AppendEntries whose previous entry it does not have and returns a hint
 * (the term at prevLogIndex and the first index of that term, or its log
 * length), so the leader skips a whole conflicting term per round trip
 * instead of one entry (paper 5.3, "the protocol can be optimized").
 *
 * A follower never truncates an entry it knows to be committed: an
 * AppendEntries that contradicts one cannot come from a leader of its term
 * or a later one (Leader Completeness, paper 5.4.3), so raft_receive
 * refuses it for divergence before anything changes, and notes it (raft.h,
 * "Divergence"). Its answer carries seq 0, which the leader ignores like
 * an answer to an older term: nothing in it may move nextIndex.
 */
#include "internal.h"

#include <stdlib.h>

int replication_append_local(struct raft *r, uint8_t type, const void *data,
                             size_t len, raft_index *index)
{
    struct raft_entry e = {
        .term = r->term,
        .type = type,
        .len = (uint32_t)len,
        .data = (uint8_t *)data,
    };
    int rv = raftlog_append(&r->log, &e);
    if (rv)
        return rv;
    membership_on_append(r, raftlog_last_index(&r->log), &e);
    if (index)
        *index = raftlog_last_index(&r->log);
    return 0;
}

/* How many entries after prev fit in one message. */
static size_t batch_size(const struct raft *r, raft_index prev)
{
    raft_index last = raftlog_last_index(&r->log);
    size_t n = 0, bytes = 0;
    for (raft_index i = prev + 1; i <= last; i++) {
        if (n == r->cfg.max_entries_per_msg)
            break;
        bytes += raftlog_get(&r->log, i)->len;
        if (n > 0 && bytes > r->cfg.max_bytes_per_msg)
            break;
        n++;
    }
    return n;
}

static struct raft_msg *queue_append(struct raft *r, struct progress *pr,
                                     raft_index prev, size_t n)
{
    struct raft_msg *m = raft_send(r, RAFT_MSG_APPEND, pr->id);
    if (!m)
        return NULL;
    m->prev_index = prev;
    m->prev_term = raftlog_term_at(&r->log, prev);
    m->commit = r->commit;
    m->n_entries = n; /* entries are attached in raft_ready() */
    m->seq = r->seq;
    /* what the follower may commit from this message (Figure 2, rule 5) */
    raft_index told = r->commit < prev + n ? r->commit : prev + n;
    if (told > pr->commit_told)
        pr->commit_told = told;
    return m;
}

/* Send what the follower's progress state allows: one probe, or batches
 * until the inflight window is full or the log is exhausted. */
static void send_batches(struct raft *r, struct progress *pr)
{
    for (;;) {
        if (pr->state == PROGRESS_PROBE && pr->probe_sent)
            return;
        if (pr->state == PROGRESS_REPLICATE &&
            progress_inflight_full(pr, r->cfg.max_inflight_msgs))
            return;
        if (pr->state == PROGRESS_SNAPSHOT)
            return; /* paused until the snapshot is answered */
        if (pr->next < r->log.first) { /* compacted away: paper 7 */
            snapshot_send(r, pr);
            return;
        }
        raft_index prev = pr->next - 1;
        size_t n = batch_size(r, prev);
        if (n == 0 && pr->state == PROGRESS_REPLICATE)
            return;
        if (!queue_append(r, pr, prev, n))
            return;
        if (pr->state == PROGRESS_PROBE) {
            pr->probe_sent = true;
            return;
        }
        pr->next = prev + n + 1;
        progress_inflight_add(pr, prev + n);
    }
}

void replication_send_append(struct raft *r, struct progress *pr)
{
    if (pr->id != r->cfg.id)
        send_batches(r, pr);
}

void replication_broadcast(struct raft *r)
{
    for (unsigned i = 0; i < r->n_prs; i++)
        replication_send_append(r, &r->prs[i]);
}

/* A heartbeat is an AppendEntries without entries whose consistency check
 * is at the follower's known match index, so it always succeeds on a
 * healthy follower, even when batches in flight arrive out of order. */
static void send_heartbeat(struct raft *r, struct progress *pr)
{
    queue_append(r, pr, pr->match, 0);
}

static void note_catching_up(struct raft *r, struct progress *pr)
{
    if (pr->catching_up)
        return;
    pr->catching_up = true;
    raft_note(r, RAFT_NOTE_CATCHING_UP, pr->id, pr->next, NULL);
}

/* At a heartbeat: a follower still claiming a log shorter than its match
 * really lost entries. Start over from where its log ends. */
static void handle_lost_entries(struct raft *r, struct progress *pr)
{
    if (!pr->lost_hint)
        return;
    pr->match = pr->lost_hint - 1;
    pr->lost_hint = 0;
    if (pr->commit_told > pr->match)
        pr->commit_told = pr->match;
    progress_become_probe(pr);
    pr->catching_up = false;
    note_catching_up(r, pr);
}

/* Start a new heartbeat round (r->seq) to every follower. */
void replication_heartbeat(struct raft *r)
{
    r->seq++;
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->id == r->cfg.id)
            continue;
        if (pr->state == PROGRESS_PROBE) {
            pr->probe_sent = false; /* one probe per heartbeat interval */
            send_batches(r, pr);
        } else {
            send_heartbeat(r, pr);
            send_batches(r, pr);
        }
    }
}

static bool commit_news_for(const struct raft *r, const struct progress *pr)
{
    raft_index can = r->commit < pr->match ? r->commit : pr->match;
    return pr->id != r->cfg.id && pr->state == PROGRESS_REPLICATE &&
           can > pr->commit_told;
}

/* Tell followers about a commit index they have not been sent yet, so
 * their state machines (and plain reads on them) do not lag a heartbeat.
 * Under load the next batch of entries carries it anyway, so a follower is
 * sent an empty AppendEntries for it only after commit_notify_ms without
 * one (a write forwarded by a follower does not wait for this: see
 * raft_learn_commit). */
void replication_send_commit(struct raft *r)
{
    bool news = false;
    for (unsigned i = 0; i < r->n_prs && !news; i++)
        news = commit_news_for(r, &r->prs[i]);
    if (!news) {
        r->commit_notify_at = 0;
        return;
    }
    if (!r->commit_notify_at) {
        unsigned delay = r->cfg.commit_notify_ms;
        r->commit_notify_at = r->now + (delay < r->cfg.heartbeat_ms
                                        ? delay : r->cfg.heartbeat_ms);
    }
    if (r->now < r->commit_notify_at)
        return;
    r->commit_notify_at = 0;
    for (unsigned i = 0; i < r->n_prs; i++)
        if (commit_news_for(r, &r->prs[i]))
            send_heartbeat(r, &r->prs[i]);
}

bool raft_learn_commit(struct raft *r, raft_index index, raft_term term)
{
    if (r->role == RAFT_LEADER || term == 0 || index <= r->commit ||
        raftlog_term_at(&r->log, index) != term)
        return false;
    r->commit = index;
    return true;
}

void replication_tick(struct raft *r)
{
    election_check_quorum(r);
    if (r->role != RAFT_LEADER || r->now < r->heartbeat_deadline)
        return;
    r->heartbeat_deadline = r->now + r->cfg.heartbeat_ms;
    /* A pipelined follower that acknowledged nothing for a whole interval
     * lost a batch (or its answer): go back to probing from match. */
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->id == r->cfg.id)
            continue;
        handle_lost_entries(r, pr);
        snapshot_tick(r, pr);
        if (pr->state == PROGRESS_REPLICATE && pr->inflight_count &&
            pr->match == pr->match_at_tick)
            progress_become_probe(pr);
        pr->match_at_tick = pr->match;
    }
    replication_heartbeat(r);
}

/* Paper 5.4.2: commit the highest index stored on a majority, but only if
 * that entry is from the current term (Figure 8). The leader's own entries
 * count only once durable (r->stable). */
void replication_maybe_commit(struct raft *r)
{
    raft_index n = quorum_committed_index(r);
    if (n > r->commit && raftlog_term_at(&r->log, n) == r->term) {
        r->commit = n;
        membership_on_commit(r);
    }
}

static void reply_append(struct raft *r, const struct raft_msg *m,
                         bool success, raft_index match)
{
    struct raft_msg *resp = raft_send(r, RAFT_MSG_APPEND_RESP, m->from);
    if (!resp)
        return;
    resp->success = success;
    resp->ctx = m->ctx;
    resp->prev_index = m->prev_index;
    resp->seq = m->seq;
    resp->match_index = match;
    if (success)
        return;
    raft_index last = raftlog_last_index(&r->log);
    if (m->prev_index > last) {
        resp->hint_term = 0;
        resp->hint_index = last + 1;
    } else {
        resp->hint_term = raftlog_term_at(&r->log, m->prev_index);
        resp->hint_index = raftlog_first_of_term(&r->log, m->prev_index);
    }
}

/* Drop our entries from index on (they conflict with the leader's). */
static void truncate_suffix(struct raft *r, raft_index index)
{
    raft_note(r, RAFT_NOTE_LOG_TRUNCATED, r->leader, index, NULL);
    raftlog_truncate_from(&r->log, index);
    if (r->stable >= index)
        r->stable = index - 1;
    if (r->unstable_from > index)
        r->unstable_from = index;
    membership_on_truncate(r, index);
}

static void append_entries(struct raft *r, const struct raft_msg *m);

/* An AppendEntries whose prev_index lies in our snapshot: everything up to
 * the snapshot is committed, so it matches the leader's log; only entries
 * after it are news. (Our copy of the message is shifted to start there.) */
static void skip_compacted(struct raft *r, const struct raft_msg *m)
{
    raft_index snap = r->log.first - 1;
    size_t skip = (size_t)(snap - m->prev_index);
    if (skip > m->n_entries) {
        reply_append(r, m, true, snap);
        return;
    }
    struct raft_msg shifted = *m;
    shifted.prev_index = snap;
    shifted.prev_term = skip ? m->entries[skip - 1].term : m->prev_term;
    shifted.entries = m->entries + skip;
    shifted.n_entries = m->n_entries - skip;
    append_entries(r, &shifted);
}

/* An answer that acknowledges nothing (seq 0: replication_recv_append_resp
 * ignores it but for its term): to a stale leader, which must learn our
 * term and nothing else (if the sender has meanwhile become leader of our
 * term itself, it must not pass for an answer to its current messages),
 * and to a message refused for divergence. */
static void refuse_append(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg refused = *m;
    refused.seq = 0;
    reply_append(r, &refused, false, 0);
}

/* Where m contradicts an entry we know to be committed: its prev_term, or
 * one of its entries, at an index <= commit whose term we know (raft.h,
 * "Divergence"). Leader Completeness (paper 5.4.3) rules it out for any
 * leader of our term or a later one. A prev_term of 0 claims nothing: a
 * leader sends it in a heartbeat at a match index it has compacted away. */
static bool contradiction(const struct raft *r, const struct raft_msg *m,
                          raft_index *index, raft_term *ours,
                          raft_term *theirs, const char **what)
{
    const raft_index prev = m->prev_index;
    raft_term t = prev >= 1 && prev <= r->commit
                      ? raftlog_term_at(&r->log, prev) : 0;
    if (t && m->prev_term && t != m->prev_term) {
        *index = prev;
        *ours = t;
        *theirs = m->prev_term;
        *what = "AppendEntries prevLogTerm";
        return true;
    }
    for (size_t i = 0; i < m->n_entries && prev + 1 + i <= r->commit; i++) {
        t = raftlog_term_at(&r->log, prev + 1 + i);
        if (t && t != m->entries[i].term) {
            *index = prev + 1 + i;
            *ours = t;
            *theirs = m->entries[i].term;
            *what = "AppendEntries entries[]";
            return true;
        }
    }
    return false;
}

bool replication_refuse_divergent(struct raft *r, const struct raft_msg *m)
{
    raft_index index;
    raft_term ours, theirs;
    const char *what;
    if (!contradiction(r, m, &index, &ours, &theirs, &what))
        return false;
    raft_note_divergence(r, m, index, ours, theirs, what);
    refuse_append(r, m);
    return true;
}

void replication_recv_append(struct raft *r, const struct raft_msg *m)
{
    if (m->term < r->term) {
        refuse_append(r, m); /* tell a stale leader our term */
        return;
    }
    if (!raft_heed_leader(r, m))
        return;

    if (m->prev_index + 1 < r->log.first) {
        skip_compacted(r, m);
        return;
    }
    append_entries(r, m);
}

/* Figure 2's AppendEntries receiver rules 2 to 5, for the current leader. */
static void append_entries(struct raft *r, const struct raft_msg *m)
{
    raft_index prev = m->prev_index;
    if (prev > raftlog_last_index(&r->log) ||
        raftlog_term_at(&r->log, prev) != m->prev_term) {
        reply_append(r, m, false, 0);
        return;
    }
    /* Figure 2, AppendEntries rules 3 and 4: skip entries we already have,
     * truncate at the first conflict, append the rest. */
    raft_index last_new = prev;
    for (size_t i = 0; i < m->n_entries; i++) {
        raft_index idx = prev + 1 + i;
        const struct raft_entry *e = &m->entries[i];
        if (idx <= raftlog_last_index(&r->log)) {
            if (raftlog_term_at(&r->log, idx) == e->term) {
                last_new = idx;
                continue;
            }
            if (idx <= r->commit)
                return; /* never: raft_receive refused m as divergent */
            truncate_suffix(r, idx);
        }
        if (raftlog_append(&r->log, e) != 0)
            break; /* out of memory: acknowledge what we have */
        membership_on_append(r, idx, e);
        last_new = idx;
    }
    /* Rule 5: commitIndex = min(leaderCommit, index of last new entry). */
    raft_index commit = m->commit < last_new ? m->commit : last_new;
    if (commit > r->commit) {
        r->commit = commit;
        membership_on_commit(r);
    }
    reply_append(r, m, true, last_new);
}

static void handle_reject(struct raft *r, struct progress *pr,
                          const struct raft_msg *m)
{
    /* "My log ends before what I acknowledged": it lost entries (its data
     * directory was replaced), or this is an answer overtaken by a later
     * success. Wait one heartbeat for a success before believing it. */
    if (pr->state == PROGRESS_SNAPSHOT)
        return; /* an answer to an AppendEntries from before the snapshot */
    if (m->hint_term == 0 && m->hint_index <= pr->match) {
        if (!pr->lost_hint || m->hint_index < pr->lost_hint)
            pr->lost_hint = m->hint_index;
        return;
    }
    if (pr->state == PROGRESS_REPLICATE && m->prev_index <= pr->match)
        return; /* stale */
    if (pr->state == PROGRESS_PROBE && m->prev_index + 1 != pr->next)
        return; /* answer to an older probe */
    raft_index next = m->hint_index;
    if (m->hint_term) {
        raft_index li = raftlog_last_of_term(&r->log, m->prev_index, m->hint_term);
        if (li)
            next = li + 1;
    }
    if (next > m->prev_index)
        next = m->prev_index;
    if (next <= pr->match)
        next = pr->match + 1;
    if (next < 1)
        next = 1;
    progress_become_probe(pr);
    pr->next = next;
    note_catching_up(r, pr);
    send_batches(r, pr);
}

void replication_recv_append_resp(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_LEADER || m->term != r->term)
        return;
    if (m->seq == 0)
        return; /* answers a message of an older term (ours all have seq >= 1) */
    struct progress *pr = raft_progress(r, m->from);
    pr->recent_active = true;
    pr->last_heard = r->now;
    if (m->seq > pr->acked_seq && m->seq <= r->seq) {
        pr->acked_seq = m->seq;
        readindex_on_ack(r);
    }
    if (!m->success) {
        handle_reject(r, pr, m);
        return;
    }
    if (m->match_index > raftlog_last_index(&r->log))
        return; /* nonsense */
    bool was_probe = pr->state == PROGRESS_PROBE;
    bool was_snapshot = pr->state == PROGRESS_SNAPSHOT;
    pr->lost_hint = 0;
    if (m->match_index > pr->match) {
        pr->match = m->match_index;
        progress_inflight_free_to(pr, pr->match);
        if (pr->next <= pr->match)
            pr->next = pr->match + 1;
        membership_on_progress(r, pr);
        replication_maybe_commit(r);
        if (r->role != RAFT_LEADER)
            return; /* its own removal was committed (diss. 4.2.2) */
        r->broadcast_pending = true; /* it may now be told the commit */
    }
    if (was_snapshot && snapshot_progress_waiting(r, pr))
        return;
    if (was_snapshot && pr->match < raftlog_last_index(&r->log))
        note_catching_up(r, pr);
    if (was_probe) {
        progress_become_replicate(pr);
        if (pr->match < raftlog_last_index(&r->log))
            note_catching_up(r, pr);
    }
    if (pr->catching_up && pr->match == raftlog_last_index(&r->log)) {
        pr->catching_up = false;
        raft_note(r, RAFT_NOTE_FOLLOWER_CAUGHT_UP, pr->id, pr->match, NULL);
    }
    transfer_on_progress(r, pr);
    send_batches(r, pr);
}
