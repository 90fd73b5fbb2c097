from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .audit import new_request_id, request_id_var
from .time_zones import zone_for


class RequestIdMiddleware:
    """Give every request an id (or keep the caller's X-Request-ID) for the audit log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.headers.get("X-Request-ID", "")[:36] or new_request_id()
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


API_PREFIX = "/api/"  # enos_portal/urls.py


class TimeZoneMiddleware:
    """Render the request's times in the user's zone: their profile setting, else the browser's (the
    `tz` cookie portal/times.js sets), else UTC. After AuthenticationMiddleware (it reads the user)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            # DRF renders datetimes in the active zone: the API stays ISO 8601 UTC whoever calls it
            return self.get_response(request)
        zone = zone_for(getattr(request, "user", None), request.COOKIES)
        request.time_zone = zone  # type: ignore[attr-defined]  # base.html tells times.js
        with timezone.override(zone.name):
            return self.get_response(request)
