"""What the operator reads (issue 15, items 12-14): the stats' tallies, the
worker's log lines, catalogsyncctl's rows and options, the admin API's
sync-status and the Kafka configuration, each through real runs (Kafka,
redis-server, the worker, fake channels over HTTP)."""
import json
import re
import unittest

from harness import Worker, program, run, wait_until
from test_admin import Admin
from test_meta_worker import TOKEN, MetaStack, five_attempts_then_failed, product
from test_woo_worker import CK, CS, WooStack
from test_woo_worker import product as woo_product

# A WooCommerce store next to the Meta catalog, for catalogsyncctl only (it
# resolves no channel credential).
WOO_STORE = ('woocommerce = { connections = ( { id = 1; base_url = "https://127.0.0.1:9"; '
             'consumer_key = "env:WOO_KEY"; consumer_secret = "env:WOO_SECRET"; } ); };\n')


def ctl(test, conf, *args, want=0):
    r = run([program("catalogsyncctl"), "--config", conf] + list(args),
            env={"NO_COLOR": "1", "CS_META_TOKEN": TOKEN})
    if want is not None:
        test.assertEqual(r.returncode, want, "ctl %s: %s\n%s" % (args, r.stdout, r.stderr))
    return r


def stats_of(test, conf, sink, conn):
    doc = json.loads(ctl(test, conf, "stats", "--json", "--sink", sink,
                         "--connection", conn).stdout)
    [one] = doc["connections"]
    return one


class StatsTest(unittest.TestCase):
    def test_stats_count_a_failure_on_the_last_attempt_as_failed(self):
        _, w, _ = five_attempts_then_failed(self)
        one = stats_of(self, w.conf, "meta", "main")
        # Four retries, then the fifth attempt failed: the tallies say what
        # was decided, as the totals do.
        for window in ("last_hour", "last_day"):
            self.assertEqual((one[window]["retry"], one[window]["failed"]), (4, 1), window)
        self.assertEqual((int(one["totals"]["retry_total"]), int(one["totals"]["failed_total"])),
                         (4, 1))
        self.assertIn("last hour: 0 synced, 4 retried, 1 failed",
                      ctl(self, w.conf, "stats").stdout)


class LogTest(unittest.TestCase):
    def test_throttle_is_one_warning_line_not_an_alert_nor_error_blocks(self):
        s = MetaStack(self)
        s.meta.faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 1,
                       "action": "rate_limit", "code": 80014,
                       "estimated_time_to_regain_access": 0, "retry_after": 1})
        w = s.worker()
        s.publish([product(1), product(2), product(3)], "--type", "updated")
        for pid in ("p1", "p2", "p3"):
            s.wait_status(pid, "synced")
        log = w.log()
        pauses = re.findall(r"(?m)^\S+ (WARN|ERROR) +meta: .*catalog main paused \(throttle\)",
                            log)
        self.assertEqual(pauses, ["WARN"], log)
        self.assertNotIn("ALERT", log)
        self.assertNotIn("════", log)          # no error block: nothing needs a person
        self.assertNotIn("connection paused", log)

    def test_attempt_lines_only_for_products_pushed(self):
        s = MetaStack(self)
        w = s.worker()
        # p3: inactive and never synced, skipped; p4: deleted, never in the
        # catalog (no SKU, no retailer id).
        s.publish([product(1), product(3, is_active=False)], "--type", "updated")
        s.wait_status("p1", "synced")
        s.wait_status("p3", "skipped")
        self.assertNotRegex(w.log(), r"Syncing product '[^']*' \(id p3,")
        s.publish([{"id": "p4", "version": 1, "sku": None}], "--type", "deleted")
        # The outcome's line, whatever it says.
        wait_until(lambda: re.search(r"product '[^']*' \(id p4\)", w.log()), what="p4 settled")
        log = w.log()
        self.assertIn("○ Deleted product '(no name)' (id p4) was never in catalog main", log)
        self.assertIn("Syncing product 'Product 1 v1' (id p1, SKU SKU-1, version 1) to catalog "
                      "main - attempt 1/5", log)
        self.assertNotRegex(log, r"Syncing product '[^']*' \(id p[34],")
        self.assertNotRegex(log, r"Removed product '[^']*' \(id p4\)")

    def test_a_product_our_mapping_refuses_is_not_a_meta_api_error(self):
        s = MetaStack(self)
        w = s.worker()
        s.publish([product(1, sku=None)], "--type", "updated")
        s.wait_status("p1", "failed")
        w.wait_log("Error Message: product has no SKU")
        log = w.log()
        self.assertNotIn("META API ERROR", log)
        self.assertIn("PRODUCT NOT SENT - refused by the meta mapping", log)
        self.assertEqual(s.meta.requests("items_batch"), [])

    def test_delete_of_a_product_never_linked_to_a_store_is_no_removal(self):
        s = WooStack(self, stores=(("trash",),))
        w = s.worker()
        s.publish([woo_product(1)], "--type", "export_requested", "--connections", "1")
        s.wait_status(1, "p1", "synced")
        # p2 was never exported to store 1; p1 was.
        s.publish([{"id": "p2", "version": 2, "sku": "SKU-2"},
                   {"id": "p1", "version": 2, "sku": "SKU-1"}], "--type", "deleted")
        wait_until(lambda: re.search(r"product '[^']*' \(id p2\)", w.log()), what="p2 settled")
        wait_until(lambda: s.link(1, "p1") == {} and s.state(1, "p1") == {},
                   what="p1 removed")
        w.wait_log("Removed product '(no name)' (id p1) from store 1")
        log = w.log()
        self.assertNotRegex(log, r"Removed product '[^']*' \(id p2\)")
        self.assertNotRegex(log, r"Syncing product '[^']*' \(id p2,")
        one = stats_of(self, w.conf, "woocommerce", "1")
        self.assertEqual(one["last_hour"]["deleted"], 1)
        self.assertEqual(int(one["totals"]["deleted_total"]), 1)
        self.assertIn("○ Deleted product '(no name)' (id p2) was never in store 1", log)
        self.assertEqual(s.state(1, "p2"), {})


