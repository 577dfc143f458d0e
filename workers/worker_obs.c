#include "worker_obs.h"
#include "cs_httpd.h"
#include "cs_log.h"
#include "cs_metrics.h"
#include "cs_util.h"
#include "cs_vocab.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_STATUS 5              /* 2xx 3xx 4xx 5xx error */

static const char *const status_names[N_STATUS] = {"2xx", "3xx", "4xx", "5xx", "error"};

/* Buckets: events per flush (worker.batch_max is 1000 by default), seconds. */
static const double batch_buckets[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};
static const double flush_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                       10, 30, 60};
static const double request_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                         10, 30};
static const double e2e_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900,
                                     3600, 14400};
#define NB(a) (sizeof a / sizeof a[0])

typedef struct obs_conn {
    worker_obs *o;
    cs_metric_series *latency;
    cs_metric_series *status[N_STATUS];
    cs_metric_series *pushes[CS_N_SETTLE];     /* NULL: a result without a tally label */
} obs_conn;

struct worker_obs {
    cs_metrics *reg;
    char sink[32];
    obs_conn *conns;
    size_t n_conns;

    cs_metric_series *not_pushed[OBS_N_BEGIN];  /* NULL: push and stale (superseded) */
    cs_metric_series *consumed, *dead, *superseded, *claimed, *batch, *flush_s, *e2e,
        *redis_errors, *redis_trips, *redis_up, *partitions;
    unsigned long long redis_errors_seen, redis_trips_seen;

    int64_t stale_ms;                   /* /healthz: the main loop's allowed silence */
    _Atomic int64_t last_beat;          /* cs_mono_ms() */

    pthread_mutex_t mu;                 /* readiness, below */
    int joined, n_partitions, redis_ok, stopping;
    char redis_err[256];

    cs_httpd *httpd;
};

double obs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static cs_metric_series *series1(cs_metric *f, const char *v)
{
    const char *vals[] = {v, NULL};
    return cs_metric_get(f, vals);
}

