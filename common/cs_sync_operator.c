/*
 * cs_sync_operator: the operator's actions on a product's sync state —
 * reset (re-queue from the snapshot), include, exclude; their Lua scripts
 * (common/lua/reset.lua, exclude.lua) run atomically in Redis
 * (docs/REDIS.md).  Used by catalogsyncctl and catalogsync-admin through
 * cs_ops.
 */
#include "cs_sync_priv.h"
#include "cs_keys.h"
#include "cs_log.h"
#include "cs_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- operator actions ---- */

static void member_of(cs_buf *out, const char *conn, const char *pkey)
{
    cs_buf_reset(out);
    cs_buf_appendf(out, "%s|%s", conn, pkey);
}

int cs_sync_reset_many(cs_sync *s, const char *conn, const char *const *pkeys, size_t n,
                       int include, cs_reset_result *results)
{
    keys k;
    cs_buf member;
    char now[24];
    int rc = -1;
    cs_sync_keys_init(&k);
    cs_buf_init(&member, 512);
    cs_sync_keys_fill(s, &k, conn);
    snprintf(now, sizeof now, "%lld", (long long)cs_now_ms());
    if (cs_redis_ready(s->r) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(pkeys[i], ':');
        cs_buf_reset(&k.state);
        if (colon)
            cs_key_product(&k.state, s->prefix, CS_KEY_STATE, conn, pkeys[i], NULL);
        member_of(&member, conn, pkeys[i]);
        const char *argv[] = {"EVALSHA", cs_redis_script_sha(s->r, s->s_reset), "6",
                              k.state.data, k.retry.data, k.snap.data, k.counts.data,
                              k.exclude.data, k.waiting.data, member.data, now, pkeys[i],
                              include ? "include" : "reset"};
        if (!colon) {
            results[i] = CS_RESET_NO_STATE;     /* not "<tenant>:<id>" */
            continue;
        }
        if (cs_redis_pipe_add(s->r, (int)(sizeof argv / sizeof argv[0]), argv, NULL) != 0)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!strchr(pkeys[i], ':'))
            continue;
        redisReply *r = cs_redis_pipe_get(s->r);
        if (!r)
            goto out;
        if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
            CS_ERROR("redis", "reset: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
            freeReplyObject(r);
            cs_redis_drop(s->r);
            goto out;
        }
        results[i] = !strcmp(r->str, "queued") ? CS_RESET_QUEUED
                   : !strcmp(r->str, "included") ? CS_RESET_INCLUDED
                   : !strcmp(r->str, "excluded") ? CS_RESET_EXCLUDED
                   : !strcmp(r->str, "no_snapshot") ? CS_RESET_NO_SNAPSHOT : CS_RESET_NO_STATE;
        freeReplyObject(r);
    }
    rc = 0;
out:
    cs_sync_keys_free(&k);
    cs_buf_free(&member);
    return rc;
}

int cs_sync_exclude(cs_sync *s, const char *conn, const char *pkey)
{
    keys k;
    cs_buf member;
    int rc = -1;
    cs_sync_keys_init(&k);
    cs_buf_init(&member, 512);
    cs_sync_keys_fill(s, &k, conn);
    cs_key_product(&k.state, s->prefix, CS_KEY_STATE, conn, pkey, NULL);
    member_of(&member, conn, pkey);
    const char *argv[] = {"EVALSHA", NULL, "5", k.state.data, k.retry.data, k.exclude.data,
                          k.counts.data, k.waiting.data, member.data, pkey};
    long long got;
    if (cs_sync_eval_int(s, s->s_exclude, 10, argv, &got) == 0)
        rc = (int)got;
    cs_sync_keys_free(&k);
    cs_buf_free(&member);
    return rc;
}
