/* engine.c - the load generator: N closed-loop clients, one thread.
 *
 * Each client owns one libcurl easy handle, and all of them sit on one
 * multi handle: the loop waits in curl_multi_poll(), lets curl move the
 * bytes (curl_multi_perform) and, for every finished request, records its
 * latency and immediately starts that client's next request on the same
 * easy handle, which keeps its connection (HTTP/1.1 keep-alive), so there
 * is one TCP connection per client for the whole run.
 *
 * A latency sample is the time from handing the request to curl to curl
 * reporting the complete answer; it counts if the answer arrives inside
 * the measured window (after the warm-up). When the window closes no new
 * request starts, the ones in flight finish (uncounted) and the run ends.
 */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

const char *const op_names[OP_COUNT] = {"put", "get", "qget", "cas"};

struct run;

struct client {
    struct run *run;
    unsigned id;
    CURL *easy;
    const char *base; /* endpoint URL */
    enum op op;
    unsigned key;
    uint32_t new_version;
    uint64_t start_ns;
    uint64_t sleep_until_ns; /* backing off after an error */
    bool busy, sleeping, done;
    bool retry; /* preload: write the same key again */
    struct client_stats *st;
    char url[512];
    char *body;
    char errbuf[CURL_ERROR_SIZE];
    char resp[256]; /* the start of the answer, for error messages */
    size_t resp_len;
};

struct run {
    const struct bench_config *cfg;
    CURLM *multi;
    int epfd;
    bool timer_set;       /* curl wants socket_action(TIMEOUT) ... */
    uint64_t timer_at_ns; /* ... at this time */
    struct curl_slist *headers;
    struct client *clients;
    unsigned n_clients;
    uint64_t rng;
    double *zipf_cdf; /* cumulative weights for DIST_ZIPF */
    uint32_t *versions; /* per key: the version this tool last wrote */
    char *value_pad;
    unsigned weight_sum;
    /* phases */
    bool measuring, stopping;
    uint64_t window_start, window_end;
    struct samples *samples;
    uint64_t completed; /* all completions, for progress */
    uint64_t errors, timeouts;
    unsigned error_msgs;
    /* preload, and --fill (a preload that is measured) */
    bool preload;
    unsigned next_key;
    bool fill;
    struct samples *fill_all; /* every write's latency */
    struct samples fill_sec;  /* the current second's */
    uint64_t sec_ops, sec_errors, sec_timeouts;
    unsigned keys_done, n10, n90; /* written keys; 10% and 90% of them */
    uint64_t t10_ns, t90_ns, last_ns;
};

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

int engine_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void engine_cleanup(void)
{
    curl_global_cleanup();
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct client *c = arg;
    size_t len = size * nmemb;
    size_t room = sizeof(c->resp) - 1 - c->resp_len;
    size_t k = len < room ? len : room;
    memcpy(c->resp + c->resp_len, ptr, k);
    c->resp_len += k;
    c->resp[c->resp_len] = 0;
    return len;
}

