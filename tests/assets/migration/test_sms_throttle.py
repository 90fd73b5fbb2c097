"""Codes texted by migration are limited per target phone (hourly, and a daily cap), per requesting
user and per client address; a refusal is clear (429 + Retry-After on the API, a message in the
console), creates nothing and texts nobody. The text carries no free text a requester controls."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.models import AuditEvent
from accounts.services import create_ou, set_membership
from assets.migration import services
from assets.models import MigrationRequest
from tests.assets.api.helpers import api_client_for, assert_error
from tests.assets.migration.helpers import send, start
from tests.conftest import client_for, make_user

pytestmark = pytest.mark.django_db

URL = "/api/migrations/"
MANY = "1000/h"


@pytest.fixture
def rates(settings):
    """Sets some SMS rates for a test; the others stay out of the way."""

    def set_rates(**rates: str) -> None:
        settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "sms-phone": MANY, "sms-phone-day": "1000/d",
                                   "sms-user": MANY, "sms-ip": MANY,
                                   **{scope.replace("_", "-"): rate for scope, rate in rates.items()}}

    return set_rates


@pytest.fixture
def second_writer(acme):
    user = make_user("second_writer")
    set_membership(SYSTEM, acme, user, "asset_manager")
    return user


@pytest.fixture
def umbrella(db):
    """A third OU whose owner has a phone of their own."""
    return create_ou(SYSTEM, "Umbrella", make_user("umbrella_owner", "+8613800000077"))


def test_one_phone_gets_at_most_its_hourly_limit_whoever_asks(rates, writer, second_writer, device, globex,
                                                             umbrella):
    rates(sms_phone="2/h")
    start(writer, [device], globex)
    start(second_writer, [device], globex)
    with pytest.raises(services.Throttled) as refused:
        start(writer, [device], globex)
    error = refused.value
    assert error.status == 429 and error.code == "sms_throttled" and 3500 < error.retry_after <= 3600
    assert f"owner of OU {globex.ou_id}" in error.message and "60 minutes" in error.message
    assert globex.owner.phone not in error.message
    assert MigrationRequest.objects.filter(target_ou=globex).count() == 2
    assert AuditEvent.objects.filter(action="migration.request").count() == 2
    start(writer, [device], umbrella)  # another owner's phone has its own quota


def test_one_phone_has_a_daily_cap(rates, writer, second_writer, device, globex):
    rates(sms_phone_day="3/d")
    for requester in (writer, second_writer, writer):
        start(requester, [device], globex)
    with pytest.raises(services.Throttled) as refused:
        start(second_writer, [device], globex)
    assert 23 * 3600 < refused.value.retry_after <= 24 * 3600 and "24 hours" in refused.value.message


def test_one_user_asks_for_a_limited_number_of_codes_whatever_the_target(rates, writer, second_writer, device,
                                                                        globex, umbrella):
    rates(sms_user="2/h")
    start(writer, [device], globex)
    start(writer, [device], umbrella)
    with pytest.raises(services.Throttled) as refused:
        start(writer, [device], umbrella)
    assert "You asked for too many verification codes" in refused.value.message
    start(second_writer, [device], umbrella)  # other users are not held back


def test_a_refused_user_does_not_use_up_the_phones_quota(rates, writer, second_writer, device, globex):
    rates(sms_user="1/h", sms_phone="2/h")
    start(writer, [device], globex)
    for _ in range(3):
        with pytest.raises(services.Throttled):
            start(writer, [device], globex)
    start(second_writer, [device], globex)  # the phone's second code of the hour


def test_the_api_answers_429_with_retry_after_per_client_address(rates, writer, second_writer, device, globex):
    rates(sms_ip="2/h")
    body = {"deviceAssetIds": [device.asset_id], "targetOuId": globex.ou_id}
    for user in (writer, second_writer):
        client = api_client_for(user)
        assert client.post(URL, body, format="json", REMOTE_ADDR="203.0.113.5").status_code == 202
    refused = api_client_for(writer).post(URL, body, format="json", REMOTE_ADDR="203.0.113.5")
    error = assert_error(refused, 429, "sms_throttled")
    assert "network address" in error["message"]
    assert 3500 < int(refused["Retry-After"]) <= 3600 and error["details"] == {"retryAfter": [refused["Retry-After"]]}
    assert api_client_for(writer).post(URL, body, format="json", REMOTE_ADDR="192.0.2.8").status_code == 202


def test_resends_count_against_the_phone(rates, writer, device, globex, monkeypatch,
                                         django_capture_on_commit_callbacks, sms_outbox, eager_tasks):
    rates(sms_phone="2/h")
    api = api_client_for(writer)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(URL, {"deviceAssetIds": [device.asset_id], "targetOuId": globex.ou_id}, format="json")
    pk = created.json()["id"]
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"{URL}{pk}/resend/").status_code == 202
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(seconds=122))
    with django_capture_on_commit_callbacks(execute=True):
        refused = api.post(f"{URL}{pk}/resend/")
    assert_error(refused, 429, "sms_throttled")
    assert int(refused["Retry-After"]) > 0
    assert len(sms_outbox) == 2
    # the request goes on with the code already sent
    code = re.search(r"Verification code: (\d{6})", sms_outbox[-1]["message"]).group(1)
    assert api.post(f"{URL}{pk}/confirm/", {"code": code}, format="json").status_code == 200


def test_the_console_shows_the_refusal_in_the_dialog(rates, writer, device, globex):
    rates(sms_phone="1/h")
    start(writer, [device], globex)
    response = client_for(writer).post(reverse("assets:migrate"),
                                       {"asset_ids": device.asset_id, "target_ou_id": globex.ou_id},
                                       HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Too many verification codes were sent to the owner of OU" in response.content.decode()
    assert MigrationRequest.objects.count() == 1


def test_the_text_carries_no_free_text_a_requester_controls(writer, device, globex, sms_outbox):
    source = device.ou
    source.name = "Call +1 555 0100 to claim your refund"
    source.save()
    writer.username = "support.refunds.example"
    writer.save()
    code = send(start(writer, [device], globex))
    [message] = sms_outbox
    assert "555" not in message["message"] and "refund" not in message["message"]
    assert globex.name not in message["message"]
    assert f"from OU {source.ou_id} into your OU {globex.ou_id}" in message["message"]
    assert f"Verification code: {code}." in message["message"]
