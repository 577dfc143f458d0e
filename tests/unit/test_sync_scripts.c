/*
 * test_sync_scripts: every transition of the state machine (common/lua/,
 * docs/REDIS.md) played through the C API (cs_sync_begin, claim, settle,
 * the operator's reset / exclude / include, pause / resume) against a real
 * redis-server this program starts on a free loopback port; each check reads
 * Redis back (the state's HGETALL, ZSCORE in retry and inflight, the counts,
 * stats, tally, history and error lists), not only the script's answer.
 *
 * Two workers, A and B: two connections with their own scripts and owner
 * ids, as two worker processes.  Times that would need waiting (a retry's
 * delay, a lease's or an owner's expiry) are moved into the past in Redis
 * instead, so the whole program runs in milliseconds.  Redis is emptied
 * before each test.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "cs_config.h"
#include "cs_event.h"
#include "cs_keys.h"
#include "cs_redis.h"
#include "cs_sync.h"
#include "cs_util.h"
#include "cs_vocab.h"

#define CONN "main"

static pid_t redis_pid;
static cs_config *cfg;
static cs_redis *ra, *rb, *raw;     /* worker A, worker B, the test's reads */
static cs_sync *A, *B;

/* ---- the redis-server ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int group_setup(void **state __attribute__((unused)))
{
    char err[512], p[16];
    int port = free_port();
    if (port <= 0)
        return -1;
    snprintf(p, sizeof p, "%d", port);
    redis_pid = fork();
    if (redis_pid < 0)
        return -1;
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);       /* dies with the test */
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--daemonize", "no",
               "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    setenv("CATALOGSYNC_REDIS_HOST", "127.0.0.1", 1);
    setenv("CATALOGSYNC_REDIS_PORT", p, 1);
    cfg = cs_config_load(NULL, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "test_sync_scripts: %s\n", err);
        return -1;
    }
    ra = cs_redis_new(cfg);
    rb = cs_redis_new(cfg);
    raw = cs_redis_new(cfg);
    A = ra ? cs_sync_new(ra, cfg, "meta") : NULL;
    B = rb ? cs_sync_new(rb, cfg, "meta") : NULL;
    if (!A || !B || !raw)
        return -1;
    for (int i = 0; i < 500 && cs_redis_ready(raw) != 0; i++)
        usleep(10000);
    if (cs_redis_ready(raw) != 0 || cs_redis_ready(ra) != 0 || cs_redis_ready(rb) != 0) {
        fprintf(stderr, "test_sync_scripts: redis-server (on PATH) did not answer\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state __attribute__((unused)))
{
    cs_sync_destroy(A);
    cs_sync_destroy(B);
    cs_redis_destroy(ra);
    cs_redis_destroy(rb);
    cs_redis_destroy(raw);
    cs_config_destroy(cfg);
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    return 0;
}

/* ---- reading Redis ---- */

/* A command of NULL-terminated words; the reply (never an error). */
static redisReply *cmd(const char *w0, ...)
{
    const char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, w0);
    for (const char *w = w0; w && argc < 16; w = va_arg(ap, const char *))
        argv[argc++] = w;
    va_end(ap);
    redisReply *r = cs_redis_cmd(raw, argc, argv, NULL);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", w0, r->str);
    return r;
}

static int flush_all(void **state __attribute__((unused)))
{
    freeReplyObject(cmd("FLUSHALL", NULL));
    return 0;
}

static const char *base(void)
{
    return cs_sync_key_base(A);
}

/* Key buffers, each valid until the next call of the same function. */
static cs_buf *kbuf(cs_buf *b)
{
    if (!b->cap)
        cs_buf_init(b, 1024);
    return b;
}

static const char *key_sink(const char *name)
{
    static cs_buf b;
    cs_key_sink(kbuf(&b), base(), name);
    return b.data;
}

static const char *key_conn(const char *name)
{
    static cs_buf b;
    cs_key_conn(kbuf(&b), base(), name, CONN);
    return b.data;
}

static const char *key_product(const char *name, const char *pid)
{
    static cs_buf b;
    cs_key_product(kbuf(&b), base(), name, CONN, "default", pid);
    return b.data;
}

static const char *member_of(const char *pid)
{
    static char m[128];
    snprintf(m, sizeof m, "%s|default:%s", CONN, pid);
    return m;
}

static const char *pkey_of(const char *pid)
{
    static char k[128];
    snprintf(k, sizeof k, "default:%s", pid);
    return k;
}

/* ZSCORE: the score, -1 when absent. */
static long long zscore(const char *key, const char *member)
{
    redisReply *r = cmd("ZSCORE", key, member, NULL);
    long long v = r->type == REDIS_REPLY_STRING ? (long long)strtod(r->str, NULL) : -1;
    freeReplyObject(r);
    return v;
}

/* HGET as a number, dflt when absent. */
static long long hnum(const char *key, const char *field, long long dflt)
{
    redisReply *r = cmd("HGET", key, field, NULL);
    long long v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : dflt;
    freeReplyObject(r);
    return v;
}

static long long count_of(const char *status)
{
    return hnum(key_conn(CS_KEY_COUNTS), status, 0);
}

static long long int_reply(redisReply *r)
{
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

/* The product's state (HGETALL) holds each field = value of the NULL-ended
 * list; a value NULL: the field is absent; "*": present, any value. */
static void expect_state(const char *pid, ...)
{
    redisReply *r = cmd("HGETALL", key_product(CS_KEY_STATE, pid), NULL);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    va_list ap;
    va_start(ap, pid);
    for (const char *f = va_arg(ap, const char *); f; f = va_arg(ap, const char *)) {
        const char *want = va_arg(ap, const char *);
        const char *got = NULL;
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            if (!strcmp(r->element[i]->str, f))
                got = r->element[i + 1]->str;
        if (!want) {
            if (got)
                fail_msg("state of %s: %s is \"%s\", expected absent", pid, f, got);
        } else if (!got) {
            fail_msg("state of %s: %s absent, expected \"%s\"", pid, f, want);
        } else if (strcmp(want, "*") != 0 && strcmp(want, got) != 0) {
            fail_msg("state of %s: %s is \"%s\", expected \"%s\"", pid, f, got, want);
        }
    }
    va_end(ap);
    freeReplyObject(r);
}

/* ---- driving the scripts ---- */

static cs_sync_job *job(const char *pid, int v)
{
    char text[1024], err[256];
    cs_event *ev = NULL;
    snprintf(text, sizeof text,
             "{\"schema\":1,\"event_id\":\"00000000-0000-4000-8000-%012d\","
             "\"type\":\"product.updated\",\"tenant\":\"default\","
             "\"occurred_at\":\"2025-01-01T00:00:00.000Z\",\"product\":{\"id\":\"%s\","
             "\"version\":%d,\"sku\":\"SKU-%s\",\"name\":\"%s v%d\",\"price\":{\"amount\":"
             "\"1.00\",\"currency\":\"USD\"},\"is_active\":true}}", v, pid, v, pid, pid, v);
    assert_int_equal(cs_event_parse(text, strlen(text), NULL, &ev, err, sizeof err),
                     CS_EVENT_OK);
    cs_sync_job *j = calloc(1, sizeof *j);
    assert_non_null(j);
    assert_int_equal(cs_sync_job_init(j, 0, CONN, ev), 0);
    return j;
}

static void done(cs_sync_job *j)
{
    cs_sync_job_free(j);
    free(j);
}

static int begin(cs_sync *s, cs_sync_job *j)
{
    assert_int_equal(cs_sync_begin(s, &j, 1), 0);
    return j->begin_result;
}

/* Settles j with outcome kind (resume_at for paused / release). */
static int settle(cs_sync *s, cs_sync_job *j, cs_outcome_kind kind, int64_t resume_at)
{
    memset(&j->out, 0, sizeof j->out);
    j->out.kind = kind;
    j->out.resume_at = resume_at;
    if (kind == CS_OUT_RETRY || kind == CS_OUT_FAILED) {
        snprintf(j->out.err_code, sizeof j->out.err_code, "500");
        snprintf(j->out.err_message, sizeof j->out.err_message, "boom");
    }
    if (kind == CS_OUT_SYNCED || kind == CS_OUT_DELETED)
        snprintf(j->out.remote_id, sizeof j->out.remote_id, "rid-%s", j->ev->product.id);
    j->settle_res = CS_SETTLE_NONE;
    assert_int_equal(cs_sync_settle(s, &j, 1), 0);
    /* The word and the enum say the same. */
    assert_string_equal(j->settle_result, cs_settle_results[j->settle_res].wire);
    return j->settle_res;
}

typedef struct {
    const char *want;
    char token[32];
    int64_t version;
    int got;
} claimed;

static void on_claim(void *opaque, const char *member, const char *token, const char *snap,
                     size_t snap_len)
{
    claimed *c = opaque;
    if (strcmp(member, c->want) != 0)
        return;
    c->got++;
    snprintf(c->token, sizeof c->token, "%s", token);
    cs_event *ev = NULL;
    char err[256];
    if (cs_event_parse(snap, snap_len, NULL, &ev, err, sizeof err) == CS_EVENT_OK)
        c->version = ev->product.version;
    cs_event_destroy(ev);
}

/* s claims pid's due retry: its token into j (now a retry), the claimed
 * snapshot's version returned. */
static int64_t claim(cs_sync *s, cs_sync_job *j)
{
    claimed c = {j->member, "", -1, 0};
    assert_true(cs_sync_claim(s, 100, on_claim, &c) >= 0);
    assert_int_equal(c.got, 1);
    j->from_retry = 1;
    snprintf(j->token, sizeof j->token, "%s", c.token);
    return c.version;
}

static void make_due(const char *pid)
{
    freeReplyObject(cmd("ZADD", key_sink(CS_KEY_RETRY), "XX", "0", member_of(pid), NULL));
}

/* ---- the transitions ---- */

static void fresh_product_pushed_and_synced(void **state __attribute__((unused)))
{
    cs_sync_job *j = job("1", 1);
    int64_t before = cs_now_ms();
    assert_int_equal(begin(A, j), CS_BEGIN_PUSH);
    assert_string_equal(j->st.status, "");
    expect_state("1", "version", "1", "status", "pending", "attempts", "0", "owner", "*",
                 "owner_until", "*", "sku", "SKU-1", "product", "default:1", "behind", NULL,
                 NULL);
    assert_true(hnum(key_product(CS_KEY_STATE, "1"), "owner_until", 0) >=
                before + cfg->retry_lease_ms);
    assert_int_equal(int_reply(cmd("HEXISTS", key_sink(CS_KEY_SNAP), member_of("1"), NULL)), 1);
    assert_int_equal(int_reply(cmd("SISMEMBER", key_conn(CS_KEY_INDEX), "default:1", NULL)), 1);
    assert_true(zscore(key_conn(CS_KEY_WAITING), "default:1") >= before);
    /* Durable once begun: the recovery entry, due when the owner's time ends. */
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")),
                     hnum(key_product(CS_KEY_STATE, "1"), "owner_until", 0));
    assert_int_equal(count_of("pending"), 1);

    assert_int_equal(settle(A, j, CS_OUT_SYNCED, 0), CS_SETTLE_SYNCED);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), -1);
    assert_int_equal(j->settle_attempts, 1);
    expect_state("1", "status", "synced", "synced_version", "1", "attempts", "1", "remote_id",
                 "rid-1", "last_success", "*", "owner", NULL, "owner_until", NULL, "pushed",
                 "1", NULL);
    assert_int_equal(count_of("pending"), 0);
    assert_int_equal(count_of("synced"), 1);
    assert_int_equal(zscore(key_conn(CS_KEY_WAITING), "default:1"), -1);
    assert_int_equal(hnum(key_conn(CS_KEY_STATS), "synced_total", 0), 1);
    assert_int_equal(int_reply(cmd("LLEN", key_product(CS_KEY_HISTORY, "1"), NULL)), 1);
    cs_buf tally;
    cs_buf_init(&tally, 0);
    cs_key_tally(&tally, base(), CONN, cs_now_ms() / CS_SYNC_TALLY_MS);
    assert_int_equal(hnum(tally.data, "synced", 0), 1);
    cs_buf_free(&tally);
    done(j);
}

