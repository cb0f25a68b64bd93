/* main.c - raft-sim's command line: one seed with a readable timeline
 * (teaching mode), or many seeds with random fault mixes (soak mode). */
#define _POSIX_C_SOURCE 200809L
#include "sim.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: raft-sim [OPTIONS]\n"
    "Run a cluster of unmodified raftd Raft cores in one process, on a virtual\n"
    "clock and a simulated network, and check Raft's safety properties after\n"
    "every event. The same seed always gives the same run.\n"
    "\n"
    "One run (teaching mode: prints a timeline):\n"
    "  raft-sim --nodes 3 --seed 7 --duration 10s\n"
    "  raft-sim --seed 7 --scenario \"2s crash leader; 5s restart all\"\n"
    "Many runs (soak mode: each seed draws its own node count and fault mix):\n"
    "  raft-sim --seeds 300          raft-sim --seed-start 1000 --seeds 100000 --time-budget 60s\n"
    "\n"
    "Run:\n"
    "  -n, --nodes N          cluster size, 1-9 (default 3; soak: 3, 5 or 7 per seed)\n"
    "      --spares N         N more nodes that start outside the cluster, for\n"
    "                         membership changes (default 0; 2 with the churn fault)\n"
    "  -s, --seed S           the seed (default 1)\n"
    "  -d, --duration T       length of the fault/scenario phase (default 10s; soak 25s);\n"
    "                         then faults stop and the liveness check runs\n"
    "      --scenario TEXT    scripted events (see below); @FILE reads them from FILE\n"
    "      --no-liveness      stop at --duration, no liveness check\n"
    "      --liveness T       bound for a leader to commit once faults stop\n"
    "                         (default: 10 election timeouts, at least 10s)\n"
    "Faults (defaults for one run: none; soak: drawn per seed):\n"
    "      --faults MODE      none | random (the seed draws the whole mix, as in soak)\n"
    "                         | a list of partition,crash,pause,vote-crash,forge,churn\n"
    "                         (random such faults; vote-crash: a node may reboot\n"
    "                         right after it granted a vote; forge: forged messages\n"
    "                         that contradict a node's committed log; churn: the\n"
    "                         leader is asked for membership changes one step at a\n"
    "                         time: add a spare as learner, promote it, remove a\n"
    "                         member or itself)\n"
    "      --fault-rate R     random faults per second (default 0.3), and as many\n"
    "                         forged messages and membership changes\n"
    "      --loss P           message loss probability (10% or 0.1)\n"
    "      --dup P            message duplication probability\n"
    "      --reorder P        probability a message is delayed extra (reordering)\n"
    "      --latency A-B      message latency range, ms (default 2-10)\n"
    "      --disk A-B         fsync latency range, ms (default 0: synchronous);\n"
    "                         messages leave only after the write completes\n"
    "      --torn P           chance a crash during a write keeps part of it\n"
    "      --bg-sync P        share of nodes that sync their log on a background\n"
    "                         thread, as raftd does (default 0; 1: all)\n"
    "      --snapshots P      chance a node snapshots and compacts its log after\n"
    "                         applying entries (default 5%; 0: never)\n"
    "      --snapshot-keep N  it keeps up to N applied entries (default 10)\n"
    "      --now-interval MS  a leader proposes a \"now\" entry (its clock, for\n"
    "                         TTL expiry) every MS ms of it (default 0: never);\n"
    "                         every node must apply them in the same order and\n"
    "                         keep the same store clock, across snapshots\n"
    "      --leader-probe     as raftd: the first election timeout is one to two\n"
    "                         heartbeats, and the followers of a crashed leader\n"
    "                         that are not cut off from it report it gone\n"
    "                         (raft_leader_gone) within 1.5 heartbeats\n"
    "Clients:\n"
    "      --rate R           client commands per second, at random nodes (default 1)\n"
    "      --reads R          ReadIndex reads per second (default 0)\n"
    "      --transfers R      leadership transfers per second (default 0)\n"
    "Core:\n"
    "      --heartbeat MS     (default 100)      --election A-B   (default 1000-2000)\n"
    "      --no-prevote       --no-check-quorum  --batch N (entries per message)\n"
    "      --inflight N       (messages in flight per follower)\n"
    "Output:\n"
    "  -v, --verbose          more detail: -v replication, -vv every message\n"
    "  -q, --quiet            no timeline: one result line (checking still on)\n"
    "      --tail N           events shown before a violation (default 30)\n"
    "Soak:\n"
    "      --seeds N          run N seeds (0: until --time-budget)\n"
    "      --seed-start S     first seed (default 1)\n"
    "      --time-budget T    stop starting seeds after T of wall time (e.g. 60s)\n"
    "  -j, --jobs N           worker processes (default: CPUs online)\n"
    "      --keep-going       do not stop at the first violation\n"
    "\n"
    "Exit status: 0 no violation, 1 a safety or liveness violation, 2 usage error.\n"
    "\n";

