/*
 * catalogsync-devbroker: a development and test Kafka broker.
 *
 * Runs librdkafka's mock cluster (rdkafka_mock.h) as its own process on
 * 127.0.0.1, creates the product-events and dead-letter topics, prints
 * "BROKERS=127.0.0.1:<port>" and serves real Kafka clients (the workers,
 * catalogsync-publish, kcat) over TCP until SIGTERM or SIGINT.
 *
 * It is for development and tests only: it keeps about 5 MB and 100,000
 * message sets per partition and drops the oldest beyond that, and nothing
 * survives a restart.  Production uses Kafka.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cs_util.h"

#define EXIT_USAGE 64
#define EXIT_FAIL  1

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig __attribute__((unused)))
{
    if (stop_requested)
        _exit(EXIT_FAIL);   /* second signal: stop now */
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fputs("Usage: catalogsync-devbroker [options]\n"
          "\n"
          "Runs a development Kafka broker (librdkafka's mock cluster) on 127.0.0.1,\n"
          "creates the topics, prints BROKERS=<host:port> and serves until SIGTERM.\n"
          "For development and tests only; production uses Kafka.\n"
          "\n"
          "Options:\n"
          "  -p, --partitions N     partitions per topic (default 6)\n"
          "  -t, --topic NAME       events topic (default catalog.product-events)\n"
          "  -d, --dlq-topic NAME   dead-letter topic (default catalog.product-events.dlq)\n"
          "  -e, --extra-topic NAME another topic to create (repeatable)\n"
          "  -f, --brokers-file F   also write the bootstrap address to F\n"
          "  -h, --help             this text\n"
          "\n"
          "Exit status: 0 stopped by a signal, 1 could not start, 64 bad usage.\n",
          out);
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"partitions", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},
        {"dlq-topic", required_argument, NULL, 'd'},
        {"extra-topic", required_argument, NULL, 'e'},
        {"brokers-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *topics[34] = {"catalog.product-events", "catalog.product-events.dlq"};
    size_t n_topics = 2;
    const char *brokers_file = NULL;
    int64_t partitions = 6;
    int c;

    while ((c = getopt_long(argc, argv, "p:t:d:e:f:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (cs_parse_i64(optarg, 1, 1000, &partitions) != 0) {
                fprintf(stderr, "catalogsync-devbroker: --partitions must be 1..1000\n");
                return EXIT_USAGE;
            }
            break;
        case 't': topics[0] = optarg; break;
        case 'd': topics[1] = optarg; break;
        case 'e':
            if (n_topics >= sizeof topics / sizeof topics[0]) {
                fprintf(stderr, "catalogsync-devbroker: too many topics\n");
                return EXIT_USAGE;
            }
            topics[n_topics++] = optarg;
            break;
        case 'f': brokers_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "catalogsync-devbroker: unexpected argument \"%s\"\n", argv[optind]);
        return EXIT_USAGE;
    }

    /* Signals stay blocked except inside sigsuspend(), in every thread
     * (librdkafka's threads inherit the mask), so a SIGTERM that arrives
     * between the check and the wait cannot be missed. */
    sigset_t old;
    cs_block_stop_signals(on_signal, &old);

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "catalogsync-devbroker: %s\n", errstr);
        return EXIT_FAIL;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (!mc) {
        fprintf(stderr, "catalogsync-devbroker: cannot start the mock cluster\n");
        rd_kafka_destroy(rk);
        return EXIT_FAIL;
    }
    for (size_t i = 0; i < n_topics; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mc, topics[i], (int)partitions, 1);
        if (err) {
            fprintf(stderr, "catalogsync-devbroker: cannot create topic %s: %s\n", topics[i],
                    rd_kafka_err2str(err));
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return EXIT_FAIL;
        }
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
    if (brokers_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", brokers_file);
        FILE *fp = fopen(tmp, "w");
        if (!fp || fprintf(fp, "%s\n", bootstraps) < 0 || fclose(fp) != 0 ||
            rename(tmp, brokers_file) != 0) {
            fprintf(stderr, "catalogsync-devbroker: cannot write %s\n", brokers_file);
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return EXIT_FAIL;
        }
    }

    printf("BROKERS=%s\n", bootstraps);
    fflush(stdout);
    fprintf(stderr, "catalogsync-devbroker: serving %zu topics with %lld partitions on %s "
            "(development broker; SIGTERM stops it)\n",
            n_topics, (long long)partitions, bootstraps);

    while (!stop_requested)
        sigsuspend(&old);

    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    fprintf(stderr, "catalogsync-devbroker: stopped\n");
    return 0;
}
