/* faults.h - fault injection for teaching (issue 12, item 3): which
 * messages this node loses or holds back, on an operator's request
 * (POST /admin/fault, fault_api.h), so that students without root can
 * partition their own cluster and watch it recover.
 *
 * Per peer (or for every peer, FAULTS_ALL) a rule says:
 *   drop_out  this node's requests to the peer are lost: the caller hears
 *             "unreachable", as after a timeout across a real partition;
 *   drop_in   the peer's requests to this node are refused (503), so the
 *             peer sees this node as unreachable;
 *   delay_ms  this node's requests to the peer leave that much later.
 * In raftd an answer travels back on its request's connection, so a cut
 * of one direction cuts the requests that start on that side, with their
 * answers (raftd(8), FAULT INJECTION).
 *
 * This file holds the rules and parses the requests; it does no I/O. The
 * rules live in memory only: a restart clears them. */
#ifndef RAFTD_FAULTS_H
#define RAFTD_FAULTS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "../raft/raft.h"

#define FAULTS_ALL RAFT_NONE         /* a rule for every peer */
#define FAULTS_DELAY_MAX_MS 60000u
#define FAULTS_MAX (RAFT_MAX_MEMBERS + 1)
/* The exit status of a crash asked for (raftd(8), EXIT STATUS): not 0, so
 * that systemd's Restart=on-failure brings the node back. */
#define FAULTS_CRASH_EXIT 86
#define FAULTS_CRASH_AFTER_MS 50 /* time for the answer to go out */

struct fault_rule {
    raft_id peer; /* FAULTS_ALL: every peer */
    bool drop_out, drop_in;
    unsigned delay_ms;
};

struct faults {
    struct fault_rule rules[FAULTS_MAX];
    size_t n;
};

void faults_init(struct faults *f);
/* Add rule's faults to those for rule->peer (drops add up; a delay
 * replaces the one before). Returns 0, or -1 when FAULTS_MAX peers have
 * rules already. */
int faults_add(struct faults *f, const struct fault_rule *rule);
/* Clear every rule. Returns how many there were. */
size_t faults_heal(struct faults *f);
bool faults_any(const struct faults *f);

/* What applies to one peer: its own rule and the one for every peer. */
bool faults_drop_out(const struct faults *f, raft_id to);
bool faults_drop_in(const struct faults *f, raft_id from);
unsigned faults_delay_ms(const struct faults *f, raft_id to);

/* [{"peer": ID or "all", "drop_out": b, "drop_in": b, "delay_ms": n}] */
cJSON *faults_json(const struct faults *f);

/* A request to POST /admin/fault. */
enum fault_kind {
    FAULT_PARTITION, /* {"fault":"partition", "peer":ID, "direction":
                        "both"|"out"|"in"}; no peer: from every peer */
    FAULT_DELAY,     /* {"fault":"delay", "ms":N, "peer":ID} */
    FAULT_ELECTION,  /* {"fault":"election"}: an election timeout now */
    FAULT_CRASH,     /* {"fault":"crash"}: exit at once */
    FAULT_HEAL,      /* {"fault":"heal"}: clear every fault */
};
struct fault_request {
    enum fault_kind kind;
    struct fault_rule rule; /* PARTITION and DELAY */
};
const char *fault_kind_name(enum fault_kind kind);
/* Parse a request's body. Returns 0, or -1 with why saying what is wrong
 * and what to send instead. Checks only the form: whether the peer is a
 * member is the caller's to check. */
int fault_request_parse(const char *body, size_t len,
                        struct fault_request *req, char *why, size_t whylen);

#endif
