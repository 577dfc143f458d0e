#include "woo_rest.h"
#include "cs_sha256.h"
#include "cs_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>

#define WOO_SNIPPET   200
#define WOO_URL_CAP   ((size_t)64 * 1024)

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (!errstr || errstr_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ auth modes */

static const char *const AUTH_NAMES[] = {"basic", "query", "oauth1"};   /* by cs_woo_auth */

int cs_woo_auth_parse(const char *s)
{
    for (int i = 0; s && i < (int)(sizeof AUTH_NAMES / sizeof AUTH_NAMES[0]); i++)
        if (strcasecmp(s, AUTH_NAMES[i]) == 0)
            return i;
    return -1;
}

const char *cs_woo_auth_name(cs_woo_auth a)
{
    return (unsigned)a < sizeof AUTH_NAMES / sizeof AUTH_NAMES[0] ? AUTH_NAMES[a] : "?";
}

/* ------------------------------------------------------------------ URLs */

typedef struct {
    const char *scheme; size_t scheme_len;
    const char *host;   size_t host_len;   /* brackets kept for IPv6 literals */
    const char *port;   size_t port_len;   /* 0 when absent */
    const char *path;   size_t path_len;   /* may be empty */
    const char *query;  size_t query_len;  /* without '?'; NULL when absent */
    int has_userinfo, has_fragment;
} url_parts;

/* Splits an absolute http(s) URL.  0, or -1 when it is not one. */
static int url_split(const char *url, url_parts *u)
{
    memset(u, 0, sizeof *u);
    const char *sep = strstr(url, "://");
    if (!sep)
        return -1;
    u->scheme = url;
    u->scheme_len = (size_t)(sep - url);
    if (!((u->scheme_len == 4 && strncasecmp(url, "http", 4) == 0) ||
          (u->scheme_len == 5 && strncasecmp(url, "https", 5) == 0)))
        return -1;
    const char *a = sep + 3;
    size_t alen = strcspn(a, "/?#");
    const char *at = memchr(a, '@', alen);
    if (at) {
        u->has_userinfo = 1;
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    /* The port follows the last ':' unless that is inside an [IPv6] literal. */
    const char *colon = memrchr(a, ':', alen), *rb = memrchr(a, ']', alen);
    if (rb && colon && colon < rb)
        colon = NULL;
    u->host = a;
    u->host_len = colon ? (size_t)(colon - a) : alen;
    if (colon) {
        u->port = colon + 1;
        u->port_len = alen - u->host_len - 1;
        for (size_t i = 0; i < u->port_len; i++)
            if (u->port[i] < '0' || u->port[i] > '9')
                return -1;
    }
    if (u->host_len == 0)
        return -1;
    u->path = a + alen;
    u->path_len = strcspn(u->path, "?#");
    const char *rest = u->path + u->path_len;
    if (*rest == '?') {
        u->query = rest + 1;
        u->query_len = strcspn(u->query, "#");
        rest = u->query + u->query_len;
    }
    u->has_fragment = *rest == '#';
    return 0;
}

int cs_woo_check_auth(const char *base_url, cs_woo_auth mode, char *errstr,
                      size_t errstr_size)
{
    url_parts u;
    if (mode != CS_WOO_AUTH_BASIC && mode != CS_WOO_AUTH_QUERY && mode != CS_WOO_AUTH_OAUTH1) {
        set_err(errstr, errstr_size, "unknown auth mode %d (use \"basic\", \"query\" or "
                "\"oauth1\")", (int)mode);
        return -1;
    }
    if (!base_url || url_split(base_url, &u) != 0) {
        set_err(errstr, errstr_size, "base_url \"%.200s\" is not an absolute http(s) URL "
                "(e.g. https://store.example)", base_url ? base_url : "");
        return -1;
    }
    if (u.query || u.has_fragment || u.has_userinfo) {
        set_err(errstr, errstr_size, "base_url must not carry a query, fragment or user "
                "name; keys go in key/secret");
        return -1;
    }
    for (size_t i = 0; i + 8 <= u.path_len; i++)
        if (strncasecmp(u.path + i, "/wp-json", 8) == 0) {
            set_err(errstr, errstr_size, "base_url must be the store address without "
                    "/wp-json (it is appended: <base_url>%s...)", CS_WOO_API_PREFIX);
            return -1;
        }
    if (u.scheme_len != 5 && mode != CS_WOO_AUTH_OAUTH1) {      /* plain http */
        set_err(errstr, errstr_size, "auth = \"%s\" over plain http:// would send the "
                "consumer key and secret in clear, and WooCommerce ignores %s over HTTP; "
                "use an https:// base_url, or auth = \"oauth1\" for a store without TLS",
                cs_woo_auth_name(mode),
                mode == CS_WOO_AUTH_BASIC ? "Basic auth" : "keys in the query");
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------- OAuth 1.0a */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes s[0..n) as a form-urlencoded name or value ('+' is a space;
 * a '%' not followed by two hex digits stays literal, as PHP does). */
static int form_decode(cs_buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
                   hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (cs_buf_appendc(out, c) != 0)
            return -1;
    }
    return 0;
}

/* Appends "enc(k)=enc(v)" and a NUL separator to the pair store. */
static int pair_add(cs_buf *st, const char *k, const char *v)
{
    return cs_http_urlencode(st, k) != 0 || cs_buf_appendc(st, '=') != 0 ||
           cs_http_urlencode(st, v) != 0 || cs_buf_appendc(st, '\0') != 0 ? -1 : 0;
}

/* Adds the pairs of a query string (decoded, then encoded the RFC 3986 way). */
static int pair_add_query(cs_buf *st, const char *q, size_t n)
{
    cs_buf k, v;
    int rc = 0;
    cs_buf_init(&k, WOO_URL_CAP);
    cs_buf_init(&v, WOO_URL_CAP);
    for (size_t i = 0; i < n && rc == 0;) {
        size_t seg = i;
        while (seg < n && q[seg] != '&')
            seg++;
        if (seg > i) {
            const char *eq = memchr(q + i, '=', seg - i);
            size_t kl = eq ? (size_t)(eq - (q + i)) : seg - i;
            cs_buf_reset(&k);
            cs_buf_reset(&v);
            if (cs_buf_appends(&k, "") != 0 || cs_buf_appends(&v, "") != 0 ||
                form_decode(&k, q + i, kl) != 0 ||
                (eq && form_decode(&v, eq + 1, seg - i - kl - 1) != 0) ||
                pair_add(st, k.data, v.data) != 0)
                rc = -1;
        }
        i = seg + 1;
    }
    cs_buf_free(&k);
    cs_buf_free(&v);
    return rc;
}

/* RFC 5849 §3.4.1.3.2: by encoded name, then by encoded value. */
static int pair_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t xl = strcspn(x, "="), yl = strcspn(y, "=");
    int c = memcmp(x, y, xl < yl ? xl : yl);
    if (c || xl != yl)
        return c ? c : xl < yl ? -1 : 1;
    return strcmp(x + xl + 1, y + yl + 1);     /* every pair has its '=' */
}

/* Sorts the NUL-separated pairs of st and joins them with '&' into out. */
static int pairs_join_sorted(const cs_buf *st, cs_buf *out)
{
    size_t n = 0;
    for (size_t i = 0; i < st->len; i++)
        n += st->data[i] == '\0';
    const char **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0, j = 0; i < st->len; i += strlen(st->data + i) + 1)
        v[j++] = st->data + i;
    qsort(v, n, sizeof *v, pair_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if ((i && cs_buf_appendc(out, '&') != 0) || cs_buf_appends(out, v[i]) != 0)
            rc = -1;
    free(v);
    return rc;
}

static void lower_append(cs_buf *b, const char *s, size_t n, int *err)
{
    for (size_t i = 0; i < n && !*err; i++)
        *err = cs_buf_appendc(b, s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i]) != 0;
}

/* RFC 5849 §3.4.1.2 base string URI. */
static int normalized_url(const url_parts *u, cs_buf *out)
{
    int err = 0;
    lower_append(out, u->scheme, u->scheme_len, &err);
    if (!err && cs_buf_appends(out, "://") != 0)
        err = 1;
    lower_append(out, u->host, u->host_len, &err);
    int https = u->scheme_len == 5;
    int dflt = u->port_len == 0 ||
               (!https && u->port_len == 2 && memcmp(u->port, "80", 2) == 0) ||
               (https && u->port_len == 3 && memcmp(u->port, "443", 3) == 0);
    if (!err && !dflt && (cs_buf_appendc(out, ':') != 0 ||
                          cs_buf_append(out, u->port, u->port_len) != 0))
        err = 1;
    if (!err && (u->path_len ? cs_buf_append(out, u->path, u->path_len)
                             : cs_buf_appendc(out, '/')) != 0)
        err = 1;
    return err ? -1 : 0;
}

int cs_woo_oauth1_sign(const char *method, const char *url, const char *key,
                       const char *secret, const char *nonce, long timestamp,
                       cs_buf *out_query, char *errstr, size_t errstr_size)
{
    url_parts u;
    if (!method || !url || !key || !secret || !nonce || !out_query || !*key || !*nonce) {
        set_err(errstr, errstr_size, "oauth1: missing method, URL, key, secret or nonce");
        return -1;
    }
    if (url_split(url, &u) != 0 || u.has_userinfo) {
        set_err(errstr, errstr_size, "oauth1: not an absolute http(s) URL");
        return -1;
    }

    cs_buf pairs, params, base, tmp;
    char ts[32], sig[64];
    unsigned char mac[CS_SHA256_LEN];
    int rc = -1;
    cs_buf_init(&pairs, WOO_URL_CAP);
    cs_buf_init(&params, WOO_URL_CAP);
    cs_buf_init(&base, WOO_URL_CAP * 2);
    cs_buf_init(&tmp, WOO_URL_CAP);
    snprintf(ts, sizeof ts, "%ld", timestamp);

    /* Normalized parameters (§3.4.1.3), then the base string (§3.4.1.1):
     * METHOD & enc(base string URI) & enc(normalized parameters). */
    int err = (u.query && pair_add_query(&pairs, u.query, u.query_len) != 0) ||
              pair_add(&pairs, "oauth_consumer_key", key) != 0 ||
              pair_add(&pairs, "oauth_nonce", nonce) != 0 ||
              pair_add(&pairs, "oauth_signature_method", "HMAC-SHA256") != 0 ||
              pair_add(&pairs, "oauth_timestamp", ts) != 0 ||
              pairs_join_sorted(&pairs, &params) != 0;
    for (const char *m = method; *m && !err; m++)
        err = cs_buf_appendc(&base, *m >= 'a' && *m <= 'z' ? (char)(*m - 'a' + 'A') : *m) != 0;
    err = err || cs_buf_appendc(&base, '&') != 0 || normalized_url(&u, &tmp) != 0 ||
          cs_http_urlencode(&base, tmp.data) != 0 || cs_buf_appendc(&base, '&') != 0 ||
          cs_http_urlencode(&base, params.data) != 0;
    /* Signing key: consumer secret & (empty token secret). */
    cs_buf_reset(&tmp);
    err = err || cs_buf_appends(&tmp, secret) != 0 || cs_buf_appendc(&tmp, '&') != 0;
    if (!err) {
        cs_hmac_sha256(tmp.data, tmp.len, base.data, base.len, mac);
        cs_base64(mac, sizeof mac, sig, sizeof sig);    /* 44 characters: always fits */
        size_t before = out_query->len;
        if (cs_buf_append(out_query, params.data, params.len) == 0 &&
            cs_buf_appends(out_query, "&oauth_signature=") == 0 &&
            cs_http_urlencode(out_query, sig) == 0) {
            rc = 0;
        } else {
            out_query->len = before;
            if (out_query->data)
                out_query->data[before] = '\0';
        }
    }
    if (rc != 0)
        set_err(errstr, errstr_size, "oauth1: the signed query does not fit (URL too long) "
                "or memory ran out");
    if (tmp.data)
        explicit_bzero(tmp.data, tmp.alloc);
    cs_buf_free(&pairs);
    cs_buf_free(&params);
    cs_buf_free(&base);
    cs_buf_free(&tmp);
    return rc;
}

/* 32 hex characters from the kernel's CSPRNG. */
static int make_nonce(char out[33])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    cs_hex(r, sizeof r, out);
    return 0;
}