enum {
    O_SCENARIO = 256, O_NO_LIVENESS, O_LIVENESS, O_FAULTS, O_FAULT_RATE,
    O_LOSS, O_DUP, O_REORDER, O_LATENCY, O_DISK, O_TORN, O_BG_SYNC, O_SNAPSHOTS, O_SNAPSHOT_KEEP, O_NOW_INTERVAL, O_LEADER_PROBE, O_RATE, O_READS,
    O_TRANSFERS, O_HEARTBEAT, O_ELECTION, O_NO_PREVOTE, O_NO_CQ, O_BATCH,
    O_INFLIGHT, O_TAIL, O_SEEDS, O_SEED_START, O_BUDGET, O_KEEP_GOING,
    O_SPARES,
};

static const struct option long_opts[] = {
    {"nodes", required_argument, 0, 'n'},
    {"spares", required_argument, 0, O_SPARES},
    {"seed", required_argument, 0, 's'},
    {"duration", required_argument, 0, 'd'},
    {"scenario", required_argument, 0, O_SCENARIO},
    {"no-liveness", no_argument, 0, O_NO_LIVENESS},
    {"liveness", required_argument, 0, O_LIVENESS},
    {"faults", required_argument, 0, O_FAULTS},
    {"fault-rate", required_argument, 0, O_FAULT_RATE},
    {"loss", required_argument, 0, O_LOSS},
    {"dup", required_argument, 0, O_DUP},
    {"reorder", required_argument, 0, O_REORDER},
    {"latency", required_argument, 0, O_LATENCY},
    {"disk", required_argument, 0, O_DISK},
    {"torn", required_argument, 0, O_TORN},
    {"bg-sync", required_argument, 0, O_BG_SYNC},
    {"snapshots", required_argument, 0, O_SNAPSHOTS},
    {"snapshot-keep", required_argument, 0, O_SNAPSHOT_KEEP},
    {"now-interval", required_argument, 0, O_NOW_INTERVAL},
    {"leader-probe", no_argument, 0, O_LEADER_PROBE},
    {"rate", required_argument, 0, O_RATE},
    {"reads", required_argument, 0, O_READS},
    {"transfers", required_argument, 0, O_TRANSFERS},
    {"heartbeat", required_argument, 0, O_HEARTBEAT},
    {"election", required_argument, 0, O_ELECTION},
    {"no-prevote", no_argument, 0, O_NO_PREVOTE},
    {"no-check-quorum", no_argument, 0, O_NO_CQ},
    {"batch", required_argument, 0, O_BATCH},
    {"inflight", required_argument, 0, O_INFLIGHT},
    {"verbose", no_argument, 0, 'v'},
    {"quiet", no_argument, 0, 'q'},
    {"tail", required_argument, 0, O_TAIL},
    {"seeds", required_argument, 0, O_SEEDS},
    {"seed-start", required_argument, 0, O_SEED_START},
    {"time-budget", required_argument, 0, O_BUDGET},
    {"jobs", required_argument, 0, 'j'},
    {"keep-going", no_argument, 0, O_KEEP_GOING},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "raft-sim: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'raft-sim --help'.\n");
    va_end(ap);
    exit(2);
}

static uint64_t arg_u64(const char *opt, const char *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 0);
    if (errno || end == v || *end || v[0] == '-')
        die("%s: not a number: %s", opt, v);
    return x;
}

static uint64_t arg_ms(const char *opt, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || x < 0)
        die("%s: not a duration: %s", opt, v);
    if (*end == 0 || !strcmp(end, "s"))
        x *= 1000;
    else if (!strcmp(end, "m") || !strcmp(end, "min"))
        x *= 60000;
    else if (!strcmp(end, "h"))
        x *= 3600000;
    else if (strcmp(end, "ms"))
        die("%s: not a duration (use 10s, 500ms, 2m): %s", opt, v);
    return (uint64_t)(x + 0.5);
}

