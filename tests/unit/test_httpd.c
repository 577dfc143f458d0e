/* Unit tests for cs_httpd (the embedded server) on 127.0.0.1, driven with
 * cs_http and with raw sockets, and for cs_http's request observer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cs_buf.h"
#include "cs_http.h"
#include "cs_httpd.h"

typedef struct {
    int calls;
} server_state;

/* Echoes what it was given, one "name=value" line each. */
static void echo(void *ud, const cs_httpd_req *req, cs_httpd_resp *resp)
{
    server_state *st = ud;
    st->calls++;
    if (strcmp(cs_httpd_req_path(req), "/teapot") == 0) {
        cs_httpd_resp_text(resp, 418, "short and stout\n");
        cs_httpd_resp_header(resp, "X-Kind", "teapot");
        assert_int_equal(cs_httpd_resp_header(resp, "Bad", "a\r\nInjected: 1"), -1);
        return;
    }
    size_t len;
    const char *body = cs_httpd_req_body(req, &len);
    const char *a = cs_httpd_req_query(req, "a"), *flag = cs_httpd_req_query(req, "flag");
    const char *missing = cs_httpd_req_query(req, "missing");
    const char *auth = cs_httpd_req_header(req, "authorization");
    cs_httpd_resp_type(resp, "application/x-echo");
    cs_buf_appendf(cs_httpd_resp_body(resp),
                   "method=%s\npath=%s\na=%s\nflag=%s\nmissing=%s\nauth=%s\npeer=%s\n"
                   "body_len=%zu\nbody=%s\n",
                   cs_httpd_req_method(req), cs_httpd_req_path(req), a ? a : "(null)",
                   flag ? flag : "(null)", missing ? missing : "(null)", auth ? auth : "(null)",
                   cs_httpd_req_peer(req), len, body);
}

static cs_httpd *start(server_state *st, const char *listen, size_t max_body)
{
    char err[300];
    cs_httpd_opts o;
    memset(&o, 0, sizeof o);
    o.listen = listen;
    o.max_body = max_body;
    cs_httpd *d = cs_httpd_start(&o, echo, st, err, sizeof err);
    if (!d)
        fail_msg("cs_httpd_start(%s): %s", listen, err);
    return d;
}

static void url_of(const cs_httpd *d, const char *path, char *out, size_t n)
{
    snprintf(out, n, "http://127.0.0.1:%d%s", cs_httpd_port(d), path);
}

static void test_get_post_and_headers(void **state __attribute__((unused)))
{
    server_state st = {0};
    cs_httpd *d = start(&st, "127.0.0.1:0", 0);
    assert_true(cs_httpd_port(d) > 0);
    char want[64], url[160], err[200];
    snprintf(want, sizeof want, "127.0.0.1:%d", cs_httpd_port(d));
    assert_string_equal(cs_httpd_address(d), want);
    assert_int_equal(cs_httpd_is_loopback(d), 1);

    cs_http *h = cs_http_new(NULL, err, sizeof err);
    assert_non_null(h);
    cs_http_resp r;
    cs_http_resp_init(&r);
    const char *hdrs[] = {"Authorization: Bearer abc", NULL};
    url_of(d, "/echo/x%20y?a=1%202&flag&a=second", url, sizeof url);
    assert_int_equal(cs_http_request(h, "GET", url, hdrs, NULL, 0, NULL, NULL, &r), CS_HTTP_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(cs_http_resp_header(&r, "content-type"), "application/x-echo");
    assert_string_equal(r.body.data,
                        "method=GET\npath=/echo/x y\na=1 2\nflag=\nmissing=(null)\n"
                        "auth=Bearer abc\npeer=127.0.0.1\nbody_len=0\nbody=\n");

    const char *json[] = {"Content-Type: application/json", NULL};
    url_of(d, "/api", url, sizeof url);
    assert_int_equal(cs_http_request(h, "POST", url, json, "{\"k\":1}", 7, NULL, NULL, &r),
                     CS_HTTP_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "method=POST\npath=/api\n"));
    assert_non_null(strstr(r.body.data, "body_len=7\nbody={\"k\":1}\n"));

    url_of(d, "/teapot", url, sizeof url);
    assert_int_equal(cs_http_request(h, "DELETE", url, NULL, NULL, 0, NULL, NULL, &r),
                     CS_HTTP_OK);
    assert_int_equal(r.status, 418);
    assert_string_equal(r.body.data, "short and stout\n");
    assert_string_equal(cs_http_resp_header(&r, "x-kind"), "teapot");
    assert_string_equal(cs_http_resp_header(&r, "content-type"), "text/plain; charset=utf-8");
    assert_null(cs_http_resp_header(&r, "injected"));
    assert_int_equal(st.calls, 3);

    cs_http_resp_free(&r);
    cs_http_destroy(h);
    cs_httpd_stop(d);
    cs_httpd_stop(NULL);
}

