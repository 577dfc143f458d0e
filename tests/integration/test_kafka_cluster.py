"""Failover on a three-broker Apache Kafka cluster (KRaft, scripts/kafka.py).

The events topic has replication factor 3 and min.insync.replicas=2; the
publisher (catalogsync-publish) and the worker's dead-letter producer are
idempotent with acks=all (cs_publisher_new sets both, no property can turn
them off).  While new versions of every product stream through two meta
workers, the broker leading most partitions is killed with SIGKILL and
restarted, then the group coordinator.  Checked:

- every publish call is acknowledged, and the topic holds each event exactly
  once (idempotence: no duplicate from a retried produce);
- every product ends at its last version in the fake Meta catalog;
- no version of a product is pushed twice (items_batch records);
- offsets are committed only after outcomes are durable: every sample of the
  group's committed offsets, taken while the run goes on, is covered by the
  synced versions Redis shows right after it;
- the workers' stall around each kill (longest gap between pushes,
  publish-to-push latency) stays bounded; the figures are printed
  (docs/KAFKA.md).

Also a standalone driver for bigger figures:

    /usr/bin/python3 tests/integration/test_kafka_cluster.py --drive \
        [--products N] [--partitions P] [--interval S] [--steady S] \
        [--session-timeout-ms MS]

The shared machinery (Stream, CommitAudit, push_log, figures) is used by
test_kafka_rebalance.py too.
"""
import bisect
import collections
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import (VALGRIND, Fake, FakeClient, Proc, Redis, program, run,  # noqa: E402
                     wait_until, wrap)
import kafka as kafka_runtime  # noqa: E402  (scripts/kafka.py, on sys.path via harness)

TOKEN = "kafka-cluster-token-41"
CATALOG = "550066"
STATE_KEY = "catalogsync:{meta}:state:main:default:%s"


def product(i, version):
    return {"id": "k%d" % i, "version": version, "sku": "KS-%d" % i,
            "name": "Kafka %d v%d" % (i, version), "description": "d",
            "price": {"amount": "%d.%02d" % (10 + i % 50, version % 100), "currency": "USD"},
            "stock_quantity": 3, "is_active": True, "brand": "Acme",
            "link": "https://shop.example/k/%d" % i}


def version_of(record):
    """The product version an items_batch record carries (in its title)."""
    return int(record["data"]["title"].rsplit(" v", 1)[1])


class Cleanup:
    """addCleanup for the standalone driver (outside unittest)."""

    def __init__(self):
        self.fns = []

    def addCleanup(self, fn, *a):
        self.fns.append((fn, a))

    def doCleanups(self):
        for fn, a in reversed(self.fns):
            try:
                fn(*a)
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                print("cleanup: %s" % e, file=sys.stderr)