static void synced_again_is_dup_older_is_stale(void **state __attribute__((unused)))
{
    cs_sync_job *j = job("1", 5);
    begin(A, j);
    settle(A, j, CS_OUT_SYNCED, 0);
    cs_sync_job *again = job("1", 5), *old = job("1", 4);
    assert_int_equal(begin(B, again), CS_BEGIN_DUP);
    assert_string_equal(again->st.status, "synced");
    assert_int_equal(begin(B, old), CS_BEGIN_STALE);
    expect_state("1", "version", "5", "status", "synced", "synced_version", "5", "attempts",
                 "1", "owner", NULL, NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), -1);
    assert_int_equal(count_of("synced"), 1);
    done(j);
    done(again);
    done(old);
}

static void retry_due_is_claimed_then_synced(void **state __attribute__((unused)))
{
    cs_sync_job *j = job("1", 1);
    begin(A, j);
    assert_int_equal(settle(A, j, CS_OUT_RETRY, 0), CS_SETTLE_RETRY);
    assert_int_equal(j->settle_attempts, 1);
    expect_state("1", "status", "retry_pending", "attempts", "1", "last_error_code", "500",
                 "last_error_message", "boom", "owner", NULL, NULL);
    long long due = hnum(key_product(CS_KEY_STATE, "1"), "next_attempt", -1);
    assert_int_equal(due, j->settle_next);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), due);
    assert_int_equal(count_of("retry_pending"), 1);
    assert_int_equal(hnum(key_conn(CS_KEY_STATS), "retry_total", 0), 1);
    assert_int_equal(int_reply(cmd("LLEN", key_conn(CS_KEY_ERRORS), NULL)), 1);

    /* Not due yet: nothing to claim. */
    claimed none = {j->member, "", -1, 0};
    assert_int_equal(cs_sync_claim(B, 100, on_claim, &none), 0);
    make_due("1");
    int64_t t = cs_now_ms();
    assert_int_equal(claim(B, j), 1);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), -1);
    assert_true(zscore(key_sink(CS_KEY_INFLIGHT), member_of("1")) >= t + cfg->retry_lease_ms);
    redisReply *r = cmd("HGET", key_sink(CS_KEY_LEASE), member_of("1"), NULL);
    assert_string_equal(r->str, j->token);
    freeReplyObject(r);
    redisReply *fence = cmd("GET", key_sink(CS_KEY_FENCE), NULL);
    assert_string_equal(fence->str, j->token);      /* the first token */
    freeReplyObject(fence);

    assert_int_equal(settle(B, j, CS_OUT_SYNCED, 0), CS_SETTLE_SYNCED);
    expect_state("1", "status", "synced", "synced_version", "1", "attempts", "2",
                 "next_attempt", NULL, NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_INFLIGHT), member_of("1")), -1);
    assert_int_equal(int_reply(cmd("HEXISTS", key_sink(CS_KEY_LEASE), member_of("1"), NULL)), 0);
    assert_int_equal(count_of("retry_pending"), 0);
    assert_int_equal(count_of("synced"), 1);
    done(j);
}

