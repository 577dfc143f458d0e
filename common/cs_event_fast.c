/*
 * cs_event_fast: the worker's and the publisher's event decoder.
 *
 * One pass over the payload, straight into the cs_event: no document, no
 * per-value allocation, strings copied once into the event's arena.  It
 * implements the same contract as the reference parser in cs_event.c (RFC
 * 8259 as jansson reads it with JSON_REJECT_DUPLICATES, then the v1 checks)
 * for the events it accepts, and gives up (-1) on everything else: the
 * reference parser then reads the same bytes and words the rejection.  So a
 * rejected event costs both passes, an accepted one a fraction of one
 * (docs/PERFORMANCE.md), and every error message stays the reference's.
 *
 * Gives up on, besides every contract violation: escaped object keys, numbers
 * with a fraction or exponent or more than 18 digits, more than
 * FAST_MAX_ITEMS elements in one of the contract's arrays, more than
 * FAST_MAX_KEYS unknown keys in one object, nesting deeper than
 * FAST_MAX_DEPTH.  The reference parser handles those.
 */
#include "cs_event_priv.h"
#include "cs_util.h"

#include <stdint.h>
#include <string.h>

#define FAST_MAX_DEPTH 32
#define FAST_MAX_ITEMS 256
#define FAST_MAX_KEYS  32

#define NOPE (-1)

typedef struct {
    const char *p, *end;
    cs_event *ev;
    int depth;
} fd;

/* The keys of one object seen so far: the contract's by bit, others by
 * span, so that a duplicate anywhere is refused as the reference does. */
typedef struct {
    uint32_t known;
    int n;
    const char *k[FAST_MAX_KEYS];
    size_t kn[FAST_MAX_KEYS];
} keyset;

static inline int peek(fd *f)
{
    while (f->p < f->end) {
        char c = *f->p;
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            return (unsigned char)c;
        f->p++;
    }
    return -1;
}

static inline int eat(fd *f, char c)
{
    if (peek(f) != (unsigned char)c)
        return 0;
    f->p++;
    return 1;
}

static int word(fd *f, const char *w, size_t n)
{
    if ((size_t)(f->end - f->p) < n || memcmp(f->p, w, n) != 0)
        return NOPE;
    f->p += n;
    return 0;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Bytes of x below n (n <= 0x80): the lowest flagged byte is exact. */
static inline uint64_t bytes_below(uint64_t x, unsigned n)
{
    return (x - ONES * n) & ~x & HIGHS;
}

/* A string token: its raw text between the quotes, and whether it holds a
 * backslash.  Control characters are refused (they must be escaped), and
 * so is invalid UTF-8: the decoder is the payload's UTF-8 check (outside
 * strings only ASCII can match).  Eight bytes at a time up to the next byte
 * that is a quote, a backslash, a control character or not ASCII. */
static int str_scan(fd *f, const char **s, size_t *n, int *esc)
{
    if (peek(f) != '"')
        return NOPE;
    const unsigned char *q = (const unsigned char *)++f->p;
    const unsigned char *e = (const unsigned char *)f->end;
    int has = 0;
    for (;;) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        while (e - q >= 8) {
            uint64_t v;
            memcpy(&v, q, 8);
            uint64_t hit = bytes_below(v, 0x20) | bytes_below(v ^ (ONES * '"'), 1) |
                           bytes_below(v ^ (ONES * '\\'), 1) | (v & HIGHS);
            if (hit) {
                q += __builtin_ctzll(hit) / 8;
                break;
            }
            q += 8;
        }
#endif
        if (q >= e)
            return NOPE;
        unsigned c = *q;
        if (c == '"')
            break;
        if (c < 0x20)
            return NOPE;
        if (c == '\\') {
            if (e - q < 2)
                return NOPE;
            has = 1;
            q += 2;
        } else if (c >= 0x80) {
            size_t k = cs_utf8_seq_len(q, (size_t)(e - q));
            if (!k)
                return NOPE;
            q += k;
        } else {
            q++;
        }
    }
    *s = f->p;
    *n = (size_t)((const char *)q - f->p);
    *esc = has;
    f->p = (const char *)q + 1;
    return 0;
}

