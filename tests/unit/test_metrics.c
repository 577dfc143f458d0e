/* Unit tests for cs_metrics: the Prometheus text exposition (0.0.4) byte for
 * byte, escaping, cumulative histogram buckets, registration checks, value
 * formatting, series limits and concurrent updates while rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>

#include "cs_buf.h"
#include "cs_metrics.h"

static char *render(cs_metrics *m)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    assert_int_equal(cs_metrics_render(m, &b), 0);
    char *s = strdup(b.data ? b.data : "");
    cs_buf_free(&b);
    assert_non_null(s);
    return s;
}

static void test_render_exact(void **state __attribute__((unused)))
{
    cs_metrics *m = cs_metrics_new();
    assert_non_null(m);
    static const char *const l_push[] = {"sink", "connection", "outcome", NULL};
    static const char *const l_sink[] = {"sink", NULL};
    cs_metric *pushes = cs_metrics_counter(m, "catalogsync_pushes_total", "Push outcomes.", l_push);
    cs_metric *up = cs_metrics_gauge(m, "catalogsync_redis_up", "1 when Redis answers.", NULL);
    static const double b[] = {0.25, 1, 10};
    cs_metric *lat = cs_metrics_histogram(m, "catalogsync_flush_duration_seconds",
                                          "Flush time.", l_sink, b, 3);
    assert_non_null(pushes);
    assert_non_null(up);
    assert_non_null(lat);

    /* Before any update: the label-less gauge shows 0, labelled families
     * only their HELP and TYPE. */
    char *s = render(m);
    assert_string_equal(s,
        "# HELP catalogsync_pushes_total Push outcomes.\n"
        "# TYPE catalogsync_pushes_total counter\n"
        "# HELP catalogsync_redis_up 1 when Redis answers.\n"
        "# TYPE catalogsync_redis_up gauge\n"
        "catalogsync_redis_up 0\n"
        "# HELP catalogsync_flush_duration_seconds Flush time.\n"
        "# TYPE catalogsync_flush_duration_seconds histogram\n");
    free(s);

    const char *synced[] = {"meta", "main", "synced", NULL};
    const char *retry[] = {"meta", "main", "retry", NULL};
    cs_metric_series *a = cs_metric_get(pushes, synced);
    assert_non_null(a);
    assert_ptr_equal(cs_metric_get(pushes, synced), a);    /* same values, same series */
    cs_metric_inc(a);
    cs_metric_inc(a);
    cs_metric_add(a, 3);
    cs_metric_add(a, -1);                                  /* counters never go down */
    cs_metric_inc(cs_metric_get(pushes, retry));
    cs_metric_set(cs_metric_get(up, NULL), 1);
    const char *meta[] = {"meta", NULL};
    cs_metric_series *h = cs_metric_get(lat, meta);
    cs_metric_observe(h, 0.125);
    cs_metric_observe(h, 0.25);     /* on a bound: counted in that bucket (le) */
    cs_metric_observe(h, 0.5);
    cs_metric_observe(h, 20);       /* over the last bound: +Inf only */
    s = render(m);
    assert_string_equal(s,
        "# HELP catalogsync_pushes_total Push outcomes.\n"
        "# TYPE catalogsync_pushes_total counter\n"
        "catalogsync_pushes_total{sink=\"meta\",connection=\"main\",outcome=\"synced\"} 5\n"
        "catalogsync_pushes_total{sink=\"meta\",connection=\"main\",outcome=\"retry\"} 1\n"
        "# HELP catalogsync_redis_up 1 when Redis answers.\n"
        "# TYPE catalogsync_redis_up gauge\n"
        "catalogsync_redis_up 1\n"
        "# HELP catalogsync_flush_duration_seconds Flush time.\n"
        "# TYPE catalogsync_flush_duration_seconds histogram\n"
        "catalogsync_flush_duration_seconds_bucket{sink=\"meta\",le=\"0.25\"} 2\n"
        "catalogsync_flush_duration_seconds_bucket{sink=\"meta\",le=\"1\"} 3\n"
        "catalogsync_flush_duration_seconds_bucket{sink=\"meta\",le=\"10\"} 3\n"
        "catalogsync_flush_duration_seconds_bucket{sink=\"meta\",le=\"+Inf\"} 4\n"
        "catalogsync_flush_duration_seconds_sum{sink=\"meta\"} 20.875\n"
        "catalogsync_flush_duration_seconds_count{sink=\"meta\"} 4\n");
    free(s);
    cs_metrics_destroy(m);
}

