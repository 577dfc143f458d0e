"""Product events, contract v1 (docs/EVENTS.md), built and checked in Python.

No Django import here: the module is usable from any Python producer.

    ev = build_event("product.updated", snapshot, tenant="acme", actor="user:17")
    validate_event(ev)                 # raises EventError("product.price.amount: ...")
    key(ev)        -> "acme:1001"      # every event of one product, one partition
    headers(ev)    -> [("type", b"product.updated"), ("schema", b"1"), ("event_id", b"...")]
    encode(ev)     -> compact UTF-8 JSON bytes
"""
import datetime
import decimal
import json
import re
import time
import uuid

SCHEMA = 1
TYPES = ("product.created", "product.updated", "product.attributes_updated",
         "product.assets_updated", "product.deleted", "product.export_requested")
DEFAULT_TENANT = "default"
MAX_BYTES = 1024 * 1024          # events.max_bytes: the workers reject larger events

_DECIMAL = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,6})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_STR_FIELDS = ("name", "description", "brand", "condition", "link")


class EventError(ValueError):
    """An event that breaks the contract: "<field>: <problem>", as the workers say it."""


def now_rfc3339():
    """UTC now with milliseconds: 2026-11-21T10:00:00.123Z."""
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def now_ms():
    return int(time.time() * 1000)


def next_version(current):
    """A strictly increasing product version close to the time of the change
    (updated-at in ms), for models without a row version of their own."""
    return max(int(current or 0) + 1, now_ms())


def money(amount, currency):
    """{"amount": "12.50", "currency": "USD"} from a Decimal, int or string;
    None when amount is None.  Never goes through floating point."""
    if amount is None:
        return None
    if isinstance(amount, float):
        raise EventError("money: %r is a float; pass a Decimal or a string" % amount)
    d = decimal.Decimal(str(amount))
    if not d.is_finite() or d < 0:
        raise EventError("money: %r is not a non-negative amount" % amount)
    text = format(d, "f")
    if "." in text:
        ip, fp = text.split(".")
        if len(fp) > 6:
            if fp[6:].strip("0"):
                raise EventError("money: %s has more than 6 fraction digits" % text)
            fp = fp[:6]
        text = ip + "." + fp
    return {"amount": text, "currency": currency}


def build_event(type, product, tenant=None, actor=None, changed_fields=None, delete_mode=None,
                export=None, event_id=None, occurred_at=None):
    """A v1 event around a product snapshot (a dict with at least id and version).
    type may omit the "product." prefix."""
    if not type.startswith("product."):
        type = "product." + type
    ev = {"schema": SCHEMA, "event_id": event_id or str(uuid.uuid4()), "type": type,
          "tenant": tenant or DEFAULT_TENANT, "occurred_at": occurred_at or now_rfc3339(),
          "product": product}
    if actor:
        ev["actor"] = actor
    if changed_fields:
        ev["changed_fields"] = list(changed_fields)
    if type == "product.deleted":
        ev["delete_mode"] = delete_mode or "soft"
        ev["product"] = {"id": product["id"], "version": product["version"],
                         "sku": product.get("sku")}
    if type == "product.export_requested":
        export = dict(export or {})
        x = {"connections": [int(c) for c in export.get("connections", [])]}
        if export.get("fields") is not None:
            x["fields"] = list(export["fields"])
        x["partial_update"] = bool(export.get("partial_update", False))
        ev["export"] = x
    validate_event(ev)
    return ev


def key(ev):
    return "%s:%s" % (ev.get("tenant") or DEFAULT_TENANT, ev["product"]["id"])


def headers(ev):
    return [("type", ev["type"].encode()), ("schema", str(ev["schema"]).encode()),
            ("event_id", ev["event_id"].encode())]


def encode(ev):
    data = json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_BYTES:
        raise EventError("event: payload is %d bytes, over the %d-byte cap" % (len(data), MAX_BYTES))
    return data


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _str(obj, k, path, required=False, maxlen=0):
    v = obj.get(k)
    if v is None:
        if required:
            raise EventError("%s: %s" % (path, "must not be null" if k in obj else "is missing"))
        return
    if not isinstance(v, str):
        raise EventError("%s: must be a string%s, got %s" % (path, "" if required else " or null",
                                                              type(v).__name__))
    if required and not v:
        raise EventError("%s: must not be empty" % path)
    if maxlen and len(v.encode("utf-8")) > maxlen:
        raise EventError("%s: is longer than %d bytes" % (path, maxlen))
    if "\0" in v:
        raise EventError("%s: must not contain NUL characters" % path)


