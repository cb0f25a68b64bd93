# file: membership.c
# what: a configuration takes effect when it is committed instead of as soon
#       as it is in the log (so the leader's changes are not counted by the
#       configuration they make, and "one change at a time" never holds)
# expect: Configuration in effect
s/^        take_effect(r, &c, index);$/        (void)index;/
/^void membership_on_commit(struct raft \*r)$/,/^{$/s/^{$/{\n    struct raft_configuration cc;\n    raft_index cc_at = latest_at(r, r->commit, \&cc);\n    if (cc_at > r->conf_index)\n        take_effect(r, \&cc, cc_at);/
