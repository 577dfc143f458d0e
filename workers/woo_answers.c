/*
 * woo_answers: what a WooCommerce store's answers mean — the WordPress error
 * body and its classification, batch answers matched to their requests, SKU
 * lookups (live and trashed products, their images), the store's currency.
 * Declared in woo_rest.h with the rest of the WooCommerce REST client.
 */
#include "woo_rest.h"
#include "cs_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>


/* --------------------------------------------------------------- errors */

static void copy_json_str(char *dst, size_t size, json_t *v)
{
    if (json_is_string(v))
        cs_utf8_copy_trunc(dst, size, json_string_value(v), json_string_length(v));
    else if (size)
        dst[0] = '\0';
}

/* An integer member that WordPress may send as a number or a numeric string. */
static long json_long(json_t *v)
{
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_string(v)) {
        int64_t i;
        if (cs_parse_i64(json_string_value(v), INT64_MIN, INT64_MAX, &i) == 0)
            return (long)i;
    }
    return 0;
}

static void status_message(cs_woo_error *e)
{
    if (e->http_status <= 0)
        cs_strlcpy(e->message, "no HTTP answer", sizeof e->message);
    else
        snprintf(e->message, sizeof e->message, "HTTP %ld", e->http_status);
}

/* Fills e from a WP error object {"code","message","data":{...}}; returns 1
 * when obj is one (a string "code"). */
static int error_from_object(json_t *obj, cs_woo_error *e)
{
    json_t *code = json_object_get(obj, "code");
    if (!json_is_string(code))
        return 0;
    copy_json_str(e->code, sizeof e->code, code);
    copy_json_str(e->message, sizeof e->message, json_object_get(obj, "message"));
    json_t *data = json_object_get(obj, "data");
    if (json_is_object(data)) {
        long st = json_long(json_object_get(data, "status"));
        if (e->http_status <= 0 && st >= 100 && st <= 599)
            e->http_status = st;
        e->resource_id = json_long(json_object_get(data, "resource_id"));
    }
    if (!e->message[0])
        status_message(e);
    return 1;
}

void cs_woo_parse_error(const char *body, size_t len, long http_status, cs_woo_error *e)
{
    memset(e, 0, sizeof *e);
    e->http_status = http_status > 0 ? http_status : 0;
    json_t *root = NULL;
    if (body && len)
        root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    if (json_is_object(root) && error_from_object(root, e)) {
        json_decref(root);
        return;
    }
    status_message(e);
    e->not_wp = e->http_status > 0;
    if (!root)
        cs_append_snippet(e->message, sizeof e->message, body, len);
    json_decref(root);
}

static int code_is(const cs_woo_error *e, const char *code)
{
    return strcmp(e->code, code) == 0;
}

cs_class cs_woo_classify(const cs_woo_error *e)
{
    long st = e->http_status;
    if (e->code[0]) {
        if (strncmp(e->code, "woocommerce_rest_cannot_", 24) == 0)
            return st >= 500 ? CS_CLASS_TRANSIENT : CS_CLASS_AUTH;
        if (code_is(e, "woocommerce_rest_authentication_error") ||
            code_is(e, "woocommerce_rest_authentication_missing_parameter") ||
            code_is(e, "rest_no_route"))
            return CS_CLASS_AUTH;
        if (code_is(e, "internal_server_error"))
            return CS_CLASS_TRANSIENT;
        if (code_is(e, "woocommerce_rest_trash_not_supported") ||
            code_is(e, "woocommerce_rest_request_entity_too_large"))
            return CS_CLASS_BAD_ITEM;
    }
    if (st <= 0)
        return CS_CLASS_TRANSIENT;
    if (e->not_wp && st >= 400 && st < 500 && st != 408 && st != 413 && st != 429)
        return CS_CLASS_AUTH;      /* the store's setup answered, not WooCommerce */
    if (st == 429 || st == 503)
        return CS_CLASS_THROTTLE;
    if (st == 408 || st >= 500)
        return CS_CLASS_TRANSIENT;
    if (st == 401 || st == 403)
        return CS_CLASS_AUTH;
    if (st >= 400)
        return CS_CLASS_BAD_ITEM;
    if (st >= 300)
        return CS_CLASS_AUTH;
    if (st >= 200)
        return e->code[0] ? CS_CLASS_BAD_ITEM : CS_CLASS_OK;
    return CS_CLASS_TRANSIENT;
}

int cs_woo_delete_is_done(const cs_woo_error *e)
{
    if (e->http_status == 410)
        return 1;
    return e->http_status == 404 && (code_is(e, "woocommerce_rest_product_invalid_id") ||
                                     code_is(e, "woocommerce_rest_invalid_id"));
}

