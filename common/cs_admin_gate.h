/*
 * cs_admin_gate: what catalogsync-admin checks before it routes a request,
 * as pure functions of the request (no socket, no Redis), so that unit tests
 * and the fuzz_httpd harness drive them directly.
 *
 * - Security headers on every answer: nosniff, a Content-Security-Policy
 *   without inline scripts and with frame-ancestors 'none', X-Frame-Options,
 *   Referrer-Policy, Cache-Control: no-store.
 * - Host check (DNS rebinding): the Host header must name the server: its
 *   listen address, localhost, 127.0.0.1 or [::1] with its port, or one of
 *   admin.allowed_hosts ("name" matches any port, "name:port" that port).
 *   /healthz and /readyz are exempt (they tell nothing, and orchestrators'
 *   probes send the pod's address as Host).  Refused: 421.
 * - Bearer token of changes, compared in constant time, and throttled per
 *   client address: after CS_GATE_FREE_FAILS failures in a row, the address
 *   waits 1 s, then 2 s, 4 s ... up to 60 s between attempts (429 with
 *   Retry-After, the token not even compared).  A success clears the count;
 *   an address without a failure for 15 minutes is forgotten.  The table
 *   holds CS_GATE_PEERS addresses (the one idle longest is dropped first).
 *
 * Not thread-safe: catalogsync-admin calls it from the server thread only.
 */
#ifndef CS_ADMIN_GATE_H
#define CS_ADMIN_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "cs_httpd.h"

#define CS_GATE_MAX_HOSTS  32
#define CS_GATE_PEERS      64
#define CS_GATE_FREE_FAILS 5
#define CS_GATE_MAX_WAIT_MS 60000
#define CS_GATE_FORGET_MS  (15 * 60 * 1000)

typedef struct cs_gate_peer {
    char addr[48];
    int fails;
    int64_t last_ms;            /* last failure */
    int64_t until_ms;           /* no attempt before */
} cs_gate_peer;

typedef struct cs_admin_gate {
    char hosts[CS_GATE_MAX_HOSTS][256];     /* lower case, "name" or "name:port" */
    size_t n_hosts;
    char token[512];                        /* "" = changes refused */
    cs_gate_peer peers[CS_GATE_PEERS];
} cs_admin_gate;

/* address: the bound "host:port" (cs_httpd_address()); extra: the
 * comma-separated admin.allowed_hosts.  -1 with errstr when an entry is
 * empty, too long, holds characters a host name cannot, or there are too
 * many. */
int cs_admin_gate_init(cs_admin_gate *g, const char *address, const char *extra,
                       const char *token, char *errstr, size_t errstr_size);

/* 1 when the Host header value names this server (NULL: no). */
int cs_admin_gate_host_ok(const cs_admin_gate *g, const char *host);

/* Adds the security headers, then checks Host: 1 when the request may be
 * routed, 0 when resp holds the refusal. */
int cs_admin_gate_request(const cs_admin_gate *g, const cs_httpd_req *req, cs_httpd_resp *resp);

/* For a change: 1 when the bearer token is right; 0 when resp holds the
 * refusal (403 no token configured, 429 throttled, 401 missing or wrong). */
int cs_admin_gate_auth(cs_admin_gate *g, const cs_httpd_req *req, cs_httpd_resp *resp,
                       int64_t now_ms);

/* Constant-time comparison (length aside). */
int cs_admin_token_equal(const char *have, const char *want);

#endif
