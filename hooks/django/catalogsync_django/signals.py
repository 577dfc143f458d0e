"""post_save -> product.updated, post_delete -> product.deleted, for every model
named in CATALOGSYNC["MODELS"].  QuerySet.update() and bulk_create() send no
signals: call api.publish_product() after them."""
from django.db.models.signals import post_delete, post_save

from . import api


def on_save(sender, instance, created, raw=False, using="default", **kwargs):
    if raw:                 # loaddata: fixtures are not product changes
        return
    api.emit(api.build(instance, "product.updated"), using)


def on_delete(sender, instance, using="default", **kwargs):
    api.emit(api.build(instance, "product.deleted"), using)


def connect_models():
    for model in api.synced_models():
        uid = "catalogsync:%s" % model._meta.label
        post_save.connect(on_save, sender=model, dispatch_uid=uid + ":save")
        post_delete.connect(on_delete, sender=model, dispatch_uid=uid + ":delete")
