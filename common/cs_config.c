#include "cs_config.h"
#include "cs_config_schema.h"
#include "cs_event.h"
#include "cs_log.h"
#include "cs_util.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_FILE_MAX (64 * 1024)



static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const rid_sources[] = {"sku", "product_id", NULL};
static const char *const inactive_modes[] = {"hide", "delete", NULL};

#define O(s, k, t, f, sec, lo, hi, v) {s, k, t, offsetof(cs_config, f), 0, sec, lo, hi, v}
#define OL(s, k, t, f, n, lo, hi) {s, k, t, offsetof(cs_config, f), offsetof(cs_config, n), 0, lo, hi, NULL}
static const opt opts[] = {
    O("log", "level", T_ENUM, log_level, 0, 0, 0, log_levels),
    O("log", "format", T_ENUM, log_format, 0, 0, 0, log_formats),
    O("kafka", "brokers", T_STR, kafka_brokers, 0, 0, 0, NULL),
    O("kafka", "topic", T_STR, kafka_topic, 0, 0, 0, NULL),
    O("kafka", "dlq_topic", T_STR, kafka_dlq_topic, 0, 0, 0, NULL),
    O("kafka", "properties", T_KAFKA_PROPS, kafka_props, 0, 0, 0, NULL),
    O("events", "max_bytes", T_INT, event_max_bytes, 0, 1024, 64 * 1024 * 1024, NULL),
    O("redis", "host", T_STR, redis_host, 0, 0, 0, NULL),
    O("redis", "port", T_INT, redis_port, 0, 1, 65535, NULL),
    O("redis", "password", T_STR, redis_password, 1, 0, 0, NULL),
    O("redis", "db", T_INT, redis_db, 0, 0, 15, NULL),
    O("redis", "prefix", T_STR, redis_prefix, 0, 0, 0, NULL),
    O("redis", "timeout_ms", T_INT, redis_timeout_ms, 0, 1, 600000, NULL),
    O("worker", "batch_max", T_INT, worker_batch_max, 0, 1, 100000, NULL),
    O("worker", "batch_max_bytes", T_INT, worker_batch_max_bytes, 0, 1024, 1024 * 1024 * 1024,
      NULL),
    O("worker", "linger_ms", T_INT, worker_linger_ms, 0, 0, 600000, NULL),
    O("worker", "shutdown_deadline_ms", T_INT, worker_shutdown_ms, 0, 100, 3600000, NULL),
    O("worker", "http_timeout_ms", T_INT, worker_http_timeout_ms, 0, 100, 600000, NULL),
    O("worker", "confirm_timeout_ms", T_INT, worker_confirm_timeout_ms, 0, 100, 3600000, NULL),
    O("worker", "confirm_poll_ms", T_INT, worker_confirm_poll_ms, 0, 1, 600000, NULL),
    O("worker", "max_pending_batches", T_INT, worker_max_pending_batches, 0, 1, 1000, NULL),
    O("worker", "max_inflight_batches", T_INT, worker_max_inflight_batches, 0, 1, 64, NULL),
    O("worker", "http_listen", T_STR, worker_http_listen, 0, 0, 0, NULL),
    O("admin", "listen", T_STR, admin_listen, 0, 0, 0, NULL),
    O("admin", "token", T_STR, admin_token, SECRET_DEFERRED, 0, 0, NULL),
    O("admin", "allowed_hosts", T_STR, admin_allowed_hosts, 0, 0, 0, NULL),
    OL("retry", "schedule_ms", T_INTLIST, retry_schedule_ms, n_retry_schedule, 1, 7 * 86400000LL),
    O("retry", "max_attempts", T_INT, retry_max_attempts, 0, 1, 100, NULL),
    O("retry", "jitter_pct", T_INT, retry_jitter_pct, 0, 0, 50, NULL),
    O("retry", "lease_ms", T_INT, retry_lease_ms, 0, 10, 3600000, NULL),
    O("retry", "throttle_default_ms", T_INT, retry_throttle_default_ms, 0, 1, 86400000, NULL),
    O("retry", "auth_pause_ms", T_INT, retry_auth_pause_ms, 0, 1, 7 * 86400000, NULL),
};
#define N_OPTS (sizeof opts / sizeof opts[0])

