/* internal.h - the state of the Raft core, shared by its source files.
 *
 * Nothing here is visible to users of raft.h. Naming follows the paper's
 * Figure 2 where it can (currentTerm -> term, votedFor -> vote, ...).
 */
#ifndef RAFT_INTERNAL_H
#define RAFT_INTERNAL_H

#include "log.h"
#include "raft.h"

#define RAFT_MAX_INFLIGHT 64

/* Replication state of one follower, kept by the leader (etcd design.md):
 * PROBE sends one AppendEntries at a time until the follower's log is found
 * to match; REPLICATE streams up to max_inflight_msgs batches optimistically;
 * SNAPSHOT waits for the answer to an InstallSnapshot (the follower needs
 * entries the leader has compacted away) and sends no entries meanwhile. */
enum progress_state { PROGRESS_PROBE, PROGRESS_REPLICATE, PROGRESS_SNAPSHOT };

struct progress {
    raft_id id;
    bool voter;               /* counts in majorities (quorum.c) */
    raft_index match;         /* highest index known to be replicated */
    raft_index next;          /* next index to send */
    enum progress_state state;
    bool probe_sent;          /* PROBE: a probe is outstanding */
    bool recent_active;       /* heard from since the last quorum check */
    uint64_t acked_seq;       /* highest heartbeat round acknowledged */
    raft_index match_at_tick; /* match at the previous heartbeat (stall check) */
    raft_index commit_told;   /* highest commit index this follower was sent */
    raft_index lost_hint;     /* it said its log ends before match: acted on
                                 at the next heartbeat unless it succeeds */
    bool catching_up;         /* behind; "caught up" is noted when it ends */
    raft_index pending_snapshot; /* SNAPSHOT: index of the snapshot sent */
    raft_time snapshot_deadline; /* SNAPSHOT: give up waiting at */
    raft_time snapshot_retry_at; /* after a failed send: not before */
    /* inflight window: last index of each unacknowledged batch, a ring */
    raft_index inflight[RAFT_MAX_INFLIGHT];
    unsigned inflight_start, inflight_count;
    /* elections */
    bool vote_responded, vote_granted;
    raft_time last_heard;     /* when it last answered this leader */
    /* a learner's catch-up rounds (diss. 4.2.1): reach round_target (the
     * leader's last index when the round began) within an election
     * timeout of round_start */
    raft_index round_target;
    raft_time round_start;
    unsigned rounds;
    bool caught_up;
};

/* A ReadIndex request waiting for its heartbeat round to be acknowledged. */
struct pending_read {
    uint64_t id;
    raft_index index;
    uint64_t seq;
};

/* A message in the outbox; APPEND entries are attached in raft_ready(). */
struct outbox {
    struct raft_msg *msgs;
    size_t n, cap;
};

struct raft {
    struct raft_config cfg;
    raft_time now;

    /* Persistent state (Figure 2) and what storage has acknowledged. */
    raft_term term;
    raft_id vote;
    struct raft_log log;
    raft_index stable;         /* entries <= stable are durable */
    raft_index unstable_from;  /* first index not yet handed to storage */
    raft_term saved_term;      /* hard state last handed to storage */
    raft_id saved_vote;

    /* Volatile state. */
    enum raft_role role;
    raft_id leader;
    raft_index commit;
    raft_index applied;

    /* Timers (absolute times on the caller's clock). */
    raft_time election_deadline;
    raft_time heartbeat_deadline;
    raft_time quorum_deadline;
    raft_time last_leader_contact; /* for leader stickiness (diss. 4.2.3) */

    /* Leader state: one progress per member, self included. */
    struct progress prs[RAFT_MAX_MEMBERS];
    unsigned n_prs;
    bool broadcast_pending; /* send new entries to followers in raft_ready */
    uint64_t seq;           /* heartbeat round, for ReadIndex */
    raft_time commit_notify_at; /* followers not told the commit yet are
                                   sent it then (0: none waiting) */

