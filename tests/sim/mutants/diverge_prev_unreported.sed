# file: replication.c
# what: a follower does not refuse an AppendEntries whose prevLogTerm
#       contradicts a committed entry (a forged one: raft.h, "Divergence"):
#       it takes the message's term and sender as leader, rejects it as an
#       ordinary mismatch and reports nothing
# expect: Divergence alarm
s/^    if (t && m->prev_term && t != m->prev_term) {$/    if (0) {/
