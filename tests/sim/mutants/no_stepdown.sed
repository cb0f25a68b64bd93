# file: raft.c
# what: a leader ignores a higher term in AppendEntries traffic (keeps leading)
# expect: Liveness
s/^    if (m->term > r->term) {$/    if (m->term > r->term \&\& r->role != RAFT_LEADER) {/
