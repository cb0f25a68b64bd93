/* sim.h - raft-sim: a deterministic simulator of a raftd cluster.
 *
 * N unmodified Raft cores (src/raft) run in one process against a virtual
 * millisecond clock and a simulated network, disk and client population.
 * Everything random comes from one 64-bit seed through independent PRNG
 * streams, so a seed replays a run event for event. A checker watches every
 * event for violations of Raft's safety properties (paper section 5, Figure
 * 3) and, once faults stop, for liveness. See doc/simulator.md.
 *
 * Files: main.c (command line, soak driver), sim.c (event loop, nodes,
 * network, disk, faults, workload), check.c (the properties), trace.c
 * (timeline text, digest), scenario.c (the --scenario language), rng.c.
 */
#ifndef RAFT_SIM_H
#define RAFT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../raft/raft.h"

#define SIM_MAX_NODES 9

/* ---- rng.c: splitmix64 seeding, xoshiro256** streams ------------------- */
struct rng {
    uint64_t s[4];
};
uint64_t mix64(uint64_t x);
uint64_t hash_bytes(uint64_t h, const void *p, size_t n);
/* Stream `stream` of `seed`: streams are independent of each other. */
void rng_init(struct rng *g, uint64_t seed, uint64_t stream);
uint64_t rng_next(struct rng *g);
uint64_t rng_below(struct rng *g, uint64_t n);              /* [0, n) */
uint64_t rng_between(struct rng *g, uint64_t lo, uint64_t hi); /* [lo, hi] */
double rng_unit(struct rng *g);                              /* [0, 1) */
bool rng_chance(struct rng *g, double p);

enum { /* stream numbers */
    STREAM_MIX = 1,
    STREAM_NET,
    STREAM_FAULT,
    STREAM_WORK,
    STREAM_DISK,
    STREAM_SNAP,
    STREAM_SYNC,
    STREAM_FORGE,
    STREAM_CHURN,
    STREAM_NODE = 100, /* + node id */
};

/* ---- scenario.c ----------------------------------------------------------- */
enum sc_action {
    SC_CRASH, SC_RESTART, SC_PAUSE, SC_RESUME, SC_ISOLATE, SC_PARTITION,
    SC_CUT, SC_HEAL, SC_PROPOSE, SC_READ, SC_TRANSFER, SC_LOSS, SC_DUP,
    SC_REORDER, SC_LATENCY, SC_NOTE, SC_FORGE, SC_ADD, SC_PROMOTE,
    SC_REMOVE,
};
/* What a forged message (the forge fault, doc/simulator.md) contradicts:
 * an entry of an AppendEntries, its previous entry, an InstallSnapshot's
 * last entry; or an old InstallSnapshot that agrees (nothing to report). */
enum forge_kind { FORGE_RANDOM, FORGE_ENTRY, FORGE_PREV, FORGE_SNAPSHOT,
                  FORGE_STALE };
/* A node reference: a number, or one resolved when the item runs. */
enum sc_target { T_NODE, T_LEADER, T_FOLLOWER, T_RANDOM, T_ALL, T_REST, T_NONE };
struct sc_ref {
    enum sc_target kind;
    unsigned id; /* T_NODE */
};
#define SC_MAX_REFS 24
struct sc_item {
    uint64_t at;               /* virtual ms */
    enum sc_action action;
    struct sc_ref refs[SC_MAX_REFS];
    unsigned n_refs;
    /* PARTITION: group of refs[i]; CUT: refs come in (from, to) pairs */
    unsigned group[SC_MAX_REFS];
    bool both_ways[SC_MAX_REFS]; /* CUT: pair i/2 cut in both directions */
    uint64_t duration;         /* PAUSE: auto-resume after (0: never) */
    double value;              /* LOSS/DUP/REORDER */
    unsigned lo, hi;           /* LATENCY; PROPOSE: count; FORGE: kind */
    char text[128];            /* PROPOSE data, NOTE text, source text */
};
struct scenario {
    struct sc_item *items;
    size_t n;
};
/* Parse; on error returns -1 and writes a message to err. */
int scenario_parse(const char *text, struct scenario *sc, char *err,
                   size_t errlen);
void scenario_free(struct scenario *sc);
extern const char scenario_help[];

