/* sim.c - the event loop of raft-sim: nodes, network, disk, faults, clients.
 *
 * The simulator plays the daemon's part for every core: it feeds time,
 * messages and client requests in, and drains raft_ready() through the
 * daemon's own ready loop (src/raft/driver.h), whose operations it supplies:
 * the simulated disk, network and state machine, with the checker looking
 * at every batch. With a disk latency the node is blocked while its write
 * is in flight (the daemon fsyncs on its single event loop), so nothing
 * leaves before it is durable.
 *
 * Time is a virtual millisecond counter; events sit in a binary heap ordered
 * by (time, insertion number), so a run is a pure function of its seed.
 */
#include "simint.h"

#include "driver.h"
#include "../daemon/kv.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

const char *node_name(raft_id id)
{
    static char buf[8][24];
    static unsigned k;
    char *b = buf[k++ % 8];
    if (id == 0)
        snprintf(b, 24, "--");
    else
        snprintf(b, 24, "n%u", (unsigned)id);
    return b;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "raft-sim: out of memory\n");
        exit(2);
    }
    return q;
}

/* The wall clock a simulated node's clock 0 stands for, in the store's
 * commands (Unix ms, 2025-12-07). */
#define SIM_EPOCH_MS UINT64_C(1765080000000)

static void kv_snap_keep(struct sim *s, struct node *n, raft_index index);
static void kv_load(struct sim *s, struct node *n);

static uint64_t core_random(void *arg)
{
    return rng_next(arg);
}

/* A node's clock: its own offset and rate (a daemon's CLOCK_MONOTONIC). */
uint64_t node_clock(const struct node *n, uint64_t t)
{
    int64_t skew = (int64_t)t * n->drift_ppm / 1000000;
    return (uint64_t)(n->clock_offset + (int64_t)t + skew);
}

/* The first virtual time at which node n's clock reads at least c. */
static uint64_t virtual_time_for(const struct sim *s, const struct node *n,
                                 uint64_t c)
{
    if (c <= node_clock(n, s->now))
        return s->now;
    int64_t d = (int64_t)c - n->clock_offset;
    uint64_t t = (uint64_t)(d * 1000000 / (1000000 + n->drift_ppm));
    if (t < s->now)
        t = s->now;
    while (node_clock(n, t) < c)
        t++;
    while (t > s->now && node_clock(n, t - 1) >= c)
        t--;
    return t;
}

/* ------------------------------------------------------------------------ */
/* Event heap                                                               */
/* ------------------------------------------------------------------------ */

