/* kv.c - the etcd v2 store as a deterministic state machine (see kv.h and
 * doc/kv.md).
 *
 * Layout:
 *  - the tree: every node has a name, a parent and a circular list of
 *    children in creation order; one hash table maps (parent, name) to the
 *    child, so a lookup costs O(1) per path component however large a
 *    directory is. Full keys are not stored; they are rebuilt while
 *    walking. Every traversal is iterative, so any depth is fine.
 *  - JSON out is written by hand in etcd's field order and with Go's
 *    encoding/json escaping (<, >, & as \u003c..., invalid UTF-8 as \ufffd),
 *    so bodies are byte-for-byte what etcd sends.
 *  - commands in are parsed by a small strict JSON parser of our own (no
 *    allocation failure can turn into a "malformed command" on one node only).
 *  - the event history is a ring of the last KV_HISTORY events (their JSON),
 *    and watches sit in a hash table keyed by watched key.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kv.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */

static void oom(void)
{
    fputs("raftd: kv: out of memory\n", stderr);
    abort();
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom();
    return p;
}

static char *xmemdup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ------------------------------------------------------------------------ */
/* Growable byte buffer, always NUL-terminated once used                    */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        oom();
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256; /* a write's command (~150 bytes) at once */
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_add(struct buf *b, const void *s, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_addc(struct buf *b, char c)
{
    buf_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

static void buf_u64(struct buf *b, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%" PRIu64, v);
    buf_add(b, t, (size_t)n);
}

static void buf_truncate(struct buf *b, size_t len)
{
    b->len = len;
    if (b->p)
        b->p[len] = '\0';
}

/* Hand the bytes over to a result (always a valid, NUL-terminated string). */
static char *buf_take(struct buf *b, size_t *len)
{
    if (!b->p) {
        buf_reserve(b, 0);
        b->p[0] = '\0';
    }
    char *p = b->p;
    *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ------------------------------------------------------------------------ */
/* JSON strings                                                             */

static const char hexdig[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s (as Go's utf8.DecodeRune accepts
 * it: no overlongs, no surrogates, <= U+10FFFF), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

bool kv_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0, l; i < n; i += l) {
        l = s[i] < 0x80 ? 1 : utf8_seq(s + i, n - i);
        if (l == 0)
            return false;
    }
    return true;
}

/* A JSON string as Go's encoding/json writes it (what etcd answers). */
static void buf_jstr(struct buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, start = 0;
    buf_reserve(b, n + 2);
    buf_addc(b, '"');
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' &&
                c != '&') {
                i++;
                continue;
            }
            buf_add(b, s + start, i - start);
            buf_addc(b, '\\');
            switch (c) {
            case '"':
            case '\\':
                buf_addc(b, (char)c);
                break;
            case '\n':
                buf_addc(b, 'n');
                break;
            case '\r':
                buf_addc(b, 'r');
                break;
            case '\t':
                buf_addc(b, 't');
                break;
            default:
                buf_adds(b, "u00");
                buf_addc(b, hexdig[c >> 4]);
                buf_addc(b, hexdig[c & 15]);
            }
            start = ++i;
            continue;
        }
        size_t l = utf8_seq(s + i, n - i);
        if (l == 0) {
            buf_add(b, s + start, i - start);
            buf_adds(b, "\\ufffd");
            start = ++i;
            continue;
        }
        if (l == 3 && c == 0xe2 && s[i + 1] == 0x80 &&
            (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) { /* U+2028, U+2029 */
            buf_add(b, s + start, i - start);
            buf_adds(b, "\\u202");
            buf_addc(b, hexdig[s[i + 2] & 15]);
            i += 3;
            start = i;
            continue;
        }
        i += l;
    }
    buf_add(b, s + start, n - start);
    buf_addc(b, '"');
}

/* A JSON string for the command log: only what JSON requires is escaped,
 * other bytes go through untouched, so any C string round-trips exactly. */
static void buf_jstr_raw(struct buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    buf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            buf_addc(b, '\\');
            buf_addc(b, (char)*s);
        } else if (*s < 0x20) {
            buf_adds(b, "\\u00");
            buf_addc(b, hexdig[*s >> 4]);
            buf_addc(b, hexdig[*s & 15]);
        } else
            buf_addc(b, (char)*s);
    }
    buf_addc(b, '"');
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */

/* path.Clean("/" + key): one slash between components, no "." components,
 * ".." removes the component before it (none at the root), no trailing
 * slash. Result is malloc'd. */
static char *path_clean(const char *key, size_t *outlen)
{
    size_t n = strlen(key), len = 1, i = 0;
    char *out = xmalloc(n + 2);
    out[0] = '/';
    while (i < n) {
        while (i < n && key[i] == '/')
            i++;
        size_t s = i;
        while (i < n && key[i] != '/')
            i++;
        size_t cl = i - s;
        if (cl == 0 || (cl == 1 && key[s] == '.'))
            continue;
        if (cl == 2 && key[s] == '.' && key[s + 1] == '.') {
            while (len > 1 && out[len - 1] != '/')
                len--;
            if (len > 1)
                len--;
            continue;
        }
        if (len > 1)
            out[len++] = '/';
        memcpy(out + len, key + s, cl);
        len += cl;
    }
    out[len] = '\0';
    *outlen = len;
    return out;
}

/* etcd's isHidden(watchPath, keyPath): is key hidden from a watcher at w,
 * i.e. does a component of key below w start with '_'? */
static bool is_hidden(size_t wlen, const char *key, size_t klen)
{
    if (wlen > klen)
        return false;
    for (size_t i = wlen; i < klen; i++)
        if (key[i] == '_' && (i == 0 || key[i - 1] == '/'))
            return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Hashing and an open-addressing table of pointers                         */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t fnv_add(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= FNV_PRIME;
    }
    return h;
}

struct hslot {
    uint64_t h;
    void *p; /* NULL: empty */
};

struct htab {
    struct hslot *s;
    size_t cap, n; /* cap: 0 or a power of two */
};

typedef bool (*ht_eq_fn)(const void *elem, const void *key);

static void *ht_find(const struct htab *t, uint64_t h, ht_eq_fn eq,
                     const void *key)
{
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (!t->s[i].p)
            return NULL;
        if (t->s[i].h == h && eq(t->s[i].p, key))
            return t->s[i].p;
    }
}

static void ht_put(struct hslot *s, size_t cap, uint64_t h, void *p)
{
    size_t mask = cap - 1, i = h & mask;
    while (s[i].p)
        i = (i + 1) & mask;
    s[i].h = h;
    s[i].p = p;
}

static void ht_insert(struct htab *t, uint64_t h, void *p)
{
    if ((t->n + 1) * 10 > t->cap * 7) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        if (cap > SIZE_MAX / sizeof(struct hslot) / 2)
            oom();
        struct hslot *s = xcalloc(cap, sizeof *s);
        for (size_t i = 0; i < t->cap; i++)
            if (t->s[i].p)
                ht_put(s, cap, t->s[i].h, t->s[i].p);
        free(t->s);
        t->s = s;
        t->cap = cap;
    }
    ht_put(t->s, t->cap, h, p);
    t->n++;
}

/* Remove p (stored under hash h) with backward-shift deletion. */
static void ht_remove(struct htab *t, uint64_t h, const void *p)
{
    if (!t->cap)
        return;
    size_t mask = t->cap - 1, i = h & mask;
    while (t->s[i].p != p) {
        if (!t->s[i].p)
            return; /* not there */
        i = (i + 1) & mask;
    }
    t->n--;
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (!t->s[j].p)
            break;
        size_t k = t->s[j].h & mask; /* home slot of the entry at j */
        bool movable = (j > i) ? (k <= i || k > j) : (k <= i && k > j);
        if (movable) {
            t->s[i] = t->s[j];
            i = j;
        }
    }
    t->s[i].p = NULL;
    t->s[i].h = 0;
}

/* ------------------------------------------------------------------------ */
/* The store                                                                */

struct node {
    struct node *parent;
    struct node *next, *prev; /* siblings: circular, creation order */
    struct node *kids;        /* first child (dir) */
    size_t nkids;
    char *value;              /* file: NUL-terminated; dir: NULL */
    size_t value_len;
    uint64_t created, modified;
    int64_t expire_ms;        /* Unix ms; 0: permanent */
    size_t heap_pos;          /* in kv->ttl, while expire_ms != 0 */
    bool dir;
    size_t name_len;
    char name[];
};

struct event {
    uint64_t index;
    char *key;
    size_t key_len;
    bool dir_delete; /* a delete whose prevNode is a directory */
    char *body;
    size_t len;
};

/* The watches waiting on one key, in registration order. */
struct wlist {
    struct kv_watch *head, *tail;
    size_t len;
    char key[];
};

enum wstate { W_WAITING, W_FIRING, W_CANCELLED };

struct kv_watch {
    struct wlist *list;           /* while waiting */
    struct kv_watch *prev, *next; /* in list; next: in the firing queue */
    const struct event *ev;       /* while firing */
    uint64_t since;
    kv_watch_fn fn;
    void *arg;
    bool recursive;
    enum wstate state;
};

struct kv {
    struct node *root;
    uint64_t index;
    uint64_t seed;
    struct htab nodes; /* (parent, name) -> node */
    size_t nfiles, ndirs;

    struct event hist[KV_HISTORY];
    size_t hist_start, hist_n;

    struct htab watches; /* key -> struct wlist */
    size_t nwatch;
    struct kv_watch *fire_head, *fire_tail;
    bool in_callbacks;

    struct kv_stats stats; /* kv_get_stats() */

    /* TTLs: the nodes that have one, a min-heap by (expire_ms, created) */
    struct node **ttl;
    size_t ttl_n, ttl_cap;
    int64_t clock_ms;      /* the store's clock: the largest now_ms applied */
    int64_t read_clock_ms; /* kv_set_read_clock() */

    /* kv_apply's working buffers, kept between calls so that applying an
     * entry does not allocate them again (it runs for every entry on every
     * node) */
    struct buf scratch_name, scratch_tmp, scratch_key, scratch_value,
        scratch_prev_value, scratch_event;
};

