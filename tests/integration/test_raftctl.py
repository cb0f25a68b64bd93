"""raftctl against real clusters (issue 12, item 1): status with all
members up and with one down, leader, members add/remove, the merged
events timeline, and events -f following a new election as it happens."""

import http.server
import json
import os
import queue
import re
import subprocess
import threading
import time
import unittest

import harness
import test_membership
from harness import LEADER_TIMEOUT, scaled


def raftctl_path():
    here = os.path.dirname(harness.raftd_path())
    return os.environ.get("RAFTCTL") or os.path.join(here, "raftctl")


def require_raftctl():
    """raftctl's path; skips (not fails) when it has not been built."""
    p = raftctl_path()
    if not os.access(p, os.X_OK):
        raise unittest.SkipTest("raftctl not built at %s (set RAFTCTL)" % p)
    return p


class FakeMembers:
    """HTTP servers that stand for members, for what a real cluster does
    not do on cue: answer(i, method, path, body) -> (status, JSON or None)
    runs in the server's thread for member i (0, 1, ...), and may sleep."""

    def __init__(self, n, answer):
        self.servers = []
        self.requests = []  # (i, method, path), in order
        fake = self

        for i in range(n):
            class Handler(http.server.BaseHTTPRequestHandler):
                member = i
                protocol_version = "HTTP/1.1"

                def log_message(self, *args):
                    pass

                def handle_one(self):
                    n = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(n) if n else b""
                    fake.requests.append((self.member, self.command,
                                          self.path))
                    status, obj = answer(self.member, self.command,
                                         self.path, body)
                    if status is None:  # no answer: drop the connection
                        self.close_connection = True
                        return
                    data = b"" if obj is None else json.dumps(obj).encode()
                    try:
                        self.send_response(status)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                    except OSError:  # raftctl gone meanwhile
                        self.close_connection = True

                do_GET = do_POST = do_DELETE = handle_one

            srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            self.servers.append(srv)
        self.urls = ["http://127.0.0.1:%d" % s.server_address[1]
                     for s in self.servers]

    def close(self):
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()


