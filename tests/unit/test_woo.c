/* Unit tests for woo_rest (cs_woo_*): auth configuration checks, OAuth 1.0a signatures
 * (vectors computed independently with Python), WordPress error parsing and
 * classification, batch bodies and answers, SKU lookups. */
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

/* ------------------------------------------------------------ auth checks */

static void test_auth_parse_and_check(void **state __attribute__((unused)))
{
    char err[512];
    assert_int_equal(cs_woo_auth_parse("basic"), CS_WOO_AUTH_BASIC);
    assert_int_equal(cs_woo_auth_parse("QUERY"), CS_WOO_AUTH_QUERY);
    assert_int_equal(cs_woo_auth_parse("oauth1"), CS_WOO_AUTH_OAUTH1);
    assert_int_equal(cs_woo_auth_parse("oauth"), -1);
    assert_int_equal(cs_woo_auth_parse(""), -1);
    assert_int_equal(cs_woo_auth_parse(NULL), -1);
    assert_string_equal(cs_woo_auth_name(CS_WOO_AUTH_OAUTH1), "oauth1");

    /* Accepted. */
    static const struct { const char *url; cs_woo_auth mode; } ok[] = {
        {"https://store.example", CS_WOO_AUTH_BASIC},
        {"https://store.example/", CS_WOO_AUTH_QUERY},
        {"HTTPS://Store.Example:8443/shop", CS_WOO_AUTH_BASIC},
        {"http://store.example", CS_WOO_AUTH_OAUTH1},
        {"https://store.example", CS_WOO_AUTH_OAUTH1},
        {"http://[::1]:8080", CS_WOO_AUTH_OAUTH1},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        err[0] = '\0';
        if (cs_woo_check_auth(ok[i].url, ok[i].mode, err, sizeof err) != 0)
            fail_msg("refused %s: %s", ok[i].url, err);
    }

    /* Keys in clear over http:// are refused, with the way out named. */
    static const cs_woo_auth insecure[] = {CS_WOO_AUTH_BASIC, CS_WOO_AUTH_QUERY};
    for (size_t i = 0; i < 2; i++) {
        err[0] = '\0';
        assert_int_equal(cs_woo_check_auth("http://store.example", insecure[i], err, sizeof err), -1);
        assert_non_null(strstr(err, "https://"));
        assert_non_null(strstr(err, "auth = \"oauth1\""));
        assert_non_null(strstr(err, "in clear"));
    }
    assert_int_equal(cs_woo_check_auth("HTTP://store.example", CS_WOO_AUTH_BASIC, err, sizeof err), -1);

    /* Malformed base URLs. */
    static const char *const bad[] = {
        "store.example", "ftp://store.example", "https://", "https://store.example/wp-json",
        "https://store.example/wp-json/wc/v3", "https://store.example?x=1",
        "https://store.example/#top", "https://ck:cs@store.example", "https://store:x/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (cs_woo_check_auth(bad[i], CS_WOO_AUTH_OAUTH1, err, sizeof err) != -1)
            fail_msg("accepted base_url %s", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(cs_woo_check_auth(NULL, CS_WOO_AUTH_BASIC, err, sizeof err), -1);
    assert_int_equal(cs_woo_check_auth("https://s", (cs_woo_auth)7, err, sizeof err), -1);
    assert_int_equal(cs_woo_check_auth("http://s", CS_WOO_AUTH_BASIC, NULL, 0), -1);
}

/* -------------------------------------------------------------- OAuth 1.0a */

/*
 * Expected values from an independent implementation of RFC 5849 §3.4.1 in
 * Python 3 (standard library only):
 *
 *   import hmac, hashlib, base64
 *   from urllib.parse import quote, urlsplit, parse_qsl
 *   enc = lambda s: quote(s, safe='~')                  # RFC 3986 unreserved kept
 *   def sign(method, url, key, secret, nonce, ts):
 *       u = urlsplit(url); scheme = u.scheme.lower(); host = u.hostname.lower()
 *       netloc = host if u.port is None or (scheme, u.port) in (("http", 80), ("https", 443)) \
 *                else "%s:%d" % (host, u.port)
 *       base_uri = "%s://%s%s" % (scheme, netloc, u.path or "/")     # §3.4.1.2
 *       params = parse_qsl(u.query, keep_blank_values=True)          # §3.4.1.3.1
 *       params += [("oauth_consumer_key", key), ("oauth_nonce", nonce),
 *                  ("oauth_signature_method", "HMAC-SHA256"), ("oauth_timestamp", str(ts))]
 *       norm = "&".join("%s=%s" % kv for kv in sorted((enc(k), enc(v)) for k, v in params))
 *       base = "&".join([method.upper(), enc(base_uri), enc(norm)])  # §3.4.1.1
 *       sig = base64.b64encode(hmac.new((secret + "&").encode(), base.encode(),
 *                                       hashlib.sha256).digest()).decode()
 *       return norm + "&oauth_signature=" + enc(sig)
 *
 * Vector 1 exercises an existing query string ('+' as space, %2F decoded and
 * re-encoded, ',' encoded), upper-case scheme/host and a default port; its
 * base string is
 *   GET&https%3A%2F%2Fstore.example%2Fwp-json%2Fwc%2Fv3%2Fproducts&_fields%3Did%252Csku
 *   %252Cstatus%26oauth_consumer_key%3Dck_test%26oauth_nonce%3D0123456789abcdef0123456789
 *   abcdef%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1700000000%26sku%3D
 *   AB%252F1%2520x%26status%3Dany
 * Vector 2: a lower-case method, a non-default port, a path prefix, no query.
 */
static void test_oauth1_vectors(void **state __attribute__((unused)))
{
    char err[256];
    cs_buf q;
    cs_buf_init(&q, 0);
    assert_int_equal(cs_woo_oauth1_sign("GET", "https://Store.Example:443/wp-json/wc/v3/products?"
                                        "sku=AB%2F1+x&status=any&_fields=id,sku,status",
                                        "ck_test", "cs_secret", "0123456789abcdef0123456789abcdef",
                                        1700000000L, &q, err, sizeof err), 0);
    assert_string_equal(q.data,
        "_fields=id%2Csku%2Cstatus&oauth_consumer_key=ck_test"
        "&oauth_nonce=0123456789abcdef0123456789abcdef&oauth_signature_method=HMAC-SHA256"
        "&oauth_timestamp=1700000000&sku=AB%2F1%20x&status=any"
        "&oauth_signature=NIzr6BRIJ7RznJLCvnquPfSoFS79MgZcAWy6bT5SwRc%3D");

    cs_buf_reset(&q);
    assert_int_equal(cs_woo_oauth1_sign("post", "http://127.0.0.1:8080/shop/wp-json/wc/v3/products/batch",
                                        "ck_abc", "cs_xyz", "nonce1", 1234567890L, &q, err,
                                        sizeof err), 0);
    assert_string_equal(q.data,
        "oauth_consumer_key=ck_abc&oauth_nonce=nonce1&oauth_signature_method=HMAC-SHA256"
        "&oauth_timestamp=1234567890"
        "&oauth_signature=LvrNxK7V0XMVojcPTtTDDl3mO%2FEMPVAHhQRNpc1Kjhc%3D");

    /* The output is appended; on failure it is left as it was. */
    cs_buf_reset(&q);
    cs_buf_appends(&q, "keep");
    assert_int_equal(cs_woo_oauth1_sign("GET", "store.example/products", "k", "s", "n", 1, &q,
                                        err, sizeof err), -1);
    assert_non_null(strstr(err, "URL"));
    assert_int_equal(cs_woo_oauth1_sign("GET", "https://s/p", "", "s", "n", 1, &q, err,
                                        sizeof err), -1);
    assert_string_equal(q.data, "keep");
    cs_buf_free(&q);
    cs_buf_init(&q, 40);
    assert_int_equal(cs_woo_oauth1_sign("GET", "https://s/p", "k", "s", "n", 1, &q, err,
                                        sizeof err), -1);
    assert_int_equal(q.len, 0);
    cs_buf_free(&q);
}

/* ---------------------------------------------------------- errors, classes */

static void parse(const char *body, long status, cs_woo_error *e)
{
    cs_woo_parse_error(body, body ? strlen(body) : 0, status, e);
}

static void test_parse_error(void **state __attribute__((unused)))
{
    cs_woo_error e;
    parse("{\"code\":\"product_invalid_sku\",\"message\":\"Invalid or duplicated SKU.\","
          "\"data\":{\"status\":400,\"resource_id\":123,\"unique_sku\":\"ABC-1-1\"},"
          "\"additional_errors\":[]}", 400, &e);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.code, "product_invalid_sku");
    assert_string_equal(e.message, "Invalid or duplicated SKU.");
    assert_int_equal(e.resource_id, 123);

    parse("{\"code\":\"rest_invalid_param\",\"message\":\"Invalid parameter(s): regular_price\","
          "\"data\":{\"status\":400,\"params\":{\"regular_price\":\"regular_price is not of type "
          "string.\"},\"details\":{}}}", 400, &e);
    assert_string_equal(e.code, "rest_invalid_param");
    assert_int_equal(e.resource_id, 0);

    parse("<html><head><title>500 Internal Server Error</title></head>\r\n<body>x</body></html>",
          500, &e);
    assert_string_equal(e.code, "");
    assert_string_equal(e.message, "HTTP 500: <html><head><title>500 Internal Server Error"
                                   "</title></head>  <body>x</body></html>");
    parse("", 502, &e);
    assert_string_equal(e.message, "HTTP 502");
    parse("{\"ok\":true}", 404, &e);
    assert_string_equal(e.code, "");
    assert_string_equal(e.message, "HTTP 404");
    assert_int_equal(e.not_wp, 1);
    parse("{\"code\":\"rest_no_route\",\"message\":\"x\",\"data\":{\"status\":404}}", 404, &e);
    assert_int_equal(e.not_wp, 0);
    parse(NULL, 0, &e);
    assert_int_equal(e.http_status, 0);
    assert_string_equal(e.message, "no HTTP answer");
    parse("{\"code\":\"x\",\"data\":{\"status\":\"410\"}}", 410, &e);
    assert_string_equal(e.message, "HTTP 410");              /* no message: the status */

    /* Long bodies: 200 bytes kept, control bytes and bad UTF-8 replaced. */
    char junk[700];
    memset(junk, 'j', sizeof junk);
    junk[0] = '\n';
    junk[1] = '\xff';
    cs_woo_parse_error(junk, sizeof junk, 503, &e);
    assert_int_equal(strlen(e.message), strlen("HTTP 503: ") + 200);
    assert_memory_equal(e.message, "HTTP 503:  ?jj", 14);

    /* Long messages are cut without splitting a UTF-8 sequence. */
    char big[1200];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"code\":\"c\",\"message\":\"");
    for (int i = 0; i < 400; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "\xc3\xa9");
    snprintf(big + n, sizeof big - n, "\"}");
    parse(big, 400, &e);
    assert_int_equal(strlen(e.message), 510);
}

