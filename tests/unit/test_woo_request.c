/* Unit test for cs_woo_request against a scripted HTTP server on 127.0.0.1
 * run in a thread of this test: Basic, query-string and OAuth 1.0a
 * credentials arrive as WooCommerce expects them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cs_buf.h"
#include "cs_http.h"
#include "woo_rest.h"

/* ------------------------------------------------------- scripted server */

typedef struct fake_srv {
    int lfd, port;
    pthread_t th;
    pthread_mutex_t mu;
    int stop;
    /* the next answer */
    int status;
    char answer_headers[256];
    char answer_body[1024];
    /* the last request */
    char method[16];
    char target[4096];
    char headers[8192];
    char body[4096];
    int n_requests;
} fake_srv;

static int srv_stopping(fake_srv *s)
{
    pthread_mutex_lock(&s->mu);
    int st = s->stop;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Reads one request (headers, then Content-Length bytes); 0 on success. */
static int srv_read_request(fake_srv *s, int fd, char *buf, size_t cap, size_t *hlen,
                            size_t *total)
{
    size_t len = 0;
    char *eoh = NULL;
    size_t clen = 0;
    while (!srv_stopping(s)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        if (!eoh && (eoh = strstr(buf, "\r\n\r\n")) != NULL) {
            *hlen = (size_t)(eoh - buf) + 4;
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            clen = cl && cl < eoh ? strtoul(cl + 17, NULL, 10) : 0;
        }
        if (eoh && len >= *hlen + clen) {
            *total = *hlen + clen;
            return 0;
        }
        if (len == cap - 1)
            return -1;
    }
    return -1;
}

static void *srv_main(void *arg)
{
    fake_srv *s = arg;
    static char buf[16384];
    while (!srv_stopping(s)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        size_t hlen = 0, total = 0;
        if (srv_read_request(s, fd, buf, sizeof buf, &hlen, &total) == 0) {
            char out[2048];
            pthread_mutex_lock(&s->mu);
            sscanf(buf, "%15s %4095s", s->method, s->target);
            snprintf(s->headers, sizeof s->headers, "%.*s", (int)hlen, buf);
            snprintf(s->body, sizeof s->body, "%.*s", (int)(total - hlen), buf + hlen);
            s->n_requests++;
            int n = snprintf(out, sizeof out, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s", s->status,
                             strlen(s->answer_body), s->answer_headers, s->answer_body);
            pthread_mutex_unlock(&s->mu);
            send(fd, out, (size_t)n, MSG_NOSIGNAL);
        }
        close(fd);
    }
    return NULL;
}

static int srv_setup(void **state)
{
    fake_srv *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    pthread_mutex_init(&s->mu, NULL);
    s->status = 200;
    snprintf(s->answer_body, sizeof s->answer_body, "[]");
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->lfd, 8) != 0 || getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0 ||
        pthread_create(&s->th, NULL, srv_main, s) != 0) {
        if (s->lfd >= 0)
            close(s->lfd);
        free(s);
        return -1;
    }
    s->port = ntohs(a.sin_port);
    *state = s;
    return 0;
}

static int srv_teardown(void **state)
{
    fake_srv *s = *state;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return 0;
}

static void srv_script(fake_srv *s, int status, const char *headers, const char *body)
{
    pthread_mutex_lock(&s->mu);
    s->status = status;
    snprintf(s->answer_headers, sizeof s->answer_headers, "%s", headers);
    snprintf(s->answer_body, sizeof s->answer_body, "%s", body);
    pthread_mutex_unlock(&s->mu);
}

static void srv_last(fake_srv *s, fake_srv *copy)
{
    pthread_mutex_lock(&s->mu);
    memcpy(copy->method, s->method, sizeof s->method);
    memcpy(copy->target, s->target, sizeof s->target);
    memcpy(copy->headers, s->headers, sizeof s->headers);
    memcpy(copy->body, s->body, sizeof s->body);
    copy->n_requests = s->n_requests;
    pthread_mutex_unlock(&s->mu);
}

static cs_http *new_client(void)
{
    char err[256];
    cs_http_opts o = {.timeout_ms = 5000};
    cs_http *h = cs_http_new(&o, err, sizeof err);
    if (!h)
        fail_msg("cs_http_new: %s", err);
    return h;
}

