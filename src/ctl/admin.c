/* admin.c - raftctl transfer [ID] and raftctl snapshot [ID]: requests
 * that change things, under /admin/ (admin_api.h in the daemon). When the
 * node says it authenticates its peers ("peer_auth": "hmac" in /status),
 * they are signed with the cluster's peer secret as an operator (sender
 * f=0, peer_auth.h), which only root can read: sudo raftctl transfer. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "ctl.h"
#include "peer_auth.h"
#include "peer_secret.h"

#define POLL_MS 100
#define SETTLE_MS 15000L

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The peer secret, read as raftd reads it; -1 with a message when it
 * cannot be. */
static int load_secret(struct ctl *c)
{
    static struct raftd_config fresh;
    if (!c->cfg || c->secret_file) {
        if (!c->cfg) {
            config_defaults(&fresh);
            c->cfg = &fresh;
        }
        if (!c->secret_file) {
            fprintf(stderr, "raftctl: the cluster authenticates its peers, "
                            "so this command must be signed with its peer "
                            "secret: name a config with --config (sudo "
                            "raftctl --config /etc/raftd.conf ...) or the "
                            "secret with --secret-file\n");
            return -1;
        }
        free(c->cfg->peer_secret_file);
        c->cfg->peer_secret_file = strdup(c->secret_file);
    }
    c->cfg->peer_auth = true; /* the node asks for it, whatever the file
                                 says */
    char err[1024];
    if (peer_secret_load(c->cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "raftctl: %s\n", err);
        fprintf(stderr, "raftctl: this command is signed with the cluster's "
                        "peer secret, which only root may read: run it with "
                        "sudo%s\n", c->secret_file ? "" : " (or give "
                                                     "--secret-file)");
        return -1;
    }
    return 0;
}

int admin_request(struct ctl *c, size_t i, const cJSON *st,
                  const char *method, const char *path, const char *body,
                  struct request *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->url, sizeof(r->url), "%s%s", c->eps[i].url, path);
    r->method = method;
    r->body = strcmp(method, "GET") == 0 ? NULL : body;
    r->content_type = r->body ? "application/json" : NULL;
    static char header[PEER_AUTH_HEADER_MAX + 32];
    const char *mode = json_string(st, "peer_auth");
    if (mode && strcmp(mode, "hmac") == 0) {
        if (load_secret(c) < 0)
            return -1;
        struct raftd_config *cfg = c->cfg;
        const char *cid = json_string(st, "cluster_id");
        uint64_t cluster = cid ? strtoull(cid, NULL, 16) : 0, inc = 0;
        if (getrandom(&inc, sizeof(inc), 0) != sizeof(inc))
            inc = wall_ms() ^ (uint64_t)clock();
        struct peer_auth *pa = peer_auth_new(cfg->peer_secret,
                                             cfg->peer_secret_len, cluster,
                                             PEER_AUTH_OPERATOR, inc | 1);
        memset(cfg->peer_secret, 0, sizeof(cfg->peer_secret)); /* wiped */
        char h[PEER_AUTH_HEADER_MAX];
        struct peer_auth_nonce nonce;
        if (!pa || peer_auth_sign_admin(pa, method, path, c->eps[i].id, body,
                                        strlen(body), wall_ms(), h,
                                        &nonce) < 0) {
            peer_auth_free(pa);
            fprintf(stderr, "raftctl: cannot sign the request (a secret of "
                            "the wrong length?)\n");
            return -1;
        }
        peer_auth_free(pa);
        snprintf(header, sizeof(header), "%s: %s", PEER_AUTH_HEADER, h);
        r->header = header;
    }
    fetch_all(c, r, 1);
    return 0;
}

int parse_member_id(const char *cmd, const char *s, uint64_t *id)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || v == 0 || s[0] == '-') {
        fprintf(stderr, "raftctl %s: \"%s\" is not a member id (a number, "
                        "as raftctl status shows)\n", cmd, s);
        return -1;
    }
    *id = (uint64_t)v;
    return 0;
}

int find_id(const struct ctl *c, uint64_t id)
{
    for (size_t i = 0; i < c->n_eps; i++)
        if (c->eps[i].id == id)
            return (int)i;
    return -1;
}

/* After a transfer from old (in term): wait until a new leader is known,
 * target if given. Returns WAIT_LED with its index in *who, WAIT_OTHER
 * when another node than target won (its index in *who), or WAIT_TIMEOUT. */
enum { WAIT_LED, WAIT_OTHER, WAIT_TIMEOUT };
static int wait_new_leader(struct ctl *c, uint64_t old, double term,
                           uint64_t target, int *who, double *new_term)
{
    uint64_t deadline = mono_ms() + SETTLE_MS;
    while (mono_ms() < deadline) {
        struct statuses s;
        statuses_get(c, &s);
        int li = s.leader;
        double t = li >= 0 ? json_number(s.st[li], "term", 0) : 0;
        bool done = li >= 0 && t > term && c->eps[li].id != old &&
                    (!target || c->eps[li].id == target);
        statuses_put(&s);
        if (li >= 0 && t > term && (done || (target && c->eps[li].id !=
                                                         target))) {
            *who = li;
            *new_term = t;
            return done ? WAIT_LED : WAIT_OTHER;
        }
        sleep_ms(POLL_MS);
    }
    return WAIT_TIMEOUT;
}

