/* storage.h - raftd's durable state in its data directory: the hard state
 * (term, vote) and the write-ahead log of entries. The format is described
 * in doc/storage.md.
 *
 * The caller (node.c) follows the core's ready contract: storage_append()
 * and storage_save_hard_state() for everything in a ready, then one
 * storage_sync() before any message of that ready is sent, so proposals
 * that arrive together share one fdatasync (group commit).
 */
#ifndef RAFTD_STORAGE_H
#define RAFTD_STORAGE_H

#include <stddef.h>

#include "../raft/raft.h"

struct storage;

/* What storage_open() recovered. Entries and their data are malloc'd and
 * owned by the caller (storage_loaded_free). */
struct storage_loaded {
    struct raft_hard_state hs;   /* hs.commit: the commit hint, 0 if none */
    /* the snapshot file's header (0, 0: none); its payload is checked and
     * loaded by the node. The entries start right after it. */
    raft_index snapshot_index;
    raft_term snapshot_term;
    raft_index first_index;
    struct raft_entry *entries;
    size_t n_entries;
    /* set when a torn last record was cut off: a message for the log */
    char repaired[256];
};
void storage_loaded_free(struct storage_loaded *l);

/* Open (creating it if needed) and lock the data directory, and recover its
 * state. On failure returns -1 and err says which file, which offset and
 * what to do. Refuses corruption anywhere but in the last record. */
int storage_open(struct storage **out, const char *dir,
                 struct storage_loaded *loaded, char *err, size_t errlen);
void storage_close(struct storage *s);

/* Make entries [first, first + n) the log's tail, discarding any stored
 * entry at or after first (n must be >= 1; with n == 0 nothing changes).
 * Buffered: durable after storage_sync(). */
int storage_append(struct storage *s, raft_index first,
                   const struct raft_entry *entries, size_t n, char *err,
                   size_t errlen);

/* Write the hard state (term, vote). Durable after storage_sync(). */
int storage_save_hard_state(struct storage *s, const struct raft_hard_state *hs,
                            char *err, size_t errlen);

/* Note that entries up to commit are committed (and already synced here):
 * storage_open() returns the last such hint in loaded->hs.commit. Not
 * synced; a hint lost in a crash only means re-learning it from a leader. */
void storage_save_commit(struct storage *s, raft_index commit);

/* fdatasync everything written since the last sync. */
int storage_sync(struct storage *s, char *err, size_t errlen);

/* For a sync on another thread (syncer.h): duplicates of the descriptors
 * written since the last sync, at most max (is_dir: fsync, not fdatasync),
 * which then count as synced; the caller must flush and close them. Once
 * they are flushed, everything written before this call is durable. */
int storage_sync_take(struct storage *s, int *fds, bool *is_dir, unsigned max,
                      unsigned *n, char *err, size_t errlen);
/* Count a sync done elsewhere in the statistics. */
void storage_note_sync(struct storage *s, uint64_t usec);
/* fn(arg, usec) is told the duration of every sync counted, whichever path
 * made it (storage_sync or storage_note_sync): the fdatasync histogram of
 * /metrics is fed there, once. */
void storage_on_sync(struct storage *s, void (*fn)(void *arg, uint64_t usec),
                     void *arg);

/* Statistics for /status and benchmarks. */
struct storage_stats {
    unsigned long long syncs;
    unsigned long long sync_us_total;
    unsigned long long sync_us_max;
    unsigned long long bytes_written;
    unsigned long long segments;    /* log segment files */
    raft_index first_index;         /* first entry in them */
};
void storage_stats(const struct storage *s, struct storage_stats *st);

/* Log compaction (doc/storage.md, "Snapshots"). After a snapshot covering
 * entries up to upto is durable: remove the segments holding only such
 * entries (never the last one). Removals are synced with the next
 * storage_sync(); a crash that brings one back does no harm. */
int storage_compact(struct storage *s, raft_index upto, char *err,
                    size_t errlen);
/* After a leader's snapshot replaced the whole log: remove every segment
 * (synced at once); the next storage_append() starts the log at next. */
int storage_reset(struct storage *s, raft_index next, char *err, size_t errlen);
/* Size beyond which the log moves on to a new segment (default 64 MiB;
 * 0: the default). Compaction removes whole segments only, so smaller
 * segments give disk space back sooner. */
void storage_set_segment_max(struct storage *s, uint64_t bytes);
/* The data directory (for the snapshot file, snapfile.h). */
int storage_dir_fd(const struct storage *s);
/* The LOCK file's descriptor: whoever holds a copy holds the lock. */
int storage_lock_fd(const struct storage *s);

#endif
