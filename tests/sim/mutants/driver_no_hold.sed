# file: driver.c
# what: the ready loop never holds a successful AppendEntries answer while the background sync still has the entries it acknowledges
# expect: Durability
s/^           d->synced_gen < d->write_gen;$/           d->synced_gen < 0;/
