"""Keyset pages: fixed page sizes, ties on created_at, and a query count independent of the page size."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils.timezone import now

from assets.models import Device
from tests.assets.api.helpers import assert_error, results

pytestmark = pytest.mark.django_db


def make_devices(product, count: int, *, same_time: bool = False, gateway: Device | None = None) -> list[Device]:
    start = now()
    return Device.objects.bulk_create([
        Device(ou=product.ou, product=product, device_key=f"bulk-{n:05d}", name=f"Bulk {n}",
               attributes={"serial": f"B{n}"}, gateway=gateway,
               created_at=start if same_time else start - dt.timedelta(seconds=n))
        for n in range(count)
    ])


def walk(client, url: str, **params) -> list[list[str]]:
    """Every page's assetIds, following `next` links."""
    pages = []
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        pages.append([row["assetId"] for row in response.json()["results"]])
        link = response.json()["next"]
        if link is None:
            return pages
        response = client.get(link)


def test_default_page_is_20_newest_first(api_for, writer, product):
    made = make_devices(product, 25)
    pages = walk(api_for(writer), "/api/devices/")
    assert [len(page) for page in pages] == [20, 5]
    assert pages[0][0] == made[0].asset_id  # bulk-00000 is the newest


def test_page_size_up_to_200(api_for, writer, product):
    make_devices(product, 201)
    pages = walk(api_for(writer), "/api/devices/", pageSize=200)
    assert [len(page) for page in pages] == [200, 1]


@pytest.mark.parametrize("size", ["0", "201", "-5", "many", "1e3"])
def test_page_size_out_of_range_is_refused(api_for, writer, product, size):
    body = assert_error(api_for(writer).get("/api/devices/", {"pageSize": size}), 400, "validation_error")
    assert list(body["details"]) == ["pageSize"]


def test_pages_through_devices_created_in_the_same_instant(api_for, writer, product):
    # a batch import can stamp many rows alike: the cursor holds the id too, so nothing repeats or drops
    made = make_devices(product, 47, same_time=True)
    pages = walk(api_for(writer), "/api/devices/", pageSize=10)
    seen = [asset_id for page in pages for asset_id in page]
    assert [len(page) for page in pages] == [10, 10, 10, 10, 7]
    assert sorted(seen) == sorted(d.asset_id for d in made)
    assert len(set(seen)) == 47


def test_previous_link_returns_the_same_page(api_for, writer, product):
    make_devices(product, 30)
    client = api_for(writer)
    first = client.get("/api/devices/", {"pageSize": 10}).json()
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    assert [r["assetId"] for r in back["results"]] == [r["assetId"] for r in first["results"]]
    assert back["previous"] is None


def test_a_mangled_cursor_is_a_bad_request(api_for, writer, product):
    assert_error(api_for(writer).get("/api/devices/", {"cursor": "garbage"}), 400, "validation_error")


def test_filters_survive_into_the_next_link(api_for, writer, product, gateway_product):
    make_devices(product, 15)
    make_devices(gateway_product, 15)
    pages = walk(api_for(writer), "/api/devices/", pageSize=10, productType="Gateway")
    assert [len(page) for page in pages] == [10, 5]


def list_queries(client, django_assert_num_queries, size: int, expected: int, params: dict) -> None:
    with django_assert_num_queries(expected):
        rows = results(client.get("/api/devices/", {**params, "pageSize": size}))
    assert len(rows) == size


@pytest.mark.parametrize("params", [{}, {"status": "inactive", "tag": "site:sh", "productType": "Device"}])
def test_list_queries_do_not_grow_with_the_page_size(api_for, writer, product, gateway, params,
                                                     django_assert_num_queries):
    # sub-devices of a gateway: rows that need product, OU and gateway all come from the one query
    Device.objects.filter(pk=gateway.pk).update(tags={"site": "hq"})
    made = make_devices(product, 230, gateway=gateway)
    Device.objects.filter(pk__in=[d.pk for d in made]).update(tags={"site": "sh"})
    client = api_for(writer)
    # session, user, OU grants, the page
    list_queries(client, django_assert_num_queries, 20, 4, params)
    list_queries(client, django_assert_num_queries, 200, 4, params)


def test_deep_page_costs_what_the_first_costs(api_for, writer, product, django_assert_num_queries):
    make_devices(product, 120)
    client = api_for(writer)
    first = client.get("/api/devices/", {"pageSize": 20}).json()
    link = first["next"]
    for _ in range(4):
        link = client.get(link).json()["next"]
    with django_assert_num_queries(4):
        response = client.get(link)
    assert len(response.json()["results"]) == 20
