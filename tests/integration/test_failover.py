"""Fast elections where pre-vote and check-quorum make them safe (issue 13):
a fresh cluster elects within a few heartbeats, and the followers of a
leader whose process died elect without waiting for the election timeout
(node_probe.c, raft_leader_gone).

Each test uses election timeouts of 20-40 s: nothing here may wait for one,
so a leader elected in a test's (much shorter) wait can only come from the
mechanism under test. A paused leader must still keep its followers, since
its port still accepts connections.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import scaled  # noqa: E402

LONG = dict(heartbeat_ms=50, election_min_ms=20000, election_max_ms=40000)
# well below the election timeout (20 s), however busy the machine
WAIT = scaled(10.0)


class FailoverTest(harness.ClusterTestCase):

    def long_cluster(self):
        c = self.cluster(3, **LONG)
        # a stopping leader hands over for up to election_timeout_min_ms
        # (20 s here) when its followers stop with it: end with SIGKILL
        self.addCleanup(c.kill_all)
        return c

    def test_fresh_cluster_elects_without_waiting_for_the_timeout(self):
        c = self.long_cluster()
        lid, term = c.leader(timeout=WAIT)
        self.assertEqual(term, 1)
        for i in c.ids():
            self.assertNotIn("leader_gone", c.log_text(i))

    def test_followers_of_a_killed_leader_elect_at_once(self):
        c = self.long_cluster()
        old, term = c.leader(timeout=WAIT)
        rest = [i for i in c.ids() if i != old]
        r = harness.kv_put(c, rest[0], "/before", "1")
        self.assertIn(r.status, (200, 201), r)
        c.kill(old)
        new, new_term = c.leader(timeout=WAIT, ids=rest)
        self.assertNotEqual(new, old)
        self.assertGreater(new_term, term)
        # the followers were told, by a refused connection, not by silence
        gone = [i for i in rest
                if "leader node %d is gone" % old in c.log_text(i)]
        self.assertTrue(gone, "no follower logged leader_gone")
        # nothing acknowledged is lost, and writes go on
        r = harness.kv_put(c, rest[0], "/after", "2")
        self.assertIn(r.status, (200, 201), r)
        for i in rest:
            self.assertEqual(harness.kv_value(
                harness.kv_get(c, i, "/before", quorum=True)), "1")
        # the old leader comes back as a follower of the new one
        c.start(old)
        lid, _ = c.leader(timeout=WAIT)
        self.assertEqual(lid, new)

    def test_a_paused_leader_keeps_its_followers(self):
        c = self.long_cluster()
        old, term = c.leader(timeout=WAIT)
        rest = [i for i in c.ids() if i != old]
        marks = {i: len(c.log_text(i)) for i in rest}
        c.pause(old)
        try:
            # probes run every heartbeat while it is silent: each connects
            # (its kernel still accepts), so nobody stands
            def check(st):
                for i in rest:
                    s = st.get(i)
                    if s is not None:
                        self.assertNotEqual(s.get("state"), "Leader", s)
                        self.assertEqual(s.get("term"), term, s)
            c.watch(scaled(2.0), check, ids=rest)
        finally:
            c.resume(old)
        lid, t = c.leader(timeout=WAIT)
        self.assertEqual((lid, t), (old, term))
        for i in rest:
            self.assertNotIn("leader_gone", c.log_text(i)[marks[i]:])


if __name__ == "__main__":
    unittest.main()
