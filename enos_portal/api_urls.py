"""The REST API under /api/: each app's routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("assets.api.urls")),
]