class Stream:
    """Redis, the fake Meta and meta workers on a given Kafka (brokers, topic,
    group), and a publisher thread that publishes version 1, 2, 3... of
    `products` products, one catalogsync-publish call per round."""

    def __init__(self, test, brokers, topic, group, partitions, products=60,
                 properties=(), linger_ms=50, session_timeout_ms=6000):
        self.test = test
        self.brokers, self.topic, self.group = brokers, topic, group
        self.partitions = partitions
        self.n = products
        self.redis = Redis(test)
        self.fake = Fake("fake_meta.py", ["--token", TOKEN, "--catalog", CATALOG], test)
        self.meta = FakeClient(self.fake.addr)
        props = ["session.timeout.ms=%d" % session_timeout_ms, "heartbeat.interval.ms=500"]
        props += list(properties)
        self.dir = tempfile.mkdtemp(prefix="cs-kstream-")
        self.conf = os.path.join(self.dir, "worker.conf")
        with open(self.conf, "w") as f:
            f.write('kafka = { brokers = "%s"; topic = "%s"; dlq_topic = "%s.dlq"; '
                    'properties = [%s]; };\n'
                    'redis = { port = %d; };\n'
                    'log = { level = "info"; };\n'
                    'worker = { linger_ms = %d; confirm_poll_ms = 10; '
                    'shutdown_deadline_ms = 20000; http_timeout_ms = 30000; };\n'
                    'retry = { schedule_ms = [100, 200, 400, 800]; max_attempts = 50; '
                    'jitter_pct = 0; lease_ms = 5000; throttle_default_ms = 300; };\n'
                    'meta = { catalogs = ( { id = "main"; base_url = "http://%s"; '
                    'api_version = "v25.0"; catalog_id = "%s"; token = "env:CS_META_TOKEN"; '
                    'placeholder_image_url = "https://shop.example/no-image.png"; } ); };\n'
                    % (brokers, topic, topic, ", ".join(json.dumps(p) for p in props),
                       self.redis.port, linger_ms, self.fake.addr, CATALOG))
        self.workers = {}
        self.rounds = []            # (version, started, acknowledged, exit status, stderr)
        self.version = 0
        self._stop = threading.Event()
        self._thread = None

    # ---- workers ----
    def worker(self, name):
        cmd = wrap([program("catalogsync-worker"), "--sink", "meta", "--config", self.conf,
                    "--group", self.group])
        p = Proc(name, cmd, env={"CS_META_TOKEN": TOKEN})
        self.test.addCleanup(p.stop, signal.SIGTERM, 30.0)
        self.workers[name] = p
        return p

    # ---- publishing ----
    def publish_round(self):
        self.version += 1
        v = self.version
        text = "".join(json.dumps(product(i, v)) + "\n" for i in range(self.n))
        t0 = time.time()
        r = run([program("catalogsync-publish"), "-b", self.brokers, "-t", self.topic,
                 "--type", "updated"], input=text, timeout=180)
        self.rounds.append((v, t0, time.time(), r.returncode, r.stderr[-2000:]))
        return r.returncode

    def start_publishing(self, interval=0.25):
        def loop():
            while not self._stop.is_set():
                t = time.monotonic()
                self.publish_round()
                # Pacing of the load, not synchronisation.
                self._stop.wait(max(0.0, interval - (time.monotonic() - t)))
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop_publishing(self):
        self._stop.set()
        if self._thread:
            self._thread.join(240)
        return self.version

    # ---- the fake's view ----
    def pushes(self):
        """[(time, product id, version)] of every items_batch record, in
        arrival order."""
        out = []
        for req in self.meta.requests("items_batch"):
            if req.get("method") != "POST" or not req.get("json"):
                continue
            for rec in req["json"].get("requests", []):
                out.append((req["time"], "k" + rec["data"]["id"].split("-", 1)[1],
                            version_of(rec)))
        return out

    def catalog_versions(self):
        items = self.meta.state()["catalogs"][CATALOG]["items"]
        return {"k" + rid.split("-", 1)[1]: int(it["fields"]["title"].rsplit(" v", 1)[1])
                for rid, it in items.items()}

    def all_at(self, version):
        cv = self.catalog_versions()
        return len(cv) == self.n and all(v >= version for v in cv.values())

    def pushed_at_least(self, version):
        """Every product pushed with a version >= version."""
        best = {}
        for _, pid, v in self.pushes():
            best[pid] = max(best.get(pid, 0), v)
        return len(best) == self.n and min(best.values()) >= version

    def synced_versions(self):
        """Per product, the newest version whose outcome is durable: confirmed
        (synced_version), accepted by Meta with its handle recorded (pending:
        confirmed on a later turn, docs/DESIGN.md), queued in the retry queue
        (a version waiting for its product's batch to be confirmed) or
        claimed from it (leased: back in the queue if its worker dies before
        it records the handle), or overtaken by a newer version Redis holds
        (every older one is then superseded)."""
        keys = ["k%d" % i for i in range(self.n)]
        # One script: the fields and queues of a product read at one instant
        # (separate reads could straddle a settle or a claim).
        lua = ("local out = {} "
               "for i, k in ipairs(ARGV) do "
               "local st = redis.call('HMGET', KEYS[1] .. k, 'synced_version', 'version', "
               "'handle') "
               "local m = 'main|default:' .. k "
               "local held = st[3] or redis.call('ZSCORE', KEYS[2], m) or "
               "redis.call('ZSCORE', KEYS[3], m) "
               "local v = tonumber(st[2] or '0') "
               "if not held then v = v - 1 end "
               "out[i] = math.max(tonumber(st[1] or '0'), v) "
               "end return out")
        out = self.redis.cli("EVAL", lua, "3", STATE_KEY % "", "catalogsync:{meta}:retry",
                             "catalogsync:{meta}:inflight", *keys).split("\n")
        res = {k: int(v) for k, v in zip(keys, out)}
        return res

    # ---- worker logs ----
    def log_lines(self, name, needle):
        return [l for l in self.workers[name].read_log().splitlines() if needle in l]

    def assignment(self, name):
        """The worker's partition count after its last assign/revoke line."""
        import re
        last = None
        for l in self.workers[name].read_log().splitlines():
            m = re.search(r"(?:assigned|revoked) \d+ partition\(s\).*?, (\d+) (?:in all|left)", l)
            if m:
                last = int(m.group(1))
        return last


