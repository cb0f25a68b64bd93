/* node.h - one raftd node: the Raft core driven by the sd-event loop, its
 * storage, its HTTP server (peer RPCs, /status) and HTTP client (RPCs to
 * peers). Everything runs on the loop's thread; nothing is locked.
 */
#ifndef RAFTD_NODE_H
#define RAFTD_NODE_H

#include <stddef.h>

#include <systemd/sd-event.h>

#include "../raft/raft.h"
#include "config.h"

struct node;

/* Open storage, recover state, start listening. The node is running (its
 * timers armed) when this returns. On failure returns NULL with a message
 * in err saying what to do. cfg must outlive the node. */
struct node *node_new(sd_event *ev, const struct raftd_config *cfg, char *err,
                      size_t errlen);
void node_free(struct node *n);

/* Begin a clean stop: a leader first hands leadership to the most
 * up-to-date follower (dissertation 3.10), waiting at most one election
 * timeout; then the loop is exited with status 0. */
void node_shutdown(struct node *n);

/* Reread what may change without a restart (SIGHUP): the TLS certificate,
 * key and CA, for the connections made from then on. Logs what it did; on
 * a file that is missing or wrong it keeps those in use and logs which
 * file and what is wrong. */
void node_reload(struct node *n);
/* SIGHUP: fresh (the config file read again) has the members list to
 * reach (node_members.c). */
void node_reload_members(struct node *n, const struct raftd_config *fresh);

/* A reload changes the timing (heartbeat_ms, election_timeout_min_ms/
 * max_ms) to fresh's: the core uses it from now on (raft_set_timing). -1 if
 * the core refuses it (then it keeps its old timing). The caller copies it
 * into the configuration the node runs with (reload_apply) only once the
 * core took it, so that /status reports the timing in use. Other settings
 * are read where they are used. */
int node_apply_timing(struct node *n, const struct raftd_config *fresh);

/* The text for sd_notify's STATUS=, e.g. "Follower of node 2, term 7". */
void node_status_line(const struct node *n, char *buf, size_t len);

/* ---- client operations (ops.c) ----
 * A proposal is replicated through the leader (forwarded there if this
 * node is not it) and answered with the state machine's result once
 * applied here. A read barrier completes once this node has applied
 * everything committed before it started (ReadIndex, dissertation 6.4), so
 * a read of the local state after it is linearizable. Callbacks always come
 * later from the loop, never from inside the call that started the op. */
enum node_error {
    NODE_OK = 0,
    NODE_ENOLEADER,  /* no leader known in time: retry later */
    NODE_ETIMEOUT,   /* no answer in time: the write may or may not apply */
    NODE_ELOST,      /* leadership changed and the write was not committed */
    NODE_EUNKNOWN,   /* the leader became unreachable: outcome unknown */
    NODE_ETOOBIG,    /* command too large */
    NODE_ESTOPPING,  /* this node is shutting down */
};
struct node_outcome {
    enum node_error error;
    const char *message;     /* human-readable, for errors */
    unsigned status;         /* proposals: the state machine's HTTP status */
    const char *body;        /*   and answer (valid during the callback) */
    size_t len;
    uint64_t etcd_index;     /*   store index after it (X-Etcd-Index) */
    raft_index raft_index;   /* log index of the write, or the read index */
    raft_term raft_term;
};
typedef void (*node_done_fn)(void *arg, const struct node_outcome *o);
struct node_op;
struct node_op *node_propose(struct node *n, const void *cmd, size_t len,
                             node_done_fn fn, void *arg);
struct node_op *node_read_barrier(struct node *n, node_done_fn fn, void *arg);
/* The client went away: fn will not be called. */
void node_op_cancel(struct node *n, struct node_op *op);

/* Accessors for the HTTP API. */
/* The wall clock (CLOCK_REALTIME) in Unix ms: peer signatures' dates, the
 * time a TTL write carries (kv.h). */
int64_t node_wall_ms(void);
struct kv *node_kv(struct node *n);
const struct raftd_config *node_config(const struct node *n);
raft_id node_id(const struct node *n);
raft_id node_leader(const struct node *n);
raft_term node_term(const struct node *n);
raft_index node_applied_index(const struct node *n);
/* The largest command one write may be (one log entry): 413 beyond it. */
size_t node_max_entry_bytes(const struct raftd_config *cfg);
/* Since it started, this node refused a message that contradicts one of
 * its committed entries (raft.h, "Divergence"); *first: the first one. */
bool node_diverged(const struct node *n, struct raft_divergence *first);

/* ---- members (node_reconfigure.c), for /v2/members ---- */

/* The configuration this node uses: the latest in its log, committed or
 * not (dissertation 4.1); *at: its entry's index (0: the bootstrap list). */
const struct raft_configuration *node_configuration(const struct node *n,
                                                    raft_index *at);
/* An id for a new member: one more than the highest this node has seen,
 * so that a removed member's id is not given again while it is known. */
raft_id node_new_member_id(const struct node *n);
/* The outcome of a change: status 0 once the cluster committed the
 * members asked for (a new member then is a learner until it catches up),
 * or an HTTP status and what went wrong. */
typedef void (*node_members_fn)(void *arg, unsigned status,
                                const char *message);
struct members_wait;
/* Ask the cluster to run want (ids and URLs; all voters, in the end), as
 * a reload with that members list would: the leader gets there one step at
 * a time. fn is called once, at the latest after request_timeout_ms.
 * NULL (and fn not called) if too many changes wait already. */
struct members_wait *node_change_members(struct node *n,
                                         const struct raft_configuration *want,
                                         node_members_fn fn, void *arg);
/* The client went away: fn will not be called. */
void node_members_cancel(struct node *n, struct members_wait *w);

#endif
