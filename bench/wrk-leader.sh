#!/bin/bash
# wrk-leader.sh - raftd and etcd measured by an independent load generator:
# wrk (Debian's wrk package) sending to the LEADER of a local 3-node raftd
# cluster and of a local 3-member etcd cluster (v2 API, fsync on), the two
# systems taking turns, each measurement on a fresh cluster.
#
#   bench/wrk-leader.sh [-r REPS] [-c CONNS] [-d SEC] [-w SEC] [-O "OPS"]
#                       [-s BYTES] [-k KEYS] [-b RAFTD] [-S "SYSTEMS"] [-o DIR]
#
#   -r REPS     repetitions (default 3); raftd goes first in odd ones
#   -c CONNS    wrk connections, comma-separated levels (default 64)
#   -d SEC      measured seconds (default 10)
#   -w SEC      writes before measuring (16 connections), which also fill
#               the keys (default 3)
#   -O "OPS"    put (PUT value=...) and/or qget (GET ?quorum=true)
#               (default "put qget")
#   -s BYTES    value size (default 64);  -k KEYS  keys (default 1000)
#   -b RAFTD    the raftd binary (default: src/raftd of the build tree)
#   -S SYSTEMS  "raftd etcd" (default) or one of them
#   -o DIR      results (default wrk-results): DIR/runs.csv (system, op,
#               connections, rep, requests/s, p50, p90, p99 ms, non-2xx,
#               socket errors) and DIR/<system>-<op>-c<N>-r<K>.txt, wrk's
#               own output
#
# Prints one line per run, then per system, operation and level the median
# requests/s and p99 over the repetitions and the ratio raftd/etcd.
# raftd nodes listen on 127.0.0.1:17201-17203; etcd serves clients on
# 127.0.0.1:22579-22581 and peers on 22680-22682. Only processes this
# script started are stopped; the data directory is removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

reps=3 conns=64 secs=10 warm=3 ops="put qget" size=64 keys=1000
raftd="" systems="raftd etcd" out=wrk-results
while getopts "r:c:d:w:O:s:k:b:S:o:h" opt; do
    case $opt in
    r) reps=$OPTARG ;; c) conns=$OPTARG ;; d) secs=$OPTARG ;;
    w) warm=$OPTARG ;; O) ops=$OPTARG ;; s) size=$OPTARG ;; k) keys=$OPTARG ;;
    b) raftd=$OPTARG ;; S) systems=$OPTARG ;; o) out=$OPTARG ;;
    *) sed -n '2,30p' "$0"; exit 64 ;;
    esac
done
die() { echo "wrk-leader.sh: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk not found: apt-get install wrk"
case " $systems " in *" etcd "*)
    command -v etcd >/dev/null || die "etcd not found: apt-get install etcd-server" ;;
esac
if [ -z "$raftd" ]; then
    for c in "$top/build/src/raftd" "$top/src/raftd" "$(command -v raftd || true)"; do
        [ -n "$c" ] && [ -x "$c" ] && { raftd=$c; break; }
    done
fi
case " $systems " in *" raftd "*) [ -x "$raftd" ] || die "no raftd binary (-b)" ;; esac

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/raftd-wrk.XXXXXX)
launcher_pid=""
stop_all() {
    if [ -n "$launcher_pid" ]; then
        kill -TERM "$launcher_pid" 2>/dev/null || true
        wait "$launcher_pid" 2>/dev/null || true
        launcher_pid=""
    fi
    [ -d "$work/etcd" ] && "$here/etcd-cluster.sh" stop "$work/etcd" >/dev/null 2>&1 || true
}
trap 'stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

value=$(head -c "$size" /dev/zero | tr '\0' x)
cat > "$work/put.lua" <<EOF
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "value=$value"
local n = $keys
request = function()
  return wrk.format(nil, "/v2/keys/bench/k" .. math.random(0, n - 1))
end
EOF
cat > "$work/qget.lua" <<EOF
local n = $keys
request = function()
  return wrk.format("GET", "/v2/keys/bench/k" .. math.random(0, n - 1) .. "?quorum=true")
end
EOF

