"""A real Celery worker runs a job; SIGKILLed mid-job, a new worker finishes it and every device ran once."""

from __future__ import annotations

import signal

import pytest
from django.db.models import Count

from accounts.models import AuditEvent
from fleet import engine, services
from fleet.models import ExecutionState, JobAction, JobState
from tests.fleet.conftest import make_devices
from tests.processes import celery_worker
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def quick_recovery(monkeypatch) -> None:
    # the workers this test starts read these: short leases, a sweep every second
    for name, value in {"FLEET_LEASE_SECONDS": "3", "FLEET_DRIVER_STALE_SECONDS": "2", "FLEET_SWEEP_SECONDS": "1",
                        "FLEET_CHUNK": "5", "FLEET_SLICE_SECONDS": "5"}.items():
        monkeypatch.setenv(name, value)


def done(job) -> int:
    return job.executions.filter(state=ExecutionState.DONE).count()


def test_a_killed_worker_s_job_completes_on_a_new_worker_each_device_once(writer, acme, product, quick_recovery):
    devices = make_devices(product, 120)
    with celery_worker() as first:  # no beat: its child process would outlive a SIGKILL
        job = services.start_job(writer, acme, action=JobAction.ADD_TAGS, params={"tags": {"fw": "2.1"}},
                                 asset_ids=[d.asset_id for d in devices], stages=[5, 50], rate_per_minute=300)
        wait_for(lambda: done(job) >= 10, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    stopped_at = done(job)
    assert 0 < stopped_at < 120
    with celery_worker(beat=True) as second:
        wait_for(lambda: not job.__class__.objects.filter(pk=job.pk, state=JobState.RUNNING).exists(), timeout=120)
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED, job.message
    assert engine.counts(job)[ExecutionState.DONE] == 120
    per_device = dict(AuditEvent.objects.filter(action="device.update", request_id=job.public_id)
                      .values_list("object_id").annotate(n=Count("id")))
    assert len(per_device) == 120 and set(per_device.values()) == {1}  # each device changed exactly once
    assert "fleet.tasks.run_job" in second.log
