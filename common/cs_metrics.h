/*
 * cs_metrics: counters, gauges and histograms rendered in the Prometheus
 * text exposition format, version 0.0.4.
 *
 * A registry holds metric families in the order they were registered.  A
 * family has a name, a help text and a fixed list of label names (at most
 * CS_METRICS_MAX_LABELS); each combination of label values is a series,
 * created on first use and kept for the registry's life.  Label values must
 * come from bounded sets (sink, connection ids from the configuration,
 * outcome names): never product ids or anything else that grows with the
 * data.  A family refuses more than CS_METRICS_MAX_SERIES series.
 *
 * Rendering: "# HELP" and "# TYPE" once per family, then its samples; label
 * values and help texts escaped as the format requires; histograms as
 * cumulative NAME_bucket{le="..."} lines ending with le="+Inf", then
 * NAME_sum and NAME_count.  A family without labels has its one series from
 * registration, so it renders 0 before the first update.  Values are written
 * in the shortest form that reads back to the same double.
 *
 * Names are checked at registration: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics,
 * [a-zA-Z_][a-zA-Z0-9_]* for labels (not starting with "__", and "le" only
 * on histograms, where it is reserved); a counter's name must end in
 * "_total".  Registration returns NULL on a bad name or bucket list.
 *
 * Thread safety: one mutex per registry.  Registration, series lookup,
 * updates and rendering may run on any threads at once (typically updates
 * from a worker's main thread, rendering from the HTTP server's thread).
 * Update calls accept NULL series and do nothing, so callers need not check
 * what registration returned.
 * Ownership: families and series belong to the registry and stay valid until
 * cs_metrics_destroy().
 */
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stddef.h>

#include "cs_buf.h"

#define CS_METRICS_MAX_LABELS 4
#define CS_METRICS_MAX_SERIES 1000
#define CS_METRICS_MAX_BUCKETS 32

/* The Content-Type of a rendered exposition. */
#define CS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct cs_metrics cs_metrics;
typedef struct cs_metric cs_metric;             /* a family */
typedef struct cs_metric_series cs_metric_series;

cs_metrics *cs_metrics_new(void);
void cs_metrics_destroy(cs_metrics *m);         /* accepts NULL */

/* labels: NULL-terminated label names, or NULL for none. */
cs_metric *cs_metrics_counter(cs_metrics *m, const char *name, const char *help,
                              const char *const *labels);
cs_metric *cs_metrics_gauge(cs_metrics *m, const char *name, const char *help,
                            const char *const *labels);
/* bounds: the buckets' upper bounds, finite and strictly increasing (1 to
 * CS_METRICS_MAX_BUCKETS of them); the +Inf bucket is implicit. */
cs_metric *cs_metrics_histogram(cs_metrics *m, const char *name, const char *help,
                                const char *const *labels, const double *bounds,
                                size_t n_bounds);

/* The series for these label values (one per label name; NULL for a family
 * without labels), created on first use.  NULL when f is NULL, a value is
 * missing or not valid UTF-8, memory ran out, or the family is full. */
cs_metric_series *cs_metric_get(cs_metric *f, const char *const *values);

void cs_metric_inc(cs_metric_series *s);                /* counters and gauges: +1 */
void cs_metric_add(cs_metric_series *s, double v);      /* counters: v >= 0, else ignored */
void cs_metric_set(cs_metric_series *s, double v);      /* gauges */
void cs_metric_observe(cs_metric_series *s, double v);  /* histograms; NaN is ignored */

/* Appends the exposition of every family to out.  0, or -1 when out is
 * full or memory ran out. */
int cs_metrics_render(cs_metrics *m, cs_buf *out);

/* Writes v as the exposition format writes values: "+Inf", "-Inf", "NaN",
 * else the shortest %g form that reads back as v.  buf: at least 32 bytes. */
void cs_metrics_format_value(double v, char *buf, size_t size);

#endif
