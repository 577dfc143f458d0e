/*
 * sink: what a channel (Meta, WooCommerce) plugs into the worker.
 *
 * The worker owns everything channel-neutral: consuming, dead-lettering,
 * coalescing per product, the version gate, connection pauses, retries,
 * state, logs and offsets.  A sink only says which connections an event goes
 * to and pushes a set of jobs to one connection, filling each job's outcome.
 *
 * Thread safety: a sink is used by the worker's single thread.
 */
#ifndef CS_SINK_H
#define CS_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "cs_config.h"
#include "cs_http.h"
#include "cs_redis.h"
#include "cs_sync.h"

/* A connection-level verdict from a push: pause every worker's use of it. */
typedef struct cs_conn_result {
    int pause;
    int64_t until_ms;
    char kind[16];          /* "throttle" | "auth" | "store" (WooCommerce: not WooCommerce answering) */
    char reason[512];
    int redis_failed;       /* the sink's own records could not be written */
} cs_conn_result;

/* Services the worker offers a sink during a push. */
typedef struct cs_push_ctx {
    /* Records CS_OUT_PENDING (with out.handle) for jobs durably before the
     * sink waits for confirmation, so a worker that crashes meanwhile is
     * followed by one that confirms instead of pushing again.  -1 when Redis
     * failed. */
    int (*mark_pending)(void *worker, cs_sync_job **jobs, size_t n);
    void *worker;
    cs_redis *redis;        /* for sinks that keep records of their own (links) */
    cs_sync *sync;          /* key names */
} cs_push_ctx;

typedef struct cs_sink_ops {
    const char *name;           /* "meta" */
    const char *group;          /* Kafka consumer group */
    const char *conn_noun;      /* what a connection is called in logs */
    const char *error_title;    /* headline of the bordered error block */
    const char *remote_id_noun; /* what out.remote_id is called in the success line;
                                   NULL: "remote id" */
    const char *trace_label;    /* label of out.err_trace in the error block; NULL:
                                   "trace id" */
    void *(*create)(const cs_config *cfg, char *errstr, size_t errstr_size);
    size_t (*n_conns)(void *sink);
    const char *(*conn_id)(void *sink, size_t i);
    /* 1 when the event may go to connection i. */
    int (*routes)(void *sink, size_t i, const cs_event *ev);
    /* Optional: before the version gate, looks at the batch's jobs (one Redis
     * pipeline) and sets job->ignore on those with nothing to do (a product
     * never exported to a store), attaching sink_data to the rest.  -1 when
     * Redis failed. */
    int (*prepare)(void *sink, const cs_push_ctx *ctx, cs_sync_job **jobs, size_t n);
    /* Pushes jobs (all of connection i, each with state read) and fills
     * every job's out.kind; a job left CS_OUT_NONE needs nothing. */
    void (*push)(void *sink, size_t i, cs_sync_job **jobs, size_t n, const cs_push_ctx *ctx,
                 cs_conn_result *res);
    void (*destroy)(void *sink);
    /* Optional: the HTTP client of connection i, so that the worker can time
     * its requests (cs_http_set_observer). */
    cs_http *(*conn_http)(void *sink, size_t i);
} cs_sink_ops;

extern const cs_sink_ops cs_meta_sink;
extern const cs_sink_ops cs_woo_sink;

#endif
