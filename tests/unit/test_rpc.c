/* test_rpc.c - the peer RPC JSON codec: round trips and hostile input. */
#include <stdlib.h>
#include <string.h>

#include "../../src/daemon/rpc.h"
#include "test.h"

static int decode(enum raft_msg_type t, const char *json, struct raft_msg *m)
{
    char err[200];
    return rpc_decode(t, json, strlen(json), m, err, sizeof(err));
}

TEST(vote_round_trip)
{
    struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = 2, .to = 3, .term = 7,
                         .last_index = 100, .last_term = 6, .prevote = true,
                         .transfer = true};
    size_t len;
    char *s = rpc_encode(&m, &len);
    CHECK(s != NULL);
    CHECK(strstr(s, "\"candidate_id\":2") != NULL);
    struct raft_msg d;
    CHECK_EQ_U(decode(RAFT_MSG_VOTE, s, &d), 0);
    CHECK_EQ_U(d.from, 2);
    CHECK_EQ_U(d.to, 3);
    CHECK_EQ_U(d.term, 7);
    CHECK_EQ_U(d.last_index, 100);
    CHECK_EQ_U(d.last_term, 6);
    CHECK(d.prevote && d.transfer);
    free(s);
}

TEST(append_round_trip_with_binary_entries)
{
    uint8_t bin[5] = {0, 255, '"', '\n', 7};
    struct raft_entry e[3] = {
        {.term = 4, .type = RAFT_ENTRY_NORMAL, .len = 5, .data = bin},
        {.term = 4, .type = RAFT_ENTRY_NOOP, .len = 0, .data = NULL},
        {.term = 5, .type = RAFT_ENTRY_NORMAL, .len = 1, .data = bin + 4},
    };
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2,
                         .term = 5, .prev_index = 9, .prev_term = 3,
                         .commit = 8, .seq = 77, .n_entries = 3, .entries = e};
    size_t len;
    char *s = rpc_encode(&m, &len);
    struct raft_msg d;
    CHECK_EQ_U(decode(RAFT_MSG_APPEND, s, &d), 0);
    CHECK_EQ_U(d.prev_index, 9);
    CHECK_EQ_U(d.prev_term, 3);
    CHECK_EQ_U(d.commit, 8);
    CHECK_EQ_U(d.seq, 77);
    CHECK_EQ_U(d.n_entries, 3);
    CHECK_EQ_U(d.entries[0].len, 5);
    CHECK(memcmp(d.entries[0].data, bin, 5) == 0);
    CHECK_EQ_U(d.entries[1].type, RAFT_ENTRY_NOOP);
    CHECK_EQ_U(d.entries[1].len, 0);
    CHECK_EQ_U(d.entries[2].term, 5);
    rpc_msg_free(&d);
    free(s);
}

TEST(append_resp_round_trip)
{
    struct raft_msg m = {.type = RAFT_MSG_APPEND_RESP, .from = 3, .to = 1,
                         .term = 5, .success = false, .prev_index = 40,
                         .hint_index = 31, .hint_term = 2, .seq = 9};
    char *s = rpc_encode(&m, NULL);
    struct raft_msg d;
    CHECK_EQ_U(decode(RAFT_MSG_APPEND_RESP, s, &d), 0);
    CHECK(!d.success);
    CHECK_EQ_U(d.prev_index, 40);
    CHECK_EQ_U(d.hint_index, 31);
    CHECK_EQ_U(d.hint_term, 2);
    CHECK_EQ_U(d.seq, 9);
    free(s);
}

