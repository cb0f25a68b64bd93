/* test_raft.c - unit tests of the Raft core, one rule per test, driven with
 * injected time, randomness and messages. A tiny in-memory network (struct
 * net) moves messages between cores for the multi-node scenarios. */
#include <stdlib.h>
#include <string.h>

#include "../../src/raft/raft.h"
#include "test.h"

/* ---- injected randomness: a queue of values, then a fixed xorshift
 * sequence (state 0 means: zeros, for fully scripted single-node tests) ---- */
struct rnd {
    uint64_t v[16];
    unsigned n, i;
    uint64_t state;
};
static uint64_t rnd_next(void *arg)
{
    struct rnd *q = arg;
    if (q->i < q->n)
        return q->v[q->i++];
    if (!q->state)
        return 0;
    q->state ^= q->state << 13;
    q->state ^= q->state >> 7;
    q->state ^= q->state << 17;
    return q->state;
}

/* ---- a cluster of cores on a perfect, manually pumped network ---- */
#define MAXN 5
#define MAXQ 4096
struct qmsg {
    struct raft_msg m;
};
struct net {
    unsigned n;
    struct raft *r[MAXN + 1]; /* by id, 1-based */
    struct rnd rnd[MAXN + 1];
    struct raft_hard_state hs[MAXN + 1];
    raft_index applied[MAXN + 1];
    bool cut[MAXN + 1][MAXN + 1]; /* cut[a][b]: a's messages to b are lost */
    struct raft_msg q[MAXQ];
    unsigned nq;
    raft_time now;
    unsigned sent[RAFT_MSG_SNAPSHOT + 1]; /* per message type */
    unsigned appends_to[MAXN + 1];        /* AppendEntries per receiver */
};

static struct raft_config make_cfg(unsigned n, raft_id id, struct rnd *rnd)
{
    struct raft_config cfg = {0};
    raft_config_defaults(&cfg);
    cfg.id = id;
    cfg.n_members = n;
    for (unsigned i = 0; i < n; i++)
        cfg.members[i] = i + 1;
    cfg.heartbeat_ms = 100;
    cfg.election_timeout_min_ms = 1000;
    cfg.election_timeout_max_ms = 2000;
    cfg.random = rnd_next;
    cfg.random_arg = rnd;
    return cfg;
}

static void copy_msg(struct raft_msg *dst, const struct raft_msg *src)
{
    *dst = *src;
    if (src->n_entries) {
        dst->entries = calloc(src->n_entries, sizeof(struct raft_entry));
        for (size_t i = 0; i < src->n_entries; i++) {
            dst->entries[i] = src->entries[i];
            if (src->entries[i].len) {
                dst->entries[i].data = malloc(src->entries[i].len);
                memcpy(dst->entries[i].data, src->entries[i].data,
                       src->entries[i].len);
            }
        }
    }
}

static void free_msg(struct raft_msg *m)
{
    for (size_t i = 0; i < m->n_entries; i++)
        free(m->entries[i].data);
    free(m->entries);
}

/* Process one node's ready: "persist", queue messages, "apply". */
static void net_ready(struct net *net, raft_id id)
{
    struct raft *r = net->r[id];
    while (raft_has_ready(r)) {
        struct raft_ready rd;
        raft_ready(r, &rd);
        if (rd.hard_state_changed)
            net->hs[id] = rd.hard_state;
        if (rd.snapshot_install) /* the host loads the leader's snapshot */
            net->applied[id] = rd.snapshot_index;
        for (size_t i = 0; i < rd.n_msgs; i++) {
            net->sent[rd.msgs[i].type]++;
            if (rd.msgs[i].type == RAFT_MSG_APPEND && rd.msgs[i].to <= MAXN)
                net->appends_to[rd.msgs[i].to]++;
            if (net->cut[id][rd.msgs[i].to] || net->nq == MAXQ)
                continue;
            copy_msg(&net->q[net->nq++], &rd.msgs[i]);
        }
        if (rd.n_committed)
            net->applied[id] = rd.committed_first + rd.n_committed - 1;
        raft_advance(r, &rd);
    }
}

static struct net *net_new(unsigned n)
{
    struct net *net = calloc(1, sizeof(*net));
    net->n = n;
    for (raft_id id = 1; id <= n; id++) {
        net->rnd[id].state = 0x9e3779b97f4a7c15ull * id;
        struct raft_config cfg = make_cfg(n, id, &net->rnd[id]);
        net->r[id] = raft_new(&cfg, NULL);
        raft_start(net->r[id], 0);
    }
    return net;
}

/* Redraw every node's election timer (after scripting net->rnd). */
static void net_restart(struct net *net)
{
    for (raft_id id = 1; id <= net->n; id++)
        raft_start(net->r[id], net->now);
}

static void net_free(struct net *net)
{
    for (unsigned i = 0; i < net->nq; i++)
        free_msg(&net->q[i]);
    for (raft_id id = 1; id <= net->n; id++)
        raft_free(net->r[id]);
    free(net);
}

/* Deliver queued messages (and the messages they cause) until quiet. */
static void net_pump(struct net *net)
{
    for (raft_id id = 1; id <= net->n; id++)
        if (net->r[id])
            net_ready(net, id);
    for (int rounds = 0; net->nq && rounds < 10000; rounds++) {
        struct raft_msg m = net->q[0];
        memmove(&net->q[0], &net->q[1], (net->nq - 1) * sizeof(net->q[0]));
        net->nq--;
        if (net->r[m.to] && !net->cut[m.from][m.to]) {
            raft_receive(net->r[m.to], net->now, &m);
            net_ready(net, m.to);
        }
        free_msg(&m);
    }
}

/* Advance the clock to t, ticking every node at each of its deadlines. */
static void net_run_until(struct net *net, raft_time t)
{
    for (int guard = 0; guard < 100000; guard++) {
        raft_time next = t;
        for (raft_id id = 1; id <= net->n; id++)
            if (net->r[id] && raft_deadline(net->r[id]) < next)
                next = raft_deadline(net->r[id]);
        if (next > t || next < net->now)
            next = next < net->now ? net->now : t;
        net->now = next;
        for (raft_id id = 1; id <= net->n; id++)
            if (net->r[id])
                raft_tick(net->r[id], net->now);
        net_pump(net);
        if (net->now >= t)
            return;
    }
}

static void isolate(struct net *net, raft_id id, bool on)
{
    for (raft_id j = 1; j <= net->n; j++)
        net->cut[id][j] = net->cut[j][id] = on;
}

/* The unique leader with the highest term among live nodes, or NONE. */
static raft_id leader_of(struct net *net)
{
    raft_id found = RAFT_NONE;
    raft_term best = 0;
    for (raft_id id = 1; id <= net->n; id++)
        if (net->r[id] && raft_role(net->r[id]) == RAFT_LEADER &&
            raft_current_term(net->r[id]) >= best) {
            found = id;
            best = raft_current_term(net->r[id]);
        }
    return found;
}

static int propose(struct net *net, raft_id id, const char *s)
{
    raft_index idx;
    int rv = raft_propose(net->r[id], net->now, s, strlen(s), &idx);
    net_pump(net);
    return rv;
}

/* ---- single-node helpers for handcrafted message tests ---- */
struct one {
    struct raft *r;
    struct rnd rnd;
    struct raft_ready rd;
    struct raft_msg out[64];
    unsigned nout;
    struct raft_note notes[64];
    unsigned nnotes;
    bool hs_changed;
    struct raft_hard_state hs;
};

static void one_init(struct one *o, unsigned n, raft_id id)
{
    memset(o, 0, sizeof(*o));
    struct raft_config cfg = make_cfg(n, id, &o->rnd);
    o->r = raft_new(&cfg, NULL);
    raft_start(o->r, 0);
}

/* Drain ready into o->out / o->notes (entry pointers are not kept). */
static void one_drain(struct one *o)
{
    o->nout = o->nnotes = 0;
    o->hs_changed = false;
    while (raft_has_ready(o->r)) {
        raft_ready(o->r, &o->rd);
        if (o->rd.hard_state_changed) {
            o->hs_changed = true;
            o->hs = o->rd.hard_state;
        }
        for (size_t i = 0; i < o->rd.n_msgs && o->nout < 64; i++) {
            o->out[o->nout] = o->rd.msgs[i];
            o->out[o->nout].entries = NULL;
            o->nout++;
        }
        for (size_t i = 0; i < o->rd.n_notes && o->nnotes < 64; i++)
            o->notes[o->nnotes++] = o->rd.notes[i];
        raft_advance(o->r, &o->rd);
    }
}

static bool has_note(const struct one *o, enum raft_note_type t)
{
    for (unsigned i = 0; i < o->nnotes; i++)
        if (o->notes[i].type == t)
            return true;
    return false;
}

static const struct raft_msg *find_msg(const struct one *o,
                                       enum raft_msg_type t, raft_id to)
{
    for (unsigned i = 0; i < o->nout; i++)
        if (o->out[i].type == t && o->out[i].to == to)
            return &o->out[i];
    return NULL;
}

static struct raft_msg vote_req(raft_id from, raft_id to, raft_term term,
                                raft_index li, raft_term lt, bool prevote)
{
    return (struct raft_msg){.type = RAFT_MSG_VOTE, .from = from, .to = to,
                             .term = term, .last_index = li, .last_term = lt,
                             .prevote = prevote};
}

static struct raft_msg vote_resp(raft_id from, raft_id to, raft_term term,
                                 bool granted, bool prevote)
{
    return (struct raft_msg){.type = RAFT_MSG_VOTE_RESP, .from = from,
                             .to = to, .term = term, .granted = granted,
                             .prevote = prevote};
}

/* Make node o (id 1 of 3) leader in term 1 by handing it votes. */
static void one_make_leader(struct one *o)
{
    raft_tick(o->r, 2000);
    one_drain(o);
    struct raft_msg m = vote_resp(2, 1, 1, true, true);
    raft_receive(o->r, 2000, &m);
    one_drain(o);
    m = vote_resp(2, 1, 1, true, false);
    raft_receive(o->r, 2000, &m);
    one_drain(o);
}

/* Node 1 of 3, leader of term 1, with its no-op committed by node 2's
 * acknowledgement at time 2002; *ack is that message, for reuse. */
static void one_committed_leader(struct one *o, struct raft_msg *ack)
{
    one_init(o, 3, 1);
    one_make_leader(o);
    *ack = (struct raft_msg){.type = RAFT_MSG_APPEND_RESP, .seq = 1, .from = 2,
                             .to = 1, .term = 1, .success = true,
                             .match_index = 1};
    raft_receive(o->r, 2002, ack);
    one_drain(o);
}

/* ================= election rules ================= */

TEST(election_timeout_starts_prevote_without_new_term)
{
    struct one o;
    one_init(&o, 3, 1);
    raft_tick(o.r, 999);
    one_drain(&o);
    CHECK_EQ_U(o.nout, 0);
    raft_tick(o.r, 2000);
    one_drain(&o);
    CHECK(has_note(&o, RAFT_NOTE_ELECTION_TIMEOUT));
    CHECK(has_note(&o, RAFT_NOTE_PREVOTE_STARTED));
    CHECK_EQ_U(raft_role(o.r), RAFT_PRECANDIDATE);
    CHECK_EQ_U(raft_current_term(o.r), 0);
    const struct raft_msg *m = find_msg(&o, RAFT_MSG_VOTE, 2);
    CHECK(m && m->prevote && m->term == 1);
    CHECK(find_msg(&o, RAFT_MSG_VOTE, 3) != NULL);
    CHECK(!o.hs_changed);
    raft_free(o.r);
}

/* raft_campaign (fault injection): a real election at once, without
 * pre-vote, flagged like a transfer's so voters set their lease aside. */
TEST(campaign_starts_a_real_election_now_and_not_on_a_leader)
{
    struct one o;
    one_init(&o, 3, 1);
    CHECK_EQ_U(raft_campaign(o.r, 10), 0);
    one_drain(&o);
    CHECK(has_note(&o, RAFT_NOTE_ELECTION_TIMEOUT));
    CHECK(!has_note(&o, RAFT_NOTE_PREVOTE_STARTED));
    CHECK_EQ_U(raft_role(o.r), RAFT_CANDIDATE);
    CHECK_EQ_U(raft_current_term(o.r), 1);
    const struct raft_msg *m = find_msg(&o, RAFT_MSG_VOTE, 2);
    CHECK(m && !m->prevote && m->transfer && m->term == 1);
    raft_free(o.r);

    struct raft_msg ack;
    one_committed_leader(&o, &ack);
    raft_term term = raft_current_term(o.r);
    CHECK_EQ_U(raft_campaign(o.r, 2003), (uint64_t)(int64_t)RAFT_EINVAL);
    CHECK_EQ_U(raft_role(o.r), RAFT_LEADER);
    CHECK_EQ_U(raft_current_term(o.r), term);
    raft_free(o.r);
}

TEST(election_timeout_is_redrawn_on_every_reset)
{
    struct one o;
    memset(&o, 0, sizeof(o));
    o.rnd.v[0] = 250;  /* first timeout: 1000 + 250 */
    o.rnd.v[1] = 1700; /* after it fires: 1000 + 700 */
    o.rnd.n = 2;
    struct raft_config cfg = make_cfg(3, 1, &o.rnd);
    o.r = raft_new(&cfg, NULL);
    raft_start(o.r, 0);
    CHECK_EQ_U(raft_deadline(o.r), 1250);
    raft_tick(o.r, 1249);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_FOLLOWER);
    raft_tick(o.r, 1250);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_PRECANDIDATE);
    CHECK_EQ_U(raft_deadline(o.r), 1250 + 1700);
    raft_free(o.r);
}

TEST(set_timing_applies_at_once_and_refuses_bad_values)
{
    struct one o;
    memset(&o, 0, sizeof(o));
    o.rnd.v[0] = 250; /* first timeout: 1000 + 250 */
    o.rnd.v[1] = 30;  /* after the change at 100: 200 + 30 % 100 */
    o.rnd.n = 2;
    struct raft_config cfg = make_cfg(3, 1, &o.rnd);
    o.r = raft_new(&cfg, NULL);
    raft_start(o.r, 0);
    CHECK_EQ_U(raft_deadline(o.r), 1250);
    /* bad values change nothing */
    CHECK(raft_set_timing(o.r, 100, 0, 200, 300) == RAFT_EINVAL);
    CHECK(raft_set_timing(o.r, 100, 200, 200, 300) == RAFT_EINVAL);
    CHECK(raft_set_timing(o.r, 100, 50, 300, 200) == RAFT_EINVAL);
    CHECK_EQ_U(raft_deadline(o.r), 1250);
    /* a follower draws its timeout from the new range at once */
    CHECK(raft_set_timing(o.r, 100, 50, 200, 300) == 0);
    CHECK_EQ_U(raft_deadline(o.r), 100 + 200 + 30);
    raft_tick(o.r, 329);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_FOLLOWER);
    raft_tick(o.r, 330);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_PRECANDIDATE);
    raft_free(o.r);

    /* a leader sends its next heartbeat within the new period */
    struct raft_msg ack;
    one_committed_leader(&o, &ack);
    raft_tick(o.r, 2004); /* followers learn the commit index */
    one_drain(&o);
    CHECK_EQ_U(raft_deadline(o.r), 2100);
    CHECK(raft_set_timing(o.r, 2010, 20, 400, 800) == 0);
    CHECK_EQ_U(raft_deadline(o.r), 2030);
    raft_tick(o.r, 2030);
    one_drain(&o);
    CHECK(find_msg(&o, RAFT_MSG_APPEND, 2) != NULL);
    CHECK(find_msg(&o, RAFT_MSG_APPEND, 3) != NULL);
    CHECK_EQ_U(raft_deadline(o.r), 2050);
    raft_free(o.r);
}

