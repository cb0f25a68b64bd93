/* stats_api.c - /v2/machines and /v2/stats/{self,leader,store} in etcd's
 * shapes (stats_api.h). The shapes are etcd 3.4's (--enable-v2), field by
 * field: etcdserver/api/v2stats (server.go, leader.go, queue.go) and the v2
 * store's stats.go.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "stats_api.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "endpoint.h"
#include "keys_api.h"
#include "kv.h"
#include "logging.h"
#include "node_internal.h"

/* A moment, as a wall-clock time to show and a monotonic one to measure. */
struct stamp {
    struct timespec real;
    uint64_t mono_ns;
};

/* etcd's statsQueue: the last 200 requests, for the rates. */
#define RATE_QUEUE 200
struct rate_queue {
    struct {
        uint64_t mono_ns;
        size_t bytes;
    } q[RATE_QUEUE];
    unsigned first, n;
    uint64_t bytes; /* of the n in the queue */
};

struct follower {
    raft_id id;           /* RAFT_NONE: a free slot */
    uint64_t last_ns;     /* last counted, to reuse the stalest slot */
    uint64_t success, fail;
    double current, average, average_square, minimum, maximum; /* ms */
};
#define FOLLOWER_SLOTS (2 * RAFT_MAX_MEMBERS)

static struct {
    bool started;
    struct stamp start;
    raft_id leader;       /* as the last leader change told it */
    struct stamp leader_since;
    uint64_t sent, received;
    struct rate_queue send_rate, recv_rate;
    struct follower followers[FOLLOWER_SLOTS];
} S;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct stamp stamp_now(void)
{
    struct stamp s;
    clock_gettime(CLOCK_REALTIME, &s.real);
    s.mono_ns = mono_ns();
    return s;
}

/* ---- counting ---- */

static void rate_add(struct rate_queue *r, size_t bytes)
{
    unsigned at;
    if (r->n == RATE_QUEUE) {
        r->bytes -= r->q[r->first].bytes;
        at = r->first;
        r->first = (r->first + 1) % RATE_QUEUE;
    } else {
        at = (r->first + r->n++) % RATE_QUEUE;
    }
    r->q[at].mono_ns = mono_ns();
    r->q[at].bytes = bytes;
    r->bytes += bytes;
}

/* Requests and bytes per second over the queue's span; 0 once the last
 * one is older than a second (etcd clears the queue then). */
static void rate_get(struct rate_queue *r, double *pkgs, double *bytes)
{
    *pkgs = *bytes = 0;
    if (r->n == 0)
        return;
    uint64_t front = r->q[r->first].mono_ns;
    uint64_t back = r->q[(r->first + r->n - 1) % RATE_QUEUE].mono_ns;
    if (mono_ns() - back > 1000000000u) {
        r->n = 0;
        r->bytes = 0;
        return;
    }
    if (back == front)
        return; /* one sample: no span to divide by */
    double span = (double)(back - front) / 1e9;
    *pkgs = r->n / span;
    *bytes = (double)r->bytes / span;
}

static void on_event(void *arg, int prio, const struct log_raft *f,
                     const char *msg)
{
    (void)arg;
    (void)prio;
    (void)msg;
    if (strcmp(f->event, "leader_changed") == 0) {
        S.leader = f->leader;
        S.leader_since = stamp_now();
    }
}

int stats_api_start(void)
{
    memset(&S, 0, sizeof(S));
    S.start = S.leader_since = stamp_now();
    if (log_add_event_observer(on_event, NULL) < 0)
        return -1;
    S.started = true;
    return 0;
}

void stats_api_stop(void)
{
    if (S.started)
        log_remove_event_observer(on_event, NULL);
    S.started = false;
}

void stats_append_sent(size_t bytes)
{
    S.sent++;
    rate_add(&S.send_rate, bytes);
}

void stats_append_received(size_t bytes)
{
    S.received++;
    rate_add(&S.recv_rate, bytes);
}

