/*
 * meta: the Meta commerce catalog sink.
 *
 * Pushes UPDATE/DELETE records through POST /{catalog}/items_batch, records
 * the returned handle (pending) and returns: meta_confirm.c confirms every
 * record through check_batch_request_status on later turns of the worker's
 * loop (reference §1.3, §1.4): a record is synced only when Meta confirmed it.  Failures are classified once, by cs_graph_classify:
 * transient → retry, throttle → pause the catalog (no attempt charged),
 * auth/permission and a refused catalog (100/33, 368) → pause the catalog and
 * alert, bad item → failed at once.  A call rejected as a whole with a
 * bad-item error is bisected so that one bad record cannot fail its
 * neighbours; one with too much data (code 1) is halved the same way.
 * A record is synced only when the batch status names every failure it
 * counts; Meta's warnings go to the product's state.  A new item is created
 * only with an image (meta_map.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cs_http.h"
#include "cs_log.h"
#include "cs_util.h"
#include "meta_graph.h"
#include "meta_map.h"
#include "meta_priv.h"
#include "sink.h"

#define META_MAX_BODY (28 * 1000 * 1000)

/* ---- outcomes ---- */

void meta_set_error(cs_outcome *o, cs_outcome_kind k, const cs_graph_error *e)
{
    o->kind = k;
    snprintf(o->err_code, sizeof o->err_code, "%d", e->code);
    if (e->subcode)
        snprintf(o->err_subcode, sizeof o->err_subcode, "%d", e->subcode);
    snprintf(o->err_type, sizeof o->err_type, "%s", e->type[0] ? e->type : "http");
    snprintf(o->err_message, sizeof o->err_message, "%s", e->message);
    snprintf(o->err_trace, sizeof o->err_trace, "%s", e->fbtrace_id);
}

void meta_set_simple(cs_outcome *o, cs_outcome_kind k, const char *type, const char *msg)
{
    memset(o, 0, sizeof *o);
    o->kind = k;
    snprintf(o->err_type, sizeof o->err_type, "%s", type);
    snprintf(o->err_message, sizeof o->err_message, "%s", msg);
}

/* ---- mapping ---- */

static int rid_taken(const push *p, const char *rid)
{
    for (size_t i = 0; i < p->n_recs; i++)
        if (strcmp(p->recs[i].rid, rid) == 0)
            return 1;
    return 0;
}

static int add_rec(push *p, size_t job, const char *rid, int extra, size_t off)
{
    meta_rec *r = &p->recs[p->n_recs++];
    r->job = job;
    r->extra = extra;
    snprintf(r->rid, sizeof r->rid, "%.400s", rid);
    r->off = off;
    r->len = p->records.len - off;
    r->warn[0] = '\0';
    return 0;
}

