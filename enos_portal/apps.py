from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "enos_portal"
    verbose_name = "EnOS Device Portal"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the deployment checks
