/* test_kv.c - unit tests of the etcd v2 key-value state machine
 * (src/daemon/kv.c): every operation and error, index arithmetic, listings,
 * watches, determinism, garbage commands and JSON escaping. Result bodies
 * are parsed with cJSON and their fields checked. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/daemon/kv.h"
#include "test.h"

/* ---- the last result, parsed ---- */
static struct {
    unsigned status, ecode;
    uint64_t index;
    char *body;
    size_t len;
    cJSON *j;
} last;

static void take(struct kv_result *r)
{
    cJSON_Delete(last.j);
    free(last.body);
    last.status = r->status;
    last.ecode = r->error_code;
    last.index = r->index;
    last.body = r->body;
    last.len = r->len;
    r->body = NULL;
    last.j = last.body ? cJSON_ParseWithLength(last.body, last.len) : NULL;
    CHECK(last.j != NULL);
    CHECK(last.body && last.len > 0 && last.body[last.len - 1] == '\n');
    CHECK(last.body && strlen(last.body) == last.len);
}

static void last_clear(void)
{
    cJSON_Delete(last.j);
    free(last.body);
    memset(&last, 0, sizeof last);
}

/* Field of the last body by a dotted path; numbers index arrays. */
static const cJSON *jget(const char *path)
{
    const cJSON *j = last.j;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, ".")) {
        if (cJSON_IsArray(j) && tok[0] >= '0' && tok[0] <= '9')
            j = cJSON_GetArrayItem(j, atoi(tok));
        else
            j = cJSON_GetObjectItemCaseSensitive(j, tok);
    }
    return j;
}

static const char *jstr(const char *path)
{
    const cJSON *j = jget(path);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

static uint64_t jnum(const char *path)
{
    const cJSON *j = jget(path);
    return cJSON_IsNumber(j) ? (uint64_t)j->valuedouble : UINT64_MAX;
}

static bool jhas(const char *path)
{
    return jget(path) != NULL;
}

static bool jtrue(const char *path)
{
    return cJSON_IsTrue(jget(path));
}

static int jcount(const char *path)
{
    const cJSON *j = jget(path);
    return cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---- commands ---- */
static void run(struct kv *kv, enum kv_op op, const char *key,
                const char *value, bool dir, const char *pv, uint64_t pi,
                int pe, bool rec)
{
    struct kv_cmd c = {.op = op, .key = key, .value = value, .dir = dir, .prev_value = pv, .prev_index = pi, .prev_exist = pe, .recursive = rec};
    size_t n;
    char *e = kv_encode(&c, &n);
    CHECK(e != NULL);
    struct kv_result r;
    kv_apply(kv, e, n, &r);
    free(e);
    take(&r);
}

static void set(struct kv *kv, const char *k, const char *v)
{
    run(kv, KV_SET, k, v, false, NULL, 0, -1, false);
}
static void mkdir_(struct kv *kv, const char *k, int pe)
{
    run(kv, KV_SET, k, NULL, true, NULL, 0, pe, false);
}
static void create(struct kv *kv, const char *k, const char *v)
{
    run(kv, KV_SET, k, v, false, NULL, 0, 0, false);
}
static void update(struct kv *kv, const char *k, const char *v)
{
    run(kv, KV_SET, k, v, false, NULL, 0, 1, false);
}
static void cas(struct kv *kv, const char *k, const char *v, const char *pv,
                uint64_t pi)
{
    run(kv, KV_SET, k, v, false, pv, pi, -1, false);
}
static void del(struct kv *kv, const char *k, bool dir, bool rec)
{
    run(kv, KV_DELETE, k, NULL, dir, NULL, 0, -1, rec);
}
static void cad(struct kv *kv, const char *k, const char *pv, uint64_t pi)
{
    run(kv, KV_DELETE, k, NULL, false, pv, pi, -1, false);
}
static void post(struct kv *kv, const char *k, const char *v)
{
    run(kv, KV_CREATE_IN_ORDER, k, v, false, NULL, 0, -1, false);
}
static void get(struct kv *kv, const char *k, bool rec, bool sorted)
{
    struct kv_result r;
    kv_get(kv, k, rec, sorted, &r);
    take(&r);
}

static void apply_raw(struct kv *kv, const void *p, size_t n)
{
    struct kv_result r;
    kv_apply(kv, p, n, &r);
    take(&r);
}

/* Expect the last result to be etcd error code with cause at index. */
#define CHECK_ERR(code, st, cause, idx)                                     \
    do {                                                                    \
        CHECK_EQ_U(last.status, st);                                        \
        CHECK_EQ_U(last.ecode, code);                                       \
        CHECK_EQ_U(jnum("errorCode"), code);                                \
        CHECK_EQ_U(jnum("index"), idx);                                     \
        CHECK_EQ_U(last.index, idx);                                        \
        CHECK(jstr("message") != NULL);                                     \
        if (cause)                                                          \
            CHECK(streq(jstr("cause"), cause));                             \
    } while (0)

/* ---- watch callbacks ---- */
struct cap {
    int calls;
    unsigned status;
    uint64_t index;
    char *body;
};

static void on_event(void *arg, const struct kv_result *ev)
{
    struct cap *c = arg;
    c->calls++;
    c->status = ev->status;
    c->index = ev->index;
    free(c->body);
    c->body = malloc(ev->len + 1);
    memcpy(c->body, ev->body, ev->len);
    c->body[ev->len] = '\0';
}

/* Parse a captured event into last (for jget). */
static void take_cap(struct cap *c)
{
    struct kv_result r = {c->status, 0, c->body, c->body ? strlen(c->body) : 0,
                          c->index};
    c->body = NULL;
    take(&r);
}

/* ======================================================================== */

TEST(set_creates_then_replaces)
{
    struct kv *kv = kv_new();
    CHECK_EQ_U(kv_index(kv), 0);
    set(kv, "/k", "v");
    CHECK_EQ_U(last.status, 201);
    CHECK_EQ_U(last.ecode, 0);
    CHECK_EQ_U(last.index, 1);
    CHECK(streq(last.body, "{\"action\":\"set\",\"node\":{\"key\":\"/k\","
                           "\"value\":\"v\",\"modifiedIndex\":1,"
                           "\"createdIndex\":1}}\n"));
    set(kv, "/k", "w");
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(jstr("action"), "set"));
    CHECK(streq(jstr("node.value"), "w"));
    CHECK_EQ_U(jnum("node.modifiedIndex"), 2);
    CHECK_EQ_U(jnum("node.createdIndex"), 2); /* etcd: set makes a new node */
    CHECK(streq(jstr("prevNode.key"), "/k"));
    CHECK(streq(jstr("prevNode.value"), "v"));
    CHECK_EQ_U(jnum("prevNode.modifiedIndex"), 1);
    CHECK_EQ_U(jnum("prevNode.createdIndex"), 1);
    CHECK_EQ_U(kv_index(kv), 2);
    CHECK_EQ_U(kv_count(kv), 1);
    set(kv, "/empty", NULL); /* no value: "" */
    CHECK_EQ_U(last.status, 201);
    CHECK(streq(jstr("node.value"), ""));
    get(kv, "/k", false, false);
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(last.body, "{\"action\":\"get\",\"node\":{\"key\":\"/k\","
                           "\"value\":\"w\",\"modifiedIndex\":2,"
                           "\"createdIndex\":2}}\n"));
    CHECK_EQ_U(last.index, 3);
    kv_free(kv);
}

TEST(key_normalization)
{
    struct kv *kv = kv_new();
    set(kv, "a//b/", "1");
    CHECK(streq(jstr("node.key"), "/a/b"));
    const char *forms[] = {"/a/b", "a/b", "//a///b//", "/a/./c/../b",
                           "/../a/b", "/x/../../a/b/."};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        get(kv, forms[i], false, false);
        CHECK_EQ_U(last.status, 200);
        CHECK(streq(jstr("node.key"), "/a/b"));
    }
    set(kv, "/", "x");
    CHECK_ERR(107, 400, "/", 1);
    set(kv, "", "x");
    CHECK_ERR(107, 400, "/", 1);
    set(kv, "/a/..", "x");
    CHECK_ERR(107, 400, "/", 1);
    create(kv, "/", "x");
    CHECK_ERR(107, 400, "/", 1);
    update(kv, "/", "x");
    CHECK_ERR(107, 400, "/", 1);
    cas(kv, "/", "x", "y", 0);
    CHECK_ERR(107, 400, "/", 1);
    mkdir_(kv, "/", -1);
    CHECK_ERR(107, 400, "/", 1);
    CHECK_EQ_U(kv_index(kv), 1);
    kv_free(kv);
}

TEST(implicit_directories)
{
    struct kv *kv = kv_new();
    set(kv, "/a/b/c", "1");
    CHECK_EQ_U(last.status, 201);
    get(kv, "/a", false, false);
    CHECK(jtrue("node.dir"));
    CHECK(streq(jstr("node.key"), "/a"));
    CHECK_EQ_U(jnum("node.createdIndex"), 1);
    CHECK_EQ_U(jnum("node.modifiedIndex"), 1);
    CHECK_EQ_U(jcount("node.nodes"), 1);
    CHECK(streq(jstr("node.nodes.0.key"), "/a/b"));
    CHECK(jtrue("node.nodes.0.dir"));
    CHECK(!jhas("node.nodes.0.nodes")); /* not recursive */
    CHECK(!jhas("node.value"));
    get(kv, "/a/b/c", false, false);
    CHECK(streq(jstr("node.value"), "1"));
    /* a second key under the same dirs creates nothing but itself */
    set(kv, "/a/b/d", "2");
    get(kv, "/a/b", false, true);
    CHECK_EQ_U(jcount("node.nodes"), 2);
    CHECK_EQ_U(jnum("node.createdIndex"), 1);
    CHECK_EQ_U(kv_count(kv), 2);
    kv_free(kv);
}

TEST(set_errors)
{
    struct kv *kv = kv_new();
    set(kv, "/a/b/c", "1");
    set(kv, "/a", "x");
    CHECK_ERR(102, 403, "/a", 1);
    set(kv, "/a/b/c/d", "x");
    CHECK_ERR(104, 400, "/a/b/c", 1);
    set(kv, "/a/b/c/d/e/f", "x");
    CHECK_ERR(104, 400, "/a/b/c", 1);
    CHECK(streq(last.body, "{\"errorCode\":104,\"message\":\"Not a "
                           "directory\",\"cause\":\"/a/b/c\",\"index\":1}\n"));
    mkdir_(kv, "/a/b/c/d", -1);
    CHECK_ERR(104, 400, "/a/b/c", 1);
    CHECK_EQ_U(kv_index(kv), 1);
    get(kv, "/a/b/c/d", false, false);
    CHECK_ERR(104, 400, "/a/b/c", 1);
    kv_free(kv);
}

TEST(mkdir_and_dir_flag)
{
    struct kv *kv = kv_new();
    mkdir_(kv, "/d", -1);
    CHECK_EQ_U(last.status, 201);
    CHECK(streq(last.body, "{\"action\":\"set\",\"node\":{\"key\":\"/d\","
                           "\"dir\":true,\"modifiedIndex\":1,"
                           "\"createdIndex\":1}}\n"));
    mkdir_(kv, "/d", -1); /* over an existing dir: Not a file, as etcd */
    CHECK_ERR(102, 403, "/d", 1);
    mkdir_(kv, "/d", 0); /* etcdctl mkdir */
    CHECK_ERR(105, 412, "/d", 1);
    mkdir_(kv, "/e", 0);
    CHECK_EQ_U(last.status, 201);
    CHECK(streq(jstr("action"), "create"));
    CHECK(jtrue("node.dir"));
    get(kv, "/e", false, false);
    CHECK(jtrue("node.dir"));
    CHECK(!jhas("node.nodes")); /* an empty dir has no "nodes" */
    CHECK_EQ_U(jnum("node.createdIndex"), 2);
    /* a dir over a file replaces it */
    set(kv, "/f", "v");
    run(kv, KV_SET, "/f", "ignored", true, NULL, 0, -1, false);
    CHECK_EQ_U(last.status, 200);
    CHECK(jtrue("node.dir"));
    CHECK(!jhas("node.value"));
    CHECK(streq(jstr("prevNode.value"), "v"));
    CHECK_EQ_U(kv_count(kv), 0);
    get(kv, "/f", false, false);
    CHECK(jtrue("node.dir"));
    set(kv, "/f/x", "1");
    CHECK_EQ_U(last.status, 201);
    kv_free(kv);
}

