#!/bin/bash
# profile-raftd.sh - profile a local 3-node raftd cluster under raftd-bench
# load: where the leader's and a follower's CPU goes (perf record -g), which
# system calls they make and how long those take (perf trace -s), and how
# many fdatasyncs each write costs (GET /status storage.syncs).
#
#   bench/profile-raftd.sh [-O OP] [-c CLIENTS] [-d SEC] [-o DIR] [-b RAFTD]
#                          [-B RAFTD_BENCH] [-p BASEPORT]
#
# Defaults: -O put -c 16 -d 20 -o profile-results -p 17101. Writes into DIR:
# bench/ (raftd-bench's results), leader.perf.data, follower.perf.data,
# leader-report.txt, follower-report.txt (top symbols, with children),
# leader-syscalls.txt, follower-syscalls.txt, status-before/after.json and
# summary.txt. Needs perf (Debian: linux-perf). Stops only what it started.
set -uo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
die() { echo "$prog: $*" >&2; exit 1; }

op=put
clients=16
duration=20
out=profile-results
raftd=
bench=
port=17101
while getopts ":O:c:d:o:b:B:p:h" opt; do
    case $opt in
    O) op=$OPTARG ;;
    c) clients=$OPTARG ;;
    d) duration=$OPTARG ;;
    o) out=$OPTARG ;;
    b) raftd=$OPTARG ;;
    B) bench=$OPTARG ;;
    p) port=$OPTARG ;;
    h) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "bad option -$OPTARG (see -h)" ;;
    esac
done
[ -n "$raftd" ] || raftd=$top/src/raftd
[ -x "$raftd" ] || die "raftd not found at $raftd (pass -b)"
[ -n "$bench" ] || bench=$(dirname "$raftd")/raftd-bench
[ -x "$bench" ] || die "raftd-bench not found at $bench (pass -B)"
command -v perf >/dev/null || die "perf not found: apt-get install linux-perf"

mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/raftd-profile.XXXXXX") || die "no temp dir"
cluster_pid=
bench_pid=
cleanup() {
    [ -n "$bench_pid" ] && kill -TERM "$bench_pid" 2>/dev/null
    if [ -n "$cluster_pid" ]; then
        kill -TERM "$cluster_pid" 2>/dev/null
        wait "$cluster_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

"$top/scripts/raftd-cluster" -n 3 -p "$port" -b "$raftd" -d "$tmp/cluster" -l warning \
    > "$out/cluster.log" 2>&1 &
cluster_pid=$!
eps=http://127.0.0.1:$port,http://127.0.0.1:$((port + 1)),http://127.0.0.1:$((port + 2))

leader_id=
for _ in $(seq 1 100); do
    leader_id=$(curl -s -m 1 "http://127.0.0.1:$port/status" |
                sed -n 's/.*"leader_id":\([0-9]*\).*/\1/p')
    [ -n "$leader_id" ] && break
    sleep 0.2
done
[ -n "$leader_id" ] || die "no leader (see $out/cluster.log)"
follower_id=$((leader_id % 3 + 1))
pid_of() { # the pid of node I of our cluster
    local p
    for p in /proc/[0-9]*; do
        { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null |
            grep -qF -- "--config $tmp/cluster/node$1.conf" && { echo "${p#/proc/}"; return; }
    done
}
lpid=$(pid_of "$leader_id")
fpid=$(pid_of "$follower_id")
[ -n "$lpid" ] && [ -n "$fpid" ] || die "cannot find the nodes' pids"
echo "$prog: leader node $leader_id (pid $lpid), follower node $follower_id (pid $fpid)"

status_all() {
    local i
    for i in 1 2 3; do
        curl -s -m 1 "http://127.0.0.1:$((port + i - 1))/status"
        echo
    done
}

"$bench" -e "$eps" -c "$clients" -d "$duration" -w 2 -O "$op" -o "$out/bench" \
    -l raftd --watch "--config $tmp/cluster/" -q > "$out/bench.log" 2>&1 &
bench_pid=$!
sleep 4   # the preload and the warm-up
status_all > "$out/status-before.json"
t=$((duration / 3))
[ "$t" -ge 2 ] || t=2
perf trace -s -p "$lpid" -o "$out/leader-syscalls.txt" -- sleep "$t" 2>/dev/null
perf trace -s -p "$fpid" -o "$out/follower-syscalls.txt" -- sleep "$t" 2>/dev/null
status_all > "$out/status-after.json"
perf record -q -g --call-graph dwarf,16384 -F 499 -p "$lpid" \
    -o "$out/leader.perf.data" -- sleep "$t" 2>/dev/null
wait "$bench_pid"
bench_pid=
perf record -q -g --call-graph dwarf,16384 -F 499 -p "$fpid" \
    -o "$out/follower.perf.data" -- sleep 0.1 2>/dev/null
for who in leader follower; do
    [ -s "$out/$who.perf.data" ] || continue
    perf report -i "$out/$who.perf.data" --children --sort symbol --stdio \
        --percent-limit 2 2>/dev/null | grep -v '^$' | head -n 200 > "$out/$who-report.txt"
    perf report -i "$out/$who.perf.data" --no-children --sort dso,symbol --stdio \
        --percent-limit 0.7 -g none 2>/dev/null | grep -E '^ +[0-9]' > "$out/$who-self.txt"
done

# fdatasyncs per committed entry, per node
{
    echo "op $op, $clients clients, $duration s"
    grep -h 'clients:' "$out/bench.log"
    paste -d' ' <(sed -n 's/.*"id":\([0-9]*\),.*"commit_index":\([0-9]*\).*"syncs":\([0-9]*\).*/\1 \2 \3/p' "$out/status-before.json") \
                <(sed -n 's/.*"commit_index":\([0-9]*\).*"syncs":\([0-9]*\).*/\1 \2/p' "$out/status-after.json") |
        awk '{ dc = $4 - $2; ds = $5 - $3;
               printf "node %s: %d entries committed, %d fdatasyncs, %.2f syncs per entry\n",
                      $1, dc, ds, dc ? ds / dc : 0 }'
} > "$out/summary.txt"
cat "$out/summary.txt"
echo "$prog: results in $out"
