/* report.c - raftd-bench's output files.
 *
 *   runs.csv             one row per run (per load level)
 *   cdf-cNNNN.csv        each run's latency CDF: latency_ms,fraction
 *   clients-cNNNN.csv    each run's per-client counters
 *   plot.gp              gnuplot script drawing the two figures below
 *   latency-throughput.{svg,png}, cdf.{svg,png}, cdf-tail.{svg,png}
 *
 * "raftd-bench plot -o DIR A B ..." draws result directories A, B ... into
 * one figure of each kind (DIR/plot.gp), e.g. raftd next to etcd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MAX_RUNS 256

static FILE *runs_csv;
static unsigned n_runs;
static unsigned run_clients[MAX_RUNS];

static const char runs_header[] =
    "label,op,target,clients,duration_s,ops,throughput_ops_s,"
    "mean_client_means_ms,mean_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,"
    "errors,timeouts,misses,value_size,keys,dist,"
    "bench_cpu_pct,bench_cpu_us_per_op,server_cpu_pct,server_procs,"
    "server_rss_mb_total,server_rss_mb_max_node,server_anon_mb_max_node,"
    "leader,cdf_file,clients_file,server_pss_mb_max_node\n";

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "raftd-bench: cannot write %s: %s\n", path,
                strerror(errno));
    return f;
}

int report_open(const struct bench_config *cfg)
{
    if (mkdir_p(cfg->out_dir) < 0) {
        fprintf(stderr, "raftd-bench: cannot create %s: %s\n", cfg->out_dir,
                strerror(errno));
        return -1;
    }
    runs_csv = open_out(cfg->out_dir, "runs.csv");
    if (!runs_csv)
        return -1;
    fputs(runs_header, runs_csv);
    fflush(runs_csv);
    n_runs = 0;
    return 0;
}

static double ms(double ns)
{
    return ns / 1e6;
}

/* A CSV field: quoted if it holds a comma or a quote. */
static void csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int report_run(const struct bench_config *cfg, const struct run_summary *sum,
               const struct client_stats *stats, struct samples *samples,
               const struct run_extra *extra)
{
    char cdf_name[64], clients_name[64];
    snprintf(cdf_name, sizeof(cdf_name), "cdf-c%04u.csv", sum->clients);
    snprintf(clients_name, sizeof(clients_name), "clients-c%04u.csv",
             sum->clients);
    static const char *const targets[] = {"one", "all", "leader"};
    double w = sum->duration_s > 0 ? sum->duration_s : 1;
    FILE *f = runs_csv;
    csv_str(f, cfg->label);
    fprintf(f, ",%s,%s,%u,%.3f,%llu,%.1f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,"
               "%llu,%llu,%llu,%u,%u,",
            cfg->op_name, targets[cfg->target], sum->clients, sum->duration_s,
            (unsigned long long)sum->ops, sum->throughput,
            ms(sum->mean_client_means), ms(sum->mean), ms((double)sum->p50),
            ms((double)sum->p90), ms((double)sum->p99), ms((double)sum->p999),
            ms((double)sum->max), (unsigned long long)sum->errors,
            (unsigned long long)sum->timeouts, (unsigned long long)sum->misses,
            cfg->value_size, cfg->keys);
    if (cfg->dist == DIST_ZIPF)
        fprintf(f, "zipf:%.2f", cfg->zipf_s);
    else
        fputs("uniform", f);
    fprintf(f, ",%.1f,%.2f,", 100.0 * extra->bench_cpu_s / w,
            sum->ops ? extra->bench_cpu_s * 1e6 / (double)sum->ops : 0);
    if (cfg->watch)
        fprintf(f, "%.1f,%u,%.1f,%.1f,%.1f,", 100.0 * extra->server_cpu_s / w,
                extra->server_procs, extra->server_rss_kb_max / 1024.0,
                extra->server_rss_kb_node_max / 1024.0,
                extra->server_anon_kb_node_max / 1024.0);
    else
        fputs(",,,,,", f);
    csv_str(f, extra->leader);
    fprintf(f, ",%s,%s,", cdf_name, clients_name);
    if (cfg->watch)
        fprintf(f, "%.1f", extra->server_pss_kb_node_max / 1024.0);
    fputc('\n', f);
    fflush(f);

    /* the CDF */
    FILE *c = open_out(cfg->out_dir, cdf_name);
    if (!c)
        return -1;
    fputs("latency_ms,fraction\n", c);
    struct cdf_point *pts = malloc(cfg->cdf_points * sizeof(*pts));
    size_t m = pts ? samples_cdf(samples, pts, cfg->cdf_points) : 0;
    for (size_t i = 0; i < m; i++)
        fprintf(c, "%.6f,%.9f\n", ms((double)pts[i].ns), pts[i].fraction);
    free(pts);
    if (fclose(c) != 0)
        return -1;

    /* the clients */
    c = open_out(cfg->out_dir, clients_name);
    if (!c)
        return -1;
    fputs("client,ops,throughput_ops_s,mean_ms,errors,timeouts,misses\n", c);
    for (unsigned i = 0; i < sum->clients; i++)
        fprintf(c, "%u,%llu,%.2f,%.4f,%llu,%llu,%llu\n", i + 1,
                (unsigned long long)stats[i].ops,
                client_throughput(&stats[i], sum->duration_s),
                ms(client_mean_ns(&stats[i])), (unsigned long long)stats[i].errors,
                (unsigned long long)stats[i].timeouts,
                (unsigned long long)stats[i].misses);
    if (fclose(c) != 0)
        return -1;
    if (n_runs < MAX_RUNS)
        run_clients[n_runs++] = sum->clients;
    return 0;
}

