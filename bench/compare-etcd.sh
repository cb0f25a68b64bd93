#!/bin/bash
# compare-etcd.sh - raftd next to etcd: the same sweep against a local
# 3-node raftd cluster and a local 3-member etcd cluster (Debian's
# etcd-server, --enable-v2, fsync on), both curves in one figure per
# operation, and a markdown report with the machine's description.
#
#   bench/compare-etcd.sh [-o DIR] [-c LEVELS] [-d SEC] [-w SEC] [-O "OPS"]
#                         [-s BYTES] [-k KEYS] [-t "TARGETS"] [-r N] [-b RAFTD]
#                         [-B RAFTD_BENCH] [-x "EXTRA raftd-bench OPTIONS"]
#                         [-S "SCENARIOS"] [-N KEYS] [-K COUNT] [-L]
#
#   -o DIR      results (default compare-results); per operation OP:
#               DIR/OP/{raftd,etcd}/ (runs.csv, cdf-*.csv, clients-*.csv,
#               their own plots) and DIR/OP/ the combined plots and plot.gp;
#               DIR/REPORT.md the report
#   -c LEVELS   client counts (default 1,4,16,64)
#   -d SEC      measured seconds per level (default 15)
#   -w SEC      warm-up seconds per level (default 3)
#   -O "OPS"    operations, space-separated (default "put qget"); -O ""
#               skips the sweep (e.g. -O "" -S failover: only a scenario)
#   -s BYTES    value size (default 64)
#   -k KEYS     number of keys (default 1000)
#   -t TARGETS  one, all or leader (default all); several, space-separated
#               (-t "all leader"), sweep each operation once per target,
#               into DIR/OP-TARGET/ instead of DIR/OP/
#   -r N        run the whole comparison N times (default 1), raftd and
#               etcd taking turns to go first; the first repetition fills
#               DIR/OP/{raftd,etcd}, the others DIR/OP/rep-K/{raftd,etcd}
#               (data and plot.gp, pictures only for the first);
#               the report gives every repetition's ratios and judges the
#               targets by their median (single runs on a shared machine
#               move by 10-20%)
#   -b RAFTD    the raftd binary (default: src/raftd of the build tree, PATH)
#   -B BENCH    raftd-bench (default: next to raftd, then PATH)
#   -S "SCENARIOS"  after the sweep, space-separated (default: none), each
#               for both systems in turn (odd repetitions raftd first), into
#               DIR/SCENARIO/{raftd,etcd}/ (repetitions: rep-K/ as above):
#      grow       a fresh cluster is filled with -N distinct keys (raftd-bench
#                 --fill, 64 clients, -s bytes: timeline.csv, fill.csv, a
#                 timeline figure), stopped (SIGTERM), its data measured
#                 (du), and restarted on its data: restart.csv has the
#                 seconds from launching to the first quorum read of the
#                 last key answered with its value (polled every 5 ms)
#      failover   a fresh cluster, 100 writes/s (open loop, 1 s timeout) to a
#                 node that does not lead (moving to another live node after
#                 a failure); -K times the leader is killed with SIGKILL and
#                 restarted on its data once the writes flow again:
#                 kills.csv (time from the kill to the next acknowledged
#                 write, failed writes meanwhile), writes.csv (every write)
#      coldstart  -K times: empty data directories, then the seconds from
#                 launching the processes to the first acknowledged write
#                 (polled every 5 ms, over the nodes in turn): coldstart.csv
#               (bench/scenario.py, bench/raftd-nodes.sh and etcd-cluster.sh
#               do the work)
#   -N KEYS     keys of the grow scenario (default 1000000)
#   -K COUNT    kills per failover run, cold starts per coldstart run
#               (default 5)
#   -L          busy machine: stress-ng --cpu 2 runs beside both systems for
#               the whole comparison (the report says so)
#
# Both systems are restarted with fresh data before every level and
# scenario. raftd nodes listen on 127.0.0.1:17001-17003, etcd members serve clients on
# 127.0.0.1:22379-22381 and peers on 22480-22482; data live under a
# temporary directory that is removed at the end. Only processes this
# script started are stopped.
set -uo pipefail

prog=${0##*/}
cmdline="$0$(printf ' %q' "$@")"
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
scenarios=
grow_keys=1000000
kills=5
busy=0
while getopts ":o:c:d:w:O:s:k:t:r:b:B:x:S:N:K:Lh" opt; do
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
    S) scenarios=$OPTARG ;;
    N) grow_keys=$OPTARG ;;
    K) kills=$OPTARG ;;
    L) busy=1 ;;
    h) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "bad option -$OPTARG (see -h)" ;;
    esac
done

case $repeats in ''|*[!0-9]*|0) die "-r wants a count of 1 or more" ;; esac
case $kills in ''|*[!0-9]*|0) die "-K wants a count of 1 or more" ;; esac
case $grow_keys in ''|*[!0-9]*) die "-N wants a number of keys" ;; esac
[ "$grow_keys" -ge 10 ] || die "-N wants at least 10 keys"
for sc in $scenarios; do
    case $sc in grow|failover|coldstart) ;; *) die "unknown scenario $sc (grow, failover, coldstart)" ;; esac
done
for t in $target; do
    case $t in one|all|leader) ;; *) die "unknown target $t (one, all, leader)" ;; esac
done
[ -n "$target" ] || die "-t wants a target"
[ -n "$ops$scenarios" ] || die "nothing to do: -O \"\" and no -S"

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
py=/usr/bin/python3
[ -z "$scenarios" ] || [ -x "$py" ] || die "the scenarios need /usr/bin/python3"
[ "$busy" = 0 ] || command -v stress-ng >/dev/null || die "-L needs stress-ng: apt-get install -y stress-ng"

mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/raftd-compare.XXXXXX") || die "no temp dir"
etcd_dir=$tmp/etcd
rnodes_dir=$tmp/rnodes   # the scenarios' raftd cluster (bench/raftd-nodes.sh)
export RAFTD=$raftd
bench_pid=
py_pid=
stress_pid=
stop_stress() {
    if [ -n "$stress_pid" ] && kill -0 "$stress_pid" 2>/dev/null; then
        kill -TERM "$stress_pid"  # stress-ng stops its workers
        wait "$stress_pid" 2>/dev/null
    fi
    stress_pid=
}
cleanup() {
    if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -TERM "$bench_pid"   # raftd-bench stops its raftd cluster
        wait "$bench_pid" 2>/dev/null
    fi
    if [ -n "$py_pid" ] && kill -0 "$py_pid" 2>/dev/null; then
        kill -TERM "$py_pid"      # a scenario in progress
        wait "$py_pid" 2>/dev/null
    fi
    "$here/etcd-cluster.sh" stop "$etcd_dir" 2>/dev/null
    [ -d "$rnodes_dir" ] && "$here/raftd-nodes.sh" stop "$rnodes_dir" 2>/dev/null
    stop_stress
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# the sweep's units: an operation with a target, in DIR/UNIT; one target
# keeps the old layout (UNIT = OP), several name them OP-TARGET
units=
for t in $target; do
    for op in $ops; do
        if [ "$target" = "${target%% *}" ]; then units="$units $op"; else units="$units $op-$t"; fi
    done
done
units=${units# }
first_target=${target%% *}
unit_op() { echo "${1%%-*}"; }
unit_target() { case $1 in *-*) echo "${1#*-}" ;; *) echo "$first_target" ;; esac; }
# unit_of OP TARGET: the unit's name ("" if not swept)
unit_of() {
    local u
    for u in $units; do
        [ "$(unit_op "$u")" = "$1" ] && [ "$(unit_target "$u")" = "$2" ] && { echo "$u"; return; }
    done
}

common=(-c "$levels" -d "$duration" -w "$warmup" -s "$vsize" -k "$keys")
# shellcheck disable=SC2206
extra_args=($extra)

run_bench() { # label outdir unit args...
    local label=$1 dir=$2 unit=$3
    shift 3
    echo "== $label $unit: $*" >&2
    "$bench" "${common[@]}" "${extra_args[@]}" -O "$(unit_op "$unit")" \
        -t "$(unit_target "$unit")" -l "$label" -o "$dir" "$@" &
    bench_pid=$!
    wait "$bench_pid"
    local rc=$?
    bench_pid=
    return "$rc"
}

# --- the machine ------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
dd_rate=$(dd if=/dev/zero of="$tmp/dsync.test" bs=4k count=300 oflag=dsync 2>&1 |
          tail -n 1 | sed 's/.*, //')
rm -f "$tmp/dsync.test"
started=$(date -u '+%Y-%m-%d %H:%M UTC')
t0=$SECONDS
if [ "$busy" = 1 ]; then
    stress-ng --cpu 2 --quiet > "$out/stress-ng.log" 2>&1 < /dev/null &
    stress_pid=$!
    echo "$prog: busy machine: stress-ng --cpu 2 (pid $stress_pid) runs beside both systems" >&2
fi

# where repetition REP of UNIT (or SCENARIO) puts its results
rep_dir() { if [ "$1" = 1 ]; then echo "$out/$2"; else echo "$out/$2/rep-$1"; fi; }
plot_opt() { [ "$1" = 1 ] || echo --no-plot; } # repetitions: data only
run_raftd() { # REP UNIT
    # shellcheck disable=SC2046
    run_bench raftd "$(rep_dir "$1" "$2")/raftd" "$2" --local 3 --raftd "$raftd" \
        --launcher "$launcher" --local-port 17001 --local-dir "$tmp/raftd" $(plot_opt "$1")
}
run_etcd() { # REP UNIT
    # shellcheck disable=SC2046
    run_bench etcd "$(rep_dir "$1" "$2")/etcd" "$2" $(plot_opt "$1") \
        -e http://127.0.0.1:22379,http://127.0.0.1:22380,http://127.0.0.1:22381 \
        --restart-cmd "'$here/etcd-cluster.sh' restart '$etcd_dir'" \
        --watch "--data-dir $etcd_dir/m"
    local rc=$?
    "$here/etcd-cluster.sh" stop "$etcd_dir"
    return "$rc"
}

