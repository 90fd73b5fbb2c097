"""Jobs that reach devices: commands to connected devices time out, are retried, and are never sent twice after
a worker's loss (the invocation the lost attempt recorded is waited for instead)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.timezone import now

from connectivity.models import CommandInvocation, CommandStatus, DeviceSession
from fleet import engine, services
from fleet.models import ExecutionState, JobExecution, JobState
from tests.fleet.conftest import run_to_end

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(devices):
    """Four devices online, each with a live session (no device answers: nothing reads the bus here)."""
    from assets.models import Device

    picked = devices[:4]
    Device.objects.filter(pk__in=[d.pk for d in picked]).update(online=True, activated_at=now())
    DeviceSession.objects.bulk_create([DeviceSession(device=d, session_id=f"s{d.pk}", transport="websocket")
                                       for d in picked])
    return picked


def restart_job(writer, acme, devices, **rollout):
    return services.start_job(writer, acme, action="invoke_service",
                              params={"service": "restart", "params": {"delay": 1}},
                              asset_ids=[d.asset_id for d in devices], timeout_seconds=0.2, **rollout)


def test_silent_devices_time_out_and_are_retried(writer, acme, connected):
    job = run_to_end(restart_job(writer, acme, connected, max_retries=1))
    assert job.state == JobState.COMPLETED
    rows = list(job.executions.values_list("state", "attempts", "message"))
    assert all(state == ExecutionState.FAILED and attempts == 2 and "No reply within" in message
               for state, attempts, message in rows)
    assert CommandInvocation.objects.filter(status=CommandStatus.TIMEOUT).count() == 8  # 4 devices × 2 attempts


def test_a_reply_in_time_is_done(writer, acme, connected):
    job = restart_job(writer, acme, connected[:1])
    claimed = engine.claim(job, "w", 1)
    device = connected[0]

    def answer(invocations: dict[int, int]) -> None:  # the device replies as soon as the command is out
        CommandInvocation.objects.filter(pk__in=invocations.values()).update(status=CommandStatus.OK, code=200)

    from fleet import actions

    outcome = actions.command_devices(writer, [device], job.params, job_id=job.public_id, timeout=1, sent=answer)
    assert outcome.done == [device.pk]
    engine._record(job, engine._claimed_by(job, claimed[0].claimed_by), claimed, outcome)
    assert job.executions.get().state == ExecutionState.DONE


def test_a_lost_attempt_s_command_is_not_sent_again(writer, acme, connected):
    job = restart_job(writer, acme, connected[:1])
    claimed = engine.claim(job, "dead-worker", 1)[0]
    # the dead worker had sent the command (and recorded it) when it was killed
    invocation = CommandInvocation.objects.create(device=connected[0], ou=acme, service="restart",
                                                  requested_by=writer)
    JobExecution.objects.filter(pk=claimed.pk).update(invocation_id=invocation.pk,
                                                      lease_expires_at=now() - timedelta(seconds=1))
    CommandInvocation.objects.filter(pk=invocation.pk).update(status=CommandStatus.OK, code=200)  # it answered
    job = run_to_end(job)
    assert job.executions.get().state == ExecutionState.DONE
    assert CommandInvocation.objects.filter(device=connected[0]).count() == 1
