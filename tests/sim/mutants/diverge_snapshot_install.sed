# file: snapshot.c
# what: a follower neither refuses nor reports an InstallSnapshot behind its
#       commit index whose last entry has another term than its log there
#       (a forged one: raft.h, "Divergence"), and installs it: its log and
#       state machine go back to a state that was never committed
# expect: State Machine Safety or Monotonicity
s/^    if (m->snapshot_index > r->commit || !ours || ours == m->snapshot_term)$/    if (1)/
s/^    if (m->snapshot_index > r->commit)$/    if (m->snapshot_index > r->commit || raftlog_term_at(\&r->log, m->snapshot_index) != m->snapshot_term)/