static unsigned pick_key(struct run *r)
{
    const struct bench_config *cfg = r->cfg;
    if (cfg->dist == DIST_UNIFORM || !r->zipf_cdf)
        return (unsigned)(rng_next(&r->rng) % cfg->keys);
    double u = rng_unit(&r->rng);
    /* first rank whose cumulative weight >= u */
    unsigned lo = 0, hi = cfg->keys - 1;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (r->zipf_cdf[mid] >= u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static enum op pick_op(struct run *r)
{
    unsigned x = (unsigned)(rng_next(&r->rng) % r->weight_sum);
    for (int i = 0; i < OP_COUNT; i++) {
        if (x < r->cfg->weights[i])
            return (enum op)i;
        x -= r->cfg->weights[i];
    }
    return OP_PUT;
}

/* "value=" + value of (key, version) [+ "&prevValue=" + the previous one]:
 * 8 hex digits of the version, then padding to value_size. */
static size_t put_value(const struct run *r, char *dst, uint32_t version)
{
    unsigned vs = r->cfg->value_size;
    char hex[16];
    snprintf(hex, sizeof(hex), "%08x", version);
    size_t h = vs < 8 ? vs : 8;
    memcpy(dst, hex + (8 - h), h);
    if (vs > h)
        memcpy(dst + h, r->value_pad, vs - h);
    return vs;
}

static void build_request(struct client *c)
{
    struct run *r = c->run;
    const struct bench_config *cfg = r->cfg;
    CURL *e = c->easy;
    if (r->preload) {
        c->op = OP_PUT;
        if (!c->retry)
            c->key = r->next_key++;
    } else {
        c->op = pick_op(r);
        c->key = pick_key(r);
    }
    snprintf(c->url, sizeof(c->url), "%s/v2/keys/%s/k%07u%s", c->base,
             cfg->key_prefix, c->key, c->op == OP_QGET ? "?quorum=true" : "");
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    if (c->op == OP_GET || c->op == OP_QGET) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
        return;
    }
    char *b = c->body;
    uint32_t cur = r->versions[c->key];
    c->new_version = r->preload ? 0 : cur + 1;
    memcpy(b, "value=", 6);
    size_t len = 6 + put_value(r, b + 6, c->new_version);
    if (c->op == OP_CAS) {
        memcpy(b + len, "&prevValue=", 11);
        len += 11;
        len += put_value(r, b + len, cur);
    }
    b[len] = 0;
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, b);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
}

static void start_request(struct client *c)
{
    struct run *r = c->run;
    if (r->preload && !c->retry && r->next_key >= r->cfg->keys) {
        c->done = true;
        return;
    }
    build_request(c);
    c->resp_len = 0;
    c->resp[0] = 0;
    c->errbuf[0] = 0;
    c->start_ns = now_ns();
    c->busy = true;
    curl_multi_add_handle(r->multi, c->easy);
}

/* The outcome of a finished request. */
enum outcome { OK, MISS, FAIL, TIMEOUT };

static enum outcome classify(struct client *c, CURLcode rc, long status)
{
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return TIMEOUT;
    if (rc != CURLE_OK)
        return FAIL;
    if (status == 504 || status == 408)
        return TIMEOUT; /* the server gave up waiting (e.g. for a commit) */
    switch (c->op) {
    case OP_PUT:
        return status == 200 || status == 201 ? OK : FAIL;
    case OP_GET:
    case OP_QGET:
        return status == 200 ? OK : status == 404 ? MISS : FAIL;
    case OP_CAS:
        /* 412: compare failed (another client got there first), 404: no
         * such key; both are answers of a completed CAS */
        return status == 200 ? OK : status == 412 || status == 404 ? MISS : FAIL;
    default:
        return FAIL;
    }
}

