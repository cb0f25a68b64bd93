"""A real etcd v2 client against raftd: `ETCDCTL_API=2 etcdctl` from
Debian's etcd-client package (etcd 3.4) against a 3-node cluster (issue 3,
"Real client"). Every command's stdout, stderr and exit code are compared
with what etcdctl prints against etcd.

etcdctl first GETs /v2/members from one endpoint and then sends each
request to a random member, so every node must serve everything.

Skipped (with a message) if etcdctl is not installed; CI installs
etcd-client. ETCDCTL overrides the binary.

etcdctl's v2 exit codes: 0 success, 4 ExitBadArgs / an etcd error
("Error:  <code>: <message> (<cause>) [<index>]" on stderr), 5 cluster not
healthy.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_membership  # noqa: E402
import kvclient  # noqa: E402
from harness import scaled  # noqa: E402

ETCDCTL = os.environ.get("ETCDCTL") or shutil.which("etcdctl")
CMD_TIMEOUT = scaled(15.0)  # etcdctl's own --total-timeout is 5s


def require_etcdctl():
    if not ETCDCTL or not os.access(ETCDCTL, os.X_OK):
        raise unittest.SkipTest(
            "etcdctl not installed (apt-get install etcd-client); the "
            "etcdctl compatibility tests did not run")


def etcd_error_re(code, message, cause):
    """etcdctl's line for an etcd error (client.Error.Error())."""
    return r"(?m)^Error:\s+%d: %s \(%s\) \[\d+\]$" % (
        code, re.escape(message), re.escape(cause))


class EtcdctlMixin:

    @classmethod
    def setUpClass(cls):
        require_etcdctl()
        super().setUpClass()

    def endpoints(self, ids=None):
        return ",".join(self.c.nodes[i].url for i in (ids or self.c.ids()))

    def tls_args(self, ca=True, cert=True):
        """etcdctl's TLS options for a TLS cluster: the CA, and the client
        certificate when it needs one."""
        args = []
        if self.c.tls and ca:
            args += ["--ca-file", self.c.ca.cert]
        if self.c.tls and cert and self.c.client_cert_auth:
            args += ["--cert-file", self.c.client_cert[0],
                     "--key-file", self.c.client_cert[1]]
        return args

    def ctl(self, *args, ids=None, no_sync=False, timeout=CMD_TIMEOUT,
            tls=None):
        """Run etcdctl; returns (exit code, stdout, stderr). tls: its TLS
        options (default tls_args())."""
        cmd = [ETCDCTL, "--endpoints", self.endpoints(ids)]
        cmd += self.tls_args() if tls is None else tls
        if no_sync:
            cmd.append("--no-sync")
        cmd += list(args)
        env = dict(os.environ, ETCDCTL_API="2")
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                               capture_output=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.fail("%s: no exit within %.0fs (stdout %r, stderr %r)"
                      % (" ".join(cmd), timeout, e.stdout, e.stderr))
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def ok(self, *args, out=None, **kw):
        """etcdctl must exit 0 (and print exactly out, if given)."""
        rc, so, se = self.ctl(*args, **kw)
        self.assertEqual(rc, 0, "etcdctl %s: exit %d, stdout %r, stderr %r"
                         % (" ".join(args), rc, so, se))
        if out is not None:
            self.assertEqual(so, out, "etcdctl %s" % " ".join(args))
        return so

    def fails(self, *args, code=None, message=None, cause=None, rc=4, **kw):
        """etcdctl must exit rc and print etcd error `code` on stderr."""
        r, so, se = self.ctl(*args, **kw)
        self.assertEqual(r, rc, "etcdctl %s: exit %d, stdout %r, stderr %r"
                         % (" ".join(args), r, so, se))
        if code is not None:
            self.assertRegex(se, etcd_error_re(code, message, cause),
                             "etcdctl %s stderr" % " ".join(args))
        self.assertEqual(so, "", "etcdctl %s printed on stdout" %
                         " ".join(args))
        return se


