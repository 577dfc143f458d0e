#include "cs_config.h"
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

enum { T_STR, T_INT, T_ENUM, T_BOOL, T_INTLIST, T_STRLIST, T_KAFKA_PROPS };

typedef struct opt {
    const char *section;        /* flat sections; NULL in list-entry tables */
    const char *key;
    int type;
    size_t off;
    size_t count_off;           /* T_INTLIST / T_STRLIST: offset of the size_t count */
    int secret;
    int64_t min, max;
    const char *const *values;  /* T_ENUM */
} opt;

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
    O("worker", "linger_ms", T_INT, worker_linger_ms, 0, 0, 600000, NULL),
    O("worker", "shutdown_deadline_ms", T_INT, worker_shutdown_ms, 0, 100, 3600000, NULL),
    O("worker", "http_timeout_ms", T_INT, worker_http_timeout_ms, 0, 100, 600000, NULL),
    O("worker", "confirm_timeout_ms", T_INT, worker_confirm_timeout_ms, 0, 100, 3600000, NULL),
    O("worker", "confirm_poll_ms", T_INT, worker_confirm_poll_ms, 0, 1, 600000, NULL),
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
    C("token", T_STR, token, 1, 0, 0, NULL),
    C("app_secret", T_STR, app_secret, 1, 0, 0, NULL),
    {NULL, "tenants", T_STRLIST, offsetof(cs_meta_catalog, tenants),
     offsetof(cs_meta_catalog, n_tenants), 0, 0, 0, NULL},
    C("include_images", T_BOOL, include_images, 0, 0, 1, NULL),
    C("media_base_url", T_STR, media_base_url, 0, 0, 0, NULL),
    C("link_base_url", T_STR, link_base_url, 0, 0, 0, NULL),
    C("default_brand", T_STR, default_brand, 0, 0, 0, NULL),
    C("retailer_id", T_ENUM, retailer_id, 0, 0, 0, rid_sources),
    C("inactive", T_ENUM, inactive, 0, 0, 0, inactive_modes),
    C("batch_size", T_INT, batch_size, 0, 1, 5000, NULL),
    C("ca_file", T_STR, ca_file, 0, 0, 0, NULL),
    C("insecure_tls", T_BOOL, insecure_tls, 0, 0, 1, NULL),
};
#define N_CATALOG_OPTS (sizeof catalog_opts / sizeof catalog_opts[0])

static const char *const sections[] = {"log", "kafka", "events", "redis", "worker", "retry",
                                       "meta", NULL};

static char **str_at(void *base, const opt *o) { return (char **)((char *)base + o->off); }
static int *int_at(void *base, const opt *o) { return (int *)((char *)base + o->off); }
static size_t *count_at(void *base, const opt *o) { return (size_t *)((char *)base + o->count_off); }

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
        set_str(&c->redis_password, "")) {
        cs_config_destroy(c);
        return NULL;
    }
    memcpy(c->retry_schedule_ms, default_schedule, sizeof default_schedule);
    c->n_retry_schedule = sizeof default_schedule / sizeof default_schedule[0];
    c->event_max_bytes = 1024 * 1024;
    c->redis_port = 6379;
    c->redis_timeout_ms = 2000;
    c->worker_batch_max = 1000;
    c->worker_linger_ms = 200;
    c->worker_shutdown_ms = 10000;
    c->worker_http_timeout_ms = 30000;
    c->worker_confirm_timeout_ms = 60000;
    c->worker_confirm_poll_ms = 200;
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
    free(c->path);
    free(c);
}

int cs_meta_catalog_serves(const cs_meta_catalog *m, const char *tenant)
{
    if (m->n_tenants == 0)
        return 1;
    for (size_t i = 0; i < m->n_tenants; i++)
        if (strcmp(m->tenants[i], tenant) == 0)
            return 1;
    return 0;
}

