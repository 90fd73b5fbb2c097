"""`group:<name>` in the query language: static and dynamic groups, nesting, cycles, unknown and ambiguous."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.actors import SYSTEM
from accounts.errors import DomainError
from accounts.services import set_membership
from assets import groups
from assets.models import Device, DeviceGroup
from assets.query import QueryContext, QueryError, apply_query, parse
from tests.assets.query.conftest import NOW

pytestmark = pytest.mark.django_db


def keys(user, query: str, group_ou: int | None = None) -> set[str]:
    context = QueryContext(user=user, vendor=connection.vendor, now=NOW, group_ou=group_ou)
    return {d.device_key for d in apply_query(Device.objects.visible_to(user), parse(query), context)}


def error(user, query: str, group_ou: int | None = None) -> QueryError:
    with pytest.raises(QueryError) as caught:
        keys(user, query, group_ou)
    return caught.value


@pytest.fixture
def pumps(fleet, writer, acme):
    group = groups.create_group(writer, acme, name="pumps", kind="static")
    groups.add_group_devices(writer, group, [fleet["big"], fleet["bare"]])
    return group


@pytest.fixture
def suzhou(fleet, writer, acme):
    return groups.create_group(writer, acme, name="Suzhou site", kind="dynamic", query="tag:site=suzhou")


def test_a_static_group_is_its_members(pumps, viewer):
    assert keys(viewer, "group:pumps") == {"big-1", "bare-1"}
    assert keys(viewer, "NOT group:pumps") == {"small-1", "odd-1", "label-1", "gw-1"}


def test_a_dynamic_group_is_its_query_now(suzhou, fleet, viewer):
    assert keys(viewer, 'group:"Suzhou site"') == {"big-1", "odd-1", "gw-1"}
    Device.objects.filter(pk=fleet["small"].pk).update(tags={"site": "suzhou"})  # always current
    assert keys(viewer, 'group:"Suzhou site" AND status:online') == {"small-1", "gw-1"}


def test_a_dynamic_group_never_reaches_another_ous_devices(suzhou, fleet):
    # a superuser sees Globex too, whose device has the same tag: the group is Acme's devices only
    from tests.conftest import make_user

    admin = make_user("root")
    admin.is_superuser = True
    admin.save()
    assert keys(admin, 'group:"Suzhou site"') == {"big-1", "odd-1", "gw-1"}


def test_groups_nest(pumps, suzhou, writer, acme, viewer):
    groups.create_group(writer, acme, name="suzhou pumps", kind="dynamic", query='group:pumps group:"Suzhou site"')
    assert keys(viewer, 'group:"suzhou pumps"') == {"big-1"}


def test_a_cycle_is_refused_with_the_chain(suzhou, writer, acme, viewer):
    outer = groups.create_group(writer, acme, name="outer", kind="dynamic", query='group:"Suzhou site"')
    with pytest.raises(DomainError) as caught:
        groups.update_group(writer, suzhou, query="group:outer")
    assert 'refers to itself: Suzhou site → outer → Suzhou site' in caught.value.message
    # a cycle written behind the services' back is still an error when read, never a recursion
    DeviceGroup.objects.filter(pk=suzhou.pk).update(query="group:outer")
    found = error(viewer, "status:online OR group:outer")
    assert "refers to itself" in found.message and found.column == 18 and found.token == "group:outer"
    assert outer.pk


def test_nesting_is_limited(writer, acme, viewer, fleet):
    groups.create_group(writer, acme, name="g0", kind="dynamic", query="status:online")
    for level in range(1, 6):
        groups.create_group(writer, acme, name=f"g{level}", kind="dynamic", query=f"group:g{level - 1}")
    assert keys(viewer, "group:g4") == {"small-1", "gw-1"}
    assert "too deeply" in error(viewer, "group:g5").message


def test_an_unknown_group_points_at_its_token(fleet, viewer):
    found = error(viewer, "status:online group:nope")
    assert found.message == 'Unknown group "nope" at column 15'
    assert (found.column, found.token) == (15, "group:nope")


def test_another_ous_group_is_unknown(fleet, globex, outsider, viewer):
    groups.create_group(outsider, globex, name="secret", kind="dynamic", query="status:online")
    assert error(viewer, "group:secret").message.startswith('Unknown group "secret"')


def test_a_name_in_two_of_the_users_ous_is_ambiguous_unless_the_ou_is_chosen(fleet, globex, outsider, viewer,
                                                                            writer, acme):
    groups.create_group(writer, acme, name="meters", kind="dynamic", query="key:big")
    groups.create_group(outsider, globex, name="meters", kind="dynamic", query="key:big")
    set_membership(SYSTEM, globex, viewer, "asset_viewer")
    found = error(viewer, "group:meters")
    assert "Several OUs" in found.message and acme.ou_id in found.message and globex.ou_id in found.message
    assert {d for d in keys(viewer, "group:meters", group_ou=acme.pk)} == {"big-1"}


def test_a_stale_query_in_a_group_is_named_in_the_error(suzhou, viewer):
    DeviceGroup.objects.filter(pk=suzhou.pk).update(query="stat:x")
    found = error(viewer, 'group:"Suzhou site"')
    assert found.message.startswith('In group "Suzhou site": Unknown field "stat"')
    assert found.column == 1
