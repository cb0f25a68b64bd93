/* test_storage.c - unit tests of src/daemon/storage.c: the on-disk format of
 * doc/storage.md, hard-state alternation, the segmented log, repair of a torn
 * tail and refusal of corruption anywhere else.
 *
 * Build by hand (a small SEGMENT_MAX makes segment rollover cheap to test):
 *   gcc -std=c11 -g -Wall -Wextra -Werror -fsanitize=address,undefined \
 *       -DSEGMENT_MAX=4096 -Itests/unit src/daemon/storage.c \
 *       tests/unit/test_storage.c -o /tmp/test_storage
 * Without -DSEGMENT_MAX the tests use the real 64 MiB segments (slower, and
 * they write a few hundred MiB under $TMPDIR).
 *
 * The tests parse the files themselves from the documented layout rather
 * than trusting storage.c, so a change of format that the document does not
 * follow makes them fail.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/daemon/crc32c.h"
#include "../../src/daemon/snapfile.h"
#include "../../src/daemon/storage.h"
#include "test.h"

#ifndef SEGMENT_MAX
#define SEGMENT_MAX (64u << 20) /* storage.c's default */
#endif

/* The documented layout (doc/storage.md). */
#define META_SIZE 40
#define WAL_HEADER 16
#define REC_HEADER 8
#define REC_FIXED 17

static char err[1024];

/* ---- files and directories ---- */

static char *tmpdir_new(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *p;
    if (asprintf(&p, "%s/raftd-test-storage-XXXXXX", base) < 0 || !mkdtemp(p)) {
        perror("mkdtemp");
        exit(2);
    }
    return p;
}

static void rmtree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                rmtree(sub);
            else
                unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

static void rmtree_free(char *path)
{
    rmtree(path);
    free(path);
}

static const char *seg_name(uint64_t first)
{
    static char buf[4][32];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "wal-%020llu", (unsigned long long)first);
    return buf[k];
}

static const char *path_in(const char *dir, const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
    return buf[k];
}

static uint8_t *slurp(const char *path, size_t *len)
{
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    fstat(fd, &st);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    ssize_t n = pread(fd, b, (size_t)st.st_size, 0);
    close(fd);
    *len = n > 0 ? (size_t)n : 0;
    return b;
}

static void spit(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (len && write(fd, buf, len) != (ssize_t)len)) {
        perror(path);
        exit(2);
    }
    close(fd);
}

static void append_bytes(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
        perror(path);
        exit(2);
    }
    close(fd);
}

/* Write buf where the next record of the segment at path would go: after
 * its records, over the zeros of its preallocated space. */
static size_t records_end(const uint8_t *buf, size_t len);
static void write_after_records(const char *path, const void *buf, size_t len)
{
    size_t flen;
    uint8_t *img = slurp(path, &flen);
    uint64_t at = records_end(img, flen);
    free(img);
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, buf, len, (off_t)at) != (ssize_t)len) {
        perror(path);
        exit(2);
    }
    close(fd);
}

static long long fsize(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void flip(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b;
    if (fd < 0 || pread(fd, &b, 1, (off_t)off) != 1) {
        fprintf(stderr, "flip %s at %llu failed\n", path, (unsigned long long)off);
        exit(2);
    }
    b ^= 0x5a;
    if (pwrite(fd, &b, 1, (off_t)off) != 1)
        exit(2);
    close(fd);
}

static bool same_file(const char *path, const uint8_t *buf, size_t len)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    bool same = b && n == len && memcmp(b, buf, len) == 0;
    free(b);
    return same;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* First indexes of the segment files in dir, sorted. */
static size_t list_segs(const char *dir, uint64_t *firsts, size_t max)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, "wal-", 4) && n < max)
            firsts[n++] = strtoull(de->d_name + 4, NULL, 10);
    if (d)
        closedir(d);
    qsort(firsts, n, sizeof(*firsts), cmp_u64);
    return n;
}

/* Record offsets in a segment image, parsed from the documented layout;
 * stops at the first record that does not fit. */
static size_t rec_offsets(const uint8_t *buf, size_t len, uint64_t *offs,
                          size_t max)
{
    size_t n = 0;
    uint64_t off = WAL_HEADER;
    while (off + REC_HEADER <= len && n < max) {
        uint32_t plen = le32(buf + off);
        if (plen < REC_FIXED || off + REC_HEADER + plen > len)
            break;
        offs[n++] = off;
        off += REC_HEADER + plen;
    }
    return n;
}

/* Where a segment image's records end (the rest is preallocated zeros). */
static size_t records_end(const uint8_t *buf, size_t len)
{
    uint64_t offs[4096];
    size_t n = rec_offsets(buf, len, offs, 4096);
    return n ? offs[n - 1] + REC_HEADER + le32(buf + offs[n - 1])
             : len < WAL_HEADER ? len : WAL_HEADER;
}

static bool zeros_only(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

/* ---- the expected log ---- */

#define MODEL_MAX 4096
struct model {
    size_t n; /* entries 1..n */
    raft_term term[MODEL_MAX];
    uint32_t len[MODEL_MAX];
    uint8_t type[MODEL_MAX];
};

static uint8_t dbyte(raft_index index, raft_term term, uint32_t k)
{
    return (uint8_t)(index * 131u + term * 17u + k * 7u + (k >> 8));
}

/* storage_append() n entries at first with term and lens (NULL: small
 * varied sizes), and mirror it in m. */
static int put(struct storage *s, struct model *m, raft_index first, size_t n,
               raft_term term, const uint32_t *lens)
{
    struct raft_entry *e = calloc(n, sizeof(*e));
    for (size_t j = 0; j < n; j++) {
        raft_index idx = first + j;
        e[j].term = term;
        e[j].type = (uint8_t)(idx % 3 == 0);
        e[j].len = lens ? lens[j] : (uint32_t)(idx * 7 % 50);
        if (e[j].len) {
            e[j].data = malloc(e[j].len);
            for (uint32_t k = 0; k < e[j].len; k++)
                e[j].data[k] = dbyte(idx, term, k);
        }
    }
    int rv = storage_append(s, first, e, n, err, sizeof(err));
    if (rv == 0) {
        for (size_t j = 0; j < n; j++) {
            m->term[first + j - 1] = e[j].term;
            m->len[first + j - 1] = e[j].len;
            m->type[first + j - 1] = e[j].type;
        }
        m->n = first - 1 + n;
    } else {
        fprintf(stderr, "storage_append: %s\n", err);
    }
    for (size_t j = 0; j < n; j++)
        free(e[j].data);
    free(e);
    return rv;
}

static void put_lens(struct storage *s, struct model *m, raft_index first,
                     size_t n, raft_term term, uint32_t len)
{
    uint32_t *lens = malloc(n * sizeof(*lens));
    for (size_t j = 0; j < n; j++)
        lens[j] = len;
    CHECK(put(s, m, first, n, term, lens) == 0);
    free(lens);
}

/* The loaded log equals entries 1..upto of m. */
static bool same_log(const struct storage_loaded *l, const struct model *m,
                     size_t upto)
{
    if (l->first_index != 1 || l->n_entries != upto) {
        fprintf(stderr, "  loaded first %llu n %zu, expected first 1 n %zu\n",
                (unsigned long long)l->first_index, l->n_entries, upto);
        return false;
    }
    for (size_t i = 0; i < upto; i++) {
        const struct raft_entry *e = &l->entries[i];
        raft_index idx = i + 1;
        if (e->term != m->term[i] || e->type != m->type[i] ||
            e->len != m->len[i] || (e->len && !e->data)) {
            fprintf(stderr, "  entry %llu: term %llu type %u len %u, expected "
                    "term %llu type %u len %u\n", (unsigned long long)idx,
                    (unsigned long long)e->term, e->type, e->len,
                    (unsigned long long)m->term[i], m->type[i], m->len[i]);
            return false;
        }
        for (uint32_t k = 0; k < e->len; k++)
            if (e->data[k] != dbyte(idx, e->term, k)) {
                fprintf(stderr, "  entry %llu: data differs at byte %u\n",
                        (unsigned long long)idx, k);
                return false;
            }
    }
    return true;
}

/* ---- opening ---- */

static struct storage *open_ok(const char *dir, struct storage_loaded *l)
{
    struct storage *s = NULL;
    err[0] = 0;
    if (storage_open(&s, dir, l, err, sizeof(err)) < 0) {
        fprintf(stderr, "  storage_open(%s) failed: %s\n", dir, err);
        return NULL;
    }
    return s;
}

/* storage_open must fail; returns true if it did with a non-empty message. */
static bool open_fails(const char *dir)
{
    struct storage *s = NULL;
    struct storage_loaded l;
    err[0] = 0;
    if (storage_open(&s, dir, &l, err, sizeof(err)) == 0) {
        fprintf(stderr, "  storage_open(%s) unexpectedly succeeded\n", dir);
        storage_close(s);
        storage_loaded_free(&l);
        return false;
    }
    if (l.n_entries != 0 || l.entries != NULL)
        return false;
    return err[0] != 0;
}

static void shut(struct storage *s, struct storage_loaded *l)
{
    storage_close(s);
    storage_loaded_free(l);
}

static bool sync_ok(struct storage *s)
{
    if (storage_sync(s, err, sizeof(err)) < 0) {
        fprintf(stderr, "  storage_sync: %s\n", err);
        return false;
    }
    return true;
}

/* Reopen dir and compare with m; returns whether both worked. */
static bool reopen_same(const char *dir, const struct model *m)
{
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    if (!s)
        return false;
    bool same = same_log(&l, m, m->n) && l.repaired[0] == 0;
    if (l.repaired[0])
        fprintf(stderr, "  unexpected repair: %s\n", l.repaired);
    shut(s, &l);
    return same;
}

/* Parse the whole directory independently: every segment's header names its
 * first index, its records are consecutive and checksummed, the segments are
 * contiguous, nothing but zeros (preallocated space) follows the records of
 * a file (no holes, no stale tail), and only the last segment may have no
 * records. Returns the number of entries, or -1 (with a message) if the
 * directory is not like that. */
static long verify_dir(const char *dir)
{
    uint64_t firsts[512];
    size_t n = list_segs(dir, firsts, 512);
    uint64_t expect = n ? firsts[0] : 1;
    long total = 0;
    for (size_t k = 0; k < n; k++) {
        size_t len;
        uint8_t *b = slurp(path_in(dir, seg_name(firsts[k])), &len);
        if (!b || len < WAL_HEADER || memcmp(b, "RAFTDWL1", 8) ||
            le64(b + 8) != firsts[k] || firsts[k] != expect) {
            fprintf(stderr, "  verify_dir: %s: bad header or gap\n",
                    seg_name(firsts[k]));
            free(b);
            return -1;
        }
        uint64_t off = WAL_HEADER;
        while (off < len && !zeros_only(b + off, len - off)) {
            uint32_t plen = le32(b + off);
            if (off + REC_HEADER > len || plen < REC_FIXED ||
                off + REC_HEADER + plen > len ||
                le32(b + off + 4) != crc32c(0, b + off + REC_HEADER, plen) ||
                le64(b + off + REC_HEADER) != expect) {
                fprintf(stderr, "  verify_dir: %s: bad record at %llu\n",
                        seg_name(firsts[k]), (unsigned long long)off);
                free(b);
                return -1;
            }
            off += REC_HEADER + plen;
            expect++;
            total++;
        }
        bool empty = off == WAL_HEADER;
        free(b);
        if (empty && k + 1 < n) {
            fprintf(stderr, "  verify_dir: %s: empty segment before the last\n",
                    seg_name(firsts[k]));
            return -1;
        }
    }
    return total;
}

/* ---- tests ---- */

TEST(test_crc32c_instruction_matches_table)
{
    uint8_t b[300];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof(b); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b[i] = (uint8_t)x;
    }
    CHECK_EQ_U(crc32c_portable(0, "123456789", 9), 0xE3069283u);
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof(b); len += 7)
            CHECK_EQ_U(crc32c(5, b + off, len), crc32c_portable(5, b + off, len));
}

