# file: snapshot.c
# what: a follower installs a snapshot that is not ahead of its commit index
#       (rolls its state machine back)
# expect: Monotonicity or State Machine Safety
s/^    if (m->snapshot_index > r->commit)$/    if (m->snapshot_index > r->applied \/ 2)/
