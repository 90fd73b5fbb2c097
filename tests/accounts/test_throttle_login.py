"""Console and admin logins: django-axes locks a client address, or a username, after
AXES_FAILURE_LIMIT wrong passwords; the locked login answers 429 with Retry-After, even to the
right password, until the cool-off ends. Both of axes' stores are tested: the database (the
embedded default) and the "throttle" cache (production, on Redis when REDIS_URL is set)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from axes.handlers.proxy import AxesProxyHandler
from django.test import AsyncClient, Client, RequestFactory
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.waiting import wait_for

HANDLERS = {"database": "axes.handlers.database.AxesDatabaseHandler",
            "cache": "axes.handlers.cache.AxesCacheHandler"}


@pytest.fixture(params=list(HANDLERS))
def axes_store(request, settings) -> Iterator[str]:
    settings.AXES_HANDLER = HANDLERS[request.param]
    AxesProxyHandler.get_implementation(force=True)
    yield request.param
    AxesProxyHandler.implementation = None  # the next use reads the restored setting


@pytest.fixture
def limit(settings) -> int:
    return settings.AXES_FAILURE_LIMIT


def log_in(username: str, password: str, address: str = "203.0.113.7", url: str | None = None) -> object:
    client = Client(REMOTE_ADDR=address)
    response = client.post(url or reverse("login"), {"username": username, "password": password})
    response.logged_in = "_auth_user_id" in client.session
    return response


def is_locked(username: str, address: str) -> bool:
    """Asks axes without making an attempt (an attempt while locked would restart the cool-off)."""
    request = RequestFactory().post("/login/", {"username": username}, REMOTE_ADDR=address)
    AxesProxyHandler.update_request(request)
    return AxesProxyHandler.is_locked(request, {"username": username})


def assert_locked_page(response, settings) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert b"Too many login attempts" in response.content
    assert not response.logged_in


def test_fewer_wrong_passwords_than_the_limit_do_not_stop_the_right_one(axes_store, owner, limit):
    for _ in range(limit - 1):
        refused = log_in("owner", "wrong")
        assert refused.status_code == 200 and b"did not match" in refused.content
    response = log_in("owner", PASSWORD)
    assert response.status_code == 302 and response.logged_in


def test_wrong_passwords_for_one_account_lock_it_from_every_address(axes_store, owner, limit, settings):
    # a different address each time: only the account's count reaches the limit
    answers = [log_in("owner", "wrong", address=f"198.51.100.{n}") for n in range(limit)]
    assert [a.status_code for a in answers[:-1]] == [200] * (limit - 1)
    assert_locked_page(answers[-1], settings)
    assert_locked_page(log_in("owner", PASSWORD, address="192.0.2.200"), settings)


def test_wrong_passwords_from_one_address_lock_it_for_every_account(axes_store, owner, writer, limit, settings):
    # one guess per account (password spraying) from one address
    for n in range(limit):
        log_in(f"someone-{n}", "wrong", address="203.0.113.9")
    assert_locked_page(log_in("owner", PASSWORD, address="203.0.113.9"), settings)
    # the owner, from elsewhere, is not locked: their own account has no failures
    assert log_in("owner", PASSWORD, address="192.0.2.1").logged_in


def test_after_the_cool_off_the_right_password_works_again(axes_store, owner, limit, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    for _ in range(limit):
        log_in("owner", "wrong")
    assert is_locked("owner", "203.0.113.7")
    wait_for(lambda: not is_locked("owner", "203.0.113.7"), timeout=15)
    assert log_in("owner", PASSWORD).logged_in


def test_the_admin_login_is_locked_the_same_way(axes_store, owner, limit, settings):
    owner.is_staff = True
    owner.save()
    url = reverse("admin:login")
    for _ in range(limit):
        log_in("owner", "wrong", url=url)
    assert_locked_page(log_in("owner", PASSWORD, url=url), settings)
    # and the console's login with it: one lock per account
    assert_locked_page(log_in("owner", PASSWORD), settings)


def test_the_async_stack_answers_the_lockout_page_too(owner, limit, settings):
    """The portal serves through daphne (ASGI): axes' middleware takes its async path there."""

    async def attempts() -> list:
        client = AsyncClient(REMOTE_ADDR="203.0.113.50")
        return [await client.post(reverse("login"), {"username": "owner", "password": "wrong"})
                for _ in range(limit)]

    answers = async_to_sync(attempts)()
    assert [a.status_code for a in answers[:-1]] == [200] * (limit - 1)
    assert answers[-1].status_code == 429
    assert answers[-1]["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert b"Too many login attempts" in answers[-1].content
