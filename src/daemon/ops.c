/* ops.c - client operations: proposals and linearizable read barriers,
 * from any node (see node.h).
 *
 * On the leader a proposal goes into the log and waits until its index is
 * applied: if the entry applied there has the proposal's term, it is the
 * proposal (Log Matching) and the state machine's answer is returned; if the
 * term differs, the proposal was overwritten and never committed. A read
 * barrier on the leader is a ReadIndex (dissertation 6.4); on a follower it
 * asks the leader for a read index and waits until it has applied that far
 * (a follower read, also 6.4).
 *
 * A follower forwards proposals to the leader's /raft/propose, whose answer
 * is "<status> <etcd index> <raft index> <raft term>\n<body>", and read
 * barriers to /raft/read_index, answered {"read_index": N}. Ops that find
 * no leader wait for one for up to an election timeout; every op ends by
 * the configured request timeout at the latest.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logging.h"
#include "dedup.h"
#include "lazy_timer.h"
#include "node_internal.h"
#include "node_metrics.h"

enum op_kind { OP_PROPOSE, OP_READ };
enum op_state {
    ST_WAIT_LEADER,  /* no usable leader yet (or retry after retry_at) */
    ST_FORWARDED,    /* HTTP request to the leader in flight */
    ST_PROPOSED,     /* in our log at (index, term), we are/were leader */
    ST_READ_PENDING, /* ReadIndex read_id waiting for its heartbeat round */
    ST_WAIT_APPLIED, /* read barrier: waiting for applied >= index */
    ST_DONE,         /* outcome stored, callback pending */
};

struct node_op {
    struct node_op *prev, *next;
    struct node *owner;
    enum op_kind kind;
    enum op_state state;
    bool forwarded_here; /* came from a follower: never forward again */
    bool index_only;     /* forwarded read: done when the index is known */
    bool in_flight;      /* an HTTP forward is outstanding */
    bool sent;           /* proposed or forwarded at least once */
    bool cancelled;
    void *cmd;
    size_t len;
    raft_index index;
    raft_term term;
    raft_term index_term; /* WAIT_APPLIED: the leader's term of the entry at
                             index, committed there (0: unknown) */
    uint64_t read_id;
    uint64_t seq;         /* a proposal of this process: its seq (dedup.h) */
    raft_time deadline, leader_deadline, retry_at;
    node_done_fn fn;
    void *arg;
    struct node_outcome out;
    char *out_body;
};

static const char *const error_text[] = {
    [NODE_OK] = "ok",
    [NODE_ENOLEADER] = "no leader: the cluster has no leader this node can reach (is a majority of members up?)",
    [NODE_ETIMEOUT] = "request timed out: the write may or may not have been applied",
    [NODE_ELOST] = "leadership changed before the write committed: it was not applied, retry it",
    [NODE_EUNKNOWN] = "lost contact with the leader: the write may or may not have been applied",
    [NODE_ETOOBIG] = "request too large",
    [NODE_ESTOPPING] = "this node is shutting down",
};

/* Internal error codes on the forwarding RPCs. */
static const char *const error_code[] = {
    [NODE_OK] = "ok",
    [NODE_ENOLEADER] = "no_leader",
    [NODE_ETIMEOUT] = "timeout",
    [NODE_ELOST] = "lost",
    [NODE_EUNKNOWN] = "unknown",
    [NODE_ETOOBIG] = "too_big",
    [NODE_ESTOPPING] = "stopping",
};

static struct node_op *op_new(struct node *n, enum op_kind kind,
                              node_done_fn fn, void *arg)
{
    struct node_op *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    if (kind == OP_PROPOSE) /* a client's, or forwarded to this leader */
        node_metrics_proposal_received();
    raft_time now = node_now_ms();
    op->owner = n;
    op->kind = kind;
    op->fn = fn;
    op->arg = arg;
    op->deadline = now + n->cfg->request_timeout_ms;
    op->leader_deadline = now + n->cfg->election_timeout_max_ms;
    op->next = n->ops;
    if (n->ops)
        n->ops->prev = op;
    n->ops = op;
    n->n_ops++;
    return op;
}

static void op_free(struct node *n, struct node_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        n->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    n->n_ops--;
    free(op->cmd);
    free(op->out_body);
    free(op);
}

