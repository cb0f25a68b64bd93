/* node_reconfigure.c - changing the cluster's members (issue 11;
 * dissertation chapter 4, single-server changes).
 *
 * A change is asked for on any node, by a reload of raftd.conf's members
 * list (SIGHUP) or through /v2/members; the list asked for is that node's
 * "ask" (a random number names each one). The leader takes it as the
 * desired state and reaches it one committed step at a time (reconcile.h):
 *
 *   - a follower hands its ask to the leader (POST /raft/reconfigure, a
 *     signed peer request) and hands it again every two election timeouts
 *     until the cluster runs it: a new leader (the old one crashed in the
 *     middle of a step) then takes it over, and the leader's answer says
 *     whether it refused it;
 *   - the leader refuses an ask for good when a step would leave the new
 *     configuration without a majority of members heard from lately
 *     (RAFT_ENOQUORUM, after two election timeouts of trying) or is
 *     invalid, logs membership_refused with what to do, and answers 409
 *     with the reason whenever that ask comes again;
 *   - a /v2/members change waits on the node that got it until the
 *     configuration it asked for is applied (committed), is refused, or
 *     request_timeout_ms passes.
 *
 * The latest ask wins: a second change asked while one is under way
 * replaces it (each is computed from the configuration of the moment).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "logging.h"
#include "node_internal.h"
#include "reconcile.h"

#define MEMBERS_WAITS_MAX 8

struct members_wait {
    bool used;
    node_members_fn fn;
    void *arg;
    struct raft_configuration target;
    uint64_t ask;
    raft_time deadline;
};

/* ---- the leader: the desired state, and the steps towards it ---- */

static bool caught_up(raft_id id, void *arg)
{
    struct node *n = arg;
    return raft_learner_caught_up(n->raft, id);
}

/* The ask the leader works on ended: refused for good (why), or done. */
static void want_ended(struct node *n, const char *why)
{
    n->want_valid = false;
    n->want_refused = why != NULL;
    snprintf(n->want_why, sizeof(n->want_why), "%s", why ? why : "");
    if (n->want_from == raft_self(n->raft) && n->want_ask == n->my_ask) {
        n->forward_want = false; /* this node's own ask */
        if (why) {
            n->my_refused_ask = n->my_ask;
            snprintf(n->my_refused, sizeof(n->my_refused), "%s", why);
        } else {
            n->my_done_ask = n->my_ask;
        }
    }
}

/* A step the core refused for good: say why and what to do, and stop. */
static void give_up(struct node *n, const struct reconcile_step *s, int rv)
{
    char want[1024], why[1536];
    reconcile_describe(raft_configuration(n->raft, NULL), &n->want, want,
                       sizeof(want));
    snprintf(why, sizeof(why), "cannot change the members as asked (%s): "
             "%s. %s", want, raft_strerror(rv),
             rv == RAFT_ENOQUORUM
                 ? "Too few of the members that would remain are up and "
                   "reachable: start them (or fix the network) first, or "
                   "change one member at a time, then ask again"
                 : "Check the members list and ask again");
    log_raft(LOG_ERR, &(struct log_raft){.event = "membership_refused",
                                         .term = raft_current_term(n->raft),
                                         .peer = s->id},
             "%s", why);
    want_ended(n, why);
}

static void log_step(struct node *n, const struct reconcile_step *s,
                     raft_index index)
{
    static const char *const what[] = {
        [RECONCILE_ADD] = "adding node %" PRIu64 " as a learner",
        [RECONCILE_PROMOTE] = "promoting node %" PRIu64 " to voter",
        [RECONCILE_ADDRESS] = "changing node %" PRIu64 "'s url",
        [RECONCILE_REMOVE] = "removing node %" PRIu64,
    };
    char text[160];
    snprintf(text, sizeof(text), what[s->kind], s->id);
    log_raft(LOG_NOTICE, &(struct log_raft){.event = "membership_step",
                                            .term = raft_current_term(n->raft),
                                            .peer = s->id, .index = index},
             "%s (entry %" PRIu64 ")", text, index);
}

