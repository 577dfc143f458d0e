/*
 * woo: the WooCommerce sink (docs/DESIGN.md; the WooCommerce seed's promises).
 *
 * A product reaches a store first through an export (product.export_requested
 * naming the store), which creates the remote product — or adopts the one
 * that already has the SKU — and writes a link record.  After that every
 * update, attributes or assets event reaches every store holding a link, and
 * only those; deletes remove the product per the store's delete policy and
 * then the link.  Creates are always preceded by a SKU lookup, so a create
 * whose answer was lost is found and adopted on the next attempt instead of
 * being created twice.
 *
 * Link records (docs/REDIS.md): P{woocommerce}:link:<store>:<tenant>:<id>
 * (remote_id, fields, partial, sku, status, error_message, last_exported_at,
 * last_synced_at, last_modified_fields), P{woocommerce}:images:<store>:... (src
 * → attachment id) and P{woocommerce}:not_linked:<store> (products seen but
 * never exported there).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cs_log.h"
#include "cs_sha256.h"
#include "cs_util.h"
#include "woo_map.h"
#include "woo_rest.h"
#include "woo_sink.h"

#define LOOKUP_CHUNK 20
#define BATCH_REGROW 16     /* batches answered in a row before a halved cap doubles again */

enum { OP_NONE = 0, OP_CREATE, OP_UPDATE };

/* ---- outcomes ---- */

static void outcome(cs_sync_job *j, cs_outcome_kind k, const cs_woo_error *e, const char *type)
{
    cs_outcome *o = &j->out;
    memset(o, 0, sizeof *o);
    o->kind = k;
    if (wj(j) && wj(j)->remote_id > 0)
        snprintf(o->remote_id, sizeof o->remote_id, "%ld", wj(j)->remote_id);
    if (e) {
        snprintf(o->err_code, sizeof o->err_code, "%s", e->code[0] ? e->code : "http");
        if (e->http_status)
            snprintf(o->err_subcode, sizeof o->err_subcode, "%ld", e->http_status);
        snprintf(o->err_message, sizeof o->err_message, "%s", e->message);
    }
    snprintf(o->err_type, sizeof o->err_type, "%s", type ? type : "");
}

static void transport_error(const cs_http_resp *r, cs_woo_error *e)
{
    memset(e, 0, sizeof *e);
    snprintf(e->code, sizeof e->code, "%s", cs_http_err_name(r->err));
    snprintf(e->message, sizeof e->message, "%s: %s", cs_http_err_name(r->err), r->errstr);
}

