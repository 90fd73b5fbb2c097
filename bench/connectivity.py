"""Benchmark: simulated devices on one ASGI worker (daphne or uvicorn) with Redis, each reporting once a second.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        python bench/connectivity.py --devices 2000 --duration 30

Creates (once) an OU "Bench" with N devices, starts one ASGI server (`--server daphne|uvicorn`) on
127.0.0.1, connects the devices from client processes over the device websocket, and after all
are connected has each report its measure points once a second for --duration seconds. Prints:
devices connected, messages/s processed (accepted replies), p50/p99 latency from send to reply,
and the peak memory (RSS) of the server process. Targets: all connected, ≥ 2,000 messages/s,
p99 ≤ 100 ms.
Traffic stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enos_portal.settings")

DEVICE_PREFIX = "bench-"
CONNECT_CONCURRENCY = 50


def setup_devices(count: int) -> list[tuple[str, str, str]]:
    """The bench OU, model, product and `count` devices (created once; reset to offline each run)."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    call_command("migrate", verbosity=0)  # the server refuses logins on a schema it does not know

    from accounts.actors import SYSTEM
    from accounts.models import OrganizationUnit, User
    from accounts.services import create_ou
    from assets.models import Device, Product, ThingModel
    from connectivity.models import DeviceSession

    owner, _ = User.objects.get_or_create(username="bench-owner", defaults={"phone": "+8613800009999"})
    ou = OrganizationUnit.objects.filter(name="Bench").first() or create_ou(SYSTEM, "Bench", owner)
    model, _ = ThingModel.objects.get_or_create(ou=ou, model_id="bench_meter", defaults={
        "name": "Bench meter",
        "measurepoints": [
            {"identifier": "power", "name": "Power", "data_type": "double", "spec": {"min": 0, "max": 500}},
            {"identifier": "temperature", "name": "Temperature", "data_type": "float",
             "spec": {"min": -40, "max": 120}},
            {"identifier": "running", "name": "Running", "data_type": "bool"},
        ]})
    product, _ = Product.objects.get_or_create(ou=ou, name="Bench meter", defaults={"model": model})
    have = set(Device.objects.filter(product=product).values_list("device_key", flat=True))
    missing = [Device(ou=ou, product=product, device_key=f"{DEVICE_PREFIX}{i:05d}", name=f"Bench {i}")
               for i in range(count) if f"{DEVICE_PREFIX}{i:05d}" not in have]
    with transaction.atomic():
        Device.objects.bulk_create(missing, batch_size=1000)
        devices = Device.objects.filter(product=product, device_key__startswith=DEVICE_PREFIX)
        DeviceSession.objects.filter(device__in=devices).delete()
        devices.update(enabled=True, online=False)
    rows = devices.order_by("device_key").values_list("device_key", "device_secret")[:count]
    return [(product.product_key, key, secret) for key, secret in rows]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(server: str, port: int, asgi: str, log_name: str, **env_overrides: str) -> tuple:
    """One ASGI worker on 127.0.0.1:`port` with production settings, once it accepts connections:
    (the process, its open log file)."""
    from enos_portal.servers import server_command

    # production settings: DEBUG off (no query log), the hosts the devices connect to
    env = {**os.environ, "LOG_LEVEL": "WARNING", "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1",
           "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + "x" * 40, **env_overrides}
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / log_name, "w")  # noqa: SIM115 - the caller closes it
    process = subprocess.Popen(server_command(server, "127.0.0.1", port, asgi, quiet=True), cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{server} exited: see {log.name}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    return process, log


def stop_server(process: subprocess.Popen, log: Any) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident memory, from the kernel."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_process(triples: list, url: str, duration: float, rate: float, connected: mp.Value, go: mp.Event,
                   results: mp.Queue) -> None:
    results.put(asyncio.run(_client(triples, url, duration, rate, connected, go)))


