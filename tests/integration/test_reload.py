"""Reload (SIGHUP, "systemctl reload raftd") and the systemd watchdog.

A reload rereads the file: the log level, the heartbeat and election
timeouts, rpc_timeout_ms and request_timeout_ms apply at once (/status
"settings" shows them); settings that need a restart are named with
file:line; an invalid file changes nothing. systemd hears RELOADING=1 (with
MONOTONIC_USEC=) and then READY=1. With WATCHDOG_USEC set, WATCHDOG=1 comes
from the event loop itself: a stopped process sends none.

The notify socket is played by the test (test_notify.NotifySocket)."""

import os
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import scaled  # noqa: E402
from test_notify import NotifySocket  # noqa: E402


def rewrite_config(c, i, **kw):
    """Write node i's config as the harness does, with kw changed
    (log_level, election_min_ms, election_max_ms, heartbeat_ms, extra)."""
    nd = c.node(i)
    args = dict(heartbeat_ms=c.heartbeat_ms, election_min_ms=c.election_min_ms,
                election_max_ms=c.election_max_ms, log_level=c.log_level,
                secret_file=c.secret_file)
    args.update(kw)
    text = harness.config_text(i, "%s:%d" % (nd.host, nd.port), nd.data_dir,
                               c.members, **args)
    with open(nd.config_path, "w") as f:
        f.write(text)
    return text


def line_of(text, needle):
    for n, l in enumerate(text.splitlines(), start=1):
        if needle in l:
            return n
    raise ValueError(needle)


