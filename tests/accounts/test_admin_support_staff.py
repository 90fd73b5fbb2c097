"""What support staff who are not superusers may do in the admin, finding by finding (issue #13, item 1):
API tokens, other OUs' users, granting oneself superuser, other users' passwords, form choices,
and the services behind the admin's remaining writes (group grants, product shares, user edits)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from rest_framework.authtoken.models import Token

from accounts import services as account_services
from accounts.actors import SYSTEM
from accounts.errors import AccessDenied, DomainError
from accounts.models import AuditEvent, OrganizationUnit, OUGroupObjectPermission, User
from accounts.permissions import VIEW, forget_ou_permissions, ou_ids_with
from accounts.services import create_ou, set_membership
from assets import services as asset_services
from assets.models import Device, ProductShare
from tests.conftest import PASSWORD, client_for, make_user


def staff_member(username: str, ou: OrganizationUnit, role: str, *codenames: str) -> User:
    user = make_user(username)
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    set_membership(SYSTEM, ou, user, role)
    return User.objects.get(pk=user.pk)


USER_PERMS = ("view_user", "change_user")


@pytest.fixture
def acme_viewer_staff(acme) -> User:
    return staff_member("support-viewer", acme, "asset_viewer", *USER_PERMS)


@pytest.fixture
def acme_lead_staff(acme) -> User:
    """Staff and OU admin of Acme: manages Acme's members."""
    return staff_member("support-lead", acme, "ou_admin", *USER_PERMS)


@pytest.fixture
def globex_writer(globex) -> User:
    user = make_user("globex-writer")
    set_membership(SYSTEM, globex, user, "asset_manager")
    return user


def user_url(user: User, action: str = "change") -> str:
    return reverse(f"admin:accounts_user_{action}", args=[user.pk])


def user_form(user: User, **changes: str) -> dict:
    data = {"username": user.username, "first_name": user.first_name, "last_name": user.last_name,
            "email": user.email, "phone": user.phone, "is_active": "on"}
    data.update(changes)
    return data


# --- API tokens --------------------------------------------------------------------------------------


def test_staff_cannot_read_api_tokens(acme, outsider):
    staff = staff_member("support-tokens", acme, "asset_viewer", "view_tokenproxy", "change_tokenproxy")
    token = Token.objects.create(user=outsider)
    client = client_for(staff)
    listing = client.get(reverse("admin:authtoken_tokenproxy_changelist"))
    assert listing.status_code == 403
    assert token.key not in listing.content.decode()
    assert client.get(reverse("admin:authtoken_tokenproxy_change", args=[outsider.pk])).status_code == 404
    assert "authtoken" not in client.get(reverse("admin:index")).content.decode()


def test_superusers_still_make_and_read_tokens(outsider):
    root = User.objects.create_superuser("root", "root@example.com", "x")
    client = client_for(root)
    assert client.post(reverse("admin:authtoken_tokenproxy_add"), {"user": outsider.pk}).status_code == 302
    assert Token.objects.get(user=outsider).key in client.get(
        reverse("admin:authtoken_tokenproxy_changelist")).content.decode()


# --- users -------------------------------------------------------------------------------------------


def test_the_user_list_shows_only_members_of_the_staff_members_ous(acme_viewer_staff, outsider, globex_writer):
    User.objects.create_superuser("root", "root@example.com", "x", phone="+8613800000999")
    response = client_for(acme_viewer_staff).get(reverse("admin:accounts_user_changelist"))
    names = {u.username for u in response.context["cl"].result_list}
    assert names == {"owner", "writer", "viewer", "support-viewer"}
    page = response.content.decode()
    assert outsider.phone not in page  # Globex's owner's phone
    assert "+8613800000999" not in page
    assert client_for(acme_viewer_staff).get(user_url(outsider)).status_code == 404


def test_posting_is_superuser_on_ones_own_form_grants_nothing(acme_viewer_staff):
    me = acme_viewer_staff
    response = client_for(me).post(user_url(me), user_form(me, is_superuser="on", is_staff="on"))
    assert response.status_code == 403
    me.refresh_from_db()
    assert not me.is_superuser


