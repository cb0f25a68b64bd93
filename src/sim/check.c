/* check.c - the safety checker of raft-sim.
 *
 * Every property is checked incrementally, as the event that could break it
 * happens, so a violation is reported at the first event that shows it:
 *
 *   Election Safety       at most one leader per term, over the whole run
 *   Leader Append-Only    a leader never rewrites or drops its own entries
 *   Log Matching          an (index, term) pair always has the same history:
 *                         every entry any node ever held is registered with
 *                         a hash of its whole prefix
 *   Leader Completeness   a leader of term T holds every entry known to be
 *                         committed by a term below T
 *   State Machine Safety  nodes agree on the committed log, every applied
 *                         entry is the committed one at its index, and no
 *                         node rewrites an entry it holds as committed
 *   Monotonicity          term and commit index never go backwards while a
 *                         node runs; applied advances one entry at a time
 *                         (it restarts from 0 after a crash and must then
 *                         re-apply exactly the same entries)
 *   Durability            the committed log is on the disks of a majority,
 *                         so no crash pattern can lose it
 *   Electability          (Leader Completeness, ahead of time) no node that
 *                         lacks the committed log could win an election:
 *                         fewer than a majority have disk logs no more up
 *                         to date than its log. Correct Raft guarantees it
 *                         (holders of the last committed entry, a majority,
 *                         all have strictly more up-to-date logs); a bad
 *                         commit rule (Figure 8) breaks it at the commit.
 *   Replication progress  a leader's matchIndex for a follower in its term
 *                         is true: the follower's log agrees with the
 *                         leader's up to it (it acknowledged those entries
 *                         and nothing in that term may take them back)
 *   Linearizable reads    a ReadIndex read covers every entry known to be
 *                         committed when it was requested
 *   Ready contract        the core's log is what its readies announced
 *   Divergence alarm      a forged message that contradicts a node's
 *                         committed log (sim.c, the forge fault) is refused
 *                         and reported (RAFT_NOTE_DIVERGED) and changes
 *                         nothing there; nothing else is ever reported
 *
 * "Known committed" means some node reported it in its commit index; the
 * committed log is built from those reports. Liveness lives in sim.c.
 */
#include "simint.h"

#include "../daemon/kv.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "raft-sim: out of memory\n");
        exit(2);
    }
    return q;
}

void violation(struct sim *s, const char *property, const char *fmt, ...)
{
    if (s->res->violated)
        return;
    s->res->violated = 1;
    snprintf(s->res->property, sizeof(s->res->property), "%s", property);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->res->detail, sizeof(s->res->detail), fmt, ap);
    va_end(ap);
    s->res->at_ms = s->now;
    s->res->at_event = s->events;
    SAY(s, 0, 0, "VIOLATION of %s: %s", property, s->res->detail);
}

/* A list of node names for a message: " n1 n3" (" none" if empty). */
struct names {
    char s[64];
    size_t len;
};

static void names_add(struct names *w, raft_id id)
{
    w->len += (size_t)snprintf(w->s + w->len, sizeof(w->s) - w->len, " %s",
                               node_name(id));
    if (w->len >= sizeof(w->s))
        w->len = sizeof(w->s) - 1;
}

static const char *names_text(const struct names *w)
{
    return w->len ? w->s : " none";
}

/* ---- logs ---------------------------------------------------------------- */

uint64_t entry_hash(const struct raft_entry *e)
{
    return hash_bytes(mix64(e->term * 31 + e->type), e->data, e->len);
}

void slog_truncate(struct slog *l, raft_index from)
{
    if (from < 1)
        from = 1;
    while (l->n >= from) {
        free(l->e[l->n - 1].data);
        l->n--;
    }
}

static struct slog_entry *slog_grow(struct slog *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->e = xrealloc(l->e, l->cap * sizeof(*l->e));
    }
    return &l->e[l->n++];
}

void slog_append(struct slog *l, const struct raft_entry *e, bool keep_data)
{
    uint64_t prev = l->n ? l->e[l->n - 1].chain : 0x5eedull;
    struct sconf conf = l->n ? l->e[l->n - 1].conf : l->base;
    raft_index conf_idx = l->n ? l->e[l->n - 1].conf_idx : 0;
    struct raft_configuration rc;
    if (e->type == RAFT_ENTRY_CONFIG &&
        raft_configuration_decode(e->data, e->len, &rc) == 0) {
        conf = sconf_of(&rc); /* as the core: one that does not decode
                                 changes nothing */
        conf_idx = l->n + 1;
    }
    struct slog_entry *x = slog_grow(l);
    x->conf = conf;
    x->conf_idx = conf_idx;
    x->term = e->term;
    x->type = e->type;
    x->len = e->len;
    x->data = NULL;
    if (keep_data && e->len) {
        x->data = xrealloc(NULL, e->len);
        memcpy(x->data, e->data, e->len);
    }
    x->ehash = entry_hash(e);
    x->now = e->type == RAFT_ENTRY_NORMAL ? now_of(e->data, e->len) : 0;
    x->clock = x->kvc = 0; /* (committed log only) */
    x->chain = mix64(prev ^ x->ehash);
}

void slog_push_hashes(struct slog *l, const struct slog_entry *x)
{
    struct slog_entry *y = slog_grow(l);
    *y = *x;
    y->data = NULL;
}

void slog_free(struct slog *l)
{
    slog_truncate(l, 1);
    free(l->e);
    memset(l, 0, sizeof(*l));
}

/* ---- configurations -------------------------------------------------------- */

struct sconf sconf_of(const struct raft_configuration *c)
{
    struct sconf x = {0, 0};
    for (unsigned i = 0; i < c->n; i++) {
        raft_id id = c->members[i].id;
        if (id < 1 || id > 15)
            continue; /* no such node: it cannot be matched */
        if (c->members[i].role == RAFT_VOTER)
            x.voters |= (uint16_t)(1u << id);
        else
            x.learners |= (uint16_t)(1u << id);
    }
    return x;
}