/* ---- nodes ---- */

struct child_key {
    const struct node *parent;
    const char *name;
    size_t len;
};

static uint64_t child_hash(const struct kv *kv, const struct node *parent,
                           const char *name, size_t len)
{
    uint64_t h = FNV_OFFSET ^ kv->seed ^ mix64((uint64_t)(uintptr_t)parent);
    return mix64(fnv_add(h, name, len));
}

static bool child_eq(const void *elem, const void *key)
{
    const struct node *n = elem;
    const struct child_key *k = key;
    return n->parent == k->parent && n->name_len == k->len &&
           memcmp(n->name, k->name, k->len) == 0;
}

static struct node *child_find(const struct kv *kv, const struct node *dir,
                               const char *name, size_t len)
{
    struct child_key k = {dir, name, len};
    return ht_find(&kv->nodes, child_hash(kv, dir, name, len), child_eq, &k);
}

/* A node, its name and a file's value in one allocation: a restored store
 * makes one allocation per key instead of two (or three), which is most of
 * what loading a large snapshot costs. value NULL: a directory. A value
 * that lives in the node's block is never freed by itself (value_drop). */
static struct node *node_alloc(const char *name, size_t len, const char *value,
                               size_t vlen)
{
    size_t extra = len + 1 + (value ? vlen + 1 : 0);
    if (extra < len || sizeof(struct node) + extra < extra)
        oom();
    struct node *n = xmalloc(sizeof *n + extra);
    memset(n, 0, sizeof *n);
    memcpy(n->name, name, len);
    n->name[len] = 0;
    n->name_len = len;
    if (value) {
        n->value = n->name + len + 1;
        memcpy(n->value, value, vlen);
        n->value[vlen] = 0;
        n->value_len = vlen;
    }
    return n;
}

/* Free v, a value n held, unless it lives in n's own block (node_alloc). */
static void value_drop(const struct node *n, char *v)
{
    if (v != n->name + n->name_len + 1)
        free(v);
}

/* Append n to parent's children (creation order) and count it; the caller
 * puts it into the table. */
static void node_link(struct kv *kv, struct node *parent, struct node *n)
{
    n->parent = parent;
    if (n->dir)
        kv->ndirs++;
    else
        kv->nfiles++;
    struct node *first = parent->kids;
    if (!first) {
        parent->kids = n->next = n->prev = n;
    } else { /* append: before the first, i.e. at the end */
        n->next = first;
        n->prev = first->prev;
        first->prev->next = n;
        first->prev = n;
    }
    parent->nkids++;
}

static struct node *node_add(struct kv *kv, struct node *parent,
                             const char *name, size_t len, bool dir,
                             const char *value, uint64_t idx)
{
    struct node *n = node_alloc(name, len, dir ? NULL : value,
                                dir ? 0 : strlen(value));
    n->dir = dir;
    n->created = n->modified = idx;
    node_link(kv, parent, n);
    ht_insert(&kv->nodes, child_hash(kv, parent, name, len), n);
    return n;
}

/* ---- TTLs ----
 * A min-heap of the nodes with a TTL, ordered by (expiration, createdIndex,
 * depth). That is a total order, so ties expire in the same order on every
 * replica, whether it built its heap entry by entry or from a snapshot
 * (which restores nodes in tree order): nodes that share a createdIndex
 * were made by one command, which creates one path, so they lie on one
 * root-to-leaf chain and differ in depth. The shallower goes first (a
 * directory expires with what is below it, as one event). */

static size_t node_depth(const struct node *n)
{
    size_t d = 0;
    for (; n->parent; n = n->parent)
        d++;
    return d;
}

static bool ttl_before(const struct node *a, const struct node *b)
{
    if (a->expire_ms != b->expire_ms)
        return a->expire_ms < b->expire_ms;
    if (a->created != b->created)
        return a->created < b->created;
    return node_depth(a) < node_depth(b);
}

static void ttl_place(struct kv *kv, size_t i, struct node *n)
{
    kv->ttl[i] = n;
    n->heap_pos = i;
}

static void ttl_sift_up(struct kv *kv, size_t i)
{
    struct node *n = kv->ttl[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ttl_before(n, kv->ttl[parent]))
            break;
        ttl_place(kv, i, kv->ttl[parent]);
        i = parent;
    }
    ttl_place(kv, i, n);
}

static void ttl_sift_down(struct kv *kv, size_t i)
{
    struct node *n = kv->ttl[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= kv->ttl_n)
            break;
        if (c + 1 < kv->ttl_n && ttl_before(kv->ttl[c + 1], kv->ttl[c]))
            c++;
        if (!ttl_before(kv->ttl[c], n))
            break;
        ttl_place(kv, i, kv->ttl[c]);
        i = c;
    }
    ttl_place(kv, i, n);
}

/* Make n permanent: out of the heap. */
static void ttl_unlink(struct kv *kv, struct node *n)
{
    size_t i = n->heap_pos;
    assert(n->expire_ms && i < kv->ttl_n && kv->ttl[i] == n);
    struct node *last = kv->ttl[--kv->ttl_n];
    n->expire_ms = 0;
    if (last != n) {
        ttl_place(kv, i, last);
        ttl_sift_up(kv, i);
        ttl_sift_down(kv, last->heap_pos);
    }
}

/* Give n the expiration exp (Unix ms; 0: permanent). Its createdIndex must
 * not change while it is in the heap (it orders ties). */
static void node_set_expire(struct kv *kv, struct node *n, int64_t exp)
{
    if (n->expire_ms)
        ttl_unlink(kv, n);
    if (!exp)
        return;
    if (kv->ttl_n == kv->ttl_cap) {
        kv->ttl_cap = kv->ttl_cap ? 2 * kv->ttl_cap : 16;
        kv->ttl = xrealloc(kv->ttl, kv->ttl_cap * sizeof *kv->ttl);
    }
    n->expire_ms = exp;
    ttl_place(kv, kv->ttl_n++, n);
    ttl_sift_up(kv, n->heap_pos);
}

/* Unlink a childless node from its parent and the table, and free it. */
static void node_remove(struct kv *kv, struct node *n)
{
    struct node *p = n->parent;
    if (n->expire_ms)
        ttl_unlink(kv, n);
    ht_remove(&kv->nodes, child_hash(kv, p, n->name, n->name_len), n);
    if (n->next == n)
        p->kids = NULL;
    else {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        if (p->kids == n)
            p->kids = n->next;
    }
    p->nkids--;
    if (n->dir)
        kv->ndirs--;
    else
        kv->nfiles--;
    value_drop(n, n->value);
    free(n);
}

/* Free a whole subtree without touching the table (kv_free). Iterative:
 * detach the first child and descend; free a childless node and go up. */
static void tree_free(struct node *top)
{
    struct node *n = top;
    for (;;) {
        while (n->kids) {
            struct node *k = n->kids;
            if (k->next == k)
                n->kids = NULL;
            else {
                k->prev->next = k->next;
                k->next->prev = k->prev;
                n->kids = k->next;
            }
            n = k;
        }
        struct node *p = n->parent;
        bool last = n == top;
        value_drop(n, n->value);
        free(n);
        if (last)
            return;
        n = p;
    }
}

/* Walk a normalized path (etcd's internalGet / walk). */
enum walk_status { WALK_FOUND, WALK_MISSING, WALK_NOTDIR };

struct walk {
    enum walk_status st;
    struct node *n; /* FOUND: the node; MISSING: deepest existing directory;
                       NOTDIR: the file in the way */
    size_t at;      /* MISSING: start of the first missing component;
                       NOTDIR: length of the file's key */
    size_t end;     /* MISSING: end of the first missing component */
};

static void walk(const struct kv *kv, const char *p, size_t len,
                 struct walk *w)
{
    struct node *cur = kv->root;
    size_t pos = 1;
    memset(w, 0, sizeof *w);
    if (len <= 1) {
        w->st = WALK_FOUND;
        w->n = cur;
        return;
    }
    for (;;) {
        size_t e = pos;
        while (e < len && p[e] != '/')
            e++;
        if (!cur->dir) {
            w->st = WALK_NOTDIR;
            w->n = cur;
            w->at = pos - 1;
            return;
        }
        struct node *c = child_find(kv, cur, p + pos, e - pos);
        if (!c) {
            w->st = WALK_MISSING;
            w->n = cur;
            w->at = pos;
            w->end = e;
            return;
        }
        cur = c;
        if (e >= len) {
            w->st = WALK_FOUND;
            w->n = cur;
            return;
        }
        pos = e + 1;
    }
}

/* Create the missing components of p from a MISSING walk: directories, and
 * the last one as asked. Returns the last node. */