#define C(k, t, f, sec, lo, hi, v) {NULL, k, t, offsetof(cs_meta_catalog, f), 0, sec, lo, hi, v}
static const opt catalog_opts[] = {
    C("id", T_STR, id, 0, 0, 0, NULL),
    C("base_url", T_STR, base_url, 0, 0, 0, NULL),
    C("api_version", T_STR, api_version, 0, 0, 0, NULL),
    C("catalog_id", T_STR, catalog_id, 0, 0, 0, NULL),
    C("token", T_STR, token, SECRET_DEFERRED, 0, 0, NULL),
    C("app_secret", T_STR, app_secret, SECRET_DEFERRED, 0, 0, NULL),
    {NULL, "tenants", T_STRLIST, offsetof(cs_meta_catalog, tenants),
     offsetof(cs_meta_catalog, n_tenants), 0, 0, 0, NULL},
    C("include_images", T_BOOL, include_images, 0, 0, 1, NULL),
    C("placeholder_image_url", T_STR, placeholder_image_url, 0, 0, 0, NULL),
    C("media_base_url", T_STR, media_base_url, 0, 0, 0, NULL),
    C("link_base_url", T_STR, link_base_url, 0, 0, 0, NULL),
    C("default_brand", T_STR, default_brand, 0, 0, 0, NULL),
    C("retailer_id", T_ENUM, retailer_id, 0, 0, 0, rid_sources),
    C("inactive", T_ENUM, inactive, 0, 0, 0, inactive_modes),
    C("batch_size", T_INT, batch_size, 0, 1, 5000, NULL),
    C("ca_file", T_STR, ca_file, 0, 0, 0, NULL),
    C("insecure_tls", T_BOOL, insecure_tls, 0, 0, 1, NULL),
    C("doctor_allow_private_media", T_BOOL, doctor_allow_private_media, 0, 0, 1, NULL),
};
#define N_CATALOG_OPTS (sizeof catalog_opts / sizeof catalog_opts[0])

static const char *const delete_policies[] = {"trash", "force", "unlink", NULL};
static const char *const woo_auths[] = {"basic", "query", "oauth1", NULL};

#define W(k, t, f, sec, lo, hi, v) {NULL, k, t, offsetof(cs_woo_store, f), 0, sec, lo, hi, v}
static const opt store_opts[] = {
    W("id", T_INT, id, 0, 1, 1000000000, NULL),
    W("name", T_STR, name, 0, 0, 0, NULL),
    W("base_url", T_STR, base_url, 0, 0, 0, NULL),
    W("consumer_key", T_STR, consumer_key, SECRET_DEFERRED, 0, 0, NULL),
    W("consumer_secret", T_STR, consumer_secret, SECRET_DEFERRED, 0, 0, NULL),
    {NULL, "fields", T_STRLIST, offsetof(cs_woo_store, fields),
     offsetof(cs_woo_store, n_fields), 0, 0, 0, NULL},
    W("delete_policy", T_ENUM, delete_policy, 0, 0, 0, delete_policies),
    W("batch_size", T_INT, batch_size, 0, 1, 1000, NULL),
    W("auth", T_ENUM, auth, 0, 0, 0, woo_auths),
    W("ca_file", T_STR, ca_file, 0, 0, 0, NULL),
    W("insecure_tls", T_BOOL, insecure_tls, 0, 0, 1, NULL),
    W("media_base_url", T_STR, media_base_url, 0, 0, 0, NULL),
    W("doctor_allow_private_media", T_BOOL, doctor_allow_private_media, 0, 0, 1, NULL),
    W("tenant", T_STR, tenant, 0, 0, 0, NULL),
};
#define N_STORE_OPTS (sizeof store_opts / sizeof store_opts[0])

static const char *const sections[] = {"log", "kafka", "events", "redis", "worker", "retry",
                                       "admin", "meta", "woocommerce", NULL};


static int set_str(char **slot, const char *v)
{
    char *d = strdup(v);
    if (!d)
        return -1;
    free(*slot);
    *slot = d;
    return 0;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Frees every string and list a table describes inside base. */
static void free_table(void *base, const opt *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].type == T_STR || t[i].type == T_ENUM)
            free(*str_at(base, &t[i]));
        else if (t[i].type == T_STRLIST)
            free_strs(*(char ***)str_at(base, &t[i]), *count_at(base, &t[i]));
        else if (t[i].type == T_INTLIST)
            free(*(int64_t **)str_at(base, &t[i]));
    }
}

