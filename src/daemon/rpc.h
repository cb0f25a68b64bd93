/* rpc.h - Raft messages as JSON over HTTP (the peer RPC wire format).
 *
 * Each request message is a POST to its path; the answer message is the
 * HTTP response body. Field names follow the Raft paper's Figure 2:
 *
 *   POST /raft/request_vote   {"term","candidate_id","to","last_log_index",
 *                              "last_log_term","prevote","transfer"}
 *     -> {"term","from","to","vote_granted","prevote"}
 *   POST /raft/append_entries {"term","leader_id","to","prev_log_index",
 *                              "prev_log_term","leader_commit","seq",
 *                              "entries":[{"term","type","data"(base64)}]}
 *     -> {"term","from","to","success","match_index","prev_log_index",
 *         "conflict_index","conflict_term","seq"}
 *   POST /raft/timeout_now    {"term","leader_id","to"} -> 204
 *   POST /raft/install_snapshot  one JSON line {"term","leader_id","to",
 *                              "last_included_index","last_included_term",
 *                              "leader_commit","seq"}, "\n", then the
 *                              snapshot file's bytes (doc/storage.md)
 *     -> the AppendEntries answer (match_index: the snapshot's index)
 *     (rpc_type_for_path() does not return it: node_snapshot.c handles it)
 *
 * Numbers are non-negative integers below 2^53; anything else is rejected.
 */
#ifndef RAFTD_RPC_H
#define RAFTD_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "../raft/raft.h"

/* The path a request type is POSTed to; NULL for response types. */
const char *rpc_path(enum raft_msg_type type);
/* The request type a path carries, or 0. */
enum raft_msg_type rpc_type_for_path(const char *path);
/* The response type answering a request type, or 0. */
enum raft_msg_type rpc_response_type(enum raft_msg_type request);

/* JSON for m (malloc'd, NUL-terminated), or NULL when out of memory. */
char *rpc_encode(const struct raft_msg *m, size_t *len);

/* Parse body as a message of the given type into m. On error returns -1
 * and err says what is wrong (for a 400 answer). Entries are allocated:
 * release with rpc_msg_free(). */
int rpc_decode(enum raft_msg_type type, const char *body, size_t len,
               struct raft_msg *m, char *err, size_t errlen);
void rpc_msg_free(struct raft_msg *m);

/* Split an InstallSnapshot request body: its first line (a newline within
 * the first RPC_SNAPSHOT_LINE_MAX bytes) is the JSON of the message, parsed
 * into m; the rest is the snapshot image, *img (pointing into body) and
 * *img_len bytes, for snapfile_check(). On error returns -1 with err set. */
#define RPC_SNAPSHOT_LINE_MAX 4096
int rpc_decode_install_snapshot(const char *body, size_t len,
                                struct raft_msg *m, const uint8_t **img,
                                size_t *img_len, char *err, size_t errlen);

#endif
