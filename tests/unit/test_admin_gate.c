/* Unit tests for cs_admin_gate: the Host allow-list, the security headers,
 * the bearer token and its per-address throttle, on requests made of parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cs_admin_gate.h"
#include "cs_httpd.h"

#define TOKEN "0123456789abcdef-token"

static cs_admin_gate gate;

static void init(const char *extra)
{
    char err[200];
    if (cs_admin_gate_init(&gate, "127.0.0.1:8080", extra, TOKEN, err, sizeof err) != 0)
        fail_msg("init: %s", err);
}

static void test_host_allow_list(void **state __attribute__((unused)))
{
    init("Admin.Example, ops.example:8443, [fd00::5]:9000");
    const char *yes[] = {"127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080",
                         "admin.example", "admin.example:1234", "ops.example:8443",
                         "[fd00::5]:9000"};
    const char *no[] = {NULL, "", "evil.example:8080", "127.0.0.1:8081", "localhost",
                        "127.0.0.1", "ops.example", "ops.example:8444", "admin.example.evil",
                        "localhost:8080 ", "localhost:8080\r\nX: y", "[fd00::5]:9001",
                        "admin.exampl", "127.0.0.1:80800"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!cs_admin_gate_host_ok(&gate, yes[i]))
            fail_msg("Host \"%s\" refused", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (cs_admin_gate_host_ok(&gate, no[i]))
            fail_msg("Host \"%s\" accepted", no[i] ? no[i] : "(none)");
    /* "name:80" in the list also matches a Host without a port. */
    init("plain.example:80");
    assert_true(cs_admin_gate_host_ok(&gate, "plain.example"));
    assert_false(cs_admin_gate_host_ok(&gate, "plain.example:81"));

    char err[200];
    assert_int_equal(cs_admin_gate_init(&gate, "127.0.0.1:1", "ok.example, bad host", TOKEN, err,
                                        sizeof err), -1);
    assert_non_null(strstr(err, "admin.allowed_hosts: \"bad host\""));
    assert_int_equal(cs_admin_gate_init(&gate, "127.0.0.1:1", "a/b", TOKEN, err, sizeof err), -1);
}

static int gate_request(const char *path, const char *host, cs_httpd_resp **out)
{
    char hdr[300];
    snprintf(hdr, sizeof hdr, "Host: %s", host);
    const char *headers[] = {hdr};
    cs_httpd_req *req = cs_httpd_req_new("GET", path, NULL, headers, host ? 1 : 0, NULL, 0,
                                         "127.0.0.1");
    assert_non_null(req);
    *out = cs_httpd_resp_new();
    int ok = cs_admin_gate_request(&gate, req, *out);
    cs_httpd_req_free(req);
    return ok;
}

