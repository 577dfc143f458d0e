/* Unit tests for the v1 event contract: parsing, validation, serialization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cs_event.h"

static const char *VALID =
    "{\"schema\":1,\"event_id\":\"e-1\",\"type\":\"product.updated\",\"tenant\":\"shop1\","
    "\"occurred_at\":\"2026-11-21T10:00:00.123+01:00\",\"actor\":\"u7\","
    "\"changed_fields\":[\"price\",\"COLOR\"],"
    "\"product\":{\"id\":\"p-42\",\"version\":1732183200123,\"sku\":\"SKU-42\","
    "\"name\":\"Blue \\\"Mug\\\"\",\"description\":\"line1\\nline2\","
    "\"price\":{\"amount\":\"189.99\",\"currency\":\"USD\"},\"sale_price\":null,"
    "\"stock_quantity\":7,\"is_active\":true,\"brand\":\"Acme\",\"condition\":\"new\","
    "\"link\":\"https://shop.example/p/42\",\"images\":[\"media/p42.jpg\"],"
    "\"categories\":[\"Kitchen\"],\"attributes\":[{\"name\":\"COLOR\",\"value\":\"Blue\"},"
    "{\"name\":\"SIZE\",\"value\":null}]}}";

/* Parses text and expects a rejection whose message contains want. */
static void expect_reject(const char *text, size_t len, cs_event_err want_err, const char *want)
{
    char err[512] = "";
    cs_event *ev = (cs_event *)1;
    cs_event_err e = cs_event_parse(text, len, NULL, &ev, err, sizeof err);
    if (e != want_err || !strstr(err, want))
        fail_msg("input %.80s: got %s \"%s\", want %s containing \"%s\"", text,
                 cs_event_err_name(e), err, cs_event_err_name(want_err), want);
    assert_null(ev);
}

/* Replaces the first occurrence of from in VALID with to. */
static char *variant(const char *from, const char *to)
{
    const char *p = strstr(VALID, from);
    assert_non_null(p);
    size_t n = strlen(VALID) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(p - VALID), VALID, to, p + strlen(from));
    return out;
}

static void reject_variant(const char *from, const char *to, const char *want)
{
    char *v = variant(from, to);
    expect_reject(v, strlen(v), CS_EVENT_EINVALID, want);
    free(v);
}

static void test_valid_event_fields(void **state __attribute__((unused)))
{
    char err[256];
    cs_event *ev = NULL;
    assert_int_equal(cs_event_parse(VALID, strlen(VALID), NULL, &ev, err, sizeof err),
                     CS_EVENT_OK);
    assert_int_equal(ev->type, CS_EV_UPDATED);
    assert_string_equal(ev->tenant, "shop1");
    assert_string_equal(ev->product.id, "p-42");
    assert_true(ev->product.version == 1732183200123LL);
    assert_string_equal(ev->product.price.amount, "189.99");
    assert_string_equal(ev->product.price.currency, "USD");
    assert_null(ev->product.sale_price.amount);
    assert_true(ev->product.has_stock);
    assert_int_equal(ev->product.stock_quantity, 7);
    assert_int_equal(ev->product.n_attributes, 2);
    assert_string_equal(ev->product.attributes[0].value, "Blue");
    assert_null(ev->product.attributes[1].value);
    assert_int_equal(ev->n_changed_fields, 2);
    assert_string_equal(ev->product.name, "Blue \"Mug\"");
    char key[128];
    cs_event_key(ev, key, sizeof key);
    assert_string_equal(key, "shop1:p-42");
    cs_event_destroy(ev);
}

static void test_roundtrip(void **state __attribute__((unused)))
{
    char err[256];
    cs_event *a = NULL, *b = NULL;
    cs_buf one, two;
    cs_buf_init(&one, 0);
    cs_buf_init(&two, 0);
    assert_int_equal(cs_event_parse(VALID, strlen(VALID), NULL, &a, err, sizeof err), 0);
    assert_int_equal(cs_event_serialize(a, &one), 0);
    assert_int_equal(cs_event_parse(one.data, one.len, NULL, &b, err, sizeof err), 0);
    assert_int_equal(cs_event_serialize(b, &two), 0);
    assert_string_equal(one.data, two.data);
    assert_string_equal(b->product.description, "line1\nline2");
    assert_string_equal(b->product.attributes[0].name, "COLOR");
    cs_buf_free(&one);
    cs_buf_free(&two);
    cs_event_destroy(a);
    cs_event_destroy(b);
}

