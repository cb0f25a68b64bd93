/* syncer.h - fdatasync() on a thread of its own, so the event loop goes on.
 *
 * Under write load raftd's loop spent about a third of its time blocked in
 * fdatasync (3,300 of ~9,000 ms on each node, 64 clients). The syncer takes
 * one job at a time: a set of file descriptors (duplicates that it owns and
 * closes, so the storage may close or delete its own meanwhile) to flush to
 * disk. When the job is done, its callback runs on the loop (an eventfd
 * wakes it). Nothing else is shared with the thread: the loop hands a job
 * over and gets it back, under one mutex.
 */
#ifndef RAFTD_SYNCER_H
#define RAFTD_SYNCER_H

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#define SYNCER_MAX_FDS 16

struct syncer;

/* err is 0 or the errno of the first failed sync; usec the job's duration. */
typedef void (*syncer_done_fn)(void *arg, int err, uint64_t usec);

struct syncer *syncer_new(sd_event *ev, syncer_done_fn done, void *arg);
/* Waits for a running job (its callback is not called), then stops. */
void syncer_free(struct syncer *s);

bool syncer_busy(const struct syncer *s);
/* Flush fds[0..n) (fsync for those marked is_dir, fdatasync otherwise) and
 * close them. Takes the descriptors over even on failure. -1 if busy. */
int syncer_start(struct syncer *s, const int *fds, const bool *is_dir,
                 unsigned n);
/* Block until the running job (if any) is done and run its callback now. */
void syncer_wait(struct syncer *s);

#endif