/* ---- gnuplot ---- */

struct series {
    char title[128];
    char dir[PATH_MAX]; /* relative to the script's directory, "" for . */
    unsigned n;
    unsigned clients[MAX_RUNS];
    char cdf[MAX_RUNS][64];
};

static void gp_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

static void gp_path(FILE *f, const struct series *s, const char *file)
{
    char p[PATH_MAX + 64];
    if (s->dir[0])
        snprintf(p, sizeof(p), "%s/%s", s->dir, file);
    else
        snprintf(p, sizeof(p), "%s", file);
    gp_quote(f, p);
}

/* One "plot" clause per run's CDF file, each series in its own colour
 * (runs of one series told apart by dash type). */
static void plot_cdf_lines(FILE *f, const struct series *ser, unsigned n_ser,
                           const char *using)
{
    for (unsigned i = 0; i < n_ser; i++) {
        const struct series *s = &ser[i];
        for (unsigned k = 0; k < s->n; k++) {
            fputs("    ", f);
            gp_path(f, s, s->cdf[k]);
            fprintf(f, " using %s with lines lc %u dt %u lw 2 "
                       "title '%s %u client%s'%s\n",
                    using, n_ser > 1 ? i + 1 : k + 1, n_ser > 1 ? k % 5 + 1 : 1,
                    s->title, s->clients[k], s->clients[k] == 1 ? "" : "s",
                    i + 1 < n_ser || k + 1 < s->n ? ", \\" : "");
        }
    }
}

