"""The members list a data directory was bootstrapped with (issue 14).

raftd cannot change its members at run time yet, and a members list
edited on some machines only used to split the brain: two leaders in one
term, both acknowledging writes. A data directory now keeps the list it
was bootstrapped with (data_dir/members), and a node refuses to start on
any other list (exit 78, EX_CONFIG), saying what differs and what to do.
"""

import os
import re
import subprocess

import harness
from harness import kv_get, kv_put, kv_value, scaled, wait_converged

# what the refusal says (raftd.conf(5), MEMBERS)
DIFFERS = r"the members list differs from the one the data directory"


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
        """The issue's scenario: {1,2,3} runs and is stopped; the list
        becomes {1,2,3,4,5} on nodes 3, 4 and 5 only. Before the record,
        nodes 3, 4 and 5 elected a leader of their own while 1 and 2 did
        too. Now node 3 refuses to start, 4 and 5 (new, bootstrapped from
        the edited list) cannot win an election because 1 and 2 do not
        answer non-members, and 1 and 2 keep serving."""
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
        c.start(3, wait=False)
        for i in (4, 5):
            c.start(i)
        for i in (1, 2):
            c.start(i)
        leader, term = c.leader(ids=[1, 2])
        r = kv_put(c, leader, "/k", "old-side")
        self.assertEqual(r.status, 200, r)
        # Before the record, nodes 3, 4 and 5 elected a leader of their own
        # and this write succeeded too. Now it finds no leader.
        r = kv_put(c, 4, "/k", "new-side", timeout=scaled(6))
        self.assertIsNotNone(r)
        self.assertGreaterEqual(r.status, 500, "a second leader acknowledged "
                                "a write: %r (%s)" % (r, c.describe_statuses()))
        # every quorum read that is served agrees
        for i in (1, 2):
            self.assertEqual(quorum_value(c, i, "/k"), "old-side")
        for i in (3, 4, 5):
            if c.node(i).running():
                self.assertIn(quorum_value(c, i, "/k"), (None, "old-side"),
                              "node %d" % i)

        # node 3 refused to start, saying why and what to do
        self.assertEqual(c.wait_refusal(3, scaled(10), "edited list"), 78)
        log3 = c.log_text(3, since_start=True)
        self.assertRegex(log3, DIFFERS)
        self.assertIn("node 4 (%s) was added" % c.node(4).url, log3)
        self.assertIn("node 5 (%s) was added" % c.node(5).url, log3)
        self.assertIn("not supported yet", log3)
        self.assertIn("move every member's data directory aside", log3)

        # node 4 campaigns again and again, and loses every time: nodes 1
        # and 2 refuse its messages (403: its edited list makes it another
        # cluster) and node 3 is down
        c.wait_log(4, r"node 1 answered 403.*of cluster", timeout=scaled(10))
        c.wait_log(4, r"node 2 answered 403.*of cluster", timeout=scaled(10))
        c.wait_log(1, r"foreign_rpc: refused POST /raft/request_vote", 
                   timeout=scaled(10))
        c.wait_for(lambda: harness.log_count(c, 4, r"asking for pre-votes")
                   >= 3, timeout=scaled(20), msg="node 4 to try three pre-votes")
        for i in (4, 5):
            s = c.status(i)
            self.assertNotEqual(s["state"], "Leader", s)
            self.assertIsNone(s["leader_id"], s)
        # and 1 and 2 still have their leader of the same term
        self.assertEqual(c.agreed_leader(ids=[1, 2]), (leader, term))

        # restoring the list on node 3 brings it back into the cluster
        c.set_members([3], [1, 2, 3])
        c.start(3)
        wait_converged(c, ids=[1, 2, 3])
        self.assertEqual(quorum_value(c, 3, "/k"), "old-side")

    def test_every_kind_of_change_is_refused_and_check_config_says_so(self):
        c = self.cluster(3)
        c.leader()
        c.stop_all()
        d = c.node(1).data_dir
        with open(os.path.join(d, "members")) as f:
            record = f.read()
        self.assertTrue(record.startswith("raftd members 1\n"), record)
        for i in c.ids():
            self.assertIn("member %d %s\n" % (i, c.node(i).url), record)
        original = open(c.node(1).config_path).read()
        nd = c.node(1)

        def conf(members):
            return harness.config_text(1, "%s:%d" % (nd.host, nd.port),
                                       nd.data_dir, members)
        m = dict(c.members)
        other = "http://127.0.0.1:1"
        edits = {
            "removed": (conf([(1, m[1]), (2, m[2])]),
                        r"node 3 \(%s\) was removed" % re.escape(m[3])),
            "added": (conf(c.members + [(4, other)]),
                      r"node 4 \(%s\) was added" % re.escape(other)),
            "url changed": (conf([(1, m[1]), (2, other), (3, m[3])]),
                            r"node 2's url changed from %s to %s"
                            % (re.escape(m[2]), re.escape(other))),
            "id changed": (conf([(1, m[1]), (2, m[2]), (7, m[3])]),
                           r"node 7 .* was added; node 3 .* was removed"),
        }
        for what, (text, want) in edits.items():
            with self.subTest(what):
                self.assertNotEqual(text, original)
                with open(c.node(1).config_path, "w") as f:
                    f.write(text)
                p = subprocess.run([c.binary, "--check-config", "--config",
                                    c.node(1).config_path],
                                   capture_output=True, text=True,
                                   timeout=scaled(10))
                self.assertEqual(p.returncode, 78, p)
                self.assertRegex(p.stderr, DIFFERS)
                self.assertRegex(p.stderr, want)
                self.assertIn("%s:" % c.node(1).config_path, p.stderr)
                c.start(1, wait=False)
                self.assertEqual(c.wait_refusal(1, scaled(10), what), 78)
                self.assertRegex(c.log_text(1, since_start=True), want)
        # the record was not touched by any of this
        with open(os.path.join(d, "members")) as f:
            self.assertEqual(f.read(), record)
        with open(c.node(1).config_path, "w") as f:
            f.write(original)
        p = subprocess.run([c.binary, "--check-config", "--config",
                            c.node(1).config_path], capture_output=True,
                           text=True, timeout=scaled(10))
        self.assertEqual(p.returncode, 0, p)
        c.start_all()
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

    def test_non_members_are_refused(self):
        """Messages from a node that is not in the receiver's list are
        refused (403) and change nothing, even when they are signed with
        the cluster's secret: a new node listed only in its own edited file
        cannot win a member's vote. Unsigned ones get 401."""
        c = self.cluster(3)
        leader, term = c.leader()
        follower = c.followers(leader)[0]
        for path, body in (
                ("/raft/request_vote",
                 {"term": term + 5, "candidate_id": 9, "to": follower,
                  "last_log_index": 1000, "last_log_term": term + 5,
                  "prevote": False}),
                ("/raft/request_vote",
                 {"term": term + 5, "candidate_id": 9, "to": follower,
                  "last_log_index": 1000, "last_log_term": term + 5,
                  "prevote": True}),
                ("/raft/append_entries",
                 {"term": term + 5, "leader_id": 9, "to": follower,
                  "prev_log_index": 0, "prev_log_term": 0, "entries": [],
                  "leader_commit": 0, "seq": 1})):
            r = c.peer_request(follower, path, body=body, frm=9)
            self.assertEqual(r.status, 403, (path, body, r))
            self.assertIn(b"not a member", r.body)
            r = c.request(follower, "POST", path, body=body)
            self.assertEqual(r.status, 401, (path, body, r))
        self.assertEqual(c.agreed_leader(), (leader, term))

    def test_snapshots_carry_the_record_and_foreign_ones_are_refused(self):
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
        with open(os.path.join(b.node(lb).data_dir, "members"), "rb") as f:
            record = f.read()
        self.assertIn(record, img)  # the snapshot carries the record
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
        # snapshot's own record gives it away (409)
        r = a.peer_request(follower, "/raft/install_snapshot",
                           body=head + img, frm=la)
        self.assertEqual(r.status, 409, r)
        self.assertIn(b"taken under other members", r.body)
        a.wait_log(follower, r"refused a snapshot: .*taken under other "
                   r"members")
        after = a.status(follower)
        for k in ("term", "commit_index", "last_log_index", "snapshot_index"):
            self.assertEqual(after[k], before[k], k)
        self.assertEqual(kv_value(kv_get(a, follower, "/b0")), None)
        self.assertEqual(kv_value(kv_get(a, follower, "/a")), "mine")
        self.assertEqual(a.agreed_leader(), (la, ta))