TEST(create_prev_exist_false)
{
    struct kv *kv = kv_new();
    create(kv, "/c", "1");
    CHECK_EQ_U(last.status, 201);
    CHECK(streq(jstr("action"), "create"));
    CHECK(!jhas("prevNode"));
    create(kv, "/c", "2");
    CHECK_ERR(105, 412, "/c", 1);
    CHECK(streq(jstr("message"), "Key already exists"));
    create(kv, "/c/x", "2");
    CHECK_ERR(104, 400, "/c", 1);
    /* prevValue is ignored by create, as in etcd */
    run(kv, KV_SET, "/n", "v", false, "whatever", 7, 0, false);
    CHECK_EQ_U(last.status, 201);
    CHECK(streq(jstr("action"), "create"));
    CHECK_EQ_U(kv_index(kv), 2);
    kv_free(kv);
}

TEST(update_prev_exist_true)
{
    struct kv *kv = kv_new();
    update(kv, "/u", "1");
    CHECK_ERR(100, 404, "/u", 0);
    CHECK(streq(last.body, "{\"errorCode\":100,\"message\":\"Key not "
                           "found\",\"cause\":\"/u\",\"index\":0}\n"));
    set(kv, "/u", "1");
    set(kv, "/other", "x");
    update(kv, "/u", "2");
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(jstr("action"), "update"));
    CHECK(streq(jstr("node.value"), "2"));
    CHECK_EQ_U(jnum("node.modifiedIndex"), 3);
    CHECK_EQ_U(jnum("node.createdIndex"), 1); /* update keeps it */
    CHECK(streq(jstr("prevNode.value"), "1"));
    mkdir_(kv, "/d", -1);
    update(kv, "/d", "x");
    CHECK_ERR(102, 403, "/d", 4);
    /* etcd: a directory can be updated with an empty value (that is how
     * its TTL changes); its modifiedIndex stays, the event has the new one */
    mkdir_(kv, "/d", 1);
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(jstr("action"), "update"));
    CHECK(jtrue("node.dir"));
    CHECK_EQ_U(jnum("node.modifiedIndex"), 5);
    CHECK_EQ_U(jnum("node.createdIndex"), 4);
    CHECK(jstr("node.value") == NULL);
    get(kv, "/d", false, false);
    CHECK_EQ_U(jnum("node.modifiedIndex"), 4);
    update(kv, "/u/x", "1");
    CHECK_ERR(104, 400, "/u", 5);
    kv_free(kv);
}

TEST(compare_and_swap)
{
    struct kv *kv = kv_new();
    cas(kv, "/k", "new", "old", 0);
    CHECK_ERR(100, 404, "/k", 0);
    set(kv, "/k", "old");    /* 1 */
    set(kv, "/other", "x");  /* 2 */
    cas(kv, "/k", "new", "nope", 0);
    CHECK_ERR(101, 412, "[nope != old]", 2);
    CHECK(streq(jstr("message"), "Compare failed"));
    cas(kv, "/k", "new", NULL, 5);
    CHECK_ERR(101, 412, "[5 != 1]", 2);
    cas(kv, "/k", "new", "nope", 5);
    CHECK_ERR(101, 412, "[nope != old] [5 != 1]", 2);
    cas(kv, "/k", "new", "old", 5);
    CHECK_ERR(101, 412, "[5 != 1]", 2);
    cas(kv, "/k", "new", "nope", 1);
    CHECK_ERR(101, 412, "[nope != old]", 2);
    CHECK_EQ_U(kv_index(kv), 2);
    cas(kv, "/k", "new", "old", 1);
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(jstr("action"), "compareAndSwap"));
    CHECK(streq(jstr("node.value"), "new"));
    CHECK_EQ_U(jnum("node.modifiedIndex"), 3);
    CHECK_EQ_U(jnum("node.createdIndex"), 1);
    CHECK(streq(jstr("prevNode.value"), "old"));
    CHECK_EQ_U(last.index, 3);
    cas(kv, "/k", "newer", NULL, 3);
    CHECK_EQ_U(last.status, 200);
    /* prevExist=true with a condition is compareAndSwap too */
    run(kv, KV_SET, "/k", "v5", false, "newer", 0, 1, false);
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(jstr("action"), "compareAndSwap"));
    run(kv, KV_SET, "/k", "v6", false, "bad", 0, 1, false);
    CHECK_ERR(101, 412, "[bad != v5]", 5);
    /* empty prevValue compares literally */
    set(kv, "/e", "");
    cas(kv, "/e", "x", "", 0);
    CHECK_EQ_U(last.status, 200);
    mkdir_(kv, "/d", -1);
    cas(kv, "/d", "x", "y", 0);
    CHECK_ERR(102, 403, "/d", 8);
    cas(kv, "/k/sub", "x", "y", 0);
    CHECK_ERR(104, 400, "/k", 8);
    kv_free(kv);
}

TEST(delete_files_and_dirs)
{
    struct kv *kv = kv_new();
    del(kv, "/nope", false, false);
    CHECK_ERR(100, 404, "/nope", 0);
    set(kv, "/k", "v");          /* 1 */
    set(kv, "/d/x", "1");        /* 2 */
    set(kv, "/d/e/y", "2");      /* 3 */
    mkdir_(kv, "/empty", -1);    /* 4 */
    CHECK_EQ_U(kv_count(kv), 3);
    del(kv, "/k", false, false);
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(last.body,
                "{\"action\":\"delete\",\"node\":{\"key\":\"/k\","
                "\"modifiedIndex\":5,\"createdIndex\":1},\"prevNode\":{"
                "\"key\":\"/k\",\"value\":\"v\",\"modifiedIndex\":1,"
                "\"createdIndex\":1}}\n"));
    CHECK_EQ_U(last.index, 5);
    get(kv, "/k", false, false);
    CHECK_ERR(100, 404, "/k", 5);
    del(kv, "/d", false, false);
    CHECK_ERR(102, 403, "/d", 5);
    del(kv, "/d", true, false);
    CHECK_ERR(108, 403, "/d", 5);
    CHECK(streq(jstr("message"), "Directory not empty"));
    del(kv, "/empty", true, false);
    CHECK_EQ_U(last.status, 200);
    CHECK(jtrue("node.dir"));
    CHECK_EQ_U(jnum("node.modifiedIndex"), 6);
    CHECK_EQ_U(jnum("node.createdIndex"), 4);
    CHECK(jtrue("prevNode.dir"));
    CHECK(!jhas("prevNode.nodes"));
    del(kv, "/d", false, true); /* recursive implies dir */
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(jstr("action"), "delete"));
    CHECK(jtrue("node.dir"));
    CHECK_EQ_U(jnum("node.createdIndex"), 2);
    CHECK_EQ_U(kv_count(kv), 0);
    get(kv, "/d/e/y", false, false);
    CHECK_ERR(100, 404, "/d", 7);
    get(kv, "/", true, true);
    CHECK(!jhas("node.nodes"));
    /* dir=true on a file deletes it */
    set(kv, "/f", "1");
    del(kv, "/f", true, false);
    CHECK_EQ_U(last.status, 200);
    CHECK(!jhas("node.dir"));
    /* the root */
    del(kv, "/", true, true);
    CHECK_ERR(107, 400, "/", 9);
    del(kv, "", false, false);
    CHECK_ERR(107, 400, "/", 9);
    del(kv, "/f/x", false, false);
    CHECK_ERR(100, 404, "/f", 9);
    set(kv, "/g", "1");
    del(kv, "/g/x", false, false);
    CHECK_ERR(104, 400, "/g", 10);
    CHECK_EQ_U(kv_index(kv), 10);
    kv_free(kv);
}

TEST(compare_and_delete)
{
    struct kv *kv = kv_new();
    cad(kv, "/k", "v", 0);
    CHECK_ERR(100, 404, "/k", 0);
    set(kv, "/k", "v");
    cad(kv, "/k", "w", 0);
    CHECK_ERR(101, 412, "[w != v]", 1);
    cad(kv, "/k", NULL, 9);
    CHECK_ERR(101, 412, "[9 != 1]", 1);
    cad(kv, "/k", "v", 1);
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(jstr("action"), "compareAndDelete"));
    CHECK(streq(jstr("node.key"), "/k"));
    CHECK(!jhas("node.value"));
    CHECK_EQ_U(jnum("node.modifiedIndex"), 2);
    CHECK(streq(jstr("prevNode.value"), "v"));
    mkdir_(kv, "/d", -1);
    cad(kv, "/d", "x", 0);
    CHECK_ERR(102, 403, "/d", 3);
    cad(kv, "/", "x", 0); /* etcd: the root is a dir -> Not a file */
    CHECK_ERR(102, 403, "/", 3);
    CHECK_EQ_U(kv_index(kv), 3);
    kv_free(kv);
}

TEST(post_in_order)
{
    struct kv *kv = kv_new();
    post(kv, "/q", "a");
    CHECK_EQ_U(last.status, 201);
    CHECK(streq(jstr("action"), "create"));
    CHECK(streq(jstr("node.key"), "/q/00000000000000000001"));
    CHECK(streq(jstr("node.value"), "a"));
    set(kv, "/x", "1");
    post(kv, "/q/", "b");
    CHECK(streq(jstr("node.key"), "/q/00000000000000000003"));
    run(kv, KV_CREATE_IN_ORDER, "/q", NULL, true, NULL, 0, -1, false);
    CHECK(streq(jstr("node.key"), "/q/00000000000000000004"));
    CHECK(jtrue("node.dir"));
    get(kv, "/q", false, true);
    CHECK_EQ_U(jcount("node.nodes"), 3);
    CHECK(streq(jstr("node.nodes.0.value"), "a"));
    CHECK(streq(jstr("node.nodes.1.value"), "b"));
    post(kv, "/x", "c");
    CHECK_ERR(104, 400, "/x", 4);
    post(kv, "/", "r");
    CHECK(streq(jstr("node.key"), "/00000000000000000005"));
    kv_free(kv);
}

