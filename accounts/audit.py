"""The audit log: one function records an event; the request id rides in a ContextVar."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Any

from django.db import models

from .actors import require_actor
from .models import AuditEvent, OrganizationUnit

request_id_var: ContextVar[str] = ContextVar("request_id", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


def record(
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    *,
    ou: OrganizationUnit | None = None,
    before: dict | None = None,
    after: dict | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
) -> AuditEvent:
    """Record one write by `actor`: a user, or SYSTEM (stored with no user). None is refused."""
    require_actor(actor)
    if obj is not None:
        object_type = object_type or obj._meta.model_name or ""
        object_id = object_id or str(getattr(obj, "public_id", obj.pk))
        object_repr = object_repr or str(obj)[:200]
        if ou is None:
            ou = getattr(obj, "ou", None)
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        ou=ou,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        before=before,
        after=after,
        request_id=request_id_var.get(),
    )


PURGE_BATCH = 5000


def purge_old_events(*, days: int | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete events older than `days` (AUDIT_RETENTION_DAYS by default) in batches of `batch` rows, so
    no single statement locks or logs millions of rows. Returns how many were deleted."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    keep_days = settings.AUDIT_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=keep_days)
    deleted = 0
    while True:
        ids = list(AuditEvent.objects.filter(created_at__lt=cutoff).order_by("created_at", "id")
                   .values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += AuditEvent.objects.filter(id__in=ids).delete()[0]  # nothing refers to an event: one DELETE
        if len(ids) < batch:
            return deleted


_READABLE_ATTR = "_audit_ou_ids"


def audit_ou_ids(user: Any) -> frozenset[int] | None:
    """The OUs whose audit log `user` may read: those they administer (the OU admin role, which holds
    manage_members) and those they own; None means every OU (superuser). Asset managers and viewers
    read none: the log names members, roles and every change, which is the admins' business."""
    from .permissions import MANAGE_MEMBERS, ou_ids_with

    managed = ou_ids_with(user, MANAGE_MEMBERS)
    if managed is None or not managed and not getattr(user, "is_authenticated", False):
        return managed
    cached = getattr(user, _READABLE_ATTR, None)
    if cached is None:
        owned = OrganizationUnit.objects.filter(owner=user).values_list("pk", flat=True) if user.is_active else []
        cached = frozenset(managed) | frozenset(owned)
        setattr(user, _READABLE_ATTR, cached)
    return cached


def may_read_audit(user: Any, ou: OrganizationUnit) -> bool:
    """audit_ou_ids for one OU at hand, with no query past the cached grants."""
    from .permissions import MANAGE_MEMBERS, can

    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return can(user, MANAGE_MEMBERS, ou.pk) or ou.owner_id == user.pk
