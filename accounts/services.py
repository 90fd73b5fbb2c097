"""Domain operations on OUs and memberships: the only place that writes them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db import transaction

from . import audit
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


def require_manage_members(actor: Any, ou: OrganizationUnit) -> None:
    """Only an OU admin (or a superuser) changes an OU's members; None is the system itself."""
    if actor is not None and not can(actor, MANAGE_MEMBERS, ou.pk):
        raise AccessDenied("Only an OU admin of this OU can change its members.")


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
def create_ou(name: str, owner: User, actor: Any = None) -> OrganizationUnit:
    """A new OU; its owner becomes its OU admin."""
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
def set_membership(ou: OrganizationUnit, user: User, role: str, actor: Any = None) -> Membership:
    require_manage_members(actor, ou)
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
def remove_membership(membership: Membership, actor: Any = None) -> None:
    ou, user = membership.ou, membership.user
    require_manage_members(actor, ou)
    before = {"user": user.username, "role": membership.role}
    membership.delete()
    _sync_permissions(user, ou, None)
    audit.record(actor, "membership.remove", ou=ou, object_type="membership",
                 object_repr=f"{user.username} in {ou.name}", before=before)
