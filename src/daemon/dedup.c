/* dedup.c - exactly-once client requests with client sessions (see
 * dedup.h). A small array of sessions (looked up linearly: at most
 * DEDUP_MAX_SESSIONS), each with its answers sorted by seq; a ring of
 * closed sessions. Everything here depends only on the sequence of
 * dedup_begin()/dedup_remember() calls, i.e. on the applied entries. */
#include "dedup.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct answer {
    uint64_t seq;
    uint64_t stamp; /* clock when remembered (legacy sessions forget the
                       oldest first) */
    struct kv_result res;
};

struct session {
    uint64_t origin, inc;
    uint64_t ack_max;  /* every seq below is finished: STALE */
    uint64_t used;     /* clock of the last entry of this session */
    struct answer *a;  /* a[first .. first + n), by increasing seq */
    size_t first, n, cap;
};

struct tomb {
    uint64_t origin, inc;
};

struct dedup {
    struct session s[DEDUP_MAX_SESSIONS];
    size_t n_sessions;
    struct tomb tomb[DEDUP_MAX_TOMBSTONES]; /* ring, oldest at tomb_next
                                               once full */
    size_t n_tomb, tomb_next;
    uint64_t clock;   /* +1 per dedup_begin() */
    size_t answers;   /* total kept */
    size_t last;      /* session of the last dedup_begin() */
};

struct dedup *dedup_new(void)
{
    return calloc(1, sizeof(struct dedup));
}

static void session_clear(struct dedup *d, struct session *s)
{
    for (size_t i = 0; i < s->n; i++)
        kv_result_free(&s->a[s->first + i].res);
    d->answers -= s->n;
    free(s->a);
    memset(s, 0, sizeof(*s));
}

void dedup_free(struct dedup *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_sessions; i++)
        session_clear(d, &d->s[i]);
    free(d);
}

size_t dedup_count(const struct dedup *d)
{
    return d->answers;
}

size_t dedup_session_count(const struct dedup *d)
{
    return d->n_sessions;
}

/* ---- header ---- */

size_t dedup_header(char *buf, const struct dedup_ident *id)
{
    int n = snprintf(buf, DEDUP_HEADER_MAX,
                     "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
                     id->origin, id->inc, id->seq, id->ack);
    return n > 0 ? (size_t)n : 0;
}

/* A decimal number ending in ' ' or '\n' (returned in *stop). */
static int parse_u64(const char **p, const char *end, uint64_t *out, char *stop)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (s == end || (*s != ' ' && *s != '\n'))
        return -1;
    *stop = *s;
    *p = s + 1;
    *out = v;
    return 0;
}

int dedup_parse(const void *entry, size_t len, struct dedup_ident *id,
                size_t *header_len)
{
    if (!entry)
        return -1;
    const char *p = entry;
    const char *end = p + (len < DEDUP_HEADER_MAX ? len : DEDUP_HEADER_MAX);
    uint64_t v[4];
    char stop = 0;
    unsigned k = 0;
    while (k < 4) {
        if (parse_u64(&p, end, &v[k], &stop) < 0)
            return -1;
        k++;
        if (stop == '\n')
            break;
    }
    if (stop != '\n')
        return -1;
    if (k == 2) { /* legacy "<origin> <id>" */
        *id = (struct dedup_ident){.origin = v[0], .inc = 0, .seq = v[1],
                                   .ack = 0};
    } else if (k == 4 && v[1] != 0) {
        *id = (struct dedup_ident){.origin = v[0], .inc = v[1], .seq = v[2],
                                   .ack = v[3]};
    } else {
        return -1;
    }
    *header_len = (size_t)(p - (const char *)entry);
    return 0;
}

/* ---- the table ---- */

static struct session *find_session(struct dedup *d, uint64_t origin,
                                    uint64_t inc)
{
    for (size_t i = 0; i < d->n_sessions; i++)
        if (d->s[i].origin == origin && d->s[i].inc == inc)
            return &d->s[i];
    return NULL;
}

static bool is_tomb(const struct dedup *d, uint64_t origin, uint64_t inc)
{
    for (size_t i = 0; i < d->n_tomb; i++)
        if (d->tomb[i].origin == origin && d->tomb[i].inc == inc)
            return true;
    return false;
}

static void tomb_add(struct dedup *d, uint64_t origin, uint64_t inc)
{
    d->tomb[d->tomb_next] = (struct tomb){origin, inc};
    d->tomb_next = (d->tomb_next + 1) % DEDUP_MAX_TOMBSTONES;
    if (d->n_tomb < DEDUP_MAX_TOMBSTONES)
        d->n_tomb++;
}

