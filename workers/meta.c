/*
 * meta: the Meta commerce catalog sink.
 *
 * Pushes UPDATE/DELETE records through POST /{catalog}/items_batch, records
 * the returned handle, and confirms every record through
 * check_batch_request_status (reference §1.3, §1.4): a record is synced only
 * when Meta confirmed it.  Failures are classified once, by cs_graph_classify:
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
#include "sink.h"

#define META_MAX_BODY (28 * 1000 * 1000)

typedef enum { ACT_UPDATE, ACT_DELETE, ACT_HIDE, ACT_REMOVE_INACTIVE } meta_action;

typedef struct meta_rec {
    size_t job;                 /* index into the push's jobs */
    char rid[CS_META_RID_SIZE];
    int extra;                  /* deletion of an old retailer id: outcome not tied to the job */
    size_t off, len;            /* the record's JSON inside the push's record buffer */
    char warn[512];             /* what Meta accepted but did not apply ("" = nothing) */
} meta_rec;

typedef struct meta_conn {
    const cs_meta_catalog *cat;
    cs_http *http;
    cs_meta_map_opts map;
    char proof[65];
    char auth[1100];
} meta_conn;

typedef struct meta_sink {
    const cs_config *cfg;
    meta_conn *conns;
    size_t n;
} meta_sink;

/* State of one push to one catalog. */
typedef struct push {
    meta_sink *ms;
    meta_conn *mc;
    cs_sync_job **jobs;
    size_t n_jobs;
    meta_action *act;
    meta_rec *recs;
    size_t n_recs;
    cs_buf records;
    const cs_push_ctx *ctx;
    cs_conn_result *res;
    int stopped;                /* catalog paused: the rest is not sent */
} push;

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- outcomes ---- */

static void set_error(cs_outcome *o, cs_outcome_kind k, const cs_graph_error *e)
{
    o->kind = k;
    snprintf(o->err_code, sizeof o->err_code, "%d", e->code);
    if (e->subcode)
        snprintf(o->err_subcode, sizeof o->err_subcode, "%d", e->subcode);
    snprintf(o->err_type, sizeof o->err_type, "%s", e->type[0] ? e->type : "http");
    snprintf(o->err_message, sizeof o->err_message, "%s", e->message);
    snprintf(o->err_trace, sizeof o->err_trace, "%s", e->fbtrace_id);
}

static void set_simple(cs_outcome *o, cs_outcome_kind k, const char *type, const char *msg)
{
    memset(o, 0, sizeof *o);
    o->kind = k;
    snprintf(o->err_type, sizeof o->err_type, "%s", type);
    snprintf(o->err_message, sizeof o->err_message, "%s", msg);
}

/* Outcome of a job whose records Meta confirmed; warn = Meta's warnings
 * about the record ("" = none). */
