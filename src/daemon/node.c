/* node.c - drives the Raft core (src/raft) with real time, real storage and
 * HTTP, all on one sd-event loop.
 *
 * After every input to the core (a timer, a received RPC or its answer) the
 * node drains the core's ready batches through the ready loop that raft-sim
 * runs too (src/raft/driver.h): node.c supplies its operations (storage,
 * the sync thread, HTTP, the store), the driver their order. Everything that
 * arrived together shares one batch and one fdatasync (group commit). A
 * message that answers the RPC being handled becomes that HTTP request's
 * response; every other message is a POST to the peer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "node.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sysexits.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "../raft/driver.h"
#include "../raft/raft.h"
#include "admin_api.h"
#include "events_api.h"
#include "ui_api.h"
#include "http_client.h"
#include "http_server.h"
#include "logging.h"
#include "keys_api.h"
#include "kv.h"
#include "faults.h"
#include "lazy_timer.h"
#include "node_internal.h"
#include "node_metrics.h"
#include "peer_auth.h"
#include "reload.h"
#include "rpc.h"
#include "stats_api.h"

#include "storage.h"

/* Connections kept for each other member's requests (paths under /raft/)
 * beyond max_connections: up to 8 pipelined AppendEntries, votes,
 * TimeoutNow, an InstallSnapshot and the forwarded writes and reads, each
 * in flight on a connection of its own. */
#define PEER_CONNECTIONS_RESERVED 16u

struct rpc_call {
    struct node *node;
    raft_id to;   /* (its peer entry may go with a configuration change) */
    enum raft_msg_type type;
    raft_time sent_us; /* an AppendEntries' round trip (stats_api.h) */
};

/* ---- time and randomness, the core's only view of the world ---- */

static raft_time node_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (raft_time)ts.tv_sec * 1000000u + (raft_time)ts.tv_nsec / 1000u;
}

raft_time node_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (raft_time)ts.tv_sec * 1000u + (raft_time)ts.tv_nsec / 1000000u;
}

int node_add_timer(struct node *n, sd_event_source **s, unsigned ms,
                   unsigned accuracy_ms, sd_event_time_handler_t cb)
{
    uint64_t usec;
    sd_event_now(n->ev, CLOCK_MONOTONIC, &usec);
    return sd_event_add_time(n->ev, s, CLOCK_MONOTONIC, usec + ms * 1000ull,
                             accuracy_ms * 1000ull, cb, n);
}

