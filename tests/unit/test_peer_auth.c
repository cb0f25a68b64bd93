/* test_peer_auth.c - unit tests of peer authentication (src/daemon/
 * peer_auth.c) and of the peer secret file (peer_secret.c). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/peer_auth.h"
#include "daemon/peer_secret.h"
#include "test.h"

#define CLUSTER 0x1234abcd5678ef01ull
#define NOW 1700000000000ull

static const uint8_t key1[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t key2[32] = "fedcba9876543210fedcba9876543210";
static char tmp[256];

struct pair {
    struct peer_auth *a, *b; /* node 1 and node 2 of one cluster */
};

static struct pair pair_new(void)
{
    return (struct pair){peer_auth_new(key1, 32, CLUSTER, 1, 111),
                         peer_auth_new(key1, 32, CLUSTER, 2, 222)};
}

static void pair_free(struct pair p)
{
    peer_auth_free(p.a);
    peer_auth_free(p.b);
}

static enum peer_auth_verdict check(struct peer_auth *to, const char *path,
                                    const char *header, const char *body,
                                    uint64_t now, struct peer_auth_nonce *n)
{
    char why[512];
    struct peer_auth_nonce dummy;
    return peer_auth_check_request(to, "POST", path, header, body,
                                   strlen(body), now, n ? n : &dummy, why,
                                   sizeof(why));
}

static void sign(struct peer_auth *from, raft_id to, const char *path,
                 const char *body, uint64_t now, char *header,
                 struct peer_auth_nonce *n)
{
    struct peer_auth_nonce dummy;
    CHECK(peer_auth_sign_request(from, "POST", path, to, body, strlen(body),
                                 now, header, n ? n : &dummy) == 0);
}

TEST(test_signed_request_is_admitted_once)
{
    struct pair p = pair_new();
    char h[PEER_AUTH_HEADER_MAX];
    struct peer_auth_nonce n;
    sign(p.a, 2, "/raft/append_entries", "{\"x\":1}", NOW, h, NULL);
    CHECK(strncmp(h, "v1 c=1234abcd5678ef01 f=1 t=2 ts=", 33) == 0);
    CHECK(strstr(h, " m=") != NULL);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "{\"x\":1}", NOW + 5, &n),
               PEER_AUTH_OK);
    CHECK_EQ_U(n.from, 1);
    CHECK_EQ_U(n.to, 2);
    CHECK_EQ_U(n.incarnation, 111);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "{\"x\":1}", NOW + 6,
                     NULL),
               PEER_AUTH_REPLAYED);
    pair_free(p);
}

TEST(test_any_change_breaks_the_mac)
{
    struct pair p = pair_new();
    char h[PEER_AUTH_HEADER_MAX], why[512];
    struct peer_auth_nonce n;
    sign(p.a, 2, "/raft/request_vote", "{\"term\":5}", NOW, h, NULL);
    CHECK_EQ_U(check(p.b, "/raft/request_vote", h, "{\"term\":6}", NOW, NULL),
               PEER_AUTH_BAD_MAC);
    CHECK_EQ_U(check(p.b, "/raft/timeout_now", h, "{\"term\":5}", NOW, NULL),
               PEER_AUTH_BAD_MAC);
    CHECK_EQ_U(peer_auth_check_request(p.b, "PUT", "/raft/request_vote", h,
                                       "{\"term\":5}", 10, NOW, &n, why,
                                       sizeof(why)),
               PEER_AUTH_BAD_MAC);
    /* every field of the header is covered: claim another sender, time,
     * counter */
    char h2[PEER_AUTH_HEADER_MAX];
    strcpy(h2, h);
    h2[strlen("v1 c=1234abcd5678ef01 f=")] = '3';
    CHECK_EQ_U(check(p.b, "/raft/request_vote", h2, "{\"term\":5}", NOW, NULL),
               PEER_AUTH_BAD_MAC);
    strcpy(h2, h);
    char *ts = strstr(h2, "ts=") + 3;
    ts[12] = ts[12] == '9' ? '8' : (char)(ts[12] + 1);
    CHECK_EQ_U(check(p.b, "/raft/request_vote", h2, "{\"term\":5}", NOW, NULL),
               PEER_AUTH_BAD_MAC);
    strcpy(h2, h);
    char *dot = strchr(strstr(h2, " n="), '.');
    dot[1] = '7';
    CHECK_EQ_U(check(p.b, "/raft/request_vote", h2, "{\"term\":5}", NOW, NULL),
               PEER_AUTH_BAD_MAC);
    /* the untouched one still passes (none of the above was remembered) */
    CHECK_EQ_U(check(p.b, "/raft/request_vote", h, "{\"term\":5}", NOW, NULL),
               PEER_AUTH_OK);
    pair_free(p);
}

