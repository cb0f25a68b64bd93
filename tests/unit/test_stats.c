/* test_stats.c - raftd-bench's statistics against known sample sets. */
#include <math.h>
#include <stdlib.h>

#include "../../src/bench/stats.h"
#include "test.h"

static void fill(struct samples *s, const uint64_t *v, size_t n)
{
    samples_init(s);
    for (size_t i = 0; i < n; i++)
        samples_add(s, v[i]);
}

static int close_to(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b) + 1);
}

/* 1..100 shuffled: nearest-rank percentiles are exact ranks. */
TEST(percentiles_1_to_100)
{
    uint64_t v[100];
    for (int i = 0; i < 100; i++)
        v[i] = (uint64_t)((i * 37) % 100 + 1); /* a permutation of 1..100 */
    struct samples s;
    fill(&s, v, 100);
    CHECK(!s.sorted);
    CHECK_EQ_U(samples_percentile(&s, 50), 50);
    CHECK_EQ_U(samples_percentile(&s, 90), 90);
    CHECK_EQ_U(samples_percentile(&s, 99), 99);
    CHECK_EQ_U(samples_percentile(&s, 99.9), 100);
    CHECK_EQ_U(samples_percentile(&s, 1), 1);
    CHECK_EQ_U(samples_percentile(&s, 0), 1);
    CHECK_EQ_U(samples_percentile(&s, 100), 100);
    CHECK_EQ_U(samples_min(&s), 1);
    CHECK_EQ_U(samples_max(&s), 100);
    CHECK(close_to(samples_mean(&s), 50.5));
    for (int i = 0; i < 100; i++)
        CHECK_EQ_U(s.v[i], (uint64_t)i + 1);
    samples_free(&s);
}

/* The textbook nearest-rank example: {15, 20, 35, 40, 50}. */
TEST(percentiles_wikipedia)
{
    uint64_t v[] = {35, 20, 15, 50, 40};
    struct samples s;
    fill(&s, v, 5);
    CHECK_EQ_U(samples_percentile(&s, 5), 15);
    CHECK_EQ_U(samples_percentile(&s, 30), 20);
    CHECK_EQ_U(samples_percentile(&s, 40), 20);
    CHECK_EQ_U(samples_percentile(&s, 50), 35);
    CHECK_EQ_U(samples_percentile(&s, 100), 50);
    CHECK(close_to(samples_mean(&s), 32.0));
    samples_free(&s);
}

TEST(empty_and_single)
{
    struct samples s;
    samples_init(&s);
    CHECK_EQ_U(samples_percentile(&s, 50), 0);
    CHECK(samples_mean(&s) == 0);
    struct cdf_point pts[16];
    CHECK_EQ_U(samples_cdf(&s, pts, 16), 0);
    samples_add(&s, 7);
    CHECK_EQ_U(samples_percentile(&s, 0), 7);
    CHECK_EQ_U(samples_percentile(&s, 50), 7);
    CHECK_EQ_U(samples_percentile(&s, 99.9), 7);
    CHECK_EQ_U(samples_cdf(&s, pts, 16), 1);
    CHECK_EQ_U(pts[0].ns, 7);
    CHECK(pts[0].fraction == 1.0);
    samples_free(&s);
}