    /* ReadIndex. */
    struct pending_read *pending_reads;
    size_t n_pending_reads, cap_pending_reads;
    struct raft_read *reads;
    size_t n_reads, cap_reads;

    /* Leadership transfer. */
    raft_id transfer_target;
    raft_time transfer_deadline;
    bool transfer_sent;     /* TimeoutNow already sent */

    /* Output not yet handed out or not yet advanced past. */
    struct outbox out;
    struct raft_note *notes;
    size_t n_notes, cap_notes;
    raft_index ready_last;   /* last entry index handed out in ready */
    raft_index ready_applied;

    /* A leader's snapshot accepted but not yet handed to the host in a
     * ready (snapshot.c); discard_log: the host must drop its stored log. */
    bool snapshot_pending, snapshot_discard_log;

    /* The first message refused for contradicting a committed entry, and
     * how many were (raft.h, "Divergence"); refused 0: none yet. */
    struct raft_divergence diverged;

    /* Membership (membership.c): the configuration in effect, the latest
     * in the log (conf_index, 0 if it is base_conf), and the one the log
     * starts from (bootstrap, or as of the snapshot at log.first - 1). */
    struct raft_configuration conf;
    raft_index conf_index;
    struct raft_configuration base_conf;
    bool removed_noted;     /* RAFT_NOTE_REMOVED given for conf_index */
};

/* raft.c */
/* A leader's API call at time now: 0 if it may act, or RAFT_ENOTLEADER /
 * RAFT_ETRANSFER (it is handing leadership over). Advances r->now. */
int leader_may_act(struct raft *r, raft_time now);
struct progress *raft_progress(struct raft *r, raft_id id);
struct raft_msg *raft_send(struct raft *r, enum raft_msg_type type, raft_id to);
struct raft_note *raft_note(struct raft *r, enum raft_note_type type,
                            raft_id peer, raft_index index, const char *reason);
/* reason: why a leader steps down (NULL: it saw a higher term). */
void raft_become_follower(struct raft *r, raft_term term, raft_id leader,
                          const char *reason);
void raft_become_candidate(struct raft *r);
void raft_become_precandidate(struct raft *r);
void raft_become_leader(struct raft *r);
void raft_reset_election_timer(struct raft *r);
void raft_set_leader(struct raft *r, raft_id leader);
/* A message from the leader of our term (AppendEntries, InstallSnapshot):
 * follow it and reset the election timer. False if we lead this term
 * ourselves (two leaders in one term cannot be: ignore the message). */
bool raft_heed_leader(struct raft *r, const struct raft_msg *m);
/* m contradicts our committed entry at index (term ours there, theirs in
 * m): keep the first evidence and note it. The caller refuses m. */
void raft_note_divergence(struct raft *r, const struct raft_msg *m,
                          raft_index index, raft_term ours, raft_term theirs,
                          const char *what);

/* membership.c */
/* Entry index was appended to the log: a configuration takes effect. */
void membership_on_append(struct raft *r, raft_index index,
                          const struct raft_entry *e);
/* Entries from index on were dropped: an uncommitted configuration among
 * them is undone. */
void membership_on_truncate(struct raft *r, raft_index index);
/* The log now starts after index: compaction (conf NULL), or a leader's
 * snapshot installed (conf: the one it was taken under, NULL if it carries
 * none; log_discarded: the log after it is gone too). The configuration
 * as of index becomes the base. */
void membership_on_compact(struct raft *r, raft_index index,
                           const struct raft_configuration *conf,
                           bool log_discarded);
/* The commit index moved: a leader whose removal is committed steps down. */
void membership_on_commit(struct raft *r);
/* Leader: pr acknowledged up to its match index (catch-up rounds). */
void membership_on_progress(struct raft *r, struct progress *pr);
/* Leader taking office, or a new member in its progress: catch-up rounds
 * start now. */
