/* raft.c - construction, role changes, message dispatch and the
 * ready/advance hand-off of the Raft core (see raft.h).
 *
 * Role changes follow the paper's Figure 2 "Rules for Servers" and Figure 4
 * (follower -> candidate -> leader), with the pre-candidate role of the
 * dissertation's 9.6 in front of the candidate.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

const char *raft_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define RAFT_ERR_CASE(name, value, text) \
    case name:                           \
        return text;
        RAFT_ERRORS(RAFT_ERR_CASE)
#undef RAFT_ERR_CASE
    }
    return "unknown error";
}

const char *raft_role_name(enum raft_role role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "Follower";
    case RAFT_PRECANDIDATE:
        return "PreCandidate";
    case RAFT_CANDIDATE:
        return "Candidate";
    case RAFT_LEADER:
        return "Leader";
    }
    return "Unknown";
}

const char *raft_note_name(enum raft_note_type type)
{
    static const char *const names[] = {
        [RAFT_NOTE_ELECTION_TIMEOUT] = "election_timeout",
        [RAFT_NOTE_PREVOTE_STARTED] = "prevote_started",
        [RAFT_NOTE_PREVOTE_FAILED] = "prevote_failed",
        [RAFT_NOTE_ELECTION_STARTED] = "election_started",
        [RAFT_NOTE_VOTE_GRANTED] = "vote_granted",
        [RAFT_NOTE_VOTE_DENIED] = "vote_denied",
        [RAFT_NOTE_VOTE_RECEIVED] = "vote_received",
        [RAFT_NOTE_BECAME_LEADER] = "became_leader",
        [RAFT_NOTE_BECAME_FOLLOWER] = "became_follower",
        [RAFT_NOTE_BECAME_CANDIDATE] = "became_candidate",
        [RAFT_NOTE_LEADER_CHANGED] = "leader_changed",
        [RAFT_NOTE_STEPPED_DOWN] = "stepped_down",
        [RAFT_NOTE_TERM_CHANGED] = "term_changed",
        [RAFT_NOTE_TRANSFER_STARTED] = "transfer_started",
        [RAFT_NOTE_TRANSFER_DONE] = "leadership_transferred",
        [RAFT_NOTE_TRANSFER_ABORTED] = "transfer_aborted",
        [RAFT_NOTE_LOG_TRUNCATED] = "log_truncated",
        [RAFT_NOTE_CATCHING_UP] = "catching_up",
        [RAFT_NOTE_FOLLOWER_CAUGHT_UP] = "follower_caught_up",
        [RAFT_NOTE_SNAPSHOT_SENT] = "snapshot_sent",
        [RAFT_NOTE_SNAPSHOT_INSTALLED] = "snapshot_installed",
        [RAFT_NOTE_SNAPSHOT_FAILED] = "snapshot_failed",
        [RAFT_NOTE_DIVERGED] = "diverged",
        [RAFT_NOTE_CONFIGURATION] = "configuration",
        [RAFT_NOTE_LEARNER_CAUGHT_UP] = "learner_caught_up",
        [RAFT_NOTE_REMOVED] = "removed",
        [RAFT_NOTE_LEADER_GONE] = "leader_gone",
    };
    if ((unsigned)type < sizeof(names) / sizeof(names[0]) && names[type])
        return names[type];
    return "unknown";
}

void raft_config_defaults(struct raft_config *cfg)
{
    cfg->heartbeat_ms = 100;
    cfg->election_timeout_min_ms = 1000;
    cfg->election_timeout_max_ms = 2000;
    cfg->prevote = true;
    cfg->check_quorum = true;
    cfg->max_entries_per_msg = 64;
    cfg->max_bytes_per_msg = 1024 * 1024;
    cfg->max_inflight_msgs = 8;
    cfg->commit_notify_ms = 2;
}

/* The configuration the log starts from, as raft_config gives it. */
static void base_configuration(const struct raft_config *cfg,
                               struct raft_configuration *c)
{
    if (cfg->configuration) {
        *c = *cfg->configuration;
        return;
    }
    memset(c, 0, sizeof(*c));
    c->n = cfg->n_members <= RAFT_MAX_MEMBERS ? cfg->n_members : 0;
    for (unsigned i = 0; i < c->n; i++)
        c->members[i] = (struct raft_member){.id = cfg->members[i],
                                             .role = RAFT_VOTER};
}

