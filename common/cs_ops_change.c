/*
 * cs_ops_change: the operator's changes (reset, pause, resume, exclude,
 * include) at the matching connections, through cs_sync's scripts.
 */
#include "cs_ops.h"
#include "cs_ops_priv.h"
#include "cs_keys.h"
#include "cs_util.h"

#include <stdlib.h>
#include <string.h>

static int reset_conn(cs_ops *o, const cs_ops_conn *c, const char *const *pkeys, size_t n,
                      cs_ops_reset_counts *counts)
{
    cs_reset_result *res = calloc(n ? n : 1, sizeof *res);
    if (!res)
        return -1;
    int rc = cs_sync_reset_many(cs_ops_sync_of(o, c->sink), c->id, pkeys, n, 0, res);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        switch (res[i]) {
        case CS_RESET_QUEUED: counts->queued++; break;
        case CS_RESET_EXCLUDED: counts->excluded++; break;
        case CS_RESET_NO_SNAPSHOT: counts->no_snapshot++; break;
        default: counts->unknown++; break;
        }
    }
    free(res);
    return rc;
}

typedef struct failed_list {
    char **keys;
    size_t n, cap;
} failed_list;

static int collect_failed(void *opaque, const cs_ops_row *row)
{
    failed_list *f = opaque;
    if (strcmp(row->status, "failed") != 0)
        return 0;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        char **p = realloc(f->keys, cap * sizeof *p);
        if (!p)
            return 1;
        f->keys = p;
        f->cap = cap;
    }
    if (!(f->keys[f->n] = strdup(row->product)))
        return 1;
    f->n++;
    return 0;
}

int cs_ops_reset(cs_ops *o, const char *sink, const char *conn, const char *const *pkeys,
                 size_t n, int failed_only, cs_ops_reset_counts *counts)
{
    memset(counts, 0, sizeof *counts);
    if (cs_redis_ready(o->r) != 0)
        return -1;
    for (size_t i = 0; i < o->n_conns; i++) {
        if (!cs_ops_conn_match(o, i, sink, conn))
            continue;
        const cs_ops_conn *c = &o->conns[i];
        if (n > 0) {
            /* Named products: reset wherever they have state. */
            cs_ops_reset_counts here = {0};
            if (reset_conn(o, c, pkeys, n, &here) != 0)
                return -1;
            counts->queued += here.queued;
            counts->excluded += here.excluded;
            counts->no_snapshot += here.no_snapshot;
            continue;
        }
        if (!failed_only)
            continue;
        failed_list f = {0};
        long got = cs_ops_scan(o, c->sink, c->id, collect_failed, &f);
        int rc = got < 0 ? -1 : 0;
        for (size_t a = 0; rc == 0 && a < f.n; a += 1000) {
            size_t m = f.n - a < 1000 ? f.n - a : 1000;
            rc = reset_conn(o, c, (const char *const *)f.keys + a, m, counts);
        }
        for (size_t a = 0; a < f.n; a++)
            free(f.keys[a]);
        free(f.keys);
        if (rc != 0)
            return -1;
    }
    if (n > 0) {
        /* A product is "unknown" only when no connection knows it. */
        counts->unknown = counts->queued + counts->excluded + counts->no_snapshot ? 0 : (long)n;
    }
    return 0;
}

/* Calls fn for every connection matching the filters.  fn returns how many
 * it changed there (>= 0) or -1 on Redis failure, and may add to *extra.
 * Returns the connections changed, or -1. */
typedef long (conn_fn)(cs_ops *o, const cs_ops_conn *c, const void *arg, long *extra);

static int each_conn(cs_ops *o, const char *sink, const char *conn, conn_fn *fn,
                     const void *arg, long *extra)
{
    int changed = 0;
    long unused = 0;
    if (!extra)
        extra = &unused;
    *extra = 0;
    if (cs_redis_ready(o->r) != 0)
        return -1;
    for (size_t i = 0; i < o->n_conns; i++) {
        if (!cs_ops_conn_match(o, i, sink, conn))
            continue;
        long r = fn(o, &o->conns[i], arg, extra);
        if (r < 0)
            return -1;
        changed += (int)r;
    }
    return changed;
}

static long pause_one(cs_ops *o, const cs_ops_conn *c, const void *reason,
                      long *extra __attribute__((unused)))
{
    return cs_sync_pause_set(cs_ops_sync_of(o, c->sink), c->id,
                             cs_now_ms() + CS_SYNC_OPERATOR_PAUSE_MS, "operator", reason) == 0
           ? 1 : -1;
}

int cs_ops_pause(cs_ops *o, const char *sink, const char *conn, const char *reason)
{
    return each_conn(o, sink, conn, pause_one,
                     reason && reason[0] ? reason : "paused by an operator", NULL);
}

static long resume_one(cs_ops *o, const cs_ops_conn *c, const void *arg __attribute__((unused)),
                       long *requeued)
{
    long r = cs_sync_resume(cs_ops_sync_of(o, c->sink), c->id);
    if (r == -2)
        return -1;
    if (r < 0)
        return 0;       /* was not paused */
    *requeued += r;
    return 1;
}

int cs_ops_resume(cs_ops *o, const char *sink, const char *conn, long *requeued)
{
    return each_conn(o, sink, conn, resume_one, NULL, requeued);
}

static long exclude_one(cs_ops *o, const cs_ops_conn *c, const void *pkey,
                        long *extra __attribute__((unused)))
{
    return cs_sync_exclude(cs_ops_sync_of(o, c->sink), c->id, pkey);
}

int cs_ops_exclude(cs_ops *o, const char *sink, const char *conn, const char *pkey)
{
    return each_conn(o, sink, conn, exclude_one, pkey, NULL);
}

static long include_one(cs_ops *o, const cs_ops_conn *c, const void *arg, long *requeued)
{
    const char *pkey = arg;
    cs_buf k;
    cs_buf_init(&k, 512);
    cs_key_conn(&k, cs_ops_key_base(o, c->sink), CS_KEY_EXCLUDE, c->id);
    const char *a[] = {"SISMEMBER", k.data, pkey};
    redisReply *r = cs_ops_cmd(o, 3, a);
    cs_buf_free(&k);
    if (!r)
        return -1;
    int was = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    cs_reset_result res;
    const char *one[] = {pkey};
    if (cs_sync_reset_many(cs_ops_sync_of(o, c->sink), c->id, one, 1, 1, &res) != 0)
        return -1;
    if (res == CS_RESET_QUEUED)
        (*requeued)++;
    return was;
}

int cs_ops_include(cs_ops *o, const char *sink, const char *conn, const char *pkey,
                   long *requeued)
{
    return each_conn(o, sink, conn, include_one, pkey, requeued);
}
