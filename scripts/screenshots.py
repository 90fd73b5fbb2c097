#!/usr/bin/env python3
"""The README's console screenshots, English and Simplified Chinese, made from the running demo.

    .venv/bin/python scripts/screenshots.py          # rewrites docs/screenshots/*.png
    .venv/bin/python scripts/screenshots.py --check  # exit 1 when they are older than the pages they show

Starts `manage.py run_portal` (the embedded default, demo data, simulated devices) on a free port with
a throw-away var/ folder, logs in as the demo manager in Debian's Chromium, waits for every simulated
device to show Online, and photographs the device list in each language. Beside the pictures it
writes the digest of the files that shape the page (SHAPING); tests/test_screenshots.py fails when
that digest no longer matches the tree, so a change to the page's templates, styles or catalogs comes
with new screenshots. Chinese needs a CJK font (Debian: fonts-wqy-microhei or fonts-noto-cjk).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "screenshots"
DIGEST_FILE = OUTPUT / "sources.sha256"
LANGUAGES = {"en": "console-en.png", "zh-hans": "console-zh.png"}
VIEWPORT = {"width": 1400, "height": 900}
# what the device list is drawn from: its templates, the styles and scripts, the catalogs
SHAPING = ["templates/base.html", "templates/_messages.html", "templates/assets/device_list.html",
           "templates/assets/_device_*.html", "templates/assets/_sort_header.html", "enos_portal/static/portal/*",
           "locale/zh_Hans/LC_MESSAGES/django.po", "*/locale/zh_Hans/LC_MESSAGES/django*.po",
           "assets/management/commands/load_demo_data.py"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def shaping_files() -> list[Path]:
    return sorted({path for pattern in SHAPING for path in REPO.glob(pattern) if path.is_file()})


def sources_digest() -> str:
    """sha256 over the shaping files' names and contents (line endings as committed)."""
    digest = hashlib.sha256()
    for path in shaping_files():
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def recorded_digest() -> str:
    return DIGEST_FILE.read_text().strip() if DIGEST_FILE.exists() else ""


def quickstart() -> object:
    """scripts/quickstart_check.py: its portal-watching helpers (free port, log waits, database counts)."""
    spec = importlib.util.spec_from_file_location("quickstart_check", REPO / "scripts" / "quickstart_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def photograph(base: str, output: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    check = quickstart()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for language, name in LANGUAGES.items():
            context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="Asia/Shanghai")
            context.add_cookies([{"name": "django_language", "value": language, "url": base}])
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{base}/login/")
            page.fill("input[name=username]", check.USER)
            page.fill("input[name=password]", check.PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/devices/")
            page.reload()  # the browser's time zone is known from the second page on
            expect(page.locator("#device-table tbody tr").first).to_be_visible()
            expect(page.locator("[aria-busy=true]")).to_have_count(0)  # the status counts loaded
            page.screenshot(path=str(output / name))
            print(f"  {name}: {language}")
            context.close()
        browser.close()


def make(output: Path) -> None:
    check = quickstart()
    work = Path(tempfile.mkdtemp(prefix="screenshots-"))
    port = check.free_port()
    log = work / "run_portal.log"
    env = check.newcomer_environment(work) | {"PORTAL_VAR_DIR": str(work / "var")}
    command = [sys.executable, "manage.py", "run_portal", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        check.wait_until("the console line", lambda: check.log_lines_about(log, f"Console: {base}/"),
                         check.START_SECONDS, process, log)
        simulated = check.wait_until("the simulator line", lambda: re.search(
            r"Connecting the (\d+) demo devices", log.read_text()), check.START_SECONDS, process, log)
        expected = int(simulated.group(1))
        check.wait_until(f"{expected} devices Online",
                         lambda: check.database_counts(work / "var" / "portal.sqlite3")[0] >= expected,
                         check.CONNECT_SECONDS, process, log)
        output.mkdir(parents=True, exist_ok=True)
        photograph(base, output)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)
    DIGEST_FILE.write_text(sources_digest() + "\n")
    print(f"  {DIGEST_FILE.relative_to(REPO)} written")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Only tell whether the screenshots are current.")
    options = parser.parse_args()
    if options.check:
        current = recorded_digest() == sources_digest()
        print("screenshots are current" if current else "screenshots are older than the pages: run "
              "scripts/screenshots.py")
        return 0 if current else 1
    if not subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip():
        print("No CJK font: the Chinese screenshot would show boxes. Install fonts-wqy-microhei.", file=sys.stderr)
        return 1
    print("Screenshots of the console (run_portal, embedded default)")
    make(OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
