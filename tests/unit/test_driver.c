/* test_driver.c - unit tests of the ready loop (src/raft/driver.h) that
 * raftd and raft-sim share: a real core, and a fake host whose operations
 * write down what the driver asked for, in order, and answer as each test
 * says (at once, later, or failing). */
#include <stdlib.h>
#include <string.h>

#include "../../src/raft/driver.h"
#include "../../src/raft/raft.h"
#include "test.h"

struct fake {
    struct raft *r;
    struct driver *d;
    char log[4096];      /* "begin write sync send:AR2 ..." */
    int install_rv, write_rv, sync_rv, wait_rv; /* the operations' answers */
    bool sync_now;       /* sync_now's answer */
    unsigned sync_starts;
    unsigned held;
    raft_time now;
};

static void say(struct fake *f, const char *word)
{
    size_t len = strlen(f->log);
    snprintf(f->log + len, sizeof(f->log) - len, "%s%s", len ? " " : "", word);
}

static const char *type_name(enum raft_msg_type t)
{
    static const char *names[] = {"?", "V", "VR", "A", "AR", "T", "S"};
    return t <= RAFT_MSG_SNAPSHOT ? names[t] : "?";
}

static bool fk_begin(void *h, const struct raft_ready *rd)
{
    (void)rd;
    say(h, "begin");
    return true;
}

static int fk_install(void *h, const struct raft_ready *rd)
{
    (void)rd;
    say(h, "install");
    return ((struct fake *)h)->install_rv;
}

static int fk_write(void *h, const struct raft_ready *rd)
{
    (void)rd;
    say(h, "write");
    return ((struct fake *)h)->write_rv;
}

static int fk_sync(void *h)
{
    say(h, "sync");
    return ((struct fake *)h)->sync_rv;
}

static int fk_sync_start(void *h)
{
    struct fake *f = h;
    say(f, "sync_start");
    f->sync_starts++;
    return 0;
}

/* A blocking host (the daemon's syncer_wait) calls back from inside. */
static int fk_sync_wait(void *h)
{
    struct fake *f = h;
    say(f, "sync_wait");
    if (f->wait_rv == 0)
        driver_synced(f->d, true);
    return f->wait_rv;
}

static bool fk_sync_now(void *h)
{
    return ((struct fake *)h)->sync_now;
}

static void fk_send(void *h, const struct raft_msg *m)
{
    char w[32];
    snprintf(w, sizeof(w), "send:%s%u", type_name(m->type), (unsigned)m->to);
    say(h, w);
}

static void fk_hold(void *h, const struct raft_msg *m)
{
    (void)m;
    ((struct fake *)h)->held++;
    say(h, "hold");
}

static void fk_flush(void *h) { say(h, "flush"); }

static void fk_apply(void *h, raft_index first, const struct raft_entry *e,
                     size_t n)
{
    (void)e;
    char w[48];
    snprintf(w, sizeof(w), "apply:%u-%u", (unsigned)first,
             (unsigned)(first + n - 1));
    say(h, w);
}

static void fk_reads(void *h, const struct raft_read *reads, size_t n)
{
    (void)reads, (void)n;
    say(h, "reads");
}

static void fk_notes(void *h, const struct raft_note *notes, size_t n)
{
    (void)notes, (void)n;
    say(h, "notes");
}

static void fk_advanced(void *h, const struct raft_ready *rd, bool durable)
{
    (void)rd;
    say(h, durable ? "advanced" : "advanced_unsynced");
}

static const struct driver_ops fake_ops = {
    .begin = fk_begin,
    .install_snapshot = fk_install,
    .write = fk_write,
    .sync = fk_sync,
    .sync_start = fk_sync_start,
    .sync_wait = fk_sync_wait,
    .sync_now = fk_sync_now,
    .send = fk_send,
    .hold = fk_hold,
    .flush = fk_flush,
    .apply = fk_apply,
    .reads = fk_reads,
    .notes = fk_notes,
    .advanced = fk_advanced,
};

static uint64_t no_random(void *arg)
{
    (void)arg;
    return 0;
}

/* Node 1 of 3, started at time 0, every operation answering at once. */
static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    struct raft_config cfg = {0};
    raft_config_defaults(&cfg);
    cfg.id = 1;
    cfg.n_members = 3;
    for (unsigned i = 0; i < 3; i++)
        cfg.members[i] = i + 1;
    cfg.heartbeat_ms = 100;
    cfg.election_timeout_min_ms = 1000;
    cfg.election_timeout_max_ms = 2000;
    cfg.random = no_random;
    f->r = raft_new(&cfg, NULL);
    raft_start(f->r, 0);
    f->d = driver_new(f->r, &fake_ops, f);
    f->sync_now = true;
}

