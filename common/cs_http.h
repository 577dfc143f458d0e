/*
 * cs_http: a small wrapper over one libcurl easy handle.
 *
 * One cs_http per connection target (Graph, one WooCommerce store...), reused
 * for every request to it so that curl keeps the TCP/TLS connection alive.
 * Response bodies land in a capped cs_buf, response headers are kept for
 * lookup (rate-limit headers, Retry-After), and every transport failure is
 * reduced to a cs_http_err: classifying what an HTTP *answer* means is the
 * channel client's business (workers/meta_graph.h, workers/woo_rest.h, in
 * the cs_class vocabulary).
 *
 * Secrets: URLs may carry tokens in their query and requests may carry Basic
 * credentials, so this module logs nothing per request; the only log line is
 * the warning written when a handle is created with TLS verification off.
 * Error strings come from curl and never contain the URL's query.
 *
 * Thread safety: a cs_http belongs to one thread.  cs_http_new() may be
 * called from any thread (curl_global_init runs once, under pthread_once).
 * Ownership: cs_http_new() returns a handle freed by cs_http_destroy(); it
 * copies the strings in opts.  A cs_http_resp owns its body and headers and
 * is released with cs_http_resp_free(); it may be reused across requests.
 */
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "cs_buf.h"

#define CS_HTTP_HEADER_CAP ((size_t)64 * 1024)

typedef struct cs_http cs_http;

typedef struct cs_http_opts {
    long connect_timeout_ms;   /* 0 = 5000 */
    long timeout_ms;           /* whole request, 0 = 30000 */
    const char *ca_file;       /* NULL = system CAs */
    int insecure;              /* 1 = skip TLS verification (logged with CS_WARN at creation;
                                  callers should warn too) */
    size_t max_response;       /* response body cap, 0 = 32 MiB; larger fails with ETOOBIG */
    const char *user_agent;    /* NULL = "catalogsync/1" */
    int public_only;           /* 1 = never connect to an address cs_addr_is_internal()
                                  (loopback, private, link-local...): for URLs that come
                                  from data; checked on the address actually connected to,
                                  so a name resolving to one is refused too (CS_HTTP_ENET) */
    int fresh_writes;          /* 1 = every request but GET and HEAD goes over a new
                                  connection (CURLOPT_FRESH_CONNECT): libcurl silently
                                  sends a request again on a fresh connection when a
                                  reused one dies before any answer byte ("Connection
                                  died, retrying a fresh connect"), which for a POST that
                                  the server applied means a second write nobody logged.
                                  On a new connection libcurl never does that: a lost
                                  answer comes back as CS_HTTP_ENET and the retry is
                                  the caller's */
} cs_http_opts;

/* resp->errstr of a request public_only refused. */
#define CS_HTTP_REFUSED_INTERNAL "refused: the host is a loopback, private or link-local address"

typedef enum {
    CS_HTTP_OK = 0,
    CS_HTTP_ENET,        /* connect/resolve/send/receive failed: retry later */
    CS_HTTP_ETIMEOUT,    /* connect or whole-request timeout: retry later */
    CS_HTTP_ETOOBIG,     /* body over max_response or headers over 64 KiB */
    CS_HTTP_ETLS,        /* handshake or certificate failure: usually configuration */
    CS_HTTP_ENOMEM,
    CS_HTTP_EINVAL       /* bad method or URL: a programming/configuration error */
} cs_http_err;

const char *cs_http_err_name(cs_http_err e);   /* "ok", "network", "timeout", ... */

typedef struct cs_http_resp {
    long status;               /* HTTP status, 0 when no HTTP answer */
    cs_http_err err;
    char errstr[256];          /* curl's message for transport errors, "" when OK */
    cs_buf body;               /* NUL-terminated; body.data may be NULL when empty */
    cs_buf headers;            /* final header block as "name\0value\0" pairs, names
                                  lower-cased; read with cs_http_resp_header() */
    double total_seconds;
} cs_http_resp;

