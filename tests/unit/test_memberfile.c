/* test_memberfile.c - unit tests of the members record (src/daemon/
 * memberfile.c): its text, damaged and missing records, the comparison
 * with a config file, and the members part of snapshot payloads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/crc32c.h"
#include "daemon/memberfile.h"
#include "daemon/snapfile.h"
#include "test.h"

static char tmp[256];

static void list3(struct member_list *l)
{
    memset(l, 0, sizeof(*l));
    l->cluster_id = 0x0123456789abcdefull;
    l->n = 3;
    for (unsigned i = 0; i < 3; i++) {
        l->m[i].id = i + 1;
        snprintf(l->m[i].url, sizeof(l->m[i].url), "http://10.0.0.%u:7001",
                 i + 1);
    }
}

static void write_bytes(const char *dir, const char *name, const void *b,
                        size_t len)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(2);
    }
    fwrite(b, 1, len, f);
    fclose(f);
}

static const char *new_dir(void)
{
    static char d[320];
    static int k;
    snprintf(d, sizeof(d), "%s/d%d", tmp, k++);
    if (mkdir(d, 0700) < 0) {
        perror(d);
        exit(2);
    }
    return d;
}

TEST(test_text_is_readable_and_round_trips)
{
    struct member_list l, back;
    list3(&l);
    size_t len;
    char *t = memberfile_encode(&l, &len);
    CHECK(t != NULL);
    CHECK(strncmp(t, "raftd members 1\n", 16) == 0);
    CHECK(strstr(t, "\nmember 1 http://10.0.0.1:7001\n") != NULL);
    CHECK(strstr(t, "\nmember 3 http://10.0.0.3:7001\n") != NULL);
    CHECK(strstr(t, "\ncluster 0123456789abcdef\n") != NULL);
    CHECK(strstr(t, "\ncrc32c ") != NULL);
    CHECK_EQ_U(t[len - 1], '\n');
    char err[512];
    CHECK(memberfile_decode(t, len, &back, "rec", err, sizeof(err)) == 0);
    CHECK(member_list_equal(&l, &back));
    free(t);
    /* https:// members (TLS) */
    snprintf(l.m[1].url, sizeof(l.m[1].url), "https://10.0.0.2:7001");
    t = memberfile_encode(&l, &len);
    CHECK(strstr(t, "\nmember 2 https://10.0.0.2:7001\n") != NULL);
    CHECK(memberfile_decode(t, len, &back, "rec", err, sizeof(err)) == 0);
    CHECK(member_list_equal(&l, &back));
    free(t);
}

/* Every single-byte change and every truncation is refused. */
TEST(test_damaged_and_truncated_records_refused)
{
    struct member_list l, back;
    list3(&l);
    size_t len;
    char *t = memberfile_encode(&l, &len);
    char err[512];
    unsigned refused = 0;
    for (size_t i = 0; i < len; i++) {
        char *c = malloc(len);
        memcpy(c, t, len);
        c[i] ^= 0x01;
        if (memberfile_decode(c, len, &back, "rec", err, sizeof(err)) < 0)
            refused++;
        else
            fprintf(stderr, "  flipping byte %zu was accepted\n", i);
        free(c);
    }
    CHECK_EQ_U(refused, len);
    for (size_t cut = 0; cut < len; cut++)
        CHECK(memberfile_decode(t, cut, &back, "rec", err, sizeof(err)) < 0);
    /* bytes after the checksum line */
    char *longer = malloc(len + 2);
    memcpy(longer, t, len);
    memcpy(longer + len, "x\n", 2);
    CHECK(memberfile_decode(longer, len + 2, &back, "rec", err,
                            sizeof(err)) < 0);
    free(longer);
    free(t);
}

/* A record with a correct checksum is still refused when its lines are
 * wrong: members out of order, duplicates, none at all. */
TEST(test_malformed_records_with_valid_checksums_refused)
{
    struct member_list l, back;
    char err[512];
    size_t len;
    list3(&l);
    l.m[0].id = 2; /* 2, 2, 3 */
    char *t = memberfile_encode(&l, &len);
    CHECK(memberfile_decode(t, len, &back, "rec", err, sizeof(err)) < 0);
    CHECK(strstr(err, "malformed line") != NULL);
    free(t);
    l.n = 0;
    t = memberfile_encode(&l, &len);
    CHECK(memberfile_decode(t, len, &back, "rec", err, sizeof(err)) < 0);
    CHECK(strstr(err, "no members") != NULL);
    free(t);
}

/* The first version of the record had no cluster line: the id is derived
 * from the members, as at bootstrap. */