class RaftctlCase(harness.ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        require_raftctl()

    def endpoints(self, c, ids=None):
        return ",".join(c.node(i).url for i in (ids or c.ids()))

    def raftctl(self, *args, timeout=None):
        p = subprocess.run([raftctl_path(), *args], capture_output=True,
                           text=True, timeout=timeout or scaled(60))
        return p.returncode, p.stdout, p.stderr

    def ctl(self, c, *args, ids=None):
        return self.raftctl("--endpoints", self.endpoints(c, ids), *args)

    def fake_members(self, n, answer):
        f = FakeMembers(n, answer)
        self.addCleanup(f.close)
        return f

    def ctl_json(self, c, *args, ids=None, want_rc=0):
        rc, out, err = self.ctl(c, "--json", *args, ids=ids)
        self.assertEqual(rc, want_rc, (out, err))
        return json.loads(out)

    def events_of(self, c, i):
        """The names of node i's recent events (GET /events), oldest first."""
        return [e["event"] for e in
                c.request(i, "GET", "/events").json()["events"]]


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

    def test_https_members_with_the_configs_ca(self):
        c = self.cluster(3, tls=True)
        leader, _ = c.leader()
        rc, out, err = self.raftctl("--config", c.node(2).config_path,
                                    "leader")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split(), [str(leader), c.node(leader).url])
        self.assertTrue(c.node(leader).url.startswith("https://"))
        # --cacert names it too; without any CA the certificate is refused
        rc, out, err = self.ctl(c, "--cacert", c.ca.cert, "leader")
        self.assertEqual(rc, 0, err)
        rc, _, err = self.ctl(c, "leader")
        self.assertEqual(rc, 1)
        # (curl says "certificate", or times out reading the system's CAs
        # on a busy machine)
        self.assertRegex(err, r"(?i)certificate|SSL")

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
        # a bad URL to add is refused before any member is asked (one is
        # there, and would answer: a fake that records what it is asked)
        f = self.fake_members(1, lambda *a: (500, {"error": "asked"}))
        for url in ("ftp://192.0.2.1:7001", "http://192.0.2.1:99999",
                    "192.0.2.1:7001"):
            rc, _, err = self.raftctl("--endpoints", f.urls[0], "members",
                                      "add", url)
            self.assertEqual(rc, 2, err)
            self.assertIn('members add: the url "%s" is not valid' % url,
                          err)
        self.assertEqual(f.requests, [])


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

    def test_events_follow_holds_each_event_for_its_own_wait(self):
        # fake members: node 1's first event comes at once, node 2's (later
        # in time) 290 ms on, then node 1's second (between the two in
        # time) 445 ms on, within the 300 ms node 2's is held. Node 3 keeps
        # answering with nothing every 10 ms, so raftctl looks often. Each
        # event waits its own 300 ms: the three come out in time order,
        # not node 2's as soon as node 1's first had waited.
        start = []
        lock = threading.Lock()

        def ev(node, seq, t):
            return {"node_id": node, "seq": seq, "time_us": t, "term": 1,
                    "state": "Follower", "event": "test"}

        def events(evs, nxt):
            return 200, {"instance": "%016x" % 1, "events": evs,
                         "next": nxt, "last": nxt}

        def at(seconds):
            delay = start[0] + seconds - time.monotonic()
            if delay > 0:
                time.sleep(delay)

        def answer(i, method, path, body):
            with lock:
                if not start:
                    start.append(time.monotonic())
            follow = "wait=" in path
            if i == 2:
                if follow:
                    time.sleep(0.01)
                return events([], 0)
            if not follow:
                if i == 1:
                    at(0.290)
                return events([ev(i + 1, 1, 1000 if i == 0 else 3000)], 1)
            if i == 0 and "after=1&" in path:
                at(0.445)
                return events([ev(1, 2, 2000)], 2)
            time.sleep(3)
            return events([], 1 if i == 1 else 2)
        f = self.fake_members(3, answer)
        p = subprocess.Popen([raftctl_path(), "--endpoints", ",".join(f.urls),
                              "--json", "events", "-f"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in p.stdout],
                         daemon=True).start()
        got = []
        try:
            deadline = time.monotonic() + scaled(10)
            while len(got) < 3 and time.monotonic() < deadline:
                try:
                    got.append(json.loads(lines.get(timeout=0.5)))
                except queue.Empty:
                    self.assertIsNone(p.poll(), "raftctl exited")
        finally:
            p.terminate()
            p.wait(timeout=10)
        self.assertEqual([(e["node_id"], e["time_us"]) for e in got],
                         [(1, 1000), (1, 2000), (2, 3000)])


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

    def test_members_add_is_sent_again_only_where_it_surely_did_not_go(self):
        c = self.cluster(3)
        c.leader()
        # a member that takes the request and drops the connection: the
        # change may have been made there, so it is not sent to the next
        # (the fake makes none: nothing is added)
        dropper = self.fake_members(1, lambda *a: (None, None))
        eps = ",".join([dropper.urls[0], self.endpoints(c)])
        url = "http://%s:%d" % harness.allocate_addresses(1)[0]
        rc, out, err = self.raftctl("--endpoints", eps, "members", "add", url)
        self.assertEqual(rc, 1, (out, err))
        self.assertIn(dropper.urls[0], err)
        self.assertIn("see raftctl members", err)
        self.assertEqual([r[1] for r in dropper.requests], ["POST"])
        # (a list is sent on: it changes nothing)
        j = self.ctl_json(c, "members")
        rc, out, err = self.raftctl("--endpoints", eps, "--json", "members")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), j)
        self.assertNotIn(url, [m["url"] for m in j])
        # a member that refuses the connection: surely not made there, sent
        # to the next, added once
        dead = "http://%s:%d" % harness.allocate_addresses(1)[0]
        rc, out, err = self.raftctl("--endpoints",
                                    ",".join([dead, self.endpoints(c)]),
                                    "members", "add", url)
        self.assertEqual(rc, 0, (out, err))
        self.assertIn(dead, err)
        self.assertRegex(out, r"^added member \d+ at %s" % re.escape(url))
        j = self.ctl_json(c, "members")
        self.assertEqual([m["url"] for m in j].count(url), 1, j)


