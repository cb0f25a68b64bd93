/* log.h - the in-memory Raft log of the core (paper 5.3).
 *
 * Entries from index first on are held in one growable array; everything
 * before first (compacted into a snapshot, paper 7) is summarised by the
 * term of entry first-1. The core owns the copies of all entry data.
 */
#ifndef RAFT_LOG_H
#define RAFT_LOG_H

#include "raft.h"

struct raft_log {
    raft_index first;      /* index of entries[0] */
    raft_term prev_term;   /* term of entry first - 1 (0 if first == 1) */
    struct raft_entry *entries;
    size_t n, cap;
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
/* Append a copy of e (data copied). Returns 0 or RAFT_ENOMEM. */
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
