#!/usr/bin/python3
"""capture-seeds.py - make the fuzzers' seed corpora from a real cluster.

Runs three raftd nodes whose members URLs point at a recording proxy (one
per node, in this script) in front of each node's real listen address, so
every peer request and answer passes through it and is recorded: votes,
AppendEntries with real entries, forwarded writes and reads, a TimeoutNow
(the leader is stopped: it hands over leadership first) and an
InstallSnapshot (a follower is stopped while the others write past a
snapshot and compact their logs, then started again). The data directories
left behind give the WAL and snapshot seeds. The peer secret is
fuzz_peer_auth.c's fixed one, so recorded requests pass its MAC check.

    tests/fuzz/capture-seeds.py [--raftd build/src/raftd] [--out DIR]

writes DIR/<target>/seed-* (default: tests/fuzz/corpus), a few files per
kind of input, and leaves what is already there. Standard library only.
"""

import argparse
import base64
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
# fuzz_peer_auth.c: the secret, and the ports behind its cluster id
SECRET_HEX = "6b3a1f90225ec407813dee124fa0995c317708bd64c21af50e93482bd6708539"
PROXY_PORT = 29101   # node i's members URL: http://127.0.0.1:29100+i
NODE_PORT = 29001    # node i listens on 127.0.0.1:29000+i
SEP = b"\x1e"        # fuzz_keys_api.c: between requests / entries

records = []         # (to_node, method, path, req_headers, req_body,
                     #  status, resp_headers, resp_body, time_ms)
