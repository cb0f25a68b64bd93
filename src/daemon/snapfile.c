/* snapfile.c - the snapshot file (see snapfile.h, doc/storage.md). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "snapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"
#include "crc32c.h"

#define SNAP_MAGIC "RAFTDSN1"
#define SNAP_VERSION 1
/* Indexes and terms are below 2^53, as on the wire (rpc.h): the log must
 * be able to go on after the snapshot's index. */
#define SNAP_NUMBER_LIMIT (UINT64_C(1) << 53)

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Fill in the header of an image whose payload is in place. */
static void seal(uint8_t *img, const struct snapfile_meta *m)
{
    const uint8_t *payload = img + SNAPFILE_HEADER;
    memcpy(img, SNAP_MAGIC, 8);
    put_le(img + 8, SNAP_VERSION, 4);
    put_le(img + 12, 0, 4);
    put_le(img + 16, m->index, 8);
    put_le(img + 24, m->term, 8);
    put_le(img + 32, m->length, 8);
    put_le(img + 40, crc32c(0, payload, m->length), 4);
    put_le(img + 44, crc32c(0, img, 44), 4);
}

uint8_t *snapfile_image(const struct snapfile_meta *m, const void *payload,
                        size_t *image_len)
{
    uint8_t *img = malloc(SNAPFILE_HEADER + m->length);
    if (!img)
        return NULL;
    if (m->length)
        memcpy(img + SNAPFILE_HEADER, payload, m->length);
    seal(img, m);
    *image_len = SNAPFILE_HEADER + m->length;
    return img;
}

int snapfile_check_header(const uint8_t *hdr, size_t len,
                          struct snapfile_meta *m, const char *what,
                          char *err, size_t errlen)
{
    if (len < SNAPFILE_HEADER)
        return errmsg(err, errlen, "%s is truncated: %zu bytes, shorter than "
                    "its %d-byte header", what, len, SNAPFILE_HEADER);
    if (memcmp(hdr, SNAP_MAGIC, 8) != 0)
        return errmsg(err, errlen, "%s is not a raftd snapshot (bad magic)", what);
    if (get_le(hdr + 44, 4) != crc32c(0, hdr, 44))
        return errmsg(err, errlen, "%s has a damaged header (checksum mismatch)",
                    what);
    if (get_le(hdr + 8, 4) != SNAP_VERSION)
        return errmsg(err, errlen, "%s has format version %" PRIu64 ", this "
                    "raftd reads version %d", what, get_le(hdr + 8, 4),
                    SNAP_VERSION);
    m->index = get_le(hdr + 16, 8);
    m->term = get_le(hdr + 24, 8);
    m->length = get_le(hdr + 32, 8);
    if (m->index == 0 || m->term == 0 || m->index >= SNAP_NUMBER_LIMIT ||
        m->term >= SNAP_NUMBER_LIMIT)
        return errmsg(err, errlen, "%s claims to cover index %" PRIu64 " of term "
                    "%" PRIu64 ", which is impossible", what, m->index, m->term);
    return 0;
}

