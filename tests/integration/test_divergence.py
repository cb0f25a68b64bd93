"""Divergence (issue 10, item 4): a follower sent an AppendEntries that
gives one of its committed entries another term refuses it without changing
anything, says so once in its log (RAFT_EVENT=diverged, an error), shows
it in GET /status ("diverged") and answers GET /health as unhealthy, for
the rest of the process's life, while the cluster goes on (raftd(8),
DIVERGENCE; src/raft/raft.h, "Divergence").

The forged request is the one of the issue: a higher term, the real
leader's id as leader_id (it passes the membership check), prev_log_index
and prev_log_term matching the follower's log, and one entry at an index
the follower has committed, with the new term and a put command.

Timing as in the harness: heartbeat 50 ms, election timeout 300-600 ms.
"""

import base64
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (kv_get, kv_put, kv_value, raft_headers, scaled,  # noqa: E402
                     wait_converged)

CLIENT_TIMEOUT = 5.0

# The error line of the first evidence (stderr mode; the journal has the
# same text in MESSAGE and the numbers in RAFT_* fields).
DIVERGED_ERROR = re.compile(
    r"error: diverged: committed entry (\d+) has term (\d+) here, but node "
    r"(\d+)'s AppendEntries entries\[\] gives it term (\d+)")


def put_command(key, value):
    """A log entry's command for PUT key=value: the store's encoding
    (kv_encode in src/daemon/kv.c; a command without a client-session
    header is applied as it is, see apply_entry in node.c)."""
    return json.dumps({"op": "set", "key": "/" + key, "value": value},
                      separators=(",", ":")).encode()


def forge_append(c, to, leader_id, term, prev_index, prev_term, entries,
                 commit=0):
    """POST a forged AppendEntries to node `to`, as peer `leader_id` would
    send it (the JSON of src/daemon/rpc.c; entries are (term, command)
    pairs, base64 on the wire). Returns (HTTP status, parsed answer or
    None).

    Peer authentication refuses such a request from anyone without the
    cluster's secret (test_peer_auth.py); this is the second line of
    defence, against a member that holds the secret but went wrong (a bug,
    a corrupted disk, a stolen secret), so the request is signed as
    leader_id would sign it."""
    body = {
        "term": term, "leader_id": leader_id, "to": to,
        "prev_log_index": prev_index, "prev_log_term": prev_term,
        "leader_commit": commit, "seq": 1,
        "entries": [{"term": t, "type": 0,
                     "data": base64.b64encode(cmd).decode()}
                    for t, cmd in entries],
    }
    r = c.peer_request(to, "/raft/append_entries", body, frm=leader_id)
    status, data = r.status, r.body
    try:
        return status, json.loads(data) if data else None
    except ValueError:
        return status, None


def health(c, i):
    r = c.request(i, "GET", "/health")
    return r.status, r.json()


class DivergenceTest(harness.ClusterTestCase):

    def _test_failed(self):
        return harness.test_failed(self)

    def put(self, c, i, key, value):
        r = kv_put(c, i, key, value, timeout=CLIENT_TIMEOUT)
        self.assertIsNotNone(r, "PUT %s through node %d: no answer" % (key, i))
        self.assertIn(r.status, (200, 201), r)
        return raft_headers(r)  # (etcd index, raft index, raft term)

    def test_forged_append_over_a_committed_entry_is_refused_and_reported(self):
        c = self.cluster(3)
        lid, term = c.leader()
        # Two writes through the leader, one right after the other: the
        # second's entry follows the first's, whose index and term are the
        # forged message's prev_log_index and prev_log_term.
        for _ in range(5):
            _, i0, t0 = self.put(c, lid, "forge/prev", "p")
            _, i1, t1 = self.put(c, lid, "forge/k", "original")
            if i1 == i0 + 1:
                break
        self.assertEqual(i1, i0 + 1, "no other entry between the writes")
        wait_converged(c, timeout=scaled(5))
        fid = next(i for i in c.ids() if i != lid)
        before = c.status(fid)
        self.assertGreaterEqual(before["commit_index"], i1)
        self.assertIsNone(before["diverged"])
        self.assertEqual(health(c, fid), (200, {"health": "true", "reason": ""}))
        fterm = before["term"]

        forged = [(term + 1, put_command("forge/k", "forged"))]
        status, ans = forge_append(c, fid, lid, term + 1, i0, t0, forged,
                                   commit=i1)
        # refused: success false, the follower's own term (the forged
        # message's higher term was not taken), seq 0 (acknowledges nothing)
        self.assertEqual(status, 200, ans)
        self.assertIsNotNone(ans)
        self.assertFalse(ans["success"], ans)
        self.assertEqual(ans["term"], fterm, ans)
        self.assertEqual(ans["seq"], 0, ans)

        # the follower's store and log are as they were
        self.assertEqual(kv_value(kv_get(c, fid, "forge/k")), "original")
        st = c.status(fid)
        for k in ("term", "commit_index", "last_log_index", "last_log_term",
                  "leader_id"):
            self.assertEqual(st[k], before[k], "%s changed: %r -> %r"
                             % (k, before[k], st[k]))
        self.assertEqual(st["diverged"], {
            "index": i1, "term": t1, "peer_id": lid, "peer_term": term + 1,
            "message_term": term + 1, "message": "AppendEntries entries[]",
            "refused": 1})
        code, h = health(c, fid)
        self.assertEqual(code, 503, h)
        self.assertEqual(h["health"], "false", h)
        self.assertTrue(h["reason"].startswith(
            "diverged: committed entry %d has term %d here, but node %d's "
            "AppendEntries entries[] gives it term %d" % (i1, t1, lid,
                                                          term + 1)), h)
        m = c.wait_log(fid, DIVERGED_ERROR.pattern)
        self.assertEqual(tuple(int(x) for x in m.groups()),
                         (i1, t1, lid, term + 1))

        # the same evidence again: refused again, not logged again
        status, ans = forge_append(c, fid, lid, term + 1, i0, t0, forged,
                                   commit=i1)
        self.assertEqual(status, 200)
        self.assertFalse(ans["success"])
        c.wait_for(lambda: c.status(fid)["diverged"]["refused"] == 2,
                   scaled(2), msg="second refusal counted")
        self.assertEqual(len(DIVERGED_ERROR.findall(c.log_text(fid))), 1,
                         "one error per distinct evidence")

        # the cluster was not disturbed and goes on: same leader and term,
        # writes through the diverged follower and the leader apply there
        self.assertEqual(c.agreed_leader(), (lid, term))
        self.put(c, fid, "forge/after", "a")
        self.put(c, lid, "forge/k", "rewritten")
        for key, v in (("forge/after", "a"), ("forge/k", "rewritten")):
            c.wait_for(lambda: kv_value(kv_get(c, fid, key)) == v, scaled(3),
                       msg="%s == %r on node %d" % (key, v, fid))
        self.assertEqual(health(c, lid), (200, {"health": "true", "reason": ""}))
        # sticky for the life of the process
        self.assertEqual(health(c, fid)[0], 503)
        self.assertIsNotNone(c.status(fid)["diverged"])

        # Its log is the right one here (the message was forged): a restart
        # forgets the refusal; it is healthy, and has every write.
        c.restart(fid)
        c.wait_for(lambda: health(c, fid)[0] == 200, scaled(5),
                   msg="node %d healthy after its restart" % fid)
        self.assertIsNone(c.status(fid)["diverged"])
        wait_converged(c, timeout=scaled(5))
        self.assertEqual(kv_value(kv_get(c, fid, "forge/k")), "rewritten")


if __name__ == "__main__":
    unittest.main()