/* ------------------------------------------------------------- requests */

static cs_http_err req_fail(cs_http_resp *resp, cs_http_err err, const char *msg)
{
    cs_http_resp_reset(resp);
    resp->err = err;
    cs_strlcpy(resp->errstr, msg, sizeof resp->errstr);
    return err;
}

static void wipe_free(cs_buf *b)
{
    if (b->data)
        explicit_bzero(b->data, b->alloc);
    cs_buf_free(b);
}

cs_http_err cs_woo_request(cs_http *h, const cs_woo_conn *c, const char *method,
                           const char *path, const char *body, size_t body_len,
                           cs_http_resp *resp)
{
    if (!resp)
        return CS_HTTP_EINVAL;
    if (!h || !c || !c->base_url || !c->key || !c->secret || !method || !path ||
        (!body && body_len))
        return req_fail(resp, CS_HTTP_EINVAL, "woo: invalid arguments (connection without "
                        "base_url, key or secret?)");
    if (strchr(path, '#'))
        return req_fail(resp, CS_HTTP_EINVAL, "woo: path must not contain '#'");

    cs_buf url, q;
    char msg[256] = "woo: URL too long";
    char nonce[33];
    cs_http_err rc = CS_HTTP_EINVAL;
    const char *user = NULL, *pass = NULL;
    cs_buf_init(&url, WOO_URL_CAP);
    cs_buf_init(&q, WOO_URL_CAP);
    size_t bl = strlen(c->base_url);
    while (bl > 0 && c->base_url[bl - 1] == '/')
        bl--;
    while (*path == '/')
        path++;
    if (cs_buf_append(&url, c->base_url, bl) != 0 || cs_buf_appends(&url, CS_WOO_API_PREFIX) != 0 ||
        cs_buf_appends(&url, path) != 0)
        goto done;
    switch (c->auth) {
    case CS_WOO_AUTH_BASIC:
        user = c->key;
        pass = c->secret;
        break;
    case CS_WOO_AUTH_QUERY:
        if (cs_buf_appendc(&url, strchr(path, '?') ? '&' : '?') != 0 ||
            cs_buf_appends(&url, "consumer_key=") != 0 || cs_http_urlencode(&url, c->key) != 0 ||
            cs_buf_appends(&url, "&consumer_secret=") != 0 ||
            cs_http_urlencode(&url, c->secret) != 0)
            goto done;
        break;
    case CS_WOO_AUTH_OAUTH1:
        if (make_nonce(nonce) != 0) {
            cs_strlcpy(msg, "woo: no random bytes for the OAuth nonce", sizeof msg);
            goto done;
        }
        if (cs_woo_oauth1_sign(method, url.data, c->key, c->secret, nonce, (long)time(NULL),
                               &q, msg, sizeof msg) != 0)
            goto done;
        /* The signed query carries the path's own parameters too. */
        url.len = strcspn(url.data, "?");
        url.data[url.len] = '\0';
        cs_strlcpy(msg, "woo: URL too long", sizeof msg);
        if (cs_buf_appendc(&url, '?') != 0 || cs_buf_append(&url, q.data, q.len) != 0)
            goto done;
        break;
    default:
        cs_strlcpy(msg, "woo: unknown auth mode", sizeof msg);
        goto done;
    }

    static const char *const json_hdrs[] = {"Content-Type: application/json",
                                            "Accept: application/json", NULL};
    static const char *const plain_hdrs[] = {"Accept: application/json", NULL};
    rc = cs_http_request(h, method, url.data, body ? json_hdrs : plain_hdrs, body, body_len,
                         user, pass, resp);
    msg[0] = '\0';
done:
    wipe_free(&url);
    wipe_free(&q);
    if (msg[0])
        return req_fail(resp, rc, msg);
    return rc;
}

