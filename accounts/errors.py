"""Domain errors raised by service functions; every door turns them into a clear message."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

StrOrPromise = str | Promise


class DomainError(Exception):
    """A refused operation. `code` is stable for API clients; `message` is for people."""

    status = 400

    def __init__(self, message: StrOrPromise, *, code: str = "invalid", field: str | None = None,
                 details: dict[str, list[str]] | None = None) -> None:
        # a lazy text becomes the text of the language active where the error is raised (the request's)
        message = str(message)
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.details = details or ({field: [message]} if field else {})


class Conflict(DomainError):
    """The request contradicts the current state (already enabled, still in use, …)."""

    status = 409


class AccessDenied(DomainError):
    """The user may see the object but not change it."""

    status = 403

    def __init__(self, message: StrOrPromise | None = None) -> None:
        super().__init__(message or _("You need write access to Asset Management for this OU."),
                         code="permission_denied")
