"""Leader election against real raftd processes on loopback (issue 2, item 10).

Timing: heartbeat 50 ms, election timeout 300-600 ms (harness.ET = 0.6 s).
"Several election timeouts" below is STABLE = 5 * ET = 3 s.
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ET, LEADER_TIMEOUT, scaled  # noqa: E402

STABLE = scaled(5 * ET)
# check-quorum: a leader that lost its majority steps down "within about two
# election timeouts"; allow 2 * max timeout plus scheduling/polling slack.
STEP_DOWN_BOUND = scaled(2 * ET + 0.8)


def event(name):
    return r"\b%s\b" % name


class ElectionTest(harness.ClusterTestCase):

    def assert_no_leader(self, c, duration, term=None, ids=None):
        """For duration: no live node is Leader; with term, no node's term
        differs from it (pre-vote keeps a minority from raising terms)."""
        def check(st):
            for i, s in st.items():
                if s is None:
                    continue
                self.assertNotEqual(
                    s.get("state"), "Leader",
                    "node %d became Leader without a majority: %s"
                    % (i, c.describe_statuses()))
                if term is not None:
                    self.assertEqual(
                        s.get("term"), term,
                        "node %d changed term %s -> %s without a majority "
                        "(pre-vote should prevent this): %s"
                        % (i, term, s.get("term"), c.describe_statuses()))
        c.watch(duration, check, ids=ids)

    def wait_follower_of(self, c, i, leader_id, term, timeout=LEADER_TIMEOUT):
        def ok():
            s = c.status(i)
            return (s is not None and s.get("state") == "Follower" and
                    s.get("term") == term and s.get("leader_id") == leader_id)
        c.wait_for(ok, timeout, msg="node %d to follow %d in term %d"
                   % (i, leader_id, term))

    # ------------------------------------------------------------------

    def test_three_nodes_elect_exactly_one_leader(self):
        c = self.cluster(3)
        lid, term = c.leader()
        self.assertGreaterEqual(term, 1)
        st = c.statuses()
        self.assertEqual([i for i, s in st.items() if s["state"] == "Leader"],
                         [lid])
        for i, s in st.items():
            self.assertEqual(s["term"], term, "node %d term" % i)
            self.assertEqual(s["leader_id"], lid, "node %d leader_id" % i)
            if i != lid:
                self.assertEqual(s["state"], "Follower", "node %d state" % i)
        # The leader won a majority of votes in its term; a vote, once given,
        # is kept for the whole term.
        votes = [i for i, s in st.items() if s.get("voted_for") == lid]
        self.assertGreaterEqual(len(votes), c.majority,
                                "voted_for == leader on fewer than a "
                                "majority: %s" % c.describe_statuses())
        # Stays that way (no spurious elections with 50 ms heartbeats).
        c.assert_undisturbed(lid, term, scaled(3 * ET))
        # Election events are on stderr as readable lines.
        c.wait_log(lid, event("became_leader"))
        c.wait_log(lid, event("election_started"))
        c.wait_log(lid, event("prevote_started"))
        harness.wait_for(
            lambda: any(re.search(event("vote_granted"), c.log_text(i))
                        for i in c.followers(lid)),
            scaled(3), msg="a follower to log vote_granted")

    def test_killing_leader_elects_new_leader_with_higher_term(self):
        c = self.cluster(3)
        lid, term = c.leader()
        c.kill(lid)
        t0 = time.monotonic()
        lid2, term2 = c.leader()
        elapsed = time.monotonic() - t0
        self.assertNotEqual(lid2, lid)
        self.assertGreater(term2, term)
        sys.stderr.write("[new leader %d in term %d after %.2fs] "
                         % (lid2, term2, elapsed))
        survivors = c.followers(lid2)
        c.wait_log(survivors[0] if survivors else lid2,
                   event("election_timeout") + "|" + event("leader_changed"))

    def test_old_leader_rejoins_as_follower_without_disruption(self):
        c = self.cluster(3)
        lid, term = c.leader()
        c.kill(lid)
        lid2, term2 = c.leader()
        self.assertGreater(term2, term)
        c.start(lid)
        # From the moment it is back, the new leader must not be disturbed,
        # and the old leader must end up its follower in the same term.
        deadline = time.monotonic() + LEADER_TIMEOUT

        def caught_up():
            s = c.status(lid)
            return (s is not None and s["state"] == "Follower" and
                    s["term"] == term2 and s["leader_id"] == lid2)
        while not caught_up():
            c.assert_undisturbed(lid2, term2, 0)
            self.assertLess(time.monotonic(), deadline,
                            "old leader %d did not become a follower of %d "
                            "in term %d: %s"
                            % (lid, lid2, term2, c.describe_statuses()))
            time.sleep(0.05)
        c.assert_undisturbed(lid2, term2, STABLE)
        self.assertEqual(c.agreed_leader(), (lid2, term2))

    def test_paused_follower_does_not_disrupt_on_return(self):
        c = self.cluster(3)
        lid, term = c.leader()
        f = c.followers(lid)[0]
        c.pause(f)
        # the remaining two are a majority: nothing changes meanwhile
        c.assert_undisturbed(lid, term, STABLE)
        c.resume(f)
        # its election timer has long expired: pre-vote must stop it from
        # raising the term and deposing the leader
        c.assert_undisturbed(lid, term, STABLE)
        self.wait_follower_of(c, f, lid, term)
        self.assertEqual(c.agreed_leader(), (lid, term))

    def test_paused_leader_steps_down_on_return_without_disruption(self):
        c = self.cluster(3)
        lid, term = c.leader()
        c.pause(lid)  # as if partitioned away
        lid2, term2 = c.leader(ids=c.live_ids())
        self.assertNotEqual(lid2, lid)
        self.assertGreater(term2, term)
        c.resume(lid)
        # the stale leader learns the new term and follows; nobody's term
        # moves past term2 and lid2 stays leader
        self.wait_follower_of(c, lid, lid2, term2)
        c.assert_undisturbed(lid2, term2, STABLE)
        self.assertEqual(c.agreed_leader(), (lid2, term2))

    def test_leader_alone_steps_down_and_minority_never_elects(self):
        c = self.cluster(3)
        lid, term = c.leader()
        for f in c.followers(lid):
            c.kill(f)
        t0 = time.monotonic()
        first = {}

        def stepped_down():
            s = c.status(lid)
            if s is not None and s.get("state") != "Leader":
                first.update(s)
                return True
            return False
        c.wait_for(stepped_down, STEP_DOWN_BOUND,
                   msg="leader %d, alone, to step down (check-quorum)" % lid)
        sys.stderr.write("[stepped down after %.2fs] "
                         % (time.monotonic() - t0))
        self.assertEqual(first.get("state"), "Follower")
        self.assertEqual(first.get("term"), term)
        c.wait_log(lid, event("stepped_down"))
        # alone it never becomes leader again, nor raises its term
        self.assert_no_leader(c, STABLE, term=term)
        # once a majority is back, a leader is elected (in a newer term)
        for i in c.ids():
            if not c.node(i).running():
                c.start(i)
        lid2, term2 = c.leader()
        self.assertGreater(term2, term)

    def test_lone_follower_never_elects(self):
        c = self.cluster(3)
        lid, term = c.leader()
        f_keep, f_kill = c.followers(lid)
        # the follower first: the two followers of a killed leader elect
        # one of them at once (node_probe.c)
        c.kill(f_kill)
        c.kill(lid)
        self.assert_no_leader(c, STABLE, term=term)

    def test_five_nodes_elect_exactly_one_leader(self):
        c = self.cluster(5)
        lid, term = c.leader()
        st = c.statuses()
        self.assertEqual(len(st), 5)
        self.assertEqual(sum(1 for s in st.values()
                             if s["state"] == "Leader"), 1)
        self.assertGreaterEqual(sum(1 for s in st.values()
                                    if s.get("voted_for") == lid), 3)
        c.assert_undisturbed(lid, term, scaled(2 * ET))

    def test_five_nodes_minority_of_two_never_elects(self):
        c = self.cluster(5)
        lid, term = c.leader()
        # followers first: a leader killed first is replaced at once (its
        # followers see its port refuse, node_probe.c) by a majority that
        # still has the two followers killed next
        for i in c.followers(lid)[:2] + [lid]:
            c.kill(i)
        self.assertEqual(len(c.live_ids()), 2)
        self.assert_no_leader(c, STABLE, term=term)
        # a third node back makes a majority again
        c.start(lid)
        lid2, term2 = c.leader()
        self.assertGreater(term2, term)

    def test_five_nodes_leader_with_one_follower_steps_down(self):
        c = self.cluster(5)
        lid, term = c.leader()
        for i in c.followers(lid)[:3]:
            c.kill(i)
        t0 = time.monotonic()
        c.wait_for(lambda: (c.status(lid) or {}).get("state") == "Follower",
                   STEP_DOWN_BOUND,
                   msg="leader %d with 2 of 5 to step down" % lid)
        sys.stderr.write("[stepped down after %.2fs] "
                         % (time.monotonic() - t0))
        self.assert_no_leader(c, STABLE, term=term)

    def test_term_and_vote_persist_across_restart(self):
        c = self.cluster(3)
        lid, term = c.leader()
        # push the term up once more, so it is not the initial value
        c.kill(lid)
        lid2, term2 = c.leader()
        self.assertGreater(term2, term)
        c.start(lid)
        self.wait_follower_of(c, lid, lid2, term2)
        before = c.statuses()
        # crash one node, stop the others cleanly
        victim = lid2
        c.kill(victim)
        for i in c.ids():
            if i != victim:
                self.assertEqual(c.stop(i), 0, "node %d exit status" % i)
        # each node restarted alone (no quorum, so no new election can
        # legitimately change anything) must come back with its term and vote
        for i in c.ids():
            c.start(i)
            s = c.wait_for(lambda: c.status(i), scaled(3),
                           msg="node %d /status after restart" % i)
            self.assertGreaterEqual(
                s["term"], before[i]["term"],
                "node %d: term went backwards across restart" % i)
            if s["term"] == before[i]["term"]:
                self.assertEqual(s.get("voted_for"), before[i].get("voted_for"),
                                 "node %d: vote not persisted" % i)
            self.assertNotEqual(s.get("state"), "Leader",
                                "node %d restarted as Leader" % i)
            c.stop(i)
        # the whole cluster restarted elects a leader in a newer term
        c.start_all()
        lid3, term3 = c.leader()
        self.assertGreater(term3, term2)

    def test_repeated_leader_kills_always_yield_new_leader(self):
        c = self.cluster(5)
        lid, term = c.leader()
        for rnd in range(5):
            c.kill(lid)
            new, new_term = c.leader()
            self.assertNotEqual(new, lid, "round %d" % rnd)
            self.assertGreater(new_term, term, "round %d" % rnd)
            c.start(lid)
            self.wait_follower_of(c, lid, new, new_term)
            lid, term = new, new_term
        self.assertEqual(c.agreed_leader(), (lid, term))


if __name__ == "__main__":
    unittest.main()
