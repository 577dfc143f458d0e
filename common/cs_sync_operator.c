/*
 * cs_sync_operator: the operator's actions on a product's sync state —
 * reset (re-queue from the snapshot), include, exclude; their Lua scripts
 * run atomically in Redis
 * (docs/REDIS.md).  Used by catalogsyncctl and catalogsync-admin through
 * cs_ops.
 */
#include "cs_sync_priv.h"
#include "cs_log.h"
#include "cs_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Operator reset / include: re-queue the product at once from its snapshot.
 * KEYS: state, retry, snap, counts, exclude, waiting
 * ARGV: member, now, product key, mode ("reset" or "include") */
const char CS_SYNC_LUA_RESET[] =
    "if ARGV[4] == 'include' then\n"
    "  redis.call('SREM', KEYS[5], ARGV[3])\n"
    "  local st = redis.call('HMGET', KEYS[1], 'status', 'skip_reason')\n"
    "  if st[1] ~= 'skipped' or st[2] ~= 'excluded by an operator' then return 'included' end\n"
    "elseif redis.call('SISMEMBER', KEYS[5], ARGV[3]) == 1 then\n"
    "  return 'excluded'\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_state' end\n"
    "if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return 'no_snapshot' end\n"
    "local old = redis.call('HGET', KEYS[1], 'status') or ''\n"
    "redis.call('HSET', KEYS[1], 'status', 'retry_pending', 'attempts', 0, 'next_attempt', ARGV[2])\n"
    "redis.call('HDEL', KEYS[1], 'handle', 'skip_reason')\n"
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])\n"
    "redis.call('ZADD', KEYS[6], 'NX', ARGV[2], ARGV[3])\n"
    "if old ~= 'retry_pending' then\n"
    "  if old ~= '' then redis.call('HINCRBY', KEYS[4], old, -1) end\n"
    "  redis.call('HINCRBY', KEYS[4], 'retry_pending', 1)\n"
    "end\n"
    "return 'queued'\n";

/* Operator exclude: never pushed to this connection until included again.
 * KEYS: state, retry, exclude, counts, waiting
 * ARGV: member, product key */
const char CS_SYNC_LUA_EXCLUDE[] =
    "local added = redis.call('SADD', KEYS[3], ARGV[2])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "local old = redis.call('HGET', KEYS[1], 'status')\n"
    "if old and old ~= 'synced' and old ~= 'skipped' then\n"
    "  redis.call('HSET', KEYS[1], 'status', 'skipped', 'skip_reason', 'excluded by an operator')\n"
    "  redis.call('HDEL', KEYS[1], 'next_attempt')\n"
    "  redis.call('HINCRBY', KEYS[4], old, -1)\n"
    "  redis.call('HINCRBY', KEYS[4], 'skipped', 1)\n"
    "  redis.call('ZREM', KEYS[5], ARGV[2])\n"
    "end\n"
    "return added\n";

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
            cs_buf_appendf(&k.state, "%sstate:%s:%s", s->prefix, conn, pkeys[i]);
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
    cs_buf_reset(&k.state);
    cs_buf_appendf(&k.state, "%sstate:%s:%s", s->prefix, conn, pkey);
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