void node_timer_again(struct node *n, sd_event_source *s, unsigned ms)
{
    uint64_t usec; /* from now, not from when it was due: no catching up
                      after a long turn of the loop */
    sd_event_now(n->ev, CLOCK_MONOTONIC, &usec);
    sd_event_source_set_time(s, usec + ms * 1000ull);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

int64_t node_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t node_random_u64(struct node *n)
{
    /* splitmix64, seeded from getrandom() */
    uint64_t z = (n->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The core's random source (raft_config.random). */
static uint64_t node_random(void *arg)
{
    return node_random_u64(arg);
}

struct peer *node_find_peer(struct node *n, raft_id id)
{
    for (unsigned i = 0; i < n->n_peers; i++)
        if (n->peers[i].id == id)
            return &n->peers[i];
    return NULL;
}

/* The three states of the seed's /status: a pre-candidate is still a
 * follower (it has not started a term). */
static const char *state_name(enum raft_role role)
{
    return role == RAFT_PRECANDIDATE ? raft_role_name(RAFT_FOLLOWER)
                                     : raft_role_name(role);
}

void node_status_line(const struct node *n, char *buf, size_t len)
{
    enum raft_role role = raft_role(n->raft);
    raft_term term = raft_current_term(n->raft);
    raft_id leader = raft_leader(n->raft);
    if (role == RAFT_LEADER)
        snprintf(buf, len, "Leader, term %" PRIu64, term);
    else if (role == RAFT_CANDIDATE)
        snprintf(buf, len, "Candidate, term %" PRIu64, term);
    else if (leader != RAFT_NONE)
        snprintf(buf, len, "Follower of node %" PRIu64 ", term %" PRIu64,
                 leader, term);
    else
        snprintf(buf, len, "Follower, no leader, term %" PRIu64, term);
}

/* STATUS= for "systemctl status" when role, term or leader change, at
 * most once a second (an election storm is not a message storm); a change
 * held back goes out at the next turn after that, which a timer brings
 * within an election timeout at most. */
#define STATUS_MIN_INTERVAL_MS 1000u

static void update_notify_status(struct node *n)
{
    char line[128];
    node_status_line(n, line, sizeof(line));
    if (strcmp(line, n->last_status) == 0)
        return;
    raft_time now = node_now_ms();
    if (n->status_sent_at && now - n->status_sent_at < STATUS_MIN_INTERVAL_MS)
        return;
    memcpy(n->last_status, line, sizeof(line));
    n->status_sent_at = now;
    sd_notifyf(0, "STATUS=%s", line);
}

/* ---- logging the core's notes ---- */

static void log_note(struct node *n, const struct raft_note *note)
{
    const char *pv = note->prevote ? "pre-vote" : "vote";
    char text[160];
    int prio = LOG_INFO;
    if (note->type == RAFT_NOTE_DIVERGED) { /* an error, rate-limited */
        divergence_log_note(&n->divergence, note, state_name(note->role),
                            node_now_ms());
        return;
    }
    switch (note->type) {
    case RAFT_NOTE_ELECTION_TIMEOUT:
        snprintf(text, sizeof(text), "no leader heard from in time");
        break;
    case RAFT_NOTE_PREVOTE_STARTED:
        snprintf(text, sizeof(text), "asking for pre-votes for term %" PRIu64,
                 note->term + 1);
        break;
    case RAFT_NOTE_PREVOTE_FAILED:
        snprintf(text, sizeof(text), "pre-vote failed: %s",
                 note->reason ? note->reason : "no majority");
        break;
    case RAFT_NOTE_ELECTION_STARTED:
        prio = LOG_NOTICE;
        snprintf(text, sizeof(text), "starting election for term %" PRIu64 "%s%s",
                 note->term, note->reason ? ": " : "",
                 note->reason ? note->reason : "");
        break;
    case RAFT_NOTE_VOTE_GRANTED:
        snprintf(text, sizeof(text), "granted %s to node %" PRIu64, pv, note->peer);
        break;
    case RAFT_NOTE_VOTE_DENIED:
        snprintf(text, sizeof(text), "denied %s to node %" PRIu64 ": %s", pv,
                 note->peer, note->reason ? note->reason : "");
        break;
    case RAFT_NOTE_VOTE_RECEIVED:
        snprintf(text, sizeof(text), "received %s from node %" PRIu64, pv, note->peer);
        break;
    case RAFT_NOTE_BECAME_LEADER:
        prio = LOG_NOTICE;
        snprintf(text, sizeof(text), "became leader for term %" PRIu64, note->term);
        break;
    case RAFT_NOTE_BECAME_FOLLOWER:
        snprintf(text, sizeof(text), "became follower in term %" PRIu64, note->term);
        break;
    case RAFT_NOTE_BECAME_CANDIDATE:
        snprintf(text, sizeof(text), "became candidate for term %" PRIu64, note->term);
        break;
    case RAFT_NOTE_LEADER_CHANGED:
        prio = LOG_NOTICE;
        if (note->leader == RAFT_NONE)
            snprintf(text, sizeof(text), "leader unknown");
        else if (note->leader == raft_self(n->raft))
            snprintf(text, sizeof(text), "this node is the leader");
        else
            snprintf(text, sizeof(text), "leader is node %" PRIu64, note->leader);
        break;
    case RAFT_NOTE_STEPPED_DOWN:
        prio = LOG_NOTICE;
        snprintf(text, sizeof(text), "stepped down as leader: %s",
                 note->reason ? note->reason : "");
        break;
    case RAFT_NOTE_TERM_CHANGED:
        prio = LOG_DEBUG;
        snprintf(text, sizeof(text), "term is now %" PRIu64, note->term);
        break;
    case RAFT_NOTE_TRANSFER_STARTED:
        prio = LOG_NOTICE;
        snprintf(text, sizeof(text), "handing leadership to node %" PRIu64, note->peer);
        break;
    case RAFT_NOTE_TRANSFER_DONE:
        prio = LOG_NOTICE;
        snprintf(text, sizeof(text), "leadership transferred to node %" PRIu64, note->peer);
        break;
    case RAFT_NOTE_TRANSFER_ABORTED:
        prio = LOG_WARNING;
        snprintf(text, sizeof(text), "leadership transfer to node %" PRIu64 " aborted",
                 note->peer);
        break;
    case RAFT_NOTE_LOG_TRUNCATED:
        prio = LOG_NOTICE;
        snprintf(text, sizeof(text),
                 "removed conflicting log entries from index %" PRIu64, note->index);
        break;
    case RAFT_NOTE_CATCHING_UP:
        snprintf(text, sizeof(text), "catching up node %" PRIu64 " from index %" PRIu64,
                 note->peer, note->index);
        break;
    case RAFT_NOTE_FOLLOWER_CAUGHT_UP:
        snprintf(text, sizeof(text), "node %" PRIu64 " is up to date at index %" PRIu64,
                 note->peer, note->index);
        break;
    case RAFT_NOTE_SNAPSHOT_SENT: /* the transport logs it with its size */
        prio = LOG_DEBUG;
        snprintf(text, sizeof(text), "node %" PRIu64 " needs the snapshot (at "
                 "index %" PRIu64 ")", note->peer, note->index);
        break;
    case RAFT_NOTE_SNAPSHOT_INSTALLED:
        prio = LOG_NOTICE;
        snprintf(text, sizeof(text), "installing the leader's snapshot at "
                 "index %" PRIu64, note->index);
        break;
    case RAFT_NOTE_SNAPSHOT_FAILED:
        prio = LOG_WARNING;
        snprintf(text, sizeof(text), "node %" PRIu64 " did not answer the "
                 "snapshot at index %" PRIu64 " in time; will retry",
                 note->peer, note->index);
        break;
    case RAFT_NOTE_CONFIGURATION:
        n->conf_dirty = true; /* the peers table follows (node_process) */
        prio = LOG_DEBUG;
        snprintf(text, sizeof(text), "the configuration of entry %" PRIu64
                 " is in effect", note->index);
        break;
    case RAFT_NOTE_LEARNER_CAUGHT_UP:
        snprintf(text, sizeof(text), "learner node %" PRIu64 " caught up "
                 "(index %" PRIu64 "): it can be promoted", note->peer,
                 note->index);
        break;
    case RAFT_NOTE_REMOVED:
        prio = LOG_WARNING;
        snprintf(text, sizeof(text), "this node is no longer a member (the "
                 "configuration of entry %" PRIu64 " is committed): it takes "
                 "no further part; stop it, or add it back to the members "
                 "list and reload", note->index);
        break;
    case RAFT_NOTE_LEADER_GONE:
        prio = LOG_NOTICE;
        snprintf(text, sizeof(text), "leader node %" PRIu64 " is gone (%s): "
                 "electing a new one without waiting for the election timeout",
                 note->peer, note->reason ? note->reason : "");
        break;
    default:
        prio = LOG_DEBUG;
        snprintf(text, sizeof(text), "%s", raft_note_name(note->type));
        break;
    }
    struct log_raft f = {
        .event = raft_note_name(note->type),
        .term = note->term,
        .state = state_name(note->role),
        .leader = note->leader,
        .peer = note->peer,
        .index = note->index,
    };
    log_raft(prio, &f, "%s", text);
}

/* ---- sending ---- */



static void send_request(struct node *n, const struct raft_msg *m);

/* The core asked for a newer snapshot while one was on its way, and still
 * waits for that one's answer (the answer to the older one shows the
 * follower behind it): send it now, or the follower would wait for
 * snapshot_timeout_ms (30 s). raft-sim cannot see this: its transport
 * sends every message. */
static void send_wanted_snapshot(struct node *n, struct peer *p, bool resend)
{
    if (resend && !n->closing && raft_sending_snapshot(n->raft, p->id))
        send_request(n, &p->snapshot_msg);
}

static void on_rpc_done(void *arg, long status, const char *body, size_t len,
                        const char *err)
{
    struct rpc_call *call = arg;
    struct node *n = call->node;
    struct peer *p = node_find_peer(n, call->to);
    if (!p) { /* no longer a member */
        free(call);
        return;
    }
    p->pending--;
    if (call->type == RAFT_MSG_APPEND && !n->closing)
        stats_append_answered(p->id, node_now_us() - call->sent_us,
                              status >= 200 && status < 300);
    bool resend = false;
    if (call->type == RAFT_MSG_SNAPSHOT) {
        p->sending_snapshot = false;
        resend = p->snapshot_wanted && status >= 200 && status < 300;
        p->snapshot_wanted = false; /* (after a failure the core retries) */
    }
    if (status == 0 || status >= 300) {
        if (!n->closing)
            node_metrics_rpc_failed(p->id);
        const char *why = err ? err : "bad answer";
        if ((!p->unreachable || strncmp(p->unreachable_why, why,
                                        sizeof(p->unreachable_why) - 1)) &&
            !n->closing) /* a new outage, or a new reason (a peer that
                            came up with a certificate we refuse) */
            log_msg(LOG_WARNING, "node %" PRIu64 " (%s) is unreachable: %s",
                    p->id, p->url, why);
        snprintf(p->unreachable_why, sizeof(p->unreachable_why), "%s", why);
        p->unreachable = true;
        if (!n->closing && (call->type == RAFT_MSG_APPEND ||
                            call->type == RAFT_MSG_SNAPSHOT))
            raft_report_unreachable(n->raft, p->id);
        if (status == 413 && call->type == RAFT_MSG_SNAPSHOT)
            log_msg(LOG_ERR, "node %" PRIu64 " refused our snapshot as too "
                    "large: raise max_snapshot_bytes in its config above the "
                    "size of %s/snapshot", p->id, n->cfg->data_dir);
        else if (status >= 300)
            log_msg(LOG_DEBUG, "node %" PRIu64 " answered %ld: %.200s", p->id,
                    status, body);
        free(call);
        return;
    }
    if (p->unreachable)
        log_msg(LOG_INFO, "node %" PRIu64 " (%s) is reachable again", p->id, p->url);
    p->unreachable = false;
    enum raft_msg_type resp_type = rpc_response_type(call->type);
    free(call);
    if (status != 200 || !resp_type || n->closing) {
        send_wanted_snapshot(n, p, resend);
        return; /* 204: nothing to say */
    }
    struct raft_msg m;
    char err2[160];
    if (rpc_decode(resp_type, body, len, &m, err2, sizeof(err2)) < 0) {
        log_msg(LOG_WARNING, "node %" PRIu64 " sent a bad answer: %s", p->id, err2);
        send_wanted_snapshot(n, p, resend);
        return;
    }
    if (raft_receive(n->raft, node_now_ms(), &m) < 0)
        log_msg(LOG_DEBUG, "ignored an invalid answer from node %" PRIu64, p->id);
    send_wanted_snapshot(n, p, resend);
    node_schedule(n);
}

static void send_request(struct node *n, const struct raft_msg *m)
{
    struct peer *p = node_find_peer(n, m->to);
    const char *path = rpc_path(m->type);
    if (!p || !path)
        return;
    if (p->pending >= MAX_PENDING_PER_PEER)
        return; /* dropped, like a lost packet */
    bool snap = m->type == RAFT_MSG_SNAPSHOT;
    if (snap && p->sending_snapshot) { /* sent once that one is answered */
        p->snapshot_wanted = true;
        p->snapshot_msg = *m;
        return;
    }
    size_t len;
    char *body = snap ? snap_request_body(n, m, &len) : rpc_encode(m, &len);
    struct rpc_call *call = malloc(sizeof(*call));
    if (body && call) {
        *call = (struct rpc_call){.node = n, .to = p->id, .type = m->type,
                                  .sent_us = node_now_us()};
        if (node_peer_post(n, p->id, p->url, path,
                           snap ? "application/octet-stream"
                                : "application/json",
                           body, len,
                           snap ? SNAPSHOT_RPC_TIMEOUT_MS
                                : n->cfg->rpc_timeout_ms,
                           on_rpc_done, call) == 0) {
            p->pending++;
            p->sending_snapshot |= snap;
            node_metrics_rpc_sent(m->type);
            if (m->type == RAFT_MSG_APPEND)
                stats_append_sent(len);
            call = NULL;
        }
    }
    free(call);
    free(body);
}

static void incoming_free(struct node *n, struct incoming *in)
{
    if (in->parked)
        rpc_msg_free(&in->msg);
    if (in->prev)
        in->prev->next = in->next;
    else
        n->incoming = in->next;
    if (in->next)
        in->next->prev = in->prev;
    free(in);
}

static struct incoming *find_incoming(struct node *n, uint64_t ctx)
{
    for (struct incoming *in = n->incoming; in; in = in->next)
        if (in->ctx == ctx)
            return in;
    return NULL;
}

/* An answer goes to the held-open request it answers; requests to peers. */
static void send_message(struct node *n, const struct raft_msg *m)
{
    if (rpc_path(m->type)) {
        send_request(n, m);
        return;
    }
    struct incoming *in = find_incoming(n, m->ctx);
    if (!in)
        return; /* the peer went away meanwhile: nothing to do */
    size_t len;
    char *body = rpc_encode(m, &len);
    if (body)
        http_respond(in->req, 200, "application/json", body, len);
    else
        http_respond_error(in->req, 500, "out of memory");
    free(body);
    incoming_free(n, in);
}

/* Requests the core has seen without answering (e.g. a stale message). */
static void answer_unanswered(struct node *n)
{
    for (struct incoming *in = n->incoming, *next; in; in = next) {
        next = in->next;
        if (in->in_ready && !in->parked && !in->held) {
            http_respond(in->req, 204, NULL, NULL, 0);
            incoming_free(n, in);
        }
    }
}

/* Stop: nothing more is written, answered or applied (n->failed). */
static void fatal_storage(struct node *n, const char *err)
{
    n->failed = true;
    log_msg(LOG_ERR, "storage failure, stopping to protect the data: %s", err);
    sd_notifyf(0, "STATUS=storage failure: %s", err);
    sd_event_exit(n->ev, EX_IOERR);
}

static void on_synced(void *arg, int err, uint64_t usec)
{
    struct node *n = arg;
    if (err) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: fdatasync of the log failed: %s",
                 n->cfg->data_dir, strerror(err));
        fatal_storage(n, msg);
        driver_synced(n->driver, false);
        return;
    }
    storage_note_sync(n->storage, usec);
    driver_synced(n->driver, true); /* held answers go, the next sync starts */
    node_schedule(n);
}

/* Apply a committed entry to the key-value store; a proposal waiting for
 * it gets the store's answer. */
static void apply_entry(struct node *n, raft_index index,
                        const struct raft_entry *e)
{
    n->applied_bytes += e->len;
    if (e->type != RAFT_ENTRY_NORMAL) {
        if (e->type == RAFT_ENTRY_CONFIG)
            members_on_applied(n, index, e);
        ops_on_applied(n, index, e->term, NULL);
        return;
    }
    struct dedup_ident id;
    const struct kv_result *first = NULL;
    size_t hl;
    struct kv_result res;
    if (dedup_parse(e->data, e->len, &id, &hl) < 0) {
        kv_apply(n->kv, e->data, e->len, &res);
    } else {
        switch (dedup_begin(n->dedup, &id, &first)) {
        case DEDUP_DONE: /* a retried request: answer as the first time */
            ops_on_applied(n, index, e->term, first);
            return;
        case DEDUP_STALE:
            /* A late copy of a request its origin is done with (or of a
             * closed session): not applied. Nobody waits for this answer. */
            kv_error(KV_E_RAFT_INTERNAL, "stale copy of a finished request",
                     kv_index(n->kv), &res);
            break;
        case DEDUP_NEW:
            kv_apply(n->kv, e->data + hl, e->len - hl, &res);
            dedup_remember(n->dedup, &id, &res);
            break;
        }
    }
    ops_on_applied(n, index, e->term, &res);
    free(res.body);
}

static raft_time parked_deadline(const struct node *n, raft_time t);

/* The commit hint (a lower bound, unsynced) is written after the answers
 * have left: it is not worth their wait. */
static void save_commit_hint(struct node *n)
{
    if (n->commit_hint > n->saved_commit && n->storage && !n->failed) {
        storage_save_commit(n->storage, n->commit_hint);
        n->saved_commit = n->commit_hint;
    }
}

static void rearm_timer(struct node *n)
{
    raft_time deadline = parked_deadline(n, raft_deadline(n->raft));
    raft_time now = node_now_ms();
    uint64_t usec;
    sd_event_now(n->ev, CLOCK_MONOTONIC, &usec);
    uint64_t wait_ms = deadline > now ? deadline - now : 0;
    /* by, not at: the deadline moves later with every batch under load
     * (lazy_timer.h); raft_tick() ignores an early tick */
    lazy_timer_by(n->timer, usec + wait_ms * 1000);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *arg);

/* Exit the loop shortly, so that answers already queued (such as our vote
 * for the node that takes over) still reach the wire. */
static void finish_stop(struct node *n)
{
    uint64_t usec;
    if (n->stop_timer && n->stop_grace)
        return;
    n->stop_grace = true;
    sd_event_source_unref(n->stop_timer);
    n->stop_timer = NULL;
    sd_event_now(n->ev, CLOCK_MONOTONIC, &usec);
    if (sd_event_add_time(n->ev, &n->stop_timer, CLOCK_MONOTONIC,
                          usec + 50 * 1000, 1000, on_stop_timeout, n) < 0)
        sd_event_exit(n->ev, 0);
}

/* ---- the driver's operations (src/raft/driver.h) ----
 *
 * The ready loop itself is the driver's, shared with raft-sim; these do its
 * I/O: storage.c writes and syncs, syncer.c syncs in the background, HTTP
 * carries messages (an answer becomes the response of the request held
 * open for it), the store applies, ops.c serves reads. A failed operation
 * stops the node (fatal_storage), and the driver with it. */

static bool drv_begin(void *arg, const struct raft_ready *rd)
{
    (void)rd;
    struct node *n = arg;
    for (struct incoming *in = n->incoming; in; in = in->next)
        in->in_ready = !in->parked; /* answered by this batch, or 204 */
    return true;
}

static int drv_install_snapshot(void *arg, const struct raft_ready *rd)
{
    struct node *n = arg;
    char err[512];
    if (snap_install(n, rd, err, sizeof(err)) < 0) {
        fatal_storage(n, err);
        return -1;
    }
    return 0;
}

static int drv_write(void *arg, const struct raft_ready *rd)
{
    struct node *n = arg;
    char err[512];
    if ((rd->hard_state_changed &&
         storage_save_hard_state(n->storage, &rd->hard_state, err,
                                 sizeof(err)) < 0) ||
        (rd->n_entries &&
         storage_append(n->storage, rd->entries_first, rd->entries,
                        rd->n_entries, err, sizeof(err)) < 0)) {
        fatal_storage(n, err);
        return -1;
    }
    return 0;
}

static int drv_sync(void *arg)
{
    struct node *n = arg;
    char err[512];
    if (storage_sync(n->storage, err, sizeof(err)) < 0) {
        fatal_storage(n, err);
        return -1;
    }
    return 0;
}

/* Hand what was written so far to the sync thread (on_synced when done). */
static int drv_sync_start(void *arg)
{
    struct node *n = arg;
    int fds[SYNCER_MAX_FDS];
    bool is_dir[SYNCER_MAX_FDS];
    unsigned count = 0;
    char err[512];
    if (storage_sync_take(n->storage, fds, is_dir, SYNCER_MAX_FDS, &count,
                          err, sizeof(err)) < 0) {
        fatal_storage(n, err);
        return -1;
    }
    if (syncer_start(n->syncer, fds, is_dir, count) < 0) {
        fatal_storage(n, "the sync thread refused a job");
        return -1;
    }
    return 0;
}

/* Block until the sync thread is done: on_synced() runs from inside. */
static int drv_sync_wait(void *arg)
{
    struct node *n = arg;
    syncer_wait(n->syncer);
    return 0;
}

/* Nothing to overlap a sync with (no I/O waiting): then syncing at once
 * answers sooner than handing the sync to the thread and hearing back. */
static bool drv_sync_now(void *arg)
{
    struct node *n = arg;
    struct pollfd p = {.fd = sd_event_get_fd(n->ev), .events = POLLIN};
    return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

static void drv_send(void *arg, const struct raft_msg *m)
{
    send_message(arg, m);
}

/* The answer waits in the driver; its request stays open (no 204). */
static void drv_hold(void *arg, const struct raft_msg *m)
{
    struct incoming *in = find_incoming(arg, m->ctx);
    if (in)
        in->held = true;
}

static void drv_flush(void *arg)
{
    struct node *n = arg;
    http_client_flush(n->client);
}

static void drv_apply(void *arg, raft_index first, const struct raft_entry *e,
                      size_t count)
{
    for (size_t i = 0; i < count; i++)
        apply_entry(arg, first + i, &e[i]);
}

static void drv_reads(void *arg, const struct raft_read *reads, size_t count)
{
    ops_on_reads(arg, reads, count);
}

static void drv_notes(void *arg, const struct raft_note *notes, size_t count)
{
    for (size_t i = 0; i < count; i++)
        log_note(arg, &notes[i]);
}

static void drv_advanced(void *arg, const struct raft_ready *rd, bool durable)
{
    (void)durable;
    struct node *n = arg;
    raft_index on_disk = driver_durable_index(n->driver);
    raft_index hint = rd->hard_state.commit < on_disk ? rd->hard_state.commit
                                                      : on_disk;
    if (hint > n->commit_hint) /* only what is on disk here */
        n->commit_hint = hint; /* written by save_commit_hint() */
    answer_unanswered(n);
    snap_maybe_take(n);
}

static const struct driver_ops node_driver_ops = {
    .begin = drv_begin,
    .install_snapshot = drv_install_snapshot,
    .write = drv_write,
    .sync = drv_sync,
    .sync_start = drv_sync_start,
    .sync_wait = drv_sync_wait,
    .sync_now = drv_sync_now,
    .send = drv_send,
    .hold = drv_hold,
    .flush = drv_flush,
    .apply = drv_apply,
    .reads = drv_reads,
    .notes = drv_notes,
    .advanced = drv_advanced,
};

/* Deliver parked AppendEntries whose turn has come, lowest prev first. */
static void deliver_parked(struct node *n)
{
    raft_time now = node_now_ms();
    for (;;) {
        struct incoming *best = NULL;
        for (struct incoming *in = n->incoming; in; in = in->next)
            if (in->parked && (!best || in->msg.prev_index < best->msg.prev_index))
                best = in;
        if (!best || (best->msg.prev_index > raft_last_index(n->raft) &&
                      now < best->park_deadline &&
                      best->msg.term == raft_current_term(n->raft)))
            return;
        best->parked = false;
        raft_receive(n->raft, now, &best->msg);
        rpc_msg_free(&best->msg);
    }
}

/* Hold an AppendEntries from the current leader that skips entries we have
 * not received yet: the batch before it is most likely still on its way. */
static bool park_if_early(struct node *n, struct incoming *in,
                          const struct raft_msg *m)
{
    if (m->type != RAFT_MSG_APPEND || m->term != raft_current_term(n->raft) ||
        m->from != raft_leader(n->raft) ||
        m->prev_index <= raft_last_index(n->raft))
        return false;
    unsigned wait = n->cfg->heartbeat_ms / 2 ? n->cfg->heartbeat_ms / 2 : 1;
    in->parked = true;
    in->msg = *m;
    in->park_deadline = node_now_ms() + wait;
    return true;
}

static raft_time parked_deadline(const struct node *n, raft_time t)
{
    for (const struct incoming *in = n->incoming; in; in = in->next)
        if (in->parked && in->park_deadline < t)
            t = in->park_deadline;
    return t;
}

static int on_process_defer(sd_event_source *s, void *arg)
{
    (void)s;
    node_process(arg);
    return 0;
}

void node_schedule(struct node *n)
{
    if (!n->closing && !n->failed)
        sd_event_source_set_enabled(n->process_defer, SD_EVENT_ONESHOT);
}

void node_process(struct node *n)
{
    if (n->processing || n->closing || n->failed)
        return;
    n->processing = true;
    for (int rounds = 0; rounds < 1000; rounds++) {
        deliver_parked(n);
        if (!raft_has_ready(n->raft)) {
            ops_on_progress(n); /* may propose or read: then go again */
            if (!raft_has_ready(n->raft))
                break;
        }
        /* (the daemon's operations block: a batch is never left waiting) */
        if (driver_step(n->driver) == DRIVER_FAILED) {
            n->failed = true;
            break;
        }
    }
    n->processing = false;
    if (n->conf_dirty) {
        n->conf_dirty = false;
        members_sync_peers(n);
    }
    members_check_joined(n);
    members_reconcile(n);
    members_forward(n);
    update_notify_status(n);
    rearm_timer(n);
    if (n->stopping && raft_role(n->raft) != RAFT_LEADER)
        finish_stop(n);
    /* Answers (to clients, to peers) go out now rather than one and two
     * loop turns later, each of which costs a wake-up. */
    if (!n->closing && !n->failed) {
        ops_deliver_finished(n);
        http_server_flush(n->http);
    }
    save_commit_hint(n);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *arg)
{
    (void)s;
    (void)usec;
    struct node *n = arg;
    raft_tick(n->raft, node_now_ms());
    node_process(n);
    return 0;
}

/* ---- HTTP: peer RPCs and /status ---- */

static cJSON *id_or_null(raft_id id)
{
    return id == RAFT_NONE ? cJSON_CreateNull() : cJSON_CreateNumber((double)id);
}

static void handle_status(struct node *n, struct http_request *req)
{
    struct raft *r = n->raft;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)raft_self(r));
    cJSON_AddStringToObject(o, "state", state_name(raft_role(r)));
    cJSON_AddNumberToObject(o, "term", (double)raft_current_term(r));
    cJSON_AddItemToObject(o, "voted_for", id_or_null(raft_voted_for(r)));
    cJSON_AddItemToObject(o, "leader_id", id_or_null(raft_leader(r)));
    char cluster[17];
    snprintf(cluster, sizeof(cluster), "%016" PRIx64, n->cluster_id);
    cJSON_AddStringToObject(o, "cluster_id", cluster);
    cJSON_AddStringToObject(o, "peer_auth",
                            node_peers_authenticated(n) ? "hmac" : "none");
    cJSON_AddBoolToObject(o, "prevote_in_progress",
                          raft_role(r) == RAFT_PRECANDIDATE);
    cJSON_AddNumberToObject(o, "commit_index", (double)raft_commit_index(r));
    cJSON_AddNumberToObject(o, "applied_index", (double)raft_applied_index(r));
    cJSON_AddNumberToObject(o, "last_log_index", (double)raft_last_index(r));
    cJSON_AddNumberToObject(o, "last_log_term", (double)raft_last_term(r));
    cJSON_AddNumberToObject(o, "first_log_index",
                            (double)(raft_snapshot_index(r) + 1));
    cJSON_AddNumberToObject(o, "snapshot_index", (double)n->snap.index);
    cJSON_AddNumberToObject(o, "snapshot_term", (double)n->snap.term);
    cJSON_AddNumberToObject(o, "snapshot_bytes",
                            n->snap.index ? (double)(n->snap.length +
                                                     SNAPFILE_HEADER)
                                          : 0);
    members_status(n, o);
    struct storage_stats st;
    storage_stats(n->storage, &st);
    cJSON *js = cJSON_AddObjectToObject(o, "storage");
    cJSON_AddNumberToObject(js, "syncs", (double)st.syncs);
    cJSON_AddNumberToObject(js, "sync_avg_us",
                            st.syncs ? (double)(st.sync_us_total / st.syncs) : 0);
    cJSON_AddNumberToObject(js, "sync_max_us", (double)st.sync_us_max);
    cJSON_AddNumberToObject(js, "wal_segments", (double)st.segments);
    cJSON_AddNumberToObject(js, "wal_first_index", (double)st.first_index);
    cJSON_AddItemToObject(o, "diverged", divergence_json(r));
    cJSON_AddItemToObject(o, "settings", reload_settings_json(n->cfg));
    cJSON_AddBoolToObject(o, "fault_injection", n->cfg->fault_injection);
    cJSON_AddItemToObject(o, "faults", faults_json(node_faults(n)));
    api_respond_json(req, 200, o);
}