static void test_defaults(void **state __attribute__((unused)))
{
    const char *t = "{\"schema\":1,\"event_id\":\"x\",\"type\":\"product.created\","
                    "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"product\":{\"id\":\"1\","
                    "\"version\":0}}";
    char err[256];
    cs_event *ev = NULL;
    assert_int_equal(cs_event_parse(t, strlen(t), NULL, &ev, err, sizeof err), 0);
    assert_string_equal(ev->tenant, "default");
    assert_int_equal(ev->product.is_active, 1);
    assert_null(ev->product.sku);
    cs_event_destroy(ev);
}

/* The largest version the contract takes, 2^53 - 1, is kept exactly. */
static void test_version_limit(void **state __attribute__((unused)))
{
    char *v = variant("\"version\":1732183200123", "\"version\":9007199254740991");
    char err[256];
    cs_event *ev = NULL;
    assert_int_equal(cs_event_parse(v, strlen(v), NULL, &ev, err, sizeof err), CS_EVENT_OK);
    assert_true(ev->product.version == CS_EVENT_MAX_VERSION);
    assert_true(ev->product.version == 9007199254740991LL);
    cs_event_destroy(ev);
    free(v);
}

/* A shared event lives until its last holder lets go (ASan and valgrind
 * report a double free or a leak). */
static void test_share(void **state __attribute__((unused)))
{
    char err[256];
    cs_event *ev = NULL;
    assert_int_equal(cs_event_parse(VALID, strlen(VALID), NULL, &ev, err, sizeof err), 0);
    assert_ptr_equal(cs_event_share(ev), ev);
    assert_ptr_equal(cs_event_share(ev), ev);
    cs_event_destroy(ev);
    cs_event_destroy(ev);
    assert_string_equal(ev->product.id, "p-42");   /* one holder left */
    cs_event_destroy(ev);
}

static void test_rejections_name_field(void **state __attribute__((unused)))
{
    reject_variant("\"id\":\"p-42\",", "", "product.id: is missing");
    reject_variant("\"id\":\"p-42\"", "\"id\":42", "product.id: must be a string, got integer");
    reject_variant("\"amount\":\"189.99\"", "\"amount\":189.99",
                   "product.price.amount: must be a decimal string");
    reject_variant("\"amount\":\"189.99\"", "\"amount\":\"1,5\"",
                   "product.price.amount: is not a decimal string");
    reject_variant("\"amount\":\"189.99\"", "\"amount\":\"-3.00\"",
                   "product.price.amount: is negative");
    reject_variant("\"amount\":\"189.99\"", "\"amount\":\"1e5\"",
                   "product.price.amount: is not a decimal string");
    reject_variant("\"amount\":\"189.99\"", "\"amount\":\"99999999999999999.00\"",
                   "product.price.amount: is out of range");
    reject_variant("\"currency\":\"USD\"", "\"currency\":\"usd\"",
                   "product.price.currency: must be a three-letter");
    reject_variant("\"version\":1732183200123", "\"version\":\"7\"",
                   "product.version: must be an integer, got string");
    reject_variant("\"version\":1732183200123", "\"version\":1.5",
                   "product.version: must be an integer, got number with a fraction");
    reject_variant("\"version\":1732183200123", "\"version\":9007199254740992",
                   "product.version: is 9007199254740992, above the largest version "
                   "9007199254740991 (2^53 - 1)");
    reject_variant("\"version\":1732183200123", "\"version\":1700000000000000001",
                   "product.version: is 1700000000000000001, above the largest version");
    reject_variant("\"type\":\"product.updated\"", "\"type\":\"product.renamed\"",
                   "type: unknown event type \"product.renamed\"");
    reject_variant("\"schema\":1", "\"schema\":2", "schema: unsupported version 2");
    reject_variant("\"schema\":1", "\"schema\":\"1\"", "schema: must be an integer");
    reject_variant("\"tenant\":\"shop1\"", "\"tenant\":\"a:b\"", "tenant: must not contain ':'");
    reject_variant("\"occurred_at\":\"2026-11-21T10:00:00.123+01:00\"",
                   "\"occurred_at\":\"yesterday\"", "occurred_at: is not an RFC 3339");
    reject_variant("\"is_active\":true", "\"is_active\":\"yes\"",
                   "product.is_active: must be a boolean, got string");
    reject_variant("\"stock_quantity\":7", "\"stock_quantity\":\"7\"",
                   "product.stock_quantity: must be an integer");
    reject_variant("\"images\":[\"media/p42.jpg\"]", "\"images\":\"media/p42.jpg\"",
                   "product.images: must be an array of strings, got string");
    reject_variant("{\"name\":\"COLOR\",\"value\":\"Blue\"}", "{\"name\":\"COLOR\",\"value\":3}",
                   "product.attributes[0].value: must be a string or");
    reject_variant("\"event_id\":\"e-1\",", "", "event_id: is missing");
    reject_variant("\"changed_fields\":[\"price\",\"COLOR\"]", "\"changed_fields\":[1]",
                   "changed_fields[0]: must be a string, got integer");
    reject_variant("\"actor\":\"u7\"", "\"actor\":\"u7\",\"delete_mode\":\"soft\"",
                   "delete_mode: is only allowed on product.deleted");
    char *dup = variant("\"actor\":\"u7\"", "\"actor\":\"u7\",\"actor\":\"u8\"");
    expect_reject(dup, strlen(dup), CS_EVENT_EJSON, "duplicate object key");
    free(dup);
}

