/*
 * The fast event decoder against the reference parser: for every input both
 * give the same verdict, the same event when they accept and the same error
 * message when they refuse; and the fast decoder itself takes the shapes it
 * is meant to take (so a decoder that always gave up would fail here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cs_buf.h"
#include "cs_event_priv.h"
#include "event_compare.h"

#define HEAD "{\"schema\":1,\"event_id\":\"e-1\",\"type\":\"product.updated\"," \
             "\"occurred_at\":\"2026-11-21T10:00:00Z\","
#define PROD "\"product\":{\"id\":\"p-1\",\"version\":3"

enum { SLOW = 0, FAST = 1 };

typedef struct {
    int fast;           /* the fast decoder takes it itself */
    const char *json;
} tcase;

static const tcase CASES[] = {
    /* accepted, and by the fast decoder */
    {FAST, HEAD PROD "}}"},
    {FAST, "{\"schema\":1,\"event_id\":\"e-2\",\"type\":\"product.updated\",\"tenant\":\"shop1\","
           "\"occurred_at\":\"2026-11-21T10:00:00.123+01:00\",\"actor\":\"u7\","
           "\"changed_fields\":[\"price\",\"COLOR\"],"
           "\"product\":{\"id\":\"p-42\",\"version\":1732183200123,\"sku\":\"SKU-42\","
           "\"name\":\"Blue \\\"Mug\\\"\",\"description\":\"line1\\nline2\\t\\/\\\\\\b\\f\\r\","
           "\"price\":{\"amount\":\"189.99\",\"currency\":\"USD\"},\"sale_price\":null,"
           "\"stock_quantity\":7,\"is_active\":true,\"brand\":\"Acme\",\"condition\":\"new\","
           "\"link\":\"https://shop.example/p/42\",\"images\":[\"media/p42.jpg\",\"b.png\"],"
           "\"categories\":[\"Kitchen\"],\"attributes\":[{\"name\":\"COLOR\",\"value\":\"Blue\"},"
           "{\"name\":\"SIZE\",\"value\":null}]}}"},
    {FAST, HEAD PROD ",\"name\":\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \\u00E9\"}}"},
    {FAST, HEAD PROD ",\"name\":\"caf\xc3\xa9 \xe2\x82\xac\"}}"},
    {FAST, HEAD PROD ",\"name\":\"\xf0\x9f\x98\x80 raw 4-byte, then 8+ ASCII bytes \xf4\x8f\xbf\xbf\"}}"},
    {FAST, " \t\r\n{ \"schema\" : 1 , \"event_id\" :\"e\", \"type\":\"product.created\" ,"
           "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"product\" : { \"id\" : \"p\" , "
           "\"version\" : 0 , \"images\" : [ \"a\" , \"b\" ] } } \n\t "},
    {FAST, HEAD "\"extra\":{\"a\":[1,-2,true,false,null,\"s\\u0041\",{}],\"b\":{\"c\":[]}},"
           PROD ",\"custom\":[[[]]],\"x\":null}}"},
    {FAST, HEAD "\"changed_fields\":[]," PROD "}}"},
    {FAST, HEAD "\"changed_fields\":null,\"tenant\":null,\"actor\":null," PROD "}}"},
    {FAST, HEAD "\"delete_mode\":null,\"export\":null," PROD "}}"},
    {FAST, HEAD PROD ",\"stock_quantity\":-0,\"is_active\":null,\"sku\":null,\"name\":\"\"}}"},
    {FAST, HEAD PROD ",\"stock_quantity\":null,\"is_active\":false,\"images\":[],"
           "\"categories\":null,\"attributes\":[]}}"},
    {FAST, HEAD PROD ",\"price\":{\"amount\":\"0.5\",\"currency\":\"EUR\",\"note\":1},"
           "\"attributes\":[{\"value\":\"v\",\"name\":\"n\",\"extra\":[1]}]}}"},
    {FAST, HEAD "\"product\":{\"id\":\"p-1\",\"version\":9007199254740991}}"},   /* 2^53 - 1 */
    {FAST, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.deleted\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"product\":{\"id\":\"p\",\"version\":1,"
           "\"sku\":null}}"},
    {FAST, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.deleted\",\"delete_mode\":"
           "\"permanent\",\"occurred_at\":\"2026-11-21T10:00:00Z\",\"product\":{\"id\":\"p\","
           "\"version\":1,\"sku\":\"S\"}}"},
    {FAST, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.deleted\",\"delete_mode\":"
           "\"soft\",\"occurred_at\":\"2026-11-21T10:00:00Z\",\"product\":{\"id\":\"p\","
           "\"version\":1,\"sku\":\"S\"}}"},
    {FAST, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.export_requested\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"export\":{\"connections\":[1,22],"
           "\"fields\":[\"price\"],\"partial_update\":true,\"x\":{}},"
           "\"product\":{\"id\":\"p\",\"version\":1}}"},
    {FAST, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.export_requested\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"export\":{\"connections\":[3],"
           "\"fields\":[],\"partial_update\":null},\"product\":{\"id\":\"p\",\"version\":1}}"},

    /* accepted, by the reference only */
    {SLOW, HEAD "\"weight\":1.5," PROD "}}"},
    {SLOW, HEAD "\"big\":1e3," PROD "}}"},
    {SLOW, HEAD "\"x\":9999999999999999999," PROD "}}"},
    {SLOW, HEAD "\"x\":-99999999999999999999999," PROD "}}"},
    {SLOW, HEAD PROD ",\"n\\u0061me\":\"escaped key\"}}"},
    {SLOW, HEAD "\"deep\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]," PROD "}}"},
    {SLOW, "{\"product\":{\"id\":\"p\",\"version\":1},\"schema\":1,\"event_id\":\"e\","
           "\"type\":\"product.updated\",\"occurred_at\":\"2026-11-21T10:00:00Z\","
           "\"k1\":1,\"k2\":1,\"k3\":1,\"k4\":1,\"k5\":1,\"k6\":1,\"k7\":1,\"k8\":1,\"k9\":1,"
           "\"k10\":1,\"k11\":1,\"k12\":1,\"k13\":1,\"k14\":1,\"k15\":1,\"k16\":1,\"k17\":1,"
           "\"k18\":1,\"k19\":1,\"k20\":1,\"k21\":1,\"k22\":1,\"k23\":1,\"k24\":1,\"k25\":1,"
           "\"k26\":1,\"k27\":1,\"k28\":1,\"k29\":1,\"k30\":1,\"k31\":1,\"k32\":1,\"k33\":1}"},

    /* refused by both, in the reference's words */
    {SLOW, HEAD "\"schema\":1," PROD "}}"},
    {SLOW, HEAD PROD ",\"name\":\"a\",\"name\":\"b\"}}"},
    {SLOW, HEAD "\"x\":1,\"x\":2," PROD "}}"},
    {SLOW, HEAD "\"x\":{\"a\":1,\"b\":{\"c\":1,\"c\":2}}," PROD "}}"},
    {SLOW, HEAD PROD ",\"price\":{\"amount\":\"1.00\",\"amount\":\"2.00\",\"currency\":\"USD\"}}}"},
    {SLOW, HEAD PROD ",\"attributes\":[{\"name\":\"a\",\"name\":\"b\"}]}}"},
    {SLOW, HEAD PROD ",\"name\":\"nul\\u0000\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"\\ud800\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"\\udc00\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"\\ud800\\u0041\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"\\u12G4\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"\\x\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"tab\there\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"overlong \xc0\x80\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"surrogate \xed\xa0\x80\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"above U+10FFFF \xf4\x90\x80\x80\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"cut \xe2\x82\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"lone continuation \x80 after eight bytes\"}}"},
    {SLOW, HEAD PROD ",\"name\":\"escaped non-ASCII \\\xc3\xa9\"}}"},
    {SLOW, HEAD PROD ",\xc3\xa9:1}}"},
    {SLOW, HEAD PROD "}} x"},
    {SLOW, HEAD PROD "}}}"},
    {SLOW, HEAD PROD "}"},
    {SLOW, HEAD PROD ",\"name\":\"open"},
    {SLOW, HEAD PROD ",\"name\":\"ends in a backslash\\"},
    {SLOW, HEAD "\"product\":{\"id\":\"p-1\",\"version\":01}}"},
    {SLOW, HEAD "\"product\":{\"id\":\"p-1\",\"version\":12345678901234567890}}"},
    {SLOW, HEAD "\"product\":{\"id\":\"p-1\",\"version\":3.0}}"},
    {SLOW, HEAD "\"product\":{\"id\":\"p-1\",\"version\":-1}}"},
    {SLOW, HEAD "\"product\":{\"id\":\"p-1\",\"version\":9007199254740992}}"},  /* 2^53 */
    {SLOW, HEAD "\"product\":{\"id\":\"p-1\",\"version\":123456789012345678}}"},
    {SLOW, HEAD "\"product\":{\"id\":\"p-1\",\"version\":1234567890123456789}}"},
    {SLOW, HEAD "\"product\":{\"id\":\"p-1\",\"version\":1700000000000000001}}"},
    {SLOW, HEAD PROD ",\"is_active\":truex}}"},
    {SLOW, HEAD PROD ",\"is_active\":\"yes\"}}"},
    {SLOW, HEAD PROD ",\"x\":tru}}"},
    {SLOW, HEAD PROD ",}}"},
    {SLOW, HEAD PROD ",\"images\":[\"a\",]}}"},
    {SLOW, HEAD PROD ",\"images\":[\"\"]}}"},
    {SLOW, HEAD PROD ",\"images\":[null]}}"},
    {SLOW, HEAD PROD ",\"images\":\"a\"}}"},
    {SLOW, HEAD "\"changed_fields\":[\"\"]," PROD "}}"},
    {SLOW, HEAD PROD ",\"price\":{\"amount\":12.5,\"currency\":\"USD\"}}}"},
    {SLOW, HEAD PROD ",\"price\":{\"amount\":\"12,5\",\"currency\":\"USD\"}}}"},
    {SLOW, HEAD PROD ",\"price\":{\"amount\":\"12.50\",\"currency\":\"usd\"}}}"},
    {SLOW, HEAD PROD ",\"price\":{\"amount\":\"12.50\"}}}"},
    {SLOW, HEAD PROD ",\"price\":{\"amount\":null,\"currency\":\"USD\"}}}"},
    {SLOW, HEAD PROD ",\"price\":\"12.50\"}}"},
    {SLOW, HEAD PROD ",\"attributes\":[{\"value\":\"v\"}]}}"},
    {SLOW, HEAD PROD ",\"attributes\":[null]}}"},
    {SLOW, HEAD PROD ",\"attributes\":[{\"name\":\"\"}]}}"},
    {SLOW, HEAD PROD ",\"condition\":\"" "0123456789012345678901234567890123456789"
           "01234567890123456789012345\"}}"},
    {SLOW, HEAD PROD ",\"id\":\"again\"}}"},
    {SLOW, HEAD "\"product\":{\"version\":1}}"},
    {SLOW, HEAD "\"product\":{\"id\":\"\",\"version\":1}}"},
    {SLOW, HEAD "\"product\":{\"id\":\"p\"}}"},
    {SLOW, HEAD "\"product\":null}"},
    {SLOW, HEAD "\"tenant\":\"\"," PROD "}}"},
    {SLOW, HEAD "\"tenant\":\"a:b\"," PROD "}}"},
    {SLOW, HEAD "\"delete_mode\":\"soft\"," PROD "}}"},
    {SLOW, HEAD "\"export\":{\"connections\":[1]}," PROD "}}"},
    {SLOW, "{\"schema\":2,\"event_id\":\"e\",\"type\":\"product.updated\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\"," PROD "}}"},
    {SLOW, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.renamed\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\"," PROD "}}"},
    {SLOW, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.updated\","
           "\"occurred_at\":\"yesterday\"," PROD "}}"},
    {SLOW, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.updated\"," PROD "}}"},
    {SLOW, "{\"event_id\":\"e\",\"type\":\"product.updated\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\"," PROD "}}"},
    {SLOW, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.deleted\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\"," PROD "}}"},
    {SLOW, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.deleted\",\"delete_mode\":"
           "\"hard\",\"occurred_at\":\"2026-11-21T10:00:00Z\"," PROD ",\"sku\":null}}"},
    {SLOW, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.export_requested\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\"," PROD "}}"},
    {SLOW, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.export_requested\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"export\":null," PROD "}}"},
    {SLOW, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.export_requested\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"export\":{\"connections\":[]}," PROD "}}"},
    {SLOW, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.export_requested\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"export\":{\"connections\":[0]}," PROD "}}"},
    {SLOW, "{\"schema\":1,\"event_id\":\"e\",\"type\":\"product.export_requested\","
           "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"export\":{\"fields\":[]}," PROD "}}"},
    {SLOW, "[" HEAD PROD "}}]"},
    {SLOW, "{}"},
    {SLOW, "{\"product\":{\"id\":\"p\",\"version\":1}}"},
};