TEST(test_crc32c_check_values)
{
    CHECK_EQ_U(crc32c(0, "123456789", 9), 0xE3069283u);
    /* continuing from a previous value */
    CHECK_EQ_U(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    CHECK_EQ_U(crc32c(0, "", 0), 0);
    /* RFC 3720 B.4 */
    uint8_t b[32];
    memset(b, 0, sizeof(b));
    CHECK_EQ_U(crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xff, sizeof(b));
    CHECK_EQ_U(crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    CHECK_EQ_U(crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    CHECK_EQ_U(crc32c(0, b, 32), 0x113FDB5Cu);
}

TEST(test_empty_dir_opens_empty)
{
    char *top = tmpdir_new();
    const char *dir = path_in(top, "data"); /* created by storage_open */
    char d[1024];
    snprintf(d, sizeof(d), "%s", dir);
    for (int round = 0; round < 2; round++) {
        struct storage_loaded l;
        struct storage *s = open_ok(d, &l);
        CHECK(s != NULL);
        if (!s)
            break;
        CHECK_EQ_U(l.hs.term, 0);
        CHECK_EQ_U(l.hs.vote, 0);
        CHECK_EQ_U(l.n_entries, 0);
        CHECK(l.entries == NULL);
        CHECK_EQ_U(l.first_index, 1);
        CHECK(l.repaired[0] == 0);
        CHECK(sync_ok(s));
        shut(s, &l);
    }
    uint64_t firsts[4];
    CHECK_EQ_U(list_segs(d, firsts, 4), 0);
    CHECK(fsize(path_in(d, "LOCK")) >= 0);
    rmtree_free(top);
}

TEST(test_hard_state_round_trip)
{
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    raft_term term = 0;
    raft_id vote = 0;
    for (int i = 1; i <= 60 && s; i++) {
        term = (raft_term)i * 3 + (i % 2);
        vote = (raft_id)(i % 5);
        struct raft_hard_state hs = {.term = term, .vote = vote};
        CHECK(storage_save_hard_state(s, &hs, err, sizeof(err)) == 0);
        CHECK(sync_ok(s));
        /* reopen after various numbers of saves, so both parities of the
         * version counter are continued from a reopen */
        if (i % 3 == 0 || i % 7 == 0) {
            shut(s, &l);
            s = open_ok(dir, &l);
            CHECK(s != NULL);
            if (s) {
                CHECK_EQ_U(l.hs.term, term);
                CHECK_EQ_U(l.hs.vote, vote);
            }
        }
    }
    if (s)
        shut(s, &l);
    s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_U(l.hs.term, term);
        CHECK_EQ_U(l.hs.vote, vote);
        shut(s, &l);
    }
    /* both files are in use, holding consecutive versions */
    size_t n1, n2;
    uint8_t *m1 = slurp(path_in(dir, "meta1"), &n1);
    uint8_t *m2 = slurp(path_in(dir, "meta2"), &n2);
    CHECK_EQ_U(n1, META_SIZE);
    CHECK_EQ_U(n2, META_SIZE);
    if (n1 == META_SIZE && n2 == META_SIZE) {
        uint64_t v1 = le64(m1 + 8), v2 = le64(m2 + 8);
        CHECK_EQ_U(v1 > v2 ? v1 - v2 : v2 - v1, 1);
        CHECK_EQ_U(v1 > v2 ? v1 : v2, 60);
    }
    free(m1);
    free(m2);
    rmtree_free(dir);
}

/* Garble a metadata file: 0 flip a byte of the term, 1 flip a byte of the
 * checksum, 2 cut it short, 3 flip a byte of the magic. */
static void garble_meta(const char *path, int mode)
{
    switch (mode) {
    case 0: flip(path, 17); break;
    case 1: flip(path, 33); break;
    case 2: if (truncate(path, 20) < 0) exit(2); break;
    default: flip(path, 3); break;
    }
}

static uint64_t meta_version(const char *path)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    uint64_t v = n >= 16 ? le64(b + 8) : 0;
    free(b);
    return v;
}

static void save_hs(struct storage *s, raft_term term, raft_id vote)
{
    struct raft_hard_state hs = {.term = term, .vote = vote};
    CHECK(storage_save_hard_state(s, &hs, err, sizeof(err)) == 0);
}

TEST(test_commit_hint_round_trip_and_garbled)
{
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK_EQ_U(l.hs.commit, 0);
    storage_save_commit(s, 7);
    storage_save_commit(s, 42);
    storage_close(s);
    storage_loaded_free(&l);
    s = open_ok(dir, &l);
    CHECK_EQ_U(l.hs.commit, 42);
    storage_close(s);
    storage_loaded_free(&l);
    /* a damaged hint is no hint, never an error */
    size_t len;
    uint8_t *b = slurp(path_in(dir, "commit"), &len);
    CHECK_EQ_U(len, 20);
    if (len == 20) {
        b[9] ^= 1;
        spit(path_in(dir, "commit"), b, len);
    }
    free(b);
    s = open_ok(dir, &l);
    CHECK_EQ_U(l.hs.commit, 0);
    storage_close(s);
    storage_loaded_free(&l);
    spit(path_in(dir, "commit"), "xy", 2);
    s = open_ok(dir, &l);
    CHECK_EQ_U(l.hs.commit, 0);
    storage_close(s);
    storage_loaded_free(&l);
    rmtree_free(dir);
}

TEST(test_one_meta_garbled_uses_other)
{
    for (int which = 0; which < 2; which++)
        for (int mode = 0; mode < 4; mode++) {
            char *dir = tmpdir_new();
            struct storage_loaded l;
            struct storage *s = open_ok(dir, &l);
            CHECK(s != NULL);
            if (!s) {
                rmtree_free(dir);
                continue;
            }
            save_hs(s, 5, 1);
            save_hs(s, 6, 2);
            save_hs(s, 7, 3);
            CHECK(sync_ok(s));
            shut(s, &l);
            const char *files[2] = {"meta1", "meta2"};
            char garbled[1024], other[1024];
            snprintf(garbled, sizeof(garbled), "%s", path_in(dir, files[which]));
            snprintf(other, sizeof(other), "%s", path_in(dir, files[!which]));
            bool newer = meta_version(garbled) > meta_version(other);
            raft_term want_term = newer ? 6 : 7;
            raft_id want_vote = newer ? 2 : 3;
            garble_meta(garbled, mode);

            s = open_ok(dir, &l);
            CHECK(s != NULL);
            if (!s) {
                rmtree_free(dir);
                continue;
            }
            CHECK_EQ_U(l.hs.term, want_term);
            CHECK_EQ_U(l.hs.vote, want_vote);
            /* The next save must not overwrite the only valid copy: even if
             * it is torn, the state just loaded comes back. */
            save_hs(s, 9, 4);
            CHECK(sync_ok(s));
            shut(s, &l);
            const char *latest = meta_version(garbled) > meta_version(other)
                                     ? garbled : other;
            CHECK(strcmp(latest, garbled) == 0); /* went to the damaged one */
            s = open_ok(dir, &l);
            CHECK(s != NULL);
            if (s) {
                CHECK_EQ_U(l.hs.term, 9);
                CHECK_EQ_U(l.hs.vote, 4);
                shut(s, &l);
            }
            flip(latest, 20); /* tear the latest save */
            s = open_ok(dir, &l);
            CHECK(s != NULL);
            if (s) {
                CHECK_EQ_U(l.hs.term, want_term);
                CHECK_EQ_U(l.hs.vote, want_vote);
                shut(s, &l);
            }
            rmtree_free(dir);
        }
}

TEST(test_both_meta_garbled_fails)
{
    for (int mode = 0; mode < 4; mode++) {
        char *dir = tmpdir_new();
        struct storage_loaded l;
        struct storage *s = open_ok(dir, &l);
        CHECK(s != NULL);
        if (!s) {
            rmtree_free(dir);
            continue;
        }
        save_hs(s, 5, 1);
        save_hs(s, 6, 2);
        CHECK(sync_ok(s));
        shut(s, &l);
        garble_meta(path_in(dir, "meta1"), mode);
        garble_meta(path_in(dir, "meta2"), (mode + 1) % 4);
        CHECK(open_fails(dir));
        CHECK(strstr(err, "meta1") != NULL);
        CHECK(strstr(err, "meta2") != NULL);
        CHECK(strstr(err, dir) != NULL);
        rmtree_free(dir);
    }
}

/* Only one save ever made, and it is torn: the first save never completed,
 * so nothing depended on it, and the node starts from term 0. */
TEST(test_first_meta_save_torn_starts_fresh)
{
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (s) {
        save_hs(s, 5, 1);
        CHECK(sync_ok(s));
        shut(s, &l);
        const char *written = fsize(path_in(dir, "meta1")) > 0 ? "meta1" : "meta2";
        const char *unused = written[4] == '1' ? "meta2" : "meta1";
        CHECK_EQ_U(fsize(path_in(dir, unused)), 0);
        flip(path_in(dir, written), 17);
        s = open_ok(dir, &l);
        CHECK(s != NULL);
        if (s) {
            CHECK_EQ_U(l.hs.term, 0);
            CHECK_EQ_U(l.hs.vote, 0);
            shut(s, &l);
        }
    }
    rmtree_free(dir);
}

TEST(test_append_reopen_round_trip)
{
    static struct model m;
    memset(&m, 0, sizeof(m));
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    static const uint32_t lens[] = {0,    1,    2,    16,   17,   18,
                                    100,  0,    0,    1000, 4095, 4096,
                                    4097, 0,    65536, 7,   300000, 0};
    size_t nl = sizeof(lens) / sizeof(lens[0]);
    CHECK(put(s, &m, 1, 1, 1, lens) == 0);          /* one */
    CHECK(put(s, &m, 2, 5, 1, lens + 1) == 0);      /* a batch */
    CHECK(put(s, &m, 7, nl - 6, 2, lens + 6) == 0); /* the rest */
    CHECK(sync_ok(s));
    shut(s, &l);
    CHECK(reopen_same(dir, &m));
    CHECK_EQ_U(verify_dir(dir), m.n);

    /* appending after a reopen continues the log */
    for (int round = 0; round < 3; round++) {
        s = open_ok(dir, &l);
        CHECK(s != NULL);
        if (!s)
            break;
        CHECK(same_log(&l, &m, m.n));
        CHECK(put(s, &m, m.n + 1, 4, 3 + (raft_term)round, NULL) == 0);
        CHECK(put(s, &m, m.n + 1, 1, 3 + (raft_term)round, lens + 3) == 0);
        CHECK(sync_ok(s));
        shut(s, &l);
        CHECK(reopen_same(dir, &m));
        CHECK_EQ_U(verify_dir(dir), m.n);
    }
    rmtree_free(dir);
}

TEST(test_truncate_suffix)
{
    static struct model m;
    memset(&m, 0, sizeof(m));
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    CHECK(put(s, &m, 1, 10, 1, NULL) == 0);
    CHECK(sync_ok(s));
    /* replace 6..10 by 6..8 */
    CHECK(put(s, &m, 6, 3, 2, NULL) == 0);
    CHECK(sync_ok(s));
    shut(s, &l);
    CHECK_EQ_U(m.n, 8);
    CHECK(reopen_same(dir, &m));
    CHECK_EQ_U(verify_dir(dir), 8);

    s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    /* replace only the last entry, then twice within one session */
    CHECK(put(s, &m, 8, 1, 3, NULL) == 0);
    CHECK(put(s, &m, 3, 5, 4, NULL) == 0);
    CHECK(put(s, &m, 5, 2, 5, NULL) == 0);
    CHECK(sync_ok(s));
    shut(s, &l);
    CHECK_EQ_U(m.n, 6);
    CHECK(reopen_same(dir, &m));
    CHECK_EQ_U(verify_dir(dir), 6);

    s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (s) {
        /* replace the whole log */
        CHECK(put(s, &m, 1, 2, 6, NULL) == 0);
        CHECK(sync_ok(s));
        shut(s, &l);
        CHECK_EQ_U(m.n, 2);
        CHECK(reopen_same(dir, &m));
        CHECK_EQ_U(verify_dir(dir), 2);
    }
    rmtree_free(dir);
}

/* Entries so large that about five fill a segment. */
#define BIG (SEGMENT_MAX / 5)

/* With real 64 MiB segments every multi-segment log costs a few hundred MiB
 * of I/O, so only the first variant of each test gets one. */
#define FAST_SEGMENTS (SEGMENT_MAX <= (1u << 20))
static bool multi_ok(bool multi, int variant)
{
    return !multi || FAST_SEGMENTS || variant == 0;
}

TEST(test_segment_rollover)
{
    static struct model m;
    memset(&m, 0, sizeof(m));
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    /* batches that cross segment boundaries, a record larger than a whole
     * segment, and small records */
    put_lens(s, &m, 1, 7, 1, BIG);
    put_lens(s, &m, 8, 1, 1, SEGMENT_MAX + 10);
    put_lens(s, &m, 9, 9, 1, BIG / 2);
    put_lens(s, &m, 18, 3, 1, 0);
    CHECK(sync_ok(s));
    shut(s, &l);

    uint64_t firsts[64];
    size_t n = list_segs(dir, firsts, 64);
    CHECK(n >= 3);
    CHECK_EQ_U(verify_dir(dir), m.n);
    for (size_t k = 0; k < n; k++) {
        size_t len;
        uint8_t *b = slurp(path_in(dir, seg_name(firsts[k])), &len);
        uint64_t offs[64];
        size_t nr = rec_offsets(b, len, offs, 64);
        CHECK(nr >= 1);
        /* named after the index of its first record */
        if (nr)
            CHECK_EQ_U(le64(b + offs[0] + REC_HEADER), firsts[k]);
        /* a segment is closed once it reaches SEGMENT_MAX, not before,
         * and only its last record may take it past SEGMENT_MAX */
        if (k + 1 < n)
            CHECK(len >= SEGMENT_MAX);
        if (nr)
            CHECK(offs[nr - 1] < SEGMENT_MAX);
        free(b);
    }
    CHECK(reopen_same(dir, &m));
    rmtree_free(dir);
}

TEST(test_truncate_across_segments)
{
    static struct model m;
    memset(&m, 0, sizeof(m));
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    for (raft_index i = 1; i <= 21; i += 7)
        put_lens(s, &m, i, 7, 1, BIG);
    CHECK(sync_ok(s));
    shut(s, &l);
    uint64_t firsts[64];
    size_t n = list_segs(dir, firsts, 64);
    CHECK(n >= 5);
    CHECK_EQ_U(verify_dir(dir), 21);
    if (n < 5) {
        rmtree_free(dir);
        return;
    }

    /* into the middle of the third segment: later segments go away */
    s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    raft_index at = firsts[2] + 2;
    CHECK(at < firsts[3]);
    put_lens(s, &m, at, 1, 2, 10);
    CHECK(sync_ok(s));
    shut(s, &l);
    CHECK_EQ_U(m.n, at);
    uint64_t now[64];
    CHECK_EQ_U(list_segs(dir, now, 64), 3);
    CHECK_EQ_U(verify_dir(dir), at);
    CHECK(reopen_same(dir, &m));

    /* exactly at a segment's first index, then growing again in one
     * batch over several new segments, without a reopen in between */
    s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    put_lens(s, &m, firsts[1], 2, 3, 5);
    put_lens(s, &m, firsts[1] + 1, 12, 4, BIG);
    CHECK(sync_ok(s));
    shut(s, &l);
    CHECK_EQ_U(m.n, firsts[1] + 12);
    CHECK_EQ_U(verify_dir(dir), m.n);
    CHECK(reopen_same(dir, &m));
    CHECK(list_segs(dir, now, 64) >= 3);

    /* everything, from index 1 */
    s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    put_lens(s, &m, 1, 2, 5, 3);
    CHECK(sync_ok(s));
    shut(s, &l);
    CHECK_EQ_U(list_segs(dir, now, 64), 1);
    CHECK_EQ_U(verify_dir(dir), 2);
    CHECK(reopen_same(dir, &m));
    rmtree_free(dir);
}

/* A log of n small entries (the last with a 100-byte payload) in dir, or
 * with multi, spread over several segments with a small last one. */
static void build_log(const char *dir, struct model *m, bool multi)
{
    memset(m, 0, sizeof(*m));
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s)
        return;
    if (multi)
        put_lens(s, m, 1, 12, 1, BIG);
    CHECK(put(s, m, m->n + 1, 5, 2, NULL) == 0);
    uint32_t hundred = 100;
    CHECK(put(s, m, m->n + 1, 1, 3, &hundred) == 0);
    CHECK(sync_ok(s));
    shut(s, &l);
}

