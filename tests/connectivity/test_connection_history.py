"""Every session of a device is kept with the reason it ended, each reason recorded by driving the real
path that ends sessions: the device closing, keep-alive loss, a disable or secret reset kick, a newer
login, the heartbeat sweep, a broker restart, a gateway going offline, a migration; and the retention."""

from __future__ import annotations

import datetime as dt

import pytest
from channels.db import database_sync_to_async
from django.utils.timezone import now

from assets import services as asset_services
from assets.models import Device
from connectivity import history, services, tasks
from connectivity import protocol as p
from connectivity.models import ConnectionRecord, DeviceSession, EndReason, Transport
from tests.waiting import wait_for

from .conftest import device_socket, login_message, run
from .fakes import connect
from .mqtt_client import PahoDevice
from .test_emqx import TOKEN, connected, post

pytestmark = pytest.mark.django_db(transaction=True)


def records(device: Device) -> list[tuple[str, bool]]:
    """The device's records, oldest first: (end reason, still open)."""
    return [(r.end_reason, r.ended_at is None)
            for r in ConnectionRecord.objects.filter(device=device).order_by("started_at", "id")]


def test_a_device_that_closes_its_connection_leaves_a_closed_record(device):
    async def scenario():
        async with device_socket(device):
            record = await ConnectionRecord.objects.aget(device=device)
            assert record.ended_at is None and record.end_reason == ""
            assert record.transport == Transport.WEBSOCKET and record.ou_id == device.ou_id

    run(scenario)
    record = ConnectionRecord.objects.get(device=device)
    assert record.end_reason == EndReason.CLOSED
    assert record.ended_at is not None and record.duration >= dt.timedelta(0)
    device.refresh_from_db()
    assert record.ended_at == device.last_offline_at  # written in the same transaction, with the same stamp


def test_a_silent_device_ends_with_keepalive_lost(device):
    async def scenario():
        login = await database_sync_to_async(login_message)(device, keepAlive=1)
        async with device_socket(login=login) as (socket, _):
            assert (await socket.closed(timeout=10))["code"] == 4008

    run(scenario)
    assert records(device) == [(EndReason.KEEPALIVE, False)]


def test_disabling_a_connected_device_ends_its_record_as_disabled(device, writer):
    async def scenario():
        async with device_socket(device) as (socket, _):
            await database_sync_to_async(asset_services.disable_device)(writer, device)
            assert (await socket.closed())["code"] == 4003

    run(scenario)
    assert records(device) == [(EndReason.DISABLED, False)]


def test_a_secret_reset_ends_the_record_as_secret_reset(device, writer):
    async def scenario():
        async with device_socket(device) as (socket, _):
            await database_sync_to_async(asset_services.reset_secret)(writer, device)
            assert (await socket.closed())["code"] == 4003

    run(scenario)
    assert records(device) == [(EndReason.SECRET_RESET, False)]


def test_a_new_login_replaces_the_older_record_and_the_late_close_changes_nothing(device):
    async def scenario():
        async with device_socket(device) as (first, _), device_socket(device):
            assert (await first.closed())["code"] == 4004
            assert await database_sync_to_async(records)(device) == [(EndReason.REPLACED, False), ("", True)]

    run(scenario)
    assert records(device) == [(EndReason.REPLACED, False), (EndReason.CLOSED, False)]
    older, newer = ConnectionRecord.objects.filter(device=device).order_by("started_at", "id")
    assert older.ended_at == newer.started_at  # no gap, no overlap


def test_the_heartbeat_sweep_ends_the_records_of_a_dead_process_as_server_lost(device, gateway):
    asset_services.add_sub_devices(gateway.ou.owner, gateway, [device])
    session = connect(gateway)
    services.open_session(Device.objects.select_related("product").get(pk=device.pk), Transport.WEBSOCKET,
                          via=session)
    DeviceSession.objects.update(seen_at=now() - dt.timedelta(hours=1))
    assert tasks.end_stale_sessions() == 2
    assert records(gateway) == [(EndReason.SERVER_LOST, False)]
    assert records(device) == [(EndReason.SERVER_LOST, False)]
    assert ConnectionRecord.objects.get(device=device).via_gateway is True


def test_a_broker_restarting_after_a_crash_ends_its_records_as_server_lost(device):
    services.open_session(Device.objects.select_related("product").get(pk=device.pk), Transport.MQTT,
                          client_ip="192.0.2.7")
    assert services.forget_sessions(Transport.MQTT) == 1
    record = ConnectionRecord.objects.get(device=device)
    assert (record.end_reason, record.transport, record.client_address) == (EndReason.SERVER_LOST, "mqtt",
                                                                             "192.0.2.7")


