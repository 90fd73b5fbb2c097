"""The calls the portal makes to a clustered broker holding a device's socket, chosen by the session's
transport: deliver a message (a command, a notice), and close a connection (a kick)."""

from __future__ import annotations

from ..models import Transport
from . import emqx_api
from .rabbitmq import management

BROKER_TRANSPORTS = frozenset({Transport.EMQX, Transport.RABBITMQ})


def publish(transport: str, topic: str, message: dict) -> bool:
    """Deliver one message to a device behind a clustered broker."""
    if transport == Transport.RABBITMQ:
        return management.publish(topic, message)
    return emqx_api.publish(topic, message)


def kick(transport: str, client_id: str) -> bool:
    """Close a device's connection on a clustered broker (its disconnect report then ends the session)."""
    if transport == Transport.RABBITMQ:
        return management.kick(client_id)
    return emqx_api.kick(client_id)
