"""Settings come from the environment: safe refusals in production, the embedded default otherwise.

The real settings module is loaded in a subprocess with a controlled environment, since this
test process has already configured Django.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from enos_portal.env import allowed_hosts, env_bool, env_float, env_int, env_list, secret_key

REPO = Path(__file__).resolve().parent.parent
GOOD_KEY = "k3y-" + "x7Qp" * 12  # 52 characters, not django-insecure
PRODUCTION = {"DEBUG": "0", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "portal.example.com"}

# a test that loads the settings in its own interpreter, with an environment of its own, proves the same in
# either of CI's passes: it runs in the PostgreSQL + Redis pass only (marked `once`)
own_interpreter = pytest.mark.once

PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
from enos_portal.celery import app
db = settings.DATABASES["default"]
print(json.dumps({
    "debug": settings.DEBUG,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "secure_cookies": settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE,
    "ssl_redirect": settings.SECURE_SSL_REDIRECT, "hsts_seconds": settings.SECURE_HSTS_SECONDS,
    "proxy_ssl_header": settings.SECURE_PROXY_SSL_HEADER,
    "static_storage": settings.STORAGES["staticfiles"]["BACKEND"],
    "sms_allow_console": settings.SMS_ALLOW_CONSOLE,
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST", ""),
    "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "channel_hosts": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts"),
    "celery_broker": app.conf.broker_url,
}))
"""