TEST(large_batch_round_trips_byte_for_byte)
{
    enum { N = 64 };
    struct raft_entry e[N];
    uint64_t x = 0x1234567;
    for (int i = 0; i < N; i++) {
        e[i].term = 1000000 + (uint64_t)i;
        e[i].type = (uint8_t)(i % 2);
        e[i].len = (uint32_t)((i * 977) % 5000);
        e[i].data = malloc(e[i].len ? e[i].len : 1);
        for (uint32_t k = 0; k < e[i].len; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            e[i].data[k] = (uint8_t)x;
        }
    }
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 3, .to = 1,
                         .term = 9007199254740991ull, .prev_index = 1,
                         .n_entries = N, .entries = e};
    size_t len;
    char *s = rpc_encode(&m, &len);
    CHECK(s && strlen(s) == len);
    struct raft_msg d;
    CHECK_EQ_U(decode(RAFT_MSG_APPEND, s, &d), 0);
    CHECK_EQ_U(d.term, 9007199254740991ull);
    CHECK_EQ_U(d.n_entries, N);
    for (int i = 0; i < N && d.n_entries == N; i++) {
        CHECK_EQ_U(d.entries[i].term, e[i].term);
        CHECK_EQ_U(d.entries[i].type, e[i].type);
        CHECK_EQ_U(d.entries[i].len, e[i].len);
        CHECK(e[i].len == 0 || memcmp(d.entries[i].data, e[i].data, e[i].len) == 0);
    }
    rpc_msg_free(&d);
    free(s);
    for (int i = 0; i < N; i++)
        free(e[i].data);
    /* every type encodes to JSON the decoder takes */
    for (int t = RAFT_MSG_VOTE; t <= RAFT_MSG_TIMEOUT_NOW; t++) {
        struct raft_msg z = {.type = t, .from = 1, .to = 2, .term = 3};
        char *j = rpc_encode(&z, NULL);
        struct raft_msg back;
        CHECK(j && decode(t, j, &back) == 0);
        rpc_msg_free(&back);
        free(j);
    }
}

TEST(paths_and_types)
{
    CHECK(strcmp(rpc_path(RAFT_MSG_VOTE), "/raft/request_vote") == 0);
    CHECK(rpc_type_for_path("/raft/append_entries") == RAFT_MSG_APPEND);
    CHECK(rpc_type_for_path("/raft/nope") == 0);
    CHECK(rpc_path(RAFT_MSG_VOTE_RESP) == NULL);
    CHECK(rpc_response_type(RAFT_MSG_VOTE) == RAFT_MSG_VOTE_RESP);
    CHECK(rpc_response_type(RAFT_MSG_TIMEOUT_NOW) == 0);
}

TEST(hostile_input_is_rejected)
{
    static const char *bad[] = {
        "", "{", "[]", "null", "42", "\"x\"",
        "{\"term\":1}",
        "{\"term\":-1,\"candidate_id\":1,\"to\":2,\"last_log_index\":0,\"last_log_term\":0}",
        "{\"term\":1.5,\"candidate_id\":1,\"to\":2,\"last_log_index\":0,\"last_log_term\":0}",
        "{\"term\":1e300,\"candidate_id\":1,\"to\":2,\"last_log_index\":0,\"last_log_term\":0}",
        "{\"term\":9007199254740993,\"candidate_id\":1,\"to\":2,\"last_log_index\":0,\"last_log_term\":0}",
        "{\"term\":\"1\",\"candidate_id\":1,\"to\":2,\"last_log_index\":0,\"last_log_term\":0}",
        "{\"term\":1,\"candidate_id\":1,\"to\":2,\"last_log_index\":0,\"last_log_term\":0,\"prevote\":1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct raft_msg d;
        if (decode(RAFT_MSG_VOTE, bad[i], &d) == 0) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            CHECK(0);
        }
    }
    static const char *bad_append[] = {
        "{\"term\":1,\"leader_id\":1,\"to\":2,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"seq\":0,\"entries\":{}}",
        "{\"term\":1,\"leader_id\":1,\"to\":2,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"seq\":0,\"entries\":[1]}",
        "{\"term\":1,\"leader_id\":1,\"to\":2,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"seq\":0,\"entries\":[{\"term\":1,\"type\":0,\"data\":\"***\"}]}",
        "{\"term\":1,\"leader_id\":1,\"to\":2,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"seq\":0,\"entries\":[{\"term\":1,\"type\":9,\"data\":\"\"}]}",
        "{\"term\":1,\"leader_id\":1,\"to\":2,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"seq\":0,\"entries\":[{\"term\":1,\"type\":0,\"data\":\"QQ=A\"}]}",
        "{\"term\":1,\"leader_id\":1,\"to\":2,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"seq\":0,\"entries\":[{\"term\":1,\"type\":0}]}",
    };
    for (size_t i = 0; i < sizeof(bad_append) / sizeof(bad_append[0]); i++) {
        struct raft_msg d;
        if (decode(RAFT_MSG_APPEND, bad_append[i], &d) == 0) {
            fprintf(stderr, "accepted: %s\n", bad_append[i]);
            rpc_msg_free(&d);
            CHECK(0);
        }
    }
}

