#include "cs_admin_gate.h"
#include "cs_log.h"
#include "cs_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The page loads /app.js (no inline script); its styles are inline. */
#define CSP "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " \
            "img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; " \
            "form-action 'none'; frame-ancestors 'none'"

static void refuse(cs_httpd_resp *resp, int status, const char *msg)
{
    json_t *doc = json_pack("{s:s}", "error", msg);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    cs_httpd_resp_status(resp, status);
    cs_httpd_resp_type(resp, "application/json");
    cs_buf_reset(cs_httpd_resp_body(resp));
    cs_buf_appends(cs_httpd_resp_body(resp), s ? s : "{}");
    free(s);
    json_decref(doc);
}

/* Lower-cased copy of a host entry or Host value, -1 when it holds
 * something no host[:port] can. */
static int norm_host(const char *s, size_t n, char *out, size_t out_size)
{
    if (!n || n >= out_size)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("-._:[]", c))
            return -1;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return 0;
}

static int add_host(cs_admin_gate *g, const char *s, size_t n)
{
    if (g->n_hosts == CS_GATE_MAX_HOSTS)
        return -1;
    if (norm_host(s, n, g->hosts[g->n_hosts], sizeof g->hosts[0]) != 0)
        return -1;
    g->n_hosts++;
    return 0;
}

static void add_host_port(cs_admin_gate *g, const char *name, const char *port)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s:%s", name, port);
    if (n > 0 && (size_t)n < sizeof buf)
        add_host(g, buf, (size_t)n);
}

int cs_admin_gate_init(cs_admin_gate *g, const char *address, const char *extra,
                       const char *token, char *errstr, size_t errstr_size)
{
    memset(g, 0, sizeof *g);
    cs_strlcpy(g->token, token ? token : "", sizeof g->token);
    const char *colon = address ? strrchr(address, ':') : NULL;
    if (colon) {
        add_host(g, address, strlen(address));
        add_host_port(g, "localhost", colon + 1);
        add_host_port(g, "127.0.0.1", colon + 1);
        add_host_port(g, "[::1]", colon + 1);
    }
    for (const char *p = extra ? extra : ""; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (!n)
            break;
        if (add_host(g, p, n) != 0) {
            snprintf(errstr, errstr_size, "admin.allowed_hosts: \"%.*s\" is not a host name "
                     "or host:port (or more than %d names)", (int)(n > 80 ? 80 : n), p,
                     CS_GATE_MAX_HOSTS - 4);
            return -1;
        }
        p += n;
    }
    return 0;
}

int cs_admin_gate_host_ok(const cs_admin_gate *g, const char *host)
{
    char h[256];
    if (!host || norm_host(host, strlen(host), h, sizeof h) != 0)
        return 0;
    /* The name alone: "[::1]:8080" -> "[::1]", "a.example:80" -> "a.example". */
    const char *colon = strrchr(h, ':');
    size_t name_len = colon && (h[0] != '[' || colon[-1] == ']') ? (size_t)(colon - h)
                                                                 : strlen(h);
    for (size_t i = 0; i < g->n_hosts; i++) {
        const char *e = g->hosts[i];
        if (strcmp(e, h) == 0)
            return 1;
        /* An entry without a port matches the name on any port. */
        const char *ec = strrchr(e, ':');
        int e_has_port = ec && (e[0] != '[' || ec[-1] == ']');
        if (!e_has_port && strlen(e) == name_len && memcmp(e, h, name_len) == 0)
            return 1;
        /* A Host without a port means port 80. */
        if (e_has_port && name_len == strlen(h) && (size_t)(ec - e) == name_len &&
            memcmp(e, h, name_len) == 0 && strcmp(ec + 1, "80") == 0)
            return 1;
    }
    return 0;
}