void sconf_to_raft(struct sconf c, struct raft_configuration *out)
{
    memset(out, 0, sizeof(*out));
    for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
        if (sconf_member(c, id))
            out->members[out->n++] = (struct raft_member){
                .id = id, .role = sconf_voter(c, id) ? RAFT_VOTER : RAFT_LEARNER};
}

bool sconf_eq(struct sconf a, struct sconf b)
{
    return a.voters == b.voters && a.learners == b.learners;
}

bool sconf_voter(struct sconf c, raft_id id)
{
    return id < 16 && (c.voters >> id & 1);
}

bool sconf_member(struct sconf c, raft_id id)
{
    return id < 16 && ((c.voters | c.learners) >> id & 1);
}

unsigned sconf_voters(struct sconf c)
{
    return (unsigned)__builtin_popcount(c.voters);
}

static unsigned majority(struct sconf c)
{
    return sconf_voters(c) / 2 + 1;
}

const char *sconf_text(struct sconf c)
{
    static char buf[4][96];
    static unsigned k;
    char *b = buf[k++ % 4];
    size_t len = 0;
    b[len++] = '{';
    for (raft_id id = 1; id < 16; id++)
        if (sconf_voter(c, id))
            len += (size_t)snprintf(b + len, 96 - len, "%s%s",
                                    len > 1 ? "," : "", node_name(id));
    bool first = true;
    for (raft_id id = 1; id < 16 && len < 80; id++)
        if (sconf_member(c, id) && !sconf_voter(c, id)) {
            len += (size_t)snprintf(b + len, 96 - len, "%s%s",
                                    first ? "; learner " : ",", node_name(id));
            first = false;
        }
    snprintf(b + len, 96 - len, "}");
    return b;
}

/* The base the core of n starts its log from: for a node that is down,
 * the one it will restore (its snapshot's, or its bootstrap one). */
static struct sconf node_base(const struct node *n, raft_index *at)
{
    if (n->up) {
        *at = n->base_index;
        return n->base;
    }
    *at = n->snap.index;
    return n->snap.index ? n->snap.conf : n->boot;
}

/* The configuration in effect at entry i of n's log, and into *at the
 * index of its entry (0 for the base its log starts from). */
static struct sconf conf_at(const struct node *n, raft_index i,
                            raft_index *at)
{
    const struct slog *l = n->up ? &n->mirror : &n->disk;
    raft_index b;
    struct sconf base = node_base(n, &b);
    if (i > l->n)
        i = l->n;
    if (i > b && l->e[i - 1].conf_idx > b) {
        *at = l->e[i - 1].conf_idx;
        return l->e[i - 1].conf;
    }
    *at = 0;
    return base;
}

struct sconf node_conf_at(const struct sim *s, const struct node *n,
                          raft_index i)
{
    raft_index at;
    (void)s;
    return conf_at(n, i, &at);
}

bool node_knows(const struct sim *s, const struct node *n, raft_id id)
{
    const struct slog *l = n->up ? &n->mirror : &n->disk;
    raft_index at; /* 0: the base, committed */
    struct sconf c = conf_at(n, l->n, &at);
    (void)s;
    if (sconf_member(c, id))
        return true;
    raft_index commit = n->up ? raft_commit_index(n->r) : n->hs.commit;
    while (at > commit) {
        c = conf_at(n, at - 1, &at);
        if (sconf_member(c, id))
            return true;
    }
    return false;
}

struct sconf node_conf(const struct sim *s, const struct node *n,
                       raft_index *at)
{
    const struct slog *l = n->up ? &n->mirror : &n->disk;
    raft_index b;
    struct sconf base = node_base(n, &b);
    (void)s;
    if (l->n > b && l->e[l->n - 1].conf_idx > b) {
        if (at)
            *at = l->e[l->n - 1].conf_idx;
        return l->e[l->n - 1].conf;
    }
    if (at)
        *at = b;
    return base;
}

void check_configuration(struct sim *s, struct node *n, const char *where)
{
    if (!n->up || s->res->violated)
        return;
    raft_index at, core_at;
    struct sconf want = node_conf(s, n, &at);
    struct sconf core = sconf_of(raft_configuration(n->r, &core_at));
    if (!sconf_eq(want, core))
        violation(s, "Configuration in effect", "%s %s uses configuration "
                  "%s, but the latest in its log is %s (%s %" PRIu64 "): a "
                  "configuration is in effect from the moment it is in the "
                  "log", node_name(n->id), where, sconf_text(core),
                  sconf_text(want),
                  at > n->base_index || !n->base_index ? "entry" : "its snapshot at",
                  at);
}

void check_disruption(struct sim *s, struct node *n, const struct raft_msg *m,
                      raft_term term_before, raft_id vote_before)
{
    if (!n->up || s->res->violated)
        return;
    if (raft_current_term(n->r) != term_before ||
        raft_voted_for(n->r) != vote_before)
        violation(s, "Disruption", "%s took a %s from %s, a stranger to it "
                  "(a member neither of its configuration %s nor of any before "
                  "it back to its latest committed one), and its %s changed "
                  "(term %" PRIu64
                  " -> %" PRIu64 ", vote %s -> %s)", node_name(n->id),
                  m->prevote ? "PreVote" : "RequestVote", node_name(m->from),
                  sconf_text(node_conf(s, n, NULL)),
                  raft_current_term(n->r) != term_before ? "term" : "vote",
                  term_before, raft_current_term(n->r), node_name(vote_before),
                  node_name(raft_voted_for(n->r)));
}

void check_init(struct sim *s)
{
    s->lm_cap = 1024;
    s->lm = calloc(s->lm_cap, sizeof(*s->lm));
    if (!s->lm) {
        fprintf(stderr, "raft-sim: out of memory\n");
        exit(2);
    }
}

void check_free(struct sim *s)
{
    free(s->leader_of);
    slog_free(&s->committed);
    free(s->stairs);
    free(s->lm);
}