static void on_incoming_abort(struct http_request *req, void *arg)
{
    (void)req;
    struct incoming *in = arg;
    incoming_free(in->node, in);
}

static void handle_rpc(struct node *n, struct http_request *req,
                       enum raft_msg_type type)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    struct raft_msg m;
    char err[200];
    if (rpc_decode(type, body, len, &m, err, sizeof(err)) < 0) {
        http_respond_error(req, 400, err);
        return;
    }
    if (type == RAFT_MSG_APPEND)
        stats_append_received(len);
    node_deliver_rpc(n, req, &m);
}

void node_deliver_rpc(struct node *n, struct http_request *req,
                      struct raft_msg *mp)
{
    struct raft_msg m = *mp;
    char err[200];
    if (m.to != raft_self(n->raft)) {
        snprintf(err, sizeof(err),
                 "this is node %" PRIu64 ", not node %" PRIu64
                 ": the members lists in the nodes' configs disagree",
                 raft_self(n->raft), m.to);
        rpc_msg_free(&m);
        http_respond_error(req, 409, err);
        return;
    }
    raft_id sender = node_peer_sender(req);
    if (m.from != sender) { /* (node_peer_admit() judged the sender) */
        snprintf(err, sizeof(err), "the message claims to come from node %"
                 PRIu64 ", but node %" PRIu64 " sent it", m.from, sender);
        rpc_msg_free(&m);
        http_respond_error(req, 403, err);
        return;
    }
    struct incoming *in = calloc(1, sizeof(*in));
    if (!in) {
        rpc_msg_free(&m);
        http_respond_error(req, 500, "out of memory");
        return;
    }
    m.ctx = in->ctx = ++n->next_ctx;
    if (!park_if_early(n, in, &m)) { /* parked: in->msg owns the entries */
        int rv = raft_receive(n->raft, node_now_ms(), &m);
        rpc_msg_free(&m);
        if (rv < 0) {
            free(in);
            http_respond_error(req, 400, "invalid message");
            return;
        }
    }
    /* held open until the answer is durable (driver.h) */
    in->node = n;
    in->req = req;
    in->next = n->incoming;
    if (n->incoming)
        n->incoming->prev = in;
    n->incoming = in;
    http_request_on_abort(req, on_incoming_abort, in);
    node_schedule(n);
}

