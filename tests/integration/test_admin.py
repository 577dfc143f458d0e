"""catalogsync-admin: the JSON API, /metrics and the auth of changes, against
state produced by real worker runs (dev broker, redis-server, fake channels)."""
import json
import os
import re
import tempfile
import unittest
import urllib.error
import urllib.request

from harness import Proc, program, run, wait_until, wrap
from test_meta_worker import TOKEN, MetaStack, product
from test_woo_worker import CK, CS, WooStack
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

    def call(self, method, path, body=None, token=None, raw=False):
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, text, ctype = r.status, r.read().decode(), r.headers["Content-Type"]
        except urllib.error.HTTPError as e:
            status, text, ctype = e.code, e.read().decode(), e.headers["Content-Type"]
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
        self.assertIn("✓ Synced", text)


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
                env={"SECRET_ADMIN": "x" * 8})
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


if __name__ == "__main__":
    unittest.main()
