"""raftctl against real clusters (issue 12, item 1): status with all
members up and with one down, leader, members add/remove, the merged
events timeline, and events -f following a new election as it happens."""

import json
import os
import queue
import re
import subprocess
import threading
import unittest

import harness
import test_membership
from harness import LEADER_TIMEOUT, scaled


def raftctl_path():
    here = os.path.dirname(harness.raftd_path())
    return os.environ.get("RAFTCTL") or os.path.join(here, "raftctl")


class RaftctlCase(harness.ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(raftctl_path(), os.X_OK):
            raise unittest.SkipTest("raftctl not built at %s" % raftctl_path())

    def endpoints(self, c, ids=None):
        return ",".join(c.node(i).url for i in (ids or c.ids()))

    def raftctl(self, *args, timeout=None):
        p = subprocess.run([raftctl_path(), *args], capture_output=True,
                           text=True, timeout=timeout or scaled(60))
        return p.returncode, p.stdout, p.stderr

    def ctl(self, c, *args, ids=None):
        return self.raftctl("--endpoints", self.endpoints(c, ids), *args)

    def ctl_json(self, c, *args, ids=None, want_rc=0):
        rc, out, err = self.ctl(c, "--json", *args, ids=ids)
        self.assertEqual(rc, want_rc, (out, err))
        return json.loads(out)


class RaftctlTest(RaftctlCase):

    def test_status_all_up_then_one_down(self):
        c = self.cluster(3)
        leader, term = c.leader()
        # rows settle once every follower heard the leader: wait for that
        c.wait_for(lambda: all(s and s["leader_id"] == leader
                               for s in c.statuses().values()),
                   LEADER_TIMEOUT, msg="followers to know the leader")
        rc, out, err = self.ctl(c, "status")
        self.assertEqual(rc, 0, (out, err))
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^ID\s+URL\s+STATE\s+TERM\s+LEADER")
        rows = {int(l.split()[0]): l.split() for l in lines[1:4]}
        self.assertEqual(sorted(rows), [1, 2, 3])
        for i, row in rows.items():
            self.assertEqual(row[1], c.node(i).url)
            self.assertEqual(row[2], "Leader" if i == leader else "Follower")
            self.assertEqual(row[4], str(leader))
            self.assertEqual(row[-1], "ok", out)
        # the config file gives the same (what a lab machine uses)
        st = self.raftctl("--config", c.node(1).config_path, "--json",
                          "status")
        self.assertEqual(st[0], 0, st)
        j = json.loads(st[1])
        self.assertEqual(j["leader"], leader)
        self.assertEqual([m["id"] for m in j["members"]], [1, 2, 3])
        # a follower down: marked, the rest still shown, exit status 3
        f = c.followers(leader)[0]
        c.kill(f)
        rc, out, err = self.ctl(c, "status")
        self.assertEqual(rc, 3, (out, err))
        row = [l for l in out.splitlines() if l.startswith("%d " % f)][0]
        self.assertIn("unreachable", row)
        j = self.ctl_json(c, "status", want_rc=3)
        m = {x["id"]: x for x in j["members"]}
        self.assertFalse(m[f]["reachable"])
        self.assertIn("unreachable", m[f]["health"])
        self.assertIsNotNone(m[f]["lag"], "the leader knows its lag")
        self.assertEqual(m[leader]["state"], "Leader")
        self.assertEqual(j["leader"], leader)
        # nothing answers: exit status 1, a message saying so
        c.kill_all()
        rc, out, err = self.ctl(c, "status")
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("no member answered", err)

    def test_leader_agrees_with_the_cluster_and_follows_a_change(self):
        c = self.cluster(3)
        leader, _ = c.leader()
        j = self.ctl_json(c, "leader")
        self.assertEqual((j["id"], j["url"]), (leader, c.node(leader).url))
        c.kill(leader)
        survivors = [i for i in c.ids() if i != leader]
        new, _ = c.leader(ids=survivors)
        rc, out, err = self.ctl(c, "leader")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split(), [str(new), c.node(new).url])

    def test_usage_and_config_errors(self):
        rc, _, err = self.raftctl("--endpoints", "http://127.0.0.1:1",
                                  "frobnicate")
        self.assertEqual(rc, 2)
        self.assertIn("unknown command", err)
        rc, _, err = self.raftctl("--endpoints", "ftp://x", "status")
        self.assertEqual(rc, 2)
        self.assertIn("--endpoints", err)
        rc, _, err = self.raftctl("--config", "/nonexistent/raftd.conf",
                                  "status")
        self.assertEqual(rc, 2)
        self.assertIn("/nonexistent/raftd.conf", err)
        rc, _, err = self.raftctl("--endpoints", "http://127.0.0.1:1",
                                  "members", "remove", "x")
        self.assertEqual(rc, 2)


