/* test_dedup.c - exactly-once client sessions and entry framing. */
#include <stdlib.h>
#include <string.h>

#include "../../src/daemon/dedup.h"
#include "test.h"

/* The old table's size: answers it kept before forgetting. */
#define OLD_WINDOW 16384

static struct kv_result result(unsigned status, const char *body)
{
    struct kv_result r = {.status = status, .index = status};
    r.body = strdup(body);
    r.len = strlen(body);
    return r;
}

static struct dedup_ident ident(uint64_t o, uint64_t inc, uint64_t seq,
                                uint64_t ack)
{
    return (struct dedup_ident){o, inc, seq, ack};
}

/* Apply id as apply_entry does: NEW ones answered with status/body. */
static enum dedup_verdict apply(struct dedup *d, struct dedup_ident id,
                                unsigned status, const char *body,
                                const struct kv_result **first)
{
    const struct kv_result *f = NULL;
    enum dedup_verdict v = dedup_begin(d, &id, &f);
    if (v == DEDUP_NEW) {
        struct kv_result r = result(status, body);
        dedup_remember(d, &id, &r);
        kv_result_free(&r);
    }
    if (first)
        *first = f;
    return v;
}

TEST(header_round_trip)
{
    char buf[DEDUP_HEADER_MAX + 16];
    struct dedup_ident id = ident(3, UINT64_MAX, UINT64_MAX - 1, 7), got;
    size_t hl = dedup_header(buf, &id), gl;
    CHECK(hl < DEDUP_HEADER_MAX);
    memcpy(buf + hl, "{\"op\":\"set\"}", 12);
    CHECK_EQ_U(dedup_parse(buf, hl + 12, &got, &gl), 0);
    CHECK_EQ_U(got.origin, 3);
    CHECK_EQ_U(got.inc, UINT64_MAX);
    CHECK_EQ_U(got.seq, UINT64_MAX - 1);
    CHECK_EQ_U(got.ack, 7);
    CHECK_EQ_U(gl, hl);
    /* the legacy header: incarnation 0, seq = id, ack 0 */
    const char *old = "7 424242\n{\"op\":\"set\"}";
    CHECK_EQ_U(dedup_parse(old, strlen(old), &got, &gl), 0);
    CHECK_EQ_U(got.origin, 7);
    CHECK_EQ_U(got.inc, 0);
    CHECK_EQ_U(got.seq, 424242);
    CHECK_EQ_U(got.ack, 0);
    CHECK_EQ_U(gl, 9);
}

TEST(entries_without_a_header_are_plain_commands)
{
    static const char *bad[] = {
        "{\"op\":\"set\"}", "", "1 2", "1 2 \n", " 1 2\n", "1  2\n", "a 2\n",
        "18446744073709551616 1\n", "1 -2\n", "1\n", "1 2 3\n",
        "1 2 3 4 5\n", "1 0 3 4\n", "1 2 3 4", "1 2 3 4 \n",
        "1 2 3 18446744073709551616\n",
    };
    struct dedup_ident id;
    size_t hl;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dedup_parse(bad[i], strlen(bad[i]), &id, &hl) == 0) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            CHECK(0);
        }
    }
    CHECK(dedup_parse(NULL, 0, &id, &hl) < 0);
}

TEST(new_done_stale_and_ack_release)
{
    struct dedup *d = dedup_new();
    const struct kv_result *f;
    CHECK_EQ_U(apply(d, ident(1, 9, 1, 1), 201, "a", &f), DEDUP_NEW);
    CHECK_EQ_U(apply(d, ident(1, 9, 2, 1), 200, "b", &f), DEDUP_NEW);
    CHECK_EQ_U(apply(d, ident(1, 9, 3, 1), 200, "c", &f), DEDUP_NEW);
    CHECK_EQ_U(dedup_count(d), 3);
    /* a retried copy: the first answer, whatever it would answer now */
    CHECK_EQ_U(apply(d, ident(1, 9, 1, 1), 412, "x", &f), DEDUP_DONE);
    CHECK(f && f->status == 201 && strcmp(f->body, "a") == 0);
    /* seq 4 says 1 and 2 are finished: their answers go */
    CHECK_EQ_U(apply(d, ident(1, 9, 4, 3), 200, "d", &f), DEDUP_NEW);
    CHECK_EQ_U(dedup_count(d), 2);
    CHECK_EQ_U(apply(d, ident(1, 9, 1, 1), 200, "x", &f), DEDUP_STALE);
    CHECK_EQ_U(apply(d, ident(1, 9, 2, 2), 200, "x", &f), DEDUP_STALE);
    CHECK_EQ_U(apply(d, ident(1, 9, 3, 3), 200, "x", &f), DEDUP_DONE);
    CHECK(f && strcmp(f->body, "c") == 0);
    /* its own ack may release up to (not past) itself */
    CHECK_EQ_U(apply(d, ident(1, 9, 4, 4), 200, "x", &f), DEDUP_DONE);
    CHECK(f && strcmp(f->body, "d") == 0);
    CHECK_EQ_U(dedup_count(d), 1);
    /* ack > seq is malformed: never applied, changes nothing */
    CHECK_EQ_U(apply(d, ident(1, 9, 5, 9), 200, "x", &f), DEDUP_STALE);
    CHECK_EQ_U(apply(d, ident(1, 9, 5, 4), 200, "e", &f), DEDUP_NEW);
    /* other sessions are independent */
    CHECK_EQ_U(apply(d, ident(2, 9, 1, 1), 200, "o", &f), DEDUP_NEW);
    CHECK_EQ_U(apply(d, ident(2, 9, 1, 1), 200, "x", &f), DEDUP_DONE);
    CHECK(f && strcmp(f->body, "o") == 0);
    CHECK_EQ_U(dedup_session_count(d), 2);
    dedup_free(d);
}

