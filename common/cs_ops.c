/*
 * cs_ops: the operator's view of Redis (see cs_ops.h, docs/REDIS.md): reads.
 * Changes (reset, pause, exclude, ...) are in cs_ops_change.c.
 */
#include "cs_ops.h"
#include "cs_ops_priv.h"
#include "cs_keys.h"
#include "cs_log.h"
#include "cs_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_COUNT "1000"
#define SCAN_CHUNK 1000     /* states read per pipeline */


static const char *const SINKS[2] = {"meta", "woocommerce"};

cs_sync *cs_ops_sync_of(cs_ops *o, const char *sink)
{
    return o->sync[strcmp(sink, "meta") == 0 ? 0 : 1];
}

cs_ops *cs_ops_new(const cs_config *cfg)
{
    cs_ops *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->cfg = cfg;
    o->conns = calloc(cfg->n_meta_catalogs + cfg->n_woo_stores + 1, sizeof *o->conns);
    if (!o->conns || !(o->r = cs_redis_new(cfg)) ||
        !(o->sync[0] = cs_sync_new(o->r, cfg, SINKS[0])) ||
        !(o->sync[1] = cs_sync_new(o->r, cfg, SINKS[1]))) {
        cs_ops_destroy(o);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_meta_catalogs; i++)
        o->conns[o->n_conns++] = (cs_ops_conn){SINKS[0], cfg->meta_catalogs[i].id};
    for (size_t i = 0; i < cfg->n_woo_stores; i++)
        o->conns[o->n_conns++] = (cs_ops_conn){SINKS[1], cfg->woo_stores[i].id_str};
    return o;
}

void cs_ops_destroy(cs_ops *o)
{
    if (!o)
        return;
    cs_sync_destroy(o->sync[0]);
    cs_sync_destroy(o->sync[1]);
    cs_redis_destroy(o->r);
    free(o->conns);
    free(o);
}

int cs_ops_ready(cs_ops *o)
{
    return cs_redis_ready(o->r);
}

int cs_ops_ping(cs_ops *o)
{
    if (cs_redis_ready(o->r) != 0)
        return -1;
    const char *argv[] = {"PING"};
    redisReply *r = cs_redis_cmd(o->r, 1, argv, NULL);
    int ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING);
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

const char *cs_ops_errstr(cs_ops *o)
{
    return cs_redis_errstr(o->r);
}

cs_redis *cs_ops_redis(cs_ops *o)
{
    return o->r;
}

size_t cs_ops_n_conns(const cs_ops *o)
{
    return o->n_conns;
}

const cs_ops_conn *cs_ops_conn_at(const cs_ops *o, size_t i)
{
    return i < o->n_conns ? &o->conns[i] : NULL;
}

int cs_ops_conn_match(const cs_ops *o, size_t i, const char *sink, const char *conn)
{
    const cs_ops_conn *c = &o->conns[i];
    return (!sink || !sink[0] || !strcmp(sink, c->sink)) && (!conn || !conn[0] || !strcmp(conn, c->id));
}

int cs_ops_status_index(const char *status)
{
    int i = cs_status_parse(status);
    return i < 0 ? CS_STATUS_PENDING : i;
}

int cs_ops_status_mask(const char *list, int *mask, char *bad, size_t bad_size)
{
    char buf[256];
    *mask = 0;
    if (!list || !list[0])
        return 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const char *name = strcmp(t, "retry") == 0 ? "retry_pending" : t;
        int found = 0;
        int i = cs_status_parse(name);
        if (i >= 0) {
            *mask |= 1 << i;
            found = 1;
        }
        if (!found) {
            snprintf(bad, bad_size, "%s", t);
            return -1;
        }
    }
    return 0;
}

void cs_ops_product_key(const char *arg, char *out, size_t size)
{
    if (strchr(arg, ':'))
        snprintf(out, size, "%s", arg);
    else
        snprintf(out, size, "default:%s", arg);
}

/* ---- small helpers ---- */

