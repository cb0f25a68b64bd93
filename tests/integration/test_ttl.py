"""TTL keys (issue 15, items 2 and 3) against real clusters: keys and
directories with a ttl expire through the log, by the leader's "now"
entries, so every node expires them at the same index with the same event;
a follower that was down while they expired, a restart, and a snapshot
neither lose nor duplicate an expiry.

TTLs are about time, so these tests let time pass; they never assume how
fast: each waits for a condition (the key gone, the wall clock past an
expiration) within a generous bound.
"""

import calendar
import os
import select
import subprocess
import sys
import threading
import time

import harness
from harness import kv_get, kv_put, scaled, wait_converged

SNAP_CONFIG = "snapshot_entries = 20;\nsnapshot_keep_entries = 5;\n"


# A process that takes python-etcd's Lock (a TTL key it keeps while it
# lives) and says so: "waiting UUID", then "acquired UUID", then sleeps.
LOCKER = r"""
import sys, time, etcd
host, port, ttl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = etcd.Client(host=host, port=port)
lock = etcd.Lock(client, "lab")
print("waiting", lock.uuid, flush=True)
lock.acquire(blocking=True, lock_ttl=ttl)
print("acquired", lock.uuid, flush=True)
time.sleep(3600)
"""


def gone_everywhere(c, key, ids=None):
    for i in ids or c.live_ids():
        r = kv_get(c, i, key)
        if r is None or r.status != 404:
            return False
    return True


def event_at(c, i, key, index, recursive=False):
    """The event the history of node i holds for key at index or later."""
    params = {"wait": "true", "waitIndex": str(index)}
    if recursive:
        params["recursive"] = "true"
    r = c.request(i, "GET", harness.keys_path(key), params=params,
                  timeout=scaled(5))
    assert r.status == 200, r
    return r.json()


def store_of(c, i):
    r = c.request(i, "GET", "/v2/keys/", params={"recursive": "true",
                                                "sorted": "true"})
    assert r.status == 200, r
    return r.json(), r.headers.get("x-etcd-index")