static void expired_lease_is_reclaimed_and_the_late_outcome_fenced(void **state __attribute__((unused)))
{
    cs_sync_job *a = job("1", 1), *b = job("1", 1);
    begin(A, a);
    settle(A, a, CS_OUT_RETRY, 0);
    make_due("1");
    claim(A, a);
    /* A's lease runs out (A hangs or died): the next claim returns it to
     * the queue and B takes it with a new token. */
    freeReplyObject(cmd("ZADD", key_sink(CS_KEY_INFLIGHT), "XX", "1", member_of("1"), NULL));
    int64_t t = cs_now_ms();
    assert_int_equal(claim(B, b), 1);
    assert_string_not_equal(a->token, b->token);
    redisReply *r = cmd("HGET", key_sink(CS_KEY_LEASE), member_of("1"), NULL);
    assert_string_equal(r->str, b->token);
    freeReplyObject(r);
    assert_true(zscore(key_sink(CS_KEY_INFLIGHT), member_of("1")) >= t + cfg->retry_lease_ms);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), -1);

    /* A's late outcome changes nothing. */
    assert_int_equal(settle(A, a, CS_OUT_SYNCED, 0), CS_SETTLE_FENCED);
    expect_state("1", "status", "retry_pending", "attempts", "1", "synced_version", NULL, NULL);
    r = cmd("HGET", key_sink(CS_KEY_LEASE), member_of("1"), NULL);
    assert_string_equal(r->str, b->token);
    freeReplyObject(r);

    assert_int_equal(settle(B, b, CS_OUT_SYNCED, 0), CS_SETTLE_SYNCED);
    expect_state("1", "status", "synced", "synced_version", "1", "attempts", "2", NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_INFLIGHT), member_of("1")), -1);
    done(a);
    done(b);
}

