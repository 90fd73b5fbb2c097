"""/api/groups/: create (static with devices, dynamic with a checked query), read with counts, change,
delete, members; the query parameter's group:; OU isolation; the schema."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.actors import SYSTEM
from accounts.services import set_membership
from assets import groups
from assets.models import DeviceGroup, DeviceGroupMember
from tests.assets.api.helpers import api_client_for, assert_error, asset_ids, results

pytestmark = pytest.mark.django_db


def test_a_writer_creates_a_static_group_with_devices(cast, writer, acme, device, gateway):
    client = api_client_for(writer)
    response = client.post("/api/groups/", {"ouId": acme.ou_id, "name": "two", "kind": "static",
                                            "assetIds": [device.asset_id, gateway.asset_id]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["kind"], body["deviceCount"], body["ouId"]) == ("two", "static", 2, acme.ou_id)
    assert body["reference"] == 'group:"two"'
    assert asset_ids(client.get(f"/api/groups/{body['id']}/devices/")) == {device.asset_id, gateway.asset_id}


def test_a_dynamic_group_with_a_bad_query_is_a_400_with_the_message(cast, writer, acme):
    response = api_client_for(writer).post("/api/groups/", {"ouId": acme.ou_id, "name": "d", "kind": "dynamic",
                                                            "query": "status:sleeping"})
    body = assert_error(response, 400, "invalid_query")
    assert body["details"]["query"] == [
        'Unknown status "sleeping" at column 8: use online, offline, inactive or disabled']
    assert not DeviceGroup.objects.exists()


def test_a_duplicate_name_is_a_409(cast, writer, acme):
    groups.create_group(writer, acme, name="g")
    response = api_client_for(writer).post("/api/groups/", {"ouId": acme.ou_id, "name": "g"})
    assert_error(response, 409, "group_name_exists")


def test_members_are_added_and_removed_and_another_ous_device_is_refused(cast, writer, acme, device, gateway,
                                                                         globex_device):
    group = groups.create_group(writer, acme, name="g")
    client = api_client_for(writer)
    url = f"/api/groups/{group.pk}/devices/"
    assert client.post(url, {"assetIds": [device.asset_id]}).json() == {"id": group.pk, "changed": 1}
    # the writer cannot see Globex's device at all: it is unknown
    assert_error(client.post(url, {"assetIds": [globex_device.asset_id]}), 400)
    assert client.delete(url, {"assetIds": [device.asset_id]}).json()["changed"] == 1
    assert not DeviceGroupMember.objects.exists()


def test_a_dynamic_group_lists_what_its_query_matches_now(cast, writer, acme, device, gateway):
    client = api_client_for(writer)
    group = client.post("/api/groups/", {"ouId": acme.ou_id, "name": "gw", "kind": "dynamic",
                                         "query": "key:gw-"}).json()
    assert asset_ids(client.get(f"/api/groups/{group['id']}/devices/")) == {gateway.asset_id}
    client.patch(f"/api/groups/{group['id']}/", {"query": "key:inv"})
    assert asset_ids(client.get(f"/api/groups/{group['id']}/devices/")) == {device.asset_id}
    assert_error(client.post(f"/api/groups/{group['id']}/devices/", {"assetIds": [device.asset_id]}), 400,
                 "dynamic_group")


def test_the_device_query_takes_group_and_ou_chooses_among_same_names(cast, writer, viewer, acme, globex,
                                                                      outsider, device, globex_device):
    groups.add_group_devices(writer, groups.create_group(writer, acme, name="g"), [device])
    groups.add_group_devices(outsider, groups.create_group(outsider, globex, name="g"), [globex_device])
    client = api_client_for(viewer)
    assert asset_ids(client.get("/api/devices/", {"query": "group:g"})) == {device.asset_id}
    set_membership(SYSTEM, globex, viewer, "asset_viewer")
    response = api_client_for(viewer).get("/api/devices/", {"query": "group:g"})
    body = response.json()
    assert response.status_code == 400 and body["code"] == "invalid_query"
    assert body["position"] == 1 and "Several OUs" in body["message"] and globex.ou_id in body["message"]
    found = api_client_for(viewer).get("/api/devices/", {"query": "group:g", "ou": globex.ou_id})
    assert asset_ids(found) == {globex_device.asset_id}


def test_the_outsider_sees_no_acme_group(cast, writer, outsider, acme):
    group = groups.create_group(writer, acme, name="g")
    client = api_client_for(outsider)
    assert results(client.get("/api/groups/")) == []
    assert_error(client.get(f"/api/groups/{group.pk}/"), 404)
    assert_error(client.get(f"/api/groups/{group.pk}/devices/"), 404)


def test_the_list_costs_the_same_queries_for_more_groups(cast, writer, acme, device):
    client = api_client_for(writer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/groups/").status_code == 200
        return len(captured)

    groups.create_group(writer, acme, name="first", kind="dynamic", query="status:online")
    groups.create_group(writer, acme, name="second")  # one count query per kind, whatever the number
    few = queries()
    for i in range(4):
        groups.create_group(writer, acme, name=f"d{i}", kind="dynamic", query="status:online")
        groups.add_group_devices(writer, groups.create_group(writer, acme, name=f"s{i}"), [device])
    assert queries() == few


def test_the_schema_documents_groups():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert set(schema["paths"]["/api/groups/{id}/devices/"]) >= {"get", "post", "delete"}
    create = schema["paths"]["/api/groups/"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("GroupCreate")


def test_a_dynamic_query_gone_stale_is_a_count_of_null_and_a_400_for_its_devices(cast, writer, acme):
    group = groups.create_group(writer, acme, name="d", kind="dynamic", query="status:online")
    DeviceGroup.objects.filter(pk=group.pk).update(query="stat:online")  # as if written before a rule changed
    client = api_client_for(writer)
    [row] = results(client.get("/api/groups/"))
    assert row["deviceCount"] is None and row["problem"].startswith('In group "d": Unknown field "stat"')
    response = client.get(f"/api/groups/{group.pk}/devices/")
    assert response.status_code == 400 and response.json()["message"].startswith('In group "d": Unknown field')