static const int64_t default_schedule[] = {300000, 900000, 2700000, 8100000};

cs_config *cs_config_new(void)
{
    cs_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->retry_schedule_ms = malloc(sizeof default_schedule);
    if (!c->retry_schedule_ms ||
        set_str(&c->log_level, "info") || set_str(&c->log_format, "text") ||
        set_str(&c->kafka_brokers, "127.0.0.1:9092") ||
        set_str(&c->kafka_topic, "catalog.product-events") ||
        set_str(&c->kafka_dlq_topic, "catalog.product-events.dlq") ||
        set_str(&c->redis_host, "127.0.0.1") || set_str(&c->redis_prefix, "catalogsync:") ||
        set_str(&c->redis_password, "") || set_str(&c->worker_http_listen, "") ||
        set_str(&c->admin_listen, "127.0.0.1:8080") || set_str(&c->admin_token, "") ||
        set_str(&c->admin_allowed_hosts, "")) {
        cs_config_destroy(c);
        return NULL;
    }
    memcpy(c->retry_schedule_ms, default_schedule, sizeof default_schedule);
    c->n_retry_schedule = sizeof default_schedule / sizeof default_schedule[0];
    c->event_max_bytes = 1024 * 1024;
    c->redis_port = 6379;
    c->redis_timeout_ms = 2000;
    c->worker_batch_max = 1000;
    c->worker_batch_max_bytes = 16 * 1024 * 1024;
    c->worker_linger_ms = 200;
    c->worker_shutdown_ms = 10000;
    c->worker_http_timeout_ms = 30000;
    c->worker_confirm_timeout_ms = 60000;
    c->worker_confirm_poll_ms = 200;
    c->worker_max_pending_batches = 8;
    c->worker_max_inflight_batches = 2;
    c->retry_max_attempts = 5;
    c->retry_jitter_pct = 10;
    c->retry_lease_ms = 120000;
    c->retry_throttle_default_ms = 60000;
    c->retry_auth_pause_ms = 900000;
    return c;
}

static void catalog_free(cs_meta_catalog *m)
{
    free_table(m, catalog_opts, N_CATALOG_OPTS);
}

void cs_config_destroy(cs_config *c)
{
    if (!c)
        return;
    free_table(c, opts, N_OPTS);
    for (size_t i = 0; i < c->n_kafka_props; i++) {
        free(c->kafka_props[i].key);
        free(c->kafka_props[i].value);
    }
    free(c->kafka_props);
    for (size_t i = 0; i < c->n_meta_catalogs; i++)
        catalog_free(&c->meta_catalogs[i]);
    free(c->meta_catalogs);
    for (size_t i = 0; i < c->n_woo_stores; i++)
        free_table(&c->woo_stores[i], store_opts, N_STORE_OPTS);
    free(c->woo_stores);
    free(c->path);
    free(c);
}

int cs_meta_catalog_serves(const cs_meta_catalog *m, const char *tenant)
{
    for (size_t i = 0; i < m->n_tenants; i++)
        if (strcmp(m->tenants[i], tenant) == 0 || strcmp(m->tenants[i], CS_ANY_TENANT) == 0)
            return 1;
    return 0;
}

int cs_woo_store_serves(const cs_woo_store *w, const char *tenant)
{
    return strcmp(w->tenant, tenant) == 0;
}