int snapfile_check(const uint8_t *img, size_t len, struct snapfile_meta *m,
                   const char *what, char *err, size_t errlen)
{
    if (snapfile_check_header(img, len, m, what, err, errlen) < 0)
        return -1;
    if (len - SNAPFILE_HEADER != m->length)
        return errmsg(err, errlen, "%s is %s: %zu payload bytes, its header says "
                    "%" PRIu64, what,
                    len - SNAPFILE_HEADER < m->length ? "truncated" : "too long",
                    len - SNAPFILE_HEADER, m->length);
    if (get_le(img + 40, 4) != crc32c(0, img + SNAPFILE_HEADER, m->length))
        return errmsg(err, errlen, "%s is corrupt: payload checksum mismatch", what);
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int snapfile_write(int dir_fd, const char *dir, const char *name,
                   const uint8_t *img, size_t len, char *err, size_t errlen)
{
    char tmp[256];
    /* per process: a snapshot child orphaned by a killed raftd and the
     * next raftd's must not write the same file */
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", name, (long)getpid());
    int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errmsg(err, errlen, "%s/%s: cannot create: %s", dir, tmp,
                    strerror(errno));
    if (write_all(fd, img, len) < 0 || fdatasync(fd) < 0) {
        int e = errno;
        close(fd);
        unlinkat(dir_fd, tmp, 0);
        return errmsg(err, errlen, "%s/%s: cannot write: %s (disk full?)", dir,
                    tmp, strerror(e));
    }
    close(fd);
    if (renameat(dir_fd, tmp, dir_fd, name) < 0)
        return errmsg(err, errlen, "%s/%s: cannot rename to %s: %s", dir, tmp,
                    name, strerror(errno));
    if (fsync(dir_fd) < 0)
        return errmsg(err, errlen, "%s: fsync of the directory failed: %s", dir,
                    strerror(errno));
    return 0;
}

static int read_exact(int fd, uint8_t *p, size_t len, size_t *got)
{
    *got = 0;
    while (*got < len) {
        ssize_t r = read(fd, p + *got, len - *got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

static void note_damaged(char *err, size_t errlen, const char *dir)
{
    size_t n = strlen(err);
    snprintf(err + n, errlen - n, "; the log before it is gone, so this node "
             "cannot start from its data directory: move %s aside and start "
             "the node empty, the leader then sends it a fresh snapshot", dir);
}

/* Open dir/name and check its header and size: 1 with *fd open and *m
 * set, 0 if there is no such file, -1 with err set. */
static int open_checked(int dir_fd, const char *dir, const char *name,
                        const char *what, int *fd, struct snapfile_meta *m,
                        char *err, size_t errlen)
{
    *fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (*fd < 0 && errno == ENOENT)
        return 0;
    if (*fd < 0)
        return errmsg(err, errlen, "%s: cannot open: %s", what, strerror(errno));
    struct stat st;
    uint8_t hdr[SNAPFILE_HEADER];
    size_t got;
    if (fstat(*fd, &st) < 0 || read_exact(*fd, hdr, sizeof(hdr), &got) < 0) {
        errmsg(err, errlen, "%s: cannot read: %s", what, strerror(errno));
        goto fail;
    }
    if (snapfile_check_header(hdr, got, m, what, err, errlen) < 0)
        goto damaged;
    if ((uint64_t)st.st_size != SNAPFILE_HEADER + m->length) {
        errmsg(err, errlen, "%s is %s: %jd bytes, its header says %" PRIu64,
             what, (uint64_t)st.st_size < SNAPFILE_HEADER + m->length
                       ? "truncated" : "too long",
             (intmax_t)st.st_size, SNAPFILE_HEADER + m->length);
        goto damaged;
    }
    return 1;
damaged:
    note_damaged(err, errlen, dir);
fail:
    close(*fd);
    *fd = -1;
    return -1;
}

int snapfile_read(int dir_fd, const char *dir, const char *name,
                  bool header_only, uint8_t **img, size_t *len,
                  struct snapfile_meta *m, char *err, size_t errlen)
{
    char what[600];
    snprintf(what, sizeof(what), "snapshot file %s/%s", dir, name);
    *img = NULL;
    *len = 0;
    int fd;
    int rv = open_checked(dir_fd, dir, name, what, &fd, m, err, errlen);
    if (rv <= 0 || header_only)
        goto out;
    rv = -1;
    uint8_t *buf = malloc(SNAPFILE_HEADER + m->length);
    if (!buf) {
        errmsg(err, errlen, "%s: out of memory reading it", what);
        goto out;
    }
    size_t got = 0;
    if (lseek(fd, 0, SEEK_SET) < 0 ||
        read_exact(fd, buf, SNAPFILE_HEADER + m->length, &got) < 0 ||
        got != SNAPFILE_HEADER + m->length) {
        errmsg(err, errlen, "%s: cannot read: %s", what,
             got != SNAPFILE_HEADER + m->length ? "short read" : strerror(errno));
        free(buf);
        goto out;
    }
    if (snapfile_check(buf, SNAPFILE_HEADER + m->length, m, what, err,
                       errlen) < 0) {
        free(buf);
        note_damaged(err, errlen, dir);
        goto out;
    }
    *img = buf;
    *len = SNAPFILE_HEADER + m->length;
    rv = 1;
out:
    if (fd >= 0)
        close(fd);
    return rv;
}

int snapfile_map(int dir_fd, const char *dir, const char *name,
                 const uint8_t **img, size_t *len, struct snapfile_meta *m,
                 char *err, size_t errlen)
{
    char what[600];
    snprintf(what, sizeof(what), "snapshot file %s/%s", dir, name);
    *img = NULL;
    *len = 0;
    int fd;
    int rv = open_checked(dir_fd, dir, name, what, &fd, m, err, errlen);
    if (rv <= 0)
        return rv;
    size_t n = SNAPFILE_HEADER + m->length;
    /* MAP_POPULATE: the whole file is read anyway (checksum, then parse),
     * so map it in one go rather than fault on every page */
    void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return errmsg(err, errlen, "%s: cannot map: %s", what, strerror(errno));
    madvise(p, n, MADV_SEQUENTIAL);
    if (snapfile_check(p, n, m, what, err, errlen) < 0) {
        munmap(p, n);
        note_damaged(err, errlen, dir);
        return -1;
    }
    *img = p;
    *len = n;
    return 1;
}

void snapfile_unmap(const uint8_t *img, size_t len)
{
    if (img)
        munmap((void *)img, len);
}

uint8_t *snapfile_build(raft_index index, raft_term term,
                        const struct snapfile_parts *parts, size_t *image_len)
{
    const void *part[3] = {parts->kv, parts->dedup, parts->members};
    size_t plen[3] = {parts->kv_len, parts->dedup_len, parts->members_len};
    struct snapfile_meta m = {.index = index, .term = term};
    for (int i = 0; i < 3; i++)
        m.length += 8 + plen[i];
    uint8_t *img = malloc(SNAPFILE_HEADER + m.length);
    if (!img)
        return NULL;
    uint8_t *p = img + SNAPFILE_HEADER;
    for (int i = 0; i < 3; i++) {
        put_le(p, plen[i], 8);
        if (plen[i])
            memcpy(p + 8, part[i], plen[i]);
        p += 8 + plen[i];
    }
    seal(img, &m);
    *image_len = SNAPFILE_HEADER + m.length;
    return img;
}

int snapfile_split(const uint8_t *payload, size_t len,
                   struct snapfile_parts *parts)
{
    const uint8_t *part[3] = {NULL, NULL, NULL};
    size_t plen[3] = {0, 0, 0};
    size_t off = 0;
    int i;
    for (i = 0; i < 3 && off < len; i++) {
        if (len - off < 8)
            return -1;
        uint64_t n = get_le(payload + off, 8);
        if (n > len - off - 8)
            return -1;
        part[i] = payload + off + 8;
        plen[i] = (size_t)n;
        off += 8 + (size_t)n;
    }
    if (i < 2 || off != len)  /* the members part is optional (older raftd) */
        return -1;
    *parts = (struct snapfile_parts){part[0], plen[0], part[1], plen[1],
                                     part[2], plen[2]};
    return 0;
}
