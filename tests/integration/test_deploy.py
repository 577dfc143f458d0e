"""Deployment: docker-compose.yml, the configuration it mounts, deploy/Dockerfile
and scripts/build.sh, checked without a container engine.

- docker-compose.yml validates (`docker-compose config -q`) and its resolved
  form has the services, health checks, scaling, restart policies, mounts and
  secrets a production stack needs, with no secret written inline;
- deploy/compose/catalogsync.conf passes `--check-config` of both sinks'
  workers and of catalogsync-admin, with the compose environment applied and
  the Docker secrets replaced by files in a temp dir;
- deploy/Dockerfile is multi-stage on debian:12-slim, builds with
  scripts/build.sh, and its final stage runs as a non-root user with runtime
  packages only, covering every shared library the programs need;
- scripts/build.sh, run on a copy of exactly what the Dockerfile copies into
  its build stage, installs every program of the Makefile's PROGRAMS, and each
  installed program answers --help.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import ROOT, kafka_runtime, program, run

COMPOSE = os.path.join(ROOT, "docker-compose.yml")
DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")
STACK_CONF = os.path.join(ROOT, "deploy", "compose", "catalogsync.conf")
WORKERS = {"meta-worker": "meta", "woocommerce-worker": "woocommerce"}
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL")


def config_keys():
    """(section, key) of every flat option in common/cs_config.c's table."""
    with open(os.path.join(ROOT, "common", "cs_config.c")) as f:
        src = f.read()
    table = src[src.index("static const opt opts[]"):]
    table = table[:table.index("};")]
    return re.findall(r'\bOL?\("(\w+)", "(\w+)"', table)


def compose_config(extra_env=None):
    env = dict(os.environ)
    env.update(extra_env or {})
    r = subprocess.run(["docker-compose", "-f", COMPOSE, "config"], capture_output=True,
                       text=True, cwd=ROOT, env=env, timeout=120)
    if r.returncode != 0:
        raise AssertionError("docker-compose config failed:\n" + r.stderr)
    import yaml
    return yaml.safe_load(r.stdout)


def secret_refs(conf_text):
    """Every "file:/run/secrets/NAME" the configuration names, without comments."""
    text = "\n".join(line.split("#", 1)[0] for line in conf_text.splitlines())
    return re.findall(r'"file:/run/secrets/([\w.-]+)"', text)


def dockerfile_instructions(path):
    """[(instruction, argument text)], continuation lines joined, comments dropped."""
    out, cur = [], ""
    with open(path) as f:
        for line in f:
            s = line.rstrip("\n")
            if not cur and (not s.strip() or s.lstrip().startswith("#")):
                continue
            if s.lstrip().startswith("#"):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            word, _, rest = cur.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            cur = ""
    return out


def stages(instructions):
    """[{"from": image, "name": alias, "ins": [...]}] per FROM."""
    res = []
    for ins, arg in instructions:
        if ins == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", arg, re.I)
            res.append({"from": m.group(1), "name": m.group(2), "ins": []})
        elif res:
            res[-1]["ins"].append((ins, arg))
    return res


def apt_packages(stage):
    pkgs = []
    for ins, arg in stage["ins"]:
        if ins != "RUN":
            continue
        for cmd in re.split(r"&&|;", arg):
            words = cmd.split()
            if "apt-get" in words and "install" in words:
                pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def makefile_programs():
    with open(os.path.join(ROOT, "Makefile")) as f:
        text = f.read().replace("\\\n", " ")
    m = re.search(r"^PROGRAMS\s*:?=(.*)$", text, re.M)
    return [os.path.basename(w) for w in m.group(1).split()]