static bool ev_less(const struct event *a, const struct event *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void schedule(struct sim *s, uint64_t t, int type, raft_id node,
                     uint32_t a, uint64_t gen, struct raft_msg *msg)
{
    if (s->nheap == s->capheap) {
        s->capheap = s->capheap ? s->capheap * 2 : 256;
        s->heap = xrealloc(s->heap, s->capheap * sizeof(*s->heap));
    }
    struct event ev = {.t = t, .seq = s->seq++, .type = (uint8_t)type,
                       .node = (uint8_t)node, .a = a, .gen = gen, .msg = msg};
    size_t i = s->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&ev, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = ev;
}

static struct event heap_pop(struct sim *s)
{
    struct event top = s->heap[0];
    struct event last = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && ev_less(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_less(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->nheap)
        s->heap[i] = last;
    return top;
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */
/* ------------------------------------------------------------------------ */

/* The snapshot a SNAPSHOT message carries, right after the message. */
static struct ssnap *msg_snap(struct raft_msg *m)
{
    return (struct ssnap *)(m + 1);
}

/* A deep copy in one allocation: the message, the snapshot it carries (if
 * any, else zeros), its entries, their data. */
static struct raft_msg *msg_copy(const struct raft_msg *m,
                                 const struct ssnap *snap)
{
    size_t head = sizeof(*m) + sizeof(struct ssnap);
    size_t size = head + m->n_entries * sizeof(struct raft_entry);
    for (size_t i = 0; i < m->n_entries; i++)
        size += m->entries[i].len;
    char *p = xrealloc(NULL, size);
    struct raft_msg *c = (struct raft_msg *)p;
    *c = *m;
    *msg_snap(c) = snap ? *snap : (struct ssnap){0};
    c->entries = NULL;
    if (m->n_entries) {
        c->entries = (struct raft_entry *)(p + head);
        char *d = (char *)(c->entries + m->n_entries);
        for (size_t i = 0; i < m->n_entries; i++) {
            c->entries[i] = m->entries[i];
            c->entries[i].data = NULL;
            if (m->entries[i].len) {
                memcpy(d, m->entries[i].data, m->entries[i].len);
                c->entries[i].data = (uint8_t *)d;
                d += m->entries[i].len;
            }
        }
    }
    return c;
}

static void dig_msg(struct sim *s, const struct raft_msg *m)
{
    dig(s, ((uint64_t)m->type << 56) ^ (m->from << 48) ^ (m->to << 40) ^
               m->term);
    dig(s, m->prev_index ^ (m->prev_term << 20) ^ (m->commit << 40) ^
               ((uint64_t)m->n_entries << 52));
    dig(s, m->last_index ^ (m->last_term << 24) ^ ((uint64_t)m->prevote << 60) ^
               ((uint64_t)m->granted << 61) ^ ((uint64_t)m->success << 62) ^
               (m->match_index << 32) ^ m->seq);
    if (m->type == RAFT_MSG_SNAPSHOT)
        dig(s, m->snapshot_index ^ (m->snapshot_term << 40));
}

/* ------------------------------------------------------------------------ */
/* Nodes: core lifecycle and the ready loop                                 */
/* ------------------------------------------------------------------------ */

static void make_core(struct sim *s, struct node *n)
{
    struct raft_config rc;
    memset(&rc, 0, sizeof(rc));
    raft_config_defaults(&rc);
    rc.id = n->id;
    struct raft_configuration boot;
    sconf_to_raft(n->boot, &boot);
    rc.configuration = &boot;
    rc.heartbeat_ms = s->cfg->heartbeat_ms;
    rc.election_timeout_min_ms = s->cfg->election_min_ms;
    rc.election_timeout_max_ms = s->cfg->election_max_ms;
    rc.prevote = s->cfg->prevote;
    rc.check_quorum = s->cfg->check_quorum;
    rc.fast_first_election = s->cfg->leader_probe;
    rc.max_entries_per_msg = s->cfg->max_entries;
    rc.max_inflight_msgs = s->cfg->max_inflight;
    rc.max_bytes_per_msg = s->cfg->max_bytes;
    rc.random = core_random;
    rc.random_arg = &n->rng;
    const char *err = NULL;
    n->r = raft_new(&rc, &err);
    if (!n->r) {
        fprintf(stderr, "raft-sim: raft_new: %s\n", err ? err : "failed");
        exit(2);
    }
}

static void inbox_push(struct node *n, struct input in)
{
    if (n->inbox_n == n->inbox_cap) {
        size_t cap = n->inbox_cap ? n->inbox_cap * 2 : 16;
        struct input *q = xrealloc(NULL, cap * sizeof(*q));
        for (size_t i = 0; i < n->inbox_n; i++)
            q[i] = n->inbox[(n->inbox_head + i) % n->inbox_cap];
        free(n->inbox);
        n->inbox = q;
        n->inbox_cap = cap;
        n->inbox_head = 0;
    }
    n->inbox[(n->inbox_head + n->inbox_n++) % n->inbox_cap] = in;
}

static struct input inbox_pop(struct node *n)
{
    struct input in = n->inbox[n->inbox_head];
    n->inbox_head = (n->inbox_head + 1) % n->inbox_cap;
    n->inbox_n--;
    return in;
}

static void inbox_clear(struct node *n)
{
    while (n->inbox_n)
        free(inbox_pop(n).msg);
}

static void client_propose(struct sim *s, struct node *n, uint64_t cid,
                           bool may_retry);
static void client_read(struct sim *s, struct node *n, uint64_t rid,
                        bool may_retry);

/* ---- the disk ---- */

/* The snapshot being installed reached the disk: the disk's prefix becomes
 * the snapshot's (the committed log's), and the log after it goes too
 * unless the core kept its matching suffix. */
static void persist_snapshot(struct sim *s, struct node *n,
                             const struct raft_ready *rd)
{
    raft_index idx = n->incoming.index;
    const struct slog *C = &s->committed;
    n->snap = n->incoming;
    if (rd->snapshot_discard_log)
        slog_truncate(&n->disk, idx + 1);
    if (n->lcp > idx)
        n->lcp = idx;
    for (raft_index i = 1; i <= idx && i <= C->n; i++) {
        struct slog_entry x = C->e[i - 1];
        x.data = NULL;
        if (i <= n->disk.n) {
            free(n->disk.e[i - 1].data);
            n->disk.e[i - 1] = x;
        } else {
            slog_push_hashes(&n->disk, &x);
        }
    }
    s->durability_dirty = true;
}

/* cnt entries from first on reached the disk (replacing any from there). */
static void disk_entries(struct sim *s, struct node *n, raft_index first,
                         const struct raft_entry *e, size_t cnt)
{
    slog_truncate(&n->disk, first);
    if (n->lcp >= first)
        n->lcp = first - 1;
    for (size_t i = 0; i < cnt; i++)
        slog_append(&n->disk, &e[i], true);
    s->durability_dirty = true;
}

static void wop_free(struct wop *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->e[i].data);
    free(w->e);
}

/* The first k writes not yet durable reached the disk, and cnt entries of
 * the next one (a torn write). */
static void wops_land(struct sim *s, struct node *n, size_t k, size_t cnt)
{
    if (!n->n_wops)
        return;
    for (size_t i = 0; i < k; i++) {
        disk_entries(s, n, n->wops[i].first, n->wops[i].e, n->wops[i].n);
        wop_free(&n->wops[i]);
    }
    if (k < n->n_wops && cnt)
        disk_entries(s, n, n->wops[k].first, n->wops[k].e,
                     cnt < n->wops[k].n ? cnt : n->wops[k].n);
    memmove(n->wops, n->wops + k, (n->n_wops - k) * sizeof(*n->wops));
    n->n_wops -= k;
}

static void wops_drop(struct node *n)
{
    for (size_t i = 0; i < n->n_wops; i++)
        wop_free(&n->wops[i]);
    n->n_wops = 0;
}

/* rd's entries go to the page cache: durable once a sync covers them. */
static void wops_push(struct sim *s, struct node *n, const struct raft_ready *rd)
{
    if (n->n_wops == n->cap_wops) {
        n->cap_wops = n->cap_wops ? n->cap_wops * 2 : 8;
        n->wops = xrealloc(n->wops, n->cap_wops * sizeof(*n->wops));
    }
    struct wop *w = &n->wops[n->n_wops++];
    w->first = rd->entries_first;
    w->n = rd->n_entries;
    w->e = xrealloc(NULL, rd->n_entries * sizeof(*w->e));
    for (size_t i = 0; i < rd->n_entries; i++) {
        w->e[i] = rd->entries[i];
        w->e[i].data = NULL;
        if (rd->entries[i].len) {
            w->e[i].data = xrealloc(NULL, rd->entries[i].len);
            memcpy(w->e[i].data, rd->entries[i].data, rd->entries[i].len);
        }
    }
    raft_index last = rd->entries_first + rd->n_entries - 1;
    dig(s, 0xb9ull ^ (n->id << 40) ^ last);
    SAY(s, 2, n->id, "writes entries %" PRIu64 "..%" PRIu64 " (not yet "
        "synced)", rd->entries_first, last);
}

/* A foreground sync: everything written (entries, hard state, the commit
 * index riding along) reached the disk. */
static void land_all(struct sim *s, struct node *n)
{
    wops_land(s, n, n->n_wops, 0);
    if (n->hs_pending) {
        n->hs.term = n->pending_hs.term;
        n->hs.vote = n->pending_hs.vote;
        n->hs_pending = false;
    }
    n->hs.commit = n->pending_commit;
    s->res->st.writes++;
    s->durability_dirty = true;
}

/* A crash: what was written but not durable is lost, or with --torn a part
 * of it reaches the disk: a prefix of the writes (whole writes, then part
 * of the next: a WAL with checksums keeps a prefix), the hard state or
 * not, the snapshot being installed whole or not at all. */
static const char *crash_disk(struct sim *s, struct node *n)
{
    bool installing = n->fg == FG_INSTALL && !n->fg_landed;
    if (!n->n_wops && !n->hs_pending && !installing)
        return "";
    bool torn = rng_chance(&s->syncing, s->cfg->torn);
    if (torn) {
        if (installing && rng_chance(&s->disk, 0.5))
            persist_snapshot(s, n, n->fg_rd); /* written first, renamed */
        if (n->hs_pending && rng_chance(&s->disk, 0.5)) {
            n->hs.term = n->pending_hs.term;
            n->hs.vote = n->pending_hs.vote;
        }
        size_t k = 0, cnt = 0;
        if (n->n_wops) {
            k = rng_between(&s->syncing, 0, n->n_wops);
            if (k < n->n_wops)
                cnt = rng_between(&s->syncing, 0, n->wops[k].n);
        }
        wops_land(s, n, k, cnt);
        s->res->st.torn_writes++;
        s->durability_dirty = true;
    }
    wops_drop(n);
    n->hs_pending = false;
    return torn ? "; its writes in progress were torn"
                : "; its writes in progress are lost";
}

/* ---- the network ---- */

/* The transport's unreachable reports reach the core between batches. */
static void report_unreachable(struct node *n)
{
    for (unsigned i = 0; i < n->n_unreach; i++)
        raft_report_unreachable(n->r, n->unreach[i]);
    n->n_unreach = 0;
}

static void send_msg(struct sim *s, struct node *n, const struct raft_msg *m)
{
    char buf[160];
    struct sim_stats *st = &s->res->st;
    st->msgs_sent++;
    dig_msg(s, m);
    raft_id to = m->to;
    if (m->type == RAFT_MSG_APPEND_RESP && m->ctx == FORGED_CTX) {
        /* as in raftd, where it is the answer to the forger's request */
        SAY(s, 1, n->id, "answers the forger: %s",
            msg_describe(m, buf, sizeof(buf)));
        return;
    }
    if (to < 1 || to > s->n) {
        violation(s, "API contract", "%s sent a message to unknown node %" PRIu64,
                  node_name(n->id), to);
        return;
    }
    if (s->cut[n->id][to] || !s->nodes[to].up) {
        bool cut = s->cut[n->id][to];
        if (cut) {
            st->msgs_lost++;
            s->sec.lost++;
        }
        SAY(s, 2, n->id, "sends %s %s%s", node_name(to),
            msg_describe(m, buf, sizeof(buf)),
            cut ? " (lost: partition)" : " (its node is down)");
        if (rng_chance(&s->net, s->cfg->unreachable) &&
            n->n_unreach < SIM_MAX_NODES)
            n->unreach[n->n_unreach++] = to;
        if (cut)
            return;
    }
    if (rng_chance(&s->net, s->loss)) {
        st->msgs_lost++;
        s->sec.lost++;
        SAY(s, 2, n->id, "sends %s %s (lost)", node_name(to),
            msg_describe(m, buf, sizeof(buf)));
        return;
    }
    unsigned copies = 1 + rng_chance(&s->net, s->dup);
    if (copies > 1)
        st->msgs_dup++;
    if (s->nodes[to].up)
        SAY(s, 2, n->id, "sends %s %s%s", node_name(to),
            msg_describe(m, buf, sizeof(buf)), copies > 1 ? " (duplicated)" : "");
    /* InstallSnapshot: the host attaches its newest snapshot (which may
     * be newer than the one the core knows of: it sends that one). */
    struct raft_msg with_snap = *m;
    const struct ssnap *att = NULL;
    if (m->type == RAFT_MSG_SNAPSHOT) {
        if (n->snap.index < m->snapshot_index) {
            violation(s, "API contract", "%s's core sends a snapshot up to %"
                      PRIu64 " but the node's snapshot ends at %" PRIu64,
                      node_name(n->id), m->snapshot_index, n->snap.index);
            return;
        }
        att = &n->snap;
        with_snap.snapshot_index = n->snap.index;
        with_snap.snapshot_term = n->snap.term;
    }
    for (unsigned c = 0; c < copies; c++) {
        uint64_t lat = rng_between(&s->net, s->lat_min, s->lat_max);
        if (rng_chance(&s->net, s->reorder))
            lat += rng_between(&s->net, 0, s->cfg->reorder_max);
        schedule(s, s->now + lat, EV_DELIVER, to, 0, 0,
                 msg_copy(&with_snap, att));
    }
}

/* ---- the state machine ---- */

static void serve_reads(struct sim *s, struct node *n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n->n_reads; i++) {
        if (n->applied >= n->reads[i].index) {
            s->res->st.reads_ok++;
            SAY(s, 1, n->id, "serves read #%" PRIu64 " (applied %" PRIu64
                " >= read index %" PRIu64 ")", n->reads[i].id, n->applied,
                n->reads[i].index);
        } else {
            n->reads[kept++] = n->reads[i];
        }
    }
    n->n_reads = kept;
}

/* The installed snapshot becomes the state machine (before any entry of
 * the ready is applied); it must be the committed state at its index. */
static void load_snapshot(struct sim *s, struct node *n,
                          const struct raft_ready *rd)
{
    raft_index idx = rd->snapshot_index;
    const struct slog *C = &s->committed;
    if (idx > C->n || C->e[idx - 1].chain != n->snap.chain ||
        C->e[idx - 1].sm != n->snap.sm ||
        C->e[idx - 1].clock != n->snap.clock) {
        violation(s, "State Machine Safety", "%s installs a snapshot up to %"
                  PRIu64 " that is not the committed state there",
                  node_name(n->id), idx);
        return;
    }
    n->applied = idx;
    n->sm_hash = n->snap.sm;
    n->sm_clock = n->snap.clock;
    if (n->kv)
        kv_load(s, n);
    s->res->st.installs++;
    dig(s, 0x5a9ull ^ (n->id << 40) ^ idx);
    SAY(s, 0, n->id, "installs the leader's snapshot up to entry %" PRIu64
        "%s", idx, rd->snapshot_discard_log ? " and drops its log" : "");
}

/* At a random moment after applying: snapshot the state machine at the
 * applied index (durable at once) and let the core free the log up to a
 * point at most snapshot_keep entries below it. */
static void maybe_compact(struct sim *s, struct node *n)
{
    raft_index a = raft_applied_index(n->r);
    /* With background syncing only once the log is durable (raftd may
     * snapshot ahead of it; not modelled: see doc/simulator.md). */
    if (a <= n->snap.index || a != n->applied || n->n_wops || n->sync_landed ||
        !rng_chance(&s->snapshotting, s->cfg->snapshots))
        return;
    struct raft_configuration rc;
    int crv = raft_configuration_at(n->r, a, &rc);
    struct sconf want = node_conf_at(s, n, a);
    if (crv || !sconf_eq(sconf_of(&rc), want)) {
        violation(s, "Snapshot configuration", "%s snapshots at entry %" PRIu64
                  " and its core gives the configuration there as %s, but it "
                  "is %s", node_name(n->id), a,
                  crv ? raft_strerror(crv) : sconf_text(sconf_of(&rc)),
                  sconf_text(want));
        return;
    }
    n->snap = (struct ssnap){.index = a, .term = raft_term_at(n->r, a),
                             .chain = n->mirror.e[a - 1].chain,
                             .sm = n->sm_hash, .clock = n->sm_clock,
                             .kvc = n->kv_chain, .conf = want};
    if (n->kv)
        kv_snap_keep(s, n, a);
    raft_index keep = rng_below(&s->snapshotting, s->cfg->snapshot_keep + 1);
    raft_index upto = a > keep ? a - keep : 0;
    if (upto > raft_snapshot_index(n->r)) {
        struct sconf base = node_conf_at(s, n, upto);
        int rv = raft_compact(n->r, upto);
        if (rv)
            violation(s, "API contract", "raft_compact(%" PRIu64 ") failed: %s",
                      upto, raft_strerror(rv));
        n->base = base; /* the log now starts after upto */
        n->base_index = upto;
        for (raft_index i = 1; i <= upto && i <= n->disk.n; i++) {
            free(n->disk.e[i - 1].data); /* the log's segments go */
            n->disk.e[i - 1].data = NULL;
        }
    }
    s->res->st.snapshots++;
    dig(s, 0x5ea9ull ^ (n->id << 40) ^ a ^ (upto << 20));
    SAY(s, 1, n->id, "takes a snapshot at entry %" PRIu64 " and compacts its "
        "log up to %" PRIu64, a, raft_snapshot_index(n->r));
}

/* A targeted fault: reboot a node just after it granted a vote, while the
 * election is still running (catches votes that do not survive a crash). */
static void vote_nemesis(struct sim *s, struct node *n,
                         const struct raft_note *notes, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (notes[i].type == RAFT_NOTE_VOTE_GRANTED && !notes[i].prevote &&
            rng_chance(&s->fault, s->cfg->vote_crash)) {
            schedule(s, s->now + rng_between(&s->fault, 0, 5), EV_REBOOT, n->id,
                     n->incarnation, 0, NULL);
            return;
        }
}

/* ---- the driver's operations (src/raft/driver.h) ----
 *
 * The node runs the daemon's own ready loop; these are its I/O: the
 * simulated disk (a write takes the --disk latency, during which the node
 * is blocked: DRIVER_LATER, then EV_WRITE_DONE), the background sync
 * (EV_SYNC_DONE), the network, the state machine, and the checker's eyes
 * on every batch. */

static void start_foreground_write(struct sim *s, struct node *n, uint8_t kind,
                                   const struct raft_ready *rd)
{
    n->fg = kind;
    n->fg_rd = rd;
    n->fg_landed = false;
    uint64_t d = rng_between(&s->disk, s->cfg->disk_min, s->cfg->disk_max);
    schedule(s, s->now + d, EV_WRITE_DONE, n->id, 0, n->write_gen, NULL);
}

static bool sim_begin(void *host, const struct raft_ready *rd)
{
    struct node *n = host;
    struct sim *s = n->sim;
    check_ready_entries(s, n, rd);
    check_configuration(s, n, "(in a ready)");
    check_notes(s, n, rd);
    trace_notes(s, n, rd);
    check_observe(s, n);
    if (rd->snapshot_install && n->incoming.index != rd->snapshot_index)
        violation(s, "API contract", "%s's ready installs a snapshot up "
                  "to %" PRIu64 " but the node received none there",
                  node_name(n->id), rd->snapshot_index);
    return !s->res->violated;
}

static int sim_install_snapshot(void *host, const struct raft_ready *rd)
{
    struct node *n = host;
    if (n->sim->cfg->disk_max > 0) {
        start_foreground_write(n->sim, n, FG_INSTALL, rd);
        return DRIVER_LATER;
    }
    persist_snapshot(n->sim, n, rd);
    load_snapshot(n->sim, n, rd);
    return 0;
}

static int sim_write(void *host, const struct raft_ready *rd)
{
    struct node *n = host;
    if (rd->hard_state_changed) {
        n->pending_hs = rd->hard_state;
        n->hs_pending = true;
    }
    n->pending_commit = rd->hard_state.commit;
    if (rd->n_entries)
        wops_push(n->sim, n, rd);
    return 0;
}

static int sim_sync(void *host)
{
    struct node *n = host;
    if (n->sim->cfg->disk_max > 0) {
        start_foreground_write(n->sim, n, FG_SYNC, NULL);
        return DRIVER_LATER;
    }
    land_all(n->sim, n);
    return 0;
}

/* A sync thread: it makes the writes made so far durable after a while. */
static int sim_sync_start(void *host)
{
    struct node *n = host;
    struct sim *s = n->sim;
    n->syncing = true;
    n->sync_ops = n->n_wops;
    n->sync_gen++;
    uint64_t d = s->cfg->disk_max > 0
                     ? rng_between(&s->syncing, s->cfg->disk_min, s->cfg->disk_max)
                     : rng_between(&s->syncing, 1, 3);
    schedule(s, s->now + d, EV_SYNC_DONE, n->id, 0, n->sync_gen, NULL);
    return 0;
}

static int sim_sync_wait(void *host)
{
    (void)host;
    return DRIVER_LATER; /* the node is blocked until EV_SYNC_DONE */
}

/* raftd syncs at once when nothing waits to overlap the sync with; here a
 * node without background syncing always does, one with it sometimes. */
static bool sim_sync_now(void *host)
{
    struct node *n = host;
    return !n->bg || rng_chance(&n->sim->syncing, 0.25);
}

static void sim_send(void *host, const struct raft_msg *m)
{
    struct node *n = host;
    send_msg(n->sim, n, m);
}

static void sim_hold(void *host, const struct raft_msg *m)
{
    struct node *n = host;
    struct sim *s = n->sim;
    dig(s, 0x401dull ^ (n->id << 40) ^ m->match_index);
    SAY(s, 2, n->id, "holds its answer to %s (match %" PRIu64 ") until its "
        "writes are synced", node_name(m->to), m->match_index);
}

static void sim_apply(void *host, raft_index first, const struct raft_entry *e,
                      size_t count)
{
    struct node *n = host;
    struct sim *s = n->sim;
    for (size_t k = 0; k < count && !s->res->violated; k++)
        check_apply(s, n, first + k, &e[k]);
    raft_index last = first + count - 1;
    dig(s, 0xa991ull ^ (n->id << 40) ^ last);
    if (first == last)
        SAY(s, 1, n->id, "applies entry %" PRIu64, first);
    else
        SAY(s, 1, n->id, "applies entries %" PRIu64 "..%" PRIu64, first, last);
}

static void sim_reads(void *host, const struct raft_read *reads, size_t count)
{
    struct node *n = host;
    for (size_t i = 0; i < count; i++)
        check_read(n->sim, n, reads[i].id, reads[i].index);
}

static void sim_notes(void *host, const struct raft_note *notes, size_t count)
{
    struct node *n = host;
    if (n->sim->cfg->vote_crash > 0 && !n->sim->quiet)
        vote_nemesis(n->sim, n, notes, count);
}

/* The Ready contract as the host sees it: a batch that changes term or
 * vote or installs a snapshot is advanced only once durable, and one
 * advanced as durable has its term, vote and entries on the disk. */
static void check_advance(struct sim *s, struct node *n,
                          const struct raft_ready *rd, bool durable)
{
    if (!durable && (rd->hard_state_changed || rd->snapshot_install)) {
        violation(s, "Ready contract", "%s: a ready that changes term/vote or "
                  "installs a snapshot must be durable before raft_advance",
                  node_name(n->id));
        return;
    }
    if (durable && rd->hard_state_changed &&
        (n->hs.term != rd->hard_state.term || n->hs.vote != rd->hard_state.vote)) {
        violation(s, "Ready contract", "%s: raft_advance() for a ready whose "
                  "term %" PRIu64 " and vote %s are not on its disk (term %"
                  PRIu64 ", vote %s)", node_name(n->id), rd->hard_state.term,
                  node_name(rd->hard_state.vote), n->hs.term,
                  node_name(n->hs.vote));
        return;
    }
    raft_index last = rd->entries_first + rd->n_entries - 1;
    if (durable && rd->n_entries &&
        (n->disk.n < last || n->mirror.n < last ||
         n->disk.e[last - 1].chain != n->mirror.e[last - 1].chain))
        violation(s, "Ready contract", "%s: raft_advance() for a ready whose "
                  "entries (up to %" PRIu64 ") are not on its disk",
                  node_name(n->id), last);
}

static void sim_advanced(void *host, const struct raft_ready *rd, bool durable)
{
    struct node *n = host;
    struct sim *s = n->sim;
    check_advance(s, n, rd, durable);
    report_unreachable(n);
    serve_reads(s, n);
    check_observe(s, n);
    if (rd->n_committed && !s->res->violated)
        maybe_compact(s, n);
}

static const struct driver_ops sim_driver_ops = {
    .begin = sim_begin,
    .install_snapshot = sim_install_snapshot,
    .write = sim_write,
    .sync = sim_sync,
    .sync_start = sim_sync_start,
    .sync_wait = sim_sync_wait,
    .sync_now = sim_sync_now,
    .send = sim_send,
    .hold = sim_hold,
    .apply = sim_apply,
    .reads = sim_reads,
    .notes = sim_notes,
    .advanced = sim_advanced,
};

/* The driver of a core just made or restored from the disk. */
static void start_driver(struct node *n)
{
    n->drv = driver_new(n->r, &sim_driver_ops, n);
    if (!n->drv) {
        fprintf(stderr, "raft-sim: out of memory\n");
        exit(2);
    }
}

/* With the core: its counters go into the run's statistics. */
static void stop_driver(struct sim *s, struct node *n)
{
    struct driver_stats ds;
    if (!n->drv)
        return;
    driver_get_stats(n->drv, &ds);
    s->res->st.bg_writes += ds.background_writes;
    s->res->st.bg_syncs += ds.background_syncs;
    s->res->st.held += ds.held;
    driver_free(n->drv);
    n->drv = NULL;
}

/* Between raft_ready() and raft_advance(): a batch waits for its write. */
static bool blocked(const struct node *n)
{
    return n->drv && driver_busy(n->drv);
}

/* ---- the node's loop ---- */

static void rearm(struct sim *s, struct node *n)
{
    if (!n->up || n->paused)
        return;
    uint64_t t = virtual_time_for(s, n, raft_deadline(n->r));
    if (n->timer_armed && n->timer_at == t)
        return;
    n->timer_gen++;
    n->timer_armed = true;
    n->timer_at = t;
    schedule(s, t, EV_TICK, n->id, 0, n->timer_gen, NULL);
}

static void process_ready(struct sim *s, struct node *n)
{
    unsigned guard = 0;
    while (n->up && !s->res->violated &&
           driver_step(n->drv) == DRIVER_ADVANCED) {
        if (++guard > 10000) {
            violation(s, "Progress", "%s: raft_has_ready() stays true after "
                      "10000 ready/advance rounds", node_name(n->id));
            return;
        }
    }
}

static void settle(struct sim *s, struct node *n)
{
    process_ready(s, n);
    if (n->up)
        rearm(s, n);
}

static void deliver_now(struct sim *s, struct node *n, struct raft_msg *m)
{
    char buf[160];
    trace_count_delivery(s, m);
    s->res->st.msgs_delivered++;
    SAY(s, 2, n->id, "got from %s: %s", node_name(m->from),
        msg_describe(m, buf, sizeof(buf)));
    /* The snapshot's configuration travels with it (raftd keeps it in the
     * snapshot file); the core borrows it for the call. */
    struct raft_configuration snap_conf;
    m->snapshot_configuration = NULL;
    if (m->type == RAFT_MSG_SNAPSHOT && msg_snap(m)->conf.voters) {
        sconf_to_raft(msg_snap(m)->conf, &snap_conf);
        m->snapshot_configuration = &snap_conf;
    }
    if (m->type == RAFT_MSG_SNAPSHOT && m->term >= raft_current_term(n->r) &&
        msg_snap(m)->index > n->incoming.index)
        n->incoming = *msg_snap(m); /* the core may ask to install it */
    bool member = raft_configuration_find(raft_configuration(n->r, NULL),
                                          m->from) != NULL;
    bool nonvoter = m->type == RAFT_MSG_VOTE && !node_knows(s, n, m->from);
    raft_term term0 = raft_current_term(n->r);
    raft_id vote0 = raft_voted_for(n->r);
    int rv = raft_receive(n->r, node_clock(n, s->now), m);
    if (m->type == RAFT_MSG_APPEND && raft_leader(n->r) == m->from) {
        n->heard_from = m->from; /* for the timeline only */
        n->heard_at = s->now;
    }
    if (rv == RAFT_EINVAL && !member)
        SAY(s, 1, n->id, "ignores %s's message: %s is not in its "
            "configuration %s", node_name(m->from), node_name(m->from),
            sconf_text(node_conf(s, n, NULL)));
    else if (rv != 0)
        violation(s, "API contract", "raft_receive rejected a well-formed "
                  "message from %s: %s", node_name(m->from), raft_strerror(rv));
    if (nonvoter)
        check_disruption(s, n, m, term0, vote0);
    settle(s, n);
}

/* A leader proposes a "now" entry, "t<its clock>", every now_interval ms
 * of its clock (node_ttl.c does so when a TTL is due; here always, so that
 * leader changes between nodes whose clocks disagree are exercised). */
static void maybe_propose_now(struct sim *s, struct node *n)
{
    if (!s->cfg->now_interval || raft_role(n->r) != RAFT_LEADER)
        return;
    uint64_t clock = node_clock(n, s->now);
    if (clock < n->next_now)
        return;
    n->next_now = clock + s->cfg->now_interval;
    struct kv_cmd sync = {.op = KV_SYNC, .now_ms = (int64_t)(SIM_EPOCH_MS + clock)};
    size_t len;
    char *data = kv_encode(&sync, &len);
    if (!data)
        return;
    raft_index idx = 0;
    int rv = raft_propose(n->r, clock, data, len, &idx);
    dig(s, 0x70ull ^ clock ^ ((uint64_t)(rv + 100) << 40) ^ (idx << 8));
    if (rv == 0) {
        s->res->st.now_entries++;
        SAY(s, 1, n->id, "proposes \"now\" entry %s as entry %" PRIu64, data,
            idx);
    }
    free(data);
}

static void tick_now(struct sim *s, struct node *n)
{
    n->tick_pending = false;
    raft_tick(n->r, node_clock(n, s->now));
    maybe_propose_now(s, n);
    settle(s, n);
}

/* Run the inputs that queued up while the node was blocked or paused. */
static void drain(struct sim *s, struct node *n)
{
    while (n->up && !n->paused && !blocked(n) && !s->res->violated) {
        if (n->inbox_n) {
            struct input in = inbox_pop(n);
            if (in.kind == IN_MSG) {
                deliver_now(s, n, in.msg);
                free(in.msg);
            } else if (in.kind == IN_PROPOSE) {
                client_propose(s, n, in.id, in.may_retry);
            } else {
                client_read(s, n, in.id, in.may_retry);
            }
        } else if (n->tick_pending) {
            tick_now(s, n);
        } else {
            break;
        }
    }
    if (n->up)
        rearm(s, n);
}

/* The batch goes on: settle it and whatever queued meanwhile. */
static void go_on(struct sim *s, struct node *n)
{
    settle(s, n);
    drain(s, n);
}

/* The foreground write is durable and the process sees it: the batch goes
 * on (a snapshot is loaded first). */
static void complete_write(struct sim *s, struct node *n)
{
    if (n->fg == FG_INSTALL)
        load_snapshot(s, n, n->fg_rd);
    n->fg = FG_NONE;
    n->fg_rd = NULL;
    n->fg_landed = false;
    driver_write_done(n->drv);
    go_on(s, n);
}

/* The background sync is durable and the process sees it (on_synced):
 * the driver tells the core, sends the answers held for it, and starts the
 * next sync if anything was written meanwhile. */
static void sync_callback(struct sim *s, struct node *n)
{
    n->sync_landed = false;
    driver_synced(n->drv, true);
    raft_index durable = driver_durable_index(n->drv);
    dig(s, 0x5c0ull ^ (n->id << 40) ^ durable);
    SAY(s, 2, n->id, "sync done: durable up to entry %" PRIu64, durable);
    if (!blocked(n))
        report_unreachable(n);
    check_observe(s, n);
}

static void node_start(struct sim *s, struct node *n)
{
    make_core(s, n);
    n->base = n->boot;
    n->base_index = 0;
    start_driver(n);
    n->up = true;
    n->paused = false;
    n->incarnation++;
    if (s->cfg->now_interval) { /* the real store, empty */
        kv_free(n->kv);
        n->kv = kv_new();
        n->kv_chain = 1;
    }
    raft_start(n->r, node_clock(n, s->now));
    check_observe(s, n);
    settle(s, n);
}

static void node_restart(struct sim *s, struct node *n)
{
    if (n->up)
        return;
    make_core(s, n);
    /* the configuration as of the snapshot (else the bootstrap one), then
     * the log's entries after it */
    size_t cnt = n->disk.n, from = n->snap.index;
    n->base = n->boot;
    n->base_index = from;
    if (from && n->snap.conf.voters) {
        struct raft_configuration rc;
        sconf_to_raft(n->snap.conf, &rc);
        n->base = n->snap.conf;
        int crv = raft_restore_configuration(n->r, &rc);
        if (crv)
            violation(s, "API contract", "raft_restore_configuration failed: "
                      "%s", raft_strerror(crv));
    }
    struct raft_entry *ents = xrealloc(NULL, (cnt ? cnt : 1) * sizeof(*ents));
    for (size_t i = from; i < cnt; i++)
        ents[i - from] = (struct raft_entry){.term = n->disk.e[i].term,
                                             .type = n->disk.e[i].type,
                                             .len = n->disk.e[i].len,
                                             .data = n->disk.e[i].data};
    int rv = raft_restore(n->r, &n->hs, from + 1, n->snap.term, ents,
                          cnt - from);
    free(ents);
    if (rv)
        violation(s, "API contract", "raft_restore failed: %s", raft_strerror(rv));
    start_driver(n);
    /* The mirror restarts from what the disk holds. */
    slog_truncate(&n->mirror, 1);
    for (size_t i = 0; i < cnt; i++)
        slog_push_hashes(&n->mirror, &n->disk.e[i]);
    n->up = true;
    n->paused = false;
    n->incarnation++;
    n->applied = n->snap.index; /* the state machine loads the snapshot */
    n->sm_hash = n->snap.sm;
    n->sm_clock = n->snap.clock;
    n->next_now = 0;
    if (n->kv)
        kv_load(s, n);
    n->incoming = (struct ssnap){0};
    n->term = 0;
    n->commit = 0;
    n->lead_term = 0;
    n->leader = RAFT_NONE;
    n->role = RAFT_FOLLOWER;
    n->votes = 0;
    n->heard_from = RAFT_NONE;
    n->timer_armed = false;
    raft_start(n->r, node_clock(n, s->now));
    s->res->st.restarts++;
    s->electable_dirty = true;
    dig(s, 0x5e57a27ull ^ n->id ^ ((uint64_t)cnt << 8) ^ (n->hs.term << 32));
    SAY(s, 0, n->id, "RESTARTS from its disk: term %" PRIu64 ", voted for %s, "
        "snapshot up to %zu, log %zu..%zu, commit %" PRIu64 "; starts as a "
        "follower", n->hs.term, n->hs.vote ? node_name(n->hs.vote) : "nobody",
        from, from + 1, cnt, raft_commit_index(n->r));
    check_restart(s, n);
    check_configuration(s, n, "restarted from its disk");
    check_observe(s, n);
    settle(s, n);
}

static void node_crash(struct sim *s, struct node *n)
{
    if (!n->up)
        return;
    const char *lost = crash_disk(s, n);
    bool was_leader = raft_role(n->r) == RAFT_LEADER;
    SAY(s, 0, n->id, "*** CRASHES ***%s%s; its disk keeps term %" PRIu64
        ", vote %s, log 1..%zu", was_leader ? " (it was the leader)" : "", lost,
        n->hs.term, n->hs.vote ? node_name(n->hs.vote) : "none", n->disk.n);
    dig(s, 0xc2a5ull ^ n->id);
    stop_driver(s, n); /* its held answers are never sent */
    raft_free(n->r);
    n->r = NULL;
    n->up = false;
    n->paused = false;
    n->fg = FG_NONE;
    n->fg_rd = NULL;
    n->fg_landed = false;
    n->write_gen++;
    n->syncing = n->sync_landed = false;
    n->sync_gen++;
    n->n_unreach = 0;
    n->timer_gen++;
    n->timer_armed = false;
    n->tick_pending = false;
    n->n_reads = 0;
    n->lead_term = 0;
    n->role = RAFT_FOLLOWER;
    inbox_clear(n);
    s->res->st.crashes++;
    s->electable_dirty = true;
    /* raftd's followers probe a silent leader's port (node_probe.c): a
     * crashed process's machine refuses, unless the network is cut */
    for (unsigned i = 1; s->cfg->leader_probe && i <= SIM_MAX_NODES; i++)
        if (s->nodes[i].up && s->nodes[i].id != n->id)
            schedule(s, s->now + rng_between(&s->fault, 1,
                                              s->cfg->heartbeat_ms * 3 / 2),
                     EV_GONE, s->nodes[i].id, (uint32_t)n->id, n->incarnation,
                     NULL);
}

static void node_pause(struct sim *s, struct node *n, uint64_t duration)
{
    if (!n->up || n->paused)
        return;
    n->paused = true;
    n->paused_at = s->now;
    n->pause_gen++;
    s->res->st.pauses++;
    dig(s, 0x9a05eull ^ n->id);
    if (duration) {
        schedule(s, s->now + duration, EV_RESUME, n->id, 0, n->pause_gen, NULL);
        SAY(s, 0, n->id, "PAUSED for %.3fs (frozen: no timers, no messages "
            "handled%s)", duration / 1000.0,
            raft_role(n->r) == RAFT_LEADER ? "; it is the leader" : "");
    } else {
        SAY(s, 0, n->id, "PAUSED (frozen: no timers, no messages handled)");
    }
}

static void node_resume(struct sim *s, struct node *n)
{
    if (!n->up || !n->paused)
        return;
    n->paused = false;
    dig(s, 0x2e5ull ^ n->id);
    SAY(s, 0, n->id, "resumes after %.3fs: its clock jumped ahead; %zu "
        "inputs were waiting", (s->now - n->paused_at) / 1000.0, n->inbox_n);
    if (n->sync_landed) {
        sync_callback(s, n);
        process_ready(s, n);
    }
    if (n->fg != FG_NONE && n->fg_landed) {
        complete_write(s, n);
        return;
    }
    if (blocked(n))
        return; /* WRITE_DONE or SYNC_DONE will go on */
    /* A frozen process sees its timers and its sockets at once: pick. */
    if (rng_chance(&s->fault, 0.5))
        tick_now(s, n);
    n->tick_pending = true;
    drain(s, n);
}

/* ------------------------------------------------------------------------ */
/* Network partitions                                                       */
/* ------------------------------------------------------------------------ */

static void heal_all(struct sim *s, bool announce)
{
    bool any = false;
    for (unsigned a = 1; a <= s->n; a++)
        for (unsigned b = 1; b <= s->n; b++) {
            any |= s->cut[a][b];
            s->cut[a][b] = false;
        }
    s->partitioned = false;
    if (any && announce)
        SAY(s, 0, 0, "network healed: every link works again");
    dig(s, 0x4ea1ull);
}

/* Cut every link between nodes of different groups (group[id]). */
static void apply_groups(struct sim *s, const unsigned *group)
{
    char buf[200];
    size_t len = 0;
    buf[0] = 0;
    unsigned maxg = 0;
    for (unsigned id = 1; id <= s->n; id++)
        if (group[id] > maxg)
            maxg = group[id];
    for (unsigned g = 0; g <= maxg; g++) {
        bool first = true;
        for (unsigned id = 1; id <= s->n; id++) {
            if (group[id] != g)
                continue;
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
                                    first ? (len ? " | {" : "{") : " ",
                                    node_name(id));
            first = false;
            if (len >= sizeof(buf))
                len = sizeof(buf) - 1;
        }
        if (!first)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "}");
        if (len >= sizeof(buf))
            len = sizeof(buf) - 1;
    }
    for (unsigned a = 1; a <= s->n; a++)
        for (unsigned b = 1; b <= s->n; b++)
            s->cut[a][b] = group[a] != group[b];
    s->partitioned = true;
    s->res->st.partitions++;
    SAY(s, 0, 0, "network PARTITION %s: messages between groups are lost", buf);
}