/* Resolves "env:NAME" / "file:/path" into the secret itself. */
static int resolve_secret(const char *what, const char *ref, char **out,
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
    if (o->secret) {
        char *sec;
        if (!from_file && strncmp(v, "env:", 4) != 0 && strncmp(v, "file:", 5) != 0)
            return set_str(str_at(base, o), v);   /* the environment holds the secret */
        if (from_file && !*v)
            return set_str(str_at(base, o), "");
        if (resolve_secret(what, v, &sec, errstr, errstr_size) != 0)
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
        if (resolve_secret(what, value, &val, errstr, errstr_size) != 0)
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
    return set_str(&m->base_url, "https://graph.facebook.com") ||
           set_str(&m->api_version, "v21.0") || set_str(&m->app_secret, "") ||
           set_str(&m->retailer_id, "sku") || set_str(&m->inactive, "hide") ||
           set_str(&m->media_base_url, "") || set_str(&m->link_base_url, "") ||
           set_str(&m->default_brand, "") || set_str(&m->ca_file, "") ||
           set_str(&m->id, "") || set_str(&m->catalog_id, "") || set_str(&m->token, "")
           ? -1 : 0;
}

static int load_meta(cs_config *c, config_setting_t *sec, const char *path, char *errstr,
                     size_t errstr_size)
{
    char where[512], label[64];
    for (int i = 0; i < config_setting_length(sec); i++) {
        config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        where_of(s, path, where, sizeof where);
        if (strcmp(config_setting_name(s), "catalogs") != 0) {
            snprintf(errstr, errstr_size, "%s: unknown key \"%s\" in section \"meta\"", where,
                     config_setting_name(s));
            return -1;
        }
        if (!is_list(config_setting_type(s))) {
            snprintf(errstr, errstr_size, "%s: meta.catalogs must be a list ( {...}, ... ), got %s",
                     where, type_name(config_setting_type(s)));
            return -1;
        }
        for (size_t k = 0; k < c->n_meta_catalogs; k++)
            catalog_free(&c->meta_catalogs[k]);
        free(c->meta_catalogs);
        c->n_meta_catalogs = 0;
        int n = config_setting_length(s);
        c->meta_catalogs = calloc(n ? (size_t)n : 1, sizeof(cs_meta_catalog));
        if (!c->meta_catalogs)
            return -1;
        for (int k = 0; k < n; k++) {
            config_setting_t *g = config_setting_get_elem(s, (unsigned)k);
            cs_meta_catalog *m = &c->meta_catalogs[k];
            if (catalog_defaults(m) != 0)
                return -1;
            c->n_meta_catalogs = (size_t)k + 1;
            snprintf(label, sizeof label, "meta.catalogs[%d]", k);
            where_of(g, path, where, sizeof where);
            if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
                snprintf(errstr, errstr_size, "%s: %s must be a group { ... }", where, label);
                return -1;
            }
            if (load_group(m, catalog_opts, N_CATALOG_OPTS, label, g, path, errstr,
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
        if (strcmp(name, "meta") == 0) {
            if (load_meta(c, sec, path, errstr, errstr_size) != 0)
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

static int check_catalogs(cs_config *c, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < c->n_meta_catalogs; i++) {
        cs_meta_catalog *m = &c->meta_catalogs[i];
        const char *missing = !*m->id ? "id" : !*m->catalog_id ? "catalog_id"
                            : !*m->token ? "token" : !*m->base_url ? "base_url"
                            : !*m->api_version ? "api_version" : NULL;
        if (missing) {
            snprintf(errstr, errstr_size, "meta.catalogs[%zu] (%s): %s is required", i,
                     *m->id ? m->id : "no id", missing);
            return -1;
        }
        for (const char *p = m->id; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
                snprintf(errstr, errstr_size, "meta.catalogs[%zu]: id \"%s\" may hold only "
                         "letters, digits, '-' and '_' (it is part of Redis keys)", i, m->id);
                return -1;
            }
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->meta_catalogs[j].id, m->id) == 0) {
                snprintf(errstr, errstr_size, "meta.catalogs: id \"%s\" is used twice", m->id);
                return -1;
            }
        if (strncmp(m->base_url, "https://", 8) != 0 && strncmp(m->base_url, "http://", 7) != 0) {
            snprintf(errstr, errstr_size, "meta.catalogs[%zu] (%s): base_url must start with "
                     "https:// or http://", i, m->id);
            return -1;
        }
        cs_log_add_secret(m->token);
        cs_log_add_secret(m->app_secret);
    }
    return 0;
}

int cs_config_finalize(cs_config *c, char *errstr, size_t errstr_size)
{
    if (!*c->kafka_brokers || !*c->kafka_topic || !*c->kafka_dlq_topic) {
        snprintf(errstr, errstr_size, "kafka.brokers, kafka.topic and kafka.dlq_topic must not be empty");
        return -1;
    }
    if (strcmp(c->kafka_topic, c->kafka_dlq_topic) == 0) {
        snprintf(errstr, errstr_size, "kafka.dlq_topic must differ from kafka.topic");
        return -1;
    }
    if (c->n_retry_schedule == 0) {
        snprintf(errstr, errstr_size, "retry.schedule_ms must hold at least one delay");
        return -1;
    }
    cs_log_add_secret(c->redis_password);
    for (size_t i = 0; i < c->n_kafka_props; i++)
        if (c->kafka_props[i].secret)
            cs_log_add_secret(c->kafka_props[i].value);
    if (check_catalogs(c, errstr, errstr_size) != 0)
        return -1;
    cs_log_set_level((cs_log_level)cs_log_level_parse(c->log_level));
    cs_log_set_format((cs_log_format)cs_log_format_parse(c->log_format));
    return 0;
}

cs_config *cs_config_load(const char *path, char *errstr, size_t errstr_size)
{
    cs_config *c = cs_config_new();
    if (!c) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (!path || !*path)
        path = getenv("CATALOGSYNC_CONFIG");
    if ((path && *path && cs_config_load_file(c, path, errstr, errstr_size) != 0) ||
        cs_config_apply_env(c, errstr, errstr_size) != 0 ||
        cs_config_finalize(c, errstr, errstr_size) != 0) {
        cs_config_destroy(c);
        return NULL;
    }
    return c;
}

static void dump_str(FILE *out, const char *v)
{
    fputc('"', out);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            fputc('\\', out);
        fputc(*v, out);
    }
    fputc('"', out);
}

static void dump_table(FILE *out, void *base, const opt *t, size_t nt, const char *section,
                       const char *indent)
{
    for (size_t i = 0; i < nt; i++) {
        const opt *o = &t[i];
        if ((o->section && strcmp(o->section, section) != 0) || o->type == T_KAFKA_PROPS)
            continue;
        fprintf(out, "%s%s = ", indent, o->key);
        if (o->type == T_INT)
            fprintf(out, "%d", *int_at(base, o));
        else if (o->type == T_BOOL)
            fputs(*int_at(base, o) ? "true" : "false", out);
        else if (o->type == T_INTLIST || o->type == T_STRLIST) {
            fputc('[', out);
            for (size_t k = 0; k < *count_at(base, o); k++) {
                if (k)
                    fputs(", ", out);
                if (o->type == T_INTLIST)
                    fprintf(out, "%lld", (long long)(*(int64_t **)str_at(base, o))[k]);
                else
                    dump_str(out, (*(char ***)str_at(base, o))[k]);
            }
            fputc(']', out);
        } else if (o->secret)
            dump_str(out, **str_at(base, o) ? "[REDACTED]" : "");
        else
            dump_str(out, *str_at(base, o));
        fputs(";\n", out);
    }
}

void cs_config_dump(const cs_config *cfg, FILE *out)
{
    cs_config *c = (cs_config *)cfg;
    fprintf(out, "# effective configuration (%s); secrets redacted\n",
            c->path ? c->path : "built-in defaults");
    for (size_t s = 0; sections[s]; s++) {
        fprintf(out, "%s = {\n", sections[s]);
        if (strcmp(sections[s], "meta") == 0) {
            fputs("  catalogs = (", out);
            for (size_t i = 0; i < c->n_meta_catalogs; i++) {
                fputs(i ? ",\n    {\n" : "\n    {\n", out);
                dump_table(out, &c->meta_catalogs[i], catalog_opts, N_CATALOG_OPTS, NULL,
                           "      ");
                fputs("    }", out);
            }
            fputs(c->n_meta_catalogs ? "\n  );\n" : ");\n", out);
        } else {
            dump_table(out, c, opts, N_OPTS, sections[s], "  ");
        }
        if (strcmp(sections[s], "kafka") == 0) {
            fputs("  properties = [", out);
            for (size_t i = 0; i < c->n_kafka_props; i++) {
                fputs(i ? ",\n    " : "\n    ", out);
                char line[600];
                snprintf(line, sizeof line, "%s=%s", c->kafka_props[i].key,
                         c->kafka_props[i].secret ? "[REDACTED]" : c->kafka_props[i].value);
                dump_str(out, line);
            }
            fputs(c->n_kafka_props ? "\n  ];\n" : "];\n", out);
        }
        fputs("};\n", out);
    }
}
