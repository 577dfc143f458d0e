/*
 * fuzz_headers: libFuzzer harness for the channels' answer headers, through
 * the code the workers run on them.
 *
 * Input: two bytes of HTTP status (little-endian, mod 600), two bytes that
 * move the clock (seconds from 2023-11-14), then a raw header block, one
 * line per '\n' (a "HTTP/1.1 ..." line starts the block anew, as in a 100
 * Continue answer).  Lines go through cs_http_resp_add_header_line(), the
 * transfer's own header callback.
 *
 *   - every header looked up by name stays inside the block;
 *   - cs_http_retry_after_ms(): -1 or more (no other bound: the cap on it
 *     may change);
 *   - Meta: cs_graph_throttle_pause_ms() of X-Business-Use-Case-Usage,
 *     X-App-Usage and that Retry-After: in [0, CS_CHANNEL_MAX_PAUSE_MS], the
 *     percentage -1 or more;
 *   - WooCommerce: cs_woo_parse_error() of an empty body with the status,
 *     cs_woo_classify(), cs_woo_pause_ms() for throttle and auth verdicts
 *     (the one behind the worker's pause): in [0, 7 days], so the worker's
 *     now + pause cannot overflow.
 * Any broken invariant abort()s; UBSan reports arithmetic overflow.
 */
#include "cs_http.h"
#include "meta_graph.h"
#include "woo_rest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok, const char *what, long long v)
{
    if (!ok) {
        fprintf(stderr, "fuzz_headers: %s (%lld)\n", what, v);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    long status = (long)((data[0] | data[1] << 8) % 600);
    int64_t now = 1700000000000 + (int64_t)(data[2] | data[3] << 8) * 1000;
    const char *p = (const char *)data + 4, *end = (const char *)data + size;
    cs_http_resp r;
    cs_http_resp_init(&r);
    r.status = status;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p + 1) : (size_t)(end - p);
        check(cs_http_resp_add_header_line(&r, p, n) == 0, "out of memory", 0);
        p += n;
    }
    static const char *const names[] = {"retry-after", "x-business-use-case-usage",
                                        "x-app-usage", "x-wp-total", "", NULL};
    for (size_t i = 0; names[i]; i++) {
        const char *v = cs_http_resp_header(&r, names[i]);
        check(!v || (v >= r.headers.data && v + strlen(v) <= r.headers.data + r.headers.len),
              "header value outside the block", (long long)i);
    }
    int64_t ra = cs_http_retry_after_ms(&r, now);
    check(ra >= -1, "Retry-After below -1", ra);

    int pct = -2;
    int64_t pause = cs_graph_throttle_pause_ms(cs_http_resp_header(&r, "x-business-use-case-usage"),
                                               cs_http_resp_header(&r, "x-app-usage"), ra, 60000,
                                               &pct);
    check(pause >= 0 && pause <= CS_CHANNEL_MAX_PAUSE_MS, "Meta pause out of range", pause);
    check(pct >= -1, "usage percentage below -1", pct);

    cs_woo_error e;
    cs_woo_parse_error(NULL, 0, status, &e);
    cs_class cls = cs_woo_classify(&e);
    if (cls == CS_CLASS_THROTTLE || cls == CS_CLASS_AUTH) {
        int64_t wp = cs_woo_pause_ms(cls, ra, 60000, 900000);
        check(wp >= 0 && wp <= (int64_t)7 * 86400000, "WooCommerce pause out of range", wp);
        check(now + wp >= now, "pause end before now", wp);
    }
    cs_http_resp_free(&r);
    return 0;
}