static void write_gp(FILE *f, const char *title, const struct series *ser,
                     unsigned n_ser)
{
    fputs("# Written by raftd-bench. The data files are next to this script;\n"
          "# restyle it and run \"gnuplot plot.gp\" in this directory to\n"
          "# redraw the SVG and PNG pictures.\n"
          "set datafile separator ','\n"
          "set datafile columnheaders\n"
          "set grid\n"
          "set style data linespoints\n"
          "set pointsize 1.2\n", f);
    fputs("set title ", f);
    gp_quote(f, title);
    fputs(" noenhanced\n", f);
    fputs("do for [fmt in \"svg png\"] {\n"
          "  if (fmt eq \"svg\") {\n"
          "    set terminal svg size 960,640 dynamic font 'sans,12' background rgb 'white'\n"
          "  } else {\n"
          "    set terminal pngcairo size 960,640 font 'sans,11' background rgb 'white'\n"
          "  }\n", f);
    /* latency against throughput */
    fputs("  set output 'latency-throughput.'.fmt\n"
          "  set key top left box opaque noenhanced\n"
          "  set xlabel 'throughput (operations/s)'\n"
          "  set ylabel 'latency (ms)'\n"
          "  unset logscale\n"
          "  set logscale y\n"
          "  set xrange [0:*]\n"
          "  set yrange [*:*]\n"
          "  plot \\\n", f);
    for (unsigned i = 0; i < n_ser; i++) {
        const struct series *s = &ser[i];
        unsigned lc = i + 1;
        fputs("    ", f);
        gp_path(f, s, "runs.csv");
        fprintf(f, " using 'throughput_ops_s':'mean_client_means_ms' lc %u pt 7 lw 2 "
                   "title '%s mean', \\\n    '' using 'throughput_ops_s':'p99_ms' lc %u "
                   "pt 6 dt 2 lw 2 title '%s p99', \\\n    '' using 'throughput_ops_s':"
                   "'p99_ms':(sprintf('%%d', column('clients'))) with labels "
                   "offset 0,0.9 tc lt %u notitle%s\n",
                lc, s->title, lc, s->title, lc, i + 1 < n_ser ? ", \\" : "");
    }
    /* CDFs */
    fputs("  set output 'cdf.'.fmt\n"
          "  set key bottom right box opaque noenhanced\n"
          "  set xlabel 'latency (ms)'\n"
          "  set ylabel 'fraction of requests with latency <= x'\n"
          "  unset logscale\n"
          "  set logscale x\n"
          "  set xrange [*:*]\n"
          "  set yrange [0:1]\n"
          "  plot \\\n", f);
    plot_cdf_lines(f, ser, n_ser, "'latency_ms':'fraction'");
    /* the tail: 1 - F on a log scale shows p99, p99.9 ... */
    fputs("  set output 'cdf-tail.'.fmt\n"
          "  set key top right box opaque noenhanced\n"
          "  set ylabel 'fraction of requests slower than x'\n"
          "  set logscale xy\n"
          "  set yrange [*:1]\n"
          "  set format y '%g'\n"
          "  plot \\\n", f);
    plot_cdf_lines(f, ser, n_ser, "'latency_ms':(1 - column('fraction'))");
    fputs("  set format y\n"
          "  unset output\n"
          "}\n", f);
}

static char *find_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    char *copy = strdup(path), *save = NULL, *res = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/gnuplot", d);
        if (access(p, X_OK) == 0) {
            res = strdup(p);
            break;
        }
    }
    free(copy);
    return res;
}

/* Run gnuplot on dir/plot.gp in dir; 0 ok, 1 no gnuplot, -1 it failed. */
static int run_gnuplot(const char *dir, bool quiet)
{
    char *gp = find_gnuplot();
    if (!gp) {
        fprintf(stderr, "raftd-bench: gnuplot not found (apt-get install "
                        "gnuplot-nox); %s/plot.gp is ready for it\n", dir);
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir) < 0)
            _exit(126);
        execl(gp, "gnuplot", "plot.gp", (char *)NULL);
        _exit(127);
    }
    free(gp);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0) {
        fprintf(stderr, "raftd-bench: gnuplot failed on %s/plot.gp\n", dir);
        return -1;
    }
    if (!quiet)
        fprintf(stderr, "raftd-bench: plots in %s: latency-throughput, cdf, "
                        "cdf-tail (.svg, .png)\n", dir);
    return 0;
}

int report_close(const struct bench_config *cfg)
{
    if (!runs_csv)
        return 0;
    fclose(runs_csv);
    runs_csv = NULL;
    struct series *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    snprintf(s->title, sizeof(s->title), "%s", cfg->label);
    s->n = n_runs;
    for (unsigned i = 0; i < n_runs; i++) {
        s->clients[i] = run_clients[i];
        snprintf(s->cdf[i], sizeof(s->cdf[i]), "cdf-c%04u.csv", run_clients[i]);
    }
    char title[256];
    snprintf(title, sizeof(title), "%s: %s, %u-byte values, %u keys",
             cfg->label, cfg->op_name, cfg->value_size, cfg->keys);
    FILE *f = open_out(cfg->out_dir, "plot.gp");
    int rc = -1;
    if (f) {
        write_gp(f, title, s, 1);
        rc = fclose(f) == 0 ? 0 : -1;
    }
    free(s);
    if (rc == 0 && cfg->plot && n_runs)
        rc = run_gnuplot(cfg->out_dir, cfg->quiet) < 0 ? -1 : 0;
    return rc;
}

/* ---- --fill ---- */

static FILE *timeline_csv;

int report_fill_open(const struct bench_config *cfg)
{
    if (mkdir_p(cfg->out_dir) < 0) {
        fprintf(stderr, "raftd-bench: cannot create %s: %s\n", cfg->out_dir,
                strerror(errno));
        return -1;
    }
    timeline_csv = open_out(cfg->out_dir, "timeline.csv");
    if (!timeline_csv)
        return -1;
    fputs("second,interval_s,ops,ops_per_s,cumulative_keys,errors,timeouts,"
          "p50_ms,p99_ms\n", timeline_csv);
    fflush(timeline_csv);
    return 0;
}

