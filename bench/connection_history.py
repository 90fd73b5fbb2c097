"""The Connectivity tab of one device with a long history: 10,000 sessions over 90 days.

Prints p50/p95 (the worst of 3 runs of N requests each) of:
- the timeline's data (`connectivity.timeline.device_timeline`: the record running at the period's
  start, one aggregate for every period's availability, the gaps wider than one unit of the axis by a
  window function) for day, week and month, and the same with its SVG bands rendered;
- the Basic Info tab, as the baseline of any console page (session, access, layout);
- the whole tab (assets:device-connectivity through Django's test client: access check, timeline,
  the first page of sessions, the template with its SVG) for each period;
- the API: /api/devices/{assetId}/availability/ and the first page of /sessions/;
- what the history adds to a login and a close (`open_session` + `close_session` of 300 devices, with the
  history's INSERT and UPDATE, and with them switched off): the reconnect storm's path.
Target: the timeline render ≤ 50 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_history .venv/bin/python bench/connection_history.py

The database is dropped and created afresh each run (seconds: 10,000 rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from collections.abc import Callable

import _setup  # configures Django: keep it before the project's imports
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils.timezone import now

from accounts.actors import SYSTEM
from accounts.models import User
from accounts.services import create_ou, set_membership
from assets.models import Device, Product, ThingModel
from connectivity.models import ConnectionRecord, EndReason
from connectivity.templatetags.connectivity_tags import timeline_bands
from connectivity.timeline import PERIODS, device_timeline

SESSIONS = 10_000
DAYS = 90
TARGET_MS = 50.0
SEED = 20261206


def build() -> tuple[Device, User]:
    owner = User.objects.create_user("bench-owner", password="x")
    viewer = User.objects.create_user("bench-viewer", password="x")
    ou = create_ou(SYSTEM, "Bench history", owner)
    set_membership(SYSTEM, ou, viewer, "asset_viewer")
    model = ThingModel.objects.create(ou=ou, model_id="meter", name="Meter")
    product = Product.objects.create(ou=ou, name="Meter", model=model)
    at = now()
    device = Device.objects.create(ou=ou, product=product, device_key="flappy-0001", name="Flappy",
                                   activated_at=at - dt.timedelta(days=DAYS + 1), online=True)
    Device.objects.filter(pk=device.pk).update(created_at=at - dt.timedelta(days=DAYS + 1))
    # 10,000 sessions back to back over 90 days, each followed by an offline gap; the last one open
    rng = random.Random(SEED)
    slot = dt.timedelta(days=DAYS) / SESSIONS
    reasons = [EndReason.CLOSED, EndReason.KEEPALIVE, EndReason.REPLACED, EndReason.SERVER_LOST]
    records = []
    for i in range(SESSIONS):
        start = at - dt.timedelta(days=DAYS) + slot * i
        last = i == SESSIONS - 1
        records.append(ConnectionRecord(
            device=device, ou=ou, session_id=f"s{i}", transport="websocket", client_address="203.0.113.9",
            started_at=start, ended_at=None if last else start + slot * rng.uniform(0.3, 0.95),
            end_reason="" if last else rng.choice(reasons)))
    ConnectionRecord.objects.bulk_create(records, batch_size=2_000)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE connectivity_connectionrecord")
    return Device.objects.select_related("product").get(pk=device.pk), viewer


def session_cost(ou_device: Device, rounds: int = 300) -> tuple[list[float], list[float]]:
    """ms per login + close, with the history's writes and without them (alternating, same devices)."""
    from connectivity import history
    from connectivity.handlers.session import close_session, open_session

    devices = [Device.objects.create(ou=ou_device.ou, product=ou_device.product, device_key=f"storm-{i:04d}",
                                     name=f"Storm {i}") for i in range(rounds)]
    devices = list(Device.objects.select_related("product").filter(pk__in=[d.pk for d in devices]))
    with_history, without = [], []
    saved = history.start_record, history.end_records
    for i, device in enumerate(devices * 2):
        off = i % 2 == 1
        if off:
            history.start_record, history.end_records = (lambda *a, **k: None), (lambda *a, **k: 0)
        started = time.perf_counter()
        close_session(open_session(device, "websocket", client_ip="203.0.113.9"), "connection closed")
        (without if off else with_history).append((time.perf_counter() - started) * 1000)
        history.start_record, history.end_records = saved
    return with_history, without




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="per run (3 runs; the worst is shown)")
    args = parser.parse_args()
    _setup.ensure_database(recreate=True, example="bench_history")
    device, viewer = build()
    client = Client()
    client.force_login(viewer)
    tab = reverse("connectivity:device-connectivity", args=[device.asset_id])

    def get(url: str) -> Callable[[], object]:
        return _setup.getter(client, url)

    scenarios: list[tuple[str, Callable[[], object]]] = []
    for period in PERIODS:
        scenarios.append((f"timeline data ({period})", lambda period=period: device_timeline(device, period)))
    for period in PERIODS:
        scenarios.append((f"timeline render ({period})",
                          lambda period=period: timeline_bands(device_timeline(device, period))))
    scenarios.append(("Basic Info tab (baseline)", get(reverse("assets:device-detail", args=[device.asset_id]))))
    for period in PERIODS:
        scenarios.append((f"Connectivity tab ({period})", get(f"{tab}?period={period}")))
    scenarios.append(("API availability (day)", get(f"/api/devices/{device.asset_id}/availability/")))
    scenarios.append(("API sessions, first page", get(f"/api/devices/{device.asset_id}/sessions/")))

    month = device_timeline(device, "month")
    print(f"{SESSIONS:,} sessions over {DAYS} days on {connection.vendor}; the month's timeline has "
          f"{len(month.bands)} bands; availability {month.availability}")
    print(f"{'scenario':32} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    missed = []
    for name, work in scenarios:
        p50, p95, queries = _setup.measure(work, args.requests)
        print(f"{name:32} {p50:8.1f} {p95:8.1f} {queries:8d}")
        if name.startswith("timeline") and p50 > TARGET_MS:
            missed.append(name)
    print(f"target: timeline render p50 ≤ {TARGET_MS:.0f} ms — " + ("met" if not missed else f"MISSED: {missed}"))
    on, off = session_cost(device)
    print("login + close, ms: with the history p50 {:.1f} p95 {:.1f}; without p50 {:.1f} p95 {:.1f}".format(
        *_setup.percentiles(on), *_setup.percentiles(off)))


if __name__ == "__main__":
    # pages render with the plain static storage: the benchmark runs without collectstatic's manifest
    plain = "django.contrib.staticfiles.storage.StaticFilesStorage"
    with override_settings(STORAGES={"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                                     "staticfiles": {"BACKEND": plain}}):
        main()