/* Record the outcome; the callback runs from the deferred sweep. */
static void op_finish(struct node *n, struct node_op *op, enum node_error e,
                      const char *message)
{
    if (op->state == ST_DONE)
        return;
    op->state = ST_DONE;
    if (op->kind == OP_PROPOSE && e == NODE_OK)
        node_metrics_proposal_committed();
    else if (op->kind == OP_PROPOSE)
        node_metrics_proposal_failed(error_code[e]);
    op->out.error = e;
    op->out.message = message ? message : error_text[e];
    sd_event_source_set_enabled(n->ops_kick, SD_EVENT_ONESHOT);
}

/* Keep the state machine's answer (copied) in op->out. */
static bool op_store_result(struct node_op *op, unsigned status,
                            const char *body, size_t len, uint64_t etcd_index)
{
    free(op->out_body);
    op->out_body = malloc(len + 1);
    if (!op->out_body)
        return false;
    memcpy(op->out_body, body, len);
    op->out_body[len] = 0;
    op->out.status = status;
    op->out.body = op->out_body;
    op->out.len = len;
    op->out.etcd_index = etcd_index;
    return true;
}

static void op_finish_ok(struct node *n, struct node_op *op,
                         unsigned status, const char *body, size_t len,
                         uint64_t etcd_index)
{
    if (!op_store_result(op, status, body, len, etcd_index))
        op_finish(n, op, NODE_EUNKNOWN, "out of memory");
    else
        op_finish(n, op, NODE_OK, NULL);
}

/* ---- forwarding to the leader ---- */

/* A follower sends the ops it cannot serve itself to the leader in
 * batches: every write (or every read) waiting at that moment shares one
 * HTTP request, and at most one request of each kind is in flight, so under
 * load the leader parses one request per batch instead of one per client
 * request (and one batch costs the follower one curl transfer).
 *   /raft/propose: frames "<length>\n<command>"; the answer has one frame
 *     per command, in order: "<status> <etcd index> <raft index> <raft
 *     term>\n<store's JSON>" or "error <code>".
 *   /raft/read_index: one answer serves the whole batch, since every read
 *     in it arrived before the leader was asked. */

#define FORWARD_BATCH_MAX 256

struct forward {
    struct node *n;
    raft_id leader;
    enum op_kind kind;
    unsigned n_ops;
    struct node_op *ops[];
};

static void forward_done(void *arg, long status, const char *body, size_t len,
                         const char *err);

static bool wants_forward(const struct node_op *op, enum op_kind kind,
                          raft_time now)
{
    return op->kind == kind && op->state == ST_WAIT_LEADER &&
           !op->cancelled && !op->forwarded_here && now >= op->retry_at;
}

/* Write the frame "<length>\n<data>" at p (room for len + 24 bytes);
 * returns its end. Both directions of /raft/propose use these frames. */
static char *put_frame(char *p, const void *data, size_t len)
{
    p += sprintf(p, "%zu\n", len);
    memcpy(p, data, len);
    return p + len;
}

/* "<length>\n<command>" for each op of the batch. */
static char *frame_commands(struct forward *f, size_t *len)
{
    size_t cap = 0;
    for (unsigned i = 0; i < f->n_ops; i++)
        cap += f->ops[i]->len + 24;
    char *body = malloc(cap ? cap : 1), *p = body;
    if (!body)
        return NULL;
    for (unsigned i = 0; i < f->n_ops; i++)
        p = put_frame(p, f->ops[i]->cmd, f->ops[i]->len);
    *len = (size_t)(p - body);
    return body;
}

