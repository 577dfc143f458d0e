/*
 * woo_map: turns a product event into a WooCommerce REST v3 product object
 * (the store's product schema as the fake enforces it: tests/fakes/README.md),
 * for POST products, PUT products/{id} or one item of products/batch.
 *
 * What is sent follows the link's export field list (the seed's
 * fieldsToExport) and, for partial updates, the event's changed_fields:
 *
 *   field list name    product object members
 *   name               name (left out when the product has none)
 *   sku                sku (always sent on create; never sent empty)
 *   price              regular_price, sale_price (strings, "" clears)
 *   description        description (HTML as is; "" when the product has none)
 *   stock              manage_stock, stock_quantity, stock_status
 *   status             status: "publish" when active, else "draft"
 *   images             images: [{"id":N}] when the src was uploaded before,
 *                      else [{"src":URL}]
 *   attributes         attributes, with every attribute of the product
 *   short_description  nothing: the event contract has no short description
 *   categories         nothing: WooCommerce takes category ids only
 *   anything else      an attribute name (any case): attributes
 *
 * The event's field names are understood as aliases in both lists
 * (sale_price and regular_price = price, stock_quantity = stock, is_active =
 * status), so they never name an attribute by accident.  Names are matched
 * case-insensitively.  An empty field list exports every standard field and
 * every attribute.
 *
 * WooCommerce replaces list members (images, attributes) whole, so they are
 * always sent complete.  Members are written in a fixed order, so one
 * product always gives the same bytes.
 *
 * Whether a product is pushed at all (links, deletes) is the caller's
 * decision; this module only builds objects.
 *
 * Thread safety: no global state; every function is reentrant.
 * Ownership: the event, options and their strings stay the caller's; the
 * object is appended to the caller's cs_buf.  On failure or EMPTY nothing is
 * appended.
 */
#ifndef CS_WOO_MAP_H
#define CS_WOO_MAP_H

#include <stddef.h>

#include "cs_buf.h"
#include "cs_event.h"

#define CS_WOO_SRC_MAX 1024   /* bytes of an image URL, NUL included; longer ones are skipped */

typedef struct cs_woo_image_ids {   /* images already uploaded to this store: src URL -> attachment id */
    const char *const *src;
    const long *id;
    size_t n;
} cs_woo_image_ids;

typedef struct cs_woo_map_opts {
    /* The link's export field list (see the table above); NULL/0 = all. */
    const char *const *fields;
    size_t n_fields;
    /* partial_update: an update (remote_id > 0) sends only the fields of
     * changed_fields ∩ fields.  Changed names: name, sku, price, sale_price
     * (both send both price members), description, stock_quantity, is_active,
     * images, and attribute names (any exported attribute changed -> the
     * whole exported attributes list; "attributes" means any of them); the
     * field list names (stock, status...) are understood too.  An event
     * without changed_fields, and every create, sends all fields. */
    int partial;
    /* Joined to media paths (images that are not absolute http(s) URLs)
     * with exactly one slash; NULL or "" = such images are skipped. */
    const char *media_base_url;
    /* Reuse attachment ids instead of re-uploading the same src; may be NULL. */
    const cs_woo_image_ids *images;
    /* The store's currency (GET data/currencies/current); a price or sale
     * price in another currency fails the product instead of being written
     * as if it were the store's.  NULL = not checked. */
    const char *currency;
    /* The remote product is in the store's trash: status is sent (publish or
     * draft) whatever the field list, which restores it. */
    int restore;
} cs_woo_map_opts;

typedef enum { CS_WOO_MAP_OK = 0, CS_WOO_MAP_EMPTY, CS_WOO_MAP_FAIL } cs_woo_map_result;

/*
 * Appends one product object: for a create when remote_id <= 0 (no id), for
 * an update otherwise ("id" first).  Prices are strings with exactly the
 * currency's fraction digits ("10" USD -> "10.00", "1800" JPY -> "1800",
 * "4.25" KWD -> "4.250"); sale_price is the sale amount when present and
 * lower than the price, else "" (which clears a previous sale).  A product
 * without a price sends "" for both.  stock: manage_stock true,
 * stock_quantity N and stock_status instock (N > 0) or outofstock when the
 * quantity is known; manage_stock false and instock when it is not.
 * images: all usable images in order (absolute http(s) URLs; media paths
 * joined to media_base_url; others skipped); "images":[] when the product
 * has none, and no images member when it has some but none is usable (a
 * missing media_base_url must not wipe the store's images).  attributes:
 * {"name":<the product's attribute name>,"options":[values],"visible":true,
 * "variation":false} per exported attribute the product has, all its
 * non-empty values as options; "attributes":[] when it has none of them.
 *
 * CS_WOO_MAP_EMPTY: an update with nothing to send but its id.
 * CS_WOO_MAP_FAIL with why: a create without SKU ("product has no SKU
 * (WooCommerce export needs one to avoid duplicates)"), a price or sale
 * price not representable in its currency, a sale price in another currency
 * than the price, a price in another currency than opts->currency ("price in
 * EUR, but the store's currency is USD: not written (one currency per
 * store)"), out's cap reached.
 */
cs_woo_map_result cs_woo_map_product(const cs_event *ev, const cs_woo_map_opts *o,
                                     long remote_id, cs_buf *out, char *why, size_t why_size);

/* Image src URLs of the product as cs_woo_map_product() sends them (after
 * joining media paths; skipped images left out), in order, so that the ids
 * of a store's answer (images[i].id) can be remembered against them.
 * Returns the count (<= max). */
size_t cs_woo_image_srcs(const cs_product *p, const char *media_base_url,
                         char out[][CS_WOO_SRC_MAX], size_t max);

#endif
