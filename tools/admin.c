/*
 * catalogsync-admin: the operator's HTTP service — a status page, a JSON API
 * shaped like the WooCommerce seed's endpoints, and /metrics from the state
 * in Redis (what is out of date, per connection).
 *
 *   GET  /                                   status page (colour codes, failed and
 *                                            retrying products, reset buttons)
 *   GET  /healthz, /readyz                   alive; Redis answers
 *   GET  /metrics                            Prometheus text: products per status,
 *                                            retries waiting/due, pauses, outcomes
 *   GET  /v1/connections                     configured connections
 *   GET  /v1/connections/{id}/sync-status?productIds=a,b[&sink=]
 *   GET  /v1/connections/{id}/stats[?sink=]
 *   GET  /v1/products?status=failed,retry_pending&sink=&connection=&q=&limit=
 *   GET  /v1/products/{product}              every state field, last attempts
 *   GET  /v1/queue[?sink=&due=1]
 *   POST /v1/reset  {"products":[..]} or {"failed":true}, optional "sink",
 *                   "connection"; needs "Authorization: Bearer <admin.token>"
 *
 * Listens on admin.listen (default 127.0.0.1:8080).  Changes are refused
 * unless admin.token is set, and then need it; reads are open to whoever can
 * reach the address, so keep it on loopback or behind a proxy.
 *
 * Exit status: 0 stopped by SIGTERM/SIGINT; 1 could not start (address in
 * use); 64 bad usage; 78 configuration error.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cs_admin_gate.h"
#include "cs_config.h"
#include "cs_httpd.h"
#include "cs_log.h"
#include "cs_metrics.h"
#include "cs_ops.h"
#include "cs_util.h"

#define EXIT_START  1
#define EXIT_USAGE  64
#define EXIT_CONFIG 78
#define LIST_MAX    5000

extern const char cs_admin_page[];      /* tools/admin_page.html, built in */
extern const char cs_admin_app[];       /* tools/admin_app.js, built in */

typedef struct admin {
    cs_config *cfg;
    cs_ops *ops;
    cs_admin_gate gate;         /* Host check, headers, token and its throttle */
    pthread_mutex_t mu;         /* held by main() until the gate knows the bound port */
} admin;

static void usage(FILE *out)
{
    fputs(
"Usage: catalogsync-admin [--config FILE] [--listen HOST:PORT]\n"
"\n"
"Serves the status page, the JSON API (sync status, stats, products, queue,\n"
"reset) and /metrics from the sync state in Redis.  Reads the same configuration\n"
"file as the workers; admin.listen (default 127.0.0.1:8080) and admin.token\n"
"(env:NAME or file:/path; the bearer token POST /v1/reset requires — without it\n"
"changes are refused).\n"
"\n"
"Options:\n"
"  -c, --config FILE        configuration (default $CATALOGSYNC_CONFIG)\n"
"  -l, --listen HOST:PORT   overrides admin.listen (port 0: any free port)\n"
"      --check-config       print the effective configuration (secrets redacted)\n"
"  -h, --help               this help\n"
"\n"
"Exit status: 0 stopped by SIGTERM/SIGINT; 1 could not start; 64 bad usage;\n"
"78 configuration error.\n", out);
}

/* ---- responses ---- */

static void send_json(cs_httpd_resp *resp, int status, json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    cs_httpd_resp_status(resp, status);
    cs_httpd_resp_type(resp, "application/json");
    cs_buf_appends(cs_httpd_resp_body(resp), s ? s : "null");
    free(s);
    json_decref(doc);
}

static void send_error(cs_httpd_resp *resp, int status, const char *msg)
{
    send_json(resp, status, json_pack("{s:s}", "error", msg));
}

static void redis_down(admin *a, cs_httpd_resp *resp)
{
    char msg[512];
    snprintf(msg, sizeof msg, "Redis unreachable: %s", cs_ops_errstr(a->ops));
    send_error(resp, 503, msg);
}