/* --------------------------------------------------------------- errors */

static void copy_json_str(char *dst, size_t size, json_t *v)
{
    if (json_is_string(v))
        cs_utf8_copy_trunc(dst, size, json_string_value(v), json_string_length(v));
    else if (size)
        dst[0] = '\0';
}

/* An integer member that WordPress may send as a number or a numeric string. */
static long json_long(json_t *v)
{
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_string(v)) {
        int64_t i;
        if (cs_parse_i64(json_string_value(v), INT64_MIN, INT64_MAX, &i) == 0)
            return (long)i;
    }
    return 0;
}

static void status_message(cs_woo_error *e)
{
    if (e->http_status <= 0)
        cs_strlcpy(e->message, "no HTTP answer", sizeof e->message);
    else
        snprintf(e->message, sizeof e->message, "HTTP %ld", e->http_status);
}

/* Fills e from a WP error object {"code","message","data":{...}}; returns 1
 * when obj is one (a string "code"). */
static int error_from_object(json_t *obj, cs_woo_error *e)
{
    json_t *code = json_object_get(obj, "code");
    if (!json_is_string(code))
        return 0;
    copy_json_str(e->code, sizeof e->code, code);
    copy_json_str(e->message, sizeof e->message, json_object_get(obj, "message"));
    json_t *data = json_object_get(obj, "data");
    if (json_is_object(data)) {
        long st = json_long(json_object_get(data, "status"));
        if (e->http_status <= 0 && st >= 100 && st <= 599)
            e->http_status = st;
        e->resource_id = json_long(json_object_get(data, "resource_id"));
    }
    if (!e->message[0])
        status_message(e);
    return 1;
}

