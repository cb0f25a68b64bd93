/* node_internal.h - the state of a node, shared by node.c (the core's
 * host) and ops.c (client operations: proposals and linearizable reads,
 * forwarded to the leader when this node is not it). Not for other files.
 */
#ifndef RAFTD_NODE_INTERNAL_H
#define RAFTD_NODE_INTERNAL_H

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "../raft/driver.h"
#include "../raft/raft.h"
#include "config.h"
#include "http_client.h"
#include "http_server.h"
#include "dedup.h"
#include "divergence.h"
#include "kv.h"
#include "memberfile.h"
#include "node.h"
#include "snapfile.h"
#include "storage.h"
#include "syncer.h"

typedef struct cJSON cJSON;

/* Outstanding RPCs per peer beyond which new messages are dropped (Raft
 * tolerates loss); keeps a dead peer from piling up connections. */
#define MAX_PENDING_PER_PEER 64
/* How long sending a whole snapshot to a follower may take. */
#define SNAPSHOT_RPC_TIMEOUT_MS 30000

struct peer {
    raft_id id;
    char url[RAFT_ADDRESS_MAX + 1]; /* its address in the configuration */
    unsigned pending;
    bool unreachable; /* last RPC failed; logged once per outage, */
    char unreachable_why[128]; /* and again if the reason changes */
    bool sending_snapshot; /* an InstallSnapshot to it is in flight */
    /* The core asked for a snapshot to be sent while another was in
     * flight: sent once that one is answered (the core waits for the
     * answer to the newer one, up to snapshot_timeout_ms) */
    bool snapshot_wanted;
    struct raft_msg snapshot_msg;
};

/* A peer RPC held open until the core's answer to it has been made
 * durable and can be sent (its ctx is echoed by the core in the answer). */
struct incoming {
    struct incoming *prev, *next;
    struct node *node;
    struct http_request *req;
    uint64_t ctx;
    bool in_ready;   /* raft_ready() ran after it was delivered */
    /* An AppendEntries that overtook an earlier one (peer RPCs travel on
     * several connections) waits here, undelivered, until the log reaches
     * its prev_log_index or park_deadline passes. */
    bool parked;
    struct raft_msg msg;
    raft_time park_deadline;
    /* Its successful answer is held by the driver until everything
     * written before it is durable (driver.h). */
    bool held;
};

