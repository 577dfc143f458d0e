/*
 * cs_keys: every Redis key name, built here only; the table of
 * docs/REDIS.md ("Keys"), in its order.  P is redis.prefix, S the sink, C a
 * connection id, T:ID a product; every key of a sink starts with the base
 * "P{S}:" (one hash tag per sink: one Redis Cluster slot), which
 * cs_key_base writes and cs_sync_key_base returns.
 *
 * Sink-wide, P{S}:NAME (cs_key_sink):
 *   retry inflight lease fence snap
 * Per connection, P{S}:NAME:C (cs_key_conn):
 *   index stats pause counts waiting exclude errors not_linked
 *   (tally: P{S}:tally:C:B, cs_key_tally)
 * Per product at a connection, P{S}:NAME:C:T:ID (cs_key_product):
 *   state history link images
 */
#ifndef CS_KEYS_H
#define CS_KEYS_H

#include <stdint.h>

#include "cs_buf.h"

#define CS_KEY_RETRY "retry"            /* sorted set: member -> due (ms) */
#define CS_KEY_INFLIGHT "inflight"      /* sorted set: member -> lease expiry (ms) */
#define CS_KEY_LEASE "lease"            /* hash: member -> fencing token */
#define CS_KEY_FENCE "fence"            /* string: the token counter */
#define CS_KEY_SNAP "snap"              /* hash: member -> latest event */
#define CS_KEY_STATE "state"            /* hash: one product at one connection */
#define CS_KEY_INDEX "index"            /* set: T:ID with state at C */
#define CS_KEY_STATS "stats"            /* hash: running totals */
#define CS_KEY_PAUSE "pause"            /* hash, expires: a paused connection */
#define CS_KEY_COUNTS "counts"          /* hash: products per status */
#define CS_KEY_HISTORY "history"        /* list: a product's last outcomes */
#define CS_KEY_WAITING "waiting"        /* sorted set: T:ID out of date since */
#define CS_KEY_TALLY "tally"            /* hash, expires: outcomes per 5 minutes */
#define CS_KEY_EXCLUDE "exclude"        /* set: T:ID kept out by an operator */
#define CS_KEY_ERRORS "errors"          /* list: the latest errors */
#define CS_KEY_LINK "link"              /* WooCommerce: hash, the export link */
#define CS_KEY_IMAGES "images"          /* WooCommerce: hash, image URL -> attachment id */
#define CS_KEY_NOT_LINKED "not_linked"  /* WooCommerce: set, never exported to C */

/* "P{S}:" */
void cs_key_base(cs_buf *out, const char *redis_prefix, const char *sink);
/* base + "NAME" */
void cs_key_sink(cs_buf *out, const char *base, const char *name);
/* base + "NAME:C" */
void cs_key_conn(cs_buf *out, const char *base, const char *name, const char *conn);
/* base + "NAME:C:T:ID"; id NULL: tenant is the product key "T:ID" */
void cs_key_product(cs_buf *out, const char *base, const char *name, const char *conn,
                    const char *tenant, const char *id);
/* base + "tally:C:B" */
void cs_key_tally(cs_buf *out, const char *base, const char *conn, int64_t bucket);

#endif
