"""GET /events: each node's recent Raft events with a cursor, loss and
restart detection, and a long poll (issue 12, item 1)."""

import subprocess
import threading
import time
import unittest

import harness
import test_raftctl  # (the module: its test classes are not run twice)
from harness import ET, LEADER_TIMEOUT, scaled


def events(c, i, **params):
    r = c.request(i, "GET", "/events", params=params or None,
                  timeout=scaled(70))
    assert r.status == 200, (r.status, r.body)
    return r.json()


class EventsTest(harness.ClusterTestCase):

    def test_election_events_with_cursor_restart_and_bad_parameters(self):
        c = self.cluster(3)
        leader, term = c.leader()
        e = events(c, leader)
        self.assertEqual(e["node_id"], leader)
        self.assertRegex(e["instance"], r"^[0-9a-f]{16}$")
        self.assertFalse(e["lost"])
        self.assertFalse(e["reset"])
        names = [x["event"] for x in e["events"]]
        self.assertIn("became_leader", names, e)
        seqs = [x["seq"] for x in e["events"]]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
        self.assertEqual(e["next"], seqs[-1])
        times = [x["time_us"] for x in e["events"]]
        self.assertEqual(times, sorted(times))
        now_us = time.time() * 1e6
        self.assertLess(abs(times[-1] - now_us), 600e6, "wall clock in us")
        won = [x for x in e["events"] if x["event"] == "became_leader"][-1]
        self.assertEqual((won["term"], won["state"], won["node_id"]),
                         (term, "Leader", leader))
        self.assertTrue(won["message"])
        # after the cursor: only newer events, none when nothing happened
        e2 = events(c, leader, after=e["next"], instance=e["instance"])
        self.assertTrue(all(x["seq"] > e["next"] for x in e2["events"]))
        self.assertFalse(e2["reset"])
        # limit pages through
        e3 = events(c, leader, after=0, limit=1)
        self.assertEqual(len(e3["events"]), 1)
        self.assertEqual(e3["next"], e3["events"][0]["seq"])
        # bad parameters: 400 with a message, nothing else
        for q in ("after=x", "after=-1", "after=99999999999999999999999",
                  "wait=61", "wait=1.5", "limit=0", "limit=1025",
                  "instance=zz", "instance=0123"):
            r = c.request(leader, "GET", "/events?" + q)
            self.assertEqual(r.status, 400, q)
            self.assertIn("error", r.json(), q)
        r = c.request(leader, "POST", "/events", body="{}")
        self.assertEqual(r.status, 405)
        # a restart: new instance; the old cursor is reset, not trusted
        f = [i for i in c.ids() if i != leader][0]
        before = events(c, f)
        c.restart(f)
        after = events(c, f, after=before["next"],
                       instance=before["instance"])
        self.assertNotEqual(after["instance"], before["instance"])
        self.assertTrue(after["reset"])
        self.assertEqual(after["events"][0]["seq"], 1)
        self.assertIn("recovered", [x["event"] for x in after["events"]])
        # a cursor beyond the newest event is from another run too
        ahead = events(c, f, after=after["last"] + 1000)
        self.assertTrue(ahead["reset"])
        self.assertEqual(ahead["events"][0]["seq"], 1)

    def test_long_poll_answers_when_an_event_arrives(self):
        c = self.cluster(3)
        leader, term = c.leader()
        f = [i for i in c.ids() if i != leader][0]
        cur = events(c, f)
        # nothing new: a short wait comes back empty after about its time
        t0 = time.monotonic()
        quiet = events(c, f, after=cur["last"], instance=cur["instance"],
                       wait=1)
        if not quiet["events"]:  # else an event came (a busy machine)
            self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertTrue(all(x["seq"] > cur["last"] for x in quiet["events"]))
        cur = events(c, f)
        got = {}

        def poll():
            got["e"] = events(c, f, after=cur["last"],
                              instance=cur["instance"], wait=60)
            got["t"] = time.monotonic()
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        t_kill = time.monotonic()
        c.kill(leader)  # the follower sees a new leader: an event
        th.join(scaled(60))
        self.assertFalse(th.is_alive(), "long poll not answered")
        self.assertTrue(got["e"]["events"], got)
        self.assertLess(got["t"] - t_kill, scaled(30),
                        "answered at the event, not at the end of the wait")
        c.leader(ids=[i for i in c.ids() if i != leader])


    def test_a_cursor_older_than_the_ring_says_events_were_lost(self):
        kept = 16
        c = self.cluster(3, peer_auth="none",
                         env={i: {"RAFTD_EVENTS_KEPT": str(kept)}
                              for i in (1, 2, 3)})
        leader, _ = c.leader()
        # leadership transfers make events on every node, until the ring
        # of node 1 has wrapped
        def wrapped():
            e = events(c, 1)
            if e["first"] > 1:
                return e
            lead, _ = c.leader()
            to = [i for i in c.ids() if i != lead][0]
            c.request(lead, "POST", "/admin/transfer", body={"to": to})
            return None
        e = c.wait_for(wrapped, scaled(60), interval=0.2,
                       msg="node 1's ring of %d events to wrap" % kept)
        self.assertTrue(e["lost"], "cursor 0 is older than the ring")
        self.assertEqual(len(e["events"]), e["last"] - e["first"] + 1)
        self.assertLessEqual(len(e["events"]), kept)
        self.assertEqual(e["events"][0]["seq"], e["first"])
        # a cursor just before the oldest kept event lost nothing
        e2 = events(c, 1, after=e["first"] - 1, instance=e["instance"])
        if e2["first"] == e["first"]:  # (no new event dropped meanwhile)
            self.assertFalse(e2["lost"])
            self.assertEqual(e2["events"][0]["seq"], e["first"])
        # a bad value: a warning, and the default
        c.stop(2)
        c.node(2).extra_env["RAFTD_EVENTS_KEPT"] = "lots"
        c.start(2)
        c.wait_log(2, r"RAFTD_EVENTS_KEPT=lots is not a number",
                   since_start=True)
        # raftctl says so (last: skipped, after the checks above, when
        # raftctl has not been built); node 1's ring has wrapped for good
        raftctl = test_raftctl.require_raftctl()
        p = subprocess.run([raftctl, "--endpoints", c.node(1).url, "events"],
                           capture_output=True, text=True, timeout=scaled(30))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("dropped", p.stderr)


if __name__ == "__main__":
    unittest.main()
