"""Device groups in the console: the list (device counts per group), the form (static or dynamic, the query
checked live), a group's page (its devices in the device table, with its status counts), delete, and adding
or removing a static group's devices by deviceKey or assetId."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import forms
from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from accounts.errors import DomainError

from .. import groups
from ..access import get_group_for
from ..models import Device, DeviceGroup, GroupKind
from ..query import QueryError
from .common import can_write, console_view, current_ou, report
from .devices import QUERY_HELP, device_list

SEPARATORS = re.compile(r"[\s,;]+")


class GroupForm(forms.Form):
    name = forms.CharField(label=_lazy("Name"), max_length=100)
    kind = forms.ChoiceField(label=_lazy("Kind"), choices=GroupKind.choices, initial=GroupKind.DYNAMIC,
                             widget=forms.RadioSelect)
    description = forms.CharField(label=_lazy("Description"), max_length=500, required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    query = forms.CharField(label=_lazy("Query (dynamic group)"), required=False,
                            widget=forms.TextInput(attrs={"class": "mono"}))
    devices = forms.CharField(label=_lazy("Devices (static group): deviceKeys or assetIds"), required=False,
                              widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}))


def named_devices(request: HttpRequest, group: DeviceGroup, text: str) -> list[Device]:
    """The group's OU's devices named by deviceKey or assetId (spaces, commas or lines between them)."""
    names = [name for name in SEPARATORS.split(text or "") if name]
    if not names:
        raise DomainError(_("Name at least one device by its deviceKey or assetId."), field="devices")
    found = list(Device.objects.visible_to(request.user).filter(Q(device_key__in=names) | Q(asset_id__in=names))
                 .filter(ou_id=group.ou_id))
    known = {d.device_key for d in found} | {d.asset_id for d in found}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise DomainError(ngettext("No device %(names)s in this OU.", "No devices %(names)s in this OU.",
                                   len(unknown)) % {"names": ", ".join(unknown[:10])}, field="devices")
    return found


@console_view
@require_safe
def group_list(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    found = groups.groups_with_counts(request.user, list(DeviceGroup.objects.visible_to(request.user).filter(ou=ou)))
    return render(request, "assets/groups/group_list.html", {"groups": found, "writable": can_write(request)})


@console_view
@require_safe
def group_query_check(request: HttpRequest) -> HttpResponse:
    """The form's live check of a dynamic group's query: the query language's message, or how many match."""
    ou = current_ou(request)
    group = None
    if request.GET.get("group", "").isdigit():
        group = DeviceGroup.objects.visible_to(request.user).filter(pk=request.GET["group"], ou=ou).first()
    text = request.GET.get("query", "")
    problem, matching = "", None
    if text.strip():
        try:
            checked = groups.check_query(request.user, ou, text, group)
            probe = DeviceGroup(ou=ou, kind=GroupKind.DYNAMIC, query=checked, name=group.name if group else "")
            probe.pk = group.pk if group else None
            matching = groups.group_devices(request.user, probe).count()
        except (DomainError, QueryError) as error:
            problem = error.message
    return render(request, "assets/groups/_query_check.html", {"problem": problem, "matching": matching})


def _form_page(request: HttpRequest, form: GroupForm, group: DeviceGroup | None) -> HttpResponse:
    return render(request, "assets/groups/group_form.html", {"form": form, "group": group, "query_help": QUERY_HELP})


