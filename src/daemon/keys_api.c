/* keys_api.c - the etcd v2 client API on top of the node (see keys_api.h).
 *
 *   GET    /v2/keys/k[?recursive&sorted&quorum&wait&waitIndex]
 *   PUT    /v2/keys/k  value=v [dir prevValue prevIndex prevExist]
 *   POST   /v2/keys/d  value=v               (in-order key)
 *   DELETE /v2/keys/k  [dir recursive prevValue prevIndex]
 *   /v2/members (members_api.c), GET /health, /version
 *
 * Writes become log entries (the store's command encoding, kv_encode) and
 * are answered with the store's result once applied here; any node accepts
 * them (ops.c forwards to the leader). A plain GET reads this node's
 * applied state, as etcd v2 does; quorum=true first passes a ReadIndex
 * barrier, so the read is linearizable. Parameters come from the form body
 * or the query string (the body wins, as in etcd's Go server).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "keys_api.h"
#include "members_api.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "divergence.h"
#include "kv.h"
#include "node_metrics.h"

#define KEYS_PREFIX "/v2/keys"
#define ETCD_VERSION "3.4.0"

/* etcd v2 error codes used here (etcd's error/error.go) */
enum {
    ECODE_VALUE_REQUIRED = 200,
    ECODE_PREV_VALUE_REQUIRED = 201,
    ECODE_TTL_NAN = 202,
    ECODE_INDEX_NAN = 203,
    ECODE_INVALID_FIELD = 209,
    ECODE_INVALID_FORM = 210,
    ECODE_REFRESH_VALUE = 211,
    ECODE_REFRESH_TTL_REQUIRED = 212,
    ECODE_RAFT_INTERNAL = 300,
    ECODE_LEADER_ELECT = 301,
};

/* ---- responses ---- */

static void set_headers(struct node *n, struct http_request *req,
                        uint64_t etcd_index, raft_index raft_idx,
                        raft_term term)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRIu64, etcd_index);
    http_response_header(req, "X-Etcd-Index", buf);
    snprintf(buf, sizeof(buf), "%" PRIu64,
             raft_idx ? raft_idx : node_applied_index(n));
    http_response_header(req, "X-Raft-Index", buf);
    snprintf(buf, sizeof(buf), "%" PRIu64, term ? term : node_term(n));
    http_response_header(req, "X-Raft-Term", buf);
}

void api_respond_json(struct http_request *req, unsigned status, cJSON *obj)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    if (s)
        http_respond(req, status, "application/json", s, strlen(s));
    else
        http_respond_error(req, 500, "out of memory");
    free(s);
    cJSON_Delete(obj);
}

void api_respond_message(struct http_request *req, unsigned status,
                         const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", message);
    api_respond_json(req, status, o);
}

void api_refuse_method(struct http_request *req, const char *allow,
                       bool plain)
{
    static const char body[] = "Method Not Allowed\n";
    http_response_header(req, "Allow", allow);
    if (plain)
        http_respond(req, 405, "text/plain; charset=utf-8", body,
                     sizeof(body) - 1);
    else
        api_respond_message(req, 405, "Method Not Allowed");
}

/* An etcd-style error: {"errorCode","message","cause","index"}, with the
 * store's wording and trailing newline (kv_error). */
static void respond_etcd_error(struct node *n, struct http_request *req,
                               unsigned status, int code, const char *cause)
{
    uint64_t index = kv_index(node_kv(n));
    struct kv_result res;
    kv_error((unsigned)code, cause, index, &res);
    set_headers(n, req, index, 0, 0);
    http_respond(req, status, "application/json", res.body, res.len);
    kv_result_free(&res);
}

static void respond_result(struct node *n, struct http_request *req,
                           const struct kv_result *res, raft_index raft_idx,
                           raft_term term)
{
    set_headers(n, req, res->index, raft_idx, term);
    http_respond(req, res->status, "application/json", res->body, res->len);
}

/* 413 for a write whose command (cmd_len bytes, 0 if unknown) does not fit
 * one log entry: what the limit is and which setting bounds it. */
static void respond_too_large(struct node *n, struct http_request *req,
                              size_t cmd_len)
{
    const struct raftd_config *cfg = node_config(n);
    size_t limit = node_max_entry_bytes(cfg);
    char size[64] = "", cause[400];
    if (cmd_len)
        snprintf(size, sizeof size, " (%zu bytes as a log entry)", cmd_len);
    snprintf(cause, sizeof cause,
             "value too large: a write%s may be at most %zu bytes as a log "
             "entry, key and value together; the limit is 1 MiB, or 3/4 of "
             "max_request_bytes (%zu here) less 1 KiB if that is smaller "
             "(see raftd.conf(5)); store less in one key", size, limit,
             cfg->max_request_bytes);
    respond_etcd_error(n, req, 413, ECODE_INVALID_FIELD, cause);
}