void cs_woo_parse_error(const char *body, size_t len, long http_status, cs_woo_error *e)
{
    memset(e, 0, sizeof *e);
    e->http_status = http_status > 0 ? http_status : 0;
    json_t *root = NULL;
    if (body && len)
        root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    if (json_is_object(root) && error_from_object(root, e)) {
        json_decref(root);
        return;
    }
    status_message(e);
    e->not_wp = e->http_status > 0;
    if (!root && body && len) {
        char snip[WOO_SNIPPET + 1];
        size_t n = len < WOO_SNIPPET ? len : WOO_SNIPPET;
        memcpy(snip, body, n);
        snip[n] = '\0';
        cs_text_sanitize(snip, n);
        size_t k = strlen(e->message);
        snprintf(e->message + k, sizeof e->message - k, ": %s", snip);
    }
    json_decref(root);
}

static int code_is(const cs_woo_error *e, const char *code)
{
    return strcmp(e->code, code) == 0;
}

cs_class cs_woo_classify(const cs_woo_error *e)
{
    long st = e->http_status;
    if (e->code[0]) {
        if (strncmp(e->code, "woocommerce_rest_cannot_", 24) == 0)
            return st >= 500 ? CS_CLASS_TRANSIENT : CS_CLASS_AUTH;
        if (code_is(e, "woocommerce_rest_authentication_error") ||
            code_is(e, "woocommerce_rest_authentication_missing_parameter") ||
            code_is(e, "rest_no_route"))
            return CS_CLASS_AUTH;
        if (code_is(e, "internal_server_error"))
            return CS_CLASS_TRANSIENT;
        if (code_is(e, "woocommerce_rest_trash_not_supported") ||
            code_is(e, "woocommerce_rest_request_entity_too_large"))
            return CS_CLASS_BAD_ITEM;
    }
    if (st <= 0)
        return CS_CLASS_TRANSIENT;
    if (e->not_wp && st >= 400 && st < 500 && st != 408 && st != 413 && st != 429)
        return CS_CLASS_AUTH;      /* the store's setup answered, not WooCommerce */
    if (st == 429 || st == 503)
        return CS_CLASS_THROTTLE;
    if (st == 408 || st >= 500)
        return CS_CLASS_TRANSIENT;
    if (st == 401 || st == 403)
        return CS_CLASS_AUTH;
    if (st >= 400)
        return CS_CLASS_BAD_ITEM;
    if (st >= 300)
        return CS_CLASS_AUTH;
    if (st >= 200)
        return e->code[0] ? CS_CLASS_BAD_ITEM : CS_CLASS_OK;
    return CS_CLASS_TRANSIENT;
}

