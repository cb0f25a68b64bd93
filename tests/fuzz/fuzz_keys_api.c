/* fuzz_keys_api.c - the client API (keys_api.c: path, query string, form
 * body, parameters; members_api.c: /v2/members and its JSON bodies) and
 * the store's commands (kv.c: kv_encode, kv_apply's
 * decoding, dedup.c's frame), without a node or an HTTP server.
 *
 * keys_api.c is linked as it is; the node and HTTP server functions it
 * calls are defined here (link-time stubs): a request is a struct defined
 * here, its query string is split and %-decoded as libmicrohttpd does,
 * proposals are applied to a real store (kv_apply of what keys_api
 * encoded) when the loop would finish them, read barriers pass, and
 * watches are real (kv_watch). Properties: every request the API takes is
 * answered exactly once, or aborted (the client went away); every answer
 * with a JSON content type is valid JSON; a command keys_api encoded never
 * fails to decode (error 209) in the store.
 *
 * The first input byte picks the mode:
 *   even  HTTP requests, separated by the byte 0x1e; in each, byte 0 picks
 *         the method (bits 0-2: GET HEAD PUT POST DELETE PATCH OPTIONS GET),
 *         how a pending operation ends (bits 3-5: done, done, done, done,
 *         the client goes away, no leader, timeout, too big), bit 6: no
 *         leader known, bit 7: Content-Type application/json (else none);
 *         then "path[?query]\n" and the body. A members change ends as
 *         committed, refused (409) or timed out (504) by bits 3-4.
 *   odd   committed log entries, separated by 0x1e, applied as the node's
 *         apply_entry() does (dedup_parse, dedup_begin, kv_apply,
 *         dedup_remember); then the store must read as valid JSON and its
 *         snapshot restore to the same snapshot, as must the table's.
 */
#include <strings.h>

#include "fuzz.h"
#include "fuzz_json.h"


#include "config.h"
#include "dedup.h"
#include "http_server.h"
#include "keys_api.h"
#include "kv.h"
#include "members_api.h"
#include "node.h"
#include "node_metrics.h"

#define SEP 0x1e
#define MAX_REQUEST_BYTES 4096 /* small, so that 413 is in reach */

/* ---- the HTTP server's side (http_server.h) ---- */

