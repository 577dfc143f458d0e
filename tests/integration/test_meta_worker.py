"""catalogsync-worker --sink meta end to end: the dev broker, a real
redis-server and the fake Meta Graph API."""
import datetime
import json
import os
import signal
import subprocess
import time
import unittest

from harness import (Broker, Fake, FakeClient, Redis, Worker, program, run, wait_until)

TOKEN = "meta-test-token-7f3a"
CATALOG = "880011"
PLACEHOLDER = "https://shop.example/static/no-image.png"


def product(i, version=1, **extra):
    p = {"id": "p%d" % i, "version": version, "sku": "SKU-%d" % i,
         "name": "Product %d v%d" % (i, version), "description": "Desc %d" % i,
         "price": {"amount": "%d.50" % (10 + i), "currency": "USD"}, "stock_quantity": 5,
         "is_active": True, "brand": "Acme", "link": "https://shop.example/p/%d" % i}
    p.update(extra)
    return p


class MetaStack:
    """Redis + dev broker + fake Meta, and workers configured against them."""

    def __init__(self, test, partitions=3, fake_args=(), schedule="100, 200, 400, 800",
                 extra_conf="", linger_ms=50):
        self.test = test
        self.redis = Redis(test)
        self.broker = Broker(test, partitions=partitions)
        self.fake = Fake("fake_meta.py", ["--token", TOKEN, "--catalog", CATALOG] + list(fake_args),
                         test)
        self.meta = FakeClient(self.fake.addr)
        self.schedule = schedule
        self.extra_conf = extra_conf
        self.linger_ms = linger_ms

    def config(self, token_env="CS_META_TOKEN", **catalog):
        # Meta creates no item without an image and images are off by
        # default: new items get the placeholder.
        cat = {"id": "main", "base_url": "http://" + self.fake.addr, "api_version": "v25.0",
               "catalog_id": CATALOG, "token": "env:" + token_env,
               "placeholder_image_url": PLACEHOLDER}
        cat.update(catalog)
        fields = "; ".join('%s = %s' % (k, json.dumps(v) if not isinstance(v, bool)
                                        else ("true" if v else "false")) for k, v in cat.items())
        return ('kafka = { brokers = "%s"; properties = ["session.timeout.ms=6000", '
                '"heartbeat.interval.ms=500"]; };\n'
                'redis = { port = %d; };\n'
                'log = { level = "debug"; };\n'
                'worker = { linger_ms = %d; confirm_poll_ms = 10; shutdown_deadline_ms = 15000; };\n'
                'retry = { schedule_ms = [%s]; throttle_default_ms = 300; auth_pause_ms = 800; '
                'jitter_pct = 0; lease_ms = 3000; };\n'
                'meta = { catalogs = ( { %s; } ); };\n%s'
                % (self.broker.brokers, self.redis.port, self.linger_ms, self.schedule, fields,
                   self.extra_conf))

    def worker(self, token=TOKEN, name="worker", **catalog):
        return Worker(self.test, "meta", self.config(**catalog), env={"CS_META_TOKEN": token},
                      name=name)

    def publish(self, items, *args):
        text = "\n".join(json.dumps(i) for i in items) + "\n"
        r = run([program("catalogsync-publish"), "-b", self.broker.brokers] + list(args),
                input=text)
        self.test.assertIn(r.returncode, (0,), r.stderr)
        return r

    def state(self, pid, tenant="default"):
        out = self.redis.cli("HGETALL", "catalogsync:{meta}:state:main:%s:%s" % (tenant, pid))
        lines = out.splitlines()
        return dict(zip(lines[0::2], lines[1::2]))

    def wait_status(self, pid, status, timeout=30):
        return wait_until(lambda: self.state(pid).get("status") == status and self.state(pid),
                          timeout=timeout, what="product %s to be %s (now %s)" % (
                              pid, status, self.state(pid).get("status")))

    def items(self):
        return self.meta.state()["catalogs"][CATALOG]["items"]

    def batch_records(self):
        """Every record sent in items_batch calls, in order."""
        recs = []
        for r in self.meta.requests("items_batch"):
            if r.get("json"):
                recs.extend(r["json"]["requests"])
        return recs


def five_attempts_then_failed(test):
    """A catalog answering a transient error (code 2) ten times: product p1
    is tried five times and ends failed.  Returns the stack, the worker and
    p1's state."""
    s = MetaStack(test)
    s.meta.faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 10,
                   "action": "error", "code": 2, "message": "Service temporarily unavailable"})
    w = s.worker()
    s.publish([product(1)], "--type", "updated")
    st = s.wait_status("p1", "failed", timeout=30)
    test.assertEqual(st["attempts"], "5")
    return s, w, st


