/* divergence.c - reporting divergence (see divergence.h).
 *
 * A leader of this node's term or of a later one holds every entry this
 * node knows to be committed (Leader Completeness, Raft paper 5.4.3), so a
 * message that gives such an entry another term was forged, or a bug or a
 * corrupted disk made this node's log and the sender's disagree on a
 * committed entry. The core refuses it without changing anything; here it
 * is made loud, without letting a stream of such messages flood the log.
 */
#include "divergence.h"

#include <inttypes.h>
#include <stdio.h>

#include "logging.h"

#define MINUTE_MS 60000

static bool seen_before(struct divergence_log *dl,
                        const struct divergence_seen *x)
{
    for (unsigned i = 0; i < dl->n_seen; i++) {
        const struct divergence_seen *s = &dl->seen[i];
        if (s->index == x->index && s->entry_term == x->entry_term &&
            s->peer_entry_term == x->peer_entry_term && s->peer == x->peer)
            return true;
    }
    dl->seen[dl->next] = *x;
    dl->next = (dl->next + 1) % DIVERGENCE_LOG_SEEN;
    if (dl->n_seen < DIVERGENCE_LOG_SEEN)
        dl->n_seen++;
    return false;
}

static void describe(raft_index index, raft_term ours, raft_id peer,
                     const char *what, raft_term theirs, char *buf,
                     size_t len)
{
    snprintf(buf, len, "committed entry %" PRIu64 " has term %" PRIu64
             " here, but node %" PRIu64 "'s %s gives it term %" PRIu64,
             index, ours, peer, what ? what : "message", theirs);
}

void divergence_describe(const struct raft_divergence *d, char *buf,
                         size_t len)
{
    describe(d->index, d->entry_term, d->peer, d->what, d->peer_entry_term,
             buf, len);
}

void divergence_log_note(struct divergence_log *dl, const struct raft_note *note,
                         const char *state, raft_time now)
{
    struct divergence_seen x = {
        .index = note->index,
        .entry_term = note->entry_term,
        .peer_entry_term = note->peer_entry_term,
        .peer = note->peer,
    };
    int prio = LOG_DEBUG;
    unsigned long long suppressed = 0;
    if (!seen_before(dl, &x)) {
        if (!dl->window_start || now - dl->window_start >= MINUTE_MS) {
            dl->window_start = now ? now : 1;
            dl->logged = 0;
        }
        if (dl->logged < DIVERGENCE_LOG_BURST) {
            dl->logged++;
            prio = LOG_ERR;
            suppressed = dl->suppressed;
            dl->suppressed = 0;
        } else {
            dl->suppressed++;
        }
    }
    char text[320], more[64] = "";
    describe(note->index, note->entry_term, note->peer, note->reason,
             note->peer_entry_term, text, sizeof(text));
    if (suppressed)
        snprintf(more, sizeof(more), " (%llu more not logged)", suppressed);
    struct log_raft f = {
        .event = raft_note_name(note->type),
        .term = note->term,
        .state = state,
        .leader = note->leader,
        .peer = note->peer,
        .index = note->index,
        .entry_term = note->entry_term,
        .peer_entry_term = note->peer_entry_term,
    };
    log_raft(prio, &f, "%s; message refused, this node's log and node %" PRIu64
             "'s disagree on a committed entry (a forged message, a bug or a "
             "corrupted disk): see raftd(8), DIVERGENCE%s", text, note->peer,
             more);
}

cJSON *divergence_json(const struct raft *r)
{
    struct raft_divergence d;
    if (!raft_diverged(r, &d))
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", (double)d.index);
    cJSON_AddNumberToObject(o, "term", (double)d.entry_term);
    cJSON_AddNumberToObject(o, "peer_id", (double)d.peer);
    cJSON_AddNumberToObject(o, "peer_term", (double)d.peer_entry_term);
    cJSON_AddNumberToObject(o, "message_term", (double)d.msg_term);
    cJSON_AddStringToObject(o, "message", d.what ? d.what : "");
    cJSON_AddNumberToObject(o, "refused", (double)d.refused);
    return o;
}
