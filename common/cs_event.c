#include "cs_event_priv.h"
#include "cs_util.h"

#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define EV_MAX_ID       255
#define EV_MAX_TENANT   64
#define EV_MAX_EVENT_ID 128

/* ---- arena: every string of one event lives in a few large blocks ---- */

struct cs_event_arena {
    struct cs_event_arena *next;
    size_t used, size;
    char data[];
};

void *cs_event_arena_alloc(cs_event_arena **head, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    cs_event_arena *a = *head;
    if (!a || a->size - a->used < n) {
        size_t sz = n > 4000 ? n : 4000;
        cs_event_arena *b = malloc(sizeof *b + sz);
        if (!b)
            return NULL;
        b->used = 0;
        b->size = sz;
        if (a && n > 4000) {
            /* Keep filling the current block; chain the big one behind it. */
            b->next = a->next;
            a->next = b;
        } else {
            b->next = a;
            *head = b;
        }
        a = b;
    }
    void *p = a->data + a->used;
    a->used += n;
    return p;
}

/* The first block, sized for an event of len bytes: decoded strings take no
 * more room than their JSON text, so a typical event fits one block of
 * about its own size instead of a fixed 4000 bytes. */
void cs_event_arena_reserve(cs_event_arena **head, size_t len)
{
    size_t sz = ((len + 512) + 7) & ~(size_t)7;
    if (*head || sz >= 4000)
        return;         /* arena_alloc's own blocks are the same size */
    cs_event_arena *b = malloc(sizeof *b + sz);
    if (!b)
        return;         /* arena_alloc reports the shortage */
    b->used = 0;
    b->size = sz;
    b->next = NULL;
    *head = b;
}

static void arena_free(cs_event_arena *a)
{
    while (a) {
        cs_event_arena *n = a->next;
        free(a);
        a = n;
    }
}

/* ---- parse context ---- */

typedef struct {
    cs_event *ev;
    char *err;
    size_t err_size;
    int nomem;
} pctx;

static int fail(pctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(pctx *c, const char *field, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->err_size, "%s: %s", field, msg);
    return -1;
}

/* "<base>[<i>]<suffix>" ([<i>] left out when i is NO_INDEX), cut to size
 * like snprintf.  Built for fields of every event, not only on errors, so
 * it stays clear of printf. */
#define NO_INDEX ((size_t)-1)

static size_t path_put(char *out, size_t size, size_t k, const char *s, size_t n)
{
    if (k + 1 >= size)
        return k;
    if (n > size - 1 - k)
        n = size - 1 - k;
    memcpy(out + k, s, n);
    return k + n;
}

static const char *field_path(char *out, size_t size, const char *base, size_t i,
                              const char *suffix)
{
    size_t k = path_put(out, size, 0, base, strlen(base));
    if (i != NO_INDEX) {
        char num[24];
        size_t n = sizeof num;
        num[--n] = ']';
        do {
            num[--n] = (char)('0' + i % 10);
            i /= 10;
        } while (i);
        num[--n] = '[';
        k = path_put(out, size, k, num + n, sizeof num - n);
    }
    if (suffix)
        k = path_put(out, size, k, suffix, strlen(suffix));
    out[k] = '\0';
    return out;
}

