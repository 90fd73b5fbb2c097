"""Applying a parsed batch: what import and update write, one audit event, all or nothing, and the
rows checked again against the database at apply time."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.errors import AccessDenied, Conflict, DomainError
from accounts.models import AuditEvent, Membership, User
from accounts.services import remove_membership
from assets.batch import apply, services
from assets.models import BatchOperation, BatchStatus, Device, ProductShare
from tests.assets.batch.conftest import parse_rows, problems_of, row_for

pytestmark = pytest.mark.django_db
IMPORT, UPDATE = BatchOperation.IMPORT, BatchOperation.UPDATE


def new(key: str, **extra) -> list:
    return {"deviceKey": key, "Device Name": f"Name {key}", "serial": f"SN-{key}", **extra}


def snapshot() -> list[tuple]:
    return list(Device.objects.order_by("pk").values_list(
        "pk", "device_key", "name", "description", "timezone", "attributes", "tags", "device_secret", "updated_at"))


def test_import_creates_the_devices_with_their_own_triples(writer, product):
    job = parse_rows(writer, product, IMPORT, [
        row_for(product, new("new-0001", **{"Time Zone": "Europe/Berlin", "capacity": 12.5, "phase": "three",
                                             "Tags": "site=north;floor=2", "Description": "roof"})),
        row_for(product, new("new-0002"))])
    job = services.apply_job(writer, job)
    assert (job.status, job.applied_rows, job.finished_at is not None) == (BatchStatus.APPLIED, 2, True)
    first = Device.objects.get(device_key="new-0001")
    assert (first.ou, first.product, first.name, first.timezone, first.description) == (
        product.ou, product, "Name new-0001", "Europe/Berlin", "roof")
    assert first.attributes == {"serial": "SN-new-0001", "capacity": 12.5, "phase": 3}
    assert first.tags == {"site": "north", "floor": "2"}
    assert first.enabled and first.activated_at is None and first.gateway is None
    second = Device.objects.get(device_key="new-0002")
    assert second.timezone == "+08:00" and second.tags == {}
    assert len(first.device_secret) == 20 and first.device_secret.isalnum()
    assert len(first.asset_id) == 8 and first.asset_id != second.asset_id
    assert first.device_secret != second.device_secret


def test_update_changes_given_cells_and_keeps_empty_ones(writer, product):
    device = Device.objects.create(ou=product.ou, product=product, device_key="inv-0100", name="Old name",
                                   description="keep me", timezone="+02:00",
                                   attributes={"serial": "SN-100", "phase": 1}, tags={"site": "south"})
    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0101", name="Other",
                                  attributes={"serial": "SN-101"}, tags={"site": "east"})
    job = parse_rows(writer, product, UPDATE, [
        row_for(product, {"deviceKey": "inv-0100", "Device Name": "New name", "capacity": 40}),
        row_for(product, {"deviceKey": "inv-0101", "Tags": "{}"})])
    job = services.apply_job(writer, job)
    assert job.applied_rows == 2
    device.refresh_from_db()
    assert (device.name, device.description, device.timezone) == ("New name", "keep me", "+02:00")
    assert device.attributes == {"serial": "SN-100", "phase": 1, "capacity": 40.0}  # merged, not replaced
    assert device.tags == {"site": "south"}  # no Tags cell: kept
    other.refresh_from_db()
    assert other.tags == {}  # "{}" clears


def row_versions() -> dict[str, tuple]:
    """deviceKey → (updated_at, and on PostgreSQL the row version's xmin: any rewrite changes it)."""
    if connection.vendor != "postgresql":
        return {key: (stamp,) for key, stamp in Device.objects.values_list("device_key", "updated_at")}
    with connection.cursor() as cursor:
        cursor.execute("SELECT device_key, updated_at, xmin::text FROM assets_device")
        return {key: (stamp, xmin) for key, stamp, xmin in cursor.fetchall()}


def test_rows_already_matching_count_as_applied_without_a_rewrite(writer, product, device):
    job = parse_rows(writer, product, UPDATE, [row_for(product, {"deviceKey": device.device_key,
                                                                 "Device Name": device.name})])
    before, versions = snapshot(), row_versions()
    job = services.apply_job(writer, job)
    assert (job.applied_rows, job.result["changed_rows"]) == (1, 0)
    assert snapshot() == before  # not even updated_at moved
    assert row_versions() == versions  # and no new row version was written


def test_only_the_devices_a_batch_changes_are_rewritten(writer, product):
    for n in range(4):
        Device.objects.create(ou=product.ou, product=product, device_key=f"inv-03{n:02d}", name=f"Inverter {n}",
                              timezone="+02:00", attributes={"serial": f"SN-{n}", "capacity": 10.0},
                              tags={"site": "north"})
    job = parse_rows(writer, product, UPDATE, [
        row_for(product, {"deviceKey": "inv-0300", "Device Name": "Inverter 0", "Time Zone": "+02:00"}),  # equal
        row_for(product, {"deviceKey": "inv-0301", "capacity": 10, "Tags": "site=north"}),  # equal (10 = 10.0)
        row_for(product, {"deviceKey": "inv-0302", "capacity": 11}),  # one attribute differs
        row_for(product, {"deviceKey": "inv-0303", "Tags": "site=south"})])  # the tags differ
    assert job.valid_rows == 4
    versions = row_versions()
    job = services.apply_job(writer, job)
    assert (job.status, job.applied_rows, job.result["changed_rows"]) == (BatchStatus.APPLIED, 4, 2)
    after = row_versions()
    assert [key for key in sorted(versions) if after[key] != versions[key]] == ["inv-0302", "inv-0303"]
    assert Device.objects.get(device_key="inv-0302").attributes == {"serial": "SN-2", "capacity": 11.0}
    assert Device.objects.get(device_key="inv-0303").tags == {"site": "south"}


def test_unchanged_and_vanished_devices_are_told_apart(writer, product):
    for key in ("inv-0400", "inv-0401", "inv-0402"):
        Device.objects.create(ou=product.ou, product=product, device_key=key, name=key, attributes={"serial": "S"})
    job = parse_rows(writer, product, UPDATE, [row_for(product, {"deviceKey": "inv-0400", "Device Name": "inv-0400"}),
                                               row_for(product, {"deviceKey": "inv-0401", "Device Name": "New"}),
                                               row_for(product, {"deviceKey": "inv-0402", "Device Name": "Gone"})])
    Device.objects.filter(device_key="inv-0402").delete()
    job = services.apply_job(writer, job)
    assert (job.applied_rows, job.result["changed_rows"], job.invalid_rows) == (2, 1, 1)
    assert problems_of(job) == [
        f'Row 5, column A (deviceKey): device "inv-0402" does not exist in product {product.product_key} in this OU'
        " (found when applying: the database changed after the file was checked)"]


def test_an_imported_device_whose_random_asset_id_is_taken_gets_another(writer, product, device, monkeypatch):
    job = parse_rows(writer, product, IMPORT, [row_for(product, new("new-0001")), row_for(product, new("new-0002"))])
    drawn = iter([[device.asset_id, "fresh-01"]])
    real = apply._unique_asset_ids
    monkeypatch.setattr(apply, "_unique_asset_ids", lambda count: next(drawn, None) or real(count))
    job = services.apply_job(writer, job)
    assert (job.status, job.applied_rows) == (BatchStatus.APPLIED, 2)
    asset_ids = set(Device.objects.filter(device_key__startswith="new-").values_list("asset_id", flat=True))
    assert len(asset_ids) == 2 and device.asset_id not in asset_ids and "fresh-01" in asset_ids
    assert Device.objects.filter(asset_id=device.asset_id).get() == device


def test_the_database_refuses_a_second_device_with_the_same_asset_id(product, device):
    # what the retry above relies on, now that uniqueness is a named constraint (migration 0005)
    with pytest.raises(IntegrityError), transaction.atomic():
        Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Twin",
                              asset_id=device.asset_id)


