/*
 * meta_graph: what Meta's Graph API answers mean (the Meta channel's client
 * side, beside its sink meta.c and its mapping meta_map.c).  Parsing only,
 * no I/O; the functions keep the cs_graph_ prefix.
 *
 * - the error envelope {"error":{...}} and the single classification of a
 *   failed Graph call into the cs_class vocabulary (cs_class.h), which
 *   the Meta sink turns into retry later / pause the catalog / pause the
 *   catalog and alert / park the item;
 * - how long to pause after throttling, from the rate-limit headers;
 * - appsecret_proof;
 * - the Graph API versions and the day each stops working;
 * - the answers of items_batch and check_batch_request_status.
 *
 * Thread safety: no global state; every function may be called from any
 * thread.  Ownership: the parse functions fill caller-owned structs whose
 * arrays are allocated here and released with the matching _free().
 */
#ifndef CS_META_GRAPH_H
#define CS_META_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "cs_class.h"
#include "cs_config.h"   /* CS_GRAPH_DEFAULT_VERSION */
#include "cs_http.h"     /* CS_CHANNEL_MAX_PAUSE_MS */

typedef struct cs_graph_error {
    int code, subcode, http_status, is_transient;
    char type[64], message[512], user_title[128], user_msg[512], fbtrace_id[64];
} cs_graph_error;

/* 1 when body holds an {"error":{...}} envelope (fills e), 0 otherwise: e
 * then gets http_status, code 0 and a message "HTTP <status>", followed by
 * ": <first 200 bytes>" when the body is not JSON (control characters and
 * invalid UTF-8 replaced).  Strings are truncated to their fields.  body may
 * be NULL when len is 0.  http_status 0 means the call got no HTTP answer. */
int cs_graph_parse_error(const char *body, size_t len, long http_status, cs_graph_error *e);

/*
 * The one place that classifies Graph failures (reference section 4.2).
 * Known codes decide first, whatever the HTTP status:
 *   transient  1, 2
 *   throttle   4, 17, 32, 613, 80001, 80004, 80009, 80014
 *   auth       190 (any subcode), 102, 10, 200-299
 *   refused    100/33 (the catalog does not exist or the system user lost
 *              it), 368 (deemed abusive or otherwise disallowed): the whole
 *              call, not one record (field notes in tests/fakes/README.md)
 *   too large  1 with "Please reduce the amount of data"
 *   bad item   100 (other subcodes)
 * Unknown codes: is_transient or HTTP 5xx -> transient, HTTP 429 ->
 * throttle, anything else -> bad item.
 * Without an envelope (code 0): no HTTP answer (http_status 0), 5xx, 408 and
 * unexpected 1xx/3xx -> transient; 429 -> throttle; 401/403 -> auth (a proxy
 * or gateway refusing us is no fault of the item); other 4xx -> bad item;
 * 2xx -> ok.
 */
cs_class cs_graph_classify(const cs_graph_error *e);

/*
 * How long to pause a catalog after a throttling answer, in ms: the largest
 * estimated_time_to_regain_access (minutes) in X-Business-Use-Case-Usage
 * (every business-id key, every array element), else retry_after_ms when
 * >= 0 (see cs_http_retry_after_ms), else default_ms; clamped to
 * [0, CS_CHANNEL_MAX_PAUSE_MS].  *max_pct (may be NULL) gets the highest
 * call_count / total_cputime / total_time percentage seen in the BUC header
 * or X-App-Usage, -1 if none.  Either header may be NULL; unparseable
 * headers are ignored.
 */
int64_t cs_graph_throttle_pause_ms(const char *buc_header, const char *app_usage_header,
                                   int64_t retry_after_ms, int64_t default_ms, int *max_pct);

/* The Graph API version a catalog uses unless meta.catalogs[].api_version
 * says otherwise, CS_GRAPH_DEFAULT_VERSION, is a configuration default
 * (cs_config.h); it must be a current one (see cs_graph_version_end). */

/* Days before a Graph API version warns at start that it ends soon. */
#define CS_GRAPH_VERSION_WARN_DAYS 90

/*
 * The one table of Graph API versions and the day each stops working (Meta's
 * changelog; docs/CONFIGURATION.md).  Returns 1 and sets *end_unix (00:00 UTC
 * of that day) and end (YYYY-MM-DD, 11 bytes) for a version whose end is
 * known; 0 for a version without a known end (the newest, or unknown).
 */
int cs_graph_version_end(const char *version, int64_t *end_unix, char end[11]);

/* appsecret_proof = hex(HMAC-SHA256(key=app_secret, msg=access_token)). */
void cs_graph_appsecret_proof(const char *app_secret, const char *token, char out[65]);

typedef struct cs_graph_item_error {
    char retailer_id[128];
    char message[512];
} cs_graph_item_error;

typedef struct cs_graph_batch_reply {
    char handle[256];                 /* empty when "handles" is [] */
    cs_graph_item_error *invalid;     /* validation_status entries with errors;
                                         message = the first error's message */
    size_t n_invalid;
    cs_graph_item_error *warned;      /* validation_status entries with warnings only;
                                         message = the first warning's message */
    size_t n_warned;
} cs_graph_batch_reply;

/* Parses a 200 answer of POST /{catalog}/items_batch.  0 ok; -1 on a
 * malformed answer with errstr filled (out then holds nothing to free, but
 * freeing it is harmless). */
int cs_graph_parse_items_batch(const char *body, size_t len, cs_graph_batch_reply *out,
                               char *errstr, size_t errstr_size);
void cs_graph_batch_reply_free(cs_graph_batch_reply *r);   /* accepts NULL */

typedef struct cs_graph_batch_status {
    char status[32];                  /* scheduled dispatched started finished canceled error */
    int finished;                     /* 1 for finished, canceled, error */
    long errors_total_count;          /* every failed record; "errors" is only a sample */
    cs_graph_item_error *errors;      /* the sample in "errors" (id -> retailer_id) */
    size_t n_errors;
    cs_graph_item_error *warnings;    /* the sample in "warnings": fields not applied */
    size_t n_warnings;
    char **invalid_ids;               /* ids_of_invalid_requests */
    size_t n_invalid_ids;
} cs_graph_batch_status;

/* Parses GET check_batch_request_status: {"data":[{...}]} (the first
 * element).  0 ok; -1 malformed with errstr filled. */
int cs_graph_parse_batch_status(const char *body, size_t len, cs_graph_batch_status *out,
                                char *errstr, size_t errstr_size);
void cs_graph_batch_status_free(cs_graph_batch_status *s);  /* accepts NULL */

#endif
