/* timeline.c - raftctl events [-f]: every member's /events (events_api.h
 * in the daemon) merged into one timeline ordered by the time each event
 * happened.
 *
 * Each member has a cursor (the "next" of its last answer) and the
 * instance id it belongs to. Without -f every member is read up to its
 * newest event, then everything is printed in time order. With -f each
 * member is then long-polled (wait=), and events are printed once they
 * have waited HOLD_MS, so that one that happened a little earlier on
 * another member, and arrives a little later, still comes first. A member
 * that does not answer is asked again every RETRY_MS; its events appear
 * when it is back (a restarted member starts a new instance: its events
 * are read from the start). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#define HOLD_MS 300
#define RETRY_MS 1000
#define WAIT_S 25
#define STR_(x) #x
#define STR(x) STR_(x)
#define WAIT_STR STR(WAIT_S)

struct source {
    const struct endpoint *ep;
    struct request req;
    uint64_t cursor;
    char instance[17];
    bool in_flight, caught_up, failed, down_reported;
    uint64_t retry_at_ms; /* monotonic */
};

struct pending {
    double time_us;
    uint64_t node, seq;
    uint64_t arrived_ms;
    cJSON *ev;
};

struct timeline {
    struct ctl *c;
    struct source src[CTL_MAX_ENDPOINTS];
    size_t n;
    struct pending *p;
    size_t np, cap;
    bool follow;
};

static void request_events(struct fetcher *f, struct source *s, bool wait)
{
    snprintf(s->req.url, sizeof(s->req.url), "%s/events?after=%" PRIu64 "%s%s"
             "%s", s->ep->url, s->cursor, s->instance[0] ? "&instance=" : "",
             s->instance, wait ? "&wait=" WAIT_STR : "");
    s->req.timeout_ms = wait ? (WAIT_S + 10) * 1000L : 0;
    s->req.user = s;
    if (fetcher_start(f, &s->req) == 0)
        s->in_flight = true;
    else
        s->retry_at_ms = mono_ms() + RETRY_MS;
}

static int keep(struct timeline *t, cJSON *ev)
{
    if (t->np == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct pending *p = realloc(t->p, cap * sizeof(*p));
        if (!p)
            return -1;
        t->p = p;
        t->cap = cap;
    }
    t->p[t->np++] = (struct pending){
        .time_us = json_number(ev, "time_us", 0),
        .node = (uint64_t)json_number(ev, "node_id", 0),
        .seq = (uint64_t)json_number(ev, "seq", 0),
        .arrived_ms = mono_ms(),
        .ev = ev};
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;
    if (x->time_us != y->time_us)
        return x->time_us < y->time_us ? -1 : 1;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void print_event(const struct ctl *c, cJSON *ev)
{
    if (c->json) {
        char *s = cJSON_PrintUnformatted(ev);
        if (s)
            printf("%s\n", s);
        free(s);
        return;
    }
    double us = json_number(ev, "time_us", 0);
    time_t secs = (time_t)(us / 1e6);
    struct tm tm;
    char when[40] = "?";
    if (localtime_r(&secs, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    const char *state = json_string(ev, "state");
    printf("%s.%06" PRIu64 "  node %-3" PRIu64 " term %-4" PRIu64
           " %-10s %-20s %s\n", when, (uint64_t)us % 1000000u,
           (uint64_t)json_number(ev, "node_id", 0),
           (uint64_t)json_number(ev, "term", 0), state ? state : "-",
           json_string(ev, "event") ? json_string(ev, "event") : "?",
           json_string(ev, "message") ? json_string(ev, "message") : "");
}

/* Print, in time order, the events that waited HOLD_MS (all: every one):
 * those before the first in time order that has not waited so long. That
 * one and the rest are kept, so an event that happened a little earlier on
 * another member and arrives within its HOLD_MS still comes before it. */
static void flush(struct timeline *t, bool all)
{
    if (!t->np)
        return;
    uint64_t now = mono_ms();
    bool ripe = all;
    for (size_t i = 0; i < t->np && !ripe; i++)
        ripe = now >= t->p[i].arrived_ms + HOLD_MS;
    if (!ripe)
        return;
    qsort(t->p, t->np, sizeof(*t->p), by_time);
    size_t n = 0;
    while (n < t->np && (all || now >= t->p[n].arrived_ms + HOLD_MS)) {
        print_event(t->c, t->p[n].ev);
        cJSON_Delete(t->p[n].ev);
        n++;
    }
    memmove(t->p, t->p + n, (t->np - n) * sizeof(*t->p));
    t->np -= n;
    if (n)
        fflush(stdout);
}

/* Take a member's answer: keep its events, move its cursor. */
static void take_answer(struct timeline *t, struct source *s)
{
    struct reply *r = &s->req.reply;
    cJSON *o = r->status == 200 ? reply_json(r) : NULL;
    const cJSON *evs = cJSON_GetObjectItemCaseSensitive(o, "events");
    const char *inst = json_string(o, "instance");
    if (!cJSON_IsArray(evs) || !inst) {
        char why[400];
        reply_why(r, why, sizeof(why));
        if (!s->down_reported || !t->follow)
            fprintf(stderr, "raftctl: %s: %s%s\n", s->ep->url, why,
                    t->follow ? "; asking again every second" : "");
        s->down_reported = true;
        s->failed = true;
        s->retry_at_ms = mono_ms() + RETRY_MS;
        cJSON_Delete(o);
        reply_clear(r);
        return;
    }
    if (s->down_reported && t->follow)
        fprintf(stderr, "raftctl: %s answers again\n", s->ep->url);
    s->down_reported = s->failed = false;
    if (s->instance[0] && strcmp(s->instance, inst) != 0 && t->follow)
        fprintf(stderr, "raftctl: %s restarted: reading its events from "
                        "its start\n", s->ep->url);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "lost")))
        fprintf(stderr, "raftctl: %s: some of its events were dropped "
                        "before they were read (it keeps the last 4096)\n",
                s->ep->url);
    snprintf(s->instance, sizeof(s->instance), "%s", inst);
    s->cursor = (uint64_t)json_number(o, "next", 0);
    s->caught_up = s->cursor >= (uint64_t)json_number(o, "last", 0);
    cJSON *ev;
    while ((ev = cJSON_DetachItemFromArray((cJSON *)evs, 0)))
        if (keep(t, ev) < 0)
            cJSON_Delete(ev);
    cJSON_Delete(o);
    reply_clear(r);
}

