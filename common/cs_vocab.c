/*
 * cs_vocab: the tables of common/cs_vocab.h.  The words are those of the
 * scripts (common/lua/) and of docs/REDIS.md: change them together.
 */
#include "cs_vocab.h"

#include <string.h>

const cs_status_info cs_statuses[CS_N_STATUSES] = {
    [CS_STATUS_SYNCED] = {"synced", "Synced", "green", "✓"},
    [CS_STATUS_PENDING] = {"pending", "Not synced", "grey", "○"},
    [CS_STATUS_RETRY_PENDING] = {"retry_pending", "Retry pending", "orange", "⚠"},
    [CS_STATUS_FAILED] = {"failed", "Failed", "red", "✗"},
    [CS_STATUS_SKIPPED] = {"skipped", "Skipped", "grey", "○"},
};

int cs_status_parse(const char *wire)
{
    for (int i = 0; i < CS_N_STATUSES; i++)
        if (wire && !strcmp(wire, cs_statuses[i].wire))
            return i;
    return -1;
}

const cs_outcome_info cs_outcomes[CS_OUT_RELEASE + 1] = {
    [CS_OUT_NONE] = {"none"},       [CS_OUT_SYNCED] = {"synced"},
    [CS_OUT_RETRY] = {"retry"},     [CS_OUT_FAILED] = {"failed"},
    [CS_OUT_PAUSED] = {"paused"},   [CS_OUT_SKIPPED] = {"skipped"},
    [CS_OUT_DELETED] = {"deleted"}, [CS_OUT_PENDING] = {"pending"},
    [CS_OUT_RELEASE] = {"release"},
};

static const cs_begin_info begins[] = {
    {CS_BEGIN_PUSH, "push"},         {CS_BEGIN_STALE, "stale"},
    {CS_BEGIN_DUP, "dup"},           {CS_BEGIN_DEFERRED, "deferred"},
    {CS_BEGIN_EXCLUDED, "excluded"}, {CS_BEGIN_HELD, "held"},
};

int cs_begin_parse(const char *wire)
{
    for (size_t i = 0; i < sizeof begins / sizeof begins[0]; i++)
        if (wire && !strcmp(wire, begins[i].wire))
            return begins[i].result;
    return CS_BEGIN_DUP;    /* unknown: never pushed */
}

const char *cs_begin_name(int result)
{
    for (size_t i = 0; i < sizeof begins / sizeof begins[0]; i++)
        if (begins[i].result == result)
            return begins[i].wire;
    return "?";
}

/* The tally and the outcome metric count what settle decided; stats:C has
 * a running total of the same, but for skipped. */
const cs_settle_info cs_settle_results[CS_N_SETTLE] = {
    [CS_SETTLE_NONE] = {"", NULL, NULL},
    [CS_SETTLE_SYNCED] = {"synced", "synced", "synced_total"},
    [CS_SETTLE_RETRY] = {"retry", "retry", "retry_total"},
    [CS_SETTLE_FAILED] = {"failed", "failed", "failed_total"},
    [CS_SETTLE_PAUSED] = {"paused", "paused", "paused_total"},
    [CS_SETTLE_SKIPPED] = {"skipped", "skipped", NULL},
    [CS_SETTLE_DELETED] = {"deleted", "deleted", "deleted_total"},
    [CS_SETTLE_CLEANED] = {"cleaned", NULL, NULL},
    [CS_SETTLE_PENDING] = {"pending", NULL, NULL},
    [CS_SETTLE_RELEASED] = {"released", NULL, NULL},
    [CS_SETTLE_SUPERSEDED] = {"superseded", NULL, NULL},
    [CS_SETTLE_FENCED] = {"fenced", NULL, NULL},
    [CS_SETTLE_OVERTAKEN] = {"overtaken", NULL, NULL},
};

int cs_settle_parse(const char *wire)
{
    for (int i = 1; i < CS_N_SETTLE; i++)
        if (wire && !strcmp(wire, cs_settle_results[i].wire))
            return i;
    return CS_SETTLE_NONE;
}
