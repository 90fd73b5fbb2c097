"""The simulator and `manage.py simulate_devices`: real traffic against a real server, misbehaviour included."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assets import services as asset_services
from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity.management.commands.simulate_devices import parse_misbehaviour
from connectivity.simulator import Backoff, LoginFailed, Misbehaviour, SimulatedDevice, Triple, value_generator
from tests.conftest import MODEL_MEASUREPOINTS
from tests.processes import asgi_server, daphne_server
from tests.waiting import wait_for

from .conftest import in_fresh_thread, run, status_of
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


class DeviceThread:
    """A simulated device on its own thread and event loop that stays connected as the SDK does: after
    any close it did not ask for, it reconnects (fast backoff for the test) until stopped."""

    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        self.loop = asyncio.new_event_loop()
        self.stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main)
        self.thread.start()

    def _main(self) -> None:
        try:
            self.loop.run_until_complete(self._stay_connected())
        except BaseException as error:  # noqa: BLE001 - reported by stopped()
            self.error = error

    async def _stay_connected(self) -> None:
        self.stop = asyncio.Event()
        await self.device.connect()
        while not self.stop.is_set():
            closed, stopping = asyncio.ensure_future(self.device.closed.wait()), asyncio.ensure_future(self.stop.wait())
            await asyncio.wait([closed, stopping], return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            stopping.cancel()
            if self.stop.is_set() or not await self.device.reconnect(stop=self.stop):
                break
        await self.device.close()

    def stopped(self) -> None:
        wait_for(lambda: self.stop is not None or self.error is not None, 15)
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(15)
        assert not self.thread.is_alive()
        self.loop.close()
        if self.error is not None:
            raise self.error


def disable_then_enable(device: Device, writer, simulated: SimulatedDevice, refused_code: int) -> None:
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, 15)
    asset_services.disable_device(writer, device)
    wait_for(lambda: not Device.objects.get(pk=device.pk).online, 15)  # kicked
    wait_for(lambda: refused_code in simulated.stats.login_refusals, 15)  # and refused while disabled
    assert status_of(device) == DeviceStatus.DISABLED
    asset_services.enable_device(writer, device)
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, 15)  # came back by itself
    # the simulator counts the reconnect once its login reply is in, just after the portal marks it Online
    wait_for(lambda: simulated.stats.reconnects >= 1, 15)


def test_backoff_doubles_with_jitter_up_to_its_cap():
    backoff = Backoff(initial=1.0, cap=60.0)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (3, 8.0), (6, 60.0), (500, 60.0)]:
        delays = [backoff.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1  # jittered


def test_a_simulated_mqtt_device_comes_back_after_disable_then_enable(device, writer):
    with mqtt_broker(CONNECTIVITY_SESSION_HEARTBEAT_SECONDS="0.3") as port:
        simulated = SimulatedDevice(Triple(device.product.product_key, device.device_key, device.device_secret),
                                    transport="mqtt", url=f"mqtt://127.0.0.1:{port}",
                                    backoff=Backoff(initial=0.05, cap=0.4))
        runner = DeviceThread(simulated)
        try:
            # MQTT 3.1.1 cannot carry 723: CONNACK 5 "not authorized" (the broker's trace says 723)
            disable_then_enable(device, writer, simulated, refused_code=5)
        finally:
            runner.stopped()
        wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, 15)


def test_a_simulated_websocket_device_is_refused_with_723_while_disabled_and_comes_back(device, writer,
                                                                                         redis_everywhere):
    with asgi_server("daphne", REDIS_URL=redis_everywhere) as base:
        simulated = SimulatedDevice(Triple(device.product.product_key, device.device_key, device.device_secret),
                                    url=base.replace("http://", "ws://") + "/ws/device/",
                                    backoff=Backoff(initial=0.05, cap=0.4))
        runner = DeviceThread(simulated)
        try:
            disable_then_enable(device, writer, simulated, refused_code=p.DEVICE_DISABLED)
        finally:
            runner.stopped()
        wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, 15)
