/* events.c - the ring of Raft events (events.h). */
#include "events.h"

#include <stdlib.h>
#include <string.h>

struct events {
    struct event *slots;
    size_t capacity;
    uint64_t last;  /* sequence number of the newest event; 0: none */
};

struct events *events_new(size_t capacity)
{
    struct events *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->capacity = capacity ? capacity : EVENTS_DEFAULT_CAPACITY;
    e->slots = calloc(e->capacity, sizeof(*e->slots));
    if (!e->slots) {
        free(e);
        return NULL;
    }
    return e;
}

void events_free(struct events *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->capacity; i++)
        free(e->slots[i].message);
    free(e->slots);
    free(e);
}

/* How much of src to keep, at most max bytes: a cut never splits a UTF-8
 * sequence (the /events JSON must stay valid UTF-8), so it backs off to the
 * first byte of the sequence the limit falls in. */
static size_t cut_length(const char *src, size_t max)
{
    size_t n = src ? strnlen(src, max) : 0;
    if (n == max && src[n] != '\0')
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    return n;
}

static void copy_field(char *dst, size_t size, const char *src)
{
    size_t n = cut_length(src, size - 1);
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static char *copy_message(const char *msg)
{
    size_t n = cut_length(msg, EVENTS_MESSAGE_MAX);
    char *m = malloc(n + 1);
    if (m) {
        if (n)
            memcpy(m, msg, n);
        m[n] = '\0';
    }
    return m;
}

uint64_t events_record(struct events *e, uint64_t time_us,
                       const struct log_raft *f, const char *msg)
{
    uint64_t seq = ++e->last;
    struct event *ev = &e->slots[(seq - 1) % e->capacity];
    free(ev->message);
    memset(ev, 0, sizeof(*ev));
    ev->seq = seq;
    ev->time_us = time_us;
    copy_field(ev->name, sizeof(ev->name), f->event);
    copy_field(ev->state, sizeof(ev->state), f->state);
    ev->term = f->term;
    ev->leader = f->leader;
    ev->peer = f->peer;
    ev->index = f->index;
    ev->message = copy_message(msg); /* NULL when out of memory: "" */
    return seq;
}

uint64_t events_last_seq(const struct events *e)
{
    return e->last;
}

uint64_t events_first_seq(const struct events *e)
{
    return e->last > e->capacity ? e->last - e->capacity + 1 : 1;
}

size_t events_after(const struct events *e, uint64_t after,
                    const struct event **out, size_t max, bool *lost)
{
    uint64_t first = events_first_seq(e);
    *lost = after + 1 < first;
    uint64_t from = after + 1 < first ? first : after + 1;
    size_t n = 0;
    for (uint64_t s = from; s <= e->last && n < max; s++)
        out[n++] = &e->slots[(s - 1) % e->capacity];
    return n;
}
