"""Websocket routes of tracing (gathered by enos_portal/routing.py)."""

websocket_urlpatterns: list = []
