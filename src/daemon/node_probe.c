/* node_probe.c - a follower notices that its leader's process died, in
 * well under an election timeout.
 *
 * Raft learns of a dead leader only from silence: a follower waits a whole
 * election timeout (1-2 s by default; paper 5.2) before it stands. A
 * process that dies on a machine that stays up says more than silence: the
 * kernel closes its connections (the follower sees the leader's peer
 * connections end) and answers a new connection to its port with a reset.
 * So a follower opens a TCP connection to its leader's address (a probe)
 * when a connection from a peer closes, and when it has not heard from the
 * leader for PROBE_SILENCE heartbeats. A refused connection (ECONNREFUSED:
 * nothing listens there) goes to the core as raft_leader_gone(), which
 * sets the leader's lease aside and fires the election timer within a
 * heartbeat. Every follower probes for itself, so each one's lease falls
 * on its own evidence and pre-votes are granted at once.
 *
 * Only timing depends on it: pre-vote and the vote rules decide as always
 * (raft.h, raft_leader_gone). A probe that connects, times out or fails
 * otherwise changes nothing, so a leader that is paused (SIGSTOP), slow, or
 * behind a partition that drops packets, or whose machine vanished without
 * a reset, is still left to the election timeout (raftd(8), "Failover").
 */
#include "logging.h"
#include "node_internal.h"

/* Probe after this many heartbeat intervals without word from the leader
 * (the leader sends at least one per interval). */
#define PROBE_SILENCE 1.5
/* Probes allowed in one heartbeat interval (probe_leader). */
#define PROBE_BURST 4

static void probe_leader(struct node *n);

static void on_probe_done(void *arg, const struct http_reply *r)
{
    struct node *n = arg;
    raft_id leader = n->probe_leader;
    bool again = n->probe_again;
    n->probe_in_flight = false;
    n->probe_again = false;
    n->probe_leader = RAFT_NONE;
    if (n->closing)
        return;
    if (!r->refused) {
        /* asked again while this one was on its way (the leader's
         * connections closing as it dies, after this one got through) */
        if (again)
            probe_leader(n);
        return;
    }
    if (raft_leader_gone(n->raft, node_now_ms(), leader,
                         "its address refused a connection") == 0)
        node_schedule(n); /* the timer moved: node_process re-arms it */
}

/* Probe the leader now, unless one is on its way or there is no leader to
 * probe. */
static void probe_leader(struct node *n)
{
    raft_id leader = raft_leader(n->raft);
    raft_time now = node_now_ms();
    if (n->probe_in_flight) {
        n->probe_again = true;
        return;
    }
    if (n->closing || n->failed ||
        raft_role(n->raft) != RAFT_FOLLOWER || leader == RAFT_NONE ||
        leader == raft_self(n->raft))
        return;
    /* At most PROBE_BURST a heartbeat, whatever asks: connections through
     * the peer door may be a stranger's, closed to make us probe. Not one:
     * peer connections also close for ordinary reasons (libcurl recycling
     * them), and a probe spent on such a close must not hold back the one
     * that finds the leader dead a moment later (with one a heartbeat, 8 of
     * 10 kills -9 of the leader took ~0.2 s to the next write instead of 2
     * of 10: bench/compare-etcd.sh -O "" -S failover -K 10). */
    if (now >= n->probe_window + n->cfg->heartbeat_ms) {
        n->probe_window = now;
        n->probes_in_window = 0;
    }
    if (n->probes_in_window >= PROBE_BURST)
        return;
    struct peer *p = node_find_peer(n, leader);
    if (!p || !p->url[0])
        return;
    struct http_call call = {
        .method = "GET",
        .url = p->url,
        .timeout_ms = n->cfg->heartbeat_ms * 2,
        .connect_only = true,
    };
    if (http_client_call(n->client, &call, on_probe_done, n) == 0) {
        n->probe_in_flight = true;
        n->probe_leader = leader;
        n->probes_in_window++;
    }
}

void node_probe_peer_closed(void *arg)
{
    probe_leader(arg);
}

static int on_probe_timer(sd_event_source *s, uint64_t usec, void *arg)
{
    struct node *n = arg;
    unsigned hb = n->cfg->heartbeat_ms;
    raft_time now = node_now_ms(), heard = raft_leader_contact(n->raft);
    (void)usec;
    if (heard && now >= heard + (raft_time)(hb * PROBE_SILENCE))
        probe_leader(n);
    node_timer_again(n, s, hb / 2 ? hb / 2 : 1);
    return 0;
}

int node_probe_start(struct node *n)
{
    unsigned hb = n->cfg->heartbeat_ms;
    return node_add_timer(n, &n->probe_timer, hb / 2 ? hb / 2 : 1, 10,
                          on_probe_timer);
}

void node_probe_free(struct node *n)
{
    n->probe_timer = sd_event_source_disable_unref(n->probe_timer);
}