/* ---- Log Matching: (index, term) -> chain, for every entry ever held --- */

static size_t lm_home(const struct sim *s, uint64_t i, uint64_t t)
{
    return (size_t)mix64(i * 0x9e3779b97f4a7c15ull ^ t) & (s->lm_cap - 1);
}

static void lm_grow(struct sim *s)
{
    size_t old_cap = s->lm_cap;
    struct lm_slot *old = s->lm;
    s->lm_cap *= 2;
    s->lm = calloc(s->lm_cap, sizeof(*s->lm));
    if (!s->lm) {
        fprintf(stderr, "raft-sim: out of memory\n");
        exit(2);
    }
    for (size_t k = 0; k < old_cap; k++) {
        if (!old[k].key_i)
            continue;
        size_t j = lm_home(s, old[k].key_i, old[k].key_t);
        while (s->lm[j].key_i)
            j = (j + 1) & (s->lm_cap - 1);
        s->lm[j] = old[k];
    }
    free(old);
}

static void lm_check(struct sim *s, struct node *n, raft_index i,
                     const struct slog_entry *e)
{
    size_t j = lm_home(s, i, e->term);
    while (s->lm[j].key_i) {
        if (s->lm[j].key_i == i && s->lm[j].key_t == e->term) {
            if (s->lm[j].chain != e->chain)
                violation(s, "Log Matching", "%s holds entry %" PRIu64
                          " of term %" PRIu64 " after a different history "
                          "than another node's entry %" PRIu64 "/%" PRIu64
                          " (the logs differ at or before it)",
                          node_name(n->id), i, e->term, i, e->term);
            return;
        }
        j = (j + 1) & (s->lm_cap - 1);
    }
    s->lm[j].key_i = i;
    s->lm[j].key_t = e->term;
    s->lm[j].chain = e->chain;
    if (++s->lm_n * 2 > s->lm_cap)
        lm_grow(s);
}

/* ---- the ready's entries ------------------------------------------------- */

/* A ready installs the leader's snapshot: the mirror (the union of the
 * core's snapshot and log) takes the committed log up to it, and keeps
 * what follows only if it agrees with the snapshot's last entry (Figure
 * 5.3 step 6). */
static void mirror_install(struct sim *s, struct node *n,
                           const struct raft_ready *rd)
{
    raft_index idx = rd->snapshot_index;
    const struct slog *C = &s->committed;
    if (idx > C->n) {
        violation(s, "State Machine Safety", "%s installs a snapshot up to %"
                  PRIu64 " but only %zu entries are known committed",
                  node_name(n->id), idx, C->n);
        return;
    }
    /* the core's log starts from the snapshot's configuration (one sent
     * without any leaves the one in effect) */
    struct sconf base = n->incoming.conf.voters ? n->incoming.conf
                                                : node_conf(s, n, NULL);
    if (rd->snapshot_discard_log) {
        slog_truncate(&n->mirror, idx + 1);
    } else if (n->mirror.n < idx ||
               n->mirror.e[idx - 1].chain != C->e[idx - 1].chain) {
        violation(s, "Log Matching", "%s keeps its log after installing a "
                  "snapshot up to %" PRIu64 ", but its log %s there",
                  node_name(n->id), idx,
                  n->mirror.n < idx ? "does not reach" : "differs");
        return;
    }
    if (rd->snapshot_term != C->e[idx - 1].term) {
        violation(s, "State Machine Safety", "%s installs a snapshot up to %"
                  PRIu64 "/term %" PRIu64 ", but the entry committed there has "
                  "term %" PRIu64, node_name(n->id), idx, rd->snapshot_term,
                  C->e[idx - 1].term);
        return;
    }
    for (raft_index i = 1; i <= idx; i++) {
        struct slog_entry x = C->e[i - 1];
        x.data = NULL;
        if (i <= n->mirror.n) {
            n->mirror.e[i - 1] = x;
        } else {
            *slog_grow(&n->mirror) = x;
        }
    }
    n->base = base;
    n->base_index = idx;
    s->electable_dirty = true;
}

/* ---- Configuration chain ------------------------------------------------------ */

/* Does the committed log hold an entry of term t? */
static bool committed_in_term(const struct sim *s, raft_term t)
{
    for (size_t i = s->committed.n; i > 0 && s->committed.e[i - 1].term >= t; i--)
        if (s->committed.e[i - 1].term == t)
            return true;
    return false;
}

/* The time a store command carries (kv.h: its "now" field, which a write
 * with a TTL and a leader's "now" entry have), or 0. The sim's commands
 * are kv_encode()'s, so the field's text is exactly "now":"<digits>". */
uint64_t now_of(const uint8_t *data, uint32_t len)
{
    static const char field[] = "\"now\":\"";
    size_t fl = sizeof field - 1;
    if (!data || len < fl + 2 || data[0] != '{')
        return 0;
    for (uint32_t k = 0; k + fl < len; k++) {
        if (memcmp(data + k, field, fl) != 0)
            continue;
        uint64_t v = 0;
        for (uint32_t j = k + (uint32_t)fl; j < len && data[j] != '"'; j++) {
            if (data[j] < '0' || data[j] > '9' || v > UINT64_MAX / 10 - 9)
                return 0;
            v = v * 10 + (uint64_t)(data[j] - '0');
        }
        return v;
    }
    return 0;
}

/* The store's clock after entry e, from the clock before it: the largest
 * time so far, as kv_apply keeps it (a new leader's clock may be behind). */
static uint64_t clock_after(uint64_t before, uint64_t now)
{
    return now > before ? now : before;
}


/* Entry i of n's mirror was just appended: if it is a configuration, it
 * is one voter away from the one before it in this log (any majority of
 * one then overlaps any majority of the other: dissertation 4.1), and a
 * leader appending it in its own term had committed the one before it (one
 * change at a time) and an entry of its term (the 2015 fix). */
