/*
 * cs_sync: per-product sync state, the delayed-retry queue and connection
 * pauses in Redis, shared by every sink (docs/REDIS.md has the key layout).
 *
 * Keys of one sink share the hash tag {<sink>}, so every script touches one
 * Redis Cluster slot.  All state changes go through three Lua scripts
 * (common/lua/begin.lua, claim.lua, settle.lua, built in at build time):
 *   begin  - a fresh event: version gate, fresh attempt count, snapshot kept,
 *            any waiting or in-flight retry of an older version superseded;
 *   claim  - due retries moved to the in-flight set with a lease and a
 *            fencing token, expired leases returned first (crash safety);
 *   settle - one outcome applied: synced, retry (next delay from the
 *            schedule, with jitter), failed, paused (no attempt charged),
 *            skipped, deleted, pending (handle recorded), release.
 * A settle whose lease was lost ("fenced") or whose version was overtaken
 * ("superseded"; "overtaken": both, the lease lost and a newer version
 * recorded) changes nothing.  A superseded or overtaken outcome of a write
 * that may have reached the channel is followed by the worker queueing the
 * newest version again (worker.c requeue_overtaken).
 *
 * Thread safety: one cs_sync per thread (it owns no connection; it uses the
 * caller's cs_redis).  Jobs are owned by the caller.
 */
#ifndef CS_SYNC_H
#define CS_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "cs_buf.h"
#include "cs_config.h"
#include "cs_event.h"
#include "cs_redis.h"

typedef enum {
    CS_OUT_NONE = 0,
    CS_OUT_SYNCED,      /* confirmed by the channel */
    CS_OUT_RETRY,       /* transient: charged, retried on the schedule */
    CS_OUT_FAILED,      /* bad item: failed at once */
    CS_OUT_PAUSED,      /* connection throttled/unauthorised: not charged */
    CS_OUT_SKIPPED,     /* nothing to do (inactive and never synced, ...) */
    CS_OUT_DELETED,     /* removed from the channel (remote_id: what was removed): state
                         cleaned up; remote_id empty: it never reached the channel,
                         only the records go (settle result "cleaned", not counted) */
    CS_OUT_PENDING,     /* accepted, confirmation handle recorded; resume_at > 0: due
                           again then unless settled before (its worker died) */
    CS_OUT_RELEASE      /* handed back untouched, due again at resume_at */
} cs_outcome_kind;

/* out.err_type of a product our own mapping refused before any request
 * (no SKU, no price, a record too large): nothing reached the channel. */
#define CS_ERR_TYPE_MAPPING "mapping"

typedef struct cs_outcome {
    cs_outcome_kind kind;
    char remote_id[416];        /* the channel's id of the item, <= 100 UTF-8 chars
                                   (the sink's remote_id_noun) */
    char handle[256];           /* CS_OUT_PENDING */
    int64_t resume_at;          /* CS_OUT_PAUSED / CS_OUT_RELEASE: ms epoch */
    char err_code[96];          /* channel's code, e.g. "100" or "product_invalid_sku" */
    char err_subcode[32];
    char err_type[64];
    char err_message[512];
    char err_trace[64];         /* the channel's trace id of the call (the sink's
                                   trace_label) */
    char warnings[512];         /* CS_OUT_SYNCED: what the channel accepted but did not
                                   apply ("" = none); kept in the state's "warnings" */
} cs_outcome;

typedef struct cs_sync_state {
    int present;
    int64_t version;            /* newest version seen, -1 when none */
    int64_t synced_version;     /* -1 when never synced */
    int attempts;
    char status[16];
    char remote_id[416];
    char handle[256];           /* batch handle of this version not confirmed yet */
    int pushed;                 /* a request carrying the product may have reached the channel */
    int64_t owner_until;        /* until when the push begun counts as its owner's (0: none) */
} cs_sync_state;

typedef struct cs_sync_job {
    size_t conn;                /* index of the connection in the sink */
    const char *conn_id;
    cs_event *ev;               /* owned by the job */
    char *member;               /* "<conn>|<tenant>:<product_id>" */
    int from_retry;
    char token[32];             /* lease fencing token for retries */
    int begin_result;           /* CS_BEGIN_* for fresh events */
    cs_sync_state st;
    cs_outcome out;
    int ignore;                 /* set by a sink's prepare: nothing to do here */
    void *sink_data;            /* the sink's per-job data, freed with sink_free */
    void (*sink_free)(void *);
    unsigned char dispatched;   /* the worker's: handed to a connection's lane */
    int64_t ts;                 /* the worker's: Kafka timestamp (ms) of the oldest event
                                   folded in, 0 = none (end-to-end latency) */
    int settle_attempts;        /* filled by settle */
    int64_t settle_next;
    char settle_result[16];     /* synced retry failed paused skipped deleted cleaned
                                   pending released superseded fenced overtaken (the
                                   reply word, kept for now: use settle_res) */
    int settle_res;             /* CS_SETTLE_* (common/cs_vocab.h), parsed once by settle */
} cs_sync_job;

