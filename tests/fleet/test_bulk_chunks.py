"""The set-based actions' chunks: picked, changed and recorded in one transaction (fleet.engine.run_bulk_chunk),
the executions written by one INSERT … SELECT when the job starts, and two drivers side by side."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.db import connection, connections
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent, OrganizationUnit
from assets.models import Device, Disablement
from fleet import engine, services
from fleet.models import ExecutionState, Job, JobAction, JobState
from tests.fleet.conftest import make_devices, run_to_end

pytestmark = pytest.mark.django_db


def disable_job(writer, acme, devices, **options) -> Job:
    return services.start_job(writer, acme, action=JobAction.DISABLE, asset_ids=[d.asset_id for d in devices],
                              **options)


def test_a_chunk_goes_from_pending_to_done_in_one_write(writer, acme, product, settings):
    settings.FLEET_BULK_CHUNK = 10
    devices = make_devices(product, 25)
    job = disable_job(writer, acme, devices)
    assert engine.run_step(job.pk, "w") == 0.0
    rows = list(job.executions.order_by("id").values_list("state", "attempts", "claimed_by", "claimed_at"))
    assert [state for state, *_ in rows] == [ExecutionState.DONE] * 10 + [ExecutionState.PENDING] * 15
    # no rate limit: claimed_at stays empty (it only counts executions in a rate limit's window)
    assert all(attempts == 1 and by.startswith("w/") and at is None for _, attempts, by, at in rows[:10])
    assert not job.executions.filter(state=ExecutionState.CLAIMED).exists()  # no lease taken on the way
    assert Disablement.objects.filter(device__in=devices).count() == 10
    job = run_to_end(job)
    assert job.state == JobState.COMPLETED and engine.counts(job)[ExecutionState.DONE] == 25


def test_a_step_costs_the_same_queries_for_ten_devices_or_forty(writer, acme, product, settings):
    def queries_of_first_step(count: int, prefix: str) -> int:
        settings.FLEET_BULK_CHUNK = count
        job = disable_job(writer, acme, make_devices(product, count, prefix=prefix))
        with CaptureQueriesContext(connection) as captured:
            engine.run_step(job.pk, "w")
        assert job.executions.filter(state=ExecutionState.DONE).count() == count
        return len(captured)

    assert queries_of_first_step(10, "ten") == queries_of_first_step(40, "forty")


def test_a_chunk_that_fails_before_its_outcomes_are_recorded_leaves_nothing(writer, acme, product, settings):
    settings.FLEET_BULK_CHUNK = 5
    devices = make_devices(product, 8)
    job = disable_job(writer, acme, devices)
    with mock.patch.object(engine, "_record", side_effect=RuntimeError("worker lost")), \
            pytest.raises(RuntimeError):
        engine.run_step(job.pk, "w")
    # the devices' change and the outcomes went together: the chunk is simply pending again
    assert not Disablement.objects.filter(device__in=devices).exists()
    assert not AuditEvent.objects.filter(action="device.disable", request_id=job.public_id).exists()
    assert set(job.executions.values_list("state", "attempts")) == {(ExecutionState.PENDING, 0)}
    job = run_to_end(job)
    per_device = AuditEvent.objects.filter(action="device.disable", request_id=job.public_id).values(
        "object_id").annotate(n=Count("id"))
    assert sorted(row["n"] for row in per_device) == [1] * 8 and job.state == JobState.COMPLETED


def test_devices_deleted_or_moved_out_of_the_ou_are_skipped_as_gone(writer, acme, owner, product):
    devices = make_devices(product, 4)
    job = disable_job(writer, acme, devices)
    elsewhere = OrganizationUnit.objects.create(name="Elsewhere", owner=owner)
    Device.objects.filter(pk=devices[0].pk).update(ou=elsewhere)
    devices[1].delete()
    job = run_to_end(job)
    outcome = dict(job.executions.values_list("asset_id", "state"))
    assert outcome == {devices[0].asset_id: ExecutionState.SKIPPED, devices[1].asset_id: ExecutionState.SKIPPED,
                       devices[2].asset_id: ExecutionState.DONE, devices[3].asset_id: ExecutionState.DONE}
    assert set(job.executions.filter(state=ExecutionState.SKIPPED).values_list("message_code", flat=True)) == {
        engine.GONE.code}
    assert not Disablement.objects.filter(device_id=devices[0].pk).exists()  # not changed in the other OU


def test_the_executions_are_written_in_stages_by_one_statement(writer, acme, product):
    def start(count: int, prefix: str) -> tuple[Job, int]:
        devices = make_devices(product, count, prefix=prefix)
        with CaptureQueriesContext(connection) as captured, mock.patch("fleet.tasks.run_job.delay"):
            job = services.start_job(writer, acme, action=JobAction.ADD_TAGS, params={"tags": {"a": "b"}},
                                     asset_ids=[d.asset_id for d in devices], stages=[1, 10])
        return job, len(captured)

    start(3, "warm")  # the writer's permissions are read once, then cached
    small, small_queries = start(5, "few")
    job, queries = start(120, "many")
    assert queries == small_queries  # none per device
    assert job.total == 120
    stages = dict(job.executions.values("stage").annotate(n=Count("id")).values_list("stage", "n"))
    assert stages == {0: 2, 1: 10, 2: 108}  # 1% → 2 (ceil of 1.2), 10% → 12 in all, then the rest
    first = job.executions.order_by("id").values_list("stage", "state", "asset_id", "device_name", "message_params")
    device = Device.objects.filter(device_key="many-00000").get()
    assert first[0] == (0, ExecutionState.PENDING, device.asset_id, device.name, {})
    assert list(job.executions.order_by("id").values_list("device_id", flat=True)) == sorted(
        job.executions.values_list("device_id", flat=True))  # numbered in device id order


def test_a_selection_that_matches_nothing_starts_no_job(writer, acme, product):
    from accounts.errors import DomainError

    with pytest.raises(DomainError, match="No device you may change"):
        services.start_job(writer, acme, action=JobAction.DISABLE, selection_kind="query", query="name:nothing-here")
    assert not Job.objects.exists()


def test_a_set_based_job_is_driven_by_two_tasks_on_postgresql(writer, acme, product, settings):
    settings.FLEET_BULK_DRIVERS = 2
    devices = make_devices(product, 3)
    with mock.patch("fleet.tasks.run_job.delay") as delay, mock.patch(
            "django.db.transaction.on_commit", side_effect=lambda callback, *a, **k: callback()):
        job = disable_job(writer, acme, devices)
        rated = services.start_job(writer, acme, action=JobAction.ADD_TAGS, params={"tags": {"a": "b"}},
                                   asset_ids=[d.asset_id for d in devices], rate_per_minute=60)
        command = services.start_job(writer, acme, action=JobAction.INVOKE_SERVICE,
                                     params={"service": "restart", "params": {"delay": 1}},
                                     asset_ids=[d.asset_id for d in devices])
    side_by_side = 2 if connection.features.has_select_for_update_skip_locked else 1
    calls = [call.args[0] for call in delay.call_args_list]
    assert calls == [job.pk] * side_by_side + [rated.pk, command.pk]


@pytest.mark.django_db(transaction=True)
def test_two_drivers_side_by_side_run_each_device_once(writer, acme, product, settings):
    settings.FLEET_BULK_CHUNK = 20
    devices = make_devices(product, 200)
    with mock.patch("fleet.tasks.run_job.delay"):
        job = disable_job(writer, acme, devices)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def drive(name: str) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(1000):
                wait = engine.run_step(job.pk, name)
                if wait is None:
                    return
                if wait:
                    threading.Event().wait(0.05)  # the other driver holds the last chunk: look again
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    drivers = [threading.Thread(target=drive, args=(f"driver-{n}",)) for n in range(2)]
    for driver in drivers:
        driver.start()
    for driver in drivers:
        driver.join(timeout=120)
    assert not errors and not any(driver.is_alive() for driver in drivers)
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED and engine.counts(job)[ExecutionState.DONE] == 200
    per_device = dict(AuditEvent.objects.filter(action="device.disable", request_id=job.public_id)
                      .values_list("object_id").annotate(n=Count("id")))
    assert len(per_device) == 200 and set(per_device.values()) == {1}
    assert set(job.executions.values_list("attempts", flat=True)) == {1}
    assert AuditEvent.objects.filter(action="job.completed", object_id=job.public_id).count() == 1
    assert {by.split("/")[0] for by in job.executions.values_list("claimed_by", flat=True)} <= {"driver-0",
                                                                                              "driver-1"}


def test_a_disable_in_one_stage_takes_the_connected_devices_first(writer, acme, product, settings):
    settings.FLEET_BULK_CHUNK = 3
    devices = make_devices(product, 10)
    online = [devices[2], devices[5], devices[9]]
    Device.objects.filter(pk__in=[d.pk for d in online]).update(online=True)
    job = disable_job(writer, acme, devices)
    order = list(job.executions.order_by("id").values_list("device_id", flat=True))
    assert order[:3] == [d.pk for d in online] and order[3:] == sorted(set(order) - {d.pk for d in online})
    engine.run_step(job.pk, "w")  # the first chunk: the three connected ones
    assert set(Disablement.objects.values_list("device_id", flat=True)) == {d.pk for d in online}
    staged = services.start_job(writer, acme, action=JobAction.DELETE, asset_ids=[d.asset_id for d in devices],
                                stages=[10])  # a sample stage is drawn in device id order, connected or not
    assert list(staged.executions.order_by("id").values_list("device_id", flat=True)) == [d.pk for d in devices]
