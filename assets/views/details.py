"""Device Details: basic info, the triple (secret masked until Reveal), attributes, tags, times."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from .. import services
from ..access import get_device_for
from ..groups import groups_of_device
from .common import console_view


@console_view
def device_detail(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, writable = get_device_for(request.user, asset_id)
    model = device.product.model
    attributes = [(f, device.attributes.get(f["identifier"])) for f in model.attributes]
    return render(request, "assets/device_detail.html", {
        "device": device, "writable": writable, "attributes": attributes, "tab": "info",
        "sub_device_count": device.sub_devices.count() if device.product.is_gateway else 0,
        "device_groups": groups_of_device(request.user, device),
    })


@console_view
@require_POST
def device_reveal_secret(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, _ = get_device_for(request.user, asset_id, write=True)
    secret = services.reveal_secret(request.user, device)
    return render(request, "assets/_secret.html", {"device": device, "secret": secret, "writable": True})


@console_view
@require_POST
def device_reset_secret(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, _ = get_device_for(request.user, asset_id, write=True)
    secret = services.reset_secret(request.user, device)
    if request.htmx:
        return render(request, "assets/_secret.html", {"device": device, "secret": secret, "writable": True,
                                                       "reset": True})
    messages.success(request, gettext("The device secret was reset; the device must use the new one to log in."))
    return redirect("assets:device-detail", asset_id=asset_id)
