"""Domain operations on OUs and memberships: the only place that writes them.

Each takes its actor first: a user, whose permission is checked, or SYSTEM (accounts.actors) for
the portal's own writes (demo data, an OU's owner made its admin), allowed where said below.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db import transaction

from . import audit
from .actors import is_system
from .errors import AccessDenied
from .models import (
    OU_PERMISSIONS,
    ROLE_PERMISSIONS,
    Membership,
    OrganizationUnit,
    OUUserObjectPermission,
    User,
)
from .permissions import MANAGE_MEMBERS, can, forget_ou_permissions


def require_manage_members(actor: Any, ou: OrganizationUnit, *, system_allowed: bool = False) -> None:
    """Only an OU admin (or a superuser) changes an OU's members, or SYSTEM where the caller allows it."""
    if is_system(actor, system_allowed=system_allowed):
        return
    if not can(actor, MANAGE_MEMBERS, ou.pk):
        raise AccessDenied("Only an OU admin of this OU can change its members.")


def require_create_ou(actor: Any) -> None:
    """OUs are made by SYSTEM (demo data, set-up scripts) or by users granted it (superusers, staff
    given accounts.add_organizationunit in the admin)."""
    if is_system(actor, system_allowed=True):
        return
    if not (getattr(actor, "is_active", False) and actor.has_perm("accounts.add_organizationunit")):
        raise AccessDenied("You may not create OUs.")


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
