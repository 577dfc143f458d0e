/* Unit tests for cs_money: decimal strings <-> minor units, Meta prices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cs_money.h"

static void expect_minor(const char *amount, const char *cur, int64_t want)
{
    char why[200] = "";
    int64_t v = -1;
    if (cs_money_to_minor(amount, cur, &v, why, sizeof why) != 0 || v != want)
        fail_msg("%s %s: got %lld (%s), want %lld", amount, cur, (long long)v, why,
                 (long long)want);
}

static void expect_minor_fail(const char *amount, const char *cur, const char *want_why)
{
    char why[200] = "";
    int64_t v = 12345;
    if (cs_money_to_minor(amount, cur, &v, why, sizeof why) == 0)
        fail_msg("%s %s: accepted as %lld", amount, cur, (long long)v);
    if (!strstr(why, want_why))
        fail_msg("%s %s: why \"%s\" lacks \"%s\"", amount, cur, why, want_why);
    assert_int_equal(v, 12345); /* untouched on failure */
}

static void expect_meta(const char *amount, const char *cur, const char *want)
{
    char out[CS_MONEY_STR_MAX], why[200] = "";
    if (cs_money_meta_price(amount, cur, out, sizeof out, why, sizeof why) != 0)
        fail_msg("%s %s: failed: %s", amount, cur, why);
    assert_string_equal(out, want);
}

static void expect_meta_fail(const char *amount, const char *cur, const char *want_why)
{
    char out[CS_MONEY_STR_MAX] = "x", why[200] = "";
    assert_int_equal(cs_money_meta_price(amount, cur, out, sizeof out, why, sizeof why), -1);
    assert_string_equal(out, "");
    if (!strstr(why, want_why))
        fail_msg("%s %s: why \"%s\" lacks \"%s\"", amount, cur, why, want_why);
}

static void expect_format(int64_t minor, const char *cur, const char *want)
{
    char out[CS_MONEY_STR_MAX];
    assert_int_equal(cs_money_format_minor(minor, cur, out, sizeof out), 0);
    assert_string_equal(out, want);
}

static void test_minor_units_table(void **state __attribute__((unused)))
{
    static const char *const zero[] = { "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF",
                                        "XOF", "XPF", "PYG", "RWF", "BIF", "GNF", "KMF",
                                        "DJF", "VUV", "UYI" };
    static const char *const three[] = { "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND" };
    static const char *const two[] = { "USD", "EUR", "GBP", "ZAR", "ZWG", "CHF", "INR",
                                       "BRL", "MXN", "CNY", "AUD", "HUF", "XCD", "XCG" };
    for (size_t i = 0; i < sizeof zero / sizeof *zero; i++)
        if (cs_currency_minor_units(zero[i]) != 0)
            fail_msg("%s: want 0", zero[i]);
    for (size_t i = 0; i < sizeof three / sizeof *three; i++)
        if (cs_currency_minor_units(three[i]) != 3)
            fail_msg("%s: want 3", three[i]);
    for (size_t i = 0; i < sizeof two / sizeof *two; i++)
        if (cs_currency_minor_units(two[i]) != 2)
            fail_msg("%s: want 2", two[i]);
    assert_int_equal(cs_currency_minor_units("CLF"), 4);
    assert_int_equal(cs_currency_minor_units("UYW"), 4);
    assert_int_equal(cs_currency_minor_units("XYZ"), -1);
    assert_int_equal(cs_currency_minor_units("XAU"), -1);   /* metal: no minor unit */
    assert_int_equal(cs_currency_minor_units("usd"), -1);
    assert_int_equal(cs_currency_minor_units("USDX"), -1);
    assert_int_equal(cs_currency_minor_units(""), -1);
    assert_int_equal(cs_currency_minor_units(NULL), -1);
}

static void test_to_minor_usd(void **state __attribute__((unused)))
{
    expect_minor("189.99", "USD", 18999);
    expect_minor("10", "USD", 1000);
    expect_minor("0.5", "USD", 50);
    expect_minor("0", "USD", 0);
    expect_minor("0.01", "USD", 1);
    expect_minor("10.500", "USD", 1050);
    expect_minor("10.500000", "USD", 1050);
    expect_minor("007.10", "USD", 710);
    expect_minor_fail("12.345", "USD", "12.345 has more fraction digits than USD allows (2)");
    expect_minor_fail("12.3401", "USD", "more fraction digits than USD allows (2)");
}