def test_an_ou_admin_changes_a_members_details_but_never_their_privileges(acme_lead_staff, writer):
    client = client_for(acme_lead_staff)
    form = client.get(user_url(writer)).context["adminform"].form
    assert not {"is_superuser", "is_staff", "groups", "user_permissions"} & set(form.fields)
    response = client.post(user_url(writer), user_form(writer, first_name="Wendy", is_superuser="on",
                                                       is_staff="on"))
    assert response.status_code == 302
    writer.refresh_from_db()
    assert (writer.first_name, writer.is_superuser, writer.is_staff) == ("Wendy", False, False)
    event = AuditEvent.objects.get(action="user.update")
    assert (event.actor, event.before, event.after) == (acme_lead_staff, {"first_name": ""},
                                                        {"first_name": "Wendy"})


def test_an_ou_admin_cannot_change_a_user_who_also_belongs_elsewhere(acme_lead_staff, writer, globex):
    set_membership(SYSTEM, globex, writer, "asset_viewer")
    response = client_for(acme_lead_staff).post(user_url(writer), user_form(writer, first_name="Wendy"))
    assert response.status_code == 403
    writer.refresh_from_db()
    assert writer.first_name == ""


def test_an_ou_admin_cannot_change_another_staff_member(acme_lead_staff, acme_viewer_staff):
    response = client_for(acme_lead_staff).post(user_url(acme_viewer_staff),
                                                user_form(acme_viewer_staff, first_name="Eve"))
    assert response.status_code == 403