static void check_config_entry(struct sim *s, struct node *n, raft_index i)
{
    const struct slog_entry *e = &n->mirror.e[i - 1];
    if (e->conf_idx != i)
        return;
    struct sconf prev = i > 1 ? n->mirror.e[i - 2].conf : n->mirror.base;
    raft_index prev_idx = i > 1 ? n->mirror.e[i - 2].conf_idx : 0;
    unsigned changed = (unsigned)__builtin_popcount(prev.voters ^ e->conf.voters);
    if (changed > 1) {
        violation(s, "Configuration chain", "%s's log holds configuration %s "
                  "at entry %" PRIu64 " right after %s: %u voters changed at "
                  "once, so majorities of the two need not overlap",
                  node_name(n->id), sconf_text(e->conf), i, sconf_text(prev),
                  changed);
        return;
    }
    raft_term t = raft_current_term(n->r);
    if (raft_role(n->r) != RAFT_LEADER || e->term != t)
        return;
    if (prev_idx > s->committed.n) {
        violation(s, "Configuration chain", "%s, leader of term %" PRIu64
                  ", appends configuration %s as entry %" PRIu64 " while the "
                  "previous one, %s (entry %" PRIu64 "), is not committed: two "
                  "changes in flight", node_name(n->id), t,
                  sconf_text(e->conf), i, sconf_text(prev), prev_idx);
        return;
    }
    if (!committed_in_term(s, n->lead_term))
        violation(s, "Configuration chain", "%s, leader of term %" PRIu64
                  ", appends configuration %s as entry %" PRIu64 " before "
                  "committing an entry of its term", node_name(n->id),
                  t, sconf_text(e->conf), i);
}

void check_ready_entries(struct sim *s, struct node *n,
                         const struct raft_ready *rd)
{
    if (rd->snapshot_install) {
        mirror_install(s, n, rd);
        if (s->res->violated)
            return;
    }
    if (rd->n_entries) {
        raft_index f = rd->entries_first;
        if (f < 1 || f > n->mirror.n + 1) {
            violation(s, "Ready contract", "%s: ready entries start at %" PRIu64
                      " but the log it announced so far ends at %zu",
                      node_name(n->id), f, n->mirror.n);
            return;
        }
        if (f <= n->commit) {
            violation(s, "State Machine Safety", "%s rewrites its log from "
                      "index %" PRIu64 ", but it holds entries up to %" PRIu64
                      " as committed", node_name(n->id), f, n->commit);
            return;
        }
        if (n->lead_term && raft_role(n->r) == RAFT_LEADER &&
            raft_current_term(n->r) == n->lead_term && f <= n->mirror.n) {
            violation(s, "Leader Append-Only", "%s, leader of term %" PRIu64
                      ", rewrites its log from index %" PRIu64
                      " (it had entries up to %zu)", node_name(n->id),
                      n->lead_term, f, n->mirror.n);
            return;
        }
        slog_truncate(&n->mirror, f);
        s->electable_dirty = true;
        for (size_t k = 0; k < rd->n_entries && !s->res->violated; k++) {
            slog_append(&n->mirror, &rd->entries[k], false);
            lm_check(s, n, n->mirror.n, &n->mirror.e[n->mirror.n - 1]);
            check_config_entry(s, n, n->mirror.n);
        }
    }
    raft_index last = raft_last_index(n->r);
    raft_term lt = raft_last_term(n->r);
    if (last != n->mirror.n ||
        (last && lt != n->mirror.e[last - 1].term))
        violation(s, "Ready contract", "%s: the core's log ends at %" PRIu64
                  "/%" PRIu64 " but its readies announced a log ending at %zu",
                  node_name(n->id), last, lt, n->mirror.n);
}

/* ---- Leader Completeness -------------------------------------------------- */

/* Highest index known committed by a node whose term was below t. */
static raft_index committed_below(const struct sim *s, raft_term t)
{
    raft_index c = 0;
    for (size_t i = 0; i < s->n_stairs; i++)
        if (s->stairs[i].t < t && s->stairs[i].c > c)
            c = s->stairs[i].c;
    return c;
}

static void check_leader_complete(struct sim *s, struct node *n)
{
    raft_index c = committed_below(s, n->lead_term);
    if (!c)
        return;
    if (n->mirror.n < c || n->mirror.e[c - 1].chain != s->committed.e[c - 1].chain)
        violation(s, "Leader Completeness", "%s leads term %" PRIu64
                  " but lacks committed entry %" PRIu64 " (term %" PRIu64
                  ", committed before term %" PRIu64 "); its log ends at %zu",
                  node_name(n->id), n->lead_term, c,
                  s->committed.e[c - 1].term, n->lead_term, n->mirror.n);
}

/* Record "c committed, seen in term t"; true if it says something new. */
static bool stairs_add(struct sim *s, raft_index c, raft_term t)
{
    for (size_t i = 0; i < s->n_stairs; i++)
        if (s->stairs[i].c >= c && s->stairs[i].t <= t)
            return false;
    size_t kept = 0;
    for (size_t i = 0; i < s->n_stairs; i++)
        if (!(s->stairs[i].c <= c && s->stairs[i].t >= t))
            s->stairs[kept++] = s->stairs[i];
    s->n_stairs = kept;
    if (s->n_stairs == s->cap_stairs) {
        s->cap_stairs = s->cap_stairs ? s->cap_stairs * 2 : 16;
        s->stairs = xrealloc(s->stairs, s->cap_stairs * sizeof(*s->stairs));
    }
    s->stairs[s->n_stairs++] = (struct stair){c, t};
    return true;
}

/* ---- commit reports --------------------------------------------------------- */