void report_fill_second(const struct fill_second *s)
{
    if (!timeline_csv)
        return;
    fprintf(timeline_csv, "%u,%.3f,%llu,%.1f,%llu,%llu,%llu,%.4f,%.4f\n",
            s->second, s->seconds, (unsigned long long)s->ops,
            s->seconds > 0 ? (double)s->ops / s->seconds : 0,
            (unsigned long long)s->cumulative, (unsigned long long)s->errors,
            (unsigned long long)s->timeouts, ms((double)s->p50_ns),
            ms((double)s->p99_ns));
    fflush(timeline_csv);
}

int report_fill_close(const struct bench_config *cfg, const struct fill_result *res,
                      struct samples *all, unsigned clients, const char *leader)
{
    int rc = 0;
    if (timeline_csv && fclose(timeline_csv) != 0)
        rc = -1;
    timeline_csv = NULL;
    FILE *f = open_out(cfg->out_dir, "fill.csv");
    if (!f)
        return -1;
    double first = res->first10_s > 0 ? res->n10 / res->first10_s : 0;
    double last = res->last10_s > 0 ? res->n_last10 / res->last10_s : 0;
    fputs("label,target,clients,value_size,keys,seconds,throughput_ops_s,"
          "first10_keys,first10_s,first10_ops_s,last10_keys,last10_s,last10_ops_s,"
          "last10_to_first10,p50_ms,p99_ms,p999_ms,max_ms,errors,timeouts,leader\n",
          f);
    static const char *const targets[] = {"one", "all", "leader"};
    csv_str(f, cfg->label);
    fprintf(f, ",%s,%u,%u,%u,%.3f,%.1f,%u,%.3f,%.1f,%u,%.3f,%.1f,%.3f,"
               "%.4f,%.4f,%.4f,%.4f,%llu,%llu,",
            targets[cfg->target], clients, cfg->value_size, res->keys, res->seconds,
            res->seconds > 0 ? res->keys / res->seconds : 0, res->n10,
            res->first10_s, first, res->n_last10, res->last10_s, last,
            first > 0 ? last / first : 0, ms((double)samples_percentile(all, 50)),
            ms((double)samples_percentile(all, 99)),
            ms((double)samples_percentile(all, 99.9)), ms((double)samples_max(all)),
            (unsigned long long)res->errors, (unsigned long long)res->timeouts);
    csv_str(f, leader);
    fputc('\n', f);
    if (fclose(f) != 0)
        rc = -1;

    f = open_out(cfg->out_dir, "plot.gp");
    if (!f)
        return -1;
    fputs("# Written by raftd-bench --fill: the fill's timeline (timeline.csv\n"
          "# next to this script); run \"gnuplot plot.gp\" here to redraw.\n"
          "set datafile separator ','\n"
          "set datafile columnheaders\n"
          "set grid\n", f);
    fprintf(f, "set title '%s: writing %u keys once, %u clients, %u-byte values' "
               "noenhanced\n", cfg->label, res->keys, clients, cfg->value_size);
    fputs("do for [fmt in \"svg png\"] {\n"
          "  if (fmt eq \"svg\") {\n"
          "    set terminal svg size 960,640 dynamic font 'sans,12' background rgb 'white'\n"
          "  } else {\n"
          "    set terminal pngcairo size 960,640 font 'sans,11' background rgb 'white'\n"
          "  }\n"
          "  set output 'timeline.'.fmt\n"
          "  set key top right box opaque\n"
          "  set xlabel 'keys written'\n"
          "  set ylabel 'writes/s'\n"
          "  set y2label 'p99 latency (ms)'\n"
          "  set ytics nomirror\n"
          "  set y2tics\n"
          "  set xrange [0:*]\n"
          "  set yrange [0:*]\n"
          "  set y2range [0:*]\n"
          "  plot 'timeline.csv' using 'cumulative_keys':'ops_per_s' with lines lw 2 "
          "title 'writes/s', \\\n"
          "       '' using 'cumulative_keys':'p99_ms' axes x1y2 with lines dt 2 "
          "title 'p99 ms (of that second)'\n"
          "}\n", f);
    if (fclose(f) != 0)
        return -1;
    if (rc == 0 && cfg->plot && res->keys)
        rc = run_gnuplot(cfg->out_dir, cfg->quiet) < 0 ? -1 : 0;
    return rc;
}