class EtcdctlTest(EtcdctlMixin, kvclient.SharedClusterTestCase):

    def test_set_get_mk(self):
        k = self.k("a")
        self.ok("set", k, "one", out="one\n")
        self.ok("get", k, out="one\n")
        self.ok("set", k, "two", out="two\n")
        # mk on an existing key: etcd's "Key already exists", exit 4
        self.fails("mk", k, "three", code=105, message="Key already exists",
                   cause=k)
        self.ok("get", "--quorum", k, out="two\n")
        self.ok("mk", self.k("b"), "bee", out="bee\n")
        self.fails("get", self.k("nope"), code=100, message="Key not found",
                   cause=self.k("nope"))
        # values with spaces and unicode survive
        self.ok("set", self.k("u"), "hé llo ✓", out="hé llo ✓\n")
        self.ok("get", self.k("u"), out="hé llo ✓\n")
        # the write is visible on every node (plain GET once applied)
        idx = self.kv.store_index(self.leader())
        self.kv.wait_all(idx)
        for i in self.c.ids():
            self.assertEqual(self.kv.value(i, k), "two")

    def test_every_member_serves_everything(self):
        # one endpoint at a time, without the /v2/members sync: writes
        # through each member, reads back through another
        ids = self.c.ids()
        for n, i in enumerate(ids):
            k = self.k("via%d" % i)
            self.ok("set", k, "v%d" % i, ids=[i], no_sync=True,
                    out="v%d\n" % i)
            other = ids[(n + 1) % len(ids)]
            self.ok("get", "--quorum", k, ids=[other], no_sync=True,
                    out="v%d\n" % i)
            self.ok("ls", self.k(), ids=[other], no_sync=True)
        self.fails("mk", self.k("via%d" % ids[0]), "x", ids=[ids[2]],
                   no_sync=True, code=105, message="Key already exists",
                   cause=self.k("via%d" % ids[0]))

    def test_get_extended_output_shows_indexes(self):
        k = self.k("x")
        r = self.kv.put(self.followers()[0], k, value="val")
        idx = r.etcd_index
        self.kv.wait_all(idx)
        so = self.ok("-o", "extended", "get", k)
        m = re.fullmatch(r"Key: (\S+)\nCreated-Index: (\d+)\n"
                         r"Modified-Index: (\d+)\nTTL: 0\nIndex: (\d+)\n\n"
                         r"val\n", so)
        self.assertIsNotNone(m, "extended output %r" % so)
        self.assertEqual(m.group(1), k)
        self.assertEqual(int(m.group(2)), idx)
        self.assertEqual(int(m.group(3)), idx)
        self.assertGreaterEqual(int(m.group(4)), idx)  # X-Etcd-Index

    def test_update(self):
        k = self.k("u")
        self.ok("set", self.k("other"), "o")
        self.fails("update", k, "x", code=100, message="Key not found",
                   cause=k)
        self.ok("set", k, "x")
        self.ok("update", k, "y", out="y\n")
        self.assertEqual(self.kv.value(self.followers()[1], k, quorum=True),
                         "y")

    def test_rm(self):
        k = self.k("r")
        self.ok("set", k, "v")
        self.ok("rm", k, out="PrevNode.Value: v\n")
        self.fails("rm", k, code=100, message="Key not found", cause=k)
        self.assertIsNone(self.kv.value(self.followers()[0], k, quorum=True))
        # with conditions
        self.ok("set", k, "w")
        self.fails("rm", "--with-value", "nope", k, code=101,
                   message="Compare failed", cause="[nope != w]")
        # action compareAndDelete: etcdctl prints the (empty) node value,
        # as it does against etcd
        self.ok("rm", "--with-value", "w", k, out="\n")
        # a directory needs --dir (empty) or --recursive
        d = self.k("d")
        self.ok("set", d + "/f", "1")
        self.fails("rm", d, code=102, message="Not a file", cause=d)
        self.fails("rm", "--dir", d, code=108, message="Directory not empty",
                   cause=d)
        self.ok("rm", "--recursive", d)
        self.fails("get", d + "/f", code=100, message="Key not found",
                   cause=d)

    def test_mkdir_rmdir_ls(self):
        d = self.k("dir")
        self.ok("mkdir", d, out="")
        self.fails("mkdir", d, code=105, message="Key already exists",
                   cause=d)
        self.ok("set", d + "/b", "1")
        self.ok("mkdir", d + "/sub")
        self.ok("set", d + "/sub/c", "2")
        self.ok("set", d + "/a", "3")
        self.ok("ls", "--sort", d, out="%s/a\n%s/b\n%s/sub\n" % (d, d, d))
        self.ok("ls", "--sort", "-p", d,
                out="%s/a\n%s/b\n%s/sub/\n" % (d, d, d))
        self.ok("ls", "--sort", "--recursive", d,
                out="%s/a\n%s/b\n%s/sub\n%s/sub/c\n" % (d, d, d, d))
        # unsorted: the same set of names
        so = self.ok("ls", "-r", d)
        self.assertEqual(sorted(so.splitlines()),
                         [d + "/a", d + "/b", d + "/sub", d + "/sub/c"])
        # the root listing has this test's directory
        so = self.ok("ls")
        self.assertIn(self.k(), so.splitlines())
        # rmdir: only empty directories
        self.fails("rmdir", d + "/sub", code=108,
                   message="Directory not empty", cause=d + "/sub")
        self.ok("rm", d + "/sub/c")
        self.ok("rmdir", d + "/sub", out="")
        self.ok("ls", "--sort", d, out="%s/a\n%s/b\n" % (d, d))
        self.fails("ls", d + "/sub", code=100, message="Key not found",
                   cause=d + "/sub")

    def test_set_swap_with_value_and_index(self):
        k = self.k("s")
        self.ok("set", k, "old")
        self.ok("set", "--swap-with-value", "old", k, "new", out="new\n")
        self.fails("set", "--swap-with-value", "old", k, "newer", code=101,
                   message="Compare failed", cause="[old != new]")
        idx = self.kv.get(self.leader(), k).json()["node"]["modifiedIndex"]
        self.fails("set", "--swap-with-index", str(idx + 1000), k, "x",
                   code=101, message="Compare failed",
                   cause="[%d != %d]" % (idx + 1000, idx))
        self.ok("set", "--swap-with-index", str(idx), k, "byindex",
                out="byindex\n")
        self.ok("get", "--quorum", k, out="byindex\n")

    def test_mk_in_order(self):
        q = self.k("q")
        vals = ["j1", "j2", "j3"]
        for v in vals:
            self.ok("mk", "--in-order", q, v, out=v + "\n")
        so = self.ok("ls", "--sort", q)
        names = so.splitlines()
        self.assertEqual(len(names), 3, so)
        for n in names:
            self.assertRegex(n, r"^%s/\d{20}$" % re.escape(q))
        self.assertEqual([self.ok("get", n).strip() for n in names], vals)

    def ttl_of(self, key):
        so = self.ok("-o", "extended", "get", "--quorum", key)  # not stale
        m = re.search(r"(?m)^TTL: (-?\d+)$", so)
        self.assertIsNotNone(m, so)
        return int(m.group(1))

    def test_ttl_commands(self):
        # etcdctl v2's TTL commands (issue 15, item 4)
        k = self.k("t")
        self.ok("set", "--ttl", "300", k, "v", out="v\n")
        self.assertIn(self.ttl_of(k), (299, 300))
        self.ok("update", "--ttl", "600", k, "w", out="w\n")
        self.assertIn(self.ttl_of(k), (599, 600))
        self.ok("set", k, "permanent", out="permanent\n")
        self.assertEqual(self.ttl_of(k), 0)
        d = self.k("d")
        self.ok("mkdir", "--ttl", "300", d)
        self.ok("updatedir", "--ttl", "1", d)
        # (a quorum read: a plain one on a follower may not have the update yet)
        node = self.kv.get(self.c.ids()[0], d, quorum="true").json()["node"]
        self.assertTrue(node["dir"], node)
        self.assertIn(node.get("ttl", 0), (0, 1), node)
        short = self.k("short")
        self.ok("mk", "--ttl", "1", short, "s", out="s\n")
        self.fails("mk", "--ttl", "1", short, "again", code=105,
                   message="Key already exists", cause=short)
        # both expire through the log, on every node
        for i in self.c.ids():
            self.c.wait_for(
                lambda: self.ctl("get", short, ids=[i], no_sync=True)[0] == 4
                and self.ctl("ls", d, ids=[i], no_sync=True)[0] == 4,
                scaled(20), msg="%s and %s to expire on node %d"
                % (short, d, i))
        self.fails("get", short, code=100, message="Key not found",
                   cause=short)
        self.ok("mk", "--ttl", "1", short, "again", out="again\n")

    def test_watch_forever_and_exec_watch(self):
        k = self.k("f")
        ids = self.c.ids()
        p = self.watch_proc("--forever", k, ids=[ids[0]], no_sync=True)
        marker = os.path.join(self.c.dir, "exec-watch.out")
        cmd = [ETCDCTL, "--endpoints", self.endpoints([ids[0]]),
               "--no-sync"] + self.tls_args() + [
            # etcdctl 3.4's v2 exec-watch takes the key last (its argument
            # parser drops "--", and it then reads the last word as the key)
            "exec-watch", "--", "sh", "-c",
            'echo "$ETCD_WATCH_ACTION $ETCD_WATCH_VALUE" >> %s' % marker, k]
        q = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             env=dict(os.environ, ETCDCTL_API="2"))
        self.addCleanup(self._reap, q)
        writes = [0]

        def seen():
            try:
                with open(marker) as f:
                    return f.read().splitlines()
            except FileNotFoundError:
                return []

        def write_until(count):
            """Write k until exec-watch has run count times (a watch
            started a moment ago may not be registered yet), polling a
            second after each write; at most 20 writes."""
            while len(seen()) < count:
                self.assertLess(writes[0], 20, "exec-watch ran %d times "
                                "after %d writes" % (len(seen()), writes[0]))
                writes[0] += 1
                self.kv.put(ids[1], k, value="v%d" % writes[0])
                deadline = time.monotonic() + scaled(1)
                while len(seen()) < count and time.monotonic() < deadline:
                    time.sleep(0.05)
        write_until(1)
        write_until(2)
        lines = seen()
        self.assertGreaterEqual(len(lines), 2, lines)
        for line in lines:
            self.assertRegex(line, r"^set v\d+$")
        # watch --forever printed every change it saw, and is still running
        self.assertIsNone(p.poll(), "watch --forever exited")
        p.kill()
        so, _ = p.communicate(timeout=5)
        vals = so.decode().splitlines()
        self.assertGreaterEqual(len(vals), 2, vals)
        for v in vals:
            self.assertRegex(v, r"^v\d+$")

    def test_member_list(self):
        lid = self.leader()
        so = self.ok("member", "list")
        lines = so.splitlines()
        self.assertEqual(len(lines), 3, so)
        seen = {}
        for line in lines:
            m = re.fullmatch(r"([0-9a-f]+): name=(\S+) peerURLs=(\S+) "
                             r"clientURLs=(\S+) isLeader=(true|false)", line)
            self.assertIsNotNone(m, "member line %r" % line)
            seen[m.group(4)] = m.group(5)
        self.assertEqual(set(seen), {nd.url for nd in self.c.nodes.values()})
        leaders = [u for u, v in seen.items() if v == "true"]
        self.assertEqual(leaders, [self.c.nodes[lid].url], so)

    def test_cluster_health(self):
        rc, so, se = self.ctl("cluster-health")
        self.assertEqual(rc, 0, "exit %d: %r %r" % (rc, so, se))
        lines = so.splitlines()
        self.assertEqual(lines[-1], "cluster is healthy", so)
        for nd in self.c.nodes.values():
            self.assertRegex(so, r"(?m)^member [0-9a-f]+ is healthy: got "
                             r"healthy result from %s$" % re.escape(nd.url))
        self.assertEqual(len(lines), 4, so)

    def watch_proc(self, *args, ids=None, no_sync=False):
        cmd = [ETCDCTL, "--endpoints", self.endpoints(ids)] + self.tls_args()
        if no_sync:
            cmd.append("--no-sync")
        cmd += ["watch"] + list(args)
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, ETCDCTL_API="2"))
        self.addCleanup(self._reap, p)
        return p

    def _reap(self, p):
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=5)

    def wait_exit(self, p, write, timeout=scaled(8.0)):
        """Call write() until p exits (a plain watch started after its
        request may still be on the way; the key is written again then),
        at most every 0.5s; returns (rc, stdout, stderr)."""
        deadline = time.monotonic() + timeout
        while True:
            write()
            try:
                so, se = p.communicate(timeout=0.5)
                return p.returncode, so.decode(), se.decode()
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    p.kill()
                    so, se = p.communicate(timeout=5)
                    self.fail("etcdctl watch did not exit within %.0fs; "
                              "stdout %r stderr %r" % (timeout, so, se))

    def test_watch(self):
        k = self.k("w")
        ids = self.c.ids()
        # one endpoint, no sync: the watch is on node ids[0]; the write
        # goes through another node
        p = self.watch_proc(k, ids=[ids[0]], no_sync=True)
        time.sleep(scaled(0.5))
        self.assertIsNone(p.poll(), "watch exited before any write")
        rc, so, se = self.wait_exit(
            p, lambda: self.kv.put(ids[1], k, value="seen"))
        self.assertEqual((rc, so), (0, "seen\n"), "stderr %r" % se)
        # all endpoints (etcdctl syncs and picks a member), recursive
        d = self.k("wd")
        p = self.watch_proc("--recursive", d)
        time.sleep(scaled(0.5))
        self.assertIsNone(p.poll(), "recursive watch exited early")
        rc, so, se = self.wait_exit(
            p, lambda: self.kv.put(ids[2], d + "/x", value="deep"))
        self.assertEqual((rc, so), (0, "[set] %s/x\ndeep\n" % d),
                         "stderr %r" % se)

    def test_watch_after_index(self):
        # --after-index N waits for index > N: answered from history
        k = self.k("h")
        i1 = self.kv.put(self.c.ids()[0], k, value="first").etcd_index
        self.kv.put(self.c.ids()[1], k, value="second")
        self.settle()
        rc, so, se = self.ctl("watch", "--after-index", str(i1 - 1), k)
        self.assertEqual((rc, so), (0, "first\n"), se)
        rc, so, se = self.ctl("watch", "--after-index", str(i1), k)
        self.assertEqual((rc, so), (0, "second\n"), se)


