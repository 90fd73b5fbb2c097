"""/api/migrations/: the whole flow, the OU matrix, and every refusal in the {code, message, details} shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assets.models import Device, MigrationRequest, MigrationStatus, ProductShare
from tests.assets.api.helpers import api_client_for, assert_error
from tests.assets.migration.helpers import code_in_outbox, wrong

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

URL = "/api/migrations/"


@pytest.fixture
def post_and_run(django_capture_on_commit_callbacks):
    """POST and run what was enqueued on commit (the code task), as a worker would."""

    def post(client, url, body=None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, body or {}, format="json")

    return post


def body(devices, target, include=True):
    return {"deviceAssetIds": [d.asset_id for d in devices], "targetOuId": target.ou_id,
            "includeSubDevices": include}


def test_the_whole_flow(writer, outsider, device, globex, product, post_and_run, sms_outbox):
    api = api_client_for(writer)
    created = post_and_run(api, URL, body([device], globex))
    assert created.status_code == 202, created.content
    data = created.json()
    assert data["status"] == "pending" and data["deviceAssetIds"] == [device.asset_id]
    assert data["targetOuId"] == globex.ou_id and data["codeSentTo"].endswith("09")
    assert data["codeSentAt"] is None and data["attemptsLeft"] == 5  # the task sends it after the commit
    sent = api.get(f"{URL}{data['id']}/").json()
    assert sent["codeSentAt"] and sent["expiresAt"] and sent["deliveryError"] is None
    assert sms_outbox[0]["to"] == globex.owner.phone

    confirmed = api.post(f"{URL}{data['id']}/confirm/", {"code": code_in_outbox()}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    result = confirmed.json()
    assert result["status"] == "done"
    assert result["result"]["moved"] == 1 and result["result"]["sharedProducts"] == [product.product_key]
    assert api.get(f"{URL}{data['id']}/").json()["status"] == "done"

    # the source no longer sees it; the target sees and edits it
    assert api.get(f"/api/devices/{device.asset_id}/").status_code == 404
    target_api = api_client_for(outsider)
    assert target_api.get(f"/api/devices/{device.asset_id}/").json()["ouId"] == globex.ou_id
    assert target_api.patch(f"/api/devices/{device.asset_id}/", {"name": "Globex inverter"},
                            format="json").status_code == 200
    # the shared product is read-only for the target
    assert_error(target_api.patch(f"/api/products/{product.product_key}/", {"name": "x"}, format="json"), 403)


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("outsider", 404), ("globex_writer", 404),
                                             ("anonymous", 401)])
def test_only_writers_of_the_source_may_start(request, who, status, device, globex, globex_writer, cast):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    response = api_client_for(user).post(URL, body([device], globex), format="json")
    assert_error(response, status)
    assert not MigrationRequest.objects.exists()


@pytest.fixture
def started(writer, device, globex, post_and_run):
    response = post_and_run(api_client_for(writer), URL, body([device], globex))
    assert response.status_code == 202
    return response.json()["id"], code_in_outbox()


@pytest.mark.parametrize("who", ["owner", "viewer", "outsider", "globex_writer", "anonymous"])
def test_only_the_requester_sees_and_confirms_the_request(request, who, started, device, cast, globex_writer):
    pk, code = started
    user = None if who == "anonymous" else request.getfixturevalue(who)
    api = api_client_for(user)
    status = 401 if user is None else 404
    assert_error(api.get(f"{URL}{pk}/"), status)
    assert_error(api.post(f"{URL}{pk}/confirm/", {"code": code}, format="json"), status)
    assert_error(api.post(f"{URL}{pk}/resend/"), status)
    assert Device.objects.get(pk=device.pk).ou_id == device.ou_id


def test_wrong_codes_then_locked(writer, started, device):
    pk, code = started
    api = api_client_for(writer)
    for left in (4, 3, 2, 1):
        error = assert_error(api.post(f"{URL}{pk}/confirm/", {"code": wrong(code)}, format="json"), 400, "wrong_code")
        assert f"{left} attempt" in error["message"] and error["details"] == {"code": [error["message"]]}
    assert_error(api.post(f"{URL}{pk}/confirm/", {"code": wrong(code)}, format="json"), 409, "request_locked")
    assert_error(api.post(f"{URL}{pk}/confirm/", {"code": code}, format="json"), 409, "request_locked")
    assert api.get(f"{URL}{pk}/").json()["status"] == MigrationStatus.LOCKED


def test_resend_is_throttled_and_gives_a_new_code(writer, started, monkeypatch, post_and_run, sms_outbox):
    pk, first = started
    api = api_client_for(writer)
    response = post_and_run(api, f"{URL}{pk}/resend/")
    assert_error(response, 429, "resend_throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    later = timezone.now() + timedelta(seconds=61)
    monkeypatch.setattr(timezone, "now", lambda: later)
    response = post_and_run(api, f"{URL}{pk}/resend/")
    assert response.status_code == 202
    assert len(sms_outbox) == 2
    second = code_in_outbox()
    if first != second:
        assert_error(api.post(f"{URL}{pk}/confirm/", {"code": first}, format="json"), 400, "wrong_code")
    assert api.post(f"{URL}{pk}/confirm/", {"code": second}, format="json").status_code == 200


def test_an_expired_code(writer, started, monkeypatch):
    pk, code = started
    later = timezone.now() + timedelta(minutes=10, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert_error(api_client_for(writer).post(f"{URL}{pk}/confirm/", {"code": code}, format="json"), 409,
                 "code_expired")


def test_a_device_moved_meanwhile_fails_cleanly(writer, started, device, initech):
    pk, code = started
    Device.objects.filter(pk=device.pk).update(ou=initech)
    error = assert_error(api_client_for(writer).post(f"{URL}{pk}/confirm/", {"code": code}, format="json"), 409,
                         "devices_changed")
    assert error["details"] == {"deviceAssetIds": [device.asset_id]}
    assert not ProductShare.objects.exists()


@pytest.mark.parametrize(("make_body", "status", "code"), [
    (lambda w: {"deviceAssetIds": [w.device.asset_id], "targetOuId": "o00000000000000"}, 400, "ou_not_found"),
    (lambda w: {"deviceAssetIds": [w.device.asset_id], "targetOuId": w.acme.ou_id}, 400, "same_ou"),
    (lambda w: {"deviceAssetIds": [w.device.asset_id], "targetOuId": w.initech.ou_id}, 400, "owner_without_phone"),
    (lambda w: {"deviceAssetIds": ["nope"], "targetOuId": w.globex.ou_id}, 404, "device_not_found"),
    (lambda w: {"deviceAssetIds": [], "targetOuId": w.globex.ou_id}, 400, "validation_error"),
    (lambda w: {"deviceAssetIds": [w.device.asset_id]}, 400, "validation_error"),
    (lambda w: {"deviceAssetIds": [w.device.asset_id], "targetOuId": w.globex.ou_id, "action": "copy"}, 400,
     "validation_error"),
])
def test_get_code_refusals(writer, device, acme, globex, initech, make_body, status, code):
    from types import SimpleNamespace

    world = SimpleNamespace(device=device, acme=acme, globex=globex, initech=initech)
    assert_error(api_client_for(writer).post(URL, make_body(world), format="json"), status, code)
    assert not MigrationRequest.objects.exists()


def test_a_malformed_code_is_a_validation_error(writer, started):
    pk, _ = started
    assert_error(api_client_for(writer).post(f"{URL}{pk}/confirm/", {}, format="json"), 400, "validation_error")
    assert_error(api_client_for(writer).post(f"{URL}{pk}/confirm/", {"code": "12"}, format="json"), 400,
                 "invalid_code")


def test_a_gateway_without_its_sub_devices(writer, acme, gateway, sub_devices, globex, post_and_run):
    api = api_client_for(writer)
    pk = post_and_run(api, URL, body([gateway], globex, include=False)).json()["id"]
    result = api.post(f"{URL}{pk}/confirm/", {"code": code_in_outbox()}, format="json").json()["result"]
    assert (result["moved"], result["detachedSubDevices"]) == (1, 3)
    listed = api.get(f"/api/devices/?ou={acme.ou_id}").json()["results"]
    assert {row["deviceKey"] for row in listed} == {s.device_key for s in sub_devices}
    assert all(row["assetType"] == "Device" for row in listed)  # detached: no longer sub-devices


def test_the_confirm_costs_a_fixed_number_of_queries(writer, gateway, sub_devices, globex, post_and_run,
                                                     django_assert_max_num_queries):
    api = api_client_for(writer)
    pk = post_and_run(api, URL, body([gateway], globex)).json()["id"]
    with django_assert_max_num_queries(25):
        assert api.post(f"{URL}{pk}/confirm/", {"code": code_in_outbox()}, format="json").status_code == 200
