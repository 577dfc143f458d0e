/*
 * catalogsyncctl doctor: checks every connection online and prints the fix
 * for each problem — the seed's troubleshooting table, run for you.
 *
 * Checks: Redis answers, keeps an append-only file and never evicts; the
 * events and dead-letter topics exist; per Meta catalog: catalog id set,
 * token valid and catalog reachable (one authenticated GET of the catalog);
 * per WooCommerce store: keys accepted and the REST API reachable (one GET of
 * one product) and the store's currency (GET data/currencies/current); where images are sent, a sample image of a stored product
 * answers 200 to HEAD — probed only under the connection's media_base_url,
 * and never on a loopback or private address unless
 * doctor_allow_private_media is set (the URL comes from product data).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "cs_event.h"
#include "cs_http.h"
#include "cs_kafka.h"
#include "cs_keys.h"
#include "cs_log.h"
#include "cs_util.h"
#include "ctl.h"
#include "meta_graph.h"
#include "meta_map.h"
#include "woo_rest.h"

typedef struct doc {
    ctl *c;
    int problems;
    cs_http *http;
} doc;

/* One line of the report: "  <mark> <message>", the message redacted and
 * its control characters escaped (it quotes product data and channel
 * answers). */
static void say(doc *d, const char *mark, const char *color, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void say(doc *d, const char *mark, const char *color, const char *fmt, va_list ap)
{
    char msg[2048];
    cs_buf safe;
    vsnprintf(msg, sizeof msg, fmt, ap);
    cs_log_redact(msg, sizeof msg);
    cs_buf_init(&safe, 0);
    if (cs_buf_append_text(&safe, msg, strlen(msg)) != 0) {
        cs_buf_reset(&safe);
        cs_buf_appends(&safe, "(message not printable)");
    }
    printf("  %s%s%s %s\n", ctl_color(d->c, color), mark, ctl_color(d->c, "reset"), safe.data);
    cs_buf_free(&safe);
}

static void ok(doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(doc *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(d, "✓", "green", fmt, ap);
    va_end(ap);
}

/* A problem and its fix. */
static void bad(doc *d, const char *fix, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad(doc *d, const char *fix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(d, "✗", "red", fmt, ap);
    va_end(ap);
    printf("      fix: %s\n", fix);
    d->problems++;
}

static void note(doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(doc *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(d, "○", "grey", fmt, ap);
    va_end(ap);
}

/* ---- Redis and Kafka ---- */

static void check_redis(doc *d)
{
    cs_config *cfg = d->c->cfg;
    cs_redis *r = cs_ops_redis(d->c->ops);
    printf("%sRedis%s %s:%d\n", ctl_color(d->c, "bold"), ctl_color(d->c, "reset"),
           cfg->redis_host, cfg->redis_port);
    if (cs_ops_ready(d->c->ops) != 0) {
        bad(d, "start redis-server, or set redis.host / redis.port / redis.password",
            "Redis unreachable: %s", cs_ops_errstr(d->c->ops));
        return;
    }
    ok(d, "Redis answers");
    static const struct { const char *name, *want, *fix; } settings[] = {
        {"appendonly", "yes", "turn on the append-only file (appendonly yes in redis.conf, or "
         "redis-cli CONFIG SET appendonly yes): without it a restart loses retries and state"},
        {"maxmemory-policy", "noeviction", "set maxmemory-policy noeviction: an evicted retry "
         "or state key is a lost product update"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        const char *argv[] = {"CONFIG", "GET", settings[i].name};
        redisReply *rep = cs_redis_cmd(r, 3, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            note(d, "%s: cannot check (CONFIG GET refused, as on some managed Redis); make "
                 "sure it is %s", settings[i].name, settings[i].want);
        } else if (strcmp(rep->element[1]->str, settings[i].want) != 0) {
            bad(d, settings[i].fix, "%s is %s", settings[i].name, rep->element[1]->str);
        } else {
            ok(d, "%s %s", settings[i].name, settings[i].want);
        }
        if (rep)
            freeReplyObject(rep);
    }
}

static void check_kafka(doc *d)
{
    cs_config *cfg = d->c->cfg;
    char errstr[512];
    printf("%sKafka%s %s\n", ctl_color(d->c, "bold"), ctl_color(d->c, "reset"),
           cfg->kafka_brokers);
    rd_kafka_conf_t *conf = cs_kafka_conf_new(cfg, "catalogsyncctl", RD_KAFKA_PRODUCER,
                                                errstr, sizeof errstr);
    rd_kafka_t *rk = conf ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr) : NULL;
    if (!rk) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        bad(d, "check kafka.brokers and kafka.properties", "Kafka client: %s", errstr);
        return;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 5000);
    if (err) {
        bad(d, "start the brokers, or fix kafka.brokers / the security properties",
            "brokers unreachable: %s", rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return;
    }
    const char *topics[] = {cfg->kafka_topic, cfg->kafka_dlq_topic};
    for (size_t t = 0; t < 2; t++) {
        int found = -1;
        for (int i = 0; i < md->topic_cnt; i++)
            if (!strcmp(md->topics[i].topic, topics[t]) && !md->topics[i].err)
                found = md->topics[i].partition_cnt;
        if (found > 0) {
            ok(d, "topic %s (%d partitions)", topics[t], found);
        } else {
            char fix[512];
            snprintf(fix, sizeof fix, "create it: kafka-topics.sh --create --topic %s "
                     "--partitions 12 --replication-factor 3 (the compose stack's topic "
                     "service does this)", topics[t]);
            bad(d, fix, "topic %s is missing", topics[t]);
        }
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
}

/* ---- sample image ---- */

/* The first image of a stored product of this connection, as stored; 0
 * when found. */
/* Calls fn on each stored product snapshot of connection conn of sink (at
 * most 20 HSCAN rounds) until fn returns 0. */
static void scan_snaps(doc *d, const char *sink, const char *conn,
                       int (*fn)(const cs_event *ev, void *arg), void *arg)
{
    cs_buf key;
    char match[300];
    int more = 1;
    cs_redis *r = cs_ops_redis(d->c->ops);
    cs_buf_init(&key, 256);
    cs_key_base(&key, d->c->cfg->redis_prefix, sink);
    cs_buf_appends(&key, CS_KEY_SNAP);
    snprintf(match, sizeof match, "%s|*", conn);
    char cursor[32] = "0";
    cs_event_limits lim = {(size_t)d->c->cfg->event_max_bytes};
    for (int rounds = 0; more && rounds < 20; rounds++) {
        const char *argv[] = {"HSCAN", key.data, cursor, "MATCH", match, "COUNT", "200"};
        redisReply *rep = cs_redis_cmd(r, 7, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            if (rep)
                freeReplyObject(rep);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        const redisReply *kv = rep->element[1];
        for (size_t i = 0; more && i + 1 < kv->elements; i += 2) {
            cs_event *ev = NULL;
            char err[256];
            if (cs_event_parse(kv->element[i + 1]->str, kv->element[i + 1]->len, &lim, &ev, err,
                               sizeof err) != CS_EVENT_OK)
                continue;
            more = fn(ev, arg);
            cs_event_destroy(ev);
        }
        freeReplyObject(rep);
        if (!strcmp(cursor, "0"))
            break;
    }
    cs_buf_free(&key);
}

typedef struct {
    char *img;
    size_t size;
    int found;
} sample_arg;

static int sample_one(const cs_event *ev, void *arg)
{
    sample_arg *a = arg;
    if (ev->product.n_images == 0)
        return 1;
    snprintf(a->img, a->size, "%s", ev->product.images[0]);
    a->found = 1;
    return 0;
}

static int sample_image(doc *d, const char *sink, const char *conn, char *img, size_t size)
{
    sample_arg a = {img, size, 0};
    scan_snaps(d, sink, conn, sample_one, &a);
    return a.found ? 0 : -1;
}

/* The URL doctor may probe for img: a relative path joined to media_base, or
 * an absolute URL that lies under media_base (the same prefix, ending at a
 * path boundary).  -1 for anything else: product data never chooses the
 * host doctor connects to. */
static int media_url(const char *media_base, const char *img, char *url, size_t size)
{
    size_t bl = strlen(media_base);
    if (bl == 0)
        return -1;
    int slash = media_base[bl - 1] == '/';
    if (strstr(img, "://") || (img[0] == '/' && img[1] == '/')) {
        if (strncmp(img, media_base, bl) != 0 ||
            (!slash && img[bl] && !strchr("/?#", img[bl])))
            return -1;
        cs_strlcpy(url, img, size);
    } else {
        snprintf(url, size, "%s%s%s", media_base, slash || img[0] == '/' ? "" : "/",
                 slash && img[0] == '/' ? img + 1 : img);
    }
    return 0;
}

static void check_image(doc *d, const char *sink, const char *conn, const char *media_base,
                        int allow_private)
{
    static const char fix[] = "image URLs must be public: serve the media directory without "
        "authentication (nginx), check media_base_url — or turn images off "
        "(include_images = false)";
    char img[2048], url[4096], errstr[512];
    if (sample_image(d, sink, conn, img, sizeof img) != 0) {
        note(d, "no stored product with an image to test yet");
        return;
    }
    if (media_url(media_base, img, url, sizeof url) != 0) {
        note(d, "sample image %s not probed: doctor probes only URLs under media_base_url "
             "(%s)", img, media_base[0] ? media_base : "not set");
        return;
    }
    cs_http_opts o;
    memset(&o, 0, sizeof o);
    o.timeout_ms = d->c->cfg->worker_http_timeout_ms;
    o.public_only = !allow_private;
    cs_http *h = cs_http_new(&o, errstr, sizeof errstr);
    if (!h) {
        bad(d, "see the message", "HTTP client: %s", errstr);
        return;
    }
    cs_http_resp r;
    cs_http_resp_init(&r);
    cs_http_request(h, "HEAD", url, NULL, NULL, 0, NULL, NULL, &r);
    if (r.err == CS_HTTP_OK && r.status == 200)
        ok(d, "sample image %s answers 200", url);
    else if (r.err != CS_HTTP_OK && !strcmp(r.errstr, CS_HTTP_REFUSED_INTERNAL))
        bad(d, "media on a loopback or private address is not probed; when that is intended, "
            "set doctor_allow_private_media = true for this connection",
            "sample image %s: %s", url, r.errstr);
    else if (r.err != CS_HTTP_OK)
        bad(d, fix, "sample image %s: %s", url, r.errstr);
    else
        bad(d, fix, "sample image %s answers HTTP %ld", url, r.status);
    cs_http_resp_free(&r);
    cs_http_destroy(h);
}

/* ---- channels ---- */

#define NO_IMAGE_LIST 10

typedef struct {
    doc *d;
    const cs_meta_catalog *cat;
    cs_meta_map_opts map;
    size_t n;                   /* products concerned */
    cs_buf ids;                 /* the first NO_IMAGE_LIST of them */
} no_image_arg;

/* Counts a product Meta does not hold yet (never synced at this catalog)
 * that the worker would refuse to create for want of an image: the same
 * decision, by the same code (cs_meta_map_update). */
static int no_image_one(const cs_event *ev, void *arg)
{
    no_image_arg *a = arg;
    char why[512];
    if (ev->type == CS_EV_DELETED || !ev->product.is_active)
        return 1;
    cs_buf rec, key;
    cs_buf_init(&rec, 0);
    cs_buf_init(&key, 256);
    int refused = cs_meta_map_update(ev, &a->map, 1, &rec, why, sizeof why) != CS_MAP_OK &&
                  strncmp(why, CS_META_NO_IMAGE_WHY, strlen(CS_META_NO_IMAGE_WHY)) == 0;
    if (refused) {
        cs_buf base;
        cs_buf_init(&base, 0);
        cs_key_base(&base, a->d->c->cfg->redis_prefix, "meta");
        cs_key_product(&key, base.data, CS_KEY_STATE, a->cat->id, ev->tenant, ev->product.id);
        cs_buf_free(&base);
        /* In the catalog: synced at the retailer id it has now (as meta.c). */
        char rid[CS_META_RID_SIZE];
        const char *argv[] = {"HMGET", key.data, "synced_version", "remote_id"};
        redisReply *rep = cs_redis_cmd(cs_ops_redis(a->d->c->ops), 4, argv, NULL);
        int synced = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
                     rep->element[0]->type == REDIS_REPLY_STRING && rep->element[0]->len > 0 &&
                     rep->element[1]->type == REDIS_REPLY_STRING &&
                     cs_meta_retailer_id(&ev->product, ev->tenant, &a->map, rid, sizeof rid, why,
                                         sizeof why) == CS_MAP_OK &&
                     strcmp(rep->element[1]->str, rid) == 0;
        if (rep)
            freeReplyObject(rep);
        if (!synced && a->n++ < NO_IMAGE_LIST)
            cs_buf_appendf(&a->ids, "%s%s:%s", a->ids.len ? ", " : "", ev->tenant,
                           ev->product.id);
    }
    cs_buf_free(&rec);
    cs_buf_free(&key);
    return 1;
}

/* Meta creates no item without image_link: which products would fail. */
static void check_new_item_images(doc *d, const cs_meta_catalog *cat)
{
    static const char fix[] = "set meta.catalogs[].placeholder_image_url to a public image, or "
        "include_images = true with public media; then catalogsyncctl reset --failed";
    if (cat->placeholder_image_url[0]) {
        ok(d, "new products without an image are created with placeholder_image_url %s",
           cat->placeholder_image_url);
        return;
    }
    no_image_arg a;
    memset(&a, 0, sizeof a);
    a.d = d;
    a.cat = cat;
    a.map.rid_source = strcmp(cat->retailer_id, "product_id") == 0 ? CS_RID_PRODUCT_ID
                                                                   : CS_RID_SKU;
    a.map.include_images = cat->include_images;
    a.map.media_base_url = cat->media_base_url;
    a.map.link_base_url = cat->link_base_url[0] ? cat->link_base_url : NULL;
    a.map.default_brand = cat->default_brand[0] ? cat->default_brand : NULL;
    a.map.qualify_tenant = cat->qualify_ids;
    cs_buf_init(&a.ids, 0);
    scan_snaps(d, "meta", cat->id, no_image_one, &a);
    if (a.n)
        bad(d, fix, "%zu product(s) not in the catalog yet have no image and cannot be created "
            "(Meta creates no item without one): %s%s", a.n, a.ids.data,
            a.n > NO_IMAGE_LIST ? ", ..." : "");
    else if (!cat->include_images)
        bad(d, fix, "images are off and placeholder_image_url is not set: every new product "
            "will fail (Meta creates no item without an image)");
    else
        ok(d, "no product waiting to be created lacks an image");
    cs_buf_free(&a.ids);
}

static void check_meta(doc *d, const cs_meta_catalog *cat)
{
    printf("%smeta catalog %s%s\n", ctl_color(d->c, "bold"), cat->id, ctl_color(d->c, "reset"));
    if (!cat->catalog_id || !cat->catalog_id[0]) {
        bad(d, "set meta.catalogs[].catalog_id (Commerce Manager → Catalog → Settings)",
            "no catalog id configured");
        return;
    }
    ok(d, "catalog id %s set", cat->catalog_id);
    cs_buf url;
    cs_buf_init(&url, 0);
    cs_buf_appendf(&url, "%s/%s/%s?fields=id,name", cat->base_url, cat->api_version,
                   cat->catalog_id);
    if (cat->app_secret && cat->app_secret[0]) {
        char proof[65];
        cs_graph_appsecret_proof(cat->app_secret, cat->token, proof);
        cs_buf_appendf(&url, "&appsecret_proof=%s", proof);
    }
    char auth[4096];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", cat->token);
    const char *hdrs[] = {auth, "Accept: application/json", NULL};
    cs_http_resp r;
    cs_http_resp_init(&r);
    cs_http_request(d->http, "GET", url.data, hdrs, NULL, 0, NULL, NULL, &r);
    cs_buf_free(&url);
    if (r.err != CS_HTTP_OK) {
        bad(d, "check meta.catalogs[].base_url and the network path to the Graph API",
            "Graph API unreachable: %s", r.errstr);
    } else if (r.status == 200) {
        ok(d, "token valid; catalog %s reachable", cat->catalog_id);
    } else {
        cs_graph_error e;
        cs_graph_parse_error(r.body.data ? r.body.data : "", r.body.len, r.status, &e);
        if (e.code == 190 || e.code == 102 || r.status == 401)
            bad(d, "Invalid OAuth token: create a new system-user token with catalog_management "
                "and put it where meta.catalogs[].token points",
                "token refused (code %d): %s", e.code, e.message);
        else if (e.code == 100 || e.code == 803 || r.status == 404)
            bad(d, "check meta.catalogs[].catalog_id, and that the token's system user has "
                "access to this catalog", "catalog %s not found (code %d): %s", cat->catalog_id,
                e.code, e.message);
        else
            bad(d, "see the message; Meta's status page may show an incident",
                "catalog check failed: HTTP %ld code %d: %s", r.status, e.code, e.message);
    }
    cs_http_resp_free(&r);
    if (cat->include_images)
        check_image(d, "meta", cat->id, cat->media_base_url, cat->doctor_allow_private_media);
    else
        note(d, "images off (include_images = false): items already in the catalog are "
             "updated without images");
    check_new_item_images(d, cat);
}

static void check_woo(doc *d, const cs_woo_store *st)
{
    char errstr[512];
    printf("%swoocommerce store %s%s%s %s\n", ctl_color(d->c, "bold"), st->id_str,
           st->name && st->name[0] ? " " : "", st->name ? st->name : "",
           ctl_color(d->c, "reset"));
    cs_http_opts o;
    memset(&o, 0, sizeof o);
    o.timeout_ms = d->c->cfg->worker_http_timeout_ms;
    o.ca_file = st->ca_file && st->ca_file[0] ? st->ca_file : NULL;
    o.insecure = st->insecure_tls;
    cs_http *h = cs_http_new(&o, errstr, sizeof errstr);
    if (!h) {
        bad(d, "check ca_file", "HTTP client: %s", errstr);
        return;
    }
    cs_woo_conn conn = {st->base_url, (cs_woo_auth)cs_woo_auth_parse(st->auth), st->consumer_key,
                        st->consumer_secret};
    cs_http_resp r;
    cs_http_resp_init(&r);
    cs_woo_request(h, &conn, "GET", "products?per_page=1&_fields=id", NULL, 0, &r);
    if (r.err != CS_HTTP_OK) {
        bad(d, "check woocommerce.connections[].base_url (the site root), the network path "
            "and TLS (ca_file)", "store unreachable: %s", r.errstr);
    } else if (r.status == 200) {
        ok(d, "keys accepted; REST API reachable at %s", st->base_url);
        char cur[4];
        cs_woo_request(h, &conn, "GET", "data/currencies/current", NULL, 0, &r);
        if (r.err == CS_HTTP_OK && r.status == 200 &&
            cs_woo_parse_currency(r.body.data, r.body.len, cur) == 0)
            ok(d, "store currency %s: products priced in another currency are refused", cur);
        else
            bad(d, "the worker reads it before pushing; check the key's permissions and that "
                "WooCommerce is 3.5 or later", "store currency not readable (GET "
                "data/currencies/current: HTTP %ld %s)", r.status, r.err ? r.errstr : "");
    } else {
        cs_woo_error e;
        cs_woo_parse_error(r.body.data ? r.body.data : "", r.body.len, r.status, &e);
        if (r.status == 401 || r.status == 403)
            bad(d, "create a key with Read/Write permission (WooCommerce → Settings → Advanced "
                "→ REST API) and put it where consumer_key / consumer_secret point; with plain "
                "HTTP use auth = \"oauth1\"", "keys refused (HTTP %ld %s): %s", r.status,
                e.code, e.message);
        else if (r.status == 404)
            bad(d, "base_url must be the site root, with pretty permalinks on (the API lives at "
                "/wp-json/wc/v3)", "REST API not found (HTTP 404 %s)", e.code);
        else
            bad(d, "see the message; the store's PHP error log may say more",
                "store check failed: HTTP %ld %s: %s", r.status, e.code, e.message);
    }
    cs_http_resp_free(&r);
    cs_http_destroy(h);
    check_image(d, "woocommerce", st->id_str, st->media_base_url,
                st->doctor_allow_private_media);
}

int ctl_doctor(ctl *c)
{
    doc d = {c, 0, NULL};
    char errstr[1024];
    cs_http_opts o;
    memset(&o, 0, sizeof o);
    o.timeout_ms = c->cfg->worker_http_timeout_ms;
    if (!(d.http = cs_http_new(&o, errstr, sizeof errstr))) {
        fprintf(stderr, "catalogsyncctl: %s\n", errstr);
        return CTL_FAIL;
    }
    check_redis(&d);
    check_kafka(&d);
    int metas = !c->sink || !strcmp(c->sink, "meta");
    int woos = !c->sink || !strcmp(c->sink, "woocommerce");
    if (metas && c->cfg->n_meta_catalogs &&
        cs_config_resolve_sink_secrets(c->cfg, "meta", errstr, sizeof errstr) != 0) {
        printf("%smeta%s\n", ctl_color(c, "bold"), ctl_color(c, "reset"));
        bad(&d, "set the environment variable or file the token setting names", "%s", errstr);
        metas = 0;
    }
    if (woos && c->cfg->n_woo_stores &&
        cs_config_resolve_sink_secrets(c->cfg, "woocommerce", errstr, sizeof errstr) != 0) {
        printf("%swoocommerce%s\n", ctl_color(c, "bold"), ctl_color(c, "reset"));
        bad(&d, "set the environment variables or files the key settings name", "%s", errstr);
        woos = 0;
    }
    for (size_t i = 0; metas && i < c->cfg->n_meta_catalogs; i++)
        if (!c->conn || !strcmp(c->conn, c->cfg->meta_catalogs[i].id))
            check_meta(&d, &c->cfg->meta_catalogs[i]);
    for (size_t i = 0; woos && i < c->cfg->n_woo_stores; i++)
        if (!c->conn || !strcmp(c->conn, c->cfg->woo_stores[i].id_str))
            check_woo(&d, &c->cfg->woo_stores[i]);
    cs_http_destroy(d.http);
    printf("\n%d problem%s found\n", d.problems, d.problems == 1 ? "" : "s");
    return d.problems ? CTL_PROBLEMS : CTL_OK;
}
