/* ui_api.c - GET /ui: the dashboard's files and its same-origin relay to
 * the members' read-only endpoints (ui_api.h, doc/design.md). */
#include "ui_api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http_client.h"
#include "node_internal.h"

#define UI_PREFIX "/ui"
#define MEMBER_PREFIX "/ui/member/"

/* Relayed requests in flight (one node per process). */
static unsigned relay_pending;

struct relay {
    struct http_request *req; /* NULL once the browser went away */
    const char *content_type;
};

static void set_headers(struct http_request *req)
{
    http_response_header(req, "Content-Security-Policy", UI_CSP);
    http_response_header(req, "X-Content-Type-Options", "nosniff");
    http_response_header(req, "X-Frame-Options", "DENY");
    http_response_header(req, "Referrer-Policy", "no-referrer");
    http_response_header(req, "Cache-Control", "no-store");
}

static void error(struct http_request *req, unsigned status, const char *msg)
{
    set_headers(req);
    http_respond_error(req, status, msg);
}

static void on_relay_abort(struct http_request *req, void *arg)
{
    (void)req;
    struct relay *r = arg;
    r->req = NULL;
}

static void on_relay_reply(void *arg, const struct http_reply *rep)
{
    struct relay *r = arg;
    relay_pending--;
    if (r->req) {
        if (rep->status == 200) {
            set_headers(r->req);
            http_respond(r->req, 200, r->content_type, rep->body, rep->len);
        } else {
            char msg[300];
            if (rep->too_big)
                snprintf(msg, sizeof(msg), "the member's answer was too "
                         "large (more than %zu bytes)",
                         UI_RELAY_MAX_RESPONSE);
            else if (rep->status)
                snprintf(msg, sizeof(msg), "the member answered %ld",
                         rep->status);
            else
                snprintf(msg, sizeof(msg), "the member did not answer: %.200s",
                         rep->err ? rep->err : "?");
            error(r->req, 502, msg);
        }
    }
    free(r);
}

/* s is 1..maxlen characters, all from set. */
static bool only(const char *s, const char *set, size_t maxlen)
{
    size_t len = strlen(s);
    return len >= 1 && len <= maxlen && strspn(s, set) == len;
}

#define DIGITS "0123456789"

static void relay(struct node *n, struct http_request *req, const char *rest)
{
    /* rest: "ID/status", "ID/metrics" or "ID/events" */
    size_t idlen = strspn(rest, DIGITS);
    if (idlen == 0 || idlen > 19 || rest[idlen] != '/') {
        error(req, 404, "no such resource");
        return;
    }
    raft_id id = strtoull(rest, NULL, 10);
    const char *what = rest + idlen + 1;
    const char *type = "application/json";
    if (strcmp(what, "metrics") == 0)
        type = "text/plain; version=0.0.4; charset=utf-8";
    else if (strcmp(what, "status") != 0 && strcmp(what, "events") != 0) {
        error(req, 404, "no such resource: there are status, events and "
                        "metrics");
        return;
    }
    const char *url = NULL;
    const struct peer *p = node_find_peer(n, id);
    if (p)
        url = p->url;
    else if (id == raft_self(n->raft)) {
        const struct raftd_member *m = config_member(n->cfg, id);
        url = m ? m->url : NULL;
    }
    if (!url || !url[0]) {
        error(req, 404, "no such member in this node's configuration");
        return;
    }
    char query[128] = "";
    if (strcmp(what, "events") == 0) {
        const char *after = http_request_query(req, "after");
        const char *inst = http_request_query(req, "instance");
        const char *limit = http_request_query(req, "limit");
        if ((after && !only(after, DIGITS, 20)) ||
            (inst && !only(inst, DIGITS "abcdefABCDEF", 32)) ||
            (limit && !only(limit, DIGITS, 4))) {
            error(req, 400, "after and limit are numbers, instance is hex");
            return;
        }
        snprintf(query, sizeof(query), "?after=%s%s%s%s%s",
                 after ? after : "0", inst ? "&instance=" : "",
                 inst ? inst : "", limit ? "&limit=" : "", limit ? limit : "");
    }
    if (relay_pending >= UI_RELAY_MAX_PENDING) {
        http_response_header(req, "Retry-After", "1");
        error(req, 503, "too many dashboard requests in flight");
        return;
    }
    char full[RAFT_ADDRESS_MAX + 160];
    if ((size_t)snprintf(full, sizeof(full), "%s/%s%s", url, what, query) >=
        sizeof(full)) {
        error(req, 500, "member URL too long");
        return;
    }
    struct relay *r = calloc(1, sizeof(*r));
    if (!r) {
        error(req, 503, "out of memory");
        return;
    }
    r->req = req;
    r->content_type = type;
    struct http_call call = {.method = "GET", .url = full,
                             .timeout_ms = UI_RELAY_TIMEOUT_MS,
                             .max_response = UI_RELAY_MAX_RESPONSE};
    if (http_client_call(n->client, &call, on_relay_reply, r) < 0) {
        free(r);
        error(req, 503, "cannot start a request to the member");
        return;
    }
    relay_pending++;
    http_request_on_abort(req, on_relay_abort, r);
}

bool ui_api_handle(struct node *n, struct http_request *req)
{
    const char *path = http_request_path(req);
    if (strncmp(path, UI_PREFIX, strlen(UI_PREFIX)) != 0 ||
        (path[3] != '\0' && path[3] != '/'))
        return false;
    const char *method = http_request_method(req);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        http_response_header(req, "Allow", "GET, HEAD");
        error(req, 405, "use GET");
        return true;
    }
    if (strncmp(path, MEMBER_PREFIX, strlen(MEMBER_PREFIX)) == 0) {
        relay(n, req, path + strlen(MEMBER_PREFIX));
        return true;
    }
    const char *name = path[3] == '\0' || path[4] == '\0' ? "index.html"
                                                          : path + 4;
    for (unsigned i = 0; i < ui_assets_n; i++) {
        if (strcmp(ui_assets[i].name, name) == 0) {
            set_headers(req);
            http_respond(req, 200, ui_assets[i].content_type,
                         ui_assets[i].data, strlen(ui_assets[i].data));
            return true;
        }
    }
    error(req, 404, "no such resource");
    return true;
}
