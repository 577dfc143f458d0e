from django.apps import AppConfig


class CatalogSyncConfig(AppConfig):
    name = "catalogsync_django"
    label = "catalogsync_django"
    verbose_name = "catalogsync producer hook"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import signals
        signals.connect_models()
