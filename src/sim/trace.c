/* trace.c - the timeline of raft-sim, and the run digest.
 *
 * Each event produces at most one line per node: a list of phrases, each
 * with a level (0: elections, leaders, client commands, commits, faults;
 * 1: replication detail; 2: every message). The console shows the phrases
 * up to --verbose; the ring of the last lines kept for a violation report
 * holds all of them. Text is built only when the output asks for it (soak
 * runs do not), and the digest never depends on it.
 */
#include "simint.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void dig(struct sim *s, uint64_t v)
{
    s->digest = mix64(s->digest ^ (v + 0x632be59bd9b4e019ull));
}

void trace_init(struct sim *s)
{
    s->line.node = -1;
    s->sec_mark = 1000;
    if (s->out->fmt && s->out->tail) {
        s->ring = calloc(s->out->tail, sizeof(char *));
        if (!s->ring) {
            fprintf(stderr, "raft-sim: out of memory\n");
            exit(2);
        }
    }
}

void trace_free(struct sim *s)
{
    for (unsigned i = 0; i < s->line.n; i++)
        free(s->line.text[i]);
    s->line.n = 0;
    if (s->ring) {
        for (unsigned i = 0; i < s->out->tail; i++)
            free(s->ring[i]);
        free(s->ring);
        s->ring = NULL;
    }
}

static char *vfmt(const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int len = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (len < 0)
        len = 0;
    char *p = malloc((size_t)len + 1);
    if (!p) {
        fprintf(stderr, "raft-sim: out of memory\n");
        exit(2);
    }
    vsnprintf(p, (size_t)len + 1, fmt, ap);
    return p;
}

static char *sfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = vfmt(fmt, ap);
    va_end(ap);
    return p;
}

void say(struct sim *s, int level, int node, const char *fmt, ...)
{
    if (!s->out->fmt)
        return;
    if (s->line.n && (s->line.node != node || s->line.n == MAX_PHRASES))
        trace_flush(s);
    s->line.node = node;
    va_list ap;
    va_start(ap, fmt);
    s->line.text[s->line.n] = vfmt(fmt, ap);
    va_end(ap);
    s->line.level[s->line.n] = (unsigned char)level;
    s->line.n++;
}

/* Join phrases up to max_level: "a; b", or "a -> b" for a phrase that
 * starts with "-> ". */
static char *join(const struct line *l, int max_level)
{
    size_t cap = 64, len = 0;
    for (unsigned i = 0; i < l->n; i++)
        cap += strlen(l->text[i]) + 4;
    char *out = malloc(cap);
    if (!out) {
        fprintf(stderr, "raft-sim: out of memory\n");
        exit(2);
    }
    out[0] = 0;
    for (unsigned i = 0; i < l->n; i++) {
        if (l->level[i] > max_level)
            continue;
        const char *t = l->text[i];
        bool arrow = strncmp(t, "-> ", 3) == 0;
        if (len == 0 && arrow)
            t += 3;
        const char *sep = len == 0 ? "" : arrow ? " " : "; ";
        len += (size_t)snprintf(out + len, cap - len, "%s%s", sep, t);
    }
    return len ? out : (free(out), NULL);
}

static char *stamp(uint64_t t, int node, const char *text)
{
    return sfmt("%7.3fs  %-5s%s", t / 1000.0, node_name((raft_id)node), text);
}

void trace_flush(struct sim *s)
{
    struct line *l = &s->line;
    if (!l->n)
        return;
    if (s->out->print) {
        char *text = join(l, s->out->verbosity);
        if (text) {
            char *full = stamp(s->now, l->node, text);
            fprintf(s->out->out, "%s\n", full);
            free(full);
            free(text);
        }
    }
    if (s->ring) {
        char *text = join(l, 99);
        if (text) {
            unsigned k = s->ring_pos % s->out->tail;
            free(s->ring[k]);
            s->ring[k] = stamp(s->now, l->node, text);
            s->ring_pos++;
            if (s->ring_n < s->out->tail)
                s->ring_n++;
            free(text);
        }
    }
    for (unsigned i = 0; i < l->n; i++)
        free(l->text[i]);
    l->n = 0;
    l->node = -1;
}