static void commit_report(struct sim *s, struct node *n, raft_index commit,
                          raft_term term)
{
    raft_index c = commit < n->mirror.n ? commit : n->mirror.n;
    if (!c)
        return;
    struct slog *C = &s->committed;
    if (c <= C->n) {
        if (n->mirror.e[c - 1].chain != C->e[c - 1].chain) {
            violation(s, "State Machine Safety", "%s considers entry %" PRIu64
                      " (term %" PRIu64 ") committed, but the committed log "
                      "has term %" PRIu64 " there (or differs before it)",
                      node_name(n->id), c, n->mirror.e[c - 1].term,
                      C->e[c - 1].term);
            return;
        }
    } else {
        if (C->n && n->mirror.e[C->n - 1].chain != C->e[C->n - 1].chain) {
            violation(s, "State Machine Safety", "%s commits up to %" PRIu64
                      " on a log that differs from the committed log at or "
                      "before entry %zu", node_name(n->id), c, C->n);
            return;
        }
        while (C->n < c) {
            struct slog_entry x = n->mirror.e[C->n];
            x.data = NULL;
            x.sm = mix64((C->n ? C->e[C->n - 1].sm : 0) ^ x.ehash);
            x.clock = clock_after(C->n ? C->e[C->n - 1].clock : 0, x.now);
            x.kvc = 0; /* the first node to apply it records it */
            *slog_grow(C) = x;
            if (x.conf_idx == C->n) {
                s->res->st.configs_committed++;
                dig(s, 0xc0f1ull ^ C->n ^ ((uint64_t)x.conf.voters << 32) ^
                           ((uint64_t)x.conf.learners << 48));
                SAY(s, 0, 0, "configuration %s committed (entry %zu)",
                    sconf_text(x.conf), C->n);
            }
        }
        s->durability_dirty = true;
        s->electable_dirty = true;
        if (c > s->max_commit)
            s->max_commit = c;
    }
    if (stairs_add(s, c, term)) {
        for (unsigned id = 1; id <= s->n && !s->res->violated; id++) {
            struct node *m = &s->nodes[id];
            if (m->up && m->lead_term > term)
                check_leader_complete(s, m);
        }
    }
}

static void say_commit(struct sim *s, struct node *n, raft_index from,
                       raft_index to)
{
    if (!s->out->fmt)
        return;
    if (n->role != RAFT_LEADER) {
        say(s, 1, n->id, "learns commit index %" PRIu64, to);
        return;
    }
    char who[96];
    size_t len = 0;
    unsigned cnt = 0;
    who[0] = 0;
    struct sconf k = node_conf(s, n, NULL);
    for (unsigned id = 1; id <= s->n; id++)
        if (sconf_voter(k, id) && raft_match_index(n->r, id) >= to) {
            cnt++;
            len += (size_t)snprintf(who + len, sizeof(who) - len, "%s%s",
                                    len ? " " : "", node_name(id));
            if (len >= sizeof(who))
                len = sizeof(who) - 1;
        }
    if (from + 1 == to)
        say(s, 0, n->id, "commits entry %" PRIu64 " (stored on %s: %u of %u)",
            to, who, cnt, sconf_voters(k));
    else
        say(s, 0, n->id, "commits entries %" PRIu64 "..%" PRIu64
            " (stored on %s: %u of %u)", from + 1, to, who, cnt,
            sconf_voters(k));
}

/* May a node whose configuration is k (entry at; prev: the one before
 * it) stand for election, counting the votes of k? A voter of k may, and
 * so may one that k removes while k is not committed (below commit): a
 * leader removing itself leads until then, without counting itself. */
static bool may_campaign(struct sconf k, raft_index at, struct sconf prev,
                         raft_id id, raft_index commit)
{
    return sconf_voter(k, id) ||
           (!sconf_member(k, id) && at > commit && sconf_voter(prev, id));
}

static bool node_may_campaign(const struct sim *s, const struct node *n,
                              struct sconf k, raft_index at, raft_index commit)
{
    return may_campaign(k, at, at ? node_conf_at(s, n, at - 1) : k, n->id,
                        commit);
}

/* A node that becomes leader may stand in the configuration its core uses
 * and in the one its log holds as the cluster's history has it (a spare
 * that believes its bootstrap list may not, nor a node that knows its
 * removal is committed).
 *
 * "Committed" is what the node knows, its commit index, not what the
 * cluster's history knows: the commit index is volatile (a restart starts
 * from the persisted one), so a removal may be committed on a majority of
 * the new configuration while neither the removed node nor those voters
 * know it. Such a node may stand and be elected by voters to whom it is
 * no stranger (Disruption: a voter that knows the removal committed
 * refuses it without effect); it commits its no-op, with it its removal,
 * and steps down at once (check_removed_leader), as a leader removing
 * itself does (dissertation 4.2.2). No core can refuse it without knowing
 * the commit it cannot know: a voter holding an uncommitted configuration
 * without the candidate cannot tell a committed one from a stale one, and
 * refusing on the strength of a stale one left nobody electable at seed
 * 154 (membership.c, membership_knows). */
static void check_leader_member(struct sim *s, struct node *n)
{
    raft_index at;
    struct sconf c = node_conf(s, n, &at);
    const struct slog *l = &n->mirror;
    struct sconf h = l->n ? l->e[l->n - 1].conf : l->base;
    raft_index hat = l->n ? l->e[l->n - 1].conf_idx : 0;
    struct sconf hprev = hat > 1 ? l->e[hat - 2].conf : l->base;
    raft_index commit = raft_commit_index(n->r);
    bool ok_c = node_may_campaign(s, n, c, at, commit);
    bool ok_h = may_campaign(h, hat, hprev, n->id, commit);
    if (!ok_c || !ok_h)
        violation(s, "Membership", "%s becomes leader of term %" PRIu64
                  " but may not stand in %s %s (not a voter, nor one whose "
                  "removal is uncommitted)", node_name(n->id), n->lead_term,
                  !ok_c ? "its configuration"
                        : "the cluster's configuration in its log",
                  sconf_text(!ok_c ? c : h));
}

/* A leader that commits up to c has it on the disks of a majority of the
 * voters of its configuration (itself only if it is one of them). */
