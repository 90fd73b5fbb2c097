"""The Groups pages: list with counts, the form and its live query check, a group's page (the device table
and its counts), delete with confirmation, adding and removing devices, and the groups on device details."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from assets import groups
from assets.models import Device, DeviceGroup, DeviceGroupMember
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
HTMX_TABLE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "device-table"}


@pytest.fixture
def online(product) -> Device:
    return Device.objects.create(ou=product.ou, product=product, device_key="on-1", name="On", online=True,
                                 activated_at=timezone.now(), attributes={"serial": "x"}, tags={"site": "north"})


@pytest.fixture
def north(writer, acme, online) -> DeviceGroup:
    return groups.create_group(writer, acme, name="North site", kind="dynamic", query="tag:site=north")


@pytest.fixture
def picked(writer, acme, device, gateway) -> DeviceGroup:
    group = groups.create_group(writer, acme, name="picked")
    groups.add_group_devices(writer, group, [device, gateway])
    return group


def test_the_list_shows_each_group_with_its_device_count(cast, north, picked, viewer, globex, outsider):
    groups.create_group(outsider, globex, name="globex only")
    response = client_for(viewer).get(reverse("assets:group-list"))
    assert response.status_code == 200
    counts = {g.name: g.device_count for g in response.context["groups"]}
    assert counts == {"North site": 1, "picked": 2}
    page = response.content.decode()
    assert "globex only" not in page and reverse("assets:group-detail", args=[north.pk]) in page
    assert reverse("assets:group-create") not in page  # viewers do not create


def test_the_list_costs_the_same_queries_for_more_groups(cast, north, picked, writer, acme, device):
    client = client_for(writer)
    client.get(reverse("assets:group-list"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("assets:group-list")).status_code == 200
        return len(captured)

    few = queries()
    for i in range(4):
        groups.create_group(writer, acme, name=f"dyn {i}", kind="dynamic", query=f"status:online OR key:{i}")
        static = groups.create_group(writer, acme, name=f"static {i}")
        groups.add_group_devices(writer, static, [device])
    assert queries() == few


def test_a_writer_creates_a_dynamic_group(cast, writer, online):
    response = client_for(writer).post(reverse("assets:group-create"), {
        "name": "Online", "kind": "dynamic", "query": "status:online", "description": ""})
    group = DeviceGroup.objects.get(name="Online")
    assert response.status_code == 302 and response["Location"] == reverse("assets:group-detail", args=[group.pk])
    assert AuditEvent.objects.filter(action="group.create", actor=writer).exists()


def test_a_static_group_is_created_with_its_devices(cast, writer, device, gateway, globex_device):
    client = client_for(writer)
    response = client.post(reverse("assets:group-create"), {
        "name": "two", "kind": "static", "devices": f"{device.device_key}, {gateway.asset_id}"})
    assert response.status_code == 302
    assert set(DeviceGroupMember.objects.values_list("device__device_key", flat=True)) == {"inv-0001", "gw-0001"}
    # another OU's device is not found in this OU: nothing is created
    response = client.post(reverse("assets:group-create"), {"name": "three", "kind": "static",
                                                             "devices": globex_device.device_key})
    assert response.status_code == 200 and "No device meter-0001 in this OU." in response.content.decode()
    assert not DeviceGroup.objects.filter(name="three").exists()


def test_a_bad_query_is_shown_at_the_field(cast, writer, online):
    response = client_for(writer).post(reverse("assets:group-create"), {
        "name": "bad", "kind": "dynamic", "query": "status:online AND stat:x"})
    assert response.status_code == 200
    assert response.context["form"].errors["query"] == ['Unknown field "stat" at column 19']
    assert "Unknown field &quot;stat&quot; at column 19" in response.content.decode()
    assert not DeviceGroup.objects.exists()


def test_the_live_check_says_what_is_wrong_or_how_many_match(cast, writer, online, north):
    client = client_for(writer)
    url = reverse("assets:group-query-check")
    bad = client.get(url, {"query": "tag:site=north AND"}).content.decode()
    assert 'Expected a term after &quot;AND&quot; at column 16' in bad
    good = client.get(url, {"query": 'group:"North site" OR status:online'})
    assert good.context["matching"] == 1 and "Valid query: 1 device matches now." in good.content.decode()
    # editing a group: its own name in its query is a cycle
    own = client.get(url, {"query": 'group:"North site"', "group": north.pk}).content.decode()
    assert "refers to itself" in own


def test_the_group_page_shows_its_devices_and_counts(cast, viewer, picked, online, device, gateway):
    client = client_for(viewer)
    response = client.get(reverse("assets:group-detail", args=[picked.pk]))
    assert response.status_code == 200
    assert {d.device_key for d in response.context["page"].rows} == {"inv-0001", "gw-0001"}
    page = response.content.decode()
    assert 'id="group-name">picked<' in page and 'id="device-counts"' in page
    counts = client.get(response.context["counts_url"])
    assert counts.context["matching"] == 2
    swap = client.get(reverse("assets:group-detail", args=[picked.pk]), {"sort": "name"}, **HTMX_TABLE)
    assert [d.device_key for d in swap.context["page"].rows] == ["gw-0001", "inv-0001"]
    assert 'id="group-name"' not in swap.content.decode()


def test_a_writer_adds_and_removes_devices_on_the_group_page(cast, writer, picked, online, device):
    client = client_for(writer)
    client.post(reverse("assets:group-devices-add", args=[picked.pk]), {"devices": online.device_key})
    assert picked.members.count() == 3
    client.post(reverse("assets:group-devices-remove", args=[picked.pk]), {"devices": device.asset_id})
    assert set(picked.members.values_list("device__device_key", flat=True)) == {"gw-0001", "on-1"}
    response = client.post(reverse("assets:group-devices-add", args=[picked.pk]), {"devices": "nope"}, follow=True)
    assert "No device nope in this OU." in response.content.decode()


def test_edit_keeps_the_kind_and_delete_confirms(cast, writer, north):
    client = client_for(writer)
    response = client.post(reverse("assets:group-edit", args=[north.pk]), {
        "name": "North", "kind": "static", "query": "tag:site", "description": "d"})
    assert response.status_code == 302
    north.refresh_from_db()
    assert (north.name, north.kind, north.query) == ("North", "dynamic", "tag:site")
    confirm = client.get(reverse("assets:group-delete", args=[north.pk]))
    assert confirm.status_code == 200 and DeviceGroup.objects.filter(pk=north.pk).exists()
    assert client.post(reverse("assets:group-delete", args=[north.pk])).status_code == 302
    assert not DeviceGroup.objects.filter(pk=north.pk).exists()


def test_delete_of_a_group_another_uses_says_why(cast, writer, acme, north):
    groups.create_group(writer, acme, name="uses it", kind="dynamic", query='group:"North site"')
    page = client_for(writer).get(reverse("assets:group-delete", args=[north.pk])).content.decode()
    assert 'id="delete-refusal"' in page and "uses it" in page


def test_device_details_list_static_and_dynamic_groups(cast, viewer, writer, acme, north, picked, online, device):
    groups.add_group_devices(writer, picked, [online])
    client = client_for(viewer)
    response = client.get(reverse("assets:device-detail", args=[online.asset_id]))
    assert [g.name for g in response.context["device_groups"]] == ["North site", "picked"]
    other = client.get(reverse("assets:device-detail", args=[device.asset_id]))
    assert [g.name for g in other.context["device_groups"]] == ["picked"]

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(reverse("assets:device-detail", args=[online.asset_id]))
        return len(captured)

    few = queries()
    for i in range(3):
        groups.create_group(writer, acme, name=f"more {i}", kind="dynamic", query=f"key:on OR key:x{i}")
    assert queries() == few


def test_the_device_table_query_knows_the_current_ous_groups(cast, writer, picked):
    response = client_for(writer).get(reverse("assets:device-list"), {"q": "group:picked"})
    assert {d.device_key for d in response.context["page"].rows} == {"inv-0001", "gw-0001"}
    response = client_for(writer).get(reverse("assets:device-list"), {"q": "group:nope"})
    assert "Unknown group &quot;nope&quot; at column 1" in response.content.decode()


def test_the_tables_selection_is_added_to_a_static_group(cast, writer, acme, picked, north, online, globex_device):
    client = client_for(writer)
    url = reverse("assets:group-add-selection")
    dialog = client.get(url, {"asset_ids": [online.asset_id, globex_device.asset_id]}, HTTP_HX_REQUEST="true")
    assert dialog.status_code == 200 and [d.device_key for d in dialog.context["devices"]] == ["on-1"]
    assert [g.name for g in dialog.context["groups"]] == ["picked"]  # static groups only
    assert "<html" not in dialog.content.decode()
    response = client.post(url, {"asset_ids": [online.asset_id], "group": picked.pk})
    assert response.status_code == 302 and response["Location"] == reverse("assets:group-detail", args=[picked.pk])
    assert picked.members.filter(device=online).exists()
    refused = client.post(url, {"asset_ids": [online.asset_id], "group": north.pk})
    assert refused.status_code == 200 and refused.context["error"] == "Choose a static group of this OU."
    nothing = client.get(url)
    assert nothing.context["error"] == "Select at least one device in the table."


def test_the_table_offers_add_to_group_to_writers_only(cast, writer, viewer, device):
    assert 'id="add-to-group"' in client_for(writer).get(reverse("assets:device-list")).content.decode()
    assert 'id="add-to-group"' not in client_for(viewer).get(reverse("assets:device-list")).content.decode()


def test_the_group_page_counts_its_devices_by_status(cast, viewer, picked, online, device):
    Device.objects.filter(pk=device.pk).update(enabled=False)
    response = client_for(viewer).get(reverse("assets:group-detail", args=[picked.pk]))
    counts = response.context["group_counts"]
    assert (counts["total"], counts["disable"], counts["inactive"], counts["online"]) == (2, 1, 1, 0)
    assert 'id="group-status-summary"' in response.content.decode()


def test_a_toggle_on_the_group_page_recounts_the_group(cast, writer, picked, device):
    page = f"http://testserver{reverse('assets:group-detail', args=[picked.pk])}"
    response = client_for(writer).post(reverse("assets:device-toggle", args=[device.asset_id]), HTTP_HX_REQUEST="true",
                                       HTTP_HX_TARGET=f"device-{device.asset_id}", HTTP_HX_CURRENT_URL=page)
    assert response.status_code == 200
    assert response.context["counts_url"].endswith("?q=group%3A%22picked%22")
    on_list = client_for(writer).post(reverse("assets:device-toggle", args=[device.asset_id]), HTTP_HX_REQUEST="true",
                                      HTTP_HX_CURRENT_URL="http://testserver/devices/?status=online")
    assert on_list.context["counts_url"].endswith("?status=online")
