from django.apps import AppConfig


class ConnectivityConfig(AppConfig):
    name = "connectivity"
    verbose_name = "Device connectivity"
