#!/bin/bash
# smoke.sh - raftd-bench end to end (an automake TESTS script).
#
# Starts a local 3-node raftd cluster on 127.0.0.1 through raftd-bench's
# built-in launcher (scripts/raftd-cluster), runs a sweep of 2 levels of
# 2 s each with a mix of every operation, and checks the results: one CSV
# row per level, nonzero throughput, monotone CDFs ending at 1, per-client
# files, the plots when gnuplot is installed, the combined "plot"
# subcommand, and that no node outlives the run.
#
# Environment (given by make check): RAFTD (the daemon), SRCDIR (source
# tree), BUILDDIR (build tree, holding src/raftd-bench). Exit status: 0 all
# passed, 1 failures, 77 skipped (a prerequisite is missing). The last
# line of output is "N passed, N failed".

here=$(cd "$(dirname "$0")" && pwd) || exit 99
: "${SRCDIR:=$here/../..}"
: "${BUILDDIR:=$PWD}"
: "${RAFTD:=$BUILDDIR/src/raftd}"
BENCH=${RAFTD_BENCH:-$BUILDDIR/src/raftd-bench}
LAUNCHER=$SRCDIR/scripts/raftd-cluster

skip() {
    echo "SKIP: $*"
    echo "0 passed, 0 failed"
    exit 77
}
[ -x "$RAFTD" ] || skip "raftd not found at $RAFTD (set RAFTD)"
[ -x "$BENCH" ] || skip "raftd-bench not found at $BENCH (set BUILDDIR)"
[ -x "$LAUNCHER" ] || skip "raftd-cluster not found at $LAUNCHER (set SRCDIR)"
command -v awk >/dev/null || skip "awk not found"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
    local d=$1
    shift
    if "$@"; then ok "$d"; else fail "$d"; fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/raftd-bench-smoke.XXXXXX") || exit 99
out=$tmp/out
bench_pid=

# Nodes started for this test: their command lines hold our unique $tmp.
our_nodes() {
    local p
    for p in /proc/[0-9]*; do
        { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -qF -- "--config $tmp/" &&
            echo "${p#/proc/}"
    done
}
cleanup() {
    if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -TERM "$bench_pid" 2>/dev/null   # it stops its cluster
        for _ in $(seq 1 100); do
            kill -0 "$bench_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$bench_pid" 2>/dev/null
    fi
    local p
    for p in $(our_nodes); do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Three free consecutive ports on 127.0.0.1, below the ephemeral range
# (Linux: 32768-60999) so that no outgoing connection holds one.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=
for _ in $(seq 1 50); do
    b=$((20000 + RANDOM % 12000))
    if port_free "$b" && port_free $((b + 1)) && port_free $((b + 2)); then
        base=$b
        break
    fi
done
[ -n "$base" ] || skip "no three free ports found"

echo "# raftd-bench sweep: 3 nodes from port $base, levels 1,4, 2 s each"
"$BENCH" --local 3 --raftd "$RAFTD" --launcher "$LAUNCHER" --local-port "$base" \
    --local-fast -c 1,4 -d 2 -w 0.5 --settle 0.2 --leader-timeout 30 \
    -O mix --mix put=40,get=30,qget=20,cas=10 -k 100 -s 64 --timeout 3000 \
    -o "$out" -l smoke > "$tmp/bench.log" 2>&1 &
bench_pid=$!
wait "$bench_pid"
rc=$?
bench_pid=
sed 's/^/  | /' "$tmp/bench.log"
check "raftd-bench exits with status 0 (got $rc)" [ "$rc" -eq 0 ]
if [ "$rc" -ne 0 ]; then
    for l in "$out"/cluster/cluster-level-*.log; do
        [ -f "$l" ] && { echo "# $l:"; tail -n 30 "$l" | sed 's/^/  | /'; }
    done
fi

csv=$out/runs.csv
check "runs.csv exists" [ -s "$csv" ]
rows=$(($(wc -l < "$csv" 2>/dev/null || echo 1) - 1))
check "runs.csv has one row per level (2, got $rows)" [ "$rows" -eq 2 ]

# column numbers by name
col() { head -n 1 "$csv" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }
c_clients=$(col clients)
c_tput=$(col throughput_ops_s)
c_ops=$(col ops)
c_err=$(col errors)
c_to=$(col timeouts)
c_p50=$(col p50_ms)
c_p99=$(col p99_ms)
c_max=$(col max_ms)
c_cdf=$(col cdf_file)
c_cl=$(col clients_file)
check "runs.csv has the expected columns" \
    [ -n "$c_clients" ] && [ -n "$c_tput" ] && [ -n "$c_cdf" ] && [ -n "$c_p99" ]

levels=$(awk -F, -v c="$c_clients" 'NR > 1 { printf "%s%s", s, $c; s = "," }' "$csv")
check "the rows are the levels 1,4 (got $levels)" [ "$levels" = "1,4" ]
check "throughput is nonzero in every row" \
    awk -F, -v c="$c_tput" 'NR > 1 && !($c > 0) { bad = 1 } END { exit bad }' "$csv"
check "percentiles are ordered: 0 < p50 <= p99 <= max" \
    awk -F, -v a="$c_p50" -v b="$c_p99" -v m="$c_max" \
    'NR > 1 && !($a > 0 && $a <= $b && $b <= $m) { bad = 1 } END { exit bad }' "$csv"
check "errors and timeouts are at most 10% of the requests" \
    awk -F, -v o="$c_ops" -v e="$c_err" -v t="$c_to" \
    'NR > 1 && ($e + $t) * 10 > $o { bad = 1 } END { exit bad }' "$csv"

while IFS=, read -r cdf cl n; do
    f=$out/$cdf
    check "$cdf exists and has points" [ "$(wc -l < "$f" 2>/dev/null || echo 0)" -gt 2 ]
    check "$cdf is monotone and ends at fraction 1" awk -F, '
        NR == 1 { next }
        { if (n && !($1 > x && $2 > y)) bad = 1; x = $1; y = $2; n++ }
        END { exit bad || n == 0 || y != 1 }' "$f"
    lines=$(($(wc -l < "$out/$cl" 2>/dev/null || echo 1) - 1))
    check "$cl has one line per client ($n, got $lines)" [ "$lines" -eq "$n" ]
done < <(awk -F, -v a="$c_cdf" -v b="$c_cl" -v c="$c_clients" \
             'NR > 1 { print $a "," $b "," $c }' "$csv")

check "plot.gp is written" [ -s "$out/plot.gp" ]
if command -v gnuplot >/dev/null; then
    for p in latency-throughput cdf cdf-tail; do
        check "$p.svg and $p.png are drawn" [ -s "$out/$p.svg" ] && [ -s "$out/$p.png" ]
    done
    "$BENCH" plot -o "$tmp/cmp" "$out" "$out" > "$tmp/plot.log" 2>&1
    rc=$?
    check "raftd-bench plot combines result directories" \
        [ "$rc" -eq 0 ] && [ -s "$tmp/cmp/latency-throughput.png" ] && [ -s "$tmp/cmp/cdf.svg" ]
    [ "$rc" -eq 0 ] || cat "$tmp/plot.log"
else
    echo "# gnuplot not installed (apt-get install gnuplot-nox): plots not checked"
fi

left=$(our_nodes)
check "no node of the test cluster is left running" [ -z "$left" ]
check "the cluster's data directories were removed" \
    [ -z "$(ls -d "$out"/cluster/level-* 2>/dev/null)" ]

"$BENCH" --clients 0 > /dev/null 2>&1
rc=$?
check "a bad option exits with status 64 (got $rc)" [ "$rc" -eq 64 ]

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
