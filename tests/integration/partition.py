"""partition.py - network partitions between raftd nodes on loopback, with nft.

The harness puts node i on 127.0.0.(10+i), all nodes of a cluster on one
port P, and raftd binds its outgoing peer connections to its own listen
address (CURLOPT_INTERFACE "host!<ip>"). A link between two nodes can then
be cut in the root network namespace by dropping, in an output hook, the
packets with `ip saddr A ip daddr B` -- the test clients connect from
127.0.0.1 and are never affected.

Other clusters (other test runs on the same machine) use the same
127.0.0.1x addresses with other ports, so every rule also matches the
cluster's port: packets A->B to port P (A's requests to B) and from port P
(A's answers on connections B opened). Dropping A->B therefore breaks every
TCP connection between A and B in both directions (a handshake needs both
ways); what a one-way cut adds over a full one is that B's packets still
reach A (e.g. B's requests arrive, A's answers do not).

    p = Partitioner(cluster)    # creates table inet raftd_test_<pid>_<n>
    p.isolate([1])              # node 1 against everyone else
    p.split([1, 2], [3, 4, 5])  # groups; no traffic between groups
    p.cut(1, 2)                 # both directions
    p.cut(1, 2, oneway=True)    # only packets from 1 to 2
    p.heal()                    # remove every drop rule
    p.count(2, 1)               # start counting data packets 2 -> 1
    p.counter(2, 1)             # (packets, bytes) since count()/reset
    p.dropped()                 # packets the drop rules matched so far
    p.close()                   # delete the table (idempotent)

Use partitioner(testcase, cluster) in tests: it skips the test (with the
reason) when nft is missing or not permitted, or the cluster's nodes do not
have distinct addresses, and deletes the table at cleanup even if the test
failed. An atexit hook deletes tables this process still holds.

This is independent of Cluster.partition() (SIGSTOP), which keeps working.
"""

import atexit
import itertools
import json
import os
import shutil
import subprocess
import unittest

NFT = shutil.which("nft") or "/usr/sbin/nft"

_seq = itertools.count(1)
_live = set()


class NftUnavailable(Exception):
    pass


def _nft(script=None, args=(), timeout=10):
    """Run nft (a script on stdin with -f -); returns stdout. Raises
    NftUnavailable if nft is missing, RuntimeError if it fails."""
    cmd = [NFT] + list(args)
    if script is not None:
        cmd += ["-f", "-"]
    try:
        p = subprocess.run(cmd, input=script, capture_output=True, text=True,
                           timeout=timeout)
    except FileNotFoundError as e:
        raise NftUnavailable("nft not found (%s)" % e)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s\n%s"
                           % (" ".join(cmd), p.returncode, p.stderr.strip(),
                              script or ""))
    return p.stdout


_AVAILABLE = None


def nft_unavailable_reason():
    """None if nft can create and delete a table here, else why not."""
    global _AVAILABLE
    if _AVAILABLE is None:
        name = "raftd_probe_%d" % os.getpid()
        if not (os.path.isfile(NFT) and os.access(NFT, os.X_OK)):
            _AVAILABLE = "nft is not installed (apt-get install nftables)"
        else:
            try:
                _nft("add table inet %s\ndelete table inet %s\n"
                     % (name, name))
                _AVAILABLE = ""
            except (NftUnavailable, RuntimeError, OSError,
                    subprocess.TimeoutExpired) as e:
                _AVAILABLE = ("nft is not permitted here (needs root or "
                              "CAP_NET_ADMIN): %s" % str(e).splitlines()[0])
    return _AVAILABLE or None


