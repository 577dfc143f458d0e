#include "meta_graph.h"
#include "cs_sha256.h"
#include "cs_util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>


static void copy_json_str(char *dst, size_t size, json_t *v)
{
    if (json_is_string(v))
        cs_utf8_copy_trunc(dst, size, json_string_value(v), json_string_length(v));
    else if (size)
        dst[0] = '\0';
}

/* Meta sends ids as strings, but a numeric id must not be lost either. */
static int copy_json_id(char *dst, size_t size, json_t *v)
{
    if (json_is_string(v)) {
        cs_utf8_copy_trunc(dst, size, json_string_value(v), json_string_length(v));
        return 0;
    }
    if (json_is_integer(v)) {
        snprintf(dst, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    }
    return -1;
}

static int json_int_clamped(json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return i > INT_MAX ? INT_MAX : i < INT_MIN ? INT_MIN : (int)i;
    }
    if (json_is_string(v)) {
        int64_t i;
        if (cs_parse_i64(json_string_value(v), INT_MIN, INT_MAX, &i) == 0)
            return (int)i;
    }
    return 0;
}

int cs_graph_parse_error(const char *body, size_t len, long http_status, cs_graph_error *e)
{
    memset(e, 0, sizeof *e);
    e->http_status = http_status > INT_MAX || http_status < 0 ? 0 : (int)http_status;

    json_t *root = NULL;
    if (body && len)
        root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    json_t *err = json_object_get(root, "error");
    if (json_is_object(err)) {
        e->code = json_int_clamped(json_object_get(err, "code"));
        e->subcode = json_int_clamped(json_object_get(err, "error_subcode"));
        json_t *t = json_object_get(err, "is_transient");
        e->is_transient = json_is_true(t) || (json_is_integer(t) && json_integer_value(t) != 0);
        copy_json_str(e->type, sizeof e->type, json_object_get(err, "type"));
        copy_json_str(e->message, sizeof e->message, json_object_get(err, "message"));
        copy_json_str(e->user_title, sizeof e->user_title, json_object_get(err, "error_user_title"));
        copy_json_str(e->user_msg, sizeof e->user_msg, json_object_get(err, "error_user_msg"));
        copy_json_str(e->fbtrace_id, sizeof e->fbtrace_id, json_object_get(err, "fbtrace_id"));
        json_decref(root);
        return 1;
    }

    if (http_status <= 0)
        snprintf(e->message, sizeof e->message, "no HTTP answer");
    else
        snprintf(e->message, sizeof e->message, "HTTP %ld", http_status);
    if (!root)
        cs_append_snippet(e->message, sizeof e->message, body, len);
    json_decref(root);
    return 0;
}

cs_class cs_graph_classify(const cs_graph_error *e)
{
    int st = e->http_status;
    switch (e->code) {
    case 0:
        break;
    case 1:
        if (strstr(e->message, "reduce the amount of data"))
            return CS_CLASS_TOO_LARGE;
        return CS_CLASS_TRANSIENT;
    case 2:
        return CS_CLASS_TRANSIENT;
    case 368:
        return CS_CLASS_REFUSED;
    case 4: case 17: case 32: case 613:
    case 80001: case 80004: case 80009: case 80014:
        return CS_CLASS_THROTTLE;
    case 190: case 102: case 10:
        return CS_CLASS_AUTH;
    case 100:
        return e->subcode == 33 ? CS_CLASS_REFUSED : CS_CLASS_BAD_ITEM;
    default:
        if (e->code >= 200 && e->code <= 299)
            return CS_CLASS_AUTH;
        if (e->is_transient || st >= 500)
            return CS_CLASS_TRANSIENT;
        if (st == 429)
            return CS_CLASS_THROTTLE;
        return CS_CLASS_BAD_ITEM;
    }

    /* No Graph error code: judge by the HTTP status alone. */
    if (st >= 200 && st <= 299)
        return CS_CLASS_OK;
    if (st == 429)
        return CS_CLASS_THROTTLE;
    if (st == 401 || st == 403)
        return CS_CLASS_AUTH;
    if (st >= 400 && st <= 499 && st != 408)
        return CS_CLASS_BAD_ITEM;
    return CS_CLASS_TRANSIENT;     /* no answer, 5xx, 408, unexpected 1xx/3xx */
}

