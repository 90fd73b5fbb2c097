"""Batch import and update: the domain operations every door (console, API, Celery tasks) calls.

start_batch → parse_job → apply_job. The upload is judged before a job exists (a refused file
leaves nothing behind); parsing writes the valid rows to a side file and the problems to the job;
applying re-checks those rows against the database and writes them in one transaction with one
audit event. Files of more than BATCH_SYNC_ROWS rows are parsed and applied by Celery.
"""

from __future__ import annotations

import gc
import logging
import marshal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from time import perf_counter
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import translation
from django.utils.timezone import now
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import audit
from accounts.errors import Conflict, DomainError
from accounts.models import OrganizationUnit

from ..models import BatchJob, BatchOperation, BatchStatus, Product
from ..services import require_write
from .apply import apply_rows
from .columns import model_fingerprint, template_filename
from .parse import BadFile, inspect_upload, read_template, verify_archive
from .validate import CheckedRow, validate_sheet

logger = logging.getLogger(__name__)
FIRST_PROBLEMS = 20  # lines kept on the job for the result page; errmsg.txt has them all
NOTHING_CHANGED = gettext_lazy("Nothing was changed.")


def product_usable_in(product: Product, ou: OrganizationUnit) -> bool:
    """A batch works on a product of the OU's own, or one shared to it (for the OU's own devices)."""
    return Product.objects.in_ou(ou).filter(pk=product.pk).exists()


def start_batch(actor: Any, ou: OrganizationUnit, product: Product, operation: str,
                uploaded_file: IO[bytes] | Any) -> BatchJob:
    """Judge the upload, keep it, and parse it now (small) or in Celery (large). Raises BadFile."""
    require_write(actor, ou)
    if operation not in BatchOperation.values:
        raise DomainError(_('Operation must be "import" or "update", not "%(operation)s".') % {"operation": operation},
                          code="invalid",
                          field="operation")
    if not product_usable_in(product, ou):
        raise DomainError(_("Product %(product)s is not available in OU %(ou)s.")
                          % {"product": product.product_key, "ou": ou.ou_id}, code="product_not_found",
                          field="productKey")
    size = getattr(uploaded_file, "size", None)
    if size is None:
        uploaded_file.seek(0, 2)
        size = uploaded_file.tell()
    inspection = inspect_upload(uploaded_file, size)
    path = _keep(uploaded_file)
    filename = Path(getattr(uploaded_file, "name", "") or template_filename(product)).name[:255]
    in_celery = inspection.estimated_rows > settings.BATCH_SYNC_ROWS
    job = BatchJob.objects.create(
        ou=ou, product=product, operation=operation, filename=filename, upload_path=str(path),
        requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        status=BatchStatus.PARSING, total_rows=inspection.estimated_rows,
        # the uploader's language: errmsg.txt and the refusals are written in it, by a worker too
        result={"estimated_rows": inspection.estimated_rows, "in_celery": in_celery,
                "language": translation.get_language() or settings.LANGUAGE_CODE},
    )
    if in_celery:
        from .tasks import parse_batch

        transaction.on_commit(lambda: parse_batch.delay(job.pk))
        return job
    return parse_job(job.pk) or job


def in_job_language(job: BatchJob) -> translation.override:
    """The language the job's messages are written in: its uploader's."""
    return translation.override(job.result.get("language") or settings.LANGUAGE_CODE)


def parse_job(job_id: int) -> BatchJob | None:
    """Read and check a stored upload; the job ends PARSED (with counts and problems) or FAILED."""
    job = BatchJob.objects.filter(pk=job_id).only("result").first()
    with in_job_language(job) if job is not None else translation.override(None):
        return _parse_job(job_id)


