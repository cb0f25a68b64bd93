"""Durability against real raftd processes on loopback (issue 3, "Tests"):
whole-cluster restart, SIGKILL of every node during a write load, torn and
garbled write-ahead log records (format: doc/storage.md).

RAFTD_DURABILITY_SEED fixes the random choices (printed on failure);
RAFTD_LONG_TESTS=1 runs more crash rounds.
"""

import os
import random
import re
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (kv_get, kv_put, kv_value, scaled, wait_converged,  # noqa: E402
                     write_outcome)

LONG = os.environ.get("RAFTD_LONG_TESTS", "") not in ("", "0")
REQUEST_TIMEOUT_MS = 1500
CLIENT_TIMEOUT = REQUEST_TIMEOUT_MS / 1000.0 + 2.5
EX_UNAVAILABLE = 69
EX_CONFIG = 78


def seed_from_env(name):
    s = os.environ.get(name, "")
    return int(s) if s else random.SystemRandom().randrange(1, 1 << 30)


# --------------------------------------------------------------------------
# the write-ahead log (doc/storage.md): segments wal-<20 digits>, a 16-byte
# header "RAFTDWL1" + first index, then records [len u32][crc u32][payload]

WAL_HEADER = 16
REC_HEADER = 8


def segments(data_dir):
    return sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir)
                  if re.fullmatch(r"wal-\d{20}", f))


