# file: replication.c
# what: truncates from the first entry of every AppendEntries, even where the
#       entries match (a delayed AppendEntries then erases acknowledged entries)
# expect: Durability
s/            if ([a-z_]*term_at(&r->log, idx) == e->term) {/            if (0) {/
