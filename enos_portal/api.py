"""The API's one error body: {"code", "message", "details": {field: [messages]}}, and its JSON parser.

Also what /api/ answers outside its views: an unknown path is a JSON 404 (not the console's
HTML page), and an unexpected crash a JSON 500, so an integration never has to parse HTML.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.errors import DomainError

NUL = "\x00"


def holds_nul(value: Any) -> bool:
    """Whether a NUL character is anywhere in `value` (a string, or JSON's lists and objects, keys included)."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(holds_nul(item) for item in value)
    return False


class APIJSONParser(JSONParser):
    """The API's bodies: JSON without NUL characters, which PostgreSQL stores in neither text nor jsonb."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if holds_nul(data):
            raise exceptions.ParseError(_("The body holds a NUL character (\\u0000): no field can store one."))
        return data


def _request_holds_nul(context: dict) -> bool:
    request = context.get("request")
    if request is None:
        return False
    return NUL in request.path or holds_nul(dict(request.query_params.lists()))


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's error detail as {field: [messages]}; a nested one (a list item's, a child serializer's)
    under a dotted name such as "identifiers.0"."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                flat.update(_flatten(value, name))
            elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
                for index, item in enumerate(value):
                    if item:  # a ListField of serializers reports {} for the items that were fine
                        flat.update(_flatten(item if isinstance(item, dict) else {index: item}, name))
            else:
                flat[name] = [str(m) for m in (value if isinstance(value, list) else [value])]
        return flat
    if isinstance(detail, list):
        return {prefix or "non_field_errors": [str(m) for m in detail]}
    return {}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"code": exc.code, "message": exc.message, "details": exc.details}, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, SuspiciousOperation):
        # e.g. a form body with more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS: Django's answer is an HTML 400
        exc = exceptions.ParseError(_("The request body was refused: %(reason)s") % {"reason": exc})
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DataError) and _request_holds_nul(context):
        # a NUL in the URL or query reached PostgreSQL, which stores none: the client's mistake, not a crash
        exc = exceptions.ParseError(_("The URL holds a NUL character (%00): no identifier or filter has one."))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        details = _flatten(exc.detail)
        first = next(iter(details.values()), [_("Invalid input.")])[0]
        response.data = {"code": "validation_error", "message": first, "details": details}
        response.status_code = status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "code": codes if isinstance(codes, str) else "error",
            "message": str(exc.detail) if not isinstance(exc.detail, dict | list) else _("Request refused."),
            "details": _flatten(exc.detail) if isinstance(exc.detail, dict | list) else {},
        }
    return response


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "details": {}}


def _view_with_slash(request: HttpRequest) -> bool:
    """Whether the path with a slash appended names a real API view (APPEND_SLASH's question)."""
    if request.path_info.endswith("/"):
        return False
    try:
        match = resolve(f"{request.path_info}/", getattr(request, "urlconf", None))
    except Resolver404:
        return False
    return match.func is not not_found


@csrf_exempt  # it changes nothing: a POST to a wrong URL deserves the 404, not a CSRF page
def not_found(request: HttpRequest, unmatched: str = "") -> HttpResponse:
    """Every /api/ path no route matches. Keeps APPEND_SLASH's redirect for reads; a write to the
    slashless URL is told where to go instead (a redirect would lose its body)."""
    if settings.APPEND_SLASH and _view_with_slash(request):
        if request.method in ("GET", "HEAD"):
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
        message = _("No such API URL: did you mean %(path)s/ (with the trailing slash)?") % {
            "path": request.path}
    else:
        message = _("No such API URL: %(path)s. The list of operations is at /api/schema/.") % {
            "path": request.path}
    return JsonResponse(error_body("not_found", message), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/, the console's page elsewhere."""
    if request.path_info.startswith("/api/"):
        return JsonResponse(error_body("server_error", _("Server error: the request was not completed.")),
                            status=500)
    return defaults.server_error(request)
