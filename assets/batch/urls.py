"""Console routes of batch (included from assets/urls.py, in the assets namespace)."""

urlpatterns: list = []
