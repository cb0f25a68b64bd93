/* test_lazy_timer.c - lazy_timer_by() (src/daemon/lazy_timer.h): a timer
 * set to fire at or before the asked time is left alone, one set later or
 * not set at all is armed for it, and a timer that already fired is armed
 * again. */
#include <stdint.h>

#include "lazy_timer.h"
#include "test.h"

static int fired;

static int on_time(sd_event_source *s, uint64_t usec, void *arg)
{
    (void)s;
    (void)usec;
    (void)arg;
    fired++;
    return 0;
}

static uint64_t armed_at(sd_event_source *s)
{
    uint64_t at = 0;
    CHECK(sd_event_source_get_time(s, &at) >= 0);
    return at;
}

static int enabled(sd_event_source *s)
{
    int on = -1;
    CHECK(sd_event_source_get_enabled(s, &on) >= 0);
    return on;
}

/* A new loop and a one-shot timer on it, due after_us from the loop's now
 * (*now gets that). */
static sd_event_source *new_timer(sd_event **ev, uint64_t *now, uint64_t after_us)
{
    sd_event_source *t = NULL;
    *ev = NULL;
    *now = 0;
    CHECK(sd_event_new(ev) >= 0);
    CHECK(sd_event_now(*ev, CLOCK_MONOTONIC, now) >= 0);
    CHECK(sd_event_add_time(*ev, &t, CLOCK_MONOTONIC, *now + after_us, 1,
                            on_time, NULL) >= 0);
    return t;
}

TEST(an_earlier_arming_stays_a_later_one_moves)
{
    sd_event *ev;
    uint64_t now;
    sd_event_source *t = new_timer(&ev, &now, 3600000000u);
    sd_event_source_set_enabled(t, SD_EVENT_OFF);

    lazy_timer_by(t, now + 5000000); /* off: armed, whatever its old time */
    CHECK_EQ_U(enabled(t), SD_EVENT_ONESHOT);
    CHECK_EQ_U(armed_at(t), now + 5000000);
    lazy_timer_by(t, now + 9000000); /* later: left alone */
    CHECK_EQ_U(armed_at(t), now + 5000000);
    lazy_timer_by(t, now + 5000000); /* the same time: left alone */
    CHECK_EQ_U(armed_at(t), now + 5000000);
    lazy_timer_by(t, now + 2000000); /* earlier: moved */
    CHECK_EQ_U(armed_at(t), now + 2000000);
    CHECK_EQ_U(enabled(t), SD_EVENT_ONESHOT);

    sd_event_source_unref(t);
    sd_event_unref(ev);
}

TEST(a_timer_that_fired_is_armed_again)
{
    sd_event *ev;
    uint64_t now;
    sd_event_source *t = new_timer(&ev, &now, 0);
    fired = 0;
    for (int i = 0; i < 100 && !fired; i++)
        CHECK(sd_event_run(ev, 100000) >= 0);
    CHECK_EQ_U(fired, 1);
    CHECK_EQ_U(enabled(t), SD_EVENT_OFF); /* one-shot: off once dispatched */
    uint64_t past = armed_at(t);
    lazy_timer_by(t, past + 1000); /* later than its old time, but it is off */
    CHECK_EQ_U(enabled(t), SD_EVENT_ONESHOT);
    CHECK_EQ_U(armed_at(t), past + 1000);
    for (int i = 0; i < 100 && fired < 2; i++)
        CHECK(sd_event_run(ev, 100000) >= 0);
    CHECK_EQ_U(fired, 2);

    sd_event_source_unref(t);
    sd_event_unref(ev);
}

int main(void)
{
    RUN(an_earlier_arming_stays_a_later_one_moves);
    RUN(a_timer_that_fired_is_armed_again);
    return test_summary();
}