def test_every_applied_batch_is_one_audit_event_with_its_counts(writer, product, device):
    job = parse_rows(writer, product, IMPORT, [row_for(product, new("new-0001")), row_for(product, new("new-0002")),
                                               row_for(product, new("inv-0001"))])
    services.apply_job(writer, job)
    events = list(AuditEvent.objects.filter(action__startswith="device.batch"))
    assert len(events) == 1
    event = events[0]
    assert (event.action, event.actor, event.ou, event.object_type, event.object_id) == (
        "device.batch_import", writer, product.ou, "batchjob", str(job.pk))
    assert event.after == {"product": product.product_key, "filename": "devices.xlsx", "total": 3, "applied": 2,
                           "invalid": 1}


def test_a_failure_while_applying_rolls_everything_back(writer, product, device):
    job = parse_rows(writer, product, UPDATE, [row_for(product, {"deviceKey": device.device_key,
                                                                 "Device Name": "Changed"})])
    job2 = parse_rows(writer, product, IMPORT, [row_for(product, new("new-0001"))])
    before = snapshot()
    with mock.patch("accounts.audit.record", side_effect=RuntimeError("audit store down")):
        job = services.apply_job(writer, job)  # the devices were written, then the audit event failed
        job2 = services.apply_job(writer, job2)
    for failed in (job, job2):
        assert failed.status == BatchStatus.FAILED
        assert failed.message == "Applying failed and was rolled back. Nothing was changed."
        assert failed.applied_rows == 0
    assert snapshot() == before


