"""The members list a data directory was bootstrapped with (issues 14
and 11).

A members list edited on some machines only used to split the brain: two
leaders in one term, both acknowledging writes. The configuration now
lives in the log: a data directory records the list it was bootstrapped
with (data_dir/members, and the cluster id), a start keeps the cluster's
configuration and reports a file that differs, and a reload asks the
leader to change the members one server at a time.
"""

import os
import re
import signal
import subprocess

import harness
from harness import kv_get, kv_put, kv_value, scaled, wait_converged

# what the refusal says (raftd.conf(5), MEMBERS)
DIFFERS = r"the members list differs from the one the data directory"


def voters(c, i):
    s = c.status(i)
    return s and sorted(m["id"] for m in s["members"]
                        if m.get("role") == "voter")


def wait_voters(c, i, ids, timeout=None):
    """Wait until node i's configuration has exactly the voters ids and
    is committed; returns its status."""
    def ok():
        s = c.status(i)
        return (s and sorted(m["id"] for m in s["members"]) == sorted(ids) and
                voters(c, i) == sorted(ids) and
                s["configuration"]["committed"] and s)
    return c.wait_for(ok, timeout or scaled(30),
                      msg="node %d's voters to be %s" % (i, ids))


def quorum_value(c, i, key):
    """The value of a quorum read of key on node i, or None if the node
    could not serve one (no leader it can reach)."""
    r = kv_get(c, i, key, quorum=True, timeout=scaled(4))
    if r is None or r.status != 200:
        return None
    return kv_value(r)


