"""kvclient.py - helpers for the etcd v2 keys API tests (test_keys_api.py,
test_etcdctl.py) on top of harness.py. Standard library only.

    kv = KV(cluster)
    r = kv.put(2, "/dir/k", value="v")           # form body, via node 2
    r = kv.get(3, "/dir/k", quorum="true")       # query string
    r.status, r.json(), r.etcd_index, r.raft_index, r.raft_term
    w = kv.watch(1, "/k", recursive="true")      # long-poll GET ?wait=true
    w.assert_pending(0.3); ...; ev = w.result(3.0)

Watches are raw non-blocking sockets, not threads (the harness forks
raftd with a preexec_fn, which is unsafe with threads running). Every wait
is bounded.

SharedClusterTestCase runs one cluster for a whole test class (setUpClass),
to keep the suite fast; tests in such a class use keys under their own
prefix (self.k("name")). A node that dies unexpectedly, or a sanitizer
report in a log, fails the test during which it was noticed; a failed
test prints the nodes' logs.
"""

import json
import os
import select
import socket
import struct
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import scaled  # noqa: E402

# What etcd v2 answers per error code (etcd's error/error.go).
ETCD_ERRORS = {
    100: (404, "Key not found"),
    101: (412, "Compare failed"),
    102: (403, "Not a file"),
    104: (400, "Not a directory"),
    105: (412, "Key already exists"),
    107: (400, "Root is read only"),
    108: (403, "Directory not empty"),
    201: (400, "PrevValue is Required in POST form"),
    202: (400, "The given TTL in POST form is not a number"),
    203: (400, "The given index in POST form is not a number"),
    209: (400, "Invalid field"),
    210: (400, "Invalid POST form"),
    401: (400, "The event in requested index is outdated and cleared"),
}

FORM = "application/x-www-form-urlencoded"


def quote_key(key):
    """The URL path for a key: /v2/keys + each component percent-encoded
    (so spaces, '?', '#', '%' and non-ASCII survive; '/' separates)."""
    if not key.startswith("/"):
        key = "/" + key
    return "/v2/keys" + urllib.parse.quote(key, safe="/")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class KVResponse(harness.Response):
    """A Response with the etcd headers as ints (None if absent/garbled)."""

    def _int_header(self, name):
        v = self.headers.get(name)
        try:
            return int(v)
        except (TypeError, ValueError):
            return None

    @property
    def etcd_index(self):
        return self._int_header("x-etcd-index")

    @property
    def raft_index(self):
        return self._int_header("x-raft-index")

    @property
    def raft_term(self):
        return self._int_header("x-raft-term")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError("body is not JSON: %r" % (self.body[:300],))

    def __repr__(self):
        return "<KVResponse %d etcd=%s raft=%s/%s %r>" % (
            self.status, self.headers.get("x-etcd-index"),
            self.headers.get("x-raft-index"), self.headers.get("x-raft-term"),
            self.body[:300])


