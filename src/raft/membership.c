/* membership.c - configurations and their changes, one server at a time
 * (Ongaro's dissertation chapter 4).
 *
 * A configuration lists the members: voters, and learners that receive the
 * log without voting (4.2.1). It changes through RAFT_ENTRY_CONFIG entries,
 * and every server uses the latest configuration in its log, committed or
 * not (4.1): so one that appends a configuration entry, or receives one,
 * switches at once, and one whose uncommitted configuration entry is
 * truncated goes back to the one before it. Because successive
 * configurations differ by one server, any majority of one overlaps any
 * majority of the next, and no two leaders can be elected in one term
 * across a change. The leader starts a change only once the previous one
 * is committed (one at a time), and only once it has committed an entry of
 * its own term (4.1, the fix to the single-server algorithm published in
 * 2015: a new leader might otherwise append a change whose predecessor an
 * earlier leader overwrote).
 *
 * New servers join as learners and are promoted once they have caught up
 * (4.2.1: rounds; a round replicates up to the leader's last index at its
 * start, and a round shorter than an election timeout means caught up).
 * A removed leader leads until its removal is committed, without counting
 * itself, then steps down (4.2.2). A removed server that does not know it
 * is harmless (4.2.3): its requests come from a non-member, and pre-vote
 * and the leader's lease make the others ignore its elections. One whose
 * removal is in its log but not committed may still campaign, counting the
 * votes of the new configuration without itself, as a leader removing
 * itself counts them: the others may need it (raft-sim found {n1,n2}
 * stuck after n1, leading, appended its removal alone and lost office: n2
 * needs n1's vote, which n1's longer log refuses, and n1 waited).
 *
 * Votes go to members only (election.c), but "member" cannot mean only of
 * the configuration in effect: a learner of ours may be a voter of a newer
 * one, and a configuration above our commit index may be truncated, so a
 * server it removes may still be a voter of the cluster's configuration
 * (raft-sim seed 154: n2 held its own stale removal of n4, never to be
 * committed, and refused n4, whose election needed n2's vote, while n4
 * refused n5 for its uncommitted removal: nobody could lead). A stranger
 * is a server in none of the configurations from our latest committed one
 * on (a spare, or a server whose removal we know is committed); only
 * strangers are refused without effect (4.2.3).
 *
 * The progress entries (struct progress) follow the configuration in
 * effect: one per member, with its voter flag, created and dropped with
 * the members.
 */
#include "internal.h"

#include <assert.h>
#include <string.h>

/* ---- configurations as values ---- */

const struct raft_member *raft_configuration_find(
    const struct raft_configuration *c, raft_id id)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->members[i].id == id)
            return &c->members[i];
    return NULL;
}

unsigned raft_configuration_voters(const struct raft_configuration *c)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->n; i++)
        n += c->members[i].role == RAFT_VOTER;
    return n;
}

static bool configuration_valid(const struct raft_configuration *c)
{
    if (c->n < 1 || c->n > RAFT_MAX_MEMBERS || !raft_configuration_voters(c))
        return false;
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_member *m = &c->members[i];
        if (m->id == RAFT_NONE || m->role > RAFT_LEARNER ||
            memchr(m->address, 0, sizeof(m->address)) == NULL)
            return false;
        for (unsigned j = 0; j < i; j++)
            if (c->members[j].id == m->id)
                return false;
    }
    return true;
}

int raft_configuration_encode(const struct raft_configuration *c, uint8_t *buf)
{
    if (!configuration_valid(c))
        return RAFT_EINVAL;
    size_t p = 0;
    buf[p++] = 1; /* version */
    buf[p++] = (uint8_t)c->n;
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_member *m = &c->members[i];
        size_t alen = strlen(m->address);
        for (int k = 0; k < 8; k++)
            buf[p++] = (uint8_t)(m->id >> (8 * k));
        buf[p++] = m->role;
        buf[p++] = (uint8_t)alen;
        memcpy(buf + p, m->address, alen);
        p += alen;
    }
    assert(p <= RAFT_CONFIGURATION_MAX_BYTES);
    return (int)p;
}

int raft_configuration_decode(const void *data, size_t len,
                              struct raft_configuration *c)
{
    const uint8_t *b = data;
    size_t p = 2;
    memset(c, 0, sizeof(*c));
    if (len < 2 || b[0] != 1 || b[1] < 1 || b[1] > RAFT_MAX_MEMBERS)
        return RAFT_EINVAL;
    c->n = b[1];
    for (unsigned i = 0; i < c->n; i++) {
        struct raft_member *m = &c->members[i];
        if (len - p < 10)
            return RAFT_EINVAL;
        for (int k = 0; k < 8; k++)
            m->id |= (raft_id)b[p++] << (8 * k);
        m->role = b[p++];
        size_t alen = b[p++];
        if (len - p < alen || memchr(b + p, 0, alen))
            return RAFT_EINVAL;
        memcpy(m->address, b + p, alen);
        p += alen;
    }
    if (p != len || !configuration_valid(c))
        return RAFT_EINVAL;
    return 0;
}

/* ---- the configuration in effect ---- */

