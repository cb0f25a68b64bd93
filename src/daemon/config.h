/* config.h - raftd's configuration file (/etc/raftd.conf, libconfig syntax).
 *
 * Usage (main.c):
 *
 *     struct raftd_config cfg;
 *     char err[512];
 *     config_defaults(&cfg);
 *     if (config_load(&cfg, path, err, sizeof err) < 0)   -> print err, exit 78
 *     apply --id / --data-dir (config_set_data_dir)
 *     if (config_resolve(&cfg, err, sizeof err) < 0)      -> print err, exit 78
 *     ...
 *     config_free(&cfg);
 *
 * Every string in struct raftd_config is malloc'd and owned by it, so never
 * assign a borrowed pointer (such as optarg) to one of them: use
 * config_set_data_dir() or free + strdup.  config_free() frees them all.
 *
 * The settings and their defaults are documented in raftd.conf(5) and in
 * etc/raftd.conf.
 */
#ifndef RAFTD_CONFIG_H
#define RAFTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../raft/raft.h"

#define RAFTD_DEFAULT_CONFIG "/etc/raftd.conf"
#define RAFTD_DEFAULT_DATA_DIR "/var/lib/raftd"
/* Files that only root may read live here (make install creates it, mode
 * 0700); the systemd unit passes each of them to the service as a
 * credential (peer_secret.h). */
#ifndef RAFTD_SYSCONFDIR
#define RAFTD_SYSCONFDIR "/etc"
#endif
#define RAFTD_PRIVATE_DIR RAFTD_SYSCONFDIR "/raftd"
#define RAFTD_DEFAULT_PEER_SECRET RAFTD_PRIVATE_DIR "/peer-secret"
#define RAFTD_PEER_SECRET_MAX 64

struct raftd_member {
    raft_id id;
    char *url;     /* "http://host:port" or "https://host:port", normalised:
                      scheme in lower case, no trailing slash, so peers are
                      reached at url + "/raft/request_vote" */
    bool https;    /* the member serves TLS (tls.h) */
    char *host;    /* host part of url, without [] for IPv6 literals */
    uint16_t port;
    int line;      /* line of this member in the file (0 if unknown) */
};

struct raftd_config {
    char *path;                 /* file loaded, NULL if none */
    raft_id id;                 /* 0 until set by the file, --id or
                                   config_resolve() */
    char *listen_host;          /* from listen = "host:port"; if absent, */
    uint16_t listen_port;       /*   the own member URL's host and port */
    char *data_dir;             /* default "/var/lib/raftd" */
    struct raftd_member members[RAFT_MAX_MEMBERS];
    unsigned n_members;
    unsigned heartbeat_ms;            /* default 100 */
    unsigned election_timeout_min_ms; /* default 1000 */
    unsigned election_timeout_max_ms; /* default 2000 */
    unsigned rpc_timeout_ms;          /* default election_timeout_min_ms / 2
                                         (500 with the defaults) */
    unsigned request_timeout_ms;      /* default 5000: a client write not
                                         committed by then is answered
                                         "outcome unknown" */
    bool prevote;                     /* default true */
    bool check_quorum;                /* default true */
    bool fault_injection;             /* POST /admin/fault (fault_api.h);
                                         default false */
    int log_level;                    /* LOG_ERR..LOG_DEBUG, default LOG_INFO */
    size_t max_request_bytes;         /* default 8 MiB */
    unsigned max_connections;         /* client connections (default 1024);
                                         peers have a reserve beyond it */
    /* snapshots (log compaction) */
    unsigned snapshot_entries;        /* snapshot after this many applied
                                         entries; 0: never (default 5000) */
    unsigned snapshot_keep_entries;   /* entries kept in the log behind a
                                         snapshot, for slow followers
                                         (default 5000) */
    size_t max_snapshot_bytes;        /* largest InstallSnapshot accepted
                                         (default 1 GiB) */
    size_t wal_segment_bytes;         /* log segment size (default 64 MiB) */
    /* peer authentication (peer_auth.h) */
    bool peer_auth;                   /* peer_auth = "hmac" (default true)
                                         or "none" (false) */
    char *peer_secret_file;           /* default RAFTD_DEFAULT_PEER_SECRET */
    /* the secret itself, read by peer_secret_load() (peer_secret.h) */
    uint8_t peer_secret[RAFTD_PEER_SECRET_MAX];
    size_t peer_secret_len;           /* 0: not loaded */
    char *peer_secret_source;         /* the file it came from */
    /* TLS (tls.h): used when a member URL is https:// */
    char *tls_cert_file;              /* this node's certificate (PEM), */
    char *tls_key_file;               /*   its private key, */
    char *tls_ca_file;                /*   the CA of the members'
                                         certificates; NULL: not set */
    bool peer_client_cert_auth;       /* peer requests need a client
                                         certificate of tls_ca_file */
    bool client_cert_auth;            /* so do all other requests */
    /* the files' contents, read and checked by tls_load() (tls.h) */
    struct raftd_tls_files {
        char *cert_pem, *key_pem, *ca_pem; /* NUL-terminated; NULL: none */
        char *key_source;       /* the file or credential the key came from */
        bool key_from_credential;
        char about[256];        /* the certificate, for messages: subject,
                                   serial, expiry */
    } tls;