def _attach(form: GroupForm, error: DomainError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


@console_view
def group_create(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    if not can_write(request):
        return render(request, "assets/read_only.html", status=403)
    initial = {"query": request.GET.get("query", ""), "devices": " ".join(request.GET.getlist("asset_ids"))}
    if initial["devices"]:
        initial["kind"] = GroupKind.STATIC
    form = GroupForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                group = groups.create_group(request.user, ou, name=data["name"], kind=data["kind"],
                                            description=data["description"], query=data["query"])
                if group.kind == GroupKind.STATIC and data["devices"].strip():
                    groups.add_group_devices(request.user, group, named_devices(request, group, data["devices"]))
        except DomainError as error:
            _attach(form, error)
        else:
            messages.success(request, _("Group %(name)s created.") % {"name": group.name})
            return redirect("assets:group-detail", pk=group.pk)
    return _form_page(request, form, None)


@console_view
def group_edit(request: HttpRequest, pk: int) -> HttpResponse:
    group, _writable = get_group_for(request.user, pk, write=True)
    initial = {"name": group.name, "kind": group.kind, "description": group.description, "query": group.query}
    form = GroupForm(request.POST if request.method == "POST" else None, initial=initial)
    form.fields["kind"].disabled = True  # a group keeps its kind
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        changes = {"name": data["name"], "description": data["description"]}
        if group.is_dynamic:
            changes["query"] = data["query"]
        try:
            groups.update_group(request.user, group, **changes)
        except DomainError as error:
            _attach(form, error)
            group.refresh_from_db()
        else:
            messages.success(request, _("Group %(name)s saved.") % {"name": group.name})
            return redirect("assets:group-detail", pk=group.pk)
    return _form_page(request, form, group)


@console_view
def group_delete(request: HttpRequest, pk: int) -> HttpResponse:
    group, _writable = get_group_for(request.user, pk, write=True)
    detail = reverse("assets:group-detail", args=[group.pk])
    if request.method == "POST":
        try:
            groups.delete_group(request.user, group)
        except DomainError as error:
            report(request, error)
            return redirect(detail)
        messages.success(request, _("Group %(name)s deleted.") % {"name": group.name})
        return redirect("assets:group-list")
    refusal = ""
    names = groups.referring_groups(group)
    if names:
        refusal = _("The queries of %(groups)s use this group: change them first.") % {
            "groups": ", ".join(f'"{name}"' for name in names)}
    return render(request, "assets/groups/group_delete.html", {"group": group, "cancel": detail, "refusal": refusal})


@console_view
@require_safe
def group_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The device table (rows, counts, paging, sorting) narrowed to the group by the query `group:"name"`."""
    group, writable = get_group_for(request.user, pk)
    request._current_ou = group.ou  # the table of this page is the group's OU (accounts.ous.current_ou)
    query = request.GET.copy()
    query["q"] = group.reference
    request.GET = query
    response = device_list(request)
    if not isinstance(response, TemplateResponse) or response.template_name != "assets/device_list.html":
        return response  # a swap of the table
    response.template_name = "assets/groups/group_detail.html"
    try:
        group_counts = groups.group_devices(request.user, group).status_counts()
    except QueryError:
        group_counts = None  # the table says what is wrong with the group's query
    response.context_data.update({"group": group, "writable": writable, "group_counts": group_counts})
    return response


def with_group_query(request: HttpRequest, params: QueryDict) -> QueryDict:
    """`params` of the page an htmx request came from, with `q=group:"name"` when that page is a group's (whose
    URL does not say it): a toggle there recounts the group's devices, not the OU's."""
    try:
        match = resolve(urlsplit(request.htmx.current_url or "").path) if request.htmx else None
    except Resolver404:
        return params
    if match is None or match.view_name != "assets:group-detail":
        return params
    group = DeviceGroup.objects.visible_to(request.user).filter(pk=match.kwargs["pk"]).first()
    if group is None:
        return params
    params = params.copy()
    params["q"] = group.reference
    return params


@console_view
@require_POST
def group_devices_add(request: HttpRequest, pk: int) -> HttpResponse:
    group, _writable = get_group_for(request.user, pk, write=True)
    try:
        added = groups.add_group_devices(request.user, group, named_devices(request, group,
                                                                            request.POST.get("devices", "")))
    except DomainError as error:
        report(request, error)
    else:
        messages.success(request, ngettext("%(count)d device added.", "%(count)d devices added.", added) % {
            "count": added})
    return redirect("assets:group-detail", pk=group.pk)


@console_view
@require_POST
def group_devices_remove(request: HttpRequest, pk: int) -> HttpResponse:
    group, _writable = get_group_for(request.user, pk, write=True)
    asset_ids = " ".join(request.POST.getlist("asset_ids")) or request.POST.get("devices", "")
    try:
        removed = groups.remove_group_devices(request.user, group, named_devices(request, group, asset_ids))
    except DomainError as error:
        report(request, error)
    else:
        messages.success(request, ngettext("%(count)d device removed.", "%(count)d devices removed.", removed) % {
            "count": removed})
    return redirect("assets:group-detail", pk=group.pk)


@console_view
def group_add_selection(request: HttpRequest) -> HttpResponse:
    """"Add selected to group" of the device table: the devices ticked (GET, swapped into the table's dialog
    area by htmx, or as a page), then a static group of the OU to add them to (POST)."""
    ou = current_ou(request)
    if not can_write(request):
        return render(request, "assets/read_only.html", status=403)
    source = request.POST if request.method == "POST" else request.GET
    asset_ids = list(dict.fromkeys(a for a in source.getlist("asset_ids") if a))
    devices = list(Device.objects.writable_by(request.user).filter(ou=ou, asset_id__in=asset_ids))
    static = list(DeviceGroup.objects.writable_by(request.user).filter(ou=ou, kind=GroupKind.STATIC))
    error = "" if devices else _("Select at least one device in the table.")
    if request.method == "POST" and devices:
        group = next((g for g in static if str(g.pk) == request.POST.get("group")), None)
        if group is None:
            error = _("Choose a static group of this OU.")
        else:
            try:
                added = groups.add_group_devices(request.user, group, devices)
            except DomainError as problem:
                error = problem.message
            else:
                messages.success(request, ngettext("%(count)d device added to %(name)s.",
                                                   "%(count)d devices added to %(name)s.", added) % {
                    "count": added, "name": group.name})
                return redirect("assets:group-detail", pk=group.pk)
    context = {"devices": devices, "groups": static, "error": error, "as_page": not request.htmx,
               "create_query": "&".join(f"asset_ids={d.asset_id}" for d in devices)}
    template = "assets/groups/_add_selection.html" if request.htmx else "assets/groups/add_selection.html"
    return render(request, template, context)