const char *cs_ops_key_base(cs_ops *o, const char *sink)
{
    return cs_sync_key_base(cs_ops_sync_of(o, sink));
}

static int64_t i64_of(const redisReply *r)
{
    int64_t v;
    char tmp[32];
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len >= sizeof tmp)
        return 0;
    memcpy(tmp, r->str, r->len);
    tmp[r->len] = '\0';
    return cs_parse_i64(tmp, INT64_MIN, INT64_MAX, &v) == 0 ? v : 0;
}

static void str_of(char *dst, size_t n, const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_STRING)
        cs_utf8_copy_trunc(dst, n, r->str, r->len);
    else
        dst[0] = '\0';
}

redisReply *cs_ops_cmd(cs_ops *o, int argc, const char **argv)
{
    redisReply *r = cs_redis_cmd(o->r, argc, argv, NULL);
    if (r && r->type == REDIS_REPLY_ERROR) {
        CS_ERROR("redis", "%s: %s", argv[0], r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Reads n pipelined replies into reps; -1 (all freed) on a transport error. */
static int read_all(cs_ops *o, redisReply **reps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!(reps[i] = cs_redis_pipe_get(o->r))) {
            for (size_t k = 0; k < i; k++)
                freeReplyObject(reps[k]);
            return -1;
        }
    }
    return 0;
}

static void free_all(redisReply **reps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (reps[i])
            freeReplyObject(reps[i]);
}

/* A hash reply as a JSON object of strings. */
static json_t *hash_json(const redisReply *r)
{
    json_t *obj = json_object();
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        json_t *s = json_stringn_nocheck(v->str, v->len);
        char name[256];
        cs_utf8_copy_trunc(name, sizeof name, k->str, k->len);
        if (s)
            json_object_set_new(obj, name, s);
    }
    return obj;
}

/* ---- scan ---- */

static const char *const ROW_FIELDS[] = {
    "status", "attempts", "version", "synced_version", "next_attempt", "last_attempt",
    "last_success", "last_error_at", "sku", "name", "last_error_code", "last_error_message",
    "skip_reason",
};
#define N_ROW_FIELDS (sizeof ROW_FIELDS / sizeof ROW_FIELDS[0])

static void row_from(cs_ops_row *row, const redisReply *r)
{
    const redisReply *const *e = (const redisReply *const *)r->element;
    str_of(row->status, sizeof row->status, e[0]);
    row->attempts = (int)i64_of(e[1]);
    row->version = e[2]->type == REDIS_REPLY_STRING ? i64_of(e[2]) : -1;
    row->synced_version = e[3]->type == REDIS_REPLY_STRING ? i64_of(e[3]) : -1;
    row->next_attempt = i64_of(e[4]);
    row->last_attempt = i64_of(e[5]);
    row->last_success = i64_of(e[6]);
    row->last_error_at = i64_of(e[7]);
    str_of(row->sku, sizeof row->sku, e[8]);
    str_of(row->name, sizeof row->name, e[9]);
    str_of(row->error_code, sizeof row->error_code, e[10]);
    str_of(row->error_message, sizeof row->error_message, e[11]);
    str_of(row->skip_reason, sizeof row->skip_reason, e[12]);
}