int cs_woo_delete_needs_force(const cs_woo_error *e)
{
    return code_is(e, "woocommerce_rest_trash_not_supported");
}

/* ---------------------------------------------------------------- batch */

static void parse_item(json_t *el, cs_woo_item_result *r)
{
    r->id = json_long(json_object_get(el, "id"));
    json_t *err = json_object_get(el, "error");
    r->ok = err == NULL;
    if (err) {
        if (!json_is_object(err) || !error_from_object(err, &r->err)) {
            copy_json_str(r->err.message, sizeof r->err.message, err);
            if (!r->err.message[0])
                cs_strlcpy(r->err.message, "item failed without an error message",
                           sizeof r->err.message);
        }
        if (r->err.http_status <= 0)
            r->err.http_status = 400;
    }
    copy_json_str(r->sku, sizeof r->sku, json_object_get(el, "sku"));
    json_t *ms = json_object_get(el, "manage_stock"), *qty = json_object_get(el, "stock_quantity");
    r->stock_managed = !ms ? -1 : json_is_true(ms) && json_is_number(qty);
    json_t *imgs = json_object_get(el, "images");
    size_t i;
    json_t *img;
    json_array_foreach(imgs, i, img) {
        if (r->n_images == CS_WOO_IMAGES_MAX)
            break;
        r->image_ids[r->n_images++] = json_long(json_object_get(img, "id"));
    }
}

static int parse_list(json_t *root, const char *name, size_t want, cs_woo_item_result **out,
                      size_t *n_out, char *errstr, size_t errstr_size)
{
    json_t *list = json_object_get(root, name);
    if (!list && want == 0)
        return 0;
    if (!json_is_array(list)) {
        cs_set_why(errstr, errstr_size, "batch answer has no \"%s\" list, but %zu item(s) "
                "were sent", name, want);
        return -1;
    }
    size_t n = json_array_size(list);
    if (n != want) {
        cs_set_why(errstr, errstr_size, "batch answer lists %zu \"%s\" result(s) for %zu sent: "
                "results cannot be matched by position", n, name, want);
        return -1;
    }
    if (n == 0)
        return 0;
    cs_woo_item_result *r = calloc(n, sizeof *r);
    if (!r) {
        cs_set_why(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *el = json_array_get(list, i);
        if (!json_is_object(el)) {
            free(r);
            cs_set_why(errstr, errstr_size, "batch answer \"%s\"[%zu] is not an object", name, i);
            return -1;
        }
        parse_item(el, &r[i]);
    }
    *out = r;
    *n_out = n;
    return 0;
}

int cs_woo_parse_batch(const char *body, size_t len, size_t want_create, size_t want_update,
                       size_t want_del, cs_woo_batch_reply *out, char *errstr,
                       size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    if (!json_is_object(root)) {
        cs_set_why(errstr, errstr_size, "batch answer is not a JSON object");
        json_decref(root);
        return -1;
    }
    if (json_is_string(json_object_get(root, "code"))) {
        cs_woo_error e = {0};
        error_from_object(root, &e);
        cs_set_why(errstr, errstr_size, "batch answer is an error: %s: %s", e.code, e.message);
        json_decref(root);
        return -1;
    }
    int rc = 0;
    if (parse_list(root, "create", want_create, &out->create, &out->n_create, errstr,
                   errstr_size) != 0 ||
        parse_list(root, "update", want_update, &out->update, &out->n_update, errstr,
                   errstr_size) != 0 ||
        parse_list(root, "delete", want_del, &out->del, &out->n_del, errstr, errstr_size) != 0) {
        cs_woo_batch_reply_free(out);
        rc = -1;
    }
    json_decref(root);
    return rc;
}

void cs_woo_batch_reply_free(cs_woo_batch_reply *r)
{
    if (!r)
        return;
    free(r->create);
    free(r->update);
    free(r->del);
    memset(r, 0, sizeof *r);
}

/* A serialized object: '{' ... '}' around optional whitespace. */
static int looks_like_object(const char *s)
{
    static const char ws[] = " \t\r\n";
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && strchr(ws, s[n - 1]))
        n--;
    return n > 0 && s[strspn(s, ws)] == '{' && s[n - 1] == '}';
}

static int append_objects(cs_buf *b, const char *name, const char *const *objs, size_t n,
                          int *first)
{
    if (n == 0)
        return 0;
    if (cs_buf_appends(b, *first ? "\"" : ",\"") != 0 || cs_buf_appends(b, name) != 0 ||
        cs_buf_appends(b, "\":[") != 0)
        return -1;
    *first = 0;
    for (size_t i = 0; i < n; i++) {
        if (!looks_like_object(objs[i]))
            return -1;
        if ((i && cs_buf_appendc(b, ',') != 0) || cs_buf_appends(b, objs[i]) != 0)
            return -1;
    }
    return cs_buf_appendc(b, ']');
}

