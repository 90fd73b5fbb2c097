"""The device query language at scale: 3-predicate queries (a tag, an attribute range, a status and the like)
over N devices in PostgreSQL, a tenth of them in the measured OU.

Prints p50 and p95 of the first page (20 rows, newest first, as the console and the API ask it) and of the
count, per query, through the same code the doors use (parse → compile → Device.objects.visible_to(user)),
then the EXPLAIN (ANALYZE, BUFFERS) of the issue's example. Target (#15): first page ≤ 100 ms p95, count
≤ 150 ms p95 at 1,000,000 devices / 100,000 per OU.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_query .venv/bin/python bench/device_query.py
    ... bench/device_query.py --devices 1000000     # once: loading takes minutes

The database is (re)built when it does not hold exactly --devices devices; --rebuild forces it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import string
import time
from collections.abc import Callable, Iterator

import _setup  # configures Django: keep it before the project's imports
from django.db import connection

from accounts.actors import SYSTEM
from accounts.models import OrganizationUnit, User
from accounts.services import create_ou, set_membership
from assets import services
from assets.models import Device, ProductType
from assets.queries import keyset_page
from assets.query import apply_query, context_for, parse

OUS = 10
SEED = 20261205
CITIES = ["shanghai", "beijing", "suzhou", "hangzhou", "nanjing", "wuxi", "ningbo", "xiamen", "qingdao", "dalian",
          "tianjin", "wuhan", "chengdu", "xian", "shenzhen", "guangzhou", "hefei", "jinan", "kunming", "harbin"]
ATTRIBUTES = [{"identifier": "capacity", "name": "Capacity", "data_type": "double"},
              {"identifier": "commissioned", "name": "Commissioned", "data_type": "date"}]
COLUMNS = ("ou_id", "product_id", "asset_id", "device_key", "device_secret", "name", "description", "timezone",
           "attributes", "tags", "enabled", "activated_at", "online", "last_online_at", "last_offline_at",
           "created_at", "updated_at")
QUERIES = [
    "status:offline AND tag:site=suzhou AND attr:capacity>=500 AND last_online<7d",  # the example
    "tag:site=suzhou attr:capacity>=500 status:offline",
    "tag:site=suzhou attr:capacity>=900 status:online",  # rarer: fewer rows per index page
    "tag:line=L3 attr:capacity<100 status:disabled",  # rare: a few dozen in the OU
    "tag:site in (suzhou, wuxi) attr:commissioned>=2026-06-01 NOT status:inactive",
    "inverter suzhou status:online",
]
ALNUM = string.ascii_letters + string.digits


def rows(rng: random.Random, total: int, ous: list[int], products: list[int]) -> Iterator[str]:
    now = time.time()
    year = 365 * 86400
    lines: list[str] = []
    for number in range(total):
        ou = number % OUS
        created = now - year + (number / total) * (year - 3600)
        enabled = rng.random() < 0.95
        activated = created + 3600 if rng.random() < 0.85 else None
        online = enabled and activated is not None and rng.random() < 0.6
        last_online = activated + rng.random() * (now - activated) if activated else None
        last_offline = last_online + rng.random() * (now - last_online) if last_online and not online else None
        tags = {"site": rng.choice(CITIES)} if rng.random() < 0.9 else {}
        if rng.random() < 0.4:
            tags["line"] = f"L{rng.randint(1, 9)}"
        attributes = {"capacity": round(rng.random() * 1000, 1),
                      "commissioned": (dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 364))).isoformat()}
        kind = rng.choice(["Inverter", "Meter", "Combiner Box", "Battery Rack"])
        stamp = [dt.datetime.fromtimestamp(t, dt.UTC).isoformat() if t else r"\N"
                 for t in (activated, last_online, last_offline, created)]
        lines.append("\t".join((
            str(ous[ou]), str(products[ou]), f"q{number:011d}", f"qk{number:010d}",
            "".join(rng.choices(ALNUM, k=20)), f"{kind} {tags.get('site', 'x').title()} {number:07d}", "", "+08:00",
            json.dumps(attributes), json.dumps(tags), "t" if enabled else "f", stamp[0], "t" if online else "f",
            stamp[1], stamp[2], stamp[3], stamp[3])) + "\n")
        if len(lines) == 50_000:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def build(total: int) -> None:
    started = time.perf_counter()
    ous, products = [], []
    for index in range(OUS):
        owner = User.objects.create_user(f"query-owner-{index:02d}", phone=f"+861370000{index:04d}")
        manager = User.objects.create_user(f"query-manager-{index:02d}", phone=f"+861360000{index:04d}")
        ou = create_ou(SYSTEM, f"Query OU {index:02d}", owner)
        set_membership(SYSTEM, ou, manager, "asset_manager")
        model = services.create_model(owner, ou, model_id="meter", name="Meter", attributes=ATTRIBUTES)
        product = services.create_product(owner, ou, model=model, name="Meter", product_type=ProductType.DEVICE)
        ous.append(ou.pk)
        products.append(product.pk)
    _setup.copy_devices(COLUMNS, rows(random.Random(SEED), total, ous, products))
    print(f"loaded {total:,} devices in {time.perf_counter() - started:.0f} s", flush=True)


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    run()  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times)
    return statistics.median(times), ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000, help="devices in all (default 100,000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per query (default 20)")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    _setup.ensure_database(recreate=False, example="bench_query")  # created when missing, migrated
    ready = Device.objects.count() == args.devices and OrganizationUnit.objects.filter(
        name__startswith="Query OU").count() == OUS
    if args.rebuild or not ready:
        _setup.empty_database()
        build(args.devices)
    manager = User.objects.get(username="query-manager-03")
    ou = OrganizationUnit.objects.get(name="Query OU 03")
    base = Device.objects.visible_to(manager).filter(ou=ou)
    print(f"{Device.objects.count():,} devices, {base.count():,} in the measured OU; {args.repeat} runs each")
    print(f"{'query':<80} {'rows':>7} {'page p50':>9} {'p95':>7} {'count p50':>10} {'p95':>7}")
    for text in QUERIES:
        matching = apply_query(base, parse(text), context_for(base, manager))
        page = lambda m=matching: keyset_page(m, sort="-created", size=20)  # noqa: E731
        count = matching.count()
        page_p50, page_p95 = timed(page, args.repeat)
        count_p50, count_p95 = timed(matching.count, args.repeat)
        print(f"{text:<80} {count:>7,} {page_p50:>9.1f} {page_p95:>7.1f} {count_p50:>10.1f} {count_p95:>7.1f}",
              flush=True)
    example = apply_query(base, parse(QUERIES[0]), context_for(base, manager)).order_by("-created_at", "-id")
    for label, queryset in (("first page", example[:21]), ("count", None)):
        sql, params = (queryset or example.order_by()).query.sql_with_params()
        if queryset is None:
            sql = f"SELECT count(*) FROM ({sql}) counted"
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            print(f"\nEXPLAIN ANALYZE, {label} of: {QUERIES[0]}")
            print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
