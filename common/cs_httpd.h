/*
 * cs_httpd: a small embedded HTTP/1.1 server over libmicrohttpd, for
 * catalogsync's operator endpoints (a worker's /metrics and health checks,
 * the admin service's JSON API and pages).
 *
 * The server listens on "host:port" ("127.0.0.1:9464", "[::1]:9464",
 * "0.0.0.0:9464", ":9464" or "9464"; the host defaults to 127.0.0.1 and must
 * be an IP address or "localhost"; port 0 takes a free port, which
 * cs_httpd_port() reports).  One internal thread accepts connections and
 * calls the handler for every complete request; the handler fills the
 * response (status, content type, body, extra headers).  Request bodies are
 * read into memory up to max_body bytes: a larger one is answered 413 without
 * calling the handler.  Connections idle for timeout_s seconds are closed.
 *
 * Slow clients (slowloris): one client address holds at most max_per_ip of
 * the max_connections slots, and a request must be received whole (request
 * line, headers, body) within request_timeout_ms of the connection's accept
 * or of the previous answer on it (keep-alive); otherwise the connection is
 * shut down, however many bytes it trickles.  So an idle keep-alive
 * connection is closed after request_timeout_ms too.
 * The server's thread blocks every signal, so SIGTERM and friends reach the
 * program's own threads.
 *
 * Handlers run on the server's thread, one request at a time: they must not
 * block for long, and whatever they read must be safe to read from that
 * thread (a mutex, atomics).
 *
 * Logging: a failure to start is reported through errstr; libmicrohttpd's own
 * messages afterwards (a client that disconnects early) go to the debug log.
 *
 * Ownership: cs_httpd_start() returns a server stopped and freed by
 * cs_httpd_stop().  A request and a response are valid only during the
 * handler call; the strings a request returns are the server's.
 */
#ifndef CS_HTTPD_H
#define CS_HTTPD_H

#include <stddef.h>

#include "cs_buf.h"

#define CS_HTTPD_DEFAULT_MAX_BODY ((size_t)64 * 1024)
#define CS_HTTPD_MAX_HEADERS 8

typedef struct cs_httpd cs_httpd;
typedef struct cs_httpd_req cs_httpd_req;
typedef struct cs_httpd_resp cs_httpd_resp;

typedef void (*cs_httpd_handler)(void *ud, const cs_httpd_req *req, cs_httpd_resp *resp);

typedef struct cs_httpd_opts {
    const char *listen;         /* "host:port", see above */
    size_t max_body;            /* request body cap, 0 = 64 KiB */
    unsigned max_connections;   /* 0 = 64 */
    unsigned max_per_ip;        /* connections from one client address, 0 = 16 */
    unsigned timeout_s;         /* idle connection timeout, 0 = 15 */
    unsigned request_timeout_ms; /* a request (headers and body) must be complete
                                    this long after its first byte could come:
                                    0 = 3000; see below */
    const char *log_name;       /* component in log lines, NULL = "httpd" */
} cs_httpd_opts;

/* Checks a listen string without binding anything: 0, or -1 with errstr
 * saying what is wrong with it. */
int cs_httpd_check_listen(const char *listen, char *errstr, size_t errstr_size);

/* Starts listening; NULL with errstr filled ("listen 127.0.0.1:9464: Address
 * already in use") when the listen string is bad or the address cannot be
 * bound. */
cs_httpd *cs_httpd_start(const cs_httpd_opts *o, cs_httpd_handler handler, void *ud,
                         char *errstr, size_t errstr_size);
/* Closes the listening socket and every connection, waits for a running
 * handler to return, frees the server.  Accepts NULL. */
void cs_httpd_stop(cs_httpd *d);

int cs_httpd_port(const cs_httpd *d);            /* the bound port */
const char *cs_httpd_address(const cs_httpd *d); /* "127.0.0.1:9464", "[::1]:9464" */
/* 1 when bound to a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z). */
int cs_httpd_is_loopback(const cs_httpd *d);

/* ---- requests (valid during the handler call) ---- */

const char *cs_httpd_req_method(const cs_httpd_req *r);   /* "GET", "POST", ... */
const char *cs_httpd_req_path(const cs_httpd_req *r);     /* decoded, without the query */
/* Query parameter (decoded); "" when present without a value, NULL when
 * absent.  When a name repeats, the first wins. */
const char *cs_httpd_req_query(const cs_httpd_req *r, const char *name);
/* Request header, name case-insensitive; NULL when absent. */
const char *cs_httpd_req_header(const cs_httpd_req *r, const char *name);
/* The body, NUL-terminated ("" when none); *len gets its length. */
const char *cs_httpd_req_body(const cs_httpd_req *r, size_t *len);
/* The client's address as text ("127.0.0.1"), "" when unknown. */
const char *cs_httpd_req_peer(const cs_httpd_req *r);

/* ---- requests and responses without a server (tests, fuzzing) ---- */

/* A request made of parts, as the server would hand it to a handler: the
 * path decoded, query the raw query string (without '?': "a=1%202&flag",
 * decoded here like the server does), headers "Name: value" lines.  NULL
 * when out of memory.  Free with cs_httpd_req_free(). */
cs_httpd_req *cs_httpd_req_new(const char *method, const char *path, const char *query,
                               const char *const *headers, size_t n_headers,
                               const char *body, size_t body_len, const char *peer);
void cs_httpd_req_free(cs_httpd_req *r);
/* A response to fill as a handler does, and what was put in it. */
cs_httpd_resp *cs_httpd_resp_new(void);
void cs_httpd_resp_free(cs_httpd_resp *r);
int cs_httpd_resp_get_status(const cs_httpd_resp *r);
const char *cs_httpd_resp_get_type(const cs_httpd_resp *r);
/* A header added with cs_httpd_resp_header(), name case-insensitive; NULL when absent. */
const char *cs_httpd_resp_get_header(const cs_httpd_resp *r, const char *name);

/* ---- responses (default: 200, text/plain; charset=utf-8, empty) ---- */

void cs_httpd_resp_status(cs_httpd_resp *r, int status);
void cs_httpd_resp_type(cs_httpd_resp *r, const char *content_type);
/* The body to append to (cs_buf_append*); capped at 64 MiB. */
cs_buf *cs_httpd_resp_body(cs_httpd_resp *r);
/* Adds a header (copied); -1 when there are CS_HTTPD_MAX_HEADERS already,
 * the name holds a colon, or the name or value holds a CR or LF. */
int cs_httpd_resp_header(cs_httpd_resp *r, const char *name, const char *value);
/* Status, text/plain and a formatted body in one call. */
void cs_httpd_resp_text(cs_httpd_resp *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
