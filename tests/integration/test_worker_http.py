"""The worker's HTTP endpoints (worker.http_listen): /metrics checked with a
strict Prometheus text-format (0.0.4) validator and against what a real run
did, /healthz, /readyz (also with Redis gone), 404/405, and the refusals of a
bad listen address (exit 78) and of a port in use (exit 1)."""
import math
import os
import re
import shutil
import socket
import tempfile
import unittest
import urllib.error
import urllib.request

from harness import Worker, program, run, wait_until
from test_meta_worker import TOKEN, MetaStack, product
from test_woo_worker import CK, CS, WooStack
from test_woo_worker import product as woo_product

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
VALUE_RE = re.compile(r"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)\Z")
SAMPLE_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
# Label names that would mean per-product series (unbounded cardinality).
PRODUCT_LABEL_RE = re.compile(r"product|sku|retailer|item|member|^id$|remote", re.I)


def parse_value(text, where):
    if not VALUE_RE.match(text):
        raise AssertionError("%s: bad sample value %r" % (where, text))
    return float(text.replace("Inf", "inf").replace("NaN", "nan"))


def parse_labels(text, where):
    """label="value",... with only \\\\, \\" and \\n escapes; returns a dict."""
    labels, i, n = {}, 0, len(text)
    while i < n:
        m = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"").match(text, i)
        if not m:
            raise AssertionError("%s: bad label syntax at %r" % (where, text[i:]))
        name, i, value = m.group(1), m.end(), []
        while True:
            if i >= n:
                raise AssertionError("%s: unterminated label value" % where)
            c = text[i]
            if c == "\\":
                esc = text[i + 1:i + 2]
                if esc not in ("\\", '"', "n"):
                    raise AssertionError("%s: bad escape \\%s in a label value" % (where, esc))
                value.append("\n" if esc == "n" else esc)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise AssertionError("%s: raw newline in a label value" % where)
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise AssertionError("%s: label %s twice" % (where, name))
        if name.startswith("__"):
            raise AssertionError("%s: reserved label name %s" % (where, name))
        labels[name] = "".join(value)
        if i < n:
            if text[i] != ",":
                raise AssertionError("%s: expected ',' between labels at %r" % (where, text[i:]))
            i += 1
    return labels


