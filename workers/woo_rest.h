/*
 * woo_rest: the WooCommerce REST API v3 protocol — woo_rest.c (auth,
 * requests) and woo_answers.c (errors, batch answers, SKU lookups,
 * currency); the store's behaviour it follows is the fake's
 * (tests/fakes/README.md).  The WooCommerce channel's client side, beside its sink woo.c, its links woo_links.c and its mapping
 * woo_map.c; the functions keep the cs_woo_ prefix.  No product mapping and
 * no state: this module knows how to authenticate a request to a store,
 * what the store's answers mean, and how batch calls are shaped.
 *
 * - Authentication (reference §3): HTTP Basic or query-string keys over
 *   HTTPS, one-legged OAuth 1.0a (HMAC-SHA256) where TLS is not available.
 *   Basic or query keys over plain http:// are refused at configuration time
 *   by cs_woo_check_auth(): the keys would travel in clear, and WooCommerce
 *   ignores Basic over HTTP anyway (every call would be a 401 "cannot ...").
 * - Errors (reference §4): the WordPress error body and the one
 *   classification of a failed WooCommerce call into transient / throttle /
 *   auth / bad item (the cs_class vocabulary of cs_class.h, shared by all
 *   channels).
 * - Batches (reference §1 "Batch details"): the request body and the 200
 *   answer, whose per-item results are matched to the request by position.
 * - SKU lookups: the answer of GET products?sku=X, used to adopt an existing
 *   product instead of creating a duplicate.
 *
 * Secrets: keys go into URLs (query mode, OAuth) and Basic credentials; like
 * cs_http, nothing here logs, and error strings never contain a URL.
 *
 * Thread safety: no global state; every function may be called from any
 * thread (cs_woo_request uses the caller's cs_http, which belongs to one
 * thread).  Ownership: callers own every string and buffer passed in;
 * cs_woo_parse_batch() allocates the reply's arrays, released with
 * cs_woo_batch_reply_free().
 */
#ifndef CS_WOO_REST_H
#define CS_WOO_REST_H

#include <stddef.h>

#include "cs_buf.h"
#include "cs_class.h"
#include "cs_http.h"

#define CS_WOO_API_PREFIX   "/wp-json/wc/v3/"
#define CS_WOO_BATCH_MAX    100   /* items per products/batch call (WooCommerce default) */
#define CS_WOO_SKU_MAX      256
#define CS_WOO_IMAGES_MAX   32    /* image ids kept per batch item result */

typedef enum { CS_WOO_AUTH_BASIC = 0, CS_WOO_AUTH_QUERY, CS_WOO_AUTH_OAUTH1 } cs_woo_auth;

/* "basic" | "query" | "oauth1" (any case) -> the cs_woo_auth value; -1
 * otherwise (also for NULL). */
int cs_woo_auth_parse(const char *s);
const char *cs_woo_auth_name(cs_woo_auth a);

/* Configuration check of a store URL and auth mode.  0 when usable; -1 with
 * errstr when base_url is not an absolute http(s) URL, carries a query,
 * fragment or "/wp-json" (it is appended here), or when Basic or query keys
 * would go over plain http:// (the message tells the operator to use https
 * or auth = "oauth1").  cs_woo_request() does not repeat this check: call it
 * once when loading configuration. */
int cs_woo_check_auth(const char *base_url, cs_woo_auth mode, char *errstr,
                      size_t errstr_size);

typedef struct cs_woo_conn {   /* filled by the caller */
    const char *base_url;      /* https://store.example (no trailing /wp-json) */
    cs_woo_auth auth;
    const char *key, *secret;  /* consumer key ck_... and secret cs_... */
} cs_woo_conn;

/*
 * Performs one request to <base_url>/wp-json/wc/v3/<path> and waits for it.
 * path may carry a query string already ("products?sku=A&status=any"); its
 * values must be percent-encoded by the caller (cs_http_urlencode).  body,
 * when not NULL, is sent with Content-Type: application/json (WordPress
 * ignores JSON bodies of any other type).  Auth per c->auth:
 *   basic  - Basic key:secret (cs_http);
 *   query  - consumer_key/consumer_secret appended to the query;
 *   oauth1 - one-legged OAuth 1.0a, HMAC-SHA256, a fresh random nonce and
 *            the current time, all parameters in the query string
 *            (cs_woo_oauth1_sign).
 * Returns resp->err, as cs_http_request(); CS_HTTP_EINVAL (resp->errstr
 * filled) for missing connection fields, an unknown method or an URL that
 * does not fit.  Any HTTP status is CS_HTTP_OK: see resp->status and
 * cs_woo_parse_error().
 */
