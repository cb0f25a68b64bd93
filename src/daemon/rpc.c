/* rpc.c - Raft messages <-> JSON (see rpc.h), with cJSON.
 *
 * One table per message type maps JSON names to struct raft_msg fields, so
 * encoding and decoding cannot drift apart. Decoding trusts nothing: every
 * field is type- and range-checked, and base64 is validated.
 */
#include "rpc.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_U64, K_BOOL };

struct field {
    const char *name;
    size_t offset;
    enum kind kind;
};

#define U(name, member) {name, offsetof(struct raft_msg, member), K_U64}
#define B(name, member) {name, offsetof(struct raft_msg, member), K_BOOL}

static const struct field vote_fields[] = {
    U("term", term), U("candidate_id", from), U("to", to),
    U("last_log_index", last_index), U("last_log_term", last_term),
    B("prevote", prevote), B("transfer", transfer), {0},
};
static const struct field vote_resp_fields[] = {
    U("term", term), U("from", from), U("to", to),
    B("vote_granted", granted), B("prevote", prevote), {0},
};
static const struct field append_fields[] = {
    U("term", term), U("leader_id", from), U("to", to),
    U("prev_log_index", prev_index), U("prev_log_term", prev_term),
    U("leader_commit", commit), U("seq", seq), {0},
};
static const struct field append_resp_fields[] = {
    U("term", term), U("from", from), U("to", to), B("success", success),
    U("match_index", match_index), U("prev_log_index", prev_index),
    U("conflict_index", hint_index), U("conflict_term", hint_term),
    U("seq", seq), {0},
};
static const struct field timeout_now_fields[] = {
    U("term", term), U("leader_id", from), U("to", to), {0},
};
/* InstallSnapshot: this JSON is the first line of the request body, the
 * snapshot file follows it (node_snapshot.c). */
static const struct field snapshot_fields[] = {
    U("term", term), U("leader_id", from), U("to", to),
    U("last_included_index", snapshot_index),
    U("last_included_term", snapshot_term), U("leader_commit", commit),
    U("seq", seq), {0},
};

static const struct field *fields_of(enum raft_msg_type type)
{
    switch (type) {
    case RAFT_MSG_VOTE:
        return vote_fields;
    case RAFT_MSG_VOTE_RESP:
        return vote_resp_fields;
    case RAFT_MSG_APPEND:
        return append_fields;
    case RAFT_MSG_APPEND_RESP:
        return append_resp_fields;
    case RAFT_MSG_TIMEOUT_NOW:
        return timeout_now_fields;
    case RAFT_MSG_SNAPSHOT:
        return snapshot_fields;
    }
    return NULL;
}

const char *rpc_path(enum raft_msg_type type)
{
    switch (type) {
    case RAFT_MSG_VOTE:
        return "/raft/request_vote";
    case RAFT_MSG_APPEND:
        return "/raft/append_entries";
    case RAFT_MSG_TIMEOUT_NOW:
        return "/raft/timeout_now";
    case RAFT_MSG_SNAPSHOT:
        return "/raft/install_snapshot"; /* not JSON: see node_snapshot.c */
    default:
        return NULL;
    }
}

enum raft_msg_type rpc_type_for_path(const char *path)
{
    static const enum raft_msg_type requests[] = {
        RAFT_MSG_VOTE, RAFT_MSG_APPEND, RAFT_MSG_TIMEOUT_NOW};
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
        if (strcmp(path, rpc_path(requests[i])) == 0)
            return requests[i];
    return 0;
}

enum raft_msg_type rpc_response_type(enum raft_msg_type request)
{
    switch (request) {
    case RAFT_MSG_VOTE:
        return RAFT_MSG_VOTE_RESP;
    case RAFT_MSG_APPEND:
    case RAFT_MSG_SNAPSHOT:
        return RAFT_MSG_APPEND_RESP;
    default:
        return 0;
    }
}

/* ---- base64 (RFC 4648, with padding) ---- */
static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Returns 0, or -1 if s is not valid padded base64. */
static int base64_decode(const char *s, uint8_t **out, uint32_t *outlen)
{
    size_t n = strlen(s);
    *out = NULL;
    *outlen = 0;
    if (n % 4 || n / 4 * 3 > UINT32_MAX)
        return -1;
    if (n == 0)
        return 0;
    uint8_t *buf = malloc(n / 4 * 3), *o = buf;
    if (!buf)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = s[i + k] == '=' && i + 4 == n && k >= 2 ? 0 : b64_value(s[i + k]);
            if (v[k] < 0)
                goto bad;
        }
        if (s[i + 2] == '=' && s[i + 3] != '=')
            goto bad;
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        *o++ = (uint8_t)(x >> 16);
        if (s[i + 2] != '=')
            *o++ = (uint8_t)(x >> 8);
        if (s[i + 3] != '=')
            *o++ = (uint8_t)x;
    }
    *out = buf;
    *outlen = (uint32_t)(o - buf);
    return 0;
bad:
    free(buf);
    return -1;
}

/* ---- encoding ----
 * Written straight into one buffer (no cJSON tree): this is the leader's
 * hot path, once per AppendEntries. Field names all come from the tables
 * above and need no escaping; base64 needs none either. */

static size_t encoded_size(const struct raft_msg *m)
{
    size_t n = 512; /* the fields, with room to spare */
    for (size_t i = 0; i < m->n_entries; i++)
        n += (m->entries[i].len + 2) / 3 * 4 + 64;
    return n;
}

static char *put_base64(char *o, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    return o;
}

