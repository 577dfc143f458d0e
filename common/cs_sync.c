#include "cs_sync_priv.h"
#include "cs_vocab.h"
#include "cs_keys.h"
#include "cs_log.h"
#include "cs_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

cs_sync *cs_sync_new(cs_redis *r, const cs_config *cfg, const char *sink)
{
    cs_sync *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->r = r;
    s->cfg = cfg;
    s->sink = strdup(sink);
    cs_buf base;
    cs_buf_init(&base, 0);
    cs_key_base(&base, cfg->redis_prefix, sink);
    s->prefix = base.data ? strdup(base.data) : NULL;
    cs_buf_free(&base);
    if (!s->sink || !s->prefix) {
        cs_sync_destroy(s);
        return NULL;
    }
    unsigned char id[8];
    if (getrandom(id, sizeof id, 0) != (ssize_t)sizeof id) {
        cs_sync_destroy(s);
        return NULL;
    }
    for (size_t i = 0; i < sizeof id; i++)
        snprintf(s->owner + 2 * i, 3, "%02x", id[i]);
    s->s_begin = cs_redis_add_script(r, cs_lua_begin);
    s->s_claim = cs_redis_add_script(r, cs_lua_claim);
    s->s_settle = cs_redis_add_script(r, cs_lua_settle);
    s->s_reset = cs_redis_add_script(r, cs_lua_reset);
    s->s_exclude = cs_redis_add_script(r, cs_lua_exclude);
    s->s_pause = cs_redis_add_script(r, cs_lua_pause);
    s->s_resume = cs_redis_add_script(r, cs_lua_resume);
    if (s->s_begin < 0 || s->s_claim < 0 || s->s_settle < 0 || s->s_reset < 0 ||
        s->s_exclude < 0 || s->s_pause < 0 || s->s_resume < 0) {
        cs_sync_destroy(s);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < cfg->n_retry_schedule && k < sizeof s->delays - 24; i++)
        k += (size_t)snprintf(s->delays + k, sizeof s->delays - k, "%s%lld", i ? "," : "",
                              (long long)cfg->retry_schedule_ms[i]);
    return s;
}

void cs_sync_destroy(cs_sync *s)
{
    if (!s)
        return;
    free(s->prefix);
    free(s->sink);
    free(s);
}

const char *cs_sync_sink(const cs_sync *s)
{
    return s->sink;
}

const char *cs_sync_key_base(const cs_sync *s)
{
    return s->prefix;
}

void cs_sync_key(const cs_sync *s, cs_buf *out, const char *what)
{
    cs_key_sink(out, s->prefix, what);
}

void cs_sync_state_key(const cs_sync *s, cs_buf *out, const char *conn, const char *tenant,
                       const char *product_id)
{
    cs_key_product(out, s->prefix, CS_KEY_STATE, conn, tenant, product_id);
}

int cs_sync_job_init(cs_sync_job *j, size_t conn, const char *conn_id, cs_event *ev)
{
    memset(j, 0, sizeof *j);
    j->conn = conn;
    j->conn_id = conn_id;
    j->ev = ev;
    size_t nc = strlen(conn_id), nt = strlen(ev->tenant), np = strlen(ev->product.id);
    j->member = malloc(nc + nt + np + 3);
    if (!j->member)
        return -1;
    /* "<conn>|<tenant>:<product id>" */
    char *m = j->member;
    memcpy(m, conn_id, nc);
    m[nc] = '|';
    memcpy(m + nc + 1, ev->tenant, nt);
    m[nc + 1 + nt] = ':';
    memcpy(m + nc + 2 + nt, ev->product.id, np + 1);
    j->st.version = -1;
    j->st.synced_version = -1;
    return 0;
}

void cs_sync_job_free(cs_sync_job *j)
{
    if (!j)
        return;
    cs_event_destroy(j->ev);
    if (j->sink_free)
        j->sink_free(j->sink_data);
    j->sink_data = NULL;
    free(j->member);
    j->ev = NULL;
    j->member = NULL;
}

