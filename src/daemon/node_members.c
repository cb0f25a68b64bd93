/* node_members.c - the cluster's members as the daemon sees them (issue
 * 11; dissertation chapter 4).
 *
 * The configuration in the log is what the cluster runs; raftd.conf's
 * members list is the desired state. This file keeps the two apart:
 *
 *   - bootstrap: the first start on an empty data directory records the
 *     config file's list (data_dir/members, memberfile.h); it is the
 *     configuration the log starts from, until a snapshot carries a later
 *     one. A later start takes the configuration from the data directory,
 *     whatever the file says, and only reports a file that differs.
 *   - the peers table (who gets Raft messages, at which URL) follows the
 *     core's configuration in effect, committed or not;
 *   - every node logs the members events (member_added, member_promoted,
 *     member_removed, member_updated) when a configuration entry is
 *     applied, so each journal shows the same history;
 *   - "systemctl reload raftd" (SIGHUP) makes the file's list the desired
 *     state: the leader reconciles one step at a time (reconcile.h), a
 *     follower sends it to the leader (POST /raft/reconfigure, a peer
 *     request like the others, signed).
 *
 * A start does not push the file's list: a machine whose file was not
 * updated would undo a change made through another one at its next
 * restart. Only an explicit reload (or /v2/members) changes members.
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

/* ---- bootstrap ---- */

int members_open(struct node *n, const struct storage_loaded *l, char *err,
                 size_t errlen)
{
    const char *dir = n->cfg->data_dir;
    int fd = storage_dir_fd(n->storage);
    int rv = memberfile_read(fd, dir, &n->members, err, errlen);
    if (rv < 0)
        return -1;
    if (rv == 0) {
        if (member_list_from_config(n->cfg, &n->members) < 0 ||
            memberfile_write(fd, dir, &n->members, err, errlen) < 0)
            return -1;
        bool fresh = !l->hs.term && !l->n_entries && !l->snapshot_index;
        if (fresh)
            log_raft(LOG_NOTICE, &(struct log_raft){.event = "bootstrapped"},
                     "new data directory %s: bootstrapped with the %u members "
                     "of %s as the cluster's first configuration (recorded "
                     "in %s/%s)", dir, n->members.n, n->cfg->path, dir,
                     MEMBERFILE_NAME);
        else
            log_msg(LOG_WARNING, "%s holds data but no members record (it "
                    "was written by an earlier raftd): recorded the %u "
                    "members of %s in %s/%s as the configuration its log "
                    "starts from", dir, n->members.n, n->cfg->path, dir,
                    MEMBERFILE_NAME);
    }
    n->cluster_id = n->members.cluster_id;
    n->joining = !l->n_entries && !l->snapshot_index;
    struct raft_configuration base;
    if (member_list_to_configuration(&n->members, &base) < 0 ||
        raft_restore_configuration(n->raft, &base) < 0) {
        snprintf(err, errlen, "%s/%s: not a valid configuration", dir,
                 MEMBERFILE_NAME);
        return -1;
    }
    return 0;
}

/* ---- a new node joining an existing cluster ---- */

bool members_joining(const struct node *n)
{
    return n->joining;
}

bool members_join(struct node *n, uint64_t cluster_id, raft_id from,
                  const char *path)
{
    char err[700];
    if (!n->joining || (strcmp(path, "/raft/append_entries") != 0 &&
                        strcmp(path, "/raft/install_snapshot") != 0))
        return false;
    struct member_list rec = n->members;
    rec.cluster_id = cluster_id;
    if (memberfile_write(storage_dir_fd(n->storage), n->cfg->data_dir, &rec,
                         err, sizeof(err)) < 0) {
        log_msg(LOG_ERR, "cannot join cluster %016" PRIx64 ": %s", cluster_id,
                err);
        return false;
    }
    log_raft(LOG_NOTICE, &(struct log_raft){.event = "joined_cluster",
                                            .term = raft_current_term(n->raft),
                                            .peer = from},
             "this new node joins cluster %016" PRIx64 ", whose leader node %"
             PRIu64 " replicates to it (its own list had given it cluster %016"
             PRIx64 "; recorded in %s/%s)", cluster_id, from, n->cluster_id,
             n->cfg->data_dir, MEMBERFILE_NAME);
    n->members = rec;
    n->cluster_id = cluster_id;
    n->joining = false;
    node_peers_set_cluster(n, cluster_id);
    return true;
}

void members_check_joined(struct node *n)
{
    if (n->joining && (raft_last_index(n->raft) > 0 || n->snap.index > 0)) {
        n->joining = false;
        node_peers_stop_joining(n);
    }
}

int members_file_configuration(const struct raftd_config *cfg,
                              struct raft_configuration *c)
{
    struct member_list l;
    return member_list_from_config(cfg, &l) < 0
               ? -1 : member_list_to_configuration(&l, c);
}

void members_report_file(struct node *n)
{
    struct raft_configuration want;
    char diff[2048];
    if (members_file_configuration(n->cfg, &want) < 0 ||
        !reconcile_describe(raft_configuration(n->raft, NULL), &want, diff,
                            sizeof(diff))) {
        n->file_differs[0] = 0;
        return;
    }
    snprintf(n->file_differs, sizeof(n->file_differs), "%s", diff);
    log_raft(LOG_WARNING,
             &(struct log_raft){.event = "members_file_differs",
                                .term = raft_current_term(n->raft)},
             "%s lists other members than the cluster has: %s. The cluster "
             "keeps its configuration; to change it, put the same list on "
             "every machine and run \"systemctl reload raftd\" on one of "
             "them (raftd(8), MEMBERSHIP)", n->cfg->path, diff);
}

