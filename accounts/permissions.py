"""The one restriction mechanism: which OUs a user may read or write, and querysets scoped by it.

Every door (console, API, admin for non-superusers, websockets, downloads) narrows its
querysets with `visible_to(user)` or `writable_by(user)`; objects outside answer 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    AnyUser = AbstractBaseUser | AnonymousUser

VIEW = "view_assets"
CHANGE = "change_assets"
MANAGE_MEMBERS = "manage_members"

_CACHE_ATTR = "_ou_permission_cache"


def ou_ids_with(user: AnyUser, perm: str) -> frozenset[int] | None:
    """The ids of the OUs on which `user` holds `perm`; None means every OU (superuser).

    Read once per user object (one query for user and group grants together) and kept on it,
    so a request pays for permissions once however many querysets it narrows.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return None
    cache: dict[str, frozenset[int]] | None = getattr(user, _CACHE_ATTR, None)
    if cache is None:
        cache = _load_ou_permissions(user)
        setattr(user, _CACHE_ATTR, cache)
    return cache.get(perm, frozenset())


def forget_ou_permissions(user: Any) -> None:
    """Drop the cached grants, after a membership change in the same request."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def _load_ou_permissions(user: AnyUser) -> dict[str, frozenset[int]]:
    from .models import OUGroupObjectPermission, OUUserObjectPermission

    by_user = OUUserObjectPermission.objects.filter(user=user).values_list(
        "permission__codename", "content_object_id"
    )
    by_group = OUGroupObjectPermission.objects.filter(group__user=user).values_list(
        "permission__codename", "content_object_id"
    )
    grants: dict[str, set[int]] = {}
    for codename, ou_id in by_user.union(by_group, all=True):
        grants.setdefault(codename, set()).add(ou_id)
    return {codename: frozenset(ids) for codename, ids in grants.items()}


def can(user: AnyUser, perm: str, ou_pk: int) -> bool:
    ids = ou_ids_with(user, perm)
    return ids is None or ou_pk in ids


class OUScopedQuerySet(models.QuerySet):
    """A queryset for models that belong to an OU through `ou_lookup`."""

    ou_lookup = "ou"

    def visible_to(self, user: AnyUser) -> Self:
        return self._restrict(user, VIEW)

    def writable_by(self, user: AnyUser) -> Self:
        return self._restrict(user, CHANGE)

    def _restrict(self, user: AnyUser, perm: str) -> Self:
        ids = ou_ids_with(user, perm)
        if ids is None:
            return self
        if not ids:
            return self.none()
        return self.filter(**{f"{self.ou_lookup}__in": sorted(ids)})
