/* node_metrics.c - raftd's Prometheus metrics (see node_metrics.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "node_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "logging.h"
#include "metrics.h"
#include "node_internal.h"
#include "storage.h"

/* Client requests: 100 us to 10 s (a local read to a watch or a write
 * waiting out an election). */
static const double request_bounds[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
/* fdatasync: 50 us (a fast SSD's cache) to 5 s (a disk in trouble). */
static const double fsync_bounds[] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};
/* Snapshots: 1 ms to a minute. */
static const double snapshot_bounds[] = {
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60,
};
#define N_BOUNDS(a) (unsigned)(sizeof(a) / sizeof((a)[0]))

static const char *const op_names[METRICS_OP_COUNT] = {
    [METRICS_OP_GET] = "get",       [METRICS_OP_QGET] = "qget",
    [METRICS_OP_WATCH] = "watch",   [METRICS_OP_PUT] = "put",
    [METRICS_OP_POST] = "post",     [METRICS_OP_CAS] = "cas",
    [METRICS_OP_DELETE] = "delete", [METRICS_OP_CAD] = "cad",
};

/* The RPCs this node sends, by raft_msg_type (requests only). */
static const char *const rpc_names[] = {
    [RAFT_MSG_VOTE] = "vote",
    [RAFT_MSG_APPEND] = "append_entries",
    [RAFT_MSG_TIMEOUT_NOW] = "timeout_now",
    [RAFT_MSG_SNAPSHOT] = "install_snapshot",
};
#define N_RPC (RAFT_MSG_SNAPSHOT + 1)

/* raft_role order */
static const char *const state_names[] = {
    "follower", "precandidate", "candidate", "leader",
};
#define N_STATES 4

static struct {
    struct metrics *reg;
    /* read from the node at each scrape */
    struct metric_series *term, *state[N_STATES], *leader_id, *voter,
        *learner, *commit, *applied, *last_index, *snapshot_index,
        *snapshot_bytes, *conn_client, *conn_peer, *conn_accepted,
        *conn_refused, *requests_pending, *proposals_pending,
        *wal_bytes, *wal_segments;
    /* counted from events */
    struct metric_family *events;
    struct metric_series *leader_changes, *elections_started,
        *elections_won, *prevotes_started, *prevotes_failed, *stepdowns,
        *snapshots_taken, *snapshots_installed;
    /* direct hooks */
    struct metric_series *request[METRICS_OP_COUNT], *fsync,
        *proposals_received, *proposals_committed, *proposals_forwarded,
        *rpcs_sent[N_RPC], *snapshots_sent, *snapshot_sent_bytes,
        *snapshot_serialize, *snapshot_write, *snapshot_install;
    struct metric_family *proposals_failed, *rpc_errors;
} M;

/* ---- setting up ---- */

static struct metric_family *family(enum metric_type type, const char *name,
                                    const char *help, const char *label)
{
    return metrics_add(M.reg, type, name, help, label, NULL, 0);
}

static struct metric_series *single(enum metric_type type, const char *name,
                                    const char *help)
{
    return metric_series(family(type, name, help, NULL), NULL);
}

static struct metric_series *histogram(const char *name, const char *help,
                                       const double *bounds, unsigned n)
{
    return metric_series(metrics_add(M.reg, METRIC_HISTOGRAM, name, help,
                                      NULL, bounds, n), NULL);
}

