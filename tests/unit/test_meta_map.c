/* Unit tests for meta_map: product events -> Meta items_batch records.
 * Every record is parsed back with jansson and checked field by field. */
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
#include "cs_util.h"
#include "meta_map.h"

/* A product every test starts from; tests change it with jansson. */
static json_t *base_product(void)
{
    json_t *p = json_pack("{s:s, s:i, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s}",
                          "id", "p-1", "version", 1, "sku", "SKU-1", "name", "Blue Mug",
                          "description", "A blue mug", "price", "amount", "189.99",
                          "currency", "USD", "brand", "Acme", "link", "https://shop/p/1");
    assert_non_null(p);
    return p;
}

static json_t *money(const char *amount, const char *cur)
{
    return json_pack("{s:s, s:s}", "amount", amount, "currency", cur);
}

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Wraps a product in a product.updated event; steals product. */
static cs_event *event_of(json_t *product)
{
    json_t *root = json_pack("{s:i, s:s, s:s, s:s, s:o}", "schema", 1, "event_id", "e-1",
                             "type", "product.updated", "occurred_at",
                             "2026-01-01T00:00:00Z", "product", product);
    char *text = json_dumps(root, JSON_COMPACT);
    char err[256] = "";
    cs_event *ev = NULL;
    if (cs_event_parse(text, strlen(text), NULL, &ev, err, sizeof err) != CS_EVENT_OK)
        fail_msg("test event rejected: %s", err);
    free(text);
    json_decref(root);
    return ev;
}

/* Maps product (stolen) and returns the parsed record; NULL o = defaults. */
static json_t *map_ok(json_t *product, const cs_meta_map_opts *o)
{
    cs_event *ev = event_of(product);
    cs_buf b;
    char why[300] = "";
    cs_buf_init(&b, 0);
    if (cs_meta_map_update(ev, o, 0, &b, why, sizeof why) != CS_MAP_OK)
        fail_msg("mapping failed: %s", why);
    json_error_t jerr;
    json_t *rec = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!rec)
        fail_msg("invalid JSON (%s): %s", jerr.text, b.data);
    assert_string_equal(json_string_value(json_object_get(rec, "method")), "UPDATE");
    assert_int_equal(json_object_size(rec), 2);
    json_t *data = json_object_get(rec, "data");
    assert_true(json_is_object(data));
    assert_null(json_object_get(data, "retailer_id"));
    json_incref(data);
    json_decref(rec);
    cs_buf_free(&b);
    cs_event_destroy(ev);
    return data;
}

/* Maps product (stolen), expects a failure whose reason contains want, and
 * checks the output buffer was left exactly as it was. */
static void map_fail(json_t *product, const cs_meta_map_opts *o, const char *want)
{
    cs_event *ev = event_of(product);
    cs_buf b;
    char why[300] = "";
    cs_buf_init(&b, 0);
    cs_buf_appends(&b, "[earlier record]");
    if (cs_meta_map_update(ev, o, 0, &b, why, sizeof why) != CS_MAP_FAIL)
        fail_msg("mapping succeeded, want failure \"%s\": %s", want, b.data);
    if (!strstr(why, want))
        fail_msg("why \"%s\" lacks \"%s\"", why, want);
    assert_string_equal(b.data, "[earlier record]");
    cs_buf_free(&b);
    cs_event_destroy(ev);
}

static const char *field(json_t *data, const char *key)
{
    json_t *v = json_object_get(data, key);
    if (!json_is_string(v))
        fail_msg("data.%s is missing or not a string", key);
    return json_string_value(v);
}

static void set(json_t *p, const char *key, json_t *v)
{
    json_object_set_new(p, key, v);
}

