/*
 * woo_links: the WooCommerce sink's records in Redis — export links
 * (P{woocommerce}:link:<store>:<tenant>:<id>), uploaded image ids and the
 * not-linked set (docs/REDIS.md; their names from common/cs_keys.h).  Read before a push (one pipeline), written
 * after it; a failed write fails the batch, so offsets are not committed
 * without them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_keys.h"
#include "cs_log.h"
#include "cs_util.h"
#include "cs_vocab.h"
#include "woo_sink.h"


void woo_free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void woo_job_free(void *p)
{
    woo_job *w = p;
    if (!w)
        return;
    woo_free_strs(w->fields, w->n_fields);
    woo_free_strs(w->img_src, w->n_img);
    free(w->img_id);
    free(w);
}

/* P{S}:NAME:C:T:ID of job j's product (NAME: CS_KEY_LINK, CS_KEY_IMAGES). */
static void key_for(const cs_push_ctx *ctx, cs_buf *out, const char *name, const cs_sync_job *j)
{
    cs_key_product(out, cs_sync_key_base(ctx->sync), name, j->conn_id, j->ev->tenant,
                   j->ev->product.id);
}

/* P{S}:not_linked:C of job j's store. */
static void not_linked_key(const cs_push_ctx *ctx, cs_buf *out, const cs_sync_job *j)
{
    cs_key_conn(out, cs_sync_key_base(ctx->sync), CS_KEY_NOT_LINKED, j->conn_id);
}

static int set_fields(woo_job *w, const char *const *f, size_t n)
{
    woo_free_strs(w->fields, w->n_fields);
    w->fields = calloc(n ? n : 1, sizeof *w->fields);
    w->n_fields = 0;
    if (!w->fields)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(w->fields[i] = strdup(f[i])))
            return -1;
        w->n_fields = i + 1;
    }
    return 0;
}

/* Fields are stored comma-separated in the link (readable with redis-cli). */
static int set_fields_joined(woo_job *w, const char *s, size_t len)
{
    const char *parts[256];
    char *copy = malloc(len + 1);
    size_t n = 0;
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    for (char *p = copy, *save = NULL, *t; n < 256 && (t = strtok_r(p, ",", &save)); p = NULL)
        parts[n++] = t;
    int rc = set_fields(w, parts, n);
    free(copy);
    return rc;
}

static void link_from_reply(woo_job *w, const redisReply *link, const redisReply *imgs)
{
    if (link && link->type == REDIS_REPLY_ARRAY && link->elements >= 2) {
        w->linked = 1;
        for (size_t i = 0; i + 1 < link->elements; i += 2) {
            const redisReply *k = link->element[i], *v = link->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            if (!strcmp(k->str, "remote_id"))
                w->remote_id = strtol(v->str, NULL, 10);
            else if (!strcmp(k->str, "partial"))
                w->partial = v->str[0] == '1';
            else if (!strcmp(k->str, "fields"))
                set_fields_joined(w, v->str, v->len);
        }
    }
    if (imgs && imgs->type == REDIS_REPLY_ARRAY && imgs->elements >= 2) {
        size_t n = imgs->elements / 2;
        w->img_src = calloc(n, sizeof *w->img_src);
        w->img_id = calloc(n, sizeof *w->img_id);
        if (!w->img_src || !w->img_id)
            return;
        for (size_t i = 0; i < n; i++) {
            if (!(w->img_src[i] = strdup(imgs->element[2 * i]->str)))
                return;
            w->img_id[i] = strtol(imgs->element[2 * i + 1]->str, NULL, 10);
            w->n_img = i + 1;
        }
    }
}

