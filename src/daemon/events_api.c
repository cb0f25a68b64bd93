/* events_api.c - GET /events (events_api.h). */
#include "events_api.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <time.h>

#include "hex.h"
#include "keys_api.h"

/* A request held until an event arrives or its wait is over. */
struct waiter {
    struct events_api *api;
    struct http_request *req;
    sd_event_source *timer;
    uint64_t after;
    size_t limit;
    bool reset;
    struct waiter *next, *prev;
};

struct events_api {
    sd_event *ev;
    struct events *ring;
    uint64_t node_id;
    uint64_t instance;
    struct waiter *waiters;
    sd_event_source *wake; /* deferred: answer the waiters */
};

/* ---- recording ---- */

static uint64_t realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_event(void *arg, int prio, const struct log_raft *f,
                     const char *msg)
{
    (void)prio;
    struct events_api *a = arg;
    events_record(a->ring, realtime_us(), f, msg);
    /* Answer held requests from the loop, not from inside log_raft(). */
    if (a->waiters && a->wake)
        sd_event_source_set_enabled(a->wake, SD_EVENT_ONESHOT);
}

/* ---- answers ---- */

static void add_id_or_skip(cJSON *o, const char *name, uint64_t v)
{
    if (v)
        cJSON_AddNumberToObject(o, name, (double)v);
}

static cJSON *event_json(const struct events_api *a, const struct event *ev)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seq", (double)ev->seq);
    cJSON_AddNumberToObject(o, "time_us", (double)ev->time_us);
    cJSON_AddNumberToObject(o, "node_id", (double)a->node_id);
    cJSON_AddStringToObject(o, "event", ev->name);
    cJSON_AddNumberToObject(o, "term", (double)ev->term);
    if (ev->state[0])
        cJSON_AddStringToObject(o, "state", ev->state);
    add_id_or_skip(o, "leader", ev->leader);
    add_id_or_skip(o, "peer", ev->peer);
    add_id_or_skip(o, "index", ev->index);
    cJSON_AddStringToObject(o, "message", ev->message ? ev->message : "");
    return o;
}

static void respond_events(struct events_api *a, struct http_request *req,
                           uint64_t after, size_t limit, bool reset)
{
    const struct event *found[EVENTS_API_MAX_LIMIT];
    bool lost;
    size_t n = events_after(a->ring, after, found, limit, &lost);
    char inst[17];
    snprintf(inst, sizeof(inst), "%016" PRIx64, a->instance);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "node_id", (double)a->node_id);
    cJSON_AddStringToObject(o, "instance", inst);
    cJSON_AddNumberToObject(o, "first", (double)events_first_seq(a->ring));
    cJSON_AddNumberToObject(o, "last", (double)events_last_seq(a->ring));
    cJSON_AddNumberToObject(o, "next", (double)(n ? found[n - 1]->seq : after));
    cJSON_AddBoolToObject(o, "lost", lost);
    cJSON_AddBoolToObject(o, "reset", reset);
    cJSON *list = cJSON_AddArrayToObject(o, "events");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(list, event_json(a, found[i]));
    http_response_header(req, "Cache-Control", "no-store");
    api_respond_json(req, 200, o);
}

/* ---- held requests ---- */

static void waiter_unlink_free(struct waiter *w)
{
    struct events_api *a = w->api;
    if (w->prev)
        w->prev->next = w->next;
    else
        a->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    sd_event_source_disable_unref(w->timer);
    free(w);
}

static void waiter_answer(struct waiter *w)
{
    struct http_request *req = w->req;
    struct events_api *a = w->api;
    uint64_t after = w->after;
    size_t limit = w->limit;
    bool reset = w->reset;
    waiter_unlink_free(w);
    respond_events(a, req, after, limit, reset);
}

static void on_waiter_abort(struct http_request *req, void *arg)
{
    (void)req;
    waiter_unlink_free(arg);
}

static int on_waiter_timeout(sd_event_source *s, uint64_t usec, void *arg)
{
    (void)s;
    (void)usec;
    waiter_answer(arg);
    return 0;
}

static int on_wake(sd_event_source *s, void *arg)
{
    (void)s;
    struct events_api *a = arg;
    uint64_t last = events_last_seq(a->ring);
    struct waiter *w = a->waiters;
    while (w) {
        struct waiter *next = w->next;
        if (w->after < last)
            waiter_answer(w);
        w = next;
    }
    return 0;
}

static void hold(struct events_api *a, struct http_request *req,
                 uint64_t after, size_t limit, bool reset, unsigned wait_s)
{
    struct waiter *w = calloc(1, sizeof(*w));
    uint64_t now;
    if (!w || sd_event_now(a->ev, CLOCK_MONOTONIC, &now) < 0 ||
        sd_event_add_time(a->ev, &w->timer, CLOCK_MONOTONIC,
                          now + (uint64_t)wait_s * 1000000u, 10000,
                          on_waiter_timeout, w) < 0) {
        free(w);
        http_respond_error(req, 503, "cannot hold the request: out of "
                                     "resources; retry without wait");
        return;
    }
    w->api = a;
    w->req = req;
    w->after = after;
    w->limit = limit;
    w->reset = reset;
    w->next = a->waiters;
    if (a->waiters)
        a->waiters->prev = w;
    a->waiters = w;
    http_request_on_abort(req, on_waiter_abort, w);
}

