/*
 * cs_event: the product-event contract v1 (docs/EVENTS.md).
 *
 * Parses and validates one event into a cs_event, builds events from bare
 * product snapshots (the producer CLI's input), and serializes an event back
 * to its canonical JSON.  Events are decoded in one pass by cs_event_fast.c;
 * what it does not take goes to the reference parser in cs_event.c (jansson),
 * which words every rejection (docs/DESIGN.md).  Nothing here exposes either.
 *
 * Every rejection fills errstr with "<field>: <problem>", naming the field
 * (e.g. "product.price.amount: is not a decimal string (\"12,5\")").
 *
 * Thread safety: all functions are reentrant; an event belongs to one thread.
 * Ownership: cs_event_parse() returns a new event the caller frees with
 * cs_event_destroy(); cs_event_share() adds a holder (a worker's jobs for
 * several connections share one decoded event), and the event is freed when
 * its last holder destroys it.  All strings inside an event live in the event's own
 * arena and die with it.  Money stays a decimal string, never a double.
 */
#ifndef CS_EVENT_H
#define CS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "cs_buf.h"

#define CS_EVENT_SCHEMA        1
#define CS_EVENT_DEFAULT_MAX   (1024 * 1024)
#define CS_EVENT_DEFAULT_TENANT "default"
/* The largest product.version the contract takes: 2^53 - 1, the largest
 * integer a double holds exactly.  Redis's Lua compares versions as doubles
 * and JavaScript producers hold them as doubles, so a larger version could
 * compare equal to its neighbour and be skipped as already synced
 * (docs/EVENTS.md). */
#define CS_EVENT_MAX_VERSION   (((int64_t)1 << 53) - 1)

typedef enum {
    CS_EVENT_OK = 0,
    CS_EVENT_ETOOBIG,   /* payload over the size cap */
    CS_EVENT_EUTF8,     /* invalid UTF-8 */
    CS_EVENT_EJSON,     /* not parseable JSON */
    CS_EVENT_EINVALID,  /* parseable, but breaks the contract */
    CS_EVENT_ENOMEM
} cs_event_err;

typedef enum {
    CS_EV_NONE = 0,
    CS_EV_CREATED,
    CS_EV_UPDATED,
    CS_EV_ATTRIBUTES_UPDATED,
    CS_EV_ASSETS_UPDATED,
    CS_EV_DELETED,
    CS_EV_EXPORT_REQUESTED
} cs_event_type;

typedef enum {
    CS_DELETE_NONE = 0,
    CS_DELETE_SOFT,
    CS_DELETE_PERMANENT
} cs_delete_mode;

typedef struct cs_money {
    const char *amount;     /* decimal string, e.g. "189.99"; NULL = absent */
    char currency[4];       /* ISO 4217, e.g. "USD" */
} cs_money;

typedef struct cs_attr {
    const char *name;
    const char *value;
} cs_attr;

typedef struct cs_product {
    const char *id;
    int64_t version;
    const char *sku;            /* NULL when absent or null */
    const char *name;
    const char *description;
    cs_money price;             /* price.amount NULL when absent or null */
    cs_money sale_price;
    int has_stock;
    int64_t stock_quantity;
    int is_active;              /* default 1 */
    const char *brand;
    const char *condition;
    const char *link;
    const char **images;
    size_t n_images;
    const char **categories;
    size_t n_categories;
    cs_attr *attributes;
    size_t n_attributes;
} cs_product;

typedef struct cs_export {
    int64_t *connections;
    size_t n_connections;
    const char **fields;
    size_t n_fields;
    int partial_update;
} cs_export;

typedef struct cs_event_arena cs_event_arena;

typedef struct cs_event {
    int schema;
    const char *event_id;
    cs_event_type type;
    const char *tenant;
    const char *occurred_at;
    cs_product product;
    const char **changed_fields;    /* NULL when absent */
    size_t n_changed_fields;
    int has_changed_fields;
    cs_delete_mode delete_mode;     /* product.deleted only */
    int has_export;
    cs_export export;               /* product.export_requested only */
    const char *actor;
    cs_event_arena *arena;
    unsigned shares;                /* holders besides the first (cs_event_share) */
} cs_event;

typedef struct cs_event_limits {
    size_t max_bytes;               /* 0 = CS_EVENT_DEFAULT_MAX */
} cs_event_limits;

/* What to wrap a bare product snapshot in (catalogsync-publish flags).
 * Strings are copied into the new event. */
typedef struct cs_event_template {
    cs_event_type type;             /* required to wrap snapshots */
    const char *tenant;             /* NULL = "default" */
    const char *actor;
    cs_delete_mode delete_mode;
    const int64_t *connections;
    size_t n_connections;
    const char *const *fields;
    size_t n_fields;
    int partial_update;
    const char *const *changed_fields;
    size_t n_changed_fields;
} cs_event_template;

/* Parses one event.  On failure *out is NULL and errstr names the problem. */
cs_event_err cs_event_parse(const char *buf, size_t len,
                            const cs_event_limits *lim, cs_event **out,
                            char *errstr, size_t errstr_size);

/* Parses one input object: an event (it has "schema") or a bare product
 * snapshot, which is wrapped in a new event built from tpl (a fresh event_id,
 * occurred_at = now).  tpl may be NULL, and then snapshots are rejected. */
cs_event_err cs_event_parse_input(const char *buf, size_t len,
                                  const cs_event_limits *lim,
                                  const cs_event_template *tpl,
                                  cs_event **out,
                                  char *errstr, size_t errstr_size);

/* A new event: newer's data, with export's type and export spec.  Used when
 * an export and later changes of one product meet in one batch: the newest
 * data is exported.  NULL on failure. */
cs_event *cs_event_merge_export(const cs_event *newer, const cs_event *export_ev,
                                const cs_event_limits *lim);

/* Appends the canonical JSON of ev to out. 0 on success. */
int cs_event_serialize(const cs_event *ev, cs_buf *out);

/* Writes "<tenant>:<product_id>" into key; returns its length (truncated to
 * key_size - 1 when longer). */
size_t cs_event_key(const cs_event *ev, char *key, size_t key_size);

const char *cs_event_type_name(cs_event_type t);
cs_event_type cs_event_type_parse(const char *s);
const char *cs_event_err_name(cs_event_err e);

/* Adds a holder to ev and returns it: one more cs_event_destroy() is then
 * needed to free it.  Not thread-safe (an event belongs to one thread). */
cs_event *cs_event_share(cs_event *ev);

/* Drops a holder; frees the event with its last one. */
void cs_event_destroy(cs_event *ev);

/* A random RFC 4122 version-4 UUID string (37 bytes with the NUL). */
void cs_event_new_id(char out[37]);

#endif
