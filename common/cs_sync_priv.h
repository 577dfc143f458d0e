/*
 * cs_sync_priv.h: what cs_sync.c shares with cs_sync_operator.c (the
 * operator actions: reset, include, exclude, resume).  Not for callers.
 */
#ifndef CS_SYNC_PRIV_H
#define CS_SYNC_PRIV_H

#include "cs_sync.h"
#include "cs_buf.h"

struct cs_sync {
    cs_redis *r;
    const cs_config *cfg;
    char *prefix;       /* "<prefix>{<sink>}:" */
    char *sink;
    int s_begin, s_claim, s_settle, s_reset, s_exclude, s_pause, s_resume;
    char delays[512];
};

/* Key buffers for one job: state plus the sink-wide keys. */
typedef struct keys {
    cs_buf state, retry, inflight, lease, snap, index, stats, fence, errors, counts;
    cs_buf exclude, waiting, history, tally;
} keys;

void cs_sync_keys_init(keys *k);
void cs_sync_keys_free(keys *k);
/* The sink-wide key names, and conn's when conn is not NULL. */
void cs_sync_keys_fill(const cs_sync *s, keys *k, const char *conn);

/* Runs script (argv[0] "EVALSHA", argv[1] filled in here) and reads its
 * integer answer into *out: 0, or -1 when Redis is down or the answer is not
 * an integer (the connection is then dropped). */
int cs_sync_eval_int(cs_sync *s, int script, int argc, const char **argv, long long *out);

/* The operator scripts (cs_sync_operator.c), registered by cs_sync_new. */
extern const char CS_SYNC_LUA_RESET[];
extern const char CS_SYNC_LUA_EXCLUDE[];
extern const char CS_SYNC_LUA_RESUME[];

#endif
