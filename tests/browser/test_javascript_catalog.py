"""The static scripts speak the page's language through Django's JavaScript catalog (/jsi18n/, loaded
as a file before them): the copy button says "Copied", or "已复制" for a browser asking for Chinese."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import log_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("language", "copied", "copy"), [("en", "Copied", "Copy"), ("zh-Hans", "已复制", "复制")])
def test_the_copy_button_answers_in_the_pages_language(browser: Browser, live_server, writer, device,
                                                       language, copied, copy):
    context = browser.new_context(viewport={"width": 1400, "height": 900},
                                  extra_http_headers={"Accept-Language": language})
    try:
        page = context.new_page()
        log_in_as(page, live_server.url, writer)
        page.goto(f"{live_server.url}/devices/{device.asset_id}/")
        assert page.evaluate("gettext('Copy')") == copy
        button = page.locator("button.copy[data-copy='#device-key']")
        button.click()
        expect(button).to_have_text(copied)
        expect(button).to_have_text(copy)  # back after a moment
    finally:
        context.close()
