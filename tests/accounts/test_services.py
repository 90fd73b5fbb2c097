"""OUs and memberships are written only by accounts.services, and every write is audited."""

from __future__ import annotations

import re

import pytest

from accounts.actors import SYSTEM
from accounts.models import AuditEvent, Membership, OUUserObjectPermission, User
from accounts.services import create_ou, remove_membership, set_membership
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_creating_an_ou_makes_its_owner_the_ou_admin(owner):
    ou = create_ou(SYSTEM, "Initech", owner)
    assert re.fullmatch(r"o\d{14}", ou.ou_id)
    assert ou.owner == owner
    assert Membership.objects.get(ou=ou, user=owner).role == "ou_admin"


def test_creating_an_ou_is_audited_with_its_actor(owner):
    support = User.objects.create_superuser("support", password="x")
    ou = create_ou(support, "Initech", owner)
    event = AuditEvent.objects.get(action="ou.create")
    assert event.actor == support
    assert event.ou == ou
    assert event.after == {"name": "Initech", "owner": "owner"}
    assert AuditEvent.objects.filter(action="membership.set", ou=ou).count() == 1


def test_two_ous_get_different_public_ids(owner):
    assert create_ou(SYSTEM, "A", owner).ou_id != create_ou(SYSTEM, "B", owner).ou_id


def test_an_unknown_role_is_refused_and_nothing_is_granted(acme):
    newcomer = make_user("newcomer")
    with pytest.raises(ValueError, match="Unknown role"):
        set_membership(SYSTEM, acme, newcomer, "god")
    assert not Membership.objects.filter(user=newcomer).exists()
    assert not OUUserObjectPermission.objects.filter(user=newcomer).exists()


def test_setting_the_same_role_again_changes_nothing_and_records_nothing(acme, viewer):
    before = AuditEvent.objects.count()
    set_membership(SYSTEM, acme, viewer, "asset_viewer")
    assert Membership.objects.filter(user=viewer, ou=acme).count() == 1
    assert OUUserObjectPermission.objects.filter(user=viewer, content_object=acme).count() == 1
    assert AuditEvent.objects.count() == before


def test_a_role_change_is_audited_with_before_and_after(acme, owner, viewer):
    set_membership(owner, acme, viewer, "asset_manager")
    event = AuditEvent.objects.filter(action="membership.set").first()
    assert event.actor == owner
    assert event.ou == acme
    assert event.before == {"role": "asset_viewer"}
    assert event.after == {"user": "viewer", "role": "asset_manager"}


def test_removing_a_membership_deletes_it_and_its_grants_and_is_audited(acme, owner, writer):
    remove_membership(owner, Membership.objects.get(user=writer, ou=acme))
    assert not Membership.objects.filter(user=writer, ou=acme).exists()
    assert not OUUserObjectPermission.objects.filter(user=writer, content_object=acme).exists()
    event = AuditEvent.objects.get(action="membership.remove")
    assert event.actor == owner
    assert event.ou == acme
    assert event.before == {"user": "writer", "role": "asset_manager"}


def test_removing_a_membership_leaves_other_members_alone(acme, owner, writer, viewer):
    remove_membership(owner, Membership.objects.get(user=writer, ou=acme))
    assert OUUserObjectPermission.objects.filter(user=viewer, content_object=acme).count() == 1


def test_only_an_ou_admin_changes_members(acme, owner, writer, viewer):
    from accounts.errors import AccessDenied
    from accounts.models import Membership

    with pytest.raises(AccessDenied):
        set_membership(writer, acme, viewer, "asset_manager")
    with pytest.raises(AccessDenied):
        remove_membership(writer, Membership.objects.get(ou=acme, user=viewer))
    assert Membership.objects.get(ou=acme, user=viewer).role == "asset_viewer"
    set_membership(owner, acme, viewer, "asset_manager")
    assert Membership.objects.get(ou=acme, user=viewer).role == "asset_manager"


# --- who may act: a user with permission, or SYSTEM where allowed; never None ---------------------

def test_only_the_system_or_users_granted_it_create_ous(owner, outsider):
    from accounts.errors import AccessDenied

    with pytest.raises(AccessDenied):
        create_ou(outsider, "Initech", owner)
    with pytest.raises(TypeError, match="needs its actor"):
        create_ou(None, "Initech", owner)
    create_ou(SYSTEM, "Initech", owner)
    assert AuditEvent.objects.get(action="ou.create").actor is None  # the system: no user


def test_membership_writes_need_an_actor(acme, viewer):
    with pytest.raises(TypeError, match="needs its actor"):
        set_membership(None, acme, viewer, "asset_manager")
    with pytest.raises(TypeError, match="needs its actor"):
        remove_membership(None, Membership.objects.get(ou=acme, user=viewer))
    assert Membership.objects.get(ou=acme, user=viewer).role == "asset_viewer"


def test_the_system_may_grant_roles_but_not_take_them_away(acme, viewer):
    from accounts.errors import AccessDenied

    set_membership(SYSTEM, acme, viewer, "asset_manager")  # the demo data and set-up scripts do this
    with pytest.raises(AccessDenied):
        remove_membership(SYSTEM, Membership.objects.get(ou=acme, user=viewer))
    assert Membership.objects.get(ou=acme, user=viewer).role == "asset_manager"


def test_the_audit_log_refuses_a_write_without_an_actor(acme):
    from accounts import audit

    with pytest.raises(TypeError, match="needs its actor"):
        audit.record(None, "ou.poke", ou=acme)
    assert audit.record(SYSTEM, "ou.poke", ou=acme).actor is None
