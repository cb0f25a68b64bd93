/* status.c - raftctl status and raftctl leader (ctl.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

double json_number(const cJSON *o, const char *name, double dflt)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

const char *json_string(const cJSON *o, const char *name)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void print_json(cJSON *o)
{
    char *s = cJSON_Print(o);
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

/* Ask eps[from..n_eps) for /status; returns how many answered. */
static size_t fetch_range(struct ctl *c, size_t from, cJSON **st,
                          char (*why)[300])
{
    size_t n = c->n_eps - from, ok = 0;
    struct request *reqs = calloc(n ? n : 1, sizeof(*reqs));
    if (!reqs)
        return 0;
    for (size_t i = 0; i < n; i++)
        snprintf(reqs[i].url, sizeof(reqs[i].url), "%s/status",
                 c->eps[from + i].url);
    fetch_all(c, reqs, n);
    for (size_t i = 0; i < n; i++) {
        struct reply *r = &reqs[i].reply;
        st[from + i] = r->status == 200 ? reply_json(r) : NULL;
        if (st[from + i]) {
            ok++;
            why[from + i][0] = '\0';
            uint64_t id = (uint64_t)json_number(st[from + i], "id", 0);
            if (id && !c->eps[from + i].id)
                c->eps[from + i].id = id;
        } else if (r->status == 200) {
            snprintf(why[from + i], 300, "its /status is not JSON");
        } else {
            reply_why(r, why[from + i], 300);
        }
        reply_clear(r);
    }
    free(reqs);
    return ok;
}

/* Members the answers name that raftctl does not ask yet. */
static void add_named_members(struct ctl *c, cJSON *const *st, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *ms = st[i] ? cJSON_GetObjectItemCaseSensitive(st[i],
                                                                   "members")
                                : NULL;
        const cJSON *m;
        cJSON_ArrayForEach(m, ms)
        {
            uint64_t id = (uint64_t)json_number(m, "id", 0);
            const char *url = json_string(m, "url");
            bool known = false;
            for (size_t j = 0; j < c->n_eps; j++)
                known |= c->eps[j].id == id;
            if (id && url && !known)
                endpoints_add(c, id, url);
        }
    }
}

/* The leader among them: the index of the member that says it leads in
 * the highest term, or -1. */
static int find_leader(const struct ctl *c, cJSON *const *st)
{
    int best = -1;
    double best_term = -1;
    for (size_t i = 0; i < c->n_eps; i++) {
        const char *state = json_string(st[i], "state");
        double term = json_number(st[i], "term", -1);
        if (state && strcmp(state, "Leader") == 0 && term > best_term) {
            best = (int)i;
            best_term = term;
        }
    }
    return best;
}

void statuses_get(struct ctl *c, struct statuses *s)
{
    memset(s, 0, sizeof(*s));
    size_t before = c->n_eps;
    s->ok = fetch_range(c, 0, s->st, s->why);
    add_named_members(c, s->st, before);
    if (c->n_eps > before)
        s->ok += fetch_range(c, before, s->st, s->why);
    s->n = c->n_eps;
    s->leader = find_leader(c, s->st);
}

void statuses_put(struct statuses *s)
{
    for (size_t i = 0; i < s->n; i++) {
        cJSON_Delete(s->st[i]);
        s->st[i] = NULL;
    }
}

/* The leader's entry for member id in its /status "members", or NULL. */
static const cJSON *leader_view(const cJSON *leader, uint64_t id)
{
    const cJSON *ms = leader ? cJSON_GetObjectItemCaseSensitive(leader,
                                                                "members")
                             : NULL;
    const cJSON *m;
    cJSON_ArrayForEach(m, ms)
    if ((uint64_t)json_number(m, "id", 0) == id)
        return m;
    return NULL;
}

struct row {
    uint64_t id;
    const char *url;
    const cJSON *st;       /* its own /status, or NULL */
    const char *why;       /* why not */
    const char *state;
    double term, leader, commit, applied, last;
    double lag;            /* -1: unknown */
    double contact_ms;     /* -1: unknown or itself */
    char health[340];
    bool learner;
};

