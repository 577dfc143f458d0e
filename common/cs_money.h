/*
 * cs_money: exact money arithmetic on decimal strings and integer minor units.
 *
 * Events carry prices as decimal strings ("189.99"); channels want either
 * integer minor units (18999) or a string with exactly the currency's number
 * of fraction digits ("189.99 USD", "1800 JPY", "4.250 KWD").  Both
 * conversions are done digit by digit here, so no price ever passes through
 * a double and a value that cannot be represented in its currency (a cent
 * on a yen price) is rejected instead of rounded.
 *
 * Minor units follow ISO 4217 (the exponent column of the active-code list).
 * Funds without a minor unit (XAU, XDR, ...) are unknown here on purpose.
 *
 * Thread safety: no state and no allocation; every function is reentrant.
 * Ownership: callers own every buffer; nothing is retained.
 */
#ifndef CS_MONEY_H
#define CS_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* Enough for any int64 minor-unit amount with sign, dot, space, code, NUL. */
#define CS_MONEY_STR_MAX 32

/* Minor units (fraction digits) of an ISO 4217 currency code: 0 for JPY,
 * KRW, VND, CLP, ISK, UGX, XAF, XOF...; 3 for BHD, IQD, JOD, KWD, LYD, OMR,
 * TND; 4 for CLF and UYW; 2 for most others.  -1 for an unknown code. */
int cs_currency_minor_units(const char *code);

/* Decimal string (digits, optional '.' and fraction digits) to integer minor
 * units of currency.  Fraction digits beyond the currency's are accepted only
 * when they are zeros ("10.500" USD = 1050, "10.50" JPY is an error).
 * 0 on success; -1 with why filled ("12.345 has more fraction digits than
 * USD allows (2)", "unknown currency XYZ", too large for 64 bits).  why may
 * be NULL. */
int cs_money_to_minor(const char *amount, const char *currency, int64_t *minor,
                      char *why, size_t why_size);

/* Writes minor units as a decimal string with exactly the currency's fraction
 * digits: 18999 USD -> "189.99", 1800 JPY -> "1800", 4250 KWD -> "4.250".
 * Negative values get a leading '-'.  0 on success; -1 for an unknown
 * currency or when out is too small (out is then an empty string). */
int cs_money_format_minor(int64_t minor, const char *currency, char *out,
                          size_t out_size);

/* Meta items_batch price: "<amount with the currency's digits> <CUR>", e.g.
 * "189.99 USD", "1800 JPY", "4.250 KWD", "10.00 USD" from "10".  0 on
 * success; -1 with why filled (see cs_money_to_minor; also a too small out). */
int cs_money_meta_price(const char *amount, const char *currency, char *out,
                        size_t out_size, char *why, size_t why_size);

/* Compares two decimal strings of one currency by value ("10" == "10.00",
 * "9.99" < "10"): -1, 0 or 1.  Both must be valid decimal strings; anything
 * else is ordered by strcmp so the result is at least deterministic, and NULL
 * sorts first. */
int cs_money_cmp(const char *a, const char *b);

#endif
