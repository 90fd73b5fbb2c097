"""Queries run against real devices (SQLite by default, PostgreSQL with DATABASE_URL): each predicate,
typed attribute comparisons, tags, relative and absolute times with a fixed now, and OU isolation."""

from __future__ import annotations

import pytest
from django.db import connection

from assets.models import Device
from assets.query import QueryContext, QueryError, apply_query, parse
from tests.assets.query.conftest import NOW

pytestmark = pytest.mark.django_db


def keys(user, query: str) -> set[str]:
    devices = Device.objects.visible_to(user)
    context = QueryContext(user=user, vendor=connection.vendor, now=NOW)
    return {f"{d.ou.name}:{d.device_key}" for d in apply_query(devices, parse(query), context).select_related("ou")}


def acme(*device_keys: str) -> set[str]:
    return {f"Acme:{key}" for key in device_keys}


ALL = ("big-1", "small-1", "odd-1", "bare-1", "label-1", "gw-1")


def test_an_empty_query_is_everything_visible(fleet, viewer):
    assert keys(viewer, "") == acme(*ALL)


@pytest.mark.parametrize(("query", "expected"), [
    ("pump", {"bare-1"}),
    ('"pump north"', {"bare-1"}),
    ("big", {"big-1"}),
    ("name:PUMP", {"bare-1"}),
    ("key:-1", set(ALL)),
    ("key:small", {"small-1"}),
    ("status:online", {"small-1", "gw-1"}),
    ("status:offline", {"big-1"}),
    ("status:inactive", {"bare-1", "label-1"}),
    ("status:disabled", {"odd-1"}),
    ("product:Label", {"label-1"}),
    ("product:label", {"label-1"}),
    ("model:label", {"label-1"}),
    ("type:gateway", {"gw-1"}),
    ("type:sub_device", {"big-1"}),
    ("type:device", {"small-1", "odd-1", "bare-1", "label-1"}),
    ("gateway:gw-1", {"big-1"}),
    ("has:sub_devices", {"gw-1"}),
    ("tag:line", {"big-1", "small-1", "label-1"}),
    ("tag:site=suzhou", {"big-1", "odd-1", "gw-1"}),
    ("tag:site in (shanghai, nowhere)", {"small-1"}),
    ("tag:secret", set()),  # only Globex has it
])
def test_each_predicate(fleet, viewer, query, expected):
    assert keys(viewer, query) == acme(*expected)


def test_asset_id_contains(fleet, viewer):
    asset_id = fleet["small"].asset_id
    assert keys(viewer, f"assetId:{asset_id[1:5]}") >= acme("small-1")
    assert keys(viewer, asset_id) == acme("small-1")  # a bare word is also the exact assetId


@pytest.mark.parametrize(("query", "expected"), [
    # numbers compare as numbers (1500.0 and 250); odd-1 holds "lots" where its model says double: never
    # matched; label-1's model types capacity as a string: its "100" compares as text
    ("attr:capacity>=500", {"big-1"}),
    ("attr:capacity>=1000", {"big-1"}),
    ("attr:capacity>250", {"big-1"}),
    ("attr:capacity<=250", {"small-1", "label-1"}),  # and "100" <= "250" as text
    ("attr:capacity=1500", {"big-1"}),
    ("attr:capacity!=1500", {"small-1", "label-1"}),  # label-1's "100" ≠ "1500", compared as text
    ("attr:slots>2", {"big-1"}),
    ("attr:slots<10", {"big-1", "small-1"}),
    ("attr:sealed=true", {"big-1"}),
    ("attr:sealed=false", {"small-1"}),
    ("attr:sealed!=true", {"small-1"}),
    ("attr:installed>=2026-06-01", {"small-1"}),
    ("attr:installed<2026-06-01", {"big-1"}),
    ("attr:calibrated<2026-11-02", {"big-1"}),
    ("attr:calibrated>2026-11-02T00:00:00Z", set()),
    ("attr:serial=SN-100", {"big-1"}),
    ("attr:serial>SN-150", {"small-1"}),
    ("attr:phase=three", {"big-1"}),
    ("attr:phase=1", {"small-1"}),
])
def test_attributes_compare_by_their_model_type(fleet, viewer, query, expected):
    assert keys(viewer, query) == acme(*expected)


def test_a_text_attribute_of_another_model_compares_as_text(fleet, viewer):
    # capacity is a double in Meter and a string in Label: "100" matches as text, 100 as a number
    assert keys(viewer, "attr:capacity=100") == acme("label-1")
    assert keys(viewer, "attr:capacity<2") == acme("label-1")  # "100" < "2" as text; no number is below 2
    assert keys(viewer, "attr:capacity=lots") == set()  # odd-1's model says double: its text is not matched