static cs_class classify(const char *code, long status)
{
    char body[256];
    cs_woo_error e;
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"message\":\"m\",\"data\":{\"status\":%ld}}",
             code, status);
    parse(body, status, &e);
    assert_string_equal(e.code, code);
    return cs_woo_classify(&e);
}

static void test_classify(void **state __attribute__((unused)))
{
    /* Every code of reference §4, plus the permission codes of §3. */
    static const struct { const char *code; long st; cs_class want; } t[] = {
        {"rest_invalid_param", 400, CS_CLASS_BAD_ITEM},
        {"rest_invalid_json", 400, CS_CLASS_BAD_ITEM},
        {"rest_no_route", 404, CS_CLASS_AUTH},              /* the base URL is wrong */
        {"woocommerce_rest_product_invalid_id", 404, CS_CLASS_BAD_ITEM},
        {"woocommerce_rest_product_invalid_id", 400, CS_CLASS_BAD_ITEM},
        {"woocommerce_rest_invalid_product_id", 404, CS_CLASS_BAD_ITEM},
        {"product_invalid_sku", 400, CS_CLASS_BAD_ITEM},
        {"woocommerce_rest_product_not_created", 400, CS_CLASS_BAD_ITEM},
        {"woocommerce_product_image_upload_error", 400, CS_CLASS_BAD_ITEM},
        {"woocommerce_product_invalid_image_id", 400, CS_CLASS_BAD_ITEM},
        {"woocommerce_rest_cannot_view", 401, CS_CLASS_AUTH},
        {"woocommerce_rest_cannot_create", 401, CS_CLASS_AUTH},
        {"woocommerce_rest_cannot_edit", 403, CS_CLASS_AUTH},
        {"woocommerce_rest_cannot_delete", 403, CS_CLASS_AUTH},
        {"woocommerce_rest_cannot_batch", 401, CS_CLASS_AUTH},
        {"woocommerce_rest_cannot_delete", 500, CS_CLASS_TRANSIENT},   /* delete failed */
        {"woocommerce_rest_authentication_error", 401, CS_CLASS_AUTH},
        {"woocommerce_rest_authentication_missing_parameter", 401, CS_CLASS_AUTH},
        {"woocommerce_rest_request_entity_too_large", 413, CS_CLASS_BAD_ITEM},
        {"woocommerce_rest_already_trashed", 410, CS_CLASS_BAD_ITEM},  /* see delete_is_done */
        {"woocommerce_rest_trash_not_supported", 501, CS_CLASS_BAD_ITEM},
        {"internal_server_error", 500, CS_CLASS_TRANSIENT},
        {"rest_forbidden", 403, CS_CLASS_AUTH},
        {"some_plugin_error", 400, CS_CLASS_BAD_ITEM},
        {"some_plugin_error", 502, CS_CLASS_TRANSIENT},
        {"maintenance", 503, CS_CLASS_THROTTLE},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cs_class got = classify(t[i].code, t[i].st);
        if (got != t[i].want)
            fail_msg("%s HTTP %ld: %s, want %s", t[i].code, t[i].st, cs_class_name(got),
                     cs_class_name(t[i].want));
    }

    /* Answers without a WordPress body: hosts, proxies, WAFs, PHP fatals. */
    static const struct { long st; const char *body; cs_class want; } h[] = {
        {0, NULL, CS_CLASS_TRANSIENT},
        {500, "<html><body>Internal Server Error</body></html>", CS_CLASS_TRANSIENT},
        {502, "<html>Bad Gateway</html>", CS_CLASS_TRANSIENT},
        {504, "", CS_CLASS_TRANSIENT},
        {408, "", CS_CLASS_TRANSIENT},
        {429, "<html>Too Many Requests</html>", CS_CLASS_THROTTLE},
        {503, "<html>Service Unavailable</html>", CS_CLASS_THROTTLE},
        {401, "", CS_CLASS_AUTH},
        {403, "<html>Forbidden by WAF</html>", CS_CLASS_AUTH},
        {413, "<html>413 Request Entity Too Large</html>", CS_CLASS_BAD_ITEM},
        /* Not WordPress answering: the store's setup (issue 15, item 10). */
        {404, "<html>Not Found</html>", CS_CLASS_AUTH},
        {406, "<html>Not Acceptable! ... Mod_Security</html>", CS_CLASS_AUTH},
        {400, "<html>400 Bad Request (cloudflare)</html>", CS_CLASS_AUTH},
        {400, "{\"error\":\"bad request\"}", CS_CLASS_AUTH},
        {301, "", CS_CLASS_AUTH},
        {200, "[]", CS_CLASS_OK},
        {201, "{\"id\":5}", CS_CLASS_OK},
    };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
        cs_woo_error e;
        parse(h[i].body, h[i].st, &e);
        if (cs_woo_classify(&e) != h[i].want)
            fail_msg("HTTP %ld %s: %s", h[i].st, h[i].body ? h[i].body : "(none)",
                     cs_class_name(cs_woo_classify(&e)));
    }
}

