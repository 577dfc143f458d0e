/*
 * cs-bench-fake: a minimal, fast fake channel for the benchmark (make bench).
 *
 * Unlike tests/fakes (strict Python fakes that validate every field), this
 * one only accepts and counts, so that it is never what limits a benchmark:
 *
 *   POST .../items_batch                 Meta: one handle per call
 *   GET  .../check_batch_request_status  Meta: "finished" at the first poll (with
 *                                        --batch-ms MS: "started" until MS ms after
 *                                        items_batch accepted the batch)
 *   GET  .../products?sku=A,B            WooCommerce SKU lookup (products it created)
 *   POST .../products/batch              WooCommerce: creates and updates, by position
 *   GET  .../data/currencies/current     WooCommerce: the store's currency (EUR)
 *
 * Records are recognised by a marker the benchmark puts at the start of
 * every product name, "[bench:<product>:<version>]", which reaches the Meta
 * title and the WooCommerce name.  Per product it counts pushes per version
 * (to find anything pushed twice) and the newest confirmed version.
 *
 * Control: GET /_bench/stats (JSON counters), GET /_bench/dups (one line
 * "<product> <version> <pushes>" per version pushed more than once),
 * POST /_bench/reset.  Prints LISTENING=127.0.0.1:<port>, serves until SIGTERM.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cs_buf.h"
#include "cs_httpd.h"
#include "cs_log.h"
#include "cs_util.h"

#define MARK "[bench:"

typedef struct product {
    uint32_t confirmed;     /* newest confirmed version */
    uint32_t n_counts;
    uint16_t *counts;       /* pushes per version */
    int exists;             /* WooCommerce: created in the store */
} product;

typedef struct rec {
    uint32_t pid, ver;
} rec;

typedef struct handle {
    rec *recs;
    size_t n;
    int64_t accepted_ms;
} handle;

static product *products;
static size_t n_products;
static handle *handles;
static size_t n_handles, cap_handles;

static unsigned long long st_requests, st_meta_batch, st_meta_polls, st_woo_batch, st_woo_lookup,
    st_records, st_bytes, st_other;
static unsigned long long st_confirmed_sum, st_products_seen;
/* Kept as pushes arrive: /_bench/stats is polled every 20 ms during a run,
 * and walking every product's counts there (200,000 products) took more CPU
 * than the pushes themselves, on the cores being measured. */
static unsigned long long st_versions, st_dup_versions, st_dup_extra;
static int64_t st_first_ms, st_last_advance_ms;

static int64_t batch_ms;        /* --batch-ms: how long Meta takes to finish a batch */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig __attribute__((unused)))
{
    stop_requested = 1;
}

static product *get_product(uint32_t pid)
{
    if (pid >= n_products) {
        size_t n = n_products ? n_products : 1024;
        while (n <= pid)
            n *= 2;
        product *p = realloc(products, n * sizeof *p);
        if (!p)
            return NULL;
        memset(p + n_products, 0, (n - n_products) * sizeof *p);
        products = p;
        n_products = n;
    }
    return &products[pid];
}

static void count_push(uint32_t pid, uint32_t ver)
{
    product *p = get_product(pid);
    if (!p)
        return;
    if (ver >= p->n_counts) {
        uint32_t n = p->n_counts ? p->n_counts : 16;
        while (n <= ver)
            n *= 2;
        uint16_t *c = realloc(p->counts, n * sizeof *c);
        if (!c)
            return;
        memset(c + p->n_counts, 0, (n - p->n_counts) * sizeof *c);
        p->counts = c;
        p->n_counts = n;
    }
    if (p->counts[ver] < UINT16_MAX) {
        p->counts[ver]++;
        st_versions += p->counts[ver] == 1;
        st_dup_versions += p->counts[ver] == 2;
        st_dup_extra += p->counts[ver] > 1;
    }
    st_records++;
    if (!st_first_ms)
        st_first_ms = cs_now_ms();
}

static void confirm(uint32_t pid, uint32_t ver)
{
    product *p = get_product(pid);
    if (!p)
        return;
    if (ver > p->confirmed) {
        if (p->confirmed == 0)
            st_products_seen++;
        st_confirmed_sum += ver - p->confirmed;
        p->confirmed = ver;
        st_last_advance_ms = cs_now_ms();
    }
}

