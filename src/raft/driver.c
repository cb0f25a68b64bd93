/* driver.c - the ready loop shared by raftd and raft-sim (see driver.h).
 *
 * A batch goes through stages; a stage whose operation answers
 * DRIVER_LATER leaves the batch in hand, and the next driver_step() goes
 * on from there:
 *
 *   DRAIN -> INSTALL -> EARLY -> WRITE -> SYNC -> FINISH     (foreground)
 *                       EARLY -> WRITE ---------> FINISH     (background)
 *
 * Background syncing (dissertation 10.2.1: a leader may write its log in
 * parallel with replicating it; raft.h, raft_advance_unsynced): write
 * generations count the background batches that wrote entries (write_gen);
 * a sync covers every generation written before it began (running_gen,
 * then synced_gen). A successful AppendEntries answer made while
 * synced_gen < write_gen acknowledges entries that may not be durable yet,
 * so it is held with the current write_gen and sent once synced_gen reaches
 * it. Nothing here allocates per batch: the held answers' array only grows.
 */
#include "driver.h"

#include <assert.h>
#include <stdlib.h>

enum stage {
    STAGE_NONE,    /* no batch in hand */
    STAGE_DRAIN,   /* foreground: the background sync settles first */
    STAGE_INSTALL, /* the leader's snapshot, before anything else */
    STAGE_EARLY,   /* a leader's AppendEntries, before its own write */
    STAGE_WRITE,   /* hard state and entries */
    STAGE_SYNC,    /* foreground: durable now */
    STAGE_FINISH,  /* messages, apply, reads, notes, advance */
};

/* A successful AppendEntries answer waiting for write generation gen to be
 * durable. */
struct held_answer {
    struct raft_msg msg;
    uint64_t gen;
};

struct driver {
    struct raft *r;
    const struct driver_ops *ops;
    void *host;

    struct raft_ready rd; /* the batch in hand (stage != STAGE_NONE) */
    enum stage stage;
    bool background;      /* it is only written, synced in the background */
    bool early;           /* its AppendEntries go out before the write */
    bool waiting_write;   /* install_snapshot or sync answered DRIVER_LATER */
    bool stepping;        /* inside driver_step() (no re-entry) */
    bool failed;

    uint64_t write_gen;   /* background batches that wrote entries */
    uint64_t synced_gen;  /* ... covered by the last finished sync */
    uint64_t running_gen; /* ... by the running sync (0: none runs) */
    raft_index written_index; /* the last entry written, and its term */
    raft_term written_term;
    raft_index running_index; /* ... when the running sync began */
    raft_term running_term;
    raft_index durable_index; /* everything up to here is durable */

    struct held_answer *held;
    size_t n_held, cap_held;

    struct driver_stats stats;
};

struct driver *driver_new(struct raft *r, const struct driver_ops *ops,
                          void *host)
{
    assert(r && ops && ops->install_snapshot && ops->write && ops->sync &&
           ops->sync_start && ops->sync_wait && ops->sync_now && ops->send &&
           ops->apply && ops->reads);
    struct driver *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->r = r;
    d->ops = ops;
    d->host = host;
    d->written_index = d->durable_index = raft_last_index(r);
    d->written_term = raft_last_term(r);
    return d;
}

void driver_free(struct driver *d)
{
    if (!d)
        return;
    free(d->held);
    free(d);
}

bool driver_busy(const struct driver *d) { return d->stage != STAGE_NONE; }
bool driver_syncing(const struct driver *d) { return d->running_gen != 0; }
raft_index driver_durable_index(const struct driver *d) { return d->durable_index; }

void driver_get_stats(const struct driver *d, struct driver_stats *st)
{
    *st = d->stats;
}

/* ---- held answers ---- */

/* A successful AppendEntries answer acknowledges the follower's log up to
 * match_index: only once all of it is durable (paper Figure 2). */
static bool must_hold(const struct driver *d, const struct raft_msg *m)
{
    return m->type == RAFT_MSG_APPEND_RESP && m->success &&
           d->synced_gen < d->write_gen;
}

static void hold(struct driver *d, const struct raft_msg *m)
{
    assert(m->n_entries == 0); /* an answer borrows nothing from the log */
    if (d->n_held == d->cap_held) {
        size_t cap = d->cap_held ? d->cap_held * 2 : 16;
        struct held_answer *h = realloc(d->held, cap * sizeof(*h));
        if (!h)
            return; /* dropped: for Raft, a lost message */
        d->held = h;
        d->cap_held = cap;
    }
    d->held[d->n_held++] = (struct held_answer){.msg = *m, .gen = d->write_gen};
    d->stats.held++;
    if (d->ops->hold)
        d->ops->hold(d->host, m);
}

