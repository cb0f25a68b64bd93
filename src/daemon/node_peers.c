/* node_peers.c - the node's side of peer authentication (peer_auth.h):
 * admitting the requests of members only, signing the answers to them,
 * signing this node's own requests to its peers and checking their
 * answers. Refusals are logged to the journal, at most once per
 * REFUSAL_LOG_MS for each kind, with how many were left out meanwhile: a
 * flood of forged requests must not flood the journal too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logging.h"
#include "node_internal.h"
#include "peer_auth.h"

#define REFUSAL_LOG_MS 10000

struct node_peers {
    struct peer_auth *auth;
    struct refusal_log {
        uint64_t next_ms;
        unsigned left_out;
    } foreign, refused, answers, refused_by_peer;
};

/* Is it time to log one more refusal of this kind? */
static bool log_now(struct refusal_log *rl, unsigned *left_out)
{
    uint64_t now = node_now_ms();
    if (now < rl->next_ms) {
        rl->left_out++;
        return false;
    }
    *left_out = rl->left_out;
    rl->left_out = 0;
    rl->next_ms = now + REFUSAL_LOG_MS;
    return true;
}

int node_peers_init(struct node *n, char *err, size_t errlen)
{
    const struct raftd_config *cfg = n->cfg;
    n->peers_auth = calloc(1, sizeof(*n->peers_auth));
    if (!n->peers_auth) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n->peers_auth->auth = peer_auth_new(
        cfg->peer_auth ? cfg->peer_secret : NULL,
        cfg->peer_auth ? cfg->peer_secret_len : 0, n->members.cluster_id,
        cfg->id, node_random_u64(n));
    if (!n->peers_auth->auth) {
        snprintf(err, errlen, "cannot set up peer authentication (OpenSSL's "
                 "HMAC-SHA256 is not available?)");
        return -1;
    }
    peer_auth_set_joining(n->peers_auth->auth, members_joining(n));
    if (cfg->peer_auth)
        log_msg(LOG_INFO, "cluster %016" PRIx64 ": peers sign their requests "
                "with HMAC-SHA256 and the secret in %s", n->members.cluster_id,
                cfg->peer_secret_source);
    else
        log_raft(LOG_WARNING, &(struct log_raft){.event = "peer_auth_off"},
                 "cluster %016" PRIx64 ": peer authentication is off "
                 "(peer_auth = \"none\"): anyone who reaches port %u can "
                 "depose the leader or overwrite this node's data",
                 n->members.cluster_id, cfg->listen_port);
    return 0;
}

void node_peers_free(struct node *n)
{
    if (!n->peers_auth)
        return;
    peer_auth_free(n->peers_auth->auth);
    free(n->peers_auth);
    n->peers_auth = NULL;
}

bool node_peers_authenticated(const struct node *n)
{
    return peer_auth_has_secret(n->peers_auth->auth);
}

void node_peers_set_cluster(struct node *n, uint64_t cluster_id)
{
    peer_auth_set_cluster(n->peers_auth->auth, cluster_id);
}

void node_peers_stop_joining(struct node *n)
{
    peer_auth_set_joining(n->peers_auth->auth, false);
}

/* ---- requests to this node ---- */

struct admitted {
    struct peer_auth_nonce nonce;
    bool admitted;
};

static void sign_answer(struct http_request *req, unsigned status,
                        const char *body, size_t len, void *arg)
{
    struct node *n = arg;
    struct admitted *a = http_request_context(req, sizeof(*a));
    char header[PEER_AUTH_HEADER_MAX];
    if (!a || !a->admitted)
        return;
    peer_auth_sign_response(n->peers_auth->auth, &a->nonce, status, body, len,
                            header);
    http_response_header(req, PEER_AUTH_HEADER, header);
}

static void log_refusal(struct node *n, struct http_request *req,
                        enum peer_auth_verdict v, raft_id claimed,
                        const char *why)
{
    bool foreign = v == PEER_AUTH_FOREIGN;
    struct refusal_log *rl = foreign ? &n->peers_auth->foreign
                                     : &n->peers_auth->refused;
    unsigned left_out = 0;
    if (!log_now(rl, &left_out))
        return;
    char more[96] = "";
    if (left_out)
        snprintf(more, sizeof(more), " (and %u more refusals of this kind "
                 "in the last %d s)", left_out, REFUSAL_LOG_MS / 1000);
    log_raft(LOG_WARNING,
             &(struct log_raft){.event = foreign ? "foreign_rpc"
                                                 : "peer_rpc_refused",
                                .term = raft_current_term(n->raft),
                                .peer = claimed,
                                .addr = http_request_peer(req)},
             "refused %s %s from %s: %s%s", http_request_method(req),
             http_request_path(req), http_request_peer(req), why, more);
}