static const char *jtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static const char *dupn(pctx *c, const char *s, size_t n)
{
    char *p = cs_event_arena_alloc(&c->ev->arena, n + 1);
    if (!p) {
        c->nomem = 1;
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

enum { OPT = 0, REQ = 1 };

/* A string field: absent or null leaves *out NULL unless required. */
static int get_str(pctx *c, json_t *obj, const char *key, const char *path,
                   int required, size_t maxlen, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return fail(c, path, v ? "must not be null" : "is missing");
        return 0;
    }
    if (!json_is_string(v))
        return fail(c, path, required ? "must be a string, got %s"
                                      : "must be a string or null, got %s", jtype(v));
    size_t n = json_string_length(v);
    if (required && n == 0)
        return fail(c, path, "must not be empty");
    if (maxlen && n > maxlen)
        return fail(c, path, "is %zu bytes, longer than %zu", n, maxlen);
    if (memchr(json_string_value(v), '\0', n))
        return fail(c, path, "must not contain NUL characters");
    *out = dupn(c, json_string_value(v), n);
    return *out ? 0 : -1;
}

static int get_str_array(pctx *c, json_t *obj, const char *key,
                         const char *path, const char ***out, size_t *n_out,
                         int *present)
{
    json_t *v = json_object_get(obj, key);
    char sub[96];
    *out = NULL;
    *n_out = 0;
    if (present)
        *present = v && !json_is_null(v);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return fail(c, path, "must be an array of strings, got %s", jtype(v));
    size_t n = json_array_size(v);
    const char **arr = cs_event_arena_alloc(&c->ev->arena, (n ? n : 1) * sizeof *arr);
    if (!arr) {
        c->nomem = 1;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        field_path(sub, sizeof sub, path, i, NULL);
        if (!json_is_string(e))
            return fail(c, sub, "must be a string, got %s", jtype(e));
        if (json_string_length(e) == 0)
            return fail(c, sub, "must not be empty");
        if (!(arr[i] = dupn(c, json_string_value(e), json_string_length(e))))
            return -1;
    }
    *out = arr;
    *n_out = n;
    return 0;
}

static int get_money(pctx *c, json_t *obj, const char *key, const char *path,
                     cs_money *m)
{
    char sub[64], why[120];
    json_t *v = json_object_get(obj, key);
    memset(m, 0, sizeof *m);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return fail(c, path, "must be an object {\"amount\":\"12.34\",\"currency\":\"USD\"}, got %s",
                    jtype(v));
    json_t *a = json_object_get(v, "amount");
    field_path(sub, sizeof sub, path, NO_INDEX, ".amount");
    if (!a)
        return fail(c, sub, "is missing");
    if (!json_is_string(a))
        return fail(c, sub, "must be a decimal string such as \"189.99\", got %s "
                    "(money is never sent as a JSON number)", jtype(a));
    if (cs_decimal_check(json_string_value(a), why, sizeof why) != 0)
        return fail(c, sub, "%s", why);
    json_t *cur = json_object_get(v, "currency");
    field_path(sub, sizeof sub, path, NO_INDEX, ".currency");
    if (!cur)
        return fail(c, sub, "is missing");
    if (!json_is_string(cur))
        return fail(c, sub, "must be a string, got %s", jtype(cur));
    if (!cs_currency_code_ok(json_string_value(cur)))
        return fail(c, sub, "must be a three-letter upper-case ISO 4217 code, got \"%.20s\"",
                    json_string_value(cur));
    memcpy(m->currency, json_string_value(cur), 4);
    m->amount = dupn(c, json_string_value(a), json_string_length(a));
    return m->amount ? 0 : -1;
}

static int get_int(pctx *c, json_t *obj, const char *key, const char *path,
                   int required, int64_t *out, int *present)
{
    json_t *v = json_object_get(obj, key);
    if (present)
        *present = 0;
    if (!v || json_is_null(v)) {
        if (required)
            return fail(c, path, v ? "must not be null" : "is missing");
        return 0;
    }
    if (!json_is_integer(v))
        return fail(c, path, "must be an integer, got %s", jtype(v));
    *out = json_integer_value(v);
    if (present)
        *present = 1;
    return 0;
}

static int parse_attributes(pctx *c, json_t *p, cs_product *pr)
{
    json_t *v = json_object_get(p, "attributes");
    char sub[96];
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return fail(c, "product.attributes", "must be an array of {\"name\",\"value\"}, got %s",
                    jtype(v));
    size_t n = json_array_size(v);
    pr->attributes = cs_event_arena_alloc(&c->ev->arena, (n ? n : 1) * sizeof(cs_attr));
    if (!pr->attributes) {
        c->nomem = 1;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        field_path(sub, sizeof sub, "product.attributes", i, NULL);
        if (!json_is_object(e))
            return fail(c, sub, "must be an object, got %s", jtype(e));
        field_path(sub, sizeof sub, "product.attributes", i, ".name");
        if (get_str(c, e, "name", sub, REQ, 255, &pr->attributes[i].name) != 0)
            return -1;
        field_path(sub, sizeof sub, "product.attributes", i, ".value");
        if (get_str(c, e, "value", sub, OPT, 0, &pr->attributes[i].value) != 0)
            return -1;
    }
    pr->n_attributes = n;
    return 0;
}

static int parse_product(pctx *c, json_t *root)
{
    cs_event *ev = c->ev;
    cs_product *pr = &ev->product;
    json_t *p = json_object_get(root, "product");
    if (!p)
        return fail(c, "product", "is missing");
    if (!json_is_object(p))
        return fail(c, "product", "must be an object, got %s", jtype(p));
    if (get_str(c, p, "id", "product.id", REQ, EV_MAX_ID, &pr->id) != 0 ||
        get_int(c, p, "version", "product.version", REQ, &pr->version, NULL) != 0)
        return -1;
    if (pr->version < 0)
        return fail(c, "product.version", "must not be negative");
    if (pr->version > CS_EVENT_MAX_VERSION)
        return fail(c, "product.version", "is %lld, above the largest version %lld (2^53 - 1)",
                    (long long)pr->version, (long long)CS_EVENT_MAX_VERSION);
    if (ev->type == CS_EV_DELETED && !json_object_get(p, "sku"))
        return fail(c, "product.sku", "is missing (product.deleted needs id, version and sku; "
                    "sku may be null)");
    if (get_str(c, p, "sku", "product.sku", OPT, EV_MAX_ID, &pr->sku) != 0 ||
        get_str(c, p, "name", "product.name", OPT, 0, &pr->name) != 0 ||
        get_str(c, p, "description", "product.description", OPT, 0, &pr->description) != 0 ||
        get_str(c, p, "brand", "product.brand", OPT, 0, &pr->brand) != 0 ||
        get_str(c, p, "condition", "product.condition", OPT, 64, &pr->condition) != 0 ||
        get_str(c, p, "link", "product.link", OPT, 0, &pr->link) != 0 ||
        get_money(c, p, "price", "product.price", &pr->price) != 0 ||
        get_money(c, p, "sale_price", "product.sale_price", &pr->sale_price) != 0 ||
        get_int(c, p, "stock_quantity", "product.stock_quantity", OPT,
                &pr->stock_quantity, &pr->has_stock) != 0 ||
        get_str_array(c, p, "images", "product.images", &pr->images, &pr->n_images,
                      NULL) != 0 ||
        get_str_array(c, p, "categories", "product.categories", &pr->categories,
                      &pr->n_categories, NULL) != 0 ||
        parse_attributes(c, p, pr) != 0)
        return -1;
    json_t *act = json_object_get(p, "is_active");
    pr->is_active = 1;
    if (act && !json_is_null(act)) {
        if (!json_is_boolean(act))
            return fail(c, "product.is_active", "must be a boolean, got %s", jtype(act));
        pr->is_active = json_is_true(act);
    }
    return 0;
}

static int parse_export(pctx *c, json_t *root)
{
    cs_event *ev = c->ev;
    json_t *x = json_object_get(root, "export");
    char sub[64];
    if (ev->type != CS_EV_EXPORT_REQUESTED) {
        if (x && !json_is_null(x))
            return fail(c, "export", "is only allowed on product.export_requested");
        return 0;
    }
    if (!x)
        return fail(c, "export", "is missing (product.export_requested names the connections)");
    if (!json_is_object(x))
        return fail(c, "export", "must be an object, got %s", jtype(x));
    json_t *conns = json_object_get(x, "connections");
    if (!conns)
        return fail(c, "export.connections", "is missing");
    if (!json_is_array(conns))
        return fail(c, "export.connections", "must be an array of integers, got %s",
                    jtype(conns));
    size_t n = json_array_size(conns);
    if (n == 0)
        return fail(c, "export.connections", "must name at least one connection");
    ev->export.connections = cs_event_arena_alloc(&ev->arena, n * sizeof(int64_t));
    if (!ev->export.connections) {
        c->nomem = 1;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(conns, i);
        field_path(sub, sizeof sub, "export.connections", i, NULL);
        if (!json_is_integer(e))
            return fail(c, sub, "must be an integer, got %s", jtype(e));
        if (json_integer_value(e) < 1)
            return fail(c, sub, "must be a positive connection id");
        ev->export.connections[i] = json_integer_value(e);
    }
    ev->export.n_connections = n;
    if (get_str_array(c, x, "fields", "export.fields", &ev->export.fields,
                      &ev->export.n_fields, NULL) != 0)
        return -1;
    json_t *pu = json_object_get(x, "partial_update");
    if (pu && !json_is_null(pu)) {
        if (!json_is_boolean(pu))
            return fail(c, "export.partial_update", "must be a boolean, got %s", jtype(pu));
        ev->export.partial_update = json_is_true(pu);
    }
    ev->has_export = 1;
    return 0;
}

static int validate_root(pctx *c, json_t *root)
{
    cs_event *ev = c->ev;
    const char *s;

    if (!json_is_object(root))
        return fail(c, "event", "must be a JSON object, got %s", jtype(root));

    json_t *schema = json_object_get(root, "schema");
    if (!schema)
        return fail(c, "schema", "is missing");
    if (!json_is_integer(schema))
        return fail(c, "schema", "must be an integer, got %s", jtype(schema));
    if (json_integer_value(schema) != CS_EVENT_SCHEMA)
        return fail(c, "schema", "unsupported version %lld (this build reads 1)",
                    (long long)json_integer_value(schema));
    ev->schema = CS_EVENT_SCHEMA;

    if (get_str(c, root, "event_id", "event_id", REQ, EV_MAX_EVENT_ID, &ev->event_id) != 0 ||
        get_str(c, root, "type", "type", REQ, 64, &s) != 0)
        return -1;
    ev->type = cs_event_type_parse(s);
    if (ev->type == CS_EV_NONE)
        return fail(c, "type", "unknown event type \"%.64s\"", s);

    if (get_str(c, root, "tenant", "tenant", OPT, EV_MAX_TENANT, &ev->tenant) != 0)
        return -1;
    if (!ev->tenant)
        ev->tenant = CS_EVENT_DEFAULT_TENANT;
    else if (!*ev->tenant)
        return fail(c, "tenant", "must not be empty (omit it for \"default\")");
    else if (strchr(ev->tenant, ':'))
        return fail(c, "tenant", "must not contain ':' (it separates tenant and product id in the key)");

    if (get_str(c, root, "occurred_at", "occurred_at", REQ, 64, &ev->occurred_at) != 0)
        return -1;
    if (!cs_rfc3339_ok(ev->occurred_at))
        return fail(c, "occurred_at", "is not an RFC 3339 date-time (\"%.40s\")",
                    ev->occurred_at);

    if (get_str(c, root, "actor", "actor", OPT, 255, &ev->actor) != 0 ||
        get_str_array(c, root, "changed_fields", "changed_fields", &ev->changed_fields,
                      &ev->n_changed_fields, &ev->has_changed_fields) != 0 ||
        parse_product(c, root) != 0 || parse_export(c, root) != 0)
        return -1;

    json_t *dm = json_object_get(root, "delete_mode");
    if (ev->type == CS_EV_DELETED) {
        ev->delete_mode = CS_DELETE_SOFT;
        if (dm && !json_is_null(dm)) {
            if (!json_is_string(dm))
                return fail(c, "delete_mode", "must be a string, got %s", jtype(dm));
            if (strcmp(json_string_value(dm), "soft") == 0)
                ev->delete_mode = CS_DELETE_SOFT;
            else if (strcmp(json_string_value(dm), "permanent") == 0)
                ev->delete_mode = CS_DELETE_PERMANENT;
            else
                return fail(c, "delete_mode", "must be \"soft\" or \"permanent\", got \"%.40s\"",
                            json_string_value(dm));
        }
    } else if (dm && !json_is_null(dm)) {
        return fail(c, "delete_mode", "is only allowed on product.deleted");
    }
    return 0;
}

/* Empty or over the cap: refused before any parsing. */
static cs_event_err size_check(const char *buf, size_t len, const cs_event_limits *lim,
                               char *errstr, size_t errstr_size)
{
    if (!buf || len == 0) {
        snprintf(errstr, errstr_size, "event: payload is empty (a null or tombstone message)");
        return CS_EVENT_EJSON;
    }
    size_t max = lim && lim->max_bytes ? lim->max_bytes : CS_EVENT_DEFAULT_MAX;
    if (len > max) {
        snprintf(errstr, errstr_size, "event: payload is %zu bytes, over the %zu-byte cap",
                 len, max);
        return CS_EVENT_ETOOBIG;
    }
    return CS_EVENT_OK;
}

static cs_event_err precheck(const char *buf, size_t len, const cs_event_limits *lim,
                             char *errstr, size_t errstr_size)
{
    cs_event_err e = size_check(buf, len, lim, errstr, errstr_size);
    if (e != CS_EVENT_OK)
        return e;
    long bad = cs_utf8_invalid_at(buf, len);
    if (bad >= 0) {
        snprintf(errstr, errstr_size, "event: invalid UTF-8 at byte %ld", bad);
        return CS_EVENT_EUTF8;
    }
    return CS_EVENT_OK;
}

static cs_event_err load_json(const char *buf, size_t len, json_t **root,
                              char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root) {
        snprintf(errstr, errstr_size, "event: malformed JSON at line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return CS_EVENT_EJSON;
    }
    return CS_EVENT_OK;
}

static cs_event_err finish(json_t *root, size_t len, cs_event **out, char *errstr,
                           size_t errstr_size)
{
    cs_event *ev = calloc(1, sizeof *ev);
    if (!ev) {
        json_decref(root);
        snprintf(errstr, errstr_size, "event: out of memory");
        return CS_EVENT_ENOMEM;
    }
    cs_event_arena_reserve(&ev->arena, len);
    pctx c = {ev, errstr, errstr_size, 0};
    int rc = validate_root(&c, root);
    json_decref(root);
    if (rc != 0 || c.nomem) {
        cs_event_destroy(ev);
        if (c.nomem) {
            snprintf(errstr, errstr_size, "event: out of memory");
            return CS_EVENT_ENOMEM;
        }
        return CS_EVENT_EINVALID;
    }
    *out = ev;
    return CS_EVENT_OK;
}

cs_event_err cs_event_parse(const char *buf, size_t len, const cs_event_limits *lim,
                            cs_event **out, char *errstr, size_t errstr_size)
{
    return cs_event_parse_input(buf, len, lim, NULL, out, errstr, errstr_size);
}

static cs_event_err parse_dom(const char *buf, size_t len, const cs_event_template *tpl,
                              cs_event **out, char *errstr, size_t errstr_size);

cs_event_err cs_event_parse_reference(const char *buf, size_t len,
                                      const cs_event_limits *lim, cs_event **out,
                                      char *errstr, size_t errstr_size)
{
    cs_event_err e;
    *out = NULL;
    if ((e = precheck(buf, len, lim, errstr, errstr_size)) != CS_EVENT_OK)
        return e;
    return parse_dom(buf, len, NULL, out, errstr, errstr_size);
}

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *wrap_snapshot(json_t *product, const cs_event_template *tpl)
{
    char id[37], ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + k, sizeof ts - k, ".%03ldZ", now.tv_nsec / 1000000L);
    cs_event_new_id(id);

    json_t *ev = json_object();
    json_object_set_new(ev, "schema", json_integer(CS_EVENT_SCHEMA));
    json_object_set_new(ev, "event_id", json_string(id));
    json_object_set_new(ev, "type", json_string(cs_event_type_name(tpl->type)));
    json_object_set_new(ev, "tenant", json_string(tpl->tenant ? tpl->tenant
                                                              : CS_EVENT_DEFAULT_TENANT));
    json_object_set_new(ev, "occurred_at", json_string(ts));
    json_object_set(ev, "product", product);
    if (tpl->actor)
        json_object_set_new(ev, "actor", json_string(tpl->actor));
    if (tpl->n_changed_fields)
        json_object_set_new(ev, "changed_fields",
                            str_array(tpl->changed_fields, tpl->n_changed_fields));
    if (tpl->type == CS_EV_DELETED)
        json_object_set_new(ev, "delete_mode", json_string(
            tpl->delete_mode == CS_DELETE_PERMANENT ? "permanent" : "soft"));
    if (tpl->type == CS_EV_EXPORT_REQUESTED) {
        json_t *x = json_object(), *c = json_array();
        for (size_t i = 0; i < tpl->n_connections; i++)
            json_array_append_new(c, json_integer(tpl->connections[i]));
        json_object_set_new(x, "connections", c);
        if (tpl->n_fields)
            json_object_set_new(x, "fields", str_array(tpl->fields, tpl->n_fields));
        json_object_set_new(x, "partial_update", json_boolean(tpl->partial_update));
        json_object_set_new(ev, "export", x);
    }
    return ev;
}

