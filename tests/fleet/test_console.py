"""The console's jobs: start from a selection, the table's search or a group; watch progress; cancel; export."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fleet.models import ExecutionState, Job, JobState
from tests.conftest import client_for
from tests.fleet.conftest import run_to_end

pytestmark = pytest.mark.django_db

ROLLOUT = {"stages": "10, 50, 100", "stages_in_percent": "on", "rate_per_minute": "0", "timeout_seconds": "5",
           "max_retries": "0", "abort_min_executions": "100", "offline_policy": "skip"}


def test_selected_rows_become_a_job_and_its_page_shows_progress(writer, devices, django_assert_max_num_queries):
    client = client_for(writer)
    picked = [d.asset_id for d in devices[:4]]
    form = client.get(reverse("fleet:job-create"), {"asset_ids": picked})
    assert form.status_code == 200 and b"4 devices selected" in form.content
    response = client.post(reverse("fleet:job-create"), {"asset_ids": picked, "action": "add_tags",
                                                         "tags": "site=suzhou", **ROLLOUT})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("fleet:job-detail", args=[job.public_id])
    page = client.get(response["Location"]).content.decode()
    assert page.count('hx-trigger="every 2s"') == 2 and 'id="count-pending">4<' in page  # progress and outcomes
    # the outcomes table polls itself alone while the job runs, keeping its filter
    outcomes = client.get(reverse("fleet:job-detail", args=[job.public_id]), {"state": "pending"},
                          HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-outcome-rows").content.decode()
    assert 'id="job-outcome-rows" hx-get=' in outcomes and "every 2s" in outcomes and "<html" not in outcomes
    assert "?state=pending" in outcomes and outcomes.count("<tr data-asset=") == 4
    run_to_end(job)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("fleet:job-detail", args=[job.public_id])).content.decode()
    assert "every 2s" not in page and 'id="count-done">4<' in page  # ended: no more polling
    assert '{&quot;tags&quot;: {&quot;site&quot;: &quot;suzhou&quot;}}' in page  # the parameters as JSON
    progress = client.get(reverse("fleet:job-progress", args=[job.public_id])).content.decode()
    assert 'id="job-state">Completed<' in progress
    # the polls of a page that saw the job running get the final parts, which poll no more
    polled = client.get(reverse("fleet:job-progress", args=[job.public_id]), HTTP_HX_REQUEST="true")
    assert 'id="job-state">Completed<' in polled.content.decode() and "every 2s" not in polled.content.decode()
    with django_assert_max_num_queries(8):
        outcomes = client.get(reverse("fleet:job-detail", args=[job.public_id]), HTTP_HX_REQUEST="true",
                              HTTP_HX_TARGET="job-outcome-rows").content.decode()
    assert "every 2s" not in outcomes and outcomes.count("<td>Done</td>") == 4
    export = b"".join(client.get(reverse("fleet:job-export", args=[job.public_id])).streaming_content).decode()
    assert export.count("\n") == 5
    with django_assert_max_num_queries(12):
        listing = client.get(reverse("fleet:job-list")).content.decode()
    assert job.public_id in listing


def test_all_matching_the_table_s_search_prefills_the_query(writer, devices):
    page = client_for(writer).get(reverse("fleet:job-create"), {"q": "Fleet", "status": "inactive"})
    assert 'value="(Fleet) AND status:inactive"' in page.content.decode()


def test_the_device_table_s_selection_opens_the_form_as_a_page(writer, devices):
    response = client_for(writer).get(reverse("fleet:job-create"), {"asset_ids": devices[0].asset_id},
                                      HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"].startswith(reverse("fleet:job-create"))


def test_a_group_job_and_cancel(writer, acme, devices):
    from assets import groups

    group = groups.create_group(writer, acme, name="Ten")
    groups.add_group_devices(writer, group, devices[:10])
    client = client_for(writer)
    assert f'?group={group.pk}"'.encode() in client.get(reverse("assets:group-detail", args=[group.pk])).content
    client.post(reverse("fleet:job-create"), {"group": group.pk, "action": "disable", **ROLLOUT})
    job = Job.objects.get()
    assert job.total == 10
    client.post(reverse("fleet:job-cancel", args=[job.public_id]))
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.executions.filter(state=ExecutionState.CANCELLED).count() == 10


def test_bad_input_is_said_on_the_form(writer, devices):
    response = client_for(writer).post(reverse("fleet:job-create"), {"query": "status:(", "action": "disable",
                                                                     **ROLLOUT})
    assert response.status_code == 200 and not Job.objects.exists()
    assert b'class="errorlist' in response.content or b"message error" in response.content
    response = client_for(writer).post(reverse("fleet:job-create"), {
        "asset_ids": devices[0].asset_id, "action": "set_attributes", "attributes": "not json", **ROLLOUT})
    assert response.status_code == 200 and b"JSON object" in response.content
