/* test_config.c - unit tests of src/daemon/config.c (and the stderr mode of
 * src/daemon/logging.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/logging.h"
#include "test.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

static char tmpl_dir[256];
static int file_no;

/* Write text to a fresh file; returns its path (static buffer per call). */
static const char *write_conf(const char *text)
{
    static char paths[8][320];
    char *p = paths[file_no % 8];
    snprintf(p, sizeof paths[0], "%s/test%d.conf", tmpl_dir, file_no++);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
    return p;
}

/* Load text; returns config_load's result, leaves the message in err. */
static int load(struct raftd_config *cfg, const char *text, char *err,
                size_t errlen)
{
    config_defaults(cfg);
    return config_load(cfg, write_conf(text), err, errlen);
}

/* Load and resolve; returns -1 if either fails. */
static int load_resolve(struct raftd_config *cfg, const char *text, char *err,
                        size_t errlen)
{
    if (load(cfg, text, err, errlen) < 0)
        return -1;
    return config_resolve(cfg, err, errlen);
}

/* Expect text to fail (at load or resolve) with a message that starts with
 * "<file>:<line>: " and contains want.  line 0: no line expected. */
static void expect_error(const char *text, int line, const char *want)
{
    struct raftd_config cfg;
    char err[2048] = "";
    int rc = load_resolve(&cfg, text, err, sizeof err);
    const char *path = cfg.path ? cfg.path : "";
    char prefix[400];
    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", path);
    bool ok = rc == -1 && strncmp(err, prefix, strlen(prefix)) == 0 &&
              strstr(err, want) != NULL;
    if (!ok)
        fprintf(stderr, "  expected error at \"%s\" containing \"%s\"\n"
                "  got rc %d: %s\n", prefix, want, rc, err);
    CHECK(ok);
    config_free(&cfg);
}

#define MEMBERS3                                                          \
    "members = (\n"                                                       \
    "  { id = 1; url = \"http://192.0.2.1:7001\"; },\n"                   \
    "  { id = 2; url = \"http://192.0.2.2:7001\"; },\n"                   \
    "  { id = 3; url = \"http://192.0.2.3:7001\"; }\n"                    \
    ");\n"

/* ---- good files and defaults -------------------------------------------- */

TEST(defaults)
{
    struct raftd_config cfg;
    config_defaults(&cfg);
    CHECK_EQ_U(cfg.id, 0);
    CHECK(cfg.path == NULL);
    CHECK(cfg.listen_host == NULL);
    CHECK_EQ_U(cfg.listen_port, 0);
    CHECK(cfg.data_dir && strcmp(cfg.data_dir, "/var/lib/raftd") == 0);
    CHECK_EQ_U(cfg.n_members, 0);
    CHECK_EQ_U(cfg.heartbeat_ms, 100);
    CHECK_EQ_U(cfg.election_timeout_min_ms, 1000);
    CHECK_EQ_U(cfg.election_timeout_max_ms, 2000);
    CHECK_EQ_U(cfg.rpc_timeout_ms, 500);
    CHECK(cfg.prevote);
    CHECK(cfg.check_quorum);
    CHECK(!cfg.fault_injection); /* teaching labs only: off by default */
    CHECK_EQ_U(cfg.log_level, LOG_INFO);
    CHECK_EQ_U(cfg.max_request_bytes, 8 * 1024 * 1024);
    CHECK_EQ_U(cfg.max_connections, 1024);
    config_free(&cfg);
}

TEST(minimal_file_gets_defaults)
{
    struct raftd_config cfg;
    char err[1024] = "";
    int rc = load_resolve(&cfg, "id = 2;\n" MEMBERS3, err, sizeof err);
    if (rc)
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ_U(rc, 0);
    CHECK_EQ_U(cfg.id, 2);
    CHECK_EQ_U(cfg.n_members, 3);
    /* listen comes from the own URL */
    CHECK(cfg.listen_host && strcmp(cfg.listen_host, "192.0.2.2") == 0);
    CHECK_EQ_U(cfg.listen_port, 7001);
    CHECK(strcmp(cfg.data_dir, "/var/lib/raftd") == 0);
    CHECK_EQ_U(cfg.heartbeat_ms, 100);
    CHECK_EQ_U(cfg.election_timeout_min_ms, 1000);
    CHECK_EQ_U(cfg.election_timeout_max_ms, 2000);
    CHECK_EQ_U(cfg.rpc_timeout_ms, 500);
    CHECK(cfg.prevote);
    CHECK(cfg.check_quorum);
    CHECK_EQ_U(cfg.log_level, LOG_INFO);
    CHECK_EQ_U(cfg.max_request_bytes, 8 * 1024 * 1024);
    config_free(&cfg);
}