/* The head check (before a body is read) needs the secret's proof k but
 * not the body; the body's MAC m is checked with the body. */
TEST(test_head_check_before_the_body)
{
    struct pair p = pair_new();
    struct peer_auth *other = peer_auth_new(key2, 32, CLUSTER, 1, 9);
    char h[PEER_AUTH_HEADER_MAX], why[512];
    sign(p.a, 2, "/raft/install_snapshot", "the body", NOW, h, NULL);
    CHECK(strstr(h, " k=") != NULL);
    CHECK_EQ_U(peer_auth_check_head(p.b, "POST", "/raft/install_snapshot", h,
                                    NOW, why, sizeof(why)),
               PEER_AUTH_OK);
    CHECK_EQ_U(check(p.b, "/raft/install_snapshot", h, "another body", NOW,
                     NULL),
               PEER_AUTH_BAD_MAC);
    CHECK_EQ_U(check(p.b, "/raft/install_snapshot", h, "the body", NOW, NULL),
               PEER_AUTH_OK);
    sign(other, 2, "/raft/install_snapshot", "the body", NOW, h, NULL);
    CHECK_EQ_U(peer_auth_check_head(p.b, "POST", "/raft/install_snapshot", h,
                                    NOW, why, sizeof(why)),
               PEER_AUTH_BAD_MAC);
    sign(p.a, 2, "/raft/install_snapshot", "", NOW, h, NULL);
    CHECK_EQ_U(peer_auth_check_head(p.b, "POST", "/raft/install_snapshot", h,
                                    NOW + 2 * PEER_AUTH_WINDOW_MS, why,
                                    sizeof(why)),
               PEER_AUTH_STALE);
    CHECK_EQ_U(peer_auth_check_head(p.b, "POST", "/raft/install_snapshot",
                                    NULL, NOW, why, sizeof(why)),
               PEER_AUTH_MISSING);
    peer_auth_free(other);
    pair_free(p);
}

TEST(test_other_secret_other_cluster_other_target)
{
    struct pair p = pair_new();
    struct peer_auth *other_key = peer_auth_new(key2, 32, CLUSTER, 3, 333);
    struct peer_auth *other_cluster = peer_auth_new(key1, 32, CLUSTER + 1, 1, 4);
    char h[PEER_AUTH_HEADER_MAX];
    sign(other_key, 2, "/raft/append_entries", "", NOW, h, NULL);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW, NULL),
               PEER_AUTH_BAD_MAC);
    sign(other_cluster, 2, "/raft/append_entries", "", NOW, h, NULL);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW, NULL),
               PEER_AUTH_FOREIGN);
    CHECK_EQ_U(peer_auth_status(PEER_AUTH_FOREIGN), 403);
    sign(p.a, 3, "/raft/append_entries", "", NOW, h, NULL);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW, NULL),
               PEER_AUTH_NOT_FOR_US);
    CHECK_EQ_U(peer_auth_status(PEER_AUTH_NOT_FOR_US), 409);
    CHECK_EQ_U(peer_auth_status(PEER_AUTH_BAD_MAC), 401);
    peer_auth_free(other_key);
    peer_auth_free(other_cluster);
    pair_free(p);
}

