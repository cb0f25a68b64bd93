/* node_snapshot.c - snapshots and log compaction in the daemon (Raft paper
 * section 7; dissertation chapter 5; file format in doc/storage.md).
 *
 * Taking one: once at least snapshot_entries entries were applied since the
 * last snapshot, and the commands they carried add up to SNAPSHOT_LOG_SHARE
 * of that snapshot's size (so the cost of snapshots follows the size of the
 * store, as Redis rewrites its append-only file once it has grown by a
 * share of its last size, and a large store is not serialized again every
 * few seconds), a forked child (see struct snap_child) serializes the
 * state machine (the key-value store and the exactly-once table) and writes it durably to data_dir/snapshot (via a
 * temporary file and rename: the previous snapshot stays until the new one
 * is durable), then lets the core free the log up to snapshot_keep_entries
 * behind it (a leader: up to what every member holds, compact_point) and
 * removes the log segments that only hold such entries.
 *
 * Sending one: the core asks for RAFT_MSG_SNAPSHOT when a follower needs
 * entries it no longer has; the body of POST /raft/install_snapshot is the
 * message as one JSON line, then the snapshot file as it is on disk (the
 * newest one, whose index and term replace the message's). One at a time
 * per follower.
 *
 * Receiving one: the image is checked (header, length, checksum, and that
 * its payload parses) before the core sees the message, and kept in memory;
 * if the core accepts it, the next ready asks to install it, and
 * snap_install() makes it durable and loads it before anything else of
 * that ready (so before the answer goes out), then drops the log it
 * replaces. Anything malformed is refused with 400 and changes nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "logging.h"
#include "node_internal.h"
#include "node_metrics.h"
#include "rpc.h"

/* The log since the last snapshot must have grown to this share of its
 * size before the next one is taken: writing the whole store then costs at
 * most 1/SNAPSHOT_LOG_SHARE bytes per byte of commands, while a restart
 * replays at most that share of the store's size from the log. */
#define SNAPSHOT_LOG_SHARE 0.5

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The configuration a snapshot carries (as of its index; none in those
 * of raftd before the members record) into *c, and whether it has one (1)
 * or not (0). Its cluster id must be this node's: a snapshot of another
 * cluster is refused (-1, err set). */
static int snapshot_configuration(struct node *n,
                                  const struct snapfile_parts *p,
                                  const char *what,
                                  struct raft_configuration *c, char *err,
                                  size_t errlen)
{
    uint64_t cluster;
    if (!p->members_len)
        return 0;
    if (snapconf_decode(p->members, p->members_len, &cluster, c, what, err,
                        errlen) < 0)
        return -1;
    if (cluster != n->cluster_id) {
        snprintf(err, errlen, "%s belongs to cluster %016" PRIx64 ", and this "
                 "node to cluster %016" PRIx64 " (recorded in %s/%s)", what,
                 cluster, n->cluster_id, n->cfg->data_dir, MEMBERFILE_NAME);
        return -1;
    }
    return 1;
}

/* Parsing and loading a received snapshot (up to max_snapshot_bytes) are
 * the longest steps on the loop: each starts with a whole WatchdogSec= of
 * its own (the loop pings only every half of it), so a large one is not
 * taken for a stuck loop. */
static void feed_watchdog(void)
{
    uint64_t usec;
    if (sd_watchdog_enabled(0, &usec) > 0)
        sd_notify(0, "WATCHDOG=1");
}

/* Load a snapshot payload into the store and the exactly-once table; -1
 * (nothing changed) if it does not parse. */
static int load_payload(struct node *n, const uint8_t *payload, size_t len)
{
    feed_watchdog();
    struct snapfile_parts p;
    if (snapfile_split(payload, len, &p) < 0)
        return -1;
    struct dedup *d = dedup_new();
    if (!d || dedup_restore(d, p.dedup, p.dedup_len) < 0) {
        dedup_free(d);
        return -1;
    }
    if (kv_restore(n->kv, p.kv, p.kv_len) < 0) {
        dedup_free(d);
        return -1;
    }
    dedup_free(n->dedup);
    n->dedup = d;
    return 0;
}