TEST(prevote_majority_starts_real_election)
{
    struct one o;
    one_init(&o, 3, 1);
    raft_tick(o.r, 2000);
    one_drain(&o);
    struct raft_msg m = vote_resp(2, 1, 1, true, true);
    raft_receive(o.r, 2000, &m);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_CANDIDATE);
    CHECK_EQ_U(raft_current_term(o.r), 1);
    CHECK_EQ_U(raft_voted_for(o.r), 1);
    CHECK(o.hs_changed && o.hs.term == 1 && o.hs.vote == 1);
    const struct raft_msg *v = find_msg(&o, RAFT_MSG_VOTE, 3);
    CHECK(v && !v->prevote && v->term == 1);
    CHECK(has_note(&o, RAFT_NOTE_ELECTION_STARTED));
    raft_free(o.r);
}

TEST(candidate_with_majority_becomes_leader_and_appends_noop)
{
    struct one o;
    one_init(&o, 3, 1);
    one_make_leader(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_LEADER);
    CHECK_EQ_U(raft_leader(o.r), 1);
    CHECK_EQ_U(raft_last_index(o.r), 1);
    CHECK_EQ_U(raft_entry_at(o.r, 1)->type, RAFT_ENTRY_NOOP);
    CHECK(find_msg(&o, RAFT_MSG_APPEND, 2) != NULL);
    CHECK(find_msg(&o, RAFT_MSG_APPEND, 3) != NULL);
    CHECK(has_note(&o, RAFT_NOTE_BECAME_LEADER));
    raft_free(o.r);
}

TEST(one_vote_per_term)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_msg m = vote_req(2, 1, 5, 0, 0, false);
    raft_receive(o.r, 10, &m);
    one_drain(&o);
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_VOTE_RESP, 2);
    CHECK(r && r->granted && r->term == 5);
    CHECK(o.hs_changed && o.hs.vote == 2 && o.hs.term == 5);
    m = vote_req(3, 1, 5, 0, 0, false);
    raft_receive(o.r, 20, &m);
    one_drain(&o);
    r = find_msg(&o, RAFT_MSG_VOTE_RESP, 3);
    CHECK(r && !r->granted);
    CHECK(has_note(&o, RAFT_NOTE_VOTE_DENIED));
    /* the same candidate asking again (a retransmission) is granted again */
    m = vote_req(2, 1, 5, 0, 0, false);
    raft_receive(o.r, 30, &m);
    one_drain(&o);
    r = find_msg(&o, RAFT_MSG_VOTE_RESP, 2);
    CHECK(r && r->granted);
    CHECK_EQ_U(raft_voted_for(o.r), 2);
    raft_free(o.r);
}

TEST(vote_denied_to_candidate_with_stale_log)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[2] = {{.term = 2}, {.term = 3}};
    struct raft_hard_state hs = {.term = 3};
    raft_restore(o.r, &hs, 1, 0, e, 2);
    /* lower last term, longer log: denied */
    struct raft_msg m = vote_req(2, 1, 4, 9, 2, false);
    raft_receive(o.r, 10, &m);
    one_drain(&o);
    CHECK(!find_msg(&o, RAFT_MSG_VOTE_RESP, 2)->granted);
    CHECK_EQ_U(raft_current_term(o.r), 4); /* term still adopted */
    /* same last term, shorter log: denied */
    m = vote_req(3, 1, 5, 1, 3, false);
    raft_receive(o.r, 20, &m);
    one_drain(&o);
    CHECK(!find_msg(&o, RAFT_MSG_VOTE_RESP, 3)->granted);
    /* same last term, same length: granted */
    m = vote_req(3, 1, 6, 2, 3, false);
    raft_receive(o.r, 30, &m);
    one_drain(&o);
    CHECK(find_msg(&o, RAFT_MSG_VOTE_RESP, 3)->granted);
    raft_free(o.r);
}

TEST(leader_steps_down_on_higher_term)
{
    struct one o;
    one_init(&o, 3, 1);
    one_make_leader(&o);
    struct raft_msg m = {.type = RAFT_MSG_APPEND_RESP, .seq = 1, .from = 2, .to = 1,
                         .term = 7};
    raft_receive(o.r, 2100, &m);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_FOLLOWER);
    CHECK_EQ_U(raft_current_term(o.r), 7);
    CHECK_EQ_U(raft_voted_for(o.r), RAFT_NONE);
    CHECK(has_note(&o, RAFT_NOTE_STEPPED_DOWN));
    CHECK(o.hs_changed && o.hs.term == 7);
    raft_free(o.r);
}

TEST(candidate_retries_after_timeout)
{
    struct one o;
    one_init(&o, 3, 1);
    raft_tick(o.r, 2000);
    one_drain(&o);
    struct raft_msg m = vote_resp(2, 1, 1, true, true);
    raft_receive(o.r, 2000, &m);
    one_drain(&o);
    CHECK_EQ_U(raft_current_term(o.r), 1);
    /* nobody answers: next timeout starts a new pre-vote then term 2 */
    raft_tick(o.r, raft_deadline(o.r));
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_PRECANDIDATE);
    m = vote_resp(3, 1, 2, true, true);
    raft_receive(o.r, raft_deadline(o.r) - 1, &m);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_CANDIDATE);
    CHECK_EQ_U(raft_current_term(o.r), 2);
    raft_free(o.r);
}

TEST(prevote_does_not_change_voter_state)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_msg m = vote_req(2, 1, 9, 0, 0, true);
    raft_receive(o.r, 10, &m);
    one_drain(&o);
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_VOTE_RESP, 2);
    CHECK(r && r->granted && r->prevote && r->term == 9);
    CHECK_EQ_U(raft_current_term(o.r), 0);
    CHECK_EQ_U(raft_voted_for(o.r), RAFT_NONE);
    CHECK(!o.hs_changed);
    raft_free(o.r);
}

TEST(follower_in_leader_lease_ignores_higher_term_votes)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_msg hb = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1,
                          .term = 3};
    raft_receive(o.r, 100, &hb);
    one_drain(&o);
    CHECK_EQ_U(raft_leader(o.r), 2);
    struct raft_msg m = vote_req(3, 1, 4, 10, 3, false);
    raft_receive(o.r, 500, &m);
    one_drain(&o);
    CHECK(!find_msg(&o, RAFT_MSG_VOTE_RESP, 3)->granted);
    CHECK_EQ_U(raft_current_term(o.r), 3);
    /* after the lease (min election timeout) expires it votes */
    raft_receive(o.r, 1200, &m);
    one_drain(&o);
    CHECK(find_msg(&o, RAFT_MSG_VOTE_RESP, 3)->granted);
    CHECK_EQ_U(raft_current_term(o.r), 4);
    /* a transfer election bypasses the lease */
    raft_receive(o.r, 1300, &hb); /* stale-term heartbeat: no lease */
    struct raft_msg hb5 = hb;
    hb5.term = 5;
    raft_receive(o.r, 1300, &hb5);
    m = vote_req(3, 1, 6, 10, 3, false);
    m.transfer = true;
    raft_receive(o.r, 1310, &m);
    one_drain(&o);
    CHECK(find_msg(&o, RAFT_MSG_VOTE_RESP, 3)->granted);
    raft_free(o.r);
}

/* fast_first_election: the first timeout after raft_start falls in
 * [heartbeat, 2 * heartbeat); later ones in [min, max) as always; and only
 * with pre-vote and check-quorum on. */
TEST(fast_first_election_fires_within_two_heartbeats_once)
{
    for (unsigned trial = 0; trial < 20; trial++) {
        struct one o;
        memset(&o, 0, sizeof(o));
        o.rnd.state = trial * 7919 + 1;
        struct raft_config cfg = make_cfg(3, 1, &o.rnd);
        cfg.fast_first_election = true;
        o.r = raft_new(&cfg, NULL);
        raft_start(o.r, 0);
        raft_time d = raft_deadline(o.r);
        CHECK(d >= 100 && d < 200);
        raft_tick(o.r, d - 1);
        one_drain(&o);
        CHECK_EQ_U(raft_role(o.r), RAFT_FOLLOWER);
        raft_tick(o.r, d);
        one_drain(&o);
        CHECK_EQ_U(raft_role(o.r), RAFT_PRECANDIDATE);
        CHECK_EQ_U(raft_current_term(o.r), 0);
        /* the pre-vote fails: the next try is a whole timeout later */
        raft_time next = raft_deadline(o.r);
        CHECK(next >= d + 1000 && next < d + 2000);
        raft_free(o.r);
    }
    struct one o;
    memset(&o, 0, sizeof(o));
    struct raft_config cfg = make_cfg(3, 1, &o.rnd);
    cfg.fast_first_election = true;
    cfg.check_quorum = false; /* without the lease it could disrupt */
    o.r = raft_new(&cfg, NULL);
    raft_start(o.r, 0);
    CHECK(raft_deadline(o.r) >= 1000);
    raft_free(o.r);
}

/* A node started into a running cluster with fast_first_election asks for
 * pre-votes that a follower hearing the leader refuses: nothing changes. */
TEST(fast_first_election_does_not_disrupt_a_leader)
{
    struct one o;
    one_init(&o, 3, 2); /* a follower of leader 1 */
    struct raft_msg hb = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2,
                          .term = 3};
    raft_receive(o.r, 100, &hb);
    one_drain(&o);
    struct raft_msg m = vote_req(3, 2, 4, 0, 0, true); /* pre-vote */
    raft_receive(o.r, 150, &m);
    one_drain(&o);
    const struct raft_msg *resp = find_msg(&o, RAFT_MSG_VOTE_RESP, 3);
    CHECK(resp && !resp->granted);
    CHECK_EQ_U(raft_current_term(o.r), 3);
    CHECK_EQ_U(raft_leader(o.r), 1);
    raft_free(o.r);
}

/* raft_leader_gone: the lease is set aside and the timer fires within a
 * heartbeat; only a follower of that leader takes it. */
TEST(leader_gone_drops_the_lease_and_elects_within_a_heartbeat)
{
    struct one o;
    one_init(&o, 3, 2);
    struct raft_msg hb = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2,
                          .term = 3};
    raft_receive(o.r, 100, &hb);
    one_drain(&o);
    CHECK_EQ_U(raft_leader_contact(o.r), 100);
    /* not its leader, or no such leader: nothing happens */
    CHECK_EQ_U(raft_leader_gone(o.r, 150, 3, "test"),
               (uint64_t)(int64_t)RAFT_EINVAL);
    CHECK_EQ_U(raft_leader_gone(o.r, 150, RAFT_NONE, "test"),
               (uint64_t)(int64_t)RAFT_EINVAL);
    CHECK_EQ_U(raft_leader(o.r), 1);
    /* in the lease, a vote request is refused */
    struct raft_msg m = vote_req(3, 2, 4, 0, 0, true);
    raft_receive(o.r, 200, &m);
    one_drain(&o);
    CHECK(!find_msg(&o, RAFT_MSG_VOTE_RESP, 3)->granted);

    CHECK_EQ_U(raft_leader_gone(o.r, 250, 1, "connection refused"), 0);
    one_drain(&o);
    CHECK(has_note(&o, RAFT_NOTE_LEADER_GONE));
    CHECK_EQ_U(raft_leader(o.r), RAFT_NONE);
    CHECK_EQ_U(raft_leader_contact(o.r), 0);
    CHECK_EQ_U(raft_current_term(o.r), 3); /* only timing changed */
    raft_time d = raft_deadline(o.r);
    CHECK(d >= 250 && d < 350);
    /* the lease is gone: the same pre-vote is granted now */
    raft_receive(o.r, 260, &m);
    one_drain(&o);
    CHECK(find_msg(&o, RAFT_MSG_VOTE_RESP, 3)->granted);
    /* and its own timer starts a pre-vote */
    raft_tick(o.r, d);
    one_drain(&o);
    CHECK(has_note(&o, RAFT_NOTE_PREVOTE_STARTED));
    /* a second report changes nothing: it has no leader now */
    CHECK_EQ_U(raft_leader_gone(o.r, d + 1, 1, "again"),
               (uint64_t)(int64_t)RAFT_EINVAL);
    raft_free(o.r);

    /* a leader is never told its own death */
    struct raft_msg ack;
    one_committed_leader(&o, &ack);
    CHECK_EQ_U(raft_leader_gone(o.r, 3000, 1, "test"),
               (uint64_t)(int64_t)RAFT_EINVAL);
    CHECK_EQ_U(raft_role(o.r), RAFT_LEADER);
    raft_free(o.r);
}

TEST(check_quorum_leader_steps_down_alone)
{
    struct one o;
    one_init(&o, 3, 1);
    one_make_leader(&o);
    raft_tick(o.r, 2000 + 999);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_LEADER);
    raft_tick(o.r, 2000 + 1000);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_FOLLOWER);
    CHECK(has_note(&o, RAFT_NOTE_STEPPED_DOWN));
    CHECK_EQ_U(raft_leader(o.r), RAFT_NONE);
    raft_free(o.r);
}

TEST(check_quorum_leader_stays_with_majority)
{
    struct one o;
    one_init(&o, 3, 1);
    one_make_leader(&o);
    for (raft_time t = 2100; t <= 5000; t += 100) {
        raft_tick(o.r, t);
        one_drain(&o);
        struct raft_msg ack = {.type = RAFT_MSG_APPEND_RESP, .seq = 1, .from = 2,
                               .to = 1, .term = 1, .success = true,
                               .match_index = 1};
        raft_receive(o.r, t, &ack);
        one_drain(&o);
    }
    CHECK_EQ_U(raft_role(o.r), RAFT_LEADER);
    raft_free(o.r);
}

TEST(hard_state_is_reported_with_the_vote_it_guards)
{
    /* the grant goes out in the same ready that carries the new vote, so a
     * caller that persists before sending never forgets a vote */
    struct one o;
    one_init(&o, 3, 1);
    struct raft_msg m = vote_req(2, 1, 1, 0, 0, false);
    raft_receive(o.r, 10, &m);
    CHECK(raft_has_ready(o.r));
    struct raft_ready rd;
    raft_ready(o.r, &rd);
    CHECK(rd.hard_state_changed);
    CHECK_EQ_U(rd.hard_state.vote, 2);
    CHECK_EQ_U(rd.n_msgs, 1);
    CHECK(rd.msgs[0].granted);
    raft_advance(o.r, &rd);
    CHECK(!raft_has_ready(o.r));
    raft_free(o.r);
}

TEST(responses_carry_the_request_ctx)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_msg m = vote_req(2, 1, 1, 0, 0, false);
    m.ctx = 1234;
    raft_receive(o.r, 10, &m);
    struct raft_msg ae = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1,
                          .term = 1, .ctx = 99};
    raft_receive(o.r, 20, &ae);
    one_drain(&o);
    CHECK_EQ_U(find_msg(&o, RAFT_MSG_VOTE_RESP, 2)->ctx, 1234);
    CHECK_EQ_U(find_msg(&o, RAFT_MSG_APPEND_RESP, 2)->ctx, 99);
    raft_free(o.r);
}