def _parse_job(job_id: int) -> BatchJob | None:
    # claimed by a conditional update: a redelivered task finds the job taken and does nothing
    if not BatchJob.objects.filter(pk=job_id, status=BatchStatus.PARSING, progress=0).update(progress=1):
        return None
    job = BatchJob.objects.select_related("product__model", "ou").get(pk=job_id)
    upload = Path(job.upload_path)
    timings: dict[str, float] = {}
    started = perf_counter()
    try:
        verify_archive(upload, job.product)
        timings["verify"] = _lap(started)
        _progress(job, 10)
        with garbage_collector_paused():
            sheet = read_template(upload, job.product)
            timings["read"] = _lap(started, timings)
            _progress(job, 40)

            def validating(done: int, total: int) -> None:
                _progress(job, 40 + int(55 * done / max(total, 1)))

            outcome = validate_sheet(sheet, job.product, job.ou, job.operation, progress=validating)
            del sheet
            timings["validate"] = _lap(started, timings)
            rows_path = upload.with_suffix(".rows")
            # marshal, not pickle: loading runs no code; and ten times faster than JSON for 100,000 rows
            rows_path.write_bytes(marshal.dumps([tuple(row) for row in outcome.rows]))
            timings["store"] = _lap(started, timings)
    except BadFile as refusal:
        return _fail(job, refusal.message, code=refusal.code)
    except Exception:
        logger.exception("batch job %s could not be parsed", job.pk)
        return _fail(job, _("The file could not be read because of an internal error. %(nothing)s")
                     % {"nothing": NOTHING_CHANGED},
                     code="internal_error")
    finally:
        upload.unlink(missing_ok=True)
    job.status = BatchStatus.PARSED
    job.upload_path = str(rows_path)  # from here on, the stored upload is its checked rows
    job.total_rows = outcome.total_rows
    job.valid_rows = len(outcome.rows)
    job.invalid_rows = outcome.invalid_rows
    job.progress = 100
    job.problems = "".join(line + "\n" for line in outcome.problems)
    job.result = {**job.result, "first_problems": outcome.problems[:FIRST_PROBLEMS],
                  "problem_count": len(outcome.problems), "key_column": outcome.key_column,
                  "model_fingerprint": model_fingerprint(job.product.model), "seconds": timings}
    job.save()
    return job


def apply_job(actor: Any, job: BatchJob) -> BatchJob:
    """Apply the valid rows of a parsed job: now, or in Celery for a large one."""
    require_write(actor, job.ou_id)
    if job.status != BatchStatus.PARSED:
        raise Conflict(_("This batch is %(status)s: only a parsed batch can be applied.")
                       % {"status": job.get_status_display().lower()}, code="not_parsed")
    if job.valid_rows == 0:
        raise DomainError(_("The file has no valid records to apply."), code="nothing_to_apply")
    claimed = BatchJob.objects.filter(pk=job.pk, status=BatchStatus.PARSED).update(
        status=BatchStatus.APPLYING, progress=0)
    if not claimed:
        raise Conflict(_("This batch is already being applied."), code="not_parsed")
    actor_id = actor.pk  # a user with write access (require_write above): the task applies as them
    if job.valid_rows > settings.BATCH_SYNC_ROWS:
        from .tasks import apply_batch

        transaction.on_commit(lambda: apply_batch.delay(job.pk, actor_id))
        job.refresh_from_db()
        return job
    return run_apply(actor, job.pk)


def run_apply(actor: Any, job_id: int) -> BatchJob:
    """The work of applying, in one transaction; a failure anywhere leaves the devices as they were."""
    job = BatchJob.objects.filter(pk=job_id).only("result").first()
    with in_job_language(job) if job is not None else translation.override(None):
        return _run_apply(actor, job_id)


def _run_apply(actor: Any, job_id: int) -> BatchJob:
    claimed = BatchJob.objects.filter(pk=job_id, status=BatchStatus.APPLYING, progress=0).update(progress=1)
    job = BatchJob.objects.select_related("product__model", "ou").get(pk=job_id)
    if not claimed:
        return job  # a redelivered task: another run has it
    rows_path = Path(job.upload_path)
    started = perf_counter()
    try:
        with garbage_collector_paused():
            rows = list(map(CheckedRow._make, marshal.loads(rows_path.read_bytes())))
        load_seconds = _lap(started)
        with transaction.atomic():
            _check_still_applicable(actor, job)
            applied = apply_rows(rows, product=job.product, ou=job.ou, operation=job.operation,
                                 key_column=job.result.get("key_column", "A"))
            refused = len(applied.problems)
            job.status = BatchStatus.APPLIED
            job.applied_rows = applied.count
            job.valid_rows -= refused
            job.invalid_rows += refused
            job.problems += "".join(line + "\n" for line in applied.problems)
            job.progress = 100
            job.finished_at = now()
            job.result = {**job.result, "refused_when_applying": refused, "changed_rows": applied.changed,
                          "first_problems": (job.result.get("first_problems", []) + applied.problems)[:FIRST_PROBLEMS],
                          "seconds": {**job.result.get("seconds", {}), "load": load_seconds,
                                      "apply": _lap(started) - load_seconds}}
            job.save()
            audit.record(actor, f"device.batch_{job.operation}", job, ou=job.ou, after={
                "product": job.product.product_key, "filename": job.filename, "total": job.total_rows,
                "applied": job.applied_rows, "invalid": job.invalid_rows})
    except DomainError as refusal:
        job.refresh_from_db()
        return _fail(job, f"{refusal.message} {NOTHING_CHANGED}", code=refusal.code)
    except Exception:
        logger.exception("batch job %s could not be applied", job.pk)
        job.refresh_from_db()
        return _fail(job, _("Applying failed and was rolled back. %(nothing)s") % {"nothing": NOTHING_CHANGED},
                     code="internal_error")
    rows_path.unlink(missing_ok=True)
    return job