def clean_env():
    """The environment without make's variables (make sanitize passes SANITIZE
    down through MAKEFLAGS) and without BUILD: a build from scratch."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SANITIZE", "BUILD",
              "CFLAGS", "LDFLAGS"):
        env.pop(k, None)
    return env


class ComposeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cfg = compose_config()
        cls.services = cls.cfg["services"]
        with open(COMPOSE) as f:
            cls.raw = f.read()
        with open(STACK_CONF) as f:
            cls.conf_text = f.read()

    def test_config_is_valid(self):
        r = subprocess.run(["docker-compose", "-f", COMPOSE, "config", "-q"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "")

    def test_no_core_dumps_in_our_services(self):
        ours = [n for n, svc in self.services.items()
                if svc.get("image", "").startswith("catalogsync")]
        self.assertGreaterEqual(len(ours), 4, ours)
        for name in ours:
            with self.subTest(service=name):
                core = self.services[name].get("ulimits", {}).get("core")
                self.assertIn(core, (0, {"soft": 0, "hard": 0}), self.services[name])

    def test_services_present(self):
        for name in ("kafka", "kafka-topics", "redis", "meta-worker", "woocommerce-worker",
                     "admin", "ctl"):
            self.assertIn(name, self.services)

    def test_kafka_redis_topics_kept(self):
        kafka = self.services["kafka"]
        self.assertTrue(kafka["image"].startswith("apache/kafka:"))
        self.assertIn("controller", kafka["environment"]["KAFKA_PROCESS_ROLES"])
        self.assertIn("healthcheck", kafka)
        redis = self.services["redis"]
        cmd = redis["command"]
        self.assertEqual(cmd[cmd.index("--appendonly") + 1], "yes")
        self.assertEqual(cmd[cmd.index("--maxmemory-policy") + 1], "noeviction")
        self.assertTrue(any(v.endswith(":/data:rw") or v.endswith(":/data")
                            for v in redis["volumes"]), redis["volumes"])
        topics = self.services["kafka-topics"]
        self.assertEqual(topics.get("restart"), "no")
        script = " ".join(topics["command"])
        self.assertIn("catalog.product-events", script)
        self.assertIn("catalog.product-events.dlq", script)
        self.assertIn("--partitions", script)
        self.assertEqual(topics["environment"]["CATALOGSYNC_PARTITIONS"], "12")
        env = compose_config({"CATALOGSYNC_PARTITIONS": "24"})["services"]["kafka-topics"]
        self.assertEqual(env["environment"]["CATALOGSYNC_PARTITIONS"], "24")

    def test_compose_runs_the_kafka_the_tests_run(self):
        """The tests' broker (scripts/kafka/pom.xml, from Maven Central) and the
        compose images are one Kafka version; the topics take a record at
        events.max_bytes plus its framing, as the tests' topics do."""
        version = kafka_runtime.kafka_version()
        for name in ("kafka", "kafka-topics"):
            self.assertEqual(self.services[name]["image"], "apache/kafka:" + version, name)
        script = " ".join(self.services["kafka-topics"]["command"])
        limit = kafka_runtime.TOPIC_CONFIG["max.message.bytes"]
        self.assertIn("--config max.message.bytes=" + limit, script)
        self.assertGreater(int(limit), 1048576 + 4096)

    def test_workers_scale_and_check_health(self):
        for name, sink in WORKERS.items():
            svc = self.services[name]
            with self.subTest(service=name):
                self.assertEqual(svc["command"][:3], ["catalogsync-worker", "--sink", sink])
                # Scalable: no fixed name, no host ports, replicas set.
                self.assertNotIn("container_name", svc)
                self.assertNotIn("ports", svc)
                self.assertGreaterEqual(int(svc["deploy"]["replicas"]), 1)
                self.assertIn(svc["restart"], ("always", "unless-stopped", "on-failure"))
                # /healthz on the address the worker serves.
                listen = svc["environment"]["CATALOGSYNC_WORKER_HTTP_LISTEN"]
                self.assertEqual(listen, "0.0.0.0:9464")
                test = svc["healthcheck"]["test"]
                self.assertEqual(test[0], "CMD")
                self.assertIn("http://127.0.0.1:9464/healthz", test)
                for k in ("interval", "timeout", "retries", "start_period"):
                    self.assertIn(k, svc["healthcheck"])
                # Redis healthy and topics created before a worker starts.
                self.assertEqual(svc["depends_on"]["redis"]["condition"], "service_healthy")
                self.assertEqual(svc["depends_on"]["kafka-topics"]["condition"],
                                 "service_completed_successfully")
                # More grace than worker.shutdown_deadline_ms (10 s).
                self.assertGreater(int(svc["stop_grace_period"].rstrip("s")), 10)

    def test_admin_service(self):
        svc = self.services["admin"]
        self.assertEqual(svc["command"], ["catalogsync-admin"])
        self.assertEqual(svc["environment"]["CATALOGSYNC_ADMIN_LISTEN"], "0.0.0.0:8080")
        self.assertIn("http://127.0.0.1:8080/healthz", svc["healthcheck"]["test"])
        self.assertIn(svc["restart"], ("always", "unless-stopped", "on-failure"))
        # Published on the host's loopback only.
        for p in svc["ports"]:
            text = p if isinstance(p, str) else "%s:%s:%s" % (p.get("host_ip", ""),
                                                              p.get("published"),
                                                              p.get("target"))
            self.assertTrue(text.startswith("127.0.0.1:"), text)
        self.assertEqual(self.services["ctl"]["profiles"], ["tools"])

    def test_config_mounted_and_environment_overrides(self):
        keys = {"CATALOGSYNC_%s_%s" % (s.upper(), k.upper()) for s, k in config_keys()}
        for name in ("meta-worker", "woocommerce-worker", "admin", "ctl"):
            svc = self.services[name]
            with self.subTest(service=name):
                env = svc["environment"]
                target = env["CATALOGSYNC_CONFIG"]
                mounts = [v for v in svc["volumes"] if v.split(":")[1] == target]
                self.assertEqual(len(mounts), 1, svc["volumes"])
                src, _, mode = mounts[0].split(":")
                self.assertEqual(mode, "ro")
                self.assertEqual(os.path.realpath(src), os.path.realpath(STACK_CONF))
                for k in env:
                    # Every override names a real key (a typo would be ignored).
                    self.assertTrue(k == "CATALOGSYNC_CONFIG" or k in keys or
                                    k.startswith("CATALOGSYNC_KAFKA_PROP_"), k)
                self.assertEqual(env["CATALOGSYNC_KAFKA_BROKERS"], "kafka:9092")
                self.assertEqual(env["CATALOGSYNC_REDIS_HOST"], "redis")

    def test_secrets_mounted_never_inline(self):
        top = self.cfg["secrets"]
        for name, spec in top.items():
            self.assertIn("file", spec, name)
            self.assertIn(os.path.join("deploy", "compose", "secrets"), spec["file"])
        refs = secret_refs(self.conf_text)
        self.assertEqual(sorted(set(refs)),
                         ["admin_token", "meta_token", "woo1_key", "woo1_secret"])
        # Each service holds the secrets its part of the configuration reads.
        need = {"meta-worker": {"meta_token"}, "woocommerce-worker": {"woo1_key", "woo1_secret"},
                "admin": {"admin_token"}}
        for name, want in need.items():
            got = {s["source"] if isinstance(s, dict) else s
                   for s in self.services[name].get("secrets", [])}
            self.assertEqual(got, want, name)
            for s in got:
                self.assertIn(s, top)
        # No secret in any environment or command, nor in the config file.
        for name, svc in self.services.items():
            for k, v in (svc.get("environment") or {}).items():
                if any(w in k for w in SECRET_WORDS):
                    self.assertTrue(str(v).startswith(("env:", "file:")), "%s: %s" % (name, k))
        for key in ("token", "app_secret", "consumer_key", "consumer_secret", "password"):
            for m in re.finditer(r'^\s*%s\s*=\s*"([^"]*)"' % key, self.conf_text, re.M):
                self.assertTrue(m.group(1).startswith("file:/run/secrets/"), m.group(0))
        self.assertNotRegex(self.raw,
                            r"(?i)(token|secret|password)\s*[:=]\s*['\"]?[A-Za-z0-9]{12,}")

    def test_stack_config_checks(self):
        """--check-config of each program with the compose environment, the
        secrets as files in a temp dir."""
        tmp = tempfile.mkdtemp(prefix="cs-deploy-")
        self.addCleanup(shutil.rmtree, tmp, True)
        values = {}
        for name in self.cfg["secrets"]:
            values[name] = "s3cr3t-%s-value-7781" % name
            with open(os.path.join(tmp, name), "w") as f:
                f.write(values[name] + "\n")
        conf = os.path.join(tmp, "catalogsync.conf")
        with open(conf, "w") as f:
            f.write(self.conf_text.replace("file:/run/secrets/", "file:%s/" % tmp))
        checks = [("meta-worker", [program("catalogsync-worker"), "--sink", "meta"]),
                  ("woocommerce-worker", [program("catalogsync-worker"), "--sink", "woocommerce"]),
                  ("admin", [program("catalogsync-admin")])]
        for name, cmd in checks:
            env = {k: str(v) for k, v in self.services[name]["environment"].items()}
            env["CATALOGSYNC_CONFIG"] = conf
            r = run(cmd + ["--config", conf, "--check-config"], env=env)
            with self.subTest(service=name):
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn('brokers = "kafka:9092"', r.stdout)
                self.assertIn('host = "redis"', r.stdout)
                for v in values.values():
                    self.assertNotIn(v, r.stdout + r.stderr)
                if name.endswith("worker"):
                    self.assertIn('http_listen = "0.0.0.0:9464"', r.stdout)
                else:
                    self.assertIn('listen = "0.0.0.0:8080"', r.stdout)
        # A missing secret file is a configuration error naming the secret.
        os.unlink(os.path.join(tmp, "meta_token"))
        r = run([program("catalogsync-worker"), "--sink", "meta", "--config", conf,
                 "--check-config"])
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("meta_token", r.stderr)


