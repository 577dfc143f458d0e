/*
 * meta_confirm: confirming what Meta accepted (docs/DESIGN.md, "Confirmed
 * means confirmed" and "Confirmation is asynchronous").
 *
 * The verdict: check_batch_request_status polled once, and what a finished
 * batch says about each record (synced; failed where Meta names it; pushed
 * again where it counts failures it does not name, or ended in error).
 *
 * The batches: once items_batch accepted records and their handle is
 * recorded in Redis (pending), the push returns and copies of their jobs
 * (sharing the decoded event) wait here, per catalog, in the order they were
 * accepted.  Each turn of the worker's loop polls the batches that are due,
 * the interval doubling from worker.confirm_poll_ms to 2 s; a finished one
 * is settled through the worker (settle_later) and forgotten.  A batch not
 * finished within worker.confirm_timeout_ms is settled as a retry carrying
 * its handle, as before.  At most worker.max_pending_batches per catalog:
 * a push that would add one more first waits for one to finish
 * (backpressure), which bounds the memory kept here to that many batches.
 *
 * Thread safety: used by the worker's single thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cs_log.h"
#include "cs_util.h"
#include "meta_priv.h"

/* Outcome of a job whose records Meta confirmed; warn = Meta's warnings
 * about the record ("" = none). */
static void meta_confirmed(push *p, size_t j, const char *rid, const char *warn)
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

/* Appends Meta's warning msg about record r (shown by catalogsyncctl show). */
void meta_warn_rec(meta_rec *r, const char *msg)
{
    size_t n = strlen(r->warn);
    if (r->extra || !msg[0] || strstr(r->warn, msg))
        return;
    snprintf(r->warn + n, sizeof r->warn - n, "%s%s", n ? "; " : "", msg);
}

meta_rec *meta_find_rec(push *p, size_t a, size_t b, const char *rid)
{
    for (size_t i = a; i < b; i++)
        if (strcmp(p->recs[i].rid, rid) == 0)
            return &p->recs[i];
    return NULL;
}

void meta_fail_rec(push *p, meta_rec *r, const char *msg)
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
        meta_confirmed(p, r->job, r->rid, "");
        r->rid[0] = '\0';
        return;
    }
    meta_set_simple(&j->out, CS_OUT_FAILED, "item", msg);
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

/* ---- the verdict ---- */

/* What a finished batch status says about recs [a, b): failures it names
 * fail their record, warnings are kept; when it counts failures it does not
 * name, or ended in error/canceled, the records left are pushed again
 * (RETRY); else they are confirmed. */
static confirm_result finished(push *p, const char *handle, const cs_graph_batch_status *st,
                               size_t a, size_t b)
{
    for (size_t i = 0; i < st->n_invalid_ids; i++) {
        meta_rec *r = meta_find_rec(p, a, b, st->invalid_ids[i]);
        const char *msg = "rejected by Meta (listed in ids_of_invalid_requests)";
        for (size_t k = 0; k < st->n_errors; k++)
            if (strcmp(st->errors[k].retailer_id, st->invalid_ids[i]) == 0)
                msg = st->errors[k].message;
        if (r && r->rid[0])
            meta_fail_rec(p, r, msg);
    }
    for (size_t k = 0; k < st->n_errors; k++) {
        meta_rec *r = meta_find_rec(p, a, b, st->errors[k].retailer_id);
        if (r && r->rid[0])
            meta_fail_rec(p, r, st->errors[k].message);
    }
    for (size_t k = 0; k < st->n_warnings; k++) {
        meta_rec *r = meta_find_rec(p, a, b, st->warnings[k].retailer_id);
        if (r && r->rid[0])
            meta_warn_rec(r, st->warnings[k].message);
    }
    long named = named_failures(st);
    if (st->errors_total_count > named) {
        /* "errors" is a sample: records failed that neither it nor
         * ids_of_invalid_requests names, so none left is known good. */
        cs_graph_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.type, sizeof e.type, "unconfirmed");
        snprintf(e.message, sizeof e.message, "batch %s: Meta counts %ld failed "
                 "records but names %ld; the others cannot be told apart, so "
                 "they are pushed again", handle, st->errors_total_count, named);
        for (size_t i = a; i < b; i++)
            if (p->recs[i].rid[0] && !p->recs[i].extra) {
                meta_set_error(&p->jobs[p->recs[i].job]->out, CS_OUT_RETRY, &e);
                p->recs[i].rid[0] = '\0';
            }
    }
    if (strcmp(st->status, "finished") != 0) {
        cs_graph_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.type, sizeof e.type, "batch_%s", st->status);
        snprintf(e.message, sizeof e.message, "batch %s ended in status %s; "
                 "records may not have been applied", handle, st->status);
        for (size_t i = a; i < b; i++)
            if (p->recs[i].rid[0] && !p->recs[i].extra) {
                cs_outcome *o = &p->jobs[p->recs[i].job]->out;
                meta_set_error(o, CS_OUT_RETRY, &e);
                snprintf(o->remote_id, sizeof o->remote_id, "%s", p->recs[i].rid);
                p->recs[i].rid[0] = '\0';
            }
        return CONF_NOT_APPLIED;
    }
    for (size_t i = a; i < b; i++)
        if (p->recs[i].rid[0] && !p->recs[i].extra)
            meta_confirmed(p, p->recs[i].job, p->recs[i].rid, p->recs[i].warn);
    return CONF_FINISHED;
}

