#include "cs_kafka.h"
#include "cs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cs_publisher {
    rd_kafka_t *rk;
    char *topic;
    cs_publish_cb *cb;
    void *cb_opaque;
    cs_publisher_stats st;
    char first_error[512];
    char last_error[512];
    cs_buf scratch;
};

static void kafka_log_cb(const rd_kafka_t *rk __attribute__((unused)), int level, const char *fac,
                         const char *buf)
{
    cs_log_level l = level <= 3 ? CS_LOG_ERROR : level <= 4 ? CS_LOG_WARN
                   : level <= 6 ? CS_LOG_INFO : CS_LOG_DEBUG;
    CS_LOG(l, "kafka", "%s: %s", fac, buf);
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason,
                           void *opaque __attribute__((unused)))
{
    char fatal[512];
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        CS_ERROR("kafka", "fatal client error: %s", fatal);
        return;
    }
    /* Transport errors are retried by librdkafka itself; they matter only
     * when they last, which the delivery reports will show. */
    CS_WARN("kafka", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, int secret,
                    char *errstr, size_t errstr_size)
{
    char e[512];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka property %s=%s: %s", k, secret ? "[REDACTED]" : v,
                 e);
        cs_log_redact(errstr, errstr_size);
        return -1;
    }
    return 0;
}

/* The C/P column of librdkafka's own property table (its CONFIGURATION.md,
 * printed by rd_kafka_conf_properties_show): 'C' consumer only, 'P'
 * producer only, '*' both; '*' for a name not in the table. */
static char property_role(const char *table, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = table; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, n) != 0 || (l[n] != ' ' && l[n] != '|'))
            continue;
        const char *bar = strchr(l, '|');
        const char *eol = strchr(l, '\n');
        if (!bar || (eol && bar > eol))
            continue;
        for (const char *c = bar + 1; *c && *c != '|' && *c != '\n'; c++)
            if (*c == 'C' || *c == 'P')
                return *c;
        return '*';
    }
    return '*';
}

rd_kafka_conf_t *cs_kafka_conf_new(const cs_config *cfg, const char *client_id,
                                   rd_kafka_type_t type, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char *table = NULL;
    size_t table_len = 0;
    if (cfg->n_kafka_props) {
        FILE *f = open_memstream(&table, &table_len);
        if (f) {
            rd_kafka_conf_properties_show(f);
            fclose(f);
        }
    }
    char other = type == RD_KAFKA_PRODUCER ? 'C' : 'P';
    if (conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, 0, errstr, errstr_size) ||
        conf_set(conf, "client.id", client_id, 0, errstr, errstr_size))
        goto fail;
    for (size_t i = 0; i < cfg->n_kafka_props; i++) {
        if (property_role(table, cfg->kafka_props[i].key) == other) {
            CS_DEBUG("kafka", "property %s is for %s only: not given to this %s",
                     cfg->kafka_props[i].key, other == 'C' ? "consumers" : "producers",
                     other == 'C' ? "producer" : "consumer");
            continue;
        }
        if (conf_set(conf, cfg->kafka_props[i].key, cfg->kafka_props[i].value,
                     cfg->kafka_props[i].secret, errstr, errstr_size))
            goto fail;
    }
    free(table);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    return conf;
fail:
    free(table);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* catalogsync's own defaults for the workers' consumer, applied unless
 * kafka.properties (or CATALOGSYNC_KAFKA_PROP_*, -X) sets the property
 * (issue 17 item 7).  librdkafka's prefetch (queued.max.messages.kbytes,
 * 65536 KB per consumer by default, fetched 1 MB per partition at a time)
 * was most of a worker's RSS on a backlog: 142 MiB over 24 partitions;
 * with these, 29-31 MiB, for a backlog drained about 40 % slower (the
 * queue holds under three batches, so a flush often finds less than a
 * batch fetched and waits out linger_ms).  Measurements and the trade-off:
 * docs/PERFORMANCE.md, "Worker memory"; raising them:
 * docs/CONFIGURATION.md, "The workers' prefetch".
 * An event larger than max.partition.fetch.bytes is still fetched:
 * librdkafka grows that partition's fetch size until it fits (its property
 * table says so; events up to events.max_bytes pass). */