def build_like_the_image(build_stage, tmp):
    """Copies what the build stage COPYs into tmp/src and runs its
    scripts/build.sh command there with DESTDIR tmp/out (a clean build, as
    in the image, whatever build the test suite itself runs on)."""
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    build_cmd = None
    for ins, arg in build_stage["ins"]:
        if ins == "COPY":
            parts = arg.split()
            assert not parts[0].startswith("--"), arg
            dest = parts[-1]
            for s in parts[:-1]:
                to = os.path.join(src, dest.rstrip("/"))
                if dest.endswith("/") and not s.endswith("/"):
                    to = os.path.join(to, os.path.basename(s))
                elif dest in ("./", "."):
                    to = os.path.join(src, os.path.basename(s.rstrip("/")))
                s_path = os.path.join(ROOT, s.rstrip("/"))
                os.makedirs(os.path.dirname(to), exist_ok=True)
                if os.path.isdir(s_path):
                    shutil.copytree(s_path, to, dirs_exist_ok=True)
                else:
                    shutil.copy2(s_path, to)
        elif ins == "RUN" and arg.startswith("scripts/build.sh"):
            build_cmd = arg.split()
    assert build_cmd, "the build stage does not run scripts/build.sh"
    dest = os.path.join(tmp, "out")
    args = build_cmd[1:]
    args[args.index("--destdir") + 1] = dest
    prefix = args[args.index("--prefix") + 1]
    r = subprocess.run([os.path.join(src, "scripts", "build.sh")] + args + ["--jobs", "2"],
                       cwd=src, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=clean_env(), timeout=600)
    return {"rc": r.returncode, "out": r.stdout, "root": dest + prefix,
            "bindir": dest + prefix + "/bin"}


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = stages(dockerfile_instructions(DOCKERFILE))
        cls.tmp = tempfile.mkdtemp(prefix="cs-build-")
        try:
            cls.build = build_like_the_image(cls.stages[0], cls.tmp)
        except BaseException:
            shutil.rmtree(cls.tmp, True)
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def test_multi_stage_on_debian_12_slim(self):
        self.assertGreaterEqual(len(self.stages), 2)
        for st in self.stages:
            self.assertIn(st["from"], ("debian:12-slim", "debian:bookworm-slim"))
        self.assertTrue(self.stages[0]["name"])
        final = self.stages[-1]
        copies = [a for i, a in final["ins"] if i == "COPY"]
        self.assertTrue(any(a.startswith("--from=%s " % self.stages[0]["name"]) for a in copies),
                        copies)

    def test_build_stage_uses_build_script(self):
        runs = [a for i, a in self.stages[0]["ins"] if i == "RUN"]
        self.assertTrue(any(a.startswith("scripts/build.sh") for a in runs), runs)
        pkgs = apt_packages(self.stages[0])
        for p in ("build-essential", "pkg-config", "librdkafka-dev", "libmicrohttpd-dev"):
            self.assertIn(p, pkgs)

    def test_final_stage_non_root_runtime_only(self):
        final = self.stages[-1]
        users = [a for i, a in final["ins"] if i == "USER"]
        self.assertTrue(users, "no USER in the final stage")
        user = users[-1].split(":")[0]
        self.assertNotIn(user, ("root", "0"))
        pkgs = apt_packages(final)
        self.assertTrue(pkgs)
        for p in pkgs:
            self.assertFalse(p.endswith("-dev") or p in ("build-essential", "gcc", "make",
                                                          "pkg-config", "cc"), p)
        # Every shared library the installed programs link is in a listed package.
        self.assertEqual(self.build["rc"], 0, self.build["out"][-3000:])
        needed = set()
        for name in makefile_programs():
            out = subprocess.run(["objdump", "-p", os.path.join(self.build["bindir"], name)],
                                 capture_output=True, text=True, check=True).stdout
            needed.update(re.findall(r"^\s*NEEDED\s+(\S+)", out, re.M))
        ldconf = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        for lib in sorted(needed):
            m = re.search(r"^\s*%s \(.*\) => (\S+)$" % re.escape(lib), ldconf, re.M)
            self.assertTrue(m, lib)
            path = os.path.realpath(m.group(1))
            owners = []
            for cand in (path, re.sub(r"^/usr/lib/", "/lib/", path)):
                r = subprocess.run(["dpkg-query", "-S", cand], capture_output=True, text=True)
                if r.returncode == 0:
                    owners = [o.strip().split(":")[0] for o in r.stdout.split(":")[0].split(",")]
                    break
            self.assertTrue(owners, "no package owns %s" % path)
            if owners[0] == "libc6":
                continue            # in the base image
            self.assertTrue(set(owners) & set(pkgs), "%s (%s) not installed by the final stage %s"
                            % (lib, owners, pkgs))
        for p in pkgs:      # real Debian 12 package names (installed here, or known to apt)
            if subprocess.run(["dpkg-query", "-W", p], capture_output=True).returncode == 0:
                continue
            r = subprocess.run(["apt-cache", "show", "--no-all-versions", p], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, "no Debian 12 package %s" % p)

    def test_final_stage_turns_core_dumps_off(self):
        """The entrypoint sets the core limit to 0 before it execs the
        command (a core would hold the tokens the programs read)."""
        final = self.stages[-1]
        eps = [a for i, a in final["ins"] if i == "ENTRYPOINT"]
        self.assertTrue(eps, "no ENTRYPOINT in the final stage")
        import json
        ep = json.loads(eps[-1])
        self.assertEqual(ep[:2], ["/bin/sh", "-c"])
        self.assertRegex(ep[2], r"^ulimit -c 0 && exec \"\$@\"$")

    def test_image_binaries_are_hardened(self):
        """The image's programs (built by its build stage) have PIE, full
        RELRO, stack canaries and _FORTIFY_SOURCE (test_hardening.py)."""
        from test_hardening import hardening_problems
        self.assertEqual(self.build["rc"], 0, self.build["out"][-3000:])
        for name in makefile_programs():
            with self.subTest(program=name):
                self.assertEqual(hardening_problems(os.path.join(self.build["bindir"], name)), [])

    def test_build_script_in_a_copy_of_the_build_context(self):
        """scripts/build.sh, run as the build stage runs it on a copy of what
        the build stage COPYs, installs every program; each answers --help."""
        b = self.build
        self.assertEqual(b["rc"], 0, b["out"][-3000:])
        self.assertIn("build: installed %d programs into %s"
                      % (len(makefile_programs()), b["bindir"]), b["out"])
        self.assertEqual(sorted(os.listdir(b["bindir"])), sorted(makefile_programs()))
        for name in makefile_programs():
            with self.subTest(program=name):
                h = subprocess.run([os.path.join(b["bindir"], name), "--help"],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(h.returncode, 0, h.stderr)
                self.assertIn("Usage:", h.stdout)
        self.assertTrue(os.path.exists(os.path.join(b["root"], "share", "doc", "catalogsync",
                                                    "catalogsync.conf.example")))

    def test_build_script_help(self):
        r = subprocess.run([os.path.join(ROOT, "scripts", "build.sh"), "--help"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--destdir", r.stdout)
        r = subprocess.run([os.path.join(ROOT, "scripts", "build.sh"), "--bogus"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 64)

    def test_dockerignore_keeps_secrets_and_builds_out(self):
        with open(os.path.join(ROOT, ".dockerignore")) as f:
            lines = {line.strip() for line in f if line.strip() and not line.startswith("#")}
        for p in ("build", "build-sanitize", ".git", "deploy/compose/secrets"):
            self.assertIn(p, lines)
        for ins, arg in self.stages[0]["ins"]:
            if ins == "COPY":
                for s in arg.split()[:-1]:
                    self.assertNotIn(s.rstrip("/"), lines)


if __name__ == "__main__":
    unittest.main()
