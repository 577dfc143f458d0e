#!/usr/bin/env python3
"""Chaos run: the delivery guarantee (docs/DESIGN.md) under faults.

Products with several versions each are published to both sinks (a fake
Meta catalog and two fake WooCommerce stores) while the fakes answer
transient 5xx, throttling, timeouts, slow answers, per-item errors and
writes applied whose answer is dropped; workers are killed with SIGKILL at
random moments and restarted; redis-server is restarted (AOF on) mid-run;
malformed events are injected.  At the end every product at every
destination must equal its latest version (or be failed with the reason
when its data is invalid), no product may exist twice, and the dead-letter
topic must hold exactly the injected malformed events.

    chaos.py [--products N] [--versions V] [--workers K] [--kill-every S]
             [--rounds R] [--duration SECONDS] [--seed N]

--duration repeats rounds (new versions of every product) until the time is
up: that is the soak (`make soak`).  Prints its figures and exits 0 when
mismatches == 0.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import (Broker, Fake, FakeClient, Proc, Redis, program, run,  # noqa: E402
                     stop_all, wait_until, worker_cmd)

TOKEN = "chaos-meta-token-5e1"
CATALOG = "7700"
CK, CS = "ck_chaos_" + "1" * 32, "cs_chaos_" + "2" * 32


class Cleanup:
    """Stands in for a unittest.TestCase's addCleanup outside unittest."""

    def __init__(self):
        self.fns = []

    def addCleanup(self, fn, *a):
        self.fns.append((fn, a))

    def run(self):
        for fn, a in reversed(self.fns):
            try:
                fn(*a)
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                print("cleanup: %s" % e, file=sys.stderr)


def product(i, v):
    p = {"id": "c%d" % i, "version": v, "sku": "CH-%d" % i, "name": "Chaos %d v%d" % (i, v),
         "description": "round %d" % v, "price": {"amount": "%d.%02d" % (1 + i % 90, v % 100),
                                                   "currency": "USD"},
         "stock_quantity": (i + v) % 7, "is_active": True, "brand": "Chaos",
         "link": "https://shop.example/c/%d" % i,
         "attributes": [{"name": "COLOR", "value": "C%d" % v}]}
    return p