cs_http_err cs_woo_request(cs_http *h, const cs_woo_conn *c, const char *method,
                           const char *path, const char *body, size_t body_len,
                           cs_http_resp *resp);

/*
 * Builds the OAuth 1.0a signed query string (no leading '?') for method and
 * url (RFC 5849 §3.4.1): the URL's own query parameters (decoded as
 * application/x-www-form-urlencoded) plus oauth_consumer_key, oauth_nonce,
 * oauth_signature_method=HMAC-SHA256 and oauth_timestamp, percent-encoded
 * (RFC 3986 unreserved kept), sorted by name then value, joined with '&',
 * then "&oauth_signature=" and the encoded signature.  The signature is
 * base64(HMAC-SHA256(key = secret + "&", base string)), the base string being
 * METHOD & enc(scheme://host[:port]/path) & enc(sorted parameters), with
 * scheme and host lower-cased and a default port (80/443) dropped.  The
 * signing key uses the secret as is, as WooCommerce does (its secrets are
 * "cs_" + hex, so RFC encoding would not change them).  Appends to
 * out_query; 0, or -1 with errstr (bad URL, cap reached; out_query is then
 * left as it was).  Exposed for tests; cs_woo_request() uses it.
 */
int cs_woo_oauth1_sign(const char *method, const char *url, const char *key,
                       const char *secret, const char *nonce, long timestamp,
                       cs_buf *out_query, char *errstr, size_t errstr_size);

typedef struct cs_woo_error {
    long http_status;          /* 0 = no HTTP answer (transport error) */
    char code[96];             /* WP error code, e.g. "product_invalid_sku"; "" for HTML / no body */
    char message[512];
    long resource_id;          /* data.resource_id (product_invalid_sku), 0 if absent */
    int not_wp;                /* an HTTP answer whose body is not a WordPress error
                                  {"code",...}: an HTML page or other JSON, from a WAF,
                                  CDN, proxy or a URL that is not the REST API */
} cs_woo_error;

/* Parses a WP REST error body {"code","message","data":{"status",...}}.
 * Without such a body: message "HTTP <status>", followed for a non-JSON
 * body (HTML pages of proxies and PHP fatals) by ": <first 200 bytes>" with
 * control bytes and invalid UTF-8 replaced; "no HTTP answer" when
 * http_status is 0.  body may be NULL when len is 0.  Strings are truncated
 * to their fields without splitting a UTF-8 sequence. */
void cs_woo_parse_error(const char *body, size_t len, long http_status, cs_woo_error *e);

/*
 * The one place WooCommerce failures are classified (reference §4):
 *   transient  no HTTP answer, 408, 500/502/504 and other 5xx (HTML pages
 *              included), internal_server_error, woocommerce_rest_cannot_*
 *              with a 5xx status (500 cannot_delete: the delete itself failed);
 *   throttle   429 and 503 (hosts, WAFs, maintenance mode): pause the
 *              connection for cs_http_retry_after_ms() or a default;
 *   auth       401/403, woocommerce_rest_cannot_* (view, create, edit,
 *              delete, batch), woocommerce_rest_authentication_error and
 *              ..._missing_parameter: pause the connection and alert;
 *              also answers that mean the connection itself is misconfigured
 *              and would fail for every product: rest_no_route (wrong base
 *              URL, permalinks off) and 3xx (redirects are not followed:
 *              http->https or www redirects on the base URL); and 4xx
 *              answers that are not WordPress errors (not_wp, except 408,
 *              413 and 429): a WAF's HTML 403/406, a plain-permalink 404
 *              page, a CDN's 400 say nothing about any product;
 *   bad item   400 WordPress errors (rest_invalid_param, rest_invalid_json, product_invalid_sku,
 *              woocommerce_rest_product_not_created, image errors...), 404
 *              (product gone: the caller resolves by SKU), 410, 413 (callers
 *              split batches before classifying), 501 trash_not_supported
 *              (see cs_woo_delete_needs_force) and any other 4xx;
 *   ok         2xx without an error code.
 * The conversions of reference §4 (product_invalid_sku -> adopt
 * resource_id, 410 on delete -> done) are the caller's, with the helpers
 * below.
 */
cs_class cs_woo_classify(const cs_woo_error *e);

/* How long a throttle or auth verdict pauses the connection, in ms:
 * auth_pause_ms for auth; for a throttle the answer's Retry-After
 * (cs_http_retry_after_ms, capped at CS_CHANNEL_MAX_PAUSE_MS like Meta's)
 * when > 0, else throttle_default_ms. */
