/* fuzz_wal.c - opening a data directory (storage.c, doc/storage.md): the
 * metadata files, the commit hint, the snapshot file's header and the WAL
 * segments, as a disk (or whoever wrote to it) left them.
 *
 * The input becomes the files of a scratch data directory (on /dev/shm,
 * one directory reused for every input) and storage_open() must succeed or
 * refuse with a message, never crash. What it recovers must be a log as
 * storage.h promises (consecutive, terms never decreasing, after the
 * snapshot), and opening must settle: an entry appended after it and a
 * second open give back the same log plus that entry, with nothing left to
 * repair.
 *
 * The first input byte:
 *   bit 7 clear  the rest is the segment wal-00000000000000000001;
 *   bit 7 set    the rest is a list of files, each [kind u8][length u16
 *                LE][bytes]: kind % 8 is meta1, meta2, commit, snapshot, or
 *                a segment named after the index in its header (4, 7), that
 *                index + 1 (5), or index 1 (6);
 *   bit 6        the harness sets every checksum right first (records,
 *                metadata, commit hint, snapshot header), so that the
 *                fuzzer gets past them to what they protect.
 */
#include "fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "storage.h"

static char dir[256];

static void remove_dir_contents(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    int fd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            unlinkat(fd, de->d_name, 0);
    closedir(d);
}

static void remove_dir(void)
{
    remove_dir_contents();
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/raftd-fuzz-wal.%ld", base, (long)getpid());
    if (mkdir(dir, 0700) < 0)
        abort();
    atexit(remove_dir);
    return 0;
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
        abort();
    close(fd);
}

/* ---- checksums set right (bit 6) ---- */

static void fix_segment(uint8_t *p, size_t n)
{
    size_t off = 16;
    while (off + 8 <= n) {
        uint64_t plen = fuzz_get_le(p + off, 4);
        if (plen == 0 || plen > n - off - 8)
            break;
        fuzz_put_le(p + off + 4, crc32c(0, p + off + 8, plen), 4);
        off += 8 + plen;
    }
}

static void fix_checksums(unsigned kind, uint8_t *p, size_t n)
{
    if (kind <= 1 && n >= 36) /* meta1, meta2 */
        fuzz_put_le(p + 32, crc32c(0, p, 32), 4);
    else if (kind == 2 && n >= 20) /* commit */
        fuzz_put_le(p + 16, crc32c(0, p, 16), 4);
    else if (kind == 3 && n >= 48) /* snapshot */
        fuzz_put_le(p + 44, crc32c(0, p, 44), 4);
    else if (kind >= 4)
        fix_segment(p, n);
}

static void segment_name(unsigned kind, const uint8_t *p, size_t n,
                         char *name, size_t len)
{
    uint64_t first = n >= 16 ? fuzz_get_le(p + 8, 8) : 1;
    if (kind == 5)
        first++;
    if (kind == 6 || first == 0)
        first = 1;
    snprintf(name, len, "wal-%020" PRIu64, first);
}

static void write_input_file(unsigned kind, const uint8_t *p, size_t n,
                             bool fix)
{
    static const char *const names[] = {"meta1", "meta2", "commit",
                                        "snapshot"};
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    if (n)
        memcpy(copy, p, n);
    if (fix)
        fix_checksums(kind, copy, n);
    char name[64];
    if (kind < 4)
        snprintf(name, sizeof(name), "%s", names[kind]);
    else
        segment_name(kind, copy, n, name, sizeof(name));
    write_file(name, copy, n);
    free(copy);
}

static void write_files(const uint8_t *data, size_t size)
{
    bool fix = data[0] & 0x40;
    bool list = data[0] & 0x80;
    data++;
    size--;
    if (!list) {
        write_input_file(6, data, size, fix);
        return;
    }
    while (size >= 3) {
        unsigned kind = data[0] % 8;
        size_t n = (size_t)fuzz_get_le(data + 1, 2);
        if (n > size - 3)
            n = size - 3;
        write_input_file(kind == 7 ? 4 : kind, data + 3, n, fix);
        data += 3 + n;
        size -= 3 + n;
    }
}

