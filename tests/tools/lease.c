/*
 * cs-test-lease: the lease rules of docs/REDIS.md checked on the real scripts
 * (common/lua/, through cs_sync.c) against the redis-server an integration test started
 * (tests/integration/test_leases.py).  Paths of two workers that the worker
 * binary cannot be made to take on cue are played here step by step: "A"
 * holds a claimed retry, "B" begins a newer version of the product.
 *
 *   cs-test-lease --redis-port P
 *
 * Prints "ok <scenario>" or "FAIL <scenario>: <what>" per scenario; exit 0
 * when every scenario passed, 1 when one failed or Redis did not answer.
 * It writes into the Redis it is given under its own prefix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_config.h"
#include "cs_event.h"
#include "cs_redis.h"
#include "cs_sync.h"
#include "cs_util.h"

#define CONN "c1"

static int failures;

static void fail(const char *scenario, const char *what, long long got)
{
    printf("FAIL %s: %s (got %lld)\n", scenario, what, got);
    failures++;
}

/* A job for version v of product pid at CONN (NULL when it cannot be built). */
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
    if (cs_event_parse(text, strlen(text), NULL, &ev, err, sizeof err) != CS_EVENT_OK) {
        fprintf(stderr, "cs-test-lease: sample event: %s\n", err);
        return NULL;
    }
    cs_sync_job *j = malloc(sizeof *j);
    if (!j || cs_sync_job_init(j, 0, CONN, ev) != 0) {
        free(j);
        cs_event_destroy(ev);
        return NULL;
    }
    return j;
}

static void job_done(cs_sync_job *j)
{
    cs_sync_job_free(j);
    free(j);
}

/* ZSCORE of member in the sink's key `what`: the score, -1 when absent, -2
 * when Redis failed. */
static long long score(cs_redis *r, cs_sync *s, const char *what, const char *member)
{
    cs_buf key;
    cs_buf_init(&key, 0);
    cs_sync_key(s, &key, what);
    const char *argv[] = {"ZSCORE", key.data, member};
    redisReply *rep = cs_redis_cmd(r, 3, argv, NULL);
    cs_buf_free(&key);
    long long v = -2;
    char *end = NULL;
    if (rep && rep->type == REDIS_REPLY_NIL)
        v = -1;
    else if (rep && rep->type == REDIS_REPLY_STRING) {
        double d = strtod(rep->str, &end);     /* a score: "1764772000000" or "1.7e+12" */
        if (end != rep->str && *end == '\0' && d >= 0)
            v = (long long)d;
    }
    if (rep)
        freeReplyObject(rep);
    return v;
}

typedef struct {
    const char *want;           /* the member to take */
    char token[32];
    char snap_version[24];      /* "version": of the claimed snapshot */
    size_t got;
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
        snprintf(c->snap_version, sizeof c->snap_version, "%lld",
                 (long long)ev->product.version);
    cs_event_destroy(ev);
}

/* Product pid: version 1 begun and paused (queued, due already), then
 * claimed by A.  Returns A's job (holding the lease) or NULL. */
static cs_sync_job *a_holds_v1(cs_redis *r, cs_sync *s, const char *scenario, const char *pid)
{
    cs_sync_job *a = job(pid, 1);
    if (!a)
        return NULL;
    if (cs_sync_begin(s, &a, 1) != 0 || a->begin_result != CS_BEGIN_PUSH)
        goto bad;
    a->out.kind = CS_OUT_PAUSED;
    a->out.resume_at = cs_now_ms() - 1;
    if (cs_sync_settle(s, &a, 1) != 0 || strcmp(a->settle_result, "paused") != 0)
        goto bad;
    claimed c = {a->member, "", "", 0};
    if (cs_sync_claim(s, 100, on_claim, &c) < 0 || c.got != 1) {
        fail(scenario, "version 1 claimed once", (long long)c.got);
        goto bad;
    }
    a->from_retry = 1;
    snprintf(a->token, sizeof a->token, "%s", c.token);
    if (score(r, s, "inflight", a->member) < 0) {
        fail(scenario, "version 1 leased", 0);
        goto bad;
    }
    memset(&a->out, 0, sizeof a->out);
    return a;
bad:
    job_done(a);
    return NULL;
}

