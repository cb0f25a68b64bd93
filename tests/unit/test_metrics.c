/* test_metrics.c - the metrics registry and its exposition text. */
#include "../../src/daemon/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

/* Compare the registry's text with want; print both when they differ. */
static int text_is(const struct metrics *m, const char *want)
{
    size_t len = 0;
    char *got = metrics_write(m, &len);
    int same = got && len == strlen(want) && strcmp(got, want) == 0;
    if (!same)
        fprintf(stderr, "--- want\n%s--- got\n%s---\n", want,
                got ? got : "(null)");
    free(got);
    return same;
}

TEST(counter_and_gauge)
{
    struct metrics *m = metrics_new();
    struct metric_family *c = metrics_add(m, METRIC_COUNTER, "x_total",
                                          "Things done.", NULL, NULL, 0);
    struct metric_family *g = metrics_add(m, METRIC_GAUGE, "y", "A level.",
                                          NULL, NULL, 0);
    struct metric_series *cs = metric_series(c, NULL);
    metric_inc(cs);
    metric_add(cs, 2);
    metric_set(metric_series(g, NULL), 0.25);
    CHECK(metric_series(c, NULL) == cs); /* one series, found again */
    CHECK(metric_value(cs) == 3);
    CHECK(text_is(m, "# HELP x_total Things done.\n"
                     "# TYPE x_total counter\n"
                     "x_total 3\n"
                     "# HELP y A level.\n"
                     "# TYPE y gauge\n"
                     "y 0.25\n"));
    metrics_free(m);
}

TEST(labels_in_order_made)
{
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_add(m, METRIC_GAUGE, "state", "State.",
                                          "state", NULL, 0);
    metric_set(metric_series(f, "follower"), 0);
    metric_set(metric_series(f, "leader"), 1);
    CHECK(text_is(m, "# HELP state State.\n"
                     "# TYPE state gauge\n"
                     "state{state=\"follower\"} 0\n"
                     "state{state=\"leader\"} 1\n"));
    metrics_free(m);
}

TEST(escaping)
{
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_add(m, METRIC_COUNTER, "e_total",
                                          "Back\\slash and\nnewline \"kept\".",
                                          "v", NULL, 0);
    metric_inc(metric_series(f, "a\"b\\c\nd"));
    CHECK(text_is(m, "# HELP e_total Back\\\\slash and\\nnewline \"kept\".\n"
                     "# TYPE e_total counter\n"
                     "e_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
    metrics_free(m);
}

TEST(histogram_cumulative_buckets)
{
    static const double bounds[] = {0.001, 0.01, 0.1};
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_add(m, METRIC_HISTOGRAM, "d_seconds",
                                          "Durations.", NULL, bounds, 3);
    struct metric_series *s = metric_series(f, NULL);
    metric_observe(s, 0.0005);
    metric_observe(s, 0.001); /* le is inclusive */
    metric_observe(s, 0.05);
    metric_observe(s, 2);     /* only +Inf */
    CHECK_EQ_U(metric_count(s), 4);
    CHECK(text_is(m, "# HELP d_seconds Durations.\n"
                     "# TYPE d_seconds histogram\n"
                     "d_seconds_bucket{le=\"0.001\"} 2\n"
                     "d_seconds_bucket{le=\"0.01\"} 2\n"
                     "d_seconds_bucket{le=\"0.1\"} 3\n"
                     "d_seconds_bucket{le=\"+Inf\"} 4\n"
                     "d_seconds_sum 2.0515\n"
                     "d_seconds_count 4\n"));
    metrics_free(m);
}

TEST(labelled_histogram)
{
    static const double bounds[] = {1};
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_add(m, METRIC_HISTOGRAM, "r_seconds",
                                          "Requests.", "op", bounds, 1);
    metric_series(f, "get");
    metric_observe(metric_series(f, "put"), 0.5);
    CHECK(text_is(m, "# HELP r_seconds Requests.\n"
                     "# TYPE r_seconds histogram\n"
                     "r_seconds_bucket{op=\"get\",le=\"1\"} 0\n"
                     "r_seconds_bucket{op=\"get\",le=\"+Inf\"} 0\n"
                     "r_seconds_sum{op=\"get\"} 0\n"
                     "r_seconds_count{op=\"get\"} 0\n"
                     "r_seconds_bucket{op=\"put\",le=\"1\"} 1\n"
                     "r_seconds_bucket{op=\"put\",le=\"+Inf\"} 1\n"
                     "r_seconds_sum{op=\"put\"} 0.5\n"
                     "r_seconds_count{op=\"put\"} 1\n"));
    metrics_free(m);
}

TEST(empty_family_and_bad_bounds)
{
    static const double unsorted[] = {1, 0.5};
    struct metrics *m = metrics_new();
    CHECK(!metrics_add(m, METRIC_HISTOGRAM, "h", "H.", NULL, unsorted, 2));
    metrics_add(m, METRIC_COUNTER, "p_total", "Per peer.", "peer", NULL, 0);
    CHECK(text_is(m, "# HELP p_total Per peer.\n"
                     "# TYPE p_total counter\n"));
    metric_inc(NULL); /* tolerated */
    metric_observe(NULL, 1);
    metrics_free(m);
}

TEST(large_output_grows)
{
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_add(m, METRIC_COUNTER, "n_total",
                                          "Many.", "i", NULL, 0);
    char v[16];
    for (int i = 0; i < 500; i++) {
        snprintf(v, sizeof(v), "%d", i);
        metric_add(metric_series(f, v), i);
    }
    size_t len = 0;
    char *text = metrics_write(m, &len);
    CHECK(text && len == strlen(text) && len > 4096);
    CHECK(text && strstr(text, "n_total{i=\"499\"} 499\n"));
    free(text);
    metrics_free(m);
}

int main(void)
{
    RUN(counter_and_gauge);
    RUN(labels_in_order_made);
    RUN(escaping);
    RUN(histogram_cumulative_buckets);
    RUN(labelled_histogram);
    RUN(empty_family_and_bad_bounds);
    RUN(large_output_grows);
    return test_summary();
}