static void check_commit_quorum(struct sim *s, struct node *n, raft_index c)
{
    const struct slog *C = &s->committed;
    if (c > C->n)
        return;
    struct sconf k = node_conf(s, n, NULL);
    unsigned have = 0;
    struct names who = {.len = 0};
    for (raft_id id = 1; id <= s->n; id++) {
        const struct slog *d = &s->nodes[id].disk;
        if (!sconf_voter(k, id) || d->n < c ||
            d->e[c - 1].chain != C->e[c - 1].chain)
            continue;
        have++;
        names_add(&who, id);
    }
    if (have < majority(k))
        violation(s, "Commit quorum", "%s, leader of term %" PRIu64 ", commits "
                  "entry %" PRIu64 " but only %u of the %u voters of its "
                  "configuration %s have it on disk (%s ); a majority is %u",
                  node_name(n->id), n->lead_term, c, have, sconf_voters(k),
                  sconf_text(k), names_text(&who), majority(k));
}

/* A leader whose removal is committed steps down (dissertation 4.2.2): it
 * never leads on in a configuration that is committed without it. */
static void check_removed_leader(struct sim *s, struct node *n)
{
    raft_index at;
    struct sconf k = node_conf(s, n, &at);
    if (!sconf_voter(k, n->id) && at <= n->commit)
        violation(s, "Membership", "%s still leads term %" PRIu64 " although "
                  "configuration %s (entry %" PRIu64 "), without it as a "
                  "voter, is committed (commit index %" PRIu64 ")",
                  node_name(n->id), n->lead_term, sconf_text(k), at, n->commit);
}

void check_observe(struct sim *s, struct node *n)
{
    if (!n->up || s->res->violated)
        return;
    struct raft *r = n->r;
    raft_term term = raft_current_term(r);
    if (term < n->term) {
        violation(s, "Monotonicity", "%s's term went back from %" PRIu64
                  " to %" PRIu64, node_name(n->id), n->term, term);
        return;
    }
    n->term = term;
    n->role = raft_role(r);
    n->leader = raft_leader(r);
    if (n->role == RAFT_LEADER) {
        if (n->lead_term != term) {
            n->lead_term = term;
            if (term >= s->cap_leader_of) {
                size_t cap = s->cap_leader_of ? s->cap_leader_of : 64;
                while (cap <= term)
                    cap *= 2;
                s->leader_of = xrealloc(s->leader_of, cap * sizeof(raft_id));
                memset(s->leader_of + s->cap_leader_of, 0,
                       (cap - s->cap_leader_of) * sizeof(raft_id));
                s->cap_leader_of = cap;
            }
            if (s->leader_of[term] && s->leader_of[term] != n->id) {
                violation(s, "Election Safety", "two leaders in term %" PRIu64
                          ": %s and %s", term, node_name(s->leader_of[term]),
                          node_name(n->id));
                return;
            }
            s->leader_of[term] = n->id;
            s->res->st.leaders++;
            dig(s, 0x1ead00ull ^ (term << 8) ^ n->id);
            check_leader_complete(s, n);
            check_leader_member(s, n);
            if (s->res->violated)
                return;
        }
    } else {
        n->lead_term = 0;
    }
    raft_index commit = raft_commit_index(r);
    if (commit < n->commit) {
        violation(s, "Monotonicity", "%s's commit index went back from %" PRIu64
                  " to %" PRIu64, node_name(n->id), n->commit, commit);
        return;
    }
    if (commit > n->commit) {
        raft_index old = n->commit;
        n->commit = commit;
        say_commit(s, n, old, commit);
        commit_report(s, n, commit, term);
        if (n->role == RAFT_LEADER && !s->res->violated)
            check_commit_quorum(s, n, commit);
    }
    if (n->role == RAFT_LEADER && !s->res->violated)
        check_removed_leader(s, n);
}

/* With --now-interval every node runs the real store (kv.c) over the
 * entries it applies: the chain of its answers (expire events included)
 * after entry i must be the one the first node to apply i had, and its
 * clock the model's. */
static void check_store(struct sim *s, struct node *n, raft_index i,
                        const struct raft_entry *e)
{
    if (e->type == RAFT_ENTRY_NORMAL) {
        struct kv_result res;
        kv_apply(n->kv, e->data, e->len, &res);
        n->kv_chain = hash_bytes(mix64(n->kv_chain ^ res.index), res.body,
                                 res.len) | 1;
        kv_result_free(&res);
        if ((uint64_t)kv_clock(n->kv) != n->sm_clock)
            violation(s, "Now entries", "%s's store (kv.c) has the clock %"
                      PRId64 " after entry %" PRIu64 ", the model %" PRIu64,
                      node_name(n->id), kv_clock(n->kv), i, n->sm_clock);
    }
    uint64_t *rec = &s->committed.e[i - 1].kvc;
    if (!*rec)
        *rec = n->kv_chain;
    else if (*rec != n->kv_chain)
        violation(s, "Replicated store", "%s's store (kv.c) answered "
                  "differently from another node's up to entry %" PRIu64
                  " (the same entries must give the same answers, "
                  "expiries and indexes on every node)", node_name(n->id), i);
}

