/* logging.c - journal or stderr logging (see logging.h). */
#include "logging.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* CODE_FILE/CODE_LINE would always point here, not at the caller. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

static struct {
    raft_id node;
    int max_level;
    bool journal;
} lg = {RAFT_NONE, LOG_INFO, false};

static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    if (!js || !*js)
        return false;
    unsigned long long dev, ino;
    char extra;
    if (sscanf(js, "%llu:%llu%c", &dev, &ino, &extra) != 2)
        return false;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

void log_init(raft_id node_id, int max_level)
{
    lg.node = node_id;
    log_set_level(max_level);
    lg.journal = stderr_is_journal();
}

void log_set_node(raft_id node_id)
{
    lg.node = node_id;
}

void log_set_level(int max_level)
{
    if (max_level < LOG_EMERG)
        max_level = LOG_EMERG;
    if (max_level > LOG_DEBUG)
        max_level = LOG_DEBUG;
    lg.max_level = max_level;
}

bool log_enabled(int prio)
{
    return prio <= lg.max_level;
}

bool log_to_journal(void)
{
    return lg.journal;
}

static const char *prio_tag(int prio)
{
    switch (prio) {
    case LOG_EMERG: return "emergency: ";
    case LOG_ALERT: return "alert: ";
    case LOG_CRIT: return "critical: ";
    case LOG_ERR: return "error: ";
    case LOG_WARNING: return "warning: ";
    case LOG_DEBUG: return "debug: ";
    default: return ""; /* notice, info */
    }
}

static void emit_stderr(int prio, const struct log_raft *f, const char *msg)
{
    char line[4096];
    size_t n = 0;
    struct timespec ts;
    struct tm tm;

#define ADD(...)                                                           \
    do {                                                                   \
        if (n < sizeof line) {                                             \
            int k_ = snprintf(line + n, sizeof line - n, __VA_ARGS__);     \
            if (k_ > 0)                                                    \
                n += (size_t)k_;                                           \
        }                                                                  \
    } while (0)

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    ADD("%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec,
        ts.tv_nsec / 1000000);
    if (lg.node != RAFT_NONE)
        ADD("node %" PRIu64 " ", lg.node);
    else
        ADD("raftd ");
    if (f) {
        if (f->state)
            ADD("[%s term %" PRIu64 "] ", f->state, f->term);
        else
            ADD("[term %" PRIu64 "] ", f->term);
    }
    ADD("%s", prio_tag(prio));
    if (f && f->event)
        ADD("%s: ", f->event);
    ADD("%s", msg);
#undef ADD
    if (n >= sizeof line - 1) {
        n = sizeof line - 1;
        memcpy(line + n - 3, "...", 3);
    }
    /* strip trailing newlines the caller may have added */
    while (n > 0 && line[n - 1] == '\n')
        n--;
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
    fflush(stderr);
}

static int emit_journal(int prio, const struct log_raft *f, const char *msg)
{
    char b_msg[4200], b_prio[32], b_node[48], b_event[96], b_term[48],
        b_state[64], b_leader[48], b_peer[48], b_index[48], b_addr[96],
        b_eterm[48], b_pterm[48];
    struct iovec iov[13];
    int n = 0;

#define FIELD(buf, ...)                                                    \
    do {                                                                   \
        int k_ = snprintf(buf, sizeof buf, __VA_ARGS__);                   \
        if (k_ < 0)                                                        \
            k_ = 0;                                                        \
        if ((size_t)k_ >= sizeof buf)                                      \
            k_ = (int)sizeof buf - 1;                                      \
        iov[n].iov_base = buf;                                             \
        iov[n].iov_len = (size_t)k_;                                       \
        n++;                                                               \
    } while (0)

    FIELD(b_msg, "MESSAGE=%s", msg);
    FIELD(b_prio, "PRIORITY=%d", prio);
    iov[n].iov_base = (void *)"SYSLOG_IDENTIFIER=raftd";
    iov[n].iov_len = strlen("SYSLOG_IDENTIFIER=raftd");
    n++;
    if (lg.node != RAFT_NONE)
        FIELD(b_node, "RAFT_NODE_ID=%" PRIu64, lg.node);
    if (f) {
        if (f->event)
            FIELD(b_event, "RAFT_EVENT=%s", f->event);
        FIELD(b_term, "RAFT_TERM=%" PRIu64, f->term); /* 0 is a term too */
        if (f->state)
            FIELD(b_state, "RAFT_STATE=%s", f->state);
        if (f->leader)
            FIELD(b_leader, "RAFT_LEADER_ID=%" PRIu64, f->leader);
        if (f->peer)
            FIELD(b_peer, "RAFT_PEER_ID=%" PRIu64, f->peer);
        if (f->index)
            FIELD(b_index, "RAFT_INDEX=%" PRIu64, f->index);
        if (f->addr)
            FIELD(b_addr, "RAFT_PEER_ADDR=%s", f->addr);
        if (f->entry_term) {
            FIELD(b_eterm, "RAFT_ENTRY_TERM=%" PRIu64, f->entry_term);
            FIELD(b_pterm, "RAFT_PEER_ENTRY_TERM=%" PRIu64, f->peer_entry_term);
        }
    }
#undef FIELD
    return sd_journal_sendv(iov, n);
}

/* Observers of Raft events (log_add_event_observer), called whatever the
 * log level. */
#define MAX_EVENT_OBSERVERS 4
static struct {
    log_event_observer fn;
    void *arg;
} observers[MAX_EVENT_OBSERVERS];
static unsigned n_observers;

int log_add_event_observer(log_event_observer fn, void *arg)
{
    if (n_observers == MAX_EVENT_OBSERVERS)
        return -1;
    observers[n_observers].fn = fn;
    observers[n_observers].arg = arg;
    n_observers++;
    return 0;
}

void log_remove_event_observer(log_event_observer fn, void *arg)
{
    for (unsigned i = 0; i < n_observers; i++) {
        if (observers[i].fn == fn && observers[i].arg == arg) {
            observers[i] = observers[--n_observers];
            return;
        }
    }
}

static void vlog(int prio, const struct log_raft *f, const char *fmt,
                 va_list ap)
{
    bool observed = f && f->event && n_observers > 0;
    if (!observed && !log_enabled(prio))
        return;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (unsigned i = 0; observed && i < n_observers; i++)
        observers[i].fn(observers[i].arg, prio, f, msg);
    if (!log_enabled(prio))
        return;
    if (lg.journal && emit_journal(prio, f, msg) >= 0)
        return;
    emit_stderr(prio, f, msg);
}

void log_msg(int prio, const char *fmt, ...)
{
    int saved = errno; /* keep errno for the caller's %m and after us */
    va_list ap;
    va_start(ap, fmt);
    errno = saved;
    vlog(prio, NULL, fmt, ap);
    va_end(ap);
    errno = saved;
}

void log_raft(int prio, const struct log_raft *f, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    errno = saved;
    vlog(prio, f, fmt, ap);
    va_end(ap);
    errno = saved;
}
