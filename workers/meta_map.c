#include "meta_map.h"
#include "cs_util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cs_money.h"

static const cs_meta_map_opts DEFAULT_OPTS = { CS_RID_SKU, 0, NULL, NULL, NULL, 0, NULL };

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(unsigned char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

/* Strips ASCII whitespace from both ends of s[0..*n); returns the new start. */
static const char *trim(const char *s, size_t *n)
{
    while (*n > 0 && is_space((unsigned char)s[0])) {
        s++;
        (*n)--;
    }
    while (*n > 0 && is_space((unsigned char)s[*n - 1]))
        (*n)--;
    return s;
}

static int is_blank(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    trim(s ? s : "", &n);
    return n == 0;
}

/* Number of UTF-8 characters (lead bytes) in s[0..n). */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

/* Byte length of the first max_chars characters of s[0..n): the cut always
 * falls before a lead byte, never inside a multibyte sequence. */
static size_t utf8_prefix(const char *s, size_t n, size_t max_chars)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80)
            continue;
        if (c == max_chars)
            return i;
        c++;
    }
    return n;
}

/* Truncates to max_chars characters, then drops whitespace the cut exposed. */
static size_t clip(const char *s, size_t n, size_t max_chars)
{
    n = utf8_prefix(s, n, max_chars);
    while (n > 0 && is_space((unsigned char)s[n - 1]))
        n--;
    return n;
}

/* ---- JSON object writer: keys in call order, values escaped ---- */

typedef struct {
    cs_buf *b;
    int n;      /* members written */
    int err;
} jw;

static void jw_key(jw *w, const char *key)
{
    if (w->err)
        return;
    if ((w->n++ && cs_buf_appendc(w->b, ',') != 0) ||
        cs_buf_append_json_str(w->b, key, strlen(key)) != 0 ||
        cs_buf_appendc(w->b, ':') != 0)
        w->err = 1;
}

static void jw_strn(jw *w, const char *key, const char *s, size_t n)
{
    jw_key(w, key);
    if (!w->err && cs_buf_append_json_str(w->b, s, n) != 0)
        w->err = 1;
}

static void jw_str(jw *w, const char *key, const char *s)
{
    jw_strn(w, key, s, strlen(s));
}

static void jw_raw(jw *w, const char *s)
{
    if (!w->err && cs_buf_appends(w->b, s) != 0)
        w->err = 1;
}

/* ---- retailer id ---- */

cs_map_result cs_meta_retailer_id(const cs_product *p, const char *tenant,
                                  const cs_meta_map_opts *o,
                                  char *out, size_t out_size,
                                  char *why, size_t why_size)
{
    const char *rid;
    if (!o)
        o = &DEFAULT_OPTS;
    if (out && out_size)
        out[0] = '\0';
    if (o->rid_source == CS_RID_PRODUCT_ID) {
        rid = p->id;
        if (is_blank(rid)) {
            cs_set_why(why, why_size, "product has no id (the Meta retailer id comes "
                    "from the product id)");
            return CS_MAP_FAIL;
        }
    } else {
        rid = p->sku;
        if (is_blank(rid)) {
            cs_set_why(why, why_size, "product has no SKU (the Meta retailer id comes "
                    "from the SKU)");
            return CS_MAP_FAIL;
        }
    }
    size_t nt = o->qualify_tenant && tenant ? strlen(tenant) + 1 : 0;
    size_t n = strlen(rid);
    size_t chars = utf8_chars(rid, n) + (nt ? utf8_chars(tenant, nt - 1) + 1 : 0);
    if (chars > CS_META_RID_MAX) {
        cs_set_why(why, why_size, "retailer id \"%s%s%.40s...\" (from the %s%s) is %zu "
                "characters; Meta allows at most %d", nt ? tenant : "", nt ? ":" : "", rid,
                nt ? "tenant and the " : "",
                o->rid_source == CS_RID_PRODUCT_ID ? "product id" : "SKU",
                chars, CS_META_RID_MAX);
        return CS_MAP_FAIL;
    }
    if (!out || nt + n + 1 > out_size) {
        cs_set_why(why, why_size, "retailer id buffer too small (%zu bytes needed)", nt + n + 1);
        return CS_MAP_FAIL;
    }
    if (nt) {
        memcpy(out, tenant, nt - 1);
        out[nt - 1] = ':';
    }
    memcpy(out + nt, rid, n + 1);
    return CS_MAP_OK;
}

