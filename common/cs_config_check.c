/* cs_config_check: cross-field rules, secret registration and the usual
 * load sequence (file, environment, checks). */
#include "cs_config.h"
#include "cs_config_schema.h"
#include "cs_log.h"
#include "cs_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Two base URLs name one endpoint (a trailing slash aside). */
static int same_url(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    while (na && a[na - 1] == '/')
        na--;
    while (nb && b[nb - 1] == '/')
        nb--;
    return na == nb && strncasecmp(a, b, na) == 0;
}

/* A tenant name as events carry it (docs/EVENTS.md): not empty, no ':'. */
static int bad_tenant(const char *t)
{
    return !*t || strchr(t, ':') != NULL;
}

/* Tenants of one catalog: named, "*" only alone; serving more than one (or
 * every) tenant qualifies its retailer ids with the tenant. */
static int check_catalog_tenants(cs_meta_catalog *m, size_t i, char *errstr, size_t errstr_size)
{
    if (m->n_tenants == 0) {
        snprintf(errstr, errstr_size, "meta.catalogs[%zu] (%s): tenants must name at least one "
                 "tenant, or \"*\" for every tenant", i, m->id);
        return -1;
    }
    for (size_t t = 0; t < m->n_tenants; t++) {
        const char *name = m->tenants[t];
        if (strcmp(name, CS_ANY_TENANT) == 0 ? m->n_tenants > 1 : bad_tenant(name)) {
            snprintf(errstr, errstr_size, "meta.catalogs[%zu] (%s): tenants[%zu] \"%s\" %s", i,
                     m->id, t, name, strcmp(name, CS_ANY_TENANT) == 0
                     ? "stands alone (\"*\" already serves every tenant)"
                     : "is not a tenant name (not empty, no ':')");
            return -1;
        }
    }
    m->qualify_ids = m->n_tenants > 1 || strcmp(m->tenants[0], CS_ANY_TENANT) == 0;
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
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->meta_catalogs[j].id, m->id) == 0) {
                snprintf(errstr, errstr_size, "meta.catalogs: id \"%s\" is used twice", m->id);
                return -1;
            }
            /* Two entries writing one Meta catalog could give two tenants'
             * products one retailer id: one entry lists every tenant. */
            if (strcmp(c->meta_catalogs[j].catalog_id, m->catalog_id) == 0 &&
                same_url(c->meta_catalogs[j].base_url, m->base_url)) {
                snprintf(errstr, errstr_size, "meta.catalogs: \"%s\" and \"%s\" both write "
                         "Meta catalog %s; list every tenant it serves in one entry "
                         "(retailer ids then carry the tenant)", c->meta_catalogs[j].id, m->id,
                         m->catalog_id);
                return -1;
            }
        }
        if (check_catalog_tenants(m, i, errstr, errstr_size) != 0)
            return -1;
        if (strncmp(m->base_url, "https://", 8) != 0 && strncmp(m->base_url, "http://", 7) != 0) {
            snprintf(errstr, errstr_size, "meta.catalogs[%zu] (%s): base_url must start with "
                     "https:// or http://", i, m->id);
            return -1;
        }
        char host[256];
        if (strncmp(m->base_url, "http://", 7) == 0 &&
            (cs_url_host(m->base_url, host, sizeof host) != 0 || !cs_host_is_loopback(host))) {
            snprintf(errstr, errstr_size, "meta.catalogs[%zu].base_url (%s): plain http:// is "
                     "refused: the access token would travel in clear; use https:// (http:// "
                     "is accepted only to this machine: 127.0.0.0/8, ::1, localhost)", i, m->id);
            return -1;
        }
        if (*m->placeholder_image_url &&
            ((strncmp(m->placeholder_image_url, "https://", 8) != 0 &&
              strncmp(m->placeholder_image_url, "http://", 7) != 0) ||
             cs_url_host(m->placeholder_image_url, host, sizeof host) != 0 || !host[0])) {
            snprintf(errstr, errstr_size, "meta.catalogs[%zu] (%s): placeholder_image_url must "
                     "be an absolute http(s) URL Meta can fetch", i, m->id);
            return -1;
        }
    }
    return 0;
}

