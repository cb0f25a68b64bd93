/* test_faults.c - the fault rules and the parsing of /admin/fault's
 * bodies (src/daemon/faults.c). */
#include <string.h>

#include "faults.h"
#include "test.h"

static int parse(const char *body, struct fault_request *req, char *why)
{
    why[0] = 0;
    return fault_request_parse(body, strlen(body), req, why, 600);
}

TEST(no_rules_no_faults)
{
    struct faults f;
    faults_init(&f);
    CHECK(!faults_any(&f));
    CHECK(!faults_drop_out(&f, 2));
    CHECK(!faults_drop_in(&f, 2));
    CHECK_EQ_U(faults_delay_ms(&f, 2), 0);
}

TEST(a_peer_rule_applies_to_that_peer_only)
{
    struct faults f;
    faults_init(&f);
    CHECK(faults_add(&f, &(struct fault_rule){.peer = 2, .drop_out = true})
          == 0);
    CHECK(faults_drop_out(&f, 2));
    CHECK(!faults_drop_in(&f, 2));
    CHECK(!faults_drop_out(&f, 3));
    /* drops add up, a delay replaces the one before */
    faults_add(&f, &(struct fault_rule){.peer = 2, .drop_in = true,
                                        .delay_ms = 100});
    faults_add(&f, &(struct fault_rule){.peer = 2, .delay_ms = 40});
    CHECK(faults_drop_out(&f, 2) && faults_drop_in(&f, 2));
    CHECK_EQ_U(faults_delay_ms(&f, 2), 40);
    CHECK_EQ_U(f.n, 1);
}

TEST(the_rule_for_every_peer_adds_to_each_peers_own)
{
    struct faults f;
    faults_init(&f);
    faults_add(&f, &(struct fault_rule){.peer = FAULTS_ALL, .drop_in = true,
                                        .delay_ms = 30});
    faults_add(&f, &(struct fault_rule){.peer = 3, .delay_ms = 500});
    CHECK(faults_drop_in(&f, 2) && faults_drop_in(&f, 3));
    CHECK(!faults_drop_out(&f, 2));
    CHECK_EQ_U(faults_delay_ms(&f, 2), 30);
    CHECK_EQ_U(faults_delay_ms(&f, 3), 500); /* the longer one */
    cJSON *j = faults_json(&f);
    char *s = cJSON_PrintUnformatted(j);
    CHECK(strcmp(s, "[{\"peer\":\"all\",\"drop_out\":false,\"drop_in\":true,"
                    "\"delay_ms\":30},{\"peer\":3,\"drop_out\":false,"
                    "\"drop_in\":false,\"delay_ms\":500}]") == 0);
    cJSON_free(s);
    cJSON_Delete(j);
    CHECK_EQ_U(faults_heal(&f), 2);
    CHECK(!faults_any(&f) && !faults_drop_in(&f, 2));
    CHECK_EQ_U(faults_delay_ms(&f, 3), 0);
}

TEST(rules_are_bounded)
{
    struct faults f;
    faults_init(&f);
    for (raft_id p = 1; p <= FAULTS_MAX; p++)
        CHECK(faults_add(&f, &(struct fault_rule){.peer = p,
                                                  .drop_out = true}) == 0);
    CHECK(faults_add(&f, &(struct fault_rule){.peer = 99}) == -1);
    CHECK(faults_add(&f, &(struct fault_rule){.peer = 1, .delay_ms = 5})
          == 0); /* an existing peer's rule still changes */
}

TEST(good_requests_parse)
{
    struct fault_request r;
    char why[600];
    CHECK(parse("{\"fault\":\"partition\"}", &r, why) == 0);
    CHECK(r.kind == FAULT_PARTITION && r.rule.peer == FAULTS_ALL);
    CHECK(r.rule.drop_out && r.rule.drop_in);
    CHECK(parse("{\"fault\":\"partition\",\"peer\":3,\"direction\":\"in\"}",
                &r, why) == 0);
    CHECK(r.rule.peer == 3 && !r.rule.drop_out && r.rule.drop_in);
    CHECK(parse("{\"fault\":\"partition\",\"peer\":\"all\","
                "\"direction\":\"out\"}", &r, why) == 0);
    CHECK(r.rule.peer == FAULTS_ALL && r.rule.drop_out && !r.rule.drop_in);
    CHECK(parse("{\"fault\":\"delay\",\"ms\":60000,\"peer\":2}", &r, why)
          == 0);
    CHECK(r.kind == FAULT_DELAY && r.rule.delay_ms == 60000 &&
          r.rule.peer == 2);
    CHECK(parse("{\"fault\":\"election\"}", &r, why) == 0 &&
          r.kind == FAULT_ELECTION);
    CHECK(parse("{\"fault\":\"crash\"}", &r, why) == 0 &&
          r.kind == FAULT_CRASH);
    CHECK(parse("{\"fault\":\"heal\"}", &r, why) == 0 &&
          r.kind == FAULT_HEAL);
    CHECK(strcmp(fault_kind_name(FAULT_DELAY), "delay") == 0);
}

TEST(bad_requests_say_what_is_wrong)
{
    static const struct {
        const char *body, *says;
    } bad[] = {
        {"", "JSON object"},
        {"nope", "JSON object"},
        {"[1]", "JSON object"},
        {"{}", "\"fault\" is missing"},
        {"{\"fault\":7}", "\"fault\" is missing"},
        {"{\"fault\":\"flood\"}", "no such fault \"flood\""},
        {"{\"fault\":\"partition\",\"direction\":\"up\"}", "\"direction\""},
        {"{\"fault\":\"partition\",\"peer\":0}", "\"peer\""},
        {"{\"fault\":\"partition\",\"peer\":-2}", "\"peer\""},
        {"{\"fault\":\"partition\",\"peer\":2.5}", "\"peer\""},
        {"{\"fault\":\"partition\",\"peer\":\"two\"}", "\"peer\""},
        {"{\"fault\":\"partition\",\"ms\":3}", "\"ms\" has no meaning"},
        {"{\"fault\":\"delay\"}", "\"ms\" must be"},
        {"{\"fault\":\"delay\",\"ms\":0}", "\"ms\" must be"},
        {"{\"fault\":\"delay\",\"ms\":60001}", "\"ms\" must be"},
        {"{\"fault\":\"delay\",\"ms\":\"5\"}", "\"ms\" must be"},
        {"{\"fault\":\"delay\",\"ms\":5,\"direction\":\"in\"}",
         "\"direction\" has no meaning"},
        {"{\"fault\":\"crash\",\"peer\":2}", "\"peer\" has no meaning"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fault_request r;
        char why[600];
        int rv = parse(bad[i].body, &r, why);
        CHECK(rv == -1);
        if (rv != -1 || !strstr(why, bad[i].says))
            fprintf(stderr, "  body %s: \"%s\" lacks \"%s\"\n", bad[i].body,
                    why, bad[i].says);
        CHECK(strstr(why, bad[i].says) != NULL);
    }
}

int main(void)
{
    RUN(no_rules_no_faults);
    RUN(a_peer_rule_applies_to_that_peer_only);
    RUN(the_rule_for_every_peer_adds_to_each_peers_own);
    RUN(rules_are_bounded);
    RUN(good_requests_parse);
    RUN(bad_requests_say_what_is_wrong);
    return test_summary();
}
