/*
 * meta_map: turns a product event into Meta items_batch request records
 * (item fields as the fake enforces them: tests/fakes/README.md).
 *
 * Records use the feed field names of items_batch: {"method":"UPDATE",
 * "data":{"id":<retailer id>,"title":...,"price":"189.99 USD",...}}.  The
 * retailer id goes in data.id only; "retailer_id" never appears inside data.
 * Keys are written in a fixed order so the same product always gives the
 * same bytes (useful for change detection and for tests).
 *
 * A product that cannot be mapped fails here, before any HTTP call, with a
 * sentence an operator can act on ("product has no SKU ..."): such a product
 * would only be rejected by Meta later, so it is a permanent failure of that
 * product, not something to retry.
 *
 * Whether a product is pushed at all (is_active, deletes) is the caller's
 * decision; this module only builds records.
 *
 * Thread safety: no global state; every function is reentrant.
 * Ownership: the event, options and their strings stay the caller's; records
 * are appended to the caller's cs_buf.  On failure nothing is appended.
 */
#ifndef CS_META_MAP_H
#define CS_META_MAP_H

#include <stddef.h>

#include "cs_buf.h"
#include "cs_event.h"

#define CS_META_RID_MAX         100  /* characters (Meta's limit) */
#define CS_META_RID_SIZE        (CS_META_RID_MAX * 4 + 1)  /* bytes, UTF-8 */
#define CS_META_TITLE_MAX       150
#define CS_META_DESC_MAX        5000
#define CS_META_BRAND_MAX       100
#define CS_META_PRODUCT_TYPE_MAX 750
#define CS_META_EXTRA_IMAGES_MAX 20

typedef enum { CS_RID_SKU = 0, CS_RID_PRODUCT_ID } cs_rid_source;

typedef struct cs_meta_map_opts {
    cs_rid_source rid_source;   /* retailer id from the SKU (default) or the product id */
    int include_images;         /* default 0: products sync without images, as in the seed */
    const char *media_base_url; /* joined to media paths (images that are not absolute
                                   http(s) URLs) with exactly one slash between them;
                                   NULL or "" = relative images are skipped */
    const char *link_base_url;  /* link for a product without one: base + product id
                                   (percent-encoded); NULL = such a product fails */
    const char *default_brand;  /* brand for a product without one; NULL = it fails */
    int qualify_tenant;         /* retailer id "<tenant>:<sku or id>" (a catalog serving
                                   several tenants, docs/TENANTS.md) */
    const char *placeholder_image_url; /* image_link of a new item that has no usable
                                   image of its own; NULL or "" = such an item fails */
} cs_meta_map_opts;

/* Start of the message of a new item refused for want of an image (doctor
 * and tests look for it). */
#define CS_META_NO_IMAGE_WHY "no image for a new item"

typedef enum { CS_MAP_OK = 0, CS_MAP_FAIL } cs_map_result;

/* Writes the retailer id of tenant's product p under o (NULL o = defaults:
 * from the SKU) into out, which should hold CS_META_RID_SIZE bytes; with
 * o->qualify_tenant it is "<tenant>:<sku or id>".  CS_MAP_FAIL with why when
 * the source is the SKU and it is missing, empty or blank ("product has no
 * SKU (the Meta retailer id comes from the SKU)"), when the id is longer than
 * CS_META_RID_MAX characters, or when out is too small. */
cs_map_result cs_meta_retailer_id(const cs_product *p, const char *tenant,
                                  const cs_meta_map_opts *o,
                                  char *out, size_t out_size,
                                  char *why, size_t why_size);

/* Appends one whole {"method":"UPDATE","data":{...}} record for ev's product
 * (NULL o = defaults), with external_update_time = the event's occurred_at in
 * Unix seconds.  is_new: the item may not exist at Meta yet, so the record
 * creates it and needs an image_link (the product's, else
 * o->placeholder_image_url).  Fails with nothing appended and why filled
 * when: no retailer id; no name; no price; price or sale price not
 * representable in its currency; sale price in another currency than the
 * price; no link and no link_base_url; no brand and no default_brand; new and
 * no image nor placeholder (why starts with CS_META_NO_IMAGE_WHY); out's cap
 * reached. */
cs_map_result cs_meta_map_update(const cs_event *ev, const cs_meta_map_opts *o, int is_new,
                                 cs_buf *out, char *why, size_t why_size);

/* Appends {"method":"DELETE","data":{"id":"<rid>"}}.  0, or -1 when the id
 * is NULL/empty or out's cap is reached (nothing appended). */
int cs_meta_map_delete(const char *retailer_id, cs_buf *out);

/* Appends {"method":"UPDATE","data":{"id":"<rid>","visibility":"hidden"}}:
 * hides an item whose product became inactive.  0 or -1 as above. */
int cs_meta_map_hide(const char *retailer_id, cs_buf *out);

#endif
