/*
 * cs-bench-claim: how fast due retries are claimed (make bench).
 *
 * Fills a sink's retry queue in Redis with N members due now and their
 * snapshots (realistic ~1 KB events, written as the workers write them),
 * then claims them with cs_sync_claim() in calls of --limit (a worker claims
 * up to worker.batch_max per flush) until the queue is empty, and prints
 *
 *   claim: N items in S s = R items/s (script), P items/s (script + parse)
 *
 * "script" is the claim round trip alone; "script + parse" also parses each
 * claimed snapshot as a worker does before pushing it.  Benchmarks only: it
 * writes into the Redis it is given (use a scratch one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cs_config.h"
#include "cs_event.h"
#include "cs_redis.h"
#include "cs_sync.h"
#include "cs_util.h"

typedef struct {
    size_t got;
    int parse;
    size_t bad;
} claim_ctx;

static void on_claim(void *opaque, const char *member __attribute__((unused)),
                     const char *token __attribute__((unused)), const char *snap,
                     size_t snap_len)
{
    claim_ctx *c = opaque;
    c->got++;
    if (c->parse) {
        cs_event *ev = NULL;
        char err[256];
        if (cs_event_parse(snap, snap_len, NULL, &ev, err, sizeof err) != CS_EVENT_OK)
            c->bad++;
        cs_event_destroy(ev);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fill(cs_redis *r, cs_sync *s, long n)
{
    cs_buf retry, snap, text, ser, member;
    char due[24];
    int rc = -1;
    cs_buf_init(&retry, 0);
    cs_buf_init(&snap, 0);
    cs_buf_init(&text, 0);
    cs_buf_init(&ser, 0);
    cs_buf_init(&member, 0);
    cs_sync_key(s, &retry, "retry");
    cs_sync_key(s, &snap, "snap");
    snprintf(due, sizeof due, "%lld", (long long)(cs_now_ms() - 1000));
    long queued = 0;
    for (long i = 0; i < n; i++) {
        cs_event *ev = NULL;
        char err[256];
        cs_buf_reset(&text);
        cs_buf_appendf(&text,
            "{\"schema\":1,\"event_id\":\"00000000-0000-4000-8000-%012ld\","
            "\"type\":\"product.updated\",\"tenant\":\"default\","
            "\"occurred_at\":\"2025-01-01T00:00:00.000Z\",\"product\":{\"id\":\"b%ld\","
            "\"version\":3,\"sku\":\"BENCH-%ld\",\"name\":\"[bench:%ld:3] Stainless steel "
            "travel mug 450 ml\",\"description\":\"Double-walled stainless steel mug that "
            "keeps drinks hot for six hours and cold for twelve. Leak-proof lid with a "
            "one-hand push button, fits most car cup holders, dishwasher safe (lid: top "
            "rack). Powder-coated finish in five colours. Every mug is checked for leaks "
            "before it leaves the workshop; spare seals are available separately. Care: "
            "rinse before first use, do not microwave, avoid bleach.\",\"price\":{\"amount\":"
            "\"24.90\",\"currency\":\"EUR\"},\"sale_price\":{\"amount\":\"19.90\",\"currency\":"
            "\"EUR\"},\"stock_quantity\":42,\"is_active\":true,\"brand\":\"Acme Outdoor\","
            "\"condition\":\"new\",\"link\":\"https://shop.example.com/p/b%ld\",\"images\":["
            "\"https://cdn.example.com/img/b%ld-1.jpg\",\"https://cdn.example.com/img/b%ld-2.jpg\"],"
            "\"categories\":[\"Kitchen\",\"Drinkware\"],\"attributes\":[{\"name\":\"COLOR\","
            "\"value\":\"blue\"},{\"name\":\"SIZE\",\"value\":\"450 ml\"}]}}",
            i, i, i, i, i, i, i);
        if (cs_event_parse(text.data, text.len, NULL, &ev, err, sizeof err) != CS_EVENT_OK) {
            fprintf(stderr, "cs-bench-claim: sample event: %s\n", err);
            goto out;
        }
        cs_buf_reset(&ser);
        cs_event_serialize(ev, &ser);
        cs_buf_reset(&member);
        cs_buf_appendf(&member, "main|default:b%ld", i);
        cs_event_destroy(ev);
        const char *z[] = {"ZADD", retry.data, due, member.data};
        const char *h[] = {"HSET", snap.data, member.data, ser.data};
        size_t hl[] = {4, strlen(snap.data), member.len, ser.len};
        if (cs_redis_pipe_add(r, 4, z, NULL) != 0 || cs_redis_pipe_add(r, 4, h, hl) != 0)
            goto out;
        queued += 2;
        if (queued >= 2000 || i == n - 1) {
            for (; queued > 0; queued--) {
                redisReply *rep = cs_redis_pipe_get(r);
                if (!rep)
                    goto out;
                freeReplyObject(rep);
            }
        }
    }
    rc = 0;
out:
    cs_buf_free(&retry);
    cs_buf_free(&snap);
    cs_buf_free(&text);
    cs_buf_free(&ser);
    cs_buf_free(&member);
    return rc;
}

static int run(cs_redis *r, cs_sync *s, long n, long limit, int parse, double *secs,
               size_t *got, unsigned long long *trips)
{
    claim_ctx c = {0, parse, 0};
    if (fill(r, s, n) != 0)
        return -1;
    unsigned long long t0 = cs_redis_round_trips(r);
    double start = now_s();
    for (;;) {
        long k = cs_sync_claim(s, (size_t)limit, on_claim, &c);
        if (k < 0)
            return -1;
        if (k == 0)
            break;
    }
    *secs = now_s() - start;
    *got = c.got;
    *trips = cs_redis_round_trips(r) - t0;
    if (c.bad)
        fprintf(stderr, "cs-bench-claim: %zu snapshots did not parse\n", c.bad);
    return 0;
}

int main(int argc, char **argv)
{
    int port = 6379;
    long n = 20000, limit = 1000;
    for (int i = 1; i < argc; i++) {
        int64_t v;
        if (!strcmp(argv[i], "--redis-port") && i + 1 < argc &&
            cs_parse_i64(argv[i + 1], 1, 65535, &v) == 0) {
            port = (int)v;
            i++;
        } else if (!strcmp(argv[i], "--count") && i + 1 < argc &&
                   cs_parse_i64(argv[i + 1], 1, 10000000, &v) == 0) {
            n = (long)v;
            i++;
        } else if (!strcmp(argv[i], "--limit") && i + 1 < argc &&
                   cs_parse_i64(argv[i + 1], 1, 100000, &v) == 0) {
            limit = (long)v;
            i++;
        } else {
            fputs("Usage: cs-bench-claim --redis-port P [--count N] [--limit L]\n"
                  "Fills the meta retry queue of a scratch Redis with N due items and times\n"
                  "claiming them L at a time (benchmarks only).\n", argc > 1 && (
                  !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr);
            return argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 64;
        }
    }
    cs_config *cfg = cs_config_new();
    if (!cfg)
        return 1;
    free(cfg->redis_host);
    cfg->redis_host = strdup("127.0.0.1");
    cfg->redis_port = port;
    cs_redis *r = cs_redis_new(cfg);
    cs_sync *s = r ? cs_sync_new(r, cfg, "meta") : NULL;
    if (!s || cs_redis_ready(r) != 0) {
        fprintf(stderr, "cs-bench-claim: Redis 127.0.0.1:%d: %s\n", port,
                r ? cs_redis_errstr(r) : "out of memory");
        return 1;
    }
    double t_script = 0, t_parse = 0;
    size_t got1 = 0, got2 = 0;
    unsigned long long trips1 = 0, trips2 = 0;
    int rc = run(r, s, n, limit, 0, &t_script, &got1, &trips1) != 0 ||
             run(r, s, n, limit, 1, &t_parse, &got2, &trips2) != 0;
    if (rc) {
        fprintf(stderr, "cs-bench-claim: Redis failed: %s\n", cs_redis_errstr(r));
    } else {
        printf("claim: %zu items in %.3f s = %.0f items/s (script, %llu round trips of up to "
               "%ld), %.0f items/s (script + parse)\n", got1, t_script,
               t_script > 0 ? (double)got1 / t_script : 0.0, trips1, limit,
               t_parse > 0 ? (double)got2 / t_parse : 0.0);
        if (got1 != (size_t)n || got2 != (size_t)n)
            printf("claim: MISMATCH claimed %zu and %zu of %ld\n", got1, got2, n);
    }
    cs_sync_destroy(s);
    cs_redis_destroy(r);
    cs_config_destroy(cfg);
    return rc;
}