static void test_escaping(void **state __attribute__((unused)))
{
    cs_metrics *m = cs_metrics_new();
    static const char *const l[] = {"connection", NULL};
    cs_metric *c = cs_metrics_counter(m, "catalogsync_x_total",
                                      "Back\\slash and\nnew line; \"quotes\" stay.", l);
    const char *v[] = {"a\\b\"c\nd", NULL};
    cs_metric_inc(cs_metric_get(c, v));
    const char *utf8[] = {"caf\xc3\xa9", NULL};
    cs_metric_inc(cs_metric_get(c, utf8));
    char *s = render(m);
    assert_string_equal(s,
        "# HELP catalogsync_x_total Back\\\\slash and\\nnew line; \"quotes\" stay.\n"
        "# TYPE catalogsync_x_total counter\n"
        "catalogsync_x_total{connection=\"a\\\\b\\\"c\\nd\"} 1\n"
        "catalogsync_x_total{connection=\"caf\xc3\xa9\"} 1\n");
    free(s);
    /* A label value that is not UTF-8 is refused. */
    const char *bad[] = {"ab\xff", NULL};
    assert_null(cs_metric_get(c, bad));
    cs_metrics_destroy(m);
}

static void test_histogram_cumulative(void **state __attribute__((unused)))
{
    cs_metrics *m = cs_metrics_new();
    static const double b[] = {1, 2, 5, 10};
    cs_metric *f = cs_metrics_histogram(m, "catalogsync_batch_events", "Events per flush.",
                                        NULL, b, 4);
    cs_metric_series *h = cs_metric_get(f, NULL);
    assert_non_null(h);
    static const double obs[] = {1, 1, 3, 7, 7, 7, 100, 0, 2};
    double sum = 0;
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++) {
        cs_metric_observe(h, obs[i]);
        sum += obs[i];
    }
    cs_metric_observe(h, NAN);      /* ignored */
    char *s = render(m);
    /* <=1: 1,1,0  <=2: +2  <=5: +3  <=10: +7,7,7  +Inf: +100 */
    assert_string_equal(s,
        "# HELP catalogsync_batch_events Events per flush.\n"
        "# TYPE catalogsync_batch_events histogram\n"
        "catalogsync_batch_events_bucket{le=\"1\"} 3\n"
        "catalogsync_batch_events_bucket{le=\"2\"} 4\n"
        "catalogsync_batch_events_bucket{le=\"5\"} 5\n"
        "catalogsync_batch_events_bucket{le=\"10\"} 8\n"
        "catalogsync_batch_events_bucket{le=\"+Inf\"} 9\n"
        "catalogsync_batch_events_sum 128\n"
        "catalogsync_batch_events_count 9\n");
    assert_true(sum == 128);
    free(s);
    cs_metrics_destroy(m);
}

static void test_registration_checks(void **state __attribute__((unused)))
{
    cs_metrics *m = cs_metrics_new();
    static const double ok_b[] = {1, 2};
    static const double dup_b[] = {1, 1};
    static const double down_b[] = {2, 1};
    const double nan_b[] = {1, NAN};
    static const char *const le[] = {"le", NULL};
    static const char *const under[] = {"__x", NULL};
    static const char *const bad_label[] = {"1x", NULL};
    static const char *const twice[] = {"sink", "sink", NULL};
    static const char *const five[] = {"a", "b", "c", "d", "e", NULL};
    assert_null(cs_metrics_counter(m, "catalogsync_events", "no _total", NULL));
    assert_null(cs_metrics_counter(m, "1catalogsync_total", "bad start", NULL));
    assert_null(cs_metrics_counter(m, "catalogsync-x_total", "dash", NULL));
    assert_null(cs_metrics_counter(m, "", "empty", NULL));
    assert_null(cs_metrics_gauge(m, "catalogsync_g", "dunder label", under));
    assert_null(cs_metrics_gauge(m, "catalogsync_g", "bad label", bad_label));
    assert_null(cs_metrics_gauge(m, "catalogsync_g", "label twice", twice));
    assert_null(cs_metrics_gauge(m, "catalogsync_g", "too many labels", five));
    assert_null(cs_metrics_histogram(m, "catalogsync_h", "le reserved", le, ok_b, 2));
    assert_null(cs_metrics_histogram(m, "catalogsync_h", "equal bounds", NULL, dup_b, 2));
    assert_null(cs_metrics_histogram(m, "catalogsync_h", "decreasing", NULL, down_b, 2));
    assert_null(cs_metrics_histogram(m, "catalogsync_h", "nan bound", NULL, nan_b, 2));
    assert_null(cs_metrics_histogram(m, "catalogsync_h", "no bounds", NULL, ok_b, 0));
    /* "le" is an ordinary label name outside histograms; a colon is allowed
     * in metric names. */
    assert_non_null(cs_metrics_gauge(m, "catalogsync_g", "le allowed", le));
    assert_non_null(cs_metrics_gauge(m, "catalogsync:ratio", "colon", NULL));
    /* Each family is declared once. */
    assert_null(cs_metrics_gauge(m, "catalogsync_g", "again", NULL));
    cs_metric *h = cs_metrics_histogram(m, "catalogsync_h", "fine", NULL, ok_b, 2);
    assert_non_null(h);
    /* Wrong-kind updates and NULL series do nothing. */
    cs_metric_inc(cs_metric_get(h, NULL));
    cs_metric_set(cs_metric_get(h, NULL), 5);
    cs_metric_inc(NULL);
    cs_metric_add(NULL, 1);
    cs_metric_set(NULL, 1);
    cs_metric_observe(NULL, 1);
    assert_null(cs_metric_get(NULL, NULL));
    /* A labelled family needs every value. */
    static const char *const two[] = {"a", "b", NULL};
    cs_metric *g = cs_metrics_gauge(m, "catalogsync_two", "two labels", two);
    assert_non_null(g);
    assert_null(cs_metric_get(g, NULL));
    const char *none[] = {NULL};
    assert_null(cs_metric_get(g, none));
    char *s = render(m);
    assert_non_null(strstr(s, "catalogsync_h_count 0\n"));
    free(s);
    cs_metrics_destroy(m);
    cs_metrics_destroy(NULL);
}

