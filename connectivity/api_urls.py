"""API routes of connectivity (included from enos_portal/api_urls.py)."""

urlpatterns: list = []
