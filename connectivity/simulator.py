"""Simulated devices: real EnOS traffic for the demo, the tests and the benchmark.

`SimulatedDevice` logs in with a real triple over the portal's websocket or MQTT, reports measure
points at a rate, answers commands, and misbehaves on request (bad sign, unknown measure point,
slow replies, a dropped connection). Like the EnOS SDK it comes back by itself after any close that
is not its own `close()` (kicked, disabled, dropped, server restarted): `reconnect()` retries with
capped exponential backoff and jitter. Pure asyncio; no Django needed to run one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlparse

from . import protocol as p

logger = logging.getLogger(__name__)

WEBSOCKET = "websocket"
MQTT = "mqtt"


@dataclass(frozen=True)
class Triple:
    product_key: str
    device_key: str
    device_secret: str


@dataclass
class Misbehaviour:
    bad_sign: bool = False
    unknown_measurepoint: bool = False  # every report carries a point the model does not have
    slow_reply_seconds: float = 0.0  # wait this long before answering a command
    drop_after_seconds: float | None = None  # close the connection abruptly after this long
    silent: bool = False  # answer no command at all


@dataclass
class Stats:
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    commands: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds from send to reply
    reconnects: int = 0  # connections re-established after a close that was not ours
    login_refusals: list[int] = field(default_factory=list)  # codes of refused (re)connects


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnect attempts: `initial` doubling up to `cap` (the EnOS SDK's paho client
    uses 1 s to 60 s), each drawn from [half, all] of that so a fleet kicked at once does not come
    back in lockstep."""

    initial: float = 1.0
    cap: float = 60.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.initial * self.factor ** min(attempt, 64))
        return random.uniform(ceiling / 2, ceiling)


class LoginFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def value_generator(features: list[dict]) -> Callable[[], dict[str, Any]]:
    """Plausible values for a model's measure points (within their min/max)."""
    makers: dict[str, Callable[[], Any]] = {}
    for feature in features:
        spec = feature.get("spec") or {}
        kind = feature.get("data_type")
        low, high = spec.get("min", 0), spec.get("max", 100)
        if kind in ("float", "double"):
            makers[feature["identifier"]] = lambda lo=low, hi=high: round(random.uniform(lo, hi), 3)
        elif kind == "int32":
            makers[feature["identifier"]] = lambda lo=int(low), hi=int(high): random.randint(lo, hi)
        elif kind == "bool":
            makers[feature["identifier"]] = lambda: random.random() < 0.9
        elif kind == "enum" and spec.get("values"):
            choices = list(spec["values"])
            makers[feature["identifier"]] = lambda c=choices: random.choice(c)
        elif kind == "string":
            makers[feature["identifier"]] = lambda: random.choice(["ok", "warn", "ok"])
        elif kind == "timestamp":
            makers[feature["identifier"]] = lambda: int(time.time() * 1000)
    return lambda: {name: make() for name, make in makers.items()}