/* a_holds_v1, then version 2 begun by B.  Returns A's job (holding the
 * lease, its version overtaken) or NULL. */
static cs_sync_job *a_holds_v1_b_begins_v2(cs_redis *r, cs_sync *s, const char *scenario,
                                           const char *pid)
{
    cs_sync_job *a = a_holds_v1(r, s, scenario, pid), *b = job(pid, 2);
    if (!a || !b)
        goto bad;
    long long lease_end = score(r, s, "inflight", a->member);
    if (cs_sync_begin(s, &b, 1) != 0)
        goto bad;
    if (b->begin_result != CS_BEGIN_DEFERRED)
        fail(scenario, "version 2 deferred behind the live lease", b->begin_result);
    long long due = score(r, s, "retry", b->member);
    if (due != lease_end)
        fail(scenario, "version 2 queued for the lease's end", due - lease_end);
    job_done(b);
    return a;
bad:
    if (a)
        job_done(a);
    if (b)
        job_done(b);
    return NULL;
}

/* After A's outcome for its overtaken version 1: version 2 is due now, the
 * lease is gone, and the next claim hands out version 2. */
static void check_v2_due(cs_redis *r, cs_sync *s, const char *scenario, const char *member,
                         int64_t before)
{
    long long due = score(r, s, "retry", member);
    if (due < 0 || due > cs_now_ms())
        fail(scenario, "version 2 due now after the holder's outcome (ms left)",
             due < 0 ? due : due - cs_now_ms());
    else if (due < before - 1000)
        fail(scenario, "version 2 due from the outcome on (ms before it)", before - due);
    long long infl = score(r, s, "inflight", member);
    if (infl != -1)
        fail(scenario, "member out of inflight", infl);
    claimed c = {member, "", "", 0};
    if (cs_sync_claim(s, 100, on_claim, &c) < 0 || c.got != 1 ||
        strcmp(c.snap_version, "2") != 0)
        fail(scenario, "the next claim takes version 2", (long long)c.got);
}