static void newer_version_behind_a_live_lease_is_deferred(void **state __attribute__((unused)))
{
    cs_sync_job *a = job("1", 1), *b = job("1", 2);
    begin(A, a);
    settle(A, a, CS_OUT_RETRY, 0);
    make_due("1");
    claim(A, a);
    long long lease_end = zscore(key_sink(CS_KEY_INFLIGHT), member_of("1"));

    assert_int_equal(begin(B, b), CS_BEGIN_DEFERRED);
    char ls[24];
    snprintf(ls, sizeof ls, "%lld", lease_end);
    expect_state("1", "version", "2", "status", "retry_pending", "attempts", "0",
                 "next_attempt", ls, "behind", NULL, NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), lease_end);
    assert_int_equal(zscore(key_sink(CS_KEY_INFLIGHT), member_of("1")), lease_end);
    assert_int_equal(count_of("retry_pending"), 1);
    redisReply *r = cmd("HGET", key_sink(CS_KEY_SNAP), member_of("1"), NULL);
    assert_non_null(strstr(r->str, "\"version\":2"));
    freeReplyObject(r);

    /* The holder's outcome of version 1: superseded, and version 2 due now. */
    int64_t t = cs_now_ms();
    assert_int_equal(settle(A, a, CS_OUT_SYNCED, 0), CS_SETTLE_SUPERSEDED);
    long long due = zscore(key_sink(CS_KEY_RETRY), member_of("1"));
    assert_true(due >= t && due <= cs_now_ms());
    assert_int_equal(zscore(key_sink(CS_KEY_INFLIGHT), member_of("1")), -1);
    expect_state("1", "version", "2", "status", "retry_pending", "synced_version", NULL, NULL);
    assert_int_equal(claim(B, b), 2);
    done(a);
    done(b);
}