int cmd_transfer(struct ctl *c, int argc, char **argv)
{
    uint64_t target = 0;
    if (argc > 2 || (argc == 2 && parse_member_id("transfer", argv[1],
                                                  &target) < 0)) {
        fprintf(stderr, "usage: raftctl transfer [ID]\n");
        return CTL_USAGE;
    }
    struct statuses s;
    statuses_get(c, &s);
    int li = s.leader;
    int rc = CTL_FAIL;
    if (s.ok == 0 || li < 0) {
        fprintf(stderr, "raftctl: %s: nothing to transfer (see raftctl "
                        "status)\n", s.ok ? "no leader now" : "no member "
                                                            "answered");
        goto out;
    }
    uint64_t old = c->eps[li].id;
    double term = json_number(s.st[li], "term", 0);
    if (target && target == old) {
        printf("node %" PRIu64 " leads already\n", old);
        rc = CTL_OK;
        goto out;
    }
    if (target && find_id(c, target) < 0)
        fprintf(stderr, "raftctl: node %" PRIu64 " is not among the members "
                        "raftctl knows; asking the leader anyway\n", target);
    char body[64];
    snprintf(body, sizeof(body), target ? "{\"to\":%" PRIu64 "}" : "{}",
             target);
    struct request r;
    if (admin_request(c, (size_t)li, s.st[li], "POST", "/admin/transfer", body, &r) < 0)
        goto out;
    if (r.reply.status != 202) {
        char w[400];
        reply_why(&r.reply, w, sizeof(w));
        fprintf(stderr, "raftctl: transfer: %s: %s\n", c->eps[li].url, w);
        reply_clear(&r.reply);
        goto out;
    }
    reply_clear(&r.reply);
    double new_term = 0;
    int ni = -1;
    int waited = wait_new_leader(c, old, term, target, &ni, &new_term);
    if (waited == WAIT_OTHER) {
        fprintf(stderr, "raftctl: node %" PRIu64 " started the transfer, but "
                        "node %" PRIu64 " won the election (term %.0f), not "
                        "node %" PRIu64 " (see raftctl status and raftctl "
                        "events)\n", old, c->eps[ni].id, new_term, target);
        goto out;
    }
    if (waited == WAIT_TIMEOUT) {
        fprintf(stderr, "raftctl: node %" PRIu64 " started the transfer, but "
                        "%s did not lead within %ld s (see raftctl status "
                        "and raftctl events)\n", old,
                target ? "that node" : "no other node", SETTLE_MS / 1000);
        goto out;
    }
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "from", (double)old);
        cJSON_AddNumberToObject(o, "to", (double)c->eps[ni].id);
        cJSON_AddNumberToObject(o, "term", new_term);
        print_json(o);
    } else {
        printf("leadership moved from node %" PRIu64 " to node %" PRIu64
               " (term %.0f)\n", old, c->eps[ni].id, new_term);
    }
    rc = CTL_OK;
out:
    statuses_put(&s);
    return rc;
}

/* Wait until eps[i]'s snapshot covers index. */
static bool wait_snapshot(struct ctl *c, size_t i, double index, double *bytes)
{
    uint64_t deadline = mono_ms() + 2 * SETTLE_MS;
    while (mono_ms() < deadline) {
        struct request r = {.method = "GET"};
        snprintf(r.url, sizeof(r.url), "%s/status", c->eps[i].url);
        fetch_all(c, &r, 1);
        cJSON *o = r.reply.status == 200 ? reply_json(&r.reply) : NULL;
        bool done = json_number(o, "snapshot_index", -1) >= index;
        *bytes = json_number(o, "snapshot_bytes", 0);
        cJSON_Delete(o);
        reply_clear(&r.reply);
        if (done)
            return true;
        sleep_ms(POLL_MS);
    }
    return false;
}

int cmd_snapshot(struct ctl *c, int argc, char **argv)
{
    uint64_t id = 0;
    if (argc > 2 || (argc == 2 && parse_member_id("snapshot", argv[1],
                                                  &id) < 0)) {
        fprintf(stderr, "usage: raftctl snapshot [ID]\n");
        return CTL_USAGE;
    }
    struct statuses s;
    statuses_get(c, &s);
    int i = id ? find_id(c, id) : s.leader;
    int rc = CTL_FAIL;
    if (s.ok == 0 || i < 0 || !s.st[i]) {
        if (i >= 0)
            fprintf(stderr, "raftctl: %s: %s\n", c->eps[i].url, s.why[i]);
        else
            fprintf(stderr, "raftctl: %s\n",
                    s.ok == 0 ? "no member answered"
                    : id      ? "no such member (see raftctl status)"
                              : "no leader now: name a member (raftctl "
                                "snapshot ID)");
        goto out;
    }
    struct request r;
    if (admin_request(c, (size_t)i, s.st[i], "POST", "/admin/snapshot", "{}", &r) < 0)
        goto out;
    cJSON *o = r.reply.status == 202 ? reply_json(&r.reply) : NULL;
    double index = json_number(o, "index", -1);
    cJSON_Delete(o);
    if (index < 0) {
        char w[400];
        reply_why(&r.reply, w, sizeof(w));
        fprintf(stderr, "raftctl: snapshot: %s: %s\n", c->eps[i].url, w);
        reply_clear(&r.reply);
        goto out;
    }
    reply_clear(&r.reply);
    double bytes = 0;
    if (!wait_snapshot(c, (size_t)i, index, &bytes)) {
        fprintf(stderr, "raftctl: node %" PRIu64 " is taking a snapshot up "
                        "to index %.0f, not finished within %ld s (see its "
                        "log)\n", c->eps[i].id, index, 2 * SETTLE_MS / 1000);
        goto out;
    }
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "id", (double)c->eps[i].id);
        cJSON_AddNumberToObject(j, "index", index);
        cJSON_AddNumberToObject(j, "bytes", bytes);
        print_json(j);
    } else {
        printf("node %" PRIu64 " took a snapshot up to index %.0f (%.0f "
               "bytes)\n", c->eps[i].id, index, bytes);
    }
    rc = CTL_OK;
out:
    statuses_put(&s);
    return rc;
}