static void map_job(push *p, size_t j)
{
    cs_sync_job *job = p->jobs[j];
    const cs_product *pr = &job->ev->product;
    const cs_sync_state *st = &job->st;
    char rid[CS_META_RID_SIZE], why[512];
    size_t off = p->records.len;
    int was_synced = st->synced_version >= 0 && st->remote_id[0];
    /* Any sign that a request carrying the product left: it may be in the
     * catalog although Meta never confirmed it (answer lost, worker or Redis
     * gone before the outcome was recorded; docs/REDIS.md, field pushed). */
    int maybe_pushed = was_synced || st->pushed || st->remote_id[0] || st->handle[0];

    memset(&job->out, 0, sizeof job->out);
    if (job->ev->type == CS_EV_DELETED || !pr->is_active) {
        const char *target = st->remote_id[0] ? st->remote_id : NULL;
        /* Deleting an item Meta never stored counts as done, so a delete is
         * sent whenever a retailer id is known: an item accepted but never
         * confirmed must not linger in the catalog. */
        if (!target && cs_meta_retailer_id(pr, job->ev->tenant, &p->mc->map, rid, sizeof rid, why, sizeof why) == CS_MAP_OK &&
            (job->ev->type == CS_EV_DELETED || maybe_pushed))
            target = rid;
        if (job->ev->type == CS_EV_DELETED) {
            if (!target) {
                job->out.kind = CS_OUT_DELETED;   /* never in the catalog: only clean up */
                return;
            }
            p->act[j] = ACT_DELETE;
        } else if (!maybe_pushed || !target) {
            meta_set_simple(&job->out, CS_OUT_SKIPPED, "inactive",
                            "inactive and never pushed: not pushed");
            return;
        } else if (!was_synced) {
            /* Maybe in the catalog, never confirmed: removed whatever
             * inactive says, since a hide (an UPDATE of visibility alone)
             * of an item Meta does not have would try to create it and fail
             * for its missing required fields (docs/DESIGN.md). */
            p->act[j] = ACT_REMOVE_INACTIVE;
        } else {
            p->act[j] = strcmp(p->mc->cat->inactive, "delete") == 0 ? ACT_REMOVE_INACTIVE
                                                                     : ACT_HIDE;
        }
        if (target != rid)
            snprintf(rid, sizeof rid, "%.400s", target);
        if (rid_taken(p, rid)) {
            job->out.kind = CS_OUT_RELEASE;
            job->out.resume_at = cs_now_ms();
            return;
        }
        if ((p->act[j] == ACT_HIDE ? cs_meta_map_hide(rid, &p->records)
                                   : cs_meta_map_delete(rid, &p->records)) != 0) {
            meta_set_simple(&job->out, CS_OUT_FAILED, "mapping", "record too large");
            return;
        }
        add_rec(p, j, rid, 0, off);
        return;
    }
    p->act[j] = ACT_UPDATE;
    if (cs_meta_retailer_id(pr, job->ev->tenant, &p->mc->map, rid, sizeof rid, why, sizeof why) != CS_MAP_OK) {
        meta_set_simple(&job->out, CS_OUT_FAILED, "mapping", why);
        return;
    }
    if (rid_taken(p, rid)) {
        /* One retailer id at most once per call: this one waits for the next. */
        job->out.kind = CS_OUT_RELEASE;
        job->out.resume_at = cs_now_ms();
        return;
    }
    /* An item never confirmed at this retailer id (new product, or its SKU
     * changed) may not exist at Meta: the record may create it. */
    int is_new = !was_synced || strcmp(st->remote_id, rid) != 0;
    if (cs_meta_map_update(job->ev, &p->mc->map, is_new, &p->records, why,
                           sizeof why) != CS_MAP_OK) {
        meta_set_simple(&job->out, CS_OUT_FAILED, "mapping", why);
        return;
    }
    add_rec(p, j, rid, 0, off);
    if (was_synced && strcmp(st->remote_id, rid) != 0 && !rid_taken(p, st->remote_id)) {
        /* The retailer id changed (SKU edited): remove the old item. */
        off = p->records.len;
        if (cs_meta_map_delete(st->remote_id, &p->records) == 0)
            add_rec(p, j, st->remote_id, 1, off);
    }
}

/* ---- HTTP ---- */

void meta_base_url(const meta_conn *mc, cs_buf *url, const char *edge)
{
    const char *b = mc->cat->base_url;
    size_t bl = strlen(b);
    while (bl && b[bl - 1] == '/')
        bl--;
    cs_buf_reset(url);
    cs_buf_appendf(url, "%.*s/%s/", (int)bl, b, mc->cat->api_version);
    cs_http_urlencode(url, mc->cat->catalog_id);
    cs_buf_appendf(url, "/%s", edge);
}

void meta_add_proof(const meta_conn *mc, cs_buf *url, int first)
{
    if (mc->proof[0])
        cs_buf_appendf(url, "%cappsecret_proof=%s", first ? '?' : '&', mc->proof);
}

/* One Graph call; fills resp.  Returns the transport result. */
cs_http_err meta_graph_call(meta_conn *mc, const char *method, const char *url,
                            const char *body, size_t len, cs_http_resp *resp)
{
    const char *hdrs[] = {mc->auth, "Content-Type: application/json", "Accept: application/json",
                          NULL};
    cs_http_resp_reset(resp);
    return cs_http_request(mc->http, method, url, hdrs, body, body ? len : 0, NULL, NULL, resp);
}

/* Turns a failed answer into a class and error; transport errors are
 * transient. */
