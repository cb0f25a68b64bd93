/* raft.h - the Raft consensus core of raftd, as a pure state machine.
 *
 * The core owns no sockets, files, clocks, threads or global state and never
 * calls random(): the caller hands in the current time (a monotonic
 * millisecond counter of its choice) with every call, supplies a random
 * number generator through raft_config, delivers received messages, and asks
 * for a "ready" batch of work to do:
 *
 *     raft_ready(r, &rd);      what the core wants done, in this order:
 *       1. persist rd.hard_state (if rd.hard_state_changed) and rd.entries
 *          (discarding any stored entries at or after rd.entries_first);
 *       2. send rd.msgs (only after step 1 is durable);
 *       3. apply rd.committed to the state machine, in order;
 *       4. serve rd.reads once the applied index reaches each read's index;
 *       5. raft_advance(r, &rd) (or raft_advance_unsynced(), see there).
 *
 * This is the contract of etcd's raft RawNode (Ready/Advance) and of
 * cowsql/raft's raft_step; it is what lets raft-sim run the very same code
 * against a simulated network and clock.
 *
 * When rd.snapshot_install is set, step 1 starts with installing that
 * snapshot (see struct raft_ready), before anything else of the batch.
 *
 * Algorithm: Raft paper (Ongaro & Ousterhout 2014) Figure 2 and section 5;
 * Ongaro's dissertation (2014) for pre-vote (9.6), check-quorum and leader
 * stickiness (6.2, 4.2.3), leadership transfer (3.10), ReadIndex (6.4) and
 * snapshots with log compaction (paper 7, dissertation chapter 5).
 */
#ifndef RAFT_H
#define RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t raft_id;    /* node id; members have ids >= 1 */
typedef uint64_t raft_term;
typedef uint64_t raft_index; /* log index; the first entry has index 1 */
typedef uint64_t raft_time;  /* milliseconds on the caller's monotonic clock */

#define RAFT_NONE ((raft_id)0)
#define RAFT_MAX_MEMBERS 16

/* Error codes returned by the API (negative, 0 is success). */
#define RAFT_ERRORS(X)                                                   \
    X(RAFT_ENOMEM, -1, "out of memory")                                  \
    X(RAFT_EINVAL, -2, "invalid argument")                               \
    X(RAFT_ENOTLEADER, -3, "this node is not the leader")                \
    X(RAFT_ETRANSFER, -4, "leadership transfer in progress")             \
    X(RAFT_ETOOBIG, -5, "entry too large")                               \
    X(RAFT_ENOTREADY, -6, "leader has not yet committed in its term")    \
    X(RAFT_EBUSY, -7, "a configuration change is still in progress")     \
    X(RAFT_ENOQUORUM, -8, "the new configuration would have no majority " \
      "of members heard from lately")
enum {
#define RAFT_ERR_ENUM(name, value, text) name = value,
    RAFT_ERRORS(RAFT_ERR_ENUM)
#undef RAFT_ERR_ENUM
};
const char *raft_strerror(int err);

enum raft_role {
    RAFT_FOLLOWER,
    RAFT_PRECANDIDATE, /* pre-vote phase: asks for votes without a new term */
    RAFT_CANDIDATE,
    RAFT_LEADER,
};
const char *raft_role_name(enum raft_role role); /* "Follower", ... */

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0, /* client command, opaque to the core */
    RAFT_ENTRY_NOOP = 1,   /* appended by a new leader (paper 8, diss. 6.4) */
    RAFT_ENTRY_CONFIG = 2, /* a configuration (raft_configuration_encode);
                              in effect from the moment it is in the log
                              (dissertation 4.1) */
};

struct raft_entry {
    raft_term term;
    uint8_t type;   /* enum raft_entry_type */
    uint32_t len;
    uint8_t *data;  /* owned by whoever owns the entry; may be NULL if len 0 */
};