/* Does a payload parse? (checked before a received snapshot is accepted) */
static bool payload_valid(const uint8_t *payload, size_t len)
{
    feed_watchdog();
    struct snapfile_parts p;
    if (snapfile_split(payload, len, &p) < 0)
        return false;
    struct kv *kv = kv_new();
    struct dedup *d = dedup_new();
    bool ok = d && kv_restore(kv, p.kv, p.kv_len) == 0 &&
              dedup_restore(d, p.dedup, p.dedup_len) == 0;
    kv_free(kv);
    dedup_free(d);
    return ok;
}

int snap_load_at_start(struct node *n, const struct storage_loaded *l,
                       char *err, size_t errlen)
{
    if (!l->snapshot_index)
        return 0;
    uint64_t t0 = mono_us();
    const uint8_t *img;
    size_t len;
    struct snapfile_meta m;
    int rv = snapfile_map(storage_dir_fd(n->storage), n->cfg->data_dir,
                          SNAPFILE_NAME, &img, &len, &m, err, errlen);
    if (rv < 0)
        return -1;
    if (rv == 0 || m.index != l->snapshot_index) {
        snapfile_unmap(img, len);
        snprintf(err, errlen, "%s/%s changed while starting; start again",
                 n->cfg->data_dir, SNAPFILE_NAME);
        return -1;
    }
    struct snapfile_parts parts;
    char what[600];
    snprintf(what, sizeof(what), "snapshot file %s/%s", n->cfg->data_dir,
             SNAPFILE_NAME);
    struct raft_configuration conf;
    int has_conf = snapfile_split(img + SNAPFILE_HEADER, m.length, &parts) == 0
                       ? snapshot_configuration(n, &parts, what, &conf, err,
                                                errlen)
                       : 0;
    if (has_conf == 1 && raft_restore_configuration(n->raft, &conf) < 0) {
        snprintf(err, errlen, "%s: its configuration is not valid", what);
        has_conf = -1;
    }
    if (has_conf < 0) {
        snapfile_unmap(img, len);
        size_t k = strlen(err);
        snprintf(err + k, errlen - k, "; move %s aside and start the node "
                 "empty, the leader then sends it a fresh snapshot",
                 n->cfg->data_dir);
        return -1;
    }
    if (load_payload(n, img + SNAPFILE_HEADER, m.length) < 0) {
        snapfile_unmap(img, len);
        snprintf(err, errlen, "snapshot file %s/%s has a valid checksum but "
                 "its contents do not parse (written by an incompatible "
                 "raftd?): move %s aside and start the node empty, the leader "
                 "then sends it a fresh snapshot", n->cfg->data_dir,
                 SNAPFILE_NAME, n->cfg->data_dir);
        return -1;
    }
    snapfile_unmap(img, len);
    n->snap = m;
    /* what a restart spends on it (issue 13; bench/restart-load.sh) */
    log_msg(LOG_INFO, "loaded the snapshot at index %" PRIu64 " (%zu keys, "
            "%zu bytes) in %" PRIu64 " ms", m.index, kv_count(n->kv), len,
            (mono_us() - t0) / 1000);
    return 0;
}

/* ---- taking a snapshot ---- */

static uint8_t *make_image(struct node *n, raft_index index, raft_term term,
                           struct snapfile_meta *m, size_t *len)
{
    size_t kvl, ddl;
    char *kvb = kv_snapshot(n->kv, &kvl);
    char *ddb = dedup_snapshot(n->dedup, &ddl);
    /* the configuration as of index: the one a node restored from this
     * snapshot starts from */
    struct raft_configuration conf;
    uint8_t confb[SNAPCONF_MAX];
    size_t confl = raft_configuration_at(n->raft, index, &conf) == 0
                       ? snapconf_encode(n->cluster_id, &conf, confb) : 0;
    struct snapfile_parts p = {kvb, kvl, ddb, ddl, confb, confl};
    uint8_t *img = ddb && confl ? snapfile_build(index, term, &p, len) : NULL;
    free(kvb);
    free(ddb);
    if (img)
        *m = (struct snapfile_meta){.index = index, .term = term,
                                    .length = *len - SNAPFILE_HEADER};
    return img;
}