/* A failed whole call: pause the store or give every job of [a, b) its outcome. */
static void call_failed(push *p, cs_sync_job **jobs, size_t n, const cs_http_resp *r)
{
    cs_woo_error e;
    cs_class cls;
    if (r->err != CS_HTTP_OK) {
        transport_error(r, &e);
        cls = r->err == CS_HTTP_ETLS ? CS_CLASS_AUTH : CS_CLASS_TRANSIENT;
    } else {
        cs_woo_parse_error(r->body.data ? r->body.data : "", r->body.len, r->status, &e);
        cls = cs_woo_classify(&e);
    }
    if (cls == CS_CLASS_THROTTLE || cls == CS_CLASS_AUTH) {
        int64_t now = cs_now_ms(), ra = cs_http_retry_after_ms(r, now);
        const cs_config *cfg = p->ws->cfg;
        p->res->pause = 1;
        /* Capped: a Retry-After of 9e15 s would overflow now + ra. */
        p->res->until_ms = now + cs_woo_pause_ms(cls, ra, cfg->retry_throttle_default_ms,
                                                 cfg->retry_auth_pause_ms);
        /* A store-level answer (a WAF's page, a 404 page of plain
         * permalinks) pauses like auth, named for what it is; a 401 asks
         * for credentials whoever sends it. */
        snprintf(p->res->kind, sizeof p->res->kind, "%s",
                 cls == CS_CLASS_THROTTLE ? "throttle"
                 : e.not_wp && e.http_status != 401 ? "store" : "auth");
        snprintf(p->res->reason, sizeof p->res->reason, "HTTP %ld %s: %.400s", e.http_status,
                 e.code, e.message);
        p->stopped = 1;
        for (size_t i = 0; i < n; i++) {
            outcome(jobs[i], CS_OUT_PAUSED, &e, "paused");
            jobs[i]->out.resume_at = p->res->until_ms;
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        outcome(jobs[i], cls == CS_CLASS_BAD_ITEM ? CS_OUT_FAILED : CS_OUT_RETRY, &e,
                cls == CS_CLASS_BAD_ITEM ? "rejected" : "transient");
}

/* ---- deletes ---- */

static void delete_one(push *p, cs_sync_job *j)
{
    woo_job *w = wj(j);
    char path[96];
    cs_http_resp r;
    cs_woo_error e;
    int force = strcmp(p->st->cfg->delete_policy, "force") == 0;
    cs_http_resp_init(&r);
    for (int round = 0; round < 2; round++) {
        snprintf(path, sizeof path, "products/%ld%s", w->remote_id, force ? "?force=true" : "");
        cs_http_resp_reset(&r);
        cs_woo_request(p->st->http, &p->st->conn, "DELETE", path, NULL, 0, &r);
        if (r.err == CS_HTTP_OK && r.status == 200) {
            outcome(j, CS_OUT_DELETED, NULL, NULL);
            break;
        }
        if (r.err == CS_HTTP_OK) {
            cs_woo_parse_error(r.body.data ? r.body.data : "", r.body.len, r.status, &e);
            if (cs_woo_delete_is_done(&e)) {
                outcome(j, CS_OUT_DELETED, NULL, NULL);
                break;
            }
            if (!force && cs_woo_delete_needs_force(&e)) {
                force = 1;      /* the store has no trash: delete for good */
                continue;
            }
        }
        call_failed(p, &j, 1, &r);
        break;
    }
    cs_http_resp_free(&r);
}

static void do_deletes(push *p)
{
    for (size_t i = 0; i < p->n && !p->stopped; i++) {
        cs_sync_job *j = p->jobs[i];
        if (j->ev->type != CS_EV_DELETED)
            continue;
        if (!strcmp(p->st->cfg->delete_policy, "unlink") || wj(j)->remote_id <= 0)
            outcome(j, CS_OUT_DELETED, NULL, NULL);     /* only the records go */
        else
            delete_one(p, j);
    }
}

/* ---- SKU resolution ---- */

/* The file name WordPress gave a sideloaded copy of src starts with src's
 * own name without its extension (it may add "-1", "-scaled"...). */
static int same_file(const char *src, const char *copy)
{
    const char *slash = strrchr(src, '/');
    const char *name = slash ? slash + 1 : src;
    size_t n = strcspn(name, "?#");
    const char *dot = memrchr(name, '.', n);
    if (dot)
        n = (size_t)(dot - name);
    return n > 0 && strncasecmp(name, copy, n) == 0;
}

/* An adopted product (a create whose answer was lost, most often) already
 * holds images: remember their attachment ids against the product's srcs
 * (same count, same order, file names matching), so the update sends ids
 * instead of making the store download every image again. */
static void learn_images(push *p, cs_sync_job *j, const cs_http_resp *r)
{
    woo_job *w = wj(j);
    char (*srcs)[CS_WOO_SRC_MAX] = calloc(CS_WOO_IMAGES_MAX, sizeof *srcs);
    char (*files)[CS_WOO_FILE_MAX] = calloc(CS_WOO_IMAGES_MAX, sizeof *files);
    long ids[CS_WOO_IMAGES_MAX];
    size_t ns = 0, nf = 0, k = 0;
    if (srcs && files) {
        ns = cs_woo_image_srcs(&j->ev->product, p->st->cfg->media_base_url[0]
                               ? p->st->cfg->media_base_url : NULL, srcs, CS_WOO_IMAGES_MAX);
        nf = cs_woo_parse_lookup_images(r->body.data, r->body.len, w->remote_id, ids, files,
                                        CS_WOO_IMAGES_MAX);
    }
    if (ns && ns == nf) {
        woo_free_strs(w->img_src, w->n_img);
        free(w->img_id);
        w->n_img = 0;
        w->img_src = calloc(ns, sizeof *w->img_src);
        w->img_id = calloc(ns, sizeof *w->img_id);
        for (size_t i = 0; w->img_src && w->img_id && i < ns; i++) {
            if (!same_file(srcs[i], files[i]) || !(w->img_src[k] = strdup(srcs[i])))
                continue;
            w->img_id[k++] = ids[i];
        }
        w->n_img = k;
    }
    if (k)
        CS_INFO("woocommerce", "product %s: store %s #%ld already holds %zu of its images; "
                "sent by id", j->ev->product.id, p->st->cfg->id_str, w->remote_id, k);
    free(srcs);
    free(files);
}

/* One GET products?status=<status>&sku=A,B,... for the jobs of [a, b) not
 * resolved yet.  0, or -1 when the call failed (the jobs have outcomes). */
static int lookup_skus(push *p, cs_sync_job **todo, size_t a, size_t b, const char *status,
                       cs_buf *path, cs_http_resp *r)
{
    size_t asked = 0;
    cs_buf_reset(path);
    cs_buf_appendf(path, "products?status=%s&per_page=100&"
                   "_fields=id,sku,status,parent_id,type,images&sku=", status);
    for (size_t i = a; i < b; i++) {
        const char *sku = todo[i]->ev->product.sku;
        if (!sku || strchr(sku, ',') || wj(todo[i])->remote_id > 0)
            continue;   /* no SKU: the mapping fails it; a comma would split the lookup */
        if (asked++)
            cs_buf_appends(path, "%2C");
        cs_http_urlencode(path, sku);
    }
    if (!asked)
        return 0;
    cs_http_resp_reset(r);
    cs_woo_request(p->st->http, &p->st->conn, "GET", path->data, NULL, 0, r);
    if (r->err != CS_HTTP_OK || r->status != 200) {
        call_failed(p, todo + a, b - a, r);
        return -1;
    }
    for (size_t i = a; i < b; i++) {
        const char *sku = todo[i]->ev->product.sku;
        woo_job *w = wj(todo[i]);
        int trashed = 0;
        long id = sku && w->remote_id <= 0
                  ? cs_woo_parse_sku_lookup(r->body.data, r->body.len, sku, &trashed) : 0;
        if (id <= 0)
            continue;
        w->remote_id = id;
        w->adopted = 1;
        w->restore = trashed;
        if (trashed)
            CS_INFO("woocommerce", "product %s: SKU %s is in store %s's trash as #%ld "
                    "(it holds the SKU for creates); restored and updated",
                    todo[i]->ev->product.id, sku, p->st->cfg->id_str, id);
        else
            CS_INFO("woocommerce", "product %s: SKU %s already in store %s as #%ld; adopted",
                    todo[i]->ev->product.id, sku, p->st->cfg->id_str, id);
        learn_images(p, todo[i], r);
    }
    return 0;
}

/* Live products first; a SKU not found there may be held by a trashed
 * product, which WooCommerce 9.3+ counts for creates (its SKU lock answers
 * woocommerce_rest_product_not_created): look there too. */
static void resolve_skus(push *p, cs_sync_job **todo, size_t n)
{
    cs_buf path;
    cs_http_resp r;
    cs_buf_init(&path, 0);
    cs_http_resp_init(&r);
    for (size_t a = 0; a < n && !p->stopped; a += LOOKUP_CHUNK) {
        size_t b = a + LOOKUP_CHUNK < n ? a + LOOKUP_CHUNK : n;
        if (lookup_skus(p, todo, a, b, "any", &path, &r) == 0 && !p->stopped)
            lookup_skus(p, todo, a, b, "trash", &path, &r);
    }
    cs_buf_free(&path);
    cs_http_resp_free(&r);
}

/* ---- batches ---- */

/* The item as sent asked the store to manage stock with a quantity (woo_map
 * writes manage_stock just before stock_quantity). */
static int sent_stock(const push *p, const woo_job *w)
{
    static const char key[] = "\"manage_stock\":true,\"stock_quantity\":";
    return memmem(p->items.data + w->off, w->len, key, sizeof key - 1) != NULL;
}

/* A cached attachment id the store refused (deleted in its media library):
 * forget it, so the image goes by src again.  1 when one was dropped. */
static int drop_image_id(woo_job *w, const cs_woo_error *e)
{
    long bad = 0;
    size_t k = 0;
    if (sscanf(e->message, "#%ld", &bad) != 1)
        bad = 0;                                /* which one is not said: all of them */
    for (size_t i = 0; i < w->n_img; i++) {
        if (bad > 0 && w->img_id[i] != bad) {
            w->img_src[k] = w->img_src[i];
            w->img_id[k++] = w->img_id[i];
        } else {
            free(w->img_src[i]);
        }
    }
    int dropped = k < w->n_img;
    w->n_img = k;
    return dropped;
}

static void item_done(push *p, cs_sync_job *j, const cs_woo_item_result *it, int created)
{
    woo_job *w = wj(j);
    if (it->ok) {
        w->remote_id = it->id;
        w->restore = 0;
        outcome(j, CS_OUT_SYNCED, NULL, NULL);
        if (it->stock_managed == 0 && !p->st->stock_warned && sent_stock(p, w)) {
            p->st->stock_warned = 1;
            CS_WARN("woocommerce", "store %s ignores stock_quantity (product %s was sent one, "
                    "the store shows none): its stock management is off "
                    "(woocommerce_manage_stock = no; WooCommerce -> Settings -> Products -> "
                    "Inventory -> Enable stock management)", p->st->cfg->id_str,
                    j->ev->product.id);
        }
        /* Remember attachment ids so images are not downloaded again. */
        char srcs[CS_WOO_IMAGES_MAX][CS_WOO_SRC_MAX];
        size_t ns = cs_woo_image_srcs(&j->ev->product, p->st->cfg->media_base_url[0]
                                      ? p->st->cfg->media_base_url : NULL, srcs,
                                      CS_WOO_IMAGES_MAX);
        if (ns && ns == it->n_images) {
            woo_free_strs(w->img_src, w->n_img);
            free(w->img_id);
            w->img_src = calloc(ns, sizeof *w->img_src);
            w->img_id = calloc(ns, sizeof *w->img_id);
            w->n_img = 0;
            for (size_t k = 0; w->img_src && w->img_id && k < ns; k++) {
                if (!(w->img_src[k] = strdup(srcs[k])))
                    break;
                w->img_id[k] = it->image_ids[k];
                w->n_img = k + 1;
            }
        }
        return;
    }
    if (created && !strcmp(it->err.code, "product_invalid_sku") && it->err.resource_id > 0 &&
        !w->adopted) {
        w->remote_id = it->err.resource_id;     /* adopt the product that has the SKU */
        w->adopted = 1;
        j->out.kind = CS_OUT_NONE;
        w->op = OP_NONE;
        return;
    }
    if (!strcmp(it->err.code, "woocommerce_product_invalid_image_id") && !w->images_reset &&
        drop_image_id(w, &it->err)) {
        CS_WARN("woocommerce", "product %s: store %s refused a remembered image id (%s); "
                "the image is sent by src", j->ev->product.id, p->st->cfg->id_str,
                it->err.message);
        w->images_reset = 1;                    /* sent again by src in the second pass */
        j->out.kind = CS_OUT_NONE;
        w->op = OP_NONE;
        return;
    }
    if (!created && !strcmp(it->err.code, "woocommerce_rest_product_invalid_id")) {
        w->remote_id = 0;                       /* gone from the store: resolve by SKU */
        w->reset_remote = 1;
        outcome(j, CS_OUT_RETRY, &it->err, "gone");
        return;
    }
    cs_class cls = cs_woo_classify(&it->err);
    outcome(j, cls == CS_CLASS_BAD_ITEM ? CS_OUT_FAILED : CS_OUT_RETRY, &it->err,
            cls == CS_CLASS_BAD_ITEM ? "rejected" : "transient");
}

/* Sends jobs[0, n) (each with op and mapped JSON) in one products/batch call,
 * halving on 413 and 5xx answers. */
static void send_batch(push *p, cs_sync_job **jobs, size_t n)
{
    if (!n || p->stopped)
        return;
    const char **creates = calloc(n, sizeof *creates), **updates = calloc(n, sizeof *updates);
    cs_sync_job **cj = calloc(n, sizeof *cj), **uj = calloc(n, sizeof *uj);
    char **owned = calloc(n, sizeof *owned);
    size_t nc = 0, nu = 0;
    cs_buf body;
    cs_http_resp r;
    char err[256];
    cs_buf_init(&body, 0);
    cs_http_resp_init(&r);
    if (!creates || !updates || !cj || !uj || !owned)
        goto out;
    for (size_t i = 0; i < n; i++) {
        woo_job *w = wj(jobs[i]);
        char *s = malloc(w->len + 1);
        if (!s)
            goto out;
        memcpy(s, p->items.data + w->off, w->len);
        s[w->len] = '\0';
        owned[i] = s;
        if (w->op == OP_CREATE) {
            creates[nc] = s;
            cj[nc++] = jobs[i];
        } else {
            updates[nu] = s;
            uj[nu++] = jobs[i];
        }
    }
    cs_woo_batch_body(&body, creates, nc, updates, nu, NULL, 0);
    cs_woo_request(p->st->http, &p->st->conn, "POST", "products/batch", body.data, body.len, &r);
    if (r.err == CS_HTTP_ETIMEOUT && n > 1) {
        /* Not sent again now: the store may have applied the batch (creates
         * included).  The retry resolves SKUs first, in smaller batches. */
        p->st->batch_cap = n / 2;
        p->st->batch_ok = 0;
        CS_WARN("woocommerce", "store %s: a batch of %zu timed out; halving (batches of at "
                "most %zu)", p->st->cfg->id_str, n, p->st->batch_cap);
    }
    if (r.err == CS_HTTP_OK && r.status == 200 && p->st->batch_cap &&
        ++p->st->batch_ok >= BATCH_REGROW) {
        p->st->batch_cap *= 2;
        p->st->batch_ok = 0;
        if (p->st->batch_cap >= (size_t)p->st->cfg->batch_size)
            p->st->batch_cap = 0;
    }
    if (r.err != CS_HTTP_OK || r.status != 200) {
        int split = n > 1 && r.err == CS_HTTP_OK && (r.status == 413 || r.status >= 500);
        if (split) {
            CS_WARN("woocommerce", "store %s answered %ld to a batch of %zu; halving",
                    p->st->cfg->id_str, r.status, n);
            send_batch(p, jobs, n / 2);
            send_batch(p, jobs + n / 2, n - n / 2);
        } else {
            call_failed(p, jobs, n, &r);
        }
        goto out;
    }
    cs_woo_batch_reply rep;
    memset(&rep, 0, sizeof rep);
    if (cs_woo_parse_batch(r.body.data, r.body.len, nc, nu, 0, &rep, err, sizeof err) != 0) {
        cs_woo_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.code, sizeof e.code, "bad_answer");
        snprintf(e.message, sizeof e.message, "products/batch answer unreadable: %s", err);
        for (size_t i = 0; i < n; i++)
            outcome(jobs[i], CS_OUT_RETRY, &e, "transient");
        goto out;
    }
    for (size_t i = 0; i < nc; i++)
        item_done(p, cj[i], &rep.create[i], 1);
    for (size_t i = 0; i < nu; i++)
        item_done(p, uj[i], &rep.update[i], 0);
    cs_woo_batch_reply_free(&rep);
out:
    for (size_t i = 0; owned && i < n; i++)
        free(owned[i]);
    free(owned);
    free(creates);
    free(updates);
    free(cj);
    free(uj);
    cs_buf_free(&body);
    cs_http_resp_free(&r);
}

/* Maps every upsert job without an outcome; returns how many have an item. */
static size_t map_jobs(push *p, cs_sync_job **todo, size_t n, cs_sync_job **ready)
{
    size_t k = 0;
    char why[512];
    for (size_t i = 0; i < n; i++) {
        cs_sync_job *j = todo[i];
        woo_job *w = wj(j);
        if (j->out.kind != CS_OUT_NONE)
            continue;
        cs_woo_image_ids ids = {(const char *const *)w->img_src, w->img_id, w->n_img};
        cs_woo_map_opts o = {(const char *const *)w->fields, w->n_fields,
                             w->partial && w->remote_id > 0 && j->ev->type != CS_EV_EXPORT_REQUESTED,
                             p->st->cfg->media_base_url[0] ? p->st->cfg->media_base_url : NULL,
                             &ids, p->st->currency[0] ? p->st->currency : NULL, w->restore};
        w->off = p->items.len;
        cs_woo_map_result mr = cs_woo_map_product(j->ev, &o, w->remote_id, &p->items, why,
                                                  sizeof why);
        if (mr == CS_WOO_MAP_FAIL) {
            cs_woo_error e;
            memset(&e, 0, sizeof e);
            snprintf(e.code, sizeof e.code, "mapping");
            snprintf(e.message, sizeof e.message, "%s", why);
            outcome(j, CS_OUT_FAILED, &e, "mapping");
            continue;
        }
        if (mr == CS_WOO_MAP_EMPTY) {
            outcome(j, CS_OUT_SYNCED, NULL, NULL);  /* nothing in its fields changed */
            continue;
        }
        w->len = p->items.len - w->off;
        w->op = w->remote_id > 0 ? OP_UPDATE : OP_CREATE;
        ready[k++] = j;
    }
    return k;
}

static void send_all(push *p, cs_sync_job **ready, size_t k)
{
    size_t size = (size_t)p->st->cfg->batch_size;
    if (p->st->batch_cap && p->st->batch_cap < size)
        size = p->st->batch_cap;
    for (size_t a = 0; a < k && !p->stopped; a += size)
        send_batch(p, ready + a, a + size < k ? size : k - a);
}

/* The store's currency, once per process before its first push: prices in
 * another currency are refused (woo_map), never written as the store's. */
static void read_currency(push *p, cs_sync_job **jobs, size_t n)
{
    cs_http_resp r;
    cs_http_resp_init(&r);
    cs_woo_request(p->st->http, &p->st->conn, "GET", "data/currencies/current", NULL, 0, &r);
    if (r.err == CS_HTTP_OK && r.status == 200 &&
        cs_woo_parse_currency(r.body.data, r.body.len, p->st->currency) == 0) {
        CS_INFO("woocommerce", "store %s: currency %s", p->st->cfg->id_str, p->st->currency);
    } else if (r.err == CS_HTTP_OK && r.status == 200) {
        cs_woo_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.code, sizeof e.code, "bad_answer");
        snprintf(e.message, sizeof e.message, "data/currencies/current: no currency code in "
                 "the answer");
        for (size_t i = 0; i < n; i++)
            outcome(jobs[i], CS_OUT_RETRY, &e, "transient");
        p->stopped = 1;
    } else {
        call_failed(p, jobs, n, &r);
        p->stopped = 1;
    }
    cs_http_resp_free(&r);
}

