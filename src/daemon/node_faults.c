/* node_faults.c - the node's side of fault injection (faults.h): requests
 * to peers that are dropped or held back on sd-event timers (never by
 * sleeping: the loop goes on meanwhile), requests from peers refused, and
 * the crash asked for. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"
#include "logging.h"
#include "node_internal.h"

/* A request to a peer that fault injection holds: dropped (its failure is
 * reported on the next loop turn, as a refused connection would be) or
 * delayed (sent when its timer fires). */
struct held {
    struct node *n;
    struct held *prev, *next;
    sd_event_source *timer;
    bool dropped;
    raft_id to;
    char *base_url, *path, *content_type, *body;
    size_t len;
    unsigned timeout_ms;
    http_client_cb cb;
    void *arg;
};

struct node_faults {
    struct faults rules;
    struct held *held;
    sd_event_source *crash_timer;
};

int node_faults_init(struct node *n, char *err, size_t errlen)
{
    n->faults = calloc(1, sizeof(*n->faults));
    if (!n->faults) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    faults_init(&n->faults->rules);
    return 0;
}

struct faults *node_faults(struct node *n)
{
    return &n->faults->rules;
}

static void held_free(struct node *n, struct held *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        n->faults->held = h->next;
    if (h->next)
        h->next->prev = h->prev;
    sd_event_source_unref(h->timer);
    free(h->base_url);
    free(h->path);
    free(h->content_type);
    free(h->body);
    free(h);
}

void node_faults_free(struct node *n)
{
    if (!n->faults)
        return;
    while (n->faults->held) {
        struct held *h = n->faults->held;
        http_client_cb cb = h->cb;
        void *arg = h->arg;
        held_free(n, h);
        cb(arg, 0, "", 0, "stopping");
    }
    sd_event_source_unref(n->faults->crash_timer);
    free(n->faults);
    n->faults = NULL;
}

static int on_held_due(sd_event_source *s, uint64_t usec, void *arg)
{
    (void)s;
    (void)usec;
    struct held *h = arg;
    struct node *n = h->n;
    http_client_cb cb = h->cb;
    void *cb_arg = h->arg;
    int rv = -1;
    if (!h->dropped && !n->closing)
        rv = node_peer_post_now(n, h->to, h->base_url, h->path,
                                h->content_type, h->body, h->len,
                                h->timeout_ms, cb, cb_arg);
    bool dropped = h->dropped;
    held_free(n, h);
    if (rv < 0)
        cb(cb_arg, 0, "", 0, dropped ? "dropped: a partition injected by an "
                                       "operator (raftctl fault heal)"
                                     : "could not send a delayed request");
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int hold(struct node *n, bool dropped, unsigned delay_ms, raft_id to,
                const char *base_url, const char *path,
                const char *content_type, const char *body, size_t len,
                unsigned timeout_ms, http_client_cb cb, void *arg)
{
    struct held *h = calloc(1, sizeof(*h));
    if (!h)
        return -1;
    *h = (struct held){.n = n, .dropped = dropped, .to = to, .len = len,
                       .timeout_ms = timeout_ms, .cb = cb, .arg = arg,
                       .next = n->faults->held};
    if (n->faults->held)
        n->faults->held->prev = h;
    n->faults->held = h;
    h->base_url = strdup(base_url);
    h->path = strdup(path);
    h->content_type = dup_or_null(content_type);
    h->body = malloc(len ? len : 1);
    if (h->body && len)
        memcpy(h->body, body, len);
    if (!h->base_url || !h->path || !h->body ||
        (content_type && !h->content_type) ||
        sd_event_add_time_relative(n->ev, &h->timer, CLOCK_MONOTONIC,
                                   (uint64_t)delay_ms * 1000u, 1000,
                                   on_held_due, h) < 0) {
        held_free(n, h);
        return -1;
    }
    return 0;
}

int node_faults_outgoing(struct node *n, raft_id to, const char *base_url,
                         const char *path, const char *content_type,
                         const char *body, size_t len, unsigned timeout_ms,
                         http_client_cb cb, void *arg)
{
    const struct faults *f = &n->faults->rules;
    if (!faults_any(f))
        return 0;
    bool drop = faults_drop_out(f, to);
    unsigned delay = drop ? 0 : faults_delay_ms(f, to);
    if (!drop && !delay)
        return 0;
    if (hold(n, drop, delay, to, base_url, path, content_type, body, len,
             timeout_ms, cb, arg) < 0)
        return -1;
    return 1;
}

bool node_faults_refuse_incoming(struct node *n, struct http_request *req,
                                 raft_id from)
{
    if (!faults_drop_in(&n->faults->rules, from))
        return false;
    char msg[300];
    snprintf(msg, sizeof(msg), "node %" PRIu64 " refuses requests from node "
             "%" PRIu64 ": a partition injected by an operator (raftctl "
             "fault heal %" PRIu64 " ends it)", n->cfg->id, from, n->cfg->id);
    http_respond_error(req, 503, msg);
    return true;
}

static int on_crash_due(sd_event_source *s, uint64_t usec, void *arg)
{
    (void)s;
    (void)usec;
    (void)arg;
    /* as kill -9 would: no leadership transfer, no flush, no cleanup (what
     * is acknowledged is on disk already: storage.h) */
    _exit(FAULTS_CRASH_EXIT);
}

int node_faults_crash_soon(struct node *n)
{
    if (n->faults->crash_timer)
        return 0;
    return sd_event_add_time_relative(n->ev, &n->faults->crash_timer,
                                      CLOCK_MONOTONIC,
                                      FAULTS_CRASH_AFTER_MS * 1000u, 1000,
                                      on_crash_due, n) < 0 ? -1 : 0;
}
