/* endpoint.h - whether two member URLs name the same host and port. The
 * scheme may differ: a cluster switched to TLS (http:// to https://) keeps
 * its members, and each node reaches a member with the scheme its own
 * config file gives it. */
#ifndef RAFTD_ENDPOINT_H
#define RAFTD_ENDPOINT_H

#include <stdbool.h>
#include <string.h>

static inline bool endpoint_same(const char *a, const char *b)
{
    const char *pa = strstr(a, "://"), *pb = strstr(b, "://");
    return strcmp(pa ? pa : a, pb ? pb : b) == 0;
}

#endif
