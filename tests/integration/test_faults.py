"""Fault injection for teaching (issue 12, item 3): POST /admin/fault and
raftctl fault ... against real 3-node clusters with peer authentication
on. A leader cut off both ways steps down and the others elect a new one
with no acknowledged write lost; a one-way cut of the leader's requests
lets it follow the new leader; a forced election timeout raises the term;
a delay slows replication to that peer; a crash exits with status 86; heal
restores normal operation. With fault_injection off everything is 403."""

import json
import time
import unittest

import harness
from harness import LEADER_TIMEOUT, kv_get, kv_put, scaled
from test_raftctl import RaftctlCase

FAULTS_ON = "fault_injection = true;"
CRASH_EXIT = 86


def fault(c, i, body, method="POST", sign=True):
    """A request to node i's /admin/fault; returns (status, parsed body)."""
    data = b"" if body is None else (
        body if isinstance(body, bytes) else json.dumps(body).encode())
    sent = data if method != "GET" else None
    if sign:  # as raftctl signs it
        r = c.admin_request(i, method, "/admin/fault", sent, signed_body=data)
    else:
        r = c.request(i, method, "/admin/fault", body=sent,
                      headers={"Content-Type": "application/json"})
    try:
        return r.status, json.loads(r.body)
    except ValueError:
        return r.status, r.body


class FaultsCase(RaftctlCase):

    def faults_cluster(self, **kw):
        return self.cluster(3, extra_config=FAULTS_ON, **kw)

    def ctl_fault(self, c, *args):
        return self.raftctl("--config", c.node(1).config_path, "fault", *args)

    def faults_of(self, c, i):
        return c.status(i)["faults"]

    def wait_applied(self, c, i, index, timeout=LEADER_TIMEOUT):
        c.wait_for(lambda: (c.status(i) or {}).get("applied_index", -1)
                   >= index, timeout,
                   msg="node %d to apply index %d" % (i, index))

    def wait_new_leader(self, c, ids, above_term):
        """A leader agreed on by ids, in a term above above_term."""
        return c.wait_for(
            lambda: (lambda a: a if a and a[1] > above_term else None)(
                c.agreed_leader(ids)),
            LEADER_TIMEOUT, msg="a new leader among %s above term %d"
            % (ids, above_term))


class FaultsOffTest(FaultsCase):

    def test_off_by_default_answers_403_and_changes_nothing(self):
        c = self.cluster(3)
        leader, term = c.leader()
        st = c.status(leader)
        self.assertFalse(st["fault_injection"])
        self.assertEqual(st["faults"], [])
        code, body = fault(c, leader, {"fault": "partition"})
        self.assertEqual(code, 403, body)
        self.assertIn("fault_injection = true", body["message"]
                      if isinstance(body, dict) and "message" in body
                      else json.dumps(body))
        code, body = fault(c, leader, None, method="GET")
        self.assertEqual(code, 403, body)
        rc, out, err = self.ctl_fault(c, "partition", str(leader))
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("fault_injection = true", err)
        self.assertEqual(self.faults_of(c, leader), [])
        self.assertNotIn("fault_injected", self.events_of(c, leader))
        r = kv_put(c, leader, "still", "writable")
        self.assertIsNotNone(r)
        self.assertLess(r.status, 300, r)


