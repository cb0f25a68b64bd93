/* members_check.c - raftd --check-config: how the config file's members
 * list differs from the configuration the cluster runs (issue 11).
 *
 * The configuration lives in the log, so the one to compare with is the
 * running node's: GET /status on this node's own URL. When the node does
 * not run, the data directory's bootstrap record is the best there is (the
 * log may hold later changes: it says so).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "members_check.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memberfile.h"
#include "reconcile.h"

struct buf {
    char *p;
    size_t n;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t len = size * nmemb;
    if (b->n + len > (1u << 20))
        return 0;
    char *q = realloc(b->p, b->n + len + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, ptr, len);
    b->p = q;
    b->n += len;
    b->p[b->n] = 0;
    return len;
}

/* The running node's configuration, from its /status; -1 if it does not
 * answer (not running, or not reachable here). */
static int running_configuration(const struct raftd_config *cfg,
                                 struct raft_configuration *c)
{
    const struct raftd_member *self = config_member(cfg, cfg->id);
    struct buf b = {0};
    char url[600];
    long status = 0;
    if (!self)
        return -1;
    snprintf(url, sizeof(url), "%s/status", self->url);
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (cfg->tls_ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg->tls_ca_file);
    int rv = -1;
    if (curl_easy_perform(e) == CURLE_OK &&
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status == 200) {
        cJSON *o = cJSON_Parse(b.p);
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "members"), *m;
        memset(c, 0, sizeof(*c));
        rv = cJSON_IsArray(arr) ? 0 : -1;
        cJSON_ArrayForEach(m, arr) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "url");
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
            if (c->n == RAFT_MAX_MEMBERS || !cJSON_IsNumber(id) ||
                !cJSON_IsString(u) || strlen(u->valuestring) > RAFT_ADDRESS_MAX) {
                rv = -1;
                break;
            }
            struct raft_member *x = &c->members[c->n++];
            x->id = (raft_id)id->valuedouble;
            x->role = cJSON_IsString(role) &&
                              strcmp(role->valuestring, "learner") == 0
                          ? RAFT_LEARNER : RAFT_VOTER;
            strcpy(x->address, u->valuestring);
        }
        cJSON_Delete(o);
    }
    curl_easy_cleanup(e);
    free(b.p);
    return rv;
}

void members_check_print(const struct raftd_config *cfg)
{
    struct member_list fl, rec;
    struct raft_configuration want, have;
    char diff[2048], err[1024];
    if (member_list_from_config(cfg, &fl) < 0 ||
        member_list_to_configuration(&fl, &want) < 0)
        return;
    const char *against;
    if (running_configuration(cfg, &have) == 0) {
        against = "the running cluster's configuration (this node's /status)";
    } else if (memberfile_read(-1, cfg->data_dir, &rec, err, sizeof(err)) == 1 &&
               member_list_to_configuration(&rec, &have) == 0) {
        against = "the list the data directory was bootstrapped with (the "
                  "node does not answer; its log may hold later changes)";
    } else {
        return; /* a new node: its file is its bootstrap */
    }
    if (!reconcile_describe(&have, &want, diff, sizeof(diff))) {
        printf("the members list is %s\n", against);
        return;
    }
    printf("note: the members list differs from %s: %s. On a running "
           "cluster \"systemctl reload raftd\" asks the leader to make these "
           "changes, one server at a time (raftd(8), MEMBERSHIP)\n", against,
           diff);
}
