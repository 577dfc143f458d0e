#include "woo_map.h"
#include "cs_util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cs_money.h"

/* What a field list or changed_fields entry selects. */
enum {
    F_NAME = 1 << 0,
    F_SKU = 1 << 1,
    F_PRICE = 1 << 2,
    F_DESC = 1 << 3,
    F_STOCK = 1 << 4,
    F_STATUS = 1 << 5,
    F_IMAGES = 1 << 6,
    F_ATTRS = 1 << 7,
    F_NOTHING = 1 << 8,          /* known names that map to nothing */
    F_STANDARD = F_NAME | F_SKU | F_PRICE | F_DESC | F_STOCK | F_STATUS | F_IMAGES,
};

typedef struct { const char *name; unsigned bits; } name_bits;

/* Field list names, changed_fields names (event contract) and their
 * aliases: one table, so that "stock_quantity" in a field list or "stock" in
 * changed_fields mean what they say instead of naming an attribute (an
 * attribute list sent by mistake would replace the store's attributes). */
static const name_bits NAMES[] = {
    {"name", F_NAME}, {"sku", F_SKU}, {"price", F_PRICE}, {"sale_price", F_PRICE},
    {"regular_price", F_PRICE}, {"description", F_DESC}, {"stock_quantity", F_STOCK},
    {"stock", F_STOCK}, {"is_active", F_STATUS}, {"status", F_STATUS},
    {"images", F_IMAGES}, {"attributes", F_ATTRS},
    {"short_description", F_NOTHING}, {"categories", F_NOTHING},
};
#define N_NAMES (sizeof NAMES / sizeof NAMES[0])

static unsigned lookup(const char *name)
{
    for (size_t i = 0; name && i < N_NAMES; i++)
        if (strcasecmp(name, NAMES[i].name) == 0)
            return NAMES[i].bits;
    return 0;
}

static int is_blank(const char *s)
{
    for (; s && *s; s++)
        if (!strchr(" \t\r\n\f\v", *s))
            return 0;
    return 1;
}

/* ---- JSON object writer: members in call order, values escaped ---- */

typedef struct {
    cs_buf *b;
    int n;      /* members written */
    int err;
} jw;

static void jw_raw(jw *w, const char *s)
{
    if (!w->err && cs_buf_appends(w->b, s) != 0)
        w->err = 1;
}

static void jw_strval(jw *w, const char *s)
{
    if (!w->err && cs_buf_append_json_str(w->b, s, strlen(s)) != 0)
        w->err = 1;
}

static void jw_key(jw *w, const char *key)
{
    if (w->n++)
        jw_raw(w, ",");
    jw_strval(w, key);
    jw_raw(w, ":");
}

static void jw_str(jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_strval(w, s);
}

static void jw_long(jw *w, const char *key, int64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%" PRId64, v);
    jw_key(w, key);
    jw_raw(w, num);
}

/* ---- images ---- */

