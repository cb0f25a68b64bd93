/* metrics.h - a tiny registry of counters, gauges and fixed-bucket
 * histograms, written out in Prometheus' text exposition format (version
 * 0.0.4; https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * A family has a name, a help text, a type and at most one label (e.g.
 * op="put"); each of its series is one value of that label (or the only
 * series of an unlabelled family). Series are made once, when a family is
 * set up or when a label value is first seen (a peer id): updating one
 * afterwards is an addition or a store, with no allocation and no lookup.
 * Histogram buckets are fixed (upper bounds, ascending); the writer
 * prints them cumulative with le labels, then +Inf, _sum and _count.
 *
 * Single-threaded, like the rest of raftd.
 */
#ifndef RAFTD_METRICS_H
#define RAFTD_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_BUCKETS_MAX 20

struct metrics;        /* a registry */
struct metric_family;  /* name, help, type, label name */
struct metric_series;  /* one label value's numbers */

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* A family, written in the order added. name and help are copied; label is
 * the label's name or NULL. bounds (histograms only: n_bounds ascending
 * upper bounds, at most METRIC_BUCKETS_MAX; +Inf is implicit) are copied.
 * NULL if out of memory or the bounds are invalid. */
struct metric_family *metrics_add(struct metrics *m, enum metric_type type,
                                  const char *name, const char *help,
                                  const char *label, const double *bounds,
                                  unsigned n_bounds);

/* The series of label value (NULL for an unlabelled family), made on first
 * use; series are written in the order made. NULL if out of memory. */
struct metric_series *metric_series(struct metric_family *f,
                                    const char *label_value);

/* Counters only grow (v >= 0); gauges are set. Tolerate NULL. */
void metric_add(struct metric_series *s, double v);
void metric_inc(struct metric_series *s);
void metric_set(struct metric_series *s, double v);
/* Histograms: count v (in the family's unit) in its bucket. */
void metric_observe(struct metric_series *s, double v);
double metric_value(const struct metric_series *s);
uint64_t metric_count(const struct metric_series *s); /* histogram count */

/* The whole registry as exposition text (NUL-terminated, malloc'd; *len
 * without the NUL), or NULL if out of memory. */
char *metrics_write(const struct metrics *m, size_t *len);

/* The Content-Type of that text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
