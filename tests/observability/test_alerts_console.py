"""The console's Alerts pages: who sees what, Acknowledge and Resolve, the rule form, the webhook secret shown once,
the notification log, and the device table's badge (one query for the page)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from observability.models import Alert, AlertRule, WebhookSecret
from tests.conftest import client_for
from tests.observability.alert_world import alerting

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(writer, acme, device):
    return alerting(writer, acme, device)


def test_the_alerts_page_lists_live_alerts_with_buttons_for_writers(cast, world, device):
    page = client_for(cast["writer"]).get(reverse("observability:alerts")).content.decode()
    assert device.asset_id in page and f'id="acknowledge-{world.alert.pk}"' in page
    page = client_for(cast["viewer"]).get(reverse("observability:alerts")).content.decode()
    assert device.asset_id in page and "acknowledge-" not in page


def test_acknowledge_then_resolve(cast, world, writer):
    client = client_for(writer)
    client.post(reverse("observability:alert-acknowledge", args=[world.alert.pk]))
    world.alert.refresh_from_db()
    assert world.alert.state == "acknowledged" and world.alert.acknowledged_by == writer
    page = client.get(reverse("observability:alerts")).content.decode()
    assert "writer" in page and f'id="resolve-{world.alert.pk}"' in page
    client.post(reverse("observability:alert-resolve", args=[world.alert.pk]))
    world.alert.refresh_from_db()
    assert world.alert.state == "resolved"
    assert device_asset(world) not in client.get(reverse("observability:alerts")).content.decode()
    assert device_asset(world) in client.get(reverse("observability:alerts") + "?state=resolved").content.decode()


def device_asset(world) -> str:
    return world.alert.device.asset_id


def test_the_filters(cast, world, writer):
    client = client_for(writer)
    url = reverse("observability:alerts")
    assert device_asset(world) in client.get(url, {"rule": world.rule.pk}).content.decode()
    assert device_asset(world) not in client.get(url, {"rule": world.spare_rule.pk}).content.decode()
    assert device_asset(world) in client.get(url, {"device": world.alert.device.device_key}).content.decode()
    assert device_asset(world) not in client.get(url, {"device": "nope"}).content.decode()


def test_a_writer_creates_a_rule_with_the_form(cast, writer, acme, product):
    client = client_for(writer)
    response = client.post(reverse("observability:alert-rule-create"), {
        "name": "Inverters offline", "kind": "offline_for", "enabled": "on", "scope": "product",
        "product": product.pk, "minutes": "10", "count": "0", "emails": "a@example.com, b@example.com"})
    assert response.status_code == 302
    rule = AlertRule.objects.get(name="Inverters offline")
    assert rule.product == product and rule.emails == ["a@example.com", "b@example.com"] and rule.minutes == 10


def test_the_form_shows_the_services_refusal_on_its_field(cast, writer):
    response = client_for(writer).post(reverse("observability:alert-rule-create"), {
        "name": "No target", "kind": "back_online", "scope": "all", "minutes": "0", "count": "0"})
    assert response.status_code == 400
    assert "at least one e-mail address" in response.content.decode()


def test_the_webhook_secret_is_shown_once_on_reset(cast, writer, acme):
    response = client_for(writer).post(reverse("observability:webhook-secret-reset", args=[acme.ou_id]))
    secret = WebhookSecret.objects.get(ou=acme).secret
    assert secret in response.content.decode()
    assert secret not in client_for(writer).get(reverse("observability:alert-rules")).content.decode()


def test_the_notification_log(cast, world, writer):
    page = client_for(writer).get(reverse("observability:alert-deliveries")).content.decode()
    assert world.rule.name in page and "127.0.0.1:9/hook" in page


def test_the_device_table_shows_a_badge_on_devices_with_live_alerts(cast, world, writer, gateway):
    page = client_for(writer).get(reverse("assets:device-list")).content.decode()
    row = page.split(f'id="device-{device_asset(world)}"')[1].split("</tr>")[0]
    assert "alert-badge" in row
    assert "alert-badge" not in page.split(f'id="device-{gateway.asset_id}"')[1].split("</tr>")[0]
    Alert.objects.update(state="resolved")
    assert "alert-badge" not in client_for(writer).get(reverse("assets:device-list")).content.decode()


@pytest.mark.parametrize("page", ["observability:alerts", "observability:alert-rules",
                                  "observability:alert-deliveries"])
def test_the_pages_cost_the_same_queries_however_many_rows(cast, world, writer, acme, product, page,
                                                          django_assert_max_num_queries):
    from assets.models import Device
    from observability.models import Channel, Delivery

    client = client_for(writer)
    client.get(reverse(page))
    with django_assert_max_num_queries(12) as few:
        client.get(reverse(page))
    devices = Device.objects.bulk_create([Device(ou=acme, product=product, device_key=f"n-{i}", name=f"N {i}")
                                          for i in range(30)])
    for i, device in enumerate(devices):
        rule = AlertRule.objects.create(ou=acme, name=f"r{i}", kind="event", identifier="fault",
                                        emails=["a@example.com"])
        alert = Alert.objects.create(rule=rule, ou=acme, device=device, acknowledged_by=writer)
        Delivery.objects.create(ou=acme, rule=rule, alert=alert, event="opened", channel=Channel.EMAIL,
                                target="a@example.com", subject="s")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse(page))
