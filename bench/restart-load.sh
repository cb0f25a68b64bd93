#!/bin/bash
# restart-load.sh - how long a node with a large store takes to come back
# (issue 13): fill a local cluster with KEYS keys of 64 bytes, take a
# snapshot, stop it, then restart it RUNS times and time each start to the
# first 200 answer of a quorum read (GET /v2/keys/...?quorum=true).
#
#   bench/restart-load.sh [-n NODES] [-k KEYS] [-r RUNS] [-p BASEPORT]
#                         [-d DIR] [-b RAFTD] [-P PERFDATA] [-1]
#
# Defaults: -n 1 -k 1000000 -r 3 -p 17101, DIR a new temporary directory
# (removed at the end; a given -d is kept, and filled only if it holds no
# data yet, so that runs before and after a change load the same data).
# The nodes run with fast timing (raftd-cluster -f: 300-600 ms election
# timeouts), so the time to elect a leader is part of each figure.
# Prints per run: the restart-to-read time, the CPU time node 1 had used by
# then, the node's own "loaded the snapshot" line if it logs one, and the
# snapshot's size; then the median.
# -P FILE: run node 1 under perf record -g (output FILE) on the last run.
# -1: restart only the last node while the others keep running (a member
# restarted in a live cluster: no election), and time its quorum read;
# its figures stand in for node 1's.
# Fills with wrk (bench/restart-load.lua); stops only what it started.
set -uo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
die() { echo "$prog: $*" >&2; exit 1; }

nodes=1
keys=1000000
runs=3
port=17101
dir=
raftd=
perfdata=
one=0
while getopts ":n:k:r:p:d:b:P:1h" opt; do
    case $opt in
    n) nodes=$OPTARG ;;
    k) keys=$OPTARG ;;
    r) runs=$OPTARG ;;
    p) port=$OPTARG ;;
    d) dir=$OPTARG ;;
    b) raftd=$OPTARG ;;
    P) perfdata=$OPTARG ;;
    1) one=1 ;;
    h) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "bad option -$OPTARG (see -h)" ;;
    esac
done
[ -n "$raftd" ] || raftd=$top/build/src/raftd
[ -x "$raftd" ] || die "raftd not found at $raftd (pass -b)"
raftd=$(cd "$(dirname "$raftd")" && pwd)/$(basename "$raftd")
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v curl >/dev/null || die "curl not found"
[ -z "$perfdata" ] || command -v perf >/dev/null || die "perf not found"

keep_dir=1
if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/raftd-restart.XXXXXX") || die "no temp dir"
    keep_dir=0
fi
mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || die "cannot create $dir"

pids=()
stay=()
cluster_pid=
stop_nodes() {
    [ -n "$cluster_pid" ] && kill -TERM "$cluster_pid" 2>/dev/null &&
        wait "$cluster_pid" 2>/dev/null
    cluster_pid=
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    pids=()
}
cleanup() {
    pids+=("${stay[@]}")
    stop_nodes
    [ "$keep_dir" = 1 ] || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

url() { echo "http://127.0.0.1:$((port + $1 - 1))"; }
now_ms() { date +%s%3N; }
status_field() { # node field
    curl -s -m 1 "$(url "$1")/status" |
        sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}
wait_leader() { # any node answers a quorum read of a key that exists or not
    local deadline=$((SECONDS + ${1:-120})) code
    while [ $SECONDS -lt $deadline ]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' -m 1 \
               "$(url 1)/v2/keys/load?quorum=true")
        case $code in 200|404) return 0 ;; esac
        sleep 0.005
    done
    return 1
}

# CPU time (user + system) a process has used so far, in ms: less noisy
# than wall time on a shared machine. Under -P, pid is perf's.
cpu_ms() {
    awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' \
        "/proc/$1/stat" 2>/dev/null
}