TEST(answers_to_older_terms_do_not_count_as_acks)
{
    /* Node 3 answers an AppendEntries from our earlier term with its
     * (newer) term, which is our current term by the time it arrives: it
     * must not confirm a ReadIndex round or count as replication. */
    struct one o;
    one_init(&o, 3, 1);
    struct raft_msg old = {.type = RAFT_MSG_APPEND, .from = 3, .to = 1,
                           .term = 1, .seq = 7};
    struct raft_msg bump = vote_req(2, 1, 2, 0, 0, false);
    raft_receive(o.r, 10, &bump);
    raft_receive(o.r, 20, &old); /* we are in term 2: old is stale */
    one_drain(&o);
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_APPEND_RESP, 3);
    CHECK(r && !r->success && r->term == 2);
    CHECK_EQ_U(r->seq, 0); /* not an answer to any current-term round */
    raft_free(o.r);

    one_init(&o, 3, 1);
    one_make_leader(&o); /* term 1 */
    struct raft_msg ack = {.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1,
                           .term = 1, .seq = 1, .success = true,
                           .match_index = 1};
    raft_receive(o.r, 2002, &ack);
    one_drain(&o);
    CHECK_EQ_U(raft_read_index(o.r, 2003, 5), 0);
    one_drain(&o);
    struct raft_msg stale = {.type = RAFT_MSG_APPEND_RESP, .from = 3, .to = 1,
                             .term = 1, .seq = 0, .prev_index = 1,
                             .hint_index = 1};
    raft_receive(o.r, 2004, &stale);
    struct raft_ready rd;
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.n_reads, 0);
    raft_advance(o.r, &rd);
    raft_free(o.r);
}

TEST(stale_term_messages_are_rejected_with_our_term)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_msg m = vote_req(2, 1, 5, 0, 0, false);
    raft_receive(o.r, 10, &m);
    one_drain(&o);
    struct raft_msg ae = {.type = RAFT_MSG_APPEND, .from = 3, .to = 1,
                          .term = 4};
    raft_receive(o.r, 20, &ae);
    one_drain(&o);
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_APPEND_RESP, 3);
    CHECK(r && !r->success && r->term == 5);
    CHECK_EQ_U(raft_leader(o.r), RAFT_NONE);
    raft_free(o.r);
}

TEST(invalid_messages_are_ignored)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_msg m = vote_resp(9, 1, 5, true, false); /* not a member */
    CHECK(raft_receive(o.r, 10, &m) == RAFT_EINVAL);
    m = vote_req(2, 3, 5, 0, 0, false); /* not for us */
    CHECK(raft_receive(o.r, 10, &m) == RAFT_EINVAL);
    struct raft_msg ae = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1,
                          .term = 1, .n_entries = 3, .entries = NULL};
    CHECK(raft_receive(o.r, 10, &ae) == RAFT_EINVAL);
    struct raft_msg bad = {.type = 99, .from = 2, .to = 1, .term = 1};
    CHECK(raft_receive(o.r, 10, &bad) == RAFT_EINVAL);
    one_drain(&o);
    CHECK_EQ_U(raft_current_term(o.r), 0);
    raft_free(o.r);
}

/* ================= clusters ================= */

TEST(three_nodes_elect_one_leader)
{
    struct net *net = net_new(3);
    net->rnd[1].v[0] = 100; net->rnd[1].n = 1; /* node 1 times out first */
    net->rnd[2].v[0] = 900; net->rnd[2].n = 1;
    net->rnd[3].v[0] = 950; net->rnd[3].n = 1;
    net_restart(net);
    net_run_until(net, 1200);
    CHECK_EQ_U(leader_of(net), 1);
    unsigned leaders = 0;
    for (raft_id id = 1; id <= 3; id++) {
        leaders += raft_role(net->r[id]) == RAFT_LEADER;
        CHECK_EQ_U(raft_current_term(net->r[id]), 1);
        CHECK_EQ_U(raft_leader(net->r[id]), 1);
    }
    CHECK_EQ_U(leaders, 1);
    net_free(net);
}

TEST(single_node_elects_itself_and_commits)
{
    struct net *net = net_new(1);
    net_run_until(net, 2100);
    CHECK_EQ_U(raft_role(net->r[1]), RAFT_LEADER);
    CHECK_EQ_U(propose(net, 1, "x"), 0);
    CHECK_EQ_U(raft_commit_index(net->r[1]), 2);
    CHECK_EQ_U(net->applied[1], 2);
    net_free(net);
}

/* A restarted single-node cluster leads at its first tick, not an election
 * timeout later (issue 13); a member of a larger cluster still waits to
 * hear from a leader. */
TEST(sole_voter_campaigns_at_first_tick)
{
    struct one o;
    one_init(&o, 1, 1);
    raft_tick(o.r, 0);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_LEADER);
    raft_free(o.r);
    one_init(&o, 3, 1);
    raft_tick(o.r, 0);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_FOLLOWER);
    raft_free(o.r);
}

TEST(isolated_node_rejoins_without_disrupting_leader)
{
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    CHECK(l != RAFT_NONE);
    raft_term t = raft_current_term(net->r[l]);
    raft_id victim = l == 3 ? 2 : 3;
    isolate(net, victim, true);
    net_run_until(net, 20000); /* many election timeouts alone */
    CHECK_EQ_U(raft_current_term(net->r[victim]), t); /* pre-vote: no bump */
    isolate(net, victim, false);
    net_run_until(net, 23000);
    CHECK_EQ_U(leader_of(net), l);
    CHECK_EQ_U(raft_current_term(net->r[l]), t);
    CHECK_EQ_U(raft_leader(net->r[victim]), l);
    net_free(net);
}

TEST(without_prevote_isolated_node_inflates_term)
{
    /* the control experiment for the test above */
    struct net *net = calloc(1, sizeof(*net));
    net->n = 3;
    for (raft_id id = 1; id <= 3; id++) {
        net->rnd[id].state = 0x9e3779b97f4a7c15ull * id;
        struct raft_config cfg = make_cfg(3, id, &net->rnd[id]);
        cfg.prevote = false;
        net->r[id] = raft_new(&cfg, NULL);
        raft_start(net->r[id], 0);
    }
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    raft_term t = raft_current_term(net->r[l]);
    raft_id victim = l == 3 ? 2 : 3;
    isolate(net, victim, true);
    net_run_until(net, 20000);
    CHECK(raft_current_term(net->r[victim]) > t);
    net_free(net);
}

TEST(minority_never_elects_leader)
{
    struct net *net = net_new(5);
    isolate(net, 1, true);
    isolate(net, 2, true);
    isolate(net, 3, true);
    /* 4 and 5 can talk to each other only */
    net->cut[4][5] = net->cut[5][4] = false;
    net_run_until(net, 30000);
    for (raft_id id = 1; id <= 5; id++)
        CHECK(raft_role(net->r[id]) != RAFT_LEADER);
    net_free(net);
}

TEST(new_leader_after_leader_isolated)
{
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id old = leader_of(net);
    raft_term t = raft_current_term(net->r[old]);
    isolate(net, old, true);
    net_run_until(net, 8000);
    CHECK(raft_role(net->r[old]) != RAFT_LEADER); /* check-quorum */
    raft_id nl = RAFT_NONE;
    for (raft_id id = 1; id <= 3; id++)
        if (id != old && raft_role(net->r[id]) == RAFT_LEADER)
            nl = id;
    CHECK(nl != RAFT_NONE);
    CHECK(raft_current_term(net->r[nl]) > t);
    isolate(net, old, false);
    net_run_until(net, 10000);
    CHECK_EQ_U(raft_leader(net->r[old]), nl);
    net_free(net);
}

/* ================= replication rules ================= */

TEST(replication_commits_on_majority_and_applies_everywhere)
{
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    CHECK_EQ_U(propose(net, l, "a"), 0);
    CHECK_EQ_U(propose(net, l, "b"), 0);
    CHECK_EQ_U(raft_commit_index(net->r[l]), 3);
    net_run_until(net, 2700); /* heartbeat carries the commit index */
    for (raft_id id = 1; id <= 3; id++) {
        CHECK_EQ_U(raft_last_index(net->r[id]), 3);
        CHECK_EQ_U(net->applied[id], 3);
        CHECK(memcmp(raft_entry_at(net->r[id], 3)->data, "b", 1) == 0);
    }
    net_free(net);
}

TEST(followers_learn_commit_without_waiting_for_heartbeat)
{
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    raft_time t = net->now;
    unsigned beats = net->sent[RAFT_MSG_APPEND];
    CHECK_EQ_U(propose(net, l, "a"), 0);
    CHECK_EQ_U(raft_commit_index(net->r[l]), raft_last_index(net->r[l]));
    /* one empty AppendEntries per follower after commit_notify_ms (2), long
     * before the next heartbeat (100) */
    net_run_until(net, t + 2);
    for (raft_id id = 1; id <= 3; id++) {
        CHECK_EQ_U(raft_commit_index(net->r[id]), raft_commit_index(net->r[l]));
        CHECK_EQ_U(net->applied[id], raft_last_index(net->r[l]));
    }
    CHECK_EQ_U(net->sent[RAFT_MSG_APPEND], beats + 2 + 2);
    /* and no endless chatter: the network goes quiet */
    unsigned sent = net->sent[RAFT_MSG_APPEND];
    net_pump(net);
    CHECK_EQ_U(net->sent[RAFT_MSG_APPEND], sent);
    net_free(net);
}

TEST(commit_notification_rides_on_the_next_entries)
{
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    unsigned sent = net->sent[RAFT_MSG_APPEND];
    CHECK_EQ_U(propose(net, l, "a"), 0); /* 2 AppendEntries */
    CHECK_EQ_U(propose(net, l, "b"), 0); /* 2 more, telling a's commit */
    CHECK_EQ_U(net->sent[RAFT_MSG_APPEND], sent + 4);
    raft_id f = l == 1 ? 2 : 1;
    CHECK_EQ_U(raft_commit_index(net->r[f]), raft_last_index(net->r[l]) - 1);
    net_free(net);
}

TEST(follower_learns_commit_of_an_entry_it_has)
{
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    raft_id f = l == 1 ? 2 : 1;
    raft_time t = net->now;
    CHECK_EQ_U(propose(net, l, "a"), 0);
    raft_index i = raft_last_index(net->r[l]);
    raft_term term = raft_term_at(net->r[l], i);
    CHECK_EQ_U(raft_commit_index(net->r[f]), i - 1); /* not told yet */
    CHECK(!raft_learn_commit(net->r[f], i, term + 1)); /* not our entry */
    CHECK(!raft_learn_commit(net->r[f], i + 1, term)); /* not in our log */
    CHECK(!raft_learn_commit(net->r[l], i, term));     /* leaders know */
    CHECK(raft_learn_commit(net->r[f], i, term));
    CHECK_EQ_U(raft_commit_index(net->r[f]), i);
    net_ready(net, f);
    CHECK_EQ_U(net->applied[f], i);
    CHECK(!raft_learn_commit(net->r[f], i - 1, raft_term_at(net->r[f], i - 1)));
    CHECK_EQ_U(net->now, t);
    net_free(net);
}

TEST(follower_rejects_append_without_matching_prev_and_hints)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[3] = {{.term = 1}, {.term = 2}, {.term = 2}};
    struct raft_hard_state hs = {.term = 2};
    raft_restore(o.r, &hs, 1, 0, e, 3);
    /* prev beyond our log: hint is our length + 1 */
    struct raft_msg ae = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1,
                          .term = 3, .prev_index = 7, .prev_term = 3};
    raft_receive(o.r, 10, &ae);
    one_drain(&o);
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_APPEND_RESP, 2);
    CHECK(r && !r->success);
    CHECK_EQ_U(r->hint_term, 0);
    CHECK_EQ_U(r->hint_index, 4);
    /* prev term mismatch: hint is the term there and its first index */
    ae.prev_index = 3;
    ae.prev_term = 3;
    raft_receive(o.r, 20, &ae);
    one_drain(&o);
    r = find_msg(&o, RAFT_MSG_APPEND_RESP, 2);
    CHECK(r && !r->success);
    CHECK_EQ_U(r->hint_term, 2);
    CHECK_EQ_U(r->hint_index, 2);
    CHECK_EQ_U(r->prev_index, 3);
    raft_free(o.r);
}

TEST(follower_truncates_conflicting_suffix_only)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[3] = {{.term = 1}, {.term = 2}, {.term = 2}};
    struct raft_hard_state hs = {.term = 2};
    raft_restore(o.r, &hs, 1, 0, e, 3);
    struct raft_entry ne[2] = {{.term = 2}, {.term = 3}};
    struct raft_msg ae = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1,
                          .term = 3, .prev_index = 1, .prev_term = 1,
                          .n_entries = 2, .entries = ne};
    raft_receive(o.r, 10, &ae);
    /* the ready asks storage to rewrite from index 3 */
    struct raft_ready rd;
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.entries_first, 3);
    CHECK_EQ_U(rd.n_entries, 1);
    raft_advance(o.r, &rd);
    CHECK_EQ_U(raft_last_index(o.r), 3);
    CHECK_EQ_U(raft_term_at(o.r, 2), 2);
    CHECK_EQ_U(raft_term_at(o.r, 3), 3);
    /* a stale, shorter AppendEntries does not truncate matching entries */
    ae.n_entries = 1;
    raft_receive(o.r, 20, &ae);
    one_drain(&o);
    CHECK_EQ_U(raft_last_index(o.r), 3);
    CHECK(!has_note(&o, RAFT_NOTE_LOG_TRUNCATED));
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_APPEND_RESP, 2);
    CHECK(r && r->success && r->match_index == 2);
    raft_free(o.r);
}

TEST(follower_commit_is_bounded_by_last_new_entry)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[3] = {{.term = 1}, {.term = 1}, {.term = 1}};
    struct raft_hard_state hs = {.term = 1};
    raft_restore(o.r, &hs, 1, 0, e, 3);
    /* leader commit 10, but only index 1 is known to match */
    struct raft_msg ae = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1,
                          .term = 2, .prev_index = 1, .prev_term = 1,
                          .commit = 10};
    raft_receive(o.r, 10, &ae);
    one_drain(&o);
    CHECK_EQ_U(raft_commit_index(o.r), 1);
    raft_free(o.r);
}

TEST(figure8_old_term_entry_not_committed_by_counting)
{
    /* Leader in term 4 holds an entry of term 2 at index 2 that is now on
     * a majority; it must not commit it until an entry of term 4 is. */
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[2] = {{.term = 1}, {.term = 2}};
    struct raft_hard_state hs = {.term = 3, .commit = 1};
    raft_restore(o.r, &hs, 1, 0, e, 2);
    raft_tick(o.r, 2000);
    one_drain(&o);
    struct raft_msg m = vote_resp(2, 1, 4, true, true);
    raft_receive(o.r, 2000, &m);
    one_drain(&o);
    m = vote_resp(2, 1, 4, true, false);
    raft_receive(o.r, 2000, &m);
    one_drain(&o);
    CHECK_EQ_U(raft_role(o.r), RAFT_LEADER);
    CHECK_EQ_U(raft_last_index(o.r), 3); /* the no-op of term 4 */
    struct raft_msg ack = {.type = RAFT_MSG_APPEND_RESP, .seq = 1, .from = 2, .to = 1,
                           .term = 4, .success = true, .match_index = 2};
    raft_receive(o.r, 2010, &ack);
    one_drain(&o);
    CHECK_EQ_U(raft_commit_index(o.r), 1);
    ack.match_index = 3;
    raft_receive(o.r, 2020, &ack);
    one_drain(&o);
    CHECK_EQ_U(raft_commit_index(o.r), 3);
    raft_free(o.r);
}