static void forward_batch(struct node *n, enum op_kind kind, raft_id leader)
{
    const struct peer *m = node_find_peer(n, leader);
    raft_time now = node_now_ms(), deadline = UINT64_MAX;
    unsigned count = 0;
    size_t bytes = 0, limit = n->cfg->max_request_bytes;
    if (!m || n->forwarding[kind] == leader)
        return; /* (a batch to an old leader does not hold up the rest) */
    for (struct node_op *op = n->ops; op && count < FORWARD_BATCH_MAX; op = op->next)
        if (wants_forward(op, kind, now)) {
            if (count && bytes + op->len + 24 > limit)
                break;
            bytes += op->len + 24;
            count++;
        }
    if (!count)
        return;
    struct forward *f = malloc(sizeof(*f) + count * sizeof(f->ops[0]));
    if (!f)
        return; /* tried again at the next progress */
    *f = (struct forward){.n = n, .leader = leader, .kind = kind};
    for (struct node_op *op = n->ops; op && f->n_ops < count; op = op->next)
        if (wants_forward(op, kind, now)) {
            f->ops[f->n_ops++] = op;
            if (op->deadline < deadline)
                deadline = op->deadline;
        }
    size_t len = 0;
    char *body = kind == OP_PROPOSE ? frame_commands(f, &len) : NULL;
    unsigned timeout = deadline > now ? (unsigned)(deadline - now) : 1;
    if ((kind == OP_PROPOSE && !body) ||
        node_peer_post(n, leader, m->url,
                       kind == OP_PROPOSE ? "/raft/propose" : "/raft/read_index",
                       "application/octet-stream", body ? body : "", len,
                       timeout, forward_done, f) < 0) {
        for (unsigned i = 0; i < f->n_ops; i++)
            f->ops[i]->retry_at = now + n->cfg->heartbeat_ms;
        free(body);
        free(f);
        return;
    }
    free(body);
    n->forwarding[kind] = leader;
    if (kind == OP_PROPOSE)
        node_metrics_proposals_forwarded(f->n_ops);
    for (unsigned i = 0; i < f->n_ops; i++) {
        f->ops[i]->state = ST_FORWARDED;
        f->ops[i]->in_flight = true;
        f->ops[i]->sent = true;
    }
}

/* Send what waits for the leader, if there is one and it is not us. */
static void forward_pending(struct node *n)
{
    raft_id leader = raft_leader(n->raft);
    if (leader == RAFT_NONE || leader == raft_self(n->raft) || n->stopping)
        return;
    forward_batch(n, OP_PROPOSE, leader);
    forward_batch(n, OP_READ, leader);
}

static enum node_error code_to_error(const char *code)
{
    for (size_t i = 0; i < sizeof(error_code) / sizeof(error_code[0]); i++)
        if (code && strcmp(code, error_code[i]) == 0)
            return (enum node_error)i;
    return NODE_EUNKNOWN;
}

static void retry_later(struct node *n, struct node_op *op)
{
    op->state = ST_WAIT_LEADER;
    op->retry_at = node_now_ms() + n->cfg->heartbeat_ms;
}

/* The leader refused an op with code: try again later, or give up. */
static void forward_refused(struct node *n, struct node_op *op, const char *code)
{
    bool not_leader = code && strcmp(code, "not_leader") == 0;
    enum node_error e = code_to_error(code);
    if (not_leader || op->kind == OP_READ || e == NODE_ENOLEADER ||
        e == NODE_ESTOPPING || e == NODE_ELOST)
        retry_later(n, op);
    else
        op_finish(n, op, e, NULL);
}

/* One write's answer: "<status> <etcd> <raft index> <raft term>\n<body>". */
static void forward_write_answer(struct node *n, struct node_op *op,
                                 const char *part, size_t len)
{
    unsigned st;
    uint64_t etcd_index, raft_idx, raft_term;
    char code[32];
    const char *nl = memchr(part, '\n', len);
    if (len > 6 && memcmp(part, "error ", 6) == 0) {
        size_t cl = len - 6 < sizeof(code) - 1 ? len - 6 : sizeof(code) - 1;
        memcpy(code, part + 6, cl);
        code[cl] = 0;
        forward_refused(n, op, code);
        return;
    }
    if (!nl || sscanf(part, "%u %" SCNu64 " %" SCNu64 " %" SCNu64, &st,
                      &etcd_index, &raft_idx, &raft_term) != 4) {
        op_finish(n, op, NODE_EUNKNOWN, "the leader sent a malformed answer");
        return;
    }
    if (!op_store_result(op, st, nl + 1, len - (size_t)(nl + 1 - part),
                         etcd_index)) {
        op_finish(n, op, NODE_EUNKNOWN, "out of memory");
        return;
    }
    op->out.raft_index = raft_idx;
    op->out.raft_term = raft_term;
    /* Answer only once this node has applied the write too, so the client
     * reads its own write here and watches here see it (as etcd does). */
    op->state = ST_WAIT_APPLIED;
    op->index = raft_idx;
    op->index_term = raft_term;
}

