"""Connections progress independently (issue 16, items 1, 4 and 5): each
connection is pushed by its own lane, so a store that hangs holds its own
products only; its products wait in Redis, not in the worker, once its lane
is full; and SIGTERM with a request hanging ends within the shutdown
deadline and loses nothing (docs/DESIGN.md, "Connections progress
independently").

The hang outlasts every wait here (the worker's http_timeout_ms is 20 s), so
a healthy store that converged while it lasted was not held back by it."""
import time
import unittest

from harness import wait_until
from test_woo_worker import PREFIX, WooStack, product

HANG_MS = 20000


def hang():
    """Every products request of the store held without an answer."""
    return {"match": {"path_re": "products"}, "count": 1000000, "action": "timeout",
            "delay_ms": HANG_MS * 3}


def config(s, shutdown_ms=15000, inflight=2):
    c = s.config()
    worker = "worker = { linger_ms = %d; };" % s.linger_ms
    assert worker in c, c
    return c.replace(worker, "worker = { linger_ms = %d; http_timeout_ms = %d; "
                     "shutdown_deadline_ms = %d; max_inflight_batches = %d; };"
                     % (s.linger_ms, HANG_MS, shutdown_ms, inflight))


def names(s, store):
    return {p.get("sku"): p.get("name") for p in s.products(store).values()}


def wave(n, v):
    return {"SKU-%d" % i: "Product %d v%d" % (i, v) for i in range(n)}


class LanesTest(unittest.TestCase):
    def exported(self, n, **kw):
        s = WooStack(self)
        w = s.worker(config=config(s, **kw))
        s.publish([product(i) for i in range(n)], "--type", "export_requested",
                  "--connections", "1,2")
        for store in (1, 2):
            wait_until(lambda: names(s, store) == wave(n, 1), timeout=30,
                       what="version 1 at store %d" % store)
        return s, w

    def test_hanging_store_never_holds_back_the_other(self):
        n = 20
        s, w = self.exported(n)
        s.clients[1].faults(hang())
        t0 = time.monotonic()
        for v in (2, 3, 4):
            s.publish([product(i, version=v) for i in range(n)], "--type", "updated")
            wait_until(lambda: names(s, 1) == wave(n, v), timeout=HANG_MS / 4000,
                       what="version %d at store 1 while store 2 hangs" % v)
        # All three waves reached store 1 while store 2's first request of
        # wave 2 still hung: nothing waited for it.
        self.assertLess(time.monotonic() - t0, HANG_MS / 1000)
        self.assertTrue(s.clients[1].requests("products/batch"))
        self.assertNotEqual(names(s, 2), wave(n, 4))
        # Store 2's products wait in Redis (its lane is full or busy), the
        # offsets were committed: the worker is not holding the waves.
        wait_until(lambda: all(s.state(2, "p%d" % i).get("version") == "4" for i in range(n)),
                   timeout=10, what="version 4 recorded for store 2")
        s.clients[1].call("DELETE", "/_fake/faults")
        for i in range(n):
            s.wait_status(2, "p%d" % i, "synced", timeout=HANG_MS / 1000 + 30)
        self.assertEqual(names(s, 2), wave(n, 4))
        for i in range(n):
            self.assertEqual(s.state(2, "p%d" % i).get("synced_version"), "4")

    def test_busy_store_products_wait_in_redis(self):
        # One batch in the lane at a time: while store 2 hangs, the next
        # batches' products for it are handed back to Redis (queued, due at
        # once, left alone by this worker's claims while its lane is busy).
        # (A newer version of a product whose push hangs waits behind it
        # anyway: the hand-back is for other products.)
        n = 10
        s, w = self.exported(n, inflight=1)
        s.clients[1].faults(hang())
        s.publish([product(i, version=2) for i in range(5)], "--type", "updated")
        wait_until(lambda: s.clients[1].requests("products/batch")[-1:] and
                   "v2" in str(s.clients[1].requests("products/batch")[-1].get("json")),
                   timeout=10, what="store 2's push of the first products in flight")
        s.publish([product(i, version=2) for i in range(5, n)], "--type", "updated")
        wait_until(lambda: names(s, 1) == wave(n, 2), timeout=10, what="version 2 at store 1")
        w.wait_log("wait in Redis", timeout=10)
        for i in range(5, n):
            st = s.state(2, "p%d" % i)
            self.assertEqual((st.get("status"), st.get("version"), st.get("owner")),
                             ("retry_pending", "2", None), st)
        queued = s.redis.cli("ZRANGE", PREFIX + "retry", "0", "-1").split()
        self.assertTrue(all("2|default:p%d" % i in queued for i in range(5, n)), queued)
        s.clients[1].call("DELETE", "/_fake/faults")
        for i in range(n):
            s.wait_status(2, "p%d" % i, "synced", timeout=HANG_MS / 1000 + 30)
        self.assertEqual(names(s, 2), wave(n, 2))

    def test_sigterm_with_a_request_hanging_ends_in_time_and_loses_nothing(self):
        n = 10
        s, w = self.exported(n, shutdown_ms=4000)
        s.clients[1].faults(hang())
        s.publish([product(i, version=2) for i in range(n)], "--type", "updated")
        wait_until(lambda: names(s, 1) == wave(n, 2), timeout=10, what="version 2 at store 1")
        wait_until(lambda: s.clients[1].requests("products/batch")[-1:] and
                   "v2" in str(s.clients[1].requests("products/batch")[-1].get("json")),
                   timeout=10, what="store 2's push of version 2 in flight")
        t0 = time.monotonic()
        self.assertEqual(w.stop(timeout=10), 0, w.log()[-3000:])
        self.assertLess(time.monotonic() - t0, 4.0)     # the deadline, not the 20 s hang
        s.clients[1].call("DELETE", "/_fake/faults")
        s.worker(name="worker2", config=config(s))
        for i in range(n):
            s.wait_status(2, "p%d" % i, "synced", timeout=HANG_MS / 1000 + 30)
        self.assertEqual(names(s, 2), wave(n, 2))
        self.assertEqual(names(s, 1), wave(n, 2))


if __name__ == "__main__":
    unittest.main()