class MembersRecordTest(harness.ClusterTestCase):

    def _test_failed(self):
        return harness.test_failed(self)

    def test_members_edited_on_some_machines_cannot_split_the_brain(self):
        """The scenario of issue 14: {1,2,3} runs and is stopped; the list
        becomes {1,2,3,4,5} on nodes 3, 4 and 5 only. Before the members
        record, nodes 3, 4 and 5 elected a leader of their own while 1 and
        2 did too. Now the configuration lives in the log: node 3 starts
        with {1,2,3} and only reports its file; 4 and 5 (new, bootstrapped
        from the edited list, so another cluster id) cannot win an
        election, since 1, 2 and 3 answer no one outside their cluster; the
        cluster keeps one leader. A reload on node 3 then grows it to five,
        one server at a time, and 4 and 5 join it."""
        c = self.cluster(5, start=False)
        c.set_members([1, 2, 3], [1, 2, 3])
        for i in (1, 2, 3):
            c.start(i)
        leader, _ = c.leader(ids=[1, 2, 3])
        r = kv_put(c, leader, "/k", "before")
        self.assertIn(r.status, (200, 201), r)
        wait_converged(c, ids=[1, 2, 3])
        c.stop_all()

        c.set_members([3, 4, 5], [1, 2, 3, 4, 5])
        for i in (3, 4, 5, 1, 2):
            c.start(i)
        leader, term = c.leader(ids=[1, 2, 3])
        r = kv_put(c, leader, "/k", "old-side")
        self.assertEqual(r.status, 200, r)
        # Before the record, nodes 3, 4 and 5 elected a leader of their own
        # and this write succeeded too. Now it finds no leader.
        r = kv_put(c, 4, "/k", "new-side", timeout=scaled(6))
        self.assertIsNotNone(r)
        self.assertGreaterEqual(r.status, 500, "a second leader acknowledged "
                                "a write: %r (%s)" % (r, c.describe_statuses()))
        for i in (1, 2, 3):
            self.assertEqual(quorum_value(c, i, "/k"), "old-side")
        for i in (4, 5):
            self.assertIn(quorum_value(c, i, "/k"), (None, "old-side"))
        # node 3 started, and says how its file differs
        self.assertRegex(c.log_text(3, since_start=True),
                         r"members_file_differs: .* lists other members than "
                         r"the cluster has: node 4 \(%s\) is to be added; "
                         r"node 5 \(%s\) is to be added" %
                         (re.escape(c.node(4).url), re.escape(c.node(5).url)))
        self.assertIn("is to be added", c.status(3)["members_file_differs"])
        self.assertEqual(len(c.status(leader)["members"]), 3)
        # 4 and 5 campaign and lose: the others refuse another cluster
        c.wait_log(1, r"foreign_rpc: refused POST /raft/request_vote",
                   timeout=scaled(10))
        for i in (4, 5):
            s = c.status(i)
            self.assertNotEqual(s["state"], "Leader", s)
        self.assertEqual(c.agreed_leader(ids=[1, 2, 3]), (leader, term))

        # a reload on node 3 asks the leader for its list: 4 and 5 join
        harness.send_signal(c, 3, signal.SIGHUP)
        wait_voters(c, leader, [1, 2, 3, 4, 5])
        wait_converged(c)
        for i in c.ids():
            self.assertEqual(quorum_value(c, i, "/k"), "old-side")

    def test_a_differing_file_is_reported_and_check_config_says_so(self):
        """A start with another list than the cluster's keeps the cluster's
        configuration and says what differs; --check-config compares with
        the running cluster, or with the bootstrap record when the node is
        down."""
        c = self.cluster(3)
        c.leader()
        d = c.node(1).data_dir
        with open(os.path.join(d, "members")) as f:
            record = f.read()
        self.assertTrue(record.startswith("raftd members 1\n"), record)
        for i in c.ids():
            self.assertIn("member %d %s\n" % (i, c.node(i).url), record)
        nd = c.node(1)

        def conf(members):
            return harness.config_text(1, "%s:%d" % (nd.host, nd.port),
                                       nd.data_dir, members,
                                       secret_file=c.secret_file)
        m = dict(c.members)
        other = "http://127.0.0.1:1"
        original = open(nd.config_path).read()
        edits = {
            "removed": (conf([(1, m[1]), (2, m[2])]),
                        r"node 3 \(%s\) is to be removed" % re.escape(m[3])),
            "added": (conf(c.members + [(4, other)]),
                      r"node 4 \(%s\) is to be added" % re.escape(other)),
            "url changed": (conf([(1, m[1]), (2, other), (3, m[3])]),
                            r"node 2's url is to change from %s to %s"
                            % (re.escape(m[2]), re.escape(other))),
        }
        for what, (text, want) in edits.items():
            with self.subTest(what):
                with open(nd.config_path, "w") as f:
                    f.write(text)
                p = subprocess.run([c.binary, "--check-config", "--config",
                                    nd.config_path], capture_output=True,
                                   text=True, timeout=scaled(10))
                self.assertEqual(p.returncode, 0, p)
                self.assertRegex(p.stdout, r"differs from the running "
                                 r"cluster's configuration")
                self.assertRegex(p.stdout, want)
                c.restart(1)
                c.wait_log(1, want, since_start=True)
                self.assertEqual(len(c.status(1)["members"]), 3)
                c.leader()
        # down: compared with the bootstrap record
        c.stop(1)
        p = subprocess.run([c.binary, "--check-config", "--config",
                            nd.config_path], capture_output=True, text=True,
                           timeout=scaled(10))
        self.assertEqual(p.returncode, 0, p)
        self.assertIn("bootstrapped with", p.stdout)
        # the record was not touched by any of this
        with open(os.path.join(d, "members")) as f:
            self.assertEqual(f.read(), record)
        with open(nd.config_path, "w") as f:
            f.write(original)
        p = subprocess.run([c.binary, "--check-config", "--config",
                            nd.config_path], capture_output=True, text=True,
                           timeout=scaled(10))
        self.assertNotIn("differs", p.stdout)
        c.start(1)
        c.leader()

    def test_damaged_record_is_refused_with_what_to_do(self):
        c = self.cluster(3)
        c.leader()
        c.stop(1)
        path = os.path.join(c.node(1).data_dir, "members")
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            i = data.index(b"member 1 ")
            data[i + 7] = ord("9")  # "member 9 ...": the checksum catches it
            f.seek(0)
            f.write(data)
        c.start(1, wait=False)
        self.assertEqual(c.wait_refusal(1, scaled(10), "damaged record"), 78)
        log = c.log_text(1, since_start=True)
        self.assertIn("%s is damaged (checksum mismatch)" % path, log)
        self.assertIn("remove %s and start the node again" % path, log)
        # doing as it says: the record is written anew from the config
        os.unlink(path)
        c.start(1)
        wait_converged(c)
        self.assertRegex(c.log_text(1, since_start=True),
                         r"holds data but no members record")
        with open(path) as f:
            self.assertIn("member 1 %s\n" % c.node(1).url, f.read())

    def test_non_members_cannot_vote_themselves_in_or_act_as_members(self):
        """A node outside the receiver's configuration, signing with the
        cluster's secret: its vote requests reach the core, which refuses
        a stranger without effect (a new node listed only in its own edited
        file cannot win a member's vote; dissertation 4.1 has the core see
        them, as the candidate may belong to a newer configuration); its
        TimeoutNow, forwarded writes and reads are refused (403). Unsigned
        requests get 401. Nothing changes."""
        c = self.cluster(3)
        leader, term = c.leader()
        follower = c.followers(leader)[0]
        before = c.status(follower)
        for prevote in (True, False):
            body = {"term": term + 5, "candidate_id": 9, "to": follower,
                    "last_log_index": 1000, "last_log_term": term + 5,
                    "prevote": prevote}
            r = c.peer_request(follower, "/raft/request_vote", body=body,
                               frm=9)
            self.assertIn(r.status, (200, 204), r)  # denied, or no answer
            if r.status == 200:
                self.assertIs(r.json().get("vote_granted"), False, r)
            r = c.request(follower, "POST", "/raft/request_vote", body=body)
            self.assertEqual(r.status, 401, r)
        for path, body in (
                ("/raft/timeout_now", {"term": term, "from": 9,
                                       "to": follower}),
                ("/raft/read_index", b""),
                ("/raft/propose", b"")):
            r = c.peer_request(follower, path, body=body, frm=9)
            self.assertEqual(r.status, 403, (path, r))
            self.assertIn(b"not a member", r.body)
        after = c.status(follower)
        self.assertEqual((after["term"], after["voted_for"]),
                         (before["term"], before["voted_for"]))
        self.assertEqual(c.agreed_leader(), (leader, term))

    def test_snapshots_carry_the_configuration_and_foreign_ones_are_refused(self):
        snap = ("snapshot_entries = 20;\nsnapshot_keep_entries = 5;\n")
        a = self.cluster(3, extra_config=snap, name=self.id() + ".a")
        b = self.cluster(3, extra_config=snap, name=self.id() + ".b")
        la, ta = a.leader()
        lb, _ = b.leader()
        for i in range(30):
            self.assertIn(kv_put(b, lb, "/b%d" % i, "x").status, (200, 201))
        b.wait_for(lambda: b.status(lb)["snapshot_index"] > 0, scaled(10),
                   msg="a snapshot on cluster b's leader")
        with open(os.path.join(b.node(lb).data_dir, "snapshot"), "rb") as f:
            img = f.read()
        # the snapshot carries its configuration, with the cluster's id
        self.assertIn(b"RCL1" + int(b.cluster_id(), 16).to_bytes(8, "little"),
                      img)
        index = int.from_bytes(img[16:24], "little")
        term = int.from_bytes(img[24:32], "little")
        self.assertIn(kv_put(a, la, "/a", "mine").status, (200, 201))
        follower = a.followers(la)[0]
        before = wait_converged(a)[follower]
        head = ('{"term":%d,"leader_id":%d,"to":%d,"last_included_index":%d,'
                '"last_included_term":%d,"leader_commit":%d,"seq":1}\n'
                % (ta, la, follower, index, term, index)).encode()
        # signed by cluster b's leader: another cluster (403)
        hdrs = b.peer_headers(follower, "/raft/install_snapshot", head + img,
                              frm=lb)
        code, _, body = a.http(follower, "POST", "/raft/install_snapshot",
                               head + img, hdrs)
        self.assertEqual(code, 403, body)
        self.assertIn(b"of cluster %s" % b.cluster_id().encode(), body)
        # signed as cluster a's leader (a member that went wrong): the
        # snapshot's own cluster id gives it away (409)
        r = a.peer_request(follower, "/raft/install_snapshot",
                           body=head + img, frm=la)
        self.assertEqual(r.status, 409, r)
        self.assertIn(b"belongs to cluster %s" % b.cluster_id().encode(),
                      r.body)
        a.wait_log(follower, r"refused a snapshot: .*belongs to cluster")
        after = a.status(follower)
        for k in ("term", "commit_index", "last_log_index", "snapshot_index"):
            self.assertEqual(after[k], before[k], k)
        self.assertEqual(kv_value(kv_get(a, follower, "/b0")), None)
        self.assertEqual(kv_value(kv_get(a, follower, "/a")), "mine")
        self.assertEqual(a.agreed_leader(), (la, ta))
