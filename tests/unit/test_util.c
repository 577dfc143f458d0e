/* Unit tests for the pure checks (UTF-8, decimals, dates, integers), the
 * capped buffer and the publisher's input splitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <jansson.h>

#include "cs_buf.h"
#include "cs_log.h"
#include "cs_util.h"
#include "../../tools/input.h"

static void test_utf8(void **state __attribute__((unused)))
{
    assert_int_equal(cs_utf8_invalid_at("plain", 5), -1);
    assert_int_equal(cs_utf8_invalid_at("\xe2\x82\xac \xf0\x9f\x98\x80", 8), -1);
    assert_int_equal(cs_utf8_invalid_at("ab\xff", 3), 2);
    assert_int_equal(cs_utf8_invalid_at("a\xc0\xaf", 3), 1);          /* overlong */
    assert_int_equal(cs_utf8_invalid_at("\xed\xa0\x80", 3), 0);       /* surrogate */
    assert_int_equal(cs_utf8_invalid_at("\xf4\x90\x80\x80", 4), 0);   /* > U+10FFFF */
    assert_int_equal(cs_utf8_invalid_at("x\xe2\x82", 3), 1);          /* truncated */
}

static void test_decimal(void **state __attribute__((unused)))
{
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

static void test_rfc3339(void **state __attribute__((unused)))
{
    assert_true(cs_rfc3339_ok("2026-11-21T10:00:00Z"));
    assert_true(cs_rfc3339_ok("2026-11-21T10:00:00.123456+05:30"));
    assert_false(cs_rfc3339_ok("2026-11-21"));
    assert_false(cs_rfc3339_ok("2026-13-01T00:00:00Z"));
    assert_false(cs_rfc3339_ok("2026-02-30T00:00:00Z"));
    assert_false(cs_rfc3339_ok("2026-11-21T10:00:00"));
    assert_false(cs_rfc3339_ok("2026-11-21T25:00:00Z"));
}

static void test_parse_i64(void **state __attribute__((unused)))
{
    int64_t v;
    assert_int_equal(cs_parse_i64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_not_equal(cs_parse_i64("101", 0, 100, &v), 0);
    assert_int_not_equal(cs_parse_i64("4x", 0, 100, &v), 0);
    assert_int_not_equal(cs_parse_i64("", 0, 100, &v), 0);
    assert_int_not_equal(cs_parse_i64("99999999999999999999", 0, INT64_MAX, &v), 0);
}

static void test_buf_cap_and_json(void **state __attribute__((unused)))
{
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

static void collect_err(void *o, unsigned line, const char *why __attribute__((unused)))
{
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

static void test_input_split(void **state __attribute__((unused)))
{
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
static void test_buf_numbers_and_pieces(void **state __attribute__((unused)))
{
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

/* cs_buf_append_text: the one escaping of outside text for people. */
static void test_text_escape(void **state __attribute__((unused)))
{
    static const struct { const char *in, *want; } cases[] = {
        {"plain Café ✓", "plain Café ✓"},
        {"a\nb\tc\rd", "a\\nb\\tc\\rd"},
        {"\x1b]0;pwn\x07\x1b[2J", "\\x1b]0;pwn\\x07\\x1b[2J"},
        {"del\x7f", "del\\x7f"},
        {"c1 \xc2\x9b" "31m \xc2\x85 \xc2\xa0", "c1 \\u009b31m \\u0085 \xc2\xa0"},
        {"bad \xff\xc3", "bad \\xff\\xc3"},
        {"back\\slash", "back\\slash"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cs_buf b;
        cs_buf_init(&b, 0);
        assert_int_equal(cs_buf_append_text(&b, cases[i].in, strlen(cases[i].in)), 0);
        assert_string_equal(b.data, cases[i].want);
        cs_buf_free(&b);
    }
}

/* A log record is one line whatever its fields hold; a block keeps only its
 * own line breaks; secrets are masked before escaping. */
static void test_log_one_line_per_record(void **state __attribute__((unused)))
{
    char out[4096];
    FILE *f = tmpfile();
    assert_non_null(f);
    cs_log_set_stream(f);
    cs_log_add_secret("sekrit-4242");
    cs_log_write(CS_LOG_INFO, "meta", "Syncing product '%s'",
                 "x\x1b]0;t\x07\x1b[2J\n2026-01-01T00:00:00.000Z ERROR meta: ALERT: forged "
                 "sekrit-4242");
    const char *lines[] = {"== head ==", "Product: a\nERROR meta: ALERT: forged", "\xc2\x9b"};
    cs_log_block(CS_LOG_ERROR, "meta", lines, 3);
    cs_log_set_stream(NULL);
    cs_log_clear_secrets();
    rewind(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 && out[i] != '\n')
            fail_msg("raw control byte 0x%02x in the log: %s", out[i], out);
    assert_null(strstr(out, "\xc2\x9b"));
    assert_null(strstr(out, "sekrit"));
    assert_non_null(strstr(out, "Syncing product 'x\\x1b]0;t\\x07\\x1b[2J\\n2026-01-01T00:00:00.000Z "
                                "ERROR meta: ALERT: forged [REDACTED]'\n"));
    assert_non_null(strstr(out, "ERROR meta: \n== head ==\nProduct: a\\nERROR meta: ALERT: "
                                "forged\n\\u009b\n"));
    int records = 0, newlines = 0;
    for (const char *p = out; *p; p++)
        newlines += *p == '\n';
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        records += *p >= '0' && *p <= '9';     /* a line that starts like a record */
    assert_int_equal(newlines, 5);     /* 1 record line + the block: header and 3 lines */
    assert_int_equal(records, 2);

    /* JSON lines stay JSON: one object per record, the block's lines in msg. */
    f = tmpfile();
    assert_non_null(f);
    cs_log_set_stream(f);
    cs_log_set_format(CS_LOG_JSON);
    cs_log_write(CS_LOG_INFO, "meta", "name %s", "a\x1b[2J\nb\xc2\x9b");
    cs_log_block(CS_LOG_ERROR, "meta", lines, 3);
    cs_log_set_format(CS_LOG_TEXT);
    cs_log_set_stream(NULL);
    rewind(f);
    int objects = 0;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        if (!json_is_object(o))
            fail_msg("not a JSON object: %s (%s)", line, jerr.text);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        assert_non_null(msg);
        if (objects == 0)
            assert_string_equal(msg, "name a\\x1b[2J\\nb\\u009b");
        else
            assert_string_equal(msg, "\n== head ==\nProduct: a\\nERROR meta: ALERT: forged\n"
                                     "\\u009b");
        json_decref(o);
        objects++;
    }
    fclose(f);
    assert_int_equal(objects, 2);
}

/* Hosts by spelling (config check) and addresses as connected (doctor). */
static void test_hosts(void **state __attribute__((unused)))
{
    char h[64];
    assert_int_equal(cs_url_host("http://127.0.0.1:8080/v21.0", h, sizeof h), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(cs_url_host("http://user:pw@[::1]:9/x", h, sizeof h), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(cs_url_host("https://graph.facebook.com", h, sizeof h), 0);
    assert_string_equal(h, "graph.facebook.com");
    assert_int_equal(cs_url_host("http://127.0.0.1@evil.example/", h, sizeof h), 0);
    assert_string_equal(h, "evil.example");
    assert_int_equal(cs_url_host("http:///x", h, sizeof h), -1);
    assert_int_equal(cs_url_host("no scheme", h, sizeof h), -1);
    const char *loop[] = {"localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1",
                          "::ffff:127.0.0.1"};
    const char *not_loop[] = {"10.0.0.1", "128.0.0.1", "127.0.0.1.evil.example", "localhost.evil",
                              "::2", "graph.facebook.com", "0x7f000001", ""};
    for (size_t i = 0; i < sizeof loop / sizeof loop[0]; i++)
        if (!cs_host_is_loopback(loop[i]))
            fail_msg("%s is loopback", loop[i]);
    for (size_t i = 0; i < sizeof not_loop / sizeof not_loop[0]; i++)
        if (cs_host_is_loopback(not_loop[i]))
            fail_msg("%s is not loopback", not_loop[i]);
    const char *internal[] = {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255",
                              "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                              "224.0.0.1", "::1", "::", "fe80::1", "fd00::1", "::ffff:10.0.0.1",
                              "::ffff:169.254.169.254"};
    const char *public[] = {"8.8.8.8", "172.32.0.1", "192.169.0.1", "100.128.0.1",
                            "2a03:2880::1", "::ffff:8.8.8.8"};
    for (int want = 1; want >= 0; want--) {
        const char *const *list = want ? internal : public;
        size_t n = want ? sizeof internal / sizeof internal[0] : sizeof public / sizeof public[0];
        for (size_t i = 0; i < n; i++) {
            struct sockaddr_storage ss;
            memset(&ss, 0, sizeof ss);
            struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
            struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
            if (inet_pton(AF_INET, list[i], &v4->sin_addr) == 1)
                v4->sin_family = AF_INET;
            else if (inet_pton(AF_INET6, list[i], &v6->sin6_addr) == 1)
                v6->sin6_family = AF_INET6;
            else
                fail_msg("bad test address %s", list[i]);
            if (cs_addr_is_internal((struct sockaddr *)&ss) != want)
                fail_msg("%s: internal should be %d", list[i], want);
        }
    }
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
        cmocka_unit_test(test_text_escape),
        cmocka_unit_test(test_log_one_line_per_record),
        cmocka_unit_test(test_hosts),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
