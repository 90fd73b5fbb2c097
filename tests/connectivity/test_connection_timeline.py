"""The Connectivity tab and the history API: availability over periods (fixed times, sessions across the
period's edges), the timeline's bands, a constant number of queries however long the history, the
sessions API's shape, filters and OU isolation, and the history's split at a real migration."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from accounts import sms
from connectivity import timeline
from connectivity.models import ConnectionRecord, EndReason
from tests.assets.api.helpers import api_client_for, assert_error, results
from tests.conftest import client_for

from .fakes import connect
from .test_history_after_migration import move

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def h(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def add_sessions(device, spans: list[tuple[float, float | None]], *, end: dt.datetime | None = None,
                 reason: str = EndReason.CLOSED) -> None:
    """Records of `device` at hour offsets from `end` (default now): (start, end or None while open)."""
    base = (end or now())
    type(device).objects.filter(pk=device.pk).update(created_at=base - dt.timedelta(days=100))
    device.refresh_from_db()
    ConnectionRecord.objects.bulk_create([ConnectionRecord(
        device=device, ou=device.ou, session_id=f"s{i}", transport="websocket", client_address="198.51.100.4",
        started_at=base + dt.timedelta(hours=s), ended_at=None if e is None else base + dt.timedelta(hours=e),
        end_reason="" if e is None else reason) for i, (s, e) in enumerate(spans)])


# --- availability and bands, fixed times ----------------------------------------------------------------

def test_sessions_are_clipped_to_the_period_and_merged_where_they_touch():
    rows = [(h(-5), h(1)), (h(2), h(3)), (h(3), h(4)), (h(10), None)]
    assert timeline.merge(rows, h(0), h(24), at=h(12)) == [(h(0), h(1)), (h(2), h(4)), (h(10), h(12))]


def test_availability_counts_only_the_part_of_each_session_inside_each_period(device):
    # one session across the day's start, one open since 6 h, one across the month's start (the running record)
    add_sessions(device, [(-24 * 40, -24 * 29.5), (-30, -18), (-6, None)], end=h(0))
    running = timeline.running_at(device, h(-24 * 30))
    assert timeline.shares(device, h(0), running) == {
        "day": 50.0,  # 6 h + 6 h of 24
        "week": round(100 * 18 / 168, 2),  # 12 h + 6 h
        "month": round(100 * 30 / 720, 2),  # 12 h before the month's start are not counted, 12 h inside are
    }


def test_availability_is_zero_without_sessions_and_an_open_session_counts_until_now(device):
    add_sessions(device, [], end=h(0))
    assert timeline.shares(device, h(0), []) == {"day": 0.0, "week": 0.0, "month": 0.0}
    add_sessions(device, [(-2, None)], end=h(0))
    assert timeline.shares(device, h(0), [])["day"] == round(100 * 2 / 24, 2)


def test_an_open_session_is_clipped_to_now_not_to_the_end_of_the_period():
    assert timeline.merge([(h(20), None)], h(0), h(24), at=h(22)) == [(h(20), h(22))]


def test_bands_are_placed_on_the_axis_and_near_ones_drawn_as_one():
    bands = timeline.bands([(h(0), h(6)), (h(12), h(12.001)), (h(12.002), h(18))], h(0), h(24), width=1000)
    assert [(b.x, b.width) for b in bands] == [(0.0, 250.0), (500.0, 250.0)]
    assert (bands[1].start, bands[1].end) == (h(12), h(18))
    tiny = timeline.bands([(h(1), h(1) + dt.timedelta(seconds=1))], h(0), h(24 * 30), width=1000)
    assert tiny[0].width == 0.2  # a one-second session in a month still shows


def test_the_records_of_a_period_are_those_started_in_it_and_the_one_running_at_its_start(device):
    add_sessions(device, [(-40, -30), (-26, -20), (-10, -9), (-1, None)], end=h(0))
    intervals = timeline.intervals_between(device, h(-24), h(0), at=h(0))
    assert intervals == [(h(-24), h(-20)), (h(-10), h(-9)), (h(-1), h(0))]


def test_a_device_younger_than_the_period_counts_from_its_creation(device):
    add_sessions(device, [(-6, None)])
    device.created_at = now() - dt.timedelta(hours=12)
    device.save(update_fields=["created_at"])
    result = timeline.device_timeline(device, "week")
    assert result.availability["day"] == pytest.approx(50.0, abs=0.1)
    assert result.availability["week"] == pytest.approx(50.0, abs=0.1)


# --- the Connectivity tab ----------------------------------------------------------------------------------

def tab(user, device, query: str = ""):
    return client_for(user).get(reverse("connectivity:device-connectivity", args=[device.asset_id]) + query)


def test_the_tab_draws_the_online_bands_and_lists_the_sessions(device, viewer):
    add_sessions(device, [(-40, -30), (-6, -3)], reason=EndReason.KEEPALIVE)
    connect(device)
    response = tab(viewer, device)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="online-band" x=') == 2  # the last day: the session 6 h ago and the open one
    assert 'aria-current="page">Connectivity<' in page.replace("\n", "")
    assert "Keep-alive lost" in page and "198.51.100.4" in page
    assert len(re.findall(r'<tr class="session', page)) == 3
    assert re.search(r'data-period="day"><span class="muted">Last day</span> <b>\d+(\.\d+)? %</b>', page)
    week = tab(viewer, device, "?period=week").content.decode()
    assert week.count('class="online-band" x=') == 3
    assert 'href="?period=week" aria-current="page"' in week
    assert tab(viewer, device, "?period=forever").status_code == 200  # an unknown period shows the default


def test_an_unused_device_says_it_has_no_sessions(device, viewer):
    page = tab(viewer, device).content.decode()
    assert "No sessions yet." in page and 'class="online-band" x=' not in page


def test_sessions_are_paged_newest_first(device, viewer):
    add_sessions(device, [(-i - 1, -i - 0.5) for i in range(30)])
    first = tab(viewer, device).content.decode()
    second = tab(viewer, device, "?period=day&page=2").content.decode()
    assert len(re.findall(r'<tr class="session', first)) == 20
    assert len(re.findall(r'<tr class="session', second)) == 10
    assert "Page 2 of 2" in second


def test_the_tab_reads_the_same_number_of_queries_for_ten_or_a_thousand_sessions(device, viewer, product):
    client = client_for(viewer)
    url = reverse("connectivity:device-connectivity", args=[device.asset_id])
    add_sessions(device, [(-i * 0.5 - 0.4, -i * 0.5 - 0.2) for i in range(10)])
    client.get(url)  # warm the session and permission caches
    with CaptureQueriesContext(connection) as few:
        assert client.get(url + "?period=month").status_code == 200
    add_sessions(device, [(-i * 0.6 - 0.4, -i * 0.6 - 0.2) for i in range(1000)])
    with CaptureQueriesContext(connection) as many:
        assert client.get(url + "?period=month").status_code == 200
    assert len(many) == len(few)


def test_another_ous_device_tab_is_a_404(device, globex_device, viewer):
    assert tab(viewer, globex_device).status_code == 404


# --- the API ---------------------------------------------------------------------------------------------------

def test_the_sessions_api_lists_newest_first_with_reasons_and_durations(device, viewer):
    add_sessions(device, [(-5, -4), (-2, None)], reason=EndReason.DISABLED)
    rows = results(api_client_for(viewer).get(f"/api/devices/{device.asset_id}/sessions/"))
    assert [r["endReason"] for r in rows] == ["", "disabled"]
    assert rows[0]["endedAt"] is None and rows[0]["durationSeconds"] is None
    assert rows[1]["durationSeconds"] == 3600.0
    assert set(rows[1]) == {"sessionId", "startedAt", "endedAt", "durationSeconds", "transport", "clientAddress",
                            "viaGateway", "endReason"}
    assert rows[1]["transport"] == "websocket" and rows[1]["clientAddress"] == "198.51.100.4"


def test_the_sessions_api_pages_and_filters_by_window(device, viewer):
    add_sessions(device, [(-i - 1, -i - 0.5) for i in range(30)], end=h(0))
    api = api_client_for(viewer)
    url = f"/api/devices/{device.asset_id}/sessions/"
    page = api.get(url, {"pageSize": 20}).json()
    assert len(page["results"]) == 20 and page["next"]
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 10 and rest["next"] is None
    window = results(api.get(url, {"since": h(-5.2).isoformat(), "until": h(-2.5).isoformat()}))
    # sessions overlapping [-5.2 h, -2.5 h): those started at -5 h .. -3 h, and the one ending at -5.5 h is out
    assert [r["startedAt"] for r in window] == [h(-3).isoformat().replace("+00:00", "Z"),
                                                h(-4).isoformat().replace("+00:00", "Z"),
                                                h(-5).isoformat().replace("+00:00", "Z")]


def test_bad_windows_and_periods_are_clear_400s(device, viewer):
    api = api_client_for(viewer)
    url = f"/api/devices/{device.asset_id}/"
    assert_error(api.get(url + "sessions/", {"since": "yesterday"}), 400, "validation_error")
    body = assert_error(api.get(url + "sessions/", {"since": h(1).isoformat(), "until": h(0).isoformat()}), 400)
    assert "until" in body["details"]
    assert_error(api.get(url + "availability/", {"period": "year"}), 400, "validation_error")


def test_the_availability_api_gives_each_period_and_the_online_intervals(device, viewer):
    add_sessions(device, [(-30, -18), (-6, None)])
    body = api_client_for(viewer).get(f"/api/devices/{device.asset_id}/availability/", {"period": "week"}).json()
    assert body["assetId"] == device.asset_id and body["period"] == "week"
    day, week, month = body["periods"]
    assert [day["period"], week["period"], month["period"]] == ["day", "week", "month"]
    assert day["availability"] == pytest.approx(50.0, abs=0.1)  # 6 h of the one before, 6 h of the open one
    assert len(body["intervals"]) == 2


def test_another_ous_device_history_is_a_404(device, globex_device, viewer):
    add_sessions(globex_device, [(-2, -1)])
    api = api_client_for(viewer)
    assert_error(api.get(f"/api/devices/{globex_device.asset_id}/sessions/"), 404)
    assert_error(api.get(f"/api/devices/{globex_device.asset_id}/availability/"), 404)


# --- a real migration ------------------------------------------------------------------------------------------

@pytest.fixture
def sms_to_memory(settings):
    settings.SMS_BACKEND = "accounts.sms.LocmemBackend"
    sms.outbox.clear()


def test_after_a_migration_each_ou_sees_only_its_part_of_the_history(device, writer, outsider, acme, globex,
                                                                     sms_to_memory, django_capture_on_commit_callbacks):
    add_sessions(device, [(-5, -4)])
    connect(device)
    move(writer, device, globex, django_capture_on_commit_callbacks)
    rows = results(api_client_for(outsider).get(f"/api/devices/{device.asset_id}/sessions/"))
    assert [(r["endReason"], r["endedAt"]) for r in rows] == [("", None)]  # the target: from the move on
    source = ConnectionRecord.objects.filter(device=device, ou=acme)
    assert sorted(source.values_list("end_reason", flat=True)) == [EndReason.CLOSED, EndReason.MIGRATED]
    assert ConnectionRecord.objects.visible_to(writer).count() == 0  # the device is gone from the source