static const char *config_problem(const struct raft_config *cfg)
{
    struct raft_configuration c;
    uint8_t buf[RAFT_CONFIGURATION_MAX_BYTES];
    if (cfg->id == RAFT_NONE)
        return "node id must be >= 1";
    base_configuration(cfg, &c);
    if (raft_configuration_encode(&c, buf) < 0)
        return "invalid configuration (member ids >= 1 and distinct, "
               "at least one voter, at most 16 members)";
    if (!raft_configuration_find(&c, cfg->id))
        return "node id is not among the members";
    if (cfg->heartbeat_ms == 0 ||
        cfg->heartbeat_ms >= cfg->election_timeout_min_ms)
        return "heartbeat must be positive and below the election timeout";
    if (cfg->election_timeout_max_ms < cfg->election_timeout_min_ms)
        return "election timeout range is reversed";
    if (!cfg->random)
        return "no random number source";
    if (cfg->max_entries_per_msg == 0 || cfg->max_inflight_msgs == 0 ||
        cfg->max_inflight_msgs > RAFT_MAX_INFLIGHT)
        return "batching/pipelining bounds out of range";
    return NULL;
}

struct raft *raft_new(const struct raft_config *cfg, const char **err)
{
    const char *problem = config_problem(cfg);
    if (problem) {
        if (err)
            *err = problem;
        return NULL;
    }
    struct raft *r = calloc(1, sizeof(*r));
    if (!r) {
        if (err)
            *err = raft_strerror(RAFT_ENOMEM);
        return NULL;
    }
    r->cfg = *cfg;
    if (!r->cfg.snapshot_timeout_ms)
        r->cfg.snapshot_timeout_ms = 2 * cfg->election_timeout_max_ms;
    raftlog_init(&r->log);
    r->unstable_from = 1;
    r->role = RAFT_FOLLOWER;
    struct raft_configuration c;
    base_configuration(cfg, &c);
    raft_restore_configuration(r, &c);
    r->cfg.configuration = NULL; /* not ours to keep */
    return r;
}

void raft_free(struct raft *r)
{
    if (!r)
        return;
    raftlog_free(&r->log);
    free(r->out.msgs);
    free(r->notes);
    free(r->pending_reads);
    free(r->reads);
    free(r);
}

int raft_restore(struct raft *r, const struct raft_hard_state *hs,
                 raft_index first_index, raft_term prev_term,
                 const struct raft_entry *entries, size_t n)
{
    if (first_index < 1)
        return RAFT_EINVAL;
    raftlog_reset(&r->log, first_index, prev_term);
    for (size_t i = 0; i < n; i++) {
        int rv = raftlog_append(&r->log, &entries[i]);
        if (rv)
            return rv;
        membership_on_append(r, first_index + i, &entries[i]);
    }
    r->term = r->saved_term = hs->term;
    r->vote = r->saved_vote = hs->vote;
    r->stable = raftlog_last_index(&r->log);
    r->unstable_from = r->stable + 1;
    r->applied = first_index - 1;
    r->commit = hs->commit;
    if (r->commit > r->stable)
        r->commit = r->stable;
    if (r->commit < r->applied)
        r->commit = r->applied;
    return 0;
}

/* The election timer fires at a time drawn from now + [lo, lo + span). */
static void arm_election_timer(struct raft *r, unsigned lo, unsigned span)
{
    uint64_t rnd = span ? r->cfg.random(r->cfg.random_arg) % span : 0;
    r->election_deadline = r->now + lo + rnd;
}

