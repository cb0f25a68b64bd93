/* test_dedup.c - exactly-once request table and entry framing. */
#include <stdlib.h>
#include <string.h>

#include "../../src/daemon/dedup.h"
#include "test.h"

static struct kv_result result(unsigned status, const char *body)
{
    struct kv_result r = {.status = status, .index = status};
    r.body = strdup(body);
    r.len = strlen(body);
    return r;
}

TEST(header_round_trip)
{
    char buf[DEDUP_HEADER_MAX + 16];
    size_t hl = dedup_header(buf, 3, UINT64_MAX);
    memcpy(buf + hl, "{\"op\":\"set\"}", 12);
    uint64_t origin, id;
    size_t got;
    CHECK_EQ_U(dedup_parse(buf, hl + 12, &origin, &id, &got), 0);
    CHECK_EQ_U(origin, 3);
    CHECK_EQ_U(id, UINT64_MAX);
    CHECK_EQ_U(got, hl);
}

TEST(entries_without_a_header_are_plain_commands)
{
    static const char *bad[] = {
        "{\"op\":\"set\"}", "", "1 2", "1 2 \n", " 1 2\n", "1  2\n", "a 2\n",
        "18446744073709551616 1\n", "1 -2\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t o, id;
        size_t hl;
        if (dedup_parse(bad[i], strlen(bad[i]), &o, &id, &hl) == 0) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            CHECK(0);
        }
    }
    uint64_t o, id;
    size_t hl;
    CHECK(dedup_parse(NULL, 0, &o, &id, &hl) < 0);
}

TEST(remembers_first_answer_only)
{
    struct dedup *d = dedup_new(8);
    CHECK(dedup_find(d, 1, 42) == NULL);
    struct kv_result a = result(201, "first"), b = result(412, "second");
    dedup_remember(d, 1, 42, &a);
    dedup_remember(d, 1, 42, &b);
    const struct kv_result *f = dedup_find(d, 1, 42);
    CHECK(f && f->status == 201 && strcmp(f->body, "first") == 0);
    CHECK(dedup_find(d, 2, 42) == NULL); /* other origin */
    CHECK_EQ_U(dedup_count(d), 1);
    kv_result_free(&a);
    kv_result_free(&b);
    dedup_free(d);
}

TEST(forgets_oldest_beyond_window_and_stays_consistent)
{
    /* against a reference: after inserting ids 1..N into a window of W,
     * exactly the last W are found */
    enum { W = 100, N = 5000 };
    struct dedup *d = dedup_new(W);
    uint64_t x = 12345;
    uint64_t ids[N];
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids[i] = x;
        struct kv_result r = result(200 + (unsigned)(i % 7), "v");
        dedup_remember(d, (uint64_t)(i % 3) + 1, ids[i], &r);
        kv_result_free(&r);
        if (i % 500 == 0 || i == N - 1) {
            for (int j = 0; j <= i; j++) {
                const struct kv_result *f =
                    dedup_find(d, (uint64_t)(j % 3) + 1, ids[j]);
                bool want = j > i - W;
                if ((f != NULL) != want) {
                    fprintf(stderr, "i=%d j=%d found=%d\n", i, j, f != NULL);
                    CHECK(0);
                    j = i;
                    break;
                }
                if (f)
                    CHECK_EQ_U(f->status, 200 + (unsigned)(j % 7));
            }
        }
    }
    CHECK_EQ_U(dedup_count(d), W);
    dedup_free(d);
}

TEST(snapshot_round_trip_keeps_answers_and_forgetting_order)
{
    enum { W = 16 };
    struct dedup *d = dedup_new(W);
    for (uint64_t i = 1; i <= 40; i++) { /* wraps the ring */
        struct kv_result r = result(200 + (unsigned)(i % 5), i % 7 ? "body" : "");
        dedup_remember(d, i % 3, i * 1000, &r);
        kv_result_free(&r);
    }
    size_t len;
    char *snap = dedup_snapshot(d, &len);
    CHECK(snap != NULL);
    struct dedup *e = dedup_new(W);
    struct kv_result junk = result(500, "junk");
    dedup_remember(e, 9, 9, &junk);
    CHECK_EQ_U(dedup_restore(e, snap, len), 0);
    CHECK(dedup_find(e, 9, 9) == NULL);
    CHECK_EQ_U(dedup_count(e), dedup_count(d));
    for (uint64_t i = 1; i <= 40; i++) {
        const struct kv_result *x = dedup_find(d, i % 3, i * 1000);
        const struct kv_result *y = dedup_find(e, i % 3, i * 1000);
        CHECK((x == NULL) == (y == NULL));
        if (x && y) {
            CHECK_EQ_U(x->status, y->status);
            CHECK_EQ_U(x->index, y->index);
            CHECK(x->len == y->len && memcmp(x->body, y->body, x->len) == 0);
        }
    }
    /* both forget the same one next */
    struct kv_result r = result(201, "new");
    dedup_remember(d, 7, 7, &r);
    dedup_remember(e, 7, 7, &r);
    for (uint64_t i = 1; i <= 40; i++)
        CHECK((dedup_find(d, i % 3, i * 1000) == NULL) ==
              (dedup_find(e, i % 3, i * 1000) == NULL));
    kv_result_free(&r);
    /* malformed: refused, unchanged */
    for (size_t cut = 0; cut < len; cut++)
        CHECK(dedup_restore(e, snap, cut) < 0);
    CHECK(dedup_find(e, 7, 7) != NULL);
    kv_result_free(&junk);
    free(snap);
    dedup_free(d);
    dedup_free(e);
}

int main(void)
{
    RUN(header_round_trip);
    RUN(entries_without_a_header_are_plain_commands);
    RUN(remembers_first_answer_only);
    RUN(forgets_oldest_beyond_window_and_stays_consistent);
    RUN(snapshot_round_trip_keeps_answers_and_forgetting_order);
    return test_summary();
}
