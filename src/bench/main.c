/* main.c - raftd-bench: closed-loop load against an etcd v2 keys API
 * (raftd or etcd), a sweep over client counts, CSV files and plots.
 * See "raftd-bench --help" and doc/bench.md.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

volatile sig_atomic_t bench_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    bench_interrupted = 1;
}

static void usage(FILE *f)
{
    fputs(
"Usage: raftd-bench [OPTIONS]\n"
"       raftd-bench plot [--no-run] -o DIR RESULT_DIR...\n"
"\n"
"Closed-loop load against the etcd v2 keys API of raftd (or etcd): for each\n"
"load level (a number of clients) optionally restart the cluster, wait for a\n"
"leader, preload the keys, warm up, then measure for a fixed time. Each\n"
"client sends one request, waits for the answer, records the latency and\n"
"sends the next. Writes runs.csv (one row per level), cdf-cNNNN.csv and\n"
"clients-cNNNN.csv per level, plot.gp and its SVG/PNG plots into --out.\n"
"\n"
"Load:\n"
"  -e, --endpoints URL,...   the cluster's client URLs\n"
"                            (default http://127.0.0.1:7001,...:7002,...:7003)\n"
"  -t, --target MODE         one: every client uses the first endpoint;\n"
"                            all: client i uses endpoint i mod N (default);\n"
"                            leader: every client uses the current leader\n"
"  -O, --op OP               put, get, qget (quorum get), cas, mix (default put)\n"
"      --mix put=W,get=W,qget=W,cas=W\n"
"                            weights of the mix (implies --op mix;\n"
"                            default put=50,get=50)\n"
"  -s, --value-size BYTES    value size (default 64)\n"
"  -k, --keys N              number of distinct keys (default 1000)\n"
"      --dist uniform|zipf[:S]  key distribution (default uniform; zipf S 0.99)\n"
"      --key-prefix P        keys are /v2/keys/P/kNNNNNNN (default bench)\n"
"      --no-preload          do not write every key before get/qget/cas runs\n"
"      --timeout MS          a request not answered in MS counts as a timeout\n"
"                            (default 5000)\n"
"      --error-backoff MS    a client pauses MS after a failure (default 10)\n"
"      --seed N              seed of the key and operation choices\n"
"      --cacert FILE         https:// endpoints: the CA that signed the\n"
"                            servers' certificates (default: the system's)\n"
"      --cert FILE, --key FILE  a client certificate and its key\n"
"                            (raftd's client_cert_auth)\n"
"\n"
"Sweep:\n"
"  -c, --clients LIST        load levels, e.g. 1,2,4,8,16,32,64 (default)\n"
"  -d, --duration SEC        measured time per level (default 30)\n"
"  -w, --warmup SEC          not-measured warm-up per level (default 5)\n"
"      --restart-cmd CMD     run CMD with /bin/sh before each level (with\n"
"                            BENCH_LEVEL and BENCH_CLIENTS in its environment),\n"
"                            e.g. 'for h in lab1 lab2 lab3; do ssh $h sudo\n"
"                            systemctl restart raftd; done'\n"
"      --leader-timeout SEC  wait this long for a leader (default 30)\n"
"      --settle SEC          pause after the leader is found (default 1)\n"
"\n"
"Filling a store (instead of the sweep):\n"
"      --fill N              N clients (the first -c level; default 64) write\n"
"                            keys k0000000 .. N-1 exactly once each, in order\n"
"                            (each client takes the next key from a shared\n"
"                            counter; a failed write is retried), then stop.\n"
"                            No restart, warm-up or preload; -d/-w are not\n"
"                            used. Writes timeline.csv (one row a second:\n"
"                            second,interval_s,ops,ops_per_s,cumulative_keys,\n"
"                            errors,timeouts,p50_ms,p99_ms), fill.csv (totals,\n"
"                            and the throughput of the first and the last 10%\n"
"                            of the keys and their ratio) and plot.gp\n"
"                            (timeline.svg/png). The values are 00000000xxx...\n"
"\n"
"Built-in local cluster (restarted with fresh data before each level):\n"
"      --local N             run N raftd nodes on 127.0.0.1 with raftd-cluster\n"
"      --raftd PATH          the raftd binary for --local\n"
"      --launcher PATH       raftd-cluster (default: next to raftd-bench, then\n"
"                            ../scripts/, the source tree, then PATH)\n"
"      --local-port PORT     port of node 1 (default 17001)\n"
"      --local-dir DIR       configs, data, logs (default OUT/cluster)\n"
"      --local-fast          50 ms heartbeats, 300-600 ms elections\n"
"      --keep-data           keep each level's data directory\n"
"\n"
"Measurement and output:\n"
"      --watch PATTERN       servers to watch: processes whose command line\n"
"                            contains PATTERN; their CPU, RSS, RssAnon and PSS\n"
"                            (smaps_rollup) go to runs.csv\n"
"                            (automatic with --local)\n"
"  -o, --out DIR             output directory (default bench-results)\n"
"  -l, --label NAME          name of the system in CSVs and plots (default\n"
"                            raftd)\n"
"      --no-plot             write plot.gp but do not run gnuplot\n"
"      --cdf-points N        points per CDF file (default 2000)\n"
"  -q, --quiet               no progress lines\n"
"  -h, --help, -V, --version\n"
"\n"
"Progress: one line a second on standard error (level, elapsed, ops/s).\n"
"Exit status: 0 done, 1 a level failed (no leader, restart failed, no\n"
"request succeeded, output not written), 64 bad usage.\n", f);
}

static int parse_uint(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > UINT_MAX || s[0] == '-')
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int parse_levels(const char *s, struct bench_config *cfg)
{
    char *copy = strdup(s), *save = NULL;
    unsigned n = 0, *lv = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned v;
        if (parse_uint(t, &v) < 0 || v == 0 || v > 100000) {
            free(copy);
            free(lv);
            return -1;
        }
        unsigned *nl = realloc(lv, (n + 1) * sizeof(*lv));
        if (!nl)
            break;
        lv = nl;
        lv[n++] = v;
    }
    free(copy);
    if (!n)
        return -1;
    free(cfg->levels);
    cfg->levels = lv;
    cfg->n_levels = n;
    return 0;
}

static int parse_endpoints(const char *s, struct bench_config *cfg)
{
    char *copy = strdup(s), *save = NULL;
    for (unsigned i = 0; i < cfg->n_endpoints; i++)
        free(cfg->endpoints[i]);
    cfg->n_endpoints = 0;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (cfg->n_endpoints == MAX_ENDPOINTS) {
            free(copy);
            return -1;
        }
        size_t l = strlen(t);
        while (l && t[l - 1] == '/')
            t[--l] = 0;
        if (strncmp(t, "http://", 7) != 0 && strncmp(t, "https://", 8) != 0) {
            /* host:port is accepted as http://host:port */
            char *u = malloc(l + 8);
            sprintf(u, "http://%s", t);
            cfg->endpoints[cfg->n_endpoints++] = u;
        } else {
            cfg->endpoints[cfg->n_endpoints++] = strdup(t);
        }
    }
    free(copy);
    return cfg->n_endpoints ? 0 : -1;
}