cs_event_err cs_event_parse_input(const char *buf, size_t len, const cs_event_limits *lim,
                                  const cs_event_template *tpl, cs_event **out,
                                  char *errstr, size_t errstr_size)
{
    cs_event_err e;
    *out = NULL;
    if ((e = size_check(buf, len, lim, errstr, errstr_size)) != CS_EVENT_OK)
        return e;
    /* The fast decoder takes the events it is sure of (checking their UTF-8
     * on the way); the reference parser reads everything else (snapshots,
     * rejections) from the same bytes, after the UTF-8 check. */
    cs_event *ev = calloc(1, sizeof *ev);
    if (ev) {
        cs_event_arena_reserve(&ev->arena, len);
        if (cs_event_decode_fast(buf, len, ev) == 0) {
            *out = ev;
            return CS_EVENT_OK;
        }
        cs_event_destroy(ev);
    }
    if ((e = precheck(buf, len, lim, errstr, errstr_size)) != CS_EVENT_OK)
        return e;
    return parse_dom(buf, len, tpl, out, errstr, errstr_size);
}

static cs_event_err parse_dom(const char *buf, size_t len, const cs_event_template *tpl,
                              cs_event **out, char *errstr, size_t errstr_size)
{
    json_t *root;
    cs_event_err e;
    if ((e = load_json(buf, len, &root, errstr, errstr_size)) != CS_EVENT_OK)
        return e;
    if (json_is_object(root) && !json_object_get(root, "schema") && tpl) {
        if (tpl->type == CS_EV_NONE) {
            json_decref(root);
            snprintf(errstr, errstr_size,
                     "type: input is a product snapshot (no \"schema\"), so the event type "
                     "must be given (--type)");
            return CS_EVENT_EINVALID;
        }
        json_t *ev = wrap_snapshot(root, tpl);
        json_decref(root);
        if (!ev) {
            snprintf(errstr, errstr_size, "event: out of memory");
            return CS_EVENT_ENOMEM;
        }
        root = ev;
    }
    /* A wrapped snapshot gains the envelope: room for it in the first block. */
    return finish(root, len + (tpl ? 512 : 0), out, errstr, errstr_size);
}

