/* node_ttl.c - the leader tells the store what time it is.
 *
 * TTL keys expire through the log (kv.h, "Time and TTLs"): a replica never
 * expires anything by its own clock, or replicas would disagree about when
 * a key vanished and what the event indexes after it are (the Raft paper,
 * section 8, and Ongaro's dissertation, 6.4.1, on clocks: time must not
 * decide a state machine's output unless it comes through the log). As in
 * etcd v2, whose leader proposes a SYNC request every 500 ms, the leader
 * looks every TTL_CHECK_MS at the store's earliest expiration and, once its
 * wall clock has reached it, proposes a "now" entry (KV_SYNC carrying its
 * clock). Applying it expires every node due at that time, on every
 * replica at the same log position. One such entry is in flight at a time,
 * and none is proposed while nothing is due, so an idle cluster writes no
 * entries. Without a leader nothing expires (raftd(8), TTL KEYS).
 */
#include <stdlib.h>
#include <time.h>

#include "kv.h"
#include "logging.h"
#include "node_internal.h"

/* How often the leader looks (etcd's sync ticker: 500 ms). A key expires
 * at most this long, plus a commit, after its expiration. */
#define TTL_CHECK_MS 500

static void on_sync_done(void *arg, const struct node_outcome *o)
{
    struct node *n = arg;
    n->ttl_sync_op = NULL;
    if (n->closing)
        return;
    if (o->error != NODE_OK) {
        log_msg(LOG_DEBUG, "a \"now\" entry for TTL expiry failed (%s); the "
                "next check proposes another", o->message ? o->message : "?");
        return;
    }
    /* A sync expires at most KV_SYNC_MAX nodes: the rest go at once, from
     * the timer (not from inside the ops' delivery loop). */
    if (kv_next_expiration(n->kv) && n->ttl_timer)
        node_timer_again(n, n->ttl_timer, 0);
}

/* Propose a "now" entry if this node leads and something is due. */
static void propose_now_if_due(struct node *n)
{
    if (n->ttl_sync_op || n->closing || n->failed ||
        raft_role(n->raft) != RAFT_LEADER)
        return;
    int64_t due = kv_next_expiration(n->kv);
    int64_t now = node_wall_ms();
    if (!due || due > now)
        return;
    struct kv_cmd cmd = {.op = KV_SYNC, .now_ms = now};
    size_t len;
    char *buf = kv_encode(&cmd, &len);
    if (!buf)
        return;
    n->ttl_sync_op = node_propose(n, buf, len, on_sync_done, n);
    free(buf);
}

static int on_ttl_timer(sd_event_source *s, uint64_t usec, void *arg)
{
    (void)usec;
    struct node *n = arg;
    propose_now_if_due(n);
    node_timer_again(n, s, TTL_CHECK_MS);
    return 0;
}

int node_ttl_start(struct node *n)
{
    return node_add_timer(n, &n->ttl_timer, TTL_CHECK_MS, 50, on_ttl_timer);
}

void node_ttl_free(struct node *n)
{
    n->ttl_timer = sd_event_source_unref(n->ttl_timer);
}