static void fill_row(struct row *w, const struct endpoint *e, const cJSON *st,
                     const char *why, const cJSON *leader_st, bool is_leader)
{
    memset(w, 0, sizeof(*w));
    w->id = e->id;
    w->url = e->url;
    w->st = st;
    w->why = why;
    w->state = json_string(st, "state");
    w->term = json_number(st, "term", -1);
    w->leader = json_number(st, "leader_id", 0);
    w->commit = json_number(st, "commit_index", -1);
    w->applied = json_number(st, "applied_index", -1);
    w->last = json_number(st, "last_log_index", -1);
    const cJSON *lv = leader_view(leader_st, e->id);
    const char *role = json_string(lv, "role");
    w->learner = role && strcmp(role, "learner") == 0;
    double leader_last = json_number(leader_st, "last_log_index", -1);
    double match = json_number(lv, "match_index", -1);
    w->lag = -1;
    if (leader_last >= 0 && match >= 0)
        w->lag = leader_last > match ? leader_last - match : 0;
    else if (leader_last >= 0 && w->last >= 0)
        w->lag = leader_last > w->last ? leader_last - w->last : 0;
    w->contact_ms = is_leader ? -1 : json_number(lv, "last_contact_ms", -1);
    if (!st)
        snprintf(w->health, sizeof(w->health), "unreachable: %.*s",
                 (int)(sizeof(w->health) - sizeof("unreachable: ")), why);
    else if (!w->leader)
        snprintf(w->health, sizeof(w->health), "no leader");
    else if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(lv, "reachable")))
        snprintf(w->health, sizeof(w->health), "leader cannot reach it");
    else
        snprintf(w->health, sizeof(w->health), "ok");
}

static void num_cell(char *buf, size_t len, double v, const char *suffix)
{
    if (v < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.0f%s", v, suffix);
}

static void print_table(const struct row *rows, size_t n)
{
    printf("%-4s %-28s %-10s %-6s %-6s %-8s %-8s %-8s %-6s %-8s %s\n", "ID",
           "URL", "STATE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST",
           "LAG", "CONTACT", "HEALTH");
    for (size_t i = 0; i < n; i++) {
        const struct row *w = &rows[i];
        char term[24], leader[24], commit[24], applied[24], last[24],
            lag[24], contact[24], id[24];
        num_cell(id, sizeof(id), w->id ? (double)w->id : -1, "");
        num_cell(term, sizeof(term), w->term, "");
        num_cell(leader, sizeof(leader), w->st && w->leader ? w->leader : -1,
                 "");
        num_cell(commit, sizeof(commit), w->commit, "");
        num_cell(applied, sizeof(applied), w->applied, "");
        num_cell(last, sizeof(last), w->last, "");
        num_cell(lag, sizeof(lag), w->lag, "");
        num_cell(contact, sizeof(contact), w->contact_ms, "ms");
        const char *state = w->st ? w->state : "-";
        char shown[24];
        snprintf(shown, sizeof(shown), "%s%s", state ? state : "?",
                 w->learner ? "*" : "");
        printf("%-4s %-28s %-10s %-6s %-6s %-8s %-8s %-8s %-6s %-8s %s\n", id,
               w->url, shown, term, leader, commit, applied, last, lag,
               contact, w->health);
    }
}

static void add_num_or_null(cJSON *o, const char *name, double v)
{
    if (v < 0)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, v);
}