static const cs_kafka_default consumer_defaults[] = {
    {"queued.max.messages.kbytes", "3072", NULL},
    {"max.partition.fetch.bytes", "262144", "fetch.message.max.bytes"},
};

const cs_kafka_default *cs_kafka_consumer_defaults(size_t *n)
{
    *n = sizeof consumer_defaults / sizeof consumer_defaults[0];
    return consumer_defaults;
}

/* Whether the configuration sets d's property, by its name or its alias. */
static int user_sets(const cs_config *cfg, const cs_kafka_default *d)
{
    for (size_t i = 0; i < cfg->n_kafka_props; i++)
        if (strcmp(cfg->kafka_props[i].key, d->name) == 0 ||
            (d->alias && strcmp(cfg->kafka_props[i].key, d->alias) == 0))
            return 1;
    return 0;
}

rd_kafka_conf_t *cs_kafka_consumer_conf_new(const cs_config *cfg, const char *client_id,
                                            char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = cs_kafka_conf_new(cfg, client_id, RD_KAFKA_CONSUMER, errstr,
                                              errstr_size);
    for (size_t i = 0; conf && i < sizeof consumer_defaults / sizeof consumer_defaults[0]; i++)
        if (!user_sets(cfg, &consumer_defaults[i]) &&
            conf_set(conf, consumer_defaults[i].name, consumer_defaults[i].value, 0, errstr,
                     errstr_size)) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    return conf;
}

void cs_kafka_consumer_conf_dump(const cs_config *cfg, FILE *out)
{
    char err[512];
    rd_kafka_conf_t *conf = cs_kafka_consumer_conf_new(cfg, "catalogsync-worker", err,
                                                       sizeof err);
    fputs("# the workers' Kafka consumer: catalogsync's defaults unless kafka.properties "
          "sets them\n", out);
    if (!conf) {
        fprintf(out, "#   (not built: %s)\n", err);
        return;
    }
    for (size_t i = 0; i < sizeof consumer_defaults / sizeof consumer_defaults[0]; i++) {
        char v[128];
        size_t vlen = sizeof v;
        if (rd_kafka_conf_get(conf, consumer_defaults[i].name, v, &vlen) != RD_KAFKA_CONF_OK)
            snprintf(v, sizeof v, "?");
        fprintf(out, "#   %s=%s (%s)\n", consumer_defaults[i].name, v,
                user_sets(cfg, &consumer_defaults[i]) ? "kafka.properties"
                                                          : "catalogsync default");
    }
    rd_kafka_conf_destroy(conf);
}

static void dr_cb(rd_kafka_t *rk __attribute__((unused)), const rd_kafka_message_t *m,
                  void *opaque)
{
    cs_publisher *p = opaque;
    const char *err = NULL;
    if (m->err) {
        err = rd_kafka_err2str(m->err);
        p->st.failed++;
        snprintf(p->last_error, sizeof p->last_error, "%s (%s)", err, rd_kafka_err2name(m->err));
        if (!p->first_error[0])
            snprintf(p->first_error, sizeof p->first_error, "%s", p->last_error);
    } else {
        p->st.acked++;
    }
    if (p->cb)
        p->cb(p->cb_opaque, m->_private, err);
}

