"""linearizability.py - a linearizability checker for histories of
operations on registers (keys of the etcd v2 store), Wing & Gong's search
with Lowe's memoization ("Testing for linearizability", 2017), as in
Porcupine and Knossos.

An operation (Op) is one client call on one key, with its invocation and
response times (any monotonic clock):

    write(v)             set the register to v                 -> ok
    cas(old, new)        compare-and-swap                      -> ok / fail
    read                 -> the value, or None for "not found"

Outcomes of cas: "ok" (the register was old and is now new), "fail" (the
register held a value other than old: etcd's 101 Compare failed), or
"notfound" (the register was absent: etcd's 100 Key not found). Writes and
cas operations whose outcome is unknown (a timeout, an error that says the
write may or may not have been applied, a lost connection) are "maybe
applied": they take effect at some point after their invocation, arbitrarily
late, or never. They are given a response time of infinity; such an
operation placed after every completed one is observationally the same as
one that never happened, so the search need not treat "never" specially.
Reads that did not complete are simply left out (they change nothing).

Linearizability is local (Herlihy & Wing), so each key is checked
separately. The search (per key):

  * events: every invocation and response, ordered by time (at equal times
    invocations first, i.e. operations that touch count as concurrent);
  * walk the event list; at an invocation try to linearize that operation
    now (apply it to the model state); if the model accepts and the pair
    (set of linearized operations, new state) was not seen before, take
    it: remove the operation's invocation and response from the list and
    restart from the head;
  * at a response, the operation it belongs to should already have been
    linearized: backtrack (undo the last choice and try the next
    invocation after it);
  * success when only maybe-applied operations remain; failure when there
    is nothing left to backtrack.

The memo keeps this from exploring the same (set, state) twice, which makes
typical histories of a few thousand operations per key with a handful of
concurrent clients fast. A step budget bounds the worst case: when it runs
out the result is "unknown" (neither pass nor fail).
"""

import math

INF = math.inf


class Op:
    """One operation on one key. kind: "write", "cas" or "read".
    write: value=v. cas: old=, value=new, outcome "ok"/"fail"/"notfound".
    read: value = what was read (None = not found), outcome "ok".
    outcome "unknown" (write or cas only): maybe applied; ret = INF."""

    __slots__ = ("process", "key", "kind", "value", "old", "outcome",
                 "call", "ret", "note")

    def __init__(self, process, key, kind, call, ret, value=None, old=None,
                 outcome="ok", note=""):
        if kind not in ("write", "cas", "read"):
            raise ValueError("bad kind %r" % kind)
        if outcome not in ("ok", "fail", "notfound", "unknown"):
            raise ValueError("bad outcome %r" % outcome)
        if outcome == "unknown":
            if kind == "read":
                raise ValueError("a read with an unknown outcome says "
                                 "nothing; leave it out of the history")
            ret = INF
        if outcome in ("fail", "notfound") and kind != "cas":
            raise ValueError("only cas can fail")
        if ret < call:
            raise ValueError("response before invocation: %r" % (self,))
        self.process = process
        self.key = key
        self.kind = kind
        self.value = value
        self.old = old
        self.outcome = outcome
        self.call = call
        self.ret = ret
        self.note = note

    def __repr__(self):
        if self.kind == "write":
            what = "write(%r)" % (self.value,)
        elif self.kind == "cas":
            what = "cas(%r -> %r)" % (self.old, self.value)
        else:
            what = "read -> %r" % (self.value,)
        if self.kind != "read":
            what += " " + self.outcome
        ret = "inf" if self.ret == INF else "%.4f" % self.ret
        return "<p%s %s [%.4f, %s]%s>" % (self.process, what, self.call, ret,
                                         " " + self.note if self.note else "")


def step(state, op):
    """The register model: (legal, new state) for op applied in state."""
    k = op.kind
    if k == "read":
        return state == op.value, state
    if k == "write":
        return True, op.value
    # cas
    o = op.outcome
    if o == "ok":
        return (True, op.value) if state == op.old else (False, state)
    if o == "fail":
        return state is not None and state != op.old, state
    if o == "notfound":
        return state is None, state
    # unknown: whatever the register held, the cas did what it would do
    return True, (op.value if state == op.old else state)


class Result:
    def __init__(self, ok, key=None, ops=0, steps=0, info="",
                 order=None, stuck=None):
        self.ok = ok          # True, False, or None (budget exhausted)
        self.key = key
        self.ops = ops
        self.steps = steps
        self.info = info
        self.order = order or []  # a linearization (ok) / longest prefix
        self.stuck = stuck or []  # ops that could not be placed next

    def __bool__(self):
        return self.ok is True

    def __repr__(self):
        return "<Result key=%r ok=%s ops=%d steps=%d %s>" % (
            self.key, self.ok, self.ops, self.steps, self.info)


