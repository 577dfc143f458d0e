/* Requests made of parts and responses without a server (cs_httpd.h), so
 * that tests and fuzzers drive handlers without a socket. */
#include "cs_httpd_int.h"
#include "cs_util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decoding and '+' as a space, as libmicrohttpd decodes arguments
 * (an invalid escape is kept as it is). */
static char *decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

static int add_pair(cs_httpd_req *r, size_t *cap, char *name, char *value)
{
    size_t n = r->n_query + r->n_headers;
    if (!name || !value)
        goto fail;
    if (n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        char **a = realloc(r->names, c * sizeof *a);
        if (!a)
            goto fail;
        r->names = a;
        char **b = realloc(r->values, c * sizeof *b);
        if (!b)
            goto fail;
        r->values = b;
        *cap = c;
    }
    r->names[n] = name;
    r->values[n] = value;
    return 0;
fail:
    free(name);
    free(value);
    return -1;
}

cs_httpd_req *cs_httpd_req_new(const char *method, const char *path, const char *query,
                               const char *const *headers, size_t n_headers,
                               const char *body, size_t body_len, const char *peer)
{
    cs_httpd_req *r = calloc(1, sizeof *r);
    size_t cap = 0, ml = strlen(method), pl = strlen(path);
    if (!r || !(r->own = malloc(ml + pl + 2)))
        goto fail;
    memcpy(r->own, method, ml + 1);
    memcpy(r->own + ml + 1, path, pl + 1);
    r->method = r->own;
    r->path = r->own + ml + 1;
    cs_strlcpy(r->peer, peer ? peer : "", sizeof r->peer);
    cs_buf_init(&r->body, 0);
    if (body_len && cs_buf_append(&r->body, body, body_len) != 0)
        goto fail;
    for (const char *q = query; q && *q;) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        if (len) {
            size_t nl = eq ? (size_t)(eq - q) : len;
            if (add_pair(r, &cap, decode(q, nl), eq ? decode(eq + 1, len - nl - 1)
                                                    : decode("", 0)) != 0)
                goto fail;
            r->n_query++;
        }
        q += len + (q[len] == '&');
    }
    for (size_t i = 0; i < n_headers; i++) {
        const char *colon = strchr(headers[i], ':');
        if (!colon)
            continue;
        const char *v = colon + 1;
        v += strspn(v, " \t");
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        char *name = strndup(headers[i], (size_t)(colon - headers[i]));
        if (add_pair(r, &cap, name, strndup(v, vl)) != 0)
            goto fail;
        r->n_headers++;
    }
    return r;
fail:
    cs_httpd_req_free(r);
    return NULL;
}

void cs_httpd_req_free(cs_httpd_req *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_query + r->n_headers; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->names);
    free(r->values);
    free(r->own);
    cs_buf_free(&r->body);
    free(r);
}

const char *cs_httpd_parts_query(const cs_httpd_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_query; i++)
        if (strcmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

const char *cs_httpd_parts_header(const cs_httpd_req *r, const char *name)
{
    for (size_t i = r->n_query; i < r->n_query + r->n_headers; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

cs_httpd_resp *cs_httpd_resp_new(void)
{
    cs_httpd_resp *r = malloc(sizeof *r);
    if (r)
        cs_httpd_resp_init_(r);
    return r;
}

void cs_httpd_resp_free(cs_httpd_resp *r)
{
    if (r) {
        cs_httpd_resp_free_(r);
        free(r);
    }
}

int cs_httpd_resp_get_status(const cs_httpd_resp *r)
{
    return r->status;
}

const char *cs_httpd_resp_get_type(const cs_httpd_resp *r)
{
    return r->type;
}

const char *cs_httpd_resp_get_header(const cs_httpd_resp *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}
