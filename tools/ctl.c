/*
 * catalogsyncctl: see and fix sync problems from the terminal.
 *
 * Reads and changes the state the workers keep in Redis (docs/REDIS.md)
 * through cs_ops, with the same configuration file as the workers.  The
 * colour codes are the Meta seed's: green ✓ Synced, orange ⚠ Retry pending
 * (n/5), red ✗ Failed, grey ○ Not synced / skipped.
 *
 * Exit status: 0 done; 1 Redis unreachable or the change failed; 2 doctor
 * found problems, or show/reset found no such product; 64 bad usage;
 * 78 configuration error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cs_log.h"
#include "cs_util.h"
#include "ctl.h"

static void usage(FILE *out)
{
    fputs(
"Usage: catalogsyncctl [--config FILE] [--json] [--no-color] COMMAND [ARGS]\n"
"\n"
"See what is out of date in the sales channels, why, and fix it.\n"
"\n"
"Commands:\n"
"  status [--sink S] [--connection C] [--state LIST] [--limit N]\n"
"        one row per product and connection: colour-coded status, attempts,\n"
"        next attempt, last error; totals at the bottom.  LIST: comma-separated\n"
"        synced, pending, retry_pending, failed, skipped\n"
"  show PRODUCT [--sink S] [--connection C]\n"
"        every state field, the full last error, the last attempts, the\n"
"        export link (WooCommerce)\n"
"  reset PRODUCT... | --failed [--sink S] [--connection C]\n"
"        attempts back to 0 and pushed again at once from the stored latest\n"
"        version (no need to save the product again)\n"
"  queue [--sink S] [--due] [--limit N]\n"
"        waiting retries and when they are due, leases in flight, paused\n"
"        connections and why\n"
"  stats [--sink S] [--connection C]\n"
"        products per status, outcomes over the last hour and day, the\n"
"        oldest out-of-date product\n"
"  pause CONNECTION [--sink S] [--reason TEXT]   stop pushing to a connection\n"
"  resume CONNECTION [--sink S]                  push again (parked retries due now)\n"
"  exclude PRODUCT [--sink S] [--connection C]   keep a product out of a channel\n"
"  include PRODUCT [--sink S] [--connection C]   and back in (pushed at once)\n"
"  doctor [--sink S] [--connection C]\n"
"        checks every connection online and prints the fix for each problem\n"
"\n"
"PRODUCT is ID (tenant \"default\") or TENANT:ID.  S is meta or woocommerce;\n"
"C a catalog or store id from the configuration.  An option a command does\n"
"not list is refused.  Rows come by connection (configuration order), then\n"
"by product (numbers in numeric order).\n"
"\n"
"Options:\n"
"  -c, --config FILE   configuration (default $CATALOGSYNC_CONFIG); the\n"
"                      CATALOGSYNC_* environment overrides apply as for workers\n"
"      --json          machine-readable output\n"
"      --no-color      no colours (also when NO_COLOR is set or not a terminal)\n"
"  -h, --help          this help\n"
"\n"
"Exit status: 0 done; 1 Redis unreachable or the change failed; 2 doctor found\n"
"problems, or no such product; 64 bad usage; 78 configuration error.\n", out);
}

const char *ctl_color(const ctl *c, const char *name)
{
    static const struct { const char *name, *code; } codes[] = {
        {"green", "\033[32m"}, {"orange", "\033[38;5;208m"}, {"red", "\033[31m"},
        {"grey", "\033[90m"}, {"bold", "\033[1m"}, {"reset", "\033[0m"},
    };
    if (!c->color)
        return "";
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (!strcmp(codes[i].name, name))
            return codes[i].code;
    return "";
}

/* ---- formatting ---- */

/* The colour of status s (cs_statuses), as ctl_color's escape */
static const char *status_color(const ctl *c, cs_status s)
{
    return ctl_color(c, cs_statuses[s].colour);
}

