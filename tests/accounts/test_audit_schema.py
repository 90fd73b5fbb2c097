"""The audit log keeps no database constraint on actor and ou (a cheaper bulk write): deleting a user still sets
their events' actor to none, and an event naming a user who is gone (written while the user was being deleted)
still reads everywhere, as the portal's own."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, User
from assets import services
from tests.assets.api.helpers import api_client_for
from tests.conftest import client_for, make_user


def superuser(username: str) -> User:
    user = make_user(username)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def root(db) -> User:
    return superuser("root")


def test_deleting_a_user_keeps_their_events_with_no_actor(root, device):
    helper = superuser("helper")  # no membership: the admin deletes only a user who holds no OU grants
    services.disable_device(helper, device)
    event = AuditEvent.objects.get(action="device.disable")
    assert event.actor == helper
    response = client_for(root).post(reverse("admin:accounts_user_delete", args=[helper.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=helper.pk).exists()
    event.refresh_from_db()
    assert (event.actor_id, event.ou_id, event.action) == (None, device.ou_id, "device.disable")


def test_an_event_whose_user_is_gone_reads_as_the_portals_own(root, owner, device):
    services.disable_device(owner, device)
    gone = (User.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    AuditEvent.objects.filter(action="device.disable").update(actor_id=gone)
    event = AuditEvent.objects.get(action="device.disable")

    page = client_for(owner).get(reverse("observability:audit-log") + "?action=device.disable")
    assert page.status_code == 200 and "Inverter 1" in page.content.decode()
    rows = api_client_for(owner).get("/api/audit-events/?action=device.disable").json()["results"]
    assert [(row["id"], row["actor"]) for row in rows] == [(event.pk, "system")]
    export = client_for(owner).get(reverse("observability:audit-log-export", args=["jsonl"]) + "?action=device.disable")
    assert export.status_code == 200 and '"actor": "system"' in b"".join(export.streaming_content).decode()

    admin = client_for(root)
    listing = admin.get(reverse("admin:accounts_auditevent_changelist") + "?family=device")
    assert listing.status_code == 200 and "device.disable" in listing.content.decode()
    assert admin.get(reverse("admin:accounts_auditevent_change", args=[event.pk])).status_code == 200