class CommitAudit:
    """Samples the group's committed offsets, then the synced versions in
    Redis, over and over (a thread).  check() then reads the topic and
    counts every event below a committed offset whose product Redis did not
    yet show synced at that version or newer: a commit ahead of a durable
    outcome."""

    def __init__(self, stream):
        self.s = stream
        self.samples = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _loop(self):
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.s.brokers, "group.id": self.s.group,
                      "enable.auto.commit": False, "log_level": 0,
                      "socket.timeout.ms": 3000})
        tps = [TopicPartition(self.s.topic, p) for p in range(self.s.partitions)]
        try:
            while not self._stop.is_set():
                try:
                    got = c.committed(tps, timeout=5)
                except Exception:  # noqa: BLE001 - a broker is down: next sample
                    self.errors += 1
                    self._stop.wait(0.2)
                    continue
                offs = {tp.partition: tp.offset for tp in got if tp.offset >= 0}
                synced = self.s.synced_versions()
                self.samples.append((time.time(), offs, synced))
                self._stop.wait(0.3)
        finally:
            c.close()

    def stop(self):
        self._stop.set()
        self._thread.join(30)

    def check(self, messages):
        """(violations, checked): checked counts (sample, product) pairs that
        had an event below the committed offset."""
        per = collections.defaultdict(lambda: ([], []))   # (partition, product) -> offsets, versions
        for m in messages:
            ev = json.loads(m["value"])
            offs, vers = per[(m["partition"], ev["product"]["id"])]
            offs.append(m["offset"])
            vers.append(ev["product"]["version"])
        violations, checked = [], 0
        for t, committed, synced in self.samples:
            for (part, pid), (offs, vers) in per.items():
                c = committed.get(part)
                if c is None:
                    continue
                k = bisect.bisect_left(offs, c)      # events at offsets < c
                if k == 0:
                    continue
                checked += 1
                need = max(vers[:k])
                if synced.get(pid, 0) < need:
                    violations.append((t, part, pid, need, synced.get(pid, 0), c))
        return violations, checked


def read_topic(brokers, topic, timeout_ms=60000):
    cmd = [program("cs-test-consume"), "-b", brokers, "-t", topic, "-T", str(timeout_ms)]
    r = run(cmd, timeout=timeout_ms / 1000 + 60)
    if r.returncode != 0:
        raise AssertionError("cs-test-consume failed (%d): %s" % (r.returncode, r.stderr))
    msgs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    msgs.sort(key=lambda m: (m["partition"], m["offset"]))
    return msgs


def duplicates(pushes):
    """(product, version) pairs pushed more than once."""
    seen = collections.Counter((pid, v) for _, pid, v in pushes)
    return {k: n for k, n in seen.items() if n > 1}


