/* loopback_check.c - refuse a member host name that means loopback here
 * but not on the other machines (loopback_check.h). */
#include "loopback_check.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static bool sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >>
                24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(a))
            return a->s6_addr[12] == 127;
    }
    return false;
}

static void sockaddr_text(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *a = sa->sa_family == AF_INET
        ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
        : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, a, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

static bool is_ip_literal(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    return inet_pton(AF_INET, host, &a4) == 1 ||
           inet_pton(AF_INET6, host, &a6) == 1;
}

void host_resolve_system(const char *host, struct host_resolution *out,
                         void *arg)
{
    (void)arg;
    memset(out, 0, sizeof(*out));
    out->literal = is_ip_literal(host);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
        out->place = HOST_UNRESOLVED;
        return;
    }
    out->place = HOST_ELSEWHERE;
    sockaddr_text(res->ai_addr, out->addr, sizeof(out->addr));
    for (const struct addrinfo *r = res; r; r = r->ai_next) {
        if (sockaddr_is_loopback(r->ai_addr)) {
            out->place = HOST_LOOPBACK;
            sockaddr_text(r->ai_addr, out->addr, sizeof(out->addr));
            break;
        }
    }
    freeaddrinfo(res);
}

bool host_is_loopback(const char *host, host_resolver resolve, void *arg)
{
    struct host_resolution h;
    if (!host || !*host)
        return false;
    resolve(host, &h, arg);
    return h.place == HOST_LOOPBACK;
}

/* The first other member not on loopback here, or NULL. */
static const struct raftd_member *
member_elsewhere(const struct raftd_config *cfg,
                 const struct raftd_member *self, host_resolver resolve,
                 void *arg, struct host_resolution *where)
{
    for (unsigned i = 0; i < cfg->n_members; i++) {
        const struct raftd_member *m = &cfg->members[i];
        if (m == self)
            continue;
        resolve(m->host, where, arg);
        if (where->place == HOST_ELSEWHERE)
            return m;
    }
    return NULL;
}

int loopback_check(const struct raftd_config *cfg, host_resolver resolve,
                   void *arg, char *err, size_t errlen)
{
    const struct raftd_member *self = config_member(cfg, cfg->id);
    if (!self || !self->host)
        return 0;
    struct host_resolution mine, other;
    resolve(self->host, &mine, arg);
    if (mine.literal || mine.place != HOST_LOOPBACK)
        return 0;
    /* listen = "0.0.0.0:7001" (or a real address): reachable anyway */
    if (cfg->src.listen && !host_is_loopback(cfg->listen_host, resolve, arg))
        return 0;
    const struct raftd_member *m = member_elsewhere(cfg, self, resolve, arg,
                                                    &other);
    if (!m)
        return 0; /* an all-loopback cluster, on one machine */
    const char *file = cfg->path ? cfg->path : "(config)";
    int line = self->line > 0 ? self->line
               : cfg->src.members > 0 ? cfg->src.members : cfg->src.last_line;
    snprintf(err, errlen,
             "%s:%d: this node's member URL %s names the host \"%s\", which "
             "resolves on this machine to the loopback address %s, while "
             "member %" PRIu64 " (%s) is at %s: raftd would listen on %s, "
             "where the other machines cannot reach it (Debian's installer "
             "maps a machine's own name to 127.0.1.1 in /etc/hosts). Put "
             "this machine's real address in /etc/hosts (e.g. \"192.0.2.1 "
             "%s\" instead of \"127.0.1.1 %s\"), or write the IP address "
             "in the URL",
             file, line, self->url, self->host, mine.addr, m->id, m->url,
             other.addr, mine.addr, self->host, self->host);
    return -1;
}
