"""catalogsync-worker --sink woocommerce end to end: the dev broker, a real
redis-server and fake WooCommerce stores over TLS with a test CA."""
import json
import subprocess
import tempfile
import time
import unittest

from harness import (Broker, Fake, FakeClient, Redis, Worker, make_tls, program, run,
                     wait_until)

CK, CS = "ck_" + "a" * 40, "cs_" + "b" * 40
PREFIX = "catalogsync:{woocommerce}:"


def product(i, version=1, **extra):
    p = {"id": "p%d" % i, "version": version, "sku": "SKU-%d" % i,
         "name": "Product %d v%d" % (i, version), "description": "Desc %d" % i,
         "price": {"amount": "%d.50" % (10 + i), "currency": "USD"}, "stock_quantity": 5,
         "is_active": True, "images": [], "attributes": [{"name": "COLOR", "value": "Red"}]}
    p.update(extra)
    return p


class WooStack:
    def __init__(self, test, stores=(("trash",), ("trash",)), partitions=3, linger_ms=50):
        self.test = test
        self.linger_ms = linger_ms
        self.redis = Redis(test)
        self.broker = Broker(test, partitions=partitions)
        tmp = tempfile.mkdtemp(prefix="cs-tls-")
        self.ca, cert, key = make_tls(tmp)
        self.fakes, self.clients, self.policies = [], [], []
        for (policy,) in stores:
            f = Fake("fake_woo.py", ["--key", CK, "--secret", CS, "--tls-cert", cert,
                                     "--tls-key", key], test)
            self.fakes.append(f)
            self.clients.append(FakeClient(f.addr, ca=self.ca))
            self.policies.append(policy)

    def config(self, extra_store=""):
        conns = []
        for n, (f, policy) in enumerate(zip(self.fakes, self.policies), start=1):
            conns.append('{ id = %d; name = "Store %d"; base_url = "https://%s"; '
                         'consumer_key = "env:WOO_KEY"; consumer_secret = "env:WOO_SECRET"; '
                         'ca_file = "%s"; delete_policy = "%s"; %s }'
                         % (n, n, f.addr, self.ca, policy, extra_store))
        return ('kafka = { brokers = "%s"; properties = ["session.timeout.ms=6000", '
                '"heartbeat.interval.ms=500"]; };\n'
                'redis = { port = %d; };\nlog = { level = "debug"; };\n'
                'worker = { linger_ms = %d; };\n'
                'retry = { schedule_ms = [100, 200, 400, 800]; jitter_pct = 0; '
                'throttle_default_ms = 300; auth_pause_ms = 800; };\n'
                'woocommerce = { connections = ( %s ); };\n'
                % (self.broker.brokers, self.redis.port, self.linger_ms, ", ".join(conns)))

    def worker(self, name="worker", config=None):
        return Worker(self.test, "woocommerce", config or self.config(),
                      env={"WOO_KEY": CK, "WOO_SECRET": CS}, name=name)

    def publish(self, items, *args):
        r = run([program("catalogsync-publish"), "-b", self.broker.brokers] + list(args),
                input="\n".join(json.dumps(i) for i in items) + "\n")
        self.test.assertEqual(r.returncode, 0, r.stderr)

    def hash(self, key):
        lines = self.redis.cli("HGETALL", PREFIX + key).splitlines()
        return dict(zip(lines[0::2], lines[1::2]))

    def state(self, store, pid):
        return self.hash("state:%d:default:%s" % (store, pid))

    def link(self, store, pid):
        return self.hash("link:%d:default:%s" % (store, pid))

    def wait_status(self, store, pid, status, timeout=30):
        return wait_until(lambda: self.state(store, pid).get("status") == status and
                          self.state(store, pid), timeout=timeout,
                          what="%s at store %d to be %s (now %s)" % (
                              pid, store, status, self.state(store, pid).get("status")))

    def products(self, store):
        return self.clients[store - 1].state()["products"]

    def by_sku(self, store, sku):
        return [p for p in self.products(store).values() if p.get("sku") == sku]

    def batch_items(self, store):
        out = []
        for r in self.clients[store - 1].requests("products/batch"):
            body = r.get("json") or {}
            out.append((body.get("create", []), body.get("update", []), body.get("delete", [])))
        return out


