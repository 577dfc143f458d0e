/* cs_httpd's request and response, shared by the server (cs_httpd.c) and
 * the requests made of parts (cs_httpd_parts.c).  Not for other modules. */
#ifndef CS_HTTPD_INT_H
#define CS_HTTPD_INT_H

#include <netinet/in.h>
#include <stddef.h>

#include "cs_buf.h"
#include "cs_httpd.h"

struct MHD_Connection;

struct cs_httpd_req {
    struct MHD_Connection *conn;    /* NULL: made of parts (cs_httpd_req_new) */
    const char *method;
    const char *path;
    cs_buf body;
    int too_big;
    char peer[INET6_ADDRSTRLEN];
    /* made of parts: decoded query pairs and header lines, owned */
    char **names, **values;         /* query pairs first, then headers */
    size_t n_query, n_headers;
    char *own;                      /* method and path */
};

struct cs_httpd_resp {
    int status;
    char type[128];
    cs_buf body;
    char *names[CS_HTTPD_MAX_HEADERS];
    char *values[CS_HTTPD_MAX_HEADERS];
    size_t n_headers;
};

void cs_httpd_resp_init_(cs_httpd_resp *r);
void cs_httpd_resp_free_(cs_httpd_resp *r);
/* Lookups in a request made of parts. */
const char *cs_httpd_parts_query(const cs_httpd_req *r, const char *name);
const char *cs_httpd_parts_header(const cs_httpd_req *r, const char *name);

#endif