/* Name, image and record offsets of the last segment of dir. */
struct last_seg {
    char path[1024];
    char name[32];
    uint8_t *buf;
    size_t len;      /* where its records end */
    size_t file_len; /* its size, with the preallocated zeros */
    uint64_t offs[64];
    size_t n_recs;
};

static void last_seg(const char *dir, struct last_seg *ls)
{
    uint64_t firsts[64];
    size_t n = list_segs(dir, firsts, 64);
    snprintf(ls->name, sizeof(ls->name), "%s", seg_name(n ? firsts[n - 1] : 0));
    snprintf(ls->path, sizeof(ls->path), "%s", path_in(dir, ls->name));
    ls->buf = slurp(ls->path, &ls->file_len);
    ls->len = records_end(ls->buf, ls->file_len);
    ls->n_recs = rec_offsets(ls->buf, ls->len, ls->offs, 64);
}

/* Open dir expecting a repair that names the last segment and leaves
 * entries 1..keep of m; then check the log takes new entries. */
static void expect_repaired(const char *dir, const char *segname,
                            struct model *m, size_t keep)
{
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(l.repaired[0] != 0);
    CHECK(strstr(l.repaired, segname) != NULL);
    CHECK(strstr(l.repaired, dir) != NULL);
    CHECK(same_log(&l, m, keep));
    CHECK_EQ_U(l.hs.term, 0);
    /* the repair is durable and the log usable */
    m->n = keep;
    CHECK(put(s, m, keep + 1, 2, 9, NULL) == 0);
    CHECK(sync_ok(s));
    shut(s, &l);
    CHECK(reopen_same(dir, m));
    CHECK_EQ_U(verify_dir(dir), m->n);
}