void members_reconcile(struct node *n)
{
    struct raft *r = n->raft;
    if (!n->want_valid || raft_role(r) != RAFT_LEADER)
        return;
    raft_index at;
    const struct raft_configuration *cur = raft_configuration(r, &at);
    if (at > raft_commit_index(r))
        return; /* the previous step is not committed yet */
    struct reconcile_step s;
    reconcile_next(cur, &n->want, raft_self(r), caught_up, n, &s);
    if (s.kind == RECONCILE_DONE) {
        log_raft(LOG_NOTICE, &(struct log_raft){.event = "members_reconciled",
                                                .term = raft_current_term(r)},
                 "the cluster's members are now those node %" PRIu64
                 " asked for", n->want_from);
        want_ended(n, NULL);
        return;
    }
    if (s.kind == RECONCILE_WAIT) {
        if (!n->want_waiting_logged &&
            node_now_ms() - n->want_since > 10u * n->cfg->election_timeout_max_ms) {
            n->want_waiting_logged = true;
            log_msg(LOG_WARNING, "node %" PRIu64 " joined as a learner but has "
                    "not caught up yet: is raftd running on it, and can the "
                    "others reach it? It is promoted once it has caught up",
                    s.id);
        }
        return;
    }
    raft_index index;
    raft_time now = node_now_ms();
    int rv = raft_change_configuration(r, now, &s.next, &index);
    if (rv == RAFT_EBUSY || rv == RAFT_ENOTREADY)
        return; /* later */
    if (rv == RAFT_ENOQUORUM && (!n->want_refused_since ||
                                 now - n->want_refused_since <
                                     2u * n->cfg->election_timeout_max_ms)) {
        if (!n->want_refused_since) /* a slow answer, or a member down: */
            n->want_refused_since = now; /* for two election timeouts */
        return;
    }
    if (rv < 0) {
        give_up(n, &s, rv);
        return;
    }
    n->want_refused_since = 0;
    log_step(n, &s, index);
    n->want_since = node_now_ms();
    n->want_waiting_logged = false;
    node_schedule(n);
}

static bool same_list(const struct raft_configuration *a,
                      const struct raft_configuration *b)
{
    return a->n == b->n && !reconcile_describe(a, b, NULL, 0);
}

/* The leader takes origin's ask (want) as the desired state. Returns
 * false, with *why, if it refused that ask before. */
static bool take_ask(struct node *n, const struct raft_configuration *want,
                     raft_id origin, uint64_t ask, const char **why)
{
    bool same_ask = n->want_from == origin && n->want_ask == ask;
    if (same_ask && n->want_refused) {
        *why = n->want_why;
        return false;
    }
    if (same_ask && (!n->want_valid || same_list(&n->want, want)))
        return true; /* asked again, under way or done: nothing changes */
    n->want = *want;
    n->want_valid = true;
    n->want_refused = false;
    n->want_from = origin;
    n->want_ask = ask;
    n->want_since = node_now_ms();
    n->want_waiting_logged = false;
    n->want_refused_since = 0;
    members_reconcile(n);
    return true;
}

/* ---- any node: its own ask, handed to the leader ---- */

static char *want_json(const struct raft_configuration *want, raft_id origin,
                       uint64_t ask, size_t *len)
{
    char askhex[17];
    snprintf(askhex, sizeof(askhex), "%016" PRIx64, ask);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "origin", (double)origin);
    cJSON_AddStringToObject(o, "ask", askhex);
    cJSON *arr = cJSON_AddArrayToObject(o, "members");
    for (unsigned i = 0; i < want->n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddNumberToObject(m, "id", (double)want->members[i].id);
        cJSON_AddStringToObject(m, "url", want->members[i].address);
        cJSON_AddItemToArray(arr, m);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    *len = s ? strlen(s) : 0;
    return s;
}

/* The leader refused this node's ask: log it here too, and stop asking. */
static void ask_refused(struct node *n, uint64_t ask, const char *body,
                        size_t len)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *msg = o ? cJSON_GetObjectItemCaseSensitive(o, "error")
                         : NULL; /* http_respond_error()'s body */
    n->my_refused_ask = ask;
    snprintf(n->my_refused, sizeof(n->my_refused), "%s",
             cJSON_IsString(msg) ? msg->valuestring
                                 : "the leader refused the change");
    cJSON_Delete(o);
    n->forward_want = false;
    log_raft(LOG_ERR, &(struct log_raft){.event = "membership_refused",
                                         .term = raft_current_term(n->raft),
                                         .peer = n->forwarded_to},
             "the leader (node %" PRIu64 ") refused the members asked for: "
             "%s", n->forwarded_to, n->my_refused);
}

