/* lazy_timer.h - arm an sd-event one-shot timer "by" a time, not "at" it.
 *
 * sd-event keeps one timerfd per clock and reprograms it (timerfd_settime)
 * whenever the earliest deadline changes. Under load the deadlines that
 * raftd's timers follow move later all the time: a leader's next heartbeat
 * after every batch it sends, a follower's election timeout after every
 * AppendEntries, an operation's periodic check, libcurl's and
 * libmicrohttpd's idle timeouts after every request. Moving the timer each
 * time cost about one timerfd_settime per three writes on a loaded leader,
 * and on a virtual machine reprogramming a timer is among the dearest
 * system calls there are.
 *
 * lazy_timer_by() leaves a timer alone when it is already set to fire at or
 * before the new time. It then fires early; every handler that uses it
 * checks its own deadlines (raft_tick, the operations' deadlines, libcurl,
 * libmicrohttpd) and arms the timer again for the real one. So a deadline
 * that keeps moving later costs one early wake-up per period instead of one
 * reprogramming per change; a deadline that moves earlier is armed at once.
 */
#ifndef RAFTD_LAZY_TIMER_H
#define RAFTD_LAZY_TIMER_H

#include <stdint.h>
#include <systemd/sd-event.h>

/* Make the one-shot timer s fire no later than usec (CLOCK_MONOTONIC). */
static inline void lazy_timer_by(sd_event_source *s, uint64_t usec)
{
    int on = SD_EVENT_OFF;
    uint64_t at = 0;
    if (sd_event_source_get_enabled(s, &on) >= 0 && on == SD_EVENT_ONESHOT &&
        sd_event_source_get_time(s, &at) >= 0 && at <= usec)
        return;
    sd_event_source_set_time(s, usec);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

#endif
