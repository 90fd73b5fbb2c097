"""The device table's filter panel: its fields become a query of the device query language, written into the
search box (the server builds it and redirects to ?q=…); a bad field keeps the panel open with its error."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils.html import escape

from assets.models import Device
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

LIST = reverse("assets:device-list")


def built_query(response) -> str:
    assert response.status_code == 302, response.content
    location = urlsplit(response["Location"])
    assert location.path == LIST
    return parse_qs(location.query).get("q", [""])[0]


def panel(writer, **fields):
    return client_for(writer).get(LIST, {"panel": "1", **{f"fp-{k}": v for k, v in fields.items()}})


def test_the_list_shows_the_panel_with_the_ous_products_models_and_attributes(cast, product, globex_device, writer):
    body = client_for(writer).get(LIST).content.decode()
    assert 'id="filter-panel"' in body and "<summary>" in body and 'name="fp-status"' in body
    assert f'value="{product.product_key}"' in body
    assert 'value="inverter"' in body  # the model
    assert '<option value="capacity">capacity</option>' in body
    assert globex_device.product.product_key not in body


def test_the_panel_builds_the_query_and_the_search_box_shows_it(cast, product, writer):
    query = built_query(panel(writer, status="offline", product=product.product_key, model="inverter",
                              type="device", tag_key="site", tag_value="north suzhou", attribute="capacity",
                              attribute_op=">=", attribute_value="500", online_after="2026-11-01",
                              online_before="2026-12-01"))
    assert query == (f'status:offline AND product:{product.product_key} AND model:inverter AND type:device AND '
                     'tag:site="north suzhou" AND attr:capacity>=500 AND last_online>=2026-11-01 AND '
                     'last_online<2026-12-01')
    page = client_for(writer).get(LIST, {"q": query})
    assert page.status_code == 200 and not page.context["filter_problems"]
    assert f'value="{escape(query)}"' in page.content.decode()


def test_the_built_query_filters_the_table(cast, product, writer):
    Device.objects.create(ou=product.ou, product=product, device_key="tagged", name="Tagged",
                          attributes={"serial": "S1"}, tags={"site": "suzhou"})
    Device.objects.create(ou=product.ou, product=product, device_key="other", name="Other",
                          attributes={"serial": "S2"}, tags={"site": "wuxi"}, enabled=False)
    query = built_query(panel(writer, tag_key="site", tag_value="suzhou"))
    assert query == "tag:site=suzhou"
    rows = client_for(writer).get(LIST, {"q": query}).context["page"].rows
    assert [d.device_key for d in rows] == ["tagged"]
    assert built_query(panel(writer, status="disabled")) == "status:disabled"
    assert built_query(panel(writer, tag_key="site")) == "tag:site"
    assert built_query(panel(writer)) == ""


def test_a_bad_field_keeps_the_panel_open_with_its_error(cast, product, globex_device, writer):
    for fields in ({"tag_value": "x"}, {"tag_key": "bad key!"}, {"attribute": "capacity"},
                   {"attribute_value": "5"}, {"product": globex_device.product.product_key},
                   {"online_after": "not a date"}):
        response = panel(writer, **fields)
        assert response.status_code == 200, fields
        body = response.content.decode()
        assert 'id="filter-panel" open' in body and 'role="alert"' in body, fields


def test_the_panel_costs_no_query_of_its_own(cast, product, writer, django_assert_num_queries):
    client = client_for(writer)
    client.get(LIST)
    with django_assert_num_queries(7):  # as the table without the panel (test_device_table)
        client.get(LIST, {"status": "online"})
