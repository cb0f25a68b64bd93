/* log.c - the in-memory Raft log (see log.h). */
#include "log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void raftlog_init(struct raft_log *l)
{
    memset(l, 0, sizeof(*l));
    l->first = 1;
}

/* ---- the chunks holding the entries' data ---- */

static void chunk_unlink(struct raft_log *l, struct raftlog_chunk *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->newest = c->prev;
    l->n_chunks--;
    free(c);
}

/* Room for len bytes of entry index's data (len > 0), or NULL. */
static uint8_t *chunk_take(struct raft_log *l, raft_index index, uint32_t len)
{
    struct raftlog_chunk *c = l->newest;
    size_t at = c ? (c->used + 7) & ~(size_t)7 : 0;
    if (!c || at > c->size || c->size - at < len) {
        size_t size = len > RAFTLOG_CHUNK ? len : RAFTLOG_CHUNK;
        c = malloc(sizeof(*c) + size);
        if (!c)
            return NULL;
        *c = (struct raftlog_chunk){.prev = l->newest, .first = index,
                                    .size = size};
        if (l->newest)
            l->newest->next = c;
        else
            l->oldest = c;
        l->newest = c;
        l->n_chunks++;
        at = 0;
    }
    assert(index > c->last && index >= c->first);
    c->last = index;
    c->used = at + len;
    assert(c->used <= c->size);
    return c->data + at;
}

void raftlog_free(struct raft_log *l)
{
    while (l->oldest)
        chunk_unlink(l, l->oldest);
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
        copy.data = chunk_take(l, raftlog_last_index(l) + 1, e->len);
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
    while (l->oldest && l->oldest->last <= i)
        chunk_unlink(l, l->oldest);
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
    if (i > raftlog_last_index(l))
        return;
    while (l->newest && l->newest->first >= i)
        chunk_unlink(l, l->newest);
    struct raftlog_chunk *c = l->newest;
    if (c && c->last >= i) {
        /* the data of the first entry dropped with any is where the
         * chunk's free space now starts (the chunks after it are gone) */
        for (raft_index k = i; k <= c->last; k++) {
            const struct raft_entry *e = &l->entries[k - l->first];
            if (e->len) {
                assert(e->data >= c->data && e->data < c->data + c->size);
                c->used = (size_t)(e->data - c->data);
                break;
            }
        }
        c->last = i - 1;
        assert(c->first <= c->last);
    }
    l->n = (size_t)(i - l->first);
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
