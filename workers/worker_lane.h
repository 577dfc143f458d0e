/*
 * worker_lane: the push stage, one lane (thread) per connection.
 *
 * The worker's main thread consumes, routes, coalesces and gates (begin);
 * a batch's jobs for connection i are then handed to lane i, which reads
 * their state, pushes them (the sink's push), settles, logs and counts the
 * outcomes, and drives the sink's confirmations (Meta batches polled on
 * later turns).  Lanes never wait for each other: a connection that hangs
 * holds its own lane, nothing else.  Each lane has its own Redis connection
 * and never touches Kafka.
 *
 * Durability does not wait for a lane: begin records every pushed version
 * with a recovery entry in the retry queue (docs/REDIS.md), so the main
 * thread commits the batch's offsets once the jobs are handed over.  A lane
 * holds at most worker.max_inflight_batches batches (the one it pushes and
 * those waiting); beyond that the main thread hands the connection's
 * products back to Redis (queued, due at once), where they wait without
 * costing worker memory until the lane has room (docs/DESIGN.md,
 * "Connections progress independently").
 *
 * Thread safety: lane_offer, lane_busy and lanes_stop are called by the
 * worker's main thread; everything else runs in the lane's thread.
 */
#ifndef CS_WORKER_LANE_H
#define CS_WORKER_LANE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_redis.h"
#include "cs_sync.h"
#include "worker_outcome.h"

typedef struct cs_worker cs_worker;
typedef struct lane_batch lane_batch;

typedef struct worker_lane {
    cs_worker *w;
    size_t conn;
    const char *id;             /* the connection's id */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;         /* guards the fields up to `stop` */
    pthread_cond_t cv;
    lane_batch *head, *tail;    /* batches waiting */
    size_t n_batches;           /* waiting and being pushed */
    int stop;
    int64_t deadline;           /* when stopping: done by then (cs_mono_ms clock) */
    /* The lane thread's own. */
    cs_redis *redis;
    cs_sync *sync;
    worker_tally tally;         /* read by the main thread after lanes_stop */
    unsigned long long n_stale;
} worker_lane;

/* Starts one lane per connection of w's sink.  -1 with errstr filled. */
int lanes_start(cs_worker *w, worker_lane **lanes, char *errstr, size_t errstr_size);

/* 1 when lane l holds worker.max_inflight_batches batches already. */
int lane_busy(worker_lane *l);

/* Hands jobs (all of l's connection, their begin done) to lane l, which
 * owns them from here (frees them when done).  -1 when the lane is busy or
 * out of memory: the caller keeps them. */
int lane_offer(worker_lane *l, cs_sync_job **jobs, size_t n);

/* Stops every lane: each finishes its batches and hands over what the sink
 * has unconfirmed by deadline (cs_mono_ms clock; requests are cut short at
 * it), hands back what it could not start, then ends.  Adds the lanes'
 * tallies to *tally and *n_stale, and frees the lanes. */
void lanes_stop(worker_lane *lanes, size_t n, int64_t deadline, worker_tally *tally,
                unsigned long long *n_stale);

#endif
