"""Device export at scale: N devices (default 10,000; --devices 100000) of two products in one OU, in PostgreSQL.

Prints, for the .xlsx zip (one Batch Update template per product) and the CSV, the seconds of the whole
export (query, rows, file written to disk), devices/s, the file's size and the peak memory (maximum RSS of
the child process that ran it, which includes Django and the interpreter), worst of --repeat runs (3).
The issue's target: 100,000 devices ≤ 10 s and ≤ 300 MB.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_export .venv/bin/python bench/device_export.py \
        --devices 100000

The first run creates the database, migrates and loads the devices; later runs find them (--rebuild starts over).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _setup  # configures Django: keep it before the project's imports

from accounts.actors import SYSTEM
from accounts.models import OrganizationUnit, User
from accounts.services import create_ou
from assets.export import services
from assets.models import Device, Product, ThingModel

OU_NAME = "Bench Export"
ATTRIBUTES = [
    {"identifier": "serial", "name": "Serial number", "data_type": "string", "required": True},
    {"identifier": "capacity", "name": "Capacity", "data_type": "double", "spec": {"min": 0, "max": 5000}},
    {"identifier": "phase", "name": "Phase", "data_type": "enum", "spec": {"values": {"1": "single", "3": "three"}}},
    {"identifier": "commissioned", "name": "Commissioned", "data_type": "date"},
    {"identifier": "firmware", "name": "Firmware", "data_type": "string"},
    {"identifier": "rated_voltage", "name": "Rated voltage", "data_type": "int32"},
]
TARGET_SECONDS, TARGET_MB = 10.0, 300


def cast(devices: int) -> tuple[User, OrganizationUnit]:
    user = User.objects.filter(username="bench-export").first()
    if user is None:
        user = User.objects.create_user("bench-export", phone="+8613800077001", email="bench-export@example.com")
    ou = OrganizationUnit.objects.filter(name=OU_NAME).first() or create_ou(SYSTEM, OU_NAME, user)
    model, _ = ThingModel.objects.get_or_create(ou=ou, model_id="bench_export", defaults={
        "name": "Bench export", "attributes": ATTRIBUTES})
    products = [Product.objects.get_or_create(ou=ou, name=name, defaults={"model": model})[0]
                for name in ("Inverter", "Meter")]
    existing = Device.objects.filter(ou=ou).count()
    if existing < devices:
        print(f"loading {devices - existing:,} devices …", flush=True)
        for start in range(existing, devices, 5_000):
            Device.objects.bulk_create([
                Device(ou=ou, product=products[n % 2], device_key=f"dev-{n:08d}", name=f"Device {n}",
                       attributes={"serial": f"SN-{n}", "capacity": n % 5000, "phase": "3",
                                   "commissioned": "2026-01-02", "firmware": "1.2.3", "rated_voltage": 400},
                       tags={"site": f"site-{n % 50}", "floor": str(n % 7)})
                for n in range(start, min(start + 5_000, devices))])
    elif existing > devices:
        sys.exit(f"{existing:,} devices are loaded: run with --rebuild for {devices:,}")
    return user, ou


def measure(fmt: str) -> dict:
    """One export in this (child) process: seconds, file size and peak RSS."""
    user = User.objects.get(username="bench-export")
    ou = OrganizationUnit.objects.get(name=OU_NAME)
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / f"export.{fmt}"
        started = time.perf_counter()
        devices = services.console_devices(user, ou, {})
        count = services.write_export(devices, fmt, target) if fmt == "xlsx" else _csv(devices, target)
        seconds = time.perf_counter() - started
        size = target.stat().st_size
    return {"seconds": seconds, "count": count, "bytes": size,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _csv(devices, target: Path) -> int:
    with target.open("wb") as out:
        return services.write_export(devices, "csv", out)


def child(fmt: str) -> dict:
    output = subprocess.run([sys.executable, __file__, "--child", fmt], check=True, capture_output=True, text=True,
                            env=os.environ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--child", choices=["xlsx", "csv"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    _setup.ensure_database(recreate=args.rebuild, example="bench_export")
    cast(args.devices)
    print(f"{'format':<6} {'devices':>9} {'worst s':>8} {'devices/s':>10} {'file MB':>8} {'peak MB':>8}  target")
    for fmt in ("xlsx", "csv"):
        runs = [child(fmt) for _ in range(args.repeat)]
        worst = max(runs, key=lambda run: run["seconds"])
        peak = max(run["peak_mb"] for run in runs)
        ok = worst["seconds"] <= TARGET_SECONDS * args.devices / 100_000 and peak <= TARGET_MB
        print(f"{fmt:<6} {worst['count']:>9,} {worst['seconds']:>8.2f} {worst['count'] / worst['seconds']:>10,.0f} "
              f"{worst['bytes'] / 2**20:>8.1f} {peak:>8.0f}  {'ok' if ok else 'MISSED'}", flush=True)


if __name__ == "__main__":
    main()
