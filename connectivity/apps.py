from django.apps import AppConfig


class ConnectivityConfig(AppConfig):
    name = "connectivity"
    verbose_name = "Device connectivity"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - connects to assets' signals