/* The answers whose writes are now durable go out, in the order made. */
static void release_held(struct driver *d)
{
    size_t kept = 0;
    for (size_t i = 0; i < d->n_held; i++) {
        if (d->held[i].gen <= d->synced_gen)
            d->ops->send(d->host, &d->held[i].msg);
        else
            d->held[kept++] = d->held[i];
    }
    d->n_held = kept;
}

/* ---- background syncing ---- */

/* Hand everything written so far to a background sync, unless one runs
 * (then this happens when it ends: one sync covers every batch written
 * meanwhile, which is group commit under load). */
static void start_sync(struct driver *d)
{
    if (d->failed || d->running_gen || d->synced_gen == d->write_gen)
        return;
    d->running_gen = d->write_gen;
    d->running_index = d->written_index;
    d->running_term = d->written_term;
    d->stats.background_syncs++;
    if (d->ops->sync_start(d->host) < 0) {
        d->running_gen = 0;
        d->failed = true;
    }
}

void driver_synced(struct driver *d, bool ok)
{
    assert(d->running_gen != 0);
    if (!ok || d->failed) {
        d->running_gen = 0;
        d->failed = true;
        return;
    }
    d->synced_gen = d->running_gen;
    d->running_gen = 0;
    /* unless a later batch replaced those entries (Log Matching: the same
     * index and term are the same entries) */
    if (d->running_index > d->durable_index &&
        raft_term_at(d->r, d->running_index) == d->running_term)
        d->durable_index = d->running_index;
    raft_persisted(d->r, d->running_index, d->running_term);
    release_held(d);
    start_sync(d);
}

/* ---- one batch, stage by stage ---- */

static void note_written(struct driver *d)
{
    const struct raft_ready *rd = &d->rd;
    d->written_index = rd->entries_first + rd->n_entries - 1;
    d->written_term = rd->entries[rd->n_entries - 1].term;
}

/* Only appends entries (or nothing at all): written now, synced in the
 * background. A new term or vote, or a snapshot, is made durable before
 * anything else happens (raft.h, raft_advance_unsynced). */
static bool goes_in_background(struct driver *d)
{
    const struct raft_ready *rd = &d->rd;
    if (rd->hard_state_changed || rd->snapshot_install)
        return false;
    if (!rd->n_entries || d->running_gen)
        return true;
    return !d->ops->sync_now(d->host);
}

static bool take_batch(struct driver *d)
{
    raft_ready(d->r, &d->rd);
    d->stats.readies++;
    if (d->ops->begin && !d->ops->begin(d->host, &d->rd))
        return false;
    d->early = !d->rd.hard_state_changed;
    d->background = goes_in_background(d);
    d->stage = d->background ? STAGE_EARLY : STAGE_DRAIN;
    return true;
}

/* What the background still has becomes durable before a foreground
 * batch: before the snapshot replaces the log it was writing, and before a
 * new term or vote (which must not reach the disk ahead of the entries
 * already acknowledged as written). */
static int drain(struct driver *d)
{
    while (d->running_gen && !d->failed) {
        uint64_t before = d->synced_gen;
        int rv = d->ops->sync_wait(d->host);
        if (rv != 0)
            return rv;
        assert(d->failed || d->synced_gen != before); /* it did call back */
        (void)before;
    }
    if (d->failed)
        return -1;
    d->stage = d->rd.snapshot_install ? STAGE_INSTALL : STAGE_EARLY;
    return 0;
}

static void installed(struct driver *d)
{
    d->written_index = d->durable_index = d->rd.snapshot_index;
    d->written_term = d->rd.snapshot_term;
    d->stage = STAGE_EARLY;
}

static int install(struct driver *d)
{
    assert(!d->running_gen); /* drained */
    int rv = d->ops->install_snapshot(d->host, &d->rd);
    if (rv == DRIVER_LATER)
        d->waiting_write = true;
    else if (rv == 0)
        installed(d);
    return rv;
}

/* A leader's AppendEntries go out before its own write (dissertation
 * 10.2.1: it counts itself toward commitment only once durable), unless
 * the term or vote changed: that must be durable before any message
 * carries it (paper Figure 2, "persistent state"). */
