/* dedup.h - exactly-once client requests (dissertation 6.3).
 *
 * Every proposal carries an identity: the id of the node that took it from
 * the client and a random 64-bit request id, framed in front of the store
 * command as "<origin> <id>\n". A node may send the same request to the
 * leader again when it cannot know whether the first try arrived (the
 * leader died mid-request, leadership changed); the state machine applies
 * an identity once and answers any later copy with the first answer. The
 * table is part of the replicated state (every node applies the same log),
 * so it is deterministic: it keeps the answers to the last DEDUP_WINDOW
 * requests applied, oldest forgotten first.
 */
#ifndef RAFTD_DEDUP_H
#define RAFTD_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "kv.h"

#define DEDUP_WINDOW 16384
#define DEDUP_HEADER_MAX 48

struct dedup;
struct dedup *dedup_new(size_t window);
void dedup_free(struct dedup *d);

/* Write the frame header for (origin, id) to buf (at least DEDUP_HEADER_MAX
 * bytes); returns its length. */
size_t dedup_header(char *buf, uint64_t origin, uint64_t id);
/* Split an entry into identity and command. Returns 0, or -1 if it has no
 * valid header (then the whole entry is the command, with no identity). */
int dedup_parse(const void *entry, size_t len, uint64_t *origin, uint64_t *id,
                size_t *header_len);

/* The answer already given to (origin, id), or NULL. */
const struct kv_result *dedup_find(const struct dedup *d, uint64_t origin,
                                   uint64_t id);
/* Remember the answer to (origin, id) (copied). */
void dedup_remember(struct dedup *d, uint64_t origin, uint64_t id,
                    const struct kv_result *res);
size_t dedup_count(const struct dedup *d);

/* Snapshots: the table as malloc'd bytes (NULL if out of memory), and back.
 * dedup_restore() returns -1 on malformed bytes, leaving d unchanged. */
char *dedup_snapshot(const struct dedup *d, size_t *len);
int dedup_restore(struct dedup *d, const void *data, size_t len);

#endif
