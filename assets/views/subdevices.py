"""The Sub-device tab of a gateway: list, New Sub-device (pick eligible devices), remove."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_POST

from accounts.errors import DomainError

from .. import services
from ..access import get_device_for
from ..models import Device
from ..queries import search_devices
from .common import console_view, report

CANDIDATE_LIMIT = 200


def _gateway_for(request: HttpRequest, asset_id: str, *, write: bool = False) -> tuple[Device, bool]:
    device, writable = get_device_for(request.user, asset_id, write=write)
    if not device.product.is_gateway:
        raise Http404(gettext("Only gateway devices have sub-devices."))
    return device, writable


@console_view
def sub_device_tab(request: HttpRequest, asset_id: str) -> HttpResponse:
    gateway, writable = _gateway_for(request, asset_id)
    sub_devices = gateway.sub_devices.select_related("product").order_by("name", "pk")
    return render(request, "assets/device_sub_devices.html", {
        "device": gateway, "writable": writable, "sub_devices": sub_devices, "tab": "sub-devices",
    })


@console_view
def sub_device_candidates(request: HttpRequest, asset_id: str) -> HttpResponse:
    """The New Sub-device picker: Device-type devices of this OU that belong to no gateway."""
    gateway, _ = _gateway_for(request, asset_id, write=True)
    query = request.GET.get("q", "")
    candidates = search_devices(services.sub_device_candidates(gateway), query).select_related("product")
    rows = list(candidates.order_by("name", "pk")[: CANDIDATE_LIMIT + 1])
    return render(request, "assets/_sub_device_candidates.html", {
        "device": gateway, "candidates": rows[:CANDIDATE_LIMIT], "truncated": len(rows) > CANDIDATE_LIMIT,
        "q": query,
    })


def _chosen(request: HttpRequest, gateway: Device) -> list[Device]:
    ids = request.POST.getlist("asset_ids")
    return list(Device.objects.visible_to(request.user).filter(ou=gateway.ou, asset_id__in=ids))


@console_view
@require_POST
def sub_device_add(request: HttpRequest, asset_id: str) -> HttpResponse:
    return _change_sub_devices(request, asset_id, services.add_sub_devices, lambda count, gateway: ngettext(
        "%(count)d sub-device added to %(gateway)s.", "%(count)d sub-devices added to %(gateway)s.", count
    ) % {"count": count, "gateway": gateway})


@console_view
@require_POST
def sub_device_remove(request: HttpRequest, asset_id: str) -> HttpResponse:
    return _change_sub_devices(request, asset_id, services.remove_sub_devices, lambda count, gateway: ngettext(
        "%(count)d sub-device removed from %(gateway)s.", "%(count)d sub-devices removed from %(gateway)s.", count
    ) % {"count": count, "gateway": gateway})


def _change_sub_devices(request: HttpRequest, asset_id: str, change: Callable[[Any, Device, list[Device]], int],
                        done: Callable[[int, str], str]) -> HttpResponse:
    """Add or remove the devices ticked on the tab through `change`; `done` says how many, and to/from which
    gateway."""
    gateway, _ = _gateway_for(request, asset_id, write=True)
    try:
        count = change(request.user, gateway, _chosen(request, gateway))
    except DomainError as error:
        report(request, error)
    else:
        messages.success(request, done(count, gateway.name))
    return redirect("assets:device-sub-devices", asset_id=asset_id)
