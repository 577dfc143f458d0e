"""Settings: a CATALOGSYNC dict in the Django settings.

    CATALOGSYNC = {
        "BROKERS": "kafka:9092",               # bootstrap servers
        "TOPIC": "catalog.product-events",     # kafka.topic of the workers
        "TENANT": "default",                   # or a model's catalogsync_tenant
        "MODE": "outbox",                      # "outbox" (transactional) | "direct" (on commit)
        "MODELS": {"shop.Product": None},      # label -> snapshot function (dotted path);
                                               # None: the model's catalogsync_snapshot()
        "PRODUCER": {},                        # extra librdkafka properties (SASL, TLS, ...)
        "DELIVERY_TIMEOUT": 30,                # seconds to wait for Kafka's acknowledgement
        "DELETE_MODE": "soft",                 # delete_mode of product.deleted
    }
"""
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS = {
    "BROKERS": "127.0.0.1:9092",
    "TOPIC": "catalog.product-events",
    "TENANT": "default",
    "MODE": "outbox",
    "MODELS": {},
    "PRODUCER": {},
    "DELIVERY_TIMEOUT": 30,
    "DELETE_MODE": "soft",
}


def get(name):
    user = getattr(settings, "CATALOGSYNC", {}) or {}
    unknown = set(user) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured("CATALOGSYNC: unknown setting(s) %s" % ", ".join(sorted(unknown)))
    value = user.get(name, DEFAULTS[name])
    if name == "MODE" and value not in ("outbox", "direct"):
        raise ImproperlyConfigured('CATALOGSYNC["MODE"] must be "outbox" or "direct", got %r' % value)
    return value
