/* peer_auth.h - who may speak Raft to this node: the cluster's identity and
 * the authentication of every request between members.
 *
 * Raft assumes that only the members send its messages (paper section 5;
 * its safety argument counts the votes and acknowledgements of members).
 * Over HTTP anyone who reaches the port could otherwise depose the leader
 * (RequestVote with a high term), start elections (TimeoutNow), or
 * overwrite a follower's log and store (AppendEntries, InstallSnapshot).
 *
 * Every peer request carries one header (doc/design.md, "Peer
 * authentication"):
 *
 *     Raftd-Auth: v1 c=<cluster id> f=<from> t=<to> ts=<unix ms>
 *                 n=<incarnation>.<counter> k=<HMAC> m=<HMAC>
 *
 * Both are HMAC-SHA256 under the cluster's shared secret, in hex: k covers
 * the method, the path and the fields before it, so that the receiver can
 * check it before it reads a body (an InstallSnapshot may be a gigabyte);
 * m covers the same and the body. The receiver refuses (in this order):
 *   - another cluster's id (403: a lab's configs that list another
 *     group's machines by mistake), or a request meant for another node;
 *   - a missing or wrong k (401), and a timestamp out of the window (401),
 *     both before the body is read;
 *   - a wrong m (401);
 *   - a timestamp more than PEER_AUTH_WINDOW_MS away from its own clock
 *     (401: a recorded request replayed later);
 *   - a nonce it has seen (401: a recorded request replayed at once). The
 *     nonce is the sender's random incarnation (new at every start) and a
 *     counter per destination and path; the receiver keeps, per sender and
 *     incarnation, a sliding window of the last PEER_AUTH_REPLAY_WINDOW
 *     counters per path (IPsec's anti-replay window, RFC 4303 3.4.3), so
 *     requests that overtake each other on several connections are fine.
 *     It remembers PEER_AUTH_INCARNATIONS incarnations per member and
 *     PEER_AUTH_OPERATOR_INCARNATIONS of the operator (raftctl starts a
 *     new one at every request), and forgets one only once its newest
 *     request is older than PEER_AUTH_WINDOW_MS (a replay of it is then
 *     refused as stale); a new incarnation while every one remembered is
 *     younger than that is refused (PEER_AUTH_BUSY, 503: retry later).
 * Answers carry "Raftd-Auth: v1 m=<mac>", a MAC over the request's nonce,
 * the status and the body, so that a vote or an acknowledgement cannot be
 * forged either.
 *
 * Operators' requests (paths under PEER_AUTH_ADMIN_PREFIX, from raftctl)
 * carry the same header, signed with the same secret, but name the sender
 * f=0 (PEER_AUTH_OPERATOR: no member has id 0) and their MACs cover
 * "raftd-admin-..." where members' cover "raftd-peer-...": an operator's
 * signature never passes as a member's Raft RPC, nor a member's as an
 * operator's (PEER_AUTH_WRONG_SENDER, 403). Their nonces have a replay
 * window of their own.
 *
 * With peer_auth = "none" the header carries the cluster id and the ids
 * only (no MAC), and only the cluster and target checks apply.
 *
 * No I/O and no clocks here: the caller passes the time. HMAC-SHA256 and
 * SHA-256 come from OpenSSL's libcrypto.
 */
#ifndef RAFTD_PEER_AUTH_H
#define RAFTD_PEER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../raft/raft.h"

#define PEER_AUTH_HEADER "Raftd-Auth"
#define PEER_AUTH_HEADER_MAX 320    /* a header value fits in this */
#define PEER_AUTH_SECRET_MIN 16     /* bytes: 128 bits at least */
#define PEER_AUTH_SECRET_MAX 64
#define PEER_AUTH_WINDOW_MS 30000   /* accepted clock difference */
#define PEER_AUTH_REPLAY_WINDOW 1024
#define PEER_AUTH_INCARNATIONS 8    /* per member, remembered */
/* per operator: raftctl starts a new incarnation at every request */
#define PEER_AUTH_OPERATOR_INCARNATIONS 128
#define PEER_AUTH_ADMIN_PREFIX "/admin/"
#define PEER_AUTH_OPERATOR 0        /* the f= of an operator's request */

struct peer_auth;

/* secret NULL (len 0): peer_auth = "none". Returns NULL if out of memory or
 * the secret is shorter than PEER_AUTH_SECRET_MIN. */
struct peer_auth *peer_auth_new(const uint8_t *secret, size_t len,
                                uint64_t cluster_id, raft_id self,
                                uint64_t incarnation);
void peer_auth_free(struct peer_auth *pa);
bool peer_auth_has_secret(const struct peer_auth *pa);
uint64_t peer_auth_cluster(const struct peer_auth *pa);
/* A new node that joins an existing cluster (dissertation 4.2.1): its
 * cluster id, derived from its own file's list, is not the cluster's. While
 * joining, a request of another cluster is checked like the others (MAC,
 * time, nonce) instead of refused, and nonce->cluster says which cluster
 * it is; the node adopts it (peer_auth_set_cluster, which ends joining). */
