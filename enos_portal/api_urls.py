"""The REST API under /api/: each app's routes, the schema and its docs page; JSON 404 for the rest."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from .api import not_found

urlpatterns = [
    path("", include("assets.migration.api_urls")),
    path("", include("assets.batch.api_urls")),
    path("", include("assets.export.api_urls")),
    path("", include("tracing.api_urls")),
    path("", include("connectivity.api_urls")),
    path("", include("observability.api_urls")),
    path("", include("fleet.api_urls")),
    path("", include("assets.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # the split view serves Swagger UI's start script as a file (?script), not inline: the CSP allows no inline script
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # last: whatever no route above matched is the API's JSON 404, not the console's HTML page
    re_path(r"^(?P<unmatched>.*)$", not_found, name="api-not-found"),
]
