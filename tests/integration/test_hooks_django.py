"""The Django producer hook (hooks/django) end to end: the example project
(hooks/django/example, its own settings: brokers, topic and mode from the
environment) with SQLite in a temp dir; product saves and deletes write
outbox rows in the product's transaction; `manage.py catalogsync_relay`
publishes them to the test's topic on the real Kafka broker (harness Broker,
whose CATALOGSYNC_KAFKA_TOPIC the settings read); a real `catalogsync-worker
--sink meta` pushes them into the fake Meta catalog.  Direct mode (publish on
commit, no outbox) too.

Twice: DjangoHookTest on Debian's /usr/bin/python3 with python3-django and
python3-confluent-kafka (scripts/deps.sh), DjangoLtsHookTest on the current
Django LTS and confluent-kafka from PyPI, in the venv hooks/django/setup-venv.sh
makes from the pins of hooks/django/requirements-lts.txt."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import zlib

from harness import PYTHON, ROOT, Broker, free_port, program, run, wait_until
from test_hooks_nestjs import check_idempotent
from test_meta_worker import MetaStack

HOOK = os.path.join(ROOT, "hooks", "django")
EXAMPLE = os.path.join(HOOK, "example")

# Saves, an update, a rolled-back transaction, an export request and a delete.
SCENARIO = r"""
from django.db import transaction
from shop.models import Product
from catalogsync_django.api import request_export
from catalogsync_django.models import OutboxEvent

mug = Product.objects.create(sku="MUG-BLUE", name="Blue mug", price="12.50", brand="Acme",
                             description="Stoneware, 350 ml.", stock=40)
pot = Product.objects.create(sku="POT-RED", name="Red teapot", price="1800", currency="JPY",
                             brand="Acme", stock=3)
gone = Product.objects.create(sku="GONE-1", name="Discontinued", price="4.25", currency="KWD",
                              brand="Acme")
mug.price = "11.90"
mug.name = "Blue mug (new glaze)"
mug.save()
try:
    with transaction.atomic():
        Product.objects.create(sku="NEVER", name="Rolled back", price="1.00", brand="Acme")
        raise RuntimeError("rollback")
except RuntimeError:
    pass
request_export(mug, connections=[1, 2], fields=["name", "sku", "price"])
gone_id = gone.pk
gone.delete()
print("IDS=" + json.dumps({"mug": mug.pk, "pot": pot.pk, "gone": gone_id}))
print("OUTBOX=" + json.dumps([[r.event_type, r.key, r.sent_at is None, r.event_id, r.topic]
                              for r in OutboxEvent.objects.order_by("id")]))