TEST(retry_long_after_the_old_window_is_still_done)
{
    struct dedup *d = dedup_new();
    const struct kv_result *f;
    CHECK_EQ_U(apply(d, ident(1, 5, 1, 1), 201, "first", &f), DEDUP_NEW);
    /* many writes of other sessions (each acking its previous ones) */
    for (uint64_t i = 1; i <= 3 * OLD_WINDOW; i++)
        CHECK_EQ_U(apply(d, ident(2 + i % 3, 77, i, i), 200, "other", &f),
                   DEDUP_NEW);
    /* and of the same session, while seq 1 may still be resent */
    for (uint64_t i = 2; i <= 1000; i++)
        CHECK_EQ_U(apply(d, ident(1, 5, i, 1), 200, "mine", &f), DEDUP_NEW);
    CHECK_EQ_U(apply(d, ident(1, 5, 1, 1), 412, "again", &f), DEDUP_DONE);
    CHECK(f && f->status == 201 && strcmp(f->body, "first") == 0);
    /* other sessions keep only their unacknowledged answers */
    CHECK(dedup_count(d) <= 1000 + 3);
    dedup_free(d);
}

TEST(a_new_incarnation_closes_the_old_one)
{
    struct dedup *d = dedup_new();
    const struct kv_result *f;
    CHECK_EQ_U(apply(d, ident(1, 100, 1, 1), 200, "a", &f), DEDUP_NEW);
    CHECK_EQ_U(apply(d, ident(1, 100, 2, 1), 200, "b", &f), DEDUP_NEW);
    CHECK_EQ_U(apply(d, ident(2, 100, 1, 1), 200, "c", &f), DEDUP_NEW);
    /* origin 1 restarted */
    CHECK_EQ_U(apply(d, ident(1, 200, 1, 1), 200, "d", &f), DEDUP_NEW);
    CHECK_EQ_U(dedup_session_count(d), 2);
    CHECK_EQ_U(dedup_count(d), 2);
    CHECK_EQ_U(apply(d, ident(1, 100, 1, 1), 200, "x", &f), DEDUP_STALE);
    CHECK_EQ_U(apply(d, ident(1, 100, 3, 1), 200, "x", &f), DEDUP_STALE);
    CHECK_EQ_U(apply(d, ident(1, 200, 1, 1), 200, "x", &f), DEDUP_DONE);
    CHECK_EQ_U(apply(d, ident(2, 100, 1, 1), 200, "x", &f), DEDUP_DONE);
    /* legacy requests neither close nor are closed */
    CHECK_EQ_U(apply(d, ident(1, 0, 42, 0), 200, "l", &f), DEDUP_NEW);
    CHECK_EQ_U(apply(d, ident(1, 200, 2, 1), 200, "e", &f), DEDUP_NEW);
    CHECK_EQ_U(apply(d, ident(1, 0, 42, 0), 200, "x", &f), DEDUP_DONE);
    CHECK(f && strcmp(f->body, "l") == 0);
    CHECK_EQ_U(apply(d, ident(1, 200, 2, 1), 200, "x", &f), DEDUP_DONE);
    dedup_free(d);
}

