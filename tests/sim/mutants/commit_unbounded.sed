# file: replication.c
# what: a follower takes the leader's commit index bounded by its own log
#       length, not by the last entry the AppendEntries proved it shares
#       (and before the consistency check), so it commits stale entries
# expect: State Machine Safety
/^    raft_index prev = m->prev_index;$/i\
    if (m->commit > r->commit)\
        r->commit = m->commit < r->log.first + r->log.n - 1\
                        ? m->commit : r->log.first + r->log.n - 1;
