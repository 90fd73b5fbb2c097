"""GET /api/devices/?query=…: the query language through the API, its 400 body, OU isolation, query counts."""

from __future__ import annotations

import datetime as dt

import pytest

from assets.models import Device
from tests.assets.api.helpers import api_client_for, asset_ids

pytestmark = pytest.mark.django_db

QUERY_3 = "tag:site=suzhou AND attr:capacity>=500 AND status:offline"


def found(user, **params) -> set[str]:
    return asset_ids(api_client_for(user).get("/api/devices/", params))


def test_query_filters_the_list(fleet, viewer):
    assert found(viewer, query=QUERY_3) == {fleet["big"].asset_id}
    assert found(viewer, query="has:sub_devices OR status:disabled") == {fleet["gateway"].asset_id,
                                                                         fleet["odd"].asset_id}


def test_query_combines_with_the_shorthand_filters(fleet, viewer):
    assert found(viewer, query="tag:site=suzhou", status="online") == {fleet["gateway"].asset_id}
    assert found(viewer, query="tag:line", tag="site:shanghai") == {fleet["small"].asset_id}


@pytest.mark.parametrize(("query", "position", "token"), [
    ("stat:online", 1, "stat"),
    ("status:offline attr:capacity>=", 16, "attr:capacity>="),
    ("tag:site=suzhou attr:slots>=lots", 29, "lots"),
    ("group:pumps", 1, "group:pumps"),
])
def test_a_bad_query_is_a_400_with_message_position_and_token(fleet, viewer, query, position, token):
    response = api_client_for(viewer).get("/api/devices/", {"query": query})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "details", "position", "token"}
    assert body["code"] == "invalid_query"
    assert (body["position"], body["token"]) == (position, token)
    assert f"column {position}" in body["message"] and body["details"] == {"query": [body["message"]]}


def test_a_query_never_reaches_another_ous_devices(fleet, viewer, outsider):
    globex = fleet["globex"].asset_id
    for query in ("big-1", "tag:site=suzhou", "tag:secret", "attr:capacity>=500", "NOT status:online",
                  "last_online<7d"):
        assert globex not in found(viewer, query=query), query
    assert found(outsider, query="tag:site=suzhou attr:capacity>=500") == {globex}
    assert found(outsider, query="tag:line") == set()


def test_the_list_with_a_three_predicate_query_costs_the_same_at_any_size(fleet, meter_devices, viewer,
                                                                          django_assert_num_queries):
    client = api_client_for(viewer)
    # session + user, the permission check, the models (attribute types), the page
    with django_assert_num_queries(5):
        small = asset_ids(client.get("/api/devices/", {"query": QUERY_3, "pageSize": 2}))
    with django_assert_num_queries(5):
        large = asset_ids(client.get("/api/devices/", {"query": QUERY_3, "pageSize": 200}))
    assert len(small) == 2 and len(large) == 31


@pytest.fixture
def meter_devices(fleet) -> list[Device]:
    big = fleet["big"]
    return Device.objects.bulk_create(
        Device(ou=big.ou, product=big.product, device_key=f"m-{i:03d}", name=f"M {i}",
               attributes={"capacity": 500 + i}, tags={"site": "suzhou"}, activated_at=big.activated_at,
               last_online_at=big.last_online_at - dt.timedelta(minutes=i))
        for i in range(30))


def test_the_schema_documents_query_with_examples(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/devices/"]["get"]
    parameter = next(p for p in operation["parameters"] if p["name"] == "query")
    assert "attr:" in parameter["description"] and "position" in parameter["description"]
    assert any("last_online<7d" in example["value"] for example in parameter["examples"].values())
    bad = operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
    assert bad.endswith("/QueryError")


def test_anonymous_is_refused_before_the_query_is_read(fleet):
    response = api_client_for(None).get("/api/devices/", {"query": "stat:online"})
    assert response.status_code in (401, 403)
    assert "position" not in response.json()


def test_the_attribute_shorthand_matches_nothing_for_what_no_model_types(fleet, viewer):
    # ?attribute= never refused an identifier or value: it stays a filter that matches nothing
    assert found(viewer, attribute="nope:1") == set()
    assert found(viewer, attribute="slots:lots") == set()
    assert found(viewer, attribute="slots:8") == {fleet["big"].asset_id}
