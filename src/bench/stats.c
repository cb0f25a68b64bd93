/* stats.c - raftd-bench's statistics (see stats.h for the definitions). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void samples_init(struct samples *s)
{
    memset(s, 0, sizeof(*s));
    s->sorted = true;
}

void samples_free(struct samples *s)
{
    free(s->v);
    samples_init(s);
}

void samples_clear(struct samples *s)
{
    s->n = 0;
    s->sorted = true;
}

int samples_reserve(struct samples *s, size_t n)
{
    if (n <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < n)
        cap *= 2;
    uint64_t *v = realloc(s->v, cap * sizeof(*v));
    if (!v)
        return -1;
    s->v = v;
    s->cap = cap;
    return 0;
}

int samples_add(struct samples *s, uint64_t ns)
{
    if (s->n == s->cap && samples_reserve(s, s->n + 1) < 0)
        return -1;
    if (s->n && ns < s->v[s->n - 1])
        s->sorted = false;
    s->v[s->n++] = ns;
    return 0;
}

int samples_append(struct samples *dst, const struct samples *src)
{
    if (!src->n)
        return 0;
    if (samples_reserve(dst, dst->n + src->n) < 0)
        return -1;
    if (dst->n && (src->v[0] < dst->v[dst->n - 1] || !src->sorted))
        dst->sorted = false;
    else if (!dst->n)
        dst->sorted = src->sorted;
    memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
    dst->n += src->n;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void samples_sort(struct samples *s)
{
    if (s->sorted || s->n < 2) {
        s->sorted = true;
        return;
    }
    if (s->n < 4096) {
        qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
        s->sorted = true;
        return;
    }
    /* LSD radix sort, 16-bit digits; a pass whose digit is the same for
     * every sample (e.g. the top bits of nanosecond latencies) is skipped. */
    uint64_t *tmp = malloc(s->n * sizeof(*tmp));
    size_t *count = malloc(65536 * sizeof(*count));
    if (!tmp || !count) {
        free(tmp);
        free(count);
        qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
        s->sorted = true;
        return;
    }
    uint64_t *src = s->v, *dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65536 * sizeof(*count));
        for (size_t i = 0; i < s->n; i++)
            count[(src[i] >> shift) & 0xffff]++;
        if (count[(src[0] >> shift) & 0xffff] == s->n)
            continue;
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < s->n; i++)
            dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != s->v)
        memcpy(s->v, src, s->n * sizeof(*src));
    free(tmp);
    free(count);
    s->sorted = true;
}

/* Index of the nearest-rank p-th percentile among n sorted samples. */
static size_t rank_index(double p, size_t n)
{
    if (p <= 0)
        return 0;
    if (p >= 100)
        return n - 1;
    /* The epsilon keeps e.g. 0.99 * 100 from rounding up to rank 100. */
    double r = ceil(p / 100.0 * (double)n - 1e-9);
    if (r < 1)
        r = 1;
    size_t idx = (size_t)r - 1;
    return idx >= n ? n - 1 : idx;
}

uint64_t samples_percentile(struct samples *s, double p)
{
    if (!s->n)
        return 0;
    samples_sort(s);
    return s->v[rank_index(p, s->n)];
}

uint64_t samples_min(struct samples *s)
{
    return samples_percentile(s, 0);
}

uint64_t samples_max(struct samples *s)
{
    return samples_percentile(s, 100);
}

double samples_mean(const struct samples *s)
{
    if (!s->n)
        return 0;
    /* Sum in 128 bits where available: 10^7 samples of 10^9 ns overflow no
     * uint64_t, but be exact anyway. */
    long double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += (long double)s->v[i];
    return (double)(sum / (long double)s->n);
}

/* The last index holding the same value as v[i] (v sorted). */
static size_t last_equal(const uint64_t *v, size_t n, size_t i)
{
    size_t lo = i, hi = n - 1;
    uint64_t x = v[i];
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (v[mid] == x)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

struct cdf_builder {
    const uint64_t *v;
    size_t n, m, max;
    struct cdf_point *out;
};

static void cdf_add(struct cdf_builder *b, size_t idx)
{
    if (idx >= b->n)
        idx = b->n - 1;
    size_t j = last_equal(b->v, b->n, idx);
    if (b->m && b->out[b->m - 1].ns >= b->v[j])
        return;
    if (b->m == b->max)
        return;
    b->out[b->m].ns = b->v[j];
    b->out[b->m].fraction = (double)(j + 1) / (double)b->n;
    b->m++;
}

size_t samples_cdf(struct samples *s, struct cdf_point *out, size_t max_points)
{
    if (!s->n || max_points < 16)
        return 0;
    samples_sort(s);
    const uint64_t *v = s->v;
    size_t n = s->n;
    size_t distinct = 1;
    for (size_t i = 1; i < n && distinct <= max_points; i++)
        if (v[i] != v[i - 1])
            distinct++;
    if (distinct <= max_points) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (i == n - 1 || v[i] != v[i + 1]) {
                out[m].ns = v[i];
                out[m].fraction = (double)(i + 1) / (double)n;
                m++;
            }
        return m;
    }
    struct cdf_builder b = {.v = v, .n = n, .max = max_points - 1, .out = out};
    /* Tail decades: 0.991..0.999, 0.9991..0.9999, ... while a step of the
     * decade still separates samples, at most so many that the body keeps
     * half of the points. */
    unsigned decades = 0;
    for (double step = 1e-3; step * (double)n >= 1.0 && decades < 8 &&
                             9 * (decades + 1) <= max_points / 2;
         step /= 10)
        decades++;
    size_t body = max_points - 2 - 9 * decades;
    cdf_add(&b, 0);
    for (size_t k = 1; k <= body; k++) {
        double f = 0.99 * (double)k / (double)body;
        cdf_add(&b, rank_index(f * 100.0, n));
    }
    double base = 0.99, step = 1e-3;
    for (unsigned d = 0; d < decades; d++) {
        for (unsigned j = 1; j <= 9; j++)
            cdf_add(&b, rank_index((base + step * j) * 100.0, n));
        base += 9 * step;
        step /= 10;
    }
    b.max = max_points; /* the maximum always gets its point */
    cdf_add(&b, n - 1);
    return b.m;
}

double client_throughput(const struct client_stats *c, double duration_s)
{
    return duration_s > 0 ? (double)c->ops / duration_s : 0;
}

double client_mean_ns(const struct client_stats *c)
{
    return c->ops ? (double)c->lat_sum_ns / (double)c->ops : 0;
}

void run_summarize(const struct client_stats *c, unsigned n_clients,
                   struct samples *all, double duration_s,
                   struct run_summary *out)
{
    memset(out, 0, sizeof(*out));
    out->duration_s = duration_s;
    out->clients = n_clients;
    double mean_sum = 0;
    unsigned with_ops = 0;
    for (unsigned i = 0; i < n_clients; i++) {
        out->ops += c[i].ops;
        out->errors += c[i].errors;
        out->timeouts += c[i].timeouts;
        out->misses += c[i].misses;
        out->throughput += client_throughput(&c[i], duration_s);
        if (c[i].ops) {
            mean_sum += client_mean_ns(&c[i]);
            with_ops++;
        }
    }
    out->mean_client_means = with_ops ? mean_sum / with_ops : 0;
    out->mean = samples_mean(all);
    out->min = samples_min(all);
    out->p50 = samples_percentile(all, 50);
    out->p90 = samples_percentile(all, 90);
    out->p99 = samples_percentile(all, 99);
    out->p999 = samples_percentile(all, 99.9);
    out->max = samples_max(all);
}
