/* scenario.c - the --scenario language of raft-sim.
 *
 *   "2s crash leader; 5s restart all; 6s partition 1|2,3; 8s heal"
 *
 * Items are separated by ';' or newlines; each is TIME ACTION [ARGS]. The
 * full grammar is scenario_help below (also printed by --help).
 */
#include "sim.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

const char scenario_help[] =
    "Scenario language (--scenario \"ITEM; ITEM; ...\", ';' or newlines between items):\n"
    "  ITEM    = TIME ACTION [ARGS]\n"
    "  TIME    = 2s | 2.5s | 1500ms | +1s (relative to the previous item)\n"
    "  NODE    = 3 | n3 | leader | follower (a random non-leader) | random | all\n"
    "  ACTIONS\n"
    "    crash NODE...            stop the node(s); only what is on disk survives\n"
    "    restart NODE...          start crashed node(s) from disk ('all': every crashed one)\n"
    "    pause NODE [DURATION]    freeze the process (no timers, no messages) [for a while]\n"
    "    resume NODE...           unfreeze; its clock jumps ahead\n"
    "    isolate NODE...          cut the node(s) off from everyone, both ways\n"
    "    partition G|G[|G...]     groups of nodes, e.g. 1|2,3 or leader|rest; nodes not\n"
    "                             listed form one more group; links between groups cut\n"
    "    cut A>B [A-B ...]        cut one link: A>B one way (A's messages to B lost),\n"
    "                             A-B both ways; A and B are NODEs\n"
    "    heal [A>B|A-B ...]       repair every link (or the listed ones)\n"
    "    propose [NODE] [xN]      client command(s) at NODE (default: the leader)\n"
    "    read [NODE]              ReadIndex request at NODE (default: the leader)\n"
    "    transfer [to NODE]       the leader hands leadership over (default: best follower)\n"
    "    loss P | dup P | reorder P   message loss/duplication/reordering, P = 10% or 0.1\n"
    "    latency A-B              message latency range in ms\n"
    "    note TEXT                print TEXT in the timeline\n"
    "    forge NODE [KIND]        a forged message that contradicts NODE's committed log:\n"
    "                             KIND entry (an AppendEntries entry), prev (its previous\n"
    "                             entry), snapshot (an InstallSnapshot), or stale (an old\n"
    "                             InstallSnapshot that agrees: nothing to report); default:\n"
    "                             one of them at random\n"
    "    add NODE                 the leader adds NODE (a spare: --spares) as a learner\n"
    "    promote NODE             the leader makes learner NODE a voter once it caught up\n"
    "    remove NODE              the leader removes NODE ('remove leader': itself)\n"
    "                             (membership steps wait, up to 10s, while a change is\n"
    "                             in flight, the leader has not committed in its term,\n"
    "                             or the learner is catching up)\n"
    "  Example: \"2s crash leader; 5s restart all; 6s partition 1|2,3; 8s heal\"\n"
    "  Grow 3 to 5 (--spares 2): \"2s add 4; +1s promote 4; +1s add 5; +1s promote 5\"\n";

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    size_t i = 0;
    while (s[i] && isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

/* "2s", "2.5s", "1500ms", "3" (seconds). */
static int parse_duration(const char *t, uint64_t *ms)
{
    char *end;
    double v = strtod(t, &end);
    if (end == t || v < 0)
        return -1;
    if (*end == 0 || strcmp(end, "s") == 0)
        v *= 1000;
    else if (strcmp(end, "ms") != 0)
        return -1;
    *ms = (uint64_t)(v + 0.5);
    return 0;
}

static int parse_ref(const char *t, struct sc_ref *r)
{
    if (strcmp(t, "leader") == 0)
        r->kind = T_LEADER;
    else if (strcmp(t, "follower") == 0)
        r->kind = T_FOLLOWER;
    else if (strcmp(t, "random") == 0)
        r->kind = T_RANDOM;
    else if (strcmp(t, "all") == 0)
        r->kind = T_ALL;
    else if (strcmp(t, "rest") == 0)
        r->kind = T_REST;
    else {
        const char *p = t;
        if (*p == 'n' || *p == 'N')
            p++;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || *end || v < 1 || v > SIM_MAX_NODES)
            return -1;
        r->kind = T_NODE;
        r->id = (unsigned)v;
    }
    return 0;
}

