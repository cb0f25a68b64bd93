/* fuzz_peer_auth.c - the Raftd-Auth header of peer requests and answers
 * (peer_auth.c): the first thing a node reads from anyone who POSTs to
 * /raft/..., before any JSON.
 *
 * The receiver is a node of the cluster capture-seeds.py runs (members
 * http://127.0.0.1:29101..29103; its cluster id comes from them as a node
 * computes it), with that cluster's fixed secret, so that the requests and
 * answers recorded there pass the MAC check. The first input byte: bits
 * 0-2 pick the path (the six peer paths, a client path, an unknown /raft/
 * path), bit 3 the method (GET instead of POST), bits 4-5 the mode, bit 6
 * a receiver without a secret (peer_auth = "none"):
 *   mode 0, 1  a request: [the receiver's id u8][its clock, ms, u64 LE]
 *              then "<header>\n<body>" (no newline: all header, no body)
 *              for peer_auth_check_request(); a signed request that passes
 *              must not pass again (a replay), nor with another body;
 *   mode 2     an answer: [from u8][to u8][incarnation u64][counter u64]
 *              [status u16] (of the request it answers), then
 *              "<header>\n<body>" for peer_auth_check_response(); it may
 *              pass only if the header is exactly what
 *              peer_auth_sign_response() writes;
 *   mode 3     a sequence of correctly signed requests (the harness signs
 *              them with OpenSSL's HMAC, as the protocol says), 8 bytes
 *              each: incarnation, path and flags, counter (relative to the
 *              highest seen), timestamp skew; some are tampered with. Each
 *              verdict must be the one a simple model of the checks and the
 *              anti-replay window gives, and every accepted request's
 *              signed answer must check at the sender.
 */
#include "fuzz.h"

#include <inttypes.h>
#include <openssl/evp.h>

#include "config.h"
#include "memberfile.h"
#include "peer_auth.h"

static uint64_t cluster_id; /* of the captured cluster's members */
#define SELF 2
#define SENDER 1
#define NOW_MS UINT64_C(1700000000000)

static const uint8_t secret[32] = {
    0x6b, 0x3a, 0x1f, 0x90, 0x22, 0x5e, 0xc4, 0x07, 0x81, 0x3d, 0xee,
    0x12, 0x4f, 0xa0, 0x99, 0x5c, 0x31, 0x77, 0x08, 0xbd, 0x64, 0xc2,
    0x1a, 0xf5, 0x0e, 0x93, 0x48, 0x2b, 0xd6, 0x70, 0x85, 0x39,
};
static const char *const paths[] = {
    "/raft/request_vote", "/raft/append_entries", "/raft/timeout_now",
    "/raft/install_snapshot", "/raft/propose", "/raft/read_index",
    "/v2/keys/a", "/raft/unknown",
};
#define N_PEER_PATHS 6

struct split {
    char *header; /* NUL-terminated copy */
    const uint8_t *body;
    size_t len;
};

static struct split split_input(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hl = nl ? (size_t)(nl - data) : size;
    return (struct split){fuzz_strndup(data, hl), nl ? nl + 1 : data + size,
                          nl ? size - hl - 1 : 0};
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct raftd_config cfg;
    struct member_list l;
    config_defaults(&cfg);
    for (unsigned i = 0; i < 3; i++) {
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", 29101 + i);
        cfg.members[i] = (struct raftd_member){.id = i + 1, .url = strdup(url),
                                               .host = strdup("127.0.0.1"),
                                               .port = (uint16_t)(29101 + i)};
    }
    cfg.n_members = 3;
    if (member_list_from_config(&cfg, &l) < 0)
        abort();
    cluster_id = l.cluster_id;
    config_free(&cfg);
    return 0;
}

static struct peer_auth *receiver(bool keyless, raft_id self)
{
    struct peer_auth *pa =
        keyless ? peer_auth_new(NULL, 0, cluster_id, self, 77)
                : peer_auth_new(secret, sizeof(secret), cluster_id, self, 77);
    FUZZ_CHECK(pa != NULL);
    return pa;
}

/* A signed request that passed: the same again is a replay, and with
 * another body (on a receiver that has not seen it) a bad MAC. */
static void check_accepted(struct peer_auth *pa, const char *method,
                           const char *path, const struct split *s,
                           uint64_t now, raft_id self)
{
    struct peer_auth_nonce nonce;
    char why[400];
    FUZZ_CHECK(peer_auth_check_request(pa, method, path, s->header, s->body,
                                       s->len, now, &nonce, why,
                                       sizeof(why)) == PEER_AUTH_REPLAYED);
    uint8_t *other = malloc(s->len + 1);
    if (!other)
        abort();
    if (s->len)
        memcpy(other, s->body, s->len);
    other[s->len] = 'x';
    struct peer_auth *fresh = receiver(false, self);
    FUZZ_CHECK(peer_auth_check_request(fresh, method, path, s->header, other,
                                       s->len + 1, now, &nonce, why,
                                       sizeof(why)) == PEER_AUTH_BAD_MAC);
    peer_auth_free(fresh);
    free(other);
}