TEST(good_file)
{
    struct raftd_config cfg;
    char err[1024] = "";
    int rc = load_resolve(&cfg,
        "# a comment\n"
        "id = 3;\n"
        "listen = \"0.0.0.0:7101\";\n"
        "data_dir = \"/srv/raftd\";\n"
        "members = (\n"
        "  { id = 1; url = \"http://lab1.example:7101/\"; },\n"
        "  { id = 2; url = \"http://[2001:db8::2]:7101\"; },\n"
        "  { url = \"http://192.0.2.3:7101\"; id = 3; }\n"
        ");\n"
        "heartbeat_ms = 50;\n"
        "election_timeout_min_ms = 300;\n"
        "election_timeout_max_ms = 600;\n"
        "rpc_timeout_ms = 200;\n"
        "prevote = false;\n"
        "check_quorum = false;\n"
        "fault_injection = true;\n"
        "log_level = \"debug\";\n"
        "max_request_bytes = 1048576;\n"
        "max_connections = 64;\n", err, sizeof err);
    if (rc)
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ_U(rc, 0);
    CHECK_EQ_U(cfg.id, 3);
    CHECK(strcmp(cfg.listen_host, "0.0.0.0") == 0);
    CHECK_EQ_U(cfg.listen_port, 7101);
    CHECK(strcmp(cfg.data_dir, "/srv/raftd") == 0);
    CHECK_EQ_U(cfg.n_members, 3);
    CHECK_EQ_U(cfg.members[0].id, 1);
    CHECK(strcmp(cfg.members[0].url, "http://lab1.example:7101") == 0);
    CHECK(strcmp(cfg.members[0].host, "lab1.example") == 0);
    CHECK_EQ_U(cfg.members[0].port, 7101);
    CHECK_EQ_U(cfg.members[0].line, 6);
    CHECK(strcmp(cfg.members[1].url, "http://[2001:db8::2]:7101") == 0);
    CHECK(strcmp(cfg.members[1].host, "2001:db8::2") == 0);
    CHECK_EQ_U(cfg.members[2].id, 3);
    CHECK(strcmp(cfg.members[2].host, "192.0.2.3") == 0);
    CHECK(config_member(&cfg, 2) == &cfg.members[1]);
    CHECK(config_member(&cfg, 4) == NULL);
    CHECK_EQ_U(cfg.heartbeat_ms, 50);
    CHECK_EQ_U(cfg.election_timeout_min_ms, 300);
    CHECK_EQ_U(cfg.election_timeout_max_ms, 600);
    CHECK_EQ_U(cfg.rpc_timeout_ms, 200);
    CHECK(!cfg.prevote);
    CHECK(!cfg.check_quorum);
    CHECK(cfg.fault_injection);
    CHECK_EQ_U(cfg.log_level, LOG_DEBUG);
    CHECK_EQ_U(cfg.max_request_bytes, 1048576);
    CHECK_EQ_U(cfg.max_connections, 64);
    config_free(&cfg);
}

TEST(rpc_timeout_follows_election_timeout)
{
    struct raftd_config cfg;
    char err[1024] = "";
    CHECK_EQ_U(load_resolve(&cfg, "id = 1;\n" MEMBERS3
                            "heartbeat_ms = 20;\n"
                            "election_timeout_min_ms = 200;\n"
                            "election_timeout_max_ms = 400;\n",
                            err, sizeof err), 0);
    CHECK_EQ_U(cfg.rpc_timeout_ms, 100);
    config_free(&cfg);
}

