"""What the signal handlers use, and what application code calls directly:

    publish_product(product)                         # product.updated (or another type)
    publish_product(product, "product.assets_updated", changed_fields=["images"])
    request_export(product, connections=[1, 2], fields=["name", "sku", "price"])

In "outbox" mode (the default) each call writes an OutboxEvent row in the
current transaction; `manage.py catalogsync_relay` publishes it.  In "direct"
mode the event is sent when the transaction commits, without waiting for
Kafka (an event is lost if Kafka is down then: use the outbox).
"""
import logging

from django.apps import apps
from django.db import connections, router, transaction
from django.utils.module_loading import import_string

from . import conf, events
from .models import OutboxEvent

log = logging.getLogger("catalogsync_django")
_warned_autocommit = set()


def _snapshot_function(model):
    models = conf.get("MODELS")
    path = models.get(model._meta.label) if isinstance(models, dict) else None
    if path:
        return import_string(path) if isinstance(path, str) else path
    return lambda instance: instance.catalogsync_snapshot()


def snapshot(instance):
    """The product snapshot of a model instance (docs/EVENTS.md)."""
    snap = dict(_snapshot_function(type(instance))(instance))
    snap["id"] = str(snap["id"])
    return snap


def tenant(instance):
    t = getattr(instance, "catalogsync_tenant", None)
    if callable(t):
        t = t()
    return t or conf.get("TENANT")


def build(instance, type="product.updated", changed_fields=None, actor=None, export=None):
    snap = snapshot(instance)
    delete_mode = None
    if type in ("product.deleted", "deleted"):
        # Newer than the version the last update carried.
        snap["version"] = events.next_version(snap["version"])
        delete_mode = conf.get("DELETE_MODE")
    return events.build_event(type, snap, tenant=tenant(instance), actor=actor,
                              changed_fields=changed_fields, delete_mode=delete_mode,
                              export=export)


def enqueue(ev, using="default"):
    """Writes ev to the outbox in the current transaction of `using`."""
    conn = connections[using]
    if not conn.in_atomic_block and using not in _warned_autocommit:
        _warned_autocommit.add(using)
        log.warning("catalogsync: outbox row written outside a transaction on %r: the product "
                    "change and its event may not commit together (use "
                    "TransactionalOutboxMixin, transaction.atomic or ATOMIC_REQUESTS)", using)
    return OutboxEvent.objects.using(using).create(
        event_id=ev["event_id"], event_type=ev["type"], topic=conf.get("TOPIC"),
        key=events.key(ev), payload=events.encode(ev).decode("utf-8"))


def emit(ev, using="default"):
    """Outbox row (outbox mode) or a send on commit (direct mode)."""
    if conf.get("MODE") == "outbox":
        return enqueue(ev, using)
    from .publisher import get_publisher

    def send():
        try:
            get_publisher().send(ev, lambda err: err and log.error(
                "catalogsync: event %s (%s) not delivered: %s", ev["event_id"],
                events.key(ev), err))
        except Exception:       # never break the application's commit
            log.exception("catalogsync: cannot queue event %s", ev["event_id"])
    transaction.on_commit(send, using=using)
    return None


def _using(instance, using):
    return using or instance._state.db or router.db_for_write(type(instance), instance=instance)


def publish_product(instance, type="product.updated", changed_fields=None, actor=None,
                    using=None):
    """Publishes the current snapshot of instance (any event type but
    export_requested).  Use it after QuerySet.update() or bulk_create(), which
    send no signals."""
    ev = build(instance, type, changed_fields=changed_fields, actor=actor)
    return emit(ev, _using(instance, using))


def request_export(instance, connections, fields=None, partial_update=False, actor=None,
                   using=None):
    """product.export_requested: create (or adopt) the product in the named
    WooCommerce connections; later updates then reach them by themselves."""
    ev = build(instance, "product.export_requested", actor=actor,
               export={"connections": list(connections), "fields": fields,
                       "partial_update": partial_update})
    db = _using(instance, using)
    with transaction.atomic(using=db):
        return emit(ev, db)


def synced_models():
    """The model classes named in CATALOGSYNC["MODELS"]."""
    models = conf.get("MODELS")
    return [apps.get_model(label) for label in models]