enum raft_msg_type {
    RAFT_MSG_VOTE = 1,        /* RequestVote (or pre-vote) */
    RAFT_MSG_VOTE_RESP,       /* its answer */
    RAFT_MSG_APPEND,          /* AppendEntries; heartbeats carry no entries */
    RAFT_MSG_APPEND_RESP,     /* its answer */
    RAFT_MSG_TIMEOUT_NOW,     /* leadership transfer: start an election now */
    RAFT_MSG_SNAPSHOT,        /* InstallSnapshot (paper 7); the host attaches
                                 the snapshot's bytes. Answered with an
                                 APPEND_RESP (success, match_index). */
};

struct raft_configuration; /* membership, below */

/* One message. Requests (VOTE, APPEND, TIMEOUT_NOW, SNAPSHOT) expect at most one
 * response from the receiver. Fields not used by a type are zero. */
struct raft_msg {
    enum raft_msg_type type;
    raft_id from, to;
    raft_term term;      /* sender's term (for pre-vote: the term it would use) */
    uint64_t ctx;        /* opaque to the core: a request's ctx is copied
                            into its response, so a transport can match
                            answers to the requests it is holding open */

    /* VOTE */
    raft_index last_index; /* candidate's last log index */
    raft_term last_term;   /* candidate's last log term */
    bool prevote;          /* VOTE and VOTE_RESP: pre-vote round */
    bool transfer;         /* VOTE: election caused by leadership transfer */
    /* VOTE_RESP */
    bool granted;

    /* APPEND */
    raft_index prev_index;       /* APPEND_RESP: echoes the request's */
    raft_term prev_term;
    raft_index commit;           /* leader's commit index */
    size_t n_entries;
    struct raft_entry *entries;  /* borrowed from the sender's log */
    uint64_t seq;                /* APPEND/APPEND_RESP: heartbeat round, for
                                    ReadIndex and check-quorum */
    /* APPEND_RESP */
    bool success;
    raft_index match_index; /* success: last index known to match */
    raft_index hint_index;  /* reject: first index of hint_term in the
                               follower's log, or its last index + 1 */
    raft_term hint_term;    /* reject: term of the follower's entry at
                               prev_index, 0 if it has none */

    /* SNAPSHOT (also uses commit and seq): the last entry the sender's
     * snapshot covers. A host that has meanwhile taken a newer snapshot may
     * send that one instead, with its index and term here. */
    raft_index snapshot_index;
    raft_term snapshot_term;
    /* SNAPSHOT, received: the configuration the snapshot was taken under,
     * which the host decodes from the snapshot and attaches (borrowed; NULL
     * for a snapshot without one: the receiver's configuration stands). */
    const struct raft_configuration *snapshot_configuration;
};

/* What must be durable: the paper's persistent state besides the log. */
struct raft_hard_state {
    raft_term term;
    raft_id vote;       /* RAFT_NONE if not voted in this term */
    raft_index commit;  /* not required for safety; saves re-applying */
};