static bool handle_forwarded(struct node *n, struct http_request *req,
                             const char *path)
{
    bool propose = strcmp(path, "/raft/propose") == 0;
    if (!propose && strcmp(path, "/raft/read_index") != 0)
        return false;
    if (strcmp(http_request_method(req), "POST") != 0) {
        http_response_header(req, "Allow", "POST");
        http_respond_error(req, 405, "use POST");
    } else if (propose) {
        ops_handle_propose(n, req);
    } else {
        ops_handle_read_index(n, req);
    }
    return true;
}

static void handle_request(struct http_request *req, void *arg)
{
    struct node *n = arg;
    const char *method = http_request_method(req);
    const char *path = http_request_path(req);
    /* Only the cluster's members may speak Raft to this node. */
    bool peer = peer_auth_path_index(path) >= 0;
    char why[700];
    if (peer && !node_peer_admit(n, req))
        return;
    if (!peer && node_tls_admit(n, req, false, why, sizeof(why)) < 0) {
        http_respond_error(req, 403, why);
        return;
    }
    if (strcmp(path, "/raft/reconfigure") == 0) {
        members_handle_reconfigure(n, req);
        return;
    }
    if (events_api_handle(n->events, req) || admin_api_handle(n, req) ||
        ui_api_handle(n, req) || stats_api_handle(n, req))
        return;
    if (handle_forwarded(n, req, path) || keys_api_handle(n, req))
        return;
    if (strcmp(path, rpc_path(RAFT_MSG_SNAPSHOT)) == 0) {
        snap_handle_install(n, req);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        node_metrics_handle(n, req);
        return;
    }
    enum raft_msg_type type = rpc_type_for_path(path);
    bool is_status = strcmp(path, "/status") == 0;
    if (!type && !is_status) {
        http_respond_error(req, 404, "no such resource");
        return;
    }
    const char *want = type ? "POST" : "GET";
    if (strcmp(method, want) != 0 && !(is_status && !strcmp(method, "HEAD"))) {
        http_response_header(req, "Allow", type ? "POST" : "GET, HEAD");
        http_respond_error(req, 405, type ? "use POST" : "use GET");
        return;
    }
    if (is_status)
        handle_status(n, req);
    else
        handle_rpc(n, req, type);
}