static int check_stores(cs_config *c, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < c->n_woo_stores; i++) {
        cs_woo_store *w = &c->woo_stores[i];
        const char *missing = !w->id ? "id" : !*w->base_url ? "base_url"
                            : !*w->consumer_key ? "consumer_key"
                            : !*w->consumer_secret ? "consumer_secret" : NULL;
        if (missing) {
            snprintf(errstr, errstr_size, "woocommerce.connections[%zu]: %s is required", i,
                     missing);
            return -1;
        }
        snprintf(w->id_str, sizeof w->id_str, "%d", w->id);
        if (bad_tenant(w->tenant)) {
            snprintf(errstr, errstr_size, "woocommerce.connections[%zu] (%d): tenant \"%s\" is "
                     "not a tenant name (not empty, no ':'; a store holds one tenant's "
                     "products)", i, w->id, w->tenant);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (c->woo_stores[j].id == w->id) {
                snprintf(errstr, errstr_size, "woocommerce.connections: id %d is used twice",
                         w->id);
                return -1;
            }
            /* SKUs are unique per store: two tenants in one store would adopt
             * each other's products by SKU. */
            if (same_url(c->woo_stores[j].base_url, w->base_url) &&
                strcmp(c->woo_stores[j].tenant, w->tenant) != 0) {
                snprintf(errstr, errstr_size, "woocommerce.connections: %d (tenant %s) and %d "
                         "(tenant %s) are the same store %s; a store holds one tenant's "
                         "products", c->woo_stores[j].id, c->woo_stores[j].tenant, w->id,
                         w->tenant, w->base_url);
                return -1;
            }
        }
        int https = strncmp(w->base_url, "https://", 8) == 0;
        if (!https && strncmp(w->base_url, "http://", 7) != 0) {
            snprintf(errstr, errstr_size, "woocommerce.connections[%zu] (%d): base_url must "
                     "start with https:// or http://", i, w->id);
            return -1;
        }
        if (!https && strcmp(w->auth, "oauth1") != 0) {
            snprintf(errstr, errstr_size, "woocommerce.connections[%zu] (%d): auth \"%s\" over "
                     "plain http:// is refused: keys would travel in clear and WooCommerce "
                     "ignores Basic auth without TLS; use an https:// base_url or "
                     "auth = \"oauth1\"", i, w->id, w->auth);
            return -1;
        }
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
    if (check_catalogs(c, errstr, errstr_size) != 0 || check_stores(c, errstr, errstr_size) != 0)
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



static int override(char **slot, const char *v)
{
    char *d;
    if (!v)
        return 0;
    if (!(d = strdup(v)))
        return -1;
    free(*slot);
    *slot = d;
    return 0;
}

cs_config *cs_config_load_cli(const cs_config_cli *cli, char *errstr, size_t errstr_size)
{
    cs_config *c = cs_config_new();
    const char *path = cli->path ? cli->path : getenv("CATALOGSYNC_CONFIG");
    if (!c) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if ((path && *path && cs_config_load_file(c, path, errstr, errstr_size) != 0) ||
        cs_config_apply_env(c, errstr, errstr_size) != 0)
        goto fail;
    for (size_t i = 0; i < cli->n_kafka_props; i++)
        if (cs_config_set_kafka_prop(c, cli->kafka_props[i], errstr, errstr_size) != 0)
            goto fail;
    if (override(&c->kafka_brokers, cli->brokers) || override(&c->kafka_topic, cli->topic)) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (cs_config_finalize(c, errstr, errstr_size) != 0)
        goto fail;
    return c;
fail:
    cs_log_redact(errstr, errstr_size);
    cs_config_destroy(c);
    return NULL;
}

/* Resolves one entry's deferred secrets (env:/file: references). */
static int resolve_entry(void *entry, const opt *t, size_t nt, const char *label, int *resolved,
                         char *errstr, size_t errstr_size)
{
    char what[160];
    if (*resolved)
        return 0;
    for (size_t i = 0; i < nt; i++) {
        char *sec, **slot = str_at(entry, &t[i]);
        if (t[i].secret != SECRET_DEFERRED || !**slot)
            continue;
        snprintf(what, sizeof what, "%s.%s", label, t[i].key);
        if (cs_cfg_resolve_secret(what, *slot, &sec, errstr, errstr_size) != 0)
            return -1;
        free(*slot);
        *slot = sec;
        cs_log_add_secret(sec);
    }
    *resolved = 1;
    return 0;
}

int cs_config_resolve_admin_secret(cs_config *c, char *errstr, size_t errstr_size)
{
    if (resolve_entry(c, cs_cfg.opts, cs_cfg.n_opts, "admin", &c->admin_secret_resolved,
                      errstr, errstr_size) != 0)
        return -1;
    size_t n = strlen(c->admin_token);
    if (n && n < CS_ADMIN_TOKEN_MIN) {
        /* Short secrets are guessable, and the log redaction leaves those
         * under 4 bytes alone. */
        snprintf(errstr, errstr_size, "admin.token: %zu bytes, at least %d are required "
                 "(e.g. the output of: openssl rand -hex 32)", n, CS_ADMIN_TOKEN_MIN);
        return -1;
    }
    return 0;
}

int cs_config_resolve_sink_secrets(cs_config *c, const char *sink, char *errstr,
                                   size_t errstr_size)
{
    char label[64];
    int meta = strcmp(sink, "meta") == 0;
    size_t n = meta ? c->n_meta_catalogs : c->n_woo_stores;
    for (size_t i = 0; i < n; i++) {
        snprintf(label, sizeof label, meta ? "meta.catalogs[%zu]" : "woocommerce.connections[%zu]",
                 i);
        int rc = meta ? resolve_entry(&c->meta_catalogs[i], cs_cfg_catalog_opts, cs_cfg_n_catalog_opts, label,
                                      &c->meta_catalogs[i].secrets_resolved, errstr, errstr_size)
                      : resolve_entry(&c->woo_stores[i], cs_cfg_store_opts, cs_cfg_n_store_opts, label,
                                      &c->woo_stores[i].secrets_resolved, errstr, errstr_size);
        if (rc != 0)
            return -1;
    }
    return 0;
}