static void respond_node_error(struct node *n, struct http_request *req,
                               const struct node_outcome *o)
{
    unsigned status = 503;
    if (o->error == NODE_ETOOBIG) {
        respond_too_large(n, req, 0); /* the leader's limit is smaller */
        return;
    }
    if (o->error == NODE_ETIMEOUT || o->error == NODE_EUNKNOWN)
        status = 504;
    int code = o->error == NODE_ENOLEADER ? ECODE_LEADER_ELECT
                                          : ECODE_RAFT_INTERNAL;
    respond_etcd_error(n, req, status, code, o->message);
}

/* ---- parameters: form body first, then the query string ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode application/x-www-form-urlencoded text s[0..len) ('+' is a
 * space, %XX a byte) into out (room for len bytes; NULL: only check).
 * Returns the decoded length, or -1 for a malformed or NUL %-escape (etcd:
 * "Invalid POST form"). */
static ssize_t form_decode_into(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++, n++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
            if (lo < 0 || (hi | lo) == 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (out)
            out[n] = c;
    }
    return (ssize_t)n;
}

/* The decoded copy of s[0..len) (malloc'ed, NUL-terminated), or NULL. */
static char *form_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    ssize_t n = out ? form_decode_into(s, len, out) : -1;
    if (n < 0) {
        free(out);
        return NULL;
    }
    out[n] = 0;
    return out;
}

/* Whether a form body decodes cleanly (checked once per request). */
static bool form_valid(const char *s, size_t len)
{
    return form_decode_into(s, len, NULL) >= 0;
}

/* Whether the form-encoded s[0..len) decodes to name (nl bytes): without
 * allocating, since every parameter looked up walks the whole body. */
static bool form_key_is(const char *s, size_t len, const char *name, size_t nl)
{
    char buf[64]; /* decoding never lengthens */
    char *k = len <= sizeof(buf) ? buf : malloc(len);
    ssize_t n = k ? form_decode_into(s, len, k) : -1;
    bool is = n == (ssize_t)nl && memcmp(k, name, nl) == 0;
    if (k != buf)
        free(k);
    return is;
}

struct params {
    struct node *n;
    struct http_request *req;
    const char *body;
    size_t body_len;
    char *owned[16];
    unsigned n_owned;
};

/* The value of name, or NULL if absent ("" for a bare name). */
static const char *param(struct params *p, const char *name)
{
    size_t nl = strlen(name);
    /* no body (GET): NULL, and NULL + 0 is undefined behaviour in C */
    const char *s = p->body, *end = s ? s + p->body_len : NULL;
    while (s && s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        const char *ke = eq ? eq : e;
        bool match = form_key_is(s, (size_t)(ke - s), name, nl);
        if (match && p->n_owned < 16) {
            char *v = eq ? form_decode(eq + 1, (size_t)(e - eq - 1)) : strdup("");
            if (v)
                p->owned[p->n_owned++] = v;
            return v;
        }
        s = amp ? amp + 1 : end;
    }
    return http_request_query(p->req, name);
}

static void params_free(struct params *p)
{
    for (unsigned i = 0; i < p->n_owned; i++)
        free(p->owned[i]);
}