class EtcdctlTLSTest(EtcdctlMixin, kvclient.SharedClusterTestCase):
    """etcdctl --ca-file against a cluster with https:// URLs and mutual
    TLS between its members (issue 10, item 3)."""

    CLUSTER_ARGS = {"tls": True, "peer_client_cert_auth": True}

    def test_set_get_ls_over_https(self):
        k = self.k("a")
        self.ok("set", k, "one", out="one\n")
        self.ok("get", k, out="one\n")
        self.ok("get", "--quorum", k, out="one\n")
        self.ok("mk", self.k("b"), "bee", out="bee\n")
        self.ok("ls", "--sort", self.k(), out="%s\n%s\n" % (k, self.k("b")))
        self.fails("mk", k, "x", code=105, message="Key already exists",
                   cause=k)
        # through each member, without the /v2/members sync
        for i in self.c.ids():
            self.ok("set", self.k("via%d" % i), str(i), ids=[i], no_sync=True,
                    out="%d\n" % i)
        self.ok("ls", "--sort", self.k(), out="".join(
            "%s\n" % x for x in sorted([k, self.k("b")] + [
                self.k("via%d" % i) for i in self.c.ids()])))
        self.ok("rm", k, out="PrevNode.Value: one\n")

    def test_member_list_names_https_urls(self):
        lid = self.leader()
        so = self.ok("member", "list")
        urls = re.findall(r"peerURLs=(\S+) clientURLs=(\S+) isLeader=(\w+)",
                          so)
        self.assertEqual(sorted(u for u, _, _ in urls),
                         sorted(nd.url for nd in self.c.nodes.values()), so)
        self.assertTrue(all(u.startswith("https://") for u, _, _ in urls))
        self.assertEqual([u for u, _, l in urls if l == "true"],
                         [self.c.nodes[lid].url], so)
        rc, so, se = self.ctl("cluster-health")
        self.assertEqual((rc, so.splitlines()[-1:]), (0, ["cluster is healthy"]),
                         se)

    def test_certificate_is_checked(self):
        # without the CA, etcdctl does not trust the nodes' certificates
        rc, so, se = self.ctl("get", self.k("x"), tls=[])
        self.assertNotEqual(rc, 0, "etcdctl trusted an unknown CA: %r" % so)
        self.assertRegex(se, r"certificate|x509", se)