/* ---- the configuration of one run ----------------------------------------- */
struct sim_config {
    unsigned nodes;         /* the cluster: voters n1..nodes at the start */
    unsigned spares;        /* and nodes beyond it that start as non-members
                               (the churn fault or the scenario adds them) */
    uint64_t duration_ms;   /* faults/scenario phase; then the liveness phase */
    /* core timing and limits */
    unsigned heartbeat_ms, election_min_ms, election_max_ms;
    bool prevote, check_quorum;
    unsigned max_entries, max_inflight;
    size_t max_bytes;
    int drift_ppm;          /* node clocks run up to this many ppm fast/slow */
    bool clock_offsets;     /* node clocks start at random large values */
    /* network */
    unsigned lat_min, lat_max;   /* ms, uniform */
    double loss, dup, reorder;   /* probabilities per message */
    unsigned reorder_max;        /* extra delay for a reordered message */
    double unreachable;          /* chance a partition drop is reported */
    /* disk */
    unsigned disk_min, disk_max; /* fsync latency; 0/0: synchronous */
    double torn;                 /* crash during a write keeps part of it */
    double bg_sync;              /* share of nodes that sync their log on a
                                    background thread, as raftd does
                                    (raft_advance_unsynced/raft_persisted) */
    /* random faults */
    double fault_rate;           /* fault events per second */
    double w_partition, w_crash, w_pause;
    unsigned part_min, part_max, down_min, down_max, pause_min, pause_max;
    double vote_crash;           /* chance a node reboots right after voting */
    double forge_rate;           /* forged messages per second that contradict
                                    a node's committed log (raft.h,
                                    "Divergence") */
    double churn_rate;           /* membership changes asked of the leader
                                    per second (the churn fault) */
    /* snapshots (paper 7) */
    double snapshots;            /* chance a node compacts after a ready that
                                    applied entries */
    unsigned snapshot_keep;      /* it keeps up to this many applied entries */
    /* TTL time (kv.h, "Time and TTLs"): a leader proposes a "now" entry
     * with its own clock every now_interval ms of it (0: never) */
    unsigned now_interval;
    bool leader_probe;     /* raftd's node_probe.c: fast first elections,
                              and the followers of a crashed leader that
                              can reach its machine report it gone */
    /* clients */
    double proposals, reads, transfers; /* per second */
    /* scripted events */
    const struct scenario *sc;
    /* liveness phase */
    bool liveness;
    uint64_t liveness_ms;        /* bound for leader + committed probe */
    uint64_t catchup_ms;         /* then: bound for every node applying it */
};

/* Option bits: which fields the user set (a random mix keeps them). */
enum {
    SET_NODES = 1u << 0, SET_TIMING = 1u << 1, SET_PREVOTE = 1u << 2,
    SET_CQ = 1u << 3, SET_BATCH = 1u << 4, SET_LAT = 1u << 5,
    SET_LOSS = 1u << 6, SET_DUP = 1u << 7, SET_REORDER = 1u << 8,
    SET_DISK = 1u << 9, SET_TORN = 1u << 10, SET_FAULTS = 1u << 11,
    SET_PROPOSALS = 1u << 12, SET_READS = 1u << 13, SET_TRANSFERS = 1u << 14,
    SET_CLOCKS = 1u << 15, SET_SNAPSHOTS = 1u << 16, SET_BG_SYNC = 1u << 17,
    SET_SPARES = 1u << 18,
};

/* Fill cfg for `seed`: base (from the command line), and when random_mix,
 * every field not in `set` drawn from the seed's STREAM_MIX. */
void sim_config_for_seed(struct sim_config *cfg, const struct sim_config *base,
                         unsigned set, bool random_mix, uint64_t seed);

/* ---- running ---------------------------------------------------------------- */
struct sim_output {
    bool fmt;          /* build timeline text at all (slower) */
    bool print;        /* print the timeline as it happens */
    int verbosity;     /* 0: key events, 1: + replication detail, 2: + messages */
    unsigned tail;     /* events kept for a violation report */
    FILE *out;
};

struct sim_stats {
    uint64_t events, msgs_sent, msgs_delivered, msgs_lost, msgs_dup;
    uint64_t proposals, proposals_ok, proposals_refused, proposals_unavailable;
    uint64_t reads, reads_ok, reads_failed, reads_refused;
    uint64_t transfers, elections, leaders, crashes, restarts, partitions,
        pauses, torn_writes, writes;
    uint64_t snapshots, installs; /* compactions; snapshots installed */
    uint64_t bg_writes, bg_syncs, held; /* background syncing: writes, syncs,
                                           answers held until durable */
    uint64_t forged, forged_refused; /* forged messages; refused as divergent */
    /* membership changes asked of a leader: made, refused (by reason),
     * not asked (a learner still catching up); configurations committed */
    uint64_t changes, changes_ok, changes_busy, changes_notready,
        changes_noquorum, changes_notleader, changes_other, changes_waiting;
    uint64_t configs_committed;
    uint64_t committed;   /* highest committed index */
    uint64_t now_entries, now_behind; /* "now" entries proposed; of those
                                         applied, behind the store's clock */
    uint64_t liveness_ms; /* time from quiet start to probe applied everywhere */
};

struct sim_result {
    int violated;             /* 0 ok, 1 safety/liveness violation */
    char property[64];
    char detail[512];
    uint64_t at_ms, at_event;
    uint64_t sim_ms;          /* virtual time simulated */
    uint64_t digest;
    struct sim_stats st;
};

/* Run one seed. With out->fmt, the last out->tail timeline lines are kept
 * and printed on a violation (to out->out). */
void sim_run(const struct sim_config *cfg, uint64_t seed,
             const struct sim_output *out, struct sim_result *res);

void sim_print_config(FILE *f, const struct sim_config *cfg, uint64_t seed);

#endif