static void confirmed(push *p, size_t j, const char *rid, const char *warn)
{
    cs_outcome *o = &p->jobs[j]->out;
    memset(o, 0, sizeof *o);
    switch (p->act[j]) {
    case ACT_UPDATE:
        o->kind = CS_OUT_SYNCED;
        snprintf(o->warnings, sizeof o->warnings, "%s", warn);
        break;
    case ACT_DELETE:
        o->kind = CS_OUT_DELETED;
        break;
    case ACT_HIDE:
        o->kind = CS_OUT_SKIPPED;
        snprintf(o->err_message, sizeof o->err_message, "inactive: hidden in the catalog");
        break;
    case ACT_REMOVE_INACTIVE:
        o->kind = CS_OUT_SKIPPED;
        snprintf(o->err_message, sizeof o->err_message, "inactive: removed from the catalog");
        break;
    }
    snprintf(o->remote_id, sizeof o->remote_id, "%s", rid);
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
            set_simple(&job->out, CS_OUT_SKIPPED, "inactive",
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
            set_simple(&job->out, CS_OUT_FAILED, "mapping", "record too large");
            return;
        }
        add_rec(p, j, rid, 0, off);
        return;
    }
    p->act[j] = ACT_UPDATE;
    if (cs_meta_retailer_id(pr, job->ev->tenant, &p->mc->map, rid, sizeof rid, why, sizeof why) != CS_MAP_OK) {
        set_simple(&job->out, CS_OUT_FAILED, "mapping", why);
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
        set_simple(&job->out, CS_OUT_FAILED, "mapping", why);
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

static void base_url(const meta_conn *mc, cs_buf *url, const char *edge)
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

static void add_proof(const meta_conn *mc, cs_buf *url, int first)
{
    if (mc->proof[0])
        cs_buf_appendf(url, "%cappsecret_proof=%s", first ? '?' : '&', mc->proof);
}

/* One Graph call; fills resp.  Returns the transport result. */
static cs_http_err graph_call(meta_conn *mc, const char *method, const char *url,
                              const char *body, size_t len, cs_http_resp *resp)
{
    const char *hdrs[] = {mc->auth, "Content-Type: application/json", "Accept: application/json",
                          NULL};
    cs_http_resp_reset(resp);
    return cs_http_request(mc->http, method, url, hdrs, body, body ? len : 0, NULL, NULL, resp);
}

/* Turns a failed answer into a class and error; transport errors are
 * transient. */
static cs_class failed_answer(const cs_http_resp *resp, cs_graph_error *e)
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
static void pause_conn(push *p, cs_class cls, const cs_http_resp *resp, const cs_graph_error *e)
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

static void outcome_for_recs(push *p, size_t a, size_t b, cs_outcome_kind k,
                             const cs_graph_error *e)
{
    for (size_t i = a; i < b; i++) {
        if (p->recs[i].extra)
            continue;
        cs_outcome *o = &p->jobs[p->recs[i].job]->out;
        memset(o, 0, sizeof *o);
        set_error(o, k, e);
        snprintf(o->remote_id, sizeof o->remote_id, "%s", p->recs[i].rid);
        if (k == CS_OUT_PAUSED)
            o->resume_at = p->res->until_ms;
    }
}

/* Appends Meta's warning msg about record r (shown by catalogsyncctl show). */
static void warn_rec(meta_rec *r, const char *msg)
{
    size_t n = strlen(r->warn);
    if (r->extra || !msg[0] || strstr(r->warn, msg))
        return;
    snprintf(r->warn + n, sizeof r->warn - n, "%s%s", n ? "; " : "", msg);
}

static meta_rec *find_rec(push *p, size_t a, size_t b, const char *rid)
{
    for (size_t i = a; i < b; i++)
        if (strcmp(p->recs[i].rid, rid) == 0)
            return &p->recs[i];
    return NULL;
}

static void fail_rec(push *p, meta_rec *r, const char *msg)
{
    if (r->extra) {
        CS_WARN("meta", "removing old retailer id %s from catalog %s failed: %s", r->rid,
                p->mc->cat->id, msg);
        return;
    }
    cs_sync_job *j = p->jobs[r->job];
    if (p->act[r->job] != ACT_UPDATE) {
        /* A DELETE or hide of an item Meta does not hold (removed by hand in
         * Commerce Manager, or never created): nothing is left to remove. */
        CS_INFO("meta", "catalog %s: %s of retailer id %s counts as done (Meta: %s)",
                p->mc->cat->id, p->act[r->job] == ACT_HIDE ? "hide" : "delete", r->rid, msg);
        confirmed(p, r->job, r->rid, "");
        r->rid[0] = '\0';
        return;
    }
    set_simple(&j->out, CS_OUT_FAILED, "item", msg);
    snprintf(j->out.err_code, sizeof j->out.err_code, "item");
    snprintf(j->out.remote_id, sizeof j->out.remote_id, "%s", r->rid);
    r->rid[0] = '\0';   /* settled: not confirmed below */
}

/* Number of distinct retailer ids a finished batch status names as failed
 * (ids_of_invalid_requests and the errors sample). */
static long named_failures(const cs_graph_batch_status *st)
{
    long n = 0;
    for (size_t i = 0; i < st->n_invalid_ids; i++) {
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(st->invalid_ids[k], st->invalid_ids[i]) == 0;
        n += !dup;
    }
    for (size_t i = 0; i < st->n_errors; i++) {
        const char *id = st->errors[i].retailer_id;
        int dup = !id[0];
        for (size_t k = 0; k < st->n_invalid_ids && !dup; k++)
            dup = strcmp(st->invalid_ids[k], id) == 0;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(st->errors[k].retailer_id, id) == 0;
        n += !dup;
    }
    return n;
}

/* What polling a handle found out (docs/DESIGN.md, "Confirmed means confirmed"). */
typedef enum {
    CONF_FINISHED,      /* finished: its records confirmed, or failed where Meta listed them */
    CONF_NOT_APPLIED,   /* ended in error/canceled, or unknown handle: push again */
    CONF_RUNNING,       /* still running at confirm_timeout_ms: the handle is kept (RETRY) */
    CONF_PAUSED         /* the catalog was paused (outcomes PAUSED) */
} confirm_result;

/* Polls check_batch_request_status until the handle is done or
 * confirm_timeout_ms ran out.  Records of [a, b) not finished get an outcome:
 * RETRY (carrying the handle while the batch may still apply them), PAUSED. */
static confirm_result confirm(push *p, const char *handle, size_t a, size_t b)
{
    meta_conn *mc = p->mc;
    const cs_config *cfg = p->ms->cfg;
    cs_buf url;
    cs_http_resp resp;
    cs_graph_batch_status st;
    char err[256];
    int64_t deadline = cs_mono_ms() + cfg->worker_confirm_timeout_ms;
    int64_t wait = cfg->worker_confirm_poll_ms;
    confirm_result result = CONF_RUNNING;

    cs_buf_init(&url, 0);
    cs_http_resp_init(&resp);
    base_url(mc, &url, "check_batch_request_status?handle=");
    cs_http_urlencode(&url, handle);
    cs_buf_appends(&url, "&load_ids_of_invalid_requests=true&fields=handle,status,errors,"
                         "errors_total_count,warnings,ids_of_invalid_requests");
    add_proof(mc, &url, 0);
    for (;;) {
        graph_call(mc, "GET", url.data, NULL, 0, &resp);
        if (resp.err == CS_HTTP_OK && resp.status == 200) {
            memset(&st, 0, sizeof st);
            if (cs_graph_parse_batch_status(resp.body.data, resp.body.len, &st, err, sizeof err) == 0) {
                if (st.finished) {
                    for (size_t i = 0; i < st.n_invalid_ids; i++) {
                        meta_rec *r = find_rec(p, a, b, st.invalid_ids[i]);
                        const char *msg = "rejected by Meta (listed in ids_of_invalid_requests)";
                        for (size_t k = 0; k < st.n_errors; k++)
                            if (strcmp(st.errors[k].retailer_id, st.invalid_ids[i]) == 0)
                                msg = st.errors[k].message;
                        if (r && r->rid[0])
                            fail_rec(p, r, msg);
                    }
                    for (size_t k = 0; k < st.n_errors; k++) {
                        meta_rec *r = find_rec(p, a, b, st.errors[k].retailer_id);
                        if (r && r->rid[0])
                            fail_rec(p, r, st.errors[k].message);
                    }
                    for (size_t k = 0; k < st.n_warnings; k++) {
                        meta_rec *r = find_rec(p, a, b, st.warnings[k].retailer_id);
                        if (r && r->rid[0])
                            warn_rec(r, st.warnings[k].message);
                    }
                    long named = named_failures(&st);
                    if (st.errors_total_count > named) {
                        /* "errors" is a sample: records failed that neither it nor
                         * ids_of_invalid_requests names, so none left is known good. */
                        cs_graph_error e;
                        memset(&e, 0, sizeof e);
                        snprintf(e.type, sizeof e.type, "unconfirmed");
                        snprintf(e.message, sizeof e.message, "batch %s: Meta counts %ld failed "
                                 "records but names %ld; the others cannot be told apart, so "
                                 "they are pushed again", handle, st.errors_total_count, named);
                        for (size_t i = a; i < b; i++)
                            if (p->recs[i].rid[0] && !p->recs[i].extra) {
                                set_error(&p->jobs[p->recs[i].job]->out, CS_OUT_RETRY, &e);
                                p->recs[i].rid[0] = '\0';
                            }
                    }
                    if (strcmp(st.status, "finished") == 0) {
                        result = CONF_FINISHED;
                    } else {
                        result = CONF_NOT_APPLIED;
                        cs_graph_error e;
                        memset(&e, 0, sizeof e);
                        snprintf(e.type, sizeof e.type, "batch_%s", st.status);
                        snprintf(e.message, sizeof e.message, "batch %s ended in status %s; "
                                 "records may not have been applied", handle, st.status);
                        for (size_t i = a; i < b; i++)
                            if (p->recs[i].rid[0] && !p->recs[i].extra) {
                                cs_outcome *o = &p->jobs[p->recs[i].job]->out;
                                set_error(o, CS_OUT_RETRY, &e);
                                snprintf(o->remote_id, sizeof o->remote_id, "%s", p->recs[i].rid);
                                p->recs[i].rid[0] = '\0';
                            }
                    }
                    cs_graph_batch_status_free(&st);
                    break;
                }
                cs_graph_batch_status_free(&st);
            } else {
                CS_WARN("meta", "catalog %s: unreadable batch status: %s", mc->cat->id, err);
            }
        } else {
            cs_graph_error e;
            cs_class cls = failed_answer(&resp, &e);
            if (cls == CS_CLASS_AUTH || cls == CS_CLASS_REFUSED) {
                pause_conn(p, cls, &resp, &e);
                outcome_for_recs(p, a, b, CS_OUT_PAUSED, &e);
                result = CONF_PAUSED;
                break;
            }
            if (cls == CS_CLASS_THROTTLE) {
                int pct;
                int64_t ms = cs_graph_throttle_pause_ms(
                    cs_http_resp_header(&resp, "x-business-use-case-usage"),
                    cs_http_resp_header(&resp, "x-app-usage"),
                    cs_http_retry_after_ms(&resp, cs_now_ms()), cfg->retry_throttle_default_ms,
                    &pct);
                if (ms > wait)
                    wait = ms;
            } else if (cls == CS_CLASS_BAD_ITEM) {
                /* Unknown handle (code 100): Meta has no such batch; push again. */
                result = CONF_NOT_APPLIED;
                break;
            }
        }
        if (cs_mono_ms() + wait > deadline)
            break;
        sleep_ms(wait);
        wait = wait * 2 > 2000 ? (wait > 2000 ? wait : 2000) : wait * 2;
    }
    if (result == CONF_RUNNING || result == CONF_NOT_APPLIED) {
        /* Still running: the handle is kept with the retry, and polled again
         * before anything is pushed again (Meta may yet apply the batch). */
        int running = result == CONF_RUNNING;
        cs_graph_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.type, sizeof e.type, running ? "unconfirmed" : "unknown_handle");
        if (running)
            snprintf(e.message, sizeof e.message, "batch %s not finished within %d ms; "
                     "its handle is checked again before any new push", handle,
                     cfg->worker_confirm_timeout_ms);
        else
            snprintf(e.message, sizeof e.message, "batch %s unknown to Meta", handle);
        for (size_t i = a; i < b; i++) {
            cs_outcome *o = &p->jobs[p->recs[i].job]->out;
            if (!p->recs[i].rid[0] || p->recs[i].extra || o->kind != CS_OUT_NONE)
                continue;
            set_error(o, CS_OUT_RETRY, &e);
            snprintf(o->remote_id, sizeof o->remote_id, "%s", p->recs[i].rid);
            if (running)
                snprintf(o->handle, sizeof o->handle, "%s", handle);
        }
    }
    cs_buf_free(&url);
    cs_http_resp_free(&resp);
    return result;
}