/* ---- description: HTML to plain text ---- */

typedef struct {
    cs_buf *b;
    size_t chars;
    size_t max;
    int pending_space;
    int full;
    int err;
} textw;

static void tw_space(textw *t)
{
    t->pending_space = 1;
}

/* Emits one character (n bytes); a pending space is written only before a
 * following character, so runs collapse and both ends come out trimmed. */
static void tw_char(textw *t, const char *s, size_t n)
{
    if (t->full || t->err)
        return;
    if (t->chars >= t->max) {
        t->full = 1;
        return;
    }
    if (t->pending_space && t->chars > 0) {
        if (t->chars + 1 >= t->max) {
            t->full = 1;
            return;
        }
        if (cs_buf_appendc(t->b, ' ') != 0)
            t->err = 1;
        t->chars++;
    }
    t->pending_space = 0;
    if (cs_buf_append(t->b, s, n) != 0)
        t->err = 1;
    t->chars++;
}

/* Emits a run of plain characters (n bytes, chars characters, no markup,
 * entity or space among them) as tw_char would one by one, in one append. */
static void tw_run(textw *t, const char *s, size_t n, size_t chars)
{
    if (t->full || t->err || !chars)
        return;
    tw_char(t, s, 0);       /* the pending space and the limit, as for a character */
    if (t->full || t->err)
        return;
    t->chars--;             /* tw_char counted a character it did not write */
    size_t room = t->max - t->chars;
    if (chars > room) {
        /* Cut before the first character that does not fit. */
        size_t k = 0, seen = 0;
        while (k < n && seen <= room) {
            if (((unsigned char)s[k] & 0xC0) != 0x80 && ++seen > room)
                break;
            k++;
        }
        n = k;
        chars = room;
        t->full = 1;
    }
    if (cs_buf_append(t->b, s, n) != 0)
        t->err = 1;
    t->chars += chars;
}

static void tw_codepoint(textw *t, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x20 || cp == 0x7F || cp == 0xA0 || (cp >= 0x80 && cp < 0xA0)) {
        tw_space(t);
        return;
    }
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    tw_char(t, u, n);
}

/* Decodes the entity at s (s[0] == '&'); returns the bytes consumed, or 0
 * when it is not an entity we know (the '&' is then literal text). */