static struct node *create_path(struct kv *kv, const char *p, size_t len,
                                const struct walk *w, bool dir,
                                const char *value, uint64_t idx)
{
    struct node *cur = w->n;
    size_t pos = w->at;
    for (;;) {
        size_t e = pos;
        while (e < len && p[e] != '/')
            e++;
        bool last = e >= len;
        cur = node_add(kv, cur, p + pos, e - pos, last ? dir : true,
                       value, idx);
        if (last)
            return cur;
        pos = e + 1;
    }
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

static const struct {
    unsigned code;
    const char *msg;
} ecodes[] = {
    {100, "Key not found"},
    {101, "Compare failed"},
    {102, "Not a file"},
    {103, "Reached the max number of peers in the cluster"},
    {104, "Not a directory"},
    {105, "Key already exists"},
    {106, "The prefix of given key is a keyword in etcd"},
    {107, "Root is read only"},
    {108, "Directory not empty"},
    {109, "Peer address has existed"},
    {110, "The request requires user authentication"},
    {200, "Value is Required in POST form"},
    {201, "PrevValue is Required in POST form"},
    {202, "The given TTL in POST form is not a number"},
    {203, "The given index in POST form is not a number"},
    {204, "Value or TTL is required in POST form"},
    {205, "The given timeout in POST form is not a number"},
    {206, "Name is required in POST form"},
    {207, "Index or value is required"},
    {208, "Index and value cannot both be specified"},
    {209, "Invalid field"},
    {210, "Invalid POST form"},
    {211, "Value provided on refresh"},
    {212, "A TTL must be provided on refresh"},
    {300, "Raft Internal Error"},
    {301, "During Leader Election"},
    {400, "watcher is cleared due to etcd recovery"},
    {401, "The event in requested index is outdated and cleared"},
    {402, "Standby Internal Error"},
    {403, "Invalid active size"},
    {404, "Standby remove delay"},
    {500, "Client Internal Error"},
};

static unsigned ecode_status(unsigned code)
{
    switch (code) {
    case 100:
        return 404;
    case 101:
    case 105:
        return 412;
    case 102:
    case 108:
        return 403;
    case 110:
        return 401;
    case 300:
    case 301:
        return 500;
    default:
        return 400;
    }
}

static void error_n(unsigned code, const char *cause, size_t cause_len,
                    uint64_t index, struct kv_result *res)
{
    const char *msg = "";
    for (size_t i = 0; i < sizeof ecodes / sizeof ecodes[0]; i++)
        if (ecodes[i].code == code)
            msg = ecodes[i].msg;
    struct buf b = {0};
    buf_adds(&b, "{\"errorCode\":");
    buf_u64(&b, code);
    buf_adds(&b, ",\"message\":");
    buf_jstr(&b, msg, strlen(msg));
    if (cause && cause_len) {
        buf_adds(&b, ",\"cause\":");
        buf_jstr(&b, cause, cause_len);
    }
    buf_adds(&b, ",\"index\":");
    buf_u64(&b, index);
    buf_adds(&b, "}\n");
    res->status = ecode_status(code);
    res->error_code = code;
    res->index = index;
    res->body = buf_take(&b, &res->len);
}

void kv_error(unsigned code, const char *cause, uint64_t index,
              struct kv_result *res)
{
    error_n(code, cause, cause ? strlen(cause) : 0, index, res);
}

void kv_result_free(struct kv_result *res)
{
    if (!res)
        return;
    free(res->body);
    memset(res, 0, sizeof *res);
}

/* ------------------------------------------------------------------------ */
/* Node JSON (etcd's NodeExtern field order: key, value, dir, expiration,   */
/* ttl, nodes, modifiedIndex, createdIndex; empty ones omitted)             */

/* Unix ms as Go's time.RFC3339Nano in UTC, which etcd's JSON uses:
 * "2026-12-07T04:05:06.789Z", trailing zeros of the fraction dropped. */
static void buf_time(struct buf *b, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    struct tm tm;
    char t[64];
    if (!gmtime_r(&secs, &tm) ||
        !strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(t, sizeof t, "1970-01-01T00:00:00");
    buf_adds(b, t);
    if (frac) {
        snprintf(t, sizeof t, ".%03d", frac);
        size_t n = strlen(t);
        while (t[n - 1] == '0')
            n--;
        buf_add(b, t, n);
    }
    buf_addc(b, 'Z');
}

/* Whole seconds left, rounded up (etcd's expirationAndTTL); <= 0 once due. */
static int64_t ttl_left(int64_t exp, int64_t now)
{
    int64_t d = exp - now;
    return d / 1000 + (d % 1000 > 0);
}

/* ,"expiration":...,"ttl":N for a node with a TTL (ttl omitted when 0, as
 * Go's omitempty does), counting from now. */
static void emit_expiration(struct buf *b, int64_t exp, int64_t now)
{
    if (!exp)
        return;
    buf_adds(b, ",\"expiration\":\"");
    buf_time(b, exp);
    buf_addc(b, '"');
    int64_t left = ttl_left(exp, now);
    if (left) {
        char t[40];
        snprintf(t, sizeof t, ",\"ttl\":%" PRId64, left);
        buf_adds(b, t);
    }
}

static void emit_node(struct buf *b, const char *key, size_t klen,
                      const char *value, size_t vlen, bool dir, int64_t exp,
                      int64_t now, uint64_t modified, uint64_t created)
{
    buf_adds(b, "{\"key\":");
    buf_jstr(b, key, klen);
    if (value) {
        buf_adds(b, ",\"value\":");
        buf_jstr(b, value, vlen);
    }
    if (dir)
        buf_adds(b, ",\"dir\":true");
    emit_expiration(b, exp, now);
    buf_adds(b, ",\"modifiedIndex\":");
    buf_u64(b, modified);
    buf_adds(b, ",\"createdIndex\":");
    buf_u64(b, created);
    buf_addc(b, '}');
}

/* A node without children (etcd's Repr(false)): key from path. */
static void emit_leaf(struct buf *b, const struct node *n, const char *key,
                      size_t klen, int64_t now)
{
    emit_node(b, key, klen, n->dir ? NULL : n->value, n->value_len, n->dir,
              n->expire_ms, now, n->modified, n->created);
}

static int cmp_name(const void *a, const void *b)
{
    const struct node *x = *(const struct node *const *)a;
    const struct node *y = *(const struct node *const *)b;
    size_t m = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, m);
    if (c)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Children of d shown in listings (not hidden), in order. */
static struct node **visible_kids(const struct node *d, bool sorted,
                                  size_t *count)
{
    size_t n = 0;
    struct node **v = NULL;
    if (d->nkids) {
        v = xmalloc(d->nkids * sizeof *v);
        struct node *k = d->kids;
        do {
            if (k->name[0] != '_')
                v[n++] = k;
            k = k->next;
        } while (k != d->kids);
        if (sorted && n > 1)
            qsort(v, n, sizeof *v, cmp_name);
    }
    *count = n;
    return v;
}

struct frame {
    const struct node *dir;
    struct node **kids;
    size_t n, i;
    size_t plen; /* length of dir's key in the path buffer */
};

static void open_dir(struct buf *b, struct frame *f, const struct node *d,
                     const struct buf *path, bool sorted, int64_t now)
{
    f->dir = d;
    f->i = 0;
    f->plen = path->len;
    f->kids = visible_kids(d, sorted, &f->n);
    buf_addc(b, '{');
    if (d->parent) {
        buf_adds(b, "\"key\":");
        buf_jstr(b, path->p, path->len);
        buf_addc(b, ',');
    }
    buf_adds(b, "\"dir\":true");
    emit_expiration(b, d->expire_ms, now);
    if (f->n)
        buf_adds(b, ",\"nodes\":[");
}

static void close_dir(struct buf *b, struct frame *f)
{
    if (f->n)
        buf_addc(b, ']');
    if (f->dir->parent) { /* the root has no indexes (0, omitted) */
        buf_adds(b, ",\"modifiedIndex\":");
        buf_u64(b, f->dir->modified);
        buf_adds(b, ",\"createdIndex\":");
        buf_u64(b, f->dir->created);
    }
    buf_addc(b, '}');
    free(f->kids);
}

/* A directory with its children (recursive: the whole subtree), as etcd's
 * loadInternalNode. path holds d's key on entry; it is clobbered. */
static void emit_dir(struct buf *b, const struct node *d, struct buf *path,
                     bool recursive, bool sorted, int64_t now)
{
    size_t nf = 1, cap = 8;
    struct frame *fr = xmalloc(cap * sizeof *fr);
    open_dir(b, &fr[0], d, path, sorted, now);
    while (nf) {
        struct frame *f = &fr[nf - 1];
        if (f->i == f->n) {
            close_dir(b, f);
            nf--;
            continue;
        }
        const struct node *c = f->kids[f->i];
        if (f->i++)
            buf_addc(b, ',');
        buf_truncate(path, f->plen);
        if (f->plen > 1)
            buf_addc(path, '/');
        buf_add(path, c->name, c->name_len);
        if (c->dir && recursive) {
            if (nf == cap) {
                cap *= 2;
                fr = xrealloc(fr, cap * sizeof *fr);
            }
            open_dir(b, &fr[nf++], c, path, sorted, now);
        } else
            emit_leaf(b, c, path->p, path->len, now);
    }
    free(fr);
}

/* ------------------------------------------------------------------------ */
/* Events, history, watches                                                 */

static struct event *hist_at(struct kv *kv, size_t i)
{
    return &kv->hist[(kv->hist_start + i) % KV_HISTORY];
}

static struct event *hist_push(struct kv *kv)
{
    struct event *e;
    if (kv->hist_n == KV_HISTORY) {
        e = &kv->hist[kv->hist_start];
        free(e->key);
        free(e->body);
        kv->hist_start = (kv->hist_start + 1) % KV_HISTORY;
    } else {
        e = hist_at(kv, kv->hist_n);
        kv->hist_n++;
    }
    memset(e, 0, sizeof *e);
    return e;
}

/* etcd's EventHistory.scan match. */
static bool event_matches(const struct event *e, const char *key, size_t klen,
                          bool recursive)
{
    if (e->key_len == klen && memcmp(e->key, key, klen) == 0)
        return true;
    if (recursive) {
        if (klen == 1)
            return true; /* everything is below the root */
        if (e->key_len > klen && memcmp(e->key, key, klen) == 0 &&
            e->key[klen] == '/')
            return true;
    }
    if (e->dir_delete && klen > e->key_len &&
        memcmp(key, e->key, e->key_len) == 0 && key[e->key_len] == '/')
        return true;
    return false;
}

static uint64_t key_hash(const struct kv *kv, const char *key, size_t len)
{
    return mix64(fnv_add(FNV_OFFSET ^ kv->seed, key, len));
}

struct wl_key {
    const char *key;
    size_t len;
};

static bool wl_eq(const void *elem, const void *key)
{
    const struct wlist *l = elem;
    const struct wl_key *k = key;
    return l->len == k->len && memcmp(l->key, k->key, k->len) == 0;
}

static struct wlist *wl_find(const struct kv *kv, uint64_t h, const char *key,
                             size_t len)
{
    struct wl_key k = {key, len};
    return ht_find(&kv->watches, h, wl_eq, &k);
}

/* Take w off its list (dropping an emptied list). */
static void watch_unlink(struct kv *kv, struct kv_watch *w)
{
    struct wlist *l = w->list;
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->prev = w->next = NULL;
    w->list = NULL;
    kv->nwatch--;
    if (!l->head) {
        ht_remove(&kv->watches, key_hash(kv, l->key, l->len), l);
        free(l);
    }
}

/* etcd's notifyWatchers for the watchers at path (the event's key or an
 * ancestor of it, or, with deleted, a node removed by the event). */
static void notify_at(struct kv *kv, const struct event *ev, uint64_t h,
                      const char *path, size_t plen, bool deleted)
{
    struct wlist *l = wl_find(kv, h, path, plen);
    if (!l)
        return;
    bool original = plen == ev->key_len; /* path is a prefix of the key */
    if (!original && !deleted && is_hidden(plen, ev->key, ev->key_len))
        return;
    struct kv_watch *w = l->head, *next;
    for (; w; w = next) {
        next = w->next;
        if (!(w->recursive || original || deleted) || ev->index < w->since)
            continue;
        watch_unlink(kv, w); /* may free l, but then next is NULL */
        w->state = W_FIRING;
        w->ev = ev;
        if (kv->fire_tail)
            kv->fire_tail->next = w;
        else
            kv->fire_head = w;
        kv->fire_tail = w;
    }
}

/* Notify watchers at every prefix of the event's key: "/", "/a", "/a/b". */
static void notify_prefixes(struct kv *kv, const struct event *ev)
{
    if (!kv->nwatch)
        return;
    const char *k = ev->key;
    size_t n = ev->key_len;
    uint64_t h = FNV_OFFSET ^ kv->seed;
    h = fnv_add(h, k, 1);
    notify_at(kv, ev, mix64(h), k, 1, false);
    size_t i = 1;
    while (i < n && kv->nwatch) {
        size_t e = i + 1;
        while (e < n && k[e] != '/')
            e++;
        h = fnv_add(h, k + i, e - i);
        notify_at(kv, ev, mix64(h), k, e, false);
        i = e;
    }
}

static void run_callbacks(struct kv *kv)
{
    kv->in_callbacks = true;
    while (kv->fire_head) {
        struct kv_watch *w = kv->fire_head;
        kv->fire_head = w->next;
        if (!kv->fire_head)
            kv->fire_tail = NULL;
        if (w->state == W_FIRING) {
            struct kv_result r = {200, 0, w->ev->body, w->ev->len,
                                  w->ev->index};
            w->fn(w->arg, &r);
        }
        free(w);
    }
    kv->in_callbacks = false;
}

/* ------------------------------------------------------------------------ */
/* Operations (etcd's store.go). Each either fails without changing        */
/* anything, or bumps the index, records an event and answers with it.     */

struct op {
    struct kv *kv;
    const char *path;
    size_t plen;
    struct kv_result *res;
    struct buf b;    /* the event body */
    int64_t now;     /* the command's time (Unix ms): ttls count from it */
    int64_t exp;     /* the expiration the command gives (0: permanent) */
    bool refresh;    /* TTL only: keep the value, notify no watcher */
};

static void op_error(struct op *o, unsigned code, size_t cause_len)
{
    error_n(code, o->path, cause_len, o->kv->index, o->res);
}

static void op_root_error(struct op *o)
{
    error_n(KV_E_ROOT_RONLY, "/", 1, o->kv->index, o->res);
}

static void event_begin(struct op *o, const char *action)
{
    buf_adds(&o->b, "{\"action\":\"");
    buf_adds(&o->b, action);
    buf_adds(&o->b, "\",\"node\":");
}

static void event_prev(struct op *o, const struct node *prev)
{
    buf_adds(&o->b, ",\"prevNode\":");
    emit_leaf(&o->b, prev, o->path, o->plen, o->now);
}

/* Put the event body b (complete) for key at the (already bumped) store
 * index into the history. */
static struct event *event_record(struct kv *kv, const char *key,
                                  size_t klen, bool dir_delete,
                                  const struct buf *b)
{
    struct event *e = hist_push(kv);
    e->index = kv->index;
    e->key = xmemdup(key, klen);
    e->key_len = klen;
    e->dir_delete = dir_delete;
    e->len = b->len;
    e->body = xmemdup(b->p, b->len); /* b stays, for the next one */
    return e;
}

/* Finish the event at the (already bumped) index: history, answer. */
static struct event *event_commit(struct op *o, unsigned status,
                                  bool dir_delete)
{
    struct kv *kv = o->kv;
    if (o->refresh)
        buf_adds(&o->b, ",\"refresh\":true");
    buf_adds(&o->b, "}\n");
    struct event *e = event_record(kv, o->path, o->plen, dir_delete, &o->b);
    o->res->status = status;
    o->res->error_code = 0;
    o->res->index = kv->index;
    o->res->body = xmemdup(e->body, e->len);
    o->res->len = e->len;
    return e;
}

/* Compare for compareAndSwap/compareAndDelete; on mismatch answers 101 with
 * etcd's cause "[prevValue != value] [prevIndex != modifiedIndex]". */
static bool compare(struct op *o, const struct node *n, const char *pv,
                    uint64_t pi)
{
    bool vok = !pv || strcmp(pv, n->value) == 0;
    bool iok = !pi || pi == n->modified;
    if (vok && iok)
        return true;
    struct buf c = {0};
    if (!vok) {
        buf_addc(&c, '[');
        buf_adds(&c, pv);
        buf_adds(&c, " != ");
        buf_adds(&c, n->value);
        buf_addc(&c, ']');
    }
    if (!iok) {
        if (!vok)
            buf_addc(&c, ' ');
        buf_addc(&c, '[');
        buf_u64(&c, pi);
        buf_adds(&c, " != ");
        buf_u64(&c, n->modified);
        buf_addc(&c, ']');
    }
    error_n(KV_E_TEST_FAILED, c.p, c.len, o->kv->index, o->res);
    free(c.p);
    return false;
}

/* set, create, and POST (create in order; o->path already has the name). */
static void op_create(struct op *o, const char *action, bool replace,
                      bool dir, const char *value)
{
    struct kv *kv = o->kv;
    struct walk w;
    walk(kv, o->path, o->plen, &w);
    if (o->plen == 1) { /* (the walk of "/" cannot meet a file) */
        if (o->refresh) /* etcd reads the root's value first: 102 */
            op_error(o, KV_E_NOT_FILE, 1);
        else
            op_root_error(o);
        return;
    }
    if (w.st == WALK_NOTDIR) {
        op_error(o, KV_E_NOT_DIR, w.at);
        return;
    }
    struct node *prev = w.st == WALK_FOUND ? w.n : NULL;
    if (o->refresh && !prev) { /* etcd's Set: refresh needs the node */
        op_error(o, KV_E_KEY_NOT_FOUND, w.end);
        return;
    }
    if (o->refresh && prev->dir) { /* etcd reads its value first: 102 */
        op_error(o, KV_E_NOT_FILE, o->plen);
        return;
    }
    if (prev && !replace) {
        op_error(o, KV_E_NODE_EXIST, o->plen);
        return;
    }
    if (prev && prev->dir) {
        op_error(o, KV_E_NOT_FILE, o->plen);
        return;
    }

    uint64_t idx = kv->index + 1;
    if (o->refresh)
        value = prev->value; /* (freed below only after its last use) */
    if (!value)
        value = "";
    event_begin(o, action);
    emit_node(&o->b, o->path, o->plen, dir ? NULL : value, strlen(value),
              dir, o->exp, o->now, idx, idx);
    struct node *n;
    if (prev) {
        event_prev(o, prev);
        node_set_expire(kv, prev, 0); /* createdIndex changes */
        char *old = prev->value;
        /* etcd replaces the node: a new createdIndex too */
        prev->value = NULL;
        prev->value_len = 0;
        if (dir) {
            prev->dir = true;
            kv->nfiles--;
            kv->ndirs++;
        } else {
            prev->value_len = strlen(value);
            prev->value = xmemdup(value, prev->value_len);
        }
        value_drop(prev, old);
        prev->created = prev->modified = idx;
        n = prev;
    } else
        n = create_path(kv, o->path, o->plen, &w, dir, value, idx);
    node_set_expire(kv, n, o->exp);
    kv->index = idx;
    struct event *ev = event_commit(o, prev ? 200 : 201, false);
    if (!o->refresh)
        notify_prefixes(kv, ev);
}

/* Find an existing node for update/CAS/delete/CAD (etcd's internalGet). */
static struct node *op_get(struct op *o)
{
    struct walk w;
    walk(o->kv, o->path, o->plen, &w);
    if (w.st == WALK_NOTDIR) {
        op_error(o, KV_E_NOT_DIR, w.at);
        return NULL;
    }
    if (w.st == WALK_MISSING) {
        op_error(o, KV_E_KEY_NOT_FOUND, w.end);
        return NULL;
    }
    return w.n;
}

/* update and compareAndSwap */
static void op_update(struct op *o, bool cas, const char *value,
                      const char *pv, uint64_t pi)
{
    struct kv *kv = o->kv;
    if (o->plen == 1) {
        op_root_error(o);
        return;
    }
    struct node *n = op_get(o);
    if (!n)
        return;
    if (o->refresh && !n->dir)
        value = n->value;
    if (!value)
        value = "";
    /* etcd: a directory can be updated (its TTL), only to an empty value,
     * and never compared-and-swapped */
    if (n->dir && (cas || *value)) {
        op_error(o, KV_E_NOT_FILE, o->plen);
        return;
    }
    if (cas && !compare(o, n, pv, pi))
        return;
    uint64_t idx = kv->index + 1;
    event_begin(o, cas ? "compareAndSwap" : "update");
    emit_node(&o->b, o->path, o->plen, n->dir ? NULL : value, strlen(value),
              n->dir, o->exp, o->now, idx, n->created);
    event_prev(o, n);
    if (!n->dir) { /* etcd leaves a directory's modifiedIndex alone */
        char *old = n->value;
        n->value_len = strlen(value);
        n->value = xmemdup(value, n->value_len);
        value_drop(n, old);
        n->modified = idx;
    }
    node_set_expire(kv, n, o->exp);
    kv->index = idx;
    struct event *ev = event_commit(o, 200, false);
    if (!o->refresh)
        notify_prefixes(kv, ev);
}

/* Remove n and everything below it, notifying the watchers at each removed
 * key (etcd's Remove callback), children before parents. */
static void remove_subtree(struct kv *kv, struct node *top,
                           const struct event *ev)
{
    if (!kv->nwatch) {
        struct node *n = top;
        for (;;) {
            while (n->kids)
                n = n->kids;
            struct node *p = n->parent;
            bool last = n == top;
            node_remove(kv, n);
            if (last)
                return;
            n = p;
        }
    }
    /* With watchers: keep the key of the current node and the hash state of
     * each level's key, so every removed key is looked up in O(name). */
    struct buf path = {0};
    size_t depth = 0, cap = 16;
    uint64_t *hs = xmalloc(cap * sizeof *hs);
    buf_add(&path, ev->key, ev->key_len);
    hs[0] = fnv_add(FNV_OFFSET ^ kv->seed, ev->key, ev->key_len);
    struct node *n = top;
    for (;;) {
        while (n->kids) {
            n = n->kids;
            if (++depth == cap) {
                cap *= 2;
                hs = xrealloc(hs, cap * sizeof *hs);
            }
            buf_addc(&path, '/');
            buf_add(&path, n->name, n->name_len);
            hs[depth] = fnv_add(fnv_add(hs[depth - 1], "/", 1), n->name,
                                n->name_len);
        }
        if (kv->nwatch)
            notify_at(kv, ev, mix64(hs[depth]), path.p, path.len, true);
        struct node *p = n->parent;
        bool last = n == top;
        size_t nl = n->name_len;
        node_remove(kv, n);
        if (last)
            break;
        buf_truncate(&path, path.len - nl - 1);
        depth--;
        n = p;
    }
    free(path.p);
    free(hs);
}

/* delete and compareAndDelete */
static void op_delete(struct op *o, bool cad, bool dir, bool recursive,
                      const char *pv, uint64_t pi)
{
    struct kv *kv = o->kv;
    if (!cad && o->plen == 1) {
        op_root_error(o);
        return;
    }
    struct node *n = op_get(o);
    if (!n)
        return;
    if (recursive)
        dir = true;
    if (n->dir) {
        if (cad || !dir) {
            op_error(o, KV_E_NOT_FILE, o->plen);
            return;
        }
        if (n->nkids && !recursive) {
            op_error(o, KV_E_DIR_NOT_EMPTY, o->plen);
            return;
        }
    }
    if (cad && !compare(o, n, pv, pi))
        return;
    uint64_t idx = kv->index + 1;
    event_begin(o, cad ? "compareAndDelete" : "delete");
    emit_node(&o->b, o->path, o->plen, NULL, 0, n->dir, 0, 0, idx,
              n->created);
    event_prev(o, n);
    kv->index = idx;
    struct event *ev = event_commit(o, 200, n->dir);
    remove_subtree(kv, n, ev);
    notify_prefixes(kv, ev);
}

/* n's full key into b (cleared first). */
static void node_key(const struct node *n, struct buf *b)
{
    size_t len = 0;
    for (const struct node *c = n; c->parent; c = c->parent)
        len += 1 + c->name_len;
    buf_truncate(b, 0);
    buf_reserve(b, len);
    b->len = len;
    b->p[len] = '\0';
    for (const struct node *c = n; c->parent; c = c->parent) {
        len -= c->name_len;
        memcpy(b->p + len, c->name, c->name_len);
        b->p[--len] = '/';
    }
}

/* A "now" entry: expire, oldest first, the nodes due at o->now (etcd's
 * DeleteExpiredKeys), at most KV_SYNC_MAX of them (a constant, so every
 * replica stops at the same one; the leader proposes another entry for the
 * rest): each an "expire" event at its own index, watchers of the removed
 * keys notified as for a delete. Answers how many expired. */
static void op_sync(struct op *o)
{
    struct kv *kv = o->kv;
    struct buf key = {0};
    uint64_t expired = 0;
    while (kv->ttl_n && kv->ttl[0]->expire_ms <= o->now &&
           expired < KV_SYNC_MAX) {
        struct node *n = kv->ttl[0];
        uint64_t idx = ++kv->index;
        node_key(n, &key);
        buf_truncate(&o->b, 0);
        buf_adds(&o->b, "{\"action\":\"expire\",\"node\":");
        emit_node(&o->b, key.p, key.len, NULL, 0, n->dir, 0, 0, idx,
                  n->created);
        buf_adds(&o->b, ",\"prevNode\":");
        emit_leaf(&o->b, n, key.p, key.len, o->now);
        buf_adds(&o->b, "}\n");
        struct event *ev = event_record(kv, key.p, key.len, n->dir, &o->b);
        remove_subtree(kv, n, ev);
        notify_prefixes(kv, ev);
        kv->stats.expire_count++;
        expired++;
        /* now, while ev is in the history ring: the next expiries may
         * reuse its slot */
        run_callbacks(kv);
    }
    free(key.p);
    buf_truncate(&o->b, 0);
    buf_adds(&o->b, "{\"action\":\"sync\",\"expired\":");
    buf_u64(&o->b, expired);
    buf_adds(&o->b, "}\n");
    o->res->status = 200;
    o->res->index = kv->index;
    o->res->body = xmemdup(o->b.p, o->b.len);
    o->res->len = o->b.len;
}

/* ------------------------------------------------------------------------ */
/* Commands: encoding and strict decoding                                   */

static const char *op_name(enum kv_op op)
{
    switch (op) {
    case KV_SET:
        return "set";
    case KV_CREATE_IN_ORDER:
        return "post";
    case KV_DELETE:
        return "delete";
    case KV_SYNC:
        return "sync";
    }
    return NULL;
}

/* Times past this (year 10000) are refused: a clock this wrong is a bug. */
#define KV_TIME_MAX INT64_C(253402300799999)

char *kv_encode(const struct kv_cmd *cmd, size_t *len)
{
    if (!cmd || !op_name(cmd->op) || (cmd->op != KV_SYNC && !cmd->key) ||
        (cmd->op == KV_SYNC && cmd->now_ms <= 0) || cmd->now_ms < 0 ||
        cmd->now_ms > KV_TIME_MAX || (cmd->has_ttl && cmd->ttl > KV_TTL_MAX))
        return NULL;
    struct buf b = {0};
    buf_adds(&b, "{\"op\":\"");
    buf_adds(&b, op_name(cmd->op));
    buf_addc(&b, '"');
    if (cmd->op == KV_SYNC) { /* the time, nothing else */
        buf_adds(&b, ",\"now\":\"");
        buf_u64(&b, (uint64_t)cmd->now_ms);
        buf_adds(&b, "\"}");
        size_t n;
        char *p = buf_take(&b, &n);
        if (len)
            *len = n;
        return p;
    }
    buf_adds(&b, ",\"key\":");
    buf_jstr_raw(&b, cmd->key);
    if (cmd->value) {
        buf_adds(&b, ",\"value\":");
        buf_jstr_raw(&b, cmd->value);
    }
    if (cmd->dir)
        buf_adds(&b, ",\"dir\":true");
    if (cmd->prev_value) {
        buf_adds(&b, ",\"prevValue\":");
        buf_jstr_raw(&b, cmd->prev_value);
    }
    if (cmd->prev_index) {
        buf_adds(&b, ",\"prevIndex\":\"");
        buf_u64(&b, cmd->prev_index);
        buf_addc(&b, '"');
    }
    if (cmd->prev_exist >= 0)
        buf_adds(&b, cmd->prev_exist ? ",\"prevExist\":true"
                                     : ",\"prevExist\":false");
    if (cmd->recursive)
        buf_adds(&b, ",\"recursive\":true");
    if (cmd->has_ttl) {
        buf_adds(&b, ",\"ttl\":\"");
        buf_u64(&b, cmd->ttl);
        buf_addc(&b, '"');
    }
    if (cmd->refresh)
        buf_adds(&b, ",\"refresh\":true");
    if (cmd->now_ms) {
        buf_adds(&b, ",\"now\":\"");
        buf_u64(&b, (uint64_t)cmd->now_ms);
        buf_addc(&b, '"');
    }
    buf_addc(&b, '}');
    size_t n;
    char *p = buf_take(&b, &n);
    if (len)
        *len = n;
    return p;
}

struct dcmd {
    enum kv_op op;
    struct buf key, value, prev_value;
    bool has_value, has_prev_value;
    bool dir, recursive;
    int prev_exist;
    uint64_t prev_index;
    bool has_ttl, refresh;
    uint64_t ttl, now;
};

struct jp {
    const unsigned char *s;
    size_t n, i;
};

static void jp_ws(struct jp *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
                           p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static bool jp_lit(struct jp *p, const char *lit)
{
    size_t l = strlen(lit);
    if (p->n - p->i < l || memcmp(p->s + p->i, lit, l) != 0)
        return false;
    p->i += l;
    return true;
}

static int jp_hex4(struct jp *p, unsigned *v)
{
    if (p->n - p->i < 4)
        return -1;
    *v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = p->s[p->i++];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v * 16 + d;
    }
    return 0;
}

static void utf8_put(struct buf *b, unsigned cp)
{
    if (cp < 0x80)
        buf_addc(b, (char)cp);
    else if (cp < 0x800) {
        buf_addc(b, (char)(0xc0 | (cp >> 6)));
        buf_addc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        buf_addc(b, (char)(0xe0 | (cp >> 12)));
        buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_addc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        buf_addc(b, (char)(0xf0 | (cp >> 18)));
        buf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_addc(b, (char)(0x80 | (cp & 0x3f)));
    }
}

/* A JSON string into out, replacing what it held. No NULs: \u0000 and raw
 * control characters are rejected; other bytes are kept as they are. */
static int jp_string(struct jp *p, struct buf *out)
{
    buf_truncate(out, 0);
    buf_reserve(out, 0);
    out->p[0] = '\0';
    if (p->i >= p->n || p->s[p->i] != '"')
        return -1;
    p->i++;
    for (;;) {
        size_t run = p->i; /* plain characters are copied in one go */
        while (p->i < p->n && p->s[p->i] != '"' && p->s[p->i] != '\\' &&
               p->s[p->i] >= 0x20)
            p->i++;
        if (p->i > run)
            buf_add(out, p->s + run, p->i - run);
        if (p->i >= p->n)
            return -1;
        unsigned char c = p->s[p->i++];
        if (c == '"')
            return 0;
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            buf_addc(out, (char)c);
            continue;
        }
        if (p->i >= p->n)
            return -1;
        c = p->s[p->i++];
        unsigned cp, lo;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            buf_addc(out, (char)c);
            break;
        case 'b':
            buf_addc(out, '\b');
            break;
        case 'f':
            buf_addc(out, '\f');
            break;
        case 'n':
            buf_addc(out, '\n');
            break;
        case 'r':
            buf_addc(out, '\r');
            break;
        case 't':
            buf_addc(out, '\t');
            break;
        case 'u':
            if (jp_hex4(p, &cp) < 0 || cp == 0)
                return -1;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return -1;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (!jp_lit(p, "\\u") || jp_hex4(p, &lo) < 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            utf8_put(out, cp);
            break;
        default:
            return -1;
        }
    }
}

static int jp_bool(struct jp *p, bool *v)
{
    if (jp_lit(p, "true"))
        *v = true;
    else if (jp_lit(p, "false"))
        *v = false;
    else
        return -1;
    return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 20)
        return -1;
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10)
            return -1;
        *v = *v * 10 + d;
    }
    return 0;
}

