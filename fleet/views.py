"""Jobs in the console: the list, the form that starts one (from the device table's selection, the table's
current search, or a group), a job's page with its live progress and per-device outcomes, export and cancel."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from accounts.errors import DomainError
from accounts.permissions import CHANGE, can
from assets.migration.services import MAX_DEVICES_PER_REQUEST
from assets.migration.views import start_page as migration_start_page
from assets.models import Device, DeviceGroup
from assets.views.common import can_write, console_view, current_ou

from . import services
from .forms import JobForm
from .models import ExecutionState, Job, SelectionKind
from .outcomes import csv_response, progress_percent, with_counts

OUTCOMES_PAGE = 50
LIST_PAGE = 25


def get_job_for(user: object, public_id: str, *, write: bool = False) -> tuple[Job, bool]:
    """The job if the user sees its OU (else 404), and whether they may change it."""
    job = get_object_or_404(Job.objects.visible_to(user).select_related("ou", "created_by"), public_id=public_id)
    writable = can(user, CHANGE, job.ou_id)
    if write and not writable:
        raise PermissionDenied(_("You have read access only: write access to Asset Management is needed."))
    return job, writable


def filters_as_query(params: dict[str, str]) -> str:
    """The device table's search box and filters as one query of the query language."""
    parts = []
    if params.get("q", "").strip():
        parts.append(f"({params['q'].strip()})")
    if params.get("product"):
        parts.append(f'product:"{params["product"]}"')
    if params.get("status"):
        parts.append(f"status:{params['status']}")
    if params.get("type"):
        parts.append(f"type:{params['type']}")
    tag = params.get("tag", "").strip()
    if tag:
        key, _sep, value = tag.partition(":")
        parts.append(f'tag:{key}="{value}"' if _sep else f"tag:{key}")
    return " AND ".join(parts)


