"""catalogsync-publish end to end: real dev broker, read back with a real
consumer; every kind of bad input rejected with a reason and nothing sent."""
import json
import os
import tempfile
import unittest

from harness import Broker, Redis, program, run


def snapshot(i, version=1, **extra):
    p = {"id": "p%d" % i, "version": version, "sku": "SKU-%d" % i, "name": "Product %d" % i,
         "price": {"amount": "%d.99" % (10 + i), "currency": "USD"}, "stock_quantity": i,
         "is_active": True, "images": ["media/p%d.jpg" % i],
         "attributes": [{"name": "COLOR", "value": "Red"}]}
    p.update(extra)
    return p


def event(i, type_="product.updated", version=1, **extra):
    ev = {"schema": 1, "event_id": "ev-%d-%d" % (i, version), "type": type_,
          "tenant": "shop", "occurred_at": "2026-11-21T10:00:00Z",
          "product": snapshot(i, version)}
    ev.update(extra)
    return ev


class PublishTest(unittest.TestCase):
    def setUp(self):
        self.broker = Broker(self, partitions=4)
        self.tmp = tempfile.mkdtemp(prefix="cs-pub-")

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        return path

    def publish(self, *args, input=None, env=None):
        return run([program("catalogsync-publish"), "-b", self.broker.brokers] + list(args),
                   input=input, env=env)

    def test_snapshots_jsonl_keys_headers_payload(self):
        lines = "\n".join(json.dumps(snapshot(i)) for i in range(20)) + "\n"
        r = self.publish("--type", "updated", "--tenant", "shop1", "--actor", "u1",
                         self.write("in.jsonl", lines))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("20 published, 0 rejected, 0 failed", r.stdout)
        msgs = self.broker.consume(count=20)
        self.assertEqual(len(msgs), 20)
        seen = set()
        for m in msgs:
            ev = json.loads(m["value"])
            pid = ev["product"]["id"]
            self.assertEqual(m["key"], "shop1:" + pid)
            self.assertEqual(m["headers"]["type"], "product.updated")
            self.assertEqual(m["headers"]["schema"], "1")
            self.assertEqual(m["headers"]["event_id"], ev["event_id"])
            self.assertEqual(ev["schema"], 1)
            self.assertEqual(ev["tenant"], "shop1")
            self.assertEqual(ev["actor"], "u1")
            i = int(pid[1:])
            self.assertEqual(ev["product"]["price"], {"amount": "%d.99" % (10 + i),
                                                      "currency": "USD"})
            self.assertEqual(ev["product"]["attributes"], [{"name": "COLOR", "value": "Red"}])
            seen.add(pid)
        self.assertEqual(len(seen), 20)

    def test_same_product_one_partition_in_order(self):
        evs = [event(1, version=v) for v in range(1, 11)] + [event(2, version=1)]
        r = self.publish(self.write("events.json", json.dumps(evs, indent=2)))
        self.assertEqual(r.returncode, 0, r.stderr)
        msgs = self.broker.consume(count=11)
        p1 = [m for m in msgs if m["key"] == "shop:p1"]
        self.assertEqual(len({m["partition"] for m in p1}), 1)
        versions = [json.loads(m["value"])["product"]["version"]
                    for m in sorted(p1, key=lambda m: m["offset"])]
        self.assertEqual(versions, list(range(1, 11)))
        ids = {json.loads(m["value"])["event_id"] for m in msgs}
        self.assertIn("ev-1-7", ids)

    def test_export_and_delete_flags(self):
        r = self.publish("--type", "export_requested", "--connections", "1,2",
                         "--fields", "name,sku,price,COLOR", "--partial-update",
                         input=json.dumps(snapshot(5)))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.publish("--type", "deleted", "--delete-mode", "permanent",
                         input=json.dumps({"id": "p5", "version": 9, "sku": "SKU-5"}))
        self.assertEqual(r.returncode, 0, r.stderr)
        msgs = sorted(self.broker.consume(count=2), key=lambda m: m["offset"])
        evs = [json.loads(m["value"]) for m in msgs]
        self.assertEqual(evs[0]["export"], {"connections": [1, 2],
                                            "fields": ["name", "sku", "price", "COLOR"],
                                            "partial_update": True})
        self.assertEqual(evs[1]["type"], "product.deleted")
        self.assertEqual(evs[1]["delete_mode"], "permanent")

    def test_each_bad_input_rejected_nothing_published(self):
        big = snapshot(1, description="x" * (1024 * 1024 + 10))
        cases = [
            ("missing id", json.dumps({"version": 1, "sku": "A"}), "product.id: is missing"),
            ("price number", json.dumps(snapshot(1, price={"amount": 12.5, "currency": "USD"})),
             "product.price.amount: must be a decimal string"),
            ("price comma", json.dumps(snapshot(1, price={"amount": "12,50", "currency": "USD"})),
             "product.price.amount: is not a decimal string"),
            ("negative price", json.dumps(snapshot(1, price={"amount": "-1", "currency": "USD"})),
             "product.price.amount: is negative"),
            ("version string", json.dumps(snapshot(1, version="3")),
             "product.version: must be an integer, got string"),
            ("unknown type", json.dumps(dict(event(1), type="product.renamed")),
             "type: unknown event type \"product.renamed\""),
            ("too big", json.dumps(big), "over the 1048576-byte cap"),
            ("invalid utf8", b'{"id":"p1","version":1,"name":"caf\xc3\x28"}', "invalid UTF-8 at byte"),
            ("wrong json type", "[[1,2]]", "event: must be a JSON object, got array"),
            ("name integer", json.dumps(snapshot(1, name=7)),
             "product.name: must be a string or null, got integer"),
            ("malformed", '{"id": "p1", "version": }', "malformed JSON"),
        ]
        for label, text, want in cases:
            with self.subTest(label):
                r = self.publish("--type", "updated",
                                 self.write(label.replace(" ", "_") + ".json", text))
                self.assertEqual(r.returncode, 1, "%s: %s" % (label, r.stderr))
                self.assertIn(want, r.stderr)
                self.assertIn("0 published, 1 rejected, 0 failed", r.stdout)
        self.assertEqual(self.broker.consume(), [])

    def test_mixed_input_publishes_only_valid(self):
        lines = [json.dumps(snapshot(1)), '{"id":"p2","version":"x"}', json.dumps(snapshot(3))]
        r = self.publish("--type", "updated", self.write("mixed.jsonl", "\n".join(lines)))
        self.assertEqual(r.returncode, 1)
        self.assertIn("mixed.jsonl:2: rejected: product.version", r.stderr)
        self.assertIn("2 published, 1 rejected, 0 failed", r.stdout)
        keys = sorted(m["key"] for m in self.broker.consume(count=2))
        self.assertEqual(keys, ["default:p1", "default:p3"])

    def test_snapshot_without_type_is_rejected(self):
        r = self.publish(input=json.dumps(snapshot(1)))
        self.assertEqual(r.returncode, 1)
        self.assertIn("--type", r.stderr)

    def test_dry_run_publishes_nothing(self):
        r = self.publish("--dry-run", "--type", "created", input=json.dumps(snapshot(1)))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 valid (dry run", r.stdout)
        self.assertEqual(self.broker.consume(), [])

    def test_delivery_failure_exits_2(self):
        r = run([program("catalogsync-publish"), "-b", "127.0.0.1:1", "--type", "updated",
                 "-X", "message.timeout.ms=1500", "-X", "log_level=0"],
                input=json.dumps(snapshot(1)))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("0 published, 0 rejected, 1 failed", r.stdout)
        self.assertIn("delivery failed", r.stderr)

    def test_usage_and_help(self):
        r = run([program("catalogsync-publish"), "--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("Exit status", r.stdout)
        r = run([program("catalogsync-publish"), "--type", "nonsense"])
        self.assertEqual(r.returncode, 64)
        r = run([program("catalogsync-publish"), "-b", self.broker.brokers, "/nonexistent.json"])
        self.assertEqual(r.returncode, 66)


class BulkPublishTest(unittest.TestCase):
    def test_100k_events_from_one_file(self):
        # 12 partitions keep each under the dev broker's ~5 MB retention.
        broker = Broker(self, partitions=12)
        n = 100000
        tmp = tempfile.mkdtemp(prefix="cs-bulk-")
        path = os.path.join(tmp, "bulk.jsonl")
        with open(path, "w") as f:
            for i in range(n):
                f.write('{"id":"p%d","version":%d,"sku":"S%d","price":{"amount":"1.00",'
                        '"currency":"EUR"}}\n' % (i % 20000, i // 20000 + 1, i % 20000))
        r = run([program("catalogsync-publish"), "-b", broker.brokers, "--type", "updated",
                 "--quiet", path], timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("%d published, 0 rejected, 0 failed" % n, r.stdout)
        self.assertEqual(broker.count(), n)


class ConfigCliTest(unittest.TestCase):
    def test_check_config_redacts_secrets(self):
        tmp = tempfile.mkdtemp(prefix="cs-cfg-")
        conf = os.path.join(tmp, "c.conf")
        with open(conf, "w") as f:
            f.write('kafka = { brokers = "127.0.0.1:9999";\n'
                    '  properties = ["sasl.password=env:CS_T_KPASS", "linger.ms=7"]; };\n'
                    'redis = { password = "env:CS_T_RPASS"; };\n')
        env = {"CS_T_KPASS": "kafka-secret-value-1", "CS_T_RPASS": "redis-secret-value-2",
               "CATALOGSYNC_KAFKA_TOPIC": "from.env"}
        r = run([program("catalogsync-publish"), "-c", conf, "--check-config"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout + r.stderr
        self.assertNotIn("kafka-secret-value-1", out)
        self.assertNotIn("redis-secret-value-2", out)
        self.assertIn("[REDACTED]", out)
        self.assertIn('topic = "from.env"', out)
        self.assertIn("linger.ms=7", out)

    def test_config_error_names_file_and_line(self):
        tmp = tempfile.mkdtemp(prefix="cs-cfg-")
        conf = os.path.join(tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write('kafka = {\n  brokers = "x";\n  bogus = 1;\n};\n')
        r = run([program("catalogsync-publish"), "-c", conf, "--check-config"])
        self.assertEqual(r.returncode, 78)
        self.assertIn("bad.conf:3: unknown key \"bogus\" in section \"kafka\"", r.stderr)


class HarnessTest(unittest.TestCase):
    def test_redis_started_and_stopped_by_pid(self):
        redis = Redis()
        self.assertTrue(redis.ping())
        self.assertEqual(redis.cli("CONFIG", "GET", "appendonly").split()[-1], "yes")
        pid = redis.proc.p.pid
        redis.stop()
        self.assertFalse(os.path.exists("/proc/%d" % pid) and
                         open("/proc/%d/stat" % pid).read().split()[2] != "Z")

    def test_broker_stops_cleanly_on_sigterm(self):
        broker = Broker(kind="dev")
        self.assertTrue(broker.brokers.startswith("127.0.0.1:"))
        self.assertEqual(broker.stop(), 0)


if __name__ == "__main__":
    unittest.main()