/* Takes the numbers of one usage object: percentages and the BUC wait. */
static void usage_scan(json_t *o, double *pct_max, double *eta_max)
{
    static const char *const pct_keys[] = {"call_count", "total_cputime", "total_time"};
    if (!json_is_object(o))
        return;
    for (size_t i = 0; i < sizeof pct_keys / sizeof pct_keys[0]; i++) {
        json_t *v = json_object_get(o, pct_keys[i]);
        if (json_is_number(v) && json_number_value(v) > *pct_max)
            *pct_max = json_number_value(v);
    }
    json_t *eta = json_object_get(o, "estimated_time_to_regain_access");
    if (json_is_number(eta) && json_number_value(eta) > *eta_max)
        *eta_max = json_number_value(eta);
}

int64_t cs_graph_throttle_pause_ms(const char *buc_header, const char *app_usage_header,
                                   int64_t retry_after_ms, int64_t default_ms, int *max_pct)
{
    double pct = -1, eta = 0;

    json_t *buc = buc_header ? json_loads(buc_header, 0, NULL) : NULL;
    if (json_is_object(buc)) {
        const char *key;
        json_t *val;
        usage_scan(buc, &pct, &eta);          /* a flat object, as Woo reads it */
        json_object_foreach(buc, key, val) {
            if (json_is_array(val)) {
                size_t i;
                json_t *el;
                json_array_foreach(val, i, el)
                    usage_scan(el, &pct, &eta);
            } else {
                usage_scan(val, &pct, &eta);
            }
        }
    }
    json_decref(buc);

    json_t *app = app_usage_header ? json_loads(app_usage_header, 0, NULL) : NULL;
    double unused_eta = 0;
    usage_scan(app, &pct, &unused_eta);
    json_decref(app);

    if (max_pct)
        *max_pct = pct < 0 ? -1 : pct >= INT_MAX ? INT_MAX : (int)pct;

    double ms;
    if (eta > 0)
        ms = eta * 60000.0;
    else if (retry_after_ms >= 0)
        ms = (double)retry_after_ms;
    else
        ms = (double)default_ms;
    if (!(ms > 0))
        return 0;
    if (ms >= (double)CS_CHANNEL_MAX_PAUSE_MS)
        return CS_CHANNEL_MAX_PAUSE_MS;
    return (int64_t)ms;
}

static const struct { const char *version, *end; } graph_versions[] = {
    {"v21.0", "2027-01-21"},
    {"v22.0", "2027-05-20"},
    {"v23.0", "2027-10-08"},
    {"v24.0", "2028-02-18"},
    {"v25.0", "2028-07-29"},
    /* v26.0 (29 Jul 2026): end not announced yet */
};

int cs_graph_version_end(const char *version, int64_t *end_unix, char end[11])
{
    for (size_t i = 0; version && i < sizeof graph_versions / sizeof graph_versions[0]; i++) {
        if (strcmp(version, graph_versions[i].version) != 0)
            continue;
        char ts[32];
        snprintf(ts, sizeof ts, "%sT00:00:00Z", graph_versions[i].end);
        if (cs_rfc3339_unix(ts, end_unix) != 0)
            return 0;
        memcpy(end, graph_versions[i].end, 11);
        return 1;
    }
    return 0;
}

void cs_graph_appsecret_proof(const char *app_secret, const char *token, char out[65])
{
    unsigned char mac[CS_SHA256_LEN];
    cs_hmac_sha256(app_secret, strlen(app_secret), token, strlen(token), mac);
    cs_hex(mac, sizeof mac, out);
}

static json_t *load_object(const char *body, size_t len, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    if (!body || !len) {
        snprintf(errstr, errstr_size, "empty answer");
        return NULL;
    }
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        snprintf(errstr, errstr_size, "answer is not JSON: %s (line %d)", jerr.text, jerr.line);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "answer is not a JSON object");
        json_decref(root);
        return NULL;
    }
    json_t *err = json_object_get(root, "error");
    if (json_is_object(err)) {
        char msg[200];
        copy_json_str(msg, sizeof msg, json_object_get(err, "message"));
        snprintf(errstr, errstr_size, "answer is a Graph error (code %d): %s",
                 json_int_clamped(json_object_get(err, "code")), msg);
        json_decref(root);
        return NULL;
    }
    return root;
}

