/* Unit tests for woo_map: product events -> WooCommerce product objects.
 * Every object is parsed back with jansson and checked member by member. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "cs_event.h"
#include "woo_map.h"

/* A product every test starts from; tests change it with jansson. */
static json_t *base_product(void)
{
    json_t *p = json_pack("{s:s, s:i, s:s, s:s, s:s, s:{s:s, s:s}, s:i, s:b, s:[s, s],"
                          " s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:n}]}",
                          "id", "p-1", "version", 1, "sku", "SKU-1", "name", "Blue Mug",
                          "description", "<p>A <b>blue</b> mug</p>",
                          "price", "amount", "12.5", "currency", "USD",
                          "stock_quantity", 7, "is_active", 1,
                          "images", "media/products/mug.jpg", "https://cdn.example/mug-2.jpg",
                          "attributes", "name", "COLOR", "value", "Blue",
                          "name", "Size", "value", "M", "name", "Material", "value");
    assert_non_null(p);
    return p;
}

static void set(json_t *p, const char *key, json_t *v)
{
    json_object_set_new(p, key, v);
}

static json_t *money(const char *amount, const char *cur)
{
    return json_pack("{s:s, s:s}", "amount", amount, "currency", cur);
}

/* Wraps a product (stolen) in a product.updated event; changed (stolen) may be NULL. */
static cs_event *event_of(json_t *product, json_t *changed)
{
    json_t *root = json_pack("{s:i, s:s, s:s, s:s, s:o}", "schema", 1, "event_id", "e-1",
                             "type", "product.updated", "occurred_at",
                             "2026-01-01T00:00:00Z", "product", product);
    if (changed)
        json_object_set_new(root, "changed_fields", changed);
    char *text = json_dumps(root, JSON_COMPACT);
    char err[256] = "";
    cs_event *ev = NULL;
    if (cs_event_parse(text, strlen(text), NULL, &ev, err, sizeof err) != CS_EVENT_OK)
        fail_msg("test event rejected: %s", err);
    free(text);
    json_decref(root);
    return ev;
}

static const char *const SEED_FIELDS[] = {"name", "sku", "price", "images", "COLOR"};
#define SEED_N (sizeof SEED_FIELDS / sizeof SEED_FIELDS[0])

static cs_woo_map_opts opts_with(const char *const *fields, size_t n)
{
    cs_woo_map_opts o = {.fields = fields, .n_fields = n,
                         .media_base_url = "https://media.example/"};
    return o;
}

/* Maps product (stolen) with changed_fields (stolen, may be NULL); returns
 * the parsed object and, when raw is not NULL, its bytes. */
static json_t *map_ok(json_t *product, json_t *changed, const cs_woo_map_opts *o, long remote_id,
                      char **raw)
{
    cs_event *ev = event_of(product, changed);
    cs_buf b;
    char why[300] = "";
    cs_buf_init(&b, 0);
    cs_woo_map_result r = cs_woo_map_product(ev, o, remote_id, &b, why, sizeof why);
    if (r != CS_WOO_MAP_OK)
        fail_msg("mapping gave %d: %s", (int)r, why);
    json_error_t jerr;
    json_t *obj = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj)
        fail_msg("invalid JSON (%s): %s", jerr.text, b.data);
    assert_true(json_is_object(obj));
    if (remote_id > 0)
        assert_int_equal(json_integer_value(json_object_get(obj, "id")), remote_id);
    else
        assert_null(json_object_get(obj, "id"));
    if (raw)
        *raw = strdup(b.data);
    cs_buf_free(&b);
    cs_event_destroy(ev);
    return obj;
}

/* Expects r (EMPTY or FAIL) with the buffer left as it was; for FAIL, why
 * must contain want. */