def test_sub_devices_end_with_their_gateway_and_a_logout_is_closed_by_the_device(gateway, device, product):
    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                  attributes={"serial": "SN-2"})
    asset_services.add_sub_devices(gateway.ou.owner, gateway, [device, other])
    first, second = (p.login_params(d.product.product_key, d.device_key, d.device_secret) for d in (device, other))

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            assert (await socket.call(p.COMBINE_LOGIN, first))["code"] == 200
            assert (await socket.call(p.COMBINE_LOGIN, first))["code"] == 200  # again: the same session goes on
            assert (await socket.call(p.COMBINE_LOGIN, second))["code"] == 200
            logout = {"productKey": second["productKey"], "deviceKey": second["deviceKey"]}
            assert (await socket.call(p.COMBINE_LOGOUT, logout))["code"] == 200

    run(scenario)
    assert records(gateway) == [(EndReason.CLOSED, False)]
    assert records(device) == [(EndReason.GATEWAY_OFFLINE, False)]
    assert records(other) == [(EndReason.CLOSED, False)]


def test_disabling_a_sub_device_ends_only_its_record(gateway, device):
    asset_services.add_sub_devices(gateway.ou.owner, gateway, [device])
    params = p.login_params(device.product.product_key, device.device_key, device.device_secret)
    owner = device.ou.owner

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            assert (await socket.call(p.COMBINE_LOGIN, params))["code"] == 200
            await database_sync_to_async(asset_services.disable_device)(owner, device)
            assert (await socket.receive())["method"] == p.COMBINE_DISABLE
            assert await database_sync_to_async(records)(gateway) == [("", True)]

    run(scenario)
    assert records(device) == [(EndReason.DISABLED, False)]


def test_a_migration_ends_the_record_in_the_source_and_goes_on_in_the_target(device, acme, globex):
    connect(device)
    stamp = ConnectionRecord.objects.get(device=device).started_at
    assert history.move_records([device.pk], acme.pk, globex.pk) == 1
    source, target = ConnectionRecord.objects.filter(device=device).order_by("started_at", "id")
    assert (source.ou_id, source.end_reason, source.started_at) == (acme.pk, EndReason.MIGRATED, stamp)
    assert (target.ou_id, target.end_reason, target.ended_at) == (globex.pk, "", None)
    assert target.started_at == source.ended_at and target.session_id == source.session_id
    assert history.move_records([device.pk], acme.pk, globex.pk) == 0  # nothing left open in the source


def test_the_close_paths_words_map_to_their_reasons():
    assert history.end_reason("connection closed") == EndReason.CLOSED
    assert history.end_reason(services.STALE_REASON) == EndReason.SERVER_LOST
    assert history.end_reason("broker stopped") == EndReason.SERVER_SHUTDOWN
    assert history.end_reason("disconnected (keepalive_timeout)") == EndReason.KEEPALIVE
    assert history.end_reason("disconnected (takenover)") == EndReason.REPLACED
    assert history.end_reason("something new") == EndReason.OTHER


def test_records_past_the_retention_are_deleted_in_batches_and_open_ones_stay(device, settings):
    settings.CONNECTION_HISTORY_DAYS = 90
    at = now()

    def record(started_days_ago: float, ended_days_ago: float | None) -> ConnectionRecord:
        return ConnectionRecord(device=device, ou=device.ou, session_id="s", transport="websocket",
                                started_at=at - dt.timedelta(days=started_days_ago),
                                ended_at=None if ended_days_ago is None else at - dt.timedelta(days=ended_days_ago),
                                end_reason="" if ended_days_ago is None else EndReason.CLOSED)

    ConnectionRecord.objects.bulk_create([record(100 + i / 10, 99 + i / 10) for i in range(25)]
                                         + [record(95, 89), record(120, None)])
    assert history.purge_old_records(dt.timedelta(days=90), batch=10) == 25
    assert ConnectionRecord.objects.count() == 2
    assert tasks.purge_connection_history() == 0
    settings.CONNECTION_HISTORY_DAYS = 30
    assert tasks.purge_connection_history() == 1
    assert list(ConnectionRecord.objects.values_list("ended_at", flat=True)) == [None]


def test_a_session_behind_emqx_keeps_its_peer_address_and_emqxs_reason(client, device, settings):
    settings.EMQX_WEBHOOK_TOKEN = TOKEN
    creds = connected(client, device)
    event = {"event": "client.disconnected", "clientid": creds["clientid"], "username": creds["username"],
             "reason": "keepalive_timeout", "disconnected_at": p.now_ms() + 1000, "node": "emqx@10.0.0.1"}
    assert post(client, "webhook", event).json() == {"handled": True}
    record = ConnectionRecord.objects.get(device=device)
    assert (record.transport, record.client_address, record.end_reason) == ("emqx", "10.0.0.7", EndReason.KEEPALIVE)


@pytest.mark.integration
def test_a_session_on_the_portals_mqtt_broker_is_kept_with_its_address(settled_mqtt_broker, device):
    client = PahoDevice(settled_mqtt_broker, device.product.product_key, device.device_key, device.device_secret)
    assert client.connect() == 0
    wait_for(lambda: ConnectionRecord.objects.filter(device=device).exists())
    client.close()
    wait_for(lambda: ConnectionRecord.objects.filter(device=device, ended_at__isnull=False).exists())
    record = ConnectionRecord.objects.get(device=device)
    assert (record.transport, record.client_address, record.end_reason) == ("mqtt", "127.0.0.1", EndReason.CLOSED)
