"""GET /metrics: Prometheus' text exposition format on every node (raftd(8),
METRICS), checked by promtool when it is installed (Debian's prometheus
package), and values that move as the cluster does: writes, elections,
fdatasyncs, a peer that is down, snapshots taken, sent and installed.

The exposition text is parsed here (parse_exposition), not grepped."""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import kv_get, kv_put, scaled, wait_converged  # noqa: E402

CLIENT_TIMEOUT = scaled(10)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SNAP_CONFIG = ("snapshot_entries = 40;\n"
               "snapshot_keep_entries = 10;\n"
               "wal_segment_bytes = 65536;\n")

SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n"
                  else m.group(1), v)


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            raise ValueError("bad labels %r at %d" % (text, pos))
        labels[m.group(1)] = unescape(m.group(2))
        pos = m.end()
    return labels


def parse_exposition(text):
    """{"help": {family: text}, "type": {family: type},
        "samples": {(name, frozenset(labels.items())): value}}.
    Raises ValueError on anything the 0.0.4 text format does not allow
    (as raftd writes it: no timestamps)."""
    out = {"help": {}, "type": {}, "samples": {}}
    if not text.endswith("\n"):
        raise ValueError("the text does not end with a newline")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            out["help"][name] = help_text
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            if typ not in ("counter", "gauge", "histogram", "summary",
                           "untyped"):
                raise ValueError("bad type in %r" % line)
            out["type"][name] = typ
        elif line.startswith("#") or not line:
            raise ValueError("unexpected line %r" % line)
        else:
            m = SAMPLE.match(line)
            if not m:
                raise ValueError("bad sample line %r" % line)
            key = (m.group(1), frozenset(parse_labels(m.group(2) or "")
                                         .items()))
            if key in out["samples"]:
                raise ValueError("duplicate sample %r" % line)
            out["samples"][key] = float(m.group(3))
    return out


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return name


class Metrics:
    """One node's parsed scrape."""

    def __init__(self, text):
        self.text = text
        p = parse_exposition(text)
        self.help, self.type, self.samples = p["help"], p["type"], p["samples"]

    def get(self, name, **labels):
        """The sample's value; None if absent."""
        return self.samples.get((name, frozenset(labels.items())))

    def series(self, name):
        """[(labels dict, value)] of every sample named name."""
        return [(dict(k[1]), v) for k, v in self.samples.items()
                if k[0] == name]

    def count(self, name, **labels):
        return self.get(name + "_count", **labels)


def scrape(c, i):
    """Node i's metrics, or None if it does not answer."""
    try:
        code, headers, body = c.http(i, "GET", "/metrics")
    except OSError:
        return None
    if code != 200:
        raise AssertionError("GET /metrics on node %d: %d %r"
                             % (i, code, body[:200]))
    if headers.get("content-type") != CONTENT_TYPE:
        raise AssertionError("node %d's Content-Type is %r"
                             % (i, headers.get("content-type")))
    return Metrics(body.decode())


def put_ok(tc, c, i, key, value):
    r = kv_put(c, i, key, value, timeout=CLIENT_TIMEOUT)
    tc.assertIsNotNone(r, "PUT %s through node %d: no answer" % (key, i))
    tc.assertIn(r.status, (200, 201), "PUT %s: %r" % (key, r))


def promtool():
    return shutil.which("promtool")


