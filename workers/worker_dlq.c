#include "worker_dlq.h"
#include "cs_log.h"

#include <stdio.h>
#include <string.h>

int wdlq_init(worker_dlq *d, const cs_config *cfg, const char *sink, char *errstr,
              size_t errstr_size)
{
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    d->sink = sink;
    if (!(d->pub = cs_publisher_new(cfg, NULL, NULL, errstr, errstr_size)))
        return -1;
    return 0;
}

void wdlq_destroy(worker_dlq *d)
{
    cs_publisher_destroy(d->pub);
    d->pub = NULL;
}

void wdlq_new_batch(worker_dlq *d)
{
    d->queued = 0;
    d->not_queued = 0;
    if (d->pub) {
        cs_publisher_stats st;
        cs_publisher_get_stats(d->pub, &st);
        d->failed_base = st.failed;
    }
}

void wdlq_send(worker_dlq *d, const rd_kafka_message_t *m, cs_event_err e, const char *reason)
{
    char part[16], off[24], err[512];
    snprintf(part, sizeof part, "%d", m->partition);
    snprintf(off, sizeof off, "%lld", (long long)m->offset);
    cs_header h[] = {
        {"reason", reason},
        {"error", cs_event_err_name(e)},
        {"source_topic", rd_kafka_topic_name(m->rkt)},
        {"source_partition", part},
        {"source_offset", off},
        {"sink", d->sink},
    };
    CS_WARN(d->sink, "dead-lettered event at %s[%d]@%lld: %s", rd_kafka_topic_name(m->rkt),
            m->partition, (long long)m->offset, reason);
    /* A payload over the event cap is cut to its first 64 KiB in the dead
     * letter (the reason says how large it was): the topic must take it. */
    size_t len = m->len, cut = 64 * 1024;
    char orig[24];
    snprintf(orig, sizeof orig, "%zu", m->len);
    cs_header h2[8];
    size_t nh = sizeof h / sizeof h[0];
    memcpy(h2, h, sizeof h);
    if (e == CS_EVENT_ETOOBIG && len > cut) {
        len = cut;
        h2[nh].name = "truncated_from";
        h2[nh++].value = orig;
    }
    if (cs_publisher_send(d->pub, d->cfg->kafka_dlq_topic, m->key, m->key_len, m->payload,
                          len, h2, nh, NULL, err, sizeof err) != 0) {
        CS_ERROR(d->sink, "cannot queue dead letter: %s; not committing", err);
        d->not_queued++;
    }
    d->queued++;
}

int wdlq_settle(worker_dlq *d)
{
    if (d->not_queued)
        return -1;
    if (!d->queued)
        return 0;
    if (cs_publisher_flush(d->pub, 30000) != 0) {
        CS_ERROR(d->sink, "dead-letter topic did not acknowledge; not committing");
        return -1;
    }
    cs_publisher_stats st;
    cs_publisher_get_stats(d->pub, &st);
    if (st.failed > d->failed_base) {
        const char *why = cs_publisher_last_error(d->pub);
        CS_ERROR(d->sink, "dead-letter delivery failed: %s; not committing", why ? why : "?");
        return -1;
    }
    return 0;
}
