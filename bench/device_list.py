"""The Device Assets list at scale: 1,000,000 devices in PostgreSQL, 100,000 of them in the measured OU.

Prints median and p95 server time and the queries per request of the console table
(assets:device-list) and the API list (/api/devices/) at page sizes 20, 50 and 200: unfiltered,
filtered by status, by search and by tag, and ~1,000 pages deep; and the API for users who read
2 and 10 OUs. The console page shows its rows at once and then loads its counts (status summary,
"N devices match") in a second request, assets:device-counts: that request is measured on its own
("counts" rows, one per filter: it costs the same at any page size and paging does not repeat it).
Beside wall time, each row shows the Python CPU of this process and the time spent in database
calls, so a loaded machine (which inflates wall time) does not hide where the time goes.
Then the SQL pieces on their own (status summary, filtered counts, keyset against OFFSET at page
1,000), and the plans of the slowest queries if a scenario misses the target (median ≤ 100 ms).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_devices .venv/bin/python bench/device_list.py

The first run creates the database, migrates and loads the devices with COPY (a few minutes);
later runs find the data and only measure. --rebuild starts from an empty database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import statistics
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import _setup  # configures Django: keep it before the project's imports
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.pagination import Cursor

from accounts.actors import SYSTEM
from accounts.models import OrganizationUnit, User
from accounts.services import create_ou, set_membership
from assets import services
from assets.api.pagination import KeysetPagination
from assets.models import Device, Product, ProductType
from assets.queries import _encode, filter_devices, keyset_page

OUS = 10
PER_OU = 100_000
TOTAL = OUS * PER_OU
SIZES = (20, 50, 200)
DEEP_PAGE = 1_000
TARGET_MS = 100.0
READERS = (2, OUS)  # API users who read several OUs
OU_NAME = "Bench OU {:02d}"
SEED = 20240601

CITIES = ["Shanghai", "Beijing", "Suzhou", "Hangzhou", "Nanjing", "Wuxi", "Ningbo", "Xiamen", "Qingdao", "Dalian",
          "Tianjin", "Wuhan", "Chengdu", "Xian", "Shenzhen", "Guangzhou", "Hefei", "Jinan", "Kunming", "Harbin"]
KINDS = ["Inverter", "Meter", "Combiner Box", "Weather Station", "Battery Rack", "Transformer"]
TIMEZONES = ["+08:00"] * 8 + ["Asia/Shanghai", "Europe/Berlin"]
ALNUM = string.ascii_letters + string.digits
BASE36 = string.digits + string.ascii_lowercase
COLUMNS = ("id", "ou_id", "product_id", "asset_id", "device_key", "device_secret", "name", "description",
           "timezone", "attributes", "tags", "gateway_id", "enabled", "activated_at", "online", "last_online_at",
           "last_offline_at", "created_at", "updated_at")

BROAD_SEARCH = "Suzhou"  # a site: ~5% of the OU
TAG = "site:suzhou"


# --- the database and its data ------------------------------------------------------------------

def data_ready() -> bool:
    return (OrganizationUnit.objects.filter(name__startswith="Bench OU").count() == OUS
            and Device.objects.count() == TOTAL)


def base36(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 36)
        digits = BASE36[rest] + digits
    return digits.rjust(width, "0")


def plan_events(rng: random.Random) -> list[tuple[int, int]]:
    """(OU index, devices) per creation event: mostly single devices, ~25% of rows in batch imports
    of 100–1,000 devices stamped with one created_at (the ties keyset pagination must break by id)."""
    remaining = [PER_OU] * OUS
    events: list[tuple[int, int]] = []
    while any(remaining):
        size = rng.randint(100, 1000) if rng.random() < 0.0006 else 1
        open_ous = [o for o, left in enumerate(remaining) if left >= size] or [o for o, left in enumerate(remaining)
                                                                              if left]
        ou = rng.choice(open_ous)
        size = min(size, remaining[ou])
        remaining[ou] -= size
        events.append((ou, size))
    return events


def iso(ts: float | None) -> str:
    return r"\N" if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def device_rows(rng: random.Random, ou_pks: list[int], products: list[tuple[int, int]]):
    """COPY text, 50,000 rows a chunk. products[o] = (device product pk, gateway product pk)."""
    now = time.time()
    year = 365 * 86400
    events = plan_events(rng)
    times = sorted(now - year + rng.random() * (year - 3600) for _ in events)
    gateways: list[list[int]] = [[] for _ in range(OUS)]
    lines: list[str] = []
    pk = 0
    for (ou, size), created in zip(events, times, strict=True):
        batch_city = rng.choice(CITIES) if size > 1 else None
        for _ in range(size):
            pk += 1
            number = pk - 1
            is_gateway = size == 1 and rng.random() < 0.03
            city = batch_city or rng.choice(CITIES)
            kind = "Gateway" if is_gateway else rng.choice(KINDS)
            gateway = None
            if not is_gateway and gateways[ou] and rng.random() < 0.10:
                gateway = rng.choice(gateways[ou][-50:])
            if is_gateway:
                gateways[ou].append(pk)
            enabled = rng.random() < 0.95
            activated = created + rng.random() * min(7 * 86400, now - created) if rng.random() < 0.85 else None
            online = enabled and activated is not None and rng.random() < 0.6
            last_online = activated + rng.random() * (now - activated) if activated is not None else None
            last_offline = (last_online + rng.random() * (now - last_online)
                            if last_online is not None and not online else None)
            tags: dict[str, str] = {"site": city.lower()} if rng.random() < 0.9 else {}
            if rng.random() < 0.4:
                tags["line"] = f"L{rng.randint(1, 9)}"
            lines.append("\t".join((
                str(pk), str(ou_pks[ou]), str(products[ou][1 if is_gateway else 0]),
                "".join(rng.choices(ALNUM, k=4)) + base36(number, 4),  # asset_id: unique by its suffix
                base36(number, 4) + "".join(rng.choices(ALNUM, k=6)),  # device_key
                "".join(rng.choices(ALNUM, k=20)),
                f"{kind} {city} {number:06d}", "", rng.choice(TIMEZONES), "{}",
                json.dumps(tags, separators=(",", ":")), r"\N" if gateway is None else str(gateway),
                "t" if enabled else "f", iso(activated), "t" if online else "f", iso(last_online),
                iso(last_offline), iso(created), iso(max(last_online or created, created)),
            )) + "\n")
            if len(lines) == 50_000:
                yield "".join(lines)
                lines = []
    if lines:
        yield "".join(lines)


def build() -> None:
    started = time.perf_counter()
    rng = random.Random(SEED)
    ous, products = [], []
    for index in range(OUS):
        owner = User.objects.create_user(f"bench-owner-{index:02d}", phone=f"+861380000{index:04d}")
        manager = User.objects.create_user(f"bench-manager-{index:02d}", phone=f"+861390000{index:04d}")
        ou = create_ou(SYSTEM, OU_NAME.format(index), owner)
        set_membership(SYSTEM, ou, manager, "asset_manager")
        model = services.create_model(owner, ou, model_id="bench_pv", name="PV plant equipment")
        device_product = services.create_product(owner, ou, model=model, name="Bench Device",
                                                 product_type=ProductType.DEVICE)
        gateway_product = services.create_product(owner, ou, model=model, name="Bench Gateway",
                                                  product_type=ProductType.GATEWAY)
        ous.append(ou.pk)
        products.append((device_product.pk, gateway_product.pk))
    _setup.copy_devices(COLUMNS, device_rows(rng, ous, products), maintenance_work_mem="1GB")
    print(f"  built in {time.perf_counter() - started:.0f} s (indexes, vacuum, analyze)", flush=True)


# --- measuring ----------------------------------------------------------------------------------

@dataclass
class Result:
    door: str
    scenario: str
    size: int
    rows: int = 0
    times_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # this process's CPU: Python's share, whatever the load
    sql_ms: list[float] = field(default_factory=list)  # time inside the database calls
    queries: list[int] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (ms, SQL) of the slowest request

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return p95(self.times_ms)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]  # nearest rank


class SqlTimer:
    """Each query's wall time around the driver call (the query log rounds to whole milliseconds)."""

    def __init__(self) -> None:
        self.durations: list[float] = []

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.durations.append((time.perf_counter() - started) * 1000)