/* Rows for members (product keys) of one connection, one pipeline. */
static long rows_for(cs_ops *o, const cs_ops_conn *c, redisReply *const *members, size_t n,
                     cs_ops_row_cb *cb, void *opaque, int *stop)
{
    cs_buf k;
    long rows = 0;
    const char *argv[2 + N_ROW_FIELDS];
    redisReply **reps = calloc(n ? n : 1, sizeof *reps);
    cs_ops_row *row = calloc(1, sizeof *row);
    if (!reps || !row) {
        free(reps);
        free(row);
        return -1;
    }
    cs_buf_init(&k, 1024);
    argv[0] = "HMGET";
    memcpy(argv + 2, ROW_FIELDS, sizeof ROW_FIELDS);
    for (size_t i = 0; i < n; i++) {
        cs_key_product(&k, cs_ops_key_base(o, c->sink), CS_KEY_STATE, c->id, members[i]->str, NULL);
        argv[1] = k.data;
        if (cs_redis_pipe_add(o->r, (int)(2 + N_ROW_FIELDS), argv, NULL) != 0) {
            rows = -1;
            goto out;
        }
    }
    if (read_all(o, reps, n) != 0) {
        rows = -1;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (*stop || reps[i]->type != REDIS_REPLY_ARRAY || reps[i]->elements != N_ROW_FIELDS ||
            reps[i]->element[0]->type != REDIS_REPLY_STRING)
            continue;   /* removed meanwhile (a delete) */
        memset(row, 0, sizeof *row);
        row->sink = c->sink;
        row->conn = c->id;
        cs_utf8_copy_trunc(row->product, sizeof row->product, members[i]->str, members[i]->len);
        row_from(row, reps[i]);
        rows++;
        if (cb && cb(opaque, row) != 0)
            *stop = 1;
    }
    free_all(reps, n);
out:
    cs_buf_free(&k);
    free(reps);
    free(row);
    return rows;
}

static int member_cmp(const void *a, const void *b)
{
    const redisReply *x = *(const redisReply *const *)a, *y = *(const redisReply *const *)b;
    return strverscmp(x->str, y->str);
}

/* Rows come connection by connection in the configuration's order and,
 * within one, by product key with numbers in numeric order (p2 before p10):
 * the index is read whole (SSCAN), sorted, then the states in chunks. */
long cs_ops_scan(cs_ops *o, const char *sink, const char *conn, cs_ops_row_cb *cb, void *opaque)
{
    cs_buf k;
    long total = 0;
    int stop = 0;
    size_t n_reps = 0, cap_reps = 0, n_m = 0, cap_m = 0;
    redisReply **reps = NULL, **m = NULL;
    if (cs_redis_ready(o->r) != 0)
        return -1;
    cs_buf_init(&k, 512);
    for (size_t i = 0; i < o->n_conns && !stop; i++) {
        if (!cs_ops_conn_match(o, i, sink, conn))
            continue;
        const cs_ops_conn *c = &o->conns[i];
        cs_key_conn(&k, cs_ops_key_base(o, c->sink), CS_KEY_INDEX, c->id);
        char cursor[32] = "0";
        do {
            const char *argv[] = {"SSCAN", k.data, cursor, "COUNT", SCAN_COUNT};
            redisReply *r = cs_ops_cmd(o, 5, argv);
            if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                r->element[1]->type != REDIS_REPLY_ARRAY) {
                if (r)
                    freeReplyObject(r);
                total = -1;
                goto out;
            }
            if (n_reps == cap_reps) {
                size_t nc = cap_reps ? cap_reps * 2 : 16;
                redisReply **t = realloc(reps, nc * sizeof *t);
                if (!t) {
                    freeReplyObject(r);
                    total = -1;
                    goto out;
                }
                reps = t;
                cap_reps = nc;
            }
            reps[n_reps++] = r;
            str_of(cursor, sizeof cursor, r->element[0]);
            const redisReply *got = r->element[1];
            if (n_m + got->elements > cap_m) {
                size_t nc = (n_m + got->elements) * 2;
                redisReply **t = realloc(m, nc * sizeof *t);
                if (!t) {
                    total = -1;
                    goto out;
                }
                m = t;
                cap_m = nc;
            }
            for (size_t e = 0; e < got->elements; e++)
                if (got->element[e]->type == REDIS_REPLY_STRING)
                    m[n_m++] = got->element[e];
        } while (strcmp(cursor, "0") != 0);
        if (n_m)
            qsort(m, n_m, sizeof *m, member_cmp);
        for (size_t a = 0; a < n_m && !stop; a += SCAN_CHUNK) {
            long rows = rows_for(o, c, m + a, n_m - a < SCAN_CHUNK ? n_m - a : SCAN_CHUNK, cb,
                                 opaque, &stop);
            if (rows < 0) {
                total = -1;
                goto out;
            }
            total += rows;
        }
        for (size_t r = 0; r < n_reps; r++)
            freeReplyObject(reps[r]);
        n_reps = n_m = 0;
    }