# ---- fill (once per directory) ----------------------------------------------
if [ ! -f "$dir/filled" ]; then
    echo "filling $dir with $keys keys ($nodes node(s), ports $port..)"
    "$top/scripts/raftd-cluster" -n "$nodes" -p "$port" -d "$dir" -b "$raftd" \
        -f -l info >"$dir/fill.log" 2>&1 &
    cluster_pid=$!
    wait_leader 60 || die "the cluster did not elect a leader; see $dir/fill.log"
    t0=$SECONDS
    wrk -t 2 -c 64 -d 3600 -s "$here/restart-load.lua" "$(url 1)" -- 2 \
        >"$dir/wrk.log" 2>&1 &
    wrk_pid=$!
    while :; do
        applied=$(status_field 1 applied_index)
        [ "${applied:-0}" -ge "$keys" ] && break
        kill -0 $wrk_pid 2>/dev/null || die "wrk stopped; see $dir/wrk.log"
        sleep 1
    done
    kill -INT $wrk_pid 2>/dev/null
    wait $wrk_pid 2>/dev/null
    echo "filled up to index $(status_field 1 applied_index) in $((SECONDS - t0)) s"
    # a fresh snapshot, so that a restart loads it plus a short log
    sleep 1
    curl -s -m 5 -X POST "$(url 1)/admin/snapshot" >/dev/null
    snap=0
    for _ in $(seq 1 600); do
        snap=$(status_field 1 snapshot_index)
        [ "${snap:-0}" -ge "$keys" ] && break
        sleep 0.2
    done
    stop_nodes
    touch "$dir/filled"
fi
ls -l "$dir/node1/snapshot" | awk '{print "snapshot of node 1: " $5 " bytes"}'

# ---- restarts -----------------------------------------------------------------
start_node() { # node log [perf]
    if [ -n "${3:-}" ]; then
        perf record -g -o "$perfdata" -- "$raftd" --config "$dir/node$1.conf" \
            >"$2" 2>&1 &
    else
        "$raftd" --config "$dir/node$1.conf" >"$2" 2>&1 &
    fi
    pids+=($!)
}
first=1      # the nodes each run restarts
timed=1      # the node whose quorum read is timed
if [ "$one" = 1 ]; then
    first=$nodes
    timed=$nodes
    for i in $(seq 1 $((nodes - 1))); do
        start_node "$i" "$dir/others.node$i.log"
    done
    stay=("${pids[@]}")
fi
results=()
for run in $(seq 1 "$runs"); do
    sync
    pids=()
    t0=$(now_ms)
    for i in $(seq "$first" "$nodes"); do
        perf=
        [ "$i" = "$timed" ] && [ -n "$perfdata" ] && [ "$run" = "$runs" ] && perf=1
        start_node "$i" "$dir/restart$run.node$i.log" $perf
        [ "$i" = "$timed" ] && timed_pid=${pids[-1]}
    done
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 \
               "$(url "$timed")/v2/keys/load/000/00001000?quorum=true")
        [ "$code" = 200 ] && break
        [ $(( $(now_ms) - t0 )) -gt 120000 ] && die "no answer in 120 s (run $run)"
        sleep 0.005
    done
    ms=$(( $(now_ms) - t0 ))
    results+=("$ms")
    cpu=$(cpu_ms "$timed_pid")
    log=$dir/restart$run.node$timed.log
    loaded=$(grep -ho 'loaded the snapshot[^"]*' "$log" | head -1)
    recovered=$(grep -ho 'recovered from [^"]*' "$log" | head -1)
    echo "run $run: restart to quorum read ${ms} ms (node $timed used ${cpu} ms of CPU)${loaded:+; $loaded}"
    [ "$run" = 1 ] && [ -n "$recovered" ] && echo "  $recovered"
    stop_nodes
done
[ "$one" = 1 ] && pids=("${stay[@]}") && stop_nodes
median=$(printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "median restart to quorum read: $median ms (runs: ${results[*]})"