/* Things that happened, for logging/tracing (the journal's RAFT_EVENT). */
enum raft_note_type {
    RAFT_NOTE_ELECTION_TIMEOUT,   /* follower/candidate timer fired */
    RAFT_NOTE_PREVOTE_STARTED,
    RAFT_NOTE_PREVOTE_FAILED,     /* pre-vote round got no quorum in time */
    RAFT_NOTE_ELECTION_STARTED,   /* term incremented, voted for self */
    RAFT_NOTE_VOTE_GRANTED,       /* we granted peer our (pre-)vote */
    RAFT_NOTE_VOTE_DENIED,        /* we denied peer; reason in .reason */
    RAFT_NOTE_VOTE_RECEIVED,      /* peer granted us its (pre-)vote */
    RAFT_NOTE_BECAME_LEADER,
    RAFT_NOTE_BECAME_FOLLOWER,
    RAFT_NOTE_BECAME_CANDIDATE,
    RAFT_NOTE_LEADER_CHANGED,     /* .leader is the new leader (or NONE) */
    RAFT_NOTE_STEPPED_DOWN,       /* leader lost quorum or saw higher term */
    RAFT_NOTE_TERM_CHANGED,
    RAFT_NOTE_TRANSFER_STARTED,   /* leader hands off to .peer */
    RAFT_NOTE_TRANSFER_DONE,      /* leadership went to .peer */
    RAFT_NOTE_TRANSFER_ABORTED,
    RAFT_NOTE_LOG_TRUNCATED,      /* conflicting suffix from .index removed */
    RAFT_NOTE_CATCHING_UP,        /* leader probing/catching up .peer */
    RAFT_NOTE_FOLLOWER_CAUGHT_UP, /* .peer reached leader's last index */
    RAFT_NOTE_SNAPSHOT_SENT,      /* .peer is sent the snapshot at .index */
    RAFT_NOTE_SNAPSHOT_INSTALLED, /* we take the leader's snapshot at .index */
    RAFT_NOTE_SNAPSHOT_FAILED,    /* .peer did not answer the snapshot in time */
    RAFT_NOTE_DIVERGED,           /* refused .peer's message: it contradicts
                                     our committed entry at .index (see
                                     "Divergence" below) */
    RAFT_NOTE_CONFIGURATION,      /* the configuration in effect changed: the
                                     one of the entry at .index (0: the one
                                     the log starts from) */
    RAFT_NOTE_LEARNER_CAUGHT_UP,  /* leader: learner .peer finished a
                                     catch-up round within an election
                                     timeout (diss. 4.2.1): it may vote */
    RAFT_NOTE_REMOVED,            /* a configuration without this node was
                                     committed; a leader steps down */
    RAFT_NOTE_LEADER_GONE,        /* the host says leader .peer is gone
                                     (raft_leader_gone(); why in .reason) */
};
const char *raft_note_name(enum raft_note_type type); /* "became_leader", ... */

struct raft_note {
    enum raft_note_type type;
    raft_term term;       /* our term after the event */
    enum raft_role role;  /* our role after the event */
    raft_id leader;       /* known leader after the event, or RAFT_NONE */
    raft_id peer;         /* the other node involved, if any */
    raft_index index;     /* log index involved, if any */
    bool prevote;         /* vote notes: was it a pre-vote */
    const char *reason;   /* static string, may be NULL */
    raft_term entry_term;      /* DIVERGED: the term of our entry at .index */
    raft_term peer_entry_term; /* DIVERGED: the term .peer's message gives it */
};

/* A confirmed ReadIndex request: serve it once applied >= index. */
struct raft_read {
    uint64_t id;
    raft_index index;
};

/* Membership (dissertation chapter 4): the servers of a configuration,
 * voters and learners. A learner receives the log but does not vote and
 * does not count in any majority, until it is promoted. The address is
 * opaque to the core: the host's way to reach the member (raftd: its URL).
 * Configurations change one server at a time (dissertation 4.1: any two
 * majorities of successive configurations then overlap), through
 * RAFT_ENTRY_CONFIG entries: each server uses the latest configuration in
 * its log, committed or not. */
enum raft_member_role { RAFT_VOTER = 0, RAFT_LEARNER = 1 };
#define RAFT_ADDRESS_MAX 255
struct raft_member {
    raft_id id;
    uint8_t role;                       /* enum raft_member_role */
    char address[RAFT_ADDRESS_MAX + 1]; /* NUL-terminated, may be "" */
};
struct raft_configuration {
    unsigned n;
    struct raft_member members[RAFT_MAX_MEMBERS]; /* distinct ids */
};
/* The encoding of a configuration, in RAFT_ENTRY_CONFIG entries and
 * snapshots: version byte 1, member count, then per member the id (u64,
 * little-endian), the role, the address length and the address. */
#define RAFT_CONFIGURATION_MAX_BYTES \
    (2 + RAFT_MAX_MEMBERS * (8 + 1 + 1 + RAFT_ADDRESS_MAX))
/* Returns the length written (buf has at least
 * RAFT_CONFIGURATION_MAX_BYTES), or RAFT_EINVAL for an invalid one. */
int raft_configuration_encode(const struct raft_configuration *c,
                              uint8_t *buf);
/* Strict: RAFT_EINVAL unless data is exactly one valid configuration
 * (ids >= 1 and distinct, at least one voter, known roles). */
