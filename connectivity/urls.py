"""Console routes of connectivity."""

urlpatterns: list = []
