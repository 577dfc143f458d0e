#include "worker_lane.h"
#include "worker_priv.h"
#include "cs_log.h"
#include "cs_util.h"
#include "cs_vocab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lane_batch {
    lane_batch *next;
    size_t n;
    cs_sync_job *jobs[];
};

#define LANE_REDIS_WAIT_MS 1000

static const cs_sink_ops *ops_of(const worker_lane *l)
{
    return l->w->ops;
}

/* ---- services for the sink (cs_push_ctx), in the lane's thread ---- */

static int mark_pending(void *opaque, cs_sync_job **jobs, size_t n)
{
    worker_lane *l = opaque;
    int rc = cs_sync_settle(l->sync, jobs, n);
    for (size_t i = 0; i < n; i++)
        if (jobs[i]->out.kind == CS_OUT_PENDING)
            jobs[i]->out.kind = CS_OUT_NONE;
    return rc;
}

/* A connection-level verdict of the sink: pause the connection for every
 * worker.  -1 when Redis failed. */
static int apply_pause(worker_lane *l, const cs_conn_result *res)
{
    if (!res->pause)
        return 0;
    /* ALERT is for what needs a person: a refused key or token.  A
     * throttle ends by itself. */
    int alert = strcmp(res->kind, "throttle") != 0;
    CS_LOG(alert ? CS_LOG_ERROR : CS_LOG_WARN, ops_of(l)->name,
           "%s%s %s paused (%s) for %llds: %s", alert ? "ALERT: " : "", ops_of(l)->conn_noun,
           l->id, res->kind, (long long)((res->until_ms - cs_now_ms()) / 1000), res->reason);
    return cs_sync_pause_set(l->sync, l->id, res->until_ms, res->kind, res->reason);
}

/* After settle: a write that went out while Redis came to hold a newer
 * version of the product that did not wait for it ("overtaken").  A newer
 * version normally waits for an older one in flight (begin: "deferred",
 * behind a claimed retry's lease or the owner of a push begun and not
 * settled) and settle makes it due ("superseded").  It does not wait when
 * the older push outlived retry.lease_ms (its worker stalled past it, or
 * its lease expired and another worker claimed the product): the newer
 * version may have been pushed already, and this older write may have
 * landed after it (a channel may apply a batch when it finishes; a call
 * that timed out may have been applied too).  The product's newest stored
 * version is queued again, due at once, so the channel ends at it: an extra
 * push at most, never a lost update.  0, or -1 when Redis failed. */
static int requeue_overtaken(worker_lane *l, cs_sync_job **jobs, size_t n)
{
    const char **keys = malloc((n + 1) * sizeof *keys);
    cs_reset_result *res = malloc((n + 1) * sizeof *res);
    int rc = keys && res ? 0 : -1;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const cs_sync_job *j = jobs[i];
        if (j->settle_res != CS_SETTLE_OVERTAKEN ||
            (j->out.kind != CS_OUT_SYNCED && j->out.kind != CS_OUT_DELETED &&
             j->out.kind != CS_OUT_SKIPPED && j->out.kind != CS_OUT_RETRY))
            continue;
        keys[k++] = strchr(j->member, '|') + 1;
        CS_WARN(ops_of(l)->name, "product %s: version %lld may have reached %s %s after a "
                "newer version was pushed (this push outlived retry.lease_ms); the newest "
                "version is queued again", j->ev->product.id,
                (long long)j->ev->product.version, ops_of(l)->conn_noun, j->conn_id);
    }
    if (rc == 0 && k && cs_sync_reset_many(l->sync, l->id, keys, k, 0, res) != 0)
        rc = -1;
    free(keys);
    free(res);
    return rc;
}

/* Settles, re-queues what was overtaken, logs and counts. */
static int settle(worker_lane *l, cs_sync_job **jobs, size_t n)
{
    cs_worker *w = l->w;
    if (cs_sync_settle(l->sync, jobs, n) != 0 || requeue_overtaken(l, jobs, n) != 0)
        return -1;
    int64_t settled_ms = cs_now_ms();
    for (size_t i = 0; i < n; i++)
        if (wout_log(w->ops, w->cfg, w->obs, &l->tally, jobs[i]) && jobs[i]->ts > 0)
            obs_end_to_end(w->obs, (double)(settled_ms - jobs[i]->ts) / 1000.0);
    return 0;
}