/* ---- lifecycle ---- */

static int restore(struct node *n, struct storage_loaded *l, char *err,
                   size_t errlen)
{
    if (snap_load_at_start(n, l, err, errlen) < 0)
        return -1;
    int rv = raft_restore(n->raft, &l->hs, l->first_index, l->snapshot_term,
                          l->entries, l->n_entries);
    if (rv < 0) {
        snprintf(err, errlen, "cannot restore state: %s", raft_strerror(rv));
        return -1;
    }
    n->saved_commit = n->commit_hint = l->hs.commit;
    if (l->repaired[0])
        log_msg(LOG_WARNING, "%s", l->repaired);
    log_raft(LOG_INFO,
             &(struct log_raft){.event = "recovered", .term = l->hs.term,
                                .index = raft_last_index(n->raft)},
             "recovered from %s: term %" PRIu64 ", voted for %" PRIu64
             ", snapshot up to %" PRIu64 " (%zu keys), log %" PRIu64 "..%"
             PRIu64 ", committed up to %" PRIu64,
             n->cfg->data_dir, l->hs.term, l->hs.vote, l->snapshot_index,
             kv_count(n->kv), l->first_index, raft_last_index(n->raft),
             raft_commit_index(n->raft));
    return 0;
}

/* An IP literal other than the wildcard: outgoing RPCs then leave from the
 * address the node listens on. */
