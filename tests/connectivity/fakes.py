"""A device "connected" without a transport: its session row exists and a fake connection answers
commands at once, so console and API tests need no event loop."""

from __future__ import annotations

from typing import Any

from assets.models import Device
from connectivity import bus, services
from connectivity.models import Transport
from connectivity.sessions import Session


def connect(device: Device) -> Session:
    device = Device.objects.select_related("product").get(pk=device.pk)
    return services.open_session(device, Transport.WEBSOCKET, client_id="fake")


def answer_commands(monkeypatch: Any, session: Session, *, code: int = 200, data: Any = None) -> list[dict]:
    """Replace the channel-layer push by a device that replies immediately."""
    sent: list[dict] = []

    def deliver(device_id: int, invocation_id: int, message: dict) -> None:
        sent.append(message)
        if services.claim_command(invocation_id, device_id, session):
            services.record_command_reply(session, {"id": message["id"], "code": code, "data": data or {}},
                                          session.by_id(device_id) or session.device)

    monkeypatch.setattr(bus, "command", deliver)
    return sent
