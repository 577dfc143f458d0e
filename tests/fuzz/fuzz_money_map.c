/*
 * fuzz_money_map: libFuzzer harness for the money conversions
 * (common/cs_money.h) and the channel mappers (workers/meta_map.h,
 * workers/woo_map.h).
 *
 * Every input is used twice:
 *
 * 1. Split at its first NUL into an amount and a currency ("189.99\0USD").
 *    When cs_money_to_minor() accepts them: cs_money_format_minor() must
 *    succeed, converting its text back must give the same minor units,
 *    cs_money_cmp() must call both texts equal, and cs_money_meta_price()
 *    must give "<that text> <CUR>".  cs_money_cmp() must be antisymmetric.
 *
 * 2. Parsed as an event with cs_event_parse() (JSON seeds; the NUL-split
 *    seeds simply fail to parse).  An accepted event is mapped with two
 *    option sets for Meta (retailer id, update record, delete, hide) and two
 *    for WooCommerce (create with every field, partial update with a field
 *    list and known image ids), and the WooCommerce object is wrapped in a
 *    batch body.  Whatever a mapper appends must be valid JSON (jansson,
 *    duplicate keys rejected); on failure or EMPTY it must append nothing,
 *    which is checked on a buffer that already holds text and on one whose
 *    cap is nearly reached.
 *
 * Any broken rule abort()s with the texts involved.
 */
#include "cs_buf.h"
#include "cs_event.h"
#include "cs_money.h"
#include "meta_map.h"
#include "woo_map.h"
#include "woo_rest.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "[prefix]"

static void fail(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "fuzz_money_map: %s\n  a: %s\n  b: %s\n", what, a ? a : "(null)",
            b ? b : "(null)");
    abort();
}

/* ---- 1. money ------------------------------------------------------------ */

static void money(const char *amount, const char *cur)
{
    int64_t minor = 0, back = 0;
    char text[CS_MONEY_STR_MAX], meta[CS_MONEY_STR_MAX + 8], want[CS_MONEY_STR_MAX + 8];
    char why[256];

    if (cs_money_cmp(amount, cur) != -cs_money_cmp(cur, amount))
        fail("cs_money_cmp() is not antisymmetric", amount, cur);
    int ok = cs_money_to_minor(amount, cur, &minor, why, sizeof why) == 0;
    int meta_ok = cs_money_meta_price(amount, cur, meta, sizeof meta, why, sizeof why) == 0;
    if (ok != meta_ok)
        fail("cs_money_meta_price() and cs_money_to_minor() disagree", amount, cur);
    if (!ok)
        return;
    if (cs_money_format_minor(minor, cur, text, sizeof text) != 0)
        fail("cs_money_format_minor() failed on converted minor units", amount, cur);
    if (cs_money_to_minor(text, cur, &back, why, sizeof why) != 0 || back != minor)
        fail("format -> to_minor does not give the same minor units", amount, text);
    if (cs_money_cmp(amount, text) != 0)
        fail("cs_money_cmp() calls an amount and its formatted text different", amount, text);
    snprintf(want, sizeof want, "%s %s", text, cur);
    if (strcmp(meta, want) != 0)
        fail("cs_money_meta_price() differs from the formatted amount", meta, want);
}

/* ---- 2. mappers ---------------------------------------------------------- */

/* What was appended after the prefix must be one valid JSON object. */
static void check_json(const cs_buf *b, size_t from, const char *who)
{
    json_error_t jerr;
    json_t *v = json_loadb(b->data + from, b->len - from, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(v)) {
        fprintf(stderr, "fuzz_money_map: %s produced invalid JSON: %s (line %d col %d)\n  %.*s\n",
                who, jerr.text, jerr.line, jerr.column, (int)(b->len - from), b->data + from);
        abort();
    }
    json_decref(v);
}

/* Nothing appended: length and the text already there are unchanged. */
static void check_untouched(const cs_buf *b, size_t len, const char *who)
{
    if (b->len != len || (len && memcmp(b->data, PREFIX, len) != 0))
        fail("a mapper appended text although it failed", who, b->data);
}

static void buf_with_prefix(cs_buf *b, size_t cap)
{
    cs_buf_init(b, cap);
    if (cs_buf_appends(b, PREFIX) != 0)
        abort();
}