TEST(leader_counts_itself_only_once_durable)
{
    struct one o;
    one_init(&o, 3, 1);
    one_make_leader(&o);
    raft_index idx;
    CHECK_EQ_U(raft_propose(o.r, 2001, "v", 1, &idx), 0);
    /* a follower acks before the leader's own write is done */
    struct raft_ready rd;
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.n_entries, 1);
    struct raft_msg ack = {.type = RAFT_MSG_APPEND_RESP, .seq = 1, .from = 2, .to = 1,
                           .term = 1, .success = true, .match_index = idx};
    /* (must not call in between ready and advance: simulate after) */
    raft_advance(o.r, &rd);
    raft_receive(o.r, 2002, &ack);
    one_drain(&o);
    CHECK_EQ_U(raft_commit_index(o.r), idx);
    raft_free(o.r);
}

TEST(non_leader_refuses_proposals)
{
    struct one o;
    one_init(&o, 3, 1);
    raft_index idx;
    CHECK(raft_propose(o.r, 1, "x", 1, &idx) == RAFT_ENOTLEADER);
    raft_free(o.r);
}

TEST(fast_backoff_over_many_conflicting_entries)
{
    /* Leader 1 (term 5) and follower 2 diverge after index 1 with 50
     * entries each; backing off takes a few round trips, not 50. */
    struct net *net = net_new(3);
    struct raft_entry le[51], fe[51];
    le[0] = fe[0] = (struct raft_entry){.term = 1};
    for (int i = 1; i < 51; i++) {
        le[i] = (struct raft_entry){.term = 4};
        fe[i] = (struct raft_entry){.term = 2 + (i > 25)};
    }
    struct raft_hard_state hs = {.term = 4};
    raft_restore(net->r[1], &hs, 1, 0, le, 51);
    raft_restore(net->r[2], &hs, 1, 0, fe, 51);
    raft_restore(net->r[3], &hs, 1, 0, le, 51);
    net->rnd[1].v[0] = 0; net->rnd[1].n = 1;
    net->rnd[2].v[0] = 999; net->rnd[2].n = 1;
    net->rnd[3].v[0] = 999; net->rnd[3].n = 1;
    net_restart(net);
    net_run_until(net, 1000); /* elected at 1000; no heartbeat yet */
    CHECK_EQ_U(leader_of(net), 1);
    CHECK_EQ_U(raft_term_at(net->r[2], 30), 4);
    CHECK_EQ_U(raft_last_index(net->r[2]), 52);
    /* one probe each, then one step back per conflicting term (2 terms)
     * and the batch that repairs: 5 appends, not 50 */
    fprintf(stderr, "appends sent: %u\n", net->sent[RAFT_MSG_APPEND]);
    CHECK(net->sent[RAFT_MSG_APPEND] <= 6);
    net_free(net);
}

TEST(lagging_follower_catches_up_with_batches)
{
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    raft_id f = l == 3 ? 2 : 3;
    isolate(net, f, true);
    net->cut[l][f] = net->cut[f][l] = true;
    for (int i = 0; i < 300; i++)
        CHECK_EQ_U(propose(net, l, "payload"), 0);
    CHECK_EQ_U(raft_commit_index(net->r[l]), raft_last_index(net->r[l]));
    isolate(net, f, false);
    net_run_until(net, 3000);
    CHECK_EQ_U(raft_last_index(net->r[f]), raft_last_index(net->r[l]));
    CHECK_EQ_U(net->applied[f], raft_last_index(net->r[l]));
    net_free(net);
}

TEST(follower_that_lost_its_log_is_repaired)
{
    /* Its data directory was replaced by an empty one (doc/storage.md's
     * recovery): the leader must not trust the old match index forever. */
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    raft_id f = l == 3 ? 2 : 3;
    for (int i = 0; i < 20; i++)
        propose(net, l, "x");
    CHECK_EQ_U(raft_last_index(net->r[f]), 21);
    raft_free(net->r[f]);
    struct raft_config cfg = make_cfg(3, f, &net->rnd[f]);
    net->r[f] = raft_new(&cfg, NULL);
    raft_start(net->r[f], net->now);
    net_run_until(net, 3000);
    CHECK_EQ_U(leader_of(net), l);
    CHECK_EQ_U(raft_last_index(net->r[f]), raft_last_index(net->r[l]));
    CHECK_EQ_U(raft_match_index(net->r[l], f), raft_last_index(net->r[l]));
    net_free(net);
}

/* ================= snapshots (paper 7, dissertation 5) ================= */

TEST(compaction_frees_entries_and_keeps_the_term)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[5] = {{.term = 1}, {.term = 1}, {.term = 2},
                              {.term = 2}, {.term = 3}};
    struct raft_hard_state hs = {.term = 3, .commit = 5};
    raft_restore(o.r, &hs, 1, 0, e, 5);
    one_drain(&o); /* applies 1..5 */
    CHECK_EQ_U(raft_applied_index(o.r), 5);
    CHECK_EQ_U(raft_compact(o.r, 3), 0);
    CHECK_EQ_U(raft_snapshot_index(o.r), 3);
    CHECK_EQ_U(raft_snapshot_term(o.r), 2);
    CHECK(raft_entry_at(o.r, 3) == NULL);
    CHECK(raft_entry_at(o.r, 4) != NULL);
    CHECK_EQ_U(raft_term_at(o.r, 3), 2); /* the snapshot's term */
    CHECK_EQ_U(raft_last_index(o.r), 5);
    /* older or equal: nothing to do; beyond applied: refused */
    CHECK_EQ_U(raft_compact(o.r, 2), 0);
    CHECK_EQ_U(raft_snapshot_index(o.r), 3);
    CHECK_EQ_U(raft_compact(o.r, 6), RAFT_EINVAL);
    CHECK_EQ_U(raft_compact(o.r, 5), 0);
    CHECK_EQ_U(raft_last_index(o.r), 5);
    CHECK_EQ_U(raft_last_term(o.r), 3);
    raft_free(o.r);
}

TEST(restart_from_snapshot_starts_applied_at_it)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[2] = {{.term = 4}, {.term = 4}};
    struct raft_hard_state hs = {.term = 4, .commit = 11};
    CHECK_EQ_U(raft_restore(o.r, &hs, 11, 3, e, 2), 0);
    CHECK_EQ_U(raft_snapshot_index(o.r), 10);
    CHECK_EQ_U(raft_snapshot_term(o.r), 3);
    CHECK_EQ_U(raft_applied_index(o.r), 10);
    CHECK_EQ_U(raft_commit_index(o.r), 11);
    raft_ready(o.r, &o.rd);
    CHECK_EQ_U(o.rd.committed_first, 11); /* only what follows it */
    CHECK_EQ_U(o.rd.n_committed, 1);
    CHECK(!o.rd.snapshot_install);
    raft_advance(o.r, &o.rd);
    /* a commit hint below the snapshot still starts at the snapshot */
    struct one p;
    one_init(&p, 3, 1);
    hs.commit = 2;
    raft_restore(p.r, &hs, 11, 3, e, 2);
    CHECK_EQ_U(raft_commit_index(p.r), 10);
    raft_free(o.r);
    raft_free(p.r);
}

TEST(leader_sends_snapshot_to_follower_behind_its_first_index)
{
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    raft_id f = l == 3 ? 2 : 3;
    isolate(net, f, true);
    for (int i = 0; i < 30; i++)
        CHECK_EQ_U(propose(net, l, "v"), 0);
    raft_index applied = raft_applied_index(net->r[l]);
    CHECK_EQ_U(raft_compact(net->r[l], applied - 5), 0);
    unsigned snaps = net->sent[RAFT_MSG_SNAPSHOT];
    isolate(net, f, false);
    net_run_until(net, 2600);
    CHECK(net->sent[RAFT_MSG_SNAPSHOT] > snaps);
    CHECK_EQ_U(raft_snapshot_index(net->r[f]), applied - 5);
    CHECK_EQ_U(net->applied[f], raft_last_index(net->r[l]));
    CHECK_EQ_U(raft_last_index(net->r[f]), raft_last_index(net->r[l]));
    CHECK_EQ_U(raft_match_index(net->r[l], f), raft_last_index(net->r[l]));
    CHECK(!raft_sending_snapshot(net->r[l], f));
    net_free(net);
}

TEST(leader_waits_for_the_snapshot_answer_then_resumes)
{
    struct one o;
    one_init(&o, 3, 1);
    one_make_leader(&o); /* term 1, noop at 1 */
    for (int i = 0; i < 5; i++)
        raft_propose(o.r, 2000, "x", 1, NULL);
    one_drain(&o);
    struct raft_msg ok = {.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1,
                          .term = 1, .success = true, .match_index = 6,
                          .seq = 1};
    raft_receive(o.r, 2001, &ok);
    one_drain(&o);
    CHECK_EQ_U(raft_applied_index(o.r), 6);
    CHECK_EQ_U(raft_compact(o.r, 4), 0);
    /* node 3 answers the first probe: its log is empty */
    struct raft_msg rej = {.type = RAFT_MSG_APPEND_RESP, .from = 3, .to = 1,
                           .term = 1, .success = false, .prev_index = 0,
                           .hint_index = 1, .seq = 1};
    raft_receive(o.r, 2002, &rej);
    one_drain(&o);
    const struct raft_msg *snap = find_msg(&o, RAFT_MSG_SNAPSHOT, 3);
    CHECK(snap != NULL);
    CHECK_EQ_U(snap->snapshot_index, 4);
    CHECK_EQ_U(snap->snapshot_term, 1);
    CHECK(has_note(&o, RAFT_NOTE_SNAPSHOT_SENT));
    CHECK(raft_sending_snapshot(o.r, 3));
    /* paused: the next heartbeats send no entries and no second snapshot */
    raft_tick(o.r, 2200);
    one_drain(&o);
    CHECK(find_msg(&o, RAFT_MSG_SNAPSHOT, 3) == NULL);
    const struct raft_msg *hb = find_msg(&o, RAFT_MSG_APPEND, 3);
    CHECK(!hb || hb->n_entries == 0);
    /* answered: replicate from right after the snapshot */
    struct raft_msg done = {.type = RAFT_MSG_APPEND_RESP, .from = 3, .to = 1,
                            .term = 1, .success = true, .prev_index = 4,
                            .match_index = 4, .seq = 1};
    raft_receive(o.r, 2201, &done);
    one_drain(&o);
    CHECK(!raft_sending_snapshot(o.r, 3));
    const struct raft_msg *ae = find_msg(&o, RAFT_MSG_APPEND, 3);
    CHECK(ae && ae->prev_index == 4 && ae->n_entries == 2);
    raft_free(o.r);
}

TEST(unreachable_or_silent_snapshot_target_is_probed_again)
{
    struct one o;
    one_init(&o, 3, 1);
    one_make_leader(&o);
    raft_propose(o.r, 2000, "x", 1, NULL);
    one_drain(&o);
    struct raft_msg ok = {.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1,
                          .term = 1, .success = true, .match_index = 2,
                          .seq = 1};
    raft_receive(o.r, 2001, &ok);
    one_drain(&o);
    raft_compact(o.r, 2);
    struct raft_msg rej = {.type = RAFT_MSG_APPEND_RESP, .from = 3, .to = 1,
                           .term = 1, .success = false, .prev_index = 0,
                           .hint_index = 1, .seq = 1};
    raft_receive(o.r, 2002, &rej);
    one_drain(&o);
    CHECK(raft_sending_snapshot(o.r, 3));
    raft_report_unreachable(o.r, 3);
    CHECK(!raft_sending_snapshot(o.r, 3));
    raft_tick(o.r, 2100); /* not at the next heartbeat */
    one_drain(&o);
    CHECK(find_msg(&o, RAFT_MSG_SNAPSHOT, 3) == NULL);
    raft_receive(o.r, 2900, &ok); /* node 2 keeps the leader's quorum */
    bool again = false;
    for (raft_time t = 2900; t <= 3300; t += 100) {
        raft_tick(o.r, t);
        one_drain(&o);
        again |= find_msg(&o, RAFT_MSG_SNAPSHOT, 3) != NULL;
    }
    CHECK(again); /* an election timeout (1000 ms) later: sent again */
    /* no answer within snapshot_timeout_ms (2 x 2000 ms): given up (node 2
     * keeps answering, so the leader keeps its quorum meanwhile) */
    bool failed = false;
    for (raft_time t = 3400; t <= 7600; t += 300) {
        raft_receive(o.r, t, &ok);
        raft_tick(o.r, t);
        one_drain(&o);
        failed |= has_note(&o, RAFT_NOTE_SNAPSHOT_FAILED);
    }
    CHECK_EQ_U(raft_role(o.r), RAFT_LEADER);
    CHECK(failed);
    raft_free(o.r);
}

static struct raft_msg snap_msg(raft_term term, raft_index index,
                                raft_term sterm, raft_index commit)
{
    return (struct raft_msg){.type = RAFT_MSG_SNAPSHOT, .from = 2, .to = 1,
                             .term = term, .snapshot_index = index,
                             .snapshot_term = sterm, .commit = commit,
                             .seq = 1};
}

TEST(follower_installs_snapshot_and_discards_conflicting_log)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[4] = {{.term = 1}, {.term = 1}, {.term = 2}, {.term = 2}};
    struct raft_hard_state hs = {.term = 2, .commit = 2};
    raft_restore(o.r, &hs, 1, 0, e, 4);
    one_drain(&o);
    struct raft_msg m = snap_msg(3, 6, 3, 9);
    raft_receive(o.r, 10, &m);
    struct raft_ready rd;
    raft_ready(o.r, &rd);
    CHECK(rd.snapshot_install);
    CHECK(rd.snapshot_discard_log);
    CHECK_EQ_U(rd.snapshot_index, 6);
    CHECK_EQ_U(rd.snapshot_term, 3);
    CHECK_EQ_U(rd.n_committed, 0);
    CHECK_EQ_U(rd.n_entries, 0);
    const struct raft_msg *resp = NULL;
    for (size_t i = 0; i < rd.n_msgs; i++)
        if (rd.msgs[i].type == RAFT_MSG_APPEND_RESP)
            resp = &rd.msgs[i];
    CHECK(resp && resp->success && resp->match_index == 6);
    raft_advance(o.r, &rd);
    CHECK(!raft_has_ready(o.r) || (raft_ready(o.r, &rd), !rd.snapshot_install));
    CHECK_EQ_U(raft_commit_index(o.r), 6);
    CHECK_EQ_U(raft_applied_index(o.r), 6);
    CHECK_EQ_U(raft_last_index(o.r), 6);
    CHECK_EQ_U(raft_last_term(o.r), 3);
    CHECK_EQ_U(raft_leader(o.r), 2);
    raft_free(o.r);
}