static void fake_free(struct fake *f)
{
    driver_free(f->d);
    raft_free(f->r);
}

static void run_until_idle(struct fake *f)
{
    while (driver_step(f->d) == DRIVER_ADVANCED)
        ;
}

static void deliver(struct fake *f, struct raft_msg m)
{
    m.to = 1;
    raft_receive(f->r, ++f->now, &m);
}

/* Where word first stands in the log (a large number if it does not). */
static size_t at(const struct fake *f, const char *word)
{
    const char *p = strstr(f->log, word);
    return p ? (size_t)(p - f->log) : (size_t)-1;
}

static bool logged(const struct fake *f, const char *word)
{
    return strstr(f->log, word) != NULL;
}

/* Leader of term 1 with its no-op committed (node 2 acknowledged it). */
static void make_leader(struct fake *f)
{
    f->now = 2000;
    raft_tick(f->r, f->now);
    run_until_idle(f);
    deliver(f, (struct raft_msg){.type = RAFT_MSG_VOTE_RESP, .from = 2,
                                 .term = 1, .granted = true, .prevote = true});
    run_until_idle(f);
    deliver(f, (struct raft_msg){.type = RAFT_MSG_VOTE_RESP, .from = 2,
                                 .term = 1, .granted = true});
    run_until_idle(f);
    deliver(f, (struct raft_msg){.type = RAFT_MSG_APPEND_RESP, .from = 2,
                                 .term = 1, .seq = 1, .success = true,
                                 .match_index = 1});
    run_until_idle(f);
    f->log[0] = 0;
}

/* Follower of node 2 in term 1 (a heartbeat told it so). */
static void make_follower(struct fake *f)
{
    deliver(f, (struct raft_msg){.type = RAFT_MSG_APPEND, .from = 2,
                                 .term = 1, .seq = 1});
    run_until_idle(f);
    f->log[0] = 0;
}

static struct raft_entry entry_a = {.term = 1, .len = 1, .data = (uint8_t *)"a"};
static struct raft_entry entry_b = {.term = 1, .len = 1, .data = (uint8_t *)"b"};

/* AppendEntries from leader 2 in term 1: entry e at index prev + 1. */
static struct raft_msg append(raft_index prev, raft_term prev_term,
                              struct raft_entry *e, uint64_t seq)
{
    return (struct raft_msg){.type = RAFT_MSG_APPEND, .from = 2, .term = 1,
                             .prev_index = prev, .prev_term = prev_term,
                             .n_entries = 1, .entries = e, .seq = seq};
}

/* Node 3 asks for a vote in term 5, long after the leader was last heard
 * from (else leader stickiness ignores it): the vote is a new term and vote
 * to make durable. */
static void ask_vote(struct fake *f)
{
    f->now += 5000;
    deliver(f, (struct raft_msg){.type = RAFT_MSG_VOTE, .from = 3, .term = 5,
                                 .last_index = 10, .last_term = 1});
}

/* A follower whose entry 1 was written and handed to a background sync
 * that still runs; its answer is held. */
static void follower_syncing_in_background(struct fake *f)
{
    fake_init(f);
    make_follower(f);
    f->sync_now = false;
    deliver(f, append(0, 0, &entry_a, 2));
    run_until_idle(f);
    f->log[0] = 0;
}

/* ---- order within a batch ---- */

TEST(leader_sends_append_entries_before_its_own_write)
{
    struct fake f;
    fake_init(&f);
    make_leader(&f);
    raft_index idx;
    CHECK_EQ_U(raft_propose(f.r, ++f.now, "x", 1, &idx), 0);
    CHECK_EQ_U(driver_step(f.d), DRIVER_ADVANCED);
    /* 10.2.1: on the wire (flushed) before the leader's own sync */
    CHECK(at(&f, "begin") < at(&f, "send:A2"));
    CHECK(at(&f, "send:A2") < at(&f, "flush"));
    CHECK(at(&f, "flush") < at(&f, "write"));
    CHECK(at(&f, "write") < at(&f, "sync"));
    CHECK(at(&f, "sync") < at(&f, "advanced"));
    CHECK_EQ_U(driver_durable_index(f.d), idx);
    fake_free(&f);
}

TEST(new_term_is_durable_before_any_message)
{
    struct fake f;
    fake_init(&f);
    make_follower(&f);
    ask_vote(&f);
    CHECK_EQ_U(driver_step(f.d), DRIVER_ADVANCED);
    CHECK(logged(&f, "send:VR3"));
    CHECK(at(&f, "write") < at(&f, "sync"));
    CHECK(at(&f, "sync") < at(&f, "send:VR3"));
    CHECK(at(&f, "send:VR3") < at(&f, "notes"));
    CHECK(at(&f, "notes") < at(&f, "advanced"));
    CHECK(!logged(&f, "advanced_unsynced"));
    fake_free(&f);
}

