/* log.h - the in-memory Raft log of the core (paper 5.3).
 *
 * Entries from index first on are held in one growable array; everything
 * before first (compacted into a snapshot, paper 7) is summarised by the
 * term of entry first-1. The core owns the copies of all entry data.
 *
 * The copies are packed into chunks of RAFTLOG_CHUNK bytes, oldest to
 * newest, in index order (an entry larger than that gets a chunk of its
 * own) rather than allocated one by one: a malloc per entry cost its
 * header and rounding, 10-20 bytes on the ~150-byte commands of a small
 * write, and left the freed entries scattered among the heap's live
 * blocks. A compaction frees the chunks whose entries all went, a
 * truncation those whose entries all went and the unused end of the last.
 */
#ifndef RAFT_LOG_H
#define RAFT_LOG_H

#include "raft.h"

#define RAFTLOG_CHUNK (64u * 1024 - 64u)

struct raftlog_chunk {
    struct raftlog_chunk *prev, *next; /* older, newer */
    raft_index first, last; /* the entries whose data it holds */
    size_t used, size;      /* bytes of data[] taken, and its size */
    uint8_t data[];
};

struct raft_log {
    raft_index first;      /* index of entries[0] */
    raft_term prev_term;   /* term of entry first - 1 (0 if first == 1) */
    struct raft_entry *entries;
    size_t n, cap;
    struct raftlog_chunk *oldest, *newest; /* the entries' data */
    size_t n_chunks;
};

void raftlog_init(struct raft_log *l);
void raftlog_free(struct raft_log *l);
/* Forget everything; the log restarts after (first - 1, prev_term). */
void raftlog_reset(struct raft_log *l, raft_index first, raft_term prev_term);
raft_index raftlog_last_index(const struct raft_log *l);
raft_term raftlog_last_term(const struct raft_log *l);
/* Term of entry i; prev_term for first - 1; 0 if i is not in the log. */
raft_term raftlog_term_at(const struct raft_log *l, raft_index i);
const struct raft_entry *raftlog_get(const struct raft_log *l, raft_index i);
/* Append a copy of e (data copied, 8-byte aligned). Returns 0 or
 * RAFT_ENOMEM. */
int raftlog_append(struct raft_log *l, const struct raft_entry *e);
/* Drop entries with index <= i (they are in a snapshot); prev_term becomes
 * the term of entry i. i must be in the log. */
void raftlog_compact(struct raft_log *l, raft_index i);
/* Drop entries with index >= i. */
void raftlog_truncate_from(struct raft_log *l, raft_index i);
/* First index in the log whose term equals that of entry i, scanning back. */
raft_index raftlog_first_of_term(const struct raft_log *l, raft_index i);
/* Last index <= i whose term is term, or 0 if none. */
raft_index raftlog_last_of_term(const struct raft_log *l, raft_index i, raft_term term);

#endif