/* The leader finished this node's ask: if it removed this node, say so
 * (the leader no longer replicates to it, so it does not learn otherwise). */
static void ask_done_elsewhere(struct node *n)
{
    if (raft_configuration_find(&n->my_want, raft_self(n->raft)))
        return;
    log_raft(LOG_WARNING, &(struct log_raft){.event = "removed",
                                             .term = raft_current_term(n->raft)},
             "the leader (node %" PRIu64 ") removed this node from the "
             "cluster, as asked: it takes no further part; stop it",
             n->forwarded_to);
}

struct forwarded {
    struct node *n;
    uint64_t ask;
};

static void on_forwarded(void *arg, long status, const char *body, size_t len,
                         const char *err)
{
    struct forwarded *f = arg;
    struct node *n = f->n;
    uint64_t ask = f->ask;
    free(f);
    if (n->closing)
        return;
    n->forwarding_want = false;
    if (ask != n->my_ask || !n->forward_want)
        return; /* an older ask, replaced since */
    node_schedule(n); /* answer the /v2/members clients that wait */
    if (status == 200) { /* {"done":true}: the cluster runs it */
        n->my_done_ask = ask;
        n->forward_want = false;
        ask_done_elsewhere(n);
        return;
    }
    if (status == 204) {
        if (n->forward_accepted_by != n->forwarded_to)
            log_msg(LOG_INFO, "node %" PRIu64 " (the leader) took this node's "
                    "members list as the one to reach", n->forwarded_to);
        n->forward_accepted_by = n->forwarded_to;
        return;
    }
    if (status == 409) {
        ask_refused(n, ask, body, len);
        return;
    }
    log_msg(LOG_WARNING, "could not hand the members list to the leader "
            "(node %" PRIu64 "): %s; trying again", n->forwarded_to,
            err ? err : status ? body : "no answer");
}

static void forward_to_leader(struct node *n, raft_id leader)
{
    const struct peer *p = node_find_peer(n, leader);
    struct forwarded *f = p ? malloc(sizeof(*f)) : NULL;
    size_t len;
    char *body = f ? want_json(&n->my_want, raft_self(n->raft), n->my_ask,
                               &len) : NULL;
    if (!body) {
        free(f);
        return;
    }
    *f = (struct forwarded){.n = n, .ask = n->my_ask};
    if (node_peer_post(n, leader, p->url, "/raft/reconfigure",
                       "application/json", body, len,
                       n->cfg->request_timeout_ms, on_forwarded, f) == 0) {
        n->forwarding_want = true;
        n->forwarded_to = leader;
        n->forwarded_at = node_now_ms();
    } else {
        free(f);
    }
    free(body);
}

static bool waiting(const struct node *n)
{
    for (unsigned i = 0; n->waits && i < MEMBERS_WAITS_MAX; i++)
        if (n->waits[i].used && n->waits[i].ask == n->my_ask)
            return true;
    return false;
}

/* The node that asked keeps asking until the cluster runs its list: a
 * leader that took it and then lost its office (a crash in the middle of a
 * step) took the plan with it, so the next leader is asked too; asking the
 * same leader again now and then brings back its refusal, if it gave up. */
static void hand_over_ask(struct node *n)
{
    raft_id leader = raft_leader(n->raft);
    if (!n->forward_want || n->stopping)
        return;
    if (!reconcile_describe(raft_configuration(n->raft, NULL), &n->my_want,
                            NULL, 0)) {
        n->forward_want = false; /* reached */
        return;
    }
    if (leader == raft_self(n->raft)) {
        const char *why;
        if (!(n->want_valid && n->want_from == leader &&
              n->want_ask == n->my_ask) &&
            !take_ask(n, &n->my_want, leader, n->my_ask, &why))
            want_ended(n, why); /* refused before: this node's own */
        return;
    }
    /* ask again now and then: soon when a /v2/members client waits */
    unsigned every = waiting(n) ? 2u * n->cfg->heartbeat_ms
                                : 2u * n->cfg->election_timeout_max_ms;
    bool due = node_now_ms() - n->forwarded_at >= every;
    /* a node just removed hears no leader: it asks the one that took it */
    raft_id to = leader != RAFT_NONE ? leader : n->forward_accepted_by;
    if (n->forwarding_want || to == RAFT_NONE ||
        (to == n->forward_accepted_by && !due))
        return;
    forward_to_leader(n, to);
}