def _str_list(obj, k, path):
    v = obj.get(k)
    if v is None:
        return
    if not isinstance(v, list):
        raise EventError("%s: must be an array of strings" % path)
    for i, e in enumerate(v):
        if not isinstance(e, str) or not e:
            raise EventError("%s[%d]: must be a non-empty string" % (path, i))


def _money(p, k):
    v = p.get(k)
    path = "product." + k
    if v is None:
        return
    if not isinstance(v, dict):
        raise EventError('%s: must be an object {"amount":"12.34","currency":"USD"}' % path)
    a = v.get("amount")
    if not isinstance(a, str):
        raise EventError("%s.amount: must be a decimal string such as \"189.99\", got %s "
                         "(money is never sent as a JSON number)" % (path, type(a).__name__))
    if not _DECIMAL.match(a):
        raise EventError('%s.amount: is not a decimal string ("%s")' % (path, a))
    c = v.get("currency")
    if not isinstance(c, str) or not _CURRENCY.match(c):
        raise EventError("%s.currency: must be a three-letter upper-case ISO 4217 code" % path)


def validate_event(ev):
    """Raises EventError unless ev is a valid v1 event (the rules of
    common/cs_event.c, which the workers apply)."""
    if not isinstance(ev, dict):
        raise EventError("event: must be a JSON object")
    if ev.get("schema") != SCHEMA or not _is_int(ev.get("schema")):
        raise EventError("schema: must be 1")
    _str(ev, "event_id", "event_id", True, 128)
    if ev.get("type") not in TYPES:
        raise EventError('type: unknown event type "%s"' % ev.get("type"))
    if "tenant" in ev:
        _str(ev, "tenant", "tenant", True, 64)
        if ":" in ev["tenant"]:
            raise EventError("tenant: must not contain ':'")
    _str(ev, "occurred_at", "occurred_at", True, 64)
    if not _RFC3339.match(ev["occurred_at"]):
        raise EventError("occurred_at: is not an RFC 3339 date-time")
    _str(ev, "actor", "actor", False, 255)
    _str_list(ev, "changed_fields", "changed_fields")
    p = ev.get("product")
    if not isinstance(p, dict):
        raise EventError("product: must be an object")
    _str(p, "id", "product.id", True, 255)
    if not _is_int(p.get("version")) or p["version"] < 0:
        raise EventError("product.version: must be a non-negative integer")
    if ev["type"] == "product.deleted" and "sku" not in p:
        raise EventError("product.sku: is missing (product.deleted needs id, version and sku)")
    _str(p, "sku", "product.sku", False, 255)
    for k in _STR_FIELDS:
        _str(p, k, "product." + k, False, 64 if k == "condition" else 0)
    _money(p, "price")
    _money(p, "sale_price")
    if p.get("stock_quantity") is not None and not _is_int(p["stock_quantity"]):
        raise EventError("product.stock_quantity: must be an integer or null")
    if p.get("is_active") is not None and not isinstance(p["is_active"], bool):
        raise EventError("product.is_active: must be a boolean")
    _str_list(p, "images", "product.images")
    _str_list(p, "categories", "product.categories")
    attrs = p.get("attributes")
    if attrs is not None:
        if not isinstance(attrs, list):
            raise EventError("product.attributes: must be an array")
        for i, a in enumerate(attrs):
            if not isinstance(a, dict):
                raise EventError("product.attributes[%d]: must be an object" % i)
            _str(a, "name", "product.attributes[%d].name" % i, True, 255)
            _str(a, "value", "product.attributes[%d].value" % i)
    if ev["type"] == "product.deleted":
        if ev.get("delete_mode", "soft") not in ("soft", "permanent"):
            raise EventError('delete_mode: must be "soft" or "permanent"')
    elif ev.get("delete_mode") is not None:
        raise EventError("delete_mode: is only allowed on product.deleted")
    x = ev.get("export")
    if ev["type"] == "product.export_requested":
        if not isinstance(x, dict):
            raise EventError("export: is missing (product.export_requested names the connections)")
        conns = x.get("connections")
        if not isinstance(conns, list) or not conns:
            raise EventError("export.connections: must name at least one connection")
        for i, c in enumerate(conns):
            if not _is_int(c) or c < 1:
                raise EventError("export.connections[%d]: must be a positive connection id" % i)
        _str_list(x, "fields", "export.fields")
        if x.get("partial_update") is not None and not isinstance(x["partial_update"], bool):
            raise EventError("export.partial_update: must be a boolean")
    elif x is not None:
        raise EventError("export: is only allowed on product.export_requested")
    encode(ev)
    return ev