int raft_configuration_decode(const void *data, size_t len,
                              struct raft_configuration *c);
const struct raft_member *raft_configuration_find(
    const struct raft_configuration *c, raft_id id);
unsigned raft_configuration_voters(const struct raft_configuration *c);

struct raft_config {
    raft_id id;                        /* this node */
    /* The configuration the log starts from (bootstrap, or the snapshot's:
     * see raft_restore_configuration()): configuration if it is given,
     * else members as voters without addresses. */
    const struct raft_configuration *configuration;
    raft_id members[RAFT_MAX_MEMBERS]; /* all voters, including id */
    unsigned n_members;
    unsigned heartbeat_ms;             /* leader sends AppendEntries this often */
    unsigned election_timeout_min_ms;  /* timeout drawn uniformly from */
    unsigned election_timeout_max_ms;  /*   [min, max) on every reset */
    bool prevote;                      /* dissertation 9.6 (default on) */
    bool check_quorum;                 /* dissertation 6.2 (default on) */
    bool fast_first_election;          /* the first election timeout after
                                          raft_start() is drawn from
                                          [heartbeat, 2 * heartbeat), not
                                          [min, max): a fresh cluster elects
                                          within a few heartbeats (etcd's
                                          advanceTicksForElection). Used only
                                          with prevote and check_quorum on,
                                          which make it harmless: a node
                                          started into a running cluster asks
                                          for pre-votes that everyone who
                                          hears the leader refuses (default
                                          off) */
    unsigned max_entries_per_msg;      /* batching bound (default 64) */
    size_t max_bytes_per_msg;          /* batching bound (default 1 MiB) */
    unsigned max_inflight_msgs;        /* pipelining bound per follower (default 8) */
    unsigned commit_notify_ms;         /* a follower not sent entries meanwhile
                                          learns a new commit index after at
                                          most this long (default 2; 0: at once;
                                          at most heartbeat_ms) */
    unsigned snapshot_timeout_ms;      /* a snapshot sent but not answered for
                                          this long is given up and sent
                                          again (0: twice the maximum
                                          election timeout);
                                          raft_report_unreachable ends it
                                          at once */
    /* Randomness comes from outside: returns uniformly random 64 bits. */
    uint64_t (*random)(void *arg);
    void *random_arg;
};
/* Fill in defaults for everything but id, members and random. */
void raft_config_defaults(struct raft_config *cfg);

struct raft; /* opaque */

/* Create a core for cfg. Returns NULL on bad config (sets *err) or no memory. */
struct raft *raft_new(const struct raft_config *cfg, const char **err);
void raft_free(struct raft *r);

/* Restore state loaded from disk, before the first raft_start(). Entries
 * are copied; they are the log from index first_index on. A node restarted
 * from a snapshot passes first_index = snapshot index + 1 and prev_term =
 * snapshot term (the state machine already holds the snapshot): commit and
 * applied then start at the snapshot index. Without a snapshot first_index
 * is 1 and prev_term 0. */
int raft_restore(struct raft *r, const struct raft_hard_state *hs,
                 raft_index first_index, raft_term prev_term,
                 const struct raft_entry *entries, size_t n);

/* Change the timing at time now (a reload): heartbeat_ms and the election
 * timeout range [min_ms, max_ms), with raft_config's rules (0 < heartbeat
 * < min <= max). They apply at once: a follower or candidate draws a new
 * election timeout from now (as if it had just heard from its leader); a
 * leader sends
 * its next heartbeat within the new heartbeat_ms, and check-quorum and
 * transfer deadlines keep their start but use the new length only from
 * their next round. Returns 0, or RAFT_EINVAL changing nothing. */
int raft_set_timing(struct raft *r, raft_time now, unsigned heartbeat_ms,
                    unsigned election_timeout_min_ms,
                    unsigned election_timeout_max_ms);

/* Start as a follower at time now (arms the election timer; see
 * raft_config.fast_first_election; the only voter of its configuration
 * campaigns at its first tick). */
void raft_start(struct raft *r, raft_time now);

