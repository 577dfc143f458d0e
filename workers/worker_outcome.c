/*
 * worker_outcome: what a settled job's outcome looks like to an operator.
 * See worker_outcome.h.
 */
#include "worker_outcome.h"
#include "cs_log.h"
#include "cs_util.h"
#include "cs_vocab.h"

#include <stdio.h>
#include <string.h>

#define BLOCK_LINE "════════════════════════════════════════════════════════════"

static void log_error_block(const cs_sink_ops *ops, const cs_config *cfg, const cs_sync_job *j)
{
    const cs_product *p = &j->ev->product;
    const cs_outcome *o = &j->out;
    char next[160] = "";
    int64_t in = j->settle_next - cs_now_ms();
    if (in < 0)
        in = 0;
    if (j->settle_res == CS_SETTLE_RETRY)
        snprintf(next, sizeof next, " — next attempt in %lld.%llds", (long long)(in / 1000),
                 (long long)(in % 1000 / 100));
    else if (j->settle_res == CS_SETTLE_FAILED)
        snprintf(next, sizeof next, " — failed, waiting for an operator reset");
    char head[160], prod[1200], conn[160], code[200], type[96], msg[600], trace[96],
        attempt[240];
    /* A product refused by our own mapping never reached the channel: its
     * block is not the channel's API error. */
    if (!strcmp(o->err_type, CS_ERR_TYPE_MAPPING))
        snprintf(head, sizeof head, "PRODUCT NOT SENT - refused by the %s mapping", ops->name);
    else
        snprintf(head, sizeof head, "%s - product sync failed", ops->error_title);
    snprintf(prod, sizeof prod, "Product: %s (ID: %s, SKU: %s)", p->name ? p->name : "(no name)",
             p->id, p->sku ? p->sku : "(none)");
    snprintf(conn, sizeof conn, "%s: %s", ops->conn_noun, j->conn_id);
    snprintf(code, sizeof code, "Error Code: %s%s%s", o->err_code[0] ? o->err_code : "-",
             o->err_subcode[0] ? " / subcode " : "", o->err_subcode);
    snprintf(type, sizeof type, "Error Type: %s", o->err_type[0] ? o->err_type : "-");
    snprintf(msg, sizeof msg, "Error Message: %s", o->err_message);
    snprintf(trace, sizeof trace, "%s: %s", ops->trace_label ? ops->trace_label : "trace id",
             o->err_trace);
    snprintf(attempt, sizeof attempt, "Attempt %d/%d%s", j->settle_attempts,
             cfg->retry_max_attempts, next);
    const char *lines[12] = {BLOCK_LINE, head, BLOCK_LINE, prod, conn, code, type, msg};
    size_t n = 8;
    if (o->err_trace[0])
        lines[n++] = trace;
    lines[n++] = attempt;
    lines[n++] = BLOCK_LINE;
    cs_log_block(CS_LOG_ERROR, ops->name, lines, n);
}

int wout_log(const cs_sink_ops *ops, const cs_config *cfg, worker_obs *obs, worker_tally *t,
             const cs_sync_job *j)
{
    const cs_product *p = &j->ev->product;
    const char *name = p->name ? p->name : "(no name)";
    if (j->settle_res == CS_SETTLE_FENCED || j->settle_res == CS_SETTLE_SUPERSEDED ||
        j->settle_res == CS_SETTLE_OVERTAKEN) {
        CS_DEBUG(ops->name, "product %s: outcome for version %lld dropped (%s)", p->id,
                 (long long)p->version, cs_settle_results[j->settle_res].wire);
        return 0;
    }
    switch (j->out.kind) {
    case CS_OUT_SYNCED:
        t->synced++;
        obs_pushed(obs, j->conn, CS_SETTLE_SYNCED);
        CS_INFO(ops->name, "✓ Successfully synced product '%s' (id %s, %s %s) to %s %s, "
                "version %lld", name, p->id,
                ops->remote_id_noun ? ops->remote_id_noun : "remote id", j->out.remote_id,
                ops->conn_noun, j->conn_id, (long long)p->version);
        break;
    case CS_OUT_DELETED:
        if (j->settle_res == CS_SETTLE_CLEANED) {
            CS_INFO(ops->name, "○ Deleted product '%s' (id %s) was never in %s %s: nothing to "
                    "remove there, its records are gone", name, p->id, ops->conn_noun,
                    j->conn_id);
            break;
        }
        t->deleted++;
        obs_pushed(obs, j->conn, CS_SETTLE_DELETED);
        CS_INFO(ops->name, "✓ Removed product '%s' (id %s) from %s %s", name, p->id,
                ops->conn_noun, j->conn_id);
        break;
    case CS_OUT_SKIPPED:
        t->skipped++;
        obs_pushed(obs, j->conn, CS_SETTLE_SKIPPED);
        CS_INFO(ops->name, "○ Skipped product '%s' (id %s) for %s %s: %s", name, p->id,
                ops->conn_noun, j->conn_id, j->out.err_message);
        break;
    case CS_OUT_RETRY:
    case CS_OUT_FAILED:
    case CS_OUT_PAUSED:
        if (j->settle_res == CS_SETTLE_FAILED) {
            t->failed++;
            obs_pushed(obs, j->conn, CS_SETTLE_FAILED);
        } else if (j->out.kind == CS_OUT_PAUSED) {
            /* The pause itself is one line (worker.c); its products wait
             * uncharged. */
            t->paused++;
            obs_pushed(obs, j->conn, CS_SETTLE_PAUSED);
            CS_DEBUG(ops->name, "product %s waits for %s %s: %s", p->id, ops->conn_noun,
                     j->conn_id, j->out.err_message);
            break;
        } else {
            t->retry++;
            obs_pushed(obs, j->conn, CS_SETTLE_RETRY);
        }
        log_error_block(ops, cfg, j);
        break;
    default:
        return 0;
    }
    return 1;
}