/* Close session s (a v2 one is tombstoned: its copies become STALE; a
 * legacy one is just forgotten). The last session takes its place. */
static void session_close(struct dedup *d, struct session *s)
{
    if (s->inc)
        tomb_add(d, s->origin, s->inc);
    session_clear(d, s);
    struct session *last = &d->s[d->n_sessions - 1];
    if (s != last) {
        *s = *last;
        memset(last, 0, sizeof(*last));
    }
    d->n_sessions--;
}

/* Index in s->a of the answer to seq, or of where it would go. */
static size_t answer_pos(const struct session *s, uint64_t seq, bool *found)
{
    size_t lo = s->first, hi = s->first + s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->a[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < s->first + s->n && s->a[lo].seq == seq;
    return lo;
}

static void answer_remove(struct dedup *d, struct session *s, size_t pos)
{
    kv_result_free(&s->a[pos].res);
    if (pos == s->first) {
        s->first++;
    } else {
        memmove(&s->a[pos], &s->a[pos + 1],
                (s->first + s->n - pos - 1) * sizeof(s->a[0]));
    }
    s->n--;
    d->answers--;
    if (!s->n)
        s->first = 0;
}

/* Raise ack_max to ack and forget the answers below it. */
static void session_ack(struct dedup *d, struct session *s, uint64_t ack)
{
    if (ack <= s->ack_max)
        return;
    s->ack_max = ack;
    while (s->n && s->a[s->first].seq < ack)
        answer_remove(d, s, s->first);
}

/* Make room for one more answer at the end of s->a; false if out of
 * memory. Compacts (and shrinks a mostly empty array). */
static bool answer_room(struct session *s)
{
    bool shrink = s->cap > 64 && s->n < s->cap / 4;
    if (s->first && (s->first + s->n == s->cap || shrink)) {
        memmove(s->a, s->a + s->first, s->n * sizeof(s->a[0]));
        s->first = 0;
    }
    if (shrink) {
        struct answer *a = realloc(s->a, s->cap / 2 * sizeof(s->a[0]));
        if (a) {
            s->a = a;
            s->cap /= 2;
        }
    }
    if (s->first + s->n < s->cap)
        return true;
    size_t cap = s->cap ? s->cap * 2 : 8;
    struct answer *a = realloc(s->a, cap * sizeof(s->a[0]));
    if (!a)
        return false;
    s->a = a;
    s->cap = cap;
    return true;
}

/* Insert a copy of res as the answer to seq (not yet present). */
static void answer_insert(struct dedup *d, struct session *s, uint64_t seq,
                          uint64_t stamp, const struct kv_result *res)
{
    if (!answer_room(s))
        return; /* out of memory: forgotten (kv aborts long before) */
    bool found;
    size_t pos = answer_pos(s, seq, &found);
    memmove(&s->a[pos + 1], &s->a[pos],
            (s->first + s->n - pos) * sizeof(s->a[0]));
    struct answer *a = &s->a[pos];
    a->seq = seq;
    a->stamp = stamp;
    a->res = *res;
    a->res.body = malloc(res->len + 1);
    if (a->res.body) {
        memcpy(a->res.body, res->body, res->len);
        a->res.body[res->len] = 0;
    } else {
        a->res.len = 0; /* out of memory: an empty answer, still only once */
    }
    s->n++;
    d->answers++;
    if (s->n <= DEDUP_MAX_PER_SESSION)
        return;
    if (s->inc) { /* drop the lowest seq: its copies become STALE */
        session_ack(d, s, s->a[s->first].seq + 1);
    } else {      /* legacy: forget the oldest answer, as the old ring did */
        size_t oldest = s->first;
        for (size_t i = s->first + 1; i < s->first + s->n; i++)
            if (s->a[i].stamp < s->a[oldest].stamp)
                oldest = i;
        answer_remove(d, s, oldest);
    }
}

/* A new session; the least recently used one is closed if the table is
 * full. NULL only if origin/inc is already there (never). */
static struct session *session_open(struct dedup *d, uint64_t origin,
                                    uint64_t inc)
{
    if (d->n_sessions == DEDUP_MAX_SESSIONS) {
        struct session *lru = &d->s[0];
        for (size_t i = 1; i < d->n_sessions; i++)
            if (d->s[i].used < lru->used)
                lru = &d->s[i];
        session_close(d, lru);
    }
    struct session *s = &d->s[d->n_sessions++];
    memset(s, 0, sizeof(*s));
    s->origin = origin;
    s->inc = inc;
    return s;
}

enum dedup_verdict dedup_begin(struct dedup *d, const struct dedup_ident *id,
                               const struct kv_result **first)
{
    d->clock++;
    if (id->inc && id->ack > id->seq)
        return DEDUP_STALE; /* malformed: never applied */
    struct session *s = find_session(d, id->origin, id->inc);
    if (!s) {
        if (id->inc) {
            if (is_tomb(d, id->origin, id->inc))
                return DEDUP_STALE;
            /* A new incarnation: the origin restarted, the requests of
             * its earlier ones can no longer be sent again. */
            for (size_t i = 0; i < d->n_sessions;)
                if (d->s[i].origin == id->origin && d->s[i].inc)
                    session_close(d, &d->s[i]);
                else
                    i++;
        }
        s = session_open(d, id->origin, id->inc);
    }
    s->used = d->clock;
    d->last = (size_t)(s - d->s);
    if (id->inc && id->seq < s->ack_max)
        return DEDUP_STALE;
    bool found;
    size_t pos = answer_pos(s, id->seq, &found);
    enum dedup_verdict v = found ? DEDUP_DONE : DEDUP_NEW;
    if (found)
        *first = &s->a[pos].res;
    if (id->inc && id->ack > s->ack_max) {
        session_ack(d, s, id->ack); /* ack <= seq: keeps this answer */
        if (found)
            *first = &s->a[answer_pos(s, id->seq, &found)].res;
    }
    return v;
}

void dedup_remember(struct dedup *d, const struct dedup_ident *id,
                    const struct kv_result *res)
{
    struct session *s = d->last < d->n_sessions ? &d->s[d->last] : NULL;
    if (!s || s->origin != id->origin || s->inc != id->inc)
        s = find_session(d, id->origin, id->inc);
    if (!s || (id->inc && id->seq < s->ack_max))
        return;
    bool found;
    answer_pos(s, id->seq, &found);
    if (!found)
        answer_insert(d, s, id->seq, d->clock, res);
}

/* ---- snapshots (doc/storage.md, "Snapshot payload") ----
 *
 * v2: "RDDS", u32 version 2, u64 clock, u32 tombstones then each (origin
 * u64, incarnation u64) oldest first, u32 sessions then each: origin u64,
 * incarnation u64, ack_max u64, used u64, u32 answers then each: seq u64,
 * stamp u64, status u16, error_code u16, etcd index u64, body length u32,
 * body. Little-endian.
 * v1 (older raftd): u32 count, then each: origin u64, id u64, status u16,
 * error_code u16, index u64, len u32, body; oldest first. */

static const unsigned char magic[4] = {'R', 'D', 'D', 'S'};
#define SNAP_VERSION 2

static void put_le(unsigned char **p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        (*p)[i] = (unsigned char)(v >> (8 * i));
    *p += n;
}

char *dedup_snapshot(const struct dedup *d, size_t *len)
{
    size_t size = 4 + 4 + 8 + 4 + 16 * d->n_tomb + 4;
    for (size_t i = 0; i < d->n_sessions; i++) {
        const struct session *s = &d->s[i];
        size += 36;
        for (size_t k = 0; k < s->n; k++)
            size += 32 + s->a[s->first + k].res.len;
    }
    char *out = malloc(size);
    if (!out)
        return NULL;
    unsigned char *p = (unsigned char *)out;
    memcpy(p, magic, 4);
    p += 4;
    put_le(&p, SNAP_VERSION, 4);
    put_le(&p, d->clock, 8);
    put_le(&p, d->n_tomb, 4);
    size_t oldest = d->n_tomb < DEDUP_MAX_TOMBSTONES ? 0 : d->tomb_next;
    for (size_t k = 0; k < d->n_tomb; k++) {
        const struct tomb *t = &d->tomb[(oldest + k) % DEDUP_MAX_TOMBSTONES];
        put_le(&p, t->origin, 8);
        put_le(&p, t->inc, 8);
    }
    put_le(&p, d->n_sessions, 4);
    for (size_t i = 0; i < d->n_sessions; i++) {
        const struct session *s = &d->s[i];
        put_le(&p, s->origin, 8);
        put_le(&p, s->inc, 8);
        put_le(&p, s->ack_max, 8);
        put_le(&p, s->used, 8);
        put_le(&p, s->n, 4);
        for (size_t k = 0; k < s->n; k++) {
            const struct answer *a = &s->a[s->first + k];
            put_le(&p, a->seq, 8);
            put_le(&p, a->stamp, 8);
            put_le(&p, a->res.status, 2);
            put_le(&p, a->res.error_code, 2);
            put_le(&p, a->res.index, 8);
            put_le(&p, a->res.len, 4);
            if (a->res.len)
                memcpy(p, a->res.body, a->res.len);
            p += a->res.len;
        }
    }
    *len = size;
    return out;
}

static uint64_t get_le(const unsigned char **p, size_t *room, unsigned n,
                       bool *bad)
{
    if (*bad || *room < n) {
        *bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)(*p)[i] << (8 * i);
    *p += n;
    *room -= n;
    return v;
}

/* An answer's result; body points into the input (copied on insert). */
static void get_result(const unsigned char **p, size_t *room, bool *bad,
                       struct kv_result *res)
{
    memset(res, 0, sizeof(*res));
    res->status = (unsigned)get_le(p, room, 2, bad);
    res->error_code = (unsigned)get_le(p, room, 2, bad);
    res->index = get_le(p, room, 8, bad);
    res->len = (size_t)get_le(p, room, 4, bad);
    if (*bad || *room < res->len) {
        *bad = true;
        return;
    }
    res->body = (char *)*p;
    *p += res->len;
    *room -= res->len;
}

/* The v1 format: every answer becomes a legacy (incarnation 0) answer,
 * remembered in the same order. */
static bool restore_v1(struct dedup *t, const unsigned char *p, size_t room)
{
    bool bad = false;
    uint64_t count = get_le(&p, &room, 4, &bad);
    for (uint64_t i = 0; i < count && !bad; i++) {
        struct dedup_ident id = {0};
        id.origin = get_le(&p, &room, 8, &bad);
        id.seq = get_le(&p, &room, 8, &bad);
        struct kv_result res;
        get_result(&p, &room, &bad, &res);
        if (bad)
            break;
        const struct kv_result *first;
        if (dedup_begin(t, &id, &first) == DEDUP_NEW)
            dedup_remember(t, &id, &res);
    }
    return !bad && !room;
}

static bool restore_v2(struct dedup *t, const unsigned char *p, size_t room)
{
    bool bad = false;
    p += 4;
    room -= 4;
    if (get_le(&p, &room, 4, &bad) != SNAP_VERSION)
        return false;
    t->clock = get_le(&p, &room, 8, &bad);
    uint64_t n_tomb = get_le(&p, &room, 4, &bad);
    if (bad || n_tomb > DEDUP_MAX_TOMBSTONES)
        return false;
    for (uint64_t k = 0; k < n_tomb && !bad; k++) {
        uint64_t origin = get_le(&p, &room, 8, &bad);
        uint64_t inc = get_le(&p, &room, 8, &bad);
        if (bad || !inc || is_tomb(t, origin, inc))
            return false;
        tomb_add(t, origin, inc);
    }
    uint64_t n_sessions = get_le(&p, &room, 4, &bad);
    if (bad || n_sessions > DEDUP_MAX_SESSIONS)
        return false;
    for (uint64_t i = 0; i < n_sessions; i++) {
        uint64_t origin = get_le(&p, &room, 8, &bad);
        uint64_t inc = get_le(&p, &room, 8, &bad);
        uint64_t ack_max = get_le(&p, &room, 8, &bad);
        uint64_t used = get_le(&p, &room, 8, &bad);
        uint64_t n = get_le(&p, &room, 4, &bad);
        if (bad || n > DEDUP_MAX_PER_SESSION || used > t->clock ||
            find_session(t, origin, inc) || (inc && is_tomb(t, origin, inc)) ||
            (!inc && ack_max))
            return false;
        for (size_t j = 0; inc && j < t->n_sessions; j++)
            if (t->s[j].origin == origin && t->s[j].inc)
                return false; /* two open incarnations of one origin */
        struct session *s = &t->s[t->n_sessions++];
        s->origin = origin;
        s->inc = inc;
        s->ack_max = ack_max;
        s->used = used;
        for (uint64_t k = 0; k < n; k++) {
            uint64_t seq = get_le(&p, &room, 8, &bad);
            uint64_t stamp = get_le(&p, &room, 8, &bad);
            struct kv_result res;
            get_result(&p, &room, &bad, &res);
            if (bad || stamp > t->clock || seq < ack_max ||
                (s->n && seq <= s->a[s->first + s->n - 1].seq))
                return false;
            size_t before = s->n;
            answer_insert(t, s, seq, stamp, &res);
            if (s->n == before)
                return false; /* out of memory */
        }
    }
    return !bad && !room;
}

int dedup_restore(struct dedup *d, const void *data, size_t len)
{
    struct dedup *t = dedup_new();
    if (!t || (len && !data)) {
        dedup_free(t);
        return -1;
    }
    bool ok = len >= 4 && memcmp(data, magic, 4) == 0
                  ? restore_v2(t, data, len)
                  : restore_v1(t, data, len);
    if (!ok) {
        dedup_free(t);
        return -1;
    }
    struct dedup old = *d;
    *d = *t;
    *t = old;
    dedup_free(t);
    return 0;
}