worker_obs *obs_new(const cs_config *cfg, const char *sink, const char *const *conn_ids,
                    size_t n_conns)
{
    worker_obs *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    if (pthread_mutex_init(&o->mu, NULL) != 0) {
        free(o);
        return NULL;
    }
    cs_strlcpy(o->sink, sink, sizeof o->sink);
    snprintf(o->redis_err, sizeof o->redis_err, "no command sent yet");
    /* The loop may legitimately wait one channel request (worker.http_timeout_ms)
     * or a linger; silence well beyond that means it is stuck. */
    o->stale_ms = 10000;
    if ((int64_t)cfg->worker_linger_ms * 3 > o->stale_ms)
        o->stale_ms = (int64_t)cfg->worker_linger_ms * 3;
    if ((int64_t)cfg->worker_http_timeout_ms + 10000 > o->stale_ms)
        o->stale_ms = (int64_t)cfg->worker_http_timeout_ms + 10000;
    atomic_store(&o->last_beat, cs_mono_ms());

    if (!(o->reg = cs_metrics_new()) ||
        !(o->conns = calloc(n_conns ? n_conns : 1, sizeof *o->conns))) {
        obs_destroy(o);
        return NULL;
    }
    o->n_conns = n_conns;
    static const char *const l_sink[] = {"sink", NULL};
    static const char *const l_conn[] = {"sink", "connection", NULL};
    static const char *const l_push[] = {"sink", "connection", "outcome", NULL};
    static const char *const l_status[] = {"sink", "connection", "status", NULL};
    static const char *const l_reason[] = {"sink", "reason", NULL};
    cs_metrics *m = o->reg;

    cs_metric *up = cs_metrics_gauge(m, "catalogsync_worker_up",
                                     "1 while the worker process runs.", l_sink);
    cs_metric *start = cs_metrics_gauge(m, "catalogsync_process_start_time_seconds",
                                        "Start time of the worker process, seconds since the "
                                        "Unix epoch.", l_sink);
    cs_metric *consumed = cs_metrics_counter(m, "catalogsync_events_consumed_total",
                                             "Events read from Kafka.", l_sink);
    cs_metric *dead = cs_metrics_counter(m, "catalogsync_events_dead_lettered_total",
                                         "Malformed events sent to the dead-letter topic.",
                                         l_sink);
    cs_metric *superseded = cs_metrics_counter(
        m, "catalogsync_events_superseded_total",
        "Events dropped because a newer version of the product was in the batch or already "
        "recorded.", l_sink);
    cs_metric *not_pushed = cs_metrics_counter(
        m, "catalogsync_events_not_pushed_total",
        "Events Redis kept from a push for another reason than a newer version: the version "
        "already settled (dup), queued behind another worker's lease (deferred), excluded by "
        "an operator, held by another live worker.", l_reason);
    cs_metric *pushes = cs_metrics_counter(
        m, "catalogsync_pushes_total",
        "Outcomes of pushes to a channel connection, as settled in Redis.", l_push);
    cs_metric *claimed = cs_metrics_counter(m, "catalogsync_retries_claimed_total",
                                            "Due retries claimed from the Redis retry queue.",
                                            l_sink);
    cs_metric *batch = cs_metrics_histogram(m, "catalogsync_batch_events",
                                            "Kafka events taken per flush.", l_sink,
                                            batch_buckets, NB(batch_buckets));
    cs_metric *flush_s = cs_metrics_histogram(
        m, "catalogsync_flush_duration_seconds",
        "Time to process one batch: claim retries, push, settle, commit.", l_sink,
        flush_buckets, NB(flush_buckets));
    cs_metric *latency = cs_metrics_histogram(
        m, "catalogsync_channel_request_duration_seconds",
        "Duration of HTTP requests to a channel connection.",
        l_conn, request_buckets, NB(request_buckets));
    cs_metric *requests = cs_metrics_counter(
        m, "catalogsync_channel_requests_total",
        "HTTP requests to a channel connection by answer class (error: no HTTP answer).",
        l_status);
    cs_metric *e2e = cs_metrics_histogram(
        m, "catalogsync_end_to_end_seconds",
        "From the Kafka timestamp of an event to its outcome settled in Redis (the oldest "
        "event when several versions of a product were coalesced).", l_sink, e2e_buckets,
        NB(e2e_buckets));
    cs_metric *redis_errors = cs_metrics_counter(
        m, "catalogsync_redis_errors_total",
        "Failed Redis operations: connects, transport errors, refused AUTH/SELECT/SCRIPT LOAD.",
        l_sink);
    cs_metric *redis_trips = cs_metrics_counter(
        m, "catalogsync_redis_round_trips_total",
        "Round trips to Redis (a pipeline counts once): per flush, not per event.", l_sink);
    cs_metric *redis_up = cs_metrics_gauge(m, "catalogsync_redis_up",
                                           "1 when Redis answered the last command.", l_sink);
    cs_metric *partitions = cs_metrics_gauge(m, "catalogsync_kafka_assigned_partitions",
                                             "Partitions assigned to this worker's consumer.",
                                             l_sink);

    cs_metric_set(series1(up, sink), 1);
    cs_metric_set(series1(start, sink), (double)cs_now_ms() / 1000.0);
    o->consumed = series1(consumed, sink);
    o->dead = series1(dead, sink);
    o->superseded = series1(superseded, sink);
    for (int r = CS_BEGIN_PUSH + 1; r < OBS_N_BEGIN; r++) {
        const char *lr[] = {sink, cs_begin_name(r), NULL};
        if (r != CS_BEGIN_STALE)
            o->not_pushed[r] = cs_metric_get(not_pushed, lr);
    }
    o->claimed = series1(claimed, sink);
    o->batch = series1(batch, sink);
    o->flush_s = series1(flush_s, sink);
    o->e2e = series1(e2e, sink);
    o->redis_errors = series1(redis_errors, sink);
    o->redis_trips = series1(redis_trips, sink);
    o->redis_up = series1(redis_up, sink);
    o->partitions = series1(partitions, sink);
    cs_metric_set(o->redis_up, 0);
    cs_metric_set(o->partitions, 0);
    /* Every series exists from the start: a rate over a series that appears
     * with its first event misses that event. */
    for (size_t i = 0; i < n_conns; i++) {
        obs_conn *c = &o->conns[i];
        const char *lc[] = {sink, conn_ids[i], NULL};
        c->o = o;
        c->latency = cs_metric_get(latency, lc);
        for (size_t k = 0; k < N_STATUS; k++) {
            const char *ls[] = {sink, conn_ids[i], status_names[k], NULL};
            c->status[k] = cs_metric_get(requests, ls);
        }
        for (size_t k = 0; k < CS_N_SETTLE; k++) {
            if (!cs_settle_results[k].tally)
                continue;
            const char *lp[] = {sink, conn_ids[i], cs_settle_results[k].tally, NULL};
            c->pushes[k] = cs_metric_get(pushes, lp);
        }
    }
    return o;
}

