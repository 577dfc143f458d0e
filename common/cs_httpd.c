#include "cs_httpd.h"
#include "cs_httpd_int.h"
#include "cs_log.h"
#include "cs_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include <microhttpd.h>

#define HTTPD_DEFAULT_CONNS   64
#define HTTPD_DEFAULT_PER_IP  16
#define HTTPD_DEFAULT_TIMEOUT 15
#define HTTPD_DEFAULT_REQ_MS  3000
#define HTTPD_RESP_CAP        ((size_t)64 * 1024 * 1024)

/* One TCP connection, from accept to close (MHD's socket context). */
typedef struct httpd_conn {
    struct httpd_conn *prev, *next;
    int fd;
    int64_t since;              /* cs_mono_ms() when the current request began */
    int receiving;              /* its request is not complete yet */
    int cut;                    /* shut down for missing the deadline */
} httpd_conn;

struct cs_httpd {
    struct MHD_Daemon *mhd;
    pthread_t thread;
    int wake[2];                /* a byte in wake[1] stops the thread */
    atomic_int stop;
    httpd_conn *conns;          /* the server thread's only */
    int64_t request_ms;
    cs_httpd_handler handler;
    void *ud;
    size_t max_body;
    int port;
    int starting;               /* MHD messages go to start_err, not the log */
    char start_err[256];
    char log_name[32];
    char address[64];
    int loopback;
};

/* ---- listen strings ---- */

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                        char *errstr, size_t errstr_size)
{
    char host[64];
    const char *port;
    memset(ss, 0, sizeof *ss);
    if (!s || !*s) {
        snprintf(errstr, errstr_size, "listen address is empty (want host:port, "
                 "e.g. 127.0.0.1:9464)");
        return -1;
    }
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host) {
            snprintf(errstr, errstr_size, "\"%.80s\" is not [IPv6 address]:port", s);
            return -1;
        }
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon && memchr(s, ':', (size_t)(colon - s))) {
            snprintf(errstr, errstr_size, "\"%.80s\": write an IPv6 address in brackets, "
                     "e.g. [::1]:9464", s);
            return -1;
        }
        size_t n = colon ? (size_t)(colon - s) : 0;
        if (n >= sizeof host) {
            snprintf(errstr, errstr_size, "\"%.80s\": host too long", s);
            return -1;
        }
        memcpy(host, s, n);
        host[n] = '\0';
        port = colon ? colon + 1 : s;
    }
    int64_t p;
    if (!*port || cs_parse_i64(port, 0, 65535, &p) != 0) {
        snprintf(errstr, errstr_size, "\"%.80s\": the port must be a number from 0 to 65535 "
                 "(want host:port, e.g. 127.0.0.1:9464)", s);
        return -1;
    }
    if (!host[0] || strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (s[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof *v4;
        return 0;
    }
    if (s[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof *v6;
        return 0;
    }
    snprintf(errstr, errstr_size, "\"%.80s\": the host must be an IP address (or localhost), "
             "e.g. 127.0.0.1:9464 or [::1]:9464", s);
    return -1;
}

int cs_httpd_check_listen(const char *listen, char *errstr, size_t errstr_size)
{
    struct sockaddr_storage ss;
    socklen_t len;
    return parse_listen(listen, &ss, &len, errstr, errstr_size);
}

static void format_address(const struct sockaddr *sa, int port, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
        snprintf(out, n, "[%s]:%d", ip, port);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
        snprintf(out, n, "%s:%d", ip, port);
    }
}

/* ---- libmicrohttpd callbacks ---- */

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    cs_httpd *d = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (d->starting)
        cs_strlcpy(d->start_err, msg, sizeof d->start_err);
    else
        CS_DEBUG(d->log_name, "libmicrohttpd: %s", msg);
}

/* Connections are tracked so that the server thread can cut those whose
 * request is not complete within request_ms (sweep()): libmicrohttpd's own
 * timeout restarts with every byte, so a client trickling one header byte
 * a second would hold its slot for ever. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    cs_httpd *d = cls;
    httpd_conn *c = *socket_ctx;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(c = calloc(1, sizeof *c)))
            return;             /* untracked: only the idle timeout applies */
        c->fd = ci->connect_fd;
        c->since = cs_mono_ms();
        c->receiving = 1;
        c->next = d->conns;
        if (d->conns)
            d->conns->prev = c;
        d->conns = c;
        *socket_ctx = c;
    } else if (c) {
        if (c->prev)
            c->prev->next = c->next;
        else
            d->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        free(c);
        *socket_ctx = NULL;
    }
}

static httpd_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The request on conn is complete (answered) or over (the next one may
 * start: its clock starts now). */
static void conn_receiving(struct MHD_Connection *conn, int receiving)
{
    httpd_conn *c = conn_of(conn);
    if (c) {
        c->receiving = receiving;
        c->since = cs_mono_ms();
    }
}