/* Advance time: fires election/heartbeat/check-quorum timers due by now. */
void raft_tick(struct raft *r, raft_time now);
/* The time at which raft_tick next has something to do. */
raft_time raft_deadline(const struct raft *r);

/* Deliver a message received from a peer. Malformed messages, and answers
 * (VOTE_RESP, APPEND_RESP) from a node that is not a member, are ignored
 * (returns RAFT_EINVAL), never trusted. Requests are handled whoever sends
 * them (dissertation 4.1): a leader that joined while this node's log
 * lagged is followed, so that it brings the configuration in; votes go
 * only to members of this node's configuration (voters, or learners that
 * a newer configuration may have promoted), or of one before it that an
 * uncommitted configuration entry may yet give way to, back to the latest
 * committed one; a stranger to all of them is refused without effect. */
int raft_receive(struct raft *r, raft_time now, const struct raft_msg *m);

/* Leader only: append a client command. *index gets its log index. Returns
 * RAFT_ENOTLEADER (see raft_leader()), RAFT_ETRANSFER, or 0. */
int raft_propose(struct raft *r, raft_time now, const void *data, size_t len,
                 raft_index *index);

/* Leader only: linearizable read (dissertation 6.4). The read with this id
 * appears in a later ready's reads once leadership is confirmed. */
int raft_read_index(struct raft *r, raft_time now, uint64_t id);

/* Leader only: hand leadership to target, a voter (RAFT_NONE: the most
 * up-to-date voter; RAFT_EINVAL for a learner or a non-member). Proposals
 * are refused until it ends or is aborted after one election timeout. */
int raft_transfer_leadership(struct raft *r, raft_time now, raft_id target);

/* Not leader: someone who knows (the leader, answering a forwarded
 * proposal or read) says the entry (index, term) is committed. If our
 * entry at index has that term, Log Matching makes our log the leader's up
 * to index, so we commit that far without waiting for an AppendEntries.
 * Returns true if the commit index moved. */
bool raft_learn_commit(struct raft *r, raft_index index, raft_term term);

/* Not leader: the election timer fires now (an operator's fault injection,
 * for teaching): a real election starts at once, without pre-vote, and is
 * flagged like a leadership transfer's (diss. 3.10), so that voters set
 * aside their leader lease (diss. 4.2.3) and the students see the term
 * grow beside a healthy leader. Returns RAFT_EINVAL on a leader, a
 * learner or a removed node (nothing happens), else 0. */
int raft_campaign(struct raft *r, raft_time now);

/* The transport could not deliver to id: stop streaming to it and probe
 * (a snapshot being sent to it is given up, and sent again no sooner than
 * an election timeout later). */
void raft_report_unreachable(struct raft *r, raft_id id);

/* Not leader: the host has evidence that leader id's process is gone
 * (its machine refused a TCP connection to its port: nothing listens
 * there), long before the election timeout would say so. The node forgets
 * id as its leader and sets aside id's lease (diss. 4.2.3: it grants
 * votes again), and its election timer fires within one heartbeat, drawn
 * at random so that the followers that all saw it do not collide. Only
 * timing changes: pre-vote and the vote rules decide as always, and a
 * wrong report costs at most a pre-vote that the others refuse while they
 * hear from id. Returns RAFT_EINVAL (nothing done) unless this node is a
 * follower whose leader is id. why (a static string) is noted with
 * RAFT_NOTE_LEADER_GONE. */
int raft_leader_gone(struct raft *r, raft_time now, raft_id id,
                     const char *why);
/* Not leader: when this node last heard from its current leader (0: it
 * knows none, or has not heard from it since it started). */
raft_time raft_leader_contact(const struct raft *r);

/* Log compaction (paper 7): the host has durably saved a snapshot of its
 * state machine covering every entry up to index (index <= applied index).
 * The core frees those entries; the term of index is kept, and a follower
 * that needs any of them is sent the snapshot (RAFT_MSG_SNAPSHOT). Call it
 * between raft_advance() and the next raft_ready(). Returns 0 (also when
 * index is at or below the current snapshot: nothing to do) or RAFT_EINVAL
 * if index is beyond the applied index. */
