"""Secrets never leak: both workers run a full scenario at log level debug
(JSON logs) with distinctive credentials given through env: and file:
references — a Meta token and app secret (appsecret_proof on), a WooCommerce
key pair (Basic auth over TLS) and a Redis password — and no log, error
output or --check-config output may hold any of them, nor the values derived
from them (the Basic credentials in base64, the appsecret_proof)."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from test_admin import Admin
from harness import (Broker, Fake, FakeClient, Proc, Redis, Worker, free_port, make_tls,
                     program, run, wait_until)

META_TOKEN = "EAAGsecretMetaToken0x7Qz19LmKp2"
META_APP_SECRET = "appSecret-3f9c1b7e5d2a4c8e"
WOO_KEY = "ck_secretwookey_8d1f0c2b9a7e6d5c4b3a"
WOO_SECRET = "cs_secretwoosecret_1a2b3c4d5e6f7a8b9c"
REDIS_PASSWORD = "redisPass-5e7d9c1b3a"
CATALOG = "880022"

APPSECRET_PROOF = hmac.new(META_APP_SECRET.encode(), META_TOKEN.encode(),
                           hashlib.sha256).hexdigest()
BASIC = base64.b64encode(("%s:%s" % (WOO_KEY, WOO_SECRET)).encode()).decode()
SECRETS = {"meta token": META_TOKEN, "meta app secret": META_APP_SECRET,
           "woo consumer key": WOO_KEY, "woo consumer secret": WOO_SECRET,
           "redis password": REDIS_PASSWORD, "appsecret_proof": APPSECRET_PROOF,
           "basic credentials": BASIC}


class PasswordRedis(Redis):
    """redis-server with --requirepass; cli() authenticates."""

    def __init__(self, test, password):
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="cs-redis-")
        self.port = free_port()
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
               "--dir", self.dir, "--save", "", "--appendonly", "yes",
               "--maxmemory-policy", "noeviction", "--daemonize", "no",
               "--requirepass", password]
        self.proc = Proc("redis", cmd)
        test.addCleanup(self.stop)
        wait_until(self.ping, timeout=10, what="redis-server to answer PING")

    def cli(self, *args, auth=True):
        cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)]
        if auth:
            cmd += ["-a", self.password, "--no-auth-warning"]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=10)
        return r.stdout.strip()

    def hash(self, key):
        lines = self.cli("HGETALL", key).splitlines()
        return dict(zip(lines[0::2], lines[1::2]))


def product(i, version=1, **extra):
    p = {"id": "p%d" % i, "version": version, "sku": "SKU-%d" % i,
         "name": "Product %d v%d" % (i, version), "description": "Desc %d" % i,
         "price": {"amount": "%d.50" % (10 + i), "currency": "USD"}, "stock_quantity": 5,
         "is_active": True, "brand": "Acme", "link": "https://shop.example/p/%d" % i}
    p.update(extra)
    return p


class SecretsStack:
    def __init__(self, test):
        self.test = test
        self.tmp = tempfile.mkdtemp(prefix="cs-secrets-")
        test.addCleanup(shutil.rmtree, self.tmp, True)
        self.redis = PasswordRedis(test, REDIS_PASSWORD)
        self.broker = Broker(test, partitions=3)
        self.meta_fake = Fake("fake_meta.py", ["--token", META_TOKEN, "--app-secret",
                                               META_APP_SECRET, "--catalog", CATALOG], test)
        self.meta = FakeClient(self.meta_fake.addr)
        self.ca, cert, key = make_tls(self.tmp)
        self.woo_fake = Fake("fake_woo.py", ["--key", WOO_KEY, "--secret", WOO_SECRET,
                                             "--tls-cert", cert, "--tls-key", key], test)
        self.woo = FakeClient(self.woo_fake.addr, ca=self.ca)
        # Two secrets come from files (with the trailing newline editors add).
        self.app_secret_file = self.secret_file("meta_app_secret", META_APP_SECRET + "\n")
        self.woo_secret_file = self.secret_file("woo_secret", WOO_SECRET + "\n")
        self.conf = os.path.join(self.tmp, "catalogsync.conf")
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        # The worker of each sink gets only its own channel's secrets.
        self.meta_env = {"CS_META_TOKEN": META_TOKEN, "CS_REDIS_PASSWORD": REDIS_PASSWORD}
        self.woo_env = {"CS_WOO_KEY": WOO_KEY, "CS_REDIS_PASSWORD": REDIS_PASSWORD}
        self.outputs = {}       # name -> captured text, checked for secrets at the end

    def workers(self):
        with open(self.conf) as f:
            text = f.read()
        return (Worker(self.test, "meta", text, env=self.meta_env, name="meta-worker"),
                Worker(self.test, "woocommerce", text, env=self.woo_env, name="woo-worker"))

    def secret_file(self, name, value):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(value)
        os.chmod(path, 0o600)
        return path

    def config_text(self):
        return ('log = { level = "debug"; format = "json"; };\n'
                'kafka = { brokers = "%s"; properties = ["session.timeout.ms=6000", '
                '"heartbeat.interval.ms=500"]; };\n'
                'redis = { port = %d; password = "env:CS_REDIS_PASSWORD"; };\n'
                'worker = { linger_ms = 50; confirm_poll_ms = 10; shutdown_deadline_ms = 15000; };\n'
                'retry = { schedule_ms = [100, 200, 400, 800]; jitter_pct = 0; '
                'throttle_default_ms = 300; auth_pause_ms = 800; lease_ms = 3000; };\n'
                'meta = { catalogs = ( { id = "main"; base_url = "http://%s"; '
                'api_version = "v25.0"; catalog_id = "%s"; token = "env:CS_META_TOKEN"; '
                'placeholder_image_url = "https://shop.example/no-image.png"; '
                'app_secret = "file:%s"; } ); };\n'
                'woocommerce = { connections = ( { id = 1; name = "Store 1"; '
                'base_url = "https://%s"; consumer_key = "env:CS_WOO_KEY"; '
                'consumer_secret = "file:%s"; ca_file = "%s"; } ); };\n'
                % (self.broker.brokers, self.redis.port, self.meta_fake.addr, CATALOG,
                   self.app_secret_file, self.woo_fake.addr, self.woo_secret_file, self.ca))

    def run(self, name, cmd, env, input=None):
        r = run(cmd, input=input, env=env, timeout=60)
        self.outputs[name + " stdout"] = r.stdout
        self.outputs[name + " stderr"] = r.stderr
        return r

    def publish(self, items, *args):
        env = dict(self.meta_env)
        r = self.run("publish %d" % len(self.outputs),
                     [program("catalogsync-publish"), "--config", self.conf] + list(args),
                     env, input="\n".join(json.dumps(i) for i in items) + "\n")
        self.test.assertEqual(r.returncode, 0, r.stderr)
        return r

    def both(self, items):
        """Exports to store 1 (the WooCommerce worker) and sends the same
        snapshot as product.updated (the Meta worker: Meta takes no exports)."""
        self.publish(items, "--type", "export_requested", "--connections", "1")
        self.publish(items, "--type", "updated")

    def meta_state(self, pid):
        return self.redis.hash("catalogsync:{meta}:state:main:default:%s" % pid)

    def woo_state(self, pid):
        return self.redis.hash("catalogsync:{woocommerce}:state:1:default:%s" % pid)

    def wait(self, getter, pid, status, timeout=30):
        return wait_until(lambda: getter(pid).get("status") == status and getter(pid),
                          timeout=timeout, what="%s to be %s" % (pid, status))


def json_lines(test, name, text, strict):
    """Every log line in text is one JSON object with ts, level, component
    and msg (strict: every non-empty line is a log line)."""
    levels = set()
    n = 0
    for line in text.splitlines():
        if not line.strip() or (not strict and not line.startswith("{")):
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            test.fail("%s: a log line is not JSON (%s): %r" % (name, e, line[:300]))
        test.assertIsInstance(obj, dict, line)
        test.assertEqual(set(obj) - {"ts", "level", "component", "msg"}, set(), line)
        for k in ("ts", "level", "component", "msg"):
            test.assertIn(k, obj, "%s: %r" % (name, line[:300]))
        levels.add(obj["level"])
        n += 1
    return n, levels


class SecretsTest(unittest.TestCase):
    def assert_no_secrets(self, outputs):
        leaks = []
        for name, text in outputs.items():
            for what, secret in SECRETS.items():
                if secret in text:
                    i = text.index(secret)
                    leaks.append("%s in %s: ...%s..." % (what, name, text[max(0, i - 120):i + 60]))
        if leaks:
            self.fail("%d secret(s) leaked:\n%s" % (len(leaks), "\n".join(leaks)))

    def test_full_scenario_at_debug_level_leaks_no_secret(self):
        s = SecretsStack(self)
        # The password is really required, so the workers really used it.
        self.assertIn("NOAUTH", s.redis.cli("PING", auth=False))

        # --check-config of both workers and of the publisher.
        checks = {}
        for name, cmd, env in (
                ("meta check-config", [program("catalogsync-worker"), "--sink", "meta"], s.meta_env),
                ("woo check-config", [program("catalogsync-worker"), "--sink", "woocommerce"],
                 s.woo_env),
                ("publish check-config", [program("catalogsync-publish")], s.meta_env)):
            r = s.run(name, cmd + ["--config", s.conf, "--check-config"], env)
            self.assertEqual(r.returncode, 0, "%s: %s" % (name, r.stderr))
            checks[name] = r.stdout
        for text in checks.values():
            self.assertIn('password = "[REDACTED]";', text)
        self.assertIn('token = "[REDACTED]";', checks["meta check-config"])
        self.assertIn('app_secret = "[REDACTED]";', checks["meta check-config"])
        self.assertIn('consumer_key = "[REDACTED]";', checks["woo check-config"])
        self.assertIn('consumer_secret = "[REDACTED]";', checks["woo check-config"])
        # Secrets a program does not use stay references (never resolved).
        self.assertIn('token = "env:CS_META_TOKEN";', checks["woo check-config"])
        self.assertIn('consumer_key = "env:CS_WOO_KEY";', checks["meta check-config"])
        self.assertIn('consumer_secret = "file:%s";' % s.woo_secret_file,
                      checks["publish check-config"])

        mw, ww = s.workers()

        # Success on both channels.
        s.both([product(1)])
        st = s.wait(s.meta_state, "p1", "synced")
        self.assertEqual(st["synced_version"], "1")
        s.wait(s.woo_state, "p1", "synced")
        reqs = s.meta.requests("items_batch")
        self.assertTrue(reqs and all(r["auth"]["token_ok"] for r in reqs), reqs)
        self.assertTrue(all(r["query"].get("appsecret_proof") == APPSECRET_PROOF for r in reqs))
        wreqs = s.woo.requests("products")
        self.assertTrue(wreqs and all(r["auth"]["method"] == "basic" and r["auth"]["key"] == WOO_KEY
                                      for r in wreqs), wreqs)
        # A redelivery and a product never exported: debug lines on both workers.
        s.publish([product(1)], "--type", "updated")
        s.publish([product(9)], "--type", "updated")
        mw.wait_log("for main not pushed now: already synced")
        ww.wait_log("for 1 not pushed now: already synced")
        ww.wait_log("is not linked to store 1; not pushed")

        # Item errors (the channel echoes the credentials in the message).
        s.meta.faults({"action": "item_error", "retailer_id": "SKU-2",
                       "message": "Item rejected for token %s" % META_TOKEN})
        s.woo.faults({"action": "item_error", "sku": "SKU-2", "code": "fake_item_error",
                      "message": "Item rejected for key %s" % WOO_KEY})
        s.both([product(2)])
        s.wait(s.meta_state, "p2", "failed")
        s.wait(s.woo_state, "p2", "failed")

        # A transient Meta error quoting the token, then a retry that succeeds.
        s.meta.faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 1,
                       "action": "error", "code": 2,
                       "message": "Service unavailable for access_token=%s" % META_TOKEN})
        # WooCommerce answers 401 once (the store is paused, then resumes).
        s.woo.faults({"match": {"path_re": "products"}, "count": 1, "action": "error",
                      "status": 401, "code": "woocommerce_rest_authentication_error",
                      "message": "Consumer secret %s is invalid." % WOO_SECRET})
        s.both([product(3)])
        ww.wait_log("ALERT: store 1 paused (auth)")
        st = s.wait(s.meta_state, "p3", "synced")
        self.assertEqual(st["attempts"], "2")
        s.wait(s.woo_state, "p3", "synced")

        # Meta auth failure: the token expires.
        s.meta.call("POST", "/_fake/expire_token", {"token": META_TOKEN})
        s.publish([product(4)], "--type", "updated")
        mw.wait_log("ALERT: catalog main paused (auth)")
        st = wait_until(lambda: s.meta_state("p4").get("last_error_code") == "190" and
                        s.meta_state("p4"), what="p4 to fail with code 190")
        self.assertEqual(st["last_error_subcode"], "463")

        # SIGTERM: both stop cleanly.
        self.assertEqual(mw.stop(), 0)
        self.assertEqual(ww.stop(), 0)
        logs = {"meta worker log": mw.log(), "woo worker log": ww.log()}
        for name, text in logs.items():
            self.assertIn('"msg":"stopping:', text, name)

        # The echoed credentials were masked where they were logged.
        self.assertIn("Item rejected for token [REDACTED]", logs["meta worker log"])
        self.assertIn("Service unavailable for access_token=[REDACTED]", logs["meta worker log"])
        self.assertIn("Item rejected for key [REDACTED]", logs["woo worker log"])
        self.assertIn("Consumer secret [REDACTED] is invalid.", logs["woo worker log"])

        # Every log line is JSON; debug lines are there (the level was in effect).
        for name, text in logs.items():
            n, levels = json_lines(self, name, text, strict=True)
            self.assertGreater(n, 10, name)
            self.assertEqual(levels - {"error", "warn", "info", "debug"}, set(), name)
            self.assertIn("debug", levels, name)
            self.assertIn("error", levels, name)
        for name, text in s.outputs.items():
            json_lines(self, name, text, strict=False)

        outputs = dict(s.outputs)
        outputs.update(logs)
        self.assertGreaterEqual(len(outputs), 14)
        self.assert_no_secrets(outputs)

    def test_error_state_in_redis_holds_no_secret(self):
        # Channel messages that quote credentials are stored for operators
        # (last_error_message, the errors list): masked there too.
        s = SecretsStack(self)
        mw, ww = s.workers()
        s.meta.faults({"action": "item_error", "retailer_id": "SKU-5",
                       "message": "Item rejected for token %s" % META_TOKEN})
        s.woo.faults({"action": "item_error", "sku": "SKU-5", "code": "fake_item_error",
                      "message": "Item rejected for key %s / %s" % (WOO_KEY, WOO_SECRET)})
        s.both([product(5)])
        m = s.wait(s.meta_state, "p5", "failed")
        w = s.wait(s.woo_state, "p5", "failed")
        stored = {
            "meta state": json.dumps(m),
            "woo state": json.dumps(w),
            "meta errors": s.redis.cli("LRANGE", "catalogsync:{meta}:errors:main", "0", "-1"),
            "woo errors": s.redis.cli("LRANGE", "catalogsync:{woocommerce}:errors:1", "0", "-1"),
            "woo link": json.dumps(s.redis.hash("catalogsync:{woocommerce}:link:1:default:p5")),
        }
        self.assertIn("Item rejected for token", stored["meta state"])
        self.assertIn("Item rejected for key", stored["woo errors"])
        stored["meta worker log"] = mw.log()
        stored["woo worker log"] = ww.log()
        self.assert_no_secrets(stored)

    def test_derived_credentials_echoed_by_an_error_page_are_masked(self):
        # A proxy in front of the channel answers 502 with a page that quotes
        # the request: the URL with appsecret_proof, the Authorization header.
        # The worker logs a snippet of such pages; the derived credentials in
        # them must be masked like the secrets they come from.
        s = SecretsStack(self)
        mw, ww = s.workers()
        s.meta.faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 1,
                       "action": "http_status", "status": 502,
                       "body": "<html><body>502 Bad Gateway: POST /v21.0/%s/items_batch?"
                               "appsecret_proof=%s</body></html>" % (CATALOG, APPSECRET_PROOF)})
        s.woo.faults({"match": {"path_re": "products"}, "count": 1, "action": "http_status",
                      "status": 502, "body": "<html><body>502 Bad Gateway. Request headers: "
                                             "Authorization: Basic %s</body></html>" % BASIC})
        s.both([product(1)])
        self.assertEqual(s.wait(s.meta_state, "p1", "synced")["attempts"], "2")
        self.assertEqual(s.wait(s.woo_state, "p1", "synced")["attempts"], "2")
        logs = {"meta worker log": mw.log(), "woo worker log": ww.log()}
        self.assertIn("HTTP 502: <html><body>502 Bad Gateway: POST", logs["meta worker log"])
        self.assertIn("HTTP 502: <html><body>502 Bad Gateway. Request headers",
                      logs["woo worker log"])
        self.assert_no_secrets(logs)

    def test_auth_pauses_quoting_the_secrets_leak_nowhere(self):
        # Both channels answer 401 with a body that quotes the credentials.
        # The pause reason is stored in Redis (pause:C) and shown by
        # catalogsyncctl queue and catalogsync-admin (no authentication for
        # reads): masked everywhere, like error messages.
        s = SecretsStack(self)
        with open(s.conf) as f:
            text = f.read().replace("auth_pause_ms = 800", "auth_pause_ms = 600000")
        with open(s.conf, "w") as f:
            f.write(text)
        s.meta.faults({"match": {"path_re": "items_batch$"}, "count": 1, "action": "http_status",
                       "status": 401, "body": "Unauthorized: access_token=%s app_secret=%s"
                                              % (META_TOKEN, META_APP_SECRET)})
        s.woo.faults({"match": {"path_re": "products"}, "count": 1, "action": "error",
                      "status": 401, "code": "woocommerce_rest_authentication_error",
                      "message": "Consumer key %s with secret %s is invalid."
                                 % (WOO_KEY, WOO_SECRET)})
        mw, ww = s.workers()
        s.both([product(6)])
        mw.wait_log("ALERT: catalog main paused (auth)")
        ww.wait_log("ALERT: store 1 paused (auth)")
        pauses = {"meta": "catalogsync:{meta}:pause:main",
                  "woocommerce": "catalogsync:{woocommerce}:pause:1"}
        for key in pauses.values():
            reason = wait_until(lambda: s.redis.hash(key).get("reason"), what=key)
            self.assertIn("[REDACTED]", reason, key)
        s.wait(s.meta_state, "p6", "retry_pending")
        s.wait(s.woo_state, "p6", "retry_pending")

        # Every key and value in Redis.
        stored = {}
        for key in s.redis.cli("--scan").splitlines():
            kind = s.redis.cli("TYPE", key)
            dump = {"string": ("GET", key), "hash": ("HGETALL", key),
                    "list": ("LRANGE", key, "0", "-1"), "set": ("SMEMBERS", key),
                    "zset": ("ZRANGE", key, "0", "-1", "WITHSCORES")}[kind]
            stored["redis " + key] = key + "\n" + s.redis.cli(*dump)
        self.assertIn("redis " + pauses["meta"], stored)
        self.assertIn("redis " + pauses["woocommerce"], stored)

        # catalogsyncctl and catalogsync-admin, as an operator sees them.
        ctl_env = {"CS_REDIS_PASSWORD": REDIS_PASSWORD, "NO_COLOR": "1"}
        for args in (["queue"], ["queue", "--json"], ["status"], ["show", "p6"],
                     ["show", "p6", "--json"], ["stats"], ["stats", "--json"]):
            r = s.run("ctl " + " ".join(args), [program("catalogsyncctl"), "--config", s.conf]
                      + args, ctl_env)
            self.assertEqual(r.returncode, 0, "%s: %s" % (args, r.stderr))
        self.assertIn("PAUSED meta main (auth)", s.outputs["ctl queue stdout"])
        self.assertIn("PAUSED woocommerce 1 (auth)", s.outputs["ctl queue stdout"])
        self.assertIn("[REDACTED]", s.outputs["ctl queue stdout"])
        a = Admin(self, text, env={"CS_REDIS_PASSWORD": REDIS_PASSWORD})
        for path in ("/v1/connections/main/stats", "/v1/connections/1/stats",
                     "/v1/connections/1/stats?sink=woocommerce", "/v1/queue", "/v1/connections",
                     "/v1/products", "/v1/products/p6",
                     "/v1/connections/1/sync-status?productIds=p6", "/metrics", "/"):
            st, body, _ = a.call("GET", path, raw=True)
            self.assertEqual(st, 200, "%s: %s" % (path, body))
            stored["admin " + path] = body
        self.assertIn("[REDACTED]", stored["admin /v1/connections/main/stats"])
        self.assertIn("[REDACTED]", stored["admin /v1/connections/1/stats"])
        stored.update(s.outputs)
        stored["meta worker log"] = mw.log()
        stored["woo worker log"] = ww.log()
        stored["admin log"] = a.proc.read_log()
        self.assert_no_secrets(stored)

    def test_wrong_redis_password_is_reported_without_the_password(self):
        s = SecretsStack(self)
        wrong = "wrongRedisPass-0c4e8a"
        with open(s.conf) as f:
            text = f.read()
        w = Worker(self, "meta", text, env=dict(s.meta_env, CS_REDIS_PASSWORD=wrong),
                   name="meta-worker")
        s.publish([product(1)], "--type", "updated")
        try:
            reported = wait_until(lambda: any(
                '"component":"redis"' in line and '"level":"error"' in line
                for line in w.log().splitlines()), timeout=15)
        except AssertionError:
            reported = False
        if not reported:
            self.fail("a rejected Redis AUTH left no error in the log:\n" + w.log())
        self.assertTrue(w.proc.alive())
        self.assertEqual(s.meta_state("p1"), {})
        self.assert_no_secrets({"meta worker log": w.log()})
        self.assertNotIn(wrong, w.log())


if __name__ == "__main__":
    unittest.main()