@console_view
@require_safe
def job_list(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    jobs = Job.objects.visible_to(request.user).filter(ou=ou).select_related("created_by")
    page = Paginator(jobs, LIST_PAGE).get_page(request.GET.get("page"))
    rows = with_counts(list(page.object_list))
    for job in rows:
        job.percent = progress_percent(job)
    return render(request, "fleet/job_list.html", {"page": page, "jobs": rows, "writable": can_write(request)})


def _selection_of(request: HttpRequest) -> list[str]:
    source = request.POST if request.method == "POST" else request.GET
    return [a for a in source.getlist("asset_ids") if a][:10_000]


def _selection_kind(request: HttpRequest, ou: object, asset_ids: list[str],
                    group_id: str) -> tuple[str, DeviceGroup | None]:
    """What the job form selects: its rows, else the group chosen (None when not one of the OU's), else the query."""
    if asset_ids:
        return SelectionKind.DEVICES, None
    if group_id:
        group = (DeviceGroup.objects.visible_to(request.user).filter(ou=ou, pk=group_id).first()
                 if group_id.isdigit() else None)
        return SelectionKind.GROUP, group
    return SelectionKind.QUERY, None


def _form_page(request: HttpRequest, ou: object, form: JobForm, asset_ids: list[str],
               selection_error: str = "") -> HttpResponse:
    selected = list(Device.objects.visible_to(request.user).filter(ou=ou, asset_id__in=asset_ids)
                    .only("asset_id", "device_key")[:11]) if asset_ids else []
    return render(request, "fleet/job_form.html", {
        "form": form, "asset_ids": asset_ids, "selected": selected[:10], "more_selected": len(asset_ids) - 10,
        "selection_error": selection_error, "migrate_maximum": MAX_DEVICES_PER_REQUEST})


def _new_form(request: HttpRequest, ou: object, asset_ids: list[str], *, bound: bool = True) -> JobForm:
    """The job form: bound to a POST, else opened on the device table's search (GET) or the selection posted."""
    source = request.POST if request.method == "POST" else request.GET
    group_choices = list(DeviceGroup.objects.visible_to(request.user).filter(ou=ou).values_list("pk", "name"))
    initial = {"query": source.get("query") or ("" if asset_ids else filters_as_query(source)),
               "group": source.get("group", "")}
    return JobForm(request.POST if bound and request.method == "POST" else None, initial=initial,
                   groups=group_choices)


@console_view
def job_create(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    if not can_write(request):
        return render(request, "assets/read_only.html", status=403)
    if request.htmx and request.method == "GET":
        # asked from the device table's selection form (an htmx form): open the form as a page
        return HttpResponseClientRedirect(f"{reverse('fleet:job-create')}?{request.GET.urlencode()}")
    asset_ids = _selection_of(request)
    form = _new_form(request, ou, asset_ids)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            kind, group = _selection_kind(request, ou, asset_ids, str(data["group"] or ""))
            job = services.start_job(request.user, ou, action=data["action"], params=form.params(),
                                     selection_kind=kind, asset_ids=asset_ids, query=data["query"], group=group,
                                     **form.rollout())
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        except ValidationError as error:  # a JSON field form.params() could not read
            form.add_error(None, error)
        else:
            messages.success(request, _("Job %(job)s started on %(count)d devices.") % {
                "job": job.public_id, "count": job.total})
            return redirect("fleet:job-detail", public_id=job.public_id)
    return _form_page(request, ou, form, asset_ids)


@console_view
@require_POST
def job_migrate(request: HttpRequest) -> HttpResponse:
    """The job form's *Migrate…*: its selection (rows, the query or a group) handed to the Move flow, which asks
    the target OU owner's SMS code (assets.migration); at most the flow's number of devices at once."""
    ou = current_ou(request)
    if not can_write(request):
        return render(request, "assets/read_only.html", status=403)
    asset_ids = _selection_of(request)
    try:
        kind, group = _selection_kind(request, ou, asset_ids, request.POST.get("group", "").strip())
        devices = services.select_devices(request.user, ou, kind, asset_ids=asset_ids,
                                          query=request.POST.get("query", ""), group=group)
        chosen = list(devices.order_by("pk").values_list("asset_id", flat=True)[:MAX_DEVICES_PER_REQUEST + 1])
        if not chosen:
            raise DomainError(_("No device you may change matches this selection."), code="no_devices")
        if len(chosen) > MAX_DEVICES_PER_REQUEST:
            raise DomainError(_("At most %(maximum)d devices can be migrated at once: narrow the selection.")
                              % {"maximum": MAX_DEVICES_PER_REQUEST}, code="too_many_devices")
    except DomainError as error:
        return _form_page(request, ou, _new_form(request, ou, asset_ids, bound=False), asset_ids, error.message)
    return migration_start_page(request, chosen)


def _progress_context(job: Job) -> dict[str, object]:
    with_counts([job])
    return {"job": job, "counts": job.counts, "percent": progress_percent(job),
            "finished": job.counts[ExecutionState.DONE] + job.counts[ExecutionState.FAILED]
            + job.counts[ExecutionState.SKIPPED] + job.counts[ExecutionState.CANCELLED]}


@console_view
@require_safe
def job_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    job, writable = get_job_for(request.user, public_id)
    state = request.GET.get("state", "")
    executions = job.executions.order_by("id")
    if state in ExecutionState.values:
        executions = executions.filter(state=state)
    after = request.GET.get("after", "")
    if after.isdigit():
        executions = executions.filter(id__gt=int(after))
    rows = list(executions[:OUTCOMES_PAGE + 1])
    more = len(rows) > OUTCOMES_PAGE
    rows = rows[:OUTCOMES_PAGE]
    context = {"job": job, "writable": writable, "rows": rows, "state": state, "states": ExecutionState.choices,
               "next_after": rows[-1].pk if more else None}
    if request.htmx and request.htmx.target == "job-outcome-rows":
        # polled while the job runs: the outcomes table alone, same filter and page (it stops once the job ended)
        return render(request, "fleet/_outcomes.html", context)
    context.update(_progress_context(job), params=json.dumps(job.params, ensure_ascii=False) if job.params else "")
    return render(request, "fleet/job_detail.html", context)


@console_view
@require_safe
def job_progress(request: HttpRequest, public_id: str) -> HttpResponse:
    job, writable = get_job_for(request.user, public_id)
    return render(request, "fleet/_progress.html", {**_progress_context(job), "writable": writable})


@console_view
@require_POST
def job_cancel(request: HttpRequest, public_id: str) -> HttpResponse:
    job, _writable = get_job_for(request.user, public_id, write=True)
    try:
        services.cancel_job(request.user, job)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Job %(job)s cancelled.") % {"job": job.public_id})
    return redirect("fleet:job-detail", public_id=job.public_id)


@console_view
@require_safe
def job_export(request: HttpRequest, public_id: str) -> HttpResponse:
    job, _writable = get_job_for(request.user, public_id)
    return csv_response(job)