void membership_start_round(struct raft *r, struct progress *pr);
bool membership_is_voter(const struct raft *r, raft_id id);
/* May this node start an election: a voter of its configuration, or one
 * whose removal from it is not committed yet (a voter of the one before)? */
bool membership_may_campaign(const struct raft *r);
/* Is id a member of the configuration in effect, or of any before it back
 * to the latest committed one (any it may yet return to)? Votes go to
 * those only; anyone else is a stranger. */
bool membership_knows(const struct raft *r, raft_id id);

/* quorum.c: every majority, over the voters of the configuration */
enum quorum_result { QUORUM_PENDING, QUORUM_WON, QUORUM_LOST };
unsigned quorum_size(const struct raft *r);       /* a majority of voters */
bool quorum_is_voter(const struct raft *r, raft_id id);
/* The (pre-)votes recorded in the progress entries. */
enum quorum_result quorum_tally(const struct raft *r);
/* The highest index stored on a majority (the leader's: once durable). */
raft_index quorum_committed_index(const struct raft *r);
/* Check-quorum: a majority heard from since the last check (the leader
 * counts itself); starts the next period (clears recent_active). */
bool quorum_recently_active(struct raft *r);
/* ReadIndex: a majority acknowledged heartbeat round seq or a later one. */
bool quorum_acked(const struct raft *r, uint64_t seq);

/* election.c */
void election_tick(struct raft *r);
void election_start(struct raft *r, bool transfer);
void election_recv_vote(struct raft *r, const struct raft_msg *m);
void election_recv_vote_resp(struct raft *r, const struct raft_msg *m);
void election_check_quorum(struct raft *r);

/* replication.c */
void replication_tick(struct raft *r);
void replication_send_append(struct raft *r, struct progress *pr);
void replication_broadcast(struct raft *r);
void replication_heartbeat(struct raft *r);
void replication_send_commit(struct raft *r);
void replication_recv_append(struct raft *r, const struct raft_msg *m);
/* An AppendEntries of our term or a later one that contradicts a committed
 * entry: refused and noted (raft.h, "Divergence"); true if so. */
bool replication_refuse_divergent(struct raft *r, const struct raft_msg *m);
void replication_recv_append_resp(struct raft *r, const struct raft_msg *m);
void replication_maybe_commit(struct raft *r);
int replication_append_local(struct raft *r, uint8_t type, const void *data,
                             size_t len, raft_index *index);

/* progress.c */
void progress_reset(struct progress *pr, raft_index last_index);
void progress_become_probe(struct progress *pr);
void progress_become_replicate(struct progress *pr);
bool progress_inflight_full(const struct progress *pr, unsigned max);
void progress_inflight_add(struct progress *pr, raft_index last);
void progress_inflight_free_to(struct progress *pr, raft_index index);

/* readindex.c */
void readindex_on_ack(struct raft *r);
/* Reads wait for a heartbeat round and none is out: start one now. */
bool readindex_round_due(const struct raft *r);
void readindex_fail_all(struct raft *r);

/* snapshot.c */
void snapshot_send(struct raft *r, struct progress *pr);
void snapshot_recv(struct raft *r, const struct raft_msg *m);
/* The same for an InstallSnapshot (its last entry). */
bool snapshot_refuse_divergent(struct raft *r, const struct raft_msg *m);
/* The leader heard from pr: leaves SNAPSHOT state once the follower has the
 * snapshot (returns true while it still waits). */
bool snapshot_progress_waiting(struct raft *r, struct progress *pr);
void snapshot_tick(struct raft *r, struct progress *pr);
/* The transport failed to deliver the snapshot: probe, retry later. */
void snapshot_failed(struct raft *r, struct progress *pr);

/* transfer.c */
void transfer_tick(struct raft *r);
void transfer_on_progress(struct raft *r, struct progress *pr);
void transfer_recv_timeout_now(struct raft *r, const struct raft_msg *m);
void transfer_end(struct raft *r, enum raft_note_type how);

#endif