static struct follower *follower_slot(raft_id id, bool make)
{
    struct follower *stalest = &S.followers[0];
    for (unsigned i = 0; i < FOLLOWER_SLOTS; i++) {
        struct follower *f = &S.followers[i];
        if (f->id == id)
            return f;
        if (f->id == RAFT_NONE ||
            (stalest->id != RAFT_NONE && f->last_ns < stalest->last_ns))
            stalest = f;
    }
    if (!make)
        return NULL;
    *stalest = (struct follower){.id = id};
    return stalest;
}

/* etcd's FollowerStats.Succ()/Fail(). */
void stats_append_answered(raft_id follower, uint64_t rtt_us, bool ok)
{
    struct follower *f = follower_slot(follower, true);
    f->last_ns = mono_ns();
    if (!ok) {
        f->fail++;
        return;
    }
    double ms = (double)rtt_us / 1000.0;
    double total = (double)f->success * f->average;
    double total_sq = (double)f->success * f->average_square;
    f->success++;
    f->current = ms;
    if (f->success == 1 || ms > f->maximum)
        f->maximum = ms;
    if (f->success == 1 || ms < f->minimum)
        f->minimum = ms;
    f->average = (total + ms) / (double)f->success;
    f->average_square = (total_sq + ms * ms) / (double)f->success;
}

/* ---- formatting ---- */

/* Go's time.RFC3339Nano in UTC: 2026-12-07T01:44:17.087669743Z, the
 * fraction without trailing zeros (and without a dot if none is left). */
static void rfc3339nano(const struct timespec *ts, char *buf, size_t len)
{
    struct tm tm;
    time_t t = ts->tv_sec;
    gmtime_r(&t, &tm);
    char frac[16] = "";
    if (ts->tv_nsec) {
        snprintf(frac, sizeof(frac), ".%09ld", ts->tv_nsec);
        size_t l = strlen(frac);
        while (frac[l - 1] == '0')
            frac[--l] = 0;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             frac);
}

