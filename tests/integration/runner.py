"""runner.py - run the integration tests (unittest discovery in this
directory, or the test names given as arguments), verbosely, then print
"N passed, N failed" as the last line. Exit status: 0 all passed, 1 some
failed, 77 (automake SKIP) if nothing ran because everything was skipped.
"""

import os
import signal
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def _interrupt(signum, frame):
    # SIGTERM/SIGHUP (e.g. a test-harness timeout): unwind so that cleanups
    # and the harness's atexit hook stop the raftd processes we started.
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv):
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    if argv:
        suite = loader.loadTestsFromNames(argv)
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2)
    result = runner.run(suite)

    def case_id(test):
        # subtest failures are reported per subtest: count the test once
        return getattr(test, "test_case", test).id()

    failed = {case_id(t) for t, _ in result.failures + result.errors}
    failed |= {case_id(t) for t in result.unexpectedSuccesses}
    skipped = {case_id(t) for t, _ in result.skipped} - failed
    passed = result.testsRun - len(failed) - len(skipped)
    if skipped:
        print("%d skipped" % len(skipped))
    sys.stdout.flush()
    print("%d passed, %d failed" % (passed, len(failed)))
    sys.stdout.flush()
    if failed:
        return 1
    if passed == 0:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