static void sweep(cs_httpd *d, int64_t now)
{
    for (httpd_conn *c = d->conns; c; c = c->next) {
        if (!c->receiving || c->cut || now - c->since <= d->request_ms)
            continue;
        /* The socket stays open (libmicrohttpd closes it once it sees the
         * shutdown), so the descriptor cannot be someone else's. */
        shutdown(c->fd, SHUT_RDWR);
        c->cut = 1;
        CS_DEBUG(d->log_name, "closed a connection whose request was not complete within "
                 "%lld ms", (long long)d->request_ms);
    }
}

static int64_t next_sweep_ms(const cs_httpd *d, int64_t now)
{
    int64_t ms = -1;
    for (const httpd_conn *c = d->conns; c; c = c->next) {
        if (!c->receiving || c->cut)
            continue;
        int64_t left = c->since + d->request_ms - now + 1;
        if (left < 0)
            left = 0;
        if (ms < 0 || left < ms)
            ms = left;
    }
    return ms;
}

/* The server thread: libmicrohttpd in external mode (its epoll descriptor),
 * the deadline sweep between its runs, so both touch connections from this
 * one thread. */
static void *serve(void *arg)
{
    cs_httpd *d = arg;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    struct pollfd p[2] = {{di ? di->epoll_fd : -1, POLLIN, 0}, {d->wake[0], POLLIN, 0}};
    while (!atomic_load(&d->stop)) {
        int64_t now = cs_mono_ms(), ms = next_sweep_ms(d, now);
        MHD_UNSIGNED_LONG_LONG mhd_ms;
        if (MHD_get_timeout(d->mhd, &mhd_ms) == MHD_YES &&
            (ms < 0 || mhd_ms < (MHD_UNSIGNED_LONG_LONG)ms))
            ms = mhd_ms > 60000 ? 60000 : (int64_t)mhd_ms;
        poll(p, 2, (int)ms);
        MHD_run(d->mhd);
        sweep(d, cs_mono_ms());
    }
    return NULL;
}

static void on_completed(void *cls __attribute__((unused)), struct MHD_Connection *conn,
                         void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    if (why == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        conn_receiving(conn, 1);
    cs_httpd_req *r = *con_cls;
    if (!r)
        return;
    cs_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

void cs_httpd_resp_init_(cs_httpd_resp *r)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
    cs_strlcpy(r->type, "text/plain; charset=utf-8", sizeof r->type);
    cs_buf_init(&r->body, HTTPD_RESP_CAP);
}

void cs_httpd_resp_free_(cs_httpd_resp *r)
{
    cs_buf_free(&r->body);
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, const cs_httpd_resp *r)
{
    struct MHD_Response *mr = MHD_create_response_from_buffer(
        r->body.len, r->body.data ? r->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
    for (size_t i = 0; i < r->n_headers; i++)
        MHD_add_response_header(mr, r->names[i], r->values[i]);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return rc;
}

static enum MHD_Result send_too_big(struct MHD_Connection *conn, size_t cap)
{
    cs_httpd_resp r;
    cs_httpd_resp_init_(&r);
    cs_httpd_resp_text(&r, 413, "request body over %zu bytes\n", cap);
    enum MHD_Result rc = send_resp(conn, &r);
    cs_httpd_resp_free_(&r);
    return rc;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version __attribute__((unused)),
                                 const char *upload, size_t *upload_size, void **con_cls)
{
    cs_httpd *d = cls;
    cs_httpd_req *r = *con_cls;
    if (!r) {
        /* Headers are in: set up the request, refuse a declared oversize
         * body before reading it (the connection is then closed). */
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        cs_buf_init(&r->body, d->max_body);
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t declared;
        if (cl && cs_parse_i64(cl, 0, INT64_MAX, &declared) == 0 &&
            (uint64_t)declared > (uint64_t)d->max_body) {
            r->too_big = 1;
            conn_receiving(conn, 0);
            return send_too_big(conn, d->max_body);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        /* A body over the cap (chunked, no length) is read and dropped. */
        if (!r->too_big && cs_buf_append(&r->body, upload, *upload_size) != 0)
            r->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    conn_receiving(conn, 0);
    if (r->too_big)
        return send_too_big(conn, d->max_body);

    r->conn = conn;
    r->method = method;
    r->path = url;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->peer,
                      sizeof r->peer);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->peer,
                      sizeof r->peer);
    }
    cs_httpd_resp resp;
    cs_httpd_resp_init_(&resp);
    d->handler(d->ud, r, &resp);
    enum MHD_Result rc = send_resp(conn, &resp);
    cs_httpd_resp_free_(&resp);
    return rc;
}

/* ---- start / stop ---- */

/* Why an address could not be bound, asked of the kernel directly:
 * libmicrohttpd only says that starting failed. */
static int probe_bind(const struct sockaddr_storage *ss, socklen_t len)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, err = 0;
    if (fd < 0)
        return errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)ss, len) != 0)
        err = errno;
    close(fd);
    return err;
}

