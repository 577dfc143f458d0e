"""Test harness: starts real peers on 127.0.0.1 and stops them by pid.

Every process started here is registered, stopped in the test's cleanup
(also when the test fails), and again at interpreter exit.  The pids are
also written to $CS_PIDFILE so that tests/run.sh can check that nothing
was left running.

Peers: redis-server (temp dir, free port, AOF on), Apache Kafka (one real
KRaft broker per test run, scripts/kafka.py; each Broker() is a test's own
topics and consumer groups on it), and the fake channel servers in
tests/fakes/.  CS_TEST_KAFKA=dev runs the tests on catalogsync-devbroker
(librdkafka's mock cluster, one per Broker()) instead.
"""
import atexit
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
BIN = os.path.join(BUILD, "bin")
FAKES = os.path.join(ROOT, "tests", "fakes")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
VALGRIND = os.environ.get("CS_VALGRIND") == "1"
# "real" (default): Apache Kafka from scripts/kafka.py; "dev": the devbroker.
KAFKA_KIND = os.environ.get("CS_TEST_KAFKA", "real")
EVENTS_TOPIC = "catalog.product-events"

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import kafka as kafka_runtime  # noqa: E402  (scripts/kafka.py)

_live = {}


def _record_pid(pid):
    path = os.environ.get("CS_PIDFILE")
    if path:
        with open(path, "a") as f:
            f.write("%d\n" % pid)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout=10.0, interval=0.02, what="condition"):
    """Polls cond() until it returns a true value; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def program(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        raise RuntimeError("%s is not built (run make)" % path)
    return path


def wrap(cmd):
    """Runs our C programs under valgrind memcheck when CS_VALGRIND=1."""
    if VALGRIND and cmd and cmd[0].startswith(BIN):
        return ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite", "--track-fds=no"] + cmd
    return cmd


class Proc:
    def __init__(self, name, cmd, env=None, cwd=None, ready_prefix=None, timeout=20.0):
        self.name = name
        self.cmd = cmd
        self.logpath = tempfile.mktemp(prefix="cs-%s-" % name, suffix=".log")
        self.log = open(self.logpath, "wb")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, env=full_env,
                                  cwd=cwd, start_new_session=True)
        _live[self.p.pid] = self
        _record_pid(self.p.pid)
        self.ready = None
        if ready_prefix:
            self.ready = self._read_ready(ready_prefix, timeout)

    def _read_ready(self, prefix, timeout):
        import select
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.p.stdout.fileno()
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    if line.startswith(prefix):
                        return line[len(prefix):].strip()
            elif self.p.poll() is not None:
                break
        self.stop()
        raise RuntimeError("%s did not print %s; log:\n%s" % (self.name, prefix, self.read_log()))

    def read_log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(5)
        _live.pop(self.p.pid, None)
        if self.p.stdout:
            self.p.stdout.close()
        self.log.close()
        if self.cmd and (self.cmd[0].startswith(BIN) or self.cmd[0] == "valgrind"):
            check_sanitizer_report(self.name, self.read_log())
        return self.p.returncode


def stop_all():
    for proc in list(_live.values()):
        proc.stop(timeout=5.0)


atexit.register(stop_all)


def _on_term(signum, frame):
    stop_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)


class Redis:
    def __init__(self, test=None, appendonly=True):
        self.dir = tempfile.mkdtemp(prefix="cs-redis-")
        self.port = free_port()
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
               "--dir", self.dir, "--save", "", "--appendonly", "yes" if appendonly else "no",
               "--maxmemory-policy", "noeviction", "--daemonize", "no"]
        self.proc = Proc("redis", cmd)
        wait_until(lambda: self.ping(), timeout=10, what="redis-server to answer PING")
        if test is not None:
            test.addCleanup(self.stop)

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)] + list(args),
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip()

    def cli_many(self, commands):
        """Runs commands (lists of words, no newlines) through one redis-cli;
        returns one output line per command (for single-line replies)."""
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)],
                           input="".join(" ".join(c) + "\n" for c in commands),
                           capture_output=True, text=True, timeout=120)
        out = r.stdout.split("\n")
        return out[:len(commands)]

    def ping(self):
        try:
            return self.cli("PING") == "PONG"
        except subprocess.TimeoutExpired:
            return False

    def stop(self):
        self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


_kafka_cluster = None
_topic_seq = itertools.count(1)


def shared_kafka():
    """The test run's Apache Kafka: started on first use and stopped at exit,
    or the one a parent harness started (CS_KAFKA_BROKERS, inherited by the
    chaos run and the benchmarks)."""
    global _kafka_cluster
    brokers = os.environ.get("CS_KAFKA_BROKERS")
    if brokers:
        return brokers
    _kafka_cluster = kafka_runtime.KafkaCluster(nodes=1)
    _kafka_cluster.start()
    os.environ["CS_KAFKA_BROKERS"] = _kafka_cluster.brokers
    atexit.register(_kafka_cluster.stop, 5.0)
    return _kafka_cluster.brokers


def kafka_pid():
    """The pid of the Kafka broker this process started (None when it uses
    one a parent started, or the devbroker)."""
    return _kafka_cluster.nodes[0].p.pid if _kafka_cluster else None


# The consumer-group suffix of the newest Broker scope (Worker adds it).
_group_suffix = [""]


class Broker:
    """A test's Kafka: on the run's real broker, its own events and
    dead-letter topics ("t<pid>-<n>.product-events" and ".dlq", created with
    `partitions` partitions) and its own consumer groups; CS_TEST_KAFKA=dev
    (or kind="dev") starts a catalogsync-devbroker instead, with the default
    topic names.

    While the scope lives, CATALOGSYNC_KAFKA_TOPIC and CATALOGSYNC_KAFKA_DLQ_TOPIC
    (the documented overrides) name its topics, so every program a test starts
    uses them; stop() (registered as the test's cleanup) restores them and
    deletes the topics."""

    def __init__(self, test=None, partitions=6, kind=None):
        self.kind = kind or KAFKA_KIND
        self.partitions = partitions
        self.proc = None
        if self.kind == "dev":
            cmd = wrap([program("catalogsync-devbroker"), "--partitions", str(partitions)])
            self.proc = Proc("devbroker", cmd, ready_prefix="BROKERS=")
            self.brokers = self.proc.ready
            self.topic = EVENTS_TOPIC
            self.group_suffix = ""
        else:
            self.brokers = shared_kafka()
            tag = "t%d-%d" % (os.getpid(), next(_topic_seq))
            self.topic = tag + ".product-events"
            self.group_suffix = "-" + tag
            kafka_runtime.create_topics(self.brokers, {self.topic: partitions,
                                                       self.topic + ".dlq": partitions},
                                        config=kafka_runtime.TOPIC_CONFIG)
        self.dlq = self.topic + ".dlq"
        self._saved = {k: os.environ.get(k) for k in
                       ("CATALOGSYNC_KAFKA_TOPIC", "CATALOGSYNC_KAFKA_DLQ_TOPIC")}
        self._saved_suffix = _group_suffix[0]
        os.environ["CATALOGSYNC_KAFKA_TOPIC"] = self.topic
        os.environ["CATALOGSYNC_KAFKA_DLQ_TOPIC"] = self.dlq
        _group_suffix[0] = self.group_suffix
        self.stopped = False
        if test is not None:
            test.addCleanup(self.stop)

    @property
    def pid(self):
        return self.proc.p.pid if self.proc else kafka_pid()

    def stop(self, sig=signal.SIGTERM):
        """Ends the scope: the devbroker stops (its exit status is returned);
        on real Kafka the topics are deleted (0)."""
        if self.stopped:
            return 0
        self.stopped = True
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _group_suffix[0] = self._saved_suffix
        if self.proc:
            return self.proc.stop(sig=sig)
        kafka_runtime.delete_topics(self.brokers, [self.topic, self.dlq])
        return 0

    def consume(self, topic=None, count=None, timeout_ms=30000):
        """Reads topic (default the events topic) from the beginning; returns
        a list of message dicts whose "value" is the payload string."""
        topic = topic or self.topic
        cmd = [program("cs-test-consume"), "-b", self.brokers, "-t", topic,
               "-T", str(timeout_ms)]
        if count is not None:
            cmd += ["-n", str(count)]
        r = subprocess.run(wrap(cmd), capture_output=True, text=True, errors="replace",
                           timeout=timeout_ms / 1000 + 30)
        if r.returncode != 0:
            raise AssertionError("cs-test-consume failed (%d): %s" % (r.returncode, r.stderr))
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


    def count(self, topic=None, timeout_ms=60000):
        """Counts every message in topic (default the events topic; reads to
        the end of each partition)."""
        topic = topic or self.topic
        cmd = [program("cs-test-consume"), "-q", "-b", self.brokers, "-t", topic,
               "-T", str(timeout_ms)]
        r = subprocess.run(wrap(cmd), capture_output=True, text=True, errors="replace",
                           timeout=timeout_ms / 1000 + 30)
        if r.returncode != 0:
            raise AssertionError("cs-test-consume failed (%d): %s" % (r.returncode, r.stderr))
        return json.loads(r.stdout)["messages"]


class Fake:
    """A fake channel server from tests/fakes (fake_meta.py or fake_woo.py)."""

    def __init__(self, script, args=(), test=None):
        cmd = [PYTHON, os.path.join(FAKES, script), "--port", "0"] + list(args)
        self.proc = Proc(script.replace(".py", ""), cmd, ready_prefix="LISTENING=")
        self.addr = self.proc.ready
        if test is not None:
            test.addCleanup(self.proc.stop)


def run(cmd, input=None, env=None, timeout=120):
    """Runs one of our programs to completion and returns CompletedProcess
    (text mode)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    if isinstance(input, str):
        input = input.encode()
    r = subprocess.run(wrap(cmd), input=input, capture_output=True, env=full_env,
                       timeout=timeout)
    r.stdout = r.stdout.decode(errors="replace")
    r.stderr = r.stderr.decode(errors="replace")
    if VALGRIND and r.returncode == 99:
        raise AssertionError("valgrind reported errors for %s:\n%s" % (cmd[0], r.stderr))
    check_sanitizer_report(cmd[0], r.stderr)
    return r


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "==ERROR", "Invalid read", "Invalid write", "definitely lost in")