static void test_basic_record(void **state __attribute__((unused)))
{
    json_t *p = base_product();
    set(p, "stock_quantity", json_integer(7));
    set(p, "condition", json_string("new"));
    set(p, "images", json_pack("[s]", "products/a.jpg"));
    json_t *d = map_ok(p, NULL);
    static const char *const order[] = {
        "id", "title", "description", "availability", "condition", "price", "sale_price",
        "link", "brand", "item_group_id", "visibility", "external_update_time",
        "quantity_to_sell_on_facebook",
    };
    assert_int_equal(json_object_size(d), sizeof order / sizeof *order);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(d, k, v) {
        assert_string_equal(k, order[i]);
        i++;
    }
    assert_string_equal(field(d, "id"), "SKU-1");
    assert_string_equal(field(d, "title"), "Blue Mug");
    assert_string_equal(field(d, "description"), "A blue mug");
    assert_string_equal(field(d, "availability"), "in stock");
    assert_string_equal(field(d, "condition"), "new");
    assert_string_equal(field(d, "price"), "189.99 USD");
    assert_string_equal(field(d, "sale_price"), "");
    assert_string_equal(field(d, "link"), "https://shop/p/1");
    assert_string_equal(field(d, "brand"), "Acme");
    assert_string_equal(field(d, "item_group_id"), "SKU-1");
    assert_string_equal(field(d, "visibility"), "published");
    assert_int_equal(json_integer_value(json_object_get(d, "quantity_to_sell_on_facebook")), 7);
    json_decref(d);
}

static void test_exact_bytes_and_appending(void **state __attribute__((unused)))
{
    json_t *p = base_product();
    cs_event *ev = event_of(p);
    cs_buf b;
    char why[200];
    cs_buf_init(&b, 0);
    assert_int_equal(cs_meta_map_update(ev, NULL, 0, &b, why, sizeof why), CS_MAP_OK);
    assert_string_equal(b.data,
        "{\"method\":\"UPDATE\",\"data\":{\"id\":\"SKU-1\",\"title\":\"Blue Mug\","
        "\"description\":\"A blue mug\",\"availability\":\"in stock\",\"condition\":\"new\","
        "\"price\":\"189.99 USD\",\"sale_price\":\"\",\"link\":\"https://shop/p/1\","
        "\"brand\":\"Acme\",\"item_group_id\":\"SKU-1\",\"visibility\":\"published\","
        "\"external_update_time\":1767225600}}");
    size_t one = b.len;
    assert_int_equal(cs_buf_appendc(&b, ','), 0);
    assert_int_equal(cs_meta_map_update(ev, NULL, 0, &b, why, sizeof why), CS_MAP_OK);
    assert_int_equal(b.len, 2 * one + 1);
    assert_memory_equal(b.data, b.data + one + 1, one);
    cs_buf_free(&b);
    cs_event_destroy(ev);
}

/* A new item needs image_link (Meta creates none without it): the
 * product's own image, else the placeholder, else a local failure; an update
 * of an item Meta holds may go without one. */
static void test_new_item_needs_an_image(void **state __attribute__((unused)))
{
    json_t *p = base_product();
    cs_event *ev = event_of(p);
    cs_buf b;
    char why[400];
    cs_buf_init(&b, 0);
    assert_int_equal(cs_meta_map_update(ev, NULL, 1, &b, why, sizeof why), CS_MAP_FAIL);
    assert_int_equal(b.len, 0);
    assert_memory_equal(why, CS_META_NO_IMAGE_WHY, strlen(CS_META_NO_IMAGE_WHY));
    assert_non_null(strstr(why, "placeholder_image_url"));

    cs_meta_map_opts o = { .placeholder_image_url = "https://shop/none.png" };
    assert_int_equal(cs_meta_map_update(ev, &o, 1, &b, why, sizeof why), CS_MAP_OK);
    assert_non_null(strstr(b.data, "\"image_link\":\"https://shop/none.png\""));
    /* external_update_time: occurred_at in Unix seconds, offset applied. */
    assert_non_null(strstr(b.data, "\"external_update_time\":1767225600}"));
    int64_t t;
    assert_int_equal(cs_rfc3339_unix("2026-12-03T10:00:00.5+01:00", &t), 0);
    assert_int_equal(t, 1796288400);
    assert_int_equal(cs_rfc3339_unix("2026-12-03", &t), -1);
    cs_buf_reset(&b);
    assert_int_equal(cs_meta_map_update(ev, &o, 0, &b, why, sizeof why), CS_MAP_OK);
    assert_null(strstr(b.data, "image_link"));
    cs_event_destroy(ev);

    p = base_product();
    set(p, "images", json_pack("[s]", "https://cdn/a.jpg"));
    ev = event_of(p);
    o.include_images = 1;
    cs_buf_reset(&b);
    assert_int_equal(cs_meta_map_update(ev, &o, 1, &b, why, sizeof why), CS_MAP_OK);
    assert_non_null(strstr(b.data, "\"image_link\":\"https://cdn/a.jpg\""));
    assert_null(strstr(b.data, "none.png"));
    cs_buf_free(&b);
    cs_event_destroy(ev);
}

