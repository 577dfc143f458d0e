/*
 * catalogsync-worker: consumes product events and keeps one channel in step.
 *
 *   catalogsync-worker --sink meta|woocommerce [--config FILE]
 *
 * Exit status (an API):
 *   0   stopped by SIGTERM/SIGINT after settling its batch and committing
 *   1   could not start (Kafka client, sink setup, HTTP address not available)
 *   3   the shutdown deadline (worker.shutdown_deadline_ms) passed first;
 *       uncommitted events are read again by the next worker
 *   64  bad usage          78  configuration error
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_config.h"
#include "cs_httpd.h"
#include "cs_kafka.h"
#include "cs_util.h"
#include "cs_log.h"
#include "sink.h"
#include "worker.h"

#define EXIT_DEADLINE 3
#define EXIT_USAGE    64
#define EXIT_CONFIG   78

static volatile sig_atomic_t stop_requested;
static unsigned shutdown_secs = 10;

static void on_alarm(int sig __attribute__((unused)))
{
    static const char msg[] = "catalogsync-worker: shutdown deadline passed; exiting now\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    _exit(EXIT_DEADLINE);
}

static void on_stop(int sig __attribute__((unused)))
{
    if (stop_requested)
        _exit(EXIT_DEADLINE);   /* second signal: stop now */
    stop_requested = 1;
    alarm(shutdown_secs);
}

static void usage(FILE *out)
{
    fputs(
"Usage: catalogsync-worker --sink meta|woocommerce [options]\n"
"\n"
"Consumes product events from Kafka (consumer group catalogsync-<sink>) and keeps\n"
"the sink's channels in step: pushes, confirms, retries on the schedule, records\n"
"per-product state in Redis, and commits offsets only once outcomes are durable.\n"
"Run as many as the topic has partitions; they share work through Kafka and Redis.\n"
"\n"
"Options:\n"
"  -s, --sink NAME       meta (Meta catalogs) or woocommerce (WooCommerce stores)\n"
"  -c, --config FILE     configuration file (default $CATALOGSYNC_CONFIG, else built-in)\n"
"  -b, --brokers LIST    bootstrap servers (overrides kafka.brokers)\n"
"  -g, --group NAME      consumer group (default catalogsync-<sink>)\n"
"  -X NAME=VALUE         librdkafka property (repeatable)\n"
"      --http-listen ADDR  serve /metrics, /healthz and /readyz on ADDR (host:port,\n"
"                        e.g. 127.0.0.1:9464; port 0 = any free port; overrides\n"
"                        worker.http_listen; default off)\n"
"      --check-config    print the effective configuration (secrets redacted) and exit\n"
"  -h, --help            this text\n"
"\n"
"Signals: SIGTERM/SIGINT stop taking work, settle the batch in hand, commit and\n"
"exit within worker.shutdown_deadline_ms; a second signal exits at once.\n"
"\n"
"Exit status: 0 stopped cleanly; 1 could not start; 3 shutdown deadline passed;\n"
"64 bad usage; 78 configuration error.\n", out);
}

int main(int argc, char **argv)
{
    cs_no_core_dumps();        /* before any secret is read */
    static const struct option lopts[] = {
        {"sink", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"brokers", required_argument, NULL, 'b'}, {"group", required_argument, NULL, 'g'},
        {"check-config", no_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
        {"http-listen", required_argument, NULL, 'H'}, {NULL, 0, NULL, 0}};
    const char *sink_name = NULL, *config_path = NULL, *brokers = NULL, *group = NULL;
    const char *http_listen = NULL;
    const char *xprops[128];
    size_t n_x = 0;
    int check = 0, c;
    char errstr[1024];

    while ((c = getopt_long(argc, argv, "s:c:b:g:X:h", lopts, NULL)) != -1) {
        switch (c) {
        case 's': sink_name = optarg; break;
        case 'c': config_path = optarg; break;
        case 'b': brokers = optarg; break;
        case 'g': group = optarg; break;
        case 'X':
            if (n_x == sizeof xprops / sizeof xprops[0]) {
                fprintf(stderr, "catalogsync-worker: too many -X options\n");
                return EXIT_USAGE;
            }
            xprops[n_x++] = optarg;
            break;
        case 'C': check = 1; break;
        case 'H': http_listen = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    const cs_sink_ops *ops = NULL;
    if (sink_name && strcmp(sink_name, "meta") == 0)
        ops = &cs_meta_sink;
    else if (sink_name && (strcmp(sink_name, "woocommerce") == 0 || strcmp(sink_name, "woo") == 0))
        ops = &cs_woo_sink;
    if (!ops && !check) {
        fprintf(stderr, "catalogsync-worker: --sink must be meta or woocommerce%s%s%s\n",
                sink_name ? " (got \"" : "", sink_name ? sink_name : "", sink_name ? "\")" : "");
        return EXIT_USAGE;
    }

    cs_config_cli cli = {config_path, xprops, n_x, brokers, NULL};
    cs_config *cfg = cs_config_load_cli(&cli, errstr, sizeof errstr);
    if (!cfg || (ops && cs_config_resolve_sink_secrets(cfg, ops->name, errstr, sizeof errstr) != 0))
        goto config_error;
    if (http_listen) {
        char *v = strdup(http_listen);
        if (!v) {
            snprintf(errstr, sizeof errstr, "out of memory");
            goto config_error;
        }
        free(cfg->worker_http_listen);
        cfg->worker_http_listen = v;
    }
    if (cfg->worker_http_listen[0]) {
        char why[400];
        if (cs_httpd_check_listen(cfg->worker_http_listen, why, sizeof why) != 0) {
            snprintf(errstr, sizeof errstr, "%s: %s",
                     http_listen ? "--http-listen" : "worker.http_listen", why);
            goto config_error;
        }
    }
    if (check) {
        cs_config_dump(cfg, stdout);
        cs_kafka_consumer_conf_dump(cfg, stdout);
        cs_config_destroy(cfg);
        return 0;
    }
    shutdown_secs = (unsigned)((cfg->worker_shutdown_ms + 999) / 1000);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    cs_worker *w = cs_worker_new(cfg, ops, group, errstr, sizeof errstr);
    if (!w) {
        cs_log_redact(errstr, sizeof errstr);
        CS_ERROR(ops->name, "cannot start: %s", errstr);
        cs_config_destroy(cfg);
        return 1;
    }
    int rc = cs_worker_run(w, &stop_requested);
    cs_worker_destroy(w);
    cs_config_destroy(cfg);
    CS_INFO(ops->name, "stopped");
    return rc;

config_error:
    cs_log_redact(errstr, sizeof errstr);
    fprintf(stderr, "catalogsync-worker: %s\n", errstr);
    cs_config_destroy(cfg);
    return EXIT_CONFIG;
}
