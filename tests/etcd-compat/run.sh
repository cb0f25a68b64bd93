#!/bin/sh
# run.sh - python-etcd's integration suite (Debian's python3-etcd) against
# raftd, through bin/etcd, which turns the etcd flags the suite's helper
# passes into a raftd config (see run_python_etcd.py).
#
# RAFTD names the daemon (default ../../src/raftd from here, else
# ./src/raftd). Exit status 0, 1, or 77 (skipped: no raftd, no python3, no
# python3-etcd). The last line is "N passed, N failed". Uses 127.0.0.1
# ports 6001-6004 (the suite's own choice).
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
exec "$PYTHON" -u "$dir/run_python_etcd.py"
