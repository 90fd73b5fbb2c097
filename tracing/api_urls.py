"""API routes of tracing (included from enos_portal/api_urls.py)."""

from django.urls import include, path

from .api import views

api_patterns = [
    path("devices/<str:assetId>/traces/", views.DeviceTracesView.as_view(), name="device-traces"),
    path("traces/<int:traceId>/", views.TraceView.as_view(), name="trace"),
    path("traces/<int:traceId>/extend/", views.TraceExtendView.as_view(), name="trace-extend"),
    path("traces/<int:traceId>/stop/", views.TraceStopView.as_view(), name="trace-stop"),
    path("traces/<int:traceId>/logs/", views.TraceLogsView.as_view(), name="trace-logs"),
    path("traces/<int:traceId>/logs.jsonl", views.TraceDownloadView.as_view(), name="trace-download"),
]

urlpatterns = [path("", include((api_patterns, "tracing-api")))]
