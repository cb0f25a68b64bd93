"""Membership changes through the log, driven by the config file (issue
11; dissertation chapter 4).

Each test edits the members list in the nodes' config files, as a lab
would edit /etc/raftd.conf on every machine, and sends SIGHUP (systemctl
reload raftd) to one node: the leader then adds new members as learners,
promotes them once they have caught up, and removes the members that are
no longer listed, the leader itself last, one step at a time.
"""

import os
import random
import re
import shutil
import signal
import sys
import threading
import time

import harness
import linearizability as lin
from harness import kv_get, kv_put, kv_value, scaled, wait_converged
from test_linearizability import Recorder, worker


def configuration(c, i):
    """{id: role} of node i's configuration in effect, or None."""
    s = c.status(i)
    return s and {m["id"]: m["role"] for m in s["members"]}


def wait_configuration(c, i, voters, learners=(), timeout=None):
    """Wait until node i runs exactly these voters (and learners), with
    the configuration committed; returns its status."""
    want = {v: "voter" for v in voters}
    want.update({v: "learner" for v in learners})

    def ok():
        s = c.status(i)
        return (s and {m["id"]: m["role"] for m in s["members"]} == want and
                s["configuration"]["committed"] and s)
    return c.wait_for(ok, timeout or scaled(40),
                      msg="node %d to run voters %s, learners %s"
                      % (i, sorted(voters), sorted(learners)))


def reload(c, i):
    harness.send_signal(c, i, signal.SIGHUP)


class MembershipCase(harness.ClusterTestCase):

    def _test_failed(self):
        return harness.test_failed(self)

    def cluster_of(self, n_total, initial, **kw):
        """n_total nodes configured; those in initial bootstrapped as the
        cluster and started (with a leader); the others not started."""
        c = self.cluster(n_total, start=False, **kw)
        c.set_members(c.ids(), initial)
        for i in initial:
            c.start(i)
        c.leader(ids=list(initial))
        return c