static bool is_specific_ip(const char *host)
{
    struct in6_addr a6;
    struct in_addr a4;
    if (!host)
        return false;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return a4.s_addr != htonl(INADDR_ANY);
    return inet_pton(AF_INET6, host, &a6) == 1 &&
           !IN6_IS_ADDR_UNSPECIFIED(&a6);
}

struct node *node_new(sd_event *ev, const struct raftd_config *cfg, char *err,
                      size_t errlen)
{
    struct node *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->ev = sd_event_ref(ev);
    n->cfg = cfg;
    if (getrandom(&n->rng, sizeof(n->rng), 0) != sizeof(n->rng))
        n->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    n->events = events_api_new(ev, cfg->id, 0); /* before the first event */
    if (!n->events) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }

    struct raft_config rc;
    memset(&rc, 0, sizeof(rc));
    raft_config_defaults(&rc);
    rc.id = cfg->id;
    rc.n_members = cfg->n_members; /* until members_open() */
    for (unsigned i = 0; i < cfg->n_members; i++)
        rc.members[i] = cfg->members[i].id;
    rc.heartbeat_ms = cfg->heartbeat_ms;
    rc.election_timeout_min_ms = cfg->election_timeout_min_ms;
    rc.election_timeout_max_ms = cfg->election_timeout_max_ms;
    rc.max_bytes_per_msg = node_max_entry_bytes(cfg);
    rc.prevote = cfg->prevote;
    rc.check_quorum = cfg->check_quorum;
    rc.fast_first_election = true;
    rc.random = node_random;
    rc.random_arg = n;
    rc.snapshot_timeout_ms = SNAPSHOT_RPC_TIMEOUT_MS + 1000;
    const char *why = NULL;
    n->raft = raft_new(&rc, &why);
    if (!n->raft) {
        snprintf(err, errlen, "invalid Raft configuration: %s", why);
        goto error;
    }

    n->kv = kv_new();
    n->dedup = dedup_new();
    if (!n->kv || !n->dedup || ops_init(n) < 0 || node_metrics_init() < 0 ||
        stats_api_start() < 0) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    n->syncer = syncer_new(ev, on_synced, n);
    if (!n->syncer) {
        snprintf(err, errlen, "cannot start the sync thread: %s", strerror(errno));
        goto error;
    }
    struct storage_loaded loaded;
    if (storage_open(&n->storage, cfg->data_dir, &loaded, err, errlen) < 0)
        goto error;
    storage_set_segment_max(n->storage, cfg->wal_segment_bytes);
    storage_on_sync(n->storage, node_metrics_fsync, NULL);
    int rv = members_open(n, &loaded, err, errlen);
    if (rv == 0)
        rv = node_peers_init(n, err, errlen);
    if (rv == 0)
        rv = node_faults_init(n, err, errlen);
    if (rv == 0)
        rv = restore(n, &loaded, err, errlen); /* snapshot into kv first */
    storage_loaded_free(&loaded);
    if (rv < 0)
        goto error;
    /* storage_open synced everything it loaded */
    n->start_commit = raft_commit_index(n->raft);
    raft_configuration_at(n->raft, raft_applied_index(n->raft),
                          &n->applied_conf);
    members_sync_peers(n);
    members_report_file(n);
    n->driver = driver_new(n->raft, &node_driver_ops, n);
    if (!n->driver) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    n->client = http_client_new(ev);
    if (!n->client) {
        snprintf(err, errlen, "cannot start the HTTP client");
        goto error;
    }
    if (is_specific_ip(cfg->listen_host))
        http_client_set_source(n->client, cfg->listen_host);
    struct http_server_tls tls;
    err[0] = 0;
    const struct http_server_tls *serve_tls = node_tls_start(n, &tls, err,
                                                             errlen);
    if (!serve_tls && err[0])
        goto error;
    struct http_server_limits limits = {
        .conn_limit = cfg->max_connections,
        .peer_reserve = PEER_CONNECTIONS_RESERVED * (cfg->n_members - 1),
        .peer_prefix = "/raft/",
        .conn_limit_setting = "max_connections",
        .large_body_path = rpc_path(RAFT_MSG_SNAPSHOT),
        .large_max_body = cfg->max_snapshot_bytes + 4096, /* + JSON line */
        .max_body_setting = "max_request_bytes",
        .large_max_body_setting = "max_snapshot_bytes, plus 4096",
        .tls = serve_tls,
    };
    n->http = http_server_new_ex(ev, cfg->listen_host, cfg->listen_port,
                                 cfg->max_request_bytes, &limits,
                                 handle_request, n, err, errlen);
    if (!n->http)
        goto error;
    http_server_set_early_check(n->http, node_peer_check_head, n);
    http_server_on_peer_closed(n->http, node_probe_peer_closed, n);
    if (sd_event_add_time(ev, &n->timer, CLOCK_MONOTONIC, 0, 1, on_timer, n) < 0 ||
        sd_event_add_defer(ev, &n->process_defer, on_process_defer, n) < 0 ||
        node_ttl_start(n) < 0 || node_probe_start(n) < 0) {
        snprintf(err, errlen, "cannot create event sources");
        goto error;
    }
    /* Same priority as the I/O sources: it runs after the events already
     * pending (everything one epoll wake-up delivered) yet cannot starve. */
    sd_event_source_set_enabled(n->process_defer, SD_EVENT_OFF);
    raft_start(n->raft, node_now_ms());
    node_process(n);
    return n;
