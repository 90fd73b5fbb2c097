"""The console, the admin and the API docs in real Chromium under the portal's Content-Security-Policy
(served by daphne, as deployed): no page triggers a single violation report, and the behaviours that
used to be inline handlers (select all, cancel a dialog, filter on change) and the live trace socket
still work."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.conftest import make_user
from tests.processes import daphne_server
from tracing import services as tracing

from .conftest import log_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# every violation, as the page's own securitypolicyviolation events see it
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} `
                         + `at ${event.sourceFile}:${event.lineNumber} on ${document.location.pathname}`);
});
"""


@pytest.fixture
def violations(page: Page) -> Iterator[list[str]]:
    found: list[str] = []

    def report(violation: str) -> None:
        found.append(violation)

    page.expose_function("reportViolation", report)
    page.add_init_script(REPORT_VIOLATIONS)

    def on_console(message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Permissions-Policy" in text:
            found.append(f"console {message.type}: {text} on {page.url}")

    page.on("console", on_console)
    yield found


def test_no_page_violates_the_policy(page: Page, violations, writer, device, gateway, product):
    tracing.start_trace(writer, device, timedelta(hours=1))
    staff = make_user("support")
    staff.is_staff = staff.is_superuser = True
    staff.save()

    with daphne_server() as base:
        log_in_as(page, base, writer)

        # the device list: select all (was onclick), a filter on change (was onchange, htmx swaps the table)
        page.goto(f"{base}/devices/")
        expect(page.locator("table.devices tbody tr")).to_have_count(2)
        page.check("input[aria-label='Select all devices on this page']")
        expect(page.locator("input[form=migrate-selection]:checked")).to_have_count(2)
        page.select_option("select[name=type]", "Gateway")
        expect(page.locator("table.devices tbody tr")).to_have_count(1)
        assert "type=Gateway" in page.url

        # device details and the migration dialog's Cancel (was onclick)
        page.goto(f"{base}/devices/{device.asset_id}/")
        page.click(".actions a:has-text('Migrate')")
        expect(page.locator("#migrate")).to_contain_text(device.name)
        page.locator("#migrate button:has-text('Cancel')").click()
        expect(page.locator("#migrate")).to_have_count(0)

        # a gateway's sub-devices: the candidates dialog's Cancel (was onclick)
        page.goto(f"{base}/devices/{gateway.asset_id}/sub-devices/")
        page.click("button:has-text('New Sub-device')")
        expect(page.locator("#candidates .picklist")).to_contain_text(device.name)
        page.click("#candidates button:has-text('Cancel')")
        expect(page.locator("#candidates")).to_be_empty()

        # the tracing tab: its script from a static file opens the live socket (connect-src 'self')
        page.goto(f"{base}/devices/{device.asset_id}/tracing/")
        expect(page.locator("#trace-panel")).to_have_attribute("data-live", "open")

        for path in (f"/devices/{device.asset_id}/services/", f"/devices/{device.asset_id}/connectivity/",
                     "/devices/batch/", "/products/", "/models/", "/accounts/profile/"):
            page.goto(base + path)
            expect(page.locator("main h1, main h2").first).to_be_visible()

        # Swagger UI renders the API's operations from its split-out start script
        page.goto(f"{base}/api/docs/")
        expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)

        # the admin
        page.context.clear_cookies()
        log_in_as(page, base, staff)
        for path in ("/admin/", "/admin/assets/device/", f"/admin/assets/device/{device.pk}/change/"):
            page.goto(base + path)
            expect(page.locator("#content")).to_be_visible()

    assert violations == [], "\n".join(violations)