class MetricsTest(harness.ClusterTestCase):

    def wait_metric(self, c, i, pred, what, timeout=None):
        """Wait until pred(node i's Metrics) is true; returns them."""
        last = []

        def check():
            m = scrape(c, i)
            last[:] = [m]
            return m if m is not None and pred(m) else None
        return c.wait_for(check, timeout or scaled(10),
                          msg="node %d: %s" % (i, what),
                          describe=lambda: last[0].text if last and last[0]
                          else "no answer")

    def assert_well_formed(self, i, m):
        fams = set(family_of(n, m.type) for n, _ in m.samples)
        for f in fams | set(m.type):
            self.assertTrue(f.startswith("raftd_"), f)
            self.assertIn(f, m.help, "node %d: %s has no HELP" % (i, f))
            self.assertIn(f, m.type, "node %d: %s has no TYPE" % (i, f))
            if m.type[f] == "counter":
                self.assertTrue(f.endswith("_total"), f)
        # histograms: cumulative buckets ending in +Inf == _count
        for f, t in m.type.items():
            if t != "histogram":
                continue
            groups = {}
            for labels, v in m.series(f + "_bucket"):
                le = labels.pop("le")
                groups.setdefault(frozenset(labels.items()), []).append(
                    (float(le), v))
            self.assertTrue(groups, f)
            for key, buckets in groups.items():
                bounds = [b for b, _ in buckets]
                self.assertEqual(bounds, sorted(bounds), f)
                self.assertEqual(bounds[-1], float("inf"), f)
                values = [v for _, v in buckets]
                self.assertEqual(values, sorted(values), (f, key))
                self.assertEqual(values[-1], m.get(f + "_count", **dict(key)))

    def test_every_node_serves_valid_metrics(self):
        c = self.cluster(3)
        leader, _ = c.leader()
        for k in range(5):
            put_ok(self, c, leader, "k%d" % k, "v")
        tool = promtool()
        if not tool:
            sys.stderr.write("\nSKIP the promtool check: promtool not found "
                             "(apt-get install prometheus)\n")
        for i in c.ids():
            m = scrape(c, i)
            self.assertIsNotNone(m, "node %d did not answer" % i)
            self.assert_well_formed(i, m)
            states = {lab["state"]: v for lab, v in m.series("raftd_state")}
            self.assertEqual(sorted(states), ["candidate", "follower",
                                              "leader", "precandidate"])
            self.assertEqual(sum(states.values()), 1, states)
            self.assertEqual(states["leader"], 1 if i == leader else 0)
            self.assertEqual(m.get("raftd_leader_id"), leader)
            self.assertEqual(m.get("raftd_member", role="voter"), 1)
            self.assertEqual(m.get("raftd_member", role="learner"), 0)
            self.assertGreaterEqual(m.get("raftd_connections_open",
                                          kind="client"), 1)  # this one
            if tool:
                p = subprocess.run([tool, "check", "metrics"],
                                   input=m.text.encode(),
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=60)
                self.assertEqual(p.returncode, 0, "promtool on node %d: %s"
                                 % (i, p.stdout.decode()))
        # raftd(8) lists every family a node serves
        man_page = os.path.join(os.environ.get("SRCDIR", os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..")),
            "man", "raftd.8")
        with open(man_page) as f:
            man = f.read()
        for name in m.type:
            self.assertRegex(man, r"\b%s\b" % name,
                             "raftd(8) METRICS does not list %s" % name)
        # HEAD answers like GET without a body; other methods get 405
        code, headers, body = c.http(leader, "HEAD", "/metrics")
        self.assertEqual((code, body), (200, b""))
        self.assertEqual(headers.get("content-type"), CONTENT_TYPE)
        code, headers, _ = c.http(leader, "POST", "/metrics", body=b"")
        self.assertEqual(code, 405)
        self.assertEqual(headers.get("allow"), "GET, HEAD")

    def test_writes_and_reads_move_their_metrics(self):
        c = self.cluster(3)
        leader, _ = c.leader()
        follower = c.followers(leader)[0]
        before = scrape(c, leader)
        fbefore = scrape(c, follower)
        for k in range(10):
            put_ok(self, c, leader, "a%d" % k, "v")
        for k in range(5):  # forwarded to the leader
            put_ok(self, c, follower, "b%d" % k, "v")
        r = kv_get(c, leader, "a1", quorum=True)
        self.assertEqual(r.status, 200, r)
        r = kv_put(c, leader, "a1", "w", prevValue="v")
        self.assertEqual(r.status, 200, r)
        wait_converged(c)
        after = scrape(c, leader)
        fafter = scrape(c, follower)
        put = ("raftd_request_duration_seconds", {"op": "put"})
        self.assertEqual(after.count(put[0], **put[1]) -
                         before.count(put[0], **put[1]), 10)
        self.assertEqual(fafter.count(put[0], **put[1]) -
                         fbefore.count(put[0], **put[1]), 5)
        self.assertEqual(after.count(put[0], op="qget") -
                         before.count(put[0], op="qget"), 1)
        self.assertEqual(after.count(put[0], op="cas") -
                         before.count(put[0], op="cas"), 1)
        self.assertGreater(after.get(put[0] + "_sum", op="put"),
                           before.get(put[0] + "_sum", op="put"))
        self.assertGreaterEqual(after.get("raftd_commit_index") -
                                before.get("raftd_commit_index"), 16)
        self.assertEqual(after.get("raftd_applied_index"),
                         after.get("raftd_commit_index"))
        self.assertGreaterEqual(after.get("raftd_last_log_index"),
                                after.get("raftd_commit_index"))
        # the leader counts its own 11 and the 5 forwarded to it
        # (a batch retried after a timeout would count again: at least)
        self.assertGreaterEqual(
            after.get("raftd_proposals_received_total") -
            before.get("raftd_proposals_received_total"), 16)
        self.assertGreaterEqual(
            after.get("raftd_proposals_committed_total") -
            before.get("raftd_proposals_committed_total"), 16)
        self.assertGreaterEqual(
            fafter.get("raftd_proposals_forwarded_total") -
            fbefore.get("raftd_proposals_forwarded_total"), 5)
        self.assertEqual(fafter.get("raftd_proposals_committed_total") -
                         fbefore.get("raftd_proposals_committed_total"), 5)
        # every write was made durable on every node
        for m0, m1 in ((before, after), (fbefore, fafter)):
            self.assertGreater(m1.count("raftd_fsync_duration_seconds"),
                               m0.count("raftd_fsync_duration_seconds"))
        self.assertGreater(after.get("raftd_peer_rpcs_sent_total",
                                     type="append_entries"), 0)

    def test_leader_kill_counts_election_and_leader_change(self):
        c = self.cluster(3)
        leader, term = c.leader()
        survivors = c.followers(leader)
        before = {i: scrape(c, i) for i in survivors}
        c.kill(leader)
        new_leader, new_term = c.leader(ids=survivors)
        self.assertGreater(new_term, term)
        after = {i: self.wait_metric(
            c, i, lambda m: m.get("raftd_leader_id") == new_leader,
            "reports leader %d" % new_leader) for i in survivors}
        for i in survivors:
            self.assertGreater(after[i].get("raftd_leader_changes_total"),
                               before[i].get("raftd_leader_changes_total"))
            self.assertGreaterEqual(after[i].get("raftd_term"), new_term)
        started = sum(after[i].get("raftd_elections_started_total") -
                      before[i].get("raftd_elections_started_total")
                      for i in survivors)
        self.assertGreaterEqual(started, 1)
        won = after[new_leader].get("raftd_elections_won_total") - \
            before[new_leader].get("raftd_elections_won_total")
        self.assertGreaterEqual(won, 1)
        self.assertEqual(after[new_leader].get("raftd_state", state="leader"),
                         1)
        self.assertEqual(after[new_leader].get(
            "raftd_raft_events_total", event="became_leader"),
            after[new_leader].get("raftd_elections_won_total"))

    def test_peer_down_shows_rpc_errors_on_leader(self):
        c = self.cluster(3)
        leader, _ = c.leader()
        down = c.followers(leader)[0]
        m = scrape(c, leader)
        base = m.get("raftd_peer_rpc_errors_total", peer=str(down)) or 0
        c.kill(down)
        self.wait_metric(
            c, leader, lambda m: (m.get("raftd_peer_rpc_errors_total",
                                        peer=str(down)) or 0) > base,
            "peer %d's RPC errors to grow" % down)

    def test_snapshots_taken_sent_and_installed(self):
        c = self.cluster(3, extra_config=SNAP_CONFIG)
        leader, _ = c.leader()
        follower = c.followers(leader)[0]
        c.stop(follower)
        for k in range(150):  # compacts past the stopped follower
            put_ok(self, c, leader, "s%d" % k, "x" * 200)
        m = self.wait_metric(
            c, leader, lambda m: m.get("raftd_snapshots_taken_total") >= 1,
            "a snapshot taken")
        self.assertGreaterEqual(m.count(
            "raftd_snapshot_serialize_duration_seconds"), 1)
        self.assertGreaterEqual(m.count(
            "raftd_snapshot_write_duration_seconds"), 1)
        self.assertGreater(m.get("raftd_snapshot_index"), 0)
        self.assertGreater(m.get("raftd_snapshot_size_bytes"), 0)
        c.start(follower)
        wait_converged(c, timeout=scaled(15))
        m = self.wait_metric(
            c, leader, lambda m: m.get("raftd_snapshots_sent_total") >= 1,
            "a snapshot sent")
        self.assertGreater(m.get("raftd_snapshot_sent_bytes_total"), 0)
        f = self.wait_metric(
            c, follower,
            lambda m: m.get("raftd_snapshots_installed_total") >= 1,
            "a snapshot installed")
        self.assertEqual(f.count("raftd_snapshot_install_duration_seconds"),
                         f.get("raftd_snapshots_installed_total"))


class MetricsTlsTest(harness.ClusterTestCase):

    def test_client_certificate_rules_apply(self):
        """/metrics is a client path: with client_cert_auth a scrape needs
        a certificate of the cluster's CA, as /status does."""
        c = self.cluster(3, tls=True, peer_client_cert_auth=True,
                         client_cert_auth=True)
        leader, _ = c.leader()
        m = scrape(c, leader)  # the harness's context has a certificate
        self.assertEqual(m.get("raftd_state", state="leader"), 1)
        for path in ("/metrics", "/status"):
            code, _, body = c.http(leader, "GET", path,
                                   context=c.ssl_context())
            self.assertEqual(code, 403, (path, body))
            self.assertIn(b"client certificate", body)


class ParserTest(unittest.TestCase):
    """The test's own parser refuses what it should (a test that cannot
    fail is a defect)."""

    def test_parser(self):
        ok = ('# HELP raftd_x_total X.\n# TYPE raftd_x_total counter\n'
              'raftd_x_total{a="q\\"\\\\\\n"} 2\n')
        p = parse_exposition(ok)
        self.assertEqual(p["samples"][("raftd_x_total",
                                       frozenset({"a": 'q"\\\n'}.items()))],
                         2)
        for bad in ("x 1", "x{a=b} 1\n", "# junk\n", "x 1\nx 2\n",
                    "# TYPE x countr\n"):
            with self.assertRaises(ValueError, msg=bad):
                parse_exposition(bad)


if __name__ == "__main__":
    unittest.main()
