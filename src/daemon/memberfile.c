/* memberfile.c - the members record of a data directory (memberfile.h,
 * doc/storage.md "The members record"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "memberfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config.h"
#include "crc32c.h"
#include "endpoint.h"
#include "errmsg.h"
#include "snapfile.h" /* snapfile_write: a whole file, durably */

#define HEADER "raftd members 1\n"
#define COMMENT                                                            \
    "# The members this data directory was bootstrapped with. raftd\n"    \
    "# refuses to start when the members list of its config file\n"       \
    "# differs: see raftd.conf(5), MEMBERS. Written once; do not edit.\n"
#define CRC_PREFIX "crc32c "
/* A record is small: 16 members with the longest URLs fit in 5 KiB. */
#define RECORD_MAX 8192

static int cmp_entry(const void *a, const void *b)
{
    const struct member_entry *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* The first 64 bits of SHA-256 over the member lines: the same on every
 * member bootstrapped from the same list, different for another list. */
static uint64_t cluster_id_of(const struct member_list *l)
{
    char buf[RECORD_MAX];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "raftd cluster v1\n");
    for (unsigned i = 0; i < l->n && n < sizeof(buf); i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "member %" PRIu64
                              " %s\n", l->m[i].id, l->m[i].url);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (n >= sizeof(buf) ||
        !EVP_Digest(buf, n, md, &mdlen, EVP_sha256(), NULL) || mdlen < 8)
        return 0;
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | md[i];
    return id ? id : 1;
}

int member_list_from_config(const struct raftd_config *cfg,
                            struct member_list *l)
{
    memset(l, 0, sizeof(*l));
    for (unsigned i = 0; i < cfg->n_members && i < RAFT_MAX_MEMBERS; i++) {
        const struct raftd_member *m = &cfg->members[i];
        if (strlen(m->url) > MEMBERFILE_URL_MAX)
            return -1;
        l->m[l->n].id = m->id;
        strcpy(l->m[l->n].url, m->url);
        l->n++;
    }
    qsort(l->m, l->n, sizeof(l->m[0]), cmp_entry);
    l->cluster_id = cluster_id_of(l);
    return 0;
}

bool member_list_equal(const struct member_list *a,
                       const struct member_list *b)
{
    if (a->n != b->n || a->cluster_id != b->cluster_id)
        return false;
    for (unsigned i = 0; i < a->n; i++)
        if (a->m[i].id != b->m[i].id || strcmp(a->m[i].url, b->m[i].url))
            return false;
    return true;
}

/* ---- the text ---- */

