/* metrics.c - counters, gauges and histograms in Prometheus' text format
 * (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metric_series {
    struct metric_series *next;
    const struct metric_family *family;
    char *label_value; /* NULL: the unlabelled family's series */
    double value;      /* counter, gauge; histogram: the sum */
    uint64_t count;    /* histogram: observations */
    uint64_t buckets[METRIC_BUCKETS_MAX]; /* per bucket, not cumulative */
};

struct metric_family {
    struct metric_family *next;
    enum metric_type type;
    char *name, *help, *label;
    double bounds[METRIC_BUCKETS_MAX];
    unsigned n_bounds;
    struct metric_series *series, **series_tail;
};

struct metrics {
    struct metric_family *families, **tail;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (m)
        m->tail = &m->families;
    return m;
}

static void family_free(struct metric_family *f)
{
    for (struct metric_series *s = f->series, *next; s; s = next) {
        next = s->next;
        free(s->label_value);
        free(s);
    }
    free(f->name);
    free(f->help);
    free(f->label);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (struct metric_family *f = m->families, *next; f; f = next) {
        next = f->next;
        family_free(f);
    }
    free(m);
}

static bool bounds_valid(const double *bounds, unsigned n)
{
    if (n > METRIC_BUCKETS_MAX || (n && !bounds))
        return false;
    for (unsigned i = 0; i < n; i++)
        if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
            return false;
    return true;
}

struct metric_family *metrics_add(struct metrics *m, enum metric_type type,
                                  const char *name, const char *help,
                                  const char *label, const double *bounds,
                                  unsigned n_bounds)
{
    if (type != METRIC_HISTOGRAM)
        n_bounds = 0;
    if (!bounds_valid(bounds, n_bounds))
        return NULL;
    struct metric_family *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help);
    f->label = label ? strdup(label) : NULL;
    if (!f->name || !f->help || (label && !f->label)) {
        family_free(f);
        return NULL;
    }
    if (n_bounds)
        memcpy(f->bounds, bounds, n_bounds * sizeof(bounds[0]));
    f->n_bounds = n_bounds;
    f->series_tail = &f->series;
    *m->tail = f;
    m->tail = &f->next;
    return f;
}

static bool same_label(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

struct metric_series *metric_series(struct metric_family *f,
                                    const char *label_value)
{
    if (!f)
        return NULL;
    if (!f->label)
        label_value = NULL;
    for (struct metric_series *s = f->series; s; s = s->next)
        if (same_label(s->label_value, label_value))
            return s;
    struct metric_series *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->family = f;
    if (label_value && !(s->label_value = strdup(label_value))) {
        free(s);
        return NULL;
    }
    *f->series_tail = s;
    f->series_tail = &s->next;
    return s;
}

void metric_add(struct metric_series *s, double v)
{
    if (s)
        s->value += v;
}

void metric_inc(struct metric_series *s)
{
    if (s)
        s->value += 1;
}

void metric_set(struct metric_series *s, double v)
{
    if (s)
        s->value = v;
}

void metric_observe(struct metric_series *s, double v)
{
    if (!s)
        return;
    const struct metric_family *f = s->family;
    unsigned i = 0;
    while (i < f->n_bounds && v > f->bounds[i])
        i++;
    if (i < f->n_bounds)
        s->buckets[i]++;
    s->count++;
    s->value += v;
}

double metric_value(const struct metric_series *s)
{
    return s ? s->value : 0;
}

uint64_t metric_count(const struct metric_series *s)
{
    return s ? s->count : 0;
}

/* ---- the writer ---- */

struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Escape text: help escapes \ and newline; label values " too. */
static void put_escaped(struct buf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(b, "\\\\");
        else if (*s == '\n')
            put(b, "\\n");
        else if (*s == '"' && quote)
            put(b, "\\\"");
        else
            put(b, "%c", *s);
    }
}

/* Numbers: integers as such, others with up to 15 significant digits,
 * non-finite ones as Prometheus spells them. */
static void put_number(struct buf *b, double v)
{
    if (isnan(v))
        put(b, "NaN");
    else if (isinf(v))
        put(b, v > 0 ? "+Inf" : "-Inf");
    else
        put(b, "%.15g", v);
}

/* name{label="value",le="x"} (the braces only if there is a label). */
static void put_sample_name(struct buf *b, const struct metric_family *f,
                            const struct metric_series *s, const char *suffix,
                            const char *le)
{
    put(b, "%s%s", f->name, suffix);
    bool labelled = f->label && s->label_value;
    if (!labelled && !le)
        return;
    put(b, "{");
    if (labelled) {
        put(b, "%s=\"", f->label);
        put_escaped(b, s->label_value, true);
        put(b, "\"%s", le ? "," : "");
    }
    if (le)
        put(b, "le=\"%s\"", le);
    put(b, "}");
}

static void put_histogram(struct buf *b, const struct metric_family *f,
                          const struct metric_series *s)
{
    uint64_t cumulative = 0;
    char le[32];
    for (unsigned i = 0; i < f->n_bounds; i++) {
        cumulative += s->buckets[i];
        snprintf(le, sizeof(le), "%.15g", f->bounds[i]);
        put_sample_name(b, f, s, "_bucket", le);
        put(b, " %llu\n", (unsigned long long)cumulative);
    }
    put_sample_name(b, f, s, "_bucket", "+Inf");
    put(b, " %llu\n", (unsigned long long)s->count);
    put_sample_name(b, f, s, "_sum", NULL);
    put(b, " ");
    put_number(b, s->value);
    put(b, "\n");
    put_sample_name(b, f, s, "_count", NULL);
    put(b, " %llu\n", (unsigned long long)s->count);
}

static const char *type_name(enum metric_type t)
{
    return t == METRIC_COUNTER ? "counter"
           : t == METRIC_GAUGE ? "gauge" : "histogram";
}

static void put_family(struct buf *b, const struct metric_family *f)
{
    put(b, "# HELP %s ", f->name);
    put_escaped(b, f->help, false);
    put(b, "\n# TYPE %s %s\n", f->name, type_name(f->type));
    for (const struct metric_series *s = f->series; s; s = s->next) {
        if (f->type == METRIC_HISTOGRAM) {
            put_histogram(b, f, s);
            continue;
        }
        put_sample_name(b, f, s, "", NULL);
        put(b, " ");
        put_number(b, s->value);
        put(b, "\n");
    }
}

char *metrics_write(const struct metrics *m, size_t *len)
{
    struct buf b = {.cap = 4096};
    b.p = malloc(b.cap);
    if (!b.p)
        return NULL;
    b.p[0] = 0;
    for (const struct metric_family *f = m->families; f; f = f->next)
        put_family(&b, f);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}
