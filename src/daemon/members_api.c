/* members_api.c - etcd v2's members API over the cluster's configuration,
 * so that `etcdctl member list/add/remove/update` (ETCDCTL_API=2) work:
 *
 *   GET    /v2/members            every member of the configuration in use
 *   GET    /v2/members/leader     the leader this node knows
 *   POST   /v2/members            {"peerURLs":["url"]}: add a member (201)
 *   DELETE /v2/members/<hex id>   remove one (204)
 *   PUT    /v2/members/<hex id>   {"peerURLs":["url"]}: change its URL (204)
 *
 * A change is asked of the cluster as a reload with the new members list
 * would (node_change_members(): the leader gets there one step at a time,
 * dissertation 4.1) and answered once it is committed. A new member is a
 * learner until it catches up: listed with an empty name, which etcdctl
 * shows as "[unstarted]", as etcd shows a member not started yet.
 * Errors are etcd's: 400 for a malformed body, 404 for an unknown id, 409
 * for a URL already in use or a change the leader refused (with why), 415
 * for a body that is not application/json.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "endpoint.h"
#include "keys_api.h"
#include "members_api.h"

#define MEMBERS_PATH "/v2/members"

static cJSON *member_json(const struct raft_member *m)
{
    char id[32], name[32] = "";
    snprintf(id, sizeof(id), "%" PRIx64, m->id);
    if (m->role == RAFT_VOTER)
        snprintf(name, sizeof(name), "node%" PRIu64, m->id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "name", name);
    cJSON *peer = cJSON_AddArrayToObject(o, "peerURLs");
    cJSON_AddItemToArray(peer, cJSON_CreateString(m->address));
    cJSON *client = cJSON_AddArrayToObject(o, "clientURLs");
    if (m->role == RAFT_VOTER)
        cJSON_AddItemToArray(client, cJSON_CreateString(m->address));
    return o;
}

/* The URL this node uses for m: its own file's, when that names the same
 * host and port (a cluster switched to TLS shows its https:// URLs). */
static struct raft_member shown(struct node *n, const struct raft_member *m)
{
    struct raft_member s = *m;
    const struct raftd_member *f = config_member(node_config(n), m->id);
    if (f && endpoint_same(f->url, m->address))
        snprintf(s.address, sizeof(s.address), "%s", f->url);
    return s;
}

static void handle_list(struct node *n, struct http_request *req)
{
    const struct raft_configuration *c = node_configuration(n, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "members");
    for (unsigned i = 0; i < c->n; i++) {
        struct raft_member m = shown(n, &c->members[i]);
        cJSON_AddItemToArray(arr, member_json(&m));
    }
    api_respond_json(req, 200, o);
}

static void handle_leader(struct node *n, struct http_request *req)
{
    const struct raft_member *m =
        raft_configuration_find(node_configuration(n, NULL), node_leader(n));
    if (!m) {
        static const char body[] = "{\"message\":\"During election\"}";
        http_respond(req, 503, "application/json", body, sizeof(body) - 1);
        return;
    }
    struct raft_member s = shown(n, m);
    api_respond_json(req, 200, member_json(&s));
}

/* etcd's errors here are {"message": "..."}. */
/* ---- a change, answered once committed ---- */

struct change {
    struct node *n;
    struct members_wait *wait;
    unsigned status;       /* the answer on success: 201 or 204 */
    struct raft_member added;
};

static void on_change_done(void *arg, unsigned status, const char *message)
{
    struct http_request *req = arg;
    struct change *ch = http_request_context(req, sizeof(*ch));
    ch->wait = NULL;
    if (status) {
        api_respond_message(req, status, message);
    } else if (ch->status == 201) {
        struct raft_member m = ch->added;
        m.role = RAFT_LEARNER;
        cJSON *o = member_json(&m);
        api_respond_json(req, 201, o);
    } else {
        http_respond(req, 204, NULL, NULL, 0);
    }
}

static void on_change_abort(struct http_request *req, void *arg)
{
    (void)req;
    struct change *ch = arg;
    if (ch->wait)
        node_members_cancel(ch->n, ch->wait);
}

static void ask_change(struct node *n, struct http_request *req,
                       const struct raft_configuration *want, unsigned status,
                       const struct raft_member *added)
{
    struct change *ch = http_request_context(req, sizeof(*ch));
    if (!ch) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    *ch = (struct change){.n = n, .status = status};
    if (added)
        ch->added = *added;
    ch->wait = node_change_members(n, want, on_change_done, req);
    if (!ch->wait) {
        api_respond_message(req, 503, "too many changes of members are "
                            "waiting already: try again once they are done");
        return;
    }
    http_request_on_abort(req, on_change_abort, ch);
}

/* ---- request bodies ---- */