static void test_delete_helpers(void **state __attribute__((unused)))
{
    cs_woo_error e;
    parse("{\"code\":\"woocommerce_rest_already_trashed\",\"message\":\"The product has already "
          "been deleted.\",\"data\":{\"status\":410}}", 410, &e);
    assert_true(cs_woo_delete_is_done(&e));
    parse("{\"code\":\"woocommerce_rest_product_invalid_id\",\"message\":\"Invalid ID.\","
          "\"data\":{\"status\":404}}", 404, &e);
    assert_true(cs_woo_delete_is_done(&e));
    parse("<html>Gone</html>", 410, &e);
    assert_true(cs_woo_delete_is_done(&e));
    /* A wrong base URL must not look like a delete that succeeded. */
    parse("{\"code\":\"rest_no_route\",\"message\":\"No route was found matching the URL and "
          "request method.\",\"data\":{\"status\":404}}", 404, &e);
    assert_false(cs_woo_delete_is_done(&e));
    parse("<html>Not Found</html>", 404, &e);
    assert_false(cs_woo_delete_is_done(&e));
    parse("{\"code\":\"woocommerce_rest_invalid_product_id\",\"message\":\"m\","
          "\"data\":{\"status\":404}}", 404, &e);
    assert_false(cs_woo_delete_is_done(&e));
    parse("", 500, &e);
    assert_false(cs_woo_delete_is_done(&e));
    assert_false(cs_woo_delete_needs_force(&e));
    parse("{\"code\":\"woocommerce_rest_trash_not_supported\",\"message\":\"The product does not "
          "support trashing.\",\"data\":{\"status\":501}}", 501, &e);
    assert_true(cs_woo_delete_needs_force(&e));
    assert_false(cs_woo_delete_is_done(&e));
}

