"""Real RabbitMQ for the RabbitMQ transport's tests: one node of our own for the session (tests/connectivity/
rabbitmq/nodes.py), the portal's auth endpoints served by pytest-django's live server (which RabbitMQ
calls), and an in-process bridge per module. Skipped, with the reason, where rabbitmq-server is missing."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from connectivity.models import DeviceSession
from connectivity.transports.rabbitmq.bridge import Bridge
from tests.waiting import wait_for

from .nodes import RabbitNode, missing_reason

AUTH_SECRET = "broker-only-8c1d2f"
logging.getLogger("pika").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def rabbit_node(live_server) -> Iterator[RabbitNode]:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    base = live_server.url.replace("localhost", "127.0.0.1")
    node = RabbitNode(auth_base=f"{base}/api/rabbitmq/auth/{AUTH_SECRET}")
    try:
        node.start()
        yield node
    finally:
        node.stop()


@pytest.fixture
def rabbit(rabbit_node, settings) -> RabbitNode:
    """The node, with the portal configured to call it (auth secret, management API) during the test."""
    settings.RABBITMQ_AUTH_SECRET = AUTH_SECRET
    settings.RABBITMQ_MANAGEMENT_URL = (f"http://portal-bridge:{rabbit_node.bridge_password}"
                                        f"@127.0.0.1:{rabbit_node.management_port}")
    settings.ALLOWED_HOSTS = ["*"]
    return rabbit_node


@pytest.fixture(scope="module")
def module_bridge(rabbit_node, django_db_blocker) -> Iterator[Bridge]:
    bridge = Bridge(rabbit_node.amqp_url, shards=4)
    bridge.start()
    assert bridge.wait_ready(timeout=60), "the bridge did not connect to RabbitMQ"
    yield bridge
    bridge.stop()


@pytest.fixture
def bridge(module_bridge, rabbit) -> Iterator[Bridge]:
    """The module's bridge; after the test, every session it opened has ended (no write races the flush)."""
    yield module_bridge
    wait_for(lambda: not DeviceSession.objects.exists(), timeout=30)
