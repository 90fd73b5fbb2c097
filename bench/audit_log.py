"""The OU audit log at scale: the first page of one OU's events filtered by action.

Loads N audit events (default 100,000; --events 10000000 for the issue's target) with COPY into a
PostgreSQL database, spread over 20 OUs (one large: 40 %) and the portal's actions (a few common,
many rare) across a year, then asks for the first page, newest first, filtered by OU and action:
through the API (GET /api/audit-events/?ou=…&action=…), the console (/audit-log/?action=…) and the
ORM alone. Prints median and p95 per scenario, and the worst of them (the target: ≤ 100 ms).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_audit .venv/bin/python bench/audit_log.py

The first run loads; later runs with the same --events find the data and only measure. --rebuild
starts from an empty database.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import _setup  # configures Django: keep it before the project's imports
from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.actors import SYSTEM
from accounts.models import AuditEvent, OrganizationUnit, User
from accounts.services import create_ou, set_membership

OUS = 20
BIG_OU_SHARE = 0.4
# (action, weight): the common ones of a real fleet first, then the rare
ACTIONS = [("device.update", 30), ("device.disable", 12), ("device.enable", 12), ("trace.start", 8),
           ("trace.stop", 8), ("trace.expire", 6), ("device.service_invoke", 10), ("device.create", 6),
           ("device.secret_reveal", 3), ("device.delete", 2), ("device.sub_devices_add", 1),
           ("device.batch_import", 0.2), ("membership.set", 0.1), ("product.update", 0.3), ("model.update", 0.2),
           ("device.migrate_out", 0.05), ("ou.update", 0.01)]
COLUMNS = ("created_at", "actor_id", "ou_id", "action", "object_type", "object_id", "object_repr", "before", "after",
           "request_id")
CHUNK = 50_000


def event_rows(total: int, ou_pks: list[int], actor_pk: int, rng: random.Random):
    """COPY text, CHUNK rows at a time, oldest first (as the log grows)."""
    names = [a for a, _ in ACTIONS]
    weights = [w for _, w in ACTIONS]
    start = datetime.now(UTC) - timedelta(days=365)
    step = 365 * 86400 / total
    lines: list[str] = []
    for index in range(total):
        ou = ou_pks[0] if rng.random() < BIG_OU_SHARE else rng.choice(ou_pks[1:])
        action = rng.choices(names, weights)[0]
        at = (start + timedelta(seconds=index * step)).isoformat()
        device = rng.randrange(100_000)
        before = json.dumps({"name": f"Device {device}"})
        after = json.dumps({"name": f"Device {device} b"})
        lines.append(f"{at}\t{actor_pk}\t{ou}\t{action}\tdevice\tA{device:08d}\tDevice {device}\t{before}\t{after}\t"
                     f"{rng.getrandbits(64):016x}\n")
        if len(lines) == CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def load(total: int) -> None:
    rng = random.Random(16)
    admin = User.objects.filter(username="bench-audit-admin").first() or User.objects.create_user(
        "bench-audit-admin", password="bench-password-1")
    ous = list(OrganizationUnit.objects.filter(name__startswith="Bench OU ").order_by("pk"))
    while len(ous) < OUS:
        ous.append(create_ou(SYSTEM, f"Bench OU {len(ous):02d}", admin))
    set_membership(SYSTEM, ous[0], admin, "ou_admin")
    table = AuditEvent._meta.db_table
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE "
                       "'%%_pkey'", [table])
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET session_replication_role = replica")  # consistent rows: skip the FK triggers
        cursor.execute("SET maintenance_work_mem = '512MB'")
        with cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for chunk in event_rows(total, [ou.pk for ou in ous], admin.pk, rng):
                copy.write(chunk)
        print(f"  copied {total:,} events in {time.perf_counter() - started:.0f} s", flush=True)
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("SET session_replication_role = DEFAULT")
        print(f"  indexed in {time.perf_counter() - started:.0f} s", flush=True)
        cursor.execute(f"VACUUM (ANALYZE) {table}")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(label: str, run, requests: int, warmup: int) -> tuple[str, float, float]:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return label, statistics.median(times), p95(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="audit events to load (default 100,000)")
    parser.add_argument("--requests", type=int, default=30, help="measured requests per scenario")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="drop the database and load again")
    args = parser.parse_args()
    _setup.ensure_database(recreate=args.rebuild, example="bench_audit")
    have = AuditEvent.objects.count()
    if have < args.events:
        if have:  # another size: start the log over
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {AuditEvent._meta.db_table}")
        print(f"Loading {args.events:,} audit events …", flush=True)
        load(args.events)
    ou = OrganizationUnit.objects.filter(name="Bench OU 00").get()
    admin = User.objects.get(username="bench-audit-admin")
    print(f"{AuditEvent.objects.count():,} events; OU {ou.ou_id} holds {BIG_OU_SHARE:.0%} of them")
    # pages render without a collectstatic run (the manifest storage would want one)
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    client = Client()
    client.force_login(admin)
    client.get("/audit-log/", secure=True)  # the session's current OU
    results = []
    for action in ("device.update", "device.secret_reveal", "ou.update"):
        def api(action: str = action) -> None:
            response = client.get(f"/api/audit-events/?ou={ou.ou_id}&action={action}", secure=True)
            assert response.status_code == 200, response.content[:200]

        def page(action: str = action) -> None:
            assert client.get(f"/audit-log/?action={action}", secure=True).status_code == 200

        def orm(action: str = action) -> None:
            list(AuditEvent.objects.filter(ou=ou, action=action).select_related("actor")
                 .order_by("-created_at", "-id")[:51])

        results += [measure(f"API   {action}", api, args.requests, args.warmup),
                    measure(f"page  {action}", page, args.requests, args.warmup),
                    measure(f"ORM   {action}", orm, args.requests, args.warmup)]
    print(f"{'first page, OU + action':<36} {'median ms':>9} {'p95 ms':>8}")
    for label, median, high in results:
        print(f"{label:<36} {median:>9.1f} {high:>8.1f}")
    worst = max(results, key=lambda r: r[2])
    print(f"worst p95: {worst[2]:.1f} ms ({worst[0].strip()}); target ≤ 100 ms")


if __name__ == "__main__":
    main()