void meta_confirm_unfinished(push *p, const char *handle, size_t a, size_t b, int running)
{
    cs_graph_error e;
    memset(&e, 0, sizeof e);
    snprintf(e.type, sizeof e.type, running ? "unconfirmed" : "unknown_handle");
    if (running)
        snprintf(e.message, sizeof e.message, "batch %s not finished within %d ms; "
                 "its handle is checked again before any new push", handle,
                 p->ms->cfg->worker_confirm_timeout_ms);
    else
        snprintf(e.message, sizeof e.message, "batch %s unknown to Meta", handle);
    for (size_t i = a; i < b; i++) {
        if (!p->recs[i].rid[0] || p->recs[i].extra)
            continue;
        cs_outcome *o = &p->jobs[p->recs[i].job]->out;
        if (o->kind != CS_OUT_NONE)
            continue;
        meta_set_error(o, CS_OUT_RETRY, &e);
        snprintf(o->remote_id, sizeof o->remote_id, "%s", p->recs[i].rid);
        if (running)
            snprintf(o->handle, sizeof o->handle, "%s", handle);
    }
}

confirm_result meta_confirm_poll(push *p, const char *handle, size_t a, size_t b,
                                 int64_t *wait_ms)
{
    meta_conn *mc = p->mc;
    const cs_config *cfg = p->ms->cfg;
    cs_buf url;
    cs_http_resp resp;
    cs_graph_batch_status st;
    char err[256];
    confirm_result result = CONF_RUNNING;

    cs_buf_init(&url, 0);
    cs_http_resp_init(&resp);
    meta_base_url(mc, &url, "check_batch_request_status?handle=");
    cs_http_urlencode(&url, handle);
    cs_buf_appends(&url, "&load_ids_of_invalid_requests=true&fields=handle,status,errors,"
                         "errors_total_count,warnings,ids_of_invalid_requests");
    meta_add_proof(mc, &url, 0);
    meta_graph_call(mc, "GET", url.data, NULL, 0, &resp);
    if (resp.err == CS_HTTP_OK && resp.status == 200) {
        memset(&st, 0, sizeof st);
        if (cs_graph_parse_batch_status(resp.body.data, resp.body.len, &st, err, sizeof err) == 0) {
            if (st.finished)
                result = finished(p, handle, &st, a, b);
            cs_graph_batch_status_free(&st);
        } else {
            CS_WARN("meta", "catalog %s: unreadable batch status: %s", mc->cat->id, err);
        }
    } else {
        cs_graph_error e;
        cs_class cls = meta_failed_answer(&resp, &e);
        if (cls == CS_CLASS_AUTH || cls == CS_CLASS_REFUSED) {
            meta_pause_conn(p, cls, &resp, &e);
            meta_outcome_for_recs(p, a, b, CS_OUT_PAUSED, &e);
            result = CONF_PAUSED;
        } else if (cls == CS_CLASS_THROTTLE) {
            int pct;
            int64_t ms = cs_graph_throttle_pause_ms(
                cs_http_resp_header(&resp, "x-business-use-case-usage"),
                cs_http_resp_header(&resp, "x-app-usage"),
                cs_http_retry_after_ms(&resp, cs_now_ms()), cfg->retry_throttle_default_ms, &pct);
            if (ms > *wait_ms)
                *wait_ms = ms;
        } else if (cls == CS_CLASS_BAD_ITEM) {
            /* Unknown handle (code 100): Meta has no such batch; push again. */
            meta_confirm_unfinished(p, handle, a, b, 0);
            result = CONF_NOT_APPLIED;
        }
    }
    cs_buf_free(&url);
    cs_http_resp_free(&resp);
    return result;
}