class Run:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.c = Cleanup()
        self.kills = 0
        self.restarts = 0
        self.events = 0
        self.malformed = []
        self.workers = []
        self.stop_killer = threading.Event()
        self.rss = []
        self.deleted = set()

    # ---- stack ----
    def start(self):
        c = self.c
        self.redis = Redis(c)
        self.redis.cli("CONFIG", "SET", "appendfsync", "always")
        self.broker = Broker(c, partitions=8)
        self.meta = Fake("fake_meta.py", ["--token", TOKEN, "--catalog", CATALOG], c)
        self.stores = [Fake("fake_woo.py", ["--key", CK, "--secret", CS], c) for _ in range(2)]
        self.mc = FakeClient(self.meta.addr)
        self.wc = [FakeClient(s.addr) for s in self.stores]
        self.conf = os.path.join(tempfile.mkdtemp(prefix="cs-chaos-"), "chaos.conf")
        stores = ", ".join(
            '{ id = %d; base_url = "http://%s"; auth = "oauth1"; consumer_key = "env:CK"; '
            'consumer_secret = "env:CS"; delete_policy = "trash"; batch_size = 50; '
            'fields = ["name", "sku", "price", "description", "stock", "COLOR"]; }'
            % (n + 1, s.addr) for n, s in enumerate(self.stores))
        with open(self.conf, "w") as f:
            f.write('kafka = { brokers = "%s"; properties = ["session.timeout.ms=6000", '
                    '"heartbeat.interval.ms=500"]; };\n'
                    'redis = { port = %d; };\n'
                    'worker = { linger_ms = 100; batch_max = 500; http_timeout_ms = 3000; '
                    'confirm_poll_ms = 20; confirm_timeout_ms = 5000; shutdown_deadline_ms = 10000; };\n'
                    # Transient faults must never exhaust a product: attempts are plenty.
                    'retry = { schedule_ms = [50, 100, 200, 400, 800]; max_attempts = 100; '
                    'jitter_pct = 20; lease_ms = 4000; throttle_default_ms = 300; '
                    'auth_pause_ms = 500; };\n'
                    'meta = { catalogs = ( { id = "main"; base_url = "http://%s"; '
                    'api_version = "v25.0"; catalog_id = "%s"; token = "env:MT"; '
                    'placeholder_image_url = "https://shop.example/no-image.png"; } ); };\n'
                    'woocommerce = { connections = ( %s ); };\n'
                    % (self.broker.brokers, self.redis.port, self.meta.addr, CATALOG, stores))
        for n in range(self.a.workers):
            self.spawn("meta", n)
            self.spawn("woocommerce", n)

    def spawn(self, sink, n):
        name = "%s-%d" % (sink, n)
        p = Proc(name, worker_cmd(sink, self.conf), env={"MT": TOKEN, "CK": CK, "CS": CS})
        self.c.addCleanup(p.stop)
        slot = [w for w in self.workers if w[0] == name]
        if slot:
            slot[0][1] = p
        else:
            self.workers.append([name, p, sink, n])

    # ---- faults ----
    def faults(self, scale):
        m = {"method": "POST", "path_re": "items_batch$"}
        s = {"method": "GET", "path_re": "check_batch_request_status"}
        self.mc.faults(
            {"match": m, "count": 6 * scale, "action": "error", "code": 2},
            {"match": m, "count": 4 * scale, "action": "http_status", "status": 502,
             "body": "<html>bad gateway</html>"},
            {"match": m, "count": 2 * scale, "action": "rate_limit", "code": 80014,
             "estimated_time_to_regain_access": 0, "retry_after": 1},
            {"match": m, "count": 3 * scale, "action": "timeout", "delay_ms": 400},
            {"match": m, "count": 3 * scale, "action": "slow", "delay_ms": 300},
            {"match": m, "count": 2 * scale, "action": "batch_error", "applied": 3},
            {"match": m, "count": 2 * scale, "action": "drop_response"},
            {"match": s, "count": 3 * scale, "action": "http_status", "status": 500,
             "body": "oops"},
        )
        b = {"path_re": "products"}
        for wc in self.wc:
            wc.faults(
                {"match": b, "count": 5 * scale, "action": "http_status", "status": 500,
                 "body": "<html>critical error</html>"},
                {"match": b, "count": 2 * scale, "action": "rate_limit", "retry_after": 1},
                {"match": b, "count": 3 * scale, "action": "timeout", "delay_ms": 400},
                {"match": {"method": "POST", "path_re": "products/batch"}, "count": 3 * scale,
                 "action": "drop_response"},
                {"match": b, "count": 3 * scale, "action": "slow", "delay_ms": 300},
            )
        # Invalid data: these products fail for good, with the reason.
        self.invalid_meta = {"CH-%d" % i for i in range(3, self.a.products, 97)}
        self.invalid_woo = {"CH-%d" % i for i in range(5, self.a.products, 89)}
        for sku in sorted(self.invalid_meta):
            self.mc.faults({"action": "item_error", "retailer_id": sku, "count": 100000,
                            "message": "chaos: invalid item %s" % sku})
        for sku in sorted(self.invalid_woo):
            for wc in self.wc:
                wc.faults({"action": "item_error", "sku": sku, "count": 100000,
                           "code": "product_invalid_image", "message": "chaos: bad %s" % sku})

    # ---- chaos ----
    def killer(self):
        while not self.stop_killer.wait(self.rng.uniform(self.a.kill_every * 0.5,
                                                         self.a.kill_every * 1.5)):
            # With --keep-one, worker 0 of each sink is never killed: its
            # memory over the rounds is what "flat memory" is judged on.
            pool = [w for w in self.workers if not (self.a.keep_one and w[3] == 0)]
            w = self.rng.choice(pool)
            w[1].stop(sig=9)
            self.kills += 1
            self.spawn(w[2], w[3])

    def restart_redis(self):
        port, rdir = self.redis.port, self.redis.dir
        self.redis.proc.stop()          # SIGTERM: the AOF is flushed
        self.redis.proc = Proc("redis", ["redis-server", "--port", str(port), "--bind",
                                         "127.0.0.1", "--dir", rdir, "--save", "",
                                         "--appendonly", "yes", "--appendfsync", "always",
                                         "--maxmemory-policy", "noeviction"])
        wait_until(self.redis.ping, timeout=20, what="redis back")
        self.restarts += 1

    def publish(self, items, *args):
        r = run([program("catalogsync-publish"), "-b", self.broker.brokers, "--quiet"]
                + list(args), input="\n".join(json.dumps(i) for i in items) + "\n", timeout=300)
        if r.returncode != 0:
            raise RuntimeError("publish failed: %s" % r.stderr[-1000:])
        self.events += len(items)

    def inject_malformed(self, n):
        bad = [b'{"schema":1,"type":"product.updated"}', b'not json at all', b'\xff\xfe\x00',
               b'{"schema":1,"event_id":"x","type":"product.renamed","occurred_at":'
               b'"2026-01-01T00:00:00Z","product":{"id":"1","version":1}}', b'[]']
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            for k in range(n):
                f.write(bad[k % len(bad)] + b"\n")
            path = f.name
        r = subprocess.run(["kcat", "-P", "-b", self.broker.brokers, "-t",
                            self.broker.topic, "-K", "\t", "-l", path],
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("kcat: %s" % r.stderr)
        self.malformed_count = getattr(self, "malformed_count", 0) + n

    def sample_rss(self):
        total = {}
        for name, p, _, _ in self.workers:
            try:
                with open("/proc/%d/status" % p.p.pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total[name] = int(line.split()[1])
            except OSError:
                pass
        self.rss.append(total)

    # ---- checks ----
    def state(self, sink, conn, pid):
        lines = self.redis.cli("HGETALL", "catalogsync:{%s}:state:%s:default:%s"
                               % (sink, conn, pid)).splitlines()
        return dict(zip(lines[0::2], lines[1::2]))

    def settled(self, final):
        for i in range(self.a.products):
            for sink, conns in (("meta", ["main"]), ("woocommerce", ["1", "2"])):
                for conn in conns:
                    st = self.state(sink, conn, "c%d" % i)
                    if i in self.deleted:
                        if st:
                            return False
                    elif st.get("version") != str(final) or st.get("status") not in (
                            "synced", "failed"):
                        return False
        return True

    def explain(self, final):
        """Says what is not settled (on a timeout)."""
        seen = {}
        for i in range(self.a.products):
            for sink, conns in (("meta", ["main"]), ("woocommerce", ["1", "2"])):
                for conn in conns:
                    st = self.state(sink, conn, "c%d" % i)
                    k = (sink, conn, st.get("status"), st.get("version"))
                    seen.setdefault(k, []).append(i)
        for k, v in sorted(seen.items(), key=str):
            print("unsettled? %s: %d products, e.g. %s" % (k, len(v), v[:5]))
        keys = self.redis.cli("--scan", "--pattern", "*state*").splitlines()
        print("state keys: %d, e.g. %s" % (len(keys), keys[:3]))
        logdir = tempfile.mkdtemp(prefix="cs-chaos-logs-")
        for name, p, _, _ in self.workers:
            with open(os.path.join(logdir, name + ".log"), "w") as f:
                f.write(p.read_log())
            print("---- %s (alive %s)\n%s" % (name, p.alive(), p.read_log()[-1500:]))
        print("full worker logs in " + logdir)

    def verify(self, final):
        bad = []
        items = self.mc.state()["catalogs"][CATALOG]["items"]
        stores = [wc.state()["products"] for wc in self.wc]
        for i in range(self.a.products):
            sku, want = "CH-%d" % i, product(i, final)
            # Meta
            st = self.state("meta", "main", "c%d" % i)
            if i in self.deleted:
                if sku in items or st:
                    bad.append("meta %s: deleted but still there" % sku)
            elif sku in self.invalid_meta:
                # Meta's errors list is a sample: an invalid id beyond it gets
                # the generic reason.
                msg = st.get("last_error_message", "")
                if st.get("status") != "failed" or not ("chaos: invalid item" in msg or
                                                        "rejected by Meta" in msg):
                    bad.append("meta %s: want failed with reason, got %s" % (sku, st))
            else:
                f = items.get(sku, {}).get("fields", {})
                if f.get("title") != want["name"] or st.get("status") != "synced":
                    bad.append("meta %s: title %r status %r, want %r synced"
                               % (sku, f.get("title"), st.get("status"), want["name"]))
            # WooCommerce
            for n, prods in enumerate(stores, start=1):
                live = [p for p in prods.values() if p.get("sku") == sku]
                active = [p for p in live if p["status"] != "trash"]
                st = self.state("woocommerce", str(n), "c%d" % i)
                if len(live) > 1:
                    bad.append("store %d %s: %d products (duplicate)" % (n, sku, len(live)))
                if i in self.deleted:
                    if active or st:
                        bad.append("store %d %s: deleted but active or state left" % (n, sku))
                elif sku in self.invalid_woo:
                    if st.get("status") != "failed" or "chaos: bad" not in st.get(
                            "last_error_message", ""):
                        bad.append("store %d %s: want failed with reason, got %s" % (n, sku, st))
                elif len(active) != 1 or active[0]["name"] != want["name"]:
                    bad.append("store %d %s: %s, want %r" % (
                        n, sku, [p["name"] for p in active], want["name"]))
        # Every link names the store's product that has the SKU.
        keys = [(n, i) for n in range(1, len(stores) + 1) for i in range(self.a.products)
                if i not in self.deleted]
        rids = self.redis.cli_many([["HGET", "catalogsync:{woocommerce}:link:%d:default:c%d"
                                     % (n, i), "remote_id"] for n, i in keys])
        for (n, i), rid in zip(keys, rids):
            sku = "CH-%d" % i
            ids = sorted(p["id"] for p in stores[n - 1].values() if p.get("sku") == sku)
            if ids and [int(rid or 0)] != ids:
                bad.append("store %d %s: link remote_id %r, store has %s" % (n, sku, rid, ids))
        # Dead letters: exactly the injected malformed events, per sink (a
        # message read twice after a kill may be dead-lettered twice: count
        # distinct source offsets).
        dlq = self.broker.consume(self.broker.dlq)
        for sink in ("meta", "woocommerce"):
            offs = {(m["headers"]["source_partition"], m["headers"]["source_offset"])
                    for m in dlq if m["headers"].get("sink") == sink}
            if len(offs) != self.malformed_count:
                bad.append("dlq %s: %d distinct, want %d" % (sink, len(offs),
                                                              self.malformed_count))
        return bad

    def main(self):
        a = self.a
        t0 = time.monotonic()
        self.start()
        self.faults(scale=max(1, a.products // 100))
        killer = threading.Thread(target=self.killer, daemon=True)
        killer.start()
        ids = list(range(a.products))
        self.publish([product(i, 1) for i in ids], "--type", "export_requested",
                     "--connections", "1,2")
        self.inject_malformed(10)
        version, rnd = 1, 0
        deadline = t0 + a.duration if a.duration else None
        while True:
            rnd += 1
            for v in range(version + 1, version + a.versions):
                self.rng.shuffle(ids)
                self.publish([product(i, v) for i in ids], "--type", "updated")
            version += a.versions - 1
            if rnd == 1:
                self.restart_redis()
                self.inject_malformed(10)
            if a.duration:
                # Soak: let the workers catch up before the next round, so the
                # dev broker's retention is never outrun.
                wait_until(lambda: self.settled(version), timeout=a.settle_timeout,
                           interval=1.0, what="round %d settled" % rnd)
            self.sample_rss()
            print("round %d: version %d, %d events, %d kills, rss %s" % (
                rnd, version, self.events, self.kills, self.rss[-1]), flush=True)
            if deadline is None and rnd >= a.rounds:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
        # Delete a few products at the end.
        # (Never one the fakes were told to reject: their item errors hit
        # deletes too, which real channels treat as done.)
        self.deleted = set(range(1, a.products, 53)) - {
            int(s[3:]) for s in self.invalid_meta | self.invalid_woo}
        self.publish([{"id": "c%d" % i, "version": version + 1, "sku": "CH-%d" % i}
                      for i in sorted(self.deleted)], "--type", "deleted")
        # Keep killing while the workers catch up, then let them settle.
        while time.monotonic() < t0 + a.chaos_seconds:
            time.sleep(0.5)
        self.stop_killer.set()
        killer.join()
        try:
            wait_until(lambda: self.settled(version), timeout=a.settle_timeout, interval=1.0,
                       what="every product settled at version %d" % version)
        except AssertionError:
            self.explain(version)
            raise
        self.sample_rss()
        bad = self.verify(version)
        faults = {}
        for cl in [self.mc] + self.wc:
            for k, v in cl.stats().get("faults_applied", {}).items():
                faults[k] = faults.get(k, 0) + v
        print("chaos: %d products x %d versions, %d events published, %d malformed injected, "
              "faults %s, %d kills, %d redis restarts, %.0f s" % (
                  a.products, version, self.events, self.malformed_count,
                  json.dumps(faults, sort_keys=True), self.kills, self.restarts,
                  time.monotonic() - t0))
        if len(self.rss) > 2:
            first, last = self.rss[1], self.rss[-1]
            print("worker RSS kB after round 1 / at the end: %s / %s" % (
                sum(first.values()), sum(last.values())))
            if self.a.keep_one:
                for name in ("meta-0", "woocommerce-0"):
                    print("%s (never killed) RSS kB by round: %s" % (
                        name, " ".join(str(r.get(name, "?")) for r in self.rss)))
        for b in bad[:30]:
            print("MISMATCH " + b)
        print("mismatches: %d" % len(bad))
        return 0 if not bad else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--products", type=int, default=300)
    ap.add_argument("--versions", type=int, default=3, help="versions per round")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="workers per sink")
    ap.add_argument("--kill-every", type=float, default=4.0, help="seconds between SIGKILLs")
    ap.add_argument("--duration", type=float, default=0, help="soak: repeat rounds this long")
    ap.add_argument("--chaos-seconds", type=float, default=25,
                    help="kill workers for at least this long from the start")
    ap.add_argument("--keep-one", action="store_true",
                    help="never kill worker 0 of each sink (long-lived memory figures)")
    ap.add_argument("--settle-timeout", type=float, default=240)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", "7")))
    args = ap.parse_args()
    r = Run(args)
    try:
        return r.main()
    finally:
        r.stop_killer.set()
        r.c.run()
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
