/*
 * cs_ops: what operators see and do, over Redis — shared by catalogsyncctl
 * and catalogsync-admin.  Reads the keys of docs/REDIS.md (state, retry
 * queue, leases, pauses, counters, per-product history) with SSCAN and
 * pipelining; changes go through cs_sync's scripts (reset, exclude,
 * include, pause, resume), so workers and operators never race.
 *
 * Connections come from the configuration: every Meta catalog (sink
 * "meta") and every WooCommerce store (sink "woocommerce").
 *
 * Thread safety: one cs_ops per thread.  Ownership: json_t results are the
 * caller's (json_decref).
 */
#ifndef CS_OPS_H
#define CS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cs_config.h"
#include "cs_redis.h"
#include "cs_sync.h"
#include "cs_vocab.h"

typedef struct cs_ops cs_ops;

typedef struct cs_ops_conn {
    const char *sink;           /* "meta" or "woocommerce" */
    const char *id;             /* catalog or store id */
} cs_ops_conn;

/* One product at one connection, as the status list shows it. */
typedef struct cs_ops_row {
    const char *sink, *conn;
    char product[512];          /* "<tenant>:<id>" */
    char status[16];            /* synced, pending, retry_pending, failed, skipped */
    int attempts;
    int64_t version, synced_version;
    int64_t next_attempt, last_attempt, last_success, last_error_at;   /* ms, 0 = never */
    char sku[256], name[256];
    char error_code[96], error_message[512], skip_reason[128];
} cs_ops_row;

cs_ops *cs_ops_new(const cs_config *cfg);
void cs_ops_destroy(cs_ops *o);
/* 0 when Redis answers; -1 with cs_ops_errstr() saying why. */
int cs_ops_ready(cs_ops *o);
const char *cs_ops_errstr(cs_ops *o);
/* A round trip (PING): 0 when Redis answers now. */
int cs_ops_ping(cs_ops *o);
cs_redis *cs_ops_redis(cs_ops *o);

size_t cs_ops_n_conns(const cs_ops *o);
const cs_ops_conn *cs_ops_conn_at(const cs_ops *o, size_t i);
/* 1 when connection i passes the filters (NULL = any). */
int cs_ops_conn_match(const cs_ops *o, size_t i, const char *sink, const char *conn);

/* The statuses a product can have at a connection: cs_statuses
 * (common/cs_vocab.h), in that order; a status mask has bit i for
 * cs_statuses[i]. */
#define CS_OPS_N_STATUSES CS_N_STATUSES
/* Index of a status name (anything unknown reads as "pending": not synced). */
int cs_ops_status_index(const char *status);
/* A comma-separated list ("failed,retry_pending"; "retry" is accepted for
 * retry_pending) as a mask; 0 for NULL or "", -1 with *bad set to the first
 * unknown name. */
int cs_ops_status_mask(const char *list, int *mask, char *bad, size_t bad_size);

/* "<tenant>:<id>" for "ID" (tenant "default") or "TENANT:ID". */
void cs_ops_product_key(const char *arg, char *out, size_t size);

/* Every product with state at the matching connections, connection by
 * connection in the configuration's order and within one by product key
 * (numbers in numeric order: p2 before p10); cb returns non-zero to stop.
 * Returns the number of rows, or -1 on Redis failure. */
typedef int (cs_ops_row_cb)(void *opaque, const cs_ops_row *row);
long cs_ops_scan(cs_ops *o, const char *sink, const char *conn, cs_ops_row_cb *cb, void *opaque);

/* A row as JSON (status list, sync-status); NULL when out of memory. */
json_t *cs_ops_row_json(const cs_ops_row *row);

/* One product at every matching connection (sink, conn: NULL for any):
 * state fields, the last attempts, the export link (WooCommerce), exclusion.
 * {"product": ..., "connections": [...]}; the
 * list is empty when the product is unknown.  NULL on Redis failure. */
json_t *cs_ops_show(cs_ops *o, const char *sink, const char *conn, const char *pkey);

/* Retry queue (up to limit entries; due ones only with due_only), leases in
 * flight and paused connections.  NULL on Redis failure. */
json_t *cs_ops_queue(cs_ops *o, const char *sink, int due_only, size_t limit);

/* Per connection: products per status, outcomes over the last hour and day,
 * lifetime counters, the oldest out-of-date product, retries due, pause.
 * NULL on Redis failure. */
json_t *cs_ops_stats(cs_ops *o, const char *sink, const char *conn);

/* Sync status of some products at one connection (the WooCommerce seed's
 * sync-status endpoint): {"connection":..,"products":[{id, status, ...}]}.
 * NULL on Redis failure or when the connection is unknown (*unknown = 1). */
json_t *cs_ops_sync_status(cs_ops *o, const char *sink, const char *conn,
                           const char *const *pkeys, size_t n, int *unknown);

/* Resets the named products (or, with failed_only and n == 0, every failed
 * product) at the matching connections: attempts 0, due at once from the
 * stored snapshot.  Counts what happened; -1 on Redis failure. */
typedef struct cs_ops_reset_counts {
    long queued, excluded, no_snapshot, unknown;
} cs_ops_reset_counts;
int cs_ops_reset(cs_ops *o, const char *sink, const char *conn, const char *const *pkeys,
                 size_t n, int failed_only, cs_ops_reset_counts *counts);

/* Pauses (until resumed) or resumes matching connections; returns how many
 * connections were changed, -1 on Redis failure.  *requeued (resume): the
 * retries the pause had parked, now due. */
int cs_ops_pause(cs_ops *o, const char *sink, const char *conn, const char *reason);
int cs_ops_resume(cs_ops *o, const char *sink, const char *conn, long *requeued);

/* Excludes / includes a product at the matching connections; returns the
 * connections changed, -1 on Redis failure. */
int cs_ops_exclude(cs_ops *o, const char *sink, const char *conn, const char *pkey);
int cs_ops_include(cs_ops *o, const char *sink, const char *conn, const char *pkey,
                   long *requeued);

#endif