static int parse_prob(const char *t, double *p)
{
    char *end;
    double v = strtod(t, &end);
    if (end == t)
        return -1;
    if (*end == '%') {
        v /= 100;
        end++;
    }
    if (*end || v < 0 || v > 1)
        return -1;
    *p = v;
    return 0;
}

/* Split s at any of seps into at most max tokens (s is modified). */
static unsigned split(char *s, const char *seps, char **tok, unsigned max)
{
    unsigned n = 0;
    for (char *p = strtok(s, seps); p && n < max; p = strtok(NULL, seps))
        tok[n++] = p;
    return n;
}

static int add_ref(struct sc_item *it, const char *t, unsigned group)
{
    if (it->n_refs == SC_MAX_REFS)
        return -1;
    struct sc_ref r = {0};
    if (parse_ref(t, &r))
        return -1;
    it->group[it->n_refs] = group;
    it->refs[it->n_refs++] = r;
    return 0;
}

/* "1>2", "1->2", "1-2", "1<>2", "leader>rest"... */
static int add_pair(struct sc_item *it, char *t)
{
    char *op = strpbrk(t, "<->");
    if (!op || op == t)
        return -1;
    bool both;
    char *b;
    if (strncmp(op, "<->", 3) == 0) {
        both = true;
        b = op + 3;
    } else if (strncmp(op, "<>", 2) == 0) {
        both = true;
        b = op + 2;
    } else if (strncmp(op, "->", 2) == 0) {
        both = false;
        b = op + 2;
    } else if (*op == '>') {
        both = false;
        b = op + 1;
    } else if (*op == '-') {
        both = true;
        b = op + 1;
    } else {
        return -1;
    }
    *op = 0;
    if (it->n_refs + 2 > SC_MAX_REFS)
        return -1;
    it->both_ways[it->n_refs / 2] = both;
    if (add_ref(it, t, 0) || add_ref(it, b, 0))
        return -1;
    return 0;
}

