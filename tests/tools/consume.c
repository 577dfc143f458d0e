/*
 * cs-test-consume: reads a topic back for the integration tests.
 *
 * Assigns every partition from the beginning (no group join, so it is quick
 * on the dev broker) and prints one JSON object per message:
 *   {"topic":..,"partition":..,"offset":..,"key":..,"headers":{..},"value":"<payload>"}
 * It stops at the end of every partition, or after --count messages, or when
 * --timeout-ms passes.  Exit 0 when it stopped at the end or at the count,
 * 1 on timeout or error, 64 on bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "cs_buf.h"
#include "cs_util.h"

static void put_str(cs_buf *b, const void *p, size_t n)
{
    if (!p)
        cs_buf_appends(b, "null");
    else
        cs_buf_append_json_str(b, p, n);
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL;
    int64_t count = -1, timeout_ms = 30000;
    int c, quiet = 0;
    static const struct option lopts[] = {
        {"brokers", required_argument, NULL, 'b'}, {"topic", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'}, {"timeout-ms", required_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    while ((c = getopt_long(argc, argv, "b:t:n:T:qh", lopts, NULL)) != -1) {
        switch (c) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'n':
            if (cs_parse_i64(optarg, 0, INT64_MAX, &count))
                return 64;
            break;
        case 'T':
            if (cs_parse_i64(optarg, 1, INT64_MAX, &timeout_ms))
                return 64;
            break;
        case 'q': quiet = 1; break;
        case 'h':
            puts("Usage: cs-test-consume -b BROKERS -t TOPIC [-n COUNT] [-T TIMEOUT_MS] [-q]\n"
                 "Prints every message of TOPIC as one JSON object per line, from the\n"
                 "beginning, until the end of all partitions or COUNT messages.\n"
                 "-q prints only {\"messages\":N} at the end.\n"
                 "Exit status: 0 done, 1 timeout or error, 64 bad usage.");
            return 0;
        default: return 64;
        }
    }
    if (!brokers || !topic) {
        fprintf(stderr, "cs-test-consume: -b and -t are required\n");
        return 64;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "group.id", "cs-test-consume", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr)) {
        fprintf(stderr, "cs-test-consume: %s\n", errstr);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "cs-test-consume: %s\n", errstr);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int64_t deadline = cs_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_metadata(rk, 0, rkt, &md, 5000)) != 0 ||
           md->topic_cnt < 1 || md->topics[0].err) {
        if (md)
            rd_kafka_metadata_destroy(md);
        md = NULL;
        if (cs_mono_ms() > deadline) {
            fprintf(stderr, "cs-test-consume: no metadata for %s\n", topic);
            return 1;
        }
    }
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    int at_eof = 0, rc = 1;
    int64_t seen = 0;
    cs_buf b;
    cs_buf_init(&b, 0);
    while (cs_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            if (++at_eof >= nparts && count < 0) {
                rc = 0;
                break;
            }
            continue;
        }
        if (m->err) {
            fprintf(stderr, "cs-test-consume: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        seen++;
        if (quiet) {
            rd_kafka_message_destroy(m);
            if (count >= 0 && seen >= count) {
                rc = 0;
                break;
            }
            continue;
        }
        cs_buf_reset(&b);
        cs_buf_appends(&b, "{\"topic\":");
        put_str(&b, topic, strlen(topic));
        cs_buf_appendf(&b, ",\"partition\":%d,\"offset\":%lld,\"key\":", m->partition,
                       (long long)m->offset);
        put_str(&b, m->key, m->key_len);
        cs_buf_appends(&b, ",\"headers\":{");
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_headers(m, &h) == 0) {
            const char *name;
            const void *val;
            size_t vlen;
            for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &vlen) == 0; i++) {
                if (i)
                    cs_buf_appendc(&b, ',');
                put_str(&b, name, strlen(name));
                cs_buf_appendc(&b, ':');
                put_str(&b, val, vlen);
            }
        }
        cs_buf_appends(&b, "},\"value\":");
        put_str(&b, m->payload, m->len);
        cs_buf_appends(&b, "}\n");
        fwrite(b.data, 1, b.len, stdout);
        rd_kafka_message_destroy(m);
        if (count >= 0 && seen >= count) {
            rc = 0;
            break;
        }
    }
    if (quiet)
        printf("{\"messages\":%lld}\n", (long long)seen);
    fflush(stdout);
    cs_buf_free(&b);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (rc)
        fprintf(stderr, "cs-test-consume: timed out after %lld messages\n", (long long)seen);
    return rc;
}