static void test_format_value(void **state __attribute__((unused)))
{
    struct { double v; const char *want; } cases[] = {
        {0, "0"}, {-0.0, "0"}, {1, "1"}, {-3, "-3"}, {1000, "1000"}, {5000, "5000"},
        {0.1, "0.1"}, {0.005, "0.005"}, {2.5, "2.5"}, {1e-9, "1e-09"}, {1e21, "1e+21"},
        {123456789012, "123456789012"}, {0.30000000000000004, "0.30000000000000004"},
        {INFINITY, "+Inf"}, {-INFINITY, "-Inf"}, {NAN, "NaN"},
    };
    char buf[40];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cs_metrics_format_value(cases[i].v, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
    /* Every finite value reads back exactly. */
    for (double v = 1e-6; v < 1e6; v *= 3.7) {
        cs_metrics_format_value(v, buf, sizeof buf);
        assert_true(strtod(buf, NULL) == v);
    }
}

static void test_series_limit(void **state __attribute__((unused)))
{
    cs_metrics *m = cs_metrics_new();
    static const char *const l[] = {"connection", NULL};
    cs_metric *c = cs_metrics_counter(m, "catalogsync_many_total", "Many.", l);
    char v[32];
    const char *vals[] = {v, NULL};
    for (int i = 0; i < CS_METRICS_MAX_SERIES; i++) {
        snprintf(v, sizeof v, "c%d", i);
        assert_non_null(cs_metric_get(c, vals));
    }
    snprintf(v, sizeof v, "one-too-many");
    assert_null(cs_metric_get(c, vals));
    snprintf(v, sizeof v, "c7");
    assert_non_null(cs_metric_get(c, vals));     /* existing ones still answer */
    cs_metrics_destroy(m);
}

typedef struct { cs_metric_series *c, *h; } bump_arg;

static void *bump(void *p)
{
    bump_arg *a = p;
    for (int i = 0; i < 20000; i++) {
        cs_metric_inc(a->c);
        cs_metric_observe(a->h, (double)(i % 3));
    }
    return NULL;
}

static void test_concurrent_updates_and_render(void **state __attribute__((unused)))
{
    cs_metrics *m = cs_metrics_new();
    static const double b[] = {0.5, 1.5};
    bump_arg a = {
        cs_metric_get(cs_metrics_counter(m, "catalogsync_n_total", "N.", NULL), NULL),
        cs_metric_get(cs_metrics_histogram(m, "catalogsync_v", "V.", NULL, b, 2), NULL),
    };
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, bump, &a), 0);
    for (int i = 0; i < 50; i++) {
        char *s = render(m);
        /* Mid-run renders stay well formed: +Inf bucket equals _count. */
        const char *inf = strstr(s, "catalogsync_v_bucket{le=\"+Inf\"} ");
        const char *cnt = strstr(s, "catalogsync_v_count ");
        assert_non_null(inf);
        assert_non_null(cnt);
        assert_int_equal(strtoull(inf + strlen("catalogsync_v_bucket{le=\"+Inf\"} "), NULL, 10),
                         strtoull(cnt + strlen("catalogsync_v_count "), NULL, 10));
        free(s);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *s = render(m);
    assert_non_null(strstr(s, "catalogsync_n_total 80000\n"));
    assert_non_null(strstr(s, "catalogsync_v_bucket{le=\"0.5\"} 26668\n"));
    assert_non_null(strstr(s, "catalogsync_v_count 80000\n"));
    free(s);
    cs_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_registration_checks),
        cmocka_unit_test(test_format_value),
        cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_concurrent_updates_and_render),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