void cs_sync_keys_init(keys *k)
{
    cs_buf_init(&k->state, 4096);
    cs_buf_init(&k->retry, 512);
    cs_buf_init(&k->inflight, 512);
    cs_buf_init(&k->lease, 512);
    cs_buf_init(&k->snap, 512);
    cs_buf_init(&k->index, 512);
    cs_buf_init(&k->stats, 512);
    cs_buf_init(&k->fence, 512);
    cs_buf_init(&k->errors, 512);
    cs_buf_init(&k->counts, 512);
    cs_buf_init(&k->exclude, 512);
    cs_buf_init(&k->waiting, 512);
    cs_buf_init(&k->history, 4096);
    cs_buf_init(&k->tally, 512);
}

void cs_sync_keys_free(keys *k)
{
    cs_buf_free(&k->state);
    cs_buf_free(&k->retry);
    cs_buf_free(&k->inflight);
    cs_buf_free(&k->lease);
    cs_buf_free(&k->snap);
    cs_buf_free(&k->index);
    cs_buf_free(&k->stats);
    cs_buf_free(&k->fence);
    cs_buf_free(&k->errors);
    cs_buf_free(&k->counts);
    cs_buf_free(&k->exclude);
    cs_buf_free(&k->waiting);
    cs_buf_free(&k->history);
    cs_buf_free(&k->tally);
}

void cs_sync_keys_fill(const cs_sync *s, keys *k, const char *conn)
{
    const char *b = s->prefix;
    cs_key_sink(&k->retry, b, CS_KEY_RETRY);
    cs_key_sink(&k->inflight, b, CS_KEY_INFLIGHT);
    cs_key_sink(&k->lease, b, CS_KEY_LEASE);
    cs_key_sink(&k->snap, b, CS_KEY_SNAP);
    cs_key_sink(&k->fence, b, CS_KEY_FENCE);
    if (conn) {
        cs_key_conn(&k->index, b, CS_KEY_INDEX, conn);
        cs_key_conn(&k->stats, b, CS_KEY_STATS, conn);
        cs_key_conn(&k->errors, b, CS_KEY_ERRORS, conn);
        cs_key_conn(&k->counts, b, CS_KEY_COUNTS, conn);
        cs_key_conn(&k->exclude, b, CS_KEY_EXCLUDE, conn);
        cs_key_conn(&k->waiting, b, CS_KEY_WAITING, conn);
        cs_key_tally(&k->tally, b, conn, cs_now_ms() / CS_SYNC_TALLY_MS);
    }
}

int cs_sync_eval_int(cs_sync *s, int script, int argc, const char **argv, long long *out)
{
    if (cs_redis_ready(s->r) != 0)
        return -1;
    argv[1] = cs_redis_script_sha(s->r, script);
    redisReply *r = cs_redis_cmd(s->r, argc, argv, NULL);
    int rc = -1;
    if (r && r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        rc = 0;
    } else if (r) {
        cs_redis_drop(s->r);
    }
    if (r)
        freeReplyObject(r);
    return rc;
}

/* Reads n replies; on a transport error frees what it read and returns -1.
 * Error replies (a script bug) are logged and count as failures too. */
static int read_replies(cs_sync *s, redisReply **reps, size_t n, const char *what)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        reps[i] = cs_redis_pipe_get(s->r);
        if (!reps[i]) {
            for (size_t k = 0; k < i; k++)
                freeReplyObject(reps[k]);
            return -1;
        }
        if (reps[i]->type == REDIS_REPLY_ERROR) {
            CS_ERROR("redis", "%s: %s", what, reps[i]->str);
            rc = -1;
        }
    }
    if (rc != 0) {
        /* NOSCRIPT (SCRIPT FLUSH, failover): reconnecting loads the scripts. */
        cs_redis_drop(s->r);
    }
    if (rc != 0)
        for (size_t i = 0; i < n; i++)
            freeReplyObject(reps[i]);
    return rc;
}

