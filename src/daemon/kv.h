/* kv.h - the replicated key-value state machine behind the etcd v2 keys API.
 *
 * A pure, deterministic data structure without I/O: the daemon applies
 * committed log entries to it in log order, and serves reads and watches
 * from it. Two stores fed the same sequence of kv_apply() calls are in the
 * same state and produce byte-identical results. Semantics, JSON shapes,
 * status and error codes are those of the etcd v2 store (etcd 2.x, 3.4 with
 * --enable-v2); doc/kv.md lists the few deliberate differences.
 *
 * Results are complete HTTP answers: status, a JSON body (ending in "\n" as
 * etcd's do) and the store index for the X-Etcd-Index header.
 *
 * Not thread-safe: one thread owns a store. Out of memory aborts (a state
 * machine that skipped a command would silently diverge from its peers).
 */
#ifndef RAFTD_KV_H
#define RAFTD_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Events kept for watches with a waitIndex (etcd's EventHistory size). */
#define KV_HISTORY 1000

/* etcd v2 error codes (v2error). kv_error() knows their messages and HTTP
 * status: 100 -> 404; 101, 105 -> 412; 102, 108 -> 403; 110 -> 401;
 * 300, 301 -> 500; every other code -> 400 (as in etcd, 104 and 107 too). */
enum kv_ecode {
    KV_E_KEY_NOT_FOUND = 100,
    KV_E_TEST_FAILED = 101,     /* "Compare failed" */
    KV_E_NOT_FILE = 102,
    KV_E_NOT_DIR = 104,
    KV_E_NODE_EXIST = 105,      /* "Key already exists" */
    KV_E_ROOT_RONLY = 107,
    KV_E_DIR_NOT_EMPTY = 108,
    KV_E_UNAUTHORIZED = 110,
    KV_E_VALUE_REQUIRED = 200,
    KV_E_PREV_VALUE_REQUIRED = 201,
    KV_E_TTL_NAN = 202,
    KV_E_INDEX_NAN = 203,
    KV_E_TIMEOUT_NAN = 205,
    KV_E_INVALID_FIELD = 209,
    KV_E_INVALID_FORM = 210,
    KV_E_REFRESH_VALUE = 211,
    KV_E_REFRESH_TTL_REQUIRED = 212,
    KV_E_RAFT_INTERNAL = 300,
    KV_E_LEADER_ELECT = 301,
    KV_E_WATCHER_CLEARED = 400,
    KV_E_EVENT_INDEX_CLEARED = 401,
};

struct kv;

struct kv *kv_new(void);
/* Frees the store. Pending watches are freed without their callback. */
void kv_free(struct kv *kv);
/* The store index: 0 for an empty store, +1 per successful modification. */
uint64_t kv_index(const struct kv *kv);
/* Number of keys (files, not directories) in the store, for /status. */
size_t kv_count(const struct kv *kv);
/* Number of watches waiting. */
size_t kv_watch_count(const struct kv *kv);

/* etcd v2's store statistics (GET /v2/stats/store): operations this store
 * saw since kv_new(), by etcd's operation name, and whether they succeeded
 * (an etcd error such as 100 or 101 counts as a failure). Writes count on
 * every node, as each applies them; gets (kv_get) on the node that served
 * them. A malformed command is counted nowhere. Not part of the replicated
 * state: neither snapshotted nor restored. */
struct kv_stats {
    uint64_t gets_success, gets_fail;
    uint64_t sets_success, sets_fail;
    uint64_t delete_success, delete_fail;
    uint64_t update_success, update_fail;
    uint64_t create_success, create_fail;
    uint64_t cas_success, cas_fail;   /* compareAndSwap */
    uint64_t cad_success, cad_fail;   /* compareAndDelete */
    uint64_t expire_count;            /* keys and directories expired */
};
void kv_get_stats(const struct kv *kv, struct kv_stats *out);

