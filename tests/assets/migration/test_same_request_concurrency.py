"""One migration request hit by several tries at the same moment: two confirms move the devices
once; wrong guesses are all counted and never past the limit.

Each try runs on its own thread with its own PostgreSQL connection, released together by a
barrier. So that they truly overlap, the first try to hold the request's row lock waits (in its
code check) until PostgreSQL shows the other tries blocked on that lock, then goes on: the others
must wait for its commit and then see what it did. No sleeps: the main thread polls
pg_stat_activity.

SQLite has no row locks (the portal's IMMEDIATE transactions serialize every writer instead), so
this runs on PostgreSQL only: CI's PostgreSQL pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from django.db import connection, connections

from accounts.errors import DomainError
from accounts.models import AuditEvent
from assets.migration import codes, services
from assets.models import Device, MigrationRequest, MigrationStatus
from tests.assets.migration.helpers import code_in_outbox, start, wrong
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
    pytest.mark.skipif(connection.vendor == "sqlite",
                       reason="needs PostgreSQL's row locks (SQLite has none); runs in CI's PostgreSQL pass"),
]


def backends_waiting_for_a_lock() -> int:
    with connections["default"].cursor() as cursor:
        # this test's database only: the PostgreSQL server may be shared with other test runs
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


@contextmanager
def first_lock_holder_waits_for(waiters: int) -> Iterator[None]:
    """The first caller of the code check (it holds the request's row lock) waits until `waiters`
    other tries are queued behind that lock; later callers go straight through."""
    real = codes.code_matches
    release = threading.Event()
    first = threading.Lock()

    def held(*args: Any, **kwargs: Any) -> bool:
        if first.acquire(blocking=False):
            assert release.wait(timeout=30), "the other tries never queued behind the lock"
        return real(*args, **kwargs)

    with mock.patch.object(codes, "code_matches", held):
        yield lambda: (wait_for(lambda: backends_waiting_for_a_lock() >= waiters, timeout=30), release.set())


def at_once(tries: list[Callable[[], Any]], queued: Callable[[], Any]) -> list[Any]:
    """Run the tries on threads released together; each outcome is its result or its exception."""
    barrier = threading.Barrier(len(tries))
    outcomes: list[Any] = [None] * len(tries)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[index] = tries[index]()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test judges
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tries))]
    for thread in threads:
        thread.start()
    queued()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a try never finished"
    return outcomes


@pytest.fixture
def request_and_code(writer, device, gateway, globex) -> tuple[MigrationRequest, str]:
    request = start(writer, [device, gateway], globex)
    return request, code_in_outbox()


def test_two_confirms_with_the_right_code_move_the_devices_once(writer, device, gateway, globex, acme,
                                                               request_and_code):
    request, code = request_and_code
    with first_lock_holder_waits_for(waiters=1) as queued:
        outcomes = at_once([lambda: services.confirm_migration(writer, request.pk, code)] * 2, queued)

    done = [o for o in outcomes if isinstance(o, MigrationRequest)]
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(done) == 1 and len(refused) == 1, outcomes
    assert refused[0].code == "already_done"
    assert set(Device.objects.filter(pk__in=[device.pk, gateway.pk]).values_list("ou_id", flat=True)) == {globex.pk}
    request.refresh_from_db()
    assert request.status == MigrationStatus.DONE and request.result["moved"] == 2
    assert AuditEvent.objects.filter(action="device.migrate_out", ou=acme).count() == 1
    assert AuditEvent.objects.filter(action="device.migrate_in", ou=globex).count() == 1


def test_two_wrong_guesses_at_once_both_count(writer, device, acme, request_and_code):
    request, code = request_and_code
    with first_lock_holder_waits_for(waiters=1) as queued:
        outcomes = at_once([lambda: services.confirm_migration(writer, request.pk, wrong(code))] * 2, queued)

    assert sorted(o.message for o in outcomes) == ["Wrong code; 3 attempts left.", "Wrong code; 4 attempts left."]
    request.refresh_from_db()
    assert request.failed_attempts == 2 and request.status == MigrationStatus.PENDING
    assert Device.objects.get(pk=device.pk).ou_id == acme.pk


def test_guesses_at_once_never_count_past_the_limit(writer, device, acme, request_and_code):
    request, code = request_and_code
    MigrationRequest.objects.filter(pk=request.pk).update(failed_attempts=codes.MAX_FAILED_ATTEMPTS - 1)
    guesses = [lambda: services.confirm_migration(writer, request.pk, wrong(code))] * 2
    guesses.append(lambda: services.check_code(writer, request.pk, wrong(code)))  # the console's OK counts too
    with first_lock_holder_waits_for(waiters=len(guesses) - 1) as queued:
        outcomes = at_once(guesses, queued)

    assert all(isinstance(o, DomainError) and o.code == "request_locked" for o in outcomes), outcomes
    request.refresh_from_db()
    assert request.failed_attempts == codes.MAX_FAILED_ATTEMPTS and request.status == MigrationStatus.LOCKED
    assert Device.objects.get(pk=device.pk).ou_id == acme.pk


def test_the_right_code_racing_the_last_wrong_guesses_either_moves_or_locks(writer, device, acme, globex,
                                                                           request_and_code):
    request, code = request_and_code
    MigrationRequest.objects.filter(pk=request.pk).update(failed_attempts=codes.MAX_FAILED_ATTEMPTS - 1)
    tries = [lambda: services.confirm_migration(writer, request.pk, code)]
    tries += [lambda: services.confirm_migration(writer, request.pk, wrong(code))] * 2
    with first_lock_holder_waits_for(waiters=len(tries) - 1) as queued:
        outcomes = at_once(tries, queued)

    request.refresh_from_db()
    refusals = {o.code for o in outcomes if isinstance(o, DomainError)}
    if request.status == MigrationStatus.DONE:  # the right code got the lock first: the guesses came too late
        assert isinstance(outcomes[0], MigrationRequest) and refusals == {"already_done"}, outcomes
        assert request.failed_attempts == codes.MAX_FAILED_ATTEMPTS - 1
        assert Device.objects.get(pk=device.pk).ou_id == globex.pk
    else:  # a wrong guess got it first and ended the request: the right code came too late
        assert request.status == MigrationStatus.LOCKED and refusals == {"request_locked"}, outcomes
        assert all(isinstance(o, DomainError) for o in outcomes), outcomes
        assert request.failed_attempts == codes.MAX_FAILED_ATTEMPTS
        assert Device.objects.get(pk=device.pk).ou_id == acme.pk
