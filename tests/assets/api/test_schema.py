"""The OpenAPI schema and its docs page; the error body and camelCase names it promises."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_is_served(api_for, viewer):
    response = api_for(viewer).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/devices/{assetId}/enable/" in schema["paths"]
    device = schema["components"]["schemas"]["Device"]["properties"]
    assert {"assetId", "deviceKey", "productKey", "status", "assetType", "ouId"} <= set(device)
    assert "deviceSecret" not in device
    assert "deviceSecret" in schema["components"]["schemas"]["CreatedDevice"]["properties"]


def test_docs_page_is_served(api_for, viewer):
    assert api_for(viewer).get("/api/docs/").status_code == 200


def test_schema_validates_without_warnings():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "/api/devices/" in yaml.safe_load(out.getvalue())["paths"]