void check_apply(struct sim *s, struct node *n, raft_index i,
                 const struct raft_entry *e)
{
    if (i != n->applied + 1) {
        violation(s, "Monotonicity", "%s applies entry %" PRIu64
                  " right after entry %" PRIu64, node_name(n->id), i, n->applied);
        return;
    }
    uint64_t h = entry_hash(e);
    const struct slog *C = &s->committed;
    if (i > C->n) {
        violation(s, "State Machine Safety", "%s applies entry %" PRIu64
                  " (term %" PRIu64 ") that no node reported committed",
                  node_name(n->id), i, e->term);
        return;
    }
    if (C->e[i - 1].term != e->term || C->e[i - 1].ehash != h) {
        violation(s, "State Machine Safety", "%s applies entry %" PRIu64
                  " of term %" PRIu64 " but the entry committed at %" PRIu64
                  " has term %" PRIu64, node_name(n->id), i, e->term, i,
                  C->e[i - 1].term);
        return;
    }
    n->applied = i;
    n->sm_hash = mix64(n->sm_hash ^ h);
    uint64_t t = e->type == RAFT_ENTRY_NORMAL ? now_of(e->data, e->len) : 0;
    if (t && t < n->sm_clock)
        s->res->st.now_behind++;
    n->sm_clock = clock_after(n->sm_clock, t);
    if (n->sm_clock != C->e[i - 1].clock)
        violation(s, "Now entries", "%s's store clock after entry %" PRIu64
                  " is %" PRIu64 " but the committed log's is %" PRIu64
                  " (a snapshot or restart lost the clock, or \"now\" "
                  "entries were applied out of order)", node_name(n->id), i,
                  n->sm_clock, C->e[i - 1].clock);
    if (n->kv)
        check_store(s, n, i, e);
    if (n->sm_hash != C->e[i - 1].sm)
        violation(s, "State Machine Safety", "%s's state machine after entry %"
                  PRIu64 " differs from the committed log's (it applied it "
                  "on top of a wrong state, e.g. a bad snapshot)",
                  node_name(n->id), i);
}

void check_read(struct sim *s, struct node *n, uint64_t id, raft_index index)
{
    size_t k;
    for (k = 0; k < s->n_rreqs; k++)
        if (s->rreqs[k].id == id)
            break;
    raft_index must = 0;
    if (k < s->n_rreqs) {
        must = s->rreqs[k].must_cover;
        s->rreqs[k] = s->rreqs[--s->n_rreqs];
    }
    dig(s, 0x4eadull ^ id ^ (index << 20));
    if (index == 0) {
        s->res->st.reads_failed++;
        SAY(s, 0, n->id, "read #%" PRIu64 " failed: leadership lost", id);
        return;
    }
    if (index < must) {
        violation(s, "Linearizable reads", "%s confirmed read #%" PRIu64
                  " at index %" PRIu64 ", but entry %" PRIu64 " was already "
                  "known committed when the read was requested",
                  node_name(n->id), id, index, must);
        return;
    }
    SAY(s, 0, n->id, "read #%" PRIu64 " confirmed by a majority: served once "
        "entry %" PRIu64 " is applied", id, index);
    if (n->n_reads == n->cap_reads) {
        n->cap_reads = n->cap_reads ? n->cap_reads * 2 : 8;
        n->reads = xrealloc(n->reads, n->cap_reads * sizeof(*n->reads));
    }
    n->reads[n->n_reads].id = id;
    n->reads[n->n_reads].index = index;
    n->n_reads++;
}

void check_durability(struct sim *s)
{
    s->durability_dirty = false;
    const struct slog *C = &s->committed;
    raft_index c = C->n;
    if (!c)
        return;
    /* The configuration of the committed log: the entry was committed by
     * a majority of it or of the one after it (one voter apart), so every
     * majority of it holds the entry: fewer than a majority lack it. */
    struct sconf k = C->e[c - 1].conf;
    unsigned have = 0, voters = sconf_voters(k);
    struct names who = {.len = 0};
    for (unsigned id = 1; id <= s->n; id++) {
        struct node *n = &s->nodes[id];
        size_t lim = n->disk.n < c ? n->disk.n : c;
        if (n->lcp > lim)
            n->lcp = lim;
        while (n->lcp < lim && n->disk.e[n->lcp].chain == C->e[n->lcp].chain)
            n->lcp++;
        if (n->lcp >= c && sconf_voter(k, id)) {
            have++;
            names_add(&who, id);
        }
    }
    if (voters - have >= majority(k))
        violation(s, "Durability", "committed entry %" PRIu64 " (term %" PRIu64
                  ") is on the disks of only %u of the %u voters of %s (%s ); "
                  "losing the others' memory loses it", c, C->e[c - 1].term,
                  have, voters, sconf_text(k), names_text(&who));
}

static bool log_newer(raft_term ta, raft_index ia, raft_term tb, raft_index ib)
{
    return ta > tb || (ta == tb && ia >= ib);
}

void check_electable(struct sim *s)
{
    s->electable_dirty = false;
    const struct slog *C = &s->committed;
    raft_index c = C->n;
    if (!c)
        return;
    uint64_t chain = C->e[c - 1].chain;
    struct sconf conf[SIM_MAX_NODES + 1];
    raft_index at[SIM_MAX_NODES + 1];
    for (unsigned v = 1; v <= s->n; v++)
        conf[v] = node_conf(s, &s->nodes[v], &at[v]);
    for (unsigned x = 1; x <= s->n; x++) {
        const struct node *nx = &s->nodes[x];
        const struct slog *lx = nx->up ? &nx->mirror : &nx->disk;
        if (lx->n >= c && lx->e[c - 1].chain == chain)
            continue;
        /* x counts votes by its configuration, if it may stand there;
         * voters grant only candidates that are no strangers to them
         * (node_knows) */
        struct sconf k = conf[x];
        if (!node_may_campaign(s, nx, k, at[x],
                               nx->up ? raft_commit_index(nx->r) : nx->hs.commit))
            continue;
        raft_term tx = lx->n ? lx->e[lx->n - 1].term : 0;
        unsigned votes = 0;
        struct names who = {.len = 0};
        for (unsigned v = 1; v <= s->n; v++) {
            const struct slog *lv = &s->nodes[v].disk;
            raft_term tv = lv->n ? lv->e[lv->n - 1].term : 0;
            if (!sconf_voter(k, v) ||
                (v != x && !sconf_member(conf[v], x) &&
                 !node_knows(s, &s->nodes[v], x)))
                continue; /* x's own vote counts if it is a voter of k */
            if (v == x || log_newer(tx, lx->n, tv, lv->n)) {
                votes++;
                names_add(&who, v);
            }
        }
        if (votes >= majority(k)) {
            violation(s, "Leader Completeness", "committed entry %" PRIu64
                      " (term %" PRIu64 ") is not safe: %s lacks it (its log "
                      "ends at %zu/term %" PRIu64 ") yet could be elected by"
                      "%s, whose logs are no more up to date", c,
                      C->e[c - 1].term, node_name(x), lx->n, tx, who.s);
            return;
        }
    }
}