TEST(bounds_on_sessions_and_answers)
{
    struct dedup *d = dedup_new();
    const struct kv_result *f;
    for (uint64_t o = 1; o <= DEDUP_MAX_SESSIONS; o++)
        CHECK_EQ_U(apply(d, ident(o, 1, 1, 1), 200, "a", &f), DEDUP_NEW);
    CHECK_EQ_U(apply(d, ident(1, 1, 2, 1), 200, "a", &f), DEDUP_NEW);
    /* one more: the least recently used session (origin 2) is closed */
    CHECK_EQ_U(apply(d, ident(1000, 1, 1, 1), 200, "a", &f), DEDUP_NEW);
    CHECK_EQ_U(dedup_session_count(d), DEDUP_MAX_SESSIONS);
    CHECK_EQ_U(apply(d, ident(2, 1, 1, 1), 200, "x", &f), DEDUP_STALE);
    CHECK_EQ_U(apply(d, ident(2, 1, 2, 1), 200, "x", &f), DEDUP_STALE);
    CHECK_EQ_U(apply(d, ident(1, 1, 1, 1), 200, "x", &f), DEDUP_DONE);
    CHECK_EQ_U(apply(d, ident(3, 1, 1, 1), 200, "x", &f), DEDUP_DONE);
    dedup_free(d);

    /* per session: beyond the bound the lowest seq becomes STALE */
    d = dedup_new();
    for (uint64_t s = 1; s <= DEDUP_MAX_PER_SESSION + 2; s++)
        CHECK_EQ_U(apply(d, ident(1, 1, s, 1), 200, "a", &f), DEDUP_NEW);
    CHECK_EQ_U(dedup_count(d), DEDUP_MAX_PER_SESSION);
    CHECK_EQ_U(apply(d, ident(1, 1, 1, 1), 200, "x", &f), DEDUP_STALE);
    CHECK_EQ_U(apply(d, ident(1, 1, 2, 1), 200, "x", &f), DEDUP_STALE);
    CHECK_EQ_U(apply(d, ident(1, 1, 3, 1), 200, "x", &f), DEDUP_DONE);
    dedup_free(d);

    /* legacy: the oldest answer (apply order, not id order) is forgotten */
    d = dedup_new();
    for (uint64_t s = 1; s <= DEDUP_MAX_PER_SESSION + 1; s++)
        CHECK_EQ_U(apply(d, ident(1, 0, 1000000 - s, 0), 200, "a", &f),
                   DEDUP_NEW);
    CHECK_EQ_U(dedup_count(d), DEDUP_MAX_PER_SESSION);
    CHECK_EQ_U(apply(d, ident(1, 0, 1000000 - 2, 0), 200, "x", &f), DEDUP_DONE);
    CHECK_EQ_U(apply(d, ident(1, 0, 1000000 - 1, 0), 200, "x", &f), DEDUP_NEW);
    dedup_free(d);
}

/* A deterministic mix of identities: sessions, restarts, retries, legacy. */
static struct dedup_ident script(uint64_t i)
{
    uint64_t z = i * 0x9e3779b97f4a7c15ull;
    z ^= z >> 29;
    uint64_t origin = 1 + z % 70, inc = 1 + (z >> 8) % 2;
    uint64_t seq = 1 + i / 3 - (z >> 16) % 4;
    if ((z >> 24) % 11 == 0)
        inc = 0;
    uint64_t ack = (z >> 30) % 3 ? seq - (z >> 32) % 3 : seq + 1;
    if (ack > seq + 1 || ack == 0)
        ack = 1;
    return ident(origin, inc, seq, ack);
}

static void run_script(struct dedup *d, uint64_t from, uint64_t to,
                       enum dedup_verdict *out)
{
    char body[32];
    for (uint64_t i = from; i < to; i++) {
        const struct kv_result *f;
        snprintf(body, sizeof(body), "r%" PRIu64, i);
        enum dedup_verdict v = apply(d, script(i), 200, body, &f);
        out[i - from] = v;
        if (v == DEDUP_DONE)
            out[i - from] += (enum dedup_verdict)(3 * (unsigned)strtoul(f->body + 1, NULL, 10));
    }
}

