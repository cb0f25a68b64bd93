"""harness.py - run real raftd processes on loopback for the integration tests.

Standard library only (Debian 12's /usr/bin/python3, 3.11).

    c = Cluster(3)              # writes configs in a tempdir, starts 3 nodes
    leader, term = c.leader()   # waits for exactly one agreed-upon leader
    c.kill(leader)              # SIGKILL, by PID, only processes we started
    c.pause(2); c.resume(2)     # SIGSTOP / SIGCONT
    c.restart(leader)
    c.status(1)                 # GET /status as a dict (None if no answer)
    c.close()                   # SIGTERM (then SIGKILL) our nodes; see
                                # ClusterTestCase for the checks done then

For later issues (replication, the etcd v2 keys API): c.request(i, "PUT",
"/v2/keys/foo", form={"value": "bar"}) returns a Response (.status,
.headers, .json()); c.kill_all() / c.stop_all() / c.start_all() for
whole-cluster crashes and restarts; capture_rpc(path) and FakePeer learn the
daemon's own message shapes; Cluster(extra_config=...) adds settings.

TLS: Cluster(3, tls=True, peer_client_cert_auth=True) makes a throwaway CA
with openssl (tlsca.py), a certificate per node for its address, https://
member URLs, and sends the harness's own requests over HTTPS trusting that
CA (c.context; c.peer_context, with a client certificate of the CA, for
peer_request()).

Environment:
    RAFTD                      the daemon binary (default ../../src/raftd
                               from this directory, then ./src/raftd)
    SRCDIR                     the source tree (default ../.. from here)
    RAFTD_TEST_TIME_SCALE      multiply every wait (e.g. 3 for sanitizer or
                               valgrind builds); the daemon's timeouts are
                               not scaled
    RAFTD_TEST_KEEP=1          keep every tempdir (failed tests' tempdirs
                               are always kept and their path printed)
    RAFTD_TEST_VERBOSE=1       print node logs even for passing tests
    RAFTD_TEST_LOG_LINES=N     lines of each node's log printed on failure

Addresses: node i listens on 127.0.0.(10+i) at one port shared by all nodes
of a cluster, chosen at random below the ephemeral range and checked free
(falls back to 127.0.0.1 with distinct ports if 127.0.0.N cannot be bound).
Distinct addresses per node are what a later nft-based partition needs.

Partitions: all nodes share one network namespace, so for now a partitioned
node is simulated by SIGSTOP: to the others a stopped process is
indistinguishable from an unreachable one (connections are accepted by the
kernel but never answered, and the node sends nothing). What SIGSTOP cannot
model is a minority that keeps running on its own side (e.g. an isolated
leader noticing it lost quorum); tests cover that by killing the majority
instead. TODO(partitions issue): PARTITION_MODE "netns": run each node in
its own network namespace (unshare -n / ip netns) joined by veth pairs to a
bridge, and cut links with nft rules (drop between node addresses), so that
both sides keep running and asymmetric partitions become possible.
"""

import atexit
import ctypes
import errno
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------
# Paths and timing

def raftd_path():
    p = os.environ.get("RAFTD")
    if p:
        return os.path.abspath(p)
    candidates = [os.path.join(HERE, "..", "..", "src", "raftd"),
                  os.path.join(os.getcwd(), "src", "raftd")]
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    return os.path.abspath(candidates[0])


def srcdir():
    return os.path.abspath(os.environ.get("SRCDIR") or
                           os.path.join(HERE, "..", ".."))


def require_raftd():
    """Skip (not fail) when the daemon has not been built."""
    p = raftd_path()
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        raise unittest.SkipTest("raftd binary not found at %s (set RAFTD)" % p)
    return p


TIME_SCALE = float(os.environ.get("RAFTD_TEST_TIME_SCALE", "1") or 1)
KEEP = os.environ.get("RAFTD_TEST_KEEP", "") not in ("", "0")
VERBOSE = os.environ.get("RAFTD_TEST_VERBOSE", "") not in ("", "0")
LOG_LINES = int(os.environ.get("RAFTD_TEST_LOG_LINES", "60") or 60)

HEARTBEAT_MS = 50
ELECTION_MIN_MS = 300
ELECTION_MAX_MS = 600
# One (maximal) election timeout in seconds.
ET = ELECTION_MAX_MS / 1000.0


def scaled(seconds):
    return seconds * TIME_SCALE


# Bounded waits used by the tests.
START_TIMEOUT = scaled(5.0)       # process start until its port accepts
LEADER_TIMEOUT = scaled(10.0)     # until a leader is elected and agreed on
STOP_TIMEOUT = scaled(5.0)        # SIGTERM until exit
HTTP_TIMEOUT = 1.0 * max(1.0, TIME_SCALE)

STATES = ("Follower", "Candidate", "Leader")
SANITIZER_PATTERNS = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"WARNING: ThreadSanitizer|ERROR: MemorySanitizer|==\d+==ABORTING|"
    r"Assertion .* failed|Segmentation fault")


class WaitTimeout(AssertionError):
    pass


