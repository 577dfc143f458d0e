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

enum { T_STR, T_INT, T_ENUM };

typedef struct opt {
    const char *section;
    const char *key;
    int type;
    size_t off;
    int secret;
    int64_t min, max;
    const char *const *values;  /* T_ENUM */
} opt;

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};

#define O(s, k, t, f, sec, lo, hi, v) {s, k, t, offsetof(cs_config, f), sec, lo, hi, v}
static const opt opts[] = {
    O("log", "level", T_ENUM, log_level, 0, 0, 0, log_levels),
    O("log", "format", T_ENUM, log_format, 0, 0, 0, log_formats),
    O("kafka", "brokers", T_STR, kafka_brokers, 0, 0, 0, NULL),
    O("kafka", "topic", T_STR, kafka_topic, 0, 0, 0, NULL),
    O("kafka", "dlq_topic", T_STR, kafka_dlq_topic, 0, 0, 0, NULL),
    O("events", "max_bytes", T_INT, event_max_bytes, 0, 1024, 64 * 1024 * 1024, NULL),
    O("redis", "host", T_STR, redis_host, 0, 0, 0, NULL),
    O("redis", "port", T_INT, redis_port, 0, 1, 65535, NULL),
    O("redis", "password", T_STR, redis_password, 1, 0, 0, NULL),
    O("redis", "db", T_INT, redis_db, 0, 0, 15, NULL),
    O("redis", "prefix", T_STR, redis_prefix, 0, 0, 0, NULL),
    O("redis", "timeout_ms", T_INT, redis_timeout_ms, 0, 1, 600000, NULL),
};
#define N_OPTS (sizeof opts / sizeof opts[0])

static const char *const sections[] = {"log", "kafka", "events", "redis", NULL};

static char **str_at(cs_config *c, const opt *o) { return (char **)((char *)c + o->off); }
static int *int_at(cs_config *c, const opt *o) { return (int *)((char *)c + o->off); }

static int set_str(char **slot, const char *v)
{
    char *d = strdup(v);
    if (!d)
        return -1;
    free(*slot);
    *slot = d;
    return 0;
}

cs_config *cs_config_new(void)
{
    cs_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (set_str(&c->log_level, "info") || set_str(&c->log_format, "text") ||
        set_str(&c->kafka_brokers, "127.0.0.1:9092") ||
        set_str(&c->kafka_topic, "catalog.product-events") ||
        set_str(&c->kafka_dlq_topic, "catalog.product-events.dlq") ||
        set_str(&c->redis_host, "127.0.0.1") || set_str(&c->redis_prefix, "catalogsync:") ||
        set_str(&c->redis_password, "")) {
        cs_config_destroy(c);
        return NULL;
    }
    c->event_max_bytes = 1024 * 1024;
    c->redis_port = 6379;
    c->redis_timeout_ms = 2000;
    return c;
}

void cs_config_destroy(cs_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].type != T_INT)
            free(*str_at(c, &opts[i]));
    for (size_t i = 0; i < c->n_kafka_props; i++) {
        free(c->kafka_props[i].key);
        free(c->kafka_props[i].value);
    }
    free(c->kafka_props);
    free(c->path);
    free(c);
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

/* Sets an option from a string (environment or file); where is the prefix of
 * every error ("file:line" or the variable name). */
static int set_opt(cs_config *c, const opt *o, const char *v, int from_file,
                   const char *where, char *errstr, size_t errstr_size)
{
    char what[160];
    snprintf(what, sizeof what, "%s: %s.%s", where, o->section, o->key);
    if (o->type == T_INT) {
        int64_t x;
        if (cs_parse_i64(v, o->min, o->max, &x) != 0) {
            snprintf(errstr, errstr_size, "%s must be an integer from %lld to %lld, got \"%.40s\"",
                     what, (long long)o->min, (long long)o->max, v);
            return -1;
        }
        *int_at(c, o) = (int)x;
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
            return set_str(str_at(c, o), v);   /* the environment holds the secret */
        if (from_file && !*v)
            return set_str(str_at(c, o), "");
        if (resolve_secret(what, v, &sec, errstr, errstr_size) != 0)
            return -1;
        free(*str_at(c, o));
        *str_at(c, o) = sec;
        return 0;
    }
    return set_str(str_at(c, o), v);
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

static int load_section(cs_config *c, config_setting_t *sec, const char *path,
                        char *errstr, size_t errstr_size)
{
    const char *sname = config_setting_name(sec);
    char where[512];
    for (int i = 0; i < config_setting_length(sec); i++) {
        config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *k = config_setting_name(s);
        where_of(s, path, where, sizeof where);
        if (strcmp(sname, "kafka") == 0 && strcmp(k, "properties") == 0) {
            int t = config_setting_type(s);
            if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
                snprintf(errstr, errstr_size,
                         "%s: kafka.properties must be a list of \"name=value\" strings, got %s",
                         where, type_name(t));
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
                if (add_kafka_prop(c, nv, (size_t)(eq - nv), eq + 1, 1, where, errstr,
                                   errstr_size) != 0)
                    return -1;
            }
            continue;
        }
        const opt *o = NULL;
        for (size_t j = 0; j < N_OPTS; j++)
            if (strcmp(opts[j].section, sname) == 0 && strcmp(opts[j].key, k) == 0)
                o = &opts[j];
        if (!o) {
            snprintf(errstr, errstr_size, "%s: unknown key \"%s\" in section \"%s\"", where, k,
                     sname);
            return -1;
        }
        int t = config_setting_type(s);
        char num[32];
        const char *v;
        if (o->type == T_INT) {
            if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
                snprintf(errstr, errstr_size, "%s: %s.%s must be an integer, got %s", where,
                         sname, k, type_name(t));
                return -1;
            }
            snprintf(num, sizeof num, "%lld", config_setting_get_int64(s));
            v = num;
        } else {
            if (t != CONFIG_TYPE_STRING) {
                snprintf(errstr, errstr_size, "%s: %s.%s must be a string, got %s", where,
                         sname, k, type_name(t));
                return -1;
            }
            v = config_setting_get_string(s);
        }
        if (set_opt(c, o, v, 1, where, errstr, errstr_size) != 0)
            return -1;
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
        if (load_section(c, sec, path, errstr, errstr_size) != 0)
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
        char name[96];
        snprintf(name, sizeof name, "CATALOGSYNC_%s_%s", opts[i].section, opts[i].key);
        for (char *p = name; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        const char *v = getenv(name);
        if (v && set_opt(c, &opts[i], v, 0, name, errstr, errstr_size) != 0)
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
    cs_log_add_secret(c->redis_password);
    for (size_t i = 0; i < c->n_kafka_props; i++)
        if (c->kafka_props[i].secret)
            cs_log_add_secret(c->kafka_props[i].value);
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

void cs_config_dump(const cs_config *cfg, FILE *out)
{
    cs_config *c = (cs_config *)cfg;
    fprintf(out, "# effective configuration (%s); secrets redacted\n",
            c->path ? c->path : "built-in defaults");
    for (size_t s = 0; sections[s]; s++) {
        fprintf(out, "%s = {\n", sections[s]);
        for (size_t i = 0; i < N_OPTS; i++) {
            const opt *o = &opts[i];
            if (strcmp(o->section, sections[s]) != 0)
                continue;
            fprintf(out, "  %s = ", o->key);
            if (o->type == T_INT)
                fprintf(out, "%d", *int_at(c, o));
            else if (o->secret)
                dump_str(out, **str_at(c, o) ? "[REDACTED]" : "");
            else
                dump_str(out, *str_at(c, o));
            fputs(";\n", out);
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