TEST(test_missing_malformed_and_unsigned_headers)
{
    struct pair p = pair_new();
    struct peer_auth *none = peer_auth_new(NULL, 0, CLUSTER, 1, 5);
    char h[PEER_AUTH_HEADER_MAX];
    CHECK_EQ_U(check(p.b, "/raft/propose", NULL, "", NOW, NULL),
               PEER_AUTH_MISSING);
    const char *bad[] = {
        "", "v2 c=1234abcd5678ef01 f=1 t=2 ts=1 n=1.1", "garbage",
        "v1 c=1234abcd5678ef01 f=1 t=2 ts=1 n=1.1 m=zz",
        "v1 c=1234abcd5678ef01 f=1 t=2 ts=1 n=1.1 m=00 extra",
        "v1 c=1234abcd5678ef01 f=0 t=2 ts=1 n=1.1",
        "v1 c=1234abcd5678ef01 f=1 t=2 ts=1 n=1.0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_U(check(p.b, "/raft/propose", bad[i], "", NOW, NULL),
                   PEER_AUTH_MALFORMED);
    /* a node without a secret sends no MAC: refused by one that has one */
    sign(none, 2, "/raft/propose", "x", NOW, h, NULL);
    CHECK(strstr(h, "m=") == NULL);
    CHECK_EQ_U(check(p.b, "/raft/propose", h, "x", NOW, NULL),
               PEER_AUTH_NO_MAC);
    /* not a peer path */
    CHECK_EQ_U(check(p.b, "/v2/keys/x", h, "x", NOW, NULL),
               PEER_AUTH_MALFORMED);
    peer_auth_free(none);
    pair_free(p);
}

TEST(test_without_secrets_only_cluster_and_target_are_checked)
{
    struct peer_auth *a = peer_auth_new(NULL, 0, CLUSTER, 1, 5);
    struct peer_auth *b = peer_auth_new(NULL, 0, CLUSTER, 2, 6);
    struct peer_auth *c = peer_auth_new(NULL, 0, CLUSTER + 9, 3, 7);
    char h[PEER_AUTH_HEADER_MAX];
    sign(a, 2, "/raft/append_entries", "x", NOW, h, NULL);
    CHECK_EQ_U(check(b, "/raft/append_entries", h, "anything", NOW, NULL),
               PEER_AUTH_OK);
    sign(c, 2, "/raft/append_entries", "x", NOW, h, NULL);
    CHECK_EQ_U(check(b, "/raft/append_entries", h, "x", NOW, NULL),
               PEER_AUTH_FOREIGN);
    CHECK(peer_auth_check_response(b, &(struct peer_auth_nonce){0}, 200,
                                   NULL, "", 0));
    CHECK(!peer_auth_has_secret(a));
    peer_auth_free(a);
    peer_auth_free(b);
    peer_auth_free(c);
}

TEST(test_stale_and_future_timestamps_refused)
{
    struct pair p = pair_new();
    char h[PEER_AUTH_HEADER_MAX];
    sign(p.a, 2, "/raft/append_entries", "", NOW, h, NULL);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW + PEER_AUTH_WINDOW_MS + 1, NULL),
               PEER_AUTH_STALE);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW - PEER_AUTH_WINDOW_MS - 1, NULL),
               PEER_AUTH_STALE);
    /* a stale refusal does not use up the nonce */
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW + PEER_AUTH_WINDOW_MS, NULL),
               PEER_AUTH_OK);
    pair_free(p);
}

/* Requests that overtake each other are admitted, each once; one more
 * than a window behind the newest is refused. Against a model. */
