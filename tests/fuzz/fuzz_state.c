/*
 * fuzz_state: libFuzzer harness for the state scripts' argument handling
 * (common/lua/, through common/cs_sync*.c: begin, claim, settle, pauses) against a real
 * redis-server.
 *
 * The harness starts its own redis-server on a free loopback port (or uses
 * the one in $CS_FUZZ_REDIS_PORT) and empties it before each input.  An input
 * is a list of operations, each chosen by one byte:
 *   begin   a fresh event of one of a few products, tenants and ids (some
 *           taken from the input), with a version near 0, near the contract's
 *           cap (CS_EVENT_MAX_VERSION) or any in between;
 *   settle  an outcome for the product's last job: any kind, any resume_at
 *           (negative, zero, far beyond 2^53), remote id, handle and error
 *           text taken from the input (quotes, control bytes, UTF-8);
 *   claim   due retries, each settled again with a random outcome;
 *   pause   a connection pause with any until / kind / reason, read back.
 * Checked after every step, else abort():
 *   - no call fails (a script error on some argument is a finding);
 *   - a begin of a version above every earlier one of the product is a push
 *     (or queued behind a live lease) and the stored version is exactly that
 *     version (no double rounding);
 *     an older one is not a push, nor an equal one unless the stored
 *     status is still pending or not_synced (a redelivery);
 *   - the synced version never exceeds the stored version, and never goes
 *     down while the product is known;
 *   - a pause read back names the kind that was set, or an operator's
 *     pause still in force (a channel's pause never replaces it).
 */
#include <signal.h>
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

#include <hiredis/hiredis.h>

#include "cs_config.h"
#include "cs_event.h"
#include "cs_redis.h"
#include "cs_sync.h"
#include "cs_util.h"

#define N_PRODUCTS 4
#define CONN "main"

static cs_config *cfg;
static cs_redis *redis;
static cs_sync *sync_;
static pid_t redis_pid;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_state: %s\n", what);
        abort();
    }
}

/* ---- the redis-server ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static void stop_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
}

static void start_redis(int port)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    redis_pid = fork();
    check(redis_pid >= 0, "fork failed");
    if (redis_pid == 0) {
        /* Dies with the fuzzer, also when a finding ends it by a signal. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--daemonize", "no",
               "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    atexit(stop_redis);
}

int LLVMFuzzerInitialize(int *argc __attribute__((unused)), char ***argv __attribute__((unused)))
{
    char err[512], port[16];
    const char *given = getenv("CS_FUZZ_REDIS_PORT");
    int p = given ? (int)strtol(given, NULL, 10) : free_port();
    check(p > 0, "no free port for redis-server");
    if (!given)
        start_redis(p);
    snprintf(port, sizeof port, "%d", p);
    setenv("CATALOGSYNC_REDIS_PORT", port, 1);
    setenv("CATALOGSYNC_REDIS_HOST", "127.0.0.1", 1);
    check((cfg = cs_config_load(NULL, err, sizeof err)) != NULL, err);
    check((redis = cs_redis_new(cfg)) != NULL, "cs_redis_new");
    check((sync_ = cs_sync_new(redis, cfg, "meta")) != NULL, "cs_sync_new");
    for (int i = 0; i < 500 && !cs_redis_ready(redis); i++)
        usleep(10000);
    check(cs_redis_ready(redis), "redis-server did not answer");
    return 0;
}

/* ---- input ---- */

typedef struct {
    const uint8_t *p;
    size_t n;
} in;

