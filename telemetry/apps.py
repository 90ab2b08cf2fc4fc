from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TelemetryConfig(AppConfig):
    name = "telemetry"
    verbose_name = "Fleet and telemetry"

    def ready(self):
        from .catalog import ensure_catalog
        from .roles import sync_role_groups

        # After every migrate and every flush (test databases): role groups exist, and the GPU catalog
        # that migration 0002 loads comes back if a flush emptied it.
        post_migrate.connect(sync_role_groups, dispatch_uid="headroom_sync_roles")
        post_migrate.connect(ensure_catalog, sender=self, dispatch_uid="headroom_gpu_catalog")
