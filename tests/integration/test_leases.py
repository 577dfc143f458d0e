"""Leases never leak (issue 16, item 3): every retry a worker claims is
settled or handed back, so a product never waits out retry.lease_ms while
the worker holding its lease is alive and not pushing it (docs/REDIS.md,
"Leases").  The lease here is 120 s and the retry delay 1 ms: a product
waiting for a lease shows as minutes, one waiting for its retry as nothing."""
import json
import re
import sys
import time
import unittest

from harness import Redis, program, run, wait_until
from test_woo_worker import PREFIX, WooStack, product

LEASE_MS = 120000
CONVERGE_S = 30     # well below the lease


def hang(timeout_ms):
    """Every products request held without an answer past the worker's
    http_timeout_ms (the fake closes it unanswered afterwards)."""
    return {"match": {"path_re": "products"}, "count": 1000000, "action": "timeout",
            "delay_ms": timeout_ms * 3}


def lease_config(s, http_timeout_ms):
    c = s.config()
    worker = "worker = { linger_ms = %d; };" % s.linger_ms
    retry = "retry = { schedule_ms = [100, 200, 400, 800]; "
    assert worker in c and retry in c, c
    return (c.replace(worker, "worker = { linger_ms = %d; http_timeout_ms = %d; };"
                      % (s.linger_ms, http_timeout_ms))
             .replace(retry, "retry = { schedule_ms = [1]; max_attempts = 100; lease_ms = %d; "
                      % LEASE_MS))


def names(s, store):
    return {p.get("sku"): p.get("name") for p in s.products(store).values()}


def wave(n, v):
    return {"SKU-%d" % i: "Product %d v%d" % (i, v) for i in range(n)}


def zcard(s, key):
    return int(s.redis.cli("ZCARD", PREFIX + key))


