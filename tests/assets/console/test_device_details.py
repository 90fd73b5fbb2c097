from __future__ import annotations

import html

from django.urls import reverse

from accounts.models import AuditEvent
from assets.models import Device
from tests.conftest import client_for


def test_details_show_the_triple_with_the_secret_masked(cast, device, writer):
    body = client_for(writer).get(reverse("assets:device-detail", args=[device.asset_id])).content.decode()
    assert device.product.product_key in body
    assert device.device_key in body
    assert device.device_secret not in body
    assert "Reveal" in body


def test_reveal_shows_the_secret_and_is_audited(cast, device, writer):
    response = client_for(writer).post(reverse("assets:device-secret", args=[device.asset_id]),
                                       HTTP_HX_REQUEST="true")
    assert device.device_secret in response.content.decode()
    event = AuditEvent.objects.get(action="device.secret_reveal")
    assert event.actor == writer and event.object_id == device.asset_id


def test_viewer_cannot_reveal_and_is_told_why(cast, device, viewer):
    client = client_for(viewer)
    body = client.get(reverse("assets:device-detail", args=[device.asset_id])).content.decode()
    assert "Read access only" in body
    assert client.post(reverse("assets:device-secret", args=[device.asset_id])).status_code == 403
    assert not AuditEvent.objects.filter(action="device.secret_reveal").exists()


def test_reset_secret_makes_a_new_one(cast, device, writer):
    old = device.device_secret
    response = client_for(writer).post(reverse("assets:device-reset-secret", args=[device.asset_id]),
                                       HTTP_HX_REQUEST="true")
    device.refresh_from_db()
    assert device.device_secret != old and len(device.device_secret) == 20
    assert device.device_secret in response.content.decode()
    assert AuditEvent.objects.filter(action="device.secret_reset", object_id=device.asset_id).exists()


def test_gateway_has_a_sub_device_tab_and_a_device_does_not(cast, device, gateway, writer):
    client = client_for(writer)
    assert "Sub-device" in client.get(reverse("assets:device-detail", args=[gateway.asset_id])).content.decode()
    assert client.get(reverse("assets:device-sub-devices", args=[device.asset_id])).status_code == 404


def test_new_sub_device_lists_only_eligible_devices(cast, device, gateway, gateway_product, globex_device, writer):
    other_gateway = Device.objects.create(ou=gateway.ou, product=gateway_product, device_key="gw-2", name="GW2",
                                          attributes={"serial": "x"})
    taken = Device.objects.create(ou=device.ou, product=device.product, device_key="taken", name="Taken",
                                  gateway=other_gateway, attributes={"serial": "x"})
    response = client_for(writer).get(reverse("assets:device-sub-device-candidates", args=[gateway.asset_id]))
    keys = {d.device_key for d in response.context["candidates"]}
    assert keys == {device.device_key}
    assert taken.device_key not in keys and globex_device.device_key not in keys


def test_add_and_remove_sub_devices(cast, device, gateway, writer):
    client = client_for(writer)
    response = client.post(reverse("assets:device-sub-device-add", args=[gateway.asset_id]),
                           {"asset_ids": [device.asset_id]}, follow=True)
    device.refresh_from_db()
    assert device.gateway == gateway
    assert response.redirect_chain[-1][0] == reverse("assets:device-sub-devices", args=[gateway.asset_id])
    assert "1 sub-device added to Gateway 1." in response.content.decode()
    assert device.device_key in response.content.decode()
    response = client.post(reverse("assets:device-sub-device-remove", args=[gateway.asset_id]),
                           {"asset_ids": [device.asset_id]}, follow=True)
    device.refresh_from_db()
    assert device.gateway is None
    assert "1 sub-device removed from Gateway 1." in response.content.decode()


def test_a_gateway_cannot_become_a_sub_device(cast, gateway, gateway_product, writer):
    other = Device.objects.create(ou=gateway.ou, product=gateway_product, device_key="gw-2", name="GW2",
                                  attributes={"serial": "x"})
    response = client_for(writer).post(reverse("assets:device-sub-device-add", args=[gateway.asset_id]),
                                       {"asset_ids": [other.asset_id]}, follow=True)
    assert "cannot be added" in response.content.decode()
    other.refresh_from_db()
    assert other.gateway is None


def test_create_device_validates_against_the_model(cast, product, writer):
    client = client_for(writer)
    url = reverse("assets:device-create")
    response = client.post(url, {"save": "1", "product": product.product_key, "name": "New one",
                                 "timezone": "+25:00", "attr_capacity": "9999"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "above the maximum" in body
    assert not Device.objects.filter(name="New one").exists()
    response = client.post(url, {"save": "1", "product": product.product_key, "name": "New one",
                                 "timezone": "+08:00", "attr_serial": "SN-9", "attr_capacity": "12.5",
                                 "tags": "site=north"})
    created = Device.objects.get(name="New one")
    assert response.status_code == 302
    assert created.attributes == {"serial": "SN-9", "capacity": 12.5}
    assert created.tags == {"site": "north"} and created.enabled
    assert len(created.device_key) >= 4


def test_create_refuses_a_bad_timezone_with_a_clear_message(cast, product, writer):
    response = client_for(writer).post(reverse("assets:device-create"), {
        "save": "1", "product": product.product_key, "name": "TZ", "timezone": "+25:00", "attr_serial": "S"})
    assert '"+25:00" is not a valid time zone' in html.unescape(response.content.decode())


def test_edit_and_delete_a_device(cast, device, writer):
    client = client_for(writer)
    client.post(reverse("assets:device-edit", args=[device.asset_id]), {
        "save": "1", "name": "Renamed", "timezone": "Asia/Shanghai", "attr_serial": "SN-1"})
    device.refresh_from_db()
    assert device.name == "Renamed" and device.timezone == "Asia/Shanghai"
    confirm = client.get(reverse("assets:device-delete", args=[device.asset_id])).content.decode()
    assert reverse("assets:device-detail", args=[device.asset_id]) in confirm  # Cancel goes back to the device
    response = client.post(reverse("assets:device-delete", args=[device.asset_id]), follow=True)
    assert not Device.objects.filter(pk=device.pk).exists()
    assert response.redirect_chain[-1][0] == reverse("assets:device-list")
    assert "Device Renamed deleted." in response.content.decode()


def test_delete_asked_by_htmx_answers_the_confirmation_as_a_modal_dialog(cast, device, writer, viewer):
    url = reverse("assets:device-delete", args=[device.asset_id])
    body = client_for(writer).get(url, HTTP_HX_REQUEST="true").content.decode()
    assert '<dialog class="migrate-backdrop" aria-labelledby="confirm-delete-title">' in body
    assert "<html" not in body
    assert f'action="{url}"' in body  # the form posts to the delete URL, not the page it sits in
    assert 'data-empties="#migrate-dialog" autofocus' in body  # Cancel closes it and has the focus
    assert client_for(viewer).get(url, HTTP_HX_REQUEST="true").status_code == 403
    assert Device.objects.filter(pk=device.pk).exists()
