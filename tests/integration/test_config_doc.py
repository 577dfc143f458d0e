"""docs/CONFIGURATION.md documents every configuration key of
common/cs_config.c's tables, with the defaults the programs really use and the
right environment override; docs/OPERATIONS.md explains every metric the
workers and catalogsync-admin export and has the runbooks; the README has the
Deploying section."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import ROOT, program, run

DOCS = os.path.join(ROOT, "docs")
ROW = re.compile(r"^\| `([a-z_.\[\]]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| (.+) \|$", re.M)

# Minimal entries: the required keys of a catalog and a store.
MIN_CONF = """
meta = { catalogs = ( { id = "main"; catalog_id = "1"; token = "env:X"; } ); };
woocommerce = { connections = ( { id = 1; base_url = "https://s.example";
                                  consumer_key = "env:K"; consumer_secret = "env:S"; } ); };
"""
REQUIRED = {"meta.catalogs[].id", "meta.catalogs[].catalog_id", "meta.catalogs[].token",
            "woocommerce.connections[].id", "woocommerce.connections[].base_url",
            "woocommerce.connections[].consumer_key", "woocommerce.connections[].consumer_secret"}


def read(path):
    with open(path) as f:
        return f.read()


def table(src, name):
    start = src.index("static const opt %s[]" % name)
    return src[start:src.index("};", start)]


def config_keys():
    """{dotted name: kind}, kind "flat", "props" or "list", from cs_config.c."""
    src = read(os.path.join(ROOT, "common", "cs_config.c"))
    keys = {}
    for sec, key, typ in re.findall(r'\bOL?\("(\w+)", "(\w+)", (T_\w+)', table(src, "opts")):
        keys["%s.%s" % (sec, key)] = "props" if typ == "T_KAFKA_PROPS" else "flat"
    for tname, prefix in (("catalog_opts", "meta.catalogs[]"),
                          ("store_opts", "woocommerce.connections[]")):
        for key in re.findall(r'(?:\b[CW]\(|\{NULL, )"(\w+)"', table(src, tname)):
            keys["%s.%s" % (prefix, key)] = "list"
    return keys


def effective_defaults():
    """{dotted name: printed value} from --check-config with no file values
    but the required ones."""
    tmp = tempfile.mkdtemp(prefix="cs-confdoc-")
    path = os.path.join(tmp, "min.conf")
    with open(path, "w") as f:
        f.write(MIN_CONF)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOGSYNC_")}
    r = subprocess.run([program("catalogsync-worker"), "--config", path, "--check-config"],
                       capture_output=True, text=True, env=env, timeout=60)
    os.unlink(path)
    os.rmdir(tmp)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    out, section, lst = {}, None, None
    for line in r.stdout.splitlines():
        m = re.match(r"^(\w+) = \{$", line)
        if m:
            section, lst = m.group(1), None
            continue
        m = re.match(r"^  (\w+) = \($", line)
        if m:
            lst = "%s.%s[]" % (section, m.group(1))
            continue
        m = re.match(r"^\s+(\w+) = (.*);$", line)
        if m:
            out["%s.%s" % (lst or section, m.group(1))] = m.group(2)
    return out


class ConfigurationDocTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = read(os.path.join(DOCS, "CONFIGURATION.md"))
        cls.rows = {m.group(1): [c.strip() for c in m.groups()[1:]]
                    for m in ROW.finditer(cls.doc)}
        cls.keys = config_keys()

    def test_tables_parsed(self):
        # A sanity floor, so a changed table layout cannot pass silently.
        self.assertGreater(len([k for k, v in self.keys.items() if v == "flat"]), 25)
        self.assertGreater(len([k for k, v in self.keys.items() if v == "list"]), 25)
        self.assertIn("meta.catalogs[].tenants", self.keys)
        self.assertIn("woocommerce.connections[].fields", self.keys)

    def test_every_key_documented(self):
        missing = sorted(set(self.keys) - set(self.rows))
        self.assertEqual(missing, [], "keys missing from docs/CONFIGURATION.md")
        stale = sorted(set(self.rows) - set(self.keys))
        self.assertEqual(stale, [], "documented keys that do not exist")

    def test_environment_column(self):
        for name, kind in self.keys.items():
            env = self.rows[name][2]
            with self.subTest(key=name):
                if kind == "flat":
                    self.assertEqual(env, "`CATALOGSYNC_%s`" % name.replace(".", "_").upper())
                elif kind == "props":
                    self.assertEqual(env, "`CATALOGSYNC_KAFKA_PROP_<NAME>`")
                else:
                    self.assertEqual(env, "file only")

    def test_defaults_match_the_programs(self):
        eff = effective_defaults()
        for name in self.keys:
            default = self.rows[name][1]
            with self.subTest(key=name):
                if name in REQUIRED:
                    self.assertEqual(default, "—")
                    self.assertIn("required", self.rows[name][0])
                    continue
                self.assertIn(name, eff)
                self.assertEqual(default, "`%s`" % eff[name])

    def test_every_example_is_accepted(self):
        """The example values, all set in one file, pass --check-config."""
        env = {"X": "t", "K": "k", "S": "s", "META_APP_SECRET": "a", "CS_ADMIN_TOKEN": "x" * 16,
               "KAFKA_PASSWORD": "p"}
        tmp = tempfile.mkdtemp(prefix="cs-confdoc-")
        self.addCleanup(shutil.rmtree, tmp, True)
        secret = os.path.join(tmp, "secret")
        with open(secret, "w") as f:
            f.write("v" * 16 + "\n")     # admin.token needs 16 bytes
        flat, entries = {}, {"meta.catalogs[]": [], "woocommerce.connections[]": []}
        for name, (_, _, _, example, _) in self.rows.items():
            value = re.sub(r"file:/run/secrets/\w+", "file:" + secret, example.strip("`"))
            value = value.replace("/etc/ssl/private-ca.pem", secret)
            head, _, key = name.rpartition(".")
            line = "%s = %s;" % (key, value)
            if head in entries:
                entries[head].append(line)
            else:
                flat.setdefault(head, []).append(line)
        text = "".join("%s = { %s };\n" % (sec, " ".join(lines)) for sec, lines in flat.items())
        for head, lines in entries.items():
            sec, lst = head[:-2].split(".")
            text += "%s = { %s = ( { %s } ); };\n" % (sec, lst, "\n  ".join(lines))
        path = os.path.join(tmp, "examples.conf")
        with open(path, "w") as f:
            f.write(text)
        r = run([program("catalogsync-worker"), "--config", path, "--check-config"], env=env)
        self.assertEqual(r.returncode, 0, "%s\n%s" % (text, r.stderr))
        for name in self.rows:
            key = name.rpartition(".")[2]
            self.assertRegex(r.stdout, r"\b%s = " % key)


class OperationsDocTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = read(os.path.join(DOCS, "OPERATIONS.md"))

    def test_every_metric_explained(self):
        names = set()
        for path in ("workers/worker_obs.c", "tools/admin.c"):
            names.update(re.findall(r'"(catalogsync_[a-z_]+)"', read(os.path.join(ROOT, path))))
        self.assertGreater(len(names), 15)
        for n in sorted(names):
            self.assertRegex(self.doc, r"\| `%s(\{[a-z,]+\})?` \| (counter|gauge|histogram) \|" % n,
                             "metric %s not in the tables of docs/OPERATIONS.md" % n)

    def test_topics_and_runbooks(self):
        for heading in ("## Sizing partitions", "## Scaling workers",
                        "## Redis: persistence and memory", "## Rotating tokens and keys",
                        "## Upgrading", "## Metrics and alerts", "## Runbooks",
                        "### Image URL not public", "### Missing SKU",
                        "### Missing or wrong catalog id", "### Invalid token"):
            self.assertIn(heading, self.doc)
        for cmd in ("ctl doctor", "ctl status", "reset --failed", "--scale meta-worker="):
            self.assertIn(cmd, self.doc)

    def test_readme_deploying_section(self):
        readme = read(os.path.join(ROOT, "README.md"))
        self.assertTrue("\n## Deploying\n" in readme, "README.md has no Deploying section")
        section = readme.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
        for text in ("docker-compose up -d", "--scale meta-worker=", "docker-compose logs",
                     "redis-cli", "docker-compose exec redis", "hooks/django", "hooks/nestjs",
                     "docs/OPERATIONS.md", "docs/CONFIGURATION.md"):
            self.assertTrue(text in section, "README Deploying does not mention %s" % text)


if __name__ == "__main__":
    unittest.main()
