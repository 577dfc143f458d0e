/*
 * event_compare.h: field-by-field comparison of two parsed events, for the
 * tests and the fuzzer that hold the fast decoder against the reference
 * parser (common/cs_event_priv.h).  Strings compare by content, arrays by
 * length and content, and "absent" (NULL) differs from "empty".
 */
#ifndef EVENT_COMPARE_H
#define EVENT_COMPARE_H

#include <stdio.h>
#include <string.h>

#include "cs_event.h"

static int ec_str(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int ec_strs(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    if (na != nb || (a == NULL) != (b == NULL))
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!ec_str(a[i], b[i]))
            return 0;
    return 1;
}

static int ec_money(const cs_money *a, const cs_money *b)
{
    return ec_str(a->amount, b->amount) && (!a->amount || strcmp(a->currency, b->currency) == 0);
}

/* 1 when a and b hold the same event; otherwise 0 and the first field that
 * differs in why. */
static int event_compare(const cs_event *a, const cs_event *b, char *why, size_t why_size)
{
    const cs_product *p = &a->product, *q = &b->product;
#define EC(cond, name) do { if (!(cond)) { snprintf(why, why_size, "%s", name); return 0; } } while (0)
    EC(a->schema == b->schema, "schema");
    EC(ec_str(a->event_id, b->event_id), "event_id");
    EC(a->type == b->type, "type");
    EC(ec_str(a->tenant, b->tenant), "tenant");
    EC(ec_str(a->occurred_at, b->occurred_at), "occurred_at");
    EC(ec_str(a->actor, b->actor), "actor");
    EC(a->has_changed_fields == b->has_changed_fields, "has_changed_fields");
    EC(ec_strs(a->changed_fields, a->n_changed_fields, b->changed_fields,
               b->n_changed_fields), "changed_fields");
    EC(a->delete_mode == b->delete_mode, "delete_mode");
    EC(a->has_export == b->has_export, "has_export");
    EC(a->export.n_connections == b->export.n_connections &&
       (a->export.n_connections == 0 ||
        memcmp(a->export.connections, b->export.connections,
               a->export.n_connections * sizeof(int64_t)) == 0), "export.connections");
    EC(ec_strs(a->export.fields, a->export.n_fields, b->export.fields, b->export.n_fields),
       "export.fields");
    EC(a->export.partial_update == b->export.partial_update, "export.partial_update");
    EC(ec_str(p->id, q->id), "product.id");
    EC(p->version == q->version, "product.version");
    EC(ec_str(p->sku, q->sku), "product.sku");
    EC(ec_str(p->name, q->name), "product.name");
    EC(ec_str(p->description, q->description), "product.description");
    EC(ec_money(&p->price, &q->price), "product.price");
    EC(ec_money(&p->sale_price, &q->sale_price), "product.sale_price");
    EC(p->has_stock == q->has_stock && (!p->has_stock || p->stock_quantity == q->stock_quantity),
       "product.stock_quantity");
    EC(p->is_active == q->is_active, "product.is_active");
    EC(ec_str(p->brand, q->brand), "product.brand");
    EC(ec_str(p->condition, q->condition), "product.condition");
    EC(ec_str(p->link, q->link), "product.link");
    EC(ec_strs(p->images, p->n_images, q->images, q->n_images), "product.images");
    EC(ec_strs(p->categories, p->n_categories, q->categories, q->n_categories),
       "product.categories");
    EC(p->n_attributes == q->n_attributes && (p->attributes == NULL) == (q->attributes == NULL),
       "product.attributes");
    for (size_t i = 0; i < p->n_attributes; i++)
        EC(ec_str(p->attributes[i].name, q->attributes[i].name) &&
           ec_str(p->attributes[i].value, q->attributes[i].value), "product.attributes[]");
#undef EC
    return 1;
}

#endif
