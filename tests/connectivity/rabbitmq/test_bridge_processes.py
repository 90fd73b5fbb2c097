"""Bridges as real processes (`manage.py run_rabbitmq_bridge`): one killed with SIGKILL in the middle of a
stream of QoS 1 reports loses none of them (unacknowledged messages go to the next bridge)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from assets.models import DeviceStatus
from connectivity import protocol as p
from tests.connectivity.conftest import status_of
from tests.connectivity.mqtt_client import PahoDevice
from tests.processes import ROOT, new_log, subprocess_env, wait_for_line
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]
SLOW = 60
REPORTS = 300


def start_bridge(rabbit) -> subprocess.Popen:
    log = new_log("rabbitmq-bridge")
    env = subprocess_env(RABBITMQ_AMQP_URL=rabbit.amqp_url, RABBITMQ_SHARDS="4",
                         RABBITMQ_MANAGEMENT_URL=f"http://portal-bridge:{rabbit.bridge_password}"
                                                 f"@127.0.0.1:{rabbit.management_port}")
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "manage.py", "run_rabbitmq_bridge"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    wait_for_line(log, "consuming", process, timeout=SLOW)
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def test_a_bridge_killed_mid_stream_loses_no_accepted_report(rabbit, device):
    first = start_bridge(rabbit)
    second = None
    client = PahoDevice(rabbit.mqtt_port, device.product.product_key, device.device_key, device.device_secret)
    try:
        assert client.connect() == 0
        wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)
        reply_topic = p.topic_for(device.product.product_key, device.device_key, p.MEASUREPOINT_POST, reply=True)
        assert client.subscribe(reply_topic) in (0, 1)
        topic = p.topic_for(device.product.product_key, device.device_key, p.MEASUREPOINT_POST)
        answered: set[str] = set()
        for number in range(1, REPORTS + 1):
            message = p.request(str(number), p.MEASUREPOINT_POST, {"measurepoints": {"power": float(number)}})
            client.client.publish(topic, json.dumps(message), qos=1).wait_for_publish(SLOW)  # PUBACK: accepted
            if number == REPORTS // 3:
                wait_for(lambda: client.messages.qsize() > 10, timeout=SLOW)
                os.kill(first.pid, signal.SIGKILL)  # mid-stream, with reports handed out and not acknowledged
                first.wait(SLOW)
                second = start_bridge(rabbit)

        def all_answered() -> bool:
            while not client.messages.empty():
                answered.add(client.messages.get()[1]["id"])
            return len(answered) == REPORTS

        wait_for(all_answered, timeout=SLOW * 2)
        client.close()
        wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=SLOW)
    finally:
        client.close()
        stop(first)
        if second is not None:
            stop(second)