class EtcdctlDegradedTest(EtcdctlMixin, unittest.TestCase):
    """One member killed: cluster-health names it and says degraded (exit
    5); everything else still works through the remaining members."""

    def setUp(self):
        require_etcdctl()
        self.c = harness.Cluster(3, name=self.id())
        self.addCleanup(self._finish)
        self.kv = kvclient.KV(self.c)

    def _finish(self):
        problems = self.c.check_health() + self.c.close()
        outcome = getattr(self, "_outcome", None)
        failed = bool(problems) or (outcome is not None and
                                    not getattr(outcome, "success", True))
        if failed or harness.VERBOSE:
            self.c.dump_logs(sys.stderr)
            sys.stderr.write("(kept %s)\n" % self.c.dir)
        else:
            self.c.cleanup_files()
        if problems:
            self.fail("; ".join(problems))

    def test_one_member_down(self):
        lid, term = self.c.leader()
        dead = [i for i in self.c.ids() if i != lid][0]
        self.ok("set", "/deg/before", "1")
        self.c.kill(dead)
        durl = self.c.nodes[dead].url
        rc, so, se = self.ctl("cluster-health")
        self.assertEqual(rc, 5, "exit %d: %r %r" % (rc, so, se))
        lines = so.splitlines()
        self.assertEqual(lines[-1], "cluster is degraded", so)
        self.assertRegex(so, r"(?m)^member [0-9a-f]+ is unreachable: \[%s\] "
                         r"are all unreachable$" % re.escape(durl))
        for i in self.c.ids():
            if i != dead:
                self.assertRegex(so, r"(?m)^member [0-9a-f]+ is healthy: got "
                                 r"healthy result from %s$"
                                 % re.escape(self.c.nodes[i].url))
        # the client still works against the cluster (it skips the dead
        # member, whichever it picks first)
        for n in range(3):
            self.ok("set", "/deg/k%d" % n, "v%d" % n, out="v%d\n" % n)
            self.ok("get", "--quorum", "/deg/k%d" % n, out="v%d\n" % n)
        self.ok("get", "/deg/before", out="1\n")
        so = self.ok("member", "list")
        self.assertEqual(len(so.splitlines()), 3, so)
        self.assertEqual(so.count("isLeader=true"), 1, so)