void raft_start(struct raft *r, raft_time now)
{
    r->now = now;
    r->role = RAFT_FOLLOWER;
    if (r->cfg.fast_first_election && r->cfg.prevote && r->cfg.check_quorum)
        arm_election_timer(r, r->cfg.heartbeat_ms, r->cfg.heartbeat_ms);
    else
        raft_reset_election_timer(r);
    /* The only voter has no leader to hear from, and no one to disrupt:
     * waiting out an election timeout first would only delay its first
     * answer after a restart (etcd fast-forwards its ticks alike). */
    if (quorum_size(r) == 1 && membership_is_voter(r, r->cfg.id))
        r->election_deadline = now;
}

int raft_leader_gone(struct raft *r, raft_time now, raft_id id,
                     const char *why)
{
    if (now > r->now)
        r->now = now;
    if (r->role != RAFT_FOLLOWER || id == RAFT_NONE || r->leader != id)
        return RAFT_EINVAL;
    raft_note(r, RAFT_NOTE_LEADER_GONE, id, 0, why);
    raft_set_leader(r, RAFT_NONE);
    r->last_leader_contact = 0;
    raft_time before = r->election_deadline;
    arm_election_timer(r, 0, r->cfg.heartbeat_ms);
    if (before && before < r->election_deadline)
        r->election_deadline = before;
    return 0;
}

raft_time raft_leader_contact(const struct raft *r)
{
    return r->leader != RAFT_NONE && r->role != RAFT_LEADER
               ? r->last_leader_contact
               : 0;
}

