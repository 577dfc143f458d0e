#include "worker_priv.h"
#include "cs_kafka.h"
#include "cs_log.h"
#include "cs_redis.h"
#include "cs_sync.h"
#include "cs_util.h"
#include "cs_vocab.h"
#include "worker_dlq.h"
#include "worker_obs.h"
#include "worker_outcome.h"
#include "worker_lane.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- coalescing index: member -> job ---- */

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int index_grow(cs_worker *w)
{
    size_t n = w->n_slots ? w->n_slots * 2 : 1024;
    size_t *s = calloc(n, sizeof *s);
    if (!s)
        return -1;
    free(w->slots);
    w->slots = s;
    w->n_slots = n;
    for (size_t i = 0; i < w->n_jobs; i++) {
        size_t h = (size_t)fnv(w->jobs[i]->member) & (n - 1);
        while (s[h])
            h = (h + 1) & (n - 1);
        s[h] = i + 1;
    }
    return 0;
}

/* Slot of member: holds its job, or is the empty slot to put it in. */
static size_t *index_slot(cs_worker *w, const char *member)
{
    size_t h = (size_t)fnv(member) & (w->n_slots - 1);
    while (w->slots[h] && strcmp(w->jobs[w->slots[h] - 1]->member, member) != 0)
        h = (h + 1) & (w->n_slots - 1);
    return &w->slots[h];
}

/* Hands free heap back to the system once more than 1 MB of it is idle and
 * the load has dropped (this flush took less than half a batch, in events
 * and in bytes): a large
 * batch (an export's answers, a burst) leaves the heap at its
 * high-water mark, and glibc keeps it, so a worker's steady RSS would be
 * that of its biggest batch ever.  Not while batches are full: the memory
 * would be faulted in again at once (with a trim after every flush, a
 * backlog drain spent half again as much time in the kernel).  mallinfo2 is
 * a walk over the free lists, microseconds. */
static void trim_heap(const cs_worker *w, size_t taken, size_t taken_bytes)
{
    if (taken * 2 >= (size_t)w->cfg->worker_batch_max ||
        taken_bytes * 2 >= (size_t)w->cfg->worker_batch_max_bytes)
        return;
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks > (size_t)1 << 20)
        malloc_trim(0);
}

/* A job from the spares, else a new one (cs_sync_job_init clears it). */
static cs_sync_job *job_get(cs_worker *w)
{
    return w->n_spare ? w->spare[--w->n_spare] : malloc(sizeof(cs_sync_job));
}

/* Frees what the job holds and keeps it for the next batch (at most
 * batch_max spares). */
static void job_put(cs_worker *w, cs_sync_job *j)
{
    cs_sync_job_free(j);
    if (w->spare && w->n_spare < (size_t)w->cfg->worker_batch_max)
        w->spare[w->n_spare++] = j;
    else
        free(j);
}

/* A claimed retry this worker will not push (a fresh event of the product
 * met it in the batch, or the batch is dropped) is kept, lease and all,
 * until release_held() hands it back: due at once, its lease gone.  Left to
 * expire, the lease kept the product in "inflight" for retry.lease_ms and a
 * newer version queued behind it (begin's "deferred") just as long: issue
 * 16, docs/REDIS.md "Leases". */
static void hold_claim(cs_worker *w, cs_sync_job *j)
{
    if (w->n_held == w->cap_held) {
        size_t n = w->cap_held ? w->cap_held * 2 : 64;
        cs_sync_job **p = realloc(w->held, n * sizeof *p);
        if (!p) {
            CS_WARN(w->ops->name, "out of memory: the retry of %s waits for its lease to end",
                    j->member);
            job_put(w, j);
            return;
        }
        w->held = p;
        w->cap_held = n;
    }
    memset(&j->out, 0, sizeof j->out);
    j->out.kind = CS_OUT_RELEASE;
    j->out.resume_at = cs_now_ms();
    j->ignore = 0;
    j->settle_result[0] = '\0';
    j->settle_res = CS_SETTLE_NONE;
    w->held[w->n_held++] = j;
}

/* Hands back every held claim in one pipeline (a lease already settled or
 * taken over answers "fenced" and changes nothing).  0, or -1 when Redis
 * failed: they are kept for the next try. */