/* Sends recs[a, b) in one items_batch call (bisecting on a whole-call
 * bad-item error) and confirms them. */
static void send_range(push *p, size_t a, size_t b)
{
    meta_conn *mc = p->mc;
    cs_buf body, url;
    cs_http_resp resp;
    char err[256];
    if (a >= b || p->stopped)
        return;
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
    base_url(mc, &url, "items_batch");
    add_proof(mc, &url, 1);
    graph_call(mc, "POST", url.data, body.data, body.len, &resp);

    if (resp.err != CS_HTTP_OK || resp.status != 200) {
        cs_graph_error e;
        cs_class cls = failed_answer(&resp, &e);
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
            pause_conn(p, cls, &resp, &e);
            outcome_for_recs(p, a, b, CS_OUT_PAUSED, &e);
        } else {
            outcome_for_recs(p, a, b, cls == CS_CLASS_BAD_ITEM || cls == CS_CLASS_TOO_LARGE
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
        outcome_for_recs(p, a, b, CS_OUT_RETRY, &e);
        goto out;
    }
    for (size_t i = 0; i < rep.n_invalid; i++) {
        meta_rec *r = find_rec(p, a, b, rep.invalid[i].retailer_id);
        if (r && r->rid[0])
            fail_rec(p, r, rep.invalid[i].message);
    }
    for (size_t i = 0; i < rep.n_warned; i++) {
        meta_rec *r = find_rec(p, a, b, rep.warned[i].retailer_id);
        if (r && r->rid[0])
            warn_rec(r, rep.warned[i].message);
    }
    size_t waiting = 0;
    cs_sync_job **pend = malloc((b - a) * sizeof *pend);
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
        outcome_for_recs(p, a, b, CS_OUT_RETRY, &e);
    } else {
        if (waiting && p->ctx->mark_pending(p->ctx->worker, pend, waiting) != 0)
            CS_WARN("meta", "catalog %s: could not record handle %s (Redis); confirming anyway",
                    mc->cat->id, rep.handle);
        if (confirm(p, rep.handle, a, b) == CONF_FINISHED)
            for (size_t i = a; i < b; i++)
                if (p->recs[i].rid[0] && !p->recs[i].extra)
                    confirmed(p, p->recs[i].job, p->recs[i].rid, p->recs[i].warn);
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
 * that handle is polled instead of pushing again.  Pushed again only when
 * Meta says the batch did not apply it (error/canceled, unknown handle).
 * 1 when the job has its outcome. */
static int confirm_recorded(push *p, size_t j)
{
    cs_sync_job *job = p->jobs[j];
    char rid[CS_META_RID_SIZE], why[256];
    if (!job->st.handle[0] || job->ev->type == CS_EV_DELETED || !job->ev->product.is_active ||
        cs_meta_retailer_id(&job->ev->product, job->ev->tenant, &p->mc->map, rid, sizeof rid, why, sizeof why) != CS_MAP_OK)
        return 0;
    size_t save = p->n_recs;
    p->act[j] = ACT_UPDATE;
    add_rec(p, j, rid, 0, p->records.len);
    confirm_result r = confirm(p, job->st.handle, save, save + 1);
    if (r == CONF_FINISHED && p->recs[save].rid[0]) {
        confirmed(p, j, rid, p->recs[save].warn);
        CS_INFO("meta", "product %s: earlier batch %s confirmed; not pushed again",
                job->ev->product.id, job->st.handle);
    } else if (r == CONF_RUNNING) {
        CS_INFO("meta", "product %s: earlier batch %s still running; not pushed again",
                job->ev->product.id, job->st.handle);
    }
    p->n_recs = save;
    /* Meta did not apply it, or finished the batch without being able to say
     * whether this record failed (a retry, not a named failure): push it now. */
    if (r == CONF_NOT_APPLIED || (r == CONF_FINISHED && job->out.kind == CS_OUT_RETRY))
        memset(&job->out, 0, sizeof job->out);
    return job->out.kind != CS_OUT_NONE;
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
    cs_buf_init(&p.records, 0);
    if (!p.act || !p.recs) {
        for (size_t k = 0; k < n; k++)
            set_simple(&jobs[k]->out, CS_OUT_RETRY, "memory", "out of memory");
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        if (confirm_recorded(&p, k))
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
            if (jobs[k]->out.kind == CS_OUT_NONE) {
                set_simple(&jobs[k]->out, CS_OUT_PAUSED, "paused", res->reason);
                jobs[k]->out.resume_at = res->until_ms;
            }
    }
out:
    free(p.act);
    free(p.recs);
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
        if (!(mc->http = cs_http_new(&o, errstr, errstr_size))) {
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
    for (size_t i = 0; i < ms->n; i++)
        cs_http_destroy(ms->conns[i].http);
    free(ms->conns);
    free(ms);
}

static cs_http *meta_conn_http(void *sink, size_t i)
{
    return ((meta_sink *)sink)->conns[i].http;
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
};