static void finish(struct client *c, CURLcode rc)
{
    struct run *r = c->run;
    uint64_t end = now_ns();
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(r->multi, c->easy);
    c->busy = false;
    enum outcome o = classify(c, rc, status);
    if ((o == OK || o == MISS) && (c->op == OP_PUT || (c->op == OP_CAS && o == OK)) &&
        (c->new_version > r->versions[c->key] || r->preload))
        r->versions[c->key] = c->new_version;
    if (o == FAIL || o == TIMEOUT) {
        if (o == FAIL)
            r->errors++;
        else
            r->timeouts++;
        if (r->error_msgs < 5 && !r->cfg->quiet) {
            r->error_msgs++;
            if (rc != CURLE_OK)
                fprintf(stderr, "raftd-bench: %s %s: %s\n", op_names[c->op],
                        c->url, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
            else
                fprintf(stderr, "raftd-bench: %s %s: HTTP %ld %s\n",
                        op_names[c->op], c->url, status, c->resp);
            if (r->error_msgs == 5)
                fprintf(stderr, "raftd-bench: (further errors are only counted)\n");
        }
    }
    if (r->fill) {
        if (o == OK) {
            uint64_t lat = end - c->start_ns;
            samples_add(r->fill_all, lat);
            samples_add(&r->fill_sec, lat);
            r->sec_ops++;
            r->keys_done++;
            r->last_ns = end;
            if (r->keys_done == r->n10)
                r->t10_ns = end;
            if (r->keys_done == r->n90)
                r->t90_ns = end;
        } else if (o == TIMEOUT) {
            r->sec_timeouts++;
        } else {
            r->sec_errors++;
        }
    }
    if (r->preload) {
        /* a failed key is written again after the back-off */
        c->retry = o == FAIL || o == TIMEOUT;
        if (c->retry) {
            c->sleeping = true;
            c->sleep_until_ns = end + (uint64_t)r->cfg->error_backoff_ms * 1000000u;
            return;
        }
    }
    r->completed++;
    if (r->measuring && end >= r->window_start && end < r->window_end) {
        struct client_stats *st = c->st;
        if (o == OK || o == MISS) {
            uint64_t lat = end - c->start_ns;
            st->ops++;
            st->lat_sum_ns += lat;
            if (o == MISS)
                st->misses++;
            samples_add(r->samples, lat);
        } else if (o == TIMEOUT) {
            st->timeouts++;
        } else {
            st->errors++;
        }
    }
    if (r->stopping)
        return;
    if (o == FAIL || o == TIMEOUT) {
        c->sleeping = true;
        c->sleep_until_ns = end + (uint64_t)r->cfg->error_backoff_ms * 1000000u;
        return;
    }
    start_request(c);
}

/* curl's sockets in our epoll set (CURLMOPT_SOCKETFUNCTION) */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    (void)e;
    struct run *r = arg;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.fd = fd};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (!sockp) {
        if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EEXIST)
            epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev);
        curl_multi_assign(r->multi, fd, r);
    } else if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT) {
        epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
    return 0;
}

/* curl's one timer (CURLMOPT_TIMERFUNCTION) */
static int on_timer(CURLM *m, long timeout_ms, void *arg)
{
    (void)m;
    struct run *r = arg;
    if (timeout_ms < 0) {
        r->timer_set = false;
    } else {
        r->timer_set = true;
        r->timer_at_ns = now_ns() + (uint64_t)timeout_ms * 1000000u;
    }
    return 0;
}

static int clients_setup(struct run *r, char **urls, unsigned n_urls,
                         unsigned n)
{
    const struct bench_config *cfg = r->cfg;
    r->multi = curl_multi_init();
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!r->multi || r->epfd < 0)
        return -1;
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r);
    /* keep one connection per client to each endpoint */
    curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)(n * 2 + 8));
    r->headers = curl_slist_append(NULL, "Expect:");
    r->headers = curl_slist_append(r->headers,
                                   "Content-Type: application/x-www-form-urlencoded");
    r->clients = calloc(n, sizeof(*r->clients));
    if (!r->clients)
        return -1;
    r->n_clients = n;
    size_t body_cap = 2 * (size_t)cfg->value_size + 64;
    for (unsigned i = 0; i < n; i++) {
        struct client *c = &r->clients[i];
        c->run = r;
        c->id = i;
        c->base = urls[i % n_urls];
        c->body = malloc(body_cap);
        c->easy = curl_easy_init();
        if (!c->body || !c->easy)
            return -1;
        CURL *e = c->easy;
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->timeout_ms);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(e, CURLOPT_PRIVATE, c);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
        /* no 3xx following: an answer is an answer */
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        /* no proxy: also spares curl reading the *_proxy variables of the
         * environment on every request */
        curl_easy_setopt(e, CURLOPT_PROXY, "");
        bench_tls_apply(e);
    }
    return 0;
}

static void clients_teardown(struct run *r)
{
    for (unsigned i = 0; r->clients && i < r->n_clients; i++) {
        struct client *c = &r->clients[i];
        if (c->easy) {
            if (c->busy)
                curl_multi_remove_handle(r->multi, c->easy);
            curl_easy_cleanup(c->easy);
        }
        free(c->body);
    }
    free(r->clients);
    r->clients = NULL;
    if (r->multi)
        curl_multi_cleanup(r->multi);
    r->multi = NULL;
    if (r->epfd >= 0)
        close(r->epfd);
    r->epfd = -1;
    curl_slist_free_all(r->headers);
    r->headers = NULL;
}