static size_t decode_entity(const char *s, textw *t)
{
    static const struct { const char *name; uint32_t cp; } named[] = {
        {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'},
        {"apos;", '\''}, {"nbsp;", 0xA0},
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        size_t l = strlen(named[i].name);
        if (strncmp(s + 1, named[i].name, l) == 0) {
            tw_codepoint(t, named[i].cp);
            return l + 1;
        }
    }
    if (s[1] != '#')
        return 0;
    int hex = s[2] == 'x' || s[2] == 'X';
    size_t i = hex ? 3 : 2, digits = 0;
    uint32_t cp = 0;
    for (;; i++, digits++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (hex && c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            break;
        if (digits >= 7)
            return 0;
        cp = cp * (hex ? 16 : 10) + (uint32_t)d;
    }
    if (digits == 0 || s[i] != ';' || cp == 0 || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    tw_codepoint(t, cp);
    return i + 1;
}

static const char *ci_find(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (strncasecmp(s, needle, n) == 0)
            return s;
    return NULL;
}

/* End of the tag starting at s (s[0] == '<'): the '>' outside quotes. */
static const char *tag_end(const char *s)
{
    char q = 0;
    for (s++; *s; s++) {
        if (q) {
            if (*s == q)
                q = 0;
        } else if (*s == '"' || *s == '\'') {
            q = *s;
        } else if (*s == '>') {
            return s;
        }
    }
    return NULL;
}

static int tag_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Inline elements sit inside words ("<b>Blue</b>berry"), so they leave no
 * space behind; every other tag separates text. */
static int tag_inline(const char *name, size_t n)
{
    static const char *const inl[] = {
        "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font",
        "i", "kbd", "mark", "q", "s", "samp", "small", "span", "strike", "strong",
        "sub", "sup", "time", "u", "var", "wbr",
    };
    for (size_t i = 0; i < sizeof inl / sizeof inl[0]; i++)
        if (tag_is(name, n, inl[i]))
            return 1;
    return 0;
}

/* Handles markup at s (s[0] == '<'); returns where text resumes, or NULL
 * when this '<' is literal text ("a < b", or no closing '>'). */
static const char *skip_markup(const char *s, textw *t)
{
    if (strncmp(s, "<!--", 4) == 0) {
        const char *e = strstr(s + 4, "-->");
        tw_space(t);
        return e ? e + 3 : s + strlen(s);
    }
    int closing = s[1] == '/';
    const char *name = s + 1 + closing;
    if (!is_alpha((unsigned char)name[0]) && !(!closing && (name[0] == '!' || name[0] == '?')))
        return NULL;
    const char *e = tag_end(s);
    if (!e)
        return NULL;
    size_t nl = 0;
    while (is_alnum((unsigned char)name[nl]))
        nl++;
    if (!tag_inline(name, nl))
        tw_space(t);
    if (!closing && e[-1] != '/' && (tag_is(name, nl, "script") || tag_is(name, nl, "style"))) {
        const char *c = ci_find(e + 1, tag_is(name, nl, "script") ? "</script" : "</style");
        const char *ce = c ? tag_end(c) : NULL;
        return ce ? ce + 1 : e + strlen(e);
    }
    return e + 1;
}

/* Plain text of an HTML description, at most max characters. */
static int describe(const char *s, cs_buf *out, size_t max)
{
    textw t = { out, 0, max, 0, 0, 0 };
    while (*s && !t.full && !t.err) {
        unsigned char c = (unsigned char)*s;
        if (c == '<') {
            const char *next = skip_markup(s, &t);
            if (next) {
                s = next;
                continue;
            }
        } else if (c == '&') {
            size_t used = decode_entity(s, &t);
            if (used) {
                s += used;
                continue;
            }
        } else if (c <= 0x20 || c == 0x7F) {
            tw_space(&t);
            s++;
            continue;
        } else if (c == 0xC2 && (unsigned char)s[1] == 0xA0) {
            tw_space(&t);
            s += 2;
            continue;
        }
        size_t n = 1;
        while (s[n] && ((unsigned char)s[n] & 0xC0) == 0x80)
            n++;
        tw_char(&t, s, n);
        s += n;
        /* The plain characters that follow, in one go. */
        size_t chars = 0;
        n = 0;
        for (;; n++) {
            unsigned char d = (unsigned char)s[n];
            if (!d || d == '<' || d == '&' || d <= 0x20 || d == 0x7F ||
                (d == 0xC2 && (unsigned char)s[n + 1] == 0xA0))
                break;
            chars += (d & 0xC0) != 0x80;
        }
        tw_run(&t, s, n, chars);
        s += n;
    }
    return t.err ? -1 : 0;
}

/* ---- links and images ---- */

static int append_pct(cs_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int ok = is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
        char e[3] = { '%', hex[c >> 4], hex[c & 15] };
        if ((ok ? cs_buf_appendc(b, (char)c) : cs_buf_append(b, e, 3)) != 0)
            return -1;
    }
    return 0;
}

/* Length of a URI scheme at the start of s including its ':', or 0. */
static size_t scheme_len(const char *s)
{
    size_t i = 0;
    if (!is_alpha((unsigned char)s[0]))
        return 0;
    while (is_alnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' ? i + 1 : 0;
}

/* Puts the public URL of image img into u.  1 = usable, 0 = skipped (relative
 * path without a media base URL, or a scheme Meta cannot fetch), -1 = error. */
static int image_url(const char *img, const char *base, cs_buf *u)
{
    cs_buf_reset(u);
    size_t sl = scheme_len(img);
    if (sl) {
        if (!((sl == 5 && strncasecmp(img, "http:", 5) == 0) ||
              (sl == 6 && strncasecmp(img, "https:", 6) == 0)))
            return 0;
        return cs_buf_appends(u, img) == 0 ? 1 : -1;
    }
    if (strncmp(img, "//", 2) == 0)   /* protocol-relative */
        return cs_buf_appends(u, "https:") == 0 && cs_buf_appends(u, img) == 0 ? 1 : -1;
    if (!base || !*base)
        return 0;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    while (*img == '/')
        img++;
    if (!*img)
        return 0;
    if (cs_buf_append(u, base, bl) != 0 || cs_buf_appendc(u, '/') != 0 ||
        cs_buf_appends(u, img) != 0)
        return -1;
    return 1;
}

/* 1 when write_images will give the item an image_link (images on and one
 * of the product's images usable), else 0. */
static int has_main_image(const cs_product *p, const cs_meta_map_opts *o, cs_buf *scratch)
{
    for (size_t i = 0; o->include_images && i < p->n_images; i++)
        if (image_url(p->images[i], o->media_base_url, scratch) == 1)
            return 1;
    return 0;
}

static void write_images(jw *w, const cs_product *p, const cs_meta_map_opts *o,
                         cs_buf *scratch)
{
    size_t extra = 0;
    int have_main = 0;
    for (size_t i = 0; i < p->n_images && !w->err; i++) {
        int r = image_url(p->images[i], o->media_base_url, scratch);
        if (r < 0)
            w->err = 1;
        if (r <= 0)
            continue;
        if (!have_main) {
            jw_strn(w, "image_link", scratch->data, scratch->len);
            have_main = 1;
            continue;
        }
        if (extra == CS_META_EXTRA_IMAGES_MAX)
            break;
        if (extra++ == 0) {
            jw_key(w, "additional_image_link");
            jw_raw(w, "[");
        } else {
            jw_raw(w, ",");
        }
        if (!w->err && cs_buf_append_json_str(w->b, scratch->data, scratch->len) != 0)
            w->err = 1;
    }
    if (extra)
        jw_raw(w, "]");
}

/* ---- the UPDATE record ---- */

static const char *const CONDITIONS[] = {
    "new", "refurbished", "used", "used_like_new", "used_good", "used_fair",
    "cpo", "open_box_new",
};

static const char *meta_condition(const char *c)
{
    for (size_t i = 0; c && i < sizeof CONDITIONS / sizeof CONDITIONS[0]; i++)
        if (strcasecmp(c, CONDITIONS[i]) == 0)
            return CONDITIONS[i];
    return "new";
}

static const char *const ATTRS[] = {
    "color", "size", "gender", "material", "pattern", "age_group",
};

/* First non-empty value of the attribute named name (any case), or NULL. */
static const char *attr_value(const cs_product *p, const char *name)
{
    for (size_t i = 0; i < p->n_attributes; i++)
        if (p->attributes[i].name && strcasecmp(p->attributes[i].name, name) == 0 &&
            p->attributes[i].value && p->attributes[i].value[0])
            return p->attributes[i].value;
    return NULL;
}

typedef struct {
    char rid[CS_META_RID_SIZE];
    const char *title;
    size_t title_len;
    char price[CS_MONEY_STR_MAX];
    char sale[CS_MONEY_STR_MAX];   /* "" = no sale: Meta clears it */
    const char *brand;
    size_t brand_len;
    const char *placeholder;       /* image_link of a new item without an image, or NULL */
} mapped;

/* Checks everything that can make a product unmappable, before writing. */
static cs_map_result check_product(const cs_product *p, const char *tenant,
                                   const cs_meta_map_opts *o, int is_new, mapped *m,
                                   cs_buf *scratch, char *why, size_t why_size)
{
    char msg[200];
    int64_t price_minor, sale_minor;
    if (cs_meta_retailer_id(p, tenant, o, m->rid, sizeof m->rid, why, why_size) != CS_MAP_OK)
        return CS_MAP_FAIL;
    m->title_len = p->name ? strlen(p->name) : 0;
    m->title = trim(p->name ? p->name : "", &m->title_len);
    m->title_len = clip(m->title, m->title_len, CS_META_TITLE_MAX);
    if (m->title_len == 0) {
        cs_set_why(why, why_size, "product has no name (Meta needs it as the item title)");
        return CS_MAP_FAIL;
    }
    const cs_money *pr = &p->price, *sp = &p->sale_price;
    if (!pr->amount) {
        cs_set_why(why, why_size, "product has no price");
        return CS_MAP_FAIL;
    }
    if (cs_money_to_minor(pr->amount, pr->currency, &price_minor, msg, sizeof msg) != 0 ||
        cs_money_meta_price(pr->amount, pr->currency, m->price, sizeof m->price,
                            msg, sizeof msg) != 0) {
        cs_set_why(why, why_size, "price cannot be sent to Meta: %s", msg);
        return CS_MAP_FAIL;
    }
    m->sale[0] = '\0';
    if (sp->amount) {
        if (strcmp(sp->currency, pr->currency) != 0) {
            cs_set_why(why, why_size, "sale_price currency %.3s differs from price currency %.3s",
                    sp->currency, pr->currency);
            return CS_MAP_FAIL;
        }
        if (cs_money_to_minor(sp->amount, sp->currency, &sale_minor, msg, sizeof msg) != 0) {
            cs_set_why(why, why_size, "sale_price cannot be sent to Meta: %s", msg);
            return CS_MAP_FAIL;
        }
        if (sale_minor < price_minor &&
            cs_money_meta_price(sp->amount, sp->currency, m->sale, sizeof m->sale,
                                msg, sizeof msg) != 0) {
            cs_set_why(why, why_size, "sale_price cannot be sent to Meta: %s", msg);
            return CS_MAP_FAIL;
        }
    }
    if (is_blank(p->link) && !o->link_base_url) {
        cs_set_why(why, why_size, "product has no link and no link_base_url is configured "
                "to build one");
        return CS_MAP_FAIL;
    }
    const char *brand = !is_blank(p->brand) ? p->brand : o->default_brand;
    if (is_blank(brand)) {
        cs_set_why(why, why_size, "product has no brand and no default_brand is configured");
        return CS_MAP_FAIL;
    }
    m->brand_len = strlen(brand);
    m->brand = trim(brand, &m->brand_len);
    m->brand_len = clip(m->brand, m->brand_len, CS_META_BRAND_MAX);
    /* Meta creates no item without image_link (reference: a "required
     * field" error in the status poll); an update of an existing item may
     * leave its image as it is. */
    m->placeholder = NULL;
    if (is_new && !has_main_image(p, o, scratch)) {
        if (is_blank(o->placeholder_image_url)) {
            cs_set_why(why, why_size, "%s: Meta creates no item without an image (image_link); "
                       "set meta.catalogs[].placeholder_image_url to a public image, or "
                       "include_images = true with public media", CS_META_NO_IMAGE_WHY);
            return CS_MAP_FAIL;
        }
        m->placeholder = o->placeholder_image_url;
    }
    return CS_MAP_OK;
}

static void write_data(jw *w, const cs_product *p, int64_t occurred,
                       const cs_meta_map_opts *o, const mapped *m, cs_buf *scratch)
{
    char num[32];
    jw_str(w, "id", m->rid);
    jw_strn(w, "title", m->title, m->title_len);

    cs_buf_reset(scratch);
    if (p->description && describe(p->description, scratch, CS_META_DESC_MAX) != 0)
        w->err = 1;
    if (scratch->len)
        jw_strn(w, "description", scratch->data, scratch->len);
    else
        jw_strn(w, "description", m->title, m->title_len);

    int out_of_stock = p->has_stock && p->stock_quantity <= 0;
    jw_str(w, "availability", out_of_stock ? "out of stock" : "in stock");
    jw_str(w, "condition", meta_condition(p->condition));
    jw_str(w, "price", m->price);
    jw_str(w, "sale_price", m->sale);

    if (!is_blank(p->link)) {
        size_t ll = strlen(p->link);
        const char *l = trim(p->link, &ll);
        jw_strn(w, "link", l, ll);
    } else {
        cs_buf_reset(scratch);
        if (cs_buf_appends(scratch, o->link_base_url) != 0 || append_pct(scratch, p->id) != 0)
            w->err = 1;
        jw_strn(w, "link", scratch->data ? scratch->data : "", scratch->len);
    }
    if (o->include_images)
        write_images(w, p, o, scratch);
    if (m->placeholder)
        jw_str(w, "image_link", m->placeholder);
    jw_strn(w, "brand", m->brand, m->brand_len);
    jw_str(w, "item_group_id", m->rid);
    jw_str(w, "visibility", "published");
    if (occurred >= 0) {
        /* Lets Meta order updates of one item (reference §7). */
        snprintf(num, sizeof num, "%" PRId64, occurred);
        jw_key(w, "external_update_time");
        jw_raw(w, num);
    }
    if (p->has_stock && p->stock_quantity >= 0) {
        snprintf(num, sizeof num, "%" PRId64, p->stock_quantity);
        jw_key(w, "quantity_to_sell_on_facebook");
        jw_raw(w, num);
    }
    if (p->n_categories > 0) {
        cs_buf_reset(scratch);
        for (size_t i = 0; i < p->n_categories; i++)
            if ((i && cs_buf_appends(scratch, " > ") != 0) ||
                cs_buf_appends(scratch, p->categories[i]) != 0)
                w->err = 1;
        if (!w->err)
            jw_strn(w, "product_type", scratch->data,
                    clip(scratch->data, scratch->len, CS_META_PRODUCT_TYPE_MAX));
    }
    for (size_t i = 0; i < sizeof ATTRS / sizeof ATTRS[0]; i++) {
        const char *v = attr_value(p, ATTRS[i]);
        if (v)
            jw_str(w, ATTRS[i], v);
    }
}

cs_map_result cs_meta_map_update(const cs_event *ev, const cs_meta_map_opts *o, int is_new,
                                 cs_buf *out, char *why, size_t why_size)
{
    mapped m;
    if (!o)
        o = &DEFAULT_OPTS;
    if (!ev || !out) {
        cs_set_why(why, why_size, "no event or output buffer");
        return CS_MAP_FAIL;
    }
    const cs_product *p = &ev->product;
    cs_buf rec, scratch;
    cs_buf_init(&scratch, 0);
    if (check_product(p, ev->tenant, o, is_new, &m, &scratch, why, why_size) != CS_MAP_OK) {
        cs_buf_free(&scratch);
        return CS_MAP_FAIL;
    }
    int64_t occurred;
    if (!ev->occurred_at || cs_rfc3339_unix(ev->occurred_at, &occurred) != 0)
        occurred = -1;

    /* The record is built aside and appended whole, so a failure (cap
     * reached) leaves out exactly as it was. */
    cs_buf_init(&rec, out->len < out->cap ? out->cap - out->len : 1);
    jw w = { &rec, 0, 0 };
    jw_raw(&w, "{\"method\":\"UPDATE\",\"data\":{");
    write_data(&w, p, occurred, o, &m, &scratch);
    jw_raw(&w, "}}");
    int rc = w.err ? -1 : cs_buf_append(out, rec.data, rec.len);
    cs_buf_free(&rec);
    cs_buf_free(&scratch);
    if (rc != 0) {
        cs_set_why(why, why_size, "record for %.100s does not fit in the request buffer "
                "(cap %zu bytes) or memory ran out", m.rid, out->cap);
        return CS_MAP_FAIL;
    }
    return CS_MAP_OK;
}

static int append_small(const char *retailer_id, const char *head, const char *tail,
                        cs_buf *out)
{
    if (!retailer_id || !*retailer_id || !out)
        return -1;
    cs_buf rec;
    cs_buf_init(&rec, out->len < out->cap ? out->cap - out->len : 1);
    int rc = cs_buf_appends(&rec, head) != 0 ||
             cs_buf_append_json_str(&rec, retailer_id, strlen(retailer_id)) != 0 ||
             cs_buf_appends(&rec, tail) != 0 ||
             cs_buf_append(out, rec.data, rec.len) != 0 ? -1 : 0;
    cs_buf_free(&rec);
    return rc;
}

int cs_meta_map_delete(const char *retailer_id, cs_buf *out)
{
    return append_small(retailer_id, "{\"method\":\"DELETE\",\"data\":{\"id\":", "}}", out);
}

int cs_meta_map_hide(const char *retailer_id, cs_buf *out)
{
    return append_small(retailer_id, "{\"method\":\"UPDATE\",\"data\":{\"id\":",
                        ",\"visibility\":\"hidden\"}}", out);
}
