/* test_reconcile.c - unit tests of src/daemon/reconcile.c: the steps from
 * the cluster's configuration to the config file's list. */
#include <stdio.h>
#include <string.h>

#include "daemon/reconcile.h"
#include "test.h"

static struct raft_configuration conf(const raft_id *ids, unsigned n,
                                      const raft_id *learners, unsigned nl)
{
    struct raft_configuration c = {0};
    for (unsigned i = 0; i < n; i++) {
        struct raft_member *m = &c.members[c.n++];
        m->id = ids[i];
        snprintf(m->address, sizeof(m->address), "http://10.0.0.%u:7001",
                 (unsigned)ids[i]);
        for (unsigned j = 0; j < nl; j++)
            if (learners[j] == ids[i])
                m->role = RAFT_LEARNER;
    }
    return c;
}

static bool always(raft_id id, void *arg)
{
    (void)id, (void)arg;
    return true;
}

static bool never(raft_id id, void *arg)
{
    (void)id, (void)arg;
    return false;
}

/* Run the plan to the end (every learner catches up at once); returns the
 * steps as "A4 P4 R3 ..." and checks each is a valid configuration. */
static void plan(struct raft_configuration cur,
                 const struct raft_configuration *want, raft_id self,
                 char *out, size_t len)
{
    static const char kinds[] = {'.', 'A', 'W', 'P', 'U', 'R'};
    size_t pos = 0;
    out[0] = 0;
    for (int guard = 0; guard < 40; guard++) {
        struct reconcile_step s;
        reconcile_next(&cur, want, self, always, NULL, &s);
        if (s.kind == RECONCILE_DONE)
            return;
        uint8_t buf[RAFT_CONFIGURATION_MAX_BYTES];
        CHECK(raft_configuration_encode(&s.next, buf) > 0);
        pos += (size_t)snprintf(out + pos, len - pos, "%s%c%u", pos ? " " : "",
                                kinds[s.kind], (unsigned)s.id);
        cur = s.next;
    }
    CHECK(!"the plan does not end");
}

TEST(test_grow_three_to_five)
{
    raft_id a[] = {1, 2, 3}, b[] = {1, 2, 3, 4, 5};
    struct raft_configuration cur = conf(a, 3, NULL, 0), want = conf(b, 5, NULL, 0);
    char out[200];
    plan(cur, &want, 1, out, sizeof(out));
    CHECK(strcmp(out, "A4 P4 A5 P5") == 0);
    if (strcmp(out, "A4 P4 A5 P5"))
        fprintf(stderr, "  got %s\n", out);
}

TEST(test_replace_adds_before_it_removes)
{
    raft_id a[] = {1, 2, 3}, b[] = {1, 2, 4};
    struct raft_configuration cur = conf(a, 3, NULL, 0), want = conf(b, 3, NULL, 0);
    char out[200];
    plan(cur, &want, 1, out, sizeof(out));
    CHECK(strcmp(out, "A4 P4 R3") == 0);
}

TEST(test_the_leader_goes_last)
{
    raft_id a[] = {1, 2, 3, 4, 5}, b[] = {2, 4, 5};
    struct raft_configuration cur = conf(a, 5, NULL, 0), want = conf(b, 3, NULL, 0);
    char out[200];
    plan(cur, &want, 1, out, sizeof(out));
    CHECK(strcmp(out, "R3 R1") == 0);
    if (strcmp(out, "R3 R1"))
        fprintf(stderr, "  got %s\n", out);
}

TEST(test_a_learner_waits_until_caught_up)
{
    raft_id a[] = {1, 2, 3, 4}, l[] = {4}, b[] = {1, 2, 3, 4};
    struct raft_configuration cur = conf(a, 4, l, 1), want = conf(b, 4, NULL, 0);
    struct reconcile_step s;
    reconcile_next(&cur, &want, 1, never, NULL, &s);
    CHECK_EQ_U(s.kind, RECONCILE_WAIT);
    CHECK_EQ_U(s.id, 4);
    reconcile_next(&cur, &want, 1, always, NULL, &s);
    CHECK_EQ_U(s.kind, RECONCILE_PROMOTE);
    CHECK_EQ_U(s.next.members[3].role, RAFT_VOTER);
    /* a learner no longer wanted is removed instead */
    raft_id c[] = {1, 2, 3};
    want = conf(c, 3, NULL, 0);
    reconcile_next(&cur, &want, 1, never, NULL, &s);
    CHECK_EQ_U(s.kind, RECONCILE_REMOVE);
    CHECK_EQ_U(s.id, 4);
}

TEST(test_address_change_and_done)
{
    raft_id a[] = {1, 2, 3};
    struct raft_configuration cur = conf(a, 3, NULL, 0), want = cur;
    struct reconcile_step s;
    reconcile_next(&cur, &want, 1, always, NULL, &s);
    CHECK_EQ_U(s.kind, RECONCILE_DONE);
    strcpy(want.members[1].address, "http://10.0.0.9:7001");
    reconcile_next(&cur, &want, 1, always, NULL, &s);
    CHECK_EQ_U(s.kind, RECONCILE_ADDRESS);
    CHECK_EQ_U(s.id, 2);
    CHECK(strcmp(s.next.members[1].address, "http://10.0.0.9:7001") == 0);
    char buf[400];
    CHECK_EQ_U(reconcile_describe(&cur, &want, buf, sizeof(buf)), 1);
    CHECK(strstr(buf, "node 2's url is to change from http://10.0.0.2:7001 "
                      "to http://10.0.0.9:7001") != NULL);
}

TEST(test_describe)
{
    raft_id a[] = {1, 2, 3}, b[] = {1, 2, 4};
    struct raft_configuration cur = conf(a, 3, NULL, 0), want = conf(b, 3, NULL, 0);
    char buf[400];
    CHECK_EQ_U(reconcile_describe(&cur, &want, buf, sizeof(buf)), 2);
    CHECK(strcmp(buf, "node 4 (http://10.0.0.4:7001) is to be added; node 3 "
                      "(http://10.0.0.3:7001) is to be removed") == 0);
    CHECK_EQ_U(reconcile_describe(&cur, &cur, buf, sizeof(buf)), 0);
    CHECK_EQ_U(buf[0], 0);
}

int main(void)
{
    RUN(test_grow_three_to_five);
    RUN(test_replace_adds_before_it_removes);
    RUN(test_the_leader_goes_last);
    RUN(test_a_learner_waits_until_caught_up);
    RUN(test_address_change_and_done);
    RUN(test_describe);
    return test_summary();
}
