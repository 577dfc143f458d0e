"""Bad input end to end: malformed events reach the dead-letter topic with a
reason naming the field and the problem, duplicates are pushed once, and
broken configuration files stop the worker with exit status 78.

Malformed events are produced with kcat straight into the events topic
(catalogsync-publish would refuse them); valid events go through
catalogsync-publish before, between and after them."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import program, run, wait_until
from test_meta_worker import TOKEN, MetaStack, product

CAP = 1048576


def event(pid="bad", version=1, event_id=None, type_="product.updated", **product_fields):
    """A full v1 event as a dict; product_fields override the snapshot."""
    p = {"id": pid, "version": version, "sku": "SKU-%s" % pid, "name": "Bad %s" % pid,
         "price": {"amount": "10.00", "currency": "USD"}, "stock_quantity": 1,
         "is_active": True, "link": "https://shop.example/p/%s" % pid,
         "brand": "Acme", "description": "A product"}
    p.update(product_fields)
    return {"schema": 1, "event_id": event_id or "ev-%s-%s" % (pid, version), "type": type_,
            "tenant": "default", "occurred_at": "2026-11-21T10:00:00Z", "product": p}


def enc(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def without(d, *path):
    """A deep copy of d with the key at path removed."""
    d = json.loads(json.dumps(d))
    cur = d
    for k in path[:-1]:
        cur = cur[k]
    del cur[path[-1]]
    return d


def kcat_lines(test, broker, pairs, null=False):
    """Produces (key, payload) pairs in one kcat call, one message per line
    (key and value separated by a tab). Payloads must hold no newline or
    tab byte; an empty payload is sent as an empty message, or as a NULL
    value (a tombstone) with null=True."""
    data = b""
    for key, payload in pairs:
        assert b"\n" not in payload and b"\t" not in payload, key
        data += key.encode() + b"\t" + payload + b"\n"
    cmd = ["kcat", "-P", "-b", broker.brokers, "-t", broker.topic, "-K", "\t"] + (["-Z"] if null else [])
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
    test.assertEqual(r.returncode, 0, r.stderr)


def kcat_file(test, broker, key, payload, tmpdir, extra=()):
    """Produces one binary payload through a file (kcat sends a file named
    on the command line as one message)."""
    path = os.path.join(tmpdir, "payload-%s.bin" % key.replace(":", "_"))
    with open(path, "wb") as f:
        f.write(payload)
    r = subprocess.run(["kcat", "-P", "-b", broker.brokers, "-t", broker.topic, "-k", key] + list(extra)
                       + [path], capture_output=True, timeout=60)
    test.assertEqual(r.returncode, 0, r.stderr)


def read_topic(brokers, topic, timeout_ms=15000):
    """Every message of topic with its payload as bytes ("value" is None for
    a NULL value). cs-test-consume writes payloads raw, so invalid UTF-8 is
    carried through surrogate escapes."""
    r = subprocess.run([program("cs-test-consume"), "-b", brokers, "-t", topic,
                        "-T", str(timeout_ms)], capture_output=True, timeout=timeout_ms / 1000 + 30)
    if r.returncode != 0:
        raise AssertionError("cs-test-consume failed (%d): %s" % (r.returncode, r.stderr))
    out = []
    for line in r.stdout.decode("utf-8", "surrogateescape").splitlines():
        if line.strip():
            m = json.loads(line)
            if m["value"] is not None:
                m["value"] = m["value"].encode("utf-8", "surrogateescape")
            out.append(m)
    return out


def count_topic(stack, topic):
    return stack.broker.count(topic, timeout_ms=15000)


def malformed_cases():
    """(name, payload bytes, error header, [reason substrings]); the key of
    each is default:bad-<name>."""
    ok = event("bad-ok")
    utf8 = enc(event("bad-utf8")).replace(b'"Bad bad-utf8"', b'"Bad \xc3\x28 name"')
    deep = (b'{"schema":1,"event_id":"ev-deep","type":"product.updated","occurred_at":'
            b'"2026-11-21T10:00:00Z","product":{"id":"bad-deep","version":1,"attributes":'
            + b"[" * 5000 + b"]" * 5000 + b"}}")
    truncated = enc(event("bad-trunc"))[:-9]
    return [
        ("utf8", utf8, "invalid_utf8",
         ["event: invalid UTF-8 at byte %d" % utf8.index(b"\xc3\x28")]),
        ("deep", deep, "malformed_json",
         ["event: malformed JSON at line 1 column", "maximum parsing depth reached"]),
        ("version-string", enc(event("bad-vs", version="3")), "invalid",
         ["product.version: must be an integer, got string"]),
        ("price-number", enc(event("bad-pn", price={"amount": 12.5, "currency": "USD"})),
         "invalid", ['product.price.amount: must be a decimal string such as "189.99", '
                     "got number with a fraction"]),
        ("stock-string", enc(event("bad-ss", stock_quantity="5")), "invalid",
         ["product.stock_quantity: must be an integer, got string"]),
        ("active-string", enc(event("bad-as", is_active="yes")), "invalid",
         ["product.is_active: must be a boolean, got string"]),
        ("unknown-type", enc(event("bad-ut", type_="product.renamed")), "invalid",
         ['type: unknown event type "product.renamed"']),
        ("missing-id", enc(without(ok, "product", "id")), "invalid", ["product.id: is missing"]),
        ("missing-version", enc(without(event("bad-mv"), "product", "version")), "invalid",
         ["product.version: is missing"]),
        ("missing-occurred", enc(without(event("bad-mo"), "occurred_at")), "invalid",
         ["occurred_at: is missing"]),
        ("negative-price", enc(event("bad-np", price={"amount": "-5.00", "currency": "USD"})),
         "invalid", ['product.price.amount: is negative ("-5.00")']),
        ("negative-version", enc(event("bad-nv", version=-1)), "invalid",
         ["product.version: must not be negative"]),
        ("exp-price", enc(event("bad-ep", price={"amount": "1e309", "currency": "USD"})),
         "invalid", ['product.price.amount: is not a decimal string ("1e309")']),
        ("overflow-number",
         enc(event("bad-on")).replace(b'"amount":"10.00"', b'"amount":1e309'),
         "malformed_json", ["event: malformed JSON", "real number overflow"]),
        ("twenty-digits",
         enc(event("bad-td", sale_price={"amount": "12345678901234567890", "currency": "USD"})),
         "invalid", ["product.sale_price.amount: is out of range "
                     "(at most 15 integer and 6 fraction digits)"]),
        ("huge-version", enc(event("bad-hv")).replace(b'"version":1', b'"version":'
                                                      + b"9" * 25),
         "malformed_json", ["event: malformed JSON", "too big integer"]),
        ("bad-currency", enc(event("bad-cu", price={"amount": "1.00", "currency": "usd"})),
         "invalid", ["product.price.currency: must be a three-letter upper-case ISO 4217 code"]),
        ("long-id", enc(event("x" * 256, event_id="ev-long-id")), "invalid",
         ["product.id: is 256 bytes, longer than 255"]),
        ("bad-date", enc(dict(event("bad-dt"), occurred_at="yesterday")), "invalid",
         ['occurred_at: is not an RFC 3339 date-time ("yesterday")']),
        ("schema-2", enc(dict(event("bad-s2"), schema=2)), "invalid",
         ["schema: unsupported version 2"]),
        ("duplicate-key", enc(event("bad-dk"))[:-1] + b',"schema":1}', "malformed_json",
         ["event: malformed JSON", "duplicate object key"]),
        ("array", enc([event("bad-arr")]), "invalid", ["event: must be a JSON object, got array"]),
        ("scalar", b'"product.updated"', "malformed_json",
         ["event: malformed JSON", "'[' or '{' expected"]),
        ("truncated", truncated, "malformed_json",
         ["event: malformed JSON at line 1 column %d" % len(truncated), "premature end of input"]),
    ]


class BadEventsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cs-bad-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def check_dead_letters(self, s, injected):
        """injected: {key: (payload or None, error, [reason substrings])}.
        Every one is in the DLQ exactly once, with its reason, error and the
        source coordinates of the original message, and nothing else is."""
        wait_until(lambda: count_topic(s, s.broker.dlq) >= len(injected), timeout=30,
                   what="%d dead letters" % len(injected))
        dlq = read_topic(s.broker.brokers, s.broker.dlq)
        self.assertEqual(sorted(m["key"] for m in dlq), sorted(injected),
                         "the DLQ holds exactly the injected messages")
        originals = {m["key"]: m for m in read_topic(s.broker.brokers, s.broker.topic)
                     if m["key"] in injected}
        for m in dlq:
            key = m["key"]
            payload, error, reasons = injected[key]
            h = m["headers"]
            with self.subTest(key=key):
                for want in reasons:
                    self.assertIn(want, h.get("reason", ""), "reason for %s" % key)
                self.assertEqual(h.get("error"), error, "error header for %s" % key)
                self.assertEqual(h.get("sink"), "meta")
                self.assertEqual(h.get("source_topic"), s.broker.topic)
                orig = originals[key]
                self.assertEqual(h.get("source_partition"), str(orig["partition"]))
                self.assertEqual(h.get("source_offset"), str(orig["offset"]))
                if h.get("truncated_from"):
                    # Over the size cap: the dead letter keeps the first 64 KiB
                    # and says how large the event was.
                    self.assertEqual(h["truncated_from"], str(len(payload)))
                    self.assertEqual(m["value"], payload[:65536])
                else:
                    self.assertEqual(m["value"], payload, "the DLQ keeps the original payload")
        return dlq

    def test_malformed_events_are_dead_lettered_and_valid_ones_sync(self):
        s = MetaStack(self)
        w = s.worker()
        cases = malformed_cases()
        half = len(cases) // 2
        injected = {}

        s.publish([product(1)], "--type", "updated")                       # before
        kcat_lines(self, s.broker, [("default:bad-" + n, p) for n, p, _, _ in cases[:half]])
        s.publish([product(2), product(1, version=2)], "--type", "updated")  # between
        kcat_lines(self, s.broker, [("default:bad-" + n, p) for n, p, _, _ in cases[half:]])
        kcat_lines(self, s.broker, [("default:bad-empty", b"")])
        s.publish([product(3), product(2, version=3)], "--type", "updated")  # after
        for n, p, e, r in cases:
            injected["default:bad-" + n] = (p, e, r)
        injected["default:bad-empty"] = (b"", "malformed_json",
                                         ["event: payload is empty"])

        for pid, version in (("p1", "2"), ("p2", "3"), ("p3", "1")):
            wait_until(lambda: s.state(pid).get("status") == "synced" and
                       s.state(pid).get("synced_version") == version, timeout=30,
                       what="%s synced at version %s (now %s)" % (pid, version, s.state(pid)))
        self.check_dead_letters(s, injected)

        # Nothing of the malformed events was pushed or recorded.
        self.assertEqual(sorted(s.items()), ["SKU-1", "SKU-2", "SKU-3"])
        for pid in ("bad-np", "bad-vs", "bad-pn", "bad-ep", "bad-td", "bad-ut", "bad-hv"):
            self.assertEqual(s.state(pid), {}, pid)
        self.assertEqual(s.redis.cli("SCARD", "catalogsync:{meta}:index:main"), "3")
        # One warning per dead letter, each naming the reason, and the worker lives on.
        log = w.log()
        self.assertEqual(log.count("dead-lettered event at %s[" % s.broker.topic),
                         len(injected), log[-3000:])
        self.assertIn("product.price.amount: is negative", log)
        self.assertNotIn("cannot queue dead letter", log)
        self.assertTrue(w.proc.alive())

    def test_null_payload_gets_a_clear_reason(self):
        # A tombstone (NULL value) is as malformed as an empty payload; its
        # reason should say so rather than report a JSON position.
        s = MetaStack(self)
        s.worker()
        kcat_lines(self, s.broker, [("default:bad-null", b"")], null=True)
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        wait_until(lambda: count_topic(s, s.broker.dlq) >= 1, timeout=20, what="the dead letter")
        [m] = read_topic(s.broker.brokers, s.broker.dlq)
        self.assertEqual(m["key"], "default:bad-null")
        self.assertIsNone(m["value"])
        reason = m["headers"]["reason"]
        self.assertTrue(reason.startswith("event: "), reason)
        self.assertNotIn("line -1", reason)
        self.assertNotIn("wrong arguments", reason)
        self.assertRegex(reason, "empty|null|no payload")

    def test_oversized_event_is_dead_lettered_and_one_at_the_cap_is_not(self):
        s = MetaStack(self)
        w = s.worker()

        def padded(ev, size):
            ev["padding"] = ""          # unknown top-level fields are ignored
            ev["padding"] = "x" * (size - len(enc(ev)))
            data = enc(ev)
            self.assertEqual(len(data), size)
            return data

        at_cap = padded(event("cap"), CAP)
        over = padded(event("over"), CAP + 1)
        # Under the cap but over librdkafka's default message.max.bytes (1,000,000).
        big_bad = padded(without(event("bigbad"), "product", "id"), 1020000)
        # kcat's own limit (1,000,000 bytes by default) is raised so all go out.
        big = ["-X", "message.max.bytes=4000000"]
        kcat_file(self, s.broker, "default:cap", at_cap, self.tmp, big)
        kcat_file(self, s.broker, "default:over", over, self.tmp, big)
        kcat_file(self, s.broker, "default:bigbad", big_bad, self.tmp, big)
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        st = s.wait_status("cap", "synced")             # exactly at the cap: accepted
        self.assertEqual(st["synced_version"], "1")
        self.assertEqual(s.state("over"), {})
        reason = "event: payload is %d bytes, over the %d-byte cap" % (CAP + 1, CAP)
        wait_until(lambda: w.log().count("dead-lettered event") >= 2, timeout=20,
                   what="two dead-letter warnings")
        self.assertIn(reason, w.log())
        try:
            reached = wait_until(lambda: count_topic(s, s.broker.dlq) >= 2, timeout=10)
        except AssertionError:
            reached = False
        if not reached:
            said = [line for line in w.log().splitlines() if "dead letter" in line]
            self.fail("%d of the 2 large malformed events reached %s; the worker said: %s"
                      % (count_topic(s, s.broker.dlq), s.broker.dlq, said))
        self.check_dead_letters(s, {
            "default:over": (over, "too_big", [reason]),
            "default:bigbad": (big_bad, "invalid", ["product.id: is missing"])})
        self.assertNotIn("cannot queue dead letter", w.log())

    def test_event_just_under_the_cap_is_published_and_synced(self):
        # events.max_bytes is 1 MiB: a valid 1,040,000-byte event must go through
        # catalogsync-publish and reach the worker.
        s = MetaStack(self)
        w = s.worker()
        ev = event("near", description="d" * 1040000)
        self.assertLess(len(enc(ev)), CAP)
        r = run([program("catalogsync-publish"), "-b", s.broker.brokers], input=json.dumps(ev))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("1 published", r.stdout)
        wait_until(lambda: s.state("near").get("version") == "1", timeout=20,
                   what="the worker to record the 1,040,000-byte event")
        self.assertNotIn("dead-lettered", w.log())

    def test_burst_of_200_malformed_then_valid_events_still_sync(self):
        s = MetaStack(self)
        w = s.worker()
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        kinds = [("np", lambda i: enc(event("burst-%d" % i,
                                            price={"amount": "-1", "currency": "USD"}))),
                 ("mi", lambda i: enc(without(event("burst-%d" % i), "product", "id"))),
                 ("tr", lambda i: enc(event("burst-%d" % i))[:-3]),
                 ("ut", lambda i: enc(event("burst-%d" % i)).replace(b"Bad", b"B\xffd"))]
        burst = [("default:burst-%d" % i, kinds[i % 4][1](i)) for i in range(200)]
        kcat_lines(self, s.broker, burst)
        s.publish([product(i) for i in range(2, 7)] + [product(1, version=2)], "--type", "updated")
        for i in range(2, 7):
            s.wait_status("p%d" % i, "synced", timeout=30)
        wait_until(lambda: s.state("p1").get("synced_version") == "2", what="p1 v2 synced")
        wait_until(lambda: count_topic(s, s.broker.dlq) >= 200, timeout=30, what="200 dead letters")
        dlq = read_topic(s.broker.brokers, s.broker.dlq)
        self.assertEqual(len(dlq), 200)
        self.assertEqual(len({m["key"] for m in dlq}), 200)
        by_kind = {}
        for m in dlq:
            i = int(m["key"].rsplit("-", 1)[1])
            by_kind.setdefault(kinds[i % 4][0], set()).add(m["headers"]["error"])
            self.assertTrue(m["headers"]["reason"])
        self.assertEqual(by_kind, {"np": {"invalid"}, "mi": {"invalid"},
                                   "tr": {"malformed_json"}, "ut": {"invalid_utf8"}})
        self.assertTrue(w.proc.alive())
        self.assertEqual(w.log().count("dead-lettered event at"), 200)
        self.assertEqual(len(s.items()), 6)
        # The worker still answers SIGTERM cleanly after the burst.
        self.assertEqual(w.stop(), 0)


class DuplicateEventsTest(unittest.TestCase):
    def test_same_event_twice_is_pushed_once(self):
        s = MetaStack(self)
        w = s.worker()
        ev = event("d1", version=5, event_id="dup-event-0001", sku="SKU-D1")
        line = json.dumps(ev)
        # The same full event twice in one input (one batch, most likely)...
        r = run([program("catalogsync-publish"), "-b", s.broker.brokers], input=line + "\n" + line + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 published", r.stdout)
        st = s.wait_status("d1", "synced")
        self.assertEqual(st["synced_version"], "5")
        # ...then again once it is synced, and the same version under a new event id.
        skipped = "product d1 version 5 for main not pushed now: already synced"
        s.publish([ev])
        w.wait_log(skipped)
        s.publish([dict(ev, event_id="dup-event-0002")])
        wait_until(lambda: w.log().count(skipped) >= 2, timeout=20,
                   what="the second redelivery skipped by the version gate")
        # An older version arriving late is skipped too.
        s.publish([dict(event("d1", version=4, sku="SKU-D1"), event_id="dup-event-0003")])
        wait_until(lambda: "product d1 version 4 for main not pushed now: superseded" in w.log(),
                   timeout=20, what="the stale version skipped")
        s.publish([product(9)], "--type", "updated")
        s.wait_status("p9", "synced")

        recs = [r for r in s.batch_records() if r["data"]["id"] == "SKU-D1"]
        self.assertEqual(len(recs), 1, recs)
        self.assertEqual(s.state("d1")["synced_version"], "5")
        self.assertEqual(s.state("d1")["attempts"], "1")
        self.assertEqual(count_topic(s, s.broker.dlq), 0)
        self.assertEqual(count_topic(s, s.broker.topic), 6)
        self.assertEqual(w.log().count("Successfully synced product 'Bad d1'"), 1)


class BadConfigTest(unittest.TestCase):
    BASE = ('kafka = { brokers = "127.0.0.1:1"; };\n'
            'redis = { port = 6379; };\n'
            'meta = { catalogs = ( { id = "main"; catalog_id = "880011"; '
            'token = "env:CS_META_TOKEN"; } ); };\n')

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cs-badconf-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def worker(self, name, text, *extra):
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write(text)
        r = run([program("catalogsync-worker"), "--sink", "meta", "--config", path] + list(extra),
                env={"CS_META_TOKEN": TOKEN}, timeout=30)
        return path, r

    def test_valid_config_passes_check(self):
        # The baseline the broken files below are variations of.
        path, r = self.worker("good", self.BASE, "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('catalog_id = "880011";', r.stdout)

    def test_broken_config_files_exit_78_with_a_clear_message(self):
        literal = "EAAB-literal-token-in-the-file-42"
        cases = [
            # name, text, expected message ({path} = the file), line given?
            ("unknown-key", 'log = { level = "info"; };\nkafka = {\n  brokers = "x:1";\n'
             '  bogus = 1;\n};\n', '{path}:4: unknown key "bogus" in section "kafka"'),
            ("unknown-section", 'log = { level = "info"; };\n\nmetaa = { };\n',
             '{path}:3: unknown section "metaa"'),
            ("unknown-catalog-key", self.BASE.replace('catalog_id = "880011";',
                                                      'catalog_id = "880011"; colour = "red";'),
             '{path}:3: unknown key "colour" in section "meta.catalogs[0]"'),
            ("wrong-type", 'log = { level = "info"; };\nredis = {\n  port = "6379";\n};\n',
             "{path}:3: redis.port must be an integer, got a string"),
            ("wrong-type-bool", self.BASE.replace('token =', 'include_images = "yes"; token ='),
             "{path}:3: meta.catalogs[0].include_images must be true or false, got a string"),
            ("bad-enum", 'log = {\n  level = "verbose";\n};\n',
             '{path}:2: log.level must be one of error, warn, info, debug, got "verbose"'),
            ("out-of-range", 'redis = { port = 70000; };\n',
             '{path}:1: redis.port must be an integer from 1 to 65535, got "70000"'),
            ("syntax-error", 'log = { level = "info"; };\nredis = { port = 6379 \n};\n'
             'worker = { linger_ms = ; };\n', "{path}:4: syntax error"),
            ("literal-token", self.BASE.replace('"env:CS_META_TOKEN"', '"%s"' % literal),
             '{path}:3: meta.catalogs[0].token is a secret: write "env:VARIABLE" or '
             '"file:/path", not the value itself'),
            ("literal-redis-password", 'redis = {\n  password = "%s";\n};\n' % literal,
             '{path}:2: redis.password is a secret: write "env:VARIABLE" or "file:/path"'),
            ("missing-catalog-id", self.BASE.replace('catalog_id = "880011"; ', ''),
             "meta.catalogs[0] (main): catalog_id is required"),
            ("duplicate-catalog-ids", self.BASE.replace(
                '} ); };', '}, { id = "main"; catalog_id = "2"; token = "env:CS_META_TOKEN"; '
                '} ); };'), 'meta.catalogs: id "main" is used twice'),
            ("unset-env-secret", self.BASE.replace("env:CS_META_TOKEN", "env:CS_NOT_SET_ANYWHERE"),
             "meta.catalogs[0].token: environment variable CS_NOT_SET_ANYWHERE is not set"),
            ("missing-secret-file", self.BASE.replace(
                "env:CS_META_TOKEN", "file:/nonexistent/cs-token"),
             "meta.catalogs[0].token: cannot read secret file /nonexistent/cs-token"),
            ("woo-basic-over-http", self.BASE + 'woocommerce = { connections = ( { id = 1; '
             'base_url = "http://shop.example"; consumer_key = "env:CS_META_TOKEN"; '
             'consumer_secret = "env:CS_META_TOKEN"; } ); };\n',
             'woocommerce.connections[0] (1): auth "basic" over plain http:// is refused'),
            ("woo-query-over-http", self.BASE + 'woocommerce = { connections = ( { id = 1; '
             'base_url = "http://shop.example"; auth = "query"; consumer_key = "env:CS_META_TOKEN"; '
             'consumer_secret = "env:CS_META_TOKEN"; } ); };\n',
             'woocommerce.connections[0] (1): auth "query" over plain http:// is refused'),
        ]
        for name, text, want in cases:
            with self.subTest(case=name):
                path, r = self.worker(name, text)
                self.assertEqual(r.returncode, 78, "%s: %s" % (name, r.stderr))
                self.assertIn("catalogsync-worker: " + want.format(path=path), r.stderr)
                self.assertNotIn("worker started", r.stderr)
                self.assertNotIn(literal, r.stderr + r.stdout)
                self.assertNotIn(TOKEN, r.stderr + r.stdout)
                # --check-config refuses the same file the same way.
                _, c = self.worker(name, text, "--check-config")
                self.assertEqual(c.returncode, 78, c.stderr)
                self.assertEqual(c.stdout, "")

    def test_meta_over_plain_http_is_refused_unless_loopback(self):
        # The refusal is the configuration check's: no program starts and no
        # request is made, so these hosts are never contacted.
        refused = ["http://graph.example.com", "http://10.0.0.5:8080", "http://[fd00::1]:80",
                   "http://127.0.0.1.evil.example", "http://localhost.evil.example/x",
                   "http://127.0.0.1@graph.example.com/", "http://0x7f000001:1"]
        for url in refused:
            with self.subTest(url=url):
                text = self.BASE.replace('id = "main";', 'id = "main"; base_url = "%s";' % url)
                name = "http-%d" % refused.index(url)
                # --check-config first: a build without the check never
                # gets to start a worker (and push) against that host.
                for extra in (["--check-config"], []):
                    path, r = self.worker(name, text, *extra)
                    self.assertEqual(r.returncode, 78, "%s: %s" % (url, r.stderr))
                    self.assertIn("catalogsync-worker: meta.catalogs[0].base_url (main): plain "
                                  "http:// is refused", r.stderr)
                    self.assertNotIn("worker started", r.stderr)
                for prog in ("catalogsync-publish", "catalogsyncctl"):
                    c = run([program(prog), "--config", path] +
                            (["status"] if prog == "catalogsyncctl" else ["--check-config"]),
                            env={"CS_META_TOKEN": TOKEN}, timeout=30)
                    self.assertEqual(c.returncode, 78, "%s %s: %s" % (prog, url, c.stderr))
                    self.assertIn("meta.catalogs[0].base_url", c.stderr)
        # To this machine the token stays on it: accepted (the tests' fakes).
        for url in ("http://127.0.0.1:1", "http://127.3.2.1:1/", "http://[::1]:1",
                    "http://localhost:1", "https://graph.example.com"):
            with self.subTest(url=url):
                text = self.BASE.replace('id = "main";', 'id = "main"; base_url = "%s";' % url)
                _, r = self.worker("ok", text, "--check-config")
                self.assertEqual(r.returncode, 0, "%s: %s" % (url, r.stderr))


if __name__ == "__main__":
    unittest.main()


def set_topic_config(brokers, topic, key, value):
    """Sets the topic's one non-default config on the real broker (AlterConfigs
    replaces the whole set; the harness creates topics with just one)."""
    from confluent_kafka.admin import AdminClient, ConfigResource
    admin = AdminClient({"bootstrap.servers": brokers, "log_level": 3})
    res = ConfigResource("topic", topic, set_config={key: value})
    for fut in admin.alter_configs([res]).values():
        fut.result(30)


def committed_total(brokers, group, topic, partitions):
    """The sum of the group's committed offsets over topic's partitions
    (a partition without a commit counts 0)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": brokers, "group.id": group, "log_level": 3,
                  "enable.auto.commit": False})
    try:
        parts = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in parts)
    finally:
        c.close()