cs_class meta_failed_answer(const cs_http_resp *resp, cs_graph_error *e)
{
    memset(e, 0, sizeof *e);
    if (resp->err != CS_HTTP_OK) {
        e->code = 0;
        snprintf(e->type, sizeof e->type, "%s", cs_http_err_name(resp->err));
        snprintf(e->message, sizeof e->message, "%s: %s", cs_http_err_name(resp->err),
                 resp->errstr);
        return resp->err == CS_HTTP_ETLS ? CS_CLASS_AUTH : CS_CLASS_TRANSIENT;
    }
    cs_graph_parse_error(resp->body.data ? resp->body.data : "", resp->body.len, resp->status, e);
    return cs_graph_classify(e);
}

/* Applies a connection-level verdict (throttle, auth, refused) to the push. */
void meta_pause_conn(push *p, cs_class cls, const cs_http_resp *resp, const cs_graph_error *e)
{
    const cs_config *cfg = p->ms->cfg;
    int64_t now = cs_now_ms(), ms;
    if (cls == CS_CLASS_THROTTLE) {
        int pct = -1;
        ms = cs_graph_throttle_pause_ms(cs_http_resp_header(resp, "x-business-use-case-usage"),
                                        cs_http_resp_header(resp, "x-app-usage"),
                                        cs_http_retry_after_ms(resp, now),
                                        cfg->retry_throttle_default_ms, &pct);
        snprintf(p->res->kind, sizeof p->res->kind, "throttle");
    } else {
        ms = cfg->retry_auth_pause_ms;     /* auth, refused: a person must act; alerted */
        snprintf(p->res->kind, sizeof p->res->kind, "%s", cs_class_name(cls));
    }
    p->res->pause = 1;
    p->res->until_ms = now + ms;
    snprintf(p->res->reason, sizeof p->res->reason, "code %d%s%.0d: %.400s", e->code,
             e->subcode ? "/" : "", e->subcode, e->message);
    p->stopped = 1;
}

void meta_outcome_for_recs(push *p, size_t a, size_t b, cs_outcome_kind k,
                           const cs_graph_error *e)
{
    for (size_t i = a; i < b; i++) {
        if (p->recs[i].extra)
            continue;
        cs_outcome *o = &p->jobs[p->recs[i].job]->out;
        memset(o, 0, sizeof *o);
        meta_set_error(o, k, e);
        snprintf(o->remote_id, sizeof o->remote_id, "%s", p->recs[i].rid);
        if (k == CS_OUT_PAUSED)
            o->resume_at = p->res->until_ms;
    }
}

/* Sends recs[a, b) in one items_batch call (bisecting on a whole-call
 * bad-item error); what Meta accepted is recorded pending and left to
 * meta_confirm.c. */