static void behind_another_owners_push_held_deferred_superseded(void **state __attribute__((unused)))
{
    cs_sync_job *a = job("1", 1), *b1 = job("1", 1), *b2 = job("1", 2);
    assert_int_equal(begin(A, a), CS_BEGIN_PUSH);
    long long owner_until = hnum(key_product(CS_KEY_STATE, "1"), "owner_until", -1);

    /* The same version at B while A pushes it: held, with a recovery entry
     * at A's time in case A dies. */
    assert_int_equal(begin(B, b1), CS_BEGIN_HELD);
    expect_state("1", "version", "1", "status", "pending", NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), owner_until);

    /* A newer version at B: deferred behind A's push. */
    assert_int_equal(begin(B, b2), CS_BEGIN_DEFERRED);
    char ou[24];
    snprintf(ou, sizeof ou, "%lld", owner_until);
    expect_state("1", "version", "2", "status", "retry_pending", "behind", "1", "next_attempt",
                 ou, "pushed", "1", NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), owner_until);

    /* A's outcome of version 1 was waited for: superseded, version 2 due. */
    int64_t t = cs_now_ms();
    assert_int_equal(settle(A, a, CS_OUT_SYNCED, 0), CS_SETTLE_SUPERSEDED);
    long long due = zscore(key_sink(CS_KEY_RETRY), member_of("1"));
    assert_true(due >= t && due <= cs_now_ms());
    expect_state("1", "version", "2", "status", "retry_pending", "behind", NULL,
                 "synced_version", NULL, NULL);
    done(a);
    done(b1);
    done(b2);
}

static void push_outliving_its_owner_is_overtaken(void **state __attribute__((unused)))
{
    cs_sync_job *a = job("1", 1), *b = job("1", 2);
    assert_int_equal(begin(A, a), CS_BEGIN_PUSH);
    /* A's time runs out while it still pushes version 1. */
    freeReplyObject(cmd("HSET", key_product(CS_KEY_STATE, "1"), "owner_until", "1", NULL));
    assert_int_equal(begin(B, b), CS_BEGIN_PUSH);
    expect_state("1", "version", "2", "status", "pending", "pushed", "1", "behind", NULL, NULL);

    /* Nothing waited for A's push: its late outcome is overtaken, and
     * changes nothing (the worker queues the newest version again). */
    assert_int_equal(settle(A, a, CS_OUT_SYNCED, 0), CS_SETTLE_OVERTAKEN);
    expect_state("1", "version", "2", "status", "pending", "synced_version", NULL, "owner",
                 "*", NULL);
    /* Version 2's recovery entry (B's), untouched. */
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")),
                     hnum(key_product(CS_KEY_STATE, "1"), "owner_until", 0));
    assert_int_equal(count_of("pending"), 1);
    assert_int_equal(count_of("synced"), 0);
    done(a);
    done(b);
}