static int parse_mix(const char *s, struct bench_config *cfg)
{
    char *copy = strdup(s), *save = NULL;
    memset(cfg->weights, 0, sizeof(cfg->weights));
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t && !rc;
         t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        unsigned w;
        if (!eq || parse_uint(eq + 1, &w) < 0 || w > 1000000) {
            rc = -1;
            break;
        }
        *eq = 0;
        int found = 0;
        for (int i = 0; i < OP_COUNT; i++)
            if (!strcmp(t, op_names[i])) {
                cfg->weights[i] = w;
                found = 1;
            }
        if (!found)
            rc = -1;
    }
    free(copy);
    unsigned sum = 0;
    for (int i = 0; i < OP_COUNT; i++)
        sum += cfg->weights[i];
    return rc == 0 && sum ? 0 : -1;
}

/* raftd-cluster: next to this program (installed), ../scripts (build
 * tree), the source tree it was built from, then PATH. */
static char *find_launcher(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            const char *rel[] = {"raftd-cluster", "../scripts/raftd-cluster",
                                 "../../scripts/raftd-cluster"};
            for (unsigned i = 0; i < 3; i++) {
                char p[PATH_MAX + 64];
                snprintf(p, sizeof(p), "%s/%s", self, rel[i]);
                if (access(p, X_OK) == 0)
                    return strdup(p);
            }
        }
    }
