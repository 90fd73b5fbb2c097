"""Who sees and who writes: membership → guardian grant on the OU → visible_to / writable_by."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group, Permission

from accounts.actors import SYSTEM
from accounts.models import Membership, OrganizationUnit, OUGroupObjectPermission, OUUserObjectPermission, User
from accounts.permissions import CHANGE, MANAGE_MEMBERS, VIEW, can, ou_ids_with
from accounts.services import remove_membership, set_membership
from assets.models import Device, Product, ThingModel
from assets.services import share_product
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def next_request(user: User) -> User:
    """The same user as the next request would load it: no grants cached on the instance."""
    return User.objects.get(pk=user.pk)


def visible_devices(user) -> set[Device]:
    return set(Device.objects.visible_to(user))


def writable_devices(user) -> set[Device]:
    return set(Device.objects.writable_by(user))


def granted(user: User, ou: OrganizationUnit) -> set[str]:
    return set(OUUserObjectPermission.objects.filter(user=user, content_object=ou)
               .values_list("permission__codename", flat=True))


def grant_to_group(group: Group, ou: OrganizationUnit, *codenames: str) -> None:
    for codename in codenames:
        permission = Permission.objects.get(content_type__app_label="accounts", codename=codename)
        OUGroupObjectPermission.objects.create(group=group, permission=permission, content_object=ou)


# --- the cast against one OU's devices -------------------------------------------------------------

def test_owner_sees_and_writes_their_ou_devices_only(owner, device, globex_device):
    assert visible_devices(owner) == {device}
    assert writable_devices(owner) == {device}


def test_owner_is_the_only_one_who_manages_members(owner, writer, viewer, acme):
    assert can(owner, MANAGE_MEMBERS, acme.pk)
    assert not can(writer, MANAGE_MEMBERS, acme.pk)
    assert not can(viewer, MANAGE_MEMBERS, acme.pk)


def test_writer_sees_and_writes_the_ou_devices(writer, device, globex_device):
    assert visible_devices(writer) == {device}
    assert writable_devices(writer) == {device}


def test_viewer_sees_the_ou_devices_but_cannot_write_them(viewer, acme, device, globex_device):
    assert visible_devices(viewer) == {device}
    assert writable_devices(viewer) == set()
    assert can(viewer, VIEW, acme.pk)
    assert not can(viewer, CHANGE, acme.pk)


def test_outsider_sees_only_their_own_ou(outsider, acme, device, globex_device):
    assert visible_devices(outsider) == {globex_device}
    assert writable_devices(outsider) == {globex_device}
    assert not can(outsider, VIEW, acme.pk)


def test_anonymous_sees_nothing(device, globex_device):
    anonymous = AnonymousUser()
    assert ou_ids_with(anonymous, VIEW) == frozenset()
    assert visible_devices(anonymous) == set()
    assert writable_devices(anonymous) == set()


def test_inactive_user_sees_nothing_although_still_a_member(writer, acme, device):
    writer.is_active = False
    writer.save(update_fields=["is_active"])
    writer = next_request(writer)
    assert Membership.objects.filter(user=writer, ou=acme).exists()
    assert visible_devices(writer) == set()
    assert writable_devices(writer) == set()
    assert not can(writer, VIEW, acme.pk)


def test_superuser_sees_and_writes_every_ou_without_membership(device, globex_device):
    admin = User.objects.create_superuser("root", "root@example.com", "pw-for-root-123")
    assert ou_ids_with(admin, VIEW) is None
    assert visible_devices(admin) == {device, globex_device}
    assert writable_devices(admin) == {device, globex_device}


def test_inactive_superuser_sees_nothing(device):
    admin = User.objects.create_superuser("root", "root@example.com", "pw-for-root-123", is_active=False)
    assert visible_devices(admin) == set()


def test_a_member_of_two_ous_sees_both(writer, globex, device, globex_device):
    set_membership(SYSTEM, globex, writer, "asset_viewer")
    assert visible_devices(writer) == {device, globex_device}
    assert writable_devices(writer) == {device}


# --- grants follow the membership -----------------------------------------------------------------

def test_each_role_is_granted_exactly_its_permissions(owner, writer, viewer, acme):
    assert granted(owner, acme) == {"view_assets", "change_assets", "manage_members"}
    assert granted(writer, acme) == {"view_assets", "change_assets"}
    assert granted(viewer, acme) == {"view_assets"}


def test_role_change_from_viewer_to_manager_grants_write(viewer, acme, device):
    assert writable_devices(viewer) == set()
    set_membership(SYSTEM, acme, viewer, "asset_manager")
    assert granted(viewer, acme) == {"view_assets", "change_assets"}
    # the same user object sees the new grant: set_membership drops its cached grants
    assert writable_devices(viewer) == {device}
    assert Membership.objects.get(user=viewer, ou=acme).role == "asset_manager"


def test_role_change_from_manager_to_viewer_revokes_write(writer, acme, device):
    assert writable_devices(writer) == {device}
    set_membership(SYSTEM, acme, writer, "asset_viewer")
    assert granted(writer, acme) == {"view_assets"}
    assert writable_devices(writer) == set()
    assert visible_devices(writer) == {device}


def test_removing_a_membership_revokes_every_grant(viewer, acme, device):
    assert visible_devices(next_request(viewer)) == {device}
    remove_membership(acme.owner, Membership.objects.get(user=viewer, ou=acme))
    assert granted(viewer, acme) == set()
    assert visible_devices(next_request(viewer)) == set()


def test_removing_one_membership_keeps_the_other_ous_grants(writer, acme, globex, device, globex_device):
    set_membership(SYSTEM, globex, writer, "asset_manager")
    remove_membership(acme.owner, Membership.objects.get(user=writer, ou=acme))
    assert visible_devices(next_request(writer)) == {globex_device}
    assert writable_devices(next_request(writer)) == {globex_device}


def test_group_permissions_on_the_ou_count_too(acme, device, globex_device):
    auditor = make_user("auditor")
    team = Group.objects.create(name="acme-auditors")
    auditor.groups.add(team)
    grant_to_group(team, acme, "view_assets")
    assert visible_devices(next_request(auditor)) == {device}
    assert writable_devices(next_request(auditor)) == set()

    grant_to_group(team, acme, "change_assets")
    assert writable_devices(next_request(auditor)) == {device}


def test_group_and_user_grants_add_up(viewer, globex, device, globex_device):
    team = Group.objects.create(name="globex-operators")
    viewer.groups.add(team)
    grant_to_group(team, globex, "view_assets", "change_assets")
    viewer = next_request(viewer)
    assert visible_devices(viewer) == {device, globex_device}
    assert writable_devices(viewer) == {globex_device}


def test_grants_are_read_once_per_user_object(writer, acme, django_assert_num_queries):
    writer = next_request(writer)
    with django_assert_num_queries(1):  # user and group grants in one query
        assert acme.pk in ou_ids_with(writer, VIEW)
    with django_assert_num_queries(0):
        assert acme.pk in ou_ids_with(writer, CHANGE)
        assert can(writer, CHANGE, acme.pk)


def test_a_user_without_membership_sees_nothing(device, globex_device):
    stranger = make_user("stranger")
    assert visible_devices(stranger) == set()


# --- products and models shared to another OU ---------------------------------------------------------

def test_products_and_models_of_another_ou_are_invisible_until_shared(outsider, product, globex):
    assert not Product.objects.visible_to(outsider).filter(pk=product.pk).exists()
    assert not ThingModel.objects.visible_to(outsider).filter(pk=product.model_id).exists()


def test_a_shared_product_and_its_model_are_visible_but_not_writable_in_the_target_ou(outsider, product, globex):
    share_product(product.ou.owner, product, globex)
    assert Product.objects.visible_to(outsider).filter(pk=product.pk).exists()
    assert ThingModel.objects.visible_to(outsider).filter(pk=product.model_id).exists()
    assert not Product.objects.writable_by(outsider).filter(pk=product.pk).exists()
    assert not ThingModel.objects.writable_by(outsider).filter(pk=product.model_id).exists()


def test_the_owner_ou_still_writes_a_product_it_shared(writer, product, globex):
    share_product(product.ou.owner, product, globex)
    assert list(Product.objects.writable_by(writer)) == [product]


def test_a_product_shared_to_an_ou_the_user_also_belongs_to_is_listed_once(writer, product, globex):
    set_membership(SYSTEM, globex, writer, "asset_viewer")
    share_product(product.ou.owner, product, globex)
    assert list(Product.objects.visible_to(writer)) == [product]


def test_an_ou_lists_its_own_products_and_those_shared_to_it(product, gateway_product, globex, globex_device):
    share_product(product.ou.owner, product, globex)
    assert set(Product.objects.in_ou(globex)) == {product, globex_device.product}
    assert set(ThingModel.objects.in_ou(globex)) == {product.model, globex_device.product.model}