TEST(follower_keeps_log_suffix_that_matches_the_snapshot)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[5] = {{.term = 1}, {.term = 1}, {.term = 2},
                              {.term = 2}, {.term = 2}};
    struct raft_hard_state hs = {.term = 2, .commit = 1};
    raft_restore(o.r, &hs, 1, 0, e, 5);
    one_drain(&o);
    struct raft_msg m = snap_msg(2, 3, 2, 3);
    raft_receive(o.r, 10, &m);
    struct raft_ready rd;
    raft_ready(o.r, &rd);
    CHECK(rd.snapshot_install);
    CHECK(!rd.snapshot_discard_log);
    CHECK_EQ_U(rd.n_entries, 0);
    raft_advance(o.r, &rd);
    CHECK_EQ_U(raft_snapshot_index(o.r), 3);
    CHECK_EQ_U(raft_last_index(o.r), 5); /* step 6: entries 4, 5 kept */
    CHECK_EQ_U(raft_term_at(o.r, 5), 2);
    CHECK_EQ_U(raft_applied_index(o.r), 3);
    raft_free(o.r);
}

TEST(stale_snapshot_is_answered_without_installing)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[4] = {{.term = 1}, {.term = 1}, {.term = 1}, {.term = 1}};
    struct raft_hard_state hs = {.term = 1, .commit = 4};
    raft_restore(o.r, &hs, 1, 0, e, 4);
    one_drain(&o);
    struct raft_msg m = snap_msg(1, 3, 1, 4);
    raft_receive(o.r, 10, &m);
    one_drain(&o);
    CHECK(!o.rd.snapshot_install);
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_APPEND_RESP, 2);
    CHECK(r && r->success && r->match_index == 4);
    CHECK_EQ_U(raft_last_index(o.r), 4);
    CHECK_EQ_U(raft_snapshot_index(o.r), 0);
    /* from an older term: rejected with our term, not installed */
    m = snap_msg(0, 9, 1, 9);
    m.term = 0;
    struct one p;
    one_init(&p, 3, 1);
    hs.term = 5;
    raft_restore(p.r, &hs, 1, 0, e, 4);
    m.term = 4;
    raft_receive(p.r, 10, &m);
    one_drain(&p);
    r = find_msg(&p, RAFT_MSG_APPEND_RESP, 2);
    CHECK(r && !r->success && r->term == 5);
    CHECK_EQ_U(raft_snapshot_index(p.r), 0);
    raft_free(o.r);
    raft_free(p.r);
}

TEST(append_below_our_snapshot_is_acknowledged_after_it)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_entry e[1] = {{.term = 2}};
    struct raft_hard_state hs = {.term = 2, .commit = 10};
    raft_restore(o.r, &hs, 10, 2, e, 1); /* snapshot at 9, entry 10 */
    one_drain(&o);
    struct raft_entry ne[4] = {{.term = 2}, {.term = 2}, {.term = 2}, {.term = 2}};
    struct raft_msg ae = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1,
                          .term = 2, .prev_index = 7, .prev_term = 2,
                          .n_entries = 4, .entries = ne, .commit = 11,
                          .seq = 1};
    raft_receive(o.r, 10, &ae);
    one_drain(&o);
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_APPEND_RESP, 2);
    CHECK(r && r->success && r->match_index == 11);
    CHECK_EQ_U(raft_last_index(o.r), 11);
    CHECK_EQ_U(raft_commit_index(o.r), 11);
    raft_free(o.r);
}

/* ================= divergence (raft.h, "Divergence") ================= */

/* Node 1 of 3, a follower in term 2 (voted for 2, no leader known yet):
 * log terms 1 1 2 2, entries 1..3 committed and applied. */
static void committed_follower(struct one *o)
{
    one_init(o, 3, 1);
    struct raft_entry e[4] = {{.term = 1}, {.term = 1}, {.term = 2}, {.term = 2}};
    struct raft_hard_state hs = {.term = 2, .vote = 2, .commit = 3};
    raft_restore(o->r, &hs, 1, 0, e, 4);
    one_drain(o);
}

/* How many notes of type t the last drain saw; *last gets the last one. */
static unsigned count_notes(const struct one *o, enum raft_note_type t,
                            const struct raft_note **last)
{
    unsigned n = 0;
    for (unsigned i = 0; i < o->nnotes; i++)
        if (o->notes[i].type == t) {
            n++;
            if (last)
                *last = &o->notes[i];
        }
    return n;
}

/* Nothing of committed_follower()'s state moved. */
static void check_unchanged(const struct one *o, raft_time deadline)
{
    CHECK(!o->hs_changed);
    CHECK_EQ_U(raft_current_term(o->r), 2);
    CHECK_EQ_U(raft_voted_for(o->r), 2);
    CHECK_EQ_U(raft_leader(o->r), RAFT_NONE);
    CHECK_EQ_U(raft_deadline(o->r), deadline); /* election timer not reset */
    CHECK_EQ_U(raft_last_index(o->r), 4);
    CHECK_EQ_U(raft_term_at(o->r, 3), 2);
    CHECK_EQ_U(raft_term_at(o->r, 4), 2);
    CHECK_EQ_U(raft_commit_index(o->r), 3);
    CHECK_EQ_U(raft_applied_index(o->r), 3);
}

/* The refusal: our term, no success, seq 0 (no leader acts on it). */
static void check_refused(const struct one *o, raft_id to, uint64_t ctx)
{
    const struct raft_msg *r = find_msg(o, RAFT_MSG_APPEND_RESP, to);
    CHECK(r && !r->success);
    CHECK(r && r->term == 2 && r->seq == 0 && r->ctx == ctx);
    CHECK(r && r->match_index == 0);
}

TEST(append_contradicting_a_committed_entry_is_refused_and_reported)
{
    /* The forged AppendEntries of issue 10: a higher term, prev matching,
     * and committed entry 3 (term 2) given term 3 with a command. */
    struct one o;
    committed_follower(&o);
    raft_time deadline = raft_deadline(o.r);
    CHECK(!raft_diverged(o.r, NULL));
    struct raft_entry ne[3] = {{.term = 1},
                               {.term = 3, .len = 3, .data = (uint8_t *)"put"},
                               {.term = 3}};
    struct raft_msg ae = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1,
                          .term = 3, .prev_index = 1, .prev_term = 1,
                          .n_entries = 3, .entries = ne, .commit = 4,
                          .seq = 7, .ctx = 42};
    raft_receive(o.r, 10, &ae);
    one_drain(&o);
    check_unchanged(&o, deadline);
    check_refused(&o, 2, 42);
    const struct raft_note *n = NULL;
    CHECK_EQ_U(count_notes(&o, RAFT_NOTE_DIVERGED, &n), 1);
    CHECK(!has_note(&o, RAFT_NOTE_LOG_TRUNCATED));
    CHECK(n && n->index == 3 && n->entry_term == 2 && n->peer_entry_term == 3 &&
          n->peer == 2 && n->term == 2);
    struct raft_divergence d;
    CHECK(raft_diverged(o.r, &d));
    CHECK_EQ_U(d.index, 3);
    CHECK_EQ_U(d.entry_term, 2);
    CHECK_EQ_U(d.peer_entry_term, 3);
    CHECK_EQ_U(d.peer, 2);
    CHECK_EQ_U(d.msg_term, 3);
    CHECK_EQ_U(d.refused, 1);
    CHECK(d.what && strstr(d.what, "AppendEntries entries"));
    /* Sent again, and other evidence from node 3: each refusal is noted,
     * the first evidence stays. */
    raft_receive(o.r, 20, &ae);
    one_drain(&o);
    CHECK_EQ_U(count_notes(&o, RAFT_NOTE_DIVERGED, NULL), 1);
    ae.from = 3;
    ae.prev_index = 2;
    ae.entries = ne + 2; /* entry 3 again, as term 3 */
    ae.n_entries = 1;
    raft_receive(o.r, 30, &ae);
    one_drain(&o);
    CHECK_EQ_U(count_notes(&o, RAFT_NOTE_DIVERGED, &n), 1);
    CHECK(n && n->peer == 3 && n->index == 3);
    check_unchanged(&o, deadline);
    CHECK(raft_diverged(o.r, &d));
    CHECK_EQ_U(d.peer, 2);
    CHECK_EQ_U(d.refused, 3);
    /* The same contradiction from a leader of an older term is not
     * evidence (a stale leader may lack committed entries): refused as
     * stale, not reported. */
    ae.term = 1;
    raft_receive(o.r, 40, &ae);
    one_drain(&o);
    CHECK_EQ_U(count_notes(&o, RAFT_NOTE_DIVERGED, NULL), 0);
    CHECK(raft_diverged(o.r, &d) && d.refused == 3);
    /* The node goes on following the real leader (node 3, term 2). */
    struct raft_entry good[2] = {{.term = 2}, {.term = 2}};
    struct raft_msg real = {.type = RAFT_MSG_APPEND, .from = 3, .to = 1,
                            .term = 2, .prev_index = 3, .prev_term = 2,
                            .n_entries = 2, .entries = good, .commit = 5,
                            .seq = 1};
    raft_receive(o.r, 50, &real);
    one_drain(&o);
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_APPEND_RESP, 3);
    CHECK(r && r->success && r->match_index == 5);
    CHECK_EQ_U(raft_commit_index(o.r), 5);
    CHECK_EQ_U(raft_leader(o.r), 3);
    raft_free(o.r);
}

TEST(append_whose_previous_entry_contradicts_a_committed_one_is_refused)
{
    struct one o;
    committed_follower(&o);
    raft_time deadline = raft_deadline(o.r);
    /* A heartbeat of our own term claiming committed entry 2 has term 2 */
    struct raft_msg hb = {.type = RAFT_MSG_APPEND, .from = 3, .to = 1,
                          .term = 2, .prev_index = 2, .prev_term = 2,
                          .commit = 3, .seq = 4, .ctx = 9};
    raft_receive(o.r, 10, &hb);
    one_drain(&o);
    check_unchanged(&o, deadline);
    check_refused(&o, 3, 9);
    const struct raft_note *n = NULL;
    CHECK_EQ_U(count_notes(&o, RAFT_NOTE_DIVERGED, &n), 1);
    CHECK(n && n->index == 2 && n->entry_term == 1 && n->peer_entry_term == 2 &&
          n->peer == 3);
    struct raft_divergence d;
    CHECK(raft_diverged(o.r, &d) && d.index == 2 && d.msg_term == 2);
    CHECK(d.what && strstr(d.what, "prevLogTerm"));
    /* prev_term 0 claims nothing: a leader's heartbeat at a match index
     * it has compacted away. Rejected as before, not reported. */
    hb.prev_term = 0;
    raft_receive(o.r, 15, &hb);
    one_drain(&o);
    CHECK_EQ_U(count_notes(&o, RAFT_NOTE_DIVERGED, NULL), 0);
    CHECK(find_msg(&o, RAFT_MSG_APPEND_RESP, 3) != NULL);
    /* A mismatch above the commit index is the ordinary case (paper 5.3):
     * rejected with a hint, not reported. */
    hb.prev_index = 4;
    hb.prev_term = 3;
    hb.term = 3;
    raft_receive(o.r, 20, &hb);
    one_drain(&o);
    CHECK_EQ_U(count_notes(&o, RAFT_NOTE_DIVERGED, NULL), 0);
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_APPEND_RESP, 3);
    CHECK(r && !r->success && r->seq == 4 && r->hint_term == 2);
    CHECK(raft_diverged(o.r, &d) && d.refused == 1);
    raft_free(o.r);
}

TEST(snapshot_behind_the_commit_index_quiet_if_it_agrees_loud_if_not)
{
    struct one o;
    committed_follower(&o);
    raft_time deadline = raft_deadline(o.r);
    /* An old retransmit: entry 2 has term 1 here too. Acknowledged up to
     * our commit index, as before, and not reported. */
    struct raft_msg m = snap_msg(2, 2, 1, 3);
    raft_receive(o.r, 10, &m);
    one_drain(&o);
    CHECK(!o.rd.snapshot_install);
    const struct raft_msg *r = find_msg(&o, RAFT_MSG_APPEND_RESP, 2);
    CHECK(r && r->success && r->match_index == 3);
    CHECK_EQ_U(count_notes(&o, RAFT_NOTE_DIVERGED, NULL), 0);
    CHECK(!raft_diverged(o.r, NULL));
    raft_free(o.r);
    /* Committed entry 3 has term 2; a snapshot in term 4 ending there with
     * term 4 contradicts it: refused without a change, and reported. */
    committed_follower(&o);
    deadline = raft_deadline(o.r);
    m = snap_msg(4, 3, 4, 9);
    m.ctx = 5;
    raft_receive(o.r, 10, &m);
    one_drain(&o);
    CHECK(!o.rd.snapshot_install);
    CHECK_EQ_U(raft_snapshot_index(o.r), 0);
    check_unchanged(&o, deadline);
    check_refused(&o, 2, 5);
    const struct raft_note *n = NULL;
    CHECK_EQ_U(count_notes(&o, RAFT_NOTE_DIVERGED, &n), 1);
    CHECK(!has_note(&o, RAFT_NOTE_SNAPSHOT_INSTALLED));
    CHECK(n && n->index == 3 && n->entry_term == 2 && n->peer_entry_term == 4);
    struct raft_divergence d;
    CHECK(raft_diverged(o.r, &d) && d.msg_term == 4);
    CHECK(d.what && strstr(d.what, "InstallSnapshot"));
    raft_free(o.r);
    /* Within our own snapshot only its last term is known: an older
     * snapshot cannot be told from a contradicting one, and is quiet. */
    one_init(&o, 3, 1);
    struct raft_entry e[1] = {{.term = 2}};
    struct raft_hard_state hs = {.term = 2, .commit = 10};
    raft_restore(o.r, &hs, 10, 2, e, 1); /* snapshot at 9 (term 2), entry 10 */
    one_drain(&o);
    m = snap_msg(2, 5, 7, 9);
    raft_receive(o.r, 10, &m);
    one_drain(&o);
    CHECK(!raft_diverged(o.r, NULL));
    r = find_msg(&o, RAFT_MSG_APPEND_RESP, 2);
    CHECK(r && r->success && r->match_index == 10);
    raft_free(o.r);
}

