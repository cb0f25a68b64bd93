/* test_syncer.c - the background fdatasync thread (src/daemon/syncer.c):
 * jobs finish on the loop, descriptors are closed, one job at a time,
 * syncer_wait() runs the callback at once, errors are reported. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syncer.h"
#include "test.h"

struct result {
    int calls;
    int err;
};

static void on_done(void *arg, int err, uint64_t usec)
{
    struct result *r = arg;
    (void)usec;
    r->calls++;
    r->err = err;
}

static int temp_fd(char *path)
{
    strcpy(path, "/tmp/raftd-test-syncer-XXXXXX");
    int fd = mkstemp(path);
    if (fd >= 0 && write(fd, "hello", 5) != 5) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* Run the loop until the callback ran (bounded). */
static void run_until_called(sd_event *ev, struct result *r, int calls)
{
    for (int i = 0; i < 1000 && r->calls < calls; i++)
        sd_event_run(ev, 10 * 1000);
}

TEST(job_finishes_on_the_loop_and_closes_its_fds)
{
    sd_event *ev = NULL;
    CHECK(sd_event_new(&ev) >= 0);
    struct result r = {0};
    struct syncer *s = syncer_new(ev, on_done, &r);
    CHECK(s != NULL);
    char path[64];
    int fd = temp_fd(path);
    CHECK(fd >= 0);
    int dup1 = dup(fd), dirfd = open("/tmp", O_RDONLY | O_DIRECTORY);
    int fds[2] = {dup1, dirfd};
    bool dirs[2] = {false, true};
    CHECK_EQ_U(syncer_start(s, fds, dirs, 2), 0);
    CHECK(syncer_busy(s));
    /* one job at a time: a second is refused, and its fds are closed */
    int dup2 = dup(fd);
    bool no = false;
    CHECK(syncer_start(s, &dup2, &no, 1) < 0);
    CHECK(!is_open(dup2));
    CHECK_EQ_U(r.calls, 0); /* never from inside syncer_start */
    run_until_called(ev, &r, 1);
    CHECK_EQ_U(r.calls, 1);
    CHECK_EQ_U(r.err, 0);
    CHECK(!syncer_busy(s));
    CHECK(!is_open(dup1) && !is_open(dirfd));
    CHECK(is_open(fd)); /* the caller's own descriptor is untouched */
    /* syncer_wait: the callback runs before it returns, not again later */
    int dup3 = dup(fd);
    CHECK_EQ_U(syncer_start(s, &dup3, &no, 1), 0);
    syncer_wait(s);
    CHECK_EQ_U(r.calls, 2);
    sd_event_run(ev, 20 * 1000);
    CHECK_EQ_U(r.calls, 2);
    syncer_wait(s); /* nothing running: returns at once */
    CHECK_EQ_U(r.calls, 2);
    syncer_free(s);
    close(fd);
    unlink(path);
    sd_event_unref(ev);
}

TEST(a_failed_sync_is_reported)
{
    sd_event *ev = NULL;
    CHECK(sd_event_new(&ev) >= 0);
    struct result r = {0};
    struct syncer *s = syncer_new(ev, on_done, &r);
    int p[2];
    CHECK(pipe(p) == 0);
    close(p[1]);
    bool no = false;
    CHECK_EQ_U(syncer_start(s, &p[0], &no, 1), 0); /* fdatasync(pipe): EINVAL */
    run_until_called(ev, &r, 1);
    CHECK_EQ_U(r.calls, 1);
    CHECK_EQ_U(r.err, EINVAL);
    syncer_free(s);
    sd_event_unref(ev);
}

TEST(free_waits_for_a_running_job)
{
    sd_event *ev = NULL;
    CHECK(sd_event_new(&ev) >= 0);
    struct result r = {0};
    struct syncer *s = syncer_new(ev, on_done, &r);
    char path[64];
    int fd = temp_fd(path);
    int d = dup(fd);
    bool no = false;
    CHECK_EQ_U(syncer_start(s, &d, &no, 1), 0);
    syncer_free(s); /* must not leave the thread running or d open */
    CHECK(!is_open(d));
    CHECK_EQ_U(r.calls, 0);
    close(fd);
    unlink(path);
    sd_event_unref(ev);
}

int main(void)
{
    RUN(job_finishes_on_the_loop_and_closes_its_fds);
    RUN(a_failed_sync_is_reported);
    RUN(free_waits_for_a_running_job);
    return test_summary();
}