/* Next frame "<length>\n<bytes>" of *p..end, or NULL. */
static const char *next_frame(const char **p, const char *end, size_t *len)
{
    const char *e = *p;
    size_t l = 0;
    while (e < end && *e >= '0' && *e <= '9' && e - *p < 19)
        l = l * 10 + (size_t)(*e++ - '0');
    if (e == *p || e >= end || *e != '\n' || l > (size_t)(end - e - 1))
        return NULL;
    *len = l;
    *p = e + 1 + l;
    return e + 1;
}

/* Apply a whole-request answer (an error, or a read index) to one op. */
struct forward_verdict {
    enum { V_RETRY, V_REFUSED, V_READ_INDEX, V_FRAMES } kind;
    char code[32];
    raft_index index;
    raft_term term;
};

static void judge_answer(const struct forward *f, long status, const char *body,
                         size_t len, struct forward_verdict *v)
{
    memset(v, 0, sizeof(*v));
    if (status == 0) {
        /* The leader may or may not have got it (curl even retries a dead
         * kept-alive connection by itself). Sending it again is safe: reads
         * change nothing and a proposal keeps its identity (dedup.h). */
        v->kind = V_RETRY;
        return;
    }
    cJSON *j = NULL;
    if (status != 200 || f->kind == OP_READ)
        j = cJSON_ParseWithLength(body, len);
    if (status != 200) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
        v->kind = V_REFUSED;
        snprintf(v->code, sizeof(v->code), "%s",
                 cJSON_IsString(code) ? code->valuestring : "unknown");
    } else if (f->kind == OP_READ) {
        const cJSON *ri = cJSON_GetObjectItemCaseSensitive(j, "read_index");
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(j, "term");
        v->kind = V_RETRY;
        if (cJSON_IsNumber(ri) && ri->valuedouble >= 0) {
            v->kind = V_READ_INDEX;
            v->index = (raft_index)ri->valuedouble;
            v->term = cJSON_IsNumber(rt) && rt->valuedouble >= 1
                          ? (raft_term)rt->valuedouble : 0;
        }
    } else {
        v->kind = V_FRAMES;
    }
    cJSON_Delete(j);
}

static void forward_done(void *arg, long status, const char *body, size_t len,
                         const char *err)
{
    (void)err; /* any transport failure is retried: see judge_answer */
    struct forward *f = arg;
    struct node *n = f->n;
    struct forward_verdict v;
    judge_answer(f, status, body, len, &v);
    const char *p = body, *end = body + len;
    if (n->forwarding[f->kind] == f->leader)
        n->forwarding[f->kind] = RAFT_NONE;
    for (unsigned i = 0; i < f->n_ops; i++) {
        struct node_op *op = f->ops[i];
        size_t part_len = 0;
        const char *part = v.kind == V_FRAMES ? next_frame(&p, end, &part_len)
                                              : NULL;
        op->in_flight = false;
        if (op->cancelled)
            op_free(n, op);
        else if (n->closing) /* node_free() cancels the client */
            op_finish(n, op, NODE_ESTOPPING, NULL);
        else if (v.kind == V_RETRY)
            retry_later(n, op);
        else if (v.kind == V_REFUSED)
            forward_refused(n, op, v.code);
        else if (v.kind == V_READ_INDEX) {
            op->state = ST_WAIT_APPLIED;
            op->index = v.index;
            op->index_term = v.term;
        } else if (part)
            forward_write_answer(n, op, part, part_len);
        else
            op_finish(n, op, NODE_EUNKNOWN, "the leader sent a malformed answer");
    }
    free(f);
    if (!n->closing)
        node_schedule(n);
}

/* ---- dispatch ---- */

