/* reload.c - the settings a reload applies and those needing a restart
 * (reload.h). */
#include "reload.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void add(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t len, const char *fmt, ...)
{
    size_t pos = strlen(buf);
    if (pos + 1 >= len)
        return;
    if (pos)
        pos += (size_t)snprintf(buf + pos, len - pos, ", ");
    if (pos >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + pos, len - pos, fmt, ap);
    va_end(ap);
}

static void live_uint(struct reload_changes *ch, const char *name,
                      unsigned cur, unsigned fresh)
{
    if (cur != fresh)
        add(ch->applied, sizeof(ch->applied), "%s %u -> %u", name, cur,
            fresh);
}

/* A setting that needs a restart differs: say where it is set. */
static void needs_restart(struct reload_changes *ch,
                          const struct raftd_config *fresh, const char *name,
                          int line)
{
    const char *file = fresh->path ? fresh->path : "(config)";
    if (line > 0)
        add(ch->restart, sizeof(ch->restart), "%s changed in %s:%d", name,
            file, line);
    else
        add(ch->restart, sizeof(ch->restart), "%s (no longer set in %s)",
            name, file);
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void compare_restart_only(const struct raftd_config *c,
                                 const struct raftd_config *f,
                                 struct reload_changes *ch)
{
#define DIFF(cond, name, line)                                               \
    do {                                                                     \
        if (cond)                                                            \
            needs_restart(ch, f, name, f->src.line);                         \
    } while (0)
    DIFF(!same_str(c->listen_host, f->listen_host) ||
             c->listen_port != f->listen_port, "listen", listen);
    DIFF(!same_str(c->data_dir, f->data_dir), "data_dir", data_dir);
    DIFF(c->id != f->id, "id", id);
    DIFF(c->prevote != f->prevote, "prevote", prevote);
    DIFF(c->check_quorum != f->check_quorum, "check_quorum", check_quorum);
    DIFF(c->max_request_bytes != f->max_request_bytes, "max_request_bytes",
         max_request_bytes);
    DIFF(c->max_connections != f->max_connections, "max_connections",
         max_connections);
    DIFF(c->snapshot_entries != f->snapshot_entries, "snapshot_entries",
         snapshot_entries);
    DIFF(c->snapshot_keep_entries != f->snapshot_keep_entries,
         "snapshot_keep_entries", snapshot_keep_entries);
    DIFF(c->max_snapshot_bytes != f->max_snapshot_bytes, "max_snapshot_bytes",
         max_snapshot_bytes);
    DIFF(c->wal_segment_bytes != f->wal_segment_bytes, "wal_segment_bytes",
         wal_segment_bytes);
    DIFF(c->peer_auth != f->peer_auth, "peer_auth", peer_auth);
    DIFF(!same_str(c->peer_secret_file, f->peer_secret_file),
         "peer_secret_file", peer_secret_file);
    DIFF(!same_str(c->tls_cert_file, f->tls_cert_file), "tls_cert_file",
         tls_cert_file);
    DIFF(!same_str(c->tls_key_file, f->tls_key_file), "tls_key_file",
         tls_key_file);
    DIFF(!same_str(c->tls_ca_file, f->tls_ca_file), "tls_ca_file",
         tls_ca_file);
    DIFF(c->peer_client_cert_auth != f->peer_client_cert_auth,
         "peer_client_cert_auth", peer_client_cert_auth);
    DIFF(c->client_cert_auth != f->client_cert_auth, "client_cert_auth",
         client_cert_auth);
    DIFF(c->fault_injection != f->fault_injection, "fault_injection",
         fault_injection);
#undef DIFF
}

void reload_compare(const struct raftd_config *cur,
                    const struct raftd_config *fresh,
                    struct reload_changes *ch)
{
    memset(ch, 0, sizeof(*ch));
    if (cur->log_level != fresh->log_level)
        add(ch->applied, sizeof(ch->applied), "log_level %s -> %s",
            config_log_level_name(cur->log_level),
            config_log_level_name(fresh->log_level));
    live_uint(ch, "heartbeat_ms", cur->heartbeat_ms, fresh->heartbeat_ms);
    live_uint(ch, "election_timeout_min_ms", cur->election_timeout_min_ms,
              fresh->election_timeout_min_ms);
    live_uint(ch, "election_timeout_max_ms", cur->election_timeout_max_ms,
              fresh->election_timeout_max_ms);
    live_uint(ch, "rpc_timeout_ms", cur->rpc_timeout_ms,
              fresh->rpc_timeout_ms);
    live_uint(ch, "request_timeout_ms", cur->request_timeout_ms,
              fresh->request_timeout_ms);
    ch->timing = cur->heartbeat_ms != fresh->heartbeat_ms ||
                 cur->election_timeout_min_ms !=
                     fresh->election_timeout_min_ms ||
                 cur->election_timeout_max_ms !=
                     fresh->election_timeout_max_ms;
    compare_restart_only(cur, fresh, ch);
}

void reload_apply(struct raftd_config *cur, const struct raftd_config *fresh,
                  bool timing)
{
    if (timing) {
        cur->heartbeat_ms = fresh->heartbeat_ms;
        cur->election_timeout_min_ms = fresh->election_timeout_min_ms;
        cur->election_timeout_max_ms = fresh->election_timeout_max_ms;
        cur->src.heartbeat_ms = fresh->src.heartbeat_ms;
        cur->src.election_timeout_min_ms = fresh->src.election_timeout_min_ms;
        cur->src.election_timeout_max_ms = fresh->src.election_timeout_max_ms;
    }
    cur->log_level = fresh->log_level;
    cur->rpc_timeout_ms = fresh->rpc_timeout_ms;
    cur->request_timeout_ms = fresh->request_timeout_ms;
    cur->src.log_level = fresh->src.log_level;
    cur->src.rpc_timeout_ms = fresh->src.rpc_timeout_ms;
    cur->src.rpc_timeout_set = fresh->src.rpc_timeout_set;
    cur->src.request_timeout_ms = fresh->src.request_timeout_ms;
}

cJSON *reload_settings_json(const struct raftd_config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "log_level",
                            config_log_level_name(cfg->log_level));
    cJSON_AddNumberToObject(o, "heartbeat_ms", cfg->heartbeat_ms);
    cJSON_AddNumberToObject(o, "election_timeout_min_ms",
                            cfg->election_timeout_min_ms);
    cJSON_AddNumberToObject(o, "election_timeout_max_ms",
                            cfg->election_timeout_max_ms);
    cJSON_AddNumberToObject(o, "rpc_timeout_ms", cfg->rpc_timeout_ms);
    cJSON_AddNumberToObject(o, "request_timeout_ms", cfg->request_timeout_ms);
    return o;
}
