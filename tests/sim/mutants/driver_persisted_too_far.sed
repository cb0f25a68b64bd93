# file: driver.c
# what: a finished background sync tells the core that everything written so far is durable, not only what was written before the sync began
# expect: Replication progress
s/^    raft_persisted(d->r, d->running_index, d->running_term);$/    raft_persisted(d->r, d->written_index, d->written_term);/