static void add_state_metrics(void)
{
    M.term = single(METRIC_GAUGE, "raftd_term", "The current Raft term.");
    struct metric_family *st = family(
        METRIC_GAUGE, "raftd_state",
        "1 for the role this node is in (follower, precandidate: asking for "
        "pre-votes, candidate, leader), 0 for the others.", "state");
    for (unsigned i = 0; i < N_STATES; i++)
        M.state[i] = metric_series(st, state_names[i]);
    M.leader_id = single(METRIC_GAUGE, "raftd_leader_id",
                         "The id of the leader this node knows (0: none).");
    struct metric_family *mb = family(
        METRIC_GAUGE, "raftd_member",
        "1 for this node's role in the configuration in effect (voter or "
        "learner); both 0 once it was removed.", "role");
    M.voter = metric_series(mb, "voter");
    M.learner = metric_series(mb, "learner");
    M.leader_changes = single(METRIC_COUNTER, "raftd_leader_changes_total",
                              "Times the leader this node knows changed "
                              "(to none included).");
    M.elections_started = single(
        METRIC_COUNTER, "raftd_elections_started_total",
        "Elections this node started (a new term, voting for itself).");
    M.elections_won = single(METRIC_COUNTER, "raftd_elections_won_total",
                             "Elections this node won (it became leader).");
    M.prevotes_started = single(METRIC_COUNTER, "raftd_prevotes_started_total",
                                "Pre-vote rounds this node started.");
    M.prevotes_failed = single(METRIC_COUNTER, "raftd_prevotes_failed_total",
                               "Pre-vote rounds that got no majority.");
    M.stepdowns = single(METRIC_COUNTER, "raftd_leader_stepdowns_total",
                         "Times this node stepped down as leader.");
    M.events = family(METRIC_COUNTER, "raftd_raft_events_total",
                      "Raft events logged, by their RAFT_EVENT name "
                      "(whatever the log level).", "event");
}

static void add_log_metrics(void)
{
    M.commit = single(METRIC_GAUGE, "raftd_commit_index",
                      "The highest log index known committed.");
    M.applied = single(METRIC_GAUGE, "raftd_applied_index",
                       "The highest log index applied to the store.");
    M.last_index = single(METRIC_GAUGE, "raftd_last_log_index",
                          "The index of the last entry in the log.");
    M.snapshot_index = single(METRIC_GAUGE, "raftd_snapshot_index",
                              "The last index the snapshot file covers "
                              "(0: none).");
    M.snapshot_bytes = single(METRIC_GAUGE, "raftd_snapshot_size_bytes",
                              "The size of the snapshot file.");
    M.wal_bytes = single(METRIC_COUNTER, "raftd_wal_written_bytes_total",
                         "Bytes written to the log segments.");
    M.wal_segments = single(METRIC_GAUGE, "raftd_wal_segments",
                            "Log segment files.");
    M.fsync = histogram("raftd_fsync_duration_seconds",
                        "Time to make the log durable (fdatasync of its "
                        "files, one per group of writes).",
                        fsync_bounds, N_BOUNDS(fsync_bounds));
}