static void send_early(struct driver *d)
{
    const struct raft_ready *rd = &d->rd;
    bool sent = false;
    for (size_t i = 0; d->early && i < rd->n_msgs; i++)
        if (rd->msgs[i].type == RAFT_MSG_APPEND) {
            d->ops->send(d->host, &rd->msgs[i]);
            sent = true;
        }
    if (sent && rd->n_entries && d->ops->flush)
        d->ops->flush(d->host); /* on the wire before our sync */
    d->stage = STAGE_WRITE;
}

static int write_batch(struct driver *d)
{
    const struct raft_ready *rd = &d->rd;
    bool writes = rd->hard_state_changed || rd->n_entries;
    if (writes && d->ops->write(d->host, rd) < 0)
        return -1;
    if (rd->n_entries)
        note_written(d);
    if (!d->background) {
        d->stage = writes ? STAGE_SYNC : STAGE_FINISH;
        if (!writes)
            d->durable_index = d->written_index;
        return 0;
    }
    if (rd->n_entries) {
        d->write_gen++;
        d->stats.background_writes++;
        if (rd->entries_first <= d->durable_index) /* replaced a suffix */
            d->durable_index = rd->entries_first - 1;
        start_sync(d);
    }
    d->stage = STAGE_FINISH;
    return d->failed ? -1 : 0;
}

static void synced_now(struct driver *d)
{
    d->durable_index = d->written_index; /* drained, then all of it synced */
    d->stats.syncs_at_once++;
    d->stage = STAGE_FINISH;
}

static int sync_batch(struct driver *d)
{
    assert(!d->running_gen); /* drained: this sync covers everything */
    int rv = d->ops->sync(d->host);
    if (rv == DRIVER_LATER)
        d->waiting_write = true;
    else if (rv == 0)
        synced_now(d);
    return rv;
}

void driver_write_done(struct driver *d)
{
    assert(d->waiting_write);
    assert(d->stage == STAGE_INSTALL || d->stage == STAGE_SYNC);
    d->waiting_write = false;
    if (d->stage == STAGE_INSTALL)
        installed(d);
    else
        synced_now(d);
}

/* Steps 2-5 of raft.h's contract once the batch is durable (or, in the
 * background, written). */
static void finish(struct driver *d)
{
    const struct raft_ready *rd = &d->rd;
    for (size_t i = 0; i < rd->n_msgs; i++) {
        const struct raft_msg *m = &rd->msgs[i];
        if (d->early && m->type == RAFT_MSG_APPEND)
            continue; /* sent before the write */
        if (must_hold(d, m))
            hold(d, m);
        else
            d->ops->send(d->host, m);
    }
    if (rd->n_committed)
        d->ops->apply(d->host, rd->committed_first, rd->committed,
                      rd->n_committed);
    if (rd->n_reads)
        d->ops->reads(d->host, rd->reads, rd->n_reads);
    if (rd->n_notes && d->ops->notes)
        d->ops->notes(d->host, rd->notes, rd->n_notes);
    bool durable = !d->background;
    assert(durable || (!rd->hard_state_changed && !rd->snapshot_install));
    if (durable)
        raft_advance(d->r, rd);
    else
        raft_advance_unsynced(d->r, rd);
    d->stage = STAGE_NONE;
    if (d->ops->advanced)
        d->ops->advanced(d->host, rd, durable);
}

static int run_stage(struct driver *d)
{
    switch (d->stage) {
    case STAGE_DRAIN:
        return drain(d);
    case STAGE_INSTALL:
        return install(d);
    case STAGE_EARLY:
        send_early(d);
        return 0;
    case STAGE_WRITE:
        return write_batch(d);
    case STAGE_SYNC:
        return sync_batch(d);
    case STAGE_FINISH:
        finish(d);
        return 0;
    case STAGE_NONE:
        break;
    }
    assert(0);
    return -1;
}

static enum driver_state go_on(struct driver *d)
{
    if (d->stage == STAGE_NONE) {
        if (!raft_has_ready(d->r))
            return DRIVER_IDLE;
        if (!take_batch(d))
            return DRIVER_FAILED;
    }
    while (d->stage != STAGE_NONE) {
        int rv = run_stage(d);
        if (rv < 0)
            return DRIVER_FAILED;
        if (rv == DRIVER_LATER)
            return DRIVER_WAITING;
    }
    return DRIVER_ADVANCED;
}

enum driver_state driver_step(struct driver *d)
{
    if (d->failed)
        return DRIVER_FAILED;
    if (d->waiting_write)
        return DRIVER_WAITING;
    assert(!d->stepping); /* an operation must not step the driver */
    d->stepping = true;
    enum driver_state st = go_on(d);
    d->stepping = false;
    if (st == DRIVER_FAILED)
        d->failed = true;
    return st;
}