int cs_woo_delete_is_done(const cs_woo_error *e)
{
    if (e->http_status == 410)
        return 1;
    return e->http_status == 404 && (code_is(e, "woocommerce_rest_product_invalid_id") ||
                                     code_is(e, "woocommerce_rest_invalid_id"));
}

int cs_woo_delete_needs_force(const cs_woo_error *e)
{
    return code_is(e, "woocommerce_rest_trash_not_supported");
}

/* ---------------------------------------------------------------- batch */

static void parse_item(json_t *el, cs_woo_item_result *r)
{
    r->id = json_long(json_object_get(el, "id"));
    json_t *err = json_object_get(el, "error");
    r->ok = err == NULL;
    if (err) {
        if (!json_is_object(err) || !error_from_object(err, &r->err)) {
            copy_json_str(r->err.message, sizeof r->err.message, err);
            if (!r->err.message[0])
                cs_strlcpy(r->err.message, "item failed without an error message",
                           sizeof r->err.message);
        }
        if (r->err.http_status <= 0)
            r->err.http_status = 400;
    }
    copy_json_str(r->sku, sizeof r->sku, json_object_get(el, "sku"));
    json_t *ms = json_object_get(el, "manage_stock"), *qty = json_object_get(el, "stock_quantity");
    r->stock_managed = !ms ? -1 : json_is_true(ms) && json_is_number(qty);
    json_t *imgs = json_object_get(el, "images");
    size_t i;
    json_t *img;
    json_array_foreach(imgs, i, img) {
        if (r->n_images == CS_WOO_IMAGES_MAX)
            break;
        r->image_ids[r->n_images++] = json_long(json_object_get(img, "id"));
    }
}