cs_httpd *cs_httpd_start(const cs_httpd_opts *o, cs_httpd_handler handler, void *ud,
                         char *errstr, size_t errstr_size)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char why[300];
    if (!o || !handler) {
        snprintf(errstr, errstr_size, "cs_httpd_start: missing options or handler");
        return NULL;
    }
    if (parse_listen(o->listen, &ss, &len, why, sizeof why) != 0) {
        snprintf(errstr, errstr_size, "%s", why);
        return NULL;
    }
    cs_httpd *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    d->handler = handler;
    d->ud = ud;
    d->max_body = o->max_body ? o->max_body : CS_HTTPD_DEFAULT_MAX_BODY;
    cs_strlcpy(d->log_name, o->log_name ? o->log_name : "httpd", sizeof d->log_name);
    d->request_ms = o->request_timeout_ms ? (int64_t)o->request_timeout_ms
                                          : HTTPD_DEFAULT_REQ_MS;
    d->wake[0] = d->wake[1] = -1;
    if (pipe2(d->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(errstr, errstr_size, "listen %s: pipe: %s", o->listen, strerror(errno));
        free(d);
        return NULL;
    }
    d->starting = 1;
    /* External mode on epoll: serve() runs libmicrohttpd and the deadline
     * sweep in one thread of ours. */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The server's thread inherits this thread's signal mask: block
     * everything while it is created so that signals reach the program's
     * own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    d->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, d,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, d,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, o->max_connections ? o->max_connections
                                                        : (unsigned)HTTPD_DEFAULT_CONNS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip ? o->max_per_ip
                                                          : (unsigned)HTTPD_DEFAULT_PER_IP,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, d,
        MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s ? o->timeout_s
                                                    : (unsigned)HTTPD_DEFAULT_TIMEOUT,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
        MHD_OPTION_END);
    d->starting = 0;
    int terr = d->mhd ? pthread_create(&d->thread, NULL, serve, d) : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!d->mhd || terr) {
        int err = d->mhd ? terr : probe_bind(&ss, len);
        snprintf(errstr, errstr_size, "listen %s: %s", o->listen,
                 err ? strerror(err) : d->start_err[0] ? d->start_err
                                                       : "libmicrohttpd could not start");
        if (d->mhd)
            MHD_stop_daemon(d->mhd);
        close(d->wake[0]);
        close(d->wake[1]);
        free(d);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
    d->port = di ? (int)di->port : 0;
    format_address((const struct sockaddr *)&ss, d->port, d->address, sizeof d->address);
    if (ss.ss_family == AF_INET) {
        d->loopback = (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    } else {
        const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        d->loopback = IN6_IS_ADDR_LOOPBACK(a6) ||
                      (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
    }
    return d;
}

void cs_httpd_stop(cs_httpd *d)
{
    if (!d)
        return;
    atomic_store(&d->stop, 1);
    while (write(d->wake[1], "x", 1) < 0 && errno == EINTR)
        ;
    pthread_join(d->thread, NULL);
    MHD_stop_daemon(d->mhd);        /* closes what is left, in this thread */
    close(d->wake[0]);
    close(d->wake[1]);
    free(d);
}

int cs_httpd_port(const cs_httpd *d)
{
    return d->port;
}

int cs_httpd_is_loopback(const cs_httpd *d)
{
    return d->loopback;
}

const char *cs_httpd_address(const cs_httpd *d)
{
    return d->address;
}

/* ---- requests ---- */

const char *cs_httpd_req_method(const cs_httpd_req *r)
{
    return r->method;
}

const char *cs_httpd_req_path(const cs_httpd_req *r)
{
    return r->path;
}

const char *cs_httpd_req_query(const cs_httpd_req *r, const char *name)
{
    const char *v = NULL;
    size_t n = 0;
    if (!r->conn)
        return cs_httpd_parts_query(r, name);
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                      &n) != MHD_YES)
        return NULL;
    return v ? v : "";
}

const char *cs_httpd_req_header(const cs_httpd_req *r, const char *name)
{
    if (!r->conn)
        return cs_httpd_parts_header(r, name);
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *cs_httpd_req_body(const cs_httpd_req *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

const char *cs_httpd_req_peer(const cs_httpd_req *r)
{
    return r->peer;
}

/* ---- responses ---- */

void cs_httpd_resp_status(cs_httpd_resp *r, int status)
{
    r->status = status;
}

void cs_httpd_resp_type(cs_httpd_resp *r, const char *content_type)
{
    cs_strlcpy(r->type, content_type, sizeof r->type);
}

cs_buf *cs_httpd_resp_body(cs_httpd_resp *r)
{
    return &r->body;
}

int cs_httpd_resp_header(cs_httpd_resp *r, const char *name, const char *value)
{
    if (r->n_headers == CS_HTTPD_MAX_HEADERS || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -1;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    r->names[r->n_headers] = n;
    r->values[r->n_headers++] = v;
    return 0;
}

void cs_httpd_resp_text(cs_httpd_resp *r, int status, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    cs_httpd_resp_type(r, "text/plain; charset=utf-8");
    cs_buf_reset(&r->body);
    va_start(ap, fmt);
    cs_buf_vappendf(&r->body, fmt, ap);
    va_end(ap);
}