struct progress *raft_progress(struct raft *r, raft_id id)
{
    for (unsigned i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return RAFT_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Queue a message; returns NULL only when out of memory, in which case the
 * message is lost, which Raft tolerates like any lost packet. */
struct raft_msg *raft_send(struct raft *r, enum raft_msg_type type, raft_id to)
{
    if (grow((void **)&r->out.msgs, &r->out.cap, r->out.n + 1,
             sizeof(struct raft_msg)))
        return NULL;
    struct raft_msg *m = &r->out.msgs[r->out.n++];
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->from = r->cfg.id;
    m->to = to;
    m->term = r->term;
    return m;
}

struct raft_note *raft_note(struct raft *r, enum raft_note_type type,
                            raft_id peer, raft_index index, const char *reason)
{
    if (grow((void **)&r->notes, &r->cap_notes, r->n_notes + 1,
             sizeof(struct raft_note)))
        return NULL;
    struct raft_note *n = &r->notes[r->n_notes++];
    *n = (struct raft_note){
        .type = type,
        .term = r->term,
        .role = r->role,
        .leader = r->leader,
        .peer = peer,
        .index = index,
        .reason = reason,
    };
    return n;
}

void raft_reset_election_timer(struct raft *r)
{
    unsigned lo = r->cfg.election_timeout_min_ms;
    arm_election_timer(r, lo, r->cfg.election_timeout_max_ms - lo);
}

int raft_set_timing(struct raft *r, raft_time now, unsigned heartbeat_ms,
                    unsigned election_timeout_min_ms,
                    unsigned election_timeout_max_ms)
{
    if (heartbeat_ms == 0 || heartbeat_ms >= election_timeout_min_ms ||
        election_timeout_max_ms < election_timeout_min_ms)
        return RAFT_EINVAL;
    if (now > r->now)
        r->now = now;
    r->cfg.heartbeat_ms = heartbeat_ms;
    r->cfg.election_timeout_min_ms = election_timeout_min_ms;
    r->cfg.election_timeout_max_ms = election_timeout_max_ms;
    if (r->role != RAFT_LEADER) {
        if (r->election_deadline) /* armed: raft_start() was called */
            raft_reset_election_timer(r);
    } else if (r->heartbeat_deadline > r->now + heartbeat_ms) {
        r->heartbeat_deadline = r->now + heartbeat_ms;
    }
    return 0;
}

void raft_set_leader(struct raft *r, raft_id leader)
{
    if (r->leader == leader)
        return;
    r->leader = leader;
    raft_note(r, RAFT_NOTE_LEADER_CHANGED, leader, 0, NULL);
}

static void set_term(struct raft *r, raft_term term)
{
    if (term <= r->term)
        return;
    r->term = term;
    r->vote = RAFT_NONE;
    raft_note(r, RAFT_NOTE_TERM_CHANGED, 0, 0, NULL);
}

/* Figure 2: "If RPC request or response contains term T > currentTerm: set
 * currentTerm = T, convert to follower". leader may be RAFT_NONE. */
void raft_become_follower(struct raft *r, raft_term term, raft_id leader,
                          const char *reason)
{
    enum raft_role was = r->role;
    set_term(r, term);
    if (was == RAFT_LEADER) {
        if (r->transfer_target)
            transfer_end(r, leader == r->transfer_target
                                ? RAFT_NOTE_TRANSFER_DONE
                                : RAFT_NOTE_TRANSFER_ABORTED);
        readindex_fail_all(r);
    }
    r->role = RAFT_FOLLOWER;
    raft_set_leader(r, leader);
    raft_reset_election_timer(r);
    if (was == RAFT_LEADER)
        raft_note(r, RAFT_NOTE_STEPPED_DOWN, leader, 0,
                  reason ? reason : "saw a higher term");
    if (was != RAFT_FOLLOWER)
        raft_note(r, RAFT_NOTE_BECAME_FOLLOWER, leader, 0, NULL);
}

void raft_become_precandidate(struct raft *r)
{
    r->role = RAFT_PRECANDIDATE;
    raft_set_leader(r, RAFT_NONE);
    raft_reset_election_timer(r);
    for (unsigned i = 0; i < r->n_prs; i++)
        r->prs[i].vote_responded = r->prs[i].vote_granted = false;
}

bool raft_heed_leader(struct raft *r, const struct raft_msg *m)
{
    if (r->role == RAFT_LEADER)
        return false;
    if (r->role != RAFT_FOLLOWER)
        raft_become_follower(r, m->term, m->from, NULL);
    raft_set_leader(r, m->from);
    r->last_leader_contact = r->now;
    raft_reset_election_timer(r);
    return true;
}

void raft_note_divergence(struct raft *r, const struct raft_msg *m,
                          raft_index index, raft_term ours, raft_term theirs,
                          const char *what)
{
    /* Only an entry we know, that we know to be committed, that m gives
     * another term is evidence (raft.h, "Divergence"). */
    assert(index >= 1 && index <= r->commit);
    assert(ours != 0 && ours == raftlog_term_at(&r->log, index));
    assert(ours != theirs && m->term >= r->term);
    if (!r->diverged.refused)
        r->diverged = (struct raft_divergence){
            .index = index,
            .entry_term = ours,
            .peer_entry_term = theirs,
            .peer = m->from,
            .msg_term = m->term,
            .what = what,
        };
    r->diverged.refused++;
    struct raft_note *n = raft_note(r, RAFT_NOTE_DIVERGED, m->from, index, what);
    if (n) {
        n->entry_term = ours;
        n->peer_entry_term = theirs;
    }
}

bool raft_diverged(const struct raft *r, struct raft_divergence *first)
{
    if (first)
        *first = r->diverged;
    return r->diverged.refused != 0;
}

void raft_become_candidate(struct raft *r)
{
    set_term(r, r->term + 1);
    r->vote = r->cfg.id;
    r->role = RAFT_CANDIDATE;
    raft_set_leader(r, RAFT_NONE);
    raft_reset_election_timer(r);
    for (unsigned i = 0; i < r->n_prs; i++)
        r->prs[i].vote_responded = r->prs[i].vote_granted = false;
    raft_note(r, RAFT_NOTE_BECAME_CANDIDATE, 0, 0, NULL);
}

void raft_become_leader(struct raft *r)
{
    r->role = RAFT_LEADER;
    raft_set_leader(r, r->cfg.id);
    r->seq = 1; /* 0 marks answers to messages of an older term */
    r->commit_notify_at = 0;
    r->transfer_target = RAFT_NONE;
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        progress_reset(pr, raftlog_last_index(&r->log));
        pr->recent_active = pr->id == r->cfg.id;
        pr->last_heard = r->now; /* as good as it gets, for a new leader */
        if (!pr->voter)
            membership_start_round(r, pr);
    }
    r->quorum_deadline = r->now + r->cfg.election_timeout_min_ms;
    r->heartbeat_deadline = r->now + r->cfg.heartbeat_ms;
    raft_note(r, RAFT_NOTE_BECAME_LEADER, 0, 0, NULL);
    /* A no-op entry of the new term lets the leader commit (paper 5.4.2)
     * and learn its commit index for ReadIndex (paper 8, diss. 6.4). */
    replication_append_local(r, RAFT_ENTRY_NOOP, NULL, 0, NULL);
    /* Tell the followers at once rather than at the first heartbeat. */
    replication_broadcast(r);
}

void raft_tick(struct raft *r, raft_time now)
{
    if (now > r->now)
        r->now = now;
    if (r->role == RAFT_LEADER) {
        replication_tick(r);
        if (r->role == RAFT_LEADER)
            transfer_tick(r);
    } else {
        election_tick(r);
    }
}

raft_time raft_deadline(const struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return r->election_deadline;
    raft_time t = r->heartbeat_deadline;
    if (r->cfg.check_quorum && r->quorum_deadline < t)
        t = r->quorum_deadline;
    if (r->transfer_target && r->transfer_deadline < t)
        t = r->transfer_deadline;
    if (r->commit_notify_at && r->commit_notify_at < t)
        t = r->commit_notify_at;
    return t;
}

/* Requests are handled whoever sends them (dissertation 4.1: servers
 * process RPCs without consulting their configuration): a leader this node
 * does not know yet, added while its log lagged, must still reach it, or it
 * never learns of the configuration that made that leader. Votes are then
 * given to members only (election.c). Answers count only from members. */
static bool msg_valid(const struct raft *r, const struct raft_msg *m)
{
    if (m->to != r->cfg.id || m->from == r->cfg.id || m->from == RAFT_NONE)
        return false;
    if ((m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_APPEND_RESP) &&
        !raft_progress((struct raft *)r, m->from))
        return false;
    if (m->type == RAFT_MSG_APPEND) {
        if (m->n_entries && !m->entries)
            return false;
        if (m->prev_index + m->n_entries < m->prev_index)
            return false; /* overflow */
        for (size_t i = 0; i < m->n_entries; i++)
            if (m->entries[i].len && !m->entries[i].data)
                return false;
    }
    if (m->type == RAFT_MSG_SNAPSHOT &&
        (m->snapshot_index == 0 || m->snapshot_term == 0))
        return false;
    return m->type >= RAFT_MSG_VOTE && m->type <= RAFT_MSG_SNAPSHOT;
}

int raft_receive(struct raft *r, raft_time now, const struct raft_msg *m)
{
    if (now > r->now)
        r->now = now;
    if (!msg_valid(r, m))
        return RAFT_EINVAL;

    /* Votes handle terms themselves: pre-votes must not change our term,
     * and leader stickiness may ignore a higher term (diss. 4.2.3). */
    if (m->type == RAFT_MSG_VOTE) {
        election_recv_vote(r, m);
        return 0;
    }
    if (m->type == RAFT_MSG_VOTE_RESP) {
        election_recv_vote_resp(r, m);
        return 0;
    }
    /* Defence in depth (raft.h, "Divergence"): a message that contradicts
     * a committed entry is refused before it may change our term, leader
     * or timers. Older terms are left to the stale-term answers below. */
    if (m->term >= r->term &&
        ((m->type == RAFT_MSG_APPEND && replication_refuse_divergent(r, m)) ||
         (m->type == RAFT_MSG_SNAPSHOT && snapshot_refuse_divergent(r, m))))
        return 0;

    if (m->term > r->term) {
        raft_id leader = m->type == RAFT_MSG_APPEND ||
                                 m->type == RAFT_MSG_SNAPSHOT
                             ? m->from
                             : RAFT_NONE;
        /* the transfer target answering in its new term: it took over */
        if (r->role == RAFT_LEADER && r->transfer_target == m->from)
            transfer_end(r, RAFT_NOTE_TRANSFER_DONE);
        raft_become_follower(r, m->term, leader, NULL);
    }
    switch (m->type) {
    case RAFT_MSG_APPEND:
        replication_recv_append(r, m);
        break;
    case RAFT_MSG_APPEND_RESP:
        replication_recv_append_resp(r, m);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        transfer_recv_timeout_now(r, m);
        break;
    case RAFT_MSG_SNAPSHOT:
        snapshot_recv(r, m);
        break;
    default:
        break;
    }
    return 0;
}

int leader_may_act(struct raft *r, raft_time now)
{
    if (now > r->now)
        r->now = now;
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    return r->transfer_target ? RAFT_ETRANSFER : 0;
}

int raft_propose(struct raft *r, raft_time now, const void *data, size_t len,
                 raft_index *index)
{
    int rv = leader_may_act(r, now);
    if (rv < 0)
        return rv;
    if (len > UINT32_MAX || len > r->cfg.max_bytes_per_msg)
        return RAFT_ETOOBIG;
    rv = replication_append_local(r, RAFT_ENTRY_NORMAL, data, len, index);
    if (rv)
        return rv;
    r->broadcast_pending = true;
    return 0;
}

void raft_report_unreachable(struct raft *r, raft_id id)
{
    struct progress *pr = raft_progress(r, id);
    if (r->role != RAFT_LEADER || !pr || id == r->cfg.id)
        return;
    if (pr->state == PROGRESS_SNAPSHOT)
        snapshot_failed(r, pr);
    else if (pr->state == PROGRESS_REPLICATE)
        progress_become_probe(pr);
}

bool raft_has_ready(const struct raft *r)
{
    return r->out.n || r->n_notes || r->n_reads || r->broadcast_pending ||
           r->snapshot_pending ||
           readindex_round_due(r) ||
           r->term != r->saved_term ||
           r->vote != r->saved_vote ||
           raftlog_last_index(&r->log) >= r->unstable_from ||
           r->commit > r->applied ||
           (r->role == RAFT_LEADER && r->commit_notify_at &&
            r->now >= r->commit_notify_at);
}

void raft_ready(struct raft *r, struct raft_ready *rd)
{
    memset(rd, 0, sizeof(*rd));
    if (r->role == RAFT_LEADER && r->broadcast_pending)
        replication_broadcast(r);
    if (r->role == RAFT_LEADER && readindex_round_due(r))
        replication_heartbeat(r);
    if (r->role == RAFT_LEADER)
        replication_send_commit(r);
    r->broadcast_pending = false;

    rd->snapshot_install = r->snapshot_pending;
    if (r->snapshot_pending) {
        rd->snapshot_discard_log = r->snapshot_discard_log;
        rd->snapshot_index = raft_snapshot_index(r);
        rd->snapshot_term = raft_snapshot_term(r);
    }

    rd->hard_state.term = r->term;
    rd->hard_state.vote = r->vote;
    rd->hard_state.commit = r->commit;
    rd->hard_state_changed =
        r->term != r->saved_term || r->vote != r->saved_vote;

    raft_index last = raftlog_last_index(&r->log);
    if (last >= r->unstable_from) {
        rd->entries_first = r->unstable_from;
        rd->n_entries = last - r->unstable_from + 1;
        rd->entries = raftlog_get(&r->log, r->unstable_from);
    }
    r->ready_last = last;

    /* Attach entries to APPEND messages now that the log is settled; drop
     * appends made stale by a role or term change since they were queued. */
    size_t kept = 0;
    for (size_t i = 0; i < r->out.n; i++) {
        struct raft_msg *m = &r->out.msgs[i];
        if (m->type == RAFT_MSG_SNAPSHOT) {
            if (r->role != RAFT_LEADER || m->term != r->term)
                continue;
            m->snapshot_index = raft_snapshot_index(r); /* the newest */
            m->snapshot_term = raft_snapshot_term(r);
        }
        if (m->type == RAFT_MSG_APPEND) {
            if (r->role != RAFT_LEADER || m->term != r->term)
                continue;
            if (m->n_entries && m->prev_index + 1 < r->log.first)
                continue; /* compacted since it was queued: a lost message */
            m->entries = m->n_entries
                             ? (struct raft_entry *)raftlog_get(&r->log,
                                                            m->prev_index + 1)
                             : NULL;
        }
        r->out.msgs[kept++] = *m;
    }
    r->out.n = kept;
    rd->n_msgs = r->out.n;
    rd->msgs = r->out.msgs;

    raft_index upto = r->commit < last ? r->commit : last;
    if (upto > r->applied) {
        rd->committed_first = r->applied + 1;
        rd->n_committed = upto - r->applied;
        rd->committed = raftlog_get(&r->log, r->applied + 1);
    }
    r->ready_applied = upto > r->applied ? upto : r->applied;

    rd->n_reads = r->n_reads;
    rd->reads = r->reads;
    rd->n_notes = r->n_notes;
    rd->notes = r->notes;
}

static void count_self(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    struct progress *self = raft_progress(r, r->cfg.id);
    if (self) { /* not while it leads its own removal (diss. 4.2.2) */
        self->match = r->stable;
        self->next = r->stable + 1;
    }
    replication_maybe_commit(r);
}

static void advance(struct raft *r, const struct raft_ready *rd, bool synced)
{
    r->saved_term = rd->hard_state.term;
    r->saved_vote = rd->hard_state.vote;
    if (rd->n_entries) {
        if (synced)
            r->stable = r->ready_last;
        r->unstable_from = r->ready_last + 1;
    }
    r->applied = r->ready_applied;
    r->snapshot_pending = r->snapshot_discard_log = false;
    r->out.n = 0;
    r->n_notes = 0;
    r->n_reads = 0;
    count_self(r);
}

void raft_advance(struct raft *r, const struct raft_ready *rd)
{
    advance(r, rd, true);
}

void raft_advance_unsynced(struct raft *r, const struct raft_ready *rd)
{
    advance(r, rd, false);
}

void raft_persisted(struct raft *r, raft_index index, raft_term term)
{
    if (index <= r->stable || index >= r->unstable_from ||
        raftlog_term_at(&r->log, index) != term)
        return; /* not handed out yet, or replaced since it was written */
    r->stable = index;
    count_self(r);
}

raft_id raft_self(const struct raft *r) { return r->cfg.id; }
enum raft_role raft_role(const struct raft *r) { return r->role; }
raft_term raft_current_term(const struct raft *r) { return r->term; }
raft_id raft_voted_for(const struct raft *r) { return r->vote; }
raft_id raft_leader(const struct raft *r) { return r->leader; }
raft_index raft_commit_index(const struct raft *r) { return r->commit; }
raft_index raft_applied_index(const struct raft *r) { return r->applied; }
raft_index raft_last_index(const struct raft *r) { return raftlog_last_index(&r->log); }
raft_term raft_last_term(const struct raft *r) { return raftlog_last_term(&r->log); }

raft_term raft_term_at(const struct raft *r, raft_index index)
{
    return raftlog_term_at(&r->log, index);
}

const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index)
{
    return raftlog_get(&r->log, index);
}

raft_index raft_match_index(const struct raft *r, raft_id id)
{
    if (r->role != RAFT_LEADER)
        return 0;
    struct progress *pr = raft_progress((struct raft *)r, id);
    return pr ? pr->match : 0;
}