char *memberfile_encode(const struct member_list *l, size_t *len)
{
    char *buf = malloc(RECORD_MAX);
    if (!buf)
        return NULL;
    size_t n = (size_t)snprintf(buf, RECORD_MAX, "%s%scluster %016" PRIx64
                                "\n", HEADER, COMMENT, l->cluster_id);
    for (unsigned i = 0; i < l->n && n < RECORD_MAX; i++)
        n += (size_t)snprintf(buf + n, RECORD_MAX - n, "member %" PRIu64 " %s\n",
                              l->m[i].id, l->m[i].url);
    if (n < RECORD_MAX)
        n += (size_t)snprintf(buf + n, RECORD_MAX - n, CRC_PREFIX "%08x\n",
                              crc32c(0, buf, n));
    if (n >= RECORD_MAX) { /* cannot happen with RAFT_MAX_MEMBERS */
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* One "member ID URL" line (without its newline) into e. */
static int parse_member(const char *p, size_t len, struct member_entry *e)
{
    char line[MEMBERFILE_URL_MAX + 64];
    if (len >= sizeof(line))
        return -1;
    memcpy(line, p, len);
    line[len] = 0;
    char *end;
    if (strncmp(line, "member ", 7) != 0 || line[7] < '1' || line[7] > '9')
        return -1;
    errno = 0;
    unsigned long long id = strtoull(line + 7, &end, 10);
    if (errno || *end != ' ' || (strncmp(end + 1, "http://", 7) != 0 &&
                                 strncmp(end + 1, "https://", 8) != 0))
        return -1;
    const char *url = end + 1;
    size_t ulen = strlen(url);
    if (ulen > MEMBERFILE_URL_MAX || strpbrk(url, " \t\r"))
        return -1;
    e->id = (raft_id)id;
    memcpy(e->url, url, ulen + 1);
    return 0;
}

/* A "cluster <16 hex digits>" line (without its newline) into *id, which
 * must not be 0. From a NUL-terminated copy: sscanf() reads a string, and
 * a record's text is not one (a snapshot's part, a file in a buffer). */
static int parse_cluster(const char *p, size_t len, uint64_t *id)
{
    char line[32];
    int used = 0;
    uint64_t v = 0;
    if (len != 24)
        return -1;
    memcpy(line, p, len);
    line[len] = 0;
    if (sscanf(line, "cluster %16" SCNx64 "%n", &v, &used) != 1 ||
        used != 24 || !v)
        return -1;
    *id = v;
    return 0;
}

int memberfile_decode(const char *text, size_t len, struct member_list *l,
                      const char *what, char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    if (len < sizeof(HEADER) - 1 || memcmp(text, HEADER, sizeof(HEADER) - 1))
        return errmsg(err, errlen, "%s is not a raftd members record (its "
                      "first line is not \"%.*s\")", what,
                      (int)sizeof(HEADER) - 2, HEADER);
    if (text[len - 1] != '\n')
        return errmsg(err, errlen, "%s is truncated (no final newline)", what);
    /* the checksum line is the last line */
    size_t last = len - 1;
    while (last > 0 && text[last - 1] != '\n')
        last--;
    unsigned crc;
    char tail[32];
    size_t tl = len - last;
    if (tl >= sizeof(tail) || tl < sizeof(CRC_PREFIX) - 1 ||
        memcmp(text + last, CRC_PREFIX, sizeof(CRC_PREFIX) - 1))
        return errmsg(err, errlen, "%s is truncated or damaged: it does not "
                      "end with its checksum line", what);
    memcpy(tail, text + last, tl);
    tail[tl] = 0;
    int used = 0;
    if (sscanf(tail, CRC_PREFIX "%8x\n%n", &crc, &used) != 1 ||
        (size_t)used != tl)
        return errmsg(err, errlen, "%s has a malformed checksum line", what);
    if (crc != crc32c(0, text, last))
        return errmsg(err, errlen, "%s is damaged (checksum mismatch)", what);
    for (size_t p = sizeof(HEADER) - 1; p < last;) {
        const char *nl = memchr(text + p, '\n', last - p);
        size_t ll = (size_t)(nl - (text + p)); /* nl exists: last follows \n */
        if (ll == 0 || text[p] == '#') {
            p += ll + 1;
            continue;
        }
        if (l->n == 0 && !l->cluster_id &&
            parse_cluster(text + p, ll, &l->cluster_id) == 0) {
            p += ll + 1;
            continue;
        }
        struct member_entry e;
        if (l->n == RAFT_MAX_MEMBERS || parse_member(text + p, ll, &e) < 0 ||
            (l->n && e.id <= l->m[l->n - 1].id))
            return errmsg(err, errlen, "%s has a malformed line %.*s", what,
                          (int)(ll < 80 ? ll : 80), text + p);
        l->m[l->n++] = e;
        p += ll + 1;
    }
    if (l->n == 0)
        return errmsg(err, errlen, "%s lists no members", what);
    if (!l->cluster_id) /* a record of the first version had none */
        l->cluster_id = cluster_id_of(l);
    return 0;
}

/* ---- the file ---- */

int memberfile_read(int dir_fd, const char *dir, struct member_list *l,
                    char *err, size_t errlen)
{
    char what[600];
    snprintf(what, sizeof(what), "%s/%s", dir, MEMBERFILE_NAME);
    int fd = dir_fd >= 0 ? openat(dir_fd, MEMBERFILE_NAME, O_RDONLY | O_CLOEXEC)
                         : open(what, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
        return 0;
    if (fd < 0) {
        int e = errno;
        errmsg(err, errlen, "%s: cannot open: %s", what, strerror(e));
        errno = e;
        return -1;
    }
    char buf[RECORD_MAX];
    size_t len = 0;
    ssize_t r = 0;
    while (len < sizeof(buf) &&
           ((r = read(fd, buf + len, sizeof(buf) - len)) > 0 ||
            (r < 0 && errno == EINTR)))
        len += r > 0 ? (size_t)r : 0;
    int e = errno;
    close(fd);
    if (r < 0)
        return errmsg(err, errlen, "%s: cannot read: %s", what, strerror(e));
    if (len == sizeof(buf))
        return errmsg(err, errlen, "%s is larger than a members record can "
                      "be (%d bytes): it is not one", what, RECORD_MAX);
    if (memberfile_decode(buf, len, l, what, err, errlen) < 0) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, ". It holds the members list %s was "
                 "bootstrapped with. If the members list of the config file "
                 "is the one the cluster was created with, remove %s and "
                 "start the node again: it records that list anew", dir, what);
        return -1;
    }
    return 1;
}

int memberfile_write(int dir_fd, const char *dir, const struct member_list *l,
                     char *err, size_t errlen)
{
    size_t len;
    char *text = memberfile_encode(l, &len);
    if (!text)
        return errmsg(err, errlen, "%s/%s: out of memory", dir, MEMBERFILE_NAME);
    int rv = snapfile_write(dir_fd, dir, MEMBERFILE_NAME, (const uint8_t *)text,
                            len, err, errlen);
    free(text);
    return rv;
}

/* ---- comparing ---- */

__attribute__((format(printf, 4, 5)))
static void add(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    if (*pos >= len)
        return;
    if (*pos) {
        int w = snprintf(buf + *pos, len - *pos, "; ");
        *pos += w > 0 ? (size_t)w : 0;
        if (*pos >= len)
            return;
    }
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    *pos += w > 0 ? (size_t)w : 0;
}

static const struct member_entry *find(const struct member_list *l, raft_id id)
{
    for (unsigned i = 0; i < l->n; i++)
        if (l->m[i].id == id)
            return &l->m[i];
    return NULL;
}


unsigned member_list_diff(const struct member_list *recorded,
                          const struct member_list *file, char *buf,
                          size_t len)
{
    unsigned count = 0;
    size_t pos = 0;
    if (len)
        buf[0] = 0;
    for (unsigned i = 0; i < file->n; i++) {
        const struct member_entry *f = &file->m[i];
        const struct member_entry *r = find(recorded, f->id);
        if (!r) {
            add(buf, len, &pos, "node %" PRIu64 " (%s) was added", f->id, f->url);
            count++;
        } else if (!endpoint_same(r->url, f->url)) {
            add(buf, len, &pos, "node %" PRIu64 "'s url changed from %s to %s",
                f->id, r->url, f->url);
            count++;
        }
    }
    for (unsigned i = 0; i < recorded->n; i++) {
        const struct member_entry *r = &recorded->m[i];
        if (!find(file, r->id)) {
            add(buf, len, &pos, "node %" PRIu64 " (%s) was removed", r->id,
                r->url);
            count++;
        }
    }
    return count;
}

int memberfile_compare(const struct raftd_config *cfg,
                       const struct member_list *rec, char *err, size_t errlen)
{
    struct member_list file;
    if (member_list_from_config(cfg, &file) < 0)
        return errmsg(err, errlen, "%s: a member url is too long", cfg->path);
    char diff[2048];
    if (!member_list_diff(rec, &file, diff, sizeof(diff)))
        return 0;
    const char *path = cfg->path ? cfg->path : "the config file";
    return errmsg(err, errlen,
                  "%s:%d: the members list differs from the one the data "
                  "directory %s was bootstrapped with (recorded in %s/%s): "
                  "%s. Changing the members of a cluster is not supported "
                  "yet, and a list changed on some machines only can elect "
                  "two leaders at once, so this node does not start. Either "
                  "restore in %s the members list the cluster was created "
                  "with (the one %s/%s holds); or, to form a new cluster "
                  "from this list, stop every member, move every member's "
                  "data directory aside (their data is then left behind) and "
                  "start them all with the same list",
                  path, cfg->src.members, cfg->data_dir, cfg->data_dir,
                  MEMBERFILE_NAME, diff, path, cfg->data_dir, MEMBERFILE_NAME);
}

int memberfile_check_config(const struct raftd_config *cfg, char *err,
                            size_t errlen)
{
    struct member_list rec;
    int rv = memberfile_read(-1, cfg->data_dir, &rec, err, errlen);
    if (rv == -1 && errno == EACCES)
        return -2;
    if (rv <= 0)
        return rv;
    return memberfile_compare(cfg, &rec, err, errlen);
}

/* ---- configurations (issue 11: membership through the log) ---- */

int member_list_to_configuration(const struct member_list *l,
                                 struct raft_configuration *c)
{
    memset(c, 0, sizeof(*c));
    for (unsigned i = 0; i < l->n; i++) {
        if (strlen(l->m[i].url) > RAFT_ADDRESS_MAX)
            return -1;
        c->members[c->n].id = l->m[i].id;
        c->members[c->n].role = RAFT_VOTER;
        strcpy(c->members[c->n].address, l->m[i].url);
        c->n++;
    }
    return 0;
}

#define SNAPCONF_MAGIC "RCL1"

size_t snapconf_encode(uint64_t cluster_id, const struct raft_configuration *c,
                       uint8_t *buf)
{
    memcpy(buf, SNAPCONF_MAGIC, 4);
    for (int k = 0; k < 8; k++)
        buf[4 + k] = (uint8_t)(cluster_id >> (8 * k));
    int n = raft_configuration_encode(c, buf + 12);
    return n < 0 ? 0 : 12 + (size_t)n;
}

int snapconf_decode(const void *data, size_t len, uint64_t *cluster_id,
                    struct raft_configuration *c, const char *what,
                    char *err, size_t errlen)
{
    const uint8_t *b = data;
    if (len >= sizeof(HEADER) - 1 && memcmp(b, HEADER, sizeof(HEADER) - 1) == 0) {
        /* a snapshot of the first version: the members record itself */
        struct member_list l;
        if (memberfile_decode(data, len, &l, what, err, errlen) < 0)
            return -1;
        *cluster_id = l.cluster_id;
        if (member_list_to_configuration(&l, c) < 0)
            return errmsg(err, errlen, "%s: a member url is too long", what);
        return 0;
    }
    if (len < 12 || memcmp(b, SNAPCONF_MAGIC, 4) != 0)
        return errmsg(err, errlen, "%s: its configuration part is not one "
                      "(bad magic)", what);
    *cluster_id = 0;
    for (int k = 0; k < 8; k++)
        *cluster_id |= (uint64_t)b[4 + k] << (8 * k);
    if (raft_configuration_decode(b + 12, len - 12, c) < 0 || !*cluster_id)
        return errmsg(err, errlen, "%s: its configuration part is malformed",
                      what);
    return 0;
}
