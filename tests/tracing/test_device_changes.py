"""Deleting or migrating a device ends its trace; the new OU does not read the old OU's traces."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.timezone import now

from accounts.models import AuditEvent
from assets import services as asset_services
from assets.migration import services as migration
from tests.assets.migration.helpers import send as send_code
from tests.assets.migration.helpers import start as start_migration
from tracing import services
from tracing.models import MessageTrace, StopReason, TraceLog

from .conftest import send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sms_to_memory(settings):
    settings.SMS_BACKEND = "accounts.sms.LocmemBackend"


def test_deleting_the_device_ends_its_trace(writer, device, trace):
    send(device)
    asset_services.delete_device(writer, device)
    trace.refresh_from_db()
    assert trace.stop_reason == StopReason.DELETED and trace.stopped_at is not None and trace.device is None
    assert TraceLog.objects.filter(trace=trace).count() == 1  # kept until the retention purge
    assert AuditEvent.objects.filter(action="trace.end", object_id=str(trace.pk)).exists()


def test_migrating_the_device_ends_its_trace(django_capture_on_commit_callbacks, writer, outsider, device,
                                             globex, trace):
    send(device)
    request = start_migration(writer, [device], globex)
    with django_capture_on_commit_callbacks(execute=True):
        migration.confirm_migration(writer, request.pk, send_code(request))
    trace.refresh_from_db()
    assert trace.stop_reason == StopReason.MIGRATED and not trace.is_active
    # the source lost the device and with it the trace; the target does not read the source's logs
    assert not MessageTrace.objects.visible_to(writer).exists()
    assert not MessageTrace.objects.visible_to(outsider).exists()
    # and the target may trace it afresh
    device.refresh_from_db()
    fresh = services.start_trace(outsider, device, timedelta(minutes=5))
    assert list(MessageTrace.objects.visible_to(outsider)) == [fresh]


def test_a_device_already_past_its_expiry_ends_as_expired(writer, device, trace):
    MessageTrace.objects.filter(pk=trace.pk).update(expires_at=now() - timedelta(minutes=1))
    asset_services.delete_device(writer, device)
    trace.refresh_from_db()
    assert trace.stop_reason == StopReason.EXPIRED and trace.stopped_at == trace.expires_at
