#!/bin/sh
# run.sh - python-etcd's integration suite (Debian's python3-etcd) against
# raftd, through bin/etcd, which turns the etcd flags the suite's helper
# passes into a raftd config (see run_python_etcd.py).
#
# RAFTD names the daemon (default ../../src/raftd from here, else
# ./src/raftd). Exit status 0, 1, or 77 (skipped: no raftd, no python3, no
# python3-etcd, or a port taken). The last line is "N passed, N failed".
# Uses 127.0.0.1 ports 6001-6004 and 8001-8003 (the suite's own choice).
#
# The whole run is bounded (ETCD_COMPAT_TIMEOUT seconds, default 900;
# normally it takes under two minutes), so that one hung test cannot hold
# up make check: then SIGTERM, SIGKILL 10 s later, and a failure.
# --foreground keeps timeout in make's process group (Ctrl-C reaches the
# suite); the raftd processes die with the suite (bin/etcd).
dir=$(cd "$(dirname "$0")" && pwd) || exit 99
if [ -z "$RAFTD" ]; then
    if [ -x "$dir/../../src/raftd" ]; then
        RAFTD="$dir/../../src/raftd"
    else
        RAFTD="$PWD/src/raftd"
    fi
fi
if [ ! -x "$RAFTD" ]; then
    echo "SKIP: raftd binary not found at $RAFTD (set RAFTD)"
    echo "0 passed, 0 failed"
    exit 77
fi
RAFTD=$(cd "$(dirname "$RAFTD")" && pwd)/$(basename "$RAFTD")
export RAFTD
PYTHON=${PYTHON:-/usr/bin/python3}
if [ ! -x "$PYTHON" ]; then
    echo "SKIP: $PYTHON not found"
    echo "0 passed, 0 failed"
    exit 77
fi
limit=${ETCD_COMPAT_TIMEOUT:-900}
timeout --foreground -k 10 "$limit" "$PYTHON" -u "$dir/run_python_etcd.py"
rc=$?
if [ "$rc" -eq 124 ]; then
    echo "FAIL: python-etcd's suite did not finish within $limit s"
    echo "0 passed, 1 failed"
    exit 1
elif [ "$rc" -eq 137 ]; then
    echo "FAIL: python-etcd's suite was killed (SIGKILL: still running" \
         "10 s after the timeout's SIGTERM at $limit s, or killed by another)"
    echo "0 passed, 1 failed"
    exit 1
fi
exit "$rc"
