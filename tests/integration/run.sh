#!/bin/sh
# run.sh - raftd's integration tests (an automake TESTS script).
#
#   tests/integration/run.sh [test names, e.g. test_election.ElectionTest]
#
# RAFTD names the daemon binary (default: ../../src/raftd from this
# directory, else ./src/raftd from the current directory, as in a VPATH
# build run by make check); SRCDIR the source tree. Exit status: 0 all
# passed, 1 failures, 77 skipped (no raftd binary or no python3).
# The last line of output is "N passed, N failed".

dir=$(cd "$(dirname "$0")" && pwd) || exit 99

if [ -z "$RAFTD" ]; then
    if [ -x "$dir/../../src/raftd" ]; then
        RAFTD="$dir/../../src/raftd"
    elif [ -x "$PWD/src/raftd" ]; then
        RAFTD="$PWD/src/raftd"
    else
        RAFTD="$dir/../../src/raftd"
    fi
fi
if [ ! -x "$RAFTD" ]; then
    echo "SKIP: raftd binary not found at $RAFTD (set RAFTD)"
    echo "0 passed, 0 failed"
    exit 77
fi
: "${SRCDIR:=$dir/../..}"
export RAFTD SRCDIR

PYTHON=${PYTHON:-/usr/bin/python3}
if [ ! -x "$PYTHON" ]; then
    echo "SKIP: $PYTHON not found"
    echo "0 passed, 0 failed"
    exit 77
fi

exec "$PYTHON" -u "$dir/runner.py" "$@"
