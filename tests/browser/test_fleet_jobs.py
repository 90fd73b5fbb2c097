"""Jobs in real Chromium: a staged job started from the device table's selection, watched to completion on its
page (the counts, the bar and the outcomes table refresh themselves), and a job that aborts when its failures
cross the threshold."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from fleet import engine, services
from fleet.models import Job
from tests.browser.conftest import log_in
from tests.fleet.conftest import make_devices

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def no_worker(monkeypatch) -> None:
    # the test drives the engine step by step itself, so each stage can be watched arriving on the page
    from fleet import tasks

    monkeypatch.setattr(tasks.run_job, "delay", lambda job_id: None)


def step(job: Job) -> None:
    engine.run_step(job.pk, "browser-test")


def test_a_staged_job_watched_to_completion(page: Page, live_server, product, writer, settings):
    settings.FLEET_CHUNK = 100
    devices = make_devices(product, 10, prefix="web")
    log_in(page, live_server.url, "writer")
    for device in devices:
        page.check(f"input[name=asset_ids][value=\"{device.asset_id}\"]")
    page.click("#bulk-actions")
    expect(page.locator("#job-selection")).to_contain_text("10 devices selected")
    page.select_option("#id_action", "add_tags")
    page.fill("#id_tags", "firmware=2.1")
    page.fill("#id_stages", "10, 50")
    page.click("#start-job")
    expect(page.locator("#job-state")).to_have_text("Running")
    expect(page.locator("#count-pending")).to_have_text("10")
    job = Job.objects.get()
    step(job)  # stage 1: one device
    expect(page.locator("#count-done")).to_have_text("1")
    done_cells = page.locator("#outcomes tbody td", has_text=re.compile(r"^Done$"))
    expect(done_cells).to_have_count(1)  # the outcomes table refreshes itself too
    expect(page.locator("#job-progress")).to_contain_text("Stage 1 of 3")
    step(job)  # opens stage 2
    step(job)
    expect(page.locator("#count-done")).to_have_text("5")
    expect(page.locator("#job-percent")).to_have_text("50%")
    while engine.run_step(job.pk, "browser-test") is not None:
        pass
    expect(page.locator("#job-state")).to_have_text("Completed")
    expect(page.locator("#count-done")).to_have_text("10")
    expect(page.locator("#job-cancel")).to_have_count(0)
    expect(done_cells).to_have_count(10)  # final, without reloading the page
    page.click("nav.mainnav >> text=Jobs")
    expect(page.locator(f"tr[data-job='{job.public_id}']")).to_contain_text("Completed")


def test_an_aborted_job(page: Page, live_server, product, writer, settings):
    settings.FLEET_CHUNK = 5
    devices = make_devices(product, 30, prefix="abt")
    # an attribute the model does not define: each execution fails
    job = services.start_job(writer, product.ou, action="set_attributes", params={"attributes": {"nope": 1}},
                             asset_ids=[d.asset_id for d in devices], abort_failure_percent=5, abort_min_executions=10)
    log_in(page, live_server.url, "writer")
    page.goto(f"{live_server.url}/jobs/{job.public_id}/")
    expect(page.locator("#job-state")).to_have_text("Running")
    while engine.run_step(job.pk, "browser-test") is not None:
        pass
    expect(page.locator("#job-state")).to_have_text("Aborted")
    expect(page.locator("#job-message")).to_contain_text("10 of 10 executions failed")
    expect(page.locator("#count-failed")).to_have_text("10")
    expect(page.locator("#count-cancelled")).to_have_text("20")
    page.reload()
    page.click("#job-outcomes >> text=Failed")
    expect(page.locator("#outcomes tbody")).to_contain_text("is not an attribute of model")
