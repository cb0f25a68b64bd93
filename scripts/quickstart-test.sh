#!/bin/bash
# quickstart-test.sh - on a fresh Debian 12 machine: install the build
# dependencies, build raftd with -Werror and AddressSanitizer +
# UndefinedBehaviorSanitizer in ./build-test, run the whole test suite
# (make check: unit tests, integration tests, and each libFuzzer target for
# 20 s: tests/fuzz, doc/fuzzing.md), then make distcheck.
#
# Prints "N passed, N failed" per test program and in total; exits non-zero
# if anything failed.  Environment:
#   SKIP_DISTCHECK=1   skip make distcheck
#   BUILDDIR=DIR       build somewhere else than ./build-test
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

PACKAGES=(build-essential autoconf automake pkg-config libmicrohttpd-dev
          libcurl4-openssl-dev libconfig-dev libsystemd-dev libcjson-dev
          libssl-dev libgnutls28-dev
          mandoc curl python3 iproute2 nftables etcd-client python3-etcd
          gnuplot-nox openssl
          clang libclang-rt-14-dev valgrind prometheus
          debhelper dpkg-dev lintian chromium)
CONFIGURE_FLAGS=(--enable-werror --enable-sanitizers)

. "$top/scripts/deps.sh"

# Sum the "N passed, N failed" last lines of the test logs under $1/tests.
# A program that failed (per its .trs) without a failed count in its log,
# e.g. one that crashed, counts as one failure.
summarize() {
    local dir=$1 log trs line p f res note tp=0 tf=0
    while IFS= read -r log; do
        trs=${log%.log}.trs
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
        res=$(sed -n 's/^:test-result: //p' "$trs" 2>/dev/null | head -n 1 || true)
        p=0; f=0; note=
        if [ -n "$line" ]; then
            p=${line%% passed*}
            f=${line#*, }; f=${f%% failed}
        else
            note=" (no summary line in the log)"
        fi
        case $res in
        FAIL|ERROR|XPASS) [ "$f" -eq 0 ] && { f=1; note="$note (counted as 1 failure)"; } ;;
        SKIP) note=" (skipped)" ;;
        esac
        printf '  %-30s %-5s %s passed, %s failed%s\n' \
            "${log#"$dir"/}" "${res:-?}" "$p" "$f" "$note"
        tp=$((tp + p)); tf=$((tf + f))
    done < <(find "$dir/tests" -name '*.log' 2>/dev/null | sort)
    printf 'total: %d passed, %d failed\n' "$tp" "$tf"
}

install_deps

b=${BUILDDIR:-$top/build-test}
if [ -f "$top/config.status" ] && [ -z "${BUILDDIR:-}" ]; then
    log "the source tree is configured in place; building and testing there"
    b=$top
fi
status_file=$b/quickstart-test.status
mkdir -p "$b"
: > "$status_file"
step() { printf '%s %s\n' "$1" "$2" >> "$status_file"; }

log "autoreconf -fi"
autoreconf -fi
cd "$b"
log "configure ${CONFIGURE_FLAGS[*]}"
if ! "$top/configure" -q "${CONFIGURE_FLAGS[@]}"; then
    step build fail; echo "configure failed (see $b/config.log)" >&2; exit 1
fi
log "make"
if ! make -s -j"$(nproc)"; then
    step build fail; echo "build failed" >&2; exit 1
fi
step build ok

log "make check"
rm -f test-suite.log
find tests -name '*.log' -delete 2>/dev/null || true
check_rc=0
make -j"$(nproc)" check || check_rc=$?
if [ $check_rc -ne 0 ]; then
    step check fail
    [ -f test-suite.log ] && { log "test-suite.log"; cat test-suite.log; }
else
    step check ok
fi
log "test results"
summarize "$b"

dist_rc=0
if [ $check_rc -eq 0 ] && [ "${SKIP_DISTCHECK:-0}" = 0 ]; then
    log "make distcheck (log: $b/distcheck.log)"
    if make -s distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror \
            > distcheck.log 2>&1; then
        step distcheck ok
        tail -n 4 distcheck.log
    else
        dist_rc=1
        step distcheck fail
        tail -n 60 distcheck.log
    fi
fi

if [ $check_rc -ne 0 ]; then
    echo "FAILED: make check (logs in $b/tests)" >&2
    exit 1
fi
if [ $dist_rc -ne 0 ]; then
    echo "FAILED: make distcheck" >&2
    exit 1
fi
echo "OK: all tests passed"
