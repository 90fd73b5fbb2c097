"""axe-core in real Chromium on every console page a user reaches, at 1400 px and 360 px, and with the
dialogs and the row menu open: no violation of impact serious or critical.

axe-core comes bundled in the `axe-playwright-python` package (the `test` extra): version 0.1.8 ships
axe-core 4.12.1. It runs every rule axe has (WCAG 2.x A/AA and best practices); the test fails on the
serious and critical ones and names each rule and the elements it found."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import Page, expect

from assets.batch import services as batch
from tests.assets.batch.conftest import as_upload, row_for, template_with
from tests.assets.migration import fixtures
from tests.browser import test_console_screens as screens
from tests.browser.conftest import log_in, log_in_as
from tests.browser.test_console_screens import WIDTHS, console_pages, set_width

sms_outbox = fixtures.sms_outbox
fleet = screens.fleet  # a page of devices, a gateway with sub-devices, a trace with its logs
pytestmark = pytest.mark.browser

AXE = Axe()
BLOCKING = {"serious", "critical"}


def blocking_violations(page: Page) -> list[dict[str, Any]]:
    return [violation for violation in AXE.run(page).response["violations"] if violation["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"  {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:5]:
            summary = node.get("failureSummary", "").splitlines()[-1:]
            lines.append(f"    {' '.join(map(str, node['target']))}: {' '.join(summary).strip()}")
    return "\n".join(lines)


def assert_accessible(page: Page, where: str, found: dict[str, str] | None = None) -> None:
    """Checks the page as it is now; with `found`, collects the problems instead of failing at once."""
    violations = blocking_violations(page)
    if violations and found is not None:
        found[where] = describe(violations)
    else:
        assert not violations, f"{where} at {page.viewport_size}:\n{describe(violations)}"


def report(found: dict[str, str], width: int) -> str:
    return f"axe at {width} px:\n" + "\n".join(f"{where}\n{problems}" for where, problems in found.items())


@pytest.fixture
def batch_job(settings, tmp_path, writer, product):
    settings.BATCH_UPLOAD_DIR = tmp_path / "batch-uploads"
    return batch.start_batch(writer, product.ou, product, "import", as_upload(template_with(product, [
        row_for(product, {"deviceKey": "batch-ok-1", "Device Name": "From a file", "serial": "S1"}),
        row_for(product, {"deviceKey": "batch-bad-2", "Device Name": "Bad zone", "Time Zone": "+25:00",
                          "serial": "S2"}),
    ])))


@pytest.mark.parametrize("width", WIDTHS)
def test_every_console_page_passes_axe(page: Page, live_server, fleet, product, writer, viewer, batch_job,
                                       width):
    set_width(page, width)
    log_in(page, live_server.url, "writer")
    pages = [
        *console_pages(fleet, product),
        reverse("assets:device-list") + "?q=nothing-matches-this",  # the empty state
        reverse("assets:device-list") + "?status=online&type=Gateway&sort=-created",
        reverse("assets:product-edit", args=[product.product_key]),
        reverse("assets:model-create"),
        reverse("assets:batch-job", args=[batch_job.pk]),
        "/devices/no-such-device/",  # 404
    ]
    found: dict[str, str] = {}
    for path in pages:
        page.goto(live_server.url + path)
        expect(page.locator("main h1, main [role=dialog]").first).to_be_visible(timeout=30_000)
        expect(page.locator("[aria-busy=true]")).to_have_count(0)  # the counts loaded
        assert_accessible(page, path, found)

    # a read-only user: the refusals (403) and the disabled switches
    page.context.clear_cookies()
    log_in_as(page, live_server.url, viewer)
    for path in (reverse("assets:device-list"), reverse("assets:device-create"),
                 reverse("assets:device-edit", args=[fleet["devices"][0].asset_id])):
        page.goto(live_server.url + path)
        expect(page.locator("main h1").first).to_be_visible()
        assert_accessible(page, f"{path} (viewer)", found)
    assert not found, report(found, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_open_menus_and_dialogs_pass_axe(page: Page, live_server, fleet, globex, writer, width):
    set_width(page, width)
    log_in(page, live_server.url, "writer")
    found: dict[str, str] = {}
    row = page.locator(f"#device-{fleet['devices'][-1].asset_id}")
    row.locator("details.row-more summary").click()
    expect(row.locator(".menu a").first).to_be_visible()
    assert_accessible(page, "the row's open menu", found)

    row.locator(".menu a:has-text('Migrate')").click()
    dialog = page.locator("#migrate")
    expect(dialog.locator("#target-ou-id")).to_be_focused()
    assert_accessible(page, "the migrate dialog", found)
    dialog.locator("#target-ou-id").fill(globex.ou_id)
    dialog.locator("button:has-text('Get Code')").click()
    expect(dialog.locator("#migrate-code")).to_be_visible()
    assert_accessible(page, "the migrate dialog's code step", found)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    page.locator(f"#device-{fleet['devices'][-2].asset_id} details.row-more summary").click()
    page.locator(f"#device-{fleet['devices'][-2].asset_id} .menu a:has-text('Delete')").click()
    expect(page.locator("button:has-text('Delete')")).to_be_visible()
    assert_accessible(page, "the delete confirmation", found)

    gateway = fleet["gateway"]
    page.goto(f"{live_server.url}/devices/{gateway.asset_id}/sub-devices/")
    page.click("button:has-text('New Sub-device')")
    expect(page.locator("#candidates .picklist")).to_be_visible()
    assert_accessible(page, "the New Sub-device dialog", found)

    page.goto(f"{live_server.url}/devices/{fleet['devices'][0].asset_id}/tracing/")
    page.click("#start-trace summary")
    expect(page.locator("#start-trace form")).to_be_visible()
    assert_accessible(page, "the Start Message Trace dialog", found)
    assert not found, report(found, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_login_and_locked_out_pages_pass_axe(page: Page, live_server, settings, writer, width):
    settings.AXES_FAILURE_LIMIT = 2
    set_width(page, width)
    found: dict[str, str] = {}
    page.goto(f"{live_server.url}/login/")
    expect(page.locator("input[name=username]")).to_be_visible()
    assert_accessible(page, "the login page", found)
    page.fill("input[name=username]", "writer")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator(".message.error, .errorlist, [role=alert]").first).to_be_visible()
    assert_accessible(page, "a refused login", found)
    page.fill("input[name=username]", "writer")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Too many login attempts")
    assert_accessible(page, "the locked-out page", found)
    assert not found, report(found, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_api_docs_pass_axe(page: Page, live_server, writer, width):
    """Swagger UI, linked from the console's header: as it opens and with an operation expanded. (Its "Try it
    out" forms are Swagger UI's own markup, with unnamed selects: not checked.)"""
    set_width(page, width)
    log_in(page, live_server.url, "writer")
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    found: dict[str, str] = {}
    assert_accessible(page, "the API docs", found)
    page.locator(".opblock-summary-control").nth(2).press("Enter")
    expect(page.locator(".opblock-body").first).to_be_visible()
    assert_accessible(page, "the API docs with an operation open", found)
    assert not found, report(found, width)
