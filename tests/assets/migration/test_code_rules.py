"""The code: valid 10 minutes, five wrong tries end the request, resend once a minute, single use,
good only for its own request and its own requester."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.errors import Conflict, DomainError
from assets.migration import services
from assets.models import Device, MigrationStatus
from tests.assets.migration.helpers import send, start, wrong

pytestmark = pytest.mark.django_db


@pytest.fixture
def t0():
    return timezone.now()


@pytest.fixture
def pending(writer, device, globex, t0):
    request = start(writer, [device], globex, now=t0)
    return request, send(request, now=t0)


def test_the_right_code_moves_the_device(writer, pending, device, globex, t0):
    request, code = pending
    done = services.confirm_migration(writer, request.pk, code, now=t0 + timedelta(minutes=9))
    assert done.status == MigrationStatus.DONE
    device.refresh_from_db()
    assert device.ou == globex


def test_a_code_expires_after_ten_minutes(writer, pending, device, t0):
    request, code = pending
    with pytest.raises(Conflict) as error:
        services.confirm_migration(writer, request.pk, code, now=t0 + timedelta(minutes=10))
    assert error.value.code == "code_expired"
    device.refresh_from_db()
    assert device.ou_id == request.source_ou_id
    request.refresh_from_db()
    assert request.failed_attempts == 0  # an expired code is not a guess


def test_time_travel_through_django_now_expires_the_code_too(writer, pending, monkeypatch, t0):
    request, code = pending
    monkeypatch.setattr(timezone, "now", lambda: t0 + timedelta(minutes=11))
    with pytest.raises(Conflict, match="expired"):
        services.confirm_migration(writer, request.pk, code)


def test_a_new_code_after_expiry_works(writer, pending, device, globex, t0):
    request, old = pending
    later = t0 + timedelta(minutes=12)
    services.resend_code(writer, request.pk, now=later)
    new = send(request, now=later)
    with pytest.raises(DomainError):
        services.confirm_migration(writer, request.pk, old, now=later)  # the previous code no longer works
    services.confirm_migration(writer, request.pk, new, now=later + timedelta(minutes=1))
    device.refresh_from_db()
    assert device.ou == globex


def test_the_request_itself_expires_after_its_lifetime(writer, pending, t0):
    request, _ = pending
    late = t0 + services.REQUEST_LIFETIME
    with pytest.raises(Conflict) as error:
        services.resend_code(writer, request.pk, now=late)
    assert error.value.code == "request_expired"
    request.refresh_from_db()
    assert request.status == MigrationStatus.EXPIRED


def test_wrong_codes_count_and_the_fifth_ends_the_request(writer, pending, device, t0):
    request, code = pending
    for attempt in range(1, 5):
        with pytest.raises(DomainError) as error:
            services.confirm_migration(writer, request.pk, wrong(code), now=t0)
        assert error.value.code == "wrong_code"
        assert f"{5 - attempt} attempt" in error.value.message
    with pytest.raises(Conflict) as error:
        services.confirm_migration(writer, request.pk, wrong(code), now=t0)
    assert error.value.code == "request_locked"
    request.refresh_from_db()
    assert (request.status, request.failed_attempts) == (MigrationStatus.LOCKED, 5)
    # even the right code is refused now, and resending is over too
    with pytest.raises(Conflict, match="wrong codes"):
        services.confirm_migration(writer, request.pk, code, now=t0)
    with pytest.raises(Conflict):
        services.resend_code(writer, request.pk, now=t0 + timedelta(minutes=2))
    device.refresh_from_db()
    assert device.ou_id == request.source_ou_id


def test_wrong_codes_are_not_forgotten_by_a_resend(writer, pending, t0):
    request, code = pending
    for _ in range(4):
        with pytest.raises(DomainError):
            services.check_code(writer, request.pk, wrong(code), now=t0)
    services.resend_code(writer, request.pk, now=t0 + timedelta(minutes=1))
    new = send(request, now=t0 + timedelta(minutes=1))
    with pytest.raises(Conflict, match="wrong codes"):
        services.check_code(writer, request.pk, wrong(new), now=t0 + timedelta(minutes=1))


def test_something_that_is_not_a_code_is_refused_without_counting(writer, pending, t0):
    request, _ = pending
    with pytest.raises(DomainError) as error:
        services.confirm_migration(writer, request.pk, "12ab", now=t0)
    assert error.value.code == "invalid_code"
    request.refresh_from_db()
    assert request.failed_attempts == 0


def test_resend_is_throttled_to_once_a_minute(writer, pending, sms_outbox, t0):
    request, _ = pending
    with pytest.raises(services.Throttled) as error:
        services.resend_code(writer, request.pk, now=t0 + timedelta(seconds=30))
    assert error.value.code == "resend_throttled"
    assert error.value.retry_after == 30
    services.resend_code(writer, request.pk, now=t0 + timedelta(seconds=60))
    with pytest.raises(services.Throttled):
        services.resend_code(writer, request.pk, now=t0 + timedelta(seconds=100))
    services.resend_code(writer, request.pk, now=t0 + timedelta(seconds=120))


def test_a_code_works_once(writer, pending, t0):
    request, code = pending
    services.confirm_migration(writer, request.pk, code, now=t0)
    with pytest.raises(Conflict) as error:
        services.confirm_migration(writer, request.pk, code, now=t0)
    assert error.value.code == "already_done"


def test_a_code_is_useless_for_another_request(writer, device, product, globex, t0):
    other_device = Device.objects.create(ou=device.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                         attributes={"serial": "SN-2"})
    first = start(writer, [device], globex, now=t0)
    second = start(writer, [other_device], globex, now=t0)
    first_code = send(first, now=t0)
    second_code = send(second, now=t0)
    if first_code == second_code:  # one chance in a million: draw again
        second_code = send(second, now=t0)
    with pytest.raises(DomainError) as error:
        services.confirm_migration(writer, second.pk, first_code, now=t0)
    assert error.value.code == "wrong_code"
    services.confirm_migration(writer, second.pk, second_code, now=t0)


def test_a_code_is_bound_to_the_device_set_and_target(writer, pending, t0):
    request, code = pending
    # the stored request is tampered with: another target OU, same hash
    request.device_ids = [*request.device_ids, 999_999]
    request.save(update_fields=["device_ids"])
    with pytest.raises(Conflict) as error:
        services.confirm_migration(writer, request.pk, code, now=t0)
    assert error.value.code == "request_altered"


def test_another_user_cannot_see_or_confirm_someone_elses_request(pending, owner, outsider, viewer, t0):
    request, code = pending
    for user in (owner, outsider, viewer):  # even the source OU's admin: it is the requester's request
        with pytest.raises(services.NotFound):
            services.confirm_migration(user, request.pk, code, now=t0)
        with pytest.raises(services.NotFound):
            services.resend_code(user, request.pk, now=t0 + timedelta(minutes=5))
        with pytest.raises(services.NotFound):
            services.get_request_for(user, request.pk)
    request.refresh_from_db()
    assert request.status == MigrationStatus.PENDING and request.failed_attempts == 0


def test_confirming_before_the_code_was_sent(writer, device, globex, t0):
    request = start(writer, [device], globex, now=t0)
    with pytest.raises(Conflict) as error:
        services.confirm_migration(writer, request.pk, "123456", now=t0)
    assert error.value.code == "code_not_sent"


def test_check_code_does_not_use_the_code_up(writer, pending, device, globex, t0):
    request, code = pending
    services.check_code(writer, request.pk, code, now=t0)
    services.confirm_migration(writer, request.pk, code, now=t0)
    device.refresh_from_db()
    assert device.ou == globex


def test_the_code_task_does_nothing_for_a_closed_request(writer, pending, sms_outbox, t0):
    request, code = pending
    services.confirm_migration(writer, request.pk, code, now=t0)
    assert services.send_code(request.pk) is None
    assert len(sms_outbox) == 1
