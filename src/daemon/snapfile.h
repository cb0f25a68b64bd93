/* snapfile.h - the snapshot file of a data directory (format: doc/storage.md,
 * "Snapshot file"): a 48-byte header (magic, version, last included index
 * and term, payload length, CRC-32C of the payload, CRC-32C of the header)
 * and the payload, the state machine as bytes (kv_snapshot + dedup_snapshot)
 * and the members record it was taken under.
 *
 * A file is only ever replaced whole: written to <name>.tmp.PID, fdatasync'ed,
 * renamed over <name>, and the directory fsync'ed, so the previous snapshot
 * stays until the new one is durable. The same image (header + payload) is
 * what InstallSnapshot carries over the network.
 */
#ifndef RAFTD_SNAPFILE_H
#define RAFTD_SNAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../raft/raft.h"

#define SNAPFILE_NAME "snapshot"
#define SNAPFILE_HEADER 48

struct snapfile_meta {
    raft_index index; /* last entry the snapshot includes */
    raft_term term;   /* its term */
    uint64_t length;  /* payload bytes */
};

/* The file image of a snapshot: header + payload (malloc'd). NULL if out
 * of memory. */
uint8_t *snapfile_image(const struct snapfile_meta *m, const void *payload,
                        size_t *image_len);

/* Check the header of an image (at least SNAPFILE_HEADER bytes). what names
 * the image in the error ("/var/lib/raftd/snapshot", "the snapshot from
 * node 2"). Returns 0 or -1 with err set. */
int snapfile_check_header(const uint8_t *hdr, size_t len,
                          struct snapfile_meta *m, const char *what,
                          char *err, size_t errlen);
/* Check a whole image: header, length, payload checksum. */
int snapfile_check(const uint8_t *img, size_t len, struct snapfile_meta *m,
                   const char *what, char *err, size_t errlen);

/* Write image to dir/name durably (via name.tmp.PID and rename; see above;
 * storage_open removes leftover temporary files). */
int snapfile_write(int dir_fd, const char *dir, const char *name,
                   const uint8_t *img, size_t len, char *err, size_t errlen);

/* Read and check dir/name. Returns 1 with *img (malloc'd) and *m, 0 if the
 * file does not exist, -1 (err says which file and what to do) if it cannot
 * be read or is damaged. header_only: read and check just the header
 * (*img is then NULL). */
int snapfile_read(int dir_fd, const char *dir, const char *name,
                  bool header_only, uint8_t **img, size_t *len,
                  struct snapfile_meta *m, char *err, size_t errlen);
/* The same checks, on a read-only mapping of the file instead of a copy
 * (*img; give it back with snapfile_unmap): what a node loads at start,
 * where the copy and the faults on its fresh pages were a tenth of the
 * time. Safe because a snapshot file is never changed in place, only
 * replaced by rename (the mapping keeps the old one). */
int snapfile_map(int dir_fd, const char *dir, const char *name,
                 const uint8_t **img, size_t *len, struct snapfile_meta *m,
                 char *err, size_t errlen);
void snapfile_unmap(const uint8_t *img, size_t len);

/* The payload: the store, the exactly-once table and the members record
 * (memberfile.h), each length-prefixed. Snapshots of raftd before the
 * members record have only the first two parts (members NULL, length 0).
 * snapfile_build() returns the whole image of a snapshot at (index, term)
 * with that payload (malloc'd; NULL if out of memory); snapfile_split()
 * returns -1 if a payload is not two or three such parts. */
struct snapfile_parts {
    const void *kv;
    size_t kv_len;
    const void *dedup;
    size_t dedup_len;
    const void *members;
    size_t members_len;
};
uint8_t *snapfile_build(raft_index index, raft_term term,
                        const struct snapfile_parts *parts, size_t *image_len);
int snapfile_split(const uint8_t *payload, size_t len,
                   struct snapfile_parts *parts);

#endif
