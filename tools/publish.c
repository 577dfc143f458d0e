/*
 * catalogsync-publish: the producer hook as a command.
 *
 * Reads events or bare product snapshots (a JSON array, JSON lines, or
 * concatenated JSON objects) from files or stdin, wraps snapshots into v1
 * events from the flags, validates every item before sending, publishes the
 * valid ones through cs_publisher and waits until Kafka acknowledged them.
 *
 * Exit status (an API: scripts depend on it):
 *   0   every item valid, every event acknowledged by Kafka
 *   1   some items were rejected (named on stderr); every valid one acknowledged
 *   2   Kafka did not acknowledge every valid event (delivery failed or timed out)
 *   64  bad usage          66  an input file cannot be read
 *   78  configuration error
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_config.h"
#include "cs_event.h"
#include "cs_kafka.h"
#include "cs_log.h"
#include "cs_util.h"
#include "input.h"

#define EXIT_REJECTED 1
#define EXIT_DELIVERY 2
#define EXIT_USAGE    64
#define EXIT_NOINPUT  66
#define EXIT_CONFIG   78

#define MAX_LIST 256

typedef struct run {
    cs_publisher *pub;
    cs_event_limits lim;
    cs_event_template tpl;
    const char *source;
    int dry_run;
    int progress;
    int stop;
    unsigned long items, published, rejected, queue_errors;
    int64_t last_progress;
} run;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig __attribute__((unused)))
{
    if (interrupted)
        _exit(EXIT_DELIVERY);
    interrupted = 1;
}

static void usage(FILE *out)
{
    fputs(
"Usage: catalogsync-publish [options] [FILE...]\n"
"\n"
"Publishes product events to Kafka (topic kafka.topic) and exits when Kafka\n"
"acknowledged every valid one.  Input (FILE, or stdin when none or \"-\") holds\n"
"v1 events or bare product snapshots: a JSON array, JSON lines, or JSON objects\n"
"one after another.  Snapshots (objects without \"schema\") are wrapped into\n"
"events using --type and the flags below; full events are sent as they are.\n"
"Every item is validated first: invalid items are reported and never sent.\n"
"\n"
"Event flags (for snapshots):\n"
"  -T, --type TYPE          created|updated|attributes_updated|assets_updated|\n"
"                           deleted|export_requested (the product. prefix is optional)\n"
"      --tenant NAME        tenant (default \"default\")\n"
"      --connections LIST   export: WooCommerce connection ids, e.g. 1,2\n"
"      --fields LIST        export: fields to export, e.g. name,sku,price,COLOR\n"
"      --partial-update     export: later updates send only changed fields\n"
"      --delete-mode MODE   deleted: soft (default) or permanent\n"
"      --changed-fields LIST  fields that changed (enables partial updates)\n"
"      --actor ID           who made the change, for logs\n"
"\n"
"Kafka and configuration:\n"
"  -c, --config FILE        configuration file (default $CATALOGSYNC_CONFIG, else built-in)\n"
"  -b, --brokers LIST       bootstrap servers (overrides kafka.brokers)\n"
"  -t, --topic NAME         topic (overrides kafka.topic)\n"
"  -X NAME=VALUE            librdkafka property, as kcat's -X (repeatable)\n"
"      --check-config       print the effective configuration (secrets redacted) and exit\n"
"\n"
"Other:\n"
"      --format FMT         auto (default), json (array or objects), jsonl\n"
"  -n, --dry-run            validate only; publish nothing\n"
"      --progress           print progress to stderr every second (default on a terminal)\n"
"  -q, --quiet              no per-item messages, only the summary\n"
"  -h, --help               this text\n"
"\n"
"Output: one line per rejected item on stderr (\"FILE:LINE: field: problem\"),\n"
"then a summary \"N published, N rejected, N failed\" on stdout.\n"
"\n"
"Exit status: 0 all published and acknowledged; 1 some input rejected (all\n"
"valid events acknowledged); 2 Kafka did not acknowledge every valid event;\n"
"64 bad usage; 66 input not readable; 78 configuration error.\n",
        out);
}

static int quiet;

static void progress(run *r, int force)
{
    if (!r->progress)
        return;
    int64_t now = cs_mono_ms();
    if (!force && now - r->last_progress < 1000)
        return;
    r->last_progress = now;
    cs_publisher_stats st = {0, 0, 0};
    if (r->pub)
        cs_publisher_get_stats(r->pub, &st);
    fprintf(stderr, "catalogsync-publish: %lu read, %lu rejected, %llu acknowledged, "
            "%llu in flight\n", r->items, r->rejected, (unsigned long long)st.acked,
            (unsigned long long)(st.queued - st.acked - st.failed));
}

static int on_item(void *opaque, const char *p, size_t len, unsigned line)
{
    run *r = opaque;
    char err[600];
    cs_event *ev = NULL;
    r->items++;
    cs_event_err e = cs_event_parse_input(p, len, &r->lim, &r->tpl, &ev, err, sizeof err);
    if (e != CS_EVENT_OK) {
        r->rejected++;
        if (!quiet)
            fprintf(stderr, "%s:%u: rejected: %s\n", r->source, line, err);
        return interrupted;
    }
    if (!r->dry_run) {
        if (cs_publisher_publish_event(r->pub, ev, NULL, err, sizeof err) != 0) {
            r->queue_errors++;
            fprintf(stderr, "%s:%u: not published: %s\n", r->source, line, err);
        } else {
            r->published++;
        }
    } else {
        r->published++;
    }
    cs_event_destroy(ev);
    progress(r, 0);
    return interrupted;
}

static void on_frame_error(void *opaque, unsigned line, const char *why)
{
    run *r = opaque;
    r->rejected++;
    fprintf(stderr, "%s:%u: rejected: %s; the rest of this input is skipped\n", r->source,
            line, why);
}

static int read_all(FILE *fp, char **out, size_t *out_len)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (len == cap) {
            char *n = cap > ((size_t)1 << 40) ? NULL : realloc(buf, cap * 2);
            if (!n) {
                free(buf);
                return -1;
            }
            buf = n;
            cap *= 2;
        }
        size_t k = fread(buf + len, 1, cap - len, fp);
        len += k;
        if (k == 0)
            break;
    }
    if (ferror(fp)) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

static size_t split_list(char *s, const char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        if (*tok)
            out[n++] = tok;
    return n;
}

static cs_event_type parse_type(const char *s)
{
    char full[80];
    if (strncmp(s, "product.", 8) != 0) {
        snprintf(full, sizeof full, "product.%s", s);
        s = full;
    }
    return cs_event_type_parse(s);
}

int main(int argc, char **argv)
{
    cs_no_core_dumps();        /* before any secret is read */
    enum { O_TENANT = 256, O_CONNS, O_FIELDS, O_PARTIAL, O_DELMODE, O_CHANGED, O_ACTOR,
           O_FORMAT, O_PROGRESS, O_CHECK };
    static const struct option lopts[] = {
        {"type", required_argument, NULL, 'T'},
        {"tenant", required_argument, NULL, O_TENANT},
        {"connections", required_argument, NULL, O_CONNS},
        {"fields", required_argument, NULL, O_FIELDS},
        {"partial-update", no_argument, NULL, O_PARTIAL},
        {"delete-mode", required_argument, NULL, O_DELMODE},
        {"changed-fields", required_argument, NULL, O_CHANGED},
        {"actor", required_argument, NULL, O_ACTOR},
        {"config", required_argument, NULL, 'c'},
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"check-config", no_argument, NULL, O_CHECK},
        {"format", required_argument, NULL, O_FORMAT},
        {"dry-run", no_argument, NULL, 'n'},
        {"progress", no_argument, NULL, O_PROGRESS},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    run r;
    const char *config_path = NULL, *brokers = NULL, *topic = NULL;
    const char *xprops[MAX_LIST], *fields[MAX_LIST], *changed[MAX_LIST];
    int64_t conns[MAX_LIST];
    size_t n_x = 0;
    int check_config = 0, fmt = CS_INPUT_AUTO, c;
    char errstr[1024];

    memset(&r, 0, sizeof r);
    r.progress = isatty(STDERR_FILENO);
    while ((c = getopt_long(argc, argv, "T:c:b:t:X:nqh", lopts, NULL)) != -1) {
        switch (c) {
        case 'T':
            if ((r.tpl.type = parse_type(optarg)) == CS_EV_NONE) {
                fprintf(stderr, "catalogsync-publish: unknown --type \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case O_TENANT: r.tpl.tenant = optarg; break;
        case O_CONNS: {
            const char *parts[MAX_LIST];
            size_t n = split_list(optarg, parts, MAX_LIST);
            for (size_t i = 0; i < n; i++)
                if (cs_parse_i64(parts[i], 1, INT64_MAX, &conns[i]) != 0) {
                    fprintf(stderr, "catalogsync-publish: --connections takes positive "
                            "integers, got \"%s\"\n", parts[i]);
                    return EXIT_USAGE;
                }
            r.tpl.connections = conns;
            r.tpl.n_connections = n;
            break;
        }
        case O_FIELDS:
            r.tpl.n_fields = split_list(optarg, fields, MAX_LIST);
            r.tpl.fields = fields;
            break;
        case O_PARTIAL: r.tpl.partial_update = 1; break;
        case O_DELMODE:
            if (strcmp(optarg, "soft") == 0)
                r.tpl.delete_mode = CS_DELETE_SOFT;
            else if (strcmp(optarg, "permanent") == 0)
                r.tpl.delete_mode = CS_DELETE_PERMANENT;
            else {
                fprintf(stderr, "catalogsync-publish: --delete-mode is soft or permanent\n");
                return EXIT_USAGE;
            }
            break;
        case O_CHANGED:
            r.tpl.n_changed_fields = split_list(optarg, changed, MAX_LIST);
            r.tpl.changed_fields = changed;
            break;
        case O_ACTOR: r.tpl.actor = optarg; break;
        case 'c': config_path = optarg; break;
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'X':
            if (n_x == MAX_LIST) {
                fprintf(stderr, "catalogsync-publish: too many -X options\n");
                return EXIT_USAGE;
            }
            xprops[n_x++] = optarg;
            break;
        case O_CHECK: check_config = 1; break;
        case O_FORMAT:
            if ((fmt = cs_input_mode_parse(optarg)) < 0) {
                fprintf(stderr, "catalogsync-publish: --format is auto, json or jsonl\n");
                return EXIT_USAGE;
            }
            break;
        case 'n': r.dry_run = 1; break;
        case O_PROGRESS: r.progress = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (r.tpl.type == CS_EV_EXPORT_REQUESTED && r.tpl.n_connections == 0) {
        fprintf(stderr, "catalogsync-publish: --type export_requested needs --connections\n");
        return EXIT_USAGE;
    }

    cs_config_cli cli = {config_path, xprops, n_x, brokers, topic};
    cs_config *cfg = cs_config_load_cli(&cli, errstr, sizeof errstr);
    if (!cfg)
        goto config_error;
    if (check_config) {
        cs_config_dump(cfg, stdout);
        cs_config_destroy(cfg);
        return 0;
    }
    r.lim.max_bytes = (size_t)cfg->event_max_bytes;

    if (!r.dry_run) {
        r.pub = cs_publisher_new(cfg, NULL, NULL, errstr, sizeof errstr);
        if (!r.pub)
            goto config_error;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = 0;
    int n_inputs = argc - optind;
    for (int i = 0; i < (n_inputs ? n_inputs : 1) && !interrupted; i++) {
        const char *name = n_inputs ? argv[optind + i] : "-";
        FILE *fp = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");
        char *buf;
        size_t len;
        if (!fp) {
            fprintf(stderr, "catalogsync-publish: cannot open %s: %s\n", name, strerror(errno));
            rc = EXIT_NOINPUT;
            continue;
        }
        if (read_all(fp, &buf, &len) != 0) {
            fprintf(stderr, "catalogsync-publish: cannot read %s\n", name);
            rc = EXIT_NOINPUT;
            if (fp != stdin)
                fclose(fp);
            continue;
        }
        if (fp != stdin)
            fclose(fp);
        r.source = strcmp(name, "-") == 0 ? "stdin" : name;
        cs_input_split(buf, len, (cs_input_mode)fmt, on_item, on_frame_error, &r);
        free(buf);
    }

    cs_publisher_stats st = {0, 0, 0};
    if (r.pub) {
        /* Wait for every delivery report; librdkafka's message.timeout.ms
         * bounds how long a message can stay unreported. */
        while (cs_publisher_flush(r.pub, 1000) > 0 && interrupted < 1)
            progress(&r, 1);
        if (cs_publisher_flush(r.pub, 0) > 0)
            fprintf(stderr, "catalogsync-publish: interrupted with events unacknowledged\n");
        cs_publisher_get_stats(r.pub, &st);
        if (st.failed && cs_publisher_first_error(r.pub))
            fprintf(stderr, "catalogsync-publish: delivery failed: %s\n",
                    cs_publisher_first_error(r.pub));
    }
    unsigned long failed = r.dry_run ? 0
        : (unsigned long)(r.published - st.acked) + r.queue_errors;
    printf("%lu %s, %lu rejected, %lu failed\n",
           r.dry_run ? r.published : (unsigned long)st.acked,
           r.dry_run ? "valid (dry run, nothing published)" : "published",
           r.rejected, failed);
    fflush(stdout);
    cs_publisher_destroy(r.pub);
    cs_config_destroy(cfg);
    if (failed || interrupted)
        return EXIT_DELIVERY;
    if (rc)
        return rc;
    return r.rejected ? EXIT_REJECTED : 0;

config_error:
    cs_log_redact(errstr, sizeof errstr);
    fprintf(stderr, "catalogsync-publish: %s\n", errstr);
    cs_config_destroy(cfg);
    return EXIT_CONFIG;
}