static void fmt_time(int64_t ms, char *out, size_t n)
{
    if (ms <= 0) {
        snprintf(out, n, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_span(int64_t ms, char *out, size_t n)
{
    int64_t s = (ms < 0 ? -ms : ms) / 1000;
    if (s < 60)
        snprintf(out, n, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(out, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(out, n, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

/* "in 4m59s" / "3m12s ago" relative to now. */
static void fmt_rel(int64_t ms, int64_t now, char *out, size_t n)
{
    char span[32];
    if (ms <= 0) {
        snprintf(out, n, "-");
        return;
    }
    fmt_span(ms - now, span, sizeof span);
    if (ms >= now)
        snprintf(out, n, "in %s", span);
    else
        snprintf(out, n, "%s ago", span);
}

/* Prints s padded to width display columns (UTF-8 aware). */
static void pad(const char *s, int width)
{
    int cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            cols++;
    fputs(s, stdout);
    for (; cols < width; cols++)
        putchar(' ');
}

/* The seed's label and colour for a row's status (cs_statuses; anything
 * else reads as not synced). */
static const char *status_label(const ctl *c, const char *status, int attempts, char *buf,
                                size_t n)
{
    int max = c->cfg->retry_max_attempts;
    int si = cs_ops_status_index(status);
    const cs_status_info *st = &cs_statuses[si];
    if (si == CS_STATUS_RETRY_PENDING)
        snprintf(buf, n, "%s %s (%d/%d)", st->icon, st->label, attempts, max);
    else if (si == CS_STATUS_FAILED)
        snprintf(buf, n, "%s %s (%s)", st->icon, st->label,
                 attempts >= max ? "max attempts" : "rejected");
    else
        snprintf(buf, n, "%s %s", st->icon, st->label);
    return st->colour;
}

/* ---- status ---- */

typedef struct status_run {
    ctl *c;
    int64_t now;
    long limit, shown;
    int states;                 /* bit per CS_OPS_STATUSES entry; 0 = all */
    long counts[CS_N_STATUSES];
    int first;
} status_run;

static int status_row(void *opaque, const cs_ops_row *r)
{
    status_run *run = opaque;
    ctl *c = run->c;
    int si = cs_ops_status_index(r->status);
    if (run->states && !(run->states & (1 << si)))
        return 0;
    run->counts[si]++;
    if (run->limit >= 0 && run->shown >= run->limit)
        return 0;
    run->shown++;
    if (c->json) {
        json_t *o = cs_ops_row_json(r);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        printf("%s%s", run->first ? "" : ",\n", s ? s : "null");
        run->first = 0;
        free(s);
        json_decref(o);
        return 0;
    }
    char label[64], next[48] = "", err[96] = "";
    const char *col = status_label(c, r->status, r->attempts, label, sizeof label);
    if (!strcmp(r->status, "retry_pending"))
        fmt_rel(r->next_attempt, run->now, next, sizeof next);
    if (!strcmp(r->status, "skipped"))
        cs_utf8_copy_trunc(err, sizeof err, r->skip_reason, strlen(r->skip_reason));
    else if (strcmp(r->status, "synced") != 0 && r->error_message[0])
        cs_utf8_copy_trunc(err, 61, r->error_message, strlen(r->error_message));
    cs_buf t[4];                /* conn, product, error, sink: for the terminal */
    const char *raw[4] = {r->conn, r->product, err, r->sink};
    for (int k = 0; k < 4; k++) {
        cs_buf_init(&t[k], 0);
        if (cs_buf_append_text(&t[k], raw[k], strlen(raw[k])) != 0 || !t[k].data)
            cs_buf_appends(&t[k], "?");
    }
    printf("%-12s ", t[3].data);
    pad(t[0].data, 8);
    putchar(' ');
    pad(t[1].data, 22);
    printf(" %s", ctl_color(c, col));
    pad(label, 26);
    printf("%s ", ctl_color(c, "reset"));
    pad(next, 12);
    printf(" %s\n", t[2].data);
    for (int k = 0; k < 4; k++)
        cs_buf_free(&t[k]);
    return 0;
}

static int cmd_status(ctl *c, const char *states, long limit)
{
    status_run run = {c, cs_now_ms(), limit, 0, 0, {0}, 1};
    char bad[64];
    if (cs_ops_status_mask(states, &run.states, bad, sizeof bad) != 0) {
        fprintf(stderr, "catalogsyncctl: unknown state '%s' (synced, pending, retry_pending, "
                "failed, skipped)\n", bad);
        return CTL_USAGE;
    }
    if (c->json)
        printf("{\"products\":[\n");
    else {
        printf("%s", ctl_color(c, "bold"));
        printf("%-12s ", "SINK");
        pad("CONN", 8);
        putchar(' ');
        pad("PRODUCT", 22);
        putchar(' ');
        pad("STATUS", 26);
        putchar(' ');
        pad("NEXT", 12);
        printf(" LAST ERROR%s\n", ctl_color(c, "reset"));
    }
    long n = cs_ops_scan(c->ops, c->sink, c->conn, status_row, &run);
    if (n < 0) {
        if (c->json)
            printf("]}\n");
        fprintf(stderr, "catalogsyncctl: Redis: %s\n", cs_ops_errstr(c->ops));
        return CTL_FAIL;
    }
    long total = 0;
    for (int i = 0; i < CS_N_STATUSES; i++)
        total += run.counts[i];
    if (c->json) {
        printf("\n],\"totals\":{\"products\":%ld", total);
        for (int i = 0; i < CS_N_STATUSES; i++)
            printf(",\"%s\":%ld", cs_statuses[i].wire, run.counts[i]);
        printf("}}\n");
        return CTL_OK;
    }
    if (run.shown < total)
        printf("... %ld more (--limit)\n", total - run.shown);
    const char *rs = ctl_color(c, "reset");
    printf("\n%ld products: %s%s %ld synced%s, %s%s %ld retry pending%s, %s%s %ld failed%s, "
           "%s%s %ld not synced, %ld skipped%s\n", total,
           status_color(c, CS_STATUS_SYNCED), cs_statuses[CS_STATUS_SYNCED].icon,
           run.counts[CS_STATUS_SYNCED], rs,
           status_color(c, CS_STATUS_RETRY_PENDING), cs_statuses[CS_STATUS_RETRY_PENDING].icon,
           run.counts[CS_STATUS_RETRY_PENDING], rs,
           status_color(c, CS_STATUS_FAILED), cs_statuses[CS_STATUS_FAILED].icon,
           run.counts[CS_STATUS_FAILED], rs,
           status_color(c, CS_STATUS_PENDING), cs_statuses[CS_STATUS_PENDING].icon,
           run.counts[CS_STATUS_PENDING], run.counts[CS_STATUS_SKIPPED], rs);
    return CTL_OK;
}

/* ---- show ---- */

/* Every string of a document for the terminal: control characters escaped
 * (cs_buf_append_text), so product data and channel messages can neither
 * move the cursor, retitle the window nor start a line of their own. */
static void for_terminal(json_t *v)
{
    size_t i;
    const char *k;
    json_t *e;
    if (json_is_object(v)) {
        json_object_foreach(v, k, e)
            for_terminal(e);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
            for_terminal(e);
    } else if (json_is_string(v)) {
        cs_buf b;
        cs_buf_init(&b, 0);
        if (cs_buf_append_text(&b, json_string_value(v), json_string_length(v)) == 0 && b.data &&
            b.len != json_string_length(v))
            json_string_setn(v, b.data, b.len);
        cs_buf_free(&b);
    }
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int64_t jms(json_t *o, const char *k)
{
    int64_t v = 0;
    const char *s = json_string_value(json_object_get(o, k));
    if (s && cs_parse_i64(s, INT64_MIN, INT64_MAX, &v) != 0)
        v = 0;
    return json_is_integer(json_object_get(o, k)) ? json_integer_value(json_object_get(o, k)) : v;
}

static void show_time(const char *label, int64_t ms, int64_t now)
{
    char t[40], rel[48];
    fmt_time(ms, t, sizeof t);
    fmt_rel(ms, now, rel, sizeof rel);
    printf("  %-18s %s%s%s%s\n", label, t, ms > 0 ? " (" : "", ms > 0 ? rel : "",
           ms > 0 ? ")" : "");
}

static int cmd_show(ctl *c, const char *arg)
{
    char pkey[512];
    cs_ops_product_key(arg, pkey, sizeof pkey);
    json_t *doc = cs_ops_show(c->ops, c->sink, c->conn, pkey);
    if (!doc) {
        fprintf(stderr, "catalogsyncctl: Redis: %s\n", cs_ops_errstr(c->ops));
        return CTL_FAIL;
    }
    json_t *list = json_object_get(doc, "connections");
    int rc = json_array_size(list) ? CTL_OK : CTL_PROBLEMS;
    if (c->json) {
        char *s = json_dumps(doc, JSON_INDENT(2));
        printf("%s\n", s ? s : "null");
        free(s);
        json_decref(doc);
        return rc;
    }
    for_terminal(doc);
    if (rc != CTL_OK) {
        printf("product %s: no state at any configured connection\n", pkey);
        json_decref(doc);
        return rc;
    }
    int64_t now = cs_now_ms();
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        json_t *st = json_object_get(e, "state");
        char label[64];
        const char *col = status_label(c, jstr(st, "status"), (int)jms(st, "attempts"), label,
                                       sizeof label);
        printf("%s%s %s at %s %s%s\n", ctl_color(c, "bold"), pkey, jstr(st, "name"),
               jstr(e, "sink"), jstr(e, "connection"), ctl_color(c, "reset"));
        printf("  %-18s %s%s%s%s%s\n", "status", ctl_color(c, col), label, ctl_color(c, "reset"),
               json_is_true(json_object_get(e, "excluded")) ? " — excluded by an operator" : "",
               json_object_get(e, "paused") ? " — connection paused" : "");
        printf("  %-18s %s\n", "sku", jstr(st, "sku"));
        printf("  %-18s %s (synced: %s)\n", "version", jstr(st, "version"),
               jstr(st, "synced_version")[0] ? jstr(st, "synced_version") : "never");
        printf("  %-18s %s/%d\n", "attempts", jstr(st, "attempts")[0] ? jstr(st, "attempts") : "0",
               c->cfg->retry_max_attempts);
        if (jstr(st, "remote_id")[0])
            printf("  %-18s %s\n", "remote id", jstr(st, "remote_id"));
        show_time("last attempt", jms(st, "last_attempt"), now);
        show_time("last success", jms(st, "last_success"), now);
        if (!strcmp(jstr(st, "status"), "retry_pending"))
            show_time("next attempt", jms(st, "next_attempt"), now);
        if (jstr(st, "skip_reason")[0])
            printf("  %-18s %s\n", "skipped because", jstr(st, "skip_reason"));
        if (jstr(st, "warnings")[0])
            printf("  %-18s %s\n", "warnings", jstr(st, "warnings"));
        if (jstr(st, "last_error_message")[0]) {
            show_time("last error at", jms(st, "last_error_at"), now);
            printf("  %-18s %s%s%s%s%s\n", "last error code", jstr(st, "last_error_code"),
                   jstr(st, "last_error_subcode")[0] ? " / subcode " : "",
                   jstr(st, "last_error_subcode"), jstr(st, "last_error_type")[0] ? " — " : "",
                   jstr(st, "last_error_type"));
            if (jstr(st, "last_error_trace")[0])
                printf("  %-18s %s\n", "fbtrace_id", jstr(st, "last_error_trace"));
            printf("  %-18s %s\n", "last error", jstr(st, "last_error_message"));
        }
        json_t *link = json_object_get(e, "link");
        if (link) {
            printf("  %-18s remote #%s, status %s, fields %s%s\n", "export link",
                   jstr(link, "remote_id"), jstr(link, "status"), jstr(link, "fields"),
                   !strcmp(jstr(link, "partial"), "1") ? " (partial updates)" : "");
            show_time("last exported", jms(link, "last_exported_at"), now);
        }
        json_t *hist = json_object_get(e, "history");
        if (json_array_size(hist)) {
            printf("  last attempts:\n");
            size_t h;
            json_t *a;
            json_array_foreach(hist, h, a) {
                char t[40];
                fmt_time(json_integer_value(json_object_get(a, "at")), t, sizeof t);
                printf("    %s  v%lld  %-8s attempt %lld%s%s%s%s\n", t,
                       (long long)json_integer_value(json_object_get(a, "version")),
                       jstr(a, "outcome"),
                       (long long)json_integer_value(json_object_get(a, "attempt")),
                       jstr(a, "code")[0] ? "  " : "", jstr(a, "code"),
                       jstr(a, "message")[0] ? ": " : "", jstr(a, "message"));
            }
        }
        putchar('\n');
    }
    json_decref(doc);
    return rc;
}

/* ---- reset ---- */

static int cmd_reset(ctl *c, char **args, int n, int failed)
{
    char (*keys)[512] = calloc((size_t)(n ? n : 1), sizeof *keys);
    const char **ptrs = calloc((size_t)(n ? n : 1), sizeof *ptrs);
    cs_ops_reset_counts counts;
    if (!keys || !ptrs) {
        free(keys);
        free(ptrs);
        return CTL_FAIL;
    }
    for (int i = 0; i < n; i++) {
        cs_ops_product_key(args[i], keys[i], sizeof keys[i]);
        ptrs[i] = keys[i];
    }
    int rc = cs_ops_reset(c->ops, c->sink, c->conn, ptrs, (size_t)n, failed, &counts);
    free(keys);
    free(ptrs);
    if (rc != 0) {
        fprintf(stderr, "catalogsyncctl: Redis: %s\n", cs_ops_errstr(c->ops));
        return CTL_FAIL;
    }
    if (c->json)
        printf("{\"queued\":%ld,\"excluded\":%ld,\"no_snapshot\":%ld,\"unknown\":%ld}\n",
               counts.queued, counts.excluded, counts.no_snapshot, counts.unknown);
    else {
        printf("%ld reset and queued for an immediate retry", counts.queued);
        if (counts.excluded)
            printf(", %ld excluded (include them first)", counts.excluded);
        if (counts.no_snapshot)
            printf(", %ld without a stored version (save the product again)", counts.no_snapshot);
        if (counts.unknown)
            printf(", %ld unknown", counts.unknown);
        printf("\n");
    }
    return n > 0 && counts.queued == 0 ? CTL_PROBLEMS : CTL_OK;
}

/* ---- queue ---- */

static int cmd_queue(ctl *c, int due, long limit)
{
    json_t *q = cs_ops_queue(c->ops, c->sink, due, limit > 0 ? (size_t)limit : 50);
    if (!q) {
        fprintf(stderr, "catalogsyncctl: Redis: %s\n", cs_ops_errstr(c->ops));
        return CTL_FAIL;
    }
    if (c->json) {
        char *s = json_dumps(q, JSON_INDENT(2));
        printf("%s\n", s ? s : "null");
        free(s);
        json_decref(q);
        return CTL_OK;
    }
    for_terminal(q);
    int64_t now = json_integer_value(json_object_get(q, "now"));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(q, "totals"), k, v)
        printf("%s: %lld waiting retries, %lld due now, %lld in flight\n", k,
               (long long)json_integer_value(json_object_get(v, "waiting")),
               (long long)json_integer_value(json_object_get(v, "due")),
               (long long)json_integer_value(json_object_get(v, "in_flight")));
    size_t i;
    json_t *e;
    if (json_array_size(json_object_get(q, "retry"))) {
        printf("\n%-12s %-8s %-24s %s\n", "SINK", "CONN", "PRODUCT", "DUE");
        json_array_foreach(json_object_get(q, "retry"), i, e) {
            char rel[48];
            int64_t at = json_integer_value(json_object_get(e, "due_at"));
            fmt_rel(at, now, rel, sizeof rel);
            printf("%-12s %-8s %-24s %s%s\n", jstr(e, "sink"), jstr(e, "connection"),
                   jstr(e, "product"), at <= now ? "due now, " : "", rel);
        }
    }
    if (json_array_size(json_object_get(q, "in_flight"))) {
        printf("\nin flight (claimed by a worker):\n");
        json_array_foreach(json_object_get(q, "in_flight"), i, e) {
            char rel[48];
            fmt_rel(json_integer_value(json_object_get(e, "lease_until")), now, rel, sizeof rel);
            printf("  %-12s %-8s %-24s lease ends %s\n", jstr(e, "sink"), jstr(e, "connection"),
                   jstr(e, "product"), rel);
        }
    }
    json_t *paused = json_object_get(q, "paused");
    printf("\n");
    if (!json_array_size(paused))
        printf("no connection paused\n");
    json_array_foreach(paused, i, e) {
        char rel[48];
        int64_t until = jms(e, "until");
        if (!strcmp(jstr(e, "kind"), "operator"))
            snprintf(rel, sizeof rel, "until resumed");
        else
            fmt_rel(until, now, rel, sizeof rel);
        printf("%sPAUSED%s %s %s (%s) %s: %s\n", ctl_color(c, "red"), ctl_color(c, "reset"),
               jstr(e, "sink"), jstr(e, "connection"), jstr(e, "kind"), rel, jstr(e, "reason"));
    }
    json_decref(q);
    return CTL_OK;
}

/* ---- stats ---- */

static long long ji(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static int cmd_stats(ctl *c)
{
    json_t *s = cs_ops_stats(c->ops, c->sink, c->conn);
    if (!s) {
        fprintf(stderr, "catalogsyncctl: Redis: %s\n", cs_ops_errstr(c->ops));
        return CTL_FAIL;
    }
    if (c->json) {
        char *t = json_dumps(s, JSON_INDENT(2));
        printf("%s\n", t ? t : "null");
        free(t);
        json_decref(s);
        return CTL_OK;
    }
    for_terminal(s);
    int64_t now = json_integer_value(json_object_get(s, "now"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(s, "connections"), i, e) {
        json_t *n = json_object_get(e, "counts"), *h = json_object_get(e, "last_hour"),
               *d = json_object_get(e, "last_day");
        printf("%s%s %s%s: %lld products\n", ctl_color(c, "bold"), jstr(e, "sink"),
               jstr(e, "connection"), ctl_color(c, "reset"), ji(e, "products"));
        const char *rs = ctl_color(c, "reset");
#define ST(s) status_color(c, s), cs_statuses[s].icon, ji(n, cs_statuses[s].wire)
        printf("  %s%s %lld synced%s  %s%s %lld retry pending%s  %s%s %lld failed%s  "
               "%s%s %lld not synced  %lld skipped%s\n", ST(CS_STATUS_SYNCED), rs,
               ST(CS_STATUS_RETRY_PENDING), rs, ST(CS_STATUS_FAILED), rs,
               ST(CS_STATUS_PENDING), ji(n, cs_statuses[CS_STATUS_SKIPPED].wire), rs);
#undef ST
        printf("  last hour: %lld synced, %lld retried, %lld failed, %lld paused, %lld deleted\n",
               ji(h, "synced"), ji(h, "retry"), ji(h, "failed"), ji(h, "paused"),
               ji(h, "deleted"));
        printf("  last day:  %lld synced, %lld retried, %lld failed, %lld paused, %lld deleted\n",
               ji(d, "synced"), ji(d, "retry"), ji(d, "failed"), ji(d, "paused"),
               ji(d, "deleted"));
        json_t *old = json_object_get(e, "oldest_pending");
        if (json_is_object(old)) {
            char t[40], span[32];
            fmt_time(json_integer_value(json_object_get(old, "since")), t, sizeof t);
            fmt_span(now - json_integer_value(json_object_get(old, "since")), span, sizeof span);
            printf("  oldest out of date: %s since %s (%s)\n", jstr(old, "product"), t, span);
        } else {
            printf("  nothing out of date\n");
        }
        json_t *p = json_object_get(e, "paused");
        if (json_is_object(p))
            printf("  %sPAUSED%s (%s): %s\n", ctl_color(c, "red"), ctl_color(c, "reset"),
                   jstr(p, "kind"), jstr(p, "reason"));
        if (ji(e, "excluded"))
            printf("  excluded by an operator: %lld\n", ji(e, "excluded"));
        if (!strcmp(jstr(e, "sink"), "woocommerce"))
            printf("  seen but never exported here: %lld\n", ji(e, "not_linked"));
    }
    json_decref(s);
    return CTL_OK;
}

/* ---- pause, resume, exclude, include ---- */

static int no_match(ctl *c, const char *what)
{
    fprintf(stderr, "catalogsyncctl: no configured connection matches %s%s%s\n", what,
            c->sink ? " in sink " : "", c->sink ? c->sink : "");
    return CTL_USAGE;
}

static int cmd_pause(ctl *c, const char *reason)
{
    int n = cs_ops_pause(c->ops, c->sink, c->conn, reason);
    if (n < 0) {
        fprintf(stderr, "catalogsyncctl: Redis: %s\n", cs_ops_errstr(c->ops));
        return CTL_FAIL;
    }
    if (n == 0)
        return no_match(c, c->conn);
    printf("%d connection%s paused until resumed\n", n, n == 1 ? "" : "s");
    return CTL_OK;
}

static int cmd_resume(ctl *c)
{
    long requeued = 0;
    int n = cs_ops_resume(c->ops, c->sink, c->conn, &requeued);
    if (n < 0) {
        fprintf(stderr, "catalogsyncctl: Redis: %s\n", cs_ops_errstr(c->ops));
        return CTL_FAIL;
    }
    if (n == 0) {
        printf("%s was not paused\n", c->conn);
        return CTL_OK;
    }
    printf("%d connection%s resumed; %ld parked retr%s due now\n", n, n == 1 ? "" : "s",
           requeued, requeued == 1 ? "y" : "ies");
    return CTL_OK;
}

static int cmd_exclude(ctl *c, const char *arg, int include)
{
    char pkey[512];
    long requeued = 0;
    cs_ops_product_key(arg, pkey, sizeof pkey);
    int n = include ? cs_ops_include(c->ops, c->sink, c->conn, pkey, &requeued)
                    : cs_ops_exclude(c->ops, c->sink, c->conn, pkey);
    if (n < 0) {
        fprintf(stderr, "catalogsyncctl: Redis: %s\n", cs_ops_errstr(c->ops));
        return CTL_FAIL;
    }
    if (include)
        printf("%s included again at %d connection%s; %ld queued for an immediate push\n", pkey,
               n, n == 1 ? "" : "s", requeued);
    else
        printf("%s excluded at %d connection%s (no longer pushed there)\n", pkey, n,
               n == 1 ? "" : "s");
    return CTL_OK;
}

/* ---- main ---- */

/* The options that narrow or steer a command, bit i for OPT_NAMES[i]. */
enum { O_SINK = 1, O_CONN = 2, O_STATE = 4, O_LIMIT = 8, O_FAILED = 16, O_DUE = 32,
       O_REASON = 64 };
static const char *const OPT_NAMES[] = {"--sink", "--connection", "--state", "--limit",
                                        "--failed", "--due", "--reason"};

static int conn_exists(ctl *c)
{
    for (size_t i = 0; i < cs_ops_n_conns(c->ops); i++)
        if (cs_ops_conn_match(c->ops, i, c->sink, c->conn))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    cs_no_core_dumps();        /* before any secret is read */
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
        {"no-color", no_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
        {"sink", required_argument, NULL, 's'}, {"connection", required_argument, NULL, 'n'},
        {"state", required_argument, NULL, 'S'}, {"limit", required_argument, NULL, 'l'},
        {"failed", no_argument, NULL, 'f'}, {"due", no_argument, NULL, 'd'},
        {"reason", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0},
    };
    ctl c;
    memset(&c, 0, sizeof c);
    const char *config = NULL, *states = NULL, *reason = NULL;
    long limit = -1;
    int failed = 0, due = 0, no_color = 0, opt;
    unsigned given = 0;         /* O_* given */
    char errstr[1024];
    cs_log_set_level(CS_LOG_WARN);
    /* Options may follow the command ("status --json"): GNU getopt permutes. */
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'j': c.json = 1; break;
        case 'C': no_color = 1; break;
        case 's': c.sink = optarg; given |= O_SINK; break;
        case 'n': c.conn = optarg; given |= O_CONN; break;
        case 'S': states = optarg; given |= O_STATE; break;
        case 'f': failed = 1; given |= O_FAILED; break;
        case 'd': due = 1; given |= O_DUE; break;
        case 'r': reason = optarg; given |= O_REASON; break;
        case 'l': {
            given |= O_LIMIT;
            int64_t v;
            if (cs_parse_i64(optarg, 0, 100000000, &v) != 0) {
                fprintf(stderr, "catalogsyncctl: --limit wants a number, got '%s'\n", optarg);
                return CTL_USAGE;
            }
            limit = (long)v;
            break;
        }
        case 'h': usage(stdout); return CTL_OK;
        default: usage(stderr); return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    const char *command = argv[optind];
    char **args = argv + optind + 1;
    int nargs = argc - optind - 1;
    if (c.sink && strcmp(c.sink, "meta") != 0 && strcmp(c.sink, "woocommerce") != 0) {
        fprintf(stderr, "catalogsyncctl: --sink is meta or woocommerce, got '%s'\n", c.sink);
        return CTL_USAGE;
    }
    /* The options each command takes: any other is refused, never ignored. */
    static const struct { const char *name; int min, max; unsigned opts; } cmds[] = {
        {"status", 0, 0, O_SINK | O_CONN | O_STATE | O_LIMIT},
        {"show", 1, 1, O_SINK | O_CONN},
        {"reset", 0, 100000, O_SINK | O_CONN | O_FAILED},
        {"queue", 0, 0, O_SINK | O_DUE | O_LIMIT},
        {"stats", 0, 0, O_SINK | O_CONN},
        {"pause", 1, 1, O_SINK | O_REASON},
        {"resume", 1, 1, O_SINK},
        {"exclude", 1, 1, O_SINK | O_CONN},
        {"include", 1, 1, O_SINK | O_CONN},
        {"doctor", 0, 0, O_SINK | O_CONN},
    };
    size_t ci = sizeof cmds / sizeof cmds[0];
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(command, cmds[i].name))
            ci = i;
    if (ci == sizeof cmds / sizeof cmds[0]) {
        fprintf(stderr, "catalogsyncctl: unknown command '%s' (see --help)\n", command);
        return CTL_USAGE;
    }
    for (size_t b = 0; b < sizeof OPT_NAMES / sizeof OPT_NAMES[0]; b++)
        if ((given & ~cmds[ci].opts) & (1u << b)) {
            fprintf(stderr, "catalogsyncctl: %s does not take %s (see --help)\n", command,
                    OPT_NAMES[b]);
            return CTL_USAGE;
        }
    if (nargs < cmds[ci].min || nargs > cmds[ci].max) {
        fprintf(stderr, "catalogsyncctl: %s takes %s (see --help)\n", command,
                cmds[ci].max == 0 ? "no arguments" : cmds[ci].min == cmds[ci].max ? "one argument"
                : "products or --failed");
        return CTL_USAGE;
    }
    if (!strcmp(command, "reset") && (nargs == 0) == (failed == 0)) {
        fprintf(stderr, "catalogsyncctl: reset takes products or --failed, not both\n");
        return CTL_USAGE;
    }
    cs_config_cli cli = {config, NULL, 0, NULL, NULL};
    if (!(c.cfg = cs_config_load_cli(&cli, errstr, sizeof errstr))) {
        fprintf(stderr, "catalogsyncctl: %s\n", errstr);
        return CTL_CONFIG;
    }
    c.color = !c.json && !no_color && !getenv("NO_COLOR") && isatty(STDOUT_FILENO);
    if (!strcmp(command, "pause") || !strcmp(command, "resume"))
        c.conn = args[0];
    int rc = CTL_FAIL;
    if (!(c.ops = cs_ops_new(c.cfg))) {
        fprintf(stderr, "catalogsyncctl: out of memory\n");
        goto out;
    }
    if ((c.sink || c.conn) && !conn_exists(&c)) {
        rc = no_match(&c, c.conn ? c.conn : c.sink);
        goto out;
    }
    if (strcmp(command, "doctor") != 0 && cs_ops_ready(c.ops) != 0) {
        fprintf(stderr, "catalogsyncctl: Redis at %s:%d unreachable: %s\n", c.cfg->redis_host,
                c.cfg->redis_port, cs_ops_errstr(c.ops));
        goto out;
    }
    if (!strcmp(command, "status"))
        rc = cmd_status(&c, states, limit);
    else if (!strcmp(command, "show"))
        rc = cmd_show(&c, args[0]);
    else if (!strcmp(command, "reset"))
        rc = cmd_reset(&c, args, nargs, failed);
    else if (!strcmp(command, "queue"))
        rc = cmd_queue(&c, due, limit);
    else if (!strcmp(command, "stats"))
        rc = cmd_stats(&c);
    else if (!strcmp(command, "pause"))
        rc = cmd_pause(&c, reason);
    else if (!strcmp(command, "resume"))
        rc = cmd_resume(&c);
    else if (!strcmp(command, "exclude"))
        rc = cmd_exclude(&c, args[0], 0);
    else if (!strcmp(command, "include"))
        rc = cmd_exclude(&c, args[0], 1);
    else
        rc = ctl_doctor(&c);
out:
    cs_ops_destroy(c.ops);
    cs_config_destroy(c.cfg);
    return rc;
}
