/*
 * cs_sync_pause: a connection's pause — set by a worker (a channel's
 * throttle, auth or refusal) or by an operator, read back by the workers
 * and the operator tools, and resumed by an operator (docs/REDIS.md,
 * "pause:<connection>"; scripts common/lua/pause.lua, resume.lua).
 */
#include "cs_sync_priv.h"
#include "cs_keys.h"
#include "cs_log.h"
#include "cs_util.h"

#include <stdio.h>
#include <string.h>

int cs_sync_pause_set(cs_sync *s, const char *conn, int64_t until_ms, const char *kind,
                      const char *reason)
{
    cs_buf key;
    char until[24], ttl[24], now[24], safe[512];
    int64_t n = cs_now_ms();
    /* The reason quotes the channel's answer, as error messages do. */
    cs_strlcpy(safe, reason ? reason : "", sizeof safe);
    cs_log_redact(safe, sizeof safe);
    reason = safe;
    cs_buf_init(&key, 1024);
    cs_key_conn(&key, s->prefix, CS_KEY_PAUSE, conn);
    snprintf(until, sizeof until, "%lld", (long long)until_ms);
    snprintf(now, sizeof now, "%lld", (long long)n);
    snprintf(ttl, sizeof ttl, "%lld", (long long)(until_ms > n ? until_ms - n : 1));
    const char *argv[] = {"EVALSHA", NULL, "1", key.data, until,
                          kind, reason, now, ttl};
    long long rc = -1;
    if (cs_sync_eval_int(s, s->s_pause, 9, argv, &rc) != 0)
        rc = -1;
    cs_buf_free(&key);
    return rc < 0 ? -1 : 0;
}

int cs_sync_pause_get(cs_sync *s, const char *conn, int64_t *until_ms, char *kind,
                      size_t kind_size, char *reason, size_t reason_size)
{
    cs_buf key;
    cs_buf_init(&key, 1024);
    cs_key_conn(&key, s->prefix, CS_KEY_PAUSE, conn);
    const char *argv[] = {"HMGET", key.data, "until", "kind", "reason"};
    redisReply *r = cs_redis_cmd(s->r, 5, argv, NULL);
    cs_buf_free(&key);
    if (!r)
        return -1;
    int paused = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        *until_ms = reply_i64(r->element[0], 0);
        copy_str(kind, kind_size, r->element[1]);
        copy_str(reason, reason_size, r->element[2]);
        paused = *until_ms > cs_now_ms();
    }
    freeReplyObject(r);
    return paused;
}

long cs_sync_resume(cs_sync *s, const char *conn)
{
    cs_buf key, retry, prefix;
    char now[24];
    long rc = -2;
    cs_buf_init(&key, 512);
    cs_buf_init(&retry, 512);
    cs_buf_init(&prefix, 256);
    cs_key_conn(&key, s->prefix, CS_KEY_PAUSE, conn);
    cs_key_sink(&retry, s->prefix, CS_KEY_RETRY);
    cs_buf_appendf(&prefix, "%s|", conn);
    snprintf(now, sizeof now, "%lld", (long long)cs_now_ms());
    const char *argv[] = {"EVALSHA", NULL, "2", key.data, retry.data, prefix.data, now};
    long long got;
    if (cs_sync_eval_int(s, s->s_resume, 7, argv, &got) == 0)
        rc = (long)got;
    cs_buf_free(&key);
    cs_buf_free(&retry);
    cs_buf_free(&prefix);
    return rc;
}
