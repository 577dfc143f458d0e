#!/usr/bin/env python3
"""The example project: a shop app whose Product syncs through catalogsync.

    cd hooks/django/example
    export CATALOGSYNC_KAFKA_BROKERS=127.0.0.1:9092 EXAMPLE_DB=/tmp/shop.sqlite3
    python3 manage.py migrate
    python3 manage.py shell -c 'from shop.models import Product
    Product.objects.create(sku="MUG-1", name="Mug", price="12.50", brand="Acme")'
    python3 manage.py catalogsync_relay --once

(python3 with Django and confluent-kafka: Debian's /usr/bin/python3 with
python3-django and python3-confluent-kafka.)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]          # shop/, catalogsync_django/

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exampleproject.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