/* NULL on error with errstr filled.  o may be NULL for all defaults. */
cs_http *cs_http_new(const cs_http_opts *o, char *errstr, size_t errstr_size);
void cs_http_destroy(cs_http *h);             /* accepts NULL; closes the connection */

void cs_http_resp_init(cs_http_resp *r);
void cs_http_resp_reset(cs_http_resp *r);     /* keeps allocations for reuse */
void cs_http_resp_free(cs_http_resp *r);      /* accepts NULL */

/*
 * Performs one request and waits for it.  method: GET POST PUT PATCH DELETE,
 * or HEAD (no body is asked for or read).
 * headers: NULL-terminated array of "Name: value" strings, or NULL; they
 * must include Content-Type when a body is sent.  body may be NULL (POST/PUT/
 * PATCH then send an empty body).  basic_user/basic_password: HTTP Basic
 * credentials, or NULL for none.  Redirects are not followed: a 3xx comes
 * back as it is.  resp is reset first; the result is also in resp->err.
 * Any HTTP status is CS_HTTP_OK: look at resp->status.
 */
cs_http_err cs_http_request(cs_http *h, const char *method, const char *url,
                            const char *const *headers, const char *body, size_t body_len,
                            const char *basic_user, const char *basic_password,
                            cs_http_resp *resp);

/* Called at the end of every cs_http_request() on the handle, with the
 * finished response (status, err, total_seconds): a cheap hook for request
 * metrics.  It runs on the thread that made the request.  fn NULL = none. */
typedef void (*cs_http_observer)(void *ud, const cs_http_resp *resp);
void cs_http_set_observer(cs_http *h, cs_http_observer fn, void *ud);

/* No request of h lasts past mono_ms (cs_mono_ms clock; 0 = no deadline):
 * later requests get at most the time left, and one running when it is set
 * ends at it (CS_HTTP_ETIMEOUT).  May be called from any thread. */
void cs_http_set_deadline(cs_http *h, int64_t mono_ms);

/* Case-insensitive lookup in the final header block; NULL if absent; when a
 * header repeats, the last value wins.  Values are trimmed. */
const char *cs_http_resp_header(const cs_http_resp *r, const char *name);

/* Adds one raw header line ("Name: value\r\n") to r's header block as the
 * transfer does: names lower-cased, values trimmed, a status line ("HTTP/")
 * starts the block anew, lines without a name are skipped.  0, or -1 when
 * out of memory (the block is left as it was).  For the transfer's header
 * callback, and for tests and fuzzers. */
int cs_http_resp_add_header_line(cs_http_resp *r, const char *line, size_t n);

/* Appends s percent-encoded: RFC 3986 unreserved characters (A-Z a-z 0-9
 * - . _ ~) kept, every other byte as %XX with upper-case hex.  0 or -1. */
int cs_http_urlencode(cs_buf *out, const char *s);

/* The longest a channel's answer may pause a connection: 24 h.  Every delay
 * a channel names (Retry-After, Meta's estimated_time_to_regain_access) is
 * clamped to it, so a hostile or broken store cannot park a connection for
 * centuries or overflow a deadline (docs/DESIGN.md, "Channel-supplied
 * delays"); an operator who wants longer pauses with catalogsyncctl pause. */
#define CS_CHANNEL_MAX_PAUSE_MS ((int64_t)24 * 3600 * 1000)

/* Retry-After as delay-seconds or an HTTP-date (IMF-fixdate, RFC 850 or
 * asctime), converted to milliseconds from now_ms (a date in the past gives
 * 0) and clamped to CS_CHANNEL_MAX_PAUSE_MS (so is a delay-seconds too long
 * for any integer type); -1 when absent or unparseable. */
int64_t cs_http_retry_after_ms(const cs_http_resp *r, int64_t now_ms);

#endif
