"""Traces in the admin: support staff read them and may stop one (through the service, audited)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, User
from tests.conftest import client_for
from tracing.models import MessageTrace

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(db) -> User:
    return User.objects.create_superuser("support", "support@example.com", "x")


def test_support_staff_list_traces_and_stop_one(support, device, trace):
    client = client_for(support)
    listing = client.get(reverse("admin:tracing_messagetrace_changelist"))
    assert listing.status_code == 200
    assert str(device) in listing.content.decode()
    client.post(reverse("admin:tracing_messagetrace_changelist"),
                {"action": "stop_traces", "_selected_action": [trace.pk]})
    trace.refresh_from_db()
    assert trace.stop_reason == "stopped" and trace.stopped_by == support
    assert AuditEvent.objects.filter(action="trace.stop", actor=support).exists()


def test_traces_cannot_be_added_or_edited_in_the_admin(support, trace):
    client = client_for(support)
    assert client.get(reverse("admin:tracing_messagetrace_add")).status_code == 403
    client.post(reverse("admin:tracing_messagetrace_change", args=[trace.pk]), {"last_seq": 99})
    assert MessageTrace.objects.get(pk=trace.pk).last_seq == 0