def reach_times(pushes):
    """{product: {version: earliest push time at that version or newer}}."""
    per = collections.defaultdict(list)
    for t, pid, v in pushes:
        per[pid].append((t, v))
    reach = {}
    for pid, lst in per.items():
        lst.sort()
        best, times = 0, {}
        for t, v in lst:
            if v > best:
                for x in range(best + 1, v + 1):
                    times[x] = t
                best = v
        reach[pid] = times
    return reach


def round_latencies(stream, pushes):
    """{version: (publish call started, acknowledged, seconds from the
    acknowledgement until every product had been pushed at that version or
    newer)} for the acknowledged rounds that were pushed in full."""
    reach = reach_times(pushes)
    out = {}
    for v, t0, t1, rc, _e in stream.rounds:
        ts = [reach[pid].get(v) for pid in reach]
        if rc == 0 and len(ts) == stream.n and all(x is not None for x in ts):
            out[v] = (t0, t1, max(max(ts) - t1, 0.0))
    return out


def max_gap(times, start, end):
    """Longest interval without a push within [start, end]."""
    pts = [start] + sorted(t for t in times if start < t < end) + [end]
    return max(b - a for a, b in zip(pts, pts[1:]))


def _stats(xs):
    return (statistics.median(xs), max(xs)) if xs else (float("nan"), float("nan"))


def kill_figures(stream, pushes, events, end, window=20.0, baseline=6.0):
    """One row per fault event (label, time), over [t, min(t + window, next
    event, end)]: the longest gap between pushes, the longest a publish
    call stayed blocked in it (acks=all: the producer's stall), and p50/max
    of the acknowledgement-to-push latency of the rounds acknowledged in it
    (the workers' stall).  The
    first row is the steady state over the `baseline` seconds before the
    first event."""
    times = [t for t, _, _ in pushes]
    lat = round_latencies(stream, pushes)
    spans = [("baseline", events[0][1] - baseline - 0.5, events[0][1] - 0.5)]
    for i, (label, t) in enumerate(events):
        nxt = events[i + 1][1] if i + 1 < len(events) else end
        spans.append((label, t, min(t + window, nxt, end)))
    rows = []
    for label, a, b in spans:
        # how long a publish call stayed blocked within the span
        pub = [min(t1, b) - max(t0, a) for _v, t0, t1, _rc, _e in stream.rounds
               if a <= t1 and t0 <= b]
        p50, mx = _stats([l for t0, t1, l in lat.values() if a <= t1 <= b])
        rows.append((label, a, b - a, max_gap(times, a, b) if b > a else 0.0,
                     max(pub) if pub else 0.0, p50, mx))
    return rows


def format_figures(rows):
    out = ["%-30s %7s %10s %12s %12s %12s" % ("event", "span s", "max gap s", "publish s",
                                             "p50 lat s", "max lat s")]
    for label, _a, span, gap, pub, p50, mx in rows:
        out.append("%-30s %7.1f %10.2f %12.2f %12.2f %12.2f" % (label, span, gap, pub, p50, mx))
    return "\n".join(out)


# ---------------------------------------------------------------------------