class KV:
    """etcd v2 client calls against the nodes of a harness.Cluster."""

    def __init__(self, cluster, timeout=None):
        self.c = cluster
        self.timeout = timeout or scaled(8.0)

    def addr(self, i):
        nd = self.c.nodes[i]
        return nd.host, nd.port

    def raw(self, i, method, path, body=None, headers=None, timeout=None):
        host, port = self.addr(i)
        conn = harness.http_connection(host, port, timeout or self.timeout,
                                       self.c.context)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return KVResponse(resp.status,
                              {k.lower(): v for k, v in resp.getheaders()},
                              data)
        finally:
            conn.close()

    def call(self, i, method, key, form=None, params=None, body=None,
             headers=None, timeout=None, path=None):
        """method on key at node i; form= goes url-encoded in the body,
        params= in the query string (dicts or lists of pairs)."""
        p = path if path is not None else quote_key(key)
        if params:
            p += "?" + urllib.parse.urlencode(params)
        hdrs = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            hdrs.setdefault("Content-Type", FORM)
        return self.raw(i, method, p, body, hdrs, timeout)

    def put(self, i, key, timeout=None, params=None, **form):
        return self.call(i, "PUT", key, form=form, params=params,
                         timeout=timeout)

    def post(self, i, key, timeout=None, **form):
        return self.call(i, "POST", key, form=form, timeout=timeout)

    def delete(self, i, key, timeout=None, **params):
        return self.call(i, "DELETE", key, params=params or None,
                         timeout=timeout)

    def get(self, i, key, timeout=None, **params):
        return self.call(i, "GET", key, params=params or None,
                         timeout=timeout)

    def value(self, i, key, quorum=False):
        """The value at key on node i, or None if not found."""
        r = self.get(i, key, **({"quorum": "true"} if quorum else {}))
        if r.status == 404:
            return None
        if r.status != 200:
            raise AssertionError("GET %s on node %d: %r" % (key, i, r))
        return r.json()["node"].get("value")

    def store_index(self, i):
        """Node i's store index (X-Etcd-Index of a local read)."""
        r = self.get(i, "/")
        return r.etcd_index

    def wait_index(self, i, index, timeout=scaled(3.0)):
        """Wait until node i has applied the store index `index`."""
        return harness.wait_for(
            lambda: (self.store_index(i) or 0) >= index, timeout,
            msg="node %d to reach store index %d" % (i, index),
            describe=lambda: "at %s" % self.store_index(i))

    def wait_all(self, index, ids=None, timeout=scaled(3.0)):
        for i in ids or self.c.live_ids():
            self.wait_index(i, index, timeout)

    def watch(self, i, key, **params):
        """(plain HTTP only)"""
        params.setdefault("wait", "true")
        host, port = self.addr(i)
        path = quote_key(key) + "?" + urllib.parse.urlencode(params)
        return Watch(host, port, path)