int cs_sync_begin(cs_sync *s, cs_sync_job **jobs, size_t n)
{
    keys k;
    cs_buf snap, pkey;
    char now[24], ver[24], until[24];
    int rc = -1;
    redisReply **reps = calloc(n ? n : 1, sizeof *reps);
    if (!reps)
        return -1;
    cs_sync_keys_init(&k);
    cs_buf_init(&snap, 0);
    cs_buf_init(&pkey, 1024);
    int64_t t = cs_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)t);
    snprintf(until, sizeof until, "%lld", (long long)(t + s->cfg->retry_lease_ms));
    if (cs_redis_ready(s->r) != 0)
        goto out;
    const char *filled = NULL;     /* the connection k's sink-wide keys are for */
    for (size_t i = 0; i < n; i++) {
        cs_sync_job *j = jobs[i];
        const cs_product *p = &j->ev->product;
        if (!filled || strcmp(filled, j->conn_id) != 0)
            cs_sync_keys_fill(s, &k, filled = j->conn_id);
        cs_sync_state_key(s, &k.state, j->conn_id, j->ev->tenant, p->id);
        cs_buf_reset(&snap);
        cs_event_serialize(j->ev, &snap);
        cs_buf_reset(&pkey);
        cs_buf_appendv(&pkey, j->ev->tenant, ":", p->id, NULL);
        cs_i64_str(ver, (long long)p->version);
        const char *argv[] = {"EVALSHA", cs_redis_script_sha(s->r, s->s_begin), "9",
                              k.state.data, k.retry.data, k.snap.data, k.index.data,
                              k.inflight.data, k.lease.data, k.counts.data, k.exclude.data,
                              k.waiting.data, j->member, ver,
                              snap.data, now,
                              p->sku ? p->sku : "", p->name ? p->name : "", pkey.data,
                              s->owner, until};
        size_t lens[sizeof argv / sizeof argv[0]];
        for (size_t a = 0; a < sizeof argv / sizeof argv[0]; a++)
            lens[a] = a == 14 ? snap.len : strlen(argv[a]);
        if (cs_redis_pipe_add(s->r, (int)(sizeof argv / sizeof argv[0]), argv, lens) != 0)
            goto out;
    }
    if (read_replies(s, reps, n, "begin") != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = reps[i];
        cs_sync_job *j = jobs[i];
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
            const char *res = r->element[0]->str;
            j->begin_result = cs_begin_parse(res);
            copy_str(j->st.status, sizeof j->st.status, r->element[1]);
            copy_str(j->st.handle, sizeof j->st.handle, r->element[2]);
        }
        freeReplyObject(r);
    }
    rc = 0;
out:
    free(reps);
    cs_sync_keys_free(&k);
    cs_buf_free(&snap);
    cs_buf_free(&pkey);
    return rc;
}

int cs_sync_read(cs_sync *s, cs_sync_job **jobs, size_t n)
{
    keys k;
    int rc = -1;
    size_t n_retry = 0;
    for (size_t i = 0; i < n; i++)
        n_retry += jobs[i]->from_retry != 0;
    redisReply **reps = calloc(n + n_retry + 1, sizeof *reps);
    if (!reps)
        return -1;
    cs_sync_keys_init(&k);
    if (cs_redis_ready(s->r) != 0)
        goto out;
    cs_sync_keys_fill(s, &k, NULL);
    for (size_t i = 0; i < n; i++) {
        cs_sync_state_key(s, &k.state, jobs[i]->conn_id, jobs[i]->ev->tenant,
                          jobs[i]->ev->product.id);
        const char *argv[] = {"HMGET", k.state.data, "version", "synced_version", "attempts",
                              "status", "remote_id", "handle", "pushed", "owner_until"};
        if (cs_redis_pipe_add(s->r, 10, argv, NULL) != 0)
            goto out;
    }
    /* A claimed retry's lease end stands for its owner's time. */
    for (size_t i = 0; i < n; i++) {
        if (!jobs[i]->from_retry)
            continue;
        const char *argv[] = {"ZSCORE", k.inflight.data, jobs[i]->member};
        if (cs_redis_pipe_add(s->r, 3, argv, NULL) != 0)
            goto out;
    }
    if (read_replies(s, reps, n + n_retry, "read state") != 0)
        goto out;
    for (size_t i = 0, r_i = n; i < n; i++) {
        redisReply *r = reps[i];
        cs_sync_state *st = &jobs[i]->st;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 8) {
            st->present = r->element[0]->type == REDIS_REPLY_STRING;
            st->version = reply_i64(r->element[0], -1);
            st->synced_version = reply_i64(r->element[1], -1);
            st->attempts = (int)reply_i64(r->element[2], 0);
            copy_str(st->status, sizeof st->status, r->element[3]);
            copy_str(st->remote_id, sizeof st->remote_id, r->element[4]);
            copy_str(st->handle, sizeof st->handle, r->element[5]);
            st->pushed = reply_i64(r->element[6], 0) == 1;
            st->owner_until = reply_i64(r->element[7], 0);
        }
        if (jobs[i]->from_retry) {
            st->owner_until = reply_i64(reps[r_i], 0);
            freeReplyObject(reps[r_i++]);
        }
        freeReplyObject(r);
    }
    rc = 0;
