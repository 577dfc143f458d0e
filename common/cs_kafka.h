/*
 * cs_kafka: Kafka clients built from cs_config, and the producer hook's
 * publisher.
 *
 * The publisher is the C API of the producer hook: an idempotent producer
 * with acks=all (enforced, whatever the properties say), keyed
 * "<tenant>:<product_id>" so that every event of one product lands in one
 * partition in order, with headers "type", "schema" and "event_id".  Every
 * delivery report is checked and counted; publish never flushes per event,
 * it only waits when librdkafka's local queue is full.
 *
 * Thread safety: one publisher may be used from one thread at a time;
 * delivery callbacks run inside cs_publisher_send()/flush() on that thread.
 * Ownership: cs_publisher_new() returns a publisher freed with
 * cs_publisher_destroy(), which does not flush: call cs_publisher_flush()
 * first to wait for acknowledgements.
 */
#ifndef CS_KAFKA_H
#define CS_KAFKA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "cs_config.h"
#include "cs_event.h"

/* A librdkafka configuration with brokers, the configured properties and
 * cs_log routing, for a client of type (RD_KAFKA_PRODUCER or
 * RD_KAFKA_CONSUMER): a property librdkafka documents as the other type's
 * only (C or P in its CONFIGURATION.md) is left out, so that one
 * kafka.properties serves workers, the dead-letter producer and the
 * publisher without a CONFWARN at every start.  NULL on error with errstr
 * filled. */
rd_kafka_conf_t *cs_kafka_conf_new(const cs_config *cfg, const char *client_id,
                                   rd_kafka_type_t type, char *errstr, size_t errstr_size);

/* The workers' consumer: cs_kafka_conf_new() for RD_KAFKA_CONSUMER plus
 * catalogsync's own defaults (cs_kafka_consumer_defaults()) for the
 * properties kafka.properties does not set.  NULL on error with errstr. */
rd_kafka_conf_t *cs_kafka_consumer_conf_new(const cs_config *cfg, const char *client_id,
                                            char *errstr, size_t errstr_size);

typedef struct cs_kafka_default {
    const char *name;
    const char *value;
    const char *alias;      /* librdkafka's other name for it, or NULL */
} cs_kafka_default;

/* The consumer defaults catalogsync applies, *n of them. */
const cs_kafka_default *cs_kafka_consumer_defaults(size_t *n);

/* Prints, as comment lines, each of those properties' effective value for
 * the consumer cfg gives and whether it is catalogsync's default or comes
 * from kafka.properties (catalogsync-worker --check-config). */
void cs_kafka_consumer_conf_dump(const cs_config *cfg, FILE *out);

typedef struct cs_publisher cs_publisher;

typedef struct cs_header {
    const char *name;
    const char *value;
} cs_header;

/* Called once per message with err NULL when Kafka acknowledged it. */
typedef void (cs_publish_cb)(void *cb_opaque, void *msg_opaque, const char *err);

cs_publisher *cs_publisher_new(const cs_config *cfg, cs_publish_cb *cb, void *cb_opaque,
                               char *errstr, size_t errstr_size);

/* Queues one message (copied).  topic NULL = the configured events topic.
 * 0 on success; -1 with errstr when it could not be queued. */
int cs_publisher_send(cs_publisher *p, const char *topic, const char *key, size_t key_len,
                      const void *value, size_t value_len, const cs_header *headers,
                      size_t n_headers, void *msg_opaque, char *errstr, size_t errstr_size);

/* Serializes ev and queues it with the contract's key and headers. */
int cs_publisher_publish_event(cs_publisher *p, const cs_event *ev, void *msg_opaque,
                               char *errstr, size_t errstr_size);

/* Waits up to timeout_ms for every queued message's delivery report.
 * Returns the number of messages still unacknowledged (0 = all reported). */
int cs_publisher_flush(cs_publisher *p, int timeout_ms);

typedef struct cs_publisher_stats {
    uint64_t queued;
    uint64_t acked;
    uint64_t failed;
} cs_publisher_stats;

void cs_publisher_get_stats(const cs_publisher *p, cs_publisher_stats *st);
/* The first delivery error seen, or NULL. */
const char *cs_publisher_first_error(const cs_publisher *p);
/* The latest delivery error seen, or NULL. */
const char *cs_publisher_last_error(const cs_publisher *p);

void cs_publisher_destroy(cs_publisher *p);

#endif
