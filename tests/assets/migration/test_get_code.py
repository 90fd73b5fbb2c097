"""Get Code: everything is checked before a request exists and a code is texted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.errors import AccessDenied, DomainError
from accounts.models import AuditEvent
from assets.migration import services
from assets.models import Device, MigrationRequest, MigrationStatus
from tests.assets.migration.helpers import send, start

pytestmark = pytest.mark.django_db


def test_a_writer_gets_a_request_and_the_target_owner_gets_the_code(writer, device, globex, sms_outbox):
    request = start(writer, [device], globex)
    assert request.status == MigrationStatus.PENDING
    assert (request.source_ou, request.target_ou, request.requester) == (device.ou, globex, writer)
    assert request.device_ids == [device.pk]
    assert request.code_hash == ""  # drawn by the task, not here
    assert AuditEvent.objects.filter(action="migration.request", ou=device.ou).count() == 1

    code = send(request)
    request.refresh_from_db()
    assert len(sms_outbox) == 1
    message = sms_outbox[0]
    assert message["to"] == globex.owner.phone
    assert code in message["message"]
    # the owner knows what they allow, in the portal's words: OU IDs, never free text a requester controls
    assert device.ou.ou_id in message["message"] and globex.ou_id in message["message"]
    assert "1 device " in message["message"]
    assert "writer" not in message["message"] and "Acme" not in message["message"]
    assert code not in request.code_hash
    assert request.expires_at == request.code_sent_at + timedelta(minutes=10)


def test_the_code_is_enqueued_on_commit(writer, device, globex, sms_outbox, eager_tasks,
                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        request = start(writer, [device], globex)
        assert sms_outbox == []  # nothing leaves before the request is committed
    assert len(callbacks) == 1
    assert len(sms_outbox) == 1
    request.refresh_from_db()
    assert request.code_sent_at is not None


def test_the_target_must_exist(writer, device):
    with pytest.raises(DomainError) as error:
        start(writer, [device], "o00000000000000")
    assert error.value.code == "ou_not_found" and "o00000000000000" in error.value.message
    assert not MigrationRequest.objects.exists()


def test_the_target_id_is_required(writer, device):
    with pytest.raises(DomainError) as error:
        start(writer, [device], "  ")
    assert error.value.code == "required"


def test_the_target_cannot_be_the_source(writer, device, acme):
    with pytest.raises(DomainError) as error:
        start(writer, [device], acme)
    assert error.value.code == "same_ou"


def test_a_target_owner_without_phone_is_a_clear_error(writer, device, initech):
    with pytest.raises(DomainError) as error:
        start(writer, [device], initech)
    assert error.value.code == "owner_without_phone"
    assert "no phone number" in error.value.message
    assert not MigrationRequest.objects.exists()


def test_a_viewer_may_not_migrate(viewer, device, globex):
    with pytest.raises(AccessDenied):
        start(viewer, [device], globex)
    assert not MigrationRequest.objects.exists()


def test_a_user_of_the_target_cannot_migrate_the_sources_devices(outsider, device, globex):
    with pytest.raises(services.NotFound) as error:
        start(outsider, [device], globex)
    assert error.value.status == 404


def test_unknown_and_deleted_devices_are_not_found(writer, device, globex):
    asset_id = device.asset_id
    Device.objects.filter(pk=device.pk).delete()
    with pytest.raises(services.NotFound):
        services.request_migration(writer, [asset_id], globex.ou_id)


def test_at_least_one_device(writer, globex):
    with pytest.raises(DomainError) as error:
        services.request_migration(writer, [], globex.ou_id)
    assert error.value.code == "no_devices"


def test_devices_of_one_migration_share_one_ou(owner, device, globex, globex_device, acme):
    # a superuser sees both OUs; still one source per migration
    owner.is_superuser = True
    owner.save()
    with pytest.raises(DomainError) as error:
        start(owner, [device, globex_device], acme)
    assert error.value.code == "mixed_ous"


def test_requests_are_rate_limited_per_requester(writer, device, globex, settings):
    # the SMS quotas (test_sms_throttle.py) would stop this first: here only the request window counts
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "sms-phone": "100/h", "sms-phone-day": "100/d",
                               "sms-user": "100/h"}
    now = timezone.now()
    for minute in range(services.MAX_REQUESTS_PER_WINDOW):
        start(writer, [device], globex, now=now + timedelta(seconds=minute))
    with pytest.raises(services.Throttled) as error:
        start(writer, [device], globex, now=now + timedelta(minutes=1))
    assert error.value.status == 429 and error.value.retry_after > 0
    # the window slides
    start(writer, [device], globex, now=now + services.REQUEST_WINDOW + timedelta(seconds=1))
