/* faults.c - the fault rules and the requests that set them (faults.h). */
#include "faults.h"

#include <stdio.h>
#include <string.h>

void faults_init(struct faults *f)
{
    memset(f, 0, sizeof(*f));
}

static struct fault_rule *find_rule(const struct faults *f, raft_id peer)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->rules[i].peer == peer)
            return (struct fault_rule *)&f->rules[i];
    return NULL;
}

int faults_add(struct faults *f, const struct fault_rule *rule)
{
    struct fault_rule *r = find_rule(f, rule->peer);
    if (!r) {
        if (f->n == FAULTS_MAX)
            return -1;
        r = &f->rules[f->n++];
        *r = (struct fault_rule){.peer = rule->peer};
    }
    r->drop_out |= rule->drop_out;
    r->drop_in |= rule->drop_in;
    if (rule->delay_ms)
        r->delay_ms = rule->delay_ms;
    return 0;
}

size_t faults_heal(struct faults *f)
{
    size_t n = f->n;
    faults_init(f);
    return n;
}

bool faults_any(const struct faults *f)
{
    return f->n > 0;
}

bool faults_drop_out(const struct faults *f, raft_id to)
{
    const struct fault_rule *one = find_rule(f, to);
    const struct fault_rule *all = find_rule(f, FAULTS_ALL);
    return (one && one->drop_out) || (all && all->drop_out);
}

bool faults_drop_in(const struct faults *f, raft_id from)
{
    const struct fault_rule *one = find_rule(f, from);
    const struct fault_rule *all = find_rule(f, FAULTS_ALL);
    return (one && one->drop_in) || (all && all->drop_in);
}

unsigned faults_delay_ms(const struct faults *f, raft_id to)
{
    const struct fault_rule *one = find_rule(f, to);
    const struct fault_rule *all = find_rule(f, FAULTS_ALL);
    unsigned a = one ? one->delay_ms : 0, b = all ? all->delay_ms : 0;
    return a > b ? a : b;
}

cJSON *faults_json(const struct faults *f)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < f->n; i++) {
        const struct fault_rule *r = &f->rules[i];
        cJSON *o = cJSON_CreateObject();
        if (r->peer == FAULTS_ALL)
            cJSON_AddStringToObject(o, "peer", "all");
        else
            cJSON_AddNumberToObject(o, "peer", (double)r->peer);
        cJSON_AddBoolToObject(o, "drop_out", r->drop_out);
        cJSON_AddBoolToObject(o, "drop_in", r->drop_in);
        cJSON_AddNumberToObject(o, "delay_ms", r->delay_ms);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static const char *const kind_names[] = {
    [FAULT_PARTITION] = "partition", [FAULT_DELAY] = "delay",
    [FAULT_ELECTION] = "election",   [FAULT_CRASH] = "crash",
    [FAULT_HEAL] = "heal",
};
#define N_KINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *fault_kind_name(enum fault_kind kind)
{
    return (unsigned)kind < N_KINDS ? kind_names[kind] : "?";
}

#define USAGE                                                               \
    "send {\"fault\": \"partition\", \"peer\": ID, \"direction\": "        \
    "\"both\"|\"out\"|\"in\"}, {\"fault\": \"delay\", \"ms\": N, "         \
    "\"peer\": ID}, {\"fault\": \"election\"}, {\"fault\": \"crash\"} or " \
    "{\"fault\": \"heal\"} (no \"peer\": every peer)"

/* Is every member of o one of the names allowed? */
static const char *unknown_field(const cJSON *o, const char *const *allowed)
{
    for (const cJSON *c = o->child; c; c = c->next) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(c->string, allowed[i]) == 0;
        if (!ok)
            return c->string;
    }
    return NULL;
}

/* A whole number in [lo, hi]. */
static bool whole(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble >= lo &&
           v->valuedouble <= hi &&
           v->valuedouble == (double)(unsigned long)v->valuedouble;
}

