#!/usr/bin/env python3
"""The benchmark's peer: a plain batching consumer, written the obvious way.

    plain_consumer.py --brokers HOST:PORT --topic T --group G --fake HOST:PORT
                      --catalog ID --expect N [--batch 1000] [--linger-ms 200]

What a team would write first instead of catalogsync, with confluent-kafka
(Debian's python3-confluent-kafka): consume(num_messages=1000), json.loads
every event, map it to a Meta items_batch record, POST one items_batch of up
to 1,000 records to the same fake Meta the workers push to
(tests/bench/fastfake.c), ask check_batch_request_status once for the handle
(as the workers do: the fake confirms a batch at its first poll), commit the
offsets synchronously, next batch.  No per-product state, no retries, no
dead letters, no coalescing: the floor of what consuming and pushing costs.
The consumer uses librdkafka's defaults apart from what a batching consumer
must set (a group, no auto-commit, earliest).

Prints ASSIGNED=<partitions> on stdout once every partition of the topic is
assigned; on stderr, once --expect events were consumed, pushed and
committed: DONE {"consumed": ..., "batches": ..., "requests": ...} (JSON).
Then it waits for SIGTERM, so that the driver reads its CPU time and peak RSS
from /proc (tests/bench/bench.py, phase perproduct).
"""
import argparse
import http.client
import json
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException


def record(ev):
    """One Meta items_batch UPDATE request for a product.updated event."""
    p = ev["product"]
    price = p["price"]
    data = {"id": p["sku"] or p["id"], "title": p["name"],
            "description": p.get("description") or p["name"],
            "availability": "in stock" if p.get("stock_quantity", 0) > 0 else "out of stock",
            "condition": p.get("condition") or "new",
            "price": "%s %s" % (price["amount"], price["currency"]),
            "link": p["link"], "brand": p.get("brand") or "",
            "item_group_id": p["sku"] or p["id"], "quantity_to_sell_on_facebook":
            p.get("stock_quantity", 0),
            "visibility": "published" if p.get("is_active", True) else "staging"}
    if p.get("images"):
        data["image_link"] = p["images"][0]
        if len(p["images"]) > 1:
            data["additional_image_link"] = p["images"][1:]
    if p.get("sale_price"):
        data["sale_price"] = "%s %s" % (p["sale_price"]["amount"], p["sale_price"]["currency"])
    return {"method": "UPDATE", "data": data}


class Meta:
    """items_batch + check_batch_request_status on one keep-alive connection."""

    def __init__(self, addr, catalog, token):
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.catalog = catalog
        self.token = token
        self.requests = 0

    def call(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.token}
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        self.requests += 1
        if r.status != 200:
            raise RuntimeError("%s %s: HTTP %d %s" % (method, path, r.status, data[:200]))
        return json.loads(data)

    def push(self, records):
        body = json.dumps({"item_type": "PRODUCT_ITEM", "allow_upsert": True,
                           "requests": records}).encode()
        handle = self.call("POST", "/v21.0/%s/items_batch" % self.catalog, body)["handles"][0]
        status = self.call("GET", "/v21.0/%s/check_batch_request_status?handle=%s"
                           % (self.catalog, handle))
        if status["data"][0]["status"] != "finished":
            raise RuntimeError("batch %s: %s" % (handle, status))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--fake", required=True, help="the fake Meta, HOST:PORT")
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--token", default="bench-plain-token")
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--linger-ms", type=int, default=200,
                    help="consume()'s timeout: a partial batch waits at most this long "
                         "(the workers' linger_ms)")
    ap.add_argument("-X", dest="props", action="append", default=[],
                    help="librdkafka property NAME=VALUE (repeatable)")
    a = ap.parse_args()

    conf = {"bootstrap.servers": a.brokers, "group.id": a.group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    for p in a.props:
        k, v = p.split("=", 1)
        conf[k] = v
    assigned = []
    consumer = Consumer(conf)
    consumer.subscribe([a.topic], on_assign=lambda c, parts: assigned.extend(parts))
    meta = Meta(a.fake, a.catalog, a.token)
    parts = len(consumer.list_topics(a.topic, timeout=30).topics[a.topic].partitions)
    while len(assigned) < parts:
        consumer.consume(num_messages=a.batch, timeout=0.05)   # nothing published yet
    print("ASSIGNED=%d" % len(assigned), flush=True)

    consumed = batches = 0
    while consumed < a.expect:
        msgs = consumer.consume(num_messages=a.batch, timeout=a.linger_ms / 1000.0)
        if not msgs:
            continue
        records = []
        for m in msgs:
            if m.error():
                raise KafkaException(m.error())
            records.append(record(json.loads(m.value())))
        meta.push(records)
        consumer.commit(asynchronous=False)
        consumed += len(msgs)
        batches += 1
    sys.stderr.write("DONE %s\n" % json.dumps({"consumed": consumed, "batches": batches,
                                               "requests": meta.requests}))
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
