"""GET /ui: the dashboard (issue 12, item 2), loaded in Debian's headless
Chromium over the DevTools protocol (--remote-debugging-pipe, so only the
standard library), plus plain HTTP checks of its headers and errors.

The screenshots are kept in $RAFTD_TEST_ARTIFACTS (make check sets it to
tests/integration/artifacts in the build tree), else in ui-artifacts/ in
the current directory: never in the source tree, which may be read-only
(make distcheck) or a git checkout."""

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import scaled

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def artifacts_dir():
    d = os.environ.get("RAFTD_TEST_ARTIFACTS") or os.path.join(
        os.getcwd(), "ui-artifacts")
    os.makedirs(d, exist_ok=True)
    return d


class Browser:
    """One headless Chromium and one page, driven over the DevTools
    protocol on a pipe (fd 3: commands in, fd 4: answers out, each a JSON
    text ended by NUL)."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="raftd-ui-chromium-")
        self.proc = None
        self.log = None
        self._to_chrome = self._from_chrome = None
        try:
            self._start()
        except BaseException:
            # no Chromium (nor pipe, log or profile) outlives a failed start
            self._cleanup(graceful=False)
            raise

    def _start(self):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def setup():
            harness._child_setup()
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        args = [CHROMIUM, "--headless", "--remote-debugging-pipe",
                "--user-data-dir=" + self.profile, "--no-first-run",
                "--no-default-browser-check", "--disable-gpu",
                "--disable-extensions", "--disable-background-networking",
                "--disable-sync", "--disable-component-update",
                "--no-proxy-server", "--window-size=1400,1000",
                "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses root otherwise
        try:
            self.log = open(os.path.join(self.profile, "chromium.log"), "wb")
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=self.log,
                                         pass_fds=(3, 4), preexec_fn=setup)
        finally:
            os.close(to_chrome_r)
            os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.session = None
        self.events = []  # DevTools events (no id), the latest 1000
        targets = self.call("Target.getTargets")["targetInfos"]
        page = [t for t in targets if t["type"] == "page"]
        if page:
            tid = page[0]["targetId"]
        else:
            tid = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=tid,
                                 flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Log.enable")

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise AssertionError("Chromium did not answer in time")
            r, _, _ = select.select([self._from_chrome], [], [], 0.5)
            if not r:
                if self.proc.poll() is not None:
                    raise AssertionError("Chromium exited: %s" % self.proc.returncode)
                continue
            data = os.read(self._from_chrome, 1 << 20)
            if not data:
                raise AssertionError("Chromium closed its pipe")
            self._buf += data
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, timeout=None, **params):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or scaled(30))
        while True:  # events in between are dropped; bounded by deadline
            m = self._read_message(deadline)
            if "id" not in m:
                self.events.append(m)  # kept for the test's checks
                del self.events[:-1000]
                continue
            if m.get("id") == self._id:
                if "error" in m:
                    raise AssertionError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise AssertionError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait(self, expr, timeout, msg):
        last = [None]

        def ok():
            last[0] = self.eval(expr)
            return bool(last[0])
        harness.wait_for(ok, timeout, interval=0.2, msg=msg,
                         describe=lambda: "last value %r" % (last[0],))
        return last[0]

    def problems(self):
        """Console and log errors of the page (a CSP refusal, a failed
        script) so far, as texts."""
        out = []
        for m in self.events:
            p = m.get("params", {})
            if m.get("method") == "Log.entryAdded":
                e = p.get("entry", {})
                if e.get("level") == "error" and e.get("source") != "network":
                    out.append(e.get("text", ""))
            elif m.get("method") == "Runtime.exceptionThrown":
                out.append(str(p.get("exceptionDetails", {}).get(
                    "exception", {}).get("description")))
        return out

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        self._cleanup(graceful=True)

    def _cleanup(self, graceful):
        if self.proc is not None:
            if graceful:
                try:
                    self.call("Browser.close", timeout=scaled(5))
                except Exception:
                    pass
            else:
                self.proc.kill()  # our own child, by its PID
            try:
                self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()  # our own child, by its PID
                self.proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to_chrome = self._from_chrome = None
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


# What the page shows, as one JSON-able value.
PAGE_STATE = """(function () {
  if (!document.getElementById('actions'))  // not (yet) the dashboard
    return {rounds: 0, term: '', leader: '', rows: [], events: [],
            actions: ''};
  var rows = Array.prototype.map.call(
    document.querySelectorAll('#members tbody tr'), function (tr) {
      var cell = function (c) {
        return tr.querySelector('td[data-col="' + c + '"]').textContent; };
      return {id: tr.getAttribute('data-id'), role: tr.getAttribute('data-role'),
              cls: tr.className, term: cell('term'), leader: cell('leader'),
              commit: cell('commit'), applied: cell('applied'),
              log: cell('log'), rpcs: cell('rpcs')};
    });
  var events = Array.prototype.map.call(
    document.querySelectorAll('#timeline tbody tr'), function (tr) {
      return {event: tr.getAttribute('data-event'),
              node: tr.getAttribute('data-node'),
              term: tr.getAttribute('data-term')};
    });
  return {rounds: +document.body.getAttribute('data-rounds'),
          term: document.body.getAttribute('data-term'),
          leader: document.body.getAttribute('data-leader'),
          rows: rows, events: events,
          actions: document.getElementById('actions').textContent};
})()"""


class UiHttpTest(harness.ClusterTestCase):

    def test_headers_errors_and_methods(self):
        c = self.cluster(3)
        leader, _ = c.leader()
        f = c.followers(leader)[0]
        for path, ctype in (("/ui", "text/html"), ("/ui/", "text/html"),
                            ("/ui/app.js", "text/javascript"),
                            ("/ui/app.css", "text/css")):
            r = c.request(f, "GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertTrue(r.headers["content-type"].startswith(ctype),
                            (path, r.headers["content-type"]))
            csp = r.headers["content-security-policy"]
            self.assertIn("default-src 'none'", csp)
            self.assertIn("script-src 'self'", csp)
            self.assertIn("connect-src 'self'", csp)
            self.assertIn("frame-ancestors 'none'", csp)
            self.assertEqual(r.headers["x-content-type-options"], "nosniff")
            h = c.request(f, "HEAD", path)
            self.assertEqual(h.status, 200, path)
            self.assertEqual(h.body, b"", path)
            self.assertEqual(h.headers["content-type"],
                             r.headers["content-type"])
        page = c.request(f, "GET", "/ui").body.decode()
        self.assertNotIn("http://", page.replace("http://NODE", ""))
        self.assertNotIn("https://", page)
        for path in ("/ui/nothing", "/ui/app.js/x", "/ui/member",
                     "/ui/member/1", "/ui/member/1/keys",
                     "/ui/member/99/status", "/ui/member/x/status",
                     "/ui/member/1/../status", "/ui/..%2fstatus"):
            r = c.request(f, "GET", path)
            self.assertEqual(r.status, 404, path)
            self.assertIn("error", r.json(), path)
            self.assertIn("content-security-policy", r.headers, path)
        for method in ("POST", "PUT", "DELETE"):
            r = c.request(f, method, "/ui", body="{}")
            self.assertEqual(r.status, 405, method)
            self.assertEqual(r.headers["allow"], "GET, HEAD")
        r = c.request(f, "POST", "/ui/member/1/status", body="{}")
        self.assertEqual(r.status, 405)
        # /uix is not the dashboard
        self.assertEqual(c.request(f, "GET", "/uix").status, 404)
        # the relay: every member's status through this node
        for i in c.ids():
            r = c.request(f, "GET", "/ui/member/%d/status" % i)
            self.assertEqual(r.status, 200, i)
            self.assertEqual(r.json()["id"], i)
            self.assertIn("content-security-policy", r.headers)
        r = c.request(f, "GET", "/ui/member/%d/metrics" % leader)
        self.assertEqual(r.status, 200)
        self.assertIn(b"raftd_peer_rpcs_sent_total", r.body)
        r = c.request(f, "GET", "/ui/member/%d/events?after=0&limit=2" % leader)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["node_id"], leader)
        self.assertLessEqual(len(r.json()["events"]), 2)
        for q in ("after=x", "after=1&instance=zz", "limit=-1",
                  "after=1%26wait%3D60", "instance=ab%0d%0aX:%20y",
                  "limit=12345"):
            r = c.request(f, "GET", "/ui/member/%d/events?%s" % (leader, q))
            self.assertEqual(r.status, 400, q)
        # other parameters (a long poll) are not passed on
        r = c.request(f, "GET", "/ui/member/%d/events?after=999999&wait=60"
                      "&x=%%0d%%0aHost:%%20evil" % leader, timeout=scaled(10))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.json()["reset"])
        # a member that is down: 502, promptly
        other = [i for i in c.ids() if i not in (leader, f)][0]
        c.kill(other)
        r = c.request(f, "GET", "/ui/member/%d/status" % other,
                      timeout=scaled(10))
        self.assertEqual(r.status, 502)
        self.assertIn("error", r.json())

    def test_relay_bounds_requests_in_flight(self):
        """A member that does not answer (SIGSTOP): relayed requests wait
        for it at most UI_RELAY_TIMEOUT_MS (502), and beyond 64 in flight
        the node answers 503 at once instead of asking the member again."""
        c = self.cluster(3)
        leader, _ = c.leader()
        f = c.followers(leader)[0]
        other = [i for i in c.ids() if i not in (leader, f)][0]
        c.pause(other)
        self.addCleanup(lambda: c.nodes[other].paused and c.resume(other))
        burst = 80
        seen = []
        for attempt in range(5):  # bounded: one burst normally suffices
            statuses = []
            lock = threading.Lock()
            gate = threading.Barrier(burst)

            def one():
                try:
                    gate.wait(timeout=scaled(20))
                except threading.BrokenBarrierError:
                    pass
                r = c.request(f, "GET", "/ui/member/%d/status" % other,
                              timeout=scaled(20))
                with lock:
                    statuses.append(r.status)
            threads = [threading.Thread(target=one) for _ in range(burst)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(scaled(60))
            self.assertFalse(any(t.is_alive() for t in threads))
            self.assertEqual(len(statuses), burst)
            self.assertTrue(set(statuses) <= {502, 503}, statuses)
            seen = statuses
            if 503 in statuses:
                break
        self.assertIn(503, seen, "no burst of %d ever had more than 64 "
                      "requests in flight" % burst)
        # the node itself stayed responsive and answers the others
        r = c.request(f, "GET", "/ui/member/%d/status" % leader)
        self.assertEqual(r.status, 200)
        c.resume(other)
        r = c.request(f, "GET", "/ui/member/%d/status" % other,
                      timeout=scaled(10))
        self.assertEqual(r.status, 200)

    def test_tls_client_certificates_still_required(self):
        """With client_cert_auth, /ui and the relay are client paths like
        /status: no certificate, 403; with one, the relay reads every
        member over HTTPS with this node's own client certificate."""
        c = self.cluster(3, tls=True, peer_client_cert_auth=True,
                         client_cert_auth=True)
        leader, term = c.leader()
        f = c.followers(leader)[0]
        for path in ("/ui", "/ui/member/%d/status" % leader):
            r = c.request(f, "GET", path, context=c.ssl_context())
            self.assertEqual(r.status, 403, path)
        r = c.request(f, "GET", "/ui")
        self.assertEqual(r.status, 200)
        for i in c.ids():
            r = c.request(f, "GET", "/ui/member/%d/status" % i)
            self.assertEqual(r.status, 200, (i, r))
            st = r.json()
            self.assertEqual((st["id"], st["term"]), (i, term))
            self.assertTrue(st["members"][0]["url"].startswith("https://"))


