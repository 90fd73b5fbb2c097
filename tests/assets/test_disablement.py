"""`enabled` is a Disablement row, not a device column: disabling writes no device row (so none of the device
table's indexes), yet every device query reads, filters and counts `enabled` as if it were a column."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import AuditEvent
from assets import bulk, services
from assets.models import Device, DeviceStatus, Disablement
from connectivity.models import DeviceSession

pytestmark = pytest.mark.django_db


def row_versions(ids: list[int]) -> dict[int, tuple]:
    """What identifies each device row's stored version: PostgreSQL's xmin (a rewritten row has a new one),
    elsewhere the row's values."""
    with connection.cursor() as cursor:
        column = "xmin::text" if connection.vendor == "postgresql" else "updated_at"
        cursor.execute(f"SELECT id, {column}, name, online FROM assets_device WHERE id IN "
                       f"({', '.join(['%s'] * len(ids))})", ids)
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


@pytest.fixture
def fleet(product) -> list[Device]:
    return Device.objects.bulk_create([Device(ou=product.ou, product=product, device_key=f"dis-{n}", name=f"D {n}")
                                       for n in range(4)])


def test_disabling_and_enabling_in_bulk_leave_the_device_rows_as_they_were(writer, fleet):
    ids = [d.pk for d in fleet]
    before = row_versions(ids)
    assert bulk.set_enabled(writer, ids, False).done == ids
    assert Disablement.objects.filter(device_id__in=ids).count() == 4
    assert row_versions(ids) == before
    assert bulk.set_enabled(writer, ids, True).done == ids
    assert not Disablement.objects.exists()
    assert row_versions(ids) == before


def test_the_single_services_write_the_disablement_and_report_already(writer, device):
    before = row_versions([device.pk])
    assert services.disable_device(writer, device).enabled is False
    assert Disablement.objects.filter(device=device).exists() and row_versions([device.pk]) == before
    with pytest.raises(Exception, match="already disabled"):
        services.disable_device(writer, device)
    assert services.enable_device(writer, device).enabled is True
    assert not Disablement.objects.exists()
    assert AuditEvent.objects.filter(action__in=["device.disable", "device.enable"]).count() == 2


def test_enabled_reads_filters_and_updates_like_a_column(product, fleet):
    made = Device.objects.create(ou=product.ou, product=product, device_key="made-off", name="Off", enabled=False)
    assert Disablement.objects.filter(device=made).exists()
    Device.objects.filter(pk=fleet[0].pk).update(enabled=False, name="Renamed")
    assert set(Device.objects.filter(enabled=False).values_list("pk", flat=True)) == {made.pk, fleet[0].pk}
    assert Device.objects.get(pk=fleet[0].pk).name == "Renamed"
    assert Device.objects.filter(enabled=True).count() == 3
    assert dict(Device.objects.filter(pk=made.pk).values_list("pk", "enabled")) == {made.pk: False}
    assert Device.objects.get(pk=made.pk).status == DeviceStatus.DISABLED
    Device.objects.filter(pk=made.pk).update(enabled=True)
    made.refresh_from_db()  # forgets what it read
    assert made.enabled is True


def test_bulk_created_disabled_devices_get_their_rows(product):
    made = Device.objects.bulk_create([Device(ou=product.ou, product=product, device_key=f"b-{n}", name=f"B {n}",
                                              enabled=n % 2 == 0) for n in range(4)])
    assert set(Disablement.objects.values_list("device_id", flat=True)) == {made[1].pk, made[3].pk}


def test_a_device_reached_through_a_foreign_key_knows_it_is_disabled(product, device, django_assert_num_queries):
    Device.objects.filter(pk=device.pk).update(enabled=False)
    DeviceSession.objects.create(device=device, session_id="s1", transport="websocket")
    session = DeviceSession.objects.get(session_id="s1")
    with django_assert_num_queries(1):  # the device with its `enabled`, in one query
        assert session.device.enabled is False


def test_status_counts_join_the_disablements_once(product, fleet, django_assert_num_queries):
    Device.objects.filter(pk__in=[fleet[0].pk, fleet[1].pk]).update(enabled=False)
    Device.objects.filter(pk=fleet[2].pk).update(activated_at="2026-01-01T00:00:00Z", online=True)
    with django_assert_num_queries(1) as captured:
        counts = Device.objects.filter(ou=product.ou).status_counts()
    assert counts == {"total": 4, "disable": 2, "inactive": 1, "online": 1, "offline": 0}
    sql = captured.captured_queries[0]["sql"].upper()
    assert "EXISTS" not in sql and sql.count("JOIN") == 1  # one join, read by each count


def test_deleting_a_device_deletes_its_disablement(writer, device):
    services.disable_device(writer, device)
    services.delete_device(writer, device)
    assert not Disablement.objects.exists()


def test_a_disabled_device_moved_to_another_ou_stays_disabled_there(writer, device, globex):
    services.disable_device(writer, device)
    Device.objects.filter(pk=device.pk).update(ou=globex)
    assert Disablement.objects.get(device=device).ou == globex
    moved = Device.objects.get(pk=device.pk)
    assert moved.enabled is False and moved.status == DeviceStatus.DISABLED
    assert list(Device.objects.filter(ou=globex).with_status_in(DeviceStatus.DISABLED)) == [moved]
    assert Device.objects.filter(ou=globex).status_counts()["disable"] == 1
