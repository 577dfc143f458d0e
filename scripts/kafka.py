#!/usr/bin/env python3
"""Runs real Apache Kafka brokers (KRaft) on 127.0.0.1 from the jars that
scripts/kafka-deps.sh fetched from Maven Central.

    scripts/kafka.py [--nodes N] [--partitions P] [--dir DIR]

starts N combined broker+controller nodes on free loopback ports (formatted
storage in a temp dir), creates the events and dead-letter topics (P
partitions, replication factor min(N, 3)), prints "BROKERS=host:port,..." and
serves until SIGTERM or SIGINT, then stops every node by pid and removes the
storage (unless --dir was given).

As a module (the tests, the benchmarks, the failover test):

    cluster = KafkaCluster(nodes=3); cluster.start()
    cluster.brokers                      # "127.0.0.1:p1,127.0.0.1:p2,..."
    cluster.nodes[1].kill(); cluster.nodes[1].start()
    cluster.stop()

Every pid goes to $CS_PIDFILE when that is set (tests/run.sh checks that
nothing is left running).  Standard library only.

Exit status: 0 stopped by a signal, 1 a node did not start (its log is
printed), 64 bad usage, 69 the jars are missing (run scripts/kafka-deps.sh).
"""
import argparse
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
POM = os.path.join(HERE, "kafka", "pom.xml")
LOG4J = os.path.join(HERE, "kafka", "log4j.properties")
EVENTS_TOPIC = "catalog.product-events"
DLQ_TOPIC = "catalog.product-events.dlq"
# Both topics take records up to 2 MiB (Kafka's default is 1 MiB + 12 bytes,
# less than an event at events.max_bytes plus its batch framing): an event over
# the cap still reaches the worker, which dead-letters it with the reason
# (docs/OPERATIONS.md, "Topics").  docker-compose.yml creates them the same way.
TOPIC_CONFIG = {"max.message.bytes": str(2 * 1024 * 1024)}


def kafka_version():
    with open(POM) as f:
        return re.search(r"<kafka.version>([^<]+)</kafka.version>", f.read()).group(1)


def kafka_home():
    return os.environ.get("CS_KAFKA_HOME") or "/var/cache/catalogsync/kafka-" + kafka_version()


def classpath():
    libs = os.path.join(kafka_home(), "libs")
    jar = os.path.join(libs, "kafka_2.13-%s.jar" % kafka_version())
    if not os.path.exists(jar):
        raise FileNotFoundError("%s is missing: run scripts/kafka-deps.sh" % jar)
    return os.path.join(libs, "*")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record_pid(pid):
    path = os.environ.get("CS_PIDFILE")
    if path:
        with open(path, "a") as f:
            f.write("%d\n" % pid)


