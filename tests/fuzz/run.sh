#!/bin/bash
# run.sh - run raftd's libFuzzer targets one after the other (doc/fuzzing.md).
#
# Each target runs on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<target>, committed; never written to), with its
# dictionary, and fails if it finds anything (a crash, a sanitizer report,
# a leak, a timeout, running out of memory). Prints one line per target
# (execs, coverage, corpus, CPU time) and "N passed, N failed"; exits 1 if
# any failed. "make fuzz" and "make check" (tests/fuzz/check.sh) call it.
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 60); 0: only replay the corpus
#   FUZZ_CPU_SECONDS  stop a target once it has used this much CPU time
#                 (checked every 5 s; libFuzzer's own limit, FUZZ_SECONDS,
#                 is wall time, which a niced fuzzer on a busy machine
#                 spends mostly waiting). A target stopped this way passes.
#   FUZZ_CORPUS_FROM  directories of earlier runs (FUZZ_OUT of a run.sh):
#                 each target starts from DIR/<target>/corpus as well as
#                 its seeds, so a long run goes on where the last one ended
#   FUZZ_TARGETS  targets to run (default: all)
#   FUZZ_OUT      where each target's directory goes (default
#                 BUILDDIR/tests/fuzz/work): <target>/log (libFuzzer's
#                 output), stats, corpus/ (seeds + what the run added),
#                 crashes/ (inputs that failed)
#   FUZZ_NICE     nice level for the fuzzers (default 0)
#   FUZZ_TIMEOUT  seconds one input may take before it counts as a hang
#                 (default 25)
#   FUZZ_BUILDDIR, FUZZ_SRCDIR  the build and source trees (default: ., and
#                 this script's tree)
set -u

srcdir=${FUZZ_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${FUZZ_BUILDDIR:-.}
seconds=${FUZZ_SECONDS:-60}
out=${FUZZ_OUT:-$builddir/tests/fuzz/work}
nice_level=${FUZZ_NICE:-0}
per_input=${FUZZ_TIMEOUT:-25}
cpu_budget=${FUZZ_CPU_SECONDS:-0}
corpus_from=${FUZZ_CORPUS_FROM:-}
targets=${FUZZ_TARGETS:-rpc peer_auth keys_api wal snapshot config door}
[ -n "$seconds" ] || seconds=60
# Leaks in libraries, not raftd's (lsan.supp says which and why).
export LSAN_OPTIONS="suppressions=$srcdir/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
case $seconds in *[!0-9]*) echo "FUZZ_SECONDS must be a number" >&2; exit 2;; esac
case $cpu_budget in ''|*[!0-9]*) echo "FUZZ_CPU_SECONDS must be a number" >&2; exit 2;; esac

# The value of "name: value" in libFuzzer's final stats, or of the last
# progress line's field (cov:, ft:, corp:).
stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }
progress() { grep -o "$1: [^ ]*" "$2" | tail -n 1 | sed "s/^$1: //"; }

# CPU seconds (user + system) process $1 has used so far, with its
# children's that it has waited for (fuzz_config runs each input in a
# child: libconfig may exit the process).
cpu_of() {
    awk -v hz="$(getconf CLK_TCK)" \
        '{ sub(/^.*\) /, ""); print int(($12 + $13 + $14 + $15) / hz) }' \
        "/proc/$1/stat" 2>/dev/null
}

# Wait for the fuzzer (pid $1, writing in $2); with a CPU budget, interrupt
# it (SIGINT: libFuzzer prints its final stats and exits 72) once it is spent.
wait_for_fuzzer() {
    local pid=$1 dir=$2 used
    if [ "$cpu_budget" -gt 0 ]; then
        while kill -0 "$pid" 2>/dev/null; do
            used=$(cpu_of "$pid")
            if [ -n "$used" ] && [ "$used" -ge "$cpu_budget" ]; then
                : > "$dir/cpu-budget-reached"
                kill -INT "$pid"
                break
            fi
            sleep 5
        done
    fi
    wait "$pid"
}

