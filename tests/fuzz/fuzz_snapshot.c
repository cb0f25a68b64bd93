/* fuzz_snapshot.c - snapshots: the image's checks (snapfile.c), its
 * payload's parts (snapfile_split) and their decoding: the store
 * (kv_restore), the exactly-once table (dedup_restore) and the members
 * record (memberfile_decode). A leader sends these over the network
 * (InstallSnapshot) and a node reads them from its data directory at start.
 *
 * The first input byte (% 7) picks what the rest is:
 *   0  an image for snapfile_check(), then its payload as below;
 *   1  the same, with both CRC-32C fields set right first;
 *   2  a payload: snapfile_split(), then each part as load_payload() and
 *      check_members() in node_snapshot.c take them;
 *   3  the store's part alone: kv_restore();
 *   4  the table's part alone: dedup_restore();
 *   5  a members record alone: memberfile_decode();
 *   6  a snapshot file: snapfile_read() and snapfile_map() of it from a
 *      scratch directory.
 * Properties: what restores gives back the same bytes from kv_snapshot()/
 * dedup_snapshot() after another restore, reads as valid JSON, and a
 * refused restore leaves the store as it was; a decoded members record
 * encodes and decodes to the same list. Parts are decoded from a copy that
 * ends at an inaccessible page, so that no decoder may read past its part
 * even in libc (a record is not NUL-terminated).
 */
#include "fuzz.h"
#include "fuzz_json.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "dedup.h"
#include "kv.h"
#include "memberfile.h"
#include "snapfile.h"

static char dir[256];
static int dir_fd = -1;

static void remove_dir(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/%s", dir, SNAPFILE_NAME);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/raftd-fuzz-snapshot.%ld", base,
             (long)getpid());
    if (mkdir(dir, 0700) < 0)
        abort();
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        abort();
    atexit(remove_dir);
    return 0;
}

/* ---- the store ---- */

static void check_json(const struct kv_result *res)
{
    bool ok = fuzz_json_valid(res->body, res->len);
    if (!ok)
        fprintf(stderr, "not JSON (%u): %.*s\n", res->status, (int)res->len,
                res->body);
    FUZZ_CHECK(ok);
}

/* A store with a little of everything, to restore over. */
static struct kv *some_store(void)
{
    static const char *const cmds[] = {
        "{\"op\":\"set\",\"key\":\"/a\",\"value\":\"1\"}",
        "{\"op\":\"set\",\"key\":\"/d/e\",\"value\":\"2\"}",
        "{\"op\":\"delete\",\"key\":\"/a\"}",
    };
    struct kv *kv = kv_new();
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        struct kv_result res;
        kv_apply(kv, cmds[i], strlen(cmds[i]), &res);
        kv_result_free(&res);
    }
    return kv;
}

static void check_kv(const uint8_t *data, size_t len)
{
    struct kv *kv = some_store();
    size_t before_len, after_len;
    char *before = kv_snapshot(kv, &before_len);
    const uint8_t *part = fuzz_guarded(data, len);
    if (kv_restore(kv, part, len) < 0) {
        char *after = kv_snapshot(kv, &after_len); /* unchanged */
        FUZZ_CHECK(after_len == before_len &&
                   memcmp(after, before, after_len) == 0);
        free(after);
        free(before);
        kv_free(kv);
        return;
    }
    free(before);
    struct kv_result res;
    kv_get(kv, "/", true, true, &res);
    check_json(&res);
    kv_result_free(&res);
    kv_get(kv, "/", false, false, &res);
    check_json(&res);
    kv_result_free(&res);
    char *snap = kv_snapshot(kv, &before_len);
    struct kv *copy = kv_new();
    FUZZ_CHECK(kv_restore(copy, snap, before_len) == 0);
    char *again = kv_snapshot(copy, &after_len);
    FUZZ_CHECK(after_len == before_len &&
               memcmp(again, snap, after_len) == 0);
    free(snap);
    free(again);
    kv_free(copy);
    kv_free(kv);
}

/* ---- the exactly-once table ---- */

static void check_dedup(const uint8_t *data, size_t len)
{
    struct dedup *d = dedup_new();
    FUZZ_CHECK(d != NULL);
    const uint8_t *part = fuzz_guarded(data, len);
    if (dedup_restore(d, part, len) == 0) {
        size_t n, n2;
        char *snap = dedup_snapshot(d, &n);
        FUZZ_CHECK(snap != NULL);
        struct dedup *copy = dedup_new();
        FUZZ_CHECK(dedup_restore(copy, snap, n) == 0);
        char *again = dedup_snapshot(copy, &n2);
        FUZZ_CHECK(again && n2 == n && memcmp(again, snap, n) == 0);
        FUZZ_CHECK(dedup_count(copy) == dedup_count(d));
        free(snap);
        free(again);
        dedup_free(copy);
    }
    dedup_free(d);
}

