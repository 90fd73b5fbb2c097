"""Reading settings from the environment, with the embedded default when nothing is set."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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
