"""The OU's Connectivity page at fleet scale: 100,000 devices in one OU with ~10 sessions each over a month
(and a few hundred flapping devices with hundreds), ~1,000,000 connection records.

Prints:
- the roll-ups' cost: one hour counted straight from the history (what a chart computed raw would pay per
  bucket: ×24 a day, ×720 a month), the month's back-fill (`roll_up_hours`, 720 hours), a beat round
  (`roll_up_recent`: the previous and the current hour) and the flapping ranking (`rank_flapping`);
- p50/p95 (the worst of 3 runs of N requests each) and queries of the page (connectivity:ou-connectivity)
  for day, week and month, for the whole OU and one product, and of /api/connectivity/online/ and
  /api/connectivity/flapping/;
- the machine's load average before and after. Target: the page's p95 ≤ 100 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_ou_connectivity .venv/bin/python bench/ou_connectivity.py

The database is dropped and created afresh each run (a few minutes: the rows are loaded with COPY).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import time
from collections.abc import Callable, Iterator

import _setup  # configures Django: keep it before the project's imports
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils.timezone import now

from accounts.actors import SYSTEM
from accounts.models import User
from accounts.services import create_ou, set_membership
from assets.models import Product, ThingModel
from connectivity import rollup
from connectivity.timeline import PERIODS

DEVICES = 100_000
FLAPPERS = 300  # devices with hundreds of sessions
DAYS = 30
TARGET_MS = 100.0
SEED = 20261206
DEVICE_COLUMNS = ("id", "ou_id", "product_id", "asset_id", "device_key", "device_secret", "name", "description",
                  "timezone", "attributes", "tags", "enabled", "activated_at", "online", "created_at", "updated_at")
RECORD_COLUMNS = ("device_id", "ou_id", "session_id", "transport", "client_address", "via_gateway", "started_at",
                  "ended_at", "end_reason")


def sessions_of(rng: random.Random, at: dt.datetime, count: int) -> Iterator[tuple[dt.datetime, dt.datetime | None]]:
    """`count` sessions over the month, back to back with offline gaps; the last one open for most devices."""
    month = DAYS * 86_400
    starts = sorted(rng.random() * month for _ in range(count))
    for i, start in enumerate(starts):
        following = starts[i + 1] if i + 1 < count else month
        last = i + 1 == count
        end = None if last and rng.random() < 0.6 else start + (following - start) * rng.uniform(0.2, 0.95)
        yield (at - dt.timedelta(seconds=month - start),
               None if end is None else at - dt.timedelta(seconds=month - end))


def build() -> tuple[User, Product]:
    started = time.perf_counter()
    owner = User.objects.create_user("bench-owner", password="x")
    viewer = User.objects.create_user("bench-viewer", password="x")
    ou = create_ou(SYSTEM, "Bench fleet", owner)
    set_membership(SYSTEM, ou, viewer, "asset_viewer")
    model = ThingModel.objects.create(ou=ou, model_id="meter", name="Meter")
    products = [Product.objects.create(ou=ou, name=name, model=model) for name in ("Meter", "Inverter")]
    rng = random.Random(SEED)
    at = now()
    created = at - dt.timedelta(days=DAYS + 1)
    records = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # consistent rows: skip FK triggers
        with cursor.cursor.copy(f"COPY assets_device ({', '.join(DEVICE_COLUMNS)}) FROM STDIN") as copy:
            for pk in range(1, DEVICES + 1):
                product = products[0] if pk % 5 < 3 else products[1]  # 60 % meters, 40 % inverters
                copy.write_row((pk, ou.pk, product.pk, f"B{pk:09d}", f"dev-{pk:06d}", secrets.token_hex(10),
                                f"{product.name} {pk:06d}", "", "+08:00", "{}", "{}", True, created, False,
                                created, created))
        with cursor.cursor.copy(f"COPY connectivity_connectionrecord ({', '.join(RECORD_COLUMNS)}) FROM STDIN") as copy:
            flappers = set(rng.sample(range(1, DEVICES + 1), FLAPPERS))
            for pk in range(1, DEVICES + 1):
                count = rng.randint(100, 600) if pk in flappers else rng.randint(5, 15)
                for i, (start, end) in enumerate(sessions_of(rng, at, count)):
                    copy.write_row((pk, ou.pk, f"s{pk}-{i}", "mqtt", "198.51.100.7", False, start, end,
                                    "" if end is None else "keepalive"))
                    records += 1
        cursor.execute("SELECT setval(pg_get_serial_sequence('assets_device', 'id'), %s)", [DEVICES])
        cursor.execute("UPDATE assets_device SET online = true WHERE id IN (SELECT device_id FROM "
                       "connectivity_connectionrecord WHERE ended_at IS NULL)")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) assets_device")
        cursor.execute("VACUUM (ANALYZE) connectivity_connectionrecord")
    print(f"{DEVICES:,} devices, {records:,} sessions over {DAYS} days loaded in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return viewer, products[1]


def once(work: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return (time.perf_counter() - started) * 1000, result




def load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="per run (3 runs; the worst is shown)")
    args = parser.parse_args()
    print(f"load average (1/5/15 min) before: {load()}", flush=True)
    _setup.ensure_database(recreate=True, example="bench_ou_connectivity")
    viewer, product = build()

    at = now()
    spent, _ = once(lambda: rollup.online_counts([rollup.hour_of(at) - dt.timedelta(days=15)]))
    print(f"one hour counted from the history (mid-month): {spent:.0f} ms — a raw month's chart would pay it "
          f"720 times (≈ {spent * 720 / 1000:.0f} s)", flush=True)
    spent, hours = once(lambda: rollup.roll_up_hours(at - dt.timedelta(days=DAYS), at))
    print(f"back-fill of the month's hours ({hours}): {spent / 1000:.1f} s ({spent / hours:.0f} ms an hour)",
          flush=True)
    spent, _ = once(rollup.roll_up_recent)
    print(f"a beat round (previous + current hour): {spent:.0f} ms", flush=True)
    spent, kept = once(rollup.rank_flapping)
    print(f"flapping ranking (day, week, month; {kept} rows kept): {spent / 1000:.1f} s", flush=True)

    client = Client()
    client.force_login(viewer)
    page = reverse("connectivity:ou-connectivity")

    def get(url: str) -> Callable[[], object]:
        return _setup.getter(client, url)

    scenarios: list[tuple[str, Callable[[], object]]] = []
    for period in PERIODS:
        scenarios.append((f"page, OU ({period})", get(f"{page}?period={period}")))
        scenarios.append((f"page, one product ({period})",
                          get(f"{page}?period={period}&product={product.product_key}")))
    for period in PERIODS:
        scenarios.append((f"API online ({period})", get(f"/api/connectivity/online/?period={period}")))
        scenarios.append((f"API flapping ({period})", get(f"/api/connectivity/flapping/?period={period}")))
    scenarios.append(("Device Assets table (baseline)", get(reverse("assets:device-list"))))

    print(f"{'scenario':34} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    missed = []
    for name, work in scenarios:
        p50, p95, queries = _setup.measure(work, args.requests)
        print(f"{name:34} {p50:8.1f} {p95:8.1f} {queries:8d}", flush=True)
        if name.startswith("page") and p95 > TARGET_MS:
            missed.append(name)
    print(f"target: page p95 ≤ {TARGET_MS:.0f} ms — " + ("met" if not missed else f"MISSED: {missed}"))
    print(f"load average (1/5/15 min) after: {load()}")


if __name__ == "__main__":
    # pages render with the plain static storage: the benchmark runs without collectstatic's manifest
    plain = "django.contrib.staticfiles.storage.StaticFilesStorage"
    with override_settings(STORAGES={"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                                     "staticfiles": {"BACKEND": plain}}):
        main()
