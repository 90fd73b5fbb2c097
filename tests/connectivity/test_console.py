"""The console: a device's Services tab issues commands and shows outcomes; latest data on the
details page; live status badges for the Device Assets table."""

from __future__ import annotations

from django.urls import reverse

from assets.models import Device
from connectivity.models import CommandInvocation, CommandStatus, LatestValue
from tests.conftest import client_for

from .fakes import answer_commands, connect


def services_url(device: Device) -> str:
    return reverse("connectivity:device-services", args=[device.asset_id])


def invoke_url(device: Device, service: str = "restart") -> str:
    return reverse("connectivity:device-invoke", args=[device.asset_id, service])


def test_the_services_tab_offers_a_form_per_service_to_writers(cast, device, writer):
    body = client_for(writer).get(services_url(device)).content.decode()
    assert "Restart" in body and 'name="restart-delay"' in body and "int32 (0 to 3600)" in body
    assert invoke_url(device) in body


def test_a_viewer_sees_the_services_but_no_form_and_cannot_invoke(cast, device, viewer):
    client = client_for(viewer)
    body = client.get(services_url(device)).content.decode()
    assert "Restart" in body and invoke_url(device) not in body and "read access only" in body
    assert client.post(invoke_url(device), {"restart-delay": "1"}).status_code == 403
    assert not CommandInvocation.objects.exists()


def test_an_outsider_gets_404(cast, device, outsider):
    client = client_for(outsider)
    assert client.get(services_url(device)).status_code == 404
    assert client.post(invoke_url(device), {"restart-delay": "1"}).status_code == 404
    assert client.get(reverse("connectivity:device-latest", args=[device.asset_id])).status_code == 404


def test_invoking_on_an_offline_device_says_so(cast, device, writer):
    response = client_for(writer).post(invoke_url(device), {"restart-delay": "5"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-status="offline"' in body and "Device offline" in body
    assert CommandInvocation.objects.get().params == {"delay": 5}


def test_invoking_on_a_connected_device_shows_its_reply(cast, device, writer, monkeypatch):
    session = connect(device)
    answer_commands(monkeypatch, session, data={"restarting": True})
    response = client_for(writer).post(invoke_url(device), {"restart-delay": "5"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'data-status="ok"' in body and "restarting" in body
    assert CommandInvocation.objects.get().status == CommandStatus.OK
    # without htmx: back to the tab with the outcome as a message, listed in recent commands
    response = client_for(writer).post(invoke_url(device), {"restart-delay": "6"}, follow=True)
    body = response.content.decode()
    assert "restart: Succeeded" in body and "{&#x27;delay&#x27;: 6}" in body


def test_wrong_parameters_are_refused_next_to_the_field(cast, device, writer):
    response = client_for(writer).post(invoke_url(device), {"restart-delay": "soon"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "is not an integer" in response.content.decode()
    assert not CommandInvocation.objects.exists()


def test_an_unknown_service_is_refused(cast, device, writer):
    response = client_for(writer).post(invoke_url(device, "explode"), {}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "not a service" in response.content.decode()


def test_the_details_page_shows_the_latest_values(cast, device, writer):
    from django.utils.timezone import now

    LatestValue.objects.create(device=device, identifier="power", value=12.5, time=now())
    body = client_for(writer).get(reverse("assets:device-detail", args=[device.asset_id])).content.decode()
    assert "Latest data" in body and "12.5 kW" in body and "Never reported" in body  # temperature never came
    assert reverse("connectivity:device-latest", args=[device.asset_id]) in body
    fragment = client_for(writer).get(reverse("connectivity:device-latest", args=[device.asset_id]))
    assert "12.5 kW" in fragment.content.decode()


def test_status_badges_refresh_in_one_query_and_only_for_visible_devices(cast, product, globex_device, writer,
                                                                         django_assert_max_num_queries):
    devices = [Device.objects.create(ou=product.ou, product=product, device_key=f"k-{i}", name=f"D{i}",
                                     attributes={"serial": "x"}) for i in range(30)]
    connect(devices[0])
    client = client_for(writer)
    client.get(reverse("assets:device-list"))  # the session knows its OU
    ids = [d.asset_id for d in devices] + [globex_device.asset_id]
    with django_assert_max_num_queries(8):
        response = client.get(reverse("connectivity:device-statuses"), {"id": ids})
    body = response.content.decode()
    assert body.count('hx-swap-oob="true"') == 30
    assert f'id="status-{devices[0].asset_id}" hx-swap-oob="true" class="status online"' in body
    assert globex_device.asset_id not in body


def test_support_staff_read_sessions_and_commands_in_the_admin(cast, device, writer, admin_client):
    connect(device)
    from connectivity import services

    services.invoke_service(writer, device, "restart", {"delay": 1}, timeout=0.1)
    assert device.device_key in admin_client.get("/admin/connectivity/devicesession/").content.decode()
    body = admin_client.get("/admin/connectivity/commandinvocation/").content.decode()
    assert "restart" in body and "No reply in time" in body
    assert admin_client.get("/admin/connectivity/commandinvocation/add/").status_code == 403


def test_the_device_table_polls_the_status_badges_of_its_rows(cast, device, writer):
    body = client_for(writer).get(reverse("assets:device-list")).content.decode()
    assert f'<span id="status-{device.asset_id}" class="status inactive"' in body
    poll = f'{reverse("connectivity:device-statuses")}?id={device.asset_id}'
    assert poll in body and 'hx-trigger="every 10s"' in body


def test_an_invocation_from_htmx_refreshes_the_recent_commands(cast, device, writer, monkeypatch):
    answer_commands(monkeypatch, connect(device))
    response = client_for(writer).post(invoke_url(device), {"restart-delay": "2"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'data-status="ok"' in body
    assert 'id="invocations" hx-swap-oob="true"' in body and "{&#x27;delay&#x27;: 2}" in body


def test_measure_points_are_set_and_read_from_the_services_tab(cast, device, writer, viewer, monkeypatch):
    session = connect(device)
    answer_commands(monkeypatch, session, data={"power": 12.5})
    client = client_for(writer)
    body = client.get(services_url(device)).content.decode()
    set_url = reverse("connectivity:device-measurepoints-set", args=[device.asset_id])
    get_url = reverse("connectivity:device-measurepoints-get", args=[device.asset_id])
    assert set_url in body and get_url in body and 'name="measurepoint-set-power"' in body
    response = client.post(set_url, {"measurepoint-set-power": "12.5"}, HTTP_HX_REQUEST="true")
    assert 'data-status="ok"' in response.content.decode()
    response = client.post(get_url, {}, HTTP_HX_REQUEST="true")
    assert 'data-status="ok"' in response.content.decode() and "12.5" in response.content.decode()
    sent = list(CommandInvocation.objects.order_by("pk").values_list("service", "params"))
    assert sent == [("measurepoint.set", {"power": 12.5}), ("measurepoint.get", ["power", "temperature", "running"])]
    bad = client.post(set_url, {"measurepoint-set-temperature": "999"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and "maximum" in bad.content.decode()
    assert client_for(viewer).post(set_url, {"measurepoint-set-power": "1"}).status_code == 403
    assert set_url not in client_for(viewer).get(services_url(device)).content.decode()
