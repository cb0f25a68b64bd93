/* test_events.c - the ring of Raft events behind GET /events (events.h). */
#include <string.h>

#include "events.h"
#include "test.h"

static uint64_t record(struct events *e, uint64_t t, const char *name)
{
    return events_record(e, t,
                         &(struct log_raft){.event = name, .term = t,
                                            .state = "Leader", .leader = 2},
                         name);
}

TEST(empty_ring_has_nothing_and_lost_nothing)
{
    struct events *e = events_new(4);
    const struct event *out[8];
    bool lost = true;
    CHECK_EQ_U(events_last_seq(e), 0);
    CHECK_EQ_U(events_first_seq(e), 1);
    CHECK_EQ_U(events_after(e, 0, out, 8, &lost), 0);
    CHECK(!lost);
    events_free(e);
}

TEST(events_keep_order_fields_and_sequence)
{
    struct events *e = events_new(4);
    CHECK_EQ_U(record(e, 10, "a"), 1);
    CHECK_EQ_U(record(e, 20, "b"), 2);
    const struct event *out[8];
    bool lost;
    CHECK_EQ_U(events_after(e, 0, out, 8, &lost), 2);
    CHECK(!lost);
    CHECK_EQ_U(out[0]->seq, 1);
    CHECK_EQ_U(out[0]->time_us, 10);
    CHECK(strcmp(out[0]->name, "a") == 0);
    CHECK(strcmp(out[1]->state, "Leader") == 0);
    CHECK_EQ_U(out[1]->leader, 2);
    CHECK_EQ_U(out[1]->term, 20);
    CHECK(strcmp(out[1]->message, "b") == 0);
    CHECK_EQ_U(events_after(e, 1, out, 8, &lost), 1);
    CHECK_EQ_U(out[0]->seq, 2);
    CHECK_EQ_U(events_after(e, 2, out, 8, &lost), 0);
    CHECK_EQ_U(events_after(e, 99, out, 8, &lost), 0); /* ahead: nothing */
    CHECK(!lost);
    events_free(e);
}

TEST(full_ring_drops_the_oldest_and_says_lost)
{
    struct events *e = events_new(3);
    for (int i = 1; i <= 7; i++)
        record(e, (uint64_t)i, "x");
    CHECK_EQ_U(events_first_seq(e), 5);
    CHECK_EQ_U(events_last_seq(e), 7);
    const struct event *out[8];
    bool lost;
    CHECK_EQ_U(events_after(e, 0, out, 8, &lost), 3);
    CHECK(lost); /* 1..4 are gone */
    CHECK_EQ_U(out[0]->seq, 5);
    CHECK_EQ_U(out[2]->seq, 7);
    CHECK_EQ_U(events_after(e, 3, out, 8, &lost), 3);
    CHECK(lost);
    CHECK_EQ_U(events_after(e, 4, out, 8, &lost), 3);
    CHECK(!lost); /* 5 is the next one and is kept */
    CHECK_EQ_U(events_after(e, 5, out, 1, &lost), 1); /* max respected */
    CHECK_EQ_U(out[0]->seq, 6);
    events_free(e);
}

TEST(long_messages_and_names_are_cut_absent_fields_empty)
{
    struct events *e = events_new(2);
    char big[2000];
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    char name[100];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;
    events_record(e, 1, &(struct log_raft){.event = name}, big);
    const struct event *out[1];
    bool lost;
    CHECK_EQ_U(events_after(e, 0, out, 1, &lost), 1);
    CHECK_EQ_U(strlen(out[0]->message), EVENTS_MESSAGE_MAX);
    CHECK_EQ_U(strlen(out[0]->name), sizeof(out[0]->name) - 1);
    CHECK(out[0]->state[0] == 0);
    events_record(e, 2, &(struct log_raft){.event = "e"}, NULL);
    CHECK_EQ_U(events_after(e, 1, out, 1, &lost), 1);
    CHECK(out[0]->message && out[0]->message[0] == 0);
    events_free(e);
}

/* A cut never splits a UTF-8 sequence: a message whose limit falls inside
 * a character keeps what comes before that character, whole. */
TEST(long_messages_are_cut_at_a_utf8_boundary)
{
    struct events *e = events_new(4);
    const struct event *out[1];
    bool lost;
    /* "\xe2\x82\xac" (U+20AC) at bytes 510-512: the limit (512) falls
     * after its second byte */
    char big[600];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    memcpy(big + EVENTS_MESSAGE_MAX - 2, "\xe2\x82\xac", 3);
    events_record(e, 1, &(struct log_raft){.event = "e"}, big);
    CHECK_EQ_U(events_after(e, 0, out, 1, &lost), 1);
    CHECK_EQ_U(strlen(out[0]->message), EVENTS_MESSAGE_MAX - 2);
    CHECK(out[0]->message[EVENTS_MESSAGE_MAX - 3] == 'a');
    /* a 4-byte character (U+1F600) whose last byte would be the 513th */
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big + EVENTS_MESSAGE_MAX - 3, "\xf0\x9f\x98\x80", 4);
    events_record(e, 2, &(struct log_raft){.event = "e"}, big);
    CHECK_EQ_U(events_after(e, 1, out, 1, &lost), 1);
    CHECK_EQ_U(strlen(out[0]->message), EVENTS_MESSAGE_MAX - 3);
    /* one that ends exactly at the limit is kept whole */
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big + EVENTS_MESSAGE_MAX - 3, "\xe2\x82\xac", 3);
    events_record(e, 3, &(struct log_raft){.event = "e"}, big);
    CHECK_EQ_U(events_after(e, 2, out, 1, &lost), 1);
    CHECK_EQ_U(strlen(out[0]->message), EVENTS_MESSAGE_MAX);
    CHECK(memcmp(out[0]->message + EVENTS_MESSAGE_MAX - 3, "\xe2\x82\xac",
                 3) == 0);
    /* a short message with multi-byte characters is untouched */
    events_record(e, 4, &(struct log_raft){.event = "e"}, "caf\xc3\xa9");
    CHECK_EQ_U(events_after(e, 3, out, 1, &lost), 1);
    CHECK(strcmp(out[0]->message, "caf\xc3\xa9") == 0);
    events_free(e);
}

int main(void)
{
    RUN(empty_ring_has_nothing_and_lost_nothing);
    RUN(events_keep_order_fields_and_sequence);
    RUN(full_ring_drops_the_oldest_and_says_lost);
    RUN(long_messages_and_names_are_cut_absent_fields_empty);
    RUN(long_messages_are_cut_at_a_utf8_boundary);
    return test_summary();
}
