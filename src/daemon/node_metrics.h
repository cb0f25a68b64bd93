/* node_metrics.h - raftd's Prometheus metrics: what it counts and GET
 * /metrics (raftd(8), METRICS).
 *
 * Raft events (elections, leader changes, snapshots taken and installed,
 * and every other RAFT_EVENT) are counted by an event observer of the log
 * (logging.h), so the core and the daemon's logging calls know nothing of
 * metrics. The hooks below are for what no event tells: durations, sizes,
 * proposals, RPCs and their failures. The rest (term, state, indexes,
 * connections) is read from the node when /metrics is scraped.
 *
 * One registry per process, like the node. Each hook is an addition to a
 * series made at start: no allocation, no lookup (a peer's series is made
 * the first time that peer is seen).
 */
#ifndef RAFTD_NODE_METRICS_H
#define RAFTD_NODE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "../raft/raft.h"

struct node;
struct http_request;

/* Make the registry and start observing events. Once per process. */
int node_metrics_init(void);
void node_metrics_free(void);

/* GET or HEAD /metrics. */
void node_metrics_handle(struct node *n, struct http_request *req);

/* The client requests of the keys API, by operation. */
enum metrics_op {
    METRICS_OP_GET,    /* a read of this node's state */
    METRICS_OP_QGET,   /* quorum=true: linearizable read */
    METRICS_OP_WATCH,  /* wait=true: long poll */
    METRICS_OP_PUT,
    METRICS_OP_POST,   /* in-order key */
    METRICS_OP_CAS,    /* PUT with prevValue, prevIndex or prevExist */
    METRICS_OP_DELETE,
    METRICS_OP_CAD,    /* DELETE with prevValue or prevIndex */
    METRICS_OP_COUNT
};
/* Time req from its arrival to its answer, as an op. Call once, before
 * the answer (it uses req's respond hook: not for peer requests). */
void node_metrics_time_request(struct http_request *req, enum metrics_op op);

/* (storage_on_sync's hook: every counted sync, whichever path) */
void node_metrics_fsync(void *arg, uint64_t usec);

void node_metrics_proposal_received(void);
void node_metrics_proposal_committed(void);
/* reason: the forwarding protocol's code ("timeout", "lost", ...). */
void node_metrics_proposal_failed(const char *reason);
void node_metrics_proposals_forwarded(unsigned count);

void node_metrics_rpc_sent(enum raft_msg_type type);
void node_metrics_rpc_failed(raft_id peer);

void node_metrics_snapshot_made(uint64_t serialize_us, uint64_t write_us);
void node_metrics_snapshot_sent(size_t bytes);
void node_metrics_snapshot_installed(uint64_t usec);

#endif
