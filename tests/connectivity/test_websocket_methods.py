"""The EnOS methods beyond a plain report, over the device websocket (the MQTT broker runs the same
handlers; the official SDK drives them in tests/conformance): batches and resumed data, attributes
and tags of the device's own record, the TSL template, gateways' topology and registration."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from accounts.models import AuditEvent
from assets import services as asset_services
from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity import services
from connectivity.latest import buffer as latest_buffer
from connectivity.models import CommandStatus, LatestValue, ValueHistory

from .conftest import closing, device_socket, run, status_of

pytestmark = pytest.mark.django_db(transaction=True)

HOUR_AGO_MS = p.now_ms() - 3_600_000


def latest(device: Device) -> dict:
    return {v.identifier: (v.value, v.time) for v in LatestValue.objects.filter(device=device)}


def ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


@pytest.fixture
def sub_device(gateway, device, writer) -> Device:
    asset_services.add_sub_devices(writer, gateway, [device])
    device.refresh_from_db()
    return device


def test_a_resume_is_history_and_never_overwrites_a_newer_latest_value(device):
    async def scenario():
        async with device_socket(device) as (socket, _):
            now_ms = p.now_ms()
            assert (await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 9.5}, "time": now_ms}))[
                "code"] == 200
            answer = await socket.call(p.MEASUREPOINT_RESUME, {"measurepoints": {"power": 1.5, "temperature": 20},
                                                               "time": HOUR_AGO_MS})
            assert answer["code"] == 200, answer
            await latest_buffer.flush()
            return now_ms

    now_ms = run(scenario)
    values = latest(device)
    # the live value is newer than the resumed one: it stays; the resumed temperature is the only one
    assert values["power"][0] == 9.5 and ms(values["power"][1]) == now_ms
    assert values["temperature"][0] == 20.0
    history = {(h.identifier, h.value, ms(h.time)) for h in ValueHistory.objects.filter(device=device)}
    assert history == {("power", 1.5, HOUR_AGO_MS), ("temperature", 20.0, HOUR_AGO_MS)}


def test_a_batch_reports_for_the_gateway_and_its_logged_in_sub_devices_each_with_its_own_time(gateway, sub_device):
    sub = p.login_params(sub_device.product.product_key, sub_device.device_key, sub_device.device_secret)

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            assert (await socket.call(p.COMBINE_LOGIN, sub))["code"] == 200
            batch = [
                {"productKey": gateway.product.product_key, "deviceKey": gateway.device_key,
                 "measurepoints": {"power": 1.0}, "time": HOUR_AGO_MS},
                {"productKey": sub["productKey"], "deviceKey": sub["deviceKey"],
                 "measurepoints": {"power": 2.0}, "time": HOUR_AGO_MS + 1000},
            ]
            assert (await socket.call(p.MEASUREPOINT_POST_BATCH, batch))["code"] == 200
            bad = [{**batch[1], "measurepoints": {"power": "lots"}}]
            refused = await socket.call(p.MEASUREPOINT_POST_BATCH, bad)
            assert refused["code"] == p.INVALID_VALUE and "item 0" in refused["message"]
            skipped = await socket.call(p.MEASUREPOINT_POST_BATCH, bad + batch[:1], skipInvalidMeasurepoints=True)
            assert skipped["code"] == 200
            assert (await socket.call(p.COMBINE_LOGOUT, {"productKey": sub["productKey"],
                                                         "deviceKey": sub["deviceKey"]}))["code"] == 200
            offline = await socket.call(p.MEASUREPOINT_POST_BATCH, batch[1:])
            assert offline["code"] == p.SUB_DEVICE_NO_PERMISSION
            allowed = await socket.call(p.MEASUREPOINT_POST_BATCH, batch[1:], allowOfflineSubDevice=True)
            assert allowed["code"] == 200
            await latest_buffer.flush()

    run(scenario)
    assert ms(latest(gateway)["power"][1]) == HOUR_AGO_MS
    assert latest(sub_device)["power"][0] == 2.0 and ms(latest(sub_device)["power"][1]) == HOUR_AGO_MS + 1000


def test_attributes_are_queried_updated_and_deleted_on_the_device_record(device):
    async def scenario():
        async with device_socket(device) as (socket, _):
            assert (await socket.call(p.ATTRIBUTE_UPDATE, {"attributes": {"capacity": 350}}))["code"] == 200
            everything = await socket.call(p.ATTRIBUTE_QUERY, {"attributes": []})
            assert everything["data"] == {"serial": "SN-1", "capacity": 350.0}
            some = await socket.call(p.ATTRIBUTE_QUERY, {"attributes": ["capacity"]})
            assert some["data"] == {"capacity": 350.0}
            assert (await socket.call(p.ATTRIBUTE_DELETE, {"attributes": ["capacity"]}))["code"] == 200
            required = await socket.call(p.ATTRIBUTE_DELETE, {"attributes": ["serial"]})
            assert required["code"] == p.INVALID_VALUE and "Required" in required["message"]
            unknown = await socket.call(p.ATTRIBUTE_DELETE, {"attributes": ["colour"]})
            assert unknown["code"] == p.INVALID_VALUE

    run(scenario)
    device.refresh_from_db()
    assert device.attributes == {"serial": "SN-1"}
    assert AuditEvent.objects.filter(action="device.update", object_id=device.public_id).count() == 2


def test_tags_are_the_device_assets_tags(device):
    async def scenario():
        async with device_socket(device) as (socket, _):
            update = [{"tagKey": "site", "tagValue": "suzhou"}, {"tagKey": "rack", "tagValue": 30}]
            assert (await socket.call(p.TAG_UPDATE, update))["code"] == 200
            assert (await socket.call(p.TAG_QUERY, {"tags": []}))["data"] == {"site": "suzhou", "rack": "30"}
            assert (await socket.call(p.TAG_QUERY, {"tags": ["rack"]}))["data"] == {"rack": "30"}
            assert (await socket.call(p.TAG_DELETE, {"tags": ["rack"]}))["code"] == 200
            bad = await socket.call(p.TAG_UPDATE, [{"tagKey": "bad key!", "tagValue": "x"}])
            assert bad["code"] == p.INVALID_VALUE

    run(scenario)
    device.refresh_from_db()
    assert device.tags == {"site": "suzhou"}


def test_the_tsl_template_is_the_devices_model(device):
    async def scenario():
        async with device_socket(device) as (socket, _):
            return await socket.call(p.TSL_TEMPLATE_GET, {})

    data = run(scenario)["data"]
    assert data["tslModelId"] == "inverter"
    assert set(data["tslMeasurepointMap"]) == {"power", "temperature", "running"}
    assert set(data["tslAttributeMap"]) == {"serial", "capacity", "phase", "commissioned"}
    assert set(data["tslServiceMap"]) == {"restart"} and set(data["tslEventMap"]) == {"fault"}


def signed(sub: Device, **extra) -> dict:
    fields = p.login_params(sub.product.product_key, sub.device_key, sub.device_secret,
                            client_id=f"{sub.product.product_key}.{sub.device_key}")
    return {k: fields[k] for k in ("productKey", "deviceKey", "clientId", "timestamp", "signMethod", "sign")} | extra


def test_a_gateway_manages_its_topology(gateway, device):
    right = signed(device)
    wrong = {**right, "sign": "0" * 64}
    sub = p.login_params(device.product.product_key, device.device_key, device.device_secret)
    keys = [{"productKey": device.product.product_key, "deviceKey": device.device_key}]

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            assert (await socket.call(p.TOPO_ADD, [wrong]))["code"] == p.TOPO_ADD_FAILED
            assert (await socket.call(p.TOPO_ADD, [right]))["code"] == 200
            listed = await socket.call(p.TOPO_GET, {})
            assert listed["data"] == [{**keys[0], "assetId": device.asset_id}]
            assert (await socket.call(p.COMBINE_LOGIN, sub))["code"] == 200
            online = await socket.call(p.TOPO_DELETE, keys)
            assert online["code"] == p.TOPO_DELETE_FAILED and "online" in online["message"]
            assert (await socket.call(p.COMBINE_LOGOUT, keys[0]))["code"] == 200
            assert (await socket.call(p.TOPO_DELETE, keys))["code"] == 200
            assert (await socket.call(p.TOPO_GET, {}))["data"] == []

    run(scenario)
    device.refresh_from_db()
    assert device.gateway_id is None


def test_only_a_gateway_has_a_topology(device):
    async def scenario():
        async with device_socket(device) as (socket, _):
            assert (await socket.call(p.TOPO_GET, {}))["code"] == p.TOPO_GET_FAILED

    run(scenario)


def test_a_gateway_registers_sub_devices_of_a_product_that_allows_it(gateway, product):
    item = {"productKey": product.product_key, "deviceKey": "new-sub-1",
            "deviceName": {"defaultValue": "New sub", "i18nValue": {}}, "timezone": "+08:00",
            "deviceAttributes": {"serial": "SN-9"}}

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            refused = await socket.call(p.DEVICE_REGISTER, [item])
            assert refused["code"] == p.DYNAMIC_ACTIVATION_NOT_ALLOWED
            product.dynamic_activation = True
            await database_sync_to_async(product.save)()
            answer = await socket.call(p.DEVICE_REGISTER, [item])
            assert answer["code"] == 200, answer
            again = await socket.call(p.DEVICE_REGISTER, [item])
            assert again["code"] == p.DEVICE_KEY_EXISTS
            return answer["data"]

    data = run(scenario)
    created = Device.objects.get(device_key="new-sub-1")
    assert data == [{"assetId": created.asset_id, "productKey": product.product_key, "deviceKey": "new-sub-1",
                     "deviceSecret": created.device_secret}]
    assert (created.ou_id, created.gateway_id, created.name) == (gateway.ou_id, gateway.pk, "New sub")
    assert status_of(created) == DeviceStatus.INACTIVE


def test_a_batch_login_signs_with_the_batch_timestamp_in_seconds_and_reports_each_failure(gateway, sub_device,
                                                                                           product):
    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                  attributes={"serial": "SN-2"}, gateway=gateway)
    seconds = f"{p.now_ms() / 1000:.6f}"
    fields = {"clientId": "login.batch", "timestamp": seconds}

    def sign(sub: Device, secret: str | None = None) -> dict:
        content = {**fields, "productKey": sub.product.product_key, "deviceKey": sub.device_key}
        return {"productKey": sub.product.product_key, "deviceKey": sub.device_key, "secureMode": "2",
                "sign": p.compute_sign(content, secret or sub.device_secret, "hmacsha256")}

    params = {**fields, "signMethod": "hmacsha256", "subDevices": [sign(sub_device), sign(other, "wrong")]}

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            return await socket.call(p.COMBINE_LOGIN_BATCH, params)

    answer = run(scenario)
    assert answer["code"] == p.SIGN_CHECK_FAILED
    assert answer["data"]["loginedSubDevices"] == [{"assetId": sub_device.asset_id, "productKey": product.product_key,
                                                    "deviceKey": sub_device.device_key}]
    assert answer["data"]["failedSubDevices"] == [{"productKey": product.product_key, "deviceKey": "inv-0002"}]
    assert answer["message"] == f"{product.product_key}&inv-0002 has error: Sign check failed.;"


def test_measure_points_are_set_and_read_through_the_device(device, writer):
    device = Device.objects.select_related("product__model").get(pk=device.pk)

    def in_thread(func, *args, **kwargs):
        return sync_to_async(closing(func), thread_sensitive=False)(*args, **kwargs)

    async def scenario():
        async with device_socket(device) as (socket, _):
            pending = asyncio.ensure_future(in_thread(services.set_measurepoints, writer, device,
                                                      {"power": "12.5"}, from_text=True, timeout=5))
            command = await socket.receive()
            assert (command["method"], command["params"]) == ("thing.service.measurepoint.set", {"power": 12.5})
            await socket.send({"id": command["id"], "code": 200, "data": None, "message": ""})
            set_outcome = await pending
            pending = asyncio.ensure_future(in_thread(services.get_measurepoints, writer, device, ["power"],
                                                      timeout=5))
            command = await socket.receive()
            assert (command["method"], command["params"]) == ("thing.service.measurepoint.get", ["power"])
            await socket.send({"id": command["id"], "code": 200, "data": {"power": 12.5}})
            return set_outcome, await pending

    set_outcome, get_outcome = run(scenario)
    assert set_outcome.status == CommandStatus.OK
    assert (get_outcome.status, get_outcome.reply) == (CommandStatus.OK, {"power": 12.5})


def test_an_async_service_answers_once_sent_and_the_reply_lands_later(device, writer):
    device = Device.objects.select_related("product__model").get(pk=device.pk)

    async def scenario():
        async with device_socket(device) as (socket, _):
            sent = await sync_to_async(closing(services.invoke_service), thread_sensitive=False)(
                writer, device, "restart", {"delay": 1}, wait=False)
            assert sent.status == CommandStatus.PENDING
            command = await socket.receive()
            await socket.send({"id": command["id"], "code": "1101", "message": "handler not registered"})
            assert await socket.nothing()
            return sent

    sent = run(scenario)
    sent.refresh_from_db()
    assert (sent.status, sent.code) == (CommandStatus.ERROR, 1101)
