/* ctl.h - raftctl: what its files share (raftctl(1)).
 *
 *   raftctl.c    command line, the commands' dispatch, exit statuses
 *   endpoints.c  which members to ask: --endpoints, or the config file
 *   fetch.c      HTTP requests over one libcurl multi handle, in parallel
 *   status.c     status and leader: every member's /status, one table
 *   members.c    members, members add, members remove (/v2/members)
 *   timeline.c   events [-f]: every member's /events, merged by time
 *   admin.c      transfer and snapshot: signed /admin/ requests
 *   fault.c      fault ...: fault injection for teaching (/admin/fault)
 */
#ifndef RAFTCTL_CTL_H
#define RAFTCTL_CTL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct raftd_config;

/* Exit statuses (raftctl(1), EXIT STATUS). */
enum {
    CTL_OK = 0,
    CTL_FAIL = 1,     /* nothing answered, or the command failed */
    CTL_USAGE = 2,    /* bad command line or config file */
    CTL_DEGRADED = 3, /* status: some member did not answer, or no leader */
};

#define CTL_MAX_ENDPOINTS 32

struct endpoint {
    uint64_t id; /* 0: not known (from --endpoints) until it answers */
    char url[256]; /* "http://host:port", without a trailing "/" */
};

struct ctl {
    struct endpoint eps[CTL_MAX_ENDPOINTS];
    size_t n_eps;
    bool json;
    const char *cacert;      /* CA file for https:// members, or NULL */
    const char *cert, *key;  /* client certificate and key, or NULL */
    long timeout_ms;         /* per request (not long polls) */
    const char *config_path; /* the config file read, or NULL */
    struct raftd_config *cfg; /* what it says (NULL: none read) */
    const char *secret_file;  /* --secret-file, or NULL */
};

/* ---- endpoints.c ---- */
/* Fill c->eps from a comma-separated list of URLs. 0, or -1 with why. */
int endpoints_parse(struct ctl *c, const char *list, char *why, size_t len);
/* Read a raftd.conf into c->cfg; fill c->eps from it when fill_eps
 * (and c->cacert when unset). 0, or -1 with why ("file:line: ..."). */
int endpoints_from_config(struct ctl *c, const char *path, bool fill_eps,
                          char *why, size_t len);
/* Add url (id may be 0) unless an endpoint with that URL or id exists;
 * returns its index, or -1 when full. */
int endpoints_add(struct ctl *c, uint64_t id, const char *url);

/* ---- fetch.c ---- */
struct reply {
    long status;      /* HTTP status; 0: no answer (see error) */
    char *body;       /* NUL-terminated, NULL when none */
    size_t len;
    char error[300];  /* why there was no answer */
    int curl_code;    /* the CURLcode of a failed transfer (0: none) */
};
struct request {
    char url[512];
    const char *method;       /* NULL: GET */
    const char *body;         /* NULL: none */
    const char *content_type;
    const char *header;       /* one more "Name: value", or NULL */
    long timeout_ms;          /* 0: the ctl's */
    struct reply reply;
    void *priv;               /* fetch.c's */
    void *user;               /* the caller's */
};
/* Run n requests in parallel; returns when all have an answer or failed. */
void fetch_all(const struct ctl *c, struct request *reqs, size_t n);
/* The same one by one: start them, then take each as it finishes. */
struct fetcher *fetcher_new(const struct ctl *c);
void fetcher_free(struct fetcher *f); /* requests in flight are dropped */
int fetcher_start(struct fetcher *f, struct request *r);
/* A request that finished, or NULL when none did within wait_ms. */
struct request *fetcher_next(struct fetcher *f, long wait_ms);
void reply_clear(struct reply *r);
/* The reply's body as JSON (NULL if it is not), and the message of a JSON
 * error body ({"error":...} or {"message":...}) or the body itself. */
cJSON *reply_json(const struct reply *r);
void reply_why(const struct reply *r, char *why, size_t len);
/* No answer, and the request surely did not reach the member (it could
 * not be resolved or connected to): safe to send elsewhere. */
bool reply_unsent(const struct reply *r);
/* Milliseconds on the monotonic clock; sleep that long. */
uint64_t mono_ms(void);
void sleep_ms(long ms);

/* ---- the commands ---- */
int cmd_status(struct ctl *c, int argc, char **argv);
int cmd_leader(struct ctl *c, int argc, char **argv);
int cmd_members(struct ctl *c, int argc, char **argv);
int cmd_events(struct ctl *c, int argc, char **argv);
int cmd_transfer(struct ctl *c, int argc, char **argv);
int cmd_snapshot(struct ctl *c, int argc, char **argv);
int cmd_fault(struct ctl *c, int argc, char **argv);

/* ---- admin.c ---- */
/* method path with body (JSON, "" for none) to eps[i], signed with the
 * peer secret as an operator when st (its /status) says "hmac"; the
 * answer is in r->reply. -1 (with a message) when it cannot be signed. */
int admin_request(struct ctl *c, size_t i, const cJSON *st,
                  const char *method, const char *path, const char *body,
                  struct request *r);
/* A member id from the command line: 0, or -1 with a message. */
int parse_member_id(const char *cmd, const char *s, uint64_t *id);
/* The index of the endpoint with that id, or -1. */
int find_id(const struct ctl *c, uint64_t id);

/* ---- status.c ---- */
/* Every endpoint's /status, in parallel (statuses_get); members the
 * answers name that are not endpoints yet are added and asked too. */
struct statuses {
    cJSON *st[CTL_MAX_ENDPOINTS]; /* c->eps[i]'s parsed answer, or NULL */
    char why[CTL_MAX_ENDPOINTS][300]; /* why not */
    size_t ok;  /* how many answered */
    int leader; /* the member that says it leads in the highest term, -1 */
    size_t n;   /* how many entries (c->n_eps then) */
};
void statuses_get(struct ctl *c, struct statuses *s);
void statuses_put(struct statuses *s); /* frees the answers */

/* Helpers for the commands. */
double json_number(const cJSON *o, const char *name, double dflt);
const char *json_string(const cJSON *o, const char *name);
void print_json(cJSON *o); /* prints and deletes */

#endif