static int run_setup(struct run *r, const struct bench_config *cfg)
{
    memset(r, 0, sizeof(*r));
    r->epfd = -1;
    r->cfg = cfg;
    r->rng = cfg->seed;
    for (int i = 0; i < OP_COUNT; i++)
        r->weight_sum += cfg->weights[i];
    if (!r->weight_sum)
        return -1;
    r->versions = calloc(cfg->keys, sizeof(*r->versions));
    r->value_pad = malloc(cfg->value_size + 1);
    if (!r->versions || !r->value_pad)
        return -1;
    memset(r->value_pad, 'x', cfg->value_size);
    if (cfg->dist == DIST_ZIPF) {
        r->zipf_cdf = malloc(cfg->keys * sizeof(double));
        if (!r->zipf_cdf)
            return -1;
        double sum = 0;
        for (unsigned k = 0; k < cfg->keys; k++) {
            sum += 1.0 / pow((double)(k + 1), cfg->zipf_s);
            r->zipf_cdf[k] = sum;
        }
        for (unsigned k = 0; k < cfg->keys; k++)
            r->zipf_cdf[k] /= sum;
        r->zipf_cdf[cfg->keys - 1] = 1.0;
    }
    return 0;
}

static void run_teardown(struct run *r)
{
    clients_teardown(r);
    free(r->versions);
    free(r->value_pad);
    free(r->zipf_cdf);
}

/* Wake sleeping clients whose back-off is over; the poll timeout in ms. */
static int wake_sleepers(struct run *r, uint64_t now)
{
    int timeout = 100;
    for (unsigned i = 0; i < r->n_clients; i++) {
        struct client *c = &r->clients[i];
        if (!c->sleeping)
            continue;
        if (r->stopping) {
            c->sleeping = false;
            continue;
        }
        if (now >= c->sleep_until_ns) {
            c->sleeping = false;
            start_request(c);
        } else {
            int ms = (int)((c->sleep_until_ns - now) / 1000000u) + 1;
            if (ms < timeout)
                timeout = ms;
        }
    }
    return timeout;
}

static int any_busy(const struct run *r)
{
    for (unsigned i = 0; i < r->n_clients; i++)
        if (r->clients[i].busy || r->clients[i].sleeping)
            return 1;
    return 0;
}

/* Wait for socket events (at most max_wait_ms, less if curl's timer is
 * due), let curl handle them, then handle finished requests. */
