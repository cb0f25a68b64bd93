/* fuzz_rpc.c - the peer RPC wire format (rpc.c): what any host that can
 * reach the port may POST to /raft/... (and what a peer answers).
 *
 * The first input byte picks what the rest is:
 *   0-5  the JSON of one message type (VOTE, VOTE_RESP, APPEND,
 *        APPEND_RESP, TIMEOUT_NOW, SNAPSHOT) for rpc_decode(); a message
 *        that decodes must survive rpc_encode() and rpc_decode() again
 *        unchanged;
 *   6    an InstallSnapshot request body (a JSON line, then the snapshot
 *        image), checked as the node does before it touches its state
 *        (node_snapshot.c, snap_handle_install): rpc_decode_install_snapshot,
 *        snapfile_check, the header against the JSON, the payload's parts
 *        (kv_restore, dedup_restore, memberfile_decode);
 *   7    the same, but the image's two CRC-32C fields are set right first,
 *        so that the fuzzer reaches the payload checks behind them.
 */
#include "fuzz.h"

#include "crc32c.h"
#include "dedup.h"
#include "kv.h"
#include "memberfile.h"
#include "rpc.h"
#include "snapfile.h"

static const enum raft_msg_type types[] = {
    RAFT_MSG_VOTE,        RAFT_MSG_VOTE_RESP,   RAFT_MSG_APPEND,
    RAFT_MSG_APPEND_RESP, RAFT_MSG_TIMEOUT_NOW, RAFT_MSG_SNAPSHOT,
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static bool same_entries(const struct raft_msg *a, const struct raft_msg *b)
{
    if (a->n_entries != b->n_entries)
        return false;
    for (size_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i], *y = &b->entries[i];
        if (x->term != y->term || x->type != y->type || x->len != y->len ||
            (x->len && memcmp(x->data, y->data, x->len) != 0))
            return false;
    }
    return true;
}

static bool same_msg(const struct raft_msg *a, const struct raft_msg *b)
{
    return a->type == b->type && a->from == b->from && a->to == b->to &&
           a->term == b->term && a->last_index == b->last_index &&
           a->last_term == b->last_term && a->prevote == b->prevote &&
           a->transfer == b->transfer && a->granted == b->granted &&
           a->prev_index == b->prev_index && a->prev_term == b->prev_term &&
           a->commit == b->commit && a->seq == b->seq &&
           a->success == b->success && a->match_index == b->match_index &&
           a->hint_index == b->hint_index && a->hint_term == b->hint_term &&
           a->snapshot_index == b->snapshot_index &&
           a->snapshot_term == b->snapshot_term && same_entries(a, b);
}

/* A decoded message is encoded and decoded again: the same message. */
static void check_round_trip(const struct raft_msg *m)
{
    size_t len = 0;
    char *json = rpc_encode(m, &len);
    FUZZ_CHECK(json != NULL);
    FUZZ_CHECK(strlen(json) == len);
    struct raft_msg again;
    char err[256];
    int rv = rpc_decode(m->type, json, len, &again, err, sizeof(err));
    if (rv < 0)
        fprintf(stderr, "re-decoding %s: %s\n", json, err);
    FUZZ_CHECK(rv == 0);
    FUZZ_CHECK(same_msg(m, &again));
    rpc_msg_free(&again);
    free(json);
}

static void fuzz_message(enum raft_msg_type type, const char *body,
                         size_t len)
{
    struct raft_msg m;
    char err[256] = "";
    if (rpc_decode(type, body, len, &m, err, sizeof(err)) < 0) {
        FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)));
        FUZZ_CHECK(m.entries == NULL && m.n_entries == 0);
        return;
    }
    FUZZ_CHECK(m.type == type);
    FUZZ_CHECK(m.n_entries == 0 || type == RAFT_MSG_APPEND);
    check_round_trip(&m);
    rpc_msg_free(&m);
}

/* The payload checks of a received snapshot (payload_valid and
 * check_members in node_snapshot.c). */
static void check_payload(const uint8_t *payload, size_t len)
{
    struct snapfile_parts p;
    if (snapfile_split(payload, len, &p) < 0)
        return;
    FUZZ_CHECK(p.kv_len + p.dedup_len + p.members_len <= len);
    struct kv *kv = kv_new();
    struct dedup *d = dedup_new();
    FUZZ_CHECK(kv && d);
    if (kv_restore(kv, p.kv, p.kv_len) == 0 &&
        dedup_restore(d, p.dedup, p.dedup_len) == 0 && p.members_len) {
        struct member_list l;
        char err[600] = "";
        if (memberfile_decode(p.members, p.members_len, &l,
                              "the snapshot from node 1", err,
                              sizeof(err)) < 0)
            FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)));
    }
    kv_free(kv);
    dedup_free(d);
}

/* What snapfile_seal does, so that mode 7 gets past the checksums. */
static void fix_checksums(uint8_t *img, size_t len)
{
    if (len < SNAPFILE_HEADER)
        return;
    uint64_t plen = fuzz_get_le(img + 32, 8);
    if (plen <= len - SNAPFILE_HEADER)
        fuzz_put_le(img + 40, crc32c(0, img + SNAPFILE_HEADER, plen), 4);
    fuzz_put_le(img + 44, crc32c(0, img, 44), 4);
}

static void fuzz_install_snapshot(const uint8_t *data, size_t size,
                                  bool fix)
{
    /* a copy: the body is read-only, and mode 7 edits the image */
    char *body = fuzz_strndup(data, size);
    struct raft_msg m;
    const uint8_t *img;
    size_t img_len;
    char err[1200] = "";
    if (rpc_decode_install_snapshot(body, size, &m, &img, &img_len, err,
                                    sizeof(err)) < 0) {
        FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)));
        free(body);
        return;
    }
    FUZZ_CHECK(img > (const uint8_t *)body && img[-1] == '\n');
    FUZZ_CHECK(img + img_len == (const uint8_t *)body + size);
    FUZZ_CHECK(m.type == RAFT_MSG_SNAPSHOT && m.n_entries == 0);
    if (fix)
        fix_checksums((uint8_t *)img, img_len);
    struct snapfile_meta meta;
    if (snapfile_check(img, img_len, &meta, "the snapshot from node 1", err,
                       sizeof(err)) < 0) {
        FUZZ_CHECK(fuzz_message_ok(err, sizeof(err)));
    } else {
        FUZZ_CHECK(meta.length == img_len - SNAPFILE_HEADER);
        FUZZ_CHECK(meta.index && meta.term);
        check_payload(img + SNAPFILE_HEADER, meta.length);
    }
    check_round_trip(&m);
    rpc_msg_free(&m);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 8;
    data++;
    size--;
    if (mode < N_TYPES)
        fuzz_message(types[mode], (const char *)data, size);
    else
        fuzz_install_snapshot(data, size, mode == 7);
    return 0;
}
