/* fault_api.c - POST and GET /admin/fault (fault_api.h). */
#include "fault_api.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "faults.h"
#include "keys_api.h"
#include "logging.h"
#include "node_internal.h"

static void respond_faults(struct node *n, struct http_request *req,
                           unsigned status, size_t healed)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)n->cfg->id);
    cJSON_AddBoolToObject(o, "fault_injection", n->cfg->fault_injection);
    if (healed)
        cJSON_AddNumberToObject(o, "healed", (double)healed);
    cJSON_AddItemToObject(o, "faults", faults_json(node_faults(n)));
    api_respond_json(req, status, o);
}

static void journal(struct node *n, struct http_request *req,
                    const char *event, raft_id peer, const char *what)
{
    log_raft(LOG_NOTICE,
             &(struct log_raft){.event = event,
                                .term = raft_current_term(n->raft),
                                .peer = peer,
                                .addr = http_request_peer(req)},
             "an operator (%s) %s", http_request_peer(req), what);
}

/* A rule must name a peer of this node (or every peer). */
static bool peer_ok(struct node *n, struct http_request *req, raft_id peer)
{
    if (peer == FAULTS_ALL || (peer != n->cfg->id && node_find_peer(n, peer)))
        return true;
    char msg[200];
    snprintf(msg, sizeof(msg), "node %" PRIu64 " is not a peer of node %"
             PRIu64 ": name another member (raftctl status lists them), or "
             "no peer for every peer", peer, n->cfg->id);
    http_respond_error(req, 400, msg);
    return false;
}

static void describe_rule(const struct fault_request *fr, char *buf,
                          size_t len)
{
    char peer[64] = "every peer";
    if (fr->rule.peer != FAULTS_ALL)
        snprintf(peer, sizeof(peer), "node %" PRIu64, fr->rule.peer);
    if (fr->kind == FAULT_DELAY)
        snprintf(buf, len, "delayed this node's messages to %s by %u ms",
                 peer, fr->rule.delay_ms);
    else if (fr->rule.drop_out && fr->rule.drop_in)
        snprintf(buf, len, "cut this node off from %s, both ways", peer);
    else if (fr->rule.drop_out)
        snprintf(buf, len, "cut this node's requests to %s (one way: out)",
                 peer);
    else
        snprintf(buf, len, "cut the requests of %s to this node (one way: "
                 "in)", peer);
}

static void set_rule(struct node *n, struct http_request *req,
                     const struct fault_request *fr)
{
    if (!peer_ok(n, req, fr->rule.peer))
        return;
    if (faults_add(node_faults(n), &fr->rule) < 0) {
        http_respond_error(req, 409, "too many peers have faults: heal "
                                     "first (raftctl fault heal)");
        return;
    }
    char what[160];
    describe_rule(fr, what, sizeof(what));
    journal(n, req, "fault_injected", fr->rule.peer, what);
    respond_faults(n, req, 200, 0);
}

static void force_election(struct node *n, struct http_request *req)
{
    if (raft_campaign(n->raft, node_now_ms()) < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "node %" PRIu64 " %s: only a follower "
                 "times out (force it on a follower; raftctl transfer moves "
                 "leadership)", n->cfg->id,
                 raft_role(n->raft) == RAFT_LEADER ? "is the leader"
                                                   : "may not stand "
                                                     "(a learner?)");
        http_respond_error(req, 409, msg);
        return;
    }
    journal(n, req, "fault_injected", RAFT_NONE,
            "forced an election timeout: this node stands for election now");
    char body[120];
    snprintf(body, sizeof(body), "{\"id\":%" PRIu64 ",\"term\":%" PRIu64 "}",
             n->cfg->id, raft_current_term(n->raft));
    node_schedule(n);
    http_respond(req, 202, "application/json", body, strlen(body));
}

static void crash(struct node *n, struct http_request *req)
{
    if (node_faults_crash_soon(n) < 0) {
        http_respond_error(req, 500, "cannot arm the crash timer: see this "
                                     "node's log");
        return;
    }
    char what[200];
    snprintf(what, sizeof(what), "asked this node to crash: it exits now with "
             "status %d, as after kill -9 (systemd's Restart=on-failure "
             "brings it back)", FAULTS_CRASH_EXIT);
    journal(n, req, "fault_injected", RAFT_NONE, what);
    char body[120];
    snprintf(body, sizeof(body), "{\"id\":%" PRIu64 ",\"exit_status\":%d}",
             n->cfg->id, FAULTS_CRASH_EXIT);
    http_respond(req, 202, "application/json", body, strlen(body));
}

static void heal(struct node *n, struct http_request *req)
{
    size_t healed = faults_heal(node_faults(n));
    char what[120];
    snprintf(what, sizeof(what), "healed this node: %zu fault rule%s cleared",
             healed, healed == 1 ? "" : "s");
    journal(n, req, "fault_healed", RAFT_NONE, what);
    respond_faults(n, req, 200, healed);
}

void fault_api_handle(struct node *n, struct http_request *req)
{
    if (!n->cfg->fault_injection) {
        char msg[300];
        snprintf(msg, sizeof(msg), "fault injection is off on node %" PRIu64
                 ": set fault_injection = true; in its raftd.conf and "
                 "restart it (for a teaching lab only: anyone with the "
                 "cluster's secret can then partition or crash it)",
                 n->cfg->id);
        http_respond_error(req, 403, msg);
        return;
    }
    if (strcmp(http_request_method(req), "GET") == 0) {
        respond_faults(n, req, 200, 0);
        return;
    }
    size_t len;
    const char *body = http_request_body(req, &len);
    struct fault_request fr;
    char why[600];
    if (fault_request_parse(body, len, &fr, why, sizeof(why)) < 0) {
        http_respond_error(req, 400, why);
        return;
    }
    switch (fr.kind) {
    case FAULT_PARTITION:
    case FAULT_DELAY:
        set_rule(n, req, &fr);
        break;
    case FAULT_ELECTION:
        force_election(n, req);
        break;
    case FAULT_CRASH:
        crash(n, req);
        break;
    case FAULT_HEAL:
        heal(n, req);
        break;
    }
}