/* ---- the members record ---- */

static bool same_list(const struct member_list *a, const struct member_list *b)
{
    if (a->n != b->n || a->cluster_id != b->cluster_id)
        return false;
    for (unsigned i = 0; i < a->n; i++)
        if (a->m[i].id != b->m[i].id || strcmp(a->m[i].url, b->m[i].url))
            return false;
    return true;
}

static void check_members(const uint8_t *data, size_t len)
{
    struct member_list l, again;
    char err[700] = "";
    const char *text = (const char *)fuzz_guarded(data, len);
    if (memberfile_decode(text, len, &l, "the snapshot from node 1", err,
                          sizeof(err)) < 0) {
        FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)));
        return;
    }
    FUZZ_CHECK(l.n >= 1 && l.n <= RAFT_MAX_MEMBERS && l.cluster_id);
    size_t n;
    char *enc = memberfile_encode(&l, &n);
    FUZZ_CHECK(enc != NULL && strlen(enc) == n);
    int rv = memberfile_decode(enc, n, &again, "encoded", err, sizeof(err));
    if (rv < 0)
        fprintf(stderr, "%s\n", err);
    FUZZ_CHECK(rv == 0 && same_list(&l, &again));
    free(enc);
}

/* ---- images and payloads ---- */

/* load_payload() and check_members() of node_snapshot.c. */
static void check_payload(const uint8_t *payload, size_t len)
{
    struct snapfile_parts p;
    if (snapfile_split(payload, len, &p) < 0)
        return;
    FUZZ_CHECK(p.kv_len <= len && p.dedup_len <= len && p.members_len <= len);
    check_kv(p.kv, p.kv_len);
    check_dedup(p.dedup, p.dedup_len);
    if (p.members_len)
        check_members(p.members, p.members_len);
}

static void fix_checksums(uint8_t *img, size_t len)
{
    if (len < SNAPFILE_HEADER)
        return;
    uint64_t plen = fuzz_get_le(img + 32, 8);
    if (plen <= len - SNAPFILE_HEADER)
        fuzz_put_le(img + 40, crc32c(0, img + SNAPFILE_HEADER, plen), 4);
    fuzz_put_le(img + 44, crc32c(0, img, 44), 4);
}

static void check_image(const uint8_t *data, size_t len, bool fix)
{
    uint8_t *img = malloc(len ? len : 1);
    if (!img)
        abort();
    if (len)
        memcpy(img, data, len);
    if (fix)
        fix_checksums(img, len);
    struct snapfile_meta m;
    char err[700] = "";
    if (snapfile_check(img, len, &m, "the snapshot from node 1", err,
                       sizeof(err)) < 0) {
        FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)));
    } else {
        FUZZ_CHECK(m.length == len - SNAPFILE_HEADER && m.index && m.term);
        check_payload(img + SNAPFILE_HEADER, m.length);
    }
    free(img);
}

static void check_file(const uint8_t *data, size_t len)
{
    int fd = openat(dir_fd, SNAPFILE_NAME, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
        abort();
    close(fd);
    for (int header_only = 0; header_only < 2; header_only++) {
        uint8_t *img = NULL;
        size_t n = 0;
        struct snapfile_meta m;
        char err[1200] = "";
        int rv = snapfile_read(dir_fd, dir, SNAPFILE_NAME, header_only, &img,
                               &n, &m, err, sizeof(err));
        FUZZ_CHECK(rv == 1 || rv == -1); /* it exists */
        if (rv < 0) {
            FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)) && !img);
            continue;
        }
        FUZZ_CHECK(m.length == len - SNAPFILE_HEADER);
        FUZZ_CHECK(header_only ? !img : img && n == len &&
                                            memcmp(img, data, n) == 0);
        free(img);
    }
    /* the mapping a node loads at start: the same verdict */
    const uint8_t *map = NULL;
    size_t n = 0;
    struct snapfile_meta m;
    char err[1200] = "";
    int rv = snapfile_map(dir_fd, dir, SNAPFILE_NAME, &map, &n, &m, err,
                          sizeof(err));
    FUZZ_CHECK(rv == 1 || rv == -1);
    if (rv < 0)
        FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)) && !map);
    else
        FUZZ_CHECK(map && n == len && memcmp(map, data, n) == 0);
    snapfile_unmap(map, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 7;
    data++;
    size--;
    switch (mode) {
    case 0:
    case 1:
        check_image(data, size, mode == 1);
        break;
    case 2:
        check_payload(data, size);
        break;
    case 3:
        check_kv(data, size);
        break;
    case 4:
        check_dedup(data, size);
        break;
    case 5:
        check_members(data, size);
        break;
    default:
        check_file(data, size);
        break;
    }
    return 0;
}
