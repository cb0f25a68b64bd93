# file: quorum.c
# what: quorum of n/2 instead of n/2 + 1 (a minority elects and commits)
# expect: Election Safety or Leader Completeness
s/^    return voters \/ 2 + 1;$/    return voters \/ 2 ? voters \/ 2 : 1;/
