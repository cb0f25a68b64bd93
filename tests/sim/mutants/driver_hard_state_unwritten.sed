# file: driver.c
# what: the ready loop writes and syncs a batch only for its entries, so a new term or vote is advanced without reaching the disk
# expect: Ready contract
s/^    bool writes = rd->hard_state_changed || rd->n_entries;$/    bool writes = rd->n_entries;/