/* ---- batches awaiting confirmation ---- */

/* One batch (one handle) of one catalog. */
typedef struct entry {
    push p;                     /* jobs: copies owned here, recs: their records */
    size_t cap;                 /* of p.jobs, p.act and p.recs */
    cs_conn_result res;         /* a pause its poll found (p.res points here) */
    char handle[256];
    int64_t next_poll, wait, deadline;      /* cs_mono_ms() */
    int done;                   /* every job has its outcome: to settle */
    int again;                  /* a handle recorded by an earlier attempt */
    struct entry *next;
} entry;

struct meta_confirm {
    entry *head;                /* oldest first */
    size_t n;                   /* batches */
    size_t n_jobs;
    cs_sync_job **slots;        /* member -> tracked job, open addressing */
    size_t n_slots;
};

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The next wait between polls: doubled, to 2 s at most (unless a throttle
 * asked for more). */
static int64_t next_wait(int64_t wait)
{
    return wait * 2 > 2000 ? (wait > 2000 ? wait : 2000) : wait * 2;
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void index_put(meta_confirm *c, cs_sync_job *j)
{
    size_t h = (size_t)fnv(j->member) & (c->n_slots - 1);
    while (c->slots[h])
        h = (h + 1) & (c->n_slots - 1);
    c->slots[h] = j;
}

/* Rebuilds the member index (without memory for it, nothing is found). */
static void reindex(meta_confirm *c)
{
    size_t n = 64;
    while (n < c->n_jobs * 2 + 2)
        n *= 2;
    free(c->slots);
    c->slots = calloc(n, sizeof *c->slots);
    c->n_slots = c->slots ? n : 0;
    for (entry *e = c->head; c->slots && e; e = e->next)
        for (size_t k = 0; k < e->p.n_jobs; k++)
            index_put(c, e->p.jobs[k]);
}

cs_sync_job *meta_confirm_held(const meta_conn *mc, const char *member)
{
    const meta_confirm *c = mc->pending;
    if (!c || !c->n_slots)
        return NULL;
    size_t h = (size_t)fnv(member) & (c->n_slots - 1);
    while (c->slots[h]) {
        if (strcmp(c->slots[h]->member, member) == 0)
            return c->slots[h];
        h = (h + 1) & (c->n_slots - 1);
    }
    return NULL;
}

static void entry_free(entry *e)
{
    for (size_t k = 0; k < e->p.n_jobs; k++) {
        cs_sync_job_free(e->p.jobs[k]);
        free(e->p.jobs[k]);
    }
    free(e->p.jobs);
    free(e->p.act);
    free(e->p.recs);
    free(e);
}

meta_confirm *meta_confirm_new(void)
{
    return calloc(1, sizeof(meta_confirm));
}

void meta_confirm_free(meta_confirm *c)
{
    if (!c)
        return;
    while (c->head) {
        entry *e = c->head;
        c->head = e->next;
        entry_free(e);
    }
    free(c->slots);
    free(c);
}

size_t meta_confirm_count(const meta_confirm *c)
{
    return c ? c->n : 0;
}

int64_t meta_confirm_recover_at(const cs_config *cfg)
{
    /* A live worker settles it within confirm_timeout_ms (and a poll);
     * some slack later, it is gone: another worker polls the handle. */
    int64_t t = cfg->worker_confirm_timeout_ms;
    return cs_now_ms() + t + (t < 10000 ? t : 10000);
}

/* The entry of handle at p's catalog, created (newest) when there is none. */
static entry *entry_for(push *p, const char *handle)
{
    meta_confirm *c = p->mc->pending;
    entry **pe = &c->head;
    for (; *pe; pe = &(*pe)->next)
        if (!(*pe)->done && strcmp((*pe)->handle, handle) == 0)
            return *pe;
    entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->p.ms = p->ms;
    e->p.mc = p->mc;
    e->p.res = &e->res;
    snprintf(e->handle, sizeof e->handle, "%s", handle);
    e->wait = p->ms->cfg->worker_confirm_poll_ms;
    e->next_poll = cs_mono_ms();        /* first polled on the next turn */
    e->deadline = e->next_poll + p->ms->cfg->worker_confirm_timeout_ms;
    *pe = e;
    c->n++;
    return e;
}

/* Adds record r of p (with a copy of its job unless it is an extra one) to
 * the batch of handle.  -1 when out of memory. */
static int track_rec(push *p, const char *handle, const meta_rec *r, int again)
{
    meta_confirm *c = p->mc->pending;
    entry *e = entry_for(p, handle);
    if (!e)
        return -1;
    e->again |= again;
    if (e->p.n_recs == e->cap) {
        size_t n = e->cap ? e->cap * 2 : 16;
        cs_sync_job **j = realloc(e->p.jobs, n * sizeof *j);
        if (j)
            e->p.jobs = j;
        meta_action *a = realloc(e->p.act, n * sizeof *a);
        if (a)
            e->p.act = a;
        meta_rec *rr = realloc(e->p.recs, n * sizeof *rr);
        if (rr)
            e->p.recs = rr;
        if (!j || !a || !rr)
            return -1;
        e->cap = n;
    }
    meta_rec *dst = &e->p.recs[e->p.n_recs];
    *dst = *r;
    dst->job = 0;       /* an extra record's job is never looked at */
    if (!r->extra) {
        const cs_sync_job *src = p->jobs[r->job];
        cs_sync_job *j = malloc(sizeof *j);
        if (!j)
            return -1;
        if (cs_sync_job_init(j, src->conn, src->conn_id, cs_event_share(src->ev)) != 0) {
            cs_sync_job_free(j);
            free(j);
            return -1;
        }
        j->from_retry = src->from_retry;
        memcpy(j->token, src->token, sizeof j->token);
        j->st = src->st;
        j->ts = src->ts;
        dst->job = e->p.n_jobs;
        e->p.act[e->p.n_jobs] = p->act[r->job];
        e->p.jobs[e->p.n_jobs++] = j;
        c->n_jobs++;
        if (c->n_jobs * 2 + 2 > c->n_slots)
            reindex(c);
        else
            index_put(c, j);
    }
    e->p.n_recs++;
    return 0;
}

int meta_confirm_track(push *p, const char *handle, size_t a, size_t b, int again)
{
    for (size_t i = a; i < b; i++)
        if (p->recs[i].rid[0] && track_rec(p, handle, &p->recs[i], again) != 0)
            return -1;
    return 0;
}

/* Polls e once; done when every job has its outcome. */
static void poll_entry(entry *e)
{
    confirm_result r = meta_confirm_poll(&e->p, e->handle, 0, e->p.n_recs, &e->wait);
    e->done = r != CONF_RUNNING;
    if (!e->done && cs_mono_ms() >= e->deadline) {
        /* Kept as before: a retry carrying the handle, which the next
         * attempt polls before anything is pushed again. */
        meta_confirm_unfinished(&e->p, e->handle, 0, e->p.n_recs, 1);
        e->done = 1;
    }
    if (e->done)
        CS_DEBUG("meta", "catalog %s: batch %s %s", e->p.mc->cat->id, e->handle,
                 r == CONF_FINISHED ? "finished" : r == CONF_RUNNING ? "timed out" : "not applied");
    for (size_t k = 0; e->again && r == CONF_FINISHED && k < e->p.n_jobs; k++)
        if (e->p.jobs[k]->out.kind == CS_OUT_SYNCED)
            CS_INFO("meta", "product %s: earlier batch %s confirmed; not pushed again",
                    e->p.jobs[k]->ev->product.id, e->handle);
    e->next_poll = cs_mono_ms() + e->wait;
    e->wait = next_wait(e->wait);
}

int meta_confirm_turn(meta_sink *ms, size_t i, const cs_push_ctx *ctx, int make_room)
{
    meta_confirm *c = ms->conns[i].pending;
    for (;;) {
        int64_t soonest = INT64_MAX;
        int removed = 0, rc = 0;
        for (entry **pe = &c->head; *pe;) {
            entry *e = *pe;
            if (!e->done && e->next_poll <= cs_mono_ms())
                poll_entry(e);
            if (e->done && rc == 0) {
                if (ctx->settle_later(ctx->worker, i, e->p.jobs, e->p.n_jobs, &e->res) == 0) {
                    *pe = e->next;
                    c->n--;
                    c->n_jobs -= e->p.n_jobs;
                    entry_free(e);
                    removed = 1;
                    continue;
                }
                rc = -1;        /* Redis: settled on a later turn */
            }
            if (!e->done && e->next_poll < soonest)
                soonest = e->next_poll;
            pe = &e->next;
        }
        if (removed)
            reindex(c);
        if (rc != 0 || !make_room || c->n < (size_t)ms->cfg->worker_max_pending_batches)
            return rc;
        sleep_ms(soonest - cs_mono_ms());
    }
}

int64_t meta_confirm_next_poll(meta_sink *ms, size_t i)
{
    int64_t soonest = 0;
    for (entry *e = ms->conns[i].pending->head; e; e = e->next)
        if (!e->done && (!soonest || e->next_poll < soonest))
            soonest = e->next_poll;
    return soonest;
}

void meta_confirm_hand_over(meta_sink *ms, size_t i, const cs_push_ctx *ctx)
{
    meta_confirm *c = ms->conns[i].pending;
    /* Confirmed here until the lane's deadline (three quarters of
     * worker.shutdown_deadline_ms from the signal): a
     * newer version queued behind a batch handed over unconfirmed waits
     * until that batch would have timed out (begin: "behind"). */
    int64_t deadline = ctx->deadline ? ctx->deadline
                                     : cs_mono_ms() + ms->cfg->worker_shutdown_ms / 2;
    while (meta_confirm_turn(ms, i, ctx, 0) == 0 && c->n && cs_mono_ms() < deadline) {
        int64_t soonest = deadline;
        for (entry *e = c->head; e; e = e->next)
            if (!e->done && e->next_poll < soonest)
                soonest = e->next_poll;
        sleep_ms(soonest - cs_mono_ms());
    }
    cs_sync_job **jobs = malloc((c->n_jobs + 1) * sizeof *jobs);
    size_t n = 0;
    for (entry *e = c->head; jobs && e; e = e->next)
        for (size_t k = 0; !e->done && k < e->p.n_jobs; k++) {
            cs_outcome *o = &e->p.jobs[k]->out;
            memset(o, 0, sizeof *o);
            o->kind = CS_OUT_PENDING;
            snprintf(o->handle, sizeof o->handle, "%s", e->handle);
            o->resume_at = cs_now_ms();
            jobs[n++] = e->p.jobs[k];
        }
    if (n) {
        if (ctx->mark_pending(ctx->worker, jobs, n) == 0)
            CS_INFO("meta", "catalog %s: %zu product(s) in %zu unconfirmed batch(es) left for "
                    "the next worker to confirm", ms->conns[i].cat->id, n, c->n);
        else
            CS_WARN("meta", "catalog %s: %zu product(s) in unconfirmed batches stay pending, "
                    "due again when their confirmation would have timed out",
                    ms->conns[i].cat->id, n);
    }
    free(jobs);
    while (c->head) {
        entry *e = c->head;
        c->head = e->next;
        entry_free(e);
    }
    c->n = c->n_jobs = 0;
    reindex(c);
}