/* ---- the peers table follows the configuration in effect ---- */

void members_sync_peers(struct node *n)
{
    const struct raft_configuration *c = raft_configuration(n->raft, NULL);
    struct peer old[RAFT_MAX_MEMBERS];
    unsigned n_old = n->n_peers;
    memcpy(old, n->peers, n_old * sizeof(old[0]));
    n->n_peers = 0;
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_member *m = &c->members[i];
        if (m->id > n->highest_id)
            n->highest_id = m->id;
        if (m->id == raft_self(n->raft))
            continue;
        struct peer *p = &n->peers[n->n_peers++];
        unsigned j = 0;
        while (j < n_old && old[j].id != m->id)
            j++;
        if (j < n_old)
            *p = old[j];
        else
            *p = (struct peer){.id = m->id};
        /* the scheme this node's file gives the member, if the file names
         * it at that host and port (a cluster switching to TLS) */
        const struct raftd_member *f = config_member(n->cfg, m->id);
        snprintf(p->url, sizeof(p->url), "%s",
                 f && endpoint_same(f->url, m->address) ? f->url : m->address);
    }
}

/* ---- members events, on every node as configurations are applied ---- */

static void event(struct node *n, const char *name, raft_id id, raft_index at,
                  const char *fmt, const char *url)
{
    char text[512];
    snprintf(text, sizeof(text), fmt, id, url);
    log_raft(LOG_NOTICE,
             &(struct log_raft){.event = name,
                                .term = raft_current_term(n->raft),
                                .peer = id, .index = at},
             "%s (configuration at index %" PRIu64 ")", text, at);
}

void members_on_applied(struct node *n, raft_index index,
                        const struct raft_entry *e)
{
    struct raft_configuration c;
    if (raft_configuration_decode(e->data, e->len, &c) < 0)
        return;
    const struct raft_configuration *was = &n->applied_conf;
    bool replay = index <= n->start_commit; /* applied again at a start */
    for (unsigned i = 0; i < c.n && !replay; i++) {
        const struct raft_member *m = &c.members[i];
        const struct raft_member *o = raft_configuration_find(was, m->id);
        if (!o)
            event(n, "member_added", m->id, index, m->role == RAFT_LEARNER
                  ? "node %" PRIu64 " (%s) joined the cluster as a learner: "
                    "it receives the log and does not vote until it has "
                    "caught up"
                  : "node %" PRIu64 " (%s) joined the cluster", m->address);
        else if (o->role == RAFT_LEARNER && m->role == RAFT_VOTER)
            event(n, "member_promoted", m->id, index, "node %" PRIu64
                  " (%s) caught up and now votes", m->address);
        else if (strcmp(o->address, m->address) != 0)
            event(n, "member_updated", m->id, index, "node %" PRIu64
                  "'s url is now %s", m->address);
    }
    for (unsigned i = 0; i < was->n && !replay; i++)
        if (!raft_configuration_find(&c, was->members[i].id))
            event(n, "member_removed", was->members[i].id, index,
                  "node %" PRIu64 " (%s) left the cluster",
                  was->members[i].address);
    n->applied_conf = c;
}

/* ---- /status ---- */

void members_status(struct node *n, cJSON *o)
{
    struct raft *r = n->raft;
    raft_index at;
    const struct raft_configuration *c = raft_configuration(r, &at);
    bool leader = raft_role(r) == RAFT_LEADER;
    cJSON *members = cJSON_AddArrayToObject(o, "members");
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_member *m = &c->members[i];
        cJSON *jm = cJSON_CreateObject();
        cJSON_AddNumberToObject(jm, "id", (double)m->id);
        struct peer *pu = node_find_peer(n, m->id);
        const struct raftd_member *self = m->id == raft_self(r)
                                              ? config_member(n->cfg, m->id)
                                              : NULL;
        cJSON_AddStringToObject(jm, "url", /* the scheme this node uses */
                                pu ? pu->url
                                   : self && endpoint_same(self->url, m->address)
                                         ? self->url : m->address);
        cJSON_AddStringToObject(jm, "role", m->role == RAFT_LEARNER
                                                ? "learner" : "voter");
        if (leader)
            cJSON_AddNumberToObject(jm, "match_index",
                                    (double)raft_match_index(r, m->id));
        struct peer *p = node_find_peer(n, m->id);
        if (p && leader) { /* only leaders talk to all */
            cJSON_AddBoolToObject(jm, "reachable", !p->unreachable);
            raft_time now = node_now_ms(), heard = raft_last_heard(r, m->id);
            cJSON_AddNumberToObject(jm, "last_contact_ms",
                                    heard && now > heard ? (double)(now - heard)
                                                         : 0);
            cJSON_AddBoolToObject(jm, "sending_snapshot",
                                  raft_sending_snapshot(r, m->id));
            if (m->role == RAFT_LEARNER)
                cJSON_AddBoolToObject(jm, "caught_up",
                                      raft_learner_caught_up(r, m->id));
        }
        cJSON_AddItemToArray(members, jm);
    }
    cJSON *jc = cJSON_AddObjectToObject(o, "configuration");
    cJSON_AddNumberToObject(jc, "index", (double)at);
    cJSON_AddBoolToObject(jc, "committed", at <= raft_commit_index(r));
    if (n->want_valid && leader) {
        char want[1024];
        reconcile_describe(c, &n->want, want, sizeof(want));
        cJSON_AddStringToObject(jc, "reconciling", want);
    }
    if (n->file_differs[0])
        cJSON_AddStringToObject(o, "members_file_differs", n->file_differs);
    else
        cJSON_AddNullToObject(o, "members_file_differs");
}
