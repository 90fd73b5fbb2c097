"""API routes of tracing (included from enos_portal/api_urls.py)."""

urlpatterns: list = []
