/*
 * worker_obs: what a worker tells operators — Prometheus metrics, liveness
 * and readiness — and the optional HTTP server (worker.http_listen) that
 * serves them:
 *
 *   GET /metrics   the exposition (cs_metrics), catalogsync_* families
 *   GET /healthz   200 "ok" while the main loop has run recently, else 503
 *   GET /readyz    200 when the Kafka consumer has joined its group and Redis
 *                  answered the last command, else 503 with the reasons
 *   other paths 404; other methods than GET and HEAD 405
 *
 * Labels are bounded: the sink, connection ids from the configuration,
 * outcome labels (cs_settle_results' tally), begin's words (cs_begin_name)
 * and status-class names.  Never a product.
 *
 * Thread safety: the obs_* update calls belong to the worker's thread; the
 * HTTP handler runs on the server's thread and reads only the metrics
 * registry (locked) and the health fields (locked or atomic).
 */
#ifndef CS_WORKER_OBS_H
#define CS_WORKER_OBS_H

#include <stddef.h>

#include "cs_config.h"
#include "cs_http.h"
#include "cs_httpd.h"
#include "cs_redis.h"
#include "cs_sync.h"

typedef struct worker_obs worker_obs;

/* Begin's answers are CS_BEGIN_PUSH (1) .. CS_BEGIN_HELD (common/cs_sync.h):
 * arrays indexed by them have this many entries. */
#define OBS_N_BEGIN (CS_BEGIN_HELD + 1)

/* conn_ids: the sink's connection ids (copied).  NULL when out of memory. */
worker_obs *obs_new(const cs_config *cfg, const char *sink, const char *const *conn_ids,
                    size_t n_conns);
/* Starts the HTTP server on listen and logs "HTTP listening on ADDR".
 * -1 with errstr filled when it cannot listen. */
int obs_http_start(worker_obs *o, const char *listen, char *errstr, size_t errstr_size);
/* The server's request handler (ud: the worker_obs): /metrics, /healthz,
 * /readyz; exported for the fuzz_httpd harness. */
void obs_http_handle(void *ud, const cs_httpd_req *req, cs_httpd_resp *resp);
/* Stops the HTTP server, if started (logs "HTTP server stopped"). */
void obs_http_stop(worker_obs *o);
/* Stops the server (if still running) and frees everything.  Accepts NULL.
 * Call after the HTTP clients given to obs_watch_http() are gone. */
void obs_destroy(worker_obs *o);

/* Seconds from a monotonic clock, for durations. */
double obs_now(void);

void obs_beat(worker_obs *o);                           /* the main loop ran */
void obs_consumed(worker_obs *o);
void obs_dead_lettered(worker_obs *o);
void obs_superseded(worker_obs *o);
/* A fresh event begin kept from a push for another reason than a newer
 * version (CS_BEGIN_DUP, _DEFERRED, _EXCLUDED, _HELD: its reason= label is
 * begin's word, cs_begin_name). */
void obs_not_pushed(worker_obs *o, int begin_result);
void obs_retry_claimed(worker_obs *o);
/* A settled outcome at connection conn: res is a CS_SETTLE_* (common/cs_vocab.h)
 * with a tally label, its outcome= label; any other is not counted. */
void obs_pushed(worker_obs *o, size_t conn, int res);
void obs_end_to_end(worker_obs *o, double seconds);
void obs_flush(worker_obs *o, size_t n_events, double seconds);
/* The consumer's group membership after a rebalance. */
void obs_assignment(worker_obs *o, int joined, int n_partitions);
/* Reads the Redis connection's state (worker thread) for readiness and the
 * error counter. */
void obs_redis(worker_obs *o, const cs_redis *r);
/* Times every request made through h as connection conn's. */
void obs_watch_http(worker_obs *o, size_t conn, cs_http *h);
/* The worker is stopping: /readyz answers 503 from now on. */
void obs_stopping(worker_obs *o);

#endif