static void send_range(push *p, size_t a, size_t b)
{
    meta_conn *mc = p->mc;
    cs_buf body, url;
    cs_http_resp resp;
    char err[256];
    if (a >= b || p->stopped)
        return;
    /* Backpressure: at most max_pending_batches unconfirmed per catalog. */
    if (meta_confirm_count(mc->pending) >= (size_t)p->ms->cfg->worker_max_pending_batches &&
        meta_confirm_turn(p->ms, (size_t)(mc - p->ms->conns), p->ctx, 1) != 0)
        p->res->redis_failed = 1;
    cs_buf_init(&body, META_MAX_BODY);
    cs_buf_init(&url, 0);
    cs_http_resp_init(&resp);
    cs_buf_appends(&body, "{\"item_type\":\"PRODUCT_ITEM\",\"allow_upsert\":true,\"requests\":[");
    for (size_t i = a; i < b; i++) {
        if (i > a)
            cs_buf_appendc(&body, ',');
        cs_buf_append(&body, p->records.data + p->recs[i].off, p->recs[i].len);
    }
    cs_buf_appends(&body, "]}");
    meta_base_url(mc, &url, "items_batch");
    meta_add_proof(mc, &url, 1);
    meta_graph_call(mc, "POST", url.data, body.data, body.len, &resp);

    if (resp.err != CS_HTTP_OK || resp.status != 200) {
        cs_graph_error e;
        cs_class cls = meta_failed_answer(&resp, &e);
        /* Split a call rejected as a whole for one bad record (bisection) or
         * for its size; a refused catalog pauses below instead: every record
         * would fail the same way. */
        if ((cls == CS_CLASS_BAD_ITEM || cls == CS_CLASS_TOO_LARGE) && b - a > 1) {
            size_t mid = a + (b - a) / 2;
            cs_buf_free(&body);
            cs_buf_free(&url);
            cs_http_resp_free(&resp);
            send_range(p, a, mid);
            send_range(p, mid, b);
            return;
        }
        if (cls == CS_CLASS_THROTTLE || cls == CS_CLASS_AUTH || cls == CS_CLASS_REFUSED) {
            meta_pause_conn(p, cls, &resp, &e);
            meta_outcome_for_recs(p, a, b, CS_OUT_PAUSED, &e);
        } else {
            meta_outcome_for_recs(p, a, b, cls == CS_CLASS_BAD_ITEM || cls == CS_CLASS_TOO_LARGE
                                           ? CS_OUT_FAILED : CS_OUT_RETRY, &e);
        }
        goto out;
    }
    cs_graph_batch_reply rep;
    memset(&rep, 0, sizeof rep);
    if (cs_graph_parse_items_batch(resp.body.data, resp.body.len, &rep, err, sizeof err) != 0) {
        cs_graph_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.type, sizeof e.type, "bad_answer");
        snprintf(e.message, sizeof e.message, "items_batch answer unreadable: %s", err);
        meta_outcome_for_recs(p, a, b, CS_OUT_RETRY, &e);
        goto out;
    }
    for (size_t i = 0; i < rep.n_invalid; i++) {
        meta_rec *r = meta_find_rec(p, a, b, rep.invalid[i].retailer_id);
        if (r && r->rid[0])
            meta_fail_rec(p, r, rep.invalid[i].message);
    }
    for (size_t i = 0; i < rep.n_warned; i++) {
        meta_rec *r = meta_find_rec(p, a, b, rep.warned[i].retailer_id);
        if (r && r->rid[0])
            meta_warn_rec(r, rep.warned[i].message);
    }
    size_t waiting = 0;
    cs_sync_job **pend = malloc((b - a) * sizeof *pend);
    if (!pend) {
        cs_graph_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.type, sizeof e.type, "memory");
        snprintf(e.message, sizeof e.message, "out of memory recording batch %s", rep.handle);
        meta_outcome_for_recs(p, a, b, CS_OUT_RETRY, &e);
    }
    for (size_t i = a; pend && i < b; i++) {
        meta_rec *r = &p->recs[i];
        if (!r->rid[0] || r->extra)
            continue;
        cs_outcome *o = &p->jobs[r->job]->out;
        o->kind = CS_OUT_PENDING;
        snprintf(o->handle, sizeof o->handle, "%s", rep.handle);
        pend[waiting++] = p->jobs[r->job];
    }
    if (!rep.handle[0]) {
        cs_graph_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.type, sizeof e.type, "no_handle");
        snprintf(e.message, sizeof e.message, "items_batch returned no handle: nothing ingested");
        for (size_t i = 0; i < waiting; i++)
            pend[i]->out.kind = CS_OUT_NONE;
        meta_outcome_for_recs(p, a, b, CS_OUT_RETRY, &e);
    } else if (waiting) {
        /* Pending with the handle, durably, before anything polls it; then
         * confirmed on later turns (meta_confirm.c): the push goes on. */
        int64_t recover_at = meta_confirm_recover_at(p->ms->cfg);
        for (size_t i = 0; i < waiting; i++)
            pend[i]->out.resume_at = recover_at;
        if (p->ctx->mark_pending(p->ctx->worker, pend, waiting) != 0) {
            CS_WARN("meta", "catalog %s: could not record handle %s (Redis)", mc->cat->id,
                    rep.handle);
            p->res->redis_failed = 1;
        } else if (meta_confirm_track(p, rep.handle, a, b, 0) != 0) {
            CS_ERROR("meta", "catalog %s: out of memory keeping batch %s; its products are "
                     "confirmed by a later attempt", mc->cat->id, rep.handle);
        }
        for (size_t i = a; i < b; i++)
            if (p->recs[i].rid[0] && !p->recs[i].extra)
                p->sent[p->recs[i].job] = 1;
    }
    free(pend);
    cs_graph_batch_reply_free(&rep);