/* Outcomes the sink learnt after its push (cs_push_ctx.settle_later). */
static int settle_later(void *opaque, size_t conn __attribute__((unused)), cs_sync_job **jobs,
                        size_t n, const cs_conn_result *res)
{
    worker_lane *l = opaque;
    if (apply_pause(l, res) != 0)
        return -1;
    return settle(l, jobs, n);
}

static cs_push_ctx lane_ctx(worker_lane *l, int64_t deadline)
{
    cs_push_ctx ctx = {mark_pending, l, l->redis, l->sync, settle_later, deadline};
    return ctx;
}

/* ---- one batch ---- */

/* Pushes every pushable job (the connection not paused).  -1 when Redis
 * failed. */
static int push(worker_lane *l, cs_sync_job **todo, size_t n)
{
    cs_worker *w = l->w;
    int64_t until = 0;
    char kind[16], reason[512];
    int paused = cs_sync_pause_get(l->sync, l->id, &until, kind, sizeof kind, reason,
                                   sizeof reason);
    if (paused < 0)
        return -1;
    if (paused) {
        char left[48] = "until resumed";
        if (strcmp(kind, "operator") != 0)
            snprintf(left, sizeof left, "for %llds more",
                     (long long)((until - cs_now_ms()) / 1000));
        CS_INFO(w->ops->name, "%zu product(s) wait for %s %s, paused (%s) %s: %.300s", n,
                w->ops->conn_noun, l->id, kind, left, reason);
        for (size_t i = 0; i < n; i++) {
            cs_outcome *o = &todo[i]->out;
            o->kind = CS_OUT_PAUSED;
            o->resume_at = until;
            snprintf(o->err_type, sizeof o->err_type, "paused");
            snprintf(o->err_message, sizeof o->err_message, "%s %s paused (%s) until %lld: %.300s",
                     w->ops->conn_noun, l->id, kind, (long long)until, reason);
        }
        return 0;
    }
    cs_push_ctx ctx = lane_ctx(l, 0);
    cs_conn_result res;
    memset(&res, 0, sizeof res);
    w->ops->push(w->sink, l->conn, todo, n, &ctx, &res);
    /* Only the sink knows which products it skips (inactive and never
     * synced, no longer linked) or merely forgets (a delete of what never
     * reached the channel): the attempt lines follow the push. */
    for (size_t i = 0; i < n; i++) {
        const cs_product *p = &todo[i]->ev->product;
        const cs_outcome *o = &todo[i]->out;
        if (o->kind == CS_OUT_SKIPPED || o->kind == CS_OUT_RELEASE ||
            (o->kind == CS_OUT_DELETED && !o->remote_id[0]))
            continue;
        CS_INFO(w->ops->name, "Syncing product '%s' (id %s, SKU %s, version %lld) to %s %s - "
                "attempt %d/%d", p->name ? p->name : "(no name)", p->id, p->sku ? p->sku : "-",
                (long long)p->version, w->ops->conn_noun, l->id, todo[i]->st.attempts + 1,
                w->cfg->retry_max_attempts);
    }
    if (res.redis_failed)
        return -1;
    return apply_pause(l, &res);
}

static int stopping_past(worker_lane *l)
{
    pthread_mutex_lock(&l->mu);
    int past = l->stop && cs_mono_ms() >= l->deadline;
    pthread_mutex_unlock(&l->mu);
    return past;
}

/* Waits for Redis (a second at a time) until it answers: 0, or -1 once the
 * lane is stopping past its deadline (what it holds is then recovered from
 * Redis: begin's recovery entries, the claims' leases). */