static int parse_list(json_t *root, const char *name, size_t want, cs_woo_item_result **out,
                      size_t *n_out, char *errstr, size_t errstr_size)
{
    json_t *list = json_object_get(root, name);
    if (!list && want == 0)
        return 0;
    if (!json_is_array(list)) {
        set_err(errstr, errstr_size, "batch answer has no \"%s\" list, but %zu item(s) "
                "were sent", name, want);
        return -1;
    }
    size_t n = json_array_size(list);
    if (n != want) {
        set_err(errstr, errstr_size, "batch answer lists %zu \"%s\" result(s) for %zu sent: "
                "results cannot be matched by position", n, name, want);
        return -1;
    }
    if (n == 0)
        return 0;
    cs_woo_item_result *r = calloc(n, sizeof *r);
    if (!r) {
        set_err(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *el = json_array_get(list, i);
        if (!json_is_object(el)) {
            free(r);
            set_err(errstr, errstr_size, "batch answer \"%s\"[%zu] is not an object", name, i);
            return -1;
        }
        parse_item(el, &r[i]);
    }
    *out = r;
    *n_out = n;
    return 0;
}

int cs_woo_parse_batch(const char *body, size_t len, size_t want_create, size_t want_update,
                       size_t want_del, cs_woo_batch_reply *out, char *errstr,
                       size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    if (!json_is_object(root)) {
        set_err(errstr, errstr_size, "batch answer is not a JSON object");
        json_decref(root);
        return -1;
    }
    if (json_is_string(json_object_get(root, "code"))) {
        cs_woo_error e = {0};
        error_from_object(root, &e);
        set_err(errstr, errstr_size, "batch answer is an error: %s: %s", e.code, e.message);
        json_decref(root);
        return -1;
    }
    int rc = 0;
    if (parse_list(root, "create", want_create, &out->create, &out->n_create, errstr,
                   errstr_size) != 0 ||
        parse_list(root, "update", want_update, &out->update, &out->n_update, errstr,
                   errstr_size) != 0 ||
        parse_list(root, "delete", want_del, &out->del, &out->n_del, errstr, errstr_size) != 0) {
        cs_woo_batch_reply_free(out);
        rc = -1;
    }
    json_decref(root);
    return rc;
}

void cs_woo_batch_reply_free(cs_woo_batch_reply *r)
{
    if (!r)
        return;
    free(r->create);
    free(r->update);
    free(r->del);
    memset(r, 0, sizeof *r);
}

/* A serialized object: '{' ... '}' around optional whitespace. */
static int looks_like_object(const char *s)
{
    static const char ws[] = " \t\r\n";
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && strchr(ws, s[n - 1]))
        n--;
    return n > 0 && s[strspn(s, ws)] == '{' && s[n - 1] == '}';
}

static int append_objects(cs_buf *b, const char *name, const char *const *objs, size_t n,
                          int *first)
{
    if (n == 0)
        return 0;
    if (cs_buf_appends(b, *first ? "\"" : ",\"") != 0 || cs_buf_appends(b, name) != 0 ||
        cs_buf_appends(b, "\":[") != 0)
        return -1;
    *first = 0;
    for (size_t i = 0; i < n; i++) {
        if (!looks_like_object(objs[i]))
            return -1;
        if ((i && cs_buf_appendc(b, ',') != 0) || cs_buf_appends(b, objs[i]) != 0)
            return -1;
    }
    return cs_buf_appendc(b, ']');
}