static void test_body_cap_413(void **state __attribute__((unused)))
{
    server_state st = {0};
    cs_httpd *d = start(&st, "127.0.0.1:0", 1024);
    char url[160], err[200];
    cs_http *h = cs_http_new(NULL, err, sizeof err);
    cs_http_resp r;
    cs_http_resp_init(&r);
    char *big = malloc(4096);
    assert_non_null(big);
    memset(big, 'x', 4096);
    url_of(d, "/api", url, sizeof url);
    /* At the cap: accepted.  Over it (declared length): 413, no handler call. */
    assert_int_equal(cs_http_request(h, "POST", url, NULL, big, 1024, NULL, NULL, &r), CS_HTTP_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "body_len=1024\n"));
    assert_int_equal(cs_http_request(h, "POST", url, NULL, big, 1025, NULL, NULL, &r), CS_HTTP_OK);
    assert_int_equal(r.status, 413);
    assert_int_equal(st.calls, 1);

    /* Over it in chunks, without a declared length: read, dropped, 413. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)cs_httpd_port(d));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    cs_buf req;
    cs_buf_init(&req, 0);
    cs_buf_appends(&req, "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         "Connection: close\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        cs_buf_appendf(&req, "%x\r\n", 800);
        cs_buf_append(&req, big, 800);
        cs_buf_appends(&req, "\r\n");
    }
    cs_buf_appends(&req, "0\r\n\r\n");
    assert_int_equal(write(fd, req.data, req.len), (ssize_t)req.len);
    char reply[2048];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof reply - 1 && (n = read(fd, reply + got, sizeof reply - 1 - got)) > 0)
        got += (size_t)n;
    reply[got] = '\0';
    close(fd);
    assert_memory_equal(reply, "HTTP/1.1 413", 12);
    assert_int_equal(st.calls, 1);
    cs_buf_free(&req);
    free(big);

    cs_http_resp_free(&r);
    cs_http_destroy(h);
    cs_httpd_stop(d);
}

static void test_listen_strings(void **state __attribute__((unused)))
{
    char err[300];
    const char *good[] = {"127.0.0.1:9464", "0.0.0.0:0", ":9464", "9464", "localhost:0",
                          "[::1]:9464", "[::]:0", "127.0.0.1:65535"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (cs_httpd_check_listen(good[i], err, sizeof err) != 0)
            fail_msg("\"%s\" refused: %s", good[i], err);
    struct { const char *s, *why; } bad[] = {
        {"", "empty"},
        {"nonsense", "port must be a number"},
        {"127.0.0.1:", "port must be a number"},
        {"127.0.0.1:65536", "port must be a number"},
        {"127.0.0.1:-1", "port must be a number"},
        {"127.0.0.1:80x", "port must be a number"},
        {"example.com:80", "host must be an IP address"},
        {"1.2.3:80", "host must be an IP address"},
        {"::1:80", "IPv6 address in brackets"},
        {"[::1]", "[IPv6 address]:port"},
        {"[::1:80", "[IPv6 address]:port"},
        {"[127.0.0.1]:80", "host must be an IP address"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (cs_httpd_check_listen(bad[i].s, err, sizeof err) == 0)
            fail_msg("\"%s\" accepted", bad[i].s);
        if (!strstr(err, bad[i].why))
            fail_msg("\"%s\": \"%s\" does not say \"%s\"", bad[i].s, err, bad[i].why);
    }
    assert_int_not_equal(cs_httpd_check_listen(NULL, err, sizeof err), 0);

    /* cs_httpd_start refuses the same strings. */
    server_state st = {0};
    cs_httpd_opts o;
    memset(&o, 0, sizeof o);
    o.listen = "nonsense";
    assert_null(cs_httpd_start(&o, echo, &st, err, sizeof err));
    assert_non_null(strstr(err, "port must be a number"));
}