/* A new ask of this node: want. */
static void ask_for(struct node *n, const struct raft_configuration *want)
{
    n->my_want = *want;
    n->my_ask = node_random_u64(n) | 1; /* never 0 */
    n->forward_want = true;
    n->forward_accepted_by = RAFT_NONE;
    hand_over_ask(n);
}

/* Parse {"origin":N,"ask":"hex","members":[{"id":N,"url":"..."},...]}. */
static int parse_ask(const char *body, size_t len,
                     struct raft_configuration *want, raft_id *origin,
                     uint64_t *ask, const char **why)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *arr = o ? cJSON_GetObjectItemCaseSensitive(o, "members") : NULL;
    const cJSON *org = o ? cJSON_GetObjectItemCaseSensitive(o, "origin") : NULL;
    const cJSON *a = o ? cJSON_GetObjectItemCaseSensitive(o, "ask") : NULL;
    const cJSON *m;
    char *end;
    memset(want, 0, sizeof(*want));
    *why = "a JSON object with \"origin\", \"ask\" and \"members\" is expected";
    if (!cJSON_IsArray(arr) || !cJSON_IsNumber(org) || org->valuedouble < 1 ||
        org->valuedouble > 2147483647.0 || !cJSON_IsString(a) ||
        strlen(a->valuestring) != 16)
        goto bad;
    *origin = (raft_id)org->valuedouble;
    *ask = strtoull(a->valuestring, &end, 16);
    if (*end || !*ask)
        goto bad;
    cJSON_ArrayForEach(m, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(m, "url");
        if (want->n == RAFT_MAX_MEMBERS || !cJSON_IsNumber(id) ||
            id->valuedouble < 1 || id->valuedouble > 2147483647.0 ||
            !cJSON_IsString(url) || strlen(url->valuestring) > RAFT_ADDRESS_MAX) {
            *why = "a member needs an id (1 to 2147483647) and a url";
            goto bad;
        }
        struct raft_member *w = &want->members[want->n++];
        w->id = (raft_id)id->valuedouble;
        strcpy(w->address, url->valuestring);
    }
    uint8_t buf[RAFT_CONFIGURATION_MAX_BYTES];
    if (raft_configuration_encode(want, buf) < 0) {
        *why = "the members list is not valid (distinct ids, at least one)";
        goto bad;
    }
    cJSON_Delete(o);
    return 0;
bad:
    cJSON_Delete(o);
    return -1;
}

void members_handle_reconfigure(struct node *n, struct http_request *req)
{
    if (strcmp(http_request_method(req), "POST") != 0) {
        http_response_header(req, "Allow", "POST");
        http_respond_error(req, 405, "use POST");
        return;
    }
    size_t len;
    const char *body = http_request_body(req, &len);
    struct raft_configuration want;
    raft_id origin;
    uint64_t ask;
    const char *why;
    if (parse_ask(body, len, &want, &origin, &ask, &why) < 0) {
        http_respond_error(req, 400, why);
        return;
    }
    if (raft_role(n->raft) != RAFT_LEADER) {
        http_respond_error(req, 503, "this node is not the leader");
        return;
    }
    if (!(n->want_from == origin && n->want_ask == ask))
        log_msg(LOG_NOTICE, "node %" PRIu64 " asks for other members", origin);
    if (!take_ask(n, &want, origin, ask, &why)) {
        http_respond_error(req, 409, why);
        return;
    }
    if (!n->want_valid) { /* done, and committed (members_reconcile) */
        static const char done[] = "{\"done\":true}";
        http_respond(req, 200, "application/json", done, sizeof(done) - 1);
        return;
    }
    http_respond(req, 204, NULL, NULL, 0); /* under way */
}

/* ---- /v2/members changes, waiting on the node that got them ---- */

static void wait_done(struct members_wait *w, unsigned status,
                      const char *message)
{
    w->used = false;
    w->fn(w->arg, status, message);
}

/* Committed (applied) configuration holds target's ids and URLs. */
static bool wait_reached(const struct node *n, const struct members_wait *w)
{
    const struct raft_configuration *c = &n->applied_conf;
    if (c->n != w->target.n)
        return false;
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_member *t =
            raft_configuration_find(&w->target, c->members[i].id);
        if (!t || !endpoint_same(t->address, c->members[i].address))
            return false;
    }
    return true;
}