static void map_not_ok(json_t *product, json_t *changed, const cs_woo_map_opts *o, long remote_id,
                       cs_woo_map_result want_r, const char *want)
{
    cs_event *ev = event_of(product, changed);
    cs_buf b;
    char why[300] = "";
    cs_buf_init(&b, 0);
    cs_buf_appends(&b, "[earlier]");
    cs_woo_map_result r = cs_woo_map_product(ev, o, remote_id, &b, why, sizeof why);
    if (r != want_r)
        fail_msg("mapping gave %d, want %d: %s", (int)r, (int)want_r, b.data);
    if (want && !strstr(why, want))
        fail_msg("why \"%s\" lacks \"%s\"", why, want);
    assert_string_equal(b.data, "[earlier]");
    cs_buf_free(&b);
    cs_event_destroy(ev);
}

static const char *str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("%s is missing or not a string", key);
    return json_string_value(v);
}

/* The member names of obj, comma-separated, in order. */
static void keys_of(json_t *obj, char *out, size_t size)
{
    const char *k;
    json_t *v;
    size_t n = 0;
    out[0] = '\0';
    json_object_foreach(obj, k, v)
        n += (size_t)snprintf(out + n, size - n, "%s%s", n ? "," : "", k);
}

static void assert_keys(json_t *obj, const char *want)
{
    char got[512];
    keys_of(obj, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("members \"%s\", want \"%s\"", got, want);
}

static json_t *changed(const char *a, const char *b)
{
    json_t *c = json_array();
    json_array_append_new(c, json_string(a));
    if (b)
        json_array_append_new(c, json_string(b));
    return c;
}

/* ------------------------------------------------------------------ tests */

static void test_create_all_fields(void **state __attribute__((unused)))
{
    json_t *p = base_product();
    set(p, "sale_price", money("9.99", "USD"));
    cs_woo_map_opts o = opts_with(NULL, 0);
    char *raw = NULL;
    json_t *d = map_ok(p, NULL, &o, 0, &raw);
    assert_keys(d, "name,sku,regular_price,sale_price,description,manage_stock,stock_quantity,"
                   "stock_status,status,images,attributes");
    assert_string_equal(str(d, "name"), "Blue Mug");
    assert_string_equal(str(d, "sku"), "SKU-1");
    assert_string_equal(str(d, "regular_price"), "12.50");
    assert_string_equal(str(d, "sale_price"), "9.99");
    assert_string_equal(str(d, "description"), "<p>A <b>blue</b> mug</p>");
    assert_true(json_is_true(json_object_get(d, "manage_stock")));
    assert_int_equal(json_integer_value(json_object_get(d, "stock_quantity")), 7);
    assert_string_equal(str(d, "stock_status"), "instock");
    assert_string_equal(str(d, "status"), "publish");
    json_t *imgs = json_object_get(d, "images");
    assert_int_equal(json_array_size(imgs), 2);
    assert_string_equal(str(json_array_get(imgs, 0), "src"),
                        "https://media.example/media/products/mug.jpg");
    assert_string_equal(str(json_array_get(imgs, 1), "src"), "https://cdn.example/mug-2.jpg");
    /* Every attribute with a value; Material (null) is skipped. */
    json_t *attrs = json_object_get(d, "attributes");
    assert_int_equal(json_array_size(attrs), 2);
    json_t *a0 = json_array_get(attrs, 0);
    assert_keys(a0, "name,options,visible,variation");
    assert_string_equal(str(a0, "name"), "COLOR");
    assert_string_equal(json_string_value(json_array_get(json_object_get(a0, "options"), 0)), "Blue");
    assert_true(json_is_true(json_object_get(a0, "visible")));
    assert_true(json_is_false(json_object_get(a0, "variation")));
    assert_string_equal(str(json_array_get(attrs, 1), "name"), "Size");
    json_decref(d);

    /* Same product, same bytes. */
    assert_string_equal(raw,
        "{\"name\":\"Blue Mug\",\"sku\":\"SKU-1\",\"regular_price\":\"12.50\",\"sale_price\":\"9.99\","
        "\"description\":\"<p>A <b>blue</b> mug</p>\",\"manage_stock\":true,\"stock_quantity\":7,"
        "\"stock_status\":\"instock\",\"status\":\"publish\",\"images\":[{\"src\":"
        "\"https://media.example/media/products/mug.jpg\"},{\"src\":\"https://cdn.example/mug-2.jpg\"}],"
        "\"attributes\":[{\"name\":\"COLOR\",\"options\":[\"Blue\"],\"visible\":true,\"variation\":false},"
        "{\"name\":\"Size\",\"options\":[\"M\"],\"visible\":true,\"variation\":false}]}");
    free(raw);

    /* NULL options: the same as an empty field list without a media base URL. */
    cs_event *ev = event_of(base_product(), NULL);
    cs_buf b;
    cs_buf_init(&b, 0);
    assert_int_equal(cs_woo_map_product(ev, NULL, 0, &b, NULL, 0), CS_WOO_MAP_OK);
    json_t *n = json_loads(b.data, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(n, "images")), 1);
    json_decref(n);
    cs_buf_free(&b);
    cs_event_destroy(ev);
}

