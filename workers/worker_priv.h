/*
 * worker_priv.h: what worker.c shares with worker_rebalance.c (the consumer
 * group's callback).  Not for callers: they use worker.h.
 */
#ifndef CS_WORKER_PRIV_H
#define CS_WORKER_PRIV_H

#include "worker.h"
#include "cs_redis.h"
#include "cs_sync.h"
#include "worker_dlq.h"
#include "worker_obs.h"
#include "worker_outcome.h"
#include "worker_lane.h"

#include <librdkafka/rdkafka.h>

struct cs_worker {
    cs_config *cfg;
    const cs_sink_ops *ops;
    void *sink;
    rd_kafka_t *rk;
    worker_dlq dlq;
    cs_redis *redis;
    cs_sync *sync;
    cs_event_limits lim;

    worker_obs *obs;

    cs_sync_job **jobs;
    cs_sync_job **spare;        /* jobs of earlier batches, reused: a job is a few KB */
    size_t n_spare;
    int64_t *ts;                /* per job: Kafka timestamp (ms) of its oldest event, 0 = none */
    size_t n_jobs, cap_jobs;
    size_t *slots;              /* coalescing index: job index + 1, 0 = empty */
    size_t n_slots;
    rd_kafka_topic_partition_list_t *first;  /* first offset of the batch per partition */
    rd_kafka_topic_partition_list_t *next;   /* offset to commit per partition */
    size_t n_msgs;
    size_t n_bytes;             /* Kafka payload bytes of the batch (worker.batch_max_bytes) */
    int64_t batch_started;

    unsigned long long n_events, n_dead;
    unsigned long long n_stale;             /* superseded: by a newer version in the batch,
                                               in Redis (begin: stale) or since begin (lanes) */
    unsigned long long n_not_pushed[OBS_N_BEGIN];   /* fresh events begin answered
                                                       dup, deferred, excluded or held */
    worker_tally tally;         /* settled outcomes since start */

    worker_lane *lanes;         /* one per connection: the push stage (worker_lane.c) */

    cs_sync_job **held;         /* claimed retries not pushed, to hand back (release_held) */
    size_t n_held, cap_held;
    int stopping;               /* shutdown: the last flush claims no retries */
};

/* Settles and commits the batch in hand (worker.c's flush): 0, or -1 when
 * its outcomes are not durable (nothing was committed). */
int worker_flush(cs_worker *w);

/* Drops the batch unsettled; its claimed retries are handed back. */
void worker_drop_batch(cs_worker *w);

/* The rebalance callback of the worker's consumer (opaque: the worker). */
void worker_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

#endif