out:
    free(reps);
    cs_sync_keys_free(&k);
    return rc;
}

long cs_sync_claim(cs_sync *s, size_t limit, cs_sync_claim_cb *add, void *opaque)
{
    return cs_sync_claim_except(s, limit, NULL, 0, add, opaque);
}

long cs_sync_claim_except(cs_sync *s, size_t limit, const char *const *skip, size_t n_skip,
                          cs_sync_claim_cb *add, void *opaque)
{
    keys k;
    char now[24], lease[24], lim[24];
    long got = -1;
    const char **argv = malloc((11 + n_skip) * sizeof *argv);
    if (!argv)
        return -1;
    cs_sync_keys_init(&k);
    cs_sync_keys_fill(s, &k, NULL);
    snprintf(now, sizeof now, "%lld", (long long)cs_now_ms());
    snprintf(lease, sizeof lease, "%d", s->cfg->retry_lease_ms);
    snprintf(lim, sizeof lim, "%zu", limit);
    const char *head[] = {"EVALSHA", NULL, "5", k.retry.data, k.inflight.data, k.lease.data,
                          k.snap.data, k.fence.data, now, lease, lim};
    memcpy(argv, head, sizeof head);
    for (size_t i = 0; i < n_skip; i++)
        argv[11 + i] = skip[i];
    if (cs_redis_ready(s->r) == 0) {
        argv[1] = cs_redis_script_sha(s->r, s->s_claim);
        redisReply *r = cs_redis_cmd(s->r, (int)(11 + n_skip), argv, NULL);
        if (r && r->type == REDIS_REPLY_ARRAY) {
            got = 0;
            for (size_t i = 0; i + 2 < r->elements; i += 3, got++)
                add(opaque, r->element[i]->str, r->element[i + 1]->str, r->element[i + 2]->str,
                    r->element[i + 2]->len);
        } else if (r) {
            CS_ERROR("redis", "claim: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
            cs_redis_drop(s->r);
        }
        if (r)
            freeReplyObject(r);
    }
    cs_sync_keys_free(&k);
    free(argv);
    return got;
}

static const char *kind_arg(cs_outcome_kind k)
{
    return (unsigned)k <= CS_OUT_RELEASE ? cs_outcomes[k].wire : "none";
}

const char *cs_outcome_name(cs_outcome_kind k)
{
    return kind_arg(k);
}

/* Channels quote what they received (a 401 page may echo the key): every
 * text of an outcome passes cs_log_redact before it is written to Redis. */
static void cs_sync_redact_outcome(cs_outcome *o)
{
    cs_log_redact(o->remote_id, sizeof o->remote_id);
    cs_log_redact(o->handle, sizeof o->handle);
    cs_log_redact(o->err_code, sizeof o->err_code);
    cs_log_redact(o->err_subcode, sizeof o->err_subcode);
    cs_log_redact(o->err_type, sizeof o->err_type);
    cs_log_redact(o->err_message, sizeof o->err_message);
    cs_log_redact(o->err_trace, sizeof o->err_trace);
    cs_log_redact(o->warnings, sizeof o->warnings);
}

int cs_sync_settle(cs_sync *s, cs_sync_job **jobs, size_t n)
{
    keys k;
    cs_buf pkey;
    char now[24], ver[24], resume[24], maxa[16], jit[16], rnd[24];
    int rc = -1;
    size_t queued = 0;
    redisReply **reps = calloc(n ? n : 1, sizeof *reps);
    size_t *idx = calloc(n ? n : 1, sizeof *idx);
    if (!reps || !idx) {
        free(reps);
        free(idx);
        return -1;
    }
    cs_sync_keys_init(&k);
    cs_buf_init(&pkey, 1024);
    snprintf(now, sizeof now, "%lld", (long long)cs_now_ms());
    snprintf(maxa, sizeof maxa, "%d", s->cfg->retry_max_attempts);
    snprintf(jit, sizeof jit, "%d", s->cfg->retry_jitter_pct);
    if (cs_redis_ready(s->r) != 0)
        goto out;
    const char *filled = NULL;     /* the connection k's sink-wide keys are for */
    /* Retry jitter: one seed from the kernel per settle, a splitmix64
     * sequence from it per job (a system call per job cost more than the
     * rest of its settle). */
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)cs_now_ms() * 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < n; i++) {
        cs_sync_job *j = jobs[i];
        cs_outcome *o = &j->out;
        if (o->kind == CS_OUT_NONE || j->ignore)
            continue;
        uint64_t z = (seed += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        unsigned rv = (unsigned)((z ^ (z >> 31)) % 1000u);
        if (!filled || strcmp(filled, j->conn_id) != 0)
            cs_sync_keys_fill(s, &k, filled = j->conn_id);
        cs_sync_state_key(s, &k.state, j->conn_id, j->ev->tenant, j->ev->product.id);
        cs_key_product(&k.history, s->prefix, CS_KEY_HISTORY, j->conn_id, j->ev->tenant,
                       j->ev->product.id);
        cs_buf_reset(&pkey);
        cs_buf_appendv(&pkey, j->ev->tenant, ":", j->ev->product.id, NULL);
        cs_i64_str(ver, (long long)j->ev->product.version);
        cs_i64_str(resume, (long long)o->resume_at);
        cs_i64_str(rnd, (long long)rv);
        cs_sync_redact_outcome(o);
        const char *argv[] = {"EVALSHA", cs_redis_script_sha(s->r, s->s_settle), "12",
                              k.state.data, k.retry.data, k.inflight.data, k.lease.data,
                              k.snap.data, k.index.data, k.stats.data, k.errors.data,
                              k.counts.data, k.history.data, k.tally.data, k.waiting.data,
                              j->member, ver, j->from_retry ? j->token : "", kind_arg(o->kind),
                              now, o->remote_id, o->err_code, o->err_subcode, o->err_type,
                              o->err_message, o->err_trace, resume, maxa, s->delays, jit, rnd,
                              pkey.data, o->handle, o->warnings};
        if (cs_redis_pipe_add(s->r, (int)(sizeof argv / sizeof argv[0]), argv, NULL) != 0)
            goto out;
        idx[queued++] = i;
    }
    if (read_replies(s, reps, queued, "settle") != 0)
        goto out;
    for (size_t q = 0; q < queued; q++) {
        redisReply *r = reps[q];
        cs_sync_job *j = jobs[idx[q]];
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
            copy_str(j->settle_result, sizeof j->settle_result, r->element[0]);
            j->settle_res = cs_settle_parse(j->settle_result);
            j->settle_attempts = (int)reply_i64(r->element[1], 0);
            j->settle_next = reply_i64(r->element[2], 0);
        }
        freeReplyObject(r);
    }
    rc = 0;
out:
    free(reps);
    free(idx);
    cs_sync_keys_free(&k);
    cs_buf_free(&pkey);
    return rc;
}

int64_t cs_sync_delay_ms(const cs_config *cfg, int attempts)
{
    if (attempts < 1)
        return 0;
    size_t i = (size_t)attempts <= cfg->n_retry_schedule ? (size_t)attempts - 1
                                                         : cfg->n_retry_schedule - 1;
    return cfg->retry_schedule_ms[i];
}