/* ---- plot: several result directories in one figure ---- */

/* Split one CSV line in place (no quoted commas expected except label). */
static unsigned csv_split(char *line, char **fields, unsigned max)
{
    unsigned n = 0;
    char *p = line;
    while (n < max) {
        if (*p == '"') {
            char *o = ++p;
            fields[n++] = o;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"')
                    p++;
                *o++ = *p++;
            }
            if (*p == '"')
                p++;
            char *end = p;
            *o = 0;
            if (*end != ',')
                break;
            p = end + 1;
            continue;
        }
        fields[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    if (n)
        fields[n - 1][strcspn(fields[n - 1], "\r\n")] = 0;
    return n;
}

static int load_series(const char *out_dir, const char *dir, struct series *s)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/runs.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "raftd-bench: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[4096], *fields[64];
    int col_label = -1, col_clients = -1, col_cdf = -1, col_op = -1;
    if (fgets(line, sizeof(line), f)) {
        unsigned n = csv_split(line, fields, 64);
        for (unsigned i = 0; i < n; i++) {
            if (!strcmp(fields[i], "label"))
                col_label = (int)i;
            else if (!strcmp(fields[i], "clients"))
                col_clients = (int)i;
            else if (!strcmp(fields[i], "cdf_file"))
                col_cdf = (int)i;
            else if (!strcmp(fields[i], "op"))
                col_op = (int)i;
        }
    }
    if (col_label < 0 || col_clients < 0 || col_cdf < 0) {
        fprintf(stderr, "raftd-bench: %s is not a raftd-bench runs.csv\n", path);
        fclose(f);
        return -1;
    }
    s->n = 0;
    while (fgets(line, sizeof(line), f) && s->n < MAX_RUNS) {
        unsigned n = csv_split(line, fields, 64);
        if ((int)n <= col_cdf || (int)n <= col_label)
            continue;
        if (!s->title[0]) {
            if (col_op >= 0 && (int)n > col_op)
                snprintf(s->title, sizeof(s->title), "%s %s", fields[col_label],
                         fields[col_op]);
            else
                snprintf(s->title, sizeof(s->title), "%s", fields[col_label]);
        }
        s->clients[s->n] = (unsigned)atoi(fields[col_clients]);
        snprintf(s->cdf[s->n], sizeof(s->cdf[0]), "%s", fields[col_cdf]);
        s->n++;
    }
    fclose(f);
    /* the directory as seen from out_dir */
    char ro[PATH_MAX], rd[PATH_MAX];
    if (!realpath(out_dir, ro) || !realpath(dir, rd)) {
        snprintf(s->dir, sizeof(s->dir), "%s", dir);
        return 0;
    }
    size_t lo = strlen(ro);
    if (strcmp(ro, rd) == 0)
        s->dir[0] = 0;
    else if (strncmp(ro, rd, lo) == 0 && rd[lo] == '/')
        snprintf(s->dir, sizeof(s->dir), "%s", rd + lo + 1);
    else
        snprintf(s->dir, sizeof(s->dir), "%s", rd);
    return 0;
}

int report_plot(const char *out_dir, char **dirs, unsigned n_dirs, bool run_gp)
{
    if (mkdir_p(out_dir) < 0) {
        fprintf(stderr, "raftd-bench: cannot create %s: %s\n", out_dir,
                strerror(errno));
        return -1;
    }
    struct series *ser = calloc(n_dirs, sizeof(*ser));
    if (!ser)
        return -1;
    int rc = 0;
    char title[512] = "";
    for (unsigned i = 0; i < n_dirs && rc == 0; i++) {
        rc = load_series(out_dir, dirs[i], &ser[i]);
        if (rc == 0) {
            size_t l = strlen(title);
            snprintf(title + l, sizeof(title) - l, "%s%s", i ? " vs " : "",
                     ser[i].title);
        }
    }
    if (rc == 0) {
        FILE *f = open_out(out_dir, "plot.gp");
        if (!f) {
            rc = -1;
        } else {
            write_gp(f, title, ser, n_dirs);
            rc = fclose(f) == 0 ? 0 : -1;
        }
    }
    free(ser);
    if (rc == 0 && run_gp)
        rc = run_gnuplot(out_dir, false) < 0 ? -1 : 0;
    return rc;
}