static void test_update_with_id(void **state __attribute__((unused)))
{
    cs_woo_map_opts o = opts_with(SEED_FIELDS, SEED_N);
    char *raw = NULL;
    json_t *d = map_ok(base_product(), NULL, &o, 55, &raw);
    assert_keys(d, "id,name,sku,regular_price,sale_price,images,attributes");
    assert_true(strncmp(raw, "{\"id\":55,", 9) == 0);
    free(raw);
    json_decref(d);

    /* Appends after what the buffer holds (one batch item after another). */
    cs_event *ev = event_of(base_product(), NULL);
    cs_buf b;
    char why[256];
    cs_buf_init(&b, 0);
    cs_buf_appends(&b, "[");
    assert_int_equal(cs_woo_map_product(ev, &o, 1, &b, why, sizeof why), CS_WOO_MAP_OK);
    cs_buf_appends(&b, ",");
    assert_int_equal(cs_woo_map_product(ev, &o, 2, &b, why, sizeof why), CS_WOO_MAP_OK);
    cs_buf_appends(&b, "]");
    json_t *arr = json_loads(b.data, 0, NULL);
    assert_int_equal(json_array_size(arr), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "id")), 2);
    json_decref(arr);
    cs_buf_free(&b);
    cs_event_destroy(ev);
}

static void test_field_list_limits(void **state __attribute__((unused)))
{
    /* The seed's fieldsToExport: only those members, only COLOR of the attributes. */
    cs_woo_map_opts o = opts_with(SEED_FIELDS, SEED_N);
    json_t *d = map_ok(base_product(), NULL, &o, 0, NULL);
    assert_keys(d, "name,sku,regular_price,sale_price,images,attributes");
    json_t *attrs = json_object_get(d, "attributes");
    assert_int_equal(json_array_size(attrs), 1);
    assert_string_equal(str(json_array_get(attrs, 0), "name"), "COLOR");
    json_decref(d);

    /* Attribute names match in any case; the product's spelling is sent. */
    const char *f1[] = {"color", "SIZE", "Color"};
    o = opts_with(f1, 3);
    d = map_ok(base_product(), NULL, &o, 9, NULL);
    assert_keys(d, "id,attributes");
    attrs = json_object_get(d, "attributes");
    assert_int_equal(json_array_size(attrs), 2);
    assert_string_equal(str(json_array_get(attrs, 0), "name"), "COLOR");
    assert_string_equal(str(json_array_get(attrs, 1), "name"), "Size");
    json_decref(d);

    /* An exported attribute the product lacks: an empty list (Woo replaces it). */
    const char *f2[] = {"WEIGHT"};
    o = opts_with(f2, 1);
    d = map_ok(base_product(), NULL, &o, 9, NULL);
    assert_int_equal(json_array_size(json_object_get(d, "attributes")), 0);
    json_decref(d);

    /* "attributes" exports them all; aliases never name an attribute. */
    const char *f3[] = {"attributes", "stock_quantity", "is_active", "sale_price"};
    o = opts_with(f3, 4);
    d = map_ok(base_product(), NULL, &o, 9, NULL);
    assert_keys(d, "id,regular_price,sale_price,manage_stock,stock_quantity,stock_status,"
                   "status,attributes");
    assert_int_equal(json_array_size(json_object_get(d, "attributes")), 2);
    json_decref(d);

    /* Fields that map to nothing. */
    const char *f4[] = {"categories", "short_description", "DESCRIPTION"};
    o = opts_with(f4, 3);
    d = map_ok(base_product(), NULL, &o, 9, NULL);
    assert_keys(d, "id,description");
    json_decref(d);
    o = opts_with(f4, 2);
    map_not_ok(base_product(), NULL, &o, 9, CS_WOO_MAP_EMPTY, NULL);
    d = map_ok(base_product(), NULL, &o, 0, NULL);        /* create: the SKU at least */
    assert_keys(d, "sku");
    json_decref(d);
}

