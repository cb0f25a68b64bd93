/* syncer.c - fdatasync() on a thread of its own (see syncer.h). */
#include "syncer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum job_state { IDLE, QUEUED, DONE };

struct syncer {
    sd_event_source *src;   /* the eventfd: a job is done */
    int efd;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* the thread waits for QUEUED or stop */
    pthread_cond_t done_cv; /* syncer_wait() waits for DONE */
    bool stop;
    /* the job, owned by the thread while QUEUED */
    enum job_state state;
    int fds[SYNCER_MAX_FDS];
    bool is_dir[SYNCER_MAX_FDS];
    unsigned n;
    int err;
    uint64_t usec;
    syncer_done_fn done;
    void *arg;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void run_job(struct syncer *s)
{
    uint64_t t0 = now_us();
    int err = 0;
    for (unsigned i = 0; i < s->n; i++) {
        int rv = s->is_dir[i] ? fsync(s->fds[i]) : fdatasync(s->fds[i]);
        if (rv < 0 && !err)
            err = errno;
        close(s->fds[i]);
    }
    s->err = err;
    s->usec = now_us() - t0;
}

static void *thread_main(void *arg)
{
    struct syncer *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->state != QUEUED && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->state != QUEUED)
            break; /* stop */
        pthread_mutex_unlock(&s->mu);
        run_job(s); /* the job's fields are ours while QUEUED */
        pthread_mutex_lock(&s->mu);
        s->state = DONE;
        pthread_cond_broadcast(&s->done_cv);
        uint64_t one = 1;
        if (write(s->efd, &one, sizeof(one)) < 0) {
            /* the counter cannot overflow here; nothing to do */
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* On the loop: a DONE job goes back to IDLE and its callback runs. */
static void finish(struct syncer *s)
{
    pthread_mutex_lock(&s->mu);
    bool done = s->state == DONE;
    int err = s->err;
    uint64_t usec = s->usec;
    if (done)
        s->state = IDLE;
    pthread_mutex_unlock(&s->mu);
    if (done)
        s->done(s->arg, err, usec);
}

static int on_event(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
    (void)src, (void)revents;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: syncer_wait() already took the job */
    }
    finish(arg);
    return 0;
}

struct syncer *syncer_new(sd_event *ev, syncer_done_fn done, void *arg)
{
    struct syncer *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->done = done;
    s->arg = arg;
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->done_cv, NULL);
    if (s->efd < 0 ||
        sd_event_add_io(ev, &s->src, s->efd, EPOLLIN, on_event, s) < 0 ||
        pthread_create(&s->thread, NULL, thread_main, s) != 0) {
        syncer_free(s);
        return NULL;
    }
    s->thread_started = true;
    sd_event_source_set_description(s->src, "syncer");
    return s;
}

void syncer_free(struct syncer *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        while (s->state == QUEUED)
            pthread_cond_wait(&s->done_cv, &s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    s->src = sd_event_source_disable_unref(s->src);
    if (s->efd >= 0)
        close(s->efd);
    pthread_cond_destroy(&s->done_cv);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

bool syncer_busy(const struct syncer *s)
{
    struct syncer *m = (struct syncer *)s;
    pthread_mutex_lock(&m->mu);
    bool busy = m->state != IDLE;
    pthread_mutex_unlock(&m->mu);
    return busy;
}

int syncer_start(struct syncer *s, const int *fds, const bool *is_dir,
                 unsigned n)
{
    pthread_mutex_lock(&s->mu);
    if (s->state != IDLE || n > SYNCER_MAX_FDS) {
        pthread_mutex_unlock(&s->mu);
        for (unsigned i = 0; i < n; i++)
            close(fds[i]);
        return -1;
    }
    memcpy(s->fds, fds, n * sizeof(fds[0]));
    memcpy(s->is_dir, is_dir, n * sizeof(is_dir[0]));
    s->n = n;
    s->err = 0;
    s->state = QUEUED;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void syncer_wait(struct syncer *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->state == QUEUED)
        pthread_cond_wait(&s->done_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    finish(s);
}