/* ------------------------------------------------------------------ batch */

static void test_batch_body(void **state __attribute__((unused)))
{
    cs_buf b;
    cs_buf_init(&b, 0);
    const char *creates[] = {"{\"sku\":\"A\",\"name\":\"a\"}", " {\"sku\":\"B\"}\n"};
    const char *updates[] = {"{\"id\":55,\"regular_price\":\"10.00\"}"};
    const long dels[] = {7, 8};
    assert_int_equal(cs_woo_batch_body(&b, creates, 2, updates, 1, dels, 2), 0);
    assert_string_equal(b.data, "{\"create\":[{\"sku\":\"A\",\"name\":\"a\"}, {\"sku\":\"B\"}\n],"
                                "\"update\":[{\"id\":55,\"regular_price\":\"10.00\"}],"
                                "\"delete\":[7,8]}");
    cs_buf_reset(&b);
    assert_int_equal(cs_woo_batch_body(&b, NULL, 0, updates, 1, NULL, 0), 0);
    assert_string_equal(b.data, "{\"update\":[{\"id\":55,\"regular_price\":\"10.00\"}]}");
    cs_buf_reset(&b);
    assert_int_equal(cs_woo_batch_body(&b, NULL, 0, NULL, 0, dels, 1), 0);
    assert_string_equal(b.data, "{\"delete\":[7]}");
    cs_buf_reset(&b);
    assert_int_equal(cs_woo_batch_body(&b, NULL, 0, NULL, 0, NULL, 0), 0);
    assert_string_equal(b.data, "{}");

    /* Refusals leave the buffer as it was. */
    cs_buf_reset(&b);
    cs_buf_appends(&b, "prefix");
    const long zero[] = {3, 0};
    const char *notobj[] = {"[1]"};
    const char *null_obj[] = {NULL};
    assert_int_equal(cs_woo_batch_body(&b, NULL, 0, NULL, 0, zero, 2), -1);
    assert_int_equal(cs_woo_batch_body(&b, notobj, 1, NULL, 0, NULL, 0), -1);
    assert_int_equal(cs_woo_batch_body(&b, null_obj, 1, NULL, 0, NULL, 0), -1);
    assert_int_equal(cs_woo_batch_body(&b, NULL, 1, NULL, 0, NULL, 0), -1);
    assert_string_equal(b.data, "prefix");
    cs_buf_free(&b);
    cs_buf_init(&b, 20);
    assert_int_equal(cs_woo_batch_body(&b, creates, 2, NULL, 0, NULL, 0), -1);   /* cap */
    assert_int_equal(b.len, 0);
    cs_buf_free(&b);
}

