/* main.c - raftd: command line, configuration, signals, the event loop. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "logging.h"
#include "loopback_check.h"
#include "memberfile.h"
#include "members_check.h"
#include "peer_secret.h"
#include "node.h"
#include "reload.h"
#include "tls.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: raftd [OPTION]...\n"
            "Run one node of a Raft cluster, configured by a file.\n"
            "\n"
            "  -c, --config FILE    configuration file (default %s)\n"
            "  -i, --id N           this node's member id (overrides the file)\n"
            "  -d, --data-dir DIR   data directory (overrides the file)\n"
            "  -t, --check-config   check the configuration and exit:\n"
            "                       0 if valid, 78 (EX_CONFIG) if not\n"
            "      --new-secret FILE  write a new random peer secret to FILE\n"
            "                       (mode 600; never overwrites) and exit\n"
            "  -V, --version        print the version and exit\n"
            "  -h, --help           print this help and exit\n"
            "\n"
            "See raftd(8) and raftd.conf(5).\n",
            RAFTD_DEFAULT_CONFIG);
}

struct options {
    const char *config;
    const char *new_secret;
    const char *data_dir;
    unsigned long long id;
    bool check;
};

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"id", required_argument, NULL, 'i'},
        {"data-dir", required_argument, NULL, 'd'},
        {"check-config", no_argument, NULL, 't'},
        {"new-secret", required_argument, NULL, 'S'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "c:i:d:tVh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'i':
            o->id = strtoull(optarg, &end, 10);
            if (*end || o->id == 0 || optarg[0] == '-') {
                fprintf(stderr, "raftd: --id needs a member id (an integer >= 1), not '%s'\n",
                        optarg);
                return EX_USAGE;
            }
            break;
        case 'd':
            if (optarg[0] != '/') {
                fprintf(stderr, "raftd: --data-dir needs an absolute path, not '%s'\n",
                        optarg);
                return EX_USAGE;
            }
            o->data_dir = optarg;
            break;
        case 't':
            o->check = true;
            break;
        case 'S':
            o->new_secret = optarg;
            break;
        case 'V':
            printf("raftd %s\n", PACKAGE_VERSION);
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "raftd: unexpected argument '%s' (settings go in the config file)\n",
                argv[optind]);
        return EX_USAGE;
    }
    return 0;
}

/* Say what is worth knowing but not an error (--check-config prints it,
 * a start logs it). */
static void note(const struct options *o, const char *text)
{
    if (!text[0])
        return;
    if (o->check)
        printf("warning: %s\n", text);
    else
        log_msg(LOG_WARNING, "%s", text);
}

static int load_config(const struct options *o, struct raftd_config *cfg)
{
    char err[3072], warn[1024];
    config_defaults(cfg);
    if (config_load(cfg, o->config, err, sizeof(err)) < 0)
        goto bad;
    if (o->id)
        cfg->id = o->id;
    if (o->data_dir && config_set_data_dir(cfg, o->data_dir) < 0) {
        snprintf(err, sizeof(err), "out of memory");
        goto bad;
    }
    if (config_resolve(cfg, err, sizeof(err)) < 0 ||
        loopback_check(cfg, host_resolve_system, NULL, err, sizeof(err)) < 0 ||
        peer_secret_load(cfg, err, sizeof(err)) < 0 ||
        tls_load(cfg, &cfg->tls, err, sizeof(err), warn, sizeof(warn)) < 0)
        goto bad;
    note(o, warn);
    tls_config_notes(cfg, warn, sizeof(warn));
    note(o, warn);
    /* a damaged members record does not mend itself either */
    struct member_list rec;
    if (memberfile_read(-1, cfg->data_dir, &rec, err, sizeof(err)) < 0 &&
        !(o->check && errno == EACCES))
        goto bad;
    return 0;
bad:
    if (!o->check && log_to_journal())
        log_msg(LOG_ERR, "%s", err); /* stderr is the journal too */
    else
        fprintf(stderr, "%s\n", err);
    if (!o->check) /* "systemctl status" shows it */
        sd_notifyf(0, "STATUS=bad configuration: %s", err);
    return EX_CONFIG;
}

/* Who must present client certificates, for --check-config. */
static const char *cert_auth_text(const struct raftd_config *cfg)
{
    if (cfg->peer_client_cert_auth && cfg->client_cert_auth)
        return "; peers and clients must present certificates of "
               "tls_ca_file";
    if (cfg->peer_client_cert_auth)
        return "; peers must present certificates of tls_ca_file";
    if (cfg->client_cert_auth)
        return "; clients must present certificates of tls_ca_file";
    return "";
}

