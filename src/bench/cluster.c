/* cluster.c - what raftd-bench knows about the system under test: who
 * leads, the built-in local cluster, restart commands, and the servers'
 * memory and CPU read from /proc.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s,
                          .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- a blocking GET for the control plane ---- */

struct buf {
    char *p;
    size_t len;
};

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t len = size * nmemb;
    if (b->len + len > 1 << 20)
        return 0;
    char *p = realloc(b->p, b->len + len + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, ptr, len);
    b->p = p;
    b->len += len;
    b->p[b->len] = 0;
    return len;
}

struct bench_tls bench_tls;

void bench_tls_apply(void *curl_easy)
{
    CURL *e = curl_easy;
    if (bench_tls.cacert)
        curl_easy_setopt(e, CURLOPT_CAINFO, bench_tls.cacert);
    if (bench_tls.cert)
        curl_easy_setopt(e, CURLOPT_SSLCERT, bench_tls.cert);
    if (bench_tls.key)
        curl_easy_setopt(e, CURLOPT_SSLKEY, bench_tls.key);
}

/* GET url; the HTTP status (0 on a transport error) and the body. */
static long http_get(const char *url, long timeout_ms, char **body)
{
    struct buf b = {0};
    long status = 0;
    *body = NULL;
    CURL *e = curl_easy_init();
    if (!e)
        return 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    bench_tls_apply(e);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    if (status)
        *body = b.p;
    else
        free(b.p);
    return status;
}

/* The leader's URL as this endpoint sees it ("" if none or no answer).
 * raftd: GET /status {"leader_id", "members":[{"id","url"}]}; otherwise
 * (etcd) GET /v2/members/leader {"clientURLs":[...]}. */
static void endpoint_leader(const char *ep, char *out, size_t len)
{
    char url[512], *body;
    out[0] = 0;
    snprintf(url, sizeof(url), "%s/status", ep);
    long st = http_get(url, 1000, &body);
    if (st == 0)
        return; /* down */
    cJSON *j = st == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    cJSON *lid = j ? cJSON_GetObjectItemCaseSensitive(j, "leader_id") : NULL;
    if (lid) {
        cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(j, "members"))
        {
            cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
            cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "url");
            if (cJSON_IsNumber(lid) && cJSON_IsNumber(id) &&
                id->valuedouble == lid->valuedouble && cJSON_IsString(u))
                snprintf(out, len, "%s", u->valuestring);
        }
        cJSON_Delete(j);
        return;
    }
    cJSON_Delete(j);
    snprintf(url, sizeof(url), "%s/v2/members/leader", ep);
    st = http_get(url, 1000, &body);
    j = st == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    cJSON *cu = j ? cJSON_GetObjectItemCaseSensitive(j, "clientURLs") : NULL;
    cJSON *u0 = cJSON_IsArray(cu) ? cJSON_GetArrayItem(cu, 0) : NULL;
    if (cJSON_IsString(u0))
        snprintf(out, len, "%s", u0->valuestring);
    cJSON_Delete(j);
}

int wait_for_leader(char **endpoints, unsigned n, double timeout_s,
                    struct leader_info *out, bool quiet)
{
    double t0 = now_s(), deadline = t0 + timeout_s, last_note = t0;
    while (1) {
        char first[256] = "";
        bool agree = true;
        for (unsigned i = 0; i < n && agree; i++) {
            char l[256];
            endpoint_leader(endpoints[i], l, sizeof(l));
            if (!l[0])
                agree = false;
            else if (i == 0)
                snprintf(first, sizeof(first), "%s", l);
            else if (strcmp(first, l) != 0)
                agree = false;
        }
        /* strip a trailing slash: endpoints are used as URL prefixes */
        size_t fl = strlen(first);
        while (fl && first[fl - 1] == '/')
            first[--fl] = 0;
        if (agree && first[0]) {
            snprintf(out->url, sizeof(out->url), "%s", first);
            if (!quiet)
                fprintf(stderr, "raftd-bench: leader %s (after %.1f s)\n",
                        out->url, now_s() - t0);
            return 0;
        }
        if (now_s() > deadline) {
            fprintf(stderr,
                    "raftd-bench: no leader that all %u endpoints agree on "
                    "within %.0f s\n", n, timeout_s);
            return -1;
        }
        if (!quiet && now_s() - last_note > 5) {
            fprintf(stderr, "raftd-bench: waiting for a leader...\n");
            last_note = now_s();
        }
        if (bench_interrupted)
            return -1;
        sleep_s(0.1);
    }
}

/* ---- restart commands ---- */

int run_restart_cmd(const char *cmd, unsigned level_index, unsigned clients)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char b[32];
        snprintf(b, sizeof(b), "%u", level_index + 1);
        setenv("BENCH_LEVEL", b, 1);
        snprintf(b, sizeof(b), "%u", clients);
        setenv("BENCH_CLIENTS", b, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "raftd-bench: the restart command failed (%s %d): %s\n",
                WIFEXITED(st) ? "exit status" : "signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), cmd);
        return -1;
    }
    return 0;
}

/* ---- the built-in local cluster (scripts/raftd-cluster) ---- */

