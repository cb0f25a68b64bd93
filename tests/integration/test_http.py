"""The HTTP surface: GET /status, error statuses with JSON bodies, request
size limits, and robustness against hostile input (nothing from the network
may crash the daemon or stall its single event loop)."""

import http.client
import json
import os
import random
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ET, scaled  # noqa: E402

RAFT_PATHS = ("/raft/request_vote", "/raft/append_entries",
              "/raft/timeout_now")
PEER_PATHS = RAFT_PATHS + ("/raft/install_snapshot", "/raft/propose",
                           "/raft/read_index")
SMALL_LIMIT = 4096
DEFAULT_LIMIT = 8 * 1024 * 1024
FUZZ_COUNT = int(os.environ.get("RAFTD_FUZZ_COUNT", "300"))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class HttpTestCase(harness.ClusterTestCase):

    def assert_json_error(self, c, i, method, path, body, expect,
                          headers=None):
        if path in PEER_PATHS:  # signed by a member (peer_auth.h)
            headers = dict(headers or {})
            headers.update(c.peer_headers(i, path, body or b"", method=method))
        code, hdrs, data = c.http(i, method, path, body, headers)
        what = "%s %s body=%r" % (method, path, (body or b"")[:60])
        self.assertEqual(code, expect, "%s: status %d, body %r"
                         % (what, code, data[:200]))
        try:
            doc = json.loads(data)
        except ValueError:
            self.fail("%s: error body is not JSON: %r" % (what, data[:200]))
        self.assertIsInstance(doc, dict, what)
        self.assertIsInstance(doc.get("error"), str,
                              "%s: no \"error\" string in %r" % (what, doc))
        self.assertTrue(doc["error"], "%s: empty error string" % what)

    def assert_alive(self, c, ids=None):
        for i in ids or c.ids():
            self.assertTrue(c.node(i).running(),
                            "node %d died (status %s); log:\n%s"
                            % (i, c.node(i).proc.poll(), c.tail(i)))
            s = c.status(i, timeout=scaled(2))
            self.assertIsNotNone(s, "node %d no longer answers /status" % i)


class StatusTest(HttpTestCase):

    def test_status_fields_and_types(self):
        c = self.cluster(3)
        lid, term = c.leader()
        urls = {i: nd.url for i, nd in c.nodes.items()}
        for i in c.ids():
            code, hdrs, data = c.http(i, "GET", "/status")
            self.assertEqual(code, 200)
            s = json.loads(data)
            self.assertIsInstance(s, dict)
            with self.subTest(node=i):
                self.assertTrue(is_int(s.get("id")), s)
                self.assertEqual(s["id"], i)
                self.assertIn(s.get("state"), harness.STATES)
                self.assertTrue(is_int(s.get("term")), s)
                self.assertEqual(s["term"], term)
                self.assertIn("voted_for", s)
                self.assertTrue(s["voted_for"] is None or
                                (is_int(s["voted_for"]) and
                                 s["voted_for"] in urls), s)
                self.assertIn("leader_id", s)
                self.assertEqual(s["leader_id"], lid)
                for k in ("commit_index", "last_log_index"):
                    self.assertTrue(is_int(s.get(k)) and s[k] >= 0,
                                    "%s: %r" % (k, s.get(k)))
                self.assertLessEqual(s["commit_index"], s["last_log_index"])
                members = s.get("members")
                self.assertIsInstance(members, list)
                got = {}
                for m in members:
                    self.assertIsInstance(m, dict)
                    self.assertTrue(is_int(m.get("id")), m)
                    self.assertIsInstance(m.get("url"), str, m)
                    got[m["id"]] = m["url"].rstrip("/")
                self.assertEqual(got, urls)
                if i == lid:
                    self.assertEqual(s["state"], "Leader")
                    self.assertEqual(s["voted_for"], lid)
                else:
                    self.assertEqual(s["state"], "Follower")

    def test_status_before_any_leader(self):
        # a lone member of a 3-node cluster: no leader, no vote
        c = self.cluster(3, start=False)
        c.start(1)
        time.sleep(scaled(2 * ET))
        s = c.status(1)
        self.assertIsNotNone(s)
        self.assertEqual(s["leader_id"], None)
        self.assertNotEqual(s["state"], "Leader")
        self.assertEqual(s["voted_for"], None)  # pre-vote records no vote
        self.assertTrue(is_int(s["term"]))