static int wait_redis(worker_lane *l)
{
    while (cs_redis_ready(l->redis) != 0) {
        if (stopping_past(l))
            return -1;
        struct timespec ts = {LANE_REDIS_WAIT_MS / 1000, 0};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void hand_back(cs_sync_job *j)
{
    memset(&j->out, 0, sizeof j->out);
    j->out.kind = CS_OUT_RELEASE;
    j->out.resume_at = cs_now_ms();
}

/* Reads the jobs' state and pushes those still at their version: 0, or -1
 * when Redis failed before anything was sent (nothing to settle yet). */
static int read_and_push(worker_lane *l, lane_batch *b, cs_sync_job **todo)
{
    cs_worker *w = l->w;
    size_t n_todo = 0;
    for (size_t i = 0; i < b->n; i++)
        memset(&b->jobs[i]->out, 0, sizeof b->jobs[i]->out);
    if (cs_sync_read(l->sync, b->jobs, b->n) != 0)
        return -1;
    /* A newer version recorded since begin (it waits behind this one):
     * handed back, which makes it due.  A version whose owner's time
     * (begin + retry.lease_ms, or a claimed retry's lease) could run out
     * during the push (it waited in
     * this lane; the margin is a request's timeout, at most half the
     * lease): handed back too, queued for a claim and a lease of its own, since
     * past that time a newer version no longer waits for this push and
     * could reach the channel before it. */
    int64_t now = cs_now_ms(), margin = w->cfg->worker_http_timeout_ms;
    if (margin > w->cfg->retry_lease_ms / 2)
        margin = w->cfg->retry_lease_ms / 2;
    for (size_t i = 0; i < b->n; i++) {
        cs_sync_job *j = b->jobs[i];
        if (j->st.version != j->ev->product.version) {
            hand_back(j);
            l->n_stale++;
            obs_superseded(w->obs);
        } else if (j->st.owner_until < now + margin) {
            CS_DEBUG(w->ops->name, "product %s: waited too long in the lane of %s %s; queued "
                     "for a claim", j->ev->product.id, w->ops->conn_noun, l->id);
            hand_back(j);
        } else {
            todo[n_todo++] = j;
        }
    }
    /* A push whose own records failed (Redis) still settles what it sent. */
    if (n_todo && push(l, todo, n_todo) != 0)
        CS_WARN(w->ops->name, "%s %s: Redis failed during the push; its outcomes are settled "
                "once Redis answers", w->ops->conn_noun, l->id);
    /* Every claimed retry settles: one the sink left without an outcome is
     * handed back rather than left to its lease; not one recorded pending
     * (its lease goes with the batch the sink confirms later). */
    for (size_t i = 0; i < b->n; i++) {
        cs_sync_job *j = b->jobs[i];
        if (j->from_retry && j->out.kind == CS_OUT_NONE &&
            j->settle_res != CS_SETTLE_PENDING)
            hand_back(j);
    }
    return 0;
}

static void run_batch(worker_lane *l, lane_batch *b, int hand_back_all)
{
    cs_worker *w = l->w;
    cs_sync_job **todo = malloc((b->n + 1) * sizeof *todo);
    int pushed = 0;
    for (int tries = 0;; tries++) {
        if (tries && wait_redis(l) != 0) {
            CS_WARN(w->ops->name, "%s %s: %zu product(s) left to their recovery entries "
                    "(Redis did not answer before the shutdown deadline)", w->ops->conn_noun,
                    l->id, b->n);
            break;
        }
        if (!pushed && (hand_back_all || !todo)) {
            for (size_t i = 0; i < b->n; i++)
                hand_back(b->jobs[i]);
            pushed = 1;
        }
        if (!pushed && read_and_push(l, b, todo) != 0)
            continue;
        pushed = 1;
        if (settle(l, b->jobs, b->n) == 0)
            break;
    }
    free(todo);
}

static void batch_free(lane_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        cs_sync_job_free(b->jobs[i]);
        free(b->jobs[i]);
    }
    free(b);
}

/* ---- the lane's thread ---- */

static void abs_time(struct timespec *ts, int64_t mono_ms)
{
    ts->tv_sec = (time_t)(mono_ms / 1000);
    ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

static void *lane_main(void *arg)
{
    worker_lane *l = arg;
    cs_worker *w = l->w;
    int64_t next_confirm = 0;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->head && !l->stop) {
            if (!next_confirm) {
                pthread_cond_wait(&l->cv, &l->mu);
                continue;
            }
            struct timespec ts;
            abs_time(&ts, next_confirm);
            if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT)
                break;
        }
        lane_batch *b = l->head;
        if (b && !(l->head = b->next))
            l->tail = NULL;
        int stop = l->stop;
        int64_t deadline = l->deadline;
        pthread_mutex_unlock(&l->mu);
        if (b) {
            /* Past the deadline, what was not started goes back to Redis. */
            run_batch(l, b, stop && cs_mono_ms() >= deadline);
            batch_free(b);
        }
        if (w->ops->confirm) {
            cs_push_ctx ctx = lane_ctx(l, 0);
            next_confirm = w->ops->confirm(w->sink, l->conn, &ctx, 0);
        }
        pthread_mutex_lock(&l->mu);
        if (b)
            l->n_batches--;
        if (!l->head && l->stop)
            break;
    }
    int64_t deadline = l->deadline;
    pthread_mutex_unlock(&l->mu);
    if (w->ops->confirm) {
        cs_push_ctx ctx = lane_ctx(l, deadline);
        w->ops->confirm(w->sink, l->conn, &ctx, 1);
    }
    return NULL;
}

