#include "cs_http.h"
#include "cs_log.h"
#include "cs_util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#define HTTP_DEFAULT_CONNECT_MS 5000L
#define HTTP_DEFAULT_TIMEOUT_MS 30000L
#define HTTP_DEFAULT_MAX_BODY   ((size_t)32 * 1024 * 1024)
#define HTTP_DEFAULT_UA         "catalogsync/1"

struct cs_http {
    CURL *curl;
    long connect_timeout_ms;
    long timeout_ms;
    char *ca_file;
    char *user_agent;
    int insecure;
    int public_only;
    int fresh_writes;
    size_t max_response;
    cs_http_observer observer;
    void *observer_ud;
    int64_t deadline;       /* monotonic ms, 0 = none (cs_http_set_deadline; atomic) */
    char errbuf[CURL_ERROR_SIZE];
};

/* State of one transfer, shared with the curl callbacks. */
typedef struct http_xfer {
    cs_http_resp *resp;
    size_t max_body;
    size_t header_bytes;    /* every header line of this request, 1xx blocks included */
    int too_big;
    int no_mem;
    int refused;            /* public_only: an internal address was refused */
    int64_t *deadline;      /* the handle's (cs_http_set_deadline) */
    int past_deadline;
} http_xfer;

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_rc = CURLE_OK;

static void http_global_init(void)
{
    http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *cs_http_err_name(cs_http_err e)
{
    switch (e) {
    case CS_HTTP_OK: return "ok";
    case CS_HTTP_ENET: return "network";
    case CS_HTTP_ETIMEOUT: return "timeout";
    case CS_HTTP_ETOOBIG: return "too_big";
    case CS_HTTP_ETLS: return "tls";
    case CS_HTTP_ENOMEM: return "no_memory";
    case CS_HTTP_EINVAL: return "invalid";
    }
    return "?";
}

static char *dup_or_null(const char *s, int *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = 1;
    return d;
}

cs_http *cs_http_new(const cs_http_opts *o, char *errstr, size_t errstr_size)
{
    cs_http_opts defaults;
    if (!o) {
        memset(&defaults, 0, sizeof defaults);
        o = &defaults;
    }
    pthread_once(&http_once, http_global_init);
    if (http_global_rc != CURLE_OK) {
        snprintf(errstr, errstr_size, "curl_global_init: %s", curl_easy_strerror(http_global_rc));
        return NULL;
    }
    if (o->connect_timeout_ms < 0 || o->timeout_ms < 0) {
        snprintf(errstr, errstr_size, "negative HTTP timeout");
        return NULL;
    }
    cs_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    int failed = 0;
    h->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : HTTP_DEFAULT_CONNECT_MS;
    h->timeout_ms = o->timeout_ms ? o->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
    h->max_response = o->max_response ? o->max_response : HTTP_DEFAULT_MAX_BODY;
    h->insecure = o->insecure ? 1 : 0;
    h->public_only = o->public_only ? 1 : 0;
    h->fresh_writes = o->fresh_writes ? 1 : 0;
    h->ca_file = dup_or_null(o->ca_file, &failed);
    h->user_agent = dup_or_null(o->user_agent ? o->user_agent : HTTP_DEFAULT_UA, &failed);
    h->curl = failed ? NULL : curl_easy_init();
    if (!h->curl) {
        snprintf(errstr, errstr_size, "out of memory creating the HTTP client");
        cs_http_destroy(h);
        return NULL;
    }
    if (h->insecure)
        CS_WARN("http", "TLS certificate and host name verification is DISABLED for this "
                        "HTTP client (insecure=1): use only against test servers");
    return h;
}

void cs_http_destroy(cs_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    free(h->ca_file);
    free(h->user_agent);
    free(h);
}

void cs_http_resp_init(cs_http_resp *r)
{
    memset(r, 0, sizeof *r);
    cs_buf_init(&r->body, 0);
    cs_buf_init(&r->headers, CS_HTTP_HEADER_CAP);
}

void cs_http_resp_reset(cs_http_resp *r)
{
    r->status = 0;
    r->err = CS_HTTP_OK;
    r->errstr[0] = '\0';
    r->total_seconds = 0;
    cs_buf_reset(&r->body);
    cs_buf_reset(&r->headers);
}

void cs_http_resp_free(cs_http_resp *r)
{
    if (!r)
        return;
    cs_buf_free(&r->body);
    cs_buf_free(&r->headers);
}

static size_t http_on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_xfer *x = ud;
    size_t n = size * nmemb;
    cs_buf *b = &x->resp->body;
    if (n > x->max_body || b->len > x->max_body - n) {
        x->too_big = 1;
        return 0;     /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (cs_buf_append(b, ptr, n) != 0) {
        x->no_mem = 1;
        return 0;
    }
    return n;
}

int cs_http_resp_add_header_line(cs_http_resp *r, const char *ptr, size_t n)
{
    cs_buf *hb = &r->headers;
    /* A status line opens a new block: what came before belonged to an
     * interim answer (100 Continue) and is dropped. */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        cs_buf_reset(hb);
        return 0;
    }
    size_t end = n;
    while (end > 0 && (ptr[end - 1] == '\r' || ptr[end - 1] == '\n'))
        end--;
    const char *colon = memchr(ptr, ':', end);
    if (!colon || colon == ptr)
        return 0;     /* blank line, folded continuation or junk */
    size_t name_len = (size_t)(colon - ptr);
    size_t v = name_len + 1;
    while (v < end && (ptr[v] == ' ' || ptr[v] == '\t'))
        v++;
    size_t vend = end;
    while (vend > v && (ptr[vend - 1] == ' ' || ptr[vend - 1] == '\t'))
        vend--;

    size_t mark = hb->len;
    int rc = 0;
    for (size_t i = 0; i < name_len && rc == 0; i++)
        rc = cs_buf_appendc(hb, (char)tolower((unsigned char)ptr[i]));
    if (rc == 0)
        rc = cs_buf_appendc(hb, '\0');
    if (rc == 0)
        rc = cs_buf_append(hb, ptr + v, vend - v);
    if (rc == 0)
        rc = cs_buf_appendc(hb, '\0');
    if (rc != 0) {
        hb->len = mark;
        if (hb->data)
            hb->data[mark] = '\0';
        return -1;
    }
    return 0;
}