/* Zero bytes [from, to) of path in place (blocks that never reached the
 * disk inside the file's preallocated size). */
static void zero_range(const char *path, uint64_t from, uint64_t to)
{
    int fd = open(path, O_WRONLY);
    uint8_t z[512] = {0};
    for (uint64_t at = from; fd >= 0 && at < to;) {
        size_t n = to - at < sizeof(z) ? (size_t)(to - at) : sizeof(z);
        if (pwrite(fd, z, n, (off_t)at) != (ssize_t)n)
            exit(2);
        at += n;
    }
    if (fd < 0)
        exit(2);
    close(fd);
}

/* The last record torn: the file cut inside it (appended without
 * preallocation), or (zeroed) its tail zeros inside preallocated space. */
TEST(test_torn_tail_repaired)
{
    static struct model m;
    for (int multi = 0; multi < 2; multi++)
        for (int cut = 0; cut < 17; cut++) {
            bool zeroed = cut >= 9;
            if (!multi_ok(multi, cut % 9))
                continue;
            char *dir = tmpdir_new();
            build_log(dir, &m, multi);
            struct last_seg ls;
            last_seg(dir, &ls);
            CHECK(ls.n_recs >= 1);
            if (ls.n_recs < 1) {
                free(ls.buf);
                rmtree_free(dir);
                continue;
            }
            uint64_t last = ls.offs[ls.n_recs - 1];
            CHECK_EQ_U(ls.len, last + REC_HEADER + REC_FIXED + 100);
            /* inside the record header, inside the fixed fields, inside
             * the data, one byte short */
            static const uint64_t at[] = {1, 4, 7, 8, 8 + 9, 8 + 17, 8 + 17 + 50,
                                          8 + 17 + 99};
            if (zeroed) {
                /* 4..7 would leave the length and zero the checksum: still
                 * a mismatch; 0..3 (cut 9+0 would zero the whole record) */
                zero_range(ls.path, last + at[cut - 9], ls.len);
                expect_repaired(dir, ls.name, &m, m.n - 1);
                CHECK(verify_dir(dir) >= 0);
            } else if (cut == 8) {
                /* cut at the record boundary: a clean log, no repair */
                if (truncate(ls.path, (off_t)last) < 0)
                    exit(2);
                m.n--;
                CHECK(reopen_same(dir, &m));
            } else {
                if (truncate(ls.path, (off_t)(last + at[cut])) < 0)
                    exit(2);
                expect_repaired(dir, ls.name, &m, m.n - 1);
                /* the torn bytes are gone */
                CHECK(verify_dir(dir) >= 0);
            }
            free(ls.buf);
            rmtree_free(dir);
        }
}

TEST(test_garbled_last_record_repaired)
{
    static struct model m;
    /* a byte of the data, of the index, of the term, of the checksum */
    static const uint64_t at[] = {REC_HEADER + REC_FIXED + 42, REC_HEADER + 3,
                                  REC_HEADER + 8, 5};
    for (int multi = 0; multi < 2; multi++)
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
            if (!multi_ok(multi, (int)i))
                continue;
            char *dir = tmpdir_new();
            build_log(dir, &m, multi);
            struct last_seg ls;
            last_seg(dir, &ls);
            CHECK(ls.n_recs >= 1);
            if (ls.n_recs >= 1) {
                flip(ls.path, ls.offs[ls.n_recs - 1] + at[i]);
                expect_repaired(dir, ls.name, &m, m.n - 1);
            }
            free(ls.buf);
            rmtree_free(dir);
        }
}

/* Zeros after the records are the end of the log, not damage: space
 * preallocated for records, or records written and lost before their sync
 * (nothing relied on them). Opening is silent and appends go after the
 * records, over the zeros. */
TEST(test_zero_tail_is_the_end)
{
    static struct model m;
    static const size_t zeros[] = {100, 3, REC_HEADER, 4096, 0};
    for (size_t i = 0; i < sizeof(zeros) / sizeof(zeros[0]); i++) {
        char *dir = tmpdir_new();
        build_log(dir, &m, false);
        struct last_seg ls;
        last_seg(dir, &ls);
        if (zeros[i]) {
            uint8_t *z = calloc(1, zeros[i]);
            append_bytes(ls.path, z, zeros[i]);
            free(z);
        } else { /* the last record zeroed: lost before its sync */
            zero_range(ls.path, ls.offs[ls.n_recs - 1], ls.len);
            m.n--;
        }
        struct storage_loaded l;
        struct storage *s = open_ok(dir, &l);
        CHECK(s != NULL);
        if (s) {
            CHECK(l.repaired[0] == 0);
            CHECK(same_log(&l, &m, m.n));
            CHECK(put(s, &m, m.n + 1, 3, 5, NULL) == 0);
            CHECK(sync_ok(s));
            shut(s, &l);
            CHECK(reopen_same(dir, &m));
            CHECK_EQ_U(verify_dir(dir), m.n);
        }
        free(ls.buf);
        rmtree_free(dir);
    }
}

/* Appends preallocate: the segment file is longer than its records, and
 * a reopened log appends after its records, not at the end of the file. */
TEST(test_segments_preallocated)
{
    static struct model m;
    char *dir = tmpdir_new();
    build_log(dir, &m, false);
    struct last_seg ls;
    last_seg(dir, &ls);
    CHECK(ls.file_len > ls.len); /* /tmp supports fallocate() */
    CHECK(zeros_only(ls.buf + ls.len, ls.file_len - ls.len));
    for (int round = 0; round < 3; round++) {
        struct storage_loaded l;
        struct storage *s = open_ok(dir, &l);
        CHECK(s != NULL);
        if (!s)
            break;
        CHECK(same_log(&l, &m, m.n));
        CHECK(put(s, &m, m.n + 1, 4, 6 + round, NULL) == 0);
        CHECK(sync_ok(s));
        shut(s, &l);
        CHECK_EQ_U(verify_dir(dir), m.n);
    }
    CHECK(reopen_same(dir, &m));
    free(ls.buf);
    rmtree_free(dir);
}