int cs_woo_batch_body(cs_buf *out, const char *const *creates, size_t n_create,
                      const char *const *updates, size_t n_update,
                      const long *deletes, size_t n_delete)
{
    if (!out || (n_create && !creates) || (n_update && !updates) || (n_delete && !deletes))
        return -1;
    cs_buf b;
    int first = 1, rc = -1;
    cs_buf_init(&b, out->len < out->cap ? out->cap - out->len : 1);
    if (cs_buf_appendc(&b, '{') != 0 ||
        append_objects(&b, "create", creates, n_create, &first) != 0 ||
        append_objects(&b, "update", updates, n_update, &first) != 0)
        goto done;
    if (n_delete) {
        if (cs_buf_appends(&b, first ? "\"delete\":[" : ",\"delete\":[") != 0)
            goto done;
        for (size_t i = 0; i < n_delete; i++)
            if (deletes[i] <= 0 || cs_buf_appendf(&b, i ? ",%ld" : "%ld", deletes[i]) != 0)
                goto done;
        if (cs_buf_appendc(&b, ']') != 0)
            goto done;
    }
    if (cs_buf_appendc(&b, '}') != 0)
        goto done;
    rc = cs_buf_append(out, b.data, b.len);
done:
    cs_buf_free(&b);
    return rc;
}

/* ----------------------------------------------------------- SKU lookup */

long cs_woo_parse_sku_lookup(const char *body, size_t len, const char *sku, int *trashed)
{
    if (trashed)
        *trashed = 0;
    if (!body || !len || !sku)
        return -1;
    json_t *root = json_loadb(body, len, 0, NULL);
    if (!json_is_array(root)) {
        json_decref(root);
        return -1;
    }
    long live = 0, trash = 0, rc = 0;
    size_t i;
    json_t *el;
    json_array_foreach(root, i, el) {
        if (!json_is_object(el)) {
            rc = -1;
            break;
        }
        json_t *s = json_object_get(el, "sku");
        if (!json_is_string(s) || strcasecmp(json_string_value(s), sku) != 0)
            continue;
        const char *type = json_string_value(json_object_get(el, "type"));
        if (json_long(json_object_get(el, "parent_id")) > 0 ||
            (type && strcmp(type, "variation") == 0))
            continue;
        json_t *idv = json_object_get(el, "id");
        long id = json_is_integer(idv) ? (long)json_integer_value(idv) : 0;
        if (id <= 0) {
            rc = -1;
            break;
        }
        const char *status = json_string_value(json_object_get(el, "status"));
        long *slot = status && strcmp(status, "trash") == 0 ? &trash : &live;
        if (*slot == 0 || id < *slot)
            *slot = id;
    }
    json_decref(root);
    if (rc < 0)
        return -1;
    if (live)
        return live;
    if (trash && trashed)
        *trashed = 1;
    return trash;
}

int64_t cs_woo_pause_ms(cs_class cls, int64_t retry_after_ms, int64_t throttle_default_ms,
                        int64_t auth_pause_ms)
{
    if (cls == CS_CLASS_AUTH)
        return auth_pause_ms;
    if (retry_after_ms <= 0)
        return throttle_default_ms;
    return retry_after_ms > CS_CHANNEL_MAX_PAUSE_MS ? CS_CHANNEL_MAX_PAUSE_MS : retry_after_ms;
}

size_t cs_woo_parse_lookup_images(const char *body, size_t len, long id, long *ids,
                                  char (*files)[CS_WOO_FILE_MAX], size_t max)
{
    size_t n = 0, i, k;
    json_t *el, *img;
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_array_foreach(root, i, el) {
        if (json_long(json_object_get(el, "id")) != id)
            continue;
        json_array_foreach(json_object_get(el, "images"), k, img) {
            const char *src = json_string_value(json_object_get(img, "src"));
            long aid = json_long(json_object_get(img, "id"));
            if (n == max || aid <= 0 || !src)
                break;
            const char *slash = strrchr(src, '/');
            const char *file = slash ? slash + 1 : src;
            size_t fl = strcspn(file, "?#");
            if (fl >= CS_WOO_FILE_MAX)
                break;
            memcpy(files[n], file, fl);
            files[n][fl] = '\0';
            ids[n++] = aid;
        }
        break;
    }
    json_decref(root);
    return n;
}

int cs_woo_parse_currency(const char *body, size_t len, char out[4])
{
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(root, "code"));
    int rc = -1;
    if (c && strlen(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' &&
        c[2] >= 'A' && c[2] <= 'Z') {
        memcpy(out, c, 4);
        rc = 0;
    }
    json_decref(root);
    return rc;
}