int raft_compact(struct raft *r, raft_index index);

/* Work for the caller; see the top of this file. Pointers stay valid until
 * raft_advance(). hard_state_changed is set when term or vote changed;
 * hard_state.commit is informational and need not be synced on its own.
 * A read with index 0 failed (leadership was lost): retry elsewhere.
 *
 * snapshot_install: the leader's snapshot at (snapshot_index, snapshot_term)
 * replaces the state machine. Before anything else of this ready the host
 * makes it durable and loads it, so that a restart comes back from it; then
 * it drops its stored entries up to snapshot_index, and all of its stored
 * entries if snapshot_discard_log (the log restarts after the snapshot:
 * what followed locally conflicts with it). Committed entries handed out
 * by this or later readies follow the snapshot. */
struct raft_ready {
    bool snapshot_install;
    bool snapshot_discard_log;
    raft_index snapshot_index;
    raft_term snapshot_term;

    bool hard_state_changed;
    struct raft_hard_state hard_state;

    raft_index entries_first; /* index of entries[0]; storage must drop any
                                 stored entry >= entries_first first */
    size_t n_entries;
    const struct raft_entry *entries;

    size_t n_msgs;
    const struct raft_msg *msgs;

    raft_index committed_first; /* index of committed[0] */
    size_t n_committed;
    const struct raft_entry *committed;

    size_t n_reads;
    const struct raft_read *reads;

    size_t n_notes;
    const struct raft_note *notes;
};
bool raft_has_ready(const struct raft *r);
void raft_ready(struct raft *r, struct raft_ready *rd);
void raft_advance(struct raft *r, const struct raft_ready *rd);

/* Background syncing (dissertation 10.2.1: a leader may write its log in
 * parallel with replicating it): like raft_advance(), but rd's entries are
 * only written, not yet durable. The caller then holds back its successful
 * AppendEntries answers until everything written before them is durable,
 * and tells the core with raft_persisted(). A ready whose hard state changed
 * must still be durable before its messages go out and before advancing. */
void raft_advance_unsynced(struct raft *r, const struct raft_ready *rd);

/* Everything written up to index is durable. Ignored unless the log still
 * holds that index with this term (a later ready may have replaced it;
 * by Log Matching the same (index, term) means the same entries). A leader
 * counts itself toward commitment only up to what is durable. */
void raft_persisted(struct raft *r, raft_index index, raft_term term);

/* Divergence (defence in depth). Leader Completeness (paper 5.4.3, Figure
 * 3) makes every leader of our term or of a later one hold each entry we
 * know to be committed, so no AppendEntries or InstallSnapshot sent in such
 * a term can disagree with our log at or below our commit index. One that
 * does is proof of a forged message, a bug, or a corrupted disk (ours or
 * the sender's). "Disagree" means any of:
 *   - an AppendEntries entry at index <= commit whose term differs from
 *     that of our entry there;
 *   - an AppendEntries whose prev_index (>= 1) is <= commit with a
 *     prev_term other than our entry's there (0 claims nothing: a leader
 *     sends it when it compacted that entry away);
 *   - an InstallSnapshot whose last entry (snapshot_index) is <= commit
 *     with a snapshot_term other than our entry's there.
 * Where we no longer know the term (compacted into our snapshot) nothing
 * can be told. An InstallSnapshot at or below the commit index that agrees
 * is an old retransmit: answered as before (success, match_index = commit),
 * quietly. Messages of an older term are not checked: a stale leader may
 * lack committed entries, and it is refused as stale anyway.
 *
 * Such a message is refused before it can change anything: term, vote,
 * leader, election timer, log, commit index and state machine stay as they
 * were (for the protocol it is a lost message). The core answers it with an
 * APPEND_RESP of our term with success false and seq 0, which no leader acts
 * on (seq 0 marks an answer that acknowledges nothing, as to a stale
 * leader): a genuine leader whose follower's disk was corrupted neither
 * backs up nor probes it faster than once a heartbeat. Every refusal is
 * noted (RAFT_NOTE_DIVERGED), and the first evidence is kept for the life
 * of the struct raft. */