static size_t http_on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_xfer *x = ud;
    size_t n = size * nmemb;

    x->header_bytes += n;
    if (x->header_bytes > CS_HTTP_HEADER_CAP) {
        x->too_big = 1;
        return 0;
    }
    if (cs_http_resp_add_header_line(x->resp, ptr, n) != 0) {
        x->no_mem = 1;
        return 0;
    }
    return n;
}

const char *cs_http_resp_header(const cs_http_resp *r, const char *name)
{
    const char *found = NULL;
    const cs_buf *hb = &r->headers;
    size_t i = 0;
    while (hb->data && i < hb->len) {
        const char *n = hb->data + i;
        size_t nl = strlen(n);
        const char *val = n + nl + 1;
        if (strcasecmp(n, name) == 0)
            found = val;
        i += nl + 1 + strlen(val) + 1;
    }
    return found;
}

static cs_http_err http_map_error(CURLcode rc, const http_xfer *x)
{
    switch (rc) {
    case CURLE_OK:
        return CS_HTTP_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return CS_HTTP_ETIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return CS_HTTP_ETOOBIG;
    case CURLE_WRITE_ERROR:
        return x->too_big ? CS_HTTP_ETOOBIG : x->no_mem ? CS_HTTP_ENOMEM : CS_HTTP_ENET;
    case CURLE_OUT_OF_MEMORY:
        return CS_HTTP_ENOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_UNKNOWN_OPTION:
        return CS_HTTP_EINVAL;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
        return CS_HTTP_ETLS;
    default:
        return CS_HTTP_ENET;
    }
}

