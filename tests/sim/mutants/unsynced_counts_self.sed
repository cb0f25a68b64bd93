# file: raft.c
# what: raft_advance_unsynced marks the written entries durable, so a leader counts itself toward commitment before its background sync (as raft_advance would)
# expect: Durability / Replication progress
s/^        if (synced)$/        if (synced || 1)/