class DeadLetterFailureTest(unittest.TestCase):
    """A dead-letter delivery that fails once holds back that batch's commit
    (it is read and dead-lettered again) but no later batch's."""

    @unittest.skipIf(os.environ.get("CS_TEST_KAFKA") == "dev", "needs the real broker's configs")
    def test_one_failed_dead_letter_does_not_block_later_commits(self):
        s = MetaStack(self, partitions=1)
        w = s.worker()
        group = "catalogsync-meta" + s.broker.group_suffix
        s.publish([product(1)], "--type", "updated")
        s.wait_status("p1", "synced")
        # The DLQ refuses every record (larger than its max.message.bytes).
        set_topic_config(s.broker.brokers, s.broker.dlq, "max.message.bytes", "16")
        kcat_lines(self, s.broker, [("default:bad-first", b'{"schema":1}')])
        w.wait_log("dead-letter delivery failed", timeout=60)
        self.assertEqual(committed_total(s.broker.brokers, group, s.broker.topic, 1), 1,
                         "nothing past the refused dead letter may be committed")
        set_topic_config(s.broker.brokers, s.broker.dlq, "max.message.bytes",
                         str(2 * 1024 * 1024))
        wait_until(lambda: committed_total(s.broker.brokers, group, s.broker.topic, 1) == 2,
                   timeout=60, what="the first malformed event committed once the DLQ takes it")
        failures = w.log().count("dead-letter delivery failed")
        # A later batch with a malformed event: its dead letter is delivered,
        # so it is committed, and not dead-lettered again and again.
        kcat_lines(self, s.broker, [("default:bad-second", b'{"schema":1}')])
        s.publish([product(2)], "--type", "updated")
        s.wait_status("p2", "synced")
        wait_until(lambda: committed_total(s.broker.brokers, group, s.broker.topic, 1) == 4,
                   timeout=30, what="the later batch committed (log: %s)" % w.log()[-2000:])
        self.assertEqual(w.log().count("dead-letter delivery failed"), failures)
        keys = [m["key"] for m in read_topic(s.broker.brokers, s.broker.dlq)]
        self.assertEqual(keys.count("default:bad-second"), 1, keys)
        self.assertGreaterEqual(keys.count("default:bad-first"), 1, keys)