TEST(random_bytes_never_crash)
{
    uint64_t x = 88172645463325252ull;
    char buf[256];
    int rejected = 0;
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = (size_t)(iter % 255);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* mostly JSON-ish characters so the parser gets deep */
            const char alphabet[] = "{}[]\":,0123456789.-eEtruefalsn \\ entries data term";
            buf[i] = alphabet[x % (sizeof(alphabet) - 1)];
        }
        struct raft_msg d;
        char err[100];
        if (rpc_decode(RAFT_MSG_APPEND, buf, len, &d, err, sizeof(err)) == 0)
            rpc_msg_free(&d);
        else
            rejected++;
    }
    /* reaching here without a sanitizer report is the point; nearly all of
     * this noise must be refused */
    CHECK(rejected > 4900);
}

/* The InstallSnapshot body: a JSON line, then the image (node_snapshot.c
 * hands the image to snapfile_check). */
TEST(install_snapshot_body_is_split_at_the_first_line)
{
    static const char body[] =
        "{\"term\":3,\"leader_id\":1,\"to\":2,\"last_included_index\":9,"
        "\"last_included_term\":2,\"leader_commit\":9,\"seq\":4}\nIMG\n\x00X";
    size_t len = sizeof(body) - 1;
    struct raft_msg m;
    const uint8_t *img = NULL;
    size_t img_len = 0;
    char err[256];
    CHECK(rpc_decode_install_snapshot(body, len, &m, &img, &img_len, err,
                                      sizeof(err)) == 0);
    CHECK(m.type == RAFT_MSG_SNAPSHOT && m.term == 3 && m.from == 1);
    CHECK(m.to == 2 && m.snapshot_index == 9 && m.snapshot_term == 2);
    CHECK_EQ_U(img_len, 6);
    CHECK(img && memcmp(img, "IMG\n\x00X", 6) == 0);
    /* no newline in the first 4 KiB, or a bad first line: refused */
    char *nonl = malloc(RPC_SNAPSHOT_LINE_MAX + 10);
    CHECK(nonl != NULL);
    if (!nonl)
        return;
    memset(nonl, ' ', RPC_SNAPSHOT_LINE_MAX + 10);
    nonl[RPC_SNAPSHOT_LINE_MAX + 5] = '\n';
    CHECK(rpc_decode_install_snapshot(nonl, RPC_SNAPSHOT_LINE_MAX + 10, &m,
                                      &img, &img_len, err, sizeof(err)) < 0);
    CHECK(strstr(err, "starts with a JSON line") != NULL);
    free(nonl);
    CHECK(rpc_decode_install_snapshot("{\"term\":1}\nX", 12, &m, &img,
                                      &img_len, err, sizeof(err)) < 0);
    CHECK(strstr(err, "missing field") != NULL);
    CHECK(rpc_decode_install_snapshot("", 0, &m, &img, &img_len, err,
                                      sizeof(err)) < 0);
}

int main(void)
{
    RUN(vote_round_trip);
    RUN(append_round_trip_with_binary_entries);
    RUN(append_resp_round_trip);
    RUN(large_batch_round_trips_byte_for_byte);
    RUN(paths_and_types);
    RUN(hostile_input_is_rejected);
    RUN(random_bytes_never_crash);
    RUN(install_snapshot_body_is_split_at_the_first_line);
    return test_summary();
}