#ifdef RAFTD_SRCDIR
    /* a build directory outside the source tree */
    if (access(RAFTD_SRCDIR "/scripts/raftd-cluster", X_OK) == 0)
        return strdup(RAFTD_SRCDIR "/scripts/raftd-cluster");
#endif
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/bin:/bin"), *save = NULL, *res = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/raftd-cluster", d);
        if (access(p, X_OK) == 0) {
            res = strdup(p);
            break;
        }
    }
    free(copy);
    return res;
}

struct tick_ctx {
    unsigned level, n_levels, clients;
    double total_s;
};

static void on_tick(void *arg, const struct run_progress *p)
{
    struct tick_ctx *t = arg;
    fprintf(stderr, "[level %u/%u] %4u clients %6.1f/%.0f s %-8s %9.0f ops/s  "
                    "errors %llu  timeouts %llu\n",
            t->level, t->n_levels, t->clients, p->elapsed_s, t->total_s,
            p->warming ? "warm-up" : "measured", p->ops_per_s,
            (unsigned long long)p->errors, (unsigned long long)p->timeouts);
}

static bool needs_keys(const struct bench_config *cfg)
{
    return cfg->weights[OP_GET] || cfg->weights[OP_QGET] || cfg->weights[OP_CAS];
}

static int plot_main(int argc, char **argv)
{
    const char *out = NULL;
    bool run = true;
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"no-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'n': run = false; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 64;
        }
    }
    if (!out || optind >= argc) {
        fprintf(stderr, "raftd-bench plot: need -o DIR and result directories\n");
        return 64;
    }
    return report_plot(out, argv + optind, (unsigned)(argc - optind), run) == 0 ? 0 : 1;
}

enum {
    O_MIX = 256, O_DIST, O_KEY_PREFIX, O_NO_PRELOAD, O_TIMEOUT, O_BACKOFF,
    O_SEED, O_RESTART, O_LEADER_TIMEOUT, O_SETTLE, O_LOCAL, O_RAFTD,
    O_LAUNCHER, O_LOCAL_PORT, O_LOCAL_DIR, O_LOCAL_FAST, O_KEEP_DATA,
    O_WATCH, O_NO_PLOT, O_CDF_POINTS, O_CACERT, O_CERT, O_KEY, O_FILL,
};

static void on_fill_second(void *arg, const struct fill_second *s)
{
    const struct bench_config *cfg = arg;
    report_fill_second(s);
    if (!cfg->quiet)
        fprintf(stderr, "[fill] %5u s %9.0f writes/s  %10llu/%u keys  p99 %.2f ms  "
                        "errors %llu  timeouts %llu\n",
                s->second, s->seconds > 0 ? (double)s->ops / s->seconds : 0,
                (unsigned long long)s->cumulative, cfg->fill, s->p99_ns / 1e6,
                (unsigned long long)s->errors, (unsigned long long)s->timeouts);
}

