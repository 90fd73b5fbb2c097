"""The device table's counts fragment (status summary and "N devices match"), and when the table
asks for it again."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from assets.models import Device
from tests.conftest import client_for

LIST = reverse("assets:device-list")
HTMX_TABLE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "device-table"}


def counts_url(ou) -> str:
    return reverse("assets:device-counts", args=[ou.ou_id])


@pytest.fixture
def fleet(product, gateway) -> dict[str, Device]:
    """One device of each status (plus the gateway, inactive); two tagged, one a sub-device."""
    now = timezone.now()
    make = Device.objects.create
    return {
        "on": make(ou=product.ou, product=product, device_key="on-1", name="On", activated_at=now, online=True,
                   tags={"site": "north"}, attributes={"serial": "x"}),
        "off": make(ou=product.ou, product=product, device_key="off-1", name="Off", activated_at=now,
                    tags={"site": "south"}, gateway=gateway, attributes={"serial": "x"}),
        "dis": make(ou=product.ou, product=product, device_key="dis-1", name="Dis", enabled=False,
                    attributes={"serial": "x"}),
        "gateway": gateway,
    }


def test_it_counts_the_ou_by_status(cast, fleet, writer, globex_device):
    response = client_for(writer).get(counts_url(fleet["on"].ou))
    assert response.status_code == 200
    assert response.context["summary"] == {"total": 4, "online": 1, "offline": 1, "inactive": 1, "disable": 1}
    body = response.content.decode()
    assert '<b>4</b> Total' in body and '<b>1</b> Online' in body and "4 devices match." in body
    assert "hx-trigger" not in body  # loaded: it does not ask again


@pytest.mark.parametrize(("params", "expected"), [
    ({}, 4),
    ({"status": "disable"}, 1),
    ({"status": "inactive"}, 1),
    ({"q": "ON-"}, 1),
    ({"q": "nothing like it"}, 0),
    ({"tag": "site"}, 2),
    ({"tag": "site:north"}, 1),
    ({"type": "Gateway"}, 1),
    ({"type": "Sub-device"}, 1),
    ({"status": "offline", "tag": "site"}, 1),
    ({"product": "not-a-product"}, 4),  # a bad value is left out, in the table as in the count
    ({"product": "not-a-product", "status": "disable"}, 1),
    ({"type": "sub_device", "q": "ON-"}, 1),
])
def test_matching_counts_what_the_table_lists(cast, fleet, writer, params, expected):
    client = client_for(writer)
    response = client.get(counts_url(fleet["on"].ou), params)
    assert response.context["matching"] == expected
    # the same filters on the table: as many rows as the count says
    assert len(client.get(LIST, {**params, "size": 200}).context["page"].rows) == expected
    # the status summary is the whole OU's whatever the filters
    assert response.context["summary"]["total"] == 4


def test_matching_follows_the_product_filter(cast, fleet, writer, gateway_product):
    response = client_for(writer).get(counts_url(fleet["on"].ou), {"product": gateway_product.product_key})
    assert response.context["matching"] == 1


def test_a_bad_filter_value_is_left_out_and_the_others_counted(cast, fleet, writer):
    client = client_for(writer)
    response = client.get(counts_url(fleet["on"].ou), {"tag": "no spaces allowed", "status": "disable"})
    assert response.status_code == 200
    assert response.context["matching"] == 1
    # the table asks for the count of the filters it applied
    body = client.get(LIST, {"tag": "no spaces allowed", "status": "disable"}).content.decode()
    assert f'hx-get="{counts_url(fleet["on"].ou)}?status=disable"' in body


@pytest.mark.parametrize(("who", "expected"), [("owner", 200), ("writer", 200), ("viewer", 200), ("outsider", 404),
                                               ("anonymous", 302)])
def test_only_readers_of_the_ou_get_its_counts(cast, owner, fleet, who, expected):
    user = owner if who == "owner" else cast[who]
    response = client_for(user).get(counts_url(fleet["on"].ou), {"status": "online"})
    assert response.status_code == expected
    if expected == 404:
        assert b"devices match" not in response.content


def test_an_unknown_ou_is_404(cast, writer):
    assert client_for(writer).get(reverse("assets:device-counts", args=["o00000000000000"])).status_code == 404


def test_the_outsider_counts_their_own_ou_only(cast, fleet, outsider, globex_device):
    response = client_for(outsider).get(counts_url(globex_device.ou))
    assert response.context["summary"]["total"] == 1


def test_counts_cost_a_fixed_number_of_queries(cast, product, writer, django_assert_num_queries):
    Device.objects.bulk_create(Device(ou=product.ou, product=product, device_key=f"bulk-{i:04d}", name=f"B{i}",
                                      tags={"site": "x"}) for i in range(150))
    client = client_for(writer)
    client.get(LIST)  # the session settled
    # session, user, permissions, OU, products, status summary; and the filtered count when needed
    with django_assert_num_queries(6):
        client.get(counts_url(product.ou), {"status": "online"})
    with django_assert_num_queries(7):
        response = client.get(counts_url(product.ou), {"tag": "site", "q": "bulk"})
    assert response.context["matching"] == 150


def test_a_filter_change_brings_a_fresh_counts_placeholder(cast, fleet, writer):
    client = client_for(writer)
    current = f"http://testserver{LIST}?status=online"
    body = client.get(LIST, {"status": "offline"}, HTTP_HX_CURRENT_URL=current, **HTMX_TABLE).content.decode()
    assert 'id="device-counts"' in body and 'hx-swap-oob="true"' in body
    assert f'hx-get="{counts_url(fleet["on"].ou)}?status=offline"' in body


@pytest.mark.parametrize("params", [{"sort": "name"}, {"size": 50}, {"after": "x"}])
def test_paging_and_sorting_keep_the_counts(cast, fleet, writer, params):
    current = f"http://testserver{LIST}?status=online&q=o"
    body = client_for(writer).get(LIST, {"status": "online", "q": "o", **params}, HTTP_HX_CURRENT_URL=current,
                                  **HTMX_TABLE).content.decode()
    assert 'id="device-counts"' not in body