static int release_held(cs_worker *w)
{
    if (!w->n_held)
        return 0;
    if (cs_sync_settle(w->sync, w->held, w->n_held) != 0)
        return -1;
    size_t released = 0;
    for (size_t i = 0; i < w->n_held; i++) {
        released += w->held[i]->settle_res == CS_SETTLE_RELEASED;
        job_put(w, w->held[i]);
    }
    CS_DEBUG(w->ops->name, "%zu claimed retr%s not pushed in this batch handed back (%zu "
             "released, the rest already settled)", w->n_held, w->n_held == 1 ? "y" : "ies",
             released);
    w->n_held = 0;
    return 0;
}

/* Adds a job (taking the event) unless a newer version of it is in the batch.
 * ts: the event's Kafka timestamp in ms (0 for a claimed retry). */
static int add_job(cs_worker *w, size_t conn, cs_event *ev, const char *token, int64_t ts)
{
    cs_sync_job *j = job_get(w);
    if (!j || cs_sync_job_init(j, conn, w->ops->conn_id(w->sink, conn), ev) != 0) {
        free(j);
        cs_event_destroy(ev);
        return -1;
    }
    if (token) {
        j->from_retry = 1;
        snprintf(j->token, sizeof j->token, "%s", token);
    }
    if ((w->n_jobs + 1) * 2 > w->n_slots && index_grow(w) != 0)
        goto fail;
    size_t *slot = index_slot(w, j->member);
    if (*slot) {
        cs_sync_job *old = w->jobs[*slot - 1];
        int64_t *old_ts = &w->ts[*slot - 1];
        /* A claimed retry never replaces an event from Kafka: it is handed
         * back before the fresh event's begin, which then pushes the newer
         * version (dropped here, its own lease deferred the event). */
        if (token) {
            hold_claim(w, j);
            return 0;
        }
        int old_newer = old->ev->product.version >= ev->product.version;
        cs_event *newer = old_newer ? old->ev : ev, *older = old_newer ? ev : old->ev;
        /* An export meeting other changes of the product in one batch: export
         * the newest data (a delete still wins), or the changes would be
         * dropped as "not linked" — or the export as stale. */
        cs_event *merged = NULL;
        if (older->type == CS_EV_EXPORT_REQUESTED && newer->type != CS_EV_DELETED &&
            newer->type != CS_EV_EXPORT_REQUESTED)
            merged = cs_event_merge_export(newer, older, &w->lim);
        /* The outcome settles every version folded in: time it from the oldest. */
        if (ts > 0 && (*old_ts == 0 || ts < *old_ts))
            *old_ts = ts;
        if (old_newer && !merged) {
            w->n_stale++;
            obs_superseded(w->obs);
            job_put(w, j);
            return 0;
        }
        if (merged) {
            cs_event_destroy(j->ev);
            j->ev = merged;
        } else {
            w->n_stale++;           /* the batch's older version is dropped */
            obs_superseded(w->obs);
        }
        job_put(w, old);
        w->jobs[*slot - 1] = j;
        return 0;
    }
    if (w->n_jobs == w->cap_jobs) {
        size_t n = w->cap_jobs ? w->cap_jobs * 2 : 256;
        cs_sync_job **p = realloc(w->jobs, n * sizeof *p);
        if (!p)
            goto fail;
        w->jobs = p;
        int64_t *t = realloc(w->ts, n * sizeof *t);
        if (!t)
            goto fail;
        w->ts = t;
        w->cap_jobs = n;
    }
    w->ts[w->n_jobs] = ts;
    w->jobs[w->n_jobs++] = j;
    *slot = w->n_jobs;
    return 0;
fail:
    if (j->from_retry)
        hold_claim(w, j);
    else
        job_put(w, j);
    return -1;
}

static void reset_batch(cs_worker *w)
{
    for (size_t i = 0; i < w->n_jobs; i++)
        job_put(w, w->jobs[i]);
    w->n_jobs = 0;
    if (w->slots)
        memset(w->slots, 0, w->n_slots * sizeof *w->slots);
    rd_kafka_topic_partition_list_destroy(w->first);
    rd_kafka_topic_partition_list_destroy(w->next);
    w->first = rd_kafka_topic_partition_list_new(8);
    w->next = rd_kafka_topic_partition_list_new(8);
    w->n_msgs = 0;
    w->n_bytes = 0;
    wdlq_new_batch(&w->dlq);
    w->batch_started = 0;
}

