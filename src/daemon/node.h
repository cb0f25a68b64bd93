/* node.h - one raftd node: the Raft core driven by the sd-event loop, its
 * storage, its HTTP server (peer RPCs, /status) and HTTP client (RPCs to
 * peers). Everything runs on the loop's thread; nothing is locked.
 */
#ifndef RAFTD_NODE_H
#define RAFTD_NODE_H

#include <stddef.h>

#include <systemd/sd-event.h>

#include "config.h"

struct node;

/* Open storage, recover state, start listening. The node is running (its
 * timers armed) when this returns. On failure returns NULL with a message
 * in err saying what to do. cfg must outlive the node. */
struct node *node_new(sd_event *ev, const struct raftd_config *cfg, char *err,
                      size_t errlen);
void node_free(struct node *n);

/* Begin a clean stop: a leader first hands leadership to the most
 * up-to-date follower (dissertation 3.10), waiting at most one election
 * timeout; then the loop is exited with status 0. */
void node_shutdown(struct node *n);

/* The text for sd_notify's STATUS=, e.g. "Follower of node 2, term 7". */
void node_status_line(const struct node *n, char *buf, size_t len);

#endif