/* A refused request's answer: PEER_AUTH_BUSY says when to retry. */
static void respond_refusal(struct http_request *req,
                            enum peer_auth_verdict v,
                            const struct peer_auth_nonce *nonce,
                            const char *why)
{
    if (v == PEER_AUTH_BUSY) {
        char secs[16];
        snprintf(secs, sizeof(secs), "%u", nonce->retry_s);
        http_response_header(req, "Retry-After", secs);
    }
    http_respond_error(req, peer_auth_status(v), why);
}

bool node_admin_admit(struct node *n, struct http_request *req)
{
    if (!node_peers_authenticated(n))
        return true; /* peer_auth = "none": open, as the peer RPCs are */
    size_t len;
    const char *body = http_request_body(req, &len);
    struct peer_auth_nonce nonce;
    char why[700];
    enum peer_auth_verdict v = peer_auth_check_admin(
        n->peers_auth->auth, http_request_method(req), http_request_path(req),
        http_request_header(req, PEER_AUTH_HEADER), body, len,
        http_request_started_ms(req), &nonce, why, sizeof(why));
    if (v == PEER_AUTH_OK)
        return true;
    log_refusal(n, req, v, nonce.from, why);
    respond_refusal(req, v, &nonce, why);
    return false;
}

unsigned node_peer_check_head(struct http_request *req, void *arg,
                              char *msg, size_t msglen)
{
    struct node *n = arg;
    const char *path = http_request_path(req);
    if (peer_auth_path_index(path) < 0)
        return 0;
    enum peer_auth_verdict v = peer_auth_check_head(
        n->peers_auth->auth, http_request_method(req), path,
        http_request_header(req, PEER_AUTH_HEADER),
        http_request_started_ms(req), msg, msglen);
    if (v == PEER_AUTH_OK)
        return 0;
    log_refusal(n, req, v, RAFT_NONE, msg);
    return peer_auth_status(v);
}

/* An authentic request from a node outside the configuration in effect
 * here goes on to the core for votes, entries and snapshots: that node may
 * be the leader, or a candidate, of a configuration this node has not
 * caught up with (dissertation 4.1), and the core refuses strangers'
 * votes itself, without effect (membership_knows). A removed node may
 * still ask for a members list (to be added back, or to learn that its
 * removal is done). Forwarded writes and reads, and TimeoutNow, only come
 * from members. */
