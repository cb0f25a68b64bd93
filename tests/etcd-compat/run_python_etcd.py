"""run_python_etcd.py - python-etcd's own integration suite against raftd.

Debian's python3-etcd (0.4.5) ships etcd/tests/integration/test_simple.py:
17 tests that start 3-node clusters with the etcd found in PATH (helper
ports 6001-6003 for clients, 8001-8003 for peers, on 127.0.0.1) and use
the library as an application would. Here PATH starts with bin/, whose
`etcd` writes a raftd.conf from the helper's etcd flags and execs raftd.

All 17 are expected to pass (test_directory_ttl_update since raftd has TTL
keys); EXPECTED_FAILURES lists any that may not, with the reason.

The suite's timing is its own (fixed sleeps: 2 s after each start and
kill, 0.5-1 s before watch changes); it is not changed here. raftd's is
the integration harness's (bin/etcd: elections within 300-600 ms), well
inside those sleeps.

The suite imports nose.tools.nottest only; without python3-nose a stand-in
module is put on sys.path. Prints "N passed, N failed" last; exit status
0, 1, or 77 (skipped) when python3-etcd is not installed or one of the
suite's ports is taken.

The raftd processes are stopped at the end, at exit, and on SIGTERM or
SIGHUP (run.sh's timeout sends SIGTERM); each also dies with this process
(bin/etcd sets PR_SET_PDEATHSIG), whatever way it ends.
"""

import atexit
import os
import shutil
import signal
import socket
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# The suite's fixed ports on 127.0.0.1: clients 6001-6003 (raftd's member
# URLs), peers 8001-8003 (passed to bin/etcd), and 6004, where a test
# expects no server at all (test_reconnect_with_several_hosts_passed).
PORTS = list(range(6001, 6005)) + list(range(8001, 8004))
EXPECTED_FAILURES = {}


def ports_taken():
    """The PORTS something else holds (bound or listening), as a server
    binds them: another run of this suite, an etcd, anything."""
    taken = []
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                taken.append(port)
    return taken


def main():
    try:
        import etcd  # noqa: F401
        import OpenSSL  # noqa: F401  (the suite's helpers need it)
    except ImportError as e:
        print("SKIP: %s: install python3-etcd (Debian) to run python-etcd's "
              "integration suite against raftd" % e)
        print("0 passed, 0 failed")
        return 77
    taken = ports_taken()
    if taken:
        print("SKIP: 127.0.0.1 port(s) %s in use: python-etcd's suite needs "
              "ports 6001-6004 and 8001-8003 free (is another run of it, or "
              "an etcd, going on?)" % ", ".join(map(str, taken)))
        print("0 passed, 0 failed")
        return 77
    work = tempfile.mkdtemp(prefix="raftd-python-etcd.")
    try:
        import nose.tools  # noqa: F401
    except ImportError:
        os.makedirs(os.path.join(work, "shim", "nose"))
        with open(os.path.join(work, "shim", "nose", "__init__.py"), "w"):
            pass
        with open(os.path.join(work, "shim", "nose", "tools.py"), "w") as f:
            f.write("def nottest(f):\n    f.__test__ = False\n    return f\n")
        sys.path.insert(0, os.path.join(work, "shim"))
    logs = os.path.join(work, "logs")
    os.makedirs(logs)
    os.environ["RAFTD_LOG_DIR"] = logs
    os.environ["PATH"] = os.path.join(HERE, "bin") + os.pathsep + \
        os.environ.get("PATH", "")
    tempfile.tempdir = work  # the helper's data directories go in here
    from etcd.tests.integration import test_simple as ts

    # Whatever happens, no raftd of ours outlives this run (by PID: the
    # helper's Popen objects; the wrapper execs raftd in the same process).
    helpers = []

    def stop_leftovers():
        for h in helpers:
            for _, proc in list(getattr(h, "processes", {}).values()):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    atexit.register(stop_leftovers)

    # Not SystemExit: unittest would take it for a test's error and go on.
    def on_signal(signum, _frame):
        print("\nrun_python_etcd: %s: stopping raftd and exiting; raftd "
              "logs kept in %s" % (signal.Signals(signum).name, logs),
              flush=True)
        stop_leftovers()
        os._exit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    orig_init = ts.helpers.EtcdProcessHelper.__init__

    def tracking_init(self, *a, **kw):
        orig_init(self, *a, **kw)
        helpers.append(self)
    ts.helpers.EtcdProcessHelper.__init__ = tracking_init

    for name, why in EXPECTED_FAILURES.items():
        cls, meth = name.split(".")
        print("expected failure: %s: %s" % (name, why))
        setattr(getattr(ts, cls), meth,
                unittest.expectedFailure(getattr(getattr(ts, cls), meth)))
    suite = unittest.TestLoader().loadTestsFromModule(ts)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    stop_leftovers()
    failed = len(result.failures) + len(result.errors) + \
        len(result.unexpectedSuccesses)
    xfail = len(result.expectedFailures)
    passed = result.testsRun - failed - len(result.skipped) - xfail
    print("python-etcd's suite against raftd: %d of %d passed, %d expected "
          "failure(s), %d skipped" % (passed, result.testsRun, xfail,
                                       len(result.skipped)))
    if failed:
        print("raftd logs kept in %s" % logs)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
