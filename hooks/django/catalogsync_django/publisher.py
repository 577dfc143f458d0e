"""A Kafka producer for catalogsync events (confluent-kafka, i.e. librdkafka,
configured as catalogsync-publish is: idempotent, acks=all, and librdkafka's
default partitioner, so a key lands in the same partition whichever of the
two publishes it)."""
import atexit
import threading

from . import events

_lock = threading.Lock()
_shared = None


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge every event."""


class Publisher:
    def __init__(self, brokers, topic="catalog.product-events", properties=None,
                 timeout=30.0):
        from confluent_kafka import Producer
        self.topic = topic
        self.timeout = float(timeout)
        conf = {
            "bootstrap.servers": brokers,
            "client.id": "catalogsync-django",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "partitioner": "consistent_random",
            # Give up on a message when the caller stops waiting for it, so a
            # timed-out event is reported failed and not delivered later.
            "message.timeout.ms": int(self.timeout * 1000),
        }
        conf.update(properties or {})
        self.producer = Producer(conf)

    def produce(self, topic, key, value, headers, on_delivery=None):
        """Queues one message; on_delivery(err_or_None) runs from poll/flush."""
        cb = None
        if on_delivery is not None:
            def cb(err, msg):
                on_delivery(err)
        while True:
            try:
                self.producer.produce(topic or self.topic, key=key.encode("utf-8"), value=value,
                                      headers=headers, on_delivery=cb)
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)

    def send(self, ev, on_delivery=None):
        events.validate_event(ev)
        self.produce(self.topic, events.key(ev), events.encode(ev), events.headers(ev),
                     on_delivery)

    def publish(self, evs):
        """Sends events and waits until Kafka acknowledged each one; raises
        DeliveryError naming the first failure otherwise."""
        errors = []
        for ev in evs:
            self.send(ev, lambda err, ev=ev: err and errors.append((ev["event_id"], err)))
        left = self.flush()
        if errors or left:
            first = errors[0] if errors else ("", "not acknowledged in %.0f s" % self.timeout)
            raise DeliveryError("%d of %d events not acknowledged (first: %s %s)"
                                % (max(len(errors), left), len(evs), first[0], first[1]))

    def flush(self, timeout=None):
        """Waits for outstanding deliveries; returns how many are still queued."""
        return self.producer.flush(self.timeout + 5 if timeout is None else timeout)


def get_publisher():
    """The process-wide publisher built from settings.CATALOGSYNC."""
    global _shared
    with _lock:
        if _shared is None:
            from . import conf
            _shared = Publisher(conf.get("BROKERS"), conf.get("TOPIC"), conf.get("PRODUCER"),
                                conf.get("DELIVERY_TIMEOUT"))
            atexit.register(_shared.flush)
        return _shared
