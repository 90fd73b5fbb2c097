"""Console routes of connectivity (under the device paths of assets, with their own suffixes)."""

from django.urls import path

from . import views

app_name = "connectivity"
urlpatterns = [
    path("devices/<str:asset_id>/services/", views.device_services, name="device-services"),
    path("devices/<str:asset_id>/services/<str:identifier>/invoke/", views.device_invoke, name="device-invoke"),
    path("devices/<str:asset_id>/measurepoints/set/", views.device_set_measurepoints,
         name="device-measurepoints-set"),
    path("devices/<str:asset_id>/measurepoints/get/", views.device_get_measurepoints,
         name="device-measurepoints-get"),
    path("devices/<str:asset_id>/latest-data/", views.device_latest, name="device-latest"),
    path("devices/<str:asset_id>/connectivity/", views.device_connectivity, name="device-connectivity"),
    path("connectivity/", views.ou_connectivity, name="ou-connectivity"),
    path("device-statuses/", views.device_statuses, name="device-statuses"),
]