static void test_no_sku_fails(void **state __attribute__((unused)))
{
    const char *want = "product has no SKU (the Meta retailer id comes from the SKU)";
    json_t *p = base_product();
    json_object_del(p, "sku");
    map_fail(p, NULL, want);
    p = base_product();
    set(p, "sku", json_null());
    map_fail(p, NULL, want);
    p = base_product();
    set(p, "sku", json_string(""));
    map_fail(p, NULL, want);
    p = base_product();
    set(p, "sku", json_string("   "));
    map_fail(p, NULL, want);
}

static void test_product_id_source(void **state __attribute__((unused)))
{
    cs_meta_map_opts o = { .rid_source = CS_RID_PRODUCT_ID };
    json_t *p = base_product();
    json_object_del(p, "sku");
    json_t *d = map_ok(p, &o);
    assert_string_equal(field(d, "id"), "p-1");
    assert_string_equal(field(d, "item_group_id"), "p-1");
    json_decref(d);
    /* With a SKU present the product id still wins. */
    d = map_ok(base_product(), &o);
    assert_string_equal(field(d, "id"), "p-1");
    json_decref(d);
}

static void test_retailer_id_limits(void **state __attribute__((unused)))
{
    char rid[CS_META_RID_SIZE], why[200];
    char sku[512];
    cs_product p;
    memset(&p, 0, sizeof p);
    p.id = "p-1";
    p.sku = sku;
    memset(sku, 'A', 100);
    sku[100] = '\0';
    assert_int_equal(cs_meta_retailer_id(&p, "default", NULL, rid, sizeof rid, why, sizeof why), CS_MAP_OK);
    assert_string_equal(rid, sku);
    sku[100] = 'A';
    sku[101] = '\0';
    assert_int_equal(cs_meta_retailer_id(&p, "default", NULL, rid, sizeof rid, why, sizeof why),
                     CS_MAP_FAIL);
    assert_non_null(strstr(why, "101 characters; Meta allows at most 100"));
    /* 100 characters of 3 bytes each still fit. */
    for (int i = 0; i < 100; i++)
        memcpy(sku + 3 * i, "\xe2\x82\xac", 3);
    sku[300] = '\0';
    assert_int_equal(cs_meta_retailer_id(&p, "default", NULL, rid, sizeof rid, why, sizeof why), CS_MAP_OK);
    assert_int_equal(strlen(rid), 300);
    /* Too small an output buffer fails instead of truncating the key. */
    p.sku = "SKU-123";
    assert_int_equal(cs_meta_retailer_id(&p, "default", NULL, rid, 4, why, sizeof why), CS_MAP_FAIL);
    assert_string_equal(rid, "");
    cs_meta_map_opts o = { .rid_source = CS_RID_PRODUCT_ID };
    p.sku = NULL;
    assert_int_equal(cs_meta_retailer_id(&p, "default", &o, rid, sizeof rid, why, sizeof why), CS_MAP_OK);
    assert_string_equal(rid, "p-1");
    assert_int_equal(cs_meta_retailer_id(&p, "default", NULL, rid, sizeof rid, why, sizeof why),
                     CS_MAP_FAIL);
    assert_string_equal(why, "product has no SKU (the Meta retailer id comes from the SKU)");
}

