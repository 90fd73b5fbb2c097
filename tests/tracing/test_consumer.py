"""The live trace socket through the real ASGI stack (origin check, session auth): who may watch,
what is pushed (in seq order, enough to detect and fill a gap), and when the socket is closed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils.timezone import now

from accounts.models import Membership, User
from accounts.services import remove_membership
from enos_portal.asgi import application
from tests.assets.api.helpers import api_client_for
from tracing import services
from tracing.models import MessageTrace

from .conftest import send

pytestmark = pytest.mark.django_db(transaction=True)


def headers_for(user: User | None, origin: bytes = b"http://testserver") -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", origin)]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


def socket(headers: list, asset_id: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/devices/{asset_id}/trace/", headers=headers)


async def next_event(communicator: WebsocketCommunicator, kind: str, timeout: float = 3) -> dict[str, Any]:
    while True:
        event = await communicator.receive_json_from(timeout=timeout)
        if event["type"] == kind:
            return event


async def seqs_until(communicator: WebsocketCommunicator, last: int) -> list[int]:
    seen: list[int] = []
    while not seen or seen[-1] < last:
        event = await next_event(communicator, "logs")
        seen += [log["seq"] for log in event["logs"]]
    return seen


def records(device: Any, count: int):
    return database_sync_to_async(lambda: [send(device, payload={"n": n}) for n in range(count)])


# --- who may watch ------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["writer", "viewer"])
def test_members_who_see_the_device_may_watch(cast, device, role):
    headers = headers_for(cast[role])

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        connected, _ = await communicator.connect()
        assert connected
        assert await communicator.receive_json_from() == {
            "type": "hello", "trace": None, "status": "No message trace is running for this device."}
        await communicator.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize("role", ["outsider", "anonymous"])
def test_others_are_refused_before_the_handshake_completes(cast, device, role):
    headers = headers_for(cast[role])

    async def scenario() -> None:
        connected, _ = await socket(headers, device.asset_id).connect()
        assert not connected

    async_to_sync(scenario)()


def test_an_unknown_device_and_a_foreign_origin_are_refused(writer, device):
    good, foreign = headers_for(writer), headers_for(writer, origin=b"http://evil.example")

    async def scenario() -> None:
        assert not (await socket(good, "no-such-device").connect())[0]
        assert not (await socket(foreign, device.asset_id).connect())[0]

    async_to_sync(scenario)()


# --- what is pushed -------------------------------------------------------------------------------

def test_a_trace_is_pushed_live_in_seq_order_until_it_is_stopped(writer, viewer, device):
    headers = headers_for(viewer)

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        await next_event(communicator, "hello")
        trace = await database_sync_to_async(services.start_trace)(writer, device, timedelta(minutes=1))
        started = await next_event(communicator, "started")
        assert started["trace"]["id"] == trace.pk and started["trace"]["active"]
        assert started["trace"]["startedBy"] == "writer"
        assert "Tracing since" in started["status"] and "(started by writer)" in started["status"]

        await records(device, 30)()
        assert await seqs_until(communicator, 30) == list(range(1, 31))

        await database_sync_to_async(services.stop_trace)(writer, trace)
        ended = await next_event(communicator, "ended")
        assert ended["trace"]["stopReason"] == "stopped" and not ended["trace"]["active"]
        assert "The message trace was stopped at <time" in ended["status"]
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_pushed_log_carries_what_the_page_shows(writer, device, trace):
    headers = headers_for(writer)

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        hello = await next_event(communicator, "hello")
        assert hello["trace"]["id"] == trace.pk and hello["trace"]["lastSeq"] == 0
        await database_sync_to_async(send)(device, "login", outcome="error", code=742, message="sign check failed",
                                           payload={"deviceKey": "inv-0001", "sign": "0123abcd"})
        event = await next_event(communicator, "logs")
        assert event["trace"] == trace.pk
        [log] = event["logs"]
        assert log["seq"] == 1 and log["method"] == "login" and log["outcome"] == "error" and log["code"] == 742
        assert log["message"] == "sign check failed" and log["direction"] == "up"
        assert log["payload"] == {"deviceKey": "inv-0001", "sign": "***"}
        assert log["time"].endswith("Z")
        # the row, as the page renders it: the page builds none itself
        row = log["html"]
        assert row.startswith('<tr data-seq="1" data-method="login" data-outcome="error"')
        assert "sign check failed" in row and "742" in row and "0123abcd" not in row and "&quot;***&quot;" in row
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_page_that_missed_logs_learns_the_last_seq_and_refills_the_gap(writer, device, trace):
    headers = headers_for(writer)
    api = api_client_for(writer)

    async def scenario() -> int:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        await next_event(communicator, "hello")
        await records(device, 3)()
        shown = await seqs_until(communicator, 3)
        await communicator.disconnect()
        await records(device, 4)()  # nobody listening: these never reach this page
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        hello = await next_event(communicator, "hello")
        await communicator.disconnect()
        assert hello["trace"]["lastSeq"] == 7
        return shown[-1]

    last_shown = async_to_sync(scenario)()
    body = api.get(f"/api/traces/{trace.pk}/logs/", {"after": last_shown}).json()
    assert [log["seq"] for log in body["results"]] == [4, 5, 6, 7]
    assert [log["payload"]["n"] for log in body["results"]] == [0, 1, 2, 3]


def test_the_sweep_tells_watchers_the_trace_expired(viewer, device, trace):
    headers = headers_for(viewer)
    MessageTrace.objects.filter(pk=trace.pk).update(expires_at=now() - timedelta(seconds=1))

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        hello = await next_event(communicator, "hello")
        assert hello["trace"]["active"] is False  # past its time, whether or not swept
        assert await database_sync_to_async(services.close_expired_traces)() == 1
        ended = await next_event(communicator, "ended")
        assert ended["trace"]["stopReason"] == "expired"
        assert "The message trace expired at" in ended["status"]
        await communicator.disconnect()

    async_to_sync(scenario)()


# --- losing access closes the socket --------------------------------------------------------------

async def closed_with(communicator: WebsocketCommunicator) -> int:
    await next_event(communicator, "access_lost")
    output = await communicator.receive_output(timeout=3)
    assert output["type"] == "websocket.close"
    return output["code"]


def test_migrating_the_device_away_closes_the_source_ous_sockets(writer, device, trace, globex, settings):
    from assets.migration import services as migration
    from tests.assets.migration.helpers import send as send_code
    from tests.assets.migration.helpers import start as start_migration

    settings.SMS_BACKEND = "accounts.sms.LocmemBackend"
    headers = headers_for(writer)

    def migrate() -> None:
        request = start_migration(writer, [device], globex)
        migration.confirm_migration(writer, request.pk, send_code(request))

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        await next_event(communicator, "hello")
        await database_sync_to_async(migrate)()
        ended = await next_event(communicator, "ended")
        assert ended["trace"]["stopReason"] == "migrated"
        assert await closed_with(communicator) == 4403

    async_to_sync(scenario)()


def test_removing_the_membership_closes_the_socket_at_once(viewer, acme, device):
    headers = headers_for(viewer)
    membership = Membership.objects.select_related("ou__owner").get(user=viewer, ou=acme)

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        await next_event(communicator, "hello")
        await database_sync_to_async(remove_membership)(membership.ou.owner, membership)
        assert await closed_with(communicator) == 4403

    async_to_sync(scenario)()


def test_access_is_rechecked_periodically(settings, viewer, device):
    settings.TRACE_ACCESS_RECHECK_SECONDS = 0.2
    headers = headers_for(viewer)

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        await next_event(communicator, "hello")
        # a change no signal announces (here: the account is deactivated)
        await database_sync_to_async(User.objects.filter(pk=viewer.pk).update)(is_active=False)
        assert await closed_with(communicator) == 4403

    async_to_sync(scenario)()


def test_the_socket_tells_the_page_where_the_trace_stands_so_a_lost_last_push_is_filled(
        settings, monkeypatch, viewer, device, trace):
    """A push the channel layer loses with no later log behind it leaves no seq gap: the periodic
    sync carries the trace's last seq, which the page compares with what it shows."""
    settings.TRACE_SYNC_SECONDS = 0.2
    headers = headers_for(viewer)
    monkeypatch.setattr(services, "publish", lambda group, event: None)  # every push is lost

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        assert (await next_event(communicator, "hello"))["trace"]["lastSeq"] == 0
        await records(device, 2)()
        synced = await next_event(communicator, "sync")
        assert synced["trace"]["id"] == trace.pk and synced["trace"]["lastSeq"] == 2
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_the_sync_tells_the_page_a_trace_reached_its_expiry_before_the_sweep(settings, viewer, device, trace):
    settings.TRACE_SYNC_SECONDS = 0.2
    headers = headers_for(viewer)

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        assert (await next_event(communicator, "hello"))["trace"]["active"]
        await database_sync_to_async(MessageTrace.objects.filter(pk=trace.pk).update)(
            expires_at=now() - timedelta(seconds=1))
        ended = await next_event(communicator, "ended")  # no sweep has run: the trace is still open
        assert ended["trace"]["id"] == trace.pk and not ended["trace"]["active"]
        assert "The message trace expired at" in ended["status"]
        # once: the next syncs only tell the last seq
        assert (await next_event(communicator, "sync"))["trace"]["id"] == trace.pk
        assert (await next_event(communicator, "sync"))["trace"]["id"] == trace.pk
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_the_sync_brings_a_start_whose_push_was_lost(settings, monkeypatch, writer, viewer, device):
    settings.TRACE_SYNC_SECONDS = 0.2
    headers = headers_for(viewer)
    monkeypatch.setattr(services, "publish", lambda group, event: None)  # every push is lost

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        assert (await next_event(communicator, "hello"))["trace"] is None
        trace = await database_sync_to_async(services.start_trace)(writer, device, timedelta(minutes=1))
        started = await next_event(communicator, "started")
        assert started["trace"]["id"] == trace.pk and "Tracing since" in started["status"]
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_the_sync_brings_an_end_whose_push_was_lost(settings, monkeypatch, writer, viewer, device, trace):
    settings.TRACE_SYNC_SECONDS = 0.2
    headers = headers_for(viewer)
    monkeypatch.setattr(services, "publish", lambda group, event: None)  # every push is lost

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        assert (await next_event(communicator, "hello"))["trace"]["active"]
        await database_sync_to_async(services.stop_trace)(writer, trace)
        ended = await next_event(communicator, "ended")
        assert ended["trace"]["id"] == trace.pk and ended["trace"]["stopReason"] == "stopped"
        assert "was stopped at" in ended["status"]
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_the_socket_renders_in_the_language_the_page_was_served_in(settings):
    from tracing.consumers import _language

    settings.LANGUAGES = [("en", "English"), ("de", "German")]
    headers = [(b"origin", b"http://testserver"), (b"accept-language", b"de-DE,de;q=0.9")]
    assert _language({"headers": headers, "cookies": {}}) == "de"
    assert _language({"headers": headers, "cookies": {settings.LANGUAGE_COOKIE_NAME: "en"}}) == "en"
    assert _language({"headers": [], "cookies": {}}) == "en"  # LANGUAGE_CODE en-us, as supported


@pytest.mark.parametrize(("setting", "cookie", "zone"), [("America/New_York", "Asia/Shanghai", "America/New_York"),
                                                        ("", "Asia/Shanghai", "Asia/Shanghai"),
                                                        ("", "Nowhere/Special", "UTC")])
def test_the_socket_renders_in_the_pages_time_zone(writer, device, trace, setting, cookie, zone):
    """The profile's zone, else the browser's (the tz cookie), else UTC: as the page itself."""
    User.objects.filter(pk=writer.pk).update(time_zone=setting)
    headers = [(name, value + f"; tz={cookie}".encode() if name == b"cookie" else value)
               for name, value in headers_for(writer)]

    async def scenario() -> None:
        communicator = socket(headers, device.asset_id)
        await communicator.connect()
        hello = await next_event(communicator, "hello")
        assert f' {zone}</time>' in hello["status"] and f'title="{zone} (UTC' in hello["status"]
        await database_sync_to_async(send)(device, "login")
        [log] = (await next_event(communicator, "logs"))["logs"]
        assert f'title="{zone} (UTC' in log["html"]
        await communicator.disconnect()

    async_to_sync(scenario)()