void cs_graph_batch_reply_free(cs_graph_batch_reply *r)
{
    if (!r)
        return;
    free(r->invalid);
    free(r->warned);
    r->invalid = r->warned = NULL;
    r->n_invalid = r->n_warned = 0;
}

int cs_graph_parse_items_batch(const char *body, size_t len, cs_graph_batch_reply *out,
                               char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, len, errstr, errstr_size);
    if (!root)
        return -1;

    json_t *handles = json_object_get(root, "handles");
    json_t *vs = json_object_get(root, "validation_status");
    if (!handles && !vs) {
        snprintf(errstr, errstr_size, "items_batch answer has neither handles nor validation_status");
        goto fail;
    }
    if (handles && !json_is_array(handles)) {
        snprintf(errstr, errstr_size, "items_batch \"handles\" is not an array");
        goto fail;
    }
    if (json_array_size(handles) > 0) {
        json_t *h = json_array_get(handles, 0);
        if (!json_is_string(h) || json_string_length(h) == 0 ||
            json_string_length(h) >= sizeof out->handle) {
            snprintf(errstr, errstr_size, "items_batch handle is not a string of 1-%zu bytes",
                     sizeof out->handle - 1);
            goto fail;
        }
        memcpy(out->handle, json_string_value(h), json_string_length(h) + 1);
    }
    if (vs && !json_is_null(vs)) {
        if (!json_is_array(vs)) {
            snprintf(errstr, errstr_size, "items_batch \"validation_status\" is not an array");
            goto fail;
        }
        size_t n = json_array_size(vs), i;
        json_t *el;
        if (n) {
            out->invalid = calloc(n, sizeof *out->invalid);
            out->warned = calloc(n, sizeof *out->warned);
            if (!out->invalid || !out->warned) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
            }
        }
        json_array_foreach(vs, i, el) {
            if (!json_is_object(el)) {
                snprintf(errstr, errstr_size, "validation_status[%zu] is not an object", i);
                goto fail;
            }
            json_t *errs = json_object_get(el, "errors");
            if (errs && !json_is_array(errs) && !json_is_null(errs)) {
                snprintf(errstr, errstr_size, "validation_status[%zu].errors is not an array", i);
                goto fail;
            }
            json_t *warns = json_object_get(el, "warnings");
            if (json_array_size(errs) == 0) {
                /* Accepted, but Meta did not apply everything sent. */
                json_t *first = json_array_get(warns, 0);
                cs_graph_item_error *w = &out->warned[out->n_warned];
                if (!first || copy_json_id(w->retailer_id, sizeof w->retailer_id,
                                           json_object_get(el, "retailer_id")) != 0)
                    continue;
                copy_json_str(w->message, sizeof w->message, json_object_get(first, "message"));
                if (w->message[0])
                    out->n_warned++;
                continue;
            }
            cs_graph_item_error *ie = &out->invalid[out->n_invalid];
            if (copy_json_id(ie->retailer_id, sizeof ie->retailer_id,
                             json_object_get(el, "retailer_id")) != 0) {
                snprintf(errstr, errstr_size, "validation_status[%zu] has no retailer_id", i);
                goto fail;
            }
            json_t *first = json_array_get(errs, 0);
            copy_json_str(ie->message, sizeof ie->message, json_object_get(first, "message"));
            if (!ie->message[0])
                cs_strlcpy(ie->message, "rejected without a message", sizeof ie->message);
            out->n_invalid++;
        }
    }
    json_decref(root);
    return 0;

fail:
    json_decref(root);
    cs_graph_batch_reply_free(out);
    out->handle[0] = '\0';
    return -1;
}

void cs_graph_batch_status_free(cs_graph_batch_status *s)
{
    if (!s)
        return;
    free(s->errors);
    free(s->warnings);
    for (size_t i = 0; i < s->n_invalid_ids; i++)
        free(s->invalid_ids[i]);
    free(s->invalid_ids);
    s->errors = s->warnings = NULL;
    s->invalid_ids = NULL;
    s->n_errors = s->n_warnings = s->n_invalid_ids = 0;
}

