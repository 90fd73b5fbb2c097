"""The engine's plain functions: claims, stages, rates, retries, abort, cancel, lost workers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.timezone import now

from accounts.errors import AccessDenied, DomainError
from accounts.models import AuditEvent
from assets.models import Device
from fleet import engine, services
from fleet.models import ExecutionState, JobAction, JobExecution, JobState, SelectionKind
from tests.fleet.conftest import run_to_end

pytestmark = pytest.mark.django_db


def ids(devices: list[Device]) -> list[str]:
    return [d.asset_id for d in devices]


def test_it_enables_every_selected_device_once_with_the_job_id_on_each_audit_event(writer, acme, devices):
    Device.objects.filter(pk__in=[d.pk for d in devices]).update(enabled=False)
    job = services.start_job(writer, acme, action=JobAction.ENABLE, asset_ids=ids(devices), stages=[10, 50])
    assert job.total == 20 and job.state == JobState.RUNNING
    assert sorted(set(job.executions.values_list("stage", flat=True))) == [0, 1, 2]
    job = run_to_end(job)
    assert job.state == JobState.COMPLETED
    assert engine.counts(job)[ExecutionState.DONE] == 20
    assert Device.objects.filter(pk__in=[d.pk for d in devices], enabled=True).count() == 20
    events = AuditEvent.objects.filter(action="device.enable", request_id=job.public_id)
    assert events.count() == 20 and len(set(events.values_list("object_id", flat=True))) == 20
    assert AuditEvent.objects.filter(action="job.start", object_id=job.public_id).exists()
    assert AuditEvent.objects.filter(action="job.completed", object_id=job.public_id).exists()


def test_a_stage_starts_only_after_the_one_before_finished(writer, acme, devices, settings):
    settings.FLEET_CHUNK = 100
    job = services.start_job(writer, acme, action=JobAction.ADD_TAGS, params={"tags": {"site": "suzhou"}},
                             asset_ids=ids(devices), stages=[10, 50])
    engine.run_step(job.pk, "w")
    assert list(job.executions.filter(state=ExecutionState.DONE).values_list("stage", flat=True)) == [0, 0]
    engine.run_step(job.pk, "w")  # stage 0 has ended: the next step opens stage 1
    job.refresh_from_db()
    assert job.current_stage == 1
    engine.run_step(job.pk, "w")
    assert job.executions.filter(state=ExecutionState.DONE).count() == 10
    job = run_to_end(job)
    assert all(d.tags == {"site": "suzhou"} for d in Device.objects.filter(pk__in=[d.pk for d in devices]))


def test_outcomes_carry_their_message(writer, acme, devices):
    """Enabling enabled devices changes nothing: each execution is skipped with the reason (assets.bulk)."""
    job = run_to_end(services.start_job(writer, acme, action=JobAction.ENABLE, asset_ids=ids(devices[:2])))
    assert job.state == JobState.COMPLETED
    assert list(job.executions.values_list("state", "message")) == [(ExecutionState.SKIPPED, "already enabled")] * 2


def test_it_aborts_once_the_failure_share_crosses_the_threshold(writer, acme, devices, settings):
    settings.FLEET_CHUNK = 4
    # an attribute the devices' model does not define: every execution fails
    job = services.start_job(writer, acme, action=JobAction.SET_ATTRIBUTES, params={"attributes": {"nope": 1}},
                             asset_ids=ids(devices), abort_failure_percent=5, abort_min_executions=8)
    job = run_to_end(job)
    assert job.state == JobState.ABORTED and "8 of 8 executions failed" in job.message
    tally = engine.counts(job)
    assert (tally[ExecutionState.FAILED], tally[ExecutionState.CANCELLED]) == (8, 12)


def test_the_rate_limit_spreads_executions(writer, acme, devices, settings):
    job = services.start_job(writer, acme, action=JobAction.ADD_TAGS, params={"tags": {"a": "b"}},
                             asset_ids=ids(devices), rate_per_minute=120)  # 12 per 6 s window
    assert engine.run_step(job.pk, "w") == 0.0
    assert engine.run_step(job.pk, "w") == 0.5  # the window's allowance is spent
    assert job.executions.filter(state=ExecutionState.DONE).count() == 12


def test_a_lost_claim_is_taken_again_once_and_a_done_execution_never(writer, acme, devices):
    job = services.start_job(writer, acme, action=JobAction.ADD_TAGS, params={"tags": {"a": "b"}},
                             asset_ids=ids(devices[:3]))
    claimed = engine.claim(job, "dead-worker", 3)
    assert len(claimed) == 3 and engine.claim(job, "other", 3) == []  # a live lease is not taken
    first, second, third = claimed
    JobExecution.objects.filter(pk=third.pk).update(state=ExecutionState.DONE)
    JobExecution.objects.filter(job=job).update(lease_expires_at=now() - timedelta(seconds=1))
    again = engine.claim(job, "second-worker", 3)
    assert sorted(e.pk for e in again) == [first.pk, second.pk]
    assert all(e.lost_claims == 1 and e.attempts == 2 for e in again)
    JobExecution.objects.filter(pk=first.pk).update(lease_expires_at=now() - timedelta(seconds=1))
    engine.execute(job, [e for e in again if e.pk == second.pk])
    job = run_to_end(job)  # the second loss fails `first`
    states = dict(job.executions.values_list("pk", "state"))
    assert states == {first.pk: ExecutionState.FAILED, second.pk: ExecutionState.DONE, third.pk: ExecutionState.DONE}
    assert job.executions.get(pk=first.pk).message == engine.LOST_TWICE.source()
    assert AuditEvent.objects.filter(action="device.update", request_id=job.public_id).count() == 1


def test_cancel_stops_what_has_not_started(writer, acme, devices):
    job = services.start_job(writer, acme, action=JobAction.DISABLE, asset_ids=ids(devices), stages=[10])
    engine.run_step(job.pk, "w")
    job = services.cancel_job(writer, job)
    assert job.state == JobState.CANCELLED
    assert engine.run_step(job.pk, "w") is None
    tally = engine.counts(job)
    assert (tally[ExecutionState.DONE], tally[ExecutionState.CANCELLED]) == (2, 18)
    with pytest.raises(DomainError):
        services.cancel_job(writer, job)


def test_delete_keeps_the_outcome_of_devices_it_removed(writer, acme, devices):
    job = run_to_end(services.start_job(writer, acme, action=JobAction.DELETE, asset_ids=ids(devices[:3])))
    assert not Device.objects.filter(pk__in=[d.pk for d in devices[:3]]).exists()
    assert sorted(job.executions.values_list("asset_id", "state")) == sorted(
        (d.asset_id, ExecutionState.DONE) for d in devices[:3])


def test_commands_to_offline_devices_are_skipped(writer, acme, devices):
    job = run_to_end(services.start_job(writer, acme, action=JobAction.INVOKE_SERVICE,
                                        params={"service": "restart", "params": {"delay": 1}},
                                        asset_ids=ids(devices[:4])))
    assert engine.counts(job)[ExecutionState.SKIPPED] == 4 and job.state == JobState.COMPLETED


def test_waiting_for_offline_devices_ends_at_the_deadline(writer, acme, devices):
    job = services.start_job(writer, acme, action=JobAction.SET_MEASUREPOINTS, params={"values": {"power": 1}},
                             asset_ids=ids(devices[:2]), offline_policy="wait",
                             deadline=now() + timedelta(hours=1))
    assert engine.run_step(job.pk, "w") == 1.0  # nothing online to claim: wait
    job.deadline = now() - timedelta(seconds=1)
    job.save(update_fields=["deadline"])
    job = run_to_end(job)
    assert set(job.executions.values_list("state", "message")) == {(ExecutionState.SKIPPED, engine.DEADLINE.source())}


def test_the_selection_is_what_the_actor_may_change(writer, viewer, outsider, acme, devices, globex_device):
    job = services.start_job(writer, acme, action=JobAction.ADD_TAGS, params={"tags": {"a": "b"}},
                             selection_kind=SelectionKind.QUERY, query="name:Fleet")
    assert job.total == 20
    with pytest.raises(DomainError):  # another OU's device is not in the selection
        services.start_job(writer, acme, action=JobAction.DISABLE, asset_ids=[globex_device.asset_id])
    with pytest.raises(AccessDenied):
        services.start_job(viewer, acme, action=JobAction.DISABLE, asset_ids=ids(devices))
    with pytest.raises(DomainError):
        services.start_job(writer, acme, action=JobAction.DISABLE, selection_kind=SelectionKind.QUERY,
                           query="status:(")


def test_a_group_selects_its_devices(writer, acme, devices):
    from assets import groups

    group = groups.create_group(writer, acme, name="Half")
    groups.add_group_devices(writer, group, devices[:10])
    job = services.start_job(writer, acme, action=JobAction.DISABLE, selection_kind=SelectionKind.GROUP, group=group)
    assert job.total == 10 and job.selection == "Half"


def test_stage_cutoffs():
    assert services.stage_cutoffs(10_000, [1, 10, 100], True) == [100, 1000, 10_000]
    assert services.stage_cutoffs(5, [1, 10, 100], True) == [1, 5]
    assert services.stage_cutoffs(50, [10, 100], False) == [10, 50]
