/* bench.h - raftd-bench internals shared by its source files.
 *
 *   main.c     command line, the sweep, per-level restart and waiting
 *   engine.c   the load: closed-loop clients on one libcurl multi handle
 *   cluster.c  leader discovery, the built-in local cluster, restart
 *              commands, watching the servers' memory and CPU
 *   report.c   CSV files, CDF files, gnuplot scripts and plots
 *   stats.c    percentiles, means, CDF (unit-tested)
 */
#ifndef RAFTD_BENCH_H
#define RAFTD_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

#define MAX_ENDPOINTS 16

enum op { OP_PUT, OP_GET, OP_QGET, OP_CAS, OP_COUNT };
enum target { TARGET_ONE, TARGET_ALL, TARGET_LEADER };
enum dist { DIST_UNIFORM, DIST_ZIPF };

extern const char *const op_names[OP_COUNT];
/* Set by SIGINT/SIGTERM: the run in progress ends, the sweep stops. */
extern volatile sig_atomic_t bench_interrupted;

struct bench_config {
    /* load */
    char *endpoints[MAX_ENDPOINTS];
    unsigned n_endpoints;
    enum target target;
    const char *op_name;      /* "put", "get", "qget", "cas", "mix" */
    unsigned weights[OP_COUNT]; /* op mix; one nonzero for a single op */
    unsigned value_size;
    unsigned keys;
    enum dist dist;
    double zipf_s;
    const char *key_prefix;
    bool preload;
    unsigned fill;            /* --fill N: write N keys once, then stop */
    unsigned timeout_ms;
    unsigned error_backoff_ms;
    uint64_t seed;
    /* sweep */
    unsigned *levels;
    unsigned n_levels;
    double duration_s, warmup_s;
    double leader_timeout_s;
    double settle_s;          /* pause after a leader is found */
    const char *restart_cmd;
    /* built-in local cluster */
    unsigned local_nodes;     /* 0: not used */
    const char *raftd;
    const char *launcher;
    unsigned local_port;
    const char *local_dir;
    bool local_fast;
    bool keep_data;
    /* watching the servers */
    const char *watch;        /* substring of the servers' command lines */
    /* output */
    const char *out_dir;
    const char *label;
    bool plot;
    bool quiet;
    unsigned cdf_points;
};

/* A cluster member as discovered: where its leader is. */
struct leader_info {
    char url[256]; /* the leader's client URL */
};

/* One run's results beyond the statistics. */
struct run_extra {
    double bench_cpu_s;   /* user+sys of raftd-bench over the measured window */
    double server_cpu_s;  /* user+sys of the watched servers over the window */
    uint64_t server_rss_kb_max; /* the largest sum of the servers' RSS seen */
    uint64_t server_rss_kb_node_max; /* the largest single server's RSS seen */
    uint64_t server_anon_kb_node_max; /* ... and its private part (RssAnon) */
    uint64_t server_pss_kb_node_max; /* the largest single server's PSS seen */
    unsigned server_procs;
    char leader[256];
};

/* engine.c */
struct client_stats;
int engine_init(void);
void engine_cleanup(void);
/* Write every key once (before warm-up); 0 or -1. */
int engine_preload(const struct bench_config *cfg, char **urls, unsigned n_urls,
                   unsigned concurrency);
/* --fill: n_clients write keys 0 .. cfg->keys-1 exactly once each, in
 * order (each client takes the next key from a shared counter; a failed
 * write is sent again by the same client after the back-off), recording
 * every write's latency in all and calling each_second() once a second
 * with that second's figures (and once at the end for the last, shorter
 * interval). 0 when every key was written, -1 otherwise. */
struct fill_second {
    unsigned second;     /* 1, 2, ...: the interval ending then */
    double seconds;      /* its length (1, the last one less) */
    uint64_t ops;        /* writes acknowledged in it */
    uint64_t cumulative; /* keys written by its end */
    uint64_t errors, timeouts;
    uint64_t p50_ns, p99_ns; /* of its writes (0 if none) */
};
struct fill_result {
    unsigned keys;       /* written */
    double seconds;      /* from the first request to the last answer */
    unsigned n10;        /* the first 10% of the keys ... */
    double first10_s;    /* ... were written in this time */
    unsigned n_last10;   /* the last 10% ... */
    double last10_s;     /* ... in this time */
    uint64_t errors, timeouts;
};
typedef void (*fill_second_fn)(void *arg, const struct fill_second *s);
int engine_fill(const struct bench_config *cfg, char **urls, unsigned n_urls,
                unsigned n_clients, struct samples *all, struct fill_result *res,
                fill_second_fn each_second, void *arg);
/* One run of n_clients over urls: warm-up, then the measured window.
 * Fills stats[n_clients] and samples; calls tick() once a second. */
struct run_progress {
    double elapsed_s;   /* since the start of the warm-up */
    bool warming;
    double ops_per_s;   /* in the last second */
    uint64_t errors, timeouts;
};
typedef void (*tick_fn)(void *arg, const struct run_progress *p);
int engine_run(const struct bench_config *cfg, char **urls, unsigned n_urls,
               unsigned n_clients, struct client_stats *stats,
               struct samples *samples, double *measured_s,
               struct run_extra *extra, tick_fn tick, void *tick_arg);

/* cluster.c */
/* TLS for https:// endpoints (--cacert, --cert, --key; NULL: curl's
 * defaults), for every request raftd-bench sends. */
struct bench_tls {
    const char *cacert, *cert, *key;
};
extern struct bench_tls bench_tls;
void bench_tls_apply(void *curl_easy);
double now_s(void);
uint64_t now_ns(void);
/* Wait until every endpoint answers and they agree on one leader. */
int wait_for_leader(char **endpoints, unsigned n, double timeout_s,
                    struct leader_info *out, bool quiet);
int local_cluster_start(const struct bench_config *cfg, unsigned level,
                        char **endpoints, unsigned *n_endpoints);
void local_cluster_stop(const struct bench_config *cfg);
int run_restart_cmd(const char *cmd, unsigned level_index, unsigned clients);
/* Servers whose /proc/PID/cmdline contains pattern: CPU seconds so far and
 * RSS now (sums), the largest single RSS, how many. */
struct proc_sample {
    double cpu_s;
    uint64_t rss_kb, rss_kb_node_max;
    uint64_t anon_kb_node_max; /* RssAnon: private memory, without the
                                  shared libraries' pages */
    uint64_t pss_kb_node_max;  /* Pss (smaps_rollup): RSS with each shared
                                  page divided among its sharers */
    unsigned n;
};
void procs_sample(const char *pattern, struct proc_sample *out);

/* report.c */
int report_open(const struct bench_config *cfg);
int report_run(const struct bench_config *cfg, const struct run_summary *sum,
               const struct client_stats *stats, struct samples *samples,
               const struct run_extra *extra);
int report_close(const struct bench_config *cfg);
/* --fill: timeline.csv (one row a second), then fill.csv (the summary)
 * and plot.gp drawing the timeline. */
int report_fill_open(const struct bench_config *cfg);
void report_fill_second(const struct fill_second *s);
int report_fill_close(const struct bench_config *cfg, const struct fill_result *res,
                      struct samples *all, unsigned clients, const char *leader);
/* The plot subcommand: a combined figure from result directories. */
int report_plot(const char *out_dir, char **dirs, unsigned n_dirs, bool run_gp);

#endif
