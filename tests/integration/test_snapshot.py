"""Snapshots and log compaction against real raftd processes (Raft paper
section 7; doc/storage.md "Snapshot file"; doc/design.md "Snapshots").

Small settings (a snapshot every 40 entries, 10 kept, 64 KiB log segments)
make a few hundred writes enough to compact several times.
"""

import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import kv_get, kv_put, kv_value, scaled, wait_converged  # noqa: E402

SNAP_CONFIG = ("snapshot_entries = 40;\n"
               "snapshot_keep_entries = 10;\n"
               "wal_segment_bytes = 65536;\n")
VALUE = "v" * 900  # ~1 KB entries: a 64 KiB segment holds about 60


def wal_bytes(data_dir):
    return sum(os.path.getsize(os.path.join(data_dir, f))
               for f in os.listdir(data_dir) if re.fullmatch(r"wal-\d{20}", f))


# The snapshot-child test: a snapshot every 20 entries. Its values are
# small: the child pauses once set up (RAFTD_SNAPSHOT_CHILD_PAUSE_MS), so
# it lives long enough to be looked at whatever the store's size. (It wrote
# 900 KB values once, to make the child slow; with stress-ng beside an ASan
# build, replicating those took so long that AppendEntries waited over 30 s
# in the leader's queue and were refused as replays.)
CHILD_CONFIG = ("snapshot_entries = 20;\n"
                "snapshot_keep_entries = 5;\n")


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def fd_targets(pid):
    """What the open descriptors of pid point to, or None if it is gone."""
    d = "/proc/%d/fd" % pid
    try:
        names = os.listdir(d)
    except OSError:
        return None
    out = []
    for name in names:
        try:
            out.append(os.readlink(os.path.join(d, name)))
        except OSError:
            pass
    return out


def read_head(path, n=48):
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return None


def comm(pid):
    """The process's name (/proc/PID/comm), or None if it is gone."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def gone(pid):
    """pid has exited (reaped, or a zombie waiting for its new parent)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def write_keys(tc, c, leader, start, count):
    for k in range(start, start + count):
        r = kv_put(c, leader, "/k%04d" % k, "%s-%d" % (VALUE, k))
        tc.assertIsNotNone(r, "write %d got no answer" % k)
        tc.assertIn(r.status, (200, 201), "write %d: %r" % (k, r))


def assert_same_data(tc, c, ids, count):
    """Every node serves every key, with the same value and indexes."""
    for k in range(count):
        seen = set()
        for i in ids:
            r = kv_get(c, i, "/k%04d" % k)
            tc.assertEqual(kv_value(r), "%s-%d" % (VALUE, k),
                           "node %d, key %d" % (i, k))
            node = r.json()["node"]
            seen.add((node["createdIndex"], node["modifiedIndex"]))
        tc.assertEqual(len(seen), 1, "key %d differs across nodes: %s" %
                       (k, seen))