out:
    cs_buf_free(&body);
    cs_buf_free(&url);
    cs_http_resp_free(&resp);
}

/* A job whose earlier push of this version was accepted (its handle is
 * recorded: a worker stopped, or the batch outlasted confirm_timeout_ms):
 * that handle is polled once instead of pushing again; still running, the
 * job is kept pending and the batch tracked (meta_confirm.c).  Pushed again
 * only when Meta says the batch did not apply it (error/canceled, unknown
 * handle).  *running: a handle this push found still running (not polled
 * again for the next job).  1 when the job needs no push now. */
static int confirm_recorded(push *p, size_t j, char *running, size_t running_size)
{
    cs_sync_job *job = p->jobs[j];
    char rid[CS_META_RID_SIZE], why[256];
    if (!job->st.handle[0] || job->ev->type == CS_EV_DELETED || !job->ev->product.is_active ||
        cs_meta_retailer_id(&job->ev->product, job->ev->tenant, &p->mc->map, rid, sizeof rid, why, sizeof why) != CS_MAP_OK)
        return 0;
    size_t save = p->n_recs;
    p->act[j] = ACT_UPDATE;
    add_rec(p, j, rid, 0, p->records.len);
    int64_t wait = 0;
    confirm_result r = strcmp(running, job->st.handle) == 0
                       ? CONF_RUNNING : meta_confirm_poll(p, job->st.handle, save, save + 1, &wait);
    if (r == CONF_FINISHED && job->out.kind == CS_OUT_SYNCED) {
        CS_INFO("meta", "product %s: earlier batch %s confirmed; not pushed again",
                job->ev->product.id, job->st.handle);
    } else if (r == CONF_RUNNING) {
        CS_INFO("meta", "product %s: earlier batch %s still running; not pushed again",
                job->ev->product.id, job->st.handle);
        snprintf(running, running_size, "%s", job->st.handle);
        memset(&job->out, 0, sizeof job->out);
        job->out.kind = CS_OUT_PENDING;
        snprintf(job->out.handle, sizeof job->out.handle, "%s", job->st.handle);
        job->out.resume_at = meta_confirm_recover_at(p->ms->cfg);
        if (p->ctx->mark_pending(p->ctx->worker, &job, 1) != 0)
            p->res->redis_failed = 1;
        else if (meta_confirm_track(p, job->st.handle, save, save + 1, 1) != 0)
            CS_ERROR("meta", "product %s: out of memory keeping batch %s; confirmed by a later "
                     "attempt", job->ev->product.id, job->st.handle);
        p->sent[j] = 1;
    }
    p->n_recs = save;
    /* Meta did not apply it, or finished the batch without being able to say
     * whether this record failed (a retry, not a named failure): push it now. */
    if (r == CONF_NOT_APPLIED || (r == CONF_FINISHED && job->out.kind == CS_OUT_RETRY))
        memset(&job->out, 0, sizeof job->out);
    return p->sent[j] || job->out.kind != CS_OUT_NONE;
}

/* A job whose product has a batch tracked here: the same version is being
 * confirmed already (a claimed retry hands its lease to the tracked copy),
 * an older one still runs at Meta, which applies batches as they finish:
 * this version waits for it.  1 when the job needs no push now. */
static int held_here(push *p, size_t j)
{
    cs_sync_job *job = p->jobs[j];
    cs_sync_job *t = meta_confirm_held(p->mc, job->member);
    if (!t)
        return 0;
    if (t->ev->product.version == job->ev->product.version) {
        if (job->from_retry) {
            /* The lease moves: the worker settles (or hands back) only
             * the claims its jobs still hold. */
            t->from_retry = 1;
            memcpy(t->token, job->token, sizeof t->token);
            job->from_retry = 0;
            job->token[0] = '\0';
        }
        p->sent[j] = 1;
        return 1;
    }
    job->out.kind = CS_OUT_RELEASE;
    job->out.resume_at = cs_now_ms() + p->ms->cfg->worker_confirm_poll_ms;
    return 1;
}

