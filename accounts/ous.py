"""Which OUs a user works in, and the console's current OU."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .models import OrganizationUnit
from .permissions import VIEW, ou_ids_with

SESSION_KEY = "current_ou"


def ous_visible_to(user: Any):
    ids = ou_ids_with(user, VIEW)
    qs = OrganizationUnit.objects.all()
    if ids is None:
        return qs
    return qs.filter(pk__in=sorted(ids))


_REQUEST_ATTR = "_current_ou"


def current_ou(request: HttpRequest) -> OrganizationUnit | None:
    """The OU the console works in (chosen with the OU switcher), looked up once per request."""
    if not hasattr(request, _REQUEST_ATTR):
        setattr(request, _REQUEST_ATTR, _current_ou_for(request))
    return getattr(request, _REQUEST_ATTR)


def _current_ou_for(request: HttpRequest) -> OrganizationUnit | None:
    """The OU kept in the session if the user may still see it, else their first OU."""
    user = request.user
    if not user.is_authenticated:
        return None
    visible = ous_visible_to(user)
    chosen = request.session.get(SESSION_KEY)
    if chosen is not None:
        ou = visible.filter(pk=chosen).first()
        if ou is not None:
            return ou
    ou = visible.order_by("name", "pk").first()
    if ou is not None:
        request.session[SESSION_KEY] = ou.pk
        setattr(request, _REQUEST_ATTR, ou)
    return ou


def switch_ou(request: HttpRequest, ou_id: str) -> OrganizationUnit | None:
    ou = ous_visible_to(request.user).filter(ou_id=ou_id).first()
    if ou is not None:
        request.session[SESSION_KEY] = ou.pk
        setattr(request, _REQUEST_ATTR, ou)
    return ou
