"""Websocket routes of every app, gathered in one list for the ASGI router."""

from connectivity.routing import websocket_urlpatterns as connectivity_routes
from tracing.routing import websocket_urlpatterns as tracing_routes

websocket_urlpatterns: list = [*connectivity_routes, *tracing_routes]
