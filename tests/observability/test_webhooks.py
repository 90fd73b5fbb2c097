"""Webhook notifications: a JSON body signed with the OU's secret and a timestamp, retried with backoff."""

from __future__ import annotations

import pytest
from django.utils.timezone import now

from connectivity.handlers.session import close_session, open_session
from observability import alerting, notify, services
from observability.models import Delivery, DeliveryStatus
from tests.observability.webhook_server import WebhookReceiver

pytestmark = pytest.mark.django_db


def back_online_alert(writer, acme, device, url: str) -> Delivery:
    services.create_rule(writer, acme, name="back", kind="back_online", webhook_url=url)
    close_session(open_session(device, "websocket"), "connection closed")
    open_session(device, "websocket")
    alerting.sweep()
    return Delivery.objects.get()


def test_the_body_is_signed_with_the_ous_secret(writer, acme, device):
    secret = services.reset_webhook_secret(writer, acme)
    with WebhookReceiver() as receiver:
        delivery = back_online_alert(writer, acme, device, receiver.url)
        assert notify.deliver(delivery.pk) == DeliveryStatus.SENT
    (hit,) = receiver.received
    headers = {k.lower(): v for k, v in hit["headers"].items()}
    stamp = headers["x-portal-timestamp"]
    assert abs(int(stamp) - now().timestamp()) < 600
    assert notify.signature_matches(secret, stamp, hit["body"], headers["x-portal-signature"])
    assert not notify.signature_matches("other", stamp, hit["body"], headers["x-portal-signature"])
    assert hit["json"]["type"] == "alert.opened"
    assert hit["json"]["alert"]["assetId"] == device.asset_id and hit["json"]["ouId"] == acme.ou_id
    delivery.refresh_from_db()
    assert delivery.response_code == 200 and delivery.attempts == 1


def test_a_refused_webhook_is_retried_with_exponential_backoff(writer, acme, device, settings):
    settings.ALERT_RETRY_BASE_SECONDS = 10
    with WebhookReceiver(fail_first=2) as receiver:
        delivery = back_online_alert(writer, acme, device, receiver.url)
        waits = []
        for _ in range(2):
            assert notify.deliver(delivery.pk) == DeliveryStatus.RETRYING
            delivery.refresh_from_db()
            assert delivery.response_code == 503
            waits.append((delivery.next_retry_at - now()).total_seconds())
            Delivery.objects.filter(pk=delivery.pk).update(next_retry_at=now())
        assert notify.deliver(delivery.pk) == DeliveryStatus.SENT
    assert 5 < waits[0] <= 10 and 15 < waits[1] <= 20  # 10 s, then 20 s
    delivery.refresh_from_db()
    assert delivery.attempts == 3 and len(receiver.received) == 3


def test_a_delivery_gives_up_after_its_attempts(writer, acme, device, settings):
    settings.ALERT_DELIVERY_ATTEMPTS = 2
    with WebhookReceiver(fail_first=5) as receiver:
        delivery = back_online_alert(writer, acme, device, receiver.url)
        notify.deliver(delivery.pk)
        Delivery.objects.filter(pk=delivery.pk).update(next_retry_at=now())
        assert notify.deliver(delivery.pk) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert delivery.next_retry_at is None and delivery.error == "HTTP 503"