void check_progress(struct sim *s)
{
    for (unsigned l = 1; l <= s->n; l++) {
        struct node *nl = &s->nodes[l];
        if (!nl->up || nl->role != RAFT_LEADER)
            continue;
        raft_term t = raft_current_term(nl->r);
        /* The leader counts itself only with what is on its disk (with
         * background syncing: up to what raft_persisted() reported). */
        raft_index ms = raft_match_index(nl->r, l);
        if (ms && (ms > nl->disk.n || ms > nl->mirror.n ||
                   nl->disk.e[ms - 1].chain != nl->mirror.e[ms - 1].chain)) {
            violation(s, "Replication progress", "%s, leader of term %" PRIu64
                      ", counts itself as holding its log up to %" PRIu64
                      ", but its disk (ending at %zu) differs there",
                      node_name(l), t, ms, nl->disk.n);
            return;
        }
        for (unsigned f = 1; f <= s->n; f++) {
            struct node *nf = &s->nodes[f];
            if (f == l || !nf->up || raft_current_term(nf->r) != t)
                continue;
            raft_index m = raft_match_index(nl->r, f);
            if (!m)
                continue;
            if (m > nl->mirror.n || m > nf->mirror.n ||
                nf->mirror.e[m - 1].chain != nl->mirror.e[m - 1].chain) {
                violation(s, "Replication progress", "%s, leader of term %" PRIu64
                          ", counts %s as holding its log up to %" PRIu64
                          ", but %s's log (ending at %zu) differs there",
                          node_name(l), t, node_name(f), m, node_name(f),
                          nf->mirror.n);
                return;
            }
        }
    }
}

void check_restart(struct sim *s, struct node *n)
{
    if (raft_last_index(n->r) != n->disk.n)
        violation(s, "Ready contract", "%s restored %zu entries but its log "
                  "ends at %" PRIu64, node_name(n->id), n->disk.n,
                  raft_last_index(n->r));
}

/* ---- Divergence alarm (raft.h, "Divergence") ------------------------------ */

void check_notes(struct sim *s, struct node *n, const struct raft_ready *rd)
{
    for (size_t i = 0; i < rd->n_notes && !s->res->violated; i++) {
        const struct raft_note *no = &rd->notes[i];
        if (no->type != RAFT_NOTE_DIVERGED)
            continue;
        if (s->forge_to != n->id) {
            violation(s, "Divergence alarm", "%s reports that %s's message "
                      "gives its committed entry %" PRIu64 " (term %" PRIu64
                      ") term %" PRIu64 ", but no forged message was sent "
                      "to it: a false alarm, or two logs really differ on a "
                      "committed entry", node_name(n->id),
                      node_name(no->peer), no->index, no->entry_term,
                      no->peer_entry_term);
            return;
        }
        s->forge_notes++;
        s->forge_note = *no;
    }
}

void core_state_get(const struct node *n, struct core_state *cs)
{
    const struct raft *r = n->r;
    *cs = (struct core_state){
        .term = raft_current_term(r),
        .last_term = raft_last_term(r),
        .vote = raft_voted_for(r),
        .leader = raft_leader(r),
        .role = raft_role(r),
        .commit = raft_commit_index(r),
        .applied = raft_applied_index(r),
        .last = raft_last_index(r),
        .snapshot = raft_snapshot_index(r),
    };
}

static const char *core_state_diff(const struct core_state *a,
                                   const struct core_state *b)
{
    if (a->term != b->term)
        return "term";
    if (a->vote != b->vote)
        return "vote";
    if (a->leader != b->leader)
        return "leader";
    if (a->role != b->role)
        return "role";
    if (a->commit != b->commit)
        return "commit index";
    if (a->applied != b->applied)
        return "applied index";
    if (a->last != b->last || a->last_term != b->last_term)
        return "log";
    if (a->snapshot != b->snapshot)
        return "snapshot";
    return NULL;
}

void check_forgery(struct sim *s, struct node *n, const struct forgery *f,
                   const struct core_state *before)
{
    static const char *const what[] = {
        [FORGE_ENTRY] = "AppendEntries entry", [FORGE_PREV] = "AppendEntries "
        "prevLogTerm", [FORGE_SNAPSHOT] = "InstallSnapshot",
        [FORGE_STALE] = "old InstallSnapshot"};
    if (s->res->violated || !n->up)
        return;
    if (f->kind == FORGE_STALE) {
        if (s->forge_notes)
            violation(s, "Divergence alarm", "%s reports an old "
                      "InstallSnapshot up to %" PRIu64 "/term %" PRIu64
                      " that agrees with its committed log as divergent",
                      node_name(n->id), f->index, f->ours);
        return;
    }
    const struct raft_note *no = &s->forge_note;
    if (!s->forge_notes || no->index != f->index || no->entry_term != f->ours ||
        no->peer_entry_term != f->theirs || no->peer != f->from) {
        violation(s, "Divergence alarm", "%s was sent a forged %s from %s "
                  "that gives its committed entry %" PRIu64 " (term %" PRIu64
                  ") term %" PRIu64 ", and %s", node_name(n->id),
                  what[f->kind], node_name(f->from), f->index, f->ours,
                  f->theirs, s->forge_notes ? "reported something else"
                                            : "did not report it");
        return;
    }
    struct core_state after;
    core_state_get(n, &after);
    const char *changed = core_state_diff(before, &after);
    if (changed)
        violation(s, "Divergence alarm", "%s's %s changed on a forged %s that "
                  "contradicts its committed entry %" PRIu64 " (it must be "
                  "refused as if lost)", node_name(n->id), changed,
                  what[f->kind], f->index);
}