/* ---- properties ---- */

static void check_loaded(const struct storage_loaded *l)
{
    FUZZ_CHECK(l->first_index >= 1);
    FUZZ_CHECK(!l->snapshot_index || l->first_index == l->snapshot_index + 1);
    FUZZ_CHECK((l->snapshot_index == 0) == (l->snapshot_term == 0));
    FUZZ_CHECK(l->n_entries == 0 || l->entries != NULL);
    for (size_t i = 0; i < l->n_entries; i++) {
        FUZZ_CHECK(l->entries[i].len == 0 || l->entries[i].data != NULL);
        FUZZ_CHECK(i == 0 || l->entries[i].term >= l->entries[i - 1].term);
    }
    FUZZ_CHECK(strnlen(l->repaired, sizeof(l->repaired)) <
               sizeof(l->repaired));
}

static bool same_entry(const struct raft_entry *a, const struct raft_entry *b)
{
    return a->term == b->term && a->type == b->type && a->len == b->len &&
           (!a->len || memcmp(a->data, b->data, a->len) == 0);
}

static void open_again(const struct storage_loaded *first,
                       const struct raft_entry *added)
{
    struct storage *s;
    struct storage_loaded l;
    char err[1024] = "";
    int rv = storage_open(&s, dir, &l, err, sizeof(err));
    if (rv < 0)
        fprintf(stderr, "open after a successful one: %s\n", err);
    FUZZ_CHECK(rv == 0);
    if (l.repaired[0])
        fprintf(stderr, "repaired again: %s\n", l.repaired);
    FUZZ_CHECK(l.repaired[0] == 0);
    FUZZ_CHECK(l.first_index == first->first_index);
    FUZZ_CHECK(l.snapshot_index == first->snapshot_index &&
               l.snapshot_term == first->snapshot_term);
    FUZZ_CHECK(l.hs.term == first->hs.term && l.hs.vote == first->hs.vote);
    FUZZ_CHECK(l.n_entries == first->n_entries + 1);
    for (size_t i = 0; i < first->n_entries; i++)
        FUZZ_CHECK(same_entry(&l.entries[i], &first->entries[i]));
    FUZZ_CHECK(same_entry(&l.entries[first->n_entries], added));
    storage_loaded_free(&l);
    storage_close(s);
}

/* What the node does next: append after the last entry, sync. */
static void append_one(struct storage *s, const struct storage_loaded *l,
                       struct raft_entry *e)
{
    static uint8_t data[] = "{\"op\":\"set\",\"key\":\"/k\",\"value\":\"v\"}";
    raft_term last = l->n_entries ? l->entries[l->n_entries - 1].term
                                  : l->snapshot_term;
    *e = (struct raft_entry){.term = last ? last : 1,
                             .type = RAFT_ENTRY_NORMAL,
                             .len = sizeof(data) - 1, .data = data};
    char err[1024] = "";
    raft_index next = l->first_index + l->n_entries;
    int rv = storage_append(s, next, e, 1, err, sizeof(err));
    if (rv == 0)
        rv = storage_sync(s, err, sizeof(err));
    if (rv < 0)
        fprintf(stderr, "append at %" PRIu64 ": %s\n", next, err);
    FUZZ_CHECK(rv == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    remove_dir_contents();
    write_files(data, size);
    struct storage *s;
    struct storage_loaded l;
    char err[1024] = "";
    if (storage_open(&s, dir, &l, err, sizeof(err)) < 0) {
        FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)));
        FUZZ_CHECK(l.n_entries == 0 && l.entries == NULL);
        return 0;
    }
    check_loaded(&l);
    storage_set_segment_max(s, 64 << 10); /* preallocate little */
    struct raft_entry added;
    append_one(s, &l, &added);
    storage_close(s);
    open_again(&l, &added);
    storage_loaded_free(&l);
    return 0;
}
