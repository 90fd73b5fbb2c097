"""The simulator and `manage.py simulate_devices`: real traffic against a real server, misbehaviour included."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity.management.commands.simulate_devices import parse_misbehaviour
from connectivity.simulator import LoginFailed, Misbehaviour, SimulatedDevice, Triple, value_generator
from tests.conftest import MODEL_MEASUREPOINTS
from tests.processes import daphne_server

from .conftest import in_fresh_thread, run
from .mqtt_client import mqtt_broker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_values_stay_within_the_model():
    values = value_generator(MODEL_MEASUREPOINTS)()
    assert set(values) == {"power", "temperature", "running"}
    assert -50 <= values["temperature"] <= 150 and isinstance(values["running"], bool)


def test_misbehaviour_options_are_parsed():
    assert parse_misbehaviour("bad-sign,slow-reply=2,drop-after=5") == Misbehaviour(
        bad_sign=True, slow_reply_seconds=2.0, drop_after_seconds=5.0)
    with pytest.raises(CommandError):
        parse_misbehaviour("explode")


def test_misbehaving_devices_over_the_websocket(device, product, capsys):
    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                  attributes={"serial": "SN-2"})
    good = Triple(product.product_key, device.device_key, device.device_secret)
    dropper = Triple(product.product_key, other.device_key, other.device_secret)
    with daphne_server() as base:
        url = base.replace("http://", "ws://") + "/ws/device/"

        async def scenario():
            with pytest.raises(LoginFailed) as refused:
                await SimulatedDevice(good, url=url, misbehaviour=Misbehaviour(bad_sign=True)).connect()
            assert refused.value.code == p.SIGN_CHECK_FAILED
            noisy = SimulatedDevice(good, url=url, values=lambda: {"power": 1.0},
                                    misbehaviour=Misbehaviour(unknown_measurepoint=True))
            await noisy.connect()
            assert (await noisy.report())["code"] == p.INVALID_VALUE
            await noisy.close()
            vanishing = SimulatedDevice(dropper, url=url, misbehaviour=Misbehaviour(drop_after_seconds=0.2))
            await vanishing.connect()
            await asyncio.wait_for(vanishing.closed.wait(), 5)

        run(scenario)
        # the abrupt drop is noticed by the server: the device goes offline
        for _ in range(100):
            if Device.objects.get(pk=other.pk).status == DeviceStatus.OFFLINE:
                break
            time.sleep(0.05)
        assert Device.objects.get(pk=other.pk).status == DeviceStatus.OFFLINE

        in_fresh_thread(call_command, "simulate_devices", "--ou", product.ou.ou_id, "--count", "2", "--url", url,
                        "--duration", "1.5", "--rate", "4")
    out = capsys.readouterr().out
    assert "connected 2/2" in out and "refused 0" in out


def test_simulate_devices_over_mqtt(device, capsys):
    with mqtt_broker() as port:
        in_fresh_thread(call_command, "simulate_devices", "--ou", device.ou.name, "--count", "1", "--transport",
                        "mqtt", "--url", f"mqtt://127.0.0.1:{port}", "--duration", "1", "--rate", "5")
    out = capsys.readouterr().out
    assert "connected 1/1" in out and "refused 0" in out
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE and device.activated_at is not None