out:
    for (size_t r = 0; r < n_reps; r++)
        freeReplyObject(reps[r]);
    free(reps);
    free(m);
    cs_buf_free(&k);
    return total;
}

/* ---- show ---- */

json_t *cs_ops_show(cs_ops *o, const char *sink, const char *conn, const char *pkey)
{
    cs_buf k;
    json_t *out = NULL, *list = json_array();
    enum { PER = 5 };
    size_t n = o->n_conns * PER;
    redisReply **reps = calloc(n ? n : 1, sizeof *reps);
    if (!reps || !list || cs_redis_ready(o->r) != 0)
        goto fail;
    cs_buf_init(&k, 1024);
    for (size_t i = 0; i < o->n_conns; i++) {
        const cs_ops_conn *c = &o->conns[i];
        const char *argv[3];
        int woo = !strcmp(c->sink, "woocommerce");
        const char *base = cs_ops_key_base(o, c->sink);
        cs_key_product(&k, base, CS_KEY_STATE, c->id, pkey, NULL);
        argv[0] = "HGETALL";
        argv[1] = k.data;
        cs_redis_pipe_add(o->r, 2, argv, NULL);
        cs_key_product(&k, base, CS_KEY_HISTORY, c->id, pkey, NULL);
        const char *lr[] = {"LRANGE", k.data, "0", "9"};
        cs_redis_pipe_add(o->r, 4, lr, NULL);
        cs_key_conn(&k, base, CS_KEY_EXCLUDE, c->id);
        const char *sm[] = {"SISMEMBER", k.data, pkey};
        cs_redis_pipe_add(o->r, 3, sm, NULL);
        /* Meta keeps no link: a key that never exists, for the same reply shape. */
        cs_key_product(&k, base, woo ? CS_KEY_LINK : "none", c->id, pkey, NULL);
        argv[1] = k.data;
        cs_redis_pipe_add(o->r, 2, argv, NULL);
        cs_key_conn(&k, base, CS_KEY_PAUSE, c->id);
        argv[1] = k.data;
        cs_redis_pipe_add(o->r, 2, argv, NULL);
    }
    cs_buf_free(&k);
    if (read_all(o, reps, n) != 0)
        goto fail_noreps;
    for (size_t i = 0; i < o->n_conns; i++) {
        redisReply **r = reps + i * PER;
        int has_state = r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements > 0;
        int excluded = r[2]->type == REDIS_REPLY_INTEGER && r[2]->integer == 1;
        int has_link = r[3]->type == REDIS_REPLY_ARRAY && r[3]->elements > 0;
        if ((!has_state && !excluded && !has_link) || !cs_ops_conn_match(o, i, sink, conn))
            continue;
        json_t *e = json_pack("{s:s, s:s, s:o, s:b}", "sink", o->conns[i].sink, "connection",
                              o->conns[i].id, "state", hash_json(r[0]), "excluded", excluded);
        json_t *hist = json_array();
        for (size_t h = 0; r[1]->type == REDIS_REPLY_ARRAY && h < r[1]->elements; h++) {
            json_t *v = json_loadb(r[1]->element[h]->str, r[1]->element[h]->len, 0, NULL);
            if (v)
                json_array_append_new(hist, v);
        }
        json_object_set_new(e, "history", hist);
        if (has_link)
            json_object_set_new(e, "link", hash_json(r[3]));
        if (r[4]->type == REDIS_REPLY_ARRAY && r[4]->elements > 0)
            json_object_set_new(e, "paused", hash_json(r[4]));
        json_array_append_new(list, e);
    }
    free_all(reps, n);
    free(reps);
    out = json_pack("{s:s, s:o}", "product", pkey, "connections", list);
    return out;
fail:
    free(reps);
    json_decref(list);
    return NULL;
fail_noreps:
    free(reps);
    json_decref(list);
    return NULL;
}

