/* tls.h - this node's TLS files: reading and checking its certificate,
 * its private key and the CA of the members' certificates (GnuTLS).
 *
 * A node whose member URL is https:// serves TLS only, on its one port
 * (peers and clients alike), with tls_cert_file and tls_key_file; it
 * reaches https:// peers with libcurl, checking their certificates against
 * tls_ca_file (or the system's CAs without it) and their host names
 * against the member URLs, and presents its own certificate to them as a
 * client certificate. With peer_client_cert_auth (and client_cert_auth)
 * it asks for client certificates and accepts peer (other) requests only
 * on connections whose certificate tls_ca_file signed (http_server.h,
 * http_request_client_cert). TLS and peer authentication (peer_auth.h)
 * are independent layers: TLS keeps the traffic private and says "a
 * certificate of the cluster's CA", the HMAC says which member.
 *
 * Files: the certificate and the CA are public and read from their paths,
 * again at every reload (SIGHUP); the private key is read like the peer
 * secret (peer_secret.h): from the systemd credential raftd_<name> when it
 * is in /etc/raftd/ (then it changes only with a restart: systemd copies
 * credentials at start), else from its path, and never if every user may
 * read it.
 */
#ifndef RAFTD_TLS_H
#define RAFTD_TLS_H

#include <stddef.h>

#include "config.h"

/* Whether this node uses TLS at all: its own URL or a peer's is https://,
 * or a TLS file is set. */
bool tls_wanted(const struct raftd_config *cfg);

/* Read the files of cfg's tls_* settings into *f and check them: each
 * readable and PEM; the key unencrypted, not readable by every user, and
 * the certificate's; the certificate valid now, for the host of this
 * node's member URL when that is https://, for TLS servers (and clients,
 * with peer_client_cert_auth) by its extended key usage, and signed by
 * tls_ca_file. Returns 0, or -1 with err like "/etc/raftd.conf:12:
 * tls_cert_file /etc/ssl/raftd/node.pem: <what is wrong and what to do>".
 * warn (may be NULL) gets what is not an error (a certificate that
 * expires within 30 days), "" if nothing. Without TLS settings it only
 * empties *f. f is freed with config_tls_files_free(). */
int tls_load(const struct raftd_config *cfg, struct raftd_tls_files *f,
             char *err, size_t errlen, char *warn, size_t warnlen);

/* Notes on the configuration, for --check-config and the start: members
 * with http:// URLs beside https:// ones (traffic with them is not
 * encrypted), TLS files that nothing uses. "" if none. */
void tls_config_notes(const struct raftd_config *cfg, char *buf, size_t len);

#endif
