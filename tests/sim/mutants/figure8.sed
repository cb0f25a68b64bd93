# file: replication.c
# what: commits an entry of an earlier term by counting replicas (paper Figure 8)
# expect: Leader Completeness, State Machine Safety or Durability
s/if (n > r->commit && [a-z_]*term_at(&r->log, n) == r->term)/if (n > r->commit)/