def check_key(ops, init=None, max_steps=2_000_000, key=None):
    """Check the operations of one key (starting from state init, None =
    absent). Returns a Result: .ok True (linearizable; .order is a
    linearization of the completed operations and the maybe-applied ones
    that had to take effect), False (not linearizable; .info explains,
    .order is the longest linearizable prefix found and .stuck the
    operations none of which could come next), or None (max_steps ran
    out)."""
    ops = list(ops)
    n = len(ops)
    if n == 0:
        return Result(True, key)
    # events: (time, 0 = call / 1 = return, op index)
    events = []
    for i, op in enumerate(ops):
        events.append((op.call, 0, i))
        events.append((op.ret, 1, i))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    m = len(events)
    # doubly linked list over events, node 0 = head sentinel, m+1 = tail
    nxt = list(range(1, m + 2)) + [None]
    prv = [None] + list(range(0, m + 1))
    ev_op = [None] * (m + 2)
    ev_call = [False] * (m + 2)
    ret_node = [0] * n
    for pos, (_, kind, i) in enumerate(events, start=1):
        ev_op[pos] = i
        ev_call[pos] = kind == 0
        if kind == 1:
            ret_node[i] = pos
    tail = m + 1
    known_left = sum(1 for op in ops if op.ret != INF)

    def lift(node):
        r = ret_node[ev_op[node]]
        nxt[prv[node]] = nxt[node]
        prv[nxt[node]] = prv[node]
        nxt[prv[r]] = nxt[r]
        prv[nxt[r]] = prv[r]

    def unlift(node):
        r = ret_node[ev_op[node]]
        prv[nxt[r]] = r
        nxt[prv[r]] = r
        prv[nxt[node]] = node
        nxt[prv[node]] = node

    state = init
    linearized = 0
    cache = set()
    stack = []          # (call node, state before)
    best = []           # longest linearized prefix seen
    best_stuck_at = None
    steps = 0
    node = nxt[0]
    while True:
        if known_left == 0:
            order = [ops[ev_op[nd]] for nd, _ in stack]
            return Result(True, key, n, steps, "linearizable", order)
        steps += 1
        if steps > max_steps:
            return Result(None, key, n, steps,
                          "gave up after %d steps (%d of %d operations "
                          "placed at best)" % (steps, len(best), n),
                          [ops[ev_op[nd]] for nd, _ in best])
        if node == tail:  # cannot happen: a response always comes first
            raise AssertionError("checker walked off the event list")
        if ev_call[node]:
            i = ev_op[node]
            op = ops[i]
            legal, new_state = step(state, op)
            if legal:
                new_lin = linearized | (1 << i)
                memo = (new_lin, new_state)
                if memo not in cache:
                    cache.add(memo)
                    stack.append((node, state))
                    state = new_state
                    linearized = new_lin
                    lift(node)
                    if op.ret != INF:
                        known_left -= 1
                    if len(stack) > len(best):
                        best = list(stack)
                        best_stuck_at = None
                    node = nxt[0]
                    continue
            node = nxt[node]
            continue
        # a response whose operation was not linearized: backtrack
        if best_stuck_at is None and len(stack) == len(best):
            best_stuck_at = (node, state)
        if not stack:
            return _failure(ops, key, n, steps, best, best_stuck_at, ev_op,
                            init)
        node, state = stack.pop()
        i = ev_op[node]
        linearized &= ~(1 << i)
        unlift(node)
        if ops[i].ret != INF:
            known_left += 1
        node = nxt[node]


def _failure(ops, key, n, steps, best, stuck_at, ev_op, init):
    order = [ops[ev_op[nd]] for nd, _ in best]
    placed = set(id(o) for o in order)
    state = init
    for o in order:
        state = step(state, o)[1]
    stuck = []
    if stuck_at is not None:
        # the operation whose response could not be passed, and every
        # operation that was pending with it
        blocked = ops[ev_op[stuck_at[0]]]
        stuck = [o for o in ops if id(o) not in placed and
                 o.call <= blocked.ret]
        stuck.sort(key=lambda o: o.call)
        info = ("not linearizable: after %d operations (register %r) none "
                "of the pending operations can come next, yet %r has "
                "returned" % (len(order), state, blocked))
    else:
        info = "not linearizable"
    return Result(False, key, n, steps, info, order, stuck)


def check_history(ops, init=None, max_steps=2_000_000):
    """Check a multi-key history: {key: Result}."""
    by_key = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    return {k: check_key(v, init, max_steps, key=k)
            for k, v in sorted(by_key.items(), key=lambda kv: str(kv[0]))}


def describe(result, context=12):
    """A readable account of a failed (or inconclusive) Result."""
    lines = ["key %r: %s" % (result.key, result.info)]
    if result.order:
        lines.append("  last operations of the longest linearizable prefix "
                     "(%d ops):" % len(result.order))
        for o in result.order[-context:]:
            lines.append("    %r" % (o,))
    if result.stuck:
        lines.append("  pending operations, none of which can come next:")
        for o in result.stuck[:3 * context]:
            lines.append("    %r" % (o,))
    return "\n".join(lines)