/* Both parsers on one input: the same verdict and the same event or the
 * same message.  Returns whether the fast decoder took it itself. */
static int check_one(const char *json, size_t len)
{
    char e1[512] = "", e2[512] = "", why[64];
    cs_event *a = NULL, *b = NULL;
    cs_event_err r1 = cs_event_parse(json, len, NULL, &a, e1, sizeof e1);
    cs_event_err r2 = cs_event_parse_reference(json, len, NULL, &b, e2, sizeof e2);
    if (r1 != r2)
        fail_msg("%s: parse %s (%s), reference %s (%s)", json, cs_event_err_name(r1), e1,
                 cs_event_err_name(r2), e2);
    if (r1 == CS_EVENT_OK && !event_compare(a, b, why, sizeof why))
        fail_msg("%s: the events differ in %s", json, why);
    if (r1 != CS_EVENT_OK && strcmp(e1, e2) != 0)
        fail_msg("%s: messages differ: \"%s\" and \"%s\"", json, e1, e2);
    cs_event_destroy(a);
    cs_event_destroy(b);

    cs_event *ev = calloc(1, sizeof *ev);
    assert_non_null(ev);
    int took = cs_event_decode_fast(json, len, ev) == 0;
    cs_event_destroy(ev);
    if (took && r2 != CS_EVENT_OK)
        fail_msg("%s: the fast decoder took what the reference refuses (%s)", json, e2);
    return took;
}