static cJSON *rows_json(const struct row *rows, size_t n, int leader,
                        const struct ctl *c)
{
    cJSON *o = cJSON_CreateObject();
    if (leader >= 0)
        cJSON_AddNumberToObject(o, "leader", (double)c->eps[leader].id);
    else
        cJSON_AddNullToObject(o, "leader");
    cJSON *arr = cJSON_AddArrayToObject(o, "members");
    for (size_t i = 0; i < n; i++) {
        const struct row *w = &rows[i];
        cJSON *m = cJSON_CreateObject();
        add_num_or_null(m, "id", w->id ? (double)w->id : -1);
        cJSON_AddStringToObject(m, "url", w->url);
        cJSON_AddBoolToObject(m, "reachable", w->st != NULL);
        if (w->st)
            cJSON_AddNullToObject(m, "error");
        else
            cJSON_AddStringToObject(m, "error", w->why);
        if (w->st && w->state)
            cJSON_AddStringToObject(m, "state", w->state);
        else
            cJSON_AddNullToObject(m, "state");
        cJSON_AddStringToObject(m, "role", w->learner ? "learner" : "voter");
        add_num_or_null(m, "term", w->term);
        add_num_or_null(m, "leader", w->st && w->leader ? w->leader : -1);
        add_num_or_null(m, "commit_index", w->commit);
        add_num_or_null(m, "applied_index", w->applied);
        add_num_or_null(m, "last_log_index", w->last);
        add_num_or_null(m, "lag", w->lag);
        add_num_or_null(m, "last_contact_ms", w->contact_ms);
        cJSON_AddStringToObject(m, "health", w->health);
        cJSON_AddItemToArray(arr, m);
    }
    return o;
}

static int no_answer(const struct ctl *c, char (*why)[300])
{
    fprintf(stderr, "raftctl: no member answered:\n");
    for (size_t i = 0; i < c->n_eps; i++)
        fprintf(stderr, "  %s: %s\n", c->eps[i].url, why[i]);
    fprintf(stderr, "raftctl: is raftd running there (systemctl status "
                    "raftd), and are these the right URLs%s?\n",
            c->config_path ? " (from the config file)" : "");
    return CTL_FAIL;
}

int cmd_status(struct ctl *c, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "raftctl status: takes no arguments\n");
        return CTL_USAGE;
    }
    struct statuses s;
    statuses_get(c, &s);
    if (s.ok == 0)
        return no_answer(c, s.why);
    int li = s.leader;
    struct row rows[CTL_MAX_ENDPOINTS];
    bool degraded = li < 0;
    for (size_t i = 0; i < c->n_eps; i++) {
        fill_row(&rows[i], &c->eps[i], s.st[i], s.why[i],
                 li >= 0 ? s.st[li] : NULL, (int)i == li);
        degraded |= strcmp(rows[i].health, "ok") != 0;
    }
    if (c->json) {
        print_json(rows_json(rows, c->n_eps, li, c));
    } else {
        print_table(rows, c->n_eps);
        if (li < 0)
            printf("no leader: an election may be under way, or too few "
                   "members are up for one\n");
        for (size_t i = 0; i < c->n_eps; i++)
            if (rows[i].learner) {
                printf("* a learner: it receives the log but does not vote "
                       "yet\n");
                break;
            }
    }
    statuses_put(&s);
    return degraded ? CTL_DEGRADED : CTL_OK;
}

int cmd_leader(struct ctl *c, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "raftctl leader: takes no arguments\n");
        return CTL_USAGE;
    }
    struct statuses s;
    statuses_get(c, &s);
    if (s.ok == 0)
        return no_answer(c, s.why);
    int li = s.leader;
    int rc = CTL_OK;
    if (li < 0) {
        fprintf(stderr, "raftctl: no leader: %zu of %zu members answered and "
                        "none leads (an election may be under way: try "
                        "again; see raftctl status)\n", s.ok, c->n_eps);
        rc = CTL_FAIL;
    } else if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)c->eps[li].id);
        cJSON_AddStringToObject(o, "url", c->eps[li].url);
        cJSON_AddNumberToObject(o, "term", json_number(s.st[li], "term", 0));
        print_json(o);
    } else {
        printf("%" PRIu64 " %s\n", c->eps[li].id, c->eps[li].url);
    }
    statuses_put(&s);
    return rc;
}