/* ---- the main thread's side ---- */

int lanes_start(cs_worker *w, worker_lane **out, char *errstr, size_t errstr_size)
{
    size_t n = w->ops->n_conns(w->sink);
    worker_lane *lanes = calloc(n ? n : 1, sizeof *lanes);
    *out = lanes;
    if (!lanes) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        worker_lane *l = &lanes[i];
        l->w = w;
        l->conn = i;
        l->id = w->ops->conn_id(w->sink, i);
        pthread_condattr_t ca;
        if (pthread_condattr_init(&ca) != 0 ||
            pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
            pthread_cond_init(&l->cv, &ca) != 0 || pthread_mutex_init(&l->mu, NULL) != 0 ||
            !(l->redis = cs_redis_new(w->cfg)) ||
            !(l->sync = cs_sync_new(l->redis, w->cfg, w->ops->name))) {
            snprintf(errstr, errstr_size, "out of memory starting the lane of %s %s",
                     w->ops->conn_noun, l->id);
            return -1;
        }
        pthread_condattr_destroy(&ca);
        if (pthread_create(&l->thread, NULL, lane_main, l) != 0) {
            snprintf(errstr, errstr_size, "could not start the lane of %s %s",
                     w->ops->conn_noun, l->id);
            return -1;
        }
        l->started = 1;
    }
    return 0;
}

int lane_busy(worker_lane *l)
{
    pthread_mutex_lock(&l->mu);
    int busy = l->n_batches >= (size_t)l->w->cfg->worker_max_inflight_batches;
    pthread_mutex_unlock(&l->mu);
    return busy;
}

int lane_offer(worker_lane *l, cs_sync_job **jobs, size_t n)
{
    if (lane_busy(l))
        return -1;
    lane_batch *b = malloc(sizeof *b + n * sizeof b->jobs[0]);
    if (!b)
        return -1;
    b->next = NULL;
    b->n = n;
    memcpy(b->jobs, jobs, n * sizeof *jobs);
    pthread_mutex_lock(&l->mu);
    if (l->tail)
        l->tail->next = b;
    else
        l->head = b;
    l->tail = b;
    l->n_batches++;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void lanes_stop(worker_lane *lanes, size_t n, int64_t deadline, worker_tally *tally,
                unsigned long long *n_stale)
{
    if (!lanes)
        return;
    for (size_t i = 0; i < n; i++) {
        worker_lane *l = &lanes[i];
        if (!l->started)
            continue;
        cs_http *h = l->w->ops->conn_http ? l->w->ops->conn_http(l->w->sink, i) : NULL;
        if (h)
            cs_http_set_deadline(h, deadline);
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        l->deadline = deadline;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
    for (size_t i = 0; i < n; i++) {
        worker_lane *l = &lanes[i];
        if (l->started)
            pthread_join(l->thread, NULL);
        while (l->head) {       /* none left by a lane that ran */
            lane_batch *b = l->head;
            l->head = b->next;
            batch_free(b);
        }
        tally->synced += l->tally.synced;
        tally->retry += l->tally.retry;
        tally->failed += l->tally.failed;
        tally->paused += l->tally.paused;
        tally->deleted += l->tally.deleted;
        tally->skipped += l->tally.skipped;
        *n_stale += l->n_stale;
        cs_sync_destroy(l->sync);
        cs_redis_destroy(l->redis);
        if (l->w) {
            pthread_cond_destroy(&l->cv);
            pthread_mutex_destroy(&l->mu);
        }
    }
    free(lanes);
}
