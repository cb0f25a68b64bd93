/* test_log.c - the core's in-memory log (src/raft/log.c): entry data packed
 * into chunks, freed as whole chunks by compaction and truncation, checked
 * against a model of the entries after every operation. */
#include "test.h"

#include "../../src/raft/log.h"

#include <stdlib.h>
#include <string.h>

static uint8_t dbyte(raft_index index, raft_term term, uint32_t k)
{
    return (uint8_t)(index * 131u + term * 17u + k * 7u);
}

static uint32_t len_of(raft_index index, unsigned variant)
{
    if (variant == 1 && index % 97 == 5) /* larger than a chunk */
        return RAFTLOG_CHUNK + 1000 + (uint32_t)index;
    if (index % 11 == 0)
        return 0;
    return (uint32_t)(index * 37 % 300) + 1;
}

static void append(struct raft_log *l, raft_term term, unsigned variant)
{
    raft_index index = raftlog_last_index(l) + 1;
    struct raft_entry e = {.term = term, .type = 0, .len = len_of(index, variant)};
    uint8_t *buf = e.len ? malloc(e.len) : NULL;
    for (uint32_t k = 0; k < e.len; k++)
        buf[k] = dbyte(index, term, k);
    e.data = buf;
    CHECK(raftlog_append(l, &e) == 0);
    free(buf);
}

/* Every entry's data is intact, 8-byte aligned and inside one chunk, the
 * chunks are in index order and hold only live entries' data. */
static bool log_ok(const struct raft_log *l, unsigned variant)
{
    size_t chunks = 0;
    for (const struct raftlog_chunk *c = l->oldest; c; c = c->next) {
        chunks++;
        if (c->used > c->size || c->first > c->last ||
            (c->next && c->next->first <= c->last) ||
            c->last > raftlog_last_index(l))
            return false;
    }
    if (chunks != l->n_chunks)
        return false;
    for (raft_index i = l->first; i <= raftlog_last_index(l); i++) {
        const struct raft_entry *e = raftlog_get(l, i);
        if (!e || e->len != len_of(i, variant))
            return false;
        if (!e->len) {
            if (e->data)
                return false;
            continue;
        }
        if ((uintptr_t)e->data % 8)
            return false;
        bool inside = false;
        for (const struct raftlog_chunk *c = l->oldest; c; c = c->next)
            if (e->data >= c->data && e->data + e->len <= c->data + c->used &&
                i >= c->first && i <= c->last)
                inside = true;
        if (!inside)
            return false;
        for (uint32_t k = 0; k < e->len; k++)
            if (e->data[k] != dbyte(i, e->term, k))
                return false;
    }
    return true;
}

TEST(test_chunks_follow_appends_compactions_truncations)
{
    for (unsigned variant = 0; variant < 2; variant++) {
        struct raft_log l;
        raftlog_init(&l);
        raft_term term = 1;
        for (int i = 0; i < 3000; i++)
            append(&l, term, variant);
        CHECK(log_ok(&l, variant));
        CHECK(l.n_chunks >= 2);
        /* ~150 bytes an entry: a chunk holds hundreds of them */
        if (variant == 0)
            CHECK(l.n_chunks <= 3000 * 160 / RAFTLOG_CHUNK + 2);

        /* truncations: inside the last chunk, at its first entry, across
         * chunks; then appends reuse the space */
        raft_index cuts[] = {2990, l.newest->first, 1500, 1499, 700, 2};
        for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
            raftlog_truncate_from(&l, cuts[c]);
            CHECK_EQ_U(raftlog_last_index(&l), cuts[c] - 1);
            CHECK(log_ok(&l, variant));
            term++;
            for (int i = 0; i < 400; i++)
                append(&l, term, variant);
            CHECK(log_ok(&l, variant));
        }

        /* compactions free the chunks whose entries all went */
        for (int i = 0; i < 3000; i++)
            append(&l, term, variant);
        size_t before = l.n_chunks;
        raftlog_compact(&l, raftlog_last_index(&l) - 100);
        CHECK(log_ok(&l, variant));
        CHECK(l.n_chunks < before);
        CHECK(l.oldest->last >= l.first);
        for (int i = 0; i < 1000; i++)
            append(&l, term, variant);
        raftlog_compact(&l, raftlog_last_index(&l) - 500);
        CHECK(log_ok(&l, variant));
        raftlog_truncate_from(&l, l.first);
        CHECK_EQ_U(l.n, 0);
        CHECK(log_ok(&l, variant));
        append(&l, term, variant);
        CHECK(log_ok(&l, variant));
        /* compacting everything frees every chunk */
        raftlog_compact(&l, raftlog_last_index(&l));
        CHECK_EQ_U(l.n_chunks, 0);
        CHECK(l.oldest == NULL && l.newest == NULL);
        append(&l, term, variant);
        CHECK(log_ok(&l, variant));
        raftlog_free(&l);
        CHECK_EQ_U(l.n_chunks, 0);
    }
}

int main(void)
{
    RUN(test_chunks_follow_appends_compactions_truncations);
    return test_summary();
}