TEST(test_cluster_id_is_derived_from_the_members)
{
    char dir[400], err[1024];
    snprintf(dir, sizeof(dir), "%s/cid", tmp);
    mkdir(dir, 0700);
    char conf[500];
    snprintf(conf, sizeof(conf), "%s/c.conf", dir);
    FILE *f = fopen(conf, "w");
    fputs("id = 1;\nmembers = ( { id = 1; url = \"http://10.0.0.1:7001\"; },"
          " { id = 2; url = \"http://10.0.0.2:7001\"; } );\n", f);
    fclose(f);
    struct raftd_config cfg;
    config_defaults(&cfg);
    CHECK(config_load(&cfg, conf, err, sizeof(err)) == 0);
    struct member_list a, b, old;
    CHECK(member_list_from_config(&cfg, &a) == 0);
    CHECK(a.cluster_id != 0);
    config_free(&cfg);
    /* the same list, another order: the same id */
    f = fopen(conf, "w");
    fputs("id = 1;\nmembers = ( { id = 2; url = \"http://10.0.0.2:7001\"; },"
          " { id = 1; url = \"http://10.0.0.1:7001\"; } );\n", f);
    fclose(f);
    config_defaults(&cfg);
    CHECK(config_load(&cfg, conf, err, sizeof(err)) == 0);
    CHECK(member_list_from_config(&cfg, &b) == 0);
    CHECK_EQ_U(a.cluster_id, b.cluster_id);
    config_free(&cfg);
    /* another list: another id */
    f = fopen(conf, "w");
    fputs("id = 1;\nmembers = ( { id = 1; url = \"http://10.0.0.1:7001\"; },"
          " { id = 2; url = \"http://10.0.0.3:7001\"; } );\n", f);
    fclose(f);
    config_defaults(&cfg);
    CHECK(config_load(&cfg, conf, err, sizeof(err)) == 0);
    CHECK(member_list_from_config(&cfg, &b) == 0);
    CHECK(a.cluster_id != b.cluster_id);
    config_free(&cfg);
    /* a record without the cluster line */
    size_t len;
    char *t = memberfile_encode(&a, &len);
    char *cl = strstr(t, "cluster ");
    memmove(cl, cl + 25, strlen(cl + 25) + 1);
    char *crc = strstr(t, "crc32c ");
    *crc = 0;
    char text[2048];
    snprintf(text, sizeof(text), "%scrc32c %08x\n", t,
             crc32c(0, t, strlen(t)));
    CHECK(memberfile_decode(text, strlen(text), &old, "rec", err,
                            sizeof(err)) == 0);
    CHECK_EQ_U(old.cluster_id, a.cluster_id);
    CHECK(member_list_equal(&old, &a));
    free(t);
}

TEST(test_missing_record_reads_as_none)
{
    struct member_list l;
    char err[512];
    const char *d = new_dir();
    CHECK(memberfile_read(-1, d, &l, err, sizeof(err)) == 0);
    char nodir[400];
    snprintf(nodir, sizeof(nodir), "%s/does-not-exist", d);
    CHECK(memberfile_read(-1, nodir, &l, err, sizeof(err)) == 0);
}

TEST(test_write_then_read)
{
    struct member_list l, back;
    char err[512];
    list3(&l);
    const char *d = new_dir();
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    CHECK(memberfile_write(fd, d, &l, err, sizeof(err)) == 0);
    CHECK(memberfile_read(fd, d, &back, err, sizeof(err)) == 1);
    CHECK(member_list_equal(&l, &back));
    CHECK(memberfile_read(-1, d, &back, err, sizeof(err)) == 1);
    close(fd);
    /* no temporary file left behind */
    char p[512];
    snprintf(p, sizeof(p), "%s/members.tmp.%ld", d, (long)getpid());
    CHECK(access(p, F_OK) < 0);
}

TEST(test_damaged_file_says_what_to_do)
{
    struct member_list l;
    char err[1024];
    const char *d = new_dir();
    const char *bad = "raftd members 1\nmember 1 http://a:1\ncrc32c 00000000\n";
    write_bytes(d, MEMBERFILE_NAME, bad, strlen(bad));
    CHECK(memberfile_read(-1, d, &l, err, sizeof(err)) == -1);
    CHECK(strstr(err, d) != NULL);
    CHECK(strstr(err, "checksum mismatch") != NULL);
    CHECK(strstr(err, "remove") != NULL);
    /* an empty file (a crash cannot leave one: it is renamed into place) */
    const char *d2 = new_dir();
    write_bytes(d2, MEMBERFILE_NAME, "", 0);
    CHECK(memberfile_read(-1, d2, &l, err, sizeof(err)) == -1);
    CHECK(strstr(err, "not a raftd members record") != NULL);
}

