"""OUs and memberships are written only by accounts.services, and every write is audited."""

from __future__ import annotations

import re

import pytest

from accounts.models import AuditEvent, Membership, OUUserObjectPermission
from accounts.services import create_ou, remove_membership, set_membership
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_creating_an_ou_makes_its_owner_the_ou_admin(owner):
    ou = create_ou("Initech", owner)
    assert re.fullmatch(r"o\d{14}", ou.ou_id)
    assert ou.owner == owner
    assert Membership.objects.get(ou=ou, user=owner).role == "ou_admin"


def test_creating_an_ou_is_audited_with_its_actor(owner, outsider):
    ou = create_ou("Initech", owner, actor=outsider)
    event = AuditEvent.objects.get(action="ou.create")
    assert event.actor == outsider
    assert event.ou == ou
    assert event.after == {"name": "Initech", "owner": "owner"}
    assert AuditEvent.objects.filter(action="membership.set", ou=ou).count() == 1


def test_two_ous_get_different_public_ids(owner):
    assert create_ou("A", owner).ou_id != create_ou("B", owner).ou_id


def test_an_unknown_role_is_refused_and_nothing_is_granted(acme):
    newcomer = make_user("newcomer")
    with pytest.raises(ValueError, match="Unknown role"):
        set_membership(acme, newcomer, "god")
    assert not Membership.objects.filter(user=newcomer).exists()
    assert not OUUserObjectPermission.objects.filter(user=newcomer).exists()


def test_setting_the_same_role_again_changes_nothing_and_records_nothing(acme, viewer):
    before = AuditEvent.objects.count()
    set_membership(acme, viewer, "asset_viewer")
    assert Membership.objects.filter(user=viewer, ou=acme).count() == 1
    assert OUUserObjectPermission.objects.filter(user=viewer, content_object=acme).count() == 1
    assert AuditEvent.objects.count() == before


def test_a_role_change_is_audited_with_before_and_after(acme, owner, viewer):
    set_membership(acme, viewer, "asset_manager", actor=owner)
    event = AuditEvent.objects.filter(action="membership.set").first()
    assert event.actor == owner
    assert event.ou == acme
    assert event.before == {"role": "asset_viewer"}
    assert event.after == {"user": "viewer", "role": "asset_manager"}


def test_removing_a_membership_deletes_it_and_its_grants_and_is_audited(acme, owner, writer):
    remove_membership(Membership.objects.get(user=writer, ou=acme), actor=owner)
    assert not Membership.objects.filter(user=writer, ou=acme).exists()
    assert not OUUserObjectPermission.objects.filter(user=writer, content_object=acme).exists()
    event = AuditEvent.objects.get(action="membership.remove")
    assert event.actor == owner
    assert event.ou == acme
    assert event.before == {"user": "writer", "role": "asset_manager"}


def test_removing_a_membership_leaves_other_members_alone(acme, writer, viewer):
    remove_membership(Membership.objects.get(user=writer, ou=acme))
    assert OUUserObjectPermission.objects.filter(user=viewer, content_object=acme).count() == 1


def test_only_an_ou_admin_changes_members(acme, owner, writer, viewer):
    from accounts.errors import AccessDenied
    from accounts.models import Membership

    with pytest.raises(AccessDenied):
        set_membership(acme, viewer, "asset_manager", actor=writer)
    with pytest.raises(AccessDenied):
        remove_membership(Membership.objects.get(ou=acme, user=viewer), actor=writer)
    assert Membership.objects.get(ou=acme, user=viewer).role == "asset_viewer"
    set_membership(acme, viewer, "asset_manager", actor=owner)
    assert Membership.objects.get(ou=acme, user=viewer).role == "asset_manager"
