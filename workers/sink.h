/*
 * sink: what a channel plugs into the worker, and which stage of the
 * worker's pipeline calls each hook.
 *
 * The worker (the channel-neutral loop) owns everything but the channel:
 * consuming, dead-lettering, routing and coalescing per product, the
 * version gate, connection pauses, retries, state, logs and offsets.  A sink
 * says which connections an event goes to, pushes a set of jobs to one
 * connection and confirms them, filling each job's outcome; the words of its
 * channel (the name of a remote id, of a trace id, of a connection) are
 * fields of cs_sink_ops, so the loop never speaks of one channel.
 *
 * One batch through the pipeline:
 *
 *   Kafka ─▶ consume/decode ─▶ route/coalesce ─▶ gate (begin) ─▶ hand over
 *         ─▶ commit                        (the worker's main thread)
 *   lane i: push ─▶ confirm ─▶ settle ─▶ log (one thread per connection)
 *
 *   stage            where (cs_sync_*: common/cs_sync.c)        sink hook
 *   ───────────────  ─────────────────────────────────────────  ──────────────────
 *   consume/decode   worker.c handle_message (cs_event_parse)   -
 *     malformed  ─▶  dead-letter topic, worker_dlq.c            -
 *   route            worker.c handle_message                    routes
 *   coalesce         worker.c add_job: one job per product      -
 *   claim retries    worker.c flush (cs_sync_claim_except)      -
 *   prepare          worker.c flush                             prepare (optional)
 *   gate (begin)     worker.c flush (cs_sync_begin)             -
 *   hand over        worker.c flush: lane_offer, or back to     -
 *                    Redis when the lane is busy
 *   commit           worker.c flush: wdlq_settle (worker_dlq.c) -
 *                    then rd_kafka_commit
 *   read, pause      worker_lane.c read_and_push (cs_sync_read) -
 *   push             worker_lane.c push                         push
 *   confirm          inside the sink's push, or on later turns  push, ctx->mark_pending;
 *                    of the lane (worker_lane.c lane_main)      confirm, ctx->settle_later
 *   settle           worker_lane.c settle (cs_sync_settle),     -
 *                    requeue_overtaken; settle_later
 *   log and count    worker_outcome.c, worker_obs.c             the words below
 *
 * Threads: create, n_conns, conn_id, conn_http, routes, prepare and destroy
 * are called by the worker's main thread; push and confirm for connection i
 * by lane i's thread only, so a sink's per-connection state needs no lock,
 * but state shared by its connections does.  The ctx a lane passes carries
 * that lane's own Redis connection.  No two hooks for the same connection
 * run at once; hooks for different connections do.
 *
 * Hooks, in the order the stages call them:
 *
 *   create      start-up (cs_worker_new), once, before Kafka and Redis are
 *               touched.  NULL with errstr filled: the worker does not start.
 *   n_conns, conn_id
 *               any stage, any number of times; the answers never change
 *               for the sink's life.  conn_id names the connection in Redis
 *               keys, metrics and logs.
 *   conn_http   start-up, once per connection (optional): the worker times
 *               the requests of the returned handle (metrics, liveness).
 *   routes      route (consume stage), once per decoded event and
 *               connection, before coalescing.  The event is read-only and
 *               may be shared by several connections' jobs.  A claimed
 *               retry is not routed again: its connection is in its key.
 *   prepare     after route, coalesce and claim, before the gate (optional):
 *               once per batch with every job of every connection, fresh
 *               events and claimed retries alike, state not yet read.  May
 *               set job->ignore (nothing to do here: no gate, no push, no
 *               settle) and attach job->sink_data / sink_free.  ctx gives
 *               Redis for the sink's own records; mark_pending is not for
 *               prepare.  -1 (Redis failed): nothing is settled or committed,
 *               the batch is read again.
 *   push        push and confirm, once per batch and connection with jobs
 *               to push, in the connection's lane, after the gate.  Guarantees:
 *               every job is of connection i, one job per product (the
 *               newest version in the batch), its state read (job->st), the
 *               gate passed (a fresh event newer than the state or still
 *               pending at its version, or a claimed retry of the stored
 *               version), the connection not paused when the push starts.
 *               The sink sets every job's out.kind (CS_OUT_NONE: nothing
 *               to record; CS_OUT_RELEASE: handed back untouched, due at
 *               out.resume_at).  A channel that confirms later records the
 *               accepted jobs first: kind CS_OUT_PENDING with out.handle,
 *               then ctx->mark_pending (settled at once, durably; the kind
 *               comes back CS_OUT_NONE), then it waits for the channel's
 *               verdict and sets the final outcome.  A connection-level
 *               verdict goes into res: pause (until_ms, kind, reason; the
 *               worker logs it and pauses the connection for every worker)
 *               or redis_failed (the sink's own records failed: nothing is
 *               committed, the batch is read again).
 *               A claimed retry left without an outcome is handed back
 *               (release) unless it was recorded pending: its lease goes
 *               with the batch the sink confirms later.
 *   confirm     by the connection's lane after each push and when the time
 *               it asked for comes, and once at shutdown (optional): see
 *               the field below.
 *   (settle, log, commit call no hook: they read the outcomes and the
 *    words below.)
 *   destroy     shutdown (cs_worker_destroy), once, after the last push.
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
    char kind[16];          /* why, one word: cs_class_name() ("throttle", "auth",
                               "refused") or the sink's own; every kind but
                               "throttle" is logged as an ALERT */
    char reason[512];
    int redis_failed;       /* the sink's own records could not be written */
} cs_conn_result;