/* --fill: one fill instead of the sweep; 0 or 1. */
static int fill_main(struct bench_config *cfg, unsigned clients)
{
    int status = 1;
    if (cfg->local_nodes) {
        if (local_cluster_start(cfg, 0, cfg->endpoints, &cfg->n_endpoints) < 0)
            return 1;
    } else if (cfg->restart_cmd && run_restart_cmd(cfg->restart_cmd, 0, clients) < 0) {
        return 1;
    }
    struct leader_info leader;
    if (wait_for_leader(cfg->endpoints, cfg->n_endpoints, cfg->leader_timeout_s,
                        &leader, cfg->quiet) < 0)
        goto out;
    char *leader_url[1] = {leader.url};
    char **urls = cfg->endpoints;
    unsigned n_urls = cfg->n_endpoints;
    if (cfg->target == TARGET_ONE)
        n_urls = 1;
    else if (cfg->target == TARGET_LEADER) {
        urls = leader_url;
        n_urls = 1;
    }
    if (report_fill_open(cfg) < 0)
        goto out;
    if (!cfg->quiet)
        fprintf(stderr, "raftd-bench: filling %u keys with %u clients, %u-byte "
                        "values, results in %s\n", cfg->fill, clients,
                cfg->value_size, cfg->out_dir);
    struct samples all;
    struct fill_result res;
    samples_init(&all);
    int rc = engine_fill(cfg, urls, n_urls, clients, &all, &res,
                         on_fill_second, cfg);
    if (report_fill_close(cfg, &res, &all, clients, leader.url) == 0 && rc == 0)
        status = 0;
    double first = res.first10_s > 0 ? res.n10 / res.first10_s : 0;
    double last = res.last10_s > 0 ? res.n_last10 / res.last10_s : 0;
    fprintf(stderr, "raftd-bench: filled %u/%u keys in %.1f s (%.0f writes/s); "
                    "first 10%%: %.0f writes/s, last 10%%: %.0f writes/s (ratio "
                    "%.3f); p50 %.3f p99 %.3f ms; %llu errors, %llu timeouts\n",
            res.keys, cfg->fill, res.seconds,
            res.seconds > 0 ? res.keys / res.seconds : 0, first, last,
            first > 0 ? last / first : 0, samples_percentile(&all, 50) / 1e6,
            samples_percentile(&all, 99) / 1e6, (unsigned long long)res.errors,
            (unsigned long long)res.timeouts);
    samples_free(&all);
out:
    if (cfg->local_nodes)
        local_cluster_stop(cfg);
    return status;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "plot"))
        return plot_main(argc - 1, argv + 1);

    struct bench_config cfg = {
        .target = TARGET_ALL,
        .op_name = "put",
        .value_size = 64,
        .keys = 1000,
        .dist = DIST_UNIFORM,
        .zipf_s = 0.99,
        .key_prefix = "bench",
        .preload = true,
        .timeout_ms = 5000,
        .error_backoff_ms = 10,
        .seed = 42,
        .duration_s = 30,
        .warmup_s = 5,
        .leader_timeout_s = 30,
        .settle_s = 1,
        .local_port = 17001,
        .out_dir = "bench-results",
        .label = "raftd",
        .plot = true,
        .cdf_points = 2000,
    };
    cfg.weights[OP_PUT] = 1;
    int status = 0;
    struct samples samples;
    bool mix_given = false, levels_given = false;
    char *launcher = NULL, *local_dir = NULL, *watch = NULL;
    parse_levels("1,2,4,8,16,32,64", &cfg);
    parse_endpoints("http://127.0.0.1:7001,http://127.0.0.1:7002,"
                    "http://127.0.0.1:7003", &cfg);

    static const struct option opts[] = {
        {"endpoints", required_argument, NULL, 'e'},
        {"target", required_argument, NULL, 't'},
        {"op", required_argument, NULL, 'O'},
        {"mix", required_argument, NULL, O_MIX},
        {"value-size", required_argument, NULL, 's'},
        {"keys", required_argument, NULL, 'k'},
        {"dist", required_argument, NULL, O_DIST},
        {"key-prefix", required_argument, NULL, O_KEY_PREFIX},
        {"no-preload", no_argument, NULL, O_NO_PRELOAD},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"cacert", required_argument, NULL, O_CACERT},
        {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY},
        {"error-backoff", required_argument, NULL, O_BACKOFF},
        {"seed", required_argument, NULL, O_SEED},
        {"clients", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},
        {"restart-cmd", required_argument, NULL, O_RESTART},
        {"leader-timeout", required_argument, NULL, O_LEADER_TIMEOUT},
        {"settle", required_argument, NULL, O_SETTLE},
        {"local", required_argument, NULL, O_LOCAL},
        {"raftd", required_argument, NULL, O_RAFTD},
        {"launcher", required_argument, NULL, O_LAUNCHER},
        {"local-port", required_argument, NULL, O_LOCAL_PORT},
        {"local-dir", required_argument, NULL, O_LOCAL_DIR},
        {"local-fast", no_argument, NULL, O_LOCAL_FAST},
        {"keep-data", no_argument, NULL, O_KEEP_DATA},
        {"watch", required_argument, NULL, O_WATCH},
        {"fill", required_argument, NULL, O_FILL},
        {"out", required_argument, NULL, 'o'},
        {"label", required_argument, NULL, 'l'},
        {"no-plot", no_argument, NULL, O_NO_PLOT},
        {"cdf-points", required_argument, NULL, O_CDF_POINTS},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {0, 0, 0, 0},
    };
    int c;
    const char *bad = NULL;
    while (!bad && (c = getopt_long(argc, argv, "e:t:O:s:k:c:d:w:o:l:qhV", opts,
                                    NULL)) != -1) {
        switch (c) {
        case 'e':
            if (parse_endpoints(optarg, &cfg) < 0)
                bad = "--endpoints: up to 16 URLs, comma-separated";
            break;
        case 't':
            if (!strcmp(optarg, "one"))
                cfg.target = TARGET_ONE;
            else if (!strcmp(optarg, "all"))
                cfg.target = TARGET_ALL;
            else if (!strcmp(optarg, "leader"))
                cfg.target = TARGET_LEADER;
            else
                bad = "--target: one, all or leader";
            break;
        case 'O': {
            int found = -1;
            for (int i = 0; i < OP_COUNT; i++)
                if (!strcmp(optarg, op_names[i]))
                    found = i;
            if (found >= 0) {
                memset(cfg.weights, 0, sizeof(cfg.weights));
                cfg.weights[found] = 1;
                cfg.op_name = op_names[found];
            } else if (!strcmp(optarg, "mix")) {
                cfg.op_name = "mix";
            } else {
                bad = "--op: put, get, qget, cas or mix";
            }
            break;
        }
        case O_MIX:
            if (parse_mix(optarg, &cfg) < 0)
                bad = "--mix: e.g. put=50,get=30,qget=10,cas=10";
            cfg.op_name = "mix";
            mix_given = true;
            break;
        case 's':
            if (parse_uint(optarg, &cfg.value_size) < 0 || cfg.value_size > (1u << 24))
                bad = "--value-size: bytes, up to 16 MiB";
            break;
        case 'k':
            if (parse_uint(optarg, &cfg.keys) < 0 || !cfg.keys || cfg.keys > 10000000)
                bad = "--keys: 1 to 10000000";
            break;
        case O_DIST:
            if (!strcmp(optarg, "uniform")) {
                cfg.dist = DIST_UNIFORM;
            } else if (!strncmp(optarg, "zipf", 4)) {
                cfg.dist = DIST_ZIPF;
                if (optarg[4] == ':' && parse_double(optarg + 5, &cfg.zipf_s) < 0)
                    bad = "--dist zipf:S with S >= 0";
                else if (optarg[4] && optarg[4] != ':')
                    bad = "--dist: uniform or zipf[:S]";
            } else {
                bad = "--dist: uniform or zipf[:S]";
            }
            break;
        case O_KEY_PREFIX: cfg.key_prefix = optarg; break;
        case O_NO_PRELOAD: cfg.preload = false; break;
        case O_TIMEOUT:
            if (parse_uint(optarg, &cfg.timeout_ms) < 0 || !cfg.timeout_ms)
                bad = "--timeout: milliseconds";
            break;
        case O_CACERT: bench_tls.cacert = optarg; break;
        case O_CERT: bench_tls.cert = optarg; break;
        case O_KEY: bench_tls.key = optarg; break;
        case O_BACKOFF:
            if (parse_uint(optarg, &cfg.error_backoff_ms) < 0)
                bad = "--error-backoff: milliseconds";
            break;
        case O_SEED:
            cfg.seed = strtoull(optarg, NULL, 0);
            break;
        case 'c':
            if (parse_levels(optarg, &cfg) < 0)
                bad = "--clients: a comma-separated list of client counts";
            levels_given = true;
            break;
        case 'd':
            if (parse_double(optarg, &cfg.duration_s) < 0 || cfg.duration_s <= 0)
                bad = "--duration: seconds";
            break;
        case 'w':
            if (parse_double(optarg, &cfg.warmup_s) < 0)
                bad = "--warmup: seconds";
            break;
        case O_RESTART: cfg.restart_cmd = optarg; break;
        case O_LEADER_TIMEOUT:
            if (parse_double(optarg, &cfg.leader_timeout_s) < 0)
                bad = "--leader-timeout: seconds";
            break;
        case O_SETTLE:
            if (parse_double(optarg, &cfg.settle_s) < 0)
                bad = "--settle: seconds";
            break;
        case O_LOCAL:
            if (parse_uint(optarg, &cfg.local_nodes) < 0 || !cfg.local_nodes ||
                cfg.local_nodes > 16)
                bad = "--local: 1 to 16 nodes";
            break;
        case O_RAFTD: cfg.raftd = optarg; break;
        case O_LAUNCHER: cfg.launcher = optarg; break;
        case O_LOCAL_PORT:
            if (parse_uint(optarg, &cfg.local_port) < 0 || !cfg.local_port ||
                cfg.local_port > 65000)
                bad = "--local-port: a port";
            break;
        case O_LOCAL_DIR: cfg.local_dir = optarg; break;
        case O_LOCAL_FAST: cfg.local_fast = true; break;
        case O_KEEP_DATA: cfg.keep_data = true; break;
        case O_WATCH: cfg.watch = optarg; break;
        case O_FILL:
            if (parse_uint(optarg, &cfg.fill) < 0 || cfg.fill < 10 || cfg.fill > 10000000)
                bad = "--fill: 10 to 10000000 keys";
            break;
        case 'o': cfg.out_dir = optarg; break;
        case 'l': cfg.label = optarg; break;
        case O_NO_PLOT: cfg.plot = false; break;
        case O_CDF_POINTS:
            if (parse_uint(optarg, &cfg.cdf_points) < 0 || cfg.cdf_points < 16)
                bad = "--cdf-points: at least 16";
            break;
        case 'q': cfg.quiet = true; break;
        case 'h': usage(stdout); status = 0; goto done;
        case 'V': printf("raftd-bench %s\n", PACKAGE_VERSION); status = 0; goto done;
        default: usage(stderr); status = 64; goto done;
        }
    }
    if (!bad && optind < argc)
        bad = "unexpected argument (see --help)";
    if (!bad && !strcmp(cfg.op_name, "mix") && !mix_given) {
        memset(cfg.weights, 0, sizeof(cfg.weights));
        cfg.weights[OP_PUT] = 50;
        cfg.weights[OP_GET] = 50;
    }
    if (!bad && cfg.local_nodes && cfg.restart_cmd)
        bad = "--local and --restart-cmd exclude each other";
    if (bad) {
        fprintf(stderr, "raftd-bench: %s\n", bad);
        status = 64;
        goto done;
    }
    if (cfg.local_nodes) {
        if (!cfg.launcher) {
            launcher = find_launcher();
            if (!launcher) {
                fprintf(stderr, "raftd-bench: raftd-cluster not found: pass "
                                "--launcher PATH\n");
                status = 64;
                goto done;
            }
            cfg.launcher = launcher;
        }
        if (access(cfg.launcher, X_OK) < 0) {
            fprintf(stderr, "raftd-bench: %s: %s\n", cfg.launcher, strerror(errno));
            status = 64;
            goto done;
        }
        if (!cfg.local_dir) {
            local_dir = malloc(strlen(cfg.out_dir) + 16);
            sprintf(local_dir, "%s/cluster", cfg.out_dir);
            cfg.local_dir = local_dir;
        }
        if (!cfg.watch) {
            /* the nodes' command lines: raftd --config DIR/level-N/nodeI.conf */
            char dir[PATH_MAX];
            mkdir(cfg.out_dir, 0755);
            mkdir(cfg.local_dir, 0755);
            if (!realpath(cfg.local_dir, dir))
                snprintf(dir, sizeof(dir), "%s", cfg.local_dir);
            watch = malloc(strlen(dir) + 32);
            sprintf(watch, "--config %s/level-", dir);
            cfg.watch = watch;
            free(local_dir);
            local_dir = strdup(dir);
            cfg.local_dir = local_dir;
        }
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (engine_init() < 0) {
        status = 1;
        goto done;
    }
    if (cfg.fill) {
        cfg.keys = cfg.fill;
        cfg.op_name = "fill";
        status = fill_main(&cfg, levels_given ? cfg.levels[0] : 64);
        goto cleanup;
    }
    if (report_open(&cfg) < 0) {
        status = 1;
        goto cleanup;
    }

    if (!cfg.quiet) {
        fprintf(stderr, "raftd-bench: %s, %u-byte values, %u keys (%s), target %s, "
                        "%u level(s), %g s warm-up + %g s each, results in %s\n",
                cfg.op_name, cfg.value_size, cfg.keys,
                cfg.dist == DIST_ZIPF ? "zipf" : "uniform",
                cfg.target == TARGET_ONE ? "one" :
                cfg.target == TARGET_ALL ? "all" : "leader",
                cfg.n_levels, cfg.warmup_s, cfg.duration_s, cfg.out_dir);
    }
    samples_init(&samples);
    for (unsigned li = 0; li < cfg.n_levels && !bench_interrupted; li++) {
        unsigned nc = cfg.levels[li];
        if (cfg.local_nodes) {
            local_cluster_stop(&cfg);
            if (local_cluster_start(&cfg, li, cfg.endpoints, &cfg.n_endpoints) < 0) {
                status = 1;
                break;
            }
        } else if (cfg.restart_cmd) {
            if (!cfg.quiet)
                fprintf(stderr, "raftd-bench: level %u: restarting: %s\n", li + 1,
                        cfg.restart_cmd);
            if (run_restart_cmd(cfg.restart_cmd, li, nc) < 0) {
                status = 1;
                break;
            }
        }
        struct leader_info leader;
        if (wait_for_leader(cfg.endpoints, cfg.n_endpoints, cfg.leader_timeout_s,
                            &leader, cfg.quiet) < 0) {
            if (cfg.local_nodes)
                fprintf(stderr, "raftd-bench: the nodes' log: "
                                "%s/cluster-level-%u.log\n", cfg.local_dir, li + 1);
            status = 1;
            break;
        }
        if (cfg.settle_s > 0) {
            struct timespec ts = {(time_t)cfg.settle_s,
                                  (long)((cfg.settle_s - (time_t)cfg.settle_s) * 1e9)};
            nanosleep(&ts, NULL);
        }
        char *leader_url[1] = {leader.url};
        char **urls = cfg.endpoints;
        unsigned n_urls = cfg.n_endpoints;
        if (cfg.target == TARGET_ONE)
            n_urls = 1;
        else if (cfg.target == TARGET_LEADER) {
            urls = leader_url;
            n_urls = 1;
        }
        if (cfg.preload && needs_keys(&cfg)) {
            double t = now_s();
            if (engine_preload(&cfg, urls, n_urls, 32) < 0) {
                status = 1;
                break;
            }
            if (!cfg.quiet)
                fprintf(stderr, "raftd-bench: preloaded %u keys in %.1f s\n",
                        cfg.keys, now_s() - t);
        }
        struct client_stats *stats = calloc(nc, sizeof(*stats));
        struct run_extra extra = {0};
        snprintf(extra.leader, sizeof(extra.leader), "%s", leader.url);
        double measured = 0;
        samples_clear(&samples);
        struct tick_ctx tc = {li + 1, cfg.n_levels, nc, cfg.warmup_s + cfg.duration_s};
        if (!stats || engine_run(&cfg, urls, n_urls, nc, stats, &samples, &measured,
                                 &extra, cfg.quiet ? NULL : on_tick, &tc) < 0) {
            fprintf(stderr, "raftd-bench: level %u: the run failed\n", li + 1);
            free(stats);
            status = 1;
            break;
        }
        if (bench_interrupted) {
            free(stats);
            break;
        }
        struct run_summary sum;
        run_summarize(stats, nc, &samples, measured, &sum);
        fprintf(stderr, "raftd-bench: %u clients: %.0f ops/s, mean %.3f ms, p50 %.3f, "
                        "p99 %.3f, p99.9 %.3f, max %.3f ms, %llu errors, %llu timeouts; "
                        "bench CPU %.0f%%",
                nc, sum.throughput, sum.mean_client_means / 1e6, sum.p50 / 1e6,
                sum.p99 / 1e6, sum.p999 / 1e6, sum.max / 1e6,
                (unsigned long long)sum.errors, (unsigned long long)sum.timeouts,
                100 * extra.bench_cpu_s / measured);
        if (cfg.watch)
            fprintf(stderr, ", servers CPU %.0f%% RSS %.1f MB (%u procs)",
                    100 * extra.server_cpu_s / measured,
                    extra.server_rss_kb_max / 1024.0, extra.server_procs);
        fputc('\n', stderr);
        if (report_run(&cfg, &sum, stats, &samples, &extra) < 0)
            status = 1;
        if (sum.ops == 0) {
            fprintf(stderr, "raftd-bench: level %u: no request succeeded\n", li + 1);
            status = 1;
        }
        free(stats);
    }
    if (cfg.local_nodes)
        local_cluster_stop(&cfg);
    if (report_close(&cfg) < 0)
        status = 1;
    if (bench_interrupted) {
        fprintf(stderr, "raftd-bench: interrupted\n");
        status = 1;
    }
    samples_free(&samples);
cleanup:
    engine_cleanup();
done:
    for (unsigned i = 0; i < cfg.n_endpoints; i++)
        free(cfg.endpoints[i]);
    free(cfg.levels);
    free(launcher);
    free(local_dir);
    free(watch);
    return status;
}