/* Tails that no interrupted append could have left are not repaired: zeros
 * with anything non-zero after them, and a record length over the maximum
 * (256 MiB). */
TEST(test_non_torn_tail_refused)
{
    static struct model m;
    for (int mode = 0; mode < 2; mode++) {
        char *dir = tmpdir_new();
        build_log(dir, &m, false);
        struct last_seg ls;
        last_seg(dir, &ls);
        uint8_t z[64] = {0};
        if (mode == 0)
            z[63] = 1;
        else
            put_le32(z, (256u << 20) + 1);
        write_after_records(ls.path, z, mode == 0 ? sizeof(z) : REC_HEADER + 4);
        size_t len;
        uint8_t *before = slurp(ls.path, &len);
        CHECK(open_fails(dir));
        CHECK(strstr(err, ls.name) != NULL);
        char num[48];
        snprintf(num, sizeof(num), "offset %zu", ls.len);
        CHECK(strstr(err, num) != NULL);
        CHECK(same_file(ls.path, before, len));
        free(before);
        free(ls.buf);
        rmtree_free(dir);
    }
}

/* Damage to any record but the last must refuse to open, name the file and
 * the offset, and leave the file as it was. */
static void expect_refused(const char *dir, const char *path,
                           const char *segname, uint64_t off)
{
    size_t len;
    uint8_t *before = slurp(path, &len);
    CHECK(open_fails(dir));
    CHECK(strstr(err, segname) != NULL);
    CHECK(strstr(err, dir) != NULL);
    CHECK(strstr(err, "offset") != NULL);
    char num[48];
    snprintf(num, sizeof(num), "offset %llu", (unsigned long long)off);
    CHECK(strstr(err, num) != NULL);
    CHECK(same_file(path, before, len));
    /* and keeps refusing */
    CHECK(open_fails(dir));
    free(before);
}

TEST(test_garbled_middle_record_in_last_segment_refused)
{
    static struct model m;
    /* data, checksum, term, index of a record in the middle, and of the
     * record just before the last */
    static const uint64_t at[] = {REC_HEADER + REC_FIXED + 1, 6, REC_HEADER + 9,
                                  REC_HEADER + 0};
    for (int before_last = 0; before_last < 2; before_last++)
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
            char *dir = tmpdir_new();
            build_log(dir, &m, false);
            struct last_seg ls;
            last_seg(dir, &ls);
            CHECK(ls.n_recs == 6);
            if (ls.n_recs == 6) {
                uint64_t rec = ls.offs[before_last ? 4 : 2];
                flip(ls.path, rec + at[i]);
                expect_refused(dir, ls.path, ls.name, rec);
            }
            free(ls.buf);
            rmtree_free(dir);
        }
}

TEST(test_damaged_non_last_segment_refused)
{
    static struct model m;
    for (int mode = 0; mode < 4; mode++) {
        if (!multi_ok(true, mode / 2)) /* slow build: modes 0 and 1 */
            continue;
        char *dir = tmpdir_new();
        build_log(dir, &m, true);
        uint64_t firsts[64];
        size_t n = list_segs(dir, firsts, 64);
        CHECK(n >= 3);
        if (n < 3) {
            rmtree_free(dir);
            continue;
        }
        /* mode 0: the last record of the first segment garbled (it would
         * be repaired if it were the last segment); 1: a middle record of
         * the second garbled; 2: the first segment cut short mid-record;
         * 3: non-zero bytes after the zeros that follow the first
         * segment's records */
        const char *name = seg_name(firsts[mode == 1 ? 1 : 0]);
        char path[1024];
        snprintf(path, sizeof(path), "%s", path_in(dir, name));
        size_t len;
        uint8_t *b = slurp(path, &len);
        uint64_t offs[64];
        size_t nr = rec_offsets(b, len, offs, 64);
        CHECK(nr >= 3);
        uint64_t rec = 0;
        if (nr >= 3) {
            switch (mode) {
            case 0: rec = offs[nr - 1]; flip(path, rec + REC_HEADER + REC_FIXED + 7); break;
            case 1: rec = offs[1]; flip(path, rec + REC_HEADER + REC_FIXED + 7); break;
            case 2:
                rec = offs[nr - 1];
                if (truncate(path, (off_t)(rec + 20)) < 0)
                    exit(2);
                break;
            default: {
                rec = records_end(b, len);
                uint8_t z[100] = {0};
                z[99] = 7;
                write_after_records(path, z, sizeof(z));
                break;
            }
            }
            expect_refused(dir, path, name, rec);
        }
        free(b);
        rmtree_free(dir);
    }
}

TEST(test_bad_segment_header_refused)
{
    static struct model m;
    for (int mode = 0; mode < 5; mode++) {
        if (!multi_ok(mode >= 3, mode - 3))
            continue;
        char *dir = tmpdir_new();
        build_log(dir, &m, mode >= 3);
        uint64_t firsts[64];
        size_t n = list_segs(dir, firsts, 64);
        const char *name = seg_name(firsts[mode >= 3 ? 1 : 0]);
        char path[1024];
        snprintf(path, sizeof(path), "%s", path_in(dir, name));
        switch (mode) {
        case 0: flip(path, 2); break;  /* magic of the only segment */
        case 1: flip(path, 8); break;  /* its first index */
        case 2: {                      /* short, and not a header's prefix */
            spit(path, "garbage", 7);
            break;
        }
        case 3: flip(path, 7); break;  /* magic of a middle segment */
        default: flip(path, 9); break; /* first index of a middle segment */
        }
        CHECK(mode < 3 ? n == 1 : n >= 3);
        size_t len;
        uint8_t *before = slurp(path, &len);
        CHECK(open_fails(dir));
        CHECK(strstr(err, name) != NULL);
        CHECK(strstr(err, "header") != NULL);
        CHECK(same_file(path, before, len));
        free(before);
        rmtree_free(dir);
    }
}

/* A crash right after a new segment was created can leave it shorter than
 * its header: no entry in it was ever synced, so it is repaired. */
TEST(test_torn_segment_header_repaired)
{
    static struct model m;
    static const size_t cut[] = {0, 5, WAL_HEADER - 1};
    /* zeroed: the file keeps its (preallocated) size, zeros from the cut
     * on: its size reached the disk before its header and records did */
    for (int zeroed = 0; zeroed < 2; zeroed++)
    for (int multi = 0; multi < 2; multi++)
        for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
            if (!multi_ok(multi, (int)i))
                continue;
            char *dir = tmpdir_new();
            build_log(dir, &m, multi);
            struct last_seg ls;
            last_seg(dir, &ls);
            uint64_t first = le64(ls.buf + 8);
            if (zeroed) /* (from 15 on the header would still be whole:
                           * the index's top byte is 0 anyway) */
                zero_range(ls.path, i == 2 ? 8 : cut[i], ls.file_len);
            else if (truncate(ls.path, (off_t)cut[i]) < 0)
                exit(2);
            expect_repaired(dir, ls.name, &m, first - 1);
            free(ls.buf);
            rmtree_free(dir);
        }
}

TEST(test_gap_between_segments_refused)
{
    static struct model m;
    for (size_t which = 1; which <= 2; which++) {
        if (!multi_ok(true, (int)which - 1))
            continue;
        char *dir = tmpdir_new();
        build_log(dir, &m, true);
        if (which == 2) { /* one segment more */
            struct storage_loaded l;
            struct storage *s = open_ok(dir, &l);
            CHECK(s != NULL);
            if (s) {
                put_lens(s, &m, m.n + 1, 6, 4, BIG);
                CHECK(sync_ok(s));
                shut(s, &l);
            }
        }
        uint64_t firsts[64];
        size_t n = list_segs(dir, firsts, 64);
        CHECK(n >= which + 2);
        if (n >= which + 2) {
            unlink(path_in(dir, seg_name(firsts[which])));
            CHECK(open_fails(dir));
            CHECK(strstr(err, seg_name(firsts[which - 1])) != NULL);
            CHECK(strstr(err, "gap") != NULL);
            CHECK(list_segs(dir, firsts, 64) == n - 1); /* nothing removed */
        }
        rmtree_free(dir);
    }
}

/* Without snapshots the log starts at index 1: a lost first segment is
 * corruption too, not a shorter log. */
TEST(test_missing_first_segment_refused)
{
    static struct model m;
    char *dir = tmpdir_new();
    build_log(dir, &m, true);
    uint64_t firsts[64];
    size_t n = list_segs(dir, firsts, 64);
    CHECK(n >= 2);
    if (n >= 2) {
        unlink(path_in(dir, seg_name(firsts[0])));
        CHECK(open_fails(dir));
        CHECK(strstr(err, seg_name(firsts[1])) != NULL);
        CHECK(strstr(err, "missing") != NULL);
        CHECK(list_segs(dir, firsts, 64) == n - 1);
    }
    rmtree_free(dir);
}