/* ---- queue ---- */

static const char *conn_of_member(const char *m, char *conn, size_t size)
{
    const char *bar = strchr(m, '|');
    size_t n = bar ? (size_t)(bar - m) : 0;
    snprintf(conn, size, "%.*s", (int)n, m);
    return bar ? bar + 1 : m;
}

json_t *cs_ops_queue(cs_ops *o, const char *sink, int due_only, size_t limit)
{
    cs_buf k;
    char now[24], lim[24];
    int64_t t = cs_now_ms();
    json_t *retry = json_array(), *inflight = json_array(), *paused = json_array();
    json_t *totals = json_object();
    snprintf(now, sizeof now, "%lld", (long long)t);
    snprintf(lim, sizeof lim, "%zu", limit ? limit : 100);
    if (cs_redis_ready(o->r) != 0)
        goto fail;
    cs_buf_init(&k, 512);
    for (int s = 0; s < 2; s++) {
        if (sink && sink[0] && strcmp(sink, SINKS[s]) != 0)
            continue;
        cs_buf ik;
        cs_buf_init(&ik, 512);
        cs_key_sink(&k, cs_ops_key_base(o, SINKS[s]), CS_KEY_RETRY);
        cs_key_sink(&ik, cs_ops_key_base(o, SINKS[s]), CS_KEY_INFLIGHT);
        const char *a[] = {"ZRANGEBYSCORE", k.data, "-inf", due_only ? now : "+inf",
                           "WITHSCORES", "LIMIT", "0", lim};
        const char *b[] = {"ZCARD", k.data};
        const char *c[] = {"ZCOUNT", k.data, "-inf", now};
        const char *d[] = {"ZRANGE", ik.data, "0", "-1", "WITHSCORES"};
        cs_redis_pipe_add(o->r, 8, a, NULL);
        cs_redis_pipe_add(o->r, 2, b, NULL);
        cs_redis_pipe_add(o->r, 4, c, NULL);
        cs_redis_pipe_add(o->r, 5, d, NULL);
        cs_buf_free(&ik);
        redisReply *reps[4];
        if (read_all(o, reps, 4) != 0) {
            cs_buf_free(&k);
            goto fail;
        }
        for (size_t i = 0; reps[0]->type == REDIS_REPLY_ARRAY && i + 1 < reps[0]->elements; i += 2) {
            char conn[256];
            const char *p = conn_of_member(reps[0]->element[i]->str, conn, sizeof conn);
            int64_t due = i64_of(reps[0]->element[i + 1]);
            json_array_append_new(retry, json_pack("{s:s, s:s, s:s, s:I, s:I}", "sink", SINKS[s],
                                                   "connection", conn, "product", p, "due_at",
                                                   (json_int_t)due, "due_in_ms",
                                                   (json_int_t)(due - t)));
        }
        for (size_t i = 0; reps[3]->type == REDIS_REPLY_ARRAY && i + 1 < reps[3]->elements; i += 2) {
            char conn[256];
            const char *p = conn_of_member(reps[3]->element[i]->str, conn, sizeof conn);
            json_array_append_new(inflight, json_pack("{s:s, s:s, s:s, s:I}", "sink", SINKS[s],
                                                      "connection", conn, "product", p,
                                                      "lease_until",
                                                      (json_int_t)i64_of(reps[3]->element[i + 1])));
        }
        json_object_set_new(totals, SINKS[s],
                            json_pack("{s:I, s:I, s:I}", "waiting", (json_int_t)i64_of(reps[1]),
                                      "due", (json_int_t)i64_of(reps[2]), "in_flight",
                                      (json_int_t)(reps[3]->type == REDIS_REPLY_ARRAY
                                                   ? reps[3]->elements / 2 : 0)));
        free_all(reps, 4);
    }
    for (size_t i = 0; i < o->n_conns; i++) {
        const cs_ops_conn *c = &o->conns[i];
        if (sink && sink[0] && strcmp(sink, c->sink) != 0)
            continue;
        cs_key_conn(&k, cs_ops_key_base(o, c->sink), CS_KEY_PAUSE, c->id);
        const char *a[] = {"HGETALL", k.data};
        redisReply *r = cs_ops_cmd(o, 2, a);
        if (!r) {
            cs_buf_free(&k);
            goto fail;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
            json_t *p = hash_json(r);
            json_object_set_new(p, "sink", json_string(c->sink));
            json_object_set_new(p, "connection", json_string(c->id));
            json_array_append_new(paused, p);
        }
        freeReplyObject(r);
    }
    cs_buf_free(&k);
    return json_pack("{s:I, s:o, s:o, s:o, s:o}", "now", (json_int_t)t, "totals", totals,
                     "retry", retry, "in_flight", inflight, "paused", paused);
fail:
    json_decref(retry);
    json_decref(inflight);
    json_decref(paused);
    json_decref(totals);
    return NULL;
}

