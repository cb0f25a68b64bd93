#!/bin/bash
# long-run.sh - start the long fuzzing runs in the background: every target
# for SECONDS (default 3600) of fuzzing, ONE AFTER THE OTHER, at nice 19,
# so that they take one core's idle time and leave others' work alone.
#
#   tests/fuzz/long-run.sh OUTDIR [SECONDS]     (from the build directory)
#
# Each target writes OUTDIR/<target>/: log (libFuzzer's output; its last
# lines are the final stats), stats (execs, coverage, corpus size, CPU
# time, result), corpus/ (seeds + what the run found), crashes/ (inputs
# that failed, if any). OUTDIR/summary is run.sh's output: one line per
# target as it finishes, then "N passed, N failed"; OUTDIR/pid is the
# runner's process id (kill -- -PID stops it and its fuzzer); OUTDIR/bin
# holds the copy of the fuzzers it runs. See doc/fuzzing.md.
#
# run.sh's settings pass through: FUZZ_TARGETS (which targets),
# FUZZ_CPU_SECONDS (stop each target after that much CPU time rather than
# wall time: at nice 19 on a busy machine a target gets a fraction of a
# core), FUZZ_CORPUS_FROM (go on from earlier runs' corpora), e.g.
#   FUZZ_TARGETS="wal door" FUZZ_CPU_SECONDS=3600 \
#   FUZZ_CORPUS_FROM=/work/fuzz-a tests/fuzz/long-run.sh /work/fuzz-c 86400
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [SECONDS]" >&2; exit 64; }
out=$1
seconds=${2:-3600}
builddir=${FUZZ_BUILDDIR:-$(pwd)}
[ -x "$builddir/tests/fuzz/fuzz_rpc" ] || {
    echo "$0: no fuzzers in $builddir/tests/fuzz: run make fuzz FUZZ_SECONDS=0 first" >&2
    exit 1
}
mkdir -p "$out/bin/tests/fuzz"
out=$(cd "$out" && pwd)
# A copy of the fuzzers: rebuilding or cleaning the build directory during
# the hours this takes must not change or remove the later targets'.
cp "$builddir"/tests/fuzz/fuzz_* "$out/bin/tests/fuzz/"
FUZZ_OUT=$out FUZZ_SECONDS=$seconds FUZZ_NICE=19 FUZZ_BUILDDIR=$out/bin \
FUZZ_SRCDIR=$(cd "$here/../.." && pwd) \
    nohup setsid "$here/run.sh" > "$out/summary" 2>&1 < /dev/null &
echo $! > "$out/pid"
echo "long fuzzing runs started (pid $!): $seconds s per target, one after" \
     "the other; follow $out/summary, and $out/<target>/log and stats"