static int new_secret(const char *path)
{
    char err[600];
    if (peer_secret_create(path, err, sizeof(err)) < 0) {
        fprintf(stderr, "raftd: %s\n", err);
        return EX_CANTCREAT;
    }
    printf("wrote a new 256-bit peer secret to %s (mode 600). Copy it to the "
           "same path on every member of the cluster (e.g. scp -p), then "
           "restart them; see raftd.conf(5), peer_secret_file.\n", path);
    return 0;
}

struct running {
    const struct options *o;
    struct raftd_config *cfg; /* the settings in use, the node's too */
    struct node *node;
};

/* The file read again and checked as at start (but for the members list
 * without this node: it leaves the cluster, nothing to resolve for it).
 * Returns 0, or -1 with "FILE:LINE: ..." in err. */
static int read_again(const struct running *run, struct raftd_config *fresh,
                      bool *leaving, char *err, size_t errlen)
{
    raft_id id = run->cfg->id;
    config_defaults(fresh);
    *leaving = false;
    if (config_load(fresh, run->o->config, err, errlen) < 0)
        return -1;
    if (!fresh->id)
        fresh->id = id; /* found by address at start */
    if (run->o->id)
        fresh->id = run->o->id;
    if (run->o->data_dir && config_set_data_dir(fresh, run->o->data_dir) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (fresh->id == id && !config_member(fresh, id)) {
        *leaving = true;
        return 0;
    }
    if (config_resolve(fresh, err, errlen) < 0 ||
        loopback_check(fresh, host_resolve_system, NULL, err, errlen) < 0)
        return -1;
    return 0;
}

/* Apply the settings a reload may change (reload.h) and say, in one line,
 * what changed; settings that need a restart are named with file:line. */
static void reload_settings(struct running *run,
                            const struct raftd_config *fresh)
{
    struct reload_changes ch;
    reload_compare(run->cfg, fresh, &ch);
    if (ch.restart[0])
        log_msg(LOG_WARNING, "reload: %s: restart raftd to apply %s",
                ch.restart, strchr(ch.restart, ',') ? "them" : "it");
    /* The other settings first; the core's timeouts go into the running
     * configuration (what /status "settings" reports) only once the core
     * took them. config_resolve() checked the timing more strictly than
     * the core does (heartbeat_ms < election_timeout_min_ms <
     * election_timeout_max_ms), so a refusal would be a bug. */
    reload_apply(run->cfg, fresh, false);
    if (ch.timing && node_apply_timing(run->node, fresh) < 0) {
        assert(!"the core refused timeouts that config_resolve() accepted");
        log_msg(LOG_ERR, "reload: the Raft core refused the new timeouts "
                "and keeps its old ones; restart raftd to apply them");
    } else {
        reload_apply(run->cfg, fresh, true);
    }
    log_set_level(run->cfg->log_level);
    log_raft(LOG_NOTICE, &(struct log_raft){.event = "reloaded",
                                            .term = node_term(run->node)},
             "reload: %s%s", ch.applied[0] ? ch.applied : "no setting changed",
             ch.applied[0] ? " (in effect now)" : "");
}

/* SIGHUP: the file is read again and checked whole; if it is invalid,
 * nothing changes (the error names file:line). Otherwise the log level
 * and the timeouts apply at once, the TLS files of the running
 * configuration are read again, and the file's members list is the desired
 * state (issue 11). Other settings need a restart: a change is said. */
static void reload(struct running *run)
{
    struct raftd_config fresh;
    char err[3072];
    bool leaving;
    const struct raftd_config *cur = run->cfg;
    if (read_again(run, &fresh, &leaving, err, sizeof(err)) < 0) {
        log_raft(LOG_ERR, &(struct log_raft){.event = "reload_failed",
                                             .term = node_term(run->node)},
                 "reload: %s; nothing changed: the settings, members and "
                 "certificates in use stay", err);
        config_free(&fresh);
        return;
    }
    if (fresh.id != cur->id) {
        log_msg(LOG_WARNING, "reload: this node is now node %llu in the "
                "file, it runs as node %llu: an id changes only with a "
                "new data directory", (unsigned long long)fresh.id,
                (unsigned long long)cur->id);
    } else if (leaving) {
        log_msg(LOG_NOTICE, "reload: this node is not in the members list "
                "of %s: only the members change", cur->path);
        node_reload_members(run->node, &fresh);
    } else {
        reload_settings(run, &fresh);
        node_reload(run->node);
        node_reload_members(run->node, &fresh);
    }
    config_free(&fresh);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si,
                     void *arg)
{
    (void)s;
    struct running *run = arg;
    struct node *n = run->node;
    if (si->ssi_signo == SIGHUP) {
        /* (systemctl reload: shown as "reloading" until READY=1;
         * systemd 253's Type=notify-reload wants MONOTONIC_USEC, 252
         * accepts it) */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   (unsigned long long)ts.tv_sec * 1000000ull +
                       (unsigned long long)ts.tv_nsec / 1000u);
        reload(run);
        char status[128];
        node_status_line(n, status, sizeof(status));
        sd_notifyf(0, "READY=1\nSTATUS=%s", status);
        return 0;
    }
    log_msg(LOG_NOTICE, "received %s, stopping", strsignal((int)si->ssi_signo));
    sd_notify(0, "STOPPING=1");
    node_shutdown(n);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {.config = RAFTD_DEFAULT_CONFIG};
    int rv = parse_args(argc, argv, &o);
    if (rv)
        return rv;
    if (o.new_secret)
        return new_secret(o.new_secret);
    log_init(0, LOG_INFO);

    struct raftd_config cfg;
    rv = load_config(&o, &cfg);
    if (rv) {
        config_free(&cfg);
        return rv;
    }
    if (o.check) {
        const struct raftd_member *self = config_member(&cfg, cfg.id);
        printf("%s: ok (node %llu of %u members, listening on %s:%u; %s%s; "
               "%s%s%s)\n",
               cfg.path, (unsigned long long)cfg.id, cfg.n_members,
               cfg.listen_host, cfg.listen_port,
               cfg.peer_auth ? "peers sign their requests with the secret in "
                             : "peer_auth = \"none\": peers are not "
                               "authenticated",
               cfg.peer_auth ? cfg.peer_secret_source : "",
               self->https ? "serves HTTPS with the certificate "
                           : "serves plain HTTP",
               self->https ? cfg.tls.about : "",
               cert_auth_text(&cfg));
        members_check_print(&cfg);
        config_free(&cfg);
        return 0;
    }
    log_init(cfg.id, cfg.log_level);
    signal(SIGPIPE, SIG_IGN);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    sd_event *ev = NULL;
    if (sd_event_default(&ev) < 0) {
        fprintf(stderr, "raftd: cannot create the event loop\n");
        config_free(&cfg);
        return EX_OSERR;
    }
    /* WATCHDOG=1 from the loop itself, every WATCHDOG_USEC/2 (the unit's
     * WatchdogSec=): a loop stuck in a handler stops sending it and
     * systemd restarts raftd. systemd arms the watchdog at READY=1, so the
     * recovery in node_new() below falls under TimeoutStartSec= instead. */
    if (sd_event_set_watchdog(ev, true) < 0)
        log_msg(LOG_WARNING, "cannot set up the systemd watchdog: WatchdogSec= "
                "in the unit has no effect");
    char err[1024];
    struct node *n = node_new(ev, &cfg, err, sizeof(err));
    if (!n) {
        log_msg(LOG_ERR, "cannot start: %s", err);
        sd_notifyf(0, "STATUS=cannot start: %s", err);
        sd_event_unref(ev);
        config_free(&cfg);
        return EX_UNAVAILABLE;
    }
    struct running run = {.o = &o, .cfg = &cfg, .node = n};
    sd_event_add_signal(ev, NULL, SIGTERM, on_signal, &run);
    sd_event_add_signal(ev, NULL, SIGINT, on_signal, &run);
    sd_event_add_signal(ev, NULL, SIGHUP, on_signal, &run);

    log_msg(LOG_NOTICE, "node %llu listening on %s:%u with %u members",
            (unsigned long long)cfg.id, cfg.listen_host, cfg.listen_port,
            cfg.n_members);
    char status[128];
    node_status_line(n, status, sizeof(status));
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);

    rv = sd_event_loop(ev);
    log_msg(LOG_NOTICE, "stopped");
    node_free(n);
    sd_event_unref(ev);
    config_free(&cfg);
    return rv < 0 ? EX_SOFTWARE : rv;
}