static void add_request_metrics(void)
{
    struct metric_family *rq = metrics_add(
        M.reg, METRIC_HISTOGRAM, "raftd_request_duration_seconds",
        "Client requests of the keys API from arrival to answer, by "
        "operation (get, qget: quorum read, watch, put, post, cas, delete, "
        "cad: compare-and-delete).",
        "op", request_bounds, N_BOUNDS(request_bounds));
    for (unsigned i = 0; i < METRICS_OP_COUNT; i++)
        M.request[i] = metric_series(rq, op_names[i]);
    M.proposals_received = single(
        METRIC_COUNTER, "raftd_proposals_received_total",
        "Writes this node was asked to commit (its clients' and, on the "
        "leader, those forwarded by followers).");
    M.proposals_committed = single(METRIC_COUNTER,
                                   "raftd_proposals_committed_total",
                                   "Writes committed and applied, answered "
                                   "with the store's result.");
    M.proposals_failed = family(METRIC_COUNTER, "raftd_proposals_failed_total",
                                "Writes answered with an error, by reason.",
                                "reason");
    static const char *const reasons[] = {"no_leader", "timeout", "lost",
                                          "unknown", "too_big", "stopping"};
    for (unsigned i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        metric_series(M.proposals_failed, reasons[i]);
    M.proposals_forwarded = single(METRIC_COUNTER,
                                   "raftd_proposals_forwarded_total",
                                   "Writes this follower forwarded to the "
                                   "leader.");
    M.proposals_pending = single(METRIC_GAUGE, "raftd_proposals_pending",
                                 "Writes and quorum reads waiting.");
}

static void add_peer_metrics(void)
{
    struct metric_family *sent = family(METRIC_COUNTER,
                                        "raftd_peer_rpcs_sent_total",
                                        "Raft RPCs sent to peers, by type.",
                                        "type");
    for (unsigned i = 0; i < N_RPC; i++)
        if (rpc_names[i])
            M.rpcs_sent[i] = metric_series(sent, rpc_names[i]);
    M.rpc_errors = family(METRIC_COUNTER, "raftd_peer_rpc_errors_total",
                          "Raft RPCs to a peer that failed (no connection, "
                          "timeout, an error status), by peer id.", "peer");
}

static void add_snapshot_metrics(void)
{
    M.snapshots_taken = single(METRIC_COUNTER, "raftd_snapshots_taken_total",
                               "Snapshots this node took of its store.");
    M.snapshots_sent = single(METRIC_COUNTER, "raftd_snapshots_sent_total",
                              "Snapshots sent to followers.");
    M.snapshot_sent_bytes = single(METRIC_COUNTER,
                                   "raftd_snapshot_sent_bytes_total",
                                   "Bytes of the snapshots sent.");
    M.snapshots_installed = single(METRIC_COUNTER,
                                   "raftd_snapshots_installed_total",
                                   "Leader's snapshots this node installed.");
    M.snapshot_serialize = histogram(
        "raftd_snapshot_serialize_duration_seconds",
        "Time to serialize the store for a snapshot (in a child process).",
        snapshot_bounds, N_BOUNDS(snapshot_bounds));
    M.snapshot_write = histogram(
        "raftd_snapshot_write_duration_seconds",
        "Time to write a snapshot file and make it durable.",
        snapshot_bounds, N_BOUNDS(snapshot_bounds));
    M.snapshot_install = histogram(
        "raftd_snapshot_install_duration_seconds",
        "Time to install a leader's snapshot (write, load, compact).",
        snapshot_bounds, N_BOUNDS(snapshot_bounds));
}

static void add_connection_metrics(void)
{
    struct metric_family *open = family(
        METRIC_GAUGE, "raftd_connections_open",
        "Open HTTP connections, by whose they are (peer: Raft RPCs).", "kind");
    M.conn_client = metric_series(open, "client");
    M.conn_peer = metric_series(open, "peer");
    M.conn_accepted = single(METRIC_COUNTER,
                             "raftd_connections_accepted_total",
                             "HTTP connections accepted.");
    M.conn_refused = single(METRIC_COUNTER, "raftd_connections_refused_total",
                            "HTTP connections refused with 503 because all "
                            "allowed were taken (see max_connections).");
    M.requests_pending = single(METRIC_GAUGE, "raftd_http_requests_pending",
                                "HTTP requests handled and not answered yet "
                                "(writes, quorum reads, watches).");
}

/* ---- events ---- */

static void on_event(void *arg, int prio, const struct log_raft *f,
                     const char *msg)
{
    (void)arg, (void)prio, (void)msg;
    const char *e = f->event;
    metric_inc(metric_series(M.events, e));
    struct metric_series *s =
        !strcmp(e, "leader_changed")     ? M.leader_changes
        : !strcmp(e, "election_started") ? M.elections_started
        : !strcmp(e, "became_leader")    ? M.elections_won
        : !strcmp(e, "prevote_started")  ? M.prevotes_started
        : !strcmp(e, "prevote_failed")   ? M.prevotes_failed
        : !strcmp(e, "stepped_down")     ? M.stepdowns
        : !strcmp(e, "snapshot_taken")   ? M.snapshots_taken
        : !strcmp(e, "snapshot_loaded")  ? M.snapshots_installed
                                         : NULL;
    metric_inc(s);
}

int node_metrics_init(void)
{
    if (M.reg)
        return 0;
    M.reg = metrics_new();
    if (!M.reg)
        return -1;
    add_state_metrics();
    add_log_metrics();
    add_request_metrics();
    add_peer_metrics();
    add_snapshot_metrics();
    add_connection_metrics();
    if (log_add_event_observer(on_event, NULL) < 0) /* (a bug: too many) */
        log_msg(LOG_ERR, "metrics: cannot observe Raft events; the event "
                "counters of /metrics stay at 0");
    return 0;
}

void node_metrics_free(void)
{
    log_remove_event_observer(on_event, NULL);
    metrics_free(M.reg);
    memset(&M, 0, sizeof(M));
}

/* ---- the scrape ---- */

static void read_member_role(const struct raft *r)
{
    raft_index at;
    const struct raft_member *me =
        raft_configuration_find(raft_configuration(r, &at), raft_self(r));
    metric_set(M.voter, me && me->role == RAFT_VOTER);
    metric_set(M.learner, me && me->role == RAFT_LEARNER);
}

static void read_node(const struct node *n)
{
    const struct raft *r = n->raft;
    metric_set(M.term, (double)raft_current_term(r));
    enum raft_role role = raft_role(r);
    for (unsigned i = 0; i < N_STATES; i++)
        metric_set(M.state[i], (unsigned)role == i);
    metric_set(M.leader_id, (double)raft_leader(r));
    read_member_role(r);
    metric_set(M.commit, (double)raft_commit_index(r));
    metric_set(M.applied, (double)raft_applied_index(r));
    metric_set(M.last_index, (double)raft_last_index(r));
    metric_set(M.snapshot_index, (double)n->snap.index);
    metric_set(M.snapshot_bytes,
               n->snap.index ? (double)(n->snap.length + SNAPFILE_HEADER) : 0);
    struct storage_stats st;
    storage_stats(n->storage, &st);
    metric_set(M.wal_bytes, (double)st.bytes_written);
    metric_set(M.wal_segments, (double)st.segments);
    metric_set(M.proposals_pending, (double)n->n_ops);
    metric_set(M.conn_client, http_server_client_connections_open(n->http));
    metric_set(M.conn_peer, http_server_peer_connections_open(n->http));
    metric_set(M.conn_accepted,
               (double)http_server_connections_accepted(n->http));
    metric_set(M.conn_refused, (double)http_server_connections_refused(n->http));
    /* (this request is one of them) */
    metric_set(M.requests_pending, http_server_requests_pending(n->http));
}

void node_metrics_handle(struct node *n, struct http_request *req)
{
    const char *method = http_request_method(req);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        http_response_header(req, "Allow", "GET, HEAD");
        http_respond_error(req, 405, "use GET");
        return;
    }
    if (!M.reg) {
        http_respond_error(req, 500, "metrics are not set up");
        return;
    }
    read_node(n);
    size_t len;
    char *text = metrics_write(M.reg, &len);
    if (!text) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    http_respond(req, 200, METRICS_CONTENT_TYPE, text, len);
    free(text);
}

