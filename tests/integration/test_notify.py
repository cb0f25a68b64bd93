"""sd_notify protocol: READY=1 only once the HTTP port accepts requests and
state is loaded, STATUS= lines with role/term/leader, STOPPING=1 on SIGTERM
and a clean exit (status 0).

The test plays systemd: it binds an AF_UNIX datagram socket and passes its
path in NOTIFY_SOCKET."""

import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import LEADER_TIMEOUT, START_TIMEOUT, scaled  # noqa: E402


class NotifySocket:
    def __init__(self, directory, name):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = os.path.join(directory, name)
        if len(path.encode()) < 100:
            self.sock.bind(path)
            self.address = path
        else:  # too long for sun_path: use the abstract namespace
            abstract = "raftd-it-%d-%s" % (os.getpid(), name)
            self.sock.bind("\0" + abstract)
            self.address = "@" + abstract
        self.messages = []  # (monotonic time, [lines])

    def close(self):
        self.sock.close()

    def recv(self, timeout):
        """One datagram's lines, or None on timeout."""
        self.sock.settimeout(max(0.001, timeout))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        lines = data.decode("utf-8", "replace").split("\n")
        lines = [l for l in lines if l]
        self.messages.append((time.monotonic(), lines))
        return lines

    def wait(self, pred, timeout, what):
        """Receive until pred(lines) is true for a datagram; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.1fs; received: %r"
                                     % (what, timeout, self.all_lines()))
            lines = self.recv(left)
            if lines is not None and pred(lines):
                return lines

    def drain(self, duration=0.0):
        deadline = time.monotonic() + duration
        while True:
            if self.recv(max(0.001, deadline - time.monotonic())) is None \
                    and time.monotonic() >= deadline:
                return

    def all_lines(self):
        return [l for _, ls in self.messages for l in ls]

    def status_lines(self):
        return [l[len("STATUS="):] for l in self.all_lines()
                if l.startswith("STATUS=")]


def mentions_term(text, term):
    return re.search(r"term\D{0,3}%d\b" % term, text, re.I) is not None


class NotifyTest(harness.ClusterTestCase):

    def notify_cluster(self, n):
        # sockets first: cleanups run in reverse, so they outlive the nodes
        # (which send STOPPING=1 at teardown)
        sockdir = tempfile.mkdtemp(prefix="raftd-it-notify-")
        self.addCleanup(shutil.rmtree, sockdir, True)
        socks = {i: NotifySocket(sockdir, "n%d.sock" % i)
                 for i in range(1, n + 1)}
        self.addCleanup(lambda: [s.close() for s in socks.values()])
        c = self.cluster(n, start=False)
        for i in c.ids():
            c.node(i).extra_env["NOTIFY_SOCKET"] = socks[i].address
        return c, socks

    def start_and_check_ready(self, c, i, sock):
        """Start node i, wait for READY=1, and check the port accepts and
        answers at that moment: the node is frozen (SIGSTOP) the instant
        READY=1 arrives, so it cannot start listening after the fact; a
        connection to a listening socket still completes in the kernel."""
        nd = c.node(i)
        c.start(i, wait=False)
        sock.wait(lambda ls: "READY=1" in ls, START_TIMEOUT, "READY=1")
        os.kill(nd.pid, signal.SIGSTOP)
        try:
            try:
                s = socket.create_connection((nd.host, nd.port), timeout=1)
            except OSError as e:
                self.fail("READY=1 sent before the HTTP port accepts "
                          "connections (%s)" % e)
            s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
        finally:
            os.kill(nd.pid, signal.SIGCONT)
        s.settimeout(scaled(2))
        raw = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
                if harness.parse_http_response(raw):
                    break
        except OSError:
            pass
        s.close()
        resp = harness.parse_http_response(raw)
        self.assertIsNotNone(resp, "no /status answer right after READY=1: "
                             "%r" % raw[:200])
        self.assertEqual(resp[0], 200)
        return json.loads(resp[2])

    def stop_and_check_stopping(self, c, i, sock):
        nd = c.node(i)
        sock.drain()
        n_before = len(sock.messages)
        nd.expect_exit = True
        os.kill(nd.pid, signal.SIGTERM)
        try:
            rc = nd.proc.wait(timeout=harness.STOP_TIMEOUT)
        except Exception:
            self.fail("node %d did not exit within %.1fs of SIGTERM"
                      % (i, harness.STOP_TIMEOUT))
        nd.exits.append((nd.pid, "SIGTERM", rc))
        sock.drain(0.2)
        after = [l for _, ls in sock.messages[n_before:] for l in ls]
        self.assertIn("STOPPING=1", after,
                      "no STOPPING=1 after SIGTERM; got %r" % after)
        self.assertEqual(rc, 0, "exit status after SIGTERM")

    # ------------------------------------------------------------------

    def test_single_node_ready_status_stopping(self):
        c, socks = self.notify_cluster(1)
        sock = socks[1]
        st = self.start_and_check_ready(c, 1, sock)
        self.assertEqual(st.get("id"), 1)
        # a cluster of one elects itself
        lid, term = c.leader()
        self.assertEqual(lid, 1)
        deadline = time.monotonic() + scaled(3)
        while not any("Leader" in l and mentions_term(l, term)
                      for l in sock.status_lines()):
            if time.monotonic() > deadline:
                self.fail("no STATUS= line saying Leader, term %d; got %r"
                          % (term, sock.status_lines()))
            sock.recv(0.1)
        self.assertEqual(sock.all_lines().count("READY=1"), 1)
        self.stop_and_check_stopping(c, 1, sock)

    def test_ready_after_restart_has_loaded_state(self):
        c, socks = self.notify_cluster(1)
        sock = socks[1]
        self.start_and_check_ready(c, 1, sock)
        lid, term = c.leader()
        self.stop_and_check_stopping(c, 1, sock)
        st = self.start_and_check_ready(c, 1, sock)
        self.assertGreaterEqual(st.get("term", -1), term,
                                "at READY=1 the persisted term was not "
                                "loaded yet")
        self.stop_and_check_stopping(c, 1, sock)

    def test_three_nodes_status_lines(self):
        c, socks = self.notify_cluster(3)
        for i in c.ids():
            self.start_and_check_ready(c, i, socks[i])
        lid, term = c.leader()
        for i in c.ids():
            want_role = "Leader" if i == lid else "Follower"

            def ok(line):
                if want_role not in line or not mentions_term(line, term):
                    return False
                # a follower also names its leader
                rest = re.sub(r"term\D{0,3}\d+", "", line, flags=re.I)
                return i == lid or re.search(r"\b%d\b" % lid, rest)
            deadline = time.monotonic() + scaled(3)
            while not any(ok(l) for l in socks[i].status_lines()):
                if time.monotonic() > deadline:
                    self.fail("node %d: no STATUS= line for %s (leader %d, "
                              "term %d); got %r" % (i, want_role, lid, term,
                                                    socks[i].status_lines()))
                socks[i].recv(0.1)
        for i in c.ids():
            self.stop_and_check_stopping(c, i, socks[i])


if __name__ == "__main__":
    unittest.main()