static void meta_push(void *sink, size_t i, cs_sync_job **jobs, size_t n, const cs_push_ctx *ctx,
                      cs_conn_result *res)
{
    meta_sink *ms = sink;
    push p;
    memset(&p, 0, sizeof p);
    p.ms = ms;
    p.mc = &ms->conns[i];
    p.jobs = jobs;
    p.n_jobs = n;
    p.ctx = ctx;
    p.res = res;
    p.act = calloc(n ? n : 1, sizeof *p.act);
    p.recs = calloc(n * 2 + 1, sizeof *p.recs);
    p.sent = calloc(n ? n : 1, 1);
    char running[256] = "";
    cs_buf_init(&p.records, 0);
    if (!p.act || !p.recs || !p.sent) {
        for (size_t k = 0; k < n; k++)
            meta_set_simple(&jobs[k]->out, CS_OUT_RETRY, "memory", "out of memory");
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        if (held_here(&p, k) || confirm_recorded(&p, k, running, sizeof running))
            continue;
        if (p.stopped) {
            jobs[k]->out.kind = CS_OUT_PAUSED;
            jobs[k]->out.resume_at = res->until_ms;
            continue;
        }
        map_job(&p, k);
    }
    /* Calls of at most batch_size records and 28 MB. */
    size_t a = 0, bytes = 0;
    for (size_t k = 0; k < p.n_recs; k++) {
        if (k > a && (k - a >= (size_t)p.mc->cat->batch_size ||
                      bytes + p.recs[k].len > META_MAX_BODY - 1024)) {
            send_range(&p, a, k);
            a = k;
            bytes = 0;
        }
        bytes += p.recs[k].len + 1;
    }
    send_range(&p, a, p.n_recs);
    if (p.stopped) {
        /* Records never sent because the catalog paused mid-push. */
        for (size_t k = 0; k < n; k++)
            if (jobs[k]->out.kind == CS_OUT_NONE && !p.sent[k]) {
                meta_set_simple(&jobs[k]->out, CS_OUT_PAUSED, "paused", res->reason);
                jobs[k]->out.resume_at = res->until_ms;
            }
    }
out:
    free(p.act);
    free(p.recs);
    free(p.sent);
    cs_buf_free(&p.records);
}

/* A WARN at start when the catalog's Graph API version stops working within
 * CS_GRAPH_VERSION_WARN_DAYS days (or has: Meta then serves the next one). */
static void warn_version(const cs_meta_catalog *cat)
{
    int64_t end_s, now_s = cs_now_ms() / 1000;
    char end[11];
    if (!cs_graph_version_end(cat->api_version, &end_s, end))
        return;
    if (end_s <= now_s)
        CS_WARN("meta", "catalog %s: Graph API %s stopped working on %s (Meta answers with a "
                "newer version); set meta.catalogs[].api_version = \"%s\"", cat->id,
                cat->api_version, end, CS_GRAPH_DEFAULT_VERSION);
    else if (end_s - now_s <= (int64_t)CS_GRAPH_VERSION_WARN_DAYS * 86400)
        CS_WARN("meta", "catalog %s: Graph API %s stops working on %s (in %lld days); set "
                "meta.catalogs[].api_version = \"%s\"", cat->id, cat->api_version, end,
                (long long)((end_s - now_s + 86399) / 86400), CS_GRAPH_DEFAULT_VERSION);
}