/* ---- the request ---- */

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || strlen(s) > 20)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int parse_instance(const char *s, uint64_t *out)
{
    if (strlen(s) != 16)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        int d = hex_digit(*p);
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

struct query {
    uint64_t after, wait_s, limit;
    bool reset;
};

/* 0, or -1 with the 400's message in why. */
static int parse_query(const struct events_api *a, struct http_request *req,
                       struct query *q, char *why, size_t whylen)
{
    const char *after = http_request_query(req, "after");
    const char *wait = http_request_query(req, "wait");
    const char *limit = http_request_query(req, "limit");
    const char *instance = http_request_query(req, "instance");
    q->after = 0;
    q->wait_s = 0;
    q->limit = EVENTS_API_MAX_LIMIT;
    q->reset = false;
    if (after && parse_u64(after, UINT64_MAX, &q->after) < 0) {
        snprintf(why, whylen, "after must be a sequence number (0, or the "
                              "\"next\" of an earlier answer)");
        return -1;
    }
    if (wait && parse_u64(wait, EVENTS_API_MAX_WAIT_S, &q->wait_s) < 0) {
        snprintf(why, whylen, "wait must be a number of seconds from 0 to %u",
                 EVENTS_API_MAX_WAIT_S);
        return -1;
    }
    if (limit && (parse_u64(limit, EVENTS_API_MAX_LIMIT, &q->limit) < 0 ||
                  q->limit == 0)) {
        snprintf(why, whylen, "limit must be a number of events from 1 to %u",
                 EVENTS_API_MAX_LIMIT);
        return -1;
    }
    uint64_t inst = a->instance;
    if (instance && parse_instance(instance, &inst) < 0) {
        snprintf(why, whylen, "instance must be the 16 hex digits of an "
                              "earlier answer's \"instance\"");
        return -1;
    }
    /* A cursor of another run of this node: start over. */
    if (inst != a->instance || q->after > events_last_seq(a->ring)) {
        q->reset = q->after != 0 || inst != a->instance;
        q->after = 0;
    }
    return 0;
}

bool events_api_handle(struct events_api *a, struct http_request *req)
{
    if (strcmp(http_request_path(req), "/events") != 0)
        return false;
    if (strcmp(http_request_method(req), "GET") != 0) {
        http_response_header(req, "Allow", "GET");
        http_respond_error(req, 405, "use GET");
        return true;
    }
    struct query q;
    char why[200];
    if (parse_query(a, req, &q, why, sizeof(why)) < 0) {
        http_respond_error(req, 400, why);
        return true;
    }
    if (q.wait_s && q.after >= events_last_seq(a->ring))
        hold(a, req, q.after, q.limit, q.reset, (unsigned)q.wait_s);
    else
        respond_events(a, req, q.after, q.limit, q.reset);
    return true;
}

/* ---- lifecycle ---- */

/* $RAFTD_EVENTS_KEPT, or the default (with a warning for a bad value). */
static size_t capacity_from_env(void)
{
    const char *v = getenv(EVENTS_API_KEPT_ENV);
    uint64_t n;
    if (!v || !*v)
        return EVENTS_DEFAULT_CAPACITY;
    if (parse_u64(v, EVENTS_API_KEPT_MAX, &n) < 0 || n < EVENTS_API_KEPT_MIN) {
        log_msg(LOG_WARNING, "%s=%s is not a number of events from %u to %u; "
                "keeping the last %u", EVENTS_API_KEPT_ENV, v,
                EVENTS_API_KEPT_MIN, EVENTS_API_KEPT_MAX,
                EVENTS_DEFAULT_CAPACITY);
        return EVENTS_DEFAULT_CAPACITY;
    }
    return (size_t)n;
}

struct events_api *events_api_new(sd_event *ev, uint64_t node_id,
                                  size_t capacity)
{
    struct events_api *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->ev = sd_event_ref(ev);
    a->node_id = node_id;
    a->ring = events_new(capacity ? capacity : capacity_from_env());
    if (getrandom(&a->instance, sizeof(a->instance), 0) !=
        sizeof(a->instance))
        a->instance = realtime_us() ^ ((uint64_t)getpid() << 40);
    if (!a->ring || sd_event_add_defer(ev, &a->wake, on_wake, a) < 0 ||
        sd_event_source_set_enabled(a->wake, SD_EVENT_OFF) < 0 ||
        log_add_event_observer(on_event, a) < 0) {
        sd_event_source_disable_unref(a->wake);
        a->wake = NULL;
        events_free(a->ring);
        sd_event_unref(a->ev);
        free(a);
        return NULL;
    }
    return a;
}

void events_api_free(struct events_api *a)
{
    if (!a)
        return;
    log_remove_event_observer(on_event, a);
    while (a->waiters) { /* not expected: the server aborted them */
        struct waiter *w = a->waiters;
        a->waiters = w->next;
        sd_event_source_disable_unref(w->timer);
        free(w);
    }
    sd_event_source_disable_unref(a->wake);
    events_free(a->ring);
    sd_event_unref(a->ev);
    free(a);
}

const struct events *events_api_ring(const struct events_api *a)
{
    return a->ring;
}

uint64_t events_api_instance(const struct events_api *a)
{
    return a->instance;
}
