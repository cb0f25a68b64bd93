# file: membership.c
# what: membership_knows looks back through every configuration in the log,
#       not only those above the commit index, so a server whose removal
#       the voter knows committed still gets its vote
# expect: Disruption
s/^    for (raft_index at = r->conf_index; at > r->commit;) {$/    for (raft_index at = r->conf_index; at > 0;) {/