TEST(test_replay_window_against_a_model)
{
    enum { N = 3000 };
    static char headers[N][PEER_AUTH_HEADER_MAX];
    static unsigned char seen[N + 1];
    struct pair p = pair_new();
    for (int i = 0; i < N; i++)
        sign(p.a, 2, "/raft/append_entries", "b", NOW, headers[i], NULL);
    uint64_t rng = 42;
    uint64_t max = 0;
    unsigned ok = 0, refused = 0;
    for (int step = 0; step < 4 * N; step++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        /* mostly near the front, sometimes far behind, sometimes again */
        uint64_t base = (uint64_t)step * N / (4 * N);
        uint64_t span = (rng >> 33) % 16 == 0 ? 1500 : 40;
        uint64_t c = base + (rng >> 40) % span;
        if (c >= N)
            c = N - 1;
        bool expect = !seen[c + 1] && !(max >= c + 1 &&
                                         max - (c + 1) >= PEER_AUTH_REPLAY_WINDOW);
        enum peer_auth_verdict v = check(p.b, "/raft/append_entries",
                                         headers[c], "b", NOW, NULL);
        if (expect != (v == PEER_AUTH_OK))
            fprintf(stderr, "  counter %llu (max %llu, seen %d): got %s\n",
                    (unsigned long long)c + 1, (unsigned long long)max,
                    seen[c + 1], peer_auth_verdict_name(v));
        CHECK(expect == (v == PEER_AUTH_OK));
        if (v == PEER_AUTH_OK) {
            seen[c + 1] = 1;
            if (c + 1 > max)
                max = c + 1;
            ok++;
        } else {
            refused++;
        }
    }
    CHECK(ok > 1000);
    CHECK(refused > 1000);
    pair_free(p);
}

TEST(test_counters_run_per_path_and_a_restart_is_a_new_incarnation)
{
    struct pair p = pair_new();
    char h[PEER_AUTH_HEADER_MAX], old[PEER_AUTH_HEADER_MAX];
    struct peer_auth_nonce n;
    /* a snapshot signed first and admitted after 5,000 appends */
    sign(p.a, 2, "/raft/install_snapshot", "s", NOW, old, NULL);
    for (int i = 0; i < 5000; i++) {
        sign(p.a, 2, "/raft/append_entries", "", NOW, h, NULL);
        CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW, NULL),
                   PEER_AUTH_OK);
    }
    CHECK_EQ_U(check(p.b, "/raft/install_snapshot", old, "s", NOW, NULL),
               PEER_AUTH_OK);
    /* node 1 restarts: new incarnation, counters from 1 again */
    sign(p.a, 2, "/raft/append_entries", "", NOW, old, NULL);
    struct peer_auth *a2 = peer_auth_new(key1, 32, CLUSTER, 1, 999);
    sign(a2, 2, "/raft/append_entries", "", NOW, h, &n);
    CHECK_EQ_U(n.counter, 1);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW, NULL),
               PEER_AUTH_OK);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW, NULL),
               PEER_AUTH_REPLAYED);
    /* the old incarnation's requests are still remembered */
    CHECK_EQ_U(check(p.b, "/raft/append_entries", old, "", NOW, NULL),
               PEER_AUTH_OK);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", old, "", NOW, NULL),
               PEER_AUTH_REPLAYED);
    peer_auth_free(a2);
    pair_free(p);
}

TEST(test_answers_are_bound_to_their_request)
{
    struct pair p = pair_new();
    char h1[PEER_AUTH_HEADER_MAX], h2[PEER_AUTH_HEADER_MAX];
    char r[PEER_AUTH_HEADER_MAX];
    struct peer_auth_nonce sent1, sent2, got1;
    sign(p.a, 2, "/raft/request_vote", "v", NOW, h1, &sent1);
    sign(p.a, 2, "/raft/request_vote", "v", NOW, h2, &sent2);
    CHECK_EQ_U(check(p.b, "/raft/request_vote", h1, "v", NOW, &got1),
               PEER_AUTH_OK);
    peer_auth_sign_response(p.b, &got1, 200, "granted", 7, r);
    CHECK(strncmp(r, "v1 m=", 5) == 0);
    CHECK(peer_auth_check_response(p.a, &sent1, 200, r, "granted", 7));
    CHECK(!peer_auth_check_response(p.a, &sent1, 200, r, "denied!", 7));
    CHECK(!peer_auth_check_response(p.a, &sent1, 204, r, "granted", 7));
    CHECK(!peer_auth_check_response(p.a, &sent2, 200, r, "granted", 7));
    CHECK(!peer_auth_check_response(p.a, &sent1, 200, NULL, "granted", 7));
    CHECK(!peer_auth_check_response(p.a, &sent1, 200, "v1 m=00", "granted", 7));
    /* an answer signed with another secret */
    struct peer_auth *x = peer_auth_new(key2, 32, CLUSTER, 2, 1);
    peer_auth_sign_response(x, &got1, 200, "granted", 7, r);
    CHECK(!peer_auth_check_response(p.a, &sent1, 200, r, "granted", 7));
    peer_auth_free(x);
    pair_free(p);
}