/* Next marker in [s, end): 1 with pid and ver, 0 when there is none. */
static int next_mark(const char **s, const char *end, uint32_t *pid, uint32_t *ver)
{
    for (;;) {
        const char *m = memmem(*s, (size_t)(end - *s), MARK, sizeof MARK - 1);
        if (!m)
            return 0;
        const char *q = m + sizeof MARK - 1;
        uint64_t a = 0, b = 0;
        while (q < end && *q >= '0' && *q <= '9')
            a = a * 10 + (uint64_t)(*q++ - '0');
        int ok = q < end && *q++ == ':';
        const char *vs = q;
        while (ok && q < end && *q >= '0' && *q <= '9')
            b = b * 10 + (uint64_t)(*q++ - '0');
        ok = ok && q > vs && q < end && *q == ']' && a < 100000000 && b < 1000000;
        *s = q;
        if (ok) {
            *pid = (uint32_t)a;
            *ver = (uint32_t)b;
            return 1;
        }
    }
}

static const char *ends_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n >= k && strcmp(path + n - k, suffix) == 0 ? path + n - k : NULL;
}

/* ---- Meta ---- */

static void meta_batch(const char *body, size_t len, cs_httpd_resp *resp)
{
    const char *s = body, *end = body + len;
    uint32_t pid, ver;
    handle h = {NULL, 0, cs_now_ms()};
    size_t cap = 0;
    while (next_mark(&s, end, &pid, &ver)) {
        count_push(pid, ver);
        if (h.n == cap) {
            cap = cap ? cap * 2 : 256;
            rec *r = realloc(h.recs, cap * sizeof *r);
            if (!r)
                break;
            h.recs = r;
        }
        h.recs[h.n++] = (rec){pid, ver};
    }
    if (n_handles == cap_handles) {
        size_t n = cap_handles ? cap_handles * 2 : 1024;
        handle *hs = realloc(handles, n * sizeof *hs);
        if (!hs) {
            free(h.recs);
            cs_httpd_resp_text(resp, 500, "out of memory\n");
            return;
        }
        handles = hs;
        cap_handles = n;
    }
    handles[n_handles] = h;
    cs_httpd_resp_type(resp, "application/json");
    cs_buf_appendf(cs_httpd_resp_body(resp), "{\"handles\":[\"BH%zu\"],\"validation_status\":[]}",
                   n_handles);
    n_handles++;
}

static void meta_status(const char *hs, cs_httpd_resp *resp)
{
    unsigned long long idx = 0;
    const char *q = hs && hs[0] == 'B' && hs[1] == 'H' ? hs + 2 : NULL;
    int ok = q && *q;
    for (; ok && *q; q++) {
        if (*q < '0' || *q > '9')
            ok = 0;
        else
            idx = idx * 10 + (unsigned long long)(*q - '0');
    }
    cs_httpd_resp_type(resp, "application/json");
    if (!ok || idx >= n_handles) {
        cs_httpd_resp_status(resp, 400);
        cs_buf_appends(cs_httpd_resp_body(resp),
                       "{\"error\":{\"message\":\"unknown handle\",\"type\":\"OAuthException\","
                       "\"code\":100,\"fbtrace_id\":\"bench\"}}");
        return;
    }
    handle *h = &handles[idx];
    if (cs_now_ms() - h->accepted_ms < batch_ms) {
        cs_buf_appendf(cs_httpd_resp_body(resp),
                       "{\"data\":[{\"handle\":\"%s\",\"status\":\"started\",\"errors\":[],"
                       "\"errors_total_count\":0,\"ids_of_invalid_requests\":[]}]}", hs);
        return;
    }
    for (size_t i = 0; i < h->n; i++)
        confirm(h->recs[i].pid, h->recs[i].ver);
    free(h->recs);
    h->recs = NULL;
    h->n = 0;
    cs_buf_appendf(cs_httpd_resp_body(resp),
                   "{\"data\":[{\"handle\":\"%s\",\"status\":\"finished\",\"errors\":[],"
                   "\"errors_total_count\":0,\"ids_of_invalid_requests\":[]}]}", hs);
}

/* ---- WooCommerce ---- */