TEST(a_leader_is_not_dragged_along_by_a_follower_whose_disk_diverged)
{
    /* Follower f comes back with its last committed entry's term changed
     * on disk. The leader's AppendEntries contradict it; f refuses them
     * and reports it, and the leader neither backs up nor probes f more
     * than once a heartbeat, and goes on committing with the third node. */
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    CHECK(l != RAFT_NONE);
    raft_id f = l == 3 ? 2 : 3;
    for (int i = 0; i < 5; i++)
        CHECK_EQ_U(propose(net, l, "x"), 0);
    net_run_until(net, 2600);
    raft_index last = raft_last_index(net->r[l]);
    raft_term term = raft_current_term(net->r[l]);
    CHECK_EQ_U(raft_commit_index(net->r[f]), last);
    struct raft_entry e[16];
    CHECK(last <= 16);
    for (raft_index i = 1; i <= last; i++)
        e[i - 1] = *raft_entry_at(net->r[f], i);
    e[last - 1].term = term + 7; /* corrupted */
    struct raft_hard_state hs = {.term = term, .vote = raft_voted_for(net->r[f]),
                                 .commit = last};
    struct raft *fresh;
    struct raft_config cfg = make_cfg(3, f, &net->rnd[f]);
    fresh = raft_new(&cfg, NULL);
    raft_restore(fresh, &hs, 1, 0, e, last);
    raft_free(net->r[f]);
    net->r[f] = fresh;
    raft_start(fresh, net->now);
    unsigned sent_before = net->appends_to[f];
    for (int i = 0; i < 20; i++) {
        propose(net, l, "y");
        net_run_until(net, 2600 + 100 * (raft_time)(i + 1));
    }
    struct raft_divergence d;
    CHECK(raft_diverged(net->r[f], &d));
    CHECK_EQ_U(d.index, last);
    CHECK_EQ_U(d.entry_term, term + 7);
    CHECK_EQ_U(d.peer_entry_term, term);
    CHECK_EQ_U(d.peer, l);
    CHECK_EQ_U(raft_last_index(net->r[f]), last);
    CHECK_EQ_U(raft_term_at(net->r[f], last), term + 7);
    /* the leader: same term, still leading, committing without f */
    CHECK_EQ_U(leader_of(net), l);
    CHECK_EQ_U(raft_current_term(net->r[l]), term);
    CHECK_EQ_U(raft_commit_index(net->r[l]), last + 20);
    CHECK_EQ_U(raft_match_index(net->r[l], f), last);
    /* 2 s, 20 heartbeats: f is sent a heartbeat, at most one probe per
     * heartbeat, and a window of batches (8) before its stall shows */
    unsigned to_f = net->appends_to[f] - sent_before;
    fprintf(stderr, "AppendEntries to the diverged follower in 2s: %u\n", to_f);
    CHECK(to_f <= 2 * 20 + 8);
    net_free(net);
}

TEST(no_commit_without_majority)
{
    struct net *net = net_new(5);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    raft_index before = raft_commit_index(net->r[l]);
    int cut = 0;
    for (raft_id id = 1; id <= 5 && cut < 3; id++)
        if (id != l) {
            isolate(net, id, true);
            cut++;
        }
    propose(net, l, "lost");
    net_run_until(net, 2900);
    CHECK_EQ_U(raft_commit_index(net->r[l]), before);
    net_free(net);
}

/* ================= ReadIndex and transfer ================= */

TEST(read_index_waits_for_majority_heartbeat)
{
    struct one o;
    one_init(&o, 3, 1);
    one_make_leader(&o);
    CHECK(raft_read_index(o.r, 2001, 42) == RAFT_ENOTREADY);
    struct raft_msg ack = {.type = RAFT_MSG_APPEND_RESP, .seq = 1, .from = 2, .to = 1,
                           .term = 1, .success = true, .match_index = 1};
    raft_receive(o.r, 2002, &ack);
    one_drain(&o);
    CHECK_EQ_U(raft_commit_index(o.r), 1);
    CHECK_EQ_U(raft_read_index(o.r, 2003, 42), 0);
    struct raft_ready rd;
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.n_reads, 0);
    uint64_t seq = 0;
    for (size_t i = 0; i < rd.n_msgs; i++)
        if (rd.msgs[i].type == RAFT_MSG_APPEND && rd.msgs[i].to == 3)
            seq = rd.msgs[i].seq;
    raft_advance(o.r, &rd);
    CHECK(seq > 0);
    /* an ack of an older round does not confirm it */
    ack.from = 3;
    ack.seq = seq - 1;
    raft_receive(o.r, 2004, &ack);
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.n_reads, 0);
    raft_advance(o.r, &rd);
    ack.seq = seq;
    raft_receive(o.r, 2005, &ack);
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.n_reads, 1);
    CHECK_EQ_U(rd.reads[0].id, 42);
    CHECK_EQ_U(rd.reads[0].index, 1);
    raft_advance(o.r, &rd);
    raft_free(o.r);
}

TEST(leader_counts_itself_only_once_persisted)
{
    struct one o;
    struct raft_msg ack;
    one_committed_leader(&o, &ack);
    CHECK_EQ_U(raft_commit_index(o.r), 1);
    raft_index idx = 0;
    CHECK_EQ_U(raft_propose(o.r, 2003, "x", 1, &idx), 0);
    struct raft_ready rd;
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.n_entries, 1);
    raft_advance_unsynced(o.r, &rd); /* written, not yet durable */
    ack.match_index = idx;
    raft_receive(o.r, 2004, &ack);
    CHECK_EQ_U(raft_commit_index(o.r), 1); /* one durable copy of three */
    raft_persisted(o.r, idx, 7);           /* not the term of our entry */
    raft_persisted(o.r, idx + 1, 1);       /* not written */
    CHECK_EQ_U(raft_commit_index(o.r), 1);
    raft_persisted(o.r, idx, raft_term_at(o.r, idx));
    CHECK_EQ_U(raft_commit_index(o.r), idx);
    one_drain(&o);
    /* and a second follower's copy is enough without ours */
    CHECK_EQ_U(raft_propose(o.r, 2005, "y", 1, &idx), 0);
    raft_ready(o.r, &rd);
    raft_advance_unsynced(o.r, &rd);
    ack.match_index = idx;
    raft_receive(o.r, 2006, &ack);
    CHECK_EQ_U(raft_commit_index(o.r), idx - 1);
    ack.from = 3;
    raft_receive(o.r, 2007, &ack);
    CHECK_EQ_U(raft_commit_index(o.r), idx);
    one_drain(&o);
    raft_free(o.r);
}

static uint64_t round_sent_to(const struct raft_ready *rd, raft_id to)
{
    for (size_t i = 0; i < rd->n_msgs; i++)
        if (rd->msgs[i].type == RAFT_MSG_APPEND && rd->msgs[i].to == to)
            return rd->msgs[i].seq;
    return 0;
}

TEST(reads_arriving_during_a_round_share_the_next_one)
{
    struct one o;
    struct raft_msg ack;
    one_committed_leader(&o, &ack);
    struct raft_ready rd;
    CHECK_EQ_U(raft_read_index(o.r, 2003, 1), 0);
    raft_ready(o.r, &rd);
    uint64_t first = round_sent_to(&rd, 2);
    CHECK(first > 0);
    raft_advance(o.r, &rd);
    /* two more reads while the round is out: no new round yet */
    CHECK_EQ_U(raft_read_index(o.r, 2004, 2), 0);
    CHECK_EQ_U(raft_read_index(o.r, 2004, 3), 0);
    CHECK(!raft_has_ready(o.r));
    /* the round is acknowledged: read 1 is served, one round for 2 and 3 */
    ack.seq = first;
    raft_receive(o.r, 2005, &ack);
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.n_reads, 1);
    CHECK_EQ_U(rd.reads[0].id, 1);
    uint64_t second = round_sent_to(&rd, 2);
    CHECK_EQ_U(second, first + 1);
    raft_advance(o.r, &rd);
    /* an ack of the first round again does not serve the later reads */
    raft_receive(o.r, 2006, &ack);
    if (raft_has_ready(o.r)) {
        raft_ready(o.r, &rd);
        CHECK_EQ_U(rd.n_reads, 0);
        raft_advance(o.r, &rd);
    }
    ack.seq = second;
    ack.from = 3;
    raft_receive(o.r, 2007, &ack);
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.n_reads, 2);
    raft_advance(o.r, &rd);
    raft_free(o.r);
}

TEST(reads_a_periodic_heartbeat_carries_need_no_round_of_their_own)
{
    struct one o;
    struct raft_msg ack;
    one_committed_leader(&o, &ack);
    struct raft_ready rd;
    CHECK_EQ_U(raft_read_index(o.r, 2003, 9), 0);
    raft_tick(o.r, 2150); /* the periodic heartbeat comes first */
    raft_ready(o.r, &rd);
    uint64_t round = round_sent_to(&rd, 2);
    CHECK(round > 0);
    for (size_t i = 0; i < rd.n_msgs; i++) /* one round, not two */
        if (rd.msgs[i].type == RAFT_MSG_APPEND)
            CHECK_EQ_U(rd.msgs[i].seq, round);
    raft_advance(o.r, &rd);
    ack.seq = round;
    raft_receive(o.r, 2151, &ack);
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.n_reads, 1);
    CHECK_EQ_U(round_sent_to(&rd, 2), 0); /* and no extra round after it */
    CHECK_EQ_U(round_sent_to(&rd, 3), 0);
    raft_advance(o.r, &rd);
    CHECK(!raft_has_ready(o.r));
    raft_free(o.r);
}

TEST(read_index_fails_when_leadership_lost)
{
    struct one o;
    struct raft_msg ack;
    one_committed_leader(&o, &ack);
    CHECK_EQ_U(raft_read_index(o.r, 2003, 7), 0);
    struct raft_msg up = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1,
                          .term = 9};
    raft_receive(o.r, 2004, &up);
    struct raft_ready rd;
    raft_ready(o.r, &rd);
    CHECK_EQ_U(rd.n_reads, 1);
    CHECK_EQ_U(rd.reads[0].index, 0);
    raft_advance(o.r, &rd);
    raft_free(o.r);
}

TEST(leadership_transfer_hands_over_without_waiting_for_timeout)
{
    struct net *net = net_new(3);
    net_run_until(net, 2500);
    raft_id l = leader_of(net);
    propose(net, l, "x");
    raft_id target = l == 1 ? 2 : 1;
    raft_term t = raft_current_term(net->r[l]);
    CHECK_EQ_U(raft_transfer_leadership(net->r[l], net->now, target), 0);
    CHECK(raft_propose(net->r[l], net->now, "y", 1, NULL) == RAFT_ETRANSFER);
    net_pump(net);
    /* no time passed: the new leader was elected by TimeoutNow */
    CHECK_EQ_U(leader_of(net), target);
    CHECK_EQ_U(raft_current_term(net->r[target]), t + 1);
    CHECK_EQ_U(raft_role(net->r[l]), RAFT_FOLLOWER);
    net_free(net);
}

/* ================= membership (dissertation chapter 4) ================= */

/* n_total cores; those up to n_initial form the cluster {1..n_initial},
 * the others are new servers whose own (bootstrap) list is {1..n_total}. */
static struct net *net_new_growing(unsigned n_total, unsigned n_initial)
{
    struct net *net = calloc(1, sizeof(*net));
    net->n = n_total;
    for (raft_id id = 1; id <= n_total; id++) {
        net->rnd[id].state = 0x9e3779b97f4a7c15ull * id;
        struct raft_config cfg =
            make_cfg(id <= n_initial ? n_initial : n_total, id, &net->rnd[id]);
        net->r[id] = raft_new(&cfg, NULL);
        raft_start(net->r[id], 0);
    }
    return net;
}

/* A leader among the nodes up to n_initial, with its no-op committed. */
static raft_id elect_settled(struct net *net)
{
    net_run_until(net, net->now + 5000);
    raft_id l = leader_of(net);
    CHECK(l != RAFT_NONE);
    net_run_until(net, net->now + 300);
    return l;
}

/* The leader's configuration with one change applied. */
static struct raft_configuration changed(struct raft *r, raft_id add_learner,
                                         raft_id promote, raft_id remove)
{
    struct raft_configuration c = *raft_configuration(r, NULL);
    if (add_learner)
        c.members[c.n++] = (struct raft_member){.id = add_learner,
                                                .role = RAFT_LEARNER};
    for (unsigned i = 0; i < c.n; i++) {
        if (c.members[i].id == promote)
            c.members[i].role = RAFT_VOTER;
        if (c.members[i].id == remove)
            c.members[i--] = c.members[--c.n];
    }
    return c;
}

static int change(struct net *net, raft_id l, struct raft_configuration c)
{
    raft_index idx;
    int rv = raft_change_configuration(net->r[l], net->now, &c, &idx);
    net_pump(net);
    return rv;
}

static bool is_member(struct raft *r, raft_id id, uint8_t role)
{
    const struct raft_member *m =
        raft_configuration_find(raft_configuration(r, NULL), id);
    return m && m->role == role;
}

TEST(configuration_encoding_is_strict)
{
    struct raft_configuration c = {.n = 2}, back;
    c.members[0] = (struct raft_member){.id = 1, .role = RAFT_VOTER,
                                        .address = "http://a:1"};
    c.members[1] = (struct raft_member){.id = 70000000000ull,
                                        .role = RAFT_LEARNER};
    uint8_t b[RAFT_CONFIGURATION_MAX_BYTES];
    int len = raft_configuration_encode(&c, b);
    CHECK(len == 2 + 10 + 10 + 10);
    CHECK(raft_configuration_decode(b, (size_t)len, &back) == 0);
    CHECK(back.n == 2 && back.members[1].id == 70000000000ull);
    CHECK(strcmp(back.members[0].address, "http://a:1") == 0);
    CHECK_EQ_U(raft_configuration_voters(&back), 1);
    for (int cut = 0; cut < len; cut++)
        CHECK(raft_configuration_decode(b, (size_t)cut, &back) == RAFT_EINVAL);
    b[len] = 0;
    CHECK(raft_configuration_decode(b, (size_t)len + 1, &back) == RAFT_EINVAL);
    b[0] = 2; /* unknown version */
    CHECK(raft_configuration_decode(b, (size_t)len, &back) == RAFT_EINVAL);
    struct raft_configuration bad = c;
    bad.members[1].id = 1; /* duplicate */
    CHECK(raft_configuration_encode(&bad, b) == RAFT_EINVAL);
    bad = c;
    bad.members[0].role = RAFT_LEARNER; /* no voter */
    CHECK(raft_configuration_encode(&bad, b) == RAFT_EINVAL);
    bad = c;
    bad.members[1].id = 0;
    CHECK(raft_configuration_encode(&bad, b) == RAFT_EINVAL);
}

/* A learner that starts more than an election timeout after it was added,
 * to an idle cluster: its first round is too slow, and the next round's
 * target is what it already has once it caught up, so that round takes no
 * time. It must still count as caught up (raftd under load: etcdctl member
 * add, then the new node's start took 370 ms; never promoted). */
TEST(a_learner_that_starts_late_on_an_idle_cluster_is_caught_up)
{
    struct net *net = net_new_growing(4, 3);
    isolate(net, 4, true);
    raft_id l = elect_settled(net);
    for (int i = 0; i < 5; i++)
        propose(net, l, "x");
    net_run_until(net, net->now + 300);
    CHECK(change(net, l, changed(net->r[l], 4, 0, 0)) == 0);
    net_run_until(net, net->now + 2000); /* well past an election timeout */
    CHECK(!raft_learner_caught_up(net->r[l], 4));
    isolate(net, 4, false);
    net_run_until(net, net->now + 500); /* no new entry meanwhile */
    CHECK_EQ_U(raft_last_index(net->r[4]), raft_last_index(net->r[l]));
    CHECK(raft_learner_caught_up(net->r[l], 4));
    net_free(net);
}

/* Dissertation 4.2.1: a new server joins as a learner, receives the log,
 * counts in no majority and starts no election; caught up, it is promoted
 * and then counts. */