class ClusterRun:
    """The failover scenario; the test and the driver both run it."""

    def __init__(self, test, products=60, interval=0.25, steady=6.0, partitions=6,
                 heap="384m", session_timeout_ms=6000):
        self.test = test
        self.session_timeout_ms = session_timeout_ms
        self.products, self.interval, self.steady = products, interval, steady
        self.partitions = partitions
        self.cluster = kafka_runtime.KafkaCluster(nodes=3, heap=heap)
        self.events = []
        self.log = []

    def say(self, msg):
        line = "[%6.1fs] %s" % (time.monotonic() - self.t_start, msg)
        self.log.append(line)
        print(line, flush=True)

    def admin(self):
        from confluent_kafka.admin import AdminClient
        return AdminClient({"bootstrap.servers": self.cluster.brokers, "log_level": 0})

    def leaders(self):
        md = self.admin().list_topics(self.topic, timeout=10)
        return {p: pm.leader for p, pm in md.topics[self.topic].partitions.items()}

    def full_isr(self):
        md = self.admin().list_topics(timeout=10)
        for name in (self.topic, "__consumer_offsets"):
            t = md.topics.get(name)
            if not t or not t.partitions:
                return False
            if any(pm.leader < 0 or len(pm.isrs) < 3 for pm in t.partitions.values()):
                return False
        return True

    def coordinator(self):
        groups = self.admin().list_groups(self.group, timeout=10)
        return groups[0].broker.id if groups else None

    def node(self, node_id):
        [n] = [n for n in self.cluster.nodes if n.id == node_id]
        return n

    def wait_progress(self, what, timeout=90):
        """Waits until a round published from now on reached every product."""
        target = self.s.version + 2
        wait_until(lambda: self.s.pushed_at_least(target), timeout=timeout, interval=0.1,
                   what="every product pushed at version %d (%s)" % (target, what))

    def run(self):
        self.t_start = time.monotonic()
        self.cluster.start()
        self.test.addCleanup(self.cluster.stop, 10.0)
        self.say("3 KRaft nodes up: %s" % self.cluster.brokers)
        self.topic = "kc-%d.product-events" % os.getpid()
        self.group = "catalogsync-meta-kc-%d" % os.getpid()
        kafka_runtime.create_topics(
            self.cluster.brokers, {self.topic: self.partitions, self.topic + ".dlq": 2},
            replication=3, config=dict(kafka_runtime.TOPIC_CONFIG, **{"min.insync.replicas": "2"}))
        s = self.s = Stream(self.test, self.cluster.brokers, self.topic, self.group,
                            self.partitions, products=self.products,
                            session_timeout_ms=self.session_timeout_ms)
        s.worker("w1")
        s.worker("w2")
        wait_until(lambda: s.assignment("w1") and s.assignment("w2") and
                   s.assignment("w1") + s.assignment("w2") == self.partitions, timeout=60,
                   what="both workers assigned")
        self.audit = CommitAudit(s).start()
        s.start_publishing(self.interval)
        self.wait_progress("steady state")
        first = len(s.rounds)
        wait_until(lambda: len(s.rounds) - first >= self.steady / self.interval, timeout=120,
                   interval=0.1, what="steady-state rounds")
        # 1. The broker leading most partitions.
        counts = collections.Counter(self.leaders().values())
        victim = counts.most_common(1)[0][0]
        self.say("leaders %s; SIGKILL broker %d (leads %d of %d partitions)"
                 % (dict(counts), victim, counts[victim], self.partitions))
        self.events.append(("SIGKILL leader of %d/%d" % (counts[victim], self.partitions),
                            time.time()))
        self.node(victim).kill(signal.SIGKILL)
        self.wait_progress("after the leader kill")
        self.say("progress without broker %d; leaders now %s" % (victim, self.leaders()))
        self.node(victim).start().wait_ready(120)
        self.events.append(("restart of that broker", time.time()))
        self.say("broker %d restarted" % victim)
        wait_until(self.full_isr, timeout=90, interval=0.2, what="every replica back in sync")
        self.wait_progress("after the restart")
        # 2. The group coordinator.
        coord = self.coordinator()
        if coord is None:
            raise AssertionError("no coordinator found for group %s" % self.group)
        self.say("SIGKILL group coordinator, broker %d" % coord)
        self.events.append(("SIGKILL group coordinator", time.time()))
        self.node(coord).kill(signal.SIGKILL)
        self.wait_progress("after the coordinator kill")
        self.say("progress without broker %d; coordinator now %s" % (coord, self.coordinator()))
        self.node(coord).start().wait_ready(120)
        self.events.append(("restart of the coordinator", time.time()))
        wait_until(self.full_isr, timeout=90, interval=0.2, what="every replica back in sync")
        self.wait_progress("after the coordinator restart")
        last = s.stop_publishing()
        self.t_stop = time.time()
        self.say("published %d rounds of %d products; waiting for the last version"
                 % (last, self.products))
        wait_until(lambda: s.all_at(last), timeout=90, interval=0.2,
                   what="every product at version %d in the fake catalog" % last)
        # Let the audit see the final commits, then stop the workers.
        wait_until(lambda: len(self.audit.samples) > 2 and self.audit.samples[-1][0] >
                   time.time() - 0.5, timeout=30, what="a fresh commit sample")
        self.audit.stop()
        codes = {n: p.stop(signal.SIGTERM, 30.0) for n, p in s.workers.items()}
        return self.report(last, codes)

    def report(self, last, codes):
        s = self.s
        pushes = s.pushes()
        msgs = read_topic(self.cluster.brokers, self.topic)
        violations, checked = self.audit.check(msgs)
        rows = kill_figures(s, pushes, self.events, self.t_stop)
        rebal = {n: len(s.log_lines(n, "revoked")) for n in s.workers}
        commit_fail = {n: len(s.log_lines(n, "offset commit failed")) for n in s.workers}
        res = {
            "rounds": len(s.rounds), "failed_rounds": [r for r in s.rounds if r[3] != 0],
            "published": sum(1 for r in s.rounds if r[3] == 0) * s.n,
            "in_topic": len(msgs), "last": last, "catalog": s.catalog_versions(),
            "dups": duplicates(pushes), "pushed_records": len(pushes),
            "violations": violations, "checked": checked, "samples": len(self.audit.samples),
            "rows": rows, "revokes": rebal, "commit_failures": commit_fail, "exit": codes,
        }
        self.say("figures:\n" + format_figures(rows))
        self.say("events published %d, in topic %d; records pushed %d, pushed twice %d; "
                 "commit samples %d (%d product checks, %d ahead of Redis); revocations %s; "
                 "failed commits %s; worker exits %s"
                 % (res["published"], res["in_topic"], res["pushed_records"], len(res["dups"]),
                    res["samples"], checked, len(violations), rebal, commit_fail, codes))
        return res