/* Resolves "env:NAME" / "file:/path" into the secret itself. */
int cs_cfg_resolve_secret(const char *what, const char *ref, char **out,
                          char *errstr, size_t errstr_size)
{
    if (strncmp(ref, "env:", 4) == 0) {
        const char *v = getenv(ref + 4);
        if (!ref[4] || !v) {
            snprintf(errstr, errstr_size, "%s: environment variable %s is not set", what,
                     ref[4] ? ref + 4 : "(empty name)");
            return -1;
        }
        return (*out = strdup(v)) ? 0 : -1;
    }
    if (strncmp(ref, "file:", 5) == 0) {
        FILE *fp = fopen(ref + 5, "rb");
        if (!fp) {
            snprintf(errstr, errstr_size, "%s: cannot read secret file %s: %s", what,
                     ref + 5, strerror(errno));
            return -1;
        }
        char *buf = malloc(SECRET_FILE_MAX + 1);
        size_t n = buf ? fread(buf, 1, SECRET_FILE_MAX + 1, fp) : 0;
        fclose(fp);
        if (!buf)
            return -1;
        if (n > SECRET_FILE_MAX) {
            free(buf);
            snprintf(errstr, errstr_size, "%s: secret file %s is over %d bytes", what,
                     ref + 5, SECRET_FILE_MAX);
            return -1;
        }
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
        buf[n] = '\0';
        *out = buf;
        return 0;
    }
    snprintf(errstr, errstr_size,
             "%s is a secret: write \"env:VARIABLE\" or \"file:/path\", not the value itself",
             what);
    return -1;
}

static int enum_ok(const opt *o, const char *v)
{
    for (size_t i = 0; o->values[i]; i++)
        if (strcmp(o->values[i], v) == 0)
            return 1;
    return 0;
}

static void enum_list(const opt *o, char *buf, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; o->values[i]; i++) {
        size_t k = strlen(buf);
        snprintf(buf + k, n - k, "%s%s", i ? ", " : "", o->values[i]);
    }
}

/* Sets a scalar option from a string (environment or file).  what names it in
 * errors ("file:line: section.key" or "VARIABLE: section.key"). */
static int set_opt(void *base, const opt *o, const char *v, int from_file, const char *what,
                   char *errstr, size_t errstr_size)
{
    if (o->type == T_INT || o->type == T_BOOL) {
        int64_t x;
        if (o->type == T_BOOL && (strcmp(v, "true") == 0 || strcmp(v, "false") == 0))
            x = v[0] == 't';
        else if (cs_parse_i64(v, o->min, o->max, &x) != 0) {
            if (o->type == T_BOOL)
                snprintf(errstr, errstr_size, "%s must be true or false, got \"%.40s\"", what, v);
            else
                snprintf(errstr, errstr_size,
                         "%s must be an integer from %lld to %lld, got \"%.40s\"", what,
                         (long long)o->min, (long long)o->max, v);
            return -1;
        }
        *int_at(base, o) = (int)x;
        return 0;
    }
    if (o->type == T_ENUM && !enum_ok(o, v)) {
        char list[120];
        enum_list(o, list, sizeof list);
        snprintf(errstr, errstr_size, "%s must be one of %s, got \"%.40s\"", what, list, v);
        return -1;
    }
    if (o->secret == SECRET_DEFERRED) {
        /* A connection's credentials are resolved only by the worker that
         * uses them (cs_config_resolve_sink_secrets): other programs can
         * share the file without having every channel's secrets. */
        char *sec = NULL;
        if (*v && strncmp(v, "env:", 4) != 0 && strncmp(v, "file:", 5) != 0 &&
            cs_cfg_resolve_secret(what, v, &sec, errstr, errstr_size) != 0)
            return -1;
        return set_str(str_at(base, o), v);
    }
    if (o->secret) {
        char *sec;
        if (!from_file && strncmp(v, "env:", 4) != 0 && strncmp(v, "file:", 5) != 0)
            return set_str(str_at(base, o), v);   /* the environment holds the secret */
        if (from_file && !*v)
            return set_str(str_at(base, o), "");
        if (cs_cfg_resolve_secret(what, v, &sec, errstr, errstr_size) != 0)
            return -1;
        free(*str_at(base, o));
        *str_at(base, o) = sec;
        return 0;
    }
    return set_str(str_at(base, o), v);
}

int cs_config_kafka_prop_is_secret(const char *name)
{
    return strstr(name, "password") || strstr(name, "secret") ||
           strcmp(name, "sasl.oauthbearer.config") == 0 ||
           strcmp(name, "ssl.key.pem") == 0 || strcmp(name, "ssl_key") == 0;
}

