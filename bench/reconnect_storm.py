"""Benchmark: every connected device drops its connection and reconnects at once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        python bench/reconnect_storm.py --devices 2000 --repeat 3

Connects N devices over the device websocket to one ASGI worker (uvicorn, Redis, PostgreSQL), then
has every device close its connection and open a new one at the same moment (the old close and
the new login race in the server, as with the SDK's auto-reconnect). Prints, per run, how long
until the database shows every device Online again with exactly one session, and how many were
left Offline or without a session after the settle time (target: 0). Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enos_portal.settings")


def _bench_connectivity():
    """bench/connectivity.py (its name is the project's connectivity app's: loaded by path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_connectivity", ROOT / "bench" / "connectivity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

SETTLE_SECONDS = 120
CONNECT_CONCURRENCY = 50


def client_process(triples: list, url: str, storms: int, ready: mp.Value, go: mp.Event, done: mp.Queue) -> None:
    asyncio.run(_client(triples, url, storms, ready, go, done))


async def _client(triples: list, url: str, storms: int, ready: mp.Value, go: mp.Event, done: mp.Queue) -> None:
    from connectivity.simulator import SimulatedDevice, Triple

    def device(triple: tuple) -> SimulatedDevice:
        return SimulatedDevice(Triple(*triple), url=url, keepalive=300, reply_timeout=60)

    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(one: SimulatedDevice) -> bool:
        async with gate:
            try:
                await one.connect()
                return True
            except Exception:  # noqa: BLE001 - counted
                return False

    live = [device(t) for t in triples]
    unconnected = sum(not ok for ok in await asyncio.gather(*(connect(d) for d in live)))
    if unconnected:
        print(f"{unconnected} devices could not connect before the storm", flush=True)
    for storm in range(storms):
        with ready.get_lock():
            ready.value += 1
        while not go.is_set():
            await asyncio.sleep(0.01)
        fresh = [device(t) for t in triples]
        # all at once: each old connection closes while its successor logs in
        results = await asyncio.gather(*(d.close() for d in live), *(d.connect() for d in fresh),
                                       return_exceptions=True)
        errors = [r for r in results[len(live):] if isinstance(r, BaseException)]
        if errors:
            print(f"{len(errors)} logins failed, e.g. {errors[0]!r}", flush=True)
        done.put((storm, len(errors)))
        live = fresh
        while go.is_set():
            await asyncio.sleep(0.01)
    await asyncio.gather(*(d.close() for d in live), return_exceptions=True)


def counts(product_key: str) -> tuple[int, int]:
    from assets.models import Device
    from connectivity.models import DeviceSession

    devices = Device.objects.filter(product__product_key=product_key, device_key__startswith="bench-")
    online = devices.filter(online=True).count()
    sessions = DeviceSession.objects.filter(device__in=devices).count()
    return online, sessions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="Storms, one after the other.")
    parser.add_argument("--clients", type=int, default=2, help="Client processes driving the devices.")
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the benchmark measures the production setup.")

    import _setup

    _setup.ensure_database(recreate=False, example="bench_storm")
    bench = _bench_connectivity()
    triples = bench.setup_devices(args.devices)
    product_key = triples[0][0]
    port = bench.free_port()
    server, log = bench.start_server("uvicorn", port, "enos_portal.asgi:application", "bench-storm-server.log",
                                     CONNECTIVITY_KEEPALIVE_SECONDS="300")
    figures = []
    try:
        url = f"ws://127.0.0.1:{port}/ws/device/"
        ready, go, done = mp.Value("i", 0), mp.Event(), mp.Queue()
        workers = [mp.Process(target=client_process, args=(triples[i::args.clients], url, args.repeat, ready, go,
                                                           done)) for i in range(args.clients)]
        for worker in workers:
            worker.start()
        for storm in range(args.repeat):
            while ready.value < args.clients * (storm + 1):
                time.sleep(0.05)
            before = counts(product_key)
            started = time.monotonic()
            go.set()
            failed = sum(done.get(timeout=SETTLE_SECONDS)[1] for _ in workers)
            clients_done = time.monotonic() - started
            settled = None
            while time.monotonic() - started < SETTLE_SECONDS:
                online, sessions = counts(product_key)
                if online == sessions == len(triples):
                    settled = time.monotonic() - started
                    break
                time.sleep(0.05)
            online, sessions = counts(product_key)
            figures.append((storm + 1, before, failed, clients_done, settled, online, sessions))
            go.clear()
        for worker in workers:
            worker.join(timeout=60)
    finally:
        bench.stop_server(server, log)
    for storm, before, failed, clients_done, settled, online, sessions in figures:
        print(f"storm {storm}: {len(triples)} devices (online before {before[0]}), every one reconnected at once; "
              f"logins refused {failed}; clients done in {clients_done:.1f} s; "
              f"all Online with one session after {f'{settled:.1f} s' if settled else 'NEVER'}; "
              f"stuck Offline {len(triples) - online}, without a session {len(triples) - sessions}")
    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