static void test_partial_update(void **state __attribute__((unused)))
{
    cs_woo_map_opts o = opts_with(SEED_FIELDS, SEED_N);
    o.partial = 1;
    json_t *p, *d;

    /* price or sale_price changed: both price members. */
    p = base_product();
    set(p, "sale_price", money("10", "USD"));
    d = map_ok(p, changed("price", NULL), &o, 55, NULL);
    assert_keys(d, "id,regular_price,sale_price");
    assert_string_equal(str(d, "regular_price"), "12.50");
    assert_string_equal(str(d, "sale_price"), "10.00");
    json_decref(d);
    d = map_ok(base_product(), changed("sale_price", NULL), &o, 55, NULL);
    assert_keys(d, "id,regular_price,sale_price");
    assert_string_equal(str(d, "sale_price"), "");
    json_decref(d);

    /* An attribute change sends the whole list of exported attributes. */
    d = map_ok(base_product(), changed("color", "name"), &o, 55, NULL);
    assert_keys(d, "id,name,attributes");
    assert_int_equal(json_array_size(json_object_get(d, "attributes")), 1);
    json_decref(d);
    d = map_ok(base_product(), changed("attributes", NULL), &o, 55, NULL);
    assert_keys(d, "id,attributes");
    json_decref(d);
    d = map_ok(base_product(), changed("images", "sku"), &o, 55, NULL);
    assert_keys(d, "id,sku,images");
    json_decref(d);

    /* Changes outside the field list: nothing to send, nothing appended. */
    map_not_ok(base_product(), changed("stock_quantity", "description"), &o, 55,
               CS_WOO_MAP_EMPTY, NULL);
    map_not_ok(base_product(), changed("Size", NULL), &o, 55, CS_WOO_MAP_EMPTY, NULL);
    map_not_ok(base_product(), json_array(), &o, 55, CS_WOO_MAP_EMPTY, NULL);

    /* Inside it (the whole field list this time). */
    o = opts_with(NULL, 0);
    o.partial = 1;
    d = map_ok(base_product(), changed("stock_quantity", "is_active"), &o, 55, NULL);
    assert_keys(d, "id,manage_stock,stock_quantity,stock_status,status");
    json_decref(d);
    d = map_ok(base_product(), changed("Material", NULL), &o, 55, NULL);
    assert_keys(d, "id,attributes");
    json_decref(d);

    /* Without changed_fields, and on create, everything in the list goes. */
    o = opts_with(SEED_FIELDS, SEED_N);
    o.partial = 1;
    d = map_ok(base_product(), NULL, &o, 55, NULL);
    assert_keys(d, "id,name,sku,regular_price,sale_price,images,attributes");
    json_decref(d);
    d = map_ok(base_product(), changed("price", NULL), &o, 0, NULL);
    assert_keys(d, "name,sku,regular_price,sale_price,images,attributes");
    json_decref(d);

    /* Not partial: changed_fields are ignored. */
    o.partial = 0;
    d = map_ok(base_product(), changed("price", NULL), &o, 55, NULL);
    assert_keys(d, "id,name,sku,regular_price,sale_price,images,attributes");
    json_decref(d);
}

