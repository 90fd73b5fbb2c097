"""What of a device's history follows it to another OU (the decision is in connectivity/models.py):
latest values move with the device; command invocations (parameters, replies, who sent them),
traces and audit events stay with the OU that made them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now

from accounts import sms
from accounts.models import AuditEvent
from assets.migration import services as migration
from connectivity.models import CommandInvocation, LatestValue
from tests.assets.api.helpers import api_client_for
from tests.assets.migration.helpers import send, start
from tests.conftest import client_for
from tracing import services as tracing
from tracing.models import MessageTrace

from .fakes import answer_commands, connect

pytestmark = pytest.mark.django_db
SECRET_REPLY = {"acmeOnly": "restarted by plan B"}


@pytest.fixture(autouse=True)
def sms_to_memory(settings):
    settings.SMS_BACKEND = "accounts.sms.LocmemBackend"
    sms.outbox.clear()


def move(actor, device, target, capture_on_commit=None) -> None:
    """Migrate the device; with pytest-django's capture fixture, what the move sends on commit runs."""
    request = start(actor, [device], target)
    code = send(request)
    if capture_on_commit is None:
        migration.confirm_migration(actor, request.pk, code)
    else:
        with capture_on_commit(execute=True):
            migration.confirm_migration(actor, request.pk, code)
    device.refresh_from_db()
    assert device.ou_id == target.pk


def invocations_api(user, device) -> list[dict]:
    response = api_client_for(user).get(f"/api/devices/{device.asset_id}/services/invocations/")
    assert response.status_code == 200, response.content
    return response.json()


def recent_commands_table(user, device) -> str:
    """The Services tab's table of recent commands, as HTML."""
    response = client_for(user).get(reverse("connectivity:device-services", args=[device.asset_id]))
    assert response.status_code == 200
    page = response.content.decode()
    table = page[page.index('id="invocations"'):]
    return table[:table.index("</table>")]


@pytest.fixture
def acme_history(cast, device, writer, monkeypatch) -> CommandInvocation:
    """Acme's writer restarted the device (which replied) while a trace ran; it reported its power."""
    answer_commands(monkeypatch, connect(device), data=SECRET_REPLY)
    tracing.start_trace(writer, device, timedelta(hours=1))
    response = api_client_for(writer).post(f"/api/devices/{device.asset_id}/services/restart/invoke/",
                                           {"params": {"delay": 3141}}, format="json")
    assert response.json()["status"] == "ok", response.content
    LatestValue.objects.create(device=device, identifier="power", value=3.5, time=now())
    return CommandInvocation.objects.get()


def test_an_invocation_records_the_ou_that_issued_it(acme_history, acme):
    assert acme_history.ou_id == acme.pk and acme_history.requested_by.username == "writer"


def test_an_invocation_created_without_its_ou_takes_the_devices(device, acme):
    invocation = CommandInvocation.objects.create(device=device, service="restart")
    assert invocation.ou_id == acme.pk


def test_the_target_does_not_see_the_sources_commands(acme_history, device, writer, outsider, globex):
    assert invocations_api(writer, device)[0]["data"] == SECRET_REPLY  # visible before the move
    before = recent_commands_table(writer, device)
    assert "acmeOnly" in before and "3141" in before and "writer" in before
    move(writer, device, globex)

    assert invocations_api(outsider, device) == []
    table = recent_commands_table(outsider, device)
    assert "No command was issued to this device yet." in table
    assert "acmeOnly" not in table and "3141" not in table and "writer" not in table
    assert not CommandInvocation.objects.visible_to(outsider).exists()
    assert CommandInvocation.objects.get().ou_id != globex.pk  # kept, for its OU


def test_the_target_sees_the_latest_values_the_device_reported(acme_history, device, writer, outsider, globex):
    move(writer, device, globex)
    latest = api_client_for(outsider).get(f"/api/devices/{device.asset_id}/latest-data/").json()
    assert latest["measurepoints"][0]["identifier"] == "power" and latest["measurepoints"][0]["value"] == 3.5
    card = client_for(outsider).get(reverse("connectivity:device-latest", args=[device.asset_id]))
    assert card.status_code == 200 and "3.5" in card.content.decode()


def test_the_targets_own_commands_show_and_the_source_sees_the_device_no_more(acme_history, device, writer,
                                                                            outsider, globex):
    move(writer, device, globex)
    response = api_client_for(outsider).post(f"/api/devices/{device.asset_id}/services/restart/invoke/",
                                             {"params": {"delay": 7}}, format="json")
    assert response.status_code == 200, response.content
    listed = invocations_api(outsider, device)
    assert [row["invocationId"] for row in listed] == [response.json()["invocationId"]]
    table = recent_commands_table(outsider, device)
    assert "outsider" in table and "3141" not in table and "writer" not in table
    assert api_client_for(writer).get(f"/api/devices/{device.asset_id}/services/invocations/").status_code == 404
    assert CommandInvocation.objects.get(pk=response.json()["invocationId"]).ou_id == globex.pk


def test_back_in_its_first_ou_the_device_shows_that_ous_commands_only(acme_history, device, writer, outsider,
                                                                     acme, globex):
    move(writer, device, globex)
    api_client_for(outsider).post(f"/api/devices/{device.asset_id}/services/restart/invoke/",
                                  {"params": {"delay": 7}}, format="json")
    move(outsider, device, acme)
    assert [row["invocationId"] for row in invocations_api(writer, device)] == [acme_history.pk]
    assert api_client_for(outsider).get(f"/api/devices/{device.asset_id}/services/invocations/").status_code == 404


def test_traces_and_audit_events_stay_with_their_ou(acme_history, device, writer, outsider, acme, globex,
                                                   django_capture_on_commit_callbacks):
    move(writer, device, globex, django_capture_on_commit_callbacks)
    trace = MessageTrace.objects.get()
    assert trace.ou_id == acme.pk and trace.stop_reason == "migrated"
    assert api_client_for(outsider).get(f"/api/devices/{device.asset_id}/traces/").json() == []
    invoked = AuditEvent.objects.get(action="device.service_invoke")
    assert invoked.ou_id == acme.pk
    assert set(AuditEvent.objects.filter(ou=globex).values_list("action", flat=True)) >= {"device.migrate_in"}
    assert not AuditEvent.objects.filter(ou=globex, action__in=["device.service_invoke", "trace.start"]).exists()


def test_the_targets_staff_do_not_see_the_sources_commands_in_the_admin(acme_history, device, writer, outsider,
                                                                         globex):
    from django.contrib.auth.models import Permission

    outsider.is_staff = True
    outsider.save()
    outsider.user_permissions.add(Permission.objects.get(codename="view_commandinvocation"))
    move(writer, device, globex)
    client = client_for(outsider)
    listed = client.get(reverse("admin:connectivity_commandinvocation_changelist"))
    assert listed.status_code == 200 and "restart" not in listed.content.decode()
    url = reverse("admin:connectivity_commandinvocation_change", args=[acme_history.pk])
    assert client.get(url).status_code == 404