class Watch:
    """A long-poll GET on its own socket, sent at construction."""

    def __init__(self, host, port, path):
        self.path = path
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
                           "Connection: close\r\n\r\n"
                           % (path, host, port)).encode())
        self.sock.setblocking(False)
        self.data = b""
        self.eof = False

    def _pump(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.eof:
            if harness.parse_http_response(self.data) is not None and \
                    "content-length" in self.data.split(b"\r\n\r\n")[0] \
                    .decode("latin-1").lower():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
            self.data += chunk

    def arrived(self, timeout=0.0):
        self._pump(timeout)
        return bool(self.data) or self.eof

    def assert_pending(self, seconds):
        """Nothing arrives (and the connection stays open) for seconds."""
        self._pump(seconds)
        if self.data or self.eof:
            raise AssertionError("watch %s answered early: %r"
                                 % (self.path, self.data[:300]))

    def result(self, timeout):
        """The answer as a KVResponse, waiting up to timeout seconds."""
        self._pump(timeout)
        parsed = harness.parse_http_response(self.data)
        if parsed is None:
            raise AssertionError("watch %s: no complete answer within %.1fs "
                                 "(got %r)" % (self.path, timeout,
                                               self.data[:300]))
        return KVResponse(*parsed)

    def close(self, reset=False):
        """Go away; reset=True sends a RST instead of a FIN."""
        if self.sock is None:
            return
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        self.sock.close()
        self.sock = None


class SharedClusterTestCase(unittest.TestCase):
    """One n-node cluster per test class. Subclasses set N_NODES,
    EXTRA_CONFIG and CLUSTER_ARGS; self.c is the cluster, self.kv a KV on
    it."""

    N_NODES = 3
    EXTRA_CONFIG = ""
    CLUSTER_ARGS = {}  # more keyword arguments of harness.Cluster

    @classmethod
    def setUpClass(cls):
        harness.require_raftd()
        cls.c = harness.Cluster(cls.N_NODES, extra_config=cls.EXTRA_CONFIG,
                                name=cls.__name__, **cls.CLUSTER_ARGS)
        cls.failed_any = False
        try:
            cls.leader_id, cls.term = cls.c.leader()
        except BaseException:
            cls.c.dump_logs(sys.stderr)
            cls.c.close(graceful=False)
            raise
        cls.kv = KV(cls.c)

    @classmethod
    def tearDownClass(cls):
        problems = cls.c.check_health()
        problems += cls.c.close()
        if problems or cls.failed_any or harness.VERBOSE:
            cls.c.dump_logs(sys.stderr)
            sys.stderr.write("(kept %s)\n" % cls.c.dir)
        else:
            cls.c.cleanup_files()
        if problems:
            raise AssertionError("%s: %s" % (cls.__name__,
                                             "; ".join(problems)))

    def setUp(self):
        self.addCleanup(self._check_nodes)

    def _check_nodes(self):
        problems = self.c.check_health()
        if problems:
            type(self).failed_any = True
            self.fail("; ".join(problems))
        if self._failed():
            type(self).failed_any = True

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        if hasattr(outcome, "success"):
            return not outcome.success
        return False

    def k(self, name=""):
        """A key private to this test: /<test method name>/<name>."""
        base = "/" + self._testMethodName
        return base + ("/" + name if name else "")

    # ---- cluster facts

    def leader(self):
        lid, term = self.c.leader()
        return lid

    def settle(self):
        """Wait until every live node applied what the leader has (so a
        watch started now does not see an older write as "the next")."""
        lid = self.leader()
        self.kv.wait_all(self.kv.store_index(lid))

    def followers(self):
        lid = self.leader()
        return [i for i in self.c.live_ids() if i != lid]

    # ---- assertions on etcd answers

    def assertEtcdHeaders(self, r, what=""):
        """X-Etcd-Index, X-Raft-Index and X-Raft-Term are present and
        numeric; the raft term is the cluster's."""
        for h in ("x-etcd-index", "x-raft-index", "x-raft-term"):
            self.assertIn(h, r.headers, "%s: no %s header: %r" % (what, h, r))
            self.assertRegex(r.headers[h], r"^\d+$", "%s: %s" % (what, h))
        self.assertGreaterEqual(r.raft_term, 1, what)
        self.assertTrue(r.headers.get("content-type", "")
                        .startswith("application/json"),
                        "%s: Content-Type %r" % (what,
                                                 r.headers.get("content-type")))

    def assertEtcdError(self, r, code, cause=None, what="", index=None):
        """r is etcd error `code` with etcd's status and message; cause is
        compared exactly if given (a str) or checked with a callable."""
        status, message = ETCD_ERRORS[code]
        self.assertEqual(r.status, status, "%s: %r" % (what, r))
        d = r.json()
        self.assertEqual(d.get("errorCode"), code, "%s: %r" % (what, d))
        self.assertEqual(d.get("message"), message, "%s: %r" % (what, d))
        self.assertTrue(is_int(d.get("index")), "%s: %r" % (what, d))
        if cause is not None:
            if callable(cause):
                self.assertTrue(cause(d.get("cause")),
                                "%s: cause %r" % (what, d.get("cause")))
            else:
                self.assertEqual(d.get("cause"), cause, "%s: %r" % (what, d))
        if index is not None:
            self.assertEqual(d["index"], index, "%s: %r" % (what, d))
        self.assertEtcdHeaders(r, what)
        self.assertEqual(r.etcd_index, d["index"],
                         "%s: X-Etcd-Index vs body index: %r" % (what, r))
        return d

    def assertAction(self, r, status, action, what="", index_header=True):
        """A successful modification/read: status, action; returns the
        JSON. The node's indexes are ints; a write's modifiedIndex is the
        X-Etcd-Index of its answer."""
        self.assertEqual(r.status, status, "%s: %r" % (what, r))
        d = r.json()
        self.assertEqual(d.get("action"), action, "%s: %r" % (what, d))
        self.assertIsInstance(d.get("node"), dict, "%s: %r" % (what, d))
        self.assertEtcdHeaders(r, what)
        self.assertTrue(r.body.endswith(b"\n"),
                        "%s: etcd ends its JSON with a newline" % what)
        if action != "get" and index_header:
            self.assertEqual(d["node"].get("modifiedIndex"), r.etcd_index,
                             "%s: modifiedIndex vs X-Etcd-Index: %r"
                             % (what, r))
        return d
