"""Bulk device operations (assets.bulk): the single services' rules for a chunk of devices, in a constant
number of queries, one audit event per device carrying the job's id, and the kicks of disabled devices."""

from __future__ import annotations

import pytest
from django.utils import translation

from accounts.actors import SYSTEM
from accounts.errors import AccessDenied
from accounts.models import AuditEvent
from assets import bulk
from assets.models import Device, DeviceStatus, Product, ThingModel
from assets.signals import devices_deleted, devices_disabled

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    """The outcomes' messages are asserted in English, whatever language an earlier test left active."""
    with translation.override("en"):
        yield


def make_devices(product: Product, count: int, start: int = 0) -> list[Device]:
    return Device.objects.bulk_create([
        Device(ou=product.ou, product=product, device_key=f"bulk-{n:04d}", name=f"Bulk {n}",
               attributes={"serial": f"SN-{n}"}, tags={"site": "suzhou"})
        for n in range(start, start + count)])


def ids(devices: list[Device]) -> list[int]:
    return [d.pk for d in devices]


@pytest.fixture
def fleet(product) -> list[Device]:
    return make_devices(product, 5)


# --- enable / disable -------------------------------------------------------------------------------

def test_disabling_disables_each_writable_device_and_audits_it_with_the_job_id(writer, fleet):
    outcome = bulk.set_enabled(writer, ids(fleet), False, job_id="job-42")
    assert outcome.done == ids(fleet) and not outcome.failed and not outcome.skipped
    assert not Device.objects.filter(pk__in=ids(fleet), enabled=True).exists()
    assert {d.status for d in Device.objects.filter(pk__in=ids(fleet))} == {DeviceStatus.DISABLED}
    events = AuditEvent.objects.filter(action="device.disable")
    assert sorted(e.object_id for e in events) == sorted(d.asset_id for d in fleet)
    event = events.first()
    assert event.actor == writer and event.ou_id == fleet[0].ou_id
    assert event.before == {"enabled": True} and event.after == {"enabled": False, "job_id": "job-42"}


def test_already_disabled_devices_are_skipped_and_others_ous_devices_not_found(writer, fleet, globex_device):
    Device.objects.filter(pk=fleet[0].pk).update(enabled=False)
    outcome = bulk.set_enabled(writer, [*ids(fleet), globex_device.pk, 999_999], False)
    assert outcome.skipped == {fleet[0].pk: "already disabled"}
    assert outcome.failed == {globex_device.pk: "not found", 999_999: "not found"}
    assert outcome.done == ids(fleet)[1:]
    globex_device.refresh_from_db()
    assert globex_device.enabled  # another OU's device is untouched
    assert AuditEvent.objects.filter(action="device.disable").count() == 4


def test_a_viewer_changes_nothing_and_the_system_may_not(viewer, fleet):
    outcome = bulk.set_enabled(viewer, ids(fleet), False)
    assert outcome.failed == dict.fromkeys(ids(fleet), "not found") and not outcome.done
    assert not Device.objects.filter(enabled=False).exists()
    with pytest.raises(AccessDenied):
        bulk.set_enabled(SYSTEM, ids(fleet), False)
    with pytest.raises(TypeError):
        bulk.set_enabled(None, ids(fleet), False)


def test_enabling_skips_enabled_devices(writer, fleet):
    Device.objects.filter(pk__in=ids(fleet[:2])).update(enabled=False)
    outcome = bulk.set_enabled(writer, ids(fleet), True, job_id="j")
    assert outcome.done == ids(fleet[:2])
    assert outcome.skipped == dict.fromkeys(ids(fleet[2:]), "already enabled")
    assert AuditEvent.objects.filter(action="device.enable", after__job_id="j").count() == 2


def test_disabling_sends_one_signal_with_every_changed_device(writer, fleet, django_capture_on_commit_callbacks):
    heard: list[list[int]] = []

    def listener(sender, device_ids, **kwargs):
        heard.append(list(device_ids))

    devices_disabled.connect(listener)
    try:
        Device.objects.filter(pk=fleet[0].pk).update(enabled=False)
        with django_capture_on_commit_callbacks(execute=True):
            bulk.set_enabled(writer, ids(fleet), False)
    finally:
        devices_disabled.disconnect(listener)
    assert heard == [ids(fleet)[1:]]


@pytest.mark.parametrize("count", [5, 60])
def test_disabling_takes_the_same_queries_for_few_or_many_devices(writer, product, count,
                                                                  django_assert_max_num_queries):
    devices = make_devices(product, count)
    writer = type(writer).objects.get(pk=writer.pk)  # permissions not cached yet: counted too
    with django_assert_max_num_queries(6):
        outcome = bulk.set_enabled(writer, ids(devices), False, job_id="j")
    assert len(outcome.done) == count


# --- delete ---------------------------------------------------------------------------------------------

def test_deleting_removes_the_devices_detaches_sub_devices_and_audits_each(writer, fleet, gateway, globex_device):
    sub = fleet[0]
    Device.objects.filter(pk=sub.pk).update(gateway=gateway)
    heard: list[list[int]] = []

    def listener(sender, device_ids, **kwargs):
        heard.append(list(device_ids))

    devices_deleted.connect(listener)
    try:
        outcome = bulk.delete_devices(writer, [gateway.pk, *ids(fleet[1:]), globex_device.pk], job_id="job-7")
    finally:
        devices_deleted.disconnect(listener)
    assert outcome.done == [gateway.pk, *ids(fleet[1:])]
    assert outcome.failed == {globex_device.pk: "not found"}
    assert heard == [sorted([gateway.pk, *ids(fleet[1:])])]
    assert list(Device.objects.filter(ou=writer.memberships.first().ou).values_list("pk", flat=True)) == [sub.pk]
    sub.refresh_from_db()
    assert sub.gateway_id is None
    event = AuditEvent.objects.get(action="device.delete", object_id=gateway.asset_id)
    assert event.before["name"] == gateway.name and event.after == {"job_id": "job-7"}
    assert AuditEvent.objects.filter(action="device.delete").count() == 5
    assert Device.objects.filter(pk=globex_device.pk).exists()


