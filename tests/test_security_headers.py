"""Every page of the console, the admin and the API docs carries the Content-Security-Policy and
Permissions-Policy headers, and no page relies on what that policy forbids: inline scripts, inline
event handlers, inline styles, javascript: links."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from tests.conftest import client_for, make_user
from tracing import services as tracing

EXPECTED_CSP = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self' data:",
    "font-src": "'self'", "connect-src": "'self'", "object-src": "'none'", "base-uri": "'none'",
    "form-action": "'self'", "frame-ancestors": "'none'",
}


def policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


class InlineCode(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=…> (inline event handler)")
            if name == "style":
                self.found.append(f"<{tag} style={value!r}> (inline style)")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                    "javascript:"):
                self.found.append(f"<{tag} {name}={value!r}> (javascript: URL)")
        if tag == "style":
            self.found.append("<style> element")
        if tag == "script":
            if attributes.get("src"):
                self.scripts.append(attributes["src"])
            elif attributes.get("type") != "application/json":  # json_script data, never executed
                self._in_inline_script = True
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes.get("href") or "")

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.found.append(f"inline <script>: {data.strip()[:80]!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False


def scan(html: str) -> InlineCode:
    parser = InlineCode()
    parser.feed(html)
    return parser


@pytest.fixture
def staff(acme):
    user = make_user("support")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def console_pages(writer, device, gateway, product, thing_model) -> list[str]:
    trace = tracing.start_trace(writer, device, timedelta(hours=1))
    asset = device.asset_id
    return [
        reverse("assets:device-list"),
        reverse("assets:device-create"),
        reverse("assets:device-detail", args=[asset]),
        reverse("assets:device-edit", args=[asset]),
        reverse("assets:device-delete", args=[asset]),
        reverse("assets:device-sub-devices", args=[gateway.asset_id]),
        reverse("assets:device-sub-device-candidates", args=[gateway.asset_id]),
        reverse("tracing:device-tracing", args=[asset]),
        reverse("tracing:trace-logs", args=[asset, trace.pk]),
        reverse("connectivity:device-services", args=[asset]),
        reverse("assets:product-list"),
        reverse("assets:product-detail", args=[product.product_key]),
        reverse("assets:product-edit", args=[product.product_key]),
        reverse("assets:model-list"),
        reverse("assets:model-detail", args=[thing_model.pk]),
        reverse("assets:batch"),
        reverse("assets:migrate") + f"?asset_ids={asset}",
        reverse("observability:alerts"),
        reverse("observability:alert-rules"),
        reverse("observability:alert-rule-create"),
        reverse("observability:alert-deliveries"),
    ]


def test_console_pages_carry_the_policies_and_no_inline_code(writer, console_pages):
    client = client_for(writer)
    for url in console_pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert policy(response) == EXPECTED_CSP, url
        assert "geolocation=()" in response.headers["Permissions-Policy"], url
        assert "camera=()" in response.headers["Permissions-Policy"], url
        page = scan(response.content.decode())
        assert page.found == [], url


def test_htmx_partials_carry_no_inline_code(writer, device):
    client = client_for(writer)
    for url in (reverse("assets:device-list") + "?q=inv", reverse("assets:migrate") + f"?asset_ids={device.asset_id}"):
        response = client.get(url, headers={"HX-Request": "true"})
        assert response.status_code == 200, url
        assert scan(response.content.decode()).found == [], url


def test_the_console_takes_its_scripts_and_styles_from_static_files(writer, device):
    response = client_for(writer).get(reverse("tracing:device-tracing", args=[device.asset_id]))
    page = scan(response.content.decode())
    assert any(src.endswith("tracing/live.js") for src in page.scripts)
    assert any(src.endswith("portal/portal.js") for src in page.scripts)
    assert any(href.endswith("tracing/tracing.css") for href in page.stylesheets)
    # htmx must not inject its indicator <style>, nor evaluate code from attributes
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>' in (
        response.content.decode())


def test_the_login_page_carries_the_policies(client):
    response = client.get(reverse("login"))
    assert policy(response) == EXPECTED_CSP
    assert scan(response.content.decode()).found == []
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_the_admin_carries_the_policy_and_no_inline_code(staff, device):
    client = client_for(staff)
    for url in (reverse("admin:index"), reverse("admin:assets_device_changelist"),
                reverse("admin:assets_device_change", args=[device.pk])):
        response = client.get(url)
        assert response.status_code == 200, url
        assert policy(response) == EXPECTED_CSP, url
        assert scan(response.content.decode()).found == [], url


def test_the_api_docs_load_their_start_script_as_a_file(client):
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    assert policy(response) == EXPECTED_CSP
    page = scan(response.content.decode())
    assert page.found == []
    start_script = next(src for src in page.scripts if "script" in src.split("?", 1)[-1])
    script = client.get(start_script)
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
    assert any(href.endswith("portal/swagger-ui-page.css") for href in page.stylesheets)