static void operator_reset_exclude_include(void **state __attribute__((unused)))
{
    cs_sync_job *j = job("1", 1);
    begin(A, j);
    settle(A, j, CS_OUT_SYNCED, 0);

    const char *pk[] = {pkey_of("1"), "default:none", "no-colon"};
    cs_reset_result res[3];
    int64_t t = cs_now_ms();
    assert_int_equal(cs_sync_reset_many(B, CONN, pk, 3, 0, res), 0);
    assert_int_equal(res[0], CS_RESET_QUEUED);
    assert_int_equal(res[1], CS_RESET_NO_STATE);
    assert_int_equal(res[2], CS_RESET_NO_STATE);
    expect_state("1", "status", "retry_pending", "attempts", "0", "next_attempt", "*",
                 "synced_version", "1", NULL);
    long long due = zscore(key_sink(CS_KEY_RETRY), member_of("1"));
    assert_true(due >= t && due <= cs_now_ms());
    assert_true(zscore(key_conn(CS_KEY_WAITING), "default:1") >= t);
    assert_int_equal(count_of("synced"), 0);
    assert_int_equal(count_of("retry_pending"), 1);

    /* Exclude: skipped, its retry gone, later versions recorded only. */
    assert_int_equal(cs_sync_exclude(B, CONN, pkey_of("1")), 1);
    assert_int_equal(cs_sync_exclude(B, CONN, pkey_of("1")), 0);
    expect_state("1", "status", "skipped", "skip_reason", "excluded by an operator",
                 "next_attempt", NULL, NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), -1);
    assert_int_equal(zscore(key_conn(CS_KEY_WAITING), "default:1"), -1);
    assert_int_equal(int_reply(cmd("SISMEMBER", key_conn(CS_KEY_EXCLUDE), "default:1", NULL)), 1);
    assert_int_equal(count_of("retry_pending"), 0);
    assert_int_equal(count_of("skipped"), 1);
    cs_sync_job *v2 = job("1", 2);
    assert_int_equal(begin(A, v2), CS_BEGIN_EXCLUDED);
    expect_state("1", "version", "2", "status", "skipped", "attempts", "0", "owner", NULL, NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), -1);
    assert_int_equal(cs_sync_reset_many(B, CONN, pk, 1, 0, res), 0);
    assert_int_equal(res[0], CS_RESET_EXCLUDED);
    expect_state("1", "status", "skipped", NULL);

    /* Include: out of the set, and re-queued (the exclusion kept it out). */
    assert_int_equal(cs_sync_reset_many(B, CONN, pk, 1, 1, res), 0);
    assert_int_equal(res[0], CS_RESET_QUEUED);
    assert_int_equal(int_reply(cmd("SISMEMBER", key_conn(CS_KEY_EXCLUDE), "default:1", NULL)), 0);
    expect_state("1", "version", "2", "status", "retry_pending", "skip_reason", NULL, NULL);
    assert_true(zscore(key_sink(CS_KEY_RETRY), member_of("1")) >= 0);
    assert_int_equal(count_of("skipped"), 0);
    assert_int_equal(count_of("retry_pending"), 1);
    /* Included again: nothing to do. */
    assert_int_equal(cs_sync_reset_many(B, CONN, pk, 1, 1, res), 0);
    assert_int_equal(res[0], CS_RESET_INCLUDED);
    done(j);
    done(v2);
}