struct raft_divergence {
    raft_index index;           /* the log index the message contradicts */
    raft_term entry_term;       /* the term of our committed entry there */
    raft_term peer_entry_term;  /* the term the message gives it */
    raft_id peer;               /* the message's sender (m->from) */
    raft_term msg_term;         /* the term it was sent in */
    const char *what;           /* static: the message and field, in the
                                   paper's words ("AppendEntries entries[]",
                                   "AppendEntries prevLogTerm",
                                   "InstallSnapshot lastIncludedTerm") */
    uint64_t refused;           /* messages refused for divergence so far */
};
/* True once a message was refused for divergence; *first (may be NULL)
 * then gets the first evidence, with the count of all refusals. */
bool raft_diverged(const struct raft *r, struct raft_divergence *first);

/* ---- membership ---- */

/* Before raft_restore(): the configuration as of the snapshot the host
 * restored from (its own record of the snapshot), in place of
 * raft_config's. Entries given to raft_restore() may change it further. */
int raft_restore_configuration(struct raft *r,
                               const struct raft_configuration *c);

/* Leader only: append a configuration entry that makes next the
 * configuration. next must differ from the current one by exactly one
 * step: a new member added as a learner, a learner promoted to voter, a
 * member removed, or a member's address changed (dissertation 4.1 and
 * 4.2.1: new servers join without a vote). Returns RAFT_ENOTLEADER,
 * RAFT_ETRANSFER, RAFT_ENOTREADY (no entry of this term committed yet:
 * dissertation 4.1's fix for single-server changes), RAFT_EBUSY (the
 * previous change is not committed yet), RAFT_ENOQUORUM (the voters of
 * next heard from within three heartbeats, with the leader, are no
 * majority of next: the change would stall the cluster), RAFT_EINVAL
 * (not one valid step), or 0 with *index the entry's index. */
int raft_change_configuration(struct raft *r, raft_time now,
                              const struct raft_configuration *next,
                              raft_index *index);

/* The configuration in effect: the latest in the log, committed or not;
 * *index (may be NULL) gets its entry's index (0: the one the log starts
 * from). */
const struct raft_configuration *raft_configuration(const struct raft *r,
                                                    raft_index *index);
/* The configuration as of entry index (for a snapshot at index; index
 * from the snapshot index to the last index). RAFT_EINVAL if it is not
 * known there. */
int raft_configuration_at(const struct raft *r, raft_index index,
                          struct raft_configuration *out);
/* Leader only: learner id finished a catch-up round within an election
 * timeout (dissertation 4.2.1), so promoting it will not stall commits. */
bool raft_learner_caught_up(const struct raft *r, raft_id id);
/* Leader only: when member id last answered it (0 if not a member). */
raft_time raft_last_heard(const struct raft *r, raft_id id);

/* Read-only accessors. */
raft_id raft_self(const struct raft *r);
enum raft_role raft_role(const struct raft *r);
raft_term raft_current_term(const struct raft *r);
raft_id raft_voted_for(const struct raft *r);
raft_id raft_leader(const struct raft *r);
raft_index raft_commit_index(const struct raft *r);
raft_index raft_applied_index(const struct raft *r);
raft_index raft_last_index(const struct raft *r);
raft_term raft_last_term(const struct raft *r);
/* The last entry covered by the snapshot the log starts after (0, 0 if the
 * log was never compacted); the first entry held is snapshot index + 1. */
raft_index raft_snapshot_index(const struct raft *r);
raft_term raft_snapshot_term(const struct raft *r);
/* Term of the entry at index, or 0 if it is not in the log. */
raft_term raft_term_at(const struct raft *r, raft_index index);
/* The entry at index (borrowed), or NULL. */
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index);
/* Leader only: replication progress of a member (0 if unknown). */
raft_index raft_match_index(const struct raft *r, raft_id id);
/* Leader only: a snapshot was sent to id and is not yet answered. */
bool raft_sending_snapshot(const struct raft *r, raft_id id);

#endif
