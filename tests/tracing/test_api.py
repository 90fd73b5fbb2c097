"""/api/devices/{assetId}/traces/ and /api/traces/{id}/…: the OU matrix, start/extend/stop, the logs
cursor by seq, and the JSON lines download."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.assets.api.helpers import api_client_for, assert_error
from tracing import services
from tracing.models import MessageTrace

from .conftest import send

pytestmark = pytest.mark.django_db


def endpoints(device, trace) -> list[tuple[str, str, dict, bool, int]]:
    """(method, url, body, is a write, success status)"""
    return [
        ("get", f"/api/devices/{device.asset_id}/traces/", {}, False, 200),
        ("get", f"/api/traces/{trace.pk}/", {}, False, 200),
        ("get", f"/api/traces/{trace.pk}/logs/", {}, False, 200),
        ("get", f"/api/traces/{trace.pk}/logs.jsonl", {}, False, 200),
        ("post", f"/api/traces/{trace.pk}/extend/", {"duration": 600}, True, 200),
        ("post", f"/api/traces/{trace.pk}/stop/", {}, True, 200),
        ("post", f"/api/devices/{device.asset_id}/traces/", {"duration": 600}, True, 201),
    ]


@pytest.mark.parametrize("index", range(7))
@pytest.mark.parametrize("who", ["writer", "viewer", "outsider", "anonymous"])
def test_the_ou_matrix(cast, device, trace, index, who):
    method, url, body, write, ok = endpoints(device, trace)[index]
    if ok == 201:
        services.stop_trace(cast["writer"], trace)  # a start needs the device free
    response = getattr(api_client_for(cast[who]), method)(url, body)
    expected = {"writer": ok, "viewer": 403 if write else ok, "outsider": 404, "anonymous": 401}[who]
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert set(response.json()) == {"code", "message", "details"}


def test_start_returns_the_trace(writer, device):
    response = api_client_for(writer).post(f"/api/devices/{device.asset_id}/traces/", {"duration": 3600})
    assert response.status_code == 201
    body = response.json()
    trace = MessageTrace.objects.get()
    assert body["id"] == trace.pk and body["assetId"] == device.asset_id and body["active"] is True
    assert body["startedBy"] == "writer" and body["lastSeq"] == 0 and body["stopReason"] is None


@pytest.mark.parametrize("duration", [59, 3 * 86400 + 1, 0, "soon"])
def test_start_refuses_a_duration_outside_the_bounds(writer, device, duration):
    response = api_client_for(writer).post(f"/api/devices/{device.asset_id}/traces/", {"duration": duration})
    body = assert_error(response, 400)
    assert "duration" in body["details"]
    assert not MessageTrace.objects.exists()


def test_start_while_active_is_a_conflict(writer, device, trace):
    body = assert_error(api_client_for(writer).post(f"/api/devices/{device.asset_id}/traces/", {"duration": 60}),
                        409, "trace_active")
    assert "Extend it or stop it" in body["message"]


def test_extend_and_stop(writer, trace):
    client = api_client_for(writer)
    old = trace.expires_at
    body = client.post(f"/api/traces/{trace.pk}/extend/", {"duration": 1800}).json()
    trace.refresh_from_db()
    assert trace.expires_at == old + timedelta(minutes=30) and body["active"] is True
    body = client.post(f"/api/traces/{trace.pk}/stop/").json()
    assert body["active"] is False and body["stopReason"] == "stopped" and body["stoppedAt"]
    assert_error(client.post(f"/api/traces/{trace.pk}/stop/"), 409, "trace_ended")


def test_the_device_list_can_ask_for_the_running_trace_only(writer, device, trace):
    services.stop_trace(writer, trace)
    running = services.start_trace(writer, device, timedelta(minutes=5))
    client = api_client_for(writer)
    assert [t["id"] for t in client.get(f"/api/devices/{device.asset_id}/traces/").json()] == [running.pk, trace.pk]
    assert [t["id"] for t in client.get(f"/api/devices/{device.asset_id}/traces/?active=true").json()] == [
        running.pk]


def test_logs_page_by_seq(viewer, device, trace):
    for n in range(12):
        send(device, payload={"n": n})
    client = api_client_for(viewer)
    first = client.get(f"/api/traces/{trace.pk}/logs/", {"limit": 5}).json()
    assert [log["seq"] for log in first["results"]] == [1, 2, 3, 4, 5] and first["lastSeq"] == 12
    second = client.get(first["next"]).json()
    assert [log["seq"] for log in second["results"]] == [6, 7, 8, 9, 10]
    last = client.get(f"/api/traces/{trace.pk}/logs/", {"after": 10, "limit": 5}).json()
    assert [log["seq"] for log in last["results"]] == [11, 12] and last["next"] is None


@pytest.mark.parametrize("params", [{"after": "-1"}, {"limit": "0"}, {"limit": "1001"}, {"after": "x"}])
def test_logs_refuse_bad_cursors(viewer, trace, params):
    assert_error(api_client_for(viewer).get(f"/api/traces/{trace.pk}/logs/", params), 400)


def test_a_logs_page_costs_a_fixed_number_of_queries(django_assert_max_num_queries, viewer, device, trace):
    for _ in range(50):
        send(device)
    client = api_client_for(viewer)
    client.get(f"/api/traces/{trace.pk}/logs/")  # session and permissions warmed like any later page
    with django_assert_max_num_queries(5):
        response = client.get(f"/api/traces/{trace.pk}/logs/")
    assert len(response.json()["results"]) == 50


def test_download_is_json_lines(viewer, device, trace):
    for n in range(3):
        send(device, payload={"n": n})
    response = api_client_for(viewer).get(f"/api/traces/{trace.pk}/logs.jsonl")
    assert response.status_code == 200
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [(line["seq"], line["payload"]["n"]) for line in lines] == [(1, 0), (2, 1), (3, 2)]


def test_token_authentication_works(writer, device):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=writer).key}")
    assert client.post(f"/api/devices/{device.asset_id}/traces/", {"duration": 60}, format="json").status_code == 201