def check_sanitizer_report(name, text):
    """Fails the test when ASan/UBSan/valgrind reported anything."""
    for mark in SANITIZER_MARKS:
        if mark in text:
            raise AssertionError("%s: sanitizer/valgrind report:\n%s" % (name, text[-4000:]))


def make_tls(tmp):
    """A throwaway CA and a server certificate for 127.0.0.1 (SAN IP), made
    with the openssl CLI.  Returns (ca, cert, key) paths."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
         "-subj", "/CN=catalogsync test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(tmp, "ext.cnf"), "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                 "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    return [os.path.join(tmp, n) for n in ("ca.pem", "srv.pem", "srv.key")]


class FakeClient:
    """Talks to a fake's control API (tests/fakes/README.md); ca = the CA
    file when the fake serves TLS."""

    def __init__(self, addr, ca=None):
        self.base = ("https://" if ca else "http://") + addr
        self.ctx = None
        if ca:
            import ssl
            self.ctx = ssl.create_default_context(cafile=ca)

    def call(self, method, path, body=None):
        import urllib.request
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10, context=self.ctx) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def state(self):
        return self.call("GET", "/_fake/state")

    def requests(self, path_contains=None):
        q = "?path_contains=" + path_contains if path_contains else ""
        r = self.call("GET", "/_fake/requests" + q)
        return r["requests"] if isinstance(r, dict) else r

    def faults(self, *faults):
        return self.call("POST", "/_fake/faults", {"faults": list(faults)})

    def stats(self):
        return self.call("GET", "/_fake/stats")


def worker_cmd(sink, conf, *args):
    """catalogsync-worker for sink with config conf, in the consumer group of
    the newest Broker scope (catalogsync-<sink>-<scope>; the default group on
    the devbroker)."""
    return wrap([program("catalogsync-worker"), "--sink", sink, "--config", conf,
                 "--group", "catalogsync-%s%s" % (sink, _group_suffix[0])] + list(args))


class Worker:
    """A catalogsync-worker process with a generated config file."""

    def __init__(self, test, sink, config_text, env=None, name="worker"):
        self.dir = tempfile.mkdtemp(prefix="cs-worker-")
        self.conf = os.path.join(self.dir, "worker.conf")
        with open(self.conf, "w") as f:
            f.write(config_text)
        self.proc = Proc(name, worker_cmd(sink, self.conf), env=env)
        test.addCleanup(self.stop)

    def log(self):
        return self.proc.read_log()

    def wait_log(self, text, timeout=20):
        return wait_until(lambda: text in self.log(), timeout=timeout, what="%r in worker log" % text)

    def kill(self):
        return self.proc.stop(sig=signal.SIGKILL)

    def stop(self, timeout=20):
        return self.proc.stop(timeout=timeout)
