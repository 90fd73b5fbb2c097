"""The API: wrong tokens are counted per client address (429 with Retry-After past the limit, even
for a right token from that address), and every client has a request rate."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import api_auth, throttle

URL = "/api/devices/"


@pytest.fixture
def token(writer, acme) -> str:
    return Token.objects.create(user=writer).key


@pytest.fixture
def token_limit() -> throttle.Rate:
    return throttle.rate_for(api_auth.TOKEN_FAILURE_SCOPE)


def get(key: str | None, address: str = "203.0.113.7", **headers: str):
    client = APIClient(REMOTE_ADDR=address)
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(URL, **headers)


def test_wrong_tokens_answer_401_up_to_the_limit_then_429(token, token_limit):
    answers = [get("0" * 40).status_code for _ in range(token_limit.limit)]
    assert answers == [401] * token_limit.limit
    refused = get("1" * 40)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= token_limit.period
    body = refused.json()
    assert body["code"] == "throttled" and "wrong API tokens" in body["message"]


def test_a_right_token_from_a_locked_address_is_refused_until_the_window_ends(token, token_limit):
    for _ in range(token_limit.limit + 1):
        get("0" * 40)
    assert get(token).status_code == 429
    # the same token from another address works: the lock is on the guessing address
    assert get(token, address="192.0.2.10").status_code == 200
    throttle.clear(api_auth.TOKEN_FAILURE_SCOPE, "203.0.113.7")
    assert get(token).status_code == 200


def test_a_forged_x_forwarded_for_does_not_escape_the_count(token, token_limit, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(token_limit.limit):
        get("0" * 40, HTTP_X_FORWARDED_FOR=f"10.9.8.{n}")
    assert get("0" * 40, HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_right_tokens_are_not_counted(token, token_limit):
    for _ in range(token_limit.limit + 5):
        assert get(token).status_code == 200


def test_requests_without_a_token_are_not_counted_as_wrong_tokens(token, token_limit):
    for _ in range(token_limit.limit + 1):
        assert get(None).status_code in (401, 403)
    assert get(token).status_code == 200


def test_each_user_has_a_request_rate(token, monkeypatch):
    monkeypatch.setitem(api_auth.UserRateThrottle.THROTTLE_RATES, "user", "3/m")
    assert [get(token).status_code for _ in range(3)] == [200, 200, 200]
    refused = get(token)
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["code"] == "throttled"


def test_anonymous_clients_have_a_rate_per_address(db, monkeypatch):
    monkeypatch.setitem(api_auth.AnonRateThrottle.THROTTLE_RATES, "anon", "2/m")
    schema = "/api/schema/"  # open to anonymous clients
    client = APIClient(REMOTE_ADDR="203.0.113.20")
    assert [client.get(schema).status_code for _ in range(2)] == [200, 200]
    refused = client.get(schema)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert APIClient(REMOTE_ADDR="203.0.113.21").get(schema).status_code == 200
