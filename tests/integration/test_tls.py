"""TLS (issue 10, item 3): https:// member URLs, one TLS port for peers and
clients, mutual TLS between the members (peer_client_cert_auth) beside
peer authentication, certificates checked at load and reread on SIGHUP.

A throwaway CA is made for each test with openssl (tlsca.py); node i's
certificate names its address 127.0.0.(10+i) as an IP subjectAltName.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import unittest

import harness
import tlsca
from harness import (kv_get, kv_put, kv_value, raw_exchange, scaled,
                     parse_http_response, wait_for)

PEER_PATH = "/raft/read_index"


def require_openssl():
    if not tlsca.available():
        raise unittest.SkipTest("openssl not installed (apt-get install "
                                "openssl): the TLS tests did not run")


def served_serial(c, i, context=None):
    """The serial number (lower-case hex) of the certificate node i serves
    now, on a new connection; None if the handshake fails."""
    nd = c.nodes[i]
    ctx = context or c.ssl_context()
    try:
        with socket.create_connection((nd.host, nd.port), timeout=2) as s:
            with ctx.wrap_socket(s, server_hostname=nd.host) as t:
                der = t.getpeercert(binary_form=True)
    except OSError:
        return None
    pem = ssl.DER_cert_to_PEM_cert(der)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(pem)
        f.flush()
        return tlsca.serial_of(f.name)


def error_of(resp):
    try:
        return resp.json().get("error", "")
    except (ValueError, AttributeError):
        return ""


class TLSTestCase(harness.ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        require_openssl()

    def _test_failed(self):
        return harness.test_failed(self)

    def write_and_read_everywhere(self, c, via, key, value, ids=None):
        """Write through node via, then read with ?quorum=true on every
        live node (or those of ids)."""
        r = kv_put(c, via, key, value)
        self.assertIsNotNone(r, "no answer to a write through node %d" % via)
        self.assertIn(r.status, (200, 201), r)
        for i in ids or c.live_ids():
            self.assertEqual(kv_value(kv_get(c, i, key, quorum=True)), value,
                             "quorum read of %s on node %d" % (key, i))


class TLSClusterTest(TLSTestCase):

    def test_mutual_tls_cluster(self):
        c = self.cluster(3, tls=True, peer_client_cert_auth=True)
        lid, term = c.leader()
        for i in c.ids():
            self.assertTrue(c.nodes[i].url.startswith("https://"))
            st = c.status(i)
            self.assertEqual([m["url"] for m in st["members"]],
                             [c.nodes[j].url for j in c.ids()])
            c.wait_log(i, r"serving HTTPS with the certificate \"CN=node%d\""
                       % i)
        f1, f2 = c.followers(lid)
        self.write_and_read_everywhere(c, f1, "/tls/a", "through a follower")
        # a follower restarts and catches up; then the leader restarts
        c.restart(f2)
        c.leader()
        self.write_and_read_everywhere(c, f2, "/tls/b", "after a restart")
        c.restart(lid)
        lid2, term2 = c.leader()
        self.assertGreater(term2, term)
        self.write_and_read_everywhere(c, lid, "/tls/c", "after the leader's")
        for i in c.ids():
            self.assertEqual(kv_value(kv_get(c, i, "/tls/a", quorum=True)),
                             "through a follower")
        # the members talked TLS to each other, and refused nobody
        for i in c.ids():
            self.assertNotRegex(c.log_text(i), r"peer_rpc_refused|"
                                r"refused_by_peer|certificate problem")

    def test_peers_need_a_client_certificate_and_the_secret(self):
        c = self.cluster(3, tls=True, peer_client_cert_auth=True)
        lid, term = c.leader()
        other = tlsca.CA(os.path.join(c.dir, "other-ca"), name="another CA")
        foreign = other.issue("intruder", ips=["127.0.0.1"], directory=c.dir)
        # both layers pass: a member's certificate and a signed request
        r = c.peer_request(lid, PEER_PATH, b"")
        self.assertNotIn(r.status, (401, 403), r)
        # the HMAC is right but the connection has no client certificate,
        # or one of another CA: 403, whatever the request says
        r = c.peer_request(lid, PEER_PATH, b"", context=c.ssl_context())
        self.assertEqual(r.status, 403, r)
        self.assertIn("peer requests need a client certificate signed by "
                      "this cluster's CA (peer_client_cert_auth = true): the "
                      "connection presented no client certificate",
                      error_of(r))
        r = c.peer_request(lid, PEER_PATH, b"",
                           context=c.ssl_context(cert=foreign))
        self.assertEqual(r.status, 403, r)
        self.assertRegex(error_of(r), r"its client certificate \"CN=intruder\""
                         r" is not accepted: .*NOT trusted")
        # the certificate is right but the HMAC is missing or wrong: peer
        # authentication still refuses (401)
        r = c.peer_request(lid, PEER_PATH, b"", sign=False)
        self.assertEqual(r.status, 401, r)
        r = c.peer_request(lid, PEER_PATH, b"", secret=os.urandom(32))
        self.assertEqual(r.status, 401, r)
        c.wait_log(lid, r"peer_rpc_refused: refused POST /raft/read_index "
                   r"from .*: peer requests need a client certificate")
        # clients need no certificate (client_cert_auth is off)
        r = kv_put(c, lid, "/tls/client", "no certificate")
        self.assertIn(r.status, (200, 201), r)
        c.assert_undisturbed(lid, term, scaled(1.0))

    def test_client_cert_auth(self):
        c = self.cluster(3, tls=True, peer_client_cert_auth=True,
                         client_cert_auth=True)
        lid, term = c.leader()
        # the harness's own requests carry a certificate of the CA
        self.write_and_read_everywhere(c, lid, "/tls/k", "v")
        r = c.request(lid, "GET", "/v2/keys/tls/k", context=c.ssl_context())
        self.assertEqual(r.status, 403, r)
        self.assertIn("client requests need a client certificate signed by "
                      "this cluster's CA (client_cert_auth = true)",
                      error_of(r))

    def test_plain_http_gets_a_clear_answer(self):
        c = self.cluster(1, tls=True)
        c.leader()
        nd = c.nodes[1]
        for req in (b"GET /v2/keys/ HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"POST /raft/append_entries HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 0\r\n\r\n"):
            got = parse_http_response(raw_exchange(nd.host, nd.port, req))
            self.assertIsNotNone(got, "no answer to %r" % req)
            status, headers, body = got
            self.assertEqual(status, 400, body)
            self.assertIn("this node serves HTTPS only: send the request "
                          "again with https://", json.loads(body)["error"])
        # and a TLS handshake to a plain node is answered in plain text
        p = self.cluster(1)
        pn = p.nodes[1]
        got = parse_http_response(raw_exchange(
            pn.host, pn.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"))
        self.assertIsNotNone(got)
        self.assertEqual(got[0], 400)
        self.assertIn("this node does not serve TLS: use http://",
                      json.loads(got[2])["error"])

    def test_member_of_another_ca_is_shut_out(self):
        c = self.cluster(3, tls=True, peer_client_cert_auth=True, start=False)
        other = tlsca.CA(os.path.join(c.dir, "other-ca"), name="another CA")
        n3 = c.nodes[3]
        n3.cert, n3.key = other.issue("node3", ips=[n3.host],
                                      directory=n3.dir)
        n3.ca_file = other.cert
        c._write_configs(c.extra_config)
        c.start_all()
        lid, term = c.leader(ids=[1, 2])
        self.write_and_read_everywhere(c, lid, "/tls/x", "without node 3",
                                       ids=[1, 2])
        # node 3 and the others do not trust each other's certificates:
        # neither side's requests get through
        c.wait_log(lid, r"node 3 \(https://.*\) is unreachable: SSL "
                   r"certificate problem: unable to get local issuer "
                   r"certificate", timeout=scaled(5.0))
        c.wait_log(3, r"node %d \(https://.*\) is unreachable: SSL "
                   r"certificate problem" % lid, timeout=scaled(5.0))
        ctx3 = c.ssl_context(ca=other.cert)
        st = c.status(3, context=ctx3)
        self.assertIsNotNone(st)
        self.assertIsNone(st["leader_id"], st)
        self.assertEqual(st["commit_index"], 0, st)
        self.assertIsNone(kv_value(c.request(3, "GET", "/v2/keys/tls/x",
                                             context=ctx3)))
        c.assert_undisturbed(lid, term, scaled(1.0), ids=[1, 2])


class TLSCheckConfigTest(unittest.TestCase):
    """raftd --check-config checks the certificates themselves."""

    @classmethod
    def setUpClass(cls):
        harness.require_raftd()
        require_openssl()
        cls.dir = tempfile.mkdtemp(prefix="raftd-it-tlsconf-")
        cls.ca = tlsca.CA(os.path.join(cls.dir, "ca"))
        cls.other = tlsca.CA(os.path.join(cls.dir, "other"), name="other CA")
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.dir, ignore_errors=True)

    HOST = "127.0.0.11"

    def check(self, cert=None, key=None, ca=None, **settings):
        """Write a config for node 1 at https://HOST with these files and
        run --check-config: (exit status, stdout, stderr, config path,
        {setting: line})."""
        type(self).n += 1
        d = os.path.join(self.dir, "c%d" % self.n)
        os.makedirs(d)
        tls = {}
        if cert:
            tls["tls_cert_file"] = cert
        if key:
            tls["tls_key_file"] = key
        if ca:
            tls["tls_ca_file"] = ca
        tls.update(settings)
        conf = os.path.join(d, "raftd.conf")
        text = harness.config_text(1, None, os.path.join(d, "data"),
                                   [(1, "https://%s:7001" % self.HOST),
                                    (2, "https://127.0.0.12:7001"),
                                    (3, "https://127.0.0.13:7001")], tls=tls)
        with open(conf, "w") as f:
            f.write(text)
        lines = {}
        for no, line in enumerate(text.splitlines(), 1):
            m = re.match(r"(\w+) =", line)
            if m:
                lines[m.group(1)] = no
        p = subprocess.run([harness.raftd_path(), "--check-config", "--config",
                            conf], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr, conf, lines

    def good(self, **kw):
        cert, key = self.ca.issue("node1", ips=[self.HOST], **kw)
        return cert, key

    def assertRefused(self, got, setting, want):
        rc, out, err, conf, lines = got
        self.assertEqual(rc, 78, "stdout %r stderr %r" % (out, err))
        prefix = "%s:%d: %s " % (conf, lines[setting], setting)
        self.assertTrue(err.startswith(prefix), "%r does not start with %r"
                        % (err, prefix))
        self.assertIn(want, err)

    def test_good_files(self):
        cert, key = self.good()
        rc, out, err, conf, _ = self.check(cert, key, self.ca.cert,
                                           peer_client_cert_auth=True)
        self.assertEqual(rc, 0, err)
        self.assertIn("serves HTTPS with the certificate \"CN=node1\"", out)
        self.assertIn("peers must present certificates of tls_ca_file", out)
        self.assertNotIn("warning", out)

    def test_https_needs_files(self):
        rc, out, err, conf, lines = self.check()
        self.assertEqual(rc, 78)
        self.assertIn("is https://, so it serves HTTPS only: set tls_cert_file "
                      "and tls_key_file", err)

    def test_missing_and_unreadable_files(self):
        cert, key = self.good()
        self.assertRefused(self.check(cert + ".nope", key, self.ca.cert),
                           "tls_cert_file", "does not exist")
        self.assertRefused(self.check(cert, key + ".nope", self.ca.cert),
                           "tls_key_file", "does not exist")
        self.assertRefused(self.check(cert, key, self.ca.cert + ".nope"),
                           "tls_ca_file", "does not exist")
        junk = os.path.join(self.dir, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        self.assertRefused(self.check(junk, key, self.ca.cert),
                           "tls_cert_file", "holds no readable PEM certificate")
        self.assertRefused(self.check(cert, key, junk), "tls_ca_file",
                           "holds no readable PEM certificate")
        os.chmod(junk, 0o600)
        self.assertRefused(self.check(cert, junk, self.ca.cert),
                           "tls_key_file", "holds no readable PEM private key")

    def test_key_must_match_and_stay_private(self):
        cert, key = self.good()
        _, other_key = self.good()
        self.assertRefused(self.check(cert, other_key, self.ca.cert),
                           "tls_key_file", "is not the key of the certificate "
                           "in tls_cert_file %s" % cert)
        os.chmod(key, 0o644)
        self.assertRefused(self.check(cert, key, self.ca.cert), "tls_key_file",
                           "can be read by every user of this machine: chmod "
                           "600 %s" % key)
        os.chmod(key, 0o600)
        enc = key + ".enc"
        subprocess.run([tlsca.OPENSSL, "pkey", "-in", key, "-out", enc,
                        "-aes256", "-passout", "pass:secret"], check=True)
        os.chmod(enc, 0o600)
        self.assertRefused(self.check(cert, enc, self.ca.cert),
                           "tls_key_file", "is encrypted")

    def test_dates(self):
        cert, key = self.good(start="20200101000000Z", end="20200201000000Z")
        self.assertRefused(self.check(cert, key, self.ca.cert),
                           "tls_cert_file", "expired on 2020-02-01 00:00:00 "
                           "UTC: put a renewed certificate in its place")
        cert, key = self.good(start="20990101000000Z", end="20991231000000Z")
        self.assertRefused(self.check(cert, key, self.ca.cert),
                           "tls_cert_file", "is not valid before 2099-01-01 "
                           "00:00:00 UTC: is this machine's clock right?")
        cert, key = self.good(days=10)
        rc, out, err, conf, _ = self.check(cert, key, self.ca.cert)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"warning: tls_cert_file %s expires on \S+ \S+ "
                         r"UTC, in (9|10) days: renew it" % re.escape(cert))

    def test_host_usage_and_ca(self):
        cert, key = self.ca.issue("elsewhere", ips=["127.0.0.99"],
                                  dns=["elsewhere.example"])
        self.assertRefused(self.check(cert, key, self.ca.cert),
                           "tls_cert_file", "is not valid for 127.0.0.11, the "
                           "host of this node's member URL "
                           "https://127.0.0.11:7001 (it names IP:127.0.0.99, "
                           "DNS:elsewhere.example, CN=elsewhere)")
        cert, key = self.good(eku="clientAuth")
        self.assertRefused(self.check(cert, key, self.ca.cert),
                           "tls_cert_file", "lacks serverAuth")
        cert, key = self.good(eku="serverAuth")
        self.assertEqual(self.check(cert, key, self.ca.cert)[0], 0)
        self.assertRefused(self.check(cert, key, self.ca.cert,
                                      peer_client_cert_auth=True),
                           "tls_cert_file", "lacks clientAuth")
        cert, key = self.other.issue("node1", ips=[self.HOST])
        self.assertRefused(self.check(cert, key, self.ca.cert),
                           "tls_cert_file", "does not verify against "
                           "tls_ca_file %s: The certificate is NOT trusted"
                           % self.ca.cert)


class TLSReloadTest(TLSTestCase):

    def reload(self, c, i, pattern):
        mark = len(c.log_text(i))
        os.kill(c.nodes[i].pid, signal.SIGHUP)
        c.wait_for(lambda: re.search(pattern, c.log_text(i)[mark:]),
                   scaled(5.0), msg="node %d to log %r" % (i, pattern))

    def test_sighup_rereads_certificates(self):
        c = self.cluster(3, tls=True, peer_client_cert_auth=True)
        lid, term = c.leader()
        self.write_and_read_everywhere(c, lid, "/tls/before", "1")
        f1 = c.followers(lid)[0]
        for i in (lid, f1):
            nd = c.nodes[i]
            old = served_serial(c, i)
            self.assertEqual(old, tlsca.serial_of(nd.cert))
            # a renewed certificate for the same key, put in place
            cert, _ = c.ca.issue("node%d" % i, ips=[nd.host], key=nd.key,
                                 directory=nd.dir)
            new = tlsca.serial_of(cert)
            os.replace(cert, nd.cert)
            self.reload(c, i, r"tls_reloaded: reload: new connections use "
                        r"the certificate \"CN=node%d\", serial %s" % (i, new))
            self.assertEqual(served_serial(c, i), new)
        # a broken file: the old certificate stays, the log says why
        nd = c.nodes[lid]
        kept = served_serial(c, lid)
        with open(nd.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\ntruncated\n")
        self.reload(c, lid, r"tls_reload_failed: reload: kept the TLS "
                    r"certificates in use: %s:\d+: tls_cert_file %s: holds no "
                    r"readable PEM certificate" % (re.escape(nd.config_path),
                                                   re.escape(nd.cert)))
        self.assertEqual(served_serial(c, lid), kept)
        # a new key with its certificate (the key is a file here, not a
        # systemd credential, so it is reread too)
        cert, key = c.ca.issue("node%d" % lid, ips=[nd.host],
                               directory=nd.dir)
        os.replace(key, nd.key)
        os.replace(cert, nd.cert)
        self.reload(c, lid, r"tls_reloaded")
        self.assertEqual(served_serial(c, lid), tlsca.serial_of(nd.cert))
        # nothing of Raft's state moved: the same leader in the same term,
        # the data, and writes still replicate (new connections verify the
        # new certificates)
        self.assertEqual(c.agreed_leader(), (lid, term))
        self.write_and_read_everywhere(c, f1, "/tls/after", "2")
        self.assertEqual(kv_value(kv_get(c, f1, "/tls/before", quorum=True)),
                         "1")
        c.assert_undisturbed(lid, term, scaled(1.0))
        # and a restart uses the files as they now are
        c.restart(lid)
        c.leader()
        self.assertEqual(served_serial(c, lid), tlsca.serial_of(nd.cert))


class TLSConnectionsTest(TLSTestCase):
    """max_connections and the peers' reserve with TLS: a connection is
    sorted by its first request, after the handshake."""

    def test_client_limit_and_idle_handshakes(self):
        c = self.cluster(3, tls=True, extra_config="max_connections = 4;")
        lid, term = c.leader()
        nd = c.nodes[lid]
        held = []
        for _ in range(4):  # clients at their limit, kept alive
            conn = harness.http_connection(nd.host, nd.port, 2, c.context)
            conn.request("GET", "/status")
            self.assertEqual(conn.getresponse().read()[:1], b"{")
            held.append(conn)
        # one more client: 503 over TLS once its request says it is one
        r = c.request(lid, "GET", "/status")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.headers.get("retry-after"), "1")
        self.assertIn("at its connection limit (4 client connections, "
                      "max_connections)", error_of(r))
        # peer requests still come in (the reserve)
        self.assertNotIn(c.peer_request(lid, PEER_PATH, b"").status,
                         (401, 403, 503))
        for conn in held:
            conn.close()
        wait_for(lambda: c.status(lid), scaled(3.0),
                 msg="a client to get in once the others closed")
        # handshakes that send no request: when every connection allowed
        # (4 + 16 per other member) is taken, the oldest is closed to make
        # room, so they lock nobody out
        idle = []
        for _ in range(4 + 32 + 8):
            s = socket.create_connection((nd.host, nd.port), timeout=2)
            t = c.context.wrap_socket(s, server_hostname=nd.host)
            idle.append(t)
        self.assertIsNotNone(c.status(lid), "a client was locked out")
        closed = 0
        for t in idle:
            t.settimeout(0.2)
            try:
                if t.recv(1) == b"":
                    closed += 1
            except (socket.timeout, ssl.SSLError):
                pass
            except OSError:
                closed += 1
            t.close()
        self.assertGreater(closed, 0, "no idle TLS connection was closed")
        c.assert_undisturbed(lid, term, scaled(1.0))


    def test_unfinished_handshakes_do_not_stall_the_node(self):
        # libmicrohttpd retried a handshake that waited for the client at
        # full speed: one half-sent ClientHello starved the node's loop
        c = self.cluster(3, tls=True, peer_client_cert_auth=True)
        lid, term = c.leader()
        nd = c.nodes[lid]
        half = []
        for _ in range(5):
            s = socket.create_connection((nd.host, nd.port), timeout=2)
            s.sendall(b"\x16\x03\x01")
            half.append(s)
        try:
            c.assert_undisturbed(lid, term, scaled(1.5))
            self.write_and_read_everywhere(c, lid, "/tls/half", "still here")
        finally:
            for s in half:
                s.close()


class TLSSwitchTest(TLSTestCase):

    def test_switch_a_cluster_to_https_one_member_at_a_time(self):
        c = self.cluster(3)
        lid, term = c.leader()
        self.write_and_read_everywhere(c, lid, "/switch/plain", "before")
        c.make_certificates()
        # each member in turn: stopped, given the https:// list and its
        # files, started; its data directory recorded the http:// list
        for n, i in enumerate(c.ids()):
            nd = c.nodes[i]
            c.stop(i)
            members = [(j, "https://%s:%d" % (c.nodes[j].host,
                                              c.nodes[j].port))
                       for j in c.ids()]
            with open(nd.config_path, "w") as f:
                f.write(harness.config_text(
                    i, "%s:%d" % (nd.host, nd.port), nd.data_dir, members,
                    heartbeat_ms=c.heartbeat_ms,
                    election_min_ms=c.election_min_ms,
                    election_max_ms=c.election_max_ms,
                    secret_file=c.secret_file,
                    tls={"tls_cert_file": nd.cert, "tls_key_file": nd.key,
                         "tls_ca_file": c.ca.cert}))
            nd.url = members[i - 1][1]
            c.start(i)
            # the switched members and the others each talk among
            # themselves only: whichever side is a majority goes on
            switched = c.ids()[:n + 1]
            side = switched if len(switched) >= 2 else c.ids()[n + 1:]
            lid, _ = c.leader(ids=side)
            self.write_and_read_everywhere(c, lid, "/switch/step%d" % i,
                                           str(i), ids=side)
        lid, term = c.leader()
        for i in c.ids():
            self.assertEqual(kv_value(kv_get(c, i, "/switch/plain",
                                             quorum=True)), "before")
            st = c.status(i)
            self.assertTrue(all(m["url"].startswith("https://")
                                for m in st["members"]), st)
        self.write_and_read_everywhere(c, lid, "/switch/after", "all https")


class TLSBenchTest(TLSTestCase):

    def test_raftd_bench_with_cacert(self):
        bench = os.path.join(os.path.dirname(harness.raftd_path()),
                             "raftd-bench")
        if not os.access(bench, os.X_OK):
            self.skipTest("raftd-bench not found next to raftd (%s)" % bench)
        c = self.cluster(3, tls=True, peer_client_cert_auth=True)
        c.leader()
        out = os.path.join(c.dir, "bench")
        eps = ",".join(c.nodes[i].url for i in c.ids())
        p = subprocess.run([bench, "-e", eps, "--cacert", c.ca.cert,
                            "-c", "2", "-d", "1", "-w", "0", "-O", "put",
                            "--no-plot", "-q", "-o", out],
                           capture_output=True, text=True,
                           timeout=scaled(60))
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "runs.csv")) as f:
            rows = [line.split(",") for line in f.read().splitlines()]
        row = dict(zip(rows[0], rows[1]))
        self.assertGreater(int(row["ops"]), 0, row)
        self.assertEqual((row["errors"], row["timeouts"]), ("0", "0"), row)
        # without the CA the servers' certificates are not trusted
        p = subprocess.run([bench, "-e", eps, "-c", "1", "-d", "1", "-w", "0",
                            "--leader-timeout", "2", "--no-plot", "-q",
                            "-o", out + "-noca"], capture_output=True,
                           text=True, timeout=scaled(60))
        self.assertNotEqual(p.returncode, 0)

    def test_quorum_reads_through_followers_under_load(self):
        """Many clients' quorum reads through the followers of a mutual-TLS
        cluster (their ReadIndex requests to the leader, its appends to
        them, connections opened and closed): every node survives, reads
        are answered, and the cluster serves afterwards. Under this load in
        bench/peer-cost.sh a follower crashed (SIGSEGV) in about half of
        the 5 s runs, writing into a freed TLS session; the test that
        finds that every time is TLSValgrindTest. (On a busy machine the
        load may cost an election: the 503s it answers then are right, so
        errors are not counted against the nodes.)"""
        bench = os.path.join(os.path.dirname(harness.raftd_path()),
                             "raftd-bench")
        if not os.access(bench, os.X_OK):
            self.skipTest("raftd-bench not found next to raftd (%s)" % bench)
        c = self.cluster(3, tls=True, peer_client_cert_auth=True)
        lid, _ = c.leader()
        eps = ",".join(c.nodes[i].url for i in c.followers(lid))
        out = os.path.join(c.dir, "bench")
        p = subprocess.run([bench, "-e", eps, "--cacert", c.ca.cert,
                            "-c", "48", "-d", "4", "-w", "1", "-O", "qget",
                            "--timeout", str(int(scaled(10) * 1000)),
                            "--no-plot", "-o", out],
                           capture_output=True, text=True,
                           timeout=scaled(120))
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "runs.csv")) as f:
            rows = [line.split(",") for line in f.read().splitlines()]
        row = dict(zip(rows[0], rows[1]))
        self.assertGreater(int(row["ops"]), 0, (row, p.stderr[-2000:]))
        self.assertEqual(sorted(c.live_ids()), sorted(c.ids()),
                         "a node died under TLS load")
        lid, _ = c.leader()
        for i in c.ids():  # raftd-bench preloaded every key
            r = kv_get(c, i, "/bench/k0000001", quorum=True)
            self.assertTrue(r is not None and r.status == 200 and
                            kv_value(r), "quorum read on node %d after the "
                            "load: %r" % (i, r))


def sanitized(binary):
    """True if binary is built with ASan/UBSan (valgrind cannot run it)."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return True
    return "libasan" in out or "libubsan" in out


