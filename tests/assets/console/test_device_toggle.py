"""Enable/Disable: in the table the answer brings a fresh status summary (it stayed stale until a reload);
on the details page, a switch beside Edit that updates the status in the heading."""

from __future__ import annotations

from django.urls import reverse

from assets.models import Device
from tests.conftest import client_for

LIST = reverse("assets:device-list")


def toggle(client, device, **headers):
    return client.post(reverse("assets:device-toggle", args=[device.asset_id]), HTTP_HX_REQUEST="true", **headers)


def test_a_toggle_in_the_table_recounts_for_the_filters_shown(cast, device, writer):
    current = f"http://testserver{LIST}?q=inv&status=inactive&sort=name&after=abc"
    body = toggle(client_for(writer), device, HTTP_HX_TARGET=f"device-{device.asset_id}",
                  HTTP_HX_CURRENT_URL=current).content.decode()
    counts = reverse("assets:device-counts", args=[device.ou.ou_id])
    assert f'id="device-counts" class="counting" aria-busy="true" hx-get="{counts}?q=inv&amp;status=inactive"' in body
    assert 'hx-swap-oob="true"' in body and 'data-status="disable"' in body


def test_the_recount_then_counts_the_new_status(cast, device, writer):
    client = client_for(writer)
    counts = reverse("assets:device-counts", args=[device.ou.ou_id])
    assert client.get(counts).context["summary"]["disable"] == 0
    toggle(client, device, HTTP_HX_TARGET=f"device-{device.asset_id}", HTTP_HX_CURRENT_URL=f"http://testserver{LIST}")
    assert client.get(counts).context["summary"]["disable"] == 1


def test_the_details_page_has_the_switch_for_writers(cast, device, writer, viewer):
    url = reverse("assets:device-detail", args=[device.asset_id])
    body = client_for(writer).get(url).content.decode()
    toggle_url = reverse("assets:device-toggle", args=[device.asset_id])
    assert 'id="device-enabled" checked hx-post="' + toggle_url + '" hx-target="#device-state"' in body
    body = client_for(viewer).get(url).content.decode()
    assert 'id="device-enabled" checked disabled>' in body and toggle_url not in body


def test_the_details_switch_answers_its_state_and_the_heading_status(cast, device, writer):
    body = toggle(client_for(writer), device, HTTP_HX_TARGET="device-state").content.decode()
    assert 'id="device-state"' in body and 'id="device-enabled" hx-post=' in body  # unchecked now
    assert '<span id="device-status" hx-swap-oob="true" class="status disable"' in body
    assert "device-counts" not in body
    assert not Device.objects.get(pk=device.pk).enabled
    body = toggle(client_for(writer), device, HTTP_HX_TARGET="device-state").content.decode()
    assert 'id="device-enabled" checked' in body and 'class="status inactive"' in body
