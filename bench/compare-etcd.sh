#!/bin/bash
# compare-etcd.sh - raftd next to etcd: the same sweep against a local
# 3-node raftd cluster and a local 3-member etcd cluster (Debian's
# etcd-server, --enable-v2, fsync on), both curves in one figure per
# operation, and a markdown report with the machine's description.
#
#   bench/compare-etcd.sh [-o DIR] [-c LEVELS] [-d SEC] [-w SEC] [-O "OPS"]
#                         [-s BYTES] [-k KEYS] [-t TARGET] [-r N] [-b RAFTD]
#                         [-B RAFTD_BENCH] [-x "EXTRA raftd-bench OPTIONS"]
#
#   -o DIR      results (default compare-results); per operation OP:
#               DIR/OP/{raftd,etcd}/ (runs.csv, cdf-*.csv, clients-*.csv,
#               their own plots) and DIR/OP/ the combined plots and plot.gp;
#               DIR/REPORT.md the report
#   -c LEVELS   client counts (default 1,4,16,64)
#   -d SEC      measured seconds per level (default 15)
#   -w SEC      warm-up seconds per level (default 3)
#   -O "OPS"    operations, space-separated (default "put qget")
#   -s BYTES    value size (default 64)
#   -k KEYS     number of keys (default 1000)
#   -t TARGET   one, all or leader (default all)
#   -r N        run the whole comparison N times (default 1), raftd and
#               etcd taking turns to go first; the first repetition fills
#               DIR/OP/{raftd,etcd}, the others DIR/OP/rep-K/{raftd,etcd}
#               (data and plot.gp, pictures only for the first);
#               the report gives every repetition's ratios and judges the
#               targets by their median (single runs on a shared machine
#               move by 10-20%)
#   -b RAFTD    the raftd binary (default: src/raftd of the build tree, PATH)
#   -B BENCH    raftd-bench (default: next to raftd, then PATH)
#
# Both systems are restarted with fresh data before every level. raftd
# nodes listen on 127.0.0.1:17001-17003, etcd members serve clients on
# 127.0.0.1:22379-22381 and peers on 22480-22482; data live under a
# temporary directory that is removed at the end. Only processes this
# script started are stopped.
set -uo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
die() { echo "$prog: $*" >&2; exit 1; }

out=compare-results
levels=1,4,16,64
duration=15
warmup=3
ops="put qget"
vsize=64
keys=1000
target=all
repeats=1
raftd=
bench=
extra=
while getopts ":o:c:d:w:O:s:k:t:r:b:B:x:h" opt; do
    case $opt in
    o) out=$OPTARG ;;
    c) levels=$OPTARG ;;
    d) duration=$OPTARG ;;
    w) warmup=$OPTARG ;;
    O) ops=$OPTARG ;;
    s) vsize=$OPTARG ;;
    k) keys=$OPTARG ;;
    t) target=$OPTARG ;;
    r) repeats=$OPTARG ;;
    b) raftd=$OPTARG ;;
    B) bench=$OPTARG ;;
    x) extra=$OPTARG ;;
    h) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "bad option -$OPTARG (see -h)" ;;
    esac
done

case $repeats in ''|*[!0-9]*|0) die "-r wants a count of 1 or more" ;; esac

# --- tools ------------------------------------------------------------------
find_first() { local c; for c in "$@"; do [ -x "$c" ] && [ -f "$c" ] && { echo "$c"; return 0; }; done; return 1; }
if [ -z "$raftd" ]; then
    raftd=$(find_first "$top/src/raftd" "$top/build/src/raftd" \
                       "$top/build-test/src/raftd") ||
        raftd=$(PATH=$PATH:/usr/local/sbin:/usr/sbin command -v raftd) ||
        die "raftd not found: build it or pass -b"
fi
if [ -z "$bench" ]; then
    bench=$(find_first "$(dirname "$raftd")/raftd-bench" "$top/src/raftd-bench") ||
        bench=$(command -v raftd-bench) || die "raftd-bench not found: pass -B"
fi
launcher=$top/scripts/raftd-cluster
[ -x "$launcher" ] || launcher=$(command -v raftd-cluster) || die "raftd-cluster not found"
command -v etcd >/dev/null || die "etcd not found: apt-get install -y etcd-server"
command -v curl >/dev/null || die "curl not found: apt-get install -y curl"
command -v gnuplot >/dev/null ||
    echo "$prog: gnuplot not found (apt-get install -y gnuplot-nox): plots are not drawn" >&2

mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/raftd-compare.XXXXXX") || die "no temp dir"
etcd_dir=$tmp/etcd
bench_pid=
cleanup() {
    if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -TERM "$bench_pid"   # raftd-bench stops its raftd cluster
        wait "$bench_pid" 2>/dev/null
    fi
    "$here/etcd-cluster.sh" stop "$etcd_dir" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

common=(-c "$levels" -d "$duration" -w "$warmup" -s "$vsize" -k "$keys" -t "$target")
# shellcheck disable=SC2206
extra_args=($extra)

run_bench() { # label outdir op args...
    local label=$1 dir=$2 op=$3
    shift 3
    echo "== $label $op: $*" >&2
    "$bench" "${common[@]}" "${extra_args[@]}" -O "$op" -l "$label" -o "$dir" "$@" &
    bench_pid=$!
    wait "$bench_pid"
    local rc=$?
    bench_pid=
    return $rc
}

# --- the machine ------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
dd_rate=$(dd if=/dev/zero of="$tmp/dsync.test" bs=4k count=300 oflag=dsync 2>&1 |
          tail -n 1 | sed 's/.*, //')
rm -f "$tmp/dsync.test"
started=$(date -u '+%Y-%m-%d %H:%M UTC')
t0=$SECONDS

# where repetition REP of OP puts its results
rep_dir() { if [ "$1" = 1 ]; then echo "$out/$2"; else echo "$out/$2/rep-$1"; fi; }
plot_opt() { [ "$1" = 1 ] || echo --no-plot; } # repetitions: data only
run_raftd() { # REP OP
    # shellcheck disable=SC2046
    run_bench raftd "$(rep_dir "$1" "$2")/raftd" "$2" --local 3 --raftd "$raftd" \
        --launcher "$launcher" --local-port 17001 --local-dir "$tmp/raftd" $(plot_opt "$1")
}
run_etcd() { # REP OP
    # shellcheck disable=SC2046
    run_bench etcd "$(rep_dir "$1" "$2")/etcd" "$2" $(plot_opt "$1") \
        -e http://127.0.0.1:22379,http://127.0.0.1:22380,http://127.0.0.1:22381 \
        --restart-cmd "'$here/etcd-cluster.sh' restart '$etcd_dir'" \
        --watch "--data-dir $etcd_dir/m"
    local rc=$?
    "$here/etcd-cluster.sh" stop "$etcd_dir"
    return $rc
}

status=0
for rep in $(seq 1 "$repeats"); do
    for op in $ops; do
        mkdir -p "$(rep_dir "$rep" "$op")"
        if [ $((rep % 2)) = 1 ]; then # take turns, so that a drift of the
            run_raftd "$rep" "$op" || status=1 # machine's speed hits both
            run_etcd "$rep" "$op" || status=1
        else
            run_etcd "$rep" "$op" || status=1
            run_raftd "$rep" "$op" || status=1
        fi
        [ "$rep" = 1 ] && { "$bench" plot -o "$out/$op" "$out/$op/raftd" "$out/$op/etcd" || status=1; }
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the report -------------------------------------------------------------
col() { head -n 1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1; }
# value FILE CLIENTS COLUMN: the column of the row with that client count
value() {
    local f=$1 c=$2 name=$3 cc vc
    [ -f "$f" ] || return 0
    cc=$(col "$f" clients)
    vc=$(col "$f" "$name")
    awk -F, -v cc="$cc" -v vc="$vc" -v c="$c" 'NR > 1 && $cc == c { print $vc; exit }' "$f"
}
maxcol() { # the largest value of a column over all rows
    local f=$1 vc
    [ -f "$f" ] || return 0
    vc=$(col "$f" "$2")
    awk -F, -v vc="$vc" 'NR > 1 && $vc != "" && (m == "" || $vc + 0 > m) { m = $vc + 0 } END { print m }' "$f"
}
largest() { # largest SYSTEM COLUMN: the largest value over every run
    local m="" v op rep
    for rep in $(seq 1 "$repeats"); do
        for op in $ops; do
            v=$(maxcol "$(rep_dir "$rep" "$op")/$1/runs.csv" "$2")
            [ -n "$v" ] && m=$(awk -v x="$m" -v y="$v" 'BEGIN { print (x == "" || y > x) ? y : x }')
        done
    done
    echo "$m"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
# rep_ratios OP CLIENTS COLUMN INVERT: the raftd/etcd ratio of COLUMN in
# every repetition (etcd/raftd with INVERT=1), space-separated
rep_ratios() {
    local rep d a b list=
    for rep in $(seq 1 "$repeats"); do
        d=$(rep_dir "$rep" "$1")
        a=$(value "$d/raftd/runs.csv" "$2" "$3"); b=$(value "$d/etcd/runs.csv" "$2" "$3")
        if [ "$4" = 1 ]; then list="$list $(ratio "$b" "$a")"; else list="$list $(ratio "$a" "$b")"; fi
    done
    echo "${list# }"
}
median() { # of the numbers among the arguments ("n/a" left out)
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
        awk '{ v[NR] = $1 } END { if (!NR) print "n/a"; else if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# target_row TEXT OP CLIENTS COLUMN INVERT MIN: a row of the targets table,
# judged by the median over the repetitions
target_row() {
    local r=$out/$2/raftd/runs.csv e=$out/$2/etcd/runs.csv a b all m
    a=$(value "$r" "$3" "$4"); b=$(value "$e" "$3" "$4")
    all=$(rep_ratios "$2" "$3" "$4" "$5")
    # shellcheck disable=SC2086
    m=$(median $all)
    if [ "$repeats" = 1 ]; then
        echo "| $1 | $a | $b | $m | $(verdict "$m" "$6") |"
    else
        echo "| $1 | $a | $b | $m (${all// /, }) | $(verdict "$m" "$6") |"
    fi
}
verdict() { # verdict RATIO MIN (ratio >= MIN)
    awk -v r="$1" -v m="$2" 'BEGIN { if (r == "n/a") print "n/a"; else if (r + 0 >= m + 0) print "**met**"; else print "**missed**" }'
}

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
fs=$(df -hT "$tmp" | awk 'NR == 2 { print $1 " (" $2 ", " $3 " total, " $5 " free)" }')
disk=$(lsblk -dno NAME,ROTA,MODEL 2>/dev/null | head -n 3 | awk '{ printf "%s%s rotational=%s %s", s, $1, $2, $3; s = "; " }')

report=$out/REPORT.md
{
    echo "# raftd vs etcd"
    echo
    echo "Started $started; took $((SECONDS - t0)) s."
    echo
    echo "## Command"
    echo
    echo '```'
    echo "$0 $*"
    echo "# = bench/compare-etcd.sh -o $out -c $levels -d $duration -w $warmup -O \"$ops\" -s $vsize -k $keys -t $target"
    echo '```'
    echo
    echo "## Machine"
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| CPU | $(nproc) cores: $cpu_model |"
    echo "| memory | $mem |"
    echo "| kernel | $(uname -sr) |"
    echo "| data directories on | $fs |"
    echo "| block devices | ${disk:-unknown} |"
    echo "| 4 KiB O_DSYNC writes (dd) | $dd_rate |"
    echo "| load average before / after | $load_before / $load_after |"
    echo "| raftd | $("$raftd" --version 2>&1 | head -n 1) |"
    echo "| etcd | $(etcd --version 2>&1 | head -n 1) (Debian etcd-server, --enable-v2, fsync on) |"
    echo "| load | $target endpoints, ${vsize}-byte values, $keys keys (uniform), ${warmup} s warm-up + ${duration} s per level, fresh cluster per level |"
    echo "| repetitions | $repeats (tables: the first; targets: the median ratio) |"
    echo
    for op in $ops; do
        r=$out/$op/raftd/runs.csv
        e=$out/$op/etcd/runs.csv
        echo "## $op"
        echo
        echo "![latency vs throughput]($op/latency-throughput.svg)"
        echo "![CDF]($op/cdf.svg)"
        echo
        echo "| clients | raftd ops/s | etcd ops/s | ratio | raftd mean ms | etcd mean ms | raftd p99 ms | etcd p99 ms | raftd p99.9 ms | etcd p99.9 ms | raftd err/timeouts | etcd err/timeouts | raftd-bench CPU % (raftd/etcd run) |"
        echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for c in ${levels//,/ }; do
            rt=$(value "$r" "$c" throughput_ops_s); et=$(value "$e" "$c" throughput_ops_s)
            echo "| $c | $rt | $et | $(ratio "$rt" "$et") | $(value "$r" "$c" mean_client_means_ms) | $(value "$e" "$c" mean_client_means_ms) | $(value "$r" "$c" p99_ms) | $(value "$e" "$c" p99_ms) | $(value "$r" "$c" p999_ms) | $(value "$e" "$c" p999_ms) | $(value "$r" "$c" errors)/$(value "$r" "$c" timeouts) | $(value "$e" "$c" errors)/$(value "$e" "$c" timeouts) | $(value "$r" "$c" bench_cpu_pct)/$(value "$e" "$c" bench_cpu_pct) |"
        done
        echo
        echo "Server CPU (sum over the 3 processes, % of one core) and memory under load (RSS; private = RssAnon, the RSS without shared library pages):"
        echo
        echo "| clients | raftd CPU % | etcd CPU % | raftd RSS MB (all 3 / largest) | etcd RSS MB (all 3 / largest) | raftd / etcd private MB (largest) |"
        echo "|---:|---:|---:|---:|---:|---:|"
        for c in ${levels//,/ }; do
            echo "| $c | $(value "$r" "$c" server_cpu_pct) | $(value "$e" "$c" server_cpu_pct) | $(value "$r" "$c" server_rss_mb_total) / $(value "$r" "$c" server_rss_mb_max_node) | $(value "$e" "$c" server_rss_mb_total) / $(value "$e" "$c" server_rss_mb_max_node) | $(value "$r" "$c" server_anon_mb_max_node) / $(value "$e" "$c" server_anon_mb_max_node) |"
        done
        echo
    done
    if [ "$repeats" -gt 1 ]; then
        echo "## Every repetition"
        echo
        echo "Throughput ratio raftd/etcd per level, repetitions in order (odd ones ran raftd first, even ones etcd), then the median:"
        echo
        echo "| operation | clients | ratios | median |"
        echo "|---|---:|---|---:|"
        for op in $ops; do
            for c in ${levels//,/ }; do
                all=$(rep_ratios "$op" "$c" throughput_ops_s 0)
                # shellcheck disable=SC2086
                echo "| $op | $c | ${all// /, } | $(median $all) |"
            done
        done
        echo
    fi
    echo "## The targets of issue 5"
    echo
    if [ "$repeats" -gt 1 ]; then
        echo "raftd and etcd columns: the first repetition; ratio: the median over the $repeats repetitions (each one's in brackets), which the verdict judges."
        echo
    fi
    echo "| target | raftd | etcd | ratio | verdict |"
    echo "|---|---:|---:|---:|---|"
    first=${levels%%,*}
    last=${levels##*,}
    if [ -f "$out/put/raftd/runs.csv" ] && [ "$first" = 1 ]; then
        target_row "write throughput, 1 client, >= 2x etcd" put 1 throughput_ops_s 0 2
    fi
    if [ -f "$out/put/raftd/runs.csv" ] && [ "$last" = 64 ]; then
        target_row "write throughput, 64 clients, >= 3x etcd" put 64 throughput_ops_s 0 3
    fi
    if [ -f "$out/qget/raftd/runs.csv" ] && [ "$last" = 64 ]; then
        target_row "quorum-read throughput, 64 clients, >= 3x etcd" qget 64 throughput_ops_s 0 3
    fi
    for op in $ops; do
        for c in ${levels//,/ }; do
            # etcd/raftd >= 1 means raftd is no worse
            target_row "p99 latency, $op, $c clients, <= etcd's (ratio = etcd/raftd)" "$op" "$c" p99_ms 1 1
        done
    done
    a=$(largest raftd server_rss_mb_max_node); b=$(largest etcd server_rss_mb_max_node)
    x=$(ratio "$b" "$a")
    echo "| resident memory per process under load (largest seen, MB), <= 1/10 of etcd's (ratio = etcd/raftd) | $a | $b | $x | $(verdict "$x" 10) |"
    a=$(largest raftd server_anon_mb_max_node); b=$(largest etcd server_anon_mb_max_node)
    x=$(ratio "$b" "$a")
    echo "| (for context) private memory per process, RssAnon (largest seen, MB) | $a | $b | $x | - |"
    echo
    if [ "$repeats" = 1 ]; then
        echo "Figures are single runs on a shared machine: treat differences under ~10% as noise (-r N repeats the comparison and judges by the median)."
    else
        echo "Memory: the largest value seen in any repetition."
    fi
} > "$report"
echo "$prog: report in $report" >&2
exit $status