TEST(listing)
{
    struct kv *kv = kv_new();
    get(kv, "/", false, false);
    CHECK(streq(last.body, "{\"action\":\"get\",\"node\":{\"dir\":true}}\n"));
    set(kv, "/m", "1");
    set(kv, "/b/z", "2");
    set(kv, "/b/a/deep", "3");
    set(kv, "/_hidden", "4");
    set(kv, "/b/_h", "5");
    set(kv, "/a", "6");
    get(kv, "/", false, true);
    CHECK(!jhas("node.key"));
    CHECK(!jhas("node.modifiedIndex"));
    CHECK(!jhas("node.createdIndex"));
    CHECK(jtrue("node.dir"));
    CHECK_EQ_U(jcount("node.nodes"), 3);
    CHECK(streq(jstr("node.nodes.0.key"), "/a"));
    CHECK(streq(jstr("node.nodes.1.key"), "/b"));
    CHECK(streq(jstr("node.nodes.2.key"), "/m"));
    CHECK(!jhas("node.nodes.1.nodes"));
    /* unsorted: creation order */
    get(kv, "/", false, false);
    CHECK(streq(jstr("node.nodes.0.key"), "/m"));
    CHECK(streq(jstr("node.nodes.1.key"), "/b"));
    CHECK(streq(jstr("node.nodes.2.key"), "/a"));
    get(kv, "/", true, true);
    CHECK(streq(jstr("node.nodes.1.key"), "/b"));
    CHECK_EQ_U(jcount("node.nodes.1.nodes"), 2);
    CHECK(streq(jstr("node.nodes.1.nodes.0.key"), "/b/a"));
    CHECK(jtrue("node.nodes.1.nodes.0.dir"));
    CHECK(streq(jstr("node.nodes.1.nodes.0.nodes.0.key"), "/b/a/deep"));
    CHECK(streq(jstr("node.nodes.1.nodes.0.nodes.0.value"), "3"));
    CHECK(streq(jstr("node.nodes.1.nodes.1.key"), "/b/z"));
    CHECK_EQ_U(jnum("node.nodes.1.createdIndex"), 2);
    /* exact recursive shape of a subtree */
    get(kv, "/b", true, true);
    CHECK(streq(last.body,
                "{\"action\":\"get\",\"node\":{\"key\":\"/b\",\"dir\":true,"
                "\"nodes\":[{\"key\":\"/b/a\",\"dir\":true,\"nodes\":[{"
                "\"key\":\"/b/a/deep\",\"value\":\"3\",\"modifiedIndex\":3,"
                "\"createdIndex\":3}],\"modifiedIndex\":3,\"createdIndex\":3},"
                "{\"key\":\"/b/z\",\"value\":\"2\",\"modifiedIndex\":2,"
                "\"createdIndex\":2}],\"modifiedIndex\":2,\"createdIndex\":2}}"
                "\n"));
    /* hidden keys are readable directly */
    get(kv, "/_hidden", false, false);
    CHECK(streq(jstr("node.value"), "4"));
    get(kv, "/nope/x/y", false, false);
    CHECK_ERR(100, 404, "/nope", 6);
    get(kv, "/b/nope/y", true, false);
    CHECK_ERR(100, 404, "/b/nope", 6);
    get(kv, "/m/x", false, false);
    CHECK_ERR(104, 400, "/m", 6);
    kv_free(kv);
}

TEST(index_arithmetic)
{
    struct kv *kv = kv_new();
    uint64_t want = 0;
    for (int round = 0; round < 3; round++) {
        set(kv, "/a", "1");
        want++;
        create(kv, "/a", "1"); /* 105 */
        update(kv, "/zz", "1"); /* 100 */
        cas(kv, "/a", "2", "nope", 0); /* 101 */
        del(kv, "/", true, true); /* 107 */
        mkdir_(kv, "/dd", -1);
        want++;
        del(kv, "/dd", false, false); /* 102 */
        set(kv, "/dd/x", "1");
        want++;
        del(kv, "/dd", true, false); /* 108 */
        CHECK_EQ_U(kv_index(kv), want);
        CHECK_EQ_U(jnum("index"), want);
        del(kv, "/dd", true, true);
        want++;
        CHECK_EQ_U(last.index, want);
        CHECK_EQ_U(jnum("node.modifiedIndex"), want);
        apply_raw(kv, "junk", 4);
        CHECK_EQ_U(last.index, want);
    }
    CHECK_EQ_U(kv_index(kv), 12);
    kv_free(kv);
}

TEST(watch_from_history)
{
    struct kv *kv = kv_new();
    struct cap c = {0};
    struct kv_result r;
    set(kv, "/w", "1");     /* 1 */
    set(kv, "/x/y", "2");   /* 2 */
    set(kv, "/w", "3");     /* 3 */
    set(kv, "/x/z", "4");   /* 4 */
    CHECK(kv_watch(kv, "/w", false, 1, on_event, &c, &r) == NULL);
    take(&r);
    CHECK_EQ_U(last.status, 200);
    CHECK_EQ_U(last.index, 4); /* the current index */
    CHECK_EQ_U(jnum("node.modifiedIndex"), 1);
    CHECK(streq(jstr("action"), "set"));
    CHECK(kv_watch(kv, "/w", false, 2, on_event, &c, &r) == NULL);
    take(&r);
    CHECK_EQ_U(jnum("node.modifiedIndex"), 3);
    CHECK(streq(jstr("prevNode.value"), "1"));
    /* recursive: the earliest event at or below the key */
    CHECK(kv_watch(kv, "/x", true, 1, on_event, &c, &r) == NULL);
    take(&r);
    CHECK(streq(jstr("node.key"), "/x/y"));
    CHECK(kv_watch(kv, "x", true, 3, on_event, &c, &r) == NULL);
    take(&r);
    CHECK(streq(jstr("node.key"), "/x/z"));
    CHECK(kv_watch(kv, "/", true, 2, on_event, &c, &r) == NULL);
    take(&r);
    CHECK(streq(jstr("node.key"), "/x/y"));
    /* not recursive: children do not count */
    struct kv_watch *w = kv_watch(kv, "/x", false, 1, on_event, &c, &r);
    CHECK(w != NULL);
    CHECK_EQ_U(r.status, 0);
    CHECK(r.body == NULL);
    CHECK_EQ_U(kv_watch_count(kv), 1);
    kv_watch_cancel(kv, w);
    /* nothing matching after waitIndex: waits */
    w = kv_watch(kv, "/w", false, 4, on_event, &c, &r);
    CHECK(w != NULL);
    set(kv, "/w", "5");
    CHECK_EQ_U(c.calls, 1);
    CHECK_EQ_U(c.index, 5);
    CHECK_EQ_U(kv_watch_count(kv), 0);
    take_cap(&c);
    CHECK(streq(jstr("node.value"), "5"));
    kv_free(kv);
    free(c.body);
}

TEST(watch_waits_then_fires)
{
    struct kv *kv = kv_new();
    struct cap c = {0};
    struct kv_result r;
    set(kv, "/w", "0");
    struct kv_watch *w = kv_watch(kv, "/w", false, 0, on_event, &c, &r);
    CHECK(w != NULL);
    set(kv, "/other", "1");
    set(kv, "/w/../other", "1");
    CHECK_EQ_U(c.calls, 0);
    update(kv, "/w", "new");
    CHECK_EQ_U(c.calls, 1);
    CHECK_EQ_U(c.status, 200);
    CHECK_EQ_U(c.index, 4);
    /* the event is the modification's answer */
    char *answer = strdup(last.body);
    take_cap(&c);
    CHECK(streq(last.body, answer));
    free(answer);
    CHECK(streq(jstr("action"), "update"));
    CHECK(streq(jstr("prevNode.value"), "0"));
    /* one-shot */
    set(kv, "/w", "again");
    CHECK_EQ_U(c.calls, 1);
    CHECK_EQ_U(kv_watch_count(kv), 0);
    /* a failed command fires nothing */
    w = kv_watch(kv, "/w", false, 0, on_event, &c, &r);
    create(kv, "/w", "x");
    CHECK_EQ_U(c.calls, 1);
    del(kv, "/w", false, false);
    CHECK_EQ_U(c.calls, 2);
    take_cap(&c);
    CHECK(streq(jstr("action"), "delete"));
    /* several watchers on one key all fire, in registration order */
    struct cap c2 = {0}, c3 = {0};
    kv_watch(kv, "/k", false, 0, on_event, &c2, &r);
    kv_watch(kv, "/k", true, 0, on_event, &c3, &r);
    CHECK_EQ_U(kv_watch_count(kv), 2);
    set(kv, "/k", "1");
    CHECK_EQ_U(c2.calls, 1);
    CHECK_EQ_U(c3.calls, 1);
    CHECK_EQ_U(kv_watch_count(kv), 0);
    kv_free(kv);
    free(c.body);
    free(c2.body);
    free(c3.body);
}

TEST(watch_recursive_and_hidden)
{
    struct kv *kv = kv_new();
    struct cap c = {0}, root = {0}, hid = {0}, plain = {0};
    struct kv_result r;
    kv_watch(kv, "/d", true, 0, on_event, &c, &r);
    kv_watch(kv, "/d", false, 0, on_event, &plain, &r);
    kv_watch(kv, "/", true, 0, on_event, &root, &r);
    kv_watch(kv, "/_h", false, 0, on_event, &hid, &r);
    set(kv, "/_h", "x"); /* hidden from "/" recursive, not from its own */
    CHECK_EQ_U(root.calls, 0);
    CHECK_EQ_U(hid.calls, 1);
    set(kv, "/d/_x/y", "1"); /* hidden below /d */
    CHECK_EQ_U(c.calls, 0);
    CHECK_EQ_U(root.calls, 0);
    set(kv, "/d/x/y", "1");
    CHECK_EQ_U(c.calls, 1);
    CHECK_EQ_U(root.calls, 1);
    CHECK_EQ_U(plain.calls, 0); /* a child of /d is not /d */
    take_cap(&c);
    CHECK(streq(jstr("node.key"), "/d/x/y"));
    CHECK_EQ_U(kv_watch_count(kv), 1);
    /* /dd is not below /d */
    kv_watch(kv, "/d", true, 0, on_event, &c, &r);
    set(kv, "/dd", "1");
    CHECK_EQ_U(c.calls, 1);
    kv_free(kv); /* frees the waiting watches without calling them */
    CHECK_EQ_U(c.calls, 1);
    CHECK_EQ_U(plain.calls, 0);
    free(c.body);
    free(root.body);
    free(hid.body);
    free(plain.body);
}

TEST(watch_parent_delete)
{
    struct kv *kv = kv_new();
    struct cap c = {0}, missing = {0}, other = {0};
    struct kv_result r;
    set(kv, "/d/x", "1");    /* 1 */
    set(kv, "/d/e/f", "2");  /* 2 */
    set(kv, "/dx", "3");     /* 3 */
    kv_watch(kv, "/d/e/f", false, 0, on_event, &c, &r);
    kv_watch(kv, "/dx", false, 0, on_event, &other, &r);
    kv_watch(kv, "/d/nothing", false, 0, on_event, &missing, &r);
    del(kv, "/d", false, true); /* 4 */
    CHECK_EQ_U(c.calls, 1);
    CHECK_EQ_U(c.index, 4);
    take_cap(&c);
    CHECK(streq(jstr("action"), "delete"));
    CHECK(streq(jstr("node.key"), "/d"));
    CHECK(jtrue("node.dir"));
    CHECK_EQ_U(other.calls, 0);
    CHECK_EQ_U(missing.calls, 0); /* etcd only tells keys that existed */
    /* from history: a deleted directory above the key matches */
    CHECK(kv_watch(kv, "/d/x", false, 4, on_event, &c, &r) == NULL);
    take(&r);
    CHECK(streq(jstr("node.key"), "/d"));
    CHECK(kv_watch(kv, "/d/anything/below", false, 3, on_event, &c, &r) ==
          NULL);
    take(&r);
    CHECK(streq(jstr("node.key"), "/d"));
    /* ... but not a key that merely starts with the same characters */
    struct kv_watch *w = kv_watch(kv, "/dx", false, 4, on_event, &c, &r);
    CHECK(w != NULL);
    kv_watch_cancel(kv, w);
    /* compareAndDelete tells the key's watchers */
    set(kv, "/k", "v");
    struct cap k = {0};
    kv_watch(kv, "/k", false, 0, on_event, &k, &r);
    cad(kv, "/k", "v", 0);
    CHECK_EQ_U(k.calls, 1);
    take_cap(&k);
    CHECK(streq(jstr("action"), "compareAndDelete"));
    kv_free(kv);
    free(c.body);
    free(missing.body);
    free(other.body);
    free(k.body);
}

