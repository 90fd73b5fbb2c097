"""Websocket routes of tracing (gathered by enos_portal/routing.py)."""

from django.urls import path

from .consumers import TraceConsumer

websocket_urlpatterns: list = [
    path("ws/devices/<str:asset_id>/trace/", TraceConsumer.as_asgi()),
]
