"""The issue's promise, end to end: a real MQTT device (keep-alive 1 s) goes silent; the broker process drops it
after keep-alive × 1.5, its session's end starts the "offline > 1 minute" timer, the sweep (here a thread
standing in for Celery beat, every ALERT_SWEEP_SECONDS) opens the alert and the signed webhook reaches a local
HTTP server within keep-alive × 1.5 + 1 minute + 5 s of the silence."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from assets.models import DeviceStatus
from observability import alerting, notify, services
from tests.connectivity.conftest import status_of
from tests.connectivity.mqtt_client import PahoDevice, mqtt_broker
from tests.observability.webhook_server import WebhookReceiver
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]

KEEPALIVE = 1
SWEEP_SECONDS = 1.0


class Sweeper(threading.Thread):
    """Celery beat's part: sweep, then send what the sweep queued (no worker runs here)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(SWEEP_SECONDS):
                alerting.sweep()
                notify.send_waiting()
        finally:
            connections.close_all()


def test_an_offline_alert_reaches_the_webhook_within_the_deadline(writer, acme, device):
    with WebhookReceiver() as receiver, mqtt_broker(CONNECTIVITY_SESSION_HEARTBEAT_SECONDS="0.3") as port:
        secret = services.reset_webhook_secret(writer, acme)
        services.create_rule(writer, acme, name="Offline > 1 minute", kind="offline_for", minutes=1,
                             webhook_url=receiver.url)
        client = PahoDevice(port, device.product.product_key, device.device_key, device.device_secret,
                            keepalive=KEEPALIVE)
        assert client.connect() == 0
        wait_for(lambda: status_of(device) == DeviceStatus.ONLINE)
        sweeper = Sweeper()
        sweeper.start()
        try:
            silent_at = time.monotonic()
            client.stop_talking()
            wait_for(lambda: receiver.received, timeout=180)
            took = time.monotonic() - silent_at
        finally:
            sweeper.stopped.set()
            sweeper.join(timeout=30)
            client.client.disconnect()
        budget = KEEPALIVE * 1.5 + 60 + 5
        print(f"offline alert webhook {took:.1f} s after the device went silent (budget {budget:.1f} s)")
        assert took <= budget
        (hit,) = receiver.received[:1]
        headers = {k.lower(): v for k, v in hit["headers"].items()}
        assert notify.signature_matches(secret, headers["x-portal-timestamp"], hit["body"],
                                        headers["x-portal-signature"])
        assert hit["json"]["type"] == "alert.opened" and hit["json"]["alert"]["assetId"] == device.asset_id
        wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE)