@pytest.mark.skipif("connection.vendor == 'postgresql'", reason="PostgreSQL writes in one statement, not chunks")
@pytest.mark.parametrize("operation", [IMPORT, UPDATE])
def test_a_chunk_failing_midway_undoes_the_chunks_before_it(writer, product, operation, monkeypatch):
    for n in range(5):
        Device.objects.create(ou=product.ou, product=product, device_key=f"old-{n:04d}", name=f"Old {n}",
                              attributes={"serial": "S"})
    keys = [f"old-{n:04d}" for n in range(5)] if operation == UPDATE else [f"new-{n:04d}" for n in range(5)]
    job = parse_rows(writer, product, operation, [row_for(product, new(key)) for key in keys])
    monkeypatch.setattr(apply, "CHUNK", 2)
    written = []
    real = apply.write_chunk

    def third_chunk_fails(sql, params):
        if len(written) == 2:
            raise RuntimeError("disk full")
        written.append(len(params))
        real(sql, params)

    monkeypatch.setattr(apply, "write_chunk", third_chunk_fails)
    before = snapshot()
    job = services.apply_job(writer, job)
    assert written == [2, 2] and job.status == BatchStatus.FAILED
    assert snapshot() == before


def test_a_device_deleted_after_parsing_is_reported_when_applying(writer, product):
    keep, gone = (Device.objects.create(ou=product.ou, product=product, device_key=key, name=key,
                                        attributes={"serial": "S"}) for key in ("inv-0200", "inv-0201"))
    job = parse_rows(writer, product, UPDATE, [row_for(product, {"deviceKey": "inv-0200", "Device Name": "A"}),
                                               row_for(product, {"deviceKey": "inv-0201", "Device Name": "B"})])
    assert (job.valid_rows, job.invalid_rows) == (2, 0)
    gone.delete()
    job = services.apply_job(writer, job)
    assert (job.status, job.applied_rows, job.valid_rows, job.invalid_rows) == (BatchStatus.APPLIED, 1, 1, 1)
    assert problems_of(job) == [
        f'Row 4, column A (deviceKey): device "inv-0201" does not exist in product {product.product_key} in this OU'
        " (found when applying: the database changed after the file was checked)"]
    keep.refresh_from_db()
    assert keep.name == "A"


def test_a_device_key_taken_after_parsing_is_reported_when_applying(writer, product):
    job = parse_rows(writer, product, IMPORT, [row_for(product, new("new-0001")), row_for(product, new("new-0002"))])
    Device.objects.create(ou=product.ou, product=product, device_key="new-0002", name="Sneaked in",
                          attributes={"serial": "S"})
    job = services.apply_job(writer, job)
    assert (job.applied_rows, job.invalid_rows) == (1, 1)
    assert problems_of(job) == [
        f'Row 4, column A (deviceKey): device "new-0002" already exists in product {product.product_key}'
        " (found when applying: the database changed after the file was checked)"]
    assert Device.objects.get(device_key="new-0002").name == "Sneaked in"


def test_a_model_changed_after_parsing_refuses_the_batch(writer, product, thing_model, device):
    job = parse_rows(writer, product, UPDATE, [row_for(product, {"deviceKey": device.device_key, "capacity": 4000})])
    thing_model.attributes = [{**a, "spec": {"min": 0, "max": 100}} if a["identifier"] == "capacity" else a
                              for a in thing_model.attributes]
    thing_model.save()
    before = snapshot()
    job = services.apply_job(writer, job)
    assert job.status == BatchStatus.FAILED
    assert job.message.startswith(f"The model of product {product.product_key} changed after the file was checked")
    assert job.message.endswith("Nothing was changed.")
    assert snapshot() == before


def test_a_product_no_longer_shared_refuses_the_batch(outsider, shared_product, globex):
    own = Device.objects.create(ou=globex, product=shared_product, device_key="glob-0001", name="Globex's",
                                attributes={"serial": "G"})
    job = parse_rows(outsider, shared_product, UPDATE, [row_for(shared_product, {"deviceKey": own.device_key,
                                                                                 "Device Name": "Renamed"})], ou=globex)
    assert job.valid_rows == 1
    ProductShare.objects.filter(product=shared_product, ou=globex).delete()
    job = services.apply_job(outsider, job)
    assert job.status == BatchStatus.FAILED and "no longer available in this OU" in job.message
    own.refresh_from_db()
    assert own.name == "Globex's"


def test_the_shared_products_target_updates_its_own_devices(outsider, shared_product, globex, device):
    own = Device.objects.create(ou=globex, product=shared_product, device_key="glob-0001", name="Globex's",
                                attributes={"serial": "G"})
    job = parse_rows(outsider, shared_product, UPDATE, [row_for(shared_product, {"deviceKey": own.device_key,
                                                                                 "Device Name": "Renamed"})], ou=globex)
    services.apply_job(outsider, job)
    own.refresh_from_db()
    device.refresh_from_db()
    assert (own.name, device.name) == ("Renamed", "Inverter 1")


