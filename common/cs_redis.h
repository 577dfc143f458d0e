/*
 * cs_redis: one Redis connection with reconnect, pipelining and scripts.
 *
 * Follows hiredis' rule that a context is dead after an error: any transport
 * error drops the context, and the next cs_redis_ready() connects anew
 * (AUTH, SELECT, and SCRIPT LOAD of every registered script).  Callers treat
 * a failure as "Redis unreachable": they stop taking work and commit nothing
 * until cs_redis_ready() succeeds again.
 *
 * Thread safety: a cs_redis belongs to one thread.
 * Ownership: replies returned by cs_redis_cmd()/cs_redis_pipe_get() are the
 * caller's, freed with freeReplyObject().
 */
#ifndef CS_REDIS_H
#define CS_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "cs_config.h"

#define CS_REDIS_MAX_SCRIPTS 16

typedef struct cs_redis cs_redis;

cs_redis *cs_redis_new(const cs_config *cfg);
void cs_redis_destroy(cs_redis *r);

/* Registers a Lua script loaded on every (re)connect; returns its index or
 * -1.  Call before the first cs_redis_ready(). */
int cs_redis_add_script(cs_redis *r, const char *lua);
const char *cs_redis_script_sha(const cs_redis *r, int idx);

/* Connects when not connected.  0 when usable, -1 when Redis is unreachable
 * (cs_redis_errstr() says why). */
int cs_redis_ready(cs_redis *r);
const char *cs_redis_errstr(const cs_redis *r);
/* Drops the connection (after a protocol surprise, or in tests). */
void cs_redis_drop(cs_redis *r);

/* One command; NULL on a transport error (the connection is dropped). */
redisReply *cs_redis_cmd(cs_redis *r, int argc, const char **argv, const size_t *lens);
redisReply *cs_redis_cmdf(cs_redis *r, const char *fmt, ...);

/* Pipelining: append commands, then read exactly as many replies. */
int cs_redis_pipe_add(cs_redis *r, int argc, const char **argv, const size_t *lens);
/* Reads one queued reply; NULL on a transport error (connection dropped). */
redisReply *cs_redis_pipe_get(cs_redis *r);
/* Number of appended replies not yet read. */
size_t cs_redis_pipe_pending(const cs_redis *r);

/* Counts round trips (a pipeline flush counts once), for metrics/benchmarks. */
unsigned long long cs_redis_round_trips(const cs_redis *r);
/* Counts failures: connects that failed, transport errors, a refused AUTH,
 * SELECT or SCRIPT LOAD (for metrics). */
unsigned long long cs_redis_errors(const cs_redis *r);
/* 1 while connected, i.e. Redis answered the last command sent; 0 after a
 * failure until cs_redis_ready() connects again. */
int cs_redis_connected(const cs_redis *r);

#endif
