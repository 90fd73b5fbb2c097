"""Domain operations on OUs and memberships: the only place that writes them.

Each takes its actor first: a user, whose permission is checked, or SYSTEM (accounts.actors) for
the portal's own writes (demo data, an OU's owner made its admin), allowed where said below.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from . import audit
from .actors import is_system
from .errors import AccessDenied, DomainError
from .models import (
    OU_PERMISSIONS,
    ROLE_PERMISSIONS,
    Membership,
    OrganizationUnit,
    OUGroupObjectPermission,
    OUUserObjectPermission,
    User,
)
from .permissions import MANAGE_MEMBERS, can, forget_ou_permissions, ou_ids_with
from .time_zones import is_time_zone

# what an OU admin may change of a member's account; the privilege flags are superusers' only
USER_FIELDS = ("username", "first_name", "last_name", "email", "phone", "is_active")
PRIVILEGE_FIELDS = ("is_staff", "is_superuser")


def require_manage_members(actor: Any, ou: OrganizationUnit, *, system_allowed: bool = False) -> None:
    """Only an OU admin (or a superuser) changes an OU's members, or SYSTEM where the caller allows it."""
    if is_system(actor, system_allowed=system_allowed):
        return
    if not can(actor, MANAGE_MEMBERS, ou.pk):
        raise AccessDenied(_("Only an OU admin of this OU can change its members."))


def require_create_ou(actor: Any) -> None:
    """OUs are made by SYSTEM (demo data, set-up scripts) or by users granted it (superusers, staff
    given accounts.add_organizationunit in the admin)."""
    if is_system(actor, system_allowed=True):
        return
    if not (getattr(actor, "is_active", False) and actor.has_perm("accounts.add_organizationunit")):
        raise AccessDenied(_("You may not create OUs."))


def _ou_permissions() -> dict[str, Permission]:
    return {
        p.codename: p
        for p in Permission.objects.filter(
            content_type__app_label="accounts", codename__in=OU_PERMISSIONS
        )
    }


def _sync_permissions(user: User, ou: OrganizationUnit, role: str | None) -> None:
    """Make the user's guardian grants on the OU exactly those of `role` (none when None)."""
    wanted = set(ROLE_PERMISSIONS.get(role, ())) if role else set()
    perms = _ou_permissions()
    existing = OUUserObjectPermission.objects.filter(
        user=user, content_object=ou, permission__codename__in=OU_PERMISSIONS
    )
    existing.exclude(permission__codename__in=wanted).delete()
    have = set(existing.values_list("permission__codename", flat=True))
    OUUserObjectPermission.objects.bulk_create(
        [OUUserObjectPermission(user=user, content_object=ou, permission=perms[c]) for c in wanted - have]
    )
    forget_ou_permissions(user)


@transaction.atomic
def create_ou(actor: Any, name: str, owner: User) -> OrganizationUnit:
    """A new OU; its owner becomes its OU admin."""
    require_create_ou(actor)
    ou = OrganizationUnit.objects.create(name=name, owner=owner)
    _write_membership(ou, owner, "ou_admin", actor)  # creating the OU is the authority here
    audit.record(actor, "ou.create", ou, ou=ou, after={"name": name, "owner": owner.username})
    return ou


@transaction.atomic
def update_ou(actor: Any, ou: OrganizationUnit, *, name: str | None = None, owner: User | None = None) -> None:
    """Rename an OU or hand it to a new owner (migration codes go to the owner's phone).

    A new owner becomes an OU admin; the old owner keeps their membership."""
    require_manage_members(actor, ou)
    before = {"name": ou.name, "owner": ou.owner.username}
    if name is not None:
        ou.name = name
    if owner is not None and owner.pk != ou.owner_id:
        ou.owner = owner
        _write_membership(ou, owner, "ou_admin", actor)
    ou.save(update_fields=["name", "owner"])
    audit.record(actor, "ou.update", ou, ou=ou, before=before, after={"name": ou.name, "owner": ou.owner.username})


@transaction.atomic
def set_membership(actor: Any, ou: OrganizationUnit, user: User, role: str) -> Membership:
    """Give `user` the role in `ou` (the demo data and set-up scripts do it as SYSTEM)."""
    require_manage_members(actor, ou, system_allowed=True)
    return _write_membership(ou, user, role, actor)


def _write_membership(ou: OrganizationUnit, user: User, role: str, actor: Any) -> Membership:
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"Unknown role {role!r}")
    membership, created = Membership.objects.get_or_create(user=user, ou=ou, defaults={"role": role})
    before = None if created else {"role": membership.role}
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    _sync_permissions(user, ou, role)
    if created or before != {"role": role}:
        audit.record(
            actor, "membership.set", membership, ou=ou, before=before,
            after={"user": user.username, "role": role},
        )
    return membership