records_lock = threading.Lock()


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    node = 0

    def log_message(self, fmt, *args):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        t = int(time.time() * 1000)
        hdrs = {k: v for k, v in self.headers.items()
                if k.lower() not in ("host", "connection", "content-length",
                                     "expect")}
        try:
            c = http.client.HTTPConnection("127.0.0.1",
                                           NODE_PORT - 1 + self.node,
                                           timeout=10)
            c.request(self.command, self.path, body=body, headers=hdrs)
            r = c.getresponse()
            rbody = r.read()
            status, rh = r.status, dict(r.getheaders())
            c.close()
        except OSError:
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with records_lock:
            records.append((self.node, self.command, self.path, dict(hdrs),
                            body, status, rh, rbody, t))
        self.send_response(status)
        for k, v in rh.items():
            if k.lower() not in ("content-length", "connection", "date",
                                 "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(rbody)))
        self.end_headers()
        self.wfile.write(rbody)

    do_GET = do_POST = do_PUT = do_DELETE = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_proxy(i):
    handler = type("Proxy%d" % i, (Proxy,), {"node": i})
    s = Server(("127.0.0.1", PROXY_PORT - 1 + i), handler)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


def client(i, method, path, form=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", NODE_PORT - 1 + i,
                                   timeout=timeout)
    body = urllib.parse.urlencode(form).encode() if form else None
    hdrs = {"Content-Type": "application/x-www-form-urlencoded"} if form else {}
    c.request(method, path, body=body, headers=hdrs)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


class Cluster:
    def __init__(self, raftd, tmp):
        self.raftd, self.tmp, self.procs = raftd, tmp, {}
        with open(os.path.join(tmp, "peer-secret"), "w") as f:
            f.write(SECRET_HEX + "\n")
        os.chmod(os.path.join(tmp, "peer-secret"), 0o600)
        members = ",\n".join(
            '    { id = %d; url = "http://127.0.0.1:%d"; }'
            % (i, PROXY_PORT - 1 + i) for i in (1, 2, 3))
        for i in (1, 2, 3):
            os.makedirs(os.path.join(tmp, "node%d" % i))
            with open(self.conf(i), "w") as f:
                f.write("# written by capture-seeds.py\n"
                        "id = %d;\nlisten = \"127.0.0.1:%d\";\n"
                        "data_dir = \"%s/node%d\";\n"
                        "peer_secret_file = \"%s/peer-secret\";\n"
                        "heartbeat_ms = 50;\nelection_timeout_min_ms = 400;\n"
                        "election_timeout_max_ms = 800;\n"
                        "snapshot_entries = 24;\nsnapshot_keep_entries = 4;\n"
                        "wal_segment_bytes = 65536;\n"
                        "members = (\n%s\n);\n"
                        % (i, NODE_PORT - 1 + i, tmp, i, tmp, members))

    def conf(self, i):
        return os.path.join(self.tmp, "node%d.conf" % i)

    def start(self, i):
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        log = open(os.path.join(self.tmp, "node%d.log" % i), "ab")
        self.procs[i] = subprocess.Popen(
            [self.raftd, "--config", self.conf(i)], stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, env=env)

    def stop(self, i):
        p = self.procs.pop(i, None)
        if p:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def leader(self, among=(1, 2, 3), timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            for i in among:
                try:
                    st, body = client(i, "GET", "/status", timeout=2)
                    s = json.loads(body)
                    if s.get("state") == "Leader" or s.get("role") == "Leader":
                        return i
                except (OSError, ValueError):
                    pass
            time.sleep(0.1)
        raise RuntimeError("no leader")


def write(i, method, path, form=None):
    for _ in range(50):
        try:
            st, body = client(i, method, path, form)
            if st not in (500, 503, 504):
                return st, body
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("%s %s failed" % (method, path))


def drive(c):
    for i in (1, 2, 3):
        c.start(i)
    lead = c.leader()
    follower = 1 if lead != 1 else 2
    write(follower, "PUT", "/v2/keys/a", {"value": "1"})
    write(follower, "PUT", "/v2/keys/dir", {"dir": "true"})
    write(follower, "PUT", "/v2/keys/dir/b", {"value": "zwei \u00e9\u00e8"})
    write(follower, "POST", "/v2/keys/queue", {"value": "job1"})
    write(follower, "PUT", "/v2/keys/a", {"value": "2", "prevValue": "1"})
    write(follower, "PUT", "/v2/keys/c", {"value": "x", "prevExist": "false"})
    write(follower, "DELETE", "/v2/keys/c?prevIndex=6")
    write(follower, "GET", "/v2/keys/dir?recursive=true&quorum=true")
    for k in range(30):
        write(lead, "PUT", "/v2/keys/k%d" % (k % 7), {"value": "v%d" % k})
    first = os.path.join(c.tmp, "node%d" % lead, "snapshot")
    for _ in range(100):   # the first snapshot: small, a few events
        if os.path.exists(first):
            time.sleep(0.5)
            shutil.copy(first, os.path.join(c.tmp, "first-snapshot"))
            break
        time.sleep(0.1)
    lagging = [i for i in (1, 2, 3) if i not in (lead, follower)][0]
    c.stop(lagging)
    for k in range(60):
        write(lead, "PUT", "/v2/keys/n/%d" % k, {"value": "%d" % (k * k)})
    write(lead, "DELETE", "/v2/keys/n/3")
    c.start(lagging)
    time.sleep(3)          # catches up by InstallSnapshot
    c.stop(lead)           # a leader stopping hands over: TimeoutNow
    lead2 = c.leader(among=[i for i in (1, 2, 3) if i != lead])
    write(lead2, "PUT", "/v2/keys/after", {"value": "transfer"})
    c.start(lead)
    time.sleep(2)
    for i in list(c.procs):
        c.stop(i)


# ---------------------------------------------------------------- seeds

written = set()


def put(out, target, name, data):
    """Write a seed, unless the same bytes are already a seed of target."""
    if (target, data) in written:
        return
    written.add((target, data))
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def pick(recs, path, n, key=lambda r: len(r[4])):
    """Up to n records for path, of different sizes (small to large)."""
    rs = sorted([r for r in recs if r[2] == path], key=key)
    if len(rs) <= n:
        return rs
    return [rs[round(k * (len(rs) - 1) / (n - 1))] for k in range(n)] \
        if n > 1 else rs[:1]


RPC_TYPES = {"/raft/request_vote": (0, 1), "/raft/append_entries": (2, 3),
             "/raft/timeout_now": (4, None)}
PEER_PATHS = ["/raft/request_vote", "/raft/append_entries",
              "/raft/timeout_now", "/raft/install_snapshot", "/raft/propose",
              "/raft/read_index"]


def rpc_seeds(out, recs):
    for path, (req_t, resp_t) in RPC_TYPES.items():
        for k, r in enumerate(pick(recs, path, 4)):
            stem = path.split("/")[-1]
            put(out, "rpc", "%s-%d" % (stem, k), bytes([req_t]) + r[4])
            if resp_t is not None and r[7]:
                put(out, "rpc", "%s-answer-%d" % (stem, k),
                    bytes([resp_t]) + r[7])
    for k, r in enumerate(pick(recs, "/raft/install_snapshot", 2)):
        put(out, "rpc", "install_snapshot-%d" % k, bytes([6]) + r[4])
        line = r[4].split(b"\n", 1)[0]
        put(out, "rpc", "install_snapshot-json-%d" % k, bytes([5]) + line)


def auth_fields(h):
    m = re.search(r"f=(\d+) t=(\d+) ts=(\d+) n=([0-9a-f]+)\.(\d+)", h)
    return m and (int(m[1]), int(m[2]), int(m[3]), int(m[4], 16), int(m[5]))


def peer_auth_seeds(out, recs):
    """Recorded requests and answers, as fuzz_peer_auth.c reads them."""
    n = 0
    for path in PEER_PATHS:
        for r in pick(recs, path, 3):
            h = r[3].get("Raftd-Auth", "")
            f = auth_fields(h)
            if not f:
                continue
            sel = PEER_PATHS.index(path) | (8 if r[1] == "GET" else 0)
            req = struct.pack("<BQ", r[0], f[2]) + h.encode() + b"\n" + r[4]
            put(out, "peer_auth", "request-%d" % n, bytes([sel]) + req)
            ans = r[6].get("Raftd-Auth", "")
            resp = struct.pack("<BBQQH", f[0], f[1], f[3], f[4], r[5]) + \
                ans.encode() + b"\n" + r[7]
            put(out, "peer_auth", "answer-%d" % n,
                bytes([0x20 | PEER_PATHS.index(path)]) + resp)
            n += 1
    # mode 3: signed sequences, 8 bytes per request: incarnation, path and
    # flags (0x80|0x40: for another node, 0x80|0x20: bad MAC), counter
    # relative to the highest seen (i32), timestamp skew (i16, x 4 ms)
    def op(inc, path, delta, skew=0, flags=0):
        return struct.pack("<BBih", inc, path | flags, delta, skew)
    put(out, "peer_auth", "sequence-in-order", b"\x30" + b"".join(
        op(0, p % 6, 1) for p in range(12)))
    put(out, "peer_auth", "sequence-replays", b"\x30" + b"".join([
        op(1, 1, 5), op(1, 1, 0), op(1, 1, -2), op(1, 1, -2), op(1, 1, 2000),
        op(1, 1, -1023), op(1, 1, -1024), op(1, 1, 64), op(1, 1, -63)]))
    put(out, "peer_auth", "sequence-mixed", b"\x30" + b"".join([
        op(2, 0, 1), op(3, 0, 1), op(2, 0, 1, 8000), op(2, 0, 1, -8000),
        op(2, 3, 1, 0, 0xc0), op(2, 3, 1, 0, 0xa0), op(7, 5, 100000)]))


def keys_api_seeds(out, recs):
    # client requests: byte 0 = method (GET HEAD PUT POST DELETE), bits 3-5
    # how a pending operation ends (0: done)
    M = {"GET": 0, "HEAD": 1, "PUT": 2, "POST": 3, "DELETE": 4}
    reqs = [
        ("PUT", "/v2/keys/a", "value=1"),
        ("PUT", "/v2/keys/dir?dir=true", ""),
        ("POST", "/v2/keys/queue", "value=job%201"),
        ("PUT", "/v2/keys/a", "value=2&prevValue=1"),
        ("PUT", "/v2/keys/a?prevIndex=1", "value=3&prevExist=true"),
        ("PUT", "/v2/keys/c", "value=x&prevExist=false"),
        ("DELETE", "/v2/keys/dir?recursive=true&dir=true", ""),
        ("DELETE", "/v2/keys/a", "prevValue=2"),
        ("GET", "/v2/keys/dir?recursive=true&sorted=true", ""),
        ("GET", "/v2/keys/?quorum=true", ""),
        ("GET", "/v2/keys/a?wait=true&waitIndex=2", ""),
        ("GET", "/v2/keys/dir?wait=true&recursive=true", ""),
        ("PUT", "/v2/keys/dir/b", "value=z%C3%A9"),
        ("GET", "/v2/members", ""), ("GET", "/v2/members/leader", ""),
        ("GET", "/health", ""), ("GET", "/version", ""),
        ("PUT", "/v2/keys/t", "value=1&ttl=5"),
    ]
    def enc(m, target, body, how=0):
        return bytes([M[m] | how << 3]) + target.encode() + b"\n" + \
            body.encode()
    for k, (m, t, b) in enumerate(reqs):
        put(out, "keys_api", "request-%02d" % k, b"\x00" + enc(m, t, b))
    # sessions: several requests in a row
    put(out, "keys_api", "session-watch", b"\x00" + SEP.join([
        enc("GET", "/v2/keys/w?wait=true", ""),
        enc("PUT", "/v2/keys/w", "value=fired"),
        enc("GET", "/v2/keys/w", "")]))
    put(out, "keys_api", "session-errors", b"\x00" + SEP.join([
        enc("PUT", "/v2/keys/a", "value=1", 5),
        enc("PUT", "/v2/keys/b", "value=2", 6),
        enc("GET", "/v2/keys/a?quorum=true", "", 4),
        enc("DELETE", "/v2/keys/a", "", 7)]))
    # committed entries, from the AppendEntries recorded
    entries = []
    for r in recs:
        if r[2] == "/raft/append_entries":
            try:
                for e in json.loads(r[4]).get("entries", []):
                    if e["type"] == 0 and e["data"]:
                        entries.append(base64.b64decode(e["data"]))
            except ValueError:
                pass
    seen, uniq = set(), []
    for e in entries:
        if e not in seen:
            seen.add(e)
            uniq.append(e)
    for k in range(0, min(len(uniq), 40), 10):
        put(out, "keys_api", "entries-%d" % k, b"\x01" + SEP.join(uniq[k:k + 10]))


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli), as crc32c.c computes it."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def renumber(seg, first=1):
    """A segment's records as the segment wal-<first>: header and record
    indexes rewritten, checksums made right again."""
    out = bytearray(seg[:8] + struct.pack("<Q", first))
    off, index = 16, first
    while off + 8 <= len(seg):
        n = struct.unpack_from("<I", seg, off)[0]
        if n == 0 or off + 8 + n > len(seg):
            break
        payload = struct.pack("<Q", index) + seg[off + 16:off + 8 + n]
        out += struct.pack("<II", n, crc32c(payload)) + payload
        off += 8 + n
        index += 1
    return bytes(out + seg[off:])


def trim_segment(data):
    """The records of a segment, without its preallocated zeros (and 16 of
    them kept, as a tail the reader must accept)."""
    off = 16
    while off + 8 <= len(data):
        n = struct.unpack_from("<I", data, off)[0]
        if n == 0 or off + 8 + n > len(data):
            break
        off += 8 + n
    return data[:off] + b"\0" * 16


def records_of(seg):
    """The (index, term, type, data) of a segment's records."""
    out, off = [], 16
    while off + 8 <= len(seg):
        n = struct.unpack_from("<I", seg, off)[0]
        if n < 17 or off + 8 + n > len(seg):
            break
        p = seg[off + 8:off + 8 + n]
        out.append((struct.unpack_from("<Q", p, 0)[0],
                     struct.unpack_from("<Q", p, 8)[0], p[16], p[17:]))
        off += 8 + n
    return out


def segment(first, recs, tail=b""):
    """A segment wal-<first> holding recs (term, type, data), indexes from
    first on, checksums right; tail: what follows the records."""
    out = bytearray(b"RAFTDWL1" + struct.pack("<Q", first))
    for k, (term, typ, data) in enumerate(recs):
        payload = struct.pack("<QQB", first + k, term, typ) + data
        out += struct.pack("<II", len(payload), crc32c(payload)) + payload
    return bytes(out) + tail


def snapshot_header(index, term, payload=b"\0" * 16):
    h = b"RAFTDSN1" + struct.pack("<IIQQQ", 1, 0, index, term, len(payload))
    h += struct.pack("<I", crc32c(payload))
    return h + struct.pack("<I", crc32c(h)) + payload


def meta(version, term, vote):
    b = b"RAFTDMT1" + struct.pack("<QQQ", version, term, vote)
    return b + struct.pack("<II", crc32c(b), 0)


def files(*parts):
    """fuzz_wal.c's list of files: (kind, bytes) -> [kind][len u16][bytes]."""
    return b"".join(struct.pack("<BH", k, len(d)) + d for k, d in parts)


def wal_seeds(out, tmp):
    d = os.path.join(tmp, "node1")
    segs = sorted(f for f in os.listdir(d) if f.startswith("wal-"))
    real = records_of(open(os.path.join(d, segs[-1]), "rb").read())
    recs = [(t, ty, data) for _, t, ty, data in real[:12]]
    if len(recs) < 12:
        raise RuntimeError("too few records in %s" % segs[-1])
    term = recs[5][0]
    m1 = open(os.path.join(d, "meta1"), "rb").read()
    m2 = open(os.path.join(d, "meta2"), "rb").read()
    cm = open(os.path.join(d, "commit"), "rb").read()
    # plain: the rest is wal-...1
    put(out, "wal", "segment", b"\x00" + segment(1, recs, b"\0" * 16))
    torn = segment(1, recs[:6])
    put(out, "wal", "segment-torn-tail", b"\x00" + torn[:-7] + b"\0" * 32)
    put(out, "wal", "segment-bad-index-fixed-crc",
        b"\x40" + segment(1, recs[:3]) + segment(9, recs[3:5])[16:])
    put(out, "wal", "segment-header-only", b"\x00RAFTDWL1\x01\0\0\0\0\0\0\0")
    # lists of files (bit 7; bit 6: the harness fixes the checksums)
    put(out, "wal", "datadir", b"\x80" + files(
        (0, m1), (1, m2), (2, cm), (4, segment(1, recs[:8]))))
    put(out, "wal", "two-segments", b"\x80" + files(
        (0, meta(1, 3, 2)), (4, segment(1, recs[:4])),
        (4, segment(5, recs[4:9], b"\0" * 8))))
    put(out, "wal", "gap-between-segments", b"\x80" + files(
        (4, segment(1, recs[:4])), (4, segment(6, recs[5:9]))))
    put(out, "wal", "snapshot-inside-log", b"\x80" + files(
        (0, meta(2, term, 1)), (1, meta(1, term, 0)),
        (3, snapshot_header(6, term)), (4, segment(1, recs[:4])),
        (4, segment(5, recs[4:10]))))
    put(out, "wal", "snapshot-other-term", b"\x80" + files(
        (3, snapshot_header(6, term + 7)), (4, segment(1, recs[:10]))))
    put(out, "wal", "snapshot-after-log", b"\x80" + files(
        (3, snapshot_header(40, term)), (4, segment(1, recs[:10]))))
    put(out, "wal", "snapshot-then-segment", b"\xc0" + files(
        (3, snapshot_header(7, term)), (6, segment(1, recs[:2])),
        (4, segment(8, recs[7:12]))))


def snapshot_seeds(out, tmp):
    first = os.path.join(tmp, "first-snapshot")
    last = os.path.join(tmp, "node1", "snapshot")
    img = open(first if os.path.exists(first) else last, "rb").read()
    put(out, "snapshot", "image", b"\x00" + img)
    put(out, "snapshot", "file", b"\x06" + img)
    payload = img[48:]
    put(out, "snapshot", "payload", b"\x02" + payload)
    off, parts = 0, []
    while off + 8 <= len(payload):
        n = struct.unpack_from("<Q", payload, off)[0]
        parts.append(payload[off + 8:off + 8 + n])
        off += 8 + n
    for mode, name, part in zip((3, 4, 5), ("store", "table", "members"),
                                parts):
        put(out, "snapshot", name, bytes([mode]) + part)
    # without the members part (a snapshot of older raftd)
    put(out, "snapshot", "payload-two-parts", b"\x02" + b"".join(
        struct.pack("<Q", len(p)) + p for p in parts[:2]))
    # the latest one, bigger (a longer event history)
    put(out, "snapshot", "image-latest", b"\x00" + open(last, "rb").read())


def config_seeds(out, tmp, src):
    for i in (1, 2):
        put(out, "config", "node%d.conf" % i, open(os.path.join(
            tmp, "node%d.conf" % i), "rb").read().replace(
                tmp.encode(), b"/var/lib/raftd-fuzz"))
    put(out, "config", "etc-raftd.conf",
        open(os.path.join(src, "etc", "raftd.conf"), "rb").read())
    # this machine found by address (no id; the fuzzer's fixed addresses
    # are 127.0.0.1, 192.0.2.1, ::1 and 2001:db8::1), names, IPv6
    put(out, "config", "find-self.conf", b"""members = (
    { id = 1; url = "http://192.0.2.1:7001"; },
    { id = 2; url = "http://192.0.2.2:7001/"; },
    { id = 3; url = "http://[2001:db8::3]:7001"; }
);
heartbeat_ms = 100; election_timeout_min_ms = 1000;
election_timeout_max_ms = 2000; rpc_timeout_ms = 400;
peer_auth = "none"; log_level = "debug"; max_request_bytes = 65536;
""")
    put(out, "config", "listen-names.conf", b"""listen = "[::]:7002";
data_dir = "/var/lib/raftd";
members = ( { id = 1; url = "http://lab1.example:7001"; },
            { id = 2; url = "http://[::1]:7002"; } );
snapshot_entries = 100; snapshot_keep_entries = 50;
max_snapshot_bytes = 1048576; wal_segment_bytes = 65536;
max_connections = 64; prevote = false; check_quorum = true;
request_timeout_ms = 3000;
""")


def door_seeds(out, recs):
    lines = set()
    for r in recs[:200]:
        lines.add("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (r[1], r[2]))
    for k, l in enumerate(sorted(lines)[:6]):
        put(out, "door", "request-%d" % k, b"\x00" + l.encode())
    put(out, "door", "client-get", b"\x00GET /v2/keys/a?wait=true HTTP/1.1\r\n")
    put(out, "door", "empty-lines", b"\x00\r\n\r\nPUT /v2/keys/x HTTP/1.0\n")
    put(out, "door", "tls-hello", b"\x00\x16\x03\x01\x02\x00\x01\x00\x01\xfc"
        b"\x03\x03" + bytes(range(32)))
    put(out, "door", "half-line", b"\x01POST /raft/append_entries HT")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raftd", default=os.path.join(HERE, "..", "..", "build",
                                                    "src", "raftd"))
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--keep", action="store_true", help="keep the cluster's "
                    "directory")
    a = ap.parse_args()
    for port in [PROXY_PORT + k for k in range(3)] + \
            [NODE_PORT + k for k in range(3)]:
        with socket.socket() as sk:
            if sk.connect_ex(("127.0.0.1", port)) == 0:
                sys.exit("port %d is in use: try again later (the ports are "
                         "fixed: the cluster id fuzz_peer_auth.c expects "
                         "comes from them)" % port)
    tmp = tempfile.mkdtemp(prefix="raftd-capture.")
    proxies = [start_proxy(i) for i in (1, 2, 3)]
    c = Cluster(os.path.abspath(a.raftd), tmp)
    try:
        drive(c)
    finally:
        for i in list(c.procs):
            c.stop(i)
        for p in proxies:
            p.shutdown()
    with records_lock:
        recs = list(records)
    print("recorded %d peer requests: %s" % (len(recs), ", ".join(
        "%s %d" % (p, sum(1 for r in recs if r[2] == p))
        for p in sorted({r[2] for r in recs}))))
    rpc_seeds(a.out, recs)
    peer_auth_seeds(a.out, recs)
    keys_api_seeds(a.out, recs)
    wal_seeds(a.out, tmp)
    snapshot_seeds(a.out, tmp)
    config_seeds(a.out, tmp, os.path.join(HERE, "..", ".."))
    door_seeds(a.out, recs)
    if a.keep:
        print("cluster directory:", tmp)
    else:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