TEST(watch_history_cleared)
{
    struct kv *kv = kv_new();
    struct cap c = {0};
    struct kv_result r;
    char key[32];
    for (int i = 1; i <= KV_HISTORY + 5; i++) {
        snprintf(key, sizeof key, "/k%d", i % 7);
        set(kv, key, "v");
    }
    CHECK_EQ_U(kv_index(kv), KV_HISTORY + 5);
    CHECK(kv_watch(kv, "/k1", false, 1, on_event, &c, &r) == NULL);
    take(&r);
    CHECK_ERR(401, 400, "the requested history has been cleared [6/1]",
              KV_HISTORY + 5);
    CHECK(streq(jstr("message"),
                "The event in requested index is outdated and cleared"));
    CHECK(kv_watch(kv, "/k1", false, 5, on_event, &c, &r) == NULL);
    take(&r);
    CHECK_EQ_U(last.ecode, 401);
    /* the oldest kept event is still answered */
    CHECK(kv_watch(kv, "/", true, 6, on_event, &c, &r) == NULL);
    take(&r);
    CHECK_EQ_U(last.status, 200);
    CHECK_EQ_U(jnum("node.modifiedIndex"), 6);
    CHECK(kv_watch(kv, "/k1", false, 6, on_event, &c, &r) == NULL);
    take(&r);
    CHECK_EQ_U(jnum("node.modifiedIndex"), 8); /* 8 % 7 == 1 */
    CHECK_EQ_U(c.calls, 0);
    kv_free(kv);
}

TEST(watch_future_index)
{
    struct kv *kv = kv_new();
    struct cap c = {0};
    struct kv_result r;
    set(kv, "/a", "1");
    struct kv_watch *w = kv_watch(kv, "/a", false, 4, on_event, &c, &r);
    CHECK(w != NULL);
    set(kv, "/a", "2"); /* 2 */
    set(kv, "/a", "3"); /* 3 */
    CHECK_EQ_U(c.calls, 0);
    set(kv, "/a", "4"); /* 4 */
    CHECK_EQ_U(c.calls, 1);
    CHECK_EQ_U(c.index, 4);
    kv_free(kv);
    free(c.body);
}

/* A callback that cancels another watch and registers a new one. */
struct meddler {
    struct kv *kv;
    struct kv_watch *victim;
    struct cap *fresh;
    int calls;
};

static void meddle(void *arg, const struct kv_result *ev)
{
    struct meddler *m = arg;
    struct kv_result r, g;
    m->calls++;
    (void)ev;
    kv_watch_cancel(m->kv, m->victim);
    /* a new watch from inside a callback does not see this event */
    CHECK(kv_watch(m->kv, "/c", false, 0, on_event, m->fresh, &r) != NULL);
    kv_get(m->kv, "/c", false, false, &g);
    CHECK_EQ_U(g.status, 200);
    kv_result_free(&g);
}

TEST(watch_cancel)
{
    struct kv *kv = kv_new();
    struct cap c = {0}, victim = {0}, fresh = {0};
    struct kv_result r;
    struct kv_watch *w = kv_watch(kv, "/c", false, 0, on_event, &c, &r);
    CHECK_EQ_U(kv_watch_count(kv), 1);
    kv_watch_cancel(kv, w);
    kv_watch_cancel(kv, NULL);
    CHECK_EQ_U(kv_watch_count(kv), 0);
    set(kv, "/c", "1");
    CHECK_EQ_U(c.calls, 0);
    /* cancel from a callback, of a watch already due in the same round */
    struct meddler m = {kv, NULL, &fresh, 0};
    kv_watch(kv, "/c", false, 0, meddle, &m, &r);
    m.victim = kv_watch(kv, "/c", false, 0, on_event, &victim, &r);
    /* and of one still waiting elsewhere: keeps the rest intact */
    struct kv_watch *keep = kv_watch(kv, "/c", true, 0, on_event, &c, &r);
    CHECK(keep != NULL);
    set(kv, "/c", "2");
    CHECK_EQ_U(m.calls, 1);
    CHECK_EQ_U(victim.calls, 0);
    CHECK_EQ_U(c.calls, 1);
    CHECK_EQ_U(fresh.calls, 0);
    CHECK_EQ_U(kv_watch_count(kv), 1);
    set(kv, "/c", "3");
    CHECK_EQ_U(fresh.calls, 1);
    CHECK_EQ_U(fresh.index, 3);
    CHECK_EQ_U(kv_watch_count(kv), 0);
    /* cancel a waiting watch whose list has others */
    struct kv_watch *a = kv_watch(kv, "/z", false, 0, on_event, &c, &r);
    struct kv_watch *b = kv_watch(kv, "/z", false, 0, on_event, &c, &r);
    struct kv_watch *d = kv_watch(kv, "/z", false, 0, on_event, &c, &r);
    kv_watch_cancel(kv, b);
    kv_watch_cancel(kv, a);
    set(kv, "/z", "1");
    CHECK_EQ_U(c.calls, 2);
    (void)d;
    /* no callback: refused */
    CHECK(kv_watch(kv, "/z", false, 0, NULL, NULL, &r) == NULL);
    take(&r);
    CHECK_EQ_U(last.status, 400);
    kv_free(kv);
    free(c.body);
    free(victim.body);
    free(fresh.body);
}

/* ---- determinism ---- */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void random_cmd(struct kv_cmd *c, char *keybuf, char *valbuf,
                       char *pvbuf)
{
    static const char *keys[] = {"/a", "/a/b", "/a/b/c", "/b", "/b/x",
                                 "/q", "/_h", "/a/_h/z", "c/d/", "/a/../b/y"};
    static const char *vals[] = {"", "1", "2", "x\"y", "line\nfeed", "<&>",
                                 "caf\xc3\xa9", "\xff"};
    memset(c, 0, sizeof *c);
    strcpy(keybuf, keys[rnd() % 10]);
    strcpy(valbuf, vals[rnd() % 8]);
    strcpy(pvbuf, vals[rnd() % 8]);
    c->key = keybuf;
    c->prev_exist = -1;
    switch (rnd() % 10) {
    case 0:
    case 1:
    case 2:
        c->op = KV_SET;
        c->value = valbuf;
        break;
    case 3:
        c->op = KV_SET;
        c->dir = true;
        c->prev_exist = (int)(rnd() % 3) - 1;
        break;
    case 4:
        c->op = KV_SET;
        c->value = valbuf;
        c->prev_exist = (int)(rnd() % 2);
        break;
    case 5:
        c->op = KV_SET;
        c->value = valbuf;
        c->prev_value = rnd() % 2 ? pvbuf : NULL;
        c->prev_index = rnd() % 3 ? rnd() % 40 : 0;
        break;
    case 6:
        c->op = KV_CREATE_IN_ORDER;
        c->value = valbuf;
        break;
    case 7:
    case 8:
        c->op = KV_DELETE;
        c->dir = rnd() % 2;
        c->recursive = rnd() % 2;
        break;
    default:
        c->op = KV_DELETE;
        c->prev_value = pvbuf;
        c->prev_index = rnd() % 2 ? rnd() % 40 : 0;
    }
}

TEST(determinism)
{
    struct kv *a = kv_new(), *b = kv_new();
    char k[64], v[64], pv[64];
    int ok = 0, failed = 0;
    for (int i = 0; i < 3000; i++) {
        struct kv_cmd c;
        random_cmd(&c, k, v, pv);
        size_t n;
        char *e = kv_encode(&c, &n);
        struct kv_result ra, rb;
        kv_apply(a, e, n, &ra);
        kv_apply(b, e, n, &rb);
        CHECK_EQ_U(ra.status, rb.status);
        CHECK_EQ_U(ra.index, rb.index);
        CHECK(ra.len == rb.len && memcmp(ra.body, rb.body, ra.len) == 0);
        cJSON *j = cJSON_ParseWithLength(ra.body, ra.len);
        CHECK(j != NULL);
        cJSON_Delete(j);
        if (ra.error_code)
            failed++;
        else
            ok++;
        kv_result_free(&ra);
        kv_result_free(&rb);
        free(e);
    }
    CHECK(ok > 300 && failed > 300);
    CHECK_EQ_U(kv_index(a), ok);
    CHECK_EQ_U(kv_index(a), kv_index(b));
    CHECK_EQ_U(kv_count(a), kv_count(b));
    for (int mode = 0; mode < 4; mode++) {
        struct kv_result ra, rb;
        kv_get(a, "/", mode & 1, mode & 2, &ra);
        kv_get(b, "/", mode & 1, mode & 2, &rb);
        CHECK(ra.len == rb.len && memcmp(ra.body, rb.body, ra.len) == 0);
        kv_result_free(&ra);
        kv_result_free(&rb);
    }
    kv_free(a);
    kv_free(b);
}

/* ---- garbage ---- */
static void expect_rejected(struct kv *kv, const void *p, size_t n,
                            const char *before_listing)
{
    uint64_t idx = kv_index(kv);
    apply_raw(kv, p, n);
    CHECK_EQ_U(last.status, 400);
    CHECK_EQ_U(last.ecode, 209);
    CHECK_EQ_U(jnum("errorCode"), 209);
    CHECK_EQ_U(kv_index(kv), idx);
    CHECK_EQ_U(last.index, idx);
    get(kv, "/", true, true);
    CHECK(streq(last.body, before_listing));
}

