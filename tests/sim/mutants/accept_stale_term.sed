# file: replication.c
# what: a follower accepts AppendEntries from a leader of an older term
# expect: State Machine Safety, Log Matching or Durability
s/^    if (m->term < r->term) {$/    if (0) {/