static void woo_push(void *sink, size_t i, cs_sync_job **jobs, size_t n, const cs_push_ctx *ctx,
                     cs_conn_result *res)
{
    woo_sink *ws = sink;
    push p;
    memset(&p, 0, sizeof p);
    p.ws = ws;
    p.st = &ws->stores[i];
    p.jobs = jobs;
    p.n = n;
    p.ctx = ctx;
    p.res = res;
    cs_buf_init(&p.items, 0);
    cs_sync_job **todo = calloc(n ? n : 1, sizeof *todo);
    cs_sync_job **ready = calloc(n ? n : 1, sizeof *ready);
    size_t nt = 0, nr = 0;
    if (!todo || !ready)
        goto out;
    for (size_t k = 0; k < n; k++)
        memset(&jobs[k]->out, 0, sizeof jobs[k]->out);
    do_deletes(&p);
    for (size_t k = 0; k < n; k++) {
        woo_job *w = wj(jobs[k]);
        if (jobs[k]->ev->type == CS_EV_DELETED || !w)
            continue;
        if (!w->linked && jobs[k]->ev->type != CS_EV_EXPORT_REQUESTED) {
            /* A waiting retry whose link is gone (the product was deleted
             * meanwhile): nothing to push, but it must be settled. */
            outcome(jobs[k], CS_OUT_SKIPPED, NULL, "not_linked");
            snprintf(jobs[k]->out.err_message, sizeof jobs[k]->out.err_message,
                     "not linked to store %s", p.st->cfg->id_str);
            continue;
        }
        todo[nt++] = jobs[k];
    }
    if (nt && !p.st->currency[0])
        read_currency(&p, todo, nt);
    /* Creates are always preceded by a SKU lookup: an earlier create whose
     * answer was lost is adopted, never created twice. */
    size_t nlook = 0;
    for (size_t k = 0; k < nt; k++)
        if (wj(todo[k])->remote_id <= 0)
            ready[nlook++] = todo[k];
    if (nlook && !p.stopped)
        resolve_skus(&p, ready, nlook);
    nr = p.stopped ? 0 : map_jobs(&p, todo, nt, ready);
    send_all(&p, ready, nr);
    /* Creates refused because the SKU exists (product_invalid_sku): update
     * the product that has it, once; items whose remembered image id the
     * store refused go again with that image by src. */
    nr = p.stopped ? 0 : map_jobs(&p, todo, nt, ready);
    send_all(&p, ready, nr);
    for (size_t k = 0; k < n; k++) {
        if (jobs[k]->out.kind == CS_OUT_NONE && !jobs[k]->ignore) {
            if (p.stopped) {
                outcome(jobs[k], CS_OUT_PAUSED, NULL, "paused");
                snprintf(jobs[k]->out.err_message, sizeof jobs[k]->out.err_message, "%s",
                         res->reason);
                jobs[k]->out.resume_at = res->until_ms;
            } else {
                /* Both passes used (e.g. an image id refused, then the SKU
                 * found taken): the next attempt starts from the lookup. */
                outcome(jobs[k], CS_OUT_RETRY, NULL, "transient");
                snprintf(jobs[k]->out.err_message, sizeof jobs[k]->out.err_message,
                         "store %s needs another round for this product", p.st->cfg->id_str);
            }
        }
    }
    if (woo_save_links(&p) != 0) {
        CS_WARN("woocommerce", "store %s: link records not written (Redis); the batch is "
                "read again from Kafka", p.st->cfg->id_str);
        res->redis_failed = 1;
    }
out:
    free(todo);
    free(ready);
    cs_buf_free(&p.items);
}

