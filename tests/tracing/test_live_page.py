"""What the live Tracing tab is made of on the server: one row template and one status line, shared by
the page, the socket's pushes and the gap fill (?after=<seq>); times in the user's zone, named, with
the UTC instant in <time datetime>."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils.timezone import now

from accounts.services import set_time_zone
from tests.conftest import client_for
from tracing import services
from tracing.models import MessageTrace, StopReason, TraceLog
from tracing.views import log_from_json, render_rows, render_status

from .conftest import send


def utc(value) -> str:
    """A <time>'s datetime attribute: the UTC instant to the millisecond."""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")

pytestmark = pytest.mark.django_db


def rows_after(client, device, trace, after) -> list[int]:
    response = client.get(reverse("tracing:trace-logs", args=[device.asset_id, trace.pk]), {"after": after})
    assert response.status_code == 200
    return [int(seq) for seq in re.findall(r'<tr data-seq="(\d+)"', response.content.decode())]


def test_the_gap_fill_gets_the_rows_after_a_seq_oldest_first(writer, device, trace):
    for n in range(6):
        send(device, payload={"n": n})
    client = client_for(writer)
    assert rows_after(client, device, trace, 3) == [4, 5, 6]
    assert rows_after(client, device, trace, 0) == [1, 2, 3, 4, 5, 6]
    assert rows_after(client, device, trace, 6) == []


def test_the_gap_fill_gets_at_most_a_page_of_rows(settings, writer, device, trace, monkeypatch):
    from tracing import views

    monkeypatch.setattr(views, "FILL_ROWS", 2)
    for n in range(5):
        send(device, payload={"n": n})
    assert rows_after(client_for(writer), device, trace, 1) == [2, 3]


@pytest.mark.parametrize("after", ["-1", "x", "²", "1.5", "9" * 30])
def test_a_bad_after_is_a_clear_400(writer, device, trace, after):
    response = client_for(writer).get(reverse("tracing:trace-logs", args=[device.asset_id, trace.pk]),
                                      {"after": after})
    assert response.status_code == 400
    assert "sequence number" in response.content.decode()


@pytest.mark.parametrize(("who", "expected"), [("viewer", 200), ("outsider", 404)])
def test_the_gap_fill_goes_through_the_same_door(cast, device, trace, who, expected):
    send(device)
    response = client_for(cast[who]).get(reverse("tracing:trace-logs", args=[device.asset_id, trace.pk]),
                                         {"after": 0})
    assert response.status_code == expected


def test_a_pushed_log_renders_as_the_page_renders_it(writer, device, trace):
    send(device, "login", outcome="error", code=742, message="sign <check> failed",
         payload={"deviceKey": "k", "sign": "0123abcd"})
    log = TraceLog.objects.get(trace=trace)
    [from_page] = render_rows([log])
    [from_push] = render_rows([log_from_json(services.log_json(log))])
    assert from_page == from_push
    assert 'data-seq="1"' in from_page and 'data-method="login"' in from_page and 'data-outcome="error"' in from_page
    assert f'<time datetime="{utc(log.time)}" title="UTC (UTC+00:00)" data-time-format="log">' in from_page
    assert "sign &lt;check&gt; failed" in from_page and "0123abcd" not in from_page


def test_the_status_line_says_how_a_trace_ended(writer, device, trace):
    active = render_status(services.trace_json(trace))
    assert active.startswith("Tracing since <time datetime=") and "(started by writer)" in active
    assert f'datetime="{utc(trace.expires_at)}"' in active and " UTC</time>" in active
    labels = {StopReason.STOPPED: "was stopped at", StopReason.EXPIRED: "expired at",
              StopReason.DELETED: "the device was deleted", StopReason.MIGRATED: "migrated to another OU"}
    for reason, words in labels.items():
        MessageTrace.objects.filter(pk=trace.pk).update(stopped_at=now(), stop_reason=reason)
        trace.refresh_from_db()
        line = render_status(services.trace_json(trace))
        assert words in line and "Its logs stay under Past traces." in line
    assert render_status(None) == "No message trace is running for this device."


def test_the_tab_names_the_zone_of_its_times_and_offers_the_live_controls(writer, device, trace):
    send(device)
    services.stop_trace(writer, trace)
    services.start_trace(writer, device, timedelta(minutes=5))
    page = client_for(writer).get(reverse("tracing:device-tracing", args=[device.asset_id])).content.decode()
    assert page.count('<span class="zone-name">(UTC)</span>') == 3  # the live table, Started and Ended
    assert 'data-time-format="table"' in page and 'data-time-format="datetime"' in page
    for control in ('id="trace-filter"', 'name="method"', 'name="outcome"', 'id="pause-logs"', 'id="trace-live"',
                    'data-empty-when="waiting"', 'data-trace="active"', 'data-rows="none"'):
        assert control in page
    assert "Waiting for messages" in page and 'hx-ext="ws"' in page
    assert 'style="' not in page and " onclick" not in page


def test_the_tab_shows_its_times_in_the_users_zone(writer, device, trace):
    send(device)
    services.stop_trace(writer, trace)
    set_time_zone(writer, writer, "America/New_York")
    page = client_for(writer).get(reverse("tracing:device-tracing", args=[device.asset_id])).content.decode()
    assert page.count('<span class="zone-name">(America/New_York)</span>') == 3
    trace.refresh_from_db()
    assert 'data-time-zone="America/New_York" data-time-zone-source="profile"' in page
    started = trace.started_at.astimezone(ZoneInfo("America/New_York"))
    assert f">{started:%Y-%m-%d %H:%M:%S}</time>" in page  # the Past traces table
    assert f'title="America/New_York (UTC{started:%z}'[:-2] + ":" + f"{started:%z}"[-2:] + ')"' in page


def test_a_past_traces_page_says_how_it_ended_in_the_shared_words(writer, device, trace):
    send(device)
    services.stop_trace(writer, trace)
    page = client_for(writer).get(reverse("tracing:trace-logs", args=[device.asset_id, trace.pk])).content.decode()
    assert "The message trace was stopped at <time datetime=" in page and "Past traces" not in page
    assert "1 log." in page