/* ---- stats ---- */

/* The tally's outcomes: what settle counts (cs_settle_results' tally). */
#define N_OUTCOMES CS_N_SETTLE
#define OUTCOME(q) (cs_settle_results[q].tally)
#define DAY_BUCKETS (24 * 3600 * 1000 / CS_SYNC_TALLY_MS)
#define HOUR_BUCKETS (3600 * 1000 / CS_SYNC_TALLY_MS)

static json_t *conn_stats(cs_ops *o, const cs_ops_conn *c, int64_t now)
{
    cs_buf k;
    char nows[24];
    enum { FIXED = 6 };
    size_t n = FIXED + DAY_BUCKETS;
    redisReply **reps = calloc(n, sizeof *reps);
    json_t *out = NULL;
    if (!reps)
        return NULL;
    snprintf(nows, sizeof nows, "%lld", (long long)now);
    cs_buf_init(&k, 512);
    cs_key_conn(&k, cs_ops_key_base(o, c->sink), CS_KEY_COUNTS, c->id);
    const char *a0[] = {"HGETALL", k.data};
    cs_redis_pipe_add(o->r, 2, a0, NULL);
    cs_key_conn(&k, cs_ops_key_base(o, c->sink), CS_KEY_STATS, c->id);
    cs_redis_pipe_add(o->r, 2, a0, NULL);
    cs_key_conn(&k, cs_ops_key_base(o, c->sink), CS_KEY_WAITING, c->id);
    const char *a2[] = {"ZRANGE", k.data, "0", "0", "WITHSCORES"};
    cs_redis_pipe_add(o->r, 5, a2, NULL);
    cs_key_conn(&k, cs_ops_key_base(o, c->sink), CS_KEY_PAUSE, c->id);
    cs_redis_pipe_add(o->r, 2, a0, NULL);
    cs_key_conn(&k, cs_ops_key_base(o, c->sink), CS_KEY_EXCLUDE, c->id);
    const char *a4[] = {"SCARD", k.data};
    cs_redis_pipe_add(o->r, 2, a4, NULL);
    cs_key_conn(&k, cs_ops_key_base(o, c->sink), CS_KEY_NOT_LINKED, c->id);
    cs_redis_pipe_add(o->r, 2, a4, NULL);
    int64_t bucket = now / CS_SYNC_TALLY_MS;
    for (size_t b = 0; b < DAY_BUCKETS; b++) {
        cs_key_tally(&k, cs_ops_key_base(o, c->sink), c->id, bucket - (int64_t)b);
        const char *a[] = {"HGETALL", k.data};
        cs_redis_pipe_add(o->r, 2, a, NULL);
    }
    cs_buf_free(&k);
    if (read_all(o, reps, n) != 0) {
        free(reps);
        return NULL;
    }
    json_t *counts = json_object(), *hour = json_object(), *day = json_object();
    json_t *have = hash_json(reps[0]);
    json_int_t total = 0;
    for (size_t i = 0; i < CS_OPS_N_STATUSES; i++) {
        const char *v = json_string_value(json_object_get(have, cs_statuses[i].wire));
        int64_t x = 0;
        if (v && cs_parse_i64(v, INT64_MIN, INT64_MAX, &x) != 0)
            x = 0;
        if (x < 0)
            x = 0;
        json_object_set_new(counts, cs_statuses[i].wire, json_integer(x));
        total += x;
    }
    json_decref(have);
    json_int_t h[N_OUTCOMES] = {0}, d[N_OUTCOMES] = {0};
    for (size_t b = 0; b < DAY_BUCKETS; b++) {
        const redisReply *r = reps[FIXED + b];
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
            for (size_t q = 0; q < N_OUTCOMES; q++)
                if (OUTCOME(q) && !strcmp(r->element[i]->str, OUTCOME(q))) {
                    int64_t x = i64_of(r->element[i + 1]);
                    d[q] += x;
                    if (b < HOUR_BUCKETS)
                        h[q] += x;
                }
    }
    for (size_t q = 0; q < N_OUTCOMES; q++) {
        if (!OUTCOME(q))
            continue;
        json_object_set_new(hour, OUTCOME(q), json_integer(h[q]));
        json_object_set_new(day, OUTCOME(q), json_integer(d[q]));
    }
    json_t *oldest = json_null();
    if (reps[2]->type == REDIS_REPLY_ARRAY && reps[2]->elements == 2) {
        int64_t since = i64_of(reps[2]->element[1]);
        oldest = json_pack("{s:s, s:I, s:I}", "product", reps[2]->element[0]->str, "since",
                           (json_int_t)since, "age_s", (json_int_t)((now - since) / 1000));
    }
    out = json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I}", "sink", c->sink,
                    "connection", c->id, "products", total, "counts", counts, "last_hour", hour,
                    "last_day", day, "totals", hash_json(reps[1]), "oldest_pending", oldest,
                    "paused", reps[3]->type == REDIS_REPLY_ARRAY && reps[3]->elements
                    ? hash_json(reps[3]) : json_null(),
                    "excluded", (json_int_t)i64_of(reps[4]),
                    "not_linked", (json_int_t)i64_of(reps[5]));
    free_all(reps, n);
    free(reps);
    return out;
}