/* The sample answer of reference §1 "Batch details" (delete holds a full product). */
static const char REF_SAMPLE[] =
    "{\"create\":[{\"id\":0,\"error\":{\"code\":\"product_invalid_sku\",\"message\":\"Invalid or "
    "duplicated SKU.\",\"data\":{\"status\":400,\"resource_id\":123,\"unique_sku\":\"ABC-1\"}}}],"
    " \"update\":[{\"id\":55,\"error\":{\"code\":\"woocommerce_rest_product_invalid_id\","
    "\"message\":\"Invalid ID.\",\"data\":{\"status\":400}}}],"
    " \"delete\":[{\"id\":77,\"name\":\"Old\",\"sku\":\"OLD-1\",\"status\":\"publish\","
    "\"regular_price\":\"5.00\",\"images\":[{\"id\":901,\"src\":\"https://s/a.jpg\"}]}]}";

static void test_parse_batch(void **state __attribute__((unused)))
{
    char err[256];
    cs_woo_batch_reply r;
    assert_int_equal(cs_woo_parse_batch(REF_SAMPLE, strlen(REF_SAMPLE), 1, 1, 1, &r, err,
                                        sizeof err), 0);
    assert_int_equal(r.n_create, 1);
    assert_int_equal(r.n_update, 1);
    assert_int_equal(r.n_del, 1);
    assert_false(r.create[0].ok);
    assert_int_equal(r.create[0].id, 0);
    assert_string_equal(r.create[0].err.code, "product_invalid_sku");
    assert_string_equal(r.create[0].err.message, "Invalid or duplicated SKU.");
    assert_int_equal(r.create[0].err.http_status, 400);
    assert_int_equal(r.create[0].err.resource_id, 123);
    assert_int_equal(cs_woo_classify(&r.create[0].err), CS_CLASS_BAD_ITEM);
    assert_false(r.update[0].ok);
    assert_int_equal(r.update[0].id, 55);
    assert_string_equal(r.update[0].err.code, "woocommerce_rest_product_invalid_id");
    assert_int_equal(r.update[0].err.resource_id, 0);
    assert_true(r.del[0].ok);
    assert_int_equal(r.del[0].id, 77);
    assert_string_equal(r.del[0].sku, "OLD-1");
    assert_int_equal(r.del[0].n_images, 1);
    assert_int_equal(r.del[0].image_ids[0], 901);
    cs_woo_batch_reply_free(&r);
    assert_null(r.create);
    assert_int_equal(r.n_create, 0);

    /* Successes by position, images in order, lists not sent left out. */
    const char *ok = "{\"create\":[{\"id\":101,\"sku\":\"A\",\"images\":[{\"id\":11},{\"id\":12}]},"
                     "{\"id\":0,\"error\":{\"code\":\"woocommerce_product_image_upload_error\","
                     "\"message\":\"Error getting remote image URL.\",\"data\":{\"status\":400}}},"
                     "{\"id\":103,\"sku\":\"C\",\"images\":[]}]}";
    assert_int_equal(cs_woo_parse_batch(ok, strlen(ok), 3, 0, 0, &r, err, sizeof err), 0);
    assert_int_equal(r.n_create, 3);
    assert_null(r.update);
    assert_null(r.del);
    assert_true(r.create[0].ok);
    assert_int_equal(r.create[0].id, 101);
    assert_string_equal(r.create[0].sku, "A");
    assert_int_equal(r.create[0].n_images, 2);
    assert_int_equal(r.create[0].image_ids[1], 12);
    assert_false(r.create[1].ok);
    assert_string_equal(r.create[1].err.code, "woocommerce_product_image_upload_error");
    assert_string_equal(r.create[1].sku, "");
    assert_true(r.create[2].ok);
    assert_int_equal(r.create[2].n_images, 0);
    cs_woo_batch_reply_free(&r);

    /* An error stub without data.status is an item error (400). */
    const char *nostatus = "{\"update\":[{\"id\":9,\"error\":{\"code\":\"x\",\"message\":\"m\"}}],"
                           "\"delete\":[]}";
    assert_int_equal(cs_woo_parse_batch(nostatus, strlen(nostatus), 0, 1, 0, &r, err, sizeof err), 0);
    assert_int_equal(r.update[0].err.http_status, 400);
    assert_int_equal(cs_woo_classify(&r.update[0].err), CS_CLASS_BAD_ITEM);
    cs_woo_batch_reply_free(&r);

    /* More images than kept. */
    char many[4096];
    size_t n = (size_t)snprintf(many, sizeof many, "{\"update\":[{\"id\":1,\"images\":[");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%s{\"id\":%d}", i ? "," : "", 500 + i);
    snprintf(many + n, sizeof many - n, "]}]}");
    assert_int_equal(cs_woo_parse_batch(many, strlen(many), 0, 1, 0, &r, err, sizeof err), 0);
    assert_int_equal(r.update[0].n_images, CS_WOO_IMAGES_MAX);
    assert_int_equal(r.update[0].image_ids[31], 531);
    cs_woo_batch_reply_free(&r);

    /* Answers that cannot be matched by position are rejected. */
    static const struct { const char *body; size_t c, u, d; const char *want; } bad[] = {
        {REF_SAMPLE, 2, 1, 1, "1 \"create\" result(s) for 2 sent"},
        {REF_SAMPLE, 1, 0, 1, "1 \"update\" result(s) for 0 sent"},
        {"{\"create\":[{\"id\":1}]}", 1, 0, 1, "no \"delete\" list"},
        {"{\"create\":[5]}", 1, 0, 0, "not an object"},
        {"{\"create\":{}}", 1, 0, 0, "no \"create\" list"},
        {"[]", 0, 0, 0, "not a JSON object"},
        {"<html>oops</html>", 1, 0, 0, "not a JSON object"},
        {"", 1, 0, 0, "not a JSON object"},
        {"{\"code\":\"woocommerce_rest_cannot_batch\",\"message\":\"Sorry, you are not allowed to "
         "batch manipulate this resource.\",\"data\":{\"status\":401}}", 1, 0, 0,
         "woocommerce_rest_cannot_batch"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (cs_woo_parse_batch(bad[i].body, strlen(bad[i].body), bad[i].c, bad[i].u, bad[i].d,
                               &r, err, sizeof err) != -1)
            fail_msg("accepted batch answer %s", bad[i].body);
        if (!strstr(err, bad[i].want))
            fail_msg("errstr \"%s\" lacks \"%s\"", err, bad[i].want);
        assert_null(r.create);
        assert_null(r.update);
        assert_null(r.del);
        cs_woo_batch_reply_free(&r);
    }
    cs_woo_batch_reply_free(NULL);
}

/* ------------------------------------------------------------- SKU lookup */

static long lookup(const char *body, const char *sku, int *trashed)
{
    return cs_woo_parse_sku_lookup(body, strlen(body), sku, trashed);
}

static void test_sku_lookup(void **state __attribute__((unused)))
{
    int trashed = -1;
    /* The comma split of ?sku= can return other SKUs: only the exact one counts. */
    assert_int_equal(lookup("[{\"id\":10,\"sku\":\"AB\",\"status\":\"publish\"},"
                            "{\"id\":11,\"sku\":\"ab-1\",\"status\":\"publish\"}]",
                            "AB-1", &trashed), 11);
    assert_int_equal(trashed, 0);
    /* Live products win over trashed ones; the lowest id among several. */
    assert_int_equal(lookup("[{\"id\":5,\"sku\":\"X\",\"status\":\"trash\"},"
                            "{\"id\":9,\"sku\":\"X\",\"status\":\"draft\"},"
                            "{\"id\":8,\"sku\":\"X\",\"status\":\"private\"}]", "X", &trashed), 8);
    assert_int_equal(trashed, 0);
    assert_int_equal(lookup("[{\"id\":5,\"sku\":\"X\",\"status\":\"trash\"}]", "X", &trashed), 5);
    assert_int_equal(trashed, 1);
    assert_int_equal(lookup("[{\"id\":5,\"sku\":\"X\",\"status\":\"trash\"}]", "X", NULL), 5);
    /* Variations are skipped: /products/{id} cannot update them. */
    assert_int_equal(lookup("[{\"id\":21,\"sku\":\"V\",\"status\":\"publish\",\"parent_id\":20},"
                            "{\"id\":22,\"sku\":\"V\",\"type\":\"variation\"}]", "V", &trashed), 0);
    assert_int_equal(trashed, 0);
    /* None. */
    assert_int_equal(lookup("[]", "X", &trashed), 0);
    assert_int_equal(trashed, 0);
    assert_int_equal(lookup("[{\"id\":1,\"sku\":\"Y\",\"status\":\"publish\"}]", "X", &trashed), 0);
    assert_int_equal(lookup("[{\"id\":1,\"sku\":\"\"},{\"id\":2}]", "X", NULL), 0);
    /* Malformed. */
    static const char *const bad[] = {
        "", "{}", "not json", "[1]", "[{\"id\":\"7\",\"sku\":\"X\"}]", "[{\"sku\":\"X\"}]",
        "{\"code\":\"woocommerce_rest_cannot_view\",\"message\":\"m\",\"data\":{\"status\":401}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (lookup(bad[i], "X", &trashed) != -1)
            fail_msg("accepted SKU lookup answer %s", bad[i]);
    assert_int_equal(cs_woo_parse_sku_lookup(NULL, 0, "X", NULL), -1);
}


/* Issue 15: the images of an adopted product, the store's currency. */
static void test_lookup_images_and_currency(void **state __attribute__((unused)))
{
    static const char body[] =
        "[{\"id\":7,\"sku\":\"A\",\"images\":[]},"
        "{\"id\":12,\"sku\":\"B\",\"images\":[{\"id\":13,\"src\":"
        "\"https://s.example/wp-content/uploads/2026/12/a-1.jpg\"},"
        "{\"id\":14,\"src\":\"https://s.example/u/b.png?x=1\"},{\"id\":0}]}]";
    long ids[4];
    char files[4][CS_WOO_FILE_MAX];
    assert_int_equal(cs_woo_parse_lookup_images(body, strlen(body), 12, ids, files, 4), 2);
    assert_int_equal(ids[0], 13);
    assert_string_equal(files[0], "a-1.jpg");
    assert_int_equal(ids[1], 14);
    assert_string_equal(files[1], "b.png");
    assert_int_equal(cs_woo_parse_lookup_images(body, strlen(body), 12, ids, files, 1), 1);
    assert_int_equal(cs_woo_parse_lookup_images(body, strlen(body), 7, ids, files, 4), 0);
    assert_int_equal(cs_woo_parse_lookup_images(body, strlen(body), 99, ids, files, 4), 0);
    assert_int_equal(cs_woo_parse_lookup_images("<html>", 6, 12, ids, files, 4), 0);

    char cur[4];
    static const char c1[] = "{\"code\":\"EUR\",\"name\":\"Euro\",\"symbol\":\"&euro;\"}";
    assert_int_equal(cs_woo_parse_currency(c1, strlen(c1), cur), 0);
    assert_string_equal(cur, "EUR");
    static const char *const bad[] = {"{\"code\":\"eur\"}", "{\"code\":\"EURO\"}", "{}",
                                      "[\"USD\"]", "<html>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cs_woo_parse_currency(bad[i], strlen(bad[i]), cur), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_parse_and_check),
        cmocka_unit_test(test_oauth1_vectors),
        cmocka_unit_test(test_parse_error),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_delete_helpers),
        cmocka_unit_test(test_batch_body),
        cmocka_unit_test(test_parse_batch),
        cmocka_unit_test(test_sku_lookup),
        cmocka_unit_test(test_lookup_images_and_currency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
