"""API routes of batch (included from enos_portal/api_urls.py)."""

urlpatterns: list = []
