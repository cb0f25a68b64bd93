/* reconcile.h - from the configuration the cluster has to the one the
 * config file asks for, one server at a time (dissertation 4.1-4.2).
 *
 * raftd.conf's members list is the desired state; the configuration in the
 * log is what the cluster runs. The leader reaches the desired state in
 * steps the core accepts (raft_change_configuration): a new member is
 * added as a learner, promoted once it has caught up (4.2.1), and members
 * that are no longer wanted are removed, the leader itself last (4.2.2).
 * Additions come before removals, so that replacing a machine never leaves
 * the cluster smaller than it was (remove 3, add 4: 4 joins and catches
 * up, then 3 goes).
 *
 * Pure: no I/O; the caller (node_members.c) applies the step and asks
 * again once it is committed.
 */
#ifndef RAFTD_RECONCILE_H
#define RAFTD_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>

#include "../raft/raft.h"

enum reconcile_kind {
    RECONCILE_DONE,       /* the cluster runs the desired configuration */
    RECONCILE_ADD,        /* add member id (address) as a learner */
    RECONCILE_WAIT,       /* learner id is catching up: ask again later */
    RECONCILE_PROMOTE,    /* learner id has caught up: make it a voter */
    RECONCILE_ADDRESS,    /* member id's address changes */
    RECONCILE_REMOVE,     /* member id goes */
};

struct reconcile_step {
    enum reconcile_kind kind;
    raft_id id;
    struct raft_configuration next; /* the configuration after the step */
};

/* The next step from cur (the configuration in effect) towards want (the
 * config file's members, all voters). self: this node (the leader), which
 * is removed last. caught_up(id, arg): learner id finished a catch-up
 * round (raft_learner_caught_up). */
void reconcile_next(const struct raft_configuration *cur,
                    const struct raft_configuration *want, raft_id self,
                    bool (*caught_up)(raft_id id, void *arg), void *arg,
                    struct reconcile_step *step);

/* "node 4 (http://...) is to be added; node 3 is to be removed": what
 * differs between cur and want, for logs and --check-config. Returns the
 * number of differences. */
unsigned reconcile_describe(const struct raft_configuration *cur,
                            const struct raft_configuration *want,
                            char *buf, size_t len);

#endif
