/* fault.c - raftctl fault ...: fault injection for teaching (issue 12,
 * item 3; fault_api.h in the daemon), signed like transfer and snapshot:
 *
 *   fault partition ID [--from X] [--one-way out|in]
 *   fault delay ID MS [--to X]
 *   fault election ID
 *   fault crash ID
 *   fault heal [ID]          (no ID: every member)
 *   fault list               (every member's faults, from /status)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define FAULT_USAGE                                                          \
    "usage: raftctl fault partition ID [--from X] [--one-way out|in]\n"      \
    "       raftctl fault delay ID MS [--to X]\n"                            \
    "       raftctl fault election ID\n"                                     \
    "       raftctl fault crash ID\n"                                        \
    "       raftctl fault heal [ID]\n"                                       \
    "       raftctl fault list\n"

static int usage_error(void)
{
    fputs(FAULT_USAGE, stderr);
    return CTL_USAGE;
}

/* One rule's words: "out", "in" or "both", and the delay. */
static void print_rule(uint64_t id, const cJSON *r)
{
    const cJSON *peer = cJSON_GetObjectItemCaseSensitive(r, "peer");
    char who[40] = "every peer";
    if (cJSON_IsNumber(peer))
        snprintf(who, sizeof(who), "node %.0f", peer->valuedouble);
    bool out = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "drop_out"));
    bool in = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "drop_in"));
    double delay = json_number(r, "delay_ms", 0);
    printf("node %" PRIu64 ": %s:", id, who);
    if (out && in)
        printf(" cut both ways");
    else if (out)
        printf(" cut one way (its requests to the peer are lost)");
    else if (in)
        printf(" cut one way (the peer's requests are refused)");
    if (delay > 0)
        printf("%s delayed %.0f ms", out || in ? "," : "", delay);
    printf("\n");
}

static int cmd_list(struct ctl *c)
{
    struct statuses s;
    statuses_get(c, &s);
    cJSON *all = c->json ? cJSON_CreateArray() : NULL;
    size_t shown = 0;
    for (size_t i = 0; i < c->n_eps; i++) {
        if (!s.st[i]) {
            fprintf(stderr, "raftctl: %s: %s\n", c->eps[i].url, s.why[i]);
            continue;
        }
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(s.st[i], "faults");
        if (all) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "id", (double)c->eps[i].id);
            cJSON_AddItemToObject(o, "fault_injection",
                                  cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(
                                                      s.st[i], "fault_injection"),
                                                  true));
            cJSON_AddItemToObject(o, "faults", cJSON_Duplicate(f, true));
            cJSON_AddItemToArray(all, o);
            continue;
        }
        for (const cJSON *r = f ? f->child : NULL; r; r = r->next, shown++)
            print_rule(c->eps[i].id, r);
    }
    if (all)
        print_json(all);
    else if (shown == 0 && s.ok)
        printf("no faults\n");
    statuses_put(&s);
    return s.ok ? CTL_OK : CTL_FAIL;
}

/* POST body to member id's /admin/fault; prints what it answered. */
static int send_fault(struct ctl *c, const struct statuses *s, uint64_t id,
                      const char *body)
{
    int i = find_id(c, id);
    if (i < 0 || !s->st[i]) {
        fprintf(stderr, "raftctl: node %" PRIu64 ": %s\n", id,
                i < 0 ? "no such member (see raftctl status)" : s->why[i]);
        return CTL_FAIL;
    }
    struct request r;
    if (admin_request(c, (size_t)i, s->st[i], "POST", "/admin/fault", body,
                      &r) < 0)
        return CTL_FAIL;
    long status = r.reply.status;
    if (status != 200 && status != 202) {
        char w[600];
        reply_why(&r.reply, w, sizeof(w));
        fprintf(stderr, "raftctl: fault: node %" PRIu64 " (%s): %s\n", id,
                c->eps[i].url, w);
        reply_clear(&r.reply);
        return CTL_FAIL;
    }
    cJSON *o = reply_json(&r.reply);
    reply_clear(&r.reply);
    if (c->json) {
        print_json(o);
        return CTL_OK;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "faults");
    if (cJSON_GetObjectItemCaseSensitive(o, "exit_status"))
        printf("node %" PRIu64 " crashes now (exit status %.0f)\n", id,
               json_number(o, "exit_status", 0));
    else if (cJSON_GetObjectItemCaseSensitive(o, "term"))
        printf("node %" PRIu64 " stands for election in term %.0f\n", id,
               json_number(o, "term", 0));
    else if (!f || !f->child)
        printf("node %" PRIu64 ": no faults\n", id);
    for (const cJSON *rule = f ? f->child : NULL; rule; rule = rule->next)
        print_rule(id, rule);
    cJSON_Delete(o);
    return CTL_OK;
}