static void test_to_minor_jpy_kwd(void **state __attribute__((unused)))
{
    expect_minor("1800", "JPY", 1800);
    expect_minor("1800.00", "JPY", 1800);
    expect_minor("1800.0", "JPY", 1800);
    expect_minor_fail("1800.5", "JPY", "JPY has no minor unit");
    expect_minor_fail("10.50", "JPY", "10.50 has a fraction, but JPY has no minor unit");
    expect_minor("4.25", "KWD", 4250);
    expect_minor("4.250", "KWD", 4250);
    expect_minor("4.2500", "KWD", 4250);
    expect_minor("0.001", "KWD", 1);
    expect_minor_fail("4.2505", "KWD", "4.2505 has more fraction digits than KWD allows (3)");
    expect_minor("1.2345", "CLF", 12345);
}

static void test_to_minor_rejects_garbage(void **state __attribute__((unused)))
{
    expect_minor_fail("10", "XYZ", "unknown currency XYZ");
    expect_minor_fail("10", "", "unknown currency");
    expect_minor_fail("10", NULL, "unknown currency");
    expect_minor_fail("", "USD", "not a decimal string");
    expect_minor_fail("-1.00", "USD", "not a decimal string");
    expect_minor_fail("1,50", "USD", "not a decimal string");
    expect_minor_fail("1.", "USD", "not a decimal string");
    expect_minor_fail(".5", "USD", "not a decimal string");
    expect_minor_fail("1e3", "USD", "not a decimal string");
    expect_minor_fail(" 1", "USD", "not a decimal string");
    expect_minor_fail(NULL, "USD", "not a decimal string");
    /* why may be NULL */
    int64_t v;
    assert_int_equal(cs_money_to_minor("1.234", "USD", &v, NULL, 0), -1);
}

static void test_large_values(void **state __attribute__((unused)))
{
    /* The contract's largest amount (15 integer, 6 fraction digits). */
    expect_minor("999999999999999.99", "USD", 99999999999999999LL);
    expect_minor("999999999999999.990000", "USD", 99999999999999999LL);
    expect_minor("999999999999999.999", "KWD", 999999999999999999LL);
    expect_minor("999999999999999", "JPY", 999999999999999LL);
    /* Exactly INT64_MAX, then one more. */
    expect_minor("922337203685477.5807", "CLF", INT64_MAX);
    expect_minor_fail("922337203685477.5808", "CLF", "too large");
    expect_minor_fail("999999999999999", "CLF", "too large");
    expect_minor("92233720368547758.07", "USD", INT64_MAX);
    expect_minor_fail("92233720368547758.08", "USD", "too large");
    expect_minor_fail("99999999999999999999999999", "JPY", "too large");
    expect_meta("999999999999999.99", "USD", "999999999999999.99 USD");
    expect_meta("922337203685477.5807", "CLF", "922337203685477.5807 CLF");
    expect_format(INT64_MAX, "USD", "92233720368547758.07");
    expect_format(INT64_MIN, "USD", "-92233720368547758.08");
}

static void test_format_minor(void **state __attribute__((unused)))
{
    expect_format(18999, "USD", "189.99");
    expect_format(5, "USD", "0.05");
    expect_format(0, "USD", "0.00");
    expect_format(1800, "JPY", "1800");
    expect_format(0, "JPY", "0");
    expect_format(4250, "KWD", "4.250");
    expect_format(1, "KWD", "0.001");
    expect_format(12345, "CLF", "1.2345");
    expect_format(-150, "USD", "-1.50");
    char out[8] = "x";
    assert_int_equal(cs_money_format_minor(100, "XYZ", out, sizeof out), -1);
    assert_int_equal(cs_money_format_minor(123456789, "USD", out, sizeof out), -1);
    assert_string_equal(out, "");
    assert_int_equal(cs_money_format_minor(1234, "USD", out, 6), 0);  /* "12.34" + NUL */
    assert_string_equal(out, "12.34");
    assert_int_equal(cs_money_format_minor(1234, "USD", out, 5), -1);
}

