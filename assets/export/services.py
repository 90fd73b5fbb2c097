"""Exporting devices: which devices (the console's and the API's own filter code), at once or as a job.

`console_devices` and `api_devices` narrow `Device.objects.visible_to(user)` exactly as the device table
and `GET /api/devices/` do (the same functions read the same parameters), so an export holds what the
user was shown and never a device of another OU. Up to settings.EXPORT_SYNC_MAX devices the caller
writes the file at once (`write_export`); more start an ExportJob that a Celery worker writes
(`run_job`) into settings.EXPORT_DIR, removed after settings.EXPORT_KEEP_HOURS by `expire_jobs`.
Every export is audited ("device.export") with its query, format and count.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import translation
from django.utils.timezone import now
from django.utils.translation import gettext as _

from accounts import audit
from accounts.errors import DomainError
from accounts.models import OrganizationUnit

from ..models import Device
from ..query import QueryError
from .models import ExportFormat, ExportJob, ExportStatus
from .writers import Progress, write_csv, write_xlsx_zip

logger = logging.getLogger(__name__)
CONSOLE, API = "console", "api"


def check_format(fmt: str) -> str:
    if fmt not in ExportFormat.values:
        raise DomainError(_('Format must be "xlsx" or "csv", not "%(format)s".') % {"format": fmt[:20]},
                          code="invalid", field="format")
    return fmt


def console_devices(user: Any, ou: OrganizationUnit, params: dict[str, str]) -> QuerySet[Device]:
    """The device table's rows for these filters (its own read_filters). A filter the table would skip
    is refused here: an export must hold what was asked, not more."""
    from ..views.devices import read_filters

    data = QueryDict(mutable=True)
    data.update({key: value for key, value in params.items() if value})
    table = read_filters(SimpleNamespace(GET=data, user=user), ou)  # type: ignore[arg-type]
    if table.problems:
        raise DomainError(" ".join(str(problem) for problem in table.problems), code="invalid_query", field="query")
    return table.apply(Device.objects.visible_to(user).filter(ou=ou))


def api_devices(user: Any, params: dict[str, Any]) -> tuple[QuerySet[Device], OrganizationUnit]:
    """`GET /api/devices/`'s filters (its DeviceFilter) and the one OU exported: `ou`, or the user's only OU.
    Raises QueryError for a bad query, DomainError for a bad parameter."""
    from accounts.ous import ous_visible_to

    from ..api.filters import DeviceFilter

    data = QueryDict(mutable=True)
    for key, value in params.items():
        data.setlist(key, value if isinstance(value, list) else [value])
    request = SimpleNamespace(user=user)
    queryset = Device.objects.visible_to(user)
    filters = DeviceFilter(data, queryset=queryset, request=request)
    if not filters.is_valid():
        details = {key: [str(m) for m in messages] for key, messages in filters.errors.items()}
        first = next(iter(details.values()))[0]
        raise DomainError(first, code="invalid", details=details)
    ou = filters.form.cleaned_data.get("ou")
    if ou is None:
        visible = list(ous_visible_to(user)[:2])
        if len(visible) != 1:
            raise DomainError(_("Name the OU to export with ou=<ouId>."), code="invalid", field="ou")
        ou = visible[0]
    return filters.filter_queryset(queryset.filter(ou=ou)), ou


def export_filename(fmt: str) -> str:
    return f"devices-{now():%Y%m%d-%H%M%S}.{'zip' if fmt == ExportFormat.XLSX else 'csv'}"


def write_export(devices: QuerySet[Device], fmt: str, target: IO[bytes] | str | Path,
                 progress: Progress | None = None) -> int:
    """The file of `fmt` into `target`; returns the number of devices written."""
    if fmt == ExportFormat.XLSX:
        return write_xlsx_zip(devices, target, progress)
    if isinstance(target, str | Path):
        with open(target, "wb") as out:
            return write_csv(devices, out, progress)
    return write_csv(devices, target, progress)


def record_export(actor: Any, ou: OrganizationUnit, query: str, fmt: str, count: int,
                  job: ExportJob | None = None) -> None:
    audit.record(actor, "device.export", job, ou=ou, object_type="export",
                 object_id=str(job.pk) if job else "", object_repr=_("Device export"),
                 after={"query": query, "format": fmt, "count": count, "job": job.pk if job else None})


def is_big(count: int) -> bool:
    return count > settings.EXPORT_SYNC_MAX


def start_job(actor: Any, ou: OrganizationUnit, *, source: str, params: dict[str, Any], query: str, fmt: str,
              total: int) -> ExportJob:
    """A job for a big export, written by a Celery worker once this transaction commits."""
    from .tasks import run_export

    job = ExportJob.objects.create(
        ou=ou, requested_by=actor if getattr(actor, "is_authenticated", False) else None, source=source,
        query=query[:2000], params=params, format=check_format(fmt), total=total,
        language=translation.get_language() or settings.LANGUAGE_CODE)
    record_export(actor, ou, query, fmt, total, job)
    transaction.on_commit(lambda: run_export.delay(job.pk))
    return job


def job_devices(job: ExportJob, user: Any) -> QuerySet[Device]:
    """The job's devices, read again through the door it came from, with the requester's access of now."""
    if job.source == API:
        devices, ou = api_devices(user, {**job.params, "ou": job.ou.ou_id})
        return devices
    return console_devices(user, job.ou, job.params)


def run_job(job_id: int) -> ExportJob | None:
    """Write the job's file, reporting progress; a failure is kept on the job, in words."""
    job = ExportJob.objects.select_related("ou").filter(pk=job_id, status=ExportStatus.RUNNING).first()
    if job is None:
        return None
    user = get_user_model().objects.filter(pk=job.requested_by_id, is_active=True).first()
    folder = Path(settings.EXPORT_DIR) / str(job.pk)
    try:
        with translation.override(job.language or settings.LANGUAGE_CODE):
            if user is None:
                raise DomainError(_("The user who asked for this export can no longer sign in."))
            devices = job_devices(job, user)
            folder.mkdir(parents=True, exist_ok=True)
            filename = export_filename(job.format)

            def progress(done: int) -> None:
                ExportJob.objects.filter(pk=job.pk).update(progress=done)

            count = write_export(devices, job.format, folder / filename, progress)
        job.status, job.progress, job.filename = ExportStatus.DONE, count, filename
        job.file_path = str(folder / filename)
    except (DomainError, QueryError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        job.status, job.error = ExportStatus.FAILED, getattr(error, "message", str(error))
    except Exception:
        logger.exception("export job %s failed", job.pk)
        shutil.rmtree(folder, ignore_errors=True)
        job.status, job.error = ExportStatus.FAILED, _("The export failed; try again or ask an administrator.")
    job.finished_at = now()
    job.save(update_fields=["status", "progress", "filename", "file_path", "error", "finished_at"])
    return job


def expire_jobs() -> int:
    """Remove the files of exports older than settings.EXPORT_KEEP_HOURS; returns how many expired."""
    cutoff = now() - timedelta(hours=settings.EXPORT_KEEP_HOURS)
    expired = 0
    for job in ExportJob.objects.filter(created_at__lt=cutoff).exclude(status=ExportStatus.EXPIRED):
        shutil.rmtree(Path(settings.EXPORT_DIR) / str(job.pk), ignore_errors=True)
        job.status, job.file_path = ExportStatus.EXPIRED, ""
        job.save(update_fields=["status", "file_path"])
        expired += 1
    return expired


def downloadable(job: ExportJob) -> bool:
    return job.status == ExportStatus.DONE and bool(job.file_path) and Path(job.file_path).is_file()