static void test_headers_and_host_refusal(void **state __attribute__((unused)))
{
    init("");
    cs_httpd_resp *r;
    assert_int_equal(gate_request("/", "localhost:8080", &r), 1);
    assert_string_equal(cs_httpd_resp_get_header(r, "x-content-type-options"), "nosniff");
    const char *csp = cs_httpd_resp_get_header(r, "Content-Security-Policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    /* The script-src directive allows no inline script. */
    const char *ss = strstr(csp, "script-src ");
    assert_non_null(ss);
    char directive[200];
    snprintf(directive, sizeof directive, "%.*s", (int)strcspn(ss, ";"), ss);
    assert_string_equal(directive, "script-src 'self'");
    assert_string_equal(cs_httpd_resp_get_header(r, "X-Frame-Options"), "DENY");
    cs_httpd_resp_free(r);

    /* DNS rebinding: the browser sends the attacker's name. */
    assert_int_equal(gate_request("/v1/products", "evil.example:8080", &r), 0);
    assert_int_equal(cs_httpd_resp_get_status(r), 421);
    assert_string_equal(cs_httpd_resp_get_type(r), "application/json");
    assert_string_equal(cs_httpd_resp_get_header(r, "x-content-type-options"), "nosniff");
    cs_httpd_resp_free(r);
    assert_int_equal(gate_request("/", NULL, &r), 0);
    cs_httpd_resp_free(r);
    /* Probes may use any name; the answer holds no data. */
    assert_int_equal(gate_request("/healthz", "10.1.2.3:8080", &r), 1);
    cs_httpd_resp_free(r);
    assert_int_equal(gate_request("/readyz", "10.1.2.3:8080", &r), 1);
    cs_httpd_resp_free(r);
}

/* status of one change attempt from peer with Authorization auth at now. */
static int attempt(const char *peer, const char *auth, int64_t now, char *retry_after)
{
    char hdr[600];
    snprintf(hdr, sizeof hdr, "Authorization: %s", auth ? auth : "");
    const char *headers[] = {hdr};
    cs_httpd_req *req = cs_httpd_req_new("POST", "/v1/reset", NULL, headers, auth ? 1 : 0,
                                         "{}", 2, peer);
    cs_httpd_resp *r = cs_httpd_resp_new();
    int ok = cs_admin_gate_auth(&gate, req, r, now);
    int status = ok ? 200 : cs_httpd_resp_get_status(r);
    const char *ra = cs_httpd_resp_get_header(r, "Retry-After");
    if (retry_after)
        snprintf(retry_after, 32, "%s", ra ? ra : "");
    if (status == 401)
        assert_non_null(cs_httpd_resp_get_header(r, "WWW-Authenticate"));
    cs_httpd_req_free(req);
    cs_httpd_resp_free(r);
    return status;
}

static void test_token_and_throttle(void **state __attribute__((unused)))
{
    char ra[32];
    init("");
    int64_t t = 1000000;
    assert_int_equal(attempt("10.0.0.1", "Bearer " TOKEN, t, NULL), 200);
    assert_int_equal(attempt("10.0.0.1", "Bearer " TOKEN "x", t, NULL), 401);
    assert_int_equal(attempt("10.0.0.1", "Bearer 0123456789abcdef-toke", t, NULL), 401);
    assert_int_equal(attempt("10.0.0.1", "Basic " TOKEN, t, NULL), 401);
    assert_int_equal(attempt("10.0.0.1", NULL, t, NULL), 401);
    /* The fifth failure in a row: 1 s to wait, even with the right token. */
    assert_int_equal(attempt("10.0.0.1", "Bearer nope", t, NULL), 401);
    assert_int_equal(attempt("10.0.0.1", "Bearer " TOKEN, t + 10, ra), 429);
    assert_string_equal(ra, "1");
    /* Another address is not held back. */
    assert_int_equal(attempt("10.0.0.2", "Bearer " TOKEN, t + 10, NULL), 200);
    /* Each further failure doubles the wait, up to 60 s. */
    t += 1000;
    assert_int_equal(attempt("10.0.0.1", "Bearer nope", t, NULL), 401);
    assert_int_equal(attempt("10.0.0.1", "Bearer nope", t + 1999, ra), 429);
    assert_string_equal(ra, "1");
    assert_int_equal(attempt("10.0.0.1", "Bearer nope", t + 500, ra), 429);
    assert_string_equal(ra, "2");
    for (int i = 0; i < 10; i++) {
        t += 60000;
        assert_int_equal(attempt("10.0.0.1", "Bearer nope", t, NULL), 401);
    }
    assert_int_equal(attempt("10.0.0.1", "Bearer " TOKEN, t + 1, ra), 429);
    assert_string_equal(ra, "60");
    /* Once the wait is over the right token works, and clears the count. */
    t += 60000;
    assert_int_equal(attempt("10.0.0.1", "Bearer " TOKEN, t, NULL), 200);
    assert_int_equal(attempt("10.0.0.1", "Bearer nope", t, NULL), 401);
    assert_int_equal(attempt("10.0.0.1", "Bearer " TOKEN, t, NULL), 200);

    /* More addresses than the table holds: the oldest are dropped, the
     * newest still throttled. */
    char peer[32];
    for (int p = 0; p < CS_GATE_PEERS + 10; p++) {
        snprintf(peer, sizeof peer, "10.1.0.%d", p);
        for (int i = 0; i < CS_GATE_FREE_FAILS; i++)
            assert_int_equal(attempt(peer, "Bearer nope", t + p, NULL), 401);
    }
    assert_int_equal(attempt(peer, "Bearer " TOKEN, t + 200, NULL), 429);

    /* No token configured: every change refused. */
    char err[100];
    assert_int_equal(cs_admin_gate_init(&gate, "127.0.0.1:1", "", "", err, sizeof err), 0);
    assert_int_equal(attempt("10.0.0.1", "Bearer ", t, NULL), 403);
    assert_true(cs_admin_token_equal("abc", "abc"));
    assert_false(cs_admin_token_equal("abd", "abc"));
    assert_false(cs_admin_token_equal("ab", "abc"));
    assert_false(cs_admin_token_equal("abcd", "abc"));
    assert_false(cs_admin_token_equal("", "abc"));
}

/* Requests made of parts decode their query like the server. */
static void test_request_parts(void **state __attribute__((unused)))
{
    const char *h[] = {"X-A:  one ", "bad line", "x-a: two"};
    cs_httpd_req *r = cs_httpd_req_new("GET", "/p", "a=1%202+3&flag&&a=second&e=%zz%4",
                                       h, 3, NULL, 0, NULL);
    assert_non_null(r);
    assert_string_equal(cs_httpd_req_query(r, "a"), "1 2 3");
    assert_string_equal(cs_httpd_req_query(r, "flag"), "");
    assert_string_equal(cs_httpd_req_query(r, "e"), "%zz%4");
    assert_null(cs_httpd_req_query(r, "missing"));
    assert_string_equal(cs_httpd_req_header(r, "x-a"), "one");
    assert_string_equal(cs_httpd_req_peer(r), "");
    size_t n = 1;
    assert_string_equal(cs_httpd_req_body(r, &n), "");
    assert_int_equal(n, 0);
    cs_httpd_req_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_allow_list),
        cmocka_unit_test(test_headers_and_host_refusal),
        cmocka_unit_test(test_token_and_throttle),
        cmocka_unit_test(test_request_parts),
    };
    return cmocka_run_group_tests_name("admin_gate", tests, NULL, NULL);
}
