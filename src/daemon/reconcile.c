/* reconcile.c - the next membership step towards the config file's list
 * (see reconcile.h). */
#include "reconcile.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "endpoint.h"

static struct raft_member *find(struct raft_configuration *c, raft_id id)
{
    return (struct raft_member *)raft_configuration_find(c, id);
}

static void drop(struct raft_configuration *c, raft_id id)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->members[i].id == id) {
            c->members[i] = c->members[--c->n];
            return;
        }
}

static void set_step(struct reconcile_step *step, enum reconcile_kind kind,
                     raft_id id, const struct raft_configuration *next)
{
    step->kind = kind;
    step->id = id;
    step->next = *next;
}

/* Members of want that cur lacks join first, one at a time, as learners;
 * a learner is promoted once caught up. */
static bool grow_step(const struct raft_configuration *cur,
                      const struct raft_configuration *want,
                      bool (*caught_up)(raft_id, void *), void *arg,
                      struct reconcile_step *step)
{
    struct raft_configuration next = *cur;
    for (unsigned i = 0; i < cur->n; i++) {
        const struct raft_member *m = &cur->members[i];
        if (m->role != RAFT_LEARNER || !raft_configuration_find(want, m->id))
            continue;
        if (!caught_up(m->id, arg)) {
            set_step(step, RECONCILE_WAIT, m->id, cur);
            return true;
        }
        find(&next, m->id)->role = RAFT_VOTER;
        set_step(step, RECONCILE_PROMOTE, m->id, &next);
        return true;
    }
    for (unsigned i = 0; i < want->n; i++) {
        const struct raft_member *w = &want->members[i];
        if (raft_configuration_find(cur, w->id) || next.n == RAFT_MAX_MEMBERS)
            continue;
        next.members[next.n] = *w;
        next.members[next.n].role = RAFT_LEARNER;
        next.n++;
        set_step(step, RECONCILE_ADD, w->id, &next);
        return true;
    }
    return false;
}

void reconcile_next(const struct raft_configuration *cur,
                    const struct raft_configuration *want, raft_id self,
                    bool (*caught_up)(raft_id id, void *arg), void *arg,
                    struct reconcile_step *step)
{
    if (grow_step(cur, want, caught_up, arg, step))
        return;
    struct raft_configuration next = *cur;
    /* addresses of members that stay */
    for (unsigned i = 0; i < cur->n; i++) {
        const struct raft_member *w =
            raft_configuration_find(want, cur->members[i].id);
        if (w && !endpoint_same(w->address, cur->members[i].address)) {
            strcpy(next.members[i].address, w->address);
            set_step(step, RECONCILE_ADDRESS, w->id, &next);
            return;
        }
    }
    /* then removals, this node (the leader) last */
    raft_id gone = RAFT_NONE;
    for (unsigned i = 0; i < cur->n; i++) {
        raft_id id = cur->members[i].id;
        if (!raft_configuration_find(want, id) && (gone == RAFT_NONE ||
                                                   gone == self))
            gone = id;
    }
    if (gone != RAFT_NONE) {
        drop(&next, gone);
        set_step(step, RECONCILE_REMOVE, gone, &next);
        return;
    }
    set_step(step, RECONCILE_DONE, RAFT_NONE, cur);
}

__attribute__((format(printf, 4, 5)))
static void add(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    if (*pos >= len)
        return;
    int w = snprintf(buf + *pos, len - *pos, "%s", *pos ? "; " : "");
    *pos += w > 0 ? (size_t)w : 0;
    if (*pos >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    w = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    *pos += w > 0 ? (size_t)w : 0;
}

unsigned reconcile_describe(const struct raft_configuration *cur,
                            const struct raft_configuration *want,
                            char *buf, size_t len)
{
    unsigned count = 0;
    size_t pos = 0;
    if (len)
        buf[0] = 0;
    for (unsigned i = 0; i < want->n; i++) {
        const struct raft_member *w = &want->members[i];
        const struct raft_member *c = raft_configuration_find(cur, w->id);
        if (!c) {
            add(buf, len, &pos, "node %" PRIu64 " (%s) is to be added", w->id,
                w->address);
            count++;
        } else if (c->role == RAFT_LEARNER) {
            add(buf, len, &pos, "node %" PRIu64 " is a learner, to be "
                "promoted once it has caught up", w->id);
            count++;
        } else if (!endpoint_same(c->address, w->address)) {
            add(buf, len, &pos, "node %" PRIu64 "'s url is to change from %s "
                "to %s", w->id, c->address, w->address);
            count++;
        }
    }
    for (unsigned i = 0; i < cur->n; i++)
        if (!raft_configuration_find(want, cur->members[i].id)) {
            add(buf, len, &pos, "node %" PRIu64 " (%s) is to be removed",
                cur->members[i].id, cur->members[i].address);
            count++;
        }
    return count;
}