enum {
    F_OP = 1, F_KEY = 2, F_VALUE = 4, F_DIR = 8, F_PREV_VALUE = 16,
    F_PREV_INDEX = 32, F_PREV_EXIST = 64, F_RECURSIVE = 128, F_TTL = 256,
    F_REFRESH = 512, F_NOW = 1024,
};

/* Keep a working buffer for the next entry, unless a large value made it
 * large: that memory goes back. */
#define KV_SCRATCH_KEEP ((size_t)64 << 10)
static void scratch_keep(struct buf *slot, struct buf b)
{
    if (b.cap > KV_SCRATCH_KEEP) {
        free(b.p);
        b = (struct buf){0};
    }
    *slot = b;
}

/* Hand a decoded command's buffers back to kv for the next one. */
static void decode_done(struct kv *kv, struct dcmd *c)
{
    scratch_keep(&kv->scratch_key, c->key);
    scratch_keep(&kv->scratch_value, c->value);
    scratch_keep(&kv->scratch_prev_value, c->prev_value);
    memset(c, 0, sizeof *c);
}

/* Decode a command into kv's scratch buffers (decode_done() returns them);
 * on error returns -1 with *why set. */
static int decode(struct kv *kv, const void *data, size_t len, struct dcmd *c,
                  const char **why)
{
    struct jp p = {data, len, 0};
    struct buf name = kv->scratch_name, tmp = kv->scratch_tmp;
    unsigned seen = 0;
    int rc = -1;
    memset(c, 0, sizeof *c);
    c->key = kv->scratch_key;
    c->value = kv->scratch_value;
    c->prev_value = kv->scratch_prev_value;
    c->prev_exist = -1;
    *why = "malformed command";
    if (!data)
        goto out;
    jp_ws(&p);
    if (p.i >= p.n || p.s[p.i++] != '{')
        goto out;
    jp_ws(&p);
    if (p.i < p.n && p.s[p.i] == '}')
        p.i++;
    else {
        for (;;) {
            if (jp_string(&p, &name) < 0)
                goto out;
            jp_ws(&p);
            if (p.i >= p.n || p.s[p.i++] != ':')
                goto out;
            jp_ws(&p);
            const char *f = name.p;
            unsigned bit;
            int r;
            bool bv;
            if (!strcmp(f, "op")) {
                bit = F_OP;
                r = jp_string(&p, &tmp);
                if (r == 0) {
                    if (!strcmp(tmp.p, "set"))
                        c->op = KV_SET;
                    else if (!strcmp(tmp.p, "post"))
                        c->op = KV_CREATE_IN_ORDER;
                    else if (!strcmp(tmp.p, "delete"))
                        c->op = KV_DELETE;
                    else if (!strcmp(tmp.p, "sync"))
                        c->op = KV_SYNC;
                    else {
                        *why = "unknown op in command";
                        goto out;
                    }
                }
            } else if (!strcmp(f, "key")) {
                bit = F_KEY;
                r = jp_string(&p, &c->key);
            } else if (!strcmp(f, "value")) {
                bit = F_VALUE;
                r = jp_string(&p, &c->value);
                c->has_value = true;
            } else if (!strcmp(f, "prevValue")) {
                bit = F_PREV_VALUE;
                r = jp_string(&p, &c->prev_value);
                c->has_prev_value = true;
            } else if (!strcmp(f, "prevIndex")) {
                bit = F_PREV_INDEX;
                r = jp_string(&p, &tmp);
                if (r == 0)
                    r = parse_u64(tmp.p, tmp.len, &c->prev_index);
            } else if (!strcmp(f, "ttl")) {
                bit = F_TTL;
                r = jp_string(&p, &tmp);
                if (r == 0)
                    r = parse_u64(tmp.p, tmp.len, &c->ttl);
                if (r == 0 && c->ttl > KV_TTL_MAX)
                    r = -1;
                c->has_ttl = true;
            } else if (!strcmp(f, "now")) {
                bit = F_NOW;
                r = jp_string(&p, &tmp);
                if (r == 0)
                    r = parse_u64(tmp.p, tmp.len, &c->now);
                if (r == 0 && (c->now == 0 || c->now > KV_TIME_MAX))
                    r = -1;
            } else if (!strcmp(f, "refresh")) {
                bit = F_REFRESH;
                r = jp_bool(&p, &c->refresh);
            } else if (!strcmp(f, "dir")) {
                bit = F_DIR;
                r = jp_bool(&p, &c->dir);
            } else if (!strcmp(f, "recursive")) {
                bit = F_RECURSIVE;
                r = jp_bool(&p, &c->recursive);
            } else if (!strcmp(f, "prevExist")) {
                bit = F_PREV_EXIST;
                bv = false;
                r = jp_bool(&p, &bv);
                c->prev_exist = bv ? 1 : 0;
            } else {
                *why = "unknown field in command";
                goto out;
            }
            if (r < 0 || (seen & bit)) {
                *why = r < 0 ? "bad field in command"
                             : "duplicate field in command";
                goto out;
            }
            seen |= bit;
            jp_ws(&p);
            if (p.i >= p.n)
                goto out;
            char sep = (char)p.s[p.i++];
            if (sep == '}')
                break;
            if (sep != ',')
                goto out;
            jp_ws(&p);
        }
    }
    jp_ws(&p);
    if (p.i != p.n)
        goto out;
    if (!(seen & F_OP) || (c->op != KV_SYNC && !(seen & F_KEY))) {
        *why = "command without op or key";
        goto out;
    }
    if (c->op == KV_SYNC && (seen & ~(F_OP | F_NOW) || !(seen & F_NOW))) {
        *why = "a sync command has a time (now) and nothing else";
        goto out;
    }
    if (c->refresh && !c->has_ttl) {
        *why = "refresh without a ttl";
        goto out;
    }
    rc = 0;
out:
    scratch_keep(&kv->scratch_name, name);
    scratch_keep(&kv->scratch_tmp, tmp);
    if (rc < 0)
        decode_done(kv, c);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

struct kv *kv_new(void)
{
    struct kv *kv = xcalloc(1, sizeof *kv);
    kv->root = node_alloc("", 0, NULL, 0);
    kv->root->dir = true;
    /* The table layout is never observable, so its seed need not be the
     * same on every node; the address varies with ASLR, which makes keys
     * built to collide hard to find. */
    static const char anchor;
    kv->seed = mix64((uint64_t)(uintptr_t)kv ^
                     ((uint64_t)(uintptr_t)&anchor << 17));
    return kv;
}

void kv_free(struct kv *kv)
{
    if (!kv)
        return;
    tree_free(kv->root);
    free(kv->nodes.s);
    for (size_t i = 0; i < kv->hist_n; i++) {
        free(hist_at(kv, i)->key);
        free(hist_at(kv, i)->body);
    }
    for (size_t i = 0; i < kv->watches.cap; i++) {
        struct wlist *l = kv->watches.s[i].p;
        if (!l)
            continue;
        for (struct kv_watch *w = l->head, *next; w; w = next) {
            next = w->next;
            free(w);
        }
        free(l);
    }
    free(kv->watches.s);
    free(kv->ttl);
    free(kv->scratch_name.p);
    free(kv->scratch_tmp.p);
    free(kv->scratch_key.p);
    free(kv->scratch_value.p);
    free(kv->scratch_prev_value.p);
    free(kv->scratch_event.p);
    free(kv);
}

uint64_t kv_index(const struct kv *kv)
{
    return kv->index;
}

size_t kv_count(const struct kv *kv)
{
    return kv->nfiles;
}

size_t kv_watch_count(const struct kv *kv)
{
    return kv->nwatch;
}

void kv_get_stats(const struct kv *kv, struct kv_stats *out)
{
    *out = kv->stats;
}

void kv_set_read_clock(struct kv *kv, int64_t unix_ms)
{
    kv->read_clock_ms = unix_ms;
}

int64_t kv_next_expiration(const struct kv *kv)
{
    return kv->ttl_n ? kv->ttl[0]->expire_ms : 0;
}

size_t kv_ttl_count(const struct kv *kv)
{
    return kv->ttl_n;
}

int64_t kv_clock(const struct kv *kv)
{
    return kv->clock_ms;
}

/* Count an applied operation under etcd's name for it. */
static void count_op(uint64_t *success, uint64_t *fail,
                     const struct kv_result *res)
{
    if (res->error_code == 0)
        (*success)++;
    else
        (*fail)++;
}

void kv_apply(struct kv *kv, const void *data, size_t len,
              struct kv_result *res)
{
    struct dcmd c;
    const char *why;
    if (kv->in_callbacks) {
        fputs("raftd: kv: kv_apply called from a watch callback\n", stderr);
        abort();
    }
    memset(res, 0, sizeof *res);
    if (decode(kv, data, len, &c, &why) < 0) {
        kv_error(KV_E_INVALID_FIELD, why, kv->index, res);
        return;
    }
    struct op o = {.kv = kv, .res = res, .b = kv->scratch_event};
    buf_truncate(&o.b, 0);
    if ((int64_t)c.now > kv->clock_ms)
        kv->clock_ms = (int64_t)c.now;
    o.now = c.now ? (int64_t)c.now : kv->clock_ms;
    if (c.has_ttl) { /* (0 means permanent: an expiration is at least 1) */
        o.exp = o.now + (int64_t)c.ttl * 1000;
        if (o.exp < 1)
            o.exp = 1;
    }
    o.refresh = c.refresh;
    if (c.op == KV_SYNC) {
        op_sync(&o);
        scratch_keep(&kv->scratch_event, o.b);
        decode_done(kv, &c);
        run_callbacks(kv);
        return;
    }
    char *path = path_clean(c.key.p, &o.plen);
    const char *value = c.has_value ? c.value.p : NULL;
    const char *pv = c.has_prev_value ? c.prev_value.p : NULL;
    bool cond = pv || c.prev_index;
    o.path = path;
    struct kv_stats *st = &kv->stats;
    switch (c.op) {
    case KV_SET:
        if (c.prev_exist == 1) {
            op_update(&o, cond, value, pv, c.prev_index);
            if (cond)
                count_op(&st->cas_success, &st->cas_fail, res);
            else
                count_op(&st->update_success, &st->update_fail, res);
        } else if (c.prev_exist == 0) {
            o.refresh = false; /* etcd's Create ignores it */
            op_create(&o, "create", false, c.dir, value);
            count_op(&st->create_success, &st->create_fail, res);
        } else if (cond) {
            op_update(&o, true, value, pv, c.prev_index);
            count_op(&st->cas_success, &st->cas_fail, res);
        } else {
            op_create(&o, "set", true, c.dir, value);
            count_op(&st->sets_success, &st->sets_fail, res);
        }
        break;
    case KV_CREATE_IN_ORDER: {
        char name[24];
        snprintf(name, sizeof name, "%020" PRIu64, kv->index + 1);
        struct buf b = {0};
        buf_add(&b, path, o.plen);
        if (o.plen > 1)
            buf_addc(&b, '/');
        buf_adds(&b, name);
        free(path);
        path = buf_take(&b, &o.plen);
        o.path = path;
        o.refresh = false; /* etcd's Create ignores it */
        op_create(&o, "create", false, c.dir, value);
        count_op(&st->create_success, &st->create_fail, res);
        break;
    }
    case KV_DELETE:
        op_delete(&o, cond, c.dir, c.recursive, pv, c.prev_index);
        if (cond)
            count_op(&st->cad_success, &st->cad_fail, res);
        else
            count_op(&st->delete_success, &st->delete_fail, res);
        break;
    case KV_SYNC: /* (handled above) */
        break;
    }
    scratch_keep(&kv->scratch_event, o.b);
    free(path);
    decode_done(kv, &c);
    run_callbacks(kv);
}

void kv_get(struct kv *kv, const char *key, bool recursive, bool sorted,
            struct kv_result *res)
{
    struct buf path = {0}, b = {0};
    size_t plen;
    char *p = path_clean(key ? key : "", &plen);
    struct walk w;
    memset(res, 0, sizeof *res);
    walk(kv, p, plen, &w);
    if (w.st != WALK_FOUND) {
        kv->stats.gets_fail++;
        if (w.st == WALK_NOTDIR)
            error_n(KV_E_NOT_DIR, p, w.at, kv->index, res);
        else
            error_n(KV_E_KEY_NOT_FOUND, p, w.end, kv->index, res);
        free(p);
        return;
    }
    kv->stats.gets_success++;
    int64_t now = kv->clock_ms > kv->read_clock_ms ? kv->clock_ms
                                                   : kv->read_clock_ms;
    buf_adds(&b, "{\"action\":\"get\",\"node\":");
    if (w.n->dir) {
        buf_add(&path, p, plen);
        emit_dir(&b, w.n, &path, recursive, sorted, now);
    } else
        emit_leaf(&b, w.n, p, plen, now);
    buf_adds(&b, "}\n");
    res->status = 200;
    res->index = kv->index;
    res->body = buf_take(&b, &res->len);
    free(path.p);
    free(p);
}

struct kv_watch *kv_watch(struct kv *kv, const char *key, bool recursive,
                          uint64_t wait_index, kv_watch_fn fn, void *arg,
                          struct kv_result *res)
{
    size_t plen;
    memset(res, 0, sizeof *res);
    if (!fn) {
        kv_error(KV_E_INVALID_FIELD, "watch without a callback", kv->index,
                 res);
        return NULL;
    }
    char *p = path_clean(key ? key : "", &plen);
    uint64_t since = wait_index ? wait_index : kv->index + 1;
    if (kv->hist_n) {
        uint64_t start = hist_at(kv, 0)->index;
        uint64_t last = hist_at(kv, kv->hist_n - 1)->index;
        if (since < start) {
            char cause[96];
            snprintf(cause, sizeof cause,
                     "the requested history has been cleared [%" PRIu64
                     "/%" PRIu64 "]",
                     start, since);
            kv_error(KV_E_EVENT_INDEX_CLEARED, cause, kv->index, res);
            free(p);
            return NULL;
        }
        if (since <= last) {
            for (size_t i = (size_t)(since - start); i < kv->hist_n; i++) {
                const struct event *e = hist_at(kv, i);
                if (event_matches(e, p, plen, recursive)) {
                    res->status = 200;
                    res->index = kv->index;
                    res->body = xmemdup(e->body, e->len);
                    res->len = e->len;
                    free(p);
                    return NULL;
                }
            }
        }
    }
    uint64_t h = key_hash(kv, p, plen);
    struct wlist *l = wl_find(kv, h, p, plen);
    if (!l) {
        l = xcalloc(1, sizeof *l + plen + 1);
        memcpy(l->key, p, plen);
        l->len = plen;
        ht_insert(&kv->watches, h, l);
    }
    free(p);
    struct kv_watch *w = xcalloc(1, sizeof *w);
    w->list = l;
    w->since = since;
    w->fn = fn;
    w->arg = arg;
    w->recursive = recursive;
    w->state = W_WAITING;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    kv->nwatch++;
    return w;
}

void kv_watch_cancel(struct kv *kv, struct kv_watch *w)
{
    if (!w)
        return;
    if (w->state == W_WAITING) {
        watch_unlink(kv, w);
        free(w);
    } else if (w->state == W_FIRING)
        w->state = W_CANCELLED; /* run_callbacks() frees it */
}

/* ------------------------------------------------------------------------ */
/* Snapshots (doc/storage.md, "Snapshot payload")                           */
/*
 * The store as bytes, little-endian: u64 index; the tree in pre-order,
 * children in creation order, one record each:
 *     u8 1 (directory) | u8 0 (file), u32 name length, name, u64 created,
 *     u64 modified, and for a file u32 value length, value;
 *     u8 2 closes the directory opened last;
 *     u8 5 (directory) | u8 4 (file): the same for a node with a TTL,
 *     followed by u64 expiration (Unix ms);
 * then u8 3, the event history oldest first: u32 count, and per event
 *     u64 index, u8 dir_delete, u32 key length, key, u32 body length, body.
 * Between the index and the tree, u8 6 and u64 clock (Unix ms) if the
 * store's clock is set. Stores without TTLs write what raftd wrote before
 * TTLs existed, and those snapshots load as they did.
 * So a restored store answers reads, writes and watches with a waitIndex
 * exactly as the original would.
 */

enum {
    SNAP_FILE = 0, SNAP_DIR = 1, SNAP_END = 2, SNAP_HIST = 3,
    SNAP_FILE_TTL = 4, SNAP_DIR_TTL = 5, SNAP_CLOCK = 6,
};

static void buf_le(struct buf *b, uint64_t v, unsigned bytes)
{
    char t[8];
    for (unsigned i = 0; i < bytes; i++)
        t[i] = (char)(v >> (8 * i));
    buf_add(b, t, bytes);
}

static void snap_bytes(struct buf *b, const char *p, size_t n)
{
    buf_le(b, n, 4);
    buf_add(b, p, n);
}

static void snap_node(struct buf *b, const struct node *n)
{
    if (n->expire_ms)
        buf_addc(b, n->dir ? SNAP_DIR_TTL : SNAP_FILE_TTL);
    else
        buf_addc(b, n->dir ? SNAP_DIR : SNAP_FILE);
    snap_bytes(b, n->name, n->name_len);
    buf_le(b, n->created, 8);
    buf_le(b, n->modified, 8);
    if (!n->dir)
        snap_bytes(b, n->value, n->value_len);
    if (n->expire_ms)
        buf_le(b, (uint64_t)n->expire_ms, 8);
}

/* The sibling after c under its parent, or NULL at the end of the list. */
static const struct node *next_sibling(const struct node *c)
{
    return c->next == c->parent->kids ? NULL : c->next;
}

char *kv_snapshot(const struct kv *kv, size_t *len)
{
    struct buf b = {0};
    buf_le(&b, kv->index, 8);
    if (kv->clock_ms) {
        buf_addc(&b, SNAP_CLOCK);
        buf_le(&b, (uint64_t)kv->clock_ms, 8);
    }
    const struct node *d = kv->root, *c = d->kids;
    for (;;) { /* iterative pre-order walk */
        if (c) {
            snap_node(&b, c);
            if (c->dir) {
                d = c;
                c = c->kids;
            } else {
                c = next_sibling(c);
            }
            continue;
        }
        if (d == kv->root)
            break;
        buf_addc(&b, SNAP_END);
        c = next_sibling(d);
        d = d->parent;
    }
    buf_addc(&b, SNAP_HIST);
    buf_le(&b, kv->hist_n, 4);
    for (size_t i = 0; i < kv->hist_n; i++) {
        const struct event *e = &kv->hist[(kv->hist_start + i) % KV_HISTORY];
        buf_le(&b, e->index, 8);
        buf_addc(&b, e->dir_delete ? 1 : 0);
        snap_bytes(&b, e->key, e->key_len);
        snap_bytes(&b, e->body, e->len);
    }
    return buf_take(&b, len);
}

struct snap_reader {
    const unsigned char *p;
    size_t len, off;
    bool bad;
};

static uint64_t snap_le(struct snap_reader *r, unsigned bytes)
{
    if (r->bad || r->len - r->off < bytes) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->off + i] << (8 * i);
    r->off += bytes;
    return v;
}