error:
    node_free(n);
    return NULL;
}

void node_free(struct node *n)
{
    if (!n)
        return;
    n->closing = true;           /* callbacks fired below do nothing more */
    http_client_free(n->client); /* no forward in flight after this */
    node_faults_free(n);         /* nor one held back by a fault */
    if (n->ops_kick)
        ops_free(n);             /* waiting clients hear we are stopping */
    members_waits_free(n);       /* and waiting /v2/members changes */
    http_server_free(n->http);
    events_api_free(n->events); /* after the server: it aborts waits */
    kv_free(n->kv);
    dedup_free(n->dedup);
    sd_event_source_unref(n->timer);
    node_ttl_free(n);
    node_probe_free(n);
    sd_event_source_unref(n->process_defer);
    sd_event_source_unref(n->stop_timer);
    syncer_free(n->syncer); /* waits for a sync in progress */
    snap_wait(n);           /* and for a snapshot being taken */
    driver_free(n->driver); /* held answers: their requests are gone */
    storage_close(n->storage);
    snap_free(n);
    node_peers_free(n);
    raft_free(n->raft);
    node_metrics_free();
    stats_api_stop();
    sd_event_unref(n->ev);
    free(n);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *arg)
{
    (void)s;
    (void)usec;
    struct node *n = arg;
    if (!n->stop_grace)
        log_msg(LOG_WARNING,
                "leadership transfer did not finish in time; stopping anyway");
    sd_event_exit(n->ev, 0);
    return 0;
}