class RaftctlAdminTest(RaftctlCase):

    def admin(self, c, *args):
        return self.raftctl("--config", c.node(1).config_path, *args)

    def test_transfer_moves_the_leader_to_the_asked_node(self):
        c = self.cluster(3)
        leader, term = c.leader()
        target = c.followers(leader)[0]
        rc, out, err = self.admin(c, "transfer", str(target))
        self.assertEqual(rc, 0, (out, err))
        self.assertRegex(out, r"^leadership moved from node %d to node %d "
                         r"\(term \d+\)" % (leader, target))
        new, new_term = c.leader()
        self.assertEqual(new, target)
        self.assertGreater(new_term, term)
        self.assertIn("admin_transfer", self.events_of(c, leader))
        # no id: the most up-to-date voter, any other node
        rc, out, err = self.admin(c, "--json", "transfer")
        self.assertEqual(rc, 0, (out, err))
        j = json.loads(out)
        self.assertEqual(j["from"], target)
        self.assertNotEqual(j["to"], target)
        self.assertEqual(c.leader()[0], j["to"])
        # to the leader itself: nothing to do; to a stranger: refused
        rc, out, _ = self.admin(c, "transfer", str(j["to"]))
        self.assertEqual((rc, out.strip()), (0, "node %d leads already"
                                             % j["to"]))
        rc, _, err = self.admin(c, "transfer", "9")
        self.assertEqual(rc, 1)
        self.assertIn("not a voting member", err)

    def test_snapshot_now_makes_a_snapshot_taken_event(self):
        c = self.cluster(3)
        leader, _ = c.leader()
        for k in range(5):
            self.assertIn(harness.kv_put(c, leader, "k%d" % k, "v").status,
                          (200, 201))
        rc, out, err = self.admin(c, "snapshot")
        self.assertEqual(rc, 0, (out, err))
        m = re.match(r"^node %d took a snapshot up to index (\d+) \((\d+) "
                     r"bytes\)" % leader, out)
        self.assertTrue(m, out)
        self.assertGreater(int(m.group(2)), 0)
        st = c.status(leader)
        self.assertGreaterEqual(st["snapshot_index"], int(m.group(1)))
        evs = self.events_of(c, leader)
        self.assertIn("admin_snapshot", evs)
        self.assertIn("snapshot_taken", evs)
        # again with nothing new: refused, says why
        rc, _, err = self.admin(c, "snapshot")
        self.assertEqual(rc, 1)
        self.assertIn("current", err)
        # a follower, by id
        f = c.followers(leader)[0]
        rc, out, err = self.admin(c, "snapshot", str(f))
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("snapshot_taken", self.events_of(c, f))

    def test_unsigned_and_badly_signed_admin_requests_change_nothing(self):
        c = self.cluster(3)
        leader, term = c.leader()
        f = c.followers(leader)[0]
        body = json.dumps({"to": f}).encode()
        path = "/admin/transfer"
        other_secret = os.urandom(32)
        r = c.request(leader, "POST", path, body=body,
                      headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 401, r.body)
        self.assertIn("no Raftd-Auth", r.json()["error"])
        refusals = [  # an operator's request (harness.admin_request), spoilt
            (dict(secret=other_secret), 401, "wrong signature"),
            (dict(signed_body=b'{"to":3}'), 401, "wrong signature"),
            (dict(ts_ms=int(time.time() * 1000) - 120000), 401, "clock"),
            # a member's signature (peer domain, f=2): not an operator's
            (dict(domain="peer", frm=f), 403, "operator"),
            # f=0 with the members' MAC domain: no such signature
            (dict(domain="peer", frm=0), 401, "wrong signature"),
        ]
        for spoil, status, says in refusals:
            r = c.admin_request(leader, "POST", path, body, **spoil)
            self.assertEqual(r.status, status, (spoil, r.body))
            self.assertIn(says, r.json()["error"])
        # the same request, well signed, is accepted; replayed, refused
        good = c.peer_headers(leader, "/admin/snapshot", b"{}",
                              domain="admin")
        good["Content-Type"] = "application/json"
        harness.kv_put(c, leader, "x", "y")
        r = c.request(leader, "POST", "/admin/snapshot", body=b"{}",
                      headers=good)
        self.assertEqual(r.status, 202, r.body)
        r = c.request(leader, "POST", "/admin/snapshot", body=b"{}",
                      headers=good)
        self.assertEqual(r.status, 401, r.body)
        self.assertIn("replayed", r.json()["error"])
        # nothing changed by the refused transfers
        self.assertEqual(c.leader(), (leader, term))
        self.assertNotIn("admin_transfer", self.events_of(c, leader))
        # an operator's signature is no Raft RPC either
        r = c.admin_request(f, "POST", "/raft/timeout_now", b"{}")
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(c.leader(), (leader, term))
        # raftctl without the secret says how to get it
        rc, _, err = self.raftctl("--endpoints", self.endpoints(c),
                                  "transfer")
        self.assertEqual(rc, 1)
        self.assertIn("peer secret", err)
        rc, _, err = self.admin(c, "--secret-file", "/nonexistent/secret",
                                "transfer")
        self.assertEqual(rc, 1)
        self.assertIn("sudo", err)
        self.assertEqual(c.leader(), (leader, term))

    def test_transfer_says_which_node_won_when_not_the_asked_one(self):
        # three fake members: node 1 leads; once asked to hand over to
        # node 2, node 3 wins the election instead
        asked = threading.Event()

        def answer(i, method, path, body):
            if method == "POST" and path == "/admin/transfer":
                asked.set()
                return 202, {}
            if path == "/status":
                leader = 3 if asked.is_set() else 1
                return 200, {"id": i + 1, "term": 6 if asked.is_set() else 5,
                             "state": "Leader" if i + 1 == leader
                             else "Follower", "leader_id": leader}
            return 404, {"error": "no such path"}
        f = self.fake_members(3, answer)
        rc, out, err = self.raftctl("--endpoints", ",".join(f.urls),
                                    "transfer", "2")
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("node 3 won the election (term 6), not node 2", err)
        self.assertNotIn("did not lead", err)

    def test_open_without_peer_auth_and_bad_requests_get_4xx(self):
        c = self.cluster(3, peer_auth="none")
        leader, term = c.leader()
        f = c.followers(leader)[0]
        for body, status in ((b"x", 400), (b'{"to":-1}', 400),
                             (b'{"to":"2"}', 400), (b"[]", 400)):
            r = c.request(leader, "POST", "/admin/transfer", body=body)
            self.assertEqual(r.status, status, body)
        self.assertEqual(c.request(leader, "GET", "/admin/transfer").status,
                         405)
        self.assertEqual(c.request(leader, "POST", "/admin/nope").status, 404)
        r = c.request(f, "POST", "/admin/transfer", body=b"{}")
        self.assertEqual(r.status, 409)
        self.assertIn("node %d is" % leader, r.json()["error"])
        self.assertEqual(c.leader(), (leader, term))
        rc, out, err = self.ctl(c, "transfer", str(f))
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(c.leader()[0], f)


if __name__ == "__main__":
    unittest.main()