/* Try to get op going: on the leader directly, else forward. */
static void dispatch(struct node *n, struct node_op *op)
{
    raft_time now = node_now_ms();
    if (op->state != ST_WAIT_LEADER || now < op->retry_at)
        return;
    if (n->stopping) {
        op_finish(n, op, NODE_ESTOPPING, NULL);
        return;
    }
    struct raft *r = n->raft;
    if (raft_role(r) == RAFT_LEADER) {
        int rv;
        if (op->kind == OP_PROPOSE) {
            rv = raft_propose(r, now, op->cmd, op->len, &op->index);
            if (rv == 0) {
                op->term = raft_current_term(r);
                op->state = ST_PROPOSED;
                op->sent = true;
            } else if (rv == RAFT_ETOOBIG) {
                op_finish(n, op, NODE_ETOOBIG, NULL);
            } else if (rv == RAFT_ENOMEM) {
                op_finish(n, op, NODE_EUNKNOWN, "out of memory");
            } /* RAFT_ETRANSFER: wait for the new leader */
        } else {
            op->read_id = ++n->next_read_id;
            rv = raft_read_index(r, now, op->read_id);
            if (rv == 0) {
                op->state = ST_READ_PENDING;
                op->sent = true;
            }
            /* RAFT_ENOTREADY: the new leader's no-op commits shortly */
        }
        return;
    }
    if (op->forwarded_here)
        op_finish(n, op, NODE_ENOLEADER, "not_leader");
    /* else it waits for forward_pending() */
}

static void check_deadline(struct node *n, struct node_op *op, raft_time now)
{
    if (op->state == ST_DONE || op->in_flight)
        return;
    bool no_leader = op->state == ST_WAIT_LEADER &&
                     raft_leader(n->raft) == RAFT_NONE;
    if (op->kind == OP_PROPOSE && op->state == ST_WAIT_APPLIED &&
        now >= op->deadline)
        op_finish(n, op, NODE_OK, NULL); /* committed; we just lag behind */
    else if (op->sent && now >= op->deadline)
        /* Once sent anywhere, a write may have been applied. A read sent to
         * a leader that went silent (a follower's forward waits for it up
         * to the deadline) ran out its time too: 504, as raftd(8) says,
         * even if no leader is known by now. */
        op_finish(n, op, NODE_ETIMEOUT,
                  op->kind == OP_READ ? "read timed out: the leader did not "
                                        "confirm it in time, retry" : NULL);
    else if (no_leader && (!op->sent || op->kind == OP_READ) &&
             now >= op->leader_deadline)
        op_finish(n, op, NODE_ENOLEADER, NULL);
    else if (now >= op->deadline)
        op_finish(n, op, NODE_ENOLEADER, NULL); /* never got anywhere */
}

/* The leader told us which entries are committed: once ours match, commit
 * them without waiting for its next AppendEntries (raft_learn_commit). */
static void learn_commits(struct node *n)
{
    raft_index commit = raft_commit_index(n->raft);
    for (struct node_op *op = n->ops; op; op = op->next)
        if (op->state == ST_WAIT_APPLIED && op->index_term &&
            op->index > commit &&
            raft_learn_commit(n->raft, op->index, op->index_term))
            commit = op->index;
}

void ops_on_progress(struct node *n)
{
    raft_time now = node_now_ms();
    learn_commits(n);
    raft_index applied = raft_applied_index(n->raft);
    for (struct node_op *op = n->ops, *next; op; op = next) {
        next = op->next;
        if (op->cancelled)
            continue;
        if (op->state == ST_WAIT_APPLIED && applied >= op->index) {
            if (op->kind == OP_READ) {
                op->out.raft_index = op->index;
                op->out.raft_term = raft_current_term(n->raft);
            }
            op_finish(n, op, NODE_OK, NULL);
            continue;
        }
        dispatch(n, op);
        check_deadline(n, op, now);
    }
    forward_pending(n);
    if (n->n_ops > 0) {
        /* a check within a heartbeat; an earlier one still due stays
         * (lazy_timer.h) */
        uint64_t usec;
        sd_event_now(n->ev, CLOCK_MONOTONIC, &usec);
        lazy_timer_by(n->ops_timer, usec + (uint64_t)n->cfg->heartbeat_ms * 1000);
    } else {
        sd_event_source_set_enabled(n->ops_timer, SD_EVENT_OFF);
    }
}