TEST(learner_catches_up_without_a_vote_then_is_promoted)
{
    struct net *net = net_new_growing(4, 3);
    isolate(net, 4, true); /* the new server starts later */
    raft_id l = elect_settled(net);
    for (int i = 0; i < 20; i++)
        propose(net, l, "x");
    isolate(net, 4, false);
    CHECK(change(net, l, changed(net->r[l], 4, 0, 0)) == 0);
    net_run_until(net, net->now + 500);
    CHECK(is_member(net->r[4], 4, RAFT_LEARNER));
    CHECK_EQ_U(raft_last_index(net->r[4]), raft_last_index(net->r[l]));
    CHECK(raft_learner_caught_up(net->r[l], 4));
    /* a learner's acknowledgement commits nothing: with the other voters
     * cut off, a new entry stays uncommitted though node 4 has it */
    for (raft_id id = 1; id <= 3; id++)
        if (id != l) {
            net->cut[l][id] = net->cut[id][l] = true;
        }
    raft_index before = raft_commit_index(net->r[l]);
    propose(net, l, "y");
    net_pump(net);
    CHECK_EQ_U(raft_last_index(net->r[4]), before + 1);
    CHECK_EQ_U(raft_commit_index(net->r[l]), before);
    for (raft_id id = 1; id <= 3; id++)
        net->cut[l][id] = net->cut[id][l] = false;
    net_run_until(net, net->now + 300);
    CHECK_EQ_U(raft_commit_index(net->r[l]), before + 1);
    /* it never campaigned */
    CHECK_EQ_U(raft_role(net->r[4]), RAFT_FOLLOWER);
    /* promoted, it counts: 3 of 4 voters make a majority */
    CHECK(change(net, l, changed(net->r[l], 0, 4, 0)) == 0);
    net_run_until(net, net->now + 300);
    for (raft_id id = 1; id <= 4; id++)
        CHECK(is_member(net->r[id], 4, RAFT_VOTER));
    raft_id other = l == 1 ? 2 : 1;
    net->cut[l][other] = net->cut[other][l] = true;
    before = raft_commit_index(net->r[l]);
    propose(net, l, "z");
    net_run_until(net, net->now + 300);
    CHECK_EQ_U(raft_commit_index(net->r[l]), before + 1);
    net_free(net);
}

TEST(changes_are_one_step_at_a_time)
{
    struct net *net = net_new_growing(5, 3);
    raft_id l = elect_settled(net);
    /* a new voter without catching up first, or two steps at once */
    struct raft_configuration c = changed(net->r[l], 4, 0, 0);
    c.members[c.n - 1].role = RAFT_VOTER;
    CHECK(change(net, l, c) == RAFT_EINVAL);
    c = changed(net->r[l], 4, 0, 0);
    c.members[c.n++] = (struct raft_member){.id = 5, .role = RAFT_LEARNER};
    CHECK(change(net, l, c) == RAFT_EINVAL);
    CHECK(change(net, l, *raft_configuration(net->r[l], NULL)) == RAFT_EINVAL);
    /* the next change waits until the previous one is committed */
    for (raft_id id = 1; id <= 3; id++)
        if (id != l)
            net->cut[l][id] = true;
    CHECK(change(net, l, changed(net->r[l], 4, 0, 0)) == 0);
    CHECK(change(net, l, changed(net->r[l], 5, 0, 0)) == RAFT_EBUSY);
    for (raft_id id = 1; id <= 3; id++)
        net->cut[l][id] = false;
    net_run_until(net, net->now + 300);
    CHECK(change(net, l, changed(net->r[l], 5, 0, 0)) == 0);
    /* not the leader */
    raft_id f = l == 1 ? 2 : 1;
    CHECK(change(net, f, changed(net->r[f], 0, 4, 0)) == RAFT_ENOTLEADER);
    net_free(net);
}

/* Dissertation 4.1 (the 2015 fix): a new leader changes the configuration
 * only once it has committed an entry of its term. */
TEST(a_new_leader_changes_nothing_before_committing_in_its_term)
{
    struct one o;
    one_init(&o, 3, 1);
    one_make_leader(&o);
    struct raft_configuration c = *raft_configuration(o.r, NULL);
    c.members[c.n++] = (struct raft_member){.id = 9, .role = RAFT_LEARNER};
    raft_index idx;
    CHECK(raft_change_configuration(o.r, 2001, &c, &idx) == RAFT_ENOTREADY);
    struct raft_msg ack = {.type = RAFT_MSG_APPEND_RESP, .seq = 1, .from = 2,
                           .to = 1, .term = 1, .success = true,
                           .match_index = 1};
    raft_receive(o.r, 2002, &ack);
    one_drain(&o);
    CHECK(raft_change_configuration(o.r, 2003, &c, &idx) == 0);
    CHECK_EQ_U(idx, 2);
    one_drain(&o);
    CHECK(has_note(&o, RAFT_NOTE_CONFIGURATION));
    /* in effect at once, before it is committed */
    CHECK(is_member(o.r, 9, RAFT_LEARNER));
    CHECK(find_msg(&o, RAFT_MSG_APPEND, 9) != NULL);
    raft_free(o.r);
}

TEST(removing_a_follower_shrinks_the_majority)
{
    struct net *net = net_new_growing(3, 3);
    raft_id l = elect_settled(net);
    raft_id gone = l == 3 ? 2 : 3;
    CHECK(change(net, l, changed(net->r[l], 0, 0, gone)) == 0);
    net_run_until(net, net->now + 300);
    CHECK(!raft_configuration_find(raft_configuration(net->r[l], NULL), gone));
    /* The removed node may never learn it (the leader stops replicating
     * to it at once); its elections disturb nobody (diss. 4.2.3): the
     * others ignore a non-member, and pre-vote keeps its term. */
    raft_term term = raft_current_term(net->r[l]);
    propose(net, l, "after");
    net_run_until(net, net->now + 10000);
    CHECK_EQ_U(leader_of(net), l);
    CHECK_EQ_U(raft_current_term(net->r[l]), term);
    CHECK_EQ_U(raft_current_term(net->r[gone]), term);
    CHECK_EQ_U(raft_commit_index(net->r[l]), raft_last_index(net->r[l]));
    net_free(net);
}

/* Dissertation 4.2.2: a leader removing itself leads until the change is
 * committed, without counting itself, then steps down; the others elect a
 * leader among themselves. */
TEST(a_leader_removing_itself_steps_down_once_committed)
{
    struct net *net = net_new_growing(3, 3);
    raft_id l = elect_settled(net);
    CHECK(change(net, l, changed(net->r[l], 0, 0, l)) == 0);
    net_run_until(net, net->now + 300);
    CHECK(raft_role(net->r[l]) != RAFT_LEADER);
    net_run_until(net, net->now + 5000);
    raft_id l2 = leader_of(net);
    CHECK(l2 != RAFT_NONE && l2 != l);
    CHECK(propose(net, l2, "after") == 0);
    net_run_until(net, net->now + 300);
    CHECK_EQ_U(raft_commit_index(net->r[l2]), raft_last_index(net->r[l2]));
    CHECK(raft_role(net->r[l]) != RAFT_LEADER);
    net_free(net);
}

TEST(a_change_that_would_stall_the_cluster_is_refused)
{
    struct net *net = net_new_growing(3, 3);
    raft_id l = elect_settled(net);
    raft_id down = l == 3 ? 2 : 3, up = 6 - l - down;
    isolate(net, down, true);
    net_run_until(net, net->now + 1500); /* more than an election timeout */
    /* {l, down}: a majority of 2 is both, and down is not heard from */
    CHECK(change(net, l, changed(net->r[l], 0, 0, up)) == RAFT_ENOQUORUM);
    /* removing the one that is down is fine */
    CHECK(change(net, l, changed(net->r[l], 0, 0, down)) == 0);
    net_free(net);
}

/* Each server uses the latest configuration in its log, committed or not:
 * an uncommitted one truncated by a new leader is undone. */
TEST(an_uncommitted_configuration_is_undone_when_truncated)
{
    struct net *net = net_new_growing(4, 3);
    raft_id l = elect_settled(net);
    isolate(net, l, true);
    CHECK(change(net, l, changed(net->r[l], 4, 0, 0)) == 0);
    CHECK(is_member(net->r[l], 4, RAFT_LEARNER));
    net_run_until(net, net->now + 5000);
    raft_id l2 = RAFT_NONE;
    for (raft_id id = 1; id <= 3; id++)
        if (id != l && raft_role(net->r[id]) == RAFT_LEADER)
            l2 = id;
    CHECK(l2 != RAFT_NONE);
    propose(net, l2, "new");
    isolate(net, l, false);
    net_run_until(net, net->now + 1000);
    CHECK(raft_role(net->r[l]) != RAFT_LEADER);
    CHECK(!raft_configuration_find(raft_configuration(net->r[l], NULL), 4));
    CHECK_EQ_U(raft_configuration(net->r[l], NULL)->n, 3);
    net_free(net);
}

/* Snapshots: the configuration as of the snapshot index stays known after
 * compaction, and a restored log puts its configurations back in effect. */
TEST(configurations_survive_compaction_and_restore)
{
    struct net *net = net_new_growing(4, 3);
    raft_id l = elect_settled(net);
    CHECK(change(net, l, changed(net->r[l], 4, 0, 0)) == 0);
    net_run_until(net, net->now + 300);
    raft_index cidx;
    raft_configuration(net->r[l], &cidx);
    CHECK(cidx > 0);
    propose(net, l, "more");
    net_run_until(net, net->now + 300);
    raft_index last = raft_last_index(net->r[l]);
    CHECK(raft_compact(net->r[l], last) == 0);
    raft_configuration(net->r[l], &cidx);
    CHECK_EQ_U(cidx, 0); /* the base now */
    CHECK(is_member(net->r[l], 4, RAFT_LEARNER));
    struct raft_configuration at;
    CHECK(raft_configuration_at(net->r[l], last, &at) == 0);
    CHECK(raft_configuration_find(&at, 4) != NULL);
    CHECK(raft_configuration_at(net->r[l], last - 1, &at) == RAFT_EINVAL);
    /* a fresh core restored from a log holding the change */
    struct rnd rnd = {.state = 7};
    struct raft_config cfg = make_cfg(3, 1, &rnd);
    struct raft *r = raft_new(&cfg, NULL);
    uint8_t b[RAFT_CONFIGURATION_MAX_BYTES];
    struct raft_configuration c = changed(r, 4, 0, 0);
    int len = raft_configuration_encode(&c, b);
    struct raft_entry e[2] = {{.term = 1, .type = RAFT_ENTRY_NOOP},
                              {.term = 1, .type = RAFT_ENTRY_CONFIG,
                               .len = (uint32_t)len, .data = b}};
    struct raft_hard_state hs = {.term = 1};
    CHECK(raft_restore(r, &hs, 1, 0, e, 2) == 0);
    raft_configuration(r, &cidx);
    CHECK_EQ_U(cidx, 2);
    CHECK(is_member(r, 4, RAFT_LEARNER));
    raft_free(r);
    net_free(net);
}

TEST(a_learner_gets_no_vote_and_gives_none_that_counts)
{
    struct one o;
    one_committed_leader(&o, &(struct raft_msg){0});
    struct raft_configuration c = *raft_configuration(o.r, NULL);
    c.members[c.n++] = (struct raft_member){.id = 4, .role = RAFT_LEARNER};
    raft_index idx;
    CHECK(raft_change_configuration(o.r, 2100, &c, &idx) == 0);
    one_drain(&o);
    /* the learner asks node 1 for its vote: denied, term unchanged */
    struct raft_msg m = vote_req(4, 1, 9, 100, 9, false);
    raft_receive(o.r, 2200, &m);
    one_drain(&o);
    const struct raft_msg *resp = find_msg(&o, RAFT_MSG_VOTE_RESP, 4);
    CHECK(resp && !resp->granted);
    CHECK_EQ_U(raft_current_term(o.r), 1);
    CHECK_EQ_U(raft_role(o.r), RAFT_LEADER);
    raft_free(o.r);
}

/* o receives an AppendEntries from `from` in term, from the start of the
 * log, with n entries and the leader's commit index; returns
 * raft_receive's answer, the ready drained. */
static int one_append(struct one *o, raft_id from, raft_term term,
                      raft_index commit, struct raft_entry *e, size_t n)
{
    struct raft_msg ae = {.type = RAFT_MSG_APPEND, .from = from,
                          .to = raft_self(o->r), .term = term, .seq = 1,
                          .commit = commit, .n_entries = n, .entries = e};
    int rv = raft_receive(o->r, 10, &ae);
    one_drain(o);
    return rv;
}

/* Found by raft-sim's churn fault: n4, a spare, was added and promoted
 * while n1's log lagged, and became leader; n1 ignored every message of
 * the leader it did not know, so it never caught up (a liveness bug). A
 * request from a node outside the configuration is handled (the entries
 * bring in the configuration that has it); a vote still goes to voters
 * only, and an answer from a non-member counts for nothing. */
TEST(a_leader_outside_our_configuration_is_followed)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_configuration c = *raft_configuration(o.r, NULL);
    c.members[c.n++] = (struct raft_member){.id = 4, .role = RAFT_LEARNER};
    uint8_t add[RAFT_CONFIGURATION_MAX_BYTES], promote[RAFT_CONFIGURATION_MAX_BYTES];
    int add_len = raft_configuration_encode(&c, add);
    c.members[c.n - 1].role = RAFT_VOTER;
    int promote_len = raft_configuration_encode(&c, promote);
    CHECK(add_len > 0 && promote_len > 0);
    struct raft_entry e[3] = {
        {.term = 1, .type = RAFT_ENTRY_NOOP},
        {.term = 1, .type = RAFT_ENTRY_CONFIG, .len = (uint32_t)add_len, .data = add},
        {.term = 1, .type = RAFT_ENTRY_CONFIG, .len = (uint32_t)promote_len,
         .data = promote},
    };
    CHECK(one_append(&o, 4, 2, 3, e, 3) == 0);
    CHECK_EQ_U(raft_leader(o.r), 4);
    CHECK_EQ_U(raft_current_term(o.r), 2);
    CHECK_EQ_U(raft_last_index(o.r), 3);
    CHECK_EQ_U(raft_commit_index(o.r), 3);
    CHECK(raft_configuration_find(raft_configuration(o.r, NULL), 4) &&
          raft_configuration_find(raft_configuration(o.r, NULL), 4)->role ==
              RAFT_VOTER);
    const struct raft_msg *ok = find_msg(&o, RAFT_MSG_APPEND_RESP, 4);
    CHECK(ok && ok->success && ok->match_index == 3);
    /* a vote for a stranger: refused, nothing changes */
    struct raft_msg v = vote_req(7, 1, 9, 100, 9, false);
    CHECK(raft_receive(o.r, 20, &v) == 0);
    one_drain(&o);
    const struct raft_msg *no = find_msg(&o, RAFT_MSG_VOTE_RESP, 7);
    CHECK(no && !no->granted);
    CHECK_EQ_U(raft_current_term(o.r), 2);
    CHECK_EQ_U(raft_voted_for(o.r), RAFT_NONE);
    /* an answer from a stranger counts for nothing */
    struct raft_msg ack = {.type = RAFT_MSG_APPEND_RESP, .from = 7, .to = 1,
                           .term = 2, .success = true, .match_index = 3};
    CHECK(raft_receive(o.r, 30, &ack) == RAFT_EINVAL);
    raft_free(o.r);
}

/* Found by raft-sim's churn fault: the leader of {l, f} appends its own
 * removal while cut off from f and loses office by check-quorum. f needs
 * l's vote, which l refuses (its log is longer), and l, no voter of the
 * configuration in its log, waited: nobody could ever lead. A server whose
 * removal is not committed still campaigns, counting f's vote alone; it
 * commits its removal and steps down, and f leads. */