def test_write_access_is_needed_to_start_and_to_apply(writer, viewer, outsider, product, acme):
    from tests.assets.batch.conftest import as_upload, template_with

    for user in (viewer, outsider, None):
        with pytest.raises(AccessDenied):
            services.start_batch(user or mock.Mock(is_authenticated=False, pk=None), acme, product, IMPORT,
                                 as_upload(template_with(product, [row_for(product, new("new-0001"))])))
    job = parse_rows(writer, product, IMPORT, [row_for(product, new("new-0001"))])
    with pytest.raises(AccessDenied):
        services.apply_job(viewer, job)
    remove_membership(acme.owner, Membership.objects.get(ou=acme, user=writer))
    with pytest.raises(AccessDenied):
        services.apply_job(User.objects.get(pk=writer.pk), job)  # a fresh user: no cached grants
    assert not Device.objects.filter(device_key="new-0001").exists()


def test_a_batch_is_applied_once(writer, product):
    job = parse_rows(writer, product, IMPORT, [row_for(product, new("new-0001"))])
    services.apply_job(writer, job)
    with pytest.raises(Conflict):
        services.apply_job(writer, job)
    job.refresh_from_db()
    with pytest.raises(Conflict, match="only a parsed batch can be applied"):
        services.apply_job(writer, job)
    assert Device.objects.filter(device_key="new-0001").count() == 1


def test_a_batch_without_valid_rows_cannot_be_applied(writer, product):
    job = parse_rows(writer, product, IMPORT, [row_for(product, new("x"))])
    with pytest.raises(DomainError, match="no valid records"):
        services.apply_job(writer, job)


def test_the_stored_rows_are_removed_once_applied(writer, product, batch_upload_dir):
    job = parse_rows(writer, product, IMPORT, [row_for(product, new("new-0001"))])
    assert [p.suffix for p in batch_upload_dir.iterdir()] == [".rows"]  # the .xlsx is gone already
    services.apply_job(writer, job)
    assert list(batch_upload_dir.iterdir()) == []


def test_jobs_left_unapplied_expire(writer, product, batch_upload_dir, settings):
    from datetime import timedelta

    from django.utils.timezone import now

    from assets.models import BatchJob

    job = parse_rows(writer, product, IMPORT, [row_for(product, new("new-0001"))])
    BatchJob.objects.filter(pk=job.pk).update(created_at=now() - timedelta(hours=settings.BATCH_KEEP_HOURS + 1))
    fresh = parse_rows(writer, product, IMPORT, [row_for(product, new("new-0002"))])
    assert services.expire_jobs() == 1
    job.refresh_from_db()
    fresh.refresh_from_db()
    assert job.status == BatchStatus.FAILED and job.message.startswith("Expired")
    assert fresh.status == BatchStatus.PARSED
    assert len(list(batch_upload_dir.iterdir())) == 1


def test_a_redelivered_task_finds_its_job_taken(writer, product, settings):
    """Celery may deliver a task twice: parsing and applying each claim the job with a conditional update."""
    from tests.assets.batch.conftest import as_upload, template_with

    settings.BATCH_SYNC_ROWS = 0  # everything "large": the request only enqueues
    job = services.start_batch(writer, product.ou, product, IMPORT,
                               as_upload(template_with(product, [row_for(product, new("new-0001"))])))
    assert job.status == BatchStatus.PARSING
    assert services.parse_job(job.pk).status == BatchStatus.PARSED
    assert services.parse_job(job.pk) is None
    job.refresh_from_db()
    assert services.apply_job(writer, job).status == BatchStatus.APPLYING
    assert services.run_apply_as(job.pk, writer.pk).status == BatchStatus.APPLIED
    assert services.run_apply_as(job.pk, writer.pk).applied_rows == 1
    assert Device.objects.filter(device_key="new-0001").count() == 1
    assert AuditEvent.objects.filter(action="device.batch_import").count() == 1


def test_a_batch_applied_in_the_background_needs_its_user(writer, product, settings):
    from tests.assets.batch.conftest import as_upload, template_with

    settings.BATCH_SYNC_ROWS = 0
    job = services.start_batch(writer, product.ou, product, IMPORT,
                               as_upload(template_with(product, [row_for(product, new("new-0001"))])))
    services.parse_job(job.pk)
    job.refresh_from_db()
    services.apply_job(writer, job)
    job = services.run_apply_as(job.pk, 999_999)
    assert job.status == BatchStatus.FAILED and "no longer exists" in job.message
    assert not Device.objects.filter(device_key="new-0001").exists()
