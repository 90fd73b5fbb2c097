"""Deployment checks of the portal's own (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string


@register(Tags.staticfiles, deploy=True)
def static_files_collected(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Without `collectstatic` every console page fails: the hashed static names have no manifest."""
    if settings.DEBUG or not isinstance(staticfiles_storage, ManifestFilesMixin):
        return []
    if staticfiles_storage.exists(staticfiles_storage.manifest_name):
        return []
    return [Warning(
        f"The static files are not collected in {settings.STATIC_ROOT}: every console page would fail.",
        hint="Run `manage.py collectstatic --noinput` (again after each upgrade) before starting the portal.",
        id="enos_portal.W001",
    )]


@register(deploy=True)
def sms_backend_delivers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Migration codes need a real SMS provider in production: the console backend refuses there."""
    from accounts.sms import ConsoleBackend

    try:
        backend = import_string(settings.SMS_BACKEND)
    except ImportError as error:
        return [Error(f"SMS_BACKEND {settings.SMS_BACKEND!r} cannot be imported: {error}", id="enos_portal.E002")]
    if isinstance(backend, type) and issubclass(backend, ConsoleBackend) and not settings.SMS_ALLOW_CONSOLE:
        return [Warning(
            "SMS_BACKEND is the console backend, which refuses to send when DEBUG is off: migrations cannot "
            "get their verification codes.",
            hint="Set SMS_BACKEND to accounts.sms.HttpGatewayBackend (with SMS_HTTP_URL) or another provider; "
                 "SMS_ALLOW_CONSOLE=1 lets a demo write codes to the log.",
            id="enos_portal.W002",
        )]
    return []