/* The "errors" or "warnings" sample (name) of a batch status into *list. */
static int parse_status_errors(json_t *errs, const char *name, cs_graph_item_error **list,
                               size_t *n_list, char *errstr, size_t errstr_size)
{
    size_t n = json_array_size(errs), i;
    json_t *el;
    if (!n)
        return 0;
    *list = calloc(n, sizeof **list);
    if (!*list) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    json_array_foreach(errs, i, el) {
        if (!json_is_object(el)) {
            snprintf(errstr, errstr_size, "%s[%zu] is not an object", name, i);
            return -1;
        }
        cs_graph_item_error *ie = &(*list)[(*n_list)++];
        /* A sample error may concern the whole file rather than one id. */
        if (copy_json_id(ie->retailer_id, sizeof ie->retailer_id, json_object_get(el, "id")) != 0)
            ie->retailer_id[0] = '\0';
        copy_json_str(ie->message, sizeof ie->message, json_object_get(el, "message"));
    }
    return 0;
}

static int parse_invalid_ids(json_t *ids, cs_graph_batch_status *out,
                             char *errstr, size_t errstr_size)
{
    size_t n = json_array_size(ids), i;
    json_t *el;
    if (!n)
        return 0;
    out->invalid_ids = calloc(n, sizeof *out->invalid_ids);
    if (!out->invalid_ids) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    json_array_foreach(ids, i, el) {
        char id[128];
        if (copy_json_id(id, sizeof id, el) != 0) {
            snprintf(errstr, errstr_size, "ids_of_invalid_requests[%zu] is not an id", i);
            return -1;
        }
        if (!(out->invalid_ids[out->n_invalid_ids] = strdup(id))) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        out->n_invalid_ids++;
    }
    return 0;
}

int cs_graph_parse_batch_status(const char *body, size_t len, cs_graph_batch_status *out,
                                char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, len, errstr, errstr_size);
    if (!root)
        return -1;

    json_t *data = json_object_get(root, "data");
    json_t *st = json_object_get(json_array_get(data, 0), "status");
    if (!json_is_array(data) || !json_is_object(json_array_get(data, 0))) {
        snprintf(errstr, errstr_size, "batch status answer has no \"data\":[{...}]");
        goto fail;
    }
    json_t *d = json_array_get(data, 0);
    if (!json_is_string(st) || json_string_length(st) == 0 ||
        json_string_length(st) >= sizeof out->status) {
        snprintf(errstr, errstr_size, "batch status answer has no valid \"status\"");
        goto fail;
    }
    memcpy(out->status, json_string_value(st), json_string_length(st) + 1);
    out->finished = strcmp(out->status, "finished") == 0 || strcmp(out->status, "canceled") == 0 ||
                    strcmp(out->status, "error") == 0;

    json_t *errs = json_object_get(d, "errors");
    json_t *ids = json_object_get(d, "ids_of_invalid_requests");
    json_t *total = json_object_get(d, "errors_total_count");
    json_t *warns = json_object_get(d, "warnings");
    if ((errs && !json_is_array(errs) && !json_is_null(errs)) ||
        (warns && !json_is_array(warns) && !json_is_null(warns)) ||
        (ids && !json_is_array(ids) && !json_is_null(ids)) ||
        (total && !json_is_integer(total) && !json_is_null(total))) {
        snprintf(errstr, errstr_size, "batch status fields have unexpected types");
        goto fail;
    }
    if (parse_status_errors(errs, "errors", &out->errors, &out->n_errors, errstr,
                            errstr_size) != 0 ||
        parse_status_errors(warns, "warnings", &out->warnings, &out->n_warnings, errstr,
                            errstr_size) != 0 ||
        parse_invalid_ids(ids, out, errstr, errstr_size) != 0)
        goto fail;
    if (json_is_integer(total) && json_integer_value(total) >= 0)
        out->errors_total_count = json_integer_value(total) > LONG_MAX ? LONG_MAX
                                  : (long)json_integer_value(total);
    else
        out->errors_total_count = (long)out->n_errors;
    json_decref(root);
    return 0;

fail:
    json_decref(root);
    cs_graph_batch_status_free(out);
    memset(out, 0, sizeof *out);
    return -1;
}
