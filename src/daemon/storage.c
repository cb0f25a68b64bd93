/* storage.c - the data directory: metadata files and the segmented
 * write-ahead log (format: doc/storage.md).
 *
 * The hard state alternates between meta1 and meta2 (canonical/raft's
 * docs/disk-format.rst), each a single checksummed block with a version
 * counter, so a torn write leaves the other file intact and no rename is
 * needed. Entries go to append-only segment files wal-<first index>, each
 * record length-prefixed and CRC-32C checksummed like etcd's WAL. On open,
 * a damaged last record is a crash in the middle of a write and is cut off;
 * damage anywhere else is refused with the file and offset.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "storage.h"
#include "errmsg.h"
#include "crc32c.h"
#include "snapfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define META_MAGIC "RAFTDMT1"
#define META_SIZE 40 /* magic 8, version 8, term 8, vote 8, crc 4, pad 4 */
#define WAL_MAGIC "RAFTDWL1"
#define WAL_HEADER 16 /* magic 8, first index 8 */
#define REC_HEADER 8  /* payload length 4, crc 4 */
#define REC_FIXED 17  /* index 8, term 8, type 1 */
#ifndef SEGMENT_MAX /* overridable so tests can exercise rollover cheaply */
#define SEGMENT_MAX (64u << 20)
#endif
#define MAX_RECORD (256u << 20)
/* Segments grow in preallocated steps: an fdatasync after writing inside
 * the file's size need not write its inode too, which on this project's
 * benchmark disk made each sync about a third faster (doc/storage.md). */
#define PREALLOC_STEP (4u << 20)

struct segment {
    raft_index first;
    int fd;
    uint64_t size;  /* end of the records: where the next one goes */
    uint64_t alloc; /* the file's size; zeros from size to alloc */
};

/* Where a record is. Only some records have one (struct storage, marks):
 * an index entry per record cost 16 bytes an entry, which for a 64 MiB
 * segment of small records (~600,000) came to up to 16 MiB of memory, the
 * largest item of a node's heap, for a lookup that only a truncation of
 * the log's suffix needs, and that is rare. */
struct location {
    raft_index index;
    uint32_t seg;
    uint64_t off;
};

/* A mark every LOC_STRIDE entries (and at the first entry of each segment):
 * a truncation reads at most LOC_STRIDE - 1 record headers from the mark
 * before its index. */
#ifndef LOC_STRIDE
#define LOC_STRIDE 256u
#endif

struct storage {
    void (*on_sync)(void *arg, uint64_t usec); /* storage_on_sync */
    void *on_sync_arg;
    char *dir;
    int dir_fd, lock_fd;
    int meta_fd[2];
    int commit_fd;      /* the "commit" hint file, or -1 */
    uint64_t meta_version;
    bool meta_dirty[2], dir_dirty;
    struct segment *segs;
    size_t n_segs;
    bool *seg_dirty;
    /* the location of every entry whose index is a multiple of LOC_STRIDE
     * and of each segment's first entry, in index order */
    struct location *loc;
    size_t n_marks, cap_marks;
    size_t n_loc; /* entries stored: first_index .. first_index + n_loc - 1 */
    raft_index first_index;
    uint64_t segment_max; /* start a new segment beyond this size */
    bool no_prealloc;     /* the filesystem cannot fallocate() */
    struct storage_stats stats;
};

/* ---- little-endian helpers ---- */
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Write at off: the fds of reopened or truncated segments do not have their
 * file position at the end of the data. */
