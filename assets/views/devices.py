"""The Device Assets table: filters, sorting, keyset pages, status summary, enable/disable switch."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.errors import DomainError

from .. import services
from ..access import get_device_for
from ..forms import DeviceFilterForm, DeviceForm, format_tags
from ..models import Device, Product
from ..queries import DEFAULT_SORT, BadFilter, filter_devices, keyset_page
from .common import can_write, console_view, current_ou, report


@console_view
def device_list(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    products = list(Product.objects.in_ou(ou).only("product_key", "name").order_by("name"))
    form = DeviceFilterForm(request.GET or None, products=products)
    params = form.cleaned_data if form.is_valid() else {}
    base = Device.objects.visible_to(request.user).filter(ou=ou)
    filters = {
        "product_key": params.get("product") or "",
        "status": params.get("status") or "",
        "asset_type": params.get("type") or "",
        "tag": params.get("tag") or "",
        "search": params.get("q") or "",
    }
    summary = base.status_counts()
    page = None
    try:
        filtered = filter_devices(base, **filters)
        page = keyset_page(
            filtered.select_related("product"),
            sort=params.get("sort") or DEFAULT_SORT,
            size=params.get("size") or 20,
            after=request.GET.get("after", ""),
            before=request.GET.get("before", ""),
        )
        narrowing = {name for name, value in filters.items() if value}
        if not narrowing:
            matching = summary["total"]
        elif narrowing == {"status"}:
            matching = summary[filters["status"]]  # the summary already counted it
        else:
            matching = filtered.count()
    except BadFilter as error:
        messages.error(request, str(error))
        matching = 0
    query = request.GET.copy()
    for key in ("after", "before", "sort"):
        query.pop(key, None)
    context = {
        "form": form,
        "page": page,
        "summary": summary,
        "matching": matching,
        "writable": can_write(request),
        "query": query.urlencode(),
        "sort": params.get("sort") or DEFAULT_SORT,
    }
    template = "assets/_device_table.html" if request.htmx and request.htmx.target == "device-table" \
        else "assets/device_list.html"
    return TemplateResponse(request, template, context)


@console_view
@require_POST
def device_toggle(request: HttpRequest, asset_id: str) -> HttpResponse:
    """The Enable/Disable switch: answers the re-rendered table row for htmx."""
    device, _ = get_device_for(request.user, asset_id, write=True)
    try:
        if device.enabled:
            services.disable_device(request.user, device)
        else:
            services.enable_device(request.user, device)
    except DomainError as error:
        report(request, error)
        device.refresh_from_db()
    if not request.htmx:
        return redirect(request.POST.get("next") or "assets:device-list")
    return render(request, "assets/_device_row.html", {"device": device, "writable": True, "oob_messages": True})


def _device_form(request: HttpRequest, device: Device | None) -> tuple[DeviceForm, list[Product]]:
    ou = current_ou(request)
    products = list(Product.objects.in_ou(ou).select_related("model").order_by("name"))
    if device is not None:
        model = device.product.model
    else:
        chosen = request.POST.get("product") or request.GET.get("product")
        product = next((p for p in products if p.product_key == chosen), products[0] if products else None)
        model = product.model if product else None
    initial = {}
    if device is not None:
        initial = {"name": device.name, "device_key": device.device_key, "description": device.description,
                   "timezone": device.timezone, "tags": format_tags(device.tags),
                   **{f"attr_{k}": v for k, v in device.attributes.items()}}
    elif request.GET.get("product"):
        initial = {"product": request.GET["product"]}
    data = request.POST if request.method == "POST" and "save" in request.POST else None
    return DeviceForm(data, initial=initial, products=products, model=model, editing=device is not None), products


@console_view
def device_create(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    if not can_write(request):
        return render(request, "assets/read_only.html", status=403)
    form, products = _device_form(request, None)
    if form.is_bound and form.is_valid():
        product = next(p for p in products if p.product_key == form.cleaned_data["product"])
        data = form.cleaned_data
        try:
            device = services.create_device(
                request.user, ou, product, name=data["name"], device_key=data["device_key"] or None,
                description=data["description"], timezone=data["timezone"], attributes=data["attributes"],
                tags=data["tags"],
            )
        except DomainError as error:
            _attach(form, error)
        else:
            messages.success(request, f"Device {device.name} created.")
            return redirect("assets:device-detail", asset_id=device.asset_id)
    template = "assets/_device_form_fields.html" if request.htmx else "assets/device_form.html"
    return render(request, template, {"form": form, "device": None, "products": products})


@console_view
def device_edit(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, _ = get_device_for(request.user, asset_id, write=True)
    form, _ = _device_form(request, device)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_device(request.user, device, name=data["name"], description=data["description"],
                                   timezone=data["timezone"], attributes=data["attributes"], tags=data["tags"])
        except DomainError as error:
            _attach(form, error)
        else:
            messages.success(request, f"Device {device.name} saved.")
            return redirect("assets:device-detail", asset_id=device.asset_id)
    return render(request, "assets/device_form.html", {"form": form, "device": device})


@console_view
def device_delete(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, _ = get_device_for(request.user, asset_id, write=True)
    if request.method == "POST":
        try:
            services.delete_device(request.user, device)
        except DomainError as error:
            report(request, error)
            return redirect("assets:device-detail", asset_id=asset_id)
        messages.success(request, f"Device {device.name} deleted.")
        return redirect(reverse("assets:device-list"))
    return render(request, "assets/confirm_delete.html", {"object": device, "kind": "device",
                                                          "cancel": reverse("assets:device-detail",
                                                                            args=[asset_id])})


FIELD_NAMES = {"device_key": "device_key", "deviceKey": "device_key", "name": "name", "timezone": "timezone",
               "description": "description", "tags": "tags"}


def _attach(form: DeviceForm, error: DomainError) -> None:
    """Show a service's refusal next to the field it concerns, or above the form."""
    if not error.details:
        form.add_error(None, error.message)
        return
    for field, problems in error.details.items():
        target = FIELD_NAMES.get(field)
        if field == "attributes":
            target = None
        for problem in problems:
            form.add_error(target if target in form.fields else None, problem)
