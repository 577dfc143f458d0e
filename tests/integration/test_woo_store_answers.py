"""catalogsync-worker --sink woocommerce against store behaviours of issue 15
(items 7-11): trashed products holding their SKU, lost answers, deleted
attachments, answers of a WAF instead of WooCommerce, timeouts, the store's
currency and stock setting.  Real Kafka, redis-server, the worker binary and
the fake store over TLS (WooStack of test_woo_worker.py)."""
import os
import tempfile
import unittest

from harness import program, run, wait_until
from test_woo_worker import CK, CS, PREFIX, WooStack, product

IMG = "https://cdn.shop.example/%s.jpg"


def batch_calls(s, store=1):
    """(method, create items, update items, fault) of every products/batch call."""
    out = []
    for r in s.clients[store - 1].requests("products/batch"):
        body = r.get("json") or {}
        out.append((r["method"], body.get("create", []), body.get("update", []), r["fault"]))
    return out


class WooStoreAnswersTest(unittest.TestCase):
    # ---- item 7 ----
    def test_export_after_trash_restores_the_trashed_product(self):
        # WooCommerce 9.3+ counts a trashed product's SKU for creates: the
        # create failed for good with woocommerce_rest_product_not_created.
        s = WooStack(self, stores=(("trash",),))
        w = s.worker()
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        s.wait_status(1, "p1", "synced")
        [first] = s.by_sku(1, "SKU-1")
        s.publish([{"id": "p1", "version": 2, "sku": "SKU-1"}], "--type", "deleted")
        wait_until(lambda: [p["status"] for p in s.by_sku(1, "SKU-1")] == ["trash"],
                   what="SKU-1 in the trash")
        wait_until(lambda: s.link(1, "p1") == {}, what="link removed")
        s.publish([product(1, version=3)], "--type", "export_requested", "--connections", "1")
        st = s.wait_status(1, "p1", "synced")
        self.assertEqual(st["synced_version"], "3")
        [p] = s.by_sku(1, "SKU-1")
        self.assertEqual((p["id"], p["status"], p["name"]), (first["id"], "publish", "Product 1 v3"))
        self.assertEqual(s.link(1, "p1")["remote_id"], str(first["id"]))
        w.wait_log("is in store 1's trash as #%d" % first["id"])
        trash_lookups = [r for r in s.clients[0].requests("products")
                         if r["method"] == "GET" and r["query"].get("status") == "trash"]
        self.assertTrue(trash_lookups)

    # ---- item 10 ----
    def test_waf_answer_pauses_the_store_instead_of_failing_products(self):
        s = WooStack(self, stores=(("trash",),), linger_ms=1000)
        s.clients[0].faults({"match": {"method": "POST", "path_re": "products/batch$"},
                             "count": 1, "action": "waf"})
        s.publish([product(i) for i in range(5)], "--type", "export_requested",
                  "--connections", "1")
        w = s.worker()
        w.wait_log("ALERT: store 1 paused (store)")
        self.assertIn("HTTP 406", w.log())
        for i in range(5):
            st = s.wait_status(1, "p%d" % i, "synced")
            self.assertEqual(st["attempts"], "1")           # a pause is not charged
        self.assertEqual(len(s.products(1)), 5)
        self.assertNotIn("failed", [s.link(1, "p%d" % i)["status"] for i in range(5)])
        self.assertEqual([c[3] for c in batch_calls(s)][0], "waf")

    def test_plain_permalink_404_page_pauses_the_store(self):
        s = WooStack(self, stores=(("trash",),))
        s.clients[0].faults({"match": {"method": "GET", "path_re": "products$"}, "count": 1,
                             "action": "http_status", "status": 404,
                             "body": "<html><body>Page not found</body></html>"})
        w = s.worker()
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        w.wait_log("ALERT: store 1 paused (store)")
        st = s.wait_status(1, "p1", "synced")
        self.assertEqual(st["attempts"], "1")

    def test_batch_that_timed_out_is_halved(self):
        s = WooStack(self, stores=(("trash",),), linger_ms=2000)
        s.clients[0].faults({"match": {"method": "POST", "path_re": "products/batch$"},
                             "count": 1, "action": "timeout", "delay_ms": 4000})
        s.publish([product(i) for i in range(10)], "--type", "export_requested",
                  "--connections", "1")
        conf = s.config().replace("worker = { linger_ms = 2000; }",
                                  "worker = { linger_ms = 2000; http_timeout_ms = 1500; }")
        self.assertIn("http_timeout_ms = 1500", conf)
        w = s.worker(config=conf)
        for i in range(10):
            s.wait_status(1, "p%d" % i, "synced", timeout=40)
        # (The fake records the timeout once its delay has passed.)
        wait_until(lambda: batch_calls(s)[0][3] == "timeout", what="the timeout recorded")
        calls = batch_calls(s)
        self.assertEqual(len(calls[0][1]), 10)
        self.assertTrue(all(len(c) + len(u) <= 5 for _, c, u, _ in calls[1:]), calls)
        self.assertEqual(len(s.products(1)), 10)
        w.wait_log("a batch of 10 timed out; halving")

    # ---- item 8 ----
    def test_lost_create_answer_does_not_download_images_again(self):
        s = WooStack(self, stores=(("trash",),), linger_ms=1000)
        s.clients[0].faults({"match": {"method": "POST", "path_re": "products/batch$"},
                             "count": 1, "action": "drop_response"})
        s.publish([product(i, images=[IMG % ("a%d" % i), IMG % ("b%d" % i)]) for i in range(3)],
                  "--type", "export_requested", "--connections", "1")
        w = s.worker()
        for i in range(3):
            s.wait_status(1, "p%d" % i, "synced")
        self.assertEqual(s.clients[0].stats()["image_uploads"], 6)
        for i in range(3):
            [p] = s.by_sku(1, "SKU-%d" % i)
            self.assertEqual(len(p["images"]), 2)
            ids = s.redis.cli("HVALS", PREFIX + "images:1:default:p%d" % i).split()
            self.assertEqual(sorted(ids), sorted(str(im["id"]) for im in p["images"]))
        _, creates, updates, _ = batch_calls(s)[-1]
        self.assertEqual(creates, [])
        self.assertTrue(all("src" not in im for u in updates for im in u["images"]), updates)
        w.wait_log("already holds 2 of its images")

    def test_lost_answer_to_a_write_is_never_resent_by_libcurl(self):
        # On a reused connection libcurl sent the POST again by itself
        # ("Connection died, retrying a fresh connect"), unlogged.
        s = WooStack(self, stores=(("trash",),))
        s.clients[0].faults({"match": {"method": "POST", "path_re": "products/batch$"},
                             "count": 1, "action": "drop_response"})
        w = s.worker()
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        st = s.wait_status(1, "p1", "synced")
        creates = [c for _, c, _, _ in batch_calls(s) if c]
        self.assertEqual(len(creates), 1, batch_calls(s))     # only the one whose answer was lost
        self.assertEqual(st["attempts"], "2")                 # our own retry, counted
        self.assertIn("attempt 1/", w.log())
        self.assertEqual(len(s.by_sku(1, "SKU-1")), 1)

    # ---- item 9 ----
    def test_deleted_attachment_is_sent_by_src_again(self):
        s = WooStack(self, stores=(("trash",),))
        w = s.worker()
        s.publish([product(1, images=[IMG % "a"])], "--type", "export_requested",
                  "--connections", "1", "--fields", "name,sku,price,images")
        s.wait_status(1, "p1", "synced")
        [p] = s.by_sku(1, "SKU-1")
        old = p["images"][0]["id"]
        s.clients[0].call("POST", "/_fake/delete_attachments", {"ids": [old]})
        s.publish([product(1, version=2, images=[IMG % "a"])], "--type", "assets_updated",
                  "--changed-fields", "images")
        st = wait_until(lambda: s.state(1, "p1").get("synced_version") == "2" and s.state(1, "p1"),
                        what="v2 synced")
        self.assertEqual(st["status"], "synced")
        [p] = s.by_sku(1, "SKU-1")
        [img] = p["images"]
        self.assertNotEqual(img["id"], old)
        self.assertEqual(s.clients[0].stats()["image_uploads"], 2)
        self.assertEqual(s.redis.cli("HGET", PREFIX + "images:1:default:p1", IMG % "a"),
                         str(img["id"]))
        w.wait_log("refused a remembered image id")

    # ---- item 11 ----
    def test_price_in_another_currency_than_the_store_is_refused(self):
        s = WooStack(self, stores=(("trash",),))
        s.clients[0].call("POST", "/_fake/config", {"currency": "EUR"})
        w = s.worker()
        s.publish([product(1), product(2, price={"amount": "12.50", "currency": "EUR"})],
                  "--type", "export_requested", "--connections", "1")
        s.wait_status(1, "p2", "synced")
        st = s.wait_status(1, "p1", "failed")
        self.assertEqual(st["last_error_message"],
                         "price in USD, but the store's currency is EUR: not written "
                         "(one currency per store)")
        self.assertEqual(s.by_sku(1, "SKU-1"), [])
        self.assertEqual(s.by_sku(1, "SKU-2")[0]["regular_price"], "12.50")
        w.wait_log("store 1: currency EUR")

    def test_doctor_shows_the_store_currency(self):
        s = WooStack(self, stores=(("trash",),))
        s.clients[0].call("POST", "/_fake/config", {"currency": "KWD"})
        conf = os.path.join(tempfile.mkdtemp(prefix="cs-doctor-"), "c.conf")
        with open(conf, "w") as f:
            f.write(s.config())
        r = run([program("catalogsyncctl"), "--config", conf, "--no-color", "doctor",
                 "--sink", "woocommerce"], env={"WOO_KEY": CK, "WOO_SECRET": CS})
        self.assertIn("store currency KWD", r.stdout + r.stderr)
        self.assertNotIn(CS, r.stdout + r.stderr)

    def test_store_ignoring_stock_quantity_is_warned(self):
        s = WooStack(self, stores=(("trash",),))
        s.clients[0].call("POST", "/_fake/config", {"manage_stock": "no"})
        w = s.worker()
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        s.wait_status(1, "p1", "synced")
        self.assertIsNone(s.by_sku(1, "SKU-1")[0]["stock_quantity"])
        w.wait_log("store 1 ignores stock_quantity")


if __name__ == "__main__":
    unittest.main()
