#include "cs_redis.h"
#include "cs_buf.h"
#include "cs_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct cs_redis {
    redisContext *ctx;
    char *host;
    int port;
    char *password;
    int db;
    int timeout_ms;
    char *scripts[CS_REDIS_MAX_SCRIPTS];
    char shas[CS_REDIS_MAX_SCRIPTS][41];
    int n_scripts;
    size_t pending;
    int need_flush;
    unsigned long long round_trips;
    unsigned long long errors;
    int was_down;
    char err[256];
    cs_buf cmd;             /* the command being queued, in RESP */
};

cs_redis *cs_redis_new(const cs_config *cfg)
{
    cs_redis *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->host = strdup(cfg->redis_host);
    r->password = strdup(cfg->redis_password);
    r->port = cfg->redis_port;
    r->db = cfg->redis_db;
    r->timeout_ms = cfg->redis_timeout_ms;
    cs_buf_init(&r->cmd, 0);
    if (!r->host || !r->password) {
        cs_redis_destroy(r);
        return NULL;
    }
    return r;
}

void cs_redis_destroy(cs_redis *r)
{
    if (!r)
        return;
    if (r->ctx)
        redisFree(r->ctx);
    for (int i = 0; i < r->n_scripts; i++)
        free(r->scripts[i]);
    cs_buf_free(&r->cmd);
    free(r->host);
    free(r->password);
    free(r);
}

int cs_redis_add_script(cs_redis *r, const char *lua)
{
    if (r->n_scripts >= CS_REDIS_MAX_SCRIPTS || !(r->scripts[r->n_scripts] = strdup(lua)))
        return -1;
    r->shas[r->n_scripts][0] = '\0';
    return r->n_scripts++;
}

const char *cs_redis_script_sha(const cs_redis *r, int idx)
{
    return r->shas[idx];
}

const char *cs_redis_errstr(const cs_redis *r)
{
    return r->err[0] ? r->err : "not connected";
}

void cs_redis_drop(cs_redis *r)
{
    if (r->ctx)
        redisFree(r->ctx);
    r->ctx = NULL;
    r->pending = 0;
    r->need_flush = 0;
}

static void note_error(cs_redis *r, const char *what)
{
    r->errors++;
    snprintf(r->err, sizeof r->err, "%s: %s", what,
             r->ctx && r->ctx->errstr[0] ? r->ctx->errstr : "connection lost");
    cs_redis_drop(r);
    if (!r->was_down)
        CS_ERROR("redis", "Redis %s:%d unreachable (%s); pausing until it is back",
                 r->host, r->port, r->err);
    r->was_down = 1;
}

static int setup_cmd(cs_redis *r, redisReply *rep, const char *what)
{
    if (!rep) {
        note_error(r, what);
        return -1;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        r->errors++;
        snprintf(r->err, sizeof r->err, "%s: %s", what, rep->str);
        freeReplyObject(rep);
        cs_redis_drop(r);
        if (!r->was_down)
            CS_ERROR("redis", "Redis %s:%d refused %s (%s); check redis.password / redis.db",
                     r->host, r->port, what, r->err);
        r->was_down = 1;
        return -1;
    }
    return 0;
}

