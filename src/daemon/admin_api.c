/* admin_api.c - operators' requests that change things (admin_api.h). */
#include "admin_api.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_api.h"
#include "keys_api.h"
#include "logging.h"
#include "node_internal.h"
#include "peer_auth.h"

static void respond_error_leader(struct node *n, struct http_request *req)
{
    char msg[RAFT_ADDRESS_MAX + 200];
    raft_id leader = raft_leader(n->raft);
    const struct peer *p = leader ? node_find_peer(n, leader) : NULL;
    if (p)
        snprintf(msg, sizeof(msg), "node %" PRIu64 " is not the leader: node "
                 "%" PRIu64 " is (%s); send it there", raft_self(n->raft),
                 leader, p->url);
    else
        snprintf(msg, sizeof(msg), "node %" PRIu64 " is not the leader, and "
                 "knows no leader now (an election?): try again",
                 raft_self(n->raft));
    http_respond_error(req, 409, msg);
}

/* {"to": ID} (0 or absent: the most up-to-date voter); -1 (answered 400)
 * if the body is something else. */
static int parse_target(struct http_request *req, raft_id *to)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    *to = RAFT_NONE;
    if (len == 0)
        return 0;
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "to");
    bool ok = cJSON_IsObject(o) &&
              (!t || cJSON_IsNull(t) ||
               (cJSON_IsNumber(t) && t->valuedouble >= 0 &&
                t->valuedouble <= 2147483647.0 &&
                t->valuedouble == (double)(raft_id)t->valuedouble));
    if (ok && cJSON_IsNumber(t))
        *to = (raft_id)t->valuedouble;
    cJSON_Delete(o);
    if (!ok)
        http_respond_error(req, 400, "the body must be {\"to\": ID} with a "
                                     "member's id, or {} for the most "
                                     "up-to-date voter");
    return ok ? 0 : -1;
}

static void handle_transfer(struct node *n, struct http_request *req)
{
    raft_id to;
    if (parse_target(req, &to) < 0)
        return;
    if (raft_role(n->raft) != RAFT_LEADER) {
        respond_error_leader(n, req);
        return;
    }
    raft_id self = raft_self(n->raft);
    char msg[200];
    if (to == self) {
        snprintf(msg, sizeof(msg), "{\"leader\":%" PRIu64 ",\"message\":"
                 "\"node %" PRIu64 " leads already\"}", self, self);
        http_respond(req, 200, "application/json", msg, strlen(msg));
        return;
    }
    int rv = raft_transfer_leadership(n->raft, node_now_ms(), to);
    if (rv < 0) {
        snprintf(msg, sizeof(msg), "cannot hand leadership to %s%" PRIu64
                 ": %s", to ? "node " : "the most up-to-date voter", to,
                 rv == RAFT_EINVAL ? "it is not a voting member"
                                   : raft_strerror(rv));
        if (!to) /* no id to print */
            snprintf(msg, sizeof(msg), "cannot hand leadership over: %s",
                     raft_strerror(rv));
        http_respond_error(req, rv == RAFT_EINVAL ? 400 : 409, msg);
        return;
    }
    log_raft(LOG_NOTICE,
             &(struct log_raft){.event = "admin_transfer",
                                .term = raft_current_term(n->raft),
                                .peer = to,
                                .addr = http_request_peer(req)},
             "an operator (%s) asked this node to hand leadership to %s%"
             PRIu64, http_request_peer(req),
             to ? "node " : "the most up-to-date voter", to);
    node_schedule(n);
    snprintf(msg, sizeof(msg), "{\"from\":%" PRIu64 ",\"to\":%" PRIu64 "}",
             self, to);
    http_respond(req, 202, "application/json", msg, strlen(msg));
}

static void handle_snapshot(struct node *n, struct http_request *req)
{
    raft_index index;
    int rv = snap_take_now(n, &index);
    char msg[200];
    if (rv == SNAP_BUSY || rv == SNAP_CURRENT) {
        snprintf(msg, sizeof(msg), rv == SNAP_BUSY
                 ? "a snapshot up to index %" PRIu64 " is being taken "
                   "already: wait for its snapshot_taken event"
                 : "nothing was applied since the snapshot up to index %"
                   PRIu64 ": it is current", index);
        http_respond_error(req, 409, msg);
        return;
    }
    if (rv < 0) {
        http_respond_error(req, 500, "cannot start taking a snapshot: see "
                                     "this node's log");
        return;
    }
    log_raft(LOG_NOTICE,
             &(struct log_raft){.event = "admin_snapshot",
                                .term = raft_current_term(n->raft),
                                .index = index,
                                .addr = http_request_peer(req)},
             "an operator (%s) asked for a snapshot: taking one up to index %"
             PRIu64, http_request_peer(req), index);
    snprintf(msg, sizeof(msg), "{\"index\":%" PRIu64 "}", index);
    http_respond(req, 202, "application/json", msg, strlen(msg));
}

#define ADMIN_PATHS "/admin/transfer, /admin/snapshot and " FAULT_API_PATH

bool admin_api_handle(struct node *n, struct http_request *req)
{
    const char *path = http_request_path(req);
    if (strncmp(path, PEER_AUTH_ADMIN_PREFIX,
                strlen(PEER_AUTH_ADMIN_PREFIX)) != 0)
        return false;
    bool fault = strcmp(path, FAULT_API_PATH) == 0;
    const char *method = http_request_method(req);
    if (strcmp(method, "POST") != 0 &&
        !(fault && strcmp(method, "GET") == 0)) {
        http_response_header(req, "Allow", fault ? "GET, POST" : "POST");
        http_respond_error(req, 405, fault ? "use GET or POST" : "use POST");
        return true;
    }
    if (!peer_auth_is_admin_path(path)) {
        http_respond_error(req, 404, "no such admin command: there are "
                                     ADMIN_PATHS);
        return true;
    }
    if (!node_admin_admit(n, req))
        return true;
    if (strcmp(path, "/admin/transfer") == 0)
        handle_transfer(n, req);
    else if (strcmp(path, "/admin/snapshot") == 0)
        handle_snapshot(n, req);
    else if (fault)
        fault_api_handle(n, req);
    else
        http_respond_error(req, 404, "no such admin command: there are "
                                     ADMIN_PATHS);
    return true;
}