struct node {
    sd_event *ev;
    const struct raftd_config *cfg;
    struct raft *raft;
    struct storage *storage;
    /* The ready loop (driver.h) over node.c's operations; batches that
     * only append entries are synced on the syncer's thread (syncer.h). */
    struct driver *driver;
    struct syncer *syncer;
    struct http_server *http;
    struct http_client *client;
    struct events_api *events;      /* GET /events (events_api.h) */
    sd_event_source *timer;
    struct peer peers[RAFT_MAX_MEMBERS];
    unsigned n_peers;
    uint64_t rng;
    struct incoming *incoming;      /* peer RPCs awaiting their answer */
    uint64_t next_ctx;
    sd_event_source *process_defer; /* runs node_process() once the loop
                                       has dispatched pending I/O */
    bool processing;
    bool closing;           /* node_free() is running */
    bool failed;            /* storage failed: the core is frozen */
    bool stopping;
    sd_event_source *stop_timer;
    bool stop_grace;        /* stop_timer is the short final grace period */
    char last_status[128];
    raft_time status_sent_at;  /* when STATUS= last went to systemd */
    struct divergence_log divergence; /* what was logged of it (divergence.h) */
    struct kv *kv;
    raft_index saved_commit;    /* last commit hint written to storage */
    raft_index commit_hint;     /* the one to write next (save_commit_hint) */
    struct dedup *dedup;        /* answers to recent requests, by identity */
    uint64_t incarnation;       /* this process's client session (dedup.h): */
    uint64_t next_seq;          /*   random nonzero, and the next proposal's seq */
    /* client operations (ops.c) */
    struct node_op *ops;
    size_t n_ops;
    uint64_t next_read_id;
    raft_id forwarding[2];      /* leader a batch of writes / reads is on its
                                   way to (ops.c), RAFT_NONE if none */
    sd_event_source *ops_kick;  /* deferred: run finished ops' callbacks */
    sd_event_source *ops_timer; /* deadlines and retries */
    /* snapshots (node_snapshot.c) */
    struct snapfile_meta snap;  /* the durable snapshot file (index 0: none) */
    raft_index snap_next_try;   /* after a failed snapshot: not before this */
    uint64_t applied_bytes;     /* entries' bytes applied since the start */
    uint64_t snap_applied_bytes; /* applied_bytes as of the snapshot */
    struct snap_child *snap_child; /* the process taking a snapshot */
    bool snap_compact_pending;  /* taken while a ready was out: compact
                                   after raft_advance() */
    uint8_t *incoming_snap;     /* a leader's snapshot image, checked, that */
    size_t incoming_snap_len;   /*   the core may ask us to install */
    struct snapfile_meta incoming_meta;
    /* members (node_members.c): the list the data directory was
     * bootstrapped with (memberfile.h) and the cluster's id */
    struct member_list members;
    uint64_t cluster_id;
    bool joining;               /* new: may join another cluster */
    bool conf_dirty;            /* the core's configuration changed: the
                                   peers table follows it */
    struct raft_configuration applied_conf; /* as of the applied index */
    raft_index start_commit;    /* entries up to here are replays at start */
    char file_differs[2048];    /* how raftd.conf's list differs, or "" */
    /* node_reconfigure.c: the leader's desired configuration, the ask it
     * came with (node want_from's, number want_ask) and how that ended */
    bool want_valid, want_waiting_logged;
    struct raft_configuration want;
    raft_id want_from;
    uint64_t want_ask;
    raft_time want_since, want_refused_since;
    bool want_refused;          /* want_from's ask want_ask was given up: */
    char want_why[1536];        /*   why, to answer it when asked again */
    /* this node's own ask (a reload, or /v2/members), handed to the
     * leader until the cluster runs it or the leader refuses it */
    bool forward_want, forwarding_want;
    struct raft_configuration my_want;
    uint64_t my_ask;
    raft_id forwarded_to, forward_accepted_by;
    raft_time forwarded_at;
    uint64_t my_done_ask;       /* the ask the leader said it finished */
    uint64_t my_refused_ask;    /* the ask the leader refused, and why */
    char my_refused[1536];
    struct members_wait *waits; /* /v2/members changes waiting to commit */
    raft_id highest_id;         /* the highest member id seen */
    struct node_peers *peers_auth; /* node_peers.c */
    struct node_faults *faults;    /* node_faults.c */
    /* node_ttl.c: the leader's "now" entries */
    sd_event_source *ttl_timer;
    struct node_op *ttl_sync_op;   /* the one in flight, or NULL */
    /* node_probe.c: is the leader's process gone? */
    sd_event_source *probe_timer;
    bool probe_in_flight;
    bool probe_again;              /* asked for while one was in flight */
    raft_id probe_leader;          /* the leader it probes */
    raft_time probe_window;        /* start of the heartbeat counted in */
    unsigned probes_in_window;     /* probes started since probe_window */
};

/* node_probe.c: a follower probes its leader's address and tells the core
 * at once if nothing listens there (raft_leader_gone) */
int node_probe_start(struct node *n);
void node_probe_free(struct node *n);
/* A peer's connection to us closed (http_server_on_peer_closed): probe. */
void node_probe_peer_closed(void *arg);

/* node.c: a one-shot timer ms from now (on_* handlers get the node), and
 * the same timer again ms from now (not from when it was due) */
int node_add_timer(struct node *n, sd_event_source **s, unsigned ms,
                   unsigned accuracy_ms, sd_event_time_handler_t cb);
void node_timer_again(struct node *n, sd_event_source *s, unsigned ms);

/* node_ttl.c: "now" entries, so that TTL keys expire through the log */
int node_ttl_start(struct node *n);
void node_ttl_free(struct node *n);

