/*
 * worker_outcome: the worker's account of a settled job, for an operator.
 * A success, a removal or a skip is one INFO line; a retry or a failure is
 * the error block (docs/OPERATIONS.md), whose attempt line says when the
 * next attempt is due; a product waiting for a paused connection is a DEBUG
 * line (the pause is logged once, by the worker).  Each outcome is counted for the exit
 * summary and in the metrics.  The channel's words (its connection noun, the
 * name of its remote id and of its trace id, its error block's title) come
 * from the sink's cs_sink_ops.
 *
 * Thread safety: called by the connections' lanes at once, each with its
 * own tally (the log and the metrics lock).
 */
#ifndef CS_WORKER_OUTCOME_H
#define CS_WORKER_OUTCOME_H

#include "cs_config.h"
#include "cs_sync.h"
#include "sink.h"
#include "worker_obs.h"

/* Settled outcomes since the worker started (the exit summary). */
typedef struct worker_tally {
    unsigned long long synced, retry, failed, paused, deleted, skipped;
} worker_tally;

/* Logs and counts job j's settled outcome (in t and in obs); 1 when it had
 * one, 0 when there was none to report (fenced, superseded, overtaken, no
 * outcome). */
int wout_log(const cs_sink_ops *ops, const cs_config *cfg, worker_obs *obs, worker_tally *t,
             const cs_sync_job *j);

#endif
