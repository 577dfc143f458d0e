/* Unit tests for the pure checks (UTF-8, decimals, dates, integers), the
 * capped buffer and the publisher's input splitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cs_buf.h"
#include "cs_util.h"
#include "../../tools/input.h"

static void test_utf8(void **state)
{
    (void)state;
    assert_int_equal(cs_utf8_invalid_at("plain", 5), -1);
    assert_int_equal(cs_utf8_invalid_at("\xe2\x82\xac \xf0\x9f\x98\x80", 8), -1);
    assert_int_equal(cs_utf8_invalid_at("ab\xff", 3), 2);
    assert_int_equal(cs_utf8_invalid_at("a\xc0\xaf", 3), 1);          /* overlong */
    assert_int_equal(cs_utf8_invalid_at("\xed\xa0\x80", 3), 0);       /* surrogate */
    assert_int_equal(cs_utf8_invalid_at("\xf4\x90\x80\x80", 4), 0);   /* > U+10FFFF */
    assert_int_equal(cs_utf8_invalid_at("x\xe2\x82", 3), 1);          /* truncated */
}

static void test_decimal(void **state)
{
    (void)state;
    char why[120];
    const char *ok[] = {"0", "189.99", "1000", "0.125", "123456789012345.123456"};
    const char *bad[] = {"", "-1", "1.", ".5", "1e3", "1,5", " 1", "+1", "1.1234567",
                         "1234567890123456", "NaN", "0x10"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(cs_decimal_check(ok[i], why, sizeof why), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cs_decimal_check(bad[i], why, sizeof why) == 0)
            fail_msg("\"%s\" accepted as a decimal", bad[i]);
}

static void test_rfc3339(void **state)
{
    (void)state;
    assert_true(cs_rfc3339_ok("2026-11-21T10:00:00Z"));
    assert_true(cs_rfc3339_ok("2026-11-21T10:00:00.123456+05:30"));
    assert_false(cs_rfc3339_ok("2026-11-21"));
    assert_false(cs_rfc3339_ok("2026-13-01T00:00:00Z"));
    assert_false(cs_rfc3339_ok("2026-02-30T00:00:00Z"));
    assert_false(cs_rfc3339_ok("2026-11-21T10:00:00"));
    assert_false(cs_rfc3339_ok("2026-11-21T25:00:00Z"));
}

static void test_parse_i64(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(cs_parse_i64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_not_equal(cs_parse_i64("101", 0, 100, &v), 0);
    assert_int_not_equal(cs_parse_i64("4x", 0, 100, &v), 0);
    assert_int_not_equal(cs_parse_i64("", 0, 100, &v), 0);
    assert_int_not_equal(cs_parse_i64("99999999999999999999", 0, INT64_MAX, &v), 0);
}

static void test_buf_cap_and_json(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 8);
    assert_int_equal(cs_buf_appends(&b, "12345678"), 0);
    assert_int_equal(cs_buf_appendc(&b, '9'), -1);
    assert_int_equal(b.len, 8);
    cs_buf_free(&b);
    cs_buf_init(&b, 0);
    cs_buf_append_json_str(&b, "a\"b\\c\n\x01", 7);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    cs_buf_free(&b);
}

typedef struct {
    int n;
    char items[8][64];
    unsigned lines[8];
    int errors;
    unsigned err_line;
} collected;

static int collect(void *o, const char *p, size_t len, unsigned line)
{
    collected *c = o;
    if (c->n < 8) {
        snprintf(c->items[c->n], sizeof c->items[0], "%.*s", (int)len, p);
        c->lines[c->n] = line;
    }
    c->n++;
    return 0;
}

static void collect_err(void *o, unsigned line, const char *why)
{
    (void)why;
    collected *c = o;
    c->errors++;
    c->err_line = line;
}

static collected split(const char *text, cs_input_mode mode)
{
    collected c;
    memset(&c, 0, sizeof c);
    cs_input_split(text, strlen(text), mode, collect, collect_err, &c);
    return c;
}

static void test_input_split(void **state)
{
    (void)state;
    collected c = split("{\"a\":1}\n{\"b\":\"}\"}\n\n{\"c\":[1,{}]}\n", CS_INPUT_AUTO);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.items[1], "{\"b\":\"}\"}");
    assert_int_equal(c.lines[2], 4);

    c = split("[ {\"a\":1},\n {\"b\":2} ]", CS_INPUT_AUTO);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.items[1], "{\"b\":2}");
    assert_int_equal(c.lines[1], 2);

    c = split("{\n  \"a\": 1\n}\n{\n  \"b\": \"x\\\"y\"\n}\n", CS_INPUT_AUTO);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.lines[1], 4);

    /* A broken line in JSON lines is one bad item; the next lines go on. */
    c = split("{\"a\":1}\n{\"b\":\n{\"c\":3}\n", CS_INPUT_JSONL);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.items[1], "{\"b\":");
    assert_string_equal(c.items[2], "{\"c\":3}");

    c = split("[{\"a\":1} {\"b\":2}]", CS_INPUT_JSON);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.errors, 1);

    c = split("{\"a\":[1,2}", CS_INPUT_JSON);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.errors, 1);

    c = split("[]", CS_INPUT_AUTO);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.errors, 0);
}

/* The printf-free helpers of the hot paths give printf's text. */
static void test_buf_numbers_and_pieces(void **state)
{
    (void)state;
    static const long long vals[] = {0, 7, -7, 10, 1732183200123LL, -1732183200123LL,
                                     9223372036854775807LL, -9223372036854775807LL - 1};
    char mine[24], want[32];
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        size_t n = cs_i64_str(mine, vals[i]);
        snprintf(want, sizeof want, "%lld", vals[i]);
        assert_string_equal(mine, want);
        assert_int_equal(n, strlen(want));
    }
    cs_buf b;
    cs_buf_init(&b, 0);
    assert_int_equal(cs_buf_appendv(&b, "cs:{meta}:", "state:", "main", ":", "", ":", "p1", NULL),
                     0);
    assert_int_equal(cs_buf_append_i64(&b, -42), 0);
    assert_string_equal(b.data, "cs:{meta}:state:main::p1-42");
    cs_buf_free(&b);
    cs_buf_init(&b, 8);     /* the cap holds */
    assert_int_equal(cs_buf_appendv(&b, "1234", "5678", "9", NULL), -1);
    cs_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_decimal),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_buf_cap_and_json),
        cmocka_unit_test(test_buf_numbers_and_pieces),
        cmocka_unit_test(test_input_split),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