@unittest.skipIf(VALGRIND, "under valgrind the workers are too slow for the failover timings "
                 "(three JVMs and two workers in valgrind on two cores); the scenario runs "
                 "in the plain and the sanitizer suites")
class KafkaClusterTest(unittest.TestCase):
    def test_failover_leader_and_coordinator(self):
        res = ClusterRun(self).run()
        self.assertEqual(res["failed_rounds"], [], "every publish call acknowledged")
        self.assertEqual(res["in_topic"], res["published"],
                         "the topic holds each event exactly once (idempotent producer)")
        self.assertEqual(len(res["catalog"]), 60)
        stale = {k: v for k, v in res["catalog"].items() if v != res["last"]}
        self.assertEqual(stale, {}, "products not at their last version")
        self.assertEqual(res["dups"], {}, "versions pushed more than once")
        self.assertEqual(res["violations"][:10], [], "committed offsets ahead of Redis")
        self.assertGreater(res["checked"], 1000, "the commit audit saw too few commits")
        self.assertEqual(res["exit"], {"w1": 0, "w2": 0})
        for label, _a, _span, gap, _pub, _p50, mx in res["rows"][1:]:
            self.assertLess(gap, 45.0, "%s: no push for %.1fs" % (label, gap))
            self.assertLess(mx, 45.0, "%s: acknowledged events waited %.1fs" % (label, mx))


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--drive", action="store_true", help="run the scenario once, print figures")
    ap.add_argument("--products", type=int, default=200)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--steady", type=float, default=10.0)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--session-timeout-ms", type=int, default=6000,
                    help="the workers' session.timeout.ms (the test uses 6000)")
    a = ap.parse_args()
    if not a.drive:
        unittest.main(argv=sys.argv[:1])
        return 0
    c = Cleanup()
    try:
        res = ClusterRun(c, a.products, a.interval, a.steady, a.partitions,
                         session_timeout_ms=a.session_timeout_ms).run()
    finally:
        c.doCleanups()
    ok = (not res["failed_rounds"] and res["in_topic"] == res["published"] and not res["dups"]
          and not res["violations"] and all(v == res["last"] for v in res["catalog"].values()))
    print("result: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