TEST(garbage_commands)
{
    struct kv *kv = kv_new();
    set(kv, "/a/b", "1");
    get(kv, "/", true, true);
    char *before = strdup(last.body);
    static const char *bad[] = {
        "",
        " ",
        "{}",
        "[]",
        "null",
        "\"set\"",
        "{\"op\":\"set\"}",
        "{\"key\":\"/x\"}",
        "{\"op\":\"frob\",\"key\":\"/x\"}",
        "{\"op\":1,\"key\":\"/x\"}",
        "{\"op\":\"set\",\"key\":7}",
        "{\"op\":\"set\",\"key\":null}",
        "{\"op\":\"set\",\"key\":\"/x\",\"value\":5}",
        "{\"op\":\"set\",\"key\":\"/x\",\"dir\":\"true\"}",
        "{\"op\":\"set\",\"key\":\"/x\",\"dir\":1}",
        "{\"op\":\"set\",\"key\":\"/x\",\"prevExist\":null}",
        "{\"op\":\"set\",\"key\":\"/x\",\"prevIndex\":5}",
        "{\"op\":\"set\",\"key\":\"/x\",\"prevIndex\":\"-5\"}",
        "{\"op\":\"set\",\"key\":\"/x\",\"prevIndex\":\"5x\"}",
        "{\"op\":\"set\",\"key\":\"/x\",\"prevIndex\":\"\"}",
        "{\"op\":\"set\",\"key\":\"/x\",\"prevIndex\":\"18446744073709551616\"}",
        "{\"op\":\"set\",\"key\":\"/x\",\"ttl\":5}",
        "{\"op\":\"set\",\"key\":\"/x\",\"key\":\"/y\"}",
        "{\"op\":\"set\",\"key\":\"/x\"} trailing",
        "{\"op\":\"set\",\"key\":\"/x\"}}",
        "{\"op\":\"set\",\"key\":\"/x\",}",
        "{\"op\":\"set\" \"key\":\"/x\"}",
        "{\"op\":\"set\",\"key\":\"/x\\u0000y\"}",
        "{\"op\":\"set\",\"key\":\"/x\\q\"}",
        "{\"op\":\"set\",\"key\":\"/x\\ud800\"}",
        "{\"op\":\"set\",\"key\":\"/x\\udc00\"}",
        "{\"op\":\"set\",\"key\":\"/x\\u12\"}",
        "{\"op\":\"set\",\"key\":\"/x\nnewline\"}",
        "{\"op\":\"set\",\"key\":\"/x\",\"value\":\"unterminated}",
        "{\"op\":\"set\",\"key\":\"/x\",\"recursive\":tru}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_rejected(kv, bad[i], strlen(bad[i]), before);
    expect_rejected(kv, NULL, 0, before);
    /* an embedded NUL */
    static const char nul1[] = "{\"op\":\"set\",\"key\":\"/x\"}\0";
    static const char nul2[] = "{\"op\":\"set\",\"key\":\"/\0x\"}";
    expect_rejected(kv, nul1, sizeof nul1 - 1, before);
    expect_rejected(kv, nul2, sizeof nul2 - 1, before);
    /* every proper prefix of a valid command */
    struct kv_cmd c = {.op = KV_SET, .key = "/p/q", .value = "v\"al", .dir = true, .prev_value = "pv", .prev_index = 12, .prev_exist = 1, .recursive = true};
    size_t n;
    char *e = kv_encode(&c, &n);
    for (size_t i = 0; i < n; i++)
        expect_rejected(kv, e, i, before);
    free(e);
    /* random bytes, and random mutations of a valid command */
    unsigned char junk[96];
    for (int round = 0; round < 2000; round++) {
        size_t len = rnd() % sizeof junk;
        for (size_t i = 0; i < len; i++)
            junk[i] = (unsigned char)rnd();
        if (round % 2) { /* start from a valid command, flip bytes */
            static const char base[] = "{\"op\":\"delete\",\"key\":\"/a\"}";
            len = sizeof base - 1;
            memcpy(junk, base, len);
            junk[rnd() % len] = (unsigned char)rnd();
            junk[rnd() % len] = (unsigned char)rnd();
        }
        uint64_t idx = kv_index(kv);
        struct kv_result r;
        kv_apply(kv, junk, len, &r);
        CHECK(r.body != NULL);
        cJSON *j = cJSON_ParseWithLength(r.body, r.len);
        CHECK(j != NULL);
        cJSON_Delete(j);
        if (r.error_code == 209)
            CHECK_EQ_U(kv_index(kv), idx);
        kv_result_free(&r);
    }
    /* accepted spellings: whitespace, escapes, any field order */
    static const char spelled[] =
        " {\n\"key\" : \"\\/a\\/c\" , \"value\":\"\\u00e9\\ud83c\\udf89"
        "\\n\",\"op\":\"set\" } ";
    apply_raw(kv, spelled, sizeof spelled - 1);
    CHECK_EQ_U(last.status, 201);
    CHECK(streq(jstr("node.key"), "/a/c"));
    CHECK(streq(jstr("node.value"), "\xc3\xa9\xf0\x9f\x8e\x89\n"));
    free(before);
    kv_free(kv);
}

TEST(json_escaping)
{
    struct kv *kv = kv_new();
    const char *v = "q\"uo\\te\n\t\r\x01<a href='x'>&amp;</a> caf\xc3\xa9 "
                    "\xe2\x9c\x93 \xf0\x9f\x8e\x89 \x7f";
    set(kv, "/odd", v);
    CHECK_EQ_U(last.status, 201);
    CHECK(streq(jstr("node.value"), v));
    CHECK(strstr(last.body, "q\\\"uo\\\\te\\n\\t\\r\\u0001\\u003ca href='x'"
                            "\\u003e\\u0026amp;\\u003c/a\\u003e caf\xc3\xa9 ") !=
          NULL);
    get(kv, "/odd", false, false);
    CHECK(streq(jstr("node.value"), v));
    /* invalid UTF-8 becomes U+FFFD, as Go's encoder does; U+2028 escaped */
    set(kv, "/bad", "a\xff" "b\xe2\x82" "c\xed\xa0\x80" "d\xe2\x80\xa8");
    CHECK(strstr(last.body, "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd"
                            "\\ufffdd\\u2028\"") != NULL);
    CHECK(last.j != NULL);
    /* odd keys */
    set(kv, "/k\"ey/\xc3\xa9\\", "1");
    CHECK(streq(jstr("node.key"), "/k\"ey/\xc3\xa9\\"));
    get(kv, "/k\"ey", false, false);
    CHECK(streq(jstr("node.nodes.0.key"), "/k\"ey/\xc3\xa9\\"));
    /* the command log keeps every byte exactly */
    char all[256];
    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    all[255] = '\0';
    set(kv, "/all", all);
    CHECK_EQ_U(last.status, 201);
    struct kv_cmd c = {.op = KV_SET, .key = "/all", .value = "x", .dir = false, .prev_value = all, .prev_index = 0, .prev_exist = -1, .recursive = false};
    size_t n;
    char *e = kv_encode(&c, &n);
    apply_raw(kv, e, n);
    free(e);
    CHECK_EQ_U(last.status, 200); /* prevValue matched byte for byte */
    CHECK(streq(jstr("action"), "compareAndSwap"));
    /* error causes are escaped too */
    cas(kv, "/odd", "x", "<\"", 0);
    CHECK_EQ_U(last.ecode, 101);
    CHECK(strstr(last.body, "[\\u003c\\\" != q\\\"uo") != NULL);
    kv_free(kv);
}

TEST(encode_format)
{
    struct kv_cmd c = {.op = KV_SET, .key = "/a", .value = "1", .dir = false, .prev_value = NULL, .prev_index = 0, .prev_exist = 0, .recursive = false};
    size_t n;
    char *e = kv_encode(&c, &n);
    CHECK(streq(e, "{\"op\":\"set\",\"key\":\"/a\",\"value\":\"1\","
                   "\"prevExist\":false}"));
    CHECK_EQ_U(n, strlen(e));
    free(e);
    struct kv_cmd d = {.op = KV_DELETE, .key = "/d", .value = NULL, .dir = true, .prev_value = "p\"v", .prev_index = UINT64_MAX, .prev_exist = 1, .recursive = true};
    e = kv_encode(&d, &n);
    CHECK(streq(e, "{\"op\":\"delete\",\"key\":\"/d\",\"dir\":true,"
                   "\"prevValue\":\"p\\\"v\",\"prevIndex\":"
                   "\"18446744073709551615\",\"prevExist\":true,"
                   "\"recursive\":true}"));
    free(e);
    struct kv_cmd p = {.op = KV_CREATE_IN_ORDER, .key = "/q", .value = NULL, .dir = false, .prev_value = NULL, .prev_index = 0, .prev_exist = -1, .recursive = false};
    e = kv_encode(&p, &n);
    CHECK(streq(e, "{\"op\":\"post\",\"key\":\"/q\"}"));
    free(e);
    struct kv_cmd bad = {.op = KV_SET, .key = NULL, .value = NULL, .dir = false, .prev_value = NULL, .prev_index = 0, .prev_exist = -1, .recursive = false};
    CHECK(kv_encode(&bad, &n) == NULL);
    bad.key = "/x";
    bad.op = (enum kv_op)42;
    CHECK(kv_encode(&bad, &n) == NULL);
    /* a huge prevIndex survives the log and compares (and prints) exactly */
    struct kv *kv = kv_new();
    set(kv, "/a", "1");
    cas(kv, "/a", "2", NULL, UINT64_MAX);
    CHECK_ERR(101, 412, "[18446744073709551615 != 1]", 1);
    kv_free(kv);
}

TEST(error_helper)
{
    struct kv_result r;
    kv_error(209, "prevIndex", 7, &r);
    take(&r);
    CHECK(streq(last.body, "{\"errorCode\":209,\"message\":\"Invalid field\","
                           "\"cause\":\"prevIndex\",\"index\":7}\n"));
    CHECK_EQ_U(last.status, 400);
    kv_error(300, NULL, 0, &r);
    take(&r);
    CHECK_EQ_U(last.status, 500);
    CHECK(!jhas("cause"));
    CHECK(streq(jstr("message"), "Raft Internal Error"));
    kv_error(210, "", 3, &r);
    take(&r);
    CHECK(!jhas("cause"));
    CHECK(streq(jstr("message"), "Invalid POST form"));
    kv_error(110, "x", 3, &r);
    take(&r);
    CHECK_EQ_U(last.status, 401);
    kv_error(201, NULL, 3, &r);
    take(&r);
    CHECK(streq(jstr("message"), "PrevValue is Required in POST form"));
    kv_result_free(&r);
    kv_result_free(NULL);
}

TEST(scale_and_depth)
{
    struct kv *kv = kv_new();
    char key[64], val[32];
    enum { N = 100000 };
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "/big/k%016llx",
                 (unsigned long long)(rnd() & 0xffffffffffffULL));
        snprintf(val, sizeof val, "%d", i);
        struct kv_cmd c = {.op = KV_SET, .key = key, .value = val, .dir = false, .prev_value = NULL, .prev_index = 0, .prev_exist = -1, .recursive = false};
        size_t n;
        char *e = kv_encode(&c, &n);
        struct kv_result r;
        kv_apply(kv, e, n, &r);
        CHECK(r.status == 201 || r.status == 200);
        kv_result_free(&r);
        free(e);
    }
    CHECK(kv_count(kv) > N - 10);
    get(kv, "/big", false, true);
    CHECK(jcount("node.nodes") == (int)kv_count(kv));
    /* sorted */
    const char *k0 = jstr("node.nodes.0.key"), *k1 = jstr("node.nodes.1.key");
    CHECK(k0 && k1 && strcmp(k0, k1) < 0);
    /* delete a few one by one, then the rest at once */
    char victims[100][64];
    for (int i = 0; i < 100; i++) {
        char path[32];
        snprintf(path, sizeof path, "node.nodes.%d.key", i * 7);
        const char *k = jstr(path);
        snprintf(victims[i], sizeof victims[i], "%s", k ? k : "");
    }
    size_t before = kv_count(kv);
    for (int i = 0; i < 100; i++) {
        del(kv, victims[i], false, false);
        CHECK_EQ_U(last.status, 200);
    }
    CHECK_EQ_U(kv_count(kv), before - 100);
    struct cap c = {0};
    struct kv_result r;
    kv_watch(kv, "/big", true, 0, on_event, &c, &r);
    del(kv, "/big", true, true);
    CHECK_EQ_U(last.status, 200);
    CHECK_EQ_U(kv_count(kv), 0);
    CHECK_EQ_U(c.calls, 1);
    free(c.body);
    c.body = NULL;
    c.calls = 0;
    /* a path 20000 directories deep: no recursion anywhere */
    enum { D = 20000 };
    char *deep = malloc(2 * D + 1);
    for (int i = 0; i < D; i++) {
        deep[2 * i] = '/';
        deep[2 * i + 1] = (char)('a' + i % 26);
    }
    deep[2 * D] = '\0';
    set(kv, deep, "bottom");
    CHECK_EQ_U(last.status, 201);
    get(kv, deep, false, false);
    CHECK(streq(jstr("node.value"), "bottom"));
    /* too deep for cJSON's nesting limit: check the raw text */
    kv_get(kv, "/", true, true, &r);
    CHECK_EQ_U(r.status, 200);
    CHECK(r.len > 20 * (size_t)D && r.body[r.len - 1] == '\n');
    CHECK(strstr(r.body, "\"value\":\"bottom\"") != NULL);
    kv_result_free(&r);
    kv_watch(kv, deep, false, 0, on_event, &c, &r);
    kv_watch(kv, "/a/b/c", true, 0, on_event, &c, &r);
    del(kv, "/a", false, true);
    CHECK_EQ_U(last.status, 200);
    CHECK_EQ_U(c.calls, 2);
    CHECK_EQ_U(kv_count(kv), 0);
    set(kv, deep, "again");
    kv_free(kv); /* frees the deep tree iteratively */
    free(deep);
    free(c.body);
}

