"""The Migrate dialog's sentences use proper plural forms ("1 device match.", "2 sub-device(s)" and "Move 1
device and their 2 sub-devices" were reported), and the attempts left are said once."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from assets.models import Device
from tests.assets.migration.fixtures import sms_outbox  # noqa: F401 - fixture
from tests.assets.migration.helpers import send, start, wrong
from tests.conftest import client_for

HTMX = {"HTTP_HX_REQUEST": "true"}
START = reverse("assets:migrate")


def words(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))


def make_subs(gateway, product, count: int) -> None:
    for i in range(count):
        Device.objects.create(ou=gateway.ou, product=product, device_key=f"sub-{i:03d}", name=f"Sub {i}",
                              gateway=gateway)


@pytest.mark.parametrize(("subs", "expected"), [
    (1, "Migrate the gateway's sub-device together with it (1 sub-device)"),
    (2, "Migrate the gateway's sub-devices together with it (2 sub-devices)"),
])
def test_the_first_step_counts_sub_devices_in_words(cast, writer, gateway, product, subs, expected):
    make_subs(gateway, product, subs)
    body = words(client_for(writer).get(START, {"asset_ids": gateway.asset_id}, **HTMX))
    assert expected in body and "1 device of OU Acme" in body
    assert "(s)" not in body


@pytest.mark.parametrize(("subs", "expected"), [
    (0, "Move 1 device from OU Acme to OU Globex?"),
    (1, "Move 1 device with 1 sub-device from OU Acme to OU Globex?"),
    (2, "Move 1 device with 2 sub-devices from OU Acme to OU Globex?"),
])
def test_the_confirmation_counts_devices_and_sub_devices(cast, writer, gateway, product, globex, subs, expected):
    make_subs(gateway, product, subs)
    migration = start(writer, [gateway], globex)
    code = send(migration)
    response = client_for(writer).post(reverse("assets:migrate-code", args=[migration.pk]), {"code": code}, **HTMX)
    body = words(response)
    assert expected in body
    assert "their" not in body and "(s)" not in body


def test_a_wrong_code_says_the_attempts_left_once(cast, writer, device, globex):
    migration = start(writer, [device], globex)
    code = send(migration)
    url = reverse("assets:migrate-code", args=[migration.pk])
    client = client_for(writer)
    client.post(url, {"code": wrong(code)}, **HTMX)
    body = words(client.post(url, {"code": wrong(code)}, **HTMX))
    assert body.count("attempts left") == 1 and "3 attempts left" in body
    # after a resend (no error) the line says it on its own
    status = words(client.get(reverse("assets:migrate-status", args=[migration.pk]), **HTMX))
    assert status.count("attempts left") == 1 and "3 attempts left." in status


def test_one_attempt_left_is_singular(cast, writer, device, globex):
    migration = start(writer, [device], globex)
    code = send(migration)
    url = reverse("assets:migrate-code", args=[migration.pk])
    client = client_for(writer)
    for _ in range(4):
        client.post(url, {"code": wrong(code)}, **HTMX)
    status = words(client.get(reverse("assets:migrate-status", args=[migration.pk]), **HTMX))
    assert "1 attempt left." in status and "1 attempts" not in status
