"""`manage.py simulate_devices`: connect N devices of an OU with their real triples and report data.

    manage.py simulate_devices --ou "Solar Farm East" --count 5 --rate 1 --duration 60
    manage.py simulate_devices --ou o15589291276191 --transport mqtt --misbehave unknown-point

Gateways among them log their sub-devices in (combine.login) and report for them too. Commands
issued from the console are answered. A device whose connection ends without it asking (kicked,
disabled, the server restarted) comes back as the EnOS SDK does: it reconnects with capped
exponential backoff (--backoff-max) and logs its sub-devices in again. Ends after --duration seconds
(0: until Ctrl-C) and prints what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import OrganizationUnit
from assets.models import Device
from connectivity.conf import mqtt_port
from connectivity.simulator import (
    MQTT,
    WEBSOCKET,
    Backoff,
    LoginFailed,
    Misbehaviour,
    SimulatedDevice,
    Triple,
    percentile,
    value_generator,
)

RETRY_SECONDS = 2.0


def parse_misbehaviour(text: str) -> Misbehaviour:
    """`bad-sign,unknown-point,slow-reply=5,drop-after=30,silent`"""
    misbehaviour = Misbehaviour()
    for part in filter(None, (item.strip() for item in text.split(","))):
        name, _, value = part.partition("=")
        if name == "bad-sign":
            misbehaviour.bad_sign = True
        elif name == "unknown-point":
            misbehaviour.unknown_measurepoint = True
        elif name == "slow-reply":
            misbehaviour.slow_reply_seconds = float(value or 5)
        elif name == "drop-after":
            misbehaviour.drop_after_seconds = float(value or 30)
        elif name == "silent":
            misbehaviour.silent = True
        else:
            raise CommandError(f"Unknown misbehaviour {name!r}: bad-sign, unknown-point, slow-reply=S, "
                               "drop-after=S, silent.")
    return misbehaviour


class Command(BaseCommand):
    help = "Connect simulated devices of an OU (websocket or MQTT), report measure points, answer commands."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--ou", required=True, action="append", help="OU ID or name (repeat for several).")
        parser.add_argument("--keys", default="", help="Only these deviceKeys, comma-separated (gateways bring "
                                                       "only their sub-devices named here).")
        parser.add_argument("--count", type=int, default=5, help="How many devices (gateways bring their subs).")
        parser.add_argument("--product", default="", help="Only devices of this productKey.")
        parser.add_argument("--transport", choices=[WEBSOCKET, MQTT], default=WEBSOCKET)
        parser.add_argument("--url", default="", help="ws://host:port/ws/device/ or mqtt://host:port "
                                                      "(default: the local portal or broker).")
        parser.add_argument("--rate", type=float, default=1.0, help="Reports per second per device (0: none).")
        parser.add_argument("--duration", type=float, default=60.0, help="Seconds to run (0: until stopped).")
        parser.add_argument("--misbehave", default="", help="bad-sign, unknown-point, slow-reply=S, drop-after=S, "
                                                            "silent (comma-separated).")
        parser.add_argument("--wait-for-server", type=float, default=0.0,
                            help="Keep retrying the first connection this many seconds (the portal is starting).")
        parser.add_argument("--backoff-min", type=float, default=1.0,
                            help="Seconds before the first reconnect after a lost connection (doubling).")
        parser.add_argument("--backoff-max", type=float, default=60.0, help="Longest wait between reconnects.")

    def handle(self, *args: Any, **options: Any) -> None:
        fleet = self._fleet(options)
        if not fleet:
            raise CommandError("No enabled devices match.")
        url = options["url"] or (f"mqtt://127.0.0.1:{mqtt_port()}" if options["transport"] == MQTT
                                 else "ws://127.0.0.1:8000/ws/device/")
        misbehaviour = parse_misbehaviour(options["misbehave"])
        self.stdout.write(f"Simulating {len(fleet)} device(s) over {options['transport']} at {url}")
        asyncio.run(self._run(fleet, url, options, misbehaviour))

    def _fleet(self, options: dict) -> list[tuple[Triple, list[dict], list[tuple[Triple, list[dict]]]]]:
        ous = []
        for name in options["ou"]:
            ou = OrganizationUnit.objects.filter(Q(ou_id=name) | Q(name=name)).first()
            if ou is None:
                raise CommandError(f"No OU {name!r}.")
            ous.append(ou)
        devices = (Device.objects.filter(ou__in=ous, enabled=True, gateway__isnull=True)
                   .select_related("product__model").order_by("ou_id", "device_key"))
        if options["product"]:
            devices = devices.filter(product__product_key=options["product"])
        keys = [key.strip() for key in options["keys"].split(",") if key.strip()]
        if keys:
            devices = devices.filter(device_key__in=keys)
        fleet = []
        for device in devices[: options["count"]]:
            sub_devices = device.sub_devices.filter(enabled=True).select_related("product__model")
            if keys:
                sub_devices = sub_devices.filter(device_key__in=keys)
            subs = [(Triple(s.product.product_key, s.device_key, s.device_secret), s.product.model.measurepoints)
                    for s in sub_devices]
            fleet.append((Triple(device.product.product_key, device.device_key, device.device_secret),
                          device.product.model.measurepoints, subs))
        return fleet

    async def _run(self, fleet: list, url: str, options: dict, misbehaviour: Misbehaviour) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        duration = options["duration"] or None
        if options["backoff_min"] <= 0 or options["backoff_max"] < options["backoff_min"]:
            raise CommandError("--backoff-min must be positive and at most --backoff-max.")
        backoff = Backoff(initial=options["backoff_min"], cap=options["backoff_max"])
        devices = [SimulatedDevice(triple, transport=options["transport"], url=url, values=value_generator(points),
                                   misbehaviour=misbehaviour, backoff=backoff) for triple, points, _ in fleet]
        results = await asyncio.gather(*(self._one(device, subs, options, duration, stop)
                                         for device, (_, _, subs) in zip(devices, fleet, strict=True)),
                                       return_exceptions=True)
        connected = sum(1 for r in results if r is True)
        latencies = [x for d in devices for x in d.stats.latencies]
        self.stdout.write(
            f"connected {connected}/{len(devices)}; reports accepted {sum(d.stats.accepted for d in devices)}, "
            f"refused {sum(d.stats.refused for d in devices)}; commands answered "
            f"{sum(d.stats.commands for d in devices)}; latency p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms; reconnects {sum(d.stats.reconnects for d in devices)}")
        for result in results:
            if isinstance(result, BaseException):
                self.stderr.write(f"  {result}")

    async def _one(self, device: SimulatedDevice, subs: list, options: dict, duration: float | None,
                   stop: asyncio.Event) -> bool:
        deadline = asyncio.get_running_loop().time() + options["wait_for_server"]
        while True:
            try:
                await device.connect()
                break
            except LoginFailed:
                raise
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(RETRY_SECONDS)
        loop = asyncio.get_running_loop()
        halt = asyncio.Event()  # Ctrl-C or the end of --duration
        watcher = asyncio.ensure_future(self._halt_on(stop, halt))
        if duration is not None:
            loop.call_later(duration, halt.set)
        try:
            while not halt.is_set():
                sub_devices = []
                for triple, points in subs:
                    with contextlib.suppress(Exception):
                        if (await device.login_sub_device(triple)).get("code") == 200:
                            sub_devices.append((triple, value_generator(points)))
                runner = asyncio.ensure_future(self._report(device, sub_devices, options["rate"]))
                halted = asyncio.ensure_future(halt.wait())
                await asyncio.wait([runner, halted], return_when=asyncio.FIRST_COMPLETED)
                runner.cancel()
                halted.cancel()
                # the connection ended without us asking: come back as the SDK does
                if halt.is_set() or not device.closed.is_set() or not await device.reconnect(stop=halt):
                    break
        finally:
            watcher.cancel()
            await device.close()
        return True

    @staticmethod
    async def _halt_on(stop: asyncio.Event, halt: asyncio.Event) -> None:
        await stop.wait()
        halt.set()

    async def _report(self, device: SimulatedDevice, subs: list, rate: float) -> None:
        """Report until the connection ends (the caller stops it at the end of the run)."""
        if not subs:
            await device.run(rate=rate)
            return
        interval = 1.0 / rate if rate > 0 else device.keepalive / 2
        while not device.closed.is_set():
            try:
                await device.report() if rate > 0 else await device.call("ping", {})
                for triple, values in subs:
                    if rate > 0:
                        await device.report(values(), sub=triple)
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the connection ended: the caller reconnects
                break
            await asyncio.sleep(interval)
