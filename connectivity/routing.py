"""Websocket routes of connectivity (gathered by enos_portal/routing.py)."""

websocket_urlpatterns: list = []