int main(int argc, char **argv)
{
    int port = 0;
    int64_t v;
    if (argc == 3 && !strcmp(argv[1], "--redis-port") && cs_parse_i64(argv[2], 1, 65535, &v) == 0) {
        port = (int)v;
    } else {
        fputs("Usage: cs-test-lease --redis-port P\n", stderr);
        return 64;
    }
    cs_config *cfg = cs_config_new();
    if (!cfg)
        return 1;
    free(cfg->redis_host);
    free(cfg->redis_prefix);
    cfg->redis_host = strdup("127.0.0.1");
    cfg->redis_prefix = strdup("cs-test-lease:");
    cfg->redis_port = port;
    cfg->retry_lease_ms = 120000;
    cs_redis *r = cfg->redis_host && cfg->redis_prefix ? cs_redis_new(cfg) : NULL;
    cs_sync *s = r ? cs_sync_new(r, cfg, "woocommerce") : NULL;
    if (!s || cs_redis_ready(r) != 0) {
        fprintf(stderr, "cs-test-lease: Redis 127.0.0.1:%d: %s\n", port,
                r ? cs_redis_errstr(r) : "out of memory");
        cs_sync_destroy(s);
        cs_redis_destroy(r);
        cs_config_destroy(cfg);
        return 1;
    }

    /* A hands back its claim of the overtaken version (the batch was
     * dropped, or the worker saw the newer version): release. */
    const char *sc = "release_of_overtaken_claim_makes_the_newer_version_due";
    cs_sync_job *a = a_holds_v1_b_begins_v2(r, s, sc, "p1");
    if (a) {
        int64_t before = cs_now_ms();
        a->out.kind = CS_OUT_RELEASE;
        a->out.resume_at = before;
        if (cs_sync_settle(s, &a, 1) != 0 || strcmp(a->settle_result, "released") != 0)
            fail(sc, "release answered released", 0);
        check_v2_due(r, s, sc, a->member, before);
        job_done(a);
    } else {
        fail(sc, "set-up", 0);
    }
    if (failures == 0)
        printf("ok %s\n", sc);

    /* A's push of version 1 ends (here: retry): version 2 due at once too. */
    int before_fail = failures;
    sc = "outcome_of_overtaken_claim_makes_the_newer_version_due";
    a = a_holds_v1_b_begins_v2(r, s, sc, "p2");
    if (a) {
        int64_t before = cs_now_ms();
        a->out.kind = CS_OUT_RETRY;
        if (cs_sync_settle(s, &a, 1) != 0 || strcmp(a->settle_result, "superseded") != 0)
            fail(sc, "the overtaken outcome answered superseded", 0);
        check_v2_due(r, s, sc, a->member, before);
        job_done(a);
    } else {
        fail(sc, "set-up", 0);
    }
    if (failures == before_fail)
        printf("ok %s\n", sc);

    /* A release with a lease already lost changes nothing. */
    before_fail = failures;
    sc = "release_with_a_lost_lease_changes_nothing";
    a = a_holds_v1_b_begins_v2(r, s, sc, "p3");
    if (a) {
        long long due = score(r, s, "retry", a->member);
        snprintf(a->token, sizeof a->token, "not-the-token");
        a->out.kind = CS_OUT_RELEASE;
        a->out.resume_at = cs_now_ms();
        if (cs_sync_settle(s, &a, 1) != 0 || strcmp(a->settle_result, "fenced") != 0)
            fail(sc, "a stale token answered fenced", 0);
        if (score(r, s, "retry", a->member) != due)
            fail(sc, "version 2 still queued behind the live lease", 0);
        if (score(r, s, "inflight", a->member) < 0)
            fail(sc, "the live lease kept", 0);
        job_done(a);
    } else {
        fail(sc, "set-up", 0);
    }
    if (failures == before_fail)
        printf("ok %s\n", sc);

    /* A's push of version 1 lands after its lease was taken over and
     * version 2 recorded (A stalled past retry.lease_ms, or its batch was
     * confirmed on a later turn): "overtaken", Redis unchanged, so that the
     * worker queues version 2 again (worker.c requeue_overtaken). */
    before_fail = failures;
    sc = "late_outcome_with_a_lost_lease_of_an_older_version_answers_overtaken";
    a = a_holds_v1_b_begins_v2(r, s, sc, "p4");
    if (a) {
        long long due = score(r, s, "retry", a->member);
        long long lease = score(r, s, "inflight", a->member);
        snprintf(a->token, sizeof a->token, "not-the-token");
        a->out.kind = CS_OUT_SYNCED;
        snprintf(a->out.remote_id, sizeof a->out.remote_id, "SKU-p4");
        if (cs_sync_settle(s, &a, 1) != 0 || strcmp(a->settle_result, "overtaken") != 0)
            fail(sc, "the late outcome answered overtaken", 0);
        if (score(r, s, "retry", a->member) != due)
            fail(sc, "version 2 still queued as it was", 0);
        if (score(r, s, "inflight", a->member) != lease)
            fail(sc, "the live lease kept", 0);
        job_done(a);
    } else {
        fail(sc, "set-up", 0);
    }
    if (failures == before_fail)
        printf("ok %s\n", sc);

    /* The same with no newer version: the lease's new holder pushes this
     * very version, nothing to queue again: "fenced". */
    before_fail = failures;
    sc = "late_outcome_with_a_lost_lease_of_the_stored_version_answers_fenced";
    a = a_holds_v1(r, s, sc, "p5");
    if (a) {
        long long lease = score(r, s, "inflight", a->member);
        snprintf(a->token, sizeof a->token, "not-the-token");
        a->out.kind = CS_OUT_SYNCED;
        snprintf(a->out.remote_id, sizeof a->out.remote_id, "SKU-p5");
        if (cs_sync_settle(s, &a, 1) != 0 || strcmp(a->settle_result, "fenced") != 0)
            fail(sc, "the late outcome answered fenced", 0);
        if (score(r, s, "inflight", a->member) != lease)
            fail(sc, "the live lease kept", 0);
        job_done(a);
    } else {
        fail(sc, "set-up", 0);
    }
    if (failures == before_fail)
        printf("ok %s\n", sc);

    cs_sync_destroy(s);
    cs_redis_destroy(r);
    cs_config_destroy(cfg);
    return failures ? 1 : 0;
}
