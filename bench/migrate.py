"""Migration (Move) at scale: a gateway with its sub-devices moved to another OU in one request, on PostgreSQL.

For gateways with 100, 1,000 and 10,000 sub-devices, prints the seconds and the number of queries of
the confirm (lock the devices, re-check them, the set-based UPDATEs, sharing, audit on both sides) and
of the whole flow (Get Code + texting the code + confirm). Target: 10,000 sub-devices in ≤ 3 s, and a
query count that does not grow with the number of devices.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_migrate /work/venv/bin/python bench/migrate.py

The database is dropped and created afresh each run (a few seconds of migrations). Each size is
measured --repeat times (default 3) on fresh data; the median and the worst are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _setup  # configures Django: keep it before the project's imports
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import sms
from accounts.actors import SYSTEM
from accounts.models import User
from accounts.services import create_ou, set_membership
from assets.migration import services
from assets.models import Device, Product, ProductType, ThingModel
from enos_portal.celery import app

SIZES = (100, 1_000, 10_000)
TARGET_SECONDS = 3.0


def gateway_with_sub_devices(run: str, size: int) -> tuple[User, Device, str]:
    """A source OU (with its writer), a target OU (owner with a phone), a gateway and `size` sub-devices."""
    writer = User.objects.create_user(f"writer-{run}", password="x")
    source = create_ou(SYSTEM, f"Source {run}", User.objects.create_user(f"source-{run}", password="x"))
    set_membership(SYSTEM, source, writer, "asset_manager")
    target_owner = User.objects.create_user(f"target-{run}", password="x", phone="+8613800000000")
    target = create_ou(SYSTEM, f"Target {run}", target_owner)
    model = ThingModel.objects.create(ou=source, model_id=f"m-{run}", name="Model")
    gateway_product = Product.objects.create(ou=source, name="Gateway", model=model, product_type=ProductType.GATEWAY)
    device_product = Product.objects.create(ou=source, name="Meter", model=model)
    gateway = Device.objects.create(ou=source, product=gateway_product, device_key=f"gw-{run}", name="Gateway")
    Device.objects.bulk_create(
        [Device(ou=source, product=device_product, device_key=f"sub-{i:06d}", name=f"Meter {i}", gateway=gateway)
         for i in range(size)], batch_size=5_000)
    return writer, gateway, target.ou_id


def measure(size: int, run: str) -> dict[str, float]:
    writer, gateway, target_ou_id = gateway_with_sub_devices(run, size)
    with CaptureQueriesContext(connection) as flow_queries:
        started = time.perf_counter()
        request = services.request_migration(writer, [gateway.asset_id], target_ou_id, include_sub_devices=True)
        code = sms.outbox[-1]["message"].split("Verification code: ")[1][:6]
        before_confirm = time.perf_counter()
        with CaptureQueriesContext(connection) as confirm_queries:
            done = services.confirm_migration(writer, request.pk, code)
        finished = time.perf_counter()
    moved = done.result["moved"]
    assert moved == size + 1, done.result
    assert Device.objects.filter(gateway=gateway, ou__ou_id=target_ou_id).count() == size
    return {"confirm_s": finished - before_confirm, "confirm_queries": len(confirm_queries),
            "flow_s": finished - started, "flow_queries": len(flow_queries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="sub-device counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    _setup.ensure_database(recreate=True, example="bench_migrate")
    settings.SMS_BACKEND = "accounts.sms.LocmemBackend"
    app.conf.task_always_eager = True  # the code task runs inline: no broker, no worker

    print(f"PostgreSQL {connection.pg_version // 10000}, database {settings.DATABASES['default']['NAME']}")
    print(f"{'sub-devices':>11} | {'confirm s (median/worst)':>24} | {'confirm queries':>15} | "
          f"{'whole flow s':>12} | {'flow queries':>12}")
    results = {}
    for size in sizes:
        runs = [measure(size, f"{size}-{i}") for i in range(args.repeat)]
        confirm = [r["confirm_s"] for r in runs]
        queries = {r["confirm_queries"] for r in runs}
        flow_queries = {r["flow_queries"] for r in runs}
        results[size] = (max(confirm), queries)
        print(f"{size:>11,} | {statistics.median(confirm):>11.3f} / {max(confirm):>10.3f} | "
              f"{'/'.join(map(str, sorted(queries))):>15} | {statistics.median(r['flow_s'] for r in runs):>12.3f} | "
              f"{'/'.join(map(str, sorted(flow_queries))):>12}")
    largest = max(sizes)
    worst, _ = results[largest]
    counts = {count for _, qs in results.values() for count in qs}
    print(f"target: {largest:,} sub-devices in ≤ {TARGET_SECONDS} s: {'met' if worst <= TARGET_SECONDS else 'MISSED'} "
          f"(worst {worst:.3f} s); queries independent of the device count: "
          f"{'yes' if len(counts) == 1 else 'NO'} ({', '.join(map(str, sorted(counts)))})")


if __name__ == "__main__":
    main()