def test_not_is_the_exact_complement_even_where_the_attribute_is_missing(fleet, viewer):
    assert keys(viewer, "NOT attr:capacity>=1000") == acme(*ALL) - acme("big-1")
    assert keys(viewer, "NOT tag:site=suzhou") == acme("small-1", "bare-1", "label-1")
    assert keys(viewer, "NOT activated<7d") == acme("small-1", "odd-1", "bare-1", "label-1")


@pytest.mark.parametrize(("query", "expected"), [
    ("last_online<7d", {"big-1"}),  # last online more than 7 days ago
    ("last_online>24h", {"small-1", "gw-1"}),
    ("last_online>2h", {"gw-1"}),
    ("last_online>=30m", set()),
    ("last_offline>10d", {"big-1"}),
    ("activated<7d", {"big-1", "gw-1"}),
    ("activated>7d", {"small-1"}),
    ("activated>=2026-12-03", {"small-1"}),  # activated 2026-12-03 12:00 UTC
    ("activated>2026-12-03", set()),  # after that whole day
    ("activated<=2026-12-03", {"small-1", "big-1", "gw-1"}),
    ("activated<2026-12-03", {"big-1", "gw-1"}),
    ("activated<2026-12-03T12:00:01Z", {"small-1", "big-1", "gw-1"}),
    ("activated>2026-12-03T19:59:59+08:00", {"small-1"}),
    ("activated>2026-12-03T20:00:00+08:00", set()),
])
def test_times_relative_to_a_fixed_now_or_absolute(fleet, viewer, query, expected, settings):
    settings.TIME_ZONE = "UTC"
    assert keys(viewer, query) == acme(*expected)


def test_the_issue_example(fleet, viewer):
    query = "status:offline AND tag:site=suzhou AND attr:capacity>=500 AND last_online<7d"
    assert keys(viewer, query) == acme("big-1")


def test_boolean_structure(fleet, viewer):
    assert keys(viewer, "tag:site=suzhou (status:online OR status:offline)") == acme("big-1", "gw-1")
    assert keys(viewer, "tag:site=suzhou status:online OR status:offline") == acme("big-1", "gw-1")
    assert keys(viewer, "tag:line NOT attr:capacity>=1000 OR has:sub_devices") == acme("small-1", "label-1", "gw-1")


@pytest.mark.parametrize(("query", "message", "column", "token"), [
    ("status:online attr:slots>=lots", '"lots" at column 27 is not a value of the attribute slots (int32)', 27,
     "lots"),
    ("attr:sealed=maybe", '"maybe" at column 13 is not a value of the attribute sealed (bool)', 13, "maybe"),
    ("attr:sealed>true", "The attribute sealed (bool) can only be compared with = or != (column 1)", 1,
     "attr:sealed>true"),
    ("attr:layout={}", '"{}" at column 13 is not a value of the attribute layout (struct)', 13, "{}"),
    ("a attr:nope=1", 'No device model has the attribute "nope" (column 3)', 3, "nope"),
    ("attr:installed>next-week", '"next-week" at column 16 is not a value of the attribute installed (date)', 16,
     "next-week"),
])
def test_values_no_model_type_fits_are_errors_at_their_token(fleet, viewer, query, message, column, token):
    with pytest.raises(QueryError) as caught:
        keys(viewer, query)
    assert (caught.value.message, caught.value.column, caught.value.token) == (message, column, token)


def test_a_time_too_far_back_is_an_error(fleet, viewer):
    with pytest.raises(QueryError) as caught:
        keys(viewer, "activated<999999w")
    assert caught.value.column == 1 and "too far back" in caught.value.message


def test_queries_never_reach_another_ous_devices(fleet, viewer, outsider):
    for query in ("big-1", "tag:site=suzhou", "attr:capacity>=500", "attr:serial=SN-100", "last_online<7d",
                  "tag:secret", "NOT tag:site", "key:big OR NOT key:big", "product:Meter", "model:meter"):
        assert not {key for key in keys(viewer, query) if key.startswith("Globex:")}, query
    assert keys(outsider, "tag:site=suzhou attr:capacity>=500") == {"Globex:big-1"}
    assert keys(outsider, "NOT tag:secret") == set()


def test_attribute_types_come_from_the_models_the_user_sees(fleet, outsider):
    # Acme's Label model makes capacity a string for Acme's users; Globex sees only its double
    with pytest.raises(QueryError):
        keys(outsider, "attr:capacity=lots")


def test_gateway_lookup_is_scoped_to_visible_devices(fleet, outsider, viewer):
    assert keys(outsider, "gateway:gw-1") == set()
    assert keys(viewer, f"gateway:{fleet['gateway'].asset_id}") == acme("big-1")