/* A length-prefixed byte string; NULL (and r->bad) if it overruns. */
static const char *snap_str(struct snap_reader *r, size_t *n)
{
    *n = (size_t)snap_le(r, 4);
    if (r->bad || r->len - r->off < *n) {
        r->bad = true;
        return NULL;
    }
    const char *s = (const char *)r->p + r->off;
    r->off += *n;
    return s;
}

/* One pass over the bytes: names are short, and two memchr() calls per
 * name cost more than the loop (a snapshot has one name per key). */
static bool valid_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == '\0')
            return false;
    return n > 0;
}

/* Loading is two passes, because a large store's cost is memory, not
 * parsing: the records become nodes linked into the tree (one allocation
 * each), collected in a vector with their hashes, those with a TTL in the
 * heap's array; then the table, sized once for all of them, indexes them,
 * and the heap is ordered in one go. Inserting node by node instead grew
 * the table ~20 times (rehashing it) and missed the cache at every probe;
 * the hash is taken while the node is still in the cache. */
struct snap_nodes {
    struct snap_node {
        struct node *n;
        uint64_t h;
    } *v;
    size_t n, cap;
};

static void snap_nodes_push(struct snap_nodes *ns, struct node *n, uint64_t h)
{
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? 2 * ns->cap : 1024;
        if (ns->cap > SIZE_MAX / sizeof *ns->v)
            oom();
        ns->v = xrealloc(ns->v, ns->cap * sizeof *ns->v);
    }
    ns->v[ns->n++] = (struct snap_node){n, h};
}