TEST(log_levels)
{
    static const struct { const char *name; int level; } t[] = {
        {"error", LOG_ERR}, {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
        {"info", LOG_INFO}, {"debug", LOG_DEBUG}, {"DEBUG", LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char text[512];
        struct raftd_config cfg;
        char err[1024] = "";
        snprintf(text, sizeof text, "id = 1;\n" MEMBERS3
                 "log_level = \"%s\";\n", t[i].name);
        CHECK_EQ_U(load_resolve(&cfg, text, err, sizeof err), 0);
        CHECK_EQ_U(cfg.log_level, t[i].level);
        config_free(&cfg);
    }
    CHECK(strcmp(config_log_level_name(LOG_WARNING), "warning") == 0);
    CHECK_EQ_U(config_parse_log_level("verbose"), (uint64_t)-1);
}

TEST(cli_overrides)
{
    struct raftd_config cfg;
    char err[1024] = "";
    CHECK_EQ_U(load(&cfg, MEMBERS3, err, sizeof err), 0);
    cfg.id = 1; /* --id 1 */
    CHECK_EQ_U(config_set_data_dir(&cfg, "/tmp/x"), 0);
    CHECK_EQ_U(config_resolve(&cfg, err, sizeof err), 0);
    CHECK(strcmp(cfg.data_dir, "/tmp/x") == 0);
    CHECK(strcmp(cfg.listen_host, "192.0.2.1") == 0);
    config_free(&cfg);
}

TEST(shipped_example_parses)
{
    struct raftd_config cfg;
    char err[1024] = "";
    config_defaults(&cfg);
    int rc = config_load(&cfg, TOP_SRCDIR "/etc/raftd.conf", err, sizeof err);
    if (rc)
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ_U(rc, 0);
    CHECK(cfg.n_members >= 3);
    /* the example leaves id to self-identification; this machine is none of
     * the documentation addresses, so pick one as --id would */
    cfg.id = cfg.members[0].id;
    rc = config_resolve(&cfg, err, sizeof err);
    if (rc)
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ_U(rc, 0);
    CHECK_EQ_U(cfg.heartbeat_ms, 100);
    CHECK_EQ_U(cfg.election_timeout_min_ms, 1000);
    CHECK_EQ_U(cfg.election_timeout_max_ms, 2000);
    CHECK(strcmp(cfg.data_dir, "/var/lib/raftd") == 0);
    config_free(&cfg);
}

/* ---- file and syntax errors --------------------------------------------- */

TEST(missing_file)
{
    struct raftd_config cfg;
    char err[1024] = "";
    config_defaults(&cfg);
    CHECK_EQ_U(config_load(&cfg, "/nonexistent/raftd.conf", err, sizeof err),
               (uint64_t)-1);
    CHECK(strncmp(err, "/nonexistent/raftd.conf: ", 25) == 0);
    CHECK(strstr(err, "No such file") != NULL);
    config_free(&cfg);
}

TEST(syntax_error_has_line)
{
    expect_error("id = 1;\nlisten = ;\ndata_dir = \"/x\";\n", 2,
                 "syntax error");
    expect_error("id = 1;\nlisten = \"127.0.0.1:7001\";\ndata_dir = = \"/x\";\n",
                 3, "syntax error");
    expect_error("id = 1;\n\n\nmembers = ( { id = 1; url = http://x:1; } );\n",
                 4, "syntax error");
}

TEST(duplicate_setting)
{
    expect_error("id = 1;\nid = 2;\n" MEMBERS3, 2, "duplicate");
}

TEST(unknown_setting)
{
    expect_error("id = 1;\n" MEMBERS3 "heartbeat = 100;\n", 7,
                 "unknown setting 'heartbeat'; did you mean heartbeat_ms?");
    expect_error("peers = ();\n", 1, "did you mean members?");
    expect_error("id = 1;\nfrobnicate = 1;\n", 2,
                 "unknown setting 'frobnicate'");
    expect_error("members = ( { id = 1; url = \"http://a:1\"; port = 3; } );\n",
                 1, "unknown setting 'port' in member 1");
}

/* ---- wrong types --------------------------------------------------------- */

TEST(wrong_types)
{
    expect_error("id = \"1\";\n", 1, "'id' must be an integer");
    expect_error("heartbeat_ms = 1.5;\n", 1,
                 "'heartbeat_ms' must be an integer (milliseconds)");
    expect_error("\nelection_timeout_min_ms = \"1s\";\n", 2,
                 "'election_timeout_min_ms' must be an integer");
    expect_error("listen = 7001;\n", 1, "'listen' must be a string");
    expect_error("data_dir = true;\n", 1, "'data_dir' must be a string");
    expect_error("prevote = \"yes\";\n", 1, "'prevote' must be true or false");
    expect_error("check_quorum = 1;\n", 1,
                 "'check_quorum' must be true or false");
    expect_error("\nfault_injection = \"yes\";\n", 2,
                 "'fault_injection' must be true or false");
    expect_error("log_level = 7;\n", 1, "'log_level' must be a string");
    expect_error("members = { id = 1; url = \"http://a:1\"; };\n", 1,
                 "'members' must be a list of groups");
    expect_error("members = ( 1, 2 );\n", 1, "member 1 must be a group");
    expect_error("members = ( { id = \"one\"; url = \"http://a:1\"; } );\n", 1,
                 "'id' must be an integer");
    expect_error("members = (\n { id = 1; url = 5; } );\n", 2,
                 "'url' must be a string");
    expect_error("max_request_bytes = \"8M\";\n", 1,
                 "'max_request_bytes' must be an integer (bytes)");
}

/* ---- bad values ----------------------------------------------------------- */

TEST(bad_values)
{
    expect_error("id = 0;\n", 1, "id must be between 1 and 2147483647, not 0");
    expect_error("id = -3;\n", 1, "not -3");
    expect_error("heartbeat_ms = 0;\n", 1,
                 "heartbeat_ms must be between 1 and 60000 milliseconds, "
                 "not 0");
    expect_error("max_request_bytes = 10;\n", 1,
                 "max_request_bytes must be between 1024 and 1073741824 "
                 "bytes, not 10");
    expect_error("log_level = \"loud\";\n", 1, "unknown log_level \"loud\"");
    expect_error("data_dir = \"\";\n", 1, "'data_dir' is empty");
    expect_error("data_dir = \"var/lib\";\n", 1, "absolute path");
    expect_error("listen = \"7001\";\n", 1, "the port is missing");
    expect_error("listen = \"host:99999\";\n", 1, "from 1 to 65535");
    expect_error("listen = \"::1:7001\";\n", 1, "in brackets");
    expect_error("listen = \":7001\";\n", 1, "the host is missing");
}

TEST(bad_urls)
{
    expect_error("members = ( { id = 1; url = \"192.0.2.1:7001\"; } );\n", 1,
                 "must start with http:// or https://");
    expect_error("members = ( { id = 1; url = \"ftp://a:7001\"; } );\n", 1,
                 "must start with http:// or https://");
    expect_error("members = ( { id = 1; url = \"https://a:7001/x\"; } );\n", 1,
                 "without a path");
    expect_error("members = ( { id = 1; url = \"http://a\"; } );\n", 1,
                 "the port is missing");
    expect_error("members = ( { id = 1; url = \"http://a:0\"; } );\n", 1,
                 "from 1 to 65535");
    expect_error("members = ( { id = 1; url = \"http://a:1/raft\"; } );\n", 1,
                 "without a path");
    expect_error("members = ( { id = 1; url = \"http://a b:1\"; } );\n", 1,
                 "invalid characters");
    expect_error("members = ( { id = 1; url = \"http://[::1:7001\"; } );\n", 1,
                 "no closing ']'");
}

#define TLS3                                                              \
    "members = (\n"                                                       \
    "  { id = 1; url = \"https://192.0.2.1:7001\"; },\n"                  \
    "  { id = 2; url = \"HTTPS://192.0.2.2:7001/\"; },\n"                 \
    "  { id = 3; url = \"http://192.0.2.3:7001\"; }\n"                    \
    ");\n"
#define TLS_FILES                                                         \
    "tls_cert_file = \"/etc/ssl/raftd/node.pem\";\n"                      \
    "tls_key_file = \"/etc/raftd/tls-key.pem\";\n"                        \
    "tls_ca_file = \"/etc/ssl/raftd/ca.pem\";\n"

TEST(tls_settings)
{
    struct raftd_config cfg;
    char err[2048] = "";
    int rc = load_resolve(&cfg, "id = 2;\n" TLS3 TLS_FILES
                          "peer_client_cert_auth = true;\n"
                          "client_cert_auth = true;\n", err, sizeof err);
    if (rc)
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ_U(rc, 0);
    CHECK(cfg.members[0].https && cfg.members[1].https);
    CHECK(!cfg.members[2].https);
    /* the scheme is kept, in lower case, without the trailing slash */
    CHECK(strcmp(cfg.members[0].url, "https://192.0.2.1:7001") == 0);
    CHECK(strcmp(cfg.members[1].url, "https://192.0.2.2:7001") == 0);
    CHECK(strcmp(cfg.members[2].url, "http://192.0.2.3:7001") == 0);
    CHECK(strcmp(cfg.members[1].host, "192.0.2.2") == 0);
    CHECK(strcmp(cfg.tls_cert_file, "/etc/ssl/raftd/node.pem") == 0);
    CHECK(strcmp(cfg.tls_key_file, "/etc/raftd/tls-key.pem") == 0);
    CHECK(strcmp(cfg.tls_ca_file, "/etc/ssl/raftd/ca.pem") == 0);
    CHECK(cfg.peer_client_cert_auth && cfg.client_cert_auth);
    config_free(&cfg);

    /* off by default; an http:// node may name https:// peers (and reach
     * them with the system's CAs) */
    rc = load_resolve(&cfg, "id = 3;\n" TLS3, err, sizeof err);
    CHECK_EQ_U(rc, 0);
    CHECK(!cfg.tls_cert_file && !cfg.tls_ca_file);
    CHECK(!cfg.peer_client_cert_auth && !cfg.client_cert_auth);
    config_free(&cfg);
}

TEST(tls_combinations)
{
    /* an https:// node needs its certificate and key */
    expect_error("id = 1;\n" TLS3, 3, "this node's member URL "
                 "https://192.0.2.1:7001 is https://, so it serves HTTPS only: "
                 "set tls_cert_file and tls_key_file");
    expect_error("id = 1;\n" TLS3 "tls_cert_file = \"/c.pem\";\n", 7,
                 "tls_cert_file is set but tls_key_file is not: set both");
    expect_error("id = 3;\n" TLS3 "tls_key_file = \"/k.pem\";\n", 7,
                 "tls_key_file is set but tls_cert_file is not");
    expect_error("id = 1;\ntls_cert_file = \"c.pem\";\n" TLS3, 2,
                 "'tls_cert_file' must be an absolute path");
    expect_error("tls_ca_file = 3;\n", 1, "'tls_ca_file' must be a string");
    /* client certificates need TLS and a CA */
    expect_error("id = 3;\n" TLS3 TLS_FILES "peer_client_cert_auth = true;\n",
                 10, "peer_client_cert_auth = true needs TLS, but this node's "
                 "member URL http://192.0.2.3:7001 is http://");
    expect_error("id = 1;\n" TLS3 "tls_cert_file = \"/c.pem\";\n"
                 "tls_key_file = \"/k.pem\";\nclient_cert_auth = true;\n",
                 9, "client_cert_auth = true needs tls_ca_file: the CA whose "
                 "certificates are accepted from clients");
    expect_error("peer_client_cert_auth = \"yes\";\n", 1,
                 "'peer_client_cert_auth' must be true or false");
    expect_error("cert_file = \"/c.pem\";\n", 1, "did you mean tls_cert_file?");
    expect_error("peer_trusted_ca_file = \"/c.pem\";\n", 1,
                 "did you mean tls_ca_file?");
}

TEST(bad_members)
{
    /* a missing setting is reported at the end of the file */
    expect_error("id = 1;\n\n# no members\n", 3, "no members are configured");
    expect_error("id = 1;\nmembers = ();\n", 2, "no members are configured");
    expect_error("members = (\n { url = \"http://a:1\"; } );\n", 2,
                 "member 1 has no 'id'");
    expect_error("members = (\n { id = 1; } );\n", 2, "member 1 has no 'url'");
    expect_error("id = 1;\nmembers = (\n"
                 "  { id = 1; url = \"http://192.0.2.1:7001\"; },\n"
                 "  { id = 1; url = \"http://192.0.2.2:7001\"; } );\n",
                 4, "member id 1 is used twice (also on line 3)");
    expect_error("id = 1;\nmembers = (\n"
                 "  { id = 1; url = \"http://192.0.2.1:7001\"; },\n"
                 "  { id = 2; url = \"http://192.0.2.1:7001/\"; } );\n",
                 4, "members 1 and 2 have the same address");
    expect_error("id = 4;\n" MEMBERS3, 1,
                 "id 4 is not among the members (ids 1, 2, 3)");

    char text[4096] = "members = (\n";
    for (int i = 1; i <= RAFT_MAX_MEMBERS + 1; i++) {
        char m[128];
        snprintf(m, sizeof m, "{ id = %d; url = \"http://192.0.2.%d:7001\"; }%s\n",
                 i, i, i <= RAFT_MAX_MEMBERS ? "," : "");
        strcat(text, m);
    }
    strcat(text, ");\n");
    expect_error(text, 1, "at most 16 are supported");
}

TEST(timing_rules)
{
    expect_error("id = 1;\n" MEMBERS3 "heartbeat_ms = 1000;\n", 7,
                 "heartbeat_ms (1000) must be less than "
                 "election_timeout_min_ms (1000)");
    expect_error("id = 1;\n" MEMBERS3 "election_timeout_min_ms = 500;\n"
                 "election_timeout_max_ms = 500;\n", 8,
                 "election_timeout_max_ms (500) must be greater than "
                 "election_timeout_min_ms (500)");
    expect_error("id = 1;\n" MEMBERS3 "election_timeout_min_ms = 3000;\n", 7,
                 "must be greater than");
    expect_error("id = 1;\n" MEMBERS3 "rpc_timeout_ms = 1500;\n", 7,
                 "rpc_timeout_ms (1500) must not exceed");
}

/* Every integer setting: its range, checked on the number as written. */
static const struct int_setting {
    const char *name;
    int64_t min, max;
} int_settings[] = {
    {"id", 1, 2147483647},
    {"heartbeat_ms", 1, 60000},
    {"election_timeout_min_ms", 1, 600000},
    {"election_timeout_max_ms", 1, 600000},
    {"rpc_timeout_ms", 1, 600000},
    {"request_timeout_ms", 1, 3600000},
    {"max_request_bytes", 1024, INT64_C(1) << 30},
    {"snapshot_entries", 0, 100000000},
    {"snapshot_keep_entries", 0, 100000000},
    {"max_snapshot_bytes", 4096, INT64_C(1) << 40},
    {"wal_segment_bytes", 65536, INT64_C(1) << 30},
    {"max_connections", 1, 1000000},
};

/* "name = value;" on line 2 of a file: accepted or refused with
 * "file:2: name must be between MIN and MAX ..., not <value>". */
static void check_int_value(const struct int_setting *t, const char *value,
                            bool inside)
{
    char text[256], want[256];
    snprintf(text, sizeof text, "# line 1\n%s = %s;\n", t->name, value);
    if (!inside) {
        snprintf(want, sizeof want, "%s must be between %" PRId64 " and %"
                 PRId64, t->name, t->min, t->max);
        expect_error(text, 2, want);
        snprintf(want, sizeof want, ", not %s", value);
        expect_error(text, 2, want);
        return;
    }
    struct raftd_config cfg;
    char err[1024] = "";
    int rc = load(&cfg, text, err, sizeof err);
    if (rc)
        fprintf(stderr, "  %s = %s: %s\n", t->name, value, err);
    CHECK_EQ_U(rc, 0);
    config_free(&cfg);
}

TEST(integer_ranges)
{
    /* values libconfig 1.5 wraps to a small number (id 1, 1024), or reads
     * as negative, and values beyond 64 bits */
    static const char *const huge[] = {
        "4294967297", "4294968320", "3000000000", "2147483648",
        "-2147483649", "-1", "0x100000001", "99999999999999999999",
        "99999999999999999999L", "9223372036854775808L",
    };
    for (size_t i = 0; i < sizeof int_settings / sizeof int_settings[0];
         i++) {
        const struct int_setting *t = &int_settings[i];
        char v[32];
        snprintf(v, sizeof v, "%" PRId64, t->min);
        check_int_value(t, v, true);
        snprintf(v, sizeof v, "%" PRId64, t->max);
        check_int_value(t, v, true);
        snprintf(v, sizeof v, "%" PRId64, t->min - 1);
        check_int_value(t, v, false);
        snprintf(v, sizeof v, "%" PRId64, t->max + 1);
        check_int_value(t, v, false);
        snprintf(v, sizeof v, "%" PRId64 "L", t->max + 1);
        check_int_value(t, v, false);
        for (size_t j = 0; j < sizeof huge / sizeof huge[0]; j++) {
            errno = 0;
            long long h = strtoll(huge[j], NULL, 0);
            check_int_value(t, huge[j], !errno && h >= t->min && h <= t->max);
        }
    }
}

TEST(integer_values_as_written)
{
    struct raftd_config cfg;
    char err[1024] = "";
    /* the value as written wins over what libconfig made of it */
    CHECK_EQ_U(load(&cfg, "max_request_bytes = 4294968320;\n", err,
                    sizeof err), (uint64_t)-1);
    CHECK(strstr(err, "not 4294968320") != NULL);
    config_free(&cfg);
    CHECK_EQ_U(load(&cfg, "max_snapshot_bytes = 4294967296L;\n"
                    "wal_segment_bytes = 0x100000;  # 1 MiB\n", err,
                    sizeof err), 0);
    CHECK_EQ_U(cfg.max_snapshot_bytes, UINT64_C(4294967296));
    CHECK_EQ_U(cfg.wal_segment_bytes, 1048576);
    config_free(&cfg);
    /* 2^32 + 4096: libconfig alone would read 4096 */
    CHECK_EQ_U(load(&cfg, "max_snapshot_bytes = 4294971392;\n", err,
                    sizeof err), 0);
    CHECK_EQ_U(cfg.max_snapshot_bytes, UINT64_C(4294971392));
    config_free(&cfg);
    /* member ids, also several on one line, and settings after a string
     * or a comment naming the same setting */
    expect_error("members = (\n"
                 "  { id = 4294967297; url = \"http://192.0.2.1:7001\"; }"
                 ");\n", 2, "id must be between 1 and 2147483647, not "
                 "4294967297");
    expect_error("members = ( { id = 1; url = \"http://192.0.2.1:7001\"; },"
                 " { id = 4294967297; url = \"http://192.0.2.2:7001\"; } );\n",
                 1, "not 4294967297");
    expect_error("members = ( { url = \"http://x/id = 5\"; id = 3000000000; }"
                 " );\n", 1, "not 3000000000");
    expect_error("/* id = 1; */ id = 3000000000; # id = 2\n", 1,
                 "id must be between 1 and 2147483647, not 3000000000");
    expect_error("id = -4294967295;\n", 1, "not -4294967295");
    /* ports are checked where they are written, in strings */
    expect_error("listen = \"h:0\";\n", 1, "from 1 to 65535");
    expect_error("listen = \"h:65536\";\n", 1, "from 1 to 65535");
    expect_error("listen = \"h:4294967297\";\n", 1, "\"h:4294967297\"");
    expect_error("members = ( { id = 1; url = \"http://a:70000\"; } );\n", 1,
                 "from 1 to 65535");
    CHECK_EQ_U(load(&cfg, "listen = \"h:65535\";\n", err, sizeof err), 0);
    CHECK_EQ_U(cfg.listen_port, 65535);
    config_free(&cfg);
    CHECK_EQ_U(load(&cfg, "listen = \"h:1\";\n", err, sizeof err), 0);
    config_free(&cfg);
}

/* ---- self identification -------------------------------------------------- */

#define LOCAL3                                                            \
    "members = (\n"                                                       \
    "  { id = 1; url = \"http://127.0.0.1:7401\"; },\n"                   \
    "  { id = 2; url = \"http://127.0.0.1:7402\"; },\n"                   \
    "  { id = 3; url = \"http://127.0.0.1:7403\"; }\n"                    \
    ");\n"

TEST(self_by_listen_port)
{
    struct raftd_config cfg;
    char err[2048] = "";
    int rc = load_resolve(&cfg, "listen = \"127.0.0.1:7402\";\n" LOCAL3, err,
                          sizeof err);
    if (rc)
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ_U(rc, 0);
    CHECK_EQ_U(cfg.id, 2);
    CHECK(strcmp(cfg.listen_host, "127.0.0.1") == 0);
    CHECK_EQ_U(cfg.listen_port, 7402);
    config_free(&cfg);
}

/* TEST-NET-3 addresses, which real machines do not have; returns false
 * (and the tests that need it pass vacuously) if this one does. */
static bool far_addresses_are_remote(void)
{
    struct ifaddrs *ifa;
    bool remote = true;
    if (getifaddrs(&ifa) < 0)
        return true;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET) {
            uint32_t a = ntohl(
                ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
            if ((a >> 8) == ((203u << 16) | (0u << 8) | 113u))
                remote = false;
        }
    freeifaddrs(ifa);
    if (!remote)
        printf("skipped: this machine has a 203.0.113.x address\n");
    return remote;
}

#define FAR3                                                              \
    "members = (\n"                                                       \
    "  { id = 1; url = \"http://203.0.113.1:7001\"; },\n"                 \
    "  { id = 2; url = \"http://203.0.113.2:7001\"; },\n"                 \
    "  { id = 3; url = \"http://203.0.113.3:7001\"; }\n"                  \
    ");\n"

TEST(self_by_address)
{
    struct raftd_config cfg;
    char err[2048] = "";
    if (!far_addresses_are_remote())
        return;
    /* only member 2 is on this machine (loopback); the others are in the
     * TEST-NET-3 documentation range */
    int rc = load_resolve(&cfg,
        "members = (\n"
        "  { id = 1; url = \"http://203.0.113.1:7001\"; },\n"
        "  { id = 2; url = \"http://127.0.0.1:7001\"; },\n"
        "  { id = 3; url = \"http://203.0.113.3:7001\"; }\n"
        ");\n", err, sizeof err);
    if (rc)
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ_U(rc, 0);
    CHECK_EQ_U(cfg.id, 2);
    CHECK(strcmp(cfg.listen_host, "127.0.0.1") == 0);
    CHECK_EQ_U(cfg.listen_port, 7001);
    config_free(&cfg);
}

TEST(self_ambiguous)
{
    expect_error(LOCAL3, 1,
                 "cannot tell which member this machine is: members 1, 2, 3");
    expect_error(LOCAL3, 1, "set id = N in the file or pass --id N");
}

TEST(self_not_found)
{
    if (far_addresses_are_remote()) {
        expect_error(FAR3, 1, "no member URL names an address of this machine");
        expect_error(FAR3, 1, "set id = N in the file or pass --id N");
    }
    /* the listen port matches nobody */
    expect_error("listen = \"127.0.0.1:9999\";\n" LOCAL3, 2,
                 "and the listen address");
    /* a specific listen host picks the member with that address, even
     * when all share the port */
    struct raftd_config cfg;
    char err[2048] = "";
    int rc = load_resolve(&cfg,
        "listen = \"127.0.0.12:7001\";\n"
        "members = (\n"
        "  { id = 1; url = \"http://127.0.0.11:7001\"; },\n"
        "  { id = 2; url = \"http://127.0.0.12:7001\"; },\n"
        "  { id = 3; url = \"http://127.0.0.13:7001\"; }\n"
        ");\n", err, sizeof err);
    if (rc)
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ_U(rc, 0);
    CHECK_EQ_U(cfg.id, 2);
    config_free(&cfg);
    /* a wildcard listen address matches by port only */
    expect_error("listen = \"0.0.0.0:7001\";\n"
                 "members = (\n"
                 "  { id = 1; url = \"http://127.0.0.11:7001\"; },\n"
                 "  { id = 2; url = \"http://127.0.0.12:7001\"; }\n"
                 ");\n", 2, "members 1, 2 each have");
}

TEST(explicit_id_skips_search)
{
    struct raftd_config cfg;
    char err[1024] = "";
    CHECK_EQ_U(load_resolve(&cfg, "id = 3;\n" LOCAL3, err, sizeof err), 0);
    CHECK_EQ_U(cfg.id, 3);
    CHECK_EQ_U(cfg.listen_port, 7403);
    config_free(&cfg);
}

/* ---- logging (stderr mode) ----------------------------------------------- */

static char *capture_stderr(void (*fn)(void))
{
    char path[320];
    snprintf(path, sizeof path, "%s/stderr.txt", tmpl_dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *f = fopen(path, "w+");
    if (!f || saved < 0)
        return NULL;
    dup2(fileno(f), STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    static char buf[8192];
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    return buf;
}

static void log_some(void)
{
    unsetenv("JOURNAL_STREAM");
    log_init(2, LOG_INFO);
    struct log_raft f = {.event = "became_leader", .term = 3,
                         .state = "Leader", .leader = 2};
    log_raft(LOG_NOTICE, &f, "won election with %d of %d votes", 2, 3);
    struct log_raft f0 = {.event = "election_timeout", .term = 0,
                          .state = "Follower"};
    log_raft(LOG_INFO, &f0, "no leader heard from in time");
    log_msg(LOG_DEBUG, "this is dropped at level info");
    log_msg(LOG_WARNING, "peer %d timed out", 3);
    log_set_node(0);
    log_msg(LOG_INFO, "no id yet\n");
}

TEST(logging_stderr_lines)
{
    char *out = capture_stderr(log_some);
    CHECK(out != NULL);
    if (!out)
        return;
    CHECK(!log_to_journal());
    CHECK(strstr(out, " node 2 [Leader term 3] became_leader: won election "
                      "with 2 of 3 votes\n") != NULL);
    CHECK(strstr(out, " node 2 [Follower term 0] election_timeout: no leader "
                      "heard from in time\n") != NULL); /* term 0 is a term */
    CHECK(strstr(out, " node 2 warning: peer 3 timed out\n") != NULL);
    CHECK(strstr(out, " raftd no id yet\n") != NULL);
    CHECK(strstr(out, "dropped") == NULL);
    /* "HH:MM:SS.mmm " at the start of each line */
    CHECK(strlen(out) > 13 && out[2] == ':' && out[5] == ':' && out[8] == '.'
          && out[12] == ' ');
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    CHECK_EQ_U(lines, 4);
    CHECK(log_enabled(LOG_INFO));
    CHECK(!log_enabled(LOG_DEBUG));
}

static void log_journal_mismatch(void)
{
    /* a JOURNAL_STREAM that is not our stderr must not select the journal */
    setenv("JOURNAL_STREAM", "1:1", 1);
    log_init(1, LOG_DEBUG);
    log_msg(LOG_DEBUG, "still on stderr");
    unsetenv("JOURNAL_STREAM");
}

TEST(logging_journal_detection)
{
    char *out = capture_stderr(log_journal_mismatch);
    CHECK(out && strstr(out, " node 1 debug: still on stderr\n") != NULL);
    CHECK(!log_to_journal());
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpl_dir, sizeof tmpl_dir, "%s/test_config.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpl_dir)) {
        perror("mkdtemp");
        return 2;
    }

    RUN(defaults);
    RUN(minimal_file_gets_defaults);
    RUN(good_file);
    RUN(rpc_timeout_follows_election_timeout);
    RUN(log_levels);
    RUN(cli_overrides);
    RUN(shipped_example_parses);
    RUN(missing_file);
    RUN(syntax_error_has_line);
    RUN(duplicate_setting);
    RUN(unknown_setting);
    RUN(wrong_types);
    RUN(bad_values);
    RUN(bad_urls);
    RUN(tls_settings);
    RUN(tls_combinations);
    RUN(bad_members);
    RUN(timing_rules);
    RUN(integer_ranges);
    RUN(integer_values_as_written);
    RUN(self_by_listen_port);
    RUN(self_by_address);
    RUN(self_ambiguous);
    RUN(self_not_found);
    RUN(explicit_id_skips_search);
    RUN(logging_stderr_lines);
    RUN(logging_journal_detection);

    for (int i = 0; i < file_no; i++) {
        char p[320];
        snprintf(p, sizeof p, "%s/test%d.conf", tmpl_dir, i);
        unlink(p);
    }
    rmdir(tmpl_dir);
    return test_summary();
}
