"""DEBUG=0 as deployed: `check --deploy` is clean once the required environment is set and the
static files are collected, and a real daphne serves the console's CSS through WhiteNoise, behind a
TLS-terminating proxy (X-Forwarded-Proto), redirecting plain HTTP to HTTPS.

Each test runs the portal in a fresh interpreter with a controlled environment (this test process
has already configured Django); the static files are collected once into a temporary folder.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from enos_portal.servers import READY_LINE, server_command
from tests.processes import free_port, new_log, running
from tests.test_settings import REPO, run_portal_python

# every test here runs the portal in an interpreter and environment of its own: the same in either of CI's passes,
# so it runs in the PostgreSQL + Redis pass only
pytestmark = pytest.mark.once

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "127.0.0.1,portal.example.com",
    "SMS_BACKEND": "accounts.sms.HttpGatewayBackend",
    "SMS_HTTP_URL": "https://sms.example.com/v1/messages",
}


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> Path:
    """A var folder whose static/ holds `collectstatic`'s output under the production storage."""
    var_dir = tmp_path_factory.mktemp("production-var")
    result = run_portal_python(var_dir, "from django.core.management import execute_from_command_line as run; "
                                        "run(['manage.py', 'collectstatic', '--noinput', '-v', '0'])", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert (var_dir / "static" / "staticfiles.json").exists()
    return var_dir


def check_deploy(var_dir: Path, **env: str) -> tuple[int, str]:
    result = run_portal_python(var_dir, "from django.core.management import execute_from_command_line as run; "
                                        "run(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
                               **{**PRODUCTION, **env})
    return result.returncode, result.stdout + result.stderr


def test_check_deploy_prints_no_warning_with_the_production_environment(collected):
    code, output = check_deploy(collected)
    assert code == 0, output
    assert output.strip() == "System check identified no issues (0 silenced)."


def test_check_deploy_warns_when_the_static_files_are_not_collected(tmp_path):
    code, output = check_deploy(tmp_path)
    assert code != 0
    assert "enos_portal.W001" in output and "collectstatic" in output


def test_check_deploy_warns_that_the_console_sms_backend_refuses_in_production(collected):
    code, output = check_deploy(collected, SMS_BACKEND="accounts.sms.ConsoleBackend")
    assert code != 0
    assert "enos_portal.W002" in output
    code, output = check_deploy(collected, SMS_BACKEND="accounts.sms.ConsoleBackend", SMS_ALLOW_CONSOLE="1")
    assert code == 0, output


def test_check_deploy_warns_without_hsts(collected):
    code, output = check_deploy(collected, SECURE_HSTS_SECONDS="0")
    assert code != 0
    assert "security.W004" in output


# --- a real daphne with DEBUG=0 ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def production_server(collected) -> Iterator[str]:
    """daphne on 127.0.0.1 with DEBUG=0, its database migrated; yields host:port."""
    migrated = run_portal_python(collected, "from django.core.management import execute_from_command_line as run; "
                                            "run(['manage.py', 'migrate', '-v', '0'])", **PRODUCTION)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(collected), "PYTHONPATH": str(REPO),
           "DJANGO_SETTINGS_MODULE": "enos_portal.settings", "PORTAL_VAR_DIR": str(collected), **PRODUCTION}
    with running(server_command("daphne", "127.0.0.1", port), new_log("daphne-production"), READY_LINE["daphne"],
                 env):
        yield f"127.0.0.1:{port}"


def get(address: str, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection(address, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


PROXIED = {"X-Forwarded-Proto": "https"}


def test_plain_http_is_redirected_to_https(production_server):
    response, _ = get(production_server, "/login/")
    assert response.status == 301
    assert response.getheader("Location") == f"https://{production_server}/login/"


def test_the_emqx_hooks_are_not_redirected(production_server):
    response, _ = get(production_server, "/api/emqx/authenticate/", method="POST")
    assert response.status not in (301, 302)


def test_a_page_behind_the_proxy_carries_hsts_and_the_security_headers(production_server):
    response, body = get(production_server, "/login/", PROXIED)
    assert response.status == 200, body[:500]
    assert response.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains; preload"
    assert "script-src 'self'" in response.getheader("Content-Security-Policy")
    assert "geolocation=()" in response.getheader("Permissions-Policy")
    assert "Secure" in response.getheader("Set-Cookie")  # the CSRF cookie


def test_the_console_css_is_served_by_whitenoise_with_hashed_names(production_server):
    response, body = get(production_server, "/login/", PROXIED)
    stylesheets = re.findall(rb'<link rel="stylesheet" href="([^"]+)"', body)
    portal_css = next(href.decode() for href in stylesheets if b"portal/portal." in href)
    assert re.fullmatch(r"/static/portal/portal\.[0-9a-f]{12}\.css", portal_css)

    css, content = get(production_server, portal_css, PROXIED)
    assert css.status == 200
    assert css.getheader("Content-Type").startswith("text/css")
    assert "immutable" in css.getheader("Cache-Control")  # hashed names are cached for good
    assert b".topbar" in content

    compressed, content = get(production_server, portal_css, {**PROXIED, "Accept-Encoding": "gzip"})
    assert compressed.getheader("Content-Encoding") == "gzip"
    assert b".topbar" in gzip.decompress(content)


def test_a_missing_static_file_is_a_404(production_server):
    response, _ = get(production_server, "/static/portal/nothing-here.css", PROXIED)
    assert response.status == 404