void ops_on_applied(struct node *n, raft_index index, raft_term term,
                    const struct kv_result *res)
{
    for (struct node_op *op = n->ops; op; op = op->next) {
        if (op->state != ST_PROPOSED || op->index != index)
            continue;
        op->out.raft_index = index;
        op->out.raft_term = op->term;
        if (op->term != term && !op->forwarded_here)
            op->state = ST_WAIT_LEADER; /* overwritten: propose it again */
        else if (op->term != term)
            op_finish(n, op, NODE_ELOST, NULL); /* its origin retries */
        else if (res)
            op_finish_ok(n, op, res->status, res->body, res->len, res->index);
        else
            op_finish(n, op, NODE_EUNKNOWN, "entry applied without a result");
    }
}

void ops_on_reads(struct node *n, const struct raft_read *reads, size_t n_reads)
{
    for (size_t i = 0; i < n_reads; i++)
        for (struct node_op *op = n->ops; op; op = op->next) {
            if (op->state != ST_READ_PENDING || op->read_id != reads[i].id)
                continue;
            if (reads[i].index == 0) {
                op->state = ST_WAIT_LEADER; /* leadership lost: again */
            } else if (op->index_only) {
                op->out.raft_index = reads[i].index;
                op->out.raft_term = raft_term_at(n->raft, reads[i].index);
                op_finish(n, op, NODE_OK, NULL);
            } else {
                op->state = ST_WAIT_APPLIED;
                op->index = reads[i].index;
            }
        }
}

/* Deferred: call the callbacks of finished ops. */
static void deliver_finished(struct node *n)
{
    for (struct node_op *op = n->ops, *next; op; op = next) {
        next = op->next;
        if (op->state != ST_DONE || op->in_flight)
            continue;
        if (!op->cancelled && op->fn)
            op->fn(op->arg, &op->out);
        op_free(n, op);
    }
}

static int on_kick(sd_event_source *s, void *arg)
{
    (void)s;
    deliver_finished(arg);
    return 0;
}

void ops_deliver_finished(struct node *n)
{
    int on = 0;
    if (!n->ops_kick || sd_event_source_get_enabled(n->ops_kick, &on) < 0 || !on)
        return;
    sd_event_source_set_enabled(n->ops_kick, SD_EVENT_OFF);
    deliver_finished(n);
}

static int on_ops_timer(sd_event_source *s, uint64_t usec, void *arg)
{
    (void)s;
    (void)usec;
    node_process(arg);
    return 0;
}

int ops_init(struct node *n)
{
    do /* this process's session (dedup.h) */
        n->incarnation = node_random_u64(n);
    while (!n->incarnation);
    n->next_seq = 1;
    if (sd_event_add_defer(n->ev, &n->ops_kick, on_kick, n) < 0 ||
        sd_event_add_time(n->ev, &n->ops_timer, CLOCK_MONOTONIC, 0, 1000,
                          on_ops_timer, n) < 0)
        return -1;
    sd_event_source_set_enabled(n->ops_kick, SD_EVENT_OFF);
    sd_event_source_set_enabled(n->ops_timer, SD_EVENT_OFF);
    return 0;
}

/* Shutting down (after the HTTP client is gone, so nothing is in flight):
 * every op still waiting learns so. */
void ops_free(struct node *n)
{
    while (n->ops) {
        struct node_op *op = n->ops;
        if (op->state != ST_DONE) {
            op->out.error = NODE_ESTOPPING;
            op->out.message = error_text[NODE_ESTOPPING];
        }
        if (!op->cancelled && op->fn)
            op->fn(op->arg, &op->out);
        op_free(n, op);
    }
    sd_event_source_unref(n->ops_kick);
    sd_event_source_unref(n->ops_timer);
    n->ops_kick = n->ops_timer = NULL;
}

/* ---- public API ---- */

/* The lowest seq of this process's own proposals that may still be sent
 * (again): waiting for a leader, forwarded, or in our log as leader. Not
 * finished ones, not ones whose answer came (waiting to apply here), not
 * ones forwarded here by other nodes. The next seq if none. */
static uint64_t lowest_live_seq(const struct node *n)
{
    uint64_t low = n->next_seq;
    for (const struct node_op *op = n->ops; op; op = op->next)
        if (op->seq && op->seq < low && !op->cancelled &&
            (op->state == ST_WAIT_LEADER || op->state == ST_FORWARDED ||
             op->state == ST_PROPOSED))
            low = op->seq;
    return low;
}

