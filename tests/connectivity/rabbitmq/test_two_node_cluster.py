"""(Runs last of this folder: the first node stays clustered with a stopped peer afterwards.) Two RabbitMQ
nodes clustered on this machine: a device connected to node B reaches the bridge that
consumes from node A, is answered through B, and goes Offline when it leaves."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

import pytest

from assets.models import DeviceStatus
from connectivity import protocol as p
from connectivity.models import LatestValue
from tests.connectivity.conftest import status_of
from tests.connectivity.mqtt_client import PahoDevice
from tests.waiting import wait_for

from .nodes import RabbitNode

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]
SLOW = 60


@pytest.fixture
def node_b(rabbit) -> Iterator[RabbitNode]:
    """A second node, its own ports and data dir, the first node's cookie, joined to it; forgotten after."""
    b = RabbitNode(auth_base=rabbit.auth_base, cookie=rabbit.cookie)
    try:
        b.start()
        b.join(rabbit)
        yield b
    finally:
        b.stop()
        with contextlib.suppress(subprocess.SubprocessError):
            rabbit.ctl("forget_cluster_node", b.node, check=False)


def test_a_device_on_node_b_reaches_the_bridge_consuming_from_node_a(rabbit, node_b, bridge, device):
    assert node_b.node in rabbit.ctl("cluster_status").stdout
    client = PahoDevice(node_b.mqtt_port, device.product.product_key, device.device_key, device.device_secret)
    assert client.connect() == 0
    try:
        wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)
        reply_topic = p.topic_for(device.product.product_key, device.device_key, p.MEASUREPOINT_POST, reply=True)
        assert client.subscribe(reply_topic) in (0, 1)
        request_id = client.publish(p.MEASUREPOINT_POST, {"measurepoints": {"power": 42.0}})
        _, answer = client.expect(lambda topic, message: message.get("id") == request_id, timeout=SLOW)
        assert answer["code"] == p.SUCCESS
        # the reply goes out as the report is handled; its value is written with the bridge's round
        wait_for(lambda: LatestValue.objects.filter(device=device, identifier="power").exists(), timeout=SLOW)
        assert LatestValue.objects.get(device=device, identifier="power").value == 42.0
    finally:
        client.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=SLOW)