class MetaWorkerTest(unittest.TestCase):
    def test_new_product_then_update(self):
        s = MetaStack(self)
        w = s.worker()
        s.publish([product(1)], "--type", "created")
        st = s.wait_status("p1", "synced")
        self.assertEqual(st["synced_version"], "1")
        self.assertEqual(st["remote_id"], "SKU-1")
        self.assertEqual(s.items()["SKU-1"]["fields"]["title"], "Product 1 v1")
        s.publish([product(1, version=2, price={"amount": "9.99", "currency": "USD"})],
                  "--type", "updated")
        wait_until(lambda: s.state("p1").get("synced_version") == "2", what="version 2 synced")
        f = s.items()["SKU-1"]["fields"]
        self.assertEqual(f["title"], "Product 1 v2")
        self.assertEqual(f["price"], "9.99 USD")
        # Images are off by default: the item was created with the placeholder,
        # and the update sent no image (Meta keeps the one it has).
        self.assertEqual(f["image_link"], PLACEHOLDER)
        v2 = [r["data"] for r in s.batch_records() if r["data"]["title"] == "Product 1 v2"]
        self.assertNotIn("image_link", v2[0])
        # Plain http is accepted only because the fake is on loopback: said at start.
        self.assertRegex(w.log(), r"(?m)^\S+ WARN  meta: catalog main: plain http:// to "
                                  r"http://127\.0\.0\.1:\d+: the token is sent without TLS")
        w.wait_log("✓ Successfully synced product 'Product 1 v2' (id p1, retailer id SKU-1)")
        # The token travels as a Bearer header, never in logs.
        reqs = s.meta.requests("items_batch")
        self.assertTrue(all(r["auth_scheme"] == "Bearer" for r in reqs))
        self.assertNotIn(TOKEN, w.log())

    def test_fifty_versions_coalesce_into_one_record(self):
        # A long linger: the 50 versions are all in one flush however slowly
        # the consumer fetches them (valgrind).
        s = MetaStack(self, linger_ms=2000)
        s.publish([product(7, version=v) for v in range(1, 51)], "--type", "updated")
        s.worker()
        wait_until(lambda: s.state("p7").get("synced_version") == "50", what="v50 synced")
        recs = [r for r in s.batch_records() if r["data"]["id"] == "SKU-7"]
        self.assertEqual(len(recs), 1, recs)
        self.assertEqual(recs[0]["data"]["title"], "Product 7 v50")

    def test_batch_is_flushed_on_its_byte_budget(self):
        # Six events of ~1.8 KB waiting in Kafka, batch_max 1000, a long
        # linger: one batch of six without a byte budget. With
        # worker.batch_max_bytes = 4096 a batch ends at the event that
        # reaches 4096 bytes, the third: two items_batch calls of three.
        s = MetaStack(self, partitions=1, linger_ms=3000)
        items = [product(i, description="d" * 1500) for i in range(1, 7)]
        s.publish(items, "--type", "updated")
        sizes = [len(m["value"].encode()) for m in s.broker.consume(count=6)]
        self.assertTrue(all(4096 / 3 <= n < 4096 / 2 for n in sizes), sizes)
        conf = s.config().replace("worker = { ", "worker = { batch_max_bytes = 4096; ")
        w = Worker(self, "meta", conf, env={"CS_META_TOKEN": TOKEN})
        for i in range(1, 7):
            s.wait_status("p%d" % i, "synced")
        calls = [[r["data"]["id"] for r in c["json"]["requests"]]
                 for c in s.meta.requests("items_batch") if c.get("json")]
        self.assertEqual(calls, [["SKU-1", "SKU-2", "SKU-3"], ["SKU-4", "SKU-5", "SKU-6"]])
        self.assertIn("batch 1000 events or 4096 bytes", w.log())

    def test_prices_usd_jpy_kwd_exact(self):
        s = MetaStack(self)
        s.worker()
        s.publish([product(1, price={"amount": "189.99", "currency": "USD"}),
                   product(2, price={"amount": "1800", "currency": "JPY"}),
                   product(3, price={"amount": "4.25", "currency": "KWD"},
                           sale_price={"amount": "3.9", "currency": "KWD"})], "--type", "updated")
        for i in (1, 2, 3):
            s.wait_status("p%d" % i, "synced")
        items = s.items()
        self.assertEqual(items["SKU-1"]["fields"]["price"], "189.99 USD")
        self.assertEqual(items["SKU-2"]["fields"]["price"], "1800 JPY")
        self.assertEqual(items["SKU-3"]["fields"]["price"], "4.250 KWD")
        self.assertEqual(items["SKU-3"]["fields"]["sale_price"], "3.900 KWD")

    def test_five_attempts_then_failed(self):
        s, w, st = five_attempts_then_failed(self)
        self.assertEqual(st["last_error_code"], "2")
        self.assertIn("Service temporarily unavailable", st["last_error_message"])
        calls = [r for r in s.meta.requests("items_batch")]
        self.assertEqual(len(calls), 5)
        # The waits follow the schedule (100, 200, 400, 800 ms, no jitter).
        gaps = [b["time"] - a["time"] for a, b in zip(calls, calls[1:])]
        for gap, want in zip(gaps, (0.1, 0.2, 0.4, 0.8)):
            self.assertGreaterEqual(gap, want * 0.9, gaps)
        self.assertEqual(s.redis.cli("ZSCORE", "catalogsync:{meta}:retry", "main|default:p1"), "")
        w.wait_log("Attempt 5/5 — failed, waiting for an operator reset")
        w.wait_log("META API ERROR")

    def test_newer_version_supersedes_waiting_retry(self):
        # Long waits, so version 1 sits in the retry queue when version 2 arrives.
        s = MetaStack(self, schedule="60000, 60000, 60000, 60000")
        s.meta.faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 2,
                       "action": "error", "code": 1})
        s.worker()
        s.publish([product(1)], "--type", "updated")
        st = s.wait_status("p1", "retry_pending")
        self.assertEqual(st["attempts"], "1")
        s.publish([product(1, version=2)], "--type", "updated")
        # Version 2 fails once too: a fresh count, so attempts is 1 again, not 2.
        wait_until(lambda: s.state("p1").get("version") == "2" and
                   s.state("p1").get("status") == "retry_pending", what="v2 waiting")
        self.assertEqual(s.state("p1")["attempts"], "1")
        self.assertEqual(s.redis.cli("ZCARD", "catalogsync:{meta}:retry"), "1")

    def test_newer_version_waits_for_a_retry_in_flight(self):
        # Another worker holds a live lease on this product's retry (its push
        # of an older version may still reach Meta): a newer version must not
        # be pushed before that lease ends, or the older write could land last.
        s = MetaStack(self)
        s.worker()
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        member = "main|default:p1"
        lease_end = int(time.time() * 1000) + 2500
        s.redis.cli("ZADD", "catalogsync:{meta}:inflight", str(lease_end), member)
        s.redis.cli("HSET", "catalogsync:{meta}:lease", member, "999999")
        s.publish([product(1, version=2)], "--type", "updated")
        st = wait_until(lambda: s.state("p1").get("version") == "2" and s.state("p1"),
                        what="version 2 recorded")
        self.assertEqual((st["status"], st["next_attempt"]), ("retry_pending", str(lease_end)))
        s.wait_status("p1", "synced")
        v2 = [r for r in s.meta.requests("items_batch")
              if r.get("json") and r["json"]["requests"][0]["data"]["title"] == "Product 1 v2"]
        self.assertGreaterEqual(v2[0]["time"] * 1000, lease_end - 50)
        self.assertEqual(s.items()["SKU-1"]["fields"]["title"], "Product 1 v2")

    def test_throttle_pauses_without_charging_attempts(self):
        s = MetaStack(self)
        s.meta.faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 1,
                       "action": "rate_limit", "code": 80014,
                       "estimated_time_to_regain_access": 0, "retry_after": 1})
        w = s.worker()
        s.publish([product(1)], "--type", "updated")
        w.wait_log("paused (throttle)")
        st = s.wait_status("p1", "synced", timeout=20)
        self.assertEqual(st["attempts"], "1")        # the throttled try was not charged
        self.assertEqual(st["last_error_code"] if "last_error_code" in st else "80014", "80014")
        self.assertEqual(len(s.meta.requests("items_batch")), 2)

    def test_invalid_token_pauses_the_connection(self):
        s = MetaStack(self)
        w = s.worker(token="wrong-token-xyz1")
        s.publish([product(1)], "--type", "updated")
        w.wait_log("ALERT: catalog main paused (auth)")
        pause = s.redis.cli("HGET", "catalogsync:{meta}:pause:main", "kind")
        st = wait_until(lambda: s.state("p1").get("status") == "retry_pending" and s.state("p1"),
                        what="retry_pending")
        self.assertEqual(st["attempts"], "0")
        self.assertEqual(st["last_error_code"], "190")
        self.assertIn(pause, ("auth", ""))            # may already have expired (800 ms)
        self.assertNotIn("wrong-token-xyz1", w.log())

    def test_item_invalid_in_batch_status_fails_with_metas_message(self):
        s = MetaStack(self)
        s.meta.faults({"action": "item_error", "retailer_id": "SKU-2",
                       "message": "Image at URL could not be downloaded"})
        s.worker()
        s.publish([product(1), product(2)], "--type", "updated")
        s.wait_status("p1", "synced")
        st = s.wait_status("p2", "failed")
        self.assertEqual(st["last_error_message"], "Image at URL could not be downloaded")
        self.assertEqual(st["attempts"], "1")
        self.assertNotIn("SKU-2", s.items())

    def test_missing_sku_and_price_fail_at_once(self):
        s = MetaStack(self)
        w = s.worker()
        s.publish([product(1, sku=None), product(2, price=None)], "--type", "updated")
        st1 = s.wait_status("p1", "failed")
        st2 = s.wait_status("p2", "failed")
        self.assertIn("no SKU", st1["last_error_message"])
        self.assertIn("no price", st2["last_error_message"])
        self.assertEqual(s.meta.requests("items_batch"), [])
        w.wait_log("Error Message: product has no SKU")

    def test_delete_and_inactive(self):
        s = MetaStack(self)
        s.worker()
        s.publish([product(1), product(2)], "--type", "updated")
        s.wait_status("p1", "synced")
        s.wait_status("p2", "synced")
        s.publish([{"id": "p1", "version": 2, "sku": "SKU-1"}], "--type", "deleted")
        s.publish([product(2, version=2, is_active=False)], "--type", "updated")
        wait_until(lambda: "SKU-1" not in s.items(), what="SKU-1 removed")
        wait_until(lambda: s.state("p1") == {}, what="p1 state cleaned up")
        self.assertEqual(s.redis.cli("HEXISTS", "catalogsync:{meta}:snap", "main|default:p1"), "0")
        s.wait_status("p2", "skipped")
        self.assertEqual(s.items()["SKU-2"]["fields"]["visibility"], "hidden")
        # An inactive product never pushed is not pushed at all.
        s.publish([product(3, is_active=False)], "--type", "updated")
        st = s.wait_status("p3", "skipped")
        self.assertIn("never pushed", st["skip_reason"])
        self.assertNotIn("SKU-3", s.items())

    def test_sku_change_removes_the_old_item(self):
        s = MetaStack(self)
        s.worker()
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        s.publish([product(1, version=2, sku="SKU-1-NEW")], "--type", "updated")
        wait_until(lambda: s.state("p1").get("synced_version") == "2", what="v2 synced")
        self.assertEqual(s.state("p1")["remote_id"], "SKU-1-NEW")
        self.assertIn("SKU-1-NEW", s.items())
        wait_until(lambda: "SKU-1" not in s.items(), what="old retailer id removed")

    def test_malformed_events_go_to_the_dead_letter_topic(self):
        s = MetaStack(self)
        w = s.worker()
        bad = subprocess.run(["kcat", "-P", "-b", s.broker.brokers, "-t", s.broker.topic,
                              "-k", "default:x1"], input=b'{"schema":1,"type":"product.updated"}',
                             capture_output=True, timeout=30)
        self.assertEqual(bad.returncode, 0, bad.stderr)
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        dlq = s.broker.consume(s.broker.dlq, count=1)
        self.assertEqual(dlq[0]["key"], "default:x1")
        self.assertIn("event_id: is missing", dlq[0]["headers"]["reason"])
        self.assertEqual(dlq[0]["headers"]["error"], "invalid")
        w.wait_log("dead-lettered event")

    def test_sigterm_stops_cleanly(self):
        s = MetaStack(self)
        w = s.worker()
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        self.assertEqual(w.stop(), 0)
        self.assertIn("stopping:", w.log())