/* node.c */
raft_time node_now_ms(void);
uint64_t node_random_u64(struct node *n);
void node_process(struct node *n);
/* Ask for node_process() after the events now pending: everything that
 * arrives together then shares one ready batch and one fdatasync. */
void node_schedule(struct node *n);
struct peer *node_find_peer(struct node *n, raft_id id);

/* Hand a decoded peer request to the core; the HTTP request is answered
 * with the core's answer once it is durable (takes m's entries). */
void node_deliver_rpc(struct node *n, struct http_request *req,
                      struct raft_msg *m);

/* node_peers.c: peer authentication (peer_auth.h) */
int node_peers_init(struct node *n, char *err, size_t errlen);
void node_peers_free(struct node *n);
bool node_peers_authenticated(const struct node *n);
/* This node joined cluster_id (node_members.c): its requests and answers
 * carry that id from now on. */
void node_peers_set_cluster(struct node *n, uint64_t cluster_id);
void node_peers_stop_joining(struct node *n);
/* For a request to a peer path: true if it is an authentic request of a
 * member (its answer is then signed); otherwise it has been answered
 * (401, 403 or 409) and the refusal logged. */
bool node_peer_admit(struct node *n, struct http_request *req);
/* The same checks that need no body, as the HTTP server's early check
 * (http_early_fn): a request without a valid header is refused before its
 * body is read. arg is the node. */
unsigned node_peer_check_head(struct http_request *req, void *arg,
                              char *msg, size_t msglen);
/* For a request to an admin path (peer_auth.h: signed by an operator,
 * unless peer_auth = "none"): true if admitted; otherwise it has been
 * answered (401 or 403) and the refusal logged. */
bool node_admin_admit(struct node *n, struct http_request *req);
/* The member that sent an admitted request (RAFT_NONE if none). */
raft_id node_peer_sender(struct http_request *req);
/* POST a signed request to peer `to` at base_url + path; cb as for
 * http_client_request(), with status 0 and an error when the answer is
 * not authentic. */
int node_peer_post(struct node *n, raft_id to, const char *base_url,
                   const char *path, const char *content_type,
                   const char *body, size_t len, unsigned timeout_ms,
                   http_client_cb cb, void *arg);

/* The same without fault injection's check: node_faults.c sends a delayed
 * request with it. */
int node_peer_post_now(struct node *n, raft_id to, const char *base_url,
                       const char *path, const char *content_type,
                       const char *body, size_t len, unsigned timeout_ms,
                       http_client_cb cb, void *arg);

/* node_faults.c: fault injection (faults.h, fault_api.h) */
int node_faults_init(struct node *n, char *err, size_t errlen);
/* Calls cb of every request held back (status 0: stopping). */
void node_faults_free(struct node *n);
struct faults *node_faults(struct node *n);
/* A request to peer `to` about to be sent: 0 to send it now; 1 if fault
 * injection took it (cb is called later: a failure for a dropped one, the
 * answer for a delayed one); -1 if out of memory (cb not called). */
int node_faults_outgoing(struct node *n, raft_id to, const char *base_url,
                         const char *path, const char *content_type,
                         const char *body, size_t len, unsigned timeout_ms,
                         http_client_cb cb, void *arg);
/* An admitted request of peer `from`: true if fault injection refuses it
 * (it has been answered 503). */
bool node_faults_refuse_incoming(struct node *n, struct http_request *req,
                                 raft_id from);
/* Exit at once with FAULTS_CRASH_EXIT (after the answer to req is out). */
int node_faults_crash_soon(struct node *n);

/* node_members.c: members (issue 11) */
/* At start, under the data directory's lock: the bootstrap record (written
 * on a new directory), the cluster id, and the configuration the log
 * starts from (before a snapshot's, see snap_load_at_start). */
int members_open(struct node *n, const struct storage_loaded *l, char *err,
                 size_t errlen);
/* After restore: log how raftd.conf's list differs from the configuration
 * in effect, if it does (and keep it for /status). */
void members_report_file(struct node *n);
/* The peers table follows the core's configuration in effect. */
void members_sync_peers(struct node *n);
/* A committed configuration entry is applied: the members events. */
void members_on_applied(struct node *n, raft_index index,
                        const struct raft_entry *e);
