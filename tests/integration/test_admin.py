"""catalogsync-admin: the JSON API, /metrics and the auth of changes, against
state produced by real worker runs (dev broker, redis-server, fake channels)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

from harness import Proc, program, run, wait_until, wrap
from test_meta_worker import TOKEN, MetaStack, product
from test_woo_worker import CK, CS, WooStack
from test_worker_http import check_health_under_slowloris
from test_woo_worker import product as woo_product

ADMIN_TOKEN = "admin-token-for-tests-91c2"


class Admin:
    """A catalogsync-admin process on a free loopback port."""

    def __init__(self, test, config_text, env=None, extra=""):
        d = tempfile.mkdtemp(prefix="cs-admin-")
        self.conf = os.path.join(d, "admin.conf")
        with open(self.conf, "w") as f:
            f.write(config_text + extra)
        self.proc = Proc("admin", wrap([program("catalogsync-admin"), "--config", self.conf,
                                        "--listen", "127.0.0.1:0"]), env=env)
        test.addCleanup(self.proc.stop)
        line = wait_until(lambda: re.search(r"listening on http://(\S+) ", self.proc.read_log()),
                          what="admin listening")
        self.base = "http://" + line.group(1)

    def call(self, method, path, body=None, token=None, raw=False, host=None, full=False):
        headers = {"Accept": "application/json"}
        if host:
            headers["Host"] = host
        if body is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, text, hdrs = r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            status, text, hdrs = e.code, e.read().decode(), e.headers
        ctype = hdrs["Content-Type"]
        if full:
            return status, text, hdrs
        if raw:
            return status, text, ctype
        return status, (json.loads(text) if text and "json" in (ctype or "") else text)


def check_exposition(test, text):
    """The Prometheus text format, strictly: every line a comment or a sample,
    TYPE before samples, one family each, counters ending _total."""
    types = {}
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"'
                        r'(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*)?\})? (-?[0-9.e+]+|NaN|[+-]Inf)$')
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            test.assertNotIn(name, types, "family declared twice: " + name)
            test.assertIn(kind, ("counter", "gauge", "histogram", "summary", "untyped"))
            types[name] = kind
            continue
        m = sample.match(line)
        test.assertTrue(m, "not a sample line: %r" % line)
        name = m.group(1)
        test.assertTrue(name.startswith("catalogsync_"), name)
        test.assertIn(name, types, "sample before its TYPE: " + name)
        if types[name] == "counter":
            test.assertTrue(name.endswith("_total"), name)
        test.assertNotIn("product", m.group(2) or "")
    test.assertTrue(text.endswith("\n"))
    return types


def metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


class AdminMetaTest(unittest.TestCase):
    def setUp(self):
        s = self.s = MetaStack(self, schedule="60000, 60000, 60000, 60000")
        s.meta.faults({"action": "item_error", "retailer_id": "SKU-2", "count": 1000,
                       "message": "(#10801) Image URL not accessible"})
        self.w = s.worker()
        s.publish([product(1), product(2)], "--type", "updated")
        s.wait_status("p1", "synced")
        s.wait_status("p2", "failed")
        self.a = Admin(self, s.config(), env={"CS_META_TOKEN": TOKEN, "CS_ADMIN_TOKEN": ADMIN_TOKEN},
                       extra='admin = { token = "env:CS_ADMIN_TOKEN"; };\n')

    def test_sync_status_and_stats_have_the_seed_shape(self):
        st, doc = self.a.call("GET", "/v1/connections/main/sync-status?productIds=p1,p2,p404")
        self.assertEqual(st, 200)
        by = {d["productId"]: d for d in doc["data"]}
        self.assertEqual(by["p1"]["syncStatus"], "synced")
        self.assertIsNone(by["p1"]["errorMessage"])
        self.assertEqual(by["p2"]["syncStatus"], "failed")
        self.assertEqual(by["p2"]["errorMessage"], "(#10801) Image URL not accessible")
        self.assertEqual(by["p404"]["syncStatus"], "not_synced")
        self.assertEqual(self.a.call("GET", "/v1/connections/nope/sync-status?productIds=1")[0], 404)
        self.assertEqual(self.a.call("GET", "/v1/connections/main/sync-status")[0], 400)
        st, doc = self.a.call("GET", "/v1/connections/main/stats")
        self.assertEqual(doc["data"]["counts"]["synced"], 1)
        self.assertEqual(doc["data"]["counts"]["failed"], 1)
        self.assertEqual(doc["data"]["last_hour"]["synced"], 1)

    def test_products_filter_and_show(self):
        st, doc = self.a.call("GET", "/v1/products?status=failed")
        self.assertEqual([p["product"] for p in doc["data"]], ["default:p2"])
        st, doc = self.a.call("GET", "/v1/products?q=image+url")
        self.assertEqual(doc["matched"], 1)
        st, doc = self.a.call("GET", "/v1/products?q=nothing-like-this")
        self.assertEqual(doc["matched"], 0)
        self.assertEqual(self.a.call("GET", "/v1/products?status=bogus")[0], 400)
        st, doc = self.a.call("GET", "/v1/products/p2")
        self.assertEqual(doc["connections"][0]["state"]["status"], "failed")
        self.assertEqual(self.a.call("GET", "/v1/products/p999")[0], 404)

    def test_reset_needs_the_bearer_token(self):
        body = {"products": ["p2"]}
        self.assertEqual(self.a.call("POST", "/v1/reset", body)[0], 401)
        self.assertEqual(self.a.call("POST", "/v1/reset", body, token="wrong")[0], 401)
        self.assertEqual(self.a.call("POST", "/v1/reset", {"nonsense": 1}, token=ADMIN_TOKEN)[0], 400)
        self.assertEqual(self.a.call("GET", "/v1/reset")[0], 405)
        self.assertEqual(self.a.call("DELETE", "/v1/products/p2")[0], 405)
        self.assertEqual(self.s.state("p2")["status"], "failed")    # nothing changed so far
        self.s.meta.call("DELETE", "/_fake/faults")
        st, doc = self.a.call("POST", "/v1/reset", {"failed": True}, token=ADMIN_TOKEN)
        self.assertEqual((st, doc["queued"]), (200, 1))
        self.s.wait_status("p2", "synced")
        log = self.a.proc.read_log()
        self.assertIn("reset from 127.0.0.1: 1 queued", log)
        self.assertNotIn(ADMIN_TOKEN, log)

    def test_metrics_health_and_readiness(self):
        st, text, ctype = self.a.call("GET", "/metrics", raw=True)
        self.assertEqual(st, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"))
        types = check_exposition(self, text)
        self.assertEqual(types["catalogsync_products"], "gauge")
        self.assertEqual(metric(text, "catalogsync_products", connection="main", status="synced"), 1)
        self.assertEqual(metric(text, "catalogsync_products", connection="main", status="failed"), 1)
        self.assertEqual(metric(text, "catalogsync_outcomes_total", outcome="synced"), 1)
        self.assertEqual(metric(text, "catalogsync_connection_paused", connection="main"), 0)
        self.assertGreaterEqual(metric(text, "catalogsync_oldest_out_of_date_seconds",
                                       connection="main"), 0)
        self.assertEqual(self.a.call("GET", "/healthz", raw=True)[0], 200)
        self.assertEqual(self.a.call("GET", "/readyz", raw=True)[0], 200)
        self.s.redis.stop()
        wait_until(lambda: self.a.call("GET", "/readyz", raw=True)[0] == 503, what="readyz 503")
        self.assertEqual(self.a.call("GET", "/v1/products")[0], 503)
        self.assertEqual(self.a.call("GET", "/healthz", raw=True)[0], 200)

    def test_page_is_served(self):
        st, text, ctype = self.a.call("GET", "/", raw=True)
        self.assertEqual((st, ctype.split(";")[0]), (200, "text/html"))
        self.assertIn('id="reset-all"', text)
        self.assertIn('<script src="/app.js">', text)
        st, js, ctype = self.a.call("GET", "/app.js", raw=True)
        self.assertEqual((st, ctype), (200, "text/javascript; charset=utf-8"))
        self.assertIn("✓ Synced", js)


class AdminConfigTest(unittest.TestCase):
    def test_changes_refused_without_a_token_and_loopback_by_default(self):
        s = MetaStack(self)
        a = Admin(self, s.config(), env={"CS_META_TOKEN": TOKEN})
        st, doc = a.call("POST", "/v1/reset", {"failed": True}, token="anything")
        self.assertEqual(st, 403)
        self.assertIn("set admin.token", doc["error"])
        self.assertIn("admin.token not set", a.proc.read_log())
        conf = os.path.join(os.path.dirname(a.conf), "tok.conf")
        with open(conf, "w") as f:
            f.write(s.config() + 'admin = { token = "env:SECRET_ADMIN"; };\n')
        r = run([program("catalogsync-admin"), "--config", conf, "--check-config"],
                env={"SECRET_ADMIN": "super-secret-admin-1"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('listen = "127.0.0.1:8080"', r.stdout)
        self.assertNotIn("super-secret-admin-1", r.stdout)
        r = run([program("catalogsync-admin"), "--config", conf, "--listen", "nonsense:port"],
                env={"SECRET_ADMIN": "x" * 16})
        self.assertEqual(r.returncode, 64, r.stderr)
        r = run([program("catalogsync-admin"), "--config", conf], env={})
        self.assertEqual(r.returncode, 78)
        self.assertIn("SECRET_ADMIN", r.stderr)


class AdminWooTest(unittest.TestCase):
    def test_sync_status_names_the_store_product_and_export_time(self):
        s = WooStack(self, stores=(("trash",),))
        s.worker()
        s.publish([woo_product(1)], "--type", "export_requested", "--connections", "1")
        s.wait_status(1, "p1", "synced")
        a = Admin(self, s.config(), env={"WOO_KEY": CK, "WOO_SECRET": CS})
        st, doc = a.call("GET", "/v1/connections/1/sync-status?productIds=p1")
        self.assertEqual(st, 200)
        d = doc["data"][0]
        remote = [p for p in s.clients[0].state()["products"].values() if p["sku"] == "SKU-1"]
        self.assertEqual(d["remoteId"], remote[0]["id"])
        self.assertEqual(d["syncStatus"], "synced")
        self.assertGreater(d["lastExportedAt"], 0)


class AdminExposureTest(unittest.TestCase):
    """Issue 14, finding 8: Host check (DNS rebinding), security headers and no
    inline script, token length, throttled failures, a warning off loopback."""

    def setUp(self):
        self.s = MetaStack(self)
        self.a = Admin(self, self.s.config(), env={"CS_META_TOKEN": TOKEN,
                                                   "CS_ADMIN_TOKEN": ADMIN_TOKEN},
                       extra='admin = { token = "env:CS_ADMIN_TOKEN"; '
                             'allowed_hosts = "ops.example, proxy.example:8443"; };\n')
        self.port = self.a.base.rsplit(":", 1)[1]

    def test_host_header_must_name_the_server(self):
        for host in ("evil.example:%s" % self.port, "evil.example", "proxy.example:8444",
                     "127.0.0.2:%s" % self.port):
            for path in ("/", "/v1/products", "/v1/connections", "/metrics", "/app.js"):
                with self.subTest(host=host, path=path):
                    st, doc = self.a.call("GET", path, host=host)
                    self.assertEqual(st, 421)
                    self.assertIn("admin.allowed_hosts", doc["error"])
        st, doc = self.a.call("POST", "/v1/reset", {"failed": True}, token=ADMIN_TOKEN,
                              host="evil.example:" + self.port)
        self.assertEqual(st, 421)
        for host in ("127.0.0.1:" + self.port, "localhost:" + self.port, "ops.example",
                     "OPS.example:1234", "proxy.example:8443"):
            with self.subTest(host=host):
                self.assertEqual(self.a.call("GET", "/v1/products", host=host)[0], 200)
        # Probes may name the server any way (a pod address): no data there.
        self.assertEqual(self.a.call("GET", "/healthz", raw=True, host="10.9.8.7:80")[0], 200)

    def test_security_headers_and_no_inline_script(self):
        st, text, h = self.a.call("GET", "/", full=True)
        self.assertEqual(st, 200)
        csp = h["Content-Security-Policy"]
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        self.assertEqual(directives["frame-ancestors"], ["'none'"])
        self.assertEqual(directives["script-src"], ["'self'"])
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        self.assertEqual(h["X-Frame-Options"], "DENY")
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", text, re.S)
        self.assertEqual(scripts, [(' src="/app.js"', "")])
        st, js, h = self.a.call("GET", "/app.js", full=True)
        self.assertEqual(st, 200)
        self.assertEqual(h["Content-Type"], "text/javascript; charset=utf-8")
        self.assertIn('fetch("/v1/reset"', js)
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        for path in ("/v1/connections", "/metrics", "/nope"):
            st, _, h = self.a.call("GET", path, full=True)
            with self.subTest(path=path):
                self.assertEqual(h["X-Content-Type-Options"], "nosniff")
                self.assertIn("frame-ancestors 'none'", h["Content-Security-Policy"])

    def test_failed_tokens_are_throttled(self):
        body = {"products": ["p1"]}
        for i in range(5):
            st, doc = self.a.call("POST", "/v1/reset", body, token="wrong-%d" % i)
            self.assertEqual(st, 401, doc)
        # Now even the right token waits (429, Retry-After), then works.
        st, text, h = self.a.call("POST", "/v1/reset", body, token=ADMIN_TOKEN, full=True)
        self.assertEqual(st, 429, text)
        self.assertIn(h["Retry-After"], ("1", "2"))
        wait_until(lambda: self.a.call("POST", "/v1/reset", body, token=ADMIN_TOKEN)[0] == 200,
                   timeout=5, what="the right token accepted after the wait")
        self.assertIn("5 failed in a row", self.a.proc.read_log())
        self.assertNotIn(ADMIN_TOKEN, self.a.proc.read_log())

    def test_short_token_is_a_config_error(self):
        conf = os.path.join(os.path.dirname(self.a.conf), "short.conf")
        with open(conf, "w") as f:
            f.write(self.s.config() + 'admin = { token = "env:SHORT"; };\n')
        for args in ([], ["--check-config"]):
            with self.subTest(args=args):
                r = run([program("catalogsync-admin"), "--config", conf] + args,
                        env={"SHORT": "y" * 15})
                self.assertEqual(r.returncode, 78, r.stderr)
                self.assertIn("admin.token: 15 bytes, at least 16 are required", r.stderr)
                self.assertNotIn("y" * 15, r.stdout + r.stderr)
        r = run([program("catalogsync-admin"), "--config", conf, "--check-config"],
                env={"SHORT": "y" * 16})
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(conf, "w") as f:
            f.write(self.s.config() + 'admin = { allowed_hosts = "ok.example, not a host"; };\n')
        r = run([program("catalogsync-admin"), "--config", conf, "--listen", "127.0.0.1:0"])
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn('admin.allowed_hosts: "not a host"', r.stderr)

    def test_health_answers_while_a_peer_trickles(self):
        """Slowloris: 70 trickling connections cannot keep /healthz from answering."""
        check_health_under_slowloris(self, self.a.base[len("http://"):])

    def test_warning_when_not_on_loopback(self):
        self.assertNotIn("not a loopback address", self.a.proc.read_log())
        if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode:
            self.skipTest("needs unshare -n (a network namespace of its own)")
        # 0.0.0.0 inside a network namespace of its own (only a downed lo):
        # reachable by nothing, but not a loopback bind.
        p = Proc("admin-any", ["unshare", "-n"] + wrap(
            [program("catalogsync-admin"), "--config", self.a.conf, "--listen", "0.0.0.0:0"]),
            env={"CS_META_TOKEN": TOKEN, "CS_ADMIN_TOKEN": ADMIN_TOKEN})
        self.addCleanup(p.stop)
        wait_until(lambda: "listening on http://" in p.read_log(), what="admin listening")
        self.assertRegex(p.read_log(), r"WARN\s+admin: listening on 0\.0\.0\.0:\d+, not a "
                                       r"loopback address: .*admin\.allowed_hosts")


if __name__ == "__main__":
    unittest.main()
