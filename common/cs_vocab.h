/*
 * cs_vocab: the state machine's words, each defined once (docs/REDIS.md):
 * a product's statuses, the outcomes a sink hands to settle, what begin and
 * settle answer.  Each table gives the enum, the word on the wire (the
 * state's "status" field, the scripts' arguments and replies in
 * common/lua/), the metric / tally label and, for statuses, how the
 * operator surface shows them (catalogsyncctl; the status page's CSS
 * classes are the wire names and use the same colours).
 *
 * Replies are parsed here, once: cs_sync_begin fills cs_sync_job's
 * begin_result (CS_BEGIN_*), cs_sync_settle its settle_res (CS_SETTLE_*).
 */
#ifndef CS_VOCAB_H
#define CS_VOCAB_H

#include "cs_sync.h"

/* ---- a product's status at a connection (state "status", counts:C) ---- */

typedef enum {
    CS_STATUS_SYNCED = 0,       /* the channel confirmed the latest version */
    CS_STATUS_PENDING,          /* being pushed (a Meta batch being confirmed) */
    CS_STATUS_RETRY_PENDING,    /* in the retry queue */
    CS_STATUS_FAILED,           /* gave up: a bad item or the last attempt */
    CS_STATUS_SKIPPED,          /* nothing to push (excluded, inactive, not linked) */
    CS_N_STATUSES
} cs_status;

typedef struct cs_status_info {
    const char *wire;           /* state "status", counts:C field, metric label status= */
    const char *label;          /* what people read (catalogsyncctl, the status page) */
    const char *colour;         /* green, orange, red, grey */
    const char *icon;           /* ✓ ⚠ ✗ ○ */
} cs_status_info;

/* Indexed by cs_status; the order is catalogsyncctl's (its --status mask
 * has bit i for entry i, its JSON counts come in this order). */
extern const cs_status_info cs_statuses[CS_N_STATUSES];

/* The status named wire, -1 when it is none of them (no state, "") */
int cs_status_parse(const char *wire);

/* ---- outcomes a sink settles (settle's ARGV[4]) ---- */

typedef struct cs_outcome_info {
    const char *wire;           /* settle's "kind" argument */
} cs_outcome_info;

/* Indexed by cs_outcome_kind (CS_OUT_NONE: "none"). */
extern const cs_outcome_info cs_outcomes[CS_OUT_RELEASE + 1];

/* ---- what begin answers (its first reply word) ---- */

typedef struct cs_begin_info {
    int result;                 /* CS_BEGIN_* (common/cs_sync.h) */
    const char *wire;           /* push stale dup deferred excluded held */
} cs_begin_info;

/* CS_BEGIN_* of begin's word; an unknown word is CS_BEGIN_DUP (never pushed). */
int cs_begin_parse(const char *wire);
/* The word of a CS_BEGIN_* ("?" when none). */
const char *cs_begin_name(int result);

/* ---- what settle answers (its first reply word) ---- */

typedef enum {
    CS_SETTLE_NONE = 0,         /* no reply (not settled, or not understood) */
    CS_SETTLE_SYNCED,
    CS_SETTLE_RETRY,            /* queued for the next attempt (settle_next) */
    CS_SETTLE_FAILED,           /* a bad item, or a retry on the last attempt */
    CS_SETTLE_PAUSED,
    CS_SETTLE_SKIPPED,
    CS_SETTLE_DELETED,
    CS_SETTLE_CLEANED,          /* a delete of what never reached the channel */
    CS_SETTLE_PENDING,
    CS_SETTLE_RELEASED,
    CS_SETTLE_SUPERSEDED,       /* a newer version is recorded (and waited for this one) */
    CS_SETTLE_FENCED,           /* the lease was lost: nothing changed */
    CS_SETTLE_OVERTAKEN,        /* lost, or not waited for, with a newer version recorded:
                                   this write may have reached the channel after it */
    CS_N_SETTLE
} cs_settle_res;

typedef struct cs_settle_info {
    const char *wire;           /* the reply word */
    const char *tally;          /* tally:C:B field and outcome metric label, NULL: not counted */
    const char *total;          /* stats:C counter, NULL: none */
} cs_settle_info;

/* Indexed by cs_settle_res (CS_SETTLE_NONE: wire ""). */
extern const cs_settle_info cs_settle_results[CS_N_SETTLE];

/* The cs_settle_res of settle's word, CS_SETTLE_NONE when unknown. */
int cs_settle_parse(const char *wire);

#endif
