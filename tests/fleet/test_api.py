"""/api/jobs/: start by query, group or devices, read counts and outcomes (also CSV), cancel; OU-scoped."""

from __future__ import annotations

import pytest

from fleet import engine
from fleet.models import Job
from tests.assets.api.helpers import api_client_for, assert_error, results
from tests.fleet.conftest import run_to_end

pytestmark = pytest.mark.django_db


def start(client, acme, **body):
    return client.post("/api/jobs/", {"ouId": acme.ou_id, **body})


def test_a_job_by_query_runs_and_reports_its_outcomes(writer, acme, devices, django_assert_max_num_queries):
    client = api_client_for(writer)
    response = start(client, acme, action="add_tags", params={"tags": {"site": "suzhou"}}, query="name:Fleet",
                     stages=[10, 50], ratePerMinute=1000, abortFailurePercent=5, abortMinExecutions=100)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["total"] == 20 and body["state"] == "running" and body["counts"]["pending"] == 20
    assert body["stages"] == [10, 50, 100] and body["selection"] == "name:Fleet"
    run_to_end(Job.objects.get(public_id=body["id"]))
    detail = client.get(f"/api/jobs/{body['id']}/").json()
    assert detail["state"] == "completed" and detail["counts"]["done"] == 20
    with django_assert_max_num_queries(8):
        rows = results(client.get(f"/api/jobs/{body['id']}/executions/?state=done&pageSize=5"))
    assert len(rows) == 5 and {r["state"] for r in rows} == {"done"}
    assert results(client.get(f"/api/jobs/{body['id']}/executions/?state=failed")) == []
    assert_error(client.get(f"/api/jobs/{body['id']}/executions/?state=bogus"), 400)
    export = client.get(f"/api/jobs/{body['id']}/executions/export/")
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0] == "assetId,deviceName,stage,state,attempts,message,finishedAt" and len(lines) == 21


def test_the_list_counts_each_job_without_a_query_per_job(writer, acme, devices, django_assert_max_num_queries):
    client = api_client_for(writer)
    for _ in range(3):
        assert start(client, acme, action="disable", assetIds=[devices[0].asset_id]).status_code == 201
    with django_assert_max_num_queries(8):
        rows = results(client.get("/api/jobs/"))
    assert len(rows) == 3 and all(row["counts"]["pending"] == 1 for row in rows)


def test_cancel_once(writer, acme, devices):
    client = api_client_for(writer)
    job_id = start(client, acme, action="disable", assetIds=[d.asset_id for d in devices]).json()["id"]
    response = client.post(f"/api/jobs/{job_id}/cancel/")
    assert response.status_code == 200 and response.json()["counts"]["cancelled"] == 20
    assert_error(client.post(f"/api/jobs/{job_id}/cancel/"), 409, "job_finished")
    assert engine.run_step(Job.objects.get(public_id=job_id).pk) is None


def test_bad_requests_are_explained(writer, acme, devices):
    client = api_client_for(writer)
    assert_error(start(client, acme, action="disable"), 400)  # no selection
    assert_error(start(client, acme, action="disable", query="status:(", ), 400, "invalid_query")
    assert_error(start(client, acme, action="add_tags", params={}, assetIds=[devices[0].asset_id]), 400)
    assert_error(start(client, acme, action="disable", assetIds=[devices[0].asset_id], stages=[50, 10]), 400)
    assert_error(start(client, acme, action="invoke_service", params={"service": "restart"},
                       assetIds=[devices[0].asset_id], offlinePolicy="wait"), 400)
    assert_error(start(client, acme, action="disable", groupId=999999), 400)


def test_another_ou_s_job_is_not_there(writer, outsider, acme, devices):
    job_id = start(api_client_for(writer), acme, action="disable", assetIds=[devices[0].asset_id]).json()["id"]
    client = api_client_for(outsider)
    assert results(client.get("/api/jobs/")) == []
    assert_error(client.get(f"/api/jobs/{job_id}/"), 404)
    assert_error(client.post(f"/api/jobs/{job_id}/cancel/"), 404)