static int parse_item(char *text, uint64_t prev, struct sc_item *it,
                      char *err, size_t errlen)
{
    memset(it, 0, sizeof(*it));
    snprintf(it->text, sizeof(it->text), "%s", text);
    char *sp = text;
    while (*sp && !isspace((unsigned char)*sp))
        sp++;
    char *rest = sp;
    if (*sp) {
        *sp = 0;
        rest = sp + 1;
    }
    trim(rest);
    const char *tt = text;
    bool rel = *tt == '+';
    if (rel)
        tt++;
    uint64_t at;
    if (parse_duration(tt, &at)) {
        snprintf(err, errlen, "bad time \"%s\" (use 2s, 1.5s, 1500ms or +1s)", text);
        return -1;
    }
    it->at = rel ? prev + at : at;
    char *args = rest;
    while (*args && !isspace((unsigned char)*args))
        args++;
    char action[32];
    size_t alen = (size_t)(args - rest);
    if (alen == 0 || alen >= sizeof(action)) {
        snprintf(err, errlen, "missing action after \"%s\"", text);
        return -1;
    }
    memcpy(action, rest, alen);
    action[alen] = 0;
    trim(args);
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", args);
    char *tok[64];
    unsigned nt;

    if (!strcmp(action, "crash") || !strcmp(action, "restart") ||
        !strcmp(action, "resume") || !strcmp(action, "isolate")) {
        it->action = !strcmp(action, "crash")     ? SC_CRASH
                     : !strcmp(action, "restart") ? SC_RESTART
                     : !strcmp(action, "resume")  ? SC_RESUME
                                                  : SC_ISOLATE;
        nt = split(buf, " \t,", tok, 64);
        if (!nt)
            goto need_node;
        for (unsigned i = 0; i < nt; i++)
            if (add_ref(it, tok[i], 0))
                goto bad_node;
    } else if (!strcmp(action, "pause")) {
        it->action = SC_PAUSE;
        nt = split(buf, " \t,", tok, 64);
        if (!nt)
            goto need_node;
        for (unsigned i = 0; i < nt; i++) {
            if (!strcmp(tok[i], "for"))
                continue;
            if (isdigit((unsigned char)tok[i][0]) &&
                (strchr(tok[i], 's') || strchr(tok[i], '.'))) {
                if (parse_duration(tok[i], &it->duration))
                    goto bad_arg;
            } else if (add_ref(it, tok[i], 0)) {
                goto bad_node;
            }
        }
        if (!it->n_refs)
            goto need_node;
    } else if (!strcmp(action, "partition")) {
        it->action = SC_PARTITION;
        char *groups[SIM_MAX_NODES + 1];
        unsigned ng = split(buf, "|", groups, SIM_MAX_NODES + 1);
        if (ng < 1) {
            snprintf(err, errlen, "partition needs groups like 1|2,3 in \"%s\"",
                     it->text);
            return -1;
        }
        for (unsigned g = 0; g < ng; g++) {
            char gb[128];
            snprintf(gb, sizeof(gb), "%s", groups[g]);
            char *gt[SIM_MAX_NODES + 1];
            /* strtok is not reentrant: groups[] were found already */
            unsigned m = 0;
            for (char *p = gb; *p;) {
                while (*p == ' ' || *p == ',' || *p == '\t')
                    p++;
                if (!*p)
                    break;
                if (m == SIM_MAX_NODES + 1)
                    goto bad_node;
                gt[m++] = p;
                while (*p && *p != ' ' && *p != ',' && *p != '\t')
                    p++;
                if (*p)
                    *p++ = 0;
            }
            if (!m) {
                snprintf(err, errlen, "empty group in \"%s\"", it->text);
                return -1;
            }
            for (unsigned i = 0; i < m; i++)
                if (add_ref(it, gt[i], g))
                    goto bad_node;
        }
    } else if (!strcmp(action, "cut") || !strcmp(action, "heal")) {
        it->action = !strcmp(action, "cut") ? SC_CUT : SC_HEAL;
        nt = split(buf, " \t,", tok, 64);
        if (it->action == SC_CUT && !nt)
            goto bad_arg;
        for (unsigned i = 0; i < nt; i++)
            if (add_pair(it, tok[i]))
                goto bad_arg;
    } else if (!strcmp(action, "propose") || !strcmp(action, "read")) {
        it->action = !strcmp(action, "propose") ? SC_PROPOSE : SC_READ;
        it->lo = 1;
        nt = split(buf, " \t,", tok, 64);
        for (unsigned i = 0; i < nt; i++) {
            if (tok[i][0] == 'x' && isdigit((unsigned char)tok[i][1])) {
                it->lo = (unsigned)strtoul(tok[i] + 1, NULL, 10);
                if (it->lo < 1 || it->lo > 1000)
                    goto bad_arg;
            } else if (add_ref(it, tok[i], 0)) {
                goto bad_node;
            }
        }
    } else if (!strcmp(action, "transfer")) {
        it->action = SC_TRANSFER;
        nt = split(buf, " \t,", tok, 64);
        for (unsigned i = 0; i < nt; i++)
            if (strcmp(tok[i], "to") && add_ref(it, tok[i], 0))
                goto bad_node;
    } else if (!strcmp(action, "loss") || !strcmp(action, "dup") ||
               !strcmp(action, "reorder")) {
        it->action = !strcmp(action, "loss") ? SC_LOSS
                     : !strcmp(action, "dup") ? SC_DUP
                                              : SC_REORDER;
        if (parse_prob(args, &it->value))
            goto bad_arg;
    } else if (!strcmp(action, "latency")) {
        it->action = SC_LATENCY;
        char *end;
        unsigned long lo = strtoul(args, &end, 10);
        if (end == args || *end != '-')
            goto bad_arg;
        char *b = end + 1;
        unsigned long hi = strtoul(b, &end, 10);
        if (end == b || (*end && strcmp(end, "ms")) || hi < lo || hi > 600000)
            goto bad_arg;
        it->lo = (unsigned)lo;
        it->hi = (unsigned)hi;
    } else if (!strcmp(action, "forge")) {
        static const char *const kinds[] = {
            [FORGE_ENTRY] = "entry", [FORGE_PREV] = "prev",
            [FORGE_SNAPSHOT] = "snapshot", [FORGE_STALE] = "stale"};
        it->action = SC_FORGE;
        nt = split(buf, " \t,", tok, 64);
        for (unsigned i = 0; i < nt; i++) {
            unsigned k = FORGE_ENTRY;
            while (k <= FORGE_STALE && strcmp(tok[i], kinds[k]))
                k++;
            if (k <= FORGE_STALE)
                it->lo = k;
            else if (it->n_refs || add_ref(it, tok[i], 0))
                goto bad_node;
        }
        if (!it->n_refs)
            goto need_node;
    } else if (!strcmp(action, "add") || !strcmp(action, "promote") ||
               !strcmp(action, "remove")) {
        it->action = !strcmp(action, "add")       ? SC_ADD
                     : !strcmp(action, "promote") ? SC_PROMOTE
                                                  : SC_REMOVE;
        nt = split(buf, " \t,", tok, 64);
        if (nt != 1)
            goto need_node;
        if (add_ref(it, tok[0], 0) ||
            (it->refs[0].kind != T_NODE &&
             !(it->action == SC_REMOVE && it->refs[0].kind == T_LEADER)))
            goto bad_node;
    } else if (!strcmp(action, "note") || !strcmp(action, "say")) {
        it->action = SC_NOTE;
        snprintf(it->text, sizeof(it->text), "%s", args);
    } else {
        snprintf(err, errlen, "unknown action \"%s\" in \"%s\"", action, it->text);
        return -1;
    }
    return 0;
need_node:
    snprintf(err, errlen, "\"%s\" needs a node (3, n3, leader, follower, "
             "random, all)", it->text);
    return -1;
bad_node:
    snprintf(err, errlen, "bad node in \"%s\" (use 3, n3, leader, follower, "
             "random, all; nodes 1-%d)", it->text, SIM_MAX_NODES);
    return -1;
bad_arg:
    snprintf(err, errlen, "bad argument in \"%s\"", it->text);
    return -1;
}