static void fuzz_raw_request(bool keyless, const char *method,
                             const char *path, const uint8_t *data,
                             size_t size)
{
    if (size < 9)
        return;
    raft_id self = data[0];
    struct peer_auth *pa = receiver(keyless, self);
    uint64_t now = fuzz_get_le(data + 1, 8);
    struct split s = split_input(data + 9, size - 9);
    struct peer_auth_nonce nonce;
    char why[400] = "";
    enum peer_auth_verdict v =
        peer_auth_check_request(pa, method, path, s.header, s.body, s.len,
                                now, &nonce, why, sizeof(why));
    FUZZ_CHECK(peer_auth_status(v) >= 200);
    FUZZ_CHECK(peer_auth_verdict_name(v)[0] != '?');
    if (v != PEER_AUTH_OK) {
        FUZZ_CHECK(fuzz_message_ok(why, sizeof(why)));
    } else {
        FUZZ_CHECK(nonce.to == self && nonce.from != 0);
        FUZZ_CHECK(nonce.path >= 0 && nonce.path < N_PEER_PATHS);
        if (peer_auth_has_secret(pa))
            check_accepted(pa, method, path, &s, now, self);
    }
    free(s.header);
    peer_auth_free(pa);
}

static void fuzz_raw_response(bool keyless, unsigned path,
                              const uint8_t *data, size_t size)
{
    if (size < 20)
        return;
    struct peer_auth_nonce nonce = {.from = data[0], .to = data[1],
                                    .incarnation = fuzz_get_le(data + 2, 8),
                                    .counter = fuzz_get_le(data + 10, 8),
                                    .path = (int)(path % N_PEER_PATHS)};
    long status = (long)fuzz_get_le(data + 18, 2);
    struct split s = split_input(data + 20, size - 20);
    struct peer_auth *pa = receiver(keyless, nonce.from); /* the sender */
    if (peer_auth_check_response(pa, &nonce, status, s.header, s.body,
                                 s.len) &&
        peer_auth_has_secret(pa)) {
        char want[PEER_AUTH_HEADER_MAX];
        peer_auth_sign_response(pa, &nonce, (unsigned)status, s.body, s.len,
                                want);
        FUZZ_CHECK(strcmp(want, s.header) == 0);
    }
    free(s.header);
    peer_auth_free(pa);
}

/* ---- mode 3: signed sequences against a model ---- */

#define MAX_INC 8

struct model_window {
    uint64_t max;
    uint64_t *seen;
    size_t n, cap;
};

struct model {
    struct model_window w[MAX_INC][N_PEER_PATHS];
};

static bool model_seen(const struct model_window *w, uint64_t c)
{
    if (c > w->max)
        return false;
    if (w->max - c >= PEER_AUTH_REPLAY_WINDOW)
        return true;
    for (size_t i = 0; i < w->n; i++)
        if (w->seen[i] == c)
            return true;
    return false;
}

static void model_note(struct model_window *w, uint64_t c)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->seen = realloc(w->seen, w->cap * sizeof(*w->seen));
        if (!w->seen)
            abort();
    }
    w->seen[w->n++] = c;
    if (c > w->max)
        w->max = c;
}

static void model_free(struct model *m)
{
    for (int i = 0; i < MAX_INC; i++)
        for (int p = 0; p < N_PEER_PATHS; p++)
            free(m->w[i][p].seen);
}

/* HMAC-SHA256(secret, head || body) in hex, with OpenSSL's one-shot API
 * (not peer_auth.c's code). */
static void hmac_hex(const char *head, const void *body, size_t len,
                     char out[65])
{
    size_t hn = strlen(head), total = hn + len;
    uint8_t *msg = malloc(total ? total : 1);
    if (!msg)
        abort();
    memcpy(msg, head, hn);
    if (len)
        memcpy(msg + hn, body, len);
    uint8_t md[32];
    size_t mdlen = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret,
                   sizeof(secret), msg, total, md, sizeof(md), &mdlen) ||
        mdlen != 32)
        abort();
    free(msg);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The header peer_auth_sign_request() would write for these fields,
 * signed here as the protocol defines (peer_auth.h): k= over the method,
 * the path and the fields, m= over the same and the body. */
static void sign(const char *method, const char *path, uint64_t to,
                 uint64_t ts, uint64_t inc, uint64_t ctr, const void *body,
                 size_t len, char *header, size_t hlen)
{
    char fields[200], head[512], key_proof[65], mac[65];
    snprintf(fields, sizeof(fields), "c=%016" PRIx64 " f=%d t=%" PRIu64
             " ts=%" PRIu64 " n=%016" PRIx64 ".%" PRIu64, cluster_id, SENDER,
             to, ts, inc, ctr);
    snprintf(head, sizeof(head), "raftd-peer-head-v1\n%s\n%s\n%s\n", method,
             path, fields);
    hmac_hex(head, NULL, 0, key_proof);
    snprintf(head, sizeof(head), "raftd-peer-request-v1\n%s\n%s\n%s\n",
             method, path, fields);
    hmac_hex(head, body, len, mac);
    snprintf(header, hlen, "v1 %s k=%s m=%s", fields, key_proof, mac);
}