/* Put n into the TTL heap's array; snap_build_heap() orders it. */
static void snap_ttl_push(struct kv *kv, struct node *n)
{
    if (kv->ttl_n == kv->ttl_cap) {
        kv->ttl_cap = kv->ttl_cap ? 2 * kv->ttl_cap : 16;
        kv->ttl = xrealloc(kv->ttl, kv->ttl_cap * sizeof *kv->ttl);
    }
    ttl_place(kv, kv->ttl_n++, n);
}

/* One tree record into dir cur; returns the directory to continue in, or
 * NULL if the record is malformed. Duplicate names are found later, by
 * snap_index_nodes(). */
static struct node *snap_load_node(struct kv *kv, struct node *cur,
                                   struct snap_reader *r, bool dir, bool ttl,
                                   struct snap_nodes *ns)
{
    size_t nl, vl = 0;
    const char *name = snap_str(r, &nl);
    uint64_t created = snap_le(r, 8), modified = snap_le(r, 8);
    const char *value = dir ? NULL : snap_str(r, &vl);
    uint64_t exp = ttl ? snap_le(r, 8) : 0;
    if (r->bad || !valid_name(name, nl) ||
        (value && memchr(value, '\0', vl)) ||
        (ttl && (exp == 0 || exp > (uint64_t)KV_TIME_MAX + KV_TTL_MAX * 1000)))
        return NULL;
    struct node *n = node_alloc(name, nl, value, vl);
    n->dir = dir;
    n->created = created;
    n->modified = modified;
    n->expire_ms = (int64_t)exp;
    node_link(kv, cur, n);
    snap_nodes_push(ns, n, child_hash(kv, cur, n->name, nl));
    if (exp)
        snap_ttl_push(kv, n);
    return dir ? n : cur;
}