/* Services the worker offers a sink during prepare and push. */
typedef struct cs_push_ctx {
    /* Records CS_OUT_PENDING (with out.handle) for jobs durably before the
     * sink waits for confirmation, so a worker that crashes meanwhile is
     * followed by one that confirms instead of pushing again.  -1 when Redis
     * failed. */
    int (*mark_pending)(void *worker, cs_sync_job **jobs, size_t n);
    void *worker;
    cs_redis *redis;        /* for sinks that keep records of their own */
    cs_sync *sync;          /* key names */
    /* Settles outcomes the sink learnt after its push returned (a batch
     * confirmed on a later turn), logged and counted like a flush's; res,
     * when it says pause, pauses connection conn first.  The jobs are the
     * sink's (its copies).  -1 when Redis failed. */
    int (*settle_later)(void *worker, size_t conn, cs_sync_job **jobs, size_t n,
                        const cs_conn_result *res);
    /* When stopping (confirm with stopping = 1): be done by then (cs_mono_ms
     * clock).  0 otherwise. */
    int64_t deadline;
} cs_push_ctx;

typedef struct cs_sink_ops {
    /* The channel's words, used by the loop's logs and metrics. */
    const char *name;           /* the sink: --sink, Redis hash tag, log tag, metric label */
    const char *group;          /* Kafka consumer group */
    const char *conn_noun;      /* what a connection is called in logs */
    const char *error_title;    /* headline of the bordered error block */
    const char *remote_id_noun; /* what out.remote_id is called in the success line;
                                   NULL: "remote id" */
    const char *trace_label;    /* label of out.err_trace in the error block; NULL:
                                   "trace id" */

    /* The hooks, described above. */
    void *(*create)(const cs_config *cfg, char *errstr, size_t errstr_size);
    size_t (*n_conns)(void *sink);
    const char *(*conn_id)(void *sink, size_t i);
    /* 1 when the event may go to connection i. */
    int (*routes)(void *sink, size_t i, const cs_event *ev);
    /* Optional: sets job->ignore on jobs with nothing to do, attaches
     * sink_data to the rest.  -1 when Redis failed. */
    int (*prepare)(void *sink, const cs_push_ctx *ctx, cs_sync_job **jobs, size_t n);
    /* Pushes (and confirms) jobs, all of connection i, and fills every
     * job's out.kind. */
    void (*push)(void *sink, size_t i, cs_sync_job **jobs, size_t n, const cs_push_ctx *ctx,
                 cs_conn_result *res);
    void (*destroy)(void *sink);
    /* Optional: the HTTP client of connection i, so that the worker can time
     * its requests (cs_http_set_observer). */
    cs_http *(*conn_http)(void *sink, size_t i);
    /* Optional, per connection i, by its lane: after every push and when
     * the time it returned last comes (stopping = 0), and once when the lane
     * stops (1).  A sink whose pushes return before the channel confirmed
     * them (Meta) polls what is due and settles what finished through
     * ctx->settle_later; when stopping it leaves what is unconfirmed durable
     * for the next worker.  Returns when it wants to be called again
     * (cs_mono_ms clock), 0 when it has nothing outstanding. */
    int64_t (*confirm)(void *sink, size_t i, const cs_push_ctx *ctx, int stopping);
} cs_sink_ops;

/* The sinks (workers/meta.c, workers/woo.c). */
extern const cs_sink_ops cs_meta_sink;
extern const cs_sink_ops cs_woo_sink;

#endif
