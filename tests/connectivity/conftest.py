"""Helpers for connectivity tests: a device websocket through channels' communicator, signed logins, and the
real MQTT broker process (shared with tests/conformance, which imports these fixtures)."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity.latest import buffer as latest_buffer
from connectivity.routing import DEVICE_PATH, device_application
from connectivity.sessions import forget_models
from tests.waiting import wait_for

from .mqtt_client import mqtt_broker


@pytest.fixture(autouse=True, scope="session")
def no_persistent_connections_in_pool_threads():
    """Connections opened on connectivity's pool threads close after each call during tests, so
    none is left open on the test database when pytest-django drops it."""
    from django.db import connections

    saved = connections.settings["default"].get("CONN_MAX_AGE", 0)
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    yield
    connections.settings["default"]["CONN_MAX_AGE"] = saved


@pytest.fixture(autouse=True)
def fresh_model_cache() -> None:
    forget_models()
    latest_buffer.take()


@pytest.fixture(scope="module")
def mqtt_port(django_db_blocker) -> Iterator[int]:
    """One `manage.py run_mqtt_broker` process for the test module: it reads the test database the
    tests write (so those tests need `django_db(transaction=True)`). Yields its port."""
    with django_db_blocker.unblock(), mqtt_broker(CONNECTIVITY_SESSION_HEARTBEAT_SECONDS="0.3") as port:
        yield port


@pytest.fixture
def settled_mqtt_broker(mqtt_port: int) -> Iterator[int]:
    """After the test, wait until the broker has ended every session: its writes must not race the
    table flush between tests (PostgreSQL would report a deadlock)."""
    yield mqtt_port
    from connectivity.models import DeviceSession

    wait_for(lambda: not DeviceSession.objects.exists(), timeout=15)
    time.sleep(0.3)  # the latest-value flush (0.1 s) and one sweep (0.3 s) of the broker


def closing(func: Any) -> Any:
    """`func`, then close the calling thread's database connections: a worker thread's connection
    must not outlive the test database (PostgreSQL refuses to drop it while one is open)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return wrapper


def in_fresh_thread(func: Any, *args: Any) -> Any:
    """Call `func` on a new thread: Playwright's session-scoped browser (tests/browser) leaves an
    event loop running on the main thread, where asyncio.run and async_to_sync refuse to work."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = closing(func)(*args)
        except BaseException as error:  # noqa: BLE001 - re-raised on the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def run(scenario: Any) -> Any:
    """Run an async scenario from a sync test (no pytest-asyncio needed)."""
    try:
        return in_fresh_thread(lambda: asyncio.run(scenario()))
    finally:
        # connections of the scenario's finished worker threads close when collected
        gc.collect()


def status_of(device: Device) -> DeviceStatus:
    device.refresh_from_db()
    return device.status


def login_message(device: Device, *, secret: str | None = None, request_id: str = "1", **overrides: Any) -> dict:
    params = p.login_params(device.product.product_key, device.device_key,
                            device.device_secret if secret is None else secret)
    params.update(overrides)
    return p.request(request_id, p.LOGIN, params)


class DeviceSocket:
    """A device on the websocket: send requests, read replies and commands."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.next_id = 100

    async def send(self, message: Any) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def receive(self, timeout: float = 3) -> dict:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def call(self, method: str, params: Any, **extra: Any) -> dict:
        self.next_id += 1
        await self.send({**p.request(str(self.next_id), method, params), **extra})
        answer = await self.receive()
        assert answer["id"] == str(self.next_id), answer
        return answer

    async def closed(self, timeout: float = 3) -> dict:
        return await self.communicator.receive_output(timeout=timeout)

    async def nothing(self, timeout: float = 0.2) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)


@asynccontextmanager
async def device_socket(device: Device | None = None, *, login: dict | None = None,
                        expect_code: int = p.SUCCESS) -> AsyncIterator[tuple[DeviceSocket, dict]]:
    communicator = WebsocketCommunicator(device_application, f"/{DEVICE_PATH}")
    connected, _ = await communicator.connect()
    assert connected
    socket = DeviceSocket(communicator)
    answer: dict = {}
    try:
        if login is not None or device is not None:
            if login is None:
                login = await database_sync_to_async(login_message)(device)
            await socket.send(login)
            answer = await socket.receive()
            assert answer["code"] == expect_code, answer
        yield socket, answer
    finally:
        await communicator.disconnect()