/* ------------------------------------------------------------------------ */
/* Clients                                                                  */
/* ------------------------------------------------------------------------ */

raft_id current_leader(struct sim *s)
{
    raft_id best = RAFT_NONE;
    raft_term bt = 0;
    for (unsigned id = 1; id <= s->n; id++) {
        struct node *n = &s->nodes[id];
        if (n->up && raft_role(n->r) == RAFT_LEADER &&
            (best == RAFT_NONE || raft_current_term(n->r) > bt)) {
            best = id;
            bt = raft_current_term(n->r);
        }
    }
    return best;
}

static bool available(const struct node *n)
{
    return n->up && !n->paused && !blocked(n);
}

/* A client command. Without --now-interval, "c<id>". With it, a real store
 * command (kv_encode) that the id picks: keys and directories with TTLs of
 * 0-2 s, TTL updates of directories, refreshes, keys in expiring
 * directories, permanent keys; stamped with the proposer's clock, as
 * keys_api stamps a write with its node's (here in whole seconds). */
static int client_command(struct sim *s, struct node *n, uint64_t cid,
                          char *buf, size_t size)
{
    if (!s->cfg->now_interval)
        return snprintf(buf, size, "c%" PRIu64, cid);
    char key[32], value[32];
    unsigned k = (unsigned)(cid % 8);
    struct kv_cmd c = {.op = KV_SET, .key = key, .value = value,
                       .prev_exist = -1, .has_ttl = true, .ttl = cid % 3,
                       /* whole seconds: expirations often tie, and the
                        * store must break ties alike everywhere */
                       .now_ms = (int64_t)(SIM_EPOCH_MS +
                                           node_clock(n, s->now) / 1000 *
                                               1000)};
    snprintf(value, sizeof value, "c%" PRIu64, cid);
    switch (cid % 6) {
    case 0: /* a key with a TTL */
        snprintf(key, sizeof key, "/k%u", k);
        break;
    case 1: /* a permanent key (it clears a TTL) */
        snprintf(key, sizeof key, "/k%u", k);
        c.has_ttl = false;
        break;
    case 2: /* a directory with a TTL */
        snprintf(key, sizeof key, "/d%u", k % 3);
        c.dir = true;
        c.value = NULL;
        break;
    case 3: /* a key in it, with a longer TTL */
        snprintf(key, sizeof key, "/d%u/x%u", k % 3, k);
        c.ttl = 2;
        break;
    case 4: /* a directory's TTL updated */
        snprintf(key, sizeof key, "/d%u", k % 3);
        c.dir = true;
        c.value = NULL;
        c.prev_exist = 1;
        break;
    default: /* a refresh */
        snprintf(key, sizeof key, "/k%u", k);
        c.value = NULL;
        c.prev_exist = 1;
        c.refresh = true;
        c.ttl = 1 + cid % 2;
        break;
    }
    size_t len;
    char *e = kv_encode(&c, &len);
    if (!e || len >= size) {
        free(e);
        return snprintf(buf, size, "c%" PRIu64, cid);
    }
    memcpy(buf, e, len + 1);
    free(e);
    return (int)len;
}