static unsigned byte(in *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static uint64_t u64(in *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | byte(r);
    return v;
}

/* Up to max bytes of the input as a C string (NUL bytes end it early). */
static void text(in *r, char *out, size_t size)
{
    size_t len = byte(r) % size;
    size_t i = 0;
    while (i < len && r->n) {
        unsigned c = byte(r);
        if (!c)
            break;
        out[i++] = (char)c;
    }
    out[i] = '\0';
}

static int64_t version(in *r)
{
    switch (byte(r) % 4) {
    case 0: return byte(r) % 8;
    case 1: return CS_EVENT_MAX_VERSION - (int64_t)(byte(r) % 8);
    case 2: return (int64_t)(u64(r) % ((uint64_t)CS_EVENT_MAX_VERSION + 1));
    default: return (int64_t)(1000 + byte(r) % 8);
    }
}

static int64_t any_time(in *r)
{
    switch (byte(r) % 4) {
    case 0: return cs_now_ms() + (int64_t)(byte(r) % 16) - 8;
    case 1: return 0;
    case 2: return (int64_t)u64(r);
    default: return -(int64_t)(byte(r) + 1);
    }
}

/* ---- the model ---- */

typedef struct {
    int known;                  /* every change since the last reset is known */
    int64_t max_version;        /* newest version begun, -1 none */
    int64_t synced;             /* newest synced version seen, -1 none */
    cs_sync_job job;            /* the last begun job (ev NULL when none) */
} product;

static product prods[N_PRODUCTS];

static const char *tenant_of(unsigned i)
{
    /* One tenant per slot: two slots never name the same product. */
    static const char *const t[N_PRODUCTS] = {"default", "acme", "t\xc3\xbcr", "z"};
    return t[i % N_PRODUCTS];
}

static cs_event *make_event(in *r, unsigned slot, int64_t v)
{
    char id[48], buf[1024], err[256];
    if (byte(r) % 8 == 0) {
        text(r, id, 24);
        if (!*id)
            snprintf(id, sizeof id, "x");
    } else {
        snprintf(id, sizeof id, "p%u", slot);
    }
    cs_event *ev = NULL;
    /* The id is written as a JSON string with only the characters JSON
     * needs escaped; anything the contract refuses is just not begun. */
    char esc[160];
    size_t k = 0;
    for (const char *c = id; *c && k + 7 < sizeof esc; c++) {
        unsigned char u = (unsigned char)*c;
        if (u == '"' || u == '\\' || u < 0x20)
            k += (size_t)snprintf(esc + k, sizeof esc - k, "\\u%04x", u);
        else
            esc[k++] = (char)u;
    }
    esc[k] = '\0';
    int n = snprintf(buf, sizeof buf,
        "{\"schema\":1,\"event_id\":\"00000000-0000-4000-8000-000000000001\","
        "\"type\":\"product.updated\",\"tenant\":\"%s\",\"occurred_at\":\"2026-11-21T10:00:00Z\","
        "\"product\":{\"id\":\"%s\",\"version\":%lld,\"sku\":\"S\",\"name\":\"N\","
        "\"price\":{\"amount\":\"1.00\",\"currency\":\"USD\"},\"is_active\":true}}",
        tenant_of(slot), esc, (long long)v);
    if (n <= 0 || (size_t)n >= sizeof buf ||
        cs_event_parse(buf, (size_t)n, NULL, &ev, err, sizeof err) != CS_EVENT_OK)
        return NULL;
    return ev;
}

static void check_state(product *pr)
{
    if (!pr->job.ev)
        return;
    cs_sync_job *j = &pr->job;
    check(cs_sync_read(sync_, &j, 1) == 0, "cs_sync_read failed");
    if (!j->st.present)
        return;
    check(j->st.synced_version <= j->st.version, "synced version above the stored version");
    if (pr->known) {
        check(j->st.version == pr->max_version, "stored version is not the newest begun");
        check(j->st.synced_version >= pr->synced, "synced version went down");
        pr->synced = j->st.synced_version;
    }
}

static void op_begin(in *r)
{
    unsigned slot = byte(r) % N_PRODUCTS;
    product *pr = &prods[slot];
    int64_t v = version(r);
    cs_event *ev = make_event(r, slot, v);
    if (!ev)
        return;
    int same = pr->job.ev && strcmp(pr->job.ev->product.id, ev->product.id) == 0;
    cs_sync_job_free(&pr->job);
    check(cs_sync_job_init(&pr->job, 0, CONN, ev) == 0, "cs_sync_job_init");
    if (!same) {             /* another product in this slot: start over */
        pr->known = 0;
    }
    cs_sync_job *j = &pr->job;
    check(cs_sync_begin(sync_, &j, 1) == 0, "cs_sync_begin failed");
    if (pr->known) {
        if (v > pr->max_version) {
            /* Pushed, or recorded and queued behind a live lease (a claimed
             * retry whose holder recorded a handle still holds it). */
            check(j->begin_result == CS_BEGIN_PUSH || j->begin_result == CS_BEGIN_DEFERRED ||
                  j->begin_result == CS_BEGIN_EXCLUDED, "a newer version was neither pushed nor queued");
            pr->max_version = v;
        } else if (v < pr->max_version || (strcmp(j->st.status, "pending") != 0 &&
                                           strcmp(j->st.status, "not_synced") != 0)) {
            /* An equal version still pending or not synced is a redelivery
             * (the worker that began it may have died): that one is pushed. */
            check(j->begin_result != CS_BEGIN_PUSH, "an older or equal version was pushed");
        }
    } else if (j->begin_result == CS_BEGIN_PUSH && j->st.version < v) {
        /* The first sight of a product whose state was unknown. */
        pr->known = 1;
        pr->max_version = v;
        pr->synced = -1;
    }
    check_state(pr);
}

static void fill_outcome(in *r, cs_outcome *o)
{
    memset(o, 0, sizeof *o);
    o->kind = (cs_outcome_kind)(1 + byte(r) % CS_OUT_RELEASE);
    o->resume_at = any_time(r);
    text(r, o->remote_id, sizeof o->remote_id);
    text(r, o->handle, sizeof o->handle);
    text(r, o->err_code, sizeof o->err_code);
    text(r, o->err_message, sizeof o->err_message);
    text(r, o->err_trace, sizeof o->err_trace);
}

static void after_settle(product *pr, const cs_sync_job *j)
{
    if (j->out.kind == CS_OUT_DELETED)
        pr->known = 0;              /* state cleaned up: versions start over */
}

static void op_settle(in *r)
{
    product *pr = &prods[byte(r) % N_PRODUCTS];
    /* As a worker does: only a job its begin let through is settled. */
    if (!pr->job.ev || pr->job.begin_result != CS_BEGIN_PUSH)
        return;
    cs_sync_job *j = &pr->job;
    fill_outcome(r, &j->out);
    check(cs_sync_settle(sync_, &j, 1) == 0, "cs_sync_settle failed");
    after_settle(pr, j);
    check_state(pr);
}

typedef struct {
    in *r;
    int bad;
} claim_ctx;

static void on_claim(void *opaque, const char *member, const char *token, const char *snap,
                     size_t snap_len)
{
    claim_ctx *c = opaque;
    cs_event *ev = NULL;
    char err[256];
    cs_sync_job job;
    if (strncmp(member, CONN "|", sizeof CONN) != 0 ||
        cs_event_parse(snap, snap_len, NULL, &ev, err, sizeof err) != CS_EVENT_OK) {
        c->bad = 1;
        return;
    }
    if (cs_sync_job_init(&job, 0, CONN, ev) != 0) {
        cs_event_destroy(ev);
        c->bad = 1;
        return;
    }
    job.from_retry = 1;
    snprintf(job.token, sizeof job.token, "%s", token);
    fill_outcome(c->r, &job.out);
    cs_sync_job *jp = &job;
    if (cs_sync_settle(sync_, &jp, 1) != 0)
        c->bad = 2;
    for (size_t i = 0; i < N_PRODUCTS; i++)
        if (prods[i].job.ev && strcmp(prods[i].job.member, job.member) == 0)
            after_settle(&prods[i], &job);
    cs_sync_job_free(&job);
}

static void op_claim(in *r)
{
    claim_ctx c = {r, 0};
    long n = cs_sync_claim(sync_, 1 + byte(r) % 8, on_claim, &c);
    check(n >= 0, "cs_sync_claim failed");
    check(c.bad != 1, "a claimed retry is not a member of the connection with a snapshot");
    check(c.bad != 2, "settling a claimed retry failed");
    for (size_t i = 0; i < N_PRODUCTS; i++)
        check_state(&prods[i]);
}

static void op_pause(in *r)
{
    static const char *const kinds[] = {"throttle", "auth", "operator", "catalog"};
    char reason[300], kind[32], got_reason[512];
    const char *k = kinds[byte(r) % 4];
    int64_t until = any_time(r), got_until = 0;
    text(r, reason, sizeof reason);
    check(cs_sync_pause_set(sync_, CONN, until, k, reason) == 0, "cs_sync_pause_set failed");
    int rc = cs_sync_pause_get(sync_, CONN, &got_until, kind, sizeof kind, got_reason,
                               sizeof got_reason);
    check(rc >= 0, "cs_sync_pause_get failed");
    /* A channel's pause never replaces an operator's. */
    check(rc == 0 || strcmp(kind, k) == 0 || strcmp(kind, "operator") == 0,
          "a pause reads back with another kind");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    in r = {data, size};
    redisReply *rep = cs_redis_cmdf(redis, "FLUSHDB");
    check(rep != NULL, "FLUSHDB failed");
    freeReplyObject(rep);
    for (size_t i = 0; i < N_PRODUCTS; i++) {
        cs_sync_job_free(&prods[i].job);
        memset(&prods[i], 0, sizeof prods[i]);
    }
    for (int steps = 0; r.n && steps < 64; steps++) {
        switch (byte(&r) % 5) {
        case 0:
        case 1: op_begin(&r); break;
        case 2: op_settle(&r); break;
        case 3: op_claim(&r); break;
        default: op_pause(&r); break;
        }
    }
    for (size_t i = 0; i < N_PRODUCTS; i++)
        cs_sync_job_free(&prods[i].job);
    return 0;
}