int cs_admin_gate_request(const cs_admin_gate *g, const cs_httpd_req *req, cs_httpd_resp *resp)
{
    cs_httpd_resp_header(resp, "X-Content-Type-Options", "nosniff");
    cs_httpd_resp_header(resp, "Content-Security-Policy", CSP);
    cs_httpd_resp_header(resp, "X-Frame-Options", "DENY");
    cs_httpd_resp_header(resp, "Referrer-Policy", "no-referrer");
    cs_httpd_resp_header(resp, "Cache-Control", "no-store");
    const char *p = cs_httpd_req_path(req);
    if (!strcmp(p, "/healthz") || !strcmp(p, "/readyz"))
        return 1;
    if (!cs_admin_gate_host_ok(g, cs_httpd_req_header(req, "Host"))) {
        refuse(resp, 421, "this server is not reached by that name (Host header): list the "
               "names it is reached by in admin.allowed_hosts");
        return 0;
    }
    return 1;
}

int cs_admin_token_equal(const char *have, const char *want)
{
    size_t a = strlen(have), b = strlen(want);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)(have[i < a ? i : 0] ^ want[i]);
    return diff == 0;
}

static cs_gate_peer *peer_find(cs_admin_gate *g, const char *addr, int64_t now_ms, int add)
{
    cs_gate_peer *oldest = NULL;
    for (size_t i = 0; i < CS_GATE_PEERS; i++) {
        cs_gate_peer *p = &g->peers[i];
        if (p->addr[0] && now_ms - p->last_ms > CS_GATE_FORGET_MS && now_ms >= p->until_ms)
            memset(p, 0, sizeof *p);
        if (p->addr[0] && strcmp(p->addr, addr) == 0)
            return p;
        if (!oldest || !p->addr[0] || (oldest->addr[0] && p->last_ms < oldest->last_ms))
            oldest = p;
    }
    if (!add || !oldest)
        return NULL;
    memset(oldest, 0, sizeof *oldest);
    cs_strlcpy(oldest->addr, addr, sizeof oldest->addr);
    return oldest;
}

int cs_admin_gate_auth(cs_admin_gate *g, const cs_httpd_req *req, cs_httpd_resp *resp,
                       int64_t now_ms)
{
    const char *auth = cs_httpd_req_header(req, "Authorization");
    const char *addr = cs_httpd_req_peer(req);
    if (!g->token[0]) {
        refuse(resp, 403, "changes are disabled: set admin.token");
        return 0;
    }
    cs_gate_peer *p = peer_find(g, addr, now_ms, 0);
    if (p && now_ms < p->until_ms) {
        char after[32];
        snprintf(after, sizeof after, "%lld", (long long)((p->until_ms - now_ms + 999) / 1000));
        cs_httpd_resp_header(resp, "Retry-After", after);
        refuse(resp, 429, "too many failed attempts from this address: wait (Retry-After)");
        return 0;
    }
    if (auth && strncmp(auth, "Bearer ", 7) == 0 && cs_admin_token_equal(auth + 7, g->token)) {
        if (p)
            memset(p, 0, sizeof *p);
        return 1;
    }
    if ((p = peer_find(g, addr, now_ms, 1))) {
        p->fails++;
        p->last_ms = now_ms;
        if (p->fails >= CS_GATE_FREE_FAILS) {
            int shift = p->fails - CS_GATE_FREE_FAILS;
            int64_t wait = shift >= 6 ? CS_GATE_MAX_WAIT_MS : (int64_t)1000 << shift;
            p->until_ms = now_ms + (wait > CS_GATE_MAX_WAIT_MS ? CS_GATE_MAX_WAIT_MS : wait);
        }
    }
    cs_httpd_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"catalogsync\"");
    refuse(resp, 401, "a valid bearer token is required (Authorization: Bearer ...)");
    CS_WARN("admin", "reset refused: %s from %s (%d failed in a row)",
            auth ? "wrong token" : "no token", addr, p ? p->fails : 0);
    return 0;
}