int woo_prepare(void *sink, const cs_push_ctx *ctx, cs_sync_job **jobs, size_t n)
{
    woo_sink *ws = sink;
    cs_buf key;
    int rc = -1;
    size_t ignored = 0;
    cs_buf_init(&key, 4096);
    for (size_t i = 0; i < n; i++) {
        key_for(ctx, &key, CS_KEY_LINK, jobs[i]);
        const char *a[] = {"HGETALL", key.data};
        if (cs_redis_pipe_add(ctx->redis, 2, a, NULL) != 0)
            goto out;
        key_for(ctx, &key, CS_KEY_IMAGES, jobs[i]);
        const char *b[] = {"HGETALL", key.data};
        if (cs_redis_pipe_add(ctx->redis, 2, b, NULL) != 0)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *link = cs_redis_pipe_get(ctx->redis);
        redisReply *imgs = link ? cs_redis_pipe_get(ctx->redis) : NULL;
        if (!link || !imgs) {
            if (link)
                freeReplyObject(link);
            goto out;
        }
        cs_sync_job *j = jobs[i];
        woo_job *w = calloc(1, sizeof *w);
        if (w) {
            link_from_reply(w, link, imgs);
            j->sink_data = w;
            j->sink_free = woo_job_free;
            const cs_woo_store *sc = ws->stores[j->conn].cfg;
            if (j->ev->type == CS_EV_EXPORT_REQUESTED) {
                w->partial = j->ev->export.partial_update;
                if (j->ev->export.n_fields)
                    set_fields(w, j->ev->export.fields, j->ev->export.n_fields);
                else if (!w->n_fields)
                    set_fields(w, (const char *const *)sc->fields, sc->n_fields);
            } else if (!w->linked && !j->from_retry && j->ev->type != CS_EV_DELETED) {
                /* (A delete is never ignored: if a worker removed the link and
                 * stopped before recording it, the state still needs
                 * cleaning up.) */
                j->ignore = 1;
                ignored++;
            } else if (!w->n_fields) {
                set_fields(w, (const char *const *)sc->fields, sc->n_fields);
            }
        }
        freeReplyObject(link);
        freeReplyObject(imgs);
    }
    /* An export writes its link before anything is pushed: changes that
     * follow it (possibly in a later batch, possibly on another worker after a
     * crash) then reach the store even while the export itself waits. */
    size_t queued = 0;
    for (size_t i = 0; i < n; i++) {
        cs_sync_job *j = jobs[i];
        woo_job *w = wj(j);
        if (!w || j->ev->type != CS_EV_EXPORT_REQUESTED)
            continue;
        cs_buf fields;
        cs_buf_init(&fields, 0);
        for (size_t f = 0; f < w->n_fields; f++) {
            if (f)
                cs_buf_appendc(&fields, ',');
            cs_buf_appends(&fields, w->fields[f]);
        }
        key_for(ctx, &key, CS_KEY_LINK, j);
        const char *a[] = {"HSET", key.data, "fields", fields.data ? fields.data : "", "partial",
                           w->partial ? "1" : "0", "sku",
                           j->ev->product.sku ? j->ev->product.sku : ""};
        const char *b[] = {"HSETNX", key.data, "remote_id", "0"};
        /* "exporting": the link's own word until its first outcome (then a
         * status of cs_statuses, woo_save_links). */
        const char *c[] = {"HSETNX", key.data, "status", "exporting"};
        int ok = cs_redis_pipe_add(ctx->redis, 8, a, NULL) == 0 &&
                 cs_redis_pipe_add(ctx->redis, 4, b, NULL) == 0 &&
                 cs_redis_pipe_add(ctx->redis, 4, c, NULL) == 0;
        cs_buf_free(&fields);
        if (!ok)
            goto out;
        queued += 3;
        w->linked = 1;
    }
    for (size_t i = 0; i < queued; i++) {
        redisReply *r = cs_redis_pipe_get(ctx->redis);
        if (!r)
            goto out;
        freeReplyObject(r);
    }
    /* Products never exported to a store: not pushed, listed as not linked. */
    for (size_t i = 0; ignored && i < n; i++) {
        if (!jobs[i]->ignore || jobs[i]->ev->type == CS_EV_DELETED)
            continue;
        char member[1024];
        not_linked_key(ctx, &key, jobs[i]);
        snprintf(member, sizeof member, "%s:%s", jobs[i]->ev->tenant, jobs[i]->ev->product.id);
        const char *a[] = {"SADD", key.data, member};
        redisReply *r = cs_redis_cmd(ctx->redis, 3, a, NULL);
        if (!r)
            goto out;
        freeReplyObject(r);
        CS_DEBUG("woocommerce", "product %s is not linked to store %s; not pushed",
                 jobs[i]->ev->product.id, jobs[i]->conn_id);
    }
    rc = 0;
out:
    cs_buf_free(&key);
    return rc;
}

/* ---- link records ---- */

