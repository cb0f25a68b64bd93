/* memberfile.h - the members a data directory was bootstrapped with.
 *
 * Raft's safety rests on every two majorities overlapping (paper section
 * 5.2; dissertation chapter 4). The members list in raftd.conf defines the
 * majorities, so a list edited on some machines only gives two sets of
 * majorities that need not overlap: two leaders in one term, both
 * acknowledging writes. raftd cannot change its members at run time yet
 * (dissertation 4.1 describes how, one server at a time through the log),
 * so a data directory keeps the list it was bootstrapped with, and a node
 * refuses to start on any other.
 *
 * The record also holds the cluster's id, derived from the bootstrap list:
 * every peer request carries it, so that two clusters whose configs name
 * each other's machines do not mix (peer_auth.h).
 *
 * The record is the file "members" in the data directory (format:
 * doc/storage.md, "The members record"): a short text that ends in a
 * CRC-32C line, written once, durably (temporary file, fdatasync, rename,
 * directory fsync) when the directory is first used, before any term, vote
 * or entry is. A snapshot carries the same text, so a node that installs
 * one gets the list it was taken under and can check it.
 */
#ifndef RAFTD_MEMBERFILE_H
#define RAFTD_MEMBERFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../raft/raft.h"

#define MEMBERFILE_NAME "members"
/* Longest URL in a record: "https://" + a 253-byte host in brackets + port. */
#define MEMBERFILE_URL_MAX 272

struct member_list {
    uint64_t cluster_id; /* the cluster's identity (peer_auth.h): the first
                            64 bits of SHA-256 of the bootstrap list */
    unsigned n;
    struct member_entry {
        raft_id id;
        char url[MEMBERFILE_URL_MAX + 1];
    } m[RAFT_MAX_MEMBERS]; /* by increasing id */
};

struct raftd_config;

/* The config's members, sorted by id, and the cluster id they give. -1 if
 * a URL is too long to record (longer than MEMBERFILE_URL_MAX: no valid
 * config has one). */
int member_list_from_config(const struct raftd_config *cfg,
                            struct member_list *l);
bool member_list_equal(const struct member_list *a,
                       const struct member_list *b);

/* The record's text (malloc'd, NUL-terminated, *len without the NUL);
 * NULL if out of memory. */
char *memberfile_encode(const struct member_list *l, size_t *len);
/* Parse a record's text, strictly: header, members by increasing id,
 * checksum, nothing after it. what names it in the error ("/var/lib/raftd/
 * members", "the snapshot from node 2"). Returns 0 or -1 with err set. */
int memberfile_decode(const char *text, size_t len, struct member_list *l,
                      const char *what, char *err, size_t errlen);

/* Read dir/members (dir_fd: the directory, or -1 to open dir by path).
 * Returns 1 with *l filled, 0 if there is no record (or no directory), -1
 * if it cannot be read or is damaged (err says which file and what to do). */
int memberfile_read(int dir_fd, const char *dir, struct member_list *l,
                    char *err, size_t errlen);
/* Write the record durably (see above). Returns 0 or -1 with err set. */
int memberfile_write(int dir_fd, const char *dir, const struct member_list *l,
                     char *err, size_t errlen);

/* Describe how the config's list (file) differs from the recorded one, as
 * "node 4 (http://...) was added; node 2's url changed from A to B; ...".
 * Returns the number of differences (0: the same lists). A URL whose
 * scheme only changed (http:// and https://) names the same member: a
 * cluster may switch to TLS, one member at a time, and keep its data. */
unsigned member_list_diff(const struct member_list *recorded,
                          const struct member_list *file, char *buf,
                          size_t len);

/* Compare cfg's members with a record. Returns 0 if they are the same, or
 * -1 with a message in err that names the config file and the line of its
 * members list, says what differs, why the node does not start, and what
 * to do instead. */
int memberfile_compare(const struct raftd_config *cfg,
                       const struct member_list *rec, char *err,
                       size_t errlen);
/* The check of --check-config: compare cfg's members with the record in
 * cfg->data_dir, if there is one. Returns 0 (the same, or no record yet),
 * -1 (they differ, or the record is damaged: err says so), or -2 if this
 * user may not read the data directory (err says so). */
int memberfile_check_config(const struct raftd_config *cfg, char *err,
                            size_t errlen);

/* ---- configurations (membership through the log: raft.h) ---- */

/* The bootstrap list as a configuration: every member a voter, its URL
 * the address. -1 if a URL is longer than RAFT_ADDRESS_MAX. */
int member_list_to_configuration(const struct member_list *l,
                                 struct raft_configuration *c);

/* The configuration part of a snapshot: "RCL1", the cluster id (u64,
 * little-endian), then the configuration as of the snapshot's index
 * (raft_configuration_encode). buf has SNAPCONF_MAX bytes; returns the
 * length (0 for an invalid configuration). */
#define SNAPCONF_MAX (12 + RAFT_CONFIGURATION_MAX_BYTES)
size_t snapconf_encode(uint64_t cluster_id, const struct raft_configuration *c,
                       uint8_t *buf);
/* Decode one, or the members record text that snapshots of the first
 * version carried (its members as voters). -1 with err set (naming what)
 * if it is neither. */
int snapconf_decode(const void *data, size_t len, uint64_t *cluster_id,
                    struct raft_configuration *c, const char *what,
                    char *err, size_t errlen);

#endif