def run_portal_python(var_dir: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter whose environment holds only what the test gives it."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(var_dir),
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "enos_portal.settings",
        "PORTAL_VAR_DIR": str(var_dir),
        **env,
    }
    return subprocess.run([sys.executable, "-c", code], env=environment, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def loaded_settings(var_dir: Path, **env: str) -> dict:
    result = run_portal_python(var_dir, PRINT_SETTINGS, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the real settings module ------------------------------------------------------------------------

@own_interpreter
@pytest.mark.parametrize(("env", "reason"), [
    pytest.param({"SECRET_KEY": ""}, "SECRET_KEY must be set when DEBUG is off", id="no-secret-key"),
    pytest.param({"SECRET_KEY": "short-but-secret"}, "SECRET_KEY must be at least 32 random characters",
                 id="short-secret-key"),
    pytest.param({"SECRET_KEY": "django-insecure-" + "a" * 40}, "SECRET_KEY must be at least 32 random characters",
                 id="insecure-secret-key"),
    pytest.param({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must name the portal's hosts", id="no-allowed-hosts"),
    pytest.param({"ALLOWED_HOSTS": "portal.example.com,*"}, "ALLOWED_HOSTS must name the portal's hosts",
                 id="wildcard-host"),
])
def test_production_refuses_to_start_with_unsafe_settings(tmp_path, env, reason):
    result = run_portal_python(tmp_path, "import django; django.setup()", **{**PRODUCTION, **env})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert reason in result.stderr


@own_interpreter
def test_production_refuses_to_start_when_allowed_hosts_is_unset(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}
    result = run_portal_python(tmp_path, "import django; django.setup()", **env)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must name the portal's hosts" in result.stderr


@own_interpreter
def test_production_starts_with_everything_set(tmp_path):
    loaded = loaded_settings(tmp_path, **{**PRODUCTION, "ALLOWED_HOSTS": "portal.example.com, api.example.com"})
    assert loaded["debug"] is False
    assert loaded["allowed_hosts"] == ["portal.example.com", "api.example.com"]
    assert loaded["secure_cookies"] is True
    assert not (tmp_path / "dev-secret-key").exists()
    assert loaded["ssl_redirect"] is True and loaded["hsts_seconds"] == 31_536_000
    assert loaded["proxy_ssl_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert loaded["static_storage"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert loaded["sms_allow_console"] is False


@own_interpreter
def test_production_reads_its_proxy_header_and_sms_switch_from_the_environment(tmp_path):
    loaded = loaded_settings(tmp_path, **PRODUCTION, SECURE_PROXY_SSL_HEADER="X-Forwarded-Scheme",
                             SMS_ALLOW_CONSOLE="1", SECURE_HSTS_SECONDS="3600")
    assert loaded["proxy_ssl_header"] == ["HTTP_X_FORWARDED_SCHEME", "https"]
    assert loaded["sms_allow_console"] is True
    assert loaded["hsts_seconds"] == 3600
    loaded = loaded_settings(tmp_path, **PRODUCTION, SECURE_PROXY_SSL_HEADER="", SECURE_SSL_REDIRECT="0")
    assert loaded["proxy_ssl_header"] is None and loaded["ssl_redirect"] is False


@own_interpreter
def test_the_embedded_default_is_sqlite_in_wal_mode_with_in_memory_channels(tmp_path):
    code = PRINT_SETTINGS + """
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    print(cursor.fetchone()[0])
"""
    result = run_portal_python(tmp_path, code)
    assert result.returncode == 0, result.stderr
    *_, settings_line, journal_mode = result.stdout.strip().splitlines()
    loaded = json.loads(settings_line)
    assert journal_mode == "wal"
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["name"] == str(tmp_path / "portal.sqlite3")
    assert loaded["debug"] is True
    assert loaded["ssl_redirect"] is False and loaded["hsts_seconds"] == 0 and loaded["proxy_ssl_header"] is None
    assert loaded["static_storage"] == "django.contrib.staticfiles.storage.StaticFilesStorage"
    assert loaded["sms_allow_console"] is True
    assert loaded["channel_layer"] == "channels.layers.InMemoryChannelLayer"
    assert loaded["celery_broker"] == "filesystem://"


@own_interpreter
def test_development_keeps_its_generated_secret_key_in_the_var_folder(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    first = run_portal_python(tmp_path, code)
    second = run_portal_python(tmp_path, code)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip().splitlines()[-1]
    assert len(key) >= 50
    assert key == second.stdout.strip().splitlines()[-1] == (tmp_path / "dev-secret-key").read_text()


@own_interpreter
def test_database_url_switches_to_postgresql(tmp_path):
    loaded = loaded_settings(tmp_path, DATABASE_URL="postgres://portal:pw@db.internal:5432/portal")
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert (loaded["name"], loaded["host"]) == ("portal", "db.internal")


@own_interpreter
def test_redis_url_switches_channels_and_celery_to_redis(tmp_path):
    loaded = loaded_settings(tmp_path, REDIS_URL="redis://cache.internal:6379/2")
    assert loaded["channel_layer"] == "channels_redis.core.RedisChannelLayer"
    assert loaded["channel_hosts"] == [{"address": "redis://cache.internal:6379/2", "socket_timeout": None}]
    assert loaded["celery_broker"] == "redis://cache.internal:6379/2"


# --- the helpers in enos_portal.env --------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("true", True), (" Yes ", True), ("on", True),
                                               ("0", False), ("false", False), ("no", False), ("", False)])
def test_booleans_are_read_in_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("PORTAL_FLAG", raw)
    assert env_bool("PORTAL_FLAG", not expected) is expected


def test_an_unset_boolean_takes_its_default(monkeypatch):
    monkeypatch.delenv("PORTAL_FLAG", raising=False)
    assert env_bool("PORTAL_FLAG", True) is True


def test_a_misspelt_boolean_is_refused_rather_than_guessed(monkeypatch):
    monkeypatch.setenv("DEBUG", "flase")
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be a boolean"):
        env_bool("DEBUG", False)


def test_integers_and_lists_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORTAL_N", "42")
    monkeypatch.setenv("PORTAL_LIST", " a.example.com , ,b.example.com")
    assert env_int("PORTAL_N", 1) == 42
    assert env_list("PORTAL_LIST", []) == ["a.example.com", "b.example.com"]
    monkeypatch.setenv("PORTAL_N", "many")
    with pytest.raises(ImproperlyConfigured, match="PORTAL_N must be an integer"):
        env_int("PORTAL_N", 1)


def test_numbers_are_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("PORTAL_SECONDS", raising=False)
    assert env_float("PORTAL_SECONDS", 1.5) == 1.5
    monkeypatch.setenv("PORTAL_SECONDS", "")
    assert env_float("PORTAL_SECONDS", 1.5) == 1.5
    monkeypatch.setenv("PORTAL_SECONDS", "0.25")
    assert env_float("PORTAL_SECONDS", 1.5) == 0.25
    monkeypatch.setenv("PORTAL_SECONDS", "soon")
    with pytest.raises(ImproperlyConfigured, match="PORTAL_SECONDS must be a number, got 'soon'"):
        env_float("PORTAL_SECONDS", 1.5)


def test_production_secret_key_rules(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="must be set"):
        secret_key(False, tmp_path)
    monkeypatch.setenv("SECRET_KEY", "x" * 31)
    with pytest.raises(ImproperlyConfigured, match="at least 32"):
        secret_key(False, tmp_path)
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    assert secret_key(False, tmp_path) == GOOD_KEY
    assert list(tmp_path.iterdir()) == []  # production never writes a key file


def test_development_accepts_any_given_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "dev")
    assert secret_key(True, tmp_path) == "dev"


def test_production_allowed_hosts_rules(monkeypatch):
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    with pytest.raises(ImproperlyConfigured):
        allowed_hosts(False)
    monkeypatch.setenv("ALLOWED_HOSTS", "*")
    with pytest.raises(ImproperlyConfigured):
        allowed_hosts(False)
    monkeypatch.setenv("ALLOWED_HOSTS", "portal.example.com")
    assert allowed_hosts(False) == ["portal.example.com"]


def test_development_allows_the_local_hosts_by_default(monkeypatch):
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    assert set(allowed_hosts(True)) >= {"127.0.0.1", "localhost", "testserver"}