/* ---- consuming ---- */

static void track_offset(cs_worker *w, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_topic_partition_t *n = rd_kafka_topic_partition_list_find(w->next, topic, m->partition);
    if (!n) {
        rd_kafka_topic_partition_list_add(w->first, topic, m->partition)->offset = m->offset;
        n = rd_kafka_topic_partition_list_add(w->next, topic, m->partition);
    }
    n->offset = m->offset + 1;
}

static void dead_letter(cs_worker *w, const rd_kafka_message_t *m, cs_event_err e,
                        const char *reason)
{
    wdlq_send(&w->dlq, m, e, reason);
    w->n_dead++;
    obs_dead_lettered(w->obs);
}

static void handle_message(cs_worker *w, const rd_kafka_message_t *m)
{
    char err[512];
    cs_event *ev = NULL;
    track_offset(w, m);
    w->n_msgs++;
    w->n_bytes += m->len;
    w->n_events++;
    obs_consumed(w->obs);
    cs_event_err e = cs_event_parse(m->payload, m->len, &w->lim, &ev, err, sizeof err);
    if (e != CS_EVENT_OK) {
        dead_letter(w, m, e, err);
        return;
    }
    rd_kafka_timestamp_type_t ts_type;
    int64_t ts = rd_kafka_message_timestamp(m, &ts_type);
    if (ts < 0)
        ts = 0;
    /* Decide every route first: add_job() takes the event and may free it. */
    size_t n = w->ops->n_conns(w->sink), left = 0;
    unsigned char *go = calloc(n ? n : 1, 1);
    for (size_t i = 0; go && i < n; i++)
        left += go[i] = (unsigned char)(w->ops->routes(w->sink, i, ev) != 0);
    if (!go || !left) {
        if (!go)
            CS_ERROR(w->ops->name, "out of memory routing an event");
        free(go);
        cs_event_destroy(ev);
        return;
    }
    /* Every connection's job holds the one decoded event (read-only). */
    for (size_t i = 0; i < n; i++) {
        if (!go[i])
            continue;
        cs_event *one = --left ? cs_event_share(ev) : ev;
        if (add_job(w, i, one, NULL, ts) != 0)
            CS_ERROR(w->ops->name, "out of memory adding a job");
    }
    free(go);
}

/* ---- retries ---- */

static void on_claim(void *opaque, const char *member, const char *token, const char *snap,
                     size_t snap_len)
{
    cs_worker *w = opaque;
    char err[512];
    cs_event *ev = NULL;
    const char *bar = strchr(member, '|');
    size_t conn = (size_t)-1, n = w->ops->n_conns(w->sink);
    for (size_t i = 0; bar && i < n; i++) {
        const char *id = w->ops->conn_id(w->sink, i);
        if (strlen(id) == (size_t)(bar - member) && strncmp(id, member, (size_t)(bar - member)) == 0)
            conn = i;
    }
    if (conn == (size_t)-1 || cs_event_parse(snap, snap_len, &w->lim, &ev, err, sizeof err) != 0) {
        /* The lease expires and another worker (one that knows the
         * connection) takes it. */
        CS_WARN(w->ops->name, "retry %s: %s", member,
                conn == (size_t)-1 ? "connection not configured in this worker" : err);
        return;
    }
    obs_retry_claimed(w->obs);
    add_job(w, conn, ev, token, 0);
}

/* Hands back jobs a busy connection cannot take: queued in Redis, due at
 * once, claimed when a lane has room (docs/DESIGN.md, "Connections progress
 * independently"). */
static void hand_back(cs_worker *w, size_t conn, cs_sync_job **jobs, size_t k)
{
    CS_DEBUG(w->ops->name, "%s %s busy (%d batches in hand): %zu product(s) wait in Redis",
             w->ops->conn_noun, w->ops->conn_id(w->sink, conn),
             w->cfg->worker_max_inflight_batches, k);
    for (size_t i = 0; i < k; i++) {
        jobs[i]->dispatched = 0;
        memset(&jobs[i]->out, 0, sizeof jobs[i]->out);
        jobs[i]->out.kind = CS_OUT_RELEASE;
        jobs[i]->out.resume_at = cs_now_ms();
    }
}