/* public_only: the socket for an internal address is never opened. */
static curl_socket_t http_open_socket(void *ud, curlsocktype purpose,
                                      struct curl_sockaddr *addr)
{
    http_xfer *x = ud;
    if (purpose != CURLSOCKTYPE_IPCXN || cs_addr_is_internal(&addr->addr)) {
        x->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

/* A deadline set while a request runs ends it too (a worker stopping). */
static int http_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    http_xfer *x = ud;
    int64_t d = __atomic_load_n(x->deadline, __ATOMIC_RELAXED);
    if (d && cs_mono_ms() >= d && dltotal >= 0 && dlnow >= 0 && ultotal >= 0 && ulnow >= 0) {
        x->past_deadline = 1;
        return 1;
    }
    return 0;
}

void cs_http_set_deadline(cs_http *h, int64_t mono_ms)
{
    __atomic_store_n(&h->deadline, mono_ms, __ATOMIC_RELAXED);
}

/* Options that hold for every request; reapplied after curl_easy_reset(),
 * which keeps the live connections.  Returns the first failure. */
static CURLcode http_base_opts(cs_http *h, http_xfer *x)
{
    CURL *c = h->curl;
    CURLcode rc = CURLE_OK;
#define SETOPT(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_TCP_KEEPIDLE, 60L);
    SETOPT(CURLOPT_TCP_KEEPINTVL, 30L);
    SETOPT(CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    /* Never past the handle's deadline (a worker stopping). */
    long timeout = h->timeout_ms;
    int64_t d = __atomic_load_n(&h->deadline, __ATOMIC_RELAXED);
    if (d) {
        int64_t left = d - cs_mono_ms();
        if (left < timeout)
            timeout = left > 1 ? (long)left : 1L;
        if (timeout < h->connect_timeout_ms)
            SETOPT(CURLOPT_CONNECTTIMEOUT_MS, timeout);
    }
    SETOPT(CURLOPT_TIMEOUT_MS, timeout);
    x->deadline = &h->deadline;
    SETOPT(CURLOPT_XFERINFOFUNCTION, http_on_progress);
    SETOPT(CURLOPT_XFERINFODATA, x);
    SETOPT(CURLOPT_NOPROGRESS, 0L);
    SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SETOPT(CURLOPT_SSL_VERIFYPEER, h->insecure ? 0L : 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, h->insecure ? 0L : 2L);
    if (h->ca_file)
        SETOPT(CURLOPT_CAINFO, h->ca_file);
    SETOPT(CURLOPT_USERAGENT, h->user_agent);
    /* Refuses early when Content-Length already says too much; the body
     * callback enforces the cap on what actually arrives (decoded). */
    if ((uint64_t)h->max_response <= (uint64_t)INT64_MAX)
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_response);
    SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
    SETOPT(CURLOPT_WRITEFUNCTION, http_on_body);
    SETOPT(CURLOPT_WRITEDATA, x);
    SETOPT(CURLOPT_HEADERFUNCTION, http_on_header);
    SETOPT(CURLOPT_HEADERDATA, x);
    if (h->public_only) {
        SETOPT(CURLOPT_OPENSOCKETFUNCTION, http_open_socket);
        SETOPT(CURLOPT_OPENSOCKETDATA, x);
        SETOPT(CURLOPT_NOPROXY, "*");       /* the check is on the target, not a proxy */
    }
#undef SETOPT
    return rc;
}

static void http_fail(cs_http_resp *resp, cs_http_err err, const char *msg)
{
    resp->err = err;
    cs_strlcpy(resp->errstr, msg, sizeof resp->errstr);
}

/* curl's messages name hosts and ports, not queries; cut one defensively
 * should a future version echo the URL. */
static void http_strip_query(char *errstr, const char *url)
{
    const char *q = strchr(url, '?');
    if (!q || !q[1])
        return;
    char *hit = strstr(errstr, q + 1);
    if (hit)
        *hit = '\0';
}

cs_http_err cs_http_request(cs_http *h, const char *method, const char *url,
                            const char *const *headers, const char *body, size_t body_len,
                            const char *basic_user, const char *basic_password,
                            cs_http_resp *resp)
{
    cs_http_resp_reset(resp);
    if (!h || !method || !url || (!body && body_len)) {
        http_fail(resp, CS_HTTP_EINVAL, "invalid arguments");
        return resp->err;
    }
    int is_get = strcmp(method, "GET") == 0;
    int is_post = strcmp(method, "POST") == 0;
    int is_head = strcmp(method, "HEAD") == 0;
    if (is_head && body) {
        http_fail(resp, CS_HTTP_EINVAL, "HEAD takes no body");
        return resp->err;
    }
    if (!is_get && !is_post && !is_head && strcmp(method, "PUT") != 0 && strcmp(method, "PATCH") != 0 &&
        strcmp(method, "DELETE") != 0) {
        http_fail(resp, CS_HTTP_EINVAL, "unsupported HTTP method");
        return resp->err;
    }

    http_xfer x = {.resp = resp, .max_body = h->max_response};
    resp->body.cap = h->max_response;
    resp->headers.cap = CS_HTTP_HEADER_CAP;

    struct curl_slist *list = NULL, *tmp;
    int list_failed = 0;
    for (size_t i = 0; headers && headers[i] && !list_failed; i++) {
        tmp = curl_slist_append(list, headers[i]);
        if (tmp)
            list = tmp;
        else
            list_failed = 1;
    }
    /* Expect: 100-continue costs a round trip (or a 1 s stall) per POST. */
    if (!list_failed && (tmp = curl_slist_append(list, "Expect:")) != NULL)
        list = tmp;
    else
        list_failed = 1;
    if (list_failed) {
        curl_slist_free_all(list);
        http_fail(resp, CS_HTTP_ENOMEM, "out of memory building request headers");
        return resp->err;
    }

    CURL *c = h->curl;
    curl_easy_reset(c);
    h->errbuf[0] = '\0';
    CURLcode rc = http_base_opts(h, &x);
#define SETOPT(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_HTTPHEADER, list);
    /* libcurl re-sends a request on its own only over a reused connection
     * (Curl_retry_request); a new one keeps every retry of a write ours. */
    if (h->fresh_writes && !is_get && !is_head)
        SETOPT(CURLOPT_FRESH_CONNECT, 1L);
    if (is_head) {
        SETOPT(CURLOPT_NOBODY, 1L);
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)0);  /* no body: its size is no limit */
    } else if (body || !is_get) {
        if (!body && strcmp(method, "DELETE") == 0) {
            SETOPT(CURLOPT_CUSTOMREQUEST, method);
        } else {
            SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            SETOPT(CURLOPT_POSTFIELDS, body ? body : "");
            if (!is_post)
                SETOPT(CURLOPT_CUSTOMREQUEST, method);
        }
    } else {
        SETOPT(CURLOPT_HTTPGET, 1L);
    }
    if (basic_user) {
        SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SETOPT(CURLOPT_USERNAME, basic_user);
        SETOPT(CURLOPT_PASSWORD, basic_password ? basic_password : "");
    }
