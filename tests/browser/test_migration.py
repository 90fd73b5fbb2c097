"""The Migrate dialog in real Chromium: select devices in the table, Move with the gateway's
sub-devices, a refused target, Get Code, a wrong code, the right one from the SMS outbox, the final
confirmation; then the target OU sees the devices and the source does not."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from assets.models import Device
from tests.assets.migration import fixtures
from tests.assets.migration.helpers import code_in_outbox, wrong
from tests.browser.conftest import log_in

# the migration tests' fixtures, here beside the Chromium ones
eager_tasks = fixtures.eager_tasks
initech = fixtures.initech
sms_outbox = fixtures.sms_outbox
sub_devices = fixtures.sub_devices
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("eager_tasks")]


def test_migrating_a_selection_through_the_dialog(page: Page, live_server, writer, outsider, device, gateway,
                                                  sub_devices, globex, initech, sms_outbox):
    base = live_server.url
    log_in(page, base, "writer")

    # select the inverter and the gateway in the table, then Migrate selected
    for asset_id in (device.asset_id, gateway.asset_id):
        page.locator(f"#device-{asset_id} input[form=migrate-selection]").check()
    page.click("button:has-text('Migrate selected')")
    dialog = page.locator("#migrate")
    expect(dialog).to_contain_text("2 devices")
    expect(dialog.locator("input[value=move]")).to_be_checked()
    expect(dialog.locator("#include-sub-devices")).to_be_checked()
    expect(dialog).to_contain_text("3 sub-devices")

    # a target whose owner has no phone is refused in the dialog
    dialog.locator("#target-ou-id").fill(initech.ou_id)
    dialog.locator("button:has-text('Get Code')").click()
    expect(page.locator("#migrate [role=alert]")).to_contain_text("has no phone number")

    page.locator("#migrate #target-ou-id").fill(globex.ou_id)
    page.locator("#migrate button:has-text('Get Code')").click()
    expect(page.locator("#migrate")).to_have_attribute("data-step", "code")
    expect(page.locator("#code-delivery")).to_contain_text("was sent by SMS", timeout=10_000)
    assert sms_outbox[-1]["to"] == globex.owner.phone
    code = code_in_outbox()

    page.locator("#migrate-code").fill(wrong(code))
    page.locator("#migrate button:has-text('OK')").click()
    expect(page.locator("#migrate [role=alert]")).to_contain_text("Wrong code; 4 attempts left.")

    page.locator("#migrate-code").fill(code)
    page.locator("#migrate button:has-text('OK')").click()
    expect(page.locator("#migrate")).to_have_attribute("data-step", "confirm")
    expect(page.locator("#migrate")).to_contain_text("Move 2 devices with 3 sub-devices from OU Acme to OU Globex?")
    assert Device.objects.get(pk=device.pk).ou_id != globex.pk  # nothing moves before the final OK
    page.screenshot(path="/tmp/browser-migrate-confirm.png")
    page.locator("#migrate button:has-text('OK')").click()

    page.wait_for_url(f"{base}/devices/")
    expect(page.locator("#messages")).to_contain_text("5 devices moved to OU Globex")
    expect(page.locator("table.devices")).not_to_contain_text(device.device_key)
    expect(page.locator("table.devices")).not_to_contain_text(gateway.device_key)
    assert set(Device.objects.filter(pk__in=[device.pk, gateway.pk, *(s.pk for s in sub_devices)])
               .values_list("ou_id", flat=True)) == {globex.pk}

    # the target OU's owner sees them in the device list
    page.context.clear_cookies()
    log_in(page, base, "outsider")
    expect(page.locator("table.devices")).to_contain_text(device.device_key)
    expect(page.locator("table.devices")).to_contain_text("sub-001")


def test_migrate_from_a_row_and_from_the_details_page(page: Page, live_server, writer, device, globex):
    base = live_server.url
    log_in(page, base, "writer")
    row = page.locator(f"#device-{device.asset_id}")
    row.locator("summary").click()
    row.locator("a:has-text('Migrate')").click()
    expect(page.locator("#migrate")).to_contain_text("1 device")
    page.locator("#migrate button:has-text('Cancel')").click()
    expect(page.locator("#migrate")).to_have_count(0)

    page.goto(f"{base}/devices/{device.asset_id}/")
    page.click(".actions a:has-text('Migrate')")
    expect(page.locator("#migrate")).to_contain_text(device.name)
    page.locator("#migrate #target-ou-id").fill(device.ou.ou_id)
    page.locator("#migrate button:has-text('Get Code')").click()
    expect(page.locator("#migrate [role=alert]")).to_contain_text("The devices already belong to OU Acme")