static bool stranger_may_send(const char *path)
{
    static const char *const paths[] = {
        "/raft/request_vote", "/raft/append_entries", "/raft/install_snapshot",
        "/raft/reconfigure"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (strcmp(path, paths[i]) == 0)
            return true;
    return false;
}

bool node_peer_admit(struct node *n, struct http_request *req)
{
    const char *path = http_request_path(req);
    size_t len;
    const char *body = http_request_body(req, &len);
    struct admitted *a = http_request_context(req, sizeof(*a));
    char why[700];
    if (!a) {
        http_respond_error(req, 500, "out of memory");
        return false;
    }
    if (node_tls_admit(n, req, true, why, sizeof(why)) < 0) {
        log_refusal(n, req, PEER_AUTH_MISSING, RAFT_NONE, why);
        http_respond_error(req, 403, why);
        return false;
    }
    enum peer_auth_verdict v = peer_auth_check_request(
        n->peers_auth->auth, http_request_method(req), path,
        http_request_header(req, PEER_AUTH_HEADER), body, len,
        http_request_started_ms(req), &a->nonce, why, sizeof(why));
    if (v == PEER_AUTH_OK && !node_find_peer(n, a->nonce.from) &&
        !stranger_may_send(path)) {
        v = PEER_AUTH_FOREIGN;
        snprintf(why, sizeof(why), "node %" PRIu64 " is not a member of this "
                 "cluster", a->nonce.from);
    }
    if (v == PEER_AUTH_OK && a->nonce.cluster != n->cluster_id &&
        !members_join(n, a->nonce.cluster, a->nonce.from, path)) {
        v = PEER_AUTH_FOREIGN;
        snprintf(why, sizeof(why), "the request comes from node %" PRIu64
                 " of cluster %016" PRIx64 "; this node is new and joins a "
                 "cluster only through its leader's AppendEntries or "
                 "InstallSnapshot", a->nonce.from, a->nonce.cluster);
    }
    if (v != PEER_AUTH_OK) {
        log_refusal(n, req, v, a->nonce.from, why);
        respond_refusal(req, v, &a->nonce, why);
        return false;
    }
    a->admitted = true;
    http_request_on_respond(req, sign_answer, n);
    if (node_faults_refuse_incoming(n, req, a->nonce.from))
        return false; /* (signed: the sender sees a real 503) */
    return true;
}

raft_id node_peer_sender(struct http_request *req)
{
    struct admitted *a = http_request_context(req, sizeof(*a));
    return a && a->admitted ? a->nonce.from : RAFT_NONE;
}

/* ---- this node's requests ---- */

struct call {
    struct node *n;
    struct peer_auth_nonce nonce;
    http_client_cb cb;
    void *arg;
};

static void on_answer(void *arg, const struct http_reply *r)
{
    struct call *c = arg;
    struct node *n = c->n;
    long status = r->status;
    const char *err = r->err;
    if (!n->closing && status >= 200 && status < 300 &&
        !peer_auth_check_response(n->peers_auth->auth, &c->nonce, status,
                                  r->captured, r->body, r->len)) {
        unsigned left_out = 0;
        if (log_now(&n->peers_auth->answers, &left_out))
            log_raft(LOG_WARNING,
                     &(struct log_raft){.event = "peer_answer_refused",
                                        .term = raft_current_term(n->raft),
                                        .peer = c->nonce.to},
                     "the answer of node %" PRIu64 " to our request failed "
                     "authentication (a wrong secret there, or a forged "
                     "answer): ignored%s", c->nonce.to,
                     left_out ? " (and more of them since)" : "");
        status = 0;
        err = "the answer failed authentication";
    } else if (!n->closing && (status == 401 || status == 403 ||
                               status == 409)) {
        unsigned left_out = 0;
        if (log_now(&n->peers_auth->refused_by_peer, &left_out))
            log_raft(LOG_WARNING,
                     &(struct log_raft){.event = "refused_by_peer",
                                        .term = raft_current_term(n->raft),
                                        .peer = c->nonce.to},
                     "node %" PRIu64 " refused our request (%ld): %.300s",
                     c->nonce.to, status, r->body);
    }
    if (status == 0)
        c->cb(c->arg, 0, "", 0, err ? err : "failed");
    else
        c->cb(c->arg, status, r->body, r->len, NULL);
    free(c);
}

int node_peer_post(struct node *n, raft_id to, const char *base_url,
                   const char *path, const char *content_type,
                   const char *body, size_t len, unsigned timeout_ms,
                   http_client_cb cb, void *arg)
{
    int held = node_faults_outgoing(n, to, base_url, path, content_type,
                                    body, len, timeout_ms, cb, arg);
    if (held != 0)
        return held < 0 ? -1 : 0;
    return node_peer_post_now(n, to, base_url, path, content_type, body, len,
                              timeout_ms, cb, arg);
}

int node_peer_post_now(struct node *n, raft_id to, const char *base_url,
                       const char *path, const char *content_type,
                       const char *body, size_t len, unsigned timeout_ms,
                       http_client_cb cb, void *arg)
{
    struct call *c = malloc(sizeof(*c));
    char url[512], header[PEER_AUTH_HEADER_MAX + 16];
    char value[PEER_AUTH_HEADER_MAX];
    if (!c)
        return -1;
    *c = (struct call){.n = n, .cb = cb, .arg = arg};
    if (peer_auth_sign_request(n->peers_auth->auth, "POST", path, to, body,
                               len, (uint64_t)node_wall_ms(), value, &c->nonce) < 0) {
        free(c);
        return -1;
    }
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    snprintf(header, sizeof(header), "%s: %s", PEER_AUTH_HEADER, value);
    struct http_call call = {.method = "POST", .url = url,
                             .content_type = content_type, .body = body,
                             .len = len, .timeout_ms = timeout_ms,
                             .header = header, .capture = PEER_AUTH_HEADER};
    if (http_client_call(n->client, &call, on_answer, c) < 0) {
        free(c);
        return -1;
    }
    return 0;
}