class LeaseTest(unittest.TestCase):
    def test_hung_store_converges_within_a_retry_delay_once_it_answers(self):
        # The measurement: two stores, one hanging on every request
        # while waves of updates arrive.  A claimed retry that met a fresh
        # event of its product in the batch was dropped with its lease held:
        # the product sat in retry and inflight, and every newer version was
        # deferred behind this worker's own lease, for the whole 120 s.
        n, timeout_ms = 20, 800
        s = WooStack(self)
        s.worker(config=lease_config(s, timeout_ms))
        s.publish([product(i) for i in range(n)], "--type", "export_requested",
                  "--connections", "1,2")
        for store in (1, 2):
            wait_until(lambda: names(s, store) == wave(n, 1), timeout=30,
                       what="version 1 at store %d" % store)
        before = len(s.clients[1].requests("products/batch"))
        s.clients[1].faults(hang(timeout_ms))
        for v in (2, 3, 4):
            s.publish([product(i, version=v) for i in range(n)], "--type", "updated")
            # Store 1 is pushed first in a flush: the worker now hangs on
            # store 2 while the next wave arrives (fresh events of products
            # whose retries are due, claimed in the same batch).
            wait_until(lambda: names(s, 1) == wave(n, v), timeout=60,
                       what="version %d at store 1" % v)
        self.assertGreater(len(s.clients[1].requests("products/batch")), before)   # it hung
        s.clients[1].call("DELETE", "/_fake/faults")
        t0 = time.monotonic()
        wait_until(lambda: names(s, 2) == wave(n, 4), timeout=CONVERGE_S,
                   what="version 4 at store 2 after the hang")
        took = time.monotonic() - t0
        sys.stderr.write("[store 2 converged %.1f s after the hang ended] " % took)
        wait_until(lambda: zcard(s, "inflight") == 0 and zcard(s, "retry") == 0,
                   timeout=10, what="inflight and retry empty (inflight %d, retry %d)"
                   % (zcard(s, "inflight"), zcard(s, "retry")))
        for store in (1, 2):
            for i in range(n):
                st = s.state(store, "p%d" % i)
                self.assertEqual((st.get("status"), st.get("synced_version")), ("synced", "4"),
                                 "p%d at store %d: %s" % (i, store, st))

    def _retrying_behind_a_hung_store(self, timeout_ms):
        """One store, p1 synced at version 1, then version 2 pushed while the
        store hangs: returns (stack, worker) once a claimed retry of
        version 2 is in flight (its second request: the first was the fresh
        event's)."""
        s = WooStack(self, stores=(("trash",),))
        w = s.worker(config=lease_config(s, timeout_ms))
        s.publish([product(1)], "--type", "export_requested", "--connections", "1")
        s.wait_status(1, "p1", "synced")
        s.clients[0].faults(hang(timeout_ms))
        s.publish([product(1, version=2)], "--type", "updated")

        def v2_requests():
            return [r for r in s.clients[0].requests("products/batch")
                    if "Product 1 v2" in json.dumps(r.get("json"))]
        wait_until(lambda: len(v2_requests()) >= 2, timeout=20, what="a retry of version 2 sent")
        return s, w

    def test_claimed_retry_of_a_batch_rewound_on_a_redis_error_is_released(self):
        # Redis fails while a claimed retry is being pushed (SCRIPT FLUSH: the
        # next script answers NOSCRIPT: the main thread's claim, or the
        # lane's settle); a batch in the main thread is rewound.  Its claim
        # used to be dropped with the lease held: nothing pushed the product
        # for 120 s.
        s, w = self._retrying_behind_a_hung_store(2000)
        s.redis.cli("SCRIPT", "FLUSH")
        w.wait_log("NOSCRIPT", timeout=10)
        s.clients[0].call("DELETE", "/_fake/faults")
        t0 = time.monotonic()
        st = s.wait_status(1, "p1", "synced", timeout=CONVERGE_S)
        sys.stderr.write("[synced %.1f s after the rewind] " % (time.monotonic() - t0))
        self.assertEqual(st["synced_version"], "2")
        self.assertEqual(s.by_sku(1, "SKU-1")[0]["name"], "Product 1 v2")
        wait_until(lambda: zcard(s, "inflight") == 0, what="inflight empty")

    def test_sigterm_with_a_claimed_retry_in_flight_leaves_no_lease(self):
        s, w = self._retrying_behind_a_hung_store(1500)
        self.assertNotEqual(zcard(s, "inflight"), 0)      # the retry is claimed now
        w.stop()
        self.assertEqual(w.proc.p.returncode, 0, w.log()[-2000:])
        self.assertEqual(zcard(s, "inflight"), 0)
        self.assertEqual(s.redis.cli("HLEN", PREFIX + "lease"), "0")
        # Queued for its next attempt, due (the delay is 1 ms): any worker
        # takes it now, none waits for a lease.
        due = s.redis.cli("ZSCORE", PREFIX + "retry", "1|default:p1")
        self.assertTrue(due, "p1 not in the retry queue")
        self.assertLessEqual(float(due), time.time() * 1000)
        self.assertEqual(s.state(1, "p1").get("status"), "retry_pending")


class LeaseScriptTest(unittest.TestCase):
    def test_lease_rules_on_the_scripts(self):
        # Two workers' paths played step by step on the real scripts
        # (tests/tools/lease.c): a newer version deferred behind a lease is
        # due at once when the holder releases or settles its overtaken
        # claim; a release with a lost lease changes nothing; a late outcome
        # with a lost lease answers "overtaken" when Redis holds a newer
        # version (the worker queues it again), "fenced" when not.
        r = Redis(self)
        out = run([program("cs-test-lease"), "--redis-port", str(r.port)])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(sorted(re.findall(r"^ok (\S+)$", out.stdout, re.M)), [
            "late_outcome_with_a_lost_lease_of_an_older_version_answers_overtaken",
            "late_outcome_with_a_lost_lease_of_the_stored_version_answers_fenced",
            "outcome_of_overtaken_claim_makes_the_newer_version_due",
            "release_of_overtaken_claim_makes_the_newer_version_due",
            "release_with_a_lost_lease_changes_nothing"], out.stdout)


if __name__ == "__main__":
    unittest.main()