static void check_prices(const char *amount, const char *cur, const char *sale,
                         const char *want_regular, const char *want_sale)
{
    json_t *p = base_product();
    set(p, "price", money(amount, cur));
    if (sale)
        set(p, "sale_price", money(sale, cur));
    const char *f[] = {"price"};
    cs_woo_map_opts o = opts_with(f, 1);
    json_t *d = map_ok(p, NULL, &o, 3, NULL);
    assert_keys(d, "id,regular_price,sale_price");
    if (strcmp(str(d, "regular_price"), want_regular) != 0 ||
        strcmp(str(d, "sale_price"), want_sale) != 0)
        fail_msg("%s/%s %s: got \"%s\"/\"%s\", want \"%s\"/\"%s\"", amount, sale ? sale : "-",
                 cur, str(d, "regular_price"), str(d, "sale_price"), want_regular, want_sale);
    json_decref(d);
}

static void test_prices(void **state __attribute__((unused)))
{
    check_prices("10", "USD", NULL, "10.00", "");
    check_prices("189.99", "USD", "150", "189.99", "150.00");
    check_prices("10.500", "USD", NULL, "10.50", "");
    check_prices("1800", "JPY", "1500", "1800", "1500");
    check_prices("4.25", "KWD", "4", "4.250", "4.000");
    check_prices("999999999999999", "USD", NULL, "999999999999999.00", "");
    check_prices("10", "USD", "10.00", "10.00", "");     /* not lower: the sale is cleared */
    check_prices("10", "USD", "12", "10.00", "");
    check_prices("0", "USD", NULL, "0.00", "");

    /* No price at all: both cleared. */
    json_t *p = base_product();
    set(p, "price", json_null());
    set(p, "sale_price", money("5", "USD"));
    const char *f[] = {"price"};
    cs_woo_map_opts o = opts_with(f, 1);
    json_t *d = map_ok(p, NULL, &o, 3, NULL);
    assert_string_equal(str(d, "regular_price"), "");
    assert_string_equal(str(d, "sale_price"), "");
    json_decref(d);

    /* Not representable, or mixed currencies: the product fails before any call. */
    p = base_product();
    set(p, "price", money("12.345", "USD"));
    map_not_ok(p, NULL, &o, 3, CS_WOO_MAP_FAIL, "price 12.345 USD cannot be sent");
    p = base_product();
    set(p, "price", money("1800.5", "JPY"));
    map_not_ok(p, NULL, &o, 0, CS_WOO_MAP_FAIL, "JPY");
    p = base_product();
    set(p, "sale_price", money("1.5", "JPY"));
    map_not_ok(p, NULL, &o, 3, CS_WOO_MAP_FAIL, "sale_price currency JPY differs");
    p = base_product();
    set(p, "price", money("1800", "JPY"));
    set(p, "sale_price", money("99.5", "JPY"));
    map_not_ok(p, NULL, &o, 3, CS_WOO_MAP_FAIL, "sale_price 99.5 JPY");
    /* ...unless the price is not sent. */
    p = base_product();
    set(p, "price", money("12.345", "USD"));
    const char *nf[] = {"name"};
    o = opts_with(nf, 1);
    json_decref(map_ok(p, NULL, &o, 3, NULL));
}