class ErrorStatusTest(HttpTestCase):

    def test_unknown_paths_404(self):
        c = self.cluster(1)
        for method, path in [("GET", "/"), ("GET", "/nonexistent"),
                             ("GET", "/statusx"), ("GET", "/raft"),
                             ("GET", "/raft/unknown"),
                             ("POST", "/raft/unknown"),
                             ("POST", "/nonexistent"),
                             ("GET", "/" + "a" * 2000)]:
            with self.subTest(method=method, path=path[:40]):
                self.assert_json_error(c, 1, method, path,
                                       b"{}" if method == "POST" else None,
                                       404)
        self.assert_alive(c)

    def test_wrong_method_405(self):
        c = self.cluster(2)  # a peer request needs a sender
        cases = [("POST", "/status"), ("PUT", "/status"),
                 ("DELETE", "/status")]
        for p in RAFT_PATHS:
            cases += [("GET", p), ("PUT", p), ("DELETE", p)]
        for method, path in cases:
            with self.subTest(method=method, path=path):
                body = b"{}" if method in ("POST", "PUT") else None
                self.assert_json_error(c, 1, method, path, body, 405)
        self.assert_alive(c)

    def test_malformed_bodies_400(self):
        c = self.cluster(2)  # a peer request needs a sender
        bodies = [b"", b"not json", b"{", b"{\"term\":", b"[]", b"null",
                  b"42", b"\"str\"", b"true", b"{}", b"[{}]",
                  b"\xff\xfe\xfd", b"{\"term\": 1,}", b"{'term': 1}",
                  b"\x00" * 16]
        for path in RAFT_PATHS:
            for body in bodies:
                with self.subTest(path=path, body=body):
                    self.assert_json_error(c, 1, "POST", path, body, 400)
        self.assert_alive(c)

    def test_header_size_limit_431(self):
        """Request line and headers share 8 KiB or so of the 16 KiB each
        connection gets: a large header still works, a huge one is refused
        with 431 and nothing else is disturbed."""
        c = self.cluster(1)
        code, _, _ = c.http(1, "GET", "/status", None, {"X-Big": "a" * 6000})
        self.assertEqual(code, 200)
        code, _, _ = c.http(1, "GET", "/status", None, {"X-Big": "a" * 65536})
        self.assertEqual(code, 431)
        self.assert_alive(c)

    def test_forwarded_write_batches(self):
        """/raft/propose (the leader's side of forwarding) takes frames
        "<length>\\n<command>" and answers one frame per command, in
        order; a retried frame (same identity) is answered like the first
        and applied once; malformed batches get 400 and change nothing."""
        c = self.cluster(2)  # a peer request needs a sender
        lid, _ = c.leader()

        def frame(b):
            return b"%d\n%s" % (len(b), b)

        def cmd(ident, key, value):
            return (b"9 %d\n" % ident +
                    json.dumps({"op": "set", "key": key,
                                "value": value}).encode())
        cmds = [cmd(1001, "/batch/a", "1"), cmd(1002, "/batch/b", "2"),
                cmd(1001, "/batch/a", "1"), cmd(1003, "/batch/a", "3")]
        r = c.peer_request(lid, "/raft/propose",
                           b"".join(frame(x) for x in cmds),
                           headers={"Content-Type": "application/octet-stream"})
        code, data = r.status, r.body
        self.assertEqual(code, 200, data[:300])
        parts, rest = [], data
        while rest:
            length, _, rest = rest.partition(b"\n")
            parts.append(rest[:int(length)])
            rest = rest[int(length):]
        self.assertEqual(len(parts), 4, data[:500])
        heads = [p.split(b"\n", 1)[0].split() for p in parts]
        bodies = [json.loads(p.split(b"\n", 1)[1]) for p in parts]
        self.assertEqual([h[0] for h in heads], [b"201"] * 3 + [b"200"])
        self.assertEqual(bodies[0], bodies[2], "a retried write must get the "
                         "first answer")
        self.assertEqual(heads[0][:2], heads[2][:2])  # status, etcd index
        self.assertEqual(bodies[3]["prevNode"]["value"], "1",
                         "the retried copy must not be applied again")
        raft_indexes = [int(h[2]) for h in heads]
        self.assertEqual(raft_indexes[1], raft_indexes[0] + 1)
        bad = [b"", b"x", b"5\nabc", b"3\nabc7", b"-1\n", b"3abc",
               b"99999999999999999999\nx", b"1\nx" * 300]
        before = c.status(lid)["commit_index"]
        for body in bad:
            with self.subTest(body=body[:20]):
                self.assert_json_error(
                    c, lid, "POST", "/raft/propose", body, 400,
                    {"Content-Type": "application/octet-stream"})
        time.sleep(0.2)
        self.assertEqual(c.status(lid)["commit_index"], before)
        self.assert_alive(c)

    def test_body_size_limit_413(self):
        # node 1 has a small limit, node 2 the default (8 MiB)
        c = self.cluster(2, extra_config={
            1: "max_request_bytes = %d;" % SMALL_LIMIT})
        n1, n2 = c.node(1), c.node(2)
        # exactly at the limit: not too big (just not valid JSON) -> 400
        self.assert_json_error(c, 1, "POST", "/raft/request_vote",
                               b" " * (SMALL_LIMIT - 1) + b"x", 400)
        # one byte over -> 413
        self.assert_json_error(c, 1, "POST", "/raft/request_vote",
                               b" " * SMALL_LIMIT + b"x", 413)
        # (signed as a member: unsigned ones get 401 before their body)
        def auth(i):
            h = c.peer_headers(i, "/raft/append_entries", b"")
            return b"".join(b"%s: %s\r\n" % (k.encode(), v.encode())
                            for k, v in h.items())
        # oversized, chunked (no Content-Length to check up front)
        head = (b"POST /raft/append_entries HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\n" + auth(1) +
                b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (1000, b" " * 1000)
        raw = harness.send_streaming(n1.host, n1.port, head,
                                     [chunk] * 10 + [b"0\r\n\r\n"])
        resp = harness.parse_http_response(raw)
        self.assertIsNotNone(resp, "no response to an oversized chunked "
                             "body: %r" % raw[:200])
        self.assertEqual(resp[0], 413, raw[:300])
        self.assertIsInstance(json.loads(resp[2]).get("error"), str)
        # default limit: 8 MiB + 1 is refused
        head = (b"POST /raft/append_entries HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\n" + auth(2) +
                b"Content-Length: %d\r\n\r\n" % (DEFAULT_LIMIT + 1))
        block = b" " * 65536
        chunks = [block] * (DEFAULT_LIMIT // 65536) + [b"x"]
        raw = harness.send_streaming(n2.host, n2.port, head, chunks,
                                     timeout=scaled(15))
        resp = harness.parse_http_response(raw)
        self.assertIsNotNone(resp, "no response to an 8 MiB + 1 body: %r"
                             % raw[:200])
        self.assertEqual(resp[0], 413, raw[:300])
        self.assertIsInstance(json.loads(resp[2]).get("error"), str)
        # a body under the default limit is read and judged on content
        self.assert_json_error(c, 2, "POST", "/raft/request_vote",
                               b" " * (256 * 1024) + b"{", 400)
        self.assert_alive(c)


class RobustnessTest(HttpTestCase):

    def test_stalled_requests_do_not_block_the_event_loop(self):
        c = self.cluster(3)
        lid, term = c.leader()
        nd = c.node(lid)
        socks = []
        try:
            for k in range(20):
                s = socket.create_connection((nd.host, nd.port), timeout=2)
                if k % 3 == 0:
                    pass  # connected, sends nothing
                elif k % 3 == 1:
                    s.sendall(b"GET /sta")  # half a request line
                else:
                    s.sendall(b"POST /raft/request_vote HTTP/1.1\r\n"
                              b"Host: x\r\nContent-Length: 1000\r\n\r\n{\"te")
                socks.append(s)
            # /status still answers promptly, and the leader keeps leading
            # (its heartbeats are not held up by the stalled connections)
            t0 = time.monotonic()
            self.assertIsNotNone(c.status(lid, timeout=1.0))
            self.assertLess(time.monotonic() - t0, 1.0)
            c.assert_undisturbed(lid, term, scaled(4 * ET))
        finally:
            for s in socks:
                s.close()
        self.assert_alive(c)

    def test_fuzz_does_not_crash_or_depose(self):
        seed = int(os.environ.get("RAFTD_FUZZ_SEED", "0") or 0) or \
            random.SystemRandom().randrange(1, 1 << 30)
        sys.stderr.write("[fuzz seed %d, RAFTD_FUZZ_SEED to repeat] " % seed)
        rng = random.Random(seed)
        # learn a real message shape to mutate (None: schema-free fuzz only)
        vote = harness.capture_rpc("/raft/request_vote")
        c = self.cluster(3)
        lid, term = c.leader()
        gen = Fuzzer(rng, vote, member_ids=c.ids())
        recent = []
        bad_statuses = []
        t0 = time.monotonic()
        for k in range(FUZZ_COUNT):
            i = lid if k % 2 == 0 else rng.choice(c.ids())
            nd = c.node(i)
            kind, data, well_formed = gen.request()
            recent = (recent + [(i, kind, data[:300])])[-10:]
            if time.monotonic() - t0 > scaled(90):
                sys.stderr.write("[fuzz budget used up after %d requests] "
                                 % k)
                break
            try:
                # only well-formed requests need their answer; for the rest
                # the server may legitimately wait for more (then close)
                raw = harness.raw_exchange(
                    nd.host, nd.port, data,
                    timeout=scaled(2) if well_formed else 0.25,
                    stop_after_response=True)
            except OSError as e:
                raw = b""
                if not nd.running():
                    pass  # reported just below
                elif isinstance(e, ConnectionRefusedError):
                    self.fail("node %d refused connections after %s" % (i, kind))
            if not nd.running():
                self.fail("node %d died after fuzz request #%d; last requests "
                          "(node, kind, bytes): %r" % (i, k, recent))
            code = harness.status_code_of(raw)
            if well_formed and (code is None or code >= 500):
                bad_statuses.append((kind, code, data[:200], raw[:200]))
            if k % 25 == 24:
                self.assert_alive(c)
        elapsed = time.monotonic() - t0
        sys.stderr.write("[%d requests in %.1fs] " % (k + 1, elapsed))
        self.assert_alive(c)
        lid2, term2 = c.leader()
        self.assertEqual(bad_statuses, [],
                         "well-formed HTTP requests answered with 5xx or not "
                         "at all")
        if vote is not None and gen.sender_key:
            # every schema-aware message claimed a non-member sender: they
            # must all have been ignored
            self.assertEqual((lid2, term2), (lid, term),
                             "messages from non-members changed the term "
                             "or leader")

    def test_vote_from_non_member_is_ignored(self):
        vote = harness.capture_rpc("/raft/request_vote")
        if vote is None:
            self.skipTest("could not capture a request_vote message")
        sender = Fuzzer.find_key(vote, ("from", "candidate", "sender", "src"))
        term_key = Fuzzer.find_key(vote, ("term",), exclude=("last",))
        if sender is None or term_key is None:
            self.skipTest("cannot tell sender/term fields in %r" % vote)
        c = self.cluster(3)
        lid, term = c.leader()
        for pre in (True, False):
            msg = dict(vote)
            msg[sender] = 99
            msg[term_key] = term + 100
            pk = Fuzzer.find_key(vote, ("prevote", "pre_vote"))
            if pk is not None:
                msg[pk] = pre
            for i in c.ids():
                code, _, data = c.http(i, "POST", "/raft/request_vote",
                                       json.dumps(msg).encode())
                self.assertLess(code, 500, data)
        c.assert_undisturbed(lid, term, scaled(3 * ET))


class EdgesTest(HttpTestCase):
    """Issue 10 item 5: what is not a well-formed HTTP request, and more
    connections than the node allows."""

    GARBAGE = [b"\x16\x03\x01garbage\r\n\r\n",        # a TLS record, lines
               b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" +
               bytes(random.Random(5).randrange(256) for _ in range(200)),
               bytes(random.Random(7).randrange(256) for _ in range(64)),
               b"GARBAGE\r\n\r\n",
               b"hello world\r\n",
               b"GET /status HTTP/x.1\r\n\r\n",
               b"SSH-2.0-OpenSSH_9.2\r\n"]

    def test_garbage_gets_400_and_close(self):
        c = self.cluster(1)
        c.leader()
        nd = c.node(1)
        for data in self.GARBAGE + [b"GET /sta"]:   # (the last: then EOF)
            t0 = time.monotonic()
            raw = harness.raw_exchange(nd.host, nd.port, data,
                                       timeout=scaled(5),
                                       shutdown_write=data == b"GET /sta")
            took = time.monotonic() - t0
            # raw_exchange returns at EOF: the connection was closed
            self.assertLess(took, scaled(2), "%r: no close after %.1fs "
                            "(got %r)" % (data[:20], took, raw[:80]))
            parsed = harness.parse_http_response(raw)
            self.assertIsNotNone(parsed, "%r: no HTTP answer, got %r"
                                 % (data[:20], raw[:80]))
            status, headers, body = parsed
            self.assertEqual(status, 400, "%r: %r" % (data[:20], raw[:200]))
            self.assertEqual(headers.get("connection"), "close", headers)
            # (a TLS handshake record: this node has no TLS, test_tls.py)
            self.assertIn("this node does not serve TLS: use http://"
                          if data[:1] == b"\x16" else
                          "not an HTTP/1.x request", json.loads(body)["error"])
        # real requests are untouched
        self.assertIsNotNone(c.status(1))
        self.assert_alive(c)

    MAX = 64

    def hold(self, nd, n, request=b""):
        """n connections to nd, each having sent request (maybe nothing)."""
        socks = []
        for _ in range(n):
            s = socket.create_connection((nd.host, nd.port), timeout=5)
            self.addCleanup(s.close)
            if request:
                s.sendall(request)
            socks.append(s)
        return socks

    def over_limit_answer(self, nd):
        """A new client request to nd: (status, body, seconds)."""
        t0 = time.monotonic()
        raw = harness.raw_exchange(
            nd.host, nd.port, b"GET /v2/keys/x HTTP/1.1\r\nHost: t\r\n\r\n",
            timeout=scaled(5), shutdown_write=False, stop_after_response=True)
        parsed = harness.parse_http_response(raw)
        return (parsed[0] if parsed else None,
                parsed[2] if parsed else raw, time.monotonic() - t0)

    def test_connection_limit_keeps_peers_going(self):
        c = self.cluster(3, extra_config="max_connections = %d;" % self.MAX)
        lid, term = c.leader()
        # a kept-alive client connection to every node, opened first
        kept = {}
        for i, nd in c.nodes.items():
            kept[i] = http.client.HTTPConnection(nd.host, nd.port,
                                                 timeout=scaled(5))
            self.addCleanup(kept[i].close)

        def put(i, key, value):
            kept[i].request("PUT", "/v2/keys/" + key, body="value=" + value,
                            headers={"Content-Type":
                                     "application/x-www-form-urlencoded"})
            r = kept[i].getresponse()
            return r.status, r.read()

        def status(i):
            kept[i].request("GET", "/status")
            r = kept[i].getresponse()
            body = r.read()
            return json.loads(body) if r.status == 200 else None

        def new_leader(ids):
            st = {i: status(i) for i in ids}
            leaders = [i for i in ids if st[i]["state"] == "Leader" and
                       st[i]["term"] > term]
            return (leaders[0], st[leaders[0]]["term"]) \
                if len(leaders) == 1 and all(
                    s["leader_id"] == leaders[0] for s in st.values()) \
                else None

        def value(i, key):
            kept[i].request("GET", "/v2/keys/" + key)
            r = kept[i].getresponse()
            body = r.read()
            return json.loads(body)["node"]["value"] if r.status == 200 \
                else None

        self.assertEqual(put(lid, "k", "0")[0], 201)
        for i in c.ids():
            c.wait_for(lambda: value(i, "k") == "0", scaled(5),
                       msg="node %d applies the first write" % i)
        # More idle connections than all a node allows (its clients' and
        # the peers' reserve of 16 per other member): the oldest are closed
        # to make room, so a new client is still served at once.
        held = []
        for nd in c.nodes.values():
            held += self.hold(nd, self.MAX + 2 * 16 + 16)
        for i in c.ids():
            st, body, took = self.over_limit_answer(c.node(i))
            self.assertEqual(st, 404, "node %d after idle connections: %r"
                             % (i, body))
            self.assertLess(took, scaled(2))
        # Every client connection busy (long polls): a new client gets a
        # prompt 503 that says why and to retry.
        for nd in c.nodes.values():
            held += self.hold(nd, self.MAX,
                      b"GET /v2/keys/held?wait=true HTTP/1.1\r\nHost: t\r\n\r\n")
        last = {}

        def answer_503(i):
            a = last[i] = self.over_limit_answer(c.node(i))
            return a if a[0] == 503 else None
        for i in c.ids():
            try:
                got = c.wait_for(
                    lambda: answer_503(i),
                    # (generous: on a busy machine the node may take a
                    # while to read every held connection's request line)
                    scaled(20), msg="a 503 from node %d" % i)
            except harness.WaitTimeout as e:
                raise AssertionError("%s; its last answer: %r"
                                     % (e, last.get(i))) from None
            st, body, took = got
            self.assertLess(took, scaled(2), "503 took %.1fs" % took)
            err = json.loads(body)["error"]
            self.assertIn("connection limit", err)
            self.assertIn("max_connections", err)
            self.assertIn("retry", err)
        # Replication goes on over the peers' reserve: a write through the
        # leader commits and reaches the followers...
        self.assertEqual(put(lid, "k", "1")[0], 200)
        for i in c.ids():
            c.wait_for(lambda: value(i, "k") == "1", scaled(5),
                       msg="node %d applies the write" % i)
        # ...and so does an election, which needs connections between the
        # followers that never talked before.
        c.pause(lid)
        self.addCleanup(c.heal)
        rest = [i for i in c.ids() if i != lid]
        newl, newt = c.wait_for(lambda: new_leader(rest),
                                harness.LEADER_TIMEOUT,
                                msg="a new leader among %s" % rest)
        self.assertEqual(put(newl, "k", "2")[0], 200)
        c.resume(lid)
        for i in c.ids():
            c.wait_for(lambda: value(i, "k") == "2", scaled(10),
                       msg="node %d applies the new leader's write" % i)
        for sock in held:
            sock.close()
        self.assert_alive(c)


class Fuzzer:
    """Generates hostile requests: (kind, bytes, well_formed_http)."""

    NASTY = [-1, 0, 1, 2 ** 31, 2 ** 32, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1,
             2 ** 64, 10 ** 30, -(2 ** 63), 1.5, -0.0, 1e308, "1", "", None,
             True, False, [], {}, [1, 2], {"a": 1}, "\u0000", "x" * 5000]

    def __init__(self, rng, vote, member_ids):
        self.rng = rng
        self.vote = vote
        self.members = set(member_ids)
        self.sender_key = (self.find_key(vote, ("from", "candidate", "sender",
                                                "src")) if vote else None)

    @staticmethod
    def find_key(msg, words, exclude=()):
        for k in msg:
            lk = k.lower()
            if any(w in lk for w in words) and not any(x in lk
                                                        for x in exclude):
                return k
        return None

    def http(self, method, path, body, extra_headers=b""):
        return (b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: %d\r\n%s\r\n" % (method, path, len(body),
                                                   extra_headers) + body)

    def non_member(self):
        v = self.rng.choice(self.NASTY)
        if isinstance(v, int) and not isinstance(v, bool) and \
                v in self.members:
            return 99
        return v

    def guessed_message(self):
        # field names guessed from raft.h; senders are never members
        msg = {k: self.rng.choice(self.NASTY) for k in
               ("term", "to", "last_index", "last_term", "prevote",
                "prev_index", "prev_term", "commit", "entries", "seq",
                "granted", "success")}
        for k in ("from", "candidate_id", "leader_id"):
            msg[k] = self.non_member()
        return msg

    def json_body(self):
        r = self.rng
        if self.vote is not None and self.sender_key and r.random() < 0.6:
            msg = dict(self.vote)
            for k in r.sample(list(msg), r.randint(1, len(msg))):
                msg[k] = r.choice(self.NASTY)
            if r.random() < 0.2 and len(msg) > 1:
                del msg[r.choice([k for k in msg if k != self.sender_key])]
            # never a member as sender: these must all be ignored
            s = msg.get(self.sender_key)
            if isinstance(s, int) and not isinstance(s, bool) and \
                    s in self.members:
                msg[self.sender_key] = 99
            try:
                return json.dumps(msg).encode()
            except ValueError:
                return b"{}"
        shapes = [
            lambda: b"{\"term\": %s}" % r.choice([b"-1", b"1e999",
                                                  b"18446744073709551616",
                                                  b"\"x\"", b"null", b"[]"]),
            lambda: b"[" * r.randint(100, 5000),
            lambda: b"[" * 20000 + b"]" * 20000,
            lambda: b"{\"a\":" * 3000 + b"1" + b"}" * 3000,
            lambda: b"\"" + bytes(r.randrange(256) for _ in range(200)) +
            b"\"",
            lambda: b"{\"\\ud800\": \"\\udfff\\u0000\"}",
            lambda: b"{\"term\": 1, \"term\": \"dup\"}",
            lambda: bytes(r.randrange(256) for _ in range(r.randint(1, 500))),
            lambda: b"{\"entries\": [%s]}" % b",".join(
                [b"{\"term\":-1,\"data\":\"\\u0000\"}"] * 50),
            lambda: json.dumps(self.guessed_message()).encode(),
        ]
        return r.choice(shapes)()

    def request(self):
        r = self.rng
        k = r.randrange(11)
        path = r.choice(list(RAFT_PATHS) + ["/status"]).encode()
        if k <= 3:
            return "json", self.http(b"POST", r.choice(RAFT_PATHS).encode(),
                                     self.json_body()), True
        if k == 4:
            return "random bytes", bytes(r.randrange(256) for _ in
                                         range(r.randint(1, 2000))), False
        if k == 5:
            full = self.http(b"POST", path, self.json_body())
            return "truncated", full[:r.randint(1, len(full) - 1)], False
        if k == 6:
            big = b"X-Big: " + b"a" * r.choice([8000, 65536, 300000]) + b"\r\n"
            return "huge header", self.http(b"GET", b"/status", b"",
                                             big), False
        if k == 7:
            many = b"".join(b"X-H%d: v\r\n" % j for j in range(2000))
            return "many headers", self.http(b"GET", b"/status", b"",
                                             many), False
        if k == 8:
            p = r.choice([b"/\xff\xfe", b"/status\x00x", b"/raft/%00",
                          b"/" + b"%" * 100, b"/../../etc/passwd",
                          b"*", b"/raft/request_vote?" + b"a=1&" * 1000,
                          b"http://x/status"])
            m = r.choice([b"GET", b"POST", b"BREW", b"G\xffT", b"OPTIONS",
                          b"CONNECT", b"TRACE", b"HEAD", b"PATCH"])
            return "odd request line", self.http(m, p, b""), False
        if k == 9:
            variants = [
                b"POST /raft/request_vote HTTP/1.1\r\nContent-Length: -5"
                b"\r\n\r\n{}",
                b"POST /raft/request_vote HTTP/1.1\r\nContent-Length: "
                b"99999999999999999999999\r\n\r\n{}",
                b"POST /raft/request_vote HTTP/1.1\r\nContent-Length: 5\r\n"
                b"Content-Length: 7\r\n\r\n{}",
                b"POST /raft/request_vote HTTP/1.1\r\nTransfer-Encoding: "
                b"chunked\r\n\r\nffffffffffffffff\r\n{}\r\n0\r\n\r\n",
                b"POST /raft/request_vote HTTP/1.1\r\nTransfer-Encoding: "
                b"chunked\r\n\r\nzz\r\n",
                b"GET /status HTTP/9.9\r\n\r\n",
                b"GET /status\r\n\r\n",
                b"\r\n\r\n\r\n",
                b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n" * 50,
                b"GET /status HTTP/1.1\r\n" + b" folded\r\n" * 100 + b"\r\n",
            ]
            return "bad framing", r.choice(variants), False
        body = self.json_body()
        return "invalid utf-8 json", self.http(
            b"POST", r.choice(RAFT_PATHS).encode(),
            body[:len(body) // 2] + b"\xc3\x28\xed\xa0\x80" +
            body[len(body) // 2:]), True


if __name__ == "__main__":
    unittest.main()