static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int read_file(int fd, uint8_t **buf, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    *len = (size_t)st.st_size;
    *buf = malloc(*len ? *len : 1);
    if (!*buf)
        return -1;
    size_t got = 0;
    while (got < *len) {
        ssize_t n = pread(fd, *buf + got, *len - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(*buf);
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* A segment, read-only, mapped rather than copied: a restart reads every
 * segment whole, up to 64 MiB each, and a copy cost a page fault on every
 * page of the buffer besides the copy itself. Safe while we hold the LOCK:
 * only this process changes the files, and after it truncates a mapped
 * segment (repairs) it no longer reads the mapping. An empty file gives
 * a non-NULL pointer to nothing. */
static const uint8_t empty_segment[1];
static int map_segment(int fd, const uint8_t **buf, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    *len = (size_t)st.st_size;
    if (!*len) {
        *buf = empty_segment;
        return 0;
    }
    void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED)
        return -1;
    *buf = p;
    return 0;
}

static void unmap_segment(const uint8_t *buf, size_t len)
{
    if (buf != empty_segment)
        munmap((void *)buf, len);
}

/* ---- metadata ---- */

static void meta_encode(uint8_t *b, uint64_t version,
                        const struct raft_hard_state *hs)
{
    memset(b, 0, META_SIZE);
    memcpy(b, META_MAGIC, 8);
    put64(b + 8, version);
    put64(b + 16, hs->term);
    put64(b + 24, hs->vote);
    put32(b + 32, crc32c(0, b, 32));
}

/* 1 if valid (fills version, hs), 0 if empty/absent, -1 if damaged. */
static int meta_decode(const uint8_t *b, size_t len, uint64_t *version,
                       struct raft_hard_state *hs)
{
    if (len == 0)
        return 0;
    if (len < META_SIZE || memcmp(b, META_MAGIC, 8) ||
        get32(b + 32) != crc32c(0, b, 32))
        return -1;
    *version = get64(b + 8);
    hs->term = get64(b + 16);
    hs->vote = get64(b + 24);
    return 1;
}

static int meta_load(struct storage *s, struct raft_hard_state *hs, char *err,
                     size_t errlen)
{
    int state[2];
    uint64_t version[2] = {0, 0};
    struct raft_hard_state h[2] = {{0}, {0}};
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "meta2" : "meta1";
        s->meta_fd[i] = openat(s->dir_fd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->meta_fd[i] < 0)
            return errmsg(err, errlen, "%s/%s: cannot open: %s", s->dir, name,
                        strerror(errno));
        uint8_t *buf;
        size_t len;
        if (read_file(s->meta_fd[i], &buf, &len) < 0)
            return errmsg(err, errlen, "%s/%s: cannot read: %s", s->dir, name,
                        strerror(errno));
        state[i] = meta_decode(buf, len, &version[i], &h[i]);
        free(buf);
    }
    if (state[0] < 0 && state[1] < 0)
        return errmsg(err, errlen,
                    "%s/meta1 and meta2 are both damaged: the node's term and "
                    "vote are lost; refusing to start (restore them from a "
                    "backup, or remove the data directory to rejoin as a new, "
                    "empty node)", s->dir);
    int best = -1;
    for (int i = 0; i < 2; i++)
        if (state[i] > 0 && (best < 0 || version[i] > version[best]))
            best = i;
    if (best >= 0) {
        *hs = h[best];
        s->meta_version = version[best];
    }
    s->dir_dirty = true; /* the files may have just been created */
    return 0;
}

int storage_save_hard_state(struct storage *s, const struct raft_hard_state *hs,
                            char *err, size_t errlen)
{
    uint8_t b[META_SIZE];
    s->meta_version++;
    int i = (int)(s->meta_version % 2);
    meta_encode(b, s->meta_version, hs);
    if (pwrite(s->meta_fd[i], b, META_SIZE, 0) != META_SIZE)
        return errmsg(err, errlen, "%s/meta%d: write failed: %s", s->dir, i + 1,
                    strerror(errno));
    s->meta_dirty[i] = true;
    s->stats.bytes_written += META_SIZE;
    return 0;
}

/* ---- the commit hint ----
 * A lower bound of the commit index, so a restarted node can apply its log
 * (and serve plain reads) before it hears from a leader. The node writes
 * at most the last index it knows durable (the sync thread may be behind),
 * never synced itself: a lost or torn write only leaves an older, still
 * true, lower bound (or none); raft_restore also lowers it to the log's
 * end. */

#define COMMIT_MAGIC "RAFTDCM1"
#define COMMIT_SIZE 20 /* magic 8, index 8, crc 4 */

static raft_index commit_load(struct storage *s)
{
    s->commit_fd = openat(s->dir_fd, "commit", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    uint8_t b[COMMIT_SIZE];
    if (s->commit_fd < 0 ||
        pread(s->commit_fd, b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
        memcmp(b, COMMIT_MAGIC, 8) || get32(b + 16) != crc32c(0, b, 16))
        return 0;
    return get64(b + 8);
}

void storage_save_commit(struct storage *s, raft_index commit)
{
    uint8_t b[COMMIT_SIZE];
    if (s->commit_fd < 0)
        return;
    memcpy(b, COMMIT_MAGIC, 8);
    put64(b + 8, commit);
    put32(b + 16, crc32c(0, b, 16));
    if (pwrite(s->commit_fd, b, sizeof(b), 0) == (ssize_t)sizeof(b))
        s->stats.bytes_written += sizeof(b);
}

/* ---- segments ---- */

static int add_segment(struct storage *s, raft_index first, int fd,
                       uint64_t size)
{
    struct segment *p = realloc(s->segs, (s->n_segs + 1) * sizeof(*p));
    if (!p)
        return -1;
    s->segs = p;
    bool *d = realloc(s->seg_dirty, (s->n_segs + 1) * sizeof(*d));
    if (!d)
        return -1;
    s->seg_dirty = d;
    s->segs[s->n_segs] =
        (struct segment){.first = first, .fd = fd, .size = size, .alloc = size};
    s->seg_dirty[s->n_segs] = false;
    s->n_segs++;
    return 0;
}

/* Count the next entry (index first_index + n_loc), stored at off in
 * segment seg, and mark it if it is a multiple of LOC_STRIDE or the first
 * of its segment. */
static int push_loc(struct storage *s, uint32_t seg, uint64_t off)
{
    raft_index index = s->first_index + s->n_loc;
    if (index % LOC_STRIDE == 0 || s->n_marks == 0 ||
        s->loc[s->n_marks - 1].seg != seg) {
        if (s->n_marks == s->cap_marks) {
            size_t cap = s->cap_marks ? s->cap_marks * 2 : 64;
            struct location *p = realloc(s->loc, cap * sizeof(*p));
            if (!p)
                return -1;
            s->loc = p;
            s->cap_marks = cap;
        }
        s->loc[s->n_marks++] =
            (struct location){.index = index, .seg = seg, .off = off};
    }
    s->n_loc++;
    return 0;
}

/* The number of marks before index (the position of the first mark at or
 * after it). */
static size_t marks_before(const struct storage *s, raft_index index)
{
    size_t lo = 0, hi = s->n_marks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->loc[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Where stored entry index (first_index <= index <= last) is: from the
 * last mark at or before it, skip the records in between by their length
 * prefixes (written by this process, so in the page cache or on disk). */
static int find_loc(struct storage *s, raft_index index, struct location *at,
                    char *err, size_t errlen)
{
    size_t m = marks_before(s, index + 1);
    if (m == 0) /* the first stored entry always has a mark */
        return errmsg(err, errlen, "internal error: no mark before log "
                    "index %" PRIu64, index);
    *at = s->loc[m - 1];
    const struct segment *seg = &s->segs[at->seg];
    while (at->index < index) {
        uint8_t h[4];
        ssize_t r = pread(seg->fd, h, sizeof(h), (off_t)at->off);
        if (r != (ssize_t)sizeof(h))
            return errmsg(err, errlen, "%s: cannot read the log to truncate "
                        "it: %s", s->dir, r < 0 ? strerror(errno)
                                                : "file too short");
        uint32_t plen = get32(h);
        if (plen < REC_FIXED || plen > MAX_RECORD ||
            at->off + REC_HEADER + plen > seg->size)
            return errmsg(err, errlen, "internal error: bad record length "
                        "at offset %" PRIu64 " of the log", at->off);
        at->off += REC_HEADER + plen;
        at->index++;
    }
    return 0;
}

static raft_index last_index(const struct storage *s)
{
    return s->first_index + s->n_loc - 1;
}

static int seg_name(char *buf, size_t len, raft_index first)
{
    return snprintf(buf, len, "wal-%020" PRIu64, first);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int append_loaded(struct storage_loaded *l, size_t *cap,
                         const struct raft_entry *e)
{
    if (l->n_entries == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        struct raft_entry *p = realloc(l->entries, c * sizeof(*p));
        if (!p)
            return -1;
        l->entries = p;
        *cap = c;
    }
    l->entries[l->n_entries++] = *e;
    return 0;
}

/* Cut the last segment at off (a torn write) and say so in l->repaired. */
static int repair_tail(struct storage *s, struct segment *seg, uint64_t off,
                       const char *what, struct storage_loaded *l, char *err,
                       size_t errlen)
{
    char name[64];
    seg_name(name, sizeof(name), seg->first);
    if (ftruncate(seg->fd, (off_t)off) < 0 || fdatasync(seg->fd) < 0)
        return errmsg(err, errlen, "%s/%s: cannot truncate torn record: %s",
                    s->dir, name, strerror(errno));
    snprintf(l->repaired, sizeof(l->repaired),
             "%s/%s: %s at offset %" PRIu64
             " (a crash in the middle of a write); truncated the log there",
             s->dir, name, what, off);
    seg->size = seg->alloc = off;
    return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

/* Parse one segment's records into l. last: it is the final segment, where
 * damage in the last record is a torn write rather than corruption. */
static int load_segment(struct storage *s, uint32_t k, bool last,
                        struct storage_loaded *l, size_t *cap, char *err,
                        size_t errlen)
{
    struct segment *seg = &s->segs[k];
    char name[64];
    seg_name(name, sizeof(name), seg->first);
    const uint8_t *buf;
    size_t len;
    if (map_segment(seg->fd, &buf, &len) < 0)
        return errmsg(err, errlen, "%s/%s: cannot read: %s", s->dir, name,
                    strerror(errno));
    int rv = 0;
    if (len < WAL_HEADER || memcmp(buf, WAL_MAGIC, 8) ||
        get64(buf + 8) != seg->first) {
        uint8_t h[WAL_HEADER];
        memcpy(h, WAL_MAGIC, 8);
        put64(h + 8, seg->first);
        size_t same = 0; /* how much of the header is there */
        while (same < WAL_HEADER && same < len && buf[same] == h[same])
            same++;
        if (last && all_zero(buf + same, len - same)) {
            /* Created just before a crash, so none of its records was ever
             * synced: what is there is the start of its header, then
             * nothing or zeros (its preallocated space reached the disk
             * before the header did). Complete the header (a segment holds
             * one even when empty, or later appends would land where it
             * belongs) and drop the rest. */
            unmap_segment(buf, len);
            if (ftruncate(seg->fd, WAL_HEADER) < 0 ||
                pwrite_all(seg->fd, h, WAL_HEADER, 0) < 0 ||
                fdatasync(seg->fd) < 0)
                return errmsg(err, errlen, "%s/%s: cannot repair header: %s",
                            s->dir, name, strerror(errno));
            snprintf(l->repaired, sizeof(l->repaired),
                     "%s/%s: incomplete segment header (a crash right after "
                     "creating it); rewrote the header", s->dir, name);
            seg->size = seg->alloc = WAL_HEADER;
            return 0;
        }
        unmap_segment(buf, len);
        return errmsg(err, errlen,
                    "%s/%s: not a raftd log segment (bad header); refusing to "
                    "start: move the file away if it does not belong here",
                    s->dir, name);
    }
    raft_index expect = seg->first;
    uint64_t off = WAL_HEADER;
    seg->alloc = len;
    while (off < len) {
        /* Zeros from here to the end of the file: the space preallocated
         * for records not written yet (or written and lost before their
         * sync, which is the same: nothing relied on them). */
        if ((len - off < 4 || get32(buf + off) == 0) &&
            all_zero(buf + off, len - off))
            break;
        const char *damage = NULL;
        bool zeroed = false, impossible = false;
        uint32_t plen = 0;
        if (len - off < REC_HEADER) {
            damage = "incomplete record header";
        } else {
            plen = get32(buf + off);
            zeroed = plen == 0;
            impossible = !zeroed && (plen < REC_FIXED || plen > MAX_RECORD);
            if (zeroed)
                damage = "zeroed record";
            else if (impossible)
                damage = "impossible record length";
            else if (len - off - REC_HEADER < plen)
                damage = "record cut short";
            else if (get32(buf + off + 4) != crc32c(0, buf + off + REC_HEADER, plen))
                damage = "checksum mismatch";
        }
        /* where the damaged record ends: only a record that reaches the end
         * of the file can be a torn write */
        uint64_t rec_end = damage && plen >= REC_FIXED && plen <= MAX_RECORD
                               ? off + REC_HEADER + plen
                               : len;
        if (damage) {
            /* Torn only if nothing but zeros (preallocated space) follows
             * the damaged record. */
            if (rec_end > len)
                rec_end = len;
            bool torn = last && !impossible && !zeroed &&
                        all_zero(buf + rec_end, len - rec_end);
            if (torn) {
                rv = repair_tail(s, seg, off, damage, l, err, errlen);
                break;
            }
            rv = errmsg(err, errlen,
                      "%s/%s: %s at offset %" PRIu64
                      ", before the end of the log: the log is corrupt and "
                      "raftd will not serve possibly wrong data. Stop this "
                      "node, move its data directory aside and start it "
                      "empty so the leader re-replicates (safe while the "
                      "other members hold a majority)",
                      s->dir, name, damage, off);
            break;
        }
        const uint8_t *p = buf + off + REC_HEADER;
        struct raft_entry e = {.term = get64(p + 8), .type = p[16],
                               .len = plen - REC_FIXED};
        if (get64(p) != expect) {
            rv = errmsg(err, errlen,
                      "%s/%s: record at offset %" PRIu64 " has index %" PRIu64
                      ", expected %" PRIu64 ": the log is corrupt",
                      s->dir, name, off, get64(p), expect);
            break;
        }
        if (l->n_entries && e.term < l->entries[l->n_entries - 1].term) {
            rv = errmsg(err, errlen,
                      "%s/%s: record at offset %" PRIu64
                      " has a term lower than its predecessor: the log is corrupt",
                      s->dir, name, off);
            break;
        }
        /* Entries the snapshot covers never reach the node
         * (fit_log_to_snapshot drops them, needing only their terms):
         * checked as any other, but their data is not copied, since a
         * restart after a snapshot reads up to a segment of them. */
        if (get64(p) <= l->snapshot_index)
            e.len = 0;
        if (e.len) {
            e.data = malloc(e.len);
            if (!e.data) {
                rv = errmsg(err, errlen, "out of memory loading the log");
                break;
            }
            memcpy(e.data, p + REC_FIXED, e.len);
        }
        if (append_loaded(l, cap, &e) < 0 || push_loc(s, k, off) < 0) {
            free(e.data);
            rv = errmsg(err, errlen, "out of memory loading the log");
            break;
        }
        expect++;
        off += REC_HEADER + plen;
    }
    if (rv == 0)
        seg->size = off; /* the records end here (repaired or not) */
    if (rv == 0 && k + 1 < s->n_segs && s->segs[k + 1].first != expect)
        rv = errmsg(err, errlen,
                  "%s/%s ends at index %" PRIu64 " but the next segment starts "
                  "at %" PRIu64 ": the log has a gap and is corrupt",
                  s->dir, name, expect - 1, s->segs[k + 1].first);
    unmap_segment(buf, len);
    return rv;
}

static int load_segments(struct storage *s, struct storage_loaded *l,
                         char *err, size_t errlen)
{
    DIR *d = fdopendir(dup(s->dir_fd));
    if (!d)
        return errmsg(err, errlen, "%s: cannot list: %s", s->dir, strerror(errno));
    uint64_t *firsts = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        if (!strncmp(de->d_name, SNAPFILE_NAME ".tmp", strlen(SNAPFILE_NAME) + 4)) {
            unlinkat(s->dir_fd, de->d_name, 0); /* a snapshot cut short */
            continue;
        }
        if (strncmp(de->d_name, "wal-", 4))
            continue;
        uint64_t first = strtoull(de->d_name + 4, &end, 10);
        if (*end || strlen(de->d_name) != 24 || first == 0)
            continue;
        uint64_t *p = realloc(firsts, (n + 1) * sizeof(*p));
        if (!p) {
            free(firsts);
            closedir(d);
            return errmsg(err, errlen, "out of memory");
        }
        firsts = p;
        firsts[n++] = first;
    }
    closedir(d);
    if (n)
        qsort(firsts, n, sizeof(*firsts), cmp_u64);
    /* The log starts at index 1, or right after the snapshot (or earlier:
     * segments the snapshot covers may not have been removed yet). A first
     * segment that starts later means segments were lost. */
    if (n && firsts[0] != 1 && firsts[0] > l->snapshot_index + 1) {
        char name[64];
        seg_name(name, sizeof(name), firsts[0]);
        free(firsts);
        if (l->snapshot_index)
            return errmsg(err, errlen,
                        "%s/%s is the first log segment but the snapshot ends "
                        "at index %" PRIu64 ": the segments in between are "
                        "missing and the log is corrupt", s->dir, name,
                        l->snapshot_index);
        return errmsg(err, errlen,
                    "%s/%s is the first log segment but the log starts at "
                    "index 1 (there is no snapshot): the segments before it "
                    "are missing and the log is corrupt", s->dir, name);
    }
    for (size_t i = 0; i < n; i++) {
        char name[64];
        seg_name(name, sizeof(name), firsts[i]);
        int fd = openat(s->dir_fd, name, O_RDWR | O_CLOEXEC);
        if (fd < 0 || add_segment(s, firsts[i], fd, 0) < 0) {
            free(firsts);
            return errmsg(err, errlen, "%s/%s: cannot open: %s", s->dir, name,
                        strerror(errno));
        }
    }
    free(firsts);
    s->first_index = s->n_segs ? s->segs[0].first : 1;
    l->first_index = s->first_index;
    size_t cap = 0;
    for (uint32_t k = 0; k < s->n_segs; k++) {
        if (load_segment(s, k, k + 1 == s->n_segs, l, &cap, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static void free_loaded_prefix(struct storage_loaded *l, size_t k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k; i++)
        free(l->entries[i].data);
    memmove(l->entries, l->entries + k,
            (l->n_entries - k) * sizeof(*l->entries));
    l->n_entries -= k;
    l->first_index += k;
}

static void note_repair(struct storage_loaded *l, const char *msg)
{
    size_t n = strlen(l->repaired);
    snprintf(l->repaired + n, sizeof(l->repaired) - n, "%s%s", n ? "; " : "",
             msg);
}

/* With a snapshot at S, the log handed to the node starts at S + 1. The
 * stored log continues the snapshot if it starts right after it or holds
 * entry S with the snapshot's term (Log Matching); otherwise it is what a
 * crash left while a leader's snapshot replaced a conflicting log (the
 * snapshot is made durable first, then the log removed), and it goes. */
static int fit_log_to_snapshot(struct storage *s, struct storage_loaded *l,
                               char *err, size_t errlen)
{
    raft_index S = l->snapshot_index, first = l->first_index;
    if (!S)
        return 0;
    bool keep;
    if (first == S + 1 || (l->n_entries == 0 && s->n_segs == 0))
        keep = true;
    else if (first + l->n_entries <= S) /* it ends before the snapshot */
        keep = false;
    else
        keep = l->entries[S - first].term == l->snapshot_term;
    if (!keep) {
        free_loaded_prefix(l, l->n_entries);
        l->first_index = S + 1;
        note_repair(l, "the log does not continue the snapshot (a crash "
                       "while installing the leader's snapshot); removed it");
        return storage_reset(s, S + 1, err, errlen);
    }
    if (first <= S && l->n_entries)
        free_loaded_prefix(l, (size_t)(S + 1 - first));
    l->first_index = S + 1;
    return 0;
}

int storage_open(struct storage **out, const char *dir,
                 struct storage_loaded *loaded, char *err, size_t errlen)
{
    memset(loaded, 0, sizeof(*loaded));
    loaded->first_index = 1;
    struct storage *s = calloc(1, sizeof(*s));
    if (!s)
        return errmsg(err, errlen, "out of memory");
    s->dir = strdup(dir);
    s->dir_fd = s->lock_fd = s->meta_fd[0] = s->meta_fd[1] = s->commit_fd = -1;
    s->first_index = 1;
    s->segment_max = SEGMENT_MAX;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        errmsg(err, errlen, "cannot create data directory %s: %s (create it, "
             "or set data_dir in the config to a writable directory)", dir,
             strerror(errno));
        goto error;
    }
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        errmsg(err, errlen, "cannot open data directory %s: %s", dir,
             strerror(errno));
        goto error;
    }
    s->lock_fd = openat(s->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        errmsg(err, errlen, "%s/LOCK: cannot create: %s (is data_dir writable "
             "by the user raftd runs as?)", dir, strerror(errno));
        goto error;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        errmsg(err, errlen, "%s is in use by another raftd process: each node "
             "needs its own data_dir", dir);
        goto error;
    }
    uint8_t *img;
    size_t img_len;
    struct snapfile_meta sm = {0};
    if (meta_load(s, &loaded->hs, err, errlen) < 0 ||
        snapfile_read(s->dir_fd, dir, SNAPFILE_NAME, true, &img, &img_len, &sm,
                      err, errlen) < 0)
        goto error;
    loaded->snapshot_index = sm.index;
    loaded->snapshot_term = sm.term;
    if (load_segments(s, loaded, err, errlen) < 0 ||
        fit_log_to_snapshot(s, loaded, err, errlen) < 0)
        goto error;
    loaded->hs.commit = commit_load(s);
    /* What we read back may be only in the page cache (the process died
     * before its sync ran): make it durable before the core counts on it,
     * acknowledges it or votes with it. */
    for (size_t k = 0; k < s->n_segs; k++)
        s->seg_dirty[k] = true;
    s->meta_dirty[0] = s->meta_fd[0] >= 0;
    s->meta_dirty[1] = s->meta_fd[1] >= 0;
    s->dir_dirty = true;
    if (storage_sync(s, err, errlen) < 0)
        goto error;
    *out = s;
    return 0;
error:
    storage_loaded_free(loaded);
    storage_close(s);
    return -1;
}

void storage_loaded_free(struct storage_loaded *l)
{
    for (size_t i = 0; i < l->n_entries; i++)
        free(l->entries[i].data);
    free(l->entries);
    l->entries = NULL;
    l->n_entries = 0;
}

void storage_close(struct storage *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_segs; i++)
        close(s->segs[i].fd);
    for (int i = 0; i < 2; i++)
        if (s->meta_fd[i] >= 0)
            close(s->meta_fd[i]);
    if (s->commit_fd >= 0)
        close(s->commit_fd);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    free(s->segs);
    free(s->seg_dirty);
    free(s->loc);
    free(s->dir);
    free(s);
}

static int remove_segment_file(struct storage *s, const struct segment *seg,
                               char *err, size_t errlen)
{
    char name[64];
    seg_name(name, sizeof(name), seg->first);
    if (unlinkat(s->dir_fd, name, 0) < 0 && errno != ENOENT)
        return errmsg(err, errlen, "%s/%s: cannot remove: %s", s->dir, name,
                    strerror(errno));
    close(seg->fd);
    s->dir_dirty = true;
    return 0;
}

/* Drop stored entries >= index. */
static int truncate_from(struct storage *s, raft_index index, char *err,
                         size_t errlen)
{
    if (index > last_index(s))
        return 0;
    if (index < s->first_index)
        index = s->first_index;
    struct location at = {.index = 0};
    if (find_loc(s, index, &at, err, errlen) < 0)
        return -1;
    while (s->n_segs > at.seg + 1) {
        if (remove_segment_file(s, &s->segs[s->n_segs - 1], err, errlen) < 0)
            return -1;
        s->n_segs--;
    }
    /* Make the removals and the cut durable before new records are written
     * where the old ones were: otherwise a crash could leave a shortened
     * segment followed by removed ones (a gap), or new records followed by
     * the rest of old ones, and the node would refuse to start. Conflicting
     * suffixes are rare, so the extra syncs cost little. */
    if (s->dir_dirty) {
        if (fsync(s->dir_fd) < 0)
            return errmsg(err, errlen, "%s: fsync of the directory failed: %s",
                        s->dir, strerror(errno));
        s->dir_dirty = false;
    }
    struct segment *seg = &s->segs[at.seg];
    if (ftruncate(seg->fd, (off_t)at.off) < 0 || fdatasync(seg->fd) < 0)
        return errmsg(err, errlen, "%s: cannot truncate log segment: %s", s->dir,
                    strerror(errno));
    seg->size = seg->alloc = at.off;
    s->seg_dirty[at.seg] = true;
    s->n_loc = index - s->first_index;
    s->n_marks = marks_before(s, index);
    return 0;
}

static int open_segment(struct storage *s, raft_index first, char *err,
                        size_t errlen)
{
    char name[64];
    seg_name(name, sizeof(name), first);
    int fd = openat(s->dir_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errmsg(err, errlen, "%s/%s: cannot create: %s", s->dir, name,
                    strerror(errno));
    uint8_t h[WAL_HEADER];
    memcpy(h, WAL_MAGIC, 8);
    put64(h + 8, first);
    if (pwrite_all(fd, h, sizeof(h), 0) < 0 || add_segment(s, first, fd, WAL_HEADER) < 0) {
        close(fd);
        return errmsg(err, errlen, "%s/%s: cannot write: %s", s->dir, name,
                    strerror(errno));
    }
    s->seg_dirty[s->n_segs - 1] = true;
    s->dir_dirty = true;
    if (s->n_loc == 0)
        s->first_index = first;
    return 0;
}

/* Make the segment's file at least end bytes long, a PREALLOC_STEP beyond
 * if it has to grow (zeros, which recovery reads as the end of the
 * records). Best effort: without it appends grow the file. */
static void preallocate(struct storage *s, struct segment *seg, uint64_t end)
{
    if (end <= seg->alloc || s->no_prealloc)
        return;
    uint64_t to = end + PREALLOC_STEP;
    if (to > s->segment_max) /* the segment is full beyond that */
        to = s->segment_max;
    if (to <= end)
        return;
    if (fallocate(seg->fd, 0, (off_t)seg->alloc, (off_t)(to - seg->alloc)) == 0)
        seg->alloc = to;
    else if (errno == EOPNOTSUPP || errno == ENOSYS)
        s->no_prealloc = true;
    /* ENOSPC and the like: the write itself says whether the data fits */
}

int storage_append(struct storage *s, raft_index first,
                   const struct raft_entry *entries, size_t n, char *err,
                   size_t errlen)
{
    if (n == 0)
        return 0;
    if (truncate_from(s, first, err, errlen) < 0)
        return -1;
    if (s->n_loc && first != last_index(s) + 1)
        return errmsg(err, errlen, "internal error: log append at %" PRIu64
                    " leaves a gap after %" PRIu64, first, last_index(s));
    size_t i = 0;
    while (i < n) {
        if (s->n_segs == 0 || s->segs[s->n_segs - 1].size >= s->segment_max) {
            /* Sync the full segment first, so that after a crash a later
             * segment never follows an incomplete one (which would be
             * refused as corruption). Once per SEGMENT_MAX bytes. Even if
             * it is not dirty: its last sync may still be running on the
             * syncer's thread (storage_sync_take clears the flag when it
             * hands the descriptor over, not when the data is on disk). */
            size_t p = s->n_segs - 1;
            if (s->n_segs) {
                struct segment *full = &s->segs[p];
                /* without its preallocated tail (even one a failed
                 * fallocate left behind): only the last segment takes more
                 * room than its records */
                if (ftruncate(full->fd, (off_t)full->size) < 0 ||
                    fdatasync(full->fd) < 0)
                    return errmsg(err, errlen, "%s: fdatasync of the log "
                                "failed: %s", s->dir, strerror(errno));
                full->alloc = full->size;
                s->seg_dirty[p] = false;
            }
            if (open_segment(s, first + i, err, errlen) < 0)
                return -1;
        }
        uint32_t k = (uint32_t)(s->n_segs - 1);
        struct segment *seg = &s->segs[k];
        /* Encode as many records as fit this segment into one buffer. */
        size_t bytes = 0, j = i;
        while (j < n && (j == i || seg->size + bytes < s->segment_max)) {
            bytes += REC_HEADER + REC_FIXED + entries[j].len;
            j++;
        }
        uint8_t *buf = malloc(bytes);
        if (!buf)
            return errmsg(err, errlen, "out of memory writing the log");
        preallocate(s, seg, seg->size + bytes);
        uint8_t *p = buf;
        for (size_t x = i; x < j; x++) {
            const struct raft_entry *e = &entries[x];
            uint32_t plen = REC_FIXED + e->len;
            put32(p, plen);
            put64(p + REC_HEADER, first + x);
            put64(p + REC_HEADER + 8, e->term);
            p[REC_HEADER + 16] = e->type;
            if (e->len)
                memcpy(p + REC_HEADER + REC_FIXED, e->data, e->len);
            put32(p + 4, crc32c(0, p + REC_HEADER, plen));
            if (push_loc(s, k, seg->size + (uint64_t)(p - buf)) < 0) {
                free(buf);
                return errmsg(err, errlen, "out of memory writing the log");
            }
            p += REC_HEADER + plen;
        }
        int rv = pwrite_all(seg->fd, buf, bytes, seg->size);
        free(buf);
        if (rv < 0)
            return errmsg(err, errlen, "%s: writing the log failed: %s (disk "
                        "full?)", s->dir, strerror(errno));
        seg->size += bytes;
        if (seg->alloc < seg->size)
            seg->alloc = seg->size;
        s->seg_dirty[k] = true;
        s->stats.bytes_written += bytes;
        i = j;
    }
    return 0;
}

int storage_sync(struct storage *s, char *err, size_t errlen)
{
    uint64_t t0 = now_us();
    bool synced = false;
    for (size_t k = 0; k < s->n_segs; k++)
        if (s->seg_dirty[k]) {
            if (fdatasync(s->segs[k].fd) < 0)
                return errmsg(err, errlen, "%s: fdatasync of the log failed: %s",
                            s->dir, strerror(errno));
            s->seg_dirty[k] = false;
            synced = true;
        }
    for (int i = 0; i < 2; i++)
        if (s->meta_dirty[i]) {
            if (fdatasync(s->meta_fd[i]) < 0)
                return errmsg(err, errlen, "%s/meta%d: fdatasync failed: %s",
                            s->dir, i + 1, strerror(errno));
            s->meta_dirty[i] = false;
            synced = true;
        }
    if (s->dir_dirty) {
        if (fsync(s->dir_fd) < 0)
            return errmsg(err, errlen, "%s: fsync of the directory failed: %s",
                        s->dir, strerror(errno));
        s->dir_dirty = false;
        synced = true;
    }
    if (synced)
        storage_note_sync(s, now_us() - t0);
    return 0;
}

int storage_sync_take(struct storage *s, int *fds, bool *is_dir, unsigned max,
                      unsigned *n, char *err, size_t errlen)
{
    *n = 0;
    for (size_t k = 0; k < s->n_segs + 3; k++) {
        bool *dirty;
        int fd;
        if (k < s->n_segs)
            dirty = &s->seg_dirty[k], fd = s->segs[k].fd;
        else if (k < s->n_segs + 2)
            dirty = &s->meta_dirty[k - s->n_segs], fd = s->meta_fd[k - s->n_segs];
        else
            dirty = &s->dir_dirty, fd = s->dir_fd;
        if (!*dirty)
            continue;
        bool room = *n < max;
        int d = room ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
        if (d < 0) {
            const char *why = room ? strerror(errno) : "too many files";
            for (unsigned i = 0; i < *n; i++)
                close(fds[i]);
            *n = 0;
            return errmsg(err, errlen, "%s: cannot hand the log to the sync "
                        "thread: %s", s->dir, why);
        }
        fds[*n] = d;
        is_dir[*n] = k == s->n_segs + 2;
        (*n)++;
    }
    /* clear only once every descriptor is taken */
    for (size_t k = 0; k < s->n_segs; k++)
        s->seg_dirty[k] = false;
    s->meta_dirty[0] = s->meta_dirty[1] = s->dir_dirty = false;
    return 0;
}

void storage_on_sync(struct storage *s, void (*fn)(void *arg, uint64_t usec),
                     void *arg)
{
    s->on_sync = fn;
    s->on_sync_arg = arg;
}

void storage_note_sync(struct storage *s, uint64_t usec)
{
    if (s->on_sync)
        s->on_sync(s->on_sync_arg, usec);
    s->stats.syncs++;
    s->stats.sync_us_total += usec;
    if (usec > s->stats.sync_us_max)
        s->stats.sync_us_max = usec;
}

void storage_stats(const struct storage *s, struct storage_stats *st)
{
    *st = s->stats;
    st->segments = s->n_segs;
    st->first_index = s->first_index;
}

void storage_set_segment_max(struct storage *s, uint64_t bytes)
{
    s->segment_max = bytes ? bytes : SEGMENT_MAX;
}

int storage_dir_fd(const struct storage *s)
{
    return s->dir_fd;
}

int storage_lock_fd(const struct storage *s)
{
    return s->lock_fd;
}

int storage_compact(struct storage *s, raft_index upto, char *err,
                    size_t errlen)
{
    size_t drop = 0; /* whole segments at or below upto; never the last */
    while (drop + 1 < s->n_segs && s->segs[drop + 1].first <= upto + 1)
        drop++;
    if (!drop)
        return 0;
    for (size_t k = 0; k < drop; k++)
        if (remove_segment_file(s, &s->segs[k], err, errlen) < 0)
            return -1; /* the ones removed so far are gone: still consistent */
    raft_index new_first = s->segs[drop].first;
    size_t gone = (size_t)(new_first - s->first_index);
    if (gone > s->n_loc)
        gone = s->n_loc;
    memmove(s->segs, s->segs + drop, (s->n_segs - drop) * sizeof(*s->segs));
    memmove(s->seg_dirty, s->seg_dirty + drop,
            (s->n_segs - drop) * sizeof(*s->seg_dirty));
    s->n_segs -= drop;
    size_t marks_gone = marks_before(s, new_first);
    memmove(s->loc, s->loc + marks_gone,
            (s->n_marks - marks_gone) * sizeof(*s->loc));
    s->n_marks -= marks_gone;
    for (size_t i = 0; i < s->n_marks; i++)
        s->loc[i].seg -= (uint32_t)drop;
    s->n_loc -= gone;
    s->first_index = new_first;
    return 0;
}

int storage_reset(struct storage *s, raft_index next, char *err, size_t errlen)
{
    while (s->n_segs) {
        if (remove_segment_file(s, &s->segs[s->n_segs - 1], err, errlen) < 0)
            return -1;
        s->n_segs--;
    }
    s->n_loc = 0;
    s->n_marks = 0;
    s->first_index = next;
    /* durable before any segment is created again, so that a crash cannot
     * bring old segments back next to new ones */
    if (fsync(s->dir_fd) < 0)
        return errmsg(err, errlen, "%s: fsync of the directory failed: %s",
                    s->dir, strerror(errno));
    s->dir_dirty = false;
    return 0;
}