def test_only_superusers_add_or_delete_users(acme_lead_staff, writer):
    lead = staff_member("support-lead-2", writer.memberships.get().ou, "ou_admin",
                        "view_user", "add_user", "change_user", "delete_user")
    client = client_for(lead)
    assert client.get(reverse("admin:accounts_user_add")).status_code == 403
    assert client.post(user_url(writer, "delete"), {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=writer.pk).exists()


# --- passwords ---------------------------------------------------------------------------------------


def set_password(client, user: User):
    new = "n3w-Passw0rd!x"
    return client.post(f"/admin/accounts/user/{user.pk}/password/",
                       {"password1": new, "password2": new, "usable_password": "true"})


def test_staff_cannot_replace_another_ous_users_password(acme_lead_staff, globex_writer):
    assert set_password(client_for(acme_lead_staff), globex_writer).status_code == 404
    assert User.objects.get(pk=globex_writer.pk).check_password(PASSWORD)


def test_a_viewer_cannot_replace_a_password_in_their_own_ou(acme_viewer_staff, writer):
    assert set_password(client_for(acme_viewer_staff), writer).status_code == 403
    assert User.objects.get(pk=writer.pk).check_password(PASSWORD)


def test_an_ou_admin_resets_a_members_password_audited(acme_lead_staff, writer, globex):
    assert set_password(client_for(acme_lead_staff), writer).status_code == 302
    assert User.objects.get(pk=writer.pk).check_password("n3w-Passw0rd!x")
    assert AuditEvent.objects.filter(action="user.password_change", actor=acme_lead_staff,
                                     object_id=str(writer.pk)).exists()
    # a member of another OU too: their account reaches past this OU admin's authority
    set_membership(SYSTEM, globex, writer, "asset_viewer")
    assert set_password(client_for(acme_lead_staff), writer).status_code == 403


# --- form choices ------------------------------------------------------------------------------------


def test_an_ou_cannot_be_handed_to_a_user_outside_the_staff_members_ous(acme, outsider):
    lead = staff_member("support-lead", acme, "ou_admin", "view_organizationunit", "change_organizationunit")
    response = client_for(lead).post(reverse("admin:accounts_organizationunit_change", args=[acme.pk]), {
        "name": "Acme", "owner": outsider.pk, "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert "owner" in response.context["adminform"].form.errors
    assert OrganizationUnit.objects.get(pk=acme.pk).owner.username == "owner"
    # and new OUs are superusers' work
    assert client_for(lead).get(reverse("admin:accounts_organizationunit_add")).status_code == 403


def test_a_device_cannot_be_added_with_another_ous_product(acme, globex_device):
    staff = staff_member("support-writer", acme, "asset_manager", "view_device", "add_device")
    response = client_for(staff).post(reverse("admin:assets_device_add"), {
        "ou": acme.pk, "product": globex_device.product_id, "device_key": "x-0001", "name": "X",
        "description": "", "timezone": "+08:00", "attributes": "{}", "tags": "{}"})
    assert response.status_code == 200
    assert "product" in response.context["adminform"].form.errors
    assert not Device.objects.filter(device_key="x-0001").exists()


def test_groups_are_superusers_only(acme):
    staff = staff_member("support-groups", acme, "ou_admin", "view_group", "add_group", "change_group")
    client = client_for(staff)
    assert client.get(reverse("admin:auth_group_changelist")).status_code == 403
    assert client.post(reverse("admin:auth_group_add"), {"name": "mine"}).status_code == 403
    assert not Group.objects.filter(name="mine").exists()


# --- the services behind the admin's writes ------------------------------------------------------------


def test_granting_an_ou_to_a_group_is_a_superusers_audited_service(acme, owner, outsider):
    group = Group.objects.create(name="support-team")
    outsider.groups.add(group)
    with pytest.raises(AccessDenied):
        account_services.grant_ou_to_group(owner, group, acme, "view_assets")  # an OU admin, not a superuser
    root = User.objects.create_superuser("root", "root@example.com", "x")
    with pytest.raises(DomainError):
        account_services.grant_ou_to_group(root, group, acme, "delete_organizationunit")
    grant = account_services.grant_ou_to_group(root, group, acme, "view_assets")
    assert isinstance(grant, OUGroupObjectPermission)
    forget_ou_permissions(outsider)
    assert acme.pk in ou_ids_with(outsider, VIEW)
    with pytest.raises(AccessDenied):
        account_services.revoke_ou_from_group(owner, group, acme, "view_assets")
    account_services.revoke_ou_from_group(root, group, acme, "view_assets")
    forget_ou_permissions(outsider)
    assert acme.pk not in ou_ids_with(outsider, VIEW)
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="ou_permission.", actor=root)] == [
        "ou_permission.revoke", "ou_permission.grant"]


def test_sharing_a_product_is_a_writers_audited_service(product, viewer, writer, globex):
    with pytest.raises(AccessDenied):
        asset_services.share_product_to(viewer, product, globex)
    with pytest.raises(DomainError):
        asset_services.share_product_to(writer, product, product.ou)
    share = asset_services.share_product_to(writer, product, globex)
    assert share == ProductShare.objects.get(product=product, ou=globex)
    assert AuditEvent.objects.filter(action="product.share", actor=writer).count() == 1
    asset_services.share_product_to(writer, product, globex)  # already shared: nothing new to record
    assert AuditEvent.objects.filter(action="product.share").count() == 1


def test_update_user_keeps_privileges_for_superusers(acme, owner, writer):
    with pytest.raises(AccessDenied):
        account_services.update_user(owner, writer, is_staff=True)  # owner is Acme's OU admin
    with pytest.raises(AccessDenied):
        account_services.update_user(writer, owner, first_name="Mallory")  # not an OU admin
    account_services.update_user(owner, writer, first_name="Wendy")
    assert User.objects.get(pk=writer.pk).first_name == "Wendy"
    root = User.objects.create_superuser("root", "root@example.com", "x")
    account_services.update_user(root, writer, is_staff=True)
    assert User.objects.get(pk=writer.pk).is_staff
    with pytest.raises(ValueError):
        account_services.update_user(root, writer, password="plain")


def test_a_user_in_no_ou_is_managed_by_superusers_only(acme, owner):
    loner = make_user("loner")
    assert not account_services.can_manage_user(owner, loner)
    assert account_services.can_manage_user(User.objects.create_superuser("root", "r@example.com", "x"), loner)
    assert create_ou(SYSTEM, "Solo", loner)  # once a member of an OU its admin manages, they may
