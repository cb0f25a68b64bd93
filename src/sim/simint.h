/* simint.h - the simulator's internal state, shared by sim.c, check.c and
 * trace.c. Not a public interface. */
#ifndef RAFT_SIM_INT_H
#define RAFT_SIM_INT_H

#include "sim.h"

struct sim;
struct driver; /* src/raft/driver.h */

/* A configuration as the simulator keeps it: bit id of voters and of
 * learners (ids 1..SIM_MAX_NODES, addresses empty). */
struct sconf {
    uint16_t voters, learners;
};

/* A log as the simulator sees it: index i is e[i - 1]. chain is a hash of
 * the entry and of every entry before it, so two logs agree up to i exactly
 * when their chains at i are equal. data is kept only on "disk". */
struct slog_entry {
    raft_term term;
    uint8_t type;
    uint32_t len;
    uint8_t *data;
    uint64_t ehash; /* this entry alone */
    uint64_t chain; /* this entry and all before it */
    uint64_t sm;    /* committed log only: state machine hash after it */
    uint64_t now;   /* a "now" entry's time (now_of), else 0 */
    uint64_t kvc;   /* committed log only, with --now-interval: the chain of
                       the real store's answers up to here, recorded by the
                       first node that applied it (0: none yet) */
    uint64_t clock; /* committed log only: the store's clock after it (the
                       largest time of a "now" entry up to here) */
    /* The configuration in effect at this entry, as the cluster's history
     * has it (from the cluster's initial one, through every configuration
     * entry up to here), and the index of the latest configuration entry
     * at or before it (0: none). */
    struct sconf conf;
    raft_index conf_idx;
};
struct slog {
    struct slog_entry *e;
    size_t n, cap;
    struct sconf base; /* the configuration before the first entry */
};

/* An input that waited while its node was blocked on a write or paused:
 * a message, or a client request sitting in the socket backlog. */
enum input_kind { IN_MSG, IN_PROPOSE, IN_READ };
struct input {
    struct raft_msg *msg; /* IN_MSG: owned */
    uint64_t id;          /* client command / read number */
    uint8_t kind;
    bool may_retry;
};

/* A snapshot of a node's state machine: what it covers (the last entry's
 * index and term, and the chain hash of the log up to it) and the state
 * machine's hash there. It is all a simulated snapshot needs to carry: the
 * entries it replaces are the committed log's (the checker holds them), and
 * a snapshot message carries one of these after the raft_msg (msg_copy). */
struct ssnap {
    raft_index index;
    raft_term term;
    uint64_t chain, sm;
    uint64_t clock; /* the store's clock (as kv_snapshot carries it) */
    uint64_t kvc;   /* with --now-interval: the store's answer chain; its
                       bytes are in the sim's kv_snaps table at index */
    struct sconf conf; /* the configuration at index (raft_configuration_at);
                          no voters: none recorded */
};

/* A write not yet durable: entries from first on replace the log there. */
struct wop {
    raft_index first;
    size_t n;
    struct raft_entry *e; /* owned, with their data */
};

/* One simulated machine running raftd. */
struct node {
    raft_id id;
    struct raft *r;      /* NULL while crashed */
    bool up, paused;
    unsigned incarnation;
    struct rng rng;      /* the core's random numbers */
    int64_t clock_offset;
    int drift_ppm;

    /* Disk: what survives a crash. disk is the union of the snapshot and
     * the log: entries at or below the compaction point keep their hashes
     * but not their data (they live in the snapshot, not the log). */
    struct raft_hard_state hs;
    struct ssnap snap;   /* durable snapshot (index 0: none) */
    struct ssnap incoming; /* received with a SNAPSHOT, not yet installed */
    struct slog disk;
    size_t lcp;          /* disk agrees with the committed log up to here */

    /* The core's log as announced through raft_ready (checker's mirror). */
    struct slog mirror;

    /* Membership. boot: the configuration the node is bootstrapped with
     * (the cluster's initial one; a spare's adds itself, as a node started
     * from an edited member list would). base: the one the core's log
     * starts from, as the model has it (boot, or the configuration of the
     * snapshot it installed, restored or compacted into), at base_index. */
    struct sconf boot, base;
    raft_index base_index;