class KafkaNode:
    """One KRaft node (broker and controller in one JVM)."""

    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.id = node_id
        self.port = free_port()
        self.controller_port = free_port()
        self.dir = os.path.join(cluster.dir, "node-%d" % node_id)
        self.data = os.path.join(self.dir, "data")
        self.props = os.path.join(self.dir, "server.properties")
        self.logpath = os.path.join(self.dir, "server.log")
        self.outpath = os.path.join(self.dir, "stdout.log")
        self.p = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def write_props(self):
        c = self.cluster
        rf = min(len(c.nodes), 3)
        props = {
            "process.roles": "broker,controller",
            "node.id": self.id,
            "controller.quorum.voters": ",".join(
                "%d@127.0.0.1:%d" % (n.id, n.controller_port) for n in c.nodes),
            "listeners": "PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"
                         % (self.port, self.controller_port),
            "advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % self.port,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.data,
            "num.partitions": 1,
            "default.replication.factor": rf,
            "min.insync.replicas": min(rf, 2),
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": c.offsets_partitions,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min(rf, 2),
            "transaction.state.log.num.partitions": 4,
            "group.initial.rebalance.delay.ms": 0,
            # Topics are created on purpose (as the compose stack's kafka-topics
            # service does): a typo in a topic name is an error, not a new topic.
            "auto.create.topics.enable": "false",
            "log.segment.bytes": 64 * 1024 * 1024,
            "num.network.threads": 2,
            "num.io.threads": 4,
        }
        props.update(c.extra_props)
        with open(self.props, "w") as f:
            for k, v in props.items():
                f.write("%s=%s\n" % (k, v))

    def format(self):
        os.makedirs(self.dir, exist_ok=True)
        self.write_props()
        r = subprocess.run(["java", "-Xmx256m", "-cp", classpath(),
                            "-Dlog4j.configuration=file:" + LOG4J,
                            "-Dkafka.logs.dir=" + self.dir,
                            "kafka.tools.StorageTool", "format", "--ignore-formatted",
                            "-t", self.cluster.cluster_id, "-c", self.props],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("formatting node %d failed:\n%s%s" % (self.id, r.stdout, r.stderr))

    def start(self):
        """Starts the JVM (storage must be formatted); returns at once:
        wait_ready() waits for the node to serve."""
        self.started_at = time.monotonic()
        self._log_offset = os.path.getsize(self.logpath) if os.path.exists(self.logpath) else 0
        cmd = ["java", "-Xms128m", "-Xmx%s" % self.cluster.heap, "-XX:+UseG1GC",
               "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
               "-Dlog4j.configuration=file:" + LOG4J, "-Dkafka.logs.dir=" + self.dir,
               "-cp", classpath(), "kafka.Kafka", self.props]
        out = open(self.outpath, "ab")
        self.p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        _record_pid(self.p.pid)
        return self

    def read_log(self, since_start=True):
        text = ""
        for path in (self.logpath, self.outpath):
            try:
                with open(path, "rb") as f:
                    if since_start and path == self.logpath:
                        f.seek(self._log_offset)
                    text += f.read().decode(errors="replace")
            except OSError:
                pass
        return text

    def ready(self):
        if "Kafka Server started" not in self.read_log():
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def wait_ready(self, timeout=90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return self
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        log = self.read_log()
        self.kill()
        raise RuntimeError("kafka node %d did not start (exit %s); log:\n%s"
                           % (self.id, self.p.returncode, log[-6000:]))

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill(self, sig=signal.SIGKILL, timeout=60.0):
        """Stops the node with sig (SIGKILL by default: a crash) and waits."""
        if self.alive():
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(10)
        return self.p.returncode if self.p else None


class KafkaCluster:
    """N KRaft nodes on loopback; stop() kills them all and removes the storage
    unless a directory was given."""

    def __init__(self, nodes=1, workdir=None, heap="768m", offsets_partitions=12,
                 extra_props=None):
        self.keep = workdir is not None
        self.dir = workdir or tempfile.mkdtemp(prefix="cs-kafka-")
        os.makedirs(self.dir, exist_ok=True)
        self.heap = heap
        self.offsets_partitions = offsets_partitions
        self.extra_props = dict(extra_props or {})
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        self.nodes = []
        self.nodes = [KafkaNode(self, i + 1) for i in range(nodes)]

    @property
    def brokers(self):
        return ",".join(n.address for n in self.nodes)

    def start(self, timeout=120.0):
        try:
            for n in self.nodes:
                n.format()
            for n in self.nodes:
                n.start()
            for n in self.nodes:
                n.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout=10.0):
        """SIGTERM to every node at once (the last ones cannot shut down in
        order without a controller quorum), SIGKILL to those still running
        after timeout."""
        live = [n for n in self.nodes if n.alive()]
        for n in live:
            try:
                os.killpg(n.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for n in live:
            try:
                n.p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                n.kill(signal.SIGKILL)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Runs real Apache Kafka (KRaft) brokers on 127.0.0.1 from the jars "
                    "scripts/kafka-deps.sh fetched, creates the catalogsync topics, prints "
                    "BROKERS=<list> and serves until SIGTERM or SIGINT.",
        epilog="Exit status: 0 stopped by a signal, 1 a node did not start, 64 bad usage, "
               "69 the jars are missing (run scripts/kafka-deps.sh).")
    ap.add_argument("--nodes", type=int, default=1, help="KRaft nodes (default 1)")
    ap.add_argument("--partitions", type=int, default=6,
                    help="partitions of the events and dead-letter topics (default 6)")
    ap.add_argument("--topic", default=EVENTS_TOPIC, help="events topic (default %(default)s)")
    ap.add_argument("--dlq-topic", default=DLQ_TOPIC,
                    help="dead-letter topic (default %(default)s)")
    ap.add_argument("--dir", help="storage directory (kept); default a temp dir, removed")
    ap.add_argument("--heap", default="768m", help="each node's -Xmx (default %(default)s)")
    ap.add_argument("--brokers-file", help="also write the bootstrap list to this file")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return 64 if e.code else 0
    if a.nodes < 1 or a.partitions < 1:
        print("kafka.py: --nodes and --partitions must be at least 1", file=sys.stderr)
        return 64
    try:
        classpath()
    except FileNotFoundError as e:
        print("kafka.py: %s" % e, file=sys.stderr)
        return 69
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    cluster = KafkaCluster(a.nodes, a.dir, a.heap)
    try:
        cluster.start()
        create_topics(cluster.brokers, {a.topic: a.partitions, a.dlq_topic: a.partitions},
                      replication=min(a.nodes, 3), config=TOPIC_CONFIG)
    except RuntimeError as e:
        print("kafka.py: %s" % e, file=sys.stderr)
        cluster.stop()
        return 1
    if a.brokers_file:
        with open(a.brokers_file, "w") as f:
            f.write(cluster.brokers + "\n")
    print("BROKERS=%s" % cluster.brokers, flush=True)
    while not stop:
        signal.pause() if hasattr(signal, "pause") else time.sleep(1)
        if any(not n.alive() for n in cluster.nodes):
            print("kafka.py: a node exited; stopping", file=sys.stderr)
            cluster.stop()
            return 1
    cluster.stop()
    return 0


def create_topics(brokers, topics, replication=1, config=None, timeout=30.0):
    """Creates topics ({name: partitions}) with the kafka-topics admin API
    (confluent-kafka, Debian's python3-confluent-kafka) and waits until every
    partition has a leader.  An existing topic is an error."""
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": brokers, "log_level": 3})
    new = [NewTopic(t, num_partitions=p, replication_factor=replication,
                    config=dict(config or {})) for t, p in topics.items()]
    for name, fut in admin.create_topics(new, operation_timeout=timeout).items():
        try:
            fut.result(timeout)
        except Exception as e:  # KafkaException: the broker's error, worded
            raise RuntimeError("creating topic %s: %s" % (name, e))
    deadline = time.monotonic() + timeout
    while True:
        md = admin.list_topics(timeout=timeout)
        ok = all(t in md.topics and len(md.topics[t].partitions) == p and
                 all(pm.leader >= 0 for pm in md.topics[t].partitions.values())
                 for t, p in topics.items())
        if ok:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("topics %s have no leader after %.0fs" % (list(topics), timeout))
        time.sleep(0.05)


def delete_topics(brokers, names, timeout=30.0):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": brokers, "log_level": 3})
    for fut in admin.delete_topics(list(names), operation_timeout=timeout).values():
        try:
            fut.result(timeout)
        except Exception:  # already gone: nothing to do
            pass


if __name__ == "__main__":
    sys.exit(main())
