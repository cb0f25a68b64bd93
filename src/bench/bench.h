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
    unsigned n;
};
void procs_sample(const char *pattern, struct proc_sample *out);

/* report.c */
int report_open(const struct bench_config *cfg);
int report_run(const struct bench_config *cfg, const struct run_summary *sum,
               const struct client_stats *stats, struct samples *samples,
               const struct run_extra *extra);
int report_close(const struct bench_config *cfg);
/* The plot subcommand: a combined figure from result directories. */
int report_plot(const char *out_dir, char **dirs, unsigned n_dirs, bool run_gp);

#endif