@pytest.mark.parametrize("count", [5, 60])
def test_deleting_takes_the_same_queries_for_few_or_many(writer, product, count, django_assert_max_num_queries):
    devices = make_devices(product, count)
    with django_assert_max_num_queries(40):  # the cascade: a few per related table, none per device
        outcome = bulk.delete_devices(writer, ids(devices))
    assert len(outcome.done) == count


# --- tags ---------------------------------------------------------------------------------------------------

def test_adding_tags_merges_them_and_skips_devices_that_have_them(writer, fleet):
    Device.objects.filter(pk=fleet[0].pk).update(tags={"site": "suzhou", "line": "L3"})
    outcome = bulk.add_tags(writer, ids(fleet), {"line": "L3"}, job_id="t")
    assert outcome.skipped == {fleet[0].pk: "tags unchanged"} and outcome.done == ids(fleet[1:])
    assert {tuple(sorted(d.tags.items())) for d in Device.objects.filter(pk__in=ids(fleet))} == {
        (("line", "L3"), ("site", "suzhou"))}
    event = AuditEvent.objects.get(action="device.update", object_id=fleet[1].asset_id)
    assert event.before == {"tags": {"site": "suzhou"}}
    assert event.after == {"tags": {"site": "suzhou", "line": "L3"}, "job_id": "t"}


def test_adding_invalid_tags_or_too_many_fails_with_the_message(writer, fleet):
    outcome = bulk.add_tags(writer, ids(fleet), {"bad key!": "x"})
    assert set(outcome.failed) == set(ids(fleet)) and "tag key" in outcome.failed[fleet[0].pk]
    Device.objects.filter(pk=fleet[0].pk).update(tags={f"k{n}": "v" for n in range(100)})
    outcome = bulk.add_tags(writer, ids(fleet), {"extra": "1"})
    assert "at most 100 tags" in outcome.failed[fleet[0].pk] and outcome.done == ids(fleet[1:])


def test_removing_tags_removes_only_those_keys(writer, fleet):
    Device.objects.filter(pk=fleet[0].pk).update(tags={"site": "suzhou", "line": "L3", "a/b": "c"})
    Device.objects.filter(pk=fleet[1].pk).update(tags={})
    outcome = bulk.remove_tags(writer, ids(fleet), ["line", "a/b", "site"], job_id="r")
    assert outcome.skipped == {fleet[1].pk: "has none of these tags"}
    assert outcome.done == [fleet[0].pk, *ids(fleet[2:])]
    assert all(d.tags == {} for d in Device.objects.filter(pk__in=ids(fleet)))
    assert AuditEvent.objects.filter(action="device.update", after__job_id="r").count() == 4


@pytest.mark.parametrize("count", [5, 60])
def test_tag_edits_take_the_same_queries_for_few_or_many(writer, product, count, django_assert_max_num_queries):
    devices = make_devices(product, count)
    with django_assert_max_num_queries(6):
        assert len(bulk.add_tags(writer, ids(devices), {"line": "L1"}).done) == count
    with django_assert_max_num_queries(6):
        assert len(bulk.remove_tags(writer, ids(devices), ["line"]).done) == count


# --- attributes -------------------------------------------------------------------------------------------

def test_setting_attributes_checks_each_devices_model(writer, acme, fleet, thing_model):
    other_model = ThingModel.objects.create(ou=acme, model_id="meter", name="Meter", attributes=[
        {"identifier": "capacity", "name": "Capacity", "data_type": "int32"}])
    meter = Product.objects.create(ou=acme, name="Meter", model=other_model)
    meters = Device.objects.bulk_create([Device(ou=acme, product=meter, device_key=f"m-{n:04d}", name=f"M {n}")
                                         for n in range(2)])
    outcome = bulk.set_attributes(writer, [*ids(fleet), *ids(meters)], {"serial": "SN-X"}, job_id="a")
    assert outcome.done == ids(fleet)
    assert set(outcome.failed) == set(ids(meters)) and "not an attribute of model meter" in outcome.failed[meters[0].pk]
    assert {d.attributes["serial"] for d in Device.objects.filter(pk__in=ids(fleet))} == {"SN-X"}
    event = AuditEvent.objects.get(action="device.update", object_id=fleet[0].asset_id)
    assert event.before == {"attributes": {"serial": "SN-0"}}
    assert event.after["attributes"]["serial"] == "SN-X" and event.after["job_id"] == "a"
    again = bulk.set_attributes(writer, ids(fleet), {"serial": "SN-X"})
    assert again.skipped == dict.fromkeys(ids(fleet), "attributes unchanged")


def test_an_invalid_value_or_a_required_attribute_emptied_fails(writer, fleet):
    outcome = bulk.set_attributes(writer, ids(fleet), {"serial": ""})
    assert set(outcome.failed) == set(ids(fleet)) and "required" in outcome.failed[fleet[0].pk]
    assert {d.attributes["serial"] for d in Device.objects.filter(pk__in=ids(fleet[:1]))} == {"SN-0"}


@pytest.mark.parametrize("count", [5, 60])
def test_setting_attributes_takes_the_same_queries_for_few_or_many(writer, product, count,
                                                                    django_assert_max_num_queries):
    devices = make_devices(product, count)
    with django_assert_max_num_queries(7):
        assert len(bulk.set_attributes(writer, ids(devices), {"serial": "SN-BULK"}).done) == count