/* SKUs are "BENCH-<product>"; remote ids are product + 1. */
static void woo_lookup(const char *skus, cs_httpd_resp *resp)
{
    cs_buf *b = cs_httpd_resp_body(resp);
    int first = 1;
    cs_httpd_resp_type(resp, "application/json");
    cs_buf_appendc(b, '[');
    for (const char *s = skus ? skus : ""; *s;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        unsigned long long pid = 0;
        int ok = n > 6 && strncmp(s, "BENCH-", 6) == 0;
        for (size_t i = 6; ok && i < n; i++)
            ok = s[i] >= '0' && s[i] <= '9' && (pid = pid * 10 + (unsigned long long)(s[i] - '0'),
                                                 pid < 100000000);
        if (ok && pid < n_products && products[pid].exists) {
            cs_buf_appendf(b, "%s{\"id\":%llu,\"sku\":\"BENCH-%llu\",\"status\":\"publish\","
                           "\"parent_id\":0,\"type\":\"simple\"}", first ? "" : ",", pid + 1, pid);
            first = 0;
        }
        s += n + (e ? 1 : 0);
    }
    cs_buf_appendc(b, ']');
}

static void woo_batch(const char *body, size_t len, cs_httpd_resp *resp)
{
    const char *end = body + len;
    /* Quotes inside JSON strings are escaped, so this is the list itself. */
    const char *upd = memmem(body, len, "\"update\":[", 10);
    const char *s = body;
    uint32_t pid, ver;
    cs_buf *b = cs_httpd_resp_body(resp);
    int in_update = 0, first = 1, any_create = 0;
    cs_httpd_resp_type(resp, "application/json");
    cs_buf_appendc(b, '{');
    while (next_mark(&s, end, &pid, &ver)) {
        if (!in_update && upd && s > upd) {
            cs_buf_appends(b, any_create ? "],\"update\":[" : "\"update\":[");
            in_update = 1;
            first = 1;
        }
        if (!in_update && !any_create) {
            cs_buf_appends(b, "\"create\":[");
            any_create = 1;
        }
        count_push(pid, ver);
        confirm(pid, ver);
        product *p = get_product(pid);
        if (p)
            p->exists = 1;
        if (in_update)
            cs_buf_appendf(b, "%s{\"id\":%lu}", first ? "" : ",", (unsigned long)pid + 1);
        else
            cs_buf_appendf(b, "%s{\"id\":%lu,\"sku\":\"BENCH-%lu\"}", first ? "" : ",",
                           (unsigned long)pid + 1, (unsigned long)pid);
        first = 0;
    }
    if (in_update || any_create)
        cs_buf_appendc(b, ']');
    cs_buf_appendc(b, '}');
}

/* ---- control ---- */

static void stats(cs_httpd_resp *resp)
{
    cs_httpd_resp_type(resp, "application/json");
    cs_buf_appendf(cs_httpd_resp_body(resp),
                   "{\"requests\":%llu,\"meta_batch\":%llu,\"meta_polls\":%llu,"
                   "\"woo_batch\":%llu,\"woo_lookup\":%llu,\"other\":%llu,\"records\":%llu,"
                   "\"bytes\":%llu,\"versions_pushed\":%llu,\"dup_versions\":%llu,"
                   "\"dup_extra\":%llu,\"products_confirmed\":%llu,\"confirmed_sum\":%llu,"
                   "\"first_ms\":%lld,\"last_advance_ms\":%lld}\n",
                   st_requests, st_meta_batch, st_meta_polls, st_woo_batch, st_woo_lookup,
                   st_other, st_records, st_bytes, st_versions, st_dup_versions, st_dup_extra,
                   st_products_seen, st_confirmed_sum, (long long)st_first_ms,
                   (long long)st_last_advance_ms);
}

static void dups(cs_httpd_resp *resp)
{
    cs_buf *b = cs_httpd_resp_body(resp);
    for (size_t i = 0; i < n_products; i++)
        for (uint32_t v = 0; v < products[i].n_counts; v++)
            if (products[i].counts[v] > 1)
                cs_buf_appendf(b, "%zu %u %u\n", i, v, (unsigned)products[i].counts[v]);
}

static void reset(void)
{
    for (size_t i = 0; i < n_products; i++)
        free(products[i].counts);
    free(products);
    products = NULL;
    n_products = 0;
    for (size_t i = 0; i < n_handles; i++)
        free(handles[i].recs);
    free(handles);
    handles = NULL;
    n_handles = cap_handles = 0;
    st_requests = st_meta_batch = st_meta_polls = st_woo_batch = st_woo_lookup = 0;
    st_records = st_bytes = st_other = st_confirmed_sum = st_products_seen = 0;
    st_first_ms = st_last_advance_ms = 0;
    st_versions = st_dup_versions = st_dup_extra = 0;
}