print("NEVER=%d" % Product.objects.filter(sku="NEVER").count())
"""


def kafka_partition(key, partitions):
    """librdkafka's default partitioner (consistent_random) for a keyed
    message: CRC-32 of the key modulo the partition count."""
    return zlib.crc32(key.encode()) % partitions


class DjangoHookTest(unittest.TestCase):
    """On Debian's python3-django and python3-confluent-kafka."""
    python = PYTHON

    def project(self, brokers, mode="outbox"):
        """The example project (exampleproject.settings) on a fresh SQLite
        database; the topic is the newest Broker scope's
        (CATALOGSYNC_KAFKA_TOPIC, inherited)."""
        tmp = tempfile.mkdtemp(prefix="cs-django-")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.env = dict(os.environ)
        self.env.update({
            "PYTHONPATH": os.pathsep.join([HOOK, EXAMPLE]),
            "DJANGO_SETTINGS_MODULE": "exampleproject.settings",
            "EXAMPLE_DB": os.path.join(tmp, "db.sqlite3"),
            "CATALOGSYNC_KAFKA_BROKERS": brokers,
            "CATALOGSYNC_HOOK_MODE": mode,
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        self.tmp = tmp
        r = self.django("migrate", "-v", "0")
        self.assertEqual(r.returncode, 0, r.stderr)

    def django(self, *args, timeout=120):
        return subprocess.run([self.python, "-m", "django"] + list(args), cwd=self.tmp,
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def shell(self, code):
        r = self.django("shell", "-c", "import json\n" + code)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            if k.isupper() and v:
                out[k] = json.loads(v)
        return out

    def check_messages(self, msgs, partitions):
        """Key, headers and value of every message follow contract v1."""
        values = []
        for m in msgs:
            ev = json.loads(m["value"])
            self.assertEqual(m["key"], "%s:%s" % (ev["tenant"], ev["product"]["id"]))
            self.assertEqual(m["headers"], {"type": ev["type"], "schema": "1",
                                            "event_id": ev["event_id"]})
            self.assertEqual(m["partition"], kafka_partition(m["key"], partitions), m)
            values.append(m["value"])
        r = run([program("catalogsync-publish"), "--dry-run"], input="\n".join(values) + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("%d valid" % len(values), r.stdout)
        return [json.loads(v) for v in values]

    def test_outbox_relay_to_meta_catalog(self):
        s = MetaStack(self, partitions=3)
        s.worker()
        self.project(s.broker.brokers)
        out = self.shell(SCENARIO)
        ids = out["IDS"]
        outbox = out["OUTBOX"]
        # 3 creates, 1 update, 1 export, 1 delete; the rolled-back product left nothing.
        self.assertEqual(out["NEVER"], 0)
        self.assertEqual([o[0] for o in outbox],
                         ["product.updated"] * 4 + ["product.export_requested", "product.deleted"])
        self.assertTrue(all(o[2] for o in outbox), "rows sent before the relay ran")
        # The example's settings took the topic from CATALOGSYNC_KAFKA_TOPIC.
        self.assertEqual({o[4] for o in outbox}, {s.broker.topic})
        self.assertEqual(s.broker.count(), 0)

        r = self.django("catalogsync_relay", "--once")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("relay: 6 sent, 0 failed, 0 pending", r.stdout)
        pending = self.shell("from catalogsync_django.models import OutboxEvent\n"
                             "print('PENDING=%d' % OutboxEvent.objects.filter("
                             "sent_at__isnull=True).count())")
        self.assertEqual(pending["PENDING"], 0)
        # The relay's producer is idempotent: the broker tracks its producer
        # id and one unbroken sequence per partition.
        check_idempotent(self, s.broker, s.broker.consume(count=6))

        # A C publisher's message with its key follows the same partitioner.
        s.publish([{"id": "c-1", "version": 1, "sku": "C-1", "name": "From C",
                    "price": {"amount": "1.00", "currency": "USD"}, "brand": "Acme",
                    "link": "https://shop.example/p/c-1"}], "--type", "updated")
        msgs = s.broker.consume(count=7)
        self.assertEqual(len(msgs), 7)
        evs = self.check_messages(msgs, 3)
        hook_evs = [e for e in evs if e["product"]["id"] != "c-1"]
        self.assertEqual(sorted(e["event_id"] for e in hook_evs), sorted(o[3] for o in outbox))
        export = [e for e in hook_evs if e["type"] == "product.export_requested"][0]
        self.assertEqual(export["export"], {"connections": [1, 2],
                                            "fields": ["name", "sku", "price"],
                                            "partial_update": False})
        deleted = [e for e in hook_evs if e["type"] == "product.deleted"][0]
        self.assertEqual(deleted["delete_mode"], "soft")
        self.assertEqual(set(deleted["product"]), {"id", "version", "sku"})
        self.assertGreater(deleted["product"]["version"],
                           max(e["product"]["version"] for e in hook_evs
                               if e["product"]["id"] == str(ids["gone"]) and e is not deleted))

        # The worker pushed them into the fake Meta catalog.
        s.wait_status(str(ids["mug"]), "synced")
        mug_version = str(max(e["product"]["version"] for e in hook_evs
                              if e["product"]["id"] == str(ids["mug"])
                              and e["type"] == "product.updated"))
        wait_until(lambda: s.state(str(ids["mug"])).get("synced_version") == mug_version,
                   timeout=30, what="mug's update synced")
        s.wait_status(str(ids["pot"]), "synced")
        wait_until(lambda: "GONE-1" not in s.items() and s.state(str(ids["gone"])) == {},
                   timeout=30, what="deleted product removed")
        items = s.items()
        self.assertEqual(items["MUG-BLUE"]["fields"]["title"], "Blue mug (new glaze)")
        self.assertEqual(items["MUG-BLUE"]["fields"]["price"], "11.90 USD")
        self.assertEqual(items["POT-RED"]["fields"]["price"], "1800 JPY")
        self.assertNotIn("NEVER", items)

        # Nothing pending: a second relay run sends nothing.
        r = self.django("catalogsync_relay", "--once")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("relay: done, 0 sent, 0 failed", r.stdout)

    def test_relay_keeps_rows_until_kafka_acknowledges(self):
        """No broker: every row stays pending with the error, exit status 2;
        once a broker answers they are sent."""
        b = Broker(self, partitions=2)          # the topic the rows name
        dead = "127.0.0.1:%d" % free_port()
        self.project(dead)
        self.shell('from shop.models import Product\n'
                   'Product.objects.create(sku="A-1", name="A", price="1.00", brand="Acme")\n'
                   'Product.objects.create(sku="B-1", name="B", price="2.00", brand="Acme")\n')
        r = self.django("catalogsync_relay", "--once", "--timeout", "2")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("relay: 0 sent, 2 failed, 2 pending", r.stdout)
        rows = self.shell("from catalogsync_django.models import OutboxEvent\n"
                          "print('ROWS=' + json.dumps([[r.sent_at is None, r.attempts, "
                          "r.last_error] for r in OutboxEvent.objects.all()]))")["ROWS"]
        self.assertEqual(len(rows), 2)
        for pending, attempts, err in rows:
            self.assertTrue(pending)
            self.assertEqual(attempts, 1)
            self.assertIn("timed out", err)

        self.env["CATALOGSYNC_KAFKA_BROKERS"] = b.brokers
        r = self.django("catalogsync_relay", "--once")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("relay: 2 sent, 0 failed, 0 pending", r.stdout)
        self.check_messages(b.consume(count=2), 2)

    def test_direct_mode_publishes_on_commit(self):
        s = MetaStack(self, partitions=2)
        s.worker()
        self.project(s.broker.brokers, mode="direct")
        out = self.shell(
            'from django.db import transaction\n'
            'from shop.models import Product\n'
            'from catalogsync_django.models import OutboxEvent\n'
            'from catalogsync_django.publisher import get_publisher\n'
            'with transaction.atomic():\n'
            '    p = Product.objects.create(sku="DIRECT-1", name="Direct", price="5.00",'
            ' brand="Acme")\n'
            'try:\n'
            '    with transaction.atomic():\n'
            '        Product.objects.create(sku="DIRECT-X", name="Rolled back", price="1.00")\n'
            '        raise RuntimeError\n'
            'except RuntimeError:\n'
            '    pass\n'
            'left = get_publisher().flush(30)\n'
            'print("ID=%d" % p.pk)\n'
            'print("LEFT=%d" % left)\n'
            'print("OUTBOX=%d" % OutboxEvent.objects.count())\n')
        self.assertEqual(out["LEFT"], 0)
        self.assertEqual(out["OUTBOX"], 0)
        msgs = s.broker.consume(count=1)
        self.check_messages(msgs, 2)
        self.assertEqual(s.broker.count(), 1)         # the rolled-back save sent nothing
        s.wait_status(str(out["ID"]), "synced")
        self.assertEqual(s.items()["DIRECT-1"]["fields"]["title"], "Direct")

    def test_events_module_follows_the_contract(self):
        """hooks/django's validator agrees with catalogsync-publish on good
        and bad events."""
        code = r"""
import json, sys
sys.path.insert(0, %r)
from decimal import Decimal
from catalogsync_django import events
good = events.build_event("updated", {"id": "1", "version": 1, "sku": "S",
        "price": events.money(Decimal("189.990"), "USD"),
        "attributes": [{"name": "COLOR", "value": None}]}, tenant="acme", actor="user:1",
        changed_fields=["price"])
bad = []
for mutate in ("price_number", "tenant_colon", "no_version", "export_on_update", "bad_currency"):
    ev = json.loads(json.dumps(good))
    if mutate == "price_number": ev["product"]["price"]["amount"] = 12.5
    if mutate == "tenant_colon": ev["tenant"] = "a:b"
    if mutate == "no_version": del ev["product"]["version"]
    if mutate == "export_on_update": ev["export"] = {"connections": [1]}
    if mutate == "bad_currency": ev["product"]["price"]["currency"] = "usd"
    try:
        events.validate_event(ev)
        bad.append([mutate, None, json.dumps(ev)])
    except events.EventError as e:
        bad.append([mutate, str(e), json.dumps(ev)])
try:
    events.money(12.5, "USD")
    floats = "accepted"
except events.EventError:
    floats = "refused"
print(json.dumps({"good": good, "key": events.key(good), "bad": bad, "floats": floats}))
""" % HOOK
        r = subprocess.run([self.python, "-c", code], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        res = json.loads(r.stdout)
        self.assertEqual(res["key"], "acme:1")
        self.assertEqual(res["good"]["product"]["price"], {"amount": "189.990", "currency": "USD"})
        self.assertEqual(res["floats"], "refused")
        d = run([program("catalogsync-publish"), "--dry-run"], input=json.dumps(res["good"]))
        self.assertEqual(d.returncode, 0, d.stderr)
        for name, err, ev in res["bad"]:
            with self.subTest(case=name):
                self.assertIsNotNone(err, "the hook accepted %s" % name)
                d = run([program("catalogsync-publish"), "--dry-run"], input=ev)
                self.assertEqual(d.returncode, 1, "catalogsync-publish accepted %s" % name)
                self.assertIn(err.split(":")[0], d.stderr)

    def expected_django(self):
        """Debian's python3-django: its upstream version from dpkg."""
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3-django"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return re.match(r"(?:\d+:)?([0-9.]+)", r.stdout).group(1), "/usr/lib/python3/dist-packages/"

    def test_runs_on_the_expected_django(self):
        """The interpreter has the Django this class is about, and the hook's
        and the example's migrations match their models there."""
        version, where = self.expected_django()
        r = subprocess.run([self.python, "-c", "import django, confluent_kafka, json; print("
                            "json.dumps([django.get_version(), django.__file__, "
                            "confluent_kafka.__file__]))"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        got, django_file, kafka_file = json.loads(r.stdout)
        self.assertEqual(got, version)
        self.assertTrue(django_file.startswith(where), django_file)
        self.assertTrue(kafka_file.startswith(where), kafka_file)
        self.project("127.0.0.1:%d" % free_port())
        r = self.django("makemigrations", "--check", "--dry-run", "catalogsync_django", "shop")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class DjangoLtsHookTest(DjangoHookTest):
    """The same tests on the current Django LTS from PyPI (the venv of
    hooks/django/setup-venv.sh, pinned by hooks/django/requirements-lts.txt)."""

    @classmethod
    def setUpClass(cls):
        r = subprocess.run([os.path.join(HOOK, "setup-venv.sh")], capture_output=True,
                           text=True, timeout=900)
        if r.returncode != 0:
            raise AssertionError("hooks/django/setup-venv.sh failed (%d):\n%s\n%s"
                                 % (r.returncode, r.stdout, r.stderr))
        cls.python = r.stdout.strip().splitlines()[-1].split("=", 1)[1]

    def expected_django(self):
        with open(os.path.join(HOOK, "requirements-lts.txt")) as f:
            version = re.search(r"^Django==(\S+)", f.read(), re.M).group(1)
        self.assertRegex(version, r"^\d+\.2\.\d+$")    # an LTS: every X.2 release is one
        return version, os.path.dirname(os.path.dirname(self.python)) + "/"


if __name__ == "__main__":
    unittest.main()
