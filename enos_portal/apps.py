from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "enos_portal"
    verbose_name = _("EnOS Device Portal")

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the deployment checks
