#!/bin/bash
# raftd-nodes.sh - a local 3-node raftd cluster on 127.0.0.1 whose nodes
# are started and stopped one by one, the counterpart of etcd-cluster.sh
# for the scenarios of compare-etcd.sh (restarts on the same data, kill -9
# of one node, cold starts timed from outside).
#
#   bench/raftd-nodes.sh prepare DIR [BASEPORT]
#   bench/raftd-nodes.sh start|launch|resume|wait|stop|wipe DIR [BASEPORT]
#
# Node i (1..3) listens on 127.0.0.1:BASEPORT+i-1 (default 17001), reads
# DIR/nodeI.conf (written by scripts/raftd-cluster -C: the same settings as
# raftd-cluster and raftd-bench --local use, log level warning; plus
# RAFTD_CLUSTER_CONF), keeps its data in DIR/nodeI, its log in
# DIR/nodeI.log and its pid in DIR/nodeI.pid. The binary is $RAFTD (default:
# src/raftd of the build tree).
#   prepare  write the configs and the peer secret (once per DIR)
#   start    prepare if needed, wipe the data, launch, wait
#   launch   prepare if needed, wipe the data and start the 3 nodes without
#            waiting (for timing a cold start from outside: prepare first)
#   resume   start the nodes that are not running, on their data, without
#            waiting (after stop, or after a node was killed)
#   wait     wait until every node answers /status naming a leader (30 s)
#   stop     SIGTERM and, after 10 s, SIGKILL, to the pids in DIR only;
#            the data stay
#   wipe     remove the nodes' data (the configs stay); nodes must be stopped
set -uo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
die() { echo "$prog: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $prog prepare|start|launch|resume|wait|stop|wipe DIR [BASEPORT]"
cmd=$1
dir=$2
port=${3:-17001}
n=3
if [ -z "${RAFTD:-}" ]; then
    for c in "$top/build/src/raftd" "$top/src/raftd"; do
        [ -x "$c" ] && [ -f "$c" ] && { RAFTD=$c; break; }
    done
fi
mkdir -p "$dir" || die "cannot create $dir"
dir=$(cd "$dir" && pwd)

# running I: node I's pid if DIR/nodeI.pid names a live raftd of ours
running() {
    local pid
    [ -f "$dir/node$1.pid" ] || return 1
    pid=$(cat "$dir/node$1.pid")
    tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" |
        grep -qF -- "--config $dir/node$1.conf" && echo "$pid"
}

prepare() {
    [ -f "$dir/node$n.conf" ] && return 0
    [ -n "${RAFTD:-}" ] && [ -x "$RAFTD" ] || die "raftd not found: set RAFTD"
    "$top/scripts/raftd-cluster" -C -n $n -p "$port" -d "$dir" -b "$RAFTD" \
        -l warning >/dev/null || die "raftd-cluster -C failed"
}

wipe() {
    local i
    for i in $(seq 1 $n); do
        running "$i" >/dev/null && die "node $i is running"
        rm -rf "$dir/node$i" && mkdir -p "$dir/node$i"
    done
}

launch() {
    local i
    [ -n "${RAFTD:-}" ] && [ -x "$RAFTD" ] || die "raftd not found: set RAFTD"
    for i in $(seq 1 $n); do
        running "$i" >/dev/null && continue
        # setsid: the nodes outlive the shell that runs this script
        setsid "$RAFTD" --config "$dir/node$i.conf" >> "$dir/node$i.log" 2>&1 < /dev/null &
        echo $! > "$dir/node$i.pid"
    done
}

wait_ready() {
    local deadline=$((SECONDS + 30)) ok i
    while :; do
        ok=0
        for i in $(seq 1 $n); do
            curl -fs -m 1 "http://127.0.0.1:$((port + i - 1))/status" 2>/dev/null |
                grep -Eq '"leader_id": *[1-9]' && ok=$((ok + 1))
        done
        [ $ok -eq $n ] && return 0
        if [ $SECONDS -ge $deadline ]; then
            tail -n 20 "$dir"/node*.log >&2
            die "the raftd cluster in $dir had no leader for all nodes in 30 s"
        fi
        sleep 0.1
    done
}

stop() {
    local i pid pids=()
    for i in $(seq 1 $n); do
        pid=$(running "$i") && kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        rm -f "$dir/node$i.pid"
    done
    local deadline=$((SECONDS + 10))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
            sleep 0.05
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    return 0
}

case $cmd in
prepare) prepare ;;
start) prepare; wipe; rm -f "$dir"/node*.log; launch; wait_ready ;;
launch) prepare; wipe; rm -f "$dir"/node*.log; launch ;;
resume) launch ;;
wait) wait_ready ;;
stop) stop ;;
wipe) wipe ;;
*) die "unknown command $cmd (prepare, start, launch, resume, wait, stop or wipe)" ;;
esac