TEST(test_diff_names_every_difference)
{
    struct member_list rec, file;
    char buf[1024];
    list3(&rec);
    list3(&file);
    CHECK_EQ_U(member_list_diff(&rec, &file, buf, sizeof(buf)), 0);
    CHECK(member_list_equal(&rec, &file));
    file.m[3] = (struct member_entry){.id = 4, .url = "http://10.0.0.4:7001"};
    file.n = 4;
    snprintf(file.m[1].url, sizeof(file.m[1].url), "http://10.0.0.9:7001");
    file.m[0] = file.m[1]; /* drop node 1: 2, 3, 4 */
    file.m[1] = file.m[2];
    file.m[2] = file.m[3];
    file.n = 3;
    CHECK_EQ_U(member_list_diff(&rec, &file, buf, sizeof(buf)), 3);
    CHECK(strstr(buf, "node 4 (http://10.0.0.4:7001) was added") != NULL);
    CHECK(strstr(buf, "node 1 (http://10.0.0.1:7001) was removed") != NULL);
    CHECK(strstr(buf, "node 2's url changed from http://10.0.0.2:7001 to "
                      "http://10.0.0.9:7001") != NULL);
    CHECK(!member_list_equal(&rec, &file));
    /* the scheme alone may change: the cluster switched to TLS */
    list3(&file);
    snprintf(file.m[1].url, sizeof(file.m[1].url), "https://10.0.0.2:7001");
    CHECK_EQ_U(member_list_diff(&rec, &file, buf, sizeof(buf)), 0);
    snprintf(file.m[1].url, sizeof(file.m[1].url), "https://10.0.0.2:7002");
    CHECK_EQ_U(member_list_diff(&rec, &file, buf, sizeof(buf)), 1);
    CHECK(strstr(buf, "node 2's url changed from http://10.0.0.2:7001 to "
                      "https://10.0.0.2:7002") != NULL);
}

static const char *write_conf(const char *dir, const char *members)
{
    static char p[400];
    snprintf(p, sizeof(p), "%s/raftd.conf", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "id = 1;\nlisten = \"127.0.0.1:7001\";\ndata_dir = \"%s/data\";\n"
            "members = (\n%s);\n", dir, members);
    fclose(f);
    return p;
}

#define M3 "{ id = 1; url = \"http://10.0.0.1:7001\"; },\n" \
           "{ id = 2; url = \"http://10.0.0.2:7001\"; },\n" \
           "{ id = 3; url = \"http://10.0.0.3:7001\"; }\n"

