#!/usr/bin/env python3
"""Benchmark: catalogsync's workers end to end on the local stack.

    make bench          # 200,000 events over 20,000 products per sink
    make bench-quick    # the same phases, much smaller (under a minute)
    tests/bench/bench.py [--quick] [--events N] [--products P] [--sinks meta,woocommerce]
                         [--workers 1,2,4] [--phases ...] [--rate 2000] [--paced-seconds S]
                         [--linger-ms MS] [-X librdkafka.property=value] [--json FILE]
                         [--callgrind DIR] [--worker-build DIR] [--worker-set KEY=VALUE]

Starts redis-server (AOF on, as in production), the dev Kafka broker with
enough partitions to hold every event, and cs-bench-fake (a fast fake Meta /
WooCommerce endpoint that accepts and counts; its own ceiling is measured and
printed first), then per sink:

  throughput  N bursty events (many versions per product, ~1 KB snapshots)
              published by catalogsync-publish while K workers consume, for
              K = 1, 2, 4 (quick: 1, 2): events/s from the first event
              produced to the last confirmed push, with every product's state
              at its latest version in Redis; HTTP requests and items per
              request; Redis round trips per event and per flush; peak RSS
              (VmHWM) per worker; CPU seconds per 10,000 events; pushes per
              product version counted at the fake (anything pushed twice).
              WooCommerce products are exported (linked) first, untimed.
  drain       (not in --quick) the same events published first, then one
              worker timed from its partition assignment: its own rate.
  baseline    worker.batch_max = 1 (no coalescing, no batching), fewer events,
              same pattern: the gains are ratios from the same run.
  paced       a steady --rate events/s for --paced-seconds: publish-to-
              confirmed latency p50/p99 per event (the time the driver
              produced it -> the "at" of the synced outcome in the product's
              Redis history).
  perproduct  (meta) one event per distinct product (--pp-events, 200,000;
              quick 20,000) over 24 partitions, published while one worker
              consumes; then, on a fresh topic, the same events through a
              plain batching consumer (tests/bench/plain_consumer.py:
              confluent-kafka, 1,000 records per items_batch, no state) pushing
              to the same fake: events/s, worker CPU per 10,000 events, peak
              RSS, redis-server CPU per event and Redis bytes per product
              (INFO memory), with the ratios catalogsync / plain.
  ppdrain     (meta, not in --quick) the same stream published first, then one
              worker timed from its partition assignment: a backlog over 24
              partitions, its rate and peak RSS (librdkafka's prefetch).
  claim       due retries claimed per second (cs-bench-claim).
  slowmeta    (meta, only when asked for) a Meta that finishes each batch
              --meta-batch-ms (10,000 unless given) after accepting it: one
              worker on --slow-events (20,000) events of distinct products,
              once per worker.max_pending_batches in --slow-pending: events/s
              and the batches pushed per confirmation time (issue 16).
  hang        (woocommerce, only when asked for) two fake stores
              (tests/fakes/fake_woo.py), 40 products exported to both, one
              worker with http_timeout_ms 6000: three waves with both stores
              answering, then store 2 hangs on every products request and
              three more waves: store 1's convergence after the last wave;
              then the hang ends: store 2's recovery against the retry delay
              (retry.schedule_ms [--hang-retry-ms], no jitter) (issue 16).

--worker-build DIR runs another build's catalogsync-worker (DIR/bin) with
everything else from BUILD (publisher, fakes): the same command on two
builds.  --worker-set KEY=VALUE adds worker.KEY to every phase's workers.

docs/PERFORMANCE.md explains every figure.  Consumed == published is checked
twice: the broker still holds every
published event (the dev broker drops the oldest beyond ~5 MB per
partition) and the workers' catalogsync_events_consumed_total adds up.
Nothing here asserts on speed; the exit status is 0 unless a correctness
check (counts, final versions) failed.
"""
import argparse
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "chaos"))
from harness import Broker, Proc, Redis, program, run, wait_until, worker_cmd  # noqa: E402
from chaos import Cleanup  # noqa: E402

TOKEN = "bench-meta-token-0b1"
CATALOG = "4242"
CK, CS = "ck_bench_" + "3" * 32, "cs_bench_" + "4" * 32
WOO_FIELDS = ["name", "sku", "price", "description", "stock", "COLOR"]
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------- events

WORDS = ("stainless insulated travel mug bottle kettle ceramic enamel cast iron skillet linen "
         "apron walnut board chef knife pour over coffee grinder glass jar bamboo lid tray "
         "recycled cotton towel waffle weave napkin set stoneware bowl plate espresso cup "
         "carbon steel wok silicone spatula copper pan oak spoon marble mortar pestle").split()
COLORS = ("black", "white", "sage", "navy", "terracotta", "sand", "charcoal", "mustard")
SIZES = ("250 ml", "350 ml", "450 ml", "600 ml", "750 ml", "1 l")


def descriptions(rng, n=64):
    out = []
    for _ in range(n):
        sent = []
        while sum(len(s) for s in sent) < 300:
            w = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
            sent.append(" ".join(w).capitalize() + ".")
        out.append(" ".join(sent))
    return out