class TTLTest(harness.ClusterTestCase):

    def test_key_expires_at_the_same_index_on_every_node(self):
        c = self.cluster(3)
        leader, _ = c.leader()
        follower = c.followers(leader)[0]
        r = kv_put(c, follower, "/t", "v", ttl="1")
        self.assertEqual(r.status, 201, r)
        node = r.json()["node"]
        self.assertEqual(node["ttl"], 1)
        self.assertRegex(node["expiration"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")
        created = node["createdIndex"]
        # a watcher on another node hears the expiry
        other = [i for i in c.ids() if i != follower][0]
        got = {}

        def watch():
            try:
                got["r"] = c.request(other, "GET", "/v2/keys/t",
                                     params={"wait": "true",
                                             "waitIndex": str(created + 1)},
                                     timeout=scaled(20))
            except Exception as e:  # noqa: BLE001 (reported below)
                got["e"] = e
        t = threading.Thread(target=watch)
        t.start()
        c.wait_for(lambda: gone_everywhere(c, "/t"), scaled(20),
                   msg="/t to expire on every node")
        t.join(scaled(20))
        self.assertIn("r", got, got)
        ev = got["r"].json()
        self.assertEqual(ev["action"], "expire")
        self.assertEqual(ev["node"]["key"], "/t")
        self.assertEqual(ev["prevNode"]["value"], "v")
        events = [event_at(c, i, "/t", created + 1) for i in c.ids()]
        for e in events:
            self.assertEqual(e, events[0])
        self.assertEqual(events[0]["action"], "expire")
        wait_converged(c)
        stores = [store_of(c, i) for i in c.ids()]
        for s in stores:
            self.assertEqual(s, stores[0])
        # /v2/stats/store counts it on every node (each applied it)
        for i in c.ids():
            st = c.request(i, "GET", "/v2/stats/store").json()
            self.assertEqual(st["expireCount"], 1, (i, st))

    def test_refresh_directories_and_errors(self):
        c = self.cluster(3)
        leader, _ = c.leader()
        r = c.request(leader, "PUT", "/v2/keys/dir",
                      form={"dir": "true", "ttl": "30"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["node"]["ttl"], 30)
        # etcd's directory TTL update
        r = c.request(leader, "PUT", "/v2/keys/dir",
                      form={"dir": "true", "ttl": "31", "prevExist": "true"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["action"], "update")
        self.assertEqual(r.json()["node"]["ttl"], 31)
        r = kv_get(c, leader, "/dir")
        self.assertIn(r.json()["node"]["ttl"], (30, 31))
        # refresh: the value stays, the ttl changes, "refresh" is marked
        kv_put(c, leader, "/r", "keep", ttl="100")
        r = c.request(leader, "PUT", "/v2/keys/r",
                      form={"ttl": "200", "refresh": "true",
                            "prevExist": "true"})
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["node"]["value"], "keep")
        self.assertEqual(body["node"]["ttl"], 200)
        self.assertTrue(body["refresh"])
        # ttl= clears it (etcd: an empty ttl is none)
        r = kv_put(c, leader, "/r", "permanent", ttl="")
        self.assertNotIn("ttl", r.json()["node"])
        self.assertNotIn("expiration", r.json()["node"])
        for form, code in (({"value": "x", "ttl": "abc"}, 202),
                           ({"value": "x", "ttl": "-1"}, 202),
                           ({"value": "x", "ttl": "315360001"}, 202),
                           ({"value": "x", "ttl": "5", "refresh": "true"},
                            211),
                           ({"refresh": "true", "prevExist": "true"}, 212),
                           ({"value": "x", "refresh": "maybe"}, 209),
                           ({"value": "x", "refresh": ""}, 209)):
            r = c.request(leader, "PUT", "/v2/keys/r", form=form)
            self.assertEqual(r.status, 400, (form, r))
            self.assertEqual(r.json()["errorCode"], code, (form, r))
        # etcd checks refresh on DELETE too
        r = c.request(leader, "DELETE", "/v2/keys/r",
                      params={"refresh": "true"})
        self.assertEqual((r.status, r.json()["errorCode"]), (400, 212), r)
        self.assertEqual(kv_get(c, leader, "/r").json()["node"]["value"],
                         "permanent")
        # while the store has TTLs, a plain write's prevNode counts its ttl
        # from the write's own time
        kv_put(c, leader, "/p", "v", ttl="100")
        t0 = time.time()
        c.wait_for(lambda: time.time() > t0 + 1.5, scaled(5),
                   msg="1.5 s to pass")
        r = kv_put(c, leader, "/p", "w")
        self.assertLessEqual(r.json()["prevNode"]["ttl"], 99)
        self.assertGreater(r.json()["prevNode"]["ttl"], 50)

    def test_expiry_while_a_follower_is_down(self):
        c = self.cluster(3)
        leader, _ = c.leader()
        follower = c.followers(leader)[0]
        kv_put(c, leader, "/keep", "k")
        c.stop(follower)
        first = None
        for k in range(5):
            r = kv_put(c, leader, "/lease/%d" % k, "v%d" % k, ttl="1")
            self.assertEqual(r.status, 201, r)
            first = first or r.json()["node"]["createdIndex"]
        r = c.request(leader, "PUT", "/v2/keys/ldir",
                      form={"dir": "true", "ttl": "1"})
        self.assertEqual(r.status, 201, r)
        kv_put(c, leader, "/ldir/child", "c")
        live = c.live_ids()
        for k in range(5):
            c.wait_for(lambda: gone_everywhere(c, "/lease/%d" % k, live),
                       scaled(20), msg="/lease/%d to expire" % k)
        c.wait_for(lambda: gone_everywhere(c, "/ldir", live), scaled(20),
                   msg="/ldir to expire")
        c.start(follower)
        wait_converged(c, timeout=scaled(15))
        stores = {i: store_of(c, i) for i in c.ids()}
        for i in c.ids():
            self.assertEqual(stores[i], stores[leader], i)
        # the same expire events at the same indexes everywhere
        for k in range(5):
            evs = [event_at(c, i, "/lease/%d" % k, first) for i in c.ids()]
            for e in evs[1:]:
                self.assertEqual(e, evs[0])
            self.assertEqual(evs[0]["action"], "set")
            idx = evs[0]["node"]["modifiedIndex"]
            evs = [event_at(c, i, "/lease/%d" % k, idx + 1) for i in c.ids()]
            for e in evs[1:]:
                self.assertEqual(e, evs[0])
            self.assertEqual(evs[0]["action"], "expire")
        evs = [event_at(c, i, "/ldir/child", first + 7) for i in c.ids()]
        self.assertEqual(evs[0]["action"], "expire")
        self.assertEqual(evs[0]["node"]["key"], "/ldir")
        for e in evs[1:]:
            self.assertEqual(e, evs[0])
        self.assertEqual(kv_get(c, follower, "/keep").json()["node"]["value"],
                         "k")

    def test_expiry_across_a_snapshot_and_a_restart(self):
        """A key set before a snapshot and due while the whole cluster is
        down expires once after the restart, at the same index on every
        node: the snapshot carried its expiration."""
        c = self.cluster(3, extra_config=SNAP_CONFIG)
        leader, _ = c.leader()
        r = kv_put(c, leader, "/snap-ttl", "s", ttl="2")
        self.assertEqual(r.status, 201, r)
        expires = r.json()["node"]["expiration"]
        set_index = r.json()["node"]["createdIndex"]
        for k in range(60):  # past a few snapshots
            r = kv_put(c, leader, "/fill/%d" % k, "x")
            self.assertEqual(r.status, 201, r)
        st = wait_converged(c)
        for i, s in st.items():
            self.assertGreater(s["snapshot_index"], set_index + 20, (i, s))
        c.stop_all()
        # wait, with the cluster down, until the key is due by the clock
        due = calendar.timegm(time.strptime(expires.split(".")[0].rstrip("Z"),
                                            "%Y-%m-%dT%H:%M:%S"))
        c.wait_for(lambda: time.time() > due + 1, scaled(20),
                   msg="the wall clock to pass %s" % expires)
        c.start_all()
        c.leader()
        for i in c.ids():
            self.assertRegex(c.log_text(i), r"snapshot up to [1-9]\d*")
        c.wait_for(lambda: gone_everywhere(c, "/snap-ttl"), scaled(20),
                   msg="/snap-ttl to expire after the restart")
        wait_converged(c)
        evs = [event_at(c, i, "/snap-ttl", set_index + 1) for i in c.ids()]
        for e in evs[1:]:
            self.assertEqual(e, evs[0])
        self.assertEqual(evs[0]["action"], "expire")
        self.assertEqual(evs[0]["prevNode"]["expiration"], expires)
        stores = [store_of(c, i) for i in c.ids()]
        for s in stores[1:]:
            self.assertEqual(s, stores[0])
        # exactly one expiry: the index moved by one past the fill
        self.assertEqual(int(stores[0][1]), set_index + 60 + 1)
        self.assertEqual(len(stores[0][0]["node"]["nodes"]), 1)  # /fill

    def test_python_etcd_lock_taken_over_when_its_holder_dies(self):
        """python-etcd's Lock (an in-order key with a TTL, and a watch on
        the key before one's own) held by one process passes to another
        once the holder is killed and its key expires through the log."""
        try:
            import etcd  # noqa: F401
        except ImportError:
            self.skipTest("python3-etcd not installed (apt-get install "
                          "python3-etcd)")
        c = self.cluster(3)
        leader, _ = c.leader()
        nd = c.node(c.followers(leader)[0])
        procs = []

        def locker(ttl):
            p = subprocess.Popen([sys.executable, "-c", LOCKER, nd.host,
                                  str(nd.port), str(ttl)],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            procs.append(p)
            return p

        def cleanup():
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.communicate(timeout=10)
        self.addCleanup(cleanup)

        def read_line(p, timeout):
            ready, _, _ = select.select([p.stdout], [], [], timeout)
            self.assertTrue(ready, "no line from the locker within %.0fs"
                            % timeout)
            line = p.stdout.readline().split()
            self.assertTrue(line, "the locker exited: %s" %
                            p.stderr.read() if p.poll() is not None else "")
            return line
        # the holder's key must outlive the checks below while it lives
        holder = locker(max(4, int(scaled(4))))
        self.assertEqual(read_line(holder, scaled(10))[0], "waiting")
        held = read_line(holder, scaled(10))
        self.assertEqual(held[0], "acquired")
        waiter = locker(60)  # (python-etcd never refreshes a lock's key)
        w = read_line(waiter, scaled(10))
        self.assertEqual(w[0], "waiting")
        # the holder keeps its lock while it lives: its key is the first
        # one, and the waiter's comes after it (both TTL keys)
        c.wait_for(lambda: len(c.request(
            leader, "GET", "/v2/keys/_locks/lab").json()["node"].get(
                "nodes", [])) == 2, scaled(10),
            msg="the waiter's key to appear")
        nodes = c.request(leader, "GET", "/v2/keys/_locks/lab",
                          params={"sorted": "true"}).json()["node"]["nodes"]
        self.assertEqual([n["value"] for n in nodes], [held[1], w[1]])
        for n in nodes:
            self.assertIn("expiration", n)
        self.assertIsNone(waiter.poll())
        holder.kill()
        holder.wait(timeout=10)
        got = read_line(waiter, scaled(30))
        self.assertEqual(got, ["acquired", w[1]])
        nodes = c.request(leader, "GET", "/v2/keys/_locks/lab").json()[
            "node"]["nodes"]
        self.assertEqual([n["value"] for n in nodes], [w[1]])


if __name__ == "__main__":
    harness.main()
