#!/usr/bin/python3
"""scenario.py - the timed scenarios of bench/compare-etcd.sh, for any
cluster that speaks the etcd v2 keys API (raftd, etcd). Standard library
only; every time is time.monotonic() of this one process.

  scenario.py first-read  --urls U1,U2,U3 --key KEY --value VALUE --launch CMD
  scenario.py first-write --urls U1,U2,U3 --launch CMD
      Start the clock, run CMD with /bin/sh (it must only launch the
      servers and return), then every --interval s (default 0.005) send one
      request to the next URL in turn, each on a new connection in its own
      thread (at most 400 in flight, each with --timeout, default 2 s):
      first-read: GET /v2/keys/KEY?quorum=true, done at a 200 whose
      node.value is VALUE; first-write: PUT /v2/keys/coldstart/kN, done at
      a 2xx. Prints one CSV line: seconds (clock start to the answer that
      succeeded), launch_s (how long CMD took), attempts.

  scenario.py failover --urls U1,U2,U3 --pidfiles P1,P2,P3 --resume CMD
                       [--kills K] [--log FILE] [--kills-csv FILE]
      A light write load (a new key per write; --timeout default 1 s per
      write) on a node that does not lead: --rate writes/s (default 100),
      each sent on time on its own connection whatever the earlier ones do
      (open loop), or with --rate 0 one client in a closed loop; after a
      failed write (transport error, timeout, non-2xx) the load moves to
      the next node that was not killed. K times: find the leader (GET
      /v2/stats/self, "state":"StateLeader"), kill -9 it (its pid from the
      pidfile in the same position as its URL), wait for the next
      acknowledged write (the earliest 2xx answer to a write sent after
      the kill; failed writes: those answered after the kill that failed,
      sent before that answer, the ones in flight at the kill included;
      a write in flight at the kill that succeeds is not "the next"),
      run CMD with
      /bin/sh to restart it on its data, wait until it serves the latest
      acknowledged key from its own store (a plain GET) and until a leader
      is known, then pause --settle s (default 1; also before the first).
      --log: every write (seq,url,send_s,answer_s,status,ok), times from
      the start; --kills-csv: per kill (kill,leader,pid,kill_s,next_ack_s,
      to_ack_s,failed_writes,rejoin_s). Prints per kill one line and exits
      0 if every kill was followed by an acknowledged write.
"""
import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def request(url, method, path, body=None, timeout=2.0):
    """(status, body text); status 0 on a transport error or a timeout."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return 0, ""
    finally:
        conn.close()


def run_cmd(cmd):
    subprocess.run(["/bin/sh", "-c", cmd], check=True, stdin=subprocess.DEVNULL)


# ---- first-read, first-write -------------------------------------------------

def first_answer(args, attempt):
    """Launch, then poll with attempt(url, n) -> bool until one succeeds."""
    urls = args.urls.split(",")
    done = threading.Event()
    result = {}
    lock = threading.Lock()
    inflight = threading.Semaphore(400)

    def one(url, n):
        try:
            if attempt(url, n):
                t = now()
                with lock:
                    if "t" not in result or t < result["t"]:
                        result["t"] = t
                done.set()
        finally:
            inflight.release()

    start = now()
    run_cmd(args.launch)
    launch_s = now() - start
    n = 0
    deadline = start + args.deadline
    next_at = now()
    while not done.is_set() and now() < deadline:
        if inflight.acquire(timeout=args.interval):
            threading.Thread(target=one, args=(urls[n % len(urls)], n), daemon=True).start()
            n += 1
        next_at += args.interval
        pause = next_at - now()
        if pause > 0:
            done.wait(pause)
    if not done.is_set():
        print("scenario.py: no success within %g s" % args.deadline, file=sys.stderr)
        return 1
    done.wait(0.05)  # an earlier attempt may answer a moment later
    with lock:
        print("%.4f,%.4f,%d" % (result["t"] - start, launch_s, n))
    return 0


def cmd_first_read(args):
    path = "/v2/keys/%s?quorum=true" % args.key

    def attempt(url, n):
        st, body = request(url, "GET", path, timeout=args.timeout)
        if st != 200:
            return False
        try:
            return json.loads(body)["node"]["value"] == args.value
        except (ValueError, KeyError, TypeError):
            return False
    return first_answer(args, attempt)


def cmd_first_write(args):
    def attempt(url, n):
        st, _ = request(url, "PUT", "/v2/keys/coldstart/k%d" % n,
                        body="value=v%d" % n, timeout=args.timeout)
        return 200 <= st < 300
    return first_answer(args, attempt)


# ---- failover ----------------------------------------------------------------

def is_leader(url):
    st, body = request(url, "GET", "/v2/stats/self", timeout=0.5)
    if st != 200:
        return False
    try:
        return json.loads(body).get("state") == "StateLeader"
    except ValueError:
        return False


def find_leader(urls, dead, timeout):
    deadline = now() + timeout
    while now() < deadline:
        for i, u in enumerate(urls):
            if i not in dead and is_leader(u):
                return i
        time.sleep(0.02)
    return None


class Writer(threading.Thread):
    """The light write load: rate > 0, open loop (a write every 1/rate s,
    each on its own connection in its own thread, whatever the earlier
    ones do); rate 0, one client in a closed loop (keep-alive)."""

    def __init__(self, urls, timeout, log, rate):
        super().__init__(daemon=True)
        self.urls = urls
        self.timeout = timeout
        self.log = log
        self.rate = rate
        self.lock = threading.Lock()
        self.target = 0
        self.dead = set()
        self.writes = []  # (seq, url index, send_s, answer_s, status, ok), answer order
        self.last_ok_seq = -1
        self.stop = threading.Event()
        self.inflight = threading.Semaphore(400)
        self.conn = None
        self.conn_url = None

    def aim(self, index):
        with self.lock:
            self.target = index

    def _put(self, url, seq):
        body = "value=v%d" % seq
        for attempt in (0, 1):  # a kept-alive connection may have gone stale
            if self.conn is None or self.conn_url != url:
                if self.conn:
                    self.conn.close()
                u = urllib.parse.urlsplit(url)
                self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=self.timeout)
                self.conn_url = url
                fresh = True
            else:
                fresh = False
            try:
                self.conn.request("PUT", "/v2/keys/failover/k%d" % seq, body=body,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
                r = self.conn.getresponse()
                r.read()
                return r.status
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                # retry once only if a reused connection was closed by the
                # server before this request (not a timeout)
                if fresh or isinstance(e, TimeoutError) or attempt == 1:
                    return 0
        return 0

    def last_ok_key(self):
        with self.lock:
            return "failover/k%d" % self.last_ok_seq if self.last_ok_seq >= 0 else None

    def record(self, seq, i, t, a, st):
        ok = 200 <= st < 300
        with self.lock:
            self.writes.append((seq, i, t, a, st, ok))
            if ok:
                self.last_ok_seq = max(self.last_ok_seq, seq)
            elif self.target == i:
                # the next node that was not killed
                for k in range(1, len(self.urls) + 1):
                    j = (i + k) % len(self.urls)
                    if j not in self.dead:
                        self.target = j
                        break
            if self.log:
                self.log.write("%d,%s,%.6f,%.6f,%d,%d\n" % (seq, self.urls[i], t, a, st, ok))
        return ok

    def one(self, seq, i):
        try:
            t = now()
            st, _ = request(self.urls[i], "PUT", "/v2/keys/failover/k%d" % seq,
                            body="value=v%d" % seq, timeout=self.timeout)
            self.record(seq, i, t, now(), st)
        finally:
            self.inflight.release()

    def run(self):
        seq = 0
        if self.rate > 0:
            period = 1.0 / self.rate
            next_at = now()
            while not self.stop.is_set():
                if self.inflight.acquire(timeout=period):
                    with self.lock:
                        i = self.target
                    threading.Thread(target=self.one, args=(seq, i), daemon=True).start()
                    seq += 1
                next_at += period
                pause = next_at - now()
                if pause > 0:
                    self.stop.wait(pause)
                else:
                    next_at = now()  # behind: no burst to catch up
            return
        while not self.stop.is_set():
            with self.lock:
                i = self.target
            t = now()
            st = self._put(self.urls[i], seq)
            if not self.record(seq, i, t, now(), st):
                time.sleep(0.001)  # no busy loop against a refusing port
            seq += 1


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


def cmd_failover(args):
    urls = args.urls.split(",")
    pidfiles = args.pidfiles.split(",")
    if len(pidfiles) != len(urls):
        print("scenario.py: --pidfiles must match --urls", file=sys.stderr)
        return 64
    log = open(args.log, "w", buffering=1) if args.log else None
    if log:
        log.write("seq,url,send_s,answer_s,status,ok\n")
    kc = open(args.kills_csv, "w", buffering=1) if args.kills_csv else None
    if kc:
        kc.write("kill,leader,pid,kill_s,next_ack_s,to_ack_s,failed_writes,rejoin_s\n")
    lead = find_leader(urls, set(), 30)
    if lead is None:
        print("scenario.py: no leader in 30 s", file=sys.stderr)
        return 1
    w = Writer(urls, args.timeout, log, args.rate)
    w.aim((lead + 1) % len(urls))
    w.start()
    time.sleep(args.settle)
    status = 0
    results = []
    for k in range(1, args.kills + 1):
        lead = find_leader(urls, set(), 30)
        if lead is None:
            print("scenario.py: kill %d: no leader in 30 s" % k, file=sys.stderr)
            status = 1
            break
        w.aim((lead + 1) % len(urls))  # a node that does not lead
        # writes must be flowing to a node that does not lead: 20 in a row
        # acknowledged, the last one just now
        deadline = now() + 30
        while now() < deadline:
            with w.lock:
                recent = w.writes[-20:]
                if (len(recent) == 20 and all(x[5] and x[1] != lead for x in recent)
                        and now() - recent[-1][3] < 0.2):
                    break
            time.sleep(0.01)
        pid = read_pid(pidfiles[lead])
        with w.lock:
            w.dead = {lead}
            first = len(w.writes)  # the writes answered from now on
        tk = now()
        os.kill(pid, signal.SIGKILL)
        # the next acknowledged write
        next_ack = None
        deadline = tk + 60
        while now() < deadline and next_ack is None:
            time.sleep(0.002)
            with w.lock:
                acked = [x[3] for x in w.writes[first:] if x[2] > tk and x[5]]
            if acked:
                next_ack = min(acked)
        # the outcome of every write sent before the next acknowledged one
        time.sleep(args.timeout + 0.2)
        with w.lock:
            failed = sum(1 for x in w.writes[first:]
                         if x[3] > tk and not x[5] and (next_ack is None or x[2] <= next_ack))
        if next_ack is None:
            print("scenario.py: kill %d: no write acknowledged within 60 s" % k, file=sys.stderr)
            status = 1
        # the killed node again, on its data, until it has caught up
        tr = now()
        run_cmd(args.resume)
        rejoin = None
        deadline = tr + 60
        while now() < deadline:
            key = w.last_ok_key()
            st, body = request(urls[lead], "GET", "/v2/keys/%s" % key, timeout=0.5)
            if st == 200 and find_leader(urls, set(), 0.5) is not None:
                rejoin = now() - tr
                break
            time.sleep(0.02)
        with w.lock:
            w.dead = set()
        to_ack = next_ack - tk if next_ack is not None else None
        results.append(to_ack)
        line = "%d,%s,%d,%.6f,%s,%s,%d,%s" % (
            k, urls[lead], pid, tk, "%.6f" % next_ack if next_ack is not None else "",
            "%.4f" % to_ack if to_ack is not None else "", failed,
            "%.3f" % rejoin if rejoin is not None else "")
        if kc:
            kc.write(line + "\n")
        print("kill %d: leader %s (pid %d): next write acknowledged after %s s, "
              "%d failed writes meanwhile; back after %s s"
              % (k, urls[lead], pid, "%.3f" % to_ack if to_ack is not None else "never",
                 failed, "%.2f" % rejoin if rejoin is not None else "never"),
              file=sys.stderr)
        if rejoin is None:
            print("scenario.py: kill %d: the killed node did not catch up in 60 s" % k,
                  file=sys.stderr)
            status = 1
            break
        time.sleep(args.settle)
    w.stop.set()
    w.join(args.timeout + 1)
    ok = [r for r in results if r is not None]
    if ok:
        print("scenario.py: time to the next acknowledged write: median %.3f s, max %.3f s "
              "over %d kills" % (statistics.median(ok), max(ok), len(ok)), file=sys.stderr)
    return status


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("first-read", "first-write"):
        s = sub.add_parser(name)
        s.add_argument("--urls", required=True)
        s.add_argument("--launch", required=True)
        s.add_argument("--interval", type=float, default=0.005)
        s.add_argument("--timeout", type=float, default=2.0)
        s.add_argument("--deadline", type=float, default=120.0)
        if name == "first-read":
            s.add_argument("--key", required=True)
            s.add_argument("--value", required=True)
    s = sub.add_parser("failover")
    s.add_argument("--urls", required=True)
    s.add_argument("--pidfiles", required=True)
    s.add_argument("--resume", required=True)
    s.add_argument("--kills", type=int, default=5)
    s.add_argument("--rate", type=float, default=100.0)
    s.add_argument("--timeout", type=float, default=1.0)
    s.add_argument("--settle", type=float, default=1.0)
    s.add_argument("--log")
    s.add_argument("--kills-csv")
    args = p.parse_args()
    if args.cmd == "first-read":
        return cmd_first_read(args)
    if args.cmd == "first-write":
        return cmd_first_write(args)
    return cmd_failover(args)


if __name__ == "__main__":
    sys.exit(main())
