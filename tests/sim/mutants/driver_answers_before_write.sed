# file: driver.c
# what: the ready loop sends every message before the batch's write (not only a leader's AppendEntries), so a follower acknowledges entries that are not yet on its disk
# expect: Durability
s/^        if (rd->msgs\[i\].type == RAFT_MSG_APPEND) {$/        if (1) {/
s/^        if (d->early && m->type == RAFT_MSG_APPEND)$/        if (d->early)/