/* How far the log may go after the snapshot at snap: snapshot_keep_entries
 * behind it stay for followers that lag (paper 7: without them a follower
 * a little behind needs the whole snapshot), but a leader needs none of
 * those that every member already holds: it keeps only what the slowest
 * member lacks, up to keep entries. Under load that halves the entries a
 * leader holds in memory (they peaked at keep + snapshot_entries). A
 * follower, which does not know the others' progress, keeps them all. */
static raft_index compact_point(struct node *n, raft_index snap)
{
    raft_index keep = n->cfg->snapshot_keep_entries;
    raft_index upto = snap > keep ? snap - keep : 0;
    if (raft_role(n->raft) != RAFT_LEADER)
        return upto;
    const struct raft_configuration *conf = raft_configuration(n->raft, NULL);
    raft_index least = snap;
    for (unsigned i = 0; conf && i < conf->n; i++) {
        raft_id id = conf->members[i].id;
        raft_index match = id == raft_self(n->raft) ? snap : raft_match_index(n->raft, id);
        if (match < least)
            least = match;
    }
    return least > upto ? least : upto;
}

/* Free the log up to compact_point() (core and disk). */
static void compact_log(struct node *n)
{
    raft_index upto = compact_point(n, n->snap.index);
    if (upto <= raft_snapshot_index(n->raft))
        return;
    char err[512];
    if (raft_compact(n->raft, upto) < 0) {
        /* not yet durable here (the sync thread is behind): next time */
        log_msg(LOG_DEBUG, "log not compacted up to %" PRIu64 " yet", upto);
        return;
    }
    if (storage_compact(n->storage, upto, err, sizeof(err)) < 0)
        log_msg(LOG_WARNING, "cannot compact the log up to %" PRIu64 ": %s",
                upto, err);
}

/* A snapshot is taken by a child process, as Redis does: fork() gives it
 * the store as it is at that moment (copy-on-write), it serializes it and
 * writes it durably (snapfile_write), and says how it went on a pipe. The
 * loop goes on meanwhile; when the child exits (a pidfd wakes the loop) the
 * parent records the snapshot and compacts the log. Serializing on the loop
 * had stalled every node for 8-19 ms every 10,000 entries under load, all
 * at about the same time (write p99.9 ~40 ms at 64 clients). */
/* The snapshot child's name (ps, /proc/PID/comm) once it is set up. */
#define SNAPSHOT_CHILD_NAME "raftd-snapshot"

struct snap_child {
    pid_t pid;
    int pidfd;     /* -1: no pidfd (old kernel), waited for at once */
    int pipe_rd;
    sd_event_source *src;
    raft_index index;
    raft_term term;
    size_t keys;
    uint64_t applied_bytes; /* n->applied_bytes when it was forked */
};

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Close every descriptor but the sorted, distinct keep[0..n-1]. */
static void close_all_but(const int *keep, size_t n)
{
    unsigned from = 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned to = i < n ? (unsigned)keep[i] : ~0u; /* exclusive */
        if (to > from) {
#ifdef SYS_close_range
            if (syscall(SYS_close_range, from, to - 1, 0) < 0)
#endif
            {
                /* kernels before 5.9: as far as this process could go */
                long max = sysconf(_SC_OPEN_MAX);
                unsigned last = max > 0 && max < 65536 ? (unsigned)max : 65536;
                for (unsigned fd = from; fd < to && fd < last; fd++)
                    close((int)fd);
            }
        }
        if (i < n)
            from = (unsigned)keep[i] + 1;
    }
}

