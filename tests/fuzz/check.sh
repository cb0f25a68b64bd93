#!/bin/bash
# check.sh - "make check": run every libFuzzer target briefly (FUZZ_SECONDS
# each, default 20; configure's FUZZ_CHECK_SECONDS), niced, after replaying
# its seed corpus. Skipped (77) when configure found no clang with
# libFuzzer. See doc/fuzzing.md.
set -u
builddir=${FUZZ_BUILDDIR:-${BUILDDIR:-.}}
if [ ! -x "$builddir/tests/fuzz/fuzz_rpc" ]; then
    echo "SKIP: the fuzzers are not built (configure found no clang with" \
         "libFuzzer: apt-get install clang libclang-rt-14-dev)"
    exit 77
fi
export FUZZ_SECONDS=${FUZZ_SECONDS:-20} FUZZ_NICE=${FUZZ_NICE:-19}
exec "${FUZZ_SRCDIR:-${SRCDIR:-.}}/tests/fuzz/run.sh"
