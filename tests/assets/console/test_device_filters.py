"""A bad filter value in the device table's query: that filter is left out with a message saying so,
and every other filter still applies (it used to drop them all, silently)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assets.models import Device
from tests.conftest import client_for

LIST = reverse("assets:device-list")
HTMX_TABLE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "device-table"}


@pytest.fixture
def fleet(product, gateway) -> list[Device]:
    devices = [Device.objects.create(ou=product.ou, product=product, device_key=f"east-dev-{i:03d}",
                                     name=f"East {i}", attributes={"serial": "x"}) for i in range(3)]
    devices.append(Device.objects.create(ou=product.ou, product=product, device_key="west-dev-000", name="West",
                                         enabled=False, gateway=gateway, attributes={"serial": "x"}))
    return devices


def listed(response) -> set[str]:
    return {device.device_key for device in response.context["page"].rows}


def problems(response) -> list[str]:
    return response.context["filter_problems"]


def test_a_bad_asset_type_keeps_the_search(cast, fleet, writer):
    response = client_for(writer).get(LIST, {"q": "east-dev-000", "type": "sub_device"})
    assert response.status_code == 200
    assert listed(response) == {"east-dev-000"}
    assert problems(response) == ["“sub_device” is not an asset type (use Device, Gateway or Sub-device): "
                                  "the asset type filter is not applied."]
    body = response.content.decode()
    assert 'id="filter-problems"' in body and "sub_device" in body and 'role="alert"' in body
    assert 'value="east-dev-000"' in body  # the search box keeps what was typed


@pytest.mark.parametrize(("params", "expected", "named"), [
    ({"status": "broken", "q": "east"}, {"east-dev-000", "east-dev-001", "east-dev-002"}, "status"),
    ({"product": "nope", "status": "disable"}, {"west-dev-000"}, "product"),
    ({"tag": "no spaces", "type": "Sub-device"}, {"west-dev-000"}, "tag filter"),
    ({"size": "7", "q": "west"}, {"west-dev-000"}, "page size"),
    ({"sort": "sideways", "q": "west"}, {"west-dev-000"}, "sort order"),
    ({"q": "east\x00", "status": "disable"}, {"west-dev-000"}, "Search:"),
])
def test_each_bad_value_is_named_and_the_rest_applies(cast, fleet, writer, params, expected, named):
    response = client_for(writer).get(LIST, params)
    assert response.status_code == 200
    assert listed(response) == expected
    assert len(problems(response)) == 1 and named in problems(response)[0]


def test_valid_filters_show_no_problem(cast, fleet, writer):
    response = client_for(writer).get(LIST, {"q": "east", "type": "Device", "status": "inactive"})
    assert problems(response) == []
    assert 'id="filter-problems"' not in response.content.decode()


def test_the_htmx_table_swap_shows_the_problem_too(cast, fleet, writer):
    response = client_for(writer).get(LIST, {"q": "west", "type": "sub_device"}, **HTMX_TABLE)
    body = response.content.decode()
    assert response.templates[0].name == "assets/_device_table.html"
    assert "is not an asset type" in body
    assert listed(response) == {"west-dev-000"}


def test_a_tampered_cursor_is_reported_with_the_filters(cast, fleet, writer):
    response = client_for(writer).get(LIST, {"type": "nope", "after": "not-a-cursor"})
    assert response.status_code == 200
    assert len(problems(response)) == 2
    assert "not valid any more" in problems(response)[1]
