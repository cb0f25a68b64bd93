"""etcd v2's cluster information (issue 15, item 1): GET /v2/machines and
/v2/stats/self, /v2/stats/leader, /v2/stats/store, in etcd 3.4's shapes,
against a real 3-node cluster; and python-etcd's `client.machines` and
`client.leader`, which read them (skipped if Debian's python3-etcd is not
installed).
"""

import http.client
import json
import re
import threading

import harness
from harness import kv_get, kv_put, scaled, wait_converged

# Go's time.RFC3339Nano in UTC, and time.Duration.String()
RFC3339NANO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$"
GO_DURATION = r"^(0s|(\d+h)?(\d+m)?\d+(\.\d+)?(s|ms|\u00b5s|ns))$"
STATES = {"Leader": "StateLeader", "Follower": "StateFollower",
          "Candidate": "StateCandidate", "PreCandidate": "StatePreCandidate"}
STORE_FIELDS = ["getsSuccess", "getsFail", "setsSuccess", "setsFail",
                "deleteSuccess", "deleteFail", "updateSuccess", "updateFail",
                "createSuccess", "createFail", "compareAndSwapSuccess",
                "compareAndSwapFail", "compareAndDeleteSuccess",
                "compareAndDeleteFail", "expireCount", "watchers"]


def get_json(c, i, path, status=200):
    r = c.request(i, "GET", path)
    assert r.status == status, (path, r)
    assert r.headers.get("content-type") == "application/json", r.headers
    return r.json()