/* ---- Commands: what the HTTP layer proposes to the log -------------------
 *
 * A command carries the request's parameters; kv_apply() decides, exactly
 * as etcd's applier does, which operation it is:
 *
 *   KV_SET     prev_exist == 1, no prev_value/prev_index -> "update"
 *              prev_exist == 1 with prev_value/prev_index -> "compareAndSwap"
 *              prev_exist == 0                           -> "create"
 *                  (prev_value/prev_index ignored, as in etcd)
 *              prev_exist == -1, prev_value/prev_index   -> "compareAndSwap"
 *              otherwise                                 -> "set"
 *              dir: make a directory (value ignored) for set/create;
 *              update and compareAndSwap ignore dir.
 *   KV_CREATE_IN_ORDER (POST): create key/<20-digit store index> ("create").
 *   KV_DELETE  prev_value/prev_index -> "compareAndDelete", otherwise
 *              "delete" (dir, recursive; recursive implies dir).
 *
 * Keys are normalized as etcd does (path.Clean("/" + key)). Strings are C
 * strings: the HTTP layer must reject keys and values containing NUL bytes.
 * prev_value "" is compared literally; etcd's HTTP layer rejects an empty
 * prevValue with error 201, and ours should too.
 */
enum kv_op { KV_SET = 1, KV_CREATE_IN_ORDER = 2, KV_DELETE = 3, KV_SYNC = 4 };

struct kv_cmd {
    enum kv_op op;
    const char *key;        /* NULL for KV_SYNC */
    const char *value;      /* NULL if absent (a file gets "") */
    bool dir;
    const char *prev_value; /* NULL if absent */
    uint64_t prev_index;    /* 0 if absent */
    int prev_exist;         /* -1 absent, 0 false, 1 true */
    bool recursive;         /* delete */
    /* TTLs (etcd's TTLOptionSet). A write without has_ttl makes the node
     * permanent (as in etcd, an update without ttl clears it). */
    bool has_ttl;
    uint64_t ttl;           /* seconds, at most KV_TTL_MAX */
    bool refresh;           /* keep the value, change only the TTL, and
                               notify no watcher (the event still goes
                               into the history, marked "refresh") */
    int64_t now_ms;         /* the proposer's wall clock (Unix ms): the
                               expiration is now_ms + ttl s. For KV_SYNC,
                               the time the leader says it is. 0: none */
};

/* ---- Time and TTLs (Raft dissertation 6.4's point on clocks: time comes
 * through the log, never from a replica's own clock) ----------------------
 *
 * The store has a clock: the largest now_ms of the commands it applied.
 * Nothing expires on its own. A KV_SYNC command ("now" entry), which the
 * leader proposes when something is due by its clock, advances the clock
 * and expires the nodes whose expiration is at or before it (at most
 * KV_SYNC_MAX), oldest first (ties by createdIndex, then shallower first),
 * each as an "expire" event at its own index, as
 * etcd v2's DeleteExpiredKeys does. Every replica applies the same entries,
 * so the same keys expire at the same log positions everywhere; snapshots
 * carry the expirations and the clock.
 *
 * The ttl shown in an answer counts whole seconds left, rounded up, from
 * the command's own now_ms for writes and events, and for reads from the
 * later of the store's clock and the read clock (kv_set_read_clock). */
#define KV_TTL_MAX UINT64_C(315360000) /* ten years, in seconds */
/* At most this many nodes expire per KV_SYNC (the history keeps KV_HISTORY
 * events; the leader proposes another sync for the rest). */
#define KV_SYNC_MAX (KV_HISTORY / 2)

/* The wall clock (Unix ms) that reads compute a remaining ttl with. Only
 * the answer's "ttl" field depends on it: nothing expires by it. */
void kv_set_read_clock(struct kv *kv, int64_t unix_ms);
/* The earliest expiration (Unix ms) in the store, 0 if nothing has a TTL:
 * the leader proposes a KV_SYNC once its clock reaches it. */
int64_t kv_next_expiration(const struct kv *kv);
/* Nodes (keys and directories) with a TTL. */
size_t kv_ttl_count(const struct kv *kv);
/* The store's clock (Unix ms; 0 before any command carried a time). */
int64_t kv_clock(const struct kv *kv);

/* Whether s[0..n) is valid UTF-8 (no overlongs, no surrogates, at most
 * U+10FFFF). Keys and values must be: JSON, the only way out of the store,
 * cannot carry other bytes (see doc/kv.md). */
