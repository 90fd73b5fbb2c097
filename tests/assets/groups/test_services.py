"""The group services: writers only, audited, OU rules, validation with the query language's messages."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.errors import AccessDenied, Conflict, DomainError
from accounts.models import AuditEvent
from accounts.permissions import VIEW, ou_ids_with
from assets import groups
from assets.models import Device, DeviceGroup, DeviceGroupMember

pytestmark = pytest.mark.django_db


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


def test_a_writer_creates_renames_and_deletes_a_group_each_audited(writer, acme):
    group = groups.create_group(writer, acme, name="  Pumps ", kind="dynamic", query="status:online",
                                description="all online")
    assert (group.name, group.query, group.ou) == ("Pumps", "status:online", acme)
    [created] = events("group.create")
    assert created.actor == writer and created.ou == acme and created.after["query"] == "status:online"
    groups.update_group(writer, group, name="Online", query="status:offline")
    [updated] = events("group.update")
    assert updated.before["name"] == "Pumps" and updated.after == {**updated.before, "name": "Online",
                                                                  "query": "status:offline"}
    groups.delete_group(writer, group)
    assert not DeviceGroup.objects.exists() and events("group.delete")[0].before["name"] == "Online"


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_only_writers_of_the_ou_write(cast, acme, device, who):
    group = groups.create_group(cast["writer"], acme, name="g", kind="static")
    for call in (lambda: groups.create_group(cast[who], acme, name="h"),
                 lambda: groups.update_group(cast[who], group, name="x"),
                 lambda: groups.add_group_devices(cast[who], group, [device]),
                 lambda: groups.delete_group(cast[who], group)):
        with pytest.raises(AccessDenied):
            call()
    assert DeviceGroup.objects.get().name == "g" and not DeviceGroupMember.objects.exists()


def test_a_name_is_unique_per_ou_only(writer, acme, outsider, globex):
    groups.create_group(writer, acme, name="pumps")
    with pytest.raises(Conflict) as caught:
        groups.create_group(writer, acme, name="pumps", kind="dynamic", query="pump")
    assert caught.value.field == "name" and "already has a group" in caught.value.message
    assert groups.create_group(outsider, globex, name="pumps").ou == globex


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"name": " "}, "name", "A group needs a name."),
    ({"name": "x" * 101}, "name", "A group name is 1 to 100 printable characters."),
    ({"name": "a", "kind": "smart"}, "kind", "A group is static or dynamic."),
    ({"name": "a", "kind": "dynamic"}, "query", "A dynamic group needs a query."),
    ({"name": "a", "kind": "dynamic", "query": "stat:online"}, "query", 'Unknown field "stat" at column 1'),
    ({"name": "a", "kind": "dynamic", "query": "group:nope"}, "query", 'Unknown group "nope" at column 1'),
    ({"name": "a", "kind": "dynamic", "query": "attr:nothing>1"}, "query",
     'No device model has the attribute "nothing" (column 1)'),
])
def test_bad_fields_are_refused_with_the_reason(writer, acme, thing_model, fields, field, message):
    with pytest.raises(DomainError) as caught:
        groups.create_group(writer, acme, **fields)
    assert (caught.value.field, caught.value.message) == (field, message)
    assert not DeviceGroup.objects.exists()


def test_a_static_group_holds_devices_of_its_ou_only(writer, acme, device, gateway, globex_device):
    group = groups.create_group(writer, acme, name="g")
    with pytest.raises(DomainError) as caught:
        groups.add_group_devices(writer, group, [device, globex_device])
    assert caught.value.code == "other_ou" and "meter-0001 is not a device of this group's OU" in caught.value.message
    assert not DeviceGroupMember.objects.exists()
    assert groups.add_group_devices(writer, group, [device, gateway]) == 2
    assert groups.add_group_devices(writer, group, [device]) == 0  # already there: kept, not an error
    member = DeviceGroupMember.objects.get(device=device)
    assert member.added_by == writer and member.added_at is not None
    [added] = events("group.devices_add")
    assert added.after == {"added": sorted([device.asset_id, gateway.asset_id])}
    assert groups.remove_group_devices(writer, group, [gateway]) == 1
    assert events("group.devices_remove")[0].before == {"removed": [gateway.asset_id]}
    with pytest.raises(Conflict):
        groups.remove_group_devices(writer, group, [gateway])


def test_a_dynamic_group_takes_no_devices_and_a_static_one_no_query(writer, acme, device):
    dynamic = groups.create_group(writer, acme, name="d", kind="dynamic", query="status:online")
    with pytest.raises(DomainError, match="change the query"):
        groups.add_group_devices(writer, dynamic, [device])
    static = groups.create_group(writer, acme, name="s")
    with pytest.raises(DomainError, match="has no query"):
        groups.update_group(writer, static, query="status:online")
    with pytest.raises(DomainError, match="cannot be changed: kind"):
        groups.update_group(writer, static, kind="dynamic")


def test_a_group_named_by_another_groups_query_cannot_be_deleted_or_renamed(writer, acme):
    base = groups.create_group(writer, acme, name="base")
    groups.create_group(writer, acme, name="user", kind="dynamic", query="group:base status:online")
    for call in (lambda: groups.delete_group(writer, base), lambda: groups.update_group(writer, base, name="b2")):
        with pytest.raises(Conflict) as caught:
            call()
        assert '"user"' in caught.value.message
    groups.update_group(writer, base, description="still fine")
    assert DeviceGroup.objects.get(pk=base.pk).name == "base"


def test_counts_and_device_groups_take_constant_queries(writer, acme, product, device, viewer):
    other = Device.objects.create(ou=acme, product=product, device_key="inv-0002", name="Other", online=True)

    def make(n: int) -> None:
        for i in range(n):
            static = groups.create_group(writer, acme, name=f"s{DeviceGroup.objects.count()}-{i}")
            groups.add_group_devices(writer, static, [device])
            groups.create_group(writer, acme, name=f"d{DeviceGroup.objects.count()}-{i}", kind="dynamic",
                                query="key:0001")

    def measure() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as listing:
            found = groups.groups_with_counts(viewer, list(DeviceGroup.objects.visible_to(viewer)))
        assert {g.device_count for g in found} == {1}, [q["sql"][:150] for q in listing.captured_queries]
        with CaptureQueriesContext(connection) as of_device:
            assert len(groups.groups_of_device(viewer, device)) == len(found)
            assert groups.groups_of_device(viewer, other) == []
        return len(listing), len(of_device)

    ou_ids_with(viewer, VIEW)  # the viewer's grants are read once per request, before either measure
    make(2)
    few = measure()
    make(5)
    more = measure()
    assert more == few, (more, few)


def test_migration_removes_devices_from_the_source_ous_static_groups(writer, acme, device, globex, outsider):
    from assets.migration import services as migration
    from tests.assets.migration.helpers import send, start

    group = groups.create_group(writer, acme, name="g")
    groups.add_group_devices(writer, group, [device])
    request = start(writer, [device], globex)
    migration.confirm_migration(writer, request.pk, send(request))
    assert not DeviceGroupMember.objects.exists()
    [event] = events("group.devices_migrated_out")
    assert event.ou == acme and event.actor == writer and event.before == {"groups": {"g": [device.asset_id]}}