def validate_exposition(text):
    """Checks text against the Prometheus text format 0.0.4 and catalogsync's
    rules; returns {family: {"type", "help", "samples": [(name, labels, value)]}}."""
    if not text.endswith("\n"):
        raise AssertionError("exposition does not end with a newline")
    families, current, seen_series = {}, None, set()
    for no, line in enumerate(text[:-1].split("\n"), start=1):
        where = "line %d %r" % (no, line)
        if line == "":
            raise AssertionError("%s: empty line" % where)
        if line.startswith("#"):
            m = re.match(r"# (HELP|TYPE) (\S+) ?(.*)\Z", line)
            if not m:
                raise AssertionError("%s: a comment that is neither HELP nor TYPE" % where)
            kind, name, rest = m.groups()
            if not NAME_RE.match(name):
                raise AssertionError("%s: bad metric name" % where)
            fam = families.get(name)
            if fam is None:
                fam = families[name] = {"type": None, "help": None, "samples": []}
            elif current != name:
                raise AssertionError("%s: family %s declared again" % (where, name))
            if fam["samples"]:
                raise AssertionError("%s: %s after the family's samples" % (where, kind))
            if kind == "HELP":
                if fam["help"] is not None:
                    raise AssertionError("%s: second HELP" % where)
                if re.search(r"\\[^\\n]", rest.replace("\\\\", "")):
                    raise AssertionError("%s: bad escape in HELP" % where)
                fam["help"] = rest
            else:
                if fam["type"] is not None:
                    raise AssertionError("%s: second TYPE" % where)
                if rest not in TYPES:
                    raise AssertionError("%s: unknown type %r" % (where, rest))
                fam["type"] = rest
            current = name
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError("%s: not a valid sample line" % where)
        sname, ltext, vtext, _ts = m.groups()
        labels = parse_labels(ltext or "", where)
        value = parse_value(vtext, where)
        fam = families.get(current) if current else None
        if fam is None or fam["type"] is None:
            raise AssertionError("%s: sample before its family's TYPE" % where)
        base = current
        allowed = {base}
        if fam["type"] == "histogram":
            allowed = {base + "_bucket", base + "_sum", base + "_count"}
        if sname not in allowed:
            raise AssertionError("%s: sample %s outside family %s (TYPE first, families "
                                 "contiguous)" % (where, sname, base))
        if fam["type"] == "histogram" and (sname == base + "_bucket") != ("le" in labels):
            raise AssertionError("%s: le label only on (and on every) _bucket" % where)
        key = (sname, tuple(sorted(labels.items())))
        if key in seen_series:
            raise AssertionError("%s: duplicate series" % where)
        seen_series.add(key)
        if fam["type"] == "counter" and (value < 0 or math.isnan(value)):
            raise AssertionError("%s: counter below 0" % where)
        fam["samples"].append((sname, labels, value))

    for name, fam in families.items():
        if fam["type"] is None or fam["help"] is None:
            raise AssertionError("%s: HELP and TYPE are both required" % name)
        if not name.startswith("catalogsync_"):
            raise AssertionError("%s: does not start with catalogsync_" % name)
        if fam["type"] == "counter" and not name.endswith("_total"):
            raise AssertionError("%s: a counter's name must end in _total" % name)
        if fam["type"] != "counter" and name.endswith("_total"):
            raise AssertionError("%s: _total is for counters" % name)
        for _s, labels, _v in fam["samples"]:
            for l in labels:
                if not LABEL_RE.match(l):
                    raise AssertionError("%s: bad label name %s" % (name, l))
                if PRODUCT_LABEL_RE.search(l):
                    raise AssertionError("%s: label %s looks per-product" % (name, l))
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    groups = {}
    for sname, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sname.endswith("_bucket"):
            g["buckets"].append((parse_value(labels["le"], name + " le"), value))
        elif sname.endswith("_sum"):
            g["sum"] = value
        else:
            g["count"] = value
    for rest, g in groups.items():
        what = "%s%s" % (name, dict(rest))
        b = g["buckets"]
        if not b or g["sum"] is None or g["count"] is None:
            raise AssertionError("%s: needs buckets, _sum and _count" % what)
        les = [le for le, _ in b]
        if les != sorted(les) or len(set(les)) != len(les):
            raise AssertionError("%s: buckets not in increasing le order" % what)
        if les[-1] != math.inf:
            raise AssertionError("%s: last bucket is not le=\"+Inf\"" % what)
        counts = [c for _, c in b]
        if any(b2 < b1 for b1, b2 in zip(counts, counts[1:])):
            raise AssertionError("%s: buckets not cumulative: %s" % (what, counts))
        if counts[-1] != g["count"]:
            raise AssertionError("%s: +Inf bucket %s != _count %s" % (what, counts[-1],
                                                                     g["count"]))


