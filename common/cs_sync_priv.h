/*
 * cs_sync_priv.h: what cs_sync.c shares with cs_sync_operator.c (the
 * operator actions: reset, include, exclude) and cs_sync_pause.c (a
 * connection's pause and its resume).  Not for callers.
 */
#ifndef CS_SYNC_PRIV_H
#define CS_SYNC_PRIV_H

#include "cs_sync.h"
#include "cs_buf.h"
#include "cs_util.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

struct cs_sync {
    cs_redis *r;
    const cs_config *cfg;
    char *prefix;       /* "<prefix>{<sink>}:" */
    char *sink;
    int s_begin, s_claim, s_settle, s_reset, s_exclude, s_pause, s_resume;
    char delays[512];
    char owner[17];     /* this process's id in begin's "owner" (random hex) */
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

/* A string reply copied into dst (empty when r is not a string). */
static inline void copy_str(char *dst, size_t n, const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_STRING)
        snprintf(dst, n, "%.*s", (int)r->len, r->str);
    else
        dst[0] = '\0';
}

/* An integer or decimal string reply, dflt when r is neither. */
static inline int64_t reply_i64(const redisReply *r, int64_t dflt)
{
    int64_t v;
    char tmp[32];
    if (!r)
        return dflt;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type != REDIS_REPLY_STRING || r->len >= sizeof tmp)
        return dflt;
    memcpy(tmp, r->str, r->len);
    tmp[r->len] = '\0';
    return cs_parse_i64(tmp, INT64_MIN, INT64_MAX, &v) == 0 ? v : dflt;
}

/* The state scripts, registered by cs_sync_new: common/lua/NAME.lua built
 * in as cs_lua_NAME (common/lua/lua2c.awk; the Makefile generates them). */
extern const char cs_lua_begin[];      /* cs_sync_begin */
extern const char cs_lua_claim[];      /* cs_sync_claim */
extern const char cs_lua_settle[];     /* cs_sync_settle */
extern const char cs_lua_reset[];      /* cs_sync_reset_many (reset, include) */
extern const char cs_lua_exclude[];    /* cs_sync_exclude */
extern const char cs_lua_pause[];      /* cs_sync_pause_set */
extern const char cs_lua_resume[];     /* cs_sync_resume */

#endif