class RaftctlEventsTest(RaftctlCase):

    def test_events_merge_the_election_of_all_nodes_in_time_order(self):
        c = self.cluster(3)
        old, term = c.leader()
        c.kill(old)
        survivors = [i for i in c.ids() if i != old]
        new, new_term = c.leader(ids=survivors)
        other = [i for i in survivors if i != new][0]

        def timeline():
            rc, out, err = self.ctl(c, "--json", "events")
            self.assertEqual(rc, 0, err)
            self.assertIn(c.node(old).url, err, "the down node is named")
            return [json.loads(l) for l in out.splitlines()]

        def followed():
            evs = timeline()
            return any(e["node_id"] == other and
                       e["event"] == "leader_changed" and
                       e.get("leader") == new and e["term"] == new_term
                       for e in evs) and evs
        evs = c.wait_for(followed, LEADER_TIMEOUT,
                         msg="node %d's leader_changed to %d" % (other, new))
        times = [e["time_us"] for e in evs]
        self.assertEqual(times, sorted(times), "merged in time order")
        self.assertEqual({e["node_id"] for e in evs}, set(survivors))
        self.assertTrue(any(e["event"] == "became_leader" and
                            e["node_id"] == new and e["term"] == new_term
                            for e in evs), evs)
        self.assertTrue(any(e["event"] == "vote_granted" and
                            e["node_id"] == other and e["term"] == new_term
                            for e in evs), evs)
        # each node's own events keep their order
        for i in survivors:
            seqs = [e["seq"] for e in evs if e["node_id"] == i]
            self.assertEqual(seqs, sorted(seqs))
        # the human form: one line per event with its node
        rc, out, _ = self.ctl(c, "events")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"(?m)^\S+ \S+\s+node %d\s+term %d\s+Leader\s+"
                         r"became_leader\b" % (new, new_term))

    def test_events_follow_prints_a_new_election_and_a_node_coming_back(self):
        c = self.cluster(3)
        old, term = c.leader()
        p = subprocess.Popen([raftctl_path(), "--endpoints", self.endpoints(c),
                              "--json", "events", "-f"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        lines = queue.Queue()

        def read():
            for line in p.stdout:
                lines.put(line)
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            def until(pred, what):
                deadline = harness.time.monotonic() + LEADER_TIMEOUT + scaled(10)
                while harness.time.monotonic() < deadline:
                    try:
                        e = json.loads(lines.get(timeout=0.5))
                    except queue.Empty:
                        self.assertIsNone(p.poll(), "raftctl exited")
                        continue
                    if pred(e):
                        return e
                self.fail("raftctl events -f did not print " + what)
            until(lambda e: e["event"] == "became_leader" and
                  e["node_id"] == old and e["term"] == term,
                  "the first election (history)")
            c.kill(old)
            e = until(lambda e: e["event"] == "became_leader" and
                      e["term"] > term, "the new election as it happened")
            self.assertNotEqual(e["node_id"], old)
            c.start(old)  # down meanwhile: its events appear when back
            until(lambda e: e["event"] == "recovered" and
                  e["node_id"] == old, "the restarted node's events")
        finally:
            p.terminate()
            p.wait(timeout=10)
            reader.join(timeout=10)
        self.assertIn("asking again", p.stderr.read())


class RaftctlMembersTest(RaftctlCase, test_membership.MembershipCase):

    def test_members_add_and_remove_a_fourth_node(self):
        c = self.cluster_of(4, [1, 2, 3])
        leader, _ = c.leader(ids=[1, 2, 3])
        ids = [1, 2, 3]
        url4 = c.node(4).url
        rc, out, err = self.ctl(c, "members", "add", url4, ids=ids)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^added member 4 at %s" % re.escape(url4))
        j = self.ctl_json(c, "members", ids=ids)
        self.assertIn({"id": 4, "role": "learner", "url": url4}, j)
        c.set_members([4], [1, 2, 3, 4])
        c.start(4)
        test_membership.wait_configuration(c, leader, [1, 2, 3, 4])
        j = self.ctl_json(c, "members", ids=ids)
        self.assertEqual(sorted((m["id"], m["role"]) for m in j),
                         [(1, "voter"), (2, "voter"), (3, "voter"),
                          (4, "voter")])
        # status finds the new member through the cluster's answers
        c.wait_for(lambda: self.ctl(c, "status", ids=ids)[0] == 0,
                   LEADER_TIMEOUT, msg="status of 4 members all ok")
        st = self.ctl_json(c, "status", ids=ids)
        self.assertEqual(sorted(m["id"] for m in st["members"]), [1, 2, 3, 4])
        rc, out, err = self.ctl(c, "members", "remove", "4", ids=ids)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "removed member 4")
        test_membership.wait_configuration(c, leader, [1, 2, 3])
        rc, out, err = self.ctl(c, "members", "remove", "9", ids=ids)
        self.assertEqual(rc, 1)
        self.assertIn("No such member", err)
        c.stop(4)


if __name__ == "__main__":
    unittest.main()
