"""Logging in over the device websocket: the triple's sign, activation, refusals with EnOS codes."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from assets import services as asset_services
from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity.models import DeviceSession

from .conftest import device_socket, login_message, run, status_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_login_activates_the_device_and_closing_makes_it_offline(device):
    assert status_of(device) == DeviceStatus.INACTIVE

    async def scenario():
        async with device_socket(device) as (_, answer):
            assert answer["data"] == {"assetId": device.asset_id, "productKey": device.product.product_key,
                                      "deviceKey": device.device_key}
            assert await database_sync_to_async(status_of)(device) == DeviceStatus.ONLINE

    run(scenario)
    assert status_of(device) == DeviceStatus.OFFLINE
    assert device.activated_at is not None
    assert device.last_online_at <= device.last_offline_at
    assert not DeviceSession.objects.exists()


def test_the_sign_may_be_upper_case(device):
    message = login_message(device)
    message["params"]["sign"] = message["params"]["sign"].upper()

    async def scenario():
        async with device_socket(login=message):
            pass

    run(scenario)


def test_a_wrong_secret_is_refused_with_742_and_the_device_stays_inactive(device):
    async def scenario():
        async with device_socket(login=login_message(device, secret="not-the-secret"),
                                 expect_code=p.SIGN_CHECK_FAILED) as (socket, answer):
            assert answer["message"] == "Sign check failed."
            closed = await socket.closed()
            assert closed == {"type": "websocket.close", "code": 4001}

    run(scenario)
    assert status_of(device) == DeviceStatus.INACTIVE


def test_a_stale_timestamp_is_refused(device, settings):
    settings.CONNECTIVITY_SIGN_WINDOW_SECONDS = 60
    message = login_message(device, timestamp=str(p.now_ms() - 120_000))
    # re-sign with the stale timestamp: only the window may refuse it
    fields = {k: message["params"][k] for k in p.SIGNED_FIELDS}
    message["params"]["sign"] = p.compute_sign(fields, device.device_secret)

    async def scenario():
        async with device_socket(login=message, expect_code=p.SIGN_CHECK_FAILED) as (_, answer):
            assert "60 s" in answer["message"]

    run(scenario)


def test_an_unknown_device_is_refused_as_a_wrong_sign_is(device):
    """An unauthenticated caller cannot tell an unknown deviceKey from a wrong secret."""
    unknown = login_message(device)
    unknown["params"]["deviceKey"] = "nobody"
    wrong = login_message(device)
    wrong["params"]["sign"] = "0" * 64

    async def scenario():
        async with device_socket(login=unknown, expect_code=p.SIGN_CHECK_FAILED) as (_, first):
            pass
        async with device_socket(login=wrong, expect_code=p.SIGN_CHECK_FAILED) as (_, second):
            pass
        assert first["message"] == second["message"]

    run(scenario)


def test_a_disabled_device_is_refused_with_723(device):
    asset_services.disable_device(device.ou.owner, device)

    async def scenario():
        async with device_socket(device, expect_code=p.DEVICE_DISABLED) as (_, answer):
            assert answer["message"] == "The device is disabled."

    run(scenario)
    assert status_of(device) == DeviceStatus.DISABLED


def test_the_first_message_must_be_a_login(device):
    async def scenario():
        async with device_socket() as (socket, _):
            await socket.send(p.request("9", p.MEASUREPOINT_POST, {"measurepoints": {"power": 1}}))
            answer = await socket.receive()
            assert answer["code"] == p.NOT_LOGGED_IN and answer["id"] == "9"
            assert (await socket.closed())["code"] == 4001

    run(scenario)


def test_a_message_that_is_not_json_gets_1220(device):
    async def scenario():
        async with device_socket(device) as (socket, _):
            await socket.communicator.send_to(text_data="{nope")
            assert (await socket.receive())["code"] == p.PAYLOAD_FORMAT_ERROR

    run(scenario)


def test_login_params_must_be_complete(device):
    message = login_message(device)
    del message["params"]["timestamp"]

    async def scenario():
        async with device_socket(login=message, expect_code=p.BAD_REQUEST) as (_, answer):
            assert "timestamp" in answer["message"]

    run(scenario)


def test_no_login_in_time_closes_the_connection(device, settings):
    settings.CONNECTIVITY_LOGIN_TIMEOUT_SECONDS = 0.1

    async def scenario():
        async with device_socket() as (socket, _):
            assert (await socket.closed())["code"] == 4002

    run(scenario)


def test_a_silent_connection_is_closed_after_its_keepalive_and_goes_offline(device, settings):
    settings.CONNECTIVITY_KEEPALIVE_SECONDS = 0.2

    async def scenario():
        async with device_socket(device) as (socket, _):
            assert (await socket.closed(timeout=3))["code"] == 4008

    run(scenario)
    assert status_of(device) == DeviceStatus.OFFLINE


def test_a_second_login_replaces_the_first_connection_without_an_offline_blip(device):
    async def scenario():
        async with device_socket(device) as (first, _), device_socket(device):
            assert (await first.closed())["code"] == 4004
            # the replaced connection's close must not mark the device offline
            await first.communicator.disconnect()
            assert await database_sync_to_async(status_of)(device) == DeviceStatus.ONLINE

    run(scenario)
    assert status_of(device) == DeviceStatus.OFFLINE


def test_device_sockets_bypass_the_browser_stack_and_need_no_origin(device):
    from channels.testing import WebsocketCommunicator

    from connectivity.routing import with_device_sockets

    reached: list[str] = []

    async def browser_stack(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "websocket.close"})

    application = with_device_sockets(browser_stack)
    message = login_message(device)

    async def scenario():
        device_side = WebsocketCommunicator(application, "/ws/device")
        assert (await device_side.connect())[0] is True
        await device_side.send_json_to(message)
        assert (await device_side.receive_json_from())["code"] == 200
        await device_side.disconnect()
        other = WebsocketCommunicator(application, "/ws/traces/1/")
        assert (await other.connect())[0] is False

    run(scenario)
    assert reached == ["/ws/traces/1/"]


def test_failed_logins_are_limited_per_device_and_then_even_the_right_sign_waits(device, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "device-login": "3/5m"}
    wrong = login_message(device, secret="guess")
    unknown = login_message(device)
    unknown["params"]["deviceKey"] = "nobody"

    async def scenario():
        for _ in range(3):
            async with device_socket(login=wrong, expect_code=p.SIGN_CHECK_FAILED):
                pass
        async with device_socket(login=login_message(device), expect_code=p.TOO_MANY_REQUESTS) as (_, answer):
            assert "retry in" in answer["message"]
        # an unknown deviceKey counts as a wrong sign does, on its own key
        for _ in range(3):
            async with device_socket(login=unknown, expect_code=p.SIGN_CHECK_FAILED):
                pass
        async with device_socket(login=unknown, expect_code=p.TOO_MANY_REQUESTS):
            pass

    run(scenario)
    assert status_of(device) == DeviceStatus.INACTIVE


def test_failed_logins_are_limited_per_client_address(device, product, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "device-login-ip": "2/5m"}
    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                  attributes={"serial": "SN-2"})

    async def scenario():
        for target in (device, other):
            async with device_socket(login=login_message(target, secret="guess"), expect_code=p.SIGN_CHECK_FAILED):
                pass
        async with device_socket(login=login_message(other), expect_code=p.TOO_MANY_REQUESTS):
            pass

    run(scenario)