static int parse_peer(const cJSON *o, struct fault_rule *rule, char *why,
                      size_t whylen)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "peer");
    if (!p || cJSON_IsNull(p) ||
        (cJSON_IsString(p) && strcmp(p->valuestring, "all") == 0)) {
        rule->peer = FAULTS_ALL;
        return 0;
    }
    if (!whole(p, 1, 2147483647.0)) {
        snprintf(why, whylen, "\"peer\" must be a member's id (a whole "
                 "number above 0) or \"all\"");
        return -1;
    }
    rule->peer = (raft_id)p->valuedouble;
    return 0;
}

static int parse_partition(const cJSON *o, struct fault_rule *rule,
                           char *why, size_t whylen)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "direction");
    const char *dir = !d ? "both" : cJSON_IsString(d) ? d->valuestring : "";
    rule->drop_out = strcmp(dir, "both") == 0 || strcmp(dir, "out") == 0;
    rule->drop_in = strcmp(dir, "both") == 0 || strcmp(dir, "in") == 0;
    if (!rule->drop_out && !rule->drop_in) {
        snprintf(why, whylen, "\"direction\" must be \"both\" (the default), "
                 "\"out\" (this node's requests to the peer are lost) or "
                 "\"in\" (the peer's requests to this node are refused)");
        return -1;
    }
    return 0;
}

static int parse_delay(const cJSON *o, struct fault_rule *rule, char *why,
                       size_t whylen)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "ms");
    if (!whole(ms, 1, FAULTS_DELAY_MAX_MS)) {
        snprintf(why, whylen, "\"ms\" must be the delay in milliseconds, a "
                 "whole number from 1 to %u (to remove a delay, heal)",
                 FAULTS_DELAY_MAX_MS);
        return -1;
    }
    rule->delay_ms = (unsigned)ms->valuedouble;
    return 0;
}

static int parse_object(const cJSON *o, struct fault_request *req, char *why,
                        size_t whylen)
{
    static const char *const partition[] = {"fault", "peer", "direction", NULL};
    static const char *const delay[] = {"fault", "peer", "ms", NULL};
    static const char *const bare[] = {"fault", NULL};
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "fault");
    size_t i = 0;
    while (cJSON_IsString(k) && i < N_KINDS &&
           strcmp(k->valuestring, kind_names[i]) != 0)
        i++;
    if (!cJSON_IsString(k) || i == N_KINDS) {
        snprintf(why, whylen, "no such fault%s%s%s: " USAGE,
                 cJSON_IsString(k) ? " \"" : "",
                 cJSON_IsString(k) ? k->valuestring : "",
                 cJSON_IsString(k) ? "\"" : " (\"fault\" is missing)");
        return -1;
    }
    req->kind = (enum fault_kind)i;
    const char *const *allowed = req->kind == FAULT_PARTITION ? partition
                               : req->kind == FAULT_DELAY     ? delay
                                                              : bare;
    const char *extra = unknown_field(o, allowed);
    if (extra) {
        snprintf(why, whylen, "\"%s\" has no meaning for the fault \"%s\": "
                 USAGE, extra, kind_names[i]);
        return -1;
    }
    if (req->kind == FAULT_PARTITION)
        return parse_peer(o, &req->rule, why, whylen) < 0 ? -1
               : parse_partition(o, &req->rule, why, whylen);
    if (req->kind == FAULT_DELAY)
        return parse_peer(o, &req->rule, why, whylen) < 0 ? -1
               : parse_delay(o, &req->rule, why, whylen);
    return 0;
}

int fault_request_parse(const char *body, size_t len,
                        struct fault_request *req, char *why, size_t whylen)
{
    memset(req, 0, sizeof(*req));
    cJSON *o = len ? cJSON_ParseWithLength(body, len) : NULL;
    int rv = -1;
    if (!cJSON_IsObject(o))
        snprintf(why, whylen, "the body must be a JSON object: " USAGE);
    else
        rv = parse_object(o, req, why, whylen);
    cJSON_Delete(o);
    return rv;
}
