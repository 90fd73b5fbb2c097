"""The Device Assets table: filters, sorting, keyset pages, enable/disable switch; and its counts
(the status summary and "N devices match"), a fragment of their own that the page loads after the rows."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST, require_safe

from accounts.errors import DomainError
from accounts.models import OrganizationUnit
from accounts.ous import ous_visible_to
from accounts.time_zones import time_html

from .. import services
from ..access import get_device_for
from ..device_urls import device_url
from ..forms import DeviceFilterForm, DeviceForm, format_tags
from ..models import Device, Product
from ..queries import DEFAULT_SORT, TABLE_COLUMNS, BadFilter, keyset_page
from ..query import Node, QueryContext, QueryError, all_of, compile_node, context_for, parse, shorthands
from ..query.ast import Field
from .common import can_write, confirm_delete, console_view, current_ou, report
from .filter_panel import PANEL_PARAM, FilterPanelForm, panel_redirect

QUERY_HELP = _lazy(
    "Words search name and deviceKey (\"quoted text\" keeps spaces). Fields: status:online|offline|inactive|disabled, "
    "product:<key or name>, model:<modelId>, type:device|gateway|sub_device, gateway:<deviceKey>, name:, key:, "
    "assetId:, tag:key, tag:key=value, tag:key in (a, b), attr:<identifier> = != < <= > >= <value>, "
    "activated / last_online / last_offline < <= > >= 7d, 24h, 30m (that long ago) or 2026-12-01, has:sub_devices. "
    "Combine with AND, OR, NOT and parentheses; terms side by side are ANDed.")

# the query parameters that choose which devices the table holds (sort, size and cursors only page through them)
FILTER_PARAMS = ("q", "product", "status", "type", "tag")


@dataclass
class TableFilters:
    """The filter form as the user filled it, and the one query tree it makes: the select boxes and the tag
    box are shorthands, the search box takes the query language."""

    form: DeviceFilterForm
    params: dict[str, Any]  # the values that are valid: a bad one drops its own filter, never the others
    tree: Node | None  # what the valid values ask, as one query
    context: QueryContext
    query_problems: list[str]  # a search that is not a valid query: the table shows the rest, and says why
    products: list[Product] = dataclasses.field(default_factory=list)  # the OU's, for the select boxes and the panel

    @property
    def problems(self) -> list[str]:
        """What is wrong with the values the table ignores, one line per value."""
        return self.form.problems() + self.query_problems

    @property
    def query(self) -> str:
        """The filters alone, as a query string (what the counts fragment needs to count the same rows)."""
        return urlencode({name: self.params[name] for name in FILTER_PARAMS if self.params.get(name)})

    def apply(self, devices: QuerySet[Device]) -> QuerySet[Device]:
        return devices if self.tree is None else devices.filter(compile_node(self.tree, self.context))


def read_filters(request: HttpRequest, ou: OrganizationUnit) -> TableFilters:
    # with their models, in the same query: the filter panel offers the models and their attributes
    products = list(Product.objects.in_ou(ou).select_related("model").only(
        "product_key", "name", "model", "model__model_id", "model__name", "model__attributes").order_by("name"))
    form = DeviceFilterForm(request.GET or None, products=products)
    params: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()
        params = form.cleaned_data  # the fields that validated (Django leaves out the invalid ones)
    product_ids = {product.product_key: product.pk for product in products}
    nodes: list[Node | None] = list(shorthands.console_filters(
        product_id=product_ids.get(params.get("product") or ""), status=params.get("status") or "",
        asset_type=params.get("type") or "", tag_expression=params.get("tag") or ""))
    context = context_for(Device.objects.all(), request.user)
    context.group_ou = ou.pk  # group:<name> is a group of the OU the table shows
    problems: list[str] = []
    if params.get("q"):
        try:
            searched = parse(params["q"])
            if searched is not None:
                compile_node(searched, context)  # a value no model's type fits is found here, not mid-page
            nodes.append(searched)
        except QueryError as error:
            problems.append(_("Search: %(message)s. The other filters apply.") % {"message": error.message})
    return TableFilters(form, params, all_of(nodes), context, problems, products)


def count_matching(devices: QuerySet[Device], table: TableFilters, summary: dict[str, int]) -> int:
    """The devices the filters let through, reusing the status summary where it already counted them."""
    if table.tree is None:
        return summary["total"]
    if isinstance(table.tree, Field) and table.tree.field == "status":
        return summary[str(table.tree.value)]
    return table.apply(devices).count()


def prepare_rows(rows: list[Device]) -> list[Device]:
    """What each table row shows beyond its fields, made in Python rather than by a tag or filter per
    row in the template (the `date` filter alone was ~13% of a 200-row page's rendering)."""
    for device in rows:
        device.detail_url = device_url("assets:device-detail", device.asset_id)
        device.toggle_url = device_url("assets:device-toggle", device.asset_id)
        device.edit_url = device_url("assets:device-edit", device.asset_id)
        device.delete_url = device_url("assets:device-delete", device.asset_id)
        # in the user's zone; the columns' headers name it
        device.created_label = time_html(device.created_at, "table")
        device.last_online_label = time_html(device.last_online_at, "table")
    return rows


def same_filters(request: HttpRequest) -> bool:
    """Whether an htmx swap of the table keeps the filters the page shows counts for: paging and
    sorting do, so they need no new count. The browser's URL (pushed on every swap) holds them."""
    current = request.htmx.current_url if request.htmx else None
    if not current:
        return False
    shown = QueryDict(urlsplit(current).query)
    return all(shown.get(name, "") == request.GET.get(name, "") for name in FILTER_PARAMS)


@console_view
def device_list(request: HttpRequest) -> HttpResponse:
    """The rows only: the counts come from device_counts, requested by the page once the rows are shown."""
    ou = current_ou(request)
    table = read_filters(request, ou)
    panel = None
    if not (request.htmx and request.htmx.target == "device-table"):
        panel = FilterPanelForm(request.GET if PANEL_PARAM in request.GET else None, products=table.products)
        if panel.is_bound and panel.is_valid() and request.resolver_match.url_name == "device-list":
            return panel_redirect(panel)  # the search box shows the query the panel made
    params = table.params
    base = Device.objects.visible_to(request.user).filter(ou=ou)
    page = None
    problems = table.problems
    try:
        page = keyset_page(
            table.apply(base).select_related("product").only(*TABLE_COLUMNS),
            sort=params.get("sort") or DEFAULT_SORT,
            size=params.get("size") or 20,
            after=request.GET.get("after", ""),
            before=request.GET.get("before", ""),
        )
        prepare_rows(page.rows)
    except BadFilter as error:
        problems.append(str(error))
    query = request.GET.copy()
    for key in ("after", "before", "sort"):
        query.pop(key, None)
    partial = bool(request.htmx) and request.htmx.target == "device-table"
    context = {
        "form": table.form,
        "page": page,
        "filter_problems": problems,
        "query_help": QUERY_HELP,
        "panel": panel,
        "writable": can_write(request),
        "query": query.urlencode(),
        "sort": params.get("sort") or DEFAULT_SORT,
        "counts_url": reverse("assets:device-counts", args=[ou.ou_id]) + (f"?{table.query}" if table.query else ""),
        # a swap that changes the filters brings a fresh counts placeholder (out of band), which loads itself
        "recount": partial and not same_filters(request),
        "poll_query": urlencode([("id", device.asset_id) for device in page.rows]) if page else "",
    }
    template = "assets/_device_table.html" if partial else "assets/device_list.html"
    return TemplateResponse(request, template, context)


@login_required
@require_safe
def device_counts(request: HttpRequest, ou_id: str) -> HttpResponse:
    """The status summary of an OU's devices and how many pass the table's filters (the fragment
    the device table loads after its rows). The OU is in the URL, so the counts match the table
    they were asked for even if the user switched OU meanwhile; an OU the user cannot see is 404."""
    ou = get_object_or_404(ous_visible_to(request.user), ou_id=ou_id)
    table = read_filters(request, ou)
    devices = Device.objects.visible_to(request.user).filter(ou=ou)
    summary = devices.status_counts()
    try:
        matching: int | None = count_matching(devices, table, summary)
    except (BadFilter, QueryError):
        matching = None  # the table says what is wrong with the filter
    return render(request, "assets/_device_counts.html", {"summary": summary, "matching": matching})


def recount_url(request: HttpRequest, ou: OrganizationUnit) -> str:
    """The counts fragment's URL for the filters of the page the request came from (its pushed URL)."""
    current = QueryDict(urlsplit(request.htmx.current_url or "").query) if request.htmx else QueryDict()
    from .groups import with_group_query  # a group's page is the table narrowed by its group

    current = with_group_query(request, current)
    query = urlencode({name: current[name] for name in FILTER_PARAMS if current.get(name)})
    return reverse("assets:device-counts", args=[ou.ou_id]) + (f"?{query}" if query else "")


@console_view
@require_POST
def device_toggle(request: HttpRequest, asset_id: str) -> HttpResponse:
    """The Enable/Disable switch, in the table (answers the re-rendered row and a fresh status summary) or
    on the details page (answers the status and switch there: hx-target device-state)."""
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
        return redirect("assets:device-list")  # never to a URL taken from the request
    if request.htmx.target == "device-state":
        return render(request, "assets/_device_state.html", {"device": device, "writable": True,
                                                             "oob_messages": True})
    # the summary counted the device under its old status: a placeholder (out of band) counts again
    return render(request, "assets/_device_rows.html", {
        "rows": prepare_rows([device]), "writable": True, "oob_messages": True,
        "recount_after_toggle": True, "counts_url": recount_url(request, device.ou)})


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
        # the Product select reloads the fields for the new product's model, sending what was typed:
        # it stays (the attributes the new model shares included), shown as typed, not yet validated
        initial = {name: request.GET[name] for name in request.GET}
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
            messages.success(request, gettext("Device %(name)s created.") % {"name": device.name})
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
            messages.success(request, gettext("Device %(name)s saved.") % {"name": device.name})
            return redirect("assets:device-detail", asset_id=device.asset_id)
    return render(request, "assets/device_form.html", {"form": form, "device": device})


@console_view
def device_delete(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, _ = get_device_for(request.user, asset_id, write=True)
    return confirm_delete(request, device, "device", services.delete_device,
                          reverse("assets:device-detail", args=[asset_id]), reverse("assets:device-list"))


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