static void test_cases_agree(void **state __attribute__((unused)))
{
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        int took = check_one(CASES[i].json, strlen(CASES[i].json));
        if (took != CASES[i].fast)
            fail_msg("case %zu %s: the fast decoder %s it", i, CASES[i].json,
                     took ? "took" : "gave up on");
    }
}

/* Every prefix of a valid event is refused by both, alike (truncated
 * payloads). */
static void test_truncations_agree(void **state __attribute__((unused)))
{
    const char *full = CASES[1].json;
    size_t n = strlen(full);
    for (size_t k = 1; k < n; k++)
        assert_int_equal(check_one(full, k), 0);
}

/* An array longer than the fast decoder holds goes to the reference. */
static void test_long_arrays(void **state __attribute__((unused)))
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_buf_appends(&b, HEAD PROD ",\"images\":[");
    for (int i = 0; i < 300; i++)
        cs_buf_appendf(&b, "%s\"img-%d.jpg\"", i ? "," : "", i);
    cs_buf_appends(&b, "]}}");
    assert_int_equal(check_one(b.data, b.len), 0);
    cs_buf_reset(&b);
    cs_buf_appends(&b, HEAD PROD ",\"images\":[");
    for (int i = 0; i < 256; i++)
        cs_buf_appendf(&b, "%s\"img-%d.jpg\"", i ? "," : "", i);
    cs_buf_appends(&b, "]}}");
    assert_int_equal(check_one(b.data, b.len), 1);
    cs_buf_free(&b);
}

/* Every single-byte change of a valid event: the two agree. */
static void test_byte_flips_agree(void **state __attribute__((unused)))
{
    static const char subst[] = "\"\\{}[],:0u\x01\xc3";
    const char *full = CASES[1].json;
    size_t n = strlen(full);
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    for (size_t k = 0; k < n; k++) {
        for (size_t s = 0; s < sizeof subst - 1; s++) {
            memcpy(buf, full, n + 1);
            buf[k] = subst[s];
            check_one(buf, n);
        }
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_agree),
        cmocka_unit_test(test_truncations_agree),
        cmocka_unit_test(test_long_arrays),
        cmocka_unit_test(test_byte_flips_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