static struct kv_snap *kv_snap_find(struct sim *s, raft_index index)
{
    for (size_t i = 0; i < s->n_kv_snaps; i++)
        if (s->kv_snaps[i].index == index)
            return &s->kv_snaps[i];
    return NULL;
}

/* Keep the store's bytes at index (a snapshot there): the first node's;
 * another node's snapshot at the same index must be the same bytes. */
static void kv_snap_keep(struct sim *s, struct node *n, raft_index index)
{
    size_t len;
    char *bytes = kv_snapshot(n->kv, &len);
    struct kv_snap *k = kv_snap_find(s, index);
    if (k) {
        if (k->len != len || memcmp(k->bytes, bytes, len) != 0)
            violation(s, "Replicated store", "%s's snapshot of the store "
                      "(kv_snapshot) at entry %" PRIu64 " differs from "
                      "another node's there", node_name(n->id), index);
        free(bytes);
        return;
    }
    if (s->n_kv_snaps == s->cap_kv_snaps) {
        s->cap_kv_snaps = s->cap_kv_snaps ? 2 * s->cap_kv_snaps : 16;
        s->kv_snaps = xrealloc(s->kv_snaps,
                               s->cap_kv_snaps * sizeof(*s->kv_snaps));
    }
    s->kv_snaps[s->n_kv_snaps++] = (struct kv_snap){index, bytes, len};
}

/* The store becomes the snapshot's (n->snap): empty without one. */
static void kv_load(struct sim *s, struct node *n)
{
    kv_free(n->kv);
    n->kv = kv_new();
    n->kv_chain = 1;
    if (!n->snap.index)
        return;
    struct kv_snap *k = kv_snap_find(s, n->snap.index);
    if (!k || kv_restore(n->kv, k->bytes, k->len) != 0) {
        violation(s, "Replicated store", "%s loads a snapshot at entry %"
                  PRIu64 " whose store %s", node_name(n->id), n->snap.index,
                  k ? "does not restore" : "no node wrote");
        return;
    }
    n->kv_chain = n->snap.kvc;
}

static void client_propose(struct sim *s, struct node *n, uint64_t cid,
                           bool may_retry)
{
    struct sim_stats *st = &s->res->st;
    char data[256];
    int len = client_command(s, n, cid, data, sizeof(data));
    if (n->up && (n->paused || blocked(n)) && n->inbox_n < 4096) {
        /* The request waits in the socket backlog of a blocked daemon. */
        inbox_push(n, (struct input){.id = cid, .kind = IN_PROPOSE,
                                     .may_retry = may_retry});
        SAY(s, 1, n->id, "client command \"%s\" waits (node %s)", data,
            n->paused ? "paused" : "busy writing");
        dig(s, 0x1ull ^ cid);
        return;
    }
    st->proposals++;
    if (!available(n)) {
        st->proposals_unavailable++;
        SAY(s, 0, n->id, "client command \"%s\" gets no answer (node down)", data);
        dig(s, 0x1ull ^ cid);
        return;
    }
    raft_index idx = 0;
    int rv = raft_propose(n->r, node_clock(n, s->now), data, (size_t)len, &idx);
    dig(s, 0x2ull ^ cid ^ ((uint64_t)(rv + 100) << 40) ^ (idx << 8));
    if (rv == 0) {
        st->proposals_ok++;
        SAY(s, 0, n->id, "client command \"%s\" -> appended as entry %" PRIu64
            " (term %" PRIu64 ")", data, idx, raft_current_term(n->r));
        settle(s, n);
        return;
    }
    st->proposals_refused++;
    raft_id hint = raft_leader(n->r);
    bool retry = may_retry && rv == RAFT_ENOTLEADER && hint && hint != n->id &&
                 hint <= s->n;
    SAY(s, 0, n->id,
        "client command \"%s\" refused: %s%s%s", data, raft_strerror(rv),
        retry ? "; client retries at " : "", retry ? node_name(hint) : "");
    if (retry)
        schedule(s, s->now + rng_between(&s->work, 1, 5), EV_RETRY, hint,
                 (uint32_t)cid, 0, NULL);
    settle(s, n);
}

static void client_read(struct sim *s, struct node *n, uint64_t rid,
                        bool may_retry)
{
    struct sim_stats *st = &s->res->st;
    if (n->up && (n->paused || blocked(n)) && n->inbox_n < 4096) {
        inbox_push(n, (struct input){.id = rid, .kind = IN_READ,
                                     .may_retry = may_retry});
        dig(s, 0x5ull ^ rid);
        return;
    }
    st->reads++;
    if (!available(n)) {
        st->reads_refused++;
        return;
    }
    int rv = raft_read_index(n->r, node_clock(n, s->now), rid);
    dig(s, 0x3ull ^ rid ^ ((uint64_t)(rv + 100) << 40));
    if (rv == 0) {
        if (s->n_rreqs == s->cap_rreqs) {
            s->cap_rreqs = s->cap_rreqs ? s->cap_rreqs * 2 : 16;
            s->rreqs = xrealloc(s->rreqs, s->cap_rreqs * sizeof(*s->rreqs));
        }
        s->rreqs[s->n_rreqs++] = (struct read_req){rid, s->max_commit};
        SAY(s, 0, n->id, "client read #%" PRIu64 ": read index %" PRIu64
            ", confirming leadership with a heartbeat round", rid,
            raft_commit_index(n->r));
        settle(s, n);
        return;
    }
    st->reads_refused++;
    raft_id hint = raft_leader(n->r);
    SAY(s, 0, n->id, "client read #%" PRIu64 " refused: %s", rid,
        raft_strerror(rv));
    if (may_retry && rv == RAFT_ENOTLEADER && hint && hint != n->id && hint <= s->n)
        schedule(s, s->now + rng_between(&s->work, 1, 5), EV_RETRY, hint,
                 (uint32_t)rid, 1, NULL);
    settle(s, n);
}