def measure(client: Client, door: str, scenario: str, size: int, url: str, params: dict[str, Any],
            requests: int, warmup: int) -> Result:
    result = Result(door, scenario, size)
    slowest = -1.0
    for attempt in range(warmup + requests):
        reset_queries()  # the log keeps 9,000 queries at most; past that a capture would count none
        timer = SqlTimer()
        with connection.execute_wrapper(timer), CaptureQueriesContext(connection) as captured:
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(url, params)
            elapsed = (time.perf_counter() - started) * 1000
            cpu_ms = (time.process_time() - cpu) * 1000
        if response.status_code != 200:
            sys.exit(f"{door} {scenario} size {size}: HTTP {response.status_code}\n{response.content[:2000]!r}")
        if attempt < warmup:
            continue
        result.times_ms.append(elapsed)
        result.cpu_ms.append(cpu_ms)
        result.sql_ms.append(sum(timer.durations))
        result.queries.append(len(captured.captured_queries))
        if door == "api":
            result.rows = len(response.json()["results"])
        elif door == "counts":
            matching = re.search(rb"([0-9]+) devices? match", response.content)
            result.rows = int(matching[1]) if matching else -1
        else:
            result.rows = response.content.count(b'data-asset-id="')
        if elapsed > slowest and len(timer.durations) == len(captured.captured_queries):
            slowest = elapsed
            queries = captured.captured_queries
            result.slowest = [(ms, query["sql"]) for ms, query in zip(timer.durations, queries, strict=True)]
    return result