class SimulatedDevice:
    """One device on one connection. `await connect()`, then `report()` or `run()`, then `close()`."""

    def __init__(self, triple: Triple, *, transport: str = WEBSOCKET, url: str = "ws://127.0.0.1:8000/ws/device/",
                 values: Callable[[], dict[str, Any]] | None = None, misbehaviour: Misbehaviour | None = None,
                 keepalive: int = 60, reply_timeout: float = 10.0, backoff: Backoff | None = None) -> None:
        self.triple = triple
        self.transport = transport
        self.url = url
        self.values = values or (lambda: {})
        self.misbehaviour = misbehaviour or Misbehaviour()
        self.keepalive = keepalive
        self.reply_timeout = reply_timeout
        self.backoff = backoff or Backoff()
        self.stats = Stats()
        self.login_reply: dict = {}
        self.commands: asyncio.Queue[dict] = asyncio.Queue()  # commands received, for tests
        self._ids = itertools.count(1)
        self._waiting: dict[str, tuple[float, asyncio.Future]] = {}
        self._reader: asyncio.Task | None = None
        self._socket: Any = None
        self._mqtt: Any = None
        self.closed = asyncio.Event()  # the current connection ended (ours or not)
        self.stopped = False  # close() was called: a final stop, no reconnect

    # --- connection -------------------------------------------------------------------------------

    async def connect(self) -> dict:
        self.closed = asyncio.Event()
        if self.transport == MQTT:
            await self._connect_mqtt()
        else:
            await self._connect_websocket()
        if self.misbehaviour.drop_after_seconds is not None:
            asyncio.get_running_loop().call_later(self.misbehaviour.drop_after_seconds,
                                                  lambda: asyncio.ensure_future(self.drop()))
        return self.login_reply

    def _secret(self) -> str:
        return "not-the-secret" if self.misbehaviour.bad_sign else self.triple.device_secret

    async def _connect_websocket(self) -> None:
        from websockets.asyncio.client import connect

        parsed = urlparse(self.url)
        origin = f"{'https' if parsed.scheme == 'wss' else 'http'}://{parsed.netloc}"
        # an Origin of the portal's own host passes the browser sockets' origin check too
        self._socket = await connect(self.url, origin=origin, ping_interval=None,  # type: ignore[arg-type]
                                     max_size=p.MAX_MESSAGE_BYTES, open_timeout=30)
        params = p.login_params(self.triple.product_key, self.triple.device_key, self._secret())
        params["keepAlive"] = self.keepalive
        await self._socket.send(json.dumps(p.request("login", p.LOGIN, params)))
        answer = json.loads(await asyncio.wait_for(self._socket.recv(), self.reply_timeout))
        if answer.get("code") != p.SUCCESS:
            await self._socket.close()
            raise LoginFailed(answer.get("code"), answer.get("message", ""))
        self.login_reply = answer
        self._reader = asyncio.ensure_future(self._read_websocket())

    async def _connect_mqtt(self) -> None:
        from amqtt.client import ConnectError, MQTTClient
        from amqtt.mqtt.constants import QOS_0

        parsed = urlparse(self.url)
        fields = p.mqtt_connect_fields(self.triple.product_key, self.triple.device_key, self._secret())
        self._mqtt = MQTTClient(client_id=fields["client_id"], config={
            "auto_reconnect": False, "keep_alive": self.keepalive, "default_qos": QOS_0})
        uri = (f"mqtt://{quote(fields['username'], safe='')}:{quote(fields['password'], safe='')}"
               f"@{parsed.hostname}:{parsed.port or 11883}/")
        try:
            await self._mqtt.connect(uri=uri, cleansession=True)
        except ConnectError as error:
            code = getattr(error, "return_code", None)
            if code is None:  # no broker there (yet)
                raise ConnectionError(str(error)) from error
            # MQTT 3.1.1 cannot carry EnOS codes: CONNACK says "not authorized" (the trace has the reason)
            raise LoginFailed(code, f"CONNECT refused (CONNACK {code})") from None
        await self._mqtt.subscribe([(f, QOS_0) for f in p.device_topic_filters(self.triple.product_key,
                                                                               self.triple.device_key)])
        self.login_reply = {"code": p.SUCCESS}
        self._reader = asyncio.ensure_future(self._read_mqtt())

    async def reconnect(self, *, stop: asyncio.Event | None = None) -> bool:
        """After a close that was not ours: connect again, waiting `backoff` between attempts (a
        refused login, e.g. 723 while the device is disabled, is retried too). True once connected;
        False when `close()` was called or `stop` was set meanwhile."""
        attempt = 0
        while not self.stopped and not (stop is not None and stop.is_set()):
            await _pause(self.backoff.delay(attempt), stop)
            if self.stopped or (stop is not None and stop.is_set()):
                break
            attempt += 1
            try:
                await self._discard_connection()
                await self.connect()
            except LoginFailed as refusal:
                self.stats.login_refusals.append(refusal.code)
                logger.info("%s: reconnect refused (%s)", self.triple.device_key, refusal)
                continue
            except Exception as error:  # noqa: BLE001 - no server, a reset, a close during login: try again
                logger.info("%s: reconnect failed (%s)", self.triple.device_key, error)
                continue
            self.stats.reconnects += 1
            return True
        return False

    async def _discard_connection(self) -> None:
        """Let go of a connection that has ended, without marking the device stopped."""
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        with contextlib.suppress(Exception):
            if self._socket is not None:
                await self._socket.close()
        with contextlib.suppress(Exception):
            if self._mqtt is not None:
                await self._mqtt.disconnect()
        self._socket = self._mqtt = None
        self._connection_ended()

    async def close(self) -> None:
        """A final stop: no reconnect after it."""
        self.stopped = True
        if self._reader is not None:
            self._reader.cancel()
        try:
            if self._socket is not None:
                await self._socket.close()
            if self._mqtt is not None:
                await self._mqtt.disconnect()
        except Exception:  # noqa: BLE001 - closing an already broken connection
            pass
        self.closed.set()

    async def drop(self) -> None:
        """Vanish without a goodbye, as a device losing power does."""
        if self._reader is not None:
            self._reader.cancel()
        if self._socket is not None:
            self._socket.transport.abort()
        if self._mqtt is not None and self._mqtt._handler and self._mqtt._handler.writer:  # noqa: SLF001
            await self._mqtt._handler.writer.close()  # noqa: SLF001
        self.closed.set()

    # --- traffic ------------------------------------------------------------------------------------

    async def call(self, method: str, params: Any, *, sub: Triple | None = None) -> dict:
        """Send a request and wait for its reply."""
        request_id = str(next(self._ids))
        message = p.request(request_id, method, params)
        target = sub or self.triple
        if sub is not None and self.transport == WEBSOCKET:
            message.update(productKey=sub.product_key, deviceKey=sub.device_key)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = (time.perf_counter(), future)
        self.stats.sent += 1
        if self.transport == MQTT:
            await self._mqtt.publish(p.topic_for(target.product_key, target.device_key, method),
                                     json.dumps(message).encode())
        else:
            await self._socket.send(json.dumps(message))
        try:
            answer = await asyncio.wait_for(future, self.reply_timeout)
        finally:
            self._waiting.pop(request_id, None)
        if answer.get("code") == p.SUCCESS:
            self.stats.accepted += 1
        else:
            self.stats.refused += 1
        return answer

    async def report(self, values: dict[str, Any] | None = None, *, sub: Triple | None = None) -> dict:
        points = dict(self.values() if values is None else values)
        if self.misbehaviour.unknown_measurepoint:
            points["no_such_point"] = 1
        return await self.call(p.MEASUREPOINT_POST, {"measurepoints": points, "time": p.now_ms()}, sub=sub)

    async def login_sub_device(self, sub: Triple) -> dict:
        return await self.call(p.COMBINE_LOGIN, p.login_params(sub.product_key, sub.device_key, sub.device_secret))

    async def run(self, *, rate: float = 1.0, duration: float | None = None) -> Stats:
        """Report `rate` times a second (0: only keep the connection alive) until `duration` or closed."""
        loop = asyncio.get_running_loop()
        end = None if duration is None else loop.time() + duration
        interval = 1.0 / rate if rate > 0 else self.keepalive / 2
        # spread devices over the interval so a fleet does not report in lockstep
        await asyncio.sleep(random.uniform(0, interval))
        next_at = loop.time()
        while not self.closed.is_set() and (end is None or loop.time() < end):
            try:
                if rate > 0:
                    await self.report()
                else:
                    await self.call(p.PING, {})
            except TimeoutError:
                logger.warning("%s: no reply in time", self.triple.device_key)
            except Exception:  # noqa: BLE001 - a dropped connection ends the run
                break
            next_at += interval
            await asyncio.sleep(max(next_at - loop.time(), 0))
        return self.stats

    # --- incoming -----------------------------------------------------------------------------------

    def _handle(self, message: dict, topic: str | None = None) -> None:
        if p.is_reply(message):
            waiting = self._waiting.get(str(message.get("id")))
            if waiting is not None and not waiting[1].done():
                self.stats.latencies.append(time.perf_counter() - waiting[0])
                waiting[1].set_result(message)
            return
        method = str(message.get("method", ""))
        if method.startswith(p.SERVICE_PREFIX):
            self.stats.commands += 1
            self.commands.put_nowait(message)
            if not self.misbehaviour.silent:
                asyncio.ensure_future(self._answer(message, topic))

    async def _answer(self, command: dict, topic: str | None) -> None:
        if self.misbehaviour.slow_reply_seconds:
            await asyncio.sleep(self.misbehaviour.slow_reply_seconds)
        answer = p.reply(str(command.get("id")), p.SUCCESS, {"received": command.get("params")})
        if self.transport == MQTT:
            await self._mqtt.publish(f"{topic}_reply", json.dumps(answer).encode())
        else:
            await self._socket.send(json.dumps(answer))

    def _connection_ended(self) -> None:
        """Requests still waiting for a reply fail now rather than at their timeout."""
        self.closed.set()
        for _, future in list(self._waiting.values()):
            if not future.done():
                future.set_exception(ConnectionError("the connection ended"))

    async def _read_websocket(self) -> None:
        try:
            async for raw in self._socket:
                self._handle(json.loads(raw))
        except Exception:  # noqa: BLE001 - the connection ended
            pass
        finally:
            self._connection_ended()

    async def _read_mqtt(self) -> None:
        try:
            while True:
                message = await self._mqtt.deliver_message()
                if message is None:
                    break
                self._handle(json.loads(bytes(message.data)), message.topic)
        except Exception:  # noqa: BLE001 - the connection ended
            pass
        finally:
            self._connection_ended()


async def _pause(seconds: float, stop: asyncio.Event | None) -> None:
    """Sleep `seconds`, or less when `stop` is set meanwhile."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]