int cs_woo_batch_body(cs_buf *out, const char *const *creates, size_t n_create,
                      const char *const *updates, size_t n_update,
                      const long *deletes, size_t n_delete)
{
    if (!out || (n_create && !creates) || (n_update && !updates) || (n_delete && !deletes))
        return -1;
    cs_buf b;
    int first = 1, rc = -1;
    cs_buf_init(&b, out->len < out->cap ? out->cap - out->len : 1);
    if (cs_buf_appendc(&b, '{') != 0 ||
        append_objects(&b, "create", creates, n_create, &first) != 0 ||
        append_objects(&b, "update", updates, n_update, &first) != 0)
        goto done;
    if (n_delete) {
        if (cs_buf_appends(&b, first ? "\"delete\":[" : ",\"delete\":[") != 0)
            goto done;
        for (size_t i = 0; i < n_delete; i++)
            if (deletes[i] <= 0 || cs_buf_appendf(&b, i ? ",%ld" : "%ld", deletes[i]) != 0)
                goto done;
        if (cs_buf_appendc(&b, ']') != 0)
            goto done;
    }
    if (cs_buf_appendc(&b, '}') != 0)
        goto done;
    rc = cs_buf_append(out, b.data, b.len);
done:
    cs_buf_free(&b);
    return rc;
}

/* ----------------------------------------------------------- SKU lookup */

long cs_woo_parse_sku_lookup(const char *body, size_t len, const char *sku, int *trashed)
{
    if (trashed)
        *trashed = 0;
    if (!body || !len || !sku)
        return -1;
    json_t *root = json_loadb(body, len, 0, NULL);
    if (!json_is_array(root)) {
        json_decref(root);
        return -1;
    }
    long live = 0, trash = 0, rc = 0;
    size_t i;
    json_t *el;
    json_array_foreach(root, i, el) {
        if (!json_is_object(el)) {
            rc = -1;
            break;
        }
        json_t *s = json_object_get(el, "sku");
        if (!json_is_string(s) || strcasecmp(json_string_value(s), sku) != 0)
            continue;
        const char *type = json_string_value(json_object_get(el, "type"));
        if (json_long(json_object_get(el, "parent_id")) > 0 ||
            (type && strcmp(type, "variation") == 0))
            continue;
        json_t *idv = json_object_get(el, "id");
        long id = json_is_integer(idv) ? (long)json_integer_value(idv) : 0;
        if (id <= 0) {
            rc = -1;
            break;
        }
        const char *status = json_string_value(json_object_get(el, "status"));
        long *slot = status && strcmp(status, "trash") == 0 ? &trash : &live;
        if (*slot == 0 || id < *slot)
            *slot = id;
    }
    json_decref(root);
    if (rc < 0)
        return -1;
    if (live)
        return live;
    if (trash && trashed)
        *trashed = 1;
    return trash;
}

int64_t cs_woo_pause_ms(cs_class cls, int64_t retry_after_ms, int64_t throttle_default_ms,
                        int64_t auth_pause_ms)
{
    if (cls == CS_CLASS_AUTH)
        return auth_pause_ms;
    if (retry_after_ms <= 0)
        return throttle_default_ms;
    return retry_after_ms > CS_CHANNEL_MAX_PAUSE_MS ? CS_CHANNEL_MAX_PAUSE_MS : retry_after_ms;
}

size_t cs_woo_parse_lookup_images(const char *body, size_t len, long id, long *ids,
                                  char (*files)[CS_WOO_FILE_MAX], size_t max)
{
    size_t n = 0, i, k;
    json_t *el, *img;
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_array_foreach(root, i, el) {
        if (json_long(json_object_get(el, "id")) != id)
            continue;
        json_array_foreach(json_object_get(el, "images"), k, img) {
            const char *src = json_string_value(json_object_get(img, "src"));
            long aid = json_long(json_object_get(img, "id"));
            if (n == max || aid <= 0 || !src)
                break;
            const char *slash = strrchr(src, '/');
            const char *file = slash ? slash + 1 : src;
            size_t fl = strcspn(file, "?#");
            if (fl >= CS_WOO_FILE_MAX)
                break;
            memcpy(files[n], file, fl);
            files[n][fl] = '\0';
            ids[n++] = aid;
        }
        break;
    }
    json_decref(root);
    return n;
}

int cs_woo_parse_currency(const char *body, size_t len, char out[4])
{
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(root, "code"));
    int rc = -1;
    if (c && strlen(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' &&
        c[2] >= 'A' && c[2] <= 'Z') {
        memcpy(out, c, 4);
        rc = 0;
    }
    json_decref(root);
    return rc;
}