def api_cursor(position: str) -> str:
    pager = KeysetPagination()
    pager.base_url = "http://testserver/api/devices/"
    return parse_qs(urlsplit(pager.encode_cursor(Cursor(offset=0, reverse=False, position=position))).query)[
        "cursor"][0]


def deep_row(qs, size: int) -> tuple[int, dt.datetime, int]:
    """The page ~1,000 deep (or the last full one) and the row its "after" cursor points at."""
    total = qs.count()
    offset = min((DEEP_PAGE - 1) * size, total - size)
    created_at, pk = qs.order_by("-created_at", "-id").values_list("created_at", "pk")[offset - 1]
    return offset // size + 1, created_at, pk


def scenarios(ou: OrganizationUnit, manager: User) -> list[tuple[str, str, int, dict[str, Any], int]]:
    """(door, scenario, page size, query parameters, OUs the user reads: 1 is the measured OU's manager).
    Page size 0: the counts fragment, which has none."""
    base = Device.objects.visible_to(manager).filter(ou=ou)
    gateway_key = Product.objects.get(ou=ou, product_type=ProductType.GATEWAY).product_key
    sample = base.order_by("-created_at", "-id")[PER_OU // 2]
    narrow = sample.name.rsplit(" ", 1)[1][:5]  # five digits of a device number: a handful of rows
    offline = filter_devices(base, status="offline")
    deep = {size: deep_row(base, size) for size in SIZES}
    deep_offline = {size: deep_row(offline, size) for size in SIZES}

    def console_deep(size: int, rows: dict, **params: str) -> tuple[str, dict[str, Any]]:
        page, at, pk = rows[size]
        return f"page {page}", {**params, "after": _encode(at, pk)}

    def api_deep(size: int, rows: dict, **params: str) -> tuple[str, dict[str, Any]]:
        page, at, pk = rows[size]
        return f"page {page}", {**params, "cursor": api_cursor(f"{at.isoformat()}|{pk}")}

    console: list[tuple[str, Callable[[int], tuple[str, dict[str, Any]]]]] = [
        ("unfiltered", lambda size: ("", {})),
        ("status=online", lambda size: ("", {"status": "online"})),
        ("status=inactive", lambda size: ("", {"status": "inactive"})),
        ("status=disable", lambda size: ("", {"status": "disable"})),
        (f"q={BROAD_SEARCH} (broad)", lambda size: ("", {"q": BROAD_SEARCH})),
        (f"q={narrow} (narrow)", lambda size: ("", {"q": narrow})),
        ("product=gateway", lambda size: ("", {"product": gateway_key})),
        (f"tag={TAG}", lambda size: ("", {"tag": TAG})),
        ("sort=name", lambda size: ("", {"sort": "name"})),
        ("deep", lambda size: console_deep(size, deep)),
        ("status=offline deep", lambda size: console_deep(size, deep_offline, status="offline")),
    ]
    api: list[tuple[str, Callable[[int], tuple[str, dict[str, Any]]]]] = [
        ("unfiltered", lambda size: ("", {})),
        ("status=online", lambda size: ("", {"status": "online"})),
        ("status=inactive", lambda size: ("", {"status": "inactive"})),
        ("status=disable", lambda size: ("", {"status": "disable"})),
        (f"name={BROAD_SEARCH} (broad)", lambda size: ("", {"name": BROAD_SEARCH})),
        (f"name={narrow} (narrow)", lambda size: ("", {"name": narrow})),
        (f"tag={TAG}", lambda size: ("", {"tag": TAG})),
        ("deep", lambda size: api_deep(size, deep)),
        ("status=offline deep", lambda size: api_deep(size, deep_offline, status="offline")),
    ]
    found = []
    for door, table in (("console", console), ("api", api)):
        for label, make in table:
            for size in SIZES:
                suffix, params = make(size)
                found.append((door, f"{label} {suffix}".strip(), size, params, 1))
    # the counts the console page loads after its rows: one request per filter, whatever the page size
    for label, make in console:
        if "deep" not in label and not label.startswith("sort"):
            found.append(("counts", label, 0, make(SIZES[0])[1], 1))
    # an integration's account reading several OUs: by default the API lists all of them, newest first
    for reads in READERS:
        for size in SIZES:
            found.append(("api", f"unfiltered, user of {reads} OUs", size, {}, reads))
        for size in SIZES:
            found.append(("api", f"ou=<one>, user of {reads} OUs", size, {"ou": ou.ou_id}, reads))
    return found


def reader_of(count: int) -> User:
    """A user with read access to the first `count` bench OUs (made on first use; set_membership is idempotent)."""
    user, _ = User.objects.get_or_create(username=f"bench-reader-{count:02d}-ous")
    for index in range(count):
        set_membership(SYSTEM, OrganizationUnit.objects.get(name=OU_NAME.format(index)), user, "asset_viewer")
    return user


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    times, value = [], None
    for attempt in range(runs + 3):
        started = time.perf_counter()
        value = fn()
        if attempt >= 3:
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), p95(times), value