class VersionLimitTest(unittest.TestCase):
    """product.version is at most 2^53 - 1 (docs/EVENTS.md): Redis's Lua
    compares versions as doubles, which are exact only up to there."""

    def test_largest_version_syncs_exactly_and_the_next_is_dead_lettered(self):
        top = 2 ** 53 - 1
        s = MetaStack(self, partitions=1)
        w = s.worker()
        s.publish([product(1, version=top - 1)], "--type", "updated")
        st = s.wait_status("p1", "synced")
        self.assertEqual(st["synced_version"], str(top - 1))
        # The very next version is newer, not "already synced".
        s.publish([product(1, version=top, name="At the top")], "--type", "updated")
        st = wait_until(lambda: s.state("p1").get("synced_version") == str(top) and s.state("p1"),
                        what="p1 synced at 2^53 - 1 (now %s)" % s.state("p1"))
        self.assertEqual(st["version"], str(top))
        self.assertEqual(s.items()["SKU-1"]["fields"]["title"], "At the top")
        history = json.loads(s.redis.cli("LINDEX", "catalogsync:{meta}:history:main:default:p1",
                                         "0"))
        self.assertEqual(history["version"], top)
        self.assertEqual(history["outcome"], "synced")
        # 2^53 is refused: by the publisher, and by the worker (dead letter).
        r = run([program("catalogsync-publish"), "--dry-run", "--type", "updated"],
                input=json.dumps(product(1, version=top + 1)) + "\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("product.version: is 9007199254740992, above the largest version "
                      "9007199254740991 (2^53 - 1)", r.stdout + r.stderr)
        kcat_lines(self, s.broker, [("default:p1", enc(event("p1", version=top + 1)))])
        wait_until(lambda: count_topic(s, s.broker.dlq) >= 1, timeout=30, what="the dead letter")
        [m] = read_topic(s.broker.brokers, s.broker.dlq)
        self.assertEqual(m["headers"]["error"], "invalid")
        self.assertIn("product.version: is 9007199254740992, above the largest version",
                      m["headers"]["reason"])
        s.publish([product(2)], "--type", "updated")
        s.wait_status("p2", "synced")          # read past it
        self.assertEqual(s.state("p1")["version"], str(top))
        self.assertEqual(s.state("p1")["synced_version"], str(top))
        self.assertTrue(w.proc.alive())