/* What begin decided for a fresh event (the script's first reply word;
 * the words are in common/cs_vocab.c, cs_begin_parse). */
enum {
    CS_BEGIN_PUSH = 1,      /* "push": newer, or the same version still pending */
    CS_BEGIN_STALE,         /* "stale": older than the stored version */
    CS_BEGIN_DUP,           /* "dup": this version already settled */
    CS_BEGIN_DEFERRED,      /* "deferred": recorded, queued behind another worker's live lease */
    CS_BEGIN_EXCLUDED,      /* "excluded": recorded, never pushed (an operator's exclusion) */
    CS_BEGIN_HELD           /* "held": the same version, pushed or confirmed by another live worker */
};

typedef struct cs_sync cs_sync;

/* Registers the scripts with r; call before r is first used. */
cs_sync *cs_sync_new(cs_redis *r, const cs_config *cfg, const char *sink);
void cs_sync_destroy(cs_sync *s);
const char *cs_sync_sink(const cs_sync *s);

/* Key names (docs/REDIS.md), built by common/cs_keys.h from this base. */
const char *cs_sync_key_base(const cs_sync *s);                         /* P{sink}: */
void cs_sync_key(const cs_sync *s, cs_buf *out, const char *what);      /* P{sink}:what */
void cs_sync_state_key(const cs_sync *s, cs_buf *out, const char *conn, const char *tenant,
                       const char *product_id);

/* Builds job->member from conn_id and the event. */
int cs_sync_job_init(cs_sync_job *j, size_t conn, const char *conn_id, cs_event *ev);
void cs_sync_job_free(cs_sync_job *j);

/* Fresh events: version gate and bookkeeping for every job, one pipeline.
 * Sets job->begin_result and job->st (status before, handle).  -1 when Redis
 * failed (nothing may be committed). */
int cs_sync_begin(cs_sync *s, cs_sync_job **jobs, size_t n);

/* Reads state for jobs (one pipeline).  -1 on Redis failure. */
int cs_sync_read(cs_sync *s, cs_sync_job **jobs, size_t n);

/* Claims up to limit due retries.  Calls add(opaque, member, token, snapshot,
 * snapshot_len) for each; returns the number claimed or -1. */
typedef void (cs_sync_claim_cb)(void *opaque, const char *member, const char *token,
                                const char *snap, size_t snap_len);
long cs_sync_claim(cs_sync *s, size_t limit, cs_sync_claim_cb *add, void *opaque);
/* The same, leaving the members of the connections in skip (ids) queued. */
long cs_sync_claim_except(cs_sync *s, size_t limit, const char *const *skip, size_t n_skip,
                          cs_sync_claim_cb *add, void *opaque);

/* Applies every job's outcome (one pipeline).  -1 on Redis failure. */
int cs_sync_settle(cs_sync *s, cs_sync_job **jobs, size_t n);

/* Connection pauses, honoured by every worker of the sink. */
int cs_sync_pause_set(cs_sync *s, const char *conn, int64_t until_ms, const char *kind,
                      const char *reason);
/* 1 when paused (until/kind/reason filled), 0 when not, -1 on Redis failure. */
int cs_sync_pause_get(cs_sync *s, const char *conn, int64_t *until_ms, char *kind,
                      size_t kind_size, char *reason, size_t reason_size);

/* Operator actions (catalogsyncctl, catalogsync-admin).  Products are named
 * by their key "<tenant>:<product_id>". */
typedef enum {
    CS_RESET_QUEUED = 1,        /* due at once, attempts back to 0 */
    CS_RESET_INCLUDED,          /* include: no longer excluded, nothing to re-queue */
    CS_RESET_EXCLUDED,          /* reset refused: excluded by an operator */
    CS_RESET_NO_SNAPSHOT,       /* no stored event to push again */
    CS_RESET_NO_STATE           /* never seen at this connection */
} cs_reset_result;

/* Resets (or, with include, includes and re-queues when it was skipped for
 * the exclusion) every product of pkeys at connection conn, one pipeline;
 * results[i] per product.  -1 on Redis failure. */
int cs_sync_reset_many(cs_sync *s, const char *conn, const char *const *pkeys, size_t n,
                       int include, cs_reset_result *results);
/* Keeps a product out of a connection (1 = newly excluded, 0 = already, -1). */
int cs_sync_exclude(cs_sync *s, const char *conn, const char *pkey);
/* Lifts a pause; returns how many parked retries became due, -1 when the
 * connection was not paused, -2 on Redis failure. */
long cs_sync_resume(cs_sync *s, const char *conn);

/* Pushes and outcomes are tallied in buckets of this many ms (kept 25 h). */
#define CS_SYNC_TALLY_MS 300000
/* An operator pause lasts until resumed (its "until" is this far ahead). */
#define CS_SYNC_OPERATOR_PAUSE_MS (10LL * 365 * 24 * 3600 * 1000)

/* The wait before attempt n+1 after n failed attempts, without jitter. */
int64_t cs_sync_delay_ms(const cs_config *cfg, int attempts);

const char *cs_outcome_name(cs_outcome_kind k);

#endif