/* ---- snapshots (log compaction) ---- */

static char *body_of_get(struct kv *kv, const char *k)
{
    struct kv_result r;
    kv_get(kv, k, true, true, &r);
    char *b = r.body;
    r.body = NULL;
    kv_result_free(&r);
    return b;
}

TEST(snapshot_restores_identical_store)
{
    struct kv *a = kv_new();
    set(a, "/x", "1");
    mkdir_(a, "/d", -1);
    set(a, "/d/e/f", "deep");
    set(a, "/d/_hidden", "h");
    post(a, "/q", "job1");
    post(a, "/q", "job2");
    update(a, "/x", "2");
    del(a, "/d/e", true, true);
    set(a, "/d/g", "");
    set(a, "/u", "caf\xc3\xa9 <&>");
    mkdir_(a, "/empty", -1);
    for (int i = 0; i < 1200; i++) { /* history wraps past KV_HISTORY */
        char k[32];
        snprintf(k, sizeof k, "/h/%d", i % 50);
        set(a, k, "v");
    }
    size_t len;
    char *snap = kv_snapshot(a, &len);
    CHECK(snap != NULL && len > 8);
    struct kv *b = kv_new();
    set(b, "/old", "gone after restore");
    CHECK_EQ_U(kv_restore(b, snap, len), 0);
    CHECK_EQ_U(kv_index(b), kv_index(a));
    CHECK_EQ_U(kv_count(b), kv_count(a));
    char *ga = body_of_get(a, "/"), *gb = body_of_get(b, "/");
    CHECK(streq(ga, gb));
    free(ga);
    free(gb);
    /* unsorted listings keep creation order */
    struct kv_result ra, rb;
    kv_get(a, "/q", true, false, &ra);
    kv_get(b, "/q", true, false, &rb);
    CHECK(streq(ra.body, rb.body));
    kv_result_free(&ra);
    kv_result_free(&rb);
    /* the same command gives the same answer on both */
    cas(a, "/x", "3", "2", 0);
    char *ca = strdup(last.body);
    cas(b, "/x", "3", "2", 0);
    CHECK(streq(ca, last.body));
    free(ca);
    /* and a watch reading the history sees the same event */
    struct cap c1 = {0}, c2 = {0};
    struct kv_result w1, w2;
    CHECK(kv_watch(a, "/h", true, kv_index(a) - 500, on_event, &c1, &w1) == NULL);
    CHECK(kv_watch(b, "/h", true, kv_index(b) - 500, on_event, &c2, &w2) == NULL);
    CHECK(streq(w1.body, w2.body));
    kv_result_free(&w1);
    kv_result_free(&w2);
    /* a snapshot of the restored store is byte for byte the same */
    size_t len2;
    char *snap2 = kv_snapshot(b, &len2);
    size_t len1;
    char *snap1 = kv_snapshot(a, &len1);
    CHECK(len1 == len2 && memcmp(snap1, snap2, len1) == 0);
    free(snap1);
    free(snap2);
    free(snap);
    kv_free(a);
    kv_free(b);
    last_clear();
}

TEST(restore_refuses_malformed_snapshots_unchanged)
{
    struct kv *a = kv_new();
    set(a, "/a/b", "1");
    set(a, "/c", "2");
    size_t len;
    char *snap = kv_snapshot(a, &len);
    struct kv *b = kv_new();
    set(b, "/keep", "me");
    uint64_t idx = kv_index(b);
    /* every truncation, and every single byte flipped to 0xff */
    for (size_t cut = 0; cut < len; cut++)
        CHECK_EQ_U((unsigned)(kv_restore(b, snap, cut) + 1), 0);
    for (size_t i = 8; i < len; i++) {
        char *bad = malloc(len);
        memcpy(bad, snap, len);
        bad[i] = (char)0xff;
        kv_restore(b, bad, len); /* may parse (a value byte) or not */
        free(bad);
        kv_restore(b, snap, len);
    }
    struct kv *c = kv_new();
    set(c, "/keep", "me");
    CHECK_EQ_U((unsigned)(kv_restore(c, "x", 1) + 1), 0);
    CHECK_EQ_U(kv_index(c), idx);
    get(c, "/keep", false, false);
    CHECK(streq(jstr("node.value"), "me"));
    /* a pending watch survives a restore and fires on the next change */
    struct cap cp = {0};
    struct kv_result wr;
    struct kv_watch *w = kv_watch(c, "/c", false, 0, on_event, &cp, &wr);
    CHECK(w != NULL);
    CHECK_EQ_U(kv_restore(c, snap, len), 0);
    set(c, "/c", "3");
    CHECK_EQ_U(cp.calls, 1);
    free(cp.body);
    free(snap);
    kv_free(a);
    kv_free(b);
    kv_free(c);
    last_clear();
}