/* {"peerURLs":["url"]}: the one URL (raftd members have one). */
static int parse_peer_url(struct http_request *req, char *url, size_t len)
{
    const char *ct = http_request_header(req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        api_respond_message(req, 415, "Bad Content-Type");
        return -1;
    }
    size_t blen;
    const char *body = http_request_body(req, &blen);
    cJSON *o = cJSON_ParseWithLength(body, blen);
    const cJSON *urls = o ? cJSON_GetObjectItemCaseSensitive(o, "peerURLs")
                          : NULL;
    const cJSON *u = cJSON_IsArray(urls) && cJSON_GetArraySize(urls) == 1
                         ? cJSON_GetArrayItem(urls, 0) : NULL;
    char why[RAFT_ADDRESS_MAX + 200];
    bool ok = cJSON_IsString(u) &&
              config_normalize_url(u->valuestring, url, len, why,
                                   sizeof(why)) == 0;
    if (!ok && !cJSON_IsString(u))
        api_respond_message(req, 400, "the body must be "
                            "{\"peerURLs\":[\"url\"]}, with one URL: a "
                            "raftd member has one");
    else if (!ok)
        api_respond_message(req, 400, why);
    cJSON_Delete(o);
    return ok ? 0 : -1;
}

/* The member a path's hex id names; 404 (answered) if none. */
static int path_member(struct node *n, struct http_request *req,
                       const char *hexid, struct raft_configuration *cur,
                       unsigned *at)
{
    char *end;
    unsigned long long id = strtoull(hexid, &end, 16);
    *cur = *node_configuration(n, NULL);
    for (unsigned i = 0; *hexid && !*end && i < cur->n; i++)
        if (cur->members[i].id == id) {
            *at = i;
            return 0;
        }
    char msg[200];
    snprintf(msg, sizeof(msg), "No such member: %.32s", hexid);
    api_respond_message(req, 404, msg);
    return -1;
}

/* 409 (answered) if another member than skip already has url's host and
 * port. */
static int url_in_use(struct http_request *req,
                      const struct raft_configuration *c, const char *url,
                      raft_id skip)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->members[i].id != skip &&
            endpoint_same(c->members[i].address, url)) {
            char msg[400];
            snprintf(msg, sizeof(msg), "Peer URLs already exists: node %"
                     PRIu64 " has %s", c->members[i].id,
                     c->members[i].address);
            api_respond_message(req, 409, msg);
            return -1;
        }
    return 0;
}

static void handle_add(struct node *n, struct http_request *req)
{
    struct raft_configuration want = *node_configuration(n, NULL);
    char url[RAFT_ADDRESS_MAX + 1];
    if (parse_peer_url(req, url, sizeof(url)) < 0 ||
        url_in_use(req, &want, url, RAFT_NONE) < 0)
        return;
    if (want.n == RAFT_MAX_MEMBERS) {
        api_respond_message(req, 409, "the cluster has the most members "
                            "raftd allows already");
        return;
    }
    struct raft_member *m = &want.members[want.n++];
    *m = (struct raft_member){.id = node_new_member_id(n),
                              .role = RAFT_VOTER};
    snprintf(m->address, sizeof(m->address), "%s", url);
    struct raft_member added = *m;
    ask_change(n, req, &want, 201, &added);
}

static void handle_remove(struct node *n, struct http_request *req,
                          const char *hexid)
{
    struct raft_configuration want;
    unsigned at;
    if (path_member(n, req, hexid, &want, &at) < 0)
        return;
    if (want.n == 1) {
        api_respond_message(req, 409, "the cluster's last member cannot "
                            "be removed");
        return;
    }
    want.members[at] = want.members[--want.n];
    ask_change(n, req, &want, 204, NULL);
}

static void handle_update(struct node *n, struct http_request *req,
                          const char *hexid)
{
    struct raft_configuration want;
    unsigned at;
    char url[RAFT_ADDRESS_MAX + 1];
    if (path_member(n, req, hexid, &want, &at) < 0 ||
        parse_peer_url(req, url, sizeof(url)) < 0 ||
        url_in_use(req, &want, url, want.members[at].id) < 0)
        return;
    snprintf(want.members[at].address, sizeof(want.members[at].address), "%s",
             url);
    ask_change(n, req, &want, 204, NULL);
}

static bool is_get(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

bool members_api_handle(struct node *n, struct http_request *req)
{
    const char *path = http_request_path(req);
    const char *method = http_request_method(req);
    size_t pl = strlen(MEMBERS_PATH);
    if (strncmp(path, MEMBERS_PATH, pl) != 0 ||
        (path[pl] != 0 && path[pl] != '/'))
        return false;
    const char *rest = path[pl] ? path + pl + 1 : "";
    if (!*rest) {
        if (is_get(method))
            handle_list(n, req);
        else if (strcmp(method, "POST") == 0)
            handle_add(n, req);
        else
            api_refuse_method(req, "GET, HEAD, POST", false);
    } else if (strcmp(rest, "leader") == 0) {
        if (is_get(method))
            handle_leader(n, req);
        else
            api_refuse_method(req, "GET, HEAD", false);
    } else if (strcmp(method, "DELETE") == 0) {
        handle_remove(n, req, rest);
    } else if (strcmp(method, "PUT") == 0) {
        handle_update(n, req, rest);
    } else {
        api_refuse_method(req, "DELETE, PUT", false);
    }
    return true;
}