static void test_port_in_use(void **state __attribute__((unused)))
{
    server_state st = {0};
    cs_httpd *d = start(&st, "127.0.0.1:0", 0);
    char listen[64], err[300];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", cs_httpd_port(d));
    cs_httpd_opts o;
    memset(&o, 0, sizeof o);
    o.listen = listen;
    assert_null(cs_httpd_start(&o, echo, &st, err, sizeof err));
    char want[120];
    snprintf(want, sizeof want, "listen %s: Address already in use", listen);
    assert_string_equal(err, want);
    cs_httpd_stop(d);
    /* Once stopped, the port is free again. */
    cs_httpd *again = cs_httpd_start(&o, echo, &st, err, sizeof err);
    if (!again)
        fail_msg("restart on %s: %s", listen, err);
    assert_int_equal(cs_httpd_port(again), (int)strtol(strchr(listen, ':') + 1, NULL, 10));
    cs_httpd_stop(again);
}

typedef struct {
    int calls;
    long last_status;
    cs_http_err last_err;
    double seconds;
} observed;

static void observe(void *ud, const cs_http_resp *resp)
{
    observed *ob = ud;
    ob->calls++;
    ob->last_status = resp->status;
    ob->last_err = resp->err;
    ob->seconds = resp->total_seconds;
}

static void test_http_observer(void **state __attribute__((unused)))
{
    server_state st = {0};
    cs_httpd *d = start(&st, "127.0.0.1:0", 0);
    char url[160], err[200];
    cs_http *h = cs_http_new(NULL, err, sizeof err);
    cs_http_resp r;
    cs_http_resp_init(&r);
    observed ob = {0};
    cs_http_set_observer(h, observe, &ob);
    url_of(d, "/teapot", url, sizeof url);
    cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r);
    assert_int_equal(ob.calls, 1);
    assert_int_equal(ob.last_status, 418);
    assert_true(ob.seconds > 0 && ob.seconds < 10);
    int port = cs_httpd_port(d);
    cs_httpd_stop(d);
    /* A transport failure is observed too, with no HTTP status. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r);
    assert_int_equal(ob.calls, 2);
    assert_int_equal(ob.last_status, 0);
    assert_int_equal(ob.last_err, CS_HTTP_ENET);
    cs_http_set_observer(h, NULL, NULL);
    cs_http_request(h, "GET", url, NULL, NULL, 0, NULL, NULL, &r);
    assert_int_equal(ob.calls, 2);
    cs_http_resp_free(&r);
    cs_http_destroy(h);
}

/* ---- slow clients (slowloris) ---- */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A TCP connection to 127.0.0.1:port from the loopback address src. */
static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, src, &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* GET path from 127.0.0.1; the status, or -1 when there is no answer
 * within timeout_ms. */