async def _client(triples: list, url: str, duration: float, rate: float, connected: mp.Value,
                  go: mp.Event) -> dict:
    from connectivity.simulator import SimulatedDevice, Triple

    devices = [SimulatedDevice(Triple(*t), url=url, keepalive=120, reply_timeout=30,
                               values=lambda: {"power": 120.5, "temperature": 36.6, "running": True})
               for t in triples]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    failures = 0

    async def connect(device: SimulatedDevice) -> None:
        nonlocal failures
        async with gate:
            try:
                await device.connect()
                with connected.get_lock():
                    connected.value += 1
            except Exception:  # noqa: BLE001 - counted, reported
                failures += 1

    await asyncio.gather(*(connect(d) for d in devices))
    while not go.is_set():
        await asyncio.sleep(0.05)
    live = [d for d in devices if d.login_reply]
    for device in live:
        device.stats.latencies.clear()
        device.stats.accepted = device.stats.refused = 0
    started, cpu_started = time.monotonic(), time.process_time()
    await asyncio.gather(*(d.run(rate=rate, duration=duration) for d in live))
    elapsed, client_cpu = time.monotonic() - started, time.process_time() - cpu_started
    await asyncio.gather(*(d.close() for d in live), return_exceptions=True)
    return {"failures": failures, "accepted": sum(d.stats.accepted for d in live), "cpu": client_cpu,
            "refused": sum(d.stats.refused for d in live), "elapsed": elapsed,
            "latencies": [x for d in live for x in d.stats.latencies]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=30.0, help="Seconds of reporting after all connect.")
    parser.add_argument("--rate", type=float, default=1.0, help="Reports per second per device.")
    parser.add_argument("--clients", type=int, default=2, help="Client processes driving the devices.")
    parser.add_argument("--asgi", default="enos_portal.asgi:application", help="The ASGI application served.")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="uvicorn",
                        help="The ASGI server of the one worker: daphne (Twisted) or uvicorn (uvloop, websockets).")
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the benchmark measures the production setup.")

    triples = setup_devices(args.devices)
    port = free_port()
    server, log = start_server(args.server, port, args.asgi, "bench-server.log", CONNECTIVITY_KEEPALIVE_SECONDS="120")
    try:
        url = f"ws://127.0.0.1:{port}/ws/device/"
        connected, go, results = mp.Value("i", 0), mp.Event(), mp.Queue()
        slices = [triples[i::args.clients] for i in range(args.clients)]
        workers = [mp.Process(target=client_process, args=(s, url, args.duration, args.rate, connected, go, results))
                   for s in slices]
        for worker in workers:
            worker.start()
        connect_started = time.monotonic()
        while connected.value < len(triples) and time.monotonic() - connect_started < 180:
            time.sleep(0.2)
        connect_seconds = time.monotonic() - connect_started
        peak_connected = connected.value
        go.set()
        cpu_start, load_start = cpu_seconds(server.pid), time.monotonic()
        gathered = [results.get(timeout=args.duration + 240) for _ in workers]
        server_cpu, load_seconds = cpu_seconds(server.pid) - cpu_start, time.monotonic() - load_start
        for worker in workers:
            worker.join(timeout=30)
        rss = peak_rss_mb(server.pid)
    finally:
        stop_server(server, log)

    from connectivity.simulator import percentile

    latencies = [x for g in gathered for x in g["latencies"]]
    accepted = sum(g["accepted"] for g in gathered)
    elapsed = max(g["elapsed"] for g in gathered)
    print(f"devices connected        {peak_connected}/{len(triples)} (in {connect_seconds:.1f} s; "
          f"{sum(g['failures'] for g in gathered)} failed)")
    # devices send during --duration seconds (each from a random offset in its first interval)
    print(f"messages processed       {accepted} replies to reports sent in {args.duration:.0f} s = "
          f"{accepted / args.duration:.0f} msg/s (offered {len(triples) * args.rate:.0f}/s; last reply "
          f"after {elapsed:.1f} s) "
          f"({sum(g['refused'] for g in gathered)} refused)")
    print(f"latency send→reply       p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies, default=0) * 1000:.1f} ms")
    print(f"{args.server + ' peak memory (RSS)':<25}{rss:.0f} MB")
    print(f"{args.server + ' CPU under load':<25}{server_cpu / load_seconds:.0%} of one core, "
          f"{server_cpu / max(accepted, 1) * 1e6:.0f} µs per message; the simulated devices "
          f"{sum(g['cpu'] for g in gathered) / load_seconds:.0%} of one core; machine load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