static void do_transfer(struct sim *s, raft_id target)
{
    raft_id l = current_leader(s);
    if (!l || !available(&s->nodes[l])) {
        SAY(s, 1, 0, "leadership transfer skipped: no available leader");
        return;
    }
    struct node *n = &s->nodes[l];
    s->res->st.transfers++;
    int rv = raft_transfer_leadership(n->r, node_clock(n, s->now), target);
    dig(s, 0x4ull ^ target ^ ((uint64_t)(rv + 100) << 40));
    SAY(s, 0, l, "operator asks it to hand leadership to %s%s%s",
        target ? node_name(target) : "the most up-to-date follower",
        rv ? ": " : "", rv ? raft_strerror(rv) : "");
    settle(s, n);
}

/* ------------------------------------------------------------------------ */
/* Membership changes                                                       */
/* ------------------------------------------------------------------------ */

enum member_step { STEP_ADD, STEP_PROMOTE, STEP_REMOVE };

/* Ask the leader l for one membership step on node id: add it as a
 * learner, promote it, or remove it. Returns the core's answer (1: not
 * asked, the learner has not caught up yet). */
static int member_step(struct sim *s, raft_id l, enum member_step step,
                       raft_id id)
{
    struct sim_stats *st = &s->res->st;
    struct node *n = &s->nodes[l];
    struct raft_configuration next = *raft_configuration(n->r, NULL);
    static const char *const verb[] = {"adds", "promotes", "removes"};
    char what[64];
    snprintf(what, sizeof(what), "%s %s%s", verb[step],
             id == l ? "itself" : node_name(id),
             step == STEP_ADD ? " as a learner"
             : step == STEP_PROMOTE ? " to voter" : "");
    if (step == STEP_PROMOTE && !raft_learner_caught_up(n->r, id)) {
        st->changes_waiting++;
        dig(s, 0xc4a1ull ^ id);
        SAY(s, 1, l, "(leader) would promote %s, which has not caught up yet",
            node_name(id));
        return 1;
    }
    unsigned i = 0;
    while (i < next.n && next.members[i].id != id)
        i++;
    if (step == STEP_ADD && i == next.n && next.n < RAFT_MAX_MEMBERS)
        next.members[next.n++] = (struct raft_member){.id = id,
                                                      .role = RAFT_LEARNER};
    else if (step == STEP_PROMOTE && i < next.n)
        next.members[i].role = RAFT_VOTER;
    else if (step == STEP_REMOVE && i < next.n)
        next.members[i] = next.members[--next.n];
    st->changes++;
    raft_index idx = 0;
    int rv = raft_change_configuration(n->r, node_clock(n, s->now), &next, &idx);
    dig(s, 0xc4a9ull ^ ((uint64_t)step << 8) ^ id ^
               ((uint64_t)(rv + 100) << 40) ^ (idx << 16));
    switch (rv) {
    case 0: st->changes_ok++; break;
    case RAFT_EBUSY: st->changes_busy++; break;
    case RAFT_ENOTREADY: st->changes_notready++; break;
    case RAFT_ENOQUORUM: st->changes_noquorum++; break;
    case RAFT_ENOTLEADER: st->changes_notleader++; break;
    default: st->changes_other++; break;
    }
    if (rv == 0)
        SAY(s, 0, l, "(leader) %s -> configuration %s, appended as entry %"
            PRIu64, what, sconf_text(sconf_of(&next)), idx);
    else
        SAY(s, 0, l, "(leader) is asked: %s; refused: %s", what,
            raft_strerror(rv));
    settle(s, n);
    return rv;
}

/* A new configuration to head for: a random set of voters among all the
 * nodes, of 1 to 5 (mostly 3 to 5, even sizes too), and no learner. */
static void churn_target(struct sim *s)
{
    struct rng *g = &s->churning;
    unsigned max = s->n < 5 ? s->n : 5;
    unsigned k = rng_chance(g, 0.1) ? 1 : (unsigned)rng_between(g, 2, max);
    raft_id ids[SIM_MAX_NODES];
    for (unsigned i = 0; i < s->n; i++)
        ids[i] = i + 1;
    s->target = (struct sconf){0, 0};
    for (unsigned i = 0; i < k; i++) {
        unsigned j = i + (unsigned)rng_below(g, s->n - i);
        raft_id t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
        s->target.voters |= (uint16_t)(1u << ids[i]);
    }
    dig(s, 0x7a29e7ull ^ s->target.voters);
    SAY(s, 1, 0, "membership: the operator now wants %s", sconf_text(s->target));
}

/* The churn fault: the next step from the leader's configuration towards
 * the target (as raftd's planner, reconcile.c, takes them: add as learner,
 * promote once caught up, then remove, the leader last), or now and then
 * a step off the plan: remove the leader or any member. */
static void churn(struct sim *s)
{
    struct rng *g = &s->churning;
    raft_id l = current_leader(s);
    if (!l || !available(&s->nodes[l])) {
        SAY(s, 1, 0, "membership change skipped: no available leader");
        return;
    }
    struct sconf cur = sconf_of(raft_configuration(s->nodes[l].r, NULL));
    if (!s->target.voters || rng_chance(g, 0.1))
        churn_target(s);
    if (rng_chance(g, 0.1)) {
        raft_id id = rng_chance(g, 0.5) ? l : (raft_id)rng_between(g, 1, s->n);
        if (sconf_member(cur, id) && (sconf_voters(cur) > 1 || !sconf_voter(cur, id))) {
            member_step(s, l, STEP_REMOVE, id);
            return;
        }
    }
    struct sconf t = s->target;
    for (raft_id id = 1; id <= s->n; id++)
        if (sconf_member(cur, id) && !sconf_voter(cur, id) && sconf_voter(t, id)) {
            member_step(s, l, STEP_PROMOTE, id);
            return;
        }
    for (raft_id id = 1; id <= s->n; id++)
        if (!sconf_member(cur, id) && sconf_voter(t, id)) {
            member_step(s, l, STEP_ADD, id);
            return;
        }
    for (int pass = 0; pass < 2; pass++)
        for (raft_id id = 1; id <= s->n; id++)
            if (sconf_member(cur, id) && !sconf_voter(t, id) &&
                (pass == 1 || id != l) && (sconf_voters(cur) > 1 || !sconf_voter(cur, id))) {
                member_step(s, l, STEP_REMOVE, id);
                return;
            }
    churn_target(s); /* reached: head for another one next time */
}

/* A scripted step (add, promote, remove): tried again every 100ms, for up
 * to 10s, while the leader cannot take it yet (none available, a change in
 * flight, nothing committed in its term, the learner still catching up). */
static void scripted_step(struct sim *s, enum member_step step, raft_id id,
                          unsigned attempt)
{
    raft_id l = current_leader(s);
    int rv = 1;
    if (l && available(&s->nodes[l])) {
        struct sconf cur = sconf_of(raft_configuration(s->nodes[l].r, NULL));
        if (step == STEP_PROMOTE && !sconf_member(cur, id)) {
            SAY(s, 1, l, "(leader) cannot promote %s yet: not a member",
                node_name(id)); /* its addition may not be appended yet */
        } else if ((step == STEP_ADD && sconf_member(cur, id)) ||
            (step == STEP_PROMOTE && sconf_voter(cur, id)) ||
            (step == STEP_REMOVE && !sconf_member(cur, id))) {
            SAY(s, 0, l, "(leader) has nothing to do: %s is %s of %s",
                node_name(id), sconf_voter(cur, id) ? "a voter"
                : sconf_member(cur, id) ? "a learner" : "not a member",
                sconf_text(cur));
            return;
        } else {
            rv = member_step(s, l, step, id);
        }
    }
    bool again = rv == 1 || rv == RAFT_EBUSY || rv == RAFT_ENOTREADY ||
                 rv == RAFT_ENOTLEADER || rv == RAFT_ETRANSFER;
    if (again && attempt < 100)
        schedule(s, s->now + 100, EV_MEMBER, id, step, attempt + 1, NULL);
    else if (again)
        SAY(s, 0, 0, "scenario: gives up the membership step after 10s");
}

static uint64_t interval(struct rng *g, double per_second)
{
    double mean = 1000.0 / per_second;
    uint64_t hi = (uint64_t)(2 * mean);
    return rng_between(g, 1, hi < 2 ? 2 : hi);
}

/* ------------------------------------------------------------------------ */
/* Random faults                                                            */
/* ------------------------------------------------------------------------ */

static raft_id pick_node(struct sim *s, bool want_up, double leader_bias)
{
    raft_id l = current_leader(s);
    if (l && rng_chance(&s->fault, leader_bias))
        return l;
    raft_id cands[SIM_MAX_NODES];
    unsigned k = 0;
    for (unsigned id = 1; id <= s->n; id++)
        if (!want_up || (s->nodes[id].up && !s->nodes[id].paused))
            cands[k++] = id;
    if (!k)
        return RAFT_NONE;
    return cands[rng_below(&s->fault, k)];
}

static void random_partition(struct sim *s)
{
    unsigned group[SIM_MAX_NODES + 1] = {0};
    unsigned kind = (unsigned)rng_below(&s->fault, 5);
    heal_all(s, false);
    if (kind == 0) { /* isolate one node (often the leader) */
        raft_id x = pick_node(s, false, 0.5);
        for (unsigned id = 1; id <= s->n; id++)
            group[id] = id == x;
        apply_groups(s, group);
    } else if (kind == 1) { /* random split into two groups */
        for (unsigned id = 1; id <= s->n; id++)
            group[id] = (unsigned)rng_below(&s->fault, 2);
        apply_groups(s, group);
    } else if (kind == 2) { /* three groups */
        for (unsigned id = 1; id <= s->n; id++)
            group[id] = (unsigned)rng_below(&s->fault, 3);
        apply_groups(s, group);
    } else if (kind == 3) { /* one-way cuts */
        unsigned cuts = (unsigned)rng_between(&s->fault, 1, s->n);
        char buf[200];
        size_t len = 0;
        buf[0] = 0;
        for (unsigned i = 0; i < cuts; i++) {
            raft_id a = (raft_id)rng_between(&s->fault, 1, s->n);
            raft_id b = (raft_id)rng_between(&s->fault, 1, s->n);
            if (a == b)
                continue;
            s->cut[a][b] = true;
            if (len < sizeof(buf) - 16)
                len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s->%s",
                                        node_name(a), node_name(b));
        }
        s->partitioned = true;
        s->res->st.partitions++;
        SAY(s, 0, 0, "network: one-way link cuts:%s", buf);
    } else { /* a bridge: two halves that only one node connects */
        raft_id bridge = (raft_id)rng_between(&s->fault, 1, s->n);
        for (unsigned id = 1; id <= s->n; id++)
            group[id] = (unsigned)rng_below(&s->fault, 2);
        for (unsigned a = 1; a <= s->n; a++)
            for (unsigned b = 1; b <= s->n; b++)
                s->cut[a][b] = a != bridge && b != bridge && group[a] != group[b];
        s->partitioned = true;
        s->res->st.partitions++;
        SAY(s, 0, 0, "network: two halves joined only through %s",
            node_name(bridge));
    }
    s->partition_gen++;
    dig(s, 0x9a27ull ^ s->partition_gen);
    schedule(s, s->now + rng_between(&s->fault, s->cfg->part_min, s->cfg->part_max),
             EV_HEAL, 0, 0, s->partition_gen, NULL);
}

static void random_fault(struct sim *s)
{
    const struct sim_config *c = s->cfg;
    double total = c->w_partition + c->w_crash + c->w_pause;
    if (total <= 0)
        return;
    double x = rng_unit(&s->fault) * total;
    if (x < c->w_partition) {
        random_partition(s);
    } else if (x < c->w_partition + c->w_crash) {
        raft_id id = pick_node(s, true, 0.5);
        if (!id)
            return;
        struct node *n = &s->nodes[id];
        node_crash(s, n);
        schedule(s, s->now + rng_between(&s->fault, c->down_min, c->down_max),
                 EV_RESTART, id, n->incarnation, 0, NULL);
    } else {
        raft_id id = pick_node(s, true, 0.5);
        if (!id)
            return;
        node_pause(s, &s->nodes[id],
                   rng_between(&s->fault, c->pause_min, c->pause_max));
    }
}

/* ------------------------------------------------------------------------ */
/* Forged messages                                                          */
/* ------------------------------------------------------------------------ */

/* The forge fault (raft.h, "Divergence"; doc/simulator.md): something that
 * is not a member (as on an unauthenticated network) sends node `to`, in
 * the name of another member, an AppendEntries or InstallSnapshot of `to`'s
 * term or a later one that gives an entry `to` knows to be committed
 * another term; no leader can send one (Leader Completeness). The checker
 * then wants it refused, reported and without effect (check_forgery); the
 * answer goes back to the forger. FORGE_STALE sends an old snapshot that
 * agrees instead: an ordinary message, which must not be reported. */
