"""PostgreSQL connections stay bounded under a real ASGI server (issue #13).

Django under daphne runs each request's sync code in a thread of its own; connections kept per
thread (CONN_MAX_AGE) outlived their threads and piled up to the server's limit. With the
connection pool a worker holds at most DB_POOL_MAX_SIZE connections, however many requests run
at once, and gives back those above DB_POOL_MIN_SIZE when they are not needed.
"""

from __future__ import annotations

import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from rest_framework.authtoken.models import Token

from enos_portal.env import database_from_url
from tests.processes import daphne_server
from tests.waiting import wait_for

POOL_MAX = 4
CONCURRENT = 20
REQUESTS = 300


def server_connections() -> int:
    """Connections to the test database other than this test process's own."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_busy_daphne_holds_no_more_connections_than_its_pool(writer, acme, device):
    if connection.vendor != "postgresql":
        pytest.skip("connection pools apply to PostgreSQL; the PostgreSQL pass runs this test")
    headers = {"Authorization": f"Token {Token.objects.create(user=writer).key}"}
    before = server_connections()
    counts: list[int] = []
    done = threading.Event()

    def watch() -> None:  # its own connection, closed when it ends
        try:
            while not done.is_set():
                counts.append(server_connections())
                done.wait(0.05)
        finally:
            connection.close()

    with daphne_server(DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE=str(POOL_MAX)) as base:
        def get(i: int) -> int:
            path = f"/api/devices/{device.asset_id}/" if i % 2 else "/api/devices/?pageSize=5"
            with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=60) as answer:
                return answer.status

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with ThreadPoolExecutor(CONCURRENT) as pool:
                statuses = list(pool.map(get, range(REQUESTS)))
        finally:
            done.set()
            watcher.join()
        assert statuses == [200] * REQUESTS
        # the watcher counts this test's main connection too (+1)
        assert max(counts) - before <= POOL_MAX + 1, counts
        # and once idle, no more than the pool either (not the 98 a burst used to leave behind); the
        # watcher's closed connection leaves pg_stat_activity a moment after it closes: wait for it
        wait_for(lambda: server_connections() - before <= POOL_MAX, 10)


# --- the DATABASES entry DATABASE_URL makes ---------------------------------------------------------

PG_URL = "postgres://portal@db.example.com:5432/portal"


def test_postgresql_gets_a_pool_and_no_per_thread_connections(monkeypatch):
    for name in ("DB_POOL", "DB_POOL_MIN_SIZE", "DB_POOL_MAX_SIZE", "DB_POOL_TIMEOUT", "DB_POOL_MAX_IDLE",
                 "PG_JIT"):
        monkeypatch.delenv(name, raising=False)
    database = database_from_url(PG_URL)
    assert database["CONN_MAX_AGE"] == 0  # Django refuses persistent connections with a pool
    assert database["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 10, "timeout": 10.0, "max_idle": 300.0}
    assert database["OPTIONS"]["options"] == "-c random_page_cost=1.1 -c jit=off"


def test_jit_can_be_turned_back_on(monkeypatch):
    monkeypatch.setenv("PG_JIT", "on")
    assert database_from_url(PG_URL)["OPTIONS"]["options"].endswith("-c jit=on")


def test_the_pool_is_sized_from_the_environment(monkeypatch):
    monkeypatch.setenv("DB_POOL_MIN_SIZE", "2")
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "20")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "2.5")
    monkeypatch.setenv("DB_POOL_MAX_IDLE", "60")
    assert database_from_url(PG_URL)["OPTIONS"]["pool"] == {
        "min_size": 2, "max_size": 20, "timeout": 2.5, "max_idle": 60.0}


@pytest.mark.parametrize("min_size, max_size", [("5", "4"), ("-1", "4"), ("0", "0")])
def test_an_impossible_pool_size_is_refused_at_startup(monkeypatch, min_size, max_size):
    monkeypatch.setenv("DB_POOL_MIN_SIZE", min_size)
    monkeypatch.setenv("DB_POOL_MAX_SIZE", max_size)
    with pytest.raises(ImproperlyConfigured, match="DB_POOL_MIN_SIZE"):
        database_from_url(PG_URL)


def test_without_the_pool_connections_close_after_each_request_unless_told(monkeypatch):
    monkeypatch.setenv("DB_POOL", "0")
    monkeypatch.delenv("DB_CONN_MAX_AGE", raising=False)
    database = database_from_url(PG_URL)
    assert "pool" not in database["OPTIONS"]
    assert database["CONN_MAX_AGE"] == 0
    monkeypatch.setenv("DB_CONN_MAX_AGE", "60")  # e.g. behind PgBouncer in transaction mode
    assert database_from_url(PG_URL)["CONN_MAX_AGE"] == 60


def test_other_databases_get_no_pool_options(monkeypatch, tmp_path):
    monkeypatch.delenv("DB_POOL", raising=False)
    database = database_from_url(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert "pool" not in database.get("OPTIONS", {})
