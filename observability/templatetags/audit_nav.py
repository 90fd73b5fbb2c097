"""{% if request|reads_audit_log %}: whether the header offers the Audit log of the current OU."""

from __future__ import annotations

from django import template
from django.http import HttpRequest

from accounts.audit import may_read_audit
from accounts.ous import current_ou

register = template.Library()


@register.filter
def reads_audit_log(request: HttpRequest) -> bool:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return False
    ou = current_ou(request)  # looked up once per request; the header's OU switcher reads it too
    return ou is not None and may_read_audit(request.user, ou)
