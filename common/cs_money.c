#include "cs_money.h"
#include "cs_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char code[4];
    signed char digits;
} currency_row;

/* ISO 4217 active codes and their exponent.  A few codes in their legal
 * transition period (ANG, CUC, SLL, ZWL) stay so that old data still maps.
 * Funds and metals with no minor unit (XAU, XAG, XDR, XSU, XUA...) and
 * XTS/XXX are left out: they are never a shop price. */
static const currency_row CURRENCIES[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2},
    {"ARS", 2}, {"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2},
    {"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2},
    {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2},
    {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2},
    {"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2},
    {"CRC", 2}, {"CUC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0},
    {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2},
    {"EUR", 2}, {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2},
    {"GIP", 2}, {"GMD", 2}, {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2},
    {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2},
    {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0},
    {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0},
    {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2},
    {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2},
    {"MKD", 2}, {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2},
    {"MVR", 2}, {"MWK", 2}, {"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2},
    {"NAD", 2}, {"NGN", 2}, {"NIO", 2}, {"NOK", 2}, {"NPR", 2}, {"NZD", 2},
    {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2}, {"PKR", 2},
    {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2},
    {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2},
    {"SGD", 2}, {"SHP", 2}, {"SLE", 2}, {"SLL", 2}, {"SOS", 2}, {"SRD", 2},
    {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2},
    {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2},
    {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2},
    {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2},
    {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2},
    {"XOF", 0}, {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
    {"ZWL", 2},
};

int cs_currency_minor_units(const char *code)
{
    if (!code || strlen(code) != 3)
        return -1;
    for (size_t i = 0; i < sizeof CURRENCIES / sizeof CURRENCIES[0]; i++)
        if (memcmp(CURRENCIES[i].code, code, 3) == 0)
            return CURRENCIES[i].digits;
    return -1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Splits a decimal string into integer and fraction digit runs.  0 when the
 * whole string is digits with an optional '.' followed by at least one digit. */
static int split_decimal(const char *s, const char **ip, size_t *il,
                         const char **fp, size_t *fl)
{
    size_t i = 0;
    if (!s)
        return -1;
    *ip = s;
    while (is_digit(s[i]))
        i++;
    *il = i;
    *fp = s + i;
    *fl = 0;
    if (s[i] == '.') {
        i++;
        *fp = s + i;
        while (is_digit(s[i])) {
            i++;
            (*fl)++;
        }
        if (*fl == 0)
            return -1;
    }
    return (s[i] == '\0' && *il > 0) ? 0 : -1;
}

/* v = v * 10 + d without passing INT64_MAX. */
static int push_digit(int64_t *v, int d)
{
    if (*v > (INT64_MAX - d) / 10)
        return -1;
    *v = *v * 10 + d;
    return 0;
}

int cs_money_to_minor(const char *amount, const char *currency, int64_t *minor,
                      char *why, size_t why_size)
{
    const char *ip, *fp;
    size_t il, fl;
    int digits = cs_currency_minor_units(currency);
    if (digits < 0) {
        cs_set_why(why, why_size, "unknown currency %.8s", currency ? currency : "(none)");
        return -1;
    }
    if (split_decimal(amount, &ip, &il, &fp, &fl) != 0) {
        cs_set_why(why, why_size, "\"%.40s\" is not a decimal string",
                amount ? amount : "(none)");
        return -1;
    }
    for (size_t i = (size_t)digits; i < fl; i++) {
        if (fp[i] == '0')
            continue;
        if (digits == 0)
            cs_set_why(why, why_size, "%.40s has a fraction, but %s has no minor unit",
                    amount, currency);
        else
            cs_set_why(why, why_size, "%.40s has more fraction digits than %s allows (%d)",
                    amount, currency, digits);
        return -1;
    }
    int64_t v = 0;
    int over = 0;
    for (size_t i = 0; i < il && !over; i++)
        over = push_digit(&v, ip[i] - '0');
    for (size_t i = 0; i < (size_t)digits && !over; i++)
        over = push_digit(&v, i < fl ? fp[i] - '0' : 0);
    if (over) {
        cs_set_why(why, why_size, "%.40s %s is too large (overflows 64-bit minor units)",
                amount, currency);
        return -1;
    }
    *minor = v;
    return 0;
}

int cs_money_format_minor(int64_t minor, const char *currency, char *out,
                          size_t out_size)
{
    char tmp[CS_MONEY_STR_MAX];
    size_t n = 0;
    int digits = cs_currency_minor_units(currency);
    if (out && out_size)
        out[0] = '\0';
    if (digits < 0 || !out)
        return -1;
    /* Work on the magnitude as unsigned so INT64_MIN has no overflow. */
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    int written = 0;
    while (mag > 0 || written <= digits) {
        if (digits > 0 && written == digits)
            tmp[n++] = '.';
        tmp[n++] = (char)('0' + mag % 10);
        mag /= 10;
        written++;
    }
    if (minor < 0)
        tmp[n++] = '-';
    if (n + 1 > out_size)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return 0;
}

int cs_money_meta_price(const char *amount, const char *currency, char *out,
                        size_t out_size, char *why, size_t why_size)
{
    int64_t minor;
    char num[CS_MONEY_STR_MAX];
    if (out && out_size)
        out[0] = '\0';
    if (cs_money_to_minor(amount, currency, &minor, why, why_size) != 0)
        return -1;
    if (cs_money_format_minor(minor, currency, num, sizeof num) != 0) {
        cs_set_why(why, why_size, "cannot format %.40s %s", amount, currency);
        return -1;
    }
    size_t nl = strlen(num);
    if (!out || nl + 1 + 3 + 1 > out_size) {
        cs_set_why(why, why_size, "price buffer too small for \"%s %s\"", num, currency);
        return -1;
    }
    memcpy(out, num, nl);
    out[nl] = ' ';
    memcpy(out + nl + 1, currency, 3);
    out[nl + 4] = '\0';
    return 0;
}

static int sign_of(int x)
{
    return (x > 0) - (x < 0);
}

int cs_money_cmp(const char *a, const char *b)
{
    const char *ai, *af, *bi, *bf;
    size_t ail, afl, bil, bfl;
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    if (split_decimal(a, &ai, &ail, &af, &afl) != 0 ||
        split_decimal(b, &bi, &bil, &bf, &bfl) != 0)
        return sign_of(strcmp(a, b));
    while (ail > 1 && *ai == '0') {
        ai++;
        ail--;
    }
    while (bil > 1 && *bi == '0') {
        bi++;
        bil--;
    }
    if (ail != bil)
        return ail < bil ? -1 : 1;
    int c = memcmp(ai, bi, ail);
    if (c)
        return sign_of(c);
    size_t n = afl > bfl ? afl : bfl;
    for (size_t i = 0; i < n; i++) {
        char x = i < afl ? af[i] : '0';
        char y = i < bfl ? bf[i] : '0';
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}
