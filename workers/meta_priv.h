/*
 * meta_priv: what the Meta sink's two files share.  meta.c maps and pushes
 * (items_batch); meta_confirm.c confirms what Meta accepted
 * (check_batch_request_status): the verdict per record, and the batches
 * whose handle is recorded, polled on later turns of the catalog's lane.
 *
 * Thread safety: a catalog's state (meta_conn) is used by its lane's thread
 * only; meta_sink is read-only after create (workers/sink.h, "Threads").
 */
#ifndef META_PRIV_H
#define META_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "cs_buf.h"
#include "meta_graph.h"
#include "cs_http.h"
#include "meta_map.h"
#include "sink.h"

typedef enum { ACT_UPDATE, ACT_DELETE, ACT_HIDE, ACT_REMOVE_INACTIVE } meta_action;

typedef struct meta_rec {
    size_t job;                 /* index into the push's jobs */
    char rid[CS_META_RID_SIZE]; /* "" once the record has its outcome */
    int extra;                  /* deletion of an old retailer id: outcome not tied to the job */
    size_t off, len;            /* the record's JSON inside the push's record buffer */
    char warn[512];             /* what Meta accepted but did not apply ("" = nothing) */
} meta_rec;

typedef struct meta_confirm meta_confirm;

typedef struct meta_conn {
    const cs_meta_catalog *cat;
    cs_http *http;
    cs_meta_map_opts map;
    char proof[65];
    char auth[1100];
    meta_confirm *pending;      /* batches accepted and not confirmed yet */
} meta_conn;

typedef struct meta_sink {
    const cs_config *cfg;
    meta_conn *conns;
    size_t n;
} meta_sink;

/* State of one push to one catalog (also of one batch being confirmed:
 * meta_confirm.c keeps its records and copies of its jobs in one). */
typedef struct push {
    meta_sink *ms;
    meta_conn *mc;
    cs_sync_job **jobs;
    size_t n_jobs;
    meta_action *act;
    meta_rec *recs;
    size_t n_recs;
    cs_buf records;
    const cs_push_ctx *ctx;
    cs_conn_result *res;
    int stopped;                /* catalog paused: the rest is not sent */
    unsigned char *sent;        /* per job: pending, confirmed later (no outcome now) */
} push;

/* ---- meta.c ---- */
void meta_set_error(cs_outcome *o, cs_outcome_kind k, const cs_graph_error *e);
void meta_set_simple(cs_outcome *o, cs_outcome_kind k, const char *type, const char *msg);
void meta_base_url(const meta_conn *mc, cs_buf *url, const char *edge);
void meta_add_proof(const meta_conn *mc, cs_buf *url, int first);
/* One Graph call; fills resp.  Returns the transport result. */
cs_http_err meta_graph_call(meta_conn *mc, const char *method, const char *url, const char *body,
                            size_t len, cs_http_resp *resp);
/* Turns a failed answer into a class and error; transport errors are transient. */
cs_class meta_failed_answer(const cs_http_resp *resp, cs_graph_error *e);
/* Applies a connection-level verdict (throttle, auth, refused) to p->res. */
void meta_pause_conn(push *p, cs_class cls, const cs_http_resp *resp, const cs_graph_error *e);
/* Outcome k with error e for the jobs of recs [a, b). */
void meta_outcome_for_recs(push *p, size_t a, size_t b, cs_outcome_kind k,
                           const cs_graph_error *e);

/* ---- meta_confirm.c: the verdict ---- */

/* What polling a handle found out (docs/DESIGN.md, "Confirmed means confirmed"). */
typedef enum {
    CONF_FINISHED,      /* finished: every record of the range has its outcome */
    CONF_NOT_APPLIED,   /* ended in error/canceled, or unknown handle: RETRY (push again) */
    CONF_RUNNING,       /* not finished (or no readable answer): no outcome yet */
    CONF_PAUSED         /* the catalog was paused (outcomes PAUSED, p->res filled) */
} confirm_result;

void meta_warn_rec(meta_rec *r, const char *msg);
meta_rec *meta_find_rec(push *p, size_t a, size_t b, const char *rid);
/* Record r failed at Meta with msg (a delete or hide of a missing item counts as done). */
void meta_fail_rec(push *p, meta_rec *r, const char *msg);
/* Polls handle once for recs [a, b) of p.  *wait_ms is raised to what a
 * throttle answer asks for. */
confirm_result meta_confirm_poll(push *p, const char *handle, size_t a, size_t b,
                                 int64_t *wait_ms);
/* Records of [a, b) still without outcome: RETRY; running = 1 carries the
 * handle (the batch may still apply them: polled before any new push). */
void meta_confirm_unfinished(push *p, const char *handle, size_t a, size_t b, int running);

/* ---- meta_confirm.c: batches awaiting confirmation, per catalog ---- */

meta_confirm *meta_confirm_new(void);
void meta_confirm_free(meta_confirm *c);
size_t meta_confirm_count(const meta_confirm *c);
/* When a product recorded pending now is due again if its worker never
 * settled it (it died): ms since the epoch. */
int64_t meta_confirm_recover_at(const cs_config *cfg);
/* Keeps copies of the jobs of recs [a, b) of p that wait for handle (their
 * pending state is durable already); again: a handle recorded by an earlier
 * attempt (its confirmation is logged per product).  -1 when out of memory. */
int meta_confirm_track(push *p, const char *handle, size_t a, size_t b, int again);
/* The tracked copy of member's job at catalog mc, or NULL. */
cs_sync_job *meta_confirm_held(const meta_conn *mc, const char *member);
/* Polls the due batches of catalog i and settles those that finished;
 * make_room: until fewer than worker.max_pending_batches are left (waiting
 * for the next poll when needed).  -1 when Redis failed (kept for the next
 * turn). */
int meta_confirm_turn(meta_sink *ms, size_t i, const cs_push_ctx *ctx, int make_room);
/* Stopping: every tracked job is recorded pending again, due at once, for
 * the next worker to confirm; then forgotten. */
void meta_confirm_hand_over(meta_sink *ms, size_t i, const cs_push_ctx *ctx);
/* When the next of catalog i's batches is due to be polled (cs_mono_ms
 * clock), 0 when none is outstanding. */
int64_t meta_confirm_next_poll(meta_sink *ms, size_t i);

#endif
