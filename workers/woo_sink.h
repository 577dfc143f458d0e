/*
 * woo_sink: the WooCommerce sink's private types, shared by woo.c (pushing)
 * and woo_links.c (link records in Redis).  Nothing else includes it.
 */
#ifndef CS_WOO_SINK_H
#define CS_WOO_SINK_H

#include <stddef.h>

#include "cs_buf.h"
#include "cs_http.h"
#include "sink.h"
#include "woo_rest.h"

typedef struct woo_store {
    const cs_woo_store *cfg;
    cs_http *http;
    cs_woo_conn conn;
    char currency[4];       /* the store's currency, read before the first push; "" = not yet */
    int stock_warned;       /* "ignores stock_quantity" logged once */
    size_t batch_cap;       /* items per batch after a timeout (halved); 0 = batch_size */
    unsigned batch_ok;      /* batches answered in a row since the cap was last changed */
} woo_store;

typedef struct woo_sink {
    const cs_config *cfg;
    woo_store *stores;
    size_t n;
} woo_sink;

/* Per job: what the link says, and bookkeeping for one push. */
typedef struct woo_job {
    int linked;
    long remote_id;
    char **fields;
    size_t n_fields;
    int partial;
    char **img_src;
    long *img_id;
    size_t n_img;
    int op;
    int adopted;            /* the remote id came from a SKU lookup or a SKU error */
    int reset_remote;       /* the remote product is gone: resolve by SKU next time */
    int restore;            /* the remote product was found in the store's trash */
    int images_reset;       /* a cached attachment id was refused: the image records are
                               rewritten from scratch */
    size_t off, len;        /* the item's JSON in the push buffer */
} woo_job;

typedef struct push {
    woo_sink *ws;
    woo_store *st;
    cs_sync_job **jobs;
    size_t n;
    const cs_push_ctx *ctx;
    cs_conn_result *res;
    cs_buf items;
    int stopped;
} push;


static inline woo_job *wj(const cs_sync_job *j)
{
    return j->sink_data;
}

void woo_free_strs(char **v, size_t n);
/* Reads the link records of the batch's jobs, writes the links of exports,
 * marks jobs of products never exported (sink op "prepare"). */
int woo_prepare(void *sink, const cs_push_ctx *ctx, cs_sync_job **jobs, size_t n);
/* Writes link, image and not-linked records for the push's outcomes. */
int woo_save_links(push *p);

#endif
