"""Outcome messages are stored as codes and rendered in the reader's language: the console, the CSV and the
API of a job run in English answer a Chinese reader in Chinese; rows older than the codes keep their text."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from assets import bulk
from connectivity.models import CommandStatus
from fleet.actions import command_error
from fleet.models import ExecutionState, Job, JobAction, JobExecution, SelectionKind
from fleet.outcome_messages import BULK_TEXTS, TEXT, Message, from_text, render
from tests.assets.api.helpers import api_client_for, results
from tests.conftest import client_for
from tests.fleet.conftest import run_to_end

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
ALREADY_ENABLED_ZH = "已是启用状态"  # "already enabled" in the zh_Hans catalog


@pytest.fixture
def enable_job(writer, acme, devices, settings) -> Job:
    """Enable four devices that are enabled already: each execution skipped, "already enabled"."""
    settings.LANGUAGE_CODE = "en"
    client = api_client_for(writer)
    response = client.post("/api/jobs/", {"ouId": acme.ou_id, "action": "enable",
                                          "assetIds": [d.asset_id for d in devices[:4]]}, **ZH)
    assert response.status_code == 201, response.content
    return run_to_end(Job.objects.get(public_id=response.json()["id"]))


@pytest.mark.django_db
def test_a_job_run_in_english_reads_in_chinese_on_the_console(writer, enable_job):
    row = enable_job.executions.first()
    assert (row.state, row.message, row.message_code) == (ExecutionState.SKIPPED, "already enabled", "already_enabled")
    client = client_for(writer)
    page = client.get(reverse("fleet:job-detail", args=[enable_job.public_id]), **ZH).content.decode()
    assert page.count(f"<td>{ALREADY_ENABLED_ZH}</td>") == 4
    english = client.get(reverse("fleet:job-detail", args=[enable_job.public_id]),
                         HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert english.count("<td>already enabled</td>") == 4


@pytest.mark.django_db
def test_a_job_run_in_english_reads_in_chinese_in_the_csv(writer, enable_job):
    client = client_for(writer)
    response = client.get(reverse("fleet:job-export", args=[enable_job.public_id]), **ZH)
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 5 and all(f",skipped,1,{ALREADY_ENABLED_ZH}," in line for line in lines[1:])
    api = api_client_for(writer).get(f"/api/jobs/{enable_job.public_id}/executions/export/", **ZH)
    assert ALREADY_ENABLED_ZH in b"".join(api.streaming_content).decode()


@pytest.mark.django_db
def test_a_job_run_in_english_reads_in_chinese_in_the_api(writer, enable_job):
    client = api_client_for(writer)
    rows = results(client.get(f"/api/jobs/{enable_job.public_id}/executions/", **ZH))
    assert [(r["message"], r["messageCode"], r["messageParams"]) for r in rows] == [
        (ALREADY_ENABLED_ZH, "already_enabled", {})] * 4
    rows = results(client.get(f"/api/jobs/{enable_job.public_id}/executions/", HTTP_ACCEPT_LANGUAGE="en"))
    assert {r["message"] for r in rows} == {"already enabled"}


@pytest.mark.django_db
def test_the_job_s_own_message_follows_the_reader(writer, acme, devices):
    client = api_client_for(writer)
    job_id = client.post("/api/jobs/", {"ouId": acme.ou_id, "action": "disable",
                                        "assetIds": [devices[0].asset_id]}).json()["id"]
    body = client.post(f"/api/jobs/{job_id}/cancel/", **ZH).json()
    assert body["messageCode"] == "job_cancelled_by" and body["messageParams"] == {"user": str(writer)}
    assert body["message"] == f"已由 {writer} 取消。"
    assert client.get(f"/api/jobs/{job_id}/", HTTP_ACCEPT_LANGUAGE="en").json()["message"] == f"Cancelled by {writer}."
    rows = results(client.get(f"/api/jobs/{job_id}/executions/", **ZH))
    assert rows[0]["message"] == "任务已取消。"


@pytest.mark.django_db
def test_rows_older_than_the_codes_keep_their_text(writer, acme, devices):
    job = Job.objects.create(ou=acme, created_by=writer, action=JobAction.ENABLE, selection_kind=SelectionKind.DEVICES,
                             total=1)
    JobExecution.objects.create(job=job, device=devices[0], asset_id=devices[0].asset_id,
                                state=ExecutionState.SKIPPED, message="already enabled (written in 2025)")
    rows = results(api_client_for(writer).get(f"/api/jobs/{job.public_id}/executions/", **ZH))
    assert rows[0]["message"] == "already enabled (written in 2025)" and rows[0]["messageCode"] == ""


def test_bulk_texts_map_back_to_codes_with_their_parameters():
    with translation.override(None):  # as the engine runs the actions
        assert from_text(bulk.not_found_message()) == Message("not_found")
        too_many = from_text("a device can have at most 100 tags, got 101")
        required = from_text('attribute "serial" is required')
    assert too_many == Message.of("too_many_tags", maximum=100, count=101)
    assert required == Message.of("attribute_required", identifier="serial")
    assert from_text("something new") == Message.of(TEXT, text="something new")
    with translation.override("zh-hans"):
        assert required.render() == "属性“serial”为必填项"
        assert from_text("not found").render() == "未找到"
        # a placeholder the translation does not know falls back to the stored text
        assert render("too_many_tags", {"maximum": 1}, "fallback") == "fallback"


def test_the_bulk_texts_are_the_msgids_assets_translates():
    """The mirror in fleet.outcome_messages must stay the msgids assets marks: each has its translation."""
    with translation.override("zh-hans"):
        untranslated = [msgid for msgid in BULK_TEXTS.values() if translation.gettext(msgid) == msgid]
    assert untranslated == []


def test_command_failures_and_the_abort_keep_their_english_words():
    timeout = command_error(CommandStatus.TIMEOUT, "No reply within 5 s.", 408)
    assert timeout == Message.of("command_timeout", code=408, seconds="5")
    assert timeout.source() == "408: No reply within 5 s."
    assert command_error(CommandStatus.ERROR, "busy", 500).source() == "500: busy"
    assert command_error(CommandStatus.ERROR, "not found", None) == Message("not_found")
    aborted = Message.of("job_aborted", failed=8, finished=8, percent=100.0, threshold=5.0)
    assert aborted.source() == "Aborted: 8 of 8 executions failed (100.0 %), at or above the 5 % threshold."
