from django.db import models, router, transaction


class OutboxEvent(models.Model):
    """One event waiting for (or done with) its trip to Kafka.  Written in the
    same database transaction as the product change it describes; the relay
    (manage.py catalogsync_relay) publishes it and sets sent_at only after
    Kafka's delivery report said it was stored."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.CharField(max_length=128, unique=True)
    event_type = models.CharField(max_length=64)
    topic = models.CharField(max_length=249)
    key = models.CharField(max_length=512)
    payload = models.TextField(help_text="the event as published: compact UTF-8 JSON")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "catalogsync_outbox"
        ordering = ["id"]
        indexes = [models.Index(fields=["sent_at", "id"], name="catalogsync_outbox_pending")]

    def __str__(self):
        return "%s %s %s" % (self.event_type, self.key, "sent" if self.sent_at else "pending")


class TransactionalOutboxMixin:
    """Put it first in a product model's bases: save() and delete() run in one
    transaction, so the outbox row the signal handler writes commits or rolls
    back together with the product row, also in autocommit code.

        class Product(TransactionalOutboxMixin, models.Model): ...
    """

    def save(self, *args, **kwargs):
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            return super().save(*args, **kwargs)

    def delete(self, using=None, keep_parents=False):
        using = using or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            return super().delete(using=using, keep_parents=keep_parents)