struct node_op *node_propose(struct node *n, const void *cmd, size_t len,
                             node_done_fn fn, void *arg)
{
    struct node_op *op = op_new(n, OP_PROPOSE, fn, arg);
    if (!op)
        return NULL;
    /* The request's identity goes with every copy of it (dedup.h), so
     * sending it again after an ambiguous failure cannot apply it twice;
     * ack tells the state machine which earlier ones we are done with. */
    op->seq = n->next_seq++;
    struct dedup_ident id = {.origin = raft_self(n->raft),
                             .inc = n->incarnation, .seq = op->seq,
                             .ack = lowest_live_seq(n)};
    char header[DEDUP_HEADER_MAX];
    size_t hl = dedup_header(header, &id);
    op->cmd = malloc(hl + len);
    if (!op->cmd) {
        op_finish(n, op, NODE_EUNKNOWN, "out of memory");
        return op;
    }
    memcpy(op->cmd, header, hl);
    memcpy((char *)op->cmd + hl, cmd, len);
    op->len = hl + len;
    dispatch(n, op);
    node_schedule(n);
    return op;
}

struct node_op *node_read_barrier(struct node *n, node_done_fn fn, void *arg)
{
    struct node_op *op = op_new(n, OP_READ, fn, arg);
    if (!op)
        return NULL;
    dispatch(n, op);
    node_schedule(n);
    return op;
}

void node_op_cancel(struct node *n, struct node_op *op)
{
    /* A write already in the log stays there; nobody hears of its fate.
     * An op with an HTTP forward in flight is freed by its callback. */
    op->cancelled = true;
    op->fn = NULL;
    if (!op->in_flight) {
        op->state = ST_DONE;
        sd_event_source_set_enabled(n->ops_kick, SD_EVENT_ONESHOT);
    }
}

/* ---- the leader's side of forwarding ---- */

/* A read index answer: {"read_index":N,"term":T}, or an error. */
/* The code a failed op is refused with on the forwarding RPCs. */
static const char *outcome_code(const struct node_outcome *o)
{
    if (o->message && strcmp(o->message, "not_leader") == 0)
        return "not_leader";
    return error_code[o->error == NODE_OK ? NODE_EUNKNOWN : o->error];
}

static void answer_read_index(void *arg, const struct node_outcome *o)
{
    struct http_request *req = arg;
    if (o->error == NODE_OK) {
        char json[80];
        int l = snprintf(json, sizeof(json),
                         "{\"read_index\":%" PRIu64 ",\"term\":%" PRIu64 "}",
                         o->raft_index, o->raft_term);
        http_respond(req, 200, "application/json", json, (size_t)l);
        return;
    }
    const char *code = outcome_code(o);
    bool not_leader = strcmp(code, "not_leader") == 0;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "error", not_leader ? "this node is not the leader"
                                                   : o->message);
    cJSON_AddStringToObject(j, "code", code);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (s)
        http_respond(req, 503, "application/json", s, strlen(s));
    else
        http_respond_error(req, 503, "unavailable");
    free(s);
}

/* A batch of forwarded writes, answered once every one has its outcome. */
struct batch;
struct batch_part {
    struct batch *b;
    struct node_op *op;
    char *answer;
    size_t len;
};
struct batch {
    struct http_request *req;
    struct node *n;
    unsigned n_parts, n_done;
    struct batch_part parts[];
};

static void batch_free(struct batch *b)
{
    for (unsigned i = 0; i < b->n_parts; i++)
        free(b->parts[i].answer);
    free(b);
}

/* "<status> <etcd index> <raft index> <raft term>\n<body>" or "error <code>". */
static char *encode_part(const struct node_outcome *o, size_t *len)
{
    char head[96];
    int h;
    if (o->error == NODE_OK && o->body)
        h = snprintf(head, sizeof(head), "%u %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
                     o->status, o->etcd_index, o->raft_index, o->raft_term);
    else
        h = snprintf(head, sizeof(head), "error %s", outcome_code(o));
    size_t body_len = o->error == NODE_OK && o->body ? o->len : 0;
    char *buf = malloc((size_t)h + body_len + 1);
    if (!buf)
        return NULL;
    memcpy(buf, head, (size_t)h);
    if (body_len)
        memcpy(buf + h, o->body, body_len);
    *len = (size_t)h + body_len;
    return buf;
}