/* Value of query parameter name in target ("" when absent). */
static void query_param(const char *target, const char *name, char *out, size_t size)
{
    const char *q = strchr(target, '?');
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = q; p && *p; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, name, nl) == 0 && p[1 + nl] == '=') {
            snprintf(out, size, "%.*s", (int)strcspn(p + 2 + nl, "&"), p + 2 + nl);
            return;
        }
    }
}

static void test_request_roundtrip(void **state)
{
    fake_srv *s = *state, got;
    cs_http *h = new_client();
    cs_http_resp r;
    cs_http_resp_init(&r);
    char base[64], url[256];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", s->port);
    cs_woo_conn c = {.base_url = base, .auth = CS_WOO_AUTH_BASIC, .key = "ck_live",
                     .secret = "cs_s3cr:et"};

    /* Basic: the credentials travel in the header, the body as JSON. */
    srv_script(s, 200, "", "{\"create\":[]}");
    const char *body = "{\"create\":[{\"sku\":\"A\"}]}";
    assert_int_equal(cs_woo_request(h, &c, "POST", "products/batch", body, strlen(body), &r),
                     CS_HTTP_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"create\":[]}");
    srv_last(s, &got);
    assert_string_equal(got.method, "POST");
    assert_string_equal(got.target, "/wp-json/wc/v3/products/batch");
    assert_string_equal(got.body, body);
    /* base64("ck_live:cs_s3cr:et") */
    assert_non_null(strstr(got.headers, "\r\nAuthorization: Basic Y2tfbGl2ZTpjc19zM2NyOmV0\r\n"));
    assert_non_null(strcasestr(got.headers, "\r\nContent-Type: application/json\r\n"));

    /* Query keys: appended to the path's own query, nothing in headers. */
    c.auth = CS_WOO_AUTH_QUERY;
    srv_script(s, 200, "", "[{\"id\":7,\"sku\":\"A\",\"status\":\"publish\"}]");
    assert_int_equal(cs_woo_request(h, &c, "GET", "/products?sku=A&status=any", NULL, 0, &r),
                     CS_HTTP_OK);
    assert_int_equal(cs_woo_parse_sku_lookup(r.body.data, r.body.len, "A", NULL), 7);
    srv_last(s, &got);
    assert_string_equal(got.method, "GET");
    assert_string_equal(got.target, "/wp-json/wc/v3/products?sku=A&status=any"
                                    "&consumer_key=ck_live&consumer_secret=cs_s3cr%3Aet");
    assert_null(strcasestr(got.headers, "\r\nAuthorization:"));
    assert_null(strcasestr(got.headers, "\r\nContent-Type:"));
    assert_int_equal(cs_woo_request(h, &c, "DELETE", "products/9", NULL, 0, &r), CS_HTTP_OK);
    srv_last(s, &got);
    assert_string_equal(got.target, "/wp-json/wc/v3/products/9"
                                    "?consumer_key=ck_live&consumer_secret=cs_s3cr%3Aet");

    /* OAuth 1.0a: parameters in the query, signature over the path's query. */
    c.auth = CS_WOO_AUTH_OAUTH1;
    srv_script(s, 200, "", "{\"id\":9}");
    long before = (long)time(NULL);
    assert_int_equal(cs_woo_request(h, &c, "PUT", "products/9?force=true", "{}", 2, &r),
                     CS_HTTP_OK);
    srv_last(s, &got);
    assert_string_equal(got.method, "PUT");
    assert_null(strcasestr(got.headers, "\r\nAuthorization:"));
    char nonce[64], ts[32], sig[128], v[64];
    query_param(got.target, "oauth_nonce", nonce, sizeof nonce);
    query_param(got.target, "oauth_timestamp", ts, sizeof ts);
    query_param(got.target, "oauth_signature", sig, sizeof sig);
    assert_int_equal(strlen(nonce), 32);
    assert_int_equal(strspn(nonce, "0123456789abcdef"), 32);
    long t = strtol(ts, NULL, 10);
    assert_true(t >= before && t <= (long)time(NULL));
    assert_true(strlen(sig) > 40);
    query_param(got.target, "oauth_consumer_key", v, sizeof v);
    assert_string_equal(v, "ck_live");
    query_param(got.target, "oauth_signature_method", v, sizeof v);
    assert_string_equal(v, "HMAC-SHA256");
    query_param(got.target, "force", v, sizeof v);
    assert_string_equal(v, "true");
    assert_null(strstr(got.target, "consumer_secret"));
    assert_null(strstr(got.target, "cs_s3cr"));
    /* The same signed query from the signer, for the URL the client used. */
    cs_buf q;
    cs_buf_init(&q, 0);
    snprintf(url, sizeof url, "%swp-json/wc/v3/products/9?force=true", base);
    assert_int_equal(cs_woo_oauth1_sign("PUT", url, "ck_live", "cs_s3cr:et", nonce, t, &q,
                                        NULL, 0), 0);
    assert_string_equal(strchr(got.target, '?') + 1, q.data);
    cs_buf_free(&q);
    /* A fresh nonce per request. */
    assert_int_equal(cs_woo_request(h, &c, "GET", "products", NULL, 0, &r), CS_HTTP_OK);
    srv_last(s, &got);
    query_param(got.target, "oauth_nonce", v, sizeof v);
    assert_string_not_equal(v, nonce);

    /* 503 with Retry-After: throttle for that long. */
    c.auth = CS_WOO_AUTH_BASIC;
    srv_script(s, 503, "Retry-After: 30\r\n", "<html>busy</html>");
    assert_int_equal(cs_woo_request(h, &c, "GET", "products", NULL, 0, &r), CS_HTTP_OK);
    assert_int_equal(r.status, 503);
    cs_woo_error e;
    cs_woo_parse_error(r.body.data, r.body.len, r.status, &e);
    assert_int_equal(cs_woo_classify(&e), CS_CLASS_THROTTLE);
    assert_int_equal(cs_http_retry_after_ms(&r, 0), 30000);
    srv_script(s, 401, "", "{\"code\":\"woocommerce_rest_cannot_create\",\"message\":\"Sorry, you "
               "are not allowed to create resources.\",\"data\":{\"status\":401}}");
    assert_int_equal(cs_woo_request(h, &c, "POST", "products", "{}", 2, &r), CS_HTTP_OK);
    cs_woo_parse_error(r.body.data, r.body.len, r.status, &e);
    assert_int_equal(cs_woo_classify(&e), CS_CLASS_AUTH);
    assert_string_equal(e.message, "Sorry, you are not allowed to create resources.");

    /* Refusals before any I/O. */
    srv_last(s, &got);
    int n_before = got.n_requests;
    cs_woo_conn nokey = {.base_url = base, .auth = CS_WOO_AUTH_BASIC, .key = NULL, .secret = "s"};
    assert_int_equal(cs_woo_request(h, &nokey, "GET", "products", NULL, 0, &r), CS_HTTP_EINVAL);
    assert_int_equal(r.err, CS_HTTP_EINVAL);
    assert_true(r.errstr[0] != '\0');
    cs_woo_conn badmode = {.base_url = base, .auth = (cs_woo_auth)9, .key = "k", .secret = "s"};
    assert_int_equal(cs_woo_request(h, &badmode, "GET", "products", NULL, 0, &r), CS_HTTP_EINVAL);
    assert_int_equal(cs_woo_request(h, &c, "GET", "products#x", NULL, 0, &r), CS_HTTP_EINVAL);
    assert_int_equal(cs_woo_request(h, &c, "GET", "products", NULL, 3, &r), CS_HTTP_EINVAL);
    assert_int_equal(cs_woo_request(h, &c, "TRACE", "products", NULL, 0, &r), CS_HTTP_EINVAL);
    c.auth = CS_WOO_AUTH_OAUTH1;
    cs_woo_conn badurl = c;
    badurl.base_url = "not a url";
    assert_int_equal(cs_woo_request(h, &badurl, "GET", "products", NULL, 0, &r), CS_HTTP_EINVAL);
    assert_null(strstr(r.errstr, "cs_s3cr"));
    srv_last(s, &got);
    assert_int_equal(got.n_requests, n_before);

    /* No HTTP answer: transient. */
    cs_woo_conn closed = {.base_url = "http://127.0.0.1:1", .auth = CS_WOO_AUTH_OAUTH1,
                          .key = "k", .secret = "s"};
    assert_int_not_equal(cs_woo_request(h, &closed, "GET", "products", NULL, 0, &r), CS_HTTP_OK);
    cs_woo_parse_error(r.body.data, r.body.len, r.status, &e);
    assert_int_equal(cs_woo_classify(&e), CS_CLASS_TRANSIENT);

    cs_http_resp_free(&r);
    cs_http_destroy(h);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_roundtrip, srv_setup, srv_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