/* Why begin kept a fresh event from a push, for the DEBUG line (followed by
 * begin's word, cs_begin_name): by CS_BEGIN_*; a dup reads "already " and
 * the stored status. */
static const char *const begin_why[OBS_N_BEGIN] = {
    [CS_BEGIN_STALE] = "superseded",
    [CS_BEGIN_DUP] = "already ",
    [CS_BEGIN_DEFERRED] = "queued behind a retry in flight",
    [CS_BEGIN_EXCLUDED] = "excluded by an operator",
    [CS_BEGIN_HELD] = "in another worker's hands",
};

/* Gates the batch (begin), hands each connection's jobs to its lane,
 * settles what stays here (hand-backs) and commits: every version handed
 * to a lane is durable from begin on (its recovery entry).  0, or -1 when
 * Redis or the dead-letter topic failed (nothing committed: the caller
 * rewinds). */
static int flush(cs_worker *w)
{
    double started = obs_now();
    size_t limit = (size_t)w->cfg->worker_batch_max, n_events = w->n_msgs;
    size_t n_conns = w->ops->n_conns(w->sink);
    if (!w->stopping && w->n_jobs < limit) {
        /* The members of busy connections stay queued in Redis. */
        const char **busy = malloc((n_conns + 1) * sizeof *busy);
        size_t n_busy = 0;
        for (size_t c = 0; busy && c < n_conns; c++)
            if (lane_busy(&w->lanes[c]))
                busy[n_busy++] = w->ops->conn_id(w->sink, c);
        long got = busy ? cs_sync_claim_except(w->sync, limit - w->n_jobs, busy, n_busy,
                                                on_claim, w) : -1;
        free(busy);
        if (got < 0)
            return -1;
    }
    /* Claims met by a fresh event of this batch (before its begin), and
     * those of a batch dropped earlier. */
    if (release_held(w) != 0)
        return -1;
    if (w->n_jobs == 0 && w->n_msgs == 0)
        return 0;

    size_t n_fresh = 0, n_todo = 0;
    cs_sync_job **fresh = malloc((w->n_jobs + 1) * sizeof *fresh);
    cs_sync_job **todo = malloc((w->n_jobs + 1) * sizeof *todo);
    int rc = -1;
    if (!fresh || !todo)
        goto out;
    if (w->ops->prepare) {
        cs_push_ctx ctx = {NULL, w, w->redis, w->sync, NULL, 0};
        if (w->ops->prepare(w->sink, &ctx, w->jobs, w->n_jobs) != 0)
            goto out;
    }
    for (size_t i = 0; i < w->n_jobs; i++) {
        w->jobs[i]->ts = w->ts[i];
        if (!w->jobs[i]->ignore)
            todo[n_todo++] = w->jobs[i];
    }
    for (size_t i = 0; i < n_todo; i++)
        if (!todo[i]->from_retry)
            fresh[n_fresh++] = todo[i];
    if (cs_sync_begin(w->sync, fresh, n_fresh) != 0)
        goto out;
    size_t n_live = n_todo;
    n_todo = 0;
    for (size_t i = 0; i < n_live; i++) {
        cs_sync_job *j = todo[i];
        if (!j->from_retry && j->begin_result != CS_BEGIN_PUSH) {
            int r = j->begin_result;
            if (r <= CS_BEGIN_PUSH || r >= OBS_N_BEGIN || !begin_why[r])
                r = CS_BEGIN_DUP;
            CS_DEBUG(w->ops->name, "product %s version %lld for %s not pushed now: %s%s (%s)",
                     j->ev->product.id, (long long)j->ev->product.version, j->conn_id,
                     begin_why[r], r == CS_BEGIN_DUP ? j->st.status : "", cs_begin_name(r));
            if (r == CS_BEGIN_STALE) {
                w->n_stale++;
                obs_superseded(w->obs);
            } else {
                w->n_not_pushed[r]++;
                obs_not_pushed(w->obs, r);
            }
            continue;
        }
        todo[n_todo++] = j;
    }
    /* The jobs by connection (in fresh, reused): a lane with room takes
     * its connection's, a busy one's are handed back to Redis. */
    size_t *start = calloc(n_conns + 1, sizeof *start);
    if (!start)
        goto out;
    size_t k = 0;
    for (size_t c = 0; c < n_conns; c++) {
        start[c] = k;
        for (size_t i = 0; i < n_todo; i++)
            if (todo[i]->conn == c) {
                todo[i]->dispatched = 1;
                fresh[k++] = todo[i];
            }
        if (k > start[c] && lane_busy(&w->lanes[c]))
            hand_back(w, c, fresh + start[c], k - start[c]);
    }
    start[n_conns] = k;
    /* What stays here (hand-backs, claimed retries with nothing to do);
     * the rest leaves w->jobs before any lane sees it. */
    size_t kept = 0;
    for (size_t i = 0; i < w->n_jobs; i++) {
        cs_sync_job *j = w->jobs[i];
        if (j->dispatched)
            continue;
        if (j->from_retry && (j->out.kind == CS_OUT_NONE || j->ignore)) {
            j->ignore = 0;
            j->out.kind = CS_OUT_RELEASE;
            j->out.resume_at = cs_now_ms();
        }
        w->ts[kept] = w->ts[i];
        w->jobs[kept++] = j;
    }
    w->n_jobs = kept;
    if (w->slots)
        memset(w->slots, 0, w->n_slots * sizeof *w->slots);
    for (size_t c = 0; c < n_conns; c++) {
        size_t a = start[c], n = start[c + 1] - a;
        if (!n || !fresh[a]->dispatched)
            continue;
        if (lane_offer(&w->lanes[c], fresh + a, n) != 0) {
            /* Out of memory (a lane only ever frees room): back to Redis. */
            hand_back(w, c, fresh + a, n);
            for (size_t i = 0; i < n; i++) {   /* room: they were in w->jobs */
                w->ts[w->n_jobs] = fresh[a + i]->ts;
                w->jobs[w->n_jobs++] = fresh[a + i];
            }
        }
    }
    free(start);
    if (cs_sync_settle(w->sync, w->jobs, w->n_jobs) != 0)
        goto out;
    if (wdlq_settle(&w->dlq) != 0)
        goto out;
    if (w->next->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_commit(w->rk, w->next, 0);
        if (err)
            CS_WARN(w->ops->name, "offset commit failed: %s (events will be seen again and "
                    "skipped by the version gate)", rd_kafka_err2str(err));
    }
    rc = 0;
out:
    free(fresh);
    free(todo);
    obs_flush(w->obs, n_events, obs_now() - started);
    if (rc == 0)
        reset_batch(w);
    return rc;
}

