/* fault_api.h - fault injection for teaching (issue 12, item 3), under
 * the operators' requests (admin_api.h), so signed like them:
 *
 *   GET  /admin/fault   this node's faults: {"id", "fault_injection",
 *                       "faults": [...]} (also in /status)
 *   POST /admin/fault   one of (faults.h, fault_request_parse):
 *     {"fault":"partition", "peer":ID, "direction":"both"|"out"|"in"}
 *     {"fault":"delay", "ms":N, "peer":ID}   (no "peer": every peer)
 *     {"fault":"election"}   an election timeout now (raft_campaign)
 *     {"fault":"crash"}      exit at once with FAULTS_CRASH_EXIT
 *     {"fault":"heal"}       clear every fault
 *
 * Off unless raftd.conf says fault_injection = true: then both answer 403
 * naming the setting, and change nothing. A bad body gets 400 saying what
 * to send. Each fault set is journaled as fault_injected, a heal as
 * fault_healed (with RAFT_PEER_ID when one peer is named). */
#ifndef RAFTD_FAULT_API_H
#define RAFTD_FAULT_API_H

#include "http_server.h"

#define FAULT_API_PATH "/admin/fault"

struct node;

/* Answer an admitted request (admin_api.c checked its signature). */
void fault_api_handle(struct node *n, struct http_request *req);

#endif
