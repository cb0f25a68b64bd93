/* test_divergence.c - unit tests of src/daemon/divergence.c: how often a
 * refused, divergent message is logged as an error (once per distinct
 * evidence, at most DIVERGENCE_LOG_BURST new ones a minute). The log is
 * read back from stderr (logging.c's stderr mode). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/daemon/divergence.h"
#include "../../src/daemon/logging.h"
#include "test.h"

static struct raft_note evidence(raft_index index, raft_id peer)
{
    return (struct raft_note){.type = RAFT_NOTE_DIVERGED, .term = 2,
                              .role = RAFT_FOLLOWER, .peer = peer,
                              .index = index, .entry_term = 2,
                              .peer_entry_term = 3,
                              .reason = "AppendEntries entries[]"};
}

/* Log the notes (at time now[i]) with stderr captured; returns the text. */
static char *logged(struct divergence_log *dl, const struct raft_note *notes,
                    const raft_time *now, size_t n)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *t = tmpfile();
    dup2(fileno(t), 2);
    for (size_t i = 0; i < n; i++)
        divergence_log_note(dl, &notes[i], "Follower", now[i]);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long len = ftell(t);
    char *buf = calloc(1, (size_t)len + 1);
    rewind(t);
    if (fread(buf, 1, (size_t)len, t) != (size_t)len)
        buf[0] = 0;
    fclose(t);
    return buf;
}

static unsigned count(const char *text, const char *what)
{
    unsigned n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

TEST(the_same_evidence_is_an_error_once)
{
    struct divergence_log dl = {0};
    struct raft_note notes[4] = {evidence(7, 1), evidence(7, 1),
                                 evidence(7, 2), evidence(7, 1)};
    raft_time now[4] = {1000, 1001, 1002, 90000};
    char *text = logged(&dl, notes, now, 4);
    /* node 1's, then node 2's: two errors; the repeats at debug level,
     * also a minute later */
    CHECK_EQ_U(count(text, "error: diverged: committed entry 7 has term 2 "
                           "here, but node 1's AppendEntries entries[] gives "
                           "it term 3"), 1);
    CHECK_EQ_U(count(text, "error: diverged: committed entry 7 has term 2 "
                           "here, but node 2's"), 1);
    CHECK_EQ_U(count(text, "debug: diverged: "), 2);
    CHECK(strstr(text, "see raftd(8), DIVERGENCE") != NULL);
    free(text);
}

TEST(new_evidence_is_logged_at_most_a_burst_a_minute)
{
    struct divergence_log dl = {0};
    struct raft_note notes[DIVERGENCE_LOG_BURST + 3];
    raft_time now[DIVERGENCE_LOG_BURST + 3];
    for (unsigned i = 0; i < DIVERGENCE_LOG_BURST + 3; i++) {
        notes[i] = evidence(100 + i, 1);
        now[i] = 5000 + i;
    }
    now[DIVERGENCE_LOG_BURST + 2] = 5000 + 60000; /* the next minute */
    char *text = logged(&dl, notes, now, DIVERGENCE_LOG_BURST + 3);
    CHECK_EQ_U(count(text, "error: diverged: "), DIVERGENCE_LOG_BURST + 1);
    CHECK_EQ_U(count(text, "debug: diverged: "), 2);
    CHECK_EQ_U(count(text, "(2 more not logged)"), 1);
    char last[64];
    snprintf(last, sizeof(last), "committed entry %u has",
             100 + DIVERGENCE_LOG_BURST + 2);
    CHECK(strstr(text, last) && strstr(strstr(text, last), "(2 more"));
    free(text);
}

int main(void)
{
    unsetenv("JOURNAL_STREAM"); /* stderr mode, whatever runs the test */
    log_init(RAFT_NONE, LOG_DEBUG);
    RUN(the_same_evidence_is_an_error_once);
    RUN(new_evidence_is_logged_at_most_a_burst_a_minute);
    return test_summary();
}