int scenario_parse(const char *text, struct scenario *sc, char *err,
                   size_t errlen)
{
    memset(sc, 0, sizeof(*sc));
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(copy, text, len + 1);
    uint64_t prev = 0;
    char *save = copy;
    for (;;) {
        char *item = save;
        size_t k = strcspn(item, ";\n");
        bool last = item[k] == 0;
        item[k] = 0;
        save = item + k + 1;
        trim(item);
        if (*item) {
            struct sc_item *items =
                realloc(sc->items, (sc->n + 1) * sizeof(*items));
            if (!items) {
                snprintf(err, errlen, "out of memory");
                free(copy);
                return -1;
            }
            sc->items = items;
            char e[200];
            if (parse_item(item, prev, &sc->items[sc->n], e, sizeof(e))) {
                snprintf(err, errlen, "scenario item %zu: %s", sc->n + 1, e);
                free(copy);
                scenario_free(sc);
                return -1;
            }
            prev = sc->items[sc->n].at;
            sc->n++;
        }
        if (last)
            break;
    }
    free(copy);
    /* Run items in time order; items at the same time keep their order. */
    for (size_t i = 1; i < sc->n; i++) {
        struct sc_item x = sc->items[i];
        size_t j = i;
        while (j > 0 && sc->items[j - 1].at > x.at) {
            sc->items[j] = sc->items[j - 1];
            j--;
        }
        sc->items[j] = x;
    }
    return 0;
}

void scenario_free(struct scenario *sc)
{
    free(sc->items);
    sc->items = NULL;
    sc->n = 0;
}
