# file: raft.c
# what: raft_restore drops the vote read from disk, so a node that crashes
#       and restarts can vote a second time in the same term
# expect: Election Safety
s/^    r->vote = r->saved_vote = hs->vote;$/    r->vote = r->saved_vote = RAFT_NONE;/