static void map_meta(const cs_event *ev, const cs_meta_map_opts *o)
{
    char rid[CS_META_RID_SIZE], why[512];
    cs_buf b, small;
    size_t p = strlen(PREFIX);

    buf_with_prefix(&b, 0);
    if (cs_meta_map_update(ev, o, 0, &b, why, sizeof why) == CS_MAP_OK) {
        check_json(&b, p, "cs_meta_map_update()");
        /* The same record into a buffer one byte too small must fail cleanly. */
        buf_with_prefix(&small, b.len - 1);
        if (cs_meta_map_update(ev, o, 0, &small, why, sizeof why) == CS_MAP_OK)
            fail("cs_meta_map_update() went past the buffer cap", b.data, small.data);
        check_untouched(&small, p, "cs_meta_map_update() at the cap");
        cs_buf_free(&small);
    } else {
        check_untouched(&b, p, "cs_meta_map_update()");
    }
    cs_buf_free(&b);

    if (cs_meta_retailer_id(&ev->product, ev->tenant, o, rid, sizeof rid, why, sizeof why) != CS_MAP_OK)
        return;
    buf_with_prefix(&b, 0);
    if (cs_meta_map_delete(rid, &b) == 0)
        check_json(&b, p, "cs_meta_map_delete()");
    cs_buf_reset(&b);
    cs_buf_appends(&b, PREFIX);
    if (cs_meta_map_hide(rid, &b) == 0)
        check_json(&b, p, "cs_meta_map_hide()");
    cs_buf_free(&b);
}

static void map_woo(const cs_event *ev, const cs_woo_map_opts *o, long remote_id)
{
    char why[512];
    cs_buf b, small, batch;
    size_t p = strlen(PREFIX);

    buf_with_prefix(&b, 0);
    cs_woo_map_result r = cs_woo_map_product(ev, o, remote_id, &b, why, sizeof why);
    if (r != CS_WOO_MAP_OK) {
        check_untouched(&b, p, "cs_woo_map_product()");
        cs_buf_free(&b);
        return;
    }
    check_json(&b, p, "cs_woo_map_product()");

    buf_with_prefix(&small, b.len - 1);
    if (cs_woo_map_product(ev, o, remote_id, &small, why, sizeof why) == CS_WOO_MAP_OK)
        fail("cs_woo_map_product() went past the buffer cap", b.data, small.data);
    check_untouched(&small, p, "cs_woo_map_product() at the cap");
    cs_buf_free(&small);

    const char *obj = b.data + p;
    long del = 7;
    cs_buf_init(&batch, 0);
    int rc = remote_id > 0 ? cs_woo_batch_body(&batch, NULL, 0, &obj, 1, &del, 1)
                           : cs_woo_batch_body(&batch, &obj, 1, NULL, 0, NULL, 0);
    if (rc != 0)
        fail("cs_woo_batch_body() refused a mapped product", obj, "");
    check_json(&batch, 0, "cs_woo_batch_body()");
    cs_buf_free(&batch);
    cs_buf_free(&b);
}

static void map_event(const cs_event *ev)
{
    static const cs_meta_map_opts meta_all = {
        .rid_source = CS_RID_PRODUCT_ID,
        .include_images = 1,
        .media_base_url = "https://shop.example/media/",
        .link_base_url = "https://shop.example/p/",
        .default_brand = "Acme",
    };
    static const char *const fields[] = {"name", "price", "stock", "images", "COLOR",
                                         "status", "description"};
    static const char *const srcs[] = {"https://shop.example/media/products/mug-blue.jpg"};
    static const long ids[] = {501};
    static const cs_woo_image_ids known = {srcs, ids, 1};
    static const cs_woo_map_opts woo_partial = {
        .fields = fields,
        .n_fields = sizeof fields / sizeof fields[0],
        .partial = 1,
        .media_base_url = "https://shop.example/media",
        .images = &known,
    };
    char out[4][CS_WOO_SRC_MAX];

    map_meta(ev, NULL);
    map_meta(ev, &meta_all);
    map_woo(ev, NULL, 0);
    map_woo(ev, &woo_partial, 42);
    (void)cs_woo_image_srcs(&ev->product, "https://shop.example/media/", out, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* amount NUL currency [NUL ...]; without a NUL the currency is "". */
    char *copy = malloc(size + 2);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = '\0';
    size_t first = strlen(copy);
    money(copy, copy + first + (first < size));
    free(copy);

    char err[512];
    cs_event *ev = NULL;
    if (cs_event_parse((const char *)data, size, NULL, &ev, err, sizeof err) == CS_EVENT_OK)
        map_event(ev);
    cs_event_destroy(ev);
    return 0;
}