/* Make room in t for n entries at once (an empty table). */
static void ht_reserve(struct htab *t, size_t n)
{
    size_t cap = 16;
    while ((n + 1) * 10 > cap * 7) {
        if (cap > SIZE_MAX / sizeof(struct hslot) / 4)
            oom();
        cap *= 2;
    }
    if (cap <= t->cap)
        return;
    assert(t->n == 0);
    free(t->s);
    t->s = xcalloc(cap, sizeof *t->s);
    t->cap = cap;
}

/* Insert p under h unless an equal element is there (then false). The
 * table must have room (ht_reserve). */
static bool ht_insert_new(struct htab *t, uint64_t h, ht_eq_fn eq, void *p,
                          const void *key)
{
    size_t mask = t->cap - 1, i = h & mask;
    for (; t->s[i].p; i = (i + 1) & mask)
        if (t->s[i].h == h && eq(t->s[i].p, key))
            return false;
    t->s[i].h = h;
    t->s[i].p = p;
    t->n++;
    return true;
}

/* Whether two nodes are siblings of one name (ht_insert_new's eq). */
static bool same_child(const void *elem, const void *key)
{
    const struct node *a = elem, *b = key;
    return a->parent == b->parent && a->name_len == b->name_len &&
           memcmp(a->name, b->name, a->name_len) == 0;
}

