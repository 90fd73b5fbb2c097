"""Sessions of a server process that died: its heartbeat stops, the beat sweep ends them, devices go offline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils.timezone import now

from assets import services as asset_services
from assets.models import Device, DeviceStatus
from connectivity import services, tasks
from connectivity.handlers import base as handler_base
from connectivity.heartbeat import heartbeat
from connectivity.models import DeviceSession, Transport

from .conftest import device_socket, run
from .fakes import connect

pytestmark = pytest.mark.django_db(transaction=True)


def age(device: Device, seconds: float) -> None:
    DeviceSession.objects.filter(device=device).update(seen_at=now() - dt.timedelta(seconds=seconds))


@pytest.fixture
def traces(monkeypatch) -> list:
    recorded: list = []
    monkeypatch.setattr(handler_base, "record_message", recorded.append)
    return recorded


def test_a_session_not_touched_for_three_beats_ends_and_its_device_goes_offline(device, traces):
    connect(device)
    age(device, 181)
    assert tasks.end_stale_sessions() == 1  # the default heartbeat: 60 s
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE and device.last_offline_at is not None
    assert not DeviceSession.objects.exists()
    assert [(t.method, t.message) for t in traces if t.method == "offline"] == [("offline", services.STALE_REASON)]


def test_a_recently_touched_session_stays(device):
    connect(device)
    age(device, 179)
    assert tasks.end_stale_sessions() == 0
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE


def test_a_gateways_sub_devices_end_with_it_and_touching_keeps_them_all(gateway, device, traces):
    asset_services.add_sub_devices(gateway.ou.owner, gateway, [device])
    session = connect(gateway)
    services.open_session(Device.objects.select_related("product").get(pk=device.pk), Transport.WEBSOCKET,
                          via=session)
    DeviceSession.objects.update(seen_at=now() - dt.timedelta(hours=1))
    assert services.touch_sessions([session.session_id]) == 2
    assert services.end_stale_sessions(dt.timedelta(minutes=3)) == 0
    DeviceSession.objects.update(seen_at=now() - dt.timedelta(hours=1))
    assert services.end_stale_sessions(dt.timedelta(minutes=3)) == 2
    assert not Device.objects.filter(online=True).exists()
    assert {t.method for t in traces if t.message.endswith(services.STALE_REASON)} == {"offline", "combine.logout"}


def test_emqx_sessions_are_left_to_emqx_webhooks(device):
    services.open_session(Device.objects.select_related("product").get(pk=device.pk), Transport.EMQX)
    age(device, 3600)
    assert services.end_stale_sessions(dt.timedelta(minutes=3)) == 0


def test_a_live_websocket_connection_beats_for_its_session_until_it_closes(device):
    async def scenario():
        async with device_socket(device):
            session_id = await DeviceSession.objects.values_list("session_id", flat=True).aget(device=device)
            assert session_id in heartbeat.session_ids
            await DeviceSession.objects.filter(device=device).aupdate(seen_at=now() - dt.timedelta(hours=1))
            assert await heartbeat.beat() == 1
            assert (await DeviceSession.objects.aget(device=device)).seen_at > now() - dt.timedelta(minutes=1)
        assert session_id not in heartbeat.session_ids

    run(scenario)


def test_celery_beat_runs_the_sweep():
    entry = settings.CELERY_BEAT_SCHEDULE["connectivity-end-stale-sessions"]
    assert entry["task"] == "connectivity.tasks.end_stale_sessions"


def stale_devices(product, count: int, start: int) -> list[int]:
    """`count` devices of the product online, each held by a websocket session not touched for an hour."""
    from connectivity.models import ConnectionRecord

    stamp = now() - dt.timedelta(hours=1)
    devices = Device.objects.bulk_create([Device(ou=product.ou, product=product, device_key=f"stale-{start + i:04d}",
                                                 name=f"Stale {i}", online=True, activated_at=stamp,
                                                 last_online_at=stamp) for i in range(count)])
    DeviceSession.objects.bulk_create([DeviceSession(device=d, session_id=f"s{d.pk}", transport=Transport.WEBSOCKET,
                                                     connected_at=stamp, seen_at=stamp) for d in devices])
    ConnectionRecord.objects.bulk_create([ConnectionRecord(device=d, ou=d.ou, session_id=f"s{d.pk}",
                                                           transport=Transport.WEBSOCKET, started_at=stamp)
                                          for d in devices])
    return [d.pk for d in devices]


@pytest.mark.django_db  # no transaction of its own needed: the kicks are captured on commit
def test_ending_stale_sessions_costs_the_same_queries_for_3_or_30_devices(product, writer, monkeypatch,
                                                                             django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from connectivity.models import ConnectionRecord, EndReason
    from observability import services as alert_services
    from observability.models import AlertTimer

    kicked: list[int] = []
    monkeypatch.setattr("connectivity.bus.kick", lambda ids, reason, code: kicked.extend(ids))
    alert_services.create_rule(writer, product.ou, name="Offline", kind="offline_for", minutes=5,
                               emails=["ops@example.com"])
    alert_services.create_rule(writer, product.ou, name="Meters offline", kind="offline_for", minutes=1,
                               scope="product", product=product, emails=["ops@example.com"])
    counts = []
    for size, start in ((1, 0), (3, 100), (30, 200)):  # the first loads the OU's rules into the cache
        ids = stale_devices(product, size, start)
        with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
            assert services.end_stale_sessions(dt.timedelta(minutes=3)) == size
        counts.append(len(queries))
        assert not Device.objects.filter(pk__in=ids, online=True).exists()
        assert Device.objects.filter(pk__in=ids, last_offline_at__isnull=False).count() == size
        assert ConnectionRecord.objects.filter(device_id__in=ids, end_reason=EndReason.SERVER_LOST,
                                               ended_at__isnull=False).count() == size
        assert AlertTimer.objects.filter(device_id__in=ids).count() == 2 * size  # one per rule and device
        assert sorted(kicked[-size:]) == ids
    assert counts[1] == counts[2], counts
    assert not DeviceSession.objects.exists()


@pytest.mark.django_db
def test_stale_sessions_end_in_chunks(product, monkeypatch):
    from connectivity.handlers import session as session_handlers

    monkeypatch.setattr(session_handlers, "STALE_CHUNK", 4)
    ids = stale_devices(product, 9, 0)
    assert services.end_stale_sessions(dt.timedelta(minutes=3)) == 9
    assert not Device.objects.filter(pk__in=ids, online=True).exists()
    assert not DeviceSession.objects.exists()
