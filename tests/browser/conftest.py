"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against a live portal."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import PASSWORD, client_for

CHROMIUM = "/usr/bin/chromium"
# The closed network here makes Chromium hang on its own background connections without these.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

# Playwright's sync API runs an event loop in the test thread; the ORM calls tests make between
# browser steps are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


LOGIN_TIMEOUT_MS = 60_000


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    # the server checks the password with the project's hasher (~0.5 s of a quiet core): on a loaded machine the
    # POST alone has taken more than the page's 10 s default (seen with two other test suites running)
    page.wait_for_url(f"{base_url}/devices/", timeout=LOGIN_TIMEOUT_MS)


def log_in_as(page: Page, base_url: str, user) -> None:
    """A session made here: daphne runs with the project's password hashers, not the tests' fast one."""
    session_id = client_for(user).cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session_id, "url": base_url}])


@pytest.fixture
def on_device() -> Iterator[Callable[..., Any]]:
    """Runs a simulated device's coroutine to its result, on an event loop in its own thread
    (Playwright owns this thread's loop): `on_device(simulated.connect())`."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)

    yield run
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