static double arg_prob(const char *opt, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (end != v && *end == '%') {
        x /= 100;
        end++;
    }
    if (end == v || *end || x < 0 || x > 1)
        die("%s: not a probability (use 10%% or 0.1): %s", opt, v);
    return x;
}

static double arg_rate(const char *opt, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || x < 0 || x > 100000)
        die("%s: not a rate: %s", opt, v);
    return x;
}

static void arg_range(const char *opt, const char *v, unsigned *lo, unsigned *hi)
{
    char *end;
    unsigned long a = strtoul(v, &end, 10);
    if (end == v)
        die("%s: expected A-B: %s", opt, v);
    unsigned long b = a;
    if (*end == '-') {
        const char *p = end + 1;
        b = strtoul(p, &end, 10);
        if (end == p)
            die("%s: expected A-B: %s", opt, v);
    }
    if ((*end && strcmp(end, "ms")) || b < a || b > 3600000)
        die("%s: expected A-B in ms: %s", opt, v);
    *lo = (unsigned)a;
    *hi = (unsigned)b;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- options ---------------------------------------------------------- */

struct cli {
    struct sim_config base;
    unsigned set;
    bool random_mix;
    bool faults_given;
    uint64_t seed;
    bool seed_given;
    int verbosity;
    bool quiet;
    unsigned tail;
    bool soak;
    uint64_t seeds, seed_start;
    double budget;
    unsigned jobs;
    bool keep_going;
    struct scenario sc;
    char overrides[2048]; /* config options, for the replay line */
};

static void add_override(struct cli *c, const char *name, const char *val)
{
    size_t len = strlen(c->overrides);
    if (val && strpbrk(val, " ;|\"'$<>&"))
        snprintf(c->overrides + len, sizeof(c->overrides) - len, " --%s '%s'",
                 name, val);
    else if (val)
        snprintf(c->overrides + len, sizeof(c->overrides) - len, " --%s %s",
                 name, val);
    else
        snprintf(c->overrides + len, sizeof(c->overrides) - len, " --%s", name);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    if (!buf)
        die("out of memory");
    buf[len] = 0;
    return buf;
}

static void parse_args(int argc, char **argv, struct cli *c)
{
    struct sim_config *b = &c->base;
    memset(c, 0, sizeof(*c));
    b->nodes = 3;
    b->duration_ms = 0; /* set below */
    b->heartbeat_ms = 100;
    b->election_min_ms = 1000;
    b->election_max_ms = 2000;
    b->prevote = true;
    b->check_quorum = true;
    b->max_entries = 64;
    b->max_inflight = 8;
    b->max_bytes = 1024 * 1024;
    b->lat_min = 2;
    b->lat_max = 10;
    b->reorder_max = 100;
    b->unreachable = 0.5;
    b->torn = 0.5;
    b->snapshots = 0.05;
    b->snapshot_keep = 10;
    b->fault_rate = 0.3;
    b->part_min = 1000;
    b->part_max = 5000;
    b->down_min = 500;
    b->down_max = 4000;
    b->pause_min = 500;
    b->pause_max = 3000;
    b->proposals = 1;
    b->liveness = true;
    c->seed = 1;
    c->tail = 30;
    c->seed_start = 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    c->jobs = cpus > 0 ? (unsigned)cpus : 1;
    double fault_rate = -1;
    const char *faults = NULL;

    int opt;
    while ((opt = getopt_long(argc, argv, "n:s:d:vqj:h", long_opts, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *o = long_opts; o->name; o++)
            if (o->val == opt)
                name = o->name;
        switch (opt) {
        case 'n':
            b->nodes = (unsigned)arg_u64("--nodes", optarg);
            if (b->nodes < 1 || b->nodes > SIM_MAX_NODES)
                die("--nodes must be 1-%d", SIM_MAX_NODES);
            c->set |= SET_NODES;
            add_override(c, name, optarg);
            break;
        case O_SPARES:
            b->spares = (unsigned)arg_u64("--spares", optarg);
            if (b->spares > SIM_MAX_NODES - 1)
                die("--spares must be 0-%d", SIM_MAX_NODES - 1);
            c->set |= SET_SPARES;
            add_override(c, name, optarg);
            break;
        case 's':
            c->seed = arg_u64("--seed", optarg);
            c->seed_given = true;
            break;
        case 'd':
            b->duration_ms = arg_ms("--duration", optarg);
            if (b->duration_ms == 0)
                die("--duration must be positive");
            add_override(c, name, optarg);
            break;
        case O_SCENARIO: {
            char *text = optarg[0] == '@' ? read_file(optarg + 1) : strdup(optarg);
            char err[300];
            if (!text)
                die("out of memory");
            if (scenario_parse(text, &c->sc, err, sizeof(err)))
                die("%s (the scenario language is in --help)", err);
            free(text);
            add_override(c, name, optarg);
            break;
        }
        case O_NO_LIVENESS:
            b->liveness = false;
            add_override(c, name, NULL);
            break;
        case O_LIVENESS:
            b->liveness_ms = arg_ms("--liveness", optarg);
            add_override(c, name, optarg);
            break;
        case O_FAULTS:
            faults = optarg;
            add_override(c, name, optarg);
            break;
        case O_FAULT_RATE:
            fault_rate = arg_rate("--fault-rate", optarg);
            add_override(c, name, optarg);
            break;
        case O_LOSS:
            b->loss = arg_prob("--loss", optarg);
            c->set |= SET_LOSS;
            add_override(c, name, optarg);
            break;
        case O_DUP:
            b->dup = arg_prob("--dup", optarg);
            c->set |= SET_DUP;
            add_override(c, name, optarg);
            break;
        case O_REORDER:
            b->reorder = arg_prob("--reorder", optarg);
            c->set |= SET_REORDER;
            add_override(c, name, optarg);
            break;
        case O_LATENCY:
            arg_range("--latency", optarg, &b->lat_min, &b->lat_max);
            c->set |= SET_LAT;
            add_override(c, name, optarg);
            break;
        case O_DISK:
            arg_range("--disk", optarg, &b->disk_min, &b->disk_max);
            c->set |= SET_DISK;
            add_override(c, name, optarg);
            break;
        case O_TORN:
            b->torn = arg_prob("--torn", optarg);
            c->set |= SET_TORN;
            add_override(c, name, optarg);
            break;
        case O_BG_SYNC:
            b->bg_sync = arg_prob("--bg-sync", optarg);
            c->set |= SET_BG_SYNC;
            add_override(c, name, optarg);
            break;
        case O_SNAPSHOTS:
            b->snapshots = arg_prob("--snapshots", optarg);
            c->set |= SET_SNAPSHOTS;
            add_override(c, name, optarg);
            break;
        case O_SNAPSHOT_KEEP:
            b->snapshot_keep = (unsigned)arg_u64("--snapshot-keep", optarg);
            c->set |= SET_SNAPSHOTS;
            add_override(c, name, optarg);
            break;
        case O_NOW_INTERVAL:
            b->now_interval = (unsigned)arg_u64("--now-interval", optarg);
            add_override(c, name, optarg);
            break;
        case O_LEADER_PROBE:
            b->leader_probe = true;
            add_override(c, name, NULL);
            break;
        case O_RATE:
            b->proposals = arg_rate("--rate", optarg);
            c->set |= SET_PROPOSALS;
            add_override(c, name, optarg);
            break;
        case O_READS:
            b->reads = arg_rate("--reads", optarg);
            c->set |= SET_READS;
            add_override(c, name, optarg);
            break;
        case O_TRANSFERS:
            b->transfers = arg_rate("--transfers", optarg);
            c->set |= SET_TRANSFERS;
            add_override(c, name, optarg);
            break;
        case O_HEARTBEAT:
            b->heartbeat_ms = (unsigned)arg_u64("--heartbeat", optarg);
            c->set |= SET_TIMING;
            add_override(c, name, optarg);
            break;
        case O_ELECTION:
            arg_range("--election", optarg, &b->election_min_ms, &b->election_max_ms);
            c->set |= SET_TIMING;
            add_override(c, name, optarg);
            break;
        case O_NO_PREVOTE:
            b->prevote = false;
            c->set |= SET_PREVOTE;
            add_override(c, name, NULL);
            break;
        case O_NO_CQ:
            b->check_quorum = false;
            c->set |= SET_CQ;
            add_override(c, name, NULL);
            break;
        case O_BATCH:
            b->max_entries = (unsigned)arg_u64("--batch", optarg);
            c->set |= SET_BATCH;
            add_override(c, name, optarg);
            break;
        case O_INFLIGHT:
            b->max_inflight = (unsigned)arg_u64("--inflight", optarg);
            c->set |= SET_BATCH;
            add_override(c, name, optarg);
            break;
        case 'v':
            c->verbosity++;
            break;
        case 'q':
            c->quiet = true;
            break;
        case O_TAIL:
            c->tail = (unsigned)arg_u64("--tail", optarg);
            if (c->tail > 100000)
                die("--tail: at most 100000");
            break;
        case O_SEEDS:
            c->seeds = arg_u64("--seeds", optarg);
            c->soak = true;
            break;
        case O_SEED_START:
            c->seed_start = arg_u64("--seed-start", optarg);
            c->soak = true;
            break;
        case O_BUDGET:
            c->budget = arg_ms("--time-budget", optarg) / 1000.0;
            c->soak = true;
            break;
        case 'j':
            c->jobs = (unsigned)arg_u64("--jobs", optarg);
            if (c->jobs < 1 || c->jobs > 64)
                die("--jobs must be 1-64");
            break;
        case O_KEEP_GOING:
            c->keep_going = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            fputs(scenario_help, stdout);
            exit(0);
        default:
            die("unknown option");
        }
    }
    if (optind < argc)
        die("unexpected argument: %s", argv[optind]);
    if (c->soak && c->seed_given)
        die("use --seed-start with --seeds, not --seed");
    if (c->soak && c->seeds == 0 && c->budget == 0)
        die("--seeds 0 needs a --time-budget");

    /* Faults: none, random (the whole mix from the seed), or a list. */
    if (!faults)
        faults = c->soak ? "random" : "none";
    if (!strcmp(faults, "random")) {
        c->random_mix = true;
    } else if (!strcmp(faults, "none")) {
        c->set |= SET_FAULTS;
        b->fault_rate = 0;
    } else {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", faults);
        b->w_partition = b->w_crash = b->w_pause = 0;
        for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
            if (!strcmp(t, "partition"))
                b->w_partition = 1;
            else if (!strcmp(t, "crash"))
                b->w_crash = 1;
            else if (!strcmp(t, "pause"))
                b->w_pause = 1;
            else if (!strcmp(t, "vote-crash"))
                b->vote_crash = 0.2;
            else if (!strcmp(t, "forge"))
                b->forge_rate = -1; /* = the fault rate, below */
            else if (!strcmp(t, "churn"))
                b->churn_rate = -1; /* = the fault rate, below */
            else
                die("--faults: none, random, or a list of partition,crash,"
                    "pause,vote-crash,forge,churn");
        }
        c->set |= SET_FAULTS;
    }
    if (fault_rate >= 0) {
        b->fault_rate = fault_rate;
        if (c->random_mix)
            die("--fault-rate goes with --faults LIST, not random");
    }
    if (b->forge_rate < 0)
        b->forge_rate = b->fault_rate;
    if (b->churn_rate < 0) {
        b->churn_rate = b->fault_rate;
        if (!(c->set & SET_SPARES))
            b->spares = 2;
    }
    if (!c->random_mix && b->nodes + b->spares > SIM_MAX_NODES)
        die("--nodes and --spares: at most %d nodes in all", SIM_MAX_NODES);
    if (!b->duration_ms)
        b->duration_ms = c->soak ? 25000 : 10000;
    if (b->heartbeat_ms == 0 || b->heartbeat_ms >= b->election_min_ms)
        die("--heartbeat must be positive and below the election timeout");
    if (b->max_entries < 1 || b->max_inflight < 1 || b->max_inflight > 64)
        die("--batch must be >= 1, --inflight 1-64");
    if (c->sc.n)
        b->sc = &c->sc;
    b->catchup_ms = 0;
    if (c->set & SET_LAT)
        b->reorder_max = b->lat_max * 5 + 10;
}

/* Fill in the bounds that follow the timing. */
static void finish_config(struct sim_config *cfg, uint64_t user_liveness)
{
    uint64_t auto_ms = 10ull * cfg->election_max_ms;
    if (auto_ms < 10000)
        auto_ms = 10000;
    cfg->liveness_ms = user_liveness ? user_liveness : auto_ms;
    cfg->catchup_ms = cfg->liveness_ms;
}

static void config_for(const struct cli *c, uint64_t seed, struct sim_config *cfg)
{
    sim_config_for_seed(cfg, &c->base, c->set, c->random_mix, seed);
    finish_config(cfg, c->base.liveness_ms);
}

static void replay_line(FILE *f, const struct cli *c, uint64_t seed)
{
    fprintf(f, "replay: raft-sim --seed %" PRIu64 "%s%s%s -v\n", seed,
            c->random_mix && !strstr(c->overrides, "--faults") ? " --faults random" : "",
            c->soak && !strstr(c->overrides, "--duration") ? " --duration 25s" : "",
            c->overrides);
}

/* Run seed again with text on, to show the events before its violation. */
static void explain(const struct cli *c, uint64_t seed, const struct sim_result *first)
{
    struct sim_config cfg;
    config_for(c, seed, &cfg);
    struct sim_output out = {.fmt = true, .print = false, .verbosity = 2,
                             .tail = c->tail ? c->tail : 1, .out = stdout};
    struct sim_result res;
    sim_run(&cfg, seed, &out, &res);
    if (!res.violated || res.at_event != first->at_event ||
        strcmp(res.property, first->property))
        printf("raft-sim: WARNING: the replay of seed %" PRIu64 " did not "
               "reproduce the violation: the simulator is not deterministic\n",
               seed);
}

static void print_violation(const struct sim_result *r, uint64_t seed)
{
    printf("*** VIOLATION of %s (seed %" PRIu64 ", at %.3fs, event %" PRIu64 ")\n"
           "    %s\n", r->property, seed, r->at_ms / 1000.0, r->at_event, r->detail);
}

/* ---- one run ------------------------------------------------------------ */

static int run_one(const struct cli *c)
{
    struct sim_config cfg;
    config_for(c, c->seed, &cfg);
    for (size_t i = 0; i < c->sc.n; i++)
        for (unsigned k = 0; k < c->sc.items[i].n_refs; k++)
            if (c->sc.items[i].refs[k].kind == T_NODE &&
                c->sc.items[i].refs[k].id > cfg.nodes + cfg.spares)
                die("scenario \"%s\": there is no node %u among %u (a cluster "
                    "of %u; --spares adds nodes outside it)",
                    c->sc.items[i].text, c->sc.items[i].refs[k].id,
                    cfg.nodes + cfg.spares, cfg.nodes);
    struct sim_result res;
    if (c->quiet) {
        struct sim_output out = {.fmt = false, .out = stdout};
        sim_run(&cfg, c->seed, &out, &res);
        if (res.violated) {
            print_violation(&res, c->seed);
            explain(c, c->seed, &res);
            replay_line(stdout, c, c->seed);
            return 1;
        }
        printf("seed %" PRIu64 ": ok, %u nodes, %.3fs simulated, %" PRIu64
               " events, %" PRIu64 " entries committed, digest %016" PRIx64 "\n",
               c->seed, cfg.nodes, res.sim_ms / 1000.0, res.st.events,
               res.st.committed, res.digest);
        return 0;
    }
    sim_print_config(stdout, &cfg, c->seed);
    printf("\n    time  node event\n");
    struct sim_output out = {.fmt = true, .print = true, .verbosity = c->verbosity,
                             .tail = c->tail, .out = stdout};
    sim_run(&cfg, c->seed, &out, &res);
    const struct sim_stats *st = &res.st;
    printf("\nsummary: %.3fs of virtual time", res.sim_ms / 1000.0);
    if (cfg.liveness && res.sim_ms > cfg.duration_ms)
        printf(" (%.3fs of faults/scenario, then %.3fs to recover)",
               cfg.duration_ms / 1000.0, (res.sim_ms - cfg.duration_ms) / 1000.0);
    printf("\n  %" PRIu64 " leaders elected; %" PRIu64 " entries committed\n",
           st->leaders, st->committed);
    printf("  client commands: %" PRIu64 " accepted by a leader, %" PRIu64
           " refused, %" PRIu64 " unanswered (node down, paused or busy)\n",
           st->proposals_ok, st->proposals_refused, st->proposals_unavailable);
    if (st->reads)
        printf("  reads: %" PRIu64 " requested, %" PRIu64 " served, %" PRIu64
               " failed or refused\n", st->reads, st->reads_ok,
               st->reads_failed + st->reads_refused);
    printf("  faults: %" PRIu64 " crashes, %" PRIu64 " restarts, %" PRIu64
           " partitions, %" PRIu64 " pauses, %" PRIu64 " torn writes, %" PRIu64
           " snapshots taken, %" PRIu64 " installed\n",
           st->crashes, st->restarts, st->partitions, st->pauses, st->torn_writes,
           st->snapshots, st->installs);
    if (st->now_entries)
        printf("  \"now\" entries: %" PRIu64 " proposed; %" PRIu64 " times one "
               "was applied behind the store's clock (from a leader whose "
               "clock was behind)\n",
               st->now_entries, st->now_behind);
    if (st->bg_writes)
        printf("  background syncing: %" PRIu64 " writes, %" PRIu64 " syncs, %"
               PRIu64 " answers held until durable\n", st->bg_writes,
               st->bg_syncs, st->held);
    if (st->forged)
        printf("  forged messages: %" PRIu64 " delivered, %" PRIu64 " refused "
               "and reported as divergent\n", st->forged, st->forged_refused);
    if (st->changes || st->changes_waiting)
        printf("  membership changes: %" PRIu64 " asked, %" PRIu64 " made, %"
               PRIu64 " configurations committed; refused: %" PRIu64 " busy "
               "(a change in flight), %" PRIu64 " not ready, %" PRIu64 " no "
               "quorum, %" PRIu64 " not leader, %" PRIu64 " other; %" PRIu64
               " promotions waited for a learner to catch up\n", st->changes,
               st->changes_ok, st->configs_committed, st->changes_busy,
               st->changes_notready, st->changes_noquorum,
               st->changes_notleader, st->changes_other, st->changes_waiting);
    printf("  messages: %" PRIu64 " sent, %" PRIu64 " delivered, %" PRIu64
           " lost, %" PRIu64 " duplicated\n", st->msgs_sent, st->msgs_delivered,
           st->msgs_lost, st->msgs_dup);
    if (res.violated) {
        print_violation(&res, c->seed);
        replay_line(stdout, c, c->seed);
        printf("digest %016" PRIx64 "\n", res.digest);
        return 1;
    }
    printf("checker: every safety property held after each of the %" PRIu64
           " events", st->events);
    if (cfg.liveness)
        printf("; liveness: all nodes applied a new entry %.3fs after the faults "
               "stopped", st->liveness_ms / 1000.0);
    printf("\ndigest %016" PRIx64 "\n", res.digest);
    return 0;
}

/* ---- soak --------------------------------------------------------------- */

struct rec {
    uint64_t seed, sim_ms, events, digest, at_event, at_ms;
    int32_t violated;
    char property[64];
    char detail[512];
};

static void run_seed(const struct cli *c, uint64_t seed, struct rec *r)
{
    struct sim_config cfg;
    config_for(c, seed, &cfg);
    struct sim_output out = {.fmt = false, .out = stdout};
    struct sim_result res;
    sim_run(&cfg, seed, &out, &res);
    memset(r, 0, sizeof(*r));
    r->seed = seed;
    r->sim_ms = res.sim_ms;
    r->events = res.st.events;
    r->digest = res.digest;
    r->violated = res.violated;
    r->at_event = res.at_event;
    r->at_ms = res.at_ms;
    snprintf(r->property, sizeof(r->property), "%s", res.property);
    snprintf(r->detail, sizeof(r->detail), "%s", res.detail);
}

struct soak_totals {
    uint64_t seeds, violations, sim_ms, events, digest;
    double next_report;
    bool have_first;
    struct rec first;
};

static void account(const struct cli *c, struct soak_totals *t, const struct rec *r)
{
    t->seeds++;
    t->sim_ms += r->sim_ms;
    t->events += r->events;
    t->digest ^= mix64(r->digest ^ r->seed);
    if (r->violated) {
        t->violations++;
        printf("seed %" PRIu64 ": VIOLATION of %s: %s\n", r->seed, r->property,
               r->detail);
        fflush(stdout);
        if (!t->have_first) {
            t->have_first = true;
            t->first = *r;
        }
    } else if (c->verbosity > 0) {
        printf("seed %" PRIu64 ": ok, %.1fs simulated, %" PRIu64 " events, "
               "digest %016" PRIx64 "\n", r->seed, r->sim_ms / 1000.0, r->events,
               r->digest);
    }
    if (!c->quiet && !c->verbosity && now_s() >= t->next_report) {
        t->next_report = now_s() + 15;
        printf("  ... %" PRIu64 " seeds, %.2f simulated hours, %" PRIu64
               " violations\n", t->seeds, t->sim_ms / 3.6e6, t->violations);
        fflush(stdout);
    }
}

static int soak(const struct cli *c)
{
    double t0 = now_s();
    uint64_t n = c->seeds ? c->seeds : UINT64_MAX;
    unsigned jobs = c->jobs;
    if (c->seeds && jobs > c->seeds)
        jobs = (unsigned)c->seeds;
    if (!c->quiet) {
        printf("raft-sim soak: seeds from %" PRIu64 ", %s, %u job%s",
               c->seed_start, c->random_mix ? "random fault mix per seed"
                                            : "fixed configuration",
               jobs, jobs > 1 ? "s" : "");
        if (c->seeds)
            printf(", %" PRIu64 " seeds", c->seeds);
        if (c->budget > 0)
            printf(", time budget %.0fs", c->budget);
        printf("\n");
        fflush(stdout);
    }
    struct soak_totals t = {0};
    t.next_report = t0 + 15;
    bool stop = false;
    if (jobs <= 1) {
        for (uint64_t k = 0; k < n && !stop; k++) {
            if (c->budget > 0 && now_s() - t0 >= c->budget)
                break;
            struct rec r;
            run_seed(c, c->seed_start + k, &r);
            account(c, &t, &r);
            if (r.violated && !c->keep_going)
                stop = true;
        }
    } else {
        pid_t pids[64];
        struct pollfd pfd[64];
        unsigned live = 0;
        fflush(stdout);
        for (unsigned w = 0; w < jobs; w++) {
            int fd[2];
            if (pipe(fd))
                die("pipe: %s", strerror(errno));
            pid_t pid = fork();
            if (pid < 0)
                die("fork: %s", strerror(errno));
            if (pid == 0) {
                close(fd[0]);
                for (uint64_t k = w; k < n; k += jobs) {
                    if (c->budget > 0 && now_s() - t0 >= c->budget)
                        break;
                    struct rec r;
                    run_seed(c, c->seed_start + k, &r);
                    if (write(fd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
                        _exit(3);
                    if (r.violated && !c->keep_going)
                        break;
                }
                _exit(0);
            }
            close(fd[1]);
            pids[w] = pid;
            pfd[w].fd = fd[0];
            pfd[w].events = POLLIN;
            live++;
        }
        while (live && !stop) {
            if (poll(pfd, jobs, -1) < 0) {
                if (errno == EINTR)
                    continue;
                die("poll: %s", strerror(errno));
            }
            for (unsigned w = 0; w < jobs && !stop; w++) {
                if (pfd[w].fd < 0 || !(pfd[w].revents & (POLLIN | POLLHUP)))
                    continue;
                struct rec r;
                size_t got = 0;
                while (got < sizeof(r)) {
                    ssize_t k = read(pfd[w].fd, (char *)&r + got, sizeof(r) - got);
                    if (k < 0 && errno == EINTR)
                        continue;
                    if (k <= 0)
                        break;
                    got += (size_t)k;
                }
                if (got < sizeof(r)) {
                    close(pfd[w].fd);
                    pfd[w].fd = -1;
                    live--;
                    continue;
                }
                account(c, &t, &r);
                if (r.violated && !c->keep_going)
                    stop = true;
            }
        }
        for (unsigned w = 0; w < jobs; w++) {
            if (stop)
                kill(pids[w], SIGTERM);
            if (pfd[w].fd >= 0)
                close(pfd[w].fd);
            int status;
            waitpid(pids[w], &status, 0);
            if (!stop && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
                printf("raft-sim: worker %u failed (status %d)\n", w, status);
                t.violations++;
            }
        }
    }
    double wall = now_s() - t0;
    if (t.have_first) {
        struct sim_result fr = {.violated = 1, .at_ms = t.first.at_ms,
                                .at_event = t.first.at_event};
        snprintf(fr.property, sizeof(fr.property), "%s", t.first.property);
        snprintf(fr.detail, sizeof(fr.detail), "%s", t.first.detail);
        printf("\n");
        print_violation(&fr, t.first.seed);
        explain(c, t.first.seed, &fr);
        replay_line(stdout, c, t.first.seed);
    }
    printf("soak: %" PRIu64 " seeds run, %" PRIu64 " violation%s, %.2f simulated "
           "hours, %.1fs wall, %" PRIu64 " events, digest %016" PRIx64 "%s\n",
           t.seeds, t.violations, t.violations == 1 ? "" : "s", t.sim_ms / 3.6e6,
           wall, t.events, t.digest,
           t.violations && !c->keep_going ? " (stopped at the first violation)" : "");
    return t.violations ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct cli c;
    parse_args(argc, argv, &c);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    int rv = c.soak ? soak(&c) : run_one(&c);
    fflush(stdout);
    scenario_free(&c.sc);
    return rv;
}
