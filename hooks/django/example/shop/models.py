from django.db import models

from catalogsync_django.events import money, next_version
from catalogsync_django.models import TransactionalOutboxMixin


class Product(TransactionalOutboxMixin, models.Model):
    """A product of the back office.  Every save or delete writes a
    catalogsync event to the outbox in the same transaction."""

    sku = models.CharField(max_length=64, unique=True, null=True, blank=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    brand = models.CharField(max_length=100, blank=True, default="")
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    stock = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    image = models.CharField(max_length=500, blank=True, default="")
    # Strictly increasing per product (the contract's product.version).
    version = models.BigIntegerField(default=0, editable=False)

    def save(self, *args, **kwargs):
        self.version = next_version(self.version)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = set(kwargs["update_fields"]) | {"version"}
        super().save(*args, **kwargs)

    def catalogsync_snapshot(self):
        return {
            "id": str(self.pk),
            "version": self.version,
            "sku": self.sku or None,
            "name": self.name,
            "description": self.description or None,
            "brand": self.brand or None,
            "price": money(self.price, self.currency),
            "stock_quantity": self.stock,
            "is_active": self.is_active,
            "link": "https://shop.example/p/%s" % self.pk,
            "images": [self.image] if self.image else [],
        }
