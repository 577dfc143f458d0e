"""The relay: publishes pending outbox rows in id order and marks each one
sent only once Kafka's delivery report for it came back without error."""
import datetime
import json

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from . import conf
from .models import OutboxEvent


def pending(using="default"):
    return OutboxEvent.objects.using(using).filter(sent_at__isnull=True).order_by("id")


def _error_text(err):
    """KafkaError -> "Local: Message timed out"."""
    if err is None:
        return ""
    return err.str() if hasattr(err, "str") else str(err)


def _send(rows, publisher, using):
    results = {}
    for row in rows:
        ev = json.loads(row.payload)
        headers = [("type", ev["type"].encode()), ("schema", str(ev["schema"]).encode()),
                   ("event_id", ev["event_id"].encode())]
        publisher.produce(row.topic, row.key, row.payload.encode("utf-8"), headers,
                          lambda err, rid=row.id: results.__setitem__(rid, err))
    publisher.flush()
    ok = [r.id for r in rows if r.id in results and results[r.id] is None]
    failed = {r.id: _error_text(results.get(r.id)) or
              "no delivery report within %.0f s" % publisher.timeout
              for r in rows if r.id not in ok}
    with transaction.atomic(using=using):
        if ok:
            OutboxEvent.objects.using(using).filter(id__in=ok).update(
                sent_at=timezone.now(), attempts=F("attempts") + 1, last_error="")
        for rid, err in failed.items():
            OutboxEvent.objects.using(using).filter(id=rid).update(
                attempts=F("attempts") + 1, last_error=str(err)[:2000])
    return len(ok), len(failed)


def relay_batch(publisher, batch=500, using="default"):
    """Publishes up to `batch` pending rows; returns (sent, failed).

    Where the database can skip locked rows (PostgreSQL, MySQL 8, Oracle) the
    rows stay locked until they are marked, so several relays can run at once.
    Elsewhere (SQLite) run a single relay."""
    conn = connections[using]
    if conn.features.has_select_for_update_skip_locked:
        with transaction.atomic(using=using):
            rows = list(pending(using).select_for_update(skip_locked=True)[:batch])
            return _send(rows, publisher, using) if rows else (0, 0)
    rows = list(pending(using)[:batch])
    return _send(rows, publisher, using) if rows else (0, 0)


def purge_sent(days, using="default"):
    """Deletes rows sent more than `days` days ago; returns how many."""
    cutoff = timezone.now() - datetime.timedelta(days=days)
    n, _ = OutboxEvent.objects.using(using).filter(sent_at__lt=cutoff).delete()
    return n


def default_publisher():
    from .publisher import Publisher
    return Publisher(conf.get("BROKERS"), conf.get("TOPIC"), conf.get("PRODUCER"),
                     conf.get("DELIVERY_TIMEOUT"))
