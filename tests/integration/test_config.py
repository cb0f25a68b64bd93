"""Configuration checking: raftd --check-config, and start-up with bad configs.

Every invalid config must give exit status 78 (EX_CONFIG) and a message on
stderr with a line that starts with "<config path>:<line>: ". Where the
offending line is unambiguous (syntax errors, unknown settings) the line
number itself is checked.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EX_CONFIG = 78
EX_NOINPUT = 66
RUN_TIMEOUT = harness.scaled(10)

MEMBERS3 = [(1, "http://127.0.0.1:7001"), (2, "http://127.0.0.1:7002"),
            (3, "http://127.0.0.1:7003")]


class ConfigTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.raftd = harness.require_raftd()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="raftd-it-config-")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- helpers

    def good_text(self, **kw):
        args = dict(node_id=1, listen="127.0.0.1:7001",
                    data_dir=self.data_dir, members=MEMBERS3)
        args.update(kw)
        return harness.config_text(**args)

    def write(self, name, text):
        path = os.path.join(self.dir, name + ".conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_raftd(self, *args, timeout=RUN_TIMEOUT):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("JOURNAL_STREAM", None)
        try:
            return subprocess.run([self.raftd] + list(args),
                                  stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout,
                                  env=env, cwd=self.dir)
        except subprocess.TimeoutExpired as e:
            self.fail("raftd %s did not exit within %.0fs; stderr: %r"
                      % (" ".join(args), timeout, e.stderr))

    def check(self, path, *extra):
        return self.run_raftd("--check-config", "--config", path, *extra)

    def assert_config_error(self, res, path, line=None, what=""):
        err = res.stderr.decode("utf-8", "replace")
        self.assertEqual(res.returncode, EX_CONFIG,
                         "%s: expected exit %d, got %d; stderr: %r"
                         % (what, EX_CONFIG, res.returncode, err))
        rx = re.compile(r"^%s:(\d+): \S" % re.escape(path), re.M)
        m = rx.search(err)
        self.assertIsNotNone(m, "%s: no line '%s:LINE: message' on stderr: %r"
                             % (what, path, err))
        if line is not None:
            lines = [int(x) for x in rx.findall(err)]
            self.assertIn(line, lines, "%s: expected line %d in %r"
                          % (what, line, err))

    @staticmethod
    def line_of(text, needle):
        for n, l in enumerate(text.splitlines(), start=1):
            if needle in l:
                return n
        raise ValueError(needle)

    # ---- valid configs

    def test_generated_config_is_valid(self):
        path = self.write("good", self.good_text())
        res = self.check(path)
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_shipped_example_is_valid_with_id(self):
        example = os.path.join(harness.srcdir(), "etc", "raftd.conf")
        if not os.path.exists(example):
            self.skipTest("%s not present" % example)
        # the example names lab addresses, so this machine may not find
        # itself among them: name the node explicitly. It needs the
        # cluster's peer secret, and says how to make one.
        res = self.check(example, "--id", "1", "--data-dir", self.data_dir)
        if res.returncode != 0:
            self.assertEqual(res.returncode, EX_CONFIG, res.stderr)
            self.assertIn(b"raftd --new-secret", res.stderr)
        secret, _ = harness.new_secret_file(self.dir)
        with open(example) as f:
            text = f.read()
        path = self.write("example", text + '\npeer_secret_file = "%s";\n'
                          % secret)
        res = self.check(path, "--id", "1", "--data-dir", self.data_dir)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn(b"peers sign their requests with the secret in %s"
                      % secret.encode(), res.stdout)

    def test_id_from_command_line(self):
        path = self.write("noid", self.good_text(node_id=None))
        res = self.check(path, "--id", "2")
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_id_found_by_own_address(self):
        # one member, on an address of this machine: it must find itself
        path = self.write("self", self.good_text(
            node_id=None, members=[(1, "http://127.0.0.1:7001")]))
        res = self.check(path)
        self.assertEqual(res.returncode, 0, res.stderr)

    # ---- invalid configs

    def test_id_not_found_by_address(self):
        # no id, and no member on an address of this machine (TEST-NET-1)
        path = self.write("noself", self.good_text(
            node_id=None, members=[(1, "http://192.0.2.1:7001"),
                                   (2, "http://192.0.2.2:7001"),
                                   (3, "http://192.0.2.3:7001")]))
        self.assert_config_error(self.check(path), path,
                                 what="id absent, no local member")

    def test_command_line_id_not_a_member(self):
        path = self.write("good", self.good_text(node_id=None))
        res = self.check(path, "--id", "9")
        self.assertEqual(res.returncode, EX_CONFIG, res.stderr)

    def test_syntax_errors(self):
        good = self.good_text()
        # (text, line the error must be reported on, or None)
        cases = {
            "missing value": (good.replace("heartbeat_ms = 50;",
                                           "heartbeat_ms = ;"), "heartbeat_ms"),
            "two values": (good.replace("heartbeat_ms = 50;",
                                        "heartbeat_ms = 50 50 ;"),
                           "heartbeat_ms"),
            "bad token": (good.replace("heartbeat_ms = 50;",
                                       "heartbeat_ms = 50 @;"),
                          "heartbeat_ms"),
            # the string runs on to the next quote: line is not checked
            "unterminated string": (good.replace('log_level = "debug";',
                                                 'log_level = "debug;'), None),
        }
        for what, (text, needle) in cases.items():
            with self.subTest(what):
                path = self.write("syntax", text)
                line = self.line_of(text, needle) if needle else None
                self.assert_config_error(self.check(path), path, line, what)
        # unclosed list: reported at or near the end of the file
        text = good.rstrip().rstrip(";").rstrip(")") + "\n"
        path = self.write("unclosed", text)
        self.assert_config_error(self.check(path), path, None, "unclosed list")

    def test_unknown_top_level_setting(self):
        text = self.good_text(extra="frobnicate_ms = 5;")
        path = self.write("unknown", text)
        self.assert_config_error(self.check(path), path,
                                 self.line_of(text, "frobnicate_ms"),
                                 "unknown setting")

    def test_invalid_settings_specified(self):
        g = self.good_text
        cases = {
            "missing members": re.sub(r"members = \(.*\);\n", "", g(),
                                      flags=re.S),
            "empty members": re.sub(r"members = \(.*\);\n", "members = ();\n",
                                    g(), flags=re.S),
            "members not a list": re.sub(r"members = \(.*\);\n",
                                         "members = 5;\n", g(), flags=re.S),
            "duplicate member ids": g(members=[(1, MEMBERS3[0][1]),
                                               (2, MEMBERS3[1][1]),
                                               (2, MEMBERS3[2][1])]),
            "id not a member": g(node_id=9),
            "url wrong scheme": g(members=[(1, MEMBERS3[0][1]),
                                           (2, "ftp://127.0.0.1:7002"),
                                           MEMBERS3[2]]),
            "heartbeat equal to election min": g(heartbeat_ms=300),
            "heartbeat above election min": g(heartbeat_ms=500),
        }
        self.assert_all_rejected(cases)

    def test_invalid_settings_other(self):
        # not listed one by one in the spec, but plainly invalid
        g = self.good_text
        cases = {
            "duplicate member urls": g(members=[(1, MEMBERS3[0][1]),
                                                (2, MEMBERS3[0][1]),
                                                (3, MEMBERS3[2][1])]),
            "id zero": g(node_id=0),
            "member id zero": g(members=[(0, MEMBERS3[0][1])] + MEMBERS3[1:]),
            "id of wrong type": g().replace("id = 1;", 'id = "one";'),
            "url not a url": g(members=[(1, MEMBERS3[0][1]),
                                        (2, "not a url"), MEMBERS3[2]]),
            "url bad port": g(members=[(1, MEMBERS3[0][1]),
                                       (2, "http://127.0.0.1:notaport"),
                                       MEMBERS3[2]]),
            "url port out of range": g(members=[(1, MEMBERS3[0][1]),
                                                (2, "http://127.0.0.1:99999"),
                                                MEMBERS3[2]]),
            "url without host": g(members=[(1, MEMBERS3[0][1]),
                                           (2, "http://:7002"), MEMBERS3[2]]),
            "member without url": g().replace(
                '{ id = 2; url = "http://127.0.0.1:7002"; }', "{ id = 2; }"),
            "member without id": g().replace(
                '{ id = 2; url = "http://127.0.0.1:7002"; }',
                '{ url = "http://127.0.0.1:7002"; }'),
            "heartbeat negative": g(heartbeat_ms=-5),
            "heartbeat of wrong type": g().replace("heartbeat_ms = 50;",
                                                   'heartbeat_ms = "fast";'),
            "election min above max": g(election_min_ms=700,
                                        election_max_ms=600),
            "listen without port": g(listen="127.0.0.1"),
            "listen port out of range": g(listen="127.0.0.1:70000"),
            "log level unknown": g(log_level="loud"),
        }
        self.assert_all_rejected(cases)

    def assert_all_rejected(self, cases):
        for what, text in cases.items():
            with self.subTest(what):
                path = self.write(re.sub(r"\W+", "_", what), text)
                self.assert_config_error(self.check(path), path, None, what)

    def test_nonexistent_file(self):
        path = os.path.join(self.dir, "no-such-dir", "raftd.conf")
        res = self.check(path)
        self.assertIn(res.returncode, (EX_CONFIG, EX_NOINPUT), res.stderr)
        self.assertIn(path, res.stderr.decode("utf-8", "replace"))

    def test_start_with_bad_config_exits_78(self):
        # not only --check-config: a normal start refuses too
        text = self.good_text(extra="frobnicate_ms = 5;")
        path = self.write("unknown", text)
        res = self.run_raftd("--config", path)
        self.assert_config_error(res, path, self.line_of(text, "frobnicate"),
                                 "start with unknown setting")

    # ---- the Debian host-name pitfall (issue 12): a name meaning loopback
    # here, other members elsewhere

    LOOPBACK_NAME = [(1, "http://localhost:7001"),
                     (2, "http://192.0.2.2:7001"),
                     (3, "http://192.0.2.3:7001")]

    def test_own_name_on_loopback_with_members_elsewhere_is_refused(self):
        text = self.good_text(members=self.LOOPBACK_NAME, listen=None)
        path = self.write("loopback-name", text)
        line = self.line_of(text, "localhost")
        for args, what in ((("--check-config", "--config", path),
                            "--check-config"),
                           (("--config", path), "start")):
            res = self.run_raftd(*args)
            self.assert_config_error(res, path, line, what)
            err = res.stderr.decode("utf-8", "replace")
            self.assertRegex(err, r'"localhost", which resolves on this '
                             r'machine to the loopback address (127\.|::1)')
            self.assertIn("/etc/hosts", err)
            self.assertIn("IP address in the URL", err)

    def test_loopback_name_allowed_in_an_all_loopback_cluster(self):
        members = [(1, "http://localhost:7001"), (2, "http://127.0.0.1:7002"),
                   (3, "http://127.0.0.1:7003")]
        res = self.check(self.write("all-loopback",
                                    self.good_text(members=members,
                                                   listen=None)))
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_loopback_literal_is_not_refused_by_the_rule(self):
        members = [(1, "http://127.0.0.1:7001"), (2, "http://192.0.2.2:7001"),
                   (3, "http://192.0.2.3:7001")]
        res = self.check(self.write("literal", self.good_text(
            members=members, listen=None)))
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_loopback_name_with_wildcard_listen_is_reachable(self):
        res = self.check(self.write("wildcard", self.good_text(
            members=self.LOOPBACK_NAME, listen="0.0.0.0:7001")))
        self.assertEqual(res.returncode, 0, res.stderr)


class SharedConfigTest(harness.ClusterTestCase):
    """One file for every node (the lab deployment): no id and no listen in
    it; each node gets --id N --data-dir DIR and listens on its member URL.
    (Assumes `listen` defaults to the node's own member URL: see report.)"""

    def test_one_file_for_all_nodes(self):
        c = self.cluster(3, shared_config=True)
        lid, term = c.leader()
        for i in c.ids():
            self.assertEqual(c.status(i)["id"], i)


if __name__ == "__main__":
    unittest.main()