static int get_status(int port, const char *path, int timeout_ms)
{
    int fd = connect_from("127.0.0.1", port);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[256], reply[64] = "";
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n", path);
    int status = -1;
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n &&
        read(fd, reply, sizeof reply - 1) >= 12 && !strncmp(reply, "HTTP/1.1 ", 9))
        status = (int)strtol(reply + 9, NULL, 10);
    close(fd);
    return status;
}

/* One more byte of a never-ending header on every open socket; a socket the
 * server closed (EOF, reset) is closed here and set to -1.  Returns how many
 * are still open. */
static int trickle(int *fds, int n)
{
    int open_ = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        struct pollfd p = {fds[i], POLLIN, 0};
        char c;
        if ((poll(&p, 1, 0) == 1 && recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0) ||
            send(fds[i], "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
            close(fds[i]);
            fds[i] = -1;
            continue;
        }
        open_++;
    }
    return open_;
}

#define TRICKLERS 70

static int *open_tricklers(const char *src, int port)
{
    int *fds = calloc(TRICKLERS, sizeof *fds);
    assert_non_null(fds);
    for (int i = 0; i < TRICKLERS; i++) {
        fds[i] = connect_from(src, port);
        assert_int_equal(send(fds[i], "GET /x HTTP/1.1\r\nX-Slow: ", 25, MSG_NOSIGNAL), 25);
    }
    return fds;
}

static void close_all(int *fds)
{
    for (int i = 0; i < TRICKLERS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
}

/* 70 trickling connections from one peer (127.0.0.2) take at most its
 * per-address share: a health check from another address is answered at
 * once, while they still trickle. */
static void test_one_slow_peer_cannot_take_every_slot(void **state __attribute__((unused)))
{
    server_state st = {0};
    cs_httpd *d = start(&st, "127.0.0.1:0", 0);
    int port = cs_httpd_port(d);
    int *fds = open_tricklers("127.0.0.2", port);
    assert_true(trickle(fds, TRICKLERS) > 0);
    long long t0 = mono_ms();
    assert_int_equal(get_status(port, "/teapot", 1500), 418);
    assert_true(mono_ms() - t0 < 1500);
    close_all(fds);
    cs_httpd_stop(d);
}

/* Tricklers from the health checker's own address: each is cut when its
 * request is not complete within request_timeout_ms, however many bytes it
 * keeps sending, and the health check is answered afterwards. */
static void test_request_deadline_cuts_tricklers(void **state __attribute__((unused)))
{
    server_state st = {0};
    char err[300];
    cs_httpd_opts o;
    memset(&o, 0, sizeof o);
    o.listen = "127.0.0.1:0";
    o.request_timeout_ms = 1000;
    cs_httpd *d = cs_httpd_start(&o, echo, &st, err, sizeof err);
    assert_non_null(d);
    int port = cs_httpd_port(d);
    long long t0 = mono_ms();
    int *fds = open_tricklers("127.0.0.1", port);
    int left = TRICKLERS, rounds = 0;
    /* Bounded: 60 rounds of 50 ms (3 s). */
    while ((left = trickle(fds, TRICKLERS)) > 0 && rounds++ < 60)
        poll(NULL, 0, 50);
    long long took = mono_ms() - t0;
    if (left)
        fail_msg("%d trickling connections still open after %lld ms", left, took);
    assert_true(rounds >= 10);          /* they did trickle past the deadline's half */
    assert_true(took < 2500);
    assert_int_equal(get_status(port, "/teapot", 1500), 418);
    assert_int_equal(st.calls, 1);
    close_all(fds);
    cs_httpd_stop(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_post_and_headers),
        cmocka_unit_test(test_body_cap_413),
        cmocka_unit_test(test_listen_strings),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_http_observer),
        cmocka_unit_test(test_one_slow_peer_cannot_take_every_slot),
        cmocka_unit_test(test_request_deadline_cuts_tricklers),
    };
    return cmocka_run_group_tests_name("httpd", tests, NULL, NULL);
}