/* Length of a URI scheme at the start of s including its ':', or 0. */
static size_t scheme_len(const char *s)
{
    size_t i = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    while (s[i] && (strchr("+-.", s[i]) || (s[i] >= '0' && s[i] <= '9') ||
                    (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
        i++;
    return s[i] == ':' ? i + 1 : 0;
}

/* Writes the URL WooCommerce should download image img from into u; 1 =
 * usable, 0 = skipped (another scheme, a media path without a media base
 * URL, or longer than CS_WOO_SRC_MAX - 1 bytes). */
static int image_url(const char *img, const char *base, char u[CS_WOO_SRC_MAX])
{
    size_t sl = img ? scheme_len(img) : 0;
    int n;
    if (!img || !*img)
        return 0;
    if (sl) {
        if (!((sl == 5 && strncasecmp(img, "http:", 5) == 0) ||
              (sl == 6 && strncasecmp(img, "https:", 6) == 0)))
            return 0;
        n = snprintf(u, CS_WOO_SRC_MAX, "%s", img);
    } else if (strncmp(img, "//", 2) == 0) {                  /* protocol-relative */
        n = snprintf(u, CS_WOO_SRC_MAX, "https:%s", img);
    } else {
        if (!base || !*base)
            return 0;
        size_t bl = strlen(base);
        while (bl > 0 && base[bl - 1] == '/')
            bl--;
        while (*img == '/')
            img++;
        if (!*img || bl > CS_WOO_SRC_MAX)
            return 0;
        n = snprintf(u, CS_WOO_SRC_MAX, "%.*s/%s", (int)bl, base, img);
    }
    return n > 0 && n < CS_WOO_SRC_MAX;
}

size_t cs_woo_image_srcs(const cs_product *p, const char *media_base_url,
                         char out[][CS_WOO_SRC_MAX], size_t max)
{
    size_t k = 0;
    for (size_t i = 0; p && i < p->n_images && k < max; i++)
        if (image_url(p->images[i], media_base_url, out[k]))
            k++;
    return k;
}

static long known_image_id(const cs_woo_image_ids *ids, const char *src)
{
    for (size_t i = 0; ids && i < ids->n; i++)
        if (ids->src[i] && ids->id[i] > 0 && strcmp(ids->src[i], src) == 0)
            return ids->id[i];
    return 0;
}

static void write_images(jw *w, const cs_product *p, const cs_woo_map_opts *o)
{
    char u[CS_WOO_SRC_MAX];
    size_t usable = 0;
    for (size_t i = 0; i < p->n_images; i++)
        usable += (size_t)image_url(p->images[i], o->media_base_url, u);
    if (p->n_images > 0 && usable == 0)
        return;
    jw_key(w, "images");
    jw_raw(w, "[");
    usable = 0;
    for (size_t i = 0; i < p->n_images; i++) {
        if (!image_url(p->images[i], o->media_base_url, u))
            continue;
        jw_raw(w, usable++ ? ",{" : "{");
        long id = known_image_id(o->images, u);
        if (id > 0) {
            char num[32];
            snprintf(num, sizeof num, "\"id\":%ld}", id);
            jw_raw(w, num);
        } else {
            jw_raw(w, "\"src\":");
            jw_strval(w, u);
            jw_raw(w, "}");
        }
    }
    jw_raw(w, "]");
}

/* ---- attributes ---- */

/* The exported attribute names: every field list entry that is not a known
 * name.  A standard name is never an attribute. */
typedef struct {
    const char *const *fields;
    size_t n_fields;
    int all;                     /* empty field list or "attributes": every attribute */
} attr_sel;

static int attr_selected(const attr_sel *s, const char *name)
{
    if (!name || !*name || lookup(name))
        return 0;
    if (s->all)
        return 1;
    for (size_t i = 0; i < s->n_fields; i++)
        if (s->fields[i] && strcasecmp(s->fields[i], name) == 0)
            return 1;
    return 0;
}

static void write_attributes(jw *w, const cs_product *p, const attr_sel *sel)
{
    jw_key(w, "attributes");
    jw_raw(w, "[");
    int written = 0;
    for (size_t i = 0; i < p->n_attributes; i++) {
        const cs_attr *a = &p->attributes[i];
        if (!attr_selected(sel, a->name))
            continue;
        size_t first = i;     /* one entry per name (any case), at its first place */
        for (size_t j = 0; j < i; j++)
            if (p->attributes[j].name && strcasecmp(p->attributes[j].name, a->name) == 0 &&
                !is_blank(p->attributes[j].value)) {
                first = j;
                break;
            }
        if (first != i || is_blank(a->value))
            continue;
        jw_raw(w, written++ ? ",{\"name\":" : "{\"name\":");
        jw_strval(w, a->name);
        jw_raw(w, ",\"options\":[");
        int nv = 0;
        for (size_t j = i; j < p->n_attributes; j++) {
            const cs_attr *b = &p->attributes[j];
            if (!b->name || strcasecmp(b->name, a->name) != 0 || is_blank(b->value))
                continue;
            if (nv++)
                jw_raw(w, ",");
            jw_strval(w, b->value);
        }
        jw_raw(w, "],\"visible\":true,\"variation\":false}");
    }
    jw_raw(w, "]");
}

/* ---- selection ---- */

/* Which members to send: the export set, narrowed to the changed fields for
 * a partial update. */
static unsigned select_fields(const cs_event *ev, const cs_woo_map_opts *o, int create,
                              attr_sel *sel)
{
    unsigned exp = 0;
    memset(sel, 0, sizeof *sel);
    if (!o->fields || o->n_fields == 0) {
        exp = F_STANDARD | F_ATTRS;
        sel->all = 1;
    } else {
        sel->fields = o->fields;
        sel->n_fields = o->n_fields;
        for (size_t i = 0; i < o->n_fields; i++) {
            unsigned b = lookup(o->fields[i]);
            exp |= b ? b : (o->fields[i] && *o->fields[i] ? F_ATTRS : 0);
            sel->all |= b == F_ATTRS;
        }
    }
    if (create || !o->partial || !ev->has_changed_fields)
        return exp | (create ? F_SKU : 0);
    unsigned chg = 0;
    for (size_t i = 0; i < ev->n_changed_fields; i++) {
        const char *c = ev->changed_fields[i];
        unsigned b = lookup(c);
        chg |= b ? b : (attr_selected(sel, c) ? F_ATTRS : 0);
    }
    return exp & chg;
}

/* ---- prices ---- */

typedef struct {
    char regular[CS_MONEY_STR_MAX];
    char sale[CS_MONEY_STR_MAX];
} prices;

static int money_str(const cs_money *m, const char *what, int64_t *minor, char *out,
                     char *why, size_t why_size)
{
    char msg[200];
    if (cs_money_to_minor(m->amount, m->currency, minor, msg, sizeof msg) != 0 ||
        cs_money_format_minor(*minor, m->currency, out, CS_MONEY_STR_MAX) != 0) {
        cs_set_why(why, why_size, "%s %.40s %.3s cannot be sent to WooCommerce: %s", what,
                m->amount, m->currency, msg);
        return -1;
    }
    return 0;
}

static int map_prices(const cs_product *p, const char *store_currency, prices *pr, char *why,
                      size_t why_size)
{
    int64_t price_minor = 0, sale_minor = 0;
    char sale[CS_MONEY_STR_MAX];
    pr->regular[0] = pr->sale[0] = '\0';
    const cs_money *priced = p->price.amount ? &p->price : p->sale_price.amount ? &p->sale_price
                                                                                 : NULL;
    if (priced && store_currency && strcmp(priced->currency, store_currency) != 0) {
        cs_set_why(why, why_size, "price in %.3s, but the store's currency is %.3s: not written "
                   "(one currency per store)", priced->currency, store_currency);
        return -1;
    }
    if (p->price.amount &&
        money_str(&p->price, "price", &price_minor, pr->regular, why, why_size) != 0)
        return -1;
    if (!p->sale_price.amount)
        return 0;
    if (p->price.amount && strcmp(p->sale_price.currency, p->price.currency) != 0) {
        cs_set_why(why, why_size, "sale_price currency %.3s differs from price currency %.3s",
                p->sale_price.currency, p->price.currency);
        return -1;
    }
    if (money_str(&p->sale_price, "sale_price", &sale_minor, sale, why, why_size) != 0)
        return -1;
    if (p->price.amount && sale_minor < price_minor)
        memcpy(pr->sale, sale, sizeof sale);
    return 0;
}

/* ---- the product object ---- */

static void write_product(jw *w, const cs_product *p, const cs_woo_map_opts *o,
                          unsigned f, const prices *pr, const attr_sel *sel)
{
    if ((f & F_NAME) && p->name)
        jw_str(w, "name", p->name);
    if ((f & F_SKU) && !is_blank(p->sku))
        jw_str(w, "sku", p->sku);
    if (f & F_PRICE) {
        jw_str(w, "regular_price", pr->regular);
        jw_str(w, "sale_price", pr->sale);
    }
    if (f & F_DESC)
        jw_str(w, "description", p->description ? p->description : "");
    if (f & F_STOCK) {
        jw_key(w, "manage_stock");
        jw_raw(w, p->has_stock ? "true" : "false");
        if (p->has_stock)
            jw_long(w, "stock_quantity", p->stock_quantity);
        jw_str(w, "stock_status", p->has_stock && p->stock_quantity <= 0 ? "outofstock"
                                                                          : "instock");
    }
    if (f & F_STATUS)
        jw_str(w, "status", p->is_active ? "publish" : "draft");
    if (f & F_IMAGES)
        write_images(w, p, o);
    if (f & F_ATTRS)
        write_attributes(w, p, sel);
}

cs_woo_map_result cs_woo_map_product(const cs_event *ev, const cs_woo_map_opts *o,
                                     long remote_id, cs_buf *out, char *why, size_t why_size)
{
    static const cs_woo_map_opts defaults = {0};
    attr_sel sel;
    prices pr = {"", ""};
    if (!o)
        o = &defaults;
    if (!ev || !out) {
        cs_set_why(why, why_size, "no event or output buffer");
        return CS_WOO_MAP_FAIL;
    }
    const cs_product *p = &ev->product;
    int create = remote_id <= 0;
    if (create && is_blank(p->sku)) {
        cs_set_why(why, why_size, "product has no SKU (WooCommerce export needs one to avoid "
                "duplicates)");
        return CS_WOO_MAP_FAIL;
    }
    unsigned f = select_fields(ev, o, create, &sel);
    if (o->restore)
        f |= F_STATUS;
    if ((f & F_PRICE) && map_prices(p, o->currency, &pr, why, why_size) != 0)
        return CS_WOO_MAP_FAIL;

    /* Built aside and appended whole, so a failure leaves out as it was. */
    cs_buf obj;
    cs_buf_init(&obj, out->len < out->cap ? out->cap - out->len : 1);
    jw w = { &obj, 0, 0 };
    jw_raw(&w, "{");
    if (!create)
        jw_long(&w, "id", remote_id);
    int before = w.n;
    write_product(&w, p, o, f, &pr, &sel);
    jw_raw(&w, "}");
    cs_woo_map_result r = CS_WOO_MAP_OK;
    if (!w.err && w.n == before) {
        r = CS_WOO_MAP_EMPTY;
    } else if (w.err || cs_buf_append(out, obj.data, obj.len) != 0) {
        cs_set_why(why, why_size, "product object for %.100s does not fit in the request "
                "buffer (cap %zu bytes) or memory ran out", p->sku ? p->sku : p->id, out->cap);
        r = CS_WOO_MAP_FAIL;
    }
    cs_buf_free(&obj);
    return r;
}