cs_publisher *cs_publisher_new(const cs_config *cfg, cs_publish_cb *cb, void *cb_opaque,
                               char *errstr, size_t errstr_size)
{
    cs_publisher *p = calloc(1, sizeof *p);
    if (!p || !(p->topic = strdup(cfg->kafka_topic))) {
        free(p);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->cb = cb;
    p->cb_opaque = cb_opaque;
    cs_buf_init(&p->scratch, (size_t)cfg->event_max_bytes + 1);

    char e[512];
    rd_kafka_conf_t *conf = cs_kafka_conf_new(cfg, "catalogsync-publish",
                                              RD_KAFKA_PRODUCER, errstr, errstr_size);
    if (!conf)
        goto fail;
    /* The guarantees nobody may turn off; then defaults the properties
     * did not set. */
    if (conf_set(conf, "enable.idempotence", "true", 0, errstr, errstr_size) ||
        conf_set(conf, "acks", "all", 0, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    int user_linger = 0, user_timeout = 0, user_max = 0;
    for (size_t i = 0; i < cfg->n_kafka_props; i++) {
        user_linger |= strcmp(cfg->kafka_props[i].key, "linger.ms") == 0;
        user_timeout |= strcmp(cfg->kafka_props[i].key, "message.timeout.ms") == 0;
        user_max |= strcmp(cfg->kafka_props[i].key, "message.max.bytes") == 0;
    }
    /* Room for an event at the size cap plus key and headers (librdkafka's
     * default of 1,000,000 bytes is below the 1 MiB cap). */
    char maxb[24];
    snprintf(maxb, sizeof maxb, "%d", cfg->event_max_bytes + 65536);
    if (!user_max && conf_set(conf, "message.max.bytes", maxb, 0, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if ((!user_linger && conf_set(conf, "linger.ms", "5", 0, errstr, errstr_size)) ||
        (!user_timeout && conf_set(conf, "message.timeout.ms", "60000", 0, errstr, errstr_size))) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "cannot create Kafka producer: %s", e);
        goto fail;
    }
    return p;
fail:
    cs_buf_free(&p->scratch);
    free(p->topic);
    free(p);
    return NULL;
}

int cs_publisher_send(cs_publisher *p, const char *topic, const char *key, size_t key_len,
                      const void *value, size_t value_len, const cs_header *headers,
                      size_t n_headers, void *msg_opaque, char *errstr, size_t errstr_size)
{
    for (;;) {
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(n_headers ? n_headers : 1);
        for (size_t i = 0; i < n_headers; i++)
            rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value, -1);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic ? topic : p->topic),
            RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_OPAQUE(msg_opaque),
            RD_KAFKA_V_END);
        if (!err) {
            p->st.queued++;
            rd_kafka_poll(p->rk, 0);
            return 0;
        }
        rd_kafka_headers_destroy(hdrs);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* Back-pressure: serve delivery reports until there is room. */
            rd_kafka_poll(p->rk, 100);
            continue;
        }
        snprintf(errstr, errstr_size, "cannot queue message: %s", rd_kafka_err2str(err));
        return -1;
    }
}

int cs_publisher_publish_event(cs_publisher *p, const cs_event *ev, void *msg_opaque,
                               char *errstr, size_t errstr_size)
{
    char key[512], schema[16];
    cs_buf_reset(&p->scratch);
    if (cs_event_serialize(ev, &p->scratch) != 0) {
        snprintf(errstr, errstr_size, "event: serialized form is over the %zu-byte cap",
                 p->scratch.cap - 1);
        return -1;
    }
    size_t klen = cs_event_key(ev, key, sizeof key);
    snprintf(schema, sizeof schema, "%d", ev->schema);
    cs_header h[] = {
        {"type", cs_event_type_name(ev->type)},
        {"schema", schema},
        {"event_id", ev->event_id},
    };
    return cs_publisher_send(p, NULL, key, klen, p->scratch.data, p->scratch.len, h, 3,
                             msg_opaque, errstr, errstr_size);
}

int cs_publisher_flush(cs_publisher *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    rd_kafka_poll(p->rk, 0);
    return rd_kafka_outq_len(p->rk);
}

void cs_publisher_get_stats(const cs_publisher *p, cs_publisher_stats *st)
{
    *st = p->st;
}

const char *cs_publisher_first_error(const cs_publisher *p)
{
    return p->first_error[0] ? p->first_error : NULL;
}

const char *cs_publisher_last_error(const cs_publisher *p)
{
    return p->last_error[0] ? p->last_error : NULL;
}

void cs_publisher_destroy(cs_publisher *p)
{
    if (!p)
        return;
    if (p->rk)
        rd_kafka_destroy(p->rk);
    cs_buf_free(&p->scratch);
    free(p->topic);
    free(p);
}
