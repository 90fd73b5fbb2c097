"""Django for the benchmark scripts, configured on import (`import _setup` before any project import).

Settings are the project's own with DEBUG off, as production serves pages: cached templates,
no debug cursor except where a benchmark captures queries on purpose.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enos_portal.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")  # the test client speaks plain HTTP (DEBUG off turns it on)
django.setup()


def ensure_database(*, recreate: bool, example: str) -> None:
    """The benchmark's PostgreSQL database (DATABASE_URL), created when missing (or dropped first), migrated.

    `example` names the database in the message shown when DATABASE_URL is not PostgreSQL.
    """
    import psycopg
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(f"Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/{example}")
    connections.close_all()
    with psycopg.connect(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None,
                         password=db["PASSWORD"] or None, dbname="postgres", autocommit=True) as admin:
        if recreate:
            admin.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone() is None:
            admin.execute(f'CREATE DATABASE "{db["NAME"]}"')
    call_command("migrate", verbosity=0)


def empty_database() -> None:
    """Every table of data emptied (not the database dropped: that would end the pool's open connections)."""
    from django.db import connection

    with connection.cursor() as cursor:
        kept = {"django_migrations", "django_content_type", "auth_permission"}  # what migrations made
        tables = [name for name in connection.introspection.table_names(cursor) if name not in kept]
        quoted = ", ".join(connection.ops.quote_name(name) for name in tables)
        cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")


def copy_devices(columns: Sequence[str], chunks: Iterable[str], *, maintenance_work_mem: str = "512MB") -> None:
    """COPY device rows (tab-separated text chunks, `columns` in order) into assets_device, then VACUUM ANALYZE.

    An `enabled` column among them becomes the Disablement rows of the devices copied with false. The table's
    indexes are dropped for the load and built once after it (the GIN ones especially), inside
    the transaction, so a failed load leaves the schema as it was; foreign-key triggers are skipped (the
    rows are consistent); the id sequence is moved past the rows when they bring their own ids.
    """
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("""
            SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = 'assets_device'::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)""")
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{maintenance_work_mem}'")
        disabled = "enabled" in columns  # not a device column (assets.Disablement): a column for the load only
        if disabled:
            cursor.execute("ALTER TABLE assets_device ADD COLUMN enabled boolean")
        with cursor.cursor.copy(f"COPY assets_device ({', '.join(columns)}) FROM STDIN") as copy:
            for chunk in chunks:
                copy.write(chunk)
        if disabled:
            cursor.execute("INSERT INTO assets_disablement (device_id, ou_id) SELECT id, ou_id FROM assets_device "
                           "WHERE NOT enabled")
            cursor.execute("ALTER TABLE assets_device DROP COLUMN enabled")
        for _name, definition in indexes:
            cursor.execute(definition)
        if "id" in columns:
            cursor.execute("SELECT setval(pg_get_serial_sequence('assets_device', 'id'), (SELECT max(id) "
                           "FROM assets_device))")
    with connection.cursor() as cursor:
        # as autovacuum would have left a table this old: statistics and the visibility map
        cursor.execute("VACUUM (ANALYZE) assets_device")
        cursor.execute("VACUUM (ANALYZE) assets_disablement")


def count_queries(work: Callable[[], object]) -> int:
    """Queries one call makes (an execute wrapper: a request resets the debug log CaptureQueriesContext reads)."""
    from django.db import connection

    seen: list[str] = []

    def wrapper(execute: Callable, sql: str, *rest: object) -> object:
        seen.append(sql)
        return execute(sql, *rest)

    with connection.execute_wrapper(wrapper):
        work()
    return len(seen)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(median, p95) of samples in ms."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def getter(client: object, url: str) -> Callable[[], None]:
    """A call that GETs `url` with the test client and fails unless it answers 200."""

    def call() -> None:
        response = client.get(url, secure=True)  # DEBUG off: plain http is redirected
        assert response.status_code == 200, response.status_code

    return call


def timed(work: Callable[[], object], times: int) -> list[float]:
    """The ms each of `times` calls of `work` took."""
    import time

    spent = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def measure(work: Callable[[], object], requests: int) -> tuple[float, float, int]:
    """Warm `work`, count its queries, then the worst p50 and p95 (ms) of 3 runs of `requests` calls."""
    work()  # warm caches (templates, permissions, the session)
    queries = count_queries(work)
    runs = [percentiles(timed(work, requests)) for _ in range(3)]
    return max(r[0] for r in runs), max(r[1] for r in runs), queries