def http(addr, path, method="GET"):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    req = urllib.request.Request("http://%s%s" % (addr, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def value(families, family, sample=None, **labels):
    """The value of the one sample of family matching labels."""
    hits = [v for s, l, v in families[family]["samples"]
            if s == (sample or family) and all(l.get(k) == w for k, w in labels.items())]
    if len(hits) != 1:
        raise AssertionError("%s %s: %d samples match" % (sample or family, labels, len(hits)))
    return hits[0]


class Tricklers:
    """n connections from the loopback address src to 127.0.0.1:port, each
    sending a request head that never ends, one byte per trickle() (slowloris;
    bounded: n sockets, the caller's loop bounds the time)."""

    def __init__(self, port, src, n=70):
        self.socks = []
        for _ in range(n):
            s = socket.socket()
            s.bind((src, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            self.socks.append(s)

    def trickle(self):
        """One more byte on every socket still open; closes those the server
        closed; returns how many are still open."""
        import select
        for s in list(self.socks):
            try:
                r, _, _ = select.select([s], [], [], 0)
                if r and not s.recv(1, socket.MSG_DONTWAIT):
                    raise OSError("closed by the server")
                s.send(b"x", socket.MSG_DONTWAIT)
            except OSError:
                s.close()
                self.socks.remove(s)
        return len(self.socks)

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []


def answer_within(addr, path, seconds):
    """(status, seconds taken) of GET path from 127.0.0.1, retried (a refused
    or dropped connection) until it is answered; AssertionError after seconds."""
    import time
    host, port = addr.rsplit(":", 1)
    t0 = time.monotonic()
    while True:
        left = seconds - (time.monotonic() - t0)
        if left <= 0:
            raise AssertionError("%s%s: no answer within %.1f s" % (addr, path, seconds))
        try:
            with socket.create_connection((host, int(port)), timeout=left) as c:
                c.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                           % (path, addr)).encode())
                head = c.recv(64)
            if head.startswith(b"HTTP/1.1 "):
                return int(head[9:12]), time.monotonic() - t0
        except OSError:
            pass


def check_health_under_slowloris(test, addr, deadline_s=3.0):
    """70 trickling connections from another peer (127.0.0.2): /healthz from
    127.0.0.1 answers at once, while they trickle.  70 from 127.0.0.1 itself:
    the request deadline cuts them all, and /healthz answers again."""
    import time
    port = int(addr.rsplit(":", 1)[1])
    other = Tricklers(port, "127.0.0.2")
    test.addCleanup(other.close)
    test.assertGreater(other.trickle(), 0)
    status, took = answer_within(addr, "/healthz", 1.5)
    test.assertEqual(status, 200)
    test.assertGreater(other.trickle(), 0)          # still trickling meanwhile
    other.close()
    same = Tricklers(port, "127.0.0.1")
    test.addCleanup(same.close)
    t0 = time.monotonic()
    rounds = 0
    while same.trickle() and rounds < 100:          # at most ~10 s
        rounds += 1
        time.sleep(0.1)             # the trickle's pace, not a wait for a condition
    cut_after = time.monotonic() - t0
    test.assertEqual(same.socks, [], "tricklers still open after %.1f s" % cut_after)
    test.assertLess(cut_after, deadline_s + 2.5)
    test.assertGreaterEqual(rounds, 5)              # they were sending all along
    test.assertEqual(answer_within(addr, "/healthz", 1.5)[0], 200)


def listen_addr(worker):
    line = worker.wait_log("HTTP listening on ")
    m = re.search(r"HTTP listening on (127\.0\.0\.1:\d+)", worker.log())
    if not (line and m):
        raise AssertionError("no listen line in the log:\n" + worker.log())
    return m.group(1)


class WorkerHttpTest(unittest.TestCase):
    def test_metrics_health_and_readiness(self):
        s = MetaStack(self)
        conf = s.config().replace("worker = { ", 'worker = { http_listen = "127.0.0.1:0"; ', 1)
        w = Worker(self, "meta", conf, env={"CS_META_TOKEN": TOKEN})
        addr = listen_addr(w)
        self.assertNotEqual(addr, "127.0.0.1:0")
        items = [product(i) for i in range(1, 6)]
        s.publish(items, "--type", "updated")
        for i in range(1, 6):
            s.wait_status("p%d" % i, "synced")

        status, headers, text = http(addr, "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        fams = validate_exposition(text)
        # No product shows up anywhere, not even as a label value.
        for p in items:
            self.assertNotIn('"%s"' % p["id"], text)
            self.assertNotIn('"%s"' % p["sku"], text)
        # The figures are those of the run.
        meta = {"sink": "meta"}
        conn = dict(meta, connection="main")
        self.assertEqual(value(fams, "catalogsync_pushes_total", outcome="synced", **conn), 5)
        for outcome in ("retry", "failed", "paused", "skipped", "deleted"):
            self.assertEqual(value(fams, "catalogsync_pushes_total", outcome=outcome, **conn), 0)
        self.assertEqual(value(fams, "catalogsync_events_consumed_total", **meta), 5)
        self.assertEqual(value(fams, "catalogsync_events_dead_lettered_total", **meta), 0)
        self.assertEqual(value(fams, "catalogsync_retries_claimed_total", **meta), 0)
        self.assertEqual(value(fams, "catalogsync_redis_errors_total", **meta), 0)
        self.assertEqual(value(fams, "catalogsync_redis_up", **meta), 1)
        self.assertEqual(value(fams, "catalogsync_worker_up", **meta), 1)
        self.assertEqual(value(fams, "catalogsync_kafka_assigned_partitions", **meta), 3)
        # Every consumed event was in exactly one flush.
        self.assertEqual(value(fams, "catalogsync_batch_events", "catalogsync_batch_events_sum",
                               **meta), 5)
        self.assertGreaterEqual(value(fams, "catalogsync_flush_duration_seconds",
                                      "catalogsync_flush_duration_seconds_count", **meta), 1)
        # One end-to-end figure per product, each a plausible latency.
        e2e = "catalogsync_end_to_end_seconds"
        self.assertEqual(value(fams, e2e, e2e + "_count", **meta), 5)
        self.assertLess(value(fams, e2e, e2e + "_sum", **meta), 5 * 60)
        # Every call the fake Meta API saw was timed, and counted by class.
        calls = len(s.meta.requests())
        self.assertGreaterEqual(calls, 2)     # items_batch + check_batch_request_status
        rd = "catalogsync_channel_request_duration_seconds"
        self.assertEqual(value(fams, rd, rd + "_count", **conn), calls)
        self.assertEqual(value(fams, "catalogsync_channel_requests_total", status="2xx", **conn),
                         calls)
        self.assertGreater(value(fams, "catalogsync_process_start_time_seconds", **meta),
                           1.6e9)

        self.assertEqual(http(addr, "/healthz")[::2], (200, "ok\n"))
        status, _, body = http(addr, "/readyz")
        self.assertEqual(status, 200, body)
        self.assertEqual(http(addr, "/nope")[0], 404)
        self.assertEqual(http(addr, "/metrics/")[0], 404)
        status, headers, _ = http(addr, "/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        self.assertEqual(http(addr, "/readyz", method="DELETE")[0], 405)
        status, _, body = http(addr, "/metrics", method="HEAD")
        self.assertEqual((status, body), (200, ""))

        # Redis gone: not ready (with the reason), still alive, errors counted.
        s.redis.stop()
        body = wait_until(lambda: (lambda r: r[0] == 503 and r[2])(http(addr, "/readyz")),
                          timeout=30, what="/readyz to answer 503")
        self.assertIn("redis:", body)
        self.assertEqual(http(addr, "/healthz")[0], 200)
        fams = wait_until(lambda: (lambda f: value(f, "catalogsync_redis_errors_total", **meta)
                                   > 0 and f)(validate_exposition(http(addr, "/metrics")[2])),
                          timeout=30, what="a Redis error counted")
        self.assertEqual(value(fams, "catalogsync_redis_up", **meta), 0)

        # SIGTERM: the server stops with the worker, which exits cleanly.
        port = int(addr.split(":")[1])
        self.assertEqual(w.stop(), 0, w.log())
        self.assertIn("HTTP server stopped", w.log())
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()

    def test_health_answers_while_a_peer_trickles(self):
        """Slowloris (issue 14): one misbehaving peer cannot keep /healthz from
        answering (per-address limit, request deadline)."""
        s = MetaStack(self)
        conf = s.config().replace("worker = { ", 'worker = { http_listen = "127.0.0.1:0"; ', 1)
        w = Worker(self, "meta", conf, env={"CS_META_TOKEN": TOKEN})
        check_health_under_slowloris(self, listen_addr(w))

    def test_woocommerce_worker_metrics(self):
        s = WooStack(self, stores=(("trash",),))
        w = Worker(self, "woocommerce", s.config(), env={
            "WOO_KEY": CK, "WOO_SECRET": CS, "CATALOGSYNC_WORKER_HTTP_LISTEN": "127.0.0.1:0"})
        addr = listen_addr(w)
        s.publish([woo_product(1), woo_product(2)], "--type", "export_requested",
                  "--connections", "1")
        s.wait_status(1, "p1", "synced")
        s.wait_status(1, "p2", "synced")
        fams = validate_exposition(http(addr, "/metrics")[2])
        conn = {"sink": "woocommerce", "connection": "1"}
        self.assertEqual(value(fams, "catalogsync_pushes_total", outcome="synced", **conn), 2)
        self.assertEqual(value(fams, "catalogsync_events_consumed_total", sink="woocommerce"), 2)
        calls = len(s.clients[0].requests())
        rd = "catalogsync_channel_request_duration_seconds"
        self.assertEqual(value(fams, rd, rd + "_count", **conn), calls)
        self.assertEqual(http(addr, "/readyz")[0], 200)
        self.assertEqual(w.stop(), 0, w.log())

    def test_validator_is_strict(self):
        # The validator above must itself refuse what the format forbids.
        head = "# HELP catalogsync_a_total A.\n# TYPE catalogsync_a_total counter\n"
        hist = ("# HELP catalogsync_h H.\n# TYPE catalogsync_h histogram\n"
                'catalogsync_h_bucket{le="1"} %s\ncatalogsync_h_bucket{le="+Inf"} %s\n'
                "catalogsync_h_sum 1\ncatalogsync_h_count %s\n")
        validate_exposition(head + 'catalogsync_a_total{sink="a\\"b"} 1\n' + hist % (1, 2, 2))
        bad = {
            "no final newline": head + "catalogsync_a_total 1",
            "sample before TYPE": "catalogsync_a_total 1\n" + head,
            "family twice": head + "catalogsync_a_total 1\n" + head,
            "family declared again": head + hist % (1, 1, 1) + head,
            "family split": head + "catalogsync_a_total 1\n" + hist % (1, 1, 1) +
                            "catalogsync_a_total 2\n",
            "counter without _total": "# HELP catalogsync_a A.\n# TYPE catalogsync_a counter\n",
            "foreign prefix": "# HELP other_total O.\n# TYPE other_total counter\n",
            "bad escape": head + 'catalogsync_a_total{sink="a\\tb"} 1\n',
            "bad value": head + "catalogsync_a_total 1,5\n",
            "duplicate series": head + "catalogsync_a_total 1\ncatalogsync_a_total 2\n",
            "product label": head + 'catalogsync_a_total{product_id="p1"} 1\n',
            "not cumulative": hist % (3, 2, 2),
            "+Inf != count": hist % (1, 2, 3),
            "free comment": head + "# just a note\n",
            "empty line": head + "\ncatalogsync_a_total 1\n",
        }
        for why, text in bad.items():
            with self.subTest(why=why), self.assertRaises(AssertionError):
                validate_exposition(text)

    def conf(self, text=""):
        """A configuration file for start-up checks (nothing listens at the
        Kafka address: the worker stops before it would need it)."""
        tmp = tempfile.mkdtemp(prefix="cs-http-conf-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "w.conf")
        with open(path, "w") as f:
            f.write('kafka = { brokers = "127.0.0.1:1"; };\n'
                    'meta = { catalogs = ( { id = "main"; catalog_id = "1"; '
                    'token = "env:CS_META_TOKEN"; } ); };\n' + text)
        return path

    def worker(self, conf, *args, env=None):
        e = {"CS_META_TOKEN": TOKEN}
        e.update(env or {})
        return run([program("catalogsync-worker"), "--sink", "meta", "--config", conf] +
                   list(args), env=e, timeout=60)

    def test_bad_listen_address_is_a_config_error(self):
        cases = [
            ("", ["--http-listen", "nonsense"], None,
             '--http-listen: "nonsense": the port must be a number from 0 to 65535'),
            ('worker = { http_listen = "127.0.0.1:99999"; };\n', [], None,
             'worker.http_listen: "127.0.0.1:99999": the port must be a number'),
            ("", [], {"CATALOGSYNC_WORKER_HTTP_LISTEN": "example.com:9464"},
             'worker.http_listen: "example.com:9464": the host must be an IP address'),
            ("", ["--check-config", "--http-listen", "::1:9464"], None,
             '--http-listen: "::1:9464": write an IPv6 address in brackets'),
        ]
        for text, args, env, want in cases:
            with self.subTest(want=want):
                r = self.worker(self.conf(text), *args, env=env)
                self.assertEqual(r.returncode, 78, r.stderr)
                self.assertIn("catalogsync-worker: " + want, r.stderr)
                self.assertNotIn("worker started", r.stderr)
                self.assertEqual(r.stdout, "")

    def test_port_in_use_refuses_to_start(self):
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        addr = "127.0.0.1:%d" % busy.getsockname()[1]
        r = self.worker(self.conf(), env={"CATALOGSYNC_WORKER_HTTP_LISTEN": addr})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot start: listen %s: Address already in use" % addr, r.stderr)
        self.assertNotIn("worker started", r.stderr)

if __name__ == "__main__":
    unittest.main()
