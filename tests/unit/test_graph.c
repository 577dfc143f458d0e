/* Unit tests for meta_graph (cs_graph_*): parsing and classification of Graph API answers. */
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


/* ------------------------------------------------------------- cs_graph */

static cs_class classify_code(int code, int subcode, long http)
{
    char body[256];
    cs_graph_error e;
    snprintf(body, sizeof body,
             "{\"error\":{\"message\":\"m\",\"type\":\"OAuthException\",\"code\":%d,"
             "\"error_subcode\":%d,\"fbtrace_id\":\"T\"}}", code, subcode);
    assert_int_equal(cs_graph_parse_error(body, strlen(body), http, &e), 1);
    assert_int_equal(e.code, code);
    assert_int_equal(e.subcode, subcode);
    return cs_graph_classify(&e);
}

static void test_graph_classify(void **state __attribute__((unused)))
{
    static const struct { int code, sub; long http; cs_class want; } t[] = {
        {190, 463, 400, CS_CLASS_AUTH}, {190, 467, 400, CS_CLASS_AUTH},
        {190, 0, 401, CS_CLASS_AUTH}, {102, 0, 400, CS_CLASS_AUTH},
        {10, 0, 403, CS_CLASS_AUTH}, {200, 0, 403, CS_CLASS_AUTH},
        {250, 0, 403, CS_CLASS_AUTH}, {299, 0, 403, CS_CLASS_AUTH},
        {300, 0, 400, CS_CLASS_BAD_ITEM},
        {1, 0, 500, CS_CLASS_TRANSIENT}, {2, 0, 503, CS_CLASS_TRANSIENT},
        {4, 0, 400, CS_CLASS_THROTTLE}, {17, 0, 400, CS_CLASS_THROTTLE},
        {32, 0, 400, CS_CLASS_THROTTLE}, {613, 0, 400, CS_CLASS_THROTTLE},
        {80001, 0, 400, CS_CLASS_THROTTLE}, {80004, 0, 400, CS_CLASS_THROTTLE},
        {80009, 0, 400, CS_CLASS_THROTTLE}, {80014, 0, 400, CS_CLASS_THROTTLE},
        {100, 0, 400, CS_CLASS_BAD_ITEM}, {100, 33, 400, CS_CLASS_REFUSED}, {368, 0, 400, CS_CLASS_REFUSED},
        {10800, 0, 400, CS_CLASS_BAD_ITEM},
        {12345, 0, 500, CS_CLASS_TRANSIENT}, {12345, 0, 429, CS_CLASS_THROTTLE},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cs_class got = classify_code(t[i].code, t[i].sub, t[i].http);
        if (got != t[i].want)
            fail_msg("code %d/%d HTTP %ld: %s, want %s", t[i].code, t[i].sub, t[i].http,
                     cs_class_name(got), cs_class_name(t[i].want));
    }

    cs_graph_error e;
    const char *tr = "{\"error\":{\"code\":999,\"is_transient\":true,\"message\":\"x\"}}";
    assert_int_equal(cs_graph_parse_error(tr, strlen(tr), 400, &e), 1);
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_TRANSIENT);

    const char *html = "<html><body>Bad Gateway</body></html>";
    assert_int_equal(cs_graph_parse_error(html, strlen(html), 500, &e), 0);
    assert_int_equal(e.code, 0);
    assert_int_equal(e.http_status, 500);
    assert_string_equal(e.message, "HTTP 500: <html><body>Bad Gateway</body></html>");
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_TRANSIENT);

    assert_int_equal(cs_graph_parse_error("", 0, 429, &e), 0);
    assert_string_equal(e.message, "HTTP 429");
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_THROTTLE);
    assert_int_equal(cs_graph_parse_error("{\"ok\":1}", 8, 502, &e), 0);
    assert_string_equal(e.message, "HTTP 502");
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_TRANSIENT);
    assert_int_equal(cs_graph_parse_error(NULL, 0, 0, &e), 0);      /* no HTTP answer */
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_TRANSIENT);
    assert_int_equal(cs_graph_parse_error("{}", 2, 404, &e), 0);
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_BAD_ITEM);
    assert_int_equal(cs_graph_parse_error("{}", 2, 401, &e), 0);
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_AUTH);
    assert_int_equal(cs_graph_parse_error("{}", 2, 200, &e), 0);
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_OK);

    /* A long binary body: 200 bytes, printable. */
    char junk[600];
    memset(junk, 'j', sizeof junk);
    junk[0] = '\x01';
    junk[1] = '\xff';
    assert_int_equal(cs_graph_parse_error(junk, sizeof junk, 502, &e), 0);
    assert_int_equal(strlen(e.message), strlen("HTTP 502: ") + 200);
    assert_memory_equal(e.message, "HTTP 502:  ?jj", 14);

    static const char *names[] = {"ok", "transient", "throttle", "auth", "bad_item", "refused",
                                  "too_large"};
    for (int c = CS_CLASS_OK; c <= CS_CLASS_TOO_LARGE; c++)
        assert_string_equal(cs_class_name((cs_class)c), names[c]);
}

