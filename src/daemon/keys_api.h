/* keys_api.h - the client HTTP API: the etcd v2 keys API subset that
 * etcdctl (ETCDCTL_API=2) uses, plus /v2/members, /health and /version.
 * Semantics are documented in raftd(8) and doc/kv.md.
 */
#ifndef RAFTD_KEYS_API_H
#define RAFTD_KEYS_API_H

#include <stdbool.h>

#include "http_server.h"
#include "node.h"

struct cJSON;

/* Answer req with obj as JSON (obj is freed), or 500 if out of memory. */
void api_respond_json(struct http_request *req, unsigned status,
                      struct cJSON *obj);
/* Answer req with {"message": message} (etcd's members and stats APIs). */
void api_respond_message(struct http_request *req, unsigned status,
                         const char *message);
/* 405 with Allow: allow. plain: etcd's text/plain "Method Not Allowed\n"
 * (as etcd's /v2/stats and /v2/machines answer); else
 * {"message":"Method Not Allowed"}. */
void api_refuse_method(struct http_request *req, const char *allow,
                       bool plain);

/* Handle req if its path belongs to the client API; false otherwise. */
bool keys_api_handle(struct node *n, struct http_request *req);

#endif
