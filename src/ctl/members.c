/* members.c - raftctl members [add URL | remove ID], over etcd v2's
 * /v2/members (members_api.c in the daemon). Any member answers: a change
 * is handed to the leader and answered once it is committed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"

#define CHANGE_TIMEOUT_MS 60000L

/* Send one request to each endpoint in turn until one answers (any HTTP
 * status). A change (not a GET) goes to the next one only when it surely
 * did not reach this one: after a timeout it may have been made all the
 * same, and sent again it could be made twice. Returns the index of the
 * endpoint, or -1 (none did). */
static int ask_first(const struct ctl *c, struct request *r, const char *path)
{
    bool change = r->method && strcmp(r->method, "GET") != 0;
    for (size_t i = 0; i < c->n_eps; i++) {
        snprintf(r->url, sizeof(r->url), "%s%s", c->eps[i].url, path);
        fetch_all(c, r, 1);
        if (r->reply.status)
            return (int)i;
        char why[400];
        reply_why(&r->reply, why, sizeof(why));
        fprintf(stderr, "raftctl: %s: %s\n", c->eps[i].url, why);
        if (change && !reply_unsent(&r->reply)) {
            fprintf(stderr, "raftctl: the request may have reached it and "
                            "the change may be made all the same: see "
                            "raftctl members before trying again\n");
            return -1;
        }
    }
    fprintf(stderr, "raftctl: no member answered\n");
    return -1;
}

static uint64_t hex_id(const char *s)
{
    char *end;
    unsigned long long v = s ? strtoull(s, &end, 16) : 0;
    return s && *s && !*end ? (uint64_t)v : 0;
}

static const char *first_url(const cJSON *m)
{
    const cJSON *u = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(m, "peerURLs"), 0);
    return cJSON_IsString(u) ? u->valuestring : "";
}

static int list(struct ctl *c)
{
    struct request r = {.method = "GET"};
    if (ask_first(c, &r, "/v2/members") < 0)
        return CTL_FAIL;
    cJSON *o = r.reply.status == 200 ? reply_json(&r.reply) : NULL;
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "members");
    if (!cJSON_IsArray(ms)) {
        char why[400];
        reply_why(&r.reply, why, sizeof(why));
        fprintf(stderr, "raftctl: %s: %s\n", r.url, why);
        cJSON_Delete(o);
        reply_clear(&r.reply);
        return CTL_FAIL;
    }
    cJSON *out = cJSON_CreateArray();
    if (!c->json)
        printf("%-4s %-8s %s\n", "ID", "ROLE", "URL");
    const cJSON *m;
    cJSON_ArrayForEach(m, ms)
    {
        uint64_t id = hex_id(json_string(m, "id"));
        const char *name = json_string(m, "name");
        /* a learner has no name yet (etcdctl: "unstarted") */
        const char *role = name && *name ? "voter" : "learner";
        if (c->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "id", (double)id);
            cJSON_AddStringToObject(j, "role", role);
            cJSON_AddStringToObject(j, "url", first_url(m));
            cJSON_AddItemToArray(out, j);
        } else {
            printf("%-4" PRIu64 " %-8s %s\n", id, role, first_url(m));
        }
    }
    if (c->json)
        print_json(out);
    else
        cJSON_Delete(out);
    cJSON_Delete(o);
    reply_clear(&r.reply);
    return CTL_OK;
}

static int add(struct ctl *c, const char *arg)
{
    char url[256], bad[400];
    if (config_normalize_url(arg, url, sizeof(url), bad, sizeof(bad)) < 0) {
        fprintf(stderr, "raftctl members add: %s\n", bad);
        return CTL_USAGE;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON *urls = cJSON_AddArrayToObject(b, "peerURLs");
    cJSON_AddItemToArray(urls, cJSON_CreateString(url));
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    struct request r = {.method = "POST", .body = body,
                        .content_type = "application/json",
                        .timeout_ms = CHANGE_TIMEOUT_MS};
    int rc = CTL_FAIL;
    if (ask_first(c, &r, "/v2/members") >= 0) {
        cJSON *o = reply_json(&r.reply);
        uint64_t id = hex_id(json_string(o, "id"));
        if (r.reply.status == 201 && id) {
            if (c->json) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddNumberToObject(j, "id", (double)id);
                cJSON_AddStringToObject(j, "url", url);
                print_json(j);
            } else {
                printf("added member %" PRIu64 " at %s (a learner until it "
                       "catches up)\nstart it with id = %" PRIu64 "; and the "
                       "cluster's members in its raftd.conf\n", id, url, id);
            }
            rc = CTL_OK;
        } else {
            char why[400];
            reply_why(&r.reply, why, sizeof(why));
            fprintf(stderr, "raftctl: members add %s: %s\n", url, why);
        }
        cJSON_Delete(o);
    }
    reply_clear(&r.reply);
    free(body);
    return rc;
}

static int remove_member(struct ctl *c, const char *arg)
{
    uint64_t id;
    if (parse_member_id("members remove", arg, &id) < 0)
        return CTL_USAGE;
    char path[64];
    snprintf(path, sizeof(path), "/v2/members/%" PRIx64, id);
    struct request r = {.method = "DELETE", .timeout_ms = CHANGE_TIMEOUT_MS};
    int rc = CTL_FAIL;
    if (ask_first(c, &r, path) >= 0) {
        if (r.reply.status == 204) {
            if (c->json) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddNumberToObject(j, "removed", (double)id);
                print_json(j);
            } else {
                printf("removed member %" PRIu64 "\n", id);
            }
            rc = CTL_OK;
        } else {
            char why[400];
            reply_why(&r.reply, why, sizeof(why));
            fprintf(stderr, "raftctl: members remove %" PRIu64 ": %s\n", id,
                    why);
        }
    }
    reply_clear(&r.reply);
    return rc;
}

int cmd_members(struct ctl *c, int argc, char **argv)
{
    if (argc == 1 || (argc == 2 && strcmp(argv[1], "list") == 0))
        return list(c);
    if (argc == 3 && strcmp(argv[1], "add") == 0)
        return add(c, argv[2]);
    if (argc == 3 && strcmp(argv[1], "remove") == 0)
        return remove_member(c, argv[2]);
    fprintf(stderr, "usage: raftctl members [list | add URL | remove ID]\n");
    return CTL_USAGE;
}