static void forge(struct sim *s, raft_id to, unsigned kind)
{
    struct rng *g = &s->forging;
    struct node *n = &s->nodes[to];
    if (kind == FORGE_RANDOM)
        kind = (unsigned)rng_between(g, FORGE_ENTRY, FORGE_STALE);
    if (!available(n) || s->n < 2) {
        SAY(s, 1, to, "a forged message finds the node %s", n->up ? "busy"
            : "down");
        return;
    }
    struct raft *r = n->r;
    /* an index whose term the node knows (not inside its snapshot) and
     * that it knows to be committed */
    raft_index commit = raft_commit_index(r), snap = raft_snapshot_index(r);
    raft_index lo = snap > 1 ? snap : 1;
    if (commit < lo) {
        SAY(s, 1, to, "a forged message finds nothing committed to contradict");
        return;
    }
    raft_index idx = rng_between(g, lo, commit);
    struct forgery f = {.kind = kind, .to = to, .index = idx,
                        .ours = raft_term_at(r, idx)};
    f.theirs = kind == FORGE_STALE ? f.ours
               : f.ours > 1 && rng_chance(g, 0.3)
                   ? rng_between(g, 1, f.ours - 1)
                   : f.ours + rng_between(g, 1, 2);
    f.from = (raft_id)rng_between(g, 1, s->n - 1);
    if (f.from >= to)
        f.from++;
    raft_term term = raft_current_term(r);
    struct raft_msg m = {.from = f.from, .to = to, .ctx = FORGED_CTX, .seq = 1,
                         .term = (f.theirs > term ? f.theirs : term) +
                                 rng_below(g, 2),
                         .commit = commit + rng_below(g, 3)};
    struct raft_entry e[3];
    char data[3][24];
    struct ssnap att = {.index = idx, .term = f.theirs};
    if (kind == FORGE_ENTRY || kind == FORGE_PREV) {
        m.type = RAFT_MSG_APPEND;
        m.prev_index = kind == FORGE_ENTRY ? idx - 1 : idx;
        m.prev_term = kind == FORGE_ENTRY ? raft_term_at(r, idx - 1) : f.theirs;
        m.n_entries = (size_t)rng_between(g, kind == FORGE_ENTRY, 3);
        m.entries = e;
        for (size_t i = 0; i < m.n_entries; i++) {
            int len = snprintf(data[i], sizeof(data[i]), "forged%" PRIu64,
                               s->res->st.forged + 1);
            e[i] = (struct raft_entry){.term = f.theirs, .len = (uint32_t)len,
                                       .data = (uint8_t *)data[i]};
        }
    } else {
        m.type = RAFT_MSG_SNAPSHOT;
        m.snapshot_index = idx;
        m.snapshot_term = f.theirs;
        if (kind == FORGE_STALE && idx <= s->committed.n) { /* agrees */
            att.chain = s->committed.e[idx - 1].chain;
            att.sm = s->committed.e[idx - 1].sm;
            att.clock = s->committed.e[idx - 1].clock;
            att.kvc = s->committed.e[idx - 1].kvc;
        } else { /* a state that never was */
            att.chain = mix64(rng_next(g));
            att.sm = mix64(rng_next(g));
        }
    }
    struct raft_msg *copy = msg_copy(&m, m.type == RAFT_MSG_SNAPSHOT ? &att : NULL);
    char buf[160];
    s->res->st.forged++;
    dig(s, 0xf0f6ull ^ (to << 40) ^ ((uint64_t)kind << 32) ^ idx);
    SAY(s, 0, to, "*** gets a FORGED message in %s's name: %s%s ***",
        node_name(f.from), msg_describe(copy, buf, sizeof(buf)),
        kind == FORGE_STALE ? " (old, agrees with its log)" : "");
    struct core_state before;
    core_state_get(n, &before);
    if (m.type == RAFT_MSG_SNAPSHOT)
        n->incoming = att; /* what a core that took it would install */
    s->forge_to = to;
    s->forge_notes = 0;
    deliver_now(s, n, copy);
    s->forge_to = RAFT_NONE;
    free(copy);
    if (s->forge_notes)
        s->res->st.forged_refused++;
    check_forgery(s, n, &f, &before);
}

/* ------------------------------------------------------------------------ */
/* Scenario items                                                           */
/* ------------------------------------------------------------------------ */

/* Resolve a reference to node ids; returns how many. */
static unsigned resolve(struct sim *s, const struct sc_ref *ref, raft_id *out)
{
    unsigned k = 0;
    switch (ref->kind) {
    case T_NODE:
        if (ref->id >= 1 && ref->id <= s->n)
            out[k++] = ref->id;
        break;
    case T_LEADER: {
        raft_id l = current_leader(s);
        if (l)
            out[k++] = l;
        break;
    }
    case T_FOLLOWER: {
        raft_id l = current_leader(s), c[SIM_MAX_NODES];
        unsigned m = 0;
        for (unsigned id = 1; id <= s->n; id++)
            if (id != l && s->nodes[id].up)
                c[m++] = id;
        if (m)
            out[k++] = c[rng_below(&s->fault, m)];
        break;
    }
    case T_RANDOM:
        out[k++] = (raft_id)rng_between(&s->fault, 1, s->n);
        break;
    case T_ALL:
        for (unsigned id = 1; id <= s->n; id++)
            out[k++] = id;
        break;
    default:
        break;
    }
    return k;
}

