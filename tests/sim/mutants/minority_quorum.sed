# file: raft.c
# what: quorum of n/2 instead of n/2 + 1 (a minority elects and commits)
# expect: Election Safety or Leader Completeness
s/^    return r->n_prs \/ 2 + 1;$/    return r->n_prs \/ 2;/
