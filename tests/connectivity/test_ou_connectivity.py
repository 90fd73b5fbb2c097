"""The OU view of the connection history: devices online per hour (sessions spanning hours, open sessions,
a device counted once per hour however often it reconnects), the most flapping devices, OU and product
isolation, a bounded number of queries, the console page and the API."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils.timezone import now

from assets.models import Device, Product
from connectivity import ou_view, rollup
from connectivity.models import ConnectionRecord, FlappingDevice, OnlineHour
from tests.assets.api.helpers import api_client_for, assert_error
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)  # an hour's start


def h(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def sessions(device: Device, spans: list[tuple[float, float | None]], ou=None) -> None:
    """Records of `device` at hour offsets from T0: (start, end or None while open)."""
    ConnectionRecord.objects.bulk_create([ConnectionRecord(
        device=device, ou=ou or device.ou, session_id=f"s{i}", transport="websocket",
        started_at=h(s), ended_at=None if e is None else h(e), end_reason="" if e is None else "closed")
        for i, (s, e) in enumerate(spans)])


def counts(**filters) -> dict[dt.datetime, int]:
    series = ou_view.online_series(OnlineHour.objects.filter(**filters), "day", h(0.5))
    return {b.start: b.devices for b in series.buckets if b.devices}


@pytest.fixture
def second_device(product) -> Device:
    return Device.objects.create(ou=product.ou, product=product, name="Second", device_key="second-0001")


@pytest.fixture
def other_product(acme, thing_model) -> Product:
    return Product.objects.create(ou=acme, name="Other meter", model=thing_model)


@pytest.fixture
def other_device(other_product) -> Device:
    return Device.objects.create(ou=other_product.ou, product=other_product, name="Other", device_key="other-0001")


# --- counting -----------------------------------------------------------------------------------------

def test_a_session_counts_in_every_hour_it_overlaps_and_not_in_the_hour_it_ends_on(device):
    sessions(device, [(-5.5, -3)])  # 06:30 – 09:00: hours 06, 07, 08; not 09 (ended at its first instant)
    rollup.roll_up_hours(h(-8), h(0))
    assert counts() == {h(-6): 1, h(-5): 1, h(-4): 1}


def test_an_open_session_counts_up_to_the_current_hour(device):
    sessions(device, [(-2.5, None)])
    rollup.roll_up_hours(h(-4), h(0))
    assert counts() == {h(-3): 1, h(-2): 1, h(-1): 1, h(0): 1}


def test_a_device_reconnecting_within_an_hour_counts_once_and_devices_add_up(device, second_device):
    sessions(device, [(-3.9, -3.8), (-3.7, -3.5), (-3.2, -2.9)])  # three sessions in hour -4 .. one into -3
    sessions(second_device, [(-3.5, -3.4)])
    rollup.roll_up_hours(h(-6), h(0))
    assert counts() == {h(-4): 2, h(-3): 1}


def test_the_ou_chart_sums_its_products_and_a_product_chart_counts_its_own(device, other_device, product,
                                                                          other_product):
    sessions(device, [(-2, -1)])
    sessions(other_device, [(-2, 0.25)])
    rollup.roll_up_hours(h(-3), h(0))
    assert counts(ou=device.ou) == {h(-2): 2, h(-1): 1, h(0): 1}
    assert counts(product=product) == {h(-2): 1}
    assert counts(product=other_product) == {h(-2): 1, h(-1): 1, h(0): 1}


def test_another_ous_devices_are_not_counted(device, globex_device):
    sessions(device, [(-2, -1)])
    sessions(globex_device, [(-4, None)])
    rollup.roll_up_hours(h(-5), h(0))
    assert counts(ou=device.ou) == {h(-2): 1}
    assert counts(ou=globex_device.ou) == {h(-4): 1, h(-3): 1, h(-2): 1, h(-1): 1, h(0): 1}


def test_a_recount_replaces_the_hour_and_the_beat_catches_up_from_the_last_hour_counted(device):
    sessions(device, [(-30, None)])
    assert rollup.roll_up_recent(h(0.5)) == 2  # nothing counted yet: the previous and the current hour
    assert rollup.roll_up_recent(h(3.5)) == 4  # from hour 0 (the last counted) to hour 3
    assert rollup.roll_up_recent(h(3.6)) == 2
    assert OnlineHour.objects.filter(hour=h(3)).get().devices == 1
    assert rollup.roll_up_recent(h(200)) == rollup.CATCH_UP_HOURS + 1  # a long pause: bounded


def test_the_series_has_one_bucket_per_hour_ending_with_the_current_one(device):
    for period, hours in (("day", 24), ("week", 168), ("month", 720)):
        series = ou_view.online_series(OnlineHour.objects.all(), period, h(0.5))
        assert len(series.buckets) == hours
        assert (series.start, series.end) == (h(1 - hours), h(1))


def test_a_week_is_summarised_per_day_with_its_lowest_and_highest_hour(device, settings):
    settings.TIME_ZONE = "UTC"
    sessions(device, [(-24, -20)])
    rollup.roll_up_hours(h(-30), h(0))
    series = ou_view.online_series(OnlineHour.objects.all(), "week", h(0.5))
    rows = ou_view.summary_rows(series)
    assert len(rows) == 8  # 168 hours from 13:00 seven days ago to 12:00 today: eight calendar days
    assert [(r.low, r.high) for r in rows][-2:] == [(0, 1), (0, 0)]


def test_the_chart_is_a_step_path_scaled_to_a_round_top():
    series = ou_view.OnlineSeries("day", [ou_view.Bucket(h(i), n) for i, n in enumerate([0, 3, 6])])
    assert ou_view.axis_top(6) == 10 and ou_view.axis_top(0) == 1 and ou_view.axis_top(20) == 20
    assert ou_view.chart_path(series, 10, width=30, height=100) == "M0 100L0.0 100.0L10.0 100.0L10.0 70.0L20.0 70.0" \
                                                                 "L20.0 40.0L30.0 40.0L30 100Z"


# --- flapping -----------------------------------------------------------------------------------------

def test_the_most_flapping_devices_rank_by_sessions_started_in_the_period(device, second_device, other_device):
    sessions(device, [(-i - 0.5, -i - 0.4) for i in range(10)])  # 10 today
    sessions(second_device, [(-24 * 3 - i, -24 * 3 - i + 0.5) for i in range(30)])  # 30, three days ago
    sessions(other_device, [(-1, None)])
    rollup.rank_flapping(h(0))
    day = ou_view.most_flapping(FlappingDevice.objects.filter(ou=device.ou), "day")
    assert [(f.device, f.sessions) for f in day] == [(device, 10), (other_device, 1)]
    week = ou_view.most_flapping(FlappingDevice.objects.filter(ou=device.ou), "week")
    assert [(f.device, f.sessions, f.per_day) for f in week][:2] == [
        (second_device, 30, round(30 / 7, 2)), (device, 10, round(10 / 7, 2))]


def test_a_migrated_device_leaves_the_flapping_list_of_its_former_ou(device, globex, writer):
    sessions(device, [(-1, -0.5), (-0.4, -0.2)])
    rollup.rank_flapping(h(0))
    Device.objects.filter(pk=device.pk).update(ou=globex)
    assert not FlappingDevice.objects.visible_to(writer).exists()


# --- the console page and the API ----------------------------------------------------------------------

@pytest.fixture
def history(device, second_device, other_device, globex_device) -> None:
    at = now()
    for d, spans in ((device, [(-5, -4), (-3, None)]), (second_device, [(-2, -1)]), (other_device, [(-30, None)]),
                     (globex_device, [(-6, None)])):
        ConnectionRecord.objects.bulk_create([ConnectionRecord(
            device=d, ou=d.ou, session_id=f"s{i}", transport="websocket", started_at=at + dt.timedelta(hours=s),
            ended_at=None if e is None else at + dt.timedelta(hours=e)) for i, (s, e) in enumerate(spans)])
    rollup.roll_up_hours(at - dt.timedelta(hours=40), at)
    rollup.rank_flapping(at)


PAGE = reverse("connectivity:ou-connectivity")


def test_the_page_draws_the_chart_and_lists_the_flapping_devices_in_a_few_queries(
        history, viewer, device, django_assert_max_num_queries):
    client = client_for(viewer)
    client.get(PAGE)  # the session's OU
    for period in ("day", "week", "month"):
        with django_assert_max_num_queries(8):  # the same 8 at any number of devices and sessions
            response = client.get(PAGE, {"period": period})
        assert response.status_code == 200
        html = response.content.decode()
        assert 'class="online-area"' in html and '<table' in html
        assert reverse("connectivity:device-connectivity", args=[device.asset_id]) in html


def test_the_product_selector_narrows_the_chart_and_the_list(history, viewer, product, other_device):
    response = client_for(viewer).get(PAGE, {"product": product.product_key})
    assert response.status_code == 200
    assert response.context["series"].now.devices == 1  # device only (second_device ended an hour ago)
    assert other_device.asset_id not in response.content.decode()
    assert client_for(viewer).get(PAGE, {"product": "nope", "period": "year"}).status_code == 200  # the whole OU


def test_the_outsider_sees_only_their_own_ou(history, outsider, device, globex_device):
    response = client_for(outsider).get(PAGE)
    html = response.content.decode()
    assert device.asset_id not in html and globex_device.asset_id in html
    assert response.context["series"].now.devices == 1


def test_the_api_counts_online_devices_per_hour_of_the_ous_the_user_sees(history, viewer, outsider, acme, product):
    body = api_client_for(viewer).get("/api/connectivity/online/", {"period": "day"}).json()
    assert len(body["buckets"]) == 24 and body["bucketSeconds"] == 3600
    assert body["buckets"][-1]["devicesOnline"] == 2  # device and other_device
    one = api_client_for(viewer).get("/api/connectivity/online/",
                                     {"ou": acme.ou_id, "productKey": product.product_key}).json()
    assert one["buckets"][-1]["devicesOnline"] == 1
    assert_error(api_client_for(outsider).get("/api/connectivity/online/", {"ou": acme.ou_id}), 400)
    assert_error(api_client_for(outsider).get("/api/connectivity/online/", {"productKey": product.product_key}), 400)
    assert_error(api_client_for(viewer).get("/api/connectivity/online/", {"period": "year"}), 400)
    assert api_client_for(outsider).get("/api/connectivity/online/").json()["buckets"][-1]["devicesOnline"] == 1


def test_the_api_lists_the_flapping_devices(history, viewer, outsider, device, django_assert_max_num_queries):
    client = api_client_for(viewer)
    with django_assert_max_num_queries(6):
        body = client.get("/api/connectivity/flapping/", {"period": "day", "limit": 2}).json()
    assert [row["assetId"] for row in body["results"]][:1] == [device.asset_id]
    assert body["results"][0]["sessions"] == 2 and len(body["results"]) == 2
    assert device.asset_id not in str(api_client_for(outsider).get("/api/connectivity/flapping/").json())
    assert_error(client.get("/api/connectivity/flapping/", {"limit": 0}), 400)


# --- the beat and the command --------------------------------------------------------------------------

def test_the_beat_tasks_and_the_command_fill_the_roll_ups(device, settings):
    from django.core.management import call_command

    from connectivity import tasks

    at = now()
    ConnectionRecord.objects.create(device=device, ou=device.ou, session_id="s", transport="websocket",
                                    started_at=at - dt.timedelta(days=3))
    assert tasks.roll_up_online_devices() == 2
    assert tasks.rank_flapping_devices() == 2  # the week's and the month's
    call_command("roll_up_connectivity", "--days", "2", stdout=io.StringIO())
    assert OnlineHour.objects.count() == 49
    OnlineHour.objects.filter(hour=rollup.hour_of(at)).update(hour=at - dt.timedelta(days=200))
    tasks.purge_connection_history()
    assert OnlineHour.objects.count() == 48