static void test_graph_envelope(void **state __attribute__((unused)))
{
    const char *b = "{\"error\":{\"message\":\"Error validating access token\","
                    "\"type\":\"OAuthException\",\"code\":190,\"error_subcode\":460,"
                    "\"error_user_title\":\"Session expired\",\"error_user_msg\":\"Log in again\","
                    "\"fbtrace_id\":\"EJplcsCHuLu\",\"is_transient\":false}}";
    cs_graph_error e;
    assert_int_equal(cs_graph_parse_error(b, strlen(b), 400, &e), 1);
    assert_int_equal(e.code, 190);
    assert_int_equal(e.subcode, 460);
    assert_int_equal(e.http_status, 400);
    assert_int_equal(e.is_transient, 0);
    assert_string_equal(e.type, "OAuthException");
    assert_string_equal(e.message, "Error validating access token");
    assert_string_equal(e.user_title, "Session expired");
    assert_string_equal(e.user_msg, "Log in again");
    assert_string_equal(e.fbtrace_id, "EJplcsCHuLu");
    assert_int_equal(cs_graph_classify(&e), CS_CLASS_AUTH);
}

static void test_graph_throttle(void **state __attribute__((unused)))
{
    int pct;
    const char *buc = "{\"111\":[{\"type\":\"catalog_batch\",\"call_count\":95,\"total_cputime\":20,"
                      "\"total_time\":20,\"estimated_time_to_regain_access\":0}],"
                      "\"222\":[{\"type\":\"catalog_management\",\"call_count\":10,"
                      "\"total_cputime\":101,\"total_time\":5,\"estimated_time_to_regain_access\":1},"
                      "{\"type\":\"catalog_batch\",\"call_count\":100,\"total_cputime\":3,"
                      "\"total_time\":3,\"estimated_time_to_regain_access\":3}]}";
    assert_int_equal(cs_graph_throttle_pause_ms(buc, NULL, 7000, 60000, &pct), 180000);
    assert_int_equal(pct, 101);

    const char *calm = "{\"111\":[{\"type\":\"catalog_batch\",\"call_count\":100,"
                       "\"total_cputime\":20,\"total_time\":20,\"estimated_time_to_regain_access\":0}]}";
    assert_int_equal(cs_graph_throttle_pause_ms(calm, NULL, 7000, 60000, &pct), 7000);
    assert_int_equal(pct, 100);
    const char *app = "{\"call_count\":28,\"total_time\":25,\"total_cputime\":25}";
    assert_int_equal(cs_graph_throttle_pause_ms(NULL, app, -1, 60000, &pct), 60000);
    assert_int_equal(pct, 28);
    assert_int_equal(cs_graph_throttle_pause_ms(NULL, NULL, -1, 60000, &pct), 60000);
    assert_int_equal(pct, -1);
    assert_int_equal(cs_graph_throttle_pause_ms("not json", "[1]", -1, 5000, &pct), 5000);
    assert_int_equal(pct, -1);
    const char *forever = "{\"9\":[{\"estimated_time_to_regain_access\":100000}]}";
    assert_int_equal(cs_graph_throttle_pause_ms(forever, NULL, -1, 0, NULL), CS_CHANNEL_MAX_PAUSE_MS);
    assert_int_equal(cs_graph_throttle_pause_ms(NULL, NULL, (int64_t)90 * 3600 * 1000, 0, NULL),
                     CS_CHANNEL_MAX_PAUSE_MS);
}

static void test_graph_items_batch(void **state __attribute__((unused)))
{
    char err[256];
    cs_graph_batch_reply r;
    const char *ok = "{\"handles\": [\"AczPIwgC\"],"
                     " \"validation_status\": [{\"retailer_id\": \"185\","
                     "   \"errors\": [{\"message\": \"Duplicate retailer_id in batch api call - 185.\"}],"
                     "   \"warnings\": []},"
                     "  {\"retailer_id\": \"186\", \"errors\": [], \"warnings\": [{\"message\": \"w\"}]}]}";
    assert_int_equal(cs_graph_parse_items_batch(ok, strlen(ok), &r, err, sizeof err), 0);
    assert_string_equal(r.handle, "AczPIwgC");
    assert_int_equal(r.n_invalid, 1);
    assert_string_equal(r.invalid[0].retailer_id, "185");
    assert_string_equal(r.invalid[0].message, "Duplicate retailer_id in batch api call - 185.");
    cs_graph_batch_reply_free(&r);

    const char *empty = "{\"handles\":[]}";
    assert_int_equal(cs_graph_parse_items_batch(empty, strlen(empty), &r, err, sizeof err), 0);
    assert_string_equal(r.handle, "");
    assert_int_equal(r.n_invalid, 0);
    cs_graph_batch_reply_free(&r);

    static const char *const bad[] = {
        "", "not json", "[]", "{}", "{\"handles\":\"AczP\"}", "{\"handles\":[42]}",
        "{\"handles\":[\"h\"],\"validation_status\":{}}",
        "{\"handles\":[\"h\"],\"validation_status\":[\"185\"]}",
        "{\"handles\":[\"h\"],\"validation_status\":[{\"errors\":[{\"message\":\"m\"}]}]}",
        "{\"error\":{\"message\":\"Invalid parameter\",\"code\":100}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (cs_graph_parse_items_batch(bad[i], strlen(bad[i]), &r, err, sizeof err) != -1)
            fail_msg("accepted malformed answer %s", bad[i]);
        assert_true(err[0] != '\0');
        assert_null(r.invalid);
        cs_graph_batch_reply_free(&r);
    }
    cs_graph_batch_reply_free(NULL);
}

