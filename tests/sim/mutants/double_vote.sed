# file: election.c
# what: grants a second vote in the same term (drops "already voted" for real votes)
# expect: Election Safety
s/} else if (r->vote != RAFT_NONE && r->vote != m->from) {/} else if (0) {/
