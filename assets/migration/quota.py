"""How many verification codes migration may text, and to whom (accounts.throttle counters).

Every *Get Code* and every resend texts the target OU's owner, whom the requester may not know:
without a limit a writer of any OU could text anyone who owns an OU, as often as they like.
A code is sent only if every rule allows it (settings.THROTTLE_RATES):

- per target phone, an hourly limit ("sms-phone") and a daily cap ("sms-phone-day");
- per requesting user ("sms-user");
- per client address of the request, where the door knows it ("sms-ip").

A refusal is Throttled (HTTP 429 with Retry-After on the API, a message in the console); it
counts against nothing, so a refused requester does not use up the owner's quota.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import throttle
from accounts.errors import DomainError
from accounts.models import OrganizationUnit


class Throttled(DomainError):
    status = 429

    def __init__(self, message: str, *, retry_after: int, code: str = "throttled") -> None:
        super().__init__(message, code=code, details={"retryAfter": [str(retry_after)]})
        self.retry_after = retry_after


def wait_text(seconds: int) -> str:
    """A wait as people read it: "40 seconds", "12 minutes", "3 hours"."""
    if seconds < 120:
        return ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}
    if seconds < 2 * 3600:
        minutes = -(-seconds // 60)
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    hours = -(-seconds // 3600)
    return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}


def claim_code_sms(actor: Any, target: OrganizationUnit, client_ip: str | None = None) -> None:
    """Count one code texted to `target`'s owner for `actor`; Throttled if any limit is reached."""
    phone = target.owner.phone
    rules = [("sms-phone", phone), ("sms-phone-day", phone), ("sms-user", str(actor.pk))]
    if client_ip:
        rules.append(("sms-ip", client_ip))
    decision = throttle.hit_all(rules)
    if decision.allowed:
        return
    wait = wait_text(decision.retry_after)
    if decision.scope in ("sms-phone", "sms-phone-day"):
        message = _("Too many verification codes were sent to the owner of OU %(ou)s recently; "
                    "try again in %(wait)s.") % {"ou": target.ou_id, "wait": wait}
    elif decision.scope == "sms-user":
        message = _("You asked for too many verification codes; try again in %(wait)s.") % {"wait": wait}
    else:
        message = _("Too many verification codes were asked for from your network address; "
                    "try again in %(wait)s.") % {"wait": wait}
    raise Throttled(message, retry_after=decision.retry_after, code="sms_throttled")