void node_shutdown(struct node *n)
{
    if (n->stopping)
        return;
    n->stopping = true;
    if (raft_role(n->raft) != RAFT_LEADER || n->n_peers == 0) {
        sd_event_exit(n->ev, 0);
        return;
    }
    int rv = raft_transfer_leadership(n->raft, node_now_ms(), RAFT_NONE);
    if (rv < 0) {
        log_msg(LOG_WARNING, "cannot hand over leadership: %s", raft_strerror(rv));
        sd_event_exit(n->ev, 0);
        return;
    }
    uint64_t usec;
    sd_event_now(n->ev, CLOCK_MONOTONIC, &usec);
    sd_event_add_time(n->ev, &n->stop_timer, CLOCK_MONOTONIC,
                      usec + (uint64_t)n->cfg->election_timeout_min_ms * 1000,
                      1000, on_stop_timeout, n);
    node_process(n);
}

int node_apply_timing(struct node *n, const struct raftd_config *c)
{
    int rv = raft_set_timing(n->raft, node_now_ms(), c->heartbeat_ms,
                             c->election_timeout_min_ms,
                             c->election_timeout_max_ms);
    if (rv < 0)
        return -1;
    node_process(n); /* the timer follows the new deadline */
    return 0;
}

/* The core's batching bound (1 MiB by default) is also the largest entry
 * it accepts. An AppendEntries must fit the peers' request limit: entries
 * travel base64-encoded (4/3) in JSON; leave 1 KiB for the envelope. */
size_t node_max_entry_bytes(const struct raftd_config *cfg)
{
    struct raft_config rc;
    raft_config_defaults(&rc);
    size_t room = cfg->max_request_bytes > 2048 ? cfg->max_request_bytes - 1024 : 1024;
    return room / 4 * 3 < rc.max_bytes_per_msg ? room / 4 * 3 : rc.max_bytes_per_msg;
}

struct kv *node_kv(struct node *n) { return n->kv; }
const struct raftd_config *node_config(const struct node *n) { return n->cfg; }
raft_id node_id(const struct node *n) { return raft_self(n->raft); }
raft_id node_leader(const struct node *n) { return raft_leader(n->raft); }
raft_term node_term(const struct node *n) { return raft_current_term(n->raft); }
raft_index node_applied_index(const struct node *n) { return raft_applied_index(n->raft); }
bool node_diverged(const struct node *n, struct raft_divergence *d) { return raft_diverged(n->raft, d); }