TEST(committed_entries_are_applied_after_the_messages)
{
    struct fake f;
    fake_init(&f);
    make_follower(&f);
    struct raft_msg m = append(0, 0, &entry_a, 2);
    m.commit = 1;
    deliver(&f, m);
    run_until_idle(&f);
    CHECK(at(&f, "sync") < at(&f, "send:AR2"));
    CHECK(at(&f, "send:AR2") < at(&f, "apply:1-1"));
    CHECK(at(&f, "apply:1-1") < at(&f, "advanced"));
    fake_free(&f);
}

/* ---- background syncing and held answers ---- */

TEST(background_answer_is_held_until_synced)
{
    struct fake f;
    fake_init(&f);
    make_follower(&f);
    f.sync_now = false;
    deliver(&f, append(0, 0, &entry_a, 2));
    CHECK_EQ_U(driver_step(f.d), DRIVER_ADVANCED);
    CHECK(at(&f, "write") < at(&f, "sync_start"));
    CHECK(logged(&f, "hold"));
    CHECK(!logged(&f, "send:AR2"));
    CHECK(!logged(&f, " sync "));
    CHECK(logged(&f, "advanced_unsynced"));
    CHECK(!driver_busy(f.d));
    CHECK(driver_syncing(f.d));
    CHECK_EQ_U(driver_durable_index(f.d), 0);
    f.log[0] = 0;
    driver_synced(f.d, true);
    CHECK_EQ_U(strcmp(f.log, "send:AR2"), 0);
    CHECK(!driver_syncing(f.d));
    CHECK_EQ_U(driver_durable_index(f.d), 1);
    struct driver_stats st;
    driver_get_stats(f.d, &st);
    CHECK_EQ_U(st.background_writes, 1);
    CHECK_EQ_U(st.background_syncs, 1);
    CHECK_EQ_U(st.held, 1);
    fake_free(&f);
}

TEST(a_refusal_is_not_held)
{
    struct fake f;
    follower_syncing_in_background(&f);
    deliver(&f, append(5, 1, &entry_b, 3)); /* a gap: refused */
    run_until_idle(&f);
    CHECK(logged(&f, "send:AR2"));
    CHECK(!logged(&f, "hold"));
    fake_free(&f);
}

TEST(one_background_sync_at_a_time_covers_what_was_written_meanwhile)
{
    struct fake f;
    follower_syncing_in_background(&f);
    deliver(&f, append(1, 1, &entry_b, 3));
    run_until_idle(&f);
    CHECK_EQ_U(f.sync_starts, 1);
    CHECK_EQ_U(f.held, 2);
    f.log[0] = 0;
    driver_synced(f.d, true); /* the first answer goes, a sync for the second */
    CHECK_EQ_U(strcmp(f.log, "send:AR2 sync_start"), 0);
    CHECK_EQ_U(driver_durable_index(f.d), 1);
    f.log[0] = 0;
    driver_synced(f.d, true);
    CHECK_EQ_U(strcmp(f.log, "send:AR2"), 0);
    CHECK_EQ_U(driver_durable_index(f.d), 2);
    fake_free(&f);
}

TEST(sync_now_makes_an_append_durable_at_once)
{
    struct fake f;
    fake_init(&f);
    make_follower(&f);
    deliver(&f, append(0, 0, &entry_a, 2));
    CHECK_EQ_U(driver_step(f.d), DRIVER_ADVANCED);
    CHECK(at(&f, "write") < at(&f, "sync"));
    CHECK(at(&f, "sync") < at(&f, "send:AR2"));
    CHECK(!logged(&f, "hold"));
    CHECK(!logged(&f, "sync_start"));
    CHECK_EQ_U(driver_durable_index(f.d), 1);
    fake_free(&f);
}

/* ---- operations that finish later ---- */

TEST(a_write_that_finishes_later_holds_the_batch)
{
    struct fake f;
    fake_init(&f);
    make_follower(&f);
    f.sync_rv = DRIVER_LATER;
    ask_vote(&f);
    CHECK_EQ_U(driver_step(f.d), DRIVER_WAITING);
    CHECK(driver_busy(f.d));
    CHECK(logged(&f, "sync"));
    CHECK(!logged(&f, "send:"));
    CHECK_EQ_U(driver_step(f.d), DRIVER_WAITING); /* still */
    CHECK(!logged(&f, "send:"));
    f.log[0] = 0;
    driver_write_done(f.d);
    CHECK_EQ_U(driver_step(f.d), DRIVER_ADVANCED);
    CHECK(!driver_busy(f.d));
    CHECK(at(&f, "send:VR3") < at(&f, "advanced"));
    CHECK(!logged(&f, "write")); /* not again */
    fake_free(&f);
}

