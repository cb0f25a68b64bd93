/* test_logging.c - the event observers of logging.c: /events and /metrics
 * rely on seeing every Raft event, whatever the log level. */
#include <stdio.h>
#include <string.h>

#include "../../src/daemon/logging.h"
#include "test.h"

struct seen {
    int calls;
    char event[64];
    char msg[128];
    uint64_t term, peer;
    int prio;
};

static void observe(void *arg, int prio, const struct log_raft *f,
                    const char *msg)
{
    struct seen *s = arg;
    s->calls++;
    s->prio = prio;
    s->term = f->term;
    s->peer = f->peer;
    snprintf(s->event, sizeof s->event, "%s", f->event);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
}

TEST(observers_see_events_below_the_log_level)
{
    struct seen a = {0}, b = {0};
    log_init(7, LOG_ERR); /* notices and info are not logged */
    CHECK_EQ_U(log_add_event_observer(observe, &a), 0);
    CHECK_EQ_U(log_add_event_observer(observe, &b), 0);
    log_raft(LOG_INFO, &(struct log_raft){.event = "became_leader",
                                          .term = 5, .peer = 3},
             "became leader for term %d", 5);
    CHECK_EQ_U(a.calls, 1);
    CHECK_EQ_U(b.calls, 1);
    CHECK_EQ_U(a.prio, LOG_INFO);
    CHECK(strcmp(a.event, "became_leader") == 0);
    CHECK(strcmp(a.msg, "became leader for term 5") == 0);
    CHECK_EQ_U(a.term, 5);
    CHECK_EQ_U(a.peer, 3);
    /* plain messages and fields without an event are not events */
    log_msg(LOG_ERR, "not an event");
    log_raft(LOG_ERR, &(struct log_raft){.term = 1}, "no event name");
    CHECK_EQ_U(a.calls, 1);
    log_remove_event_observer(observe, &a);
    log_raft(LOG_DEBUG, &(struct log_raft){.event = "vote_granted"}, "x");
    CHECK_EQ_U(a.calls, 1);
    CHECK_EQ_U(b.calls, 2);
    CHECK(strcmp(b.event, "vote_granted") == 0);
    log_remove_event_observer(observe, &b);
}

TEST(at_most_four_observers)
{
    struct seen s[5] = {{0}};
    for (int i = 0; i < 4; i++)
        CHECK_EQ_U(log_add_event_observer(observe, &s[i]), 0);
    CHECK(log_add_event_observer(observe, &s[4]) == -1);
    log_raft(LOG_INFO, &(struct log_raft){.event = "e"}, "m");
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_U(s[i].calls, 1);
        log_remove_event_observer(observe, &s[i]);
    }
    CHECK_EQ_U(s[4].calls, 0);
}

int main(void)
{
    RUN(observers_see_events_below_the_log_level);
    RUN(at_most_four_observers);
    return test_summary();
}
