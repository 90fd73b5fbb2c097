"""Alerts in real Chromium: a device that was offline logs in (through the real session path) and trips a
back-online rule; the device table shows its badge; a writer opens Alerts from the header, acknowledges the
alert (the page names who), then resolves it; the badge is gone."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from connectivity.handlers.session import close_session, open_session
from observability import alerting, services
from observability.models import Alert
from tests.browser.conftest import log_in_as
from tests.browser.test_accessibility import assert_accessible

pytestmark = pytest.mark.browser


def test_an_alert_is_raised_acknowledged_and_resolved(page: Page, live_server, writer, acme, device, gateway):
    services.create_rule(writer, acme, name="Back online", kind="back_online", emails=["ops@example.com"])
    close_session(open_session(device, "websocket"), "connection closed")
    open_session(device, "websocket")  # back: the alert opens
    alerting.sweep()
    alert = Alert.objects.get(device=device)

    base = live_server.url
    log_in_as(page, base, writer)
    page.goto(base + reverse("assets:device-list"))
    expect(page.locator(f"#device-{device.asset_id} .alert-badge")).to_be_visible()
    expect(page.locator(f"#device-{gateway.asset_id} .alert-badge")).to_have_count(0)

    page.locator("#alerts-link").click()
    page.wait_for_url(f"{base}{reverse('observability:alerts')}")
    row = page.locator(f"#alert-{alert.pk}")
    expect(row).to_contain_text("Back online")
    expect(row).to_contain_text("Open")
    found: dict[str, str] = {}
    assert_accessible(page, "alerts", found)
    assert not found, found

    row.locator(f"#acknowledge-{alert.pk}").click()
    expect(page.locator(f"#alert-{alert.pk}")).to_contain_text("Acknowledged")
    expect(page.locator(f"#alert-{alert.pk}")).to_contain_text("writer")
    page.locator(f"#resolve-{alert.pk}").click()
    expect(page.locator(f"#alert-{alert.pk}")).to_have_count(0)  # the default view shows live alerts
    page.select_option("#filter-state", "resolved")
    page.locator("#apply-filters").click()
    expect(page.locator(f"#alert-{alert.pk}")).to_contain_text("Resolved")

    page.goto(base + reverse("assets:device-list"))
    expect(page.locator(f"#device-{device.asset_id}")).to_be_visible()
    expect(page.locator(f"#device-{device.asset_id} .alert-badge")).to_have_count(0)