struct op {
    unsigned inc;  /* 0..MAX_INC-1 */
    unsigned path; /* 0..N_PEER_PATHS-1 */
    bool other_node, bad_mac;
    int64_t delta; /* counter relative to the highest seen */
    int64_t skew_ms;
};

static struct op read_op(const uint8_t *p)
{
    int32_t delta = (int32_t)(uint32_t)fuzz_get_le(p + 2, 4);
    int16_t skew = (int16_t)(uint16_t)fuzz_get_le(p + 6, 2);
    return (struct op){.inc = p[0] % MAX_INC, .path = p[1] % N_PEER_PATHS,
                       .other_node = (p[1] & 0x80) && (p[1] & 0x40),
                       .bad_mac = (p[1] & 0x80) && !(p[1] & 0x40) &&
                                  (p[1] & 0x20),
                       .delta = delta, .skew_ms = (int64_t)skew * 4};
}

static enum peer_auth_verdict expected(const struct model *m,
                                       const struct op *o, uint64_t ctr)
{
    /* peer_auth.h's order: the target; k= and the time, before the body
     * is read; then m= (the one a changed digit breaks); then replays */
    if (o->other_node)
        return PEER_AUTH_NOT_FOR_US;
    if ((o->skew_ms < 0 ? -o->skew_ms : o->skew_ms) > PEER_AUTH_WINDOW_MS)
        return PEER_AUTH_STALE;
    if (o->bad_mac)
        return PEER_AUTH_BAD_MAC;
    return model_seen(&m->w[o->inc][o->path], ctr) ? PEER_AUTH_REPLAYED
                                                   : PEER_AUTH_OK;
}

/* The receiver's signed answer must check at the sender, and not for
 * another status. */
static void check_answer(struct peer_auth *rx, struct peer_auth *tx,
                         const struct peer_auth_nonce *nonce,
                         const uint8_t *body, size_t len)
{
    char header[PEER_AUTH_HEADER_MAX];
    peer_auth_sign_response(rx, nonce, 200, body, len, header);
    FUZZ_CHECK(peer_auth_check_response(tx, nonce, 200, header, body, len));
    FUZZ_CHECK(!peer_auth_check_response(tx, nonce, 409, header, body, len));
}

static void fuzz_sequence(struct peer_auth *rx, const char *method,
                          const uint8_t *data, size_t size)
{
    struct peer_auth *tx = peer_auth_new(secret, sizeof(secret), cluster_id,
                                         SENDER, 99);
    FUZZ_CHECK(tx != NULL);
    struct model m;
    memset(&m, 0, sizeof(m));
    static const uint8_t body[] = "{\"term\":3}";
    for (; size >= 8; data += 8, size -= 8) {
        struct op o = read_op(data);
        struct model_window *w = &m.w[o.inc][o.path];
        int64_t c = (int64_t)(w->max > INT64_MAX / 2 ? INT64_MAX / 2 : w->max) +
                    o.delta;
        uint64_t ctr = c < 1 ? 1 : (uint64_t)c;
        uint64_t inc = 0x1000 + o.inc;
        char header[PEER_AUTH_HEADER_MAX + 64];
        sign(method, paths[o.path], o.other_node ? 3 : SELF,
             (uint64_t)((int64_t)NOW_MS + o.skew_ms), inc, ctr, body,
             sizeof(body) - 1, header, sizeof(header));
        if (o.bad_mac) { /* one hex digit of the MAC, changed */
            char *h = &header[strlen(header) - 1 - data[0] % 64];
            *h = *h == '0' ? 'f' : '0';
        }
        struct peer_auth_nonce nonce;
        char why[400] = "";
        enum peer_auth_verdict v = peer_auth_check_request(
            rx, method, paths[o.path], header, body, sizeof(body) - 1,
            NOW_MS, &nonce, why, sizeof(why));
        enum peer_auth_verdict want = expected(&m, &o, ctr);
        if (v != want)
            fprintf(stderr, "%s: got %s, want %s (%s)\n", header,
                    peer_auth_verdict_name(v), peer_auth_verdict_name(want),
                    why);
        FUZZ_CHECK(v == want);
        if (v != PEER_AUTH_OK)
            continue;
        model_note(w, ctr);
        FUZZ_CHECK(nonce.from == SENDER && nonce.to == SELF &&
                   nonce.incarnation == inc && nonce.counter == ctr &&
                   nonce.path == (int)o.path);
        check_answer(rx, tx, &nonce, body, sizeof(body) - 1);
    }
    model_free(&m);
    peer_auth_free(tx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0], path = sel & 7, mode = sel >> 4 & 3;
    bool keyless = sel & 0x40;
    const char *method = sel & 8 ? "GET" : "POST";
    if (mode < 2) {
        fuzz_raw_request(keyless, method, paths[path], data + 1, size - 1);
    } else if (mode == 2) {
        fuzz_raw_response(keyless, path, data + 1, size - 1);
    } else {
        struct peer_auth *pa = receiver(false, SELF);
        fuzz_sequence(pa, method, data + 1, size - 1);
        peer_auth_free(pa);
    }
    return 0;
}
