"""How the API finds what a request addresses: unseen answers 404, seen but read-only 403.

Querysets come only from the models' `visible_to(user)`; write access is the OU permission.
Both are checked before the request body is judged, so a viewer learns "read-only", not which
of their fields were wrong.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError

from accounts.errors import AccessDenied
from accounts.models import OrganizationUnit
from accounts.ous import ous_visible_to
from accounts.permissions import CHANGE, VIEW, can


def require_write(user: Any, ou_pk: int, what: str = "") -> None:
    """Refuse a write with the reason the user can act on."""
    if can(user, CHANGE, ou_pk):
        return
    if what and not can(user, VIEW, ou_pk):
        # visible without read access to the owner OU: it is seen through a share
        raise AccessDenied(_("%(what)s is shared to your OU read-only: only its owner OU can change or delete it.")
                           % {"what": what})
    raise AccessDenied()


def visible_ou(user: Any, ou_id: Any, field: str) -> OrganizationUnit:
    """The OU named in a query parameter; unknown ones are a bad parameter."""
    ou = ous_visible_to(user).filter(ou_id=ou_id).first() if isinstance(ou_id, str) else None
    if ou is None:
        raise ValidationError({field: [_("Unknown OU, or one you have no access to.")]})
    return ou


def writable_ou(user: Any, data: Any) -> OrganizationUnit:
    """The OU a create is addressed to (body field ouId): it plays the part of a URL's parent."""
    ou_id = data.get("ouId") if isinstance(data, dict) else None
    if not isinstance(ou_id, str) or not ou_id:
        raise ValidationError({"ouId": [_("This field is required.")]})
    ou = ous_visible_to(user).filter(ou_id=ou_id).first()
    if ou is None:
        raise NotFound(_("OU %(ou)s was not found.") % {"ou": ou_id})
    require_write(user, ou.pk)
    return ou
