# file: replication.c
# what: a follower neither refuses nor reports an AppendEntries whose entry
#       gives a committed entry another term (a forged one: raft.h,
#       "Divergence"), and truncates its log there, committed entry and all
#       (the check in raft_receive and append_entries' last guard both gone)
# expect: State Machine Safety
s/^        if (t && t != m->entries\[i\]\.term) {$/        if (0) {/
/^            if (idx <= r->commit)$/,/^                return; \/\* never: raft_receive refused m as divergent \*\/$/d
