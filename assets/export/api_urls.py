"""API routes of export (included from enos_portal/api_urls.py under /api/, before the device routes)."""

from django.urls import path

from . import api

urlpatterns = [
    path("devices/export/", api.ExportView.as_view(), name="api-devices-export"),
    path("exports/<int:pk>/", api.ExportJobView.as_view(), name="api-export"),
    path("exports/<int:pk>/download/", api.ExportDownloadView.as_view(), name="api-export-download"),
]
