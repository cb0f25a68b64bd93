# file: replication.c
# what: keeps a conflicting entry instead of truncating the log there
# expect: Log Matching
s/^            truncate_suffix(r, idx);$/            { last_new = idx; continue; }/
