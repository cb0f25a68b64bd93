/* peer_auth.c - cluster identity and HMAC-SHA256 authentication of peer
 * requests and their answers (see peer_auth.h). */
#include "peer_auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "hex.h"

/* Every path that only members may use. A nonce's counter runs per
 * destination and path, so requests on one path (one at a time for
 * snapshots, a bounded number in flight for the others) never fall more
 * than a replay window behind each other. */
static const char *const peer_paths[] = {
    "/raft/request_vote", "/raft/append_entries", "/raft/timeout_now",
    "/raft/install_snapshot", "/raft/propose", "/raft/read_index",
    "/raft/reconfigure",
};
#define N_PEER_PATHS (sizeof(peer_paths) / sizeof(peer_paths[0]))
/* Operators' requests (PEER_AUTH_ADMIN_PREFIX) share one more slot. */
#define ADMIN_SLOT N_PEER_PATHS
#define N_PATHS (N_PEER_PATHS + 1)
#define WINDOW_WORDS (PEER_AUTH_REPLAY_WINDOW / 64)

struct window {        /* counters seen on one path */
    uint64_t max;      /* highest counter accepted (0: none yet) */
    uint64_t bits[WINDOW_WORDS]; /* bit (max - c): counter c was seen */
};
struct incarnation {
    uint64_t id;       /* 0: slot free */
    uint64_t last_ms;  /* newest timestamp accepted from it */
    struct window path[N_PATHS];
};
struct sender {        /* what this node remembers of one peer */
    raft_id id;
    size_t n_inc;      /* PEER_AUTH_[OPERATOR_]INCARNATIONS */
    struct incarnation *inc;
};
struct destination {   /* this node's counters towards one peer */
    raft_id id;
    uint64_t counter[N_PATHS];
};

struct peer_auth {
    bool has_secret;
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;  /* keyed with the secret; re-initialised per use */
    uint64_t cluster;
    bool joining;      /* peer_auth_set_joining() */
    raft_id self;
    uint64_t incarnation;
    struct sender *senders;
    size_t n_senders;
    struct destination *dests;
    size_t n_dests;
};

int peer_auth_path_index(const char *path)
{
    for (size_t i = 0; i < N_PEER_PATHS; i++)
        if (strcmp(path, peer_paths[i]) == 0)
            return (int)i;
    return -1;
}

bool peer_auth_is_admin_path(const char *path)
{
    size_t n = strlen(PEER_AUTH_ADMIN_PREFIX);
    return strncmp(path, PEER_AUTH_ADMIN_PREFIX, n) == 0 && path[n] != 0;
}

/* The replay window slot of a path (-1: not one of the kind). */
static int path_slot(const char *path, bool admin)
{
    if (admin)
        return peer_auth_is_admin_path(path) ? (int)ADMIN_SLOT : -1;
    return peer_auth_path_index(path);
}

struct peer_auth *peer_auth_new(const uint8_t *secret, size_t len,
                                uint64_t cluster_id, raft_id self,
                                uint64_t incarnation)
{
    if (secret && (len < PEER_AUTH_SECRET_MIN || len > PEER_AUTH_SECRET_MAX))
        return NULL;
    struct peer_auth *pa = calloc(1, sizeof(*pa));
    if (!pa)
        return NULL;
    pa->cluster = cluster_id;
    pa->self = self;
    pa->incarnation = incarnation ? incarnation : 1;
    if (secret) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                             (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
        };
        pa->has_secret = true;
        pa->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        pa->ctx = pa->mac ? EVP_MAC_CTX_new(pa->mac) : NULL;
        if (!pa->ctx || !EVP_MAC_init(pa->ctx, secret, len, params)) {
            peer_auth_free(pa);
            return NULL;
        }
    }
    return pa;
}

void peer_auth_free(struct peer_auth *pa)
{
    if (!pa)
        return;
    EVP_MAC_CTX_free(pa->ctx);
    EVP_MAC_free(pa->mac);
    for (size_t i = 0; i < pa->n_senders; i++)
        free(pa->senders[i].inc);
    free(pa->senders);
    free(pa->dests);
    free(pa);
}

