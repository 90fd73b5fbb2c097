"""A user works in Chinese in real Chromium: switches the language in the header (the choice sticks across
reloads and pages), creates a device, toggles it off on its details page, then switches back to English."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from assets.models import Device
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def switch_language(page: Page, language: str) -> None:
    # portal.js submits the header's form on change (set_language, then back to this page)
    with page.expect_navigation():
        page.select_option("#language-switch", language)


def test_a_flow_in_chinese(page: Page, live_server, writer, product, settings):
    base = live_server.url
    # the browser says en-US (Playwright's default): English until the user switches
    log_in(page, base, "writer")
    expect(page.locator("h1")).to_have_text("Device Assets")
    expect(page.locator("#language-switch option:checked")).to_have_text("English")

    switch_language(page, "zh-hans")
    assert page.url == f"{base}/devices/"
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1")).to_have_text("设备资产")
    expect(page.locator("#language-switch option:checked")).to_have_text("简体中文")
    expect(page.locator("table.devices thead")).to_contain_text("设备名称")
    expect(page.locator("table.devices tbody")).to_contain_text("没有符合条件的设备。")
    expect(page.locator("#status-summary")).to_contain_text("在线")
    expect(page.locator("#matching")).to_have_text("0 个设备符合条件。")
    cookie = {c["name"]: c["value"] for c in page.context.cookies()}[settings.LANGUAGE_COOKIE_NAME]
    assert cookie == "zh-hans"

    # create a device, in Chinese
    page.click("a:has-text('新建设备')")
    expect(page.locator("h1")).to_have_text("新建设备")
    page.fill("input[name=name]", "逆变器 1")
    page.fill("input[name=device_key]", "inv-zh-001")
    page.fill("input[name=attr_serial]", "SN-ZH-1")
    page.click("button:has-text('保存')")
    device = Device.objects.get(device_key="inv-zh-001")
    page.wait_for_url(f"{base}/devices/{device.asset_id}/")
    expect(page.locator("#messages")).to_contain_text("设备 逆变器 1 已创建。")
    expect(page.locator("h1")).to_contain_text("逆变器 1")
    expect(page.locator("nav.tabs")).to_contain_text("基本信息")
    expect(page.locator("main")).to_contain_text("设备三元组")
    expect(page.locator("a.button", has_text="迁移")).to_be_visible()

    # toggle it off on its details page: the switch's label answers in Chinese
    expect(page.locator("#device-state")).to_contain_text("已启用")
    page.get_by_role("switch", name="已启用").click()
    expect(page.locator("#device-state")).to_contain_text("已禁用")
    assert not Device.objects.get(pk=device.pk).enabled

    # remembered: a reload and another page stay in Chinese
    page.reload()
    expect(page.locator("h2").first).to_have_text("设备三元组")
    page.goto(f"{base}/products/")
    expect(page.locator("h1")).to_have_text("产品")

    switch_language(page, "en")
    assert page.url == f"{base}/products/"
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Products")
    page.goto(f"{base}/devices/{device.asset_id}/")
    expect(page.locator("#device-state")).to_contain_text("Disabled")
