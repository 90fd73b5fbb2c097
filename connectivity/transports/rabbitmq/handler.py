"""The broker's auth calls served past Django's middleware stack (enos_portal/asgi.py routes them here).

RabbitMQ asks once per CONNECT, vhost, resource and topic: a POST answered `allow`/`deny`, which needs no
session, user, CSRF token, locale, CSP header or request id. The URL routing and the views are the
portal's own (auth.py guards them: the caller's address and the secret in the path).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

BROKER_AUTH_PREFIX = "/api/rabbitmq/auth/"  # connectivity/api_urls.py under enos_portal/urls.py's api/
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
Asgi = Callable[[dict, Receive, Send], Awaitable[None]]


class WithoutMiddleware:
    """A Django handler (mixed into one) whose chain is the view alone."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        get_response = self._get_response_async if is_async else self._get_response  # type: ignore[attr-defined]
        self._middleware_chain = convert_exception_to_response(get_response)


class BrokerAuthHandler(WithoutMiddleware, ASGIHandler):
    pass


def with_broker_auth(application: Asgi) -> Asgi:
    """`application`, except for the broker's auth calls, which go to a handler without middleware."""
    lean = BrokerAuthHandler()

    async def route(scope: dict, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http" and scope.get("path", "").startswith(BROKER_AUTH_PREFIX):
            await lean(scope, receive, send)
        else:
            await application(scope, receive, send)

    return route
