"""The console's Export: the device table's filters as they are shown, at once (small) or as a job whose page
follows its progress (htmx polling) and offers the file. Jobs of OUs the user cannot see are 404."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.errors import DomainError
from accounts.models import OrganizationUnit

from ..models import Device
from ..views.common import console_view, current_ou
from ..views.devices import FILTER_PARAMS
from . import services
from .models import ExportFormat, ExportJob, ExportStatus
from .writers import CSV_CONTENT_TYPE, ZIP_CONTENT_TYPE, csv_chunks


def describe(params: dict[str, str]) -> str:
    """The filters as one line for the audit log and the job page: `q status=offline`."""
    parts = [params["q"]] if params.get("q") else []
    parts += [f"{name}={params[name]}" for name in FILTER_PARAMS if name != "q" and params.get(name)]
    return " ".join(parts)


def download_response(actor: Any, ou: OrganizationUnit, devices: QuerySet[Device], fmt: str, query: str,
                      total: int) -> HttpResponse:
    """A small export, now: the zip written to a temporary file (removed when sent), the CSV streamed."""
    filename = services.export_filename(fmt)
    if fmt == ExportFormat.CSV:
        services.record_export(actor, ou, query, fmt, total)
        response: HttpResponse = StreamingHttpResponse(csv_chunks(devices), content_type=CSV_CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    spool = tempfile.TemporaryFile(prefix="export-")  # noqa: SIM115 - FileResponse closes (and so removes) it
    count = services.write_export(devices, fmt, spool)
    services.record_export(actor, ou, query, fmt, count)
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=filename, content_type=ZIP_CONTENT_TYPE)


@console_view
@require_GET
def export(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    params = {name: request.GET.get(name, "") for name in FILTER_PARAMS}
    fmt = request.GET.get("format") or ExportFormat.XLSX
    try:
        services.check_format(fmt)
        devices = services.console_devices(request.user, ou, params)
        total = devices.count()
    except DomainError as error:
        messages.error(request, _("Export: %(message)s") % {"message": error.message})
        shown = urlencode({name: value for name, value in params.items() if value})
        return redirect(reverse("assets:device-list") + (f"?{shown}" if shown else ""))
    if services.is_big(total):
        job = services.start_job(request.user, ou, source=services.CONSOLE,
                                 params={k: v for k, v in params.items() if v}, query=describe(params), fmt=fmt,
                                 total=total)
        return redirect("assets:export-job", pk=job.pk)
    return download_response(request.user, ou, devices, fmt, describe(params), total)


def _job_for(request: HttpRequest, pk: int) -> ExportJob:
    return get_object_or_404(ExportJob.objects.visible_to(request.user).select_related("ou", "requested_by"), pk=pk)


@console_view
@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_for(request, pk)
    context = {"job": job, "running": job.status == ExportStatus.RUNNING, "downloadable": services.downloadable(job)}
    if request.htmx and request.htmx.target == "export-status":
        return TemplateResponse(request, "assets/export/_status.html", context)
    return TemplateResponse(request, "assets/export/job.html", context)


def job_file(job: ExportJob) -> FileResponse:
    if not services.downloadable(job):
        raise Http404(_("This export has no file (yet, or any more)."))
    content_type = ZIP_CONTENT_TYPE if job.format == ExportFormat.XLSX else CSV_CONTENT_TYPE
    return FileResponse(Path(job.file_path).open("rb"), as_attachment=True, filename=job.filename,
                        content_type=content_type)


@console_view
@require_GET
def job_download(request: HttpRequest, pk: int) -> HttpResponse:
    return job_file(_job_for(request, pk))
