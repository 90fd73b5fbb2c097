"""The device table's search box takes the query language; a bad query is named, pointing at its token,
and the other filters still apply (the list is never silently unfiltered)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils.html import escape

from assets.models import Device
from tests.conftest import client_for

LIST = reverse("assets:device-list")
QUERY_3 = "tag:site=suzhou AND attr:capacity>=500 AND status:offline"


def listed(response) -> set[str]:
    return {device.device_key for device in response.context["page"].rows}


def test_a_query_in_the_search_box_filters_the_table(cast, fleet, viewer):
    response = client_for(viewer).get(LIST, {"q": QUERY_3})
    assert listed(response) == {"big-1"}
    assert response.context["filter_problems"] == []


def test_the_select_boxes_are_shorthands_anded_with_the_query(cast, fleet, viewer):
    response = client_for(viewer).get(LIST, {"q": "tag:site=suzhou OR tag:line", "status": "online"})
    assert listed(response) == {"gw-1", "small-1"}
    response = client_for(viewer).get(LIST, {"q": "tag:line", "tag": "site:shanghai"})
    assert listed(response) == {"small-1"}


@pytest.mark.parametrize(("q", "message"), [
    ("stat:online", 'Search: Unknown field "stat" at column 1. The other filters apply.'),
    ("tag:site=suzhou attr:slots>=lots",
     'Search: "lots" at column 29 is not a value of the attribute slots (int32). The other filters apply.'),
])
def test_a_bad_query_is_named_and_the_other_filters_apply(cast, fleet, viewer, q, message):
    response = client_for(viewer).get(LIST, {"q": q, "status": "online"})
    assert response.status_code == 200
    assert response.context["filter_problems"] == [message]
    assert listed(response) == {"small-1", "gw-1"}  # status:online still applies
    body = response.content.decode()
    assert 'id="filter-problems"' in body and "at column" in body
    assert f'value="{escape(q)}"' in body  # the box keeps what was typed


def test_the_counts_fragment_counts_what_the_query_matches(cast, fleet, viewer, acme):
    counts = reverse("assets:device-counts", args=[acme.ou_id])
    response = client_for(viewer).get(counts, {"q": "tag:site=suzhou"})
    assert response.context["matching"] == 3
    response = client_for(viewer).get(counts, {"q": "status:online"})
    assert response.context["matching"] == 2


def test_the_table_with_a_three_predicate_query_costs_the_same_at_any_size(cast, fleet, viewer,
                                                                           django_assert_num_queries):
    big = fleet["big"]
    Device.objects.bulk_create(
        Device(ou=big.ou, product=big.product, device_key=f"m-{i:03d}", name=f"M {i}",
               attributes={"capacity": 500 + i}, tags={"site": "suzhou"}, activated_at=big.activated_at,
               last_online_at=big.last_online_at - dt.timedelta(minutes=i))
        for i in range(60))
    client = client_for(viewer)
    client.get(LIST)  # the session's first request settles its OU
    # session, user, current OU, permissions, products of the select, models (attribute types), the page…,
    # the page's rows with live alerts
    with django_assert_num_queries(9) as small:
        assert len(listed(client.get(LIST, {"q": QUERY_3, "size": 20}))) == 20
    with django_assert_num_queries(len(small.captured_queries)):
        assert len(listed(client.get(LIST, {"q": QUERY_3, "size": 100}))) == 61