static void pump(struct run *r, int max_wait_ms)
{
    int wait = max_wait_ms, running;
    if (r->timer_set) {
        uint64_t now = now_ns();
        uint64_t ms = r->timer_at_ns > now ? (r->timer_at_ns - now + 999999) / 1000000u : 0;
        if (ms < (uint64_t)wait)
            wait = (int)ms;
    }
    struct epoll_event ev[256];
    int n = epoll_wait(r->epfd, ev, 256, wait);
    for (int i = 0; i < n; i++) {
        int flags = 0;
        if (ev[i].events & EPOLLIN)
            flags |= CURL_CSELECT_IN;
        if (ev[i].events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (ev[i].events & (EPOLLERR | EPOLLHUP))
            flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(r->multi, ev[i].data.fd, flags, &running);
    }
    if (r->timer_set && now_ns() >= r->timer_at_ns) {
        r->timer_set = false;
        curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(r->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct client *c;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        finish(c, m->data.result);
    }
}

int engine_preload(const struct bench_config *cfg, char **urls, unsigned n_urls,
                   unsigned concurrency)
{
    struct run r;
    int rc = -1;
    if (run_setup(&r, cfg) < 0)
        goto out;
    r.preload = true;
    if (concurrency > cfg->keys)
        concurrency = cfg->keys;
    if (clients_setup(&r, urls, n_urls, concurrency) < 0)
        goto out;
    for (unsigned i = 0; i < concurrency; i++)
        start_request(&r.clients[i]);
    double deadline = now_s() + 60.0 + cfg->keys / 100.0;
    while (any_busy(&r)) {
        int t = wake_sleepers(&r, now_ns());
        pump(&r, t < 10 ? t : 10);
        if (now_s() > deadline || bench_interrupted) {
            fprintf(stderr, "raftd-bench: preloading %u keys took too long\n",
                    cfg->keys);
            goto out;
        }
    }
    rc = 0;
out:
    run_teardown(&r);
    return rc;
}

int engine_fill(const struct bench_config *cfg, char **urls, unsigned n_urls,
                unsigned n_clients, struct samples *all, struct fill_result *res,
                fill_second_fn each_second, void *arg)
{
    struct run r;
    int rc = -1;
    memset(res, 0, sizeof(*res));
    if (run_setup(&r, cfg) < 0) /* clears r, fill_sec too */
        goto out;
    samples_init(&r.fill_sec);
    r.preload = true;
    r.fill = true;
    r.fill_all = all;
    samples_reserve(all, cfg->keys);
    r.n10 = (cfg->keys + 9) / 10; /* the first 10% of the keys ... */
    r.n90 = cfg->keys - r.n10;    /* ... and where the last 10% start */
    if (n_clients > cfg->keys)
        n_clients = cfg->keys;
    if (clients_setup(&r, urls, n_urls, n_clients) < 0)
        goto out;
    uint64_t t0 = now_ns(), next_sec = t0 + 1000000000u;
    unsigned second = 0;
    for (unsigned i = 0; i < n_clients; i++)
        start_request(&r.clients[i]);
    while (1) {
        bool busy = any_busy(&r);
        uint64_t now = now_ns();
        if (now >= next_sec || !busy) {
            /* one timeline row per second; the last one may be shorter */
            struct fill_second fs = {
                .second = ++second,
                .seconds = (double)((now < next_sec ? now : next_sec) -
                                    (next_sec - 1000000000u)) / 1e9,
                .ops = r.sec_ops,
                .cumulative = r.keys_done,
                .errors = r.sec_errors,
                .timeouts = r.sec_timeouts,
                .p50_ns = samples_percentile(&r.fill_sec, 50),
                .p99_ns = samples_percentile(&r.fill_sec, 99),
            };
            if (each_second)
                each_second(arg, &fs);
            res->errors += r.sec_errors;
            res->timeouts += r.sec_timeouts;
            r.sec_ops = r.sec_errors = r.sec_timeouts = 0;
            samples_clear(&r.fill_sec);
            next_sec += 1000000000u;
        }
        if (!busy)
            break;
        if (bench_interrupted) {
            fprintf(stderr, "raftd-bench: fill interrupted after %u keys\n",
                    r.keys_done);
            goto out;
        }
        int t = wake_sleepers(&r, now);
        uint64_t until = next_sec > now ? (next_sec - now) / 1000000u + 1 : 0;
        if ((uint64_t)t > until)
            t = (int)until;
        pump(&r, t);
    }
    res->keys = r.keys_done;
    res->seconds = (double)(r.last_ns - t0) / 1e9;
    res->first10_s = (double)(r.t10_ns - t0) / 1e9;
    res->last10_s = (double)(r.last_ns - r.t90_ns) / 1e9;
    res->n10 = r.n10;
    res->n_last10 = cfg->keys - r.n90;
    rc = r.keys_done == cfg->keys ? 0 : -1;
out:
    samples_free(&r.fill_sec);
    run_teardown(&r);
    return rc;
}

static double rusage_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}


/* Keep the largest memory figures of the samples seen so far. */
static void peak_update(struct proc_sample *peak, const struct proc_sample *ps)
{
    if (ps->rss_kb > peak->rss_kb)
        peak->rss_kb = ps->rss_kb;
    if (ps->rss_kb_node_max > peak->rss_kb_node_max)
        peak->rss_kb_node_max = ps->rss_kb_node_max;
    if (ps->anon_kb_node_max > peak->anon_kb_node_max)
        peak->anon_kb_node_max = ps->anon_kb_node_max;
    if (ps->pss_kb_node_max > peak->pss_kb_node_max)
        peak->pss_kb_node_max = ps->pss_kb_node_max;
}

int engine_run(const struct bench_config *cfg, char **urls, unsigned n_urls,
               unsigned n_clients, struct client_stats *stats,
               struct samples *samples, double *measured_s,
               struct run_extra *extra, tick_fn tick, void *tick_arg)
{
    struct run r;
    int rc = -1;
    if (run_setup(&r, cfg) < 0 || clients_setup(&r, urls, n_urls, n_clients) < 0)
        goto out;
    /* continue from the preload's versions: every key is at version 0 */
    memset(stats, 0, n_clients * sizeof(*stats));
    for (unsigned i = 0; i < n_clients; i++)
        r.clients[i].st = &stats[i];
    r.samples = samples;
    /* room for a generous estimate of the samples, so that growing the
     * array rarely happens during the run */
    samples_reserve(samples, 1u << 20);

    uint64_t t0 = now_ns();
    r.measuring = true;
    r.window_start = t0 + (uint64_t)(cfg->warmup_s * 1e9);
    r.window_end = r.window_start + (uint64_t)(cfg->duration_s * 1e9);
    for (unsigned i = 0; i < n_clients; i++)
        start_request(&r.clients[i]);

    uint64_t next_tick = t0 + 1000000000u;
    uint64_t last_completed = 0;
    double cpu0 = 0;
    bool window_open = false;
    struct proc_sample ps0 = {0}, ps;
    struct proc_sample peak = {0}; /* the largest memory figures seen */
    while (1) {
        uint64_t now = now_ns();
        if (!window_open && now >= r.window_start) {
            window_open = true;
            cpu0 = rusage_s();
            if (cfg->watch)
                procs_sample(cfg->watch, &ps0);
        }
        if ((now >= r.window_end || bench_interrupted) && !r.stopping) {
            r.stopping = true;
            extra->bench_cpu_s = rusage_s() - cpu0;
            if (cfg->watch) {
                procs_sample(cfg->watch, &ps);
                extra->server_cpu_s = ps.cpu_s - ps0.cpu_s;
                extra->server_procs = ps.n;
                peak_update(&peak, &ps);
            }
        }
        if (now >= next_tick) {
            struct run_progress p = {
                .elapsed_s = (double)(now - t0) / 1e9,
                .warming = now < r.window_start,
                .ops_per_s = (double)(r.completed - last_completed) /
                             ((double)(now - next_tick + 1000000000u) / 1e9),
                .errors = r.errors,
                .timeouts = r.timeouts,
            };
            last_completed = r.completed;
            next_tick = now + 1000000000u;
            if (!r.stopping && tick)
                tick(tick_arg, &p);
            if (cfg->watch && window_open && !r.stopping) {
                procs_sample(cfg->watch, &ps);
                peak_update(&peak, &ps);
            }
        }
        if (r.stopping && !any_busy(&r))
            break;
        if (r.stopping && now > r.window_end + (uint64_t)cfg->timeout_ms * 1000000u +
                                    1000000000u)
            break; /* stragglers: leave them */
        int t = wake_sleepers(&r, now);
        uint64_t until_tick = next_tick > now ? (next_tick - now) / 1000000u + 1 : 0;
        if ((uint64_t)t > until_tick)
            t = (int)until_tick;
        pump(&r, t);
    }
    *measured_s = cfg->duration_s;
    extra->server_rss_kb_max = peak.rss_kb;
    extra->server_rss_kb_node_max = peak.rss_kb_node_max;
    extra->server_anon_kb_node_max = peak.anon_kb_node_max;
    extra->server_pss_kb_node_max = peak.pss_kb_node_max;
    rc = 0;
out:
    run_teardown(&r);
    return rc;
}