class EtcdctlMembersTest(EtcdctlMixin, test_membership.MembershipCase):
    """etcdctl member add/update/remove (v2) change the cluster's members
    through the log (issue 11, item 5), as etcd's would."""

    def test_member_add_update_remove(self):
        self.c = c = self.cluster_of(4, [1, 2, 3])
        leader, _ = c.leader(ids=[1, 2, 3])
        ids = [1, 2, 3]
        url4 = c.node(4).url
        so = self.ok("member", "add", "node4", url4, ids=ids)
        lines = so.splitlines()
        self.assertEqual(lines[0], "Added member named node4 with ID 4 to "
                         "cluster", so)
        self.assertIn('ETCD_INITIAL_CLUSTER_STATE="existing"', lines, so)
        self.assertRegex(so, r'(?m)^ETCD_INITIAL_CLUSTER=".*node4=%s.*"$'
                         % re.escape(url4))
        # not started yet: listed as etcd lists an unstarted member
        so = self.ok("member", "list", ids=ids)
        self.assertRegex(so, r"(?m)^4\[unstarted\]: peerURLs=%s$"
                         % re.escape(url4))
        c.set_members([4], [1, 2, 3, 4])
        c.start(4)
        test_membership.wait_configuration(c, leader, [1, 2, 3, 4])
        so = self.ok("member", "list", ids=ids)
        self.assertRegex(so, r"(?m)^4: name=node4 peerURLs=%s clientURLs=%s "
                         r"isLeader=false$" % (re.escape(url4),
                                               re.escape(url4)))
        self.ok("set", "/m/after-add", "x", ids=[4], out="x\n")
        # remove a follower; the other three go on
        gone = next(i for i in (1, 2, 3) if i != leader)
        so = self.ok("member", "remove", "%x" % gone, ids=ids)
        self.assertEqual(so, "Removed member %x from cluster\n" % gone)
        rest = [i for i in (1, 2, 3, 4) if i != gone]
        test_membership.wait_configuration(c, leader, rest)
        so = self.ok("member", "list", ids=rest)
        self.assertEqual(len(so.splitlines()), 3, so)
        self.assertNotIn(c.node(gone).url + " ", so)
        # an unknown id: etcdctl checks the list first
        rc, so, se = self.ctl("member", "remove", "99", ids=rest)
        self.assertEqual(rc, 1, (so, se))
        self.assertIn("Couldn't find a member in the cluster with an ID of "
                      "99", se)
        # update to a URL another member has: etcd's 409 message
        other = next(i for i in rest if i != leader)
        rc, so, se = self.ctl("member", "update", "%x" % other,
                              c.node(leader).url, ids=rest)
        self.assertEqual(rc, 1, (so, se))
        self.assertIn("Peer URLs already exists", se)
        self.ok("set", "/m/after-remove", "y", ids=rest, out="y\n")


if __name__ == "__main__":
    unittest.main()
