/* admin_api.h - operators' requests that change things, for raftctl:
 *
 *   POST /admin/transfer  {"to": ID}: the leader hands leadership to
 *                         member ID ({} or no body: to the most
 *                         up-to-date voter); 202 once started, 409 on a
 *                         node that is not the leader (naming it)
 *   POST /admin/snapshot  take a snapshot of everything applied now; 202
 *                         with its index once started (snapshot_taken is
 *                         logged when done), 409 when one is being taken
 *                         or nothing is new
 *
 * With peer authentication (peer_auth = "hmac") every request must be
 * signed by an operator with the cluster's secret (peer_auth.h,
 * peer_auth_sign_admin: sender f=0, MACs of the admin domain); others get
 * 401 (unsigned, badly signed, stale, replayed) or 403 (another cluster,
 * or signed as a member) and change nothing. With peer_auth = "none"
 * they are open, as the peer RPCs are. Each is journaled (admin_transfer,
 * admin_snapshot).
 *
 *   GET, POST /admin/fault  fault injection for teaching (fault_api.h),
 *                         off unless raftd.conf enables it */
#ifndef RAFTD_ADMIN_API_H
#define RAFTD_ADMIN_API_H

#include <stdbool.h>

#include "http_server.h"

struct node;

/* If req is for a path under /admin/, answer it and return true. */
bool admin_api_handle(struct node *n, struct http_request *req);

#endif