    /* The daemon's ready loop (src/raft/driver.h) over sim.c's operations;
     * NULL while crashed. It holds the batch in hand, the write
     * generations and the answers held until durable. */
    struct driver *drv;
    struct sim *sim;     /* the operations' way back */

    /* The page cache: writes not yet durable, oldest first (wops: entries
     * from first on replace the log there; a hard state and the commit
     * index). A sync makes them durable; a crash loses them, or with
     * --torn keeps a part. */
    struct wop *wops;
    size_t n_wops, cap_wops;
    bool hs_pending;
    struct raft_hard_state pending_hs;
    raft_index pending_commit;

    /* A foreground write in flight (fsync latency, DRIVER_LATER): the node
     * is blocked on it until EV_WRITE_DONE (the one with write_gen). */
    uint8_t fg;          /* FG_NONE, FG_SYNC, FG_INSTALL */
    const struct raft_ready *fg_rd; /* FG_INSTALL: its batch (the driver's) */
    bool fg_landed;      /* durable; its completion waits (paused) */
    uint64_t write_gen;

    /* Background syncing (raftd's syncer.c): a node with bg set answers
     * the driver's sync_now mostly "no", and its append-only batches are
     * synced by one background sync at a time (EV_SYNC_DONE, the one with
     * sync_gen), which makes the first sync_ops writes durable. */
    bool bg;             /* this node syncs in the background */
    bool syncing;        /* a sync is running */
    bool sync_landed;    /* it is durable; its callback waits (paused) */
    size_t sync_ops;     /* wops it covers */
    uint64_t sync_gen;

    /* Peers the transport found unreachable, told to the core between
     * batches (raft_report_unreachable). */
    raft_id unreach[SIM_MAX_NODES];
    unsigned n_unreach;

    /* Inputs that arrived while blocked (writing) or paused. */
    struct input *inbox;
    size_t inbox_head, inbox_n, inbox_cap;
    bool tick_pending;
    uint64_t paused_at, pause_gen;

    /* The state machine: applied entries (volatile, rebuilt on restart). */
    raft_index applied;
    uint64_t sm_hash;
    uint64_t sm_clock;    /* the store's clock: the largest "now" applied */
    struct kv *kv;        /* with --now-interval: the real store (kv.c) */
    uint64_t kv_chain;    /*   and the chain of its answers */
    uint64_t next_now;    /* leader: its clock for the next "now" entry */

    /* Observed state, for the checker and the timeline. */
    raft_term term;
    enum raft_role role;
    raft_index commit;
    raft_id leader;
    raft_term lead_term; /* term it leads, 0 if not leader */
    unsigned votes;      /* votes in the current (pre-)election */
    raft_id heard_from;  /* last AppendEntries came from, and when */
    uint64_t heard_at;

    /* Timer: the pending TICK event is the one with timer_gen. */
    uint64_t timer_gen, timer_at;
    bool timer_armed;

    /* Confirmed ReadIndex reads waiting for applied >= index. */
    struct { uint64_t id; raft_index index; } *reads;
    size_t n_reads, cap_reads;
};

enum fg_write { FG_NONE, FG_SYNC, FG_INSTALL };

enum ev_type {
    EV_DELIVER, EV_TICK, EV_WRITE_DONE, EV_PROPOSE, EV_RETRY, EV_READ,
    EV_TRANSFER, EV_FAULT, EV_HEAL, EV_RESTART, EV_RESUME, EV_SCRIPT,
    EV_QUIET, EV_PROBE, EV_DEADLINE, EV_END, EV_REBOOT, EV_SYNC_DONE,
    EV_FORGE, EV_CHURN, EV_MEMBER, EV_GONE,
};

struct event {
    uint64_t t, seq;
    uint8_t type;
    uint8_t node;
    uint32_t a;
    uint64_t gen;
    struct raft_msg *msg; /* DELIVER: owned copy; RETRY: data in entries */
};

/* Outstanding read request: the linearizability bound at request time. */
struct read_req {
    uint64_t id;
    raft_index must_cover; /* highest index any node knew committed */
};