/* ---- /metrics ---- */

static void metrics(admin *a, cs_httpd_resp *resp)
{
    json_t *st = cs_ops_stats(a->ops, NULL, NULL);
    json_t *q = st ? cs_ops_queue(a->ops, NULL, 1, 1) : NULL;
    if (!st || !q) {
        json_decref(st);
        redis_down(a, resp);
        return;
    }
    cs_metrics *m = cs_metrics_new();
    static const char *const conn_status[] = {"sink", "connection", "status", NULL};
    static const char *const conn_outcome[] = {"sink", "connection", "outcome", NULL};
    static const char *const conn[] = {"sink", "connection", NULL};
    static const char *const sink[] = {"sink", NULL};
    cs_metric *products = cs_metrics_gauge(m, "catalogsync_products",
        "Products per current sync status at each connection.", conn_status);
    cs_metric *outcomes = cs_metrics_counter(m, "catalogsync_outcomes_total",
        "Push outcomes recorded in Redis since the state was created, all workers.",
        conn_outcome);
    cs_metric *paused = cs_metrics_gauge(m, "catalogsync_connection_paused",
        "1 while the connection is paused (throttle, auth or operator).", conn);
    cs_metric *oldest = cs_metrics_gauge(m, "catalogsync_oldest_out_of_date_seconds",
        "Age of the oldest product not yet synced at its latest version (0 = none).", conn);
    cs_metric *excluded = cs_metrics_gauge(m, "catalogsync_products_excluded",
        "Products an operator keeps out of the connection.", conn);
    cs_metric *waiting = cs_metrics_gauge(m, "catalogsync_retries_waiting",
        "Retries in the delayed-retry queue.", sink);
    cs_metric *due = cs_metrics_gauge(m, "catalogsync_retries_due",
        "Retries whose time has come and no worker has claimed yet.", sink);
    cs_metric *inflight = cs_metrics_gauge(m, "catalogsync_retries_in_flight",
        "Retries claimed by a worker (lease held).", sink);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(st, "connections"), i, e) {
        const char *s = json_string_value(json_object_get(e, "sink"));
        const char *c = json_string_value(json_object_get(e, "connection"));
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(e, "counts"), k, v) {
            const char *lv[] = {s, c, k};
            cs_metric_set(cs_metric_get(products, lv), (double)json_integer_value(v));
        }
        /* stats:C's running totals, labelled as the tally (common/cs_vocab.c). */
        for (size_t t = 0; t < CS_N_SETTLE; t++) {
            const cs_settle_info *si = &cs_settle_results[t];
            if (!si->total)
                continue;
            const char *lv[] = {s, c, si->tally};
            const char *v2 = json_string_value(json_object_get(json_object_get(e, "totals"),
                                                               si->total));
            int64_t x = 0;
            if (v2)
                cs_parse_i64(v2, 0, INT64_MAX, &x);
            cs_metric_add(cs_metric_get(outcomes, lv), (double)x);
        }
        const char *lc[] = {s, c};
        cs_metric_set(cs_metric_get(paused, lc), json_is_object(json_object_get(e, "paused")));
        json_t *old = json_object_get(e, "oldest_pending");
        cs_metric_set(cs_metric_get(oldest, lc), json_is_object(old)
                      ? (double)json_integer_value(json_object_get(old, "age_s")) : 0);
        cs_metric_set(cs_metric_get(excluded, lc),
                      (double)json_integer_value(json_object_get(e, "excluded")));
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(q, "totals"), k, v) {
        const char *ls[] = {k};
        cs_metric_set(cs_metric_get(waiting, ls),
                      (double)json_integer_value(json_object_get(v, "waiting")));
        cs_metric_set(cs_metric_get(due, ls), (double)json_integer_value(json_object_get(v, "due")));
        cs_metric_set(cs_metric_get(inflight, ls),
                      (double)json_integer_value(json_object_get(v, "in_flight")));
    }
    cs_httpd_resp_type(resp, CS_METRICS_CONTENT_TYPE);
    cs_metrics_render(m, cs_httpd_resp_body(resp));
    cs_metrics_destroy(m);
    json_decref(st);
    json_decref(q);
}

