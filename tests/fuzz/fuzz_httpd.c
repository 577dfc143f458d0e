/*
 * fuzz_httpd: libFuzzer harness for the request handling of the two
 * embedded HTTP servers, without a socket (requests made of parts,
 * cs_httpd.h): what catalogsync-admin checks before routing
 * (common/cs_admin_gate.h) and the worker's handler (obs_http_handle).
 *
 * Input, split at '\n': method, request target ("/path?query"), client
 * address, then header lines "Name: value" up to an empty line, then the
 * body.  Each line is cut at its first NUL (as C strings are).
 *
 *   - cs_httpd_check_listen() on the target and on the address (the
 *     listen-string parser);
 *   - cs_httpd_req_new(), its query and header lookups;
 *   - cs_admin_gate_init() with the value of an "X-Allow" header as
 *     admin.allowed_hosts (a fresh gate, dropped);
 *   - cs_admin_gate_request() on a gate kept across inputs: every answer
 *     carries nosniff and frame-ancestors 'none'; a refusal is 421 and only
 *     for a Host the allow-list refuses, never for /healthz, /readyz;
 *   - cs_admin_gate_auth() for every POST, with a clock advancing by the
 *     body's first byte in seconds, so the throttle table fills, waits and
 *     forgets: a 1 means the header was exactly "Bearer <token>"; a
 *     refusal is 401 (with WWW-Authenticate) or 429 with a Retry-After of
 *     1 to 60 s;
 *   - obs_http_handle() of a worker_obs kept across inputs (its heartbeat
 *     renewed each time): 200 only for
 *     GET/HEAD of /metrics, /healthz, /readyz (503 for /readyz: never
 *     joined), 404 for any other path, 405 for other methods.
 * Any broken invariant abort()s.
 */
#include "cs_admin_gate.h"
#include "cs_config.h"
#include "cs_httpd.h"
#include "worker_obs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN "fuzz-token-0123456789abcdef"
#define MAX_HEADERS 64

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_httpd: %s\n", what);
        abort();
    }
}

/* The next line of [*p, end) as a new string cut at its first NUL. */
static char *next_line(const char **p, const char *end)
{
    const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
    *p = nl ? nl + 1 : end;
    char *out = strndup(s, n);
    if (!out)
        abort();
    return out;
}

static int is_one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return 1;
    return 0;
}

static void check_gate(cs_admin_gate *gate, const cs_httpd_req *req, const char *path,
                       const char *method, int64_t *now)
{
    char err[256];
    const char *allow = cs_httpd_req_header(req, "X-Allow");
    if (allow) {
        cs_admin_gate *g2 = malloc(sizeof *g2);
        check(g2 != NULL, "out of memory");
        cs_admin_gate_init(g2, "[::1]:8080", allow, TOKEN, err, sizeof err);
        cs_admin_gate_host_ok(g2, cs_httpd_req_header(req, "Host"));
        free(g2);
    }
    cs_httpd_resp *resp = cs_httpd_resp_new();
    check(resp != NULL, "out of memory");
    int ok = cs_admin_gate_request(gate, req, resp);
    const char *csp = cs_httpd_resp_get_header(resp, "content-security-policy");
    check(csp && strstr(csp, "frame-ancestors 'none'"), "no frame-ancestors");
    check(cs_httpd_resp_get_header(resp, "x-content-type-options") != NULL, "no nosniff");
    int probe = !strcmp(path, "/healthz") || !strcmp(path, "/readyz");
    int host_ok = cs_admin_gate_host_ok(gate, cs_httpd_req_header(req, "Host"));
    check(ok == (probe || host_ok), "gate verdict and host check disagree");
    check(ok || cs_httpd_resp_get_status(resp) == 421, "refusal is not 421");
    cs_httpd_resp_free(resp);
    if (!ok || strcmp(method, "POST") != 0)
        return;

    resp = cs_httpd_resp_new();
    check(resp != NULL, "out of memory");
    size_t blen;
    const char *body = cs_httpd_req_body(req, &blen);
    *now += blen ? (int64_t)(unsigned char)body[0] * 1000 : 1;
    const char *auth = cs_httpd_req_header(req, "Authorization");
    if (cs_admin_gate_auth(gate, req, resp, *now)) {
        check(auth && !strcmp(auth, "Bearer " TOKEN), "accepted a wrong token");
    } else {
        int st = cs_httpd_resp_get_status(resp);
        const char *ra = cs_httpd_resp_get_header(resp, "Retry-After");
        check(st == 401 || st == 429, "auth refusal is neither 401 nor 429");
        check(st != 401 || cs_httpd_resp_get_header(resp, "WWW-Authenticate"),
              "401 without WWW-Authenticate");
        long wait = ra ? strtol(ra, NULL, 10) : 0;
        check(st != 429 || (wait >= 1 && wait <= 60), "bad Retry-After");
    }
    cs_httpd_resp_free(resp);
}

static void check_worker(worker_obs *o, const cs_httpd_req *req, const char *path,
                         const char *method)
{
    static const char *const paths[] = {"/metrics", "/healthz", "/readyz", NULL};
    static const char *const gets[] = {"GET", "HEAD", NULL};
    cs_httpd_resp *resp = cs_httpd_resp_new();
    check(resp != NULL, "out of memory");
    obs_http_handle(o, req, resp);
    int st = cs_httpd_resp_get_status(resp);
    if (!is_one_of(path, paths))
        check(st == 404, "worker: unknown path not 404");
    else if (!is_one_of(method, gets))
        check(st == 405, "worker: other method not 405");
    else
        check(st == (strcmp(path, "/readyz") ? 200 : 503), "worker: wrong status");
    cs_httpd_resp_free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_admin_gate gate;
    static worker_obs *obs;
    static cs_config *cfg;
    static int64_t now = 1700000000000;
    char err[256];
    if (!obs) {
        static const char *const ids[] = {"main"};
        cs_admin_gate_init(&gate, "127.0.0.1:8080", "ops.example, proxy.example:8443", TOKEN,
                           err, sizeof err);
        cfg = cs_config_new();
        obs = cfg ? obs_new(cfg, "meta", ids, 1) : NULL;
        check(obs != NULL, "obs_new failed");
    }
    const char *p = (const char *)data, *end = p + size;
    char *method = next_line(&p, end), *target = next_line(&p, end), *peer = next_line(&p, end);
    char *headers[MAX_HEADERS];
    size_t n = 0;
    while (p < end && n < MAX_HEADERS) {
        char *h = next_line(&p, end);
        if (!h[0]) {
            free(h);
            break;
        }
        headers[n++] = h;
    }
    cs_httpd_check_listen(target, err, sizeof err);
    cs_httpd_check_listen(peer, err, sizeof err);
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    cs_httpd_req *req = cs_httpd_req_new(method, target, q, (const char *const *)headers, n,
                                         p, (size_t)(end - p), peer);
    check(req != NULL, "cs_httpd_req_new failed");
    check(!strcmp(cs_httpd_req_path(req), target), "path changed");
    static const char *const names[] = {"status", "limit", "sink", "productIds", "due", "", NULL};
    for (size_t i = 0; names[i]; i++) {
        const char *v = cs_httpd_req_query(req, names[i]);
        check(!v || strlen(v) <= (q ? strlen(q) : 0), "query value longer than the query");
    }
    check_gate(&gate, req, target, method, &now);
    obs_beat(obs);              /* the main loop is alive: /healthz is 200 */
    check_worker(obs, req, target, method);
    cs_httpd_req_free(req);
    for (size_t i = 0; i < n; i++)
        free(headers[i]);
    free(method);
    free(target);
    free(peer);
    return 0;
}