bool membership_is_voter(const struct raft *r, raft_id id)
{
    const struct raft_member *m = raft_configuration_find(&r->conf, id);
    return m && m->role == RAFT_VOTER;
}

void membership_start_round(struct raft *r, struct progress *pr)
{
    pr->round_target = raftlog_last_index(&r->log);
    pr->round_start = r->now;
    pr->rounds = 1;
    pr->caught_up = pr->match >= pr->round_target;
}

/* Progress entries for exactly the members of r->conf: those of members
 * that stay are kept, new members start probing. */
static void sync_progress(struct raft *r)
{
    struct progress old[RAFT_MAX_MEMBERS];
    unsigned n_old = r->n_prs;
    memcpy(old, r->prs, n_old * sizeof(old[0]));
    r->n_prs = 0;
    for (unsigned i = 0; i < r->conf.n; i++) {
        const struct raft_member *m = &r->conf.members[i];
        struct progress *pr = &r->prs[r->n_prs++];
        unsigned j = 0;
        while (j < n_old && old[j].id != m->id)
            j++;
        if (j < n_old) {
            *pr = old[j];
        } else {
            memset(pr, 0, sizeof(*pr));
            pr->id = m->id;
            progress_reset(pr, raftlog_last_index(&r->log));
            pr->last_heard = r->now;
            if (r->role == RAFT_LEADER)
                membership_start_round(r, pr);
        }
        pr->voter = m->role == RAFT_VOTER;
    }
    if (r->transfer_target && !membership_is_voter(r, r->transfer_target))
        transfer_end(r, RAFT_NOTE_TRANSFER_ABORTED);
}

static void take_effect(struct raft *r, const struct raft_configuration *c,
                        raft_index index)
{
    r->conf = *c;
    r->conf_index = index;
    r->removed_noted = false;
    sync_progress(r);
    raft_note(r, RAFT_NOTE_CONFIGURATION, 0, index, NULL);
}

void membership_on_append(struct raft *r, raft_index index,
                          const struct raft_entry *e)
{
    struct raft_configuration c;
    if (e->type != RAFT_ENTRY_CONFIG)
        return;
    /* A leader checked it before appending it; one that does not decode
     * changes nothing (it cannot come from a correct leader). */
    if (raft_configuration_decode(e->data, e->len, &c) == 0)
        take_effect(r, &c, index);
}

/* The latest configuration at or before index: its entry's index (0 for
 * base_conf) into *c. */
static raft_index latest_at(const struct raft *r, raft_index index,
                            struct raft_configuration *c)
{
    for (raft_index i = index; i >= r->log.first && i > 0; i--) {
        const struct raft_entry *e = raftlog_get(&r->log, i);
        if (e && e->type == RAFT_ENTRY_CONFIG &&
            raft_configuration_decode(e->data, e->len, c) == 0)
            return i;
    }
    *c = r->base_conf;
    return 0;
}

bool membership_may_campaign(const struct raft *r)
{
    if (membership_is_voter(r, r->cfg.id))
        return true;
    if (r->conf_index <= r->commit || raft_configuration_find(&r->conf, r->cfg.id))
        return false; /* a learner, or its removal is committed */
    struct raft_configuration prev;
    latest_at(r, r->conf_index - 1, &prev);
    const struct raft_member *m = raft_configuration_find(&prev, r->cfg.id);
    return m && m->role == RAFT_VOTER;
}

bool membership_knows(const struct raft *r, raft_id id)
{
    if (raft_configuration_find(&r->conf, id))
        return true;
    /* Configurations above the commit index may still be truncated: a
     * member of any of them, or of the committed one before them, may be
     * a voter of the cluster's configuration. */
    struct raft_configuration c;
    for (raft_index at = r->conf_index; at > r->commit;) {
        at = latest_at(r, at - 1, &c);
        if (raft_configuration_find(&c, id))
            return true;
    }
    return false;
}

void membership_on_truncate(struct raft *r, raft_index index)
{
    if (r->conf_index < index)
        return; /* the configuration in effect stays */
    struct raft_configuration c;
    raft_index at = latest_at(r, index - 1, &c);
    take_effect(r, &c, at);
}

void membership_on_compact(struct raft *r, raft_index index,
                           const struct raft_configuration *conf,
                           bool log_discarded)
{
    struct raft_configuration c;
    if (conf)
        c = *conf;
    else if (log_discarded)
        c = r->conf; /* a snapshot without one: ours stands */
    else
        latest_at(r, index, &c);
    r->base_conf = c;
    if (log_discarded || (conf && r->conf_index <= index))
        take_effect(r, &c, 0); /* the snapshot's, as of its index */
    else if (r->conf_index <= index)
        r->conf_index = 0; /* the one in effect is now the base */
}

void membership_on_commit(struct raft *r)
{
    if (r->conf_index > r->commit || r->removed_noted ||
        raft_configuration_find(&r->conf, r->cfg.id))
        return;
    r->removed_noted = true;
    raft_note(r, RAFT_NOTE_REMOVED, 0, r->conf_index, NULL);
    if (r->role == RAFT_LEADER) /* diss. 4.2.2 */
        raft_become_follower(r, r->term, RAFT_NONE,
                             "removed from the configuration");
}

