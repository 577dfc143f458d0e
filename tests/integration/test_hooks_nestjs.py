"""The NestJS producer hook (hooks/nestjs) end to end: hooks/nestjs/setup.sh
installs its npm packages from package-lock.json and compiles it with tsc;
its script entry (dist/cli.js) publishes products through
CatalogSyncPublisher inside a Nest application context to the dev broker; a
real `catalogsync-worker --sink meta` pushes them into the fake Meta catalog."""
import json
import os
import subprocess
import unittest
import zlib

from harness import ROOT, free_port, program, run, wait_until
from test_meta_worker import MetaStack

HOOK = os.path.join(ROOT, "hooks", "nestjs")
CLI = os.path.join(HOOK, "dist", "cli.js")


def setup_hook():
    r = subprocess.run([os.path.join(HOOK, "setup.sh")], capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0:
        raise AssertionError("hooks/nestjs/setup.sh failed (%d):\n%s\n%s"
                             % (r.returncode, r.stdout, r.stderr))


def product(pid, version, sku, name, amount, currency="USD", **extra):
    p = {"id": pid, "version": version, "sku": sku, "name": name, "brand": "Acme",
         "price": {"amount": amount, "currency": currency}, "stock_quantity": 4,
         "is_active": True, "link": "https://shop.example/p/" + pid}
    p.update(extra)
    return p


class NestHookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        setup_hook()

    def publish(self, brokers, requests, *args, timeout=60):
        text = "".join(json.dumps(r) + "\n" for r in requests)
        return subprocess.run(["node", CLI, "--brokers", brokers] + list(args), input=text,
                              capture_output=True, text=True, timeout=timeout)

    def test_publish_to_meta_catalog(self):
        s = MetaStack(self, partitions=3)
        s.worker()
        reqs = [
            {"type": "updated", "product": product("n1", 1, "NEST-1", "Nest mug", "12.50")},
            {"type": "created", "product": product("n2", 1, "NEST-2", "Nest pot", "1800",
                                                   "JPY"), "actor": "user:7"},
            {"type": "updated", "product": product("n3", 1, "NEST-3", "Nest cup", "4.25", "KWD")},
            {"type": "updated", "product": product("n1", 2, "NEST-1", "Nest mug v2", "11.90"),
             "changed_fields": ["name", "price"]},
            {"type": "deleted", "product": {"id": "n3", "version": 2, "sku": "NEST-3"}},
            {"type": "export_requested", "product": product("n1", 2, "NEST-1", "Nest mug v2",
                                                            "11.90"),
             "export": {"connections": [1], "fields": ["name", "sku", "price"]}},
            # Money as a JSON number breaks the contract: rejected, nothing sent for it.
            {"type": "updated", "product": product("bad", 1, "BAD-1", "Bad", 12.5)},
        ]
        r = self.publish(s.broker.brokers, reqs)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("6 published, 1 rejected, 0 failed", r.stdout)
        self.assertIn(":7: rejected: product.price.amount: must be a decimal string", r.stderr)
        printed = [line.split() for line in r.stdout.splitlines() if line.startswith("EVENT ")]
        self.assertEqual(len(printed), 6)

        msgs = s.broker.consume(count=6)
        self.assertEqual(len(msgs), 6)
        for m in msgs:
            ev = json.loads(m["value"])
            self.assertEqual(m["key"], "default:" + ev["product"]["id"])
            self.assertEqual(m["headers"], {"type": ev["type"], "schema": "1",
                                            "event_id": ev["event_id"]})
            # librdkafka's partitioner (CRC-32 of the key), as catalogsync-publish.
            self.assertEqual(m["partition"], zlib.crc32(m["key"].encode()) % 3, m)
        self.assertEqual(sorted(json.loads(m["value"])["event_id"] for m in msgs),
                         sorted(p[1] for p in printed))
        d = run([program("catalogsync-publish"), "--dry-run"],
                input="".join(m["value"] + "\n" for m in msgs))
        self.assertEqual(d.returncode, 0, d.stderr)
        self.assertIn("6 valid", d.stdout)
        evs = {(e["type"], e["product"]["id"]): e for e in (json.loads(m["value"]) for m in msgs)}
        self.assertEqual(evs[("product.deleted", "n3")]["delete_mode"], "soft")
        self.assertEqual(evs[("product.created", "n2")]["actor"], "user:7")
        self.assertEqual(evs[("product.export_requested", "n1")]["export"],
                         {"connections": [1], "fields": ["name", "sku", "price"],
                          "partial_update": False})

        # The same key from catalogsync-publish lands in the same partition.
        s.publish([product("n2", 0, "NEST-2", "older", "1")], "--type", "updated")
        again = [m for m in s.broker.consume(count=7) if m["key"] == "default:n2"]
        self.assertEqual(len({m["partition"] for m in again}), 1, again)

        wait_until(lambda: s.state("n1").get("synced_version") == "2", timeout=30,
                   what="n1 v2 synced")
        s.wait_status("n2", "synced")
        wait_until(lambda: "NEST-3" not in s.items() and s.state("n3") == {}, timeout=30,
                   what="n3 deleted")
        items = s.items()
        self.assertEqual(items["NEST-1"]["fields"]["title"], "Nest mug v2")
        self.assertEqual(items["NEST-1"]["fields"]["price"], "11.90 USD")
        self.assertEqual(items["NEST-2"]["fields"]["price"], "1800 JPY")
        self.assertEqual(items["NEST-2"]["fields"]["title"], "Nest pot")   # v0 was skipped
        self.assertNotIn("BAD-1", items)

    def test_unreachable_kafka_fails_within_the_deadline(self):
        dead = "127.0.0.1:%d" % free_port()
        r = self.publish(dead, [{"type": "updated", "product": product("x", 1, "X", "X", "1")}],
                         "--timeout", "2000", timeout=30)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("0 published, 0 rejected, 1 failed", r.stdout)
        self.assertIn("did not acknowledge 1 events within 2000 ms", r.stderr)

    def test_lock_file_pins_the_dependencies(self):
        with open(os.path.join(HOOK, "package.json")) as f:
            pkg = json.load(f)
        with open(os.path.join(HOOK, "package-lock.json")) as f:
            lock = json.load(f)
        self.assertEqual(set(pkg["dependencies"]),
                         {"@nestjs/common", "@nestjs/core", "kafkajs", "reflect-metadata", "rxjs"})
        self.assertEqual(set(pkg["devDependencies"]), {"typescript", "@types/node"})
        root = lock["packages"][""]
        self.assertEqual(root["dependencies"], pkg["dependencies"])
        self.assertEqual(root["devDependencies"], pkg["devDependencies"])
        for name in list(pkg["dependencies"]) + list(pkg["devDependencies"]):
            self.assertIn("node_modules/" + name, lock["packages"])


if __name__ == "__main__":
    unittest.main()