/* Records with a valid checksum that do not continue the log. */
TEST(test_inconsistent_records_refused)
{
    static struct model m;
    for (int mode = 0; mode < 3; mode++) {
        char *dir = tmpdir_new();
        build_log(dir, &m, false);
        struct last_seg ls;
        last_seg(dir, &ls);
        uint64_t last = ls.offs[ls.n_recs - 1];
        uint8_t rec[REC_HEADER + REC_FIXED];
        put_le32(rec, REC_FIXED);
        raft_index idx = m.n + 1;
        raft_term term = m.term[m.n - 1];
        if (mode == 0)
            idx = m.n + 2; /* skips an index */
        else if (mode == 1)
            idx = m.n; /* repeats one */
        else
            term--; /* goes back a term */
        put_le64(rec + REC_HEADER, idx);
        put_le64(rec + REC_HEADER + 8, term);
        rec[REC_HEADER + 16] = 0;
        put_le32(rec + 4, crc32c(0, rec + REC_HEADER, REC_FIXED));
        write_after_records(ls.path, rec, sizeof(rec));
        CHECK(open_fails(dir));
        CHECK(strstr(err, ls.name) != NULL);
        CHECK(strstr(err, mode < 2 ? "index" : "term") != NULL);
        char num[48];
        snprintf(num, sizeof(num), "offset %llu",
                 (unsigned long long)(last + REC_HEADER + REC_FIXED + 100));
        CHECK(strstr(err, num) != NULL);
        /* the same record in the right place is accepted */
        if (mode == 2) {
            if (truncate(ls.path, (off_t)ls.len) < 0)
                exit(2);
            put_le64(rec + REC_HEADER + 8, term + 1);
            put_le32(rec + 4, crc32c(0, rec + REC_HEADER, REC_FIXED));
            write_after_records(ls.path, rec, sizeof(rec));
            struct storage_loaded l;
            struct storage *s = open_ok(dir, &l);
            CHECK(s != NULL);
            if (s) {
                CHECK_EQ_U(l.n_entries, m.n + 1);
                CHECK(l.repaired[0] == 0);
                shut(s, &l);
            }
        }
        free(ls.buf);
        rmtree_free(dir);
    }
}

TEST(test_lock_refuses_second_open)
{
    static struct model m;
    char *dir = tmpdir_new();
    build_log(dir, &m, false);
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    CHECK(open_fails(dir));
    CHECK(strstr(err, "in use") != NULL);
    CHECK(strstr(err, dir) != NULL);
    /* the failed attempt neither released the lock nor hurt the owner */
    CHECK(open_fails(dir));
    CHECK(strstr(err, "in use") != NULL);
    CHECK(put(s, &m, m.n + 1, 3, 4, NULL) == 0);
    CHECK(sync_ok(s));
    shut(s, &l);
    /* free again once closed */
    CHECK(reopen_same(dir, &m));
    rmtree_free(dir);
}