/* ---- hooks ---- */

static void on_request_answered(struct http_request *req, unsigned status,
                                const char *body, size_t len, void *arg)
{
    (void)status, (void)body, (void)len;
    struct metric_series *s = arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    uint64_t t0 = http_request_started_us(req);
    metric_observe(s, now > t0 ? (double)(now - t0) / 1e6 : 0);
}

void node_metrics_time_request(struct http_request *req, enum metrics_op op)
{
    if (op < METRICS_OP_COUNT && M.request[op])
        http_request_on_respond(req, on_request_answered, M.request[op]);
}

void node_metrics_fsync(void *arg, uint64_t usec)
{
    (void)arg;
    metric_observe(M.fsync, (double)usec / 1e6);
}

void node_metrics_proposal_received(void)
{
    metric_inc(M.proposals_received);
}

void node_metrics_proposal_committed(void)
{
    metric_inc(M.proposals_committed);
}

void node_metrics_proposal_failed(const char *reason)
{
    metric_inc(metric_series(M.proposals_failed, reason));
}

void node_metrics_proposals_forwarded(unsigned count)
{
    metric_add(M.proposals_forwarded, count);
}

void node_metrics_rpc_sent(enum raft_msg_type type)
{
    if ((unsigned)type < N_RPC)
        metric_inc(M.rpcs_sent[type]);
}

void node_metrics_rpc_failed(raft_id peer)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRIu64, peer);
    metric_inc(metric_series(M.rpc_errors, id));
}

void node_metrics_snapshot_made(uint64_t serialize_us, uint64_t write_us)
{
    metric_observe(M.snapshot_serialize, (double)serialize_us / 1e6);
    metric_observe(M.snapshot_write, (double)write_us / 1e6);
}

void node_metrics_snapshot_sent(size_t bytes)
{
    metric_inc(M.snapshots_sent);
    metric_add(M.snapshot_sent_bytes, (double)bytes);
}

void node_metrics_snapshot_installed(uint64_t usec)
{
    metric_observe(M.snapshot_install, (double)usec / 1e6);
}