/* Put the loaded nodes into the table; false if two siblings share a
 * name. The slot of the node SNAP_AHEAD places on is prefetched, so the
 * cache misses of a table much larger than the cache overlap; a node
 * itself is read only when its hash collides. */
#define SNAP_AHEAD 16
static bool snap_index_nodes(struct kv *kv, const struct snap_nodes *ns)
{
    struct htab *t = &kv->nodes;
    ht_reserve(t, t->n + ns->n);
    size_t mask = t->cap - 1;
    for (size_t i = 0; i < ns->n; i++) {
        if (i + SNAP_AHEAD < ns->n)
            __builtin_prefetch(&t->s[ns->v[i + SNAP_AHEAD].h & mask], 1);
        if (!ht_insert_new(t, ns->v[i].h, same_child, ns->v[i].n, ns->v[i].n))
            return false;
    }
    return true;
}

/* Order the TTL heap of the loaded nodes bottom-up, in O(n) (Floyd). Its
 * layout may differ from one built entry by entry, but never what it
 * yields: (expiration, createdIndex, depth) is a total order. */
static void snap_build_heap(struct kv *kv)
{
    for (size_t i = kv->ttl_n / 2; i-- > 0;)
        ttl_sift_down(kv, i);
}

static int snap_load_history(struct kv *kv, struct snap_reader *r)
{
    uint64_t count = snap_le(r, 4);
    if (count > KV_HISTORY)
        return -1;
    for (uint64_t i = 0; i < count && !r->bad; i++) {
        uint64_t index = snap_le(r, 8);
        uint64_t dd = snap_le(r, 1);
        size_t kl, bl;
        const char *key = snap_str(r, &kl);
        const char *body = snap_str(r, &bl);
        if (r->bad || dd > 1)
            return -1;
        struct event *e = hist_push(kv);
        e->index = index;
        e->dir_delete = dd;
        e->key = xmemdup(key, kl);
        e->key_len = kl;
        e->body = xmemdup(body, bl);
        e->len = bl;
    }
    return r->bad || r->off != r->len ? -1 : 0;
}

/* The tree records, up to the history marker, into kv (its root). */
static int snap_load_tree(struct kv *kv, struct snap_reader *r,
                          struct snap_nodes *ns)
{
    struct node *cur = kv->root;
    while (!r->bad) {
        uint64_t type = snap_le(r, 1);
        if (type == SNAP_HIST)
            return cur == kv->root ? 0 : -1;
        if (type == SNAP_END) {
            if (cur == kv->root)
                return -1;
            cur = cur->parent;
            continue;
        }
        if (type != SNAP_FILE && type != SNAP_DIR && type != SNAP_FILE_TTL &&
            type != SNAP_DIR_TTL)
            return -1;
        cur = snap_load_node(kv, cur, r,
                             type == SNAP_DIR || type == SNAP_DIR_TTL,
                             type == SNAP_FILE_TTL || type == SNAP_DIR_TTL,
                             ns);
        if (!cur)
            return -1;
    }
    return -1;
}

static int snap_load(struct kv *kv, struct snap_reader *r)
{
    kv->index = snap_le(r, 8);
    if (r->len - r->off > 0 && r->p[r->off] == SNAP_CLOCK) {
        r->off++;
        uint64_t clock = snap_le(r, 8);
        if (clock == 0 || clock > (uint64_t)KV_TIME_MAX)
            return -1;
        kv->clock_ms = (int64_t)clock;
    }
    struct snap_nodes ns = {0};
    int rv = snap_load_tree(kv, r, &ns) < 0 || !snap_index_nodes(kv, &ns)
                 ? -1 : 0;
    if (rv == 0) {
        snap_build_heap(kv);
        rv = snap_load_history(kv, r);
    }
    free(ns.v);
    return rv;
}

int kv_restore(struct kv *kv, const void *data, size_t len)
{
    struct kv *t = kv_new();
    t->seed = kv->seed; /* the watch table is hashed with it */
    struct snap_reader r = {.p = data, .len = len};
    if (snap_load(t, &r) < 0) {
        kv_free(t);
        return -1;
    }
    /* swap the contents; the watches stay with kv (they are this node's
     * clients, not replicated state) */
    struct kv old = *kv;
    kv->root = t->root;
    kv->index = t->index;
    kv->nodes = t->nodes;
    kv->nfiles = t->nfiles;
    kv->ndirs = t->ndirs;
    memcpy(kv->hist, t->hist, sizeof kv->hist);
    kv->hist_start = t->hist_start;
    kv->hist_n = t->hist_n;
    kv->ttl = t->ttl;
    kv->ttl_n = t->ttl_n;
    kv->ttl_cap = t->ttl_cap;
    kv->clock_ms = t->clock_ms;
    t->ttl = old.ttl;
    t->ttl_n = old.ttl_n;
    t->ttl_cap = old.ttl_cap;
    t->root = old.root;
    t->nodes = old.nodes;
    memcpy(t->hist, old.hist, sizeof t->hist);
    t->hist_start = old.hist_start;
    t->hist_n = old.hist_n;
    kv_free(t);
    return 0;
}