class V2StatsTest(harness.ClusterTestCase):

    def setUp(self):
        self.c = self.cluster(3)
        self.lid, _ = self.c.leader()

    def test_machines(self):
        c = self.c
        urls = ", ".join(sorted(c.nodes[i].url for i in c.ids()))
        for i in c.ids():
            r = c.request(i, "GET", "/v2/machines")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body.decode(), urls)
            self.assertTrue(r.headers["content-type"].startswith("text/plain"))
            r = c.request(i, "HEAD", "/v2/machines")
            self.assertEqual((r.status, r.body), (200, b""))
        r = c.request(1, "POST", "/v2/machines", body=b"x")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers.get("allow"), "GET,HEAD")

    def test_self(self):
        c = self.c
        for i in c.ids():
            s = c.status(i)
            o = get_json(c, i, "/v2/stats/self")
            self.assertEqual(list(o)[:5], ["name", "id", "state", "startTime",
                                           "leaderInfo"])
            self.assertEqual(o["name"], "node%d" % i)
            self.assertEqual(o["id"], "%x" % i)
            self.assertEqual(o["state"], STATES[s["state"]])
            self.assertRegex(o["startTime"], RFC3339NANO)
            li = o["leaderInfo"]
            self.assertEqual(sorted(li), ["leader", "startTime", "uptime"])
            self.assertEqual(li["leader"], "%x" % self.lid)
            self.assertRegex(li["uptime"], GO_DURATION)
            self.assertRegex(li["startTime"], RFC3339NANO)
            self.assertGreaterEqual(li["startTime"], o["startTime"])
            for k in ("recvAppendRequestCnt", "sendAppendRequestCnt"):
                self.assertIsInstance(o[k], int)
        # The leader sends AppendEntries (heartbeats too), followers get
        # them; while it leads, it gets none and they send none. The counts
        # are since each node started, and an earlier re-election (a busy
        # machine) may have had any node lead or follow before: so they
        # are compared with values read once the leader is known, over a
        # time in which it keeps leading in the same term (else again).
        for attempt in range(3):
            lid, term = c.leader()
            fids = c.followers(lid)
            lead0 = get_json(c, lid, "/v2/stats/self")
            fols0 = {i: get_json(c, i, "/v2/stats/self") for i in fids}

            def grew():
                lead = get_json(c, lid, "/v2/stats/self")
                fols = {i: get_json(c, i, "/v2/stats/self") for i in fids}
                ok = (lead["sendAppendRequestCnt"] >
                      lead0["sendAppendRequestCnt"])
                ok &= all(fols[i]["recvAppendRequestCnt"] >
                          fols0[i]["recvAppendRequestCnt"] for i in fols)
                return ok and (lead, fols)
            lead, fols = c.wait_for(grew, scaled(10),
                                    msg="AppendEntries counts to grow")
            if c.agreed_leader() == (lid, term):
                break
        else:
            self.fail("no leader kept its term for a whole measurement in "
                      "3 attempts: %s" % c.describe_statuses())
        self.assertEqual(lead["state"], "StateLeader")
        self.assertEqual(lead["recvAppendRequestCnt"],
                         lead0["recvAppendRequestCnt"],
                         "the leader received AppendEntries in its term")
        for i in fids:
            self.assertEqual(fols[i]["sendAppendRequestCnt"],
                             fols0[i]["sendAppendRequestCnt"],
                             "follower %d sent AppendEntries" % i)
        # rates: present (omitempty) while requests flow, as in etcd
        if "sendPkgRate" in lead:
            self.assertGreater(lead["sendPkgRate"], 0)
            self.assertGreater(lead["sendBandwidthRate"], 0)
        r = c.request(1, "POST", "/v2/stats/self", body=b"")
        self.assertEqual((r.status, r.headers.get("allow")), (405, "GET"))

    def test_leader(self):
        c = self.c
        fids = c.followers(self.lid)
        for i in fids:
            o = get_json(c, i, "/v2/stats/leader", status=403)
            self.assertEqual(o, {"message": "not current leader"})
        first = get_json(c, self.lid, "/v2/stats/leader")
        self.assertEqual(first["leader"], "%x" % self.lid)
        self.assertEqual(sorted(first["followers"]),
                         sorted("%x" % i for i in fids))
        for f in first["followers"].values():
            self.assertEqual(sorted(f), ["counts", "latency"])
            self.assertEqual(list(f["latency"]), [
                "current", "average", "standardDeviation", "minimum",
                "maximum"])
            self.assertEqual(list(f["counts"]), ["fail", "success"])

        def grew():
            o = get_json(c, self.lid, "/v2/stats/leader")
            return all(o["followers"][k]["counts"]["success"] >
                       first["followers"][k]["counts"]["success"]
                       for k in first["followers"]) and o
        o = c.wait_for(grew, scaled(10), msg="success counts to grow")
        for f in o["followers"].values():
            lat = f["latency"]
            self.assertGreater(lat["maximum"], 0)
            self.assertLessEqual(lat["minimum"], lat["average"])
            self.assertLessEqual(lat["average"], lat["maximum"])
            self.assertLessEqual(lat["minimum"], lat["current"])
            self.assertLessEqual(lat["current"], lat["maximum"])
            self.assertGreaterEqual(lat["standardDeviation"], 0)
        # a follower that is gone: its failures are counted
        dead = fids[0]
        fails = o["followers"]["%x" % dead]["counts"]["fail"]
        c.kill(dead)
        c.wait_for(lambda: get_json(c, self.lid, "/v2/stats/leader")
                   ["followers"]["%x" % dead]["counts"]["fail"] > fails,
                   scaled(10), msg="the dead follower's failures to count")

    def store(self, i):
        o = get_json(self.c, i, "/v2/stats/store")
        self.assertEqual(list(o), STORE_FIELDS)
        return o

    def test_store(self):
        c = self.c
        node = c.followers(self.lid)[0]
        before = {i: self.store(i) for i in c.ids()}
        self.assertEqual(kv_put(c, node, "a", "1").status, 201)      # set
        self.assertEqual(kv_put(c, node, "a", "2").status, 200)      # set
        self.assertEqual(kv_get(c, node, "a").status, 200)           # get
        self.assertEqual(kv_get(c, node, "nope").status, 404)        # get fail
        self.assertEqual(kv_put(c, node, "a", "3", prevExist="false")
                         .status, 412)                               # create fail
        self.assertEqual(kv_put(c, node, "b", "1", prevExist="false")
                         .status, 201)                               # create
        self.assertEqual(kv_put(c, node, "a", "4", prevExist="true")
                         .status, 200)                               # update
        self.assertEqual(kv_put(c, node, "a", "5", prevValue="x")
                         .status, 412)                               # cas fail
        self.assertEqual(kv_put(c, node, "a", "5", prevValue="4")
                         .status, 200)                               # cas
        r = c.request(node, "DELETE", "/v2/keys/b?prevValue=1")
        self.assertEqual(r.status, 200)                              # cad
        r = c.request(node, "DELETE", "/v2/keys/b")
        self.assertEqual(r.status, 404)                              # del fail
        r = c.request(node, "DELETE", "/v2/keys/a")
        self.assertEqual(r.status, 200)                              # delete
        writes = {"setsSuccess": 2, "createFail": 1, "createSuccess": 1,
                  "updateSuccess": 1, "compareAndSwapFail": 1,
                  "compareAndSwapSuccess": 1, "compareAndDeleteSuccess": 1,
                  "deleteFail": 1, "deleteSuccess": 1}
        wait_converged(c)

        def moved(i):
            want = dict(before[i])
            for k, d in writes.items():
                want[k] += d
            if i == node:
                want["getsSuccess"] += 1
                want["getsFail"] += 1
            return self.store(i) == want
        for i in c.ids():
            c.wait_for(lambda: moved(i), scaled(10),
                       msg="node %d's store counters" % i)
        # watchers: a waiting watch counts until its event answers it
        got, failed = [], []

        def watch():
            try:
                got.append(c.request(node, "GET", "/v2/keys/w?wait=true",
                                     timeout=scaled(20)))
            except Exception as e:  # reported below, not lost in the thread
                failed.append(e)
        t = threading.Thread(target=watch)
        t.start()
        try:
            c.wait_for(lambda: self.store(node)["watchers"] == 1, scaled(10),
                       msg="one watcher")
        finally:
            kv_put(c, self.lid, "w", "x")
            t.join(scaled(20))
        self.assertFalse(t.is_alive(), "the watch was not answered")
        self.assertTrue(got, "the watch got no answer: %r" % (failed,))
        self.assertEqual(got[0].status, 200)
        c.wait_for(lambda: self.store(node)["watchers"] == 0, scaled(10),
                   msg="no watcher")


class PythonEtcdTest(harness.ClusterTestCase):
    """python-etcd's Client reads /v2/machines (allow_reconnect, .machines)
    and /v2/stats/self with /v2/members (.leader)."""

    def test_client_machines_and_leader(self):
        try:
            import etcd
        except ImportError:
            self.skipTest("python3-etcd not installed (apt-get install "
                          "python3-etcd): python-etcd's client not tried")
        c = self.cluster(3)
        lid, _ = c.leader()
        nd = c.nodes[1]
        urls = sorted(c.nodes[i].url for i in c.ids())
        client = etcd.Client(host=nd.host, port=nd.port, allow_reconnect=True,
                             read_timeout=scaled(10))
        self.assertEqual(client.machines, urls)
        leader = client.leader
        self.assertEqual(leader["id"], "%x" % lid)
        self.assertEqual(leader["clientURLs"], [c.nodes[lid].url])
        client.write("/k", "v")
        self.assertEqual(client.read("/k").value, "v")