# --- scenarios ----------------------------------------------------------------
raftd_urls=http://127.0.0.1:17001,http://127.0.0.1:17002,http://127.0.0.1:17003
etcd_urls=http://127.0.0.1:22379,http://127.0.0.1:22380,http://127.0.0.1:22381
# cluster SYSTEM CMD: bench/raftd-nodes.sh or etcd-cluster.sh CMD on the
# scenarios' cluster of SYSTEM (start: fresh, waits; launch: fresh, no wait;
# resume: the stopped members on their data, no wait; stop: SIGTERM)
cluster() {
    if [ "$1" = raftd ]; then "$here/raftd-nodes.sh" "$2" "$rnodes_dir"
    else "$here/etcd-cluster.sh" "$2" "$etcd_dir"; fi
}
cluster_cmd() { # the same as a /bin/sh command line, for scenario.py
    if [ "$1" = raftd ]; then echo "'$here/raftd-nodes.sh' $2 '$rnodes_dir'"
    else echo "'$here/etcd-cluster.sh' $2 '$etcd_dir'"; fi
}
urls_of() { if [ "$1" = raftd ]; then echo "$raftd_urls"; else echo "$etcd_urls"; fi; }
pidfiles_of() {
    if [ "$1" = raftd ]; then echo "$rnodes_dir/node1.pid,$rnodes_dir/node2.pid,$rnodes_dir/node3.pid"
    else echo "$etcd_dir/m1.pid,$etcd_dir/m2.pid,$etcd_dir/m3.pid"; fi
}
data_dirs_of() {
    if [ "$1" = raftd ]; then echo "$rnodes_dir/node1 $rnodes_dir/node2 $rnodes_dir/node3"
    else echo "$etcd_dir/m1 $etcd_dir/m2 $etcd_dir/m3"; fi
}
wipe_data() { # SYSTEM: the data directories, with the members stopped
    if [ "$1" = raftd ]; then "$here/raftd-nodes.sh" wipe "$rnodes_dir"
    else rm -rf "$etcd_dir"/m1 "$etcd_dir"/m2 "$etcd_dir"/m3; fi
}
keep_logs() { # SYSTEM DIR: the members' logs beside the results
    if [ "$1" = raftd ]; then cat "$rnodes_dir"/node*.log > "$2/cluster.log" 2>/dev/null
    else cat "$etcd_dir"/m*.log > "$2/cluster.log" 2>/dev/null; fi
}
# scenario OUT ARGS...: bench/scenario.py ARGS with its standard output in
# OUT, in the background so that a signal stops it at once (cleanup)
scenario() {
    local o=$1 rc
    shift
    "$py" "$here/scenario.py" "$@" > "$o" &
    py_pid=$!
    wait "$py_pid"
    rc=$?
    py_pid=
    return "$rc"
}
# the value raftd-bench --fill writes: 8 zeros, then x up to the value size
fill_value() {
    if [ "$vsize" -ge 8 ]; then printf '00000000%*s' $((vsize - 8)) '' | tr ' ' x
    else printf '%*s' "$vsize" '' | tr ' ' 0; fi
}

scenario_grow() { # SYSTEM REP DIR
    local sys=$1 d=$3 rc=0 urls key sz line
    urls=$(urls_of "$sys")
    cluster "$sys" start >/dev/null || return 1
    # shellcheck disable=SC2046
    "$bench" --fill "$grow_keys" -c 64 -s "$vsize" -t all -e "$urls" -l "$sys" \
        -o "$d" $(plot_opt "$2") > "$d/fill.log" 2>&1 &
    bench_pid=$!
    wait "$bench_pid" || rc=1
    bench_pid=
    tail -n 1 "$d/fill.log" >&2
    cluster "$sys" stop
    [ "$rc" = 0 ] || { keep_logs "$sys" "$d"; return 1; }
    # the data after a clean stop: the largest member's and all (MB)
    # shellcheck disable=SC2046
    sz=$(du -sk $(data_dirs_of "$sys") |
         awk '{ t += $1; if ($1 > m) m = $1 } END { printf "%.1f,%.1f", m / 1024, t / 1024 }')
    key=bench/k$(printf '%07d' $((grow_keys - 1)))
    echo "seconds,launch_s,attempts,data_mb_max_member,data_mb_total,key" > "$d/restart.csv"
    scenario "$d/first-read.out" first-read --urls "$urls" --key "$key" \
        --value "$(fill_value)" --launch "$(cluster_cmd "$sys" resume)" || rc=1
    line=$(cat "$d/first-read.out")
    rm -f "$d/first-read.out"
    [ -n "$line" ] && echo "$line,$sz,$key" >> "$d/restart.csv"
    echo "$sys grow: restart to the first quorum read of $key: ${line%%,*} s; data $sz MB (largest member, all)" >&2
    keep_logs "$sys" "$d"
    cluster "$sys" stop
    return "$rc"
}

scenario_failover() { # SYSTEM REP DIR
    local sys=$1 d=$3 rc=0
    cluster "$sys" start >/dev/null || return 1
    # its progress (a line per kill) on standard error
    scenario /dev/null failover --urls "$(urls_of "$sys")" \
        --pidfiles "$(pidfiles_of "$sys")" --resume "$(cluster_cmd "$sys" resume)" \
        --kills "$kills" --log "$d/writes.csv" --kills-csv "$d/kills.csv" || rc=1
    keep_logs "$sys" "$d"
    cluster "$sys" stop
    return "$rc"
}

scenario_coldstart() { # SYSTEM REP DIR
    local sys=$1 d=$3 rc=0 k line
    if [ "$sys" = raftd ]; then "$here/raftd-nodes.sh" prepare "$rnodes_dir" || return 1; fi
    echo "run,seconds,launch_s,attempts" > "$d/coldstart.csv"
    for k in $(seq 1 "$kills"); do
        cluster "$sys" stop
        wipe_data "$sys" || return 1
        # the clock starts in scenario.py before the launch command, which
        # only starts the processes (no waiting)
        if scenario "$d/first-write.out" first-write --urls "$(urls_of "$sys")" \
                --launch "$(cluster_cmd "$sys" launch)"; then
            line=$(cat "$d/first-write.out")
            echo "$k,$line" >> "$d/coldstart.csv"
            echo "$sys coldstart $k: first write acknowledged after ${line%%,*} s" >&2
        else
            rc=1
        fi
        cluster "$sys" stop
    done
    rm -f "$d/first-write.out"
    keep_logs "$sys" "$d"
    return "$rc"
}