struct http_request {
    const char *method;
    char *path, *query;
    char *body;
    size_t body_len;
    char *values[32]; /* decoded query values handed out */
    unsigned n_values;
    const char *content_type;
    void *context;
    size_t context_size;
    bool responded, aborted;
    void (*on_abort)(struct http_request *, void *);
    void *abort_arg;
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* libmicrohttpd's unescaping: '+' is a space, %XX a byte, anything else
 * (a bad escape too) stays as it is. */
static char *unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        abort();
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%' && i + 2 < n &&
                   (hi = hexval(s[i + 1])) >= 0 &&
                   (lo = hexval(s[i + 2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

const char *http_request_method(const struct http_request *r)
{
    return r->method;
}

const char *http_request_path(const struct http_request *r)
{
    return r->path;
}

const char *http_request_query(const struct http_request *r, const char *key)
{
    struct http_request *w = (struct http_request *)r;
    const char *s = r->query;
    while (s && *s) {
        const char *amp = strchr(s, '&');
        size_t n = amp ? (size_t)(amp - s) : strlen(s);
        const char *eq = memchr(s, '=', n);
        char *k = unescape(s, eq ? (size_t)(eq - s) : n);
        bool match = strcmp(k, key) == 0;
        free(k);
        if (match) {
            if (!eq)
                return "";
            if (w->n_values == 32)
                return NULL;
            char *v = unescape(eq + 1, n - (size_t)(eq - s) - 1);
            w->values[w->n_values++] = v;
            return v;
        }
        s = amp ? amp + 1 : NULL;
    }
    return NULL;
}

const char *http_request_body(const struct http_request *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body;
}

const char *http_request_header(const struct http_request *r,
                                const char *name)
{
    return strcasecmp(name, "Content-Type") == 0 ? r->content_type : NULL;
}

void *http_request_context(struct http_request *r, size_t size)
{
    if (!r->context) {
        r->context = calloc(1, size);
        r->context_size = size;
    }
    FUZZ_CHECK(r->context_size == size);
    return r->context;
}

void http_response_header(struct http_request *r, const char *name,
                          const char *value)
{
    FUZZ_CHECK(!r->responded && name && value && *name);
}

static bool json_type(const char *content_type)
{
    return content_type && strcmp(content_type, "application/json") == 0;
}

void http_respond(struct http_request *r, unsigned status,
                  const char *content_type, const char *body, size_t len)
{
    FUZZ_CHECK(!r->responded && !r->aborted);
    FUZZ_CHECK(status >= 200 && status < 600);
    FUZZ_CHECK(len == 0 || body != NULL);
    if (json_type(content_type)) {
        bool ok = fuzz_json_valid(body, len);
        if (!ok)
            fprintf(stderr, "not JSON (%u): %.*s\n", status, (int)len, body);
        FUZZ_CHECK(ok);
    }
    r->responded = true;
}

void http_respond_error(struct http_request *r, unsigned status,
                        const char *msg)
{
    FUZZ_CHECK(msg && *msg);
    http_respond(r, status, NULL, msg, strlen(msg));
}

void http_request_on_abort(struct http_request *r,
                           void (*fn)(struct http_request *, void *),
                           void *arg)
{
    FUZZ_CHECK(!r->responded);
    r->on_abort = fn;
    r->abort_arg = arg;
}

/* ---- the node's side (node.h) ---- */

struct node {
    struct kv *kv;
    struct raftd_config cfg;
    bool no_leader;
};

struct node_op {
    bool used, cancelled, barrier;
    uint8_t *cmd;
    size_t len;
    node_done_fn fn;
    void *arg;
};

#define MAX_OPS 64
static struct node_op ops[MAX_OPS];

static struct node_op *new_op(node_done_fn fn, void *arg)
{
    for (int i = 0; i < MAX_OPS; i++)
        if (!ops[i].used) {
            ops[i] = (struct node_op){.used = true, .fn = fn, .arg = arg};
            return &ops[i];
        }
    return NULL; /* as out of memory: keys_api answers 500 */
}

struct node_op *node_propose(struct node *n, const void *cmd, size_t len,
                             node_done_fn fn, void *arg)
{
    (void)n;
    struct node_op *op = new_op(fn, arg);
    if (op) {
        op->cmd = malloc(len ? len : 1);
        if (!op->cmd)
            abort();
        memcpy(op->cmd, cmd, len);
        op->len = len;
    }
    return op;
}

struct node_op *node_read_barrier(struct node *n, node_done_fn fn, void *arg)
{
    (void)n;
    struct node_op *op = new_op(fn, arg);
    if (op)
        op->barrier = true;
    return op;
}

void node_op_cancel(struct node *n, struct node_op *op)
{
    (void)n;
    FUZZ_CHECK(op->used && !op->cancelled);
    op->cancelled = true;
}

/* A fixed wall clock: an input replays the same way at any time. */
int64_t node_wall_ms(void) { return INT64_C(1765080000000); }
struct kv *node_kv(struct node *n) { return n->kv; }
const struct raftd_config *node_config(const struct node *n) { return &n->cfg; }
raft_id node_leader(const struct node *n) { return n->no_leader ? RAFT_NONE : 1; }
raft_term node_term(const struct node *n) { (void)n; return 3; }
raft_index node_applied_index(const struct node *n) { (void)n; return 42; }

bool node_diverged(const struct node *n, struct raft_divergence *first)
{
    (void)n;
    (void)first;
    return false;
}

/* ---- metrics (node_metrics.c): not measured here ---- */

void node_metrics_time_request(struct http_request *req, enum metrics_op op)
{
    (void)req;
    (void)op;
}

/* ---- members (node_reconfigure.c) ---- */

struct members_wait {
    bool used, cancelled;
    node_members_fn fn;
    void *arg;
};
static struct members_wait mwait;

const struct raft_configuration *node_configuration(const struct node *n,
                                                    raft_index *at)
{
    static struct raft_configuration c;
    c.n = 0;
    for (unsigned i = 0; i < n->cfg.n_members; i++) {
        struct raft_member *m = &c.members[c.n++];
        m->id = n->cfg.members[i].id;
        m->role = i == 2 ? RAFT_LEARNER : RAFT_VOTER;
        snprintf(m->address, sizeof(m->address), "%s", n->cfg.members[i].url);
    }
    if (at)
        *at = 7;
    return &c;
}

raft_id node_new_member_id(const struct node *n)
{
    (void)n;
    return 4;
}

struct members_wait *node_change_members(struct node *n,
                                         const struct raft_configuration *want,
                                         node_members_fn fn, void *arg)
{
    (void)n;
    uint8_t buf[RAFT_CONFIGURATION_MAX_BYTES];
    FUZZ_CHECK(raft_configuration_encode(want, buf) > 0); /* a valid one */
    if (mwait.used)
        return NULL;
    mwait = (struct members_wait){.used = true, .fn = fn, .arg = arg};
    return &mwait;
}

void node_members_cancel(struct node *n, struct members_wait *w)
{
    (void)n;
    FUZZ_CHECK(w == &mwait && w->used && !w->cancelled);
    w->cancelled = true;
}

/* As node.c computes it, for the default core limit of 1 MiB. */
size_t node_max_entry_bytes(const struct raftd_config *cfg)
{
    size_t room = cfg->max_request_bytes > 2048 ? cfg->max_request_bytes - 1024
                                                : 1024;
    return room / 4 * 3 < (1u << 20) ? room / 4 * 3 : (1u << 20);
}

/* ---- driving requests ---- */

static struct node node;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    config_defaults(&node.cfg);
    node.cfg.max_request_bytes = MAX_REQUEST_BYTES;
    static const char *const urls[] = {"http://127.0.0.1:7001",
                                       "http://127.0.0.1:7002",
                                       "http://[::1]:7003"};
    for (unsigned i = 0; i < 3; i++) {
        struct raftd_member *m = &node.cfg.members[i];
        m->id = i + 1;
        m->url = strdup(urls[i]);
        m->host = strdup(i == 2 ? "::1" : "127.0.0.1");
        m->port = (uint16_t)(7001 + i);
    }
    node.cfg.n_members = 3;
    node.cfg.id = 1;
    return 0;
}

static void put(struct kv *kv, const char *key, const char *value, bool dir)
{
    struct kv_cmd c = {.op = KV_SET, .key = key, .value = value, .dir = dir,
                       .prev_exist = -1};
    size_t len;
    char *cmd = kv_encode(&c, &len);
    struct kv_result res;
    kv_apply(kv, cmd, len, &res);
    FUZZ_CHECK(res.status == 200 || res.status == 201);
    kv_result_free(&res);
    free(cmd);
}

static void finish_op(struct node_op *op, unsigned how)
{
    static const enum node_error errors[] = {NODE_ENOLEADER, NODE_ETIMEOUT,
                                             NODE_ETOOBIG};
    struct node_outcome o = {.error = NODE_OK, .raft_index = 43,
                             .raft_term = 3};
    struct kv_result res = {0};
    if (how >= 5) {
        o.error = errors[how - 5];
        o.message = "failed";
    } else if (!op->barrier) {
        kv_apply(node.kv, op->cmd, op->len, &res);
        FUZZ_CHECK(res.error_code != KV_E_INVALID_FIELD); /* it decodes */
        o.status = res.status;
        o.body = res.body;
        o.len = res.len;
        o.etcd_index = res.index;
    }
    op->fn(op->arg, &o);
    kv_result_free(&res);
}

/* The loop's turn after the handler: finish (or abandon) what it started. */
static void run_ops(struct http_request *req, unsigned how)
{
    for (int i = 0; i < MAX_OPS; i++) {
        struct node_op *op = &ops[i];
        if (!op->used)
            continue;
        if (how == 4 && !req->responded && req->on_abort && !req->aborted) {
            req->aborted = true; /* the client went away */
            req->on_abort(req, req->abort_arg);
        }
        if (!op->cancelled)
            finish_op(op, how);
        free(op->cmd);
        *op = (struct node_op){0};
    }
    if (mwait.used) {
        if (how == 4 && !req->responded && req->on_abort && !req->aborted) {
            req->aborted = true;
            req->on_abort(req, req->abort_arg);
        }
        if (!mwait.cancelled)
            mwait.fn(mwait.arg, (unsigned[]){0, 0, 409, 504}[how & 3],
                     "refused, or not in time");
        mwait = (struct members_wait){0};
    }
}

static void request_free(struct http_request *r)
{
    for (unsigned i = 0; i < r->n_values; i++)
        free(r->values[i]);
    free(r->path);
    free(r->query);
    free(r->body);
    free(r->context);
    free(r);
}

#define MAX_PENDING 16

static struct http_request *parse_request(const uint8_t *p, size_t n)
{
    static const char *const methods[] = {"GET",    "HEAD", "PUT", "POST",
                                          "DELETE", "PATCH", "OPTIONS",
                                          "GET"};
    struct http_request *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->method = methods[p[0] & 7];
    const uint8_t *nl = memchr(p + 1, '\n', n - 1);
    size_t tl = nl ? (size_t)(nl - p - 1) : n - 1;
    char *target = fuzz_strndup(p + 1, tl);
    char *q = strchr(target, '?');
    if (q)
        r->query = strdup(q + 1);
    /* libmicrohttpd hands over the path %-decoded */
    r->path = unescape(target, q ? (size_t)(q - target) : strlen(target));
    free(target);
    size_t bl = nl ? n - 1 - tl - 1 : 0;
    r->body = fuzz_strndup(nl ? nl + 1 : p, bl);
    r->body_len = bl;
    return r;
}

static bool is_api_path(const char *path)
{
    if (strncmp(path, "/v2/keys", 8) == 0 && (!path[8] || path[8] == '/'))
        return true;
    if (strncmp(path, "/v2/members", 11) == 0 && (!path[11] || path[11] == '/'))
        return true;
    return !strcmp(path, "/health") || !strcmp(path, "/version");
}

static void fuzz_requests(const uint8_t *data, size_t size)
{
    node.kv = kv_new();
    put(node.kv, "/a", "1", false);
    put(node.kv, "/dir/b", "2", false);
    put(node.kv, "/dir/sub/c", "three", false);
    put(node.kv, "/empty", NULL, true);
    struct http_request *pending[MAX_PENDING];
    unsigned n_pending = 0;
    while (size) {
        const uint8_t *end = memchr(data, SEP, size);
        size_t n = end ? (size_t)(end - data) : size;
        struct http_request *r = n ? parse_request(data, n) : NULL;
        if (r && r->body_len > MAX_REQUEST_BYTES) {
            request_free(r); /* the server answers 413 itself */
        } else if (r) {
            unsigned how = data[0] >> 3 & 7;
            node.no_leader = data[0] & 0x40;
            r->content_type = data[0] & 0x80 ? "application/json" : NULL;
            bool taken = keys_api_handle(&node, r);
            FUZZ_CHECK(taken == is_api_path(r->path));
            if (taken)
                run_ops(r, how);
            FUZZ_CHECK(taken || !r->responded);
            if (taken && !r->responded && !r->aborted &&
                n_pending < MAX_PENDING) {
                pending[n_pending++] = r; /* a watch: a later write ends it */
            } else if (taken && !r->responded && !r->aborted) {
                r->aborted = true;
                r->on_abort(r, r->abort_arg);
                request_free(r);
            } else {
                request_free(r);
            }
        }
        data += n + (end ? 1 : 0);
        size -= n + (end ? 1 : 0);
    }
    for (unsigned i = 0; i < n_pending; i++) {
        struct http_request *r = pending[i];
        if (!r->responded) { /* the server closes: watches are aborted */
            FUZZ_CHECK(r->on_abort != NULL);
            r->aborted = true;
            r->on_abort(r, r->abort_arg);
        }
        request_free(r);
    }
    FUZZ_CHECK(kv_watch_count(node.kv) == 0);
    kv_free(node.kv);
    node.kv = NULL;
}

/* ---- committed entries ---- */

static void check_json(const struct kv_result *res)
{
    bool ok = fuzz_json_valid(res->body, res->len);
    if (!ok)
        fprintf(stderr, "not JSON (%u): %.*s\n", res->status, (int)res->len,
                res->body);
    FUZZ_CHECK(ok);
}

/* What node.c's apply_entry() does with a normal entry. */
static void apply_entry(struct kv *kv, struct dedup *d, const uint8_t *e,
                        size_t len)
{
    struct dedup_ident id;
    const struct kv_result *first = NULL;
    size_t hl;
    struct kv_result res;
    if (dedup_parse(e, len, &id, &hl) < 0) {
        kv_apply(kv, e, len, &res);
    } else {
        FUZZ_CHECK(hl <= len && hl <= DEDUP_HEADER_MAX);
        switch (dedup_begin(d, &id, &first)) {
        case DEDUP_DONE:
            FUZZ_CHECK(first != NULL);
            return;
        case DEDUP_STALE:
            kv_error(KV_E_RAFT_INTERNAL, "stale copy of a finished request",
                     kv_index(kv), &res);
            break;
        case DEDUP_NEW:
        default:
            kv_apply(kv, e + hl, len - hl, &res);
            dedup_remember(d, &id, &res);
            break;
        }
    }
    check_json(&res);
    kv_result_free(&res);
}

static void check_snapshots(struct kv *kv, struct dedup *d)
{
    size_t len, len2;
    char *snap = kv_snapshot(kv, &len);
    struct kv *copy = kv_new();
    FUZZ_CHECK(kv_restore(copy, snap, len) == 0);
    char *snap2 = kv_snapshot(copy, &len2);
    FUZZ_CHECK(len == len2 && memcmp(snap, snap2, len) == 0);
    free(snap2);
    /* the copy expires exactly as the original does (kv.h, "Time and
     * TTLs"): the same "now" entry gives the same answer and store */
    FUZZ_CHECK(kv_clock(copy) == kv_clock(kv));
    FUZZ_CHECK(kv_next_expiration(copy) == kv_next_expiration(kv));
    FUZZ_CHECK(kv_ttl_count(copy) == kv_ttl_count(kv));
    int64_t due = kv_next_expiration(kv);
    if (due > 0) {
        struct kv_cmd sync = {.op = KV_SYNC, .now_ms = due};
        size_t sl;
        char *cmd = kv_encode(&sync, &sl);
        FUZZ_CHECK(cmd != NULL);
        struct kv_result a, b;
        kv_apply(kv, cmd, sl, &a);
        kv_apply(copy, cmd, sl, &b);
        FUZZ_CHECK(a.status == 200 && a.len == b.len &&
                   memcmp(a.body, b.body, a.len) == 0);
        FUZZ_CHECK(kv_index(kv) == kv_index(copy));
        FUZZ_CHECK(kv_next_expiration(kv) != due);
        kv_result_free(&a);
        kv_result_free(&b);
        free(cmd);
        free(snap);
        snap = kv_snapshot(kv, &len);
        snap2 = kv_snapshot(copy, &len2);
        FUZZ_CHECK(len == len2 && memcmp(snap, snap2, len) == 0);
        free(snap2);
    }
    free(snap);
    kv_free(copy);

    char *ds = dedup_snapshot(d, &len);
    FUZZ_CHECK(ds != NULL);
    struct dedup *dcopy = dedup_new();
    FUZZ_CHECK(dedup_restore(dcopy, ds, len) == 0);
    char *ds2 = dedup_snapshot(dcopy, &len2);
    FUZZ_CHECK(len == len2 && memcmp(ds, ds2, len) == 0);
    free(ds);
    free(ds2);
    dedup_free(dcopy);
}

static void fuzz_entries(const uint8_t *data, size_t size)
{
    struct kv *kv = kv_new();
    struct dedup *d = dedup_new();
    while (size) {
        const uint8_t *end = memchr(data, SEP, size);
        size_t n = end ? (size_t)(end - data) : size;
        apply_entry(kv, d, data, n);
        data += n + (end ? 1 : 0);
        size -= n + (end ? 1 : 0);
    }
    struct kv_result res;
    kv_get(kv, "/", true, true, &res);
    check_json(&res);
    kv_result_free(&res);
    check_snapshots(kv, d);
    dedup_free(d);
    kv_free(kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_entries(data + 1, size - 1);
    else
        fuzz_requests(data + 1, size - 1);
    return 0;
}
