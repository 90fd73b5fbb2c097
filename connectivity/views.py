"""Console pages of connectivity: the device's Services tab (issue a command, see the outcome), its
latest data card, live status badges for the Device Assets table, the device's Connectivity tab and the
OU's Connectivity page (devices online over time, the devices that flap the most)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.timezone import now
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.errors import DomainError
from assets.access import get_device_for
from assets.models import Device, Product
from assets.views.common import console_view, current_ou

from . import services
from .forms import measurepoint_set_service, service_form
from .models import CommandInvocation, FlappingDevice, OnlineHour
from .ou_view import axis_top, chart_path, most_flapping, online_series, summary_rows
from .queries import latest_values
from .timeline import DEFAULT_PERIOD, PERIODS, device_records, device_timeline

MAX_STATUS_IDS = 200
SESSIONS_PER_PAGE = 20


@console_view
def device_services(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, writable = get_device_for(request.user, asset_id)
    forms = [(service, service_form(service)) for service in device.product.model.services]
    points = measurepoint_set_service(device.product.model.measurepoints)
    return render(request, "connectivity/device_services.html", {
        "device": device, "writable": writable, "tab": "services", "service_forms": forms,
        "set_form": service_form(points) if points["input"] else None,
        "invocations": CommandInvocation.objects.recent_for(device), "sub_device_count": 0,
    })


def _command_page(request: HttpRequest, device: Any, service: dict | None, identifier: str,
                  send: Callable[[dict], Any]) -> HttpResponse:
    """Run a command from a Services-tab form (a service, or measure point set/get) and show its outcome."""
    form = service_form(service or {"identifier": identifier}, data=request.POST)
    invocation = error = None
    if service is None:
        error = _('"%(identifier)s" is not a service of this device\'s model.') % {"identifier": identifier}
    elif form.is_valid():
        params = {name: value for name, value in form.cleaned_data.items() if value not in ("", None)}
        try:
            invocation = send(params)
        except DomainError as refusal:
            error = refusal.message
            for name, problems in refusal.details.items():
                if name in form.fields:
                    form.add_error(name, problems)
    else:
        error = _("Check the parameters.")
    if request.htmx:
        return render(request, "connectivity/_invocation_result.html", {
            "device": device, "service": service, "form": form, "invocation": invocation, "error": error,
            "invocations": CommandInvocation.objects.recent_for(device) if invocation is not None else ()},
            status=200 if error is None else 400)
    if error:
        messages.error(request, error)
    elif invocation is not None:
        level = messages.SUCCESS if invocation.status in ("ok", "pending") else messages.WARNING
        messages.add_message(request, level, _("%(service)s: %(status)s — %(message)s") % {
            "service": identifier, "status": invocation.get_status_display(), "message": invocation.message})
    return redirect("connectivity:device-services", asset_id=device.asset_id)


@console_view
@require_POST
def device_invoke(request: HttpRequest, asset_id: str, identifier: str) -> HttpResponse:
    device, _writable = get_device_for(request.user, asset_id, write=True)
    service = device.product.model.feature("services", identifier)
    return _command_page(request, device, service, identifier, lambda params: services.invoke_service(
        request.user, device, identifier, params, from_text=True))


@console_view
@require_POST
def device_set_measurepoints(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, _writable = get_device_for(request.user, asset_id, write=True)
    service = measurepoint_set_service(device.product.model.measurepoints)
    return _command_page(request, device, service, service["identifier"], lambda params: services.set_measurepoints(
        request.user, device, params, from_text=True))


@console_view
@require_POST
def device_get_measurepoints(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, _writable = get_device_for(request.user, asset_id, write=True)
    identifiers = [f["identifier"] for f in device.product.model.measurepoints if isinstance(f, dict)]
    service = {"identifier": "measurepoint.get", "input": []}
    return _command_page(request, device, service, service["identifier"], lambda params: services.get_measurepoints(
        request.user, device, identifiers))


@console_view
@require_GET
def device_latest(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, _ = get_device_for(request.user, asset_id)
    return render(request, "connectivity/_latest_data.html", {"device": device, "latest": latest_values(device)})


@console_view
@require_GET
def device_statuses(request: HttpRequest) -> HttpResponse:
    """Out-of-band swaps of the status badges of the devices a table shows (one query for all)."""
    asset_ids = request.GET.getlist("id")[:MAX_STATUS_IDS]
    devices = Device.objects.visible_to(request.user).filter(asset_id__in=asset_ids).only(
        "asset_id", "activated_at", "online")  # and `enabled`, as every device query
    return render(request, "connectivity/_statuses.html", {"devices": devices})


@console_view
@require_GET
def device_connectivity(request: HttpRequest, asset_id: str) -> HttpResponse:
    """The Connectivity tab: online/offline bands over a period, availability per period, the sessions."""
    device, writable = get_device_for(request.user, asset_id)
    period = request.GET.get("period", DEFAULT_PERIOD)
    if period not in PERIODS:
        period = DEFAULT_PERIOD
    timeline = device_timeline(device, period)
    sessions = Paginator(device_records(device).only(
        "started_at", "ended_at", "transport", "client_address", "end_reason", "via_gateway"), SESSIONS_PER_PAGE)
    page = sessions.get_page(request.GET.get("page"))
    periods = [{"name": name, "label": label, "availability": timeline.availability[name]}
               for name, (_length, label) in PERIODS.items()]
    return render(request, "connectivity/device_connectivity.html", {
        "device": device, "writable": writable, "tab": "connectivity", "timeline": timeline,
        "periods": periods, "period": period, "page": page,
    })


def _period(request: HttpRequest) -> str:
    period = request.GET.get("period", DEFAULT_PERIOD)
    return period if period in PERIODS else DEFAULT_PERIOD


@console_view
@require_GET
def ou_connectivity(request: HttpRequest) -> HttpResponse:
    """The current OU's devices online per hour over a period, for the OU or one product (from the hourly
    roll-up), and its most flapping devices: a handful of queries however many devices and sessions."""
    ou = current_ou(request)
    period = _period(request)
    products = list(Product.objects.in_ou(ou).only("product_key", "name").order_by("name", "pk"))
    product = next((p for p in products if p.product_key == request.GET.get("product")), None)
    hours = OnlineHour.objects.visible_to(request.user).filter(ou=ou)
    ranks = FlappingDevice.objects.visible_to(request.user).filter(ou=ou)
    if product is not None:
        hours, ranks = hours.filter(product=product), ranks.filter(product=product)
    series = online_series(hours, period, now())
    top = axis_top(series.peak.devices)
    summary = summary_rows(series)
    periods = [{"name": name, "label": label} for name, (_length, label) in PERIODS.items()]
    return render(request, "connectivity/ou_connectivity.html", {
        "ou": ou, "period": period, "periods": periods, "products": products, "product": product,
        "series": series, "top": top, "half": top / 2, "path": chart_path(series, top),
        "summary": summary, "hourly": len(summary) == len(series.buckets), "flapping": most_flapping(ranks, period),
    })