@transaction.atomic
def remove_membership(actor: Any, membership: Membership) -> None:
    ou, user = membership.ou, membership.user
    require_manage_members(actor, ou)
    before = {"user": user.username, "role": membership.role}
    membership.delete()
    _sync_permissions(user, ou, None)
    audit.record(actor, "membership.remove", ou=ou, object_type="membership",
                 object_repr=f"{user.username} in {ou.name}", before=before)


# --- user accounts ---------------------------------------------------------------------------------


def _is_superuser(actor: Any) -> bool:
    return actor is None or (getattr(actor, "is_active", False) and getattr(actor, "is_superuser", False))


def can_manage_user(actor: Any, user: User) -> bool:
    """Whether `actor` may change `user`'s account (details, active flag, password, API access).

    A superuser may; otherwise only an OU admin of every OU the user belongs to, and never for a
    staff member or a superuser: their accounts reach past any one OU's members."""
    managed = None if actor is None else ou_ids_with(actor, MANAGE_MEMBERS)
    if managed is None:
        return True
    if user.is_superuser or user.is_staff:
        return False
    ous = set(Membership.objects.filter(user=user).values_list("ou_id", flat=True))
    return bool(ous) and ous <= managed


@transaction.atomic
def update_user(actor: Any, user: User, **changes: Any) -> User:
    """Change a user's details or active flag (superusers also staff/superuser flags); audited."""
    unknown = set(changes) - set(USER_FIELDS) - set(PRIVILEGE_FIELDS)
    if unknown:
        raise ValueError(f"Not a user field: {', '.join(sorted(unknown))}")
    if not can_manage_user(actor, user):
        raise AccessDenied(_("Only an OU admin of every OU this user belongs to can change their account."))
    if set(changes) & set(PRIVILEGE_FIELDS) and not _is_superuser(actor):
        raise AccessDenied(_("Only a superuser can make a user staff or superuser."))
    before = {field: getattr(user, field) for field in changes}
    if before == changes:
        return user
    for field, value in changes.items():
        setattr(user, field, value)
    user.save(update_fields=list(changes))
    audit.record(actor, "user.update", user, before=before, after=changes)
    return user


# --- OU grants to groups ---------------------------------------------------------------------------


def _require_superuser_for_group_grants(actor: Any) -> None:
    # a group grant reaches every member of the group, past memberships and their OU admins
    if not _is_superuser(actor):
        raise AccessDenied(_("Only a superuser can grant an OU to a group."))


@transaction.atomic
def grant_ou_to_group(actor: Any, group: Group, ou: OrganizationUnit, codename: str) -> OUGroupObjectPermission:
    _require_superuser_for_group_grants(actor)
    if codename not in OU_PERMISSIONS:
        raise DomainError(_("Only OU permissions can be granted on an OU."), code="invalid")
    grant = assign_perm(codename, group, ou)
    audit.record(actor, "ou_permission.grant", ou=ou, object_type="group", object_id=str(group.pk),
                 object_repr=group.name, after={"permission": codename})
    return grant


@transaction.atomic
def revoke_ou_from_group(actor: Any, group: Group, ou: OrganizationUnit, codename: str) -> None:
    _require_superuser_for_group_grants(actor)
    remove_perm(codename, group, ou)
    audit.record(actor, "ou_permission.revoke", ou=ou, object_type="group", object_id=str(group.pk),
                 object_repr=group.name, before={"permission": codename})


# --- a user's own profile --------------------------------------------------------------------------


@transaction.atomic
def set_time_zone(actor: Any, user: User, time_zone: str) -> User:
    """The zone the console shows `user` times in: an IANA name, or blank to follow the browser.

    A profile is its user's own: nobody else (not SYSTEM, not an OU admin) sets it."""
    if not getattr(actor, "is_authenticated", False) or actor.pk != user.pk:
        raise AccessDenied(_("You can only change your own profile."))
    time_zone = (time_zone or "").strip()
    if time_zone and not is_time_zone(time_zone):
        raise DomainError(_("“%(zone)s” is not a time zone. Choose one from the list.") % {"zone": time_zone[:64]},
                          code="invalid_time_zone", field="time_zone")
    before = {"time_zone": user.time_zone}
    if before["time_zone"] == time_zone:
        return user
    user.time_zone = time_zone
    user.save(update_fields=["time_zone"])
    audit.record(actor, "user.set_time_zone", user, before=before, after={"time_zone": time_zone})
    return user