class Partitioner:
    """nft drop rules between the nodes of one harness Cluster (or any
    {id: (ip, port)} mapping given as nodes=)."""

    def __init__(self, cluster=None, nodes=None):
        if nodes is None:
            nodes = {i: (nd.host, nd.port) for i, nd in cluster.nodes.items()}
        self.nodes = dict(nodes)
        ips = [h for h, _ in self.nodes.values()]
        if len(set(ips)) != len(ips):
            raise NftUnavailable(
                "nodes do not have distinct addresses (%s): nft cannot tell "
                "them apart" % ", ".join(sorted(set(ips))))
        self.table = "raftd_test_%d_%d" % (os.getpid(), next(_seq))
        self.blocked = set()      # (src id, dst id): packets src -> dst drop
        self.counters = {}        # (src id, dst id) -> counter name
        self.closed = False
        _nft("add table inet {t}\n"
             "add chain inet {t} output {{ type filter hook output priority "
             "filter; policy accept; }}\n"
             "add counter inet {t} dropped\n".format(t=self.table))
        _live.add(self)

    # ---- rules

    def _addr(self, i):
        return self.nodes[i]

    def _rules(self):
        lines = []
        for (s, d), name in sorted(self.counters.items()):
            (sh, sp), (dh, dp) = self._addr(s), self._addr(d)
            # data-carrying segments only (IPv4 + TCP headers with
            # timestamps are 52 bytes): requests to d and answers to s
            for port_match in ("tcp dport %d" % dp, "tcp sport %d" % sp):
                lines.append('add rule inet %s output ip saddr %s ip daddr %s '
                             '%s ip length > 64 counter name "%s"'
                             % (self.table, sh, dh, port_match, name))
        for s, d in sorted(self.blocked):
            (sh, sp), (dh, dp) = self._addr(s), self._addr(d)
            for port_match in ("tcp dport %d" % dp, "tcp sport %d" % sp):
                lines.append('add rule inet %s output ip saddr %s ip daddr %s '
                             '%s counter name "dropped" drop'
                             % (self.table, sh, dh, port_match))
        return lines

    def _apply(self):
        """Replace the chain's rules in one atomic transaction."""
        if self.closed:
            raise RuntimeError("partitioner is closed")
        _nft("\n".join(["flush chain inet %s output" % self.table] +
                       self._rules()) + "\n")

    def cut(self, a, b, oneway=False):
        """Drop packets a -> b (and b -> a unless oneway)."""
        self.blocked.add((a, b))
        if not oneway:
            self.blocked.add((b, a))
        self._apply()

    def uncut(self, a, b, oneway=False):
        self.blocked.discard((a, b))
        if not oneway:
            self.blocked.discard((b, a))
        self._apply()

    def split(self, *groups):
        """No traffic between nodes of different groups (nodes not named
        in any group form one more group). Replaces earlier cuts."""
        named = set(itertools.chain.from_iterable(groups))
        rest = [i for i in self.nodes if i not in named]
        groups = [list(g) for g in groups] + ([rest] if rest else [])
        self.blocked = set()
        for g1, g2 in itertools.permutations(groups, 2):
            for a in g1:
                for b in g2:
                    self.blocked.add((a, b))
        self._apply()

    def isolate(self, ids):
        """Cut each node in ids off from every node not in ids."""
        self.split(list(ids))

    def heal(self):
        self.blocked = set()
        self._apply()

    # ---- counters

    def count(self, a, b):
        """Count data packets a -> b between the cluster's nodes from now
        on (both a's requests to b and a's answers to b)."""
        name = "c_%s_%s" % (a, b)
        if (a, b) not in self.counters:
            _nft("add counter inet %s %s\n" % (self.table, name))
            self.counters[(a, b)] = name
            self._apply()
        else:
            self.reset_counter(a, b)

    def _read(self, name, reset=False):
        out = _nft(args=["-j", "reset" if reset else "list", "counter",
                         "inet", self.table, name])
        for obj in json.loads(out).get("nftables", []):
            c = obj.get("counter")
            if c:
                return c.get("packets", 0), c.get("bytes", 0)
        return 0, 0

    def counter(self, a, b):
        """(packets, bytes) counted a -> b (see count())."""
        return self._read(self.counters[(a, b)])

    def reset_counter(self, a, b):
        return self._read(self.counters[(a, b)], reset=True)

    def dropped(self):
        """Packets dropped by the cut rules since the table was made."""
        return self._read("dropped")[0]

    def list_rules(self):
        return _nft(args=["list", "table", "inet", self.table])

    # ---- teardown

    def close(self):
        if self.closed:
            return
        self.closed = True
        _live.discard(self)
        try:
            _nft("delete table inet %s\n" % self.table)
        except (RuntimeError, NftUnavailable, OSError,
                subprocess.TimeoutExpired):
            pass  # already gone

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@atexit.register
def _delete_leftover_tables():
    for p in list(_live):
        p.close()


def partitioner(testcase, cluster):
    """A Partitioner for cluster that is closed at the test's cleanup
    (registered after the cluster's, so it runs first). Skips the test if
    nft cannot be used."""
    why = nft_unavailable_reason()
    if why:
        raise unittest.SkipTest("partition tests need nft: " + why)
    try:
        p = Partitioner(cluster)
    except NftUnavailable as e:
        raise unittest.SkipTest("partition tests need nft: %s" % e)
    testcase.addCleanup(p.close)
    return p


def peer_connection_sources(cluster):
    """{node id: set of local IPs its established TCP connections to the
    other nodes' ports use}, from ss(8). With raftd binding its peer
    connections to its listen address this is {i: {its own IP}}."""
    ss = shutil.which("ss") or "/usr/bin/ss"
    try:
        out = subprocess.run([ss, "-Htnp", "state", "established"],
                             capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    targets = {"%s:%d" % (nd.host, nd.port) for nd in cluster.nodes.values()}
    pids = {nd.pid: i for i, nd in cluster.nodes.items() if nd.running()}
    res = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        local, peer = parts[2], parts[3]
        if peer not in targets or "pid=" not in line:
            continue
        try:
            pid = int(line.split("pid=")[1].split(",")[0])
        except ValueError:
            continue
        if pid in pids:
            res.setdefault(pids[pid], set()).add(local.rsplit(":", 1)[0])
    return res


def check_partitions_work(testcase, cluster, p, a, b, settle=1.0):
    """Fail with a clear message if cutting a from b does not drop any
    packet within settle seconds (as happens while raftd's peer connections
    come from 127.0.0.1 instead of the node's own address). Leaves the
    link healed. Returns the packets dropped."""
    import time
    before = p.dropped()
    p.cut(a, b)
    deadline = time.monotonic() + settle
    n = 0
    while time.monotonic() < deadline:
        n = p.dropped() - before
        if n:
            break
        time.sleep(0.05)
    p.uncut(a, b)
    if not n:
        testcase.fail(
            "nft partition rules matched no packets between nodes %d and %d "
            "in %.1fs: raftd's peer connections do not come from the nodes' "
            "own addresses (source addresses seen: %s). raftd must bind "
            "outgoing peer connections to its listen IP "
            "(CURLOPT_INTERFACE host!<ip>) for partitions to work."
            % (a, b, settle, peer_connection_sources(cluster)))
    return n
