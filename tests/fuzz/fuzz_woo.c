/*
 * fuzz_woo: libFuzzer harness for the WooCommerce answer parsers
 * (workers/woo_rest.h).
 *
 * Input: three bytes, then one HTTP answer body.
 *   byte 0, 1, 2  want_create, want_update, want_del for cs_woo_parse_batch()
 *                 (each modulo CS_WOO_BATCH_MAX + 1); bytes 0-1 also give
 *                 the HTTP status for cs_woo_parse_error()
 *   the rest      the body, passed as (ptr, len) without a terminating NUL
 *
 *   - cs_woo_parse_error(), then cs_woo_classify(), cs_woo_delete_is_done()
 *     and cs_woo_delete_needs_force() of what it filled;
 *   - cs_woo_parse_batch(): on success each list must hold exactly what was
 *     sent and at most CS_WOO_IMAGES_MAX image ids per item, else abort()
 *     (the worker matches results to its requests by position);
 *   - cs_woo_parse_sku_lookup() for the SKU "ABC-1": the id is -1, 0 or
 *     positive, and *trashed is set only with a positive id.
 */
#include "woo_rest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_woo: %s\n", what);
        abort();
    }
}

static void check_items(const cs_woo_item_result *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check(r[i].n_images <= CS_WOO_IMAGES_MAX, "more image ids than CS_WOO_IMAGES_MAX");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t want_c = data[0] % (CS_WOO_BATCH_MAX + 1);
    size_t want_u = data[1] % (CS_WOO_BATCH_MAX + 1);
    size_t want_d = data[2] % (CS_WOO_BATCH_MAX + 1);
    long status = (long)((data[0] | data[1] << 8) % 600);
    const char *body = (const char *)data + 3;
    size_t len = size - 3;
    char err[512];

    cs_woo_error e;
    cs_woo_parse_error(body, len, status, &e);
    (void)cs_class_name(cs_woo_classify(&e));
    (void)cs_woo_delete_is_done(&e);
    (void)cs_woo_delete_needs_force(&e);

    cs_woo_batch_reply r;
    if (cs_woo_parse_batch(body, len, want_c, want_u, want_d, &r, err, sizeof err) == 0) {
        check(r.n_create == want_c && r.n_update == want_u && r.n_del == want_d,
              "cs_woo_parse_batch() accepted lists of other lengths than sent");
        check_items(r.create, r.n_create);
        check_items(r.update, r.n_update);
        check_items(r.del, r.n_del);
    }
    cs_woo_batch_reply_free(&r);

    int trashed = -1;
    long id = cs_woo_parse_sku_lookup(body, len, "ABC-1", &trashed);
    check(id >= -1, "cs_woo_parse_sku_lookup() returned an id below -1");
    check(trashed == 0 || (trashed == 1 && id > 0), "*trashed set without a positive id");
    return 0;
}