/* etcd's boolean parameters: "true"/"false" (absent = default). */
static int bool_param(struct params *p, const char *name, bool *out, bool dflt)
{
    const char *v = param(p, name);
    *out = dflt;
    if (!v || !*v)
        return 0;
    if (strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

/* etcd's index parameters: decimal digits only, within 64 bits. Returns 0
 * and *out, or -1. */
static int parse_index(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* ---- writes ---- */

struct pending {
    struct node *n;
    struct http_request *req;
    struct node_op *op;
    char *key;
    bool recursive, sorted;
};

static void pending_free(struct pending *pd)
{
    free(pd->key);
    free(pd);
}

static void on_abort(struct http_request *req, void *arg)
{
    (void)req;
    struct pending *pd = arg;
    node_op_cancel(pd->n, pd->op);
    pending_free(pd);
}

static void on_write_done(void *arg, const struct node_outcome *o)
{
    struct pending *pd = arg;
    if (o->error != NODE_OK) {
        respond_node_error(pd->n, pd->req, o);
    } else {
        struct kv_result res = {.status = o->status, .body = (char *)o->body,
                                .len = o->len, .index = o->etcd_index};
        respond_result(pd->n, pd->req, &res, o->raft_index, o->raft_term);
    }
    pending_free(pd);
}

static void propose(struct node *n, struct http_request *req,
                    const struct kv_cmd *cmd)
{
    size_t len;
    char *buf = kv_encode(cmd, &len);
    if (buf && len > node_max_entry_bytes(node_config(n))) {
        /* refused here, on any node, before it is forwarded or proposed */
        free(buf);
        respond_too_large(n, req, len);
        return;
    }
    struct pending *pd = calloc(1, sizeof(*pd));
    if (!buf || !pd) {
        free(buf);
        free(pd);
        http_respond_error(req, 500, "out of memory");
        return;
    }
    pd->n = n;
    pd->req = req;
    pd->op = node_propose(n, buf, len, on_write_done, pd);
    free(buf);
    if (!pd->op) {
        free(pd);
        http_respond_error(req, 500, "out of memory");
        return;
    }
    http_request_on_abort(req, on_abort, pd);
}

/* Keys and values are UTF-8 text: other bytes could not be given back
 * (JSON cannot carry them; etcd shows them as U+FFFD, so distinct keys look
 * alike and a value cannot be read back). Refused with 209 rather than
 * stored or replaced; true if s (may be NULL) is fine. */
static bool text_field_ok(struct params *p, const char *what, const char *s)
{
    if (!s || kv_utf8_valid(s, strlen(s)))
        return true;
    char cause[200];
    snprintf(cause, sizeof cause,
             "%s: not valid UTF-8; raftd keeps keys and values as UTF-8 "
             "text only, so percent-encode the UTF-8 bytes of the text "
             "(or base64-encode binary data)", what);
    respond_etcd_error(p->n, p->req, 400, ECODE_INVALID_FIELD, cause);
    return false;
}

/* Validate the write parameters shared by PUT, POST and DELETE. */
static int common_write_params(struct params *p, struct kv_cmd *cmd)
{
    struct node *n = p->n;
    const char *pv = param(p, "prevValue");
    const char *pi = param(p, "prevIndex");
    const char *ttl = param(p, "ttl");
    if (pv && !*pv) {
        respond_etcd_error(n, p->req, 400, ECODE_PREV_VALUE_REQUIRED, "compareAndSwap");
        return -1;
    }
    if (!text_field_ok(p, "prevValue", pv))
        return -1;
    cmd->prev_value = pv;
    if (pi && *pi) {
        uint64_t v;
        if (parse_index(pi, &v) < 0) {
            respond_etcd_error(n, p->req, 400, ECODE_INDEX_NAN,
                               "compareAndSwap");
            return -1;
        }
        cmd->prev_index = v; /* 0 means absent, as in etcd */
    }
    /* etcd: an empty ttl is no ttl (the node is permanent); ttl=0 expires
     * at the leader's next "now" entry */
    bool ttl_given = ttl && *ttl;
    if (ttl_given) {
        uint64_t v;
        if (parse_index(ttl, &v) < 0) {
            respond_etcd_error(n, p->req, 400, ECODE_TTL_NAN,
                               "invalid value for \"ttl\"");
            return -1;
        }
        if (v > KV_TTL_MAX) {
            respond_etcd_error(n, p->req, 400, ECODE_TTL_NAN,
                               "ttl: at most 315360000 seconds (ten years)");
            return -1;
        }
        cmd->has_ttl = cmd->op != KV_DELETE;
        cmd->ttl = v;
    }
    /* etcd checks refresh on every method, and an empty one is invalid */
    const char *rv = param(p, "refresh");
    bool refresh = rv && strcmp(rv, "true") == 0;
    if (rv && !refresh && strcmp(rv, "false") != 0) {
        respond_etcd_error(n, p->req, 400, ECODE_INVALID_FIELD,
                           "invalid value for refresh");
        return -1;
    }
    if (refresh) {
        const char *value = param(p, "value");
        if (value && *value) {
            respond_etcd_error(n, p->req, 400, ECODE_REFRESH_VALUE,
                               "A value was provided on a refresh");
            return -1;
        }
        if (!ttl_given) {
            respond_etcd_error(n, p->req, 400, ECODE_REFRESH_TTL_REQUIRED,
                               "No TTL value set");
            return -1;
        }
        cmd->refresh = cmd->op != KV_DELETE;
    }
    /* The time goes with a write that sets a TTL, and with any write while
     * the store has TTLs: the ttl in its answer's prevNode counts from it,
     * and it keeps the store's clock current. */
    if (cmd->has_ttl || kv_ttl_count(node_kv(n)) > 0)
        cmd->now_ms = node_wall_ms();
    return 0;
}

/* A write with a condition (compare-and-swap, compare-and-delete). */
static bool is_compare(const struct kv_cmd *cmd)
{
    return cmd->prev_value || cmd->prev_index || cmd->prev_exist != -1;
}

static void handle_put(struct params *p, const char *key, bool post)
{
    struct kv_cmd cmd = {.op = post ? KV_CREATE_IN_ORDER : KV_SET,
                         .key = key, .prev_exist = -1};
    bool prev_exist;
    const char *pe = param(p, "prevExist");
    if (bool_param(p, "dir", &cmd.dir, false) < 0 ||
        bool_param(p, "prevExist", &prev_exist, false) < 0) {
        respond_etcd_error(p->n, p->req, 400, ECODE_INVALID_FIELD, "dir and prevExist take true or false");
        return;
    }
    if (pe && *pe)
        cmd.prev_exist = prev_exist;
    if (common_write_params(p, &cmd) < 0)
        return;
    cmd.value = param(p, "value");
    if (!text_field_ok(p, "value", cmd.value))
        return;
    if (cmd.dir && cmd.value && *cmd.value) {
        respond_etcd_error(p->n, p->req, 400, ECODE_INVALID_FIELD, "a directory cannot have a value");
        return;
    }
    if (!cmd.dir && !cmd.value && !post)
        cmd.value = ""; /* etcd: PUT without value sets an empty value */
    node_metrics_time_request(p->req, post ? METRICS_OP_POST
                                      : is_compare(&cmd) ? METRICS_OP_CAS
                                                         : METRICS_OP_PUT);
    propose(p->n, p->req, &cmd);
}

static void handle_delete(struct params *p, const char *key)
{
    struct kv_cmd cmd = {.op = KV_DELETE, .key = key, .prev_exist = -1};
    if (bool_param(p, "dir", &cmd.dir, false) < 0 ||
        bool_param(p, "recursive", &cmd.recursive, false) < 0) {
        respond_etcd_error(p->n, p->req, 400, ECODE_INVALID_FIELD, "dir and recursive take true or false");
        return;
    }
    if (common_write_params(p, &cmd) < 0)
        return;
    node_metrics_time_request(p->req, is_compare(&cmd) ? METRICS_OP_CAD
                                                       : METRICS_OP_DELETE);
    propose(p->n, p->req, &cmd);
}

/* ---- reads ---- */

static void read_now(struct node *n, struct http_request *req, const char *key,
                     bool recursive, bool sorted)
{
    struct kv_result res;
    kv_set_read_clock(node_kv(n), node_wall_ms());
    kv_get(node_kv(n), key, recursive, sorted, &res);
    respond_result(n, req, &res, 0, 0);
    free(res.body);
}

static void on_barrier_done(void *arg, const struct node_outcome *o)
{
    struct pending *pd = arg;
    if (o->error != NODE_OK)
        respond_node_error(pd->n, pd->req, o);
    else
        read_now(pd->n, pd->req, pd->key, pd->recursive, pd->sorted);
    pending_free(pd);
}

struct watcher {
    struct node *n;
    struct http_request *req;
    struct kv_watch *w;
};

static void on_watch_event(void *arg, const struct kv_result *ev)
{
    struct watcher *wt = arg;
    respond_result(wt->n, wt->req, ev, 0, 0);
    free(wt);
}

static void on_watch_abort(struct http_request *req, void *arg)
{
    (void)req;
    struct watcher *wt = arg;
    kv_watch_cancel(node_kv(wt->n), wt->w);
    free(wt);
}

static void handle_watch(struct params *p, const char *key, bool recursive)
{
    uint64_t wait_index = 0;
    const char *wi = param(p, "waitIndex");
    if (wi && *wi) {
        if (parse_index(wi, &wait_index) < 0) {
            respond_etcd_error(p->n, p->req, 400, ECODE_INDEX_NAN,
                               "waitIndex");
            return;
        }
    }
    struct watcher *wt = calloc(1, sizeof(*wt));
    if (!wt) {
        http_respond_error(p->req, 500, "out of memory");
        return;
    }
    wt->n = p->n;
    wt->req = p->req;
    struct kv_result res;
    wt->w = kv_watch(node_kv(p->n), key, recursive, wait_index, on_watch_event,
                     wt, &res);
    if (!wt->w) {
        respond_result(p->n, p->req, &res, 0, 0);
        free(res.body);
        free(wt);
        return;
    }
    http_request_on_abort(p->req, on_watch_abort, wt);
}

static void handle_get(struct params *p, const char *key)
{
    bool recursive, sorted, quorum, wait;
    if (bool_param(p, "recursive", &recursive, false) < 0 ||
        bool_param(p, "sorted", &sorted, false) < 0 ||
        bool_param(p, "quorum", &quorum, false) < 0 ||
        bool_param(p, "wait", &wait, false) < 0) {
        respond_etcd_error(p->n, p->req, 400, ECODE_INVALID_FIELD,
                           "recursive, sorted, quorum and wait take true or false");
        return;
    }
    node_metrics_time_request(p->req, wait     ? METRICS_OP_WATCH
                                      : quorum ? METRICS_OP_QGET
                                               : METRICS_OP_GET);
    if (wait) {
        handle_watch(p, key, recursive);
        return;
    }
    if (!quorum) {
        read_now(p->n, p->req, key, recursive, sorted);
        return;
    }
    struct pending *pd = calloc(1, sizeof(*pd));
    if (pd)
        pd->key = strdup(key);
    if (!pd || !pd->key) {
        if (pd)
            pending_free(pd);
        http_respond_error(p->req, 500, "out of memory");
        return;
    }
    pd->n = p->n;
    pd->req = p->req;
    pd->recursive = recursive;
    pd->sorted = sorted;
    pd->op = node_read_barrier(p->n, on_barrier_done, pd);
    if (!pd->op) {
        pending_free(pd);
        http_respond_error(p->req, 500, "out of memory");
        return;
    }
    http_request_on_abort(p->req, on_abort, pd);
}

static void handle_keys(struct node *n, struct http_request *req,
                        const char *key)
{
    struct params p = {.n = n, .req = req};
    const char *method = http_request_method(req);
    if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0 ||
        strcmp(method, "DELETE") == 0)
        p.body = http_request_body(req, &p.body_len);
    if (p.body && (memchr(p.body, 0, p.body_len) ||
                   !form_valid(p.body, p.body_len))) {
        respond_etcd_error(n, req, 400, ECODE_INVALID_FORM,
                           "malformed or NUL %-escape in the form body");
        return;
    }
    if (!*key)
        key = "/";
    if (!text_field_ok(&p, "key", key))
        return; /* (nothing owned by p yet) */
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        handle_get(&p, key);
    else if (strcmp(method, "PUT") == 0)
        handle_put(&p, key, false);
    else if (strcmp(method, "POST") == 0)
        handle_put(&p, key, true);
    else if (strcmp(method, "DELETE") == 0)
        handle_delete(&p, key);
    else {
        http_response_header(req, "Allow", "GET, HEAD, PUT, POST, DELETE");
        respond_etcd_error(n, req, 405, ECODE_INVALID_FORM,
                           method);
    }
    params_free(&p);
}

/* ---- cluster information ---- */

/* Unhealthy while no leader is known, and for good once this node refused
 * a message contradicting its committed log (raftd(8), DIVERGENCE). */
static void handle_health(struct node *n, struct http_request *req)
{
    struct raft_divergence d;
    char reason[400] = "";
    if (node_diverged(n, &d)) {
        char what[320];
        divergence_describe(&d, what, sizeof(what));
        snprintf(reason, sizeof(reason), "diverged: %s", what);
    } else if (node_leader(n) == RAFT_NONE) {
        snprintf(reason, sizeof(reason), "no leader");
    }
    bool ok = !reason[0];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "health", ok ? "true" : "false");
    cJSON_AddStringToObject(o, "reason", reason);
    api_respond_json(req, ok ? 200 : 503, o);
}

static void handle_version(struct http_request *req)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "etcdserver", ETCD_VERSION);
    cJSON_AddStringToObject(o, "etcdcluster", ETCD_VERSION);
    cJSON_AddStringToObject(o, "raftd", PACKAGE_VERSION);
    api_respond_json(req, 200, o);
}

bool keys_api_handle(struct node *n, struct http_request *req)
{
    const char *path = http_request_path(req);
    const char *method = http_request_method(req);
    size_t pl = strlen(KEYS_PREFIX);
    if (strncmp(path, KEYS_PREFIX, pl) == 0 &&
        (path[pl] == 0 || path[pl] == '/')) {
        handle_keys(n, req, path + pl);
        return true;
    }
    if (members_api_handle(n, req))
        return true;
    bool health = strcmp(path, "/health") == 0;
    bool version = strcmp(path, "/version") == 0;
    if (!health && !version)
        return false;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        http_response_header(req, "Allow", "GET, HEAD");
        http_respond_error(req, 405, "use GET");
    } else if (health) {
        handle_health(n, req);
    } else {
        handle_version(req);
    }
    return true;
}