def run_apply_as(job_id: int, actor_id: int | None) -> BatchJob:
    """run_apply for a task, which carries the user's id: a user deleted meanwhile applies nothing."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    if actor is None:
        job = BatchJob.objects.get(pk=job_id)
        with in_job_language(job):
            return _fail(job, _("The user who applied this batch no longer exists. %(nothing)s")
                         % {"nothing": NOTHING_CHANGED}, code="no_actor")
    return run_apply(actor, job_id)


def _check_still_applicable(actor: Any, job: BatchJob) -> None:
    require_write(actor, job.ou_id)  # the membership may have changed while the job waited
    if not product_usable_in(job.product, job.ou):
        raise DomainError(_("Product %(product)s is no longer available in this OU.")
                          % {"product": job.product.product_key}, code="product_not_found")
    if job.result.get("model_fingerprint") != model_fingerprint(job.product.model):
        raise DomainError(_("The model of product %(product)s changed after the file was checked: "
                            "upload the file again so that every row is checked against the new model.")
                          % {"product": job.product.product_key}, code="model_changed")


def expire_jobs() -> int:
    """Jobs left parsed (never applied) or stuck past BATCH_KEEP_HOURS: fail them and drop their files."""
    cutoff = now() - timedelta(hours=settings.BATCH_KEEP_HOURS)
    stale = BatchJob.objects.filter(
        Q(status__in=[BatchStatus.PARSED, BatchStatus.PARSING, BatchStatus.APPLYING]), created_at__lt=cutoff)
    count = 0
    for job in stale:
        _fail(job, f"Expired: not applied within {settings.BATCH_KEEP_HOURS} hours. Upload the file again. "
                   + NOTHING_CHANGED, code="expired")
        count += 1
    return count


def errmsg_text(job: BatchJob) -> str:
    """errmsg.txt: one line per problem; a file refused as a whole has its one reason."""
    if job.problems:
        return job.problems
    return job.message + "\n" if job.message else ""


# --- helpers ----------------------------------------------------------------------------------------------

@contextmanager
def garbage_collector_paused() -> Iterator[None]:
    """Reading a large file makes millions of objects (cells, texts, rows) and no reference cycles;
    meanwhile the cycle collector would walk them all again and again (a third of the time parsing
    100,000 rows, measured). Paused for the block; whatever cycles it leaves are collected after."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _keep(uploaded_file: Any) -> Path:
    folder = Path(settings.BATCH_UPLOAD_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.xlsx"  # never the client's name: it picks no path of ours
    uploaded_file.seek(0)
    chunks = uploaded_file.chunks() if hasattr(uploaded_file, "chunks") else iter(
        lambda: uploaded_file.read(1 << 20), b"")
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return path


def _fail(job: BatchJob, message: str, *, code: str) -> BatchJob:
    if job.upload_path:
        Path(job.upload_path).unlink(missing_ok=True)
    job.status = BatchStatus.FAILED
    job.message = message
    job.finished_at = now()
    job.result = {**job.result, "code": code}
    job.save(update_fields=["status", "message", "finished_at", "result"])
    return job


def _progress(job: BatchJob, percent: int) -> None:
    if percent != job.progress:
        job.progress = percent
        BatchJob.objects.filter(pk=job.pk).update(progress=percent)


def _lap(started: float, earlier: dict[str, float] | None = None) -> float:
    return round(perf_counter() - started - sum((earlier or {}).values()), 3)