static void test_graph_batch_status(void **state __attribute__((unused)))
{
    char err[256];
    cs_graph_batch_status s;
    const char *fin = "{\"data\":[{\"status\":\"finished\",\"errors_total_count\":3,"
                      "\"errors\":[{\"line\":0,\"id\":\"retailer-4\","
                      "\"message\":\"... without required field Availability\"}],"
                      "\"warnings\":[],\"ids_of_invalid_requests\":[\"retailer-4\",\"retailer-9\",77]}]}";
    assert_int_equal(cs_graph_parse_batch_status(fin, strlen(fin), &s, err, sizeof err), 0);
    assert_string_equal(s.status, "finished");
    assert_int_equal(s.finished, 1);
    assert_int_equal(s.errors_total_count, 3);
    assert_int_equal(s.n_errors, 1);
    assert_string_equal(s.errors[0].retailer_id, "retailer-4");
    assert_string_equal(s.errors[0].message, "... without required field Availability");
    assert_int_equal(s.n_invalid_ids, 3);
    assert_string_equal(s.invalid_ids[0], "retailer-4");
    assert_string_equal(s.invalid_ids[1], "retailer-9");
    assert_string_equal(s.invalid_ids[2], "77");
    cs_graph_batch_status_free(&s);

    const char *sample = "{\"data\":[{\"status\":\"finished\",\"errors_total_count\":1,"
                         "\"errors\":[{\"line\":0,\"id\":\"retailer-4\",\"message\":\"m\"}],"
                         "\"warnings\":[],\"ids_of_invalid_requests\":[]}]}";
    assert_int_equal(cs_graph_parse_batch_status(sample, strlen(sample), &s, err, sizeof err), 0);
    assert_int_equal(s.errors_total_count, 1);
    assert_int_equal(s.n_invalid_ids, 0);
    cs_graph_batch_status_free(&s);

    static const struct { const char *st; int fin; } sts[] = {
        {"scheduled", 0}, {"dispatched", 0}, {"started", 0}, {"canceled", 1}, {"error", 1},
    };
    for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++) {
        char b[128];
        snprintf(b, sizeof b, "{\"data\":[{\"status\":\"%s\"}]}", sts[i].st);
        assert_int_equal(cs_graph_parse_batch_status(b, strlen(b), &s, err, sizeof err), 0);
        assert_string_equal(s.status, sts[i].st);
        assert_int_equal(s.finished, sts[i].fin);
        assert_int_equal(s.errors_total_count, 0);
        cs_graph_batch_status_free(&s);
    }

    static const char *const bad[] = {
        "nope", "{}", "{\"data\":[]}", "{\"data\":{}}", "{\"data\":[{}]}",
        "{\"data\":[{\"status\":5}]}",
        "{\"data\":[{\"status\":\"finished\",\"errors\":\"x\"}]}",
        "{\"data\":[{\"status\":\"finished\",\"errors\":[\"x\"]}]}",
        "{\"data\":[{\"status\":\"finished\",\"ids_of_invalid_requests\":[{}]}]}",
        "{\"data\":[{\"status\":\"finished\",\"errors_total_count\":\"1\"}]}",
        "{\"error\":{\"message\":\"too many calls\",\"code\":80009}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (cs_graph_parse_batch_status(bad[i], strlen(bad[i]), &s, err, sizeof err) != -1)
            fail_msg("accepted malformed answer %s", bad[i]);
        assert_true(err[0] != '\0');
        assert_null(s.errors);
        assert_null(s.invalid_ids);
        cs_graph_batch_status_free(&s);
    }
    cs_graph_batch_status_free(NULL);
}

static void test_graph_appsecret_proof(void **state __attribute__((unused)))
{
    char proof[65];
    /* python3 -c 'import hmac,hashlib;print(hmac.new(b"secret",b"token",hashlib.sha256).hexdigest())' */
    cs_graph_appsecret_proof("secret", "token", proof);
    assert_string_equal(proof, "e941110e3d2bfe82621f0e3e1434730d7305d106c5f68c87165d0b27a4611a4a");
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_classify),
        cmocka_unit_test(test_graph_envelope),
        cmocka_unit_test(test_graph_throttle),
        cmocka_unit_test(test_graph_items_batch),
        cmocka_unit_test(test_graph_batch_status),
        cmocka_unit_test(test_graph_appsecret_proof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
