"""A login racing a disable never ends with a disabled device online.

A disable locks no device row (the Disablement rows carry no foreign-key check): a login holding its device's
lock goes on, and the disable's kick may look for sessions before the login's has committed. So the login reads
the device again after its commit: either the kick saw the session, or that read sees the disable."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from assets import bulk
from assets.models import Device, Disablement
from connectivity import history, services
from connectivity import protocol as p
from connectivity.handlers.session import LoginRefused
from connectivity.models import ConnectionRecord, DeviceSession, EndReason, Transport
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def fetched(device: Device) -> Device:
    return Device.objects.select_related("product").get(pk=device.pk)


def assert_refused_and_offline(refused: pytest.ExceptionInfo, device: Device) -> None:
    assert refused.value.code == p.DEVICE_DISABLED
    assert not DeviceSession.objects.filter(device=device).exists()
    device = Device.objects.get(pk=device.pk)
    assert not device.online and not device.enabled
    assert list(ConnectionRecord.objects.filter(device=device).values_list("end_reason", flat=True)) == [
        EndReason.DISABLED]
    assert ConnectionRecord.objects.get(device=device).ended_at is not None


def test_a_disable_committed_while_the_login_held_its_lock_is_seen_after_the_commit(device, monkeypatch):
    """The disable's kick found no session (ours was not committed): the login's own read after its commit
    refuses it and ends the session it opened."""
    real = history.start_record

    def disabled_meanwhile(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        Disablement.objects.create(device_id=device.pk, ou_id=device.ou_id)  # no kick: it looked too early

    monkeypatch.setattr(history, "start_record", disabled_meanwhile)
    with pytest.raises(LoginRefused) as refused:
        services.open_session(fetched(device), Transport.WEBSOCKET)
    assert_refused_and_offline(refused, device)


def test_an_enabled_device_still_logs_in(device):
    session = services.open_session(fetched(device), Transport.WEBSOCKET)
    assert DeviceSession.objects.get(device=device).session_id == session.session_id
    assert Device.objects.get(pk=device.pk).online


@pytest.mark.skipif(connection.vendor == "sqlite", reason="row locks need PostgreSQL (SQLite serializes writers)")
def test_a_real_disable_committing_while_a_login_holds_the_device_lock(writer, device, monkeypatch):
    """Two connections: the login stops while it holds the device's lock; the disable commits meanwhile (it
    takes no lock on the device, so it does not wait) and its kick finds no session; then the login goes on."""
    holding, disabled = threading.Event(), threading.Event()
    real = history.start_record

    def hold(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        holding.set()
        assert disabled.wait(120), "the disable did not commit while the login held the device's lock"

    monkeypatch.setattr(history, "start_record", hold)
    outcome: dict[str, Any] = {}

    def login() -> None:
        try:
            services.open_session(fetched(device), Transport.WEBSOCKET)
            outcome["login"] = "online"
        except LoginRefused as refused:
            outcome["login"] = refused
        finally:
            connections.close_all()

    thread = threading.Thread(target=login)
    thread.start()
    try:
        wait_for(holding.is_set)

        def disable() -> None:
            try:
                outcome["disable"] = bulk.set_enabled(writer, [device.pk], False)
            finally:
                disabled.set()
                connections.close_all()

        disabler = threading.Thread(target=disable)
        disabler.start()
        disabler.join(120)
        assert outcome["disable"].done == [device.pk]
    finally:
        disabled.set()
        thread.join(120)
    assert isinstance(outcome["login"], LoginRefused), outcome["login"]
    assert outcome["login"].code == p.DEVICE_DISABLED
    assert not DeviceSession.objects.filter(device=device).exists()
    assert not Device.objects.get(pk=device.pk).online