static void test_wrong_json_type_and_syntax(void **state __attribute__((unused)))
{
    expect_reject("[1,2]", 5, CS_EVENT_EINVALID, "event: must be a JSON object, got array");
    expect_reject("{\"schema\":1,", 12, CS_EVENT_EJSON, "malformed JSON at line 1");
    expect_reject("{\"schema\":1,\"product\":\"x\"}", 26, CS_EVENT_EINVALID, "");
    const char *t = "{\"schema\":1,\"event_id\":\"x\",\"type\":\"product.created\","
                    "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"product\":[]}";
    expect_reject(t, strlen(t), CS_EVENT_EINVALID, "product: must be an object, got array");
}

static void test_utf8_and_size(void **state __attribute__((unused)))
{
    char *bad = variant("Acme", "Ac\xc3\x28me");
    expect_reject(bad, strlen(bad), CS_EVENT_EUTF8, "invalid UTF-8 at byte");
    free(bad);
    char *ok = variant("Acme", "Caf\xc3\xa9 \xe2\x82\xac");
    char err[256];
    cs_event *ev = NULL;
    assert_int_equal(cs_event_parse(ok, strlen(ok), NULL, &ev, err, sizeof err), 0);
    assert_string_equal(ev->product.brand, "Caf\xc3\xa9 \xe2\x82\xac");
    cs_event_destroy(ev);
    free(ok);

    cs_event_limits lim = {200};
    ev = (cs_event *)1;
    assert_int_equal(cs_event_parse(VALID, strlen(VALID), &lim, &ev, err, sizeof err),
                     CS_EVENT_ETOOBIG);
    assert_non_null(strstr(err, "over the 200-byte cap"));
    assert_null(ev);
}

static void test_deep_nesting(void **state __attribute__((unused)))
{
    size_t depth = 5000;
    char *t = malloc(depth * 2 + 1);
    memset(t, '[', depth);
    memset(t + depth, ']', depth);
    t[depth * 2] = '\0';
    char err[256];
    cs_event *ev = NULL;
    cs_event_err e = cs_event_parse(t, depth * 2, NULL, &ev, err, sizeof err);
    assert_int_not_equal(e, CS_EVENT_OK);
    assert_null(ev);
    free(t);
}

