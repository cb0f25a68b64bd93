# file: election.c
# what: votes go to anyone, strangers included (a spare believing its
#       bootstrap list, a server whose removal the voter knows committed)
# expect: Disruption
s/^    if (!membership_knows(r, m->from)) {$/    if (false \&\& !membership_knows(r, m->from)) {/
