/* loopback_check.h - the Debian host-name pitfall (issue 12, item 6).
 *
 * Debian's installer maps a machine's own host name to 127.0.1.1 in
 * /etc/hosts. A member URL naming that host then resolves, on the member's
 * own machine, to a loopback address: raftd would listen there, where the
 * other machines can never reach it, while they resolve the same name to
 * the machine's real address. So a start (and --check-config, and a
 * reload) refuses this node's member URL when its host is a name that
 * resolves here to a loopback address while another member is elsewhere.
 *
 * Allowed: IP literals (written on purpose), an all-loopback cluster (tests,
 * the local quick start), and an explicit listen address that is not on
 * loopback (the node is reachable through it).
 */
#ifndef RAFTD_LOOPBACK_CHECK_H
#define RAFTD_LOOPBACK_CHECK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

enum host_place {
    HOST_UNRESOLVED, /* the name does not resolve here: nothing to say */
    HOST_LOOPBACK,   /* one of its addresses is a loopback address */
    HOST_ELSEWHERE,  /* none is */
};

struct host_resolution {
    bool literal;              /* an IP address, not a name */
    enum host_place place;
    char addr[INET6_ADDRSTRLEN]; /* the (first) loopback address, or the
                                    first address, for messages */
};

/* How a host resolves on this machine; the check's only view of it. */
typedef void (*host_resolver)(const char *host, struct host_resolution *out,
                              void *arg);

/* The system's view: getaddrinfo(), so /etc/hosts counts. */
void host_resolve_system(const char *host, struct host_resolution *out,
                         void *arg);

/* Whether listen_host (as in raftd.conf's "listen") is a loopback address:
 * 127.0.0.0/8, ::1 or a name resolving to one. */
bool host_is_loopback(const char *host, host_resolver resolve, void *arg);

/* Check cfg (resolved: cfg->id is this node) for the pitfall. Returns 0,
 * or -1 with "FILE:LINE: ..." in err saying what to do. */
int loopback_check(const struct raftd_config *cfg, host_resolver resolve,
                   void *arg, char *err, size_t errlen);

#endif
