/* test.h - a minimal unit-test harness for raftd's C tests.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ_U(a, b); }
 *   int main(void) { RUN(name); ...; return test_summary(); }
 *
 * Each failed CHECK prints file:line and the expression; test_summary()
 * prints "N passed, N failed" and returns the exit status for automake
 * (0 all passed, 1 otherwise).
 */
#ifndef RAFTD_TEST_H
#define RAFTD_TEST_H

#include <inttypes.h>
#include <stdio.h>

static int test_passed_, test_failed_, test_cur_failed_;
static const char *test_cur_name_;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__,  \
                    __LINE__, test_cur_name_, #cond);                   \
            test_cur_failed_ = 1;                                       \
        }                                                               \
    } while (0)

#define CHECK_EQ_U(a, b)                                                \
    do {                                                                \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                \
        if (a_ != b_) {                                                 \
            fprintf(stderr, "%s:%d: %s: %s == %s failed: %" PRIu64      \
                    " != %" PRIu64 "\n", __FILE__, __LINE__,            \
                    test_cur_name_, #a, #b, a_, b_);                    \
            test_cur_failed_ = 1;                                       \
        }                                                               \
    } while (0)

#define RUN(name)                                                       \
    do {                                                                \
        test_cur_name_ = #name;                                         \
        test_cur_failed_ = 0;                                           \
        name();                                                         \
        if (test_cur_failed_) {                                         \
            test_failed_++;                                             \
            printf("FAIL: %s\n", #name);                                \
        } else {                                                        \
            test_passed_++;                                             \
            printf("ok: %s\n", #name);                                  \
        }                                                               \
    } while (0)

static inline int test_summary(void)
{
    printf("%d passed, %d failed\n", test_passed_, test_failed_);
    return test_failed_ ? 1 : 0;
}

#endif