/* The child keeps only what it needs: stdin/out/err, the data directory
 * (it writes the snapshot there), the LOCK (held until it exits, so that
 * no second raftd uses the directory meanwhile) and the pipe. Not the
 * listening socket, the connections and the log segments: a copy of a
 * socket would keep a connection the parent closed open, and the port
 * bound, for as long as the child runs. And it dies with its parent, so
 * that a node killed while a snapshot is written can be restarted at once
 * (the LOCK goes with the child). */
static void child_setup(struct node *n, pid_t parent, int out)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1); /* the parent is already gone */
    int keep[6] = {0, 1, 2, storage_dir_fd(n->storage),
                   storage_lock_fd(n->storage), out};
    size_t k = 0;
    qsort(keep, 6, sizeof(keep[0]), cmp_int);
    for (size_t i = 0; i < 6; i++)
        if (keep[i] >= 0 && (k == 0 || keep[i] != keep[k - 1]))
            keep[k++] = keep[i];
    close_all_but(keep, k);
    /* Named once it holds only what it needs: "ps" shows what it is, and
     * a test can tell a child that is set up from one just forked. */
    prctl(PR_SET_NAME, SNAPSHOT_CHILD_NAME);
}

/* RAFTD_SNAPSHOT_CHILD_PAUSE_MS (for tests, raftd(8) ENVIRONMENT): the
 * child waits this long once set up, before it serializes, so that a test
 * can look at it and kill its node while it runs; read by the parent
 * before the fork (the child of a threaded process calls only what is
 * async-signal-safe). */
static long child_pause_ms(void)
{
    static long ms = -1;
    if (ms < 0) {
        const char *v = getenv("RAFTD_SNAPSHOT_CHILD_PAUSE_MS");
        char *end = NULL;
        long x = v && *v ? strtol(v, &end, 10) : 0;
        ms = end && *end == 0 && x > 0 && x <= 600000 ? x : 0;
    }
    return ms;
}