static void check_waits(struct node *n)
{
    raft_time now = node_now_ms();
    for (unsigned i = 0; n->waits && i < MEMBERS_WAITS_MAX; i++) {
        struct members_wait *w = &n->waits[i];
        if (!w->used)
            continue;
        if (wait_reached(n, w) || n->my_done_ask == w->ask) {
            wait_done(w, 0, NULL);
        } else if (n->my_refused_ask == w->ask) {
            wait_done(w, 409, n->my_refused);
        } else if (w->ask != n->my_ask) {
            wait_done(w, 409, "another change of members, asked since, "
                      "replaced this one");
        } else if (now >= w->deadline) {
            char left[1024], msg[1200];
            reconcile_describe(&n->applied_conf, &w->target, left,
                               sizeof(left));
            snprintf(msg, sizeof(msg), "the change was not committed within "
                     "request_timeout_ms (%s); the cluster keeps working on "
                     "it: see GET /v2/members and the leader's journal",
                     left);
            wait_done(w, 504, msg);
        }
    }
}

struct members_wait *node_change_members(struct node *n,
                                         const struct raft_configuration *want,
                                         node_members_fn fn, void *arg)
{
    if (!n->waits)
        n->waits = calloc(MEMBERS_WAITS_MAX, sizeof(*n->waits));
    struct members_wait *w = NULL;
    for (unsigned i = 0; n->waits && i < MEMBERS_WAITS_MAX && !w; i++)
        if (!n->waits[i].used)
            w = &n->waits[i];
    if (!w)
        return NULL;
    char diff[1024];
    if (reconcile_describe(raft_configuration(n->raft, NULL), want, diff,
                           sizeof(diff)))
        log_msg(LOG_NOTICE, "/v2/members asks for other members: %s", diff);
    ask_for(n, want);
    *w = (struct members_wait){
        .used = true, .fn = fn, .arg = arg, .target = *want, .ask = n->my_ask,
        .deadline = node_now_ms() + n->cfg->request_timeout_ms};
    node_schedule(n); /* the answer comes from node_process: never inline */
    return w;
}

void node_members_cancel(struct node *n, struct members_wait *w)
{
    (void)n;
    w->used = false;
}

void members_waits_free(struct node *n)
{
    for (unsigned i = 0; n->waits && i < MEMBERS_WAITS_MAX; i++)
        if (n->waits[i].used)
            wait_done(&n->waits[i], 503, "raftd is stopping");
    free(n->waits);
    n->waits = NULL;
}

void members_forward(struct node *n)
{
    hand_over_ask(n);
    check_waits(n);
}

const struct raft_configuration *node_configuration(const struct node *n,
                                                    raft_index *at)
{
    return raft_configuration(n->raft, at);
}

raft_id node_new_member_id(const struct node *n)
{
    raft_id top = n->highest_id;
    const struct raft_configuration *c = raft_configuration(n->raft, NULL);
    for (unsigned i = 0; i < c->n; i++)
        if (c->members[i].id > top)
            top = c->members[i].id;
    for (unsigned i = 0; i < n->members.n; i++)
        if (n->members.m[i].id > top)
            top = n->members.m[i].id;
    return top + 1;
}

/* ---- reload ---- */

void members_reload(struct node *n, const struct raftd_config *fresh)
{
    struct raft_configuration want;
    char diff[2048];
    if (members_file_configuration(fresh, &want) < 0)
        return;
    const struct raft_configuration *cur = raft_configuration(n->raft, NULL);
    n->file_differs[0] = 0;
    if (!reconcile_describe(cur, &want, diff, sizeof(diff))) {
        log_msg(LOG_INFO, "reload: %s lists the cluster's members; nothing "
                "to change", fresh->path);
        return;
    }
    log_raft(LOG_NOTICE, &(struct log_raft){.event = "members_reload",
                                            .term = raft_current_term(n->raft)},
             "reload: %s asks for other members: %s; the leader makes the "
             "changes one at a time", fresh->path, diff);
    ask_for(n, &want);
}

void node_reload_members(struct node *n, const struct raftd_config *fresh)
{
    members_reload(n, fresh);
    node_schedule(n);
}
