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

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]


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


def test_a_killed_worker_s_commands_are_waited_for_not_sent_again(writer, acme, product, quick_recovery):
    """The worker is killed while it waits for its chunk's replies (its claims held, their commands sent): the
    new worker takes the claims again and waits for those commands; no device gets a second command."""
    import threading
    from datetime import timedelta

    from django.db import connection
    from django.utils.timezone import now

    from assets.models import Device
    from connectivity.models import CommandInvocation, CommandStatus, DeviceSession
    from fleet.models import JobExecution

    devices = make_devices(product, 30, prefix="cmd")
    Device.objects.filter(pk__in=[d.pk for d in devices]).update(online=True, activated_at=now())
    DeviceSession.objects.bulk_create([DeviceSession(device=d, session_id=f"s{d.pk}", transport="websocket")
                                       for d in devices])
    stop = threading.Event()

    def devices_answer_late() -> None:  # each device replies 1.5 s after its command was created
        try:
            while not stop.is_set():
                CommandInvocation.objects.filter(status=CommandStatus.PENDING,
                                                 created_at__lte=now() - timedelta(seconds=1.5)).update(
                    status=CommandStatus.OK, code=200, message="ok", finished_at=now())
                stop.wait(0.1)
        finally:
            connection.close()

    answering = threading.Thread(target=devices_answer_late)
    answering.start()
    try:
        with celery_worker() as first:
            job = services.start_job(writer, acme, action=JobAction.INVOKE_SERVICE,
                                     params={"service": "restart", "params": {"delay": 1}},
                                     asset_ids=[d.asset_id for d in devices], timeout_seconds=10)
            waiting = JobExecution.objects.filter(job=job, state=ExecutionState.CLAIMED, invocation_id__isnull=False)
            wait_for(lambda: done(job) >= 5 and waiting.exists(), timeout=90)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        held = set(waiting.values_list("pk", flat=True))
        assert held  # killed while it waited for replies: its claims are left behind
        with celery_worker(beat=True):
            wait_for(lambda: not job.__class__.objects.filter(pk=job.pk, state=JobState.RUNNING).exists(),
                     timeout=120)
    finally:
        stop.set()
        answering.join()
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED, job.message
    assert engine.counts(job)[ExecutionState.DONE] == 30
    assert set(job.executions.filter(lost_claims=1).values_list("pk", flat=True)) >= held
    per_device = dict(CommandInvocation.objects.filter(device__in=devices).values_list("device_id")
                      .annotate(n=Count("id")))
    assert len(per_device) == 30 and set(per_device.values()) == {1}  # no device got its command twice
