"""Console routes of tracing."""

urlpatterns: list = []
