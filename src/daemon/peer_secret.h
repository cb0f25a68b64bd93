/* peer_secret.h - the cluster's shared secret for peer authentication
 * (peer_auth.h): reading it at start, and making a new one; and reading
 * private files (the secret, the TLS private key: tls.h) the way the
 * systemd unit passes them.
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

#include <stdbool.h>
#include <stddef.h>

struct raftd_config;

/* The unit's credentials for the files of RAFTD_PRIVATE_DIR are named
 * this, then the file's name. */
#define PEER_SECRET_CREDENTIAL_PREFIX "raftd_"

/* How private_file_read() read a file. */
struct private_file {
    char path[512];       /* what was read: the file named, or its credential */
    bool from_credential;
};

/* Read file whole into a new NUL-terminated buffer (*len bytes, at most
 * max): from $CREDENTIALS_DIRECTORY/raftd_<name> if the file is in
 * RAFTD_PRIVATE_DIR and systemd passed credentials, else from the file
 * itself. pf->path names what was (or would have been) read. NULL with
 * errno set on failure: ENOENT (no such file, or no credential for it),
 * EINVAL (not a regular file), EFBIG (larger than max), EPERM (secret, not
 * a credential, and readable by every user of this machine), or open(2)'s
 * error. The caller wipes (if secret) and frees the buffer. */
char *private_file_read(const char *file, size_t max, size_t *len,
                        bool secret, struct private_file *pf);

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