run_scenario() { # SCENARIO SYSTEM REP
    local d
    d=$(rep_dir "$3" "$1")/$2
    rm -rf "$d"
    mkdir -p "$d" || return 1
    echo "== $2 $1 (repetition $3)" >&2
    "scenario_$1" "$2" "$3" "$d"
}

# gnuplot: both fills' timelines in one figure (DIR/grow/plot.gp)
plot_grow() {
    local g=$out/grow
    [ -f "$g/raftd/timeline.csv" ] && [ -f "$g/etcd/timeline.csv" ] || return 0
    cat > "$g/plot.gp" <<'GP'
# Written by compare-etcd.sh: the grow scenario's fills, raftd and etcd;
# run "gnuplot plot.gp" in this directory to redraw.
set datafile separator ','
set datafile columnheaders
set grid
set title 'writing each key once, 64 clients: writes/s against keys written'
do for [fmt in "svg png"] {
  if (fmt eq "svg") {
    set terminal svg size 960,640 dynamic font 'sans,12' background rgb 'white'
  } else {
    set terminal pngcairo size 960,640 font 'sans,11' background rgb 'white'
  }
  set output 'timeline.'.fmt
  set key top right box opaque
  set xlabel 'keys written'
  set ylabel 'writes/s (per second)'
  set xrange [0:*]
  set yrange [0:*]
  plot 'raftd/timeline.csv' using 'cumulative_keys':'ops_per_s' with lines lw 2 lc 1 title 'raftd', \
       'etcd/timeline.csv' using 'cumulative_keys':'ops_per_s' with lines lw 2 lc 2 title 'etcd'
}
GP
    command -v gnuplot >/dev/null || return 0
    (cd "$g" && gnuplot plot.gp) || echo "$prog: gnuplot failed on $g/plot.gp" >&2
}

status=0
for rep in $(seq 1 "$repeats"); do
    for unit in $units; do
        mkdir -p "$(rep_dir "$rep" "$unit")"
        if [ $((rep % 2)) = 1 ]; then # take turns, so that a drift of the
            run_raftd "$rep" "$unit" || status=1 # machine's speed hits both
            run_etcd "$rep" "$unit" || status=1
        else
            run_etcd "$rep" "$unit" || status=1
            run_raftd "$rep" "$unit" || status=1
        fi
        [ "$rep" = 1 ] && { "$bench" plot -o "$out/$unit" "$out/$unit/raftd" "$out/$unit/etcd" || status=1; }
    done
    for sc in $scenarios; do
        if [ $((rep % 2)) = 1 ]; then order="raftd etcd"; else order="etcd raftd"; fi
        for sys in $order; do
            run_scenario "$sc" "$sys" "$rep" ||
                { status=1; echo "$prog: $sys $sc failed (repetition $rep)" >&2; }
        done
    done
done
case " $scenarios " in *" grow "*) plot_grow ;; esac
stop_stress
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the report -------------------------------------------------------------
col() { head -n 1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1; }
# value FILE CLIENTS COLUMN: the column of the row with that client count
value() {
    local f=$1 c=$2 name=$3 cc vc
    [ -f "$f" ] || return 0
    cc=$(col "$f" clients)
    vc=$(col "$f" "$name")
    [ -n "$vc" ] || return 0
    awk -F, -v cc="$cc" -v vc="$vc" -v c="$c" 'NR > 1 && $cc == c { print $vc; exit }' "$f"
}
maxcol() { # the largest value of a column over all rows
    local f=$1 vc
    [ -f "$f" ] || return 0
    vc=$(col "$f" "$2")
    [ -n "$vc" ] || return 0
    awk -F, -v vc="$vc" 'NR > 1 && $vc != "" && (m == "" || $vc + 0 > m) { m = $vc + 0 } END { print m }' "$f"
}
largest() { # largest SYSTEM COLUMN: the largest value over every run
    local m="" v u rep
    for rep in $(seq 1 "$repeats"); do
        for u in $units; do
            v=$(maxcol "$(rep_dir "$rep" "$u")/$1/runs.csv" "$2")
            [ -n "$v" ] && m=$(awk -v x="$m" -v y="$v" 'BEGIN { print (x == "" || y > x) ? y : x }')
        done
    done
    echo "$m"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
# rep_ratios UNIT CLIENTS COLUMN INVERT: the raftd/etcd ratio of COLUMN in
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
# rep_values UNIT SYSTEM CLIENTS COLUMN: COLUMN in every repetition
rep_values() {
    local rep list=
    for rep in $(seq 1 "$repeats"); do
        list="$list $(value "$(rep_dir "$rep" "$1")/$2/runs.csv" "$3" "$4")"
    done
    echo "${list# }"
}
median_fmt() { # FORMAT NUMBERS...: their median ("n/a" and blanks left out)
    local fmt=$1
    shift
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
        awk -v f="$fmt" '{ v[NR] = $1 } END { if (!NR) print "n/a"; else if (NR % 2) printf f, v[(NR + 1) / 2]; else printf f, (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
median() { median_fmt %.2f "$@"; }
extreme() { # max|min FORMAT NUMBERS...
    local w=$1 fmt=$2
    shift 2
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
        awk -v w="$w" -v f="$fmt" 'NR == 1 { m = $1 } w == "max" { m = $1 } END { if (NR) printf f, m; else print "n/a" }'
}
# target_row TEXT UNIT CLIENTS COLUMN INVERT MIN: a row of the targets table,
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
    awk -v r="$1" -v m="$2" 'BEGIN { if (r == "n/a" || r == "") print "n/a"; else if (r + 0 >= m + 0) print "**met**"; else print "**missed**" }'
}
verdict_le() { # verdict VALUE MAX (value <= MAX)
    awk -v r="$1" -v m="$2" 'BEGIN { if (r == "n/a" || r == "") print "n/a"; else if (r + 0 <= m + 0) print "**met**"; else print "**missed**" }'
}

# scenario results: SCENARIO SYSTEM FILE COLUMN -> the column's values in
# every repetition's FILE (all rows), space-separated
scen_values() {
    local rep f vc list=
    for rep in $(seq 1 "$repeats"); do
        f=$(rep_dir "$rep" "$1")/$2/$3
        [ -f "$f" ] || continue
        vc=$(col "$f" "$4")
        [ -n "$vc" ] || continue
        list="$list $(awk -F, -v vc="$vc" 'NR > 1 { printf "%s ", $vc }' "$f")"
    done
    echo "$list" | xargs
}
# scen_cell SCENARIO SYSTEM FILE COLUMN FORMAT: the median over the
# repetitions, each repetition's value in brackets when there are several
scen_cell() {
    local all m
    all=$(scen_values "$1" "$2" "$3" "$4")
    # shellcheck disable=SC2086
    m=$(median_fmt "$5" $all)
    if [ "$repeats" = 1 ] || [ -z "$all" ]; then echo "$m"; else echo "$m (${all// /, })"; fi
}
scen_median() { # SCENARIO SYSTEM FILE COLUMN FORMAT: the median alone
    # shellcheck disable=SC2046
    median_fmt "$5" $(scen_values "$1" "$2" "$3" "$4")
}
has_scenario() { case " $scenarios " in *" $1 "*) return 0 ;; esac; return 1; }

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
fs=$(df -hT "$tmp" | awk 'NR == 2 { print $1 " (" $2 ", " $3 " total, " $5 " free)" }')
disk=$(lsblk -dno NAME,ROTA,MODEL 2>/dev/null | head -n 3 | awk '{ printf "%s%s rotational=%s %s", s, $1, $2, $3; s = "; " }')
if [ "$busy" = 1 ]; then busy_text="yes: stress-ng --cpu 2 ran beside both systems for the whole comparison"
else busy_text="no (-L: stress-ng --cpu 2 beside both systems)"; fi