TEST(test_secret_text)
{
    uint8_t out[PEER_AUTH_SECRET_MAX];
    const char *why = NULL;
    char text[200];
    CHECK(peer_auth_parse_secret("0011", 4, out, &why) < 0);
    CHECK(strstr(why, "shorter than 32") != NULL);
    snprintf(text, sizeof(text), "  %s\n", "00112233445566778899aabbccddeeff");
    CHECK_EQ_U(peer_auth_parse_secret(text, strlen(text), out, &why), 16);
    CHECK_EQ_U(out[15], 0xff);
    snprintf(text, sizeof(text), "%s", "00112233445566778899aabbccddeeffg0");
    CHECK(peer_auth_parse_secret(text, strlen(text), out, &why) < 0);
    snprintf(text, sizeof(text), "%s", "00112233445566778899aabbccddeeff0");
    CHECK(peer_auth_parse_secret(text, strlen(text), out, &why) < 0);
    CHECK(peer_auth_new(out, 15, CLUSTER, 1, 1) == NULL); /* < 128 bits */
}

static int load(struct raftd_config *cfg, const char *secret_file, char *err,
                size_t errlen)
{
    config_defaults(cfg);
    cfg->path = strdup("test.conf");
    free(cfg->peer_secret_file);
    cfg->peer_secret_file = strdup(secret_file);
    return peer_secret_load(cfg, err, errlen);
}