bool kv_utf8_valid(const char *s, size_t n);

/* The command as compact JSON (malloc'd, NUL-terminated; *len excludes the
 * NUL), e.g. {"op":"set","key":"/a","value":"1","prevExist":false}, or
 * {"op":"sync","now":"1765080000123"}. NULL if cmd is invalid (NULL key
 * for a write, no now_ms for a sync, ttl over KV_TTL_MAX, unknown op). */
char *kv_encode(const struct kv_cmd *cmd, size_t *len);

/* ---- Results ------------------------------------------------------------ */
struct kv_result {
    unsigned status;     /* HTTP status */
    unsigned error_code; /* etcd errorCode, 0 on success */
    char *body;          /* malloc'd JSON + "\n", NUL-terminated */
    size_t len;          /* of body, without the NUL */
    uint64_t index;      /* X-Etcd-Index */
};
/* Frees res->body and zeroes res (safe on a zeroed result). */
void kv_result_free(struct kv_result *res);

/* An etcd error result: {"errorCode":code,"message":...,"cause":cause,
 * "index":index} with etcd's status for code. cause may be NULL or "" (then
 * omitted). For the HTTP layer's own errors (209, 210, 300, 301, ...). */
void kv_error(unsigned code, const char *cause, uint64_t index,
              struct kv_result *res);

/* Apply a committed command (bytes from the log). Deterministic; never
 * crashes or leaks on arbitrary bytes: a malformed command yields error 209
 * "Invalid field" (400) and changes nothing. Successful modifications bump
 * the index by one, failures leave it alone. Watches matched by the change
 * have their callbacks called before this returns. Must not be called from
 * a watch callback. */
void kv_apply(struct kv *kv, const void *cmd, size_t len,
              struct kv_result *res);

/* Read (etcd GET without wait): action "get". A directory lists its direct
 * children (child directories without their contents), or the whole
 * subtree if recursive. sorted sorts each level by key; unsorted levels are
 * in creation order (etcd leaves that order random). Keys whose last
 * component starts with '_' are hidden from listings. */
void kv_get(struct kv *kv, const char *key, bool recursive, bool sorted,
            struct kv_result *res);

/* ---- Watches (GET ?wait=true), one-shot as in etcd v2 --------------------
 *
 * wait_index 0 means "the next change" (current index + 1). If the event
 * history holds an event with index >= wait_index on key (recursive: key or
 * below it; or a deleted directory above key), the watch is answered at once:
 * kv_watch() returns NULL and *res is that event (200, index = current store
 * index). A wait_index older than the history gives error 401 (400), also
 * with NULL. Otherwise *res is zeroed (status 0) and a handle is returned;
 * when a later kv_apply() produces a matching event, fn(arg, event) is
 * called once (event: 200, body as the modification's answer, index = the
 * event's index; valid only during the call) and the watch is gone: its
 * handle must not be used from then on, not even from inside fn.
 *
 * A callback may call kv_get(), kv_watch() and kv_watch_cancel() (of other
 * watches); not kv_apply() or kv_free().
 */
struct kv_watch;
typedef void (*kv_watch_fn)(void *arg, const struct kv_result *event);

struct kv_watch *kv_watch(struct kv *kv, const char *key, bool recursive,
                          uint64_t wait_index, kv_watch_fn fn, void *arg,
                          struct kv_result *res);
/* Cancel a waiting watch (the client went away); fn is not called. NULL is
 * ignored. */
void kv_watch_cancel(struct kv *kv, struct kv_watch *w);

/* ---- Snapshots (Raft log compaction; doc/storage.md) --------------------
 *
 * kv_snapshot(): the whole replicated state (every node with its value and
 * createdIndex/modifiedIndex, the store index, the event history that
 * watches with a waitIndex read) as malloc'd bytes. kv_restore() replaces
 * the store's state by such bytes and returns 0; on malformed bytes it
 * returns -1 and changes nothing. Waiting watches stay (they belong to this
 * node's clients) and fire on later changes. */
char *kv_snapshot(const struct kv *kv, size_t *len);
int kv_restore(struct kv *kv, const void *data, size_t len);

#endif