size_t cs_event_key(const cs_event *ev, char *key, size_t key_size)
{
    int n = snprintf(key, key_size, "%s:%s", ev->tenant, ev->product.id);
    if (n < 0)
        return 0;
    return (size_t)n < key_size ? (size_t)n : key_size - 1;
}

static const char *type_names[] = {
    NULL, "product.created", "product.updated", "product.attributes_updated",
    "product.assets_updated", "product.deleted", "product.export_requested"
};

const char *cs_event_type_name(cs_event_type t)
{
    return (t > CS_EV_NONE && t <= CS_EV_EXPORT_REQUESTED) ? type_names[t] : "unknown";
}

cs_event_type cs_event_type_parse(const char *s)
{
    for (int t = CS_EV_CREATED; t <= CS_EV_EXPORT_REQUESTED; t++)
        if (s && strcmp(s, type_names[t]) == 0)
            return (cs_event_type)t;
    return CS_EV_NONE;
}

const char *cs_event_err_name(cs_event_err e)
{
    switch (e) {
    case CS_EVENT_OK: return "ok";
    case CS_EVENT_ETOOBIG: return "too_big";
    case CS_EVENT_EUTF8: return "invalid_utf8";
    case CS_EVENT_EJSON: return "malformed_json";
    case CS_EVENT_EINVALID: return "invalid";
    case CS_EVENT_ENOMEM: return "no_memory";
    }
    return "unknown";
}

/* Holders may be in different threads (the worker's connection lanes):
 * the count is atomic, and the last holder frees the event. */
cs_event *cs_event_share(cs_event *ev)
{
    __atomic_add_fetch(&ev->shares, 1, __ATOMIC_RELAXED);
    return ev;
}

void cs_event_destroy(cs_event *ev)
{
    if (!ev)
        return;
    if (__atomic_fetch_sub(&ev->shares, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    arena_free(ev->arena);
    free(ev);
}

void cs_event_new_id(char out[37])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof r) {
        /* getrandom is always there on Linux 3.17+; this keeps ids unique
         * enough on the odd failure. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)((ts.tv_nsec >> (i % 8)) ^ (getpid() >> (i % 4)) ^ (i * 31));
    }
    r[6] = (unsigned char)((r[6] & 0x0F) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
             r[12], r[13], r[14], r[15]);
}