static void test_images(void **state __attribute__((unused)))
{
    const char *srcs[] = {"https://media.example/media/products/mug.jpg", "https://other/x.jpg"};
    const long ids[] = {901, 902};
    cs_woo_image_ids known = {srcs, ids, 2};
    const char *f[] = {"images"};
    cs_woo_map_opts o = opts_with(f, 1);
    o.images = &known;

    /* Uploaded before: the id; new: the src. */
    json_t *d = map_ok(base_product(), NULL, &o, 5, NULL);
    json_t *imgs = json_object_get(d, "images");
    assert_int_equal(json_array_size(imgs), 2);
    assert_keys(json_array_get(imgs, 0), "id");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(imgs, 0), "id")), 901);
    assert_keys(json_array_get(imgs, 1), "src");
    assert_string_equal(str(json_array_get(imgs, 1), "src"), "https://cdn.example/mug-2.jpg");
    json_decref(d);

    /* Joining (exactly one slash), schemes, and what is skipped. */
    json_t *p = base_product();
    set(p, "images", json_pack("[s, s, s, s, s, s]", "/media/a.jpg", "ftp://h/b.jpg",
                               "//cdn.example/c.jpg", "HTTP://h/d.jpg", "data:image/png;base64,xx",
                               "https://other/x.jpg"));
    o.media_base_url = "https://media.example///";
    json_incref(p);                      /* map_ok steals a reference; p is used below */
    d = map_ok(p, NULL, &o, 5, NULL);
    imgs = json_object_get(d, "images");
    assert_int_equal(json_array_size(imgs), 4);
    assert_string_equal(str(json_array_get(imgs, 0), "src"), "https://media.example/media/a.jpg");
    assert_string_equal(str(json_array_get(imgs, 1), "src"), "https://cdn.example/c.jpg");
    assert_string_equal(str(json_array_get(imgs, 2), "src"), "HTTP://h/d.jpg");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(imgs, 3), "id")), 902);
    json_decref(d);

    /* cs_woo_image_srcs gives the same URLs in the same order. */
    cs_event *ev = event_of(json_deep_copy(p), NULL);
    char out[8][CS_WOO_SRC_MAX];
    assert_int_equal(cs_woo_image_srcs(&ev->product, o.media_base_url, out, 8), 4);
    assert_string_equal(out[0], "https://media.example/media/a.jpg");
    assert_string_equal(out[1], "https://cdn.example/c.jpg");
    assert_string_equal(out[2], "HTTP://h/d.jpg");
    assert_string_equal(out[3], "https://other/x.jpg");
    assert_int_equal(cs_woo_image_srcs(&ev->product, o.media_base_url, out, 2), 2);
    assert_int_equal(cs_woo_image_srcs(&ev->product, NULL, out, 8), 3);
    assert_string_equal(out[0], "https://cdn.example/c.jpg");
    cs_event_destroy(ev);

    /* Media paths without a base URL are skipped; if nothing is usable, the
     * store's images are left alone rather than wiped. */
    set(p, "images", json_pack("[s]", "media/a.jpg"));
    o.media_base_url = NULL;
    json_incref(p);
    d = map_ok(p, NULL, &o, 0, NULL);
    assert_keys(d, "sku");
    json_decref(d);
    map_not_ok(p, NULL, &o, 5, CS_WOO_MAP_EMPTY, NULL);

    /* A product without images removes the store's. */
    p = base_product();
    set(p, "images", json_array());
    d = map_ok(p, NULL, &o, 5, NULL);
    assert_keys(d, "id,images");
    assert_int_equal(json_array_size(json_object_get(d, "images")), 0);
    json_decref(d);

    /* Over-long URLs are skipped, consistently with cs_woo_image_srcs. */
    char longurl[1200];
    memset(longurl, 'a', sizeof longurl);
    memcpy(longurl, "https://h/", 10);
    longurl[sizeof longurl - 1] = '\0';
    p = base_product();
    set(p, "images", json_pack("[s, s]", longurl, "https://h/ok.jpg"));
    d = map_ok(p, NULL, &o, 5, NULL);
    assert_int_equal(json_array_size(json_object_get(d, "images")), 1);
    json_decref(d);
}