class MembershipTest(MembershipCase):

    def test_grow_three_to_five_and_shrink_back_under_load_is_linearizable(self):
        seed = random.SystemRandom().randrange(1, 1 << 30)
        c = self.cluster_of(5, [1, 2, 3],
                            extra_config="request_timeout_ms = 2000;")
        rec = Recorder()
        stop = threading.Event()
        keys = ["m/a", "m/b"]
        threads = [threading.Thread(target=worker, daemon=True,
                                    args=(c, rec, p, keys, stop, seed + p),
                                    kwargs={"read_nodes": [1, 2, 3],
                                            "write_nodes": [1, 2, 3]})
                   for p in range(4)]
        for t in threads:
            t.start()
        try:
            # grow: the list on every machine, new machines started, one
            # reload on a follower
            c.set_members(c.ids(), [1, 2, 3, 4, 5])
            c.start(4)
            c.start(5)
            leader, _ = c.leader(ids=[1, 2, 3])
            reload(c, next(i for i in (1, 2, 3) if i != leader))
            # a new member that votes may be elected on a busy machine
            leader = c.wait_for(lambda: c.agreed_leader([1, 2, 3, 4, 5]),
                                scaled(20), msg="a leader all five agree on")[0]
            wait_configuration(c, leader, [1, 2, 3, 4, 5])
            # shrink back: 4 and 5 go, through a reload on node 4 itself
            c.set_members(c.ids(), [1, 2, 3])
            reload(c, 4)
            leader = c.wait_for(lambda: c.agreed_leader([1, 2, 3]),
                                scaled(10), msg="a leader")[0]
            wait_configuration(c, leader, [1, 2, 3])

            def acked_writes():
                return sum(1 for o in list(rec.ops) if o.kind != "read" and
                           o.outcome != "unknown")
            # enough acknowledged writes to check (a busy machine may have
            # made few while the members changed)
            c.wait_for(lambda: acked_writes() > 20, scaled(30),
                       msg="20 acknowledged writes")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=scaled(20))
        ops = rec.ops
        summary = "seed %d, %d ops, stats %s" % (seed, len(ops),
                                                 sorted(rec.stats.items()))
        sys.stderr.write("\n  membership load: %s\n" % summary)
        acked = sum(1 for o in ops if o.kind != "read" and
                    o.outcome != "unknown")
        self.assertGreater(acked, 20, summary)
        results = lin.check_history(ops)
        bad = [r for r in results.values() if r.ok is not True]
        self.assertEqual(bad, [], "not linearizable (%s):\n%s" % (
            summary, "\n".join(lin.describe(r) for r in bad)))
        # every node logged the same history of members events
        for i in (1, 2, 3):
            log = c.log_text(i)
            for ev in ("member_added: node 4", "member_promoted: node 4",
                       "member_added: node 5", "member_promoted: node 5",
                       "member_removed: node 4", "member_removed: node 5"):
                self.assertIn(ev, log, "node %d" % i)
        # The removed nodes may never learn it (the leader stops sending
        # to them at once, dissertation 4.2.3), and they campaign; the
        # others refuse non-members, so nothing changes for the cluster.
        ref = c.agreed_leader([1, 2, 3])
        self.assertIsNotNone(ref)
        before = harness.log_count(c, 4, r"asking for pre-votes")
        c.wait_for(lambda: harness.log_count(c, 4, r"asking for pre-votes")
                   >= before + 2 or "no longer a member" in c.log_text(4),
                   scaled(20), msg="node 4 to campaign (or know it left: "
                   "when it led the removals itself)")
        self.assertEqual(c.agreed_leader([1, 2, 3]), ref)

    def test_replace_a_broken_machine(self):
        """The lab's way: node 3's machine breaks; a new machine, node 4,
        with an empty data directory takes its place. The list {1,2,4}
        goes on every machine, one reload, node 4 starts."""
        c = self.cluster_of(4, [1, 2, 3])
        leader, _ = c.leader(ids=[1, 2, 3])
        for k in range(10):
            self.assertIn(kv_put(c, leader, "/r%d" % k, "v%d" % k).status,
                          (200, 201))
        if leader == 3:
            c.stop(3)
            leader, _ = c.leader(ids=[1, 2])
        else:
            c.kill(3)
        shutil.rmtree(c.node(3).data_dir)
        c.set_members(c.ids(), [1, 2, 4])
        reload(c, 1)
        c.start(4)
        wait_configuration(c, leader, [1, 2, 4])
        wait_converged(c, ids=[1, 2, 4])
        for k in range(10):
            self.assertEqual(kv_value(kv_get(c, 4, "/r%d" % k)), "v%d" % k)
        self.assertRegex(c.log_text(4), r"joined_cluster: this new node "
                         r"joins cluster [0-9a-f]{16}")
        # the cluster keeps working without node 3: a write commits on 1,
        # 2 and 4
        self.assertIn(kv_put(c, leader, "/after", "x").status, (200, 201))
        wait_converged(c, ids=[1, 2, 4])

    def test_remove_the_leader(self):
        c = self.cluster_of(3, [1, 2, 3])
        leader, term = c.leader()
        self.assertIn(kv_put(c, leader, "/x", "1").status, (200, 201))
        rest = [i for i in c.ids() if i != leader]
        c.set_members(c.ids(), rest)
        reload(c, leader)
        c.wait_log(leader, r"removed: this node is no longer a member",
                   timeout=scaled(20))
        new, term2 = c.leader(ids=rest)
        self.assertGreater(term2, term)
        wait_configuration(c, new, rest)
        self.assertIn(kv_put(c, new, "/x", "2").status, (200, 201))
        wait_converged(c, ids=rest)
        # the old leader stays out of the way
        s = c.status(leader)
        self.assertNotEqual(s["state"], "Leader")
        self.assertEqual(c.agreed_leader(rest), (new, term2))

    def test_a_crash_in_the_middle_of_a_step_does_not_stop_the_change(self):
        """kill -9 the leader right after it added the new member as a
        learner, and the new member during its catch-up: the reload's node
        asks the next leader, which finishes the change."""
        c = self.cluster_of(4, [1, 2, 3],
                            extra_config="snapshot_entries = 50;\n"
                                         "snapshot_keep_entries = 10;\n")
        leader, _ = c.leader(ids=[1, 2, 3])
        for k in range(120):  # enough for a snapshot: node 4 gets it
            kv_put(c, leader, "/c%d" % k, "v")
        c.set_members(c.ids(), [1, 2, 3, 4])
        c.start(4)
        origin = next(i for i in (1, 2, 3) if i != leader)
        reload(c, origin)
        c.wait_log(leader, r"membership_step: adding node 4 as a learner",
                   timeout=scaled(20))
        c.kill(leader)
        c.kill(4)
        c.start(4)
        c.start(leader)
        # the step may have finished before the kill: node 4 then votes
        # and can be the next leader
        new = c.wait_for(lambda: c.agreed_leader([1, 2, 3, 4]), scaled(20),
                         msg="a leader all four nodes agree on")[0]
        wait_configuration(c, new, [1, 2, 3, 4])
        wait_converged(c)
        self.assertEqual(kv_value(kv_get(c, 4, "/c119")), "v")

    def test_kill_9_the_leader_at_each_step_of_a_replacement(self):
        """A follower R is replaced by node 4 (reload on the other
        follower O). At each step, adding 4 as a learner, promoting it,
        removing R, the leader is killed (-9) as soon as it appended the
        step, and restarted: the next leader finishes the change, and
        every acknowledged write is still there."""
        steps = (r"adding node 4 as a learner", r"promoting node 4 to voter",
                 r"removing node (\d+)")
        for step in steps:
            with self.subTest(step=step):
                c = self.cluster_of(4, [1, 2, 3])
                leader, _ = c.leader(ids=[1, 2, 3])
                removed, other = [i for i in (1, 2, 3) if i != leader]
                acked = {}
                for k in range(20):
                    key = "/s%d" % k
                    if kv_put(c, leader, key, "v%d" % k).status in (200, 201):
                        acked[key] = "v%d" % k
                want = sorted([leader, other, 4])
                c.set_members(c.ids(), want)
                c.start(4)
                reload(c, other)
                pattern = r"membership_step: " + step.replace(
                    r"(\d+)", str(removed))
                c.wait_log(leader, pattern, timeout=scaled(20))
                c.kill(leader)
                c.start(leader)
                new = c.wait_for(lambda: c.agreed_leader(want), scaled(30),
                                 msg="a leader of %s" % want)[0]
                wait_configuration(c, new, want)
                wait_converged(c, ids=want)
                for key, value in acked.items():
                    self.assertEqual(kv_value(kv_get(c, 4, key)), value,
                                     "step %r: %s" % (step, key))
                c.stop_all()  # (torn down at the end of the test)

    def test_a_change_that_would_lose_quorum_is_refused(self):
        """{1,2,3} with one member down, and a list that keeps only that
        one: removing the first of the other two would leave a
        configuration of two whose majority includes the member that is
        down. Refused, with why and what to do; nothing changes."""
        c = self.cluster_of(3, [1, 2, 3])
        leader, term = c.leader()
        down = next(i for i in c.ids() if i != leader)
        c.kill(down)

        def noticed():  # the leader has not heard from it for a while
            s = c.status(leader)
            m = s and next(m for m in s["members"] if m["id"] == down)
            return m and m.get("last_contact_ms", 0) > 4 * c.heartbeat_ms
        c.wait_for(noticed, scaled(10), msg="the leader to miss node %d" % down)
        c.set_members(c.ids(), [down])
        reload(c, leader)
        c.wait_log(leader, r"membership_refused: cannot change the members "
                   r"as asked .*Too few of the members that would remain are "
                   r"up", timeout=scaled(20))
        self.assertEqual(sorted(configuration(c, leader)), [1, 2, 3])
        self.assertEqual(c.agreed_leader([i for i in c.ids() if i != down]),
                         (leader, term))