static void test_price_failures(void **state __attribute__((unused)))
{
    json_t *p = base_product();
    json_object_del(p, "price");
    map_fail(p, NULL, "product has no price");
    p = base_product();
    set(p, "price", json_null());
    map_fail(p, NULL, "product has no price");
    p = base_product();
    set(p, "price", money("1800.5", "JPY"));
    map_fail(p, NULL, "price cannot be sent to Meta: 1800.5 has a fraction, but JPY has no "
                      "minor unit");
    p = base_product();
    set(p, "price", money("10", "XYZ"));
    map_fail(p, NULL, "unknown currency XYZ");
    p = base_product();
    set(p, "sale_price", money("9.999", "USD"));
    map_fail(p, NULL, "sale_price cannot be sent to Meta: 9.999 has more fraction digits "
                      "than USD allows (2)");
    p = base_product();
    set(p, "sale_price", money("100", "EUR"));
    map_fail(p, NULL, "sale_price currency EUR differs from price currency USD");
}

static void test_prices_in_record(void **state __attribute__((unused)))
{
    static const struct { const char *amount, *cur, *want; } cases[] = {
        { "10", "USD", "10.00 USD" }, { "0.5", "USD", "0.50 USD" },
        { "1800", "JPY", "1800 JPY" }, { "1800.00", "JPY", "1800 JPY" },
        { "4.25", "KWD", "4.250 KWD" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *p = base_product();
        set(p, "price", money(cases[i].amount, cases[i].cur));
        json_t *d = map_ok(p, NULL);
        assert_string_equal(field(d, "price"), cases[i].want);
        json_decref(d);
    }
}

static void test_sale_price(void **state __attribute__((unused)))
{
    static const struct { const char *price, *sale, *want; } cases[] = {
        { "10", "8", "8.00 USD" },
        { "10", "9.99", "9.99 USD" },
        { "10", "10.00", "" },      /* equal: no sale */
        { "10", "10", "" },
        { "10", "12.50", "" },      /* higher: no sale */
        { "10", "0", "0.00 USD" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *p = base_product();
        set(p, "price", money(cases[i].price, "USD"));
        set(p, "sale_price", money(cases[i].sale, "USD"));
        json_t *d = map_ok(p, NULL);
        if (strcmp(field(d, "sale_price"), cases[i].want) != 0)
            fail_msg("price %s sale %s: sale_price \"%s\", want \"%s\"", cases[i].price,
                     cases[i].sale, field(d, "sale_price"), cases[i].want);
        json_decref(d);
    }
}

static void test_link_brand_name(void **state __attribute__((unused)))
{
    json_t *p = base_product();
    json_object_del(p, "link");
    map_fail(p, NULL, "product has no link and no link_base_url is configured");
    cs_meta_map_opts o = { .link_base_url = "https://shop/p/" };
    p = base_product();
    json_object_del(p, "link");
    set(p, "id", json_string("a b/42"));
    json_t *d = map_ok(p, &o);
    assert_string_equal(field(d, "link"), "https://shop/p/a%20b%2F42");
    json_decref(d);

    p = base_product();
    json_object_del(p, "brand");
    map_fail(p, NULL, "product has no brand and no default_brand is configured");
    o.default_brand = "House";
    p = base_product();
    set(p, "brand", json_string(""));
    d = map_ok(p, &o);
    assert_string_equal(field(d, "brand"), "House");
    json_decref(d);

    char brand[260];
    memset(brand, 'b', 250);
    brand[250] = '\0';
    p = base_product();
    set(p, "brand", json_string(brand));
    d = map_ok(p, NULL);
    assert_int_equal(strlen(field(d, "brand")), 100);
    json_decref(d);

    p = base_product();
    json_object_del(p, "name");
    map_fail(p, NULL, "product has no name");
    p = base_product();
    set(p, "name", json_string(" \n "));
    map_fail(p, NULL, "product has no name");
}

static void test_hide_and_delete(void **state __attribute__((unused)))
{
    cs_buf b;
    cs_buf_init(&b, 0);
    assert_int_equal(cs_meta_map_delete("SKU-OLD", &b), 0);
    assert_string_equal(b.data, "{\"method\":\"DELETE\",\"data\":{\"id\":\"SKU-OLD\"}}");
    cs_buf_reset(&b);
    assert_int_equal(cs_meta_map_hide("SKU-1", &b), 0);
    assert_string_equal(b.data,
        "{\"method\":\"UPDATE\",\"data\":{\"id\":\"SKU-1\",\"visibility\":\"hidden\"}}");
    cs_buf_reset(&b);
    assert_int_equal(cs_meta_map_hide("a\"b", &b), 0);
    json_t *r = json_loads(b.data, 0, NULL);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"), "id")),
                        "a\"b");
    json_decref(r);
    cs_buf_reset(&b);
    assert_int_equal(cs_meta_map_delete("", &b), -1);
    assert_int_equal(cs_meta_map_delete(NULL, &b), -1);
    assert_int_equal(cs_meta_map_hide(NULL, &b), -1);
    assert_int_equal(b.len, 0);
    cs_buf_free(&b);
    /* A full buffer: nothing half-written. */
    cs_buf_init(&b, 20);
    assert_int_equal(cs_buf_appends(&b, "0123456789"), 0);
    assert_int_equal(cs_meta_map_delete("SKU-OLD", &b), -1);
    assert_string_equal(b.data, "0123456789");
    cs_buf_free(&b);
}

static void test_images_off(void **state __attribute__((unused)))
{
    static const char *const imgs[] = { "https://cdn/x.jpg", "products/a.jpg" };
    cs_meta_map_opts o = { .media_base_url = "https://shop/media/" };
    json_t *p = base_product();
    set(p, "images", str_array(imgs, 2));
    json_t *d = map_ok(p, &o);
    assert_null(json_object_get(d, "image_link"));
    assert_null(json_object_get(d, "additional_image_link"));
    json_decref(d);
}

static void test_images_on(void **state __attribute__((unused)))
{
    static const char *const imgs[] = {
        "products/a.jpg", "/products/b.jpg", "https://cdn.example/c.jpg",
        "HTTP://cdn.example/d.jpg", "ftp://old/e.jpg", "//cdn.example/f.jpg",
    };
    static const char *const bases[] = {
        "https://shop/media/", "https://shop/media", "https://shop/media//",
    };
    for (size_t i = 0; i < 3; i++) {
        cs_meta_map_opts o = { .include_images = 1, .media_base_url = bases[i] };
        json_t *p = base_product();
        set(p, "images", str_array(imgs, 6));
        json_t *d = map_ok(p, &o);
        assert_string_equal(field(d, "image_link"), "https://shop/media/products/a.jpg");
        json_t *extra = json_object_get(d, "additional_image_link");
        assert_int_equal(json_array_size(extra), 4);
        assert_string_equal(json_string_value(json_array_get(extra, 0)),
                            "https://shop/media/products/b.jpg");
        assert_string_equal(json_string_value(json_array_get(extra, 1)),
                            "https://cdn.example/c.jpg");
        assert_string_equal(json_string_value(json_array_get(extra, 2)),
                            "HTTP://cdn.example/d.jpg");
        assert_string_equal(json_string_value(json_array_get(extra, 3)),
                            "https://cdn.example/f.jpg");
        json_decref(d);
    }
    /* No media base: relative paths are skipped, absolute URLs kept. */
    cs_meta_map_opts o = { .include_images = 1 };
    json_t *p = base_product();
    set(p, "images", str_array(imgs, 3));
    json_t *d = map_ok(p, &o);
    assert_string_equal(field(d, "image_link"), "https://cdn.example/c.jpg");
    assert_null(json_object_get(d, "additional_image_link"));
    json_decref(d);
    /* Only relative paths and no base: no image fields at all. */
    p = base_product();
    set(p, "images", str_array(imgs, 2));
    d = map_ok(p, &o);
    assert_null(json_object_get(d, "image_link"));
    assert_null(json_object_get(d, "additional_image_link"));
    json_decref(d);
}

static void test_images_capped(void **state __attribute__((unused)))
{
    char names[25][32];
    const char *imgs[25];
    for (int i = 0; i < 25; i++) {
        snprintf(names[i], sizeof names[i], "p/%02d.jpg", i);
        imgs[i] = names[i];
    }
    cs_meta_map_opts o = { .include_images = 1, .media_base_url = "https://shop/m" };
    json_t *p = base_product();
    set(p, "images", str_array(imgs, 25));
    json_t *d = map_ok(p, &o);
    assert_string_equal(field(d, "image_link"), "https://shop/m/p/00.jpg");
    json_t *extra = json_object_get(d, "additional_image_link");
    assert_int_equal(json_array_size(extra), 20);
    assert_string_equal(json_string_value(json_array_get(extra, 0)), "https://shop/m/p/01.jpg");
    assert_string_equal(json_string_value(json_array_get(extra, 19)), "https://shop/m/p/20.jpg");
    json_decref(d);
}

static const char *describe(const char *html)
{
    static char out[8192];
    json_t *p = base_product();
    set(p, "description", json_string(html));
    json_t *d = map_ok(p, NULL);
    snprintf(out, sizeof out, "%s", field(d, "description"));
    json_decref(d);
    return out;
}

static void test_html_description(void **state __attribute__((unused)))
{
    assert_string_equal(describe("<p>Blue <b>ceramic</b> mug.</p><p>Holds&nbsp;350&nbsp;ml"
                                 "</p>\n\n<ul><li>Dishwasher safe</li><li>Tom &amp; Jerry"
                                 "</li></ul>"),
                        "Blue ceramic mug. Holds 350 ml Dishwasher safe Tom & Jerry");
    assert_string_equal(describe("  &lt;b&gt; is &quot;bold&quot; &#39;x&#39; &apos;y&apos; "
                                 "&#8364;5 &#x41;  "),
                        "<b> is \"bold\" 'x' 'y' \xe2\x82\xac" "5 A");
    assert_string_equal(describe("Line1<br/>Line2<br>Line3"), "Line1 Line2 Line3");
    assert_string_equal(describe("<div class=\"a>b\">x</div>"), "x");
    assert_string_equal(describe("a < b and 3<4 & 5 &bogus; &#0; &#xD800;"),
                        "a < b and 3<4 & 5 &bogus; &#0; &#xD800;");
    assert_string_equal(describe("<style>p{color:red}</style>Hi<script>alert('<b>')"
                                 "</script> there<!-- hidden -->!"),
                        "Hi there !");
    assert_string_equal(describe("\t tab\t\tand\r\nnewline \xc2\xa0nbsp "),
                        "tab and newline nbsp");
    /* Empty after stripping: the title stands in. */
    assert_string_equal(describe("<p> &nbsp; </p>"), "Blue Mug");
    json_t *p = base_product();
    json_object_del(p, "description");
    json_t *d = map_ok(p, NULL);
    assert_string_equal(field(d, "description"), "Blue Mug");
    json_decref(d);
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static void test_long_text_truncated_utf8(void **state __attribute__((unused)))
{
    /* "Mug " then 200 euro signs (3 bytes each): the cut must land between them. */
    char name[1024] = "Mug ";
    for (int i = 0; i < 200; i++)
        memcpy(name + 4 + 3 * i, "\xe2\x82\xac", 3);
    name[4 + 600] = '\0';
    json_t *p = base_product();
    set(p, "name", json_string(name));
    set(p, "description", json_string(""));
    json_t *d = map_ok(p, NULL);   /* map_ok's JSON parse also checks the UTF-8 */
    const char *t = field(d, "title");
    assert_int_equal(utf8_len(t), 150);
    assert_int_equal(strlen(t), 4 + 146 * 3);
    assert_memory_equal(t, name, strlen(t));
    assert_string_equal(field(d, "description"), t);
    json_decref(d);

    /* Description: 6000 two-byte characters -> 5000. */
    size_t n = 6000 * 2 + 1;
    char *desc = malloc(n);
    for (size_t i = 0; i < 6000; i++) {
        desc[2 * i] = '\xc3';
        desc[2 * i + 1] = '\xa9';
    }
    desc[n - 1] = '\0';
    p = base_product();
    set(p, "description", json_string(desc));
    d = map_ok(p, NULL);
    assert_int_equal(utf8_len(field(d, "description")), 5000);
    assert_int_equal(strlen(field(d, "description")), 10000);
    json_decref(d);
    free(desc);
}

static void test_condition(void **state __attribute__((unused)))
{
    static const struct { const char *in, *want; } cases[] = {
        { "new", "new" }, { "NEW", "new" }, { "Refurbished", "refurbished" },
        { "used", "used" }, { "Used_Like_New", "used_like_new" }, { "used_good", "used_good" },
        { "used_fair", "used_fair" }, { "CPO", "cpo" }, { "open_box_new", "open_box_new" },
        { "mint", "new" }, { "used like new", "new" }, { "", "new" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *p = base_product();
        set(p, "condition", json_string(cases[i].in));
        json_t *d = map_ok(p, NULL);
        assert_string_equal(field(d, "condition"), cases[i].want);
        json_decref(d);
    }
    json_t *p = base_product();
    set(p, "condition", json_null());
    json_t *d = map_ok(p, NULL);
    assert_string_equal(field(d, "condition"), "new");
    json_decref(d);
}

static void test_availability_and_quantity(void **state __attribute__((unused)))
{
    static const struct { int has; json_int_t qty; const char *avail; int sends_qty; } cases[] = {
        { 1, 5, "in stock", 1 }, { 1, 0, "out of stock", 1 },
        { 1, -3, "out of stock", 0 }, { 0, 0, "in stock", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *p = base_product();
        set(p, "stock_quantity", cases[i].has ? json_integer(cases[i].qty) : json_null());
        json_t *d = map_ok(p, NULL);
        assert_string_equal(field(d, "availability"), cases[i].avail);
        json_t *q = json_object_get(d, "quantity_to_sell_on_facebook");
        if (cases[i].sends_qty) {
            assert_true(json_is_integer(q));
            assert_int_equal(json_integer_value(q), cases[i].qty);
        } else {
            assert_null(q);
        }
        json_decref(d);
    }
}

static void test_categories_and_attributes(void **state __attribute__((unused)))
{
    json_t *p = base_product();
    set(p, "categories", json_pack("[s,s,s]", "Kitchen", "Mugs", "Blue & Co"));
    set(p, "attributes",
        json_pack("[{s:s,s:n},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},"
                  "{s:s,s:s},{s:s,s:s},{s:s,s:s}]",
                  "name", "COLOR", "value",
                  "name", "color", "value", "Blue",
                  "name", "Size", "value", "XL",
                  "name", "AGE_GROUP", "value", "adult",
                  "name", "gender", "value", "unisex",
                  "name", "Material", "value", "Ceramic",
                  "name", "PATTERN", "value", "Striped",
                  "name", "WEIGHT", "value", "300g",
                  "name", "colour", "value", "Red"));
    json_t *d = map_ok(p, NULL);
    assert_string_equal(field(d, "product_type"), "Kitchen > Mugs > Blue & Co");
    assert_string_equal(field(d, "color"), "Blue");
    assert_string_equal(field(d, "size"), "XL");
    assert_string_equal(field(d, "age_group"), "adult");
    assert_string_equal(field(d, "gender"), "unisex");
    assert_string_equal(field(d, "material"), "Ceramic");
    assert_string_equal(field(d, "pattern"), "Striped");
    assert_null(json_object_get(d, "weight"));
    assert_null(json_object_get(d, "WEIGHT"));
    assert_null(json_object_get(d, "colour"));
    assert_null(json_object_get(d, "COLOR"));
    json_decref(d);

    /* Only null values: the field is not sent. */
    p = base_product();
    set(p, "attributes", json_pack("[{s:s,s:n}]", "name", "size", "value"));
    d = map_ok(p, NULL);
    assert_null(json_object_get(d, "size"));
    assert_null(json_object_get(d, "product_type"));
    json_decref(d);
}

static void test_json_escaping(void **state __attribute__((unused)))
{
    cs_meta_map_opts o = { .include_images = 1, .media_base_url = "https://shop/m\"x/" };
    json_t *p = base_product();
    set(p, "sku", json_string("SKU\"7\\"));
    set(p, "name", json_string("The \"Big\"\nMug\t\\ </script>"));
    set(p, "brand", json_string("A\"cme"));
    set(p, "link", json_string("https://shop/p?q=\"1\""));
    set(p, "images", json_pack("[s]", "a\"b.jpg"));
    set(p, "attributes", json_pack("[{s:s,s:s}]", "name", "color", "value", "Red\n\"Dark\"\x01"));
    json_t *d = map_ok(p, &o);
    assert_string_equal(field(d, "id"), "SKU\"7\\");
    assert_string_equal(field(d, "title"), "The \"Big\"\nMug\t\\ </script>");
    assert_string_equal(field(d, "brand"), "A\"cme");
    assert_string_equal(field(d, "link"), "https://shop/p?q=\"1\"");
    assert_string_equal(field(d, "image_link"), "https://shop/m\"x/a\"b.jpg");
    assert_string_equal(field(d, "color"), "Red\n\"Dark\"\x01");
    json_decref(d);
}

static void test_buffer_cap_appends_nothing(void **state __attribute__((unused)))
{
    cs_event *ev = event_of(base_product());
    cs_buf b;
    char why[300] = "";
    cs_buf_init(&b, 64);
    assert_int_equal(cs_buf_appends(&b, "head"), 0);
    assert_int_equal(cs_meta_map_update(ev, NULL, 0, &b, why, sizeof why), CS_MAP_FAIL);
    assert_non_null(strstr(why, "does not fit"));
    assert_string_equal(b.data, "head");
    cs_buf_free(&b);
    cs_event_destroy(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_record),
        cmocka_unit_test(test_exact_bytes_and_appending),
        cmocka_unit_test(test_new_item_needs_an_image),
        cmocka_unit_test(test_no_sku_fails),
        cmocka_unit_test(test_product_id_source),
        cmocka_unit_test(test_retailer_id_limits),
        cmocka_unit_test(test_price_failures),
        cmocka_unit_test(test_prices_in_record),
        cmocka_unit_test(test_sale_price),
        cmocka_unit_test(test_link_brand_name),
        cmocka_unit_test(test_hide_and_delete),
        cmocka_unit_test(test_images_off),
        cmocka_unit_test(test_images_on),
        cmocka_unit_test(test_images_capped),
        cmocka_unit_test(test_html_description),
        cmocka_unit_test(test_long_text_truncated_utf8),
        cmocka_unit_test(test_condition),
        cmocka_unit_test(test_availability_and_quantity),
        cmocka_unit_test(test_categories_and_attributes),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_buffer_cap_appends_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