def sql_pieces(ou: OrganizationUnit, manager: User, runs: int) -> list[tuple[str, float, float, Any]]:
    base = Device.objects.visible_to(manager).filter(ou=ou)
    _, at, pk = deep_row(base, 20)
    newest = base.order_by("-created_at", "-id")
    cursor = _encode(at, pk)
    pieces: list[tuple[str, Callable[[], Any]]] = [
        ("status summary (status_counts, whole OU)", base.status_counts),
        ("count status=offline", lambda: filter_devices(base, status="offline").count()),
        ("count status=disable", lambda: filter_devices(base, status="disable").count()),
        (f"count q={BROAD_SEARCH} (console search)", lambda: filter_devices(base, search=BROAD_SEARCH).count()),
        (f"count tag={TAG}", lambda: filter_devices(base, tag=TAG).count()),
        ("page 1000 × 20, keyset", lambda: len(keyset_page(base, sort="-created", size=20, after=cursor).rows)),
        ("page 1000 × 20, OFFSET 19980", lambda: len(list(newest[(DEEP_PAGE - 1) * 20:DEEP_PAGE * 20 + 1]))),
    ]
    return [(label, *timed(fn, runs)) for label, fn in pieces]


def explain(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return [row[0] for row in cursor.fetchall()]


# --- report -------------------------------------------------------------------------------------

def print_results(results: list[Result]) -> None:
    header = (f"{'door':<8} {'scenario':<34} {'size':>4} {'rows':>6} {'median ms':>9} {'p95 ms':>8} "
              f"{'cpu ms':>7} {'sql ms':>7} {'queries':>7}")
    print(header)
    print("-" * len(header))
    for r in results:
        queries = str(r.queries[0]) if len(set(r.queries)) == 1 else f"{min(r.queries)}-{max(r.queries)}"
        flag = "" if r.median <= TARGET_MS else "  > target"
        size = str(r.size) if r.size else "-"
        print(f"{r.door:<8} {r.scenario:<34} {size:>4} {r.rows:>6} {r.median:>9.1f} {r.p95:>8.1f} "
              f"{statistics.median(r.cpu_ms):>7.1f} {statistics.median(r.sql_ms):>7.1f} {queries:>7}{flag}")
    by_family: dict[tuple[str, str], set[int]] = {}
    for r in results:
        family = r.scenario.split(" page ")[0]
        by_family.setdefault((r.door, family), set()).update(r.queries)
    varying = [f"{door} {family}" for (door, family), counts in by_family.items() if len(counts) > 1]
    missing = [r for r in results if r.median > TARGET_MS]
    print()
    print("queries independent of page size:", "yes" if not varying else "NO: " + ", ".join(varying))
    print(f"median ≤ {TARGET_MS:.0f} ms:", "every scenario" if not missing else f"{len(missing)} scenario(s) miss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="measured requests per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured requests per scenario first")
    parser.add_argument("--rebuild", action="store_true", help="drop the database and load the data again")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/bench_devices")

    _setup.ensure_database(recreate=args.rebuild, example="bench_devices")
    if not data_ready():
        if OrganizationUnit.objects.exists():  # a load that stopped half way: start clean
            _setup.ensure_database(recreate=True, example="bench_devices")
        print(f"Building {TOTAL:,} devices in {OUS} OUs …", flush=True)
        build()
    ou = OrganizationUnit.objects.get(name=OU_NAME.format(0))
    manager = User.objects.get(username="bench-manager-00")
    summary = Device.objects.filter(ou=ou).status_counts()
    print(f"PostgreSQL {connection.cursor().connection.info.server_version}, {Device.objects.count():,} devices; "
          f"measured OU {ou.ou_id}: " + ", ".join(f"{k} {v:,}" for k, v in summary.items()))
    print(f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f} (other work on the machine inflates "
          f"the figures)")

    clients = {1: Client()}
    clients[1].force_login(manager)
    for reads in READERS:
        clients[reads] = Client()
        clients[reads].force_login(reader_of(reads))
    urls = {"console": reverse("assets:device-list"), "api": "/api/devices/",
            "counts": reverse("assets:device-counts", args=[ou.ou_id])}
    size_param = {"console": "size", "api": "pageSize"}
    results = []
    for door, scenario, size, params, reads in scenarios(ou, manager):
        query = {**params, size_param[door]: size} if size else params
        results.append(measure(clients[reads], door, scenario, size, urls[door], query, args.requests, args.warmup))
    print()
    print(f"Server time per request, {args.requests} requests each after {args.warmup} warm-up "
          f"(django.test.Client in process, DEBUG off); cpu = Python CPU of this process, sql = time in "
          f"database calls (medians):")
    print_results(results)

    print()
    print("The SQL pieces on their own (ORM in process, median / p95 ms):")
    for label, median, p95, value in sql_pieces(ou, manager, args.requests):
        print(f"  {label:<46} {median:>7.1f} {p95:>7.1f}   → {value}")

    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    worst = max(results, key=lambda r: r.median)
    if worst.median > TARGET_MS:
        # the page that misses by most, and the one whose SQL costs most: often not the same
        worst_sql = max(results, key=lambda r: statistics.median(r.sql_ms))
        for label, r in (("slowest page", worst), ("most SQL", worst_sql)):
            print()
            print(f"{label}: {r.door} {r.scenario} size {r.size}: median {r.median:.1f} ms, of which Python CPU "
                  f"{statistics.median(r.cpu_ms):.1f} ms and SQL {statistics.median(r.sql_ms):.1f} ms. "
                  f"Its slowest queries:")
            for ms, sql in sorted(r.slowest, reverse=True)[:3]:
                print(f"  {ms:7.1f} ms  {sql[:300]}")
        print()
        print("EXPLAIN (ANALYZE, BUFFERS) of the slowest query of the scenario with the most SQL:")
        for line in explain(max(worst_sql.slowest)[1]):
            print("  " + line)

if __name__ == "__main__":
    main()
