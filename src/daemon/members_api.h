/* members_api.h - etcd v2's members API (/v2/members): the cluster's
 * configuration, and changes to it (raftd(8), MEMBERSHIP).
 */
#ifndef RAFTD_MEMBERS_API_H
#define RAFTD_MEMBERS_API_H

#include <stdbool.h>

#include "http_server.h"
#include "node.h"

/* Handle req if its path is /v2/members or below; false otherwise. */
bool members_api_handle(struct node *n, struct http_request *req);

#endif
