"""accounts.throttle: the counting primitive every rate limit uses, on this process's memory (the
embedded default) and on Redis (production); and how the client's address is read."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import redis
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from accounts import throttle
from tests.conftest import REDIS_URL as SHARED_REDIS_URL
from tests.waiting import wait_for

REDIS_URL = os.environ.get("REDIS_URL") or SHARED_REDIS_URL


@pytest.fixture(params=["locmem", "redis"])
def backend(request, settings) -> Iterator[str]:
    """The throttle cache on locmem, then on Redis (skipped only where no Redis answers)."""
    if request.param == "redis":
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        except redis.RedisError:
            pytest.skip(f"no Redis at {REDIS_URL}")
        location = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    else:
        location = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle-test"}
    settings.CACHES = {**settings.CACHES, "throttle": {**location, "KEY_PREFIX": "throttle"}}
    throttle.reset_all()
    yield request.param
    throttle.reset_all()


def test_it_allows_the_limit_then_refuses_with_the_wait_until_the_window_ends(backend):
    start = 1_000_000.0
    decisions = [throttle.hit("t", "phone-1", 3, 60, now=start + i) for i in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.count for d in decisions] == [1, 2, 3, 4]
    # the window started at the first hit: 60 s after it, 3 s have gone by
    assert decisions[-1].retry_after == 57 and decisions[-1].scope == "t"
    assert not decisions[-1]


def test_keys_and_scopes_count_apart(backend):
    assert throttle.hit("t", "a", 1, 60).allowed
    assert not throttle.hit("t", "a", 1, 60).allowed
    assert throttle.hit("t", "b", 1, 60).allowed
    assert throttle.hit("other", "a", 1, 60).allowed
    assert throttle.hit("t", "a", 1, 3600).allowed  # another period is another counter


def test_check_counts_nothing(backend):
    for _ in range(5):
        assert throttle.check("t", "k", 1, 60).allowed
    assert throttle.hit("t", "k", 1, 60).allowed
    refused = throttle.check("t", "k", 1, 60)
    assert not refused.allowed and 0 < refused.retry_after <= 60


def test_clear_forgets_the_count(backend):
    throttle.hit("t", "k", 1, 60)
    assert not throttle.check("t", "k", 1, 60).allowed
    throttle.clear("t", "k", 1, 60)
    assert throttle.hit("t", "k", 1, 60).allowed


def test_a_window_ends_after_its_period(backend):
    throttle.hit("t", "k", 1, 1)
    assert not throttle.hit("t", "k", 1, 1).allowed
    wait_for(lambda: throttle.check("t", "k", 1, 1).allowed, timeout=10)
    assert throttle.hit("t", "k", 1, 1).allowed


def test_hit_all_counts_only_when_every_rule_allows(backend):
    rules = [("per-phone", "+1", 5, 3600), ("per-user", "u1", 1, 3600)]
    assert throttle.hit_all(rules).allowed
    refused = throttle.hit_all(rules)
    assert not refused.allowed and refused.scope == "per-user"
    # the refused event did not use up the phone's quota: 1 of 5 so far
    assert throttle.check("per-phone", "+1", 5, 3600).count == 2


def test_concurrent_hits_never_let_more_than_the_limit_through(backend):
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            decision = throttle.hit("t", "shared", 50, 60)
            with lock:
                allowed.append(decision.allowed)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 200 and allowed.count(True) == 50


def test_configured_rates_come_from_settings(backend, settings):
    settings.THROTTLE_RATES = {"sms-phone": "2/h", "odd": "3/15m"}
    assert throttle.rate_for("odd") == throttle.Rate(3, 900)
    assert throttle.hit("sms-phone", "+1").allowed
    assert throttle.hit("sms-phone", "+1").allowed
    refused = throttle.hit("sms-phone", "+1")
    assert not refused.allowed and refused.limit == 2 and 3500 < refused.retry_after <= 3600
    with pytest.raises(ImproperlyConfigured, match="no-such-scope"):
        throttle.hit("no-such-scope", "x")


@pytest.mark.parametrize("text", ["", "5", "5/", "x/m", "5/w", "-1/m", "5/0m"])
def test_a_bad_rate_is_a_configuration_error(text):
    with pytest.raises(ImproperlyConfigured):
        throttle.parse_rate(text)


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_redis_keeps_hashed_keys_that_expire_and_reset_leaves_other_keys(backend):
    client = redis.Redis.from_url(REDIS_URL)
    client.set("not-a-throttle-key", "kept")
    try:
        throttle.hit("sms-phone", "+8613800000001", 5, 3600)
        keys = [key.decode() for key in client.scan_iter(match="throttle:*")]
        assert keys and not any("8613800000001" in key for key in keys)
        assert all(0 < client.ttl(key) <= 3600 for key in keys)
        throttle.reset_all()
        assert not list(client.scan_iter(match="throttle:*"))
        assert client.get("not-a-throttle-key") == b"kept"
    finally:
        client.delete("not-a-throttle-key")


def test_the_default_throttle_cache_is_the_configured_one(settings):
    expected = "RedisCache" if os.environ.get("REDIS_URL") else "LocMemCache"
    assert type(caches["throttle"]).__name__ == expected


# --- the client's address -------------------------------------------------------------------------

def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_x_forwarded_for_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert throttle.client_ip(request_from("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


def test_with_trusted_proxies_the_address_the_outermost_one_saw_counts(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # the client forged the first entry; the proxy appended what it saw
    assert throttle.client_ip(request_from("10.0.0.2", "1.2.3.4, 203.0.113.7")) == "203.0.113.7"
    settings.TRUSTED_PROXY_COUNT = 2
    assert throttle.client_ip(request_from("10.0.0.2", "1.2.3.4, 203.0.113.7, 10.0.0.1")) == "203.0.113.7"
    assert throttle.client_ip(request_from("10.0.0.2")) == "10.0.0.2"  # no header: the peer


def test_ipv6_clients_count_by_their_64_network():
    assert throttle.ip_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttle.ip_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert throttle.ip_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert throttle.ip_key("not an address") == throttle.ip_key(None) == "unknown"


def test_the_address_of_an_asgi_scope(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    scope = {"client": ("203.0.113.7", 51000), "headers": [(b"x-forwarded-for", b"1.2.3.4")]}
    assert throttle.client_ip_from_scope(scope) == "203.0.113.7"
    settings.TRUSTED_PROXY_COUNT = 1
    assert throttle.client_ip_from_scope(scope) == "1.2.3.4"
    assert throttle.client_ip_from_scope({"client": None, "headers": []}) == "unknown"


def test_check_all_names_the_longest_refusal_and_counts_nothing(backend):
    throttle.hit("short", "k", 1, 60)
    throttle.hit("long", "k", 1, 3600)
    refused = throttle.check_all([("short", "k", 1, 60), ("long", "k", 1, 3600), ("free", "k", 1, 60)])
    assert not refused.allowed and refused.scope == "long"
    assert throttle.check_all([("free", "k", 1, 60)]).allowed
    assert throttle.hit("free", "k", 1, 60).allowed  # the checks above counted nothing


@pytest.fixture
def dead_cache(settings) -> None:
    """A throttle cache on a Redis nobody listens on."""
    settings.CACHES = {**settings.CACHES, "throttle": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                                       "LOCATION": "redis://127.0.0.1:1/0"}}


def test_without_its_cache_a_throttle_refuses_unless_told_to_fail_open(dead_cache, caplog):
    refused = throttle.hit("sms-phone", "+1")
    assert not refused.allowed and refused.retry_after == throttle.UNAVAILABLE_RETRY_AFTER
    assert not throttle.check("sms-phone", "+1").allowed
    assert not throttle.hit_all([("sms-phone", "+1"), ("sms-user", "7")]).allowed
    assert throttle.hit("api-user", "7", 10, 60, fail_open=True).allowed
    assert "throttle cache is unavailable" in caplog.text


def test_without_its_cache_the_api_still_answers(dead_cache, writer, acme):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(writer)
    assert client.get("/api/devices/").status_code == 200  # request rates fail open
    wrong_token = APIClient()
    wrong_token.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    refused = wrong_token.get("/api/devices/")  # token guessing fails closed: a 429, never a 500
    assert refused.status_code == 429 and refused["Retry-After"] == str(throttle.UNAVAILABLE_RETRY_AFTER)