class WooWorkerTest(unittest.TestCase):
    def test_export_then_update_reaches_two_stores(self):
        s = WooStack(self)
        s.worker()
        s.publish([product(1)], "--type", "export_requested", "--connections", "1,2",
                  "--fields", "name,sku,price,COLOR")
        for store in (1, 2):
            s.wait_status(store, "p1", "synced")
            [p] = s.by_sku(store, "SKU-1")
            self.assertEqual(p["name"], "Product 1 v1")
            self.assertEqual(p["regular_price"], "11.50")
            self.assertEqual(p["attributes"][0]["options"], ["Red"])
            link = s.link(store, "p1")
            self.assertEqual(link["remote_id"], str(p["id"]))
            self.assertEqual(link["fields"].split(","), ["name", "sku", "price", "COLOR"])
            self.assertIn("last_exported_at", link)
        s.publish([product(1, version=2)], "--type", "updated")
        for store in (1, 2):
            wait_until(lambda: s.by_sku(store, "SKU-1")[0]["name"] == "Product 1 v2",
                       what="v2 at store %d" % store)
            self.assertEqual(len(s.by_sku(store, "SKU-1")), 1)
            self.assertEqual(s.link(store, "p1")["status"], "synced")

    def test_export_and_changes_in_one_batch_export_the_newest_data(self):
        s = WooStack(self, stores=(("trash",),), linger_ms=2000)
        # Published before any worker runs, so both sit in one batch: an
        # update (v2) and then an export carrying an older snapshot (v1).
        s.publish([product(1, version=2)], "--type", "updated")
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        s.worker()
        st = s.wait_status(1, "p1", "synced")
        self.assertEqual(st["synced_version"], "2")
        [p] = s.by_sku(1, "SKU-1")
        self.assertEqual(p["name"], "Product 1 v2")

    def test_unexported_product_is_not_pushed(self):
        s = WooStack(self, stores=(("trash",),))
        w = s.worker()
        s.publish([product(5)], "--type", "updated")
        wait_until(lambda: s.redis.cli("SISMEMBER", PREFIX + "not_linked:1", "default:p5") == "1",
                   what="p5 listed as not linked")
        self.assertEqual(s.products(1), {})
        self.assertEqual(s.state(1, "p5"), {})
        self.assertEqual(s.clients[0].requests("products"), [])
        self.assertNotIn(CS, w.log())

    def test_attribute_and_asset_events(self):
        s = WooStack(self, stores=(("trash",),))
        s.worker()
        img1 = "https://cdn.shop.example/a.jpg"
        s.publish([product(1, images=[img1])], "--type", "export_requested", "--connections", "1",
                  "--fields", "name,sku,price,images,COLOR")
        s.wait_status(1, "p1", "synced")
        self.assertEqual(s.clients[0].stats()["image_uploads"], 1)
        s.publish([product(1, version=2, images=[img1],
                           attributes=[{"name": "COLOR", "value": "Navy"}])],
                  "--type", "attributes_updated", "--changed-fields", "COLOR")
        wait_until(lambda: s.by_sku(1, "SKU-1")[0]["attributes"][0]["options"] == ["Navy"],
                   what="COLOR Navy")
        s.publish([product(1, version=3, images=[img1, "https://cdn.shop.example/b.jpg"],
                           attributes=[{"name": "COLOR", "value": "Navy"}])],
                  "--type", "assets_updated", "--changed-fields", "images")
        wait_until(lambda: len(s.by_sku(1, "SKU-1")[0]["images"]) == 2, what="two images")
        # The first image was uploaded once and then reused by id.
        self.assertEqual(s.clients[0].stats()["image_uploads"], 2)

    def test_partial_update_sends_only_changed_fields(self):
        s = WooStack(self, stores=(("trash",),))
        s.worker()
        s.publish([product(1)], "--type", "export_requested", "--connections", "1",
                  "--fields", "name,sku,price,description", "--partial-update")
        s.wait_status(1, "p1", "synced")
        s.publish([product(1, version=2, name="Renamed", price={"amount": "99", "currency": "USD"})],
                  "--type", "updated", "--changed-fields", "price")
        wait_until(lambda: s.by_sku(1, "SKU-1")[0]["regular_price"] == "99.00", what="price")
        _, updates, _ = s.batch_items(1)[-1]
        self.assertEqual(set(updates[0]) - {"id"}, {"regular_price", "sale_price"})
        self.assertEqual(s.by_sku(1, "SKU-1")[0]["name"], "Product 1 v1")   # not sent
        self.assertEqual(s.link(1, "p1")["last_modified_fields"], "price")

    def test_sku_already_in_store_is_adopted(self):
        s = WooStack(self, stores=(("trash",),))
        seeded = s.clients[0].call("POST", "/_fake/seed", {"products": [
            {"name": "Old name", "sku": "SKU-1", "regular_price": "1.00"}]})
        s.worker()
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        s.wait_status(1, "p1", "synced")
        [p] = s.by_sku(1, "SKU-1")
        self.assertEqual(p["name"], "Product 1 v1")
        self.assertEqual(s.link(1, "p1")["remote_id"], str(p["id"]))
        self.assertTrue(seeded)
        self.assertTrue(all(not c for c, _, _ in s.batch_items(1)), "no create was sent")

    def test_create_whose_answer_was_dropped_is_not_duplicated(self):
        s = WooStack(self, stores=(("trash",),))
        s.clients[0].faults({"match": {"method": "POST", "path_re": "products/batch"},
                             "count": 1, "action": "drop_response"})
        s.worker()
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        s.wait_status(1, "p1", "synced")
        [p] = s.by_sku(1, "SKU-1")
        self.assertEqual(s.link(1, "p1")["remote_id"], str(p["id"]))
        dropped = [r for r in s.clients[0].requests("products/batch") if r["fault"] == "drop_response"]
        self.assertEqual(len(dropped), 1)

    def test_batch_of_250_is_split(self):
        s = WooStack(self, stores=(("trash",),))
        s.publish([product(i) for i in range(250)], "--type", "export_requested",
                  "--connections", "1")
        s.worker()
        wait_until(lambda: len(s.products(1)) == 250, timeout=60, what="250 products")
        calls = s.batch_items(1)
        self.assertGreaterEqual(len(calls), 3)
        self.assertTrue(all(len(c) + len(u) + len(d) <= 100 for c, u, d in calls))
        for i in (0, 125, 249):
            s.wait_status(1, "p%d" % i, "synced")

    def test_413_halves_the_batch(self):
        s = WooStack(self, stores=(("trash",),), linger_ms=2000)
        s.clients[0].call("POST", "/_fake/config", {"batch_limit": 30})
        s.publish([product(i) for i in range(60)], "--type", "export_requested",
                  "--connections", "1")
        w = s.worker()
        wait_until(lambda: len(s.products(1)) == 60, timeout=60, what="60 products")
        w.wait_log("answered 413 to a batch of")
        sizes = [len(c) + len(u) for c, u, _ in s.batch_items(1)]
        self.assertTrue(any(n > 30 for n in sizes), sizes)      # refused with 413
        self.assertGreaterEqual(sum(n for n in sizes if n <= 30), 60, sizes)

    def test_429_pauses_the_store_without_charging(self):
        s = WooStack(self, stores=(("trash",),))
        s.clients[0].faults({"match": {"path_re": "products"}, "count": 1, "action": "rate_limit",
                             "retry_after": 1})
        w = s.worker()
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        w.wait_log("store 1 paused (throttle)")
        st = s.wait_status(1, "p1", "synced")
        self.assertEqual(st["attempts"], "1")
        self.assertEqual(len(s.by_sku(1, "SKU-1")), 1)

    def test_huge_retry_after_pauses_the_store_for_24_hours_at_most(self):
        # Retry-After: 9223372036854775 (s) overflowed now + delay: the store
        # was not paused and every flush sent a request. Clamped to 24 h
        # (CS_CHANNEL_MAX_PAUSE_MS), as Meta's throttling already was.
        day_ms = 24 * 3600 * 1000
        s = WooStack(self, stores=(("trash",),))
        s.clients[0].faults({"match": {"path_re": "products"}, "count": 1, "action": "rate_limit",
                             "retry_after": 9223372036854775})
        w = s.worker()
        before = int(time.time() * 1000)
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        w.wait_log("store 1 paused (throttle)")
        pause = s.hash("pause:1")
        self.assertEqual(pause.get("kind"), "throttle", pause)
        until = int(pause["until"])
        self.assertGreaterEqual(until, before + day_ms)
        self.assertLessEqual(until, int(time.time() * 1000) + day_ms)
        st = s.wait_status(1, "p1", "retry_pending")
        self.assertEqual(int(st["next_attempt"]), until)
        self.assertEqual(st["attempts"], "0")               # a throttle is not charged
        # A later event of another product waits for the same pause instead
        # of reaching the store.
        s.publish([product(2)], "--type", "export_requested", "--connections", "1")
        st = s.wait_status(1, "p2", "retry_pending")
        self.assertEqual(int(st["next_attempt"]), until)
        self.assertEqual(len(s.clients[0].requests("products")), 1)

    def test_per_item_error_fails_that_product(self):
        s = WooStack(self, stores=(("trash",),))
        s.clients[0].faults({"action": "item_error", "sku": "SKU-2",
                             "code": "woocommerce_product_image_upload_error",
                             "message": "Error getting remote image URL."})
        s.worker()
        s.publish([product(1), product(2)], "--type", "export_requested", "--connections", "1")
        s.wait_status(1, "p1", "synced")
        st = s.wait_status(1, "p2", "failed")
        self.assertEqual(st["last_error_code"], "woocommerce_product_image_upload_error")
        self.assertEqual(st["last_error_message"], "Error getting remote image URL.")
        self.assertEqual(s.link(1, "p2")["status"], "failed")
        # Stats per store: counts per status and the latest errors.
        counts = s.hash("counts:1")
        self.assertEqual((counts.get("synced"), counts.get("failed"), counts.get("pending")),
                         ("1", "1", "0"))
        latest = json.loads(s.redis.cli("LINDEX", PREFIX + "errors:1", "0"))
        self.assertEqual(latest["product"], "default:p2")
        self.assertEqual(latest["code"], "woocommerce_product_image_upload_error")

    def test_delete_under_each_policy_leaves_no_link(self):
        s = WooStack(self, stores=(("trash",), ("force",), ("unlink",)))
        s.worker()
        s.publish([product(1)], "--type", "export_requested", "--connections", "1,2,3")
        for store in (1, 2, 3):
            s.wait_status(store, "p1", "synced")
        s.publish([{"id": "p1", "version": 2, "sku": "SKU-1"}], "--type", "deleted")
        for store in (1, 2, 3):
            wait_until(lambda: s.link(store, "p1") == {} and s.state(store, "p1") == {},
                       what="store %d link and state removed" % store)
        self.assertEqual([p["status"] for p in s.by_sku(1, "SKU-1")], ["trash"])
        self.assertEqual(s.by_sku(2, "SKU-1"), [])
        self.assertEqual(len(s.by_sku(3, "SKU-1")), 1)      # unlink leaves the product
        self.assertEqual(s.redis.cli("HEXISTS", PREFIX + "snap", "1|default:p1"), "0")

    def test_one_store_down_the_other_keeps_syncing(self):
        s = WooStack(self)
        s.clients[1].faults({"match": {"path_re": "products"}, "count": 1000,
                             "action": "http_status", "status": 500, "body": "<html>down</html>"})
        s.worker()
        s.publish([product(1), product(2)], "--type", "export_requested", "--connections", "1,2")
        s.wait_status(1, "p1", "synced")
        s.wait_status(1, "p2", "synced")
        st = s.wait_status(2, "p1", "failed", timeout=40)
        self.assertEqual(st["attempts"], "5")
        self.assertIn("HTTP 500", st["last_error_message"])
        self.assertEqual(s.products(2), {})

    def test_tls_is_verified_unless_explicitly_turned_off(self):
        s = WooStack(self, stores=(("trash",),))
        # Without the test CA the store's certificate is not trusted: nothing is
        # sent, the store is paused with an alert.
        w = s.worker(config=s.config().replace('ca_file = "%s"; ' % s.ca, ""))
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        w.wait_log("ALERT: store 1 paused (auth)")
        self.assertEqual(s.clients[0].requests("products"), [])
        w.stop()
        # insecure_tls turns verification off, and says so at every start.
        w2 = s.worker(name="insecure", config=s.config(extra_store="insecure_tls = true;")
                      .replace('ca_file = "%s"; ' % s.ca, ""))
        w2.wait_log("TLS certificate verification is OFF")

    def test_basic_auth_over_plain_http_is_refused(self):
        s = WooStack(self, stores=(("trash",),))
        conf = s.config().replace("https://", "http://")
        w = s.worker(config=conf)
        wait_until(lambda: not w.proc.alive(), what="worker to exit")
        self.assertEqual(w.proc.p.returncode, 78)
        self.assertIn("over plain http:// is refused", w.log())


if __name__ == "__main__":
    unittest.main()