def ctl(stack, worker, *args):
    r = run([program("catalogsyncctl"), "--config", worker.conf] + list(args),
            env={"NO_COLOR": "1", "CS_META_TOKEN": TOKEN})
    stack.test.assertEqual(r.returncode, 0, r.stdout + r.stderr)
    return r.stdout


class MetaApiFactsTest(unittest.TestCase):
    """Issue 15: what the real Graph API does that the fake now does too."""

    def test_new_item_without_image_fails_before_any_call(self):
        # No placeholder: a new product without a usable image fails locally,
        # saying what to do; one with an image is created, and its later
        # update without an image is sent (Meta keeps the image it has).
        s = MetaStack(self)
        w = s.worker(placeholder_image_url="", include_images=True)
        s.publish([product(1), product(2, images=["https://cdn.example/2.jpg"])], "--type", "updated")
        st = s.wait_status("p1", "failed")
        self.assertIn("no image for a new item", st["last_error_message"])
        self.assertIn("placeholder_image_url", st["last_error_message"])
        self.assertEqual(st["attempts"], "1")
        s.wait_status("p2", "synced")
        self.assertEqual(s.items()["SKU-2"]["fields"]["image_link"], "https://cdn.example/2.jpg")
        s.publish([product(2, version=2, images=[])], "--type", "updated")
        wait_until(lambda: s.state("p2").get("synced_version") == "2", what="v2 of p2 synced")
        self.assertNotIn("SKU-1", [r["data"]["id"] for r in s.batch_records()])
        self.assertNotIn("image_link", s.batch_records()[-1]["data"])
        self.assertEqual(s.items()["SKU-2"]["fields"]["image_link"], "https://cdn.example/2.jpg")
        w.wait_log("no image for a new item")
        # doctor names the products concerned.
        r = run([program("catalogsyncctl"), "--config", w.conf, "doctor"],
                env={"NO_COLOR": "1", "CS_META_TOKEN": TOKEN})
        self.assertIn("✗ 1 product(s) not in the catalog yet have no image and cannot be "
                      "created (Meta creates no item without one): default:p1\n", r.stdout)
        self.assertIn("fix: set meta.catalogs[].placeholder_image_url", r.stdout)

    def test_catalog_gone_pauses_then_converges(self):
        # items_batch answers 100/33 (catalog gone or not assigned) for 3 s:
        # one pause with an ALERT, no attempt charged, nothing failed, no
        # bisection; every product syncs once the catalog is back.
        s = MetaStack(self, partitions=1, linger_ms=500)
        w = s.worker()
        w.wait_log("assigned")
        s.meta.call("POST", "/_fake/catalog_outage", {"catalog": CATALOG, "error": "missing",
                                                      "seconds": 3})
        s.publish([product(i) for i in range(1, 21)], "--type", "updated")
        w.wait_log("ALERT: catalog main paused (refused)")
        for i in range(1, 21):
            st = s.wait_status("p%d" % i, "synced", timeout=40)
            self.assertEqual(st["attempts"], "1")
        self.assertEqual(len(s.items()), 20)
        refused = [r for r in s.meta.requests("items_batch") if r["status"] == 400]
        self.assertTrue(refused)
        self.assertTrue(all(len(r["json"]["requests"]) == len(refused[0]["json"]["requests"])
                            for r in refused), "a refused call is never bisected")
        stats = json.loads(ctl(s, w, "stats", "--json"))["connections"][0]
        self.assertEqual(stats["last_hour"]["failed"], 0)
        # 368 (deemed abusive / disallowed) pauses the same way.
        s.meta.call("POST", "/_fake/catalog_outage", {"catalog": CATALOG, "error": "disallowed",
                                                      "calls": 1})
        s.publish([product(1, version=2)], "--type", "updated")
        w.wait_log("code 368")
        wait_until(lambda: s.state("p1").get("synced_version") == "2", timeout=20,
                   what="p1 v2 synced after the 368")
        self.assertEqual(s.state("p1")["attempts"], "1")

    def test_too_much_data_splits_the_call(self):
        # Code 1 "Please reduce the amount of data": the call is halved, not
        # retried unchanged (which would fail the same way five times).
        s = MetaStack(self, partitions=1, linger_ms=2000, fake_args=["--max-payload", "3000"])
        s.publish([product(i) for i in range(1, 11)], "--type", "updated")
        s.worker()
        for i in range(1, 11):
            st = s.wait_status("p%d" % i, "synced", timeout=30)
            self.assertEqual(st["attempts"], "1")
        sizes = [len(r["json"]["requests"]) for r in s.meta.requests("items_batch")]
        self.assertEqual(sizes[0], 10, sizes)
        self.assertTrue(all(r["body_len"] <= 3000 for r in s.meta.requests("items_batch")
                            if r["status"] == 200))

    def test_batch_status_sample_warnings_and_missing_items(self):
        s = MetaStack(self, partitions=1, linger_ms=1000)
        # Seven records fail: "errors" holds five of them, ids_of_invalid_requests all.
        s.meta.faults(*[{"action": "item_error", "retailer_id": "SKU-%d" % i,
                         "message": "Bad item %d" % i} for i in range(11, 18)],
                      {"action": "item_warning", "retailer_id": "SKU-1",
                       "message": "Field quantity_to_sell_on_facebook was not applied"})
        s.publish([product(i) for i in [1, 2, 3] + list(range(11, 19))], "--type", "updated")
        w = s.worker()
        msgs = [s.wait_status("p%d" % i, "failed")["last_error_message"] for i in range(11, 18)]
        # Meta's own message where the sample has it, else that the id was listed.
        self.assertEqual(sum(m == "Bad item %d" % i for m, i in zip(msgs, range(11, 18))), 5, msgs)
        self.assertEqual(sum("listed in ids_of_invalid_requests" in m for m in msgs), 2, msgs)
        s.wait_status("p18", "synced")
        st = s.wait_status("p1", "synced")
        self.assertEqual(st["warnings"], "Field quantity_to_sell_on_facebook was not applied")
        self.assertIn("Field quantity_to_sell_on_facebook was not applied", ctl(s, w, "show", "p1"))
        s.wait_status("p2", "synced")
        s.wait_status("p3", "synced")
        # Removed by hand in Commerce Manager: hiding or deleting it is done.
        for rid in ("SKU-2", "SKU-3"):
            s.meta.call("POST", "/_fake/remove", {"catalog": CATALOG, "retailer_id": rid})
        s.publish([product(2, version=2, is_active=False)], "--type", "updated")
        s.publish([{"id": "p3", "version": 2, "sku": "SKU-3"}], "--type", "deleted")
        s.wait_status("p2", "skipped")
        wait_until(lambda: s.state("p3") == {}, what="p3 state cleaned up")
        self.assertNotIn("SKU-2", s.items())
        # A newer version without warnings clears them.
        s.publish([product(1, version=2)], "--type", "updated")
        wait_until(lambda: s.state("p1").get("synced_version") == "2", what="p1 v2")
        self.assertNotIn("warnings", s.state("p1"))

    def test_failure_the_status_cannot_name_is_never_synced(self):
        # The status counts one failed record but names none: no record of
        # that call may be reported synced; they are pushed again.
        s = MetaStack(self, partitions=1, linger_ms=1000)
        s.meta.faults({"action": "item_error", "retailer_id": "SKU-2", "unnamed": True,
                       "message": "Something went wrong"})
        s.publish([product(i) for i in (1, 2, 3)], "--type", "updated")
        w = s.worker()
        w.wait_log("Meta counts 1 failed records but names 0")
        for i in (1, 2, 3):
            st = s.wait_status("p%d" % i, "synced")
            self.assertEqual(st["attempts"], "2")          # the first try was not a success
        self.assertEqual(sorted(s.items()), ["SKU-1", "SKU-2", "SKU-3"])
        self.assertEqual([len(r["json"]["requests"]) for r in s.meta.requests("items_batch")], [3, 3])

    def test_api_version_warning_and_external_update_time(self):
        s = MetaStack(self)
        w = s.worker(api_version="v21.0")
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        # v21.0 ends on 21 Jan 2027: within 90 days of today, or already past.
        ends = datetime.datetime(2027, 1, 21, tzinfo=datetime.timezone.utc)
        if ends - datetime.datetime.now(datetime.timezone.utc) <= datetime.timedelta(days=90):
            self.assertRegex(w.log(), r"(?m)^\S+ WARN  meta: catalog main: Graph API v21\.0 "
                                      r"(stops|stopped) working on 2027-01-21")
        ev = json.loads(s.broker.consume(count=1)[0]["value"])
        occurred = datetime.datetime.fromisoformat(ev["occurred_at"].replace("Z", "+00:00"))
        rec = s.batch_records()[0]["data"]
        self.assertEqual(rec["external_update_time"], int(occurred.timestamp()))
        self.assertTrue(all(r["path"].startswith("/v21.0/") for r in s.meta.requests("items_batch")))
        # The default is a current version, which draws no warning.
        self.assertEqual(w.stop(), 0)
        w2 = Worker(self, "meta", s.config().replace('api_version = "v25.0"; ', ""),
                    env={"CS_META_TOKEN": TOKEN}, name="worker2")
        s.publish([product(2)], "--type", "updated")
        s.wait_status("p2", "synced")
        self.assertTrue(s.meta.requests("items_batch")[-1]["path"].startswith("/v25.0/"))
        self.assertNotIn("Graph API v25.0", w2.log())