TEST(utf8_validity)
{
    static const struct {
        const char *s;
        bool ok;
    } t[] = {
        {"", true}, {"plain/ascii", true}, {"caf\xc3\xa9", true},
        {"\xe2\x9c\x93", true}, {"\xf0\x9f\x98\x80", true},
        {"\xff\xfe", false}, {"\xc0\x80", false}, {"\xc3", false},
        {"\x80", false}, {"\xed\xa0\x80", false}, {"\xf4\x90\x80\x80", false},
        {"\xe0\x80\xaf", false}, {"ok\xc3\xa9\xff", false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (kv_utf8_valid(t[i].s, strlen(t[i].s)) != t[i].ok) {
            fprintf(stderr, "  case %zu\n", i);
            CHECK(false);
        }
}

/* etcd's store stats: each operation under its etcd name, success or
 * failure; a malformed command counts nowhere; a restore keeps them. */
TEST(operation_stats)
{
    struct kv *kv = kv_new();
    struct kv_stats st;
    set(kv, "/a", "1");            /* set */
    set(kv, "/a/b", "1");          /* set fail: 104 */
    create(kv, "/a", "2");         /* create fail: 105 */
    create(kv, "/c", "2");         /* create */
    post(kv, "/q", "x");           /* create (in order) */
    update(kv, "/a", "3");         /* update */
    update(kv, "/nope", "3");      /* update fail: 100 */
    cas(kv, "/a", "4", "3", 0);    /* compareAndSwap */
    cas(kv, "/a", "5", "x", 0);    /* compareAndSwap fail */
    run(kv, KV_SET, "/a", "6", false, "4", 0, 1, false); /* cas, prevExist */
    cad(kv, "/c", "x", 0);         /* compareAndDelete fail */
    cad(kv, "/c", "2", 0);         /* compareAndDelete */
    del(kv, "/c", false, false);   /* delete fail: 100 */
    del(kv, "/a", false, false);   /* delete */
    get(kv, "/q", true, false);    /* get */
    get(kv, "/a", false, false);   /* get fail */
    get(kv, "/q/x/y", false, false); /* get fail */
    apply_raw(kv, "{", 1);         /* malformed: nowhere */
    kv_get_stats(kv, &st);
    CHECK_EQ_U(st.sets_success, 1);
    CHECK_EQ_U(st.sets_fail, 1);
    CHECK_EQ_U(st.create_success, 2);
    CHECK_EQ_U(st.create_fail, 1);
    CHECK_EQ_U(st.update_success, 1);
    CHECK_EQ_U(st.update_fail, 1);
    CHECK_EQ_U(st.cas_success, 2);
    CHECK_EQ_U(st.cas_fail, 1);
    CHECK_EQ_U(st.cad_success, 1);
    CHECK_EQ_U(st.cad_fail, 1);
    CHECK_EQ_U(st.delete_success, 1);
    CHECK_EQ_U(st.delete_fail, 1);
    CHECK_EQ_U(st.gets_success, 1);
    CHECK_EQ_U(st.gets_fail, 2);
    CHECK_EQ_U(st.expire_count, 0);
    size_t len;
    char *snap = kv_snapshot(kv, &len);
    struct kv *other = kv_new();
    CHECK_EQ_U(kv_restore(other, snap, len), 0);
    struct kv_stats fresh;
    kv_get_stats(other, &fresh);
    CHECK_EQ_U(fresh.sets_success, 0); /* not replicated state */
    CHECK_EQ_U(kv_restore(kv, snap, len), 0);
    struct kv_stats kept;
    kv_get_stats(kv, &kept);
    CHECK(memcmp(&kept, &st, sizeof(st)) == 0);
    free(snap);
    kv_free(other);
    kv_free(kv);
}

/* Two stores in the same state: their snapshots are the same bytes. */
static void check_same_snapshot(const struct kv *a, const struct kv *b)
{
    size_t la, lb;
    char *sa = kv_snapshot(a, &la);
    char *sb = kv_snapshot(b, &lb);
    CHECK(la == lb && memcmp(sa, sb, la) == 0);
    free(sa);
    free(sb);
}

/* ---- TTLs ("now" entries; kv.h, "Time and TTLs") ---- */

#define T0 INT64_C(1765080000000) /* 2025-12-07T04:00:00Z */

/* A write with a TTL (ttl < 0: none) stamped at now. */
static void run_ttl(struct kv *kv, enum kv_op op, const char *k, const char *v,
                    bool dir, int pe, int64_t ttl, bool refresh, int64_t now)
{
    struct kv_cmd c = {.op = op, .key = k, .value = v, .dir = dir,
                       .prev_exist = pe, .has_ttl = ttl >= 0,
                       .ttl = ttl >= 0 ? (uint64_t)ttl : 0,
                       .refresh = refresh, .now_ms = now};
    size_t n;
    char *e = kv_encode(&c, &n);
    CHECK(e != NULL);
    struct kv_result r;
    kv_apply(kv, e, n, &r);
    free(e);
    take(&r);
}

static void sync_at(struct kv *kv, int64_t now)
{
    struct kv_cmd c = {.op = KV_SYNC, .now_ms = now};
    size_t n;
    char *e = kv_encode(&c, &n);
    CHECK(e != NULL);
    struct kv_result r;
    kv_apply(kv, e, n, &r);
    free(e);
    take(&r);
    CHECK_EQ_U(last.status, 200);
}

TEST(ttl_set_read_and_expire)
{
    struct kv *kv = kv_new();
    run_ttl(kv, KV_SET, "/a", "1", false, -1, 5, false, T0);
    CHECK_EQ_U(last.status, 201);
    CHECK_EQ_U(jnum("node.ttl"), 5);
    CHECK(streq(jstr("node.expiration"), "2025-12-07T04:00:05Z"));
    CHECK_EQ_U(kv_ttl_count(kv), 1);
    CHECK(kv_next_expiration(kv) == T0 + 5000);
    CHECK(kv_clock(kv) == T0);
    /* reads count from the later of the store's clock and the read clock,
     * rounding up */
    kv_set_read_clock(kv, T0 + 2500);
    get(kv, "/a", false, false);
    CHECK_EQ_U(jnum("node.ttl"), 3);
    kv_set_read_clock(kv, 0);
    get(kv, "/a", false, false);
    CHECK_EQ_U(jnum("node.ttl"), 5);
    /* a fraction of a second in the expiration */
    run_ttl(kv, KV_SET, "/b", "2", false, -1, 1, false, T0 + 120);
    CHECK(streq(jstr("node.expiration"), "2025-12-07T04:00:01.12Z"));
    /* nothing expires by itself, nor before its time */
    sync_at(kv, T0 + 1119);
    CHECK_EQ_U(jnum("expired"), 0);
    CHECK_EQ_U(kv_index(kv), 2);
    sync_at(kv, T0 + 1120);
    CHECK_EQ_U(jnum("expired"), 1);
    CHECK_EQ_U(kv_index(kv), 3);
    get(kv, "/b", false, false);
    CHECK_ERR(100, 404, "/b", 3);
    sync_at(kv, T0 + 9000);
    CHECK_EQ_U(kv_index(kv), 4);
    get(kv, "/a", false, false);
    CHECK_ERR(100, 404, "/a", 4);
    CHECK_EQ_U(kv_ttl_count(kv), 0);
    CHECK(kv_next_expiration(kv) == 0);
    struct kv_stats st;
    kv_get_stats(kv, &st);
    CHECK_EQ_U(st.expire_count, 2);
    /* the expire event, as etcd's: in the history for waitIndex */
    struct kv_result r;
    struct cap c = {0};
    CHECK(kv_watch(kv, "/a", false, 4, on_event, &c, &r) == NULL);
    take(&r);
    CHECK(streq(jstr("action"), "expire"));
    CHECK(streq(jstr("node.key"), "/a"));
    CHECK_EQ_U(jnum("node.modifiedIndex"), 4);
    CHECK_EQ_U(jnum("node.createdIndex"), 1);
    CHECK(!jhas("node.value"));
    CHECK(streq(jstr("prevNode.value"), "1"));
    CHECK(streq(jstr("prevNode.expiration"), "2025-12-07T04:00:05Z"));
    /* the store's clock never goes back (a new leader's clock may be
     * behind): a late sync expires nothing new and keeps the clock */
    sync_at(kv, T0 + 10);
    CHECK(kv_clock(kv) == T0 + 9000);
    kv_free(kv);
}

TEST(ttl_zero_update_clears_and_refresh)
{
    struct kv *kv = kv_new();
    /* ttl=0 expires at the next "now" entry, as in etcd */
    run_ttl(kv, KV_SET, "/z", "0", false, -1, 0, false, T0);
    CHECK_EQ_U(last.status, 201);
    CHECK(!jhas("node.ttl"));
    CHECK(jhas("node.expiration"));
    /* an update without a ttl makes a key permanent */
    run_ttl(kv, KV_SET, "/p", "v", false, -1, 30, false, T0);
    run_ttl(kv, KV_SET, "/p", "w", false, 1, -1, false, T0);
    CHECK(streq(jstr("action"), "update"));
    CHECK(!jhas("node.expiration"));
    CHECK_EQ_U(jnum("prevNode.ttl"), 30);
    /* refresh: the value stays, the ttl changes, no watcher hears it, the
     * history has it marked */
    run_ttl(kv, KV_SET, "/r", "keep", false, -1, 5, false, T0);
    uint64_t ri = kv_index(kv) + 1;
    struct kv_result r;
    struct cap c = {0};
    struct kv_watch *w = kv_watch(kv, "/r", false, 0, on_event, &c, &r);
    CHECK(w != NULL);
    run_ttl(kv, KV_SET, "/r", NULL, false, 1, 60, true, T0 + 1000);
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(jstr("node.value"), "keep"));
    CHECK_EQ_U(jnum("node.ttl"), 60);
    CHECK(jtrue("refresh"));
    CHECK_EQ_U(c.calls, 0);
    struct cap c2 = {0};
    CHECK(kv_watch(kv, "/r", false, ri, on_event, &c2, &r) == NULL);
    take(&r);
    CHECK(jtrue("refresh"));
    /* set with refresh needs the key */
    run_ttl(kv, KV_SET, "/missing", NULL, false, -1, 5, true, T0);
    CHECK_ERR(100, 404, "/missing", kv_index(kv));
    sync_at(kv, T0 + 1);
    CHECK_EQ_U(jnum("expired"), 1); /* /z */
    CHECK_EQ_U(c.calls, 0);
    sync_at(kv, T0 + 61000);
    CHECK_EQ_U(jnum("expired"), 1); /* /r, refreshed to T0 + 61 s */
    CHECK_EQ_U(c.calls, 1);         /* and its watcher hears the expiry */
    take_cap(&c);
    CHECK(streq(jstr("action"), "expire"));
    get(kv, "/p", false, false);
    CHECK(streq(jstr("node.value"), "w"));
    free(c2.body);
    kv_free(kv);
}

TEST(ttl_directories)
{
    struct kv *kv = kv_new();
    run_ttl(kv, KV_SET, "/dir", NULL, true, -1, 30, false, T0);
    CHECK_EQ_U(last.status, 201);
    CHECK_EQ_U(jnum("node.ttl"), 30);
    set(kv, "/dir/k", "v");
    set(kv, "/dir/sub/k2", "v2");
    /* python-etcd's test_directory_ttl_update */
    run_ttl(kv, KV_SET, "/dir", NULL, true, 1, 31, false, T0 + 10);
    CHECK_EQ_U(last.status, 200);
    CHECK(streq(jstr("action"), "update"));
    CHECK_EQ_U(jnum("node.ttl"), 31);
    get(kv, "/dir", false, false);
    CHECK_EQ_U(jnum("node.ttl"), 31);
    CHECK(jtrue("node.dir"));
    CHECK_EQ_U(jcount("node.nodes"), 2);
    /* a directory is not compared and swapped, nor given a value */
    run(kv, KV_SET, "/dir", "x", false, NULL, 0, 1, false);
    CHECK_ERR(102, 403, "/dir", 4);
    struct kv_result r;
    struct cap child = {0}, top = {0};
    CHECK(kv_watch(kv, "/dir/sub/k2", false, 0, on_event, &child, &r));
    CHECK(kv_watch(kv, "/", true, 0, on_event, &top, &r));
    sync_at(kv, T0 + 31009);
    CHECK_EQ_U(jnum("expired"), 0);
    sync_at(kv, T0 + 31010);
    CHECK_EQ_U(jnum("expired"), 1);
    get(kv, "/dir/k", false, false);
    CHECK_EQ_U(last.status, 404);
    CHECK_EQ_U(child.calls, 1);
    CHECK_EQ_U(top.calls, 1);
    take_cap(&child);
    CHECK(streq(jstr("action"), "expire"));
    CHECK(streq(jstr("node.key"), "/dir"));
    CHECK(jtrue("node.dir"));
    CHECK(jtrue("prevNode.dir"));
    free(top.body);
    /* watching below an expired directory from history finds the event */
    CHECK(kv_watch(kv, "/dir/k", false, 5, on_event, &child, &r) == NULL);
    take(&r);
    CHECK(streq(jstr("action"), "expire"));
    /* a key with a TTL inside a directory with one: either order is fine,
     * each node expires once */
    run_ttl(kv, KV_SET, "/d2", NULL, true, -1, 10, false, T0 + 50000);
    run_ttl(kv, KV_SET, "/d2/k", "v", false, -1, 5, false, T0 + 50000);
    run_ttl(kv, KV_SET, "/d3", NULL, true, -1, 5, false, T0 + 50000);
    run_ttl(kv, KV_SET, "/d3/k", "v", false, -1, 10, false, T0 + 50000);
    CHECK_EQ_U(kv_ttl_count(kv), 4);
    uint64_t before = kv_index(kv);
    sync_at(kv, T0 + 70000);
    CHECK_EQ_U(jnum("expired"), 3); /* /d2/k, /d3 (with /d3/k), /d2 */
    CHECK_EQ_U(kv_index(kv), before + 3);
    CHECK_EQ_U(kv_ttl_count(kv), 0);
    kv_free(kv);
}

/* Ties expire in creation order; a restored store expires exactly as the
 * original: same events at the same indexes, same bytes after. */
TEST(ttl_deterministic_across_snapshots)
{
    struct kv *a = kv_new();
    run_ttl(a, KV_SET, "/x", "1", false, -1, 3, false, T0);
    run_ttl(a, KV_SET, "/y", "2", false, -1, 3, false, T0);
    run_ttl(a, KV_CREATE_IN_ORDER, "/q", "3", false, -1, 2, false, T0 + 1000);
    run_ttl(a, KV_SET, "/dir", NULL, true, -1, 100, false, T0);
    set(a, "/perm", "p");
    size_t len;
    char *snap = kv_snapshot(a, &len);
    struct kv *b = kv_new();
    CHECK(kv_restore(b, snap, len) == 0);
    free(snap);
    CHECK(kv_clock(b) == kv_clock(a));
    CHECK(kv_next_expiration(b) == kv_next_expiration(a));
    CHECK_EQ_U(kv_ttl_count(b), 4);
    get(b, "/dir", false, false);
    CHECK_EQ_U(jnum("node.ttl"), 99); /* from the clock: /q's T0 + 1 s */
    int64_t times[] = {T0 + 2999, T0 + 3000, T0 + 200000};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        sync_at(a, times[i]);
        char *ba = strdup(last.body);
        sync_at(b, times[i]);
        CHECK(streq(ba, last.body));
        free(ba);
    }
    CHECK_EQ_U(kv_index(a), 9);
    check_same_snapshot(a, b);
    /* /x and /y (same expiration) expired in creation order */
    struct kv_result r;
    struct cap c = {0};
    CHECK(kv_watch(a, "/", true, 6, on_event, &c, &r) == NULL);
    take(&r);
    CHECK(streq(jstr("node.key"), "/x"));
    CHECK(kv_watch(a, "/", true, 7, on_event, &c, &r) == NULL);
    take(&r);
    CHECK(streq(jstr("node.key"), "/y"));
    get(a, "/perm", false, false);
    CHECK_EQ_U(last.status, 200);
    kv_free(a);
    kv_free(b);
}

TEST(ttl_commands_encoded_and_refused)
{
    struct kv_cmd c = {.op = KV_SYNC, .now_ms = 1234};
    size_t n;
    char *e = kv_encode(&c, &n);
    CHECK(streq(e, "{\"op\":\"sync\",\"now\":\"1234\"}"));
    free(e);
    struct kv_cmd t = {.op = KV_SET, .key = "/k", .prev_exist = 1,
                       .has_ttl = true, .ttl = 7, .refresh = true,
                       .now_ms = 99};
    e = kv_encode(&t, &n);
    CHECK(streq(e, "{\"op\":\"set\",\"key\":\"/k\",\"prevExist\":true,"
                   "\"ttl\":\"7\",\"refresh\":true,\"now\":\"99\"}"));
    free(e);
    c.now_ms = 0;
    CHECK(kv_encode(&c, &n) == NULL);
    t.ttl = KV_TTL_MAX + 1;
    CHECK(kv_encode(&t, &n) == NULL);
    struct kv *kv = kv_new();
    set(kv, "/k", "v");
    static const char *bad[] = {
        "{\"op\":\"sync\"}",
        "{\"op\":\"sync\",\"now\":\"0\"}",
        "{\"op\":\"sync\",\"now\":5}",
        "{\"op\":\"sync\",\"now\":\"5\",\"key\":\"/k\"}",
        "{\"op\":\"sync\",\"now\":\"99999999999999999\"}",
        "{\"op\":\"set\",\"key\":\"/k\",\"refresh\":true}",
        "{\"op\":\"set\",\"key\":\"/k\",\"ttl\":\"315360001\"}",
        "{\"op\":\"set\",\"key\":\"/k\",\"ttl\":\"-1\"}",
        "{\"op\":\"set\",\"key\":\"/k\",\"ttl\":\"1\",\"ttl\":\"2\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        apply_raw(kv, bad[i], strlen(bad[i]));
        CHECK_EQ_U(last.ecode, 209);
        CHECK_EQ_U(kv_index(kv), 1);
    }
    CHECK(kv_clock(kv) == 0);
    kv_free(kv);
}

