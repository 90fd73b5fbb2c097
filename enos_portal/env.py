"""Reading settings from the environment, with the embedded default when nothing is set."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}

Number = TypeVar("Number", int, float)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def _env_number(name: str, default: Number, parse: Callable[[str], Number], kind: str) -> Number:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {kind}, got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def secret_key(debug: bool, var_dir: Path) -> str:
    """A real key from SECRET_KEY; in development a generated one kept in the var folder.

    Production (DEBUG off) refuses to start without a real key: a guessable key would let
    anyone forge sessions.
    """
    key = os.environ.get("SECRET_KEY", "")
    if key:
        if not debug and (len(key) < 32 or key.startswith("django-insecure")):
            raise ImproperlyConfigured("SECRET_KEY must be at least 32 random characters in production")
        return key
    if not debug:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    key_file = var_dir / "dev-secret-key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    return key


def allowed_hosts(debug: bool) -> list[str]:
    hosts = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"] if debug else [])
    if not debug and (not hosts or "*" in hosts):
        raise ImproperlyConfigured("ALLOWED_HOSTS must name the portal's hosts when DEBUG is off")
    return hosts


def database_from_url(url: str) -> dict:
    """DATABASES["default"] for DATABASE_URL.

    PostgreSQL gets a psycopg connection pool per process (DB_POOL=1, the default): under an ASGI
    server each request's sync code runs in a thread of its own, and connections kept per thread
    (CONN_MAX_AGE) outlived their threads until PostgreSQL refused new clients. With the pool a
    process holds at most DB_POOL_MAX_SIZE connections; a request that finds them all busy waits
    up to DB_POOL_TIMEOUT seconds for one. Connections above DB_POOL_MIN_SIZE close after
    DB_POOL_MAX_IDLE idle seconds. DB_POOL=0 falls back to per-thread connections kept
    DB_CONN_MAX_AGE seconds (0: closed after each request), e.g. behind PgBouncer.
    """
    pooled = env_bool("DB_POOL", True)
    database = dj_database_url.parse(url, conn_max_age=0 if pooled else env_int("DB_CONN_MAX_AGE", 0))
    if database["ENGINE"] != "django.db.backends.postgresql":
        return database
    options = database.setdefault("OPTIONS", {})
    # the device table lives in RAM/SSD: with the default random_page_cost of 4 the planner
    # prefers a global created_at index over the OU's own index for filtered pages
    # and JIT off: it compiles any plan over jit_above_cost, which for a count over an OU's 100,000 devices
    # spends 100-140 ms compiling a 40 ms query (a portal's queries are short; PG_JIT=on brings it back)
    options.setdefault("options", f"-c random_page_cost={os.environ.get('PG_RANDOM_PAGE_COST', '1.1')} "
                                  f"-c jit={'on' if env_bool('PG_JIT', False) else 'off'}")
    if pooled:
        min_size, max_size = env_int("DB_POOL_MIN_SIZE", 1), env_int("DB_POOL_MAX_SIZE", 10)
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ImproperlyConfigured(
                f"DB_POOL_MIN_SIZE ({min_size}) must be from 0 to DB_POOL_MAX_SIZE ({max_size}), which must be ≥ 1")
        options["pool"] = {"min_size": min_size, "max_size": max_size,
                           "timeout": env_float("DB_POOL_TIMEOUT", 10.0),
                           "max_idle": env_float("DB_POOL_MAX_IDLE", 300.0)}
    return database


def channel_layer_from_url(url: str) -> dict:
    """CHANNEL_LAYERS["default"] for REDIS_URL (channels-redis).

    channels-redis keeps the messages of all the channels of one server process in one Redis key, and checks
    a channel's capacity against that key: with a capacity of 1,000, a bulk Disable that kicks 1,000 devices
    held by one worker dropped a kick whenever anything else was queued (the kicked device stayed connected
    until the session sweep found it). The process channels (`specific.*`) get a capacity for all the
    connections of a process (CHANNEL_PROCESS_CAPACITY), named channels keep CHANNEL_CAPACITY.
    """
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # Without socket_timeout=None an idle consumer dies after 5 s reading from Redis.
            "hosts": [{"address": url, "socket_timeout": None}],
            "capacity": env_int("CHANNEL_CAPACITY", 1000),
            "channel_capacity": {"specific.*": env_int("CHANNEL_PROCESS_CAPACITY", 200_000)},
            "expiry": 30,
        },
    }
