/*
 * cs_event_write: an event's canonical JSON (cs_event_serialize), written by
 * a streaming writer, no document; and the merge of an export with newer
 * data, which goes through it (cs_event_merge_export).
 */
#include "cs_event.h"

#include <stdint.h>
#include <string.h>

/* ---- serialization: a streaming writer, no DOM ---- */

typedef struct {
    cs_buf *b;
    int rc;
    int first;
} wctx;

static void w_raw(wctx *w, const char *s)
{
    if (!w->rc)
        w->rc = cs_buf_appends(w->b, s);
}

static void w_key(wctx *w, const char *k)
{
    if (!w->first)
        w_raw(w, ",");
    w->first = 0;
    if (!w->rc)
        w->rc = cs_buf_append_json_str(w->b, k, strlen(k));
    w_raw(w, ":");
}

static void w_str(wctx *w, const char *k, const char *v)
{
    if (!v)
        return;
    if (k)
        w_key(w, k);
    if (!w->rc)
        w->rc = cs_buf_append_json_str(w->b, v, strlen(v));
}

static void w_int(wctx *w, const char *k, int64_t v)
{
    w_key(w, k);
    if (!w->rc)
        w->rc = cs_buf_append_i64(w->b, (long long)v);
}

static void w_strs(wctx *w, const char *k, const char *const *v, size_t n)
{
    w_key(w, k);
    w_raw(w, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            w_raw(w, ",");
        w_str(w, NULL, v[i]);
    }
    w_raw(w, "]");
}

static void w_money(wctx *w, const char *k, const cs_money *m)
{
    if (!m->amount)
        return;
    w_key(w, k);
    w_raw(w, "{\"amount\":");
    w_str(w, NULL, m->amount);
    w_raw(w, ",\"currency\":");
    w_str(w, NULL, m->currency);
    w_raw(w, "}");
}

int cs_event_serialize(const cs_event *ev, cs_buf *out)
{
    const cs_product *p = &ev->product;
    wctx w = {out, 0, 1};
    w_raw(&w, "{");
    w_int(&w, "schema", ev->schema);
    w_str(&w, "event_id", ev->event_id);
    w_str(&w, "type", cs_event_type_name(ev->type));
    w_str(&w, "tenant", ev->tenant);
    w_str(&w, "occurred_at", ev->occurred_at);
    w_str(&w, "actor", ev->actor);
    if (ev->has_changed_fields)
        w_strs(&w, "changed_fields", ev->changed_fields, ev->n_changed_fields);
    if (ev->type == CS_EV_DELETED)
        w_str(&w, "delete_mode", ev->delete_mode == CS_DELETE_PERMANENT ? "permanent" : "soft");
    if (ev->has_export) {
        w_key(&w, "export");
        w_raw(&w, "{\"connections\":[");
        for (size_t i = 0; i < ev->export.n_connections; i++) {
            if (i)
                w_raw(&w, ",");
            if (!w.rc)
                w.rc = cs_buf_append_i64(out, (long long)ev->export.connections[i]);
        }
        w_raw(&w, "]");
        w.first = 0;
        if (ev->export.fields)
            w_strs(&w, "fields", ev->export.fields, ev->export.n_fields);
        w_key(&w, "partial_update");
        w_raw(&w, ev->export.partial_update ? "true}" : "false}");
    }
    w_key(&w, "product");
    w_raw(&w, "{");
    w.first = 1;
    w_str(&w, "id", p->id);
    w_int(&w, "version", p->version);
    if (p->sku || ev->type == CS_EV_DELETED) {
        if (p->sku)
            w_str(&w, "sku", p->sku);
        else {
            w_key(&w, "sku");
            w_raw(&w, "null");
        }
    }
    w_str(&w, "name", p->name);
    w_str(&w, "description", p->description);
    w_money(&w, "price", &p->price);
    w_money(&w, "sale_price", &p->sale_price);
    if (p->has_stock)
        w_int(&w, "stock_quantity", p->stock_quantity);
    w_key(&w, "is_active");
    w_raw(&w, p->is_active ? "true" : "false");
    w_str(&w, "brand", p->brand);
    w_str(&w, "condition", p->condition);
    w_str(&w, "link", p->link);
    if (p->images)
        w_strs(&w, "images", p->images, p->n_images);
    if (p->categories)
        w_strs(&w, "categories", p->categories, p->n_categories);
    if (p->attributes) {
        w_key(&w, "attributes");
        w_raw(&w, "[");
        for (size_t i = 0; i < p->n_attributes; i++) {
            w_raw(&w, i ? ",{\"name\":" : "{\"name\":");
            w_str(&w, NULL, p->attributes[i].name);
            w_raw(&w, ",\"value\":");
            if (p->attributes[i].value)
                w_str(&w, NULL, p->attributes[i].value);
            else
                w_raw(&w, "null");
            w_raw(&w, "}");
        }
        w_raw(&w, "]");
    }
    w_raw(&w, "}}");
    return w.rc;
}

cs_event *cs_event_merge_export(const cs_event *newer, const cs_event *export_ev,
                                const cs_event_limits *lim)
{
    cs_event tmp = *newer, *out = NULL;
    cs_buf b;
    char err[256];
    tmp.type = CS_EV_EXPORT_REQUESTED;
    tmp.has_export = 1;
    tmp.export = export_ev->export;
    tmp.delete_mode = CS_DELETE_NONE;
    cs_buf_init(&b, lim && lim->max_bytes ? lim->max_bytes + 4096 : 0);
    if (cs_event_serialize(&tmp, &b) == 0)
        cs_event_parse(b.data, b.len, NULL, &out, err, sizeof err);
    cs_buf_free(&b);
    return out;
}