/* ---- product list ---- */

typedef struct list_run {
    json_t *rows;
    int states;
    const char *q;
    long matched, limit;
} list_run;

static int list_row(void *opaque, const cs_ops_row *r)
{
    list_run *l = opaque;
    if (l->states && !(l->states & (1 << cs_ops_status_index(r->status))))
        return 0;
    if (l->q && l->q[0] && !strcasestr(r->product, l->q) && !strcasestr(r->sku, l->q) &&
        !strcasestr(r->name, l->q) && !strcasestr(r->error_message, l->q))
        return 0;
    l->matched++;
    if (l->matched <= l->limit)
        json_array_append_new(l->rows, cs_ops_row_json(r));
    return 0;
}

static void products(admin *a, const cs_httpd_req *req, cs_httpd_resp *resp)
{
    list_run l = {json_array(), 0, cs_httpd_req_query(req, "q"), 0, 500};
    const char *lim = cs_httpd_req_query(req, "limit");
    int64_t x;
    char bad[64];
    if (cs_ops_status_mask(cs_httpd_req_query(req, "status"), &l.states, bad, sizeof bad) != 0) {
        json_decref(l.rows);
        send_error(resp, 400, "status: a comma-separated list of synced, pending, "
                   "retry_pending, failed, skipped");
        return;
    }
    if (lim && (cs_parse_i64(lim, 1, LIST_MAX, &x) != 0)) {
        json_decref(l.rows);
        send_error(resp, 400, "limit: a number from 1 to 5000");
        return;
    }
    if (lim)
        l.limit = (long)x;
    if (cs_ops_scan(a->ops, cs_httpd_req_query(req, "sink"), cs_httpd_req_query(req, "connection"),
                    list_row, &l) < 0) {
        json_decref(l.rows);
        redis_down(a, resp);
        return;
    }
    send_json(resp, 200, json_pack("{s:o, s:I}", "data", l.rows, "matched", (json_int_t)l.matched));
}

/* ---- connections ---- */

static void connections(admin *a, cs_httpd_resp *resp)
{
    json_t *list = json_array();
    for (size_t i = 0; i < cs_ops_n_conns(a->ops); i++) {
        const cs_ops_conn *c = cs_ops_conn_at(a->ops, i);
        json_array_append_new(list, json_pack("{s:s, s:s}", "sink", c->sink, "id", c->id));
    }
    send_json(resp, 200, json_pack("{s:o, s:i}", "data", list, "max_attempts",
                                   a->cfg->retry_max_attempts));
}