def members_call(c, i, method, path="/v2/members", body=None,
                 content_type="application/json", timeout=None):
    """An etcd v2 members API request to node i: (status, parsed JSON or
    the raw body)."""
    headers = {"Content-Type": content_type} if content_type else {}
    r = c.request(i, method, path, body=body, headers=headers,
                  timeout=timeout or scaled(20))
    try:
        return r.status, (r.json() if r.body else None)
    except ValueError:
        return r.status, r.body


def members_list(c, i):
    st, j = members_call(c, i, "GET")
    assert st == 200, (st, j)
    return {int(m["id"], 16): m for m in j["members"]}


class MembersApiTest(MembershipCase):
    """The etcd v2 members API (POST, DELETE, PUT /v2/members) changes the
    members the same way a reload does, answered once committed."""

    def test_add_promote_and_remove_through_the_api(self):
        c = self.cluster_of(4, [1, 2, 3])
        leader, _ = c.leader(ids=[1, 2, 3])
        follower = next(i for i in (1, 2, 3) if i != leader)
        url4 = c.node(4).url
        # added through a follower; answered once the learner is committed
        st, m = members_call(c, follower, "POST",
                             body={"peerURLs": [url4]})
        self.assertEqual(st, 201, m)
        self.assertEqual(m["id"], "4")  # one more than the highest id
        self.assertEqual(m["peerURLs"], [url4])
        self.assertEqual(m["name"], "")  # etcdctl: "[unstarted]"
        ms = members_list(c, follower)
        self.assertEqual(sorted(ms), [1, 2, 3, 4])
        self.assertEqual(ms[4]["name"], "")
        self.assertEqual(configuration(c, leader)[4], "learner")
        # the same URL again: 409, as etcd
        st, m = members_call(c, leader, "POST", body={"peerURLs": [url4]})
        self.assertEqual(st, 409, m)
        self.assertIn("Peer URLs already exists", m["message"])
        # node 4 starts, with the new list in its file, and catches up:
        # promoted, named
        c.set_members([4], [1, 2, 3, 4])
        c.start(4)
        wait_configuration(c, leader, [1, 2, 3, 4])
        c.wait_for(lambda: members_list(c, follower)[4]["name"] == "node4",
                   scaled(20), msg="node 4 listed as a voter")
        self.assertIn(kv_put(c, 4, "/api", "x").status, (200, 201))
        # removed through the leader; the others go on
        st, m = members_call(c, leader, "DELETE", "/v2/members/%x" % follower)
        self.assertEqual(st, 204, m)
        rest = [i for i in (1, 2, 3, 4) if i != follower]
        wait_configuration(c, leader, rest)
        self.assertNotIn(follower, members_list(c, leader))
        self.assertRegex(c.log_text(leader), r"member_removed: node %d "
                         % follower)
        self.assertIn(kv_put(c, leader, "/api", "y").status, (200, 201))
        wait_converged(c, ids=rest)
        # a node asked to remove itself answers once the leader committed
        # it (it learns so from the leader: it gets no more entries)
        st, m = members_call(c, 4, "DELETE", "/v2/members/4")
        self.assertEqual(st, 204, m)
        rest.remove(4)
        wait_configuration(c, leader, rest)
        c.wait_log(4, r"removed: the leader \(node %d\) removed this node"
                   % leader, timeout=scaled(10))

    def test_bad_requests_get_etcds_errors_and_change_nothing(self):
        c = self.cluster_of(3, [1, 2, 3])
        leader, _ = c.leader()
        for body, ct, want in (
                ({"peerURLs": ["http://127.0.0.1:1"]}, "text/plain", 415),
                (b"{\"peerURLs\": [", "application/json", 400),
                ({"peerURLs": []}, "application/json", 400),
                ({"peerURLs": ["ftp://x:1"]}, "application/json", 400),
                ({"peerURLs": ["http://a:1", "http://b:2"]},
                 "application/json", 400),
                ({"peerURLs": [c.node(2).url]}, "application/json", 409)):
            st, m = members_call(c, leader, "POST", body=body,
                                 content_type=ct)
            self.assertEqual(st, want, (body, m))
            self.assertTrue(m["message"], m)
        st, m = members_call(c, leader, "DELETE", "/v2/members/9")
        self.assertEqual((st, m["message"]), (404, "No such member: 9"))
        st, m = members_call(c, leader, "PUT", "/v2/members/zz",
                             body={"peerURLs": ["http://127.0.0.1:1"]})
        self.assertEqual(st, 404, m)
        other = next(i for i in c.ids() if i != leader)
        st, m = members_call(c, leader, "PUT", "/v2/members/%x" % other,
                             body={"peerURLs": [c.node(leader).url]})
        self.assertEqual(st, 409, m)
        st, m = members_call(c, leader, "PATCH", "/v2/members/1")
        self.assertEqual(st, 405, m)
        self.assertEqual(sorted(members_list(c, leader)), [1, 2, 3])
        self.assertEqual(configuration(c, leader),
                         {1: "voter", 2: "voter", 3: "voter"})

    def test_a_removal_that_would_lose_quorum_is_refused_through_a_follower(self):
        """{1,2,3}, one follower down: removing the other follower would
        leave {leader, down one}, whose majority needs the one that is
        down. Asked of the follower that stays, the leader refuses; the
        follower answers 409 with the leader's reason, and logs it."""
        c = self.cluster_of(3, [1, 2, 3])
        leader, term = c.leader()
        down, asker = [i for i in c.ids() if i != leader]
        c.kill(down)

        def noticed():
            s = c.status(leader)
            m = s and next(m for m in s["members"] if m["id"] == down)
            return m and m.get("last_contact_ms", 0) > 4 * c.heartbeat_ms
        c.wait_for(noticed, scaled(10), msg="the leader to miss node %d" % down)
        st, m = members_call(c, asker, "DELETE", "/v2/members/%x" % asker)
        self.assertEqual(st, 409, m)
        self.assertRegex(m["message"], r"Too few of the members that would "
                         r"remain are up")
        c.wait_log(asker, r"membership_refused: the leader \(node %d\) "
                   r"refused" % leader, timeout=scaled(10))
        self.assertEqual(sorted(configuration(c, leader)), [1, 2, 3])
        self.assertEqual(c.agreed_leader([leader, asker]), (leader, term))