static void test_deleted_and_export(void **state __attribute__((unused)))
{
    char err[256];
    cs_event *ev = NULL;
    const char *del = "{\"schema\":1,\"event_id\":\"d\",\"type\":\"product.deleted\","
                      "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"delete_mode\":\"permanent\","
                      "\"product\":{\"id\":\"1\",\"version\":3,\"sku\":\"S\"}}";
    assert_int_equal(cs_event_parse(del, strlen(del), NULL, &ev, err, sizeof err), 0);
    assert_int_equal(ev->delete_mode, CS_DELETE_PERMANENT);
    cs_event_destroy(ev);

    const char *nosku = "{\"schema\":1,\"event_id\":\"d\",\"type\":\"product.deleted\","
                        "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"product\":{\"id\":\"1\","
                        "\"version\":3}}";
    expect_reject(nosku, strlen(nosku), CS_EVENT_EINVALID, "product.sku: is missing");

    const char *exp = "{\"schema\":1,\"event_id\":\"x\",\"type\":\"product.export_requested\","
                      "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"export\":{\"connections\":[1,2],"
                      "\"fields\":[\"name\",\"COLOR\"],\"partial_update\":true},"
                      "\"product\":{\"id\":\"1\",\"version\":3}}";
    assert_int_equal(cs_event_parse(exp, strlen(exp), NULL, &ev, err, sizeof err), 0);
    assert_int_equal(ev->export.n_connections, 2);
    assert_int_equal(ev->export.connections[1], 2);
    assert_string_equal(ev->export.fields[1], "COLOR");
    assert_true(ev->export.partial_update);
    cs_event_destroy(ev);

    const char *noconn = "{\"schema\":1,\"event_id\":\"x\",\"type\":\"product.export_requested\","
                         "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"export\":{\"connections\":[]},"
                         "\"product\":{\"id\":\"1\",\"version\":3}}";
    expect_reject(noconn, strlen(noconn), CS_EVENT_EINVALID,
                  "export.connections: must name at least one connection");
    const char *strconn = "{\"schema\":1,\"event_id\":\"x\",\"type\":\"product.export_requested\","
                          "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"export\":{\"connections\":[\"1\"]},"
                          "\"product\":{\"id\":\"1\",\"version\":3}}";
    expect_reject(strconn, strlen(strconn), CS_EVENT_EINVALID,
                  "export.connections[0]: must be an integer, got string");
}

static void test_snapshot_wrapping(void **state __attribute__((unused)))
{
    const char *snap = "{\"id\":\"p1\",\"version\":5,\"sku\":\"A\",\"price\":{\"amount\":\"1000\","
                       "\"currency\":\"JPY\"}}";
    int64_t conns[] = {3};
    const char *fields[] = {"name", "price"};
    cs_event_template tpl = {0};
    tpl.type = CS_EV_EXPORT_REQUESTED;
    tpl.tenant = "t9";
    tpl.connections = conns;
    tpl.n_connections = 1;
    tpl.fields = fields;
    tpl.n_fields = 2;
    char err[256];
    cs_event *ev = NULL;
    assert_int_equal(cs_event_parse_input(snap, strlen(snap), NULL, &tpl, &ev, err, sizeof err), 0);
    assert_int_equal(ev->type, CS_EV_EXPORT_REQUESTED);
    assert_string_equal(ev->tenant, "t9");
    assert_int_equal(strlen(ev->event_id), 36);
    assert_int_equal(ev->export.connections[0], 3);
    assert_string_equal(ev->product.price.amount, "1000");
    cs_event *ev2 = NULL;
    assert_int_equal(cs_event_parse_input(snap, strlen(snap), NULL, &tpl, &ev2, err, sizeof err), 0);
    assert_string_not_equal(ev->event_id, ev2->event_id);
    cs_event_destroy(ev);
    cs_event_destroy(ev2);

    /* Without a template a snapshot is not an event. */
    ev = NULL;
    assert_int_equal(cs_event_parse(snap, strlen(snap), NULL, &ev, err, sizeof err),
                     CS_EVENT_EINVALID);
    assert_non_null(strstr(err, "schema: is missing"));
    cs_event_template none = {0};
    assert_int_equal(cs_event_parse_input(snap, strlen(snap), NULL, &none, &ev, err, sizeof err),
                     CS_EVENT_EINVALID);
    assert_non_null(strstr(err, "--type"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_event_fields),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_version_limit),
        cmocka_unit_test(test_share),
        cmocka_unit_test(test_rejections_name_field),
        cmocka_unit_test(test_wrong_json_type_and_syntax),
        cmocka_unit_test(test_utf8_and_size),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_deleted_and_export),
        cmocka_unit_test(test_snapshot_wrapping),
    };
    return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