/* The seed's sync-status: {"data": [{productId, syncStatus, errorMessage, ...}]}. */
static void sync_status(admin *a, const char *conn, const cs_httpd_req *req, cs_httpd_resp *resp)
{
    const char *ids = cs_httpd_req_query(req, "productIds");
    const char *tenant = cs_httpd_req_query(req, "tenant");
    char buf[8192];
    const char *keys[256];
    char store[256][256];
    size_t n = 0;
    int unknown = 0;
    snprintf(buf, sizeof buf, "%s", ids ? ids : "");
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < 256;
         t = strtok_r(NULL, ",", &save)) {
        if (tenant && tenant[0] && !strchr(t, ':'))
            snprintf(store[n], sizeof store[n], "%s:%s", tenant, t);
        else
            cs_ops_product_key(t, store[n], sizeof store[n]);
        keys[n] = store[n];
        n++;
    }
    if (!n) {
        send_error(resp, 400, "productIds: a comma-separated list of product ids (up to 256)");
        return;
    }
    json_t *doc = cs_ops_sync_status(a->ops, cs_httpd_req_query(req, "sink"), conn, keys, n,
                                     &unknown);
    if (unknown) {
        send_error(resp, 404, "no such connection");
        return;
    }
    if (!doc) {
        redis_down(a, resp);
        return;
    }
    json_t *data = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(doc, "products"), i, r) {
        const char *pk = json_string_value(json_object_get(r, "product"));
        const char *colon = strchr(pk, ':');
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "productId", colon ? colon + 1 : pk,
                              "tenant", "", "sink", json_string_value(json_object_get(doc, "sink")),
                              "connection", conn, "syncStatus",
                              json_string_value(json_object_get(r, "status")));
        json_object_set_new(o, "tenant", json_stringn(pk, colon ? (size_t)(colon - pk) : 0));
        const char *copy[][2] = {{"remote_id", "remoteId"}, {"last_exported_at", "lastExportedAt"},
                                 {"last_synced_at", "lastSyncedAt"}, {"attempts", "attempts"},
                                 {"version", "version"}, {"synced_version", "syncedVersion"},
                                 {"last_success", "lastSuccessAt"},
                                 {"next_attempt", "nextAttemptAt"}};
        for (size_t c = 0; c < sizeof copy / sizeof copy[0]; c++) {
            json_t *v = json_object_get(r, copy[c][0]);
            if (v)
                json_object_set(o, copy[c][1], v);
        }
        json_t *err = json_object_get(r, "last_error_message");
        json_object_set(o, "errorMessage", err ? err : json_null());
        json_array_append_new(data, o);
    }
    json_decref(doc);
    send_json(resp, 200, json_pack("{s:o}", "data", data));
}

static void conn_stats(admin *a, const char *conn, const cs_httpd_req *req, cs_httpd_resp *resp)
{
    json_t *st = cs_ops_stats(a->ops, cs_httpd_req_query(req, "sink"), conn);
    if (!st) {
        redis_down(a, resp);
        return;
    }
    json_t *list = json_object_get(st, "connections");
    if (!json_array_size(list)) {
        json_decref(st);
        send_error(resp, 404, "no such connection");
        return;
    }
    json_t *one = json_incref(json_array_get(list, 0));
    json_decref(st);
    send_json(resp, 200, json_pack("{s:o}", "data", one));
}

/* ---- reset ---- */

static void reset(admin *a, const cs_httpd_req *req, cs_httpd_resp *resp)
{
    if (!cs_admin_gate_auth(&a->gate, req, resp, cs_mono_ms()))
        return;
    size_t len;
    const char *body = cs_httpd_req_body(req, &len);
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    json_t *list = json_object_get(doc, "products");
    json_t *sink = json_object_get(doc, "sink"), *conn = json_object_get(doc, "connection");
    int failed = json_is_true(json_object_get(doc, "failed"));
    if (!json_is_object(doc) || (list && !json_is_array(list)) || (sink && !json_is_string(sink)) ||
        (conn && !json_is_string(conn)) || (!json_array_size(list)) == !failed) {
        json_decref(doc);
        send_error(resp, 400, "body: {\"products\": [\"ID\" or \"TENANT:ID\", ...]} or "
                   "{\"failed\": true}, with optional \"sink\" and \"connection\"");
        return;
    }
    size_t n = json_array_size(list);
    char (*keys)[512] = calloc(n ? n : 1, sizeof *keys);
    const char **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    cs_ops_reset_counts counts;
    int bad = 0;
    for (size_t i = 0; keys && ptrs && i < n; i++) {
        const char *s = json_string_value(json_array_get(list, i));
        if (!s || !s[0]) {
            bad = 1;
            break;
        }
        cs_ops_product_key(s, keys[i], sizeof keys[i]);
        ptrs[i] = keys[i];
    }
    if (!keys || !ptrs || bad) {
        free(keys);
        free(ptrs);
        json_decref(doc);
        send_error(resp, 400, "products: a list of non-empty strings");
        return;
    }
    int rc = cs_ops_reset(a->ops, json_string_value(sink), json_string_value(conn), ptrs, n,
                          failed, &counts);
    free(keys);
    free(ptrs);
    json_decref(doc);
    if (rc != 0) {
        redis_down(a, resp);
        return;
    }
    CS_INFO("admin", "reset from %s: %ld queued, %ld excluded, %ld without a stored version, "
            "%ld unknown", cs_httpd_req_peer(req), counts.queued, counts.excluded,
            counts.no_snapshot, counts.unknown);
    send_json(resp, 200, json_pack("{s:I, s:I, s:I, s:I}", "queued", (json_int_t)counts.queued,
                                   "excluded", (json_int_t)counts.excluded, "no_snapshot",
                                   (json_int_t)counts.no_snapshot, "unknown",
                                   (json_int_t)counts.unknown));
}

