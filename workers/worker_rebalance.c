/*
 * worker_rebalance: the worker in its consumer group — partitions assigned,
 * revoked or lost under either rebalance protocol, and what happens to the
 * batch in hand when they go (docs/KAFKA.md).  Declared in worker_priv.h.
 */
#include "worker_priv.h"
#include "cs_log.h"

#include <string.h>

/* The partitions of the current assignment (0 when there is none). */
static int assigned_count(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *asg = NULL;
    int n = 0;
    if (rd_kafka_assignment(rk, &asg) == 0 && asg) {
        n = asg->cnt;
        rd_kafka_topic_partition_list_destroy(asg);
    }
    return n;
}

/* After a batch was dropped on revocation: the partitions this worker keeps
 * (a cooperative rebalance revokes only some) go back to the batch's first
 * offsets, or their part of the dropped batch would be skipped.  The revoked
 * ones are re-read by their next owner from the last commit. */
static void rewind_kept(cs_worker *w, const rd_kafka_topic_partition_list_t *revoked)
{
    rd_kafka_topic_partition_list_t *kept = rd_kafka_topic_partition_list_new(w->first->cnt + 1);
    for (int i = 0; i < w->first->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &w->first->elems[i];
        if (!rd_kafka_topic_partition_list_find(revoked, p->topic, p->partition))
            rd_kafka_topic_partition_list_add(kept, p->topic, p->partition)->offset = p->offset;
    }
    if (kept->cnt) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(w->rk, kept, 5000);
        if (e) {
            CS_ERROR(w->ops->name, "rewind failed: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(kept);
}

/* Both rebalance protocols: eager assignors (range, roundrobin: librdkafka's
 * default) hand over and take back the whole assignment with
 * rd_kafka_assign(); cooperative-sticky adds and removes only the partitions
 * that move, with rd_kafka_incremental_assign()/_unassign(), and the other
 * partitions keep flowing (docs/KAFKA.md).  The protocol follows
 * partition.assignment.strategy, which kafka.properties may set. */
void worker_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    cs_worker *w = opaque;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    int coop = proto && strcmp(proto, "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t ae = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            ae = rd_kafka_assign(rk, parts);
        if (e || ae)
            CS_ERROR(w->ops->name, "assigning %d partition(s) failed: %s", parts->cnt,
                     e ? rd_kafka_error_string(e) : rd_kafka_err2str(ae));
        int total = assigned_count(rk);
        CS_INFO(w->ops->name, "assigned %d partition(s) (%s), %d in all", parts->cnt,
                coop ? "cooperative" : "eager", total);
        obs_assignment(w->obs, 1, total);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        int lost = rd_kafka_assignment_lost(rk);
        if ((w->n_jobs || w->n_msgs) && lost) {
            /* The group has moved on (session timeout, fenced): another
             * worker may own these partitions already and re-reads them from
             * the last commit.  Pushing the batch now would only race it. */
            CS_WARN(w->ops->name, "partitions lost with a batch not settled (%zu events); "
                    "dropped, their next owner re-reads them from the last commit", w->n_msgs);
            rewind_kept(w, parts);
            worker_drop_batch(w);
        } else if ((w->n_jobs || w->n_msgs) && worker_flush(w) != 0) {
            /* Settle what we hold before letting go (the whole batch, also
             * the events of partitions this worker keeps). */
            CS_WARN(w->ops->name, "partitions revoked with a batch not settled; another worker "
                    "re-reads it from the last commit");
            rewind_kept(w, parts);
            worker_drop_batch(w);
        }
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            ae = rd_kafka_assign(rk, NULL);
        if (e || ae)
            CS_ERROR(w->ops->name, "revoking %d partition(s) failed: %s", parts->cnt,
                     e ? rd_kafka_error_string(e) : rd_kafka_err2str(ae));
        int total = coop ? assigned_count(rk) : 0;
        CS_INFO(w->ops->name, "revoked %d partition(s)%s (%s), %d left", parts->cnt,
                lost ? " (lost)" : "", coop ? "cooperative" : "eager", total);
        obs_assignment(w->obs, total > 0, total);
    } else {
        /* A rebalance error: librdkafka asks for the assignment to be
         * cleared to resynchronise. */
        CS_WARN(w->ops->name, "rebalance error: %s", rd_kafka_err2str(err));
        if ((w->n_jobs || w->n_msgs) && worker_flush(w) != 0)
            worker_drop_batch(w);      /* re-read from the last commit by the next owner */
        rd_kafka_topic_partition_list_t *asg = NULL;
        if (!coop)
            ae = rd_kafka_assign(rk, NULL);
        else if (rd_kafka_assignment(rk, &asg) == 0 && asg)
            e = rd_kafka_incremental_unassign(rk, asg);
        if (asg)
            rd_kafka_topic_partition_list_destroy(asg);
        if (e || ae)
            CS_ERROR(w->ops->name, "clearing the assignment failed: %s",
                     e ? rd_kafka_error_string(e) : rd_kafka_err2str(ae));
        obs_assignment(w->obs, 0, 0);
    }
    if (e)
        rd_kafka_error_destroy(e);
}