static pid_t launcher_pid;
static char cluster_dir[4096];

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int local_cluster_start(const struct bench_config *cfg, unsigned level,
                        char **endpoints, unsigned *n_endpoints)
{
    snprintf(cluster_dir, sizeof(cluster_dir), "%s/level-%u", cfg->local_dir,
             level + 1);
    rm_rf(cluster_dir);
    if (mkdir(cfg->local_dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "raftd-bench: cannot create %s: %s\n", cfg->local_dir,
                strerror(errno));
        return -1;
    }
    char log[4200], n[16], port[16];
    snprintf(log, sizeof(log), "%s/cluster-level-%u.log", cfg->local_dir,
             level + 1);
    snprintf(n, sizeof(n), "%u", cfg->local_nodes);
    snprintf(port, sizeof(port), "%u", cfg->local_port);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0); /* its own group: Ctrl+C on raftd-bench is ours */
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) {
            dup2(nul, 0);
            close(nul);
        }
        const char *argv[16];
        int a = 0;
        argv[a++] = cfg->launcher;
        argv[a++] = "-n";
        argv[a++] = n;
        argv[a++] = "-p";
        argv[a++] = port;
        argv[a++] = "-d";
        argv[a++] = cluster_dir;
        argv[a++] = "-l";
        argv[a++] = "warning";
        if (cfg->raftd) {
            argv[a++] = "-b";
            argv[a++] = cfg->raftd;
        }
        if (cfg->local_fast)
            argv[a++] = "-f";
        argv[a] = NULL;
        execv(cfg->launcher, (char **)argv);
        fprintf(stderr, "cannot run %s: %s\n", cfg->launcher, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    launcher_pid = pid;
    *n_endpoints = cfg->local_nodes;
    for (unsigned i = 0; i < cfg->local_nodes; i++) {
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", cfg->local_port + i);
        free(endpoints[i]);
        endpoints[i] = strdup(url);
    }
    if (!cfg->quiet)
        fprintf(stderr, "raftd-bench: started a %u-node local cluster (pid %d, "
                        "%s, log %s)\n", cfg->local_nodes, (int)pid, cluster_dir, log);
    return 0;
}

void local_cluster_stop(const struct bench_config *cfg)
{
    if (launcher_pid <= 0)
        return;
    /* raftd-cluster stops its nodes with SIGTERM and waits for them (it
     * SIGKILLs one that takes over 10 s); then it exits. */
    kill(launcher_pid, SIGTERM);
    double deadline = now_s() + 15;
    int st;
    pid_t r;
    while ((r = waitpid(launcher_pid, &st, WNOHANG)) == 0 && now_s() < deadline)
        sleep_s(0.05);
    if (r == 0) {
        fprintf(stderr, "raftd-bench: the local cluster did not stop in 15 s: "
                        "SIGKILL to its process group\n");
        kill(-launcher_pid, SIGKILL);
        waitpid(launcher_pid, &st, 0);
    }
    launcher_pid = 0;
    if (!cfg->keep_data)
        rm_rf(cluster_dir);
}

/* ---- the servers' CPU and memory ---- */

static bool read_file(const char *path, char *buf, size_t len, size_t *got)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t n = 0;
    ssize_t r;
    while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    buf[n] = 0;
    if (got)
        *got = n;
    return true;
}

void procs_sample(const char *pattern, struct proc_sample *out)
{
    memset(out, 0, sizeof(*out));
    DIR *d = opendir("/proc");
    if (!d)
        return;
    long tck = sysconf(_SC_CLK_TCK);
    pid_t self = getpid();
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(de->d_name);
        if (pid == self)
            continue;
        char path[64], buf[8192];
        size_t n;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
        if (!read_file(path, buf, sizeof(buf), &n) || !n)
            continue;
        for (size_t i = 0; i < n; i++)
            if (!buf[i])
                buf[i] = ' ';
        if (!strstr(buf, pattern))
            continue;
        /* shells and ssh whose command line merely mentions the pattern */
        char comm[64];
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        if (read_file(path, comm, sizeof(comm), NULL)) {
            comm[strcspn(comm, "\n")] = 0;
            if (!strcmp(comm, "sh") || !strcmp(comm, "bash") ||
                !strcmp(comm, "ssh") || !strcmp(comm, "timeout") ||
                !strcmp(comm, "raftd-bench") || !strcmp(comm, "lt-raftd-bench") ||
                !strcmp(comm, "raftd-cluster"))
                continue;
        }
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (!read_file(path, buf, sizeof(buf), NULL))
            continue;
        char *p = strrchr(buf, ')');
        unsigned long ut = 0, stt = 0;
        /* after ") ": state(3) ... utime is field 14, stime 15 */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                         &ut, &stt) != 2)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        uint64_t rss = 0, anon = 0;
        if (read_file(path, buf, sizeof(buf), NULL)) {
            char *r = strstr(buf, "VmRSS:");
            if (r)
                rss = strtoull(r + 6, NULL, 10);
            r = strstr(buf, "RssAnon:");
            if (r)
                anon = strtoull(r + 8, NULL, 10);
        }
        if (anon > out->anon_kb_node_max)
            out->anon_kb_node_max = anon;
        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
        if (read_file(path, buf, sizeof(buf), NULL)) {
            char *r = strstr(buf, "\nPss:");
            uint64_t pss = r ? strtoull(r + 5, NULL, 10) : 0;
            if (pss > out->pss_kb_node_max)
                out->pss_kb_node_max = pss;
        }
        out->cpu_s += (double)(ut + stt) / (double)tck;
        out->rss_kb += rss;
        if (rss > out->rss_kb_node_max)
            out->rss_kb_node_max = rss;
        out->n++;
    }
    closedir(d);
}
