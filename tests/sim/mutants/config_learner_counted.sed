# file: quorum.c
# what: the commit index is counted over every member's progress, learners
#       included (the majority is still of the voters): a learner that holds
#       an entry stands in for a voter that does not
# expect: Commit quorum or Durability
s/^        if (r->prs\[i\]\.voter)$/        if (1)/
