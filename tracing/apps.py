from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TracingConfig(AppConfig):
    name = "tracing"
    verbose_name = _("Message tracing")

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from accounts.models import OUUserObjectPermission
        from assets.signals import device_secrets_reset, devices_deleted, devices_migrated

        from . import receivers

        devices_deleted.connect(receivers.on_devices_deleted, dispatch_uid="tracing.devices_deleted")
        devices_migrated.connect(receivers.on_devices_migrated, dispatch_uid="tracing.devices_migrated")
        device_secrets_reset.connect(receivers.on_device_secrets_reset, dispatch_uid="tracing.device_secrets_reset")
        post_delete.connect(receivers.on_permission_revoked, sender=OUUserObjectPermission,
                            dispatch_uid="tracing.permission_revoked")