/* ---- routing ---- */

static void route(admin *a, const cs_httpd_req *req, cs_httpd_resp *resp);

static void handle(void *ud, const cs_httpd_req *req, cs_httpd_resp *resp)
{
    admin *a = ud;
    pthread_mutex_lock(&a->mu);
    route(a, req, resp);
    pthread_mutex_unlock(&a->mu);
}

static void route(admin *a, const cs_httpd_req *req, cs_httpd_resp *resp)
{
    const char *m = cs_httpd_req_method(req), *p = cs_httpd_req_path(req);
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    char conn[128], rest[64];
    if (!cs_admin_gate_request(&a->gate, req, resp))
        return;
    if (!strcmp(p, "/v1/reset")) {
        if (strcmp(m, "POST") != 0) {
            cs_httpd_resp_header(resp, "Allow", "POST");
            send_error(resp, 405, "use POST");
            return;
        }
        reset(a, req, resp);
        return;
    }
    if (!get) {
        cs_httpd_resp_header(resp, "Allow", "GET, HEAD");
        send_error(resp, 405, "read-only resource; changes go through POST /v1/reset");
        return;
    }
    if (!strcmp(p, "/") || !strcmp(p, "/index.html")) {
        cs_httpd_resp_type(resp, "text/html; charset=utf-8");
        cs_buf_appends(cs_httpd_resp_body(resp), cs_admin_page);
    } else if (!strcmp(p, "/app.js")) {
        cs_httpd_resp_type(resp, "text/javascript; charset=utf-8");
        cs_buf_appends(cs_httpd_resp_body(resp), cs_admin_app);
    } else if (!strcmp(p, "/healthz")) {
        cs_httpd_resp_text(resp, 200, "ok\n");
    } else if (!strcmp(p, "/readyz")) {
        if (cs_ops_ping(a->ops) == 0)
            cs_httpd_resp_text(resp, 200, "ready\n");
        else
            cs_httpd_resp_text(resp, 503, "Redis unreachable: %s\n", cs_ops_errstr(a->ops));
    } else if (!strcmp(p, "/metrics")) {
        metrics(a, resp);
    } else if (!strcmp(p, "/v1/connections")) {
        connections(a, resp);
    } else if (!strcmp(p, "/v1/products")) {
        products(a, req, resp);
    } else if (!strncmp(p, "/v1/products/", 13) && p[13]) {
        char pkey[512];
        cs_ops_product_key(p + 13, pkey, sizeof pkey);
        json_t *doc = cs_ops_show(a->ops, NULL, NULL, pkey);
        if (!doc)
            redis_down(a, resp);
        else
            send_json(resp, json_array_size(json_object_get(doc, "connections")) ? 200 : 404, doc);
    } else if (!strcmp(p, "/v1/queue")) {
        const char *due = cs_httpd_req_query(req, "due");
        json_t *q = cs_ops_queue(a->ops, cs_httpd_req_query(req, "sink"),
                                 due && strcmp(due, "0") != 0, 500);
        if (!q)
            redis_down(a, resp);
        else
            send_json(resp, 200, q);
    } else if (sscanf(p, "/v1/connections/%127[^/]/%63s", conn, rest) == 2 &&
               !strcmp(rest, "sync-status")) {
        sync_status(a, conn, req, resp);
    } else if (sscanf(p, "/v1/connections/%127[^/]/%63s", conn, rest) == 2 &&
               !strcmp(rest, "stats")) {
        conn_stats(a, conn, req, resp);
    } else {
        send_error(resp, 404, "no such resource");
    }
}