void trace_dump_tail(struct sim *s)
{
    FILE *f = s->out->out;
    trace_flush(s);
    fprintf(f, "--- the last %u events before the violation (all details) ---\n",
            s->ring_n);
    for (unsigned i = 0; i < s->ring_n; i++) {
        unsigned k = (s->ring_pos - s->ring_n + i) % s->out->tail;
        fprintf(f, "%s\n", s->ring[k]);
    }
    fprintf(f, "---\n");
}

const char *msg_describe(const struct raft_msg *m, char *buf, size_t len)
{
    switch (m->type) {
    case RAFT_MSG_VOTE:
        snprintf(buf, len, "%s(term %" PRIu64 ", last entry %" PRIu64
                 "/term %" PRIu64 ")%s", m->prevote ? "PreVote" : "RequestVote",
                 m->term, m->last_index, m->last_term,
                 m->transfer ? " [transfer]" : "");
        break;
    case RAFT_MSG_VOTE_RESP:
        snprintf(buf, len, "%s %s(term %" PRIu64 ")",
                 m->prevote ? "pre-vote" : "vote",
                 m->granted ? "granted" : "refused", m->term);
        break;
    case RAFT_MSG_APPEND:
        if (m->n_entries == 0)
            snprintf(buf, len, "heartbeat(term %" PRIu64 ", prev %" PRIu64
                     "/term %" PRIu64 ", commit %" PRIu64 ")", m->term,
                     m->prev_index, m->prev_term, m->commit);
        else
            snprintf(buf, len, "AppendEntries(term %" PRIu64 ", prev %" PRIu64
                     "/term %" PRIu64 ", entries %" PRIu64 "..%" PRIu64
                     ", commit %" PRIu64 ")", m->term, m->prev_index,
                     m->prev_term, m->prev_index + 1, m->prev_index + m->n_entries,
                     m->commit);
        break;
    case RAFT_MSG_APPEND_RESP:
        if (m->success)
            snprintf(buf, len, "append ok(term %" PRIu64 ", match %" PRIu64 ")",
                     m->term, m->match_index);
        else
            snprintf(buf, len, "append rejected(term %" PRIu64 ", prev %" PRIu64
                     ", hint %" PRIu64 "/term %" PRIu64 ")", m->term,
                     m->prev_index, m->hint_index, m->hint_term);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        snprintf(buf, len, "TimeoutNow(term %" PRIu64 ")", m->term);
        break;
    case RAFT_MSG_SNAPSHOT:
        snprintf(buf, len, "InstallSnapshot(term %" PRIu64 ", up to %" PRIu64
                 "/term %" PRIu64 ", commit %" PRIu64 ")", m->term,
                 m->snapshot_index, m->snapshot_term, m->commit);
        break;
    default:
        snprintf(buf, len, "message type %d", (int)m->type);
    }
    return buf;
}

void trace_count_delivery(struct sim *s, const struct raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_VOTE:
        s->sec.vote++;
        break;
    case RAFT_MSG_VOTE_RESP:
        s->sec.vote_resp++;
        break;
    case RAFT_MSG_APPEND:
        if (m->n_entries) {
            s->sec.app++;
            s->sec.app_entries += (unsigned)m->n_entries;
        } else {
            s->sec.hb++;
        }
        break;
    case RAFT_MSG_APPEND_RESP:
        s->sec.app_resp++;
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        s->sec.tnow++;
        break;
    case RAFT_MSG_SNAPSHOT:
        s->sec.app++;
        break;
    }
}

/* One summary line per second of message traffic (levels 0 and 1). */
void trace_second(struct sim *s, uint64_t upto)
{
    while (s->sec_mark <= upto) {
        uint64_t mark = s->sec_mark;
        s->sec_mark += 1000;
        unsigned total = s->sec.hb + s->sec.app + s->sec.app_resp +
                         s->sec.vote + s->sec.vote_resp + s->sec.tnow +
                         s->sec.lost;
        if (!total || !s->out->print || s->out->verbosity >= 2) {
            memset(&s->sec, 0, sizeof(s->sec));
            continue;
        }
        char buf[512];
        size_t len = (size_t)snprintf(buf, sizeof(buf), "[1s: %u heartbeats, "
                                      "%u AppendEntries (%u entries), %u replies",
                                      s->sec.hb, s->sec.app, s->sec.app_entries,
                                      s->sec.app_resp);
        if (s->sec.vote || s->sec.vote_resp)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                    ", %u vote requests, %u vote replies",
                                    s->sec.vote, s->sec.vote_resp);
        if (s->sec.lost)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, ", %u lost",
                                    s->sec.lost);
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, " | commit");
        for (unsigned id = 1; id <= s->n && len < sizeof(buf) - 24; id++) {
            struct node *n = &s->nodes[id];
            if (n->up)
                len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                        " %s=%" PRIu64, node_name(id), n->commit);
            else
                len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                        " %s=down", node_name(id));
        }
        if (len < sizeof(buf) - 2)
            snprintf(buf + len, sizeof(buf) - len, "]");
        char *line = stamp(mark, 0, buf);
        fprintf(s->out->out, "%s\n", line);
        free(line);
        memset(&s->sec, 0, sizeof(s->sec));
    }
}

