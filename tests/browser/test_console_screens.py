"""The console's screens in real Chromium, from a 360 px phone to a 1400 px screen: nothing runs off the page
(tables scroll inside their card), the header's Log out stays reachable, and the fixes of issue #14 that only
a browser shows (the Migrate dialog's Esc/backdrop/menu/radio, counts after a toggle, the New Device form
keeping what was typed, the details page's switch, Hide after Reveal)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now as django_now
from playwright.sync_api import Page, expect

from assets import groups
from assets.models import Device, ExportJob
from connectivity import rollup
from connectivity.models import ConnectionRecord
from tests.assets.migration import fixtures
from tests.browser.conftest import log_in
from tracing import services as tracing
from tracing.models import Direction, Outcome, TraceLog

sms_outbox = fixtures.sms_outbox
pytestmark = pytest.mark.browser

WIDTHS = [360, 1400]


@pytest.fixture
def fleet(cast, product, gateway, monkeypatch):
    devices = [Device.objects.create(ou=product.ou, product=product, device_key=f"inverter-with-a-long-key-{i:03d}",
                                     name=f"Rooftop solar inverter number {i:03d}", attributes={"serial": f"S{i}"},
                                     tags={"site": "north"}) for i in range(25)]
    for device in devices[:2]:
        device.gateway = gateway
        device.save(update_fields=["gateway"])
    trace = tracing.start_trace(cast["writer"], gateway, timedelta(hours=1))
    now = django_now()
    TraceLog.objects.bulk_create([
        TraceLog(trace=trace, seq=1, time=now, direction=Direction.UP, method="thing.measurepoint.post",
                 outcome=Outcome.OK, payload={"params": {"measurepoints": {"temp": 21.5}}}),
        TraceLog(trace=trace, seq=2, time=now, direction=Direction.DOWN, method="thing.service.reboot",
                 outcome=Outcome.ERROR, code=723, message="The device is disabled"),
    ])
    north = groups.create_group(cast["writer"], product.ou, name="North site", kind="dynamic", query="tag:site=north")
    groups.add_group_devices(cast["writer"], groups.create_group(cast["writer"], product.ou, name="Pilot"), devices[:3])
    export = ExportJob.objects.create(ou=product.ou, requested_by=cast["writer"], query="tag:site=north",
                                      format="csv", total=25, progress=10)  # a big export, part written
    # a day of sessions, counted by the OU view's roll-ups (its chart and flapping list have something to show)
    ConnectionRecord.objects.bulk_create([ConnectionRecord(
        device=device, ou=product.ou, session_id=f"s{i}", transport="websocket",
        started_at=now - timedelta(hours=i + 1), ended_at=now - timedelta(hours=i + 0.5))
        for i, device in enumerate(devices[:6])])
    rollup.roll_up_hours(now - timedelta(days=1), now)
    rollup.rank_flapping(now)
    from fleet import engine, tasks
    from fleet import services as fleet_services
    from tests.observability.alert_world import alerting

    monkeypatch.setattr(tasks.run_job, "delay", lambda job_id: None)  # no worker here: one step, run below
    job = fleet_services.start_job(cast["writer"], product.ou, action="add_tags", params={"tags": {"fw": "2"}},
                                   asset_ids=[d.asset_id for d in devices[:10]], stages=[10, 50])
    engine.run_step(job.pk, "screens")  # part done: the page shows progress and polls
    return {"devices": devices, "gateway": gateway, "trace": trace, "group": north, "export": export, "job": job,
            "alerting": alerting(cast["writer"], product.ou, devices[5])}


def console_pages(fleet, product) -> list[str]:
    device, gateway = fleet["devices"][5], fleet["gateway"]
    return [
        reverse("assets:device-list"),
        reverse("assets:device-list") + "?q=inverter&type=sub_device",  # with a filter problem shown
        reverse("assets:device-detail", args=[device.asset_id]),
        reverse("assets:device-detail", args=[gateway.asset_id]),
        reverse("assets:device-sub-devices", args=[gateway.asset_id]),
        reverse("connectivity:device-services", args=[device.asset_id]),
        reverse("tracing:device-tracing", args=[device.asset_id]),  # the live trace view
        reverse("tracing:device-tracing", args=[gateway.asset_id]),  # with its trace's logs
        reverse("tracing:trace-logs", args=[gateway.asset_id, fleet["trace"].pk]),
        reverse("assets:device-create"),
        reverse("assets:device-edit", args=[device.asset_id]),
        reverse("assets:device-delete", args=[device.asset_id]),
        reverse("assets:product-list"),
        reverse("assets:product-detail", args=[product.product_key]),
        reverse("assets:product-delete", args=[product.product_key]),
        reverse("assets:model-list"),
        reverse("assets:model-detail", args=[product.model.pk]),
        reverse("assets:product-create"),
        reverse("assets:model-edit", args=[product.model.pk]),
        reverse("assets:batch"),
        reverse("assets:migrate") + f"?asset_ids={device.asset_id}",
        reverse("accounts:profile"),
        reverse("assets:group-list"),
        reverse("assets:group-detail", args=[fleet["group"].pk]),
        reverse("assets:group-create"),
        reverse("assets:group-edit", args=[fleet["group"].pk]),
        reverse("assets:export-job", args=[fleet["export"].pk]),
        reverse("connectivity:ou-connectivity"),
        reverse("connectivity:ou-connectivity") + f"?period=month&product={product.product_key}",
        reverse("fleet:job-list"),
        reverse("fleet:job-create") + f"?asset_ids={device.asset_id}",
        reverse("fleet:job-create") + "?q=inverter",
        reverse("fleet:job-detail", args=[fleet["job"].public_id]),
        reverse("observability:alerts"),
        reverse("observability:alert-rules"),
        reverse("observability:alert-rule-create"),
        reverse("observability:alert-rule-edit", args=[fleet["alerting"].rule.pk]),
        reverse("observability:alert-rule-delete", args=[fleet["alerting"].spare_rule.pk]),
        reverse("observability:alert-deliveries"),
    ]


def assert_fits(page: Page, where: str, *, modal: bool = False) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{where}: the page is {width} px wide in a {inner} px window"
    log_out = page.locator("#log-out")
    expect(log_out).to_be_visible()
    box = log_out.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= inner, f"{where}: Log out is off-screen"
    if not modal:  # a modal dialog covers it, rightly
        log_out.click(trial=True)  # actionable: visible, enabled, not covered


def set_width(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800})


@pytest.mark.parametrize("width", [*WIDTHS, 800])  # 800: where the header ran off-screen
def test_every_main_page_fits_the_window(page: Page, live_server, fleet, product, writer, width):
    set_width(page, width)
    log_in(page, live_server.url, "writer")
    for path in console_pages(fleet, product):
        page.goto(live_server.url + path)
        expect(page.locator("main h1, main [role=dialog]").first).to_be_visible()
        assert_fits(page, path)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_login_page_fits_the_window(page: Page, live_server, width):
    set_width(page, width)
    page.goto(f"{live_server.url}/login/")
    expect(page.locator("input[name=username]")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_device_tables_actions_stay_reachable(page: Page, live_server, fleet, writer, width):
    set_width(page, width)
    log_in(page, live_server.url, "writer")
    device = fleet["devices"][-1]
    row = page.locator(f"#device-{device.asset_id}")
    more = row.locator("details.row-more summary")
    expect(more).to_be_visible()
    box = more.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    more.click()
    menu = row.locator("details.row-more .menu")
    for action in ("Migrate", "Edit", "Delete"):
        expect(menu.locator(f"a:has-text('{action}')")).to_be_visible()
    expect(menu.locator("a:has-text('Edit')")).to_have_attribute(
        "href", reverse("assets:device-edit", args=[device.asset_id]))
    assert_fits(page, "the open row menu")
    page.keyboard.press("Escape")
    expect(row.locator("details.row-more")).not_to_have_attribute("open", "")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_migrate_dialog_closes_on_esc_and_backdrop_and_fits(page: Page, live_server, fleet, writer, width):
    set_width(page, width)
    log_in(page, live_server.url, "writer")
    device = fleet["devices"][-1]
    row = page.locator(f"#device-{device.asset_id}")

    def open_dialog() -> None:
        row.locator("details.row-more summary").click()
        row.locator(".menu a:has-text('Migrate')").click()
        expect(page.locator("#migrate")).to_be_visible()
        # the menu it came from closed behind it
        expect(row.locator("details.row-more")).not_to_have_attribute("open", "")

    open_dialog()
    dialog = page.locator("#migrate")
    expect(dialog.locator("#target-ou-id")).to_be_focused()  # what the step asks for
    assert dialog.evaluate("d => d.scrollWidth <= d.clientWidth"), "the dialog scrolls sideways"
    assert_fits(page, "the open dialog", modal=True)
    # the Move radio sits right beside its label
    radio, label = dialog.locator("input[value=move]"), dialog.locator("label:has(input[value=move])")
    radio_box, label_box = radio.bounding_box(), label.bounding_box()
    assert radio_box and label_box and label_box["width"] < 150, label_box
    assert radio_box["x"] - label_box["x"] < 5
    # typing in the dialog does not close it; Esc does
    dialog.locator("#target-ou-id").fill("o123")
    dialog.click(position={"x": 10, "y": 10})
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#migrate")).to_have_count(0)

    open_dialog()
    page.mouse.click(3, 795)  # the backdrop, below and beside the dialog
    expect(page.locator("#migrate")).to_have_count(0)
    assert not page.evaluate("document.body.classList.contains('has-dialog')")


def test_disabling_a_device_updates_the_status_summary(page: Page, live_server, fleet, writer):
    log_in(page, live_server.url, "writer")
    disabled = page.locator("#status-summary .stat.disabled b")
    expect(disabled).to_have_text("0")
    page.fill("#id_q", "number 003")
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    page.locator("table.devices input[role=switch]").click()
    expect(page.locator("table.devices .status")).to_have_text("Disabled")
    expect(disabled).to_have_text("1")
    expect(page.locator("#matching")).to_have_text("1 device matches.")  # the search still counted


def test_a_bad_filter_is_shown_and_the_rest_applies(page: Page, live_server, fleet, writer):
    log_in(page, live_server.url, "writer")
    page.goto(f"{live_server.url}/devices/?q=number%20007&type=sub_device")
    expect(page.locator("#filter-problems")).to_contain_text("“sub_device” is not an asset type")
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    expect(page.locator("#matching")).to_have_text("1 device matches.")


def test_changing_the_product_keeps_what_was_typed(page: Page, live_server, fleet, product, gateway, writer):
    log_in(page, live_server.url, "writer")
    page.goto(f"{live_server.url}/devices/new/")
    page.fill("#id_name", "Roof inverter")
    page.fill("#id_device_key", "roof-01")
    page.fill("#id_attr_serial", "SN-77")
    page.select_option("#id_product", gateway.product.product_key)
    expect(page.locator("#id_product")).to_have_value(gateway.product.product_key)
    expect(page.locator("#id_name")).to_have_value("Roof inverter")
    expect(page.locator("#id_device_key")).to_have_value("roof-01")
    expect(page.locator("#id_attr_serial")).to_have_value("SN-77")
    page.click("button:has-text('Save')")
    expect(page.locator("h1")).to_contain_text("Roof inverter")
    assert Device.objects.get(device_key="roof-01").product == gateway.product


def test_the_details_switch_and_hiding_a_revealed_secret(page: Page, live_server, fleet, writer):
    log_in(page, live_server.url, "writer")
    device = fleet["devices"][9]
    page.goto(f"{live_server.url}/devices/{device.asset_id}/")
    expect(page.locator("h1 .status")).to_have_text("Inactive")
    page.locator("#device-enabled").click()
    expect(page.locator("h1 .status")).to_have_text("Disabled")
    expect(page.locator("#device-enabled")).not_to_be_checked()
    assert not Device.objects.get(pk=device.pk).enabled
    page.locator("#device-enabled").click()
    expect(page.locator("h1 .status")).to_have_text("Inactive")

    page.click("#reveal-secret")
    expect(page.locator("#secret-value")).to_have_text(device.device_secret)
    page.click("#hide-secret")
    expect(page.locator("#secret-value")).to_have_count(0)
    expect(page.locator("#device-secret")).not_to_contain_text(device.device_secret)
    page.click("#reveal-secret")  # and again: the restored button works
    expect(page.locator("#secret-value")).to_have_text(device.device_secret)