json_t *cs_ops_stats(cs_ops *o, const char *sink, const char *conn)
{
    int64_t now = cs_now_ms();
    json_t *list = json_array();
    if (cs_redis_ready(o->r) != 0) {
        json_decref(list);
        return NULL;
    }
    for (size_t i = 0; i < o->n_conns; i++) {
        if (!cs_ops_conn_match(o, i, sink, conn))
            continue;
        json_t *s = conn_stats(o, &o->conns[i], now);
        if (!s) {
            json_decref(list);
            return NULL;
        }
        json_array_append_new(list, s);
    }
    return json_pack("{s:I, s:o}", "now", (json_int_t)now, "connections", list);
}

/* ---- sync status ---- */

json_t *cs_ops_row_json(const cs_ops_row *r)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I}", "sink", r->sink, "connection",
                          r->conn, "product", r->product, "status", r->status, "attempts",
                          r->attempts, "version", (json_int_t)r->version);
    if (!o)
        return NULL;
    if (r->synced_version >= 0)
        json_object_set_new(o, "synced_version", json_integer(r->synced_version));
    if (r->sku[0])
        json_object_set_new(o, "sku", json_string(r->sku));
    if (r->name[0])
        json_object_set_new(o, "name", json_string(r->name));
    if (r->next_attempt)
        json_object_set_new(o, "next_attempt", json_integer(r->next_attempt));
    if (r->last_attempt)
        json_object_set_new(o, "last_attempt", json_integer(r->last_attempt));
    if (r->last_success)
        json_object_set_new(o, "last_success", json_integer(r->last_success));
    if (r->error_message[0] && strcmp(r->status, "synced") != 0) {
        json_object_set_new(o, "last_error_code", json_string(r->error_code));
        json_object_set_new(o, "last_error_message", json_string(r->error_message));
        json_object_set_new(o, "last_error_at", json_integer(r->last_error_at));
    }
    if (r->skip_reason[0] && !strcmp(r->status, "skipped"))
        json_object_set_new(o, "skip_reason", json_string(r->skip_reason));
    return o;
}

