/* dedup.h - exactly-once client requests: client sessions (dissertation
 * 6.3).
 *
 * Every raftd process is a client session. Each proposal it creates carries
 * an identity framed in front of the store command:
 *
 *     "<origin> <incarnation> <seq> <ack>\n<command>"
 *
 * origin is the node id, incarnation a random nonzero 64-bit number chosen
 * when the process starts, seq counts the proposals of the process (1, 2,
 * ...), and ack is the lowest seq of its proposals that it may still send
 * (again), i.e. every seq below ack is finished for the origin. A node may
 * send a request to the leader again when it cannot know whether the first
 * try arrived; the state machine applies an identity once and answers any
 * later copy with the first answer.
 *
 * The table is part of the replicated state (every node applies the same
 * log, and it is in snapshots), so it depends only on the applied entries.
 * It keeps, per session (origin, incarnation), the highest ack seen
 * (ack_max) and the answers for seq >= ack_max. An entry is:
 *   STALE  its session is closed (a newer incarnation of its origin
 *          appeared, or it was evicted), or seq < ack_max (its origin was
 *          done with it: a late copy), or ack > seq (malformed): not applied;
 *   DONE   seq already answered: answer with the first answer;
 *   NEW    otherwise: apply it and dedup_remember() the answer.
 * Bounds: DEDUP_MAX_SESSIONS sessions (the least recently used one, in
 * apply order, is closed), DEDUP_MAX_TOMBSTONES closed sessions remembered,
 * DEDUP_MAX_PER_SESSION answers per session (beyond, the lowest seq is
 * dropped and ack_max raised past it: its copies become STALE).
 *
 * The old header "<origin> <id>\n" (random id; logs and snapshots of older
 * raftd) still parses, as incarnation 0, seq = id, ack = 0. Such legacy
 * sessions are never closed and never close others; they forget their
 * oldest answer (in apply order) beyond DEDUP_MAX_PER_SESSION, as the old
 * table did, and are forgotten (not closed) when evicted.
 */
#ifndef RAFTD_DEDUP_H
#define RAFTD_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "kv.h"

#define DEDUP_MAX_SESSIONS 64
#define DEDUP_MAX_TOMBSTONES 256
#define DEDUP_MAX_PER_SESSION 4096
#define DEDUP_HEADER_MAX 96

struct dedup_ident {
    uint64_t origin, inc, seq, ack; /* inc 0: a legacy "<origin> <id>" */
};

enum dedup_verdict { DEDUP_NEW, DEDUP_DONE, DEDUP_STALE };

struct dedup;
struct dedup *dedup_new(void);
void dedup_free(struct dedup *d);

/* Write the v2 frame header of id to buf (at least DEDUP_HEADER_MAX bytes);
 * returns its length. */
size_t dedup_header(char *buf, const struct dedup_ident *id);
/* Split an entry into identity and command. Returns 0, or -1 if it has no
 * valid header (then the whole entry is the command, with no identity). A
 * v2 header with incarnation 0 is not valid. */
int dedup_parse(const void *entry, size_t len, struct dedup_ident *id,
                size_t *header_len);

/* Decide an applied entry's fate (and update the table: sessions, ack).
 * DEDUP_DONE sets *first to the first answer (valid until the next call);
 * after DEDUP_NEW the caller applies the command and calls
 * dedup_remember() with the answer. */
enum dedup_verdict dedup_begin(struct dedup *d, const struct dedup_ident *id,
                               const struct kv_result **first);
/* Remember the answer (copied) to id, just begun as DEDUP_NEW. */
void dedup_remember(struct dedup *d, const struct dedup_ident *id,
                    const struct kv_result *res);
size_t dedup_count(const struct dedup *d);          /* answers kept */
size_t dedup_session_count(const struct dedup *d);  /* open sessions */

/* Snapshots: the table as malloc'd bytes (NULL if out of memory), and back.
 * dedup_restore() returns -1 on malformed bytes, leaving d unchanged; it
 * also loads the format of older raftd (legacy answers). */
char *dedup_snapshot(const struct dedup *d, size_t *len);
int dedup_restore(struct dedup *d, const void *data, size_t len);

#endif