@unittest.skipUnless(CHROMIUM, "chromium is not installed "
                     "(apt-get install chromium): the dashboard is not "
                     "tested in a browser")
class UiBrowserTest(harness.ClusterTestCase):

    def test_dashboard_in_headless_chromium(self):
        c = self.cluster(3)
        leader, term = c.leader()
        b = Browser()
        self.addCleanup(b.close)
        first = c.ids()[0]
        b.navigate(c.node(first).url + "/ui")

        def page():
            return b.eval(PAGE_STATE)

        # one row per member, all answering, exactly one leader
        b.wait("(function(s){return s.rows.length===3 && s.rounds>=2 && "
               "s.rows.every(function(r){return r.role!=='unreachable';}) && "
               "s.rows.filter(function(r){return r.role==='leader';}).length"
               "===1 && s.rows.every(function(r){return r.rpcs!=='-';})})("
               + PAGE_STATE + ")", scaled(20), "the page shows 3 members")
        leader, term = c.leader()
        s = page()
        self.assertEqual(sorted(r["id"] for r in s["rows"]),
                         sorted(str(i) for i in c.ids()))
        leaders = [r for r in s["rows"] if r["role"] == "leader"]
        self.assertEqual(len(leaders), 1, s["rows"])
        self.assertEqual(leaders[0]["id"], str(leader))
        self.assertIn("leader", leaders[0]["cls"])
        self.assertEqual(s["term"], str(term))
        self.assertEqual(s["leader"], str(leader))
        for r in s["rows"]:
            self.assertEqual(r["term"], str(term), r)
            self.assertEqual(r["leader"], str(leader), r)
            self.assertRegex(r["commit"], r"^\d+$")
            self.assertRegex(r["rpcs"], r"^\d+\.\d$")
        self.assertTrue(any(e["event"] == "became_leader" and
                            e["node"] == str(leader) and
                            e["term"] == str(term) for e in s["events"]),
                        s["events"])
        self.assertIn("raftctl fault partition %d" % leader, s["actions"])
        self.assertIn("raftctl fault heal", s["actions"])
        # the page runs under its own CSP without a refusal or an error
        self.assertEqual(b.problems(), [])
        # ... which is enforced: an inline script and a fetch from another
        # member's origin are refused
        b.eval("var s = document.createElement('script');"
               "s.textContent = 'window.injected = 1';"
               "document.body.appendChild(s);"
               "fetch('%s/status').catch(function () {}); 1"
               % c.node(c.ids()[1]).url)

        def refused():
            b.eval("1")  # reads the events that arrived meanwhile
            p = " ".join(b.problems())
            return p.count("Content Security Policy") >= 2
        harness.wait_for(refused, scaled(10), msg="CSP refusals",
                         describe=lambda: repr(b.problems()))
        self.assertIsNone(b.eval("window.injected"))
        # a write shows up in every row's commit index
        harness_put = c.request(leader, "PUT", "/v2/keys/ui", form={"value": "1"})
        self.assertIn(harness_put.status, (200, 201))
        commit = c.status(leader)["commit_index"]
        b.wait("(function(s){return s.rows.every(function(r){return +r.commit"
               ">=%d && +r.applied>=%d;})})(%s)" % (commit, commit, PAGE_STATE),
               scaled(20), "the rows show the new commit index")
        b.screenshot(os.path.join(artifacts_dir(), "ui-cluster.png"))

        # kill the leader: the timeline shows the new election, the rows follow
        old = leader
        c.kill(old)
        survivors = [i for i in c.ids() if i != old]
        new, new_term = c.leader(ids=survivors)
        if old == first:
            # the page's own node is gone: load it from a survivor
            b.navigate(c.node(new).url + "/ui")
        b.wait("(function(s){return s.leader==='%d' && s.term==='%d' && "
               "s.rows.filter(function(r){return r.role==='leader';}).length"
               "===1 && s.rows.some(function(r){return r.id==='%d' && "
               "r.role==='unreachable';}) && s.events.some(function(e){"
               "return e.event==='became_leader' && e.node==='%d' && "
               "e.term==='%d';})})(%s)"
               % (new, new_term, old, new, new_term, PAGE_STATE),
               scaled(30), "the page shows the new leader %d in term %d"
               % (new, new_term))
        s = page()
        down = [r for r in s["rows"] if r["id"] == str(old)][0]
        self.assertEqual(down["role"], "unreachable")
        self.assertIn("down", down["cls"])
        # the election that made it: the new leader's vote request or
        # candidacy in the new term comes before its win in the timeline
        evs = list(reversed(s["events"]))  # oldest first
        won = max(k for k, e in enumerate(evs)
                  if e["event"] == "became_leader" and e["node"] == str(new))
        self.assertTrue(any(e["term"] == str(new_term) and
                            e["event"] != "became_leader"
                            for e in evs[:won]), evs)
        b.screenshot(os.path.join(artifacts_dir(), "ui-after-leader-killed.png"))
        self.assertGreater(os.path.getsize(os.path.join(
            artifacts_dir(), "ui-after-leader-killed.png")), 1000)


if __name__ == "__main__":
    unittest.main()
