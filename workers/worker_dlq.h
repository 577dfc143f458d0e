/*
 * worker_dlq: the worker's dead-letter topic (kafka.dlq_topic).  A malformed
 * event is copied there with the reason in headers; a batch's offsets may be
 * committed only once every dead letter of that batch is acknowledged.
 *
 * Only the batch's own deliveries count: a delivery that failed in an
 * earlier batch (whose events were then read again and dead-lettered anew)
 * never holds back a later one.
 *
 * Thread safety: used by the worker's single thread.
 */
#ifndef CS_WORKER_DLQ_H
#define CS_WORKER_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "cs_config.h"
#include "cs_event.h"
#include "cs_kafka.h"

typedef struct worker_dlq {
    cs_publisher *pub;
    const cs_config *cfg;
    const char *sink;           /* the sink's name: the sink header and the log's tag */
    unsigned long queued;       /* dead letters of this batch */
    unsigned long not_queued;   /* ... that could not even be queued */
    uint64_t failed_base;       /* the publisher's failed deliveries when the batch began */
} worker_dlq;

/* 0, or -1 with errstr filled. */
int wdlq_init(worker_dlq *d, const cs_config *cfg, const char *sink, char *errstr,
              size_t errstr_size);
void wdlq_destroy(worker_dlq *d);

/* Starts a batch: forgets the last batch's dead letters. */
void wdlq_new_batch(worker_dlq *d);

/* Queues message m as a dead letter (headers: reason, error, source topic,
 * partition and offset, sink; an event over the size cap is cut to its first
 * 64 KiB, with truncated_from). */
void wdlq_send(worker_dlq *d, const rd_kafka_message_t *m, cs_event_err e, const char *reason);

/* Waits for this batch's dead letters: 0 when every one was acknowledged
 * (or there were none), -1 when one was refused or not acknowledged (the
 * batch must not be committed). */
int wdlq_settle(worker_dlq *d);

#endif
