/* log.c - the in-memory Raft log (see log.h). */
#include "log.h"

#include <stdlib.h>
#include <string.h>

void raftlog_init(struct raft_log *l)
{
    memset(l, 0, sizeof(*l));
    l->first = 1;
}

static void entry_free_data(struct raft_entry *e)
{
    free(e->data);
    e->data = NULL;
}

void raftlog_free(struct raft_log *l)
{
    for (size_t i = 0; i < l->n; i++)
        entry_free_data(&l->entries[i]);
    free(l->entries);
    raftlog_init(l);
}

void raftlog_reset(struct raft_log *l, raft_index first, raft_term prev_term)
{
    raftlog_free(l);
    l->first = first;
    l->prev_term = prev_term;
}

raft_index raftlog_last_index(const struct raft_log *l)
{
    return l->first + l->n - 1;
}

raft_term raftlog_last_term(const struct raft_log *l)
{
    return l->n ? l->entries[l->n - 1].term : l->prev_term;
}

raft_term raftlog_term_at(const struct raft_log *l, raft_index i)
{
    if (i + 1 == l->first)
        return l->prev_term;
    if (i < l->first || i > raftlog_last_index(l))
        return 0;
    return l->entries[i - l->first].term;
}

const struct raft_entry *raftlog_get(const struct raft_log *l, raft_index i)
{
    if (i < l->first || i > raftlog_last_index(l))
        return NULL;
    return &l->entries[i - l->first];
}

int raftlog_append(struct raft_log *l, const struct raft_entry *e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct raft_entry *p = realloc(l->entries, cap * sizeof(*p));
        if (!p)
            return RAFT_ENOMEM;
        l->entries = p;
        l->cap = cap;
    }
    struct raft_entry copy = *e;
    copy.data = NULL;
    if (e->len) {
        copy.data = malloc(e->len);
        if (!copy.data)
            return RAFT_ENOMEM;
        memcpy(copy.data, e->data, e->len);
    }
    l->entries[l->n++] = copy;
    return 0;
}

void raftlog_compact(struct raft_log *l, raft_index i)
{
    if (i < l->first || i > raftlog_last_index(l))
        return;
    size_t drop = (size_t)(i - l->first + 1);
    raft_term term = l->entries[drop - 1].term;
    for (size_t k = 0; k < drop; k++)
        entry_free_data(&l->entries[k]);
    memmove(l->entries, l->entries + drop, (l->n - drop) * sizeof(*l->entries));
    l->n -= drop;
    l->first = i + 1;
    l->prev_term = term;
    if (l->n == 0) { /* give the memory back: a compacted log may sit idle */
        free(l->entries);
        l->entries = NULL;
        l->cap = 0;
    }
}

void raftlog_truncate_from(struct raft_log *l, raft_index i)
{
    if (i < l->first)
        i = l->first;
    while (l->n > 0 && raftlog_last_index(l) >= i)
        entry_free_data(&l->entries[--l->n]);
}

raft_index raftlog_first_of_term(const struct raft_log *l, raft_index i)
{
    raft_term t = raftlog_term_at(l, i);
    while (i > l->first && raftlog_term_at(l, i - 1) == t)
        i--;
    return i;
}

raft_index raftlog_last_of_term(const struct raft_log *l, raft_index i,
                            raft_term term)
{
    if (i > raftlog_last_index(l))
        i = raftlog_last_index(l);
    for (; i >= l->first && i > 0; i--) {
        raft_term t = raftlog_term_at(l, i);
        if (t == term)
            return i;
        if (t < term)
            return 0;
    }
    return 0;
}