class MetaReliabilityTest(unittest.TestCase):
    def test_sigkill_mid_batch_second_worker_finishes_without_repush(self):
        s = MetaStack(self, partitions=1)
        # Confirmation is slow, so the first worker is killed after Meta accepted
        # the batch and before it confirmed it.  Its offsets are committed
        # once the handle is recorded: the products come back through the
        # retry queue, confirm_timeout_ms + min(confirm_timeout_ms, 10 s) later.
        s.meta.faults({"match": {"method": "GET", "path_re": "check_batch_request_status"},
                       "count": 3, "action": "slow", "delay_ms": 1500})
        conf = s.config().replace("worker = { ", "worker = { confirm_timeout_ms = 2000; ")
        w1 = Worker(self, "meta", conf, env={"CS_META_TOKEN": TOKEN}, name="worker1")
        s.publish([product(i) for i in range(1, 21)], "--type", "updated")
        wait_until(lambda: s.meta.requests("items_batch"), timeout=30, what="items_batch")
        for i in range(1, 21):
            wait_until(lambda: s.state("p%d" % i).get("handle"), what="p%d recorded" % i)
        w1.kill()
        Worker(self, "meta", conf, env={"CS_META_TOKEN": TOKEN}, name="worker2")
        for i in range(1, 21):
            s.wait_status("p%d" % i, "synced", timeout=40)
        recs = s.batch_records()
        ids = [r["data"]["id"] for r in recs]
        self.assertEqual(sorted(ids), sorted("SKU-%d" % i for i in range(1, 21)),
                         "each product pushed exactly once")
        self.assertEqual(len(s.items()), 20)

    def test_slow_batch_is_polled_again_not_pushed_again(self):
        # Meta finishes a batch 1.5 s after accepting it; confirmation gives
        # up after 300 ms.  The handle is kept with the retry and polled again
        # before any new push: one items_batch call, synced, never failed.
        s = MetaStack(self, fake_args=["--batch-ms", "1500"])
        conf = s.config().replace("worker = { ", "worker = { confirm_timeout_ms = 300; ")
        w = Worker(self, "meta", conf, env={"CS_META_TOKEN": TOKEN})
        s.publish([product(1)], "--type", "updated")
        st = wait_until(lambda: s.state("p1").get("status") in ("synced", "failed") and s.state("p1"),
                        timeout=30, what="p1 synced or failed")
        self.assertEqual(st["status"], "synced", st)
        self.assertGreater(int(st["attempts"]), 1)           # confirmation did time out
        self.assertEqual(len(s.meta.requests("items_batch")), 1)
        self.assertEqual(s.items()["SKU-1"]["fields"]["title"], "Product 1 v1")
        w.wait_log("still running; not pushed again")
        w.wait_log("confirmed; not pushed again")

    def test_inactive_after_a_lost_answer_is_removed(self):
        # Meta accepted and applied the batch but its answer was lost, so the
        # product was never confirmed.  Made inactive before its retry, it
        # must not stay published.
        s = MetaStack(self, schedule="60000, 60000, 60000, 60000")
        s.meta.faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 1,
                       "action": "drop_response"})
        s.worker()
        s.publish([product(1)], "--type", "updated")
        st = s.wait_status("p1", "retry_pending")
        self.assertNotIn("synced_version", st)
        s.meta.call("POST", "/_fake/settle", {})          # Meta processes the batch it accepted
        self.assertEqual(s.items()["SKU-1"]["fields"]["visibility"], "published")
        s.publish([product(1, version=2, is_active=False)], "--type", "updated")
        st = s.wait_status("p1", "skipped")
        self.assertIn("removed from the catalog", st["skip_reason"])
        wait_until(lambda: "SKU-1" not in s.items(), what="SKU-1 removed")
        # A product never pushed and inactive is still not pushed at all.
        s.publish([product(2, is_active=False)], "--type", "updated")
        st = s.wait_status("p2", "skipped")
        self.assertIn("never pushed", st["skip_reason"])
        self.assertNotIn("SKU-2", [r["data"]["id"] for r in s.batch_records()])

    def test_inactive_after_a_worker_died_mid_push_is_removed(self):
        # The worker dies while its push is in flight; Meta applies it.  The
        # product's state says only that a push began (pending, no handle).
        # Its next version, inactive, must not leave the item visible: the
        # next worker pushes the version begun (its recovery entry, due when
        # the dead owner's time ends) and then hides the item, or removes it
        # if the inactive version comes first.
        s = MetaStack(self, partitions=1, linger_ms=2000)
        s.meta.faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 1,
                       "action": "slow", "delay_ms": 2000})
        w1 = s.worker(name="worker1")
        s.publish([product(1)], "--type", "updated")
        wait_until(lambda: s.meta.requests("items_batch"), timeout=30, what="items_batch")
        w1.kill()
        self.assertEqual(s.state("p1")["status"], "pending")
        wait_until(lambda: s.meta.call("POST", "/_fake/settle", {}) and "SKU-1" in s.items(),
                   what="Meta applied the batch")
        s.publish([product(1, version=2, is_active=False)], "--type", "updated")
        s.worker(name="worker2")
        st = s.wait_status("p1", "skipped", timeout=40)
        self.assertEqual(st["version"], "2")
        wait_until(lambda: "SKU-1" not in s.items() or
                   s.items()["SKU-1"]["fields"].get("visibility") == "hidden",
                   what="SKU-1 removed or hidden")

    def test_two_workers_share_partitions_and_retries(self):
        s = MetaStack(self, partitions=4)
        s.meta.faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 3,
                       "action": "http_status", "status": 503, "body": "<html>busy</html>"})
        w1 = s.worker(name="worker1")
        w2 = s.worker(name="worker2")
        s.publish([product(i) for i in range(1, 61)], "--type", "updated")
        for i in range(1, 61):
            s.wait_status("p%d" % i, "synced", timeout=40)
        self.assertEqual(len(s.items()), 60)
        w1.wait_log("assigned")
        w2.wait_log("assigned")
        both = ("Successfully synced" in w1.log()) + ("Successfully synced" in w2.log())
        self.assertGreaterEqual(both, 1)

    def test_redis_outage_pauses_and_resumes(self):
        s = MetaStack(self)
        w = s.worker()
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        port, rdir = s.redis.port, s.redis.dir
        s.redis.proc.stop()
        s.publish([product(1, version=2)], "--type", "updated")
        w.wait_log("unreachable")
        from harness import Proc
        s.redis.proc = Proc("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                      "--dir", rdir, "--save", "", "--appendonly", "yes"])
        wait_until(s.redis.ping, what="redis back")
        wait_until(lambda: s.state("p1").get("synced_version") == "2", timeout=30,
                   what="version 2 synced after the outage")
        w.wait_log("reachable again")



class MetaAsyncConfirmTest(unittest.TestCase):
    """Issue 16: a batch whose handle is recorded is pending and durable; it
    is confirmed on later turns of the worker's loop while the worker goes on
    consuming and pushing (docs/DESIGN.md, "Confirmation is asynchronous")."""

    def stack(self, batch_ms, worker_conf="", **kw):
        s = MetaStack(self, partitions=1, fake_args=["--batch-ms", str(batch_ms)], **kw)
        s.conf = s.config().replace("worker = { ", "worker = { " + worker_conf)
        return s

    def start(self, s, name="worker"):
        return Worker(self, "meta", s.conf, env={"CS_META_TOKEN": TOKEN}, name=name)

    @staticmethod
    def call_with(s, sku):
        """The first items_batch call carrying retailer id sku."""
        return next(c for c in s.meta.requests("items_batch") if c.get("json") and
                    any(r["data"]["id"] == sku for r in c["json"]["requests"]))

    def assert_pushed_once(self, s, n):
        ids = sorted(r["data"]["id"] for r in s.batch_records())
        self.assertEqual(ids, sorted("SKU-%d" % i for i in range(1, n + 1)),
                         "each product in exactly one items_batch record")
        self.assertEqual(len(s.items()), n)

    def test_second_wave_is_pushed_while_the_first_is_unconfirmed(self):
        # Meta finishes a batch 3 s after accepting it.  Wave 2, published
        # once wave 1 was accepted, must leave before wave 1's batch could
        # finish: the worker does not wait for a confirmation to push.
        s = self.stack(3000)
        w = self.start(s)
        s.publish([product(i) for i in range(1, 6)], "--type", "updated")
        wait_until(lambda: s.state("p1").get("handle"), what="wave 1 accepted and recorded")
        self.assertEqual(s.state("p1")["status"], "pending")
        s.publish([product(i) for i in range(6, 11)], "--type", "updated")
        for i in range(1, 11):
            s.wait_status("p%d" % i, "synced", timeout=30)
        wave1, wave2 = self.call_with(s, "SKU-1"), self.call_with(s, "SKU-6")
        self.assertLess(wave2["time"] - wave1["time"], 3.0,
                        "wave 2 waited for wave 1's batch to finish")
        # Wave 1 was confirmed only once Meta finished its batch, not before.
        st = s.state("p1")
        self.assertGreaterEqual(int(st["last_success"]) / 1000.0, wave1["time"] + 3.0 - 0.05)
        self.assertNotIn("handle", st)
        self.assert_pushed_once(s, 10)
        w.wait_log("✓ Successfully synced product 'Product 1 v1'")
        w.wait_log("✓ Successfully synced product 'Product 6 v1'")

    def test_max_pending_batches_bounds_what_is_unconfirmed(self):
        # One unconfirmed batch at most: wave 2's push waits for wave 1's
        # batch to finish (backpressure), and still nothing is pushed twice.
        s = self.stack(1500, "max_pending_batches = 1; ")
        self.start(s)
        s.publish([product(i) for i in range(1, 4)], "--type", "updated")
        wait_until(lambda: s.state("p1").get("handle"), what="wave 1 accepted and recorded")
        s.publish([product(i) for i in range(4, 7)], "--type", "updated")
        for i in range(1, 7):
            s.wait_status("p%d" % i, "synced", timeout=30)
        wave1, wave2 = self.call_with(s, "SKU-1"), self.call_with(s, "SKU-4")
        self.assertGreaterEqual(wave2["time"] - wave1["time"], 1.5 - 0.05)
        self.assert_pushed_once(s, 6)

    def test_worker_killed_with_batches_outstanding(self):
        # The first worker records the handles and commits its offsets, then
        # dies before Meta finished the batch.  Nothing re-reads the events:
        # the pending products are due again in the retry queue, and a second
        # worker confirms the recorded handle instead of pushing again.
        s = self.stack(4000, "confirm_timeout_ms = 1500; ")
        w1 = self.start(s, "worker1")
        s.publish([product(i) for i in range(1, 11)], "--type", "updated")
        for i in range(1, 11):
            wait_until(lambda: s.state("p%d" % i).get("handle"), what="p%d recorded" % i)
        w1.kill()
        st = s.state("p1")
        self.assertEqual(st["status"], "pending")
        due = s.redis.cli("ZSCORE", "catalogsync:{meta}:retry", "main|default:p1")
        self.assertEqual(due, st["next_attempt"])
        w2 = self.start(s, "worker2")
        for i in range(1, 11):
            s.wait_status("p%d" % i, "synced", timeout=40)
        self.assert_pushed_once(s, 10)
        self.assertIn("not pushed again", w2.log())
        self.assertEqual(s.redis.cli("ZCARD", "catalogsync:{meta}:retry"), "0")

    def test_sigterm_confirms_within_half_the_deadline(self):
        # A batch Meta finishes within half of shutdown_deadline_ms (7.5 s
        # here) is confirmed by the stopping worker itself.
        s = self.stack(1500, "confirm_timeout_ms = 60000; ")
        w1 = self.start(s, "worker1")
        s.publish([product(i) for i in range(1, 4)], "--type", "updated")
        for i in range(1, 4):
            wait_until(lambda: s.state("p%d" % i).get("handle"), what="p%d recorded" % i)
        self.assertEqual(w1.stop(), 0)
        self.assertNotIn("left for the next worker to confirm", w1.log())
        for i in range(1, 4):
            self.assertEqual(s.state("p%d" % i)["status"], "synced")
        self.assert_pushed_once(s, 3)

    def test_sigterm_hands_unconfirmed_batches_over(self):
        # Stopping with a batch unconfirmed past half of shutdown_deadline_ms
        # (the default confirm_timeout_ms, 60 s): its products stay pending
        # with their handle, due at once, so the next worker confirms them
        # without waiting for the timeout.
        s = self.stack(2000, "confirm_timeout_ms = 60000; ")
        s.conf = s.conf.replace("shutdown_deadline_ms = 15000;", "shutdown_deadline_ms = 1000;")
        w1 = self.start(s, "worker1")
        s.publish([product(i) for i in range(1, 4)], "--type", "updated")
        for i in range(1, 4):
            wait_until(lambda: s.state("p%d" % i).get("handle"), what="p%d recorded" % i)
        self.assertEqual(w1.stop(), 0)
        self.assertIn("left for the next worker to confirm", w1.log())
        st = s.state("p1")
        self.assertEqual(st["status"], "pending")
        self.assertLessEqual(int(st["next_attempt"]), int(time.time() * 1000))
        self.start(s, "worker2")
        for i in range(1, 4):
            s.wait_status("p%d" % i, "synced", timeout=20)
        self.assert_pushed_once(s, 3)

if __name__ == "__main__":
    unittest.main()
