/* fuzz_config.c - the configuration file (config.c): config_load() of the
 * input as a file, then config_resolve() as main.c calls them, with a
 * data directory that does not exist.
 *
 * Offline and fast: this target is linked with --wrap (Makefile.am) so
 * that config.c's getaddrinfo() resolves numeric hosts only (a name is
 * "not found" at once instead of a DNS query) and getifaddrs() returns a
 * fixed list of this machine's addresses (127.0.0.1, 192.0.2.1, ::1,
 * 2001:db8::1). Inputs with "@include" are skipped: libconfig would read
 * whatever file they name.
 *
 * Properties: a failure says why; a configuration that resolves names a
 * member as this node, a listen address, timeouts in order; its members
 * make a members record that encodes and decodes to the same list.
 */
#include "fuzz.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "config.h"
#include "memberfile.h"

/* ---- link-time stubs (-Wl,--wrap=...) ---- */

int __real_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res);
int __wrap_getifaddrs(struct ifaddrs **ifap);
void __wrap_freeifaddrs(struct ifaddrs *ifa);

int __wrap_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo h;
    memset(&h, 0, sizeof(h));
    if (hints)
        h = *hints;
    h.ai_flags |= AI_NUMERICHOST;
    return __real_getaddrinfo(node, service, &h, res);
}

static struct sockaddr_in v4[2];
static struct sockaddr_in6 v6[2];
static struct ifaddrs ifs[4];

static void make_ifaddrs(void)
{
    static const char *const a4[] = {"127.0.0.1", "192.0.2.1"};
    static const char *const a6[] = {"::1", "2001:db8::1"};
    for (int i = 0; i < 2; i++) {
        v4[i].sin_family = AF_INET;
        inet_pton(AF_INET, a4[i], &v4[i].sin_addr);
        v6[i].sin6_family = AF_INET6;
        inet_pton(AF_INET6, a6[i], &v6[i].sin6_addr);
    }
    for (int i = 0; i < 4; i++) {
        ifs[i].ifa_name = (char *)(i % 2 ? "eth0" : "lo");
        ifs[i].ifa_flags = IFF_UP;
        ifs[i].ifa_addr = i < 2 ? (struct sockaddr *)&v4[i]
                                : (struct sockaddr *)&v6[i - 2];
        ifs[i].ifa_next = i < 3 ? &ifs[i + 1] : NULL;
    }
}

int __wrap_getifaddrs(struct ifaddrs **ifap)
{
    *ifap = &ifs[0];
    return 0;
}

void __wrap_freeifaddrs(struct ifaddrs *ifa)
{
    (void)ifa; /* static */
}

/* ---- the target ---- */

static char dir[256], path[300];

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    make_ifaddrs();
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/raftd-fuzz-config.%ld", base,
             (long)getpid());
    snprintf(path, sizeof(path), "%s/raftd.conf", dir);
    if (mkdir(dir, 0700) < 0)
        abort();
    atexit(remove_dir);
    return 0;
}

static bool same_list(const struct member_list *a, const struct member_list *b)
{
    if (a->n != b->n || a->cluster_id != b->cluster_id)
        return false;
    for (unsigned i = 0; i < a->n; i++)
        if (a->m[i].id != b->m[i].id || strcmp(a->m[i].url, b->m[i].url))
            return false;
    return true;
}

static void check_resolved(const struct raftd_config *cfg)
{
    FUZZ_CHECK(cfg->id != RAFT_NONE && config_member(cfg, cfg->id));
    FUZZ_CHECK(cfg->n_members >= 1 && cfg->n_members <= RAFT_MAX_MEMBERS);
    FUZZ_CHECK(cfg->listen_host != NULL);
    FUZZ_CHECK(cfg->heartbeat_ms < cfg->election_timeout_min_ms);
    FUZZ_CHECK(cfg->election_timeout_min_ms < cfg->election_timeout_max_ms);
    FUZZ_CHECK(cfg->rpc_timeout_ms >= 1 &&
               cfg->rpc_timeout_ms <= cfg->election_timeout_min_ms);
    for (unsigned i = 0; i < cfg->n_members; i++) {
        const struct raftd_member *m = &cfg->members[i];
        FUZZ_CHECK(m->url && m->host && m->port && m->id);
        FUZZ_CHECK(strncmp(m->url, "http://", 7) == 0 ||
                   strncmp(m->url, "https://", 8) == 0);
        FUZZ_CHECK(m->https == (m->url[4] == 's'));
    }
    struct member_list l, again;
    if (member_list_from_config(cfg, &l) < 0)
        return; /* a URL too long to record: the node refuses to start */
    size_t n;
    char *text = memberfile_encode(&l, &n);
    char err[700];
    FUZZ_CHECK(text != NULL);
    FUZZ_CHECK(memberfile_decode(text, n, &again, "members", err,
                                 sizeof(err)) == 0);
    FUZZ_CHECK(same_list(&l, &again));
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memmem(data, size, "@include", 8))
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
        abort();
    close(fd);
    struct raftd_config cfg;
    char err[2048] = "";
    config_defaults(&cfg);
    if (config_load(&cfg, path, err, sizeof(err)) < 0) {
        FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)));
    } else if (config_set_data_dir(&cfg, "/nonexistent/raftd-fuzz") == 0 &&
               config_resolve(&cfg, err, sizeof(err)) < 0) {
        FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)));
    } else {
        check_resolved(&cfg);
    }
    config_free(&cfg);
    return 0;
}