class SnapshotTest(harness.ClusterTestCase):

    def test_compaction_bounds_log_and_disk_and_restart_loads_snapshot(self):
        c = self.cluster(3, extra_config=SNAP_CONFIG)
        leader, _ = c.leader()
        write_keys(self, c, leader, 0, 300)
        st = wait_converged(c)
        data_dir = c.node(leader).data_dir
        for i, s in st.items():
            # a snapshot once snapshot_entries (40) entries were applied
            # since the last one and they hold half its size (each carries
            # a 900-byte value); the next may still be under way when the
            # writes stop
            since = max(40, s["snapshot_bytes"] // 2 // 900 + 1)
            self.assertGreaterEqual(s["snapshot_index"],
                                    s["commit_index"] - 2 * since,
                                    "node %d: %s" % (i, s))
            # in memory: about snapshot_keep_entries + that
            self.assertLessEqual(s["last_log_index"] - s["first_log_index"],
                                 10 + 2 * since,
                                 "node %d keeps too much log: %s" % (i, s))
            segments = 2 + (10 + 2 * since) * 1000 // 65536
            self.assertLessEqual(s["storage"]["wal_segments"], segments, s)
            self.assertGreater(s["snapshot_bytes"], 300 * 900)
        # 300 KB of entries were written; the log on disk is a few segments
        self.assertLess(wal_bytes(data_dir), segments * 65536 + 20000)
        self.assertIn("snapshot_taken", c.log_text(leader))
        # a restart loads the snapshot and replays only the log after it
        c.stop_all()
        c.start_all()
        leader, _ = c.leader()
        wait_converged(c)
        for i in c.ids():
            self.assertRegex(c.log_text(i), r"snapshot up to [1-9]\d* \(\d+ keys\)")
        assert_same_data(self, c, c.ids(), 300)

    def test_leader_keeps_only_what_its_followers_lack(self):
        """After a snapshot a follower keeps snapshot_keep_entries behind it;
        the leader keeps only what its slowest member lacks (none when all
        are up to date), and all of them for a member that is down, up to
        snapshot_keep_entries (node_snapshot.c compact_point)."""
        keep = 50
        c = self.cluster(3, extra_config="snapshot_entries = 20;\n"
                                         "snapshot_keep_entries = %d;\n" % keep)
        leader, _ = c.leader()

        def update(n):  # three keys, 900-byte values: a snapshot is small
            for k in range(n):  # and the size rule never holds one back
                r = kv_put(c, leader, "/hot%d" % (k % 3), "%s-%d" % (VALUE, k))
                self.assertIsNotNone(r)
                self.assertIn(r.status, (200, 201), r)

        def kept(i):  # entries held behind the snapshot
            s = c.status(i)
            return s["snapshot_index"] - (s["first_log_index"] - 1), s

        update(150)
        wait_converged(c)
        # the last snapshot's compaction may still be under way
        c.wait_for(lambda: kept(leader)[1]["snapshot_index"] > keep and
                   kept(leader)[0] < keep // 2, scaled(10),
                   msg="the leader to drop what every member holds",
                   describe=lambda: repr(kept(leader)))
        for f in c.followers(leader):
            c.wait_for(lambda: kept(f)[0] == keep, scaled(10),
                       msg="follower %d to keep %d entries" % (f, keep),
                       describe=lambda: repr(kept(f)))

        # a member down for a few entries: the leader keeps what it lacks
        down = c.followers(leader)[0]
        c.stop(down)
        match = next(m["match_index"] for m in c.status(leader)["members"]
                     if m["id"] == down)
        snap = c.status(leader)["snapshot_index"]
        update(30)  # at least one more snapshot
        c.wait_for(lambda: c.status(leader)["snapshot_index"] >= snap + 20,
                   scaled(10), msg="a snapshot while %d is down" % down,
                   describe=lambda: repr((snap, match, c.status(leader))))
        self.assertLessEqual(c.status(leader)["first_log_index"] - 1, match,
                             c.status(leader))
        c.start(down)
        wait_converged(c, timeout=scaled(15))
        self.assertNotIn("snapshot_installed", c.log_text(down))

        # down for longer than keep entries: the leader keeps keep, no more
        c.stop(down)
        match = c.status(leader)["commit_index"]
        for _ in range(40):  # until a snapshot is keep entries past it
            update(20)
            if c.status(leader)["snapshot_index"] > match + keep + 20:
                break
        c.wait_for(lambda: kept(leader)[0] == keep, scaled(10),
                   msg="the leader to keep %d entries for %d" % (keep, down),
                   describe=lambda: repr(kept(leader)))
        c.start(down)
        wait_converged(c, timeout=scaled(15))

    def test_lagging_follower_catches_up_with_install_snapshot(self):
        c = self.cluster(3, extra_config=SNAP_CONFIG)
        leader, _ = c.leader()
        write_keys(self, c, leader, 0, 20)
        follower = c.followers(leader)[0]
        c.stop(follower)
        write_keys(self, c, leader, 20, 200)  # compacts far past it
        st = c.status(leader)
        self.assertGreater(st["first_log_index"], 60, st)
        c.start(follower)
        wait_converged(c, timeout=scaled(15))
        c.wait_log(follower, r"snapshot_installed", timeout=scaled(5))
        self.assertIn("snapshot_sent", c.log_text(leader))
        s = c.status(follower)
        self.assertGreaterEqual(s["snapshot_index"], 60, s)
        assert_same_data(self, c, c.ids(), 220)
        # the installed snapshot carries the configuration as of its index,
        # with the cluster's id
        fdir = c.node(follower).data_dir
        with open(os.path.join(fdir, "snapshot"), "rb") as f:
            self.assertIn(b"RCL1" + int(c.cluster_id(), 16).to_bytes(
                8, "little"), f.read())
        # and it keeps replicating normally afterwards
        write_keys(self, c, leader, 220, 5)
        wait_converged(c)
        assert_same_data(self, c, [follower], 225)

    def test_snapshot_child_holds_no_sockets_and_dies_with_the_node(self):
        """The forked child that writes a snapshot keeps only the data
        directory, the LOCK and its pipe (no copy of the listening socket or
        of connections, which would keep them open behind the node's back),
        and is killed with the node rather than finishing its snapshot as
        an orphan that holds the LOCK."""
        c = self.cluster(3, extra_config=CHILD_CONFIG)
        leader, _ = c.leader()
        f = c.followers(leader)[0]
        # Follower f's snapshot children pause once set up
        # (RAFTD_SNAPSHOT_CHILD_PAUSE_MS, raftd(8)): on a quiet machine a
        # child lived a few ms and the test, polling, could miss every one
        # (CI did). Only f's, and only until it is killed: a graceful stop
        # waits for a snapshot being written.
        pause = "RAFTD_SNAPSHOT_CHILD_PAUSE_MS"
        c.stop(f)
        c.nodes[f].extra_env[pause] = str(int(scaled(5) * 1000))
        c.start(f)
        pid = c.node(f).pid
        lock = os.path.realpath(os.path.join(c.node(f).data_dir, "LOCK"))
        done = threading.Event()
        failed = []

        def writer():
            for k in range(60):
                if done.is_set():
                    return
                r = kv_put(c, leader, "/big%02d" % k, VALUE,
                           timeout=scaled(30))
                if r is None or r.status not in (200, 201):
                    failed.append((k, r))
                    return

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        child, targets = None, None
        deadline = time.monotonic() + scaled(30)
        try:
            # (after the writes too: the child of the last snapshot they
            # called for may still be starting; not after a failed write)
            while child is None and time.monotonic() < deadline and \
                    not failed:
                for ch in children_of(pid):
                    # named once it has closed what it must not hold
                    if comm(ch) != "raftd-snapshot":
                        continue
                    seen = fd_targets(ch)
                    if seen is not None and not gone(ch):
                        child, targets = ch, seen
                        break
                time.sleep(0.002)
            self.assertIsNotNone(child, "no snapshot child seen while "
                                 "writing (writes failed: %s)" % failed)
            sockets = [x for x in targets if x.startswith("socket:")]
            self.assertEqual(sockets, [], "the snapshot child holds %s" %
                             targets)
            self.assertIn(lock, targets)
            # Killed with the node (at its next return from the kernel: an
            # fdatasync in progress finishes first), so it never puts its
            # snapshot in place: a child left running would, up to a second
            # later here, while holding the LOCK.
            snap = os.path.join(c.node(f).data_dir, "snapshot")
            before = read_head(snap)
            self.assertFalse(gone(child), "the child finished too soon")
            c.kill(f)
            harness.wait_for(lambda: gone(child), scaled(5),
                             msg="the snapshot child to die with its node")
            self.assertEqual(read_head(snap), before,
                             "the orphaned child still wrote its snapshot")
            del c.nodes[f].extra_env[pause]
            c.start(f)
        finally:
            done.set()
            t.join(scaled(60))
        self.assertEqual(failed, [])
        wait_converged(c, timeout=scaled(30))
        r = kv_get(c, f, "/big00", timeout=scaled(10))
        self.assertEqual(kv_value(r), VALUE)

    def test_install_stops_the_followers_own_snapshot(self):
        """A follower asked to install the leader's snapshot while its own
        child is still writing an older one stops that child rather than
        wait for it (the loop would stall for as long as serializing takes,
        seconds for a large store): the install follows at once, and the
        child's temporary file is gone."""
        c = self.cluster(3, extra_config=CHILD_CONFIG)
        leader, _ = c.leader()
        f = c.followers(leader)[0]
        # f's snapshot children pause for longer than this test may take
        c.stop(f)
        c.nodes[f].extra_env["RAFTD_SNAPSHOT_CHILD_PAUSE_MS"] = "600000"
        c.start(f)
        pid = c.node(f).pid
        write_keys(self, c, leader, 0, 25)
        wait_converged(c)

        def the_child():
            kids = [ch for ch in children_of(pid)
                    if comm(ch) == "raftd-snapshot" and not gone(ch)]
            return kids[0] if kids else None
        child = c.wait_for(the_child, scaled(10),
                           msg="node %d's snapshot child" % f)
        # f falls behind the leader's compaction while it is stopped
        c.pause(f)
        write_keys(self, c, leader, 25, 100)
        self.assertGreater(c.status(leader)["first_log_index"], 30)
        c.resume(f)
        c.wait_log(f, r"snapshot_installed", timeout=scaled(20))
        self.assertTrue(gone(child), "the old snapshot child still runs")
        self.assertRegex(c.log_text(f), r"stopped taking a snapshot at "
                         r"index \d+: the leader's, further on, replaces it")
        wait_converged(c, timeout=scaled(15))
        left = [x for x in os.listdir(c.node(f).data_dir)
                if x.startswith("snapshot.tmp.%d" % child)]
        self.assertEqual(left, [])
        # (killed: a graceful stop would wait for a paused child it may
        # have started since)
        c.kill(f)
        del c.nodes[f].extra_env["RAFTD_SNAPSHOT_CHILD_PAUSE_MS"]
        c.start(f)
        wait_converged(c, timeout=scaled(15))
        assert_same_data(self, c, c.ids(), 100)

    def test_malformed_snapshots_are_refused_without_harm(self):
        c = self.cluster(3, extra_config=SNAP_CONFIG)
        leader, term = c.leader()
        write_keys(self, c, leader, 0, 5)
        follower = c.followers(leader)[0]
        head = ('{"term":%d,"leader_id":%d,"to":%d,"last_included_index":99,'
                '"last_included_term":%d,"leader_commit":99,"seq":1}\n'
                % (term, leader, follower, term)).encode()
        bad = [b"", b"no newline at all", head,  # no snapshot after the line
               head + b"RAFTDSN1" + b"\0" * 40,  # bad header checksum
               head + b"x" * 100]
        for body in bad:
            r = c.peer_request(follower, "/raft/install_snapshot", body=body,
                               frm=leader)
            self.assertEqual(r.status, 400, "%r -> %r" % (body[:80], r))
        # a real image with its payload cut short
        write_keys(self, c, leader, 5, 50)  # the leader now has a snapshot
        with open(os.path.join(c.node(leader).data_dir, "snapshot"), "rb") as f:
            img = f.read()
        r = c.peer_request(follower, "/raft/install_snapshot",
                           body=head + img[:-10], frm=leader)
        self.assertEqual(r.status, 400)
        self.assertIn(b"truncated", r.body)
        wait_converged(c)
        assert_same_data(self, c, c.ids(), 55)

    def test_exactly_once_survives_snapshot_and_restart(self):
        """The exactly-once table is in the snapshot: a retried request
        whose entry was compacted away still gets its first answer."""
        c = self.cluster(3, extra_config=SNAP_CONFIG)
        leader, _ = c.leader()
        cmd = (b'7 424242\n{"op":"set","key":"/once","value":"1",'
               b'"prevExist":false}')
        body = b"%d\n%s" % (len(cmd), cmd)  # one frame of a forwarded batch

        def answer(resp):  # the batch's only answer frame
            length, _, rest = resp.body.partition(b"\n")
            self.assertEqual(len(rest), int(length), resp)
            return rest
        first = c.peer_request(leader, "/raft/propose", body=body)
        self.assertEqual(first.status, 200, first)
        first_answer = answer(first)
        self.assertTrue(first_answer.startswith(b"201 "), first)
        write_keys(self, c, leader, 0, 100)  # compacts the entry away
        st = wait_converged(c)
        for s in st.values():
            self.assertGreater(s["first_log_index"], 3, s)
        c.stop_all()
        c.start_all()
        leader, _ = c.leader()
        again = c.peer_request(leader, "/raft/propose", body=body)
        self.assertEqual(again.status, 200, again)
        again_answer = answer(again)
        # the first answer (201 created, same etcd index), not 412 "exists"
        self.assertEqual(again_answer.split(b"\n", 1)[1],
                         first_answer.split(b"\n", 1)[1])
        self.assertEqual(again_answer.split()[:2], first_answer.split()[:2])
        r = kv_get(c, leader, "/once")
        self.assertEqual(kv_value(r), "1")

    def test_client_session_retry_outlives_the_old_window_and_stale_copies_are_not_applied(self):
        """Client sessions (dedup.h): a copy retried after more than 16,384
        other writes (the old table's whole window), across snapshots and a
        restart, still gets its first answer and is applied once; a copy
        whose seq is below a later entry's ack is STALE, not applied."""
        c = self.cluster(3, extra_config="snapshot_entries = 4000;\n"
                                         "snapshot_keep_entries = 100;\n")
        leader, _ = c.leader()
        inc = 0x5e55_1017_abcd

        def frame(origin, inc_, seq, ack, cmd):
            cmd = b"%d %d %d %d\n%s" % (origin, inc_, seq, ack, cmd)
            return b"%d\n%s" % (len(cmd), cmd)

        def answers(resp):
            self.assertEqual(resp.status, 200, resp)
            out, p = [], resp.body
            while p:
                length, _, rest = p.partition(b"\n")
                out.append(rest[:int(length)])
                p = rest[int(length):]
            return out

        def set_cmd(key, value, create=False):
            return (b'{"op":"set","key":"%s","value":"%s"%s}'
                    % (key, value, b',"prevExist":false' if create else b""))

        def post(leader_, frames):
            return answers(c.peer_request(leader_, "/raft/propose",
                                          body=b"".join(frames)))

        first = post(leader, [frame(90, inc, 1, 1,
                                    set_cmd(b"/sess", b"1", create=True))])[0]
        self.assertTrue(first.startswith(b"201 "), first)
        # more than the old window of other writes, of other sessions
        total, seq = 17000, 0
        while seq < total:
            batch = []
            for _ in range(min(250, total - seq)):
                seq += 1
                batch.append(frame(91 + seq % 3, inc, seq, seq,
                                   set_cmd(b"/fill%d" % (seq % 50), b"x")))
            got = post(leader, batch)
            self.assertTrue(all(a.startswith(b"200 ") or a.startswith(b"201 ")
                                for a in got), got[:3])
        wait_converged(c)
        c.stop_all()
        c.start_all()
        leader, _ = c.leader()
        again = post(leader, [frame(90, inc, 1, 1,
                                    set_cmd(b"/sess", b"2", create=True))])[0]
        # the first answer (201, same indexes and body), not 412 "exists"
        self.assertEqual(again.split(b"\n", 1)[1], first.split(b"\n", 1)[1])
        self.assertEqual(again.split()[:2], first.split()[:2])
        self.assertEqual(kv_value(kv_get(c, leader, "/sess")), "1")
        # seq 3 acknowledges 1 and 2: a late copy of 2 is not applied
        third = post(leader, [frame(90, inc, 3, 3, set_cmd(b"/three", b"3"))])[0]
        self.assertTrue(third.startswith(b"201 "), third)
        late = post(leader, [frame(90, inc, 2, 2, set_cmd(b"/two", b"2"))])[0]
        self.assertTrue(late.startswith(b"500 "), late)
        self.assertIn(b"stale copy", late)
        late1 = post(leader, [frame(90, inc, 1, 1, set_cmd(b"/sess", b"3"))])[0]
        self.assertTrue(late1.startswith(b"500 "), late1)
        wait_converged(c)
        for i in c.ids():
            r = kv_get(c, i, "/two")
            self.assertEqual(r.status, 404, r)
            self.assertEqual(kv_value(kv_get(c, i, "/sess")), "1")
            self.assertEqual(kv_value(kv_get(c, i, "/three")), "3")

    def test_corrupt_snapshot_file_is_refused_at_start(self):
        c = self.cluster(3, extra_config=SNAP_CONFIG)
        leader, _ = c.leader()
        write_keys(self, c, leader, 0, 60)
        wait_converged(c)
        follower = c.followers(leader)[0]
        c.stop(follower)
        path = os.path.join(c.node(follower).data_dir, "snapshot")
        with open(path, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0xFF]))
        c.start(follower, wait=False)
        rc = c.wait_refusal(follower, scaled(5))
        self.assertGreater(rc, 0)
        text = c.log_text(follower, since_start=True)
        self.assertIn(path, text)
        self.assertIn("checksum", text)
        self.assertIn("move", text)  # says what to do


if __name__ == "__main__":
    unittest.main()