void peer_auth_set_joining(struct peer_auth *pa, bool joining);
void peer_auth_set_cluster(struct peer_auth *pa, uint64_t cluster_id);

/* What identifies one request: the answer's MAC is bound to it. */
struct peer_auth_nonce {
    raft_id from, to;
    uint64_t incarnation, counter;
    int path; /* index in the table of peer paths */
    uint64_t cluster; /* the request's cluster id (checks: see joining) */
    unsigned retry_s; /* PEER_AUTH_BUSY: seconds until one can be forgotten */
};

/* The header for a request from this node to `to`. now_ms: the wall clock
 * (CLOCK_REALTIME, ms). Returns -1 for a path that is not a peer path. */
int peer_auth_sign_request(struct peer_auth *pa, const char *method,
                           const char *path, raft_id to, const void *body,
                           size_t len, uint64_t now_ms,
                           char header[PEER_AUTH_HEADER_MAX],
                           struct peer_auth_nonce *nonce);

enum peer_auth_verdict {
    PEER_AUTH_OK = 0,
    PEER_AUTH_MISSING,   /* no header */
    PEER_AUTH_MALFORMED, /* a header that does not parse */
    PEER_AUTH_FOREIGN,   /* another cluster's id */
    PEER_AUTH_NOT_FOR_US, /* addressed to another node */
    PEER_AUTH_NO_MAC,    /* unsigned, and this node needs a signature */
    PEER_AUTH_BAD_MAC,   /* wrong signature: another secret, or forged */
    PEER_AUTH_STALE,     /* timestamp outside the window */
    PEER_AUTH_REPLAYED,  /* nonce seen before, or too far behind */
    PEER_AUTH_WRONG_SENDER, /* an admin request signed as a member */
    PEER_AUTH_BUSY,      /* a new incarnation, and no room to remember it */
};
/* The HTTP status for a refusal: 403 for FOREIGN and WRONG_SENDER, 409 for
 * NOT_FOR_US, 503 for BUSY (with Retry-After: nonce->retry_s), 401 for the
 * others. */
unsigned peer_auth_status(enum peer_auth_verdict v);
const char *peer_auth_verdict_name(enum peer_auth_verdict v);

/* The checks that need no body (cluster, target, k, timestamp): for a
 * request whose headers are in, before its body is read. */
enum peer_auth_verdict peer_auth_check_head(const struct peer_auth *pa,
                                            const char *method,
                                            const char *path,
                                            const char *header,
                                            uint64_t now_ms, char *why,
                                            size_t whylen);

/* Check a request's header (NULL if absent). now_ms: the wall clock when
 * the request began to arrive. On PEER_AUTH_OK *nonce says who sent it;
 * the nonce is then remembered (never before the MAC is checked). Else why
 * says what is wrong, for the log and the 401/403 body. A claimed sender
 * is in nonce->from whenever the header parsed. */
enum peer_auth_verdict peer_auth_check_request(
    struct peer_auth *pa, const char *method, const char *path,
    const char *header, const void *body, size_t len, uint64_t now_ms,
    struct peer_auth_nonce *nonce, char *why, size_t whylen);

/* The header of this node's answer (status, body) to the request nonce. */
void peer_auth_sign_response(const struct peer_auth *pa,
                             const struct peer_auth_nonce *nonce,
                             unsigned status, const void *body, size_t len,
                             char header[PEER_AUTH_HEADER_MAX]);
/* Check the answer to a request this node sent (header NULL if absent). */
bool peer_auth_check_response(const struct peer_auth *pa,
                              const struct peer_auth_nonce *nonce,
                              long status, const char *header,
                              const void *body, size_t len);

/* Index of a peer path ("/raft/append_entries", ...), -1 if not one. */
int peer_auth_path_index(const char *path);
/* A path under PEER_AUTH_ADMIN_PREFIX. */
bool peer_auth_is_admin_path(const char *path);

/* An operator's request to node `to` (an admin path), and its check:
 * the same as peer_auth_sign_request()/peer_auth_check_request(), with
 * the sender PEER_AUTH_OPERATOR and the MACs of the admin domain. */
int peer_auth_sign_admin(struct peer_auth *pa, const char *method,
                         const char *path, raft_id to, const void *body,
                         size_t len, uint64_t now_ms,
                         char header[PEER_AUTH_HEADER_MAX],
                         struct peer_auth_nonce *nonce);
enum peer_auth_verdict peer_auth_check_admin(
    struct peer_auth *pa, const char *method, const char *path,
    const char *header, const void *body, size_t len, uint64_t now_ms,
    struct peer_auth_nonce *nonce, char *why, size_t whylen);

/* Parse a secret file's text: hex digits (whitespace around them is
 * ignored), at least 2 * PEER_AUTH_SECRET_MIN of them. Returns the number
 * of bytes, or -1 with why set. */
int peer_auth_parse_secret(const char *text, size_t len,
                           uint8_t out[PEER_AUTH_SECRET_MAX], const char **why);

#endif
