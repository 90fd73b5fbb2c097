"""The console's Migrate dialog: each step as htmx partials, every refusal shown, and the OU matrix."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from assets.models import Device, MigrationRequest, MigrationStatus
from tests.assets.migration.helpers import code_in_outbox, send, start, wrong
from tests.conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

HTMX = {"HTTP_HX_REQUEST": "true"}
START = reverse("assets:migrate")


def step(response) -> str:
    assert response.status_code == 200, response.content
    return re.search(r'data-step="(\w+)"', response.content.decode()).group(1)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def post_and_run(django_capture_on_commit_callbacks):
    def post(client, url, data=None, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data or {}, **extra)

    return post


def test_the_whole_dialog(writer, outsider, device, globex, post_and_run, sms_outbox):
    client = client_for(writer)
    opened = client.get(START, {"asset_ids": device.asset_id}, **HTMX)
    assert step(opened) == "start" and "<html" not in text(opened)
    assert "Get Code" in text(opened) and device.name in text(opened) and "Move" in text(opened)

    coded = post_and_run(client, START, {"asset_ids": device.asset_id, "target_ou_id": globex.ou_id}, **HTMX)
    assert step(coded) == "code"
    assert "Globex" in text(coded) and "•••• 09" in text(coded)
    pk = MigrationRequest.objects.get().pk
    delivery = client.get(reverse("assets:migrate-status", args=[pk]), {"part": "delivery"}, **HTMX)
    assert "was sent by SMS" in text(delivery) and "hx-trigger" not in text(delivery)  # polling stops

    wrong_code = client.post(reverse("assets:migrate-code", args=[pk]), {"code": wrong(code_in_outbox())}, **HTMX)
    assert step(wrong_code) == "code" and "Wrong code; 4 attempts left." in text(wrong_code)

    confirm = client.post(reverse("assets:migrate-code", args=[pk]), {"code": code_in_outbox()}, **HTMX)
    assert step(confirm) == "confirm"
    assert "Move 1 device from OU Acme to OU Globex" in re.sub(r"<[^>]+>", "", text(confirm))
    assert Device.objects.get(pk=device.pk).ou_id == device.ou_id  # not before the final OK

    done = client.post(reverse("assets:migrate-confirm", args=[pk]),
                       {"code": re.search(r'name="code" value="(\d+)"', text(confirm)).group(1)}, **HTMX)
    assert done.status_code == 200 and done["HX-Redirect"] == reverse("assets:device-list")
    listing = client.get(reverse("assets:device-list"))
    assert "1 device moved to OU Globex" in text(listing)
    assert device.device_key not in text(listing)

    # the source lost it; the target sees and edits it
    assert client.get(reverse("assets:device-detail", args=[device.asset_id])).status_code == 404
    target = client_for(outsider)
    assert target.get(reverse("assets:device-detail", args=[device.asset_id])).status_code == 200
    assert target.get(reverse("assets:device-edit", args=[device.asset_id])).status_code == 200


def test_the_dialog_works_without_htmx_too(writer, device, globex, post_and_run):
    client = client_for(writer)
    page = client.get(START, {"asset_ids": device.asset_id})
    assert step(page) == "start" and "<html" in text(page)
    coded = post_and_run(client, START, {"asset_ids": device.asset_id, "target_ou_id": globex.ou_id})
    pk = MigrationRequest.objects.get().pk
    confirm = client.post(reverse("assets:migrate-code", args=[pk]), {"code": code_in_outbox()})
    assert step(coded) == "code" and step(confirm) == "confirm"
    done = client.post(reverse("assets:migrate-confirm", args=[pk]), {"code": code_in_outbox()})
    assert done.status_code == 302 and done["Location"] == reverse("assets:device-list")


@pytest.mark.parametrize(("target", "message"), [
    ("o00000000000000", "No OU has the ID o00000000000000"),
    ("", "Enter the ID of the OU"),
    ("acme", "The devices already belong to OU Acme"),
    ("initech", "The owner of OU Initech has no phone number"),
])
def test_get_code_refusals_are_shown_in_the_dialog(writer, device, acme, initech, target, message):
    target_id = {"acme": acme.ou_id, "initech": initech.ou_id}.get(target, target)
    response = client_for(writer).post(START, {"asset_ids": device.asset_id, "target_ou_id": target_id}, **HTMX)
    assert step(response) == "start"
    assert message in text(response)
    assert f'value="{target_id}"' in text(response)  # what was typed stays
    assert not MigrationRequest.objects.exists()


def test_an_empty_selection_is_refused_with_a_message(writer, acme):
    response = client_for(writer).get(START, **HTMX)
    assert step(response) == "closed" and "Select at least one device" in text(response)


def test_a_selection_of_several_devices(writer, device, gateway, sub_devices):
    response = client_for(writer).get(START, {"asset_ids": [device.asset_id, gateway.asset_id]}, **HTMX)
    assert "2 devices" in text(response)
    assert 'name="include_sub_devices"' in text(response) and "(3 sub-devices)" in text(response)


def test_a_device_without_sub_devices_is_not_asked_about_them(writer, device):
    response = client_for(writer).get(START, {"asset_ids": device.asset_id}, **HTMX)
    assert 'name="include_sub_devices"' not in text(response)


def test_unchecking_sub_devices_leaves_them(writer, acme, gateway, sub_devices, globex, post_and_run):
    client = client_for(writer)
    post_and_run(client, START, {"asset_ids": gateway.asset_id, "target_ou_id": globex.ou_id}, **HTMX)
    request = MigrationRequest.objects.get()
    assert request.include_sub_devices is False
    client.post(reverse("assets:migrate-confirm", args=[request.pk]), {"code": code_in_outbox()}, **HTMX)
    assert set(Device.objects.filter(pk__in=[s.pk for s in sub_devices]).values_list("ou_id", flat=True)) == {acme.pk}


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("outsider", 404), ("globex_writer", 404),
                                             ("anonymous", 302)])
def test_only_writers_of_the_source_open_the_dialog(request, who, status, device, globex, cast, globex_writer):
    client = client_for(None if who == "anonymous" else request.getfixturevalue(who))
    assert client.get(START, {"asset_ids": device.asset_id}, **HTMX).status_code == status
    response = client.post(START, {"asset_ids": device.asset_id, "target_ou_id": globex.ou_id}, **HTMX)
    assert response.status_code == status
    assert not MigrationRequest.objects.exists()


@pytest.mark.parametrize("who", ["owner", "viewer", "outsider", "globex_writer"])
@pytest.mark.parametrize("name", ["assets:migrate-status", "assets:migrate-resend", "assets:migrate-code",
                                  "assets:migrate-confirm"])
def test_someone_elses_request_is_not_found(request, who, name, writer, device, globex, cast, globex_writer):
    migration = start(writer, [device], globex)
    code = send(migration)
    client = client_for(request.getfixturevalue(who))
    url = reverse(name, args=[migration.pk])
    response = client.get(url, **HTMX) if name == "assets:migrate-status" else client.post(url, {"code": code}, **HTMX)
    assert response.status_code == 404
    migration.refresh_from_db()
    assert migration.status == MigrationStatus.PENDING and migration.failed_attempts == 0


def test_resend_too_soon_says_when(writer, device, globex):
    migration = start(writer, [device], globex)
    response = client_for(writer).post(reverse("assets:migrate-resend", args=[migration.pk]), **HTMX)
    assert step(response) == "code" and "try again in" in text(response)


def test_a_locked_request_shows_why_and_offers_only_close(writer, device, globex):
    migration = start(writer, [device], globex)
    code = send(migration)
    client = client_for(writer)
    for _ in range(5):
        response = client.post(reverse("assets:migrate-code", args=[migration.pk]), {"code": wrong(code)}, **HTMX)
    assert step(response) == "closed" and "5 wrong codes" in text(response)
    assert "Close" in text(response) and 'name="code"' not in text(response)


def test_a_device_moved_meanwhile_is_reported_in_the_dialog(writer, device, globex, initech):
    migration = start(writer, [device], globex)
    code = send(migration)
    Device.objects.filter(pk=device.pk).update(ou=initech)
    response = client_for(writer).post(reverse("assets:migrate-confirm", args=[migration.pk]), {"code": code}, **HTMX)
    assert step(response) == "closed" and "Nothing was moved" in text(response)


def test_a_failed_sms_is_shown_while_waiting(writer, device, globex):
    migration = start(writer, [device], globex)
    client = client_for(writer)
    waiting = client.get(reverse("assets:migrate-status", args=[migration.pk]), {"part": "delivery"}, **HTMX)
    assert "Sending a verification code" in text(waiting) and 'hx-trigger="every 2s"' in text(waiting)
    migration.result["delivery_error"] = "The SMS gateway refused the message: HTTP 503"
    migration.save()
    failed = client.get(reverse("assets:migrate-status", args=[migration.pk]), {"part": "delivery"}, **HTMX)
    assert "HTTP 503" in text(failed) and "hx-trigger" not in text(failed)


def test_the_table_offers_migrate_to_writers_only(writer, viewer, device):
    listing = text(client_for(writer).get(reverse("assets:device-list")))
    assert f'{START}?asset_ids={device.asset_id}' in listing
    assert 'form="migrate-selection"' in listing and "Migrate selected" in listing
    read_only = text(client_for(viewer).get(reverse("assets:device-list")))
    assert START not in read_only and "migrate-selection" not in read_only


def test_the_details_page_offers_migrate_to_writers_only(writer, viewer, device):
    url = reverse("assets:device-detail", args=[device.asset_id])
    assert f'{START}?asset_ids={device.asset_id}' in text(client_for(writer).get(url))
    assert START not in text(client_for(viewer).get(url))


def test_selection_columns_cost_no_queries_per_row(writer, acme, product, django_assert_num_queries):
    client = client_for(writer)
    client.get(reverse("assets:device-list"))  # session and current OU settled

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("assets:device-list")).status_code == 200
        return len(queries)

    Device.objects.create(ou=acme, product=product, device_key="one", name="One")
    few = count()
    Device.objects.bulk_create([Device(ou=acme, product=product, device_key=f"d{i}", name=f"D{i}")
                                for i in range(19)])
    assert count() == few
