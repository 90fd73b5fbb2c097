"""Conformance: the official EnOS device SDK (enos-mqtt-sdk-python) against the portal's real MQTT broker.

Every test drives `enos.core.MqttClient` as the SDK's own samples do, against `manage.py run_mqtt_broker`
started by tests/connectivity/conftest.py (one broker process per test module, reading the test
database: the tests use `django_db(transaction=True)`). Waits are on SDK callbacks, queues and
tests.waiting.wait_for; every client is closed at teardown.
"""

from __future__ import annotations

import datetime as dt
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from enos.core.internal.Profile import Profile
from enos.core.message.IConnectCallback import IConnectCallback
from enos.core.MqttClient import MqttClient

from assets.models import Device, Product, ProductType

# the broker process and its settling, shared with tests/connectivity (imported fixtures register here)
from tests.connectivity.conftest import (  # noqa: F401
    fresh_model_cache,
    mqtt_port,
    no_persistent_connections_in_pool_threads,
    settled_mqtt_broker,
    status_of,
)

OPERATION_TIMEOUT = 15  # seconds the SDK waits for a reply (its default is 30)
WAIT = 15  # seconds a test waits for something the broker or the SDK does


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def at_ms(stamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp / 1000, tz=dt.UTC)


def make_device(product: Product, device_key: str, **fields: Any) -> Device:
    fields.setdefault("attributes", {"serial": f"SN-{device_key}"})
    return Device.objects.create(ou=product.ou, product=product, device_key=device_key,
                                 name=fields.pop("name", device_key), **fields)


def make_sub_devices(gateway: Device, product: Product, *keys: str) -> list[Device]:
    """Device-type devices attached to `gateway` (the topology EnOS's console sets up)."""
    assert product.product_type == ProductType.DEVICE
    return [make_device(product, key, gateway=gateway) for key in keys]


def shutdown(client: MqttClient) -> None:
    """Close an SDK client whatever state it is in. The SDK's own close() leaves paho's network thread
    running after a refused CONNECT (it retries for ever), so that thread is stopped here too."""
    connection = client._MqttClient__connection  # noqa: SLF001 - the SDK gives no other handle on it
    paho = connection._MqttConnection__paho_client  # noqa: SLF001
    try:
        client.close()
    finally:
        if paho is not None:
            paho.disconnect()
            paho.loop_stop()


class Sdk:
    """Makes SDK clients for one test against the broker on `port`; closes all of them at teardown."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"tcp://127.0.0.1:{port}"
        self.clients: list[MqttClient] = []

    def client(self, device: Device, *, secret: str | None = None, product_secret: str | None = None,
               sign_method: str | None = None, timestamp: str | None = None,
               auto_reconnect: bool = True) -> MqttClient:
        """A client for `device`: static (its device secret, or `secret`), or dynamic activation when
        `product_secret` is given and no secret. `timestamp` replaces the one the SDK put in the
        Profile (a decimal milliseconds string)."""
        device_secret = None if product_secret and secret is None else (secret or device.device_secret)
        profile = Profile(self.url, device.product.product_key, device.device_key, device_secret, product_secret)
        profile.set_operation_timeout(OPERATION_TIMEOUT)
        profile.set_auto_reconnect(auto_reconnect)
        if sign_method:
            profile.set_sign_method(sign_method)
        if timestamp is not None:
            profile._Profile__timestamp = timestamp  # noqa: SLF001 - the SDK fixes it at construction
        client = MqttClient(profile=profile)
        self.clients.append(client)
        return client

    def connected(self, device: Device, **options: Any) -> MqttClient:
        """A client for `device` that the broker accepted."""
        client = self.client(device, **options)
        client.connect()
        assert client.is_connected(), "the broker refused the SDK's CONNECT"
        return client

    def refused(self, device: Device, **options: Any) -> tuple[MqttClient, int]:
        """A client for `device` that tries to log in once, and the CONNACK return code the broker answered.

        The SDK's blocking connect() wakes only on CONNACK 0: on a refusal it sits out its whole 10 s
        connect timeout. So the SDK connects asynchronously and this waits for the broker's first answer,
        read where the SDK reads it (its paho client's on_connect)."""
        client = self.client(device, auto_reconnect=False, **options)
        answers: queue.Queue[int] = queue.Queue()
        connection = client._MqttClient__connection  # noqa: SLF001 - the SDK gives no other handle on it
        sdk_on_connect = connection._MqttConnection__on_internal_connect  # noqa: SLF001

        def on_connect(paho: Any, userdata: Any, flags: dict, code: int) -> None:
            answers.put(code)
            sdk_on_connect(paho, userdata, flags, code)

        # the SDK hands this attribute to the paho client it makes in connect(), before paho connects
        connection._MqttConnection__on_internal_connect = on_connect  # noqa: SLF001
        client.connect(callback=_QuietConnectCallback())
        try:
            code = answers.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"the broker did not answer the SDK's CONNECT in {WAIT} s") from None
        return client, code

    def close_all(self) -> None:
        for client in self.clients:
            shutdown(client)


class _QuietConnectCallback(IConnectCallback):
    """Makes the SDK's connect() asynchronous; the SDK's default callback prints."""

    def on_connect(self) -> None:
        pass

    def on_disconnect(self) -> None:
        pass

    def on_connect_failed(self) -> None:
        pass


@pytest.fixture
def sdk(settled_mqtt_broker: int) -> Iterator[Sdk]:  # noqa: F811 - the fixture, imported above
    made = Sdk(settled_mqtt_broker)
    try:
        yield made
    finally:
        made.close_all()


class Inbox:
    """A downstream-command handler for `client.register_arrived_message_handler`: keeps what arrives
    and answers with `answer(message, topic_args)` (None: no reply)."""

    def __init__(self, answer: Callable[[Any, list], Any] | None = None) -> None:
        self.answer = answer
        self.arrived: queue.Queue[tuple[Any, list]] = queue.Queue()

    def __call__(self, message: Any, args: list) -> Any:
        self.arrived.put((message, list(args)))
        return self.answer(message, args) if self.answer else None

    def next(self, timeout: float = WAIT) -> tuple[Any, list]:
        try:
            return self.arrived.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no command reached the SDK in {timeout} s") from None


def now_ms() -> int:
    return int(time.time() * 1000)