static void on_request(void *ud __attribute__((unused)), const cs_httpd_req *req,
                       cs_httpd_resp *resp)
{
    const char *path = cs_httpd_req_path(req), *method = cs_httpd_req_method(req);
    size_t len = 0;
    const char *body = cs_httpd_req_body(req, &len);
    if (strncmp(path, "/_bench/", 8) == 0 || strcmp(path, "/_fake/health") == 0) {
        if (!strcmp(path, "/_bench/stats"))
            stats(resp);
        else if (!strcmp(path, "/_bench/dups"))
            dups(resp);
        else if (!strcmp(path, "/_bench/reset") && !strcmp(method, "POST"))
            reset(), cs_httpd_resp_text(resp, 200, "reset\n");
        else if (!strcmp(path, "/_fake/health"))
            cs_httpd_resp_text(resp, 200, "{\"ok\":true,\"fake\":\"bench\"}\n");
        else
            cs_httpd_resp_text(resp, 404, "unknown control call\n");
        return;
    }
    st_requests++;
    st_bytes += len;
    if (!strcmp(method, "POST") && ends_with(path, "/items_batch")) {
        st_meta_batch++;
        meta_batch(body, len, resp);
    } else if (!strcmp(method, "GET") && ends_with(path, "/check_batch_request_status")) {
        st_meta_polls++;
        meta_status(cs_httpd_req_query(req, "handle"), resp);
    } else if (strcmp(method, "GET") != 0 && ends_with(path, "/products/batch")) {
        st_woo_batch++;
        woo_batch(body, len, resp);
    } else if (!strcmp(method, "GET") && ends_with(path, "/data/currencies/current")) {
        /* the store's currency, read once per worker (bench.py prices in EUR) */
        cs_httpd_resp_type(resp, "application/json");
        cs_buf_appendf(cs_httpd_resp_body(resp), "{\"code\":\"EUR\",\"name\":\"Euro\"}");
    } else if (!strcmp(method, "GET") && ends_with(path, "/products")) {
        st_woo_lookup++;
        woo_lookup(cs_httpd_req_query(req, "sku"), resp);
    } else {
        st_other++;
        cs_httpd_resp_text(resp, 404, "cs-bench-fake: no route for %s %s\n", method, path);
    }
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            static char l[64];
            snprintf(l, sizeof l, "127.0.0.1:%s", argv[++i]);
            listen = l;
        } else if (!strcmp(argv[i], "--batch-ms") && i + 1 < argc) {
            batch_ms = atoll(argv[++i]);
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("Usage: cs-bench-fake [--port N] [--batch-ms MS]\n"
                 "A fast fake Meta items_batch / check_batch_request_status and WooCommerce\n"
                 "products/batch endpoint that accepts and counts (benchmarks only).\n"
                 "--batch-ms MS: a Meta batch is finished only MS ms after it was accepted.\n"
                 "Prints LISTENING=127.0.0.1:<port>; GET /_bench/stats, GET /_bench/dups,\n"
                 "POST /_bench/reset; stops on SIGTERM.");
            return 0;
        } else {
            fprintf(stderr, "cs-bench-fake: unknown argument %s\n", argv[i]);
            return 64;
        }
    }
    sigset_t old;
    cs_block_stop_signals(on_signal, &old);

    cs_log_set_level(CS_LOG_WARN);
    cs_httpd_opts o;
    memset(&o, 0, sizeof o);
    o.listen = listen;
    o.max_body = (size_t)32 * 1024 * 1024;
    o.max_connections = 256;
    o.timeout_s = 120;
    o.log_name = "bench-fake";
    char err[256];
    cs_httpd *d = cs_httpd_start(&o, on_request, NULL, err, sizeof err);
    if (!d) {
        fprintf(stderr, "cs-bench-fake: %s\n", err);
        return 1;
    }
    printf("LISTENING=%s\n", cs_httpd_address(d));
    fflush(stdout);
    while (!stop_requested)
        sigsuspend(&old);
    cs_httpd_stop(d);
    reset();
    return 0;
}