class ReloadTest(harness.ClusterTestCase):

    def settings(self, c, i):
        return c.status(i)["settings"]

    def reload_and_wait(self, c, i, pattern):
        """SIGHUP node i; wait for a log line matching pattern after it."""
        mark = len(c.log_text(i))
        harness.send_signal(c, i, signal.SIGHUP)
        rx = re.compile(pattern)
        harness.wait_for(lambda: rx.search(c.log_text(i)[mark:]),
                         scaled(5), msg="node %d log: %r" % (i, pattern),
                         describe=lambda: c.tail(i))
        return mark

    def test_log_level_and_timeouts_change_at_once(self):
        c = self.cluster(3, log_level="info")
        lid, term = c.leader()
        f, g = [i for i in c.ids() if i != lid]
        s = self.settings(c, f)
        self.assertEqual(s["log_level"], "info")
        self.assertEqual(s["election_timeout_min_ms"], c.election_min_ms)
        self.assertNotIn("debug:", c.log_text(f))

        new_min, new_max = c.election_min_ms + 200, c.election_max_ms + 400
        rewrite_config(c, f, log_level="debug", election_min_ms=new_min,
                       election_max_ms=new_max, extra="request_timeout_ms = 3000;")
        mark = self.reload_and_wait(
            c, f, r"reload: log_level info -> debug, election_timeout_min_ms "
                  r"%d -> %d, election_timeout_max_ms %d -> %d, rpc_timeout_ms "
                  r"\d+ -> %d, request_timeout_ms 5000 -> 3000 \(in effect now\)"
            % (c.election_min_ms, new_min, c.election_max_ms, new_max,
               new_min // 2))
        s = self.settings(c, f)
        self.assertEqual((s["log_level"], s["election_timeout_min_ms"],
                          s["election_timeout_max_ms"], s["rpc_timeout_ms"],
                          s["request_timeout_ms"]),
                         ("debug", new_min, new_max, new_min // 2, 3000))
        self.assertEqual(self.settings(c, g)["log_level"], "info")

        # debug lines appear at once: a new election's "term is now N"
        c.stop(lid)
        harness.wait_for(lambda: re.search(r"debug: .*term is now \d+",
                                           c.log_text(f)[mark:]),
                         scaled(10), msg="a debug line on node %d" % f,
                         describe=lambda: c.tail(f))
        c.leader(ids=[f, g])
        self.assertNotIn("debug:", c.log_text(g),
                         "node %d was not reloaded: still at info" % g)

    def test_invalid_file_changes_nothing(self):
        c = self.cluster(1, log_level="info")
        c.leader()
        text = rewrite_config(c, 1, log_level="debug",
                              extra='election_timeout_min_ms = "soon";')
        bad = line_of(text, '"soon"')
        self.reload_and_wait(
            c, 1, r"reload: %s:%d: .*; nothing changed: the settings, "
                  r"members and certificates in use stay"
            % (re.escape(c.node(1).config_path), bad))
        s = self.settings(c, 1)
        self.assertEqual((s["log_level"], s["election_timeout_min_ms"]),
                         ("info", c.election_min_ms))
        r = harness.kv_put(c, 1, "k", "v")
        self.assertIsNotNone(r)
        self.assertIn(r.status, (200, 201))

    def test_restart_only_settings_are_named(self):
        c = self.cluster(1)
        c.leader()
        text = rewrite_config(c, 1, extra="max_connections = 100;\n"
                                          "snapshot_entries = 77;")
        path = re.escape(c.node(1).config_path)
        self.reload_and_wait(
            c, 1, r"reload: max_connections changed in %s:%d, "
                  r"snapshot_entries changed in %s:%d: restart raftd to "
                  r"apply them"
            % (path, line_of(text, "max_connections"), path,
               line_of(text, "snapshot_entries")))
        c.wait_log(1, r"reload: no setting changed")


class NotifyReloadWatchdogTest(harness.ClusterTestCase):

    def node_with_socket(self, env=None):
        sockdir = tempfile.mkdtemp(prefix="raftd-it-notify-")
        self.addCleanup(shutil.rmtree, sockdir, True)
        sock = NotifySocket(sockdir, "n1.sock")
        self.addCleanup(sock.close)
        c = self.cluster(1, start=False)
        c.node(1).extra_env["NOTIFY_SOCKET"] = sock.address
        c.node(1).extra_env.update(env or {})
        c.start(1, wait=False)
        sock.wait(lambda ls: "READY=1" in ls, harness.START_TIMEOUT,
                  "READY=1")
        return c, sock

    def test_reload_says_reloading_then_ready(self):
        c, sock = self.node_with_socket()
        c.leader()
        sock.drain()
        harness.send_signal(c, 1, signal.SIGHUP)
        lines = sock.wait(lambda ls: "RELOADING=1" in ls, scaled(5),
                          "RELOADING=1")
        self.assertTrue(any(re.fullmatch(r"MONOTONIC_USEC=\d+", l)
                            for l in lines), lines)
        usec = int(next(l for l in lines if l.startswith("MONOTONIC_USEC="))
                   .split("=")[1])
        self.assertLess(abs(usec / 1e6 - time.monotonic()), 60)
        lines = sock.wait(lambda ls: "READY=1" in ls, scaled(5),
                          "READY=1 after the reload")
        self.assertTrue(any(l.startswith("STATUS=Leader, term") for l in lines),
                        lines)

    def test_watchdog_pings_come_from_the_loop(self):
        # WatchdogSec=1s: sd-event pings every half of it
        c, sock = self.node_with_socket({"WATCHDOG_USEC": "1000000"})
        for _ in range(2):
            sock.wait(lambda ls: "WATCHDOG=1" in ls, scaled(3), "WATCHDOG=1")
        # a stopped loop sends none (what systemd's watchdog detects)
        c.pause(1)
        try:
            sock.drain(0.3)  # (SIGSTOP takes effect, a ping in flight lands)
            n = len(sock.messages)
            sock.drain(1.5)
            during = [l for _, ls in sock.messages[n:] for l in ls]
            self.assertNotIn("WATCHDOG=1", during)
        finally:
            c.resume(1)
        sock.wait(lambda ls: "WATCHDOG=1" in ls, scaled(3),
                  "WATCHDOG=1 after SIGCONT")

    def test_no_watchdog_pings_without_watchdog_usec(self):
        c, sock = self.node_with_socket()
        c.leader()
        sock.drain(1.0)
        self.assertNotIn("WATCHDOG=1", sock.all_lines())
