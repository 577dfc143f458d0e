#include "cs_metrics.h"
#include "cs_util.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind;

struct cs_metric_series {
    cs_metric *family;
    char *values[CS_METRICS_MAX_LABELS];
    double value;               /* counter, gauge */
    uint64_t *counts;           /* histogram: per bucket, not cumulative; [n_bounds] = +Inf */
    double sum;
    uint64_t count;
};

struct cs_metric {
    cs_metrics *reg;
    metric_kind kind;
    char *name;
    char *help;
    char *labels[CS_METRICS_MAX_LABELS];
    size_t n_labels;
    double bounds[CS_METRICS_MAX_BUCKETS];
    size_t n_bounds;
    cs_metric_series **series;
    size_t n_series, cap_series;
};

struct cs_metrics {
    pthread_mutex_t mu;
    cs_metric **families;
    size_t n_families, cap_families;
};

cs_metrics *cs_metrics_new(void)
{
    cs_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void series_free(cs_metric_series *s, size_t n_labels)
{
    if (!s)
        return;
    for (size_t i = 0; i < n_labels; i++)
        free(s->values[i]);
    free(s->counts);
    free(s);
}

static void family_free(cs_metric *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_series; i++)
        series_free(f->series[i], f->n_labels);
    free(f->series);
    for (size_t i = 0; i < f->n_labels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void cs_metrics_destroy(cs_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_families; i++)
        family_free(m->families[i]);
    free(m->families);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- names ---- */

static int name_char(char c, int first, int colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return 1;
    if (colon && c == ':')
        return 1;
    return !first && c >= '0' && c <= '9';
}

static int valid_name(const char *s, int colon)
{
    if (!s || !*s)
        return 0;
    for (size_t i = 0; s[i]; i++)
        if (!name_char(s[i], i == 0, colon))
            return 0;
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- registration ---- */

static cs_metric_series *series_new(cs_metric *f)
{
    cs_metric_series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->family = f;
    if (f->kind == KIND_HISTOGRAM && !(s->counts = calloc(f->n_bounds + 1, sizeof *s->counts))) {
        free(s);
        return NULL;
    }
    return s;
}

/* Appends s to f's series; the caller holds the lock (or owns f alone). */
static int series_add(cs_metric *f, cs_metric_series *s)
{
    if (f->n_series == f->cap_series) {
        size_t n = f->cap_series ? f->cap_series * 2 : 8;
        cs_metric_series **p = realloc(f->series, n * sizeof *p);
        if (!p)
            return -1;
        f->series = p;
        f->cap_series = n;
    }
    f->series[f->n_series++] = s;
    return 0;
}

static cs_metric *family_new(cs_metrics *m, metric_kind kind, const char *name, const char *help,
                             const char *const *labels, const double *bounds, size_t n_bounds)
{
    if (!m || !valid_name(name, 1) || !help)
        return NULL;
    if (kind == KIND_COUNTER && !ends_with(name, "_total"))
        return NULL;
    if (kind == KIND_HISTOGRAM) {
        if (!bounds || n_bounds == 0 || n_bounds > CS_METRICS_MAX_BUCKETS)
            return NULL;
        for (size_t i = 0; i < n_bounds; i++)
            if (!isfinite(bounds[i]) || (i && !(bounds[i] > bounds[i - 1])))
                return NULL;
    }
    size_t n_labels = 0;
    for (; labels && labels[n_labels]; n_labels++) {
        const char *l = labels[n_labels];
        if (n_labels == CS_METRICS_MAX_LABELS || !valid_name(l, 0) || strncmp(l, "__", 2) == 0 ||
            (kind == KIND_HISTOGRAM && strcmp(l, "le") == 0))
            return NULL;
        for (size_t k = 0; k < n_labels; k++)
            if (strcmp(labels[k], l) == 0)
                return NULL;
    }
    cs_metric *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->reg = m;
    f->kind = kind;
    f->n_labels = n_labels;
    f->n_bounds = kind == KIND_HISTOGRAM ? n_bounds : 0;
    if (f->n_bounds)
        memcpy(f->bounds, bounds, n_bounds * sizeof *bounds);
    int failed = !(f->name = strdup(name)) || !(f->help = strdup(help));
    for (size_t i = 0; i < n_labels && !failed; i++)
        failed = !(f->labels[i] = strdup(labels[i]));
    if (!failed && n_labels == 0) {
        cs_metric_series *s = series_new(f);
        if (!s || series_add(f, s) != 0) {
            series_free(s, 0);
            failed = 1;
        }
    }
    if (failed) {
        family_free(f);
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_families; i++)
        if (strcmp(m->families[i]->name, name) == 0)
            failed = 1;       /* each family is declared once */
    if (!failed && m->n_families == m->cap_families) {
        size_t n = m->cap_families ? m->cap_families * 2 : 16;
        cs_metric **p = realloc(m->families, n * sizeof *p);
        if (p) {
            m->families = p;
            m->cap_families = n;
        } else {
            failed = 1;
        }
    }
    if (!failed)
        m->families[m->n_families++] = f;
    pthread_mutex_unlock(&m->mu);
    if (failed) {
        family_free(f);
        return NULL;
    }
    return f;
}

cs_metric *cs_metrics_counter(cs_metrics *m, const char *name, const char *help,
                              const char *const *labels)
{
    return family_new(m, KIND_COUNTER, name, help, labels, NULL, 0);
}

cs_metric *cs_metrics_gauge(cs_metrics *m, const char *name, const char *help,
                            const char *const *labels)
{
    return family_new(m, KIND_GAUGE, name, help, labels, NULL, 0);
}

cs_metric *cs_metrics_histogram(cs_metrics *m, const char *name, const char *help,
                                const char *const *labels, const double *bounds,
                                size_t n_bounds)
{
    return family_new(m, KIND_HISTOGRAM, name, help, labels, bounds, n_bounds);
}

cs_metric_series *cs_metric_get(cs_metric *f, const char *const *values)
{
    if (!f)
        return NULL;
    for (size_t i = 0; i < f->n_labels; i++)
        if (!values || !values[i] || cs_utf8_invalid_at(values[i], strlen(values[i])) >= 0)
            return NULL;
    cs_metric_series *found = NULL;
    pthread_mutex_lock(&f->reg->mu);
    for (size_t i = 0; i < f->n_series && !found; i++) {
        size_t k = 0;
        while (k < f->n_labels && strcmp(f->series[i]->values[k], values[k]) == 0)
            k++;
        if (k == f->n_labels)
            found = f->series[i];
    }
    if (!found && f->n_series < CS_METRICS_MAX_SERIES) {
        cs_metric_series *s = series_new(f);
        int failed = !s;
        for (size_t k = 0; k < f->n_labels && !failed; k++)
            failed = !(s->values[k] = strdup(values[k]));
        if (!failed && series_add(f, s) == 0)
            found = s;
        else
            series_free(s, f->n_labels);
    }
    pthread_mutex_unlock(&f->reg->mu);
    return found;
}

/* ---- updates ---- */

void cs_metric_add(cs_metric_series *s, double v)
{
    if (!s || s->family->kind == KIND_HISTOGRAM || isnan(v))
        return;
    if (s->family->kind == KIND_COUNTER && v < 0)
        return;       /* counters only go up */
    pthread_mutex_lock(&s->family->reg->mu);
    s->value += v;
    pthread_mutex_unlock(&s->family->reg->mu);
}

void cs_metric_inc(cs_metric_series *s)
{
    cs_metric_add(s, 1);
}

void cs_metric_set(cs_metric_series *s, double v)
{
    if (!s || s->family->kind != KIND_GAUGE)
        return;
    pthread_mutex_lock(&s->family->reg->mu);
    s->value = v;
    pthread_mutex_unlock(&s->family->reg->mu);
}

void cs_metric_observe(cs_metric_series *s, double v)
{
    if (!s || s->family->kind != KIND_HISTOGRAM || isnan(v))
        return;
    const cs_metric *f = s->family;
    size_t b = 0;
    while (b < f->n_bounds && v > f->bounds[b])
        b++;
    pthread_mutex_lock(&f->reg->mu);
    s->counts[b]++;
    s->sum += v;
    s->count++;
    pthread_mutex_unlock(&f->reg->mu);
}

/* ---- rendering ---- */

void cs_metrics_format_value(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        snprintf(buf, size, "0");     /* also for -0 */
        return;
    }
    if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
        snprintf(buf, size, "%.0f", v);   /* integers in full: 1000, not 1e+03 */
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static int append_escaped(cs_buf *out, const char *s, int quote)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        if (*s == '\\')
            rc = cs_buf_appends(out, "\\\\");
        else if (*s == '\n')
            rc = cs_buf_appends(out, "\\n");
        else if (quote && *s == '"')
            rc = cs_buf_appends(out, "\\\"");
        else
            rc = cs_buf_appendc(out, *s);
    }
    return rc;
}

/* NAME{a="x",b="y"[,le="..."]} VALUE\n */
static int render_sample(cs_buf *out, const cs_metric *f, const cs_metric_series *s,
                         const char *suffix, const char *le, const char *num)
{
    int rc = cs_buf_appends(out, f->name);
    if (rc == 0 && suffix)
        rc = cs_buf_appends(out, suffix);
    if (rc == 0 && (f->n_labels || le)) {
        rc = cs_buf_appendc(out, '{');
        for (size_t i = 0; i < f->n_labels && rc == 0; i++) {
            rc = cs_buf_appendf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
            if (rc == 0)
                rc = append_escaped(out, s->values[i], 1);
            if (rc == 0)
                rc = cs_buf_appendc(out, '"');
        }
        if (rc == 0 && le)
            rc = cs_buf_appendf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
        if (rc == 0)
            rc = cs_buf_appendc(out, '}');
    }
    if (rc == 0)
        rc = cs_buf_appendf(out, " %s\n", num);
    return rc;
}

static int render_family(cs_buf *out, const cs_metric *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    int rc = cs_buf_appendf(out, "# HELP %s ", f->name);
    if (rc == 0)
        rc = append_escaped(out, f->help, 0);
    if (rc == 0)
        rc = cs_buf_appendf(out, "\n# TYPE %s %s\n", f->name, types[f->kind]);
    for (size_t i = 0; i < f->n_series && rc == 0; i++) {
        const cs_metric_series *s = f->series[i];
        char num[40], le[40];
        if (f->kind != KIND_HISTOGRAM) {
            cs_metrics_format_value(s->value, num, sizeof num);
            rc = render_sample(out, f, s, NULL, NULL, num);
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; b <= f->n_bounds && rc == 0; b++) {
            cum += s->counts[b];
            if (b < f->n_bounds)
                cs_metrics_format_value(f->bounds[b], le, sizeof le);
            else
                snprintf(le, sizeof le, "+Inf");
            snprintf(num, sizeof num, "%llu", (unsigned long long)cum);
            rc = render_sample(out, f, s, "_bucket", le, num);
        }
        cs_metrics_format_value(s->sum, num, sizeof num);
        if (rc == 0)
            rc = render_sample(out, f, s, "_sum", NULL, num);
        snprintf(num, sizeof num, "%llu", (unsigned long long)s->count);
        if (rc == 0)
            rc = render_sample(out, f, s, "_count", NULL, num);
    }
    return rc;
}

int cs_metrics_render(cs_metrics *m, cs_buf *out)
{
    if (!m)
        return -1;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_families && rc == 0; i++)
        rc = render_family(out, m->families[i]);
    pthread_mutex_unlock(&m->mu);
    return rc;
}