/* Commit reports (index c was committed, seen by a node in term t), kept as
 * a staircase: as c grows, t grows. */
struct stair {
    raft_index c;
    raft_term t;
};

/* The ctx of forged messages: their answers go back to the forger. */
#define FORGED_CTX 0xf0f6edull

/* A forged message (the forge fault): the committed entry of its receiver
 * it contradicts, and the term it gives it (FORGE_STALE: agrees with it). */
struct forgery {
    unsigned kind; /* enum forge_kind */
    raft_id from, to;
    raft_index index;
    raft_term ours, theirs;
};

/* What a refused message must leave as it was (raft.h, "Divergence"). */
struct core_state {
    raft_term term, last_term;
    raft_id vote, leader;
    enum raft_role role;
    raft_index commit, applied, last, snapshot;
};

/* Log Matching registry slot: the history hash of (index, term). */
struct lm_slot {
    uint64_t key_i, key_t, chain;
};

/* One pending line of the timeline for a node (phrases with levels). */
#define MAX_PHRASES 48
struct line {
    int node; /* -1: none pending */
    unsigned n;
    unsigned char level[MAX_PHRASES];
    char *text[MAX_PHRASES];
};

/* With --now-interval, the bytes of the real store (kv_snapshot) at each
 * index a node snapshotted: what a node installing or restarting from that
 * snapshot restores (the simulated snapshot carries only hashes). */
struct kv_snap {
    raft_index index;
    char *bytes;
    size_t len;
};

struct sim {
    const struct sim_config *cfg;
    const struct sim_output *out;
    struct sim_result *res;
    uint64_t seed;
    unsigned n;
    struct node nodes[SIM_MAX_NODES + 1]; /* by id, 1-based */

    uint64_t now;
    struct event *heap;
    size_t nheap, capheap;
    uint64_t seq;
    uint64_t events;
    uint64_t same_time_events, last_time;

