/*
 * cs_config: catalogsync's configuration.
 *
 * Sources, later ones winning: built-in defaults, one libconfig file, then
 * environment variables CATALOGSYNC_<SECTION>_<KEY> (e.g.
 * CATALOGSYNC_KAFKA_BROKERS), then command-line -X kafka properties.
 * librdkafka properties pass straight through: `kafka.properties` in the file
 * (a list of "name=value" strings), CATALOGSYNC_KAFKA_PROP_<NAME> in the
 * environment (dots written as underscores), -X name=value on the CLI.
 *
 * Secrets (passwords, tokens, keys) never sit in the file: a secret setting
 * holds "env:VARIABLE" or "file:/path", resolved at load time, and every
 * resolved secret is registered with cs_log for redaction.  cs_config_dump()
 * prints the effective configuration with secrets shown as [REDACTED].
 *
 * Unknown keys and wrong types are errors naming the file and line.
 *
 * Thread safety: load once at start-up; afterwards read-only from any thread.
 * Ownership: cs_config_new() returns a config freed with cs_config_destroy().
 */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cs_kv {
    char *key;
    char *value;
    int secret;
} cs_kv;

/* The Graph API version a catalog uses unless meta.catalogs[].api_version
 * says otherwise: a current one (cs_graph_version_end in
 * workers/meta_graph.c knows the day each version stops working). */
#define CS_GRAPH_DEFAULT_VERSION "v25.0"

/* One Meta catalog the meta sink keeps in step (meta.catalogs list). */
typedef struct cs_meta_catalog {
    char *id;                   /* operator's name for it; used in Redis keys and logs */
    char *base_url;             /* Graph API base, e.g. https://graph.facebook.com */
    char *api_version;          /* e.g. v25.0 (CS_GRAPH_DEFAULT_VERSION) */
    char *catalog_id;
    char *token;                /* secret */
    char *app_secret;           /* secret; "" = no appsecret_proof */
    char **tenants;             /* tenants served (default "default"; "*" = every tenant) */
    size_t n_tenants;
    int qualify_ids;            /* set by the checks: serving several tenants, the
                                   retailer id is "<tenant>:<sku or id>" (docs/TENANTS.md) */
    int include_images;
    char *placeholder_image_url; /* image_link of a new item without a usable image; "" = none */
    char *media_base_url;
    char *link_base_url;
    char *default_brand;
    char *retailer_id;          /* "sku" | "product_id" */
    char *inactive;             /* "hide" | "delete": what an inactive synced product becomes */
    int batch_size;             /* records per items_batch call, <= 5000 */
    char *ca_file;
    int insecure_tls;           /* logged loudly at every start */
    int doctor_allow_private_media; /* doctor may probe media on loopback/private hosts */
    int secrets_resolved;       /* token/app_secret hold the secrets, not env:/file: */
} cs_meta_catalog;

/* One WooCommerce store (woocommerce.connections list). */
typedef struct cs_woo_store {
    int id;                     /* the connection id events name in export.connections */
    char id_str[16];            /* the same, as used in Redis keys and logs */
    char *name;
    char *base_url;             /* https://store.example */
    char *consumer_key;         /* secret */
    char *consumer_secret;      /* secret */
    char **fields;              /* default export fields */
    size_t n_fields;
    char *delete_policy;        /* trash | force | unlink */
    int batch_size;             /* items per products/batch call, <= 100 by default */
    char *auth;                 /* basic | query | oauth1 */
    char *ca_file;
    int insecure_tls;
    char *media_base_url;
    int doctor_allow_private_media; /* doctor may probe media on loopback/private hosts */
    char *tenant;               /* the one tenant whose products the store holds */
    int secrets_resolved;       /* consumer_key/secret hold the secrets */
} cs_woo_store;

