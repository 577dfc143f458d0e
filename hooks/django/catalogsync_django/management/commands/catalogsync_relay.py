"""manage.py catalogsync_relay: publishes the outbox to Kafka.

    manage.py catalogsync_relay              # run until SIGTERM, polling the outbox
    manage.py catalogsync_relay --once       # send what is waiting, then exit

Exit status with --once: 0 every row sent, 2 some rows not acknowledged by
Kafka (they stay pending with last_error and are sent again next time).
"""
import signal
import sys
import time

from django.core.management.base import BaseCommand

from catalogsync_django import outbox


class Command(BaseCommand):
    help = "Publishes pending catalogsync outbox rows to Kafka; marks them sent on acknowledgement."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true",
                            help="send what is pending, then exit (status 2 if some failed)")
        parser.add_argument("--batch", type=int, default=500, help="rows per batch (500)")
        parser.add_argument("--interval", type=float, default=1.0,
                            help="seconds between polls of an empty outbox (1.0)")
        parser.add_argument("--brokers", help="bootstrap servers (overrides CATALOGSYNC BROKERS)")
        parser.add_argument("--timeout", type=float,
                            help="seconds to wait for acknowledgements (CATALOGSYNC DELIVERY_TIMEOUT)")
        parser.add_argument("--purge-sent-days", type=float, default=None,
                            help="also delete rows sent more than this many days ago")
        parser.add_argument("--database", default="default", help="database alias (default)")

    def handle(self, *args, **opts):
        from catalogsync_django import conf
        from catalogsync_django.publisher import Publisher
        publisher = Publisher(opts["brokers"] or conf.get("BROKERS"), conf.get("TOPIC"),
                              conf.get("PRODUCER"),
                              opts["timeout"] or conf.get("DELIVERY_TIMEOUT"))
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        signal.signal(signal.SIGINT, lambda *a: stop.append(1))
        using = opts["database"]
        total_sent = total_failed = 0
        while not stop:
            sent, failed = outbox.relay_batch(publisher, opts["batch"], using)
            total_sent += sent
            total_failed += failed
            if sent or failed:
                self.stdout.write("relay: %d sent, %d failed, %d pending"
                                  % (sent, failed, outbox.pending(using).count()))
                self.stdout.flush()
            if opts["purge_sent_days"] is not None:
                outbox.purge_sent(opts["purge_sent_days"], using)
            if opts["once"] and (failed or not sent):
                break
            if not sent:
                time.sleep(opts["interval"] if not failed else max(opts["interval"], 5.0))
        self.stdout.write("relay: done, %d sent, %d failed" % (total_sent, total_failed))
        if opts["once"] and total_failed:
            sys.exit(2)