    /* Where each setting came from, for "file:line:" messages (0: not in
     * the file).  Private to config.c. */
    struct {
        int id, listen, data_dir, members, heartbeat_ms,
            election_timeout_min_ms, election_timeout_max_ms,
            rpc_timeout_ms, max_request_bytes, snapshot_entries,
            snapshot_keep_entries, peer_auth, peer_secret_file,
            tls_cert_file, tls_key_file, tls_ca_file, peer_client_cert_auth,
            client_cert_auth, request_timeout_ms, prevote, check_quorum,
            log_level, max_connections, max_snapshot_bytes,
            wal_segment_bytes, fault_injection;
        int last_line;          /* lines in the file: where a missing
                                   setting would go */
        bool rpc_timeout_set;
    } src;
};

/* Fill cfg with the defaults (no id, no members, no listen address).
 * Allocates data_dir: release with config_free(). */
void config_defaults(struct raftd_config *cfg);

/* Parse the file at path into cfg (which config_defaults() prepared).
 * Unknown settings, wrong types and malformed values are errors.  On error
 * returns -1 and err holds "<file>:<line>: <what is wrong and what to do>"
 * ("<file>: ..." when there is no line, e.g. the file cannot be read). */
int config_load(struct raftd_config *cfg, const char *path, char *err,
                size_t errlen);

/* After command-line overrides: find this node and check the whole
 * configuration.  If id is 0, the node is the one member whose URL host is
 * an address of this machine (and whose port is the "listen" port, if
 * "listen" is set); exactly one must match.  Fills listen_host/listen_port
 * from the own member URL when "listen" was not given.  Returns 0, or -1
 * with a message in err like config_load(). */
int config_resolve(struct raftd_config *cfg, char *err, size_t errlen);

/* Replace data_dir with a copy of dir.  Returns 0 or -1 (out of memory). */
int config_set_data_dir(struct raftd_config *cfg, const char *dir);

/* Lookup helpers. */
const struct raftd_member *config_member(const struct raftd_config *cfg,
                                         raft_id id);
/* A member URL as the config file takes it, "http://host:port" or
 * "https://host:port" (a trailing "/" dropped), into norm; -1 with why
 * ("the url \"x\" is not valid: ...") if it is not one. */
int config_normalize_url(const char *url, char *norm, size_t len, char *why,
                         size_t whylen);
const char *config_log_level_name(int level); /* "info", ... */
/* Parse a log level name ("error", "warning", "notice", "info", "debug");
 * returns the syslog priority or -1. */
int config_parse_log_level(const char *name);

/* Free everything cfg owns and reset it to zeroes. */
void config_free(struct raftd_config *cfg);
/* Free what f holds (the key's bytes are wiped first) and zero it. */
void config_tls_files_free(struct raftd_tls_files *f);

#endif
