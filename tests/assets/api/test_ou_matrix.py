"""Every endpoint × the cast: the writer may, the viewer reads but gets 403 on writes, the outsider
(another OU) gets 404 as if nothing were there, anonymous gets 401.

Collections answer the outsider with an empty list instead: there is nothing of Acme in it.
The router makes no format-suffix twins (`/api/devices/X.json`): they answered 500, and a test
here keeps them from coming back. tests/test_route_matrix.py checks that every API route is in
this table (or in another module's matrix).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from assets import services
from assets.groups import add_group_devices, create_group
from assets.models import Device
from tests.assets.api.helpers import api_client_for, assert_error
from tests.observability.alert_world import alerting, reopen


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    url: Callable[[SimpleNamespace], str]
    body: Callable[[SimpleNamespace], dict] = field(default=lambda w: {})
    write: bool = False
    ok: int = 200
    collection: bool = False  # the outsider gets an empty list, not a 404
    rows: Callable[[Any], list] = field(default=lambda response: response.json()["results"])  # a collection's
    setup: Callable[[SimpleNamespace], None] = field(default=lambda w: None)


def attach(w: SimpleNamespace) -> None:
    Device.objects.filter(pk=w.device.pk).update(gateway=w.gateway)


def disable(w: SimpleNamespace) -> None:
    services.disable_device(w.cast["writer"], w.device)


def online_history(w: SimpleNamespace) -> None:
    """Acme's device online since an hour ago, counted by the roll-ups (the outsider's answers: none of it)."""
    import datetime as dt

    from django.utils.timezone import now

    from connectivity import rollup
    from connectivity.models import ConnectionRecord

    ConnectionRecord.objects.create(device=w.device, ou=w.acme, session_id="s", transport="websocket",
                                    started_at=now() - dt.timedelta(hours=1))
    rollup.roll_up_recent()
    rollup.rank_flapping()


def device(suffix: str = "") -> Callable[[SimpleNamespace], str]:
    return lambda w: f"/api/devices/{w.device.asset_id}/{suffix}"


def gateway(suffix: str = "") -> Callable[[SimpleNamespace], str]:
    return lambda w: f"/api/devices/{w.gateway.asset_id}/{suffix}"


ENDPOINTS = [
    Endpoint("device list", "get", lambda w: "/api/devices/", collection=True),
    # the outsider exports their own (only) OU: nothing of Acme
    Endpoint("device export", "get", lambda w: f"/api/devices/export/?format=csv&query={w.device.device_key}",
             collection=True, rows=lambda response: list(csv.DictReader(io.StringIO(
                 b"".join(response.streaming_content).decode("utf-8-sig"))))),
    Endpoint("device create", "post", lambda w: "/api/devices/", write=True, ok=201,
             body=lambda w: {"ouId": w.acme.ou_id, "productKey": w.product.product_key, "name": "New",
                             "attributes": {"serial": "N-1"}}),
    # a structured search reads (POST for its JSON body): the viewer may, the outsider finds nothing of Acme
    Endpoint("device search", "post", lambda w: "/api/devices/search/", collection=True,
             body=lambda w: {"where": {"field": "key", "op": "contains", "value": w.device.device_key}}),
    Endpoint("device retrieve", "get", device()),
    Endpoint("device by key", "get",
             lambda w: f"/api/devices/by-key/?productKey={w.product.product_key}&deviceKey={w.device.device_key}"),
    Endpoint("device update", "patch", device(), write=True, body=lambda w: {"name": "Renamed"}),
    Endpoint("device delete", "delete", device(), write=True, ok=204),
    Endpoint("device enable", "post", device("enable/"), write=True, setup=disable),
    Endpoint("device disable", "post", device("disable/"), write=True),
    Endpoint("device secret", "get", device("secret/"), write=True),
    Endpoint("device reset secret", "post", device("reset-secret/"), write=True),
    Endpoint("sub-device list", "get", gateway("sub-devices/")),
    Endpoint("sub-device add", "post", gateway("sub-devices/"), write=True,
             body=lambda w: {"assetIds": [w.device.asset_id]}),
    Endpoint("sub-device remove (DELETE)", "delete", gateway("sub-devices/"), write=True, setup=attach,
             body=lambda w: {"assetIds": [w.device.asset_id]}),
    Endpoint("sub-device remove (POST)", "post", gateway("sub-devices/remove/"), write=True, setup=attach,
             body=lambda w: {"assetIds": [w.device.asset_id]}),
    Endpoint("sub-device candidates", "get", gateway("sub-devices/candidates/")),
    Endpoint("gateway of a sub-device", "get", device("gateway/"), setup=attach),
    Endpoint("product list", "get", lambda w: "/api/products/", collection=True),
    Endpoint("product create", "post", lambda w: "/api/products/", write=True, ok=201,
             body=lambda w: {"ouId": w.acme.ou_id, "name": "New", "modelId": w.thing_model.model_id}),
    Endpoint("product retrieve", "get", lambda w: f"/api/products/{w.product.product_key}/"),
    Endpoint("product update", "patch", lambda w: f"/api/products/{w.product.product_key}/", write=True,
             body=lambda w: {"name": "Renamed"}),
    Endpoint("product delete", "delete", lambda w: f"/api/products/{w.spare_product.product_key}/", write=True,
             ok=204),
    Endpoint("model list", "get", lambda w: "/api/models/", collection=True),
    Endpoint("model create", "post", lambda w: "/api/models/", write=True, ok=201,
             body=lambda w: {"ouId": w.acme.ou_id, "modelId": "new", "name": "New"}),
    Endpoint("model retrieve", "get", lambda w: f"/api/models/{w.thing_model.model_id}/"),
    Endpoint("model update", "patch", lambda w: f"/api/models/{w.thing_model.model_id}/", write=True,
             body=lambda w: {"name": "Renamed"}),
    Endpoint("model delete", "delete", lambda w: f"/api/models/{w.spare_model.model_id}/", write=True, ok=204),
    Endpoint("group list", "get", lambda w: "/api/groups/", collection=True),
    Endpoint("group create", "post", lambda w: "/api/groups/", write=True, ok=201,
             body=lambda w: {"ouId": w.acme.ou_id, "name": "New", "kind": "dynamic", "query": "status:online"}),
    Endpoint("group retrieve", "get", lambda w: f"/api/groups/{w.group.pk}/"),
    Endpoint("group update", "patch", lambda w: f"/api/groups/{w.group.pk}/", write=True,
             body=lambda w: {"name": "Renamed"}),
    Endpoint("group delete", "delete", lambda w: f"/api/groups/{w.group.pk}/", write=True, ok=204),
    Endpoint("group devices", "get", lambda w: f"/api/groups/{w.group.pk}/devices/"),
    Endpoint("group devices add", "post", lambda w: f"/api/groups/{w.group.pk}/devices/", write=True,
             body=lambda w: {"assetIds": [w.gateway.asset_id]}),
    Endpoint("group devices remove", "delete", lambda w: f"/api/groups/{w.group.pk}/devices/", write=True,
             body=lambda w: {"assetIds": [w.device.asset_id]}),
    Endpoint("service invoke", "post", device("services/restart/invoke/"), write=True,
             body=lambda w: {"params": {"delay": 1}}),
    Endpoint("service invocations", "get", device("services/invocations/")),
    Endpoint("latest data", "get", device("latest-data/")),
    Endpoint("sessions", "get", device("sessions/")),
    Endpoint("availability", "get", device("availability/")),
    # the OUs the user sees: the outsider's counts and list hold nothing of Acme
    Endpoint("online devices", "get", lambda w: "/api/connectivity/online/", collection=True, setup=online_history,
             rows=lambda response: [b for b in response.json()["buckets"] if b["devicesOnline"]]),
    Endpoint("flapping devices", "get", lambda w: "/api/connectivity/flapping/", collection=True,
             setup=online_history),
    Endpoint("measure point set", "post", device("measurepoints/set/"), write=True,
             body=lambda w: {"values": {"power": 1}}),
    Endpoint("measure point get", "post", device("measurepoints/get/"), write=True, body=lambda w: {}),
    Endpoint("job list", "get", lambda w: "/api/jobs/", collection=True),
    Endpoint("job create", "post", lambda w: "/api/jobs/", write=True, ok=201,
             body=lambda w: {"ouId": w.acme.ou_id, "action": "add_tags", "params": {"tags": {"a": "b"}},
                             "assetIds": [w.device.asset_id]}),
    Endpoint("job retrieve", "get", lambda w: f"/api/jobs/{w.job.public_id}/"),
    Endpoint("job executions", "get", lambda w: f"/api/jobs/{w.job.public_id}/executions/"),
    Endpoint("job executions export", "get", lambda w: f"/api/jobs/{w.job.public_id}/executions/export/"),
    Endpoint("job cancel", "post", lambda w: f"/api/jobs/{w.job.public_id}/cancel/", write=True),
    Endpoint("alert rule list", "get", lambda w: "/api/alert-rules/", collection=True),
    Endpoint("alert rule create", "post", lambda w: "/api/alert-rules/", write=True, ok=201,
             body=lambda w: {"ouId": w.acme.ou_id, "name": "Offline", "kind": "offline_for", "minutes": 5,
                             "emails": ["ops@example.com"]}),
    Endpoint("alert rule retrieve", "get", lambda w: f"/api/alert-rules/{w.alerting.rule.pk}/"),
    Endpoint("alert rule update", "patch", lambda w: f"/api/alert-rules/{w.alerting.rule.pk}/", write=True,
             body=lambda w: {"name": "Renamed"}),
    Endpoint("alert rule delete", "delete", lambda w: f"/api/alert-rules/{w.alerting.spare_rule.pk}/", write=True,
             ok=204),
    Endpoint("webhook secret reset", "post", lambda w: "/api/alert-rules/webhook-secret/", write=True,
             body=lambda w: {"ouId": w.acme.ou_id}),
    Endpoint("alert list", "get", lambda w: "/api/alerts/?state=open", collection=True),
    Endpoint("alert retrieve", "get", lambda w: f"/api/alerts/{w.alerting.alert.pk}/"),
    Endpoint("alert acknowledge", "post", lambda w: f"/api/alerts/{w.alerting.alert.pk}/acknowledge/", write=True,
             setup=reopen),
    Endpoint("alert resolve", "post", lambda w: f"/api/alerts/{w.alerting.alert.pk}/resolve/", write=True,
             setup=reopen),
    Endpoint("alert deliveries", "get", lambda w: "/api/alert-deliveries/", collection=True),
]


# the OU's audit log: its admins and owner read it; the other members and outsiders get 404 for the OU
AUDIT_ENDPOINTS = [
    Endpoint("audit events", "get", lambda w: f"/api/audit-events/?ou={w.acme.ou_id}"),
    Endpoint("audit events export", "get", lambda w: f"/api/audit-events/export/?format=csv&ou={w.acme.ou_id}"),
]


def api_urls(w: SimpleNamespace) -> list[str]:
    """Every URL the matrix requests (tests/test_route_matrix.py resolves them to routes)."""
    return [endpoint.url(w) for endpoint in ENDPOINTS + AUDIT_ENDPOINTS]


def placeholder(**fields: str) -> SimpleNamespace:
    return SimpleNamespace(**fields)


# enough of a world to build the URLs without a database
PLACEHOLDER_WORLD = SimpleNamespace(
    acme=placeholder(ou_id="o1"), thing_model=placeholder(model_id="m1"), spare_model=placeholder(model_id="m2"),
    product=placeholder(product_key="P1"), spare_product=placeholder(product_key="P2"),
    device=placeholder(asset_id="A1", device_key="d1"), gateway=placeholder(asset_id="G1"), group=placeholder(pk=1),
    job=placeholder(public_id="job-0123456789abcdef"),
    alerting=placeholder(rule=placeholder(pk=1), spare_rule=placeholder(pk=2), alert=placeholder(pk=1)))


def expected_status(endpoint: Endpoint, role: str) -> int:
    if role == "anonymous":
        return 401
    if role == "outsider":
        return 200 if endpoint.collection else 404
    if role == "viewer" and endpoint.write:
        return 403
    return endpoint.ok


@pytest.fixture
def device_group(writer, acme, device):
    group = create_group(writer, acme, name="picked")
    add_group_devices(writer, group, [device])
    return group


@pytest.fixture
def fleet_job(writer, acme, device):
    from fleet.services import start_job

    return start_job(writer, acme, action="add_tags", params={"tags": {"a": "b"}}, asset_ids=[device.asset_id])


@pytest.fixture
def world(cast, acme, thing_model, product, device, gateway, spare_product, spare_model,
          device_group, fleet_job) -> SimpleNamespace:
    return SimpleNamespace(acme=acme, thing_model=thing_model, product=product, device=device, gateway=gateway,
                           spare_product=spare_product, spare_model=spare_model, group=device_group, job=fleet_job,
                           cast=cast,
                           alerting=alerting(cast["writer"], acme, device))


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["writer", "viewer", "outsider", "anonymous"])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_ou_matrix(world, endpoint: Endpoint, role: str):
    endpoint.setup(world)
    client = api_client_for(world.cast[role])
    response = getattr(client, endpoint.method)(endpoint.url(world), endpoint.body(world) or None)
    expected = expected_status(endpoint, role)
    if expected >= 400:
        assert_error(response, expected)
    else:
        assert response.status_code == expected, response.content
    if role == "outsider" and endpoint.collection:
        assert endpoint.rows(response) == []


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_a_format_suffix_is_no_door(world, endpoint: Endpoint):
    """`/api/devices/X.json` is not a route: 404 for the writer, whatever the method (or the slash
    appended, `X.json/`, which is no asset ID either)."""
    path, _, query = endpoint.url(world).partition("?")
    url = path.removesuffix("/") + ".json" + (f"?{query}" if query else "")
    client = api_client_for(world.cast["writer"])
    response = getattr(client, endpoint.method)(url, endpoint.body(world) or None)
    if response.status_code == 301:
        response = client.get(response["Location"])
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "expected"), [("owner", 200), ("writer", 404), ("viewer", 404), ("outsider", 404),
                                                ("anonymous", 401)])
@pytest.mark.parametrize("endpoint", AUDIT_ENDPOINTS, ids=lambda e: e.name)
def test_the_audit_log_matrix(world, owner, endpoint: Endpoint, role: str, expected: int):
    client = api_client_for(owner if role == "owner" else world.cast[role])
    response = client.get(endpoint.url(world))
    if expected >= 400:
        assert_error(response, expected)
    else:
        assert response.status_code == expected
        assert world.acme.ou_id.encode() in b"".join(response.streaming_content) if response.streaming else \
            {row["ouId"] for row in response.json()["results"]} == {world.acme.ou_id}
