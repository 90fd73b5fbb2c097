"""`manage.py run_portal` (the README's quick start): what it connects and what it cleans up before serving.
The command as a whole runs in CI, in a fresh copy, through scripts/quickstart_check.py."""

from __future__ import annotations

import subprocess

import pytest
from django.db import connection

from assets.management.commands.load_demo_data import DEMO_OUS, simulated_device_keys
from assets.models import Device
from connectivity.models import DeviceSession
from enos_portal.management.commands import run_portal
from enos_portal.management.commands.run_portal import Command


@pytest.fixture
def started(monkeypatch) -> list[list[str]]:
    commands: list[list[str]] = []

    class Recorded:
        def __init__(self, command: list[str], **_: object) -> None:
            commands.append(command)

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    return commands


def option(command: list[str], name: str) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command) if arg == name]


def test_the_simulator_connects_every_demo_device_meant_to_be_online(started):
    Command()._start_simulator("0.0.0.0", 8123, None)
    [command] = started
    assert command[2:3] == ["simulate_devices"]
    assert option(command, "--ou") == [spec.name for spec in DEMO_OUS]
    keys = option(command, "--keys")[0].split(",")
    assert keys == [key for spec in DEMO_OUS for key in simulated_device_keys(spec)]
    assert option(command, "--url") == ["ws://127.0.0.1:8123/ws/device/"]
    assert option(command, "--duration") == ["0"]


def test_simulate_n_connects_the_first_n(started):
    Command()._start_simulator("127.0.0.1", 8000, 5)
    assert len(option(started[0], "--keys")[0].split(",")) == 5


@pytest.mark.parametrize("sole_server", [True, False], ids=["sqlite", "postgresql"])
def test_devices_left_online_by_the_last_run_go_offline_before_serving_when_no_other_server_can_hold_them(
        device, monkeypatch, sole_server):
    monkeypatch.setattr(run_portal, "sole_server_of_its_database", lambda: sole_server)
    Device.objects.filter(pk=device.pk).update(online=True)
    DeviceSession.objects.create(device=device, session_id="last-run", transport="websocket")
    Command()._end_sessions_of_the_last_run()
    device.refresh_from_db()
    if sole_server:  # the embedded default: no server is up yet, the session is the last run's
        assert not device.online and device.last_offline_at is not None
        assert not DeviceSession.objects.exists()
    else:  # PostgreSQL: another server may hold it; the beat sweep decides
        assert device.online and DeviceSession.objects.filter(device=device).exists()


def test_the_embedded_default_is_the_sole_server_of_its_database():
    assert run_portal.sole_server_of_its_database() is (connection.vendor == "sqlite")
