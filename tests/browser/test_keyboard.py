"""The console with the keyboard alone (Tab, Shift+Tab, Enter, Space, Esc, arrows; no clicks): the device table
(sort, open a device, the row's "…" menu), the Enable/Disable switch, the Migrate and delete dialogs (focus
inside, Tab kept inside, Esc gives the focus back to the opener), the details page's tabs, and a visible focus
ring on every control reached."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from assets.models import Device
from tests.assets.migration import fixtures
from tests.browser import test_console_screens as screens
from tests.browser.conftest import log_in_as

sms_outbox = fixtures.sms_outbox
fleet = screens.fleet  # a page of devices, a gateway with sub-devices, a trace with its logs
pytestmark = pytest.mark.browser

# what a sighted keyboard user sees on the focused control: its outline or shadow (the switch's hidden checkbox
# rings its slider)
FOCUS_RING = """() => {
  let element = document.activeElement;
  if (element.matches(".switch input")) element = element.nextElementSibling;
  const style = getComputedStyle(element);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  return outline || style.boxShadow !== "none";
}"""


def focused_matches(page: Page, selector: str) -> bool:
    return page.evaluate("s => Boolean(document.activeElement && document.activeElement.matches(s))", selector)


def tab_to(page: Page, selector: str, *, backwards: bool = False, most: int = 80) -> None:
    """Presses Tab (Shift+Tab) until the focus is on `selector`; fails if it never gets there."""
    for _ in range(most):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if focused_matches(page, selector):
            assert page.evaluate(FOCUS_RING), f"no visible focus indicator on {selector}"
            return
    raise AssertionError(f"{most} presses of Tab never reached {selector}")


def row_of(device: Device) -> str:
    return f"#device-{device.asset_id}"


@pytest.fixture
def console(page: Page, live_server, writer) -> str:
    log_in_as(page, live_server.url, writer)
    return live_server.url


def test_the_table_sorts_and_opens_a_device(page: Page, console, fleet):
    page.goto(f"{console}/devices/")
    expect(page.locator("#status-summary .stat b").first).not_to_have_text("…")
    tab_to(page, "#sort-name")
    page.keyboard.press("Enter")
    expect(page.locator("th[aria-sort=ascending] #sort-name")).to_be_visible()
    expect(page.locator("#sort-name")).to_be_focused()  # the swapped table keeps the focus where it was
    page.keyboard.press("Enter")
    expect(page.locator("th[aria-sort=descending] #sort-name")).to_be_visible()
    first = fleet["devices"][-1]  # name descending: number 024 first
    expect(page.locator("table.devices tbody tr").first).to_have_id(f"device-{first.asset_id}")

    tab_to(page, f"{row_of(first)} td:nth-child(2) a")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(f"/devices/{first.asset_id}/$"))
    expect(page.locator("h1")).to_contain_text(first.name)


def test_the_row_menu_opens_moves_and_closes_with_the_keyboard(page: Page, console, fleet):
    device = fleet["devices"][0]
    page.goto(f"{console}/devices/?q=number%20000")
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    menu = page.locator(f"{row_of(device)} details.row-more")
    summary, items = menu.locator("summary"), menu.locator(".menu a")

    tab_to(page, f"{row_of(device)} details.row-more summary")
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("ArrowDown")
    expect(items.nth(0)).to_be_focused()
    assert page.evaluate(FOCUS_RING)
    page.keyboard.press("ArrowDown")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(items.nth(2)).to_be_focused()  # round to the last (Delete)
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()

    page.keyboard.press("Space")
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("Tab")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()
    page.keyboard.press("Escape")  # on a closed menu: nothing else happens
    expect(summary).to_be_focused()


def test_space_toggles_a_device_and_the_counts_follow(page: Page, console, fleet):
    device = fleet["devices"][3]
    page.goto(f"{console}/devices/")
    disabled = page.locator("#status-summary .stat.disabled b")
    expect(disabled).to_have_text("0")
    tab_to(page, "#id_q")
    page.keyboard.type("number 003")
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    switch = page.locator(f"#enable-{device.asset_id}")
    tab_to(page, f"#enable-{device.asset_id}")

    page.keyboard.press("Space")
    expect(page.locator(f"#status-{device.asset_id}")).to_have_text("Disabled")
    expect(switch).not_to_be_checked()
    expect(disabled).to_have_text("1")
    expect(switch).to_be_focused()  # the new row keeps the focus on its switch
    assert not Device.objects.get(pk=device.pk).enabled

    settled(page)
    page.keyboard.press("Space")
    expect(page.locator(f"#status-{device.asset_id}")).to_have_text("Inactive")
    expect(switch).to_be_checked()
    expect(disabled).to_have_text("0")
    assert Device.objects.get(pk=device.pk).enabled


def settled(page: Page) -> None:
    """htmx is done with the last toggle: the new switch is swapped in, settled and listened to (a key pressed
    on a switch htmx has not taken up yet flips the box without asking the server)."""
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")).to_have_count(0)


def test_space_toggles_the_details_pages_switch(page: Page, console, fleet):
    device = fleet["devices"][4]
    page.goto(f"{console}/devices/{device.asset_id}/")
    tab_to(page, "#device-enabled")
    page.keyboard.press("Space")
    expect(page.locator("h1 .status")).to_have_text("Disabled")
    expect(page.locator("#device-enabled")).to_be_focused()
    expect(page.locator("#device-enabled")).not_to_be_checked()
    settled(page)
    page.keyboard.press("Space")
    expect(page.locator("h1 .status")).to_have_text("Inactive")


def assert_tab_stays_inside(page: Page, dialog_selector: str, presses: int = 12) -> None:
    for key in ("Tab", "Shift+Tab"):
        for _ in range(presses):
            page.keyboard.press(key)
            assert focused_matches(page, f"{dialog_selector} *"), f"{key} left the dialog"
            assert page.evaluate(FOCUS_RING), "no visible focus indicator in the dialog"


def test_the_migrate_dialog_keeps_the_focus_and_gives_it_back(page: Page, console, fleet):
    device = fleet["devices"][1]
    page.goto(f"{console}/devices/?q=number%20001")
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    summary = f"{row_of(device)} details.row-more summary"
    tab_to(page, summary)
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")
    expect(page.locator(f"{row_of(device)} .menu a").first).to_have_text("Migrate")
    page.keyboard.press("Enter")
    dialog = page.locator("#migrate")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#target-ou-id")).to_be_focused()
    assert page.evaluate("document.querySelector('dialog.migrate-backdrop').matches(':modal')")
    assert_tab_stays_inside(page, "#migrate")
    page.keyboard.press("Escape")
    expect(page.locator("#migrate")).to_have_count(0)
    expect(page.locator(summary)).to_be_focused()
    expect(page.locator(f"{row_of(device)} details.row-more")).not_to_have_attribute("open", "")

    # from the details page's Migrate button
    page.goto(f"{console}/devices/{device.asset_id}/")
    opener = ".actions a[hx-get*='migrate']"
    tab_to(page, opener)
    page.keyboard.press("Enter")
    expect(dialog.locator("#target-ou-id")).to_be_focused()
    assert_tab_stays_inside(page, "#migrate", presses=4)
    page.keyboard.press("Escape")
    expect(page.locator("#migrate")).to_have_count(0)
    expect(page.locator(opener)).to_be_focused()


def test_the_delete_confirmation_is_a_dialog_the_keyboard_can_use(page: Page, console, fleet):
    device = fleet["devices"][2]
    page.goto(f"{console}/devices/?q=number%20002")
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    summary = f"{row_of(device)} details.row-more summary"

    def open_confirmation() -> None:
        tab_to(page, summary)
        page.keyboard.press("Enter")
        page.keyboard.press("ArrowUp")  # the last action: Delete
        expect(page.locator(f"{row_of(device)} .menu a").last).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#confirm-delete")).to_contain_text(device.name)
        expect(cancel).to_be_focused()  # not the destructive button

    cancel = page.locator("#confirm-delete button:has-text('Cancel')")
    open_confirmation()
    assert_tab_stays_inside(page, "#confirm-delete", presses=5)
    page.keyboard.press("Escape")
    expect(page.locator("#confirm-delete")).to_have_count(0)
    expect(page.locator(summary)).to_be_focused()

    open_confirmation()
    page.keyboard.press("Enter")  # Cancel
    expect(page.locator("#confirm-delete")).to_have_count(0)
    expect(page.locator(summary)).to_be_focused()
    assert Device.objects.filter(pk=device.pk).exists()

    open_confirmation()
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#confirm-delete button:has-text('Delete')")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text(f"Device {device.name} deleted.")
    assert not Device.objects.filter(pk=device.pk).exists()


def test_the_details_tabs_are_links_the_keyboard_follows(page: Page, console, fleet):
    gateway = fleet["gateway"]
    page.goto(f"{console}/devices/{gateway.asset_id}/")
    tabs = page.locator("nav.tabs a")
    expect(tabs.filter(has_text="Basic Info")).to_have_attribute("aria-current", "page")
    for name, path in (("Sub-device", "sub-devices/"), ("Tracing", "tracing/"), ("Services", "services/")):
        tab_to(page, f"nav.tabs a[href$='/{path}']")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(f"/devices/{gateway.asset_id}/{path}$"))
        expect(tabs.filter(has_text=name)).to_have_attribute("aria-current", "page")
        expect(page.locator("nav.tabs a[aria-current]")).to_have_count(1)
    tab_to(page, "nav.tabs a[href$='/tracing/']", backwards=True)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(f"/devices/{gateway.asset_id}/tracing/$"))
    expect(tabs.filter(has_text="Tracing")).to_have_attribute("aria-current", "page")


def test_the_new_sub_device_picker_with_the_keyboard(page: Page, console, fleet):
    gateway, candidate = fleet["gateway"], fleet["devices"][7]
    page.goto(f"{console}/devices/{gateway.asset_id}/sub-devices/")
    opener = "button[hx-get$='/candidates/']"
    tab_to(page, opener)
    page.keyboard.press("Enter")
    search = page.locator("#candidate-search")
    expect(search).to_be_focused()
    page.keyboard.press("Escape")  # not a modal: Esc leaves it open
    page.keyboard.type("number 007")
    expect(page.locator("#candidates .picklist li")).to_have_count(1)
    expect(search).to_be_focused()  # the list reloaded around the search, which kept the focus
    expect(search).to_have_value("number 007")

    page.keyboard.press("Tab")
    expect(page.locator(f"#candidates input[value='{candidate.asset_id}']")).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator(f"#candidates input[value='{candidate.asset_id}']")).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#candidates button:has-text('Cancel')")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#candidates")).to_be_empty()
    expect(page.locator(opener)).to_be_focused()

    page.keyboard.press("Enter")
    expect(search).to_be_focused()
    page.keyboard.type("number 007")
    expect(page.locator("#candidates .picklist li")).to_have_count(1)
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(page.locator("#candidates button:has-text('OK')")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#sub-devices")).to_contain_text(candidate.name)
    candidate.refresh_from_db()
    assert candidate.gateway == gateway