static bool all_done(const struct timeline *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->src[i].in_flight || !(t->src[i].caught_up || t->src[i].failed))
            return false;
    return true;
}

static long next_wakeup_ms(const struct timeline *t)
{
    uint64_t now = mono_ms();
    long wait = 1000;
    for (size_t i = 0; i < t->n; i++)
        if (!t->src[i].in_flight && t->src[i].retry_at_ms > now &&
            (long)(t->src[i].retry_at_ms - now) < wait)
            wait = (long)(t->src[i].retry_at_ms - now);
    if (t->np)
        wait = wait < HOLD_MS / 3 ? wait : HOLD_MS / 3;
    return wait;
}

static int run(struct timeline *t)
{
    struct fetcher *f = fetcher_new(t->c);
    if (!f) {
        fprintf(stderr, "raftctl: cannot start libcurl\n");
        return CTL_FAIL;
    }
    bool any_answered = false;
    for (;;) {
        uint64_t now = mono_ms();
        for (size_t i = 0; i < t->n; i++) {
            struct source *s = &t->src[i];
            if (s->in_flight || now < s->retry_at_ms)
                continue;
            if (!t->follow && (s->caught_up || s->failed))
                continue;
            request_events(f, s, t->follow && s->caught_up);
        }
        struct request *r = fetcher_next(f, next_wakeup_ms(t));
        if (r) {
            struct source *s = r->user;
            s->in_flight = false;
            take_answer(t, s);
            any_answered |= !s->failed;
        }
        if (!t->follow && all_done(t))
            break;
        if (t->follow)
            flush(t, false);
    }
    flush(t, true);
    fetcher_free(f);
    if (!any_answered) {
        fprintf(stderr, "raftctl: no member answered: is raftd running "
                        "there, and are these the right URLs?\n");
        return CTL_FAIL;
    }
    return CTL_OK;
}

int cmd_events(struct ctl *c, int argc, char **argv)
{
    static struct timeline t; /* large: not on the stack */
    memset(&t, 0, sizeof(t));
    t.c = c;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0) {
            t.follow = true;
        } else {
            fprintf(stderr, "usage: raftctl events [-f]\n");
            return CTL_USAGE;
        }
    }
    t.n = c->n_eps;
    for (size_t i = 0; i < t.n; i++)
        t.src[i].ep = &c->eps[i];
    return run(&t);
}
