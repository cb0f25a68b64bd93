/* stats.h - raftd-bench's statistics: latency samples, percentiles, means,
 * the latency CDF and the per-run summary.
 *
 * Every latency sample of a run is kept (nanoseconds, 8 bytes each: a
 * 3-minute run at 50,000 ops/s is 72 MB), so percentiles are exact, not
 * estimated from a histogram.
 *
 * Definitions (the unit test in tests/unit/test_stats.c holds them to
 * known sample sets):
 *   percentile p (0 < p <= 100): nearest rank, the smallest sample x such
 *     that at least p% of the samples are <= x, i.e. sorted[ceil(p/100*n)-1];
 *     p = 0 gives the minimum, p = 100 the maximum.
 *   client throughput: the client's completed requests / the run's measured
 *     duration; run throughput: the sum of the client throughputs.
 *   mean of client means: the average, over the clients that completed at
 *     least one request, of each client's mean latency.
 *   CDF point (x, F): F = the fraction of samples <= x.
 */
#ifndef RAFTD_BENCH_STATS_H
#define RAFTD_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct samples {
    uint64_t *v; /* latencies in ns */
    size_t n, cap;
    bool sorted;
};

void samples_init(struct samples *s);
void samples_free(struct samples *s);
void samples_clear(struct samples *s);
/* Reserve room for at least n samples (0 or -1 on out of memory). */
int samples_reserve(struct samples *s, size_t n);
/* Append one sample; -1 on out of memory. */
int samples_add(struct samples *s, uint64_t ns);
/* Append all of src's samples to dst. */
int samples_append(struct samples *dst, const struct samples *src);
/* Sort ascending (a radix sort: fast for millions of samples). */
void samples_sort(struct samples *s);

/* These sort s first if needed. 0 for an empty set. */
uint64_t samples_percentile(struct samples *s, double p);
uint64_t samples_min(struct samples *s);
uint64_t samples_max(struct samples *s);
double samples_mean(const struct samples *s);

struct cdf_point {
    uint64_t ns;     /* latency */
    double fraction; /* of samples <= ns */
};

/* The CDF of s as at most max_points points (max_points >= 16), strictly
 * increasing in both ns and fraction, the first at the minimum and the last
 * at (max, 1.0). With n <= max_points distinct values every value is a
 * point; otherwise points are taken on a fraction grid that is uniform in
 * the body and denser in the tail (99%, 99.9%, 99.99% ...), so the plotted
 * tail is faithful. Returns the number of points (0 for no samples). */
size_t samples_cdf(struct samples *s, struct cdf_point *out, size_t max_points);

/* Per-client counters of one run (measured window only). */
struct client_stats {
    uint64_t ops;      /* completed requests (samples) */
    uint64_t errors;   /* failed requests, not samples */
    uint64_t timeouts; /* requests that timed out, not samples */
    uint64_t misses;   /* completed, but CAS compare failed or key not found */
    uint64_t lat_sum_ns;
};

struct run_summary {
    double duration_s;
    unsigned clients;
    uint64_t ops, errors, timeouts, misses;
    double throughput;        /* sum of the client throughputs, ops/s */
    double mean_client_means; /* ns */
    double mean;              /* ns, over all samples */
    uint64_t min, p50, p90, p99, p999, max; /* ns */
};

double client_throughput(const struct client_stats *c, double duration_s);
double client_mean_ns(const struct client_stats *c);

/* Summarise a run: the clients' counters and all samples of the run. */
void run_summarize(const struct client_stats *c, unsigned n_clients,
                   struct samples *all, double duration_s,
                   struct run_summary *out);

#endif
