/* test_loopback_check.c - the Debian host-name pitfall (loopback_check.h),
 * decided on injected resolutions: no /etc/hosts or DNS involved. */
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/loopback_check.h"
#include "test.h"

/* A fake /etc/hosts: host -> address; anything else does not resolve. */
struct fake_hosts {
    const char *name[8], *addr[8];
    unsigned n;
    unsigned asked; /* resolutions made */
};

static void fake_resolve(const char *host, struct host_resolution *out,
                         void *arg)
{
    struct fake_hosts *h = arg;
    h->asked++;
    memset(out, 0, sizeof(*out));
    const char *addr = NULL;
    out->literal = strchr(host, ':') || (host[0] >= '0' && host[0] <= '9');
    if (out->literal)
        addr = host;
    for (unsigned i = 0; i < h->n && !addr; i++)
        if (strcmp(h->name[i], host) == 0)
            addr = h->addr[i];
    if (!addr) {
        out->place = HOST_UNRESOLVED;
        return;
    }
    out->place = strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0
                     ? HOST_LOOPBACK : HOST_ELSEWHERE;
    snprintf(out->addr, sizeof(out->addr), "%s", addr);
}

static void add_member(struct raftd_config *c, raft_id id, const char *host,
                       int line)
{
    struct raftd_member *m = &c->members[c->n_members++];
    char url[128];
    snprintf(url, sizeof(url), "http://%s:7001", host);
    m->id = id;
    m->url = strdup(url);
    m->host = strdup(host);
    m->port = 7001;
    m->line = line;
}

/* Members 1..3 named host1..host3 (lines 3..5), this node is 1. */
static void lab(struct raftd_config *c)
{
    config_defaults(c);
    c->path = strdup("/etc/raftd.conf");
    c->src.members = 2;
    add_member(c, 1, "host1", 3);
    add_member(c, 2, "host2", 4);
    add_member(c, 3, "host3", 5);
    c->id = 1;
}

static int check(struct raftd_config *c, struct fake_hosts *h, char *err,
                 size_t len)
{
    err[0] = '\0';
    return loopback_check(c, fake_resolve, h, err, len);
}

TEST(own_name_on_127_0_1_1_with_others_elsewhere_is_refused)
{
    struct raftd_config c;
    lab(&c);
    struct fake_hosts h = {{"host1", "host2", "host3"},
                           {"127.0.1.1", "10.0.0.2", "10.0.0.3"}, 3, 0};
    char err[1024];
    CHECK(check(&c, &h, err, sizeof(err)) < 0);
    CHECK(strncmp(err, "/etc/raftd.conf:3: ", 19) == 0);
    CHECK(strstr(err, "\"host1\"") && strstr(err, "127.0.1.1"));
    CHECK(strstr(err, "member 2 (http://host2:7001) is at 10.0.0.2"));
    CHECK(strstr(err, "/etc/hosts") && strstr(err, "IP address in the URL"));
    config_free(&c);
}

TEST(real_address_in_etc_hosts_is_fine)
{
    struct raftd_config c;
    lab(&c);
    struct fake_hosts h = {{"host1", "host2", "host3"},
                           {"10.0.0.1", "10.0.0.2", "10.0.0.3"}, 3, 0};
    char err[1024];
    CHECK(check(&c, &h, err, sizeof(err)) == 0);
    CHECK(err[0] == '\0');
    config_free(&c);
}

TEST(all_loopback_cluster_is_allowed)
{
    struct raftd_config c;
    lab(&c);
    struct fake_hosts h = {{"host1", "host2", "host3"},
                           {"127.0.0.1", "127.0.0.2", "::1"}, 3, 0};
    char err[1024];
    CHECK(check(&c, &h, err, sizeof(err)) == 0);
    config_free(&c);
}

TEST(ip_literal_is_never_refused)
{
    struct raftd_config c;
    config_defaults(&c);
    add_member(&c, 1, "127.0.0.1", 3);
    add_member(&c, 2, "10.0.0.2", 4);
    c.id = 1;
    struct fake_hosts h = {{0}, {0}, 0, 0};
    char err[1024];
    CHECK(check(&c, &h, err, sizeof(err)) == 0);
    config_free(&c);
}

TEST(other_member_by_literal_address_counts)
{
    struct raftd_config c;
    config_defaults(&c);
    c.path = strdup("/etc/raftd.conf");
    add_member(&c, 1, "localhost", 7);
    add_member(&c, 2, "192.0.2.2", 8);
    c.id = 1;
    struct fake_hosts h = {{"localhost"}, {"127.0.0.1"}, 1, 0};
    char err[1024];
    CHECK(check(&c, &h, err, sizeof(err)) < 0);
    CHECK(strncmp(err, "/etc/raftd.conf:7: ", 19) == 0);
    config_free(&c);
}

TEST(unresolved_others_do_not_count)
{
    struct raftd_config c;
    lab(&c);
    struct fake_hosts h = {{"host1"}, {"127.0.1.1"}, 1, 0};
    char err[1024];
    CHECK(check(&c, &h, err, sizeof(err)) == 0);
    config_free(&c);
}

TEST(explicit_listen_off_loopback_is_reachable)
{
    struct raftd_config c;
    lab(&c);
    struct fake_hosts h = {{"host1", "host2", "host3"},
                           {"127.0.1.1", "10.0.0.2", "10.0.0.3"}, 3, 0};
    char err[1024];
    c.src.listen = 1;
    c.listen_host = strdup("0.0.0.0");
    CHECK(check(&c, &h, err, sizeof(err)) == 0);
    free(c.listen_host);
    c.listen_host = strdup("127.0.1.1"); /* still loopback only */
    CHECK(check(&c, &h, err, sizeof(err)) < 0);
    config_free(&c);
}

TEST(another_node_s_loopback_name_is_not_this_node_s_concern)
{
    struct raftd_config c;
    lab(&c);
    c.id = 2; /* host1's mapping is host1's problem, checked there */
    struct fake_hosts h = {{"host1", "host2", "host3"},
                           {"127.0.1.1", "10.0.0.2", "10.0.0.3"}, 3, 0};
    char err[1024];
    CHECK(check(&c, &h, err, sizeof(err)) == 0);
    config_free(&c);
}

TEST(system_resolver_sees_localhost_as_loopback)
{
    struct host_resolution r;
    host_resolve_system("localhost", &r, NULL);
    CHECK(!r.literal && r.place == HOST_LOOPBACK);
    host_resolve_system("127.0.0.1", &r, NULL);
    CHECK(r.literal && r.place == HOST_LOOPBACK);
    host_resolve_system("192.0.2.7", &r, NULL);
    CHECK(r.literal && r.place == HOST_ELSEWHERE);
    CHECK(strcmp(r.addr, "192.0.2.7") == 0);
    host_resolve_system("::1", &r, NULL);
    CHECK(r.literal && r.place == HOST_LOOPBACK);
}

int main(void)
{
    RUN(own_name_on_127_0_1_1_with_others_elsewhere_is_refused);
    RUN(real_address_in_etc_hosts_is_fine);
    RUN(all_loopback_cluster_is_allowed);
    RUN(ip_literal_is_never_refused);
    RUN(other_member_by_literal_address_counts);
    RUN(unresolved_others_do_not_count);
    RUN(explicit_listen_off_loopback_is_reachable);
    RUN(another_node_s_loopback_name_is_not_this_node_s_concern);
    RUN(system_resolver_sees_localhost_as_loopback);
    return test_summary();
}