static void child_pause(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static _Noreturn void snapshot_child(struct node *n, raft_index index,
                                     raft_term term, int out)
{
    struct snapfile_meta m;
    size_t len = 0;
    char msg[700], err[600];
    uint64_t t0 = mono_us();
    uint8_t *img = make_image(n, index, term, &m, &len);
    uint64_t t1 = mono_us();
    int rv = -1;
    if (!img)
        snprintf(msg, sizeof(msg), "E out of memory");
    else if ((rv = snapfile_write(storage_dir_fd(n->storage), n->cfg->data_dir,
                                  SNAPFILE_NAME, img, len, err,
                                  sizeof(err))) < 0)
        snprintf(msg, sizeof(msg), "E %s", err);
    else
        snprintf(msg, sizeof(msg), "OK %zu %" PRIu64 " %" PRIu64, len,
                 t1 - t0, mono_us() - t1);
    if (write(out, msg, strlen(msg)) < 0) {
        /* the parent then reports an unknown failure */
    }
    _exit(rv < 0 ? 1 : 0);
}

/* The child has exited (or we wait for it now): record and compact. With
 * abandoned, it was killed (a newer snapshot replaces its): forget it. */
static void child_finished(struct node *n, bool abandoned)
{
    struct snap_child *c = n->snap_child;
    char msg[700] = "";
    int status = 0;
    n->snap_child = NULL;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
        ;
    ssize_t got = read(c->pipe_rd, msg, sizeof(msg) - 1);
    msg[got > 0 ? got : 0] = 0;
    size_t len = 0;
    uint64_t ser_us = 0, write_us = 0;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
              sscanf(msg, "OK %zu %" SCNu64 " %" SCNu64, &len, &ser_us,
                     &write_us) == 3 && len >= SNAPFILE_HEADER;
    if (abandoned && !ok) {
        /* its temporary file (snapfile_write names it after the writer) */
        char tmp[64];
        snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", SNAPFILE_NAME, (long)c->pid);
        unlinkat(storage_dir_fd(n->storage), tmp, 0);
        log_msg(LOG_INFO, "stopped taking a snapshot at index %" PRIu64 ": "
                "the leader's, further on, replaces it", c->index);
    } else if (!ok) {
        log_msg(LOG_WARNING, "cannot take a snapshot at index %" PRIu64
                ": %s; the log keeps growing until one succeeds (retrying "
                "after %u more entries)", c->index,
                msg[0] == 'E' ? msg + 2 : "the snapshot process failed",
                n->cfg->snapshot_entries);
        n->snap_next_try = c->index + n->cfg->snapshot_entries;
    } else if (c->index > n->snap.index) { /* not overtaken by an install */
        n->snap = (struct snapfile_meta){.index = c->index, .term = c->term,
                                         .length = len - SNAPFILE_HEADER};
        n->snap_applied_bytes = c->applied_bytes;
        if (n->processing) /* inside a ready: compact after raft_advance() */
            n->snap_compact_pending = true;
        else
            compact_log(n);
        node_metrics_snapshot_made(ser_us, write_us);
        log_raft(LOG_INFO,
                 &(struct log_raft){.event = "snapshot_taken",
                                    .term = raft_current_term(n->raft),
                                    .index = c->index},
                 "took a snapshot at index %" PRIu64 " (%zu keys, %zu bytes; "
                 "serialized in %" PRIu64 " ms and written in %" PRIu64
                 " ms by a child process); log now starts at %" PRIu64,
                 c->index, c->keys, len, ser_us / 1000, write_us / 1000,
                 raft_snapshot_index(n->raft) + 1);
    }
    sd_event_source_disable_unref(c->src);
    if (c->pidfd >= 0)
        close(c->pidfd);
    close(c->pipe_rd);
    free(c);
    /* the freed log entries: give the memory back now rather than keep it
     * in the heap until the next snapshot */
    malloc_trim(0);
    /* entries applied while the child ran may call for the next one now,
     * not at the next message */
    node_schedule(n);
}

static void snapshot_child_done(struct node *n)
{
    child_finished(n, false);
}

static int on_snapshot_child(sd_event_source *s, int fd, uint32_t revents,
                             void *arg)
{
    (void)s, (void)fd, (void)revents;
    struct node *n = arg;
    if (n->snap_child)
        snapshot_child_done(n);
    return 0;
}

static void take_snapshot(struct node *n, raft_index index)
{
    struct snap_child *c = calloc(1, sizeof(*c));
    int p[2] = {-1, -1};
    if (!c || pipe2(p, O_CLOEXEC) < 0) {
        log_msg(LOG_WARNING, "cannot take a snapshot at index %" PRIu64
                ": %s; retrying after %u more entries", index,
                c ? strerror(errno) : "out of memory", n->cfg->snapshot_entries);
        n->snap_next_try = index + n->cfg->snapshot_entries;
        free(c);
        return;
    }
    c->index = index;
    c->term = raft_term_at(n->raft, index);
    c->keys = kv_count(n->kv);
    c->applied_bytes = n->applied_bytes;
    pid_t parent = getpid();
    long pause_ms = child_pause_ms();
    c->pid = fork();
    if (c->pid == 0) {
        close(p[0]);
        child_setup(n, parent, p[1]);
        child_pause(pause_ms);
        snapshot_child(n, c->index, c->term, p[1]);
    }
    close(p[1]);
    if (c->pid < 0) {
        log_msg(LOG_WARNING, "cannot take a snapshot at index %" PRIu64
                ": fork: %s; retrying after %u more entries", index,
                strerror(errno), n->cfg->snapshot_entries);
        n->snap_next_try = index + n->cfg->snapshot_entries;
        close(p[0]);
        free(c);
        return;
    }
    c->pipe_rd = p[0];
    n->snap_child = c;
    c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    if (c->pidfd < 0 ||
        sd_event_add_io(n->ev, &c->src, c->pidfd, EPOLLIN, on_snapshot_child,
                        n) < 0)
        snapshot_child_done(n); /* no pidfd: wait for it here */
}

void snap_maybe_take(struct node *n)
{
    if (n->incoming_snap && n->incoming_meta.index <= raft_commit_index(n->raft))
        snap_free(n); /* the core found it stale: it will not be installed */
    if (n->snap_compact_pending) {
        n->snap_compact_pending = false;
        compact_log(n);
    }
    unsigned every = n->cfg->snapshot_entries;
    raft_index applied = raft_applied_index(n->raft);
    if (!every || n->snap_child || applied < n->snap.index + every ||
        applied < n->snap_next_try ||
        n->applied_bytes - n->snap_applied_bytes <
            (uint64_t)(SNAPSHOT_LOG_SHARE * (double)n->snap.length))
        return;
    take_snapshot(n, applied);
}

int snap_take_now(struct node *n, raft_index *index)
{
    raft_index applied = raft_applied_index(n->raft);
    *index = n->snap_child ? n->snap_child->index : n->snap.index;
    if (n->snap_child)
        return SNAP_BUSY;
    if (applied <= n->snap.index)
        return SNAP_CURRENT;
    take_snapshot(n, applied);
    *index = applied;
    /* without a pidfd it was waited for at once */
    return n->snap_child || n->snap.index >= applied ? 0 : -1;
}

void snap_wait(struct node *n)
{
    if (n->snap_child)
        snapshot_child_done(n);
}

/* ---- sending ---- */

char *snap_request_body(struct node *n, const struct raft_msg *m, size_t *len)
{
    uint8_t *img;
    size_t img_len;
    struct snapfile_meta meta;
    char err[700];
    int rv = snapfile_read(storage_dir_fd(n->storage), n->cfg->data_dir,
                           SNAPFILE_NAME, false, &img, &img_len, &meta, err,
                           sizeof(err));
    if (rv <= 0) {
        log_msg(LOG_ERR, "cannot send node %" PRIu64 " the snapshot: %s",
                m->to, rv < 0 ? err : "there is no snapshot file");
        return NULL;
    }
    struct raft_msg sm = *m;
    sm.snapshot_index = meta.index; /* the newest one */
    sm.snapshot_term = meta.term;
    size_t jl;
    char *json = rpc_encode(&sm, &jl);
    char *body = json ? malloc(jl + 1 + img_len) : NULL;
    if (body) {
        memcpy(body, json, jl);
        body[jl] = '\n';
        memcpy(body + jl + 1, img, img_len);
        *len = jl + 1 + img_len;
        node_metrics_snapshot_sent(img_len);
        log_raft(LOG_INFO,
                 &(struct log_raft){.event = "snapshot_sent",
                                    .term = raft_current_term(n->raft),
                                    .state = "Leader", .peer = m->to,
                                    .leader = raft_self(n->raft),
                                    .index = meta.index},
                 "sending node %" PRIu64 " the snapshot at index %" PRIu64
                 " (%zu bytes): it needs entries the log no longer has",
                 m->to, meta.index, img_len);
    }
    free(json);
    free(img);
    return body;
}

/* ---- receiving ---- */

void snap_handle_install(struct node *n, struct http_request *req)
{
    if (strcmp(http_request_method(req), "POST") != 0) {
        http_response_header(req, "Allow", "POST");
        http_respond_error(req, 405, "use POST");
        return;
    }
    size_t len, img_len;
    const char *body = http_request_body(req, &len);
    const uint8_t *img;
    char err[1200];
    struct raft_msg m;
    if (rpc_decode_install_snapshot(body, len, &m, &img, &img_len, err,
                                    sizeof(err)) < 0) {
        http_respond_error(req, 400, err);
        return;
    }
    char what[64];
    snprintf(what, sizeof(what), "the snapshot from node %" PRIu64, m.from);
    struct snapfile_meta meta;
    if (snapfile_check(img, img_len, &meta, what, err, sizeof(err)) < 0) {
        http_respond_error(req, 400, err);
        return;
    }
    if (meta.index != m.snapshot_index || meta.term != m.snapshot_term) {
        http_respond_error(req, 400, "the snapshot's header does not match "
                           "last_included_index/last_included_term");
        return;
    }
    if (!payload_valid(img + SNAPFILE_HEADER, meta.length)) {
        http_respond_error(req, 400, "the snapshot's contents do not parse");
        return;
    }
    struct snapfile_parts parts;
    struct raft_configuration conf;
    snapfile_split(img + SNAPFILE_HEADER, meta.length, &parts); /* valid */
    int has_conf = snapshot_configuration(n, &parts, what, &conf, err,
                                          sizeof(err));
    if (has_conf < 0) {
        log_msg(LOG_ERR, "refused a snapshot: %s", err);
        http_respond_error(req, 409, err);
        return;
    }
    m.snapshot_configuration = has_conf ? &conf : NULL;
    if (m.term >= raft_current_term(n->raft) &&
        meta.index > n->incoming_meta.index) { /* the core may want it */
        uint8_t *copy = malloc(img_len);
        if (!copy) {
            http_respond_error(req, 500, "out of memory");
            return;
        }
        memcpy(copy, img, img_len);
        free(n->incoming_snap);
        n->incoming_snap = copy;
        n->incoming_snap_len = img_len;
        n->incoming_meta = meta;
    }
    node_deliver_rpc(n, req, &m);
}

int snap_install(struct node *n, const struct raft_ready *rd, char *err,
                 size_t errlen)
{
    raft_index index = rd->snapshot_index;
    if (!n->incoming_snap || n->incoming_meta.index != index ||
        n->incoming_meta.term != rd->snapshot_term) {
        snprintf(err, errlen, "internal error: asked to install a snapshot at "
                 "%" PRIu64 " that was not received", index);
        return -1;
    }
    uint64_t t0 = mono_us();
    /* Our own snapshot, if one is being taken, is older than the leader's:
     * stop it rather than wait for it (serializing a large store takes
     * seconds, and the loop would stall all that time). Then our snapshot
     * file is not being written. */
    if (n->snap_child) {
        kill(n->snap_child->pid, SIGKILL);
        child_finished(n, true);
    }
    if (snapfile_write(storage_dir_fd(n->storage), n->cfg->data_dir,
                       SNAPFILE_NAME, n->incoming_snap, n->incoming_snap_len,
                       err, errlen) < 0)
        return -1;
    if (load_payload(n, n->incoming_snap + SNAPFILE_HEADER,
                     n->incoming_meta.length) < 0) {
        snprintf(err, errlen, "internal error: a checked snapshot does not "
                 "load");
        return -1;
    }
    n->snap = n->incoming_meta;
    n->snap_applied_bytes = n->applied_bytes;
    snap_free(n);
    malloc_trim(0); /* the old store and log, the received image */
    int rv = rd->snapshot_discard_log
                 ? storage_reset(n->storage, index + 1, err, errlen)
                 : storage_compact(n->storage, index, err, errlen);
    if (rv < 0)
        return -1;
    node_metrics_snapshot_installed(mono_us() - t0);
    log_raft(LOG_NOTICE,
             &(struct log_raft){.event = "snapshot_loaded",
                                .term = raft_current_term(n->raft),
                                .leader = raft_leader(n->raft),
                                .index = index},
             "installed the leader's snapshot at index %" PRIu64 " (%zu keys)%s",
             index, kv_count(n->kv),
             rd->snapshot_discard_log ? "; the log restarts after it" : "");
    return 0;
}

void snap_free(struct node *n)
{
    free(n->incoming_snap);
    n->incoming_snap = NULL;
    n->incoming_snap_len = 0;
    n->incoming_meta = (struct snapfile_meta){0};
}