bool peer_auth_has_secret(const struct peer_auth *pa)
{
    return pa->has_secret;
}

uint64_t peer_auth_cluster(const struct peer_auth *pa)
{
    return pa->cluster;
}

void peer_auth_set_joining(struct peer_auth *pa, bool joining)
{
    pa->joining = joining;
}

void peer_auth_set_cluster(struct peer_auth *pa, uint64_t cluster_id)
{
    pa->cluster = cluster_id;
    pa->joining = false;
}

/* ---- MACs ---- */

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* HMAC-SHA256(secret, head || body) as 64 hex digits. */
static void mac_hex(const struct peer_auth *pa, const char *head,
                    const void *body, size_t len, char out[65])
{
    uint8_t md[32];
    size_t mdlen = 0;
    if (!EVP_MAC_init(pa->ctx, NULL, 0, NULL) ||
        !EVP_MAC_update(pa->ctx, (const uint8_t *)head, strlen(head)) ||
        (len && !EVP_MAC_update(pa->ctx, body, len)) ||
        !EVP_MAC_final(pa->ctx, md, &mdlen, sizeof(md)) || mdlen != 32)
        memset(md, 0, sizeof(md)); /* cannot happen; matches nothing real */
    hex(md, 32, out);
}

/* What a request's MACs cover besides the body: kind "head" (k=, checked
 * before the body is read) or "request" (m=, with the body). A member's
 * request begins "raftd-peer-", an operator's "raftd-admin-": the one can
 * never verify as the other. */
static void request_head(char *buf, size_t len, bool admin, const char *kind,
                         const char *method, const char *path,
                         const char *fields)
{
    snprintf(buf, len, "raftd-%s-%s-v1\n%s\n%s\n%s\n",
             admin ? "admin" : "peer", kind, method, path, fields);
}

static void response_head(char *buf, size_t len, uint64_t cluster,
                          const struct peer_auth_nonce *n, long status)
{
    snprintf(buf, len, "raftd-peer-response-v1\nc=%016" PRIx64 " f=%" PRIu64
             " t=%" PRIu64 " n=%016" PRIx64 ".%" PRIu64 " p=%d s=%ld\n",
             cluster, n->to, n->from, n->incarnation, n->counter, n->path,
             status);
}

/* ---- requests ---- */

static struct destination *destination(struct peer_auth *pa, raft_id id)
{
    for (size_t i = 0; i < pa->n_dests; i++)
        if (pa->dests[i].id == id)
            return &pa->dests[i];
    struct destination *d = realloc(pa->dests, (pa->n_dests + 1) * sizeof(*d));
    if (!d)
        return NULL;
    pa->dests = d;
    d = &pa->dests[pa->n_dests++];
    memset(d, 0, sizeof(*d));
    d->id = id;
    return d;
}

static int sign(struct peer_auth *pa, bool admin, const char *method,
                const char *path, raft_id to, const void *body, size_t len,
                uint64_t now_ms, char header[PEER_AUTH_HEADER_MAX],
                struct peer_auth_nonce *nonce)
{
    int p = path_slot(path, admin);
    struct destination *d = p < 0 ? NULL : destination(pa, to);
    if (!d)
        return -1;
    raft_id from = admin ? PEER_AUTH_OPERATOR : pa->self;
    *nonce = (struct peer_auth_nonce){.from = from, .to = to,
                                      .incarnation = pa->incarnation,
                                      .counter = ++d->counter[p], .path = p};
    char fields[160];
    snprintf(fields, sizeof(fields), "c=%016" PRIx64 " f=%" PRIu64 " t=%"
             PRIu64 " ts=%" PRIu64 " n=%016" PRIx64 ".%" PRIu64, pa->cluster,
             from, to, now_ms, nonce->incarnation, nonce->counter);
    if (!pa->has_secret) {
        snprintf(header, PEER_AUTH_HEADER_MAX, "v1 %s", fields);
        return 0;
    }
    char head[400], key_proof[65], mac[65];
    request_head(head, sizeof(head), admin, "head", method, path, fields);
    mac_hex(pa, head, NULL, 0, key_proof);
    request_head(head, sizeof(head), admin, "request", method, path, fields);
    mac_hex(pa, head, body, len, mac);
    snprintf(header, PEER_AUTH_HEADER_MAX, "v1 %s k=%s m=%s", fields,
             key_proof, mac);
    return 0;
}

