#!/bin/bash
# etcd-cluster.sh - a local 3-member etcd cluster on 127.0.0.1 for
# side-by-side benchmarks (Debian's etcd-server package).
#
#   bench/etcd-cluster.sh start   DIR [CLIENT_PORT [PEER_PORT]]
#   bench/etcd-cluster.sh launch  DIR [CLIENT_PORT [PEER_PORT]]
#   bench/etcd-cluster.sh resume  DIR [CLIENT_PORT [PEER_PORT]]
#   bench/etcd-cluster.sh wait    DIR [CLIENT_PORT [PEER_PORT]]
#   bench/etcd-cluster.sh stop    DIR
#   bench/etcd-cluster.sh restart DIR [CLIENT_PORT [PEER_PORT]]
#
# Member i (1..3) serves clients on 127.0.0.1:CLIENT_PORT+i-1 (default
# 22379) and peers on 127.0.0.1:PEER_PORT+i-1 (default 22480), keeps its
# data in DIR/mI, its log in DIR/mI.log and its pid in DIR/mI.pid. The v2
# API is on (--enable-v2) and fsync is etcd's default (on).
#   start    a fresh cluster (the data directories are removed first), then
#            wait until every member answers /health
#   launch   the same without waiting: it returns once the 3 processes are
#            started (for timing a cold start from outside)
#   resume   start the members that are not running on the data they have
#            (after stop, or after a member was killed), without waiting
#   wait     wait until every member answers /health (30 s at most)
#   stop     SIGTERM and, after 10 s, SIGKILL, to the pids in DIR only;
#            the data stay
#   restart  stop, then start (fresh)
set -uo pipefail

prog=${0##*/}
die() { echo "$prog: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $prog start|launch|resume|wait|stop|restart DIR [CLIENT_PORT [PEER_PORT]]"
cmd=$1
dir=$2
cport=${3:-22379}
pport=${4:-22480}
ETCD=${ETCD:-$(command -v etcd || echo /usr/bin/etcd)}
n=3

stop() {
    local i pid
    local pids=()
    for i in $(seq 1 $n); do
        [ -f "$dir/m$i.pid" ] || continue
        pid=$(cat "$dir/m$i.pid")
        # only if it still is our etcd (the pid may have been reused)
        if tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" |
                grep -qF -- "--data-dir $dir/m$i"; then
            kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        fi
        rm -f "$dir/m$i.pid"
    done
    local deadline=$((SECONDS + 10))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    return 0
}

# running I: member I's pid from DIR/mI.pid if that process still is our
# etcd (the pid may have been reused)
running() {
    local pid
    [ -f "$dir/m$1.pid" ] || return 1
    pid=$(cat "$dir/m$1.pid")
    tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF -- "--data-dir $dir/m$1" &&
        echo "$pid"
}

# launch fresh|keep: start the members (fresh: with empty data directories;
# keep: only those not running, on their data) without waiting for them
launch() {
    [ -x "$ETCD" ] || die "etcd not found: apt-get install etcd-server"
    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    local i cluster="" token="bench-$$-$RANDOM"
    for i in $(seq 1 $n); do
        cluster+="${cluster:+,}m$i=http://127.0.0.1:$((pport + i - 1))"
    done
    for i in $(seq 1 $n); do
        if [ "$1" = keep ]; then
            running "$i" >/dev/null && continue
        else
            rm -rf "$dir/m$i"
        fi
        local c=http://127.0.0.1:$((cport + i - 1)) p=http://127.0.0.1:$((pport + i - 1))
        # setsid: the members outlive the shell that runs this script.
        # With a data directory, etcd ignores the --initial-cluster* flags.
        setsid "$ETCD" --name "m$i" --data-dir "$dir/m$i" \
            --listen-client-urls "$c" --advertise-client-urls "$c" \
            --listen-peer-urls "$p" --initial-advertise-peer-urls "$p" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --initial-cluster-token "$token" --enable-v2 \
            --logger zap --log-level warn \
            >> "$dir/m$i.log" 2>&1 < /dev/null &
        echo $! > "$dir/m$i.pid"
    done
}

wait_healthy() {
    local deadline=$((SECONDS + 30)) ok i
    while :; do
        ok=0
        for i in $(seq 1 $n); do
            curl -fs -m 1 "http://127.0.0.1:$((cport + i - 1))/health" 2>/dev/null |
                grep -q '"health":"true"' && ok=$((ok + 1))
        done
        [ $ok -eq $n ] && break
        if [ $SECONDS -ge $deadline ]; then
            tail -n 20 "$dir"/m*.log >&2
            die "the etcd cluster did not become healthy in 30 s"
        fi
        sleep 0.2
    done
}

case $cmd in
start) rm -f "$dir"/m*.log; launch fresh; wait_healthy ;;
launch) rm -f "$dir"/m*.log; launch fresh ;;
resume) launch keep ;;
wait) wait_healthy ;;
stop) stop ;;
restart) stop; rm -f "$dir"/m*.log; launch fresh; wait_healthy ;;
*) die "unknown command $cmd (start, launch, resume, wait, stop or restart)" ;;
esac
