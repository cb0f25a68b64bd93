/* stats_api.h - etcd v2's cluster information for its clients:
 *
 *   GET /v2/machines       the members' client URLs, ", "-separated
 *   GET /v2/stats/self     this node: name, id, state, leaderInfo, counts
 *                          and rates of AppendEntries sent and received
 *   GET /v2/stats/leader   on the leader: each follower's AppendEntries
 *                          round trips (latency in ms) and their outcome;
 *                          elsewhere 403 {"message":"not current leader"}
 *   GET /v2/stats/store    the store's operation counters (kv_get_stats)
 *
 * in etcd's shapes (raftd(8), COMPATIBILITY). The counters are this
 * process's, since it started; like node_metrics.h, one set per process.
 */
#ifndef RAFTD_STATS_API_H
#define RAFTD_STATS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../raft/raft.h"
#include "http_server.h"
#include "node.h"

/* Start counting (the start time; leader changes, from the log's events).
 * Once per process, before the first event; stats_api_stop() at the end. */
int stats_api_start(void);
void stats_api_stop(void);

/* The transport's hooks: an AppendEntries (heartbeats included: raftd's
 * are empty AppendEntries) of bytes sent to a follower; its answer, after
 * rtt_us, ok if the follower answered it (a 2xx status), not ok if the
 * request failed; one of bytes received from a leader. */
void stats_append_sent(size_t bytes);
void stats_append_answered(raft_id follower, uint64_t rtt_us, bool ok);
void stats_append_received(size_t bytes);

/* Handle req if its path is /v2/machines or /v2/stats/{self,leader,store};
 * false otherwise. */
bool stats_api_handle(struct node *n, struct http_request *req);

#endif
