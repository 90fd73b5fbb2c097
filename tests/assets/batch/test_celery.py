"""A large file goes to Celery: a real worker parses it, then applies it, with progress on the job."""

from __future__ import annotations

import time

import pytest

from assets.batch import services
from assets.models import BatchJob, BatchOperation, BatchStatus, Device
from tests.assets.batch.conftest import as_upload, row_for, template_with
from tests.processes import celery_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(job: BatchJob, status: str, worker, timeout: float = 60) -> BatchJob:
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if job.status == status:
            return job
        assert job.status != BatchStatus.FAILED, job.message
        assert time.monotonic() < deadline, f"still {job.status} after {timeout} s"
        time.sleep(0.05)


def test_a_real_worker_parses_and_applies_a_large_file(writer, product, settings):
    settings.BATCH_SYNC_ROWS = 5  # "large" from 6 rows on, so the test stays quick
    rows = [row_for(product, {"deviceKey": f"cel-{n:04d}", "Device Name": f"Celery {n}", "serial": f"S{n}"})
            for n in range(40)] + [row_for(product, {"deviceKey": "bad", "Device Name": "Bad", "serial": "S"})]
    with celery_worker() as worker:
        job = services.start_batch(writer, product.ou, product, BatchOperation.IMPORT,
                                   as_upload(template_with(product, rows)))
        assert job.status == BatchStatus.PARSING and job.result["in_celery"]  # the request did not parse it
        job = wait_for(job, BatchStatus.PARSED, worker)
        assert (job.total_rows, job.valid_rows, job.invalid_rows, job.progress) == (41, 40, 1, 100)
        assert job.problems.startswith('Row 43, column A (deviceKey): "bad" is not a valid deviceKey')
        job = services.apply_job(writer, job)
        assert job.status == BatchStatus.APPLYING  # handed to the worker
        job = wait_for(job, BatchStatus.APPLIED, worker)
    assert job.applied_rows == 40
    assert Device.objects.filter(device_key__startswith="cel-").count() == 40
    assert "assets.batch.tasks.parse_batch" in worker.log and "assets.batch.tasks.apply_batch" in worker.log
