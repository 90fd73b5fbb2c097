"""Console routes of migration (included from assets/urls.py, in the assets namespace)."""

urlpatterns: list = []
