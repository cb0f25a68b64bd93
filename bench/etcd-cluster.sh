#!/bin/bash
# etcd-cluster.sh - a local 3-member etcd cluster on 127.0.0.1 for
# side-by-side benchmarks (Debian's etcd-server package).
#
#   bench/etcd-cluster.sh start   DIR [CLIENT_PORT [PEER_PORT]]
#   bench/etcd-cluster.sh stop    DIR
#   bench/etcd-cluster.sh restart DIR [CLIENT_PORT [PEER_PORT]]
#
# Member i (1..3) serves clients on 127.0.0.1:CLIENT_PORT+i-1 (default
# 22379) and peers on 127.0.0.1:PEER_PORT+i-1 (default 22480), keeps its
# data in DIR/mI (removed by restart: every start is a fresh cluster), its
# log in DIR/mI.log and its pid in DIR/mI.pid. The v2 API is on
# (--enable-v2) and fsync is etcd's default (on). start waits until every
# member answers /health; stop sends SIGTERM and, after 10 s, SIGKILL, to
# the pids in DIR only.
set -uo pipefail

prog=${0##*/}
die() { echo "$prog: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $prog start|stop|restart DIR [CLIENT_PORT [PEER_PORT]]"
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
        if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null |
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

start() {
    [ -x "$ETCD" ] || die "etcd not found: apt-get install etcd-server"
    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    local i cluster="" token="bench-$$-$RANDOM"
    for i in $(seq 1 $n); do
        cluster+="${cluster:+,}m$i=http://127.0.0.1:$((pport + i - 1))"
    done
    for i in $(seq 1 $n); do
        rm -rf "$dir/m$i"
        local c=http://127.0.0.1:$((cport + i - 1)) p=http://127.0.0.1:$((pport + i - 1))
        # setsid: the members outlive the shell that runs this script
        setsid "$ETCD" --name "m$i" --data-dir "$dir/m$i" \
            --listen-client-urls "$c" --advertise-client-urls "$c" \
            --listen-peer-urls "$p" --initial-advertise-peer-urls "$p" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --initial-cluster-token "$token" --enable-v2 \
            --logger zap --log-level warn \
            > "$dir/m$i.log" 2>&1 < /dev/null &
        echo $! > "$dir/m$i.pid"
    done
    local deadline=$((SECONDS + 30)) ok
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
start) start ;;
stop) stop ;;
restart) stop; start ;;
*) die "unknown command $cmd (start, stop or restart)" ;;
esac