TEST(a_server_whose_removal_is_uncommitted_still_campaigns)
{
    struct net *net = net_new_growing(3, 3);
    raft_id l = elect_settled(net);
    raft_id gone = l == 3 ? 2 : 3, f = 6 - l - gone;
    CHECK(change(net, l, changed(net->r[l], 0, 0, gone)) == 0);
    net_run_until(net, net->now + 300);
    CHECK(!is_member(net->r[f], gone, RAFT_VOTER));
    isolate(net, l, true);
    CHECK(change(net, l, changed(net->r[l], 0, 0, l)) == 0);
    net_run_until(net, net->now + 3000); /* check-quorum: l steps down */
    CHECK(raft_role(net->r[l]) != RAFT_LEADER);
    CHECK(is_member(net->r[f], l, RAFT_VOTER));
    isolate(net, l, false);
    net_run_until(net, net->now + 10000);
    CHECK(!is_member(net->r[f], l, RAFT_VOTER));
    CHECK_EQ_U(leader_of(net), f);
    CHECK(propose(net, f, "after") == 0);
    net_run_until(net, net->now + 300);
    CHECK_EQ_U(raft_commit_index(net->r[f]), raft_last_index(net->r[f]));
    net_free(net);
}

/* Found by raft-sim's churn fault: {n2,n4} with n2 just promoted (and n1
 * removed) while n4 lagged at {n1,n4; learner n2}: n4 refused n2's vote
 * request as "not a voter", n2 needed it, and no one could be elected. A
 * learner of ours may be a voter of a newer configuration: it gets our
 * vote like any member; a stranger still gets none and changes nothing. */
TEST(a_learner_of_ours_may_be_a_voter_ahead_of_us)
{
    struct one o;
    one_init(&o, 3, 1);
    struct raft_configuration c = *raft_configuration(o.r, NULL);
    c.members[c.n++] = (struct raft_member){.id = 4, .role = RAFT_LEARNER};
    uint8_t add[RAFT_CONFIGURATION_MAX_BYTES];
    int len = raft_configuration_encode(&c, add);
    struct raft_entry e[2] = {
        {.term = 1, .type = RAFT_ENTRY_NOOP},
        {.term = 1, .type = RAFT_ENTRY_CONFIG, .len = (uint32_t)len, .data = add},
    };
    CHECK(one_append(&o, 2, 1, 2, e, 2) == 0);
    CHECK_EQ_U(raft_commit_index(o.r), 2);
    /* long after the leader was last heard from: no lease */
    struct raft_msg v = vote_req(4, 1, 2, 3, 1, false);
    CHECK(raft_receive(o.r, 5000, &v) == 0);
    one_drain(&o);
    const struct raft_msg *yes = find_msg(&o, RAFT_MSG_VOTE_RESP, 4);
    CHECK(yes && yes->granted);
    CHECK_EQ_U(raft_voted_for(o.r), 4);
    v = vote_req(9, 1, 3, 3, 1, false);
    CHECK(raft_receive(o.r, 5001, &v) == 0);
    one_drain(&o);
    const struct raft_msg *no = find_msg(&o, RAFT_MSG_VOTE_RESP, 9);
    CHECK(no && !no->granted);
    CHECK_EQ_U(raft_current_term(o.r), 2);
    CHECK_EQ_U(raft_voted_for(o.r), 4);
    raft_free(o.r);
}

/* 1 follows leader 3 of term 2, which appended the removal of 2 from
 * {1,2,3} at entry 2; commit says whether that is committed. */
static void one_with_removal_of_2(struct one *o, raft_index commit)
{
    one_init(o, 3, 1);
    struct raft_configuration c = {.n = 2};
    c.members[0] = (struct raft_member){.id = 1, .role = RAFT_VOTER};
    c.members[1] = (struct raft_member){.id = 3, .role = RAFT_VOTER};
    uint8_t buf[RAFT_CONFIGURATION_MAX_BYTES];
    int len = raft_configuration_encode(&c, buf);
    struct raft_entry e[2] = {
        {.term = 2, .type = RAFT_ENTRY_NOOP},
        {.term = 2, .type = RAFT_ENTRY_CONFIG, .len = (uint32_t)len, .data = buf},
    };
    CHECK(one_append(o, 3, 2, commit, e, 2) == 0);
    CHECK(!raft_configuration_find(raft_configuration(o->r, NULL), 2));
    CHECK_EQ_U(raft_commit_index(o->r), commit);
}

/* Found by raft-sim's churn fault (seed 154 of a five-node churn soak with
 * transfers): n2, leading {n2,n4,n5}, appended the removal of n4 alone and
 * crashed; n4 and n5 went on, n5 removed itself, and {n2,n4} stayed
 * uncommitted. n4 needed n2's vote, and n2 refused it as "not a member" of
 * {n2,n5}, the configuration of its own stale, uncommitted entry (the one
 * n4 would have truncated); n5, whose removal was uncommitted, needed n4's,
 * which n4 refused the same way; n2's log was too old for either: nobody
 * could ever lead. A configuration in our log that is not committed may
 * still be undone: a member of the one before it is no stranger and gets
 * our vote (dissertation 4.1: the vote may be needed to keep the cluster
 * available). Once the removal is committed, it is a stranger again. */
TEST(a_member_our_uncommitted_configuration_removes_still_gets_our_vote)
{
    struct one o;
    one_with_removal_of_2(&o, 1);
    /* long after the leader was last heard from: no lease */
    struct raft_msg v = vote_req(2, 1, 3, 3, 3, true);
    CHECK(raft_receive(o.r, 5000, &v) == 0);
    one_drain(&o);
    const struct raft_msg *pre = find_msg(&o, RAFT_MSG_VOTE_RESP, 2);
    CHECK(pre && pre->granted && pre->prevote);
    CHECK_EQ_U(raft_current_term(o.r), 2);
    v = vote_req(2, 1, 3, 3, 3, false);
    CHECK(raft_receive(o.r, 5001, &v) == 0);
    one_drain(&o);
    const struct raft_msg *yes = find_msg(&o, RAFT_MSG_VOTE_RESP, 2);
    CHECK(yes && yes->granted && !yes->prevote);
    CHECK_EQ_U(raft_current_term(o.r), 3);
    CHECK_EQ_U(raft_voted_for(o.r), 2);
    /* a stranger still gets nothing and changes nothing */
    v = vote_req(9, 1, 4, 3, 3, false);
    CHECK(raft_receive(o.r, 5002, &v) == 0);
    one_drain(&o);
    const struct raft_msg *no = find_msg(&o, RAFT_MSG_VOTE_RESP, 9);
    CHECK(no && !no->granted);
    CHECK_EQ_U(raft_current_term(o.r), 3);
    CHECK_EQ_U(raft_voted_for(o.r), 2);
    raft_free(o.r);

    /* the removal committed: 2 is a stranger, refused without effect */
    one_with_removal_of_2(&o, 2);
    v = vote_req(2, 1, 3, 3, 3, false);
    CHECK(raft_receive(o.r, 5000, &v) == 0);
    one_drain(&o);
    no = find_msg(&o, RAFT_MSG_VOTE_RESP, 2);
    CHECK(no && !no->granted);
    CHECK_EQ_U(raft_current_term(o.r), 2);
    CHECK_EQ_U(raft_voted_for(o.r), RAFT_NONE);
    raft_free(o.r);
}

/* Found by raft-sim (churn with leadership transfers): a leader asked to
 * hand over to "the most up-to-date follower" chose a learner, which took
 * TimeoutNow as a signal to campaign and, learners now getting votes, led
 * a configuration it had no vote in. A learner is never a transfer target
 * and ignores TimeoutNow. */
TEST(leadership_is_never_handed_to_a_learner)
{
    struct one o;
    struct raft_msg ack;
    one_committed_leader(&o, &ack);
    struct raft_configuration c = *raft_configuration(o.r, NULL);
    c.members[c.n++] = (struct raft_member){.id = 4, .role = RAFT_LEARNER};
    raft_index idx;
    CHECK(raft_change_configuration(o.r, 2100, &c, &idx) == 0);
    one_drain(&o);
    /* the learner is the only one up to date and heard from */
    struct raft_msg a4 = {.type = RAFT_MSG_APPEND_RESP, .seq = 1, .from = 4,
                          .to = 1, .term = 1, .success = true,
                          .match_index = idx};
    raft_receive(o.r, 2110, &a4);
    one_drain(&o);
    CHECK(raft_transfer_leadership(o.r, 2120, 4) == RAFT_EINVAL);
    CHECK(raft_transfer_leadership(o.r, 2120, RAFT_NONE) == 0);
    one_drain(&o);
    bool started = false;
    for (unsigned i = 0; i < o.nnotes; i++)
        if (o.notes[i].type == RAFT_NOTE_TRANSFER_STARTED) {
            started = true;
            CHECK(o.notes[i].peer == 2 || o.notes[i].peer == 3);
        }
    CHECK(started);
    raft_free(o.r);

    /* a learner told to time out now does not campaign */
    struct one l;
    one_init(&l, 3, 1);
    struct raft_configuration lc = {.n = 3};
    lc.members[0] = (struct raft_member){.id = 2, .role = RAFT_VOTER};
    lc.members[1] = (struct raft_member){.id = 3, .role = RAFT_VOTER};
    lc.members[2] = (struct raft_member){.id = 1, .role = RAFT_LEARNER};
    uint8_t buf[RAFT_CONFIGURATION_MAX_BYTES];
    int len = raft_configuration_encode(&lc, buf);
    struct raft_entry e = {.term = 1, .type = RAFT_ENTRY_CONFIG,
                           .len = (uint32_t)len, .data = buf};
    CHECK(one_append(&l, 2, 1, 1, &e, 1) == 0);
    struct raft_msg tn = {.type = RAFT_MSG_TIMEOUT_NOW, .from = 2, .to = 1,
                          .term = 1};
    CHECK(raft_receive(l.r, 20, &tn) == 0);
    one_drain(&l);
    CHECK_EQ_U(raft_role(l.r), RAFT_FOLLOWER);
    CHECK_EQ_U(raft_current_term(l.r), 1);
    raft_free(l.r);
}

int main(void)
{
    RUN(election_timeout_starts_prevote_without_new_term);
    RUN(election_timeout_is_redrawn_on_every_reset);
    RUN(set_timing_applies_at_once_and_refuses_bad_values);
    RUN(campaign_starts_a_real_election_now_and_not_on_a_leader);
    RUN(prevote_majority_starts_real_election);
    RUN(candidate_with_majority_becomes_leader_and_appends_noop);
    RUN(one_vote_per_term);
    RUN(vote_denied_to_candidate_with_stale_log);
    RUN(leader_steps_down_on_higher_term);
    RUN(candidate_retries_after_timeout);
    RUN(prevote_does_not_change_voter_state);
    RUN(follower_in_leader_lease_ignores_higher_term_votes);
    RUN(fast_first_election_fires_within_two_heartbeats_once);
    RUN(fast_first_election_does_not_disrupt_a_leader);
    RUN(leader_gone_drops_the_lease_and_elects_within_a_heartbeat);
    RUN(check_quorum_leader_steps_down_alone);
    RUN(check_quorum_leader_stays_with_majority);
    RUN(hard_state_is_reported_with_the_vote_it_guards);
    RUN(responses_carry_the_request_ctx);
    RUN(answers_to_older_terms_do_not_count_as_acks);
    RUN(stale_term_messages_are_rejected_with_our_term);
    RUN(invalid_messages_are_ignored);
    RUN(three_nodes_elect_one_leader);
    RUN(single_node_elects_itself_and_commits);
    RUN(sole_voter_campaigns_at_first_tick);
    RUN(isolated_node_rejoins_without_disrupting_leader);
    RUN(without_prevote_isolated_node_inflates_term);
    RUN(minority_never_elects_leader);
    RUN(new_leader_after_leader_isolated);
    RUN(replication_commits_on_majority_and_applies_everywhere);
    RUN(followers_learn_commit_without_waiting_for_heartbeat);
    RUN(commit_notification_rides_on_the_next_entries);
    RUN(follower_learns_commit_of_an_entry_it_has);
    RUN(follower_rejects_append_without_matching_prev_and_hints);
    RUN(follower_truncates_conflicting_suffix_only);
    RUN(follower_commit_is_bounded_by_last_new_entry);
    RUN(figure8_old_term_entry_not_committed_by_counting);
    RUN(leader_counts_itself_only_once_durable);
    RUN(non_leader_refuses_proposals);
    RUN(fast_backoff_over_many_conflicting_entries);
    RUN(lagging_follower_catches_up_with_batches);
    RUN(follower_that_lost_its_log_is_repaired);
    RUN(compaction_frees_entries_and_keeps_the_term);
    RUN(restart_from_snapshot_starts_applied_at_it);
    RUN(leader_sends_snapshot_to_follower_behind_its_first_index);
    RUN(leader_waits_for_the_snapshot_answer_then_resumes);
    RUN(unreachable_or_silent_snapshot_target_is_probed_again);
    RUN(follower_installs_snapshot_and_discards_conflicting_log);
    RUN(follower_keeps_log_suffix_that_matches_the_snapshot);
    RUN(stale_snapshot_is_answered_without_installing);
    RUN(append_below_our_snapshot_is_acknowledged_after_it);
    RUN(append_contradicting_a_committed_entry_is_refused_and_reported);
    RUN(append_whose_previous_entry_contradicts_a_committed_one_is_refused);
    RUN(snapshot_behind_the_commit_index_quiet_if_it_agrees_loud_if_not);
    RUN(a_leader_is_not_dragged_along_by_a_follower_whose_disk_diverged);
    RUN(no_commit_without_majority);
    RUN(read_index_waits_for_majority_heartbeat);
    RUN(reads_arriving_during_a_round_share_the_next_one);
    RUN(leader_counts_itself_only_once_persisted);
    RUN(reads_a_periodic_heartbeat_carries_need_no_round_of_their_own);
    RUN(read_index_fails_when_leadership_lost);
    RUN(leadership_transfer_hands_over_without_waiting_for_timeout);
    RUN(configuration_encoding_is_strict);
    RUN(a_learner_that_starts_late_on_an_idle_cluster_is_caught_up);
    RUN(learner_catches_up_without_a_vote_then_is_promoted);
    RUN(changes_are_one_step_at_a_time);
    RUN(a_new_leader_changes_nothing_before_committing_in_its_term);
    RUN(removing_a_follower_shrinks_the_majority);
    RUN(a_leader_removing_itself_steps_down_once_committed);
    RUN(a_change_that_would_stall_the_cluster_is_refused);
    RUN(an_uncommitted_configuration_is_undone_when_truncated);
    RUN(configurations_survive_compaction_and_restore);
    RUN(a_learner_gets_no_vote_and_gives_none_that_counts);
    RUN(a_leader_outside_our_configuration_is_followed);
    RUN(a_server_whose_removal_is_uncommitted_still_campaigns);
    RUN(a_learner_of_ours_may_be_a_voter_ahead_of_us);
    RUN(a_member_our_uncommitted_configuration_removes_still_gets_our_vote);
    RUN(leadership_is_never_handed_to_a_learner);
    return test_summary();
}