TEST(test_config_compared_with_record)
{
    const char *d = new_dir();
    char data[400], err[3072];
    snprintf(data, sizeof(data), "%s/data", d);
    struct raftd_config cfg;
    config_defaults(&cfg);
    CHECK(config_load(&cfg, write_conf(d, M3), err, sizeof(err)) == 0);
    /* no data directory yet, then one without a record: nothing to check */
    CHECK(memberfile_check_config(&cfg, err, sizeof(err)) == 0);
    mkdir(data, 0700);
    CHECK(memberfile_check_config(&cfg, err, sizeof(err)) == 0);
    struct member_list l;
    CHECK(member_list_from_config(&cfg, &l) == 0);
    int fd = open(data, O_RDONLY | O_DIRECTORY);
    CHECK(memberfile_write(fd, data, &l, err, sizeof(err)) == 0);
    close(fd);
    CHECK(memberfile_check_config(&cfg, err, sizeof(err)) == 0);
    config_free(&cfg);

    /* the same members in another order: the same list */
    config_defaults(&cfg);
    CHECK(config_load(&cfg, write_conf(d,
              "{ id = 3; url = \"http://10.0.0.3:7001\"; },\n"
              "{ id = 1; url = \"http://10.0.0.1:7001\"; },\n"
              "{ id = 2; url = \"http://10.0.0.2:7001\"; }\n"), err,
              sizeof(err)) == 0);
    CHECK(memberfile_check_config(&cfg, err, sizeof(err)) == 0);
    config_free(&cfg);

    /* two added: refused, naming the file and the members line */
    config_defaults(&cfg);
    CHECK(config_load(&cfg, write_conf(d, M3 ",\n"
              "{ id = 4; url = \"http://10.0.0.4:7001\"; },\n"
              "{ id = 5; url = \"http://10.0.0.5:7001\"; }\n"), err,
              sizeof(err)) == 0);
    CHECK(memberfile_check_config(&cfg, err, sizeof(err)) == -1);
    char want[500];
    snprintf(want, sizeof(want), "%s:4: the members list differs", cfg.path);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK(strstr(err, "node 4 (http://10.0.0.4:7001) was added") != NULL);
    CHECK(strstr(err, "node 5 (http://10.0.0.5:7001) was added") != NULL);
    CHECK(strstr(err, "not supported yet") != NULL);
    CHECK(strstr(err, "move every member's data directory aside") != NULL);
    if (strncmp(err, want, strlen(want)) != 0)
        fprintf(stderr, "  got: %s\n", err);
    config_free(&cfg);

    /* a URL changed */
    config_defaults(&cfg);
    CHECK(config_load(&cfg, write_conf(d,
              "{ id = 1; url = \"http://10.0.0.1:7001\"; },\n"
              "{ id = 2; url = \"http://10.0.0.2:7002\"; },\n"
              "{ id = 3; url = \"http://10.0.0.3:7001\"; }\n"), err,
              sizeof(err)) == 0);
    CHECK(memberfile_check_config(&cfg, err, sizeof(err)) == -1);
    CHECK(strstr(err, "node 2's url changed from http://10.0.0.2:7001 to "
                      "http://10.0.0.2:7002") != NULL);
    config_free(&cfg);
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Snapshots carry the record as a third part; the two-part payloads of
 * older raftd still split (without one). */
TEST(test_snapshot_payload_members_part)
{
    struct snapfile_parts in = {"KV", 2, "DD", 2, "MEMBERS", 7}, out;
    size_t len;
    uint8_t *img = snapfile_build(5, 2, &in, &len);
    CHECK(img != NULL);
    const uint8_t *pl = img + SNAPFILE_HEADER;
    size_t plen = len - SNAPFILE_HEADER;
    CHECK_EQ_U(plen, 8 + 2 + 8 + 2 + 8 + 7);
    CHECK(snapfile_split(pl, plen, &out) == 0);
    CHECK_EQ_U(out.members_len, 7);
    CHECK(memcmp(out.members, "MEMBERS", 7) == 0);
    CHECK_EQ_U(out.kv_len, 2);
    CHECK_EQ_U(out.dedup_len, 2);
    /* the older two-part payload: the same bytes without the third part */
    CHECK(snapfile_split(pl, 8 + 2 + 8 + 2, &out) == 0);
    CHECK_EQ_U(out.members_len, 0);
    CHECK(out.members == NULL);
    /* truncated or padded third part, one part only */
    CHECK(snapfile_split(pl, plen - 1, &out) < 0);
    CHECK(snapfile_split(pl, 8 + 2 + 8 + 2 + 4, &out) < 0);
    CHECK(snapfile_split(pl, 8 + 2, &out) < 0);
    CHECK_EQ_U(get_u64(pl + 20), 7);
    free(img);
}

/* A record is not NUL-terminated (a snapshot's part ends where the image
 * does): decoding reads its len bytes and nothing after them. Found by
 * fuzzing (tests/fuzz/fuzz_snapshot.c): the cluster line was parsed with
 * sscanf() on the text itself, which read on to a NUL byte. */
TEST(test_decode_reads_only_the_record)
{
    struct member_list l, got;
    list3(&l);
    size_t len;
    char *text = memberfile_encode(&l, &len);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    CHECK(text && len < page);
    char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(map != MAP_FAILED);
    if (!text || map == MAP_FAILED)
        return;
    CHECK(mprotect(map + page, page, PROT_NONE) == 0); /* reading on faults */
    char *at = map + page - len;
    memcpy(at, text, len);
    char err[600];
    CHECK(memberfile_decode(at, len, &got, "test", err, sizeof(err)) == 0);
    CHECK(member_list_equal(&l, &got));
    munmap(map, 2 * page);
    free(text);
}

/* A record whose last line is shorter than "crc32c " is refused without
 * reading past its end (found by fuzzing: it compared 7 bytes there). */
TEST(test_short_last_line_refused_within_the_record)
{
    static const char text[] = "raftd members 1\nmember 1 http://a:1\n\n";
    size_t len = sizeof(text) - 1, page = (size_t)sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(map != MAP_FAILED);
    if (map == MAP_FAILED)
        return;
    CHECK(mprotect(map + page, page, PROT_NONE) == 0);
    char *at = map + page - len;
    memcpy(at, text, len);
    struct member_list l;
    char err[600];
    CHECK(memberfile_decode(at, len, &l, "test", err, sizeof(err)) < 0);
    CHECK(strstr(err, "checksum line") != NULL);
    munmap(map, 2 * page);
}

int main(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/raftd-test-memberfile-XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_text_is_readable_and_round_trips);
    RUN(test_damaged_and_truncated_records_refused);
    RUN(test_malformed_records_with_valid_checksums_refused);
    RUN(test_cluster_id_is_derived_from_the_members);
    RUN(test_missing_record_reads_as_none);
    RUN(test_write_then_read);
    RUN(test_damaged_file_says_what_to_do);
    RUN(test_diff_names_every_difference);
    RUN(test_config_compared_with_record);
    RUN(test_snapshot_payload_members_part);
    RUN(test_decode_reads_only_the_record);
    RUN(test_short_last_line_refused_within_the_record);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmp);
    return test_summary();
}
