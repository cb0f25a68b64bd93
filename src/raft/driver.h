/* driver.h - the ready loop: one piece of code that hands the core's ready
 * batches (raft.h) to a host through a small table of operations.
 *
 * raftd (src/daemon/node.c) and raft-sim (src/sim/sim.c) both drive the
 * core through this driver, so the simulator checks the daemon's real
 * ordering of persisting, sending and applying, not a copy of it (as
 * cowsql/raft serves its libuv loop and its test fixture through one
 * raft_io interface). The driver does no I/O itself: the host's operations
 * do (the daemon's storage, sync thread and HTTP; the simulator's disk,
 * network and checker).
 *
 * One batch, in this order (raft.h, and doc/design.md "The ready loop"):
 *   1. begin: the host sees the batch first (and may refuse it);
 *   2. a batch that changes term or vote, installs a snapshot, or that the
 *      host wants synced at once is FOREGROUND: what the background sync
 *      still has is drained first (sync_wait);
 *   3. install_snapshot, before anything else of the batch (raft.h);
 *   4. a leader's AppendEntries go out before its own write, unless the
 *      term or vote changed (dissertation 10.2.1: the leader counts itself
 *      only once its entries are durable; a new term or vote must be durable
 *      before any message carries it), then flush;
 *   5. write hard state and entries; a foreground batch is synced now
 *      (sync), a BACKGROUND one (only appends entries) is handed to the
 *      background sync (sync_start) and the loop goes on;
 *   6. the other messages are sent, except successful AppendEntries
 *      answers while anything written before them is not yet durable: the
 *      driver holds a copy and sends it once the sync that covers it is done
 *      (a follower acknowledges only durable entries: paper Figure 2,
 *      "persistent state ... updated on stable storage before responding
 *      to RPCs");
 *   7. apply committed entries, serve reads, notes;
 *   8. raft_advance(), or raft_advance_unsynced() for a background batch;
 *      then advanced (snapshots, compaction, whatever the host does between
 *      raft_advance() and the next raft_ready()).
 *
 * Operations that take time may finish later: install_snapshot and sync
 * may answer DRIVER_LATER (the host calls driver_write_done() once it is
 * durable), sync_wait may answer DRIVER_LATER (the host calls
 * driver_synced() when the background sync ends). The batch then stays in
 * hand (driver_busy()) and the next driver_step() goes on with it. A host
 * whose operations block (the daemon) never sees DRIVER_WAITING.
 */
#ifndef RAFT_DRIVER_H
#define RAFT_DRIVER_H

#include "raft.h"

/* An operation's answer: it is under way, the host calls back when done. */
#define DRIVER_LATER 1

/* The host's operations. host is the pointer given to driver_new(). Those
 * returning int answer 0 (done), DRIVER_LATER where said, or -1 (failed:
 * the host has reported why; the driver stops for good, so that nothing
 * is ever sent or advanced past what is not durable). Those marked
 * optional may be NULL. */
struct driver_ops {
    /* A new batch, right after raft_ready(), before anything is done with
     * it. false: refuse it (the host failed); the driver stops. Optional. */
    bool (*begin)(void *host, const struct raft_ready *rd);

    /* Make rd's snapshot (rd->snapshot_index, _term) durable, load it into
     * the state machine, and drop the stored log up to it (all of it if
     * rd->snapshot_discard_log). DRIVER_LATER: driver_write_done(). */
    int (*install_snapshot)(void *host, const struct raft_ready *rd);

    /* Write rd's hard state (if rd->hard_state_changed) and its entries
     * (replacing stored ones from rd->entries_first on). Not yet durable:
     * sync or sync_start make it so. */
    int (*write)(void *host, const struct raft_ready *rd);

    /* Make everything written so far durable, now. DRIVER_LATER:
     * driver_write_done() once it is. */
    int (*sync)(void *host);

    /* Start a background sync of everything written so far; when it is
     * durable the host calls driver_synced(). Never called while one runs. */
    int (*sync_start)(void *host);

    /* Wait for the running background sync: 0 once driver_synced() has
     * been called (a blocking host calls it from inside), or DRIVER_LATER
     * (driver_synced() comes later). */
    int (*sync_wait)(void *host);

    /* A batch that only appends entries, with no background sync running:
     * true to sync it at once anyway (e.g. nothing to overlap a sync with:
     * answering sooner than a round trip through a sync thread), false to
     * sync it in the background. */
    bool (*sync_now)(void *host);

    /* Send m (a request, or the answer to a request: m->ctx says which). */
    void (*send)(void *host, const struct raft_msg *m);

    /* m, a successful AppendEntries answer, is held until durable; send()
     * gets it later. Optional. */
    void (*hold)(void *host, const struct raft_msg *m);

    /* The AppendEntries sent before the write: put them on the wire now,
     * before the write's sync. Optional. */
    void (*flush)(void *host);

    /* Apply n committed entries, the first at index first, in order. */
    void (*apply)(void *host, raft_index first, const struct raft_entry *e,
                  size_t n);

    /* Confirmed ReadIndex reads (raft.h): serve each once applied reaches
     * its index; index 0: failed, retry elsewhere. */
    void (*reads)(void *host, const struct raft_read *reads, size_t n);

    /* What happened (for logs and traces). Optional. */
    void (*notes)(void *host, const struct raft_note *notes, size_t n);

    /* After raft_advance() (durable) or raft_advance_unsynced(): the place
     * for raft_compact() and anything else between two batches. rd's
     * pointers are no longer valid, its other fields are. Optional. */
    void (*advanced)(void *host, const struct raft_ready *rd, bool durable);
};

struct driver;

/* A driver for r, whose restored state (raft_restore) is durable. */
struct driver *driver_new(struct raft *r, const struct driver_ops *ops,
                          void *host);
/* Held answers are dropped (never sent). */
void driver_free(struct driver *d);

enum driver_state {
    DRIVER_IDLE,     /* no batch: raft_has_ready() is false */
    DRIVER_ADVANCED, /* a batch was handled to its end */
    DRIVER_WAITING,  /* the batch in hand waits for driver_write_done() or
                        driver_synced(); call driver_step() after them */
    DRIVER_FAILED,   /* an operation failed: nothing more is done */
};

/* Take the next batch, or go on with the one in hand, as far as it goes. */
enum driver_state driver_step(struct driver *d);

/* The operation that answered DRIVER_LATER (install_snapshot or sync) is
 * done: what it wrote is durable. The next driver_step() goes on. */
void driver_write_done(struct driver *d);

/* The background sync has ended: ok, everything written before it began
 * is durable (the core is told with raft_persisted(), the answers held for
 * it are sent, and the next background sync starts if anything was written
 * meanwhile); not ok, the driver stops. */
void driver_synced(struct driver *d, bool ok);

/* A batch is in hand (between raft_ready() and raft_advance()). */
bool driver_busy(const struct driver *d);
/* A background sync is running. */
bool driver_syncing(const struct driver *d);
/* Every entry up to this index is durable (as far as this driver knows). */
raft_index driver_durable_index(const struct driver *d);

struct driver_stats {
    uint64_t readies;          /* batches taken */
    uint64_t syncs_at_once;    /* foreground batches that wrote something */
    uint64_t background_writes; /* batches written for a background sync */
    uint64_t background_syncs; /* background syncs started */
    uint64_t held;             /* answers held until durable */
};
void driver_get_stats(const struct driver *d, struct driver_stats *st);

#endif