static void test_stock_and_status(void **state __attribute__((unused)))
{
    const char *f[] = {"stock", "status"};
    cs_woo_map_opts o = opts_with(f, 2);
    static const struct { json_int_t qty; int known; const char *st; } t[] = {
        {7, 1, "instock"}, {0, 1, "outofstock"}, {-2, 1, "outofstock"}, {0, 0, "instock"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        json_t *p = base_product();
        set(p, "stock_quantity", t[i].known ? json_integer(t[i].qty) : json_null());
        json_t *d = map_ok(p, NULL, &o, 5, NULL);
        if (t[i].known) {
            assert_keys(d, "id,manage_stock,stock_quantity,stock_status,status");
            assert_true(json_is_true(json_object_get(d, "manage_stock")));
            assert_int_equal(json_integer_value(json_object_get(d, "stock_quantity")), t[i].qty);
        } else {
            assert_keys(d, "id,manage_stock,stock_status,status");
            assert_true(json_is_false(json_object_get(d, "manage_stock")));
        }
        assert_string_equal(str(d, "stock_status"), t[i].st);
        json_decref(d);
    }

    /* Inactive products are drafts. */
    json_t *p = base_product();
    set(p, "is_active", json_false());
    json_t *d = map_ok(p, NULL, &o, 0, NULL);
    assert_string_equal(str(d, "status"), "draft");
    json_decref(d);
}

static void test_attributes(void **state __attribute__((unused)))
{
    json_t *p = base_product();
    set(p, "attributes", json_pack("[{s:s, s:n}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]",
                                   "name", "Color", "value",
                                   "name", "color", "value", "Red",
                                   "name", "Size", "value", "",
                                   "name", "COLOR", "value", "Green",
                                   "name", "Finish", "value", "Matte \"silk\""));
    const char *f[] = {"COLOR", "size", "finish"};
    cs_woo_map_opts o = opts_with(f, 3);
    json_t *d = map_ok(p, NULL, &o, 5, NULL);
    json_t *attrs = json_object_get(d, "attributes");
    /* One entry per name, at its first non-empty value; all values as options. */
    assert_int_equal(json_array_size(attrs), 2);
    json_t *c = json_array_get(attrs, 0);
    assert_string_equal(str(c, "name"), "color");
    json_t *opts = json_object_get(c, "options");
    assert_int_equal(json_array_size(opts), 2);
    assert_string_equal(json_string_value(json_array_get(opts, 0)), "Red");
    assert_string_equal(json_string_value(json_array_get(opts, 1)), "Green");
    assert_string_equal(str(json_array_get(attrs, 1), "name"), "Finish");
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(attrs, 1),
                                                                         "options"), 0)),
                        "Matte \"silk\"");
    json_decref(d);
}

static void test_sku_rules(void **state __attribute__((unused)))
{
    cs_woo_map_opts o = opts_with(SEED_FIELDS, SEED_N);
    static const char *const blanks[] = {NULL, "", "  \t"};
    for (size_t i = 0; i < sizeof blanks / sizeof blanks[0]; i++) {
        json_t *p = base_product();
        set(p, "sku", blanks[i] ? json_string(blanks[i]) : json_null());
        map_not_ok(p, NULL, &o, 0, CS_WOO_MAP_FAIL,
                   "product has no SKU (WooCommerce export needs one to avoid duplicates)");
        /* An update never sends an empty SKU (it would erase the store's). */
        p = base_product();
        set(p, "sku", blanks[i] ? json_string(blanks[i]) : json_null());
        json_t *d = map_ok(p, NULL, &o, 8, NULL);
        assert_null(json_object_get(d, "sku"));
        json_decref(d);
    }
    /* The SKU goes on create even when the field list leaves it out. */
    const char *f[] = {"name"};
    o = opts_with(f, 1);
    json_t *d = map_ok(base_product(), NULL, &o, 0, NULL);
    assert_keys(d, "name,sku");
    json_decref(d);
    d = map_ok(base_product(), NULL, &o, 8, NULL);
    assert_keys(d, "id,name");
    json_decref(d);
}

static void test_buffer_cap(void **state __attribute__((unused)))
{
    cs_event *ev = event_of(base_product(), NULL);
    cs_buf b;
    char why[256] = "";
    cs_buf_init(&b, 64);
    cs_buf_appends(&b, "x");
    assert_int_equal(cs_woo_map_product(ev, NULL, 0, &b, why, sizeof why), CS_WOO_MAP_FAIL);
    assert_non_null(strstr(why, "does not fit"));
    assert_string_equal(b.data, "x");
    assert_int_equal(cs_woo_map_product(NULL, NULL, 0, &b, why, sizeof why), CS_WOO_MAP_FAIL);
    assert_int_equal(cs_woo_map_product(ev, NULL, 0, NULL, NULL, 0), CS_WOO_MAP_FAIL);
    cs_buf_free(&b);
    cs_event_destroy(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_all_fields),
        cmocka_unit_test(test_update_with_id),
        cmocka_unit_test(test_field_list_limits),
        cmocka_unit_test(test_partial_update),
        cmocka_unit_test(test_prices),
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_stock_and_status),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_sku_rules),
        cmocka_unit_test(test_buffer_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