/* The config file's members as a configuration (all voters). */
int members_file_configuration(const struct raftd_config *cfg,
                               struct raft_configuration *c);
/* A new node (no entry, no snapshot) may join another cluster than its
 * own file's list gave it: true while it may. */
bool members_joining(const struct node *n);
/* An authentic request of cluster_id reached this new node: it joins that
 * cluster if the request is its leader's (AppendEntries, InstallSnapshot
 * on path) and records it; false if not. */
bool members_join(struct node *n, uint64_t cluster_id, raft_id from,
                  const char *path);
/* After each round: a node that has entries no longer joins. */
void members_check_joined(struct node *n);
/* "members", "configuration", "members_file_differs" of /status. */
void members_status(struct node *n, cJSON *o);

/* node_reconfigure.c: changing the members (issue 11) */
/* Leader: the next step towards the desired configuration, if any. */
void members_reconcile(struct node *n);
/* After each round: hand this node's ask to the leader if it still needs
 * to, and answer the /v2/members changes that are done. */
void members_forward(struct node *n);
/* POST /raft/reconfigure (a peer asks the leader for a members list). */
void members_handle_reconfigure(struct node *n, struct http_request *req);
/* SIGHUP: the freshly read config's members become the desired state. */
void members_reload(struct node *n, const struct raftd_config *fresh);
/* At stop: every waiting /v2/members change is answered (503). */
void members_waits_free(struct node *n);

/* node_tls.c: TLS (tls.h) */
/* At start, after the HTTP client is made: give it the TLS files of
 * n->cfg; returns the server's TLS (in *st), or NULL if this node serves
 * plain HTTP or on failure (err set, empty otherwise). */
const struct http_server_tls *node_tls_start(struct node *n,
                                             struct http_server_tls *st,
                                             char *err, size_t errlen);
/* The client-certificate gate of a peer request (peer_client_cert_auth)
 * or of any other one (client_cert_auth): 0 to go on, or -1 with why the
 * request is refused (the caller answers 403). */
int node_tls_admit(struct node *n, struct http_request *req, bool peer,
                   char *why, size_t whylen);

/* node_snapshot.c: snapshots and log compaction (doc/design.md) */
/* At start: load the data directory's snapshot into the store. */
int snap_load_at_start(struct node *n, const struct storage_loaded *l,
                       char *err, size_t errlen);
/* Ready step 1: install the leader's snapshot durably (rd->snapshot_*). */
int snap_install(struct node *n, const struct raft_ready *rd, char *err,
                 size_t errlen);
/* After raft_advance(): take a snapshot and compact if it is time. */
void snap_maybe_take(struct node *n);
/* The body of an InstallSnapshot to m->to (malloc'd), NULL if none. */
char *snap_request_body(struct node *n, const struct raft_msg *m, size_t *len);
/* POST /raft/install_snapshot */
void snap_handle_install(struct node *n, struct http_request *req);
void snap_free(struct node *n);
/* Wait for a snapshot being taken (by a child process) to be done. */
void snap_wait(struct node *n);
/* Take a snapshot of everything applied, now (/admin/snapshot): 0 when
 * one is being taken at *index, SNAP_BUSY while another one is, SNAP_
 * CURRENT when nothing was applied since the last one, -1 when it could
 * not start (logged). */
enum { SNAP_BUSY = 1, SNAP_CURRENT = 2 };
int snap_take_now(struct node *n, raft_index *index);

/* ops.c */
void ops_on_applied(struct node *n, raft_index index, raft_term term,
                    const struct kv_result *res);
void ops_on_reads(struct node *n, const struct raft_read *reads, size_t n_reads);
void ops_on_progress(struct node *n);   /* after every ready loop */
/* Run the callbacks of finished ops now (not from inside a ready). */
void ops_deliver_finished(struct node *n);
void ops_handle_propose(struct node *n, struct http_request *req);
void ops_handle_read_index(struct node *n, struct http_request *req);
int ops_init(struct node *n);
void ops_free(struct node *n);          /* shutting down */

#endif
