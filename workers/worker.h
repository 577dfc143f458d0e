/*
 * worker: the channel-neutral consume/decode → route/coalesce → gate (begin)
 * → push → confirm → settle → commit loop that every sink runs in
 * (docs/DESIGN.md).  Where each stage lives, and which stage calls
 * which hook of a sink: sink.h.
 *
 * Offsets are committed only after every event of a batch has a durable
 * outcome in Redis (or sits in the dead-letter topic, acknowledged).  When
 * Redis is unreachable the worker stops taking events, rewinds to the last
 * commit, and carries on when Redis is back.
 *
 * Thread safety: a worker runs on one thread.
 */
#ifndef CS_WORKER_H
#define CS_WORKER_H

#include <signal.h>

#include "cs_config.h"
#include "sink.h"

typedef struct cs_worker cs_worker;

cs_worker *cs_worker_new(cs_config *cfg, const cs_sink_ops *ops, const char *group,
                         char *errstr, size_t errstr_size);
/* Runs until *stop is set; returns the process exit status. */
int cs_worker_run(cs_worker *w, volatile sig_atomic_t *stop);
void cs_worker_destroy(cs_worker *w);

#endif