/* Drops the batch unsettled: its events are read again (rewind) or by the
 * partitions' next owner; its claimed retries are handed back now, or at
 * the next flush when Redis does not answer. */
static void drop_batch(cs_worker *w)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n_jobs; i++) {
        if (w->jobs[i]->from_retry) {
            hold_claim(w, w->jobs[i]);
        } else {
            w->ts[k] = w->ts[i];
            w->jobs[k++] = w->jobs[i];
        }
    }
    w->n_jobs = k;
    reset_batch(w);
    if (release_held(w) != 0)
        CS_WARN(w->ops->name, "%zu claimed retr%s of the dropped batch not handed back yet "
                "(Redis): at the next flush", w->n_held, w->n_held == 1 ? "y" : "ies");
}

/* Drops the batch and rewinds every partition to the batch's first offset,
 * so that nothing whose outcome is not durable is lost. */
static void rewind_batch(cs_worker *w)
{
    if (w->first->cnt) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(w->rk, w->first, 5000);
        if (e) {
            CS_ERROR(w->ops->name, "rewind failed: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    drop_batch(w);
}

/* Polls Kafka with every partition paused until Redis answers again. */
static void wait_for_redis(cs_worker *w, volatile sig_atomic_t *stop)
{
    rd_kafka_topic_partition_list_t *asg = NULL;
    if (rd_kafka_assignment(w->rk, &asg) == 0 && asg)
        rd_kafka_pause_partitions(w->rk, asg);
    int64_t next_try = 0;
    obs_redis(w->obs, w->redis);
    while (!*stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 200);
        if (m)
            rd_kafka_message_destroy(m);   /* paused: none expected */
        obs_beat(w->obs);
        if (cs_mono_ms() >= next_try) {
            int rc = cs_redis_ready(w->redis);
            obs_redis(w->obs, w->redis);
            if (rc == 0)
                break;
            next_try = cs_mono_ms() + 1000;
        }
    }
    if (asg) {
        rd_kafka_resume_partitions(w->rk, asg);
        rd_kafka_topic_partition_list_destroy(asg);
    }
}

/* For the rebalance callback (worker_rebalance.c). */
int worker_flush(cs_worker *w)
{
    return flush(w);
}

void worker_drop_batch(cs_worker *w)
{
    drop_batch(w);
}

cs_worker *cs_worker_new(cs_config *cfg, const cs_sink_ops *ops, const char *group,
                         char *errstr, size_t errstr_size)
{
    cs_worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    w->cfg = cfg;
    w->ops = ops;
    w->lim.max_bytes = (size_t)cfg->event_max_bytes;
    w->first = rd_kafka_topic_partition_list_new(8);
    w->next = rd_kafka_topic_partition_list_new(8);
    w->spare = calloc((size_t)cfg->worker_batch_max, sizeof *w->spare);   /* none: no reuse */
    if (!(w->sink = ops->create(cfg, errstr, errstr_size)))
        goto fail;
    size_t n_conns = ops->n_conns(w->sink);
    const char **ids = calloc(n_conns + 1, sizeof *ids);
    for (size_t i = 0; ids && i < n_conns; i++)
        ids[i] = ops->conn_id(w->sink, i);
    w->obs = ids ? obs_new(cfg, ops->name, ids, n_conns) : NULL;
    free(ids);
    if (!w->obs) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; ops->conn_http && i < n_conns; i++)
        obs_watch_http(w->obs, i, ops->conn_http(w->sink, i));
    if (!(w->redis = cs_redis_new(cfg)) || !(w->sync = cs_sync_new(w->redis, cfg, ops->name))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (wdlq_init(&w->dlq, cfg, ops->name, errstr, errstr_size) != 0)
        goto fail;
    rd_kafka_conf_t *conf = cs_kafka_consumer_conf_new(cfg, ops->group, errstr, errstr_size);
    if (!conf)
        goto fail;
    char e[512];
    if (rd_kafka_conf_set(conf, "group.id", group ? group : ops->group, e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e) ||
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", e, sizeof e)) {
        snprintf(errstr, errstr_size, "kafka consumer: %s", e);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(conf, worker_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, w);
    if (!(w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e))) {
        snprintf(errstr, errstr_size, "kafka consumer: %s", e);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_poll_set_consumer(w->rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, cfg->kafka_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(w->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe %s: %s", cfg->kafka_topic, rd_kafka_err2str(err));
        goto fail;
    }
    if (cfg->worker_http_listen[0] &&
        obs_http_start(w->obs, cfg->worker_http_listen, errstr, errstr_size) != 0)
        goto fail;
    if (lanes_start(w, &w->lanes, errstr, errstr_size) != 0)
        goto fail;
    return w;
fail:
    cs_worker_destroy(w);
    return NULL;
}

int cs_worker_run(cs_worker *w, volatile sig_atomic_t *stop)
{
    CS_INFO(w->ops->name, "worker started: %zu %s(s), topic %s, batch %d events or %d bytes, "
            "linger %d ms", w->ops->n_conns(w->sink), w->ops->conn_noun, w->cfg->kafka_topic,
            w->cfg->worker_batch_max, w->cfg->worker_batch_max_bytes, w->cfg->worker_linger_ms);
    /* While events flow, a batch's linger window opens when the previous
     * flush starts, so an event that arrives during a flush waits for at
     * most linger_ms and the next flush, not that flush, a whole linger and
     * the next flush; after a flush longer than linger_ms, what is already
     * fetched is taken at once (up to batch_max) and flushed.  After an idle
     * flush (no event: start-up, a quiet topic) the window opens with the
     * batch's first event instead, so that the events around it still get a
     * whole linger to join it (an export and the changes published with it
     * meet in one batch however slowly the worker started). */
    int64_t window = cs_mono_ms();
    int flowing = 0;
    while (!*stop) {
        obs_beat(w->obs);
        if (cs_redis_ready(w->redis) != 0) {
            wait_for_redis(w, stop);
            window = cs_mono_ms();
            continue;
        }
        int64_t deadline = window + w->cfg->worker_linger_ms;
        while (!*stop && w->n_msgs < (size_t)w->cfg->worker_batch_max &&
               w->n_bytes < (size_t)w->cfg->worker_batch_max_bytes) {
            int64_t left = deadline - cs_mono_ms();
            rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, left > 0 ? (int)left : 0);
            obs_beat(w->obs);
            if (!m) {
                if (left <= 0)
                    break;
                continue;
            }
            if (!flowing) {
                deadline = cs_mono_ms() + w->cfg->worker_linger_ms;
                flowing = 1;
            }
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    CS_WARN(w->ops->name, "consumer: %s", rd_kafka_message_errstr(m));
            } else {
                handle_message(w, m);
            }
            rd_kafka_message_destroy(m);
        }
        window = cs_mono_ms();
        size_t taken = w->n_msgs, taken_bytes = w->n_bytes;
        flowing = taken > 0;
        int rc = flush(w);
        obs_redis(w->obs, w->redis);
        trim_heap(w, taken, taken_bytes);
        if (rc != 0) {
            rewind_batch(w);
            wait_for_redis(w, stop);
        }
    }
    /* Shutdown: settle what was taken, commit, leave the group. */
    int64_t stop_started = cs_mono_ms();
    obs_stopping(w->obs);
    w->stopping = 1;
    if ((w->n_jobs || w->n_msgs) && flush(w) != 0)
        rewind_batch(w);
    /* The lanes finish their batches and confirmations by three quarters
     * of the deadline (requests cut short there), so that the offsets and
     * the group are left in time. */
    lanes_stop(w->lanes, w->ops->n_conns(w->sink),
               stop_started + (int64_t)w->cfg->worker_shutdown_ms * 3 / 4, &w->tally,
               &w->n_stale);
    w->lanes = NULL;
    if (release_held(w) != 0)
        CS_WARN(w->ops->name, "%zu claimed retr%s not handed back (Redis): due again when "
                "the lease ends (retry.lease_ms)", w->n_held, w->n_held == 1 ? "y" : "ies");
    /* Begin's other answers, by its words: "0 dup, 0 deferred, ..." */
    char not_pushed[256] = "";
    size_t used = 0;
    for (int r = CS_BEGIN_PUSH + 1; r < OBS_N_BEGIN; r++) {
        if (r == CS_BEGIN_STALE || used >= sizeof not_pushed)
            continue;
        int len = snprintf(not_pushed + used, sizeof not_pushed - used, "%s%llu %s",
                           used ? ", " : "", w->n_not_pushed[r], cs_begin_name(r));
        if (len > 0)
            used += (size_t)len;
    }
    CS_INFO(w->ops->name, "stopping: %llu events, %llu synced, %llu retrying, %llu failed, "
            "%llu paused, %llu deleted, %llu skipped, %llu superseded, %llu dead-lettered, "
            "not pushed: %s",
            w->n_events, w->tally.synced, w->tally.retry, w->tally.failed, w->tally.paused,
            w->tally.deleted, w->tally.skipped, w->n_stale, w->n_dead, not_pushed);
    rd_kafka_consumer_close(w->rk);
    return 0;
}

void cs_worker_destroy(cs_worker *w)
{
    if (!w)
        return;
    obs_http_stop(w->obs);
    if (w->lanes) {             /* never ran, or did not stop: now */
        lanes_stop(w->lanes, w->ops->n_conns(w->sink), cs_mono_ms(), &w->tally, &w->n_stale);
        w->lanes = NULL;
    }
    if (w->rk) {
        rd_kafka_destroy(w->rk);
        w->rk = NULL;
    }
    reset_batch(w);
    for (size_t i = 0; i < w->n_held; i++)
        job_put(w, w->held[i]);
    free(w->held);
    rd_kafka_topic_partition_list_destroy(w->first);
    rd_kafka_topic_partition_list_destroy(w->next);
    for (size_t i = 0; i < w->n_spare; i++)
        free(w->spare[i]);
    free(w->spare);
    free(w->jobs);
    free(w->ts);
    free(w->slots);
    wdlq_destroy(&w->dlq);
    cs_sync_destroy(w->sync);
    cs_redis_destroy(w->redis);
    if (w->sink)
        w->ops->destroy(w->sink);
    obs_destroy(w->obs);        /* after the sink: its HTTP clients report to obs */
    free(w);
}
