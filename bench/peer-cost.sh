#!/bin/bash
# peer-cost.sh - what peer authentication and TLS cost: the same load on a
# local 3-node cluster (scripts/raftd-cluster) in three variants, taking
# turns, each repetition on a fresh cluster:
#
#   none   peer_auth = "none" over http:// (no HMAC)
#   hmac   the default: every peer request and answer signed (HMAC-SHA256)
#   tls    https:// members with mutual TLS between them, HMAC too
#          (raftd-cluster -t), clients over https
#
#   bench/peer-cost.sh [-r REPS] [-c CLIENTS] [-d SEC] [-w SEC] [-O "OPS"]
#                      [-b RAFTD] [-B RAFTD_BENCH] [-V "VARIANTS"] [-o DIR]
#
# Prints one line per run and, per variant and operation, the median
# throughput and p99 and the ratio to "none"; DIR (default
# peer-cost-results) keeps raftd-bench's output of every run. Nodes listen
# on 127.0.0.1:17101-17103; only processes this script started are stopped.
set -uo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
die() { echo "$prog: $*" >&2; exit 1; }

reps=3 clients=64 duration=10 warmup=2 ops="put qget" variants="none hmac tls"
raftd= bench= out=peer-cost-results
while getopts ":r:c:d:w:O:b:B:V:o:h" opt; do
    case $opt in
    r) reps=$OPTARG ;;
    c) clients=$OPTARG ;;
    d) duration=$OPTARG ;;
    w) warmup=$OPTARG ;;
    O) ops=$OPTARG ;;
    b) raftd=$OPTARG ;;
    B) bench=$OPTARG ;;
    V) variants=$OPTARG ;;
    o) out=$OPTARG ;;
    h) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "bad option (-h for help)" ;;
    esac
done
[ -n "$raftd" ] || raftd=$(command -v raftd) || die "no raftd: give -b"
[ -n "$bench" ] || bench=$(dirname "$raftd")/raftd-bench
[ -x "$bench" ] || die "no raftd-bench at $bench: give -B"
launcher=$top/scripts/raftd-cluster
mkdir -p "$out" || die "cannot create $out"
port=17101
tmp=$(mktemp -d "${TMPDIR:-/tmp}/peer-cost.XXXXXX") || die "mktemp"
cluster_pid=

stop_cluster() {
    [ -n "$cluster_pid" ] || return 0
    kill -TERM "$cluster_pid" 2>/dev/null
    wait "$cluster_pid" 2>/dev/null
    cluster_pid=
}
trap 'stop_cluster; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

start_cluster() { # variant dir
    local args=(-n 3 -p "$port" -d "$2" -b "$raftd" -l warning) conf=
    [ "$1" = tls ] && args+=(-t)
    [ "$1" = none ] && conf='peer_auth = "none";'
    RAFTD_CLUSTER_CONF=$conf "$launcher" "${args[@]}" >"$2.log" 2>&1 &
    cluster_pid=$!
}

endpoints() { # variant
    local s=http i list=
    [ "$1" = tls ] && s=https
    for i in 0 1 2; do list+="${list:+,}$s://127.0.0.1:$((port + i))"; done
    echo "$list"
}

results=$out/results.csv
echo "rep,variant,op,clients,throughput_ops_s,p99_ms,errors" >"$results"
for rep in $(seq 1 "$reps"); do
    # a different variant goes first in each repetition
    read -r -a vs <<<"$variants"
    k=$(( (rep - 1) % ${#vs[@]} ))
    for v in "${vs[@]:k}" "${vs[@]:0:k}"; do
        for op in $ops; do
            dir=$tmp/$v-$op-$rep
            start_cluster "$v" "$dir"
            extra=()
            [ "$v" = tls ] && extra=(--cacert "$dir/tls/ca.pem")
            res=$out/$v/$op/rep-$rep
            mkdir -p "$res"
            "$bench" -e "$(endpoints "$v")" -O "$op" -c "$clients" \
                -d "$duration" -w "$warmup" --leader-timeout 30 --no-plot \
                "${extra[@]}" -o "$res" >"$res/bench.log" 2>&1 ||
                echo "$prog: raftd-bench failed for $v $op (see $res/bench.log)" >&2
            stop_cluster
            cp "$dir.log" "$res/cluster.log" 2>/dev/null || true
            line=$(tail -n 1 "$res/runs.csv" 2>/dev/null)
            tput=$(cut -d, -f7 <<<"$line") p99=$(cut -d, -f12 <<<"$line")
            errs=$(cut -d, -f15 <<<"$line")
            echo "$rep,$v,$op,$clients,$tput,$p99,$errs" >>"$results"
            printf 'rep %d %-5s %-5s %s clients: %10s ops/s  p99 %8s ms  errors %s\n' \
                "$rep" "$v" "$op" "$clients" "$tput" "$p99" "$errs"
        done
    done
done

echo
echo "median over $reps repetitions ($clients clients, ${duration}s each):"
python3 - "$results" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows:
    if r["throughput_ops_s"]:
        by.setdefault((r["op"], r["variant"]), []).append(r)
for op in sorted({k[0] for k in by}):
    base = by.get((op, "none"))
    b = statistics.median(float(r["throughput_ops_s"]) for r in base) if base else None
    for (o, v), rs in sorted(by.items()):
        if o != op:
            continue
        t = statistics.median(float(r["throughput_ops_s"]) for r in rs)
        p = statistics.median(float(r["p99_ms"]) for r in rs)
        ratio = " (%.3f of none, %+.1f%%)" % (t / b, 100 * (t / b - 1)) if b else ""
        print("  %-5s %-5s %10.1f ops/s  p99 %7.2f ms%s" % (op, v, t, p, ratio))
EOF