class TLSValgrindTest(TLSTestCase):

    def test_closed_tls_connections_touch_no_freed_memory(self):
        """libmicrohttpd 0.9.75 frees a connection's TLS session before it
        reports the connection closed; raftd wrote into the freed session
        then (a follower crashed under TLS load). ASan cannot see it
        (GnuTLS is not instrumented), valgrind can: a node under memcheck
        serves TLS connections that open and close, and valgrind must
        report no invalid read or write. Runs with a build without
        sanitizers (make distcheck's); skipped otherwise."""
        binary = harness.raftd_path()
        if not shutil.which("valgrind"):
            self.skipTest("valgrind not installed (apt-get install valgrind)")
        if sanitized(binary):
            self.skipTest("%s is built with sanitizers: valgrind needs a "
                          "plain build (make distcheck runs this)" % binary)
        c = self.cluster(1, tls=True, start=False)
        vlog = os.path.join(c.dir, "valgrind.log")
        c.nodes[1].wrapper = ["valgrind", "--tool=memcheck", "--quiet",
                              "--log-file=" + vlog]
        c.start(1, wait=False)
        c.wait_port(1, timeout=scaled(120))
        c.leader(timeout=scaled(120))
        for k in range(5):  # each request on its own connection, closed
            r = kv_put(c, 1, "/v/%d" % k, "x", timeout=scaled(60))
            self.assertIsNotNone(r, "no answer under valgrind")
        c.wait_for(lambda: c.status(1) is not None, scaled(60),
                   msg="one more answer: the server cleaned up the others")
        c.stop(1, timeout=scaled(120))
        with open(vlog) as f:
            report = f.read()
        self.assertIsNone(re.search(r"Invalid (read|write)|Invalid free",
                                    report),
                          "valgrind found a memory error:\n" + report[:4000])


if __name__ == "__main__":
    unittest.main()