TEST(test_secret_files)
{
    char path[400], err[1024];
    struct raftd_config cfg;
    struct stat st;
    snprintf(path, sizeof(path), "%s/peer-secret", tmp);
    CHECK(load(&cfg, path, err, sizeof(err)) < 0);
    CHECK(strstr(err, "does not exist") != NULL);
    CHECK(strstr(err, "raftd --new-secret") != NULL);
    config_free(&cfg);
    CHECK(peer_secret_create(path, err, sizeof(err)) == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_EQ_U(st.st_size, 65);
    CHECK(peer_secret_create(path, err, sizeof(err)) < 0); /* never overwritten */
    CHECK(strstr(err, "never overwritten") != NULL);
    CHECK(load(&cfg, path, err, sizeof(err)) == 0);
    CHECK_EQ_U(cfg.peer_secret_len, 32);
    config_free(&cfg);
    chmod(path, 0644);
    CHECK(load(&cfg, path, err, sizeof(err)) < 0);
    CHECK(strstr(err, "chmod 600") != NULL);
    config_free(&cfg);
    /* a systemd credential wins over a file of RAFTD_PRIVATE_DIR, and only
     * over such a file */
    char cred[400];
    snprintf(cred, sizeof(cred), "%s/%speer-secret", tmp,
             PEER_SECRET_CREDENTIAL_PREFIX);
    FILE *f = fopen(cred, "w");
    fputs("ffeeddccbbaa99887766554433221100\n", f);
    fclose(f);
    setenv("CREDENTIALS_DIRECTORY", tmp, 1);
    CHECK(load(&cfg, RAFTD_DEFAULT_PEER_SECRET, err, sizeof(err)) == 0);
    CHECK_EQ_U(cfg.peer_secret_len, 16);
    CHECK_EQ_U(cfg.peer_secret[0], 0xff);
    CHECK(strcmp(cfg.peer_secret_source, cred) == 0);
    config_free(&cfg);
    CHECK(load(&cfg, path, err, sizeof(err)) < 0); /* elsewhere: the file */
    CHECK(strstr(err, "chmod 600") != NULL);
    config_free(&cfg);
    /* systemd passed the private directory's files, but not this one */
    CHECK(load(&cfg, RAFTD_PRIVATE_DIR "/other-secret", err, sizeof(err)) < 0);
    CHECK(strstr(err, "does not exist") != NULL);
    CHECK(strstr(err, "--new-secret") != NULL);
    config_free(&cfg);
    unsetenv("CREDENTIALS_DIRECTORY");
    /* peer_auth = "none": nothing is read */
    config_defaults(&cfg);
    cfg.peer_auth = false;
    free(cfg.peer_secret_file);
    cfg.peer_secret_file = strdup("/nonexistent/peer-secret");
    CHECK(peer_secret_load(&cfg, err, sizeof(err)) == 0);
    config_free(&cfg);
}

/* Operators (raftctl) sign requests under /admin/ as f=0 in a domain of their
 * own: their signature never passes as a member's RPC, nor a member's as
 * theirs. */
TEST(test_operator_and_member_signatures_do_not_mix)
{
    struct pair p = pair_new();
    struct peer_auth *op = peer_auth_new(key1, 32, CLUSTER, 0, 333);
    char h[PEER_AUTH_HEADER_MAX], why[512];
    struct peer_auth_nonce n;
    CHECK(peer_auth_is_admin_path("/admin/transfer"));
    CHECK(!peer_auth_is_admin_path("/admin/"));
    CHECK(!peer_auth_is_admin_path("/raft/request_vote"));
    CHECK(peer_auth_path_index("/admin/transfer") < 0);
    /* an operator's request: admitted once, as the operator */
    CHECK(peer_auth_sign_admin(op, "POST", "/admin/transfer", 2, "{}", 2, NOW,
                               h, &n) == 0);
    CHECK(strstr(h, " f=0 ") != NULL);
    CHECK_EQ_U(peer_auth_check_admin(p.b, "POST", "/admin/transfer", h, "{}",
                                     2, NOW, &n, why, sizeof(why)),
               PEER_AUTH_OK);
    CHECK_EQ_U(n.from, PEER_AUTH_OPERATOR);
    CHECK_EQ_U(peer_auth_check_admin(p.b, "POST", "/admin/transfer", h, "{}",
                                     2, NOW, &n, why, sizeof(why)),
               PEER_AUTH_REPLAYED);
    /* bound to its path and body */
    CHECK(peer_auth_sign_admin(op, "POST", "/admin/transfer", 2, "{}", 2, NOW,
                               h, &n) == 0);
    CHECK_EQ_U(peer_auth_check_admin(p.b, "POST", "/admin/snapshot", h, "{}",
                                     2, NOW, &n, why, sizeof(why)),
               PEER_AUTH_BAD_MAC);
    CHECK_EQ_U(peer_auth_check_admin(p.b, "POST", "/admin/transfer", h,
                                     "{\"to\":3}", 8, NOW, &n, why,
                                     sizeof(why)),
               PEER_AUTH_BAD_MAC);
    /* as a member's Raft RPC: refused (f=0 is no member) */
    CHECK(peer_auth_sign_admin(op, "POST", "/admin/x", 2, "", 0, NOW, h,
                               &n) == 0);
    CHECK(peer_auth_check_request(p.b, "POST", "/raft/timeout_now", h, "", 0,
                                  NOW, &n, why, sizeof(why)) != PEER_AUTH_OK);
    /* the operator header with f= changed to a member: wrong MACs */
    char forged[PEER_AUTH_HEADER_MAX];
    snprintf(forged, sizeof(forged), "%s", h);
    char *f = strstr(forged, " f=0 ");
    CHECK(f != NULL);
    if (f)
        f[3] = '1';
    CHECK_EQ_U(peer_auth_check_request(p.b, "POST", "/admin/x", forged, "", 0,
                                       NOW, &n, why, sizeof(why)),
               PEER_AUTH_MALFORMED); /* not a peer path */
    CHECK_EQ_U(peer_auth_check_admin(p.b, "POST", "/admin/x", forged, "", 0,
                                     NOW, &n, why, sizeof(why)),
               PEER_AUTH_WRONG_SENDER);
    /* a member's signature on an admin path: refused, 403 */
    sign(p.a, 2, "/raft/timeout_now", "", NOW, h, NULL);
    CHECK_EQ_U(peer_auth_check_admin(p.b, "POST", "/raft/timeout_now", h, "",
                                     0, NOW, &n, why, sizeof(why)),
               PEER_AUTH_MALFORMED); /* not an admin path */
    CHECK(peer_auth_sign_request(p.a, "POST", "/admin/transfer", 2, "", 0,
                                 NOW, h, &n) < 0); /* members cannot sign it */
    CHECK_EQ_U(peer_auth_status(PEER_AUTH_WRONG_SENDER), 403);
    /* unsigned, and another secret */
    CHECK_EQ_U(peer_auth_check_admin(p.b, "POST", "/admin/transfer", NULL, "",
                                     0, NOW, &n, why, sizeof(why)),
               PEER_AUTH_MISSING);
    struct peer_auth *other = peer_auth_new(key2, 32, CLUSTER, 0, 444);
    CHECK(peer_auth_sign_admin(other, "POST", "/admin/transfer", 2, "", 0,
                               NOW, h, &n) == 0);
    CHECK_EQ_U(peer_auth_check_admin(p.b, "POST", "/admin/transfer", h, "", 0,
                                     NOW, &n, why, sizeof(why)),
               PEER_AUTH_BAD_MAC);
    peer_auth_free(other);
    peer_auth_free(op);
    pair_free(p);
}

/* raftctl starts a new incarnation at every request. A full table of the
 * operator's incarnations must not forget one whose requests are still
 * inside the timestamp window: a recorded POST /admin/fault {"fault":
 * "crash"} would be accepted again after a few more raftctl runs. */
static enum peer_auth_verdict admin_check(struct peer_auth *to,
                                          const char *header, uint64_t now,
                                          struct peer_auth_nonce *n)
{
    char why[512];
    return peer_auth_check_admin(to, "POST", "/admin/fault", header,
                                 "{\"fault\":\"crash\"}", 17, now, n, why,
                                 sizeof(why));
}

static void admin_sign(uint64_t incarnation, uint64_t now, char *header)
{
    struct peer_auth *op = peer_auth_new(key1, 32, CLUSTER, 0, incarnation);
    struct peer_auth_nonce n;
    CHECK(op != NULL);
    CHECK(peer_auth_sign_admin(op, "POST", "/admin/fault", 2,
                               "{\"fault\":\"crash\"}", 17, now, header,
                               &n) == 0);
    peer_auth_free(op);
}

TEST(test_operators_runs_are_not_forgotten_inside_the_window)
{
    struct pair p = pair_new();
    char first[PEER_AUTH_HEADER_MAX], h[PEER_AUTH_HEADER_MAX];
    struct peer_auth_nonce n;
    admin_sign(1000, NOW, first);
    CHECK_EQ_U(admin_check(p.b, first, NOW, &n), PEER_AUTH_OK);
    /* 70 more raftctl runs within 14 s: all accepted */
    for (uint64_t i = 1; i <= 70; i++) {
        admin_sign(1000 + i, NOW + i * 200, h);
        CHECK_EQ_U(admin_check(p.b, h, NOW + i * 200, &n), PEER_AUTH_OK);
    }
    /* the first, recorded and sent again inside its window */
    CHECK_EQ_U(admin_check(p.b, first, NOW + 15000, &n), PEER_AUTH_REPLAYED);
    /* the table full of runs inside the window: a new one is refused (503,
     * and when to retry), and the first is still remembered */
    uint64_t inc = 2000, t = NOW + 15000;
    for (unsigned i = 71; i < PEER_AUTH_OPERATOR_INCARNATIONS; i++) {
        admin_sign(inc++, t, h);
        CHECK_EQ_U(admin_check(p.b, h, t, &n), PEER_AUTH_OK);
    }
    admin_sign(inc++, t, h);
    CHECK_EQ_U(admin_check(p.b, h, t, &n), PEER_AUTH_BUSY);
    CHECK_EQ_U(peer_auth_status(PEER_AUTH_BUSY), 503);
    CHECK_EQ_U(n.retry_s, 16); /* the first leaves the window at NOW+30 s */
    CHECK_EQ_U(admin_check(p.b, first, t, &n), PEER_AUTH_REPLAYED);
    /* refused, not remembered: the same request later is accepted */
    CHECK_EQ_U(admin_check(p.b, h, NOW + 30000, &n), PEER_AUTH_BUSY);
    CHECK_EQ_U(n.retry_s, 1);
    CHECK_EQ_U(admin_check(p.b, h, NOW + 30001, &n), PEER_AUTH_OK);
    /* the first's slot went to it; a replay of the first is stale */
    CHECK_EQ_U(admin_check(p.b, first, NOW + 30001, &n), PEER_AUTH_STALE);
    pair_free(p);
}

/* A member's incarnations: 8 remembered; an old one is forgotten for a new
 * one only once its requests are too old to be replayed. */
TEST(test_members_incarnations_are_forgotten_once_stale)
{
    struct pair p = pair_new();
    char first[PEER_AUTH_HEADER_MAX], h[PEER_AUTH_HEADER_MAX];
    struct peer_auth *runs[PEER_AUTH_INCARNATIONS + 2];
    for (int i = 0; i < PEER_AUTH_INCARNATIONS + 2; i++)
        runs[i] = peer_auth_new(key1, 32, CLUSTER, 1, 500 + (uint64_t)i);
    sign(runs[0], 2, "/raft/append_entries", "", NOW, first, NULL);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", first, "", NOW, NULL),
               PEER_AUTH_OK);
    for (int i = 1; i < PEER_AUTH_INCARNATIONS; i++) {
        sign(runs[i], 2, "/raft/append_entries", "", NOW + 1000, h, NULL);
        CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW + 1000,
                         NULL),
                   PEER_AUTH_OK);
    }
    /* a ninth run within the window: refused; the first is remembered */
    sign(runs[PEER_AUTH_INCARNATIONS], 2, "/raft/append_entries", "",
         NOW + 2000, h, NULL);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW + 2000, NULL),
               PEER_AUTH_BUSY);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", first, "", NOW + 2000,
                     NULL),
               PEER_AUTH_REPLAYED);
    /* once the first run's requests are stale, a new run takes its place,
     * and only the first's (not the others') are forgotten */
    sign(runs[PEER_AUTH_INCARNATIONS + 1], 2, "/raft/append_entries", "",
         NOW + 30001, h, NULL);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h, "", NOW + 30001, NULL),
               PEER_AUTH_OK);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", first, "", NOW + 30001,
                     NULL),
               PEER_AUTH_STALE);
    char h2[PEER_AUTH_HEADER_MAX];
    sign(runs[1], 2, "/raft/append_entries", "", NOW + 30001, h2, NULL);
    CHECK_EQ_U(check(p.b, "/raft/append_entries", h2, "", NOW + 30001, NULL),
               PEER_AUTH_OK);
    for (int i = 0; i < PEER_AUTH_INCARNATIONS + 2; i++)
        peer_auth_free(runs[i]);
    pair_free(p);
}

int main(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/raftd-test-peer-auth-XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_signed_request_is_admitted_once);
    RUN(test_any_change_breaks_the_mac);
    RUN(test_head_check_before_the_body);
    RUN(test_other_secret_other_cluster_other_target);
    RUN(test_missing_malformed_and_unsigned_headers);
    RUN(test_without_secrets_only_cluster_and_target_are_checked);
    RUN(test_stale_and_future_timestamps_refused);
    RUN(test_replay_window_against_a_model);
    RUN(test_counters_run_per_path_and_a_restart_is_a_new_incarnation);
    RUN(test_answers_are_bound_to_their_request);
    RUN(test_operator_and_member_signatures_do_not_mix);
    RUN(test_operators_runs_are_not_forgotten_inside_the_window);
    RUN(test_members_incarnations_are_forgotten_once_stale);
    RUN(test_secret_text);
    RUN(test_secret_files);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmp);
    return test_summary();
}