class CtlTest(unittest.TestCase):
    def test_status_rows_come_by_product_in_numeric_order(self):
        s = MetaStack(self, partitions=1)
        w = s.worker()
        # Published (and recorded) newest first: p10 ... p1.
        s.publish([product(i) for i in range(10, 0, -1)], "--type", "updated")
        for i in range(1, 11):
            s.wait_status("p%d" % i, "synced")
        out = ctl(self, w.conf, "status").stdout
        rows = [line.split()[2] for line in out.splitlines() if line.startswith("meta ")]
        self.assertEqual(rows, ["default:p%d" % i for i in range(1, 11)])
        doc = json.loads(ctl(self, w.conf, "status", "--json").stdout)
        self.assertEqual([p["product"] for p in doc["products"]], rows)

    def test_show_filters_by_sink_and_connection_and_options_are_never_ignored(self):
        s = MetaStack(self)
        w = s.worker()
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        conf = w.conf + ".both"
        with open(conf, "w") as f:
            f.write(s.config() + WOO_STORE)
        shown = json.loads(ctl(self, conf, "show", "p1", "--sink", "meta", "--json").stdout)
        self.assertEqual([(e["sink"], e["connection"]) for e in shown["connections"]],
                         [("meta", "main")])
        # p1 has no state at store 1: show says so instead of showing the catalog.
        r = ctl(self, conf, "show", "p1", "--sink", "woocommerce", want=2)
        self.assertIn("no state at any configured connection", r.stdout)
        self.assertNotIn("meta main", r.stdout)
        r = ctl(self, conf, "show", "p1", "--connection", "1", "--json", want=2)
        self.assertEqual(json.loads(r.stdout)["connections"], [])
        self.assertIn("at meta main", ctl(self, conf, "show", "p1", "--connection", "main").stdout)
        # An option a command does not take is refused, never ignored.
        for args, opt in ((("queue", "--connection", "main"), "--connection"),
                          (("status", "--failed"), "--failed"),
                          (("show", "p1", "--state", "failed"), "--state"),
                          (("stats", "--due"), "--due"),
                          (("resume", "main", "--reason", "x"), "--reason")):
            r = ctl(self, conf, *args, want=64)
            self.assertIn("%s does not take %s" % (args[0], opt), r.stderr)


class SyncStatusTest(unittest.TestCase):
    def test_sync_status_last_synced_at_is_the_last_success(self):
        s = WooStack(self, stores=(("trash",),))
        s.worker()
        s.publish([woo_product(1)], "--type", "export_requested", "--connections", "1")
        synced = int(s.wait_status(1, "p1", "synced")["last_success"])
        a = Admin(self, s.config(), env={"WOO_KEY": CK, "WOO_SECRET": CS})

        def last_synced():
            st, doc = a.call("GET", "/v1/connections/1/sync-status?productIds=p1")
            self.assertEqual(st, 200)
            return doc["data"][0].get("lastSyncedAt")

        self.assertEqual(last_synced(), synced)
        # A later push that fails is no sync.
        s.clients[0].faults({"match": {"path_re": "products"}, "count": 1000,
                             "action": "http_status", "status": 500, "body": "<html>down</html>"})
        s.publish([woo_product(1, version=2)], "--type", "updated")
        st = wait_until(lambda: s.state(1, "p1").get("version") == "2" and
                        s.state(1, "p1").get("status") == "retry_pending" and s.state(1, "p1"),
                        what="v2 waiting for a retry")
        self.assertEqual(int(st["last_success"]), synced)
        self.assertGreater(int(st["last_attempt"]), synced)
        self.assertEqual(last_synced(), synced)


class KafkaConfigTest(unittest.TestCase):
    def test_consumer_properties_are_not_handed_to_the_dead_letter_producer(self):
        s = MetaStack(self)
        # session.timeout.ms, heartbeat.interval.ms: consumer only; linger.ms:
        # producer only; client.rack: both.
        conf = s.config().replace('"heartbeat.interval.ms=500"',
                                  '"heartbeat.interval.ms=500", "linger.ms=5", '
                                  '"client.rack=r1"', 1)
        w = Worker(self, "meta", conf, env={"CS_META_TOKEN": TOKEN})
        w.wait_log("worker started")
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        log = w.log()
        self.assertNotIn("CONFWARN", log)
        self.assertNotRegex(log, r"is a (consumer|producer) property and will be ignored")
        # Each client was given the properties of its kind.
        self.assertIn("property session.timeout.ms is for consumers only: not given to this "
                      "producer", log)
        self.assertIn("property linger.ms is for producers only: not given to this consumer",
                      log)
        self.assertNotIn("property client.rack is for", log)


if __name__ == "__main__":
    unittest.main()
