"""Only the cluster's members speak Raft to a node (issue 10; peer_auth.h).

Each attack of the issue's trial, sent by a process that is not a member:
without a signature, with a wrong secret, replayed, stale, or from another
cluster. Each must be refused (401, or 403 for another cluster) and change
nothing: the term, the leader, the log and the store stay as they were.
"""

import base64
import json
import os
import re
import time

import harness
from harness import kv_get, kv_put, kv_value, scaled, wait_converged

PEER_PATHS = ("/raft/request_vote", "/raft/append_entries",
              "/raft/timeout_now", "/raft/install_snapshot", "/raft/propose",
              "/raft/read_index")


def snapshot_image(c, i):
    with open(os.path.join(c.node(i).data_dir, "snapshot"), "rb") as f:
        return f.read()


class PeerAuthTest(harness.ClusterTestCase):

    def _test_failed(self):
        return harness.test_failed(self)

    def state(self, c):
        """What an attack must not change: the leader, its term, and every
        node's log and commit index, once the cluster has settled."""
        st = wait_converged(c)
        return {i: (s["state"], s["term"], s["leader_id"], s["commit_index"],
                    s["last_log_index"], s["last_log_term"])
                for i, s in st.items()}

    def attacks(self, c, leader, term, follower):
        """(name, path, body bytes, sender id claimed) of the issue's
        trial: votes with transfer and a high term, TimeoutNow, a forged
        append with an entry, a forged snapshot, garbage proposals and a
        read_index."""
        vote = {"term": term + 10, "candidate_id": follower, "to": leader,
                "last_log_index": 10 ** 6, "last_log_term": term + 10,
                "prevote": False, "transfer": True}
        entry = base64.b64encode(
            b'7 1\n{"op":"set","key":"/forged","value":"by-outsider"}')
        append = {"term": term + 1, "leader_id": leader, "to": follower,
                  "prev_log_index": 0, "prev_log_term": 0, "seq": 1,
                  "leader_commit": 1,
                  "entries": [{"index": 1, "term": term + 1, "type": 0,
                               "data": entry.decode()}]}
        img = snapshot_image(c, leader)
        index = int.from_bytes(img[16:24], "little")
        sterm = int.from_bytes(img[24:32], "little")
        snap = (json.dumps({"term": term + 1, "leader_id": leader,
                            "to": follower, "last_included_index": index,
                            "last_included_term": sterm,
                            "leader_commit": index, "seq": 1}).encode()
                + b"\n" + img)
        return [
            ("vote with transfer", "/raft/request_vote",
             json.dumps(vote).encode(), leader, follower),
            ("timeout_now", "/raft/timeout_now",
             json.dumps({"term": term, "leader_id": leader,
                         "to": follower}).encode(), follower, leader),
            ("append", "/raft/append_entries", json.dumps(append).encode(),
             follower, leader),
            ("snapshot", "/raft/install_snapshot", snap, follower, leader),
            ("propose", "/raft/propose",
             b"5\ngarbl", leader, follower),
            ("read_index", "/raft/read_index", b"", leader, follower),
        ]

    def send_all(self, c, attacks, want, why, **sign):
        """Send every attack; each must get status want, with an error
        that contains why."""
        for name, path, body, to, frm in attacks:
            hdrs = {"Content-Type": "application/json"}
            if sign:
                hdrs.update(c.peer_headers(to, path, body, frm=frm, **sign))
            code, _, data = c.http(to, "POST", path, body, hdrs)
            self.assertEqual(code, want, "%s (%s): %d %r" % (
                name, sign or "unsigned", code, data[:300]))
            self.assertIn(why, json.loads(data).get("error"), name)

    def cluster_with_data(self):
        c = self.cluster(3, extra_config="snapshot_entries = 20;\n"
                                         "snapshot_keep_entries = 5;\n")
        leader, term = c.leader()
        for k in range(30):
            self.assertIn(kv_put(c, leader, "/k%d" % k, "v%d" % k).status,
                          (200, 201))
        c.wait_for(lambda: c.status(leader)["snapshot_index"] > 0,
                   scaled(10), msg="a snapshot on the leader")
        return c, leader, term

    def assert_unchanged(self, c, before, leader):
        """A write still commits with the same leader and term, and the
        forged key is nowhere."""
        r = kv_put(c, leader, "/after", "1")
        self.assertIn(r.status, (200, 201), r)
        after = self.state(c)
        for i in c.ids():
            self.assertEqual(after[i][:3], before[i][:3], "node %d" % i)
            self.assertIsNone(kv_value(kv_get(c, i, "/forged")))
            self.assertEqual(kv_value(kv_get(c, i, "/k7")), "v7")
        # one write more: log and commit moved by exactly that
        self.assertEqual({s[3] for s in after.values()},
                         {before[leader][3] + 1})

    def test_every_attack_without_a_valid_signature_is_refused(self):
        c, leader, term = self.cluster_with_data()
        before = self.state(c)
        follower = c.followers(leader)[0]
        attacks = self.attacks(c, leader, term, follower)
        self.send_all(c, attacks, 401, "no Raftd-Auth header")
        self.send_all(c, attacks, 401, "wrong signature",
                      secret=os.urandom(32))
        self.send_all(c, attacks, 401, "is not signed", sign=False)
        # signed, but a minute old or a minute ahead
        now = int(time.time() * 1000)
        self.send_all(c, attacks, 401, "behind this node's clock",
                      ts_ms=now - 60000)
        self.send_all(c, attacks, 401, "ahead of this node's clock",
                      ts_ms=now + 60000)
        self.assert_unchanged(c, before, leader)
        # in the journal, at most one line per 10 s
        for i in (leader, follower):
            n = harness.log_count(c, i, r"peer_rpc_refused: refused POST "
                                  r"/raft/\w+ from 127\.0\.0\.1:\d+: ")
            self.assertGreaterEqual(n, 1, "node %d" % i)
            self.assertLess(n, 5, "node %d: not rate-limited" % i)

    def test_unsigned_upload_is_refused_before_its_body(self):
        """An InstallSnapshot may be a gigabyte: one without a valid header
        is refused as soon as its headers are in, not after its body."""
        c = self.cluster(3)
        leader, term = c.leader()
        nd = c.node(leader)
        for hdrs in ({}, c.peer_headers(leader, "/raft/install_snapshot",
                                        b"x", secret=os.urandom(32))):
            head = (b"POST /raft/install_snapshot HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/octet-stream\r\n"
                    b"Content-Length: 500000000\r\n")
            for k, v in hdrs.items():
                head += b"%s: %s\r\n" % (k.encode(), v.encode())
            raw = harness.raw_exchange(nd.host, nd.port, head + b"\r\n",
                                       timeout=scaled(10),
                                       shutdown_write=False,
                                       stop_after_response=True)
            parsed = harness.parse_http_response(raw)
            self.assertIsNotNone(parsed, "no answer before the body: %r"
                                 % raw[:200])
            self.assertEqual(parsed[0], 401, raw[:300])
        self.assertEqual(c.agreed_leader(), (leader, term))

    def test_replayed_requests_are_refused(self):
        """A member's request recorded and sent again, at once: refused,
        and its one acceptance changed nothing either (a stale vote)."""
        c = self.cluster(3)
        leader, term = c.leader()
        follower = c.followers(leader)[0]
        before = self.state(c)
        # a well-formed vote of an old term: the first copy is admitted
        # (and denied: stale), the copy is refused before it is read
        vote = json.dumps({"term": 0, "candidate_id": follower, "to": leader,
                           "last_log_index": 0, "last_log_term": 0,
                           "prevote": False}).encode()
        hdrs = c.peer_headers(leader, "/raft/request_vote", vote, frm=follower)
        hdrs["Content-Type"] = "application/json"
        code, _, data = c.http(leader, "POST", "/raft/request_vote", vote,
                               hdrs)
        self.assertLess(code, 300, data)
        code, _, data = c.http(leader, "POST", "/raft/request_vote", vote,
                               hdrs)
        self.assertEqual(code, 401, data)
        self.assertIn(b"seen before", data)
        self.assert_unchanged_simple(c, before, leader)

    def assert_unchanged_simple(self, c, before, leader):
        r = kv_put(c, leader, "/after", "1")
        self.assertIn(r.status, (200, 201), r)
        after = self.state(c)
        for i in c.ids():
            self.assertEqual(after[i][:3], before[i][:3], "node %d" % i)

    def test_another_cluster_is_refused_with_403_and_logged_once(self):
        a = self.cluster(3, name=self.id() + ".a")
        b = self.cluster(3, name=self.id() + ".b")
        la, ta = a.leader()
        lb, tb = b.leader()
        before = self.state(a)
        follower = a.followers(la)[0]
        self.assertNotEqual(a.cluster_id(), b.cluster_id())
        vote = json.dumps({"term": ta + 5, "candidate_id": lb, "to": la,
                           "last_log_index": 10 ** 6,
                           "last_log_term": ta + 5, "prevote": False,
                           "transfer": True}).encode()
        for k in range(40):
            # as cluster b's leader would sign it (its secret and id)
            hdrs = b.peer_headers(la, "/raft/request_vote", vote, frm=lb)
            code, _, data = a.http(la, "POST", "/raft/request_vote", vote,
                                   hdrs)
            self.assertEqual(code, 403, data)
            self.assertIn(b"of cluster %s; this is cluster %s"
                          % (b.cluster_id().encode(),
                             a.cluster_id().encode()), data)
        self.assert_unchanged_simple(a, before, la)
        events = re.findall(r"foreign_rpc: refused POST /raft/request_vote "
                            r"from 127\.0\.0\.1:\d+: the request comes from "
                            r"node \d+ of cluster", a.log_text(la))
        self.assertGreaterEqual(len(events), 1)
        self.assertLess(len(events), 5, "the foreign_rpc event is not rate-"
                        "limited: %d of 40 logged" % len(events))

    def test_members_with_different_secrets_do_not_form_a_cluster(self):
        """A member whose secret differs (copied wrong) is refused by the
        others and says why; the other two keep working."""
        c = self.cluster(3, start=False)
        odd = os.path.join(c.dir, "odd-secret")
        with open(odd, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(odd, 0o600)
        path = c.node(3).config_path
        text = open(path).read().replace(c.secret_file, odd)
        with open(path, "w") as f:
            f.write(text)
        c.start_all()
        leader, term = c.leader(ids=[1, 2])
        self.assertIn(kv_put(c, leader, "/x", "1").status, (200, 201))
        c.wait_log(3, r"refused_by_peer: node [12] refused our request "
                   r"\(401\).*wrong signature", timeout=scaled(10))
        c.wait_log(leader, r"peer_rpc_refused: .*claiming to be from node 3 "
                   r"has a wrong signature", timeout=scaled(10))
        s = c.status(3)
        self.assertNotEqual(s["state"], "Leader")
        self.assertEqual(c.agreed_leader(ids=[1, 2]), (leader, term))

    def test_peer_auth_none_runs_and_says_so(self):
        c = self.cluster(3, peer_auth="none")
        leader, term = c.leader()
        self.assertIn(kv_put(c, leader, "/x", "1").status, (200, 201))
        wait_converged(c)
        for i in c.ids():
            self.assertEqual(c.status(i)["peer_auth"], "none")
            self.assertRegex(c.log_text(i), r"peer_auth_off: .*peer "
                             r"authentication is off")
        # another cluster is still told apart by its id
        b = self.cluster(1, peer_auth="none", name=self.id() + ".b")
        b.leader()
        hdrs = b.peer_headers(leader, "/raft/timeout_now", b"{}", frm=1,
                              sign=False)
        code, _, data = c.http(leader, "POST", "/raft/timeout_now", b"{}",
                               hdrs)
        self.assertEqual(code, 403, data)
        self.assertEqual(c.agreed_leader(), (leader, term))

    def test_status_reports_cluster_and_peer_auth(self):
        c = self.cluster(3)
        c.leader()
        ids = {c.status(i)["cluster_id"] for i in c.ids()}
        self.assertEqual(len(ids), 1)
        self.assertRegex(ids.pop(), r"^[0-9a-f]{16}$")
        for i in c.ids():
            self.assertEqual(c.status(i)["peer_auth"], "hmac")
            with open(os.path.join(c.node(i).data_dir, "members")) as f:
                self.assertIn("\ncluster %s\n" % c.cluster_id(), f.read())
