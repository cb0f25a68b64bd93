#!/bin/bash
# tests/sim/run.sh - the simulator's tests (part of `make check`):
#   1. soak: a few hundred seeds with random fault mixes, real core: no violation
#   2. determinism: a seed replays to the same digest; seeds differ; the
#      digest does not depend on output options or on the number of jobs
#   3. teaching mode: a scripted scenario shows an election and a failover,
#      another forged messages refused and reported, another a cluster
#      grown from 3 to 5 whose leader then removes itself
#   4. mutants: every tests/sim/mutants/*.sed, applied to a copy of src/raft,
#      must be caught by the checker within the default seed budget
# Exit status 0 if every check passed; the last line is "N passed, N failed".
#
# Environment: SRCDIR (source tree), BUILDDIR (where src/raft-sim is; built
# into a temporary directory if missing), CC, SIM_SEEDS (soak seeds, default
# 300), SIM_MUTANT_SEEDS (seed budget per mutant, default 4000: figure8 is
# caught in about one seed of 3,000, first at seed 3707).
set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILDDIR=${BUILDDIR:-$SRCDIR}
CC=${CC:-gcc}
SEEDS=${SIM_SEEDS:-300}
MUTANT_SEEDS=${SIM_MUTANT_SEEDS:-4000}
SIMFLAGS="-std=c11 -O2 -w"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/raft-sim-test.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

# The simulator and the core are compiled once into objects; a mutant
# recompiles only the core file it changes and links with the rest.
OBJ=$TMP/obj
mkdir -p "$OBJ"
compile_all() {
    local f pids=()
    # (the real store, kv.c, for --now-interval's state machine)
    for f in "$SRCDIR"/src/sim/*.c "$SRCDIR"/src/raft/*.c "$SRCDIR"/src/daemon/kv.c; do
        local part=${f%/*}; part=${part##*/}
        $CC $SIMFLAGS -I"$SRCDIR/src/raft" -c "$f" \
            -o "$OBJ/${part}_$(basename "$f" .c).o" 2>>"$OBJ/build.log" &
        pids+=($!)
        if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || return 1; pids=("${pids[@]:1}"); fi
    done
    for p in "${pids[@]}"; do wait "$p" || return 1; done
}
link_sim() { # link_sim OUTPUT [REPLACED_CORE_FILE.c MUTATED.o]
    local objs=("$OBJ"/sim_*.o "$OBJ"/daemon_*.o) o
    for o in "$OBJ"/raft_*.o; do
        [ "$(basename "$o")" = "raft_$(basename "${2:-none}" .c).o" ] && continue
        objs+=("$o")
    done
    [ -n "${3:-}" ] && objs+=("$3")
    $CC "${objs[@]}" -o "$1" >>"$OBJ/build.log" 2>&1
}
if ! compile_all; then
    cat "$OBJ/build.log"
    fail "compile raft-sim and the core"
    echo "$passed passed, $failed failed"
    exit 1
fi

SIM=${RAFT_SIM:-$BUILDDIR/src/raft-sim}
if [ ! -x "$SIM" ]; then
    SIM=$TMP/raft-sim
    if ! link_sim "$SIM"; then
        cat "$OBJ/build.log"
        fail "build raft-sim"
        echo "$passed passed, $failed failed"
        exit 1
    fi
fi
echo "raft-sim: $SIM"

# Every run below is bounded by the simulator itself (virtual time, seed
# counts); `timeout` guards against a hang all the same.
run() { timeout 120 "$@"; }

# ---- 1. soak with the real core ----------------------------------------
out=$(run "$SIM" --seeds "$SEEDS" -q 2>&1)
rc=$?
echo "$out" | tail -1
if [ $rc -eq 0 ] && echo "$out" | grep -q "^soak: $SEEDS seeds run, 0 violations"; then
    pass "soak: $SEEDS seeds with random fault mixes, no violation"
else
    echo "$out" | tail -60
    fail "soak: $SEEDS seeds (exit $rc)"
fi