    struct rng net, fault, work, disk, snapshotting;
    struct rng syncing;    /* background sync delays and crashes during them */
    struct rng forging;    /* the forge fault */
    struct rng churning;   /* the churn fault: membership changes */
    unsigned members;      /* nodes n1..members form the initial cluster */
    struct sconf initial;  /* its configuration */
    struct sconf target;   /* churn: the configuration it heads for */
    bool cut[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* cut[a][b]: a -> b lost */
    double loss, dup, reorder;
    unsigned lat_min, lat_max;
    uint64_t partition_gen;
    bool partitioned;

    bool quiet;            /* liveness phase: faults over */
    uint64_t quiet_start;
    uint64_t probe_seq;
    raft_index probe_index; raft_term probe_term; raft_id probe_node;
    bool probe_committed;
    uint64_t probe_committed_at;
    bool done;

    struct kv_snap *kv_snaps;
    size_t n_kv_snaps, cap_kv_snaps;

    uint64_t client_seq, read_seq;
    struct read_req *rreqs;
    size_t n_rreqs, cap_rreqs;

    /* ---- checker state (check.c) ---- */
    raft_id *leader_of;     /* leader_of[term] */
    size_t cap_leader_of;
    struct slog committed;  /* the committed log, from commit reports */
    struct stair *stairs;
    size_t n_stairs, cap_stairs;
    raft_index max_commit;  /* highest index any node reported committed */
    struct lm_slot *lm;     /* (index, term) -> chain */
    size_t lm_cap, lm_n;
    bool durability_dirty;
    bool electable_dirty;
    /* the forged message being handled (its receiver; 0: none) and the
     * RAFT_NOTE_DIVERGED notes it caused, the last one kept */
    raft_id forge_to;
    unsigned forge_notes;
    struct raft_note forge_note;

    /* ---- trace (trace.c) ---- */
    uint64_t digest;
    struct line line;
    char **ring;
    unsigned ring_n, ring_pos;
    uint64_t sec_mark;     /* next per-second summary boundary */
    struct {
        unsigned hb, app, app_entries, app_resp, vote, vote_resp, tnow, lost;
    } sec;
};

/* sim.c */
const char *node_name(raft_id id);
raft_id current_leader(struct sim *s);
uint64_t node_clock(const struct node *n, uint64_t t);

/* Configurations (check.c) */
struct sconf sconf_of(const struct raft_configuration *c);
void sconf_to_raft(struct sconf c, struct raft_configuration *out);
bool sconf_eq(struct sconf a, struct sconf b);
bool sconf_voter(struct sconf c, raft_id id);
bool sconf_member(struct sconf c, raft_id id);
unsigned sconf_voters(struct sconf c);
/* "{n1,n2,n3}" or "{n1,n2; learner n4}" (static buffers, rotated) */
const char *sconf_text(struct sconf c);
/* The configuration node n's core should be using (the latest in its log,
 * else the base its log starts from), and the index of its entry (the
 * base's index when it is the base). */
struct sconf node_conf(const struct sim *s, const struct node *n,
                       raft_index *at);
/* The same as of entry i of its log. */
struct sconf node_conf_at(const struct sim *s, const struct node *n,
                          raft_index i);
/* Is id no stranger to n: a member of the configuration n's core uses, or
 * of one before it in n's log back to the latest n knows committed (an
 * uncommitted configuration may yet be truncated)? The core votes only
 * for those (membership_knows); the checker asks it of the Disruption and
 * Electability properties. */
bool node_knows(const struct sim *s, const struct node *n, raft_id id);
/* The core's configuration agrees with the model's (Configuration in
 * effect); where: when it was checked, for the message. */
void check_configuration(struct sim *s, struct node *n, const char *where);
/* A vote request reached n from a node that is no voter of n's
 * configuration: n's term and vote, before and after. */
void check_disruption(struct sim *s, struct node *n, const struct raft_msg *m,
                      raft_term term_before, raft_id vote_before);

/* check.c */
void check_init(struct sim *s);
void check_free(struct sim *s);
void violation(struct sim *s, const char *property, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void slog_truncate(struct slog *l, raft_index from); /* drop >= from */
void slog_append(struct slog *l, const struct raft_entry *e, bool keep_data);
void slog_free(struct slog *l);
/* Append x without its data (hashes only), e.g. a compacted entry. */
void slog_push_hashes(struct slog *l, const struct slog_entry *x);
uint64_t entry_hash(const struct raft_entry *e);
/* A ready's entries reached the mirror of n. */
void check_ready_entries(struct sim *s, struct node *n,
                         const struct raft_ready *rd);
void check_observe(struct sim *s, struct node *n);
uint64_t now_of(const uint8_t *data, uint32_t len);
void check_apply(struct sim *s, struct node *n, raft_index i,
                 const struct raft_entry *e);
void check_read(struct sim *s, struct node *n, uint64_t id, raft_index index);
void check_durability(struct sim *s);
void check_electable(struct sim *s);
void check_progress(struct sim *s);
void check_restart(struct sim *s, struct node *n);
/* Divergence alarm: a ready's RAFT_NOTE_DIVERGED notes. */
void check_notes(struct sim *s, struct node *n, const struct raft_ready *rd);
void core_state_get(const struct node *n, struct core_state *cs);
/* After the forged message f was handled by its receiver n, whose state
 * was *before. */
void check_forgery(struct sim *s, struct node *n, const struct forgery *f,
                   const struct core_state *before);

/* trace.c */
void trace_init(struct sim *s);
void trace_free(struct sim *s);
void dig(struct sim *s, uint64_t v);
/* Add a phrase to node's line for this event (node 0: the cluster). */
void say(struct sim *s, int level, int node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void trace_flush(struct sim *s);
void trace_notes(struct sim *s, struct node *n, const struct raft_ready *rd);
const char *msg_describe(const struct raft_msg *m, char *buf, size_t len);
void trace_second(struct sim *s, uint64_t upto);
void trace_count_delivery(struct sim *s, const struct raft_msg *m);
void trace_dump_tail(struct sim *s);

#define SAY(s, level, node, ...)                                           \
    do {                                                                   \
        if ((s)->out->fmt)                                                 \
            say((s), (level), (node), __VA_ARGS__);                        \
    } while (0)

#endif