static int add_kafka_prop(cs_config *c, const char *name, size_t name_len, const char *value,
                          int from_file, const char *where, char *errstr, size_t errstr_size)
{
    char key[256];
    char *val = NULL;
    if (name_len == 0 || name_len >= sizeof key) {
        snprintf(errstr, errstr_size, "%s: kafka property name is empty or too long", where);
        return -1;
    }
    memcpy(key, name, name_len);
    key[name_len] = '\0';
    int secret = cs_config_kafka_prop_is_secret(key);
    if (secret && (from_file || strncmp(value, "env:", 4) == 0 ||
                   strncmp(value, "file:", 5) == 0)) {
        char what[320];
        snprintf(what, sizeof what, "%s: kafka property %s", where, key);
        if (cs_cfg_resolve_secret(what, value, &val, errstr, errstr_size) != 0)
            return -1;
    } else if (!(val = strdup(value))) {
        return -1;
    }
    for (size_t i = 0; i < c->n_kafka_props; i++)
        if (strcmp(c->kafka_props[i].key, key) == 0) {
            free(c->kafka_props[i].value);
            c->kafka_props[i].value = val;
            return 0;
        }
    cs_kv *n = realloc(c->kafka_props, (c->n_kafka_props + 1) * sizeof *n);
    if (!n || !(n[c->n_kafka_props].key = strdup(key))) {
        if (n)
            c->kafka_props = n;
        free(val);
        return -1;
    }
    n[c->n_kafka_props].value = val;
    n[c->n_kafka_props].secret = secret;
    c->kafka_props = n;
    c->n_kafka_props++;
    return 0;
}

int cs_config_set_kafka_prop(cs_config *c, const char *nv, char *errstr, size_t errstr_size)
{
    const char *eq = strchr(nv, '=');
    if (!eq) {
        snprintf(errstr, errstr_size, "kafka property \"%.60s\" must be name=value", nv);
        return -1;
    }
    return add_kafka_prop(c, nv, (size_t)(eq - nv), eq + 1, 0, "-X", errstr, errstr_size);
}

static const char *type_name(int t)
{
    switch (t) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a number with a fraction";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "nothing";
    }
}

static void where_of(const config_setting_t *s, const char *path, char *buf, size_t n)
{
    const char *f = config_setting_source_file(s);
    snprintf(buf, n, "%s:%u", f ? f : path, config_setting_source_line(s));
}

static int is_list(int t)
{
    return t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST;
}

/* Loads a T_INTLIST or T_STRLIST setting. */
static int load_list(void *base, const opt *o, config_setting_t *s, const char *what,
                     char *errstr, size_t errstr_size)
{
    int n = config_setting_length(s);
    int want_int = o->type == T_INTLIST;
    if (!is_list(config_setting_type(s))) {
        snprintf(errstr, errstr_size, "%s must be a list [ ... ] of %s, got %s", what,
                 want_int ? "integers" : "strings", type_name(config_setting_type(s)));
        return -1;
    }
    void *arr = calloc(n ? (size_t)n : 1, want_int ? sizeof(int64_t) : sizeof(char *));
    if (!arr)
        return -1;
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        int t = config_setting_type(e);
        if (want_int ? (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) : t != CONFIG_TYPE_STRING) {
            snprintf(errstr, errstr_size, "%s[%d] must be %s, got %s", what, i,
                     want_int ? "an integer" : "a string", type_name(t));
            goto fail;
        }
        if (want_int) {
            long long v = config_setting_get_int64(e);
            if (v < o->min || v > o->max) {
                snprintf(errstr, errstr_size, "%s[%d] must be from %lld to %lld", what, i,
                         (long long)o->min, (long long)o->max);
                goto fail;
            }
            ((int64_t *)arr)[i] = v;
        } else if (!(((char **)arr)[i] = strdup(config_setting_get_string(e)))) {
            goto fail;
        }
    }
    if (want_int)
        free(*(int64_t **)str_at(base, o));
    else
        free_strs(*(char ***)str_at(base, o), *count_at(base, o));
    *(void **)str_at(base, o) = arr;
    *count_at(base, o) = (size_t)n;
    return 0;
fail:
    if (!want_int)
        free_strs(arr, (size_t)n);
    else
        free(arr);
    return -1;
}