int64_t cs_woo_pause_ms(cs_class cls, int64_t retry_after_ms, int64_t throttle_default_ms,
                        int64_t auth_pause_ms);

/* 1 when a failed DELETE means the product is already gone: 410 (already
 * trashed, gone) or 404 woocommerce_rest_product_invalid_id /
 * woocommerce_rest_invalid_id.  A 404 without that code (rest_no_route, an
 * HTML page) does not count: a wrong base URL must not look like deletes
 * that succeeded. */
int cs_woo_delete_is_done(const cs_woo_error *e);
/* 1 for 501 woocommerce_rest_trash_not_supported: repeat with force=true. */
int cs_woo_delete_needs_force(const cs_woo_error *e);

/* One result of a batch answer, matched to the request by position within its list. */
typedef struct cs_woo_item_result {
    long id;                   /* remote product id (0 for a failed create) */
    int ok;                    /* no "error" member */
    cs_woo_error err;          /* when !ok: code, message, data.status (400 when
                                  absent), data.resource_id */
    char sku[CS_WOO_SKU_MAX];  /* the product's sku when present in the answer */
    /* image ids of the product in the answer, in order (so the caller can
     * remember src -> id); at most CS_WOO_IMAGES_MAX are kept */
    long image_ids[CS_WOO_IMAGES_MAX];
    size_t n_images;
    /* stock as the answer shows it: 1 managed with a stock_quantity, 0 not
     * (manage_stock false or stock_quantity null: the store ignores
     * stock_quantity when its option woocommerce_manage_stock is "no"), -1
     * not in the answer */
    int stock_managed;
} cs_woo_item_result;

typedef struct cs_woo_batch_reply {
    cs_woo_item_result *create, *update, *del;
    size_t n_create, n_update, n_del;
} cs_woo_batch_reply;

/* Parses the 200 answer of POST products/batch.  Fails (-1, errstr, out
 * emptied) when the body is not a JSON object, when a list's length differs
 * from what was sent (want_create/want_update/want_del; a list that was not
 * sent may be absent), or when an element is not an object: results are
 * matched by position, so a partial match would attribute outcomes to the
 * wrong products. */
int cs_woo_parse_batch(const char *body, size_t len, size_t want_create, size_t want_update,
                       size_t want_del, cs_woo_batch_reply *out, char *errstr,
                       size_t errstr_size);
void cs_woo_batch_reply_free(cs_woo_batch_reply *r);   /* accepts NULL; r is emptied */

/* Appends {"create":[...],"update":[...],"delete":[ids]} built from already
 * serialized product objects (each one JSON object; update objects must
 * already contain "id").  Empty lists are left out ({} when all are).
 * Delete ids must be positive: WooCommerce silently skips ids that cast to
 * 0, which would shift the positions of the answer.  0, or -1 when an
 * object is NULL or not an object, an id is not positive, or out's cap is
 * reached (out is then left as it was).  The 100-item limit is the caller's
 * (CS_WOO_BATCH_MAX; stores can raise it). */
int cs_woo_batch_body(cs_buf *out, const char *const *creates, size_t n_create,
                      const char *const *updates, size_t n_update,
                      const long *deletes, size_t n_delete);

/* Parses the answer of GET products?sku=X&status=any&_fields=id,sku,status
 * (add parent_id to _fields to let variations be recognised): the id of the
 * product whose sku matches X exactly (ASCII case-insensitively, as MySQL
 * compares), preferring a non-trashed one (the lowest id when several);
 * variations (parent_id > 0 or type "variation") are skipped, since they
 * cannot be updated through /products/{id}.  0 when none; -1 when the body
 * is not an array of objects or a matching element has no positive id.
 * *trashed (may be NULL) is set to 1 when only a trashed product matches
 * (its id is returned), else 0.  Note status=any excludes trash: query
 * status=trash too to find trashed products. */
long cs_woo_parse_sku_lookup(const char *body, size_t len, const char *sku, int *trashed);

/* The images of product id in the answer of a products lookup (add images
 * to its _fields): their attachment ids and the file names of the store's
 * copies (the last path segment of images[].src, at most
 * CS_WOO_FILE_MAX - 1 bytes), in order, at most max.  Returns the count, 0
 * when the product or its images are not in the answer. */
#define CS_WOO_FILE_MAX 256
size_t cs_woo_parse_lookup_images(const char *body, size_t len, long id, long *ids,
                                  char (*files)[CS_WOO_FILE_MAX], size_t max);

/* The currency code of GET data/currencies/current ({"code":"USD",...}):
 * 0 with out = three upper-case letters, or -1. */
int cs_woo_parse_currency(const char *body, size_t len, char out[4]);

#endif