static int hex4(const char *s, unsigned *v)
{
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        x <<= 4;
        if (c >= '0' && c <= '9')
            x |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x |= (unsigned)(c - 'A' + 10);
        else
            return NOPE;
    }
    *v = x;
    return 0;
}

static size_t utf8_put(char *out, unsigned u)
{
    unsigned char b[4];
    size_t n;
    if (u < 0x80) {
        b[0] = (unsigned char)u;
        n = 1;
    } else if (u < 0x800) {
        b[0] = (unsigned char)(0xC0 | (u >> 6));
        b[1] = (unsigned char)(0x80 | (u & 0x3F));
        n = 2;
    } else if (u < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (u >> 12));
        b[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (u & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (u >> 18));
        b[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (u & 0x3F));
        n = 4;
    }
    if (out)
        memcpy(out, b, n);
    return n;
}

/* Decodes the escapes of raw string text into out (room for n bytes; the
 * decoded text is never longer), or only checks them when out is NULL.
 * The decoded length, or -1 for an escape the reference refuses (\u0000
 * included: events carry no NUL characters). */
static long str_decode(const char *s, size_t n, char *out)
{
    size_t i = 0, k = 0;
    while (i < n) {
        char c = s[i];
        if (c != '\\') {
            if (out)
                out[k] = c;
            k++;
            i++;
            continue;
        }
        if (i + 1 >= n)
            return NOPE;
        char d = s[i + 1];
        i += 2;
        switch (d) {
        case '"': case '\\': case '/': c = d; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            unsigned u, lo;
            if (n - i < 4 || hex4(s + i, &u) != 0)
                return NOPE;
            i += 4;
            if (u == 0 || (u >= 0xDC00 && u <= 0xDFFF))
                return NOPE;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (n - i < 6 || s[i] != '\\' || s[i + 1] != 'u' ||
                    hex4(s + i + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return NOPE;
                i += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            k += utf8_put(out ? out + k : NULL, u);
            continue;
        }
        default:
            return NOPE;
        }
        if (out)
            out[k] = c;
        k++;
    }
    return (long)k;
}

/* A string value copied into the arena (NUL-terminated), or null
 * (*out NULL, *is_null 1).  Anything else gives up. */
static int str_val(fd *f, const char **out, size_t *len, int *is_null)
{
    const char *s;
    size_t n;
    int esc;
    *out = NULL;
    *len = 0;
    *is_null = 0;
    if (peek(f) == 'n') {
        *is_null = 1;
        return word(f, "null", 4);
    }
    if (str_scan(f, &s, &n, &esc) != 0)
        return NOPE;
    char *d = cs_event_arena_alloc(&f->ev->arena, n + 1);
    if (!d)
        return NOPE;    /* the reference reports the shortage */
    if (!esc) {
        memcpy(d, s, n);
    } else {
        long k = str_decode(s, n, d);
        if (k < 0)
            return NOPE;
        n = (size_t)k;
    }
    d[n] = '\0';
    *out = d;
    *len = n;
    return 0;
}

/* A string: optional (null allowed) or required (non-empty), at most max
 * bytes when max is not 0. */
static int str_field(fd *f, int required, size_t max, const char **out)
{
    size_t n;
    int is_null;
    if (str_val(f, out, &n, &is_null) != 0)
        return NOPE;
    if (is_null)
        return required ? NOPE : 0;
    if ((required && n == 0) || (max && n > max))
        return NOPE;
    return 0;
}

/* An integer as jansson reads one (JSON_INTEGER), up to 18 digits. */
static int int_val(fd *f, int64_t *v)
{
    peek(f);
    const char *q = f->p, *e = f->end;
    int neg = 0;
    if (q < e && *q == '-') {
        neg = 1;
        q++;
    }
    const char *d = q;
    uint64_t x = 0;     /* 19 digits fit; more are refused below */
    while (q < e && *q >= '0' && *q <= '9' && q - d < 19) {
        x = x * 10 + (uint64_t)(*q - '0');
        q++;
    }
    size_t nd = (size_t)(q - d);
    if (nd == 0 || nd > 18 || (nd > 1 && *d == '0'))
        return NOPE;
    if (q < e && (*q == '.' || *q == 'e' || *q == 'E'))
        return NOPE;
    f->p = q;
    *v = neg ? -(int64_t)x : (int64_t)x;
    return 0;
}

/* true/false/null: 1, 0, or -2 for null. */
static int bool_val(fd *f)
{
    int c = peek(f);
    if (c == 't')
        return word(f, "true", 4) == 0 ? 1 : NOPE;
    if (c == 'f')
        return word(f, "false", 5) == 0 ? 0 : NOPE;
    if (c == 'n')
        return word(f, "null", 4) == 0 ? -2 : NOPE;
    return NOPE;
}

/* ---- objects: keys, duplicates, and values nobody reads ---- */

static inline void ks_init(keyset *ks)
{
    ks->known = 0;
    ks->n = 0;     /* the spans are written before they are read */
}

static int keyset_other(keyset *ks, const char *k, size_t n)
{
    for (int i = 0; i < ks->n; i++)
        if (ks->kn[i] == n && memcmp(ks->k[i], k, n) == 0)
            return NOPE;
    if (ks->n == FAST_MAX_KEYS)
        return NOPE;
    ks->k[ks->n] = k;
    ks->kn[ks->n++] = n;
    return 0;
}

/* The next key of an object whose '{' is consumed: 1 and its index in
 * names (count of them; -1 for another key, recorded in ks), 0 at the '}',
 * NOPE on anything else.  A key's ':' is consumed. */
static int next_key(fd *f, keyset *ks, int *first, const char *const *names,
                    const unsigned char *lens, int count, int *idx)
{
    if (*first) {
        *first = 0;
        if (eat(f, '}'))
            return 0;
    } else if (!eat(f, ',')) {
        return eat(f, '}') ? 0 : NOPE;
    }
    const char *k;
    size_t n;
    int esc;
    if (str_scan(f, &k, &n, &esc) != 0 || esc || !eat(f, ':'))
        return NOPE;
    for (int i = 0; i < count; i++) {
        if (lens[i] == n && memcmp(names[i], k, n) == 0) {
            if (ks->known & (1u << i))
                return NOPE;
            ks->known |= 1u << i;
            *idx = i;
            return 1;
        }
    }
    *idx = -1;
    return keyset_other(ks, k, n) == 0 ? 1 : NOPE;
}

static int skip_value(fd *f);

static int skip_object(fd *f)
{
    keyset ks;
    ks_init(&ks);
    int first = 1, idx, r;
    while ((r = next_key(f, &ks, &first, NULL, NULL, 0, &idx)) == 1)
        if (skip_value(f) != 0)
            return NOPE;
    return r;
}

static int skip_array(fd *f)
{
    if (eat(f, ']'))
        return 0;
    do {
        if (skip_value(f) != 0)
            return NOPE;
    } while (eat(f, ','));
    return eat(f, ']') ? 0 : NOPE;
}

static int skip_value(fd *f)
{
    int c = peek(f), rc;
    const char *s;
    size_t n;
    int esc;
    int64_t v;
    switch (c) {
    case '{':
    case '[':
        if (++f->depth > FAST_MAX_DEPTH)
            return NOPE;
        f->p++;
        rc = c == '{' ? skip_object(f) : skip_array(f);
        f->depth--;
        return rc;
    case '"':
        if (str_scan(f, &s, &n, &esc) != 0)
            return NOPE;
        return esc && str_decode(s, n, NULL) < 0 ? NOPE : 0;
    case 't':
        return word(f, "true", 4);
    case 'f':
        return word(f, "false", 5);
    case 'n':
        return word(f, "null", 4);
    default:
        return int_val(f, &v);
    }
}

/* ---- the contract's values ---- */

/* null (0), or the '[' of an array, consumed (1); NOPE otherwise. */
static int array_open(fd *f)
{
    if (peek(f) == 'n')
        return word(f, "null", 4);
    return eat(f, '[') ? 1 : NOPE;
}

/* An array of non-empty strings, or null (NULL, 0; *present 0). */
static int str_array(fd *f, const char ***out, size_t *n_out, int *present)
{
    const char *tmp[FAST_MAX_ITEMS];
    size_t n = 0;
    *out = NULL;
    *n_out = 0;
    *present = 0;
    int open = array_open(f);
    if (open != 1)
        return open;
    *present = 1;
    if (!eat(f, ']')) {
        do {
            if (n == FAST_MAX_ITEMS || str_field(f, 1, 0, &tmp[n]) != 0)
                return NOPE;
            n++;
        } while (eat(f, ','));
        if (!eat(f, ']'))
            return NOPE;
    }
    const char **arr = cs_event_arena_alloc(&f->ev->arena, (n ? n : 1) * sizeof *arr);
    if (!arr)
        return NOPE;
    memcpy(arr, tmp, n * sizeof *arr);
    *out = arr;
    *n_out = n;
    return 0;
}

static const char *const MONEY_KEYS[] = {"amount", "currency"};
static const unsigned char MONEY_LENS[] = {6, 8};

static int money(fd *f, cs_money *m)
{
    memset(m, 0, sizeof *m);
    if (peek(f) == 'n')
        return word(f, "null", 4);
    if (!eat(f, '{'))
        return NOPE;
    keyset ks;
    ks_init(&ks);
    int first = 1, idx, r;
    const char *amount = NULL, *cur = NULL;
    while ((r = next_key(f, &ks, &first, MONEY_KEYS, MONEY_LENS, 2, &idx)) == 1) {
        if (idx == 0) {
            if (str_field(f, 0, 0, &amount) != 0 || !amount)
                return NOPE;
        } else if (idx == 1) {
            if (str_field(f, 0, 0, &cur) != 0 || !cur)
                return NOPE;
        } else if (skip_value(f) != 0) {
            return NOPE;
        }
    }
    if (r != 0 || !amount || !cur)
        return NOPE;
    char why[120];
    if (cs_decimal_check(amount, why, sizeof why) != 0 || !cs_currency_code_ok(cur))
        return NOPE;
    memcpy(m->currency, cur, 4);
    m->amount = amount;
    return 0;
}

static const char *const ATTR_KEYS[] = {"name", "value"};
static const unsigned char ATTR_LENS[] = {4, 5};

static int attributes(fd *f, cs_product *pr)
{
    cs_attr tmp[FAST_MAX_ITEMS / 2];
    size_t n = 0;
    int open = array_open(f);
    if (open != 1)
        return open;
    if (!eat(f, ']')) {
        do {
            if (n == FAST_MAX_ITEMS / 2 || !eat(f, '{'))
                return NOPE;
            keyset ks;
            ks_init(&ks);
            int first = 1, idx, r;
            tmp[n].name = tmp[n].value = NULL;
            while ((r = next_key(f, &ks, &first, ATTR_KEYS, ATTR_LENS, 2, &idx)) == 1) {
                if (idx == 0 ? str_field(f, 1, 255, &tmp[n].name)
                    : idx == 1 ? str_field(f, 0, 0, &tmp[n].value)
                    : skip_value(f))
                    return NOPE;
            }
            if (r != 0 || !tmp[n].name)
                return NOPE;
            n++;
        } while (eat(f, ','));
        if (!eat(f, ']'))
            return NOPE;
    }
    pr->attributes = cs_event_arena_alloc(&f->ev->arena, (n ? n : 1) * sizeof(cs_attr));
    if (!pr->attributes)
        return NOPE;
    memcpy(pr->attributes, tmp, n * sizeof(cs_attr));
    pr->n_attributes = n;
    return 0;
}

enum {
    P_ID, P_VERSION, P_SKU, P_NAME, P_DESCRIPTION, P_BRAND, P_CONDITION, P_LINK,
    P_PRICE, P_SALE_PRICE, P_STOCK, P_IMAGES, P_CATEGORIES, P_ATTRIBUTES, P_ACTIVE,
    P_COUNT
};
static const char *const PRODUCT_KEYS[P_COUNT] = {
    "id", "version", "sku", "name", "description", "brand", "condition", "link",
    "price", "sale_price", "stock_quantity", "images", "categories", "attributes",
    "is_active"};
static const unsigned char PRODUCT_LENS[P_COUNT] = {2, 7, 3, 4, 11, 5, 9, 4, 5, 10, 14,
                                                    6, 10, 10, 9};

/* The product object; *sku_seen says whether it had the key "sku". */
static int product(fd *f, int *sku_seen)
{
    cs_product *pr = &f->ev->product;
    keyset ks;
    ks_init(&ks);
    int first = 1, idx, r, present, b;
    if (!eat(f, '{'))
        return NOPE;
    pr->is_active = 1;
    while ((r = next_key(f, &ks, &first, PRODUCT_KEYS, PRODUCT_LENS, P_COUNT, &idx)) == 1) {
        switch (idx) {
        case P_ID: r = str_field(f, 1, 255, &pr->id); break;
        case P_VERSION: r = int_val(f, &pr->version); break;
        case P_SKU: r = str_field(f, 0, 255, &pr->sku); break;
        case P_NAME: r = str_field(f, 0, 0, &pr->name); break;
        case P_DESCRIPTION: r = str_field(f, 0, 0, &pr->description); break;
        case P_BRAND: r = str_field(f, 0, 0, &pr->brand); break;
        case P_CONDITION: r = str_field(f, 0, 64, &pr->condition); break;
        case P_LINK: r = str_field(f, 0, 0, &pr->link); break;
        case P_PRICE: r = money(f, &pr->price); break;
        case P_SALE_PRICE: r = money(f, &pr->sale_price); break;
        case P_STOCK:
            if (peek(f) == 'n') {
                r = word(f, "null", 4);
            } else {
                r = int_val(f, &pr->stock_quantity);
                pr->has_stock = 1;
            }
            break;
        case P_IMAGES: r = str_array(f, &pr->images, &pr->n_images, &present); break;
        case P_CATEGORIES:
            r = str_array(f, &pr->categories, &pr->n_categories, &present);
            break;
        case P_ATTRIBUTES: r = attributes(f, pr); break;
        case P_ACTIVE:
            b = bool_val(f);
            r = b == NOPE ? NOPE : 0;
            pr->is_active = b != 0;     /* null leaves the default, 1 */
            break;
        default: r = skip_value(f); break;
        }
        if (r != 0)
            return NOPE;
    }
    if (r != 0 || !(ks.known & (1u << P_ID)) || !(ks.known & (1u << P_VERSION)) ||
        pr->version < 0 || pr->version > CS_EVENT_MAX_VERSION)
        return NOPE;    /* the reference parser words the rejection */
    *sku_seen = (ks.known >> P_SKU) & 1;
    return 0;
}

static const char *const EXPORT_KEYS[] = {"connections", "fields", "partial_update"};
static const unsigned char EXPORT_LENS[] = {11, 6, 14};

static int export_spec(fd *f)
{
    cs_export *x = &f->ev->export;
    keyset ks;
    ks_init(&ks);
    int first = 1, idx, r, present, b;
    int64_t tmp[FAST_MAX_ITEMS];
    size_t n = 0;
    if (!eat(f, '{'))
        return NOPE;
    while ((r = next_key(f, &ks, &first, EXPORT_KEYS, EXPORT_LENS, 3, &idx)) == 1) {
        if (idx == 0) {
            if (!eat(f, '[') || eat(f, ']'))
                return NOPE;    /* an array of at least one connection */
            do {
                if (n == FAST_MAX_ITEMS || int_val(f, &tmp[n]) != 0 || tmp[n] < 1)
                    return NOPE;
                n++;
            } while (eat(f, ','));
            if (!eat(f, ']'))
                return NOPE;
        } else if (idx == 1) {
            if (str_array(f, &x->fields, &x->n_fields, &present) != 0)
                return NOPE;
        } else if (idx == 2) {
            if ((b = bool_val(f)) == NOPE)
                return NOPE;
            x->partial_update = b == 1;
        } else if (skip_value(f) != 0) {
            return NOPE;
        }
    }
    if (r != 0 || n == 0)
        return NOPE;
    x->connections = cs_event_arena_alloc(&f->ev->arena, n * sizeof(int64_t));
    if (!x->connections)
        return NOPE;
    memcpy(x->connections, tmp, n * sizeof(int64_t));
    x->n_connections = n;
    return 0;
}

enum {
    R_SCHEMA, R_EVENT_ID, R_TYPE, R_TENANT, R_OCCURRED_AT, R_ACTOR, R_CHANGED,
    R_PRODUCT, R_EXPORT, R_DELETE_MODE, R_COUNT
};
static const char *const ROOT_KEYS[R_COUNT] = {
    "schema", "event_id", "type", "tenant", "occurred_at", "actor", "changed_fields",
    "product", "export", "delete_mode"};
static const unsigned char ROOT_LENS[R_COUNT] = {6, 8, 4, 6, 11, 5, 14, 7, 6, 11};

int cs_event_decode_fast(const char *buf, size_t len, cs_event *ev)
{
    fd f = {buf, buf + len, ev, 1};
    keyset ks;
    ks_init(&ks);
    int first = 1, idx, r, sku_seen = 0, export_obj = 0;
    int64_t schema = 0;
    const char *type = NULL, *dm = NULL;
    size_t n;
    int is_null;

    if (!eat(&f, '{'))
        return NOPE;
    while ((r = next_key(&f, &ks, &first, ROOT_KEYS, ROOT_LENS, R_COUNT, &idx)) == 1) {
        switch (idx) {
        case R_SCHEMA: r = int_val(&f, &schema); break;
        case R_EVENT_ID: r = str_field(&f, 1, 128, &ev->event_id); break;
        case R_TYPE: r = str_field(&f, 1, 64, &type); break;
        case R_TENANT: r = str_field(&f, 0, 64, &ev->tenant); break;
        case R_OCCURRED_AT: r = str_field(&f, 1, 64, &ev->occurred_at); break;
        case R_ACTOR: r = str_field(&f, 0, 255, &ev->actor); break;
        case R_CHANGED:
            r = str_array(&f, &ev->changed_fields, &ev->n_changed_fields,
                          &ev->has_changed_fields);
            break;
        case R_PRODUCT:
            f.depth++;
            r = product(&f, &sku_seen);
            f.depth--;
            break;
        case R_EXPORT:
            if (peek(&f) == 'n') {
                r = word(&f, "null", 4);
            } else {
                f.depth++;
                r = export_spec(&f);
                f.depth--;
                export_obj = 1;
            }
            break;
        case R_DELETE_MODE: r = str_val(&f, &dm, &n, &is_null); break;
        default: r = skip_value(&f); break;
        }
        if (r != 0)
            return NOPE;
    }
    if (r != 0 || peek(&f) != -1)
        return NOPE;    /* not one object, or something after it */
    const uint32_t required = 1u << R_SCHEMA | 1u << R_EVENT_ID | 1u << R_TYPE |
                              1u << R_OCCURRED_AT | 1u << R_PRODUCT;
    if ((ks.known & required) != required || schema != CS_EVENT_SCHEMA)
        return NOPE;
    ev->schema = CS_EVENT_SCHEMA;
    ev->type = cs_event_type_parse(type);
    if (ev->type == CS_EV_NONE || !cs_rfc3339_ok(ev->occurred_at))
        return NOPE;
    if (!ev->tenant)
        ev->tenant = CS_EVENT_DEFAULT_TENANT;
    else if (!*ev->tenant || strchr(ev->tenant, ':'))
        return NOPE;
    if ((ev->type == CS_EV_EXPORT_REQUESTED) != export_obj)
        return NOPE;
    ev->has_export = export_obj;
    if (ev->type == CS_EV_DELETED) {
        if (!sku_seen)
            return NOPE;
        if (!dm || strcmp(dm, "soft") == 0)
            ev->delete_mode = CS_DELETE_SOFT;
        else if (strcmp(dm, "permanent") == 0)
            ev->delete_mode = CS_DELETE_PERMANENT;
        else
            return NOPE;
    } else if (dm) {
        return NOPE;
    }
    return 0;
}