static bool has_note(const struct raft_ready *rd, enum raft_note_type t)
{
    for (size_t i = 0; i < rd->n_notes; i++)
        if (rd->notes[i].type == t)
            return true;
    return false;
}

/* Turn the core's notes (and the entries of the ready) into phrases. */
void trace_notes(struct sim *s, struct node *n, const struct raft_ready *rd)
{
    raft_term prev_term = n->term;
    bool election = has_note(rd, RAFT_NOTE_ELECTION_STARTED);
    for (size_t i = 0; i < rd->n_notes; i++) {
        const struct raft_note *no = &rd->notes[i];
        dig(s, 0x407eull ^ ((uint64_t)no->type << 32) ^ (n->id << 24) ^ no->term);
        if (!s->out->fmt)
            continue;
        const char *peer = node_name(no->peer);
        const char *reason = no->reason ? no->reason : "";
        switch (no->type) {
        case RAFT_NOTE_ELECTION_TIMEOUT:
            if (n->heard_from == n->id)
                say(s, 0, n->id, "election timeout (%.3fs after it stopped "
                    "leading)", (s->now - n->heard_at) / 1000.0);
            else if (n->heard_from)
                say(s, 0, n->id, "election timeout (last heard from leader %s "
                    "%.3fs ago)", node_name(n->heard_from),
                    (s->now - n->heard_at) / 1000.0);
            else
                say(s, 0, n->id, "election timeout (has heard from no leader)");
            break;
        case RAFT_NOTE_PREVOTE_STARTED:
            /* its own vote counts only if it is a voter (one whose
             * removal is uncommitted counts the others only) */
            n->votes = sconf_voter(node_conf(s, n, NULL), n->id);
            say(s, 0, n->id, "-> pre-vote: asks the others \"would you vote for "
                "me in term %" PRIu64 "?\"", no->term + 1);
            break;
        case RAFT_NOTE_PREVOTE_FAILED:
            say(s, 0, n->id, "pre-vote failed (%s)", reason);
            break;
        case RAFT_NOTE_ELECTION_STARTED:
            /* its own vote counts only if it is a voter (one whose
             * removal is uncommitted counts the others only) */
            n->votes = sconf_voter(node_conf(s, n, NULL), n->id);
            say(s, 0, n->id, "-> starts an election for term %" PRIu64
                ", votes for itself%s", no->term,
                no->reason ? " (leadership transfer: no pre-vote)" : "");
            break;
        case RAFT_NOTE_TERM_CHANGED:
            if (!election)
                say(s, 0, n->id, "moves from term %" PRIu64 " to %" PRIu64,
                    prev_term, no->term);
            break;
        case RAFT_NOTE_VOTE_GRANTED:
            if (no->prevote)
                say(s, 0, n->id, "grants %s its pre-vote", peer);
            else
                say(s, 0, n->id, "votes for %s in term %" PRIu64, peer, no->term);
            break;
        case RAFT_NOTE_VOTE_DENIED:
            say(s, no->prevote ? 1 : 0, n->id, "refuses %s its %s (%s)", peer,
                no->prevote ? "pre-vote" : "vote", reason);
            break;
        case RAFT_NOTE_VOTE_RECEIVED: {
            unsigned voters = sconf_voters(node_conf(s, n, NULL));
            n->votes++;
            say(s, 0, n->id, "gets a %s from %s (%u of %u%s)",
                no->prevote ? "pre-vote" : "vote", peer, n->votes, voters,
                n->votes == voters / 2 + 1 ? ": a majority" : "");
            break;
        }
        case RAFT_NOTE_CONFIGURATION: {
            raft_index at;
            struct sconf c = node_conf(s, n, &at);
            say(s, 1, n->id,
                "now uses configuration %s (%s %" PRIu64 "%s)", sconf_text(c),
                no->index ? "entry" : "as of its snapshot at",
                no->index ? no->index : at,
                no->index > raft_commit_index(n->r) ? ", not yet committed" : "");
            break;
        }
        case RAFT_NOTE_LEARNER_CAUGHT_UP:
            say(s, 0, n->id, "%s caught up (a catch-up round within an "
                "election timeout): it may be promoted", peer);
            break;
        case RAFT_NOTE_LEADER_GONE:
            say(s, 0, n->id, "hears that leader %s is gone (%s): elects "
                "within a heartbeat", peer, reason);
            break;
        case RAFT_NOTE_REMOVED:
            say(s, 0, n->id, "learns that its removal is committed (entry %"
                PRIu64 ")", no->index);
            break;
        case RAFT_NOTE_BECAME_LEADER:
            say(s, 0, n->id, "-> becomes LEADER of term %" PRIu64, no->term);
            break;
        case RAFT_NOTE_BECAME_FOLLOWER:
            say(s, 1, n->id, "becomes a follower");
            break;
        case RAFT_NOTE_BECAME_CANDIDATE:
            break;
        case RAFT_NOTE_LEADER_CHANGED:
            if (no->peer && no->peer != n->id)
                say(s, 0, n->id, "follows leader %s (term %" PRIu64 ")", peer,
                    no->term);
            break;
        case RAFT_NOTE_STEPPED_DOWN:
            n->heard_from = n->id;
            n->heard_at = s->now;
            say(s, 0, n->id, "steps down as leader (%s)", reason);
            break;
        case RAFT_NOTE_TRANSFER_STARTED:
            say(s, 0, n->id, "starts handing leadership to %s (refuses client "
                "commands meanwhile)", peer);
            break;
        case RAFT_NOTE_TRANSFER_DONE:
            say(s, 0, n->id, "leadership handed over to %s", peer);
            break;
        case RAFT_NOTE_TRANSFER_ABORTED:
            say(s, 0, n->id, "leadership transfer to %s aborted", peer);
            break;
        case RAFT_NOTE_LOG_TRUNCATED:
            say(s, 0, n->id, "drops its conflicting entries from index %" PRIu64
                " on (never committed)", no->index);
            break;
        case RAFT_NOTE_CATCHING_UP:
            say(s, 1, n->id, "%s lags or diverges: probes back from index %" PRIu64,
                peer, no->index);
            break;
        case RAFT_NOTE_FOLLOWER_CAUGHT_UP:
            say(s, 1, n->id, "%s caught up (entry %" PRIu64 ")", peer, no->index);
            break;
        case RAFT_NOTE_DIVERGED:
            say(s, 0, n->id, "REFUSES it and reports DIVERGENCE: its %s gives "
                "committed entry %" PRIu64 " term %" PRIu64 ", which has term %"
                PRIu64 " here (no leader can send that); nothing changes",
                reason, no->index, no->peer_entry_term, no->entry_term);
            break;
        default:
            say(s, 1, n->id, "%s", raft_note_name(no->type));
            break;
        }
        prev_term = no->term;
    }
    if (!s->out->fmt || !rd->n_entries)
        return;
    raft_index first = rd->entries_first;
    raft_index last = first + rd->n_entries - 1;
    if (raft_role(n->r) == RAFT_LEADER) {
        for (size_t k = 0; k < rd->n_entries; k++)
            if (rd->entries[k].type == RAFT_ENTRY_NOOP)
                say(s, 0, n->id, "appends a no-op as entry %" PRIu64
                    " (a leader commits only entries of its own term)",
                    first + k);
    } else if (first == last) {
        say(s, 1, n->id, "appends entry %" PRIu64 " from %s", first,
            node_name(raft_leader(n->r)));
    } else {
        say(s, 1, n->id, "appends entries %" PRIu64 "..%" PRIu64 " from %s",
            first, last, node_name(raft_leader(n->r)));
    }
}
