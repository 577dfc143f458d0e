"""The workers' Kafka consumer gets catalogsync's own prefetch bounds
(issue 17 item 7: queued.max.messages.kbytes and max.partition.fetch.bytes,
common/cs_kafka.c; docs/CONFIGURATION.md) unless kafka.properties sets them,
in which case the user's value wins; through the real program: its
--check-config, and the configuration librdkafka itself logs for the
consumer it builds (kafka.properties "debug=conf")."""
import os
import re
import shutil
import tempfile
import unittest

from harness import Proc, program, run, wait_until, worker_cmd

TOKEN = "EAAB-consumer-defaults-token-0001"
DEFAULTS = {"queued.max.messages.kbytes": "3072", "max.partition.fetch.bytes": "262144"}
# librdkafka logs max.partition.fetch.bytes by its other name.
LOGGED = {"queued.max.messages.kbytes": "queued.max.messages.kbytes",
          "max.partition.fetch.bytes": "fetch.message.max.bytes"}


def conf_text(props):
    return ('log = { level = "debug"; };\n'
            'kafka = { brokers = "127.0.0.1:1"; properties = [%s]; };\n'
            'redis = { port = 1; };\n'
            'meta = { catalogs = ( { id = "main"; catalog_id = "880011"; '
            'token = "env:CS_META_TOKEN"; } ); };\n'
            % ", ".join('"%s"' % p for p in props))


class ConsumerDefaultsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cs-consumer-defaults-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, name, props):
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write(conf_text(props))
        return path

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOGSYNC_KAFKA_PROP")}
        env["CS_META_TOKEN"] = TOKEN
        env.update(extra)
        return env

    def check_config(self, path, *extra, env=None):
        """{property: (value, origin)} from the worker's --check-config."""
        r = run([program("catalogsync-worker"), "--sink", "meta", "--config", path,
                 "--check-config"] + list(extra), env=env or self.env(), timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        found = {m.group(1): (m.group(2), m.group(3)) for m in
                 re.finditer(r"^#   ([a-z.]+)=(\d+) \(([^)]+)\)$", r.stdout, re.M)}
        self.assertEqual(sorted(found), sorted(DEFAULTS), r.stdout)
        return found

    def consumer_log(self, path):
        """The worker's log up to librdkafka's dump of the consumer's
        configuration (debug=conf): no broker or Redis is needed for that."""
        w = Proc("worker", worker_cmd("meta", path), env=self.env())
        self.addCleanup(w.stop)
        # The consumer's dump names group.id; the dead-letter producer's not.
        wait_until(lambda: re.search(r"CONF: .*group\.id = ", w.read_log()), timeout=60,
                   what="the consumer's configuration in the log")
        return w.read_log()

    def test_default_applied(self):
        path = self.write("default", [])
        self.assertEqual(self.check_config(path),
                         {k: (v, "catalogsync default") for k, v in DEFAULTS.items()})
        text = self.consumer_log(self.write("default-debug", ["debug=conf"]))
        for k, v in DEFAULTS.items():
            self.assertRegex(text, r"CONF: .*%s = %s\n" % (re.escape(LOGGED[k]), v))

    def test_kafka_properties_override(self):
        path = self.write("override", ["queued.max.messages.kbytes=65536"])
        self.assertEqual(self.check_config(path), {
            "queued.max.messages.kbytes": ("65536", "kafka.properties"),
            "max.partition.fetch.bytes": ("262144", "catalogsync default")})
        text = self.consumer_log(self.write("override-debug", [
            "queued.max.messages.kbytes=65536", "max.partition.fetch.bytes=1048576",
            "debug=conf"]))
        self.assertRegex(text, r"CONF: .*queued\.max\.messages\.kbytes = 65536\n")
        self.assertRegex(text, r"CONF: .*fetch\.message\.max\.bytes = 1048576\n")
        self.assertNotRegex(text, r"queued\.max\.messages\.kbytes = 3072\n")
        self.assertNotRegex(text, r"fetch\.message\.max\.bytes = 262144\n")
        # The other ways to give a property override it too.
        plain = self.write("plain", [])
        self.assertEqual(self.check_config(plain, "-X", "queued.max.messages.kbytes=16384")
                         ["queued.max.messages.kbytes"], ("16384", "kafka.properties"))
        self.assertEqual(self.check_config(plain, env=self.env(
            CATALOGSYNC_KAFKA_PROP_MAX_PARTITION_FETCH_BYTES="524288"))
            ["max.partition.fetch.bytes"], ("524288", "kafka.properties"))
        # ... and so does the property's other name.
        alias = self.write("alias", ["fetch.message.max.bytes=2097152"])
        self.assertEqual(self.check_config(alias)["max.partition.fetch.bytes"],
                         ("2097152", "kafka.properties"))

if __name__ == "__main__":
    unittest.main()