void obs_http_stop(worker_obs *o)
{
    if (o && o->httpd) {
        cs_httpd_stop(o->httpd);
        o->httpd = NULL;
        CS_INFO(o->sink, "HTTP server stopped");
    }
}

void obs_destroy(worker_obs *o)
{
    if (!o)
        return;
    obs_http_stop(o);
    cs_metrics_destroy(o->reg);
    free(o->conns);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

/* ---- updates (worker thread) ---- */

void obs_beat(worker_obs *o)
{
    atomic_store(&o->last_beat, cs_mono_ms());
}

void obs_consumed(worker_obs *o)
{
    cs_metric_inc(o->consumed);
}

void obs_dead_lettered(worker_obs *o)
{
    cs_metric_inc(o->dead);
}

void obs_superseded(worker_obs *o)
{
    cs_metric_inc(o->superseded);
}

void obs_not_pushed(worker_obs *o, int begin_result)
{
    if (begin_result >= 0 && begin_result < OBS_N_BEGIN && o->not_pushed[begin_result])
        cs_metric_inc(o->not_pushed[begin_result]);
}

void obs_retry_claimed(worker_obs *o)
{
    cs_metric_inc(o->claimed);
}

void obs_pushed(worker_obs *o, size_t conn, int res)
{
    if (conn < o->n_conns && res >= 0 && res < CS_N_SETTLE && o->conns[conn].pushes[res])
        cs_metric_inc(o->conns[conn].pushes[res]);
}

void obs_end_to_end(worker_obs *o, double seconds)
{
    cs_metric_observe(o->e2e, seconds < 0 ? 0 : seconds);   /* clocks may disagree */
}

void obs_flush(worker_obs *o, size_t n_events, double seconds)
{
    if (n_events)
        cs_metric_observe(o->batch, (double)n_events);
    cs_metric_observe(o->flush_s, seconds);
}

void obs_assignment(worker_obs *o, int joined, int n_partitions)
{
    cs_metric_set(o->partitions, n_partitions);
    pthread_mutex_lock(&o->mu);
    o->joined = joined;
    o->n_partitions = n_partitions;
    pthread_mutex_unlock(&o->mu);
}

void obs_redis(worker_obs *o, const cs_redis *r)
{
    unsigned long long e = cs_redis_errors(r);
    if (e > o->redis_errors_seen) {
        cs_metric_add(o->redis_errors, (double)(e - o->redis_errors_seen));
        o->redis_errors_seen = e;
    }
    unsigned long long t = cs_redis_round_trips(r);
    if (t > o->redis_trips_seen) {
        cs_metric_add(o->redis_trips, (double)(t - o->redis_trips_seen));
        o->redis_trips_seen = t;
    }
    int up = cs_redis_connected(r);
    cs_metric_set(o->redis_up, up);
    pthread_mutex_lock(&o->mu);
    o->redis_ok = up;
    if (!up)
        cs_strlcpy(o->redis_err, cs_redis_errstr(r), sizeof o->redis_err);
    pthread_mutex_unlock(&o->mu);
}

void obs_stopping(worker_obs *o)
{
    pthread_mutex_lock(&o->mu);
    o->stopping = 1;
    pthread_mutex_unlock(&o->mu);
}

static void on_http_done(void *ud, const cs_http_resp *resp)
{
    obs_conn *c = ud;
    size_t k = resp->err != CS_HTTP_OK || resp->status < 200 || resp->status > 599
                   ? 4 : (size_t)(resp->status / 100 - 2);
    cs_metric_observe(c->latency, resp->total_seconds);
    cs_metric_inc(c->status[k]);
    obs_beat(c->o);     /* a long confirm or a slow channel is progress too */
}

void obs_watch_http(worker_obs *o, size_t conn, cs_http *h)
{
    if (h && conn < o->n_conns)
        cs_http_set_observer(h, on_http_done, &o->conns[conn]);
}

/* ---- HTTP (server thread) ---- */

static void healthz(worker_obs *o, cs_httpd_resp *resp)
{
    int64_t age = cs_mono_ms() - atomic_load(&o->last_beat);
    if (age <= o->stale_ms)
        cs_httpd_resp_text(resp, 200, "ok\n");
    else
        cs_httpd_resp_text(resp, 503, "main loop has not run for %lld ms (limit %lld ms)\n",
                           (long long)age, (long long)o->stale_ms);
}

static void readyz(worker_obs *o, cs_httpd_resp *resp)
{
    pthread_mutex_lock(&o->mu);
    int ok = o->joined && o->redis_ok && !o->stopping;
    if (ok) {
        cs_httpd_resp_text(resp, 200, "ready: %d partition(s) assigned, Redis answering\n",
                           o->n_partitions);
    } else {
        cs_httpd_resp_text(resp, 503, "not ready\n");
        cs_buf *b = cs_httpd_resp_body(resp);
        if (o->stopping)
            cs_buf_appendf(b, "worker: stopping\n");
        if (!o->joined)
            cs_buf_appendf(b, "kafka: consumer has not joined its group (no assignment yet)\n");
        if (!o->redis_ok)
            cs_buf_appendf(b, "redis: %s\n", o->redis_err);
    }
    pthread_mutex_unlock(&o->mu);
}

void obs_http_handle(void *ud, const cs_httpd_req *req, cs_httpd_resp *resp)
{
    worker_obs *o = ud;
    const char *path = cs_httpd_req_path(req), *method = cs_httpd_req_method(req);
    int metrics = strcmp(path, "/metrics") == 0;
    cs_httpd_resp_header(resp, "Cache-Control", "no-store");
    if (!metrics && strcmp(path, "/healthz") != 0 && strcmp(path, "/readyz") != 0) {
        cs_httpd_resp_text(resp, 404, "not found: %s serves /metrics, /healthz and /readyz\n",
                           "catalogsync-worker");
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        cs_httpd_resp_header(resp, "Allow", "GET, HEAD");
        cs_httpd_resp_text(resp, 405, "method not allowed: use GET\n");
        return;
    }
    if (metrics) {
        cs_httpd_resp_type(resp, CS_METRICS_CONTENT_TYPE);
        if (cs_metrics_render(o->reg, cs_httpd_resp_body(resp)) != 0)
            cs_httpd_resp_text(resp, 500, "out of memory rendering metrics\n");
    } else if (path[1] == 'h') {
        healthz(o, resp);
    } else {
        readyz(o, resp);
    }
}

int obs_http_start(worker_obs *o, const char *listen, char *errstr, size_t errstr_size)
{
    cs_httpd_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.listen = listen;
    opts.max_body = 64 * 1024;
    opts.log_name = o->sink;
    if (!(o->httpd = cs_httpd_start(&opts, obs_http_handle, o, errstr, errstr_size)))
        return -1;
    CS_INFO(o->sink, "HTTP listening on %s (/metrics, /healthz, /readyz)",
            cs_httpd_address(o->httpd));
    return 0;
}
