/* test_reload.c - what a reload applies and what needs a restart
 * (src/daemon/reload.c), on configurations loaded from files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/reload.h"
#include "test.h"

static char dir[] = "/tmp/test_reload.XXXXXX";

static void load(struct raftd_config *c, const char *text)
{
    char path[64];
    snprintf(path, sizeof(path), "%s/raftd.conf", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        exit(2);
    fputs(text, f);
    fclose(f);
    char err[1024];
    config_defaults(c);
    if (config_load(c, path, err, sizeof(err)) < 0 ||
        config_resolve(c, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}

#define MEMBERS "members = ( { id = 1; url = \"http://127.0.0.1:7001\"; } );\n" \
                "id = 1;\n"

TEST(same_file_changes_nothing)
{
    struct raftd_config a, b;
    load(&a, MEMBERS);
    load(&b, MEMBERS);
    struct reload_changes ch;
    reload_compare(&a, &b, &ch);
    CHECK(ch.applied[0] == '\0' && ch.restart[0] == '\0' && !ch.timing);
    config_free(&a);
    config_free(&b);
}

TEST(log_level_and_timeouts_apply)
{
    struct raftd_config a, b;
    load(&a, MEMBERS);
    load(&b, MEMBERS "log_level = \"debug\";\n"
                     "election_timeout_min_ms = 300;\n"
                     "election_timeout_max_ms = 600;\n"
                     "request_timeout_ms = 2000;\n");
    struct reload_changes ch;
    reload_compare(&a, &b, &ch);
    CHECK(strstr(ch.applied, "log_level info -> debug"));
    CHECK(strstr(ch.applied, "election_timeout_min_ms 1000 -> 300"));
    CHECK(strstr(ch.applied, "election_timeout_max_ms 2000 -> 600"));
    /* rpc_timeout_ms follows the election timeout unless set */
    CHECK(strstr(ch.applied, "rpc_timeout_ms 500 -> 150"));
    CHECK(strstr(ch.applied, "request_timeout_ms 5000 -> 2000"));
    CHECK(!strstr(ch.applied, "heartbeat_ms"));
    CHECK(ch.timing);
    CHECK(ch.restart[0] == '\0');
    /* before the core took the new timing: everything but it */
    unsigned src_min = a.src.election_timeout_min_ms;
    reload_apply(&a, &b, false);
    CHECK_EQ_U(a.log_level, LOG_DEBUG);
    CHECK_EQ_U(a.election_timeout_min_ms, 1000);
    CHECK_EQ_U(a.election_timeout_max_ms, 2000);
    CHECK_EQ_U(a.src.election_timeout_min_ms, src_min);
    CHECK_EQ_U(a.rpc_timeout_ms, 150);
    CHECK_EQ_U(a.request_timeout_ms, 2000);
    reload_compare(&a, &b, &ch);
    CHECK(ch.timing);
    CHECK(strstr(ch.applied, "election_timeout_min_ms 1000 -> 300"));
    CHECK(!strstr(ch.applied, "rpc_timeout_ms"));
    /* once it did */
    reload_apply(&a, &b, true);
    CHECK_EQ_U(a.log_level, LOG_DEBUG);
    CHECK_EQ_U(a.election_timeout_min_ms, 300);
    CHECK_EQ_U(a.election_timeout_max_ms, 600);
    CHECK_EQ_U(a.rpc_timeout_ms, 150);
    CHECK_EQ_U(a.request_timeout_ms, 2000);
    reload_compare(&a, &b, &ch);
    CHECK(ch.applied[0] == '\0' && !ch.timing);
    config_free(&a);
    config_free(&b);
}

TEST(restart_only_settings_are_named_with_their_line)
{
    struct raftd_config a, b;
    load(&a, MEMBERS);
    load(&b, MEMBERS "listen = \"127.0.0.1:7001\";\n"
                     "data_dir = \"/var/lib/other\";\n"
                     "max_connections = 10;\n"
                     "heartbeat_ms = 50;\n"
                     "fault_injection = true;\n");
    struct reload_changes ch;
    reload_compare(&a, &b, &ch);
    char want[256];
    snprintf(want, sizeof(want), "fault_injection changed in %s/raftd.conf:7",
             dir);
    CHECK(strstr(ch.restart, want));
    /* the same listen address, written out: no change */
    CHECK(!strstr(ch.restart, "listen"));
    snprintf(want, sizeof(want), "data_dir changed in %s/raftd.conf:4", dir);
    CHECK(strstr(ch.restart, want));
    snprintf(want, sizeof(want), "max_connections changed in %s/raftd.conf:5",
             dir);
    CHECK(strstr(ch.restart, want));
    CHECK(strstr(ch.applied, "heartbeat_ms 100 -> 50"));
    CHECK(!strstr(ch.applied, "data_dir"));
    reload_apply(&a, &b, true);
    CHECK(strcmp(a.data_dir, "/var/lib/raftd") == 0); /* not applied */
    CHECK_EQ_U(a.max_connections, 1024);
    CHECK(!a.fault_injection); /* a lab turns it on with a restart */
    config_free(&a);
    config_free(&b);
}

TEST(a_setting_removed_from_the_file_names_the_file)
{
    struct raftd_config a, b;
    load(&a, MEMBERS "prevote = false;\n");
    load(&b, MEMBERS);
    struct reload_changes ch;
    reload_compare(&a, &b, &ch);
    char want[256];
    snprintf(want, sizeof(want), "prevote (no longer set in %s/raftd.conf)",
             dir);
    CHECK(strstr(ch.restart, want));
    config_free(&a);
    config_free(&b);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    RUN(same_file_changes_nothing);
    RUN(log_level_and_timeouts_apply);
    RUN(restart_only_settings_are_named_with_their_line);
    RUN(a_setting_removed_from_the_file_names_the_file);
    char path[64];
    snprintf(path, sizeof(path), "%s/raftd.conf", dir);
    unlink(path);
    rmdir(dir);
    return test_summary();
}
