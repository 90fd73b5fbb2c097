"""Websocket routes of connectivity.

`websocket_urlpatterns` is gathered by enos_portal/routing.py (behind the origin check and the
session auth of browser sockets). Devices send no Origin header and no cookie: they sign their
login. `with_device_sockets` routes the device path around the browser stack; asgi.py should
wrap its websocket application with it.
"""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from django.urls import re_path

from .transports.websocket import DeviceConsumer

DEVICE_PATH = "ws/device/"

device_websocket_urlpatterns = [re_path(r"^ws/device/?$", DeviceConsumer.as_asgi())]

# reachable through the browser stack too (a client that sends an Origin of an allowed host)
websocket_urlpatterns: list = [*device_websocket_urlpatterns]

device_application = URLRouter(device_websocket_urlpatterns)


def with_device_sockets(browser_application: Any) -> Any:
    """The websocket application: the device path straight to devices, everything else to the browser stack."""

    async def application(scope: dict, receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and scope.get("path", "").strip("/") == DEVICE_PATH.strip("/"):
            return await device_application(scope, receive, send)
        return await browser_application(scope, receive, send)

    return application