static void test_meta_price(void **state __attribute__((unused)))
{
    expect_meta("189.99", "USD", "189.99 USD");
    expect_meta("10", "USD", "10.00 USD");
    expect_meta("0.5", "USD", "0.50 USD");
    expect_meta("10.500", "USD", "10.50 USD");
    expect_meta("1800", "JPY", "1800 JPY");
    expect_meta("1800.00", "JPY", "1800 JPY");
    expect_meta("4.25", "KWD", "4.250 KWD");
    expect_meta("0", "EUR", "0.00 EUR");
    expect_meta("0012.30", "ZWG", "12.30 ZWG");
    expect_meta_fail("1800.5", "JPY", "JPY has no minor unit");
    expect_meta_fail("4.2505", "KWD", "more fraction digits than KWD allows (3)");
    expect_meta_fail("12.345", "USD", "12.345 has more fraction digits than USD allows (2)");
    expect_meta_fail("1", "XYZ", "unknown currency XYZ");
    char out[10], why[100];
    assert_int_equal(cs_money_meta_price("189.99", "USD", out, sizeof out, why, sizeof why), -1);
    assert_non_null(strstr(why, "too small"));
    assert_int_equal(cs_money_meta_price("89.99", "USD", out, sizeof out, why, sizeof why), 0);
    assert_string_equal(out, "89.99 USD");
}

static void test_round_trips(void **state __attribute__((unused)))
{
    static const char *const curs[] = { "USD", "JPY", "KWD", "CLF", "EUR", "XOF" };
    static const int64_t vals[] = { 0, 1, 9, 10, 99, 100, 101, 999, 1000, 18999, 123456789,
                                    100000000000000LL, 99999999999999999LL, INT64_MAX };
    for (size_t c = 0; c < sizeof curs / sizeof *curs; c++) {
        for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
            char s[CS_MONEY_STR_MAX], why[200];
            int64_t back = -1;
            assert_int_equal(cs_money_format_minor(vals[i], curs[c], s, sizeof s), 0);
            if (cs_money_to_minor(s, curs[c], &back, why, sizeof why) != 0 || back != vals[i])
                fail_msg("%lld %s -> \"%s\" -> %lld (%s)", (long long)vals[i], curs[c], s,
                         (long long)back, why);
        }
    }
    /* And string -> minor -> string normalizes to the currency's digits. */
    int64_t v;
    char s[CS_MONEY_STR_MAX];
    assert_int_equal(cs_money_to_minor("7.1", "KWD", &v, NULL, 0), 0);
    assert_int_equal(cs_money_format_minor(v, "KWD", s, sizeof s), 0);
    assert_string_equal(s, "7.100");
}

static void test_cmp(void **state __attribute__((unused)))
{
    assert_int_equal(cs_money_cmp("10", "10.00"), 0);
    assert_int_equal(cs_money_cmp("010.5", "10.50"), 0);
    assert_int_equal(cs_money_cmp("9.99", "10"), -1);
    assert_int_equal(cs_money_cmp("10", "9.99"), 1);
    assert_int_equal(cs_money_cmp("10.01", "10.001"), 1);
    assert_int_equal(cs_money_cmp("10.001", "10.01"), -1);
    assert_int_equal(cs_money_cmp("0", "0.000001"), -1);
    assert_int_equal(cs_money_cmp("0.0", "0"), 0);
    assert_int_equal(cs_money_cmp("999999999999999.99", "999999999999999.98"), 1);
    assert_int_equal(cs_money_cmp("100", "99"), 1);
    assert_int_equal(cs_money_cmp(NULL, "1"), -1);
    assert_int_equal(cs_money_cmp("1", NULL), 1);
    assert_int_equal(cs_money_cmp(NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minor_units_table),
        cmocka_unit_test(test_to_minor_usd),
        cmocka_unit_test(test_to_minor_jpy_kwd),
        cmocka_unit_test(test_to_minor_rejects_garbage),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_format_minor),
        cmocka_unit_test(test_meta_price),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_cmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
