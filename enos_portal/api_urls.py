"""The REST API under /api/: each app's routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("assets.migration.api_urls")),
    path("", include("assets.batch.api_urls")),
    path("", include("tracing.api_urls")),
    path("", include("connectivity.api_urls")),
    path("", include("assets.api.urls")),
]