/* Few distinct values: the CDF has one point per value, F = count <= x. */
TEST(cdf_exact)
{
    uint64_t v[] = {3, 1, 2, 2, 3, 3, 1, 3, 2, 3};
    struct samples s;
    fill(&s, v, 10);
    struct cdf_point pts[16];
    size_t m = samples_cdf(&s, pts, 16);
    CHECK_EQ_U(m, 3);
    CHECK_EQ_U(pts[0].ns, 1);
    CHECK(close_to(pts[0].fraction, 0.2));
    CHECK_EQ_U(pts[1].ns, 2);
    CHECK(close_to(pts[1].fraction, 0.5));
    CHECK_EQ_U(pts[2].ns, 3);
    CHECK(close_to(pts[2].fraction, 1.0));
    samples_free(&s);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t xorshift(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A million samples, most distinct: the radix sort agrees with the
 * definition, the CDF is bounded, strictly monotone, starts at the
 * minimum, ends at (max, 1), and every point's fraction is exact. */
TEST(large_set_sort_and_cdf)
{
    const size_t n = 1000000;
    struct samples s;
    samples_init(&s);
    CHECK(samples_reserve(&s, n) == 0);
    uint64_t hist[1000] = {0};
    for (size_t i = 0; i < n; i++) {
        /* heavy-tailed: mostly ~1 ms, some up to ~1 s */
        uint64_t x = 500000 + xorshift() % 1000000;
        if (xorshift() % 1000 == 0)
            x *= 1 + xorshift() % 1000;
        samples_add(&s, x);
        if (x < 1000 * 1000)
            hist[x / 1000]++;
    }
    samples_sort(&s);
    int ordered = 1;
    for (size_t i = 1; i < n; i++)
        if (s.v[i - 1] > s.v[i])
            ordered = 0;
    CHECK(ordered);
    /* p50 by the definition vs. the histogram of 1 us buckets */
    uint64_t p50 = samples_percentile(&s, 50);
    uint64_t below = 0;
    for (size_t i = 0; i < n; i++)
        if (s.v[i] <= p50)
            below++;
    CHECK(below >= n / 2);
    below = 0;
    for (size_t i = 0; i < n; i++)
        if (s.v[i] < p50)
            below++;
    CHECK(below < n / 2);
    (void)hist;

    struct cdf_point pts[2000];
    size_t m = samples_cdf(&s, pts, 2000);
    CHECK(m > 1000 && m <= 2000);
    CHECK_EQ_U(pts[0].ns, s.v[0]);
    CHECK_EQ_U(pts[m - 1].ns, s.v[n - 1]);
    CHECK(pts[m - 1].fraction == 1.0);
    int mono = 1, exact = 1;
    for (size_t i = 1; i < m; i++)
        if (!(pts[i].ns > pts[i - 1].ns && pts[i].fraction > pts[i - 1].fraction))
            mono = 0;
    CHECK(mono);
    /* F(x) = #(samples <= x) / n at a few points, p99.9 on the curve */
    for (size_t i = 0; i < m; i += m / 7) {
        uint64_t cnt = 0;
        for (size_t j = 0; j < n; j++)
            if (s.v[j] <= pts[i].ns)
                cnt++;
        if (!close_to(pts[i].fraction, (double)cnt / (double)n))
            exact = 0;
    }
    CHECK(exact);
    uint64_t p999 = samples_percentile(&s, 99.9);
    int has_tail = 0;
    for (size_t i = 0; i < m; i++)
        if (pts[i].ns == p999)
            has_tail = 1;
    CHECK(has_tail);
    samples_free(&s);
}

TEST(append_keeps_sorted_flag)
{
    struct samples a, b;
    uint64_t va[] = {1, 2, 3}, vb[] = {4, 5};
    fill(&a, va, 3);
    fill(&b, vb, 2);
    CHECK(samples_append(&a, &b) == 0);
    CHECK(a.sorted);
    CHECK_EQ_U(a.n, 5);
    CHECK(samples_append(&a, &b) == 0); /* 4,5 after 5: not sorted */
    CHECK(!a.sorted);
    CHECK_EQ_U(samples_percentile(&a, 100), 5);
    CHECK_EQ_U(samples_percentile(&a, 60), 4);
    samples_free(&a);
    samples_free(&b);
}

/* Three clients over 2 s: throughput sums, mean of means vs. global mean. */
TEST(run_summary)
{
    struct client_stats c[3] = {
        {.ops = 4, .lat_sum_ns = 4 * 1000, .errors = 1},   /* mean 1000 */
        {.ops = 1, .lat_sum_ns = 5000, .timeouts = 2},     /* mean 5000 */
        {.ops = 0, .errors = 3},                           /* no mean */
    };
    uint64_t v[] = {1000, 1000, 1000, 1000, 5000};
    struct samples s;
    fill(&s, v, 5);
    struct run_summary r;
    run_summarize(c, 3, &s, 2.0, &r);
    CHECK_EQ_U(r.ops, 5);
    CHECK_EQ_U(r.errors, 4);
    CHECK_EQ_U(r.timeouts, 2);
    CHECK(close_to(r.throughput, 2.5));
    CHECK(close_to(client_throughput(&c[0], 2.0), 2.0));
    CHECK(close_to(r.mean_client_means, 3000.0));
    CHECK(close_to(r.mean, 1800.0));
    CHECK_EQ_U(r.p50, 1000);
    CHECK_EQ_U(r.p90, 5000);
    CHECK_EQ_U(r.max, 5000);
    CHECK_EQ_U(r.min, 1000);
    samples_free(&s);
}

int main(void)
{
    RUN(percentiles_1_to_100);
    RUN(percentiles_wikipedia);
    RUN(empty_and_single);
    RUN(cdf_exact);
    RUN(large_set_sort_and_cdf);
    RUN(append_keeps_sorted_flag);
    RUN(run_summary);
    return test_summary();
}
