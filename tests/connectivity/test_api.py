"""The API: POST /api/devices/{assetId}/services/{identifier}/invoke/ answers with the outcome;
latest data and recent commands read like the console's."""

from __future__ import annotations

from django.utils.timezone import now

from accounts.models import AuditEvent
from connectivity.models import CommandInvocation, LatestValue
from tests.assets.api.helpers import api_client_for

from .fakes import answer_commands, connect


def invoke(user, device, service: str = "restart", **body):
    return api_client_for(user).post(f"/api/devices/{device.asset_id}/services/{service}/invoke/", body,
                                     format="json")


def test_the_outcome_of_a_command_to_a_connected_device(cast, device, writer, monkeypatch):
    sent = answer_commands(monkeypatch, connect(device), data={"restarting": True})
    response = invoke(writer, device, params={"delay": 10}, timeout=5)
    assert response.status_code == 200, response.content
    outcome = response.json()
    assert (outcome["status"], outcome["code"], outcome["data"]) == ("ok", 200, {"restarting": True})
    assert sent[0]["method"] == "thing.service.restart" and sent[0]["params"] == {"delay": 10}
    assert AuditEvent.objects.filter(action="device.service_invoke", actor=writer).exists()


def test_a_device_error_reply_is_the_outcome(cast, device, writer, monkeypatch):
    answer_commands(monkeypatch, connect(device), code=503)
    assert invoke(writer, device, params={}).json()["status"] == "error"


def test_an_offline_device_answers_at_once(cast, device, writer):
    outcome = invoke(writer, device, params={"delay": 1}).json()
    assert (outcome["status"], outcome["code"]) == ("offline", 503)


def test_who_may_invoke(cast, device, viewer, outsider):
    assert invoke(viewer, device, params={}).status_code == 403
    assert invoke(outsider, device, params={}).status_code == 404
    assert invoke(None, device, params={}).status_code in (401, 403)
    assert not CommandInvocation.objects.exists()


def test_bad_parameters_and_unknown_services_are_400(cast, device, writer):
    response = invoke(writer, device, params={"delay": "soon"})
    assert response.status_code == 400 and response.json()["details"]["delay"]
    assert invoke(writer, device, "explode", params={}).json()["code"] == "service_not_found"
    assert invoke(writer, device, params={}, timeout=600).status_code == 400


def test_latest_data_and_recent_commands(cast, device, writer, viewer, outsider, django_assert_max_num_queries):
    LatestValue.objects.create(device=device, identifier="power", value=3.5, time=now())
    for _ in range(5):
        invoke(writer, device, params={"delay": 1})
    client = api_client_for(viewer)
    latest = client.get(f"/api/devices/{device.asset_id}/latest-data/").json()
    assert latest["measurepoints"][0] == {"identifier": "power", "value": 3.5,
                                          "time": latest["measurepoints"][0]["time"]}
    assert latest["measurepoints"][1]["time"] is None
    with django_assert_max_num_queries(6):
        commands = client.get(f"/api/devices/{device.asset_id}/services/invocations/").json()
    assert [c["status"] for c in commands] == ["offline"] * 5
    assert api_client_for(outsider).get(f"/api/devices/{device.asset_id}/latest-data/").status_code == 404


def test_measure_points_are_set_and_read_over_the_api(cast, device, writer, viewer, outsider, monkeypatch):
    sent = answer_commands(monkeypatch, connect(device), data={"power": 3.5})
    base = f"/api/devices/{device.asset_id}/measurepoints"
    response = api_client_for(writer).post(f"{base}/set/", {"values": {"power": 3.5}, "timeout": 5}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    response = api_client_for(writer).post(f"{base}/get/", {"identifiers": ["power"]}, format="json")
    assert (response.json()["status"], response.json()["data"]) == ("ok", {"power": 3.5})
    assert [m["method"] for m in sent] == ["thing.service.measurepoint.set", "thing.service.measurepoint.get"]
    bad = api_client_for(writer).post(f"{base}/set/", {"values": {"voltage": 1}}, format="json")
    assert bad.status_code == 400 and "voltage" in bad.content.decode()
    assert api_client_for(viewer).post(f"{base}/set/", {"values": {"power": 1}}, format="json").status_code == 403
    assert api_client_for(outsider).post(f"{base}/get/", {}, format="json").status_code == 404


def test_an_async_invoke_answers_pending_once_sent(cast, device, writer, monkeypatch):
    import connectivity.bus

    sent: list = []
    monkeypatch.setattr(connectivity.bus, "command", lambda device_id, invocation_id, message: sent.append(message))
    connect(device)
    outcome = invoke(writer, device, params={"delay": 1}, wait=False).json()
    assert outcome["status"] == "pending" and sent[0]["id"] == f"cmd-{outcome['invocationId']}"
