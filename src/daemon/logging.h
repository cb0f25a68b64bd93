/* logging.h - raftd's log: the systemd journal (with structured RAFT_*
 * fields) when stderr is connected to it, readable lines on stderr
 * otherwise.
 *
 * Journal mode is chosen when $JOURNAL_STREAM names the device and inode of
 * our stderr (systemd sets it for services with StandardError=journal), as
 * described in systemd.exec(5).  Each message is then sent with
 * sd_journal_send() carrying MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=raftd and
 * RAFT_NODE_ID, and for log_raft() also RAFT_EVENT, RAFT_TERM, RAFT_STATE,
 * RAFT_LEADER_ID, RAFT_PEER_ID, RAFT_INDEX, RAFT_ENTRY_TERM,
 * RAFT_PEER_ENTRY_TERM and RAFT_PEER_ADDR when given.
 *
 * Stderr mode prints one line per message and flushes it, e.g.
 *   16:50:01.123 node 2 [Leader term 3] became_leader: won election ...
 *   16:50:01.456 node 2 warning: peer 3 (http://...): timed out
 *
 * Messages less important than the max level (a syslog priority, LOG_ERR ..
 * LOG_DEBUG) are dropped.  Single-threaded, like the rest of raftd.
 */
#ifndef RAFTD_LOGGING_H
#define RAFTD_LOGGING_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "../raft/raft.h"

/* Pick journal or stderr mode and set node id (0: not known yet) and level.
 * May be called again, e.g. once the configuration is loaded. */
void log_init(raft_id node_id, int max_level);
void log_set_node(raft_id node_id);
void log_set_level(int max_level);
/* True if messages of priority prio are currently emitted (to skip costly
 * formatting of debug output). */
bool log_enabled(int prio);
/* True if log_init() chose the journal. */
bool log_to_journal(void);

void log_msg(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Structured fields of a Raft event; 0 / NULL means absent.  leader is only
 * logged as RAFT_LEADER_ID when known (non-zero). */
struct log_raft {
    const char *event;   /* RAFT_EVENT, e.g. "became_leader" */
    uint64_t term;       /* RAFT_TERM, always logged (term 0 included) */
    const char *state;   /* RAFT_STATE: "Follower", "Candidate", "Leader" */
    uint64_t leader;     /* RAFT_LEADER_ID */
    uint64_t peer;       /* RAFT_PEER_ID */
    uint64_t index;      /* RAFT_INDEX */
    const char *addr;    /* RAFT_PEER_ADDR: "ip:port" a request came from */
    uint64_t entry_term; /* RAFT_ENTRY_TERM: the term of our entry at index */
    uint64_t peer_entry_term; /* RAFT_PEER_ENTRY_TERM: the term peer gives
                                 it (both logged when entry_term is given) */
};
void log_raft(int prio, const struct log_raft *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An observer sees every log_raft() that names an event, whatever the log
 * level, with its formatted message: the event history of /events and the
 * counters of /metrics are fed this way. Called synchronously, on the
 * loop; it must not call log_raft() itself. At most 4 observers;
 * log_add_event_observer returns -1 when full. */
typedef void (*log_event_observer)(void *arg, int prio,
                                   const struct log_raft *f, const char *msg);
int log_add_event_observer(log_event_observer fn, void *arg);
void log_remove_event_observer(log_event_observer fn, void *arg);

#endif