class EventFactory:
    """~1 KB product.updated / export_requested events in the v1 contract; the
    product name starts with the fake's marker "[bench:<product>:<version>]"."""

    def __init__(self, seed):
        rng = random.Random(seed)
        self.desc = descriptions(rng)
        self.names = [" ".join(rng.choice(WORDS) for _ in range(3)).title() for _ in range(97)]

    def product(self, pid, ver):
        cents = 990 + (pid * 37 + ver * 11) % 9000
        p = {"id": "b%d" % pid, "version": ver, "sku": "BENCH-%d" % pid,
             "name": "[bench:%d:%d] %s %s" % (pid, ver, self.names[pid % 97],
                                             SIZES[pid % len(SIZES)]),
             "description": self.desc[(pid + ver) % len(self.desc)],
             "price": {"amount": "%d.%02d" % (cents // 100, cents % 100), "currency": "EUR"},
             "stock_quantity": (pid * 7 + ver * 3) % 120, "is_active": True,
             "brand": "Acme Home", "condition": "new",
             "link": "https://shop.example.com/p/b%d" % pid,
             "images": ["https://cdn.example.com/img/b%d-1.jpg" % pid,
                        "https://cdn.example.com/img/b%d-2.jpg" % pid],
             "categories": ["Kitchen", "Drinkware"],
             "attributes": [{"name": "COLOR", "value": COLORS[(pid + ver) % len(COLORS)]},
                            {"name": "SIZE", "value": SIZES[pid % len(SIZES)]}]}
        if ver % 3 == 0:
            p["sale_price"] = {"amount": "%d.%02d" % (cents * 8 // 1000, cents * 8 // 10 % 100),
                               "currency": "EUR"}
        return p

    def event(self, pid, ver, export=False):
        ev = {"schema": 1, "event_id": str(uuid.uuid4()),
              "type": "product.export_requested" if export else "product.updated",
              "tenant": "default", "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                                time.gmtime()),
              "actor": "bench", "product": self.product(pid, ver)}
        if export:
            ev["export"] = {"connections": [1], "partial_update": False}
        else:
            ev["changed_fields"] = ["price", "stock_quantity", "description"]
        return ev


def bursty(n, products, seed, first_version=1, window=32, mean_burst=7.0):
    """(product, version) pairs: n events over `products` products, every
    product at least once, a skewed number of versions per product (a few
    are edited very often), the versions of a product in bursts, bursts of
    `window` products interleaved.  Versions rise per product in order."""
    if products > n:
        raise ValueError("%d products need at least as many events (got %d)" % (products, n))
    rng = random.Random(seed)
    # Skewed, capped at 20x the mean: one product's events share a partition,
    # and the dev broker keeps only ~5 MB per partition.
    mean = n / products
    w = [min(rng.paretovariate(1.5), 20.0) for _ in range(products)]
    extra = n - products
    tot = sum(w)
    counts = [1 + int(extra * x / tot) for x in w]
    cap = max(2, int(20 * mean))
    while sum(counts) < n:
        i = rng.randrange(products)
        if counts[i] < cap:
            counts[i] += 1
    bursts = []
    for p, c in enumerate(counts):
        while c > 0:
            k = min(c, 1 + int(rng.expovariate(1.0 / mean_burst)))
            bursts.append([p, k])
            c -= k
    rng.shuffle(bursts)
    ver = [first_version - 1] * products
    out = []
    active = bursts[:window]
    nxt = window
    while active:
        i = rng.randrange(len(active))
        b = active[i]
        ver[b[0]] += 1
        out.append((b[0], ver[b[0]]))
        b[1] -= 1
        if b[1] == 0:
            if nxt < len(bursts):
                active[i] = bursts[nxt]
                nxt += 1
            else:
                active.pop(i)
    return out, ver


def write_events(path, factory, pairs, export=False):
    with open(path, "w") as f:
        for pid, ver in pairs:
            f.write(json.dumps(factory.event(pid, ver, export), separators=(",", ":")))
            f.write("\n")


# ---------------------------------------------------------------- small clients


class Resp:
    """A minimal pipelining Redis client (RESP2) for reading state back."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def close(self):
        self.f.close()
        self.s.close()

    @staticmethod
    def _enc(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode(errors="replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("redis: unexpected reply %r" % line)

    def pipeline(self, cmds, chunk=2000):
        out = []
        for i in range(0, len(cmds), chunk):
            part = cmds[i:i + chunk]
            self.s.sendall(b"".join(self._enc(c) for c in part))
            out.extend(self._read() for _ in part)
        return out


def http_get(addr, path, method="GET", timeout=10):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        s.sendall(("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                   % (method, path, addr)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body.decode(errors="replace")


class BenchFake:
    def __init__(self, c, batch_ms=0):
        # batch_ms: Meta finishes a batch that long after accepting it.
        self.proc = Proc("bench-fake", [program("cs-bench-fake"), "--port", "0",
                                        "--batch-ms", str(batch_ms)],
                         ready_prefix="LISTENING=")
        self.addr = self.proc.ready
        c.addCleanup(self.proc.stop)

    def stats(self):
        return json.loads(http_get(self.addr, "/_bench/stats")[1])

    def reset(self):
        http_get(self.addr, "/_bench/reset", method="POST")

    def dups(self):
        return [tuple(int(x) for x in line.split())
                for line in http_get(self.addr, "/_bench/dups")[1].splitlines() if line.strip()]


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_sys(pid):
    """The kernel's share of proc_cpu (system calls: sockets, wake-ups)."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[12]) / CLK_TCK


def proc_mem(pid):
    """MB: VmRSS, VmHWM (peak), RssAnon (private), RssFile (mostly the
    shared libraries' pages) and Pss (shared pages divided among the
    processes that map them)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:", "RssAnon:", "RssFile:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0]) / 1024.0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return out


def metrics(addr):
    """Worker /metrics -> {name: summed value} (labels summed over)."""
    status, text = http_get(addr, "/metrics")
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        out[name] = out.get(name, 0.0) + float(value)
        if name == "catalogsync_channel_requests_total":
            m = re.search(r'status="([^"]+)"', name_labels)
            k = name + ":" + (m.group(1) if m else "?")
            out[k] = out.get(k, 0.0) + float(value)
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------- the stack


class Worker:
    callgrind = None    # a directory: run workers under valgrind --tool=callgrind
    binary = None       # --worker-build: another build's catalogsync-worker

    def __init__(self, c, sink, conf_text, name, env=None):
        self.dir = tempfile.mkdtemp(prefix="cs-bench-worker-")
        self.conf = os.path.join(self.dir, "worker.conf")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        cmd = worker_cmd(sink, self.conf)
        if Worker.binary:
            ours = program("catalogsync-worker")
            cmd = [Worker.binary if x == ours else x for x in cmd]
        if Worker.callgrind:
            cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s" % os.path.join(
                Worker.callgrind, "callgrind.out.%s.%%p" % name)] + cmd
        self.name = name
        self.proc = Proc(name, cmd, env=env or {"MT": TOKEN, "CK": CK, "CS": CS})
        c.addCleanup(self.stop)
        self.pid = self.proc.p.pid
        self.addr = None

    def wait_listening(self):
        m = wait_until(lambda: re.search(r"HTTP listening on (\S+) ", self.proc.read_log()),
                       timeout=120 if Worker.callgrind else 20, what="%s to listen" % self.name)
        self.addr = m.group(1)

    def metrics(self):
        return metrics(self.addr)

    def stop(self):
        if self.proc.alive():
            self.proc.stop(timeout=30)


def config(sink, brokers, redis_port, fake_addr, batch_max=None, linger_ms=None, props=(),
           worker_extra=()):
    w = ['http_listen = "127.0.0.1:0"'] + list(worker_extra)
    if batch_max is not None:
        w.append("batch_max = %d" % batch_max)
    if linger_ms is not None:
        w.append("linger_ms = %d" % linger_ms)
    props = ["session.timeout.ms=6000", "heartbeat.interval.ms=500"] + list(props)
    text = ('kafka = { brokers = "%s"; properties = [%s]; };\n'
            'redis = { port = %d; };\n'
            'worker = { %s; };\n' % (brokers, ", ".join('"%s"' % p for p in props),
                                      redis_port, "; ".join(w)))
    if sink == "meta":
        # New items need an image (issue 15): the configuration's default of
        # include_images = false and a placeholder, as the tests' configs.
        text += ('meta = { catalogs = ( { id = "main"; base_url = "http://%s"; '
                 'api_version = "v25.0"; catalog_id = "%s"; token = "env:MT"; '
                 'placeholder_image_url = "https://shop.example.com/no-image.png"; } ); };\n'
                 % (fake_addr, CATALOG))
    else:
        text += ('woocommerce = { connections = ( { id = 1; base_url = "http://%s"; '
                 'auth = "oauth1"; consumer_key = "env:CK"; consumer_secret = "env:CS"; '
                 'fields = [%s]; } ); };\n'
                 % (fake_addr, ", ".join('"%s"' % f for f in WOO_FIELDS)))
    return text


def state_key(sink, pid):
    conn = "main" if sink == "meta" else "1"
    return "catalogsync:{%s}:state:%s:default:b%d" % (sink, conn, pid)


def history_key(sink, pid):
    conn = "main" if sink == "meta" else "1"
    return "catalogsync:{%s}:history:%s:default:b%d" % (sink, conn, pid)


class BenchCase(Cleanup):
    """Stands in for a unittest.TestCase where the integration tests' stacks
    (WooStack) want one."""

    def assertEqual(self, a, b, msg=None):
        if a != b:
            raise AssertionError(msg or "%r != %r" % (a, b))


class Phase:
    """One stack (redis, broker) for one measurement; workers come and go."""

    def __init__(self, bench, sink, partitions):
        self.b = bench
        self.sink = sink
        self.c = Cleanup()
        self.redis = Redis(self.c, appendonly=True)
        self.broker = Broker(self.c, partitions=partitions)
        self.partitions = partitions
        self.b.fake.reset()
        self.workers = []

    def close(self):
        # Everything was measured and checked, and the broker and Redis go
        # with the phase: no need for the workers' graceful shutdown (leaving
        # the group one by one would rebalance the others each time).
        # (Under callgrind they must exit cleanly to write their profiles.)
        sig = signal.SIGTERM if Worker.callgrind else signal.SIGKILL
        for w in self.workers:
            w.proc.stop(sig=sig, timeout=120)
        self.broker.stop(sig=signal.SIGKILL)
        self.c.run()

    def conf(self, **kw):
        kw.setdefault("linger_ms", self.b.a.linger_ms)
        kw["worker_extra"] = list(self.b.a.worker_set) + list(kw.get("worker_extra", ()))
        return config(self.sink, self.broker.brokers, self.redis.port, self.b.fake.addr,
                      props=self.b.a.kafka_prop, **kw)

    def start_workers(self, k, **kw):
        # Started together, they join the consumer group in one rebalance.
        ws = [Worker(self.c, self.sink, self.conf(**kw), "%s-%d" % (self.sink, i))
              for i in range(k)]
        self.workers.extend(ws)
        for w in ws:
            w.wait_listening()

        def assigned():
            parts = [w.metrics().get("catalogsync_kafka_assigned_partitions", 0) for w in ws]
            return sum(parts) == self.partitions and all(p > 0 for p in parts[:self.partitions])
        # Under callgrind every metrics scrape is profiled too: ask rarely.
        wait_until(assigned, timeout=60, interval=0.5 if Worker.callgrind else 0.02,
                   what="%d worker(s) assigned" % k)
        self.t_assigned = time.time()
        if k > 1:
            # Eager rebalances may still be settling: wait until it holds.
            time.sleep(0.3)
            wait_until(assigned, timeout=60, interval=0.1, what="%d worker(s) assigned" % k)
        return ws

    def stop_workers(self, ws):
        for w in ws:
            w.stop()
            self.workers.remove(w)

    def publish_file(self, path, expect):
        r = run([program("catalogsync-publish"), "-b", self.broker.brokers, "--quiet", path],
                timeout=1800)
        if r.returncode != 0 or not r.stdout.startswith("%d published, 0 rejected, 0 failed"
                                                        % expect):
            raise AssertionError("publish failed (%d): %s %s" % (r.returncode, r.stdout,
                                                                 r.stderr[-2000:]))

    def wait_confirmed(self, target_sum, timeout, stall=60):
        """Waits until the fake confirmed every product's latest version;
        gives up when nothing moved for `stall` seconds."""
        last = [None, time.monotonic()]

        def done():
            s = self.b.fake.stats()
            if s["confirmed_sum"] >= target_sum:
                return s
            if s["confirmed_sum"] != last[0]:
                last[0], last[1] = s["confirmed_sum"], time.monotonic()
            elif time.monotonic() - last[1] > stall:
                raise AssertionError("no progress for %ds: the fake confirmed %d of %d "
                                     "versions (events lost by the dev broker? see the "
                                     "workers' logs)" % (stall, s["confirmed_sum"], target_sum))
            return None
        return wait_until(done, timeout=timeout, interval=0.02,
                          what="the fake to confirm every product's latest version")

    def first_publish(self):
        """The Kafka timestamp (set by the producer when it produced the
        event) of the earliest event in the topic, in seconds; None when it
        cannot be read."""
        try:
            from confluent_kafka import Consumer, TopicPartition
        except ImportError:
            return None
        c = Consumer({"bootstrap.servers": self.broker.brokers, "group.id": "bench-first",
                      "enable.auto.commit": False, "log_level": 3})
        try:
            parts = []
            for p in range(self.partitions):
                lo, hi = c.get_watermark_offsets(TopicPartition(self.broker.topic, p), timeout=10)
                if hi > lo:
                    parts.append(TopicPartition(self.broker.topic, p, lo))
            c.assign(parts)
            first, seen, deadline = None, set(), time.monotonic() + 20
            while len(seen) < len(parts) and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None or m.error() or m.partition() in seen:
                    continue
                seen.add(m.partition())
                ts = m.timestamp()[1] / 1000.0
                first = ts if first is None or ts < first else first
            return first if len(seen) == len(parts) else None
        finally:
            c.close()

    def topic_count(self):
        """Events the topic still holds (the dev broker drops the oldest past
        ~5 MB per partition): from the partitions' watermarks, which is
        quicker than reading everything back (Broker.count does that)."""
        try:
            from confluent_kafka import Consumer, TopicPartition
        except ImportError:
            return self.broker.count(timeout_ms=120000)
        c = Consumer({"bootstrap.servers": self.broker.brokers, "group.id": "bench-count",
                      "enable.auto.commit": False, "log_level": 3})
        try:
            held = 0
            for p in range(self.partitions):
                lo, hi = c.get_watermark_offsets(TopicPartition(self.broker.topic, p), timeout=10)
                held += hi - lo
            return held
        finally:
            c.close()

    def commandstats(self):
        """INFO commandstats as {command: (calls, usec)} (commands run by
        scripts are counted too)."""
        r = Resp(self.redis.port)
        try:
            text = r.pipeline([["INFO", "commandstats"]])[0]
        finally:
            r.close()
        out = {}
        for line in text.splitlines():
            m = re.match(r"cmdstat_(\S+):calls=(\d+),usec=(\d+)", line)
            if m:
                out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        return out

    def redis_memory(self):
        """{"used_memory": INFO memory's used_memory, "keys": DBSIZE}."""
        r = Resp(self.redis.port)
        try:
            info, keys = r.pipeline([["INFO", "memory"], ["DBSIZE"]])
        finally:
            r.close()
        m = re.search(r"^used_memory:(\d+)", info, re.M)
        return {"used_memory": int(m.group(1)), "keys": keys}

    def settled(self, final):
        """The products not at their final versions in Redis once the settles
        had their chance (they follow the last confirmation within one
        pipeline); [] when all are."""
        try:
            wait_until(lambda: not self.verify_redis(final), timeout=30, interval=0.2)
        except AssertionError:
            pass
        return self.verify_redis(final)

    def verify_redis(self, final):
        """Every product's state at its latest version, synced."""
        r = Resp(self.redis.port)
        try:
            reps = r.pipeline([["HMGET", state_key(self.sink, p), "synced_version", "status"]
                               for p in range(len(final))])
        finally:
            r.close()
        bad = [(p, rep) for p, rep in enumerate(reps)
               if rep[0] is None or int(rep[0]) != final[p] or rep[1] != "synced"]
        return bad


# ---------------------------------------------------------------- measurements


class Bench:
    def __init__(self, a):
        self.a = a
        self.c = Cleanup()
        self.fake = BenchFake(self.c, a.meta_batch_ms)
        self.factory = EventFactory(a.seed)
        self.tmp = tempfile.mkdtemp(prefix="cs-bench-")
        self.ok = True
        self.results = {"args": vars(a), "machine": machine(), "sinks": {}}

    def say(self, *parts):
        print(*parts, flush=True)

    def fail(self, msg):
        self.ok = False
        self.say("  CHECK FAILED: " + msg)

    # ---- the fake's own ceiling ----
    def fake_ceiling(self, seconds):
        res = {}
        pairs = [(p, 1) for p in range(1000)]
        recs = []
        for pid, ver in pairs:
            pr = self.factory.product(pid, ver)
            recs.append({"method": "UPDATE", "data": {
                "id": pr["sku"], "title": pr["name"], "description": pr["description"],
                "availability": "in stock", "condition": "new",
                "price": "%s EUR" % pr["price"]["amount"], "link": pr["link"],
                "brand": pr["brand"], "item_group_id": pr["sku"], "visibility": "published",
                "quantity_to_sell_on_facebook": pr["stock_quantity"]}})
        meta_body = json.dumps({"item_type": "PRODUCT_ITEM", "allow_upsert": True,
                                "requests": recs}).encode()
        woo_items = []
        for pid, ver in pairs[:100]:
            pr = self.factory.product(pid, ver)
            woo_items.append({"id": pid + 1, "name": pr["name"], "sku": pr["sku"],
                              "regular_price": pr["price"]["amount"],
                              "description": pr["description"], "manage_stock": True,
                              "stock_quantity": pr["stock_quantity"]})
        woo_body = json.dumps({"update": woo_items}).encode()
        for name, path, body, items in (
                ("meta items_batch (1000 records)", "/v21.0/%s/items_batch" % CATALOG,
                 meta_body, 1000),
                ("woocommerce products/batch (100 items)", "/wp-json/wc/v3/products/batch",
                 woo_body, 100)):
            n, t = self._blast(path, body, seconds)
            res[name] = {"requests_per_s": n / t, "items_per_s": n * items / t,
                         "mb_per_s": n * len(body) / t / 1e6}
            self.say("  fake ceiling, %-38s %7.0f requests/s  %9.0f items/s  (%.0f MB/s)"
                     % (name, n / t, n * items / t, n * len(body) / t / 1e6))
        self.fake.reset()
        return res

    def _blast(self, path, body, seconds, threads=2):
        host, port = self.fake.addr.rsplit(":", 1)
        head = ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % (path, self.fake.addr, len(body))).encode()
        counts = [0] * threads
        stop = time.monotonic() + seconds

        def client(i):
            s = socket.create_connection((host, int(port)))
            f = s.makefile("rb")
            while time.monotonic() < stop:
                s.sendall(head + body)
                length = 0
                while True:
                    line = f.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                f.read(length)
                counts[i] += 1
            f.close()
            s.close()
        t0 = time.monotonic()
        ts = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return sum(counts), time.monotonic() - t0

    # ---- one throughput run ----
    def throughput(self, sink, k, n, products, batch_max=None, seed=1, label=None, drain=False,
                   partitions=None, worker_extra=()):
        """drain: publish everything first, then start the workers and time
        them from their partition assignment (the workers' own rate, without
        the publisher competing for the 2 cores); else publish while they
        consume and time from the first publish.  partitions: the topic's
        (default: enough for the dev broker to hold every event)."""
        a = self.a
        base = 1 if sink == "woocommerce" else 0
        pairs, final = bursty(n, products, seed, first_version=base + 1)
        path = os.path.join(self.tmp, "events-%s-%d-%d.jsonl" % (sink, n, seed))
        if not os.path.exists(path):
            write_events(path, self.factory, pairs)
        parts = partitions or max(partitions_for(os.path.getsize(path) + products * 1200 * base),
                                  k, a.partitions or 0)
        ph = Phase(self, sink, parts)
        try:
            peers = {"fake": self.fake.proc.p.pid, "broker": ph.broker.pid,
                     "redis": ph.redis.proc.p.pid}
            if drain:
                if base:
                    self.export(ph, products)
            else:
                ws = ph.start_workers(k, batch_max=batch_max, worker_extra=worker_extra)
                if base:
                    self.export(ph, products, ws)
                before = [(proc_cpu(w.pid), w.metrics()) for w in ws]
                sys0 = sum(proc_sys(w.pid) for w in ws)
            fake0 = self.fake.stats()
            peer_cpu0 = {k: proc_cpu(v) for k, v in peers.items()}
            load0 = loadavg()
            mem0 = ph.redis_memory()
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.time()
            ph.publish_file(path, n)
            t_pub = time.time() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            pub_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
            if drain:
                # Whole-process CPU (start-up included) and counters from zero.
                peer_cpu0 = {k: proc_cpu(v) for k, v in peers.items()}
                ws = ph.start_workers(k, batch_max=batch_max, worker_extra=worker_extra)
                before = [(0.0, {}) for w in ws]
                sys0 = 0.0
                t0 = ph.t_assigned
            # The fake's confirmed versions add up to this once every product
            # is at its latest (the export's version 1 included).
            st = ph.wait_confirmed(sum(final), timeout=a.timeout)
            t_end = st["last_advance_ms"] / 1000.0
            if not drain:
                # From the first event produced, not from the publisher's start-up.
                first = ph.first_publish()
                if first is not None and first >= t0 - 1:
                    t0 = first
            elapsed = max(t_end - t0, 1e-6)
            bad = ph.settled(final)
            if bad:
                self.fail("%s: %d products not at their latest version in Redis, e.g. %s"
                          % (sink, len(bad), bad[:3]))
            after = [(proc_cpu(w.pid), w.metrics(), proc_mem(w.pid)) for w in ws]
            cpu_sys = sum(proc_sys(w.pid) for w in ws) - sys0
            fake1 = self.fake.stats()
            peer_cpu = {k: proc_cpu(v) - peer_cpu0[k] for k, v in peers.items()}
            if not drain:
                peer_cpu["publisher"] = pub_cpu
            fake_cpu = peer_cpu["fake"]
            load1 = loadavg()
            mem1 = ph.redis_memory()
            cmdstats = ph.commandstats()
            in_topic = ph.topic_count()
            expect_topic = n + (products if base else 0)
            if in_topic != expect_topic:
                self.fail("%s: the topic holds %d events, %d were published (the dev broker "
                          "dropped some: use more partitions)" % (sink, in_topic, expect_topic))
            consumed = sum(m1["catalogsync_events_consumed_total"] -
                           m0.get("catalogsync_events_consumed_total", 0)
                           for (_, m0), (_, m1, _) in zip(before, after))
            if consumed < n:
                self.fail("%s: workers consumed %d of %d published" % (sink, consumed, n))

            def delta(name):
                return sum(m1.get(name, 0) - m0.get(name, 0)
                           for (_, m0), (_, m1, _) in zip(before, after))
            cpu = sum(c1 - c0 for (c0, _), (c1, _, _) in zip(before, after))
            flushes = delta("catalogsync_batch_events_count")
            trips = delta("catalogsync_redis_round_trips_total")
            reqs = fake1["requests"] - fake0["requests"]
            if sink == "meta":
                pushes = fake1["meta_batch"] - fake0["meta_batch"]
            else:
                pushes = fake1["woo_batch"] - fake0["woo_batch"]
            recs = fake1["records"] - fake0["records"]
            r = {"workers": k, "events": n, "products": products, "drain": drain,
                 "batch_max": batch_max or 1000, "partitions": parts,
                 "publish_s": t_pub, "publish_events_per_s": n / t_pub,
                 "elapsed_s": elapsed, "events_per_s": n / elapsed,
                 "consumed": consumed, "in_topic": in_topic,
                 "http_requests": reqs, "push_calls": pushes, "records_pushed": recs,
                 "events_per_request": n / max(reqs, 1),
                 "items_per_push_call": recs / max(pushes, 1),
                 "worker_http_requests": delta("catalogsync_channel_requests_total"),
                 "flushes": flushes, "events_per_flush": n / max(flushes, 1),
                 "flush_ms_mean": delta("catalogsync_flush_duration_seconds_sum") * 1000 /
                 max(delta("catalogsync_flush_duration_seconds_count"), 1),
                 "redis_round_trips": trips, "round_trips_per_event": trips / n,
                 "round_trips_per_flush": trips / max(flushes, 1),
                 "cpu_s": cpu, "cpu_s_per_10k": cpu / n * 10000, "cpu_sys_s": cpu_sys,
                 "rss_peak_mb": [m["VmHWM"] for (_, _, m) in after],
                 "rss_end_mb": [m["VmRSS"] for (_, _, m) in after],
                 "superseded": delta("catalogsync_events_superseded_total"),
                 "retries_claimed": delta("catalogsync_retries_claimed_total"),
                 "dup_versions": fake1["dup_versions"] - fake0["dup_versions"],
                 "dup_extra_pushes": fake1["dup_extra"] - fake0["dup_extra"],
                 "fake_cpu_s": fake_cpu, "peer_cpu_s": peer_cpu, "redis_commandstats": cmdstats,
                 "redis_cpu_us_per_event": peer_cpu["redis"] / n * 1e6,
                 "redis_used_memory_delta": mem1["used_memory"] - mem0["used_memory"],
                 "redis_bytes_per_product": (mem1["used_memory"] - mem0["used_memory"]) /
                 products,
                 "redis_keys_per_product": (mem1["keys"] - mem0["keys"]) / products,
                 "load_before": load0, "load_after": load1}
            label = label or ("%d worker%s" % (k, "s" if k > 1 else ""))
            if drain:
                self.say("  %-26s %8.0f events/s  (a backlog of %d events drained in %.2f s, "
                         "from partition assignment)" % (label, r["events_per_s"], n, elapsed))
            else:
                self.say("  %-26s %8.0f events/s  (%d events in %.2f s from the first publish; "
                         "the publisher took %.2f s)"
                         % (label, r["events_per_s"], n, elapsed, r["publish_s"]))
            self.say("  %-26s HTTP %d requests (%.4g events/request, %.1f items per %s call), "
                     "Redis %.4f round trips/event (%.1f per flush of %.0f events)"
                     % ("", reqs, r["events_per_request"], r["items_per_push_call"],
                        "items_batch" if sink == "meta" else "products/batch",
                        r["round_trips_per_event"], r["round_trips_per_flush"],
                        r["events_per_flush"]))
            self.say("  %-26s %d records pushed for %d events (%d superseded within a batch "
                     "or by Redis); %d retries claimed (products handed back to Redis "
                     "included)" % ("", recs, n, r["superseded"], r["retries_claimed"]))
            self.say("  %-26s CPU %.3f s per 10,000 events (%.2f s, %.2f of it in the kernel), "
                     "peak RSS %s MB, "
                     "pushed twice: %d version(s); consumed %d of %d published, topic holds %d"
                     % ("", r["cpu_s_per_10k"], cpu, cpu_sys,
                        "/".join("%.1f" % x for x in r["rss_peak_mb"]),
                        r["dup_versions"], consumed, n, in_topic))
            self.say("  %-26s flush %.1f ms on average; CPU s over the run: workers %.2f, %s; "
                     "load %s -> %s"
                     % ("", r["flush_ms_mean"], cpu,
                        ", ".join("%s %.2f" % kv for kv in sorted(peer_cpu.items())),
                        load0, load1))
            self.say("  %-26s redis-server %.1f us CPU per event; Redis used_memory +%.1f MB over "
                     "the run: %.0f bytes per product (+%.2f keys per product)"
                     % ("", r["redis_cpu_us_per_event"], r["redis_used_memory_delta"] / 1e6,
                        r["redis_bytes_per_product"], r["redis_keys_per_product"]))
            return r
        finally:
            ph.close()

    def export(self, ph, products, ws=None):
        """Links every product to WooCommerce store 1 (version 1): through the
        workers ws, or a setup worker that is then stopped.  Not measured."""
        path = os.path.join(self.tmp, "export-%d.jsonl" % products)
        if not os.path.exists(path):
            with open(path, "w") as f:
                for p in range(products):
                    f.write(json.dumps(self.factory.event(p, 1, export=True),
                                       separators=(",", ":")) + "\n")
        setup = ph.start_workers(1) if ws is None else None
        ph.publish_file(path, products)
        ph.wait_confirmed(products, timeout=self.a.timeout)
        # Every export settled and committed before anything is measured.
        wait_until(lambda: not ph.verify_redis([1] * products), timeout=60, interval=0.1,
                   what="the exports settled in Redis")
        if setup:
            ph.stop_workers(setup)
        return 1

    # ---- one event per distinct product: catalogsync and a plain consumer ----
    def per_product(self, n, partitions):
        """The issue-17 stream: n events, one per distinct product (an initial
        export or a full price run), over `partitions` partitions, published
        while one meta worker consumes; then the same events on a fresh topic
        through the plain batching consumer (tests/bench/plain_consumer.py):
        every figure and ratio from one run."""
        self.say("  -- one event per product: %d events over %d products, %d partitions"
                 % (n, n, partitions))
        cs = self.throughput("meta", 1, n, n, seed=5, partitions=partitions,
                             label="catalogsync, 1 worker")
        plain = self.plain(n, partitions)
        rows = [("events/s, first publish -> last push", "events_per_s", "%.0f"),
                ("worker CPU s per 10,000 events", "cpu_s_per_10k", "%.3f"),
                ("worker peak RSS, MiB", "rss_peak_mib", "%.1f"),
                ("HTTP requests", "http_requests", "%d"),
                ("redis-server CPU us per event", "redis_cpu_us_per_event", "%.1f"),
                ("Redis bytes per product (used_memory)", "redis_bytes_per_product", "%.0f"),
                ("Redis keys per product", "redis_keys_per_product", "%.2f")]
        cs["rss_peak_mib"] = cs["rss_peak_mb"][0]
        ratios = {}
        self.say("  %-40s %14s %14s %9s" % ("", "catalogsync", "plain", "cs/plain"))
        for title, key, fmt in rows:
            a, b = cs.get(key), plain.get(key)
            ratio = a / b if a is not None and b else None
            if ratio is not None:
                ratios[key] = ratio
            self.say("  %-40s %14s %14s %9s"
                     % (title, fmt % a if a is not None else "-",
                        fmt % b if b is not None else "-",
                        "%.2fx" % ratio if ratio is not None else "-"))
        return {"catalogsync": cs, "plain": plain, "ratios": ratios}

    def plain(self, n, partitions):
        """The plain consumer on the per-product stream (the file
        throughput() wrote), timed like the workers: from the first event
        produced to the last confirmation at the fake."""
        a = self.a
        path = os.path.join(self.tmp, "events-meta-%d-5.jsonl" % n)
        pairs, final = bursty(n, n, 5)
        if not os.path.exists(path):
            write_events(path, self.factory, pairs)
        ph = Phase(self, "meta", partitions)
        proc = None
        try:
            cmd = ["/usr/bin/python3", os.path.join(HERE, "plain_consumer.py"),
                   "--brokers", ph.broker.brokers, "--topic", ph.broker.topic,
                   "--group", "bench-plain" + ph.broker.group_suffix, "--fake", self.fake.addr,
                   "--catalog", CATALOG, "--expect", str(n),
                   "--linger-ms", str(a.linger_ms or 200)]
            for p in a.kafka_prop:
                # Only the bench's stand-in for a prompt broker (see main());
                # the worker's own properties are not the plain consumer's.
                if p.startswith("fetch.wait.max.ms="):
                    cmd += ["-X", p]
            proc = Proc("plain-consumer", cmd, ready_prefix="ASSIGNED=", timeout=120)
            fake0 = self.fake.stats()
            cpu0 = proc_cpu(proc.p.pid)
            peer0 = {"redis": proc_cpu(ph.redis.proc.p.pid), "fake": proc_cpu(self.fake.proc.p.pid)}
            load0 = loadavg()
            t0 = time.time()
            ph.publish_file(path, n)
            t_pub = time.time() - t0
            st = ph.wait_confirmed(sum(final), timeout=a.timeout)
            t_end = st["last_advance_ms"] / 1000.0
            first = ph.first_publish()
            if first is not None and first >= t0 - 1:
                t0 = first
            done = wait_until(lambda: re.search(r"^DONE (.*)$", proc.read_log(), re.M),
                              timeout=120, what="the plain consumer to commit")
            info = json.loads(done.group(1))
            cpu = proc_cpu(proc.p.pid) - cpu0
            mem = proc_mem(proc.p.pid)
            fake1 = self.fake.stats()
            elapsed = max(t_end - t0, 1e-6)
            r = {"events": n, "products": n, "partitions": partitions, "publish_s": t_pub,
                 "elapsed_s": elapsed, "events_per_s": n / elapsed,
                 "consumed": info["consumed"], "batches": info["batches"],
                 "http_requests": fake1["requests"] - fake0["requests"],
                 "records_pushed": fake1["records"] - fake0["records"],
                 "cpu_s": cpu, "cpu_s_per_10k": cpu / n * 10000,
                 "rss_peak_mib": mem["VmHWM"], "rss_end_mib": mem["VmRSS"],
                 "dup_versions": fake1["dup_versions"] - fake0["dup_versions"],
                 "peer_cpu_s": {"redis (idle)": proc_cpu(ph.redis.proc.p.pid) - peer0["redis"],
                                "fake": proc_cpu(self.fake.proc.p.pid) - peer0["fake"]},
                 "load_before": load0, "load_after": loadavg()}
            if info["consumed"] != n:
                self.fail("plain consumer: consumed %d of %d" % (info["consumed"], n))
            self.say("  %-26s %8.0f events/s  (%d events in %.2f s from the first publish; "
                     "the publisher took %.2f s)"
                     % ("plain consumer (Python)", r["events_per_s"], n, elapsed, t_pub))
            self.say("  %-26s HTTP %d requests (%d batches, %d records), CPU %.3f s per 10,000 "
                     "events (%.2f s), peak RSS %.1f MiB, pushed twice: %d; load %s -> %s"
                     % ("", r["http_requests"], r["batches"], r["records_pushed"],
                        r["cpu_s_per_10k"], cpu, r["rss_peak_mib"], r["dup_versions"],
                        load0, r["load_after"]))
            return r
        finally:
            if proc:
                proc.stop(timeout=10)
            ph.close()

    # ---- latency at a steady rate ----
    def paced(self, sink, rate, seconds, products):
        from confluent_kafka import Producer
        n = int(rate * seconds)
        ph = Phase(self, sink, max(self.a.partitions or 0, partitions_for(n * 1200)))
        try:
            base = 1 if sink == "woocommerce" else 0
            pairs, final = bursty(n, products, 7, first_version=base + 1)
            msgs = []
            for pid, ver in pairs:
                ev = self.factory.event(pid, ver)
                msgs.append((pid, ver, "default:b%d" % pid,
                             json.dumps(ev, separators=(",", ":")).encode(),
                             [("type", b"product.updated"), ("schema", b"1"),
                              ("event_id", ev["event_id"].encode())]))
            ws = ph.start_workers(1)
            if base:
                self.export(ph, products, ws)
            prod = Producer({"bootstrap.servers": ph.broker.brokers, "linger.ms": 5,
                             "enable.idempotence": True, "acks": "all"})
            # Connect, learn the topic and get the idempotent producer id
            # before the clock runs: the topic's metadata first (a topic the
            # producer has not asked for is learnt only on its next metadata
            # refresh, a second later), then one message to the dead-letter
            # topic, which the workers do not read.
            prod.list_topics(ph.broker.topic, timeout=10)
            prod.produce(ph.broker.dlq, value=b"bench warm-up", key=b"bench")
            if prod.flush(30) != 0:
                raise AssertionError("the paced producer could not reach the broker")
            sent = []
            load0 = loadavg()
            t0 = time.time()
            tick = 0.01
            due = 0.0
            i = 0
            while i < len(msgs):
                now = time.time()
                due = (now - t0) * rate
                while i < len(msgs) and i < due:
                    pid, ver, key, val, hdrs = msgs[i]
                    prod.produce(ph.broker.topic, value=val, key=key, headers=hdrs)
                    sent.append((pid, ver, time.time()))
                    i += 1
                prod.poll(0)
                time.sleep(max(0.0, t0 + (i / rate) - time.time()) or tick / 10)
            prod.flush(30)
            t_pub = time.time() - t0
            del prod    # before the broker goes
            ph.wait_confirmed(sum(final), timeout=self.a.timeout)
            bad = ph.settled(final)
            if bad:
                self.fail("%s paced: %d products not at their latest version, e.g. %s; "
                          "consumed %s, sent %d, topic holds %d, fake %s"
                          % (sink, len(bad), bad[:3],
                             ws[0].metrics().get("catalogsync_events_consumed_total"),
                             len(sent), ph.broker.count(), self.fake.stats()))

            r = Resp(ph.redis.port)
            try:
                hist = r.pipeline([["LRANGE", history_key(sink, p), 0, -1]
                                   for p in range(products)])
            finally:
                r.close()
            synced = {}
            for p, entries in enumerate(hist):
                synced[p] = sorted((e["at"] / 1000.0, e["version"]) for e in map(json.loads, entries)
                                   if e.get("outcome") == "synced")
            lat, missing, slowest = [], 0, (0.0, 0.0)
            for pid, ver, ts in sent:
                t = next((at for at, v in synced[pid] if v >= ver), None)
                if t is None:
                    missing += 1
                else:
                    lat.append((t - ts) * 1000.0)
                    slowest = max(slowest, (lat[-1], ts - t0))
            lat.sort()
            m = ws[0].metrics()
            res = {"rate": rate, "events": n, "publish_s": t_pub, "achieved_rate": n / t_pub,
                   "p50_ms": pct(lat, 50), "p90_ms": pct(lat, 90), "p99_ms": pct(lat, 99),
                   "max_ms": lat[-1] if lat else None, "unmatched": missing,
                   "slowest_sent_at_s": slowest[1],
                   "linger_ms": self.a.linger_ms or 200, "load_before": load0,
                   "load_after": loadavg(),
                   "flushes": m.get("catalogsync_batch_events_count", 0),
                   "events_per_flush": m.get("catalogsync_batch_events_sum", 0) /
                   max(m.get("catalogsync_batch_events_count", 0), 1),
                   "flush_ms_mean": m.get("catalogsync_flush_duration_seconds_sum", 0) * 1000 /
                   max(m.get("catalogsync_flush_duration_seconds_count", 0), 1),
                   "cpu_s": proc_cpu(ws[0].pid), "rss_mb": proc_mem(ws[0].pid)}
            self.say("  paced %d events/s for %.1f s (%d events, sent at %.0f/s): publish -> "
                     "confirmed p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms "
                     "(target p99 <= linger %d + 50 ms); %.0f events per flush, flush "
                     "%.1f ms on average; worker RSS %.1f MB (private %.1f, shared libraries "
                     "%.1f, PSS %.1f; peak %.1f MB); the slowest event "
                     "was sent %.1f s into the phase%s"
                     % (rate, seconds, n, res["achieved_rate"], res["p50_ms"], res["p90_ms"],
                        res["p99_ms"], res["max_ms"], res["linger_ms"], res["events_per_flush"],
                        res["flush_ms_mean"], res["rss_mb"]["VmRSS"],
                        res["rss_mb"].get("RssAnon", 0), res["rss_mb"].get("RssFile", 0),
                        res["rss_mb"].get("Pss", 0), res["rss_mb"]["VmHWM"],
                        res["slowest_sent_at_s"],
                        "; %d events without a synced outcome in the history" % missing
                        if missing else ""))
            return res
        finally:
            ph.close()

    # ---- a store that hangs (issue 16) ----
    def hang(self):
        """Two fake WooCommerce stores (tests/fakes/fake_woo.py over TLS, the
        integration tests' WooStack), --hang-products products exported to
        both, one worker.  Three waves of updates with both stores answering
        (the reference), then store 2 holds every products request without
        an answer (beyond the worker's http_timeout_ms) and three more waves
        are published: the healthy store's convergence after the last wave.
        The hang lasts --hang-seconds after the last wave (timeouts, retries
        claimed while it lasts), then ends: the hung store's recovery, against
        the retry delay (retry.schedule_ms = [--hang-retry-ms], no jitter; the
        retry lease is the default, 120 s)."""
        from test_woo_worker import CK as WCK, CS as WCS, WooStack, product as woo_product
        a = self.a
        n, timeout_ms, retry_ms = a.hang_products, a.hang_timeout_ms, a.hang_retry_ms
        linger = a.linger_ms or 200
        c = BenchCase()
        w = None
        try:
            s = WooStack(c, partitions=3, linger_ms=linger)
            conf = s.config()
            for old, new in (('log = { level = "debug"; };', 'log = { level = "info"; };'),
                             ("worker = { linger_ms = %d; };" % linger,
                              "worker = { linger_ms = %d; http_timeout_ms = %d; };"
                              % (linger, timeout_ms)),
                             ("schedule_ms = [100, 200, 400, 800]; jitter_pct = 0;",
                              "schedule_ms = [%d]; jitter_pct = 0;" % retry_ms)):
                if old not in conf:
                    raise AssertionError("the WooStack config changed: %r not in %s"
                                         % (old, conf))
                conf = conf.replace(old, new)
            w = Worker(c, "woocommerce", conf, "woo-hang", env={"WOO_KEY": WCK,
                                                                  "WOO_SECRET": WCS})

            def names(store):
                return {p.get("sku"): p.get("name") for p in s.products(store).values()}

            def wave(v):
                return {"SKU-%d" % i: "Product %d v%d" % (i, v) for i in range(n)}

            def converge(stores, v, t0, timeout):
                """{store: seconds from t0 until it held version v of every
                product} (None: not within timeout)."""
                got = {}
                deadline = time.time() + timeout
                while len(got) < len(stores) and time.time() < deadline:
                    for st in stores:
                        if st not in got and names(st) == wave(v):
                            got[st] = time.time() - t0
                    time.sleep(0.02)
                return {st: got.get(st) for st in stores}

            def waves(vs):
                t_last = None
                for i, v in enumerate(vs):
                    if i:
                        time.sleep(a.hang_wave_gap)
                    t_last = time.time()
                    s.publish([woo_product(j, version=v) for j in range(n)], "--type", "updated")
                return t_last

            load0 = loadavg()
            s.publish([woo_product(i) for i in range(n)], "--type", "export_requested",
                      "--connections", "1,2")
            exp = converge((1, 2), 1, time.time(), 60)
            if None in exp.values():
                raise AssertionError("the export did not reach both stores: %s" % exp)
            # The reference: both stores answer.
            t_last = waves((2, 3, 4))
            ref = converge((1, 2), 4, t_last, 60)
            self.say("  both stores answering: %d products, three waves %.1f s apart: store 1 "
                     "held the last wave %.2f s after its publish, store 2 %.2f s"
                     % (n, a.hang_wave_gap, ref[1] or -1, ref[2] or -1))
            # Store 2 hangs: no answer, the connection closed long after the
            # worker gave up.
            s.clients[1].faults({"match": {"path_re": "products"}, "count": 1000000,
                                 "action": "timeout",
                                 "delay_ms": max(10 * timeout_ms, 60000)})
            t_hang = time.time()
            t_last = waves((5, 6, 7))
            healthy = converge((1,), 7, t_last, max(60, 3 * timeout_ms / 1000))[1]
            if names(2) == wave(7):
                self.fail("hang: store 2 holds the last wave although it hangs")
            rest = t_last + a.hang_seconds - time.time()
            if rest > 0:
                time.sleep(rest)
            hung = [r for r in s.clients[1].requests("products")
                    if r["time"] >= t_hang]
            t_end = time.time()
            s.clients[1].call("DELETE", "/_fake/faults")
            recovery = converge((2,), 7, t_end, a.hang_recovery_timeout)[2]
            reqs = s.clients[1].requests("products")
            before = [r["time"] for r in reqs if t_hang <= r["time"] < t_end]
            after = [r["time"] for r in reqs if r["time"] >= t_end]
            # The request held when the hang ended runs into its timeout.
            held_until = max(0.0, max(before) + timeout_ms / 1000.0 - t_end) if before else 0.0
            bad = [(st, i) for st in (1, 2) for i in range(n)
                   if s.state(st, "p%d" % i).get("synced_version") != "7"]
            if healthy is None:
                self.fail("hang: store 1 never held the last wave")
            if recovery is None:
                self.fail("hang: store 2 did not recover within %d s" % a.hang_recovery_timeout)
            if bad and recovery is not None:
                time.sleep(2)
                bad = [(st, i) for st, i in bad
                       if s.state(st, "p%d" % i).get("synced_version") != "7"]
                if bad:
                    self.fail("hang: not synced at version 7 in Redis: %s" % bad[:5])
            res = {"products": n, "http_timeout_ms": timeout_ms, "retry_ms": retry_ms,
                   "lease_ms": 120000, "linger_ms": linger, "wave_gap_s": a.hang_wave_gap,
                   "hang_after_last_wave_s": a.hang_seconds,
                   "reference_store1_s": ref[1], "reference_store2_s": ref[2],
                   "healthy_convergence_s": healthy, "recovery_s": recovery,
                   "hung_requests": len(hung),
                   "timeout_of_held_request_after_end_s": held_until,
                   "first_request_after_end_s": (min(after) - t_end) if after else None,
                   "load_before": load0, "load_after": loadavg()}
            self.say("  store 2 hanging (http_timeout_ms %d): store 1 held the last wave %s s "
                     "after its publish (target <= 1 s; the issue's 'today' 8.3 s)"
                     % (timeout_ms, "%.2f" % healthy if healthy is not None else "never"))
            self.say("  hang ended %.1f s after the last wave (%d products requests held at "
                     "store 2 meanwhile): store 2 held the last wave %s s later; retry delay "
                     "%.1f s (target <= one retry delay; the issue's 'today' 120 s: the lease); "
                     "the request held when it ended timed out %.2f s after the end, the first "
                     "request after it came %s s after the end; load %s -> %s"
                     % (a.hang_seconds, len(hung),
                        "%.2f" % recovery if recovery is not None else "never", retry_ms / 1000.0,
                        held_until,
                        "%.2f" % res["first_request_after_end_s"]
                        if after else "-", load0, res["load_after"]))
            return res
        finally:
            if w:
                w.proc.stop(sig=signal.SIGKILL, timeout=30)
            c.run()

    # ---- a slow Meta (issue 16) ----
    def slow_meta(self, n, pendings):
        """One worker on n events of distinct products while the fake Meta
        finishes each batch --meta-batch-ms (default here 10,000) after it
        accepted it: events/s, and the batches outstanding per confirmation
        time that this means; once per worker.max_pending_batches in
        `pendings` (None: the worker's default, the only choice for a build
        that does not know the key)."""
        ms = self.a.meta_batch_ms or 10000
        saved = self.fake
        if ms != self.a.meta_batch_ms:
            self.fake = BenchFake(self.c, ms)
        out = []
        try:
            self.say("  -- a slow Meta: each batch finished %d ms after it was accepted; %d "
                     "events, one per product%s" % (ms, n, ", worker %s" % Worker.binary
                                                     if Worker.binary else ""))
            for pending in pendings:
                extra = ["max_pending_batches = %d" % pending] if pending else []
                r = self.throughput("meta", 1, n, n, seed=7, worker_extra=extra,
                                    label="max_pending_batches %s" % (pending or "default"))
                r["meta_batch_ms"] = ms
                r["max_pending_batches"] = pending
                r["batches_per_confirmation"] = (r["events_per_s"] * ms / 1000.0 /
                                                 max(r["items_per_push_call"], 1))
                self.say("  %-26s %.2f batches of %.0f records pushed per confirmation time "
                         "(%.1f s)" % ("", r["batches_per_confirmation"],
                                       r["items_per_push_call"], ms / 1000.0))
                out.append(r)
        finally:
            if self.fake is not saved:
                self.fake.proc.stop()
                self.fake = saved
        return out

    def claim(self, count):
        c = Cleanup()
        try:
            redis = Redis(c, appendonly=True)
            r = run([program("cs-bench-claim"), "--redis-port", str(redis.port), "--count",
                     str(count)], timeout=600)
            line = r.stdout.strip()
            self.say("  " + (line or r.stderr.strip()))
            m = re.search(r"= (\d+) items/s \(script.*\), (\d+) items/s", line)
            if r.returncode != 0 or not m or "MISMATCH" in line:
                self.fail("claim benchmark: %s" % (line or r.stderr))
                return {}
            return {"count": count, "items_per_s": int(m.group(1)),
                    "items_per_s_with_parse": int(m.group(2))}
        finally:
            c.run()

    def parse(self, n, products):
        """The event decoder against the reference parser on the benchmark's
        own events (cs-bench-parse)."""
        pairs, _ = bursty(n, products, 3)
        path = os.path.join(self.tmp, "parse-%d.jsonl" % n)
        write_events(path, self.factory, pairs)
        r = run([program("cs-bench-parse"), "--events", path, "--seconds",
                 "0.5" if self.a.quick else "2"], timeout=600)
        line = r.stdout.strip()
        self.say("  " + (line or r.stderr.strip()))
        m = re.search(r"decoder (\d+) events/s .*reference (\d+) events/s", line)
        if r.returncode != 0 or not m:
            self.fail("parse benchmark: %s" % (line or r.stderr))
            return {}
        return {"events": n, "decoder_events_per_s": int(m.group(1)),
                "reference_events_per_s": int(m.group(2))}

    def run_all(self):
        a = self.a
        self.say("catalogsync benchmark (%s): %d events over %d products per sink, "
                 "batch_max 1000, linger %d ms; worker Kafka properties %s"
                 % ("quick" if a.quick else "full", a.events, a.products, a.linger_ms or 200,
                    ", ".join(a.kafka_prop)))
        if a.worker_set:
            self.say("worker settings: %s" % ", ".join(a.worker_set))
        if a.meta_batch_ms:
            self.say("the fake Meta finishes each batch %d ms after accepting it"
                     % a.meta_batch_ms)
        if Worker.binary:
            self.say("workers: %s (--worker-build)" % Worker.binary)
        m = self.results["machine"]
        self.say("machine: %s, %s cores, %.1f GB; load %s"
                 % (m["cpu"], m["nproc"], m["mem_gb"], loadavg()))
        if "ceiling" in a.phases:
            self.results["fake_ceiling"] = self.fake_ceiling(a.ceiling_seconds)
        for sink in a.sinks:
            self.say("\n== %s" % sink)
            out = self.results["sinks"][sink] = {"scale": []}
            if "throughput" in a.phases:
                for k in a.workers:
                    out["scale"].append(self.throughput(sink, k, a.events, a.products, seed=1))
            if "drain" in a.phases:
                out["drain"] = self.throughput(sink, 1, a.events, a.products, seed=1, drain=True,
                                               label="1 worker, backlog")
            if "baseline" in a.phases:
                out["baseline"] = self.throughput(
                    sink, 1, a.baseline_events,
                    max(1, a.baseline_events * a.products // a.events),
                    batch_max=1, seed=2, label="baseline batch_max=1")
            if "paced" in a.phases:
                out["paced"] = self.paced(sink, a.rate, a.paced_seconds, a.paced_products)
            if "perproduct" in a.phases and sink == "meta":
                out["per_product"] = self.per_product(a.pp_events, a.pp_partitions)
            if "slowmeta" in a.phases and sink == "meta":
                out["slow_meta"] = self.slow_meta(
                    a.slow_events, [int(x) if x != "default" else None
                                    for x in a.slow_pending.split(",") if x])
            if "hang" in a.phases and sink == "woocommerce":
                self.say("  -- a store that hangs: two stores, one worker")
                out["hang"] = self.hang()
            if "ppdrain" in a.phases and sink == "meta":
                self.say("  -- one event per product as a backlog: %d events over %d "
                         "partitions" % (a.pp_events, a.pp_partitions))
                out["per_product_drain"] = self.throughput(
                    "meta", 1, a.pp_events, a.pp_events, seed=5, partitions=a.pp_partitions,
                    drain=True, label="1 worker, backlog")
            if not out["scale"] or "baseline" not in out:
                continue
            one = out["scale"][0]
            base = out["baseline"]
            self.say("  gains over baseline: %.1fx events/s, %.1fx fewer HTTP requests per "
                     "event, %.1fx fewer Redis round trips per event, %.1fx less CPU per event"
                     % (one["events_per_s"] / base["events_per_s"],
                        one["events_per_request"] / base["events_per_request"],
                        base["round_trips_per_event"] / max(one["round_trips_per_event"], 1e-9),
                        base["cpu_s_per_10k"] / max(one["cpu_s_per_10k"], 1e-9)))
            if len(out["scale"]) > 1:
                self.say("  scale-out: " + ", ".join(
                    "%d worker%s %.0f events/s (%.2fx)" % (r["workers"],
                                                            "s" if r["workers"] > 1 else "",
                                                            r["events_per_s"],
                                                            r["events_per_s"] / one["events_per_s"])
                    for r in out["scale"]) + " on %s cores; pushed twice: %s"
                    % (m["nproc"], ", ".join(str(r["dup_versions"]) for r in out["scale"])))
        if "claim" in a.phases:
            self.say("\n== claim (due retries)")
            self.results["claim"] = self.claim(a.claim_count)
        if "parse" in a.phases:
            self.say("\n== parse (one core, no I/O)")
            self.results["parse"] = self.parse(min(a.events, 20000), min(a.products, 2000))
        self.say("\nload average at the end: %s" % loadavg())
        if a.json:
            with open(a.json, "w") as f:
                json.dump(self.results, f, indent=1, default=sorted)
            self.say("figures written to %s" % a.json)
        self.say("bench %s" % ("ok" if self.ok else "FAILED (see CHECK FAILED above)"))
        return 0 if self.ok else 1


def partitions_for(nbytes):
    """The dev broker keeps ~5 MB per partition and drops older messages:
    enough partitions to hold every event even if no worker consumed any,
    with room for keys spreading unevenly."""
    return min(1000, max(12, nbytes // (3 * 1024 * 1024) + 1))


def pct(xs, p):
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024.0 / 1024.0
    return {"cpu": model, "nproc": os.cpu_count(), "mem_gb": mem}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="much smaller (make bench-quick)")
    ap.add_argument("--events", type=int)
    ap.add_argument("--products", type=int)
    ap.add_argument("--baseline-events", type=int)
    ap.add_argument("--sinks", default="meta,woocommerce")
    ap.add_argument("--workers", help="scale-out worker counts (default 1,2,4; --quick 1,2)")
    ap.add_argument("--partitions", type=int)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--linger-ms", type=int,
                    help="worker.linger_ms (default: the worker's default, 200)")
    ap.add_argument("--paced-seconds", type=float)
    ap.add_argument("--paced-products", type=int)
    ap.add_argument("--claim-count", type=int)
    ap.add_argument("--pp-events", type=int,
                    help="perproduct phase: events, one per distinct product (default 200,000; "
                         "--quick 20,000)")
    ap.add_argument("--pp-partitions", type=int, default=24,
                    help="perproduct phase: the topic's partitions (default 24)")
    ap.add_argument("--ceiling-seconds", type=float)
    ap.add_argument("--meta-batch-ms", type=int, default=0, metavar="MS",
                    help="the fake Meta finishes a batch MS ms after accepting it (a slow "
                         "Meta; default 0: at the first status poll)")
    ap.add_argument("--slow-events", type=int, default=20000,
                    help="slowmeta phase: events, one per distinct product (default 20,000)")
    ap.add_argument("--slow-pending", default="default",
                    help="slowmeta phase: worker.max_pending_batches per run, comma-separated "
                         "(default: the worker's own default; 'default' for it in a list)")
    ap.add_argument("--hang-products", type=int, default=40)
    ap.add_argument("--hang-timeout-ms", type=int, default=6000,
                    help="hang phase: worker.http_timeout_ms (default 6000)")
    ap.add_argument("--hang-retry-ms", type=int, default=5000,
                    help="hang phase: retry.schedule_ms = [MS], no jitter (default 5000)")
    ap.add_argument("--hang-seconds", type=float, default=20.0,
                    help="hang phase: how long store 2 still hangs after the last wave "
                         "(default 20)")
    ap.add_argument("--hang-wave-gap", type=float, default=1.0,
                    help="hang phase: seconds between the waves (default 1)")
    ap.add_argument("--hang-recovery-timeout", type=float, default=240.0)
    ap.add_argument("--worker-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a worker.KEY setting for every phase's workers (repeatable; e.g. "
                         "max_inflight_batches=4)")
    ap.add_argument("--worker-build", metavar="DIR",
                    help="the catalogsync-worker of another build directory (DIR/bin/, e.g. "
                         "an older commit's build); everything else from BUILD")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--phases", help="which measurements to run, comma-separated, from "
                    "ceiling,throughput,drain,baseline,paced,perproduct,ppdrain,claim,parse,"
                    "slowmeta,hang (default all but slowmeta and hang; --quick: also not "
                    "drain and ppdrain)")
    ap.add_argument("--callgrind", metavar="DIR",
                    help="run the workers under valgrind --tool=callgrind, profiles in DIR "
                         "(figures are then meaningless; use with --quick)")
    ap.add_argument("-X", dest="kafka_prop", action="append", default=[],
                    help="librdkafka property for the workers (NAME=VALUE, repeatable)")
    a = ap.parse_args()
    q = a.quick
    a.events = a.events or (10000 if q else 200000)
    a.products = a.products or (1000 if q else 20000)
    a.baseline_events = a.baseline_events or (300 if q else 5000)
    # The dev broker keeps ~5 MB per partition: room for every event even if
    # the workers fell behind entirely.
    a.paced_seconds = a.paced_seconds or (2.0 if q else 15.0)
    a.paced_products = a.paced_products or (2000 if q else 8000)
    a.claim_count = a.claim_count or (5000 if q else 50000)
    a.pp_events = a.pp_events or (20000 if q else 200000)
    a.ceiling_seconds = a.ceiling_seconds or (0.5 if q else 2.0)
    # The dev broker (librdkafka's mock cluster) answers a fetch that finds
    # no data only after fetch.wait.max.ms (500 ms by default), where Kafka
    # answers as soon as data arrives; a short wait stands in for that.
    if not any(p.startswith("fetch.wait.max.ms=") for p in a.kafka_prop):
        a.kafka_prop.append("fetch.wait.max.ms=10")
    a.sinks = [s for s in a.sinks.split(",") if s]
    a.phases = set(p for p in (a.phases or "ceiling,throughput,%sbaseline,paced,perproduct,"
                               "%sclaim,parse" % (("", "") if q else ("drain,", "ppdrain,"))
                               ).split(",") if p)
    if a.callgrind:
        os.makedirs(a.callgrind, exist_ok=True)
        Worker.callgrind = os.path.abspath(a.callgrind)
    if a.worker_build:
        d = os.path.abspath(a.worker_build)
        Worker.binary = os.path.join(d, "bin", "catalogsync-worker")
        if not os.path.exists(Worker.binary):
            Worker.binary = os.path.join(d, "catalogsync-worker")
        if not os.path.exists(Worker.binary):
            ap.error("no catalogsync-worker in %s or %s/bin" % (d, d))
    a.workers = [int(x) for x in (a.workers or ("1,2" if q else "1,2,4")).split(",") if x]
    b = None
    try:
        b = Bench(a)
        return b.run_all()
    finally:
        if b:
            b.c.run()
            shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