#undef SETOPT
    if (rc == CURLE_OK)
        rc = curl_easy_perform(c);

    long status = 0;
    double total = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &total);
    resp->status = status;
    resp->total_seconds = total;
    resp->err = http_map_error(rc, &x);
    if (resp->err == CS_HTTP_ETOOBIG) {
        snprintf(resp->errstr, sizeof resp->errstr,
                 "response larger than the cap (body %zu bytes, headers %zu bytes)",
                 h->max_response, (size_t)CS_HTTP_HEADER_CAP);
    } else if (resp->err == CS_HTTP_ENOMEM) {
        http_fail(resp, CS_HTTP_ENOMEM, "out of memory receiving the response");
    } else if (resp->err != CS_HTTP_OK && x.past_deadline) {
        http_fail(resp, CS_HTTP_ETIMEOUT, "stopped at the shutdown deadline");
    } else if (resp->err != CS_HTTP_OK && x.refused) {
        http_fail(resp, CS_HTTP_ENET, CS_HTTP_REFUSED_INTERNAL);
    } else if (resp->err != CS_HTTP_OK) {
        cs_strlcpy(resp->errstr, h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc),
                   sizeof resp->errstr);
        http_strip_query(resp->errstr, url);
    }

    /* Nothing of this request may leak into the next one: the header list
     * is freed below and the credentials must not linger in the handle. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_USERNAME, NULL);
    curl_easy_setopt(c, CURLOPT_PASSWORD, NULL);
    curl_slist_free_all(list);
    if (h->observer)
        h->observer(h->observer_ud, resp);
    return resp->err;
}

void cs_http_set_observer(cs_http *h, cs_http_observer fn, void *ud)
{
    h->observer = fn;
    h->observer_ud = ud;
}

int cs_http_urlencode(cs_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            rc = cs_buf_appendc(out, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = cs_buf_append(out, e, 3);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Parses an HTTP-date into epoch seconds; -1 when it is none of the three
 * forms RFC 9110 section 5.6.7 requires recipients to accept. */
static int64_t http_parse_date(const char *s)
{
    static const char *const forms[] = {
        "%a, %d %b %Y %H:%M:%S GMT",   /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        "%A, %d-%b-%y %H:%M:%S GMT",   /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        "%a %b %e %H:%M:%S %Y",        /* asctime: Sun Nov  6 08:49:37 1994 */
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, forms[i], &tm);
        if (end && *end == '\0')
            return (int64_t)timegm(&tm);
    }
    return -1;
}

int64_t cs_http_retry_after_ms(const cs_http_resp *r, int64_t now_ms)
{
    const char *v = cs_http_resp_header(r, "retry-after");
    if (!v || !*v)
        return -1;
    const int64_t max_s = CS_CHANNEL_MAX_PAUSE_MS / 1000;
    if (isdigit((unsigned char)v[0])) {
        /* Only digits: a number of seconds, however many digits it has. */
        size_t n = strspn(v, "0123456789");
        if (v[n])
            return -1;
        int64_t secs;
        if (n > 18 || cs_parse_i64(v, 0, INT64_MAX, &secs) != 0 || secs > max_s)
            return CS_CHANNEL_MAX_PAUSE_MS;
        return secs * 1000;
    }
    int64_t when = http_parse_date(v);
    if (when < 0)
        return -1;
    if (when > now_ms / 1000 + max_s)
        return CS_CHANNEL_MAX_PAUSE_MS;
    int64_t delta = when * 1000 - now_ms;
    return delta <= 0 ? 0 : delta < CS_CHANNEL_MAX_PAUSE_MS ? delta : CS_CHANNEL_MAX_PAUSE_MS;
}