static void *woo_create(const cs_config *cfg, char *errstr, size_t errstr_size)
{
    if (cfg->n_woo_stores == 0) {
        snprintf(errstr, errstr_size, "no WooCommerce store configured "
                 "(woocommerce.connections is empty)");
        return NULL;
    }
    woo_sink *ws = calloc(1, sizeof *ws);
    if (!ws || !(ws->stores = calloc(cfg->n_woo_stores, sizeof *ws->stores))) {
        free(ws);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    ws->cfg = cfg;
    for (size_t i = 0; i < cfg->n_woo_stores; i++) {
        woo_store *s = &ws->stores[i];
        const cs_woo_store *sc = &cfg->woo_stores[i];
        s->cfg = sc;
        s->conn.base_url = sc->base_url;
        s->conn.auth = (cs_woo_auth)cs_woo_auth_parse(sc->auth);
        s->conn.key = sc->consumer_key;
        s->conn.secret = sc->consumer_secret;
        {
            /* The Basic credential derived from the keys is a secret too. */
            char kv[1024], b64[1400];
            snprintf(kv, sizeof kv, "%s:%s", sc->consumer_key, sc->consumer_secret);
            if (cs_base64(kv, strlen(kv), b64, sizeof b64))
                cs_log_add_secret(b64);
        }
        if (cs_woo_check_auth(sc->base_url, s->conn.auth, errstr, errstr_size) != 0) {
            ws->n = i;
            cs_woo_sink.destroy(ws);
            return NULL;
        }
        cs_http_opts o;
        memset(&o, 0, sizeof o);
        o.timeout_ms = cfg->worker_http_timeout_ms;
        o.ca_file = sc->ca_file[0] ? sc->ca_file : NULL;
        o.insecure = sc->insecure_tls;
        o.fresh_writes = 1;     /* no write is ever re-sent behind our back */
        if (sc->insecure_tls)
            CS_WARN("woocommerce", "store %s: TLS certificate verification is OFF "
                    "(insecure_tls); never use this in production", sc->id_str);
        if (!(s->http = cs_http_new(&o, errstr, errstr_size))) {
            ws->n = i;
            cs_woo_sink.destroy(ws);
            return NULL;
        }
        ws->n = i + 1;
    }
    return ws;
}

static size_t woo_n_conns(void *sink)
{
    return ((woo_sink *)sink)->n;
}

static const char *woo_conn_id(void *sink, size_t i)
{
    return ((woo_sink *)sink)->stores[i].cfg->id_str;
}

static int woo_routes(void *sink, size_t i, const cs_event *ev)
{
    const cs_woo_store *cfg = ((woo_sink *)sink)->stores[i].cfg;
    int named = 0;
    for (size_t k = 0; ev->type == CS_EV_EXPORT_REQUESTED && k < ev->export.n_connections; k++)
        named |= ev->export.connections[k] == cfg->id;
    /* A store holds one tenant's products (docs/TENANTS.md): another
     * tenant's events never reach it, not even an export naming it. */
    if (!cs_woo_store_serves(cfg, ev->tenant)) {
        if (named)
            CS_WARN("woocommerce", "export of product %s of tenant %s names store %s, which "
                    "holds tenant %s's products: not exported", ev->product.id, ev->tenant,
                    cfg->id_str, cfg->tenant);
        return 0;
    }
    /* Other events: prepare keeps only the stores holding a link. */
    return ev->type != CS_EV_EXPORT_REQUESTED || named;
}

static void woo_destroy(void *sink)
{
    woo_sink *ws = sink;
    if (!ws)
        return;
    for (size_t i = 0; i < ws->n; i++)
        cs_http_destroy(ws->stores[i].http);
    free(ws->stores);
    free(ws);
}

static cs_http *woo_conn_http(void *sink, size_t i)
{
    return ((woo_sink *)sink)->stores[i].http;
}

const cs_sink_ops cs_woo_sink = {
    .name = "woocommerce",
    .group = "catalogsync-woocommerce",
    .conn_noun = "store",
    .error_title = "WOOCOMMERCE API ERROR",
    .remote_id_noun = "remote id",
    .create = woo_create,
    .n_conns = woo_n_conns,
    .conn_id = woo_conn_id,
    .routes = woo_routes,
    .prepare = woo_prepare,
    .push = woo_push,
    .destroy = woo_destroy,
    .conn_http = woo_conn_http,
};