char *rpc_encode(const struct raft_msg *m, size_t *len)
{
    const struct field *f = fields_of(m->type);
    if (!f)
        return NULL;
    size_t cap = encoded_size(m);
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    *o++ = '{';
    for (; f->name; f++) {
        const char *p = (const char *)m + f->offset;
        o += f->kind == K_U64
                 ? sprintf(o, "\"%s\":%llu,", f->name,
                           (unsigned long long)*(const uint64_t *)p)
                 : sprintf(o, "\"%s\":%s,", f->name,
                           *(const bool *)p ? "true" : "false");
    }
    if (m->type == RAFT_MSG_APPEND) {
        o += sprintf(o, "\"entries\":[");
        for (size_t i = 0; i < m->n_entries; i++) {
            const struct raft_entry *e = &m->entries[i];
            o += sprintf(o, "%s{\"term\":%llu,\"type\":%u,\"data\":\"",
                         i ? "," : "", (unsigned long long)e->term, e->type);
            o = put_base64(o, e->data, e->len);
            *o++ = '"';
            *o++ = '}';
        }
        *o++ = ']';
    } else {
        o--; /* the last field's comma */
    }
    *o++ = '}';
    *o = 0;
    if (len)
        *len = (size_t)(o - out);
    return out;
}

/* ---- decoding ---- */

#define MAX_SAFE_INT 9007199254740992.0 /* 2^53 */

static int get_u64(const cJSON *obj, const char *name, uint64_t *out,
                   char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v) {
        snprintf(err, errlen, "missing field \"%s\"", name);
        return -1;
    }
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !(d >= 0) || d >= MAX_SAFE_INT || floor(d) != d) {
        snprintf(err, errlen,
                 "field \"%s\" must be an integer between 0 and 2^53", name);
        return -1;
    }
    *out = (uint64_t)d;
    return 0;
}

static int get_fields(const cJSON *obj, struct raft_msg *m,
                      const struct field *f, char *err, size_t errlen)
{
    for (; f->name; f++) {
        char *p = (char *)m + f->offset;
        if (f->kind == K_U64) {
            if (get_u64(obj, f->name, (uint64_t *)p, err, errlen) < 0)
                return -1;
            continue;
        }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
        if (!v) {
            *(bool *)p = false; /* flags may be omitted */
        } else if (cJSON_IsBool(v)) {
            *(bool *)p = cJSON_IsTrue(v);
        } else {
            snprintf(err, errlen, "field \"%s\" must be true or false",
                     f->name);
            return -1;
        }
    }
    return 0;
}

static int get_entries(const cJSON *obj, struct raft_msg *m, char *err,
                       size_t errlen)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "entries");
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr)) {
        snprintf(err, errlen, "field \"entries\" must be an array");
        return -1;
    }
    int n = cJSON_GetArraySize(arr);
    if (n == 0)
        return 0;
    m->entries = calloc((size_t)n, sizeof(struct raft_entry));
    if (!m->entries) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *je;
    cJSON_ArrayForEach(je, arr)
    {
        struct raft_entry *e = &m->entries[m->n_entries];
        uint64_t type;
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(je, "data");
        if (!cJSON_IsObject(je) ||
            get_u64(je, "term", &e->term, err, errlen) < 0 ||
            get_u64(je, "type", &type, err, errlen) < 0)
            goto bad;
        if (type > RAFT_ENTRY_CONFIG) {
            snprintf(err, errlen, "entry %zu: unknown type %llu",
                     m->n_entries, (unsigned long long)type);
            goto bad;
        }
        e->type = (uint8_t)type;
        if (!cJSON_IsString(data) ||
            base64_decode(data->valuestring, &e->data, &e->len) < 0) {
            snprintf(err, errlen, "entry %zu: \"data\" must be base64",
                     m->n_entries);
            goto bad;
        }
        m->n_entries++;
    }
    return 0;
bad:
    if (!cJSON_IsObject(je))
        snprintf(err, errlen, "entries must be objects");
    return -1;
}

int rpc_decode(enum raft_msg_type type, const char *body, size_t len,
               struct raft_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
    const struct field *f = fields_of(type);
    if (!f) {
        snprintf(err, errlen, "unknown message type");
        return -1;
    }
    cJSON *obj = cJSON_ParseWithLength(body, len);
    if (!obj || !cJSON_IsObject(obj)) {
        snprintf(err, errlen, obj ? "body must be a JSON object"
                                  : "malformed JSON");
        cJSON_Delete(obj);
        return -1;
    }
    int rv = get_fields(obj, m, f, err, errlen);
    if (rv == 0 && type == RAFT_MSG_APPEND)
        rv = get_entries(obj, m, err, errlen);
    cJSON_Delete(obj);
    if (rv < 0)
        rpc_msg_free(m);
    return rv;
}

void rpc_msg_free(struct raft_msg *m)
{
    for (size_t i = 0; i < m->n_entries; i++)
        free(m->entries[i].data);
    free(m->entries);
    m->entries = NULL;
    m->n_entries = 0;
}

int rpc_decode_install_snapshot(const char *body, size_t len,
                                struct raft_msg *m, const uint8_t **img,
                                size_t *img_len, char *err, size_t errlen)
{
    size_t scan = len < RPC_SNAPSHOT_LINE_MAX ? len : RPC_SNAPSHOT_LINE_MAX;
    const char *nl = memchr(body, '\n', scan);
    if (!nl) {
        memset(m, 0, sizeof(*m));
        snprintf(err, errlen, "an InstallSnapshot body starts with a JSON "
                 "line, then the snapshot");
        return -1;
    }
    if (rpc_decode(RAFT_MSG_SNAPSHOT, body, (size_t)(nl - body), m, err,
                   errlen) < 0)
        return -1;
    *img = (const uint8_t *)nl + 1;
    *img_len = len - (size_t)(nl + 1 - body);
    return 0;
}
