/* peer_secret.h - the cluster's shared secret for peer authentication
 * (peer_auth.h): reading it at start, and making a new one.
 *
 * The secret is a file of hex digits (64 of them: 256 bits, from
 * getrandom()), the same file on every member, readable by root only.
 * Under systemd the unit passes every file of RAFTD_PRIVATE_DIR (/etc/raftd)
 * to the service as a credential (LoadCredential=raftd:/etc/raftd/): for a
 * peer_secret_file there, raftd reads $CREDENTIALS_DIRECTORY/raftd_<name>,
 * which only the service's dynamic user can read.
 */
#ifndef RAFTD_PEER_SECRET_H
#define RAFTD_PEER_SECRET_H

#include <stddef.h>

struct raftd_config;

/* The unit's credentials for the files of RAFTD_PRIVATE_DIR are named
 * this, then the file's name. */
#define PEER_SECRET_CREDENTIAL_PREFIX "raftd_"

/* With peer_auth = "hmac": read the secret into cfg->peer_secret (from the
 * credential if systemd passed one, else from cfg->peer_secret_file).
 * Refuses a missing, unreadable, short, malformed or world-readable file
 * with a message that says what to do. Returns 0 or -1 (err set). With
 * peer_auth = "none" it does nothing. */
int peer_secret_load(struct raftd_config *cfg, char *err, size_t errlen);

/* raftd --new-secret FILE: 32 random bytes as hex, in a new file of mode
 * 0600 (an existing file is never overwritten). Returns 0 or -1. */
int peer_secret_create(const char *path, char *err, size_t errlen);

#endif