static void pause_parks_retries_resume_makes_them_due(void **state __attribute__((unused)))
{
    cs_sync_job *j = job("1", 1), *other = job("2", 1);
    begin(A, j);
    begin(A, other);
    int64_t until = cs_now_ms() + CS_SYNC_OPERATOR_PAUSE_MS;
    assert_int_equal(cs_sync_pause_set(A, CONN, until, "operator", "maintenance"), 0);
    char pause[256];
    snprintf(pause, sizeof pause, "%s", key_conn(CS_KEY_PAUSE));
    assert_int_equal(hnum(pause, "until", -1), until);
    redisReply *r = cmd("HMGET", pause, "kind", "reason", NULL);
    assert_string_equal(r->element[0]->str, "operator");
    assert_string_equal(r->element[1]->str, "maintenance");
    freeReplyObject(r);
    assert_true(int_reply(cmd("PTTL", pause, NULL)) > 0);

    /* A channel's throttle never replaces an operator's pause. */
    assert_int_equal(cs_sync_pause_set(B, CONN, cs_now_ms() + 1000, "throttle", "429"), 0);
    int64_t got_until;
    char kind[16], reason[64];
    assert_int_equal(cs_sync_pause_get(B, CONN, &got_until, kind, sizeof kind, reason,
                                       sizeof reason), 1);
    assert_string_equal(kind, "operator");
    assert_int_equal(got_until, until);

    /* The worker parks what it meets: paused, queued for the pause's end,
     * no attempt charged. */
    assert_int_equal(settle(A, j, CS_OUT_PAUSED, until), CS_SETTLE_PAUSED);
    assert_int_equal(j->settle_next, until);
    char us[24];
    snprintf(us, sizeof us, "%lld", (long long)until);
    expect_state("1", "status", "retry_pending", "attempts", "0", "next_attempt", us, NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), until);
    assert_int_equal(hnum(key_conn(CS_KEY_STATS), "paused_total", 0), 1);
    /* A retry of another connection at the same time is not this pause's. */
    freeReplyObject(cmd("ZADD", key_sink(CS_KEY_RETRY), us, "other|default:1", NULL));

    int64_t t = cs_now_ms();
    assert_int_equal(cs_sync_resume(B, CONN), 1);
    long long due = zscore(key_sink(CS_KEY_RETRY), member_of("1"));
    assert_true(due >= t && due <= cs_now_ms());
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), "other|default:1"), until);
    assert_int_equal(int_reply(cmd("EXISTS", pause, NULL)), 0);
    assert_int_equal(cs_sync_pause_get(B, CONN, &got_until, kind, sizeof kind, reason,
                                       sizeof reason), 0);
    assert_int_equal(cs_sync_resume(B, CONN), -1);      /* not paused */
    done(j);
    done(other);
}

static void failure_on_the_last_attempt_is_failed(void **state __attribute__((unused)))
{
    int max = cfg->retry_max_attempts;
    assert_true(max > 1);
    cs_sync_job *j = job("1", 1);
    begin(A, j);
    for (int n = 1; n < max; n++) {
        assert_int_equal(settle(A, j, CS_OUT_RETRY, 0), CS_SETTLE_RETRY);
        assert_int_equal(j->settle_attempts, n);
        assert_int_equal(hnum(key_product(CS_KEY_STATE, "1"), "attempts", -1), n);
        assert_true(zscore(key_sink(CS_KEY_RETRY), member_of("1")) > 0);
    }
    assert_int_equal(settle(A, j, CS_OUT_RETRY, 0), CS_SETTLE_FAILED);
    assert_int_equal(j->settle_attempts, max);
    char ms[16];
    snprintf(ms, sizeof ms, "%d", max);
    expect_state("1", "status", "failed", "attempts", ms, "next_attempt", NULL,
                 "last_error_code", "500", NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), -1);
    assert_int_equal(hnum(key_conn(CS_KEY_STATS), "failed_total", 0), 1);
    assert_int_equal(hnum(key_conn(CS_KEY_STATS), "retry_total", 0), max - 1);
    assert_int_equal(count_of("failed"), 1);
    assert_int_equal(count_of("retry_pending"), 0);
    assert_true(zscore(key_conn(CS_KEY_WAITING), "default:1") > 0);   /* still out of date */
    cs_buf tally;
    cs_buf_init(&tally, 0);
    cs_key_tally(&tally, base(), CONN, cs_now_ms() / CS_SYNC_TALLY_MS);
    assert_int_equal(hnum(tally.data, "failed", 0), 1);
    assert_int_equal(hnum(tally.data, "retry", 0), max - 1);
    cs_buf_free(&tally);
    {
        redisReply *h = cmd("LINDEX", key_product(CS_KEY_HISTORY, "1"), "0", NULL);
        assert_non_null(strstr(h->str, "\"outcome\":\"failed\""));
        freeReplyObject(h);
    }

    /* A bad item fails at once. */
    cs_sync_job *bad = job("2", 1);
    begin(A, bad);
    assert_int_equal(settle(A, bad, CS_OUT_FAILED, 0), CS_SETTLE_FAILED);
    expect_state("2", "status", "failed", "attempts", "1", NULL);
    done(j);
    done(bad);
}

