"""Assertions and clients shared by the API tests."""

from __future__ import annotations

from rest_framework.test import APIClient

from accounts.models import User


def api_client_for(user: User | None) -> APIClient:
    """A JSON client logged in (session) as `user`, or anonymous."""
    client = APIClient()
    client.default_format = "json"
    if user is not None:
        client.force_login(user)
    return client


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def asset_ids(response) -> set[str]:
    return {row["assetId"] for row in results(response)}


def assert_error(response, status: int, code: str | None = None) -> dict:
    """Every refusal has the one shape: {code, message, details}."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body
