"""Log replication against real raftd processes on loopback (issue 3,
"Tests"): agreement through any node, catch-up of a stopped follower, no
commit without a majority, a partitioned old leader rejoining (nft, see
partition.py), fast back-off over many conflicting entries, and leadership
transfer on SIGTERM.

Timing as in the harness: heartbeat 50 ms, election timeout 300-600 ms.
"""

import os
import re
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (ET, kv_get, kv_put, kv_value, raft_headers, scaled,  # noqa: E402
                     wait_converged, write_outcome)
import partition  # noqa: E402

REQUEST_TIMEOUT_MS = 1500   # request_timeout_ms of the clusters below
CLIENT_TIMEOUT = REQUEST_TIMEOUT_MS / 1000.0 + 3.0


def put_ok(tc, c, i, key, value, **form):
    r = kv_put(c, i, key, value, timeout=CLIENT_TIMEOUT, **form)
    tc.assertIsNotNone(r, "PUT %s through node %d: no answer" % (key, i))
    tc.assertIn(r.status, (200, 201), "PUT %s through node %d: %r"
                % (key, i, r))
    return r


def parallel(fn, args_list, timeout):
    """Run fn(*args) for each args in threads; results in order (an
    exception is returned in place of its result)."""
    out = [None] * len(args_list)

    def run(k, args):
        try:
            out[k] = fn(*args)
        except BaseException as e:  # reported by the caller
            out[k] = e
    threads = [threading.Thread(target=run, args=(k, a), daemon=True)
               for k, a in enumerate(args_list)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise AssertionError("client threads still running after %.1fs"
                             % timeout)
    return out


def timed_put(c, i, key, value, timeout=CLIENT_TIMEOUT):
    t = time.monotonic()
    r = kv_put(c, i, key, value, timeout=timeout)
    return r, time.monotonic() - t


class ReplicationTest(harness.ClusterTestCase):

    def _test_failed(self):
        # keep the tempdir and print the node logs on failure (Python 3.11)
        return harness.test_failed(self)

    def cluster(self, n, **kw):
        kw.setdefault("extra_config",
                      "request_timeout_ms = %d;" % REQUEST_TIMEOUT_MS)
        return super().cluster(n, **kw)

    def assert_error_json(self, r, status, codes):
        self.assertIsNotNone(r, "no answer (expected %d)" % status)
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers.get("content-type", "")
                        .startswith("application/json"), r.headers)
        j = r.json()
        self.assertIn(j.get("errorCode"), codes, j)
        self.assertTrue(j.get("message"), j)
        return j

    # ------------------------------------------------------------------

    def test_basic_agreement_through_every_node(self):
        c = self.cluster(3)
        lid, term = c.leader()
        written = {}
        last = (0, 0, 0)
        for rnd in range(3):
            for i in c.ids():
                key = "agree/n%d-%d" % (i, rnd)
                r = put_ok(self, c, i, key, "v%d-%d" % (i, rnd))
                self.assertEqual(r.status, 201, r)
                hdr = raft_headers(r)
                node = r.json()["node"]
                self.assertEqual(node["key"], "/" + key)
                self.assertEqual(node["modifiedIndex"], hdr[0],
                                 "X-Etcd-Index is the write's modifiedIndex")
                # one client, one write after the other: the store index
                # and the log index grow, the term is the leader's
                self.assertGreater(hdr[0], last[0], "X-Etcd-Index %r" % (hdr,))
                self.assertGreater(hdr[1], last[1], "X-Raft-Index %r" % (hdr,))
                self.assertEqual(hdr[2], term, "X-Raft-Term of a write")
                last = hdr
                written[key] = "v%d-%d" % (i, rnd)
        # overwrite one key through each node in turn
        for i in c.ids():
            r = put_ok(self, c, i, "agree/shared", "from-%d" % i)
            hdr = raft_headers(r)
            self.assertGreater(hdr[0], last[0])
            self.assertGreater(hdr[1], last[1])
            last = hdr
        written["agree/shared"] = "from-%d" % c.ids()[-1]

        # quorum reads: every node, every key, right away
        for i in c.ids():
            prev = (0, 0, 0)
            for key, v in sorted(written.items()):
                r = kv_get(c, i, key, quorum=True, timeout=CLIENT_TIMEOUT)
                self.assertEqual(kv_value(r), v, "quorum GET %s from node %d"
                                 % (key, i))
                hdr = raft_headers(r)
                self.assertGreaterEqual(hdr[0], last[0],
                                        "quorum read X-Etcd-Index on node %d "
                                        "older than the last write" % i)
                self.assertGreaterEqual(hdr[1], last[1],
                                        "quorum read X-Raft-Index on node %d "
                                        "older than the last write" % i)
                self.assertEqual(hdr[2], term)
                for a, b, name in zip(prev, hdr, ("X-Etcd-Index",
                                                  "X-Raft-Index",
                                                  "X-Raft-Term")):
                    self.assertGreaterEqual(b, a, "%s went back on node %d"
                                            % (name, i))
                prev = hdr
        # plain reads: from every node after a short bounded wait
        for i in c.ids():
            for key, v in sorted(written.items()):
                c.wait_for(lambda: kv_value(kv_get(c, i, key)) == v,
                           scaled(2.0), msg="plain GET %s on node %d == %r"
                           % (key, i, v))
        st = wait_converged(c, timeout=scaled(3))
        self.assertEqual(st[lid]["state"], "Leader")
        self.assertEqual(st[lid]["last_log_index"], last[1],
                         "the last write is the last log entry")

    def test_stopped_follower_catches_up(self):
        c = self.cluster(3)
        lid, term = c.leader()
        for mode in ("SIGSTOP", "SIGKILL"):
            with self.subTest(mode=mode):
                lid, term = c.leader()
                f = c.followers(lid)[0]
                if mode == "SIGSTOP":
                    c.pause(f)
                else:
                    c.kill(f)
                values = {}
                t0 = time.monotonic()
                for k in range(200):
                    key = "catchup/%s/%03d" % (mode, k)
                    put_ok(self, c, lid, key, "v%d" % k)
                    values[key] = "v%d" % k
                write_time = time.monotonic() - t0
                lst = c.status(lid)
                behind = c.status(f) if mode == "SIGKILL" else None
                self.assertIsNone(behind)
                if mode == "SIGSTOP":
                    c.resume(f)
                else:
                    c.start(f)
                t1 = time.monotonic()

                def caught_up():
                    s = c.status(f)
                    return (s is not None and
                            s["last_log_index"] >= lst["last_log_index"] and
                            s["commit_index"] >= lst["commit_index"] and
                            s["applied_index"] >= lst["commit_index"]) and s
                s = c.wait_for(caught_up, scaled(5.0),
                               msg="node %d to catch up to index %d"
                               % (f, lst["last_log_index"]))
                catchup = time.monotonic() - t1
                self.assertEqual(s["last_log_term"], lst["last_log_term"])
                for key, v in sorted(values.items()):
                    self.assertEqual(kv_value(kv_get(c, f, key)), v,
                                     "plain GET %s on node %d after catch-up"
                                     % (key, f))
                wait_converged(c, timeout=scaled(3))
                sys.stderr.write("\n  %s: 200 writes in %.2fs, follower "
                                 "caught up in %.3fs " % (mode, write_time,
                                                          catchup))

    def test_no_commit_without_majority(self):
        c = self.cluster(5)
        lid, term = c.leader()
        put_ok(self, c, lid, "minority/before", "x")
        wait_converged(c, timeout=scaled(3))
        before = c.status(lid)
        followers = c.followers(lid)
        stopped, live_follower = followers[:3], followers[3]
        for i in stopped:
            c.pause(i)
        # writes to the leader and through the one running follower, in
        # parallel: none may be acknowledged
        jobs = [(c, lid, "minority/l%d" % k, "m") for k in range(3)]
        jobs += [(c, live_follower, "minority/f%d" % k, "m")
                 for k in range(2)]
        results = parallel(timed_put, jobs, CLIENT_TIMEOUT + 5)
        for (_, i, key, _), res in zip(jobs, results):
            if isinstance(res, BaseException):
                raise res
            r, elapsed = res
            self.assertIsNotNone(r, "PUT %s via node %d: no answer in %.1fs"
                                 % (key, i, CLIENT_TIMEOUT))
            self.assertIn(r.status, (503, 504),
                          "a write acknowledged without a majority: %s via "
                          "node %d -> %r" % (key, i, r))
            j = self.assert_error_json(r, r.status, (300, 301))
            if r.status == 504:
                self.assertEqual(j["errorCode"], 300, j)
                self.assertIn("may or may not", j.get("cause", ""),
                              "a timed-out write must say its outcome is "
                              "unknown: %r" % j)
            self.assertLess(elapsed, REQUEST_TIMEOUT_MS / 1000.0 + 1.0,
                            "the answer took %.2fs" % elapsed)
        for i in (lid, live_follower):
            s = c.status(i)
            self.assertLessEqual(s["commit_index"], before["last_log_index"],
                                 "node %d committed without a majority: %s"
                                 % (i, s))
        for i in stopped:
            c.resume(i)
        newlid, newterm = c.leader()
        st = wait_converged(c, timeout=scaled(5))
        # what became of them is up to the new leader's log (they were in
        # at most two logs); every node agrees on it
        fate = {}
        for _, i, key, _ in jobs:
            vals = {kv_value(kv_get(c, j, key, quorum=True,
                                    timeout=CLIENT_TIMEOUT))
                    for j in c.ids()}
            self.assertEqual(len(vals), 1, "nodes disagree on %s: %s"
                             % (key, vals))
            fate[key] = vals.pop()
        self.assertEqual(kv_value(kv_get(c, newlid, "minority/before",
                                         quorum=True)), "x")
        sys.stderr.write("\n  minority writes after healing (leader %d term "
                         "%d -> leader %d term %d, log %d): %s "
                         % (lid, term, newlid, newterm,
                            st[newlid]["last_log_index"],
                            {k: v is not None for k, v in sorted(fate.items())}))

    def test_forwarded_writes_apply_at_most_once_when_the_leader_dies(self):
        """Writes sent to followers (forwarded to the leader) while the
        leader is SIGKILLed: each is applied at most once. Every write
        creates a fresh key (prevExist=false), so an answer "105 Key
        already exists" means the write was applied twice (the first time
        unbeknownst to the client)."""
        c = self.cluster(3)
        counts = {}
        doubles = []
        for rnd in range(6):
            lid, term = c.leader()
            fs = c.followers(lid)
            stop = threading.Event()

            def load(tid):
                k = 0
                while not stop.is_set():
                    k += 1
                    key = "once/r%d/t%d/k%d" % (rnd, tid, k)
                    f = fs[k % len(fs)]
                    r = kv_put(c, f, key, "v", timeout=CLIENT_TIMEOUT,
                               prevExist="false")
                    tag = "no answer" if r is None else "%d/%s" % (
                        r.status, harness.etcd_error_code(r))
                    counts[tag] = counts.get(tag, 0) + 1
                    if r is not None and harness.etcd_error_code(r) == 105:
                        doubles.append("%s via node %d (leader %d killed): "
                                       "%r" % (key, f, lid, r))
                    if r is None or r.status >= 500:
                        time.sleep(0.01)
            res = []
            threads = [threading.Thread(target=lambda t=t: res.append(
                load(t)), daemon=True) for t in range(8)]
            for t in threads:
                t.start()
            time.sleep(0.4)
            c.kill(lid)
            time.sleep(0.5)
            stop.set()
            for t in threads:
                t.join(CLIENT_TIMEOUT + 5)
            c.start(lid)
        sys.stderr.write("\n  answers: %s " % counts)
        if doubles:
            self.fail("%d writes applied twice (a forwarded proposal sent "
                      "again after the leader died having received it):\n  "
                      "%s" % (len(doubles), "\n  ".join(doubles[:10])))

    def test_no_leader_gives_prompt_error(self):
        c = self.cluster(3, start=False)
        c.start(1)
        time.sleep(0.1)
        for what in ("PUT", "quorum GET", "PUT again"):
            t = time.monotonic()
            if what.startswith("PUT"):
                r = kv_put(c, 1, "noleader/x", "1", timeout=CLIENT_TIMEOUT)
            else:
                r = kv_get(c, 1, "noleader/x", quorum=True,
                           timeout=CLIENT_TIMEOUT)
            elapsed = time.monotonic() - t
            self.assert_error_json(r, 503, (301,))
            self.assertLess(elapsed, scaled(ET + 0.5),
                            "%s with no leader took %.2fs (an election "
                            "timeout is %.1fs)" % (what, elapsed, ET))
        # a cluster that loses its majority: once the survivor knows it has
        # no leader, the same prompt answer
        c.start(2)
        c.start(3)
        lid, _ = c.leader()
        for i in c.followers(lid):
            c.kill(i)
        c.wait_for(lambda: (c.status(lid) or {}).get("leader_id", 0) is None,
                   scaled(4 * ET + 1),
                   msg="the lone node %d to notice it has no leader" % lid)
        t = time.monotonic()
        r = kv_put(c, lid, "noleader/y", "1", timeout=CLIENT_TIMEOUT)
        elapsed = time.monotonic() - t
        self.assert_error_json(r, 503, (301,))
        self.assertLess(elapsed, scaled(ET + 0.5))

    # ------------------------------------------------------------------
    # partitions (nft)

    def isolate_leader_with_writes(self, n_writes, nodes=3, **cluster_kw):
        """Cluster, leader L cut off by nft, n_writes sent to L at once
        (none may succeed), a new leader elected by the majority which
        takes writes. Returns (c, p, old leader, new leader, acked
        {key: value}, unacked keys, status of L before healing).
        L appends the writes that reach it before check-quorum makes it
        step down, an election timeout after it was cut off: cluster_kw
        (longer election timeouts) widens that window."""
        c = self.cluster(nodes, **cluster_kw)
        p = partition.partitioner(self, c)
        lid, term = c.leader()
        partition.check_partitions_work(self, c, p, lid, c.followers(lid)[0])
        lid, term = c.leader()
        put_ok(self, c, lid, "part/before", "b")
        wait_converged(c, timeout=scaled(3))
        base = c.status(lid)
        p.isolate([lid])
        jobs = [(c, lid, "part/lost%03d" % k, "lost%d" % k)
                for k in range(n_writes)]
        results = parallel(timed_put, jobs, CLIENT_TIMEOUT + 10)
        unacked = []
        for (_, _, key, _), res in zip(jobs, results):
            if isinstance(res, BaseException):
                raise res
            r, _ = res
            self.assertIn(write_outcome(r), ("unknown", "failed"),
                          "a write to a leader cut off from its majority was "
                          "acknowledged: %s -> %r" % (key, r))
            unacked.append(key)
        old = c.status(lid)
        self.assertGreater(
            old["last_log_index"], base["last_log_index"],
            "the isolated leader appended none of the %d writes (it stepped "
            "down too soon?): %s" % (n_writes, old))
        self.assertLessEqual(old["commit_index"], base["last_log_index"])
        majority = c.followers(lid)
        newlid, newterm = c.leader(ids=majority)
        self.assertGreater(newterm, term)
        acked = {}
        for k in range(5):
            key, v = "part/new%d" % k, "n%d" % k
            put_ok(self, c, majority[k % len(majority)], key, v)
            acked[key] = v
        # the cut-off old leader cannot confirm it still leads: a quorum
        # read there must fail rather than answer from its stale state
        r = kv_get(c, lid, "part/new0", quorum=True, timeout=CLIENT_TIMEOUT)
        self.assertTrue(r is None or r.status in (503, 504) or
                        (r.status == 200 and kv_value(r) == "n0"),
                        "stale quorum read on the cut-off old leader: %r"
                        % (r,))
        return c, p, lid, newlid, acked, unacked, c.status(lid)

    def check_rejoined(self, c, old, new, acked, unacked):
        st = wait_converged(c, timeout=scaled(5))
        self.assertEqual(st[old]["last_log_term"], st[new]["last_log_term"])
        self.assertEqual(st[old]["last_log_index"],
                         st[new]["last_log_index"])
        c.wait_log(old, r"removed conflicting log entries from index \d+",
                   timeout=scaled(2))
        for key in unacked:
            for i in (old, new):
                self.assertIsNone(
                    kv_value(kv_get(c, i, key, quorum=True,
                                    timeout=CLIENT_TIMEOUT)),
                    "%s, written only to the cut-off leader, is visible on "
                    "node %d" % (key, i))
        for key, v in list(acked.items()) + [("part/before", "b")]:
            for i in c.ids():
                self.assertEqual(kv_value(kv_get(c, i, key)), v,
                                 "plain GET %s on node %d after healing"
                                 % (key, i))

    def test_partitioned_old_leader_rejoins(self):
        c, p, old, new, acked, unacked, st = \
            self.isolate_leader_with_writes(5)
        p.heal()
        self.check_rejoined(c, old, new, acked, unacked)

    def test_fast_backoff_over_many_conflicting_entries(self):
        # The 100 writes must reach the cut-off leader before it steps down
        # (check-quorum): on a busy machine the default 300-600 ms election
        # timeout let only 48 in; with 2-4 s, all of them get there.
        c, p, old, new, acked, unacked, st = \
            self.isolate_leader_with_writes(100, election_min_ms=2000,
                                            election_max_ms=4000)
        conflicting = st["last_log_index"] - st["commit_index"]
        self.assertGreaterEqual(conflicting, 50,
                                "the cut-off leader holds only %d uncommitted "
                                "entries: %s" % (conflicting, st))
        new_st = c.status(new)
        # count the data packets each way between the two while the new
        # leader repairs the old one's log
        p.count(old, new)
        p.count(new, old)
        t0 = time.monotonic()
        p.heal()

        def repaired():
            s = c.status(old)
            return (s is not None and s["last_log_term"] ==
                    new_st["last_log_term"] and
                    s["last_log_index"] >= new_st["last_log_index"] and
                    s["commit_index"] >= new_st["last_log_index"])
        c.wait_for(repaired, scaled(5), interval=0.01,
                   msg="node %d's log to be repaired" % old)
        took = time.monotonic() - t0
        to_new = p.counter(old, new)[0]
        to_old = p.counter(new, old)[0]
        sys.stderr.write("\n  %d conflicting entries replaced in %.3fs; data "
                         "packets old->new %d, new->old %d "
                         % (conflicting, took, to_new, to_old))
        self.assertLess(took, scaled(3.0))
        # one entry per round trip would take ~2 packets per conflicting
        # entry each way; heartbeats add one round trip per 50 ms
        budget = 20 + 4 * int(took / 0.05)
        self.assertLess(to_new, min(budget, conflicting // 2),
                        "the old leader sent %d data packets in %.3fs: "
                        "not a fast back-off" % (to_new, took))
        self.check_rejoined(c, old, new, acked, unacked)

    def test_new_leader_does_not_resend_the_whole_log(self):
        """After an election the new leader finds where each follower's
        log matches (probing back from its own last index, with the
        conflict hints) and sends only what is missing: an up-to-date
        follower of a 400 KB log gets heartbeats, not the log again."""
        c = self.cluster(3)
        p = partition.partitioner(self, c)
        lid, term = c.leader()
        big = "x" * 1000
        keys = [(i, "resend/%d/%d" % (i, k)) for i in c.ids()
                for k in range(130)]

        def write(chunk):
            for i, key in chunk:
                put_ok(self, c, i, key, big)
        res = parallel(write, [(keys[k::4],) for k in range(4)], 60)
        for e in res:
            if isinstance(e, BaseException):
                raise e
        wait_converged(c, timeout=scaled(3))
        a, b = c.followers(lid)
        p.count(a, b)
        p.count(b, a)
        c.kill(lid)
        newlid, newterm = c.leader(ids=[a, b])
        other = b if newlid == a else a
        put_ok(self, c, newlid, "resend/after", "1")
        wait_converged(c, ids=[a, b], timeout=scaled(3))
        time.sleep(0.5)
        pk, sent = p.counter(newlid, other)
        log_bytes = len(keys) * len(big)
        sys.stderr.write("\n  new leader %d sent %d bytes in %d packets to "
                         "up-to-date follower %d (log holds %d bytes of "
                         "values) " % (newlid, sent, pk, other, log_bytes))
        self.assertLess(sent, log_bytes // 4,
                        "the new leader re-sent the log to an up-to-date "
                        "follower (%d bytes)" % sent)

    def test_journal_says_when_the_leader_catches_up_a_follower(self):
        """Issue 3, item 7: the journal logs when a node starts catching
        up a follower (here one that was down for 100 writes)."""
        c = self.cluster(3)
        lid, term = c.leader()
        f = c.followers(lid)[0]
        c.kill(f)
        for k in range(100):
            put_ok(self, c, lid, "journal/%d" % k, "v")
        c.start(f)
        wait_converged(c, timeout=scaled(5))
        c.wait_log(lid, r"catching_up: catching up node %d\b" % f,
                   timeout=scaled(1))

    # ------------------------------------------------------------------

    def test_leadership_transfer_on_sigterm(self):
        """SIGTERM on the leader (systemctl stop) hands leadership over:
        the new leader has term old+1 and is there well within an election
        timeout; the old leader logs leadership_transferred and exits 0.
        Five times, under a write load through every node (the load makes
        AppendEntries answers race with the transfer)."""
        c = self.cluster(3)
        c.leader()
        put_ok(self, c, c.leader()[0], "transfer/x", "1")
        stop = threading.Event()
        paused = threading.Event()
        outcomes = {}

        def load():
            k = 0
            while not stop.is_set():
                if paused.is_set():
                    time.sleep(0.01)
                    continue
                k += 1
                i = [1, 2, 3][k % 3]
                r = kv_put(c, i, "transfer/load%d" % (k % 10), "v%d" % k,
                           timeout=CLIENT_TIMEOUT)
                o = write_outcome(r)
                outcomes[o] = outcomes.get(o, 0) + 1
                if r is None or r.status >= 500:
                    time.sleep(0.01)
        loaders = [threading.Thread(target=load, daemon=True)
                   for _ in range(2)]
        for t in loaders:
            t.start()
        problems = []
        try:
            for rnd in range(5):
                lid, term = c.leader()
                # logs can only be equal while no write is in flight
                paused.set()
                time.sleep(0.05)
                wait_converged(c, timeout=scaled(3))
                paused.clear()
                time.sleep(0.2)
                others = c.followers(lid)
                mark = len(c.log_text(lid))
                t0 = time.monotonic()
                harness.send_signal(c, lid, signal.SIGTERM)
                seen = None
                deadline = t0 + scaled(3.0)
                while time.monotonic() < deadline and seen is None:
                    for i in others:
                        s = c.status(i, timeout=0.2)
                        if (s and s.get("state") == "Leader" and
                                s.get("term", 0) > term):
                            seen = (i, s["term"], time.monotonic() - t0)
                            break
                rc = harness.reap(c, lid, scaled(5), "SIGTERM")
                self.assertEqual(rc, 0, "exit status after SIGTERM")
                self.assertIsNotNone(seen, "no new leader within 3s of "
                                     "SIGTERM")
                newlid, newterm, took = seen
                log = c.log_text(lid)[mark:]
                sys.stderr.write("\n  leader %d -> %d, term %d -> %d, %.0f ms"
                                 % (lid, newlid, term, newterm, took * 1000))
                self.assertEqual(newterm, term + 1,
                                 "a transfer needs exactly one new term")
                self.assertLess(took, scaled(min(0.25, c.election_min_ms /
                                                 1000.0 * 0.8)),
                                "no new leader %.0f ms after SIGTERM: an "
                                "election timeout gap" % (took * 1000))
                if not re.search(r"\bleadership_transferred: leadership "
                                 r"transferred to node %d\b" % newlid, log):
                    problems.append(
                        "round %d: leader %d handed over to %d (term %d) in "
                        "%.0f ms but did not log leadership_transferred:\n%s"
                        % (rnd, lid, newlid, newterm, took * 1000,
                           "\n".join("    " + l for l in log.splitlines()
                                     if re.search(r"transfer|stepped|"
                                                  r"Terminated|term_changed",
                                                  l))))
                self.assertEqual(c.leader(ids=others), (newlid, newterm))
                c.start(lid)
        finally:
            stop.set()
            for t in loaders:
                t.join(CLIENT_TIMEOUT + 5)
        sys.stderr.write("\n  writes during the transfers: %s " % outcomes)
        self.assertEqual(kv_value(kv_get(c, c.leader()[0], "transfer/x",
                                         quorum=True)), "1")
        if problems:
            self.fail("\n".join(problems))


class PartitionMechanicsTest(harness.ClusterTestCase):
    """partition.py itself: its nft rules cut exactly the named links of
    this cluster (checked with connections from the nodes' addresses, as
    `curl --interface 127.0.0.11` would make), and the table goes away."""

    def _test_failed(self):
        return harness.test_failed(self)

    def reach(self, c, src, dst):
        """Can a connection from node src's address reach node dst?"""
        s, d = c.node(src), c.node(dst)
        try:
            conn = harness.http.client.HTTPConnection(
                d.host, d.port, timeout=0.3, source_address=(s.host, 0))
            conn.request("GET", "/status")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def test_rules_cut_only_the_named_links(self):
        c = self.cluster(3)
        p = partition.partitioner(self, c)
        self.assertTrue(all(self.reach(c, a, b) for a in c.ids()
                            for b in c.ids() if a != b))
        p.cut(1, 2)
        self.assertFalse(self.reach(c, 1, 2))
        self.assertFalse(self.reach(c, 2, 1))
        self.assertTrue(self.reach(c, 1, 3))
        self.assertTrue(self.reach(c, 3, 2))
        # test clients (from 127.0.0.1) are never cut off
        self.assertIsNotNone(c.status(1))
        self.assertIsNotNone(c.status(2))
        p.heal()
        self.assertTrue(self.reach(c, 1, 2))
        p.cut(1, 2, oneway=True)     # TCP needs both ways: both fail
        self.assertFalse(self.reach(c, 1, 2))
        self.assertFalse(self.reach(c, 2, 1))
        p.isolate([3])
        self.assertTrue(self.reach(c, 1, 2))
        self.assertFalse(self.reach(c, 1, 3))
        self.assertFalse(self.reach(c, 3, 2))
        self.assertGreater(p.dropped(), 0)
        # another cluster on the same addresses (other port) is untouched
        other = harness.Cluster(2, name=self.id() + "-other")
        try:
            if other.node(1).host == c.node(1).host:
                self.assertTrue(self.reach(other, 1, 2))
        finally:
            other.close(graceful=False)
            other.cleanup_files()
        table = p.table
        p.close()
        self.assertNotIn(table, partition._nft(args=["list", "tables"]))
        self.assertTrue(self.reach(c, 1, 3))
        # the daemon's own peer connections leave from its address
        c.leader()
        partition.check_partitions_work(self, c, partition.partitioner(
            self, c), 1, 2)

if __name__ == "__main__":
    unittest.main()