int peer_auth_sign_request(struct peer_auth *pa, const char *method,
                           const char *path, raft_id to, const void *body,
                           size_t len, uint64_t now_ms,
                           char header[PEER_AUTH_HEADER_MAX],
                           struct peer_auth_nonce *nonce)
{
    return sign(pa, false, method, path, to, body, len, now_ms, header, nonce);
}

int peer_auth_sign_admin(struct peer_auth *pa, const char *method,
                         const char *path, raft_id to, const void *body,
                         size_t len, uint64_t now_ms,
                         char header[PEER_AUTH_HEADER_MAX],
                         struct peer_auth_nonce *nonce)
{
    return sign(pa, true, method, path, to, body, len, now_ms, header, nonce);
}

unsigned peer_auth_status(enum peer_auth_verdict v)
{
    switch (v) {
    case PEER_AUTH_OK:
        return 200;
    case PEER_AUTH_FOREIGN:
    case PEER_AUTH_WRONG_SENDER:
        return 403;
    case PEER_AUTH_NOT_FOR_US:
        return 409;
    case PEER_AUTH_BUSY:
        return 503;
    default:
        return 401;
    }
}

const char *peer_auth_verdict_name(enum peer_auth_verdict v)
{
    static const char *const names[] = {
        "ok", "missing", "malformed", "foreign", "not_for_us", "no_mac",
        "bad_mac", "stale", "replayed", "wrong_sender", "busy",
    };
    return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

struct parsed {
    uint64_t cluster, from, to, ts, inc, ctr;
    char fields[160];  /* the part the MACs cover, as sent */
    char key_proof[65]; /* k=, "" if unsigned */
    char mac[65];      /* m=, "" if unsigned */
};

/* A member's header names its id (f=1...); an operator's f=0. */
static bool parse_request_header(const char *h, struct parsed *p, bool admin)
{
    int end = 0, fend = 0;
    if (strlen(h) >= PEER_AUTH_HEADER_MAX)
        return false;
    if (sscanf(h, "v1 c=%16" SCNx64 " f=%20" SCNu64 " t=%20" SCNu64
               " ts=%20" SCNu64 " n=%16" SCNx64 ".%20" SCNu64 "%n",
               &p->cluster, &p->from, &p->to, &p->ts, &p->inc, &p->ctr,
               &fend) != 6 || fend < 3)
        return false;
    size_t flen = (size_t)fend - 3;
    if (flen >= sizeof(p->fields))
        return false;
    memcpy(p->fields, h + 3, flen);
    p->fields[flen] = 0;
    p->key_proof[0] = p->mac[0] = 0;
    bool from_ok = admin || p->from; /* admin: checked by check_head */
    if (h[fend] == 0)
        return from_ok && p->inc && p->ctr;
    if (sscanf(h + fend, " k=%64[0-9a-f] m=%64[0-9a-f]%n", p->key_proof,
               p->mac, &end) != 2 ||
        h[fend + end] != 0 || strlen(p->key_proof) != 64 ||
        strlen(p->mac) != 64)
        return false;
    return from_ok && p->inc && p->ctr;
}

/* The incarnation inc of sender from, remembered from now on. A new one
 * takes a free slot, or that of an incarnation whose newest request is
 * older than the window at now_ms: every request of that one is then
 * refused as stale, so forgetting its counters lets nothing be replayed.
 * If every slot holds an incarnation still inside the window, NULL and
 * *retry_s: the seconds until the oldest of them leaves it. (NULL with
 * *retry_s 0: out of memory.) */
static struct incarnation *incarnation_of(struct peer_auth *pa, raft_id from,
                                          uint64_t inc, uint64_t now_ms,
                                          unsigned *retry_s)
{
    struct sender *s = NULL;
    *retry_s = 0;
    for (size_t i = 0; i < pa->n_senders && !s; i++)
        if (pa->senders[i].id == from)
            s = &pa->senders[i];
    if (!s) {
        size_t n = from == PEER_AUTH_OPERATOR ? PEER_AUTH_OPERATOR_INCARNATIONS
                                              : PEER_AUTH_INCARNATIONS;
        struct incarnation *slots = calloc(n, sizeof(*slots));
        if (!slots)
            return NULL;
        s = realloc(pa->senders, (pa->n_senders + 1) * sizeof(*s));
        if (!s) {
            free(slots);
            return NULL;
        }
        pa->senders = s;
        s = &pa->senders[pa->n_senders++];
        *s = (struct sender){.id = from, .n_inc = n, .inc = slots};
    }
    struct incarnation *free_slot = NULL, *oldest = &s->inc[0];
    for (size_t i = 0; i < s->n_inc; i++) {
        if (s->inc[i].id == inc)
            return &s->inc[i];
        if (!s->inc[i].id && !free_slot)
            free_slot = &s->inc[i];
        if (s->inc[i].last_ms < oldest->last_ms)
            oldest = &s->inc[i];
    }
    if (!free_slot) {
        if (oldest->last_ms + PEER_AUTH_WINDOW_MS >= now_ms) {
            uint64_t wait = oldest->last_ms + PEER_AUTH_WINDOW_MS - now_ms;
            *retry_s = (unsigned)(wait / 1000 + 1);
            return NULL;
        }
        free_slot = oldest;
    }
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->id = inc;
    return free_slot;
}

/* Has counter c been seen on this path (or is it too far behind)? */
static bool window_seen(const struct window *w, uint64_t c)
{
    if (c > w->max)
        return false;
    uint64_t back = w->max - c;
    if (back >= PEER_AUTH_REPLAY_WINDOW)
        return true;
    return w->bits[back / 64] >> (back % 64) & 1;
}

static void window_note(struct window *w, uint64_t c)
{
    if (c > w->max) {
        uint64_t shift = c - w->max;
        if (shift >= PEER_AUTH_REPLAY_WINDOW) {
            memset(w->bits, 0, sizeof(w->bits));
        } else {
            unsigned words = (unsigned)(shift / 64), bitsh = shift % 64;
            for (int i = WINDOW_WORDS - 1; i >= 0; i--) {
                uint64_t v = i >= (int)words ? w->bits[i - (int)words] : 0;
                uint64_t lo = i > (int)words && bitsh
                                  ? w->bits[i - (int)words - 1] >> (64 - bitsh)
                                  : 0;
                w->bits[i] = bitsh ? v << bitsh | lo : v;
            }
        }
        w->max = c;
    }
    uint64_t back = w->max - c;
    w->bits[back / 64] |= (uint64_t)1 << (back % 64);
}

/* Everything but the body's MAC and the replay window. */
static enum peer_auth_verdict check_head(const struct peer_auth *pa,
                                         bool admin,
                                         const char *method, const char *path,
                                         const char *header, uint64_t now_ms,
                                         struct parsed *p,
                                         struct peer_auth_nonce *nonce,
                                         char *why, size_t whylen)
{
    int pi = path_slot(path, admin);
    memset(nonce, 0, sizeof(*nonce));
    if (!header) {
        snprintf(why, whylen, admin ? "no %s header: %s must be signed with "
                                      "the cluster's peer secret (sudo "
                                      "raftctl ...)"
                                    : "no %s header: only members of this "
                                      "cluster may send %s",
                 PEER_AUTH_HEADER, path);
        return PEER_AUTH_MISSING;
    }
    if (pi < 0 || !parse_request_header(header, p, admin)) {
        snprintf(why, whylen, "malformed %s header", PEER_AUTH_HEADER);
        return PEER_AUTH_MALFORMED;
    }
    *nonce = (struct peer_auth_nonce){.from = p->from, .to = p->to,
                                      .incarnation = p->inc,
                                      .counter = p->ctr, .path = pi};
    nonce->cluster = p->cluster;
    if (admin && p->from != PEER_AUTH_OPERATOR) {
        snprintf(why, whylen, "the request is signed as node %" PRIu64 ": "
                 "%s requests are signed as the operator (f=0), as raftctl "
                 "does; a member's signature is not accepted", p->from,
                 PEER_AUTH_ADMIN_PREFIX);
        return PEER_AUTH_WRONG_SENDER;
    }
    if (p->cluster != pa->cluster && !pa->joining) {
        snprintf(why, whylen, "the request comes from node %" PRIu64 " of "
                 "cluster %016" PRIx64 "; this is cluster %016" PRIx64
                 " (do the members lists of the two clusters name each "
                 "other's machines?)", p->from, p->cluster, pa->cluster);
        return PEER_AUTH_FOREIGN;
    }
    if (p->to != pa->self) {
        snprintf(why, whylen, "the request is for node %" PRIu64 ", this is "
                 "node %" PRIu64 ": the members lists of the nodes disagree",
                 p->to, pa->self);
        return PEER_AUTH_NOT_FOR_US;
    }
    if (!pa->has_secret)
        return PEER_AUTH_OK; /* peer_auth = "none": no MAC, no replay check */
    if (!p->mac[0]) {
        snprintf(why, whylen, "node %" PRIu64 "'s request is not signed: "
                 "this node requires peer authentication, and node %" PRIu64
                 " runs with peer_auth = \"none\"", p->from, p->from);
        return PEER_AUTH_NO_MAC;
    }
    char head[400], key_proof[65];
    request_head(head, sizeof(head), admin, "head", method, path, p->fields);
    mac_hex(pa, head, NULL, 0, key_proof);
    if (CRYPTO_memcmp(key_proof, p->key_proof, 64) != 0) {
        snprintf(why, whylen, "the request claiming to be from node %" PRIu64
                 " has a wrong signature: it was signed with another peer "
                 "secret, or forged", p->from);
        return PEER_AUTH_BAD_MAC;
    }
    uint64_t skew = p->ts > now_ms ? p->ts - now_ms : now_ms - p->ts;
    if (skew > PEER_AUTH_WINDOW_MS) {
        snprintf(why, whylen, "node %" PRIu64 "'s request is dated %.1f s %s "
                 "this node's clock (at most %.0f s are accepted): a replayed "
                 "request, or the machines' clocks are not synchronised",
                 p->from, skew / 1000.0,
                 p->ts > now_ms ? "ahead of" : "behind",
                 PEER_AUTH_WINDOW_MS / 1000.0);
        return PEER_AUTH_STALE;
    }
    return PEER_AUTH_OK;
}

enum peer_auth_verdict peer_auth_check_head(const struct peer_auth *pa,
                                            const char *method,
                                            const char *path,
                                            const char *header,
                                            uint64_t now_ms, char *why,
                                            size_t whylen)
{
    struct parsed p;
    struct peer_auth_nonce nonce;
    return check_head(pa, false, method, path, header, now_ms, &p, &nonce,
                      why, whylen);
}

static enum peer_auth_verdict check_request(
    struct peer_auth *pa, bool admin, const char *method, const char *path,
    const char *header, const void *body, size_t len, uint64_t now_ms,
    struct peer_auth_nonce *nonce, char *why, size_t whylen)
{
    struct parsed p;
    enum peer_auth_verdict v = check_head(pa, admin, method, path, header,
                                          now_ms, &p, nonce, why, whylen);
    if (v != PEER_AUTH_OK || !pa->has_secret)
        return v;
    char head[400], mac[65];
    request_head(head, sizeof(head), admin, "request", method, path,
                 p.fields);
    mac_hex(pa, head, body, len, mac);
    if (CRYPTO_memcmp(mac, p.mac, 64) != 0) {
        snprintf(why, whylen, "the request claiming to be from node %" PRIu64
                 " has a wrong signature: its body was changed, or it was "
                 "forged", p.from);
        return PEER_AUTH_BAD_MAC;
    }
    struct incarnation *inc = incarnation_of(pa, p.from, p.inc, now_ms,
                                             &nonce->retry_s);
    if (!inc && nonce->retry_s) {
        if (p.from == PEER_AUTH_OPERATOR)
            snprintf(why, whylen, "too many operators' requests (raftctl "
                     "runs) within %.0f s: this node remembers %d, each "
                     "until it is too old to be replayed; retry in %u s",
                     PEER_AUTH_WINDOW_MS / 1000.0,
                     PEER_AUTH_OPERATOR_INCARNATIONS, nonce->retry_s);
        else
            snprintf(why, whylen, "node %" PRIu64 " restarted more than %d "
                     "times within %.0f s: this node remembers each of its "
                     "runs until it is too old to be replayed; retry in %u s",
                     p.from, PEER_AUTH_INCARNATIONS,
                     PEER_AUTH_WINDOW_MS / 1000.0, nonce->retry_s);
        return PEER_AUTH_BUSY;
    }
    if (!inc || window_seen(&inc->path[nonce->path], p.ctr)) {
        snprintf(why, whylen, "node %" PRIu64 "'s request %016" PRIx64 ".%"
                 PRIu64 " on %s was seen before: a replayed request", p.from,
                 p.inc, p.ctr, path);
        return PEER_AUTH_REPLAYED;
    }
    window_note(&inc->path[nonce->path], p.ctr);
    if (p.ts > inc->last_ms)
        inc->last_ms = p.ts;
    return PEER_AUTH_OK;
}

enum peer_auth_verdict peer_auth_check_request(
    struct peer_auth *pa, const char *method, const char *path,
    const char *header, const void *body, size_t len, uint64_t now_ms,
    struct peer_auth_nonce *nonce, char *why, size_t whylen)
{
    return check_request(pa, false, method, path, header, body, len, now_ms,
                         nonce, why, whylen);
}

enum peer_auth_verdict peer_auth_check_admin(
    struct peer_auth *pa, const char *method, const char *path,
    const char *header, const void *body, size_t len, uint64_t now_ms,
    struct peer_auth_nonce *nonce, char *why, size_t whylen)
{
    return check_request(pa, true, method, path, header, body, len, now_ms,
                         nonce, why, whylen);
}

/* ---- answers ---- */

void peer_auth_sign_response(const struct peer_auth *pa,
                             const struct peer_auth_nonce *nonce,
                             unsigned status, const void *body, size_t len,
                             char header[PEER_AUTH_HEADER_MAX])
{
    if (!pa->has_secret) {
        snprintf(header, PEER_AUTH_HEADER_MAX, "v1");
        return;
    }
    char head[300], mac[65];
    response_head(head, sizeof(head), pa->cluster, nonce, (long)status);
    mac_hex(pa, head, body, len, mac);
    snprintf(header, PEER_AUTH_HEADER_MAX, "v1 m=%s", mac);
}

bool peer_auth_check_response(const struct peer_auth *pa,
                              const struct peer_auth_nonce *nonce,
                              long status, const char *header,
                              const void *body, size_t len)
{
    if (!pa->has_secret)
        return true;
    char got[65];
    int end = 0;
    if (!header || sscanf(header, "v1 m=%64[0-9a-f]%n", got, &end) != 1 ||
        header[end] != 0 || strlen(got) != 64)
        return false;
    char head[300], mac[65];
    response_head(head, sizeof(head), pa->cluster, nonce, status);
    mac_hex(pa, head, body, len, mac);
    return CRYPTO_memcmp(mac, got, 64) == 0;
}

/* ---- the secret ---- */

int peer_auth_parse_secret(const char *text, size_t len,
                           uint8_t out[PEER_AUTH_SECRET_MAX], const char **why)
{
    size_t a = 0, b = len;
    while (a < b && strchr(" \t\r\n", text[a]))
        a++;
    while (b > a && strchr(" \t\r\n", text[b - 1]))
        b--;
    size_t digits = b - a;
    if (digits < 2 * PEER_AUTH_SECRET_MIN) {
        *why = "it is shorter than 32 hex digits (128 bits); make a new one "
               "with raftd --new-secret FILE";
        return -1;
    }
    if (digits > 2 * PEER_AUTH_SECRET_MAX || digits % 2) {
        *why = "it is not an even number of hex digits, at most 128";
        return -1;
    }
    for (size_t i = 0; i < digits / 2; i++) {
        int hi = hex_digit(text[a + 2 * i]), lo = hex_digit(text[a + 2 * i + 1]);
        if (hi < 0 || lo < 0) {
            *why = "it holds something other than hex digits (0-9, a-f)";
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(digits / 2);
}