static int append_row(void *opaque, const cs_ops_row *row)
{
    json_t *o = cs_ops_row_json(row);
    return o ? json_array_append_new(opaque, o) : 1;
}

json_t *cs_ops_sync_status(cs_ops *o, const char *sink, const char *conn,
                           const char *const *pkeys, size_t n, int *unknown)
{
    size_t ci = o->n_conns;
    *unknown = 0;
    for (size_t i = 0; conn && conn[0] && i < o->n_conns && ci == o->n_conns; i++)
        if (cs_ops_conn_match(o, i, sink, conn))
            ci = i;
    if (ci == o->n_conns) {
        *unknown = 1;
        return NULL;
    }
    if (cs_redis_ready(o->r) != 0)
        return NULL;
    const cs_ops_conn *c = &o->conns[ci];
    json_t *list = json_array();
    redisReply **members = calloc(n ? n : 1, sizeof *members);
    redisReply *holders = calloc(n ? n : 1, sizeof *holders);
    int stop = 0;
    long got = -1;
    if (list && members && holders) {
        for (size_t i = 0; i < n; i++) {
            holders[i].type = REDIS_REPLY_STRING;
            holders[i].str = (char *)pkeys[i];
            holders[i].len = strlen(pkeys[i]);
            members[i] = &holders[i];
        }
        got = rows_for(o, c, members, n, append_row, list, &stop);
    }
    free(members);
    free(holders);
    if (got < 0) {
        json_decref(list);
        return NULL;
    }
    if (!strcmp(c->sink, "woocommerce") && n > 0) {
        /* The export link: the store's product id and when it was exported.
         * (Its last_synced_at is when the last push settled, whatever the
         * outcome: the last success is the state's last_success.) */
        cs_buf k;
        cs_buf_init(&k, 512);
        for (size_t i = 0; i < n; i++) {
            cs_key_product(&k, cs_ops_key_base(o, c->sink), CS_KEY_LINK, c->id, pkeys[i], NULL);
            const char *a[] = {"HMGET", k.data, "remote_id", "last_exported_at"};
            cs_redis_pipe_add(o->r, 4, a, NULL);
        }
        cs_buf_free(&k);
        redisReply **reps = calloc(n, sizeof *reps);
        if (!reps || read_all(o, reps, n) != 0) {
            free(reps);
            json_decref(list);
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            size_t k2;
            json_t *v;
            json_array_foreach(list, k2, v) {
                if (strcmp(json_string_value(json_object_get(v, "product")), pkeys[i]) != 0 ||
                    reps[i]->type != REDIS_REPLY_ARRAY || reps[i]->elements != 2 ||
                    reps[i]->element[0]->type != REDIS_REPLY_STRING)
                    continue;
                json_object_set_new(v, "remote_id", json_integer(i64_of(reps[i]->element[0])));
                json_object_set_new(v, "last_exported_at", json_integer(i64_of(reps[i]->element[1])));
            }
        }
        free_all(reps, n);
        free(reps);
    }
    /* Last synced: when the channel last confirmed the product here. */
    size_t k0;
    json_t *v0;
    json_array_foreach(list, k0, v0) {
        json_t *at = json_object_get(v0, "last_success");
        if (at)
            json_object_set(v0, "last_synced_at", at);
    }
    /* Products never seen at this connection are listed as not synced. */
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        size_t k;
        json_t *v;
        json_array_foreach(list, k, v)
            if (!strcmp(json_string_value(json_object_get(v, "product")), pkeys[i]))
                seen = 1;
        if (!seen)
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "sink", c->sink,
                                                  "connection", c->id, "product", pkeys[i],
                                                  "status", "not_synced"));
    }
    return json_pack("{s:s, s:s, s:o}", "sink", c->sink, "connection", c->id, "products", list);
}