void membership_on_progress(struct raft *r, struct progress *pr)
{
    pr->last_heard = r->now;
    if (pr->voter || pr->caught_up || pr->match < pr->round_target)
        return;
    if (r->now - pr->round_start <= r->cfg.election_timeout_min_ms) {
        pr->caught_up = true;
        raft_note(r, RAFT_NOTE_LEARNER_CAUGHT_UP, pr->id, pr->match, NULL);
        return;
    }
    /* Too slow: another round, to the leader's log as it is now. If the
     * learner has that already (an idle cluster, a learner that started
     * late), the round took no time: caught up. Otherwise nothing would
     * end it, as this runs only when the learner's match index grows. */
    pr->round_target = raftlog_last_index(&r->log);
    pr->round_start = r->now;
    pr->rounds++;
    if (pr->match >= pr->round_target) {
        pr->caught_up = true;
        raft_note(r, RAFT_NOTE_LEARNER_CAUGHT_UP, pr->id, pr->match, NULL);
    }
}

/* ---- API ---- */

int raft_restore_configuration(struct raft *r,
                               const struct raft_configuration *c)
{
    if (!configuration_valid(c))
        return RAFT_EINVAL;
    r->base_conf = *c;
    r->conf = *c;
    r->conf_index = 0;
    sync_progress(r);
    return 0;
}

const struct raft_configuration *raft_configuration(const struct raft *r,
                                                    raft_index *index)
{
    if (index)
        *index = r->conf_index;
    return &r->conf;
}

int raft_configuration_at(const struct raft *r, raft_index index,
                          struct raft_configuration *out)
{
    if (index + 1 < r->log.first || index > raftlog_last_index(&r->log))
        return RAFT_EINVAL;
    latest_at(r, index, out);
    return 0;
}

raft_time raft_last_heard(const struct raft *r, raft_id id)
{
    const struct progress *pr = raft_progress((struct raft *)r, id);
    return r->role == RAFT_LEADER && pr ? pr->last_heard : 0;
}

bool raft_learner_caught_up(const struct raft *r, raft_id id)
{
    const struct progress *pr = raft_progress((struct raft *)r, id);
    return r->role == RAFT_LEADER && pr && !pr->voter && pr->caught_up;
}

/* Is next one step from cur: one member added as a learner, one learner
 * promoted, one member removed, or one address changed? */
static bool one_step(const struct raft_configuration *cur,
                     const struct raft_configuration *next)
{
    unsigned changed = 0;
    for (unsigned i = 0; i < next->n; i++) {
        const struct raft_member *n = &next->members[i];
        const struct raft_member *c = raft_configuration_find(cur, n->id);
        if (!c) {
            if (n->role != RAFT_LEARNER)
                return false; /* new servers join without a vote */
            changed++;
        } else if (c->role != n->role) {
            if (!(c->role == RAFT_LEARNER && n->role == RAFT_VOTER))
                return false;
            changed++;
        } else if (strcmp(c->address, n->address) != 0) {
            changed++;
        }
    }
    for (unsigned i = 0; i < cur->n; i++)
        if (!raft_configuration_find(next, cur->members[i].id))
            changed++;
    return changed == 1;
}

/* Would next's voters that this leader heard from lately (itself
 * included) be a majority of next? Lately: within three heartbeats, in
 * which a healthy follower answers three times. */
static bool heard_majority(const struct raft *r,
                           const struct raft_configuration *next)
{
    unsigned voters = raft_configuration_voters(next), heard = 0;
    raft_time lately = 3 * (raft_time)r->cfg.heartbeat_ms;
    for (unsigned i = 0; i < next->n; i++) {
        const struct raft_member *m = &next->members[i];
        if (m->role != RAFT_VOTER)
            continue;
        const struct progress *pr = raft_progress((struct raft *)r, m->id);
        if (m->id == r->cfg.id || (pr && r->now - pr->last_heard <= lately))
            heard++;
    }
    return heard >= voters / 2 + 1;
}

int raft_change_configuration(struct raft *r, raft_time now,
                              const struct raft_configuration *next,
                              raft_index *index)
{
    int rv = leader_may_act(r, now);
    if (rv < 0)
        return rv;
    if (raftlog_term_at(&r->log, r->commit) != r->term)
        return RAFT_ENOTREADY;
    if (r->conf_index > r->commit)
        return RAFT_EBUSY;
    if (!configuration_valid(next) || !one_step(&r->conf, next))
        return RAFT_EINVAL;
    if (!heard_majority(r, next))
        return RAFT_ENOQUORUM;
    uint8_t buf[RAFT_CONFIGURATION_MAX_BYTES];
    int len = raft_configuration_encode(next, buf);
    if (len < 0)
        return len;
    raft_index at;
    rv = replication_append_local(r, RAFT_ENTRY_CONFIG, buf, (size_t)len,
                                      &at);
    if (rv)
        return rv;
    r->broadcast_pending = true;
    if (index)
        *index = at;
    return 0;
}
