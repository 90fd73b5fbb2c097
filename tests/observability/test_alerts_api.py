"""/api/alert-rules/, /api/alerts/ and /api/alert-deliveries/: filters, acknowledge and resolve, errors by field."""

from __future__ import annotations

import pytest

from observability.models import WebhookSecret
from tests.assets.api.helpers import api_client_for
from tests.observability.alert_world import alerting

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(writer, acme, device):
    return alerting(writer, acme, device)


def test_alerts_filter_by_state_rule_and_device(world, writer, device):
    client = api_client_for(writer)
    (row,) = client.get("/api/alerts/", {"state": "open", "assetId": device.asset_id}).json()["results"]
    assert row["ruleName"] == world.rule.name and row["acknowledgedBy"] is None
    assert client.get("/api/alerts/", {"state": "resolved"}).json()["results"] == []
    assert client.get("/api/alerts/", {"rule": world.spare_rule.pk}).json()["results"] == []
    assert client.get("/api/alerts/", {"state": "nope"}).status_code == 400


def test_acknowledge_and_resolve(world, writer):
    client = api_client_for(writer)
    body = client.post(f"/api/alerts/{world.alert.pk}/acknowledge/").json()
    assert body["state"] == "acknowledged" and body["acknowledgedBy"] == "writer"
    assert client.post(f"/api/alerts/{world.alert.pk}/acknowledge/").status_code == 409
    body = client.post(f"/api/alerts/{world.alert.pk}/resolve/").json()
    assert body["state"] == "resolved" and body["resolvedBy"] == "writer"
    assert client.post(f"/api/alerts/{world.alert.pk}/resolve/").status_code == 409


def test_a_rule_is_refused_field_by_field(world, writer, acme):
    response = api_client_for(writer).post("/api/alert-rules/", {
        "ouId": acme.ou_id, "name": "x", "kind": "back_online", "webhookUrl": "ftp://nope"}, format="json")
    assert response.status_code == 400 and "webhookUrl" in response.json()["details"]


def test_a_threshold_rule_by_product(world, writer, acme, product):
    response = api_client_for(writer).post("/api/alert-rules/", {
        "ouId": acme.ou_id, "name": "hot", "kind": "measure_point_threshold", "identifier": "temperature",
        "comparison": "above", "threshold": 80, "minutes": 2, "scope": "product", "productKey": product.product_key,
        "emails": ["ops@example.com"]}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["productKey"] == product.product_key


def test_the_webhook_secret_is_given_once(world, writer, acme):
    body = api_client_for(writer).post("/api/alert-rules/webhook-secret/", {"ouId": acme.ou_id}, format="json").json()
    assert body["secret"] == WebhookSecret.objects.get(ou=acme).secret and len(body["secret"]) == 64


def test_deliveries(world, writer):
    (row,) = api_client_for(writer).get("/api/alert-deliveries/", {"channel": "webhook"}).json()["results"]
    assert row["target"].endswith("/hook") and row["status"] == "pending"
