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