/* --from X / --to X / --one-way D after the positional arguments. */
struct fault_opts {
    uint64_t peer;
    const char *direction;
};

static int parse_opts(int argc, char **argv, int first, const char *peer_opt,
                      bool one_way, struct fault_opts *o)
{
    *o = (struct fault_opts){.direction = "both"};
    for (int i = first; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], peer_opt) == 0) {
            if (parse_member_id("fault", argv[++i], &o->peer) < 0)
                return -1;
        } else if (one_way && i + 1 < argc &&
                   strcmp(argv[i], "--one-way") == 0) {
            o->direction = argv[++i];
            if (strcmp(o->direction, "out") != 0 &&
                strcmp(o->direction, "in") != 0) {
                fprintf(stderr, "raftctl fault: --one-way takes out (ID's "
                                "requests to the peer are lost) or in (the "
                                "peer's requests to ID are refused)\n");
                return -1;
            }
        } else {
            fprintf(stderr, "raftctl fault: unexpected \"%s\"\n", argv[i]);
            return -1;
        }
    }
    return 0;
}

static void peer_field(char *buf, size_t len, uint64_t peer)
{
    if (peer)
        snprintf(buf, len, ",\"peer\":%" PRIu64, peer);
    else
        buf[0] = 0;
}

/* argv: "partition" ID ..., "delay" ID MS ..., "election" ID, ... Builds
 * the body for member *id; heal without ID: *id = 0. */
static int build_body(int argc, char **argv, uint64_t *id, char *body,
                      size_t len)
{
    const char *kind = argv[0];
    *id = 0;
    bool heal = strcmp(kind, "heal") == 0;
    if (argc < 2 && !heal)
        return -1;
    if (argc >= 2 && parse_member_id("fault", argv[1], id) < 0)
        return -1;
    struct fault_opts o;
    char peer[40];
    if (strcmp(kind, "partition") == 0) {
        if (parse_opts(argc, argv, 2, "--from", true, &o) < 0)
            return -1;
        peer_field(peer, sizeof(peer), o.peer);
        snprintf(body, len, "{\"fault\":\"partition\",\"direction\":\"%s\"%s}",
                 o.direction, peer);
        return 0;
    }
    if (strcmp(kind, "delay") == 0) {
        char *end;
        unsigned long ms = argc >= 3 ? strtoul(argv[2], &end, 10) : 0;
        if (argc < 3 || !*argv[2] || *end || argv[2][0] == '-' || ms == 0 ||
            parse_opts(argc, argv, 3, "--to", false, &o) < 0) {
            if (argc >= 3)
                fprintf(stderr, "raftctl fault delay: MS is the delay in "
                                "milliseconds, a whole number above 0\n");
            return -1;
        }
        peer_field(peer, sizeof(peer), o.peer);
        snprintf(body, len, "{\"fault\":\"delay\",\"ms\":%lu%s}", ms, peer);
        return 0;
    }
    if (argc > 2)
        return -1;
    snprintf(body, len, "{\"fault\":\"%s\"}", kind);
    return 0;
}

int cmd_fault(struct ctl *c, int argc, char **argv)
{
    static const char *const kinds[] = {"partition", "delay", "election",
                                        "crash", "heal"};
    if (argc < 2)
        return usage_error();
    if (strcmp(argv[1], "list") == 0)
        return argc == 2 ? cmd_list(c) : usage_error();
    bool known = false;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        known |= strcmp(argv[1], kinds[k]) == 0;
    uint64_t id;
    char body[200];
    if (!known || build_body(argc - 1, argv + 1, &id, body, sizeof(body)) < 0)
        return usage_error();
    struct statuses s;
    statuses_get(c, &s);
    int rc = CTL_OK;
    if (s.ok == 0) {
        fprintf(stderr, "raftctl: no member answered (see raftctl status)\n");
        rc = CTL_FAIL;
    } else if (id) {
        rc = send_fault(c, &s, id, body);
    } else { /* heal every member that answers */
        for (size_t i = 0; i < c->n_eps; i++)
            if (s.st[i] && send_fault(c, &s, c->eps[i].id, body) != CTL_OK)
                rc = CTL_FAIL;
        if (s.ok < c->n_eps) {
            fprintf(stderr, "raftctl: some members did not answer: heal "
                            "them when they do\n");
            rc = CTL_FAIL;
        }
    }
    statuses_put(&s);
    return rc;
}