/* Go's time.Duration.String(): "2.546687542s", "1h0m3s", "1.5ms". */
static void go_duration(uint64_t ns, char *buf, size_t len)
{
    static const struct {
        uint64_t unit;
        const char *name;
    } small[] = {{1000000, "ms"}, {1000, "\xc2\xb5s"}, {1, "ns"}};
    char frac[16] = "";
    uint64_t whole, rest, unit = 1000000000u;
    const char *name = "s";
    if (ns == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    if (ns < 1000000000u)
        for (unsigned i = 0; i < 3; i++)
            if (ns >= small[i].unit || small[i].unit == 1) {
                unit = small[i].unit;
                name = small[i].name;
                break;
            }
    whole = ns / unit;
    rest = ns % unit;
    if (rest) {
        int digits = unit == 1000000000u ? 9 : unit == 1000000 ? 6 : 3;
        snprintf(frac, sizeof(frac), ".%0*" PRIu64, digits, rest);
        size_t l = strlen(frac);
        while (frac[l - 1] == '0')
            frac[--l] = 0;
    }
    if (unit != 1000000000u) {
        snprintf(buf, len, "%" PRIu64 "%s%s", whole, frac, name);
        return;
    }
    uint64_t h = whole / 3600, m = whole / 60 % 60, s = whole % 60;
    if (h)
        snprintf(buf, len, "%" PRIu64 "h%" PRIu64 "m%" PRIu64 "%ss", h, m, s,
                 frac);
    else if (m)
        snprintf(buf, len, "%" PRIu64 "m%" PRIu64 "%ss", m, s, frac);
    else
        snprintf(buf, len, "%" PRIu64 "%ss", s, frac);
}

static void add_hex_id(cJSON *o, const char *name, raft_id id)
{
    char hex[32] = "";
    if (id != RAFT_NONE)
        snprintf(hex, sizeof(hex), "%" PRIx64, id);
    cJSON_AddStringToObject(o, name, hex);
}

static void add_time(cJSON *o, const char *name, const struct timespec *ts)
{
    char buf[64];
    rfc3339nano(ts, buf, sizeof(buf));
    cJSON_AddStringToObject(o, name, buf);
}

/* raft.StateType's JSON. */
static const char *etcd_state(enum raft_role role)
{
    switch (role) {
    case RAFT_LEADER:
        return "StateLeader";
    case RAFT_CANDIDATE:
        return "StateCandidate";
    case RAFT_PRECANDIDATE:
        return "StatePreCandidate";
    case RAFT_FOLLOWER:
        break;
    }
    return "StateFollower";
}

/* ---- the answers ---- */

static void handle_self(struct node *n, struct http_request *req)
{
    cJSON *o = cJSON_CreateObject();
    char name[32];
    snprintf(name, sizeof(name), "node%" PRIu64, node_id(n));
    cJSON_AddStringToObject(o, "name", name);
    add_hex_id(o, "id", node_id(n));
    cJSON_AddStringToObject(o, "state", etcd_state(raft_role(n->raft)));
    add_time(o, "startTime", &S.start.real);
    /* The leader this node knows now; since when, as far as the last
     * leader change it saw says (no leader: "" since it was lost). */
    raft_id leader = node_leader(n);
    struct stamp since = S.leader_since;
    if (leader != S.leader) /* (not seen as an event: cannot tell) */
        since = S.start;
    cJSON *li = cJSON_AddObjectToObject(o, "leaderInfo");
    add_hex_id(li, "leader", leader);
    char up[64] = "0s";
    if (leader != RAFT_NONE)
        go_duration(mono_ns() - since.mono_ns, up, sizeof(up));
    cJSON_AddStringToObject(li, "uptime", up);
    add_time(li, "startTime", &since.real);
    double pkgs, bytes;
    cJSON_AddNumberToObject(o, "recvAppendRequestCnt", (double)S.received);
    rate_get(&S.recv_rate, &pkgs, &bytes);
    if (pkgs > 0) { /* omitempty, as in etcd */
        cJSON_AddNumberToObject(o, "recvPkgRate", pkgs);
        cJSON_AddNumberToObject(o, "recvBandwidthRate", bytes);
    }
    cJSON_AddNumberToObject(o, "sendAppendRequestCnt", (double)S.sent);
    rate_get(&S.send_rate, &pkgs, &bytes);
    if (pkgs > 0) {
        cJSON_AddNumberToObject(o, "sendPkgRate", pkgs);
        cJSON_AddNumberToObject(o, "sendBandwidthRate", bytes);
    }
    api_respond_json(req, 200, o);
}

static void handle_leader(struct node *n, struct http_request *req)
{
    if (raft_role(n->raft) != RAFT_LEADER) {
        api_respond_message(req, 403, "not current leader");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    add_hex_id(o, "leader", node_id(n));
    cJSON *fs = cJSON_AddObjectToObject(o, "followers");
    const struct raft_configuration *c = node_configuration(n, NULL);
    for (unsigned i = 0; i < c->n; i++) {
        raft_id id = c->members[i].id;
        if (id == node_id(n))
            continue;
        struct follower none = {.id = id};
        const struct follower *f = follower_slot(id, false);
        if (!f)
            f = &none;
        char hex[32];
        snprintf(hex, sizeof(hex), "%" PRIx64, id);
        cJSON *fo = cJSON_AddObjectToObject(fs, hex);
        cJSON *lat = cJSON_AddObjectToObject(fo, "latency");
        double var = f->average_square - f->average * f->average;
        cJSON_AddNumberToObject(lat, "current", f->current);
        cJSON_AddNumberToObject(lat, "average", f->average);
        cJSON_AddNumberToObject(lat, "standardDeviation",
                                var > 0 ? sqrt(var) : 0);
        cJSON_AddNumberToObject(lat, "minimum", f->minimum);
        cJSON_AddNumberToObject(lat, "maximum", f->maximum);
        cJSON *counts = cJSON_AddObjectToObject(fo, "counts");
        cJSON_AddNumberToObject(counts, "fail", (double)f->fail);
        cJSON_AddNumberToObject(counts, "success", (double)f->success);
    }
    api_respond_json(req, 200, o);
}

static void handle_store(struct node *n, struct http_request *req)
{
    struct kv_stats st;
    kv_get_stats(node_kv(n), &st);
    cJSON *o = cJSON_CreateObject();
#define COUNT(name, field) cJSON_AddNumberToObject(o, name, (double)st.field)
    COUNT("getsSuccess", gets_success);
    COUNT("getsFail", gets_fail);
    COUNT("setsSuccess", sets_success);
    COUNT("setsFail", sets_fail);
    COUNT("deleteSuccess", delete_success);
    COUNT("deleteFail", delete_fail);
    COUNT("updateSuccess", update_success);
    COUNT("updateFail", update_fail);
    COUNT("createSuccess", create_success);
    COUNT("createFail", create_fail);
    COUNT("compareAndSwapSuccess", cas_success);
    COUNT("compareAndSwapFail", cas_fail);
    COUNT("compareAndDeleteSuccess", cad_success);
    COUNT("compareAndDeleteFail", cad_fail);
    COUNT("expireCount", expire_count);
#undef COUNT
    cJSON_AddNumberToObject(o, "watchers", (double)kv_watch_count(node_kv(n)));
    api_respond_json(req, 200, o);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The voters' client URLs (raftd serves clients where it serves peers),
 * sorted, as etcd's cluster.ClientURLs(); a learner has none yet, as an
 * unstarted etcd member. */
static void handle_machines(struct node *n, struct http_request *req)
{
    const struct raft_configuration *c = node_configuration(n, NULL);
    const char *urls[RAFT_MAX_MEMBERS];
    unsigned k = 0;
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_member *m = &c->members[i];
        if (m->role != RAFT_VOTER)
            continue;
        /* its own file's URL when it names the same host and port (a
         * cluster switched to TLS shows its https:// URLs) */
        const struct raftd_member *f = config_member(node_config(n), m->id);
        urls[k++] = f && endpoint_same(f->url, m->address) ? f->url
                                                           : m->address;
    }
    qsort(urls, k, sizeof(urls[0]), cmp_str);
    size_t cap = 1, len = 0;
    for (unsigned i = 0; i < k; i++)
        cap += strlen(urls[i]) + 2;
    char *body = malloc(cap);
    if (!body) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    body[0] = 0;
    for (unsigned i = 0; i < k; i++) {
        size_t l = strlen(urls[i]);
        if (i) {
            memcpy(body + len, ", ", 2);
            len += 2;
        }
        memcpy(body + len, urls[i], l);
        len += l;
    }
    http_respond(req, 200, "text/plain; charset=utf-8", body, len);
    free(body);
}

bool stats_api_handle(struct node *n, struct http_request *req)
{
    const char *path = http_request_path(req);
    const char *method = http_request_method(req);
    bool get = strcmp(method, "GET") == 0;
    if (strcmp(path, "/v2/machines") == 0) {
        if (get || strcmp(method, "HEAD") == 0)
            handle_machines(n, req);
        else
            api_refuse_method(req, "GET,HEAD", true);
        return true;
    }
    void (*fn)(struct node *, struct http_request *) =
        strcmp(path, "/v2/stats/self") == 0     ? handle_self
        : strcmp(path, "/v2/stats/leader") == 0 ? handle_leader
        : strcmp(path, "/v2/stats/store") == 0  ? handle_store
                                                : NULL;
    if (!fn)
        return false;
    if (get)
        fn(n, req);
    else
        api_refuse_method(req, "GET", true); /* etcd allows GET alone here */
    return true;
}
