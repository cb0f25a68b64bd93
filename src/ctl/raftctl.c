/* raftctl.c - raftctl, the operator's command for a raftd cluster
 * (raftctl(1)): the command line and the dispatch to the commands. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#ifndef RAFTD_SYSCONFDIR
#define RAFTD_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG RAFTD_SYSCONFDIR "/raftd.conf"

static void usage(FILE *to)
{
    fprintf(to,
"Usage: raftctl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Commands:\n"
"  status              one row per member: state, term, leader, indexes,\n"
"                      lag, last contact, health\n"
"  leader              the leader's id and URL\n"
"  members             the cluster's members\n"
"  members add URL     add a member (the cluster names its id)\n"
"  members remove ID   remove a member\n"
"  events [-f]         every member's Raft events as one timeline;\n"
"                      -f: follow until Ctrl+C\n"
"  transfer [ID]       the leader hands leadership to member ID (default:\n"
"                      the most up-to-date voter)\n"
"  snapshot [ID]       member ID (default: the leader) takes a snapshot now\n"
"  fault partition ID [--from X] [--one-way out|in]\n"
"                      cut member ID off from X (default: every peer)\n"
"  fault delay ID MS [--to X]\n"
"                      delay ID's messages (to X) by MS milliseconds\n"
"  fault election ID   member ID's election timer fires now\n"
"  fault crash ID      member ID exits at once (status 86)\n"
"  fault heal [ID]     clear ID's faults (default: every member's)\n"
"  fault list          every member's faults\n"
"                      (faults need fault_injection = true; in raftd.conf)\n"
"                      (transfer, snapshot and fault are signed with the\n"
"                      cluster's peer secret: sudo raftctl ...)\n"
"\n"
"Options:\n"
"  -c, --config FILE   read the members from FILE (default %s)\n"
"  -e, --endpoints URL[,URL...]\n"
"                      ask these members instead\n"
"  -j, --json          machine-readable output\n"
"      --cacert FILE   CA for https:// members (default: the config's\n"
"                      tls_ca_file)\n"
"      --secret-file FILE\n"
"                      the peer secret for transfer, snapshot and fault\n"
"                      (default: the config's peer_secret_file)\n"
"      --cert FILE, --key FILE\n"
"                      client certificate and key (client_cert_auth)\n"
"  -t, --timeout MS    per request (default 3000)\n"
"  -h, --help          this help\n"
"\n"
"Exit status: 0 ok; 1 nothing answered or the command failed; 2 usage or\n"
"config error; 3 (status) some member did not answer, or no leader.\n",
            DEFAULT_CONFIG);
}

struct command {
    const char *name;
    int (*run)(struct ctl *c, int argc, char **argv);
};

static const struct command commands[] = {
    {"status", cmd_status},
    {"leader", cmd_leader},
    {"members", cmd_members},
    {"events", cmd_events},
    {"transfer", cmd_transfer},
    {"snapshot", cmd_snapshot},
    {"fault", cmd_fault},
};

int main(int argc, char **argv)
{
    static struct ctl c = {.timeout_ms = 3000};
    const char *config = NULL, *endpoints = NULL;
    enum { OPT_CACERT = 256, OPT_CERT, OPT_KEY, OPT_SECRET };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"endpoints", required_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"secret-file", required_argument, NULL, OPT_SECRET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    /* "+": stop at the command, whose own options (events -f) follow */
    while ((o = getopt_long(argc, argv, "+c:e:jt:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'e': endpoints = optarg; break;
        case 'j': c.json = true; break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 1 || v > 600000) {
                fprintf(stderr, "raftctl: --timeout takes milliseconds, 1 "
                                "to 600000\n");
                return CTL_USAGE;
            }
            c.timeout_ms = v;
            break;
        }
        case OPT_CACERT: c.cacert = optarg; break;
        case OPT_CERT: c.cert = optarg; break;
        case OPT_KEY: c.key = optarg; break;
        case OPT_SECRET: c.secret_file = optarg; break;
        case 'h': usage(stdout); return CTL_OK;
        default: usage(stderr); return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "raftctl: unknown command \"%s\" (raftctl --help "
                        "lists them)\n", argv[optind]);
        return CTL_USAGE;
    }
    char why[1024];
    /* --endpoints names the members; a config (named, or the default one
     * when there is no --endpoints) gives them otherwise, and the CA and
     * the peer secret's file */
    if ((endpoints && endpoints_parse(&c, endpoints, why, sizeof(why)) < 0) ||
        ((config || !endpoints) &&
         endpoints_from_config(&c, config ? config : DEFAULT_CONFIG,
                               !endpoints, why, sizeof(why)) < 0)) {
        fprintf(stderr, "raftctl: %s\n", why);
        if (!endpoints && !config)
            fprintf(stderr, "raftctl: name the members with --endpoints "
                            "http://HOST:PORT,... or a config file with "
                            "--config FILE\n");
        return CTL_USAGE;
    }
    return cmd->run(&c, argc - optind, argv + optind);
}