typedef struct cs_config {
    char *path;                 /* file loaded, NULL = built-in defaults */

    char *log_level;            /* error|warn|info|debug */
    char *log_format;           /* text|json */

    char *kafka_brokers;
    char *kafka_topic;
    char *kafka_dlq_topic;
    cs_kv *kafka_props;
    size_t n_kafka_props;

    int event_max_bytes;

    char *redis_host;
    int redis_port;
    char *redis_password;       /* secret */
    int redis_db;
    char *redis_prefix;
    int redis_timeout_ms;

    int worker_batch_max;       /* events taken per flush */
    int worker_batch_max_bytes; /* ... or until their Kafka payloads hold this many bytes */
    int worker_linger_ms;       /* flush at least this often */
    int worker_shutdown_ms;     /* SIGTERM deadline */
    int worker_http_timeout_ms;
    int worker_confirm_timeout_ms;  /* polling a Meta batch handle */
    int worker_confirm_poll_ms;
    int worker_max_pending_batches; /* Meta batches per catalog accepted, not confirmed yet */
    int worker_max_inflight_batches;    /* per connection: batches handed to its lane, not done */
    char *admin_listen;         /* catalogsync-admin: "host:port" */
    char *admin_token;          /* secret (resolved by catalogsync-admin only): bearer token
                                   for POST /v1/reset; "" = changes refused */
    int admin_secret_resolved;
    char *admin_allowed_hosts;  /* more names the admin page is reached by ("a.example,
                                   b.example:8443"), besides its address and localhost */
    char *worker_http_listen;   /* "host:port" for /metrics and health checks, "" = off */

    int64_t *retry_schedule_ms; /* wait after attempt 1, 2, ... */
    size_t n_retry_schedule;
    int retry_max_attempts;
    int retry_jitter_pct;
    int retry_lease_ms;
    int retry_throttle_default_ms;  /* pause when a throttle answer says nothing */
    int retry_auth_pause_ms;        /* pause after an auth/permission error */

    cs_meta_catalog *meta_catalogs;
    size_t n_meta_catalogs;

    cs_woo_store *woo_stores;
    size_t n_woo_stores;
} cs_config;

/* True when the catalog serves the tenant. */
/* Tenants (docs/TENANTS.md): a Meta catalog serves the tenants it lists
 * ("*" = every tenant), a WooCommerce store the one tenant it names. */
#define CS_ANY_TENANT "*"
int cs_meta_catalog_serves(const cs_meta_catalog *c, const char *tenant);
int cs_woo_store_serves(const cs_woo_store *w, const char *tenant);

cs_config *cs_config_new(void);
void cs_config_destroy(cs_config *cfg);

/* Loads a file over the current values.  0 on success, else errstr holds
 * "<file>:<line>: <problem>". */
int cs_config_load_file(cs_config *cfg, const char *path, char *errstr, size_t errstr_size);

/* Applies CATALOGSYNC_* variables from the environment. */
int cs_config_apply_env(cs_config *cfg, char *errstr, size_t errstr_size);

/* Sets one librdkafka property from "name=value" (value may be env:/file:). */
int cs_config_set_kafka_prop(cs_config *cfg, const char *name_eq_value,
                             char *errstr, size_t errstr_size);

/* Checks cross-field rules and registers secrets with the logger; call after
 * every source is applied.  Also applies the log settings to cs_log. */
int cs_config_finalize(cs_config *cfg, char *errstr, size_t errstr_size);

/* The usual start-up sequence: file (path, else $CATALOGSYNC_CONFIG, else
 * defaults), environment, finalize.  NULL on error with errstr filled. */
cs_config *cs_config_load(const char *path, char *errstr, size_t errstr_size);

/* Resolves the env:/file: references of one sink's connection credentials
 * ("meta" or "woocommerce") and registers them for redaction.  Only the
 * worker of that sink calls it, so programs sharing the file (the publisher,
 * the other sink's workers) need not hold every channel's secrets. */
int cs_config_resolve_sink_secrets(cs_config *cfg, const char *sink, char *errstr,
                                   size_t errstr_size);

/* Resolves admin.token (catalogsync-admin only), like the sink secrets; a
 * token shorter than CS_ADMIN_TOKEN_MIN bytes is an error. */
#define CS_ADMIN_TOKEN_MIN 16
int cs_config_resolve_admin_secret(cs_config *cfg, char *errstr, size_t errstr_size);

/* What a program's command line adds on top of file and environment. */
typedef struct cs_config_cli {
    const char *path;                   /* --config; NULL = $CATALOGSYNC_CONFIG */
    const char *const *kafka_props;     /* -X name=value */
    size_t n_kafka_props;
    const char *brokers;                /* -b, overrides kafka.brokers */
    const char *topic;                  /* -t, overrides kafka.topic */
} cs_config_cli;

/* The start-up sequence of every program: defaults, file, environment,
 * command line, checks.  NULL on error with errstr filled (secrets redacted). */
cs_config *cs_config_load_cli(const cs_config_cli *cli, char *errstr, size_t errstr_size);

/* Prints the effective configuration in libconfig syntax, secrets redacted. */
void cs_config_dump(const cs_config *cfg, FILE *out);

/* True when a librdkafka property name carries a secret. */
int cs_config_kafka_prop_is_secret(const char *name);

#endif
