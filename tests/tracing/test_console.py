"""The Tracing tab: the OU matrix over its URLs, start/extend/stop from the page, history on reopening,
browsing and downloading past traces."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now

from tests.conftest import client_for
from tracing import services
from tracing.models import MessageTrace

from .conftest import send

pytestmark = pytest.mark.django_db


def tab(device) -> str:
    return reverse("tracing:device-tracing", args=[device.asset_id])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- the OU matrix --------------------------------------------------------------------------------

READS = ["device-tracing", "trace-logs", "trace-download"]
WRITES = ["trace-start", "trace-extend", "trace-stop"]


def url(name: str, device, trace) -> str:
    args = [device.asset_id] if name in ("device-tracing", "trace-start") else [device.asset_id, trace.pk]
    return reverse(f"tracing:{name}", args=args)


@pytest.mark.parametrize("name", READS)
@pytest.mark.parametrize(("who", "expected"), [("writer", 200), ("viewer", 200), ("outsider", 404),
                                               ("anonymous", 302)])
def test_who_may_read(cast, device, trace, name, who, expected):
    response = client_for(cast[who]).get(url(name, device, trace))
    assert response.status_code == expected
    if expected == 302:
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", WRITES)
@pytest.mark.parametrize(("who", "expected"), [("viewer", 403), ("outsider", 404), ("anonymous", 302)])
def test_who_may_not_write(cast, device, trace, name, who, expected):
    response = client_for(cast[who]).post(url(name, device, trace), {"amount": 5, "unit": "minutes"})
    assert response.status_code == expected
    trace.refresh_from_db()
    assert trace.is_active and MessageTrace.objects.count() == 1


def test_the_tab_is_linked_from_the_device_details(writer, device):
    page = client_for(writer).get(reverse("assets:device-detail", args=[device.asset_id])).content.decode()
    assert f'href="{tab(device)}"' in page and ">Tracing</a>" in page


def test_a_viewer_sees_the_logs_but_no_start_or_stop(viewer, device, trace):
    page = client_for(viewer).get(tab(device)).content.decode()
    assert "Start Message Trace" not in page and "Stop Message Trace" not in page
    assert 'id="trace-logs"' in page and 'id="clear-logs"' in page


# --- start, extend, stop -------------------------------------------------------------------------

def test_a_writer_starts_a_trace_for_the_duration_entered(writer, device):
    client = client_for(writer)
    page = client.get(tab(device)).content.decode()
    assert "Start Message Trace" in page and "No message trace is running" in page
    response = client.post(reverse("tracing:trace-start", args=[device.asset_id]),
                           {"amount": 2, "unit": "hours"}, follow=True)
    trace = MessageTrace.objects.get(device=device)
    assert timedelta(hours=2) - timedelta(seconds=5) < trace.expires_at - now() <= timedelta(hours=2)
    assert any("Message trace started" in m for m in messages_of(response))
    assert "Stop Message Trace" in response.content.decode()


@pytest.mark.parametrize(("amount", "unit"), [(4, "days"), (73, "hours")])
def test_a_duration_beyond_three_days_is_refused_with_a_clear_message(writer, device, amount, unit):
    response = client_for(writer).post(reverse("tracing:trace-start", args=[device.asset_id]),
                                       {"amount": amount, "unit": unit}, follow=True)
    assert messages_of(response) == ["The trace duration must be between 1 minute and 3 days."]
    assert not MessageTrace.objects.exists()


def test_a_missing_duration_is_refused(writer, device):
    response = client_for(writer).post(reverse("tracing:trace-start", args=[device.asset_id]),
                                       {"amount": "", "unit": "minutes"}, follow=True)
    assert messages_of(response) == ["Enter the trace duration."]
    assert not MessageTrace.objects.exists()


def test_starting_while_active_says_so_and_offers_extend_and_stop(writer, device, trace):
    response = client_for(writer).post(reverse("tracing:trace-start", args=[device.asset_id]),
                                       {"amount": 5, "unit": "minutes"}, follow=True)
    [message] = messages_of(response)
    assert "already running" in message and "Extend it or stop it" in message
    page = response.content.decode()
    assert "Extend" in page and "Stop Message Trace" in page


def test_extend_and_stop_from_the_page(writer, device, trace):
    client = client_for(writer)
    old_expiry = trace.expires_at
    client.post(reverse("tracing:trace-extend", args=[device.asset_id, trace.pk]), {"amount": 30, "unit": "minutes"})
    trace.refresh_from_db()
    assert trace.expires_at == old_expiry + timedelta(minutes=30)
    response = client.post(reverse("tracing:trace-stop", args=[device.asset_id, trace.pk]), follow=True)
    trace.refresh_from_db()
    assert not trace.is_active and trace.stop_reason == "stopped"
    assert messages_of(response)[-1] == "Message trace stopped."
    assert "No message trace is running" in response.content.decode()


# --- history ----------------------------------------------------------------------------------------

def test_reopening_the_tab_shows_the_logs_so_far_newest_on_top(writer, device, trace):
    for n in range(5):
        send(device, payload={"n": n})
    response = client_for(writer).get(tab(device))
    page = response.content.decode()
    seqs = [int(part.split('"')[0]) for part in page.split('data-seq="')[1:]]
    assert seqs == [5, 4, 3, 2, 1]
    state = response.context["state"]
    assert state["trace"]["id"] == trace.pk and state["lastSeq"] == 5
    assert f'ws-connect="/ws/devices/{device.asset_id}/trace/"' in page
    assert state["rowsUrl"] == f"/devices/{device.asset_id}/tracing/{{id}}/"
    assert json.loads(page.split('id="trace-state" type="application/json">')[1].split("</script>")[0]) == state


def test_device_text_is_escaped_on_the_page(writer, device, trace):
    send(device, "<script>alert(1)</script>", message="<img src=x onerror=alert(2)>")
    page = client_for(writer).get(tab(device)).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page


def test_the_tab_costs_a_fixed_number_of_queries(django_assert_max_num_queries, writer, device, trace):
    for _ in range(30):
        send(device)
    services.stop_trace(writer, trace)
    for _ in range(15):
        services.stop_trace(writer, services.start_trace(writer, device, timedelta(minutes=5)))
    current = services.start_trace(writer, device, timedelta(minutes=5))
    for _ in range(30):
        send(device)
    client = client_for(writer)
    with django_assert_max_num_queries(11):
        response = client.get(tab(device))
    assert len(response.context["past"]) == 16 and response.context["current"] == current


def test_past_traces_are_listed_and_browsable_a_page_at_a_time(writer, device, trace):
    for n in range(150):
        send(device, payload={"n": n})
    services.stop_trace(writer, trace)
    client = client_for(writer)
    page = client.get(tab(device)).content.decode()
    browse = reverse("tracing:trace-logs", args=[device.asset_id, trace.pk])
    assert f'href="{browse}"' in page
    first = client.get(browse)
    assert [log.seq for log in first.context["logs"]] == list(range(150, 50, -1))
    older = client.get(browse, {"before": first.context["older"]})
    assert [log.seq for log in older.context["logs"]] == list(range(50, 0, -1)) and older.context["older"] is None


def test_a_trace_downloads_as_json_lines_in_seq_order(writer, device, trace):
    send(device, "login", outcome="error", code=742, payload={"sign": "secret-sign"})
    for n in range(3):
        send(device, payload={"n": n})
    response = client_for(writer).get(reverse("tracing:trace-download", args=[device.asset_id, trace.pk]))
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response["Content-Disposition"] == f'attachment; filename="trace-{device.asset_id}-{trace.pk}.jsonl"'
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4]
    assert lines[0]["code"] == 742 and lines[0]["payload"] == {"sign": "***"}
    assert {line["traceId"] for line in lines} == {trace.pk} and lines[1]["assetId"] == device.asset_id


def test_a_trace_of_another_device_is_not_found_under_this_one(writer, device, gateway, trace):
    client = client_for(writer)
    assert client.get(reverse("tracing:trace-logs", args=[gateway.asset_id, trace.pk])).status_code == 404
    assert client.get(reverse("tracing:trace-download", args=[gateway.asset_id, trace.pk])).status_code == 404