static int load_kafka_props(cs_config *c, config_setting_t *s, const char *path,
                            char *errstr, size_t errstr_size)
{
    char where[512];
    where_of(s, path, where, sizeof where);
    if (!is_list(config_setting_type(s))) {
        snprintf(errstr, errstr_size,
                 "%s: kafka.properties must be a list of \"name=value\" strings, got %s", where,
                 type_name(config_setting_type(s)));
        return -1;
    }
    for (int j = 0; j < config_setting_length(s); j++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)j);
        const char *nv = config_setting_get_string(e);
        const char *eq = nv ? strchr(nv, '=') : NULL;
        where_of(e, path, where, sizeof where);
        if (!eq) {
            snprintf(errstr, errstr_size,
                     "%s: kafka.properties[%d] must be a \"name=value\" string", where, j);
            return -1;
        }
        if (add_kafka_prop(c, nv, (size_t)(eq - nv), eq + 1, 1, where, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

/* Loads one group's settings through a table.  section names the group in
 * errors ("kafka", "meta.catalogs[0]"). */
static int load_group(void *base, const opt *t, size_t nt, const char *section,
                      config_setting_t *grp, const char *path, char *errstr, size_t errstr_size)
{
    char where[512], what[700];
    for (int i = 0; i < config_setting_length(grp); i++) {
        config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
        const char *k = config_setting_name(s);
        const opt *o = NULL;
        where_of(s, path, where, sizeof where);
        for (size_t j = 0; j < nt; j++)
            if ((!t[j].section || strcmp(t[j].section, section) == 0) && strcmp(t[j].key, k) == 0)
                o = &t[j];
        if (!o) {
            snprintf(errstr, errstr_size, "%s: unknown key \"%s\" in section \"%s\"", where, k,
                     section);
            return -1;
        }
        snprintf(what, sizeof what, "%s: %s.%s", where, section, k);
        int ty = config_setting_type(s);
        char num[32];
        const char *v;
        if (o->type == T_KAFKA_PROPS)
            continue;   /* loaded by load_kafka_props() */
        if (o->type == T_INTLIST || o->type == T_STRLIST) {
            if (load_list(base, o, s, what, errstr, errstr_size) != 0)
                return -1;
            continue;
        } else if (o->type == T_BOOL) {
            if (ty != CONFIG_TYPE_BOOL) {
                snprintf(errstr, errstr_size, "%s must be true or false, got %s", what,
                         type_name(ty));
                return -1;
            }
            v = config_setting_get_bool(s) ? "true" : "false";
        } else if (o->type == T_INT) {
            if (ty != CONFIG_TYPE_INT && ty != CONFIG_TYPE_INT64) {
                snprintf(errstr, errstr_size, "%s must be an integer, got %s", what,
                         type_name(ty));
                return -1;
            }
            snprintf(num, sizeof num, "%lld", config_setting_get_int64(s));
            v = num;
        } else {
            if (ty != CONFIG_TYPE_STRING) {
                snprintf(errstr, errstr_size, "%s must be a string, got %s", what, type_name(ty));
                return -1;
            }
            v = config_setting_get_string(s);
        }
        if (set_opt(base, o, v, 1, what, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

static int catalog_defaults(cs_meta_catalog *m)
{
    memset(m, 0, sizeof *m);
    m->batch_size = 1000;
    /* Safe by default: a catalog serves the default tenant only. */
    if (!(m->tenants = calloc(1, sizeof *m->tenants)) ||
        !(m->tenants[0] = strdup(CS_EVENT_DEFAULT_TENANT)))
        return -1;
    m->n_tenants = 1;
    return set_str(&m->base_url, "https://graph.facebook.com") ||
           set_str(&m->api_version, CS_GRAPH_DEFAULT_VERSION) || set_str(&m->app_secret, "") ||
           set_str(&m->retailer_id, "sku") || set_str(&m->inactive, "hide") ||
           set_str(&m->media_base_url, "") || set_str(&m->link_base_url, "") ||
           set_str(&m->default_brand, "") || set_str(&m->placeholder_image_url, "") || set_str(&m->ca_file, "") ||
           set_str(&m->id, "") || set_str(&m->catalog_id, "") || set_str(&m->token, "")
           ? -1 : 0;
}

static const char *const default_store_fields[] = {"name", "sku", "price", "description",
                                                    "stock", "status", "images"};

static int store_defaults(cs_woo_store *w)
{
    memset(w, 0, sizeof *w);
    w->batch_size = 100;
    w->fields = calloc(sizeof default_store_fields / sizeof default_store_fields[0], sizeof(char *));
    if (!w->fields)
        return -1;
    for (size_t i = 0; i < sizeof default_store_fields / sizeof default_store_fields[0]; i++) {
        if (!(w->fields[i] = strdup(default_store_fields[i])))
            return -1;
        w->n_fields = i + 1;
    }
    return set_str(&w->name, "") || set_str(&w->base_url, "") ||
           set_str(&w->consumer_key, "") || set_str(&w->consumer_secret, "") ||
           set_str(&w->delete_policy, "trash") || set_str(&w->auth, "basic") ||
           set_str(&w->ca_file, "") || set_str(&w->media_base_url, "") ||
           set_str(&w->tenant, CS_EVENT_DEFAULT_TENANT) ? -1 : 0;
}

/* A list of groups under a section ("meta.catalogs", "woocommerce.connections"),
 * each loaded through table into an array of elem_size entries. */

static int catalog_defaults_v(void *e) { return catalog_defaults(e); }
static void catalog_free_v(void *e) { catalog_free(e); }
static int store_defaults_v(void *e) { return store_defaults(e); }
static void store_free_v(void *e) { free_table(e, store_opts, N_STORE_OPTS); }

static const list_spec lists[] = {
    {"meta", "catalogs", catalog_opts, N_CATALOG_OPTS, sizeof(cs_meta_catalog),
     catalog_defaults_v, catalog_free_v},
    {"woocommerce", "connections", store_opts, N_STORE_OPTS, sizeof(cs_woo_store),
     store_defaults_v, store_free_v},
};

void **cs_cfg_list_array(cs_config *c, const list_spec *ls, size_t **count)
{
    if (ls->table == catalog_opts) {
        *count = &c->n_meta_catalogs;
        return (void **)&c->meta_catalogs;
    }
    *count = &c->n_woo_stores;
    return (void **)&c->woo_stores;
}

static int load_list_section(cs_config *c, const list_spec *ls, config_setting_t *sec,
                             const char *path, char *errstr, size_t errstr_size)
{
    char where[512], label[96];
    for (int i = 0; i < config_setting_length(sec); i++) {
        config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        where_of(s, path, where, sizeof where);
        if (strcmp(config_setting_name(s), ls->key) != 0) {
            snprintf(errstr, errstr_size, "%s: unknown key \"%s\" in section \"%s\"", where,
                     config_setting_name(s), ls->section);
            return -1;
        }
        if (!is_list(config_setting_type(s))) {
            snprintf(errstr, errstr_size, "%s: %s.%s must be a list ( {...}, ... ), got %s",
                     where, ls->section, ls->key, type_name(config_setting_type(s)));
            return -1;
        }
        size_t *count;
        void **arr = cs_cfg_list_array(c, ls, &count);
        for (size_t k = 0; k < *count; k++)
            ls->free_entry((char *)*arr + k * ls->elem_size);
        free(*arr);
        *count = 0;
        int n = config_setting_length(s);
        if (!(*arr = calloc(n ? (size_t)n : 1, ls->elem_size)))
            return -1;
        for (int k = 0; k < n; k++) {
            config_setting_t *g = config_setting_get_elem(s, (unsigned)k);
            void *entry = (char *)*arr + (size_t)k * ls->elem_size;
            *count = (size_t)k + 1;
            if (ls->defaults(entry) != 0)
                return -1;
            snprintf(label, sizeof label, "%s.%s[%d]", ls->section, ls->key, k);
            where_of(g, path, where, sizeof where);
            if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
                snprintf(errstr, errstr_size, "%s: %s must be a group { ... }", where, label);
                return -1;
            }
            if (load_group(entry, ls->table, ls->n_table, label, g, path, errstr,
                           errstr_size) != 0)
                return -1;
        }
    }
    return 0;
}

int cs_config_load_file(cs_config *c, const char *path, char *errstr, size_t errstr_size)
{
    config_t lc;
    int rc = -1;
    FILE *probe = fopen(path, "r");
    if (!probe) {
        snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    fclose(probe);
    config_init(&lc);
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        snprintf(errstr, errstr_size, "%s:%d: %s",
                 config_error_file(&lc) ? config_error_file(&lc) : path,
                 config_error_line(&lc), config_error_text(&lc));
        goto out;
    }
    config_setting_t *root = config_root_setting(&lc);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *sec = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(sec);
        char where[512];
        int known = 0;
        where_of(sec, path, where, sizeof where);
        for (size_t j = 0; sections[j]; j++)
            known |= strcmp(sections[j], name) == 0;
        if (!known) {
            snprintf(errstr, errstr_size, "%s: unknown section \"%s\"", where, name);
            goto out;
        }
        if (config_setting_type(sec) != CONFIG_TYPE_GROUP) {
            snprintf(errstr, errstr_size, "%s: \"%s\" must be a group { ... }, got %s", where,
                     name, type_name(config_setting_type(sec)));
            goto out;
        }
        const list_spec *ls = NULL;
        for (size_t j = 0; j < sizeof lists / sizeof lists[0]; j++)
            if (strcmp(lists[j].section, name) == 0)
                ls = &lists[j];
        if (ls) {
            if (load_list_section(c, ls, sec, path, errstr, errstr_size) != 0)
                goto out;
            continue;
        }
        if (strcmp(name, "kafka") == 0) {
            config_setting_t *props = config_setting_get_member(sec, "properties");
            if (props && load_kafka_props(c, props, path, errstr, errstr_size) != 0)
                goto out;
        }
        if (load_group(c, opts, N_OPTS, name, sec, path, errstr, errstr_size) != 0)
            goto out;
    }
    free(c->path);
    c->path = strdup(path);
    rc = 0;
out:
    config_destroy(&lc);
    return rc;
}

extern char **environ;

int cs_config_apply_env(cs_config *c, char *errstr, size_t errstr_size)
{
    static const char pfx[] = "CATALOGSYNC_KAFKA_PROP_";
    for (size_t i = 0; i < N_OPTS; i++) {
        const opt *o = &opts[i];
        char name[96], what[160];
        if (o->type == T_KAFKA_PROPS || o->type == T_STRLIST)
            continue;
        snprintf(name, sizeof name, "CATALOGSYNC_%s_%s", o->section, o->key);
        for (char *p = name; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        const char *v = getenv(name);
        if (!v)
            continue;
        snprintf(what, sizeof what, "%s: %s.%s", name, o->section, o->key);
        if (o->type == T_INTLIST) {
            /* A comma-separated list: CATALOGSYNC_RETRY_SCHEDULE_MS=100,300,900 */
            size_t n = 1;
            for (const char *p = v; *p; p++)
                n += *p == ',';
            int64_t *arr = calloc(n, sizeof *arr);
            char *copy = strdup(v), *save = NULL;
            size_t k = 0;
            if (!arr || !copy) {
                free(arr);
                free(copy);
                return -1;
            }
            for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (cs_parse_i64(tok, o->min, o->max, &arr[k]) != 0) {
                    snprintf(errstr, errstr_size, "%s must be integers from %lld to %lld "
                             "separated by commas", what, (long long)o->min, (long long)o->max);
                    free(arr);
                    free(copy);
                    return -1;
                }
                k++;
            }
            free(copy);
            free(*(int64_t **)str_at(c, o));
            *(int64_t **)str_at(c, o) = arr;
            *count_at(c, o) = k;
            continue;
        }
        if (set_opt(c, o, v, 0, what, errstr, errstr_size) != 0)
            return -1;
    }
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, pfx, sizeof pfx - 1) != 0)
            continue;
        const char *nm = *e + sizeof pfx - 1, *eq = strchr(nm, '=');
        char key[256];
        size_t n = eq ? (size_t)(eq - nm) : 0;
        if (!eq || n == 0 || n >= sizeof key)
            continue;
        for (size_t k = 0; k < n; k++)
            key[k] = nm[k] == '_' ? '.' : (char)tolower((unsigned char)nm[k]);
        key[n] = '\0';
        if (add_kafka_prop(c, key, n, eq + 1, 0, "environment", errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

const cs_cfg_schema cs_cfg = {
    opts, N_OPTS, lists, sizeof lists / sizeof lists[0], sections,
};
const opt *const cs_cfg_catalog_opts = catalog_opts;
const size_t cs_cfg_n_catalog_opts = N_CATALOG_OPTS;
const opt *const cs_cfg_store_opts = store_opts;
const size_t cs_cfg_n_store_opts = N_STORE_OPTS;