def wait_for(pred, timeout, interval=0.05, msg="condition", describe=None):
    """Poll pred() until it returns a truthy value, which is returned.
    Raises WaitTimeout (an AssertionError, so the test fails rather than
    errors) after timeout seconds; describe() adds detail to the message."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            detail = describe() if describe else "last value: %r" % (last,)
            raise WaitTimeout("timed out after %.1fs waiting for %s; %s"
                              % (timeout, msg, detail))
        time.sleep(interval)


# --------------------------------------------------------------------------
# HTTP helpers

def http_connection(host, port, timeout=HTTP_TIMEOUT, context=None):
    """An http.client connection: HTTPS with the ssl.SSLContext context
    (a TLS cluster's), else plain HTTP."""
    if context is not None:
        return http.client.HTTPSConnection(host, port, timeout=timeout,
                                           context=context)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def http_request(host, port, method, path, body=None, headers=None,
                 timeout=HTTP_TIMEOUT, context=None):
    """One request on a fresh connection: (status, headers dict, body bytes).
    Raises OSError / http.client exceptions on connection trouble.
    context: an ssl.SSLContext for HTTPS."""
    conn = http_connection(host, port, timeout, context)
    try:
        hdrs = dict(headers or {})
        if body is not None and not any(k.lower() == "content-type"
                                        for k in hdrs):
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def raw_exchange(host, port, data, timeout=2.0, shutdown_write=True,
                 max_bytes=1 << 20, stop_after_response=False):
    """Send raw bytes on a new TCP connection, half-close, read what comes
    back until EOF or timeout (or, with stop_after_response, until one
    complete response has arrived). Returns the bytes received (maybe b"")."""
    out = b""
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            if data:
                s.sendall(data)
            if shutdown_write:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close early (e.g. on a huge header)
        deadline = time.monotonic() + timeout
        while len(out) < max_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
            if stop_after_response and parse_http_response(out) is not None:
                break
    return out


def send_streaming(host, port, head, body_iter, timeout=10.0):
    """Send head then body chunks, stopping early if the server answers or
    closes (as it may do for an oversized body). Returns the bytes read."""
    out = b""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(head)
        deadline = time.monotonic() + timeout
        pending = b""
        it = iter(body_iter)
        done_sending = False
        while not done_sending:
            if not pending:
                pending = next(it, None)
                if pending is None:
                    break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, w, _ = select.select([s], [s], [], left)
            if r:
                break  # an early answer (or EOF): stop sending
            if w:
                try:
                    n = s.send(pending)
                    pending = pending[n:]
                except (BrokenPipeError, ConnectionResetError):
                    done_sending = True
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
            if parse_http_response(out) is not None:
                break
    finally:
        s.close()
    return out


def parse_http_response(data):
    """(status, headers, body) from raw response bytes if a complete response
    (by Content-Length, or up to EOF) is present, else None."""
    i = data.find(b"\r\n\r\n")
    if i < 0:
        return None
    head = data[:i].decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/\d\.\d (\d{3})", head[0])
    if not m:
        return None
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = data[i + 4:]
    if "content-length" in headers:
        try:
            n = int(headers["content-length"])
        except ValueError:
            n = len(body)
        if len(body) < n:
            return None
        body = body[:n]
    return int(m.group(1)), headers, body


def status_code_of(raw):
    m = re.match(rb"HTTP/\d\.\d (\d{3})", raw or b"")
    return int(m.group(1)) if m else None


def port_accepts(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# Address allocation

_PROBED_127N = None


def _loopback_aliases_usable():
    global _PROBED_127N
    if _PROBED_127N is None:
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.11", 0))
            _PROBED_127N = True
        except OSError:
            _PROBED_127N = False
    return _PROBED_127N


def _bindable(host, port):
    with socket.socket() as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def allocate_addresses(n):
    """[(host, port)] for n nodes: 127.0.0.11.. with one random port below
    the ephemeral range, or 127.0.0.1 with n distinct free ports."""
    rng = random.SystemRandom()
    if _loopback_aliases_usable():
        hosts = ["127.0.0.%d" % (11 + i) for i in range(n)]
        for _ in range(200):
            port = rng.randrange(20000, 32000)
            if all(_bindable(h, port) for h in hosts):
                return [(h, port) for h in hosts]
    out = []
    while len(out) < n:
        port = rng.randrange(20000, 32000)
        if _bindable("127.0.0.1", port) and ("127.0.0.1", port) not in out:
            out.append(("127.0.0.1", port))
    return out


# --------------------------------------------------------------------------
# Processes

def _child_setup():
    # Our nodes die with the test process, whatever way it ends.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_LIVE_CLUSTERS = set()


@atexit.register
def _kill_leftovers():
    for c in list(_LIVE_CLUSTERS):
        try:
            c.close(graceful=False)
        except Exception:
            pass


def new_secret_file(directory):
    """A fresh peer secret (64 hex digits, mode 600) in directory, as
    `raftd --new-secret` makes one; returns (path, secret bytes)."""
    key = os.urandom(32)
    path = os.path.join(directory, "peer-secret")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return path, key


def config_text(node_id, listen, data_dir, members, heartbeat_ms=HEARTBEAT_MS,
                election_min_ms=ELECTION_MIN_MS,
                election_max_ms=ELECTION_MAX_MS, log_level="debug",
                extra="", secret_file=None, tls=None):
    """A raftd.conf. node_id None leaves `id` out; members: [(id, url)];
    secret_file None means peer_auth = "none"; tls: {setting: value} of
    the TLS settings (strings quoted, booleans as they are)."""
    lines = ["# written by tests/integration/harness.py"]
    for k, v in (tls or {}).items():
        lines.append("%s = %s;" % (k, ("true" if v else "false")
                                   if isinstance(v, bool) else '"%s"' % v))
    if node_id is not None:
        lines.append("id = %d;" % node_id)
    if listen is not None:
        lines.append('listen = "%s";' % listen)
    if data_dir is not None:
        lines.append('data_dir = "%s";' % data_dir)
    if secret_file:
        lines.append('peer_secret_file = "%s";' % secret_file)
    else:
        lines.append('peer_auth = "none";')
    lines += ["heartbeat_ms = %d;" % heartbeat_ms,
              "election_timeout_min_ms = %d;" % election_min_ms,
              "election_timeout_max_ms = %d;" % election_max_ms,
              'log_level = "%s";' % log_level]
    if extra:
        lines.append(extra.rstrip("\n"))
    lines.append("members = (")
    lines.append(",\n".join('  { id = %d; url = "%s"; }' % (i, u)
                            for i, u in members))
    lines.append(");")
    return "\n".join(lines) + "\n"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class Node:
    def __init__(self, cluster, node_id, host, port):
        self.cluster = cluster
        self.id = node_id
        self.host = host
        self.port = port
        self.url = "%s://%s:%d" % ("https" if cluster.tls else "http", host,
                                   port)
        self.dir = os.path.join(cluster.dir, "n%d" % node_id)
        self.data_dir = os.path.join(self.dir, "data")
        self.config_path = os.path.join(self.dir, "raftd.conf")
        self.log_path = os.path.join(self.dir, "raftd.log")
        self.proc = None
        self.paused = False
        self.expect_exit = False     # we stopped/killed it on purpose
        self.exits = []              # (pid, how, returncode) of past runs
        self.log_mark = 0            # log offset at the latest start
        self.extra_env = {}
        self.wrapper = []            # command run in front of raftd (valgrind)
        self.cert = self.key = None  # TLS: its certificate and key,
        self.ca_file = None          # and its own tls_ca_file if set
        os.makedirs(self.data_dir, exist_ok=True)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def __repr__(self):
        return "<node %d %s pid=%s>" % (self.id, self.url, self.pid)


class Cluster:
    """n raftd processes on loopback, configured from files in a tempdir.

    extra_config: text added to every node's config, or {id: text}.
    shared_config: one config file without `id` and data_dir for all
    nodes; each node is started with --id N --data-dir DIR (the "same file
    on every lab machine" mode).
    env: {id: {VAR: value}} extra environment per node.
    peer_auth: "hmac" (every node gets the cluster's new secret, in
    self.secret_file; self.secret holds it) or "none".
    tls: https:// member URLs; a CA made for the cluster (self.ca, a
    tlsca.CA) issues every node a certificate for its address (nd.cert,
    nd.key); self.context is the ssl.SSLContext of the harness's own
    requests (the CA, and a client certificate with client_cert_auth),
    self.peer_context the one of peer_request() (a client certificate of
    the CA). peer_client_cert_auth / client_cert_auth set those settings."""

    def __init__(self, n, *, start=True, wait_ready=True,
                 heartbeat_ms=HEARTBEAT_MS, election_min_ms=ELECTION_MIN_MS,
                 election_max_ms=ELECTION_MAX_MS, log_level="debug",
                 extra_config="", shared_config=False, env=None,
                 name="cluster", peer_auth="hmac", tls=False,
                 peer_client_cert_auth=False, client_cert_auth=False):
        self.binary = require_raftd()
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="raftd-it-")
        self.tls = tls
        self.peer_client_cert_auth = peer_client_cert_auth
        self.client_cert_auth = client_cert_auth
        self.context = self.peer_context = self.ca = None
        self.heartbeat_ms = heartbeat_ms
        self.election_min_ms = election_min_ms
        self.election_max_ms = election_max_ms
        self.log_level = log_level
        self.shared_config = shared_config
        self.closed = False
        addrs = allocate_addresses(n)
        self.nodes = {}
        for i, (h, p) in enumerate(addrs, start=1):
            self.nodes[i] = Node(self, i, h, p)
        self.members = [(i, nd.url) for i, nd in self.nodes.items()]
        self.member_ids = {i: list(self.nodes) for i in self.nodes}
        if tls:
            self.make_certificates()
        self.secret_file, self.secret = (new_secret_file(self.dir)
                                         if peer_auth == "hmac"
                                         else (None, None))
        self._cluster_id = None
        self._peer_incarnation = random.SystemRandom().randrange(1, 1 << 63)
        self._peer_counter = 0
        self.shared_config_path = os.path.join(self.dir, "raftd.conf")
        self.extra_config = extra_config
        self._write_configs(extra_config)
        for i, e in (env or {}).items():
            self.nodes[i].extra_env.update(e)
        _LIVE_CLUSTERS.add(self)
        if start:
            try:
                self.start_all(wait=wait_ready)
            except BaseException:
                self.close(graceful=False)
                raise

    # ---- configuration

    def make_certificates(self):
        """The cluster's CA (self.ca), a certificate for every node
        (nd.cert, nd.key) and the client contexts (see the class); done at
        construction with tls=True, or later by a test that switches a
        cluster to TLS."""
        import tlsca
        if not tlsca.available():
            raise unittest.SkipTest("openssl not installed (apt-get install "
                                    "openssl): no TLS test CA")
        self.ca = tlsca.CA(os.path.join(self.dir, "ca"))
        for i, nd in self.nodes.items():
            nd.cert, nd.key = self.ca.issue("node%d" % i, ips=[nd.host],
                                            directory=nd.dir)
        self.client_cert = self.ca.issue("harness", directory=self.dir)
        self.context = self.ssl_context(
            self.client_cert if self.client_cert_auth else None)
        self.peer_context = self.ssl_context(self.client_cert)

    def ssl_context(self, cert=None, ca=None):
        """A client ssl.SSLContext trusting the cluster's CA (or ca), with
        the client certificate cert = (cert file, key file), if given."""
        ctx = ssl.create_default_context(cafile=ca or self.ca.cert)
        if cert:
            ctx.load_cert_chain(*cert)
        return ctx

    def tls_settings(self, i):
        """The TLS settings of node i's config ({} without TLS)."""
        if not self.tls:
            return {}
        nd = self.nodes[i]
        return {"tls_cert_file": nd.cert, "tls_key_file": nd.key,
                "tls_ca_file": nd.ca_file or self.ca.cert,
                "peer_client_cert_auth": self.peer_client_cert_auth,
                "client_cert_auth": self.client_cert_auth}

    def _write_configs(self, extra_config):
        common = dict(heartbeat_ms=self.heartbeat_ms,
                      election_min_ms=self.election_min_ms,
                      election_max_ms=self.election_max_ms,
                      log_level=self.log_level, secret_file=self.secret_file)
        if self.shared_config:
            extra = extra_config if isinstance(extra_config, str) else ""
            text = config_text(None, None, None, self.members, extra=extra,
                               **common)
            with open(self.shared_config_path, "w") as f:
                f.write(text)
        for i, nd in self.nodes.items():
            extra = (extra_config.get(i, "") if isinstance(extra_config, dict)
                     else extra_config)
            members = [(j, u) for j, u in self.members
                       if j in self.member_ids[i]]
            text = config_text(i, "%s:%d" % (nd.host, nd.port), nd.data_dir,
                               members, extra=extra, tls=self.tls_settings(i),
                               **common)
            with open(nd.config_path, "w") as f:
                f.write(text)

    def set_members(self, ids, members):
        """Rewrite the config files of the nodes in ids so that their
        members list holds only the nodes in members (as a lab would edit
        /etc/raftd.conf on some machines); takes effect at their next
        start."""
        for i in ids:
            self.member_ids[i] = sorted(members)
        self._write_configs(self.extra_config)

    @property
    def n(self):
        return len(self.nodes)

    @property
    def majority(self):
        return self.n // 2 + 1

    def ids(self):
        return sorted(self.nodes)

    def node(self, i):
        return self.nodes[i]

    # ---- process control (only our own PIDs)

    def command(self, i):
        nd = self.nodes[i]
        wrapper = list(nd.wrapper)
        if self.shared_config:
            # listen comes from the member list entry for this id
            return wrapper + [self.binary, "--config",
                              self.shared_config_path, "--id", str(i),
                              "--data-dir", nd.data_dir]
        return wrapper + [self.binary, "--config", nd.config_path]

    def environment(self, i, extra=None):
        env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "LISTEN_FDS",
                  "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC",
                  "WATCHDOG_PID", "INVOCATION_ID"):
            env.pop(k, None)
        env.update(self.nodes[i].extra_env)
        env.update(extra or {})
        return env

    def start(self, i, wait=True, env=None):
        """Start node i; with wait, until its HTTP port accepts connections
        (raises if the process exits first)."""
        nd = self.nodes[i]
        if nd.running():
            raise RuntimeError("node %d already running" % i)
        with open(nd.log_path, "ab") as log:
            log.write(("=== harness: starting node %d at %.3f: %s\n"
                       % (i, time.time(), " ".join(self.command(i))))
                      .encode())
            log.flush()
            nd.log_mark = log.tell()
            nd.proc = subprocess.Popen(
                self.command(i), stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, env=self.environment(i, env), cwd=nd.dir,
                preexec_fn=_child_setup)
        nd.paused = False
        nd.expect_exit = False
        if wait:
            self.wait_port(i)
        return nd

    def wait_port(self, i, timeout=START_TIMEOUT):
        nd = self.nodes[i]

        def ok():
            if nd.proc.poll() is not None:
                nd.expect_exit = True  # reported here, not again at teardown
                nd.exits.append((nd.proc.pid, "died at startup",
                                 nd.proc.returncode))
                raise AssertionError(
                    "node %d exited with status %s during startup; log:\n%s"
                    % (i, nd.proc.returncode, self.tail(i)))
            return port_accepts(nd.host, nd.port)
        wait_for(ok, timeout, msg="node %d to accept on %s" % (i, nd.url),
                 describe=lambda: "log:\n" + self.tail(i))

    def wait_refusal(self, i, timeout, what=""):
        """Node i was started (wait=False) on data it must refuse: wait
        for it to exit and return its exit status (raises if it is still
        running after timeout). The exit is expected, not a crash."""
        nd = self.nodes[i]
        try:
            rc = nd.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%snode %d did not refuse to start within "
                                 "%.1fs; log:\n%s" % (what and what + ": ", i,
                                                      timeout, self.tail(i)))
        nd.expect_exit = True
        nd.exits.append((nd.proc.pid, "refused to start", rc))
        return rc

    def start_all(self, wait=True):
        for i in self.ids():
            if not self.nodes[i].running():
                self.start(i, wait=False)
        if wait:
            for i in self.ids():
                self.wait_port(i)

    def _reap(self, nd, how, timeout):
        try:
            rc = nd.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        nd.exits.append((nd.proc.pid, how, rc))
        return rc

    def kill(self, i):
        """SIGKILL node i (a crash) and reap it."""
        nd = self.nodes[i]
        if not nd.running():
            raise RuntimeError("node %d is not running" % i)
        nd.expect_exit = True
        os.kill(nd.proc.pid, signal.SIGKILL)
        self._reap(nd, "SIGKILL", scaled(5))
        nd.paused = False

    def stop(self, i, timeout=STOP_TIMEOUT):
        """SIGTERM node i and wait; returns its exit status. If it does not
        exit in time it is SIGKILLed and an AssertionError raised."""
        nd = self.nodes[i]
        if not nd.running():
            raise RuntimeError("node %d is not running" % i)
        nd.expect_exit = True
        if nd.paused:
            os.kill(nd.proc.pid, signal.SIGCONT)
            nd.paused = False
        os.kill(nd.proc.pid, signal.SIGTERM)
        rc = self._reap(nd, "SIGTERM", timeout)
        if rc is None:
            os.kill(nd.proc.pid, signal.SIGKILL)
            self._reap(nd, "SIGKILL after SIGTERM timeout", scaled(5))
            raise AssertionError("node %d did not exit within %.1fs of SIGTERM"
                                 % (i, timeout))
        return rc

    def kill_all(self):
        """SIGKILL every running node (a whole-cluster crash)."""
        for i in self.ids():
            if self.nodes[i].running():
                self.kill(i)

    def stop_all(self):
        """SIGTERM every running node; returns {id: exit status}."""
        return {i: self.stop(i) for i in self.ids()
                if self.nodes[i].running()}

    def restart(self, i, wait=True, env=None):
        if self.nodes[i].running():
            self.stop(i)
        return self.start(i, wait=wait, env=env)

    def pause(self, i):
        nd = self.nodes[i]
        os.kill(nd.proc.pid, signal.SIGSTOP)
        nd.paused = True

    def resume(self, i):
        nd = self.nodes[i]
        os.kill(nd.proc.pid, signal.SIGCONT)
        nd.paused = False

    PARTITION_MODE = "sigstop"

    def partition(self, isolated):
        """Cut the nodes in `isolated` off from the rest. For now by SIGSTOP
        (see the module docstring); heal() undoes it."""
        if self.PARTITION_MODE != "sigstop":
            # TODO(partitions issue): netns + nft, both sides keep running.
            raise NotImplementedError(self.PARTITION_MODE)
        for i in isolated:
            self.pause(i)

    def heal(self):
        for i, nd in self.nodes.items():
            if nd.paused and nd.running():
                self.resume(i)

    def live_ids(self):
        """Nodes that run and are not stopped (SIGSTOP)."""
        return [i for i in self.ids()
                if self.nodes[i].running() and not self.nodes[i].paused]

    # ---- observation

    def http(self, i, method, path, body=None, headers=None,
             timeout=HTTP_TIMEOUT, context=None):
        """context: the ssl.SSLContext to use instead of self.context
        (which https:// nodes get; http:// ones none)."""
        nd = self.nodes[i]
        if context is None and nd.url.startswith("https:"):
            context = self.context
        return http_request(nd.host, nd.port, method, path, body, headers,
                            timeout, context)

    def request(self, i, method, path, body=None, form=None, params=None,
                headers=None, timeout=HTTP_TIMEOUT, context=None):
        """A client request to node i (for the etcd v2 keys API and friends
        in later issues): form= is sent url-encoded, body= as JSON if not
        bytes/str; params= becomes the query string. Returns a Response."""
        hdrs = dict(headers or {})
        if params:
            path += ("&" if "?" in path else "?") + \
                urllib.parse.urlencode(params)
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            hdrs.setdefault("Content-Type",
                            "application/x-www-form-urlencoded")
        elif body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        code, rh, data = self.http(i, method, path, body, hdrs, timeout,
                                   context)
        return Response(code, rh, data)

    def cluster_id(self):
        """The cluster id (16 hex digits) the nodes report in /status."""
        if self._cluster_id is None:
            for i in self.live_ids():
                s = self.status(i)
                if s and s.get("cluster_id"):
                    self._cluster_id = s["cluster_id"]
                    break
        return self._cluster_id

    def peer_headers(self, to, path, body=b"", frm=None, method="POST",
                     secret=None, cluster=None, ts_ms=None, sign=True,
                     domain="peer"):
        """The Raftd-Auth header a member (frm, default: another member
        than `to`) puts on a peer request (see src/daemon/peer_auth.h), for
        tests that speak Raft to a node themselves; with domain="admin",
        an operator's as raftctl signs it (frm, default 0; MACs over
        "raftd-admin-..." where members' are over "raftd-peer-...").
        secret/cluster/ts_ms override the cluster's; sign=False leaves the
        MAC out."""
        if domain not in ("peer", "admin"):
            raise ValueError("domain: 'peer' or 'admin', not %r" % (domain,))
        if frm is None and domain == "admin":
            frm = 0  # PEER_AUTH_OPERATOR
        if frm is None:
            others = [i for i in self.ids() if i != to]
            if not others:
                raise ValueError("a peer request needs another member to "
                                 "come from: use a cluster of 2 or more")
            frm = others[0]
        if isinstance(body, str):
            body = body.encode()
        self._peer_counter += 1
        fields = "c=%s f=%d t=%d ts=%d n=%016x.%d" % (
            cluster or self.cluster_id(), frm, to,
            int(time.time() * 1000) if ts_ms is None else ts_ms,
            self._peer_incarnation, self._peer_counter)
        key = self.secret if secret is None else secret
        if not sign or key is None:
            return {"Raftd-Auth": "v1 " + fields}
        def mac(kind, data):
            head = ("raftd-%s-%s-v1\n%s\n%s\n%s\n"
                    % (domain, kind, method, path, fields)).encode()
            return hmac.new(key, head + data, hashlib.sha256).hexdigest()
        return {"Raftd-Auth": "v1 %s k=%s m=%s" % (
            fields, mac("head", b""), mac("request", body))}

    def admin_request(self, i, method, path, body=b"", signed_body=None,
                      headers=None, timeout=HTTP_TIMEOUT, context=None,
                      **spoil):
        """An operator's request to node i (an /admin/ path), signed as
        raftctl signs it: peer_headers(domain="admin"); returns a Response.
        body: bytes, str, an object sent as JSON, or None (no body, signed
        as empty). spoil: peer_headers' arguments, to make the signature
        wrong (secret=, ts_ms=, cluster=, frm=, domain="peer", sign=False);
        signed_body: the bytes signed instead of the body sent."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        spoil.setdefault("domain", "admin")
        hdrs = {"Content-Type": "application/json"}
        if signed_body is None:
            signed_body = body or b""
        hdrs.update(self.peer_headers(i, path, signed_body, method=method,
                                      **spoil))
        hdrs.update(headers or {})
        code, rh, data = self.http(i, method, path, body, hdrs, timeout,
                                   context)
        return Response(code, rh, data)

    def peer_request(self, i, path, body=b"", frm=None, method="POST",
                     headers=None, timeout=HTTP_TIMEOUT, context=None,
                     **sign):
        """A signed peer request to node i as member frm would send it;
        returns a Response. body: bytes, str, or an object sent as JSON.
        Over TLS with self.peer_context (a client certificate of the
        cluster's CA), or context."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(self.peer_headers(i, path, body or b"", frm, method,
                                      **sign))
        hdrs.update(headers or {})
        if context is None and self.nodes[i].url.startswith("https:"):
            context = self.peer_context
        code, rh, data = self.http(i, method, path, body, hdrs, timeout,
                                   context)
        return Response(code, rh, data)

    def status(self, i, timeout=HTTP_TIMEOUT, context=None):
        """GET /status of node i as a dict, or None if it did not answer
        with 200 and a JSON object."""
        try:
            code, _, body = self.http(i, "GET", "/status", timeout=timeout,
                                      context=context)
        except (OSError, http.client.HTTPException):
            return None
        if code != 200:
            return None
        try:
            d = json.loads(body)
        except ValueError:
            return None
        return d if isinstance(d, dict) else None

    def statuses(self, ids=None):
        return {i: self.status(i) for i in (self.live_ids() if ids is None
                                             else ids)}

    def wait_for(self, pred, timeout, interval=0.05, msg="condition",
                 describe=None):
        return wait_for(pred, timeout, interval, msg,
                        describe or (lambda: "statuses: %s"
                                     % self.describe_statuses()))

    def describe_statuses(self, ids=None):
        parts = []
        for i in (ids or self.ids()):
            nd = self.nodes[i]
            if not nd.running():
                parts.append("%d: down" % i)
            elif nd.paused:
                parts.append("%d: paused" % i)
            else:
                s = self.status(i)
                parts.append("%d: %s" % (i, "no answer" if s is None else
                             "%s term=%s leader=%s voted_for=%s"
                             % (s.get("state"), s.get("term"),
                                s.get("leader_id"), s.get("voted_for"))))
        return "; ".join(parts)

    def agreed_leader(self, ids=None):
        """(leader id, term) if exactly one of the nodes reports Leader and
        all of them report that leader_id and term, else None."""
        ids = self.live_ids() if ids is None else list(ids)
        if not ids:
            return None
        st = {i: self.status(i) for i in ids}
        if any(s is None for s in st.values()):
            return None
        leaders = [i for i, s in st.items() if s.get("state") == "Leader"]
        if len(leaders) != 1:
            return None
        lid = leaders[0]
        term = st[lid].get("term")
        if all(s.get("term") == term and s.get("leader_id") == lid
               for s in st.values()):
            return lid, term
        return None

    def leader(self, timeout=LEADER_TIMEOUT, ids=None):
        """Wait until exactly one live node (or one of ids) reports Leader
        and all of them agree on its id and term; returns (id, term)."""
        return self.wait_for(lambda: self.agreed_leader(ids), timeout,
                             msg="one agreed leader among %s"
                             % (ids or "live nodes"))

    def followers(self, leader_id):
        return [i for i in self.live_ids() if i != leader_id]

    def watch(self, duration, check, interval=0.1, ids=None):
        """Poll /status of the live nodes (or ids) for duration seconds and
        call check({id: status or None}) each round; check raises
        AssertionError to fail. Returns the number of rounds."""
        deadline = time.monotonic() + duration
        rounds = 0
        while True:
            st = self.statuses(ids)
            check(st)
            rounds += 1
            if time.monotonic() >= deadline:
                return rounds
            time.sleep(interval)

    def assert_undisturbed(self, leader_id, term, duration, ids=None):
        """For duration seconds: leader_id answers and stays Leader of term;
        no node reaches a higher term; no other node is Leader in term.
        (Nodes still at a lower term, e.g. just resumed, are tolerated.)"""
        silent = {}

        def check(st):
            for i, s in st.items():
                if s is None:
                    silent[i] = silent.get(i, 0) + 1
                    if silent[i] >= 3:
                        raise AssertionError("node %d stopped answering "
                                             "/status" % i)
                    continue
                silent[i] = 0
                t = s.get("term")
                if not isinstance(t, int):
                    raise AssertionError("node %d: bad term %r" % (i, t))
                if t > term:
                    raise AssertionError(
                        "node %d reached term %d > %d: the cluster was "
                        "disturbed (%s)" % (i, t, term,
                                            self.describe_statuses()))
                if i == leader_id and (s.get("state") != "Leader" or
                                       t != term):
                    raise AssertionError(
                        "leader %d lost leadership/term %d: %s"
                        % (leader_id, term, self.describe_statuses()))
                if i != leader_id and t == term and s.get("state") == "Leader":
                    raise AssertionError("two leaders in term %d: %d and %d"
                                         % (term, leader_id, i))
        return self.watch(duration, check, ids=ids)

    # ---- logs

    def log_text(self, i, since_start=False):
        nd = self.nodes[i]
        try:
            with open(nd.log_path, "rb") as f:
                if since_start:
                    f.seek(nd.log_mark)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, i, pattern, timeout=scaled(3.0), since_start=False):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log_text(i, since_start)),
                        timeout, msg="node %d log to match %r" % (i, pattern),
                        describe=lambda: "log:\n" + self.tail(i))

    def tail(self, i, n=LOG_LINES):
        lines = self.log_text(i).splitlines()
        return "\n".join("    " + l for l in lines[-n:])

    def dump_logs(self, stream=None, n=LOG_LINES):
        stream = stream or sys.stderr
        stream.write("\n---- %s: node logs in %s (last %d lines each) ----\n"
                     % (self.name, self.dir, n))
        for i, nd in self.nodes.items():
            stream.write("-- node %d (%s, pid %s, exits %s):\n%s\n"
                         % (i, nd.url, nd.pid, nd.exits, self.tail(i, n)))
        stream.flush()

    # ---- health and teardown

    def check_health(self):
        """Problems to report: nodes that died without us killing them, and
        sanitizer/assertion reports in any log."""
        problems = []
        for i, nd in self.nodes.items():
            if nd.proc is not None and not nd.expect_exit:
                rc = nd.proc.poll()
                if rc is not None:
                    nd.exits.append((nd.proc.pid, "died", rc))
                    nd.expect_exit = True
                    problems.append("node %d (pid %d) died unexpectedly with "
                                    "status %s" % (i, nd.proc.pid, rc))
            m = SANITIZER_PATTERNS.search(self.log_text(i))
            if m:
                problems.append("node %d log contains %r" % (i, m.group(0)))
        return problems

    def close(self, graceful=True):
        """Stop every node we started: SIGCONT if paused, SIGTERM, wait,
        SIGKILL if needed. Returns problems (non-zero exit after SIGTERM,
        SIGTERM ignored). Does not remove the tempdir (see cleanup_files)."""
        problems = []
        if self.closed:
            return problems
        self.closed = True
        _LIVE_CLUSTERS.discard(self)
        live = [nd for nd in self.nodes.values() if nd.running()]
        for nd in live:
            nd.expect_exit = True
            try:
                if nd.paused:
                    os.kill(nd.proc.pid, signal.SIGCONT)
                    nd.paused = False
                os.kill(nd.proc.pid,
                        signal.SIGTERM if graceful else signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (STOP_TIMEOUT if graceful else 5)
        for nd in live:
            rc = self._reap(nd, "SIGTERM at teardown" if graceful else
                            "SIGKILL at teardown",
                            max(0.1, deadline - time.monotonic()))
            if rc is None:
                os.kill(nd.proc.pid, signal.SIGKILL)
                self._reap(nd, "SIGKILL at teardown", 5)
                problems.append("node %d ignored SIGTERM for %.1fs"
                                % (nd.id, STOP_TIMEOUT))
            elif graceful and rc != 0:
                problems.append("node %d exited with status %d after SIGTERM "
                                "(expected 0)" % (nd.id, rc))
        return problems

    def cleanup_files(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# unittest glue

class ClusterTestCase(unittest.TestCase):
    """Base class: self.cluster(n, ...) makes a Cluster that is torn down
    after the test. At teardown a test fails if a node crashed (died without
    being killed by the test), a sanitizer report shows up in a log, or a
    node did not exit with status 0 on SIGTERM. On failure the tail of every
    node's log is printed and the tempdir kept."""

    @classmethod
    def setUpClass(cls):
        require_raftd()

    def cluster(self, n, **kw):
        kw.setdefault("name", self.id())
        c = Cluster(n, **kw)
        self.addCleanup(self._finish_cluster, c)
        return c

    def _test_failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        if not getattr(outcome, "success", True):
            return True
        # Python 3.11 reports a failure to the result at once and leaves
        # outcome.success True until after the cleanups: look there too
        result = getattr(outcome, "result", None)
        for lst in (getattr(result, "errors", []),
                    getattr(result, "failures", [])):
            if any(t is self for t, _ in lst):
                return True
        return False

    def _finish_cluster(self, c):
        problems = c.check_health()
        problems += c.close()
        failed = bool(problems) or self._test_failed()
        if failed or VERBOSE:
            c.dump_logs(sys.stderr)
        if failed or KEEP:
            sys.stderr.write("(kept %s)\n" % c.dir)
        else:
            c.cleanup_files()
        if problems:
            self.fail("; ".join(problems))

    def assertHealthy(self, c):
        problems = c.check_health()
        if problems:
            self.fail("; ".join(problems))


class FakePeer:
    """A listening socket that plays a cluster member: it records the HTTP
    requests raftd sends it and answers 204 No Content. Single-threaded
    (no threads, so subprocess preexec_fn stays safe): call poll()."""

    def __init__(self, host, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.conns = {}
        self.requests = []  # (method, path, headers, body)

    def close(self):
        for s in list(self.conns):
            s.close()
        self.sock.close()

    def poll(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.sock] + list(self.conns), [], [],
                                    left)
            for s in r:
                if s is self.sock:
                    try:
                        c, _ = self.sock.accept()
                        c.setblocking(False)
                        self.conns[c] = b""
                    except OSError:
                        pass
                    continue
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    del self.conns[s]
                    s.close()
                    continue
                self.conns[s] += data
                self._serve(s)

    def _serve(self, s):
        buf = self.conns[s]
        while True:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                break
            lines = buf[:i].decode("latin-1").split("\r\n")
            method, path = (lines[0].split(" ") + ["", ""])[:2]
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            if "chunked" in headers.get("transfer-encoding", ""):
                body, rest = _dechunk(buf[i + 4:])
                if body is None:
                    break
            else:
                n = int(headers.get("content-length", "0") or 0)
                if len(buf) < i + 4 + n:
                    break
                body, rest = buf[i + 4:i + 4 + n], buf[i + 4 + n:]
            self.requests.append((method, path, headers, body))
            buf = rest
            try:
                s.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            except OSError:
                pass
        self.conns[s] = buf

    def wait_request(self, path, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for req in self.requests:
                if req[1] == path:
                    return req
            self.poll(min(0.1, max(0.0, deadline - time.monotonic())))
        return None


def _dechunk(data):
    out = b""
    while True:
        i = data.find(b"\r\n")
        if i < 0:
            return None, data
        size = int(data[:i].split(b";")[0] or b"0", 16)
        if len(data) < i + 2 + size + 2:
            return None, data
        out += data[i + 2:i + 2 + size]
        data = data[i + 2 + size + 2:]
        if size == 0:
            return out, data


def capture_rpc(path="/raft/request_vote", timeout=LEADER_TIMEOUT):
    """Start one raftd whose only peer is a FakePeer, wait for it to send a
    request to path, and return the JSON body as a dict (or None). This is
    how the tests learn the daemon's own message shapes without hard-coding
    them (issue 3 can capture /raft/append_entries the same way once the
    fake peer grants votes)."""
    require_raftd()
    d = tempfile.mkdtemp(prefix="raftd-it-capture-")
    (h1, p1), (h2, p2) = allocate_addresses(2)
    peer = FakePeer(h2, p2)
    proc = None
    log_path = os.path.join(d, "raftd.log")
    try:
        os.makedirs(os.path.join(d, "data"))
        conf = os.path.join(d, "raftd.conf")
        secret_file, _ = new_secret_file(d)
        with open(conf, "w") as f:
            f.write(config_text(1, "%s:%d" % (h1, p1),
                                os.path.join(d, "data"),
                                [(1, "http://%s:%d" % (h1, p1)),
                                 (2, "http://%s:%d" % (h2, p2))],
                                secret_file=secret_file))
        env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "JOURNAL_STREAM"):
            env.pop(k, None)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([raftd_path(), "--config", conf],
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, env=env, cwd=d,
                                    preexec_fn=_child_setup)
        req = peer.wait_request(path, timeout)
        if req is None:
            return None
        try:
            body = json.loads(req[3])
        except ValueError:
            return None
        return body if isinstance(body, dict) else None
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        peer.close()
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# etcd v2 keys API helpers (issue 3: replication, durability and
# linearizability tests). Functions of a Cluster c and a node id i.

def keys_path(key):
    """/v2/keys/<key> with the key percent-encoded (slashes kept)."""
    return "/v2/keys/" + urllib.parse.quote(key.lstrip("/"), safe="/")


def kv_put(c, i, key, value=None, timeout=HTTP_TIMEOUT, **form):
    """PUT key=value (plus form fields such as prevValue=) through node i.
    Returns a Response, or None if the connection failed or timed out
    (an unknown outcome for the caller)."""
    if value is not None:
        form["value"] = value
    try:
        return c.request(i, "PUT", keys_path(key), form=form, timeout=timeout)
    except (OSError, http.client.HTTPException):
        return None


def kv_get(c, i, key, quorum=False, timeout=HTTP_TIMEOUT, **params):
    """GET key from node i (quorum=True: the linearizable ReadIndex read).
    Returns a Response, or None on connection trouble."""
    if quorum:
        params["quorum"] = "true"
    try:
        return c.request(i, "GET", keys_path(key), params=params or None,
                         timeout=timeout)
    except (OSError, http.client.HTTPException):
        return None


def etcd_error_code(resp):
    """The etcd errorCode of an error Response, or None."""
    if resp is None or resp.status < 300:
        return None
    try:
        j = resp.json()
    except ValueError:
        return None
    return j.get("errorCode") if isinstance(j, dict) else None


def kv_value(resp):
    """For a GET Response: the value (str), None for "key not found"
    (404, errorCode 100); raises AssertionError for anything else."""
    if resp is not None and resp.status == 200:
        return resp.json()["node"].get("value")
    if resp is not None and resp.status == 404 and etcd_error_code(resp) == 100:
        return None
    raise AssertionError("not a GET answer: %r" % (resp,))


def write_outcome(resp):
    """Classify the answer to a write: "ok" (2xx: applied), "failed"
    (definitely not applied: a 4xx answer of the store, "no leader" 503 /
    errorCode 301, or the 503 saying the write was not applied) or
    "unknown" (504, other 5xx, no answer): it may or may not be applied,
    now or later."""
    if resp is None:
        return "unknown"
    if 200 <= resp.status < 300:
        return "ok"
    if resp.status < 500:
        return "failed"
    if resp.status == 503:
        code = etcd_error_code(resp)
        if code == 301:
            return "failed"
        try:
            cause = resp.json().get("cause", "")
        except (ValueError, AttributeError):
            cause = ""
        if code == 300 and "not applied" in cause:
            return "failed"
    return "unknown"


def raft_headers(resp):
    """(X-Etcd-Index, X-Raft-Index, X-Raft-Term) as ints; AssertionError
    if any is missing or not a number."""
    out = []
    for h in ("x-etcd-index", "x-raft-index", "x-raft-term"):
        v = resp.headers.get(h)
        if v is None or not v.isdigit():
            raise AssertionError("header %s missing or not a number (%r) in "
                                 "%r %r" % (h, v, resp, resp.headers))
        out.append(int(v))
    return tuple(out)


def logs_converged(c, ids=None):
    """{id: status} if every node in ids (default: live nodes) answers
    /status with the same last_log_index, last_log_term and commit_index,
    all applied, and one of them is the leader; else None."""
    ids = c.live_ids() if ids is None else list(ids)
    st = {i: c.status(i) for i in ids}
    if not st or any(s is None for s in st.values()):
        return None
    keys = ("last_log_index", "last_log_term", "commit_index")
    first = next(iter(st.values()))
    for s in st.values():
        if any(s.get(k) != first.get(k) for k in keys):
            return None
        if s.get("applied_index") != s.get("commit_index"):
            return None
        if s.get("commit_index") != s.get("last_log_index"):
            return None
    if not any(s.get("state") == "Leader" for s in st.values()):
        return None
    return st


def wait_converged(c, ids=None, timeout=LEADER_TIMEOUT, interval=0.05):
    """Wait until logs_converged(c, ids); returns the statuses."""
    return c.wait_for(lambda: logs_converged(c, ids), timeout,
                      interval=interval,
                      msg="logs of %s to converge" % (ids or "live nodes"),
                      describe=lambda: "statuses: %s" % {
                          i: None if s is None else
                          {k: s.get(k) for k in (
                              "state", "term", "leader_id", "commit_index",
                              "applied_index", "last_log_index",
                              "last_log_term")}
                          for i, s in c.statuses(ids).items()})


def log_count(c, i, pattern, since_start=False):
    """How many times pattern (a regex) occurs in node i's log."""
    return len(re.findall(pattern, c.log_text(i, since_start)))


def send_signal(c, i, sig):
    """Send sig to node i without waiting (e.g. SIGTERM to time what
    happens while it shuts down); a terminating signal is expected to end
    it, so it is not reported as a crash. Reap it with reap()."""
    nd = c.nodes[i]
    if not nd.running():
        raise RuntimeError("node %d is not running" % i)
    if sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT):
        nd.expect_exit = True
    os.kill(nd.proc.pid, sig)


def reap(c, i, timeout=STOP_TIMEOUT, how="signal"):
    """Wait for node i's process to exit; its exit status, or None if it
    is still running after timeout."""
    return c._reap(c.nodes[i], how, timeout)


def test_failed(tc):
    """Whether unittest test case tc has failed so far, subtests included.
    Works during cleanups on Python 3.11, where the outcome's success flag
    reads True inside each cleanup (ClusterTestCase._test_failed relies on
    it; test classes can override _test_failed with this)."""
    outcome = getattr(tc, "_outcome", None)
    result = getattr(outcome, "result", None)
    for lst in (getattr(result, "errors", []), getattr(result, "failures", []),
                getattr(result, "unexpectedSuccesses", [])):
        for item in lst:
            t = item[0] if isinstance(item, tuple) else item
            if t is tc or getattr(t, "test_case", None) is tc:
                return True
    return ClusterTestCase._test_failed(tc)
