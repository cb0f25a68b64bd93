# file: readindex.c
# what: serves ReadIndex at once, without confirming leadership by a heartbeat
#       round (a deposed leader answers with stale data)
# expect: Linearizable reads
s/^    if (r->n_prs == 1)$/    if (1)/