report=$out/REPORT.md
{
    echo "# raftd vs etcd"
    echo
    echo "Started $started; took $((SECONDS - t0)) s."
    [ "$busy" = 1 ] && { echo; echo "**Busy machine**: \`stress-ng --cpu 2\` ran beside both systems for the whole comparison (-L); every figure below was measured under that load."; }
    echo
    echo "## Command"
    echo
    echo '```'
    echo "$cmdline"
    echo "# = bench/compare-etcd.sh -o $out -c $levels -d $duration -w $warmup -O \"$ops\" -s $vsize -k $keys -t \"$target\" -S \"$scenarios\" -N $grow_keys -K $kills$([ "$busy" = 1 ] && echo " -L")"
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
    echo "| busy machine | $busy_text |"
    echo "| raftd | $("$raftd" --version 2>&1 | head -n 1) |"
    echo "| etcd | $(etcd --version 2>&1 | head -n 1) (Debian etcd-server, --enable-v2, fsync on) |"
    [ -n "$units" ] &&
        echo "| sweep | $target endpoints, ${vsize}-byte values, $keys keys (uniform), ${warmup} s warm-up + ${duration} s per level, fresh cluster per level |"
    [ -n "$scenarios" ] &&
        echo "| scenarios | $scenarios (grow: $grow_keys keys; failover: $kills kills per run; coldstart: $kills starts per run) |"
    echo "| repetitions | $repeats (tables: the first; targets: the median) |"
    echo
    for unit in $units; do
        r=$out/$unit/raftd/runs.csv
        e=$out/$unit/etcd/runs.csv
        echo "## $unit"
        echo
        if [ "$unit" != "$(unit_op "$unit")" ]; then
            echo "$(unit_op "$unit"), -t $(unit_target "$unit")."
            echo
        fi
        echo "![latency vs throughput]($unit/latency-throughput.svg)"
        echo "![CDF]($unit/cdf.svg)"
        echo
        echo "| clients | raftd ops/s | etcd ops/s | ratio | raftd mean ms | etcd mean ms | raftd p50 ms | etcd p50 ms | raftd p99 ms | etcd p99 ms | raftd p99.9 ms | etcd p99.9 ms | raftd err/timeouts | etcd err/timeouts | raftd-bench CPU % (raftd/etcd run) |"
        echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for c in ${levels//,/ }; do
            rt=$(value "$r" "$c" throughput_ops_s); et=$(value "$e" "$c" throughput_ops_s)
            echo "| $c | $rt | $et | $(ratio "$rt" "$et") | $(value "$r" "$c" mean_client_means_ms) | $(value "$e" "$c" mean_client_means_ms) | $(value "$r" "$c" p50_ms) | $(value "$e" "$c" p50_ms) | $(value "$r" "$c" p99_ms) | $(value "$e" "$c" p99_ms) | $(value "$r" "$c" p999_ms) | $(value "$e" "$c" p999_ms) | $(value "$r" "$c" errors)/$(value "$r" "$c" timeouts) | $(value "$e" "$c" errors)/$(value "$e" "$c" timeouts) | $(value "$r" "$c" bench_cpu_pct)/$(value "$e" "$c" bench_cpu_pct) |"
        done
        echo
        echo "Server CPU (sum over the 3 processes, % of one core) and memory under load (RSS; private = RssAnon, the RSS without shared library pages; PSS from /proc/PID/smaps_rollup, shared pages divided among their sharers):"
        echo
        echo "| clients | raftd CPU % | etcd CPU % | raftd RSS MB (all 3 / largest) | etcd RSS MB (all 3 / largest) | raftd / etcd private MB (largest) | raftd / etcd PSS MB (largest) |"
        echo "|---:|---:|---:|---:|---:|---:|---:|"
        for c in ${levels//,/ }; do
            echo "| $c | $(value "$r" "$c" server_cpu_pct) | $(value "$e" "$c" server_cpu_pct) | $(value "$r" "$c" server_rss_mb_total) / $(value "$r" "$c" server_rss_mb_max_node) | $(value "$e" "$c" server_rss_mb_total) / $(value "$e" "$c" server_rss_mb_max_node) | $(value "$r" "$c" server_anon_mb_max_node) / $(value "$e" "$c" server_anon_mb_max_node) | $(value "$r" "$c" server_pss_mb_max_node) / $(value "$e" "$c" server_pss_mb_max_node) |"
        done
        echo
    done
    if [ "$repeats" -gt 1 ] && [ -n "$units" ]; then
        echo "## Every repetition"
        echo
        echo "Throughput ratio raftd/etcd per level, repetitions in order (odd ones ran raftd first, even ones etcd), then the median:"
        echo
        echo "| sweep | clients | ratios | median |"
        echo "|---|---:|---|---:|"
        for unit in $units; do
            for c in ${levels//,/ }; do
                all=$(rep_ratios "$unit" "$c" throughput_ops_s 0)
                # shellcheck disable=SC2086
                echo "| $unit | $c | ${all// /, } | $(median $all) |"
            done
        done
        echo
    fi

    # --- the scenarios ---
    if has_scenario grow; then
        echo "## grow: $grow_keys keys, then a restart"
        echo
        echo "A fresh cluster is filled with $grow_keys distinct keys, each written once in order (raftd-bench --fill, 64 clients over the 3 nodes, ${vsize}-byte values), then stopped with SIGTERM and restarted on its data; the restart is timed from launching the processes to the first quorum read of the last key that is answered with its value (polled every 5 ms over the nodes). Medians over the repetitions$([ "$repeats" -gt 1 ] && echo ", each one's in brackets"). Files: grow/{raftd,etcd}/fill.csv, timeline.csv, restart.csv."
        echo
        [ -f "$out/grow/timeline.svg" ] && { echo "![fill timeline](grow/timeline.svg)"; echo; }
        echo "| | raftd | etcd |"
        echo "|---|---:|---:|"
        row() { echo "| $1 | $(scen_cell grow raftd "$2" "$3" "$4") | $(scen_cell grow etcd "$2" "$3" "$4") |"; }
        row "keys written" fill.csv keys %.0f
        row "fill time, s" fill.csv seconds %.1f
        row "writes/s, whole fill" fill.csv throughput_ops_s %.0f
        row "writes/s, first 10% of the keys (empty store)" fill.csv first10_ops_s %.0f
        row "writes/s, last 10% of the keys (full store)" fill.csv last10_ops_s %.0f
        row "last 10% / first 10%" fill.csv last10_to_first10 %.3f
        row "write p50, ms" fill.csv p50_ms %.2f
        row "write p99, ms" fill.csv p99_ms %.2f
        row "errors during the fill" fill.csv errors %.0f
        row "timeouts during the fill" fill.csv timeouts %.0f
        row "data on disk after the fill, largest member, MB" restart.csv data_mb_max_member %.1f
        row "data on disk, all 3 members, MB" restart.csv data_mb_total %.1f
        row "restart to the first quorum read, s" restart.csv seconds %.3f
        echo
    fi
    if has_scenario failover; then
        echo "## failover: kill -9 of the leader under a light write load"
        echo
        echo "A fresh cluster; 100 writes/s, open loop (each write sent on time on its own connection whatever the earlier ones do; a new key per write, 1 s timeout), to a node that does not lead, moving to the next live node after a failure. $kills times per run the leader (GET /v2/stats/self) is killed with SIGKILL; timed from the kill to the earliest acknowledgement of a write sent after it; failed writes are the writes answered after the kill with an error or timed out, sent before that acknowledgement (those in flight at the kill included): at 100 writes/s a 1 s timeout alone makes about 100. Then the killed node is restarted on its data and the next kill waits until it serves the latest acknowledged key and the writes flow again. All kills of all repetitions pooled. Files: failover/{raftd,etcd}/kills.csv, writes.csv (every write: send and answer time, status)."
        echo
        echo "| | raftd | etcd |"
        echo "|---|---:|---:|"
        declare -A F
        for s in raftd etcd; do
            fv=$(scen_values failover "$s" kills.csv to_ack_s)
            ff=$(scen_values failover "$s" kills.csv failed_writes)
            fr=$(scen_values failover "$s" kills.csv rejoin_s)
            # shellcheck disable=SC2086
            {
                F[n_$s]=$(echo $fv | wc -w)
                F[med_$s]=$(median_fmt %.3f $fv)
                F[max_$s]=$(extreme max %.3f $fv)
                F[fmed_$s]=$(median_fmt %.1f $ff)
                F[fmax_$s]=$(extreme max %.0f $ff)
                F[rej_$s]=$(median_fmt %.2f $fr)
            }
        done
        echo "| kills with an acknowledged write after them | ${F[n_raftd]} | ${F[n_etcd]} |"
        echo "| time to the next acknowledged write, median s | ${F[med_raftd]} | ${F[med_etcd]} |"
        echo "| time to the next acknowledged write, max s | ${F[max_raftd]} | ${F[max_etcd]} |"
        echo "| failed writes per kill, median (max) | ${F[fmed_raftd]} (${F[fmax_raftd]}) | ${F[fmed_etcd]} (${F[fmax_etcd]}) |"
        echo "| killed node restarted and caught up, median s | ${F[rej_raftd]} | ${F[rej_etcd]} |"
        echo
    fi
    if has_scenario coldstart; then
        echo "## coldstart: a fresh cluster's first write"
        echo
        echo "$kills times per run: empty data directories, then timed from launching the 3 processes (bench/raftd-nodes.sh launch, bench/etcd-cluster.sh launch: they start the processes and return) to the first acknowledged PUT (a new attempt every 5 ms, over the nodes in turn, each on its own connection). All runs of all repetitions pooled. Files: coldstart/{raftd,etcd}/coldstart.csv."
        echo
        echo "| | raftd | etcd |"
        echo "|---|---:|---:|"
        # shellcheck disable=SC2046
        {
            echo "| runs | $(scen_values coldstart raftd coldstart.csv seconds | wc -w) | $(scen_values coldstart etcd coldstart.csv seconds | wc -w) |"
            echo "| first write acknowledged, median s | $(scen_median coldstart raftd coldstart.csv seconds %.3f) | $(scen_median coldstart etcd coldstart.csv seconds %.3f) |"
            echo "| min s | $(extreme min %.3f $(scen_values coldstart raftd coldstart.csv seconds)) | $(extreme min %.3f $(scen_values coldstart etcd coldstart.csv seconds)) |"
            echo "| max s | $(extreme max %.3f $(scen_values coldstart raftd coldstart.csv seconds)) | $(extreme max %.3f $(scen_values coldstart etcd coldstart.csv seconds)) |"
            echo "| launching took (median s) | $(scen_median coldstart raftd coldstart.csv launch_s %.3f) | $(scen_median coldstart etcd coldstart.csv launch_s %.3f) |"
        }
        echo
    fi

    put_unit=$(unit_of put "$first_target")
    first=${levels%%,*}
    last=${levels##*,}
    if [ -n "$units" ]; then
        echo "## The targets of issue 5"
        echo
        if [ "$repeats" -gt 1 ]; then
            echo "raftd and etcd columns: the first repetition; ratio: the median over the $repeats repetitions (each one's in brackets), which the verdict judges."
            echo
        fi
        echo "| target | raftd | etcd | ratio | verdict |"
        echo "|---|---:|---:|---:|---|"
        if [ -n "$put_unit" ] && [ "$first" = 1 ]; then
            target_row "write throughput, 1 client, >= 2x etcd" "$put_unit" 1 throughput_ops_s 0 2
        fi
        if [ -n "$put_unit" ] && [ "$last" = 64 ]; then
            target_row "write throughput, 64 clients, >= 3x etcd" "$put_unit" 64 throughput_ops_s 0 3
        fi
        qget_unit=$(unit_of qget "$first_target")
        if [ -n "$qget_unit" ] && [ "$last" = 64 ]; then
            target_row "quorum-read throughput, 64 clients, >= 3x etcd" "$qget_unit" 64 throughput_ops_s 0 3
        fi
        for unit in $units; do
            for c in ${levels//,/ }; do
                # etcd/raftd >= 1 means raftd is no worse
                target_row "p99 latency, $unit, $c clients, <= etcd's (ratio = etcd/raftd)" "$unit" "$c" p99_ms 1 1
            done
        done
        a=$(largest raftd server_rss_mb_max_node); b=$(largest etcd server_rss_mb_max_node)
        x=$(ratio "$b" "$a")
        echo "| resident memory per process under load (largest seen, MB), <= 1/10 of etcd's (ratio = etcd/raftd) | $a | $b | $x | $(verdict "$x" 10) |"
        a=$(largest raftd server_anon_mb_max_node); b=$(largest etcd server_anon_mb_max_node)
        x=$(ratio "$b" "$a")
        echo "| (for context) private memory per process, RssAnon (largest seen, MB) | $a | $b | $x | - |"
        echo
    fi

    echo "## The targets of issue 13"
    echo
    echo "Every figure is the median over the $repeats repetition(s) (the scenarios' kills and cold starts pooled over them); the verdict judges raftd's median against the target. A target whose measurement was not part of this run says how to get it."
    echo
    echo "| target | raftd | etcd | ratio | verdict |"
    echo "|---|---:|---:|---:|---|"
    nm() { echo "| $1 | not measured: $2 | | | n/a |"; }
    n_note=
    [ "$grow_keys" = 1000000 ] || n_note=" (measured with $grow_keys keys, not 1M)"
    if has_scenario grow; then
        a=$(scen_median grow raftd fill.csv last10_to_first10 %.3f); b=$(scen_median grow etcd fill.csv last10_to_first10 %.3f)
        echo "| write throughput with 1M keys >= 90% of the empty store's (writes/s of the last 10% of the keys / the first 10%)$n_note | $a | $b | $(ratio "$a" "$b") | $(verdict "$a" 0.90) |"
        a=$(scen_median grow raftd restart.csv seconds %.3f); b=$(scen_median grow etcd restart.csv seconds %.3f)
        echo "| restart with 1M keys answers a quorum read within 1 s (s)$n_note | $a | $b | $(ratio "$a" "$b") | $(verdict_le "$a" 1) |"
    else
        nm "write throughput with 1M keys >= 90% of the empty store's" "-S grow"
        nm "restart with 1M keys answers a quorum read within 1 s" "-S grow"
    fi
    for t in all leader; do
        u=$(unit_of put "$t")
        if [ -z "$u" ]; then
            nm "write p99 <= etcd's at every level, -t $t" "-O put -t \"all leader\""
            continue
        fi
        worst='' wc='' wa='' wb=''
        for c in ${levels//,/ }; do
            # shellcheck disable=SC2046
            m=$(median $(rep_ratios "$u" "$c" p99_ms 1))
            if [ "$m" != n/a ] && { [ -z "$worst" ] || awk -v a="$m" -v b="$worst" 'BEGIN { exit !(a < b) }'; }; then
                worst=$m wc=$c
                # shellcheck disable=SC2046
                wa=$(median_fmt %.3f $(rep_values "$u" raftd "$c" p99_ms))
                # shellcheck disable=SC2046
                wb=$(median_fmt %.3f $(rep_values "$u" etcd "$c" p99_ms))
            fi
        done
        echo "| write p99 <= etcd's at every level, -t $t (the worst level: $wc clients, p99 ms; ratio = etcd/raftd) | $wa | $wb | ${worst:-n/a} | $(verdict "${worst:-n/a}" 1) |"
    done
    if has_scenario coldstart; then
        a=$(scen_median coldstart raftd coldstart.csv seconds %.3f); b=$(scen_median coldstart etcd coldstart.csv seconds %.3f)
        echo "| a fresh cluster acknowledges its first write within 0.5 s (median s) | $a | $b | $(ratio "$a" "$b") | $(verdict_le "$a" 0.5) |"
    else
        nm "a fresh cluster acknowledges its first write within 0.5 s" "-S coldstart"
    fi
    if has_scenario failover; then
        echo "| after kill -9 of the leader, the next write is acknowledged within 0.4 s (median s) | ${F[med_raftd]} | ${F[med_etcd]} | $(ratio "${F[med_raftd]}" "${F[med_etcd]}") | $(verdict_le "${F[med_raftd]}" 0.4) |"
    else
        nm "after kill -9 of the leader, the next write is acknowledged within 0.4 s" "-S failover"
    fi
    if [ -n "$put_unit" ] && [ "$first" = 1 ]; then
        # shellcheck disable=SC2046
        a=$(median_fmt %.3f $(rep_values "$put_unit" raftd 1 p50_ms))
        # shellcheck disable=SC2046
        b=$(median_fmt %.3f $(rep_values "$put_unit" etcd 1 p50_ms))
        echo "| write p50 at 1 client <= 0.4 ms ($put_unit) | $a | $b | $(ratio "$a" "$b") | $(verdict_le "$a" 0.4) |"
    else
        nm "write p50 at 1 client <= 0.4 ms" "-O put with level 1 in -c"
    fi
    if [ "$busy" = 1 ] && [ -n "$units" ]; then
        worst='' wu='' wa='' wb=''
        for u in $units; do
            for c in ${levels//,/ }; do
                # shellcheck disable=SC2046
                m=$(median $(rep_ratios "$u" "$c" throughput_ops_s 0))
                if [ "$m" != n/a ] && { [ -z "$worst" ] || awk -v a="$m" -v b="$worst" 'BEGIN { exit !(a < b) }'; }; then
                    worst=$m wu="$u, $c clients"
                    # shellcheck disable=SC2046
                    wa=$(median_fmt %.1f $(rep_values "$u" raftd "$c" throughput_ops_s))
                    # shellcheck disable=SC2046
                    wb=$(median_fmt %.1f $(rep_values "$u" etcd "$c" throughput_ops_s))
                fi
            done
        done
        echo "| busy machine (stress-ng --cpu 2): throughput no worse than etcd's at any level (the worst: $wu, ops/s) | $wa | $wb | ${worst:-n/a} | $(verdict "${worst:-n/a}" 1) |"
    else
        nm "busy machine: no worse than etcd at any level" "-L (with a sweep)"
    fi
    if [ -n "$put_unit" ] && [ "$last" = 64 ]; then
        target_row "64-client writes >= 3x etcd's throughput ($put_unit)" "$put_unit" 64 throughput_ops_s 0 3
        # shellcheck disable=SC2046
        a=$(median_fmt %.1f $(rep_values "$put_unit" raftd 64 server_pss_mb_max_node))
        # shellcheck disable=SC2046
        b=$(median_fmt %.1f $(rep_values "$put_unit" etcd 64 server_pss_mb_max_node))
        # shellcheck disable=SC2046
        x=$(median $(rep_ratios "$put_unit" 64 server_pss_mb_max_node 1))
        echo "| PSS per process under 64-client writes <= 1/10 of etcd's (the largest process, MB; ratio = etcd/raftd) | $a | $b | $x | $(verdict "$x" 10) |"
    else
        nm "64-client writes >= 3x etcd" "-O put with level 64 last in -c"
        nm "PSS per process under 64-client writes <= 1/10 of etcd's" "-O put with level 64 last in -c"
    fi
    echo
    if [ "$repeats" = 1 ]; then
        echo "Figures are single runs on a shared machine: treat differences under ~10% as noise (-r N repeats the comparison and judges by the median)."
    else
        echo "Memory (issue 5): the largest value seen in any repetition."
    fi
} > "$report"
echo "$prog: report in $report" >&2
exit $status