/* Snapshots of stores with TTLs refuse what cannot be right. */
TEST(ttl_snapshot_records_checked)
{
    struct kv *a = kv_new();
    run_ttl(a, KV_SET, "/x", "1", false, -1, 3, false, T0);
    size_t len;
    char *snap = kv_snapshot(a, &len);
    struct kv *b = kv_new();
    for (size_t cut = 0; cut < len; cut++)
        CHECK(kv_restore(b, snap, cut) == -1);
    CHECK(kv_restore(b, snap, len) == 0);
    /* an expiration of 0 in a TTL record: refused */
    char *z = malloc(len);
    memcpy(z, snap, len);
    /* u64 index, u8 6 + u64 clock, u8 4, u32 1, "x", u64 created, u64
     * modified, u32 1, "1", then the expiration */
    size_t at = 8 + 9 + 1 + 4 + 1 + 8 + 8 + 4 + 1;
    CHECK(z[17] == 4 && z[at - 1] == '1');
    uint64_t exp = 0;
    for (unsigned i = 0; i < 8; i++)
        exp |= (uint64_t)(unsigned char)z[at + i] << (8 * i);
    CHECK(exp == (uint64_t)T0 + 3000);
    memset(z + at, 0, 8);
    struct kv *c = kv_new();
    CHECK(kv_restore(c, z, len) == -1);
    free(z);
    free(snap);
    kv_free(a);
    kv_free(b);
    kv_free(c);
}

/* Nodes made by one command share a createdIndex: a directory and the key
 * below it, with the same expiration, expire in the same order in a store
 * restored from a snapshot (tree order) as in the original (helper-20's
 * review found they did not). */
TEST(ttl_ties_on_one_path_restore_alike)
{
    struct kv *a = kv_new();
    set(a, "/d/f", "v"); /* /d and /d/f: createdIndex 1 */
    run_ttl(a, KV_SET, "/d/f", "v", false, 1, 10, false, T0);
    run_ttl(a, KV_SET, "/d", NULL, true, 1, 10, false, T0);
    size_t len;
    char *snap = kv_snapshot(a, &len);
    struct kv *b = kv_new();
    CHECK(kv_restore(b, snap, len) == 0);
    free(snap);
    sync_at(a, T0 + 10000);
    char *ba = strdup(last.body);
    sync_at(b, T0 + 10000);
    CHECK(streq(ba, last.body));
    CHECK_EQ_U(jnum("expired"), 1); /* /d first, /d/f with it */
    free(ba);
    CHECK_EQ_U(kv_index(a), kv_index(b));
    check_same_snapshot(a, b);
    kv_free(a);
    kv_free(b);
}

/* A large store with directories, TTLs, replaced values and deletions
 * survives a snapshot round trip (kv_restore loads in two passes and keeps
 * values in the node's block: issue 13): the restored store's snapshot is
 * the original's byte for byte, and both answer the same commands alike,
 * expirations included, before and after more changes. */
static void same_answer(struct kv *a, struct kv *b, void (*op)(struct kv *))
{
    op(a);
    char *ba = last.body ? strdup(last.body) : NULL;
    op(b);
    CHECK(streq(ba, last.body));
    free(ba);
}

static int big_i;
static void big_update(struct kv *kv)
{
    char k[48];
    snprintf(k, sizeof k, "/d%02d/s%d/k%d", big_i % 40, big_i % 7, big_i);
    update(kv, k, "replaced after the restore");
}
static void big_delete(struct kv *kv)
{
    char k[48];
    snprintf(k, sizeof k, "/d%02d/s%d/k%d", big_i % 40, big_i % 7, big_i);
    del(kv, k, false, false);
}
static void big_rmdir(struct kv *kv)
{
    del(kv, "/d07", true, true);
}
static void big_expire(struct kv *kv)
{
    sync_at(kv, T0 + 1000 * (int64_t)big_i);
}

TEST(snapshot_round_trip_large_store)
{
    struct kv *a = kv_new();
    char k[48], v[48];
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof k, "/d%02d/s%d/k%d", i % 40, i % 7, i);
        snprintf(v, sizeof v, "%.*s", i % 40, "value of some length, up to 40");
        if (i % 5 == 0)
            run_ttl(a, KV_SET, k, v, false, -1, 1 + i % 97, false, T0);
        else
            set(a, k, v);
    }
    for (int i = 0; i < 20000; i += 3) { /* values allocated on their own */
        snprintf(k, sizeof k, "/d%02d/s%d/k%d", i % 40, i % 7, i);
        update(a, k, i % 2 ? "" : "updated");
    }
    for (int i = 1; i < 20000; i += 11) {
        snprintf(k, sizeof k, "/d%02d/s%d/k%d", i % 40, i % 7, i);
        del(a, k, false, false);
    }
    for (int i = 0; i < 30; i++) { /* directories with TTLs, and empty ones */
        snprintf(k, sizeof k, "/t%d", i);
        run_ttl(a, KV_SET, k, NULL, true, -1, 50 + i % 4, false, T0);
        snprintf(k, sizeof k, "/t%d/x/y", i);
        set(a, k, "under a dir with a ttl");
        snprintf(k, sizeof k, "/empty%d", i);
        mkdir_(a, k, -1);
    }
    size_t len;
    char *snap = kv_snapshot(a, &len);
    struct kv *b = kv_new();
    set(b, "/old", "replaced by the restore");
    CHECK_EQ_U(kv_restore(b, snap, len), 0);
    free(snap);
    check_same_snapshot(a, b);
    CHECK_EQ_U(kv_count(b), kv_count(a));
    CHECK_EQ_U(kv_ttl_count(b), kv_ttl_count(a));
    CHECK(kv_next_expiration(b) == kv_next_expiration(a));
    for (big_i = 0; big_i < 20000; big_i += 13)
        same_answer(a, b, big_update);
    for (big_i = 2; big_i < 20000; big_i += 17)
        same_answer(a, b, big_delete);
    same_answer(a, b, big_rmdir);
    for (big_i = 1; big_i <= 100; big_i += 3) /* expirations, heap order */
        same_answer(a, b, big_expire);
    CHECK_EQ_U(kv_index(b), kv_index(a));
    check_same_snapshot(a, b);
    kv_free(a);
    kv_free(b);
    last_clear();
}

/* Two siblings of one name in a snapshot: refused (the table is filled
 * after the tree now, and still finds them), the store unchanged. */
TEST(restore_refuses_duplicate_names)
{
    struct kv *a = kv_new();
    set(a, "/d/x", "1");
    set(a, "/d/y", "2");
    size_t len;
    char *snap = kv_snapshot(a, &len);
    char *y = memmem(snap, len, "\x01\0\0\0y", 5);
    CHECK(y != NULL);
    if (y)
        y[4] = 'x';
    struct kv *b = kv_new();
    set(b, "/keep", "me");
    CHECK_EQ_U((unsigned)(kv_restore(b, snap, len) + 1), 0);
    CHECK_EQ_U(kv_count(b), 1);
    get(b, "/keep", false, false);
    CHECK(streq(jstr("node.value"), "me"));
    free(snap);
    kv_free(a);
    kv_free(b);
    last_clear();
}

/* One sync expires at most KV_SYNC_MAX nodes, and each watcher gets its
 * own key's event even when the history ring turns over meanwhile. */
TEST(ttl_sync_bounded_and_watchers_get_their_event)
{
    struct kv *kv = kv_new();
    char key[32];
    int total = KV_SYNC_MAX * 2 + 1;
    for (int i = 0; i < total; i++) {
        snprintf(key, sizeof key, "/k%d", i);
        run_ttl(kv, KV_SET, key, "v", false, -1, 1, false, T0);
    }
    struct kv_result r;
    struct cap c0 = {0}, clast = {0};
    CHECK(kv_watch(kv, "/k0", false, 0, on_event, &c0, &r));
    snprintf(key, sizeof key, "/k%d", KV_SYNC_MAX - 1);
    CHECK(kv_watch(kv, key, false, 0, on_event, &clast, &r));
    sync_at(kv, T0 + 1000);
    CHECK_EQ_U(jnum("expired"), KV_SYNC_MAX);
    CHECK_EQ_U(c0.calls, 1);
    CHECK_EQ_U(clast.calls, 1);
    take_cap(&c0);
    CHECK(streq(jstr("node.key"), "/k0"));
    take_cap(&clast);
    CHECK(streq(jstr("node.key"), key));
    CHECK(kv_next_expiration(kv) == T0 + 1000);
    sync_at(kv, T0 + 1000);
    CHECK_EQ_U(jnum("expired"), KV_SYNC_MAX);
    sync_at(kv, T0 + 1000);
    CHECK_EQ_U(jnum("expired"), 1);
    CHECK_EQ_U(kv_ttl_count(kv), 0);
    CHECK_EQ_U(kv_index(kv), (uint64_t)total * 2);
    kv_free(kv);
}

TEST(ttl_refresh_edges_and_prev_node_time)
{
    struct kv *kv = kv_new();
    /* etcd's Create ignores refresh */
    run_ttl(kv, KV_SET, "/c", "", false, 0, 5, true, T0);
    CHECK_EQ_U(last.status, 201);
    CHECK(!jhas("refresh"));
    run_ttl(kv, KV_CREATE_IN_ORDER, "/q", NULL, false, -1, 5, true, T0);
    CHECK_EQ_U(last.status, 201);
    CHECK(!jhas("refresh"));
    /* refresh reads the value first: a directory or the root is 102 */
    run_ttl(kv, KV_SET, "/dir", NULL, true, -1, 5, false, T0);
    run_ttl(kv, KV_SET, "/dir", NULL, false, -1, 5, true, T0);
    CHECK_ERR(102, 403, "/dir", 3);
    run_ttl(kv, KV_SET, "/", NULL, false, -1, 5, true, T0);
    CHECK_ERR(102, 403, "/", 3);
    /* a write without a ttl but with the time: prevNode's ttl counts from
     * it (keys_api stamps writes while the store has TTLs) */
    run_ttl(kv, KV_SET, "/c", "plain", false, -1, -1, false, T0 + 3000);
    CHECK_EQ_U(jnum("prevNode.ttl"), 2);
    CHECK(!jhas("node.ttl"));
    kv_free(kv);
}

int main(void)
{
    RUN(utf8_validity);
    RUN(set_creates_then_replaces);
    RUN(key_normalization);
    RUN(implicit_directories);
    RUN(set_errors);
    RUN(mkdir_and_dir_flag);
    RUN(create_prev_exist_false);
    RUN(update_prev_exist_true);
    RUN(compare_and_swap);
    RUN(delete_files_and_dirs);
    RUN(compare_and_delete);
    RUN(post_in_order);
    RUN(listing);
    RUN(index_arithmetic);
    RUN(watch_from_history);
    RUN(watch_waits_then_fires);
    RUN(watch_recursive_and_hidden);
    RUN(watch_parent_delete);
    RUN(watch_history_cleared);
    RUN(watch_future_index);
    RUN(watch_cancel);
    RUN(determinism);
    RUN(garbage_commands);
    RUN(json_escaping);
    RUN(encode_format);
    RUN(error_helper);
    RUN(scale_and_depth);
    RUN(snapshot_restores_identical_store);
    RUN(restore_refuses_malformed_snapshots_unchanged);
    RUN(operation_stats);
    RUN(ttl_set_read_and_expire);
    RUN(ttl_zero_update_clears_and_refresh);
    RUN(ttl_directories);
    RUN(ttl_deterministic_across_snapshots);
    RUN(ttl_commands_encoded_and_refused);
    RUN(ttl_snapshot_records_checked);
    RUN(ttl_ties_on_one_path_restore_alike);
    RUN(ttl_sync_bounded_and_watchers_get_their_event);
    RUN(snapshot_round_trip_large_store);
    RUN(restore_refuses_duplicate_names);
    RUN(ttl_refresh_edges_and_prev_node_time);
    last_clear();
    return test_summary();
}
