"""API routes of migration (included from enos_portal/api_urls.py)."""

urlpatterns: list = []