TEST(term_change_drains_the_background_sync_first)
{
    struct fake f;
    fake_init(&f);
    make_follower(&f);
    f.sync_now = false;
    deliver(&f, append(0, 0, &entry_a, 2));
    run_until_idle(&f); /* a background sync runs, its answer held */
    f.log[0] = 0;
    f.wait_rv = DRIVER_LATER;
    ask_vote(&f);
    CHECK_EQ_U(driver_step(f.d), DRIVER_WAITING);
    CHECK_EQ_U(strcmp(f.log, "begin sync_wait"), 0); /* nothing written */
    f.log[0] = 0;
    driver_synced(f.d, true);
    CHECK_EQ_U(strcmp(f.log, "send:AR2"), 0); /* the held answer */
    CHECK_EQ_U(driver_step(f.d), DRIVER_ADVANCED);
    CHECK(at(&f, "write") < at(&f, "sync"));
    CHECK(at(&f, "sync") < at(&f, "send:VR3"));
    fake_free(&f);
}

TEST(a_blocking_host_drains_within_one_step)
{
    struct fake f;
    follower_syncing_in_background(&f);
    ask_vote(&f);
    CHECK_EQ_U(driver_step(f.d), DRIVER_ADVANCED);
    CHECK(at(&f, "sync_wait") < at(&f, "send:AR2"));
    CHECK(at(&f, "send:AR2") < at(&f, "write"));
    CHECK(at(&f, "write") < at(&f, "send:VR3"));
    fake_free(&f);
}

TEST(snapshot_install_comes_first)
{
    struct fake f;
    follower_syncing_in_background(&f);
    f.install_rv = DRIVER_LATER;
    deliver(&f, (struct raft_msg){.type = RAFT_MSG_SNAPSHOT, .from = 2,
                                  .term = 1, .snapshot_index = 6,
                                  .snapshot_term = 1, .commit = 6, .seq = 4});
    CHECK_EQ_U(driver_step(f.d), DRIVER_WAITING);
    /* the background writes settle, then the snapshot, before all else */
    CHECK_EQ_U(strcmp(f.log, "begin sync_wait send:AR2 install"), 0);
    f.log[0] = 0;
    driver_write_done(f.d);
    CHECK_EQ_U(driver_step(f.d), DRIVER_ADVANCED);
    CHECK(logged(&f, "send:AR2"));
    CHECK(!logged(&f, "hold"));
    CHECK(logged(&f, "advanced"));
    CHECK(!logged(&f, "advanced_unsynced"));
    CHECK_EQ_U(driver_durable_index(f.d), 6);
    fake_free(&f);
}

/* ---- failures ---- */

TEST(a_failed_write_stops_the_driver)
{
    struct fake f;
    fake_init(&f);
    make_follower(&f);
    f.write_rv = -1;
    ask_vote(&f);
    CHECK_EQ_U(driver_step(f.d), DRIVER_FAILED);
    CHECK(!logged(&f, "send:"));
    CHECK(!logged(&f, "advanced"));
    f.log[0] = 0;
    CHECK_EQ_U(driver_step(f.d), DRIVER_FAILED);
    CHECK_EQ_U(f.log[0], 0); /* nothing more is asked for */
    fake_free(&f);
}

TEST(a_failed_background_sync_stops_the_driver_and_drops_held_answers)
{
    struct fake f;
    follower_syncing_in_background(&f);
    driver_synced(f.d, false);
    CHECK(!logged(&f, "send:"));
    CHECK_EQ_U(driver_durable_index(f.d), 0);
    ask_vote(&f);
    CHECK_EQ_U(driver_step(f.d), DRIVER_FAILED);
    CHECK_EQ_U(f.log[0], 0);
    fake_free(&f);
}

int main(void)
{
    RUN(leader_sends_append_entries_before_its_own_write);
    RUN(new_term_is_durable_before_any_message);
    RUN(committed_entries_are_applied_after_the_messages);
    RUN(background_answer_is_held_until_synced);
    RUN(a_refusal_is_not_held);
    RUN(one_background_sync_at_a_time_covers_what_was_written_meanwhile);
    RUN(sync_now_makes_an_append_durable_at_once);
    RUN(a_write_that_finishes_later_holds_the_batch);
    RUN(term_change_drains_the_background_sync_first);
    RUN(a_blocking_host_drains_within_one_step);
    RUN(snapshot_install_comes_first);
    RUN(a_failed_write_stops_the_driver);
    RUN(a_failed_background_sync_stops_the_driver_and_drops_held_answers);
    return test_summary();
}