class FaultsRequestTest(FaultsCase):

    def test_unsigned_401_bad_bodies_400_and_nothing_changes(self):
        c = self.faults_cluster()
        leader, _ = c.leader()
        f = c.followers(leader)[0]
        code, body = fault(c, leader, {"fault": "partition"}, sign=False)
        self.assertEqual(code, 401, body)
        code, body = fault(c, leader, None, method="GET", sign=False)
        self.assertEqual(code, 401, body)
        bad = [b"not json", b"[]", {}, {"fault": "flood"},
               {"fault": "partition", "direction": "sideways"},
               {"fault": "partition", "peer": leader},
               {"fault": "partition", "peer": 99},
               {"fault": "partition", "peer": -1},
               {"fault": "partition", "ms": 5},
               {"fault": "delay"}, {"fault": "delay", "ms": 0},
               {"fault": "delay", "ms": 60001}, {"fault": "delay", "ms": 1.5},
               {"fault": "heal", "peer": f}]
        for b in bad:
            code, out = fault(c, leader, b)
            self.assertEqual(code, 400, (b, out))
            self.assertTrue(out.get("message") or out.get("error"), (b, out))
        code, _ = fault(c, leader, {"fault": "heal"}, method="PUT", sign=False)
        self.assertEqual(code, 405)
        self.assertEqual(self.faults_of(c, leader), [])
        self.assertNotIn("fault_injected", self.events_of(c, leader))
        # a signed GET lists the faults; a signed POST sets one
        code, out = fault(c, leader, {"fault": "delay", "ms": 5, "peer": f})
        self.assertEqual(code, 200, out)
        code, out = fault(c, leader, None, method="GET")
        self.assertEqual(code, 200, out)
        self.assertEqual(out["faults"], [{"peer": f, "drop_out": False,
                                          "drop_in": False, "delay_ms": 5}])
        code, out = fault(c, leader, {"fault": "heal"})
        self.assertEqual((code, out["healed"], out["faults"]), (200, 1, []))
        self.assertIn("fault_healed", self.events_of(c, leader))

    def test_raftctl_fault_bad_command_lines_are_usage_errors(self):
        for args in (["fault"], ["fault", "flood", "1"],
                     ["fault", "partition"], ["fault", "partition", "x"],
                     ["fault", "partition", "1", "--one-way", "up"],
                     ["fault", "partition", "1", "--to", "2"],
                     ["fault", "delay", "1"], ["fault", "delay", "1", "0"],
                     ["fault", "delay", "1", "5ms"],
                     ["fault", "crash"], ["fault", "crash", "1", "2"],
                     ["fault", "list", "1"]):
            rc, out, err = self.raftctl("--endpoints", "http://127.0.0.1:1",
                                        *args)
            self.assertEqual(rc, 2, (args, out, err))
            self.assertIn("usage: raftctl fault", err, args)


class FaultsPartitionTest(FaultsCase):

    def test_leader_cut_off_both_ways_steps_down_and_no_write_is_lost(self):
        c = self.faults_cluster()
        old, term = c.leader()
        others = c.followers(old)
        rc, out, err = self.ctl_fault(c, "partition", str(old))
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("cut both ways", out)
        new, new_term = self.wait_new_leader(c, others, term)
        # check-quorum: the old leader hears no majority and steps down
        c.wait_for(lambda: c.status(old)["state"] != "Leader",
                   LEADER_TIMEOUT, msg="node %d to step down" % old)
        acked = {}
        for k in range(5):
            r = kv_put(c, new, "during/%d" % k, "v%d" % k)
            if r is not None and r.status < 300:
                acked["during/%d" % k] = "v%d" % k
        self.assertEqual(len(acked), 5, "writes to the new leader failed")
        self.assertEqual(c.status(old)["faults"][0]["drop_in"], True)
        rc, out, err = self.ctl_fault(c, "list")
        self.assertEqual((rc, out.strip()),
                         (0, "node %d: every peer: cut both ways" % old), err)
        ev = c.request(old, "GET", "/events").json()["events"]
        self.assertTrue(any(e["event"] == "fault_injected" for e in ev), ev)
        rc, out, err = self.ctl_fault(c, "heal", str(old))
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(c.status(old)["faults"], [])
        commit = c.status(new)["commit_index"]
        self.wait_applied(c, old, commit)
        agreed = c.leader()
        self.assertGreaterEqual(agreed[1], new_term)
        for k, v in acked.items():
            r = kv_get(c, old, k)
            self.assertIsNotNone(r)
            self.assertEqual(r.status, 200, (k, r))
            self.assertEqual(r.json()["node"]["value"], v)
        self.assertIn("fault_healed", self.events_of(c, old))
        r = kv_put(c, agreed[0], "after", "heal")
        self.assertLess(r.status, 300, r)

    def test_one_way_out_on_the_leader_it_follows_the_next_leader(self):
        """raftd(8): an answer travels back on its request's connection,
        so a node whose requests are lost still answers the others: the
        old leader loses its followers, then follows the new leader."""
        c = self.faults_cluster()
        old, term = c.leader()
        others = c.followers(old)
        rc, out, err = self.ctl_fault(c, "partition", str(old),
                                      "--one-way", "out")
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(c.status(old)["faults"],
                         [{"peer": "all", "drop_out": True, "drop_in": False,
                           "delay_ms": 0}])
        new, new_term = self.wait_new_leader(c, others, term)
        c.wait_for(lambda: c.status(old)["leader_id"] == new and
                   c.status(old)["state"] == "Follower",
                   LEADER_TIMEOUT, msg="the old leader to follow node %d"
                   % new)
        r = kv_put(c, new, "one-way", "reached")
        self.assertLess(r.status, 300, r)
        self.wait_applied(c, old, c.status(new)["commit_index"])
        self.assertEqual(kv_get(c, old, "one-way").json()["node"]["value"],
                         "reached")
        self.assertEqual(self.ctl_fault(c, "heal")[0], 0)
        self.assertEqual([c.status(i)["faults"] for i in c.ids()],
                         [[], [], []])

    def test_one_way_in_on_a_follower_the_leader_sees_it_unreachable(self):
        c = self.faults_cluster()
        leader, term = c.leader()
        f = c.followers(leader)[0]
        rc, out, err = self.ctl_fault(c, "partition", str(f), "--from",
                                      str(leader), "--one-way", "in")
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("node %d: node %d: cut one way" % (f, leader), out)

        def member(i):
            return [m for m in c.status(leader)["members"]
                    if m["id"] == i][0]
        c.wait_for(lambda: not member(f)["reachable"], LEADER_TIMEOUT,
                   msg="the leader to see node %d unreachable" % f)
        r = kv_put(c, leader, "without", "f")  # the other follower suffices
        self.assertLess(r.status, 300, r)
        commit = c.status(leader)["commit_index"]
        self.assertLess(member(f)["match_index"], commit)
        self.assertIn("refuses requests from node %d" % leader,
                      c.log_text(leader))
        self.assertEqual(self.ctl_fault(c, "heal", str(f))[0], 0)
        c.wait_for(lambda: member(f)["reachable"], LEADER_TIMEOUT,
                   msg="node %d reachable again" % f)
        self.wait_applied(c, f, commit)


