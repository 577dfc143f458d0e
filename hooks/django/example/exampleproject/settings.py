"""Settings of the example project (hooks/django/example).  Everything that
differs per environment comes from the environment."""
import os

from django.core.management.utils import get_random_secret_key

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or get_random_secret_key()
DEBUG = False
ALLOWED_HOSTS = []
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "catalogsync_django",
    "shop",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB", os.path.join(BASE_DIR, "example.sqlite3")),
    }
}

CATALOGSYNC = {
    "BROKERS": os.environ.get("CATALOGSYNC_KAFKA_BROKERS", "127.0.0.1:9092"),
    "TOPIC": os.environ.get("CATALOGSYNC_KAFKA_TOPIC", "catalog.product-events"),
    "TENANT": "default",
    "MODE": os.environ.get("CATALOGSYNC_HOOK_MODE", "outbox"),
    "MODELS": {"shop.Product": None},          # Product.catalogsync_snapshot()
}

LOGGING = {
    "version": 1,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"catalogsync_django": {"handlers": ["stderr"], "level": "INFO"}},
}