static void batch_respond(struct batch *b)
{
    size_t total = 0;
    for (unsigned i = 0; i < b->n_parts; i++)
        total += b->parts[i].len + 24;
    char *out = malloc(total + 1), *p = out;
    if (!out) {
        http_respond_error(b->req, 500, "out of memory");
        return;
    }
    for (unsigned i = 0; i < b->n_parts; i++)
        p = put_frame(p, b->parts[i].answer, b->parts[i].len);
    http_respond(b->req, 200, "application/octet-stream", out, (size_t)(p - out));
    free(out);
}

/* Out of memory for this part: an unknown outcome (the origin retries). */
static void part_answer_unknown(struct batch_part *part)
{
    static const char unknown[] = "error unknown";
    part->answer = strdup(unknown);
    part->len = part->answer ? sizeof(unknown) - 1 : 0;
}

static void batch_part_done(void *arg, const struct node_outcome *o)
{
    struct batch_part *part = arg;
    struct batch *b = part->b;
    part->op = NULL;
    part->answer = encode_part(o, &part->len);
    if (!part->answer)
        part_answer_unknown(part);
    if (++b->n_done < b->n_parts)
        return;
    batch_respond(b);
    batch_free(b);
}

static void on_batch_abort(struct http_request *req, void *arg)
{
    (void)req;
    struct batch *b = arg;
    for (unsigned i = 0; i < b->n_parts; i++)
        if (b->parts[i].op)
            node_op_cancel(b->n, b->parts[i].op);
    batch_free(b);
}

/* Count the frames of a batch body; 0 if it is malformed. */
static unsigned count_frames(const char *body, size_t len)
{
    const char *p = body, *end = body + len;
    size_t fl;
    unsigned count = 0;
    while (p < end) {
        if (!next_frame(&p, end, &fl) || ++count > FORWARD_BATCH_MAX)
            return 0;
    }
    return count;
}

void ops_handle_propose(struct node *n, struct http_request *req)
{
    size_t len, fl;
    const char *body = http_request_body(req, &len);
    unsigned count = body ? count_frames(body, len) : 0;
    if (!count) {
        http_respond_error(req, 400, "malformed batch of writes: expected "
                                     "frames \"<length>\\n<command>\"");
        return;
    }
    struct batch *b = calloc(1, sizeof(*b) + count * sizeof(b->parts[0]));
    if (!b) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    b->req = req;
    b->n = n;
    b->n_parts = count;
    const char *p = body, *end = body + len;
    for (unsigned i = 0; i < count; i++) {
        const char *cmd = next_frame(&p, end, &fl);
        struct batch_part *part = &b->parts[i];
        part->b = b;
        part->op = op_new(n, OP_PROPOSE, batch_part_done, part);
        if (!part->op) { /* answered at once, as an unknown failure */
            part_answer_unknown(part);
            b->n_done++;
            continue;
        }
        part->op->forwarded_here = true;
        part->op->cmd = malloc(fl ? fl : 1);
        if (part->op->cmd) {
            memcpy(part->op->cmd, cmd, fl);
            part->op->len = fl;
            dispatch(n, part->op);
        } else {
            op_finish(n, part->op, NODE_EUNKNOWN, "out of memory");
        }
    }
    if (b->n_done == b->n_parts) {
        batch_respond(b);
        batch_free(b);
        return;
    }
    http_request_on_abort(req, on_batch_abort, b);
    node_schedule(n);
}

static void on_forward_abort(struct http_request *req, void *arg)
{
    (void)req;
    struct node_op *op = arg;
    node_op_cancel(op->owner, op);
}

void ops_handle_read_index(struct node *n, struct http_request *req)
{
    struct node_op *op = op_new(n, OP_READ, answer_read_index, req);
    if (!op) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    op->forwarded_here = true;
    op->index_only = true;
    dispatch(n, op);
    http_request_on_abort(req, on_forward_abort, op);
    node_schedule(n);
}
