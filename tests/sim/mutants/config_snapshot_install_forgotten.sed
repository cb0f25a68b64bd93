# file: membership.c
# what: a follower installing a leader's snapshot ignores the configuration
#       the snapshot carries and keeps its own, older one
# expect: Configuration in effect
s/^    if (conf)$/    if (0)/