static void delete_removes_the_records(void **state __attribute__((unused)))
{
    cs_sync_job *j = job("1", 1), *d = job("1", 2);
    begin(A, j);
    settle(A, j, CS_OUT_SYNCED, 0);
    begin(A, d);
    assert_int_equal(settle(A, d, CS_OUT_DELETED, 0), CS_SETTLE_DELETED);
    assert_int_equal(int_reply(cmd("EXISTS", key_product(CS_KEY_STATE, "1"),
                                   key_product(CS_KEY_HISTORY, "1"), NULL)), 0);
    assert_int_equal(int_reply(cmd("HEXISTS", key_sink(CS_KEY_SNAP), member_of("1"), NULL)), 0);
    assert_int_equal(int_reply(cmd("SISMEMBER", key_conn(CS_KEY_INDEX), "default:1", NULL)), 0);
    assert_int_equal(hnum(key_conn(CS_KEY_STATS), "deleted_total", 0), 1);
    assert_int_equal(count_of("pending"), 0);
    /* A late outcome of what was deleted brings nothing back. */
    assert_int_equal(settle(A, j, CS_OUT_RETRY, 0), CS_SETTLE_SUPERSEDED);
    assert_int_equal(int_reply(cmd("EXISTS", key_product(CS_KEY_STATE, "1"), NULL)), 0);
    done(j);
    done(d);
}

/* ---- the vocabulary ---- */

static void words_round_trip(void **state __attribute__((unused)))
{
    for (int i = 0; i < CS_N_STATUSES; i++)
        assert_int_equal(cs_status_parse(cs_statuses[i].wire), i);
    assert_int_equal(cs_status_parse("not_a_status"), -1);
    for (int i = 1; i < CS_N_SETTLE; i++)
        assert_int_equal(cs_settle_parse(cs_settle_results[i].wire), i);
    assert_int_equal(cs_settle_parse("bogus"), CS_SETTLE_NONE);
    for (int b = CS_BEGIN_PUSH; b <= CS_BEGIN_HELD; b++)
        assert_int_equal(cs_begin_parse(cs_begin_name(b)), b);
    assert_int_equal(cs_begin_parse("bogus"), CS_BEGIN_DUP);
    assert_string_equal(cs_outcome_name(CS_OUT_RELEASE), "release");
}

static void busy_connection_push_handed_back_and_left_queued(void **state __attribute__((unused)))
{
    /* A worker whose lane for the connection is full hands the fresh push
     * back: queued, due at once, in no one's hands. */
    cs_sync_job *j = job("1", 1);
    assert_int_equal(begin(A, j), CS_BEGIN_PUSH);
    int64_t now = cs_now_ms();
    assert_int_equal(settle(A, j, CS_OUT_RELEASE, now), CS_SETTLE_RELEASED);
    expect_state("1", "version", "1", "status", "retry_pending", "owner", NULL, "owner_until",
                 NULL, "attempts", "0", NULL);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), now);
    assert_int_equal(count_of("retry_pending"), 1);
    assert_int_equal(count_of("pending"), 0);
    /* The same version read again is not pushed beside the queued one. */
    cs_sync_job *again = job("1", 1);
    assert_int_equal(begin(B, again), CS_BEGIN_DUP);

    /* Claims of a worker whose lane is still busy leave it queued... */
    const char *busy[] = {j->conn_id};
    claimed c = {j->member, "", -1, 0};
    assert_int_equal(cs_sync_claim_except(A, 100, busy, 1, on_claim, &c), 0);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), now);
    /* ...another connection's busy lane does not, nor does a free one. */
    const char *other[] = {"another"};
    assert_int_equal(cs_sync_claim_except(B, 100, other, 1, on_claim, &c), 1);
    assert_int_equal(c.version, 1);
    assert_int_equal(zscore(key_sink(CS_KEY_RETRY), member_of("1")), -1);
    done(j);
    done(again);
}

#define T(f) cmocka_unit_test_setup(f, flush_all)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(fresh_product_pushed_and_synced),
        T(synced_again_is_dup_older_is_stale),
        T(retry_due_is_claimed_then_synced),
        T(expired_lease_is_reclaimed_and_the_late_outcome_fenced),
        T(newer_version_behind_a_live_lease_is_deferred),
        T(behind_another_owners_push_held_deferred_superseded),
        T(push_outliving_its_owner_is_overtaken),
        T(operator_reset_exclude_include),
        T(pause_parks_retries_resume_makes_them_due),
        T(failure_on_the_last_attempt_is_failed),
        T(delete_removes_the_records),
        T(busy_connection_push_handed_back_and_left_queued),
        cmocka_unit_test(words_round_trip),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