int woo_save_links(push *p)
{
    cs_redis *rd = p->ctx->redis;
    cs_buf key, fields, changed;
    char now[24], rid[24];
    size_t queued = 0;
    cs_buf_init(&key, 4096);
    cs_buf_init(&fields, 0);
    cs_buf_init(&changed, 0);
    snprintf(now, sizeof now, "%lld", (long long)cs_now_ms());
    for (size_t i = 0; i < p->n; i++) {
        cs_sync_job *j = p->jobs[i];
        woo_job *w = wj(j);
        cs_outcome_kind k = j->out.kind;
        int exp = j->ev->type == CS_EV_EXPORT_REQUESTED;
        char member[1024];
        snprintf(member, sizeof member, "%s:%s", j->ev->tenant, j->ev->product.id);
        if (k == CS_OUT_DELETED) {
            key_for(p->ctx, &key, CS_KEY_LINK, j);
            const char *a[] = {"DEL", key.data};
            cs_redis_pipe_add(rd, 2, a, NULL);
            key_for(p->ctx, &key, CS_KEY_IMAGES, j);
            const char *b[] = {"DEL", key.data};
            cs_redis_pipe_add(rd, 2, b, NULL);
            not_linked_key(p->ctx, &key, j);
            const char *c[] = {"SREM", key.data, member};
            cs_redis_pipe_add(rd, 3, c, NULL);
            queued += 3;
            continue;
        }
        /* An export writes its link whatever the outcome (a paused or
         * retried export included), so that later changes of the product
         * are not dropped as "not linked" while the export waits. */
        if (k == CS_OUT_NONE || (!w->linked && !exp) ||
            (w->linked && (k == CS_OUT_PAUSED || k == CS_OUT_RELEASE)))
            continue;
        cs_buf_reset(&fields);
        for (size_t f = 0; f < w->n_fields; f++) {
            if (f)
                cs_buf_appendc(&fields, ',');
            cs_buf_appends(&fields, w->fields[f]);
        }
        cs_buf_reset(&changed);
        for (size_t f = 0; f < j->ev->n_changed_fields; f++) {
            if (f)
                cs_buf_appendc(&changed, ',');
            cs_buf_appends(&changed, j->ev->changed_fields[f]);
        }
        if (!j->ev->has_changed_fields)
            cs_buf_appends(&changed, "all");
        snprintf(rid, sizeof rid, "%ld", w->remote_id > 0 ? w->remote_id : 0);
        const char *status = cs_statuses[k == CS_OUT_SYNCED    ? CS_STATUS_SYNCED
                                         : k == CS_OUT_FAILED  ? CS_STATUS_FAILED
                                         : k == CS_OUT_SKIPPED ? CS_STATUS_SKIPPED
                                                               : CS_STATUS_RETRY_PENDING].wire;
        key_for(p->ctx, &key, CS_KEY_LINK, j);
        const char *a[] = {"HSET", key.data, "remote_id", rid, "fields", fields.data ? fields.data : "",
                           "partial", w->partial ? "1" : "0", "sku",
                           j->ev->product.sku ? j->ev->product.sku : "", "status", status,
                           "error_message", k == CS_OUT_SYNCED ? "" : j->out.err_message,
                           exp ? "last_exported_at" : "last_synced_at", now,
                           "last_modified_fields", changed.data ? changed.data : ""};
        char errmsg[sizeof j->out.err_message];
        snprintf(errmsg, sizeof errmsg, "%s", k == CS_OUT_SYNCED ? "" : j->out.err_message);
        cs_log_redact(errmsg, sizeof errmsg);
        a[13] = errmsg;
        /* A remote id this push does not know (its SKU lookup failed, say)
         * must not erase the one another worker stored meanwhile (this
         * worker's retry lease ran out during a slow flush and another one
         * pushed the product); a product gone from the store (reset_remote)
         * is forgotten on purpose. */
        int keep_id = w->remote_id <= 0 && !w->reset_remote;
        if (keep_id) {
            a[2] = a[0];
            a[3] = a[1];
        }
        cs_redis_pipe_add(rd, (int)(sizeof a / sizeof a[0]) - (keep_id ? 2 : 0),
                          keep_id ? a + 2 : a, NULL);
        queued++;
        if (k == CS_OUT_SYNCED && exp) {
            not_linked_key(p->ctx, &key, j);
            const char *c[] = {"SREM", key.data, member};
            cs_redis_pipe_add(rd, 3, c, NULL);
            queued++;
        }
        if (w->images_reset) {
            key_for(p->ctx, &key, CS_KEY_IMAGES, j);
            const char *c[] = {"DEL", key.data};
            cs_redis_pipe_add(rd, 2, c, NULL);
            queued++;
        }
        if (k == CS_OUT_SYNCED && w->n_img) {
            key_for(p->ctx, &key, CS_KEY_IMAGES, j);
            for (size_t m = 0; m < w->n_img; m++) {
                char id[24];
                snprintf(id, sizeof id, "%ld", w->img_id[m]);
                const char *c[] = {"HSET", key.data, w->img_src[m], id};
                cs_redis_pipe_add(rd, 4, c, NULL);
                queued++;
            }
        }
    }
    int rc = 0;
    for (size_t i = 0; i < queued; i++) {
        redisReply *r = cs_redis_pipe_get(rd);
        if (!r) {
            rc = -1;
            break;
        }
        freeReplyObject(r);
    }
    cs_buf_free(&key);
    cs_buf_free(&fields);
    cs_buf_free(&changed);
    return rc;
}