# Run fuzzer $1 on corpus $2/corpus, with libFuzzer arguments $3...
run_fuzzer() {
    local bin=$1 dir=$2
    shift 2
    nice -n "$nice_level" "$bin" "$@" "$dir/corpus" > "$dir/log" 2>&1 &
    wait_for_fuzzer $! "$dir"
}

run_target() {
    local t=$1 bin=$builddir/tests/fuzz/fuzz_$1 dir=$out/$1
    local seeds=$srcdir/tests/fuzz/corpus/$1 dict=$srcdir/tests/fuzz/$1.dict
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/crashes"
    if [ ! -x "$bin" ]; then
        echo "fuzz_$t: FAILED: $bin is not built (make fuzz builds it)"
        return 1
    fi
    [ -d "$seeds" ] && cp "$seeds"/* "$dir/corpus/" 2>/dev/null
    local earlier
    for earlier in $corpus_from; do
        [ -d "$earlier/$t/corpus" ] && cp "$earlier/$t/corpus"/* "$dir/corpus/" 2>/dev/null
    done
    local args=(-print_final_stats=1 -timeout="$per_input" -rss_limit_mb=2048
                -artifact_prefix="$dir/crashes/")
    [ -s "$dict" ] && args+=(-dict="$dict")
    if [ "$seconds" -gt 0 ]; then
        args+=(-max_total_time="$seconds")
    else
        args+=(-runs=0)
    fi
    local start end rc cpu
    start=$(date +%s)
    TIMEFORMAT='%U %S'
    { time run_fuzzer "$bin" "$dir" "${args[@]}"; } 2> "$dir/time"
    rc=$?
    # libFuzzer exits 72 when interrupted; it was us, for the CPU budget.
    [ $rc -eq 72 ] && [ -e "$dir/cpu-budget-reached" ] && rc=0
    end=$(date +%s)
    cpu=$(awk '{printf "%.1f", $1 + $2}' "$dir/time" 2>/dev/null)
    local execs cov ft files crashes
    execs=$(stat number_of_executed_units "$dir/log")
    cov=$(progress cov "$dir/log")
    ft=$(progress ft "$dir/log")
    files=$(find "$dir/corpus" -type f | wc -l)
    crashes=$(find "$dir/crashes" -type f ! -name 'slow-unit-*' | wc -l)
    {
        echo "target: $t"
        echo "result: $([ $rc -eq 0 ] && [ "$crashes" -eq 0 ] && echo ok || echo FAILED)"
        echo "exit status: $rc"
        echo "seconds asked: $seconds"
        echo "cpu seconds asked: $cpu_budget"
        echo "wall seconds: $((end - start))"
        echo "cpu seconds: ${cpu:-?}"
        echo "execs: ${execs:-?}"
        echo "execs per second: $(stat average_exec_per_sec "$dir/log")"
        echo "coverage (edges): ${cov:-?}"
        echo "features: ${ft:-?}"
        echo "corpus files: $files ($(progress corp "$dir/log") as libFuzzer counts)"
        echo "peak rss mb: $(stat peak_rss_mb "$dir/log")"
        echo "crash files: $crashes"
    } > "$dir/stats"
    if [ $rc -ne 0 ] || [ "$crashes" -gt 0 ]; then
        echo "fuzz_$t: FAILED (exit $rc, $crashes crash file(s) in $dir/crashes; log $dir/log):"
        grep -E 'ERROR|SUMMARY|property violated|Test unit written|runtime error' \
            "$dir/log" | head -n 20 | sed 's/^/    /'
        tail -n 40 "$dir/log" | sed 's/^/    | /'
        return 1
    fi
    printf 'fuzz_%s: ok: %s execs in %s s (cpu %s s), cov %s, ft %s, corpus %s files\n' \
        "$t" "${execs:-?}" "$((end - start))" "${cpu:-?}" "${cov:-?}" \
        "${ft:-?}" "$files"
    return 0
}

passed=0
failed=0
mkdir -p "$out"
echo "fuzzing ${targets// /, } for ${seconds} s each (results in $out)"
for t in $targets; do
    if run_target "$t"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
