"""Console routes of tracing: the device's Tracing tab and its past traces."""

from django.urls import path

from . import views

app_name = "tracing"
urlpatterns = [
    path("devices/<str:asset_id>/tracing/", views.device_tracing, name="device-tracing"),
    path("devices/<str:asset_id>/tracing/start/", views.trace_start, name="trace-start"),
    path("devices/<str:asset_id>/tracing/<int:trace_id>/", views.trace_logs, name="trace-logs"),
    path("devices/<str:asset_id>/tracing/<int:trace_id>/extend/", views.trace_extend, name="trace-extend"),
    path("devices/<str:asset_id>/tracing/<int:trace_id>/stop/", views.trace_stop, name="trace-stop"),
    path("devices/<str:asset_id>/tracing/<int:trace_id>/download/", views.trace_download, name="trace-download"),
]
