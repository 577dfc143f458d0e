/* Unit tests for cs_sha256 (FIPS 180-2, RFC 4231, RFC 4648 vectors) and
 * cs_http against a scripted HTTP server on 127.0.0.1 run in a thread of
 * this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cs_buf.h"
#include "cs_http.h"
#include "cs_log.h"
#include "cs_sha256.h"
#include "cs_util.h"
#include "meta_graph.h"

/* ---------------------------------------------------------------- sha256 */

static void hex_of(const unsigned char *d, char *out) { cs_hex(d, 32, out); }

static void test_sha256_fips(void **state __attribute__((unused)))
{
    unsigned char d[32];
    char hex[65];
    cs_sha256("abc", 3, d);
    hex_of(d, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cs_sha256("", 0, d);
    hex_of(d, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cs_sha256(m448, strlen(m448), d);
    hex_of(d, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *million = malloc(1000000);
    assert_non_null(million);
    memset(million, 'a', 1000000);
    cs_sha256(million, 1000000, d);
    free(million);
    hex_of(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_hmac_rfc4231(void **state __attribute__((unused)))
{
    unsigned char key20[20], key131[131], d[32];
    char hex[65];
    memset(key20, 0x0b, sizeof key20);
    memset(key131, 0xaa, sizeof key131);

    cs_hmac_sha256(key20, sizeof key20, "Hi There", 8, d);               /* case 1 */
    hex_of(d, hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    const char *m2 = "what do ya want for nothing?";                       /* case 2 */
    cs_hmac_sha256("Jefe", 4, m2, strlen(m2), d);
    hex_of(d, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    cs_hmac_sha256(key131, sizeof key131, m6, strlen(m6), d);              /* case 6 */
    hex_of(d, hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    const char *m7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the "
                     "HMAC algorithm.";
    cs_hmac_sha256(key131, sizeof key131, m7, strlen(m7), d);              /* case 7 */
    hex_of(d, hex);
    assert_string_equal(hex, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static void test_base64_rfc4648(void **state __attribute__((unused)))
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                       "Zm9vYmFy"};
    char out[16];
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        assert_int_equal(cs_base64(in[i], strlen(in[i]), out, sizeof out), strlen(want[i]));
        assert_string_equal(out, want[i]);
    }
    assert_int_equal(cs_base64("foobar", 6, out, 8), 0);    /* no room for the NUL */
    assert_string_equal(out, "");
    assert_int_equal(cs_base64("foobar", 6, out, 9), 8);
    assert_int_equal(cs_base64("\xff\xfe", 2, out, sizeof out), 4);
    assert_string_equal(out, "//4=");
}

/* ------------------------------------------------------ scripted server */

typedef struct fake_srv {
    int lfd;
    int port;
    pthread_t th;
    pthread_mutex_t mu;
    int stop;
    int n_accepted;
    int n_requests;
    char method[16];
    char target[1024];
    char headers[16384];
    char body[8192];
    size_t body_len;
} fake_srv;

static int srv_stopping(fake_srv *s)
{
    pthread_mutex_lock(&s->mu);
    int st = s->stop;
    pthread_mutex_unlock(&s->mu);
    return st;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;     /* the client gave up (cap exceeded): fine */
        c += w;
        n -= (size_t)w;
    }
}

static void send_str(int fd, const char *s) { send_all(fd, s, strlen(s)); }

/* Reads more bytes into buf; 1 when something arrived, 0 on EOF/stop. */
static int srv_read(fake_srv *s, int fd, char *buf, size_t *len, size_t cap)
{
    while (!srv_stopping(s)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = recv(fd, buf + *len, cap - *len, 0);
        if (r <= 0)
            return 0;
        *len += (size_t)r;
        return 1;
    }
    return 0;
}

static const unsigned char gzip_body[] =
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x57\x48\xaf\xca\x2c\x50"
    "\xc8\x18\x6e\x4c\x00\xd9\x94\xfb\xac\xdc\x00\x00\x00";

#define BUC_SAMPLE "{\"1234\":[{\"type\":\"catalog_batch\",\"call_count\":95," \
                   "\"total_cputime\":20,\"total_time\":20,\"estimated_time_to_regain_access\":3}]}"

/* Answers one request by path; returns 0 to keep the connection, 1 to close
 * it, 2 to stay silent (the client is expected to time out). */
static int srv_answer(int fd, const char *path)
{
    char big[4096];
    memset(big, 'x', sizeof big);
    if (strncmp(path, "/hang", 5) == 0)
        return 2;
    if (strncmp(path, "/bigchunked", 11) == 0) {
        send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 4; i++) {
            send_str(fd, "400\r\n");
            send_all(fd, big, 1024);
            send_str(fd, "\r\n");
        }
        send_str(fd, "0\r\n\r\n");
        return 0;
    }
    if (strncmp(path, "/big", 4) == 0) {
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n");
        send_all(fd, big, sizeof big);
        return 0;
    }
    if (strncmp(path, "/hdrbomb", 8) == 0) {
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
        char line[1024];
        for (int i = 0; i < 70; i++) {
            snprintf(line, sizeof line, "X-Pad-%d: %.*s\r\n", i, 990, big);
            send_str(fd, line);
        }
        send_str(fd, "\r\nok");
        return 0;
    }
    if (strncmp(path, "/continue", 9) == 0) {
        send_str(fd, "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok");
        return 0;
    }
    if (strncmp(path, "/gzip", 5) == 0) {
        char h[128];
        snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                              "Content-Length: %zu\r\n\r\n", sizeof gzip_body - 1);
        send_str(fd, h);
        send_all(fd, gzip_body, sizeof gzip_body - 1);
        return 0;
    }
    if (strncmp(path, "/redirect", 9) == 0) {
        send_str(fd, "HTTP/1.1 302 Found\r\nLocation: /json\r\nContent-Length: 5\r\n\r\nmoved");
        return 0;
    }
    if (strncmp(path, "/date", 5) == 0) {
        send_str(fd, "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n"
                     "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n");
        return 0;
    }
    if (strncmp(path, "/html500", 8) == 0) {
        send_str(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n"
                     "Content-Length: 28\r\n\r\n<html><b>oops</b>\r\n</html>\r\n");
        return 0;
    }
    if (strncmp(path, "/close", 6) == 0) {
        send_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
        return 1;
    }
    const char *json = "{\"id\":\"123\"}";
    char h[512];
    snprintf(h, sizeof h,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Retry-After: 7\r\nX-Business-Use-Case-Usage: %s\r\n"
             "X-Dup: one\r\nx-dup:   two  \r\n\r\n%s", strlen(json), BUC_SAMPLE, json);
    send_str(fd, h);
    return 0;
}

static void srv_serve_conn(fake_srv *s, int fd)
{
    char buf[65536];
    size_t len = 0;
    for (;;) {
        char *eoh;
        while (!(eoh = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len > 0 && (unsigned char)buf[0] == 0x16) {
                /* A TLS ClientHello: answer in plain text so the client's
                 * handshake fails at once. */
                send_str(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
                return;
            }
            if (len == sizeof buf - 1 || !srv_read(s, fd, buf, &len, sizeof buf - 1))
                return;
        }
        size_t hlen = (size_t)(eoh - buf) + 4;
        buf[hlen - 2] = '\0';
        size_t clen = 0;
        const char *cl = strcasestr(buf, "\r\ncontent-length:");
        if (cl)
            clen = strtoul(cl + 17, NULL, 10);
        if (hlen + clen > sizeof buf - 1)
            return;
        while (len < hlen + clen)
            if (!srv_read(s, fd, buf, &len, sizeof buf - 1))
                return;

        char method[16] = "", target[1024] = "";
        sscanf(buf, "%15s %1023s", method, target);
        pthread_mutex_lock(&s->mu);
        s->n_requests++;
        cs_strlcpy(s->method, method, sizeof s->method);
        cs_strlcpy(s->target, target, sizeof s->target);
        cs_strlcpy(s->headers, buf, sizeof s->headers);
        s->body_len = clen < sizeof s->body ? clen : sizeof s->body - 1;
        memcpy(s->body, buf + hlen, s->body_len);
        s->body[s->body_len] = '\0';
        pthread_mutex_unlock(&s->mu);

        int what = srv_answer(fd, target);
        if (what == 1)
            return;
        memmove(buf, buf + hlen + clen, len - hlen - clen);
        len -= hlen + clen;
    }
}

static void *srv_main(void *arg)
{
    fake_srv *s = arg;
    while (!srv_stopping(s)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        s->n_accepted++;
        pthread_mutex_unlock(&s->mu);
        srv_serve_conn(s, fd);
        close(fd);
    }
    return NULL;
}

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int srv_setup(void **state)
{
    fake_srv *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = listen_any(&s->port);
    if (s->lfd < 0 || pthread_create(&s->th, NULL, srv_main, s) != 0) {
        free(s);
        return -1;
    }
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

static void url_of(const fake_srv *s, const char *path, char *out, size_t n)
{
    snprintf(out, n, "http://127.0.0.1:%d%s", s->port, path);
}

/* Copies what the server last received (the server thread writes it). */
static void srv_last(fake_srv *s, fake_srv *copy)
{
    pthread_mutex_lock(&s->mu);
    memcpy(copy->method, s->method, sizeof s->method);
    memcpy(copy->target, s->target, sizeof s->target);
    memcpy(copy->headers, s->headers, sizeof s->headers);
    memcpy(copy->body, s->body, sizeof s->body);
    copy->body_len = s->body_len;
    copy->n_accepted = s->n_accepted;
    copy->n_requests = s->n_requests;
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------- cs_http */

static cs_http *new_client(long timeout_ms, size_t max_response)
{
    cs_http_opts o = {.timeout_ms = timeout_ms, .max_response = max_response};
    char err[256];
    cs_http *h = cs_http_new(&o, err, sizeof err);
    if (!h)
        fail_msg("cs_http_new: %s", err);
    return h;
}

static void test_http_request_and_headers(void **state)
{
    fake_srv *s = *state, got;
    FILE *logf = tmpfile();
    assert_non_null(logf);
    cs_log_set_stream(logf);

    cs_http *h = new_client(0, 0);
    cs_http_resp r;
    cs_http_resp_init(&r);
    char url[256];
    url_of(s, "/v25.0/123/items_batch?access_token=SECRETTOKEN", url, sizeof url);
    const char *hdrs[] = {"Content-Type: application/json", "X-Trace: t1", NULL};
    const char *body = "{\"item_type\":\"PRODUCT_ITEM\",\"requests\":[]}";
    assert_int_equal(cs_http_request(h, "POST", url, hdrs, body, strlen(body), "shop", "s3cr:et",
                                     &r), CS_HTTP_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"id\":\"123\"}");
    assert_int_equal(r.body.len, 12);
    assert_string_equal(r.errstr, "");
    assert_true(r.total_seconds >= 0 && r.total_seconds < 5);

    srv_last(s, &got);
    assert_string_equal(got.method, "POST");
    assert_string_equal(got.target, "/v25.0/123/items_batch?access_token=SECRETTOKEN");
    assert_string_equal(got.body, body);
    assert_non_null(strcasestr(got.headers, "\r\nContent-Type: application/json"));
    assert_non_null(strcasestr(got.headers, "\r\nX-Trace: t1"));
    assert_non_null(strstr(got.headers, "\r\nAuthorization: Basic c2hvcDpzM2NyOmV0"));
    assert_non_null(strcasestr(got.headers, "\r\nUser-Agent: catalogsync/1"));
    assert_non_null(strcasestr(got.headers, "\r\nAccept-Encoding: "));
    assert_null(strcasestr(got.headers, "\r\nExpect:"));

    /* Headers: case-insensitive, trimmed, last value wins, NULL if absent. */
    assert_string_equal(cs_http_resp_header(&r, "Retry-After"), "7");
    assert_string_equal(cs_http_resp_header(&r, "RETRY-AFTER"), "7");
    assert_string_equal(cs_http_resp_header(&r, "x-dup"), "two");
    assert_null(cs_http_resp_header(&r, "x-missing"));
    assert_int_equal(cs_http_retry_after_ms(&r, 0), 7000);
    int pct;
    assert_int_equal(cs_graph_throttle_pause_ms(cs_http_resp_header(&r, "x-business-use-case-usage"),
                                                NULL, cs_http_retry_after_ms(&r, 0), 1000, &pct),
                     180000);
    assert_int_equal(pct, 95);

    /* The next requests carry no body, no credentials and other methods. */
    url_of(s, "/v25.0/123/products?fields=id", url, sizeof url);
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    srv_last(s, &got);
    assert_string_equal(got.method, "GET");
    assert_int_equal(got.body_len, 0);
    assert_null(strcasestr(got.headers, "\r\nAuthorization:"));
    assert_null(strcasestr(got.headers, "\r\nX-Trace:"));

    const char *put_hdrs[] = {"Content-Type: text/plain", NULL};
    assert_int_equal(cs_http_request(h, "PUT", url, put_hdrs, "abc", 3, NULL, NULL, &r), CS_HTTP_OK);
    srv_last(s, &got);
    assert_string_equal(got.method, "PUT");
    assert_string_equal(got.body, "abc");
    assert_int_equal(cs_http_request(h, "PATCH", url, put_hdrs, "de", 2, NULL, NULL, &r), CS_HTTP_OK);
    srv_last(s, &got);
    assert_string_equal(got.method, "PATCH");
    assert_string_equal(got.body, "de");
    assert_int_equal(cs_http_request(h, "DELETE", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    srv_last(s, &got);
    assert_string_equal(got.method, "DELETE");
    assert_int_equal(got.body_len, 0);
    /* HEAD asks for no body and reads none (doctor's image probe). */
    assert_int_equal(cs_http_request(h, "HEAD", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    srv_last(s, &got);
    assert_string_equal(got.method, "HEAD");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    assert_int_equal(cs_http_request(h, "HEAD", url, NULL, "x", 1, NULL, NULL, &r), CS_HTTP_EINVAL);
    assert_int_equal(cs_http_request(h, "TRACE", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_EINVAL);
    assert_int_equal(cs_http_request(h, "GET", "file:///etc/passwd", NULL, NULL, 0, NULL, NULL, &r),
                     CS_HTTP_EINVAL);

    /* Nothing was logged: URLs hold tokens. */
    fflush(logf);
    assert_int_equal(ftell(logf), 0);
    cs_log_set_stream(NULL);
    fclose(logf);
    cs_http_resp_free(&r);
    cs_http_destroy(h);
}

static void test_http_keepalive(void **state)
{
    fake_srv *s = *state, got;
    cs_http *h = new_client(0, 0);
    cs_http_resp r;
    cs_http_resp_init(&r);
    char url[256];
    url_of(s, "/json", url, sizeof url);
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    assert_int_equal(cs_http_request(h, "POST", url, NULL, "x=1", 3, NULL, NULL, &r), CS_HTTP_OK);
    srv_last(s, &got);
    assert_int_equal(got.n_requests, 2);
    assert_int_equal(got.n_accepted, 1);
    /* After "Connection: close" the next request opens a new connection. */
    url_of(s, "/close", url, sizeof url);
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    url_of(s, "/json", url, sizeof url);
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    srv_last(s, &got);
    assert_int_equal(got.n_requests, 4);
    assert_int_equal(got.n_accepted, 2);
    cs_http_resp_free(&r);
    cs_http_destroy(h);
}

/* public_only: the address actually connected to is checked, so the
 * loopback server is never reached (nothing sent, a clear error). */
static void test_http_public_only(void **state)
{
    fake_srv *s = *state, got;
    cs_http_opts o = {.public_only = 1};
    char err[256], url[256];
    cs_http *h = cs_http_new(&o, err, sizeof err);
    assert_non_null(h);
    cs_http_resp r;
    cs_http_resp_init(&r);
    url_of(s, "/json", url, sizeof url);
    assert_int_equal(cs_http_request(h, "HEAD", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_ENET);
    assert_string_equal(r.errstr, CS_HTTP_REFUSED_INTERNAL);
    assert_int_equal(r.status, 0);
    srv_last(s, &got);
    assert_int_equal(got.n_accepted, 0);
    cs_http_resp_free(&r);
    cs_http_destroy(h);
}

static void test_http_caps(void **state)
{
    fake_srv *s = *state;
    cs_http *h = new_client(0, 1024);
    cs_http_resp r;
    cs_http_resp_init(&r);
    char url[256];
    url_of(s, "/big", url, sizeof url);                /* Content-Length says 4096 */
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_ETOOBIG);
    assert_int_equal(r.err, CS_HTTP_ETOOBIG);
    assert_true(r.body.len <= 1024);
    url_of(s, "/bigchunked", url, sizeof url);         /* no length announced */
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_ETOOBIG);
    assert_true(r.body.len <= 1024);
    url_of(s, "/hdrbomb", url, sizeof url);            /* 70 KB of headers */
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_ETOOBIG);
    assert_true(r.headers.len <= CS_HTTP_HEADER_CAP);
    /* The handle still works after an aborted transfer. */
    url_of(s, "/json", url, sizeof url);
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    assert_int_equal(r.status, 200);
    cs_http_resp_free(&r);
    cs_http_destroy(h);
}

static void test_http_answers(void **state)
{
    fake_srv *s = *state;
    cs_http *h = new_client(0, 0);
    cs_http_resp r;
    cs_http_resp_init(&r);
    char url[256];

    url_of(s, "/continue", url, sizeof url);           /* interim block replaced */
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(cs_http_resp_header(&r, "x-final"), "yes");
    assert_null(cs_http_resp_header(&r, "x-interim"));

    url_of(s, "/gzip", url, sizeof url);
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    assert_int_equal(r.body.len, 220);
    assert_memory_equal(r.body.data, "hello gzip hello gzip ", 22);

    url_of(s, "/redirect", url, sizeof url);           /* not followed */
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.body.data, "moved");

    url_of(s, "/date", url, sizeof url);               /* Retry-After as an HTTP-date */
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    assert_int_equal(r.status, 429);
    assert_int_equal(cs_http_retry_after_ms(&r, 1445412480000LL - 120000), 120000);
    assert_int_equal(cs_http_retry_after_ms(&r, 1445412480000LL + 5000), 0);
    assert_int_equal(r.body.len, 0);

    url_of(s, "/html500", url, sizeof url);
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    assert_int_equal(r.status, 500);
    cs_graph_error e;
    assert_int_equal(cs_graph_parse_error(r.body.data, r.body.len, r.status, &e), 0);
    assert_string_equal(e.message, "HTTP 500: <html><b>oops</b>  </html>  ");
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_TRANSIENT);
    cs_http_resp_free(&r);
    cs_http_destroy(h);
}

static void test_http_transport_errors(void **state)
{
    fake_srv *s = *state;
    cs_http *h = new_client(300, 0);
    cs_http_resp r;
    cs_http_resp_init(&r);
    char url[256];

    url_of(s, "/hang?access_token=SECRETTOKEN", url, sizeof url);
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_ETIMEOUT);
    assert_int_equal(r.status, 0);
    assert_true(r.total_seconds < 2.0);
    assert_true(r.errstr[0] != '\0');
    assert_null(strstr(r.errstr, "SECRETTOKEN"));

    int port, fd = listen_any(&port);               /* a port nobody listens on */
    assert_true(fd >= 0);
    close(fd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    assert_int_equal(cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r), CS_HTTP_ENET);
    assert_int_equal(r.status, 0);
    assert_true(r.errstr[0] != '\0');
    cs_graph_error e;
    assert_int_equal(cs_graph_parse_error(r.body.data, r.body.len, r.status, &e), 0);
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_TRANSIENT);

    cs_http_destroy(h);

    /* A plain-text peer behind https://.  A roomier timeout: loading the CA
     * store takes longer than 300 ms under valgrind. */
    h = new_client(10000, 0);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/json", s->port);
    cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r);
    if (r.err != CS_HTTP_ETLS)
        fail_msg("https to a plain peer: %s (%s)", cs_http_err_name(r.err), r.errstr);
    assert_int_equal(r.status, 0);
    cs_http_resp_free(&r);
    cs_http_destroy(h);
}

static void test_http_insecure_warns(void **state __attribute__((unused)))
{
    FILE *logf = tmpfile();
    assert_non_null(logf);
    cs_log_set_stream(logf);
    cs_http_opts o = {.insecure = 1};
    char err[128], line[512] = "";
    cs_http *h = cs_http_new(&o, err, sizeof err);
    assert_non_null(h);
    cs_http_destroy(h);
    rewind(logf);
    assert_non_null(fgets(line, sizeof line, logf));
    assert_non_null(strstr(line, "WARN"));
    assert_non_null(strstr(line, "DISABLED"));
    cs_log_set_stream(NULL);
    fclose(logf);
    cs_http_destroy(NULL);
    cs_http_resp_free(NULL);
}

static void add_header(cs_http_resp *r, const char *name, const char *value)
{
    cs_buf_append(&r->headers, name, strlen(name) + 1);
    cs_buf_append(&r->headers, value, strlen(value) + 1);
}

static void test_http_helpers(void **state __attribute__((unused)))
{
    cs_buf b;
    cs_buf_init(&b, 0);
    assert_int_equal(cs_http_urlencode(&b, "a b&c=d/\xc3\xa9~_.-Z9{\"x\":1}"), 0);
    assert_string_equal(b.data, "a%20b%26c%3Dd%2F%C3%A9~_.-Z9%7B%22x%22%3A1%7D");
    cs_buf_free(&b);
    cs_buf_init(&b, 4);
    assert_int_equal(cs_http_urlencode(&b, "a b"), -1);        /* cap respected */
    cs_buf_free(&b);

    cs_http_resp r;
    cs_http_resp_init(&r);
    assert_int_equal(cs_http_retry_after_ms(&r, 0), -1);
    static const struct { const char *v; int64_t now, want; } cases[] = {
        {"0", 0, 0},
        {"120", 0, 120000},
        {"Wed, 21 Oct 2015 07:28:00 GMT", 1445412480000LL - 1000, 1000},
        {"Wednesday, 21-Oct-15 07:28:00 GMT", 1445412480000LL - 2000, 2000},
        {"Wed Oct 21 07:28:00 2015", 1445412480000LL - 3000, 3000},
        {"-5", 0, -1},
        {"12s", 0, -1},
        {"soon", 0, -1},
        {"Wed, 21 Oct 2015 07:28:00 GMT trailing", 0, -1},
        /* A channel-supplied delay never exceeds CS_CHANNEL_MAX_PAUSE_MS (24 h),
         * however it is written, and never overflows. */
        {"86400", 0, CS_CHANNEL_MAX_PAUSE_MS},
        {"86401", 0, CS_CHANNEL_MAX_PAUSE_MS},
        {"9223372036854775", 0, CS_CHANNEL_MAX_PAUSE_MS},
        {"9223372036854775807", 0, CS_CHANNEL_MAX_PAUSE_MS},
        {"99999999999999999999", 0, CS_CHANNEL_MAX_PAUSE_MS},
        {"Fri, 31 Dec 9999 23:59:59 GMT", 1445412480000LL, CS_CHANNEL_MAX_PAUSE_MS},
        {"Thu, 22 Oct 2015 07:28:00 GMT", 1445412480000LL - 1, CS_CHANNEL_MAX_PAUSE_MS},
        {"Thu, 22 Oct 2015 07:27:59 GMT", 1445412480000LL, CS_CHANNEL_MAX_PAUSE_MS - 1000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cs_http_resp_reset(&r);
        add_header(&r, "retry-after", cases[i].v);
        if (cs_http_retry_after_ms(&r, cases[i].now) != cases[i].want)
            fail_msg("Retry-After \"%s\": got %lld", cases[i].v,
                     (long long)cs_http_retry_after_ms(&r, cases[i].now));
    }
    cs_http_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_fips),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test_setup_teardown(test_http_request_and_headers, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_http_keepalive, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_http_public_only, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_http_caps, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_http_answers, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_http_transport_errors, srv_setup, srv_teardown),
        cmocka_unit_test(test_http_insecure_warns),
        cmocka_unit_test(test_http_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
