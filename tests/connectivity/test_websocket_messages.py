"""Data reports over the device websocket: checked against the thing model, latest values stored."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from assets.models import Device
from connectivity import protocol as p
from connectivity.handlers import base as handler_base
from connectivity.latest import buffer as latest_buffer
from connectivity.models import LatestValue

from .conftest import device_socket, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def traces(monkeypatch) -> list:
    recorded: list = []
    monkeypatch.setattr(handler_base, "record_message", recorded.append)
    return recorded


def latest(device: Device) -> dict:
    return {v.identifier: v.value for v in LatestValue.objects.filter(device=device, kind="measurepoint")}


def test_a_measurepoint_report_is_accepted_and_its_latest_values_stored(device, traces):
    async def scenario():
        async with device_socket(device) as (socket, _):
            answer = await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 12.5, "running": True},
                                                             "time": 1_700_000_000_000})
            assert answer == {"id": answer["id"], "code": 200, "data": {}, "message": "success"}
            answer = await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": {"value": 13, "quality": 9}}})
            assert answer["code"] == 200
            await latest_buffer.flush()

    run(scenario)
    assert latest(device) == {"power": 13.0, "running": True}
    running = LatestValue.objects.get(device=device, identifier="running")
    assert running.time.year == 2023  # the device's own time, not the arrival time
    reports = [t for t in traces if t.method == p.MEASUREPOINT_POST]
    assert [(t.direction, t.outcome) for t in reports] == [("up", "ok"), ("up", "ok")]
    assert reports[0].payload["measurepoints"]["power"] == 12.5


def test_an_unknown_measure_point_is_refused_with_a_clear_message(device, traces):
    async def scenario():
        async with device_socket(device) as (socket, _):
            answer = await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 1, "voltage": 230}})
            assert answer["code"] == p.INVALID_VALUE
            assert answer["message"] == '"voltage" is not a measure point of model inverter'
            assert answer["data"] == {"errors": {"voltage": answer["message"]}}
            await latest_buffer.flush()

    run(scenario)
    assert latest(device) == {}  # nothing of a refused report is kept
    refused = next(t for t in traces if t.method == p.MEASUREPOINT_POST)
    assert (refused.method, refused.outcome, refused.code) == (p.MEASUREPOINT_POST, "error", p.INVALID_VALUE)


def test_a_value_of_the_wrong_type_or_out_of_range_is_refused(device):
    async def scenario():
        async with device_socket(device) as (socket, _):
            answer = await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": "lots"}})
            assert answer["code"] == p.INVALID_VALUE
            assert answer["message"] == "measure point \"power\": expected a number, got 'lots'"
            answer = await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"temperature": 400}})
            assert "above the maximum 150" in answer["message"]
            answer = await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {}})
            assert answer["code"] == p.BAD_REQUEST

    run(scenario)


def test_an_unknown_method_gets_404_and_a_ping_gets_200(device):
    async def scenario():
        async with device_socket(device) as (socket, _):
            assert (await socket.call("thing.nonsense", {}))["code"] == p.NOT_FOUND
            assert (await socket.call(p.PING, {}))["code"] == p.SUCCESS
            assert (await socket.call(p.LOGIN, {}))["code"] == p.BAD_REQUEST

    run(scenario)


def test_an_attribute_update_is_validated_and_saved_on_the_device(device, traces):
    async def scenario():
        async with device_socket(device) as (socket, _):
            answer = await socket.call(p.ATTRIBUTE_UPDATE, {"attributes": {"capacity": 120.5}})
            assert answer["code"] == 200, answer
            answer = await socket.call(p.ATTRIBUTE_UPDATE, {"attributes": {"capacity": -1}})
            assert answer["code"] == p.INVALID_VALUE and "below the minimum 0" in answer["message"]
            answer = await socket.call(p.ATTRIBUTE_UPDATE, {"attributes": {"colour": "red"}})
            assert answer["code"] == p.INVALID_VALUE and "colour" in answer["message"]

    run(scenario)
    device.refresh_from_db()
    assert device.attributes == {"serial": "SN-1", "capacity": 120.5}
    assert [t.outcome for t in traces if t.method == p.ATTRIBUTE_UPDATE] == ["ok", "error", "error"]


def test_an_event_is_checked_against_the_model_and_kept_as_the_latest(device):
    async def scenario():
        async with device_socket(device) as (socket, _):
            assert (await socket.call("thing.event.fault.post", {"value": "overheat"}))["code"] == 200
            assert (await socket.call("thing.event.fault.post", {"events": {"fault": "E42"}}))["code"] == 200
            answer = await socket.call("thing.event.flood.post", {"value": "x"})
            assert answer["code"] == p.INVALID_VALUE and "flood" in answer["message"]
            answer = await socket.call("thing.event.fault.post", {"value": 7})
            assert answer["code"] == p.INVALID_VALUE
            await latest_buffer.flush()

    run(scenario)
    assert LatestValue.objects.get(device=device, kind="event", identifier="fault").value == "E42"


def test_values_of_a_deleted_device_are_dropped_not_failing_the_batch(device, product):
    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                  attributes={"serial": "SN-2"})

    async def scenario():
        async with device_socket(device) as (socket, _):
            await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 1}})
        async with device_socket(other) as (socket, _):
            await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 2}})
        await database_sync_to_async(Device.objects.filter(pk=device.pk).delete)()
        await latest_buffer.flush()

    run(scenario)
    assert latest(other) == {"power": 2.0}


def test_a_report_whose_model_is_not_cached_is_answered_through_a_thread(device, settings):
    settings.CONNECTIVITY_MODEL_CACHE_SECONDS = 0  # never fresh: every report takes the database path

    async def scenario():
        async with device_socket(device) as (socket, _):
            for value in (1, 2):
                assert (await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": value}}))["code"] == 200
            await latest_buffer.flush()

    run(scenario)
    assert latest(device) == {"power": 2.0}