def records(path):
    """[(offset, payload length)] of the records of one segment (zeros,
    preallocated space, follow them)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"RAFTDWL1":
        raise AssertionError("%s: not a raftd segment (format changed? see "
                             "doc/storage.md)" % path)
    out, off = [], WAL_HEADER
    while off + REC_HEADER <= len(data):
        (plen,) = struct.unpack_from("<I", data, off)
        if plen < 17 or off + REC_HEADER + plen > len(data):
            break
        out.append((off, plen))
        off += REC_HEADER + plen
    return out


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC = _crc_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class Writer(threading.Thread):
    """Writes its own keys (crash/t<id>/k<n>) through random nodes until
    stopped, recording (key, value, seq, outcome) for every attempt."""

    def __init__(self, c, tid, seed, nkeys=8):
        super().__init__(daemon=True)
        self.c = c
        self.tid = tid
        self.rng = random.Random(seed)
        self.nkeys = nkeys
        self.seq = 0
        self.log = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.seq += 1
            key = "crash/t%d/k%d" % (self.tid, self.rng.randrange(self.nkeys))
            value = "t%d-s%d" % (self.tid, self.seq)
            i = self.rng.choice(self.c.ids())
            try:
                r = self.c.request(i, "PUT", harness.keys_path(key),
                                   form={"value": value},
                                   timeout=CLIENT_TIMEOUT)
                outcome = write_outcome(r)
            except ConnectionRefusedError:
                outcome = "failed"   # never reached a server
                r = None
            except (OSError, harness.http.client.HTTPException):
                outcome = "unknown"
                r = None
            self.log.append((key, value, self.seq, outcome))
            if r is None:
                time.sleep(0.01)


def expected_values(writers):
    """{key: (allowed values, last acknowledged value or None, history)}:
    the final value must be the last acknowledged write (each key has one
    writer, whose writes are sequential), or a write of unknown outcome
    issued after it; with no acknowledged write, absent or such a write."""
    out = {}
    hist = {}
    for w in writers:
        for key, value, seq, outcome in w.log:
            hist.setdefault(key, []).append((seq, value, outcome))
    for key, h in hist.items():
        h.sort()
        acked = [(s, v) for s, v, o in h if o == "ok"]
        last_seq, last_v = acked[-1] if acked else (0, None)
        allowed = {last_v} | {v for s, v, o in h
                              if o == "unknown" and s > last_seq}
        out[key] = (allowed, last_v, h)
    return out


class DurabilityTest(harness.ClusterTestCase):

    def _test_failed(self):
        # keep the tempdir and print the node logs on failure (Python 3.11)
        return harness.test_failed(self)

    def cluster(self, n, **kw):
        kw.setdefault("extra_config",
                      "request_timeout_ms = %d;" % REQUEST_TIMEOUT_MS)
        return super().cluster(n, **kw)

    def put_ok(self, c, i, key, value):
        r = kv_put(c, i, key, value, timeout=CLIENT_TIMEOUT)
        self.assertIsNotNone(r, "PUT %s via node %d: no answer" % (key, i))
        self.assertIn(r.status, (200, 201), "PUT %s via node %d: %r"
                      % (key, i, r))
        return r

    def quorum_value(self, c, key, nodes=None, tries=3):
        """Quorum read through one of nodes (retried on 5xx/no answer)."""
        nodes = nodes or c.ids()
        r = None
        for k in range(tries):
            r = kv_get(c, nodes[k % len(nodes)], key, quorum=True,
                       timeout=CLIENT_TIMEOUT)
            if r is not None and r.status < 500:
                return kv_value(r)
            time.sleep(0.2)
        raise AssertionError("quorum GET %s failed: %r" % (key, r))

    # ------------------------------------------------------------------

    def test_whole_cluster_restart_keeps_every_acknowledged_write(self):
        c = self.cluster(3)
        lid, _ = c.leader()
        rng = random.Random(4711)
        expect = {}
        for k in range(60):
            key = "restart/k%d" % rng.randrange(40)
            v = "v%d" % k
            self.put_ok(c, rng.choice(c.ids()), key, v)
            expect[key] = v
        # a delete is a write too
        gone = sorted(expect)[0]
        r = c.request(lid, "DELETE", harness.keys_path(gone),
                      timeout=CLIENT_TIMEOUT)
        self.assertEqual(r.status, 200, r)
        expect[gone] = None
        before = wait_converged(c, timeout=scaled(3))
        last = before[lid]["last_log_index"]
        rcs = c.stop_all()
        self.assertEqual(set(rcs.values()), {0}, "exit statuses %s" % rcs)
        c.start_all()
        c.leader()
        for i in c.ids():
            m = re.findall(r"recovered from .*log 1\.\.(\d+)",
                           c.log_text(i, since_start=True))
            self.assertTrue(m, "node %d did not log what it recovered" % i)
            self.assertGreaterEqual(int(m[-1]), last,
                                    "node %d recovered a shorter log" % i)
        for key, v in sorted(expect.items()):
            self.assertEqual(self.quorum_value(c, key,
                                               [rng.choice(c.ids())]), v,
                             "%s after a whole-cluster restart" % key)
        after = wait_converged(c, timeout=scaled(3))
        for i in c.ids():
            for key, v in sorted(expect.items()):
                self.assertEqual(kv_value(kv_get(c, i, key)), v,
                                 "plain GET %s on node %d" % (key, i))
        self.assertGreater(after[lid]["last_log_index"], last)

    def test_restarted_node_serves_committed_data_before_any_leader(self):
        """A node restarted alone (no majority, so no leader to learn the
        commit index from) applies its log up to the commit hint it saved
        and answers plain reads with the committed values at once."""
        c = self.cluster(3)
        c.leader()
        for k in range(20):
            self.put_ok(c, c.ids()[k % 3], "hint/k%d" % (k % 5), "v%d" % k)
        wait_converged(c, timeout=scaled(3))
        rcs = c.stop_all()
        self.assertEqual(set(rcs.values()), {0}, "exit statuses %s" % rcs)
        i = c.ids()[0]
        c.start(i)
        self.assertIn(c.status(i)["state"], ("Follower", "Candidate"))
        for k in range(15, 20):
            key = "hint/k%d" % (k % 5)
            self.assertEqual(kv_value(kv_get(c, i, key)), "v%d" % k,
                             "plain GET %s on node %d restarted alone" % (key, i))
        m = re.findall(r"committed up to (\d+)", c.log_text(i, since_start=True))
        self.assertTrue(m and int(m[-1]) >= 20, "recovery log line: %s" % m)

    def test_sigkill_all_nodes_during_write_load(self):
        seed = seed_from_env("RAFTD_DURABILITY_SEED")
        rng = random.Random(seed)
        rounds = 8 if LONG else 3
        c = self.cluster(3)
        totals = {"ok": 0, "unknown": 0, "failed": 0}
        writers_all = []
        for rnd in range(rounds):
            c.leader(timeout=scaled(10))
            writers = [Writer(c, 4 * rnd + t, seed * 1000 + 10 * rnd + t)
                       for t in range(4)]
            writers_all += writers
            for w in writers:
                w.start()
            time.sleep(rng.uniform(0.3, 1.5))
            # every node dies, each at its own random moment
            order = c.ids()
            rng.shuffle(order)
            for i in order:
                c.kill(i)
                time.sleep(rng.uniform(0, 0.15))
            for w in writers:
                w.stop.set()
            for w in writers:
                w.join(CLIENT_TIMEOUT + 5)
                self.assertFalse(w.is_alive(), "writer did not stop")
            for w in writers:
                for _, _, _, o in w.log:
                    totals[o] += 1
            c.start_all()
            c.leader(timeout=scaled(10))
            self.check_writes(c, writers_all, "round %d (seed %d)"
                              % (rnd, seed))
        sys.stderr.write("\n  %d crash rounds, seed %d, writes: %s "
                         % (rounds, seed, totals))
        self.assertGreater(totals["ok"], 20 * rounds,
                           "too few acknowledged writes: %s" % totals)
        wait_converged(c, timeout=scaled(5))

    def check_writes(self, c, writers, when):
        problems = []
        for key, (allowed, last, hist) in sorted(
                expected_values(writers).items()):
            got = self.quorum_value(c, key)
            if got not in allowed:
                problems.append(
                    "%s = %r, expected %r (the last acknowledged write)%s; "
                    "history (seq, value, outcome): %s"
                    % (key, got, last,
                       " or one of %s" % sorted(a for a in allowed
                                                if a != last)
                       if len(allowed) > 1 else "", hist[-8:]))
        if problems:
            self.fail("after %s, acknowledged writes are missing:\n  %s"
                      % (when, "\n  ".join(problems)))

    # ------------------------------------------------------------------
    # damaged logs

    def stopped_follower_with_log(self, n_writes=30):
        c = self.cluster(3)
        lid, _ = c.leader()
        for k in range(n_writes):
            self.put_ok(c, lid, "wal/k%d" % k, "v%d" % k)
        wait_converged(c, timeout=scaled(3))
        f = c.followers(lid)[0]
        self.assertEqual(c.stop(f), 0)
        segs = segments(c.node(f).data_dir)
        self.assertTrue(segs, "no wal-* segment in %s: %s"
                        % (c.node(f).data_dir,
                           os.listdir(c.node(f).data_dir)))
        recs = records(segs[-1])
        self.assertGreaterEqual(len(recs), 10, "records: %s" % recs)
        return c, lid, f, segs[-1], recs

    def check_rejoins(self, c, f, n_writes=30):
        c.leader()
        wait_converged(c, timeout=scaled(5))
        for k in range(n_writes):
            self.assertEqual(kv_value(kv_get(c, f, "wal/k%d" % k)),
                             "v%d" % k, "node %d after repair" % f)

    def test_torn_last_record_is_cut_off(self):
        """A crash in the middle of appending an entry (never acknowledged,
        as it was not synced) leaves a torn record at the end of the last
        segment: made here by appending to a stopped follower's segment a
        copy of its last record for the next index, cut short by a few
        bytes, or complete with a bad checksum."""
        for how in ("cut short", "bad checksum"):
            with self.subTest(how=how):
                c, lid, f, seg, recs = self.stopped_follower_with_log()
                data = read_bytes(seg)
                off, plen = recs[-1]
                end = off + REC_HEADER + plen  # then preallocated zeros
                rec = bytearray(data[off:off + REC_HEADER + plen])
                (index,) = struct.unpack_from("<Q", rec, REC_HEADER)
                struct.pack_into("<Q", rec, REC_HEADER, index + 1)
                struct.pack_into("<I", rec, 4,
                                 crc32c(bytes(rec[REC_HEADER:])))
                if how == "cut short":
                    rec = rec[:-3]
                else:
                    rec[-1] ^= 0x5A
                with open(seg, "r+b") as fh:
                    fh.seek(end)
                    fh.write(rec)
                c.start(f)
                line = c.wait_log(
                    f, r"warning: .*%s.*offset %d" % (os.path.basename(seg),
                                                       end),
                    since_start=True)
                self.assertTrue(line)
                self.assertEqual(records(seg), recs,
                                 "the torn record was not cut off")
                self.assertFalse(any(read_bytes(seg)[end:]),
                                 "the torn record was not cut off")
                self.check_rejoins(c, f)
                self.assertEqual(c.close(), [])

    def test_follower_that_lost_acknowledged_entries_is_repaired(self):
        """doc/storage.md's answer to a corrupt log: stop the node, move its
        data directory aside, start it empty, "the leader re-replicates the
        log". Also a follower whose last acknowledged records were cut off
        (e.g. a corrupted length taken for a torn write, a documented limit
        of the format). The leader must not trust its old matchIndex."""
        for how in ("emptied", "last records cut off"):
            with self.subTest(how=how):
                c, lid, f, seg, recs = self.stopped_follower_with_log()
                if how == "emptied":
                    d = c.node(f).data_dir
                    for name in os.listdir(d):
                        os.unlink(os.path.join(d, name))
                else:
                    os.truncate(seg, recs[-3][0])
                c.start(f)
                self.check_rejoins(c, f)
                self.assertEqual(c.close(), [])

    def test_garbled_middle_record_refuses_to_start(self):
        c, lid, f, seg, recs = self.stopped_follower_with_log()
        off, plen = recs[len(recs) // 2]
        flip_byte(seg, off + REC_HEADER + 9)   # inside the entry's term
        before = {p: read_bytes(p) for p in segments(c.node(f).data_dir)}
        c.start(f, wait=False)
        rc = c.wait_refusal(f, scaled(5))
        self.assertNotEqual(rc, 0)
        self.assertGreater(rc, 0, "killed by signal %d" % -rc)
        self.assertEqual(rc, EX_UNAVAILABLE, "exit status (raftd(8))")
        text = c.log_text(f, since_start=True)
        self.assertRegex(text, r"%s.*offset %d" % (os.path.basename(seg), off))
        self.assertNotRegex(text, harness.SANITIZER_PATTERNS)
        after = {p: read_bytes(p) for p in segments(c.node(f).data_dir)}
        self.assertEqual(before, after, "a refused log was modified")
        # the other two carry on
        live = [i for i in c.ids() if i != f]
        for k in range(5):
            self.put_ok(c, live[k % 2], "wal/after%d" % k, "a%d" % k)
        for i in live:
            self.assertEqual(self.quorum_value(c, "wal/after4", [i]), "a4")

    def test_any_damage_is_repaired_or_refused_never_a_crash(self):
        """Random truncations and byte flips in a stopped follower's last
        segment, metadata files and members record: the node either starts
        (and rejoins) or exits with EX_UNAVAILABLE (EX_CONFIG for the
        members record) and a message; never a signal, assertion or
        sanitizer report."""
        seed = seed_from_env("RAFTD_DURABILITY_SEED")
        rng = random.Random(seed)
        c, lid, f, seg, recs = self.stopped_follower_with_log(20)
        nd = c.node(f)
        pristine = {p: read_bytes(os.path.join(nd.data_dir, p))
                    for p in os.listdir(nd.data_dir) if p != "LOCK"}
        outcomes = {}
        cases = 24 if LONG else 10
        for case in range(cases):
            for p, data in pristine.items():
                with open(os.path.join(nd.data_dir, p), "wb") as fh:
                    fh.write(data)
            target = rng.choice(sorted(pristine))
            path = os.path.join(nd.data_dir, target)
            size = len(pristine[target])
            what = rng.choice(["truncate", "flip", "flip", "zero-tail"])
            if size == 0:
                what = "truncate"
            at = rng.randrange(max(1, size))
            if what == "truncate":
                os.truncate(path, at)
            elif what == "flip":
                flip_byte(path, at)
            else:
                with open(path, "r+b") as fh:
                    fh.seek(at)
                    fh.write(b"\0" * (size - at))
            desc = "case %d (seed %d): %s %s at %d of %d" % (
                case, seed, what, target, at, size)
            nd = c.start(f, wait=False)
            started = False
            deadline = time.monotonic() + scaled(5)
            while time.monotonic() < deadline:
                if nd.proc.poll() is not None:
                    break
                if harness.port_accepts(nd.host, nd.port):
                    started = True
                    break
                time.sleep(0.02)
            if started:
                self.assertEqual(c.stop(f), 0, desc)
                outcomes[desc] = "started"
            else:
                rc = c.wait_refusal(f, 1, desc)  # neither started nor exited
                self.assertGreater(rc, 0, "%s: killed by signal %d; log:\n%s"
                                   % (desc, -rc, c.tail(f)))
                # a damaged members record is found by the configuration
                # check, which compares the config file with it: 78
                want = EX_CONFIG if target == "members" else EX_UNAVAILABLE
                self.assertEqual(rc, want, "%s: exit status; log:"
                                 "\n%s" % (desc, c.tail(f)))
                outcomes[desc] = "refused"
            self.assertNotRegex(c.log_text(f, since_start=True),
                                harness.SANITIZER_PATTERNS, desc)
        # back to the intact files: it rejoins
        for p, data in pristine.items():
            with open(os.path.join(nd.data_dir, p), "wb") as fh:
                fh.write(data)
        c.start(f)
        self.check_rejoins(c, f, 20)
        sys.stderr.write("\n  damaged logs (seed %d): %d started, %d refused "
                         % (seed, sum(v == "started"
                                      for v in outcomes.values()),
                            sum(v == "refused" for v in outcomes.values())))
        if harness.VERBOSE:
            sys.stderr.write("\n" + "\n".join("  %s: %s" % kv
                                              for kv in outcomes.items()))


if __name__ == "__main__":
    unittest.main()