int cs_redis_ready(cs_redis *r)
{
    if (r->ctx)
        return 0;
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    r->ctx = redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->ctx || r->ctx->err) {
        snprintf(r->err, sizeof r->err, "connect %s:%d: %s", r->host, r->port,
                 r->ctx ? r->ctx->errstr : "out of memory");
        if (r->ctx)
            redisFree(r->ctx);
        r->ctx = NULL;
        r->errors++;
        return -1;
    }
    redisSetTimeout(r->ctx, tv);
    redisReply *rep;
    if (r->password[0]) {
        rep = redisCommand(r->ctx, "AUTH %s", r->password);
        if (setup_cmd(r, rep, "AUTH") != 0)
            return -1;
        freeReplyObject(rep);
    }
    if (r->db) {
        rep = redisCommand(r->ctx, "SELECT %d", r->db);
        if (setup_cmd(r, rep, "SELECT") != 0)
            return -1;
        freeReplyObject(rep);
    }
    for (int i = 0; i < r->n_scripts; i++) {
        rep = redisCommand(r->ctx, "SCRIPT LOAD %s", r->scripts[i]);
        if (setup_cmd(r, rep, "SCRIPT LOAD") != 0)
            return -1;
        if (rep->type == REDIS_REPLY_STRING && rep->len == 40)
            memcpy(r->shas[i], rep->str, 41);
        freeReplyObject(rep);
        r->round_trips++;
    }
    if (r->was_down)
        CS_INFO("redis", "Redis %s:%d reachable again", r->host, r->port);
    r->was_down = 0;
    r->err[0] = '\0';
    return 0;
}

redisReply *cs_redis_cmd(cs_redis *r, int argc, const char **argv, const size_t *lens)
{
    if (cs_redis_ready(r) != 0)
        return NULL;
    redisReply *rep = redisCommandArgv(r->ctx, argc, argv, lens);
    r->round_trips++;
    if (!rep)
        note_error(r, argv[0]);
    return rep;
}

redisReply *cs_redis_cmdf(cs_redis *r, const char *fmt, ...)
{
    if (cs_redis_ready(r) != 0)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r->ctx, fmt, ap);
    va_end(ap);
    r->round_trips++;
    if (!rep)
        note_error(r, "command");
    return rep;
}

/* "<tag><n>\r\n", the RESP header of an array or a bulk string. */
static int resp_header(cs_buf *b, char tag, size_t n)
{
    char d[24];
    size_t k = sizeof d;
    d[--k] = '\n';
    d[--k] = '\r';
    do {
        d[--k] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    d[--k] = tag;
    return cs_buf_append(b, d + k, sizeof d - k);
}

/* The command in RESP, written here: hiredis's own formatter
 * (redisFormatSdsCommandArgv) prints every argument's header with a
 * printf-like function, ~600 instructions an argument, which made queueing a
 * settle cost as much as decoding an event (docs/PERFORMANCE.md). */
static int resp_command(cs_buf *b, int argc, const char **argv, const size_t *lens)
{
    cs_buf_reset(b);
    if (resp_header(b, '*', (size_t)argc) != 0)
        return -1;
    for (int i = 0; i < argc; i++) {
        size_t n = lens ? lens[i] : strlen(argv[i]);
        if (resp_header(b, '$', n) != 0 || cs_buf_append(b, argv[i], n) != 0 ||
            cs_buf_append(b, "\r\n", 2) != 0)
            return -1;
    }
    return 0;
}

int cs_redis_pipe_add(cs_redis *r, int argc, const char **argv, const size_t *lens)
{
    if (cs_redis_ready(r) != 0)
        return -1;
    if (resp_command(&r->cmd, argc, argv, lens) != 0 ||
        redisAppendFormattedCommand(r->ctx, r->cmd.data, r->cmd.len) != REDIS_OK) {
        note_error(r, "pipeline");
        return -1;
    }
    r->pending++;
    r->need_flush = 1;
    return 0;
}

redisReply *cs_redis_pipe_get(cs_redis *r)
{
    void *rep = NULL;
    if (!r->ctx || r->pending == 0)
        return NULL;
    if (r->need_flush) {
        r->round_trips++;
        r->need_flush = 0;
    }
    if (redisGetReply(r->ctx, &rep) != REDIS_OK || !rep) {
        note_error(r, "pipeline reply");
        return NULL;
    }
    r->pending--;
    return rep;
}

size_t cs_redis_pipe_pending(const cs_redis *r)
{
    return r->pending;
}

unsigned long long cs_redis_round_trips(const cs_redis *r)
{
    return r->round_trips;
}

unsigned long long cs_redis_errors(const cs_redis *r)
{
    return r->errors;
}

int cs_redis_connected(const cs_redis *r)
{
    return r->ctx != NULL;
}
