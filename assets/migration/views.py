"""The console's Migrate dialog: Move → (gateways: sub-devices too?) → target OU ID → Get Code →
code → final confirmation → the devices leave this OU.

Each step answers an htmx partial swapped into #migrate-dialog (the device table and the details
page hold that container), or a whole page without htmx. Refusals are shown in the dialog: htmx
does not swap error statuses, so a refused step answers 200 with its message; only unseen objects
(404) and read-only users (403) get error statuses, as on every console page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from accounts.errors import AccessDenied, DomainError
from accounts.permissions import CHANGE, can
from accounts.sms import mask_phone
from accounts.throttle import client_ip

from ..models import Device, MigrationRequest, MigrationStatus
from ..views.common import console_view
from . import codes, services

PARTIAL = "assets/migration/_dialog.html"
PAGE = "assets/migration/page.html"


def _render(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    context.setdefault("as_page", not request.htmx)
    return render(request, PARTIAL if request.htmx else PAGE, context)


def _refuse_access(error: DomainError) -> None:
    """Unseen devices or requests are 404 and read-only users 403, as everywhere in the console."""
    if isinstance(error, services.NotFound):
        raise Http404(error.message)
    if isinstance(error, AccessDenied):
        raise PermissionDenied(error.message)


def _selection(request: HttpRequest, asset_ids: list[str]) -> list[Device]:
    devices = services.selected_devices(request.user, asset_ids)
    if not all(can(request.user, CHANGE, d.ou_id) for d in devices):
        raise AccessDenied()
    return devices


def _start_context(devices: list[Device], asset_ids: list[str], **extra: Any) -> dict[str, Any]:
    gateways = [d for d in devices if d.n_sub_devices]
    return {"step": "start", "devices": devices, "asset_ids": asset_ids, "gateways": gateways,
            "sub_device_total": sum(d.n_sub_devices for d in gateways), "include_sub_devices": True, **extra}


def start_page(request: HttpRequest, asset_ids: list[str]) -> HttpResponse:
    """The first step for the chosen devices: from the device table, or from a job form's selection."""
    try:
        devices = _selection(request, asset_ids)
    except DomainError as error:
        _refuse_access(error)
        return _render(request, {"step": "closed", "error": error.message})
    return _render(request, _start_context(devices, asset_ids))


@console_view
@require_http_methods(["GET", "POST"])
def migrate_start(request: HttpRequest) -> HttpResponse:
    """GET: the first step for the chosen devices. POST: *Get Code*."""
    source = request.POST if request.method == "POST" else request.GET
    asset_ids = list(dict.fromkeys(a for a in source.getlist("asset_ids") if a))
    if request.method == "GET":
        return start_page(request, asset_ids)
    try:
        devices = _selection(request, asset_ids)
    except DomainError as error:
        _refuse_access(error)
        return _render(request, {"step": "closed", "error": error.message})
    target_ou_id = request.POST.get("target_ou_id", "").strip()
    include = request.POST.get("include_sub_devices") == "on"
    try:
        migration = services.request_migration(request.user, asset_ids, target_ou_id, include_sub_devices=include,
                                               client_ip=client_ip(request))
    except DomainError as error:
        _refuse_access(error)
        return _render(request, _start_context(devices, asset_ids, error=error.message,
                                               target_ou_id=target_ou_id, include_sub_devices=include))
    return _render(request, _code_context(migration))


def _owned(request: HttpRequest, pk: int) -> MigrationRequest:
    try:
        return services.get_request_for(request.user, pk)
    except services.NotFound:
        raise Http404(gettext("Migration request not found.")) from None


def _code_context(migration: MigrationRequest, **extra: Any) -> dict[str, Any]:
    return {
        "step": "code", "migration": migration, "phone": mask_phone(migration.target_ou.owner.phone),
        "device_count": len(migration.device_ids), "attempts_left": services.attempts_left(migration),
        "delivery_error": migration.result.get("delivery_error"), "code_digits": codes.CODE_DIGITS, **extra,
    }


def _closed_or(migration: MigrationRequest, context: dict[str, Any]) -> dict[str, Any]:
    """A request that can no longer go on shows why, instead of the step's form."""
    if migration.status != MigrationStatus.PENDING:
        message = services.CLOSED_MESSAGES[MigrationStatus(migration.status)][0]
        return {"step": "closed", "migration": migration, "error": migration.result.get("error") or message}
    return context


@console_view
def migrate_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The code step again: polled while the SMS is on its way, and the page without htmx."""
    migration = _owned(request, pk)
    if request.htmx and request.GET.get("part") == "delivery":
        return render(request, "assets/migration/_delivery.html", _code_context(migration))
    return _render(request, _closed_or(migration, _code_context(migration)))


@console_view
@require_POST
def migrate_resend(request: HttpRequest, pk: int) -> HttpResponse:
    migration = _owned(request, pk)
    try:
        migration = services.resend_code(request.user, pk, client_ip=client_ip(request))
    except DomainError as error:
        migration.refresh_from_db()
        return _render(request, _closed_or(migration, _code_context(migration, error=error.message)))
    return _render(request, _code_context(migration, notice=gettext(
        "A new code was sent; the previous one no longer works.")))


@console_view
@require_POST
def migrate_code(request: HttpRequest, pk: int) -> HttpResponse:
    """*OK* after typing the code: check it, then ask for the final confirmation."""
    migration = _owned(request, pk)
    code = request.POST.get("code", "")
    try:
        migration = services.check_code(request.user, pk, code)
    except DomainError as error:
        migration.refresh_from_db()
        return _render(request, _closed_or(migration, _code_context(migration, error=error.message)))
    return _render(request, {"step": "confirm", "migration": migration, "code": codes.normalize_code(code),
                             "device_count": len(migration.device_ids),
                             "sub_device_count": migration.result.get("sub_devices_at_request", 0)})


@console_view
@require_POST
def migrate_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """The final *OK*: the devices move, all of them or none."""
    migration = _owned(request, pk)
    try:
        migration = services.confirm_migration(request.user, pk, request.POST.get("code", ""))
    except DomainError as error:
        # shown in the dialog, even a lost write access: the request is closed and says why
        migration.refresh_from_db()
        return _render(request, _closed_or(migration, _code_context(migration, error=error.message)))
    moved = migration.result.get("moved", 0)
    target = migration.target_ou
    messages.success(request, ngettext("%(count)d device moved to OU %(ou)s (%(ou_id)s).",
                                       "%(count)d devices moved to OU %(ou)s (%(ou_id)s).", moved)
                     % {"count": moved, "ou": target.name, "ou_id": target.ou_id})
    list_url = reverse("assets:device-list")
    if request.htmx:
        # the source no longer sees the devices: leave a details page for the list
        response = HttpResponse()
        response["HX-Redirect"] = list_url
        return response
    return redirect(list_url)
