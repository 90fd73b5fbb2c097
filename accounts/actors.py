"""Who acts in a service call: a user (signed in or not), or SYSTEM, the portal acting on its own.

Every service takes its actor as the first argument, with no default. `None` is not an actor: a
service given None raises TypeError instead of skipping its permission check. SYSTEM is for the
portal's own writes (demo data, a device reporting its attributes, a sweep closing expired
traces); it holds no OU permission, so it passes a permission check only where the service says
the system may do that (`system_allowed=True` below), and is refused everywhere else. The audit
log records SYSTEM's writes with no user (`AuditEvent.actor` null): since no write takes None any
more, a null actor means the system.
"""

from __future__ import annotations

from typing import Any, Final

from django.utils.translation import gettext as _

from .errors import AccessDenied


class SystemActor:
    """The portal itself. Looks enough like a user for code that asks (`is_authenticated` and the
    rest are False, so querysets scoped by `visible_to` show it nothing), and is no user."""

    username: Final = "system"
    pk = None
    id = None
    is_authenticated = False
    is_anonymous = False
    is_active = False
    is_staff = False
    is_superuser = False

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Final = SystemActor()


def is_system(actor: Any, *, system_allowed: bool) -> bool:
    """True when `actor` is SYSTEM and the caller allows the system here; a user gives False (the
    caller then checks that user's permission). None raises TypeError; SYSTEM where the caller does
    not allow it raises AccessDenied."""
    if actor is None:
        raise TypeError("A service needs its actor: the acting user, or SYSTEM for the portal's own writes.")
    if actor is SYSTEM:
        if not system_allowed:
            raise AccessDenied(_("The portal itself may not do this; a user with access must."))
        return True
    return False


def require_actor(actor: Any) -> None:
    """For writes with no permission of their own to check (the door decided): refuse None only."""
    if actor is None:
        raise TypeError("A service needs its actor: the acting user, or SYSTEM for the portal's own writes.")