/* Bytes the tests would write as a segment's header. */
static void wal_header(uint8_t *h, uint64_t first)
{
    memcpy(h, "RAFTDWL1", 8);
    put_le64(h + 8, first);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void random_bytes(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rnd();
}

/* Random files as the only segment (and sometimes as the metadata) never
 * crash storage_open: it succeeds with a usable, consistent log or fails
 * with a message. Run it under ASan/UBSan. */
TEST(test_random_garbage_never_crashes)
{
    static struct model m;
    int opened = 0, refused = 0;
    for (int iter = 0; iter < 200; iter++) {
        char *dir = tmpdir_new();
        const char *seg = path_in(dir, seg_name(1));
        char segpath[1024];
        snprintf(segpath, sizeof(segpath), "%s", seg);
        int kind = (int)(rnd() % 4);
        size_t size = (size_t)(rnd() % 3000);
        uint8_t *b = malloc(size + WAL_HEADER + 64);
        memset(&m, 0, sizeof(m));
        switch (kind) {
        case 0: /* random bytes */
            random_bytes(b, size);
            spit(segpath, b, size);
            break;
        case 1: /* a valid header, random records */
            wal_header(b, 1);
            random_bytes(b + WAL_HEADER, size);
            /* sometimes a plausible length field */
            if (size >= 4 && rnd() % 2)
                put_le32(b + WAL_HEADER, (uint32_t)(rnd() % (size + 32)));
            spit(segpath, b, size + WAL_HEADER);
            break;
        default: { /* a valid log, mutated */
            struct storage_loaded l;
            struct storage *s = open_ok(dir, &l);
            CHECK(s != NULL);
            if (!s)
                break;
            size_t n = 1 + rnd() % 20;
            for (size_t j = 0; j < n; j++) {
                uint32_t len = (uint32_t)(rnd() % 300);
                CHECK(put(s, &m, j + 1, 1, 1 + j / 4, &len) == 0);
            }
            CHECK(sync_ok(s));
            shut(s, &l);
            size_t len;
            uint8_t *img = slurp(segpath, &len);
            int flips = (int)(rnd() % 4);
            for (int f = 0; f < flips && len; f++)
                img[rnd() % len] ^= (uint8_t)(1 + rnd() % 255);
            if (rnd() % 2 && len)
                len = (size_t)(rnd() % len);
            spit(segpath, img, len);
            if (rnd() % 4 == 0) {
                random_bytes(b, size % 64);
                append_bytes(segpath, b, size % 64);
            }
            free(img);
            if (kind == 3) { /* and random metadata */
                random_bytes(b, 80);
                spit(path_in(dir, "meta1"), b, rnd() % 80);
                random_bytes(b, 80);
                spit(path_in(dir, "meta2"), b, rnd() % 80);
            }
            break;
        }
        }
        free(b);

        struct storage_loaded l;
        struct storage *s = NULL;
        err[0] = 0;
        if (storage_open(&s, dir, &l, err, sizeof(err)) == 0) {
            opened++;
            /* whatever was accepted is a prefix of what was written */
            if (kind >= 2)
                CHECK(same_log(&l, &m, l.n_entries));
            CHECK(l.first_index == 1 || l.n_entries == 0);
            /* and the log takes a new entry and reads back consistently */
            raft_term t = l.n_entries ? l.entries[l.n_entries - 1].term : 1;
            size_t keep = l.n_entries;
            struct raft_entry e = {.term = t, .type = 0, .len = 0, .data = NULL};
            CHECK(storage_append(s, l.first_index + keep, &e, 1, err,
                                 sizeof(err)) == 0);
            CHECK(sync_ok(s));
            shut(s, &l);
            s = open_ok(dir, &l);
            CHECK(s != NULL);
            if (s) {
                CHECK_EQ_U(l.n_entries, keep + 1);
                CHECK(l.repaired[0] == 0);
                shut(s, &l);
            }
        } else {
            refused++;
            CHECK(err[0] != 0);
            CHECK(strstr(err, dir) != NULL);
            CHECK(l.n_entries == 0 && l.entries == NULL);
        }
        rmtree_free(dir);
    }
    /* the generator exercises both outcomes */
    if (getenv("TEST_STORAGE_VERBOSE"))
        printf("random garbage: %d opened, %d refused\n", opened, refused);
    CHECK(opened > 20);
    CHECK(refused > 20);
}

TEST(test_on_disk_layout)
{
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    save_hs(s, 0x0102030405060708ull, 3);
    struct raft_entry e[2] = {
        {.term = 0x1112131415161718ull, .type = 1, .len = 0, .data = NULL},
        {.term = 0x1112131415161718ull, .type = 0, .len = 3,
         .data = (uint8_t *)"abc"},
    };
    CHECK(storage_append(s, 1, e, 2, err, sizeof(err)) == 0);
    CHECK(sync_ok(s));
    shut(s, &l);

    /* metadata: magic, version, term, vote, crc32c of bytes 0..31, zeros */
    size_t n1, n2;
    uint8_t *m1 = slurp(path_in(dir, "meta1"), &n1);
    uint8_t *m2 = slurp(path_in(dir, "meta2"), &n2);
    CHECK(n1 + n2 == META_SIZE);
    uint8_t *m = n1 ? m1 : m2;
    if (n1 + n2 == META_SIZE) {
        CHECK(memcmp(m, "RAFTDMT1", 8) == 0);
        CHECK_EQ_U(le64(m + 8), 1);
        static const uint8_t term[8] = {8, 7, 6, 5, 4, 3, 2, 1};
        CHECK(memcmp(m + 16, term, 8) == 0);
        CHECK_EQ_U(le64(m + 24), 3);
        CHECK_EQ_U(le32(m + 32), crc32c(0, m, 32));
        CHECK_EQ_U(le32(m + 36), 0);
    }
    free(m1);
    free(m2);

    /* segment: header, then length, crc32c, index, term, type, data */
    uint64_t firsts[4];
    CHECK_EQ_U(list_segs(dir, firsts, 4), 1);
    CHECK(fsize(path_in(dir, "wal-00000000000000000001")) >= 0);
    size_t len;
    uint8_t *w = slurp(path_in(dir, "wal-00000000000000000001"), &len);
    size_t end = records_end(w, len);
    CHECK_EQ_U(end, WAL_HEADER + 2 * (REC_HEADER + REC_FIXED) + 3);
    CHECK(zeros_only(w + end, len - end)); /* preallocated */
    if (end == WAL_HEADER + 2 * (REC_HEADER + REC_FIXED) + 3) {
        CHECK(memcmp(w, "RAFTDWL1", 8) == 0);
        CHECK_EQ_U(le64(w + 8), 1);
        uint8_t *r = w + WAL_HEADER;
        CHECK_EQ_U(le32(r), REC_FIXED);
        CHECK_EQ_U(le32(r + 4), crc32c(0, r + REC_HEADER, REC_FIXED));
        CHECK_EQ_U(le64(r + 8), 1);
        static const uint8_t term[8] = {0x18, 0x17, 0x16, 0x15,
                                        0x14, 0x13, 0x12, 0x11};
        CHECK(memcmp(r + 16, term, 8) == 0);
        CHECK_EQ_U(r[24], 1);
        r += REC_HEADER + REC_FIXED;
        CHECK_EQ_U(le32(r), REC_FIXED + 3);
        CHECK_EQ_U(le32(r + 4), crc32c(0, r + REC_HEADER, REC_FIXED + 3));
        CHECK_EQ_U(le64(r + 8), 2);
        CHECK_EQ_U(r[24], 0);
        CHECK(memcmp(r + 25, "abc", 3) == 0);
    }
    free(w);
    rmtree_free(dir);
}

TEST(test_stats_count_syncs)
{
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    struct storage_stats a, b, c;
    storage_stats(s, &a);
    struct raft_entry e = {.term = 1, .type = 0, .len = 5, .data = (uint8_t *)"hello"};
    CHECK(storage_append(s, 1, &e, 1, err, sizeof(err)) == 0);
    save_hs(s, 1, 1);
    CHECK(sync_ok(s));
    storage_stats(s, &b);
    CHECK_EQ_U(b.syncs, a.syncs + 1); /* one group commit */
    CHECK(b.bytes_written >= a.bytes_written + REC_HEADER + REC_FIXED + 5 + META_SIZE);
    CHECK(sync_ok(s)); /* nothing to do */
    storage_stats(s, &c);
    CHECK_EQ_U(c.syncs, b.syncs);
    shut(s, &l);
    rmtree_free(dir);
}

/* ---- snapshots: the snapshot file and a log that starts after it ---- */

/* Write a snapshot file for (index, term) with payload bytes "ab..." */
static bool write_snap(const char *dir, raft_index index, raft_term term,
                       size_t payload_len)
{
    uint8_t *payload = malloc(payload_len + 1);
    for (size_t i = 0; i < payload_len; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    struct snapfile_meta m = {.index = index, .term = term,
                              .length = payload_len};
    size_t len;
    uint8_t *img = snapfile_image(&m, payload, &len);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int rv = snapfile_write(fd, dir, SNAPFILE_NAME, img, len, err, sizeof(err));
    if (rv < 0)
        fprintf(stderr, "  snapfile_write: %s\n", err);
    close(fd);
    free(img);
    free(payload);
    return rv == 0;
}

/* Read the snapshot file both ways, snapfile_read() and snapfile_map()
 * (what a node does at start): same verdict, message, header and bytes. */
static int read_snap(const char *dir, struct snapfile_meta *m)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    uint8_t *img;
    const uint8_t *map;
    size_t len, map_len;
    struct snapfile_meta mm = {0};
    char map_err[sizeof(err)] = "";
    err[0] = 0;
    int rv = snapfile_read(fd, dir, SNAPFILE_NAME, false, &img, &len, m, err,
                           sizeof(err));
    int map_rv = snapfile_map(fd, dir, SNAPFILE_NAME, &map, &map_len, &mm,
                              map_err, sizeof(map_err));
    CHECK_EQ_U((unsigned)(map_rv + 1), (unsigned)(rv + 1));
    if (rv < 0)
        CHECK(strcmp(err, map_err) == 0);
    if (rv == 1 && map_rv == 1) {
        CHECK(mm.index == m->index && mm.term == m->term &&
              mm.length == m->length);
        CHECK(map_len == len && memcmp(map, img, len) == 0);
    }
    snapfile_unmap(map, map_len);
    close(fd);
    free(img);
    return rv;
}

TEST(test_open_removes_unfinished_snapshot_files)
{
    char *dir = tmpdir_new();
    char name[64];
    snprintf(name, sizeof(name), "%s", path_in(dir, SNAPFILE_NAME ".tmp.4242"));
    FILE *f = fopen(name, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("half a snapshot", f);
        fclose(f);
    }
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    CHECK(fsize(name) < 0);
    storage_loaded_free(&l);
    storage_close(s);
    rmtree_free(dir);
}

TEST(test_snapshot_file_round_trip_and_damage)
{
    char *dir = tmpdir_new();
    struct snapfile_meta m;
    CHECK_EQ_U(read_snap(dir, &m), 0); /* none yet */
    CHECK(write_snap(dir, 42, 7, 1000));
    CHECK_EQ_U(read_snap(dir, &m), 1);
    CHECK_EQ_U(m.index, 42);
    CHECK_EQ_U(m.term, 7);
    CHECK_EQ_U(m.length, 1000);
    char tmpname[64];
    snprintf(tmpname, sizeof(tmpname), SNAPFILE_NAME ".tmp.%ld", (long)getpid());
    CHECK(fsize(path_in(dir, tmpname)) < 0); /* renamed away */
    /* a newer one replaces it whole */
    CHECK(write_snap(dir, 50, 8, 10));
    CHECK_EQ_U(read_snap(dir, &m), 1);
    CHECK_EQ_U(m.index, 50);
    const char *path = path_in(dir, SNAPFILE_NAME);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    static const struct {
        long off;        /* byte to flip; -1: truncate by 3; -2: to 20 bytes */
        const char *say; /* in the message */
    } cases[] = {
        {SNAPFILE_HEADER + 5, "checksum"}, /* payload */
        {17, "damaged header"},            /* index */
        {0, "not a raftd snapshot"},       /* magic */
        {-1, "truncated"},
        {-2, "truncated"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        spit(path, orig, len);
        if (cases[i].off >= 0)
            flip(path, (uint64_t)cases[i].off);
        else
            CHECK(truncate(path, cases[i].off == -1 ? (off_t)len - 3 : 20) == 0);
        CHECK_EQ_U((unsigned)(read_snap(dir, &m) + 1), 0); /* -1 */
        CHECK(strstr(err, cases[i].say) != NULL);
        CHECK(strstr(err, path) != NULL);
        CHECK(strstr(err, "move") != NULL); /* says what to do */
        /* and the data directory does not open (storage_open reads the
         * header and the size; the node checks the payload when loading) */
        if (i > 0) {
            CHECK(open_fails(dir));
            CHECK(strstr(err, SNAPFILE_NAME) != NULL);
        }
    }
    free(orig);
    rmtree_free(dir);
}

/* A snapshot header claiming an index or term of 2^53 or more (2^64 - 1:
 * the log could not even continue after it) is refused like a damaged one.
 * Found by fuzzing (tests/fuzz/fuzz_wal.c): storage_open() returned a log
 * starting at index 0. */
TEST(test_snapshot_with_impossible_numbers_refused)
{
    static const struct {
        raft_index index;
        raft_term term;
    } cases[] = {
        {UINT64_MAX, 1}, {UINT64_C(1) << 53, 1}, {5, UINT64_C(1) << 53},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = tmpdir_new();
        struct snapfile_meta m;
        CHECK(write_snap(dir, cases[i].index, cases[i].term, 16));
        CHECK_EQ_U((unsigned)(read_snap(dir, &m) + 1), 0); /* -1 */
        CHECK(strstr(err, "impossible") != NULL);
        CHECK(open_fails(dir));
        CHECK(strstr(err, "impossible") != NULL);
        rmtree_free(dir);
    }
    char *dir = tmpdir_new(); /* just below the limit: fine */
    struct snapfile_meta m;
    CHECK(write_snap(dir, (UINT64_C(1) << 53) - 1, 3, 16));
    CHECK_EQ_U(read_snap(dir, &m), 1);
    rmtree_free(dir);
}

/* The loaded log is entries first..m->n of m. */
static bool same_log_from(const struct storage_loaded *l, const struct model *m,
                          raft_index first)
{
    if (l->first_index != first || l->n_entries != m->n + 1 - first) {
        fprintf(stderr, "  loaded first %llu n %zu, expected first %llu n %zu\n",
                (unsigned long long)l->first_index, l->n_entries,
                (unsigned long long)first, (size_t)(m->n + 1 - first));
        return false;
    }
    for (size_t i = 0; i < l->n_entries; i++) {
        const struct raft_entry *e = &l->entries[i];
        raft_index idx = first + i;
        if (e->term != m->term[idx - 1] || e->len != m->len[idx - 1])
            return false;
        for (uint32_t k = 0; k < e->len; k++)
            if (e->data[k] != dbyte(idx, e->term, k))
                return false;
    }
    return true;
}

TEST(test_compaction_removes_covered_segments)
{
    static struct model m;
    memset(&m, 0, sizeof(m));
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    put_lens(s, &m, 1, 40, 1, 1000); /* about 4 entries per 4 KiB segment */
    put_lens(s, &m, 41, 5, 2, 10);
    CHECK(sync_ok(s));
    uint64_t firsts[64];
    size_t before = list_segs(dir, firsts, 64);
    CHECK(before >= 8);
    raft_index S = 30;
    CHECK(write_snap(dir, S, 1, 10));
    CHECK(storage_compact(s, S, err, sizeof(err)) == 0);
    CHECK(sync_ok(s));
    size_t after = list_segs(dir, firsts, 64);
    CHECK(after < before);
    CHECK(firsts[0] <= S + 1);             /* what follows S is kept */
    CHECK(after < 2 || firsts[1] > S + 1); /* nothing only <= S is */
    struct storage_stats st;
    storage_stats(s, &st);
    CHECK_EQ_U(st.segments, after);
    CHECK_EQ_U(st.first_index, firsts[0]);
    /* it keeps working: append after compaction, reopen from the snapshot */
    put_lens(s, &m, m.n + 1, 3, 2, 10);
    CHECK(sync_ok(s));
    shut(s, &l);
    s = open_ok(dir, &l);
    CHECK(s != NULL);
    CHECK_EQ_U(l.snapshot_index, S);
    CHECK_EQ_U(l.snapshot_term, 1);
    CHECK(same_log_from(&l, &m, S + 1));
    CHECK(l.repaired[0] == 0);
    /* compacting everything keeps the last segment (to append to) */
    CHECK(storage_compact(s, m.n, err, sizeof(err)) == 0);
    CHECK_EQ_U(list_segs(dir, firsts, 64), 1);
    shut(s, &l);
    rmtree_free(dir);
}

/* storage.c keeps the location of only every 256th entry and of each
 * segment's first one (LOC_STRIDE): a truncation reads the record headers
 * from the mark before it. Cut at marks, next to them, at segment starts
 * and in between, in one session and after a reopen, before and after a
 * compaction, and check each time that the files hold exactly the log. */
TEST(test_truncate_between_marks)
{
    static struct model m;
    memset(&m, 0, sizeof(m));
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    CHECK(s != NULL);
    if (!s) {
        rmtree_free(dir);
        return;
    }
    /* small records, in batches of varied sizes: many per segment */
    raft_term term = 1;
    for (raft_index i = 1; i <= 1500;) {
        size_t n = (size_t)(i % 97) + 1;
        CHECK(put(s, &m, i, n, term, NULL) == 0);
        i += n;
    }
    CHECK(sync_ok(s));
    static const raft_index cuts[] = {1400, 1280, 1281, 1279, 1025, 1024,
                                      1023, 777, 513, 512, 300, 257, 256, 2};
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        raft_index at = cuts[c];
        CHECK(at <= m.n);
        term++;
        /* the conflicting suffix goes, new entries follow */
        CHECK(put(s, &m, at, 1 + c % 3, term, NULL) == 0);
        CHECK(put(s, &m, m.n + 1, 300, term, NULL) == 0);
        CHECK(sync_ok(s));
        CHECK_EQ_U(verify_dir(dir), m.n);
        if (c % 4 == 3) { /* the marks are rebuilt when the log is loaded */
            shut(s, &l);
            CHECK(reopen_same(dir, &m));
            s = open_ok(dir, &l);
            CHECK(s != NULL);
            if (!s) {
                rmtree_free(dir);
                return;
            }
            storage_loaded_free(&l);
        }
    }
    /* after a compaction (the marks before the kept segments go) */
    raft_index S = m.n / 2;
    CHECK(write_snap(dir, S, m.term[S - 1], 10));
    CHECK(storage_compact(s, S, err, sizeof(err)) == 0);
    uint64_t firsts[512];
    size_t n = list_segs(dir, firsts, 512);
    CHECK(n >= 2);
    CHECK(firsts[0] > 1);
    raft_index at = S + 40;
    term++;
    CHECK(put(s, &m, at, 2, term, NULL) == 0);
    CHECK(sync_ok(s));
    CHECK_EQ_U(verify_dir(dir), m.n - (firsts[0] - 1));
    /* at the first entry still stored */
    term++;
    CHECK(put(s, &m, firsts[0], 1, term, NULL) == 0);
    CHECK(sync_ok(s));
    CHECK_EQ_U(verify_dir(dir), m.n - (firsts[0] - 1));
    shut(s, &l);
    rmtree_free(dir);
}

/* A crash after a leader's snapshot became durable but before the log it
 * replaces was removed: the log does not continue the snapshot and goes. */
TEST(test_log_not_continuing_snapshot_is_dropped)
{
    static struct model m;
    for (int mode = 0; mode < 3; mode++) {
        memset(&m, 0, sizeof(m));
        char *dir = tmpdir_new();
        struct storage_loaded l;
        struct storage *s = open_ok(dir, &l);
        put_lens(s, &m, 1, 20, 1, 500);
        CHECK(sync_ok(s));
        shut(s, &l);
        /* 0: other term at S; 1: log ends before S; 2: same term: kept */
        raft_index S = mode == 1 ? 30 : 12;
        CHECK(write_snap(dir, S, mode == 2 ? 1 : 5, 10));
        s = open_ok(dir, &l);
        CHECK(s != NULL);
        if (!s)
            continue;
        CHECK_EQ_U(l.first_index, S + 1);
        if (mode == 2) {
            CHECK(same_log_from(&l, &m, S + 1));
            CHECK(l.repaired[0] == 0);
        } else {
            CHECK_EQ_U(l.n_entries, 0);
            CHECK(strstr(l.repaired, "snapshot") != NULL);
            uint64_t firsts[64];
            CHECK_EQ_U(list_segs(dir, firsts, 64), 0);
            /* the log then restarts right after the snapshot */
            m.n = S;
            put_lens(s, &m, S + 1, 3, 6, 10);
            CHECK(sync_ok(s));
            shut(s, &l);
            s = open_ok(dir, &l);
            CHECK(s != NULL);
            CHECK(same_log_from(&l, &m, S + 1));
        }
        shut(s, &l);
        rmtree_free(dir);
    }
}

TEST(test_reset_after_install_and_gap_refused)
{
    static struct model m;
    memset(&m, 0, sizeof(m));
    char *dir = tmpdir_new();
    struct storage_loaded l;
    struct storage *s = open_ok(dir, &l);
    put_lens(s, &m, 1, 10, 1, 1000);
    CHECK(sync_ok(s));
    CHECK(write_snap(dir, 100, 4, 10));
    CHECK(storage_reset(s, 101, err, sizeof(err)) == 0);
    m.n = 100;
    put_lens(s, &m, 101, 2, 4, 10);
    CHECK(sync_ok(s));
    shut(s, &l);
    s = open_ok(dir, &l);
    CHECK(s != NULL);
    CHECK(same_log_from(&l, &m, 101));
    shut(s, &l);
    /* a log that starts after snapshot + 1: entries are missing */
    CHECK(write_snap(dir, 90, 4, 10));
    CHECK(open_fails(dir));
    CHECK(strstr(err, "missing") != NULL);
    CHECK(strstr(err, "90") != NULL);
    rmtree_free(dir);
}

int main(void)
{
    if (SEGMENT_MAX >= (1u << 20))
        printf("note: SEGMENT_MAX is %u: build with -DSEGMENT_MAX=4096 to run "
               "every multi-segment variant, fast\n", (unsigned)SEGMENT_MAX);
    RUN(test_crc32c_instruction_matches_table);
    RUN(test_crc32c_check_values);
    RUN(test_empty_dir_opens_empty);
    RUN(test_hard_state_round_trip);
    RUN(test_commit_hint_round_trip_and_garbled);
    RUN(test_one_meta_garbled_uses_other);
    RUN(test_both_meta_garbled_fails);
    RUN(test_first_meta_save_torn_starts_fresh);
    RUN(test_append_reopen_round_trip);
    RUN(test_truncate_suffix);
    RUN(test_segment_rollover);
    RUN(test_truncate_across_segments);
    RUN(test_torn_tail_repaired);
    RUN(test_garbled_last_record_repaired);
    RUN(test_zero_tail_is_the_end);
    RUN(test_segments_preallocated);
    RUN(test_non_torn_tail_refused);
    RUN(test_garbled_middle_record_in_last_segment_refused);
    RUN(test_damaged_non_last_segment_refused);
    RUN(test_bad_segment_header_refused);
    RUN(test_torn_segment_header_repaired);
    RUN(test_gap_between_segments_refused);
    RUN(test_missing_first_segment_refused);
    RUN(test_inconsistent_records_refused);
    RUN(test_lock_refuses_second_open);
    RUN(test_random_garbage_never_crashes);
    RUN(test_on_disk_layout);
    RUN(test_stats_count_syncs);
    RUN(test_open_removes_unfinished_snapshot_files);
    RUN(test_snapshot_file_round_trip_and_damage);
    RUN(test_snapshot_with_impossible_numbers_refused);
    RUN(test_compaction_removes_covered_segments);
    RUN(test_truncate_between_marks);
    RUN(test_log_not_continuing_snapshot_is_dropped);
    RUN(test_reset_after_install_and_gap_refused);
    return test_summary();
}