class FaultsOtherTest(FaultsCase):

    def test_forced_election_timeout_raises_the_term(self):
        c = self.faults_cluster()
        leader, term = c.leader()
        f = c.followers(leader)[0]
        rc, out, err = self.ctl_fault(c, "election", str(leader))
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("is the leader", err)
        rc, out, err = self.ctl_fault(c, "election", str(f))
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("stands for election", out)
        c.wait_for(lambda: (lambda a: a and a[1] > term)(c.agreed_leader()),
                   LEADER_TIMEOUT, msg="a leader in a term above %d" % term)
        self.assertIn("fault_injected", self.events_of(c, f))
        self.assertIn("election_started", self.events_of(c, f))
        leader2, _ = c.leader()
        r = kv_put(c, leader2, "after", "election")
        self.assertLess(r.status, 300, r)

    def test_delay_slows_replication_to_that_peer_only(self):
        c = self.faults_cluster()
        leader, term = c.leader()
        slow, fast = c.followers(leader)
        delay_ms = 250  # below the election timeout: no election follows
        rc, out, err = self.ctl_fault(c, "delay", str(leader), str(delay_ms),
                                      "--to", str(slow))
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("delayed %d ms" % delay_ms, out)
        for k in range(3):
            t0 = time.monotonic()
            r = kv_put(c, leader, "slow/%d" % k, "x")
            self.assertLess(r.status, 300, r)
            index = c.status(leader)["commit_index"]  # the write's, or later
            self.wait_applied(c, slow, index)
            # the entry and the commit index reach `slow` only through the
            # delayed AppendEntries: never sooner than the delay
            self.assertGreaterEqual(time.monotonic() - t0, delay_ms / 1000.0)
            self.wait_applied(c, fast, index)
        self.assertEqual(self.ctl_fault(c, "heal", str(leader))[0], 0)
        self.assertEqual(c.status(leader)["faults"], [])

    def test_crash_exits_with_its_status_and_restarts_clean(self):
        c = self.faults_cluster()
        leader, term = c.leader()
        f = c.followers(leader)[0]
        self.assertEqual(self.ctl_fault(c, "partition", str(f), "--from",
                                        str(leader), "--one-way", "in")[0], 0)
        nd = c.nodes[f]
        nd.expect_exit = True
        rc, out, err = self.ctl_fault(c, "crash", str(f))
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("exit status %d" % CRASH_EXIT, out)
        self.assertEqual(nd.proc.wait(timeout=scaled(10)), CRASH_EXIT)
        nd.exits.append((nd.proc.pid, "fault crash", CRASH_EXIT))
        self.assertRegex(c.log_text(f), r"crash: it exits now with status %d"
                         % CRASH_EXIT)
        r = kv_put(c, leader, "while", "down")
        self.assertLess(r.status, 300, r)
        c.start(f)
        self.assertEqual(c.status(f)["faults"], [])  # in memory only
        self.wait_applied(c, f, c.status(leader)["commit_index"])


if __name__ == "__main__":
    unittest.main()