int main(int argc, char **argv)
{
    cs_no_core_dumps();        /* before any secret is read */
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"listen", required_argument, NULL, 'l'},
        {"check-config", no_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *listen = NULL;
    int check = 0, opt;
    char errstr[1024];
    while ((opt = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'l': listen = optarg; break;
        case 'C': check = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "catalogsync-admin: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    cs_config_cli cli = {config, NULL, 0, NULL, NULL};
    static admin a = {.mu = PTHREAD_MUTEX_INITIALIZER};    /* the gate: off the stack */
    if (!(a.cfg = cs_config_load_cli(&cli, errstr, sizeof errstr)) ||
        cs_config_resolve_admin_secret(a.cfg, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "catalogsync-admin: %s\n", errstr);
        cs_config_destroy(a.cfg);
        return EXIT_CONFIG;
    }
    if (check) {
        cs_config_dump(a.cfg, stdout);
        cs_config_destroy(a.cfg);
        return 0;
    }
    if (cs_admin_gate_init(&a.gate, NULL, a.cfg->admin_allowed_hosts, a.cfg->admin_token,
                           errstr, sizeof errstr) != 0) {
        fprintf(stderr, "catalogsync-admin: %s\n", errstr);
        cs_config_destroy(a.cfg);
        return EXIT_CONFIG;
    }
    if (listen && cs_httpd_check_listen(listen, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "catalogsync-admin: --listen: %s\n", errstr);
        cs_config_destroy(a.cfg);
        return EXIT_USAGE;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!(a.ops = cs_ops_new(a.cfg))) {
        fprintf(stderr, "catalogsync-admin: out of memory\n");
        cs_config_destroy(a.cfg);
        return EXIT_START;
    }
    if (cs_ops_ready(a.ops) != 0)
        CS_WARN("admin", "Redis unreachable for now: %s", cs_ops_errstr(a.ops));
    /* From here on only the server's thread uses a.ops. */
    cs_httpd_opts ho = {.listen = listen ? listen : a.cfg->admin_listen, .log_name = "admin"};
    pthread_mutex_lock(&a.mu);
    cs_httpd *d = cs_httpd_start(&ho, handle, &a, errstr, sizeof errstr);
    if (!d) {
        pthread_mutex_unlock(&a.mu);
        fprintf(stderr, "catalogsync-admin: %s\n", errstr);
        cs_ops_destroy(a.ops);
        cs_config_destroy(a.cfg);
        return EXIT_START;
    }
    /* Cannot fail now: the same names were checked above. */
    cs_admin_gate_init(&a.gate, cs_httpd_address(d), a.cfg->admin_allowed_hosts,
                       a.cfg->admin_token, errstr, sizeof errstr);
    pthread_mutex_unlock(&a.mu);
    if (!cs_httpd_is_loopback(d))
        CS_WARN("admin", "listening on %s, not a loopback address: the status page and the "
                "product data it reads are open to whoever reaches it; put an authenticating "
                "proxy in front and list its names in admin.allowed_hosts",
                cs_httpd_address(d));
    CS_INFO("admin", "listening on http://%s (status page /, API /v1, /metrics)%s",
            cs_httpd_address(d), a.cfg->admin_token[0] ? "" : "; admin.token not set: changes "
            "are refused");
    int sig = 0;
    sigwait(&set, &sig);
    CS_INFO("admin", "stopping (signal %d)", sig);
    cs_httpd_stop(d);
    cs_ops_destroy(a.ops);
    cs_config_destroy(a.cfg);
    return 0;
}