static void *meta_create(const cs_config *cfg, char *errstr, size_t errstr_size)
{
    if (cfg->n_meta_catalogs == 0) {
        snprintf(errstr, errstr_size, "no Meta catalog configured (meta.catalogs is empty)");
        return NULL;
    }
    meta_sink *ms = calloc(1, sizeof *ms);
    if (!ms || !(ms->conns = calloc(cfg->n_meta_catalogs, sizeof *ms->conns))) {
        free(ms);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    ms->cfg = cfg;
    ms->n = cfg->n_meta_catalogs;
    for (size_t i = 0; i < ms->n; i++) {
        meta_conn *mc = &ms->conns[i];
        const cs_meta_catalog *cat = &cfg->meta_catalogs[i];
        mc->cat = cat;
        cs_http_opts o;
        memset(&o, 0, sizeof o);
        o.timeout_ms = cfg->worker_http_timeout_ms;
        o.ca_file = cat->ca_file[0] ? cat->ca_file : NULL;
        o.insecure = cat->insecure_tls;
        if (cat->insecure_tls)
            CS_WARN("meta", "catalog %s: TLS certificate verification is OFF (insecure_tls); "
                    "never use this in production", cat->id);
        if (strncmp(cat->base_url, "http://", 7) == 0)     /* loopback only (config check) */
            CS_WARN("meta", "catalog %s: plain http:// to %s: the token is sent without TLS "
                    "(accepted only because the host is this machine)", cat->id, cat->base_url);
        if (!(mc->pending = meta_confirm_new())) {
            snprintf(errstr, errstr_size, "out of memory");
            ms->n = i;
            cs_meta_sink.destroy(ms);
            return NULL;
        }
        if (!(mc->http = cs_http_new(&o, errstr, errstr_size))) {
            meta_confirm_free(mc->pending);
            ms->n = i;
            cs_meta_sink.destroy(ms);
            return NULL;
        }
        mc->map.rid_source = strcmp(cat->retailer_id, "product_id") == 0 ? CS_RID_PRODUCT_ID
                                                                         : CS_RID_SKU;
        mc->map.include_images = cat->include_images;
        mc->map.media_base_url = cat->media_base_url[0] ? cat->media_base_url : NULL;
        mc->map.link_base_url = cat->link_base_url[0] ? cat->link_base_url : NULL;
        mc->map.default_brand = cat->default_brand[0] ? cat->default_brand : NULL;
        mc->map.qualify_tenant = cat->qualify_ids;
        mc->map.placeholder_image_url = cat->placeholder_image_url[0] ? cat->placeholder_image_url
                                                                      : NULL;
        warn_version(cat);
        if (cat->app_secret[0]) {
            cs_graph_appsecret_proof(cat->app_secret, cat->token, mc->proof);
            cs_log_add_secret(mc->proof);
        }
        snprintf(mc->auth, sizeof mc->auth, "Authorization: Bearer %s", cat->token);
    }
    return ms;
}

static size_t meta_n_conns(void *sink)
{
    return ((meta_sink *)sink)->n;
}

static const char *meta_conn_id(void *sink, size_t i)
{
    return ((meta_sink *)sink)->conns[i].cat->id;
}

static int meta_routes(void *sink, size_t i, const cs_event *ev)
{
    meta_sink *ms = sink;
    /* Exports are WooCommerce's; every other event reaches each catalog that
     * serves the tenant (no opt-in, as in the seed; docs/TENANTS.md). */
    return ev->type != CS_EV_EXPORT_REQUESTED &&
           cs_meta_catalog_serves(ms->conns[i].cat, ev->tenant);
}

static void meta_destroy(void *sink)
{
    meta_sink *ms = sink;
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        cs_http_destroy(ms->conns[i].http);
        meta_confirm_free(ms->conns[i].pending);
    }
    free(ms->conns);
    free(ms);
}

static cs_http *meta_conn_http(void *sink, size_t i)
{
    return ((meta_sink *)sink)->conns[i].http;
}

/* Every turn of the worker's loop: the batches due are polled, the finished
 * ones settled; when stopping, what is unconfirmed is left for the next
 * worker (meta_confirm.c). */
static int64_t meta_confirm_op(void *sink, size_t i, const cs_push_ctx *ctx, int stopping)
{
    meta_sink *ms = sink;
    if (stopping) {
        meta_confirm_hand_over(ms, i, ctx);
        return 0;
    }
    meta_confirm_turn(ms, i, ctx, 0);
    return meta_confirm_next_poll(ms, i);
}

const cs_sink_ops cs_meta_sink = {
    .name = "meta",
    .group = "catalogsync-meta",
    .conn_noun = "catalog",
    .error_title = "META API ERROR",
    .remote_id_noun = "retailer id",
    .trace_label = "fbtrace_id",
    .create = meta_create,
    .n_conns = meta_n_conns,
    .conn_id = meta_conn_id,
    .routes = meta_routes,
    .push = meta_push,
    .destroy = meta_destroy,
    .conn_http = meta_conn_http,
    .confirm = meta_confirm_op,
};
