"""The NestJS producer hook (hooks/nestjs) end to end: hooks/nestjs/setup.sh
installs its npm packages from package-lock.json and compiles it with tsc;
its script entry (dist/cli.js) publishes products through
CatalogSyncPublisher inside a Nest application context to the test's topics
on the real Kafka broker (harness Broker); a real `catalogsync-worker --sink
meta` pushes them into the fake Meta catalog.  The producer is idempotent:
the broker itself is asked (DescribeProducers) which producer ids and
sequence numbers it tracks for each partition."""
import json
import os
import socket
import struct
import subprocess
import unittest
import zlib

from harness import ROOT, Broker, free_port, program, run, wait_until
from test_meta_worker import MetaStack

HOOK = os.path.join(ROOT, "hooks", "nestjs")
CLI = os.path.join(HOOK, "dist", "cli.js")


def setup_hook():
    r = subprocess.run([os.path.join(HOOK, "setup.sh")], capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0:
        raise AssertionError("hooks/nestjs/setup.sh failed (%d):\n%s\n%s"
                             % (r.returncode, r.stdout, r.stderr))


def _uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(">" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(">" + fmt)
        return v[0]

    def uvarint(self):
        shift = n = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def compact_string(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        v = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return v

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def describe_producers(brokers, topic, partitions):
    """Kafka's DescribeProducers (API 61, v0) for partitions 0..partitions-1
    of topic, asked of the first broker (the leader on the one-node test
    broker): {partition: [(producer_id, epoch, last_sequence), ...]}, the
    producer state the broker keeps for idempotent and transactional
    producers only (a non-idempotent producer's batches carry producer id -1
    and leave none)."""
    host, port = brokers.split(",")[0].rsplit(":", 1)
    body = (_uvarint(2) + _uvarint(len(topic) + 1) + topic.encode() +
            _uvarint(partitions + 1) + b"".join(struct.pack(">i", p) for p in range(partitions)) +
            b"\0" + b"\0")
    client = b"catalogsync-test"
    header = struct.pack(">hhih", 61, 0, 7, len(client)) + client + b"\0"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("the broker closed the connection (DescribeProducers)")
            data += chunk
    r = _Reader(data[4:])
    assert r.take("i") == 7, "correlation id"
    r.tags()
    r.take("i")                                   # throttle_time_ms
    out = {}
    for _ in range(r.uvarint() - 1):
        name = r.compact_string()
        for _ in range(r.uvarint() - 1):
            part, err = r.take("i"), r.take("h")
            msg = r.compact_string()
            if err:
                raise AssertionError("DescribeProducers %s/%d: error %d %s" % (name, part, err, msg))
            producers = []
            for _ in range(r.uvarint() - 1):
                pid, epoch, seq = r.take("q"), r.take("i"), r.take("i")
                r.take("q"), r.take("i"), r.take("q")   # last timestamp, coordinator epoch, txn start
                r.tags()
                producers.append((pid, epoch, seq))
            r.tags()
            out[part] = producers
        r.tags()
    return out


def check_idempotent(test, broker, msgs):
    """The broker tracks one idempotent producer in every partition the
    messages went to, whose last sequence number counts exactly them
    (sequences start at 0 per partition), and none elsewhere."""
    per_partition = {}
    for m in msgs:
        per_partition[m["partition"]] = per_partition.get(m["partition"], 0) + 1
    state = describe_producers(broker.brokers, broker.topic, broker.partitions)
    test.assertEqual(sorted(state), list(range(broker.partitions)), state)
    ids = set()
    for part, producers in state.items():
        n = per_partition.get(part, 0)
        if not n:
            test.assertEqual(producers, [], "partition %d" % part)
            continue
        test.assertEqual(len(producers), 1, "partition %d: %s (not an idempotent producer?)"
                         % (part, producers))
        pid, epoch, last_seq = producers[0]
        test.assertGreaterEqual(pid, 0)
        test.assertGreaterEqual(epoch, 0)
        test.assertEqual(last_seq, n - 1, "partition %d holds %d messages" % (part, n))
        ids.add(pid)
    test.assertEqual(len(ids), 1, "one producer published: %s" % state)


def product(pid, version, sku, name, amount, currency="USD", **extra):
    p = {"id": pid, "version": version, "sku": sku, "name": name, "brand": "Acme",
         "price": {"amount": amount, "currency": currency}, "stock_quantity": 4,
         "is_active": True, "link": "https://shop.example/p/" + pid}
    p.update(extra)
    return p


# Publishes $N products concurrently (one productUpdated call each) through a
# CatalogSyncPublisher built with the options in $OPTS, as an application does.
CONCURRENT = r"""
require('reflect-metadata');
const { CatalogSyncPublisher } = require('./dist/index.js');
(async () => {
  const p = new CatalogSyncPublisher(JSON.parse(process.env.OPTS));
  process.stdout.write(`IDEMPOTENT=${p.isIdempotent()}\n`);
  const n = Number(process.env.N);
  const done = await Promise.all(Array.from({ length: n }, (_, i) => p.productUpdated({
    id: `c${i % 7}`, version: i + 1, sku: `C-${i % 7}`, name: `Concurrent ${i}`,
    price: { amount: '1.00', currency: 'USD' }, is_active: true,
  })));
  process.stdout.write(`PUBLISHED=${done.length}\n`);
  await p.onApplicationShutdown();
})().catch((err) => { process.stderr.write(`${err.stack}\n`); process.exit(2); });
"""


class NestHookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        setup_hook()

    def assert_idempotent(self, broker, msgs):
        check_idempotent(self, broker, msgs)

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
        # Published by an idempotent producer (before the C publisher below adds its own).
        self.assert_idempotent(s.broker, msgs)
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

    def concurrent(self, broker, n, **opts):
        opts.update(brokers=broker.brokers.split(","), topic=broker.topic)
        env = dict(os.environ, OPTS=json.dumps(opts), N=str(n))
        r = subprocess.run(["node", "-e", CONCURRENT], cwd=HOOK, env=env, capture_output=True,
                           text=True, timeout=90)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def test_idempotent_by_default_also_under_concurrent_publishes(self):
        """40 concurrent publishes through one provider, with the defaults:
        all acknowledged, each once, sequences unbroken in every partition.
        producer: { idempotent: false } (the documented producer settings)
        turns it off, and then the broker tracks no producer at all."""
        b = Broker(self, partitions=3)
        out = self.concurrent(b, 40)
        self.assertEqual(out, {"IDEMPOTENT": "true", "PUBLISHED": "40"})
        msgs = b.consume(count=40)
        self.assertEqual(len(msgs), 40)
        self.assertEqual(b.count(), 40)
        self.assertEqual(len({json.loads(m["value"])["event_id"] for m in msgs}), 40)
        for m in msgs:
            self.assertEqual(m["partition"], zlib.crc32(m["key"].encode()) % 3, m)
        self.assert_idempotent(b, msgs)

        off = Broker(self, partitions=2)
        out = self.concurrent(off, 5, producer={"idempotent": False})
        self.assertEqual(out, {"IDEMPOTENT": "false", "PUBLISHED": "5"})
        self.assertEqual(off.count(), 5)
        self.assertEqual(describe_producers(off.brokers, off.topic, 2), {0: [], 1: []})

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
