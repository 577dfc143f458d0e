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

#define WOO_URL_CAP   ((size_t)64 * 1024)

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
        cs_set_why(errstr, errstr_size, "unknown auth mode %d (use \"basic\", \"query\" or "
                "\"oauth1\")", (int)mode);
        return -1;
    }
    if (!base_url || url_split(base_url, &u) != 0) {
        cs_set_why(errstr, errstr_size, "base_url \"%.200s\" is not an absolute http(s) URL "
                "(e.g. https://store.example)", base_url ? base_url : "");
        return -1;
    }
    if (u.query || u.has_fragment || u.has_userinfo) {
        cs_set_why(errstr, errstr_size, "base_url must not carry a query, fragment or user "
                "name; keys go in key/secret");
        return -1;
    }
    for (size_t i = 0; i + 8 <= u.path_len; i++)
        if (strncasecmp(u.path + i, "/wp-json", 8) == 0) {
            cs_set_why(errstr, errstr_size, "base_url must be the store address without "
                    "/wp-json (it is appended: <base_url>%s...)", CS_WOO_API_PREFIX);
            return -1;
        }
    if (u.scheme_len != 5 && mode != CS_WOO_AUTH_OAUTH1) {      /* plain http */
        cs_set_why(errstr, errstr_size, "auth = \"%s\" over plain http:// would send the "
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
        cs_set_why(errstr, errstr_size, "oauth1: missing method, URL, key, secret or nonce");
        return -1;
    }
    if (url_split(url, &u) != 0 || u.has_userinfo) {
        cs_set_why(errstr, errstr_size, "oauth1: not an absolute http(s) URL");
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
        cs_set_why(errstr, errstr_size, "oauth1: the signed query does not fit (URL too long) "
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