static void run_item(struct sim *s, const struct sc_item *it)
{
    raft_id ids[SIM_MAX_NODES * SC_MAX_REFS];
    unsigned k = 0;
    if (it->action == SC_NOTE)
        SAY(s, 0, 0, "== %s ==", it->text);
    else
        SAY(s, 0, 0, "scenario: %s", it->text);
    dig(s, 0x5c0ull ^ it->action);
    if (it->action != SC_PARTITION && it->action != SC_CUT &&
        it->action != SC_HEAL)
        for (unsigned i = 0; i < it->n_refs; i++)
            k += resolve(s, &it->refs[i], ids + k);
    bool needs_node = it->action == SC_CRASH || it->action == SC_RESTART ||
                      it->action == SC_PAUSE || it->action == SC_RESUME ||
                      it->action == SC_ISOLATE || it->action == SC_FORGE ||
                      it->action == SC_ADD || it->action == SC_PROMOTE ||
                      it->action == SC_REMOVE;
    if (needs_node && k == 0) {
        SAY(s, 0, 0, "  (no such node right now: skipped)");
        return;
    }
    switch (it->action) {
    case SC_CRASH:
        for (unsigned i = 0; i < k; i++)
            node_crash(s, &s->nodes[ids[i]]);
        break;
    case SC_RESTART:
        for (unsigned i = 0; i < k; i++)
            node_restart(s, &s->nodes[ids[i]]);
        break;
    case SC_PAUSE:
        for (unsigned i = 0; i < k; i++)
            node_pause(s, &s->nodes[ids[i]], it->duration);
        break;
    case SC_RESUME:
        for (unsigned i = 0; i < k; i++)
            node_resume(s, &s->nodes[ids[i]]);
        break;
    case SC_ISOLATE: {
        unsigned group[SIM_MAX_NODES + 1] = {0};
        for (unsigned i = 0; i < k; i++)
            group[ids[i]] = i + 1;
        apply_groups(s, group);
        break;
    }
    case SC_PARTITION: {
        unsigned group[SIM_MAX_NODES + 1];
        bool listed[SIM_MAX_NODES + 1] = {0};
        unsigned maxg = 0, rest_group = UINT32_MAX;
        for (unsigned id = 0; id <= SIM_MAX_NODES; id++)
            group[id] = UINT32_MAX;
        for (unsigned i = 0; i < it->n_refs; i++) {
            if (it->group[i] > maxg)
                maxg = it->group[i];
            if (it->refs[i].kind == T_REST) {
                rest_group = it->group[i];
                continue;
            }
            raft_id r1[SIM_MAX_NODES];
            unsigned m = resolve(s, &it->refs[i], r1);
            for (unsigned j = 0; j < m; j++) {
                group[r1[j]] = it->group[i];
                listed[r1[j]] = true;
            }
        }
        if (rest_group == UINT32_MAX)
            rest_group = maxg + 1;
        for (unsigned id = 1; id <= s->n; id++)
            if (!listed[id])
                group[id] = rest_group;
        apply_groups(s, group);
        break;
    }
    case SC_CUT: {
        for (unsigned i = 0; i + 1 < it->n_refs; i += 2) {
            raft_id a[SIM_MAX_NODES], b[SIM_MAX_NODES];
            unsigned ma = resolve(s, &it->refs[i], a);
            unsigned mb = resolve(s, &it->refs[i + 1], b);
            for (unsigned x = 0; x < ma; x++)
                for (unsigned y = 0; y < mb; y++) {
                    if (a[x] == b[y])
                        continue;
                    s->cut[a[x]][b[y]] = true;
                    if (it->both_ways[i / 2])
                        s->cut[b[y]][a[x]] = true;
                    SAY(s, 0, 0, "link %s %s %s cut", node_name(a[x]),
                        it->both_ways[i / 2] ? "<->" : "->", node_name(b[y]));
                }
        }
        s->partitioned = true;
        break;
    }
    case SC_HEAL:
        if (it->n_refs == 0) {
            heal_all(s, true);
        } else {
            for (unsigned i = 0; i + 1 < it->n_refs; i += 2) {
                raft_id a[SIM_MAX_NODES], b[SIM_MAX_NODES];
                unsigned ma = resolve(s, &it->refs[i], a);
                unsigned mb = resolve(s, &it->refs[i + 1], b);
                for (unsigned x = 0; x < ma; x++)
                    for (unsigned y = 0; y < mb; y++) {
                        s->cut[a[x]][b[y]] = false;
                        if (it->both_ways[i / 2])
                            s->cut[b[y]][a[x]] = false;
                    }
            }
            SAY(s, 0, 0, "links healed");
        }
        break;
    case SC_PROPOSE: {
        raft_id target = k ? ids[0] : current_leader(s);
        if (!target)
            target = (raft_id)rng_between(&s->fault, 1, s->n);
        for (unsigned i = 0; i < it->lo; i++)
            client_propose(s, &s->nodes[target], ++s->client_seq, true);
        break;
    }
    case SC_READ: {
        raft_id target = k ? ids[0] : current_leader(s);
        if (!target)
            target = (raft_id)rng_between(&s->fault, 1, s->n);
        client_read(s, &s->nodes[target], ++s->read_seq, true);
        break;
    }
    case SC_TRANSFER:
        do_transfer(s, k ? ids[0] : RAFT_NONE);
        break;
    case SC_LOSS:
        s->loss = it->value;
        break;
    case SC_DUP:
        s->dup = it->value;
        break;
    case SC_REORDER:
        s->reorder = it->value;
        break;
    case SC_LATENCY:
        s->lat_min = it->lo;
        s->lat_max = it->hi;
        break;
    case SC_NOTE:
        break;
    case SC_FORGE:
        forge(s, ids[0], it->lo);
        break;
    case SC_ADD:
    case SC_PROMOTE:
    case SC_REMOVE:
        scripted_step(s, it->action == SC_ADD       ? STEP_ADD
                         : it->action == SC_PROMOTE ? STEP_PROMOTE
                                                    : STEP_REMOVE,
                      ids[0], 0);
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* The liveness phase                                                       */
/* ------------------------------------------------------------------------ */

static void begin_quiet(struct sim *s)
{
    s->quiet = true;
    s->quiet_start = s->now;
    SAY(s, 0, 0, "--- end of the fault phase: network healed, every node up; "
        "liveness check: a leader must commit a proposal within %.1fs ---",
        s->cfg->liveness_ms / 1000.0);
    heal_all(s, false);
    s->loss = s->dup = s->reorder = 0;
    s->lat_min = s->cfg->lat_min;
    s->lat_max = s->cfg->lat_max;
    for (unsigned id = 1; id <= s->n && !s->res->violated; id++) {
        struct node *n = &s->nodes[id];
        if (!n->up)
            node_restart(s, n);
        else if (n->paused)
            node_resume(s, n);
    }
    schedule(s, s->now, EV_PROBE, 0, 0, 0, NULL);
    schedule(s, s->now + s->cfg->liveness_ms, EV_DEADLINE, 0, 0, 0, NULL);
}

static void probe(struct sim *s)
{
    if (s->probe_committed || s->done)
        return;
    raft_id l = current_leader(s);
    if (l && available(&s->nodes[l])) {
        struct node *n = &s->nodes[l];
        raft_term t = raft_current_term(n->r);
        if (s->probe_node != l || s->probe_term != t) {
            char data[32];
            int len = snprintf(data, sizeof(data), "probe%" PRIu64, ++s->probe_seq);
            raft_index idx;
            int rv = raft_propose(n->r, node_clock(n, s->now), data, (size_t)len, &idx);
            dig(s, 0x9e0bull ^ ((uint64_t)(rv + 100) << 8));
            if (rv == 0) {
                s->probe_node = l;
                s->probe_term = t;
                s->probe_index = idx;
                SAY(s, 0, l, "liveness probe \"%s\" -> entry %" PRIu64
                    " (term %" PRIu64 ")", data, idx, t);
            }
            settle(s, n);
        }
    }
    schedule(s, s->now + 100, EV_PROBE, 0, 0, 0, NULL);
}

static void liveness_progress(struct sim *s)
{
    if (!s->quiet || s->done || s->res->violated || !s->probe_index)
        return;
    if (!s->probe_committed) {
        if (s->committed.n >= s->probe_index &&
            s->committed.e[s->probe_index - 1].term == s->probe_term) {
            s->probe_committed = true;
            s->probe_committed_at = s->now;
            SAY(s, 0, 0, "liveness: probe entry %" PRIu64 " committed %.3fs "
                "after the faults stopped", s->probe_index,
                (s->now - s->quiet_start) / 1000.0);
            schedule(s, s->now + s->cfg->catchup_ms, EV_DEADLINE, 0, 1, 0, NULL);
        } else {
            return;
        }
    }
    /* every member of the configuration at the probe (a removed node or a
     * spare never added is not sent it) */
    struct sconf k = s->committed.e[s->probe_index - 1].conf;
    for (unsigned id = 1; id <= s->n; id++)
        if (sconf_member(k, id) &&
            (!s->nodes[id].up || s->nodes[id].applied < s->probe_index))
            return;
    s->done = true;
    s->res->st.liveness_ms = s->now - s->quiet_start;
    SAY(s, 0, 0, "liveness: every node applied the probe entry %.3fs after "
        "the faults stopped", (s->now - s->quiet_start) / 1000.0);
}

static void deadline(struct sim *s, uint32_t which)
{
    if (s->done)
        return;
    char buf[256];
    size_t len = 0;
    buf[0] = 0;
    for (unsigned id = 1; id <= s->n && len < sizeof(buf) - 64; id++) {
        struct node *n = &s->nodes[id];
        if (!n->up)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s:down",
                                    node_name(id));
        else
            len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                    " %s:%s/t%" PRIu64 "/commit %" PRIu64
                                    "/applied %" PRIu64, node_name(id),
                                    raft_role_name(raft_role(n->r)),
                                    raft_current_term(n->r),
                                    raft_commit_index(n->r), n->applied);
    }
    if (which == 0 && !s->probe_committed)
        violation(s, "Liveness", "no leader committed a proposal within %.1fs "
                  "of a healthy network (nodes:%s)", s->cfg->liveness_ms / 1000.0,
                  buf);
    else if (which == 1)
        violation(s, "Liveness", "probe entry %" PRIu64 " was committed but not "
                  "every node applied it within %.1fs (nodes:%s)",
                  s->probe_index, s->cfg->catchup_ms / 1000.0, buf);
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                 */
/* ------------------------------------------------------------------------ */

static void handle(struct sim *s, struct event *ev)
{
    struct node *n = ev->node ? &s->nodes[ev->node] : NULL;
    const struct sim_config *c = s->cfg;
    switch (ev->type) {
    case EV_DELIVER: {
        struct raft_msg *m = ev->msg;
        if (s->cut[m->from][m->to]) {
            char buf[160];
            s->res->st.msgs_lost++;
            s->sec.lost++;
            SAY(s, 2, m->to, "lost on the way from %s: %s", node_name(m->from),
                msg_describe(m, buf, sizeof(buf)));
            dig(s, 0x10ull ^ m->to);
            free(m);
        } else if (!n->up) {
            s->res->st.msgs_lost++;
            dig(s, 0x11ull ^ m->to);
            free(m);
        } else if (n->paused || blocked(n)) {
            dig(s, 0x12ull ^ m->to);
            if (n->inbox_n < 4096)
                inbox_push(n, (struct input){.msg = m, .kind = IN_MSG});
            else
                free(m);
        } else {
            dig(s, 0x13ull ^ m->to);
            deliver_now(s, n, m);
            free(m);
        }
        break;
    }
    case EV_TICK:
        if (!n->up || ev->gen != n->timer_gen)
            return;
        n->timer_armed = false;
        if (n->paused)
            return;
        dig(s, 0x20ull ^ n->id);
        if (blocked(n)) {
            n->tick_pending = true;
            return;
        }
        tick_now(s, n);
        break;
    case EV_WRITE_DONE:
        if (!n->up || ev->gen != n->write_gen || n->fg == FG_NONE ||
            n->fg_landed)
            return;
        dig(s, 0x30ull ^ n->id);
        if (n->fg == FG_INSTALL)
            persist_snapshot(s, n, n->fg_rd);
        else
            land_all(s, n);
        n->fg_landed = true;
        if (!n->paused) /* else the process sees it when it resumes */
            complete_write(s, n);
        break;
    case EV_SYNC_DONE:
        if (!n->up || ev->gen != n->sync_gen || !n->syncing)
            return;
        dig(s, 0x31ull ^ n->id);
        wops_land(s, n, n->sync_ops, 0);
        n->syncing = false;
        n->sync_landed = true;
        if (n->paused)
            return; /* the loop sees it when the process resumes */
        sync_callback(s, n);
        go_on(s, n); /* a batch may have waited for it */
        break;
    case EV_PROPOSE:
        if (s->quiet)
            return;
        schedule(s, s->now + interval(&s->work, c->proposals), EV_PROPOSE, 0, 0, 0, NULL);
        client_propose(s, &s->nodes[rng_between(&s->work, 1, s->n)],
                       ++s->client_seq, true);
        break;
    case EV_RETRY:
        if (ev->gen == 0)
            client_propose(s, n, ev->a, false);
        else
            client_read(s, n, ev->a, false);
        break;
    case EV_READ:
        if (s->quiet)
            return;
        schedule(s, s->now + interval(&s->work, c->reads), EV_READ, 0, 0, 0, NULL);
        client_read(s, &s->nodes[rng_between(&s->work, 1, s->n)], ++s->read_seq,
                    true);
        break;
    case EV_TRANSFER:
        if (s->quiet)
            return;
        schedule(s, s->now + interval(&s->work, c->transfers), EV_TRANSFER, 0, 0, 0,
                 NULL);
        do_transfer(s, rng_chance(&s->work, 0.5)
                           ? RAFT_NONE
                           : (raft_id)rng_between(&s->work, 1, s->n));
        break;
    case EV_FAULT:
        if (s->quiet)
            return;
        schedule(s, s->now + interval(&s->fault, c->fault_rate), EV_FAULT, 0, 0, 0,
                 NULL);
        random_fault(s);
        break;
    case EV_HEAL:
        if (s->quiet || ev->gen != s->partition_gen)
            return;
        heal_all(s, true);
        break;
    case EV_FORGE:
        if (s->quiet)
            return;
        schedule(s, s->now + interval(&s->forging, c->forge_rate), EV_FORGE,
                 0, 0, 0, NULL);
        forge(s, (raft_id)rng_between(&s->forging, 1, s->n), FORGE_RANDOM);
        break;
    case EV_CHURN:
        if (s->quiet)
            return;
        schedule(s, s->now + interval(&s->churning, c->churn_rate), EV_CHURN,
                 0, 0, 0, NULL);
        churn(s);
        break;
    case EV_MEMBER:
        if (s->quiet)
            return;
        scripted_step(s, (enum member_step)ev->a, ev->node, (unsigned)ev->gen);
        break;
    case EV_RESTART:
        if (n->up || n->incarnation != ev->a)
            return;
        node_restart(s, n);
        break;
    case EV_REBOOT:
        if (s->quiet || !n->up || n->incarnation != ev->a)
            return;
        SAY(s, 0, n->id, "reboots right after voting");
        node_crash(s, n);
        schedule(s, s->now + rng_between(&s->fault, 1, 30), EV_RESTART, n->id,
                 n->incarnation, 0, NULL);
        break;
    case EV_GONE: {
        struct node *dead = &s->nodes[ev->a];
        if (!n->up || dead->up || dead->incarnation != ev->gen ||
            s->cut[n->id][dead->id] || s->cut[dead->id][n->id])
            return;
        if (n->paused || blocked(n)) { /* its loop looks later */
            schedule(s, s->now + 1, EV_GONE, n->id, ev->a, ev->gen, NULL);
            return;
        }
        if (raft_leader_gone(n->r, node_clock(n, s->now), dead->id,
                             "its machine refused a connection") == 0)
            settle(s, n);
        break;
    }
    case EV_RESUME:
        if (!n->up || !n->paused || ev->gen != n->pause_gen)
            return;
        node_resume(s, n);
        break;
    case EV_SCRIPT:
        if (s->quiet)
            return;
        run_item(s, &c->sc->items[ev->a]);
        break;
    case EV_QUIET:
        begin_quiet(s);
        break;
    case EV_PROBE:
        probe(s);
        break;
    case EV_DEADLINE:
        deadline(s, ev->a);
        break;
    case EV_END:
        s->done = true;
        break;
    }
    s->events++;
    dig(s, ((uint64_t)ev->type << 56) ^ ((uint64_t)ev->node << 48) ^ ev->t);
}

static void sim_free(struct sim *s)
{
    for (size_t i = 0; i < s->nheap; i++)
        free(s->heap[i].msg);
    free(s->heap);
    for (unsigned id = 1; id <= s->n; id++) {
        struct node *n = &s->nodes[id];
        stop_driver(s, n);
        raft_free(n->r);
        inbox_clear(n);
        free(n->inbox);
        slog_free(&n->disk);
        slog_free(&n->mirror);
        kv_free(n->kv);
        free(n->reads);
        wops_drop(n);
        free(n->wops);
    }
    free(s->rreqs);
    for (size_t i = 0; i < s->n_kv_snaps; i++)
        free(s->kv_snaps[i].bytes);
    free(s->kv_snaps);
    check_free(s);
    trace_free(s);
}

void sim_run(const struct sim_config *cfg, uint64_t seed,
             const struct sim_output *out, struct sim_result *res)
{
    struct sim *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "raft-sim: out of memory\n");
        exit(2);
    }
    memset(res, 0, sizeof(*res));
    s->cfg = cfg;
    s->out = out;
    s->res = res;
    s->seed = seed;
    s->members = cfg->nodes;
    s->n = cfg->nodes + cfg->spares;
    if (s->n > SIM_MAX_NODES)
        s->n = SIM_MAX_NODES;
    for (unsigned id = 1; id <= s->members; id++)
        s->initial.voters |= (uint16_t)(1u << id);
    s->committed.base = s->initial;
    rng_init(&s->net, seed, STREAM_NET);
    rng_init(&s->fault, seed, STREAM_FAULT);
    rng_init(&s->work, seed, STREAM_WORK);
    rng_init(&s->disk, seed, STREAM_DISK);
    rng_init(&s->snapshotting, seed, STREAM_SNAP);
    rng_init(&s->syncing, seed, STREAM_SYNC);
    rng_init(&s->forging, seed, STREAM_FORGE);
    rng_init(&s->churning, seed, STREAM_CHURN);
    s->loss = cfg->loss;
    s->dup = cfg->dup;
    s->reorder = cfg->reorder;
    s->lat_min = cfg->lat_min;
    s->lat_max = cfg->lat_max;
    check_init(s);
    trace_init(s);
    dig(s, seed);

    for (unsigned id = 1; id <= s->n; id++) {
        struct node *n = &s->nodes[id];
        n->id = id;
        n->sim = s;
        /* a spare is bootstrapped with the cluster's members and itself,
         * as a node started from an edited member list: it believes it is
         * a voter, and the members do not know it */
        n->boot = s->initial;
        if (id > s->members)
            n->boot.voters |= (uint16_t)(1u << id);
        n->mirror.base = n->disk.base = s->initial;
        rng_init(&n->rng, seed, STREAM_NODE + id);
        struct rng g;
        rng_init(&g, seed, STREAM_NODE + 50 + id);
        n->clock_offset = cfg->clock_offsets
                              ? (int64_t)rng_between(&g, 0, 1000000000000ull)
                              : 0;
        n->drift_ppm = cfg->drift_ppm
                           ? (int)rng_between(&g, 0, 2 * (uint64_t)cfg->drift_ppm) -
                                 cfg->drift_ppm
                           : 0;
        n->bg = cfg->bg_sync >= 1 || (cfg->bg_sync > 0 && rng_chance(&g, cfg->bg_sync));
    }
    SAY(s, 0, 0, "%u nodes start as followers in term 0; nobody is leader yet",
        s->members);
    if (s->n > s->members)
        SAY(s, 0, 0, "%s n%u%s%s start outside the cluster %s (they believe "
            "they are voters of it with themselves)", s->n - s->members > 1 ?
            "spares" : "spare", s->members + 1, s->n - s->members > 1 ? ".." : "",
            s->n - s->members > 1 ? node_name(s->n) : "", sconf_text(s->initial));
    for (unsigned id = 1; id <= s->n; id++)
        node_start(s, &s->nodes[id]);
    trace_flush(s);

    if (cfg->proposals > 0)
        schedule(s, interval(&s->work, cfg->proposals), EV_PROPOSE, 0, 0, 0, NULL);
    if (cfg->reads > 0)
        schedule(s, interval(&s->work, cfg->reads), EV_READ, 0, 0, 0, NULL);
    if (cfg->transfers > 0)
        schedule(s, interval(&s->work, cfg->transfers), EV_TRANSFER, 0, 0, 0, NULL);
    if (cfg->fault_rate > 0)
        schedule(s, interval(&s->fault, cfg->fault_rate), EV_FAULT, 0, 0, 0, NULL);
    if (cfg->forge_rate > 0)
        schedule(s, interval(&s->forging, cfg->forge_rate), EV_FORGE, 0, 0, 0,
                 NULL);
    if (cfg->churn_rate > 0)
        schedule(s, interval(&s->churning, cfg->churn_rate), EV_CHURN, 0, 0, 0,
                 NULL);
    if (cfg->sc)
        for (size_t i = 0; i < cfg->sc->n; i++)
            schedule(s, cfg->sc->items[i].at, EV_SCRIPT, 0, (uint32_t)i, 0, NULL);
    if (cfg->liveness)
        schedule(s, cfg->duration_ms, EV_QUIET, 0, 0, 0, NULL);
    else
        schedule(s, cfg->duration_ms, EV_END, 0, 0, 0, NULL);

    while (s->nheap && !res->violated && !s->done) {
        struct event ev = heap_pop(s);
        if (ev.t > s->now) {
            if (out->fmt)
                trace_second(s, ev.t);
            s->now = ev.t;
            s->same_time_events = 0;
        } else if (++s->same_time_events > 2000000) {
            free(ev.msg);
            violation(s, "Progress", "more than 2000000 events at virtual "
                      "time %.3fs: a livelock", s->now / 1000.0);
            break;
        }
        handle(s, &ev);
        bool electable = s->electable_dirty || s->durability_dirty;
        if (s->durability_dirty && !res->violated)
            check_durability(s);
        if (electable && !res->violated)
            check_electable(s);
        if (!res->violated)
            check_progress(s);
        liveness_progress(s);
        trace_flush(s);
        if (s->events > 100000000ull)
            violation(s, "Progress", "runaway: more than 1e8 events");
    }
    trace_flush(s);
    if (out->fmt && out->print)
        trace_second(s, s->now);

    res->sim_ms = s->now;
    res->st.events = s->events;
    res->st.committed = s->committed.n;
    for (unsigned id = 1; id <= s->n; id++) {
        struct node *n = &s->nodes[id];
        dig(s, n->applied ^ (n->sm_hash << 1) ^ ((uint64_t)n->up << 63));
    }
    res->digest = s->digest;
    if (res->violated && out->fmt)
        trace_dump_tail(s);
    sim_free(s);
    free(s);
}

