/* dedup.c - exactly-once client requests (see dedup.h): a ring of the last
 * answers in apply order, indexed by an open-addressing hash table. */
#include "dedup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t origin, id;
    struct kv_result res;
    bool used;
};

struct dedup {
    struct slot *ring;   /* apply order; next points at the oldest */
    size_t window, next, count;
    uint32_t *table;     /* hash -> ring position + 1, 0 empty */
    size_t table_size;   /* power of two, >= 2 * window */
};

static uint64_t mix(uint64_t origin, uint64_t id)
{
    uint64_t z = id ^ (origin * 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct dedup *dedup_new(size_t window)
{
    struct dedup *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->window = window ? window : 1;
    d->table_size = 1;
    while (d->table_size < 2 * d->window)
        d->table_size *= 2;
    d->ring = calloc(d->window, sizeof(*d->ring));
    d->table = calloc(d->table_size, sizeof(*d->table));
    if (!d->ring || !d->table) {
        dedup_free(d);
        return NULL;
    }
    return d;
}

void dedup_free(struct dedup *d)
{
    if (!d)
        return;
    for (size_t i = 0; d->ring && i < d->window; i++)
        kv_result_free(&d->ring[i].res);
    free(d->ring);
    free(d->table);
    free(d);
}

size_t dedup_header(char *buf, uint64_t origin, uint64_t id)
{
    int n = snprintf(buf, DEDUP_HEADER_MAX, "%" PRIu64 " %" PRIu64 "\n",
                     origin, id);
    return n > 0 ? (size_t)n : 0;
}

static int parse_u64(const char **p, const char *end, char stop, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (s == end || *s != stop)
        return -1;
    *p = s + 1;
    *out = v;
    return 0;
}

int dedup_parse(const void *entry, size_t len, uint64_t *origin, uint64_t *id,
                size_t *header_len)
{
    const char *p = entry, *end = p + (len < DEDUP_HEADER_MAX ? len : DEDUP_HEADER_MAX);
    if (!entry || parse_u64(&p, end, ' ', origin) < 0 ||
        parse_u64(&p, end, '\n', id) < 0)
        return -1;
    *header_len = (size_t)(p - (const char *)entry);
    return 0;
}

/* Position in table of (origin, id), or of the empty slot ending its probe. */
static size_t probe(const struct dedup *d, uint64_t origin, uint64_t id)
{
    size_t mask = d->table_size - 1, h = (size_t)mix(origin, id) & mask;
    for (;;) {
        uint32_t v = d->table[h];
        if (!v)
            return h;
        const struct slot *s = &d->ring[v - 1];
        if (s->origin == origin && s->id == id)
            return h;
        h = (h + 1) & mask;
    }
}

const struct kv_result *dedup_find(const struct dedup *d, uint64_t origin,
                                   uint64_t id)
{
    uint32_t v = d->table[probe(d, origin, id)];
    return v ? &d->ring[v - 1].res : NULL;
}

/* Remove table entry h, re-placing the rest of its cluster (linear probing
 * deletion without tombstones). */
static void table_delete(struct dedup *d, size_t h)
{
    size_t mask = d->table_size - 1;
    d->table[h] = 0;
    for (size_t j = (h + 1) & mask; d->table[j]; j = (j + 1) & mask) {
        uint32_t v = d->table[j];
        d->table[j] = 0;
        const struct slot *s = &d->ring[v - 1];
        d->table[probe(d, s->origin, s->id)] = v;
    }
}

void dedup_remember(struct dedup *d, uint64_t origin, uint64_t id,
                    const struct kv_result *res)
{
    if (dedup_find(d, origin, id))
        return;
    struct slot *s = &d->ring[d->next];
    if (s->used) { /* forget the oldest */
        table_delete(d, probe(d, s->origin, s->id));
        kv_result_free(&s->res);
        d->count--;
    }
    s->used = true;
    s->origin = origin;
    s->id = id;
    s->res = *res;
    s->res.body = malloc(res->len + 1);
    if (s->res.body) {
        memcpy(s->res.body, res->body, res->len);
        s->res.body[res->len] = 0;
    } else {
        s->res.len = 0; /* out of memory: an empty answer, still only once */
    }
    d->table[probe(d, origin, id)] = (uint32_t)(d->next + 1);
    d->next = (d->next + 1) % d->window;
    d->count++;
}

size_t dedup_count(const struct dedup *d)
{
    return d->count;
}

/* ---- snapshots: the table oldest first, so that a restored table forgets
 * in the same order (doc/storage.md, "Snapshot payload") ---- */

static bool put_le(unsigned char **p, size_t *room, uint64_t v, unsigned n)
{
    if (*room < n)
        return false;
    for (unsigned i = 0; i < n; i++)
        (*p)[i] = (unsigned char)(v >> (8 * i));
    *p += n;
    *room -= n;
    return true;
}

char *dedup_snapshot(const struct dedup *d, size_t *len)
{
    size_t size = 4;
    for (size_t i = 0; i < d->window; i++)
        if (d->ring[i].used)
            size += 32 + d->ring[i].res.len;
    char *out = malloc(size);
    if (!out)
        return NULL;
    unsigned char *p = (unsigned char *)out;
    size_t room = size;
    put_le(&p, &room, d->count, 4);
    for (size_t k = 0; k < d->window; k++) {
        const struct slot *s = &d->ring[(d->next + k) % d->window];
        if (!s->used)
            continue;
        put_le(&p, &room, s->origin, 8);
        put_le(&p, &room, s->id, 8);
        put_le(&p, &room, s->res.status, 2);
        put_le(&p, &room, s->res.error_code, 2);
        put_le(&p, &room, s->res.index, 8);
        put_le(&p, &room, s->res.len, 4);
        if (s->res.len)
            memcpy(p, s->res.body, s->res.len);
        p += s->res.len;
        room -= s->res.len;
    }
    *len = size;
    return out;
}

static uint64_t get_le(const unsigned char **p, size_t *room, unsigned n,
                       bool *bad)
{
    if (*bad || *room < n) {
        *bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)(*p)[i] << (8 * i);
    *p += n;
    *room -= n;
    return v;
}

int dedup_restore(struct dedup *d, const void *data, size_t len)
{
    struct dedup *t = dedup_new(d->window);
    if (!t)
        return -1;
    const unsigned char *p = data;
    size_t room = len;
    bool bad = false;
    uint64_t count = get_le(&p, &room, 4, &bad);
    for (uint64_t i = 0; i < count && !bad; i++) {
        uint64_t origin = get_le(&p, &room, 8, &bad);
        uint64_t id = get_le(&p, &room, 8, &bad);
        struct kv_result res = {0};
        res.status = (unsigned)get_le(&p, &room, 2, &bad);
        res.error_code = (unsigned)get_le(&p, &room, 2, &bad);
        res.index = get_le(&p, &room, 8, &bad);
        res.len = (size_t)get_le(&p, &room, 4, &bad);
        if (bad || room < res.len) {
            bad = true;
            break;
        }
        res.body = (char *)p; /* copied by dedup_remember */
        dedup_remember(t, origin, id, &res);
        p += res.len;
        room -= res.len;
    }
    if (bad || room) {
        dedup_free(t);
        return -1;
    }
    struct dedup old = *d;
    *d = *t;
    *t = old;
    dedup_free(t);
    return 0;
}