# A few fixed configurations as well: partitions only, 9 nodes, slow disks
# with torn writes, no pre-vote and no check-quorum, background syncing,
# forged messages with snapshots compacting right up to the applied index,
# membership changes (churn) with spares, crashes, partitions, pauses, loss,
# snapshots, slow disks and background syncing; "now" entries (TTL time,
# kv.h) from leaders whose clocks disagree, across leader changes, crashes
# and snapshots: every node must apply them in the same order and keep the
# same store clock.
for args in "--nodes 9 --faults partition,crash --fault-rate 1" \
            "--nodes 5 --faults crash,pause,vote-crash --disk 1-20 --torn 0.5 --fault-rate 1" \
            "--nodes 3 --faults partition,pause --no-prevote --no-check-quorum --loss 10% --dup 5% --reorder 20%" \
            "--nodes 5 --bg-sync 1 --faults crash,pause,partition --torn 0.5 --disk 0-20 --fault-rate 1 --rate 20" \
            "--nodes 5 --faults partition,crash,forge --fault-rate 1 --rate 10 --snapshots 0.3 --snapshot-keep 0" \
            "--nodes 5 --faults partition,crash,pause,churn --fault-rate 1 --rate 10 --snapshots 0.3 --snapshot-keep 0 --transfers 0.3" \
            "--nodes 3 --spares 3 --faults crash,partition,vote-crash,churn --fault-rate 1.5 --loss 5% --bg-sync 0.5 --disk 0-20 --torn 0.5 --snapshots 0.2" \
            "--nodes 5 --faults partition,crash,pause --fault-rate 1 --now-interval 200 --snapshots 0.3 --snapshot-keep 0 --transfers 0.3" \
            "--nodes 5 --leader-probe --faults crash,partition,pause,churn --fault-rate 1.5 --snapshots 0.3 --transfers 0.3" \
            "--nodes 3 --leader-probe --faults crash,partition,vote-crash --fault-rate 2 --torn 0.5 --loss 5%"; do
    # shellcheck disable=SC2086
    out=$(run "$SIM" --seeds 40 -q $args 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && echo "$out" | grep -q "^soak: 40 seeds run, 0 violations"; then
        pass "soak: 40 seeds, $args"
    else
        echo "$out" | tail -40
        fail "soak: 40 seeds, $args (exit $rc)"
    fi
done

# The leader probe (raftd's node_probe.c): a fresh cluster elects within a
# few heartbeats, and after the leader crashes its followers, told that it
# is gone, elect within a few more (without it: 1-2 s, the election
# timeout).
elected_at() { # TERM, then the run's options: when a leader of TERM appears
    local term=$1
    shift
    "$SIM" "$@" 2>&1 | sed -n "s/^ *\([0-9.]*\)s .*becomes LEADER of term $term\b.*/\1/p" | head -1
}
t1=$(elected_at 1 --seed 7 --leader-probe --scenario "2s crash leader; 5s restart all")
t2=$(elected_at 2 --seed 7 --leader-probe --scenario "2s crash leader; 5s restart all")
t0=$(elected_at 2 --seed 7 --scenario "2s crash leader; 5s restart all")
if [ -n "$t1" ] && [ -n "$t2" ] && [ -n "$t0" ] &&
   awk -v a="$t1" -v b="$t2" -v c="$t0" 'BEGIN { exit !(a < 0.3 && b < 2.4 && c > 2.9) }'; then
    pass "leader probe: first leader at ${t1}s, after the crash at 2s a new one at ${t2}s (${t0}s without it)"
else
    fail "leader probe: first leader at '${t1}'s, after the crash at 2s '${t2}'s (want < 0.3 and < 2.4; '${t0}'s without it, want > 2.9)"
fi

# ---- 2. determinism ------------------------------------------------------
digest() { "$SIM" "$@" -q 2>&1 | sed -n 's/.*digest \([0-9a-f]\{16\}\).*/\1/p' | tail -1; }
d1=$(digest --seed 7 --faults random --duration 20s)
d2=$(digest --seed 7 --faults random --duration 20s)
d3=$(digest --seed 8 --faults random --duration 20s)
if [ -n "$d1" ] && [ "$d1" = "$d2" ]; then
    pass "determinism: seed 7 twice gives digest $d1 twice"
else
    fail "determinism: seed 7 gave '$d1' then '$d2'"
fi
if [ -n "$d3" ] && [ "$d1" != "$d3" ]; then
    pass "determinism: seeds 7 and 8 differ ($d1, $d3)"
else
    fail "determinism: seeds 7 and 8 both gave '$d1'"
fi
d4=$("$SIM" --seed 7 --faults random --duration 20s -vv | sed -n 's/^digest \([0-9a-f]*\)$/\1/p')
if [ "$d1" = "$d4" ]; then
    pass "determinism: the timeline (-vv) does not change the run"
else
    fail "determinism: -q gave $d1, -vv gave '$d4'"
fi
j1=$(digest --seeds 30 -j 1)
j2=$(digest --seeds 30 -j 2)
if [ -n "$j1" ] && [ "$j1" = "$j2" ]; then
    pass "determinism: soak digest independent of jobs ($j1)"
else
    fail "determinism: soak digest -j1 '$j1', -j2 '$j2'"
fi
distinct=$(for s in 1 2 3 4 5 6 7 8 9 10; do digest --seed $s --faults random --duration 5s; done | sort -u | wc -l)
if [ "$distinct" -eq 10 ]; then
    pass "determinism: 10 seeds, 10 distinct digests"
else
    fail "determinism: 10 seeds gave $distinct distinct digests"
fi

# ---- 3. teaching mode ------------------------------------------------------
out=$(run "$SIM" --nodes 3 --seed 7 --duration 10s \
      --scenario "3s crash leader; 6s restart all; 7s partition leader|rest; 8.5s heal" 2>&1)
rc=$?
echo "$out" >"$TMP/teach.txt"
first=$(grep -m1 -n "becomes LEADER of term" "$TMP/teach.txt")
crash=$(grep -m1 -n "CRASHES" "$TMP/teach.txt")
crashed=$(echo "$crash" | awk '{print $3}')
after=$(awk -v c="${crash%%:*}" 'NR > c && /becomes LEADER of term/' "$TMP/teach.txt" | head -1)
newleader=$(echo "$after" | awk '{print $2}')
if [ $rc -eq 0 ] && [ -n "$first" ] && grep -q "gets a vote from" "$TMP/teach.txt" &&
   grep -q "pre-vote" "$TMP/teach.txt"; then
    pass "teaching: an election (pre-vote, votes, a leader)"
else
    cat "$TMP/teach.txt"
    fail "teaching: no election in the timeline (exit $rc)"
fi
if [ -n "$crash" ] && [ -n "$after" ] && [ "$newleader" != "$crashed" ] &&
   grep -q "RESTARTS from its disk" "$TMP/teach.txt" &&
   grep -q "network PARTITION" "$TMP/teach.txt" &&
   grep -q "every safety property held" "$TMP/teach.txt"; then
    pass "teaching: failover ($crashed crashed, $newleader took over), restart, partition"
else
    cat "$TMP/teach.txt"
    fail "teaching: no failover after the leader crashed"
fi
lines=$(wc -l <"$TMP/teach.txt")
hb=$(grep -c "heartbeat" "$TMP/teach.txt")
if [ "$lines" -lt 200 ] && grep -q "heartbeats" "$TMP/teach.txt" && [ "$hb" -lt 30 ]; then
    pass "teaching: heartbeats summarised ($lines lines in all)"
else
    fail "teaching: $lines lines, $hb mention heartbeats"
fi
# forged messages (raft.h, "Divergence"): refused and reported, except the
# old snapshot that agrees; the run goes on and every property holds
out=$(run "$SIM" --seed 7 --duration 8s --scenario "3s forge follower entry; \
      3.5s forge follower prev; 4s forge leader snapshot; 4.5s forge 2 stale" 2>&1)
rc=$?
refused=$(echo "$out" | grep -c "FORGED message.*REFUSES it and reports DIVERGENCE")
if [ $rc -eq 0 ] && [ "$refused" -eq 3 ] &&
   echo "$out" | grep -q "FORGED message.*(old, agrees with its log)" &&
   ! echo "$out" | grep "(old, agrees with its log)" | grep -q DIVERGENCE &&
   echo "$out" | grep -q "forged messages: 4 delivered, 3 refused" &&
   echo "$out" | grep -q "every safety property held"; then
    pass "teaching: forged messages refused and reported (3), an old snapshot not"
else
    echo "$out" | grep -i "forge\|diverg\|violation"
    fail "teaching: forged messages (exit $rc, $refused refused)"
fi
# membership: grow 3 to 5, then the leader removes itself
out=$(run "$SIM" --nodes 3 --spares 2 --seed 7 --duration 12s --scenario "2s add 4; \
      +1s promote 4; +1s add 5; +1s promote 5; 7s remove leader" 2>&1)
rc=$?
echo "$out" >"$TMP/member.txt"
missing=""
for want in "(leader) adds n4 as a learner" "n4 caught up" "(leader) promotes n4 to voter" \
            "configuration {n1,n2,n3,n4} committed" "configuration {n1,n2,n3,n4,n5} committed" \
            "(leader) removes itself" "learns that its removal is committed" \
            "every safety property held" "membership changes: 5 asked, 5 made, 5 configurations committed"; do
    grep -qF "$want" "$TMP/member.txt" || missing="$missing [$want]"
done
oldl=$(grep -m1 "(leader) removes itself" "$TMP/member.txt" | awk '{print $2}')
newl=$(awk '/removes itself/ {f = 1} f && /becomes LEADER of term/ {print $2; exit}' "$TMP/member.txt")
if [ $rc -eq 0 ] && [ -z "$missing" ] && [ -n "$newl" ] && [ "$newl" != "$oldl" ]; then
    pass "teaching: 3 grown to 5 (add, catch up, promote), $oldl removed itself, $newl took over"
else
    cat "$TMP/member.txt"
    fail "teaching: membership scenario (exit $rc, missing:$missing, leaders '$oldl' '$newl')"
fi
usage_error() { # usage_error WHAT SCENARIO GREP: a usage error (exit 2) saying GREP
    if "$SIM" --scenario "$2" >/dev/null 2>"$TMP/err.txt"; then
        fail "scenario: $1 was accepted"
    elif [ $? -eq 2 ] && grep -q "$3" "$TMP/err.txt"; then
        pass "scenario: $1 is a usage error (exit 2)"
    else
        fail "scenario: $1: $(cat "$TMP/err.txt")"
    fi
}
usage_error "adding a node beyond the spares" "2s add 4" "spares"
usage_error "a bad action" "2s explode leader" "unknown action"

# ---- 4. mutants ----------------------------------------------------------
# Each mutant: the core file it names, edited, compiled, linked with the
# rest; two at a time.
mutants=("$SRCDIR"/tests/sim/mutants/*.sed)
prepare_mutant() { # prepare_mutant FILE.sed -> writes $d/status
    local m d file
    m=$(basename "$1" .sed)
    d=$TMP/mut/$m
    mkdir -p "$d"
    file=$(sed -n 's/^# file: //p' "$1")
    if [ -z "$file" ] || [ ! -f "$SRCDIR/src/raft/$file" ]; then
        echo "no '# file:' line naming a file of src/raft" >"$d/status"
        return
    fi
    sed -f "$1" "$SRCDIR/src/raft/$file" >"$d/$file"
    if cmp -s "$d/$file" "$SRCDIR/src/raft/$file"; then
        echo "the sed script no longer changes src/raft/$file" >"$d/status"
        return
    fi
    if ! $CC $SIMFLAGS -I"$SRCDIR/src/raft" -c "$d/$file" -o "$d/mutant.o" \
            >"$d/build.log" 2>&1 || ! link_sim "$d/raft-sim" "$file" "$d/mutant.o"; then
        echo "does not build: $(head -5 "$d/build.log")" >"$d/status"
        return
    fi
    echo ok >"$d/status"
}
i=0
for f in "${mutants[@]}"; do
    prepare_mutant "$f" &
    i=$((i + 1))
    if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
for f in "${mutants[@]}"; do
    m=$(basename "$f" .sed)
    d=$TMP/mut/$m
    what=$(sed -n 's/^# what: //p' "$f" | head -1)
    status=$(cat "$d/status" 2>/dev/null)
    if [ "$status" != ok ]; then
        fail "mutant $m: $status"
        continue
    fi
    out=$(run "$d/raft-sim" --seeds "$MUTANT_SEEDS" -q --tail 10 2>&1)
    rc=$?
    line=$(echo "$out" | grep -m1 "^seed [0-9]*: VIOLATION")
    ran=$(echo "$out" | sed -n 's/^soak: \([0-9]*\) seeds run.*/\1/p')
    if [ $rc -eq 1 ] && [ -n "$line" ] && echo "$out" | grep -q "^replay: raft-sim --seed" &&
       echo "$out" | grep -q "the last 10 events before the violation" &&
       ! echo "$out" | grep -q "WARNING"; then
        seed=${line#seed }
        pass "mutant $m caught at seed ${seed%%:*} ($ran seeds run): ${seed#*: }"
    else
        echo "$out" | tail -20
        fail "mutant $m ($what) not caught in $MUTANT_SEEDS seeds (exit $rc)"
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