/* ------------------------------------------------------------------------ */
/* Configurations                                                           */
/* ------------------------------------------------------------------------ */

void sim_config_for_seed(struct sim_config *cfg, const struct sim_config *base,
                         unsigned set, bool random_mix, uint64_t seed)
{
    *cfg = *base;
    if (!random_mix)
        return;
    struct rng g;
    rng_init(&g, seed, STREAM_MIX);
    /* Every value is drawn, set or not, so that an option does not shift
     * the others: --seed S --faults random --nodes 5 differs from the soak
     * run of S only in its node count. */
    static const unsigned node_choices[] = {3, 5, 7};
    unsigned nodes = node_choices[rng_below(&g, 3)];
    unsigned hb = (unsigned)rng_between(&g, 30, 100);
    unsigned emin = hb * (unsigned)rng_between(&g, 8, 15);
    unsigned emax = emin + emin * (unsigned)rng_between(&g, 50, 150) / 100;
    bool prevote = rng_chance(&g, 0.8), cq = rng_chance(&g, 0.8);
    static const unsigned ents[] = {1, 2, 4, 64}, infl[] = {1, 2, 8, 16};
    unsigned max_entries = ents[rng_below(&g, 4)];
    unsigned max_inflight = infl[rng_below(&g, 4)];
    size_t max_bytes = rng_chance(&g, 0.3) ? 32 : 1024 * 1024;
    unsigned lat_min = (unsigned)rng_between(&g, 0, 5);
    unsigned lat_max = lat_min + (unsigned)rng_between(&g, 1, 40);
    double loss = rng_chance(&g, 0.5) ? 0 : rng_between(&g, 1, 15) / 100.0;
    double dup = rng_chance(&g, 0.5) ? 0 : rng_between(&g, 1, 10) / 100.0;
    double reorder = rng_chance(&g, 0.5) ? 0 : rng_between(&g, 5, 30) / 100.0;
    unsigned reorder_max = lat_max * (unsigned)rng_between(&g, 2, 10);
    bool disk = rng_chance(&g, 0.5);
    unsigned disk_min = (unsigned)rng_between(&g, 0, 2);
    unsigned disk_max = disk_min + (unsigned)rng_between(&g, 1, 15);
    double torn = rng_chance(&g, 0.5) ? 0.5 : 0;
    int drift = (int)rng_between(&g, 0, 2000);
    bool offsets = rng_chance(&g, 0.5);
    double fault_rate = rng_between(&g, 10, 100) / 100.0;
    double wp = (double)rng_between(&g, 0, 10), wc = (double)rng_between(&g, 0, 10),
           wz = (double)rng_between(&g, 0, 10);
    if (wp + wc + wz == 0)
        wp = 1;
    unsigned part_max = (unsigned)rng_between(&g, 1000, 6000);
    unsigned down_max = (unsigned)rng_between(&g, 500, 5000);
    unsigned pause_max = (unsigned)rng_between(&g, 500, 4000);
    double proposals = (double)rng_between(&g, 2, 30);
    double reads = rng_chance(&g, 0.5) ? 0 : (double)rng_between(&g, 1, 10);
    double transfers = rng_chance(&g, 0.5) ? 0 : rng_between(&g, 1, 30) / 100.0;
    double vote_crash = rng_chance(&g, 0.7) ? 0 : rng_between(&g, 5, 30) / 100.0;
    unsigned down_min = rng_chance(&g, 0.5) ? 10 : 100;
    /* drawn last, so that the draws above match those of older versions */
    double snapshots = rng_chance(&g, 0.5) ? 0 : rng_between(&g, 1, 30) / 100.0;
    unsigned snapshot_keep = (unsigned)rng_below(&g, 3) * 10;
    /* and after those, background syncing (for some nodes or all) */
    double bg_sync = rng_chance(&g, 0.5) ? 0 : rng_chance(&g, 0.5) ? 1 : 0.5;
    /* and then forged messages */
    double forge = rng_chance(&g, 0.7) ? 0 : rng_between(&g, 10, 50) / 100.0;
    /* and then membership changes, with one or two spare nodes */
    double churn = rng_chance(&g, 0.6) ? 0 : rng_between(&g, 20, 100) / 100.0;
    unsigned spares = (unsigned)rng_between(&g, 1, 2);

    if (!(set & SET_NODES))
        cfg->nodes = nodes;
    if (!(set & SET_TIMING)) {
        cfg->heartbeat_ms = hb;
        cfg->election_min_ms = emin;
        cfg->election_max_ms = emax;
    }
    if (!(set & SET_PREVOTE))
        cfg->prevote = prevote;
    if (!(set & SET_CQ))
        cfg->check_quorum = cq;
    if (!(set & SET_BATCH)) {
        cfg->max_entries = max_entries;
        cfg->max_inflight = max_inflight;
        cfg->max_bytes = max_bytes;
    }
    if (!(set & SET_LAT)) {
        cfg->lat_min = lat_min;
        cfg->lat_max = lat_max;
    }
    if (!(set & SET_LOSS))
        cfg->loss = loss;
    if (!(set & SET_DUP))
        cfg->dup = dup;
    if (!(set & SET_REORDER)) {
        cfg->reorder = reorder;
        cfg->reorder_max = reorder_max;
    }
    if (!(set & SET_DISK)) {
        cfg->disk_min = disk ? disk_min : 0;
        cfg->disk_max = disk ? disk_max : 0;
    }
    if (!(set & SET_TORN))
        cfg->torn = torn;
    if (!(set & SET_CLOCKS)) {
        cfg->drift_ppm = drift;
        cfg->clock_offsets = offsets;
    }
    if (!(set & SET_FAULTS)) {
        cfg->fault_rate = fault_rate;
        cfg->w_partition = wp;
        cfg->w_crash = wc;
        cfg->w_pause = wz;
        cfg->part_min = 300;
        cfg->part_max = part_max;
        cfg->down_min = down_min;
        cfg->down_max = down_max;
        cfg->vote_crash = vote_crash;
        cfg->forge_rate = forge;
        cfg->churn_rate = churn;
        cfg->pause_min = 100;
        cfg->pause_max = pause_max;
    }
    if (!(set & SET_PROPOSALS)) {
        /* Keep the offered load well below what replication can carry
         * (entries per message x messages in flight per round trip), or
         * the backlog, not the algorithm, decides when the probe commits. */
        double batch = cfg->max_bytes < 64 ? 3 : cfg->max_entries;
        if (batch > cfg->max_entries)
            batch = cfg->max_entries;
        double rtt = 2.0 * cfg->lat_max + 2;
        double capacity = batch * cfg->max_inflight * 1000.0 / rtt;
        cfg->proposals = proposals < capacity / 4 ? proposals : capacity / 4;
    }
    if (!(set & SET_SNAPSHOTS)) {
        cfg->snapshots = snapshots;
        cfg->snapshot_keep = snapshot_keep;
    }
    if (!(set & SET_BG_SYNC))
        cfg->bg_sync = bg_sync;
    if (!(set & SET_SPARES))
        cfg->spares = cfg->churn_rate > 0 ? spares : 0;
    if (cfg->nodes + cfg->spares > SIM_MAX_NODES)
        cfg->spares = SIM_MAX_NODES - cfg->nodes;
    if (!(set & SET_READS))
        cfg->reads = reads;
    if (!(set & SET_TRANSFERS))
        cfg->transfers = transfers;
    cfg->unreachable = 0.5;
}

static const char *pct(double p, char *buf, size_t len)
{
    snprintf(buf, len, "%g%%", p * 100);
    return buf;
}

void sim_print_config(FILE *f, const struct sim_config *c, uint64_t seed)
{
    char a[16], b[16], d[16];
    fprintf(f, "raft-sim: %u nodes", c->nodes);
    if (c->spares)
        fprintf(f, " and %u spare%s", c->spares, c->spares > 1 ? "s" : "");
    fprintf(f, ", seed %" PRIu64 ", %.3fs of virtual time%s\n", seed,
            c->duration_ms / 1000.0, c->liveness ? " then a liveness check" : "");
    fprintf(f, "  core: heartbeat %ums, election timeout %u-%ums, pre-vote %s, "
            "check-quorum %s, batches of %u entries, %u in flight\n",
            c->heartbeat_ms, c->election_min_ms, c->election_max_ms,
            c->prevote ? "on" : "off", c->check_quorum ? "on" : "off",
            c->max_entries, c->max_inflight);
    fprintf(f, "  network: latency %u-%ums, loss %s, duplicates %s, reordering %s\n",
            c->lat_min, c->lat_max, pct(c->loss, a, sizeof(a)),
            pct(c->dup, b, sizeof(b)), pct(c->reorder, d, sizeof(d)));
    if (c->disk_max)
        fprintf(f, "  disk: fsync %u-%ums%s\n", c->disk_min, c->disk_max,
                c->torn > 0 ? ", crashes may tear a write" : "");
    else
        fprintf(f, "  disk: synchronous writes\n");
    if (c->bg_sync > 0)
        fprintf(f, "  background syncing: %s nodes (answers held until "
                "durable)\n", c->bg_sync >= 1 ? "all" : "some");
    if (c->fault_rate > 0)
        fprintf(f, "  random faults: %.2f/s (weights: partition %g, crash %g, "
                "pause %g)%s\n", c->fault_rate, c->w_partition, c->w_crash,
                c->w_pause, c->vote_crash > 0 ? "; nodes may reboot right after voting" : "");
    if (c->snapshots > 0)
        fprintf(f, "  snapshots: %.0f%% chance after applying, keeping up to "
                "%u entries\n", c->snapshots * 100, c->snapshot_keep);
    if (c->leader_probe)
        fprintf(f, "  leader probe: first elections within two heartbeats; "
                "a crashed leader's followers hear that it is gone\n");
    if (c->now_interval)
        fprintf(f, "  \"now\" entries: a leader proposes its clock every %u "
                "ms of it\n", c->now_interval);
    if (c->forge_rate > 0)
        fprintf(f, "  forged messages contradicting a node's committed log: "
                "%.2f/s\n", c->forge_rate);
    if (c->churn_rate > 0)
        fprintf(f, "  membership changes asked of the leader: %.2f/s\n",
                c->churn_rate);
    fprintf(f, "  clients: %.2f commands/s, %.2f reads/s, %.2f leadership "
            "transfers/s\n", c->proposals, c->reads, c->transfers);
    if (c->sc && c->sc->n)
        fprintf(f, "  scenario: %zu scripted events\n", c->sc->n);
}
