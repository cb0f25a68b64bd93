/* reload.h - what "systemctl reload raftd" (SIGHUP) changes in a running
 * node's settings, and what only a restart can.
 *
 * The file is read again and checked whole first (main.c): an invalid one
 * changes nothing. Then reload_compare() tells the settings applied at once
 * (the log level, the heartbeat and election timeouts, rpc_timeout_ms and
 * request_timeout_ms) from those that differ but need a restart (listen,
 * data_dir, the limits, peer authentication, the TLS settings, ...), and
 * reload_apply() copies the first kind into the running configuration
 * (the timeouts of the core once it took them: main.c).
 * The members list and the TLS files have their own reload (node.h).
 */
#ifndef RAFTD_RELOAD_H
#define RAFTD_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct reload_changes {
    char applied[768];  /* "log_level info -> debug, heartbeat_ms 100 ->
                           50"; empty if none */
    char restart[2048]; /* "listen changed in FILE:LINE; data_dir ...";
                           empty if none */
    bool timing;        /* the core's timing changes (raft_set_timing) */
};

/* Compare fresh (the file read again and resolved) with cur (in use). */
void reload_compare(const struct raftd_config *cur,
                    const struct raftd_config *fresh,
                    struct reload_changes *ch);

/* Copy the settings a reload applies from fresh into cur; the core's timing
 * (heartbeat_ms, election_timeout_min_ms/max_ms) only if timing is true:
 * once the core took it (node_apply_timing), so that cur always says the
 * timing in use. */
void reload_apply(struct raftd_config *cur, const struct raftd_config *fresh,
                  bool timing);

/* Those settings as they are in cfg, for /status ("settings"). */
struct cJSON;
struct cJSON *reload_settings_json(const struct raftd_config *cfg);

#endif