# find_leader FIRST_PORT WHAT: sets url to the member of the 3 on
# FIRST_PORT.. that says it leads (both answer etcd's /v2/stats/self)
find_leader() {
    local t p
    for t in $(seq 1 200); do
        for p in $1 $(($1 + 1)) $(($1 + 2)); do
            if curl -s -m 1 "http://127.0.0.1:$p/v2/stats/self" 2>/dev/null |
                    grep -q '"state": *"StateLeader"'; then
                url="http://127.0.0.1:$p"; return 0
            fi
        done
        sleep 0.1
    done
    die "no $2 leader after 20 s"
}

# start_SYSTEM: a fresh cluster; sets url to the leader's URL
start_raftd() {
    rm -rf "$work/raftd"
    "$top/scripts/raftd-cluster" -n 3 -p 17201 -b "$raftd" -l warning \
        -d "$work/raftd" > "$work/raftd.log" 2>&1 &
    launcher_pid=$!
    find_leader 17201 "raftd (log: $work/raftd.log)"
}
start_etcd() {
    "$here/etcd-cluster.sh" restart "$work/etcd" 22579 22680 >/dev/null
    find_leader 22579 etcd
}

# field FILE: requests/s p50 p90 p99 non2xx socketerrors from wrk's output
ms() {  # wrk's latency value (us, ms or s) in ms
    awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000;
        else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /m$/) printf "%.3f", v*60000;
        else printf "%.3f", v*1000 }'
}
parse() {
    local f=$1 rps p50 p90 p99 non2xx errs
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
    p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$f")")
    p90=$(ms "$(awk '$1 == "90%" { print $2 }' "$f")")
    p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$f")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")
    errs=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$f")
    echo "$rps,$p50,$p90,$p99,${non2xx:-0},${errs:-0}"
}

echo "system,op,connections,rep,requests_per_s,p50_ms,p90_ms,p99_ms,non2xx,socket_errors" \
    > "$out/runs.csv"
IFS=, read -ra levels <<< "$conns"
read -ra syslist <<< "$systems"
for rep in $(seq 1 "$reps"); do
    order=("${syslist[@]}")
    if [ $((rep % 2)) -eq 0 ] && [ ${#syslist[@]} -eq 2 ]; then
        order=("${syslist[1]}" "${syslist[0]}")
    fi
    for sys in "${order[@]}"; do
        for op in $ops; do
            for c in "${levels[@]}"; do
                start_"$sys"
                threads=$((c < 2 ? c : 2))
                # warm-up writes, from 16 connections whatever the level,
                # fill the keys (qget then reads values: with one
                # connection, 3 s left about 1% of them unwritten)
                wrk -t 2 -c 16 -d "${warm}s" -s "$work/put.lua" "$url" > /dev/null
                f="$out/$sys-$op-c$c-r$rep.txt"
                wrk -t "$threads" -c "$c" -d "${secs}s" --latency -s "$work/$op.lua" "$url" > "$f"
                stop_all
                r=$(parse "$f")
                echo "$sys,$op,$c,$rep,$r" >> "$out/runs.csv"
                IFS=, read -r rps p50 p90 p99 n2 se <<< "$r"
                printf '%-5s %-4s c=%-3s rep %d: %9s req/s  p50 %7s  p90 %7s  p99 %7s ms  non-2xx %s  socket errors %s\n' \
                    "$sys" "$op" "$c" "$rep" "$rps" "$p50" "$p90" "$p99" "$n2" "$se"
            done
        done
    done
done

echo
echo "medians over $reps repetition(s) (wrk -t min(2, connections), ${secs} s, $size-byte values, $keys keys, to the leader):"
python3 - "$out/runs.csv" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
med = {}
for r in rows:
    med.setdefault((r["system"], r["op"], r["connections"]), []).append(r)
for (s, op, c), rs in sorted(med.items()):
    rps = statistics.median(float(r["requests_per_s"]) for r in rs)
    p99 = statistics.median(float(r["p99_ms"]) for r in rs)
    med[(s, op, c)] = (rps, p99)
    print("%-5s %-4s c=%-3s %9.0f req/s  p99 %7.2f ms" % (s, op, c, rps, p99))
for (s, op, c), v in sorted(med.items()):
    if s == "raftd" and ("etcd", op, c) in med:
        e = med[("etcd", op, c)]
        print("ratio raftd/etcd %-4s c=%-3s throughput %.2f  p99 %.2f"
              % (op, c, v[0] / e[0], v[1] / e[1]))
EOF