TEST(snapshot_round_trip_decides_like_the_original)
{
    enum { N = 6000, M = 6000 };
    static enum dedup_verdict a[M], b[M];
    struct dedup *d = dedup_new();
    run_script(d, 0, N, a);
    CHECK(dedup_session_count(d) > 10);
    size_t len;
    char *snap = dedup_snapshot(d, &len);
    CHECK(snap != NULL);
    struct dedup *e = dedup_new();
    const struct kv_result *f;
    CHECK_EQ_U(apply(e, ident(9, 9, 9, 9), 200, "junk", &f), DEDUP_NEW);
    CHECK_EQ_U(dedup_restore(e, snap, len), 0);
    CHECK_EQ_U(dedup_count(e), dedup_count(d));
    CHECK_EQ_U(dedup_session_count(e), dedup_session_count(d));
    size_t len2;
    char *snap2 = dedup_snapshot(e, &len2);
    CHECK(len2 == len && memcmp(snap, snap2, len) == 0);
    free(snap2);
    run_script(d, N, N + M, a);
    run_script(e, N, N + M, b);
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    unsigned kinds[3] = {0};
    for (size_t i = 0; i < M; i++)
        kinds[a[i] >= 3 ? DEDUP_DONE : a[i]]++;
    CHECK(kinds[DEDUP_NEW] && kinds[DEDUP_DONE] && kinds[DEDUP_STALE]);

    /* malformed: every truncation, trailing bytes, bad version */
    struct dedup *g = dedup_new();
    CHECK_EQ_U(apply(g, ident(7, 7, 7, 7), 200, "keep", &f), DEDUP_NEW);
    for (size_t cut = 0; cut < len; cut++)
        CHECK(dedup_restore(g, snap, cut) < 0);
    char *longer = malloc(len + 1);
    memcpy(longer, snap, len);
    longer[len] = 0;
    CHECK(dedup_restore(g, longer, len + 1) < 0);
    longer[4] = 3; /* version */
    CHECK(dedup_restore(g, longer, len) < 0);
    free(longer);
    CHECK_EQ_U(dedup_count(g), 1);
    CHECK_EQ_U(apply(g, ident(7, 7, 7, 7), 200, "x", &f), DEDUP_DONE);
    CHECK(f && strcmp(f->body, "keep") == 0);
    free(snap);
    dedup_free(d);
    dedup_free(e);
    dedup_free(g);
}

static void put(unsigned char **p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        *(*p)++ = (unsigned char)(v >> (8 * i));
}

TEST(old_snapshot_format_loads_as_legacy_answers)
{
    /* u32 count, then origin u64, id u64, status u16, error_code u16,
     * index u64, len u32, body */
    unsigned char buf[256], *p = buf;
    put(&p, 2, 4);
    put(&p, 7, 8), put(&p, 424242, 8), put(&p, 201, 2), put(&p, 0, 2);
    put(&p, 5, 8), put(&p, 3, 4), memcpy(p, "one", 3), p += 3;
    put(&p, 8, 8), put(&p, 99, 8), put(&p, 412, 2), put(&p, 105, 2);
    put(&p, 6, 8), put(&p, 0, 4);
    size_t len = (size_t)(p - buf);
    struct dedup *d = dedup_new();
    const struct kv_result *f;
    CHECK_EQ_U(dedup_restore(d, buf, len), 0);
    CHECK_EQ_U(dedup_count(d), 2);
    CHECK_EQ_U(apply(d, ident(7, 0, 424242, 0), 200, "x", &f), DEDUP_DONE);
    CHECK(f && f->status == 201 && f->index == 5 && f->len == 3 &&
          memcmp(f->body, "one", 3) == 0);
    CHECK_EQ_U(apply(d, ident(8, 0, 99, 0), 200, "x", &f), DEDUP_DONE);
    CHECK(f && f->status == 412 && f->error_code == 105 && f->len == 0);
    CHECK_EQ_U(apply(d, ident(7, 0, 1, 0), 200, "x", &f), DEDUP_NEW);
    /* the v1 empty table, and malformed v1 bytes */
    unsigned char zero[4] = {0};
    CHECK_EQ_U(dedup_restore(d, zero, 4), 0);
    CHECK_EQ_U(dedup_count(d), 0);
    CHECK_EQ_U(apply(d, ident(1, 1, 1, 1), 200, "k", &f), DEDUP_NEW);
    for (size_t cut = 0; cut < len; cut++)
        CHECK(dedup_restore(d, buf, cut) < 0);
    CHECK_EQ_U(dedup_count(d), 1);
    dedup_free(d);
}

int main(void)
{
    RUN(header_round_trip);
    RUN(entries_without_a_header_are_plain_commands);
    RUN(new_done_stale_and_ack_release);
    RUN(retry_long_after_the_old_window_is_still_done);
    RUN(a_new_incarnation_closes_the_old_one);
    RUN(bounds_on_sessions_and_answers);
    RUN(snapshot_round_trip_decides_like_the_original);
    RUN(old_snapshot_format_loads_as_legacy_answers);
    return test_summary();
}
